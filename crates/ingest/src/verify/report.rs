//! The report of a validation: a verdict per object, notes, skipped objects by reason.

use std::collections::BTreeMap;
use std::io::Write;

use serde::Serialize;

/// The verdict on one object.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Verdict {
    /// A log whose SHA-256 is the one a valid digest lists; a digest whose signature verifies
    /// and whose chain holds.
    Valid,
    /// A log whose SHA-256 differs from its digest's; a digest whose SHA-256 differs from the
    /// one its successor records.
    Modified,
    /// A log a valid digest lists that is not there.
    Deleted,
    /// A log that no valid digest lists.
    NotCovered,
    /// A digest the chain needs that is not there.
    DigestMissing,
    /// A digest whose signature does not verify, is missing, or was made for another location.
    SignatureInvalid,
    /// A digest signed with a key that is not in the keys file (or not valid at its time).
    KeyNotFound,
    /// A digest that is not a digest file, or an object that cannot be read.
    Malformed,
}

impl Verdict {
    pub fn as_str(self) -> &'static str {
        match self {
            Verdict::Valid => "valid",
            Verdict::Modified => "modified",
            Verdict::Deleted => "deleted",
            Verdict::NotCovered => "not covered",
            Verdict::DigestMissing => "digest missing",
            Verdict::SignatureInvalid => "signature invalid",
            Verdict::KeyNotFound => "key not found",
            Verdict::Malformed => "malformed",
        }
    }
}

impl std::fmt::Display for Verdict {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Kind {
    Log,
    Digest,
}

/// One object's verdict.
#[derive(Debug, Clone, Serialize)]
pub struct ObjectReport {
    pub kind: Kind,
    /// `file:///...` or `s3://bucket/key`; for a gap in a chain, the digest after which
    /// digests are missing, suffixed with `#after`.
    pub object: String,
    pub verdict: Verdict,
    #[serde(skip_serializing_if = "String::is_empty")]
    pub detail: String,
    /// The digest that lists a log file.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub digest: Option<String>,
}

/// The result of a validation run.
#[derive(Debug, Clone, Default, Serialize)]
pub struct Report {
    pub objects: Vec<ObjectReport>,
    /// Facts that are not failures: chains that restart (logging or validation was off).
    pub notes: Vec<String>,
    /// Objects that are not CloudTrail log files or digests (a README, the keys file, Insights
    /// files), by reason: not judged, as ingest skips them.
    pub skipped: BTreeMap<String, u64>,
    /// Requests made to each S3 store, with their bytes.
    pub requests: trailsql_store::RequestStats,
}

impl Report {
    /// Every object valid.
    pub fn ok(&self) -> bool {
        self.objects.iter().all(|o| o.verdict == Verdict::Valid)
    }

    pub fn counts(&self) -> BTreeMap<(Kind, Verdict), usize> {
        let mut c = BTreeMap::new();
        for o in &self.objects {
            *c.entry((o.kind, o.verdict)).or_default() += 1;
        }
        c
    }

    pub fn summary_line(&self) -> String {
        let counts = self.counts();
        let part = |kind: Kind| {
            let n: usize = counts
                .iter()
                .filter(|((k, _), _)| *k == kind)
                .map(|(_, n)| n)
                .sum();
            let detail: Vec<String> = counts
                .iter()
                .filter(|((k, _), _)| *k == kind)
                .map(|((_, v), n)| format!("{n} {v}"))
                .collect();
            if detail.is_empty() {
                "0".to_owned()
            } else {
                format!("{n} ({})", detail.join(", "))
            }
        };
        let skipped: u64 = self.skipped.values().sum();
        let skipped = if skipped == 0 {
            String::new()
        } else {
            let by: Vec<String> = self
                .skipped
                .iter()
                .map(|(r, n)| format!("{r} {n}"))
                .collect();
            format!("; skipped {skipped} ({})", by.join(", "))
        };
        format!(
            "{}: digests {}; log files {}{skipped}",
            if self.ok() { "VALID" } else { "INVALID" },
            part(Kind::Digest),
            part(Kind::Log)
        )
    }

    /// The JSON document: `{"valid": bool, "summary": {...}, "objects": [...], "notes": [...],
    /// "skipped": {reason: count}}`.
    pub fn to_json(&self) -> serde_json::Value {
        let mut summary = serde_json::Map::new();
        for ((kind, verdict), n) in self.counts() {
            let k = match kind {
                Kind::Log => "log",
                Kind::Digest => "digest",
            };
            let entry = summary
                .entry(k)
                .or_insert_with(|| serde_json::Value::Object(Default::default()));
            entry[serde_json::to_value(verdict).unwrap().as_str().unwrap()] = n.into();
        }
        serde_json::json!({
            "valid": self.ok(),
            "summary": summary,
            "objects": self.objects,
            "notes": self.notes,
            "skipped": self.skipped,
            "requests": self.requests,
        })
    }

    /// A table of the objects that are not valid (all of them with `all`), notes, then the
    /// summary line.
    pub fn write_table(&self, w: &mut dyn Write, all: bool) -> std::io::Result<()> {
        let rows: Vec<&ObjectReport> = self
            .objects
            .iter()
            .filter(|o| all || o.verdict != Verdict::Valid)
            .collect();
        if !rows.is_empty() {
            let vw = rows
                .iter()
                .map(|o| o.verdict.as_str().len())
                .max()
                .unwrap_or(0);
            writeln!(w, "{:<vw$}  {:<6}  object / detail", "verdict", "kind")?;
            for o in rows {
                let kind = match o.kind {
                    Kind::Log => "log",
                    Kind::Digest => "digest",
                };
                let object = o.object.strip_prefix("file://").unwrap_or(&o.object);
                writeln!(w, "{:<vw$}  {kind:<6}  {object}", o.verdict.as_str())?;
                if !o.detail.is_empty() {
                    writeln!(w, "{:<vw$}  {:<6}    {}", "", "", o.detail)?;
                }
            }
        }
        for n in &self.notes {
            writeln!(w, "note: {n}")?;
        }
        writeln!(w, "{}", self.summary_line())?;
        if !self.requests.is_empty() {
            let mut lines = String::new();
            self.requests
                .write_lines(&mut lines, "requests: ")
                .expect("write to a String");
            w.write_all(lines.as_bytes())?;
        }
        Ok(())
    }

    /// The verdict on each log object, by URI, for the lake's `cloudtrail_sources` table.
    pub fn log_verdicts(&self) -> impl Iterator<Item = &ObjectReport> {
        self.objects.iter().filter(|o| o.kind == Kind::Log)
    }
}

/// The lake table recording, per source log object, the verdict of `ingest --verify`: rows
/// join `cloudtrail.sourceobject`; each verification run appends one file.
/// The report's log verdicts, as the lake's `cloudtrail_sources` table records them.
pub fn source_verdicts(report: &Report) -> Vec<trailsql_lake::sources::Verdict<'_>> {
    report
        .log_verdicts()
        .map(|o| trailsql_lake::sources::Verdict {
            object: &o.object,
            verdict: o.verdict.as_str(),
            detail: (!o.detail.is_empty()).then_some(o.detail.as_str()),
            digest: o.digest.as_deref(),
        })
        .collect()
}
