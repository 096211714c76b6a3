//! The transaction log of a lake table: each table (`LAKE/cloudtrail`, ...) is a Delta Lake
//! table, partitioned by `date` and `region`, whose log (`_delta_log/`, written through
//! delta-rs over our own object store, so credentials and endpoints stay ours) names the data
//! files of each version. The files themselves are ours (see [`crate::file`]); a commit adds
//! them with their partition values, size, row count and the min/max/null statistics of the
//! sort columns. Readers take the file list of one version from here, never from listing the
//! data folders, so files of a running, failed or killed write are invisible.

use std::collections::HashMap;
use std::sync::{Arc, Once};

use futures::{StreamExt, TryStreamExt};

use deltalake::kernel::engine::arrow_conversion::TryIntoKernel;
use deltalake::kernel::transaction::{CommitBuilder, CommitProperties, TransactionError};
use deltalake::kernel::{Action, Add, StructType};
use deltalake::logstore::{
    LogStore, LogStoreFactory, ObjectStoreRef, StorageConfig, default_logstore, get_actions,
    logstore_factories,
};
use deltalake::operations::create::CreateBuilder;
use deltalake::protocol::{DeltaOperation, SaveMode};
use deltalake::{DeltaResult, DeltaTable, DeltaTableBuilder, TableProperty};

use crate::file::{ColumnStats, delta_stats, parse_stat_time};
use crate::partition::PartitionKey;
use crate::schema::{PARTITION_COLUMNS, Table};
use crate::store::Lake;
use crate::{Error, Result};

/// A data file of a table version.
#[derive(Debug, Clone, PartialEq)]
pub struct DataFile {
    /// Below the lake root, as stored (`cloudtrail/date=D/region=R/part-....parquet`).
    pub path: String,
    pub partition: PartitionKey,
    pub size: u64,
    pub rows: Option<u64>,
    /// Min and max `eventtime` (microseconds), from the log's statistics.
    pub time_range: Option<(i64, i64)>,
}

/// A file written for a commit.
#[derive(Debug, Clone)]
pub struct NewFile {
    /// Below the lake root (`cloudtrail/date=D/region=R/part-....parquet`).
    pub path: String,
    pub partition: PartitionKey,
    pub size: u64,
    pub rows: u64,
    pub stats: Vec<ColumnStats>,
}

/// What the commits after a version changed: the files they added that are still in the
/// table at the version in hand, and the files they removed (compaction, retention).
#[derive(Debug, Clone, Default)]
pub struct Changes {
    pub added: Vec<DataFile>,
    /// Paths below the lake root, as [`DataFile::path`].
    pub removed: Vec<String>,
}

/// One version of a table: its data files.
#[derive(Debug, Clone, Default)]
pub struct Snapshot {
    /// `None`: the table has no log yet (nothing was ever written to it).
    pub version: Option<u64>,
    pub files: Vec<DataFile>,
}

impl Snapshot {
    /// The files by partition.
    pub fn by_partition(&self) -> HashMap<PartitionKey, Vec<DataFile>> {
        let mut out: HashMap<PartitionKey, Vec<DataFile>> = HashMap::new();
        for f in &self.files {
            out.entry(f.partition.clone()).or_default().push(f.clone());
        }
        out
    }
}

/// The log of one table of a lake, at the version last loaded or committed.
pub struct TableLog {
    table: Table,
    delta: DeltaTable,
    exists: bool,
}

impl std::fmt::Debug for TableLog {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("TableLog")
            .field("table", &self.table)
            .field("version", &self.delta.version())
            .finish()
    }
}

/// delta-rs opens `file://` tables itself; for `s3://` it would want its own AWS crate and
/// credentials. Ours is given to it (see [`TableLog::open`]); the log store over it is
/// delta-rs's default one, which commits with a put-if-absent of the next version's file (an
/// S3 conditional put, object_store's `PutMode::Create`), so writers on several machines
/// never overwrite each other's commits.
struct GivenStore;

