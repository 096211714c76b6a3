//! An appended table: a small, unpartitioned Delta table of the lake that runs only ever add
//! whole files to (`detections`, the findings `detect --new` keeps; `cloudtrail_sources`,
//! the verdicts of `ingest --verify`). Each append writes one Parquet file under a name no
//! other writer can pick, then commits it as a new version: writers on several machines
//! append at once (blind appends commute under Delta's conflict rules), and readers take
//! the file list of one version from the log, as for the event tables.
//!
//! Tables of an earlier trailsql were plain Parquet folders with no log: the first append
//! (or [`AppendedTable::adopt`], which `trailsql lake upgrade` calls) creates the log with
//! those files in its first version, so nothing already kept is lost or read twice.

use std::collections::HashMap;
use std::sync::atomic::{AtomicU64, Ordering};

use arrow::array::RecordBatch;
use arrow::datatypes::SchemaRef;
use deltalake::kernel::engine::arrow_conversion::TryIntoKernel;
use deltalake::kernel::transaction::{CommitBuilder, CommitProperties, TransactionError};
use deltalake::kernel::{Action, Add, StructType};
use deltalake::operations::create::CreateBuilder;
use deltalake::protocol::{DeltaOperation, SaveMode};
use deltalake::{DeltaTable, DeltaTableBuilder};
use parquet::arrow::arrow_reader::ParquetRecordBatchReaderBuilder;

use crate::store::Lake;
use crate::{Error, Result};

/// The folder of a table's Delta log, below the table.
const LOG_DIR: &str = "_delta_log";

/// An appended table of a lake, at the version last loaded or committed.
pub struct AppendedTable {
    lake: Lake,
    name: String,
    delta: DeltaTable,
    exists: bool,
}

impl std::fmt::Debug for AppendedTable {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("AppendedTable")
            .field("name", &self.name)
            .field("version", &self.delta.version())
            .finish()
    }
}

/// A file of the table's folder, as listed (an earlier trailsql's plain table).
#[derive(Debug, Clone)]
struct PlainFile {
    path: String,
    size: u64,
}

impl AppendedTable {
    /// The table `name` of `lake` at its latest version (none if it has no log yet).
    pub async fn open(lake: &Lake, name: &str) -> Result<AppendedTable> {
        crate::table_log::register_log_stores();
        let url = lake
            .root_url()
            .join(&format!("{name}/"))
            .map_err(|e| Error::InvalidLake(lake.url.clone(), e.to_string()))?;
        let mut delta = DeltaTableBuilder::from_url(url.clone())?
            .with_storage_backend(lake.root_store().clone(), url)
            .build()?;
        let exists = delta.log_store().is_delta_table_location().await?;
        if exists {
            delta.load().await?;
        }
        Ok(AppendedTable {
            lake: lake.clone(),
            name: name.to_owned(),
            delta,
            exists,
        })
    }

    pub fn name(&self) -> &str {
        &self.name
    }

    /// Whether the table has a Delta log.
    pub fn exists(&self) -> bool {
        self.exists
    }

    /// Read the versions committed since this one was loaded.
    pub async fn refresh(&mut self) -> Result<()> {
        if !self.exists {
            self.exists = self.delta.log_store().is_delta_table_location().await?;
            if self.exists {
                self.delta.load().await?;
            }
            return Ok(());
        }
        self.delta.update_incremental(None).await?;
        Ok(())
    }

    /// The table's columns, from its log (`None` without a log).
    pub fn schema(&self) -> Result<Option<SchemaRef>> {
        if !self.exists {
            return Ok(None);
        }
        Ok(Some(self.delta.snapshot()?.snapshot().arrow_schema()))
    }

    /// The data files of the version in hand: paths below the lake root, and sizes.
    pub fn files(&self) -> Result<Vec<(String, u64)>> {
        if !self.exists {
            return Ok(Vec::new());
        }
        let state = self.delta.snapshot()?;
        Ok(state
            .log_data()
            .iter()
            .map(|f| {
                (
                    format!("{}/{}", self.name, f.path()),
                    f.size().max(0) as u64,
                )
            })
            .collect())
    }

    /// Parquet files in the table's folder that no log names: the table as an earlier
    /// trailsql wrote it, when it has no log.
    pub async fn plain_files(&self) -> Result<Vec<String>> {
        Ok(self
            .list_plain()
            .await?
            .into_iter()
            .map(|f| f.path)
            .collect())
    }

    async fn list_plain(&self) -> Result<Vec<PlainFile>> {
        let log = format!("{}/{LOG_DIR}/", self.name);
        let mut files: Vec<PlainFile> = self
            .lake
            .list(&self.name)
            .await?
            .into_iter()
            .filter(|(p, _)| {
                p.ends_with(".parquet") && !p.starts_with(&log) && !is_appended_name(p)
            })
            .map(|(path, size)| PlainFile { path, size })
            .collect();
        files.sort_by(|a, b| a.path.cmp(&b.path));
        Ok(files)
    }

