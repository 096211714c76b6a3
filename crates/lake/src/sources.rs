//! `cloudtrail_sources`: the integrity verdicts `ingest --verify` gives each source object,
//! one Parquet file per verification run, to join with `cloudtrail.sourceobject`.

use std::sync::Arc;

use arrow::array::{RecordBatch, StringArray, TimestampMicrosecondArray};
use arrow::datatypes::{DataType, Field, Schema, SchemaRef, TimeUnit};
use chrono::{DateTime, Utc};

use crate::Result;
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

/// The verdicts as a Parquet file of [`SOURCES_TABLE`].
pub fn encode_verdicts(verdicts: &[Verdict<'_>], at: DateTime<Utc>) -> Result<Vec<u8>> {
    let schema = sources_schema();
    let batch = RecordBatch::try_new(
        schema.clone(),
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
    )?;
    let mut out = Vec::new();
    let props = parquet::file::properties::WriterProperties::builder()
        .set_compression(parquet::basic::Compression::ZSTD(Default::default()))
        .build();
    let mut w = parquet::arrow::ArrowWriter::try_new(&mut out, schema, Some(props))?;
    w.write(&batch)?;
    w.close()?;
    Ok(out)
}

/// Append a verification run's verdicts to the table; returns the file's path.
pub async fn append_verdicts(
    lake: &Lake,
    verdicts: &[Verdict<'_>],
    at: DateTime<Utc>,
) -> Result<String> {
    let file = format!(
        "{SOURCES_TABLE}/verified-{}-{:08x}.parquet",
        at.format("%Y%m%dT%H%M%S%.6fZ"),
        std::process::id()
    );
    lake.put(&file, encode_verdicts(verdicts, at)?).await?;
    Ok(file)
}
