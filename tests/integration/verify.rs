//! `trailsql verify`: a fixture builder makes RSA keys, log files and a signed digest chain in
//! CloudTrail's layout, then each test tampers with it and checks every verdict.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::sync::OnceLock;

use base64::Engine;
use chrono::{DateTime, Duration, TimeZone, Utc};
use rsa::RsaPrivateKey;
use rsa::pkcs1::EncodeRsaPublicKey;
use rsa::pkcs1v15::SigningKey;
use rsa::signature::{SignatureEncoding, Signer};
use serde_json::{Value, json};
use sha2::{Digest as _, Sha256};

use crate::common::{bin, gzip};

const ACCOUNT: &str = "111122223333";
const REGION: &str = "us-east-2";
const BUCKET: &str = "trail-bucket";

/// Three 2048-bit keys, made once: CloudTrail's key size.
fn keys() -> &'static [RsaPrivateKey; 3] {
    static KEYS: OnceLock<[RsaPrivateKey; 3]> = OnceLock::new();
    KEYS.get_or_init(|| {
        let mut rng = rsa::rand_core::OsRng;
        std::array::from_fn(|_| RsaPrivateKey::new(&mut rng, 2048).unwrap())
    })
}

fn fingerprint(i: usize) -> String {
    let der = keys()[i].to_public_key().to_pkcs1_der().unwrap();
    hex::encode(&Sha256::digest(der.as_bytes())[..16])
}

/// The keys file as `aws cloudtrail list-public-keys` prints it.
fn keys_file(dir: &Path, entries: &[(usize, &str, &str)]) -> PathBuf {
    let list: Vec<Value> = entries
        .iter()
        .map(|&(i, from, to)| {
            let der = keys()[i].to_public_key().to_pkcs1_der().unwrap();
            json!({
                "Value": base64::engine::general_purpose::STANDARD.encode(der.as_bytes()),
                "ValidityStartTime": from,
                "ValidityEndTime": to,
                "Fingerprint": fingerprint(i),
            })
        })
        .collect();
    let p = dir.join("public-keys.json");
    std::fs::write(
        &p,
        serde_json::to_vec_pretty(&json!({ "PublicKeyList": list })).unwrap(),
    )
    .unwrap();
    p
}

fn t0() -> DateTime<Utc> {
    Utc.with_ymd_and_hms(2024, 3, 1, 22, 0, 0).unwrap()
}

fn day_dir(kind: &str, t: DateTime<Utc>, trail_region: &str) -> String {
    format!(
        "AWSLogs/{ACCOUNT}/{kind}/{trail_region}/{}",
        t.format("%Y/%m/%d")
    )
}

/// A trail's tree on disk, and what went into it.
struct Trail {
    root: PathBuf,
    /// Keys (relative to `root`) of the digests, oldest first.
    digests: Vec<String>,
    /// Keys of the log files, oldest first.
    logs: Vec<String>,
}

struct Build {
    trail: &'static str,
    hours: usize,
    /// The key signing hour `h`.
    key_for: fn(usize) -> usize,
    /// Hours with no log files (an empty digest).
    empty: &'static [usize],
    /// Hours whose digest starts a new chain (logging was stopped before).
    restart: &'static [usize],
    /// Write `.sig` files for every digest (as S3 metadata has them) or only the newest.
    all_sidecars: bool,
}

impl Default for Build {
    fn default() -> Self {
        Build {
            trail: "main-trail",
            hours: 6,
            key_for: |_| 0,
            empty: &[],
            restart: &[],
            all_sidecars: true,
        }
    }
}

fn write(root: &Path, key: &str, bytes: &[u8]) {
    let p = root.join(key);
    std::fs::create_dir_all(p.parent().unwrap()).unwrap();
    std::fs::write(p, bytes).unwrap();
}

fn sign(key: usize, message: &str) -> String {
    let sk = SigningKey::<Sha256>::new(keys()[key].clone());
    hex::encode(sk.sign(message.as_bytes()).to_bytes())
}

fn sha_hex(data: &[u8]) -> String {
    hex::encode(Sha256::digest(data))
}

