//! The source state of one day: what the lake has read of the source objects CloudTrail
//! delivered that day (the `YYYY/MM/DD` of the object's key), kept in
//! `_trailsql/sources/KEY/` where KEY is the day (`2024-01-15`), `other` for objects outside
//! CloudTrail's layout, or `marks` for the listing marks and quarantine paths.
//!
//! A day holds records (`TIME-RUN-SEQ.json`, one [`SourceRecord`] each, written once under a
//! unique name by the checkpoint of an ingest) and checkpoints
//! (`checkpoint-TIME-RUN-SEQ.parquet`, one row per object, plus the marks and the names of
//! the records and checkpoints it replaces). A fold writes a checkpoint of everything it
//! read, then deletes what it replaced: a crash between the two leaves files that the
//! checkpoint names as replaced, and readers skip them. Two folds at once each write their
//! checkpoint; both are read (applying an entry twice changes nothing) and a later fold
//! merges them. A run loads only the days of the objects it lists, so its start-up cost
//! grows with what it lists, not with everything the lake ever read.

use std::collections::{BTreeSet, HashMap};
use std::sync::Arc;

use arrow::array::{
    Array, ArrayRef, AsArray, BooleanArray, Int64Array, RecordBatch, StringArray, UInt64Array,
};
use arrow::datatypes::{DataType, Field, Int64Type, Schema, UInt64Type};
use futures::{StreamExt, TryStreamExt};
use object_store::path::Path;
use object_store::{PutMode, PutOptions, PutPayload};
use parquet::arrow::ArrowWriter;
use parquet::arrow::arrow_reader::ParquetRecordBatchReaderBuilder;
use parquet::file::metadata::KeyValue;
use parquet::file::properties::WriterProperties;

use crate::state::{Listed, SOURCES_DIR, SourceEntry, SourceRecord, SourceStatus};
use crate::store::Lake;
use crate::{Error, Result};

/// The key of the listing marks and quarantine paths.
pub const MARKS: &str = "marks";
/// The key of objects outside CloudTrail's layout.
pub const OTHER: &str = "other";
const CHECKPOINT_PREFIX: &str = "checkpoint-";
const FOLDED: &str = "trailsql.folded";
const LISTED: &str = "trailsql.listed";
const QUARANTINE: &str = "trailsql.quarantine";

/// The day key of a source object: its delivery day when its key is in CloudTrail's layout
/// (`.../YYYY/MM/DD/ACCOUNT_CloudTrail_...`), else [`OTHER`].
pub fn day_key(uri: &str) -> String {
    let parts: Vec<&str> = uri.rsplitn(5, '/').collect();
    if let [name, d, m, y, _] = parts[..]
        && name.contains("_CloudTrail")
        && y.len() == 4
        && m.len() == 2
        && d.len() == 2
        && let (Ok(y), Ok(m), Ok(d)) = (y.parse(), m.parse(), d.parse())
        && let Some(day) = chrono::NaiveDate::from_ymd_opt(y, m, d)
    {
        return day.format("%Y-%m-%d").to_string();
    }
    OTHER.to_owned()
}

/// What a day holds, read: the entries and marks of its live checkpoints, and its records not
/// folded into one, in name (time) order.
#[derive(Debug, Default)]
pub struct DayContent {
    pub entries: Vec<SourceEntry>,
    pub listed: Vec<Listed>,
    pub quarantine: Vec<String>,
    pub records: Vec<SourceRecord>,
    /// Names (below the day's folder) of the live checkpoints and records.
    pub names: Vec<String>,
    /// Files a checkpoint replaced that a fold did not get to delete.
    pub leftovers: Vec<String>,
}

impl DayContent {
    /// Whether a checkpoint was read.
    pub fn has_checkpoint(&self) -> bool {
        self.names.len() > self.records.len()
    }
}

fn dir(key: &str) -> String {
    format!("{SOURCES_DIR}/{key}")
}

/// Write a file only if absent: names are unique, so an existing one is a bug elsewhere.
pub(crate) async fn create(lake: &Lake, path: &str, body: Vec<u8>) -> Result<()> {
    let opts = PutOptions {
        mode: PutMode::Create,
        ..Default::default()
    };
    lake.store()
        .put_opts(&Path::from(path), PutPayload::from(body), opts)
        .await?;
    Ok(())
}