impl LogStoreFactory for GivenStore {
    fn with_options(
        &self,
        prefixed_store: ObjectStoreRef,
        root_store: ObjectStoreRef,
        location: &url::Url,
        options: &StorageConfig,
    ) -> DeltaResult<Arc<dyn LogStore>> {
        Ok(default_logstore(
            prefixed_store,
            root_store,
            location,
            options,
        ))
    }
}

pub(crate) fn register_log_stores() {
    static ONCE: Once = Once::new();
    ONCE.call_once(|| {
        let s3 = url::Url::parse("s3://").expect("a valid URL");
        logstore_factories().insert(s3, Arc::new(GivenStore));
    });
}

/// Columns whose statistics the log carries: the sort columns, which is what queries filter
/// on (Delta's default would be the first 32 leaf columns, most of them `useridentity`).
const STATS_COLUMNS: &str = "eventtime,eventsource,eventname,eventid";

/// A checkpoint every this many versions (Delta's default is 100). A reader replays the JSON
/// commits since the last checkpoint: an hourly ingest commits twice (its files, then their
/// compaction), and 90 commits to replay made opening the table 6x slower (0.45 s against
/// 0.07 s in a debug build) for a lake holding the same 12 files.
const CHECKPOINT_INTERVAL: &str = "10";

impl TableLog {
    /// The table's log at its latest version (or an empty one if the table has none yet).
    pub async fn open(lake: &Lake, table: Table) -> Result<TableLog> {
        register_log_stores();
        let url = lake
            .root_url()
            .join(&format!("{}/", table.name()))
            .map_err(|e| Error::InvalidLake(lake.url.clone(), e.to_string()))?;
        let mut delta = DeltaTableBuilder::from_url(url.clone())?
            .with_storage_backend(lake.root_store().clone(), url)
            .build()?;
        let exists = delta.log_store().is_delta_table_location().await?;
        if exists {
            delta.load().await?;
        }
        Ok(TableLog {
            table,
            delta,
            exists,
        })
    }

    pub fn table(&self) -> Table {
        self.table
    }

    pub(crate) fn delta(&self) -> &DeltaTable {
        &self.delta
    }

    pub(crate) fn delta_mut(&mut self) -> &mut DeltaTable {
        &mut self.delta
    }

    /// Read the versions committed since this one was loaded.
    pub async fn refresh(&mut self) -> Result<()> {
        if !self.exists {
            self.exists = self.delta.log_store().is_delta_table_location().await?;
        }
        if self.exists {
            self.delta.update_incremental(None).await?;
        }
        Ok(())
    }

    /// The version in hand and its files.
    pub fn snapshot(&self) -> Result<Snapshot> {
        if !self.exists {
            return Ok(Snapshot::default());
        }
        let state = self.delta.snapshot()?;
        let mut files = Vec::new();
        for f in state.log_data().iter() {
            // Stored paths are URL-encoded; decoded, they are the object names.
            let rel = f.path().into_owned();
            let path = format!("{}/{rel}", self.table.name());
            let partition = PartitionKey::of_path(&path).ok_or_else(|| {
                Error::CorruptState(format!(
                    "{}: a file outside the date=/region= layout: {rel}",
                    self.table.name()
                ))
            })?;
            let (rows, time_range) = parse_stats(f.stats().as_deref());
            files.push(DataFile {
                path,
                partition,
                size: f.size().max(0) as u64,
                rows,
                time_range,
            });
        }
        Ok(Snapshot {
            version: Some(state.version()),
            files,
        })
    }

    /// The files of the version in hand that hold rows added after version `before`: files
    /// added by later appends, and the compacted files that took in such a file's rows (a
    /// compaction of rows that were all there at `before` adds nothing new). Read from the
    /// commits in between; if those have been cleaned up, every file `before` did not have.
    pub async fn added_after(&self, before: u64) -> Result<Vec<DataFile>> {
        let latest = self.snapshot()?;
        let Some(last) = latest.version.filter(|v| *v > before) else {
            return Ok(Vec::new());
        };
        if let Some(new) = crate::table_change::new_paths(self, before, last).await? {
            return Ok(latest
                .files
                .into_iter()
                .filter(|f| new.contains(&f.path))
                .collect());
        }
        let mut old = self.delta.clone();
        old.load_version(before as _).await?;
        let old = TableLog {
            table: self.table,
            delta: old,
            exists: true,
        }
        .snapshot()?;
        let had: std::collections::HashSet<&str> =
            old.files.iter().map(|f| f.path.as_str()).collect();
        Ok(latest
            .files
            .into_iter()
            .filter(|f| !had.contains(f.path.as_str()))
            .collect())
    }

