//! The parts of a delimited format's rows (CSV, TSV): cells written as Arrow's CSV writer
//! formats them and quoted as the `csv` writer quotes them, from a batch's columns or a cell
//! at a time.

use arrow::array::RecordBatch;
use arrow::error::ArrowError;
use arrow::util::display::{ArrayFormatter, FormatOptions};

use super::Parts;
use crate::format::flatten_nested;
use crate::{OutputFormat, Result};

/// A row's cells as Arrow's CSV writer writes them (the same formatting options, the `csv`
/// writer's quoting), without the line's end.
pub(super) fn delimited_parts(delimiter: u8, batch: &RecordBatch, parts: &mut Parts) -> Result<()> {
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

/// Whether the `csv` writer (as [`super::csv_writer`] makes it: quoting where necessary, quotes
/// doubled, lines ending in `\n`) quotes a field: it holds the delimiter, a quote, CR or
/// LF. Tested 16 bytes at a time, which the compiler makes vector instructions of (a byte
/// at a time, this test was a tenth of the CPU of detect's benchmark).
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

#[cfg(test)]
mod tests {
    use super::*;

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
}
