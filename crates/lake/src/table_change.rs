//! A change of a table that removes files: a compaction (files rewritten as fewer, the rows
//! unchanged) or a retention (partitions dropped). Both commit their removes and adds in one
//! Delta version, and only if every file they remove is still in the table at the version
//! they commit on: a file removed meanwhile by another compaction or a retention makes the
//! change fail with [`Error::Conflict`], so removed rows never come back. Appends committed
//! meanwhile by other writers commute with either change and are kept.

use std::collections::{HashMap, HashSet};

use deltalake::kernel::transaction::{CommitBuilder, CommitProperties};
use deltalake::kernel::{Action, Remove};
use deltalake::protocol::DeltaOperation;

use crate::schema::Table;
use crate::table_log::{DataFile, NewFile, TableLog, add_action, relative};
use crate::{Error, Result};

/// What a change does, which says how Delta records it.
#[derive(Debug, Clone, PartialEq)]
pub enum Change {
    /// Files rewritten as fewer: `dataChange: false` on both removes and adds, so that
    /// streaming readers skip the version (Delta's rule for OPTIMIZE); recorded as an
    /// OPTIMIZE with the target size of a compacted file.
    Compact { target_size: u64 },
    /// Partitions older than `before` (a date) dropped: `dataChange: true` removes, recorded
    /// as a DELETE with its predicate.
    Retain { before: String },
}

/// Commits tried before giving up on a table that other writers keep changing.
const ATTEMPTS: usize = 20;

fn remove_action(table: Table, f: &DataFile, now: i64, data_change: bool) -> Remove {
    Remove {
        path: relative(table, &f.path).to_owned(),
        data_change,
        deletion_timestamp: Some(now),
        extended_file_metadata: Some(true),
        partition_values: Some(HashMap::from([
            ("date".to_owned(), Some(f.partition.date_value())),
            ("region".to_owned(), Some(f.partition.region.clone())),
        ])),
        size: Some(f.size as i64),
        ..Default::default()
    }
}

impl TableLog {
    /// Commit `change`: remove `removes` (files of the version in hand) and add `adds`
    /// (already in place), in one version; returns it. Fails with [`Error::Conflict`] when a
    /// file to remove is no longer in the table's latest version.
    pub async fn commit_change(
        &mut self,
        change: &Change,
        removes: &[DataFile],
        adds: &[NewFile],
        run: &str,
    ) -> Result<u64> {
        self.ensure_created().await?;
        let table = self.table();
        let now = chrono::Utc::now().timestamp_millis();
        let data_change = matches!(change, Change::Retain { .. });
        let mut actions: Vec<Action> = removes
            .iter()
            .map(|f| Action::Remove(remove_action(table, f, now, data_change)))
            .collect();
        actions.extend(adds.iter().map(|f| {
            let mut add = add_action(table, f, now);
            add.data_change = data_change;
            Action::Add(add)
        }));
        let operation = match change {
            Change::Compact { target_size } => DeltaOperation::Optimize {
                predicate: None,
                target_size: *target_size as i64,
            },
            Change::Retain { before } => DeltaOperation::Delete {
                predicate: Some(format!("date < '{before}'")),
            },
        };
        let metadata = HashMap::from([("trailsqlRun".to_owned(), run.into())]);
        for _ in 0..ATTEMPTS {
            // delta-rs's own conflict check lets a `dataChange: false` remove of a file that
            // another compaction removed too pass (both would add the rows again): the check
            // is ours, on the version committed on, and the commit is tried without retries.
            let live: HashSet<String> =
                self.snapshot()?.files.into_iter().map(|f| f.path).collect();
            if let Some(gone) = removes.iter().find(|f| !live.contains(&f.path)) {
                return Err(Error::Conflict(format!(
                    "{} was removed by a concurrent commit (version {})",
                    gone.path,
                    self.delta().version().unwrap_or_default()
                )));
            }
            let read_version = self.delta().version();
            let committed =
                CommitBuilder::from(CommitProperties::default().with_metadata(metadata.clone()))
                    .with_actions(actions.clone())
                    .with_max_retries(0)
                    .build(
                        Some(self.delta().snapshot()?),
                        self.delta().log_store(),
                        operation.clone(),
                    )
                    .await;
            match committed {
                Ok(c) => {
                    let version = c.version();
                    self.delta_mut().update_incremental(None).await?;
                    return Ok(version);
                }
                Err(e) => {
                    // Another writer committed first: look again at the latest version.
                    self.delta_mut().update_incremental(None).await?;
                    if self.delta().version() == read_version {
                        return Err(e.into());
                    }
                }
            }
        }
        Err(Error::Conflict(format!(
            "{}: {ATTEMPTS} commits in a row lost to concurrent writers",
            table.name()
        )))
    }
}

