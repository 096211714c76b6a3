//! Output formats: one enum, one printer that writes to any `Write`.

use std::io::Write;

use arrow::array::RecordBatch;
use arrow::datatypes::SchemaRef;
use arrow::util::display::{ArrayFormatter, FormatOptions};

use crate::Result;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum OutputFormat {
    Table,
    Csv,
    Tsv,
    Json,
    NdJson,
    Markdown,
    /// A Parquet file (`-o PATH`); handled by the runner, not printed.
    Parquet,
}

impl std::str::FromStr for OutputFormat {
    type Err = String;
    fn from_str(s: &str) -> std::result::Result<Self, String> {
        Ok(match s.to_ascii_lowercase().as_str() {
            "table" => OutputFormat::Table,
            "csv" => OutputFormat::Csv,
            "tsv" => OutputFormat::Tsv,
            "json" => OutputFormat::Json,
            "ndjson" | "jsonl" => OutputFormat::NdJson,
            "markdown" | "md" => OutputFormat::Markdown,
            "parquet" => OutputFormat::Parquet,
            other => {
                return Err(format!(
                    "unknown format {other:?} (table, csv, tsv, json, ndjson, markdown, parquet)"
                ));
            }
        })
    }
}

/// A writer that keeps the first I/O error it meets: Arrow's CSV writer turns I/O errors
/// into text, and a closed pipe or a full disk is told by the error's kind.
struct KeepIoError<'a> {
    inner: &'a mut dyn Write,
    error: Option<std::io::Error>,
}

impl KeepIoError<'_> {
    fn keep(&mut self, e: std::io::Error) -> std::io::Error {
        let copy = std::io::Error::new(e.kind(), e.to_string());
        self.error.get_or_insert(e);
        copy
    }
}

impl Write for KeepIoError<'_> {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        self.inner.write(buf).map_err(|e| self.keep(e))
    }
    fn flush(&mut self) -> std::io::Result<()> {
        self.inner.flush().map_err(|e| self.keep(e))
    }
}

impl OutputFormat {
    /// Print one statement's result. A failure to write is the I/O error itself.
    pub fn write(
        &self,
        schema: &SchemaRef,
        batches: &[RecordBatch],
        out: &mut dyn Write,
    ) -> Result<()> {
        self.write_each(schema, &mut batches.iter().cloned().map(Ok), out)
    }

    /// Print a result made a batch at a time, each written as it comes (all but the table,
    /// whose column widths need every row): a result of millions of rows is never held
    /// whole, as rows or as text.
    pub fn write_each(
        &self,
        schema: &SchemaRef,
        batches: &mut dyn Iterator<Item = Result<RecordBatch>>,
        out: &mut dyn Write,
    ) -> Result<()> {
        let mut out = KeepIoError {
            inner: out,
            error: None,
        };
        match self.write_to(schema, batches, &mut out) {
            Err(e) => Err(out.error.take().map_or(e, crate::Error::Io)),
            ok => ok,
        }
    }

    fn write_to(
        &self,
        schema: &SchemaRef,
        batches: &mut dyn Iterator<Item = Result<RecordBatch>>,
        out: &mut dyn Write,
    ) -> Result<()> {
        if schema.fields().is_empty() && *self != OutputFormat::Parquet {
            // SET, CREATE VIEW...: nothing to print (in machine formats, not even an empty
            // document).
            return Ok(());
        }
        match self {
            OutputFormat::Table => write_table(schema, &batches.collect::<Result<Vec<_>>>()?, out),
            OutputFormat::Csv => write_delimited(b',', schema, batches, out),
            OutputFormat::Tsv => write_delimited(b'\t', schema, batches, out),
            OutputFormat::Parquet => Err(crate::Error::Usage(
                "--format parquet writes a file: give -o PATH".into(),
            )),
            OutputFormat::Json => write_json(batches, out),
            OutputFormat::NdJson => write_ndjson(batches, out),
            OutputFormat::Markdown => write_markdown(schema, batches, out),
        }
    }
}