    /// The version in hand (`None`: the table has no log yet).
    pub fn version(&self) -> Option<u64> {
        if self.exists {
            self.delta.version()
        } else {
            None
        }
    }

    /// What the commits after version `after` (`None`: all of them) up to the version in
    /// hand changed, read from their log entries: cheap however large the table is, and
    /// every commit is seen, concurrent or not.
    pub async fn changes_after(&self, after: Option<u64>) -> Result<Changes> {
        let Some(latest) = self.version() else {
            return Ok(Changes::default());
        };
        let first = after.map_or(0, |v| v + 1);
        let log_store = self.delta.log_store();
        let entries: Vec<(u64, Option<bytes::Bytes>)> = futures::stream::iter(first..=latest)
            .map(|v| {
                let log_store = log_store.clone();
                async move { Ok::<_, Error>((v, log_store.read_commit_entry(v).await?)) }
            })
            .buffered(8)
            .try_collect()
            .await?;
        let mut added: Vec<Add> = Vec::new();
        let mut removed = Vec::new();
        for (v, bytes) in entries {
            let bytes = bytes.ok_or_else(|| {
                Error::CorruptState(format!(
                    "{}: version {v} of the log is missing",
                    self.table.name()
                ))
            })?;
            for action in get_actions(v, &bytes)? {
                match action {
                    Action::Add(a) => added.push(a),
                    Action::Remove(r) => removed.push(r.path),
                    _ => {}
                }
            }
        }
        let gone: std::collections::HashSet<&str> = removed.iter().map(String::as_str).collect();
        let name = self.table.name();
        let mut files = Vec::new();
        for a in added.iter().filter(|a| !gone.contains(a.path.as_str())) {
            let path = format!("{name}/{}", a.path);
            let partition = PartitionKey::of_path(&path).ok_or_else(|| {
                Error::CorruptState(format!(
                    "{name}: a file outside the date=/region= layout: {}",
                    a.path
                ))
            })?;
            let (rows, time_range) = parse_stats(a.stats.as_deref());
            files.push(DataFile {
                path,
                partition,
                size: a.size.max(0) as u64,
                rows,
                time_range,
            });
        }
        let removed = removed.iter().map(|p| format!("{name}/{p}")).collect();
        Ok(Changes {
            added: files,
            removed,
        })
    }

    /// Create the table (a version 0 with its schema, partition columns and properties) if
    /// no writer has yet. Two writers creating it at once is fine: one creates it, the other
    /// finds it.
    pub async fn ensure_created(&mut self) -> Result<()> {
        if self.exists {
            return Ok(());
        }
        let schema: StructType = self
            .table
            .schema_with_partitions()
            .as_ref()
            .try_into_kernel()
            .map_err(deltalake::DeltaTableError::from)?;
        let created = CreateBuilder::new()
            .with_log_store(self.delta.log_store())
            .with_table_name(self.table.name())
            .with_columns(schema.fields().cloned())
            .with_partition_columns(PARTITION_COLUMNS)
            .with_save_mode(SaveMode::Ignore)
            // Only as version 0: delta-rs retries a create that lost the race as a later
            // version, which changes the metadata and fails every append built on version 0
            // ("Metadata changed since last commit").
            .with_commit_properties(CommitProperties::default().with_max_retries(0))
            .with_configuration_property(
                TableProperty::DataSkippingStatsColumns,
                Some(STATS_COLUMNS),
            )
            .with_configuration_property(
                TableProperty::CheckpointInterval,
                Some(CHECKPOINT_INTERVAL),
            )
            .await;
        match created {
            Ok(t) => self.delta = t,
            Err(e) => {
                // Another writer created it first.
                if !self.delta.log_store().is_delta_table_location().await? {
                    return Err(e.into());
                }
                self.delta.load().await?;
            }
        }
        self.exists = true;
        Ok(())
    }

