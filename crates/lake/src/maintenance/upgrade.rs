//! The upgrade of a lake written before the Delta tables (commit records in `_trailsql/log`,
//! see [`LegacyCommit`]), in place and without rewriting data:
//!
//! 1. each table's Delta log is created and the files the legacy commits name are added to
//!    it (partition values from their paths; row count and min/max/null statistics from each
//!    file's Parquet footer, as ingest commits them), a batch of files per version; files in
//!    the folders that no legacy commit names are left out, as readers of the old lake did;
//! 2. the legacy commits' sources and listing marks become source records
//!    (`_trailsql/sources/`, one per legacy commit, under names fixed by its version);
//! 3. the legacy records are moved to `_trailsql/log-upgraded/`, and the lake is no longer
//!    refused.
//!
//! Each step skips what an earlier, interrupted upgrade did (files already in the log, records
//! already written, legacy records already moved), so a re-run after a kill completes it. The
//! upgrade holds the lake's lock: no ingest runs meanwhile.

use std::collections::{BTreeMap, HashSet};

use futures::{StreamExt, TryStreamExt};
use object_store::path::Path;
use object_store::{ObjectStoreExt, PutMode, PutOptions, PutPayload};
use parquet::file::metadata::ParquetMetaDataReader;

use crate::file::footer_stats;
use crate::partition::{PartitionKey, object_path};
use crate::schema::Table;
use crate::state::{LEGACY_LOG_DIR, LakeLock, LegacyCommit, SOURCES_DIR, SourceRecord};
use crate::store::Lake;
use crate::table_log::{NewFile, TableLog};
use crate::{Error, Result};

/// Where the legacy commit records are kept once the lake is upgraded.
pub const UPGRADED_LOG_DIR: &str = "_trailsql/log-upgraded";

/// Files added per Delta version.
const FILES_PER_COMMIT: usize = 1000;

#[derive(Debug, Clone, Default, PartialEq, serde::Serialize)]
pub struct UpgradeReport {
    /// Legacy commit records read.
    pub commits: u64,
    /// Data files added to the Delta logs (by this run; earlier runs' are not counted).
    pub files: u64,
    pub rows: u64,
    /// Data files the legacy commits name that an earlier, interrupted upgrade added.
    pub already_added: u64,
    pub source_records: u64,
}

impl std::fmt::Display for UpgradeReport {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        if self.commits == 0 {
            return writeln!(
                f,
                "nothing to upgrade: the lake has no legacy commit records"
            );
        }
        writeln!(
            f,
            "upgraded {} legacy commits: {} files ({} rows) added to the Delta logs{}, {} source records; legacy records moved to {UPGRADED_LOG_DIR}/",
            self.commits,
            self.files,
            self.rows,
            if self.already_added > 0 {
                format!(" ({} added by an earlier run)", self.already_added)
            } else {
                String::new()
            },
            self.source_records
        )
    }
}

/// Upgrade the lake (nothing to do for a lake without legacy records).
pub async fn upgrade(lake: &Lake) -> Result<UpgradeReport> {
    let lock = LakeLock::acquire(lake).await?;
    let result = run(lake).await;
    let released = lock.release().await;
    let report = result?;
    released?;
    Ok(report)
}

async fn run(lake: &Lake) -> Result<UpgradeReport> {
    let mut report = UpgradeReport::default();
    let pending = lake.list(LEGACY_LOG_DIR).await?;
    if pending.is_empty() {
        return Ok(report);
    }
    // The records an interrupted run moved already are read again with the rest.
    let mut names: BTreeMap<String, String> = BTreeMap::new();
    for dir in [UPGRADED_LOG_DIR, LEGACY_LOG_DIR] {
        for (path, _) in lake.list(dir).await? {
            if let Some(name) = path.rsplit('/').next().filter(|n| n.ends_with(".json")) {
                names.insert(name.to_owned(), path);
            }
        }
    }
    let mut commits = Vec::with_capacity(names.len());
    for path in names.values() {
        let commit: LegacyCommit = serde_json::from_slice(&lake.get(path).await?)
            .map_err(|e| Error::CorruptState(format!("{}/{path}: {e}", lake.url)))?;
        commits.push(commit);
    }
    report.commits = commits.len() as u64;
    add_files(lake, &commits, &mut report).await?;
    write_source_records(lake, &commits, &mut report).await?;
    // Moved last: until then the lake is refused, and a re-run finds every record.
    for (name, path) in &names {
        if path.starts_with(LEGACY_LOG_DIR) {
            let to = format!("{UPGRADED_LOG_DIR}/{name}");
            lake.store()
                .copy(&object_path(path)?, &object_path(&to)?)
                .await?;
            lake.delete(path).await?;
        }
    }
    Ok(report)
}

