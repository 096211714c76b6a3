//! Source state under `LAKE/_trailsql/`: which source objects the lake has read (URI,
//! size, ETag or modification time, the time window read), so a re-run reads only new or
//! changed objects, and how far each S3 source has been listed. Each ingest checkpoint
//! appends records after its data files are committed to the tables' Delta logs: a run
//! killed between the two reads those objects again, and their events, already in the lake,
//! are dropped as duplicates.
//!
//! Records are kept by the delivery day of their objects and folded into a checkpoint per
//! day (see [`crate::source_day`]); a run loads the days of the objects it lists
//! ([`LakeState::load_days`]). Records of the previous layout (`_trailsql/sources/*.json`,
//! every object of a checkpoint in one file) are still read, and moved to the days.
//!
//! A lake written by a version before the Delta tables keeps its commit records in
//! `_trailsql/log/`; such a lake is refused until `trailsql lake upgrade` converts it.

use std::collections::{BTreeMap, BTreeSet, HashMap, HashSet};

use futures::{StreamExt, TryStreamExt};
use object_store::path::Path;
use object_store::{PutMode, PutOptions, PutPayload};
use serde::{Deserialize, Serialize};

pub use crate::source_day::day_key;
use crate::source_day::{DayContent, MARKS, fold_day, read_day, write_record};
use crate::store::Lake;
use crate::{Error, Result};

pub const STATE_DIR: &str = "_trailsql";
/// The commit records of a lake written before the Delta tables.
pub const LEGACY_LOG_DIR: &str = "_trailsql/log";
pub const SOURCES_DIR: &str = "_trailsql/sources";
pub const QUARANTINE_DIR: &str = "_trailsql/quarantine";
pub const LOCK: &str = "_trailsql/lock";

/// Data and quarantine files written by trailsql are named `part-RUN-SEQ.*`: only such
/// files are ever removed as leftovers, never a file someone else put in the lake.
pub const OUR_PREFIX: &str = "part-";

#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct FileEntry {
    pub path: String,
    pub rows: u64,
    pub bytes: u64,
}

/// What became of a source object.
#[derive(Debug, Clone, Copy, Serialize, Deserialize, PartialEq, Eq)]
#[serde(rename_all = "lowercase")]
pub enum SourceStatus {
    /// Read; its events are in the lake (or were duplicates, or quarantined).
    Ingested,
    /// Read, but damaged: the records before the damage are in.
    Damaged,
    /// Recognised as not event data.
    Skipped,
    /// Not readable as CloudTrail.
    Rejected,
}

#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct SourceEntry {
    pub uri: String,
    pub size: u64,
    pub modified: i64,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub etag: Option<String>,
    pub status: SourceStatus,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub detail: Option<String>,
    #[serde(default)]
    pub records: u64,
    /// Event-time window the object was read under (`[since, until)`, microseconds);
    /// `None`: all of it.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub window: Option<(Option<i64>, Option<i64>)>,
}

/// What one checkpoint read.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct SourceRecord {
    pub run: String,
    pub time: String,
    /// The Delta versions the checkpoint committed, by table.
    #[serde(default)]
    pub versions: BTreeMap<String, u64>,
    #[serde(default)]
    pub quarantine: Vec<String>,
    pub sources: Vec<SourceEntry>,
    /// Sources listed in full up to a time: a later run need list only the delivery days
    /// from then on.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub listed: Vec<Listed>,
}

/// A commit record of a lake written before the Delta tables (read by the upgrade).
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct LegacyCommit {
    pub version: u32,
    pub run: String,
    pub time: String,
    pub files: Vec<FileEntry>,
    #[serde(default)]
    pub quarantine: Vec<String>,
    pub sources: Vec<SourceEntry>,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub listed: Vec<Listed>,
}

/// A source (with its account and region filters) whose objects delivered before `at` have
/// all been listed and read.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct Listed {
    pub source: String,
    pub at: chrono::DateTime<chrono::Utc>,
}