    /// Append `batch` as one new file and commit it; returns the file's path (below the
    /// lake root). The first append creates the table (adopting an earlier plain table's
    /// files).
    pub async fn append(&mut self, batch: &RecordBatch, run: &str) -> Result<String> {
        let path = format!("{}/{}", self.name, unique_name());
        let data = encode(batch)?;
        let size = data.len() as u64;
        self.lake.put(&path, data).await?;
        let add = self.add_action(&path, size, batch.num_rows() as u64);
        if !self.exists {
            self.refresh().await?;
        }
        if !self.exists && self.create(batch.schema(), vec![add.clone()]).await? {
            return Ok(path);
        }
        let metadata = HashMap::from([("trailsqlRun".to_owned(), run.into())]);
        // Blind appends commute, so delta-rs retries them past other appends by itself; a
        // conflict it refuses (a version that changed the table's metadata) is retried here
        // from the latest version.
        let mut attempts = 0;
        loop {
            let operation = DeltaOperation::Write {
                mode: SaveMode::Append,
                partition_by: None,
                predicate: None,
            };
            let committed =
                CommitBuilder::from(CommitProperties::default().with_metadata(metadata.clone()))
                    .with_actions(vec![Action::Add(add.clone())])
                    .build(
                        Some(self.delta.snapshot()?),
                        self.delta.log_store(),
                        operation,
                    )
                    .await;
            match committed {
                Ok(_) => break,
                Err(deltalake::DeltaTableError::Transaction {
                    source: TransactionError::CommitConflict(_),
                }) if attempts < 5 => {
                    attempts += 1;
                    self.delta.update_incremental(None).await?;
                }
                Err(e) => return Err(e.into()),
            }
        }
        self.delta.update_incremental(None).await?;
        Ok(path)
    }

    /// Give a table of an earlier trailsql (Parquet files, no log) its log, naming the files
    /// it has; how many it adopted (0 when it has a log already or no file).
    pub async fn adopt(&mut self) -> Result<usize> {
        self.refresh().await?;
        if self.exists {
            return Ok(0);
        }
        let plain = self.list_plain().await?;
        let Some(first) = plain.first() else {
            return Ok(0);
        };
        let schema = ParquetRecordBatchReaderBuilder::try_new(self.lake.get(&first.path).await?)?
            .schema()
            .clone();
        // Creating with the files adds them too; `create` does that when it finds them.
        let n = plain.len();
        if self.create(schema, Vec::new()).await? {
            Ok(n)
        } else {
            Ok(0)
        }
    }

    /// Create the table with `schema`, its first version adding `adds` and the files of an
    /// earlier plain table. `false`: another writer created it first (it is loaded then).
    async fn create(&mut self, schema: SchemaRef, adds: Vec<Add>) -> Result<bool> {
        let kernel: StructType = schema
            .as_ref()
            .try_into_kernel()
            .map_err(deltalake::DeltaTableError::from)?;
        let mut actions: Vec<Action> = Vec::new();
        for f in self.list_plain().await? {
            if adds.iter().any(|a| self.add_path(&f.path) == a.path) {
                continue;
            }
            let rows = ParquetRecordBatchReaderBuilder::try_new(self.lake.get(&f.path).await?)?
                .metadata()
                .file_metadata()
                .num_rows();
            actions.push(Action::Add(self.add_action(
                &f.path,
                f.size,
                rows.max(0) as u64,
            )));
        }
        actions.extend(adds.into_iter().map(Action::Add));
        let created = CreateBuilder::new()
            .with_log_store(self.delta.log_store())
            .with_table_name(&self.name)
            .with_columns(kernel.fields().cloned())
            .with_save_mode(SaveMode::ErrorIfExists)
            // Only as version 0: a create that lost the race would otherwise be retried as a
            // later version that changes the table's metadata (and conflicts with appends).
            .with_commit_properties(CommitProperties::default().with_max_retries(0))
            .with_actions(actions)
            .await;
        match created {
            Ok(t) => {
                self.delta = t;
                self.exists = true;
                Ok(true)
            }
            Err(e) => {
                if !self.delta.log_store().is_delta_table_location().await? {
                    return Err(e.into());
                }
                self.delta.load().await?;
                self.exists = true;
                Ok(false)
            }
        }
    }

    /// A path below the lake root as the log names it (below the table).
    fn add_path(&self, path: &str) -> String {
        path.strip_prefix(&self.name)
            .and_then(|p| p.strip_prefix('/'))
            .unwrap_or(path)
            .to_owned()
    }

    fn add_action(&self, path: &str, size: u64, rows: u64) -> Add {
        Add {
            path: self.add_path(path),
            partition_values: HashMap::new(),
            size: size as i64,
            modification_time: chrono::Utc::now().timestamp_millis(),
            data_change: true,
            stats: Some(serde_json::json!({ "numRecords": rows }).to_string()),
            ..Default::default()
        }
    }
}