/// Append a record to a day.
pub async fn write_record(lake: &Lake, key: &str, name: &str, record: &SourceRecord) -> Result<()> {
    create(
        lake,
        &format!("{}/{name}.json", dir(key)),
        serde_json::to_vec(record)?,
    )
    .await
}

/// Read a day. A file deleted under the reader (a concurrent fold replaced it) makes it
/// read the day again.
pub async fn read_day(lake: &Lake, key: &str) -> Result<DayContent> {
    let mut tries = 0;
    loop {
        match try_read_day(lake, key).await {
            Err(Error::ObjectStore(object_store::Error::NotFound { .. })) if tries < 4 => {
                tries += 1;
            }
            other => return other,
        }
    }
}

async fn try_read_day(lake: &Lake, key: &str) -> Result<DayContent> {
    let prefix = &dir(key);
    let mut names: Vec<String> = lake
        .list(prefix)
        .await?
        .into_iter()
        .filter_map(|(p, _)| p.strip_prefix(&format!("{prefix}/")).map(str::to_owned))
        .filter(|n| !n.contains('/'))
        .collect();
    names.sort();
    let (checkpoints, records): (Vec<String>, Vec<String>) = names
        .into_iter()
        .partition(|n| n.starts_with(CHECKPOINT_PREFIX) && n.ends_with(".parquet"));
    let read: Vec<Checkpoint> = futures::stream::iter(&checkpoints)
        .map(|n| async move {
            let data = lake.get(&format!("{prefix}/{n}")).await?;
            tokio::task::spawn_blocking(move || decode_checkpoint(data))
                .await
                .map_err(|e| Error::CorruptState(e.to_string()))?
                .map_err(|e| Error::CorruptState(format!("{}/{prefix}/{n}: {e}", lake.url)))
        })
        .buffered(4)
        .try_collect()
        .await?;
    let folded: BTreeSet<&str> = read
        .iter()
        .flat_map(|c| c.folded.iter().map(String::as_str))
        .collect();
    let mut out = DayContent {
        leftovers: checkpoints
            .iter()
            .chain(&records)
            .filter(|n| folded.contains(n.as_str()))
            .cloned()
            .collect(),
        ..Default::default()
    };
    for (name, c) in checkpoints.iter().zip(&read) {
        if !folded.contains(name.as_str()) {
            out.names.push(name.clone());
            out.entries.extend(c.entries.iter().cloned());
            out.listed.extend(c.listed.iter().cloned());
            out.quarantine.extend(c.quarantine.iter().cloned());
        }
    }
    let live: Vec<&String> = records
        .iter()
        .filter(|n| n.ends_with(".json") && !folded.contains(n.as_str()))
        .collect();
    let fetched: Vec<(String, bytes::Bytes)> =
        futures::stream::iter(live)
            .map(|n| async move {
                Ok::<_, Error>((n.clone(), lake.get(&format!("{prefix}/{n}")).await?))
            })
            .buffered(16)
            .try_collect()
            .await?;
    for (name, data) in fetched {
        let record: SourceRecord = serde_json::from_slice(&data)
            .map_err(|e| Error::CorruptState(format!("{}/{prefix}/{name}: {e}", lake.url)))?;
        out.records.push(record);
        out.names.push(name);
    }
    Ok(out)
}