/// The folded source records of the days loaded.
#[derive(Debug, Default)]
pub struct LakeState {
    pub quarantine: HashSet<String>,
    pub sources: HashMap<String, SourceEntry>,
    /// The latest [`Listed`] time of each source.
    pub listed: HashMap<String, chrono::DateTime<chrono::Utc>>,
    pub records: u64,
    next_seq: u64,
    /// Set once a run has chosen what to read: `sources` is no longer kept.
    sources_forgotten: bool,
    /// Day keys loaded, with the number of files (records, checkpoints) each holds: a day
    /// is folded when a record brings it to [`FOLD_AT`].
    days: HashMap<String, usize>,
}

/// Files of a day that make a fold worth it.
pub const FOLD_AT: usize = 16;

/// Refuse a lake written by a version before the Delta tables.
pub async fn check_format(lake: &Lake) -> Result<()> {
    if !lake.list(LEGACY_LOG_DIR).await?.is_empty() {
        return Err(Error::NeedsUpgrade(lake.url.clone()));
    }
    Ok(())
}

/// Records of the previous layout: directly in `_trailsql/sources/`.
async fn legacy_records(lake: &Lake) -> Result<Vec<String>> {
    let listed = lake
        .store()
        .list_with_delimiter(Some(&Path::from(SOURCES_DIR)))
        .await?;
    let mut names: Vec<String> = listed
        .objects
        .into_iter()
        .map(|m| m.location.to_string())
        .filter(|p| p.ends_with(".json"))
        .collect();
    names.sort();
    Ok(names)
}

impl LakeState {
    /// The listing marks and quarantine paths, and the records of the previous layout
    /// (which are moved to their days). Days are loaded with [`LakeState::load_days`].
    pub async fn load(lake: &Lake) -> Result<LakeState> {
        check_format(lake).await?;
        let mut state = LakeState::default();
        let legacy = legacy_records(lake).await?;
        let fetched: Vec<_> = futures::stream::iter(legacy.iter().map(|n| lake.get(n)))
            .buffered(16)
            .collect()
            .await;
        let mut records = Vec::with_capacity(legacy.len());
        for (name, data) in legacy.iter().zip(fetched) {
            let record: SourceRecord = serde_json::from_slice(&data?)
                .map_err(|e| Error::CorruptState(format!("{}/{name}: {e}", lake.url)))?;
            state.apply(&record);
            records.push(record);
        }
        // Moved: written to their days first, then deleted (a crash between the two leaves
        // both, which read the same), then each day folded.
        let mut days = BTreeSet::new();
        for record in records {
            days.extend(state.write(lake, &record).await?);
        }
        for name in &legacy {
            lake.delete(name).await?;
        }
        for key in days {
            let name = state.name("upgrade");
            fold_day(lake, &key, &name, merge).await?;
        }
        state.load_days(lake, [MARKS.to_owned()]).await?;
        Ok(state)
    }

    /// Load the days not loaded yet.
    pub async fn load_days(
        &mut self,
        lake: &Lake,
        keys: impl IntoIterator<Item = String>,
    ) -> Result<()> {
        let mut todo: Vec<String> = keys
            .into_iter()
            .filter(|k| !self.days.contains_key(k))
            .collect();
        todo.sort();
        todo.dedup();
        let read: Vec<(String, DayContent)> = futures::stream::iter(todo)
            .map(|k| async move { Ok::<_, Error>((read_day(lake, &k).await?, k)) })
            .buffered(16)
            .map_ok(|(c, k)| (k, c))
            .try_collect()
            .await?;
        for (key, day) in read {
            if day.has_checkpoint() {
                self.apply(&SourceRecord {
                    run: String::new(),
                    time: String::new(),
                    versions: BTreeMap::new(),
                    quarantine: day.quarantine,
                    sources: day.entries,
                    listed: day.listed,
                });
            }
            for r in &day.records {
                self.apply(r);
            }
            self.days.insert(key, day.names.len());
        }
        Ok(())
    }