fn log_file(root: &Path, at: DateTime<Utc>, n: usize) -> (String, String) {
    let key = format!(
        "{}/{ACCOUNT}_CloudTrail_{REGION}_{}_{:016}.json.gz",
        day_dir("CloudTrail", at, REGION),
        at.format("%Y%m%dT%H%MZ"),
        n
    );
    let body = json!({"Records": [{
        "eventVersion": "1.08",
        "eventTime": at.format("%Y-%m-%dT%H:%M:%SZ").to_string(),
        "eventSource": "s3.amazonaws.com",
        "eventName": "ListBuckets",
        "awsRegion": REGION,
        "eventID": format!("00000000-0000-0000-0000-{n:012}"),
        "recipientAccountId": ACCOUNT,
    }]})
    .to_string();
    write(root, &key, &gzip(body.as_bytes()));
    (key, sha_hex(body.as_bytes()))
}

/// A signed digest (content, signature) as CloudTrail makes it.
fn digest_json(
    trail: &str,
    start: DateTime<Utc>,
    end: DateTime<Utc>,
    key: &str,
    fp: &str,
    prev: Option<(&str, &str, &str)>,
    logs: &[(String, String)],
) -> Value {
    let files: Vec<Value> = logs
        .iter()
        .map(|(k, h)| {
            json!({"s3Bucket": BUCKET, "s3Object": k, "hashValue": h, "hashAlgorithm": "SHA-256",
                   "newestEventTime": null, "oldestEventTime": null})
        })
        .collect();
    let _ = trail;
    json!({
        "awsAccountId": ACCOUNT,
        "digestStartTime": start.format("%Y-%m-%dT%H:%M:%SZ").to_string(),
        "digestEndTime": end.format("%Y-%m-%dT%H:%M:%SZ").to_string(),
        "digestS3Bucket": BUCKET,
        "digestS3Object": key,
        "digestPublicKeyFingerprint": fp,
        "digestSignatureAlgorithm": "SHA256withRSA",
        "newestEventTime": null,
        "oldestEventTime": null,
        "previousDigestS3Bucket": prev.map(|_| BUCKET),
        "previousDigestS3Object": prev.map(|p| p.0),
        "previousDigestHashValue": prev.map(|p| p.1),
        "previousDigestHashAlgorithm": prev.map(|_| "SHA-256"),
        "previousDigestSignature": prev.map(|p| p.2),
        "logFiles": files,
    })
}

fn string_to_sign(d: &Value, raw: &[u8]) -> String {
    format!(
        "{}\n{}/{}\n{}\n{}",
        d["digestEndTime"].as_str().unwrap(),
        d["digestS3Bucket"].as_str().unwrap(),
        d["digestS3Object"].as_str().unwrap(),
        sha_hex(raw),
        d["previousDigestSignature"].as_str().unwrap_or("null")
    )
}

fn digest_key(trail: &str, end: DateTime<Utc>, backfill: bool) -> String {
    format!(
        "{}/{ACCOUNT}_CloudTrail-Digest_{REGION}_{trail}_{REGION}_{}{}.json.gz",
        day_dir("CloudTrail-Digest", end, REGION),
        end.format("%Y%m%dT%H%M%SZ"),
        if backfill { "_backfill" } else { "" }
    )
}

fn build(root: &Path, b: Build) -> Trail {
    let mut trail = Trail {
        root: root.to_owned(),
        digests: Vec::new(),
        logs: Vec::new(),
    };
    // (key, sha of uncompressed, signature) of the previous digest.
    let mut prev: Option<(String, String, String)> = None;
    let mut n = 0;
    for h in 0..b.hours {
        let start = t0() + Duration::hours(h as i64) + Duration::seconds(31);
        let end = start + Duration::hours(1);
        let mut logs = Vec::new();
        if !b.empty.contains(&h) {
            for m in [5, 35] {
                n += 1;
                let (k, sha) = log_file(root, start + Duration::minutes(m), n);
                trail.logs.push(k.clone());
                logs.push((k, sha));
            }
        }
        if b.restart.contains(&h) {
            prev = None;
        }
        let key = digest_key(b.trail, end, false);
        let k = (b.key_for)(h);
        let d = digest_json(
            b.trail,
            start,
            end,
            &key,
            &fingerprint(k),
            prev.as_ref()
                .map(|(a, s, g)| (a.as_str(), s.as_str(), g.as_str())),
            &logs,
        );
        let raw = serde_json::to_vec(&d).unwrap();
        let sig = sign(k, &string_to_sign(&d, &raw));
        write(root, &key, &gzip(&raw));
        // Offline copies need the signature of each chain's newest digest: the next digest
        // carries the others' forward, a restarted chain does not.
        if b.all_sidecars || h + 1 == b.hours || b.restart.contains(&(h + 1)) {
            write(root, &format!("{key}.sig"), sig.as_bytes());
        }
        prev = Some((key.clone(), sha_hex(&raw), sig));
        trail.digests.push(key);
    }
    trail
}

