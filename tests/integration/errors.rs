//! Errors as the user sees them: each cause printed once, runtime failures exit 1 (2 is for
//! bad arguments only), a closed pipe is not an error. A full disk is `/dev/full`.

use crate::common::*;

fn trailsql(args: &[&str]) -> (i32, String, String) {
    let tmp = tempfile::tempdir().unwrap();
    let mut cmd = bin();
    cmd.arg("--lake").arg(tmp.path().join("lake")).args(args);
    run_with_stdin(cmd, "")
}

/// Every line of stderr says something the others do not.
fn assert_each_cause_once(err: &str) {
    let lines: Vec<&str> = err.lines().collect();
    for (i, a) in lines.iter().enumerate() {
        let a = a
            .trim_start_matches("error: ")
            .trim_start_matches("  caused by: ");
        for (j, b) in lines.iter().enumerate() {
            assert!(
                i == j || !b.contains(a),
                "line {j} repeats line {i}:\n{err}"
            );
        }
    }
}

#[test]
fn a_full_disk_is_one_line_per_cause_and_exit_1() {
    if !std::path::Path::new("/dev/full").exists() {
        eprintln!("no /dev/full here");
        return;
    }
    let (code, out, err) = trailsql(&["sql", "-c", "SELECT 1 AS one", "-o", "/dev/full"]);
    assert_eq!(code, 1, "{err}");
    assert_eq!(out, "");
    assert_eq!(
        err,
        "error: cannot write /dev/full\n  caused by: No space left on device (os error 28)\n"
    );

    // A Parquet write failure is a runtime error, not a usage error.
    let (code, _, err) = trailsql(&[
        "sql",
        "-c",
        "SELECT 1 AS one",
        "--format",
        "parquet",
        "-o",
        "/dev/full",
    ]);
    assert_eq!(code, 1, "{err}");
    assert!(err.starts_with("error: cannot write /dev/full\n"), "{err}");
    assert_eq!(err.matches("No space left on device").count(), 1, "{err}");
    assert_each_cause_once(&err);
}

#[test]
fn a_failing_report_is_a_runtime_error() {
    let tmp = tempfile::tempdir().unwrap();
    let report = tmp.path().join("broken.sql");
    std::fs::write(
        &report,
        "-- id: broken\n-- title: Broken\n-- severity: low\n-- kind: detection\nSELECT no_such_column FROM cloudtrail\n",
    )
    .unwrap();
    let (code, _, err) = trailsql(&["report", report.to_str().unwrap(), "--format", "csv"]);
    assert_eq!(code, 1, "{err}");
    assert!(err.starts_with("error: report broken ("), "{err}");
    assert!(err.contains("no_such_column"), "{err}");
    assert_each_cause_once(&err);

    // Arguments are still usage errors.
    assert_eq!(trailsql(&["report", "no-such-report"]).0, 2);
    assert_eq!(trailsql(&["sql", "--since"]).0, 2);
    // Durations of the lake's maintenance, spelt wrong.
    for args in [
        &["lake", "retain", "3y"][..],
        &["lake", "vacuum", "--older-than", "soon"],
        &["ingest", "--retain", "ninety days", "."],
    ] {
        let (code, _, err) = trailsql(args);
        assert_eq!(code, 2, "{args:?}: {err}");
        assert!(
            err.starts_with("error: invalid duration"),
            "{args:?}: {err}"
        );
    }
}

/// Run `trailsql --lake LAKE ARGS`, read 16 bytes of its output and close the pipe: its exit
/// status and what it wrote to stderr.
fn closed_pipe(lake: &std::path::Path, args: &[&str]) -> (Option<i32>, String) {
    use std::io::Read;
    use std::process::Stdio;
    let mut child = bin()
        .arg("--lake")
        .arg(lake)
        .args(args)
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let mut first = [0u8; 16];
    child
        .stdout
        .as_mut()
        .unwrap()
        .read_exact(&mut first)
        .unwrap();
    drop(child.stdout.take());
    let mut err = String::new();
    child
        .stderr
        .take()
        .unwrap()
        .read_to_string(&mut err)
        .unwrap();
    (child.wait().unwrap().code(), err)
}

#[test]
fn a_closed_pipe_ends_quietly() {
    let tmp = tempfile::tempdir().unwrap();
    let (code, err) = closed_pipe(
        &tmp.path().join("lake"),
        &[
            "sql",
            "--format",
            "csv",
            "-c",
            "SELECT value FROM generate_series(1, 2000000)",
        ],
    );
    assert_eq!(code, Some(0), "{err}");
    assert_eq!(err, "");
}

#[test]
fn detect_into_a_closed_pipe_ends_quietly() {
    use serde_json::json;
    // 6,000 findings: megabytes of text in every format, more than the pipe and the
    // printer's buffer hold, so the printer meets the closed pipe.
    let tmp = tempfile::tempdir().unwrap();
    let records: Vec<serde_json::Value> = (0..6000)
        .map(|i| {
            json!({
                "eventVersion": "1.08",
                "eventTime": format!("2024-03-01T{:02}:{:02}:{:02}Z", i / 3600, i / 60 % 60, i % 60),
                "eventSource": "s3.amazonaws.com",
                "eventName": "GetObject",
                "awsRegion": "us-east-1",
                "eventID": format!("00000000-0000-0000-0000-{i:012}"),
                "recipientAccountId": "111122223333",
            })
        })
        .collect();
    let src = tmp.path().join("src");
    std::fs::create_dir_all(&src).unwrap();
    let body = serde_json::to_vec(&json!({ "Records": records })).unwrap();
    std::fs::write(src.join("all.json.gz"), gzip(&body)).unwrap();
    let lake = tmp.path().join("lake");
    ingest_ok(&lake, &[&src], &[]);
    let rule = tmp.path().join("reads.yml");
    std::fs::write(
        &rule,
        "title: Object reads\nid: 6f1b7a4e-0000-4000-8000-000000000001\nlogsource:\n  product: aws\n  service: cloudtrail\ndetection:\n  selection:\n    eventName: GetObject\n  condition: selection\nlevel: low\n",
    )
    .unwrap();
    for format in ["csv", "json", "table"] {
        let (code, err) = closed_pipe(
            &lake,
            &[
                "detect",
                "--rules",
                rule.to_str().unwrap(),
                "--format",
                format,
            ],
        );
        assert_eq!(code, Some(0), "{format}: {err}");
        assert!(!err.contains("error"), "{format}: {err}");
    }
}
