//! Digest chains: every digest loaded (content, SHA-256, own signature), then each chain (per
//! account, region and trail) walked from its newest digest back, checking each digest's
//! signature, the previous digest's hash and signature it records, and the gaps between them.

use std::collections::{BTreeMap, HashMap, HashSet};

use chrono::{DateTime, Duration, Utc};
use futures::{StreamExt, TryStreamExt};

use super::{
    Digest, DigestName, KeyProblem, Kind, ObjectReport, PublicKeys, Report, Scope, Verdict,
    blocking, display, fetch, rel, sibling, signature_ok,
};
use crate::source::SourceObject;
use crate::{Error, Result};

pub(super) struct LoadedDigest {
    pub obj: SourceObject,
    pub name: Option<DigestName>,
    pub content: std::result::Result<(Digest, String), String>,
    /// The signature from metadata or a sidecar, and where it came from.
    pub own_signature: Option<(String, &'static str)>,
}

/// Load every digest: content, SHA-256, and its own signature (metadata or a sidecar
/// `DIGEST.json.gz.sig` / `DIGEST.sig` found in `index`), sorted by URI.
pub(super) async fn load_digests(
    digests: Vec<(SourceObject, Option<DigestName>)>,
    index: &std::sync::Arc<HashMap<String, SourceObject>>,
    parallelism: usize,
) -> Result<Vec<LoadedDigest>> {
    let mut loaded: Vec<LoadedDigest> = futures::stream::iter(digests)
        .map(|(obj, name)| {
            let index = index.clone();
            async move {
                let (content, meta_sig) = match fetch(&obj).await {
                    Ok((bytes, sig)) => {
                        let content = blocking(move || {
                            let raw = super::logs::uncompressed(&bytes)?;
                            let sha = super::logs::sha256_hex(&raw);
                            Digest::parse(&raw).map(|d| (d, sha))
                        })
                        .await?;
                        (content, sig)
                    }
                    Err(e) => (Err(e), None),
                };
                let mut own_signature = meta_sig.map(|s| (s, "x-amz-meta-signature"));
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
        .buffer_unordered(parallelism.max(1))
        .try_collect()
        .await?;
    loaded.sort_by(|a, b| a.obj.uri.cmp(&b.obj.uri));
    Ok(loaded)
}

/// The walk of every chain: what it has found so far about each digest (by its index in the
/// loaded digests).
pub(super) struct Chains<'a> {
    loaded: &'a [LoadedDigest],
    scope: &'a Scope,
    keys: &'a PublicKeys,
    pos: HashMap<&'a str, usize>,
    verdicts: Vec<(Verdict, String)>,
    checked: Vec<bool>,
    /// The signature a later digest carries for a digest, and that later digest's URI.
    carried: HashMap<usize, (String, String)>,
    /// A verdict a later digest passes back (its recorded hash of this one differs).
    from_successor: HashMap<usize, (Verdict, String)>,
    /// Digests a later digest names as its previous one.
    referenced: HashSet<usize>,
    /// Digests after which a gap is already reported.
    gap_reported: HashSet<usize>,
}

impl<'a> Chains<'a> {
    pub fn new(loaded: &'a [LoadedDigest], scope: &'a Scope, keys: &'a PublicKeys) -> Self {
        Chains {
            loaded,
            scope,
            keys,
            pos: loaded
                .iter()
                .enumerate()
                .map(|(i, d)| (d.obj.uri.as_str(), i))
                .collect(),
            verdicts: vec![(Verdict::Valid, String::new()); loaded.len()],
            checked: vec![false; loaded.len()],
            carried: HashMap::new(),
            from_successor: HashMap::new(),
            referenced: HashSet::new(),
            gap_reported: HashSet::new(),
        }
    }

    fn reported(&self, i: usize) -> bool {
        self.scope.reports(self.loaded[i].name.as_ref())
    }

    /// Walk every chain (backfill digests stand alone), then check the digests no chain
    /// reached; returns each digest's verdict.
    pub fn walk(mut self, report: &mut Report) -> Vec<(Verdict, String)> {
        let mut streams: BTreeMap<String, Vec<usize>> = BTreeMap::new();
        for (i, d) in self.loaded.iter().enumerate() {
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
        for stream in streams.values_mut() {
            stream.sort_by_key(|&i| self.loaded[i].name.as_ref().map(|n| n.end));
            self.walk_stream(stream, report);
        }
        for i in 0..self.loaded.len() {
            if !self.checked[i] {
                self.verdicts[i] = check_digest(&self.loaded[i], None, self.keys);
            }
        }
        self.verdicts
    }

    /// One chain, newest first: each digest's verdict, then its link to the previous one.
    fn walk_stream(&mut self, stream: &[usize], report: &mut Report) {
        for j in (0..stream.len()).rev() {
            let i = stream[j];
            let d = &self.loaded[i];
            let mut v = check_digest(d, self.carried.get(&i), self.keys);
            if let Some(p) = self.from_successor.remove(&i)
                && v.0 == Verdict::Valid
            {
                v = p;
            }
            let trusted = v.0 == Verdict::Valid;
            self.verdicts[i] = v;
            self.checked[i] = true;
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
                        self.gap_reported.insert(a);
                        report.notes.push(format!(
                            "chain restarts at {}: no digests between {} and {} (logging or validation was off)",
                            display(&d.obj.uri),
                            self.loaded[a].content.as_ref().map_or("?", |(x, _)| x.digest_end_time.as_str()),
                            dg.digest_start_time.as_deref().unwrap_or("?"),
                        ));
                    }
                }
                Some(prev_key) => self.link(i, older, prev_key, trusted, report),
            }
        }
        // A digest that no later digest names as its previous one: the one after it is gone.
        for &i in &stream[..stream.len().saturating_sub(1)] {
            if self.referenced.contains(&i) || self.gap_reported.contains(&i) || !self.reported(i) {
                continue;
            }
            report.objects.push(ObjectReport {
                kind: Kind::Digest,
                object: format!("{}#after", self.loaded[i].obj.uri),
                verdict: Verdict::DigestMissing,
                detail: format!(
                    "no digest names {} as its previous digest: the digest after it is missing",
                    display(&self.loaded[i].obj.uri)
                ),
                digest: None,
            });
        }
    }

    /// Digest `i` names `prev_key` as its previous digest: when that digest is here and `i`
    /// is trusted, pass it the hash and signature `i` records; when it is missing, report it
    /// (and the gap back to the `older` digest we have).
    fn link(
        &mut self,
        i: usize,
        older: Option<usize>,
        prev_key: &str,
        trusted: bool,
        report: &mut Report,
    ) {
        let d = &self.loaded[i];
        let Ok((dg, _)) = &d.content else { return };
        let prev_uri = sibling(&d.obj, prev_key);
        if let Some(&p) = self.pos.get(prev_uri.as_str()) {
            self.referenced.insert(p);
            if !trusted {
                return;
            }
            if let Ok((_, psha)) = &self.loaded[p].content {
                let want = dg.previous_digest_hash_value.as_deref().unwrap_or("");
                if !psha.eq_ignore_ascii_case(want) {
                    self.from_successor.insert(
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
                self.carried.insert(p, (sig.clone(), d.obj.uri.clone()));
            }
        } else if self.scope.in_listed_days(prev_key) {
            if self.reported(i) {
                report.objects.push(ObjectReport {
                    kind: Kind::Digest,
                    object: prev_uri.clone(),
                    verdict: Verdict::DigestMissing,
                    detail: format!("named as previous digest by {}", display(&d.obj.uri)),
                    digest: None,
                });
            }
            if let Some(a) = older {
                self.gap_reported.insert(a);
                self.missing_between(a, dg, prev_key, &prev_uri, report);
            }
        } else {
            report.notes.push(format!(
                "{}: previous digest {} is outside the days listed; not checked",
                display(&d.obj.uri),
                display(&prev_uri)
            ));
        }
    }

    /// The missing digest's own predecessor is unknown; if the time between the older digest
    /// we have (`a`) and the missing one is more than a digest period, more than one digest is
    /// gone.
    fn missing_between(
        &self,
        a: usize,
        dg: &Digest,
        prev_key: &str,
        prev_uri: &str,
        report: &mut Report,
    ) {
        let period = match (dg.start_time(), dg.end_time()) {
            (Some(s), Some(e)) if e > s => e - s,
            _ => Duration::hours(1),
        };
        let missing_end = DigestName::parse(prev_key).map(|n| n.end);
        let older_end = self.loaded[a]
            .content
            .as_ref()
            .ok()
            .and_then(|(x, _)| x.end_time());
        if let (Some(m), Some(o)) = (missing_end, older_end)
            && m - o > period * 3 / 2
            && self.reported(a)
        {
            report.objects.push(ObjectReport {
                kind: Kind::Digest,
                object: format!("{}#after", self.loaded[a].obj.uri),
                verdict: Verdict::DigestMissing,
                detail: format!(
                    "digests ending between {} and {} are missing: the chain from {} to {} is broken",
                    o.to_rfc3339(),
                    m.to_rfc3339(),
                    display(&self.loaded[a].obj.uri),
                    display(prev_uri)
                ),
                digest: None,
            });
        }
    }
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
