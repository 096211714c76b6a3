//! The writer of an ingest run ([`Writer`]): it buffers decoded chunks by partition, drops
//! the events already in the lake or seen earlier in the run, and writes the buffers out in
//! checkpoints, each made visible by one commit of its files and of the sources they read.

use std::collections::{BTreeMap, HashMap, HashSet};

use arrow::array::{BooleanArray, RecordBatch};
use arrow::compute::filter_record_batch;
use chrono::Utc;
use futures::{StreamExt, TryStreamExt};

use trailsql_lake::file::{encode_partition, read_event_keys};
use trailsql_lake::state::{self as lake_state};
use trailsql_lake::{Lake, PartitionKey};

use crate::decode::{Chunk, Window};
use crate::summary::Summary;
use crate::{Error, Result};
use trailsql_lake::schema::Table;

mod others;
use trailsql_lake::state::{LakeState, QUARANTINE_DIR, SourceEntry, SourceRecord};
use trailsql_lake::{NewFile, TableLog};

/// Partition files of a checkpoint encoded (and written) at a time.
const ENCODERS: usize = 2;

/// A partition's dedup keys. An event's copies share its eventTime and awsRegion, so they
/// land in one partition: the keys are kept per partition, and only while the run writes to
/// it, which keeps memory to the partitions in hand however many events the run writes.
#[derive(Default)]
struct Seen {
    /// Rows that were in the lake before this run.
    lake: HashSet<u128>,
    /// Rows this run added.
    run: HashSet<u128>,
    /// The epoch in which rows were last added.
    touched: u64,
    /// Other writers committed rows here since it was loaded: rows of this run admitted
    /// before then are checked again as they are committed.
    others: bool,
}

/// A partition's rows waiting to be written.
struct Buffered {
    batches: Vec<RecordBatch>,
    bytes: usize,
    /// The first chunk with rows here.
    first_chunk: u64,
}

/// The source objects of one chunk, with the partitions they gave rows to: they are
/// committed once every one of those rows is written.
struct Held {
    chunk: u64,
    parts: Vec<PartitionKey>,
    sources: Vec<SourceEntry>,
    quarantine: Vec<u8>,
}

pub(crate) struct Writer<'a> {
    lake: &'a Lake,
    /// Each table's Delta log, at the version this run last committed or loaded.
    logs: BTreeMap<Table, TableLog>,
    /// The version of each table whose commits (by any writer) `files` and `seen` reflect.
    synced: BTreeMap<Table, Option<u64>>,
    /// Committed data files by partition: those of the version loaded at the start, and
    /// this run's.
    files: HashMap<PartitionKey, Vec<String>>,
    run: String,
    seq: u64,
    buffers: BTreeMap<PartitionKey, Buffered>,
    /// Chunks added so far.
    chunks: u64,
    /// Dedup keys per partition, loaded from the lake when the run touches the partition.
    /// Partitions whose rows are all committed and that have not been touched for a
    /// checkpoint are dropped, and loaded again (with this run's committed rows) if touched
    /// again.
    seen: HashMap<PartitionKey, Seen>,
    /// Checkpoints handed off so far.
    epoch: u64,
    buffered: usize,
    budget: usize,
    /// Chunks whose sources are not committed yet, in order.
    held: Vec<Held>,
    /// Listing marks, committed with the run's last checkpoint.
    pub(crate) listed: Vec<lake_state::Listed>,
    pending: Option<Pending>,
    /// Partitions this run committed files to.
    pub(crate) touched: std::collections::BTreeSet<PartitionKey>,
    /// Partitions given rows by the partial chunks of an object not finished yet: its
    /// sources wait for these too.
    carry: Vec<PartitionKey>,
}

