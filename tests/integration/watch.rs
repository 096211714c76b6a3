//! `ingest --watch`: files and objects added while it runs are queryable within the interval
//! plus 5 s; SIGTERM and a restart lose and double nothing (on a folder and on a bucket of
//! moto's server); with `--detect --notify`, a webhook receiver on loopback gets each finding
//! once, also when it answers 500 first; `--json` prints the findings as NDJSON.

use std::collections::BTreeMap;
use std::io::{BufRead, BufReader, Read, Write};
use std::net::TcpListener;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, ExitStatus, Stdio};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use serde_json::{Value, json};

use crate::common::*;
use crate::s3::{start_moto, with_s3};

const ACCOUNT: &str = "111122223333";
/// Every this many events, one is a `DeleteTrail` (what the test rule finds).
const FINDING_EVERY: u32 = 10;
/// How long a test waits for something the watcher should do in a few seconds.
const PATIENCE: Duration = Duration::from_secs(90);

/// Events `ids` as one CloudTrail log file's body, timed now (today's partition).
fn log_file(ids: std::ops::Range<u32>) -> Vec<u8> {
    let now = chrono::Utc::now();
    let records: Vec<Value> = ids
        .map(|i| {
            let t = now - chrono::Duration::seconds(i64::from(i % 300));
            let name = if i % FINDING_EVERY == 0 {
                "DeleteTrail"
            } else {
                "DescribeInstances"
            };
            json!({
                "eventVersion": "1.09",
                "userIdentity": {
                    "type": "IAMUser",
                    "principalId": "AIDAEXAMPLE",
                    "arn": format!("arn:aws:iam::{ACCOUNT}:user/watcher"),
                    "accountId": ACCOUNT,
                    "userName": "watcher"
                },
                "eventTime": t.format("%Y-%m-%dT%H:%M:%SZ").to_string(),
                "eventSource": if name == "DeleteTrail" { "cloudtrail.amazonaws.com" } else { "ec2.amazonaws.com" },
                "eventName": name,
                "awsRegion": "us-east-1",
                "sourceIPAddress": "198.51.100.7",
                "userAgent": "aws-cli/2.15.0",
                "requestParameters": null,
                "responseElements": null,
                "requestID": format!("req-{i}"),
                "eventID": format!("00000000-0000-4000-8000-{i:012}"),
                "readOnly": name != "DeleteTrail",
                "eventType": "AwsApiCall",
                "managementEvent": true,
                "recipientAccountId": ACCOUNT,
                "eventCategory": "Management"
            })
        })
        .collect();
    serde_json::to_vec(&json!({ "Records": records })).unwrap()
}

/// Where CloudTrail would put a log file delivered now: `AWSLogs/.../YYYY/MM/DD/NAME`.
fn delivery_key(n: u32) -> String {
    let now = chrono::Utc::now();
    format!(
        "AWSLogs/{ACCOUNT}/CloudTrail/us-east-1/{}/{ACCOUNT}_CloudTrail_us-east-1_{}_w{n:04}.json.gz",
        now.format("%Y/%m/%d"),
        now.format("%Y%m%dT%H%MZ")
    )
}

/// Deliver a gzipped log file into a local trail tree, atomically (as a sync tool would).
fn deliver_file(src: &Path, n: u32, ids: std::ops::Range<u32>) {
    let path = src.join(delivery_key(n));
    std::fs::create_dir_all(path.parent().unwrap()).unwrap();
    let tmp = src.join(format!(".incoming-{n}"));
    std::fs::write(&tmp, gzip(&log_file(ids))).unwrap();
    std::fs::rename(&tmp, &path).unwrap();
}

/// A running `ingest --watch`, its output collected as it comes.
struct Watcher {
    child: Child,
    stdout: Arc<Mutex<Vec<String>>>,
    stderr: Arc<Mutex<Vec<String>>>,
}

