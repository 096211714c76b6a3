//! The REPL's table view, fitted to the terminal: a result wider than the terminal keeps
//! its first and last columns and elides the middle ones behind a marker column that says
//! how many are hidden (as DuckDB's CLI does); long cells are cut. The expanded view (psql's
//! `\x`) prints each record as one `name | value` line per field instead.
//!
//! Nulls print as `NULL` at the top level and as `null` inside structs, lists and maps.

use std::io::Write;

use arrow::array::RecordBatch;
use arrow::datatypes::SchemaRef;
use arrow::util::display::{ArrayFormatter, FormatOptions};

use crate::Result;

/// When the expanded (one field per line) view is used.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Expanded {
    Off,
    On,
    /// Expanded when the table would not fit the width without hiding columns.
    Auto,
}

/// The widest a cell of the table view gets, in characters, before it is cut.
const MAX_CELL: usize = 40;

/// A result's text: column names and each row's cells.
struct Cells {
    names: Vec<String>,
    rows: Vec<Vec<String>>,
}

fn cells(schema: &SchemaRef, batches: &[RecordBatch]) -> Result<Cells> {
    let top = FormatOptions::default().with_null("NULL");
    let nested = FormatOptions::default().with_null("null");
    let names = schema.fields().iter().map(|f| f.name().clone()).collect();
    let mut rows = Vec::new();
    for b in batches {
        let fmts = b
            .columns()
            .iter()
            .map(|c| {
                let opts = if c.data_type().is_nested() {
                    &nested
                } else {
                    &top
                };
                ArrayFormatter::try_new(c.as_ref(), opts)
            })
            .collect::<std::result::Result<Vec<_>, _>>()?;
        for r in 0..b.num_rows() {
            rows.push(
                fmts.iter()
                    .zip(b.columns())
                    .map(|(f, c)| {
                        if c.is_null(r) {
                            "NULL".to_owned()
                        } else {
                            one_line(&f.value(r).to_string())
                        }
                    })
                    .collect(),
            );
        }
    }
    Ok(Cells { names, rows })
}

fn one_line(s: &str) -> String {
    if s.contains(['\n', '\r', '\t']) {
        s.replace(['\n', '\r', '\t'], " ")
    } else {
        s.to_owned()
    }
}

fn len(s: &str) -> usize {
    s.chars().count()
}

fn cut(s: &str, w: usize) -> String {
    if len(s) <= w {
        return s.to_owned();
    }
    let mut t: String = s.chars().take(w.saturating_sub(1)).collect();
    t.push('…');
    t
}

/// The columns shown, in order, with `None` standing for the hidden middle ones, and their
/// widths, for a table at most `width` characters wide.
fn layout(widths: &[usize], width: usize) -> Vec<(Option<usize>, usize)> {
    let total = |cols: &[(Option<usize>, usize)]| -> usize {
        1 + cols.iter().map(|(_, w)| w + 3).sum::<usize>()
    };
    let all: Vec<(Option<usize>, usize)> = widths
        .iter()
        .enumerate()
        .map(|(i, w)| (Some(i), *w))
        .collect();
    if total(&all) <= width || widths.len() <= 2 {
        return all;
    }
    // Take columns from both ends, first then last, while the table with a marker column
    // for the rest still fits; the first and last are always shown.
    let n = widths.len();
    let marker_w = len(&marker(n));
    let (mut left, mut right) = (vec![0], vec![n - 1]);
    loop {
        let hidden = n - left.len() - right.len();
        if hidden == 0 {
            break;
        }
        let next = if left.len() <= right.len() {
            *left.last().expect("first") + 1
        } else {
            *right.last().expect("last") - 1
        };
        let shown: usize = left.iter().chain(&right).map(|&i| widths[i] + 3).sum();
        let marker_needed = hidden > 1;
        let would = 1 + shown + widths[next] + 3 + if marker_needed { marker_w + 3 } else { 0 };
        if would > width {
            break;
        }
        if left.len() <= right.len() {
            left.push(next);
        } else {
            right.push(next);
        }
    }
    let hidden = n - left.len() - right.len();
    let mut out: Vec<(Option<usize>, usize)> = left.iter().map(|&i| (Some(i), widths[i])).collect();
    if hidden > 0 {
        out.push((None, len(&marker(hidden))));
    }
    out.extend(right.iter().rev().map(|&i| (Some(i), widths[i])));
    out
}

fn marker(hidden: usize) -> String {
    format!("… {hidden} more")
}

/// Whether the table view of this result would hide columns at `width`.
fn too_wide(c: &Cells, width: usize) -> bool {
    let widths = column_widths(c);
    layout(&widths, width).iter().any(|(i, _)| i.is_none())
}

fn column_widths(c: &Cells) -> Vec<usize> {
    (0..c.names.len())
        .map(|i| {
            c.rows
                .iter()
                .map(|r| len(&r[i]))
                .chain([len(&c.names[i])])
                .max()
                .unwrap_or(0)
                .min(MAX_CELL)
        })
        .collect()
}