/// Fold a day's records and checkpoints into one checkpoint named `name`, and delete what
/// an earlier fold replaced; returns whether it changed anything (a day of one file is left
/// as it is, and one a concurrent fold is replacing is left to it).
pub async fn fold_day(
    lake: &Lake,
    key: &str,
    name: &str,
    merge: impl Fn(&mut HashMap<String, SourceEntry>, &SourceEntry),
) -> Result<bool> {
    let content = match try_read_day(lake, key).await {
        Err(Error::ObjectStore(object_store::Error::NotFound { .. })) => return Ok(false),
        other => other?,
    };
    if content.names.len() < 2 {
        for n in &content.leftovers {
            lake.delete(&format!("{}/{n}", dir(key))).await?;
        }
        return Ok(!content.leftovers.is_empty());
    }
    let mut merged: HashMap<String, SourceEntry> = HashMap::new();
    for e in &content.entries {
        merge(&mut merged, e);
    }
    let mut listed = content.listed;
    let mut quarantine = content.quarantine;
    for r in &content.records {
        for e in &r.sources {
            merge(&mut merged, e);
        }
        listed.extend(r.listed.iter().cloned());
        quarantine.extend(r.quarantine.iter().cloned());
    }
    // The latest mark of each source is all a run uses.
    let mut latest: HashMap<String, Listed> = HashMap::new();
    for l in listed {
        match latest.get(&l.source) {
            Some(have) if have.at >= l.at => {}
            _ => {
                latest.insert(l.source.clone(), l);
            }
        }
    }
    let mut listed: Vec<Listed> = latest.into_values().collect();
    listed.sort_by(|a, b| a.source.cmp(&b.source));
    quarantine.sort();
    quarantine.dedup();
    let mut entries: Vec<SourceEntry> = merged.into_values().collect();
    entries.sort_by(|a, b| a.uri.cmp(&b.uri));
    let checkpoint = Checkpoint {
        entries,
        listed,
        quarantine,
        folded: content.names.clone(),
    };
    let body = tokio::task::spawn_blocking(move || encode_checkpoint(&checkpoint))
        .await
        .map_err(|e| Error::CorruptState(e.to_string()))??;
    write_checkpoint(lake, key, name, body).await?;
    for n in content.names.iter().chain(&content.leftovers) {
        lake.delete(&format!("{}/{n}", dir(key))).await?;
    }
    Ok(true)
}

/// Write a checkpoint (encoded by [`encode_checkpoint`]) as `name` in a day.
pub async fn write_checkpoint(lake: &Lake, key: &str, name: &str, body: Vec<u8>) -> Result<()> {
    create(
        lake,
        &format!("{}/{CHECKPOINT_PREFIX}{name}.parquet", dir(key)),
        body,
    )
    .await
}

/// A day's folded state.
#[derive(Debug, Default, Clone, PartialEq)]
pub struct Checkpoint {
    pub entries: Vec<SourceEntry>,
    pub listed: Vec<Listed>,
    pub quarantine: Vec<String>,
    /// The records and checkpoints it replaces.
    pub folded: Vec<String>,
}

fn schema() -> Arc<Schema> {
    Arc::new(Schema::new(vec![
        Field::new("uri", DataType::Utf8, false),
        Field::new("size", DataType::UInt64, false),
        Field::new("modified", DataType::Int64, false),
        Field::new("etag", DataType::Utf8, true),
        Field::new("status", DataType::Utf8, false),
        Field::new("detail", DataType::Utf8, true),
        Field::new("records", DataType::UInt64, false),
        Field::new("windowed", DataType::Boolean, false),
        Field::new("window_since", DataType::Int64, true),
        Field::new("window_until", DataType::Int64, true),
    ]))
}

fn status_name(s: SourceStatus) -> &'static str {
    match s {
        SourceStatus::Ingested => "ingested",
        SourceStatus::Damaged => "damaged",
        SourceStatus::Skipped => "skipped",
        SourceStatus::Rejected => "rejected",
    }
}

fn status_of(s: &str) -> Option<SourceStatus> {
    Some(match s {
        "ingested" => SourceStatus::Ingested,
        "damaged" => SourceStatus::Damaged,
        "skipped" => SourceStatus::Skipped,
        "rejected" => SourceStatus::Rejected,
        _ => return None,
    })
}

