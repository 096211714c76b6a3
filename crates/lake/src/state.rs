//! Ingest state under `LAKE/_trailsql/`: an append-only log of commits, each naming the data
//! files and quarantine files it made visible and the source objects it completed. A data
//! file that no commit names is the leftover of an interrupted run and is removed before the
//! next run starts, so the lake is always exactly the sum of its commits.

use std::collections::{BTreeMap, HashMap, HashSet};

use futures::StreamExt;
use object_store::path::Path;
use object_store::{PutMode, PutOptions, PutPayload};
use serde::{Deserialize, Serialize};

use crate::schema::Table;
use crate::store::Lake;
use crate::{Error, Result};

pub const STATE_DIR: &str = "_trailsql";
pub const LOG_DIR: &str = "_trailsql/log";
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

#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Commit {
    pub version: u32,
    pub run: String,
    pub time: String,
    pub files: Vec<FileEntry>,
    #[serde(default)]
    pub quarantine: Vec<String>,
    pub sources: Vec<SourceEntry>,
    /// Sources listed in full up to a time: a later run need list only the delivery days
    /// from then on.
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

/// The folded log.
#[derive(Debug, Default)]
pub struct LakeState {
    pub files: HashSet<String>,
    /// Committed data files by partition directory (`cloudtrail/date=D/region=R`).
    pub by_partition: HashMap<String, Vec<String>>,
    pub quarantine: HashSet<String>,
    pub sources: HashMap<String, SourceEntry>,
    /// The latest [`Listed`] time of each source.
    pub listed: HashMap<String, chrono::DateTime<chrono::Utc>>,
    pub commits: u64,
    next_seq: u64,
    /// Set once a run has chosen what to read: `sources` is no longer kept.
    sources_forgotten: bool,
}

impl LakeState {
    pub async fn load(lake: &Lake) -> Result<LakeState> {
        let mut names: Vec<String> = lake
            .list(LOG_DIR)
            .await?
            .into_iter()
            .map(|(p, _)| p)
            .filter(|p| p.ends_with(".json"))
            .collect();
        names.sort();
        let mut state = LakeState::default();
        let fetched: Vec<_> = futures::stream::iter(names.iter().map(|n| lake.get(n)))
            .buffered(16)
            .collect()
            .await;
        for (name, data) in names.iter().zip(fetched) {
            let data = data?;
            let commit: Commit = serde_json::from_slice(&data)
                .map_err(|e| Error::CorruptState(format!("{}/{name}: {e}", lake.url)))?;
            let seq = seq_of(name)
                .ok_or_else(|| Error::CorruptState(format!("unexpected log entry {name}")))?;
            state.apply(&commit);
            state.next_seq = state.next_seq.max(seq + 1);
        }
        Ok(state)
    }

    pub fn apply(&mut self, commit: &Commit) {
        for f in &commit.files {
            if self.files.insert(f.path.clone()) {
                let dir = f.path.rsplit_once('/').map_or("", |(d, _)| d).to_owned();
                self.by_partition
                    .entry(dir)
                    .or_default()
                    .push(f.path.clone());
            }
        }
        self.quarantine.extend(commit.quarantine.iter().cloned());
        let sources: &[SourceEntry] = if self.sources_forgotten {
            &[]
        } else {
            &commit.sources
        };
        for s in sources {
            let merged = match self.sources.get(&s.uri) {
                Some(prev) if same_object(prev, s) => SourceEntry {
                    window: union(prev.window, s.window),
                    ..s.clone()
                },
                _ => s.clone(),
            };
            self.sources.insert(s.uri.clone(), merged);
        }
        for l in &commit.listed {
            let at = self.listed.entry(l.source.clone()).or_insert(l.at);
            *at = (*at).max(l.at);
        }
        self.commits += 1;
    }

    /// Write a commit: the data it names must already be in place.
    pub async fn commit(&mut self, lake: &Lake, commit: Commit) -> Result<()> {
        let body = serde_json::to_vec(&commit)?;
        loop {
            let path = Path::from(format!("{LOG_DIR}/{:012}.json", self.next_seq));
            let opts = PutOptions {
                mode: PutMode::Create,
                ..Default::default()
            };
            match lake
                .store()
                .put_opts(&path, PutPayload::from(body.clone()), opts)
                .await
            {
                Ok(_) => break,
                // Only one ingest runs at a time (the lock), so a taken number means a
                // commit we have not seen yet: move past it.
                Err(object_store::Error::AlreadyExists { .. }) => self.next_seq += 1,
                Err(e) => return Err(e.into()),
            }
        }
        self.next_seq += 1;
        self.apply(&commit);
        Ok(())
    }

    /// Drop the sources (and stop recording them): what a run needs of them is only to
    /// choose what to read. At 4M events that is 98,000 entries, about 40 MB, which would
    /// otherwise grow with every commit of the run.
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

    /// Remove what an interrupted run left behind: our data and quarantine files that no
    /// commit names, and local staging files. Returns how many were removed.
    pub async fn remove_leftovers(&self, lake: &Lake) -> Result<usize> {
        let mut removed = lake.remove_local_staging()?;
        let mut dirs: Vec<&str> = Table::ALL.iter().map(|t| t.name()).collect();
        dirs.push(QUARANTINE_DIR);
        for dir in dirs {
            for (path, _) in lake.list(dir).await? {
                let name = path.rsplit('/').next().unwrap_or("");
                if name.starts_with(OUR_PREFIX)
                    && !self.files.contains(&path)
                    && !self.quarantine.contains(&path)
                {
                    lake.delete(&path).await?;
                    removed += 1;
                }
            }
        }
        Ok(removed)
    }

    /// Committed files, grouped by partition directory, sorted.
    pub fn partitions(&self) -> BTreeMap<&str, &[String]> {
        self.by_partition
            .iter()
            .map(|(k, v)| (k.as_str(), v.as_slice()))
            .collect()
    }
}

fn seq_of(name: &str) -> Option<u64> {
    name.rsplit('/').next()?.strip_suffix(".json")?.parse().ok()
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
    async fn commit_log_round_trip_and_leftovers() {
        let dir = tempfile::tempdir().unwrap();
        let lake = Lake::open(dir.path().to_str().unwrap()).unwrap();
        lake.put(
            "cloudtrail/date=2024-01-01/region=x/part-a-1.parquet",
            b"x".to_vec(),
        )
        .await
        .unwrap();
        lake.put(
            "cloudtrail/date=2024-01-01/region=x/part-a-2.parquet",
            b"x".to_vec(),
        )
        .await
        .unwrap();
        lake.put(
            "cloudtrail/date=2024-01-01/region=x/theirs.parquet",
            b"x".to_vec(),
        )
        .await
        .unwrap();
        let mut st = LakeState::load(&lake).await.unwrap();
        st.commit(
            &lake,
            Commit {
                version: 1,
                run: "a".into(),
                time: String::new(),
                files: vec![FileEntry {
                    path: "cloudtrail/date=2024-01-01/region=x/part-a-1.parquet".into(),
                    rows: 1,
                    bytes: 1,
                }],
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
        let st = LakeState::load(&lake).await.unwrap();
        assert!(st.is_current("file:///s", 3, 7, None, None));
        assert!(!st.is_current("file:///s", 4, 7, None, None));
        assert_eq!(st.remove_leftovers(&lake).await.unwrap(), 1);
        let left: Vec<String> = lake
            .list("cloudtrail")
            .await
            .unwrap()
            .into_iter()
            .map(|(p, _)| p)
            .collect();
        assert_eq!(left.len(), 2);
        assert!(left.iter().any(|p| p.ends_with("theirs.parquet")));
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
