//! S3 credentials as AWS users have them: profiles in a HOME of the test's own (static keys,
//! a `credential_process` whose credentials expire during the run, an assume-role profile
//! against moto's STS), a missing profile, sources and lake in two accounts, SSE-KMS on what
//! trailsql writes, and the requests it counts checked against what the server saw. A
//! logging proxy (tests/tools/s3proxy.py) sits between trailsql and moto and records each
//! request's access key id (never a secret) and SSE headers.

use std::net::TcpListener;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use serde_json::Value;

use crate::common::*;
use crate::s3::{Moto, start_moto};

const STATIC_KEY: &str = "AKIASTATIC0000000001";
const SECURITY_KEY: &str = "AKIASECURITY00000001";

/// The logging, delaying proxy in front of a server on loopback.
pub struct Proxy {
    child: Child,
    pub endpoint: String,
    pub log: PathBuf,
}

impl Drop for Proxy {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

pub fn free_port() -> u16 {
    TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

pub fn start_proxy(upstream: &str, delay_ms: u64, log: &Path) -> Proxy {
    let port = free_port();
    let upstream_port = upstream.rsplit(':').next().unwrap();
    let script = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../tests/tools/s3proxy.py");
    let child = Command::new("python3")
        .arg(script)
        .args([&port.to_string(), upstream_port, &delay_ms.to_string()])
        .arg(log)
        .stdout(Stdio::null())
        .spawn()
        .unwrap();
    let start = Instant::now();
    while std::net::TcpStream::connect(("127.0.0.1", port)).is_err() {
        assert!(start.elapsed() < Duration::from_secs(20), "proxy started");
        std::thread::sleep(Duration::from_millis(50));
    }
    Proxy {
        child,
        endpoint: format!("http://127.0.0.1:{port}"),
        log: log.to_owned(),
    }
}

impl Proxy {
    /// The requests logged so far.
    pub fn requests(&self) -> Vec<Value> {
        std::fs::read_to_string(&self.log)
            .unwrap_or_default()
            .lines()
            .map(|l| serde_json::from_str(l).unwrap())
            .collect()
    }
}

const SETUP: &str = r#"
import sys, os, boto3
endpoint, src = sys.argv[1], sys.argv[2]
s3 = boto3.client("s3", endpoint_url=endpoint, aws_access_key_id="setup", aws_secret_access_key="setup", region_name="us-east-1")
for b in ("trail", "lake"):
    s3.create_bucket(Bucket=b)
for root, _, files in os.walk(src):
    for f in files:
        path = os.path.join(root, f)
        s3.upload_file(path, "trail", os.path.relpath(path, src))
"#;

/// Buckets `trail` (a generated trail of `events` events on one day, one account, two
/// regions) and `lake`, made directly on moto.
fn buckets(moto: &Moto, dir: &Path, events: u64) {
    let cfg = trailsql_gen::GenConfig {
        events,
        days: 1,
        accounts: 1,
        regions: vec!["us-east-1".into(), "eu-west-1".into()],
        insights: false,
        ..Default::default()
    };
    trailsql_gen::generate(&cfg, dir).unwrap();
    let o = Command::new("python3")
        .arg("-c")
        .arg(SETUP)
        .arg(&moto.endpoint)
        .arg(dir)
        .output()
        .unwrap();
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
}

/// A HOME with `~/.aws/config` and `~/.aws/credentials`: static keys (`static`, and
/// `security` for the lake's account), `proc` (a credential_process whose credentials last
/// `lifetime_s` seconds and which counts its calls in `calls`), and `role` (assume-role with
/// `static` as its source).
fn aws_home(root: &Path, lifetime_s: u32) -> (PathBuf, PathBuf) {
    let home = root.join("home");
    std::fs::create_dir_all(home.join(".aws")).unwrap();
    let calls = root.join("process-calls");
    let script = root.join("credentials.sh");
    std::fs::write(
        &script,
        format!(
            r#"#!/bin/sh
echo call >> {calls}
n=$(wc -l < {calls})
exp=$(date -u -d "+{lifetime_s} seconds" +%Y-%m-%dT%H:%M:%SZ)
printf '{{"Version":1,"AccessKeyId":"AKIAPROCESS%09d","SecretAccessKey":"process-secret","SessionToken":"token","Expiration":"%s"}}\n' "$n" "$exp"
"#,
            calls = calls.display()
        ),
    )
    .unwrap();
    std::process::Command::new("chmod")
        .arg("+x")
        .arg(&script)
        .status()
        .unwrap();
    std::fs::write(
        home.join(".aws/credentials"),
        format!(
            "[static]\naws_access_key_id = {STATIC_KEY}\naws_secret_access_key = static-secret\n\n\
             [security]\naws_access_key_id = {SECURITY_KEY}\naws_secret_access_key = security-secret\n"
        ),
    )
    .unwrap();
    std::fs::write(
        home.join(".aws/config"),
        format!(
            "[profile static]\nregion = us-east-1\n\n\
             [profile proc]\ncredential_process = {}\n\n\
             [profile role]\nrole_arn = arn:aws:iam::123456789012:role/trail-reader\n\
             source_profile = static\nexternal_id = trail-ext\nduration_seconds = 900\n",
            script.display()
        ),
    )
    .unwrap();
    (home, calls)
}

/// The binary with only this HOME's AWS configuration and the proxy as S3 and STS endpoint.
fn aws_bin(home: &Path, proxy: &Proxy) -> Command {
    let mut cmd = bin();
    for (k, _) in std::env::vars() {
        if k.starts_with("AWS_") || k.starts_with("TRAILSQL_") {
            cmd.env_remove(k);
        }
    }
    cmd.env("HOME", home)
        .env("AWS_ENDPOINT_URL", &proxy.endpoint)
        .env("AWS_EC2_METADATA_DISABLED", "true");
    cmd
}

fn ok(cmd: &mut Command) -> std::process::Output {
    let o = cmd.output().unwrap();
    assert!(
        o.status.success(),
        "{}\n{}",
        String::from_utf8_lossy(&o.stdout),
        String::from_utf8_lossy(&o.stderr)
    );
    o
}

/// The access key ids that signed the requests to `bucket`.
fn keys_for(reqs: &[Value], bucket: &str) -> std::collections::BTreeSet<String> {
    reqs.iter()
        .filter(|r| r["bucket"] == bucket)
        .map(|r| {
            r["access_key_id"]
                .as_str()
                .unwrap_or("(unsigned)")
                .to_owned()
        })
        .collect()
}

#[test]
fn static_assume_role_and_missing_profiles() {
    let moto = start_moto();
    let tmp = tempfile::tempdir().unwrap();
    buckets(&moto, &tmp.path().join("src"), 300);
    let proxy = start_proxy(&moto.endpoint, 0, &tmp.path().join("requests.ndjson"));
    let (home, _) = aws_home(tmp.path(), 3600);

    // Static keys of a named profile.
    let lake = tmp.path().join("lake-static");
    let o = ok(aws_bin(&home, &proxy)
        .args(["--profile", "static", "--lake"])
        .arg(&lake)
        .args(["ingest", "--json", "--quiet", "s3://trail/AWSLogs/"]));
    let reqs = proxy.requests();
    assert_eq!(keys_for(&reqs, "trail"), [STATIC_KEY.to_owned()].into());
    // Credentials never in the output.
    let out = format!("{o:?}");
    assert!(!out.contains("static-secret") && !out.contains(STATIC_KEY));

    // Assume-role: STS is called with the source profile's keys (with the external id and
    // duration), and the bucket is read with the role's temporary keys.
    let seen = reqs.len();
    let lake = tmp.path().join("lake-role");
    ok(aws_bin(&home, &proxy)
        .args(["--profile", "role", "--lake"])
        .arg(&lake)
        .args(["ingest", "--json", "--quiet", "s3://trail/AWSLogs/"]));
    let reqs = proxy.requests()[seen..].to_vec();
    let sts: Vec<&Value> = reqs
        .iter()
        .filter(|r| r["action"] == "AssumeRole")
        .collect();
    assert_eq!(sts.len(), 1, "one AssumeRole for the run: {reqs:?}");
    assert_eq!(sts[0]["access_key_id"], STATIC_KEY);
    let role_keys = keys_for(&reqs, "trail");
    assert_eq!(role_keys.len(), 1, "{role_keys:?}");
    let role_key = role_keys.iter().next().unwrap();
    assert!(role_key.starts_with("ASIA"), "temporary keys: {role_key}");
    assert_eq!(
        scalar(&lake, "SELECT count(*) FROM cloudtrail"),
        scalar(
            &tmp.path().join("lake-static"),
            "SELECT count(*) FROM cloudtrail"
        )
    );

    // A profile that does not exist: one clear line, exit status 1, no request made.
    let seen = proxy.requests().len();
    let o = aws_bin(&home, &proxy)
        .args(["--profile", "nope", "--lake"])
        .arg(tmp.path().join("lake-nope"))
        .args(["ingest", "--quiet", "s3://trail/AWSLogs/"])
        .output()
        .unwrap();
    let err = String::from_utf8_lossy(&o.stderr);
    assert_eq!(o.status.code(), Some(1), "{err}");
    assert_eq!(err.lines().count(), 1, "{err}");
    assert!(
        err.starts_with("error: AWS profile \"nope\": not found in ~/.aws/config"),
        "{err}"
    );
    assert_eq!(proxy.requests().len(), seen);

    // AWS_PROFILE names the profile as well.
    let o = aws_bin(&home, &proxy)
        .env("AWS_PROFILE", "nope")
        .args(["--lake"])
        .arg(tmp.path().join("lake-nope"))
        .args(["ingest", "--quiet", "s3://trail/AWSLogs/"])
        .output()
        .unwrap();
    assert_eq!(o.status.code(), Some(1));
    assert!(String::from_utf8_lossy(&o.stderr).contains("AWS profile \"nope\""));
}

#[test]
fn expiring_credentials_are_refreshed_during_a_run() {
    let moto = start_moto();
    let tmp = tempfile::tempdir().unwrap();
    buckets(&moto, &tmp.path().join("src"), 2_000);
    // 40 ms a round trip and one request at a time: the run lasts several times the
    // credentials' 2 s lifetime.
    let proxy = start_proxy(&moto.endpoint, 40, &tmp.path().join("requests.ndjson"));
    let (home, calls) = aws_home(tmp.path(), 2);
    let started = Instant::now();
    let o = ok(aws_bin(&home, &proxy)
        .args(["--profile", "proc", "--lake"])
        .arg(tmp.path().join("lake"))
        .args([
            "ingest",
            "--json",
            "--quiet",
            "--max-requests",
            "1",
            "--since",
            "2024-03-01",
            "--until",
            "2024-03-02",
            "s3://trail/AWSLogs/",
        ]));
    let secs = started.elapsed().as_secs_f64();
    let summary: Value = serde_json::from_slice(&o.stdout).unwrap();
    assert!(u(&summary, "objects_read") > 100, "{summary:#}");
    let reqs = proxy.requests();
    assert!(
        reqs.iter().all(|r| r["status"] == 200),
        "every request accepted"
    );
    let calls = std::fs::read_to_string(calls).unwrap().lines().count();
    // Renewed at half their lifetime (1-2 s: the script's expiry is in whole seconds): one or
    // two calls a second, never one per request.
    assert!(secs > 4.0, "the run outlived the credentials ({secs:.1} s)");
    assert!(calls >= 2, "refreshed: {calls} calls in {secs:.1} s");
    assert!(
        (calls as f64) <= 2.0 * secs + 2.0 && calls * 10 < reqs.len(),
        "cached: {calls} calls for {} requests in {secs:.1} s",
        reqs.len()
    );
    // The keys that signed the requests changed during the run, one after the other.
    let keys: Vec<&str> = reqs
        .iter()
        .map(|r| r["access_key_id"].as_str().unwrap())
        .collect();
    let mut distinct = keys.clone();
    distinct.dedup();
    assert!(distinct.len() >= 2, "{distinct:?}");
    assert!(distinct.iter().all(|k| k.starts_with("AKIAPROCESS")));
    // Listing and reading overlap: the day prefixes are listed one at a time (one request in
    // flight), and objects listed are read while the next prefixes are listed.
    let is_list = |r: &Value| r["method"] == "GET" && r["key"] == "";
    let first_get = reqs.iter().position(|r| !is_list(r)).unwrap();
    let last_list = reqs.iter().rposition(is_list).unwrap();
    assert!(
        first_get < last_list,
        "first GET at {first_get}, last LIST at {last_list}"
    );
}

/// The counts of one store in a summary's `requests`.
fn store_requests<'a>(requests: &'a Value, store: &str) -> &'a Value {
    requests
        .as_array()
        .unwrap()
        .iter()
        .find(|s| s["store"] == store)
        .unwrap_or_else(|| panic!("{store} in {requests:#}"))
}

