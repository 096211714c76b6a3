//! Catching up with the other writers of a lake: the files and dedup keys of what they
//! committed since this run last looked, and this run's rows they already hold, dropped from
//! its files before they are committed.

use arrow::array::{AsArray, BooleanArray};
use arrow::compute::filter_record_batch;
use futures::{StreamExt, TryStreamExt};

use trailsql_lake::file::{encode_partition, read_event_keys};
use trailsql_lake::state as lake_state;
use trailsql_lake::{NewFile, PartitionKey};

use super::Writer;
use crate::summary::Summary;
use crate::{Error, Result};
use trailsql_lake::schema::Table;

impl Writer<'_> {
    /// Take in the commits of other writers since the version this run last saw: their
    /// files join the partitions' file lists, their keys join the dedup keys of partitions in
    /// hand, and rows of `mine` (written, not committed) that they already hold are dropped.
    pub(super) async fn catch_up(
        &mut self,
        table: Table,
        mine: &mut Vec<NewFile>,
        summary: &mut Summary,
    ) -> Result<()> {
        let log = self
            .logs
            .get_mut(&table)
            .expect("every table's log is open");
        log.ensure_created().await?;
        log.refresh().await?;
        let synced = self.synced.get(&table).copied().flatten();
        let changes = log.changes_after(synced).await?;
        self.synced.insert(table, log.version());
        for path in &changes.removed {
            if let Some(key) = PartitionKey::of_path(path)
                && let Some(list) = self.files.get_mut(&key)
            {
                list.retain(|p| p != path);
            }
        }
        // Partitions of `mine` not in hand are loaded whole (with the files just added),
        // and their files checked against what they hold.
        for f in mine.iter() {
            if !self.seen.contains_key(&f.partition) {
                self.load_partition(&f.partition).await?;
                self.seen.get_mut(&f.partition).expect("loaded").others = true;
            }
        }
        let ours = format!("{}{}-", lake_state::OUR_PREFIX, self.run);
        let mut load = Vec::new();
        for f in changes.added {
            let name = f.path.rsplit('/').next().unwrap_or("");
            if name.starts_with(&ours) {
                continue; // this run's own commit
            }
            let list = self.files.entry(f.partition.clone()).or_default();
            if !list.contains(&f.path) {
                list.push(f.path.clone());
            }
            if self.seen.contains_key(&f.partition) {
                load.push(f);
            }
        }
        let lake = self.lake;
        let loaded: Vec<(PartitionKey, Vec<u128>)> = futures::stream::iter(load)
            .map(|f| async move {
                let data = lake.get(&f.path).await?;
                let keys = tokio::task::spawn_blocking(move || read_event_keys(table, data))
                    .await
                    .map_err(|e| Error::Task(e.to_string()))??;
                Ok::<_, Error>((f.partition, keys))
            })
            .buffered(4)
            .try_collect()
            .await?;
        for (key, keys) in loaded {
            let seen = self.seen.get_mut(&key).expect("loaded");
            seen.lake.extend(keys);
            seen.others = true;
        }
        let mut kept = Vec::with_capacity(mine.len());
        for f in std::mem::take(mine) {
            if !self.seen[&f.partition].others {
                kept.push(f);
            } else if let Some(f) = self.drop_held_rows(f, summary).await? {
                kept.push(f);
            }
        }
        *mine = kept;
        Ok(())
    }

    /// Drop from a written file the rows whose keys other writers have committed: the rest
    /// is written under a new name (`None`: nothing is left) and the file is deleted.
    async fn drop_held_rows(
        &mut self,
        f: NewFile,
        summary: &mut Summary,
    ) -> Result<Option<NewFile>> {
        let table = f.partition.table;
        let data = self.lake.get(&f.path).await?;
        let seen = self.seen.get_mut(&f.partition).expect("loaded");
        let batches = trailsql_lake::file::read_file(data)?;
        let mut kept_batches = Vec::with_capacity(batches.len());
        let mut dropped = 0u64;
        for batch in batches {
            let ids = batch
                .column_by_name("eventid")
                .and_then(|c| c.as_string_opt::<i32>())
                .ok_or_else(|| {
                    trailsql_lake::Error::CorruptState(format!("{}: no eventid column", f.path))
                })?;
            let keep: BooleanArray = ids
                .iter()
                .map(|id| {
                    let held = id.is_some_and(|id| {
                        let k = trailsql_lake::file::event_key(id);
                        let held = seen.lake.contains(&k);
                        if held {
                            seen.run.remove(&k);
                        }
                        held
                    });
                    dropped += held as u64;
                    Some(!held)
                })
                .collect();
            kept_batches.push(filter_record_batch(&batch, &keep)?);
        }
        if dropped == 0 {
            return Ok(Some(f));
        }
        summary.written -= dropped;
        summary.duplicates_in_lake += dropped;
        if let Some(c) = summary.written_by_table.get_mut(table.name()) {
            *c -= dropped;
        }
        let left = f.rows - dropped;
        let out = if left == 0 {
            None
        } else {
            let path = format!(
                "{}/{}{}-{:06}.parquet",
                f.partition.dir(),
                lake_state::OUR_PREFIX,
                self.run,
                self.seq
            );
            self.seq += 1;
            let enc = tokio::task::spawn_blocking(move || encode_partition(table, &kept_batches))
                .await
                .map_err(|e| Error::Task(e.to_string()))??;
            let file = NewFile {
                path: path.clone(),
                partition: f.partition.clone(),
                size: enc.data.len() as u64,
                rows: enc.rows,
                stats: enc.stats,
            };
            self.lake.put(&path, enc.data).await?;
            Some(file)
        };
        self.lake.delete(&f.path).await?;
        Ok(out)
    }
}