/// A checkpoint as Parquet: about 40 bytes an object against 250 as JSON, and decoded
/// column by column.
pub fn encode_checkpoint(c: &Checkpoint) -> Result<Vec<u8>> {
    let e = &c.entries;
    let columns: Vec<ArrayRef> = vec![
        Arc::new(StringArray::from_iter_values(e.iter().map(|s| &s.uri))),
        Arc::new(UInt64Array::from_iter_values(e.iter().map(|s| s.size))),
        Arc::new(Int64Array::from_iter_values(e.iter().map(|s| s.modified))),
        Arc::new(StringArray::from_iter(e.iter().map(|s| s.etag.as_deref()))),
        Arc::new(StringArray::from_iter_values(
            e.iter().map(|s| status_name(s.status)),
        )),
        Arc::new(StringArray::from_iter(
            e.iter().map(|s| s.detail.as_deref()),
        )),
        Arc::new(UInt64Array::from_iter_values(e.iter().map(|s| s.records))),
        Arc::new(BooleanArray::from_iter(
            e.iter().map(|s| Some(s.window.is_some())),
        )),
        Arc::new(Int64Array::from_iter(
            e.iter().map(|s| s.window.and_then(|w| w.0)),
        )),
        Arc::new(Int64Array::from_iter(
            e.iter().map(|s| s.window.and_then(|w| w.1)),
        )),
    ];
    let batch = RecordBatch::try_new(schema(), columns)?;
    let meta = vec![
        KeyValue::new(FOLDED.into(), serde_json::to_string(&c.folded)?),
        KeyValue::new(LISTED.into(), serde_json::to_string(&c.listed)?),
        KeyValue::new(QUARANTINE.into(), serde_json::to_string(&c.quarantine)?),
    ];
    let props = WriterProperties::builder()
        .set_compression(parquet::basic::Compression::ZSTD(Default::default()))
        .set_key_value_metadata(Some(meta))
        .build();
    let mut out = Vec::new();
    let mut w = ArrowWriter::try_new(&mut out, schema(), Some(props))?;
    w.write(&batch)?;
    w.close()?;
    Ok(out)
}

pub fn decode_checkpoint(data: bytes::Bytes) -> Result<Checkpoint> {
    let builder = ParquetRecordBatchReaderBuilder::try_new(data)?;
    let kv: HashMap<String, String> = builder
        .metadata()
        .file_metadata()
        .key_value_metadata()
        .into_iter()
        .flatten()
        .filter_map(|k| Some((k.key.clone(), k.value.clone()?)))
        .collect();
    let json = |k: &str| kv.get(k).map(String::as_str).unwrap_or("[]");
    let mut c = Checkpoint {
        folded: serde_json::from_str(json(FOLDED))?,
        listed: serde_json::from_str(json(LISTED))?,
        quarantine: serde_json::from_str(json(QUARANTINE))?,
        entries: Vec::new(),
    };
    let bad = |what: &str| Error::CorruptState(format!("a source checkpoint's {what} column"));
    for batch in builder.build()? {
        let b = batch?;
        let col = |i: usize| b.column(i);
        let uri = col(0).as_string_opt::<i32>().ok_or_else(|| bad("uri"))?;
        let size = col(1)
            .as_primitive_opt::<UInt64Type>()
            .ok_or_else(|| bad("size"))?;
        let modified = col(2)
            .as_primitive_opt::<Int64Type>()
            .ok_or_else(|| bad("modified"))?;
        let etag = col(3).as_string_opt::<i32>().ok_or_else(|| bad("etag"))?;
        let status = col(4).as_string_opt::<i32>().ok_or_else(|| bad("status"))?;
        let detail = col(5).as_string_opt::<i32>().ok_or_else(|| bad("detail"))?;
        let records = col(6)
            .as_primitive_opt::<UInt64Type>()
            .ok_or_else(|| bad("records"))?;
        let windowed = col(7).as_boolean_opt().ok_or_else(|| bad("windowed"))?;
        let since = col(8)
            .as_primitive_opt::<Int64Type>()
            .ok_or_else(|| bad("window"))?;
        let until = col(9)
            .as_primitive_opt::<Int64Type>()
            .ok_or_else(|| bad("window"))?;
        let opt = |a: &Int64Array, i: usize| (!a.is_null(i)).then(|| a.value(i));
        for i in 0..b.num_rows() {
            c.entries.push(SourceEntry {
                uri: uri.value(i).to_owned(),
                size: size.value(i),
                modified: modified.value(i),
                etag: (!etag.is_null(i)).then(|| etag.value(i).to_owned()),
                status: status_of(status.value(i)).ok_or_else(|| bad("status"))?,
                detail: (!detail.is_null(i)).then(|| detail.value(i).to_owned()),
                records: records.value(i),
                window: windowed.value(i).then(|| (opt(since, i), opt(until, i))),
            });
        }
    }
    Ok(c)
}
