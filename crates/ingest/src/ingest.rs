//! An ingest run: list the sources, read what is new or changed in parallel, decode it into
//! partition batches, drop duplicates, and write Parquet in checkpoints, each made visible
//! by one commit. The [`Summary`] accounts for every object and every record.

use std::collections::{BTreeMap, HashMap, HashSet};
use std::time::{Duration, Instant};

use arrow::array::{AsArray, BooleanArray, RecordBatch};
use arrow::compute::filter_record_batch;
use chrono::{DateTime, Utc};
use futures::{StreamExt, TryStreamExt};
use indicatif::{ProgressBar, ProgressDrawTarget, ProgressStyle};
use serde::Serialize;

use trailsql_lake::file::{encode_partition, read_event_keys};
use trailsql_lake::state::{self as lake_state};
use trailsql_lake::{Lake, PartitionKey};

use crate::decode::{Chunk, DecodeOptions, Prefetch, Reading, Window, read_and_decode};
use crate::source::{self, SourceObject};
use crate::{Error, Result};
use trailsql_lake::schema::Table;
use trailsql_lake::state::{LakeState, QUARANTINE_DIR, SourceEntry, SourceRecord, SourceStatus};
use trailsql_lake::{NewFile, TableLog};

/// What to ingest, where, and how.
#[derive(Debug, Clone)]
pub struct IngestOptions {
    pub sources: Vec<String>,
    pub lake: String,
    /// Only events at or after this time.
    pub since: Option<DateTime<Utc>>,
    /// Only events before this time.
    pub until: Option<DateTime<Utc>>,
    /// Any bad input fails the run.
    pub strict: bool,
    /// Draw a progress bar (only ever drawn on a terminal).
    pub progress: bool,
    /// Decoded rows held in memory before a checkpoint writes them out.
    pub buffer_bytes: usize,
    /// Objects decoded at once.
    pub parallelism: usize,
    /// Only objects of these accounts (empty: all).
    pub accounts: Vec<String>,
    /// Only objects of these regions (empty: all).
    pub regions: Vec<String>,
    /// Validate the sources against their digest files first, and record each log object's
    /// verdict in the lake's `cloudtrail_sources` table.
    pub verify: Option<crate::verify::PublicKeys>,
    /// List S3 sources in full even when an earlier run listed them up to a time.
    pub full_listing: bool,
    /// An object whose decompressed size passes this is rejected (or, when records came
    /// before the cap, kept as damaged): a gzip bomb or something that is not one delivery.
    pub max_object_bytes: u64,
    /// Requests in flight at once (object reads; listings of day prefixes). Reading many
    /// small objects is bound by round trips: objects/s = requests in flight / latency.
    pub max_requests: usize,
    /// Skip events older than this window before now, and remove the lake's partitions
    /// older than it after the run (`--retain 90d`).
    pub retain: Option<chrono::Duration>,
    /// Compact the partitions the run wrote to once they hold several small files.
    pub compact: bool,
}

/// The default cap on one object's decompressed size: CloudTrail delivers a file every five
/// minutes, a few MB at most; a GiB of JSON is not one delivery.
pub const DEFAULT_MAX_OBJECT_BYTES: u64 = 1 << 30;

/// Requests in flight by default: at 100-200 ms to S3 from outside its region, 128 GETs of
/// CloudTrail's 5-minute objects keep 640-1,280 objects/s coming, more than two cores decode.
pub const DEFAULT_MAX_REQUESTS: usize = 128;

impl IngestOptions {
    pub fn new(sources: Vec<String>, lake: String) -> Self {
        IngestOptions {
            sources,
            lake,
            since: None,
            until: None,
            strict: false,
            progress: false,
            buffer_bytes: 128 << 20,
            parallelism: std::thread::available_parallelism().map_or(2, |n| n.get()),
            accounts: Vec::new(),
            regions: Vec::new(),
            verify: None,
            full_listing: false,
            max_object_bytes: DEFAULT_MAX_OBJECT_BYTES,
            max_requests: DEFAULT_MAX_REQUESTS,
            retain: None,
            compact: true,
        }
    }
}

