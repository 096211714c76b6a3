//! Incremental runs and kept findings (`detect --new`): which of the lake's data is new for
//! each rule, and the `detections` table findings are appended to.
//!
//! What is new comes from the lake's commit log (`_trailsql/log/SEQ.json`, one record per
//! ingest checkpoint naming the data files it added; files are never rewritten): each rule
//! remembers the first commit its runs have not covered (`_trailsql/detect/watermarks.json`), and the
//! next `--new` run reads only the files of later commits. When the lake becomes a Delta
//! table, the commit sequence is the table version and this module is what changes.
//!
//! Findings go to `LAKE/detections/part-*.parquet` (one file per run, the columns of
//! [`crate::findings::schema`] plus `detectedat`), written before the watermarks move: a run
//! that dies between the two is repeated by the next one, and a finding already in the table
//! (same rule, event ID and time, or same correlation group and window) is not written again.

use std::collections::{BTreeMap, BTreeSet};
use std::sync::Arc;

use arrow::array::{Array, ArrayRef, AsArray, RecordBatch, TimestampMicrosecondArray};
use arrow::datatypes::{DataType, Field, Schema, TimeUnit};
use datafusion::datasource::file_format::parquet::{ParquetFormat, transform_schema_to_view};
use datafusion::datasource::listing::{
    ListingOptions, ListingTable, ListingTableConfig, ListingTableUrl,
};
use datafusion::prelude::SessionContext;
use trailsql_lake::Lake;
use trailsql_lake::schema::Table;
use trailsql_lake::state::{Commit, LOG_DIR};

use crate::findings::{self, Finding};
use crate::{Error, Result};

/// The lake table of kept findings.
pub const DETECTIONS: &str = "detections";
const WATERMARKS: &str = "_trailsql/detect/watermarks.json";

/// The lake's committed `cloudtrail` data files, by commit sequence.
#[derive(Debug, Default)]
pub struct Snapshot {
    pub files: Vec<(u64, String)>,
}

impl Snapshot {
    /// The watermark of a run over everything: the first commit not yet made (0 for an
    /// empty lake).
    pub fn head(&self) -> u64 {
        self.files.iter().map(|f| f.0 + 1).max().unwrap_or(0)
    }
    /// The files of commits `from` on (a rule's watermark: the first commit it has not
    /// covered).
    pub fn since(&self, from: u64) -> Vec<&str> {
        self.files
            .iter()
            .filter(|f| f.0 >= from)
            .map(|f| f.1.as_str())
            .collect()
    }
}

/// Read the commit log.
pub async fn snapshot(lake: &Lake) -> Result<Snapshot> {
    let mut snap = Snapshot::default();
    let prefix = format!("{}/", Table::CloudTrail.name());
    for (name, _) in lake.list(LOG_DIR).await? {
        let Some(seq) = name
            .rsplit('/')
            .next()
            .and_then(|n| n.strip_suffix(".json"))
            .and_then(|n| n.parse::<u64>().ok())
        else {
            continue;
        };
        let commit: Commit = serde_json::from_slice(&lake.get(&name).await?)?;
        for f in commit.files {
            if f.path.starts_with(&prefix) {
                snap.files.push((seq, f.path));
            }
        }
    }
    Ok(snap)
}

/// Each rule's watermark: the first commit its `--new` runs have not covered.
pub async fn watermarks(lake: &Lake) -> Result<BTreeMap<String, u64>> {
    match lake.get(WATERMARKS).await {
        Ok(b) => Ok(serde_json::from_slice(&b)?),
        Err(trailsql_lake::Error::ObjectStore(object_store::Error::NotFound { .. })) => {
            Ok(BTreeMap::new())
        }
        Err(e) => Err(e.into()),
    }
}

pub async fn save_watermarks(lake: &Lake, marks: &BTreeMap<String, u64>) -> Result<()> {
    lake.put(WATERMARKS, serde_json::to_vec_pretty(marks)?)
        .await?;
    Ok(())
}

/// Register `name` as a table over just `files` (paths relative to the lake).
pub fn register_files(ctx: &SessionContext, lake: &Lake, name: &str, files: &[&str]) -> Result<()> {
    let urls = files
        .iter()
        .map(|f| match &lake.local_root {
            Some(root) => ListingTableUrl::parse(root.join(f).display().to_string()),
            None => ListingTableUrl::parse(format!("{}/{f}", lake.url)),
        })
        .collect::<datafusion::error::Result<Vec<_>>>()?;
    let options =
        ListingOptions::new(Arc::new(ParquetFormat::default())).with_file_extension(".parquet");
    let config = ListingTableConfig::new_with_multi_paths(urls)
        .with_listing_options(options)
        .with_schema(Arc::new(transform_schema_to_view(
            &Table::CloudTrail.schema(),
        )));
    ctx.deregister_table(name)?;
    ctx.register_table(name, Arc::new(ListingTable::try_new(config)?))?;
    Ok(())
}