pub fn default_keys(dir: &Path) -> PathBuf {
    keys_file(
        dir,
        &[
            (0, "2024-01-01T00:00:00Z", "2025-01-01T00:00:00Z"),
            (1, "2024-03-02T00:00:00Z", "2025-01-01T00:00:00Z"),
        ],
    )
}

/// Run verify with --format json: (exit code, report).
fn verify(root: &Path, keys: &Path, extra: &[&str]) -> (i32, Value) {
    let out = bin()
        .arg("verify")
        .arg(root)
        .arg("--public-keys")
        .arg(keys)
        .args(["--format", "json"])
        .args(extra)
        .output()
        .unwrap();
    let v: Value = serde_json::from_slice(&out.stdout).unwrap_or_else(|e| {
        panic!(
            "verify prints JSON ({e}): {}\n{}",
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        )
    });
    (out.status.code().unwrap(), v)
}

/// Verdicts by object key relative to the trail root ("#after" kept), valid ones left out.
fn problems(trail: &Trail, report: &Value) -> BTreeMap<String, String> {
    let root = format!(
        "file://{}/",
        std::fs::canonicalize(&trail.root).unwrap().display()
    );
    report["objects"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|o| o["verdict"] != "valid")
        .map(|o| {
            let obj = o["object"].as_str().unwrap();
            (
                obj.strip_prefix(&root).unwrap_or(obj).to_owned(),
                o["verdict"].as_str().unwrap().to_owned(),
            )
        })
        .collect()
}

fn count(report: &Value, kind: &str, verdict: &str) -> u64 {
    report["summary"][kind][verdict].as_u64().unwrap_or(0)
}

#[test]
fn an_untouched_chain_is_valid_with_a_key_rotation_empty_hour_and_restart() {
    let dir = tempfile::tempdir().unwrap();
    // Key 0 until 2024-03-02, key 1 after: the rotation falls inside the range.
    let t = build(
        &dir.path().join("bucket"),
        Build {
            key_for: |h| if h < 3 { 0 } else { 1 },
            empty: &[2],
            restart: &[4],
            all_sidecars: false,
            ..Build::default()
        },
    );
    let (code, r) = verify(&t.root, &default_keys(dir.path()), &[]);
    assert_eq!(problems(&t, &r), BTreeMap::new(), "{r:#}");
    assert_eq!(code, 0);
    assert_eq!(count(&r, "digest", "valid"), 6);
    assert_eq!(count(&r, "log", "valid"), 10);
    assert_eq!(r["valid"], true);
    let notes = r["notes"].as_array().unwrap();
    assert_eq!(notes.len(), 1, "the restart is noted: {notes:?}");
    assert!(notes[0].as_str().unwrap().contains("chain restarts"));
}

#[test]
fn a_modified_log_is_modified_and_nothing_else() {
    let dir = tempfile::tempdir().unwrap();
    let t = build(&dir.path().join("b"), Build::default());
    let victim = &t.logs[3];
    let body = br#"{"Records":[{"eventName":"ForgedEvent"}]}"#;
    write(&t.root, victim, &gzip(body));
    let (code, r) = verify(&t.root, &default_keys(dir.path()), &[]);
    assert_eq!(code, 1);
    assert_eq!(
        problems(&t, &r),
        BTreeMap::from([(victim.clone(), "modified".to_owned())])
    );
    assert_eq!(count(&r, "log", "valid"), 11);
}

#[test]
fn a_deleted_log_is_deleted() {
    let dir = tempfile::tempdir().unwrap();
    let t = build(&dir.path().join("b"), Build::default());
    std::fs::remove_file(t.root.join(&t.logs[0])).unwrap();
    let (code, r) = verify(&t.root, &default_keys(dir.path()), &[]);
    assert_eq!(code, 1);
    assert_eq!(
        problems(&t, &r),
        BTreeMap::from([(t.logs[0].clone(), "deleted".to_owned())])
    );
}

#[test]
fn a_deleted_digest_is_missing_and_its_logs_not_covered() {
    let dir = tempfile::tempdir().unwrap();
    let t = build(&dir.path().join("b"), Build::default());
    std::fs::remove_file(t.root.join(&t.digests[2])).unwrap();
    let (code, r) = verify(&t.root, &default_keys(dir.path()), &[]);
    assert_eq!(code, 1);
    assert_eq!(
        problems(&t, &r),
        BTreeMap::from([
            (t.digests[2].clone(), "digest_missing".to_owned()),
            (t.logs[4].clone(), "not_covered".to_owned()),
            (t.logs[5].clone(), "not_covered".to_owned()),
        ]),
        "{r:#}"
    );
}

