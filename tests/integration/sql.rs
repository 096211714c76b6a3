//! `trailsql sql`: output of the first query commands, as snapshots.

use crate::common::*;

#[test]
fn sql_prints_tables_and_csv() {
    let tmp = tempfile::tempdir().unwrap();
    let src = tmp.path().join("src");
    crate::shapes::shapes_dir(&src);
    let lake = tmp.path().join("lake");
    ingest_ok(&lake, &[&src], &[]);
    let q = "SELECT eventname, useridentity.type AS identity, awsregion, CAST(eventtime AS VARCHAR) AS t FROM cloudtrail WHERE date = '2024-03-01' ORDER BY eventtime";
    insta::assert_snapshot!("sql_table", sql(&lake, q, "table"));
    insta::assert_snapshot!("sql_csv", sql(&lake, q, "csv"));
    // Several statements in one -c, split by the SQL parser (a ';' inside a string is data).
    let two = sql(
        &lake,
        "SELECT 'a;b' AS x; SELECT count(*) AS n FROM cloudtrail_insights",
        "csv",
    );
    assert_eq!(two, "x\na;b\nn\n2\n");
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
    let src = tmp.path().join("src");
    crate::shapes::shapes_dir(&src);
    let lake = tmp.path().join("lake");
    ingest_ok(&lake, &[&src], &[]);
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
