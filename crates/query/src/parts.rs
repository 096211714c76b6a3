//! Row parts: a result printed from pieces of rows rendered apart. When millions of rows
//! join a few kinds of shared values (detect's findings: a rule's seven columns, an event's
//! twelve), each value's cells are rendered once, as a [`Parts`], and a row is its parts'
//! text joined by a [`PartsWriter`]: the same bytes as [`OutputFormat::write`] prints for
//! the whole row, without formatting each shared cell again for every row it is in.

use std::io::{IoSlice, Write};

use arrow::array::RecordBatch;
use arrow::datatypes::SchemaRef;
use arrow::error::ArrowError;
use arrow::util::display::{ArrayFormatter, FormatOptions};

use crate::format::escape_md;
use crate::{OutputFormat, Result};

mod delimited;

use delimited::delimited_parts;
pub use delimited::{Cells, DelimitedParts};

/// The rendered cells of each row of a batch: row `i`'s part of a printed row.
#[derive(Debug, Default)]
pub struct Parts {
    text: Vec<u8>,
    /// Where each row's text starts and ends in `text`.
    spans: Vec<(usize, usize)>,
}

impl Parts {
    /// Row `i`'s text.
    pub fn get(&self, i: usize) -> &[u8] {
        let (start, end) = self.spans[i];
        &self.text[start..end]
    }

    pub fn len(&self) -> usize {
        self.spans.len()
    }

    pub fn is_empty(&self) -> bool {
        self.spans.is_empty()
    }

    fn push(&mut self, bytes: &[u8]) {
        let start = self.text.len();
        self.text.extend_from_slice(bytes);
        self.spans.push((start, self.text.len()));
    }
}

impl OutputFormat {
    /// Whether this format prints a row as its cells in order, so a row can be printed from
    /// parts (all but the table, whose widths need every cell, and Parquet).
    pub fn prints_parts(&self) -> bool {
        !matches!(self, OutputFormat::Table | OutputFormat::Parquet)
    }

    fn is_delimited(&self) -> bool {
        matches!(self, OutputFormat::Csv | OutputFormat::Tsv)
    }

    /// The cells of each row of `batch` rendered as a part of a row of this format: the
    /// columns of `batch` are some of the printed row's, in order.
    pub fn parts(&self, batch: &RecordBatch) -> Result<Parts> {
        let mut parts = Parts {
            text: Vec::new(),
            spans: Vec::with_capacity(batch.num_rows()),
        };
        match self {
            OutputFormat::Csv => delimited_parts(b',', batch, &mut parts)?,
            OutputFormat::Tsv => delimited_parts(b'\t', batch, &mut parts)?,
            OutputFormat::Json | OutputFormat::NdJson => json_parts(batch, &mut parts)?,
            OutputFormat::Markdown => markdown_parts(batch, &mut parts)?,
            OutputFormat::Table | OutputFormat::Parquet => {
                return Err(not_by_rows(*self));
            }
        }
        Ok(parts)
    }
}

fn csv_writer(delimiter: u8, into: Vec<u8>) -> csv::Writer<Vec<u8>> {
    csv::WriterBuilder::new()
        .delimiter(delimiter)
        .terminator(csv::Terminator::Any(b'\n'))
        .from_writer(into)
}

fn csv_error(e: csv::Error) -> ArrowError {
    ArrowError::CsvError(e.to_string())
}

/// A misuse, not the user's: callers ask [`OutputFormat::prints_parts`] first.
fn not_by_rows(format: OutputFormat) -> crate::Error {
    ArrowError::InvalidArgumentError(format!("{format:?} output is not printed a row at a time"))
        .into()
}

