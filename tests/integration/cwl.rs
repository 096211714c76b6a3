//! `cwl://LOG_GROUP` against the CloudWatch Logs API of moto's server on loopback: several
//! streams, more events than one page, events appended between runs (a run adds exactly the
//! new ones), `?prefix=`, `--since/--until`, a message that is not CloudTrail quarantined,
//! and a missing log group named in the error.

use std::path::Path;
use std::process::Command;

use serde_json::{Value, json};

use crate::common::*;
use crate::envelopes::generated_events;
use crate::s3::{FaultyProxy, Moto, start_moto, with_s3};

const PUT: &str = r#"
import sys, json, boto3
spec = json.load(sys.stdin)
logs = boto3.client("logs", endpoint_url=spec["endpoint"], aws_access_key_id="test",
                    aws_secret_access_key="test", region_name="us-east-1")
group = spec["group"]
if group not in [g["logGroupName"] for g in logs.describe_log_groups(logGroupNamePrefix=group)["logGroups"]]:
    logs.create_log_group(logGroupName=group)
for stream, events in spec["streams"].items():
    if not logs.describe_log_streams(logGroupName=group, logStreamNamePrefix=stream)["logStreams"]:
        logs.create_log_stream(logGroupName=group, logStreamName=stream)
    events = [{"timestamp": t, "message": m} for t, m in events]
    for i in range(0, len(events), 2000):
        r = logs.put_log_events(logGroupName=group, logStreamName=stream, logEvents=events[i:i + 2000])
        assert not r.get("rejectedLogEventsInfo"), r
"#;

/// Put `streams` (name -> [(timestamp ms, message)]) into `group`, creating what is missing.
fn put(moto: &Moto, group: &str, streams: &[(&str, Vec<(i64, String)>)]) {
    let streams: serde_json::Map<String, Value> = streams
        .iter()
        .map(|(s, evs)| ((*s).to_owned(), json!(evs)))
        .collect();
    let spec = json!({"endpoint": moto.endpoint, "group": group, "streams": streams});
    let mut cmd = Command::new("python3");
    cmd.arg("-c").arg(PUT);
    let (code, _, err) = run_with_stdin(cmd, &spec.to_string());
    assert_eq!(code, 0, "put log events: {err}");
}

fn ingest_cwl(moto: &Moto, lake: &Path, args: &[&str]) -> Run {
    let mut cmd = bin();
    cmd.arg("--lake")
        .arg(lake)
        .args(["ingest", "--json", "--quiet"])
        .args(args);
    with_s3(&mut cmd, moto);
    Run {
        output: cmd.output().unwrap(),
    }
}

fn ingest_cwl_ok(moto: &Moto, lake: &Path, args: &[&str]) -> Value {
    let run = ingest_cwl(moto, lake, args);
    assert!(
        run.ok(),
        "ingest failed: {}\n{}",
        run.stderr(),
        run.stdout()
    );
    let s = run.summary();
    assert_balanced(&s);
    s
}

/// Events as CloudTrail sends them to CloudWatch Logs: the log event's timestamp is the
/// event's time. `base` is the first one's (milliseconds), one a second after it.
fn as_log_events(events: &[Value], base: i64) -> Vec<(i64, String)> {
    events
        .iter()
        .enumerate()
        .map(|(i, e)| {
            let t = base + i as i64 * 1000;
            let mut e = e.clone();
            let time = chrono::DateTime::from_timestamp_millis(t).unwrap();
            e["eventTime"] = json!(time.format("%Y-%m-%dT%H:%M:%SZ").to_string());
            (t, e.to_string())
        })
        .collect()
}

fn eventids(lake: &Path) -> Vec<String> {
    sql(
        lake,
        "SELECT eventid FROM cloudtrail ORDER BY eventid",
        "csv",
    )
    .lines()
    .skip(1)
    .map(str::to_owned)
    .collect()
}

fn ids_of(events: &[(i64, String)]) -> Vec<String> {
    events
        .iter()
        .map(|(_, m)| {
            serde_json::from_str::<Value>(m).unwrap()["eventID"]
                .as_str()
                .unwrap()
                .to_owned()
        })
        .collect()
}

