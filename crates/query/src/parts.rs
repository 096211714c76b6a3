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

use crate::format::{escape_md, flatten_nested};
use crate::{OutputFormat, Result};

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

/// A row's cells as Arrow's CSV writer writes them (the same formatting options, the `csv`
/// writer's quoting), without the line's end.
fn delimited_parts(delimiter: u8, batch: &RecordBatch, parts: &mut Parts) -> Result<()> {
    let batch = flatten_nested(batch)?;
    let cells = batch
        .columns()
        .iter()
        .map(|c| Cells::new(c.as_ref()))
        .collect::<Result<Vec<_>>>()?;
    let mut rows = DelimitedParts::with(delimiter, batch.num_rows());
    for row in 0..batch.num_rows() {
        for c in &cells {
            rows.cell(c, row)?;
        }
        rows.end_row();
    }
    *parts = rows.finish();
    Ok(())
}

/// The parts of a delimited format's rows (CSV, TSV) written a cell at a time, for cells
/// that are not a batch's columns (detect's events, read in place). Cells are written
/// straight into the parts' text, quoted where the `csv` writer quotes them: through its
/// record and buffers, each cell was copied three times, most of the time of printing
/// detect's findings.
pub struct DelimitedParts {
    delimiter: u8,
    parts: Parts,
    /// Where the row being written starts in the text, and its cells so far.
    start: usize,
    cells: usize,
    /// A formatted cell.
    buf: String,
}

impl DelimitedParts {
    /// The parts of `format`'s rows, with room for `rows`; `None` unless it is delimited.
    pub fn new(format: OutputFormat, rows: usize) -> Option<DelimitedParts> {
        match format {
            OutputFormat::Csv => Some(DelimitedParts::with(b',', rows)),
            OutputFormat::Tsv => Some(DelimitedParts::with(b'\t', rows)),
            _ => None,
        }
    }

    fn with(delimiter: u8, rows: usize) -> DelimitedParts {
        DelimitedParts {
            delimiter,
            parts: Parts {
                text: Vec::with_capacity(rows * 256),
                spans: Vec::with_capacity(rows),
            },
            start: 0,
            cells: 0,
            buf: String::with_capacity(256),
        }
    }

    /// The next cell: text as it is (a null is empty).
    pub fn text(&mut self, v: &[u8]) {
        let text = &mut self.parts.text;
        if self.cells > 0 {
            text.push(self.delimiter);
        }
        self.cells += 1;
        if quoted(v, self.delimiter) {
            text.push(b'"');
            for &b in v {
                if b == b'"' {
                    text.push(b'"');
                }
                text.push(b);
            }
            text.push(b'"');
        } else {
            text.extend_from_slice(v);
        }
    }

    /// The next cell: row `row` of a column, as Arrow's CSV writer formats it.
    pub fn cell(&mut self, cells: &Cells, row: usize) -> Result<()> {
        let mut buf = std::mem::take(&mut self.buf);
        let r = cells.get(row, &mut buf).map(|v| self.text(v));
        self.buf = buf;
        r
    }

    /// Ends the row: its cells are a part.
    pub fn end_row(&mut self) {
        // A lone empty cell's part is empty: the writer prints such a line `""`, as the
        // `csv` writer does.
        let end = self.parts.text.len();
        self.parts.spans.push((self.start, end));
        (self.start, self.cells) = (end, 0);
    }

    pub fn finish(self) -> Parts {
        self.parts
    }
}

/// Whether the `csv` writer (as [`csv_writer`] makes it: quoting where necessary, quotes
/// doubled, lines ending in `\n`) quotes a field: it holds the delimiter, a quote, CR or
/// LF. Tested 16 bytes at a time, which the compiler makes vector instructions of (a byte
/// at a time, this test was a tenth of printing detect's findings).
fn quoted(v: &[u8], delimiter: u8) -> bool {
    let special = |b: u8| (b == delimiter) | (b == b'"') | (b == b'\n') | (b == b'\r');
    let mut blocks = v.chunks_exact(16);
    for block in &mut blocks {
        if block.iter().fold(false, |any, &b| any | special(b)) {
            return true;
        }
    }
    blocks.remainder().iter().any(|&b| special(b))
}