#[test]
fn two_deleted_digests_in_a_row_are_both_reported() {
    let dir = tempfile::tempdir().unwrap();
    let t = build(&dir.path().join("b"), Build::default());
    std::fs::remove_file(t.root.join(&t.digests[2])).unwrap();
    std::fs::remove_file(t.root.join(&t.digests[3])).unwrap();
    let (code, r) = verify(&t.root, &default_keys(dir.path()), &[]);
    assert_eq!(code, 1);
    let p = problems(&t, &r);
    // digest 3 is named by digest 4; digest 2 is named by nobody left, so the gap is reported
    // after digest 1, the last one before it.
    assert_eq!(
        p.get(&t.digests[3]).map(String::as_str),
        Some("digest_missing")
    );
    assert_eq!(
        p.get(&format!("{}#after", t.digests[1]))
            .map(String::as_str),
        Some("digest_missing"),
        "{p:#?}"
    );
    for l in &t.logs[4..8] {
        assert_eq!(p.get(l).map(String::as_str), Some("not_covered"));
    }
    assert_eq!(p.len(), 6, "{p:#?}");
}

#[test]
fn a_file_no_digest_covers_is_not_covered() {
    let dir = tempfile::tempdir().unwrap();
    let t = build(&dir.path().join("b"), Build::default());
    let (dropped, _) = log_file(&t.root, t0() + Duration::minutes(150), 999);
    // Events under a name CloudTrail does not use are still a log file no digest covers.
    let renamed = format!("{}/events.json.gz", day_dir("CloudTrail", t0(), REGION));
    let (tmp, _) = log_file(&t.root, t0() + Duration::minutes(151), 998);
    std::fs::rename(t.root.join(&tmp), t.root.join(&renamed)).unwrap();
    // Not CloudTrail, as ingest reads it: skipped, not judged.
    let junk = format!("{}/notes.json.gz", day_dir("CloudTrail", t0(), REGION));
    write(&t.root, &junk, &gzip(b"{}"));
    let (code, r) = verify(&t.root, &default_keys(dir.path()), &[]);
    assert_eq!(code, 1);
    assert_eq!(
        problems(&t, &r),
        BTreeMap::from([
            (dropped, "not_covered".to_owned()),
            (renamed, "not_covered".to_owned()),
        ])
    );
    assert_eq!(r["skipped"], json!({"not CloudTrail": 1}), "{r:#}");
}

#[test]
fn files_next_to_the_logs_that_are_not_logs_are_skipped_not_judged() {
    let dir = tempfile::tempdir().unwrap();
    let t = build(&dir.path().join("b"), Build::default());
    let keys = default_keys(dir.path());
    // What a user keeps next to AWSLogs/: a README, the keys file itself, notes.
    write(
        &t.root,
        "README.md",
        b"# Our trail\n\nCopied with aws s3 sync.\n",
    );
    std::fs::copy(&keys, t.root.join("keys.json")).unwrap();
    write(&t.root, "AWSLogs/notes.txt", b"nothing to see");
    let (code, r) = verify(&t.root, &keys, &[]);
    assert_eq!(problems(&t, &r), BTreeMap::new(), "{r:#}");
    assert_eq!(code, 0, "{r:#}");
    assert_eq!(count(&r, "log", "valid"), 12);
    assert_eq!(
        r["skipped"],
        json!({"not a log file": 2, "not CloudTrail": 1}),
        "{r:#}"
    );
    // The table's summary line says so too.
    let out = bin()
        .arg("verify")
        .arg(&t.root)
        .arg("--public-keys")
        .arg(&keys)
        .output()
        .unwrap();
    let text = String::from_utf8_lossy(&out.stdout);
    assert_eq!(out.status.code(), Some(0), "{text}");
    assert!(
        text.contains("skipped 3 (not CloudTrail 1, not a log file 2)"),
        "{text}"
    );
}

