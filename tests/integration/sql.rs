//! `trailsql sql`: output of the first query commands, as snapshots.

use crate::common::*;

/// A lake in `dir/lake` ingested from the shapes fixtures.
fn shapes_lake(dir: &std::path::Path) -> std::path::PathBuf {
    let src = dir.join("src");
    crate::shapes::shapes_dir(&src);
    let lake = dir.join("lake");
    ingest_ok(&lake, &[&src], &[]);
    lake
}

#[test]
fn sql_prints_tables_and_csv() {
    let tmp = tempfile::tempdir().unwrap();
    let lake = shapes_lake(tmp.path());
    let q = "SELECT eventname, useridentity.type AS identity, awsregion, CAST(eventtime AS VARCHAR) AS t FROM cloudtrail WHERE date = '2024-03-01' ORDER BY eventtime";
    insta::assert_snapshot!("sql_table", sql(&lake, q, "table"));
    insta::assert_snapshot!("sql_csv", sql(&lake, q, "csv"));
    // Several statements in one -c, split by the SQL parser (a ';' inside a string is data).
    let two = sql(
        &lake,
        "SELECT 'a;b' AS x; SELECT count(*) AS n FROM cloudtrail_insights",
        "table",
    );
    assert!(two.contains("| a;b |") && two.contains("| 2 |"), "{two}");
}

#[test]
fn bad_sql_is_one_clear_line_and_exit_1() {
    let tmp = tempfile::tempdir().unwrap();
    let out = bin()
        .arg("--lake")
        .arg(tmp.path())
        .args(["sql", "-c", "SELEC 1"])
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(1));
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.starts_with("error: "), "{err}");
    assert!(err.lines().next().unwrap().contains("SELEC"), "{err}");
    let out = bin()
        .arg("--lake")
        .arg(tmp.path())
        .args(["sql", "-c", "SELECT nope FROM cloudtrail"])
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(1));
    assert!(String::from_utf8_lossy(&out.stderr).contains("nope"));
}

/// The files a query plans to read: the `date=` partitions named in its physical plan.
fn planned_days(lake: &std::path::Path, query: &str) -> Vec<String> {
    // A bare count(*) may be answered from file statistics: plan a scan of a column.
    let plan = sql(
        lake,
        &format!("EXPLAIN {}", query.replace("count(*)", "eventid")),
        "csv",
    );
    let mut days: Vec<String> = plan
        .split("date=")
        .skip(1)
        .map(|s| s[..10].to_owned())
        .collect();
    days.sort();
    days.dedup();
    days
}

#[test]
fn a_time_window_reads_only_its_days() {
    let tmp = tempfile::tempdir().unwrap();
    let lake = shapes_lake(tmp.path());
    let all = planned_days(&lake, "SELECT count(*) FROM cloudtrail");
    assert_eq!(
        all,
        [
            "2024-03-01",
            "2024-03-02",
            "2024-03-03",
            "2024-03-04",
            "2024-03-05"
        ]
    );
    for (q, want) in [
        (
            "SELECT count(*) FROM cloudtrail WHERE eventtime BETWEEN '2024-03-02T00:00:00Z' AND '2024-03-02T23:59:59Z'",
            vec!["2024-03-02"],
        ),
        (
            "SELECT count(*) FROM cloudtrail WHERE eventtime >= '2024-03-04 00:00:00'",
            vec!["2024-03-04", "2024-03-05"],
        ),
        (
            "SELECT count(*) FROM cloudtrail WHERE eventtime < TIMESTAMP '2024-03-02T00:00:00Z'",
            vec!["2024-03-01"],
        ),
        (
            "SELECT count(*) FROM cloudtrail_logs WHERE from_iso8601_timestamp(eventtime) > from_iso8601_timestamp('2024-03-03T10:00:00Z') AND eventname <> 'x' AND eventtime < '2024-03-04T00:00:00Z'",
            vec!["2024-03-03"],
        ),
        (
            "SELECT count(*) FROM cloudtrail WHERE year = '2024' AND month = '03' AND day = '05'",
            vec!["2024-03-05"],
        ),
    ] {
        assert_eq!(planned_days(&lake, q), want, "{q}");
    }
}