/// Add the files the legacy commits name to each table's Delta log.
async fn add_files(
    lake: &Lake,
    commits: &[LegacyCommit],
    report: &mut UpgradeReport,
) -> Result<()> {
    let mut seen = HashSet::new();
    let files: Vec<_> = commits
        .iter()
        .flat_map(|c| &c.files)
        .filter(|f| seen.insert(f.path.clone()))
        .collect();
    for table in Table::ALL {
        let mine: Vec<_> = files
            .iter()
            .filter(|f| PartitionKey::of_path(&f.path).is_some_and(|k| k.table == table))
            .collect();
        if mine.is_empty() {
            continue;
        }
        let mut log = TableLog::open(lake, table).await?;
        let have: HashSet<String> = log.snapshot()?.files.into_iter().map(|f| f.path).collect();
        let todo: Vec<_> = mine
            .into_iter()
            .filter(|f| !have.contains(&f.path))
            .collect();
        report.already_added += have.len() as u64;
        for batch in todo.chunks(FILES_PER_COMMIT) {
            let new: Vec<NewFile> = futures::stream::iter(batch.iter().copied())
                .map(|f| async move {
                    let key = PartitionKey::of_path(&f.path).expect("filtered by partition");
                    let (rows, stats) = read_footer(lake, &f.path, f.bytes, table).await?;
                    if rows != f.rows {
                        return Err(Error::CorruptState(format!(
                            "{}/{}: the legacy log counts {} rows, the file {rows}",
                            lake.url, f.path, f.rows
                        )));
                    }
                    Ok(NewFile {
                        path: f.path.clone(),
                        partition: key,
                        size: f.bytes,
                        rows,
                        stats,
                    })
                })
                .buffered(16)
                .try_collect()
                .await?;
            log.append(&new, "upgrade").await?;
            report.files += new.len() as u64;
            report.rows += new.iter().map(|f| f.rows).sum::<u64>();
        }
    }
    Ok(())
}

/// A data file's row count and statistics, from its footer (two ranged reads).
async fn read_footer(
    lake: &Lake,
    path: &str,
    size: u64,
    table: Table,
) -> Result<(u64, Vec<crate::file::ColumnStats>)> {
    let location = object_path(path)?;
    let store = lake.store();
    let missing = |e: object_store::Error| match e {
        object_store::Error::NotFound { .. } => Error::CorruptState(format!(
            "{}/{path}: named by the legacy log but missing",
            lake.url
        )),
        e => e.into(),
    };
    if size < 12 {
        return Err(Error::CorruptState(format!(
            "{}/{path}: {size} bytes is not a Parquet file",
            lake.url
        )));
    }
    let tail = store
        .get_range(&location, size - 8..size)
        .await
        .map_err(missing)?;
    let len = u32::from_le_bytes(tail[..4].try_into().expect("4 bytes")) as u64;
    if &tail[4..] != b"PAR1" || len + 8 > size {
        return Err(Error::CorruptState(format!(
            "{}/{path}: not a Parquet file (or not {size} bytes long, as the legacy log says)",
            lake.url
        )));
    }
    let footer = store
        .get_range(&location, size - 8 - len..size - 8)
        .await
        .map_err(missing)?;
    let meta = ParquetMetaDataReader::decode_metadata(&footer)?;
    Ok(footer_stats(table, &meta))
}

/// One source record per legacy commit, named by its version so a re-run finds it written.
async fn write_source_records(
    lake: &Lake,
    commits: &[LegacyCommit],
    report: &mut UpgradeReport,
) -> Result<()> {
    for c in commits {
        let record = SourceRecord {
            run: c.run.clone(),
            time: c.time.clone(),
            versions: BTreeMap::new(),
            quarantine: c.quarantine.clone(),
            sources: c.sources.clone(),
            listed: c.listed.clone(),
        };
        // Before any record of a later run: records are applied in name order.
        let path = format!(
            "{SOURCES_DIR}/00000000T000000.000000Z-upgrade-{:012}.json",
            c.version
        );
        let opts = PutOptions {
            mode: PutMode::Create,
            ..Default::default()
        };
        let body = PutPayload::from(serde_json::to_vec(&record)?);
        match lake
            .store()
            .put_opts(&Path::from(path.as_str()), body, opts)
            .await
        {
            Ok(_) => report.source_records += 1,
            Err(object_store::Error::AlreadyExists { .. }) => {}
            Err(e) => return Err(e.into()),
        }
    }
    Ok(())
}
