//! What the objects of a trail are: digests, their signature sidecars, log files, and the
//! objects beside them that are none of these (a README, the keys file, AWS Config's check
//! file, Insights files), which are skipped by reason.

use std::collections::{BTreeMap, HashMap};

use super::{DigestName, Scope, VerifyOptions, blocking, fetch, log_time};
use crate::Result;
use crate::source::{self, Listing, SourceObject, Unreadable};

/// A trail's objects, sorted by what they are.
pub(super) struct Found {
    /// Every object by URI.
    pub index: HashMap<String, SourceObject>,
    pub unreadable: Vec<Unreadable>,
    pub digests: Vec<(SourceObject, Option<DigestName>)>,
    pub logs: Vec<SourceObject>,
    /// Objects that are neither, by reason.
    pub skipped: BTreeMap<String, u64>,
}

/// List the sources (with a day of margin on each side: the digest covering a log is
/// delivered up to an hour after it, and a chain's link to its previous digest crosses
/// midnight) and sort what is found.
pub(super) async fn gather(opts: &VerifyOptions, scope: &Scope) -> Result<Found> {
    let listing = Listing {
        days: scope.days,
        accounts: opts.accounts.clone(),
        regions: opts.regions.clone(),
        digests: true,
        concurrency: opts.parallelism,
        listed: None,
    };
    let mut found = Found {
        index: HashMap::new(),
        unreadable: Vec::new(),
        digests: Vec::new(),
        logs: Vec::new(),
        skipped: BTreeMap::new(),
    };
    for arg in &opts.sources {
        let listed = source::resolve(arg, &listing).await?;
        for o in listed.objects {
            found.index.insert(o.uri.clone(), o);
        }
        found.unreadable.extend(listed.unreadable);
    }
    for o in found.index.values() {
        match classify(o.location.as_ref()) {
            Class::Digest(name) => found.digests.push((o.clone(), name)),
            Class::Log => found.logs.push(o.clone()),
            Class::Skip(why) => *found.skipped.entry(why.to_owned()).or_default() += 1,
            Class::Signature => {}
        }
    }
    Ok(found)
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
pub(super) fn named_as_log(key: &str) -> bool {
    log_time(key).is_some() || source::key_delivery_date(key).is_some()
}

/// How much of an object not named as a log file is read to tell whether it holds CloudTrail
/// events.
const SNIFF_BYTES: usize = 4 << 20;

/// Whether an object not named as a log file holds CloudTrail events, as ingest reads it:
/// `Err(reason)` for what ingest skips or rejects (a README, the keys file, a digest copy).
pub(super) async fn sniff_log(obj: &SourceObject) -> std::result::Result<(), String> {
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
