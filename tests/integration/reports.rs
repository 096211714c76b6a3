//! Reports: each shipped report against its own fixture (events that must match and
//! near-misses that must not), asserting the exact rows; the report command's options; and
//! lookup with the console's filters combined.

use std::path::Path;

use trailsql_query::report::{Kind, Report};

use crate::common::*;

fn shipped() -> Vec<Report> {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../sql");
    let mut out: Vec<Report> = std::fs::read_dir(&dir)
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter(|p| p.extension().is_some_and(|e| e == "sql"))
        .map(|p| {
            Report::parse(
                &std::fs::read_to_string(&p).unwrap(),
                &p.display().to_string(),
            )
            .unwrap()
        })
        .collect();
    out.sort_by(|a, b| a.id.cmp(&b.id));
    out
}

fn fixture(id: &str, ext: &str) -> std::path::PathBuf {
    fixtures().join("reports").join(format!("{id}.{ext}"))
}

fn run_report(lake: &Path, r: &Report, out_dir: &Path) -> (i32, String) {
    let mut cmd = bin();
    cmd.arg("--lake").arg(lake).args([
        "report",
        &r.id,
        "--since",
        "2024-01-01",
        "--until",
        "2025-01-01",
        "--format",
        "csv",
    ]);
    cmd.arg("--out-dir").arg(out_dir);
    for (k, v) in &r.test_params {
        cmd.arg("--param").arg(format!("{k}={v}"));
    }
    let out = cmd.output().unwrap();
    (
        out.status.code().unwrap_or(-1),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

#[test]
fn every_report_selects_exactly_its_events() {
    let reports = shipped();
    // 15: the per-event detections became Sigma rules run by `detect`.
    assert!(reports.len() >= 15, "{} reports", reports.len());
    let mut failures = Vec::new();
    for r in &reports {
        let tmp = tempfile::tempdir().unwrap();
        let lake = tmp.path().join("lake");
        let fx = fixture(&r.id, "json");
        assert!(
            fx.is_file(),
            "report {} has no fixture {}",
            r.id,
            fx.display()
        );
        let s = ingest_ok(&lake, &[&fx], &[]);
        assert_eq!(u(&s, "quarantined"), 0, "{}: {s:#}", r.id);
        let out_dir = tmp.path().join("out");
        let (code, err) = run_report(&lake, r, &out_dir);
        assert_eq!(code, 0, "{}: {err}", r.id);
        let produced = std::fs::read_dir(&out_dir)
            .unwrap()
            .next()
            .unwrap()
            .unwrap()
            .path();
        let got = std::fs::read_to_string(&produced).unwrap();
        let want = std::fs::read_to_string(fixture(&r.id, "csv")).unwrap();
        if got != want {
            failures.push(format!("{}:\n--- expected\n{want}--- got\n{got}", r.id));
        }
        // A fixture holds matches and near-misses: some, but not all, events are selected.
        let rows = want.lines().count().saturating_sub(1);
        assert!(rows >= 1, "{}: the fixture has no matching event", r.id);
    }
    assert!(failures.is_empty(), "{}", failures.join("\n"));
}

#[test]
fn report_command_options() {
    let reports = shipped();
    let detection = reports
        .iter()
        .find(|r| r.kind == Kind::Detection && r.params.is_empty())
        .expect("a detection report without parameters");
    let tmp = tempfile::tempdir().unwrap();
    let lake = tmp.path().join("lake");
    ingest_ok(&lake, &[&fixture(&detection.id, "json")], &[]);

    let list = bin()
        .arg("--lake")
        .arg(&lake)
        .args(["report", "--list"])
        .output()
        .unwrap();
    let list = String::from_utf8_lossy(&list.stdout).into_owned();
    for r in &reports {
        assert!(
            list.contains(&r.id) && list.contains(&r.title),
            "{} missing from --list",
            r.id
        );
    }

    let window = ["--since", "2024-01-01", "--until", "2025-01-01"];
    let run = |args: &[&str]| {
        bin()
            .arg("--lake")
            .arg(&lake)
            .arg("report")
            .args(args)
            .args(window)
            .output()
            .unwrap()
    };
    let o = run(&[&detection.id, "--fail-on-rows"]);
    assert_eq!(
        o.status.code(),
        Some(3),
        "{}",
        String::from_utf8_lossy(&o.stderr)
    );
    let summary = String::from_utf8_lossy(&o.stdout).into_owned();
    assert!(
        summary.lines().any(|l| l.starts_with(&detection.id)),
        "{summary}"
    );
    // Outside the window nothing matches: exit 0.
    let o = bin()
        .arg("--lake")
        .arg(&lake)
        .args([
            "report",
            &detection.id,
            "--fail-on-rows",
            "--since",
            "2030-01-01",
            "--until",
            "2030-02-01",
        ])
        .output()
        .unwrap();
    assert_eq!(o.status.code(), Some(0));

    // --all runs every report; those needing a parameter say so instead of failing.
    let o = run(&["--all"]);
    assert_eq!(
        o.status.code(),
        Some(0),
        "{}",
        String::from_utf8_lossy(&o.stderr)
    );
    let text = String::from_utf8_lossy(&o.stdout).into_owned();
    for r in &reports {
        assert!(text.contains(&r.id), "{} not in --all output", r.id);
        if !r.params.is_empty() {
            assert!(text.contains("skipped: needs --param"), "{text}");
        }
    }

    // One self-contained HTML page, with a bar chart for reports that bucket by time.
    let out_dir = tmp.path().join("html");
    let o = bin()
        .arg("--lake")
        .arg(&lake)
        .args(["report", "--all", "--format", "html", "--out-dir"])
        .arg(&out_dir)
        .args(window)
        .output()
        .unwrap();
    assert_eq!(o.status.code(), Some(0));
    let page = std::fs::read_dir(&out_dir)
        .unwrap()
        .next()
        .unwrap()
        .unwrap()
        .path();
    assert!(
        page.file_name()
            .unwrap()
            .to_string_lossy()
            .starts_with("trailsql-report-")
    );
    let html = std::fs::read_to_string(page).unwrap();
    assert!(
        html.starts_with("<!DOCTYPE html>")
            && !html.contains("<script")
            && !html.contains("src=\"http")
    );
    assert!(
        reports.iter().any(|r| r.chart.is_some()),
        "some report buckets by time"
    );
    assert!(html.contains("<svg"), "no chart");

    let o = run(&["no-such-report"]);
    assert_eq!(o.status.code(), Some(2));
}

/// Rows of a CSV (or TSV) text as Python's csv module reads them, strictly.
fn parse_csv(text: &str, delimiter: &str) -> Vec<Vec<String>> {
    let mut cmd = std::process::Command::new("python3");
    cmd.args([
        "-c",
        "import csv, json, sys\nprint(json.dumps(list(csv.reader(sys.stdin, strict=True, delimiter=sys.argv[1]))))",
        delimiter,
    ]);
    let (code, out, err) = run_with_stdin(cmd, text);
    assert_eq!(code, 0, "python's csv module rejects it: {err}\n{text}");
    serde_json::from_str(&out).unwrap()
}

#[test]
fn machine_formats_hold_only_data() {
    let reports = shipped();
    let tmp = tempfile::tempdir().unwrap();
    let lake = tmp.path().join("lake");
    let inputs: Vec<std::path::PathBuf> = reports
        .iter()
        .map(|r| fixture(&r.id, "json"))
        .filter(|p| p.exists())
        .collect();
    let inputs: Vec<&Path> = inputs.iter().map(|p| p.as_path()).collect();
    ingest_ok(&lake, &inputs, &[]);
    let ids: Vec<&str> = reports.iter().map(|r| r.id.as_str()).collect();
    let run = |format: &str| {
        let o = bin()
            .arg("--lake")
            .arg(&lake)
            .args(["report", "--all", "--format", format])
            .args(["--since", "2024-01-01", "--until", "2025-01-01"])
            .output()
            .unwrap();
        assert_eq!(o.status.code(), Some(0), "{format}");
        let err = String::from_utf8_lossy(&o.stderr).into_owned();
        // The summary goes to stderr.
        assert!(err.lines().next().unwrap().starts_with("report "), "{err}");
        assert!(ids.iter().all(|id| err.contains(id)), "{err}");
        String::from_utf8_lossy(&o.stdout).into_owned()
    };

    for (format, delimiter) in [("csv", ","), ("tsv", "\t")] {
        let rows = parse_csv(&run(format), delimiter);
        assert_eq!(rows[0][0], "report");
        assert!(rows.len() > 2, "{format}: {rows:?}");
        let mut seen: Vec<&str> = Vec::new();
        for row in &rows[1..] {
            assert_eq!(row.len(), rows[0].len(), "{format}: {row:?}");
            assert!(ids.contains(&row[0].as_str()), "{format}: {row:?}");
            if !seen.contains(&row[0].as_str()) {
                seen.push(&row[0]);
            }
        }
        assert!(
            seen.len() >= 2,
            "{format}: rows of several reports: {seen:?}"
        );
    }

    let json: serde_json::Value = serde_json::from_str(&run("json")).unwrap();
    let json = json.as_array().unwrap();
    assert!(json.len() > 1);
    assert!(
        json.iter()
            .all(|r| ids.contains(&r["report"].as_str().unwrap()))
    );

    let ndjson = run("ndjson");
    let lines: Vec<serde_json::Value> = ndjson
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect();
    assert_eq!(lines.len(), json.len());
    assert!(
        lines
            .iter()
            .all(|r| ids.contains(&r["report"].as_str().unwrap()))
    );
}