fn sql_run(lake: &std::path::Path, args: &[&str], stdin: Option<&str>) -> (i32, String, String) {
    let mut cmd = bin();
    cmd.arg("--lake").arg(lake).arg("sql").args(args);
    run_with_stdin(cmd, stdin.unwrap_or(""))
}

#[test]
fn statement_runner_sources_params_formats_and_exit_codes() {
    let tmp = tempfile::tempdir().unwrap();
    let lake = shapes_lake(tmp.path());

    // SQL on stdin, several statements, a ';' inside a string.
    let (code, out, _) = sql_run(
        &lake,
        &["--format", "ndjson"],
        Some("SELECT 'x;y' AS a;\nSELECT count(*) AS n FROM cloudtrail;\n"),
    );
    assert_eq!((code, out.as_str()), (0, "{\"a\":\"x;y\"}\n{\"n\":14}\n"));
    // json: one array per statement, one per line.
    let (code, out, _) = sql_run(
        &lake,
        &["--format", "json", "-c", "SELECT 1 AS a; SELECT 2 AS b"],
        None,
    );
    assert_eq!((code, out.as_str()), (0, "[{\"a\":1}]\n[{\"b\":2}]\n"));
    // CSV holds one result: two statements that return rows are refused before running;
    // statements without rows may come along.
    let (code, out, err) = sql_run(
        &lake,
        &["--format", "csv", "-c", "SELECT 1 AS a; SELECT 2 AS b"],
        None,
    );
    assert_eq!((code, out.as_str()), (2, ""), "{err}");
    assert!(err.contains("--format csv holds one result"), "{err}");
    let (code, out, err) = sql_run(
        &lake,
        &[
            "--format",
            "csv",
            "-c",
            "SET datafusion.execution.batch_size = 1000; SELECT 1 AS a",
        ],
        None,
    );
    assert_eq!((code, out.as_str()), (0, "a\n1\n"), "{err}");

    // -f files after -c commands.
    let f = tmp.path().join("q.sql");
    std::fs::write(
        &f,
        "-- a comment\nSELECT count(*) AS n FROM cloudtrail_insights",
    )
    .unwrap();
    let (code, out, _) = sql_run(
        &lake,
        &[
            "-c",
            "SELECT 1 AS one",
            "-f",
            f.to_str().unwrap(),
            "--format",
            "ndjson",
        ],
        None,
    );
    assert_eq!((code, out.as_str()), (0, "{\"one\":1}\n{\"n\":2}\n"));

    // Typed placeholders: a value is data, never SQL.
    let q = "SELECT count(*) AS n FROM cloudtrail WHERE useridentity.username = $user AND eventtime > $since";
    let (code, out, err) = sql_run(
        &lake,
        &[
            "-c",
            q,
            "--param",
            "user=alice",
            "--param",
            "since=2024-03-04",
            "--format",
            "csv",
        ],
        None,
    );
    assert_eq!((code, out.as_str()), (0, "n\n2\n"), "{err}");
    let (code, out, _) = sql_run(
        &lake,
        &[
            "-c",
            q,
            "--param",
            "user=x' OR '1'='1",
            "--param",
            "since=2000-01-01",
            "--format",
            "csv",
        ],
        None,
    );
    assert_eq!((code, out.as_str()), (0, "n\n0\n"));

    // Parquet to a file, read back by the parquet crate.
    let pq = tmp.path().join("out.parquet");
    let (code, _, err) = sql_run(
        &lake,
        &[
            "-c",
            "SELECT eventid, eventtime, resources FROM cloudtrail",
            "--format",
            "parquet",
            "-o",
            pq.to_str().unwrap(),
        ],
        None,
    );
    assert_eq!(code, 0, "{err}");
    let rows: usize =
        trailsql_lake::file::read_file(bytes::Bytes::from(std::fs::read(&pq).unwrap()))
            .unwrap()
            .iter()
            .map(|b| b.num_rows())
            .sum();
    assert_eq!(rows, 14);

    // -o for text formats; nested values in CSV as text.
    let csv = tmp.path().join("out.csv");
    let (code, _, _) = sql_run(
        &lake,
        &[
            "-c",
            "SELECT resources FROM cloudtrail WHERE eventname = 'Decrypt'",
            "--format",
            "csv",
            "-o",
            csv.to_str().unwrap(),
        ],
        None,
    );
    assert_eq!(code, 0);
    assert!(
        std::fs::read_to_string(&csv)
            .unwrap()
            .contains("AWS::KMS::Key")
    );

    // Exit status: 1 for a failing statement, 2 for usage errors.
    let (code, _, err) = sql_run(&lake, &["-c", "SELECT * FROM nope"], None);
    assert_eq!(code, 1);
    assert!(err.starts_with("error: ") && err.contains("nope"), "{err}");
    assert_eq!(
        sql_run(&lake, &["--format", "parquet", "-c", "SELECT 1"], None).0,
        2
    );
    assert_eq!(
        sql_run(&lake, &["--format", "xml", "-c", "SELECT 1"], None).0,
        2
    );
    assert_eq!(
        sql_run(&lake, &["--param", "novalue", "-c", "SELECT 1"], None).0,
        2
    );
}