#[test]
fn a_digest_signed_with_an_unknown_key_is_key_not_found() {
    let dir = tempfile::tempdir().unwrap();
    let t = build(
        &dir.path().join("b"),
        Build {
            key_for: |h| if h == 4 { 2 } else { 0 },
            ..Build::default()
        },
    );
    let (code, r) = verify(&t.root, &default_keys(dir.path()), &[]);
    assert_eq!(code, 1);
    assert_eq!(
        problems(&t, &r),
        BTreeMap::from([
            (t.digests[4].clone(), "key_not_found".to_owned()),
            (t.logs[8].clone(), "not_covered".to_owned()),
            (t.logs[9].clone(), "not_covered".to_owned()),
        ])
    );
}

#[test]
fn a_key_used_outside_its_validity_is_not_accepted() {
    let dir = tempfile::tempdir().unwrap();
    let t = build(&dir.path().join("b"), Build::default());
    // Key 0 only valid from 2024-03-02: every digest (March 1st-2nd) before is refused.
    let keys = keys_file(
        dir.path(),
        &[(0, "2024-03-02T02:00:00Z", "2025-01-01T00:00:00Z")],
    );
    let (code, r) = verify(&t.root, &keys, &[]);
    assert_eq!(code, 1);
    assert_eq!(count(&r, "digest", "key_not_found"), 3, "{r:#}");
    assert_eq!(count(&r, "digest", "valid"), 3);
}

#[test]
fn a_modified_digest_fails_its_signature_and_its_logs_are_not_covered() {
    let dir = tempfile::tempdir().unwrap();
    let t = build(&dir.path().join("b"), Build::default());
    // Hide a log: drop it from digest 1 (and the file), keep the old signature.
    let path = t.root.join(&t.digests[1]);
    let mut raw = Vec::new();
    use std::io::Read;
    flate2::read::GzDecoder::new(std::fs::File::open(&path).unwrap())
        .read_to_end(&mut raw)
        .unwrap();
    let mut d: Value = serde_json::from_slice(&raw).unwrap();
    d["logFiles"].as_array_mut().unwrap().remove(0);
    std::fs::write(&path, gzip(&serde_json::to_vec(&d).unwrap())).unwrap();
    std::fs::remove_file(t.root.join(&t.logs[2])).unwrap();
    let (code, r) = verify(&t.root, &default_keys(dir.path()), &[]);
    assert_eq!(code, 1);
    assert_eq!(
        problems(&t, &r),
        BTreeMap::from([
            (t.digests[1].clone(), "signature_invalid".to_owned()),
            (t.logs[3].clone(), "not_covered".to_owned()),
        ]),
        "{r:#}"
    );
}

#[test]
fn a_digest_swapped_for_another_trails_is_caught() {
    let dir = tempfile::tempdir().unwrap();
    let t = build(&dir.path().join("b"), Build::default());
    let other = build(
        &dir.path().join("other"),
        Build {
            trail: "other-trail",
            ..Build::default()
        },
    );
    // The other trail's digest 2 (validly signed, with its sidecar) put in place of ours.
    for suffix in ["", ".sig"] {
        std::fs::copy(
            other.root.join(format!("{}{suffix}", other.digests[2])),
            t.root.join(format!("{}{suffix}", t.digests[2])),
        )
        .unwrap();
    }
    let (code, r) = verify(&t.root, &default_keys(dir.path()), &[]);
    assert_eq!(code, 1);
    // The stranger is refused (it was signed for another key); the real digest 2 is gone, so
    // the chain has a hole after digest 1, and digest 2's logs are covered by nothing.
    assert_eq!(
        problems(&t, &r),
        BTreeMap::from([
            (t.digests[2].clone(), "signature_invalid".to_owned()),
            (
                format!("{}#after", t.digests[1]),
                "digest_missing".to_owned()
            ),
            (t.logs[4].clone(), "not_covered".to_owned()),
            (t.logs[5].clone(), "not_covered".to_owned()),
        ])
    );
}

#[test]
fn signatures_carry_forward_and_a_missing_newest_signature_is_invalid() {
    let dir = tempfile::tempdir().unwrap();
    let t = build(
        &dir.path().join("b"),
        Build {
            all_sidecars: false,
            ..Build::default()
        },
    );
    std::fs::remove_file(t.root.join(format!("{}.sig", t.digests[5]))).unwrap();
    let (code, r) = verify(&t.root, &default_keys(dir.path()), &[]);
    assert_eq!(code, 1);
    // The newest digest cannot be checked, so the signatures it carries for the others are
    // not trusted either: every digest is unverified, and so every log.
    assert_eq!(count(&r, "digest", "signature_invalid"), 6, "{r:#}");
    assert_eq!(count(&r, "log", "not_covered"), 12);
    assert_eq!(count(&r, "log", "valid") + count(&r, "digest", "valid"), 0);
}