/// A row's `"key":value` pairs as Arrow's JSON writer writes them (nulls written out),
/// without the object's braces.
fn json_parts(batch: &RecordBatch, parts: &mut Parts) -> Result<()> {
    let mut w = arrow::json::WriterBuilder::new()
        .with_explicit_nulls(true)
        .build::<_, arrow::json::writer::LineDelimited>(Vec::with_capacity(
        batch.num_rows() * 256,
    ));
    w.write(batch)?;
    w.finish()?;
    parts.text = w.into_inner();
    // One object per line (JSON text escapes its newlines); each part without its braces.
    let mut start = 0;
    for end in memchr::memchr_iter(b'\n', &parts.text).take(batch.num_rows()) {
        parts.spans.push((start + 1, end - 1));
        start = end + 1;
    }
    Ok(())
}

/// A row's cells of a Markdown table, escaped, nulls empty, joined by ` | `.
fn markdown_parts(batch: &RecordBatch, parts: &mut Parts) -> Result<()> {
    let opts = FormatOptions::default().with_null("");
    let fmts = batch
        .columns()
        .iter()
        .map(|c| ArrayFormatter::try_new(c.as_ref(), &opts))
        .collect::<std::result::Result<Vec<_>, _>>()?;
    let mut line = String::new();
    for row in 0..batch.num_rows() {
        line.clear();
        for (i, f) in fmts.iter().enumerate() {
            if i > 0 {
                line.push_str(" | ");
            }
            line.push_str(&escape_md(&f.value(row).to_string()));
        }
        parts.push(line.as_bytes());
    }
    Ok(())
}

/// Prints rows given as parts, in a format that [prints parts](OutputFormat::prints_parts).
pub struct PartsWriter<'a> {
    format: OutputFormat,
    out: &'a mut dyn Write,
    rows: usize,
}

impl<'a> PartsWriter<'a> {
    /// Starts the output of a result of `schema` (a header, for the formats with one).
    pub fn new(
        format: OutputFormat,
        schema: &SchemaRef,
        out: &'a mut dyn Write,
    ) -> Result<PartsWriter<'a>> {
        if !format.prints_parts() {
            return Err(not_by_rows(format));
        }
        let names: Vec<&str> = schema.fields().iter().map(|f| f.name().as_str()).collect();
        match format {
            OutputFormat::Csv | OutputFormat::Tsv => {
                let delimiter = if format == OutputFormat::Csv {
                    b','
                } else {
                    b'\t'
                };
                let mut w = csv_writer(delimiter, Vec::new());
                w.write_record(&names).map_err(csv_error)?;
                w.flush()?;
                out.write_all(w.get_ref())?;
            }
            OutputFormat::Markdown => {
                let names: Vec<String> = names.iter().map(|n| escape_md(n)).collect();
                writeln!(out, "| {} |", names.join(" | "))?;
                writeln!(out, "|{}", " --- |".repeat(names.len()))?;
            }
            _ => {}
        }
        Ok(PartsWriter {
            format,
            out,
            rows: 0,
        })
    }

    /// Prints one row: its parts, in column order.
    pub fn row(&mut self, parts: &[&[u8]]) -> Result<()> {
        self.rows([parts])
    }

    /// Prints rows, each its parts in column order. Their text is written from where it is,
    /// up to [`PIECES`] pieces a call (vectored writes), not copied into a buffer first:
    /// copying was most of the writing thread's work printing detect's 1.5 GB of findings.
    pub fn rows<'p, R: AsRef<[&'p [u8]]>>(
        &mut self,
        rows: impl IntoIterator<Item = R>,
    ) -> Result<()> {
        let (between, close): (&'static [u8], &'static [u8]) = match self.format {
            OutputFormat::Csv => (b",", b"\n"),
            OutputFormat::Tsv => (b"\t", b"\n"),
            OutputFormat::NdJson => (b",", b"}\n"),
            OutputFormat::Json => (b",", b"}"),
            OutputFormat::Markdown => (b" | ", b" |\n"),
            OutputFormat::Table | OutputFormat::Parquet => unreachable!("checked in new"),
        };
        let mut pieces: Vec<IoSlice<'_>> = Vec::with_capacity(PIECES);
        for row in rows {
            let parts = row.as_ref();
            let open: &'static [u8] = match self.format {
                OutputFormat::NdJson => b"{",
                OutputFormat::Json if self.rows == 0 => b"[{",
                OutputFormat::Json => b",{",
                OutputFormat::Markdown => b"| ",
                _ => b"",
            };
            push(&mut pieces, open);
            if self.format.is_delimited() && parts.len() == 1 && parts[0].is_empty() {
                // A line of one empty field, as the CSV writer writes it.
                pieces.push(IoSlice::new(b"\"\""));
            }
            for (i, p) in parts.iter().enumerate() {
                if i > 0 {
                    pieces.push(IoSlice::new(between));
                }
                push(&mut pieces, p);
            }
            pieces.push(IoSlice::new(close));
            self.rows += 1;
            if pieces.len() >= PIECES {
                write_pieces(self.out, &mut pieces)?;
            }
        }
        write_pieces(self.out, &mut pieces)
    }

    /// Ends the output (a JSON array's end).
    pub fn finish(self) -> Result<()> {
        if self.format == OutputFormat::Json {
            let end: &[u8] = if self.rows == 0 { b"[]\n" } else { b"]\n" };
            self.out.write_all(end)?;
        }
        Ok(())
    }
}