impl<'a> Writer<'a> {
    /// A writer into `lake` whose tables' logs are `logs` at the versions `synced`, their
    /// committed files `files`; `budget` bytes of rows are buffered before a checkpoint.
    pub(crate) fn new(
        lake: &'a Lake,
        logs: BTreeMap<Table, TableLog>,
        synced: BTreeMap<Table, Option<u64>>,
        files: HashMap<PartitionKey, Vec<String>>,
        run: String,
        budget: usize,
    ) -> Writer<'a> {
        Writer {
            lake,
            logs,
            synced,
            files,
            run,
            seq: 0,
            buffers: BTreeMap::new(),
            chunks: 0,
            seen: HashMap::new(),
            epoch: 0,
            buffered: 0,
            budget: budget.max(1),
            held: Vec::new(),
            listed: Vec::new(),
            pending: None,
            touched: Default::default(),
            carry: Vec::new(),
        }
    }

    async fn load_partition(&mut self, key: &PartitionKey) -> Result<()> {
        if !self.seen.contains_key(key) {
            let files = self.files.get(key).cloned().unwrap_or_default();
            let table = key.table;
            let lake = self.lake;
            // This run's own committed files are told apart by name, so a duplicate of one of
            // their rows is counted as a duplicate within the run.
            let ours = format!("{}{}-", lake_state::OUR_PREFIX, self.run);
            let loaded: Vec<(bool, Vec<u128>)> = futures::stream::iter(files)
                .map(|path| {
                    let mine = path
                        .rsplit('/')
                        .next()
                        .is_some_and(|n| n.starts_with(&ours));
                    async move {
                        let data = lake.get(&path).await?;
                        let keys =
                            tokio::task::spawn_blocking(move || read_event_keys(table, data))
                                .await
                                .map_err(|e| Error::Task(e.to_string()))??;
                        Ok::<_, Error>((mine, keys))
                    }
                })
                .buffered(4)
                .try_collect()
                .await?;
            let mut seen = Seen::default();
            for (mine, keys) in loaded {
                if mine {
                    seen.run.extend(keys);
                } else {
                    seen.lake.extend(keys);
                }
            }
            self.seen.insert(key.clone(), seen);
        }
        Ok(())
    }

    pub(crate) async fn add(
        &mut self,
        state: &mut LakeState,
        chunk: Chunk,
        window: Window,
        summary: &mut Summary,
    ) -> Result<()> {
        let chunk_no = self.chunks;
        self.chunks += 1;
        let mut parts = Vec::new();
        for (key, batch, keys) in chunk.parts {
            self.load_partition(&key).await?;
            let seen = self.seen.get_mut(&key).expect("loaded");
            seen.touched = self.epoch;
            let mut keep = Vec::with_capacity(keys.len());
            for k in &keys {
                // The two sets never share a key (neither takes one the other has), so one
                // lookup and one insert decide.
                let fresh = if seen.lake.contains(k) {
                    summary.duplicates_in_lake += 1;
                    false
                } else if !seen.run.insert(*k) {
                    summary.duplicates_in_run += 1;
                    false
                } else {
                    true
                };
                keep.push(fresh);
            }
            let kept = keep.iter().filter(|k| **k).count();
            if kept == 0 {
                continue;
            }
            let batch = if kept == keys.len() {
                batch
            } else {
                filter_record_batch(&batch, &BooleanArray::from(keep))?
            };
            summary.written += kept as u64;
            *summary
                .written_by_table
                .entry(key.table.name().to_owned())
                .or_default() += kept as u64;
            let bytes = batch.get_array_memory_size();
            self.buffered += bytes;
            let b = self.buffers.entry(key.clone()).or_insert_with(|| Buffered {
                batches: Vec::new(),
                bytes: 0,
                first_chunk: chunk_no,
            });
            b.batches.push(batch);
            b.bytes += bytes;
            parts.push(key);
        }
        if chunk.partial {
            self.carry.extend(parts.iter().cloned());
        } else {
            parts.append(&mut self.carry);
            parts.sort();
            parts.dedup();
        }
        let mut held = Held {
            chunk: chunk_no,
            parts,
            sources: Vec::with_capacity(chunk.objects.len()),
            quarantine: chunk.quarantine,
        };
        for d in chunk.objects {
            held.quarantine.extend_from_slice(&d.quarantine);
            held.sources.push(SourceEntry {
                uri: d.obj.uri,
                size: d.obj.size,
                modified: d.obj.modified,
                etag: d.obj.etag,
                status: d.status,
                detail: d.detail,
                records: d.records,
                window,
            });
        }
        self.held.push(held);
        if self.buffered >= self.budget {
            self.checkpoint(state, summary, false).await?;
        }
        Ok(())
    }

    /// Hand rows to a background task that encodes and writes them, and commit the previous
    /// checkpoint once its files are in place. Decoding goes on while a checkpoint is written
    /// (at most one in flight). With `all`, every row is written (the end of the run);
    /// otherwise the oldest days' partitions, until half the budget is left: the newest days
    /// are still filling (their late events come with the next day's deliveries), and written
    /// later they make one file where now they would make two. Fewer, larger files are what
    /// queries want most. Source objects are committed once all their rows are written.
    async fn checkpoint(
        &mut self,
        state: &mut LakeState,
        summary: &mut Summary,
        all: bool,
    ) -> Result<()> {
        self.commit_pending(state, summary).await?;
        // Every row added before this epoch is now committed, except those still buffered.
        let epoch = self.epoch;
        let buffers = &self.buffers;
        self.seen
            .retain(|k, s| s.touched >= epoch || buffers.contains_key(k));
        self.epoch += 1;
        let parts = self.take_partitions(all);
        let (sources, quarantine_data) = self.take_ready_sources();
        let listed = if all {
            std::mem::take(&mut self.listed)
        } else {
            Vec::new()
        };
        if parts.is_empty() && sources.is_empty() && listed.is_empty() && quarantine_data.is_empty()
        {
            return Ok(());
        }
        // File names are fixed here so that commits, made in order, name them in order.
        let mut named = Vec::with_capacity(parts.len());
        for (key, batches) in parts {
            let path = format!(
                "{}/{}{}-{:06}.parquet",
                key.dir(),
                lake_state::OUR_PREFIX,
                self.run,
                self.seq
            );
            self.seq += 1;
            named.push((key, batches, path));
        }
        let quarantine = (!quarantine_data.is_empty()).then(|| {
            let path = format!(
                "{QUARANTINE_DIR}/{}{}-{:06}.ndjson",
                lake_state::OUR_PREFIX,
                self.run,
                self.seq
            );
            self.seq += 1;
            (path, quarantine_data)
        });
        let task = tokio::spawn(write_files(self.lake.clone(), named, quarantine));
        self.pending = Some(Pending {
            task,
            sources,
            listed,
        });
        Ok(())
    }

    /// Take the buffered partitions a checkpoint writes (see [`Writer::checkpoint`]).
    fn take_partitions(&mut self, all: bool) -> Vec<(PartitionKey, Vec<RecordBatch>)> {
        let flush: Vec<PartitionKey> = if all {
            self.buffers.keys().cloned().collect()
        } else {
            let mut by_age: Vec<(&PartitionKey, usize)> =
                self.buffers.iter().map(|(k, b)| (k, b.bytes)).collect();
            by_age.sort_by_key(|(k, _)| k.date);
            let mut left = self.buffered;
            let mut flush = Vec::new();
            for (k, bytes) in by_age {
                if left <= self.budget / 2 {
                    break;
                }
                flush.push(k.clone());
                left -= bytes;
            }
            flush
        };
        let mut parts = Vec::with_capacity(flush.len());
        for key in flush {
            let b = self.buffers.remove(&key).expect("a buffered partition");
            self.buffered -= b.bytes;
            parts.push((key, b.batches));
        }
        parts
    }

    /// Take the held chunks whose sources are ready to commit: their sources and their
    /// quarantined records.
    fn take_ready_sources(&mut self) -> (Vec<SourceEntry>, Vec<u8>) {
        // A chunk's sources are ready when none of the partitions they gave rows to still
        // holds rows from that chunk or an earlier one.
        let buffers = &self.buffers;
        let (ready, held): (Vec<Held>, Vec<Held>) =
            std::mem::take(&mut self.held).into_iter().partition(|h| {
                h.parts
                    .iter()
                    .all(|p| buffers.get(p).is_none_or(|b| b.first_chunk > h.chunk))
            });
        self.held = held;
        let mut sources = Vec::new();
        let mut quarantine_data = Vec::new();
        for h in ready {
            sources.extend(h.sources);
            quarantine_data.extend_from_slice(&h.quarantine);
        }
        (sources, quarantine_data)
    }

    /// Wait for the checkpoint in flight, then commit it.
    async fn commit_pending(&mut self, state: &mut LakeState, summary: &mut Summary) -> Result<()> {
        let Some(p) = self.pending.take() else {
            return Ok(());
        };
        let (files, quarantine) = p.task.await.map_err(|e| Error::Task(e.to_string()))??;
        // One Delta commit per table with files, then the record of the sources they
        // complete (a kill between the two re-reads those sources: their events are found
        // in the lake and dropped as duplicates).
        let mut versions = BTreeMap::new();
        for table in Table::ALL {
            let mine: Vec<NewFile> = files
                .iter()
                .filter(|f| f.partition.table == table)
                .cloned()
                .collect();
            if mine.is_empty() {
                continue;
            }
            let Some((version, mine)) = self.commit_table(table, mine, summary).await? else {
                continue;
            };
            versions.insert(table.name().to_owned(), version);
            summary.commits += 1;
            for f in mine {
                self.touched.insert(f.partition.clone());
                self.files.entry(f.partition).or_default().push(f.path);
            }
        }
        if versions.is_empty()
            && quarantine.is_empty()
            && p.sources.is_empty()
            && p.listed.is_empty()
        {
            return Ok(());
        }
        let record = SourceRecord {
            run: self.run.clone(),
            time: Utc::now().to_rfc3339(),
            versions,
            quarantine,
            sources: p.sources,
            listed: p.listed,
        };
        state.record(self.lake, record).await?;
        Ok(())
    }

    /// Commit a table's files of a checkpoint against the latest version: first take in
    /// what other writers committed since this run last looked (see [`Writer::catch_up`]),
    /// then commit with no retry, and start over if another writer committed meanwhile.
    /// Returns the version and the files committed (`None`: none were left).
    async fn commit_table(
        &mut self,
        table: Table,
        mut mine: Vec<NewFile>,
        summary: &mut Summary,
    ) -> Result<Option<(u64, Vec<NewFile>)>> {
        loop {
            self.catch_up(table, &mut mine, summary).await?;
            if mine.is_empty() {
                return Ok(None);
            }
            let log = self
                .logs
                .get_mut(&table)
                .expect("every table's log is open");
            if let Some(version) = log.try_append(&mine, &self.run).await? {
                self.synced.insert(table, Some(version));
                summary.files_written += mine.len() as u64;
                summary.parquet_bytes += mine.iter().map(|f| f.size).sum::<u64>();
                return Ok(Some((version, mine)));
            }
        }
    }

    /// The last checkpoint, committed.
    pub(crate) async fn finish(
        &mut self,
        state: &mut LakeState,
        summary: &mut Summary,
    ) -> Result<()> {
        self.checkpoint(state, summary, true).await?;
        debug_assert!(self.held.is_empty(), "every source committed");
        self.commit_pending(state, summary).await
    }
}