    /// Commit `files` (already in place) as a new version; returns it. Concurrent appends by
    /// other writers are retried past (Delta's conflict rules let blind appends commute).
    pub async fn append(&mut self, files: &[NewFile], run: &str) -> Result<u64> {
        self.ensure_created().await?;
        let version = self.commit_adds(files, run, None).await?;
        self.delta.update_incremental(None).await?;
        Ok(version)
    }

    /// Commit `files` (already in place) as the version after the one in hand, or return
    /// `None` if another writer committed first: no retry past it, so that the caller sees
    /// every concurrent commit and can drop the rows it already holds (two blind appends
    /// commute under Delta's conflict rules, and would keep an event twice).
    pub async fn try_append(&mut self, files: &[NewFile], run: &str) -> Result<Option<u64>> {
        self.ensure_created().await?;
        match self.commit_adds(files, run, Some(0)).await {
            Ok(version) => {
                self.delta.update_incremental(None).await?;
                Ok(Some(version))
            }
            Err(deltalake::DeltaTableError::VersionAlreadyExists(_))
            | Err(deltalake::DeltaTableError::Transaction {
                source:
                    TransactionError::MaxCommitAttempts(_) | TransactionError::VersionAlreadyExists(_),
            }) => Ok(None),
            Err(e) => Err(e.into()),
        }
    }

    /// The commit adding `files` on the version in hand, with delta-rs's retries past
    /// concurrent commits limited to `max_retries` (its default when `None`).
    async fn commit_adds(
        &self,
        files: &[NewFile],
        run: &str,
        max_retries: Option<usize>,
    ) -> DeltaResult<u64> {
        let now = chrono::Utc::now().timestamp_millis();
        let actions: Vec<Action> = files
            .iter()
            .map(|f| Action::Add(add_action(self.table, f, now)))
            .collect();
        let operation = DeltaOperation::Write {
            mode: SaveMode::Append,
            partition_by: Some(PARTITION_COLUMNS.iter().map(|c| c.to_string()).collect()),
            predicate: None,
        };
        let metadata = HashMap::from([("trailsqlRun".to_owned(), run.into())]);
        let mut props = CommitProperties::default().with_metadata(metadata);
        if let Some(n) = max_retries {
            props = props.with_max_retries(n);
        }
        let committed = CommitBuilder::from(props)
            .with_actions(actions)
            .build(
                Some(self.delta.snapshot()?),
                self.delta.log_store(),
                operation,
            )
            .await?;
        Ok(committed.version())
    }
}

pub(crate) fn add_action(table: Table, f: &NewFile, now: i64) -> Add {
    let rel = relative(table, &f.path);
    Add {
        // delta-rs URI-encodes the path as it writes the log (`region=a b%2Fc` is stored as
        // `region=a%20b%252Fc`, as Spark writes it) and decodes it as it reads.
        path: rel.to_owned(),
        partition_values: HashMap::from([
            ("date".to_owned(), Some(f.partition.date_value())),
            ("region".to_owned(), Some(f.partition.region.clone())),
        ]),
        size: f.size as i64,
        modification_time: now,
        data_change: true,
        stats: Some(delta_stats(f.rows, &f.stats)),
        ..Default::default()
    }
}

/// A path below the lake root as the table's log names it (below the table's folder).
pub(crate) fn relative(table: Table, path: &str) -> &str {
    path.strip_prefix(table.name())
        .and_then(|p| p.strip_prefix('/'))
        .unwrap_or(path)
}