#[test]
fn a_log_group_is_read_stream_by_stream_and_incrementally() {
    let moto = start_moto();
    let tmp = tempfile::tempdir().unwrap();
    let events = generated_events(10_400, 8, &tmp.path().join("gen"));
    assert!(events.len() > 10_300, "{}", events.len());
    // Two days ago, on a whole second: within CloudWatch Logs' 14 days.
    let now = chrono::Utc::now().timestamp_millis();
    let base = (now - 2 * 86_400_000) / 1000 * 1000;
    let us = as_log_events(&events[..10_200], base);
    let eu = as_log_events(&events[10_200..10_300], base + 500);
    let app = vec![
        (
            base,
            r#"{"level":"info","msg":"not CloudTrail"}"#.to_owned(),
        ),
        as_log_events(&events[10_300..10_301], base + 1)[0].clone(),
    ];
    let (us_name, eu_name) = (
        "111122223333_CloudTrail_us-east-1",
        "111122223333_CloudTrail_eu-west-1",
    );
    put(
        &moto,
        "trail",
        &[(us_name, us.clone()), (eu_name, eu.clone()), ("app", app)],
    );

    let lake = tmp.path().join("lake");
    let s = ingest_cwl_ok(&moto, &lake, &["cwl://trail"]);
    assert_eq!(u(&s, "objects_read"), 3, "{s:#}");
    assert_eq!(
        u(&s, "written"),
        10_301,
        "more than one page of a stream: {s:#}"
    );
    assert_eq!(u(&s, "quarantined"), 1);
    let mut want = [
        ids_of(&us),
        ids_of(&eu),
        vec![ids_of(&as_log_events(&events[10_300..10_301], 0))[0].clone()],
    ]
    .concat();
    want.sort();
    assert_eq!(eventids(&lake), want);
    let sources = sql(
        &lake,
        "SELECT sourceobject, count(*) AS n FROM cloudtrail GROUP BY 1 ORDER BY 1",
        "csv",
    );
    assert_eq!(
        sources,
        format!(
            "sourceobject,n\ncwl://trail/{eu_name},100\ncwl://trail/{us_name},10200\ncwl://trail/app,1\n"
        )
    );

    // Nothing new: each stream's content is the same, and nothing is written.
    let s = ingest_cwl_ok(&moto, &lake, &["cwl://trail"]);
    assert_eq!(u(&s, "written"), 0, "{s:#}");
    assert_eq!(u(&s, "objects_unchanged"), 3, "{s:#}");
    assert_eq!(u(&s, "objects_read"), 0, "{s:#}");

    // Events appended: one at the millisecond of the last one read (read again with it, the
    // old one dropped as a duplicate), and later ones.
    let last = us.last().unwrap().0;
    let more_us = as_log_events(&events[10_301..10_304], last);
    let more_eu = as_log_events(&events[10_304..10_306], eu.last().unwrap().0 + 60_000);
    put(
        &moto,
        "trail",
        &[(us_name, more_us.clone()), (eu_name, more_eu.clone())],
    );
    let s = ingest_cwl_ok(&moto, &lake, &["cwl://trail"]);
    assert_eq!(u(&s, "written"), 5, "exactly the new events: {s:#}");
    assert_eq!(
        u(&s, "duplicates_in_lake"),
        2,
        "the last event of each stream, read again: {s:#}"
    );
    assert_eq!(u(&s, "records"), 7, "{s:#}");
    assert_eq!(eventids(&lake).len(), 10_306);

    // Only the streams under a prefix, and only a time window.
    let lake2 = tmp.path().join("lake2");
    let from = chrono::DateTime::from_timestamp_millis(base + 100_000)
        .unwrap()
        .to_rfc3339();
    let to = chrono::DateTime::from_timestamp_millis(base + 200_000)
        .unwrap()
        .to_rfc3339();
    let s = ingest_cwl_ok(
        &moto,
        &lake2,
        &[
            "--since",
            &from,
            "--until",
            &to,
            "cwl://trail?prefix=111122223333_",
        ],
    );
    assert_eq!(u(&s, "quarantined"), 0, "the app stream is not read: {s:#}");
    // us: its events of seconds 100 to 199; eu: its first 100 events are before, the two
    // appended (at 159.5 s and 160.5 s) within.
    assert_eq!(u(&s, "written"), 102, "{s:#}");
    assert_eq!(
        u(&s, "outside_window"),
        0,
        "startTime/endTime asked of the API: {s:#}"
    );

    // A missing log group is named.
    let run = ingest_cwl(&moto, &tmp.path().join("lake3"), &["cwl://no-such-group"]);
    assert!(!run.ok());
    assert!(
        run.stderr().contains("\"no-such-group\"") && run.stderr().contains("no such log group"),
        "{}",
        run.stderr()
    );
}

#[test]
fn throttled_and_dropped_requests_are_retried_without_loss() {
    let moto = start_moto();
    let tmp = tempfile::tempdir().unwrap();
    let events = generated_events(300, 9, &tmp.path().join("gen"));
    let base = (chrono::Utc::now().timestamp_millis() - 86_400_000) / 1000 * 1000;
    let streams: Vec<(String, Vec<(i64, String)>)> = events
        .chunks(events.len() / 3 + 1)
        .enumerate()
        .map(|(i, c)| (format!("s{i}"), as_log_events(c, base)))
        .collect();
    let named: Vec<(&str, Vec<(i64, String)>)> = streams
        .iter()
        .map(|(n, e)| (n.as_str(), e.clone()))
        .collect();
    put(&moto, "trail", &named);
    // Every 5th request answered 503, every 7th connection dropped; only CloudWatch Logs'
    // endpoint goes through the proxy.
    let proxy = FaultyProxy::start(&moto, tmp.path().join("faults.json"));
    let mut cmd = bin();
    cmd.arg("--lake").arg(tmp.path().join("lake")).args([
        "ingest",
        "--json",
        "--quiet",
        "cwl://trail",
    ]);
    with_s3(&mut cmd, &moto);
    cmd.env("AWS_ENDPOINT_URL_CLOUDWATCH_LOGS", &proxy.endpoint);
    let run = Run {
        output: cmd.output().unwrap(),
    };
    assert!(run.ok(), "{}", run.stderr());
    let s = run.summary();
    assert_eq!(u(&s, "written"), events.len() as u64, "{s:#}");
    let stats = proxy.stats();
    assert!(stats["slowdown"].as_u64().unwrap() >= 1, "{stats}");
    assert!(stats["dropped"].as_u64().unwrap() >= 1, "{stats}");
}