/// Encode and write a checkpoint's files (`named`: partition, rows, path) and its
/// quarantined records; the files for its commit, and the quarantine paths.
async fn write_files(
    lake: Lake,
    named: Vec<(PartitionKey, Vec<RecordBatch>, String)>,
    quarantine: Option<(String, Vec<u8>)>,
) -> Result<(Vec<NewFile>, Vec<String>)> {
    // Each file is written as soon as it is encoded, so what a checkpoint holds beyond
    // its rows is the files in hand, not all of its encoded files.
    let lake_ref = &lake;
    let files: Vec<NewFile> = futures::stream::iter(named)
        .map(|(k, batches, path)| async move {
            let table = k.table;
            let enc = tokio::task::spawn_blocking(move || encode_partition(table, &batches))
                .await
                .map_err(|e| Error::Task(e.to_string()))??;
            let entry = NewFile {
                path: path.clone(),
                partition: k,
                size: enc.data.len() as u64,
                rows: enc.rows,
                stats: enc.stats,
            };
            lake_ref.put(&path, enc.data).await?;
            Ok::<_, Error>(entry)
        })
        .buffered(ENCODERS)
        .try_collect()
        .await?;
    let mut quarantined = Vec::new();
    if let Some((path, data)) = quarantine {
        lake.put(&path, data).await?;
        quarantined.push(path);
    }
    Ok((files, quarantined))
}

/// A checkpoint being encoded and written: its files and quarantine paths when done, and what
/// its commit will record.
struct Pending {
    task: tokio::task::JoinHandle<Result<(Vec<NewFile>, Vec<String>)>>,
    sources: Vec<SourceEntry>,
    listed: Vec<lake_state::Listed>,
}