    /// Whether the day of `uri` is loaded (what [`LakeState::is_current`] needs).
    pub fn has_day_of(&self, uri: &str) -> bool {
        self.days.contains_key(&day_key(uri))
    }

    pub fn apply(&mut self, record: &SourceRecord) {
        self.quarantine.extend(record.quarantine.iter().cloned());
        if !self.sources_forgotten {
            for s in &record.sources {
                merge(&mut self.sources, s);
            }
        }
        for l in &record.listed {
            let at = self.listed.entry(l.source.clone()).or_insert(l.at);
            *at = (*at).max(l.at);
        }
        self.records += 1;
    }

    /// Append a record: what it names must already be committed. It is written as one
    /// record per day of its objects (and one for its marks and quarantine paths), each
    /// under a name unique to the run, so writers never collide; a day that reaches
    /// [`FOLD_AT`] files is folded.
    pub async fn record(&mut self, lake: &Lake, record: SourceRecord) -> Result<()> {
        let keys = self.write(lake, &record).await?;
        self.apply(&record);
        for key in keys {
            let files = self.days.entry(key.clone()).or_insert(0);
            *files += 1;
            if *files >= FOLD_AT {
                let name = self.name(&record.run);
                if fold_day(lake, &key, &name, merge).await? {
                    self.days.insert(key, 1);
                }
            }
        }
        Ok(())
    }

    /// Write `record` split by day; returns the days written to.
    async fn write(&mut self, lake: &Lake, record: &SourceRecord) -> Result<Vec<String>> {
        let mut by_day: BTreeMap<String, Vec<SourceEntry>> = BTreeMap::new();
        for s in &record.sources {
            by_day.entry(day_key(&s.uri)).or_default().push(s.clone());
        }
        let part = |sources: Vec<SourceEntry>| SourceRecord {
            run: record.run.clone(),
            time: record.time.clone(),
            versions: record.versions.clone(),
            quarantine: Vec::new(),
            sources,
            listed: Vec::new(),
        };
        let mut parts: Vec<(String, SourceRecord)> =
            by_day.into_iter().map(|(k, v)| (k, part(v))).collect();
        if !record.listed.is_empty() || !record.quarantine.is_empty() {
            let mut marks = part(Vec::new());
            marks.listed = record.listed.clone();
            marks.quarantine = record.quarantine.clone();
            parts.push((MARKS.to_owned(), marks));
        }
        let named: Vec<(String, String, SourceRecord)> = parts
            .into_iter()
            .map(|(k, r)| (k, self.name(&record.run), r))
            .collect();
        futures::stream::iter(&named)
            .map(|(k, n, r)| write_record(lake, k, n, r))
            .buffer_unordered(16)
            .try_collect::<Vec<()>>()
            .await?;
        Ok(named.into_iter().map(|(k, _, _)| k).collect())
    }

    /// A file name unique to the run, in time order.
    fn name(&mut self, run: &str) -> String {
        self.next_seq += 1;
        format!(
            "{}-{run}-{:06}",
            chrono::Utc::now().format("%Y%m%dT%H%M%S%.6fZ"),
            self.next_seq
        )
    }

    /// Drop the sources (and stop recording them): what a run needs of them is only to
    /// choose what to read. At 4M events that is 98,000 entries, about 40 MB, which would
    /// otherwise grow with every record of the run.
    pub fn forget_sources(&mut self) {
        self.sources = HashMap::new();
        self.sources_forgotten = true;
    }

    /// Whether `obj` needs reading, given what the lake holds and the window asked for.
    pub fn is_current(
        &self,
        uri: &str,
        size: u64,
        modified: i64,
        etag: Option<&str>,
        window: Option<(Option<i64>, Option<i64>)>,
    ) -> bool {
        let Some(prev) = self.sources.get(uri) else {
            return false;
        };
        let probe = SourceEntry {
            uri: uri.into(),
            size,
            modified,
            etag: etag.map(Into::into),
            status: SourceStatus::Ingested,
            detail: None,
            records: 0,
            window,
        };
        same_object(prev, &probe) && covers(prev.window, window)
    }
}