/// A column's cells as text, formatted as Arrow's CSV writer formats them (nulls empty): a
/// string column's values as they are (what its formatter writes, without copying them
/// through it), any other through Arrow's formatter.
pub struct Cells<'a>(CellsOf<'a>);

enum CellsOf<'a> {
    Utf8(&'a arrow::array::StringArray),
    View(&'a arrow::array::StringViewArray),
    Other(ArrayFormatter<'a>),
}

impl<'a> Cells<'a> {
    pub fn new(a: &'a dyn arrow::array::Array) -> Result<Cells<'a>> {
        use arrow::array::AsArray;
        use arrow::datatypes::DataType;
        let opts = FormatOptions::default().with_null("");
        Ok(Cells(match a.data_type() {
            DataType::Utf8 => CellsOf::Utf8(a.as_string::<i32>()),
            DataType::Utf8View => CellsOf::View(a.as_string_view()),
            _ => CellsOf::Other(ArrayFormatter::try_new(a, &opts)?),
        }))
    }

    /// Row `row`'s text (an empty one for a null), formatted into `buf` if need be.
    fn get<'b>(&'b self, row: usize, buf: &'b mut String) -> Result<&'b [u8]> {
        use arrow::array::Array;
        Ok(match &self.0 {
            CellsOf::Utf8(a) => {
                if a.is_valid(row) {
                    a.value(row).as_bytes()
                } else {
                    b""
                }
            }
            CellsOf::View(a) => {
                if a.is_valid(row) {
                    a.value(row).as_bytes()
                } else {
                    b""
                }
            }
            CellsOf::Other(f) => {
                buf.clear();
                f.value(row)
                    .write(buf)
                    .map_err(|e| ArrowError::CsvError(format!("row {}: {e}", row + 1)))?;
                buf.as_bytes()
            }
        })
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
    /// a few thousand pieces a call (vectored writes), not copied into a buffer first:
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
            pieces.push(IoSlice::new(open));
            if self.format.is_delimited() && parts.len() == 1 && parts[0].is_empty() {
                // A line of one empty field, as the CSV writer writes it.
                pieces.push(IoSlice::new(b"\"\""));
            }
            for (i, p) in parts.iter().enumerate() {
                if i > 0 {
                    pieces.push(IoSlice::new(between));
                }
                pieces.push(IoSlice::new(p));
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

    #[test]
    fn a_cell_is_quoted_for_a_special_byte_anywhere_in_it() {
        // Cells tested 16 bytes at a time: the byte in every block, and in the tail.
        for delimiter in [b',', b'\t'] {
            for special in [delimiter, b'"', b'\n', b'\r'] {
                for len in [1, 15, 16, 17, 40] {
                    for at in 0..len {
                        let mut v = vec![b'a'; len];
                        v[at] = special;
                        assert!(quoted(&v, delimiter), "{special:?} at {at} of {len}");
                    }
                    assert!(!quoted(&vec![b'a'; len], delimiter));
                }
            }
            // The other format's delimiter is plain text.
            let other = if delimiter == b',' { b'\t' } else { b',' };
            assert!(!quoted(&[b'x', other, b'|', b' '].repeat(9), delimiter));
        }
        let mut rows = DelimitedParts::new(OutputFormat::Csv, 1).unwrap();
        rows.text(b"thirty-two bytes of text, then \"a quote\"");
        rows.text(b"");
        rows.end_row();
        assert_eq!(
            rows.finish().get(0),
            b"\"thirty-two bytes of text, then \"\"a quote\"\"\","
        );
        assert!(DelimitedParts::new(OutputFormat::Json, 1).is_none());
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
