//! Lake maintenance: what keeps a lake fed for years as fast and as small as a lake written
//! in one run. [`compact`] rewrites a partition's small files as one (also run by ingest
//! after its commits), [`retain`] drops the partitions older than a window, [`vacuum`]
//! deletes the files no version within a window needs, and [`upgrade`] converts a lake of
//! the previous format (commit records in `_trailsql/log`) in place.
//!
//! None of them takes the lake's lock except the upgrade: compaction and retention commit
//! with Delta's conflict rules (see [`crate::table_change`]), so ingests may append while
//! they run; vacuum deletes only files no version within its window names.

pub mod compact;
pub mod retain;
pub mod upgrade;
pub mod vacuum;

pub use compact::{AUTO_COMPACT_FILES, COMPACT_FILE_BYTES, CompactOptions, CompactReport, compact};
pub use retain::{RetainReport, retain};
pub use upgrade::{UpgradeReport, upgrade};
pub use vacuum::{DEFAULT_VACUUM_RETENTION, VacuumOptions, VacuumReport, vacuum};

use crate::partition::PartitionKey;
use crate::store::Lake;
use crate::{Error, Result};

/// What ingest's maintenance after its commits did.
#[derive(Debug, Clone, Default, serde::Serialize)]
pub struct AfterIngest {
    #[serde(skip_serializing_if = "Option::is_none")]
    pub compacted: Option<CompactReport>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub retained: Option<RetainReport>,
    /// What failed (the run's data is committed all the same; the next run or
    /// `trailsql lake compact` does it).
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub problems: Vec<String>,
}

impl std::fmt::Display for AfterIngest {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        if let Some(r) = &self.retained {
            write!(f, "  {r}")?;
        }
        if let Some(c) = &self.compacted
            && (c.partitions > 0 || !c.skipped.is_empty())
        {
            write!(f, "  {c}")?;
        }
        for p in &self.problems {
            writeln!(f, "  warning: {p}")?;
        }
        Ok(())
    }
}

/// Ingest's maintenance once its data is committed: remove the partitions older than
/// `retain`, then compact the partitions the run wrote to that hold more than
/// [`AUTO_COMPACT_FILES`] small files written by more than one run. Never fails: the run's data is in; what goes wrong is
/// reported (and on stderr).
pub async fn after_ingest(
    lake: &Lake,
    touched: impl IntoIterator<Item = PartitionKey>,
    compact_touched: bool,
    retain_window: Option<chrono::Duration>,
) -> AfterIngest {
    let mut out = AfterIngest::default();
    if let Some(w) = retain_window {
        match retain(lake, w, chrono::Utc::now()).await {
            Ok(r) => out.retained = Some(r),
            Err(e) => out
                .problems
                .push(format!("retention after the run failed: {e}")),
        }
    }
    let touched: Vec<PartitionKey> = touched.into_iter().collect();
    if compact_touched && !touched.is_empty() {
        let opts = CompactOptions {
            partitions: Some(touched),
            min_files: AUTO_COMPACT_FILES,
            across_runs: true,
            ..Default::default()
        };
        match compact(lake, &opts).await {
            Ok(r) => out.compacted = Some(r),
            Err(e) => out
                .problems
                .push(format!("compaction after the run failed: {e}")),
        }
    }
    for p in &out.problems {
        eprintln!("warning: {p}");
    }
    out
}

/// A duration as users write it: `90d`, `2w`, `24h`, `30m`, `45s`, or `0`.
pub fn parse_duration(s: &str) -> Result<chrono::Duration> {
    let t = s.trim();
    let bad = || {
        Error::InvalidDuration(
            s.to_owned(),
            "expected a number and a unit: 90d, 2w, 24h, 30m, 45s (or 0)".into(),
        )
    };
    if t == "0" {
        return Ok(chrono::Duration::zero());
    }
    let unit = t.chars().last().ok_or_else(bad)?;
    let n: i64 = t[..t.len() - unit.len_utf8()].parse().map_err(|_| bad())?;
    if n < 0 {
        return Err(bad());
    }
    match unit {
        's' => Ok(chrono::Duration::seconds(n)),
        'm' => Ok(chrono::Duration::minutes(n)),
        'h' => Ok(chrono::Duration::hours(n)),
        'd' => Ok(chrono::Duration::days(n)),
        'w' => Ok(chrono::Duration::weeks(n)),
        _ => Err(bad()),
    }
}

/// The name of a maintenance run, as ingest names its runs: its files are
/// `part-RUN-SEQ.parquet`.
pub fn run_id() -> String {
    let now = chrono::Utc::now();
    format!(
        "{}{:04x}",
        now.format("%Y%m%dT%H%M%S"),
        (now.timestamp_subsec_nanos() ^ std::process::id().rotate_left(7)) & 0xffff
    )
}

/// A byte count for people.
pub(crate) fn bytes(b: u64) -> String {
    match b {
        b if b >= 1 << 30 => format!("{:.1} GiB", b as f64 / (1u64 << 30) as f64),
        b if b >= 1 << 20 => format!("{:.1} MiB", b as f64 / (1u64 << 20) as f64),
        b if b >= 1 << 10 => format!("{:.1} KiB", b as f64 / 1024.0),
        b => format!("{b} B"),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn durations_are_read_as_users_write_them() {
        assert_eq!(parse_duration("90d").unwrap(), chrono::Duration::days(90));
        assert_eq!(parse_duration("2w").unwrap(), chrono::Duration::days(14));
        assert_eq!(parse_duration(" 24h").unwrap(), chrono::Duration::hours(24));
        assert_eq!(parse_duration("0").unwrap(), chrono::Duration::zero());
        for bad in ["", "d", "90", "90y", "-1d", "x1d"] {
            let e = parse_duration(bad).unwrap_err().to_string();
            assert!(e.contains("90d"), "{bad:?}: {e}");
        }
    }
}
