//! Vacuum: delete the data files that no table version within a window needs.
//!
//! - Files removed (by a compaction or a retention) by a commit older than the window:
//!   delta-rs's vacuum, in its lite mode, which deletes exactly the removes whose
//!   `deletionTimestamp` is older than the window (and records VACUUM START/END versions).
//! - Files of killed or failed runs that no version ever named, older than the window: ours,
//!   and only files named `part-*` (trailsql's), never what someone else put in the folders.
//!   (delta-rs's full mode would delete every file the log does not name.)
//!
//! The window protects readers still on an older version and writes in flight: their files
//! are younger than it. Delta's default is 7 days (`delta.deletedFileRetentionDuration`).
//! After a vacuum with a window of 0 the folders hold exactly the latest version's files, so
//! plain Hive readers (no Delta log) read the same rows as trailsql.

use std::collections::HashSet;

use deltalake::operations::vacuum::VacuumMode;
use futures::TryStreamExt;
use object_store::ObjectStore;
use object_store::path::Path;

use crate::Result;
use crate::schema::Table;
use crate::state::OUR_PREFIX;
use crate::store::Lake;
use crate::table_log::TableLog;

/// Delta's default `delta.deletedFileRetentionDuration`.
pub const DEFAULT_VACUUM_RETENTION: chrono::Duration = chrono::Duration::days(7);

#[derive(Debug, Clone)]
pub struct VacuumOptions {
    /// Keep what a version committed within this window needs.
    pub older_than: chrono::Duration,
    /// List what would be deleted, delete nothing.
    pub dry_run: bool,
}

impl Default for VacuumOptions {
    fn default() -> Self {
        VacuumOptions {
            older_than: DEFAULT_VACUUM_RETENTION,
            dry_run: false,
        }
    }
}

/// A file vacuum deleted (or would delete).
#[derive(Debug, Clone, PartialEq, serde::Serialize)]
pub struct Vacuumed {
    /// Below the lake root.
    pub path: String,
    /// `removed`: a version older than the window removed it; `uncommitted`: no version
    /// ever named it.
    pub why: &'static str,
}

#[derive(Debug, Clone, Default, PartialEq, serde::Serialize)]
pub struct VacuumReport {
    pub dry_run: bool,
    pub files: Vec<Vacuumed>,
}

impl std::fmt::Display for VacuumReport {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let verb = if self.dry_run {
            "would delete"
        } else {
            "deleted"
        };
        for v in &self.files {
            writeln!(f, "{verb} {} ({})", v.path, v.why)?;
        }
        writeln!(f, "vacuum {verb} {} files", self.files.len())
    }
}

/// Vacuum every table of the lake.
pub async fn vacuum(lake: &Lake, opts: &VacuumOptions) -> Result<VacuumReport> {
    crate::state::check_format(lake).await?;
    if opts.older_than < DEFAULT_VACUUM_RETENTION {
        eprintln!(
            "warning: vacuum keeps only what versions of the last {}s need (Delta's default is 7 days): a reader on an older version, or an ingest in flight, may lose files it is reading or writing",
            opts.older_than.num_seconds()
        );
    }
    let mut report = VacuumReport {
        dry_run: opts.dry_run,
        files: Vec::new(),
    };
    let cutoff = chrono::Utc::now() - opts.older_than;
    for table in Table::ALL {
        let log = TableLog::open(lake, table).await?;
        // Every file a version still in the log names: the live ones and the removed ones
        // (tombstones), read before delta-rs deletes the expired ones. A table without a log
        // yet names none (the files of a first write killed before its commit).
        let mut named: HashSet<String> =
            log.snapshot()?.files.into_iter().map(|f| f.path).collect();
        if log.snapshot()?.version.is_some() {
            let delta = log.delta();
            let tombstones: Vec<String> = delta
                .snapshot()?
                .all_tombstones(delta.log_store().as_ref())
                .map_ok(|t| format!("{}/{}", table.name(), t.path()))
                .try_collect()
                .await?;
            named.extend(tombstones);
            let (_, metrics) = delta
                .clone()
                .vacuum()
                .with_mode(VacuumMode::Lite)
                .with_retention_period(opts.older_than)
                .with_enforce_retention_duration(false)
                .with_dry_run(opts.dry_run)
                .await?;
            for path in metrics.files_deleted {
                report.files.push(Vacuumed {
                    path: format!("{}/{path}", table.name()),
                    why: "removed",
                });
            }
        }
        for path in uncommitted(lake, table, &named, cutoff).await? {
            if !opts.dry_run {
                lake.delete(&path).await?;
            }
            report.files.push(Vacuumed {
                path,
                why: "uncommitted",
            });
        }
    }
    Ok(report)
}

/// Our data files in the table's folders that no version names, last written before
/// `cutoff`.
async fn uncommitted(
    lake: &Lake,
    table: Table,
    named: &HashSet<String>,
    cutoff: chrono::DateTime<chrono::Utc>,
) -> Result<Vec<String>> {
    let prefix = Path::from(table.name());
    let metas: Vec<_> = lake.store().list(Some(&prefix)).try_collect().await?;
    let mut out = Vec::new();
    for m in metas {
        let path = m.location.to_string();
        let ours = m
            .location
            .filename()
            .is_some_and(|n| n.starts_with(OUR_PREFIX) && n.ends_with(".parquet"));
        let in_data = !path.contains("/_delta_log/");
        if ours && in_data && m.last_modified < cutoff && !named.contains(&path) {
            out.push(path);
        }
    }
    out.sort();
    Ok(out)
}