fn collect(r: impl Read + Send + 'static) -> Arc<Mutex<Vec<String>>> {
    let lines = Arc::new(Mutex::new(Vec::new()));
    let l = lines.clone();
    std::thread::spawn(move || {
        for line in BufReader::new(r).lines() {
            let Ok(line) = line else { break };
            l.lock().unwrap().push(line);
        }
    });
    lines
}

impl Watcher {
    fn start(mut cmd: Command) -> Watcher {
        let mut child = cmd
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .unwrap();
        let stdout = collect(child.stdout.take().unwrap());
        let stderr = collect(child.stderr.take().unwrap());
        Watcher {
            child,
            stdout,
            stderr,
        }
    }

    fn output(&self) -> String {
        format!(
            "stdout:\n{}\nstderr:\n{}",
            self.stdout.lock().unwrap().join("\n"),
            self.stderr.lock().unwrap().join("\n")
        )
    }

    /// SIGTERM, then wait for it to exit: (status, stdout lines, stderr lines).
    fn stop(mut self) -> (ExitStatus, Vec<String>, Vec<String>) {
        let pid = self.child.id().to_string();
        let killed = Command::new("kill").args(["-TERM", &pid]).status().unwrap();
        assert!(killed.success());
        let start = Instant::now();
        let status = loop {
            if let Some(s) = self.child.try_wait().unwrap() {
                break s;
            }
            assert!(
                start.elapsed() < PATIENCE,
                "the watcher did not stop on SIGTERM: {}",
                self.output()
            );
            std::thread::sleep(Duration::from_millis(50));
        };
        // The readers finish at end of file.
        std::thread::sleep(Duration::from_millis(200));
        let out = self.stdout.lock().unwrap().clone();
        let err = self.stderr.lock().unwrap().clone();
        (status, out, err)
    }
}

