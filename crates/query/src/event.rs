//! An event as CloudTrail wrote it: its row found by `eventid` (and `eventtime`, which prunes
//! the search to one day), rebuilt into the JSON record it was made from (the lake is
//! lossless), with where it came from and, when `ingest --verify` judged that object, the
//! verdict on it.

use arrow::array::{Array, AsArray, RecordBatch};
use arrow::datatypes::Int64Type;
use chrono::{DateTime, Utc};
use datafusion::prelude::SessionContext;
use serde::Serialize;
use serde_json::Value;
use trailsql_lake::schema::Table;

use crate::{Result, query_with};

/// One event of the `cloudtrail` table.
#[derive(Debug, Clone, Serialize)]
pub struct EventRecord {
    /// The record, key for key and value for value as in its source object.
    pub record: Value,
    /// Provenance: the URI of the source object and the record's position in it.
    pub source_object: String,
    pub source_index: i64,
    /// The newest verdict of `ingest --verify` on the source object, when there is one.
    pub verdict: Option<SourceVerdict>,
}

#[derive(Debug, Clone, Serialize)]
pub struct SourceVerdict {
    pub verdict: String,
    pub detail: Option<String>,
    pub digest: Option<String>,
    pub verified_at: String,
}

/// The event with this ID (at this time, when given: the same `eventid` on two days or in
/// two regions is two events), or `None`.
pub async fn event_record(
    ctx: &SessionContext,
    event_id: &str,
    time: Option<DateTime<Utc>>,
) -> Result<Option<EventRecord>> {
    let table = Table::CloudTrail;
    let schema = table.schema();
    let columns: Vec<String> = schema
        .fields()
        .iter()
        .map(|f| format!("\"{}\"", f.name()))
        .collect();
    let mut params = vec![("event_id".to_owned(), event_id.to_owned())];
    let mut sql = format!(
        "SELECT {} FROM cloudtrail WHERE eventid = $event_id",
        columns.join(", ")
    );
    if let Some(t) = time {
        sql.push_str(" AND eventtime = $event_time");
        params.push(("event_time".into(), t.to_rfc3339()));
    }
    sql.push_str(" ORDER BY sourceobject, sourceindex LIMIT 1");
    let (_, batches) = query_with(ctx, &sql, &params).await?;
    let Some(batch) = batches.into_iter().find(|b| b.num_rows() > 0) else {
        return Ok(None);
    };
    // The session reads top-level strings as views; the rebuild reads the file's own types.
    let cols = schema
        .fields()
        .iter()
        .zip(batch.columns())
        .map(|(f, c)| arrow::compute::cast(c, f.data_type()))
        .collect::<std::result::Result<Vec<_>, _>>()?;
    let batch = RecordBatch::try_new(schema.clone(), cols)?;
    let record = trailsql_ingest::rows::rebuild(&batch, table, 0);
    let source_object = batch
        .column(schema.index_of("sourceobject")?)
        .as_string::<i32>()
        .value(0)
        .to_owned();
    let source_index = batch
        .column(schema.index_of("sourceindex")?)
        .as_primitive::<Int64Type>()
        .value(0);
    let verdict = source_verdict(ctx, &source_object).await?;
    Ok(Some(EventRecord {
        record,
        source_object,
        source_index,
        verdict,
    }))
}

/// The newest verdict on a source object; `None` when there is none or the lake has no
/// verdicts table.
async fn source_verdict(ctx: &SessionContext, source: &str) -> Result<Option<SourceVerdict>> {
    let table = trailsql_lake::sources::SOURCES_TABLE;
    if !ctx.table_exist(table).unwrap_or(false) {
        return Ok(None);
    }
    let sql = format!(
        "SELECT verdict, detail, digest, CAST(verifiedat AS VARCHAR) AS verified_at FROM {table} \
         WHERE sourceobject = $source ORDER BY verifiedat DESC LIMIT 1"
    );
    let (_, batches) = query_with(ctx, &sql, &[("source".into(), source.to_owned())]).await?;
    let Some(b) = batches.into_iter().find(|b| b.num_rows() > 0) else {
        return Ok(None);
    };
    let text = |i: usize| -> Option<String> {
        let c = arrow::compute::cast(b.column(i), &arrow::datatypes::DataType::Utf8).ok()?;
        let s = c.as_string::<i32>();
        s.is_valid(0).then(|| s.value(0).to_owned())
    };
    Ok(text(0).map(|verdict| SourceVerdict {
        verdict,
        detail: text(1),
        digest: text(2),
        verified_at: text(3).unwrap_or_default(),
    }))
}
