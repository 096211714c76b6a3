//! Deduplication by eventID within and across runs, incremental re-runs, time windows.

use std::collections::HashMap;

use arrow::array::AsArray;
use trailsql_lake::schema::Table;

use crate::common::*;

#[test]
fn duplicates_are_dropped_within_a_run() {
    let tmp = tempfile::tempdir().unwrap();
    let src = tmp.path().join("src");
    std::fs::create_dir_all(&src).unwrap();
    let records = std::fs::read(fixtures().join("shapes/records.json")).unwrap();
    // The same delivery twice (as one object gzipped and plain, as in real buckets) and the
    // same events again inside a bare array.
    std::fs::write(src.join("a.json"), &records).unwrap();
    std::fs::write(src.join("a.json.gz"), gzip(&records)).unwrap();
    let v: serde_json::Value = serde_json::from_slice(&records).unwrap();
    std::fs::write(
        src.join("b.json"),
        serde_json::to_vec(&v["Records"]).unwrap(),
    )
    .unwrap();
    let lake = tmp.path().join("lake");
    let s = ingest_ok(&lake, &[&src], &[]);
    assert_eq!(u(&s, "records"), 9);
    assert_eq!(u(&s, "written"), 3);
    assert_eq!(u(&s, "duplicates_in_run"), 6);
    assert_eq!(scalar(&lake, "SELECT count(*) FROM cloudtrail"), "3");
}

#[test]
fn rerun_reads_nothing_and_adds_nothing() {
    let tmp = tempfile::tempdir().unwrap();
    let src = tmp.path().join("src");
    crate::shapes::shapes_dir(&src);
    let lake = tmp.path().join("lake");
    let first = ingest_ok(&lake, &[&src], &[]);
    let files_before = parquet_files(&lake);
    let second = ingest_ok(&lake, &[&src], &[]);
    assert_eq!(u(&second, "objects_read"), 0, "{second:#}");
    assert_eq!(
        u(&second, "objects_unchanged") + u(&second, "objects_skipped"),
        u(&first, "objects_listed")
    );
    assert_eq!(u(&second, "written"), 0);
    assert_eq!(u(&second, "files_written"), 0);
    assert_eq!(parquet_files(&lake), files_before);
}

#[test]
fn changed_object_is_read_again_and_only_new_events_are_added() {
    let tmp = tempfile::tempdir().unwrap();
    let src = tmp.path().join("src");
    std::fs::create_dir_all(&src).unwrap();
    let path = src.join("log.json");
    let records = std::fs::read_to_string(fixtures().join("shapes/records.json")).unwrap();
    std::fs::write(&path, &records).unwrap();
    let lake = tmp.path().join("lake");
    ingest_ok(&lake, &[&src], &[]);

    let mut v: serde_json::Value = serde_json::from_str(&records).unwrap();
    let mut extra = v["Records"][0].clone();
    extra["eventID"] = "e0000099-0000-4000-8000-000000000099".into();
    v["Records"].as_array_mut().unwrap().push(extra);
    std::fs::write(&path, serde_json::to_vec(&v).unwrap()).unwrap();
    let s = ingest_ok(&lake, &[&src], &[]);
    assert_eq!(u(&s, "objects_read"), 1);
    assert_eq!(u(&s, "written"), 1);
    assert_eq!(u(&s, "duplicates_in_lake"), 3, "{s:#}");
    assert_eq!(scalar(&lake, "SELECT count(*) FROM cloudtrail"), "4");
    assert_eq!(
        scalar(&lake, "SELECT count(DISTINCT eventid) FROM cloudtrail"),
        "4"
    );
}

#[test]
fn the_same_events_from_another_object_in_a_later_run_are_dropped() {
    let tmp = tempfile::tempdir().unwrap();
    let (a, b) = (tmp.path().join("a"), tmp.path().join("b"));
    std::fs::create_dir_all(&a).unwrap();
    std::fs::create_dir_all(&b).unwrap();
    let records = std::fs::read(fixtures().join("shapes/records.json")).unwrap();
    std::fs::write(a.join("x.json"), &records).unwrap();
    std::fs::write(b.join("y.json.gz"), gzip(&records)).unwrap();
    let lake = tmp.path().join("lake");
    ingest_ok(&lake, &[&a], &[]);
    let s = ingest_ok(&lake, &[&b], &[]);
    assert_eq!(u(&s, "duplicates_in_lake"), 3);
    assert_eq!(u(&s, "written"), 0);
    assert_eq!(scalar(&lake, "SELECT count(*) FROM cloudtrail"), "3");
}

