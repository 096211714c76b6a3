//! Compaction: the small files of a partition rewritten as one, with the lake's own writer
//! ([`crate::file::encode_partition`]: sort order, compression, statistics), and committed
//! as one Delta version per batch of partitions that removes the old files and adds the new
//! (`dataChange: false`, an OPTIMIZE). An hourly feed writes a file per partition and hour;
//! compacted, the lake holds what one run would have written.
//!
//! A partition's files are merged in groups of at most [`COMPACT_FILE_BYTES`] of input, in
//! time order: a compacted file is at most about that size, so memory holds one group at a
//! time (its decoded rows, several times its Parquet size), and a file already at least half
//! that size is left as it is. Files of partitions that lose their commit to a concurrent
//! compaction or retention are deleted and the partition is skipped: the next compaction
//! takes it up from the new version.

use std::collections::{BTreeMap, HashSet};

use chrono::NaiveDate;
use futures::{StreamExt, TryStreamExt};

use crate::file::{encode_partition, read_file};
use crate::partition::PartitionKey;
use crate::schema::Table;
use crate::state::OUR_PREFIX;
use crate::store::Lake;
use crate::table_change::Change;
use crate::table_log::{DataFile, NewFile, TableLog};
use crate::{Error, Result};

/// Input bytes (Parquet) merged into one compacted file. Decoded, a group takes several times
/// this in memory (about 0.5 GB at most); partitions past it keep several files.
pub const COMPACT_FILE_BYTES: u64 = 64 << 20;

/// Ingest compacts a partition it wrote to once it holds more than this many small files
/// (files under half of [`COMPACT_FILE_BYTES`]). One: an hourly feed then keeps every
/// partition as one run would have written it (a query reads as many files as after a single
/// run), and what each run rewrites is bounded by [`COMPACT_FILE_BYTES`] per partition it
/// touched (the partition's small files), not by the partition's size.
pub const AUTO_COMPACT_FILES: usize = 1;

/// Partitions committed together (one Delta version).
const BATCH_PARTITIONS: usize = 64;

/// What to compact.
#[derive(Debug, Clone)]
pub struct CompactOptions {
    /// Only partitions of this date or later.
    pub since: Option<NaiveDate>,
    /// Only partitions of this date or earlier.
    pub until: Option<NaiveDate>,
    /// Only these tables (empty: all).
    pub tables: Vec<Table>,
    /// Only these partitions (ingest's: those its run wrote to).
    pub partitions: Option<Vec<PartitionKey>>,
    /// Compact a partition holding more than this many small files.
    pub min_files: usize,
    /// Only partitions whose small files were written by more than one run (ingest's own
    /// compaction: the several files one big run leaves in a partition, flushed as its buffer
    /// filled, are left as they are; a partition fed by run after run is merged).
    pub across_runs: bool,
}

impl Default for CompactOptions {
    fn default() -> Self {
        CompactOptions {
            since: None,
            until: None,
            tables: Vec::new(),
            partitions: None,
            min_files: 1,
            across_runs: false,
        }
    }
}

/// What a compaction did.
#[derive(Debug, Clone, Default, PartialEq, serde::Serialize)]
pub struct CompactReport {
    pub partitions: u64,
    pub files_before: u64,
    pub files_after: u64,
    pub bytes_before: u64,
    pub bytes_after: u64,
    pub rows: u64,
    pub commits: u64,
    /// Partitions left as they were, and why (a concurrent commit removed their files).
    pub skipped: Vec<String>,
}

impl CompactReport {
    fn add(&mut self, o: &CompactReport) {
        self.partitions += o.partitions;
        self.files_before += o.files_before;
        self.files_after += o.files_after;
        self.bytes_before += o.bytes_before;
        self.bytes_after += o.bytes_after;
        self.rows += o.rows;
    }
}