/// Fold an entry into what is known of its object: a re-read of the same object widens the
/// window known; another object under the URI replaces it.
pub(crate) fn merge(sources: &mut HashMap<String, SourceEntry>, s: &SourceEntry) {
    let merged = match sources.get(&s.uri) {
        Some(prev) if same_object(prev, s) => SourceEntry {
            window: union(prev.window, s.window),
            ..s.clone()
        },
        _ => s.clone(),
    };
    sources.insert(s.uri.clone(), merged);
}

fn same_object(a: &SourceEntry, b: &SourceEntry) -> bool {
    if a.size != b.size {
        return false;
    }
    match (&a.etag, &b.etag) {
        (Some(x), Some(y)) => x == y,
        _ => a.modified == b.modified,
    }
}

type Window = Option<(Option<i64>, Option<i64>)>;

fn covers(have: Window, want: Window) -> bool {
    match (have, want) {
        (None, _) => true,
        (Some(_), None) => false,
        (Some((hs, hu)), Some((ws, wu))) => {
            let start_ok = match (hs, ws) {
                (None, _) => true,
                (Some(_), None) => false,
                (Some(h), Some(w)) => h <= w,
            };
            let end_ok = match (hu, wu) {
                (None, _) => true,
                (Some(_), None) => false,
                (Some(h), Some(w)) => h >= w,
            };
            start_ok && end_ok
        }
    }
}

/// The smallest window covering both (over-approximating a gap is harmless: re-reading
/// only finds duplicates).
fn union(a: Window, b: Window) -> Window {
    match (a, b) {
        (None, _) | (_, None) => None,
        (Some((as_, au)), Some((bs, bu))) => {
            let s = match (as_, bs) {
                (Some(x), Some(y)) => Some(x.min(y)),
                _ => None,
            };
            let u = match (au, bu) {
                (Some(x), Some(y)) => Some(x.max(y)),
                _ => None,
            };
            if s.is_none() && u.is_none() {
                None
            } else {
                Some((s, u))
            }
        }
    }
}

/// Who holds the lake.
#[derive(Debug, Serialize, Deserialize)]
struct LockInfo {
    pid: u32,
    host: String,
    started: String,
}

/// Exclusive right to change the lake: `_trailsql/lock`, created only if absent. A lock
/// left by a killed process on this host is taken over.
#[derive(Debug)]
pub struct LakeLock {
    lake: Lake,
}

fn hostname() -> String {
    std::fs::read_to_string("/proc/sys/kernel/hostname")
        .or_else(|_| std::fs::read_to_string("/etc/hostname"))
        .map(|s| s.trim().to_owned())
        .unwrap_or_else(|_| std::env::var("HOSTNAME").unwrap_or_default())
}

fn process_alive(pid: u32) -> bool {
    let proc = std::path::Path::new("/proc");
    if !proc.exists() {
        return true; // cannot tell: assume it is
    }
    proc.join(pid.to_string()).exists()
}