#[test]
fn since_and_until_select_events_and_a_wider_window_later_fills_in() {
    let tmp = tempfile::tempdir().unwrap();
    let src = tmp.path().join("src");
    crate::shapes::shapes_dir(&src);
    let lake = tmp.path().join("lake");
    let s = ingest_ok(
        &lake,
        &[&src],
        &["--since", "2024-03-02", "--until", "2024-03-03T00:00:00Z"],
    );
    assert_eq!(
        u(&s, "written"),
        4,
        "two cloudtrail and two insights events on 2024-03-02: {s:#}"
    );
    assert_eq!(u(&s, "outside_window"), 12);
    assert_eq!(
        scalar(
            &lake,
            "SELECT count(*) FROM cloudtrail WHERE eventtime < TIMESTAMP '2024-03-02T00:00:00Z'"
        ),
        "0"
    );
    // Without a window, the same objects are read again for what the first run left out.
    let all = ingest_ok(&lake, &[&src], &[]);
    assert_eq!(u(&all, "written"), 12, "{all:#}");
    assert_eq!(u(&all, "duplicates_in_lake"), 4);
    // A time that does not parse is a bad argument: a usage error.
    let bad = ingest(&lake, &[&src], &["--since", "last tuesday"]);
    assert_eq!(bad.code(), 2);
    assert!(bad.stderr().contains("last tuesday"));
}

#[test]
fn one_event_id_on_two_days_is_two_events_in_one_run_or_in_two() {
    // Re-deliveries share their time and region. Two records that share only an eventID
    // (the AWS guide's examples reuse made-up ones) are both kept, whether they arrive in
    // one run or in two, and a re-delivery of either is still dropped.
    let tmp = tempfile::tempdir().unwrap();
    let event = |time: &str, name: &str| {
        serde_json::json!({"eventTime": time, "eventID": "11111111-EXAMPLE", "awsRegion": "eu-west-1",
            "eventSource": "s3.amazonaws.com", "eventName": name})
    };
    let day1 = serde_json::json!({"Records": [event("2024-03-01T10:00:00Z", "A")]});
    let day2 = serde_json::json!({"Records": [event("2024-03-05T10:00:00Z", "B")]});
    let (one, two) = (tmp.path().join("one"), tmp.path().join("two"));
    for dir in [&one, &two] {
        std::fs::create_dir_all(dir).unwrap();
    }
    std::fs::write(one.join("a.json"), day1.to_string()).unwrap();
    std::fs::write(one.join("b.json"), day2.to_string()).unwrap();
    std::fs::write(one.join("b-again.json"), day2.to_string()).unwrap();
    std::fs::write(two.join("a-again.json"), day1.to_string()).unwrap();

    let lake = tmp.path().join("lake");
    let s = ingest_ok(&lake, &[&one], &[]);
    assert_eq!(
        (u(&s, "written"), u(&s, "duplicates_in_run")),
        (2, 1),
        "{s:#}"
    );
    let s = ingest_ok(&lake, &[&two], &[]);
    assert_eq!(
        (u(&s, "written"), u(&s, "duplicates_in_lake")),
        (0, 1),
        "{s:#}"
    );

    let split = tmp.path().join("split");
    ingest_ok(&split, &[&one.join("a.json")], &[]);
    ingest_ok(&split, &[&one.join("b.json")], &[]);
    let q = "SELECT eventname, date FROM cloudtrail ORDER BY 1";
    assert_eq!(sql(&lake, q, "csv"), sql(&split, q, "csv"));
    assert_eq!(
        sql(&lake, q, "csv").lines().count(),
        3,
        "{}",
        sql(&lake, q, "csv")
    );
}

