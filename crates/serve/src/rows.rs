//! A result as the page gets it: column names and types, then rows as arrays of JSON values
//! in column order (numbers as numbers, nested values as JSON, times as RFC 3339 text).

use arrow::array::RecordBatch;
use arrow::datatypes::SchemaRef;
use serde::Serialize;
use serde_json::Value;

use crate::ApiError;

#[derive(Debug, Clone, Serialize)]
pub struct Column {
    pub name: String,
    /// Arrow's name of the type (`Int64`, `Utf8View`, `Timestamp(µs, "UTC")`...).
    pub r#type: String,
}

#[derive(Debug, Clone, Serialize)]
pub struct Rows {
    pub columns: Vec<Column>,
    pub rows: Vec<Vec<Value>>,
}

/// Convert batches, through Arrow's JSON writer (the same text `--format json` prints).
pub fn to_rows(schema: &SchemaRef, batches: &[RecordBatch]) -> Result<Rows, ApiError> {
    let columns: Vec<Column> = schema
        .fields()
        .iter()
        .map(|f| Column {
            name: f.name().clone(),
            r#type: f.data_type().to_string(),
        })
        .collect();
    let mut text = Vec::new();
    {
        let mut w = arrow::json::WriterBuilder::new()
            .with_explicit_nulls(true)
            .build::<_, arrow::json::writer::LineDelimited>(&mut text);
        for b in batches {
            w.write(b).map_err(internal)?;
        }
        w.finish().map_err(internal)?;
    }
    let mut rows = Vec::new();
    for line in text.split(|b| *b == b'\n').filter(|l| !l.is_empty()) {
        let mut obj: serde_json::Map<String, Value> =
            serde_json::from_slice(line).map_err(internal)?;
        rows.push(
            columns
                .iter()
                .map(|c| obj.remove(&c.name).unwrap_or(Value::Null))
                .collect(),
        );
    }
    Ok(Rows { columns, rows })
}

fn internal(e: impl std::fmt::Display) -> ApiError {
    ApiError::new(
        axum::http::StatusCode::INTERNAL_SERVER_ERROR,
        format!("cannot encode the result: {e}"),
    )
}

/// The rows of a result as objects keyed by column name.
pub fn objects(rows: &Rows) -> Vec<serde_json::Map<String, Value>> {
    rows.rows
        .iter()
        .map(|r| {
            rows.columns
                .iter()
                .zip(r)
                .map(|(c, v)| (c.name.clone(), v.clone()))
                .collect()
        })
        .collect()
}
