//! `trailsql detect`: Sigma rules over a lake ingested from `tests/fixtures/detect` (events
//! chosen to exercise case, arrays, JSON objects, unknown fields, nulls, numbers, CIDRs and
//! field references, with near-misses), through the binary: findings, formats, exit codes,
//! `--list`, `--check`, correlations, and `--new` appending to the lake's `detections` table.
//! Which events each rule matches is checked against an independent evaluator in the detect
//! crate's own tests; here the CLI's output is the assertion.

use std::path::{Path, PathBuf};

use crate::common::*;

fn root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../..")
}

/// Run `trailsql --lake LAKE detect ARGS` from the repository root (so rule paths in the
/// output are the relative ones given).
fn detect(lake: &Path, args: &[&str]) -> Run {
    let output = bin()
        .current_dir(root())
        .env_remove("TRAILSQL_RULES")
        .arg("--lake")
        .arg(lake)
        .arg("detect")
        .args(args)
        .output()
        .unwrap();
    Run { output }
}

const RULES: &str = "tests/fixtures/detect/rules";

fn lake_of(dir: &Path, files: &[&str]) -> PathBuf {
    let lake = dir.join("lake");
    let paths: Vec<PathBuf> = files.iter().map(|f| fixtures().join(f)).collect();
    let refs: Vec<&Path> = paths.iter().map(PathBuf::as_path).collect();
    ingest_ok(&lake, &refs, &[]);
    lake
}

/// The fields of one CSV line (quotes as the csv writer puts them).
fn fields(line: &str) -> Vec<String> {
    let mut out = vec![String::new()];
    let mut quoted = false;
    let mut chars = line.chars().peekable();
    while let Some(c) = chars.next() {
        match (c, quoted) {
            ('"', true) if chars.peek() == Some(&'"') => {
                chars.next();
                out.last_mut().unwrap().push('"');
            }
            ('"', _) => quoted = !quoted,
            (',', false) => out.push(String::new()),
            (c, _) => out.last_mut().unwrap().push(c),
        }
    }
    out
}

/// "rule title | event id" of each finding, from CSV output.
fn pairs(csv: &str) -> Vec<String> {
    let mut lines = csv.lines();
    let header = fields(lines.next().unwrap());
    assert_eq!(header[0], "rule_id");
    assert_eq!(header[8], "eventid");
    lines
        .map(|l| {
            let f = fields(l);
            format!("{} | {}", f[1], f[8])
        })
        .collect()
}

#[test]
fn findings_formats_and_exit_codes() {
    let tmp = tempfile::tempdir().unwrap();
    let lake = lake_of(tmp.path(), &["detect/events.json"]);
    let run = detect(&lake, &["--rules", RULES, "--format", "csv"]);
    assert!(run.ok(), "{}", run.stderr());
    // The source objects are where this checkout is.
    let here = format!("file://{}/", fixtures().canonicalize().unwrap().display());
    insta::assert_snapshot!(
        "detect_csv",
        run.stdout().replace(&here, "file://FIXTURES/")
    );
    assert!(
        run.stderr()
            .contains("from 21 rules (1 skipped: not AWS CloudTrail; 0 could not be used)"),
        "{}",
        run.stderr()
    );
    // The correlations: six failed logins from one address in an hour (the rule they count
    // is not reported on its own), four users checking their identity from one address, a
    // sign-in without MFA then another user's password changed by the same principal (not
    // the reverse order), a sign-in and a stopped trail in any order.
    let out = run.stdout();
    assert!(out.contains("sourceIPAddress=198.51.100.7"), "{out}");
    assert!(out.contains("sourceIPAddress=192.0.2.99"), "{out}");
    assert!(
        out.contains("Sign-in without MFA, then another user"),
        "{out}"
    );
    assert!(!out.contains("never in this order"), "{out}");
    assert!(out.contains("in any order, same principal"), "{out}");
    assert!(
        !pairs(&out)
            .iter()
            .any(|p| p.starts_with("Failed console logins |"))
    );

    let run = detect(
        &lake,
        &["--rules", RULES, "--fail-on-match", "--format", "ndjson"],
    );
    assert_eq!(run.code(), 3, "{}", run.stderr());
    let first: serde_json::Value =
        serde_json::from_str(run.stdout().lines().next().unwrap()).unwrap();
    assert_eq!(first["author"], "trailsql tests");
    // --level keeps rules of that level and above; nothing matches in a window without events.
    let run = detect(
        &lake,
        &["--rules", RULES, "--level", "critical", "--format", "csv"],
    );
    assert_eq!(
        pairs(&run.stdout()),
        [
            "Sign-in without MFA and a trail stopped, in any order, same principal | evt-0007",
            "Trail deleted or stopped, successfully | evt-0011",
            "Trail deleted or stopped, successfully | evt-0012"
        ]
    );
    let run = detect(
        &lake,
        &["--rules", RULES, "--since", "2030-01-01", "--fail-on-match"],
    );
    assert_eq!(run.code(), 0, "{}", run.stderr());
    let run = detect(
        &lake,
        &["--rules", RULES, "--tag", "attack.T1110", "--format", "csv"],
    );
    assert_eq!(
        pairs(&run.stdout()),
        ["Burst of failed console logins from one address | evt-0030"]
    );
}