/// A file name no other writer picks: the time to the nanosecond, the process and a counter
/// (trailsql's `part-` prefix, so only our files are ever treated as ours).
fn unique_name() -> String {
    static SEQ: AtomicU64 = AtomicU64::new(0);
    let now = chrono::Utc::now();
    format!(
        "{}{}-{:08x}-{:04}.parquet",
        crate::state::OUR_PREFIX,
        now.format("%Y%m%dT%H%M%S%9fZ"),
        std::process::id(),
        SEQ.fetch_add(1, Ordering::Relaxed)
    )
}

/// Whether `path` is a file [`unique_name`] named: such a file is committed by its writer
/// (or by nobody, if it died first), never adopted as an earlier plain table's.
fn is_appended_name(path: &str) -> bool {
    let name = path.rsplit('/').next().unwrap_or(path);
    name.starts_with(crate::state::OUR_PREFIX) && name.contains("Z-")
}

/// One batch as a zstd Parquet file.
fn encode(batch: &RecordBatch) -> Result<Vec<u8>> {
    let mut out = Vec::new();
    let props = parquet::file::properties::WriterProperties::builder()
        .set_compression(parquet::basic::Compression::ZSTD(Default::default()))
        .build();
    let mut w = parquet::arrow::ArrowWriter::try_new(&mut out, batch.schema(), Some(props))?;
    w.write(batch)?;
    w.close()?;
    Ok(out)
}

#[cfg(test)]
mod tests {
    use std::sync::Arc;

    use arrow::array::{Int64Array, StringArray};
    use arrow::datatypes::{DataType, Field, Schema};

    use super::*;

    fn batch(ids: &[&str]) -> RecordBatch {
        let schema = Arc::new(Schema::new(vec![
            Field::new("id", DataType::Utf8, true),
            Field::new("n", DataType::Int64, true),
        ]));
        RecordBatch::try_new(
            schema,
            vec![
                Arc::new(StringArray::from_iter_values(ids.iter().copied())),
                Arc::new(Int64Array::from_iter_values(0..ids.len() as i64)),
            ],
        )
        .unwrap()
    }

    #[tokio::test]
    async fn appends_are_commits_and_a_plain_table_is_adopted_once() {
        let dir = tempfile::tempdir().unwrap();
        let lake = Lake::open(dir.path().to_str().unwrap()).unwrap();
        // An earlier trailsql's table: a Parquet file, no log.
        lake.put(
            "t/part-20240101T000000000000-7.parquet",
            encode(&batch(&["a", "b"])).unwrap(),
        )
        .await
        .unwrap();
        // A file a writer put and never committed (it died): never adopted.
        lake.put(
            &format!("t/{}", unique_name()),
            encode(&batch(&["x"])).unwrap(),
        )
        .await
        .unwrap();
        let mut t = AppendedTable::open(&lake, "t").await.unwrap();
        assert!(!t.exists());
        assert_eq!(t.adopt().await.unwrap(), 1);
        assert_eq!(t.adopt().await.unwrap(), 0, "adopted once");
        let p1 = t.append(&batch(&["c"]), "r1").await.unwrap();
        let mut other = AppendedTable::open(&lake, "t").await.unwrap();
        let p2 = other.append(&batch(&["d", "e"]), "r2").await.unwrap();
        assert_ne!(p1, p2);
        let t = AppendedTable::open(&lake, "t").await.unwrap();
        let mut files: Vec<String> = t.files().unwrap().into_iter().map(|f| f.0).collect();
        files.sort();
        let mut want = vec!["t/part-20240101T000000000000-7.parquet".to_owned(), p1, p2];
        want.sort();
        assert_eq!(files, want);
        let schema = t.schema().unwrap().unwrap();
        assert_eq!(schema.field(0).name(), "id");
    }

    #[tokio::test]
    async fn the_first_append_creates_the_table_with_an_earlier_plain_tables_files() {
        let dir = tempfile::tempdir().unwrap();
        let lake = Lake::open(dir.path().to_str().unwrap()).unwrap();
        lake.put(
            "t/verified-20240101T000000.000001Z-0000002a.parquet",
            encode(&batch(&["a"])).unwrap(),
        )
        .await
        .unwrap();
        let mut t = AppendedTable::open(&lake, "t").await.unwrap();
        t.append(&batch(&["b"]), "r").await.unwrap();
        assert_eq!(t.files().unwrap().len(), 2);
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 4)]
    async fn writers_appending_at_once_to_a_new_table_all_commit() {
        let dir = tempfile::tempdir().unwrap();
        let lake = Lake::open(dir.path().to_str().unwrap()).unwrap();
        let writers: Vec<_> = (0..6)
            .map(|i| {
                let lake = lake.clone();
                tokio::spawn(async move {
                    let mut t = AppendedTable::open(&lake, "t").await.unwrap();
                    t.append(&batch(&[&format!("w{i}")]), &format!("r{i}"))
                        .await
                        .unwrap()
                })
            })
            .collect();
        let mut written = Vec::new();
        for w in writers {
            written.push(w.await.unwrap());
        }
        written.sort();
        let t = AppendedTable::open(&lake, "t").await.unwrap();
        let mut files: Vec<String> = t.files().unwrap().into_iter().map(|f| f.0).collect();
        files.sort();
        assert_eq!(files, written, "every writer's file committed once");
    }
}
