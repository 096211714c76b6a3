//! Retention: the partitions whose every event is older than a window (their date ends
//! before `now - window`) removed from each table in one commit (Delta removes with
//! `dataChange: true`, a DELETE by date). The source state is not touched: the lake still
//! remembers having read those objects, so a later ingest of the same bucket does not bring
//! their events back. The files stay until [`super::vacuum`] deletes them.

use chrono::{DateTime, Utc};

use crate::schema::Table;
use crate::store::Lake;
use crate::table_change::Change;
use crate::table_log::TableLog;
use crate::{Error, Result};

/// What a retention removed.
#[derive(Debug, Clone, Default, PartialEq, serde::Serialize)]
pub struct RetainReport {
    /// Partitions dated before this day were removed.
    pub before: String,
    pub partitions: u64,
    pub files: u64,
    pub rows: u64,
    pub bytes: u64,
    /// The version each table's removal committed, by table.
    pub versions: std::collections::BTreeMap<String, u64>,
}

impl std::fmt::Display for RetainReport {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        if self.partitions == 0 {
            return writeln!(
                f,
                "retained everything: no partition is dated before {}",
                self.before
            );
        }
        writeln!(
            f,
            "removed {} partitions dated before {}: {} files, {} rows, {} (deleted from storage by `trailsql lake vacuum`)",
            self.partitions,
            self.before,
            self.files,
            self.rows,
            super::bytes(self.bytes)
        )
    }
}

/// Commits tried when concurrent compactions keep changing the old partitions.
const ATTEMPTS: usize = 10;

/// Remove the partitions older than `window` before `now`.
pub async fn retain(
    lake: &Lake,
    window: chrono::Duration,
    now: DateTime<Utc>,
) -> Result<RetainReport> {
    crate::state::check_format(lake).await?;
    // A partition holds the events of its date: it is all older than the cutoff when its
    // date is before the cutoff's.
    let cutoff = now - window;
    let before = cutoff.date_naive();
    let mut report = RetainReport {
        before: before.format("%Y-%m-%d").to_string(),
        ..Default::default()
    };
    let run = super::run_id();
    for table in Table::ALL {
        let mut log = TableLog::open(lake, table).await?;
        for attempt in 0.. {
            let old: Vec<_> = log
                .snapshot()?
                .files
                .into_iter()
                .filter(|f| f.partition.date < before)
                .collect();
            if old.is_empty() {
                break;
            }
            let change = Change::Retain {
                before: report.before.clone(),
            };
            match log.commit_change(&change, &old, &[], &run).await {
                Ok(version) => {
                    let parts: std::collections::HashSet<_> =
                        old.iter().map(|f| f.partition.clone()).collect();
                    report.partitions += parts.len() as u64;
                    report.files += old.len() as u64;
                    report.rows += old.iter().filter_map(|f| f.rows).sum::<u64>();
                    report.bytes += old.iter().map(|f| f.size).sum::<u64>();
                    report.versions.insert(table.name().to_owned(), version);
                    break;
                }
                // A compaction rewrote some of them meanwhile: choose again from the latest
                // version.
                Err(Error::Conflict(_)) if attempt + 1 < ATTEMPTS => continue,
                Err(e) => return Err(e),
            }
        }
    }
    Ok(report)
}