/// A boxed table with a row count: it needs every row first, for its column widths.
fn write_table(schema: &SchemaRef, batches: &[RecordBatch], out: &mut dyn Write) -> Result<()> {
    let table = if batches.iter().all(|b| b.num_rows() == 0) {
        arrow::util::pretty::pretty_format_batches(&[RecordBatch::new_empty(schema.clone())])?
    } else {
        arrow::util::pretty::pretty_format_batches(batches)?
    };
    writeln!(out, "{table}")?;
    let rows: usize = batches.iter().map(|b| b.num_rows()).sum();
    writeln!(out, "{rows} row{}", if rows == 1 { "" } else { "s" })?;
    Ok(())
}

/// CSV or TSV with a header, nested values as their display text; the header alone when
/// there are no rows.
fn write_delimited(
    delimiter: u8,
    schema: &SchemaRef,
    batches: &mut dyn Iterator<Item = Result<RecordBatch>>,
    out: &mut dyn Write,
) -> Result<()> {
    let mut w = arrow::csv::WriterBuilder::new()
        .with_header(true)
        .with_delimiter(delimiter)
        .build(out);
    let mut any = false;
    for b in batches {
        w.write(&flatten_nested(&b?)?)?;
        any = true;
    }
    if !any {
        w.write(&flatten_nested(&RecordBatch::new_empty(schema.clone()))?)?;
    }
    Ok(())
}

/// One JSON array of objects, nulls written out; `[]` when there are no rows.
fn write_json(
    batches: &mut dyn Iterator<Item = Result<RecordBatch>>,
    out: &mut dyn Write,
) -> Result<()> {
    let mut w = arrow::json::WriterBuilder::new()
        .with_explicit_nulls(true)
        .build::<_, arrow::json::writer::JsonArray>(&mut *out);
    for b in batches {
        w.write(&b?)?;
    }
    // `[]` when there were no rows: the writer starts the array when it ends it.
    w.finish()?;
    writeln!(out)?;
    Ok(())
}

/// One JSON object per line, nulls written out.
fn write_ndjson(
    batches: &mut dyn Iterator<Item = Result<RecordBatch>>,
    out: &mut dyn Write,
) -> Result<()> {
    let mut w = arrow::json::WriterBuilder::new()
        .with_explicit_nulls(true)
        .build::<_, arrow::json::writer::LineDelimited>(out);
    for b in batches {
        w.write(&b?)?;
    }
    w.finish()?;
    Ok(())
}

/// A Markdown table, cells escaped, nulls empty.
fn write_markdown(
    schema: &SchemaRef,
    batches: &mut dyn Iterator<Item = Result<RecordBatch>>,
    out: &mut dyn Write,
) -> Result<()> {
    // A row is one part: its cells, escaped, as the parts printer renders them.
    let mut w = crate::PartsWriter::new(OutputFormat::Markdown, schema, out)?;
    for b in batches {
        let parts = OutputFormat::Markdown.parts(&b?)?;
        w.rows((0..parts.len()).map(|i| [parts.get(i)]))?;
    }
    w.finish()
}

/// Write batches to a Parquet file at `path`; a failure names the file.
pub(crate) fn write_parquet(
    path: &std::path::Path,
    schema: SchemaRef,
    batches: &[RecordBatch],
) -> Result<()> {
    let fail = |e: parquet::errors::ParquetError| crate::Error::write(path, e);
    let file = std::fs::File::create(path).map_err(|e| crate::Error::write(path, e))?;
    let mut w = parquet::arrow::ArrowWriter::try_new(file, schema, None).map_err(fail)?;
    for b in batches {
        w.write(b).map_err(fail)?;
    }
    w.close().map_err(fail)?;
    Ok(())
}

/// One result as a Parquet file, to any `Write` (encoded in memory first: Parquet's writer
/// needs a `Send` sink).
pub fn parquet_into(
    schema: &SchemaRef,
    batches: &[RecordBatch],
    out: &mut dyn Write,
) -> Result<()> {
    let parquet_err = |e: parquet::errors::ParquetError| crate::Error::Usage(e.to_string());
    let mut buf = Vec::new();
    let mut w = parquet::arrow::ArrowWriter::try_new(&mut buf, schema.clone(), None)
        .map_err(parquet_err)?;
    for b in batches {
        w.write(b).map_err(parquet_err)?;
    }
    w.close().map_err(parquet_err)?;
    out.write_all(&buf)?;
    Ok(())
}