/// Pieces of text given to the output at a time by [`PartsWriter::rows`]: as many as a
/// system call takes (Linux's `IOV_MAX`). The output should not be a `BufWriter`, which
/// copies any that fit.
const PIECES: usize = 1024;

/// Adds `text` to `pieces` unless empty (CSV's row opening, an empty part): an empty piece
/// would take a place of a call's 1024 for nothing.
fn push<'a>(pieces: &mut Vec<IoSlice<'a>>, text: &'a [u8]) {
    if !text.is_empty() {
        pieces.push(IoSlice::new(text));
    }
}

/// Writes all of `pieces`, in order, and empties it.
fn write_pieces(out: &mut dyn Write, pieces: &mut Vec<IoSlice<'_>>) -> Result<()> {
    let mut rest: &mut [IoSlice<'_>] = pieces;
    while !rest.is_empty() {
        match out.write_vectored(rest) {
            Ok(0) => return Err(std::io::Error::from(std::io::ErrorKind::WriteZero).into()),
            Ok(n) => IoSlice::advance_slices(&mut rest, n),
            Err(e) if e.kind() == std::io::ErrorKind::Interrupted => {}
            Err(e) => return Err(e.into()),
        }
    }
    pieces.clear();
    Ok(())
}

#[cfg(test)]
mod tests {
    use std::sync::Arc;

    use arrow::array::{ArrayRef, Int64Array, StringArray, TimestampMicrosecondArray};
    use arrow::datatypes::{DataType, Field, Schema, TimeUnit};

    use super::*;

    /// Values each format must quote or escape, nulls, and a time zone's timestamp.
    fn batch() -> RecordBatch {
        let schema = Arc::new(Schema::new(vec![
            Field::new("a name", DataType::Utf8, true),
            Field::new("n", DataType::Int64, true),
            Field::new(
                "t",
                DataType::Timestamp(TimeUnit::Microsecond, Some("UTC".into())),
                true,
            ),
            Field::new("text", DataType::Utf8, true),
            Field::new("view", DataType::Utf8View, true),
        ]));
        let cols: Vec<ArrayRef> = vec![
            Arc::new(StringArray::from(vec![
                Some("plain"),
                Some("comma, \"quote\""),
                None,
                Some("tab\there|pipe"),
            ])),
            Arc::new(Int64Array::from(vec![Some(1), None, Some(-3), Some(4)])),
            Arc::new(
                TimestampMicrosecondArray::from(vec![
                    Some(1_700_000_000_123_456),
                    None,
                    Some(0),
                    Some(1_600_000_000_000_000),
                ])
                .with_timezone("UTC"),
            ),
            Arc::new(StringArray::from(vec![
                Some("line\nbreak"),
                Some(""),
                Some("é ü \\ /"),
                Some("carriage\rreturn"),
            ])),
            Arc::new(arrow::array::StringViewArray::from(vec![
                None,
                Some("a view, longer than twelve bytes \"quoted\""),
                Some("\t"),
                Some(""),
            ])),
        ];
        RecordBatch::try_new(schema, cols).unwrap()
    }

    fn whole(f: OutputFormat, b: &RecordBatch) -> Vec<u8> {
        let mut out = Vec::new();
        f.write(&b.schema(), std::slice::from_ref(b), &mut out)
            .unwrap();
        out
    }

    /// The batch printed from two parts: its first `split` columns and the rest.
    fn pieced(f: OutputFormat, b: &RecordBatch, split: usize) -> Vec<u8> {
        let left = f.parts(&b.project(&(0..split).collect::<Vec<_>>()).unwrap());
        let right = f.parts(
            &b.project(&(split..b.num_columns()).collect::<Vec<_>>())
                .unwrap(),
        );
        let (left, right) = (left.unwrap(), right.unwrap());
        assert_eq!((left.len(), right.len()), (b.num_rows(), b.num_rows()));
        let mut out = Vec::new();
        let mut w = PartsWriter::new(f, &b.schema(), &mut out).unwrap();
        for i in 0..b.num_rows() {
            w.row(&[left.get(i), right.get(i)]).unwrap();
        }
        w.finish().unwrap();
        out
    }

    #[test]
    fn rows_from_parts_print_as_the_whole_rows_do() {
        let b = batch();
        for f in [
            OutputFormat::Csv,
            OutputFormat::Tsv,
            OutputFormat::Json,
            OutputFormat::NdJson,
            OutputFormat::Markdown,
        ] {
            for split in 1..b.num_columns() {
                assert_eq!(
                    String::from_utf8(pieced(f, &b, split)).unwrap(),
                    String::from_utf8(whole(f, &b)).unwrap(),
                    "{f:?} split after column {split}"
                );
            }
            let empty = b.slice(0, 0);
            assert_eq!(pieced(f, &empty, 2), whole(f, &empty), "{f:?} without rows");
        }
    }

    /// An output that takes a few bytes a call, and from one piece of a vectored write.
    struct Trickle(Vec<u8>);

    impl Write for Trickle {
        fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
            let n = buf.len().min(5);
            self.0.extend_from_slice(&buf[..n]);
            Ok(n)
        }
        fn flush(&mut self) -> std::io::Result<()> {
            Ok(())
        }
    }

    #[test]
    fn rows_are_written_whole_through_short_writes() {
        // More pieces than one call takes: rows of three parts, the middle one constant.
        let b = batch();
        let f = OutputFormat::Csv;
        let parts = f.parts(&b).unwrap();
        let rows = (0..3000).map(|i| i % b.num_rows());
        let mut out = Trickle(Vec::new());
        let mut w = PartsWriter::new(f, &b.schema(), &mut out).unwrap();
        w.rows(rows.clone().map(|r| [parts.get(r), b"x", parts.get(r)]))
            .unwrap();
        w.finish().unwrap();
        let mut expected = b"a name,n,t,text,view\n".to_vec();
        for r in rows {
            for piece in [parts.get(r), b",x,", parts.get(r), b"\n"] {
                expected.extend_from_slice(piece);
            }
        }
        assert!(
            out.0 == expected,
            "{} bytes written, {} expected",
            out.0.len(),
            expected.len()
        );
    }

    #[test]
    fn the_table_is_not_printed_from_parts() {
        let b = batch();
        assert!(!OutputFormat::Table.prints_parts());
        assert!(OutputFormat::Table.parts(&b).is_err());
        let mut out = Vec::new();
        assert!(PartsWriter::new(OutputFormat::Table, &b.schema(), &mut out).is_err());
    }
}