/// The paths (below the lake root) of files added after version `before` up to `last` that
/// hold rows new since `before`: appended files, and compaction outputs that took in such a
/// file. `None` when a commit in between can no longer be read (cleaned up).
pub(crate) async fn new_paths(
    log: &TableLog,
    before: u64,
    last: u64,
) -> Result<Option<HashSet<String>>> {
    let table = log.table();
    let store = log.delta().log_store();
    let full = |rel: &str| format!("{}/{rel}", table.name());
    let mut new: HashSet<String> = HashSet::new();
    for version in before + 1..=last {
        let Some(bytes) = store.read_commit_entry(version as _).await? else {
            return Ok(None);
        };
        let actions = deltalake::logstore::get_actions(version as _, &bytes)?;
        // Partitions of this commit that lost a new file (a compaction of new rows).
        let mut took_new = HashSet::new();
        for a in &actions {
            if let Action::Remove(r) = a
                && new.remove(&full(&r.path))
            {
                took_new.insert(partition_of(r.partition_values.as_ref(), &r.path));
            }
        }
        for a in &actions {
            if let Action::Add(add) = a
                && (add.data_change
                    || took_new.contains(&partition_of(Some(&add.partition_values), &add.path)))
            {
                new.insert(full(&add.path));
            }
        }
    }
    Ok(Some(new))
}

/// A file's partition as its action names it (its folder when the action has no values).
fn partition_of(values: Option<&HashMap<String, Option<String>>>, path: &str) -> String {
    match values {
        Some(v) if !v.is_empty() => {
            let mut kv: Vec<String> = v.iter().map(|(k, v)| format!("{k}={v:?}")).collect();
            kv.sort();
            kv.join("/")
        }
        _ => path.rsplit_once('/').map_or("", |(d, _)| d).to_owned(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::partition::PartitionKey;
    use crate::store::Lake;

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

    const COMPACT: Change = Change::Compact { target_size: 100 };

    #[tokio::test]
    async fn a_change_fails_when_a_concurrent_one_removed_its_files_and_commutes_with_appends() {
        let dir = tempfile::tempdir().unwrap();
        let lake = Lake::open(dir.path().to_str().unwrap()).unwrap();
        let mut first = TableLog::open(&lake, Table::CloudTrail).await.unwrap();
        first.append(&[file("a"), file("b")], "r1").await.unwrap();
        let mut second = TableLog::open(&lake, Table::CloudTrail).await.unwrap();
        let files = first.snapshot().unwrap().files;
        let v = first
            .commit_change(&COMPACT, &files, &[file("c")], "c1")
            .await
            .unwrap();
        // The compaction changes no data, and says it is one.
        let commit = std::fs::read_to_string(
            dir.path()
                .join(format!("cloudtrail/_delta_log/{v:020}.json")),
        )
        .unwrap();
        assert!(commit.contains("\"OPTIMIZE\""), "{commit}");
        assert!(!commit.contains("\"dataChange\":true"), "{commit}");
        // A second compaction of the same files, from the version before the first: it would
        // add their rows again.
        let err = second
            .commit_change(&COMPACT, &files, &[file("d")], "c2")
            .await
            .unwrap_err();
        assert!(matches!(err, Error::Conflict(_)), "{err}");
        // A retention from the version in hand commits after a concurrent append, which it
        // keeps.
        let mut retention = TableLog::open(&lake, Table::CloudTrail).await.unwrap();
        let live = retention.snapshot().unwrap().files;
        TableLog::open(&lake, Table::CloudTrail)
            .await
            .unwrap()
            .append(&[file("e")], "r2")
            .await
            .unwrap();
        let before = Change::Retain {
            before: "2024-02-01".into(),
        };
        retention
            .commit_change(&before, &live, &[], "x")
            .await
            .unwrap();
        let now = TableLog::open(&lake, Table::CloudTrail).await.unwrap();
        assert_eq!(names(&now.snapshot().unwrap().files), ["e.parquet"]);
    }

    #[tokio::test]
    async fn new_rows_are_followed_through_compactions() {
        let dir = tempfile::tempdir().unwrap();
        let lake = Lake::open(dir.path().to_str().unwrap()).unwrap();
        let mut log = TableLog::open(&lake, Table::CloudTrail).await.unwrap();
        let v1 = log.append(&[file("a")], "r1").await.unwrap();
        let v2 = log.append(&[file("b")], "r2").await.unwrap();
        let files = log.snapshot().unwrap().files;
        log.commit_change(&COMPACT, &files, &[file("c")], "c")
            .await
            .unwrap();
        // `c` holds `b`'s rows, new since v1; since v2, nothing is new.
        assert_eq!(names(&log.added_after(v1).await.unwrap()), ["c.parquet"]);
        assert!(log.added_after(v2).await.unwrap().is_empty());
        log.append(&[file("d")], "r3").await.unwrap();
        assert_eq!(names(&log.added_after(v2).await.unwrap()), ["d.parquet"]);
    }
}