#[test]
fn backfill_digests_and_windows() {
    let dir = tempfile::tempdir().unwrap();
    let t = build(&dir.path().join("b"), Build::default());
    // A backfill digest for a log delivered late, standing outside the chain.
    let at = t0() + Duration::hours(2) + Duration::minutes(50);
    let (log, sha) = log_file(&t.root, at, 500);
    let end = t0() + Duration::hours(4);
    let key = digest_key("main-trail", end, true);
    let d = digest_json(
        "main-trail",
        end - Duration::hours(1),
        end,
        &key,
        &fingerprint(0),
        None,
        &[(log.clone(), sha)],
    );
    let raw = serde_json::to_vec(&d).unwrap();
    write(&t.root, &key, &gzip(&raw));
    write(
        &t.root,
        &format!("{key}.sig"),
        sign(0, &string_to_sign(&d, &raw)).as_bytes(),
    );
    let keys = default_keys(dir.path());
    let (code, r) = verify(&t.root, &keys, &[]);
    assert_eq!(problems(&t, &r), BTreeMap::new(), "{r:#}");
    assert_eq!(code, 0);
    assert_eq!(count(&r, "digest", "valid"), 7);
    assert_eq!(count(&r, "log", "valid"), 13);

    // A window: only the log files delivered in it, and the digests that cover them.
    std::fs::remove_file(t.root.join(&t.logs[0])).unwrap();
    let (code, r) = verify(
        &t.root,
        &keys,
        &[
            "--since",
            "2024-03-02T00:00:00Z",
            "--until",
            "2024-03-02T02:00:00Z",
        ],
    );
    assert_eq!(code, 0, "{r:#}");
    // Digests ending 00:00:31, 01:00:31, 02:00:31 and the backfill one (02:00:00); their 7
    // logs. The deleted log of the first hour is outside the window.
    assert_eq!(count(&r, "digest", "valid"), 4, "{r:#}");
    assert_eq!(count(&r, "log", "valid"), 7);
    assert_eq!(problems(&t, &r), BTreeMap::new());
}

const UPLOAD_SIGNED: &str = r#"
import sys, os, boto3
endpoint, src = sys.argv[1], sys.argv[2]
s3 = boto3.client("s3", endpoint_url=endpoint, aws_access_key_id="test", aws_secret_access_key="test", region_name="us-east-1")
s3.create_bucket(Bucket="trail-bucket")
for root, _, files in os.walk(src):
    for f in files:
        path = os.path.join(root, f)
        key = os.path.relpath(path, src)
        if key.endswith(".sig"):
            continue
        extra = {}
        if os.path.exists(path + ".sig"):
            # Where CloudTrail puts a digest's signature: the object's metadata.
            sig = open(path + ".sig").read().strip()
            extra = {"Metadata": {"signature": sig, "signature-algorithm": "SHA256withRSA"}}
        s3.upload_file(path, "trail-bucket", key, ExtraArgs=extra)
"#;

