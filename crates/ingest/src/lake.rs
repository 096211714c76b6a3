//! The lake: a root (local directory or `s3://bucket/prefix`) reached through object_store,
//! holding `cloudtrail/` and `cloudtrail_insights/` as Hive-partitioned Parquet and
//! `_trailsql/` for ingest state. Also how a partition file is written and read back.

use std::path::PathBuf;
use std::sync::Arc;

use arrow::array::{AsArray, RecordBatch};
use arrow::compute::{SortColumn, concat_batches, lexsort_to_indices, take_record_batch};
use futures::TryStreamExt;
use object_store::local::LocalFileSystem;
use object_store::path::Path;
use object_store::prefix::PrefixStore;
use object_store::{ObjectStore, ObjectStoreExt, PutPayload};
use parquet::arrow::arrow_reader::ParquetRecordBatchReaderBuilder;
use parquet::arrow::{ArrowSchemaConverter, ArrowWriter, ProjectionMask};
use parquet::basic::{Compression, ZstdLevel};
use parquet::file::metadata::SortingColumn;
use parquet::file::properties::{EnabledStatistics, WriterProperties};

use crate::rows::dedup_key;
use crate::schema::Table;
use crate::{Error, Result};

/// Rows per row group: small enough that a one-hour window skips most of a day's file by
/// statistics, large enough for efficient column scans.
pub const ROW_GROUP_ROWS: usize = 128 * 1024;

/// An opened lake.
#[derive(Clone)]
pub struct Lake {
    store: Arc<dyn ObjectStore>,
    /// The location as the user gave it, made absolute (for messages and other tools).
    pub url: String,
    /// The directory, when the lake is local.
    pub local_root: Option<PathBuf>,
}

impl std::fmt::Debug for Lake {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Lake").field("url", &self.url).finish()
    }
}

impl Lake {
    /// Open (creating when local) the lake at `location`.
    pub fn open(location: &str) -> Result<Lake> {
        if let Some(rest) = location.strip_prefix("s3://") {
            let (bucket, prefix) = rest.split_once('/').unwrap_or((rest, ""));
            let s3 = crate::source::s3_store(bucket)
                .map_err(|e| Error::InvalidLake(location.into(), e.to_string()))?;
            let store: Arc<dyn ObjectStore> = if prefix.trim_matches('/').is_empty() {
                s3
            } else {
                Arc::new(PrefixStore::new(s3, prefix.trim_matches('/')))
            };
            return Ok(Lake {
                store,
                url: location.trim_end_matches('/').to_owned(),
                local_root: None,
            });
        }
        let path = location.strip_prefix("file://").unwrap_or(location);
        std::fs::create_dir_all(path)
            .map_err(|e| Error::InvalidLake(location.into(), e.to_string()))?;
        let root = std::fs::canonicalize(path)
            .map_err(|e| Error::InvalidLake(location.into(), e.to_string()))?;
        let store = LocalFileSystem::new_with_prefix(&root)?;
        Ok(Lake {
            store: Arc::new(store),
            url: root.display().to_string(),
            local_root: Some(root),
        })
    }

    pub fn store(&self) -> &Arc<dyn ObjectStore> {
        &self.store
    }

    pub async fn put(&self, path: &str, bytes: Vec<u8>) -> Result<()> {
        self.store
            .put(&Path::from(path), PutPayload::from(bytes))
            .await?;
        Ok(())
    }

    pub async fn get(&self, path: &str) -> Result<bytes::Bytes> {
        Ok(self.store.get(&Path::from(path)).await?.bytes().await?)
    }

    pub async fn delete(&self, path: &str) -> Result<()> {
        match self.store.delete(&Path::from(path)).await {
            Ok(()) | Err(object_store::Error::NotFound { .. }) => Ok(()),
            Err(e) => Err(e.into()),
        }
    }

    /// Every object below `prefix` (relative paths).
    pub async fn list(&self, prefix: &str) -> Result<Vec<(String, u64)>> {
        let p = Path::from(prefix);
        let metas: Vec<_> = self.store.list(Some(&p)).try_collect().await?;
        Ok(metas
            .into_iter()
            .map(|m| (m.location.to_string(), m.size))
            .collect())
    }