#[test]
fn every_output_format() {
    let tmp = tempfile::tempdir().unwrap();
    let lake = shapes_lake(tmp.path());
    let q = "SELECT eventname, errorcode, readonly FROM cloudtrail WHERE date = '2024-03-01' AND awsregion = 'us-east-1' ORDER BY eventtime LIMIT 3";
    for f in ["table", "csv", "tsv", "json", "ndjson", "markdown"] {
        insta::assert_snapshot!(format!("format_{f}"), sql(&lake, q, f));
    }
}

/// The scan metric `name=N` summed over the plan's scans (DataFusion prints counts under
/// 1,000 exactly, which the small fixture lake's are).
fn scan_metric(plan: &str, name: &str) -> u64 {
    plan.split(&format!("{name}="))
        .skip(1)
        .map(|s| {
            let digits: String = s.chars().take_while(char::is_ascii_digit).collect();
            digits.parse::<u64>().unwrap_or(0)
        })
        .sum()
}

#[test]
fn a_filter_on_the_sort_columns_is_evaluated_in_the_scan() {
    let tmp = tempfile::tempdir().unwrap();
    let lake = shapes_lake(tmp.path());
    let name = scalar(
        &lake,
        "SELECT eventname FROM cloudtrail GROUP BY 1 ORDER BY count(*) DESC, 1 LIMIT 1",
    );
    let total: u64 = scalar(&lake, "SELECT count(*) FROM cloudtrail")
        .parse()
        .unwrap();
    let query = |filter: &str| {
        format!(
            "SELECT eventsource, count(*) AS n, count(DISTINCT requestparameters) AS p \
             FROM cloudtrail WHERE {filter} GROUP BY 1 ORDER BY 1"
        )
    };
    // On eventname (the sort's second column): the scan decodes eventname, then the other
    // columns only for the rows that pass.
    let clustered = format!("eventname = '{name}'");
    let plan = sql(
        &lake,
        &format!("EXPLAIN ANALYZE {}", query(&clustered)),
        "csv",
    );
    let matched = scan_metric(&plan, "pushdown_rows_matched");
    let pruned = scan_metric(&plan, "pushdown_rows_pruned");
    assert!(pruned > 0, "{plan}");
    // Files whose statistics rule the name out are not read at all.
    assert!(matched + pruned <= total, "{plan}");
    let n = scalar(
        &lake,
        &format!("SELECT count(*) FROM cloudtrail WHERE {clustered}"),
    );
    assert_eq!(matched.to_string(), n, "{plan}");
    // The same filter in another form is applied after the scan, as any other filter is.
    let other = format!("concat(eventname, '') = '{name}'");
    let plan = sql(&lake, &format!("EXPLAIN ANALYZE {}", query(&other)), "csv");
    assert_eq!(scan_metric(&plan, "pushdown_rows_pruned"), 0, "{plan}");
    // And both give the same answer.
    assert_eq!(
        sql(&lake, &query(&clustered), "csv"),
        sql(&lake, &query(&other), "csv")
    );
    assert!(sql(&lake, &query(&clustered), "csv").lines().count() > 1);
}
