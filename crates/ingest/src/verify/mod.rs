//! Integrity validation: a verdict on every log file and digest file of a trail, following
//! AWS's published algorithm ("CloudTrail digest file structure", "Custom implementations of
//! CloudTrail log file integrity validation"), offline.
//!
//! A digest's signature is read from its object's `x-amz-meta-signature` metadata, from a
//! sidecar `DIGEST.sig` file (hex, for offline copies), or from the next digest's
//! `previousDigestSignature` (carried forward). Chains are per account, region and trail.

mod digest;
mod keys;

use std::collections::{BTreeMap, HashMap, HashSet};
use std::io::{Read, Write};
use std::sync::Arc;

use chrono::{DateTime, Duration, Utc};
use futures::{StreamExt, TryStreamExt};
use object_store::{Attribute, ObjectStoreExt};
use serde::Serialize;
use sha2::{Digest as _, Sha256};

pub use digest::{Digest, DigestName, LogFile, log_time, signature_ok};
pub use keys::{KeyProblem, PublicKey, PublicKeys};

use crate::source::{self, Listing, SourceObject};
use crate::{Error, Result};

/// What to validate.
#[derive(Debug, Clone)]
pub struct VerifyOptions {
    pub sources: Vec<String>,
    pub keys: PublicKeys,
    /// Log files delivered at or after this time (and the digests that cover them).
    pub since: Option<DateTime<Utc>>,
    /// Log files delivered at or before this time.
    pub until: Option<DateTime<Utc>>,
    pub accounts: Vec<String>,
    pub regions: Vec<String>,
    /// Requests in flight at once (objects fetched, prefixes listed).
    pub parallelism: usize,
}

impl VerifyOptions {
    pub fn new(sources: Vec<String>, keys: PublicKeys) -> Self {
        VerifyOptions {
            sources,
            keys,
            since: None,
            until: None,
            accounts: Vec::new(),
            regions: Vec::new(),
            parallelism: crate::ingest::DEFAULT_MAX_REQUESTS,
        }
    }
}

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