    /// Remove the staging files a killed local write leaves next to its target
    /// (`name.parquet#N`); object stores never show them, so they are found on disk.
    pub fn remove_local_staging(&self) -> Result<usize> {
        let Some(root) = &self.local_root else {
            return Ok(0);
        };
        let mut removed = 0;
        let mut stack: Vec<PathBuf> = Table::ALL.iter().map(|t| root.join(t.name())).collect();
        stack.push(root.join("_trailsql"));
        while let Some(dir) = stack.pop() {
            let Ok(entries) = std::fs::read_dir(&dir) else {
                continue;
            };
            for entry in entries.flatten() {
                let path = entry.path();
                if entry.file_type().map(|t| t.is_dir()).unwrap_or(false) {
                    stack.push(path);
                } else if let Some(name) = path.file_name().and_then(|n| n.to_str())
                    && let Some((_, suffix)) = name.rsplit_once('#')
                    && !suffix.is_empty()
                    && suffix.bytes().all(|b| b.is_ascii_digit())
                {
                    std::fs::remove_file(&path)?;
                    removed += 1;
                }
            }
        }
        Ok(removed)
    }
}

fn writer_properties(table: Table) -> Result<WriterProperties> {
    let schema = table.schema();
    let descr = ArrowSchemaConverter::new().convert(&schema)?;
    let time_leaf = (0..descr.num_columns())
        .find(|&i| descr.column(i).path().string() == "eventtime")
        .expect("eventtime is a leaf column");
    Ok(WriterProperties::builder()
        .set_compression(Compression::ZSTD(ZstdLevel::try_new(3)?))
        .set_max_row_group_row_count(Some(ROW_GROUP_ROWS))
        .set_statistics_enabled(EnabledStatistics::Page)
        .set_sorting_columns(Some(vec![SortingColumn {
            column_idx: time_leaf as i32,
            descending: false,
            nulls_first: false,
        }]))
        .set_created_by(format!("trailsql {}", env!("CARGO_PKG_VERSION")))
        .build())
}

/// Concatenate a partition's batches, sort by (eventtime, eventid) and encode as Parquet.
pub fn encode_partition(table: Table, batches: &[RecordBatch]) -> Result<(Vec<u8>, usize)> {
    let schema = table.schema();
    let batch = concat_batches(&schema, batches)?;
    let sort = [
        SortColumn {
            values: batch.column(table.eventtime_index()).clone(),
            options: None,
        },
        SortColumn {
            values: batch.column(table.eventid_index()).clone(),
            options: None,
        },
    ];
    let indices = lexsort_to_indices(&sort, None)?;
    let sorted = take_record_batch(&batch, &indices)?;
    let mut buf = Vec::with_capacity(sorted.get_array_memory_size() / 8);
    let mut writer = ArrowWriter::try_new(&mut buf, schema, Some(writer_properties(table)?))?;
    writer.write(&sorted)?;
    writer.close()?;
    Ok((buf, sorted.num_rows()))
}

/// The dedup keys of the rows of a lake file that have an eventID.
pub fn read_event_keys(table: Table, data: bytes::Bytes) -> Result<Vec<u128>> {
    let builder = ParquetRecordBatchReaderBuilder::try_new(data)?;
    let descr = builder.parquet_schema();
    let leaf = (0..descr.num_columns())
        .find(|&i| descr.column(i).path().string() == "eventid")
        .ok_or_else(|| {
            Error::CorruptState(format!("a {} file has no eventid column", table.name()))
        })?;
    let mask = ProjectionMask::leaves(descr, [leaf]);
    let reader = builder.with_projection(mask).build()?;
    let mut keys = Vec::new();
    for batch in reader {
        let batch = batch?;
        let ids = batch.column(0).as_string::<i32>();
        keys.extend(ids.iter().flatten().map(|id| dedup_key(Some(id), "")));
    }
    Ok(keys)
}

/// Read back every row of a lake file (tests and tools).
pub fn read_file(data: bytes::Bytes) -> Result<Vec<RecordBatch>> {
    let reader = ParquetRecordBatchReaderBuilder::try_new(data)?.build()?;
    Ok(reader.collect::<std::result::Result<Vec<_>, _>>()?)
}