/// One bad input, for the report.
#[derive(Debug, Clone, Serialize)]
pub struct Problem {
    pub source: String,
    pub kind: &'static str,
    pub reason: String,
}

/// The accounting of a run. For records:
/// `records = written + duplicates_in_run + duplicates_in_lake + quarantined + outside_window`.
/// For objects: `objects_listed = objects_read + objects_unchanged + objects_skipped +
/// objects_outside_window`, where skipped objects (digests, AWS Config, empty files) are not
/// counted as read, and of those read, some are rejected or damaged.
#[derive(Debug, Default, Clone, Serialize)]
pub struct Summary {
    pub lake: String,
    pub objects_listed: u64,
    pub objects_read: u64,
    pub objects_unchanged: u64,
    pub objects_skipped: u64,
    pub objects_outside_window: u64,
    pub objects_rejected: u64,
    pub objects_damaged: u64,
    pub skipped_by_reason: BTreeMap<String, u64>,
    /// Envelopes (CloudWatch Logs control messages) and wrapped events (EventBridge events
    /// not from CloudTrail) with nothing for the lake, by reason: not records.
    pub messages_skipped: BTreeMap<String, u64>,
    pub bytes_read: u64,
    pub json_bytes: u64,
    pub records: u64,
    pub written: u64,
    pub written_by_table: BTreeMap<String, u64>,
    pub duplicates_in_run: u64,
    pub duplicates_in_lake: u64,
    pub quarantined: u64,
    pub outside_window: u64,
    pub older_than_retention: u64,
    pub files_written: u64,
    pub parquet_bytes: u64,
    pub commits: u64,
    pub leftovers_removed: u64,
    pub seconds: f64,
    /// Seconds until the first object was handed to be read (the state loaded, its prefix
    /// listed), or until the listing ended.
    pub startup_seconds: Option<f64>,
    /// Requests made to each S3 store (sources and lake), with their bytes.
    pub requests: trailsql_store::RequestStats,
    pub problems: Vec<Problem>,
    /// Compaction and retention after the run's commits.
    pub maintenance: trailsql_lake::maintenance::AfterIngest,
    /// With `--verify`: verdict counts over the log files, and digests not valid.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub verification: Option<Verification>,
}

/// What `ingest --verify` found.
#[derive(Debug, Default, Clone, serde::Serialize)]
pub struct Verification {
    pub logs: BTreeMap<String, u64>,
    pub digests_not_valid: u64,
    pub table_file: String,
}

impl Summary {
    /// Whether every record is accounted for.
    pub fn balanced(&self) -> bool {
        self.records
            == self.written
                + self.duplicates_in_run
                + self.duplicates_in_lake
                + self.quarantined
                + self.outside_window
                + self.older_than_retention
            && self.objects_listed
                == self.objects_read
                    + self.objects_unchanged
                    + self.objects_skipped
                    + self.objects_outside_window
    }
}

