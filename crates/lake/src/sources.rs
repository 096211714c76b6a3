//! `cloudtrail_sources`: the integrity verdicts `ingest --verify` gives each source object,
//! to join with `cloudtrail.sourceobject`: an appended Delta table ([`crate::appended`]),
//! one file and one commit per verification run.

use std::sync::Arc;

use arrow::array::{RecordBatch, StringArray, TimestampMicrosecondArray};
use arrow::datatypes::{DataType, Field, Schema, SchemaRef, TimeUnit};
use chrono::{DateTime, Utc};

use crate::Result;
use crate::appended::AppendedTable;
use crate::store::Lake;

/// The table's name and folder.
pub const SOURCES_TABLE: &str = "cloudtrail_sources";

/// One object's verdict.
#[derive(Debug, Clone)]
pub struct Verdict<'a> {
    pub object: &'a str,
    pub verdict: &'a str,
    pub detail: Option<&'a str>,
    pub digest: Option<&'a str>,
}

pub fn sources_schema() -> SchemaRef {
    Arc::new(Schema::new(vec![
        Field::new("sourceobject", DataType::Utf8, false),
        Field::new("verdict", DataType::Utf8, false),
        Field::new("detail", DataType::Utf8, true),
        Field::new("digest", DataType::Utf8, true),
        Field::new(
            "verifiedat",
            DataType::Timestamp(TimeUnit::Microsecond, Some("UTC".into())),
            false,
        ),
    ]))
}

/// The verdicts as a batch of [`sources_schema`].
pub fn verdicts_batch(verdicts: &[Verdict<'_>], at: DateTime<Utc>) -> Result<RecordBatch> {
    Ok(RecordBatch::try_new(
        sources_schema(),
        vec![
            Arc::new(StringArray::from_iter_values(
                verdicts.iter().map(|v| v.object),
            )),
            Arc::new(StringArray::from_iter_values(
                verdicts.iter().map(|v| v.verdict),
            )),
            Arc::new(StringArray::from_iter(verdicts.iter().map(|v| v.detail))),
            Arc::new(StringArray::from_iter(verdicts.iter().map(|v| v.digest))),
            Arc::new(
                TimestampMicrosecondArray::from(vec![at.timestamp_micros(); verdicts.len()])
                    .with_timezone("UTC"),
            ),
        ],
    )?)
}

/// Append a verification run's verdicts to the table (one file, one commit); returns the
/// file's path.
pub async fn append_verdicts(
    lake: &Lake,
    verdicts: &[Verdict<'_>],
    at: DateTime<Utc>,
) -> Result<String> {
    let run = format!("verify-{}", at.format("%Y%m%dT%H%M%S%.6fZ"));
    AppendedTable::open(lake, SOURCES_TABLE)
        .await?
        .append(&verdicts_batch(verdicts, at)?, &run)
        .await
}

/// Convert a `cloudtrail_sources` table of an earlier trailsql (plain Parquet files) in
/// place; how many files it adopted. For `trailsql lake upgrade`.
pub async fn upgrade_sources(lake: &Lake) -> Result<usize> {
    AppendedTable::open(lake, SOURCES_TABLE)
        .await?
        .adopt()
        .await
}