/// Print a result for the REPL: the fitted table, or records one field per line.
pub fn write_fitted(
    schema: &SchemaRef,
    batches: &[RecordBatch],
    width: usize,
    expanded: Expanded,
    out: &mut dyn Write,
) -> Result<()> {
    let c = cells(schema, batches)?;
    let rows = c.rows.len();
    let plural = if rows == 1 { "" } else { "s" };
    if !c.names.is_empty()
        && rows > 0
        && (expanded == Expanded::On || (expanded == Expanded::Auto && too_wide(&c, width)))
    {
        write_expanded(&c, out)?;
        writeln!(out, "{rows} row{plural}")?;
        return Ok(());
    }
    if c.names.is_empty() {
        return Ok(());
    }
    let cols = layout(&column_widths(&c), width);
    let hidden = c.names.len() - cols.iter().filter(|(i, _)| i.is_some()).count();
    let rule = |out: &mut dyn Write| -> std::io::Result<()> {
        let mut line = String::from("+");
        for (_, w) in &cols {
            line.push_str(&"-".repeat(w + 2));
            line.push('+');
        }
        writeln!(out, "{line}")
    };
    let row = |out: &mut dyn Write, cell: &dyn Fn(usize) -> String| -> std::io::Result<()> {
        let mut line = String::from("|");
        for (i, w) in &cols {
            let text = match i {
                Some(i) => cut(&cell(*i), *w),
                None => String::from("…"),
            };
            line.push(' ');
            line.push_str(&text);
            line.push_str(&" ".repeat(w - len(&text) + 1));
            line.push('|');
        }
        writeln!(out, "{line}")
    };
    rule(out)?;
    {
        let mut line = String::from("|");
        for (i, w) in &cols {
            let text = match i {
                Some(i) => cut(&c.names[*i], *w),
                None => marker(hidden),
            };
            line.push_str(&format!(" {text}{} |", " ".repeat(w - len(&text))));
        }
        writeln!(out, "{line}")?;
    }
    rule(out)?;
    for r in &c.rows {
        row(out, &|i| r[i].clone())?;
    }
    if rows > 0 {
        rule(out)?;
    }
    if hidden > 0 {
        writeln!(
            out,
            "{rows} row{plural}, {} columns ({hidden} hidden: \\x shows every field)",
            c.names.len()
        )?;
    } else {
        writeln!(out, "{rows} row{plural}")?;
    }
    Ok(())
}

/// psql's expanded display: a header line per record, then `name | value` per field.
fn write_expanded(c: &Cells, out: &mut dyn Write) -> Result<()> {
    let w = c.names.iter().map(|n| len(n)).max().unwrap_or(0);
    for (n, r) in c.rows.iter().enumerate() {
        writeln!(
            out,
            "-[ RECORD {} ]{}",
            n + 1,
            "-".repeat(w.saturating_sub(8))
        )?;
        for (name, v) in c.names.iter().zip(r) {
            writeln!(out, "{name}{} | {v}", " ".repeat(w - len(name)))?;
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use std::sync::Arc;

    use arrow::array::{Array, ArrayRef, Int64Array, StringArray, StructArray};
    use arrow::datatypes::{DataType, Field, Schema};

    use super::*;

    fn wide(cols: usize) -> RecordBatch {
        let fields: Vec<Field> = (0..cols)
            .map(|i| Field::new(format!("column_{i}"), DataType::Int64, false))
            .collect();
        let arrays: Vec<ArrayRef> = (0..cols)
            .map(|i| Arc::new(Int64Array::from(vec![i as i64])) as ArrayRef)
            .collect();
        RecordBatch::try_new(Arc::new(Schema::new(fields)), arrays).unwrap()
    }

    fn render(b: &RecordBatch, width: usize, x: Expanded) -> String {
        let mut out = Vec::new();
        write_fitted(&b.schema(), std::slice::from_ref(b), width, x, &mut out).unwrap();
        String::from_utf8(out).unwrap()
    }

    #[test]
    fn wide_tables_keep_the_ends_and_say_what_is_hidden() {
        let b = wide(30);
        let s = render(&b, 80, Expanded::Off);
        for line in s.lines() {
            assert!(len(line) <= 80, "{line:?} in\n{s}");
        }
        let header = s.lines().nth(1).unwrap();
        assert!(header.starts_with("| column_0 "), "{s}");
        assert!(header.ends_with(" column_29 |"), "{s}");
        let shown = header.matches("column_").count();
        assert!(shown >= 4, "{s}");
        assert!(header.contains(&format!("… {} more", 30 - shown)), "{s}");
        assert!(
            s.ends_with(&format!(
                "1 row, 30 columns ({} hidden: \\x shows every field)\n",
                30 - shown
            )),
            "{s}"
        );
        // Wide enough: everything.
        let s = render(&b, 1000, Expanded::Off);
        assert_eq!(s.lines().nth(1).unwrap().matches("column_").count(), 30);
        assert!(s.ends_with("\n1 row\n"));
    }

    #[test]
    fn expanded_records_and_nested_nulls() {
        let inner = StructArray::from(vec![
            (
                Arc::new(Field::new("type", DataType::Utf8, true)),
                Arc::new(StringArray::from(vec![Some("Root")])) as ArrayRef,
            ),
            (
                Arc::new(Field::new("arn", DataType::Utf8, true)),
                Arc::new(StringArray::from(vec![None::<&str>])) as ArrayRef,
            ),
        ]);
        let schema = Arc::new(Schema::new(vec![
            Field::new("eventname", DataType::Utf8, true),
            Field::new("useridentity", inner.data_type().clone(), true),
        ]));
        let b = RecordBatch::try_new(
            schema,
            vec![
                Arc::new(StringArray::from(vec![None::<&str>])),
                Arc::new(inner),
            ],
        )
        .unwrap();
        assert_eq!(
            render(&b, 80, Expanded::On),
            "-[ RECORD 1 ]----\neventname    | NULL\nuseridentity | {type: Root, arn: null}\n1 row\n"
        );
        // auto: a table while it fits, records when it would hide columns.
        assert!(render(&b, 80, Expanded::Auto).starts_with("+--"));
        assert!(render(&wide(30), 80, Expanded::Auto).starts_with("-[ RECORD 1 ]"));
    }
}