/// Row count and `eventtime` range of a file's `stats` JSON.
pub(crate) fn parse_stats(stats: Option<&str>) -> (Option<u64>, Option<(i64, i64)>) {
    let Some(v) = stats.and_then(|s| serde_json::from_str::<serde_json::Value>(s).ok()) else {
        return (None, None);
    };
    let rows = v["numRecords"].as_u64();
    let time = |k: &str| v[k]["eventtime"].as_str().and_then(parse_stat_time);
    (rows, time("minValues").zip(time("maxValues")))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn file(name: &str) -> NewFile {
        let partition = PartitionKey::new(
            Table::CloudTrail,
            chrono::NaiveDate::from_ymd_opt(2024, 1, 15).unwrap(),
            Some("us-east-1"),
        );
        NewFile {
            path: format!("{}/{name}.parquet", partition.dir()),
            partition,
            size: 10,
            rows: 1,
            stats: Vec::new(),
        }
    }

    fn names(files: &[DataFile]) -> Vec<String> {
        let mut n: Vec<String> = files
            .iter()
            .map(|f| f.path.rsplit('/').next().unwrap().to_owned())
            .collect();
        n.sort();
        n
    }

    #[tokio::test]
    async fn added_after_a_version_are_the_files_of_later_commits() {
        let dir = tempfile::tempdir().unwrap();
        let lake = Lake::open(dir.path().to_str().unwrap()).unwrap();
        let mut log = TableLog::open(&lake, Table::CloudTrail).await.unwrap();
        let v1 = log.append(&[file("a")], "r1").await.unwrap();
        let v2 = log.append(&[file("b"), file("c")], "r2").await.unwrap();
        let v3 = log.append(&[file("d")], "r3").await.unwrap();
        assert_eq!((v2, v3), (v1 + 1, v1 + 2));
        let log = TableLog::open(&lake, Table::CloudTrail).await.unwrap();
        assert_eq!(
            names(&log.added_after(v1).await.unwrap()),
            ["b.parquet", "c.parquet", "d.parquet"]
        );
        assert_eq!(names(&log.added_after(v2).await.unwrap()), ["d.parquet"]);
        assert!(log.added_after(v3).await.unwrap().is_empty());
        assert_eq!(names(&log.snapshot().unwrap().files).len(), 4);
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 4)]
    async fn writers_creating_the_table_at_once_all_commit() {
        let dir = tempfile::tempdir().unwrap();
        let lake = Lake::open(dir.path().to_str().unwrap()).unwrap();
        let writers: Vec<_> = (0..6)
            .map(|i| {
                let lake = lake.clone();
                tokio::spawn(async move {
                    let mut log = TableLog::open(&lake, Table::CloudTrail).await.unwrap();
                    log.append(&[file(&format!("w{i}"))], "r").await.unwrap()
                })
            })
            .collect();
        for w in writers {
            w.await.unwrap();
        }
        let log = TableLog::open(&lake, Table::CloudTrail).await.unwrap();
        assert_eq!(names(&log.snapshot().unwrap().files).len(), 6);
    }

    #[tokio::test]
    async fn a_writer_behind_is_told_and_sees_what_the_other_committed() {
        let dir = tempfile::tempdir().unwrap();
        let lake = Lake::open(dir.path().to_str().unwrap()).unwrap();
        let mut a = TableLog::open(&lake, Table::CloudTrail).await.unwrap();
        let v0 = a.append(&[file("a")], "ra").await.unwrap();
        let mut b = TableLog::open(&lake, Table::CloudTrail).await.unwrap();
        assert_eq!(
            a.try_append(&[file("b")], "ra").await.unwrap(),
            Some(v0 + 1)
        );
        // b still holds v0: its commit would land after a's without looking at it.
        assert_eq!(b.try_append(&[file("c")], "rb").await.unwrap(), None);
        b.refresh().await.unwrap();
        let changes = b.changes_after(Some(v0)).await.unwrap();
        assert_eq!(names(&changes.added), ["b.parquet"]);
        assert!(changes.removed.is_empty());
        assert_eq!(
            b.try_append(&[file("c")], "rb").await.unwrap(),
            Some(v0 + 2)
        );
        let all = b.changes_after(None).await.unwrap();
        assert_eq!(names(&all.added), ["a.parquet", "b.parquet", "c.parquet"]);
        assert_eq!(all.added[0].rows, Some(1));
    }
}
