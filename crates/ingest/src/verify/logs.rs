//! Log files judged against the digests: those valid digests list are hashed and compared;
//! those no digest lists are judged when they are log files (named as CloudTrail names them,
//! or holding CloudTrail events as ingest reads them), and skipped otherwise.

use std::collections::HashMap;
use std::io::Read;

use futures::{StreamExt, TryStreamExt};
use sha2::{Digest as _, Sha256};

use super::chain::LoadedDigest;
use super::objects::{named_as_log, sniff_log};
use super::{Kind, ObjectReport, Report, Scope, Verdict, blocking, display, fetch, sibling};
use crate::source::SourceObject;
use crate::{Error, Result};

/// What judging the log files needs of the digests.
pub(super) struct Judge<'a> {
    pub loaded: &'a [LoadedDigest],
    pub verdicts: &'a [(Verdict, String)],
    pub index: &'a HashMap<String, SourceObject>,
    pub scope: &'a Scope,
    pub parallelism: usize,
}

impl Judge<'_> {
    /// Every log the digests list, then every log object no valid digest lists.
    pub async fn listed_and_unlisted(
        &self,
        logs: &[SourceObject],
        report: &mut Report,
    ) -> Result<()> {
        let mut listed: HashMap<String, (usize, String)> = HashMap::new();
        let mut listed_by_invalid: HashMap<String, usize> = HashMap::new();
        for (i, d) in self.loaded.iter().enumerate() {
            let Ok((dg, _)) = &d.content else { continue };
            let valid = self.verdicts[i].0 == Verdict::Valid && self.scope.reports(d.name.as_ref());
            for lf in &dg.log_files {
                let uri = sibling(&d.obj, &lf.s3_object);
                if valid {
                    listed.insert(uri, (i, lf.hash_value.clone()));
                } else {
                    listed_by_invalid.entry(uri).or_insert(i);
                }
            }
        }
        for (i, d) in self.loaded.iter().enumerate() {
            if self.scope.reports(d.name.as_ref()) {
                report.objects.push(ObjectReport {
                    kind: Kind::Digest,
                    object: d.obj.uri.clone(),
                    verdict: self.verdicts[i].0,
                    detail: self.verdicts[i].1.clone(),
                    digest: None,
                });
            }
        }
        self.listed(&listed, report).await?;
        self.unlisted(logs, &listed, &listed_by_invalid, report)
            .await;
        Ok(())
    }

    /// The logs valid digests list: hashed and compared, or reported deleted.
    async fn listed(
        &self,
        listed: &HashMap<String, (usize, String)>,
        report: &mut Report,
    ) -> Result<()> {
        let mut jobs = Vec::new();
        for (uri, (i, want)) in listed {
            let digest = Some(self.loaded[*i].obj.uri.clone());
            match self.index.get(uri) {
                Some(obj) => jobs.push((obj.clone(), want.clone(), digest)),
                None => {
                    let key = uri
                        .rsplit_once("/AWSLogs/")
                        .map_or(uri.as_str(), |(_, k)| k);
                    if self.scope.in_listed_days(key) {
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
                            Ok(h) if h.eq_ignore_ascii_case(&want) => {
                                (Verdict::Valid, String::new())
                            }
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
            .buffer_unordered(self.parallelism)
            .try_collect()
            .await?;
        report.objects.extend(hashed);
        Ok(())
    }

    /// Objects no valid digest lists are judged only when they are log files. The rest (a
    /// README, the keys file, notes) are skipped, as ingest skips them.
    async fn unlisted(
        &self,
        logs: &[SourceObject],
        listed: &HashMap<String, (usize, String)>,
        listed_by_invalid: &HashMap<String, usize>,
        report: &mut Report,
    ) {
        let unlisted: Vec<&SourceObject> = logs
            .iter()
            .filter(|o| !listed.contains_key(&o.uri) && self.scope.in_range(o.location.as_ref()))
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
                .buffered(self.parallelism)
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
                    display(&self.loaded[i].obj.uri),
                    self.verdicts[i].0
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
    }
}

pub(super) fn sha256_hex(data: &[u8]) -> String {
    hex::encode(Sha256::digest(data))
}

/// Decompress (when gzip) and hash: CloudTrail hashes the uncompressed content.
pub(super) fn uncompressed(bytes: &[u8]) -> std::result::Result<Vec<u8>, String> {
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