impl Drop for Watcher {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// (rows, distinct event IDs) in the lake, through `trailsql sql`.
fn counts(run: &dyn Fn(&[&str]) -> std::process::Output) -> (u64, u64) {
    let o = run(&[
        "sql",
        "--format",
        "csv",
        "-c",
        "SELECT count(*) AS n, count(DISTINCT eventid) AS ids FROM cloudtrail",
    ]);
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    let text = String::from_utf8_lossy(&o.stdout).into_owned();
    let row = text.lines().nth(1).unwrap_or_default().to_owned();
    let (n, ids) = row.split_once(',').unwrap_or(("0", "0"));
    (n.parse().unwrap(), ids.parse().unwrap())
}

/// Poll the lake until it holds `want` events; the time of the start of the query that first
/// saw them (by then they were committed).
fn wait_for_events(
    run: &dyn Fn(&[&str]) -> std::process::Output,
    want: u64,
    w: &Watcher,
) -> Instant {
    let start = Instant::now();
    loop {
        let asked = Instant::now();
        let (n, _) = counts(run);
        if n >= want {
            assert_eq!(n, want, "no more than the events delivered");
            return asked;
        }
        assert!(
            start.elapsed() < PATIENCE,
            "{n} of {want} events after {:?}: {}",
            start.elapsed(),
            w.output()
        );
        std::thread::sleep(Duration::from_millis(100));
    }
}

/// The watch scenario over any source: deliver, check the bound, SIGTERM while a delivery
/// lands, deliver more (with duplicates) while stopped, restart, and count.
fn watch_scenario(
    run: &dyn Fn(&[&str]) -> std::process::Output,
    watch: &dyn Fn() -> Watcher,
    deliver: &dyn Fn(u32, std::ops::Range<u32>),
) {
    let interval = Duration::from_secs(1);
    deliver(0, 0..50);
    let w = watch();
    wait_for_events(run, 50, &w);

    // Delivered while it runs: queryable within the interval plus 5 s.
    let delivered = Instant::now();
    deliver(1, 50..120);
    let seen = wait_for_events(run, 120, &w);
    let latency = seen.duration_since(delivered);
    eprintln!("queryable {latency:?} after delivery (interval {interval:?})");
    assert!(
        latency <= interval + Duration::from_secs(5),
        "queryable {latency:?} after delivery: {}",
        w.output()
    );

    // A delivery and SIGTERM at once: the round under way (if any) commits, then it stops.
    deliver(2, 120..160);
    let (status, out, _) = w.stop();
    assert!(status.success(), "exit 0 on SIGTERM: {status:?}\n{out:?}");
    let last = out.last().cloned().unwrap_or_default();
    assert!(last.contains("stopped after"), "a final summary: {out:?}");

    // Delivered while stopped, with a late copy of events already in (CloudTrail delivers
    // some events twice): the restart reads them, once.
    deliver(3, 160..200);
    deliver(4, 100..130);
    let w = watch();
    wait_for_events(run, 200, &w);
    std::thread::sleep(interval * 2);
    let (status, out, _) = w.stop();
    assert!(status.success(), "{out:?}");
    assert_eq!(counts(run), (200, 200), "none lost, none doubled");
    assert!(
        out.iter().any(|l| l.contains(", 30 duplicates,")),
        "the first round after the restart counts the late copies: {out:?}"
    );
}

#[test]
fn watch_a_folder_within_the_bound_and_restart_without_loss_or_doubles() {
    let tmp = tempfile::tempdir().unwrap();
    let src = tmp.path().join("trail");
    std::fs::create_dir_all(&src).unwrap();
    let lake = tmp.path().join("lake");
    let run = |args: &[&str]| bin().arg("--lake").arg(&lake).args(args).output().unwrap();
    let watch = || {
        let mut cmd = bin();
        cmd.arg("--lake")
            .arg(&lake)
            .args(["ingest", "--watch", "--interval", "1s"])
            .arg(&src);
        Watcher::start(cmd)
    };
    watch_scenario(&run, &watch, &|n, ids| deliver_file(&src, n, ids));
}

#[test]
fn sigterm_during_a_round_lets_it_finish_its_commits() {
    let tmp = tempfile::tempdir().unwrap();
    let src = tmp.path().join("trail");
    let cfg = trailsql_gen::GenConfig {
        events: 20_000,
        days: 2,
        seed: 16,
        ..Default::default()
    };
    trailsql_gen::generate(&cfg, &src).unwrap();
    let lake = tmp.path().join("lake");
    let mut cmd = bin();
    cmd.arg("--lake")
        .arg(&lake)
        .args(["ingest", "--watch", "--buffer-mb", "1"])
        .arg(&src);
    let w = Watcher::start(cmd);
    // The first round commits many checkpoints (1 MiB of buffer for 20,000 events): signal
    // as soon as its first commit is there, while it is still reading.
    let first_commit = lake.join("cloudtrail/_delta_log/00000000000000000001.json");
    let start = Instant::now();
    while !first_commit.exists() {
        assert!(start.elapsed() < PATIENCE, "{}", w.output());
        std::thread::sleep(Duration::from_millis(5));
    }
    let (status, out, err) = w.stop();
    assert!(status.success(), "{err:?}");
    assert!(
        out.iter().any(|l| l.contains("round 1: ")),
        "the round finished: {out:?} {err:?}"
    );
    // Nothing was left for a next run: every object is in, each event once.
    let again = ingest_ok(&lake, &[&src], &[]);
    assert_eq!(u(&again, "objects_read"), 0, "{again:#}");
    assert_eq!(u(&again, "written"), 0);
    let run = |args: &[&str]| bin().arg("--lake").arg(&lake).args(args).output().unwrap();
    let (n, ids) = counts(&run);
    assert_eq!(n, ids);
    assert!(n > 19_000, "{n}");
}

#[test]
fn a_failed_round_is_reported_and_tried_again() {
    let tmp = tempfile::tempdir().unwrap();
    let src = tmp.path().join("trail");
    let lake = tmp.path().join("lake");
    // The source is not there yet (a mount not up, a sync not started): rounds fail.
    let mut cmd = bin();
    cmd.arg("--lake")
        .arg(&lake)
        .args(["ingest", "--watch", "--interval", "500ms"])
        .arg(&src);
    let w = Watcher::start(cmd);
    let start = Instant::now();
    while !w
        .stderr
        .lock()
        .unwrap()
        .iter()
        .any(|l| l.contains("round 2 failed"))
    {
        assert!(start.elapsed() < PATIENCE, "{}", w.output());
        std::thread::sleep(Duration::from_millis(50));
    }
    // It appears: the next round ingests.
    deliver_file(&src, 0, 0..30);
    let run = |args: &[&str]| bin().arg("--lake").arg(&lake).args(args).output().unwrap();
    wait_for_events(&run, 30, &w);
    let (status, out, err) = w.stop();
    assert!(status.success(), "{err:?}");
    let failed = err.iter().find(|l| l.contains("round 1 failed")).unwrap();
    assert!(
        failed.contains(src.to_str().unwrap()),
        "names the source: {failed}"
    );
    let last = out.last().unwrap();
    assert!(
        last.contains("30 events written") && last.contains("rounds failed"),
        "{last}"
    );
}

#[test]
fn what_a_retry_cannot_mend_stops_it_at_once_with_a_usage_error() {
    let tmp = tempfile::tempdir().unwrap();
    let src = tmp.path().join("trail");
    deliver_file(&src, 0, 0..5);
    let cases: [(&[&str], &str); 5] = [
        (&["--interval", "5s"], "--watch"),
        (&["--watch", "--interval", "0s"], "too short an interval"),
        (&["--watch", "--strict"], "cannot be used with"),
        (
            &["--watch", "--notify", "ftp://example.com/hook"],
            "expected an http:// or https:// URL",
        ),
        (
            &["--watch", "--detect", "--rules", "no/such/rules"],
            "rules no/such/rules",
        ),
    ];
    for (args, says) in cases {
        let o = bin()
            .arg("--lake")
            .arg(tmp.path().join("lake"))
            .arg("ingest")
            .args(args)
            .arg(&src)
            .output()
            .unwrap();
        let err = String::from_utf8_lossy(&o.stderr);
        assert_eq!(o.status.code(), Some(2), "{args:?}: {err}");
        assert!(err.contains(says), "{args:?}: {err}");
    }
}

const PUT: &str = r#"
import sys, boto3
endpoint, bucket, key, path = sys.argv[1:5]
s3 = boto3.client("s3", endpoint_url=endpoint, aws_access_key_id="test", aws_secret_access_key="test", region_name="us-east-1")
if key == "-":
    s3.create_bucket(Bucket=bucket)
else:
    s3.upload_file(path, bucket, key)
"#;

/// Create a bucket (`key` "-") or upload `path` to `bucket/key`.
fn put(moto: &crate::s3::Moto, bucket: &str, key: &str, path: &Path) {
    let o = Command::new("python3")
        .args(["-c", PUT, &moto.endpoint, bucket, key])
        .arg(path)
        .output()
        .unwrap();
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
}

#[test]
fn watch_a_bucket_within_the_bound_and_restart_without_loss_or_doubles() {
    let moto = start_moto();
    let tmp = tempfile::tempdir().unwrap();
    let put = |bucket: &str, key: &str, path: &Path| put(&moto, bucket, key, path);
    put("trail", "-", tmp.path());
    put("lake", "-", tmp.path());
    let lake = "s3://lake/watched";
    let run = |args: &[&str]| {
        let mut cmd = bin();
        cmd.args(["--lake", lake]).args(args);
        with_s3(&mut cmd, &moto);
        cmd.output().unwrap()
    };
    let watch = || {
        let mut cmd = bin();
        cmd.args(["--lake", lake, "ingest", "--watch", "--interval", "1s"])
            .arg("s3://trail/AWSLogs/");
        with_s3(&mut cmd, &moto);
        Watcher::start(cmd)
    };
    let deliver = |n: u32, ids: std::ops::Range<u32>| {
        let file = tmp.path().join(format!("{n}.json.gz"));
        std::fs::write(&file, gzip(&log_file(ids))).unwrap();
        put("trail", &delivery_key(n), &file);
    };
    watch_scenario(&run, &watch, &deliver);
}

/// A webhook receiver on loopback: records each POST's body and answers 500 to the first.
struct Receiver {
    url: String,
    /// (status answered, body) of each POST.
    posts: Arc<Mutex<Vec<(u16, Value)>>>,
}

fn receiver() -> Receiver {
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let url = format!("http://{}/hook", listener.local_addr().unwrap());
    let posts: Arc<Mutex<Vec<(u16, Value)>>> = Arc::default();
    let p = posts.clone();
    std::thread::spawn(move || {
        for stream in listener.incoming() {
            let Ok(mut stream) = stream else { break };
            let mut reader = BufReader::new(stream.try_clone().unwrap());
            let mut length = 0usize;
            let mut line = String::new();
            while reader.read_line(&mut line).unwrap_or(0) > 0 {
                let l = line.trim_end().to_ascii_lowercase();
                if l.is_empty() {
                    break;
                }
                if let Some(v) = l.strip_prefix("content-length:") {
                    length = v.trim().parse().unwrap();
                }
                line.clear();
            }
            let mut body = vec![0; length];
            reader.read_exact(&mut body).unwrap();
            let mut posts = p.lock().unwrap();
            let status = if posts.is_empty() { 500 } else { 200 };
            posts.push((status, serde_json::from_slice(&body).unwrap()));
            let _ = write!(
                stream,
                "HTTP/1.1 {status} {}\r\nContent-Length: 2\r\nConnection: close\r\n\r\nok",
                if status == 200 {
                    "OK"
                } else {
                    "Internal Server Error"
                }
            );
        }
    });
    Receiver { url, posts }
}

const RULE: &str = "title: Trail deleted while watched
id: 5e1b0000-0000-4000-8000-00000000aa01
status: test
description: Test rule of trailsql ingest --watch.
author: trailsql tests
logsource:
    product: aws
    service: cloudtrail
detection:
    selection:
        eventSource: cloudtrail.amazonaws.com
        eventName: DeleteTrail
    condition: selection
level: high
";

/// The event IDs of the findings that the receiver accepted (answered 200), with counts.
fn delivered(r: &Receiver) -> BTreeMap<String, usize> {
    let mut ids = BTreeMap::new();
    for (status, body) in r.posts.lock().unwrap().iter() {
        if *status != 200 {
            continue;
        }
        for f in body["findings"].as_array().unwrap() {
            *ids.entry(f["eventid"].as_str().unwrap().to_owned())
                .or_default() += 1;
        }
    }
    ids
}

#[test]
fn detect_and_notify_deliver_each_finding_once_and_json_prints_them() {
    let tmp = tempfile::tempdir().unwrap();
    let src = tmp.path().join("trail");
    let lake = tmp.path().join("lake");
    let rules = tmp.path().join("rules");
    std::fs::create_dir_all(&rules).unwrap();
    std::fs::write(rules.join("trail_deleted.yml"), RULE).unwrap();
    let hook = receiver();
    let watch = || {
        let mut cmd = bin();
        cmd.arg("--lake")
            .arg(&lake)
            .args(["ingest", "--watch", "--interval", "1s", "--json", "--rules"])
            .arg(&rules)
            .args(["--notify", &hook.url])
            .arg(&src);
        Watcher::start(cmd)
    };
    let expected = |upto: u32| -> Vec<String> {
        (0..upto)
            .filter(|i| i % FINDING_EVERY == 0)
            .map(|i| format!("00000000-0000-4000-8000-{i:012}"))
            .collect()
    };
    let wait_delivered = |want: &[String], w: &Watcher| {
        let start = Instant::now();
        while delivered(&hook).len() < want.len() {
            assert!(
                start.elapsed() < PATIENCE,
                "delivered {:?}: {}",
                delivered(&hook),
                w.output()
            );
            std::thread::sleep(Duration::from_millis(100));
        }
    };

    deliver_file(&src, 0, 0..40);
    let w = watch();
    wait_delivered(&expected(40), &w);
    // A second round's findings, while it runs.
    deliver_file(&src, 1, 40..100);
    wait_delivered(&expected(100), &w);
    let (status, out, err) = w.stop();
    assert!(status.success(), "{err:?}");

    // Each finding delivered once, the first POST answered 500 and retried.
    let got = delivered(&hook);
    let want: BTreeMap<String, usize> = expected(100).into_iter().map(|id| (id, 1)).collect();
    assert_eq!(got, want);
    let posts = hook.posts.lock().unwrap().clone();
    assert_eq!(posts[0].0, 500);
    assert_eq!(posts[1].1, posts[0].1, "the same body, retried");
    for (_, body) in &posts {
        let text = body["text"].as_str().unwrap();
        assert!(
            text.starts_with("trailsql: ") && text.contains("high: Trail deleted while watched"),
            "{text}"
        );
    }

    // --json: stdout holds the findings, one JSON object per line; round lines on stderr.
    let mut printed: Vec<String> = out
        .iter()
        .map(|l| {
            let v: Value = serde_json::from_str(l).unwrap_or_else(|e| panic!("{e}: {l}"));
            assert_eq!(v["rule_title"], "Trail deleted while watched");
            assert_eq!(v["level"], "high");
            v["eventid"].as_str().unwrap().to_owned()
        })
        .collect();
    printed.sort();
    assert_eq!(printed, expected(100));
    assert!(
        err.iter()
            .any(|l| l.contains(" round ") && l.contains(" findings")),
        "{err:?}"
    );
    let last = err.last().cloned().unwrap_or_default();
    assert!(
        last.contains("notify: 10 findings delivered"),
        "the final summary says what was delivered: {err:?}"
    );

    // A restart finds nothing it already reported, and posts nothing.
    let before = hook.posts.lock().unwrap().len();
    let w = watch();
    std::thread::sleep(Duration::from_secs(4));
    let (status, out, err) = w.stop();
    assert!(status.success(), "{err:?}");
    assert!(out.is_empty(), "no findings again: {out:?}");
    assert_eq!(hook.posts.lock().unwrap().len(), before);
}

#[test]
fn quiet_rounds_on_a_bucket_leave_the_source_state_alone() {
    let moto = start_moto();
    let tmp = tempfile::tempdir().unwrap();
    put(&moto, "trail", "-", tmp.path());
    let file = tmp.path().join("0.json.gz");
    std::fs::write(&file, gzip(&log_file(0..20))).unwrap();
    put(&moto, "trail", &delivery_key(0), &file);
    let lake = tmp.path().join("lake");
    let mut cmd = bin();
    cmd.arg("--lake")
        .arg(&lake)
        .args(["ingest", "--watch", "-v", "--interval", "300ms"])
        .arg("s3://trail/AWSLogs/");
    with_s3(&mut cmd, &moto);
    let w = Watcher::start(cmd);
    let wait_for = |what: &str| {
        let start = Instant::now();
        while !w.stdout.lock().unwrap().iter().any(|l| l.contains(what)) {
            assert!(start.elapsed() < PATIENCE, "{}", w.output());
            std::thread::sleep(Duration::from_millis(50));
        }
    };
    // The first round recorded its objects and how far the bucket is listed; the quiet rounds
    // after it, nothing (a record each would make every later run read them all).
    wait_for("round 2: nothing new");
    let after_first = state_files(&lake);
    assert!(!after_first.is_empty());
    wait_for("round 8:");
    let (status, out, _) = w.stop();
    assert!(status.success());
    assert_eq!(state_files(&lake), after_first, "{out:?}");
}

/// The files of the lake's source state, by path.
fn state_files(lake: &Path) -> Vec<PathBuf> {
    let mut out = Vec::new();
    let mut stack = vec![lake.join("_trailsql/sources")];
    while let Some(dir) = stack.pop() {
        for e in std::fs::read_dir(&dir).unwrap() {
            let e = e.unwrap();
            if e.file_type().unwrap().is_dir() {
                stack.push(e.path());
            } else {
                out.push(e.path());
            }
        }
    }
    out.sort();
    out
}