impl std::fmt::Display for Summary {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let rate = if self.seconds > 0.0 {
            self.records as f64 / self.seconds
        } else {
            0.0
        };
        writeln!(
            f,
            "ingested into {} in {:.2}s: {} records from {} objects ({}, {} of JSON; {}/s)",
            self.lake,
            self.seconds,
            n(self.records),
            n(self.objects_read),
            bytes(self.bytes_read),
            bytes(self.json_bytes),
            n(rate as u64) + " records",
        )?;
        let tables: Vec<String> = self
            .written_by_table
            .iter()
            .map(|(t, c)| format!("{t} {}", n(*c)))
            .collect();
        writeln!(
            f,
            "  written         {:>10}  ({}) in {} files, {}",
            n(self.written),
            if tables.is_empty() {
                "nothing new".into()
            } else {
                tables.join(", ")
            },
            n(self.files_written),
            bytes(self.parquet_bytes)
        )?;
        writeln!(
            f,
            "  duplicates      {:>10}  ({} within this run, {} already in the lake)",
            n(self.duplicates_in_run + self.duplicates_in_lake),
            n(self.duplicates_in_run),
            n(self.duplicates_in_lake)
        )?;
        writeln!(
            f,
            "  quarantined     {:>10}{}",
            n(self.quarantined),
            if self.quarantined > 0 {
                format!("  (records kept in {}/{QUARANTINE_DIR}/)", self.lake)
            } else {
                String::new()
            }
        )?;
        if self.outside_window > 0 {
            writeln!(f, "  outside window  {:>10}", n(self.outside_window))?;
        }
        if !self.messages_skipped.is_empty() {
            let why: Vec<String> = self
                .messages_skipped
                .iter()
                .map(|(r, c)| format!("{r} {}", n(*c)))
                .collect();
            let total = self.messages_skipped.values().sum();
            writeln!(
                f,
                "  messages skipped{:>10}  ({})",
                n(total),
                why.join(", ")
            )?;
        }
        if self.older_than_retention > 0 {
            let r = n(self.older_than_retention);
            writeln!(f, "  older than the retention window {r}")?;
        }
        let skipped: Vec<String> = self
            .skipped_by_reason
            .iter()
            .map(|(r, c)| format!("{r} {}", n(*c)))
            .collect();
        write!(
            f,
            "  objects: {} listed, {} read, {} unchanged since the last run, {} skipped{}",
            n(self.objects_listed),
            n(self.objects_read),
            n(self.objects_unchanged),
            n(self.objects_skipped),
            if skipped.is_empty() {
                String::new()
            } else {
                format!(" ({})", skipped.join(", "))
            },
        )?;
        if self.objects_outside_window > 0 {
            write!(
                f,
                ", {} outside the time window",
                n(self.objects_outside_window)
            )?;
        }
        writeln!(f)?;
        if self.objects_rejected + self.objects_damaged > 0 {
            writeln!(
                f,
                "  could not read {} objects ({} rejected, {} damaged: records before the damage were read)",
                n(self.objects_rejected + self.objects_damaged),
                n(self.objects_rejected),
                n(self.objects_damaged)
            )?;
        }
        if let Some(v) = &self.verification {
            let total: u64 = v.logs.values().sum();
            let valid = v.logs.get("valid").copied().unwrap_or(0);
            let others: Vec<String> = v
                .logs
                .iter()
                .filter(|(k, _)| k.as_str() != "valid")
                .map(|(k, c)| format!("{} {k}", n(*c)))
                .collect();
            writeln!(
                f,
                "  verified        {:>10}  of {} log files valid{}{}; verdicts in {}",
                n(valid),
                n(total),
                if others.is_empty() {
                    String::new()
                } else {
                    format!(" ({})", others.join(", "))
                },
                if v.digests_not_valid > 0 {
                    format!(", {} digests not valid", n(v.digests_not_valid))
                } else {
                    String::new()
                },
                v.table_file
            )?;
        }
        if !self.requests.is_empty() {
            writeln!(f, "  requests")?;
            self.requests.write_lines(f, "    ")?;
        }
        write!(f, "{}", self.maintenance)?;
        if self.leftovers_removed > 0 {
            writeln!(
                f,
                "  recovered from an interrupted run: removed {} uncommitted files",
                n(self.leftovers_removed)
            )?;
        }
        Ok(())
    }
}

fn n(v: u64) -> String {
    let s = v.to_string();
    let mut out = String::new();
    for (i, c) in s.chars().enumerate() {
        if i > 0 && (s.len() - i).is_multiple_of(3) {
            out.push(',');
        }
        out.push(c);
    }
    out
}

fn bytes(b: u64) -> String {
    match b {
        b if b >= 1 << 30 => format!("{:.1} GiB", b as f64 / (1u64 << 30) as f64),
        b if b >= 1 << 20 => format!("{:.1} MiB", b as f64 / (1u64 << 20) as f64),
        b if b >= 1 << 10 => format!("{:.1} KiB", b as f64 / 1024.0),
        b => format!("{b} B"),
    }
}

/// How old an S3 source's listing mark gets before a run records a newer one.
const MARK_REFRESH: chrono::Duration = chrono::Duration::hours(1);

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