impl std::fmt::Display for CompactReport {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        use super::bytes;
        if self.partitions == 0 {
            writeln!(
                f,
                "compacted nothing: no partition holds several small files"
            )?;
        } else {
            writeln!(
                f,
                "compacted {} partitions: {} files ({}) into {} ({}), {} rows, in {} commits",
                self.partitions,
                self.files_before,
                bytes(self.bytes_before),
                self.files_after,
                bytes(self.bytes_after),
                self.rows,
                self.commits
            )?;
        }
        for s in &self.skipped {
            writeln!(f, "  skipped {s}")?;
        }
        Ok(())
    }
}

/// A partition's rewrite: the files it removes and the files it wrote.
struct Rewrite {
    key: PartitionKey,
    removes: Vec<DataFile>,
    adds: Vec<NewFile>,
}

/// Compact the lake's partitions as `opts` says.
pub async fn compact(lake: &Lake, opts: &CompactOptions) -> Result<CompactReport> {
    crate::state::check_format(lake).await?;
    let run = super::run_id();
    let mut seq = 0u64;
    let mut report = CompactReport::default();
    let only: Option<HashSet<&PartitionKey>> = opts.partitions.as_ref().map(|p| p.iter().collect());
    for table in Table::ALL {
        if !opts.tables.is_empty() && !opts.tables.contains(&table) {
            continue;
        }
        if only
            .as_ref()
            .is_some_and(|o| !o.iter().any(|k| k.table == table))
        {
            continue;
        }
        let mut log = TableLog::open(lake, table).await?;
        let by_partition: BTreeMap<PartitionKey, Vec<DataFile>> =
            log.snapshot()?.by_partition().into_iter().collect();
        let mut batch: Vec<Rewrite> = Vec::new();
        for (key, files) in by_partition {
            if opts.since.is_some_and(|d| key.date < d)
                || opts.until.is_some_and(|d| key.date > d)
                || only.as_ref().is_some_and(|o| !o.contains(&key))
            {
                continue;
            }
            let groups = groups(files, opts.min_files, opts.across_runs);
            if groups.is_empty() {
                continue;
            }
            let mut rewrite = Rewrite {
                key: key.clone(),
                removes: Vec::new(),
                adds: Vec::new(),
            };
            for group in groups {
                let path = format!("{}/{OUR_PREFIX}{run}-{seq:06}.parquet", key.dir());
                seq += 1;
                let written = rewrite_group(lake, &key, &group, path).await;
                match written {
                    Ok(file) => {
                        rewrite.adds.push(file);
                        rewrite.removes.extend(group);
                    }
                    Err(e) => {
                        delete_written(lake, &rewrite.adds).await;
                        return Err(e);
                    }
                }
            }
            batch.push(rewrite);
            if batch.len() >= BATCH_PARTITIONS {
                commit_batch(
                    lake,
                    &mut log,
                    std::mem::take(&mut batch),
                    &run,
                    &mut report,
                )
                .await?;
            }
        }
        if !batch.is_empty() {
            commit_batch(lake, &mut log, batch, &run, &mut report).await?;
        }
    }
    Ok(report)
}

/// The groups of a partition's files to merge: its small files, in time order, in groups of
/// at most [`COMPACT_FILE_BYTES`]; none when it holds `min_files` small files or fewer.
fn groups(mut files: Vec<DataFile>, min_files: usize, across_runs: bool) -> Vec<Vec<DataFile>> {
    files.retain(|f| f.size < COMPACT_FILE_BYTES / 2);
    if files.len() <= min_files.max(1) {
        return Vec::new();
    }
    if across_runs {
        let writers: std::collections::BTreeSet<&str> =
            files.iter().map(|f| writer_of(&f.path)).collect();
        if writers.len() < 2 {
            return Vec::new();
        }
    }
    files.sort_by(|a, b| {
        (a.time_range.map(|t| t.0), &a.path).cmp(&(b.time_range.map(|t| t.0), &b.path))
    });
    let mut out: Vec<Vec<DataFile>> = Vec::new();
    let mut size = 0;
    for f in files {
        match out.last_mut() {
            Some(g) if size + f.size <= COMPACT_FILE_BYTES => {
                size += f.size;
                g.push(f);
            }
            _ => {
                size = f.size;
                out.push(vec![f]);
            }
        }
    }
    out.retain(|g| g.len() > 1);
    out
}