#[test]
fn html_page_out_dir_and_bad_formats() {
    let tmp = tempfile::tempdir().unwrap();
    let lake = lake_of(tmp.path(), &["detect/events.json"]);
    // HTML: a summary by level and by ATT&CK tactic, and the findings with their authors.
    let out_dir = tmp.path().join("out");
    let run = detect(
        &lake,
        &[
            "--rules",
            RULES,
            "--format",
            "html",
            "--out-dir",
            out_dir.to_str().unwrap(),
        ],
    );
    assert!(run.ok(), "{}", run.stderr());
    let page = std::fs::read_to_string(out_dir.join("detections.html")).unwrap();
    assert!(page.contains("<table id=\"by-level\">"));
    assert!(page.contains("<td>critical</td><td>3</td>"), "{page}");
    assert!(
        page.contains("<td>credential-access</td><td>3</td>"),
        "{page}"
    );
    assert!(page.contains("trailsql tests"));
    // An --out-dir that cannot be made: a runtime error naming the file, its cause after it.
    let not_a_dir = tmp.path().join("a-file");
    std::fs::write(&not_a_dir, "").unwrap();
    let run = detect(
        &lake,
        &[
            "--rules",
            RULES,
            "--format",
            "csv",
            "--out-dir",
            not_a_dir.join("out").to_str().unwrap(),
        ],
    );
    assert_eq!(run.code(), 1, "{}", run.stderr());
    let err = run.stderr();
    let lines: Vec<&str> = err.lines().filter(|l| !l.starts_with("warning")).collect();
    assert_eq!(
        lines[..2],
        [
            format!(
                "error: cannot write {}",
                not_a_dir.join("out/detections.csv").display()
            ),
            "  caused by: Not a directory (os error 20)".to_owned()
        ],
        "{err}"
    );
    // A bad format is a usage error.
    assert_eq!(detect(&lake, &["--format", "parquet"]).code(), 2);
}