struct Writer<'a> {
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
    listed: Vec<lake_state::Listed>,
    pending: Option<Pending>,
    /// Partitions this run committed files to.
    touched: std::collections::BTreeSet<PartitionKey>,
    /// Partitions given rows by the partial chunks of an object not finished yet: its
    /// sources wait for these too.
    carry: Vec<PartitionKey>,
}

impl Writer<'_> {
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

    async fn add(
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
        let lake = self.lake.clone();
        let task = tokio::spawn(async move {
            // Each file is written as soon as it is encoded, so what a checkpoint holds beyond
            // its rows is the files in hand, not all of its encoded files.
            let lake_ref = &lake;
            let files: Vec<NewFile> = futures::stream::iter(named)
                .map(|(k, batches, path)| async move {
                    let table = k.table;
                    let enc =
                        tokio::task::spawn_blocking(move || encode_partition(table, &batches))
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
        });
        self.pending = Some(Pending {
            task,
            sources,
            listed,
        });
        Ok(())
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

    /// Take in the commits of other writers since the version this run last saw: their
    /// files join the partitions' file lists, their keys join the dedup keys of partitions in
    /// hand, and rows of `mine` (written, not committed) that they already hold are dropped.
    async fn catch_up(
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

    /// The last checkpoint, committed.
    async fn finish(&mut self, state: &mut LakeState, summary: &mut Summary) -> Result<()> {
        self.checkpoint(state, summary, true).await?;
        debug_assert!(self.held.is_empty(), "every source committed");
        self.commit_pending(state, summary).await
    }
}

/// A checkpoint being encoded and written: its files and quarantine paths when done, and what
/// its commit will record.
struct Pending {
    task: tokio::task::JoinHandle<Result<(Vec<NewFile>, Vec<String>)>>,
    sources: Vec<SourceEntry>,
    listed: Vec<lake_state::Listed>,
}

/// Run an ingest.
pub async fn ingest(opts: &IngestOptions) -> Result<Summary> {
    let start = Instant::now();
    let before = trailsql_store::request_stats();
    let lake = Lake::open(&opts.lake)?;
    // No lock: concurrent ingests each commit with Delta's put-if-absent and drop the
    // events another writer committed first (see `Writer::commit_table`).
    let mut summary = run(opts, &lake, start).await?;
    summary.requests = trailsql_store::request_stats().since(&before);
    Ok(summary)
}

/// Validate the sources and append the verdicts to the lake's sources table.
async fn verify_sources(
    opts: &IngestOptions,
    keys: crate::verify::PublicKeys,
    lake: &Lake,
) -> Result<Verification> {
    use crate::verify::{self, Kind, Verdict, VerifyOptions};
    let mut v = VerifyOptions::new(opts.sources.clone(), keys);
    v.since = opts.since;
    v.until = opts.until;
    v.accounts = opts.accounts.clone();
    v.regions = opts.regions.clone();
    let report = verify::verify(&v).await?;
    let file = trailsql_lake::sources::append_verdicts(
        lake,
        &verify::source_verdicts(&report),
        Utc::now(),
    )
    .await?;
    let mut out = Verification {
        table_file: file,
        ..Default::default()
    };
    for o in &report.objects {
        match o.kind {
            Kind::Log => *out.logs.entry(o.verdict.to_string()).or_default() += 1,
            Kind::Digest if o.verdict != Verdict::Valid => out.digests_not_valid += 1,
            Kind::Digest => {}
        }
    }
    Ok(out)
}

async fn run(opts: &IngestOptions, lake: &Lake, start: Instant) -> Result<Summary> {
    let mut summary = Summary {
        lake: lake.url.clone(),
        ..Default::default()
    };
    let mut state = LakeState::load(lake).await?;
    summary.leftovers_removed = lake.remove_local_staging()? as u64;
    let mut logs = BTreeMap::new();
    let mut files: HashMap<PartitionKey, Vec<String>> = HashMap::new();
    let mut synced = BTreeMap::new();
    for table in Table::ALL {
        let log = TableLog::open(lake, table).await?;
        synced.insert(table, log.version());
        for f in log.snapshot()?.files {
            files.entry(f.partition).or_default().push(f.path);
        }
        logs.insert(table, log);
    }
    if let Some(keys) = &opts.verify {
        summary.verification = Some(verify_sources(opts, keys.clone(), lake).await?);
    }

    // Buckets in CloudTrail's layout are listed by delivery day when a window is given.
    let list_days = source::window_days(opts.since, opts.until);
    // An S3 source listed in full up to time T by an earlier run can only have new objects
    // under the delivery days from T on (CloudTrail writes each object under the day it
    // delivers it): list from the day before T. Local sources are cheap to list in full.
    let listed_at = Utc::now();
    let window: Window = match (opts.since, opts.until) {
        (None, None) => None,
        (s, u) => Some((
            s.map(|t| t.timestamp_micros()),
            u.map(|t| t.timestamp_micros()),
        )),
    };
    // A log file holds events from before its delivery, never after: files delivered more
    // than a day before `since` cannot hold an event in the window.
    let earliest_delivery = opts
        .since
        .map(|s| (s - chrono::Duration::days(1)).date_naive());
    let mut prefetch = Prefetch::new(opts.max_requests, opts.buffer_bytes as u64 / 4);
    let mut marks = Vec::new();
    let mut objects: Vec<SourceObject> = Vec::new();
    let mut unreadable: Vec<source::Unreadable> = Vec::new();
    for arg in &opts.sources {
        if arg.starts_with(crate::cwl::SCHEME) {
            // Stream positions are kept under the state's `other` key (cwl:// URIs have no
            // delivery day).
            state
                .load_days(lake, [lake_state::day_key(&format!("{arg}/"))])
                .await?;
            objects.extend(crate::cwl::resolve(arg, &state, window).await?);
            continue;
        }
        let mark_key = format!(
            "{arg}|{}|{}",
            opts.accounts.join(","),
            opts.regions.join(",")
        );
        let incremental = arg.starts_with("s3://") && !opts.full_listing;
        let since_mark = state
            .listed
            .get(&mark_key)
            .filter(|_| incremental)
            .map(|t| (*t - chrono::Duration::days(1)).date_naive());
        let days = match (list_days, since_mark) {
            (Some((first, last)), Some(m)) => Some((first.max(m), last)),
            (Some(d), None) => Some(d),
            (None, Some(m)) => Some((m, Utc::now().date_naive() + chrono::Duration::days(1))),
            (None, None) => None,
        };
        // The mark moves only when nothing before it was left unlisted.
        let complete = opts.until.is_none()
            && match (days, since_mark) {
                (None, _) => true,
                (Some((first, _)), Some(m)) => first == m,
                (Some(_), None) => false,
            };
        // A mark younger than MARK_REFRESH is kept: listing from the day before it lists the
        // same days, and `ingest --watch` would otherwise record a new one every quiet round.
        let fresh = state
            .listed
            .get(&mark_key)
            .is_some_and(|t| listed_at - *t < MARK_REFRESH);
        if arg.starts_with("s3://") && complete && !fresh {
            marks.push(lake_state::Listed {
                source: mark_key,
                at: listed_at,
            });
        }
        let listing = source::Listing {
            days,
            accounts: opts.accounts.clone(),
            regions: opts.regions.clone(),
            digests: false,
            concurrency: opts.max_requests,
            listed: None,
        };
        // Objects are read as soon as their prefix is listed (those that will be read).
        let (tx, mut rx) = tokio::sync::mpsc::unbounded_channel::<SourceObject>();
        let listing = source::Listing {
            listed: Some(tx),
            ..listing
        };
        let list = async move {
            let found = source::resolve(arg, &listing).await;
            drop(listing); // closes the channel
            found
        };
        let offer = async {
            while let Some(obj) = rx.recv().await {
                state
                    .load_days(lake, [lake_state::day_key(&obj.uri)])
                    .await?;
                let read = obj.skip_by_name().is_none()
                    && earliest_delivery
                        .zip(obj.delivery_date())
                        .is_none_or(|(e, d)| d >= e)
                    && !state.is_current(
                        &obj.uri,
                        obj.size,
                        obj.modified,
                        obj.etag.as_deref(),
                        window,
                    );
                if read {
                    summary
                        .startup_seconds
                        .get_or_insert(start.elapsed().as_secs_f64());
                    prefetch.start(obj);
                }
            }
            Ok::<_, Error>(())
        };
        let (found, offered) = futures::join!(list, offer);
        offered?;
        let found = found?;
        if found.objects.is_empty()
            && found.unreadable.is_empty()
            && arg.contains(['*', '?', '[', '{'])
        {
            return Err(Error::InvalidSource {
                source_arg: arg.clone(),
                reason: "matches no object".into(),
            });
        }
        objects.extend(found.objects);
        unreadable.extend(found.unreadable);
    }
    objects.sort_by(|a, b| a.uri.cmp(&b.uri));
    objects.dedup_by(|a, b| a.uri == b.uri);
    unreadable.sort_by(|a, b| a.path.cmp(&b.path));
    unreadable.dedup();
    summary.objects_listed = objects.len() as u64;
    // An entry that cannot be read (a symlink loop, a dangling link, an unreadable directory)
    // is an object listed, read and rejected: reported with its path, and the run goes on.
    for u in unreadable {
        summary.objects_listed += 1;
        summary.objects_read += 1;
        summary.objects_rejected += 1;
        eprintln!("warning: {}: {}", u.path, u.reason);
        if opts.strict {
            return Err(Error::Strict(format!("{}: {}", u.path, u.reason)));
        }
        summary.problems.push(Problem {
            source: u.path,
            kind: "rejected",
            reason: u.reason,
        });
    }

    state
        .load_days(lake, objects.iter().map(|o| lake_state::day_key(&o.uri)))
        .await?;
    let mut todo = Vec::new();
    for obj in objects {
        if let Some(why) = obj.skip_by_name() {
            summary.objects_skipped += 1;
            *summary.skipped_by_reason.entry(why.into()).or_default() += 1;
        } else if earliest_delivery
            .zip(obj.delivery_date())
            .is_some_and(|(e, d)| d < e)
        {
            summary.objects_outside_window += 1;
        } else if state.is_current(
            &obj.uri,
            obj.size,
            obj.modified,
            obj.etag.as_deref(),
            window,
        ) {
            summary.objects_unchanged += 1;
        } else {
            todo.push(obj);
        }
    }
    state.forget_sources();
    summary
        .startup_seconds
        .get_or_insert(start.elapsed().as_secs_f64());
    // Delivery day first, then name: a checkpoint then holds a few days of every account and
    // region, so each partition is written in few files and its dedup keys can be dropped
    // soon after. The order is deterministic, which keeps a resumed run's choice of duplicate
    // copies the same as an uninterrupted run's.
    todo.sort_by_cached_key(|o| (o.delivery_date(), o.uri.clone()));

    // Bytes are the measure of progress (object sizes vary a thousandfold); objects and
    // events are in the message.
    let todo_objects = todo.len() as u64;
    let todo_bytes: u64 = todo.iter().map(|o| o.size).sum();
    let bar = if opts.progress {
        ProgressBar::with_draw_target(Some(todo_bytes), ProgressDrawTarget::stderr_with_hz(8))
    } else {
        ProgressBar::hidden()
    };
    bar.set_style(
        ProgressStyle::with_template(
            "{spinner} [{elapsed_precise}] {wide_bar} {binary_bytes}/{binary_total_bytes} ({binary_bytes_per_sec}, eta {eta})  {msg}",
        )
        .expect("valid template"),
    );
    let mut objects_done = 0u64;
    bar.enable_steady_tick(Duration::from_millis(250));

    let mut writer = Writer {
        lake,
        logs,
        synced,
        files,
        run: run_id(),
        seq: 0,
        buffers: BTreeMap::new(),
        chunks: 0,
        seen: HashMap::new(),
        epoch: 0,
        buffered: 0,
        budget: opts.buffer_bytes.max(1),
        held: Vec::new(),
        listed: Vec::new(),
        pending: None,
        touched: Default::default(),
        carry: Vec::new(),
    };
    // A piece of an object is handed on once it has this much JSON: with the chunks in
    // flight (two per decoder: one being built, one waiting), a fraction of the budget.
    let decode_opts = DecodeOptions {
        window,
        retain_since: opts.retain.map(|w| (Utc::now() - w).timestamp_micros()),
        max_object_bytes: opts.max_object_bytes,
        piece_bytes: (opts.buffer_bytes as u64 / 16).clamp(1 << 20, 16 << 20),
        // An object is decoded in memory (faster) only when it is small beside the budget.
        stream_json_bytes: (opts.buffer_bytes as u64 / 4).clamp(1 << 20, 32 << 20),
    };
    let reading = Reading {
        max_requests: opts.max_requests,
        budget_bytes: opts.buffer_bytes as u64 / 2,
        ahead: opts.parallelism.max(1) + 1,
    };
    let mut decoded = std::pin::pin!(read_and_decode(todo, decode_opts, reading, prefetch));

    while let Some(chunk) = decoded.next().await {
        let chunk = chunk?;
        let mut chunk_bytes = 0;
        for d in &chunk.objects {
            chunk_bytes += d.obj.size;
            objects_done += 1;
            if d.status != SourceStatus::Skipped {
                summary.objects_read += 1;
            }
            summary.bytes_read += d.bytes_read;
            summary.json_bytes += d.json_bytes;
            summary.records += d.records;
            summary.quarantined += d.quarantined;
            summary.outside_window += d.outside_window;
            for (why, n) in &d.skipped_messages {
                *summary
                    .messages_skipped
                    .entry((*why).to_owned())
                    .or_default() += n;
            }
            summary.older_than_retention += d.older_than_retention;
            let shown = d.obj.display().to_owned();
            match d.status {
                SourceStatus::Skipped => {
                    summary.objects_skipped += 1;
                    *summary
                        .skipped_by_reason
                        .entry(d.detail.clone().unwrap_or_default())
                        .or_default() += 1;
                }
                SourceStatus::Rejected | SourceStatus::Damaged => {
                    let (kind, count) = if d.status == SourceStatus::Rejected {
                        ("rejected", &mut summary.objects_rejected)
                    } else {
                        ("damaged", &mut summary.objects_damaged)
                    };
                    *count += 1;
                    let reason = d.detail.clone().unwrap_or_default();
                    bar.suspend(|| eprintln!("warning: {shown}: {reason}"));
                    summary.problems.push(Problem {
                        source: shown.clone(),
                        kind,
                        reason: reason.clone(),
                    });
                    if opts.strict {
                        return Err(Error::Strict(format!("{shown}: {reason}")));
                    }
                }
                SourceStatus::Ingested => {}
            }
            if d.quarantined > 0 {
                let reason = format!(
                    "{} records quarantined (first: {})",
                    d.quarantined,
                    d.first_quarantine_reason.as_deref().unwrap_or("")
                );
                bar.suspend(|| eprintln!("warning: {shown}: {reason}"));
                summary.problems.push(Problem {
                    source: shown.clone(),
                    kind: "quarantined",
                    reason: reason.clone(),
                });
                if opts.strict {
                    return Err(Error::Strict(format!("{shown}: {reason}")));
                }
            }
        }
        writer.add(&mut state, chunk, window, &mut summary).await?;
        bar.inc(chunk_bytes);
        let secs = start.elapsed().as_secs_f64().max(1e-3);
        bar.set_message(format!(
            "{}/{} objects  {} events  {} events/s",
            n(objects_done),
            n(todo_objects),
            n(summary.records),
            n((summary.records as f64 / secs) as u64)
        ));
    }
    writer.listed = marks;
    writer.finish(&mut state, &mut summary).await?;
    let touched = std::mem::take(&mut writer.touched);
    summary.maintenance =
        trailsql_lake::maintenance::after_ingest(lake, touched, opts.compact, opts.retain).await;
    bar.finish_and_clear();
    summary.seconds = start.elapsed().as_secs_f64();
    debug_assert!(
        summary.balanced(),
        "every record and object accounted for: {summary:?}"
    );
    Ok(summary)
}

fn run_id() -> String {
    let now = Utc::now();
    format!(
        "{}{:04x}",
        now.format("%Y%m%dT%H%M%S"),
        (now.timestamp_subsec_nanos() ^ std::process::id()) & 0xffff
    )
}