#[test]
fn a_run_in_many_partial_checkpoints_commits_every_source_and_every_row_once() {
    // With a small buffer each checkpoint writes the oldest days and keeps the newest
    // buffered, committing a source only once all its rows are written: the end state must
    // be the one-checkpoint lake, and a re-run must find every object committed.
    let tmp = tempfile::tempdir().unwrap();
    let src = tmp.path().join("src");
    let cfg = trailsql_gen::GenConfig {
        events: 6_000,
        days: 4,
        accounts: 1,
        regions: vec!["us-east-1".into(), "eu-west-1".into()],
        seed: 5,
        ..Default::default()
    };
    trailsql_gen::generate(&cfg, &src).unwrap();
    let (small, big) = (tmp.path().join("small"), tmp.path().join("big"));
    // Without compaction after the run: the files checked below are the checkpoints'.
    let s = ingest_ok(&small, &[&src], &["--buffer-mb", "1", "--no-compact"]);
    let b = ingest_ok(&big, &[&src], &["--buffer-mb", "1024", "--no-compact"]);
    assert!(u(&s, "commits") > 3, "{s:#}");
    for k in [
        "written",
        "duplicates_in_run",
        "quarantined",
        "objects_read",
    ] {
        assert_eq!(u(&s, k), u(&b, k), "{k}");
    }
    let q = "SELECT date, region, count(*), count(DISTINCT eventid), min(eventtime), max(eventtime) FROM cloudtrail GROUP BY 1, 2 ORDER BY 1, 2";
    assert_eq!(sql(&small, q, "csv"), sql(&big, q, "csv"));
    // The invariant crash safety rests on: no source record names a source before every
    // row read from it is in a file of a Delta version committed before the record.
    // Records are kept by delivery day (`_trailsql/sources/DAY/TIME-RUN-SEQ.json`): in
    // time order across days. A day folded into a checkpoint no longer has its records.
    let mut records: Vec<_> = crate::s3::walk(&small.join("_trailsql/sources"))
        .into_iter()
        .map(std::path::PathBuf::from)
        .collect();
    let folded = records
        .iter()
        .any(|p| p.extension().is_some_and(|e| e == "parquet"));
    records.retain(|p| p.extension().is_some_and(|e| e == "json"));
    records.sort_by_key(|p| p.file_name().unwrap().to_owned());
    let mut versions: HashMap<String, u64> = HashMap::new();
    let mut source_commit: HashMap<(String, String), u64> = HashMap::new();
    for r in &records {
        let v: serde_json::Value =
            serde_json::from_str(&std::fs::read_to_string(r).unwrap()).unwrap();
        for (table, version) in v["versions"].as_object().unwrap() {
            let at = versions.entry(table.clone()).or_default();
            *at = (*at).max(version.as_u64().unwrap());
        }
        for src in v["sources"].as_array().unwrap() {
            for table in Table::ALL {
                if let Some(at) = versions.get(table.name()) {
                    source_commit.insert(
                        (
                            table.name().to_owned(),
                            src["uri"].as_str().unwrap().to_owned(),
                        ),
                        *at,
                    );
                }
            }
        }
    }
    let file_commit: HashMap<String, u64> = Table::ALL
        .iter()
        .flat_map(|t| committed_files(&small, *t))
        .map(|(p, v)| {
            (
                p.strip_prefix(&small)
                    .unwrap()
                    .to_string_lossy()
                    .into_owned(),
                v,
            )
        })
        .collect();
    let mut checked = 0;
    for table in Table::ALL {
        for (file, batch) in lake_batches(&small, table) {
            let rel = file
                .strip_prefix(&small)
                .unwrap()
                .to_string_lossy()
                .into_owned();
            let written = file_commit[&rel];
            let sources = batch
                .column_by_name("sourceobject")
                .unwrap()
                .as_string::<i32>();
            for so in sources.iter().flatten() {
                let Some(&recorded) = source_commit.get(&(table.name().to_owned(), so.to_owned()))
                else {
                    assert!(folded, "{so} has no record");
                    continue;
                };
                assert!(
                    written <= recorded,
                    "{so} recorded after version {recorded}, before its row in {rel} (version {written})",
                );
                checked += 1;
            }
        }
    }
    if folded {
        assert!(checked > 0);
    } else {
        assert_eq!(checked as u64, u(&s, "written"));
    }
    let again = ingest_ok(&small, &[&src], &["--buffer-mb", "1"]);
    assert_eq!(u(&again, "objects_read"), 0, "{again:#}");
    assert_eq!(u(&again, "written"), 0);
}