/// The run that wrote a file, from its name (`part-RUN-SEQ.parquet`); a file named otherwise
/// is its own writer.
fn writer_of(path: &str) -> &str {
    let name = path.rsplit('/').next().unwrap_or(path);
    name.strip_prefix(OUR_PREFIX)
        .and_then(|rest| rest.rsplit_once('-'))
        .map_or(name, |(run, _)| run)
}

/// Read a group's files, write their rows as one file at `path`.
async fn rewrite_group(
    lake: &Lake,
    key: &PartitionKey,
    group: &[DataFile],
    path: String,
) -> Result<NewFile> {
    let table = key.table;
    let batches: Vec<Vec<arrow::array::RecordBatch>> = futures::stream::iter(group)
        .map(|f| async move {
            let data = lake.get(&f.path).await?;
            tokio::task::spawn_blocking(move || read_file(data))
                .await
                .map_err(|e| Error::Io(std::io::Error::other(e)))?
        })
        .buffered(4)
        .try_collect()
        .await?;
    let batches: Vec<_> = batches.into_iter().flatten().collect();
    let rows_in: u64 = batches.iter().map(|b| b.num_rows() as u64).sum();
    let enc = tokio::task::spawn_blocking(move || encode_partition(table, &batches))
        .await
        .map_err(|e| Error::Io(std::io::Error::other(e)))??;
    let expected: Option<u64> = group.iter().map(|f| f.rows).sum();
    if enc.rows != rows_in || expected.is_some_and(|n| n != rows_in) {
        return Err(Error::CorruptState(format!(
            "{}: the log counts {expected:?} rows in {} files, which hold {rows_in}",
            key.dir(),
            group.len()
        )));
    }
    let file = NewFile {
        path: path.clone(),
        partition: key.clone(),
        size: enc.data.len() as u64,
        rows: enc.rows,
        stats: enc.stats,
    };
    lake.put(&path, enc.data).await?;
    Ok(file)
}

/// Commit a batch of rewrites in one version; if a concurrent commit removed one of their
/// files, each partition alone, skipping those that conflict (their new files deleted).
async fn commit_batch(
    lake: &Lake,
    log: &mut TableLog,
    batch: Vec<Rewrite>,
    run: &str,
    report: &mut CompactReport,
) -> Result<()> {
    let change = Change::Compact {
        target_size: COMPACT_FILE_BYTES,
    };
    let all = |b: &[Rewrite]| -> (Vec<DataFile>, Vec<NewFile>) {
        (
            b.iter().flat_map(|r| r.removes.clone()).collect(),
            b.iter().flat_map(|r| r.adds.clone()).collect(),
        )
    };
    let (removes, adds) = all(&batch);
    let singles = match log.commit_change(&change, &removes, &adds, run).await {
        Ok(_) => {
            report.commits += 1;
            for r in &batch {
                report.add(&done(r));
            }
            return Ok(());
        }
        Err(Error::Conflict(_)) if batch.len() > 1 => batch,
        Err(Error::Conflict(why)) => {
            skip(lake, &batch[0], &why, report).await;
            return Ok(());
        }
        Err(e) => {
            delete_written(lake, &adds).await;
            return Err(e);
        }
    };
    for r in singles {
        match log.commit_change(&change, &r.removes, &r.adds, run).await {
            Ok(_) => {
                report.commits += 1;
                report.add(&done(&r));
            }
            Err(Error::Conflict(why)) => skip(lake, &r, &why, report).await,
            Err(e) => {
                delete_written(lake, &r.adds).await;
                return Err(e);
            }
        }
    }
    Ok(())
}

