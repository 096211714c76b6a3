//! A round of the watcher as the user sees it: one line per round with something new, one
//! line per finding, and the totals printed when the watcher stops.

use std::fmt::Write as _;

use chrono::{DateTime, SecondsFormat, Utc};
use serde_json::Value;
use trailsql_ingest::Summary;

use crate::notify::Delivery;

/// Whether a round read or wrote anything worth a line.
pub fn has_news(s: &Summary) -> bool {
    s.objects_read > 0 || s.written > 0 || s.quarantined > 0
}

fn plural(n: u64, one: &str, many: &str) -> String {
    format!("{n} {}", if n == 1 { one } else { many })
}

/// `TIME round N: 3 objects, 150 events written, 2 duplicates, 1 commit, 4 findings (0.41s)`.
pub fn line(
    number: u64,
    at: DateTime<Utc>,
    s: &Summary,
    findings: Option<usize>,
    seconds: f64,
) -> String {
    let mut l = format!(
        "{} round {number}: {}, {} written, {}, {}",
        stamp(at),
        plural(s.objects_read, "object", "objects"),
        plural(s.written, "event", "events"),
        plural(
            s.duplicates_in_run + s.duplicates_in_lake,
            "duplicate",
            "duplicates"
        ),
        plural(s.commits, "commit", "commits"),
    );
    if let Some(f) = findings {
        let _ = write!(l, ", {}", plural(f as u64, "finding", "findings"));
    }
    if s.quarantined > 0 {
        let _ = write!(l, ", {} quarantined", s.quarantined);
    }
    let bad = s.objects_rejected + s.objects_damaged;
    if bad > 0 {
        let _ = write!(l, ", {} not read", plural(bad, "object", "objects"));
    }
    let _ = write!(l, " ({seconds:.2}s)");
    l
}

/// A heartbeat for a quiet round (with `-v`).
pub fn quiet_line(number: u64, at: DateTime<Utc>, s: &Summary, seconds: f64) -> String {
    format!(
        "{} round {number}: nothing new ({} listed, {seconds:.2}s)",
        stamp(at),
        plural(s.objects_listed, "object", "objects")
    )
}

pub fn stamp(at: DateTime<Utc>) -> String {
    at.to_rfc3339_opts(SecondsFormat::Secs, true)
}

/// One finding, from its detections-table row as JSON:
/// `  high  Trail deleted: cloudtrail.amazonaws.com DeleteTrail by ARN in ACCOUNT/REGION at TIME (ID)`.
pub fn finding_line(f: &Value) -> String {
    let s = |k: &str| f[k].as_str().unwrap_or("-");
    let mut l = format!(
        "  {:<8} {}: {} {} by {} in {}/{} at {} ({})",
        s("level"),
        s("rule_title"),
        s("eventsource"),
        s("eventname"),
        s("principal"),
        s("account"),
        s("region"),
        s("eventtime"),
        s("eventid"),
    );
    if let Some(g) = f["group"].as_str() {
        let _ = write!(l, " group {g}");
    }
    l
}

/// What a watcher did, from start to stop.
#[derive(Debug, Default, Clone, serde::Serialize)]
pub struct Totals {
    pub rounds: u64,
    pub rounds_failed: u64,
    pub objects_read: u64,
    pub written: u64,
    pub duplicates: u64,
    pub quarantined: u64,
    pub commits: u64,
    /// Findings reported (with `--detect`).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub findings: Option<u64>,
    /// Detection runs that failed (tried again after the next round).
    pub detect_failed: u64,
    pub seconds: f64,
    /// With `--notify`: what became of the findings sent.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub notify: Option<Delivery>,
}

impl Totals {
    pub fn add(&mut self, s: &Summary) {
        self.objects_read += s.objects_read;
        self.written += s.written;
        self.duplicates += s.duplicates_in_run + s.duplicates_in_lake;
        self.quarantined += s.quarantined;
        self.commits += s.commits;
    }
}

impl std::fmt::Display for Totals {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            "stopped after {} in {:.0}s: {}, {} written, {}, {}",
            plural(self.rounds, "round", "rounds"),
            self.seconds,
            plural(self.objects_read, "object", "objects"),
            plural(self.written, "event", "events"),
            plural(self.duplicates, "duplicate", "duplicates"),
            plural(self.commits, "commit", "commits"),
        )?;
        if let Some(n) = self.findings {
            write!(f, ", {}", plural(n, "finding", "findings"))?;
        }
        if self.quarantined > 0 {
            write!(f, ", {} quarantined", self.quarantined)?;
        }
        if self.rounds_failed > 0 {
            write!(
                f,
                "; {} failed",
                plural(self.rounds_failed, "round", "rounds")
            )?;
        }
        if self.detect_failed > 0 {
            write!(
                f,
                "; {} failed",
                plural(self.detect_failed, "detection run", "detection runs")
            )?;
        }
        if let Some(d) = &self.notify {
            write!(
                f,
                "; notify: {} delivered in {}",
                plural(d.findings_delivered, "finding", "findings"),
                plural(d.posts_delivered, "post", "posts")
            )?;
            if d.lost() > 0 {
                write!(
                    f,
                    ", {} NOT delivered ({} given up, {} dropped with the queue full, {} still queued at exit)",
                    d.lost(),
                    d.findings_failed,
                    d.findings_dropped,
                    d.findings_undelivered
                )?;
            }
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_round_line_counts_what_the_round_did() {
        let s = Summary {
            objects_read: 3,
            written: 150,
            duplicates_in_lake: 1,
            commits: 1,
            ..Default::default()
        };
        let at = DateTime::parse_from_rfc3339("2026-12-07T08:00:00Z")
            .unwrap()
            .with_timezone(&Utc);
        assert!(has_news(&s));
        assert_eq!(
            line(4, at, &s, Some(2), 0.412),
            "2026-12-07T08:00:00Z round 4: 3 objects, 150 events written, 1 duplicate, 1 commit, 2 findings (0.41s)"
        );
        assert!(!has_news(&Summary::default()));
    }

    #[test]
    fn totals_say_what_was_not_delivered() {
        let t = Totals {
            rounds: 3,
            written: 10,
            findings: Some(4),
            notify: Some(Delivery {
                posts_delivered: 1,
                findings_delivered: 3,
                findings_undelivered: 1,
                ..Default::default()
            }),
            ..Default::default()
        };
        let text = t.to_string();
        assert!(
            text.ends_with("notify: 3 findings delivered in 1 post, 1 NOT delivered (0 given up, 0 dropped with the queue full, 1 still queued at exit)"),
            "{text}"
        );
    }
}