impl LakeLock {
    pub async fn acquire(lake: &Lake) -> Result<LakeLock> {
        let me = LockInfo {
            pid: std::process::id(),
            host: hostname(),
            started: chrono::Utc::now().to_rfc3339(),
        };
        let body = serde_json::to_vec(&me)?;
        for _ in 0..3 {
            let opts = PutOptions {
                mode: PutMode::Create,
                ..Default::default()
            };
            match lake
                .store()
                .put_opts(&Path::from(LOCK), PutPayload::from(body.clone()), opts)
                .await
            {
                Ok(_) => {
                    return Ok(LakeLock { lake: lake.clone() });
                }
                Err(object_store::Error::AlreadyExists { .. }) => {
                    let holder: Option<LockInfo> = lake
                        .get(LOCK)
                        .await
                        .ok()
                        .and_then(|b| serde_json::from_slice(&b).ok());
                    match holder {
                        Some(h)
                            if h.host == me.host && (h.pid == me.pid || !process_alive(h.pid)) =>
                        {
                            lake.delete(LOCK).await?;
                        }
                        Some(h) => {
                            return Err(Error::Locked(
                                format!("pid {} on {} since {}", h.pid, h.host, h.started),
                                format!("{}/{LOCK}", lake.url),
                            ));
                        }
                        // Unreadable: a lock being written this instant, or a torn one.
                        None => tokio::time::sleep(std::time::Duration::from_millis(200)).await,
                    }
                }
                Err(e) => return Err(e.into()),
            }
        }
        Err(Error::Locked(
            "unknown holder".into(),
            format!("{}/{LOCK}", lake.url),
        ))
    }

    pub async fn release(self) -> Result<()> {
        self.lake.delete(LOCK).await
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn windows() {
        assert!(covers(None, Some((Some(1), Some(2)))));
        assert!(!covers(Some((Some(1), Some(5))), None));
        assert!(covers(Some((Some(1), Some(5))), Some((Some(2), Some(5)))));
        assert!(!covers(Some((Some(1), Some(5))), Some((Some(0), Some(5)))));
        assert_eq!(
            union(Some((Some(1), Some(2))), Some((Some(3), Some(4)))),
            Some((Some(1), Some(4)))
        );
        assert_eq!(union(Some((None, Some(2))), Some((Some(3), None))), None);
    }

    #[tokio::test]
    async fn source_records_round_trip_and_old_lakes_are_refused() {
        let dir = tempfile::tempdir().unwrap();
        let lake = Lake::open(dir.path().to_str().unwrap()).unwrap();
        let mut st = LakeState::load(&lake).await.unwrap();
        st.record(
            &lake,
            SourceRecord {
                run: "a".into(),
                time: String::new(),
                versions: BTreeMap::from([("cloudtrail".into(), 0)]),
                listed: vec![],
                quarantine: vec![],
                sources: vec![SourceEntry {
                    uri: "file:///s".into(),
                    size: 3,
                    modified: 7,
                    etag: None,
                    status: SourceStatus::Ingested,
                    detail: None,
                    records: 1,
                    window: None,
                }],
            },
        )
        .await
        .unwrap();
        let mut st = LakeState::load(&lake).await.unwrap();
        st.load_days(&lake, [day_key("file:///s")]).await.unwrap();
        assert_eq!(st.records, 1);
        assert!(st.is_current("file:///s", 3, 7, None, None));
        assert!(!st.is_current("file:///s", 4, 7, None, None));
        lake.put(
            &format!("{LEGACY_LOG_DIR}/000000000000.json"),
            b"{}".to_vec(),
        )
        .await
        .unwrap();
        let err = LakeState::load(&lake).await.unwrap_err();
        assert!(matches!(err, Error::NeedsUpgrade(_)), "{err}");
        assert!(err.to_string().contains("trailsql lake upgrade"), "{err}");
    }

    #[tokio::test]
    async fn lock_is_exclusive_and_stale_locks_are_taken_over() {
        let dir = tempfile::tempdir().unwrap();
        let lake = Lake::open(dir.path().to_str().unwrap()).unwrap();
        let stale = LockInfo {
            pid: u32::MAX - 1,
            host: hostname(),
            started: "then".into(),
        };
        lake.put(LOCK, serde_json::to_vec(&stale).unwrap())
            .await
            .unwrap();
        let lock = LakeLock::acquire(&lake).await.unwrap();
        let other = LockInfo {
            pid: 1,
            host: "elsewhere".into(),
            started: "now".into(),
        };
        lock.release().await.unwrap();
        lake.put(LOCK, serde_json::to_vec(&other).unwrap())
            .await
            .unwrap();
        assert!(matches!(
            LakeLock::acquire(&lake).await,
            Err(Error::Locked(..))
        ));
    }
}