/// CSV has no nested values: structs, lists and maps are written as their display text.
pub(crate) fn flatten_nested(b: &RecordBatch) -> Result<RecordBatch> {
    use arrow::datatypes::{DataType, Field, Schema};
    if !b
        .schema()
        .fields()
        .iter()
        .any(|f| f.data_type().is_nested())
    {
        return Ok(b.clone());
    }
    let opts = FormatOptions::default().with_null("");
    let mut fields = Vec::new();
    let mut cols: Vec<arrow::array::ArrayRef> = Vec::new();
    for (f, c) in b.schema().fields().iter().zip(b.columns()) {
        if f.data_type().is_nested() {
            let fmt = ArrayFormatter::try_new(c.as_ref(), &opts)?;
            let values: arrow::array::StringArray = (0..c.len())
                .map(|i| c.is_valid(i).then(|| fmt.value(i).to_string()))
                .collect();
            fields.push(Field::new(f.name(), DataType::Utf8, true));
            cols.push(std::sync::Arc::new(values));
        } else {
            fields.push(f.as_ref().clone());
            cols.push(c.clone());
        }
    }
    Ok(RecordBatch::try_new(
        std::sync::Arc::new(Schema::new(fields)),
        cols,
    )?)
}

pub(crate) fn escape_md(s: &str) -> String {
    s.replace('|', "\\|").replace('\n', " ")
}

#[cfg(test)]
mod tests {
    use std::sync::Arc;

    use arrow::array::{Int64Array, StringArray};
    use arrow::datatypes::{DataType, Field, Schema};

    use super::*;

    fn batch() -> RecordBatch {
        let schema = Arc::new(Schema::new(vec![
            Field::new("name", DataType::Utf8, true),
            Field::new("n", DataType::Int64, false),
        ]));
        RecordBatch::try_new(
            schema,
            vec![
                Arc::new(StringArray::from(vec![Some("a|b"), None])),
                Arc::new(Int64Array::from(vec![1, 2])),
            ],
        )
        .unwrap()
    }

    fn render(f: OutputFormat) -> String {
        let b = batch();
        let mut out = Vec::new();
        f.write(&b.schema(), &[b], &mut out).unwrap();
        String::from_utf8(out).unwrap()
    }

    #[test]
    fn formats() {
        assert_eq!(render(OutputFormat::Csv), "name,n\na|b,1\n,2\n");
        assert_eq!(render(OutputFormat::Tsv), "name\tn\na|b\t1\n\t2\n");
        assert_eq!(
            render(OutputFormat::NdJson),
            "{\"name\":\"a|b\",\"n\":1}\n{\"name\":null,\"n\":2}\n"
        );
        assert_eq!(
            render(OutputFormat::Json),
            "[{\"name\":\"a|b\",\"n\":1},{\"name\":null,\"n\":2}]\n"
        );
        assert_eq!(
            render(OutputFormat::Markdown),
            "| name | n |\n| --- | --- |\n| a\\|b | 1 |\n|  | 2 |\n"
        );
        assert_eq!(
            render(OutputFormat::Table),
            "+------+---+\n| name | n |\n+------+---+\n| a|b  | 1 |\n|      | 2 |\n+------+---+\n2 rows\n"
        );
        let empty = batch().slice(0, 0);
        let mut out = Vec::new();
        OutputFormat::Json
            .write(&empty.schema(), &[empty], &mut out)
            .unwrap();
        assert_eq!(String::from_utf8(out).unwrap(), "[]\n");
        assert_eq!(
            "JSONL".parse::<OutputFormat>().unwrap(),
            OutputFormat::NdJson
        );
        assert!("xml".parse::<OutputFormat>().is_err());
    }
}