/// The identity of a kept finding.
type Key = (String, Option<String>, i64, Option<String>);

fn key(f: &Finding) -> Key {
    (
        f.rule.id.clone(),
        f.event.eventid.clone(),
        f.window.map_or(f.event.eventtime, |w| w.0),
        f.group.clone(),
    )
}

/// The keys of the findings already kept for `rules`.
async fn kept_keys(ctx: &SessionContext, rules: &BTreeSet<String>) -> Result<BTreeSet<Key>> {
    if ctx.table_exist(DETECTIONS)? && !rules.is_empty() {
        let list: Vec<String> = rules.iter().map(|r| crate::plan::quote(r)).collect();
        let sql = format!(
            "SELECT rule_id, eventid, coalesce(window_start, eventtime) AS t, \"group\" AS g FROM {DETECTIONS} WHERE rule_id IN ({})",
            list.join(", ")
        );
        let mut out = BTreeSet::new();
        for b in trailsql_query::query(ctx, &sql).await? {
            let s = |n: &str| -> Result<Vec<Option<String>>> {
                let a = arrow::compute::cast(
                    b.column_by_name(n)
                        .ok_or_else(|| Error::Usage(format!("detections has no {n}")))?,
                    &DataType::Utf8,
                )?;
                let a = a.as_string::<i32>();
                Ok((0..a.len())
                    .map(|i| a.is_valid(i).then(|| a.value(i).to_owned()))
                    .collect())
            };
            let (rid, eid, g) = (s("rule_id")?, s("eventid")?, s("g")?);
            let t = arrow::compute::cast(
                b.column_by_name("t").expect("t"),
                &DataType::Timestamp(TimeUnit::Microsecond, None),
            )?;
            let t = t.as_primitive::<arrow::datatypes::TimestampMicrosecondType>();
            for i in 0..b.num_rows() {
                out.insert((
                    rid[i].clone().unwrap_or_default(),
                    eid[i].clone(),
                    t.value(i),
                    g[i].clone(),
                ));
            }
        }
        return Ok(out);
    }
    Ok(BTreeSet::new())
}

/// Append the findings not yet kept to the `detections` table; how many were new.
pub async fn append(
    ctx: &SessionContext,
    lake: &Lake,
    findings: &[Finding],
    rules: &BTreeSet<String>,
) -> Result<Vec<Finding>> {
    let kept = kept_keys(ctx, rules).await?;
    let mut seen = BTreeSet::new();
    let new: Vec<Finding> = findings
        .iter()
        .filter(|f| {
            let k = key(f);
            !kept.contains(&k) && seen.insert(k)
        })
        .cloned()
        .collect();
    if new.is_empty() {
        return Ok(new);
    }
    let batch = findings::to_batch(&new)?;
    let now = chrono::Utc::now();
    let mut fields: Vec<Field> = findings::schema()
        .fields()
        .iter()
        .map(|f| f.as_ref().clone())
        .collect();
    fields.push(Field::new(
        "detectedat",
        DataType::Timestamp(TimeUnit::Microsecond, Some("UTC".into())),
        false,
    ));
    let mut cols: Vec<ArrayRef> = batch.columns().to_vec();
    cols.push(Arc::new(
        TimestampMicrosecondArray::from(vec![now.timestamp_micros(); new.len()])
            .with_timezone("UTC"),
    ));
    let batch = RecordBatch::try_new(Arc::new(Schema::new(fields)), cols)?;
    let mut buf = Vec::new();
    let mut w = parquet::arrow::ArrowWriter::try_new(&mut buf, batch.schema(), None)
        .map_err(|e| Error::Usage(format!("detections: {e}")))?;
    w.write(&batch)
        .map_err(|e| Error::Usage(format!("detections: {e}")))?;
    w.close()
        .map_err(|e| Error::Usage(format!("detections: {e}")))?;
    let name = format!(
        "{DETECTIONS}/part-{}-{}.parquet",
        now.format("%Y%m%dT%H%M%S%6f"),
        std::process::id()
    );
    lake.put(&name, buf).await?;
    Ok(new)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn watermarks_are_the_first_commit_not_covered() {
        let snap = Snapshot {
            files: vec![
                (0, "cloudtrail/a".into()),
                (1, "cloudtrail/b".into()),
                (3, "cloudtrail/c".into()),
            ],
        };
        assert_eq!(snap.head(), 4);
        assert_eq!(
            snap.since(0),
            ["cloudtrail/a", "cloudtrail/b", "cloudtrail/c"]
        );
        assert_eq!(snap.since(2), ["cloudtrail/c"]);
        assert!(snap.since(snap.head()).is_empty());
        assert_eq!(Snapshot::default().head(), 0);
    }
}