fn done(r: &Rewrite) -> CompactReport {
    CompactReport {
        partitions: 1,
        files_before: r.removes.len() as u64,
        files_after: r.adds.len() as u64,
        bytes_before: r.removes.iter().map(|f| f.size).sum(),
        bytes_after: r.adds.iter().map(|f| f.size).sum(),
        rows: r.adds.iter().map(|f| f.rows).sum(),
        ..Default::default()
    }
}

async fn skip(lake: &Lake, r: &Rewrite, why: &str, report: &mut CompactReport) {
    delete_written(lake, &r.adds).await;
    let msg = format!("{}: {why}", r.key.dir());
    eprintln!("warning: compaction skipped {msg}");
    report.skipped.push(msg);
}

/// Delete files this run wrote and no version names (best effort: vacuum deletes what is
/// left).
async fn delete_written(lake: &Lake, files: &[NewFile]) {
    for f in files {
        let _ = lake.delete(&f.path).await;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn file(name: &str, size: u64, start: i64) -> DataFile {
        let partition = PartitionKey::new(
            Table::CloudTrail,
            NaiveDate::from_ymd_opt(2024, 1, 15).unwrap(),
            Some("us-east-1"),
        );
        DataFile {
            path: format!("{}/{name}", partition.dir()),
            partition,
            size,
            rows: Some(1),
            time_range: Some((start, start + 1)),
        }
    }

    fn names(g: &[Vec<DataFile>]) -> Vec<Vec<String>> {
        g.iter()
            .map(|g| {
                g.iter()
                    .map(|f| f.path.rsplit('/').next().unwrap().to_owned())
                    .collect()
            })
            .collect()
    }

    #[test]
    fn small_files_are_merged_in_time_order_up_to_the_size_cap() {
        let mb = 1 << 20;
        let files = vec![
            file("c", 20 * mb, 3),
            file("a", 20 * mb, 1),
            file("big", 40 * mb, 0),
            file("b", 20 * mb, 2),
            file("d", 20 * mb, 4),
            file("e", mb, 5),
        ];
        // `big` is past half the cap and stays; a, b, c fill a group (60 MiB), d and e make
        // the next.
        assert_eq!(
            names(&groups(files, 1, false)),
            [vec!["a", "b", "c"], vec!["d", "e"]]
        );
        assert!(groups(vec![file("a", mb, 1)], 1, false).is_empty());
        assert!(
            groups(vec![file("a", mb, 1), file("b", mb, 2)], 2, false).is_empty(),
            "not more than min_files"
        );
        assert!(groups(vec![file("a", 40 * mb, 1), file("b", 40 * mb, 2)], 1, false).is_empty());
    }

    #[test]
    fn ingest_merges_only_what_several_runs_left() {
        let mb = 1 << 20;
        let one_run = vec![file("part-r1-000001", mb, 1), file("part-r1-000002", mb, 2)];
        // One big run's flushes stay as it wrote them.
        assert!(groups(one_run.clone(), 1, true).is_empty());
        // `trailsql lake compact` merges them all the same.
        assert_eq!(groups(one_run.clone(), 1, false).len(), 1);
        // A later run's file in the partition: all three are merged.
        let mut fed = one_run;
        fed.push(file("part-r2-000001", mb, 3));
        assert_eq!(
            names(&groups(fed, 1, true)),
            [vec!["part-r1-000001", "part-r1-000002", "part-r2-000001"]]
        );
        assert_eq!(
            writer_of("cloudtrail/date=2024-01-01/region=x/part-r9-000004.parquet"),
            "r9"
        );
        assert_eq!(
            writer_of("cloudtrail/date=2024-01-01/region=x/theirs.parquet"),
            "theirs.parquet"
        );
    }
}
