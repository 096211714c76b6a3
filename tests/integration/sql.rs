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