/// What the server saw of one bucket, counted as trailsql counts it.
fn logged(reqs: &[Value], bucket: &str) -> (u64, u64, u64, u64, u64) {
    let (mut list, mut get, mut put, mut get_bytes, mut put_bytes) = (0, 0, 0, 0, 0);
    for r in reqs.iter().filter(|r| r["bucket"] == bucket) {
        let q = r["query"].as_str().unwrap();
        match r["method"].as_str().unwrap() {
            "GET" if q.contains("list-type") || q.contains("prefix=") => list += 1,
            "GET" => {
                get += 1;
                get_bytes += r["received"].as_u64().unwrap();
            }
            "PUT" => {
                put += 1;
                put_bytes += r["sent"].as_u64().unwrap();
            }
            _ => {}
        }
    }
    (list, get, put, get_bytes, put_bytes)
}

fn counted(s: &Value) -> (u64, u64, u64, u64, u64) {
    let n = |k: &str| s[k].as_u64().unwrap();
    (
        n("list"),
        n("get"),
        n("put"),
        n("get_bytes"),
        n("put_bytes"),
    )
}

#[test]
fn sources_and_lake_in_two_accounts_with_sse_kms_and_counted_requests() {
    let moto = start_moto();
    let tmp = tempfile::tempdir().unwrap();
    buckets(&moto, &tmp.path().join("src"), 300);
    let proxy = start_proxy(&moto.endpoint, 0, &tmp.path().join("requests.ndjson"));
    let (home, _) = aws_home(tmp.path(), 3600);
    // The files named by AWS_CONFIG_FILE and AWS_SHARED_CREDENTIALS_FILE, not ~/.aws.
    let elsewhere = tmp.path().join("elsewhere");
    std::fs::rename(home.join(".aws"), &elsewhere).unwrap();
    let aws = |args: &[&str]| {
        let mut cmd = aws_bin(&home, &proxy);
        cmd.env("AWS_CONFIG_FILE", elsewhere.join("config"))
            .env("AWS_SHARED_CREDENTIALS_FILE", elsewhere.join("credentials"))
            .args([
                "--lake",
                "s3://lake/security",
                "--source-profile",
                "static",
                "--lake-profile",
                "security",
            ])
            .args(args);
        cmd
    };
    let key = "arn:aws:kms:us-east-1:444455556666:key/lake-key";
    let o = ok(&mut aws(&[
        "--sse-kms-key-id",
        key,
        "ingest",
        "--json",
        "--quiet",
        "s3://trail/AWSLogs/",
    ]));
    let summary: Value = serde_json::from_slice(&o.stdout).unwrap();
    assert_balanced(&summary);
    let reqs = proxy.requests();
    assert_eq!(keys_for(&reqs, "trail"), [STATIC_KEY.to_owned()].into());
    assert_eq!(keys_for(&reqs, "lake"), [SECURITY_KEY.to_owned()].into());

    // Every object written carries SSE-KMS with the key, as the server recorded it.
    let puts: Vec<&Value> = reqs.iter().filter(|r| r["method"] == "PUT").collect();
    assert!(!puts.is_empty());
    for p in &puts {
        assert_eq!(p["sse"], "aws:kms", "{p}");
        assert_eq!(p["sse_kms_key_id"], key, "{p}");
    }
    let heads = Command::new("python3")
        .arg("-c")
        .arg(
            r#"
import sys, json, boto3
s3 = boto3.client("s3", endpoint_url=sys.argv[1], aws_access_key_id="x", aws_secret_access_key="x", region_name="us-east-1")
for o in s3.list_objects_v2(Bucket="lake")["Contents"]:
    h = s3.head_object(Bucket="lake", Key=o["Key"])
    print(json.dumps([o["Key"], h.get("ServerSideEncryption"), h.get("SSEKMSKeyId")]))
"#,
        )
        .arg(&moto.endpoint)
        .output()
        .unwrap();
    let heads = String::from_utf8_lossy(&heads.stdout);
    assert!(heads.contains(".parquet"), "{heads}");
    for line in heads.lines() {
        let h: Value = serde_json::from_str(line).unwrap();
        assert_eq!(h[1], "aws:kms", "{h}");
        assert_eq!(h[2], key, "{h}");
    }

    // The summary's requests are what the server saw, store by store.
    let requests = &summary["requests"];
    assert_eq!(
        counted(store_requests(requests, "s3://trail")),
        logged(&reqs, "trail")
    );
    assert_eq!(
        counted(store_requests(requests, "s3://lake")),
        logged(&reqs, "lake")
    );
    let (_, gets, ..) = logged(&reqs, "trail");
    assert_eq!(gets, u(&summary, "objects_read"));

    // Queries over the lake with its profile; --stats counts their requests.
    let seen = reqs.len();
    let o = ok(&mut aws(&[
        "sql",
        "--stats",
        "--format",
        "csv",
        "-c",
        "SELECT count(*) AS n FROM cloudtrail",
    ]));
    assert_eq!(
        String::from_utf8_lossy(&o.stdout),
        format!("n\n{}\n", u(&summary, "written"))
    );
    let reqs = proxy.requests()[seen..].to_vec();
    assert_eq!(keys_for(&reqs, "lake"), [SECURITY_KEY.to_owned()].into());
    let (list, get, ..) = logged(&reqs, "lake");
    let stats = String::from_utf8_lossy(&o.stderr);
    assert!(
        stats.contains(&format!("requests: s3://lake: LIST {list}, GET {get} (")),
        "{stats}"
    );

    // --sse-kms alone: aws:kms with the bucket's default key (no key id sent).
    let seen = proxy.requests().len();
    let local = tmp.path().join("more");
    std::fs::create_dir_all(&local).unwrap();
    std::fs::write(
        local.join("one.json"),
        r#"{"Records":[{"eventVersion":"1.08","eventTime":"2024-05-01T00:00:00Z","eventSource":"s3.amazonaws.com","eventName":"GetObject","awsRegion":"us-east-1","eventID":"sse-default"}]}"#,
    )
    .unwrap();
    ok(aws(&["--sse-kms", "ingest", "--quiet"]).arg(&local));
    let puts: Vec<Value> = proxy.requests()[seen..]
        .iter()
        .filter(|r| r["method"] == "PUT")
        .cloned()
        .collect();
    assert!(!puts.is_empty());
    for p in &puts {
        assert_eq!(p["sse"], "aws:kms", "{p}");
        assert_eq!(p["sse_kms_key_id"], Value::Null, "{p}");
    }

    // One bucket cannot have two profiles.
    let o = aws_bin(&home, &proxy)
        .args([
            "--lake",
            "s3://trail/lake",
            "--source-profile",
            "static",
            "--lake-profile",
            "security",
            "ingest",
            "s3://trail/AWSLogs/",
        ])
        .output()
        .unwrap();
    assert_eq!(o.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&o.stderr).contains("two AWS profiles"));
}
