//! Integrity validation: a verdict on every log file and digest file of a trail, following
//! AWS's published algorithm ("CloudTrail digest file structure", "Custom implementations of
//! CloudTrail log file integrity validation"), offline.
//!
//! A digest's signature is read from its object's `x-amz-meta-signature` metadata, from a
//! sidecar `DIGEST.sig` file (hex, for offline copies), or from the next digest's
//! `previousDigestSignature` (carried forward). Chains are per account, region and trail.

mod chain;
mod digest;
mod keys;
mod logs;
mod objects;
mod report;

use std::sync::Arc;

use chrono::{DateTime, Duration, Utc};
use object_store::{Attribute, ObjectStoreExt};

pub use digest::{Digest, DigestName, LogFile, log_time, signature_ok};
pub use keys::{KeyProblem, PublicKey, PublicKeys};
pub use report::{Kind, ObjectReport, Report, Verdict, source_verdicts};

use crate::source::{self, Days, SourceObject};
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

/// The window asked for, and the delivery days listed for it.
#[derive(Debug, Clone, Copy)]
struct Scope {
    days: Option<Days>,
    since: Option<DateTime<Utc>>,
    until: Option<DateTime<Utc>>,
}

impl Scope {
    fn of(opts: &VerifyOptions) -> Scope {
        Scope {
            days: source::window_days(opts.since, opts.until),
            since: opts.since,
            until: opts.until,
        }
    }

    /// Whether a key's delivery day was listed (keys outside the layout: yes).
    fn in_listed_days(&self, key: &str) -> bool {
        match (self.days, source::key_delivery_date(key)) {
            (Some((first, last)), Some(d)) => d >= first && d <= last,
            _ => true,
        }
    }

    fn in_window(&self, t: DateTime<Utc>) -> bool {
        self.since.is_none_or(|s| t >= s) && self.until.is_none_or(|u| t <= u)
    }

    /// Whether a log object not listed in any digest falls in the window: by the time in its
    /// name, else by its delivery day.
    fn in_range(&self, key: &str) -> bool {
        match log_time(key) {
            Some(t) => self.in_window(t),
            None => match source::key_delivery_date(key) {
                Some(d) => {
                    self.since.is_none_or(|s| d >= s.date_naive())
                        && self.until.is_none_or(|u| d <= u.date_naive())
                }
                None => true,
            },
        }
    }

    /// A digest is reported when it ends inside the window (plus the hour in which the last
    /// logs of the window are digested).
    fn reports(&self, name: Option<&DigestName>) -> bool {
        name.is_none_or(|n| {
            self.since.is_none_or(|s| n.end >= s)
                && self.until.is_none_or(|u| n.end <= u + Duration::hours(1))
        })
    }
}

/// Validate the trails under `opts.sources`: list them, load and check every digest along its
/// chain, then judge the log files the valid digests list and those no digest lists.
pub async fn verify(opts: &VerifyOptions) -> Result<Report> {
    if opts.keys.is_empty() {
        return Err(Error::PublicKeys {
            file: "(none)".into(),
            reason: "no public keys".into(),
        });
    }
    let before = trailsql_store::request_stats();
    let scope = Scope::of(opts);
    let found = objects::gather(opts, &scope).await?;
    let mut report = Report {
        skipped: found.skipped,
        ..Default::default()
    };
    // Entries of a local tree that cannot be read (a symlink loop, a dangling link) are not
    // objects: noted, and the run goes on.
    for u in found.unreadable {
        report
            .notes
            .push(format!("cannot read {}: {}", u.path, u.reason));
        *report.skipped.entry("unreadable".into()).or_default() += 1;
    }
    let index = Arc::new(found.index);
    let loaded = chain::load_digests(found.digests, &index, opts.parallelism).await?;
    let verdicts = chain::Chains::new(&loaded, &scope, &opts.keys).walk(&mut report);
    let judge = logs::Judge {
        loaded: &loaded,
        verdicts: &verdicts,
        index: &index,
        scope: &scope,
        parallelism: opts.parallelism.max(1),
    };
    judge.listed_and_unlisted(&found.logs, &mut report).await?;
    report
        .objects
        .sort_by(|a, b| (a.kind, &a.object).cmp(&(b.kind, &b.object)));
    report.requests = trailsql_store::request_stats().since(&before);
    Ok(report)
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

fn display(uri: &str) -> &str {
    uri.strip_prefix("file://").unwrap_or(uri)
}
