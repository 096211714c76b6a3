//! The lake as Delta tables: queries read the files of the latest committed version (a file
//! in a data folder that no version names is invisible), prune files by the log's statistics,
//! `trailsql lake` reports the tables' state, and a lake of the previous format is refused
//! with the way out.

use crate::common::*;
use trailsql_lake::schema::Table;

fn generated_lake(tmp: &std::path::Path) -> std::path::PathBuf {
    let src = tmp.join("src");
    let cfg = trailsql_gen::GenConfig {
        events: 2_000,
        days: 3,
        accounts: 1,
        regions: vec!["us-east-1".into(), "eu-west-1".into()],
        seed: 41,
        insights: false,
        ..Default::default()
    };
    trailsql_gen::generate(&cfg, &src).unwrap();
    let lake = tmp.join("lake");
    ingest_ok(&lake, &[&src], &[]);
    lake
}

#[test]
fn queries_read_committed_files_only() {
    let tmp = tempfile::tempdir().unwrap();
    let lake = generated_lake(tmp.path());
    let count = scalar(&lake, "SELECT count(*) FROM cloudtrail");
    let (file, _) = committed_files(&lake, Table::CloudTrail)
        .into_iter()
        .next()
        .unwrap();
    // What a killed writer leaves: a complete data file that no version names.
    let stray = file.with_file_name("part-killed-000001.parquet");
    std::fs::copy(&file, &stray).unwrap();
    assert_eq!(scalar(&lake, "SELECT count(*) FROM cloudtrail"), count);
    let plan = sql(&lake, "EXPLAIN SELECT count(*) FROM cloudtrail", "csv");
    assert!(!plan.contains("part-killed"), "{plan}");
    assert!(
        plan.contains(file.file_name().unwrap().to_str().unwrap()),
        "{plan}"
    );
}

#[test]
fn an_eventtime_window_reads_only_the_files_it_can_match() {
    let tmp = tempfile::tempdir().unwrap();
    let lake = generated_lake(tmp.path());
    let files = committed_files(&lake, Table::CloudTrail);
    let day = sql(&lake, "SELECT min(date) FROM cloudtrail", "csv")
        .lines()
        .nth(1)
        .unwrap()
        .to_owned();
    let plan = sql(
        &lake,
        &format!(
            "EXPLAIN SELECT count(*) FROM cloudtrail WHERE eventtime >= TIMESTAMP '{day}T00:00:00Z' AND eventtime < TIMESTAMP '{day}T00:00:00Z' + INTERVAL '1' DAY"
        ),
        "csv",
    );
    for (f, _) in &files {
        let path = f
            .strip_prefix(&lake)
            .unwrap()
            .to_string_lossy()
            .into_owned();
        let name = f.file_name().unwrap().to_str().unwrap();
        assert_eq!(
            plan.contains(name),
            path.contains(&format!("date={day}/")),
            "{path} in the plan: {plan}"
        );
    }
}

#[test]
fn lake_status_reports_the_tables_version_files_rows_and_dates() {
    let tmp = tempfile::tempdir().unwrap();
    let lake = generated_lake(tmp.path());
    let out = bin()
        .arg("--lake")
        .arg(&lake)
        .args(["lake", "--json"])
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let v: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    let ct = &v[0];
    assert_eq!(ct["table"], "cloudtrail");
    let files = committed_files(&lake, Table::CloudTrail);
    let last_version = files.iter().map(|(_, v)| *v).max().unwrap();
    assert_eq!(ct["version"], last_version);
    assert_eq!(ct["files"], files.len());
    let bytes: u64 = files
        .iter()
        .map(|(f, _)| std::fs::metadata(f).unwrap().len())
        .sum();
    assert_eq!(ct["bytes"], bytes);
    assert_eq!(
        ct["rows"].to_string(),
        scalar(&lake, "SELECT count(*) FROM cloudtrail")
    );
    assert_eq!(
        ct["first_date"].as_str().unwrap(),
        scalar(&lake, "SELECT min(date) FROM cloudtrail")
    );
    assert_eq!(
        ct["small_files"], 0,
        "one run writes one file per partition"
    );
    assert_eq!(v[1]["table"], "cloudtrail_insights");
    assert_eq!(v[1]["version"], serde_json::Value::Null);
}

#[test]
fn a_lake_of_the_previous_format_is_refused_with_the_way_out() {
    let tmp = tempfile::tempdir().unwrap();
    let lake = tmp.path().join("old");
    std::fs::create_dir_all(lake.join("_trailsql/log")).unwrap();
    std::fs::write(
        lake.join("_trailsql/log/000000000000.json"),
        r#"{"version":1,"run":"r","time":"t","files":[],"sources":[]}"#,
    )
    .unwrap();
    for args in [
        vec!["sql", "-c", "SELECT 1"],
        vec!["ingest", "--quiet", "."],
        vec!["lake"],
    ] {
        let out = bin().arg("--lake").arg(&lake).args(&args).output().unwrap();
        let err = String::from_utf8_lossy(&out.stderr);
        assert_eq!(out.status.code(), Some(1), "{args:?}: {err}");
        assert!(err.contains("trailsql lake upgrade"), "{args:?}: {err}");
    }
}
