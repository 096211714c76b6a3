//! The accounting of an ingest run ([`Summary`]): every object and every record, the
//! problems met, and its text for the terminal.

use std::collections::BTreeMap;

use serde::Serialize;

use trailsql_lake::state::QUARANTINE_DIR;
use trailsql_store::bytes;

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
        self.write_records(f)?;
        self.write_objects(f)?;
        if let Some(v) = &self.verification {
            write_verification(v, f)?;
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

impl Summary {
    /// The records' lines: written, duplicates, quarantined and the rest not written.
    fn write_records(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let tables = counts(&self.written_by_table);
        writeln!(
            f,
            "  written         {:>10}  ({}) in {} files, {}",
            n(self.written),
            if tables.is_empty() {
                "nothing new".into()
            } else {
                tables
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
            let total = self.messages_skipped.values().sum();
            writeln!(
                f,
                "  messages skipped{:>10}  ({})",
                n(total),
                counts(&self.messages_skipped)
            )?;
        }
        if self.older_than_retention > 0 {
            let r = n(self.older_than_retention);
            writeln!(f, "  older than the retention window {r}")?;
        }
        Ok(())
    }

    /// The objects' line, and the objects that could not be read.
    fn write_objects(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let skipped = counts(&self.skipped_by_reason);
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
                format!(" ({skipped})")
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
        Ok(())
    }
}

/// The line of `ingest --verify`.
fn write_verification(v: &Verification, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
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
    Ok(())
}

/// `name count, name count` of a map of counts.
fn counts(m: &BTreeMap<String, u64>) -> String {
    m.iter()
        .map(|(k, c)| format!("{k} {}", n(*c)))
        .collect::<Vec<_>>()
        .join(", ")
}

pub(crate) fn n(v: u64) -> String {
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