#[test]
fn list_and_check_name_every_rule_and_problem() {
    let tmp = tempfile::tempdir().unwrap();
    let lake = tmp.path().join("lake");
    let run = detect(&lake, &["--rules", RULES, "--list", "--format", "csv"]);
    assert!(run.ok(), "{}", run.stderr());
    insta::assert_snapshot!("detect_list", run.stdout());
    // The shipped rules, when no --rules is given.
    let run = detect(&lake, &["--list", "--format", "csv"]);
    assert_eq!(run.stdout().lines().count(), 19, "{}", run.stdout());
    assert!(run.stdout().contains("builtin:cis-root-account-usage.yml"));
    assert!(detect(&lake, &["--check"]).ok());

    let bad = tmp.path().join("bad");
    std::fs::create_dir_all(bad.join("sub")).unwrap();
    std::fs::write(
        bad.join("sub/broken.yml"),
        "title: Broken\nid: b1\nlogsource:\n  product: aws\n  service: cloudtrail\ndetection:\n  sel:\n    eventName|re: '('\n  condition: sel\n",
    )
    .unwrap();
    std::fs::write(bad.join("notyaml.yaml"), "title: [unclosed\n").unwrap();
    std::fs::write(
        bad.join("ok.yml"),
        "title: Ok\nid: ok1\nlogsource:\n  product: aws\n  service: cloudtrail\ndetection:\n  sel:\n    eventName: X\n  condition: sel and missing\n",
    )
    .unwrap();
    let run = detect(&lake, &["--rules", bad.to_str().unwrap(), "--check"]);
    assert_eq!(run.code(), 1, "{}", run.stderr());
    let err = run.stderr();
    assert!(
        err.contains(
            "broken.yml: rule b1: detection \"sel\": field \"eventName\": bad regular expression \"(\": regex parse error: ( ^ error: unclosed group\n"
        ),
        "{err}"
    );
    assert!(err.contains("notyaml.yaml"), "{err}");
    assert!(
        err.contains("ok.yml: rule ok1: condition names \"missing\""),
        "{err}"
    );
    assert!(
        err.contains("0 rules compiled, 0 skipped (not AWS CloudTrail), 3 could not be used"),
        "{err}"
    );
    // A run still runs what compiled, and reports the rest.
    let run = detect(&lake, &["--rules", bad.to_str().unwrap()]);
    assert!(run.ok());
    assert!(run.stderr().contains("warning: "));
    // TRAILSQL_RULES is read when --rules is not given.
    let run = bin()
        .current_dir(root())
        .env("TRAILSQL_RULES", RULES)
        .arg("--lake")
        .arg(&lake)
        .args(["detect", "--list", "--format", "csv"])
        .output()
        .unwrap();
    assert_eq!(String::from_utf8_lossy(&run.stdout).lines().count(), 23);
    let run = detect(&lake, &["--rules", "no/such/dir"]);
    assert_eq!(run.code(), 1);
    assert!(run.stderr().contains("no/such/dir"), "{}", run.stderr());
}

#[test]
fn new_runs_add_each_finding_once_to_the_detections_table() {
    let tmp = tempfile::tempdir().unwrap();
    let lake = lake_of(tmp.path(), &["detect/events.json"]);
    let first = detect(&lake, &["--rules", RULES, "--new", "--format", "csv"]);
    assert!(first.ok(), "{}", first.stderr());
    let n = pairs(&first.stdout()).len();
    assert!(n > 10, "{}", first.stdout());
    assert_eq!(
        scalar(&lake, "SELECT count(*) FROM detections"),
        n.to_string()
    );
    // Nothing new: nothing found, nothing added.
    let second = detect(
        &lake,
        &[
            "--rules",
            RULES,
            "--new",
            "--format",
            "csv",
            "--fail-on-match",
        ],
    );
    assert_eq!(second.code(), 0, "{}", second.stdout());
    assert_eq!(pairs(&second.stdout()).len(), 0);
    assert_eq!(
        scalar(&lake, "SELECT count(*) FROM detections"),
        n.to_string()
    );
    // New events: only their findings.
    ingest_ok(
        &lake,
        &[&fixtures().join("reports/trail-tampering.json")],
        &[],
    );
    let third = detect(&lake, &["--rules", RULES, "--new", "--format", "csv"]);
    let added = pairs(&third.stdout());
    assert!(!added.is_empty());
    assert!(added.iter().all(|p| !p.contains("| evt-")), "{added:?}");
    assert_eq!(
        scalar(&lake, "SELECT count(*) FROM detections"),
        (n + added.len()).to_string()
    );
    assert_eq!(
        scalar(
            &lake,
            "SELECT count(*) - count(DISTINCT concat(rule_id, '/', coalesce(eventid, ''), '/', coalesce(\"group\", ''))) FROM detections"
        ),
        "0"
    );
}