#[test]
fn a_trail_in_s3_is_verified_with_signatures_from_object_metadata() {
    let moto = crate::s3::start_moto();
    let dir = tempfile::tempdir().unwrap();
    let t = build(&dir.path().join("b"), Build::default());
    // Tamper before upload: one log modified.
    write(&t.root, &t.logs[1], &gzip(br#"{"Records":[]}"#));
    let up = std::process::Command::new("python3")
        .arg("-c")
        .arg(UPLOAD_SIGNED)
        .arg(&moto.endpoint)
        .arg(&t.root)
        .output()
        .unwrap();
    assert!(
        up.status.success(),
        "{}",
        String::from_utf8_lossy(&up.stderr)
    );
    let keys = default_keys(dir.path());
    let mut cmd = bin();
    cmd.args([
        "verify",
        "s3://trail-bucket/",
        "--format",
        "json",
        "--public-keys",
    ])
    .arg(&keys);
    crate::s3::with_s3(&mut cmd, &moto);
    let out = cmd.output().unwrap();
    let r: Value = serde_json::from_slice(&out.stdout)
        .unwrap_or_else(|_| panic!("{}", String::from_utf8_lossy(&out.stderr)));
    assert_eq!(out.status.code(), Some(1));
    assert_eq!(count(&r, "digest", "valid"), 6, "{r:#}");
    assert_eq!(count(&r, "log", "valid"), 11);
    let bad: Vec<&str> = r["objects"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|o| o["verdict"] != "valid")
        .map(|o| o["object"].as_str().unwrap())
        .collect();
    assert_eq!(bad, [format!("s3://trail-bucket/{}", t.logs[1])]);
    // Every digest and log file read once, and the bucket listed: counted per store.
    let requests = r["requests"].as_array().unwrap();
    assert_eq!(requests.len(), 1, "{r:#}");
    assert_eq!(requests[0]["store"], "s3://trail-bucket");
    assert_eq!(
        requests[0]["get"],
        r["objects"].as_array().unwrap().len() as u64
    );
    assert!(requests[0]["list"].as_u64().unwrap() > 0);
    assert_eq!(requests[0]["put"], 0);
}

#[test]
fn ingest_verify_records_each_source_verdict_for_queries() {
    let dir = tempfile::tempdir().unwrap();
    let t = build(&dir.path().join("b"), Build::default());
    // A forged event in place of a real log file: ingested, but not verified.
    let forged = json!({"Records": [{"eventVersion": "1.08", "eventTime": "2024-03-01T23:40:00Z",
        "eventSource": "iam.amazonaws.com", "eventName": "CreateUser", "awsRegion": REGION,
        "eventID": "ffffffff-0000-0000-0000-000000000000", "recipientAccountId": ACCOUNT}]});
    write(&t.root, &t.logs[3], &gzip(forged.to_string().as_bytes()));
    let lake = dir.path().join("lake");
    let out = bin()
        .arg("--lake")
        .arg(&lake)
        .args(["ingest", "--quiet", "--json", "--verify", "--public-keys"])
        .arg(default_keys(dir.path()))
        .arg(&t.root)
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let s: Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(s["verification"]["logs"]["valid"], 11, "{s:#}");
    assert_eq!(s["verification"]["logs"]["modified"], 1);
    assert_eq!(s["written"], 12);
    let verified = crate::common::scalar(
        &lake,
        "SELECT count(*) FROM cloudtrail WHERE sourceobject IN \
         (SELECT sourceobject FROM cloudtrail_sources WHERE verdict = 'valid')",
    );
    assert_eq!(verified, "11");
    let unverified = crate::common::scalar(
        &lake,
        "SELECT eventname FROM cloudtrail c JOIN cloudtrail_sources s USING (sourceobject) \
         WHERE s.verdict <> 'valid'",
    );
    assert_eq!(unverified, "CreateUser");
    // The verdicts are a Delta table other engines read.
    let theirs = crate::common::deltalake_rows(
        &lake.join("cloudtrail_sources"),
        &["sourceobject", "verdict"],
    );
    let ours = crate::common::sorted_rows(
        &lake,
        "SELECT sourceobject, verdict FROM cloudtrail_sources",
    );
    assert!(ours.len() >= 12, "{ours:?}");
    assert_eq!(theirs, ours);
}

#[test]
fn the_digest_examples_in_aws_documentation_parse() {
    let Some(samples) = crate::common::shared_samples() else {
        eprintln!("skipped: ../shared/data not present");
        return;
    };
    let dir = samples.join("aws-cloudtrail-user-guide/doc_source-examples");
    let mut n = 0;
    for e in std::fs::read_dir(&dir).unwrap().flatten() {
        let text = std::fs::read(e.path()).unwrap();
        if !String::from_utf8_lossy(&text).contains("digestS3Object") {
            continue;
        }
        let d = trailsql_ingest::verify::Digest::parse(&text)
            .unwrap_or_else(|err| panic!("{}: {err}", e.path().display()));
        let name = trailsql_ingest::verify::DigestName::parse(&d.digest_s3_object)
            .unwrap_or_else(|| panic!("{}: digest name", e.path().display()));
        assert_eq!(name.account, "111122223333");
        assert_eq!(Some(name.end), d.end_time());
        assert_eq!(
            d.digest_public_key_fingerprint.as_deref(),
            Some("31e8b5433410dfb61a9dc45cc65b22ff")
        );
        assert!(
            d.string_to_sign("00")
                .ends_with(d.previous_digest_signature.as_deref().unwrap())
        );
        n += 1;
    }
    assert_eq!(n, 2, "the two digest examples of the user guide");
}

/// Chains signed by a second implementation of AWS's algorithm (Python, `cryptography`):
/// organization layout under a key prefix, two regions, key rotation, `DIGEST.sig` sidecars,
/// pretty-printed JSON, epoch key validity times; each scenario's expected verdicts are the
/// script's.
#[test]
fn chains_made_by_an_independent_implementation_get_the_expected_verdicts() {
    let dir = tempfile::tempdir().unwrap();
    let script = crate::common::fixtures().join("verify/make_chains.py");
    let made = std::process::Command::new("python3")
        .arg(&script)
        .arg(dir.path())
        .output()
        .unwrap();
    assert!(
        made.status.success(),
        "make_chains.py (pip install cryptography; tests/run.sh does): {}",
        String::from_utf8_lossy(&made.stderr)
    );
    let mut scenarios = 0;
    for e in std::fs::read_dir(dir.path()).unwrap().flatten() {
        let s = e.path();
        let expected: Value =
            serde_json::from_slice(&std::fs::read(s.join("expected.json")).unwrap()).unwrap();
        let want: BTreeMap<String, String> = expected["problems"]
            .as_object()
            .unwrap()
            .iter()
            .map(|(k, v)| (k.clone(), v.as_str().unwrap().to_owned()))
            .collect();
        let tree = Trail {
            root: s.join("tree"),
            digests: Vec::new(),
            logs: Vec::new(),
        };
        let (code, r) = verify(&tree.root, &s.join("keys.json"), &[]);
        let name = e.file_name().to_string_lossy().into_owned();
        assert_eq!(problems(&tree, &r), want, "scenario {name}");
        assert_eq!(code, if want.is_empty() { 0 } else { 1 }, "scenario {name}");
        let judged: u64 = r["summary"]["digest"]
            .as_object()
            .unwrap()
            .values()
            .map(|v| v.as_u64().unwrap())
            .sum::<u64>()
            - count(&r, "digest", "digest_missing");
        let present = crate::s3::walk(&tree.root)
            .iter()
            .filter(|p| p.contains("/CloudTrail-Digest/") && p.ends_with(".json.gz"))
            .count() as u64;
        assert_eq!(judged, present, "scenario {name}: every digest judged");
        let judged_logs: u64 = r["summary"]["log"]
            .as_object()
            .unwrap()
            .values()
            .map(|v| v.as_u64().unwrap())
            .sum();
        let present_logs = crate::s3::walk(&tree.root)
            .iter()
            .filter(|p| p.contains("/CloudTrail/"))
            .count() as u64;
        assert_eq!(
            judged_logs,
            present_logs + count(&r, "log", "deleted"),
            "scenario {name}: every log judged, present or listed"
        );
        scenarios += 1;
    }
    assert_eq!(scenarios, 6);
}

/// The console's event detail shows the verdict on the event's source object.
#[test]
fn serve_shows_the_digest_verdict_of_an_events_source() {
    let dir = tempfile::tempdir().unwrap();
    let t = build(&dir.path().join("b"), Build::default());
    let forged = json!({"Records": [{"eventVersion": "1.08", "eventTime": "2024-03-01T23:40:00Z",
        "eventSource": "iam.amazonaws.com", "eventName": "CreateUser", "awsRegion": REGION,
        "eventID": "ffffffff-0000-0000-0000-000000000000", "recipientAccountId": ACCOUNT}]});
    write(&t.root, &t.logs[3], &gzip(forged.to_string().as_bytes()));
    let lake = dir.path().join("lake");
    let out = bin()
        .arg("--lake")
        .arg(&lake)
        .args(["ingest", "--quiet", "--verify", "--public-keys"])
        .arg(default_keys(dir.path()))
        .arg(&t.root)
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let server = crate::serve::start_server(&lake, &[]);
    let e = crate::serve::get(&server, "/api/event/ffffffff-0000-0000-0000-000000000000").json();
    assert_eq!(e["record"], forged["Records"][0]);
    assert_eq!(e["verdict"]["verdict"], "modified", "{e:#}");
    assert!(e["source_object"].as_str().unwrap().ends_with(&t.logs[3]));
    let valid = crate::common::scalar(
        &lake,
        "SELECT eventid FROM cloudtrail WHERE eventid <> 'ffffffff-0000-0000-0000-000000000000' LIMIT 1",
    );
    let e = crate::serve::get(&server, &format!("/api/event/{valid}")).json();
    assert_eq!(e["verdict"]["verdict"], "valid", "{e:#}");
    assert!(
        e["verdict"]["digest"]
            .as_str()
            .is_some_and(|d| d.contains("Digest")),
        "{e:#}"
    );
}
