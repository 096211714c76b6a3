//! Incremental runs and kept findings (`detect --new`): which of the lake's data is new for
//! each rule, and the `detections` table findings are appended to.
//!
//! What is new comes from the Delta log of the lake's `cloudtrail` table (each ingest
//! checkpoint commits a version adding its data files; a compaction rewrites files, and the
//! file holding rows new since a version is followed through it): each rule
//! remembers the first version its runs have not covered (`_trailsql/detect/watermarks.json`),
//! and the next `--new` run reads only the files added by later versions.
//!
//! Findings go to the lake's `detections` Delta table (one file and one commit per run, the
//! columns of [`crate::findings::schema`] plus `detectedat`; see
//! [`trailsql_lake::detections`]), committed before the watermarks move: a run
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
use trailsql_lake::TableLog;
use trailsql_lake::schema::Table;

use crate::findings::{self, Finding};
use crate::{Error, Result};

/// The lake table of kept findings.
pub const DETECTIONS: &str = trailsql_lake::detections::DETECTIONS_TABLE;
const WATERMARKS: &str = "_trailsql/detect/watermarks.json";

/// The lake's `cloudtrail` table at its latest Delta version.
#[derive(Debug)]
pub struct Snapshot {
    log: TableLog,
    version: Option<u64>,
}

impl Snapshot {
    /// The watermark of a run over everything: the first version not yet committed (0 for
    /// a lake without a table yet).
    pub fn head(&self) -> u64 {
        self.version.map_or(0, |v| v + 1)
    }
    /// The data files of versions `from` on (a rule's watermark: the first version it has
    /// not covered).
    pub async fn since(&self, from: u64) -> Result<Vec<String>> {
        let files = match from.checked_sub(1) {
            None => self.log.snapshot()?.files,
            Some(before) => self.log.added_after(before).await?,
        };
        Ok(files.into_iter().map(|f| f.path).collect())
    }
}

/// Read the table's Delta log.
pub async fn snapshot(lake: &Lake) -> Result<Snapshot> {
    let log = TableLog::open(lake, Table::CloudTrail).await?;
    let version = log.snapshot()?.version;
    Ok(Snapshot { log, version })
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
        f.event.eventid().map(str::to_owned),
        f.window().map_or(f.event.eventtime(), |w| w.0),
        f.group().map(str::to_owned),
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
    let run = format!(
        "detect-{}-{}",
        now.format("%Y%m%dT%H%M%S%6f"),
        std::process::id()
    );
    trailsql_lake::detections::append_detections(lake, &batch, &run).await?;
    Ok(new)
}