enum Class {
    Digest(Option<DigestName>),
    Signature,
    Log,
    Skip(&'static str),
}

fn classify(key: &str) -> Class {
    let name = key.rsplit('/').next().unwrap_or(key);
    if name.ends_with(".sig") {
        return Class::Signature;
    }
    if key.contains("/CloudTrail-Digest/") || name.contains("_CloudTrail-Digest_") {
        return Class::Digest(DigestName::parse(key));
    }
    // Insights files are not listed in digests; AWS Config's check file is not a log.
    if key.contains("/CloudTrail-Insight/") {
        return Class::Skip("CloudTrail Insights file");
    }
    if name.ends_with("ConfigWritabilityCheckFile") {
        return Class::Skip("AWS Config file");
    }
    Class::Log
}

/// Whether a key is named as CloudTrail names the log files it delivers
/// (`.../YYYY/MM/DD/ACCOUNT_CloudTrail_REGION_...`): such an object is judged whatever it
/// holds, since a log file altered into something else is what validation is for.
fn named_as_log(key: &str) -> bool {
    log_time(key).is_some() || source::key_delivery_date(key).is_some()
}

/// How much of an object not named as a log file is read to tell whether it holds CloudTrail
/// events.
const SNIFF_BYTES: usize = 4 << 20;

/// Whether an object not named as a log file holds CloudTrail events, as ingest reads it:
/// `Err(reason)` for what ingest skips or rejects (a README, the keys file, a digest copy).
async fn sniff_log(obj: &SourceObject) -> std::result::Result<(), String> {
    // An object that cannot be read is judged: it may be a log file.
    let Ok((bytes, _)) = fetch(obj).await else {
        return Ok(());
    };
    let name = obj.display().to_owned();
    blocking(move || {
        let (plain, _) = crate::shape::decompress_prefix(&bytes, SNIFF_BYTES);
        match crate::shape::read_contents(&name, &plain).verdict {
            crate::shape::Verdict::Events(_) | crate::shape::Verdict::Damaged(..) => Ok(()),
            crate::shape::Verdict::Skipped(why) => Err(why.to_owned()),
            crate::shape::Verdict::Rejected(_) => Err("not CloudTrail".to_owned()),
        }
    })
    .await
    .unwrap_or_else(|e| Err(e.to_string()))
}

/// The part of a key from `AWSLogs/` on: what a digest's key and the key of its copy share
/// whatever bucket or prefix they live under.
fn rel(key: &str) -> &str {
    key.find("AWSLogs/").map_or(key, |i| &key[i..])
}

/// The URI of `key` (a key a digest names) next to `obj`.
fn sibling(obj: &SourceObject, key: &str) -> String {
    let here = rel(obj.location.as_ref());
    let base = &obj.uri[..obj.uri.len() - here.len()];
    format!("{base}{}", rel(key))
}

struct LoadedDigest {
    obj: SourceObject,
    name: Option<DigestName>,
    content: std::result::Result<(Digest, String), String>,
    /// The signature from metadata or a sidecar, and where it came from.
    own_signature: Option<(String, &'static str)>,
}

fn sha256_hex(data: &[u8]) -> String {
    hex::encode(Sha256::digest(data))
}

/// Decompress (when gzip) and hash: CloudTrail hashes the uncompressed content.
fn uncompressed(bytes: &[u8]) -> std::result::Result<Vec<u8>, String> {
    if bytes.starts_with(&[0x1f, 0x8b]) {
        let mut out = Vec::with_capacity(bytes.len() * 8);
        flate2::read::MultiGzDecoder::new(bytes)
            .read_to_end(&mut out)
            .map_err(|e| format!("not valid gzip: {e}"))?;
        Ok(out)
    } else {
        Ok(bytes.to_vec())
    }
}

/// The SHA-256 of an object's uncompressed content, decompressed a block at a time into the
/// hash (a log file is never held decompressed).
fn content_sha256(bytes: &[u8]) -> std::result::Result<String, String> {
    if !bytes.starts_with(&[0x1f, 0x8b]) {
        return Ok(sha256_hex(bytes));
    }
    let mut hasher = Sha256::new();
    let mut dec = flate2::read::MultiGzDecoder::new(bytes);
    let mut block = vec![0u8; 64 << 10];
    loop {
        match dec.read(&mut block) {
            Ok(0) => return Ok(hex::encode(hasher.finalize())),
            Ok(n) => hasher.update(&block[..n]),
            Err(e) => return Err(format!("not valid gzip: {e}")),
        }
    }
}

async fn fetch(obj: &SourceObject) -> std::result::Result<(bytes::Bytes, Option<String>), String> {
    let got = obj
        .store
        .get(&obj.location)
        .await
        .map_err(|e| format!("cannot read: {e}"))?;
    let sig = got
        .attributes
        .get(&Attribute::Metadata("signature".into()))
        .map(|v| v.to_string());
    let bytes = got.bytes().await.map_err(|e| format!("cannot read: {e}"))?;
    Ok((bytes, sig))
}

async fn blocking<T: Send + 'static>(f: impl FnOnce() -> T + Send + 'static) -> Result<T> {
    tokio::task::spawn_blocking(f)
        .await
        .map_err(|e| Error::Task(e.to_string()))
}

/// Validate the trails under `opts.sources`.
pub async fn verify(opts: &VerifyOptions) -> Result<Report> {
    if opts.keys.is_empty() {
        return Err(Error::PublicKeys {
            file: "(none)".into(),
            reason: "no public keys".into(),
        });
    }
    // A day of margin on each side: the digest covering a log is delivered up to an hour
    // after it, and a chain's link to its previous digest crosses midnight.
    let before = trailsql_store::request_stats();
    let days = source::window_days(opts.since, opts.until);
    let listing = Listing {
        days,
        accounts: opts.accounts.clone(),
        regions: opts.regions.clone(),
        digests: true,
        concurrency: opts.parallelism,
        listed: None,
    };
    let mut index: HashMap<String, SourceObject> = HashMap::new();
    let mut unreadable = Vec::new();
    for arg in &opts.sources {
        let found = source::resolve(arg, &listing).await?;
        for o in found.objects {
            index.insert(o.uri.clone(), o);
        }
        unreadable.extend(found.unreadable);
    }
    let in_listed_days = |key: &str| match (days, source::key_delivery_date(key)) {
        (Some((first, last)), Some(d)) => d >= first && d <= last,
        _ => true,
    };
    let in_window =
        |t: DateTime<Utc>| opts.since.is_none_or(|s| t >= s) && opts.until.is_none_or(|u| t <= u);

    let mut digest_objs = Vec::new();
    let mut log_objs = Vec::new();
    let mut report_skipped: BTreeMap<String, u64> = BTreeMap::new();
    for o in index.values() {
        match classify(o.location.as_ref()) {
            Class::Digest(name) => digest_objs.push((o.clone(), name)),
            Class::Log => log_objs.push(o.clone()),
            Class::Skip(why) => *report_skipped.entry(why.to_owned()).or_default() += 1,
            Class::Signature => {}
        }
    }

    // Load every digest: content, SHA-256, and its own signature.
    let index = Arc::new(index);
    let loaded: Vec<LoadedDigest> = futures::stream::iter(digest_objs)
        .map(|(obj, name)| {
            let index = index.clone();
            async move {
                let (content, meta_sig) = match fetch(&obj).await {
                    Ok((bytes, sig)) => {
                        let content = blocking(move || {
                            let raw = uncompressed(&bytes)?;
                            let sha = sha256_hex(&raw);
                            Digest::parse(&raw).map(|d| (d, sha))
                        })
                        .await?;
                        (content, sig)
                    }
                    Err(e) => (Err(e), None),
                };
                let mut own_signature = meta_sig.map(|s| (s, "x-amz-meta-signature"));
                // Sidecars: `DIGEST.json.gz.sig` or `DIGEST.sig`.
                let sidecars = [
                    format!("{}.sig", obj.uri),
                    format!("{}.sig", obj.uri.trim_end_matches(".json.gz")),
                ];
                for sidecar in sidecars.iter().filter_map(|u| index.get(u)) {
                    if own_signature.is_some() {
                        break;
                    }
                    if let Ok((bytes, _)) = fetch(sidecar).await {
                        let text = String::from_utf8_lossy(&bytes).trim().to_owned();
                        own_signature = Some((text, ".sig file"));
                    }
                }
                Ok::<_, Error>(LoadedDigest {
                    obj,
                    name,
                    content,
                    own_signature,
                })
            }
        })
        .buffer_unordered(opts.parallelism.max(1))
        .try_collect()
        .await?;
    let mut loaded = loaded;
    loaded.sort_by(|a, b| a.obj.uri.cmp(&b.obj.uri));
    let pos: HashMap<&str, usize> = loaded
        .iter()
        .enumerate()
        .map(|(i, d)| (d.obj.uri.as_str(), i))
        .collect();

    let mut report = Report {
        skipped: report_skipped,
        ..Default::default()
    };
    // Entries of a local tree that cannot be read (a symlink loop, a dangling link) are not
    // objects: noted, and the run goes on.
    for u in unreadable {
        report
            .notes
            .push(format!("cannot read {}: {}", u.path, u.reason));
        *report.skipped.entry("unreadable".into()).or_default() += 1;
    }
    // A digest is reported when it ends inside the window (plus the hour in which the last
    // logs of the window are digested).
    let reported = |d: &LoadedDigest| {
        d.name.as_ref().is_none_or(|n| {
            opts.since.is_none_or(|s| n.end >= s)
                && opts.until.is_none_or(|u| n.end <= u + Duration::hours(1))
        })
    };

    // Chains: per account, region and trail; backfill digests stand alone.
    let mut streams: BTreeMap<String, Vec<usize>> = BTreeMap::new();
    for (i, d) in loaded.iter().enumerate() {
        if let Some(n) = &d.name
            && !n.backfill
        {
            let dir = d
                .obj
                .uri
                .rsplit_once("/CloudTrail-Digest/")
                .map_or("", |(a, _)| a);
            let key = format!(
                "{dir}|{}|{}|{}|{}",
                n.account, n.region, n.trail, n.home_region
            );
            streams.entry(key).or_default().push(i);
        }
    }
    let mut verdicts: Vec<(Verdict, String)> = vec![(Verdict::Valid, String::new()); loaded.len()];
    let mut checked = vec![false; loaded.len()];
    let mut carried: HashMap<usize, (String, String)> = HashMap::new();
    let mut from_successor: HashMap<usize, (Verdict, String)> = HashMap::new();
    let mut referenced: HashSet<usize> = HashSet::new();
    let mut gap_reported: HashSet<usize> = HashSet::new();

    for stream in streams.values_mut() {
        stream.sort_by_key(|&i| loaded[i].name.as_ref().map(|n| n.end));
        for j in (0..stream.len()).rev() {
            let i = stream[j];
            let d = &loaded[i];
            let mut v = check_digest(d, carried.get(&i), &opts.keys);
            if let Some(p) = from_successor.remove(&i)
                && v.0 == Verdict::Valid
            {
                v = p;
            }
            let trusted = v.0 == Verdict::Valid;
            verdicts[i] = v;
            checked[i] = true;
            let Ok((dg, _)) = &d.content else { continue };
            if rel(&dg.digest_s3_object) != rel(d.obj.location.as_ref()) {
                // Not part of this chain: its links are another trail's.
                continue;
            }
            let older = j.checked_sub(1).map(|k| stream[k]);
            match dg
                .previous_digest_s3_object
                .as_deref()
                .filter(|k| !k.is_empty())
            {
                None => {
                    if let Some(a) = older {
                        gap_reported.insert(a);
                        report.notes.push(format!(
                            "chain restarts at {}: no digests between {} and {} (logging or validation was off)",
                            display(&d.obj.uri),
                            loaded[a].content.as_ref().map_or("?", |(x, _)| x.digest_end_time.as_str()),
                            dg.digest_start_time.as_deref().unwrap_or("?"),
                        ));
                    }
                }
                Some(prev_key) => {
                    let prev_uri = sibling(&d.obj, prev_key);
                    if let Some(&p) = pos.get(prev_uri.as_str()) {
                        referenced.insert(p);
                        if trusted {
                            if let Ok((_, psha)) = &loaded[p].content {
                                let want = dg.previous_digest_hash_value.as_deref().unwrap_or("");
                                if !psha.eq_ignore_ascii_case(want) {
                                    from_successor.insert(
                                        p,
                                        (
                                            Verdict::Modified,
                                            format!(
                                                "SHA-256 {psha} differs from previousDigestHashValue {want} in {}",
                                                display(&d.obj.uri)
                                            ),
                                        ),
                                    );
                                }
                            }
                            if let Some(sig) = &dg.previous_digest_signature {
                                carried.insert(p, (sig.clone(), d.obj.uri.clone()));
                            }
                        }
                    } else if in_listed_days(prev_key) {
                        if reported(d) {
                            report.objects.push(ObjectReport {
                                kind: Kind::Digest,
                                object: prev_uri.clone(),
                                verdict: Verdict::DigestMissing,
                                detail: format!(
                                    "named as previous digest by {}",
                                    display(&d.obj.uri)
                                ),
                                digest: None,
                            });
                        }
                        if let Some(a) = older {
                            gap_reported.insert(a);
                            // The missing digest's own predecessor is unknown; if the time
                            // between the older digest we have and the missing one is more
                            // than a digest period, more than one digest is gone.
                            let period = match (dg.start_time(), dg.end_time()) {
                                (Some(s), Some(e)) if e > s => e - s,
                                _ => Duration::hours(1),
                            };
                            let missing_end = DigestName::parse(prev_key).map(|n| n.end);
                            let older_end = loaded[a]
                                .content
                                .as_ref()
                                .ok()
                                .and_then(|(x, _)| x.end_time());
                            if let (Some(m), Some(o)) = (missing_end, older_end)
                                && m - o > period * 3 / 2
                                && reported(&loaded[a])
                            {
                                report.objects.push(ObjectReport {
                                    kind: Kind::Digest,
                                    object: format!("{}#after", loaded[a].obj.uri),
                                    verdict: Verdict::DigestMissing,
                                    detail: format!(
                                        "digests ending between {} and {} are missing: the chain from {} to {} is broken",
                                        o.to_rfc3339(),
                                        m.to_rfc3339(),
                                        display(&loaded[a].obj.uri),
                                        display(&prev_uri)
                                    ),
                                    digest: None,
                                });
                            }
                        }
                    } else {
                        report.notes.push(format!(
                            "{}: previous digest {} is outside the days listed; not checked",
                            display(&d.obj.uri),
                            display(&prev_uri)
                        ));
                    }
                }
            }
        }
        // A digest that no later digest names as its previous one: the one after it is gone.
        for &i in &stream[..stream.len().saturating_sub(1)] {
            if referenced.contains(&i) || gap_reported.contains(&i) || !reported(&loaded[i]) {
                continue;
            }
            report.objects.push(ObjectReport {
                kind: Kind::Digest,
                object: format!("{}#after", loaded[i].obj.uri),
                verdict: Verdict::DigestMissing,
                detail: format!(
                    "no digest names {} as its previous digest: the digest after it is missing",
                    display(&loaded[i].obj.uri)
                ),
                digest: None,
            });
        }
    }
    for (i, d) in loaded.iter().enumerate() {
        if !checked[i] {
            verdicts[i] = check_digest(d, None, &opts.keys);
        }
    }

    // Log files: the ones valid digests list, then the ones nobody lists.
    let mut listed: HashMap<String, (usize, String)> = HashMap::new();
    let mut listed_by_invalid: HashMap<String, usize> = HashMap::new();
    for (i, d) in loaded.iter().enumerate() {
        let Ok((dg, _)) = &d.content else { continue };
        for lf in &dg.log_files {
            let uri = sibling(&d.obj, &lf.s3_object);
            if verdicts[i].0 == Verdict::Valid && reported(d) {
                listed.insert(uri, (i, lf.hash_value.clone()));
            } else {
                listed_by_invalid.entry(uri).or_insert(i);
            }
        }
    }
    for (i, d) in loaded.iter().enumerate() {
        if reported(d) {
            report.objects.push(ObjectReport {
                kind: Kind::Digest,
                object: d.obj.uri.clone(),
                verdict: verdicts[i].0,
                detail: verdicts[i].1.clone(),
                digest: None,
            });
        }
    }
    let mut jobs = Vec::new();
    for (uri, (i, want)) in &listed {
        let digest = Some(loaded[*i].obj.uri.clone());
        match index.get(uri) {
            Some(obj) => jobs.push((obj.clone(), want.clone(), digest)),
            None => {
                let key = uri
                    .rsplit_once("/AWSLogs/")
                    .map_or(uri.as_str(), |(_, k)| k);
                if in_listed_days(key) {
                    report.objects.push(ObjectReport {
                        kind: Kind::Log,
                        object: uri.clone(),
                        verdict: Verdict::Deleted,
                        detail: "listed in a digest, not found".into(),
                        digest,
                    });
                }
            }
        }
    }
    let hashed: Vec<ObjectReport> = futures::stream::iter(jobs)
        .map(|(obj, want, digest)| async move {
            let (verdict, detail) = match fetch(&obj).await {
                Err(e) => (Verdict::Malformed, e),
                Ok((bytes, _)) => {
                    let got = blocking(move || content_sha256(&bytes)).await?;
                    match got {
                        Ok(h) if h.eq_ignore_ascii_case(&want) => (Verdict::Valid, String::new()),
                        Ok(h) => (
                            Verdict::Modified,
                            format!("SHA-256 {h}, digest lists {want}"),
                        ),
                        Err(e) => (Verdict::Modified, e),
                    }
                }
            };
            Ok::<_, Error>(ObjectReport {
                kind: Kind::Log,
                object: obj.uri.clone(),
                verdict,
                detail,
                digest,
            })
        })
        .buffer_unordered(opts.parallelism.max(1))
        .try_collect()
        .await?;
    report.objects.extend(hashed);
    // Objects no digest lists are judged only when they are log files: named as CloudTrail
    // names them, or holding CloudTrail events (as ingest reads them). The rest (a README, the
    // keys file, notes) are skipped, as ingest skips them.
    let in_range = |key: &str| match log_time(key) {
        Some(t) => in_window(t),
        None => match (source::key_delivery_date(key), opts.since, opts.until) {
            (Some(d), s, u) => {
                s.is_none_or(|s| d >= s.date_naive()) && u.is_none_or(|u| d <= u.date_naive())
            }
            (None, _, _) => true,
        },
    };
    let unlisted: Vec<&SourceObject> = log_objs
        .iter()
        .filter(|o| !listed.contains_key(&o.uri) && in_range(o.location.as_ref()))
        .collect();
    let sniffed: Vec<(&SourceObject, std::result::Result<(), String>)> =
        futures::stream::iter(unlisted)
            .map(|o| async move {
                if named_as_log(o.location.as_ref()) {
                    (o, Ok(()))
                } else {
                    (o, sniff_log(o).await)
                }
            })
            .buffered(opts.parallelism.max(1))
            .collect()
            .await;
    for (o, is_log) in sniffed {
        if let Err(why) = is_log {
            *report.skipped.entry(why).or_default() += 1;
            continue;
        }
        let detail = match listed_by_invalid.get(&o.uri) {
            Some(&i) => format!(
                "listed only in {} ({})",
                display(&loaded[i].obj.uri),
                verdicts[i].0
            ),
            None => "in no digest".into(),
        };
        report.objects.push(ObjectReport {
            kind: Kind::Log,
            object: o.uri.clone(),
            verdict: Verdict::NotCovered,
            detail,
            digest: None,
        });
    }
    report
        .objects
        .sort_by(|a, b| (a.kind, &a.object).cmp(&(b.kind, &b.object)));
    report.requests = trailsql_store::request_stats().since(&before);
    Ok(report)
}

fn display(uri: &str) -> &str {
    uri.strip_prefix("file://").unwrap_or(uri)
}

/// A digest's own verdict: format, location, key and signature.
fn check_digest(
    d: &LoadedDigest,
    carried: Option<&(String, String)>,
    keys: &PublicKeys,
) -> (Verdict, String) {
    let (dg, sha) = match &d.content {
        Ok(c) => c,
        Err(e) => return (Verdict::Malformed, e.clone()),
    };
    if d.name.is_none() {
        return (
            Verdict::Malformed,
            "not named as a CloudTrail digest file".into(),
        );
    }
    if rel(&dg.digest_s3_object) != rel(d.obj.location.as_ref()) {
        return (
            Verdict::SignatureInvalid,
            format!(
                "signed for s3://{}/{}: moved or swapped from another location",
                dg.digest_s3_bucket, dg.digest_s3_object
            ),
        );
    }
    let Some(fp) = dg.digest_public_key_fingerprint.as_deref() else {
        return (Verdict::Malformed, "no digestPublicKeyFingerprint".into());
    };
    if let Some(alg) = &dg.digest_signature_algorithm
        && alg != "SHA256withRSA"
    {
        return (
            Verdict::SignatureInvalid,
            format!("unsupported signature algorithm {alg}"),
        );
    }
    let Some(end) = dg.end_time() else {
        return (
            Verdict::Malformed,
            format!("digestEndTime {:?} is not a time", dg.digest_end_time),
        );
    };
    let key = match keys.lookup(fp, end) {
        Ok(k) => k,
        Err(KeyProblem::Unknown) => {
            return (
                Verdict::KeyNotFound,
                format!("no public key with fingerprint {fp}"),
            );
        }
        Err(KeyProblem::NotValidAt { from, to }) => {
            let t = |x: Option<DateTime<Utc>>| x.map_or("-".to_owned(), |t| t.to_rfc3339());
            return (
                Verdict::KeyNotFound,
                format!(
                    "key {fp} is valid {} to {}, not at {}",
                    t(from),
                    t(to),
                    end.to_rfc3339()
                ),
            );
        }
    };
    let message = dg.string_to_sign(sha);
    let (sig, origin) = match (&d.own_signature, carried) {
        (Some((s, origin)), _) => (s.as_str(), (*origin).to_owned()),
        (None, Some((s, from))) => (
            s.as_str(),
            format!("previousDigestSignature of {}", display(from)),
        ),
        (None, None) => {
            return (
                Verdict::SignatureInvalid,
                "no signature: no x-amz-meta-signature, no .sig file, and no later digest carries it".into(),
            );
        }
    };
    if !signature_ok(&key.key, message.as_bytes(), sig) {
        return (
            Verdict::SignatureInvalid,
            format!("signature from {origin} does not verify with key {fp}"),
        );
    }
    if let (Some((own, _)), Some((next, from))) = (&d.own_signature, carried)
        && !own.trim().eq_ignore_ascii_case(next.trim())
    {
        return (
            Verdict::SignatureInvalid,
            format!(
                "{} records a different previousDigestSignature",
                display(from)
            ),
        );
    }
    (Verdict::Valid, String::new())
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
