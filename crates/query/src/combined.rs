//! Several named results (the reports of one `trailsql report` run) as one document of a
//! machine format, with a first column naming the result each row comes from:
//!
//! - `ndjson`: one object per row, `{"report": ID, ...the row}`;
//! - `json`: one array of those objects;
//! - `csv`, `tsv`: one header, `report` then every column of every result in order of first
//!   appearance, each row filling its own result's columns (the others empty).

use std::io::Write;
use std::sync::Arc;

use arrow::array::{ArrayRef, RecordBatch, StringArray, new_null_array};
use arrow::compute::cast;
use arrow::datatypes::{DataType, Field, Schema, SchemaRef};

use crate::format::flatten_nested;
use crate::{Error, OutputFormat, Result};

/// One result: its name and its rows.
pub struct Named<'a> {
    pub name: &'a str,
    pub schema: &'a SchemaRef,
    pub batches: &'a [RecordBatch],
}

/// The formats whose output is data for a program to read.
pub fn is_machine(format: OutputFormat) -> bool {
    matches!(
        format,
        OutputFormat::Csv | OutputFormat::Tsv | OutputFormat::Json | OutputFormat::NdJson
    )
}

/// The name of the column naming the result: `report`, unless a result has a column of
/// that name.
fn name_column(results: &[Named]) -> &'static str {
    ["report", "report_id", "_report"]
        .into_iter()
        .find(|c| {
            !results
                .iter()
                .any(|r| r.schema.fields().iter().any(|f| f.name() == c))
        })
        .unwrap_or("_report")
}

/// `batch` with a first column holding `name` on every row.
fn with_name(column: &str, name: &str, batch: &RecordBatch) -> Result<RecordBatch> {
    let mut fields = vec![Field::new(column, DataType::Utf8, false)];
    fields.extend(batch.schema().fields().iter().map(|f| f.as_ref().clone()));
    let mut columns: Vec<ArrayRef> =
        vec![Arc::new(StringArray::from(vec![name; batch.num_rows()]))];
    columns.extend(batch.columns().iter().cloned());
    Ok(RecordBatch::try_new(
        Arc::new(Schema::new(fields)),
        columns,
    )?)
}

/// Write `results` as one document of `format` (csv, tsv, json or ndjson).
pub fn write_combined(results: &[Named], format: OutputFormat, out: &mut dyn Write) -> Result<()> {
    let column = name_column(results);
    match format {
        OutputFormat::NdJson => {
            for r in results {
                let batches = r
                    .batches
                    .iter()
                    .map(|b| with_name(column, r.name, b))
                    .collect::<Result<Vec<_>>>()?;
                if let Some(first) = batches.first() {
                    OutputFormat::NdJson.write(&first.schema(), &batches, out)?;
                }
            }
        }
        OutputFormat::Json => {
            let mut lines = Vec::new();
            write_combined(results, OutputFormat::NdJson, &mut lines)?;
            let text = String::from_utf8_lossy(&lines);
            let rows: Vec<&str> = text.lines().collect();
            writeln!(out, "[{}]", rows.join(","))?;
        }
        OutputFormat::Csv | OutputFormat::Tsv => {
            let mut names: Vec<String> = vec![column.to_owned()];
            for r in results {
                for f in r.schema.fields() {
                    if !names.contains(f.name()) {
                        names.push(f.name().clone());
                    }
                }
            }
            let schema: SchemaRef = Arc::new(Schema::new(
                names
                    .iter()
                    .map(|n| Field::new(n, DataType::Utf8, true))
                    .collect::<Vec<_>>(),
            ));
            let mut batches = Vec::new();
            for r in results {
                for b in r.batches {
                    let b = with_name(column, r.name, &flatten_nested(b)?)?;
                    let columns = names
                        .iter()
                        .map(|n| match b.column_by_name(n) {
                            Some(c) => Ok(cast(c, &DataType::Utf8)?),
                            None => Ok(new_null_array(&DataType::Utf8, b.num_rows())),
                        })
                        .collect::<Result<Vec<_>>>()?;
                    batches.push(RecordBatch::try_new(schema.clone(), columns)?);
                }
            }
            format.write(&schema, &batches, out)?;
        }
        other => {
            return Err(Error::Usage(format!(
                "{other:?} is not a format for several results in one document"
            )));
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use arrow::array::Int64Array;

    use super::*;

    fn batch(cols: &[(&str, i64)]) -> RecordBatch {
        let fields: Vec<Field> = cols
            .iter()
            .map(|(n, _)| Field::new(*n, DataType::Int64, false))
            .collect();
        let arrays: Vec<ArrayRef> = cols
            .iter()
            .map(|(_, v)| Arc::new(Int64Array::from(vec![*v])) as ArrayRef)
            .collect();
        RecordBatch::try_new(Arc::new(Schema::new(fields)), arrays).unwrap()
    }

    fn render(format: OutputFormat) -> String {
        let a = batch(&[("n", 1), ("x", 2)]);
        let b = batch(&[("x", 3), ("y", 4)]);
        let empty_schema = Arc::new(Schema::new(vec![Field::new("z", DataType::Utf8, true)]));
        let results = [
            Named {
                name: "a",
                schema: &a.schema(),
                batches: std::slice::from_ref(&a),
            },
            Named {
                name: "b",
                schema: &b.schema(),
                batches: std::slice::from_ref(&b),
            },
            Named {
                name: "none",
                schema: &empty_schema,
                batches: &[],
            },
        ];
        let mut out = Vec::new();
        write_combined(&results, format, &mut out).unwrap();
        String::from_utf8(out).unwrap()
    }

    #[test]
    fn one_document_with_a_column_naming_the_result() {
        assert_eq!(
            render(OutputFormat::Csv),
            "report,n,x,y,z\na,1,2,,\nb,,3,4,\n"
        );
        assert_eq!(
            render(OutputFormat::NdJson),
            "{\"report\":\"a\",\"n\":1,\"x\":2}\n{\"report\":\"b\",\"x\":3,\"y\":4}\n"
        );
        assert_eq!(
            render(OutputFormat::Json),
            "[{\"report\":\"a\",\"n\":1,\"x\":2},{\"report\":\"b\",\"x\":3,\"y\":4}]\n"
        );
    }
}