/// `detections` is a Delta table: the Python `deltalake` package reads the findings trailsql
/// shows. A `detections` table an earlier trailsql wrote (plain Parquet, no log) is read as
/// it is, and the next `--new` run that keeps findings gives it a log holding the old files
/// and the new one, never the same finding twice.
#[test]
fn detections_is_a_delta_table_and_an_earlier_plain_one_is_adopted() {
    let tmp = tempfile::tempdir().unwrap();
    let lake = lake_of(tmp.path(), &["detect/events.json"]);
    let first = detect(&lake, &["--rules", RULES, "--new", "--format", "csv"]);
    assert!(first.ok(), "{}", first.stderr());
    let n = pairs(&first.stdout()).len();
    let cols = ["rule_id", "eventid"];
    let query = "SELECT rule_id, coalesce(eventid, '') FROM detections";
    let table = lake.join("detections");
    assert_eq!(deltalake_rows(&table, &cols).len(), n);
    assert_eq!(deltalake_rows(&table, &cols), sorted_rows(&lake, query));
    // `trailsql ddl` declares it too, and DuckDB reads it through the log.
    let ddl = bin()
        .arg("--lake")
        .arg(&lake)
        .args(["ddl", "--engine", "duckdb"])
        .output()
        .unwrap();
    let ddl = String::from_utf8(ddl.stdout).unwrap();
    assert!(
        ddl.contains("VIEW detections AS SELECT * FROM delta_scan("),
        "{ddl}"
    );
    assert_eq!(
        crate::readers::duckdb_delta(&ddl, "SELECT count(*) FROM detections").trim(),
        n.to_string()
    );

    // As an earlier trailsql left it: the same file under its old name, no log.
    std::fs::remove_dir_all(table.join("_delta_log")).unwrap();
    let files = parquet_files(&table);
    assert_eq!(files.len(), 1);
    std::fs::rename(
        &files[0],
        table.join("part-20240101T000000000000-42.parquet"),
    )
    .unwrap();
    assert_eq!(
        scalar(&lake, "SELECT count(*) FROM detections"),
        n.to_string()
    );

    ingest_ok(
        &lake,
        &[&fixtures().join("reports/trail-tampering.json")],
        &[],
    );
    let next = detect(&lake, &["--rules", RULES, "--new", "--format", "csv"]);
    assert!(next.ok(), "{}", next.stderr());
    let added = pairs(&next.stdout()).len();
    assert!(added > 0);
    assert_eq!(parquet_files(&table).len(), 2);
    assert_eq!(deltalake_rows(&table, &cols).len(), n + added);
    assert_eq!(deltalake_rows(&table, &cols), sorted_rows(&lake, query));
}

#[test]
fn sigmahq_rules_all_compile() {
    // SigmaHQ's CloudTrail rules (DRL 1.1), read where they are, never copied.
    let Some(dir) = Path::new(env!("CARGO_MANIFEST_DIR"))
        .ancestors()
        .map(|a| a.join("shared/data/sigma-cloudtrail/rules"))
        .find(|p| p.is_dir())
    else {
        eprintln!("../shared/data/sigma-cloudtrail is not here: nothing to check");
        return;
    };
    let tmp = tempfile::tempdir().unwrap();
    let run = detect(
        &tmp.path().join("lake"),
        &["--rules", dir.to_str().unwrap(), "--check"],
    );
    assert!(run.ok(), "{}", run.stderr());
    assert!(
        run.stderr()
            .contains("57 rules compiled, 0 skipped (not AWS CloudTrail), 0 could not be used"),
        "{}",
        run.stderr()
    );
}
