//! Lake maintenance: compaction (by hand and after each ingest), retention, vacuum and the
//! upgrade of a lake of the previous format, checked with trailsql's queries, the Delta log,
//! the Python `deltalake` reader and pyarrow's plain Hive reader.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::process::Stdio;
use std::time::Instant;

use crate::common::*;
use trailsql_lake::schema::Table;

/// The first day of the generated trail: five days ago, so retention windows are relative
/// to now.
fn start() -> chrono::NaiveDate {
    chrono::Utc::now().date_naive() - chrono::Duration::days(5)
}

fn generate(dir: &Path, events: u64, days: u32) {
    let cfg = trailsql_gen::GenConfig {
        events,
        days,
        accounts: 1,
        regions: vec!["us-east-1".into(), "eu-west-1".into()],
        seed: 7,
        start: start(),
        insights: false,
        ..Default::default()
    };
    trailsql_gen::generate(&cfg, dir).unwrap();
}

/// The delivery time in a CloudTrail object's name (`..._20240301T0105Z_...`).
fn delivery(p: &Path) -> String {
    let name = p.file_name().unwrap().to_str().unwrap();
    name.split('_')
        .find(|t| t.len() == 14 && t.ends_with('Z') && t.as_bytes()[8] == b'T')
        .unwrap_or(name)
        .to_owned()
}

fn files_under(dir: &Path) -> Vec<PathBuf> {
    let mut out = Vec::new();
    let mut stack = vec![dir.to_path_buf()];
    while let Some(d) = stack.pop() {
        for e in std::fs::read_dir(&d).unwrap().flatten() {
            if e.file_type().unwrap().is_dir() {
                stack.push(e.path());
            } else {
                out.push(e.path());
            }
        }
    }
    out
}

/// Ingest `src` into `lake` as a scheduled job would: its objects delivered in `slices`
/// rounds (in delivery order), an ingest after each. Returns the last summary.
fn feed(src: &Path, lake: &Path, slices: usize, extra: &[&str]) -> serde_json::Value {
    let mut objects = files_under(src);
    objects.sort_by_key(|p| delivery(p));
    let inbox = lake.with_extension("inbox");
    let per = objects.len().div_ceil(slices);
    let mut last = serde_json::Value::Null;
    for slice in objects.chunks(per) {
        for o in slice {
            let to = inbox.join(o.strip_prefix(src).unwrap());
            std::fs::create_dir_all(to.parent().unwrap()).unwrap();
            std::fs::copy(o, to).unwrap();
        }
        last = ingest_ok(lake, &[&inbox], extra);
    }
    last
}

/// Committed data files per partition folder.
fn files_per_partition(lake: &Path) -> BTreeMap<String, usize> {
    let mut out = BTreeMap::new();
    for (f, _) in committed_files(lake, Table::CloudTrail) {
        let dir = f.parent().unwrap().strip_prefix(lake).unwrap();
        *out.entry(dir.to_string_lossy().into_owned()).or_default() += 1;
    }
    out
}

/// Figures that must not change when files are rewritten.
fn figures(lake: &Path) -> String {
    sql(
        lake,
        "SELECT count(*), count(DISTINCT eventid), min(eventtime), max(eventtime), \
         sum(length(eventname)), count(DISTINCT eventsource), count(errorcode) FROM cloudtrail",
        "csv",
    )
}

/// Rows of the table as the Python `deltalake` package reads it.
fn deltalake_rows(lake: &Path) -> String {
    // os._exit: the reader's threads can abort the interpreter's teardown (delta-rs issue
    // 2184) after the answer is printed.
    let out = std::process::Command::new("python3")
        .arg("-c")
        .arg("import os, sys; from deltalake import DeltaTable; print(DeltaTable(sys.argv[1]).to_pyarrow_table().num_rows, flush=True); os._exit(0)")
        .arg(lake.join("cloudtrail"))
        .output()
        .expect("python3 runs");
    assert!(
        out.status.success(),
        "deltalake failed (pip install deltalake): {}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8_lossy(&out.stdout).trim().to_owned()
}

/// Rows of the table's folders as a plain Hive reader (pyarrow.dataset) reads them.
fn hive_rows(lake: &Path) -> String {
    let out = std::process::Command::new("python3")
        .arg("-c")
        .arg("import sys, pyarrow.dataset as ds; print(ds.dataset(sys.argv[1], format='parquet', partitioning='hive', exclude_invalid_files=True, ignore_prefixes=['_', '.']).count_rows())")
        .arg(lake.join("cloudtrail"))
        .output()
        .expect("python3 runs");
    assert!(
        out.status.success(),
        "pyarrow failed: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8_lossy(&out.stdout).trim().to_owned()
}

fn lake_cmd(lake: &Path, args: &[&str]) -> Run {
    Run {
        output: bin()
            .arg("--lake")
            .arg(lake)
            .arg("lake")
            .args(args)
            .output()
            .unwrap(),
    }
}

fn lake_ok(lake: &Path, args: &[&str]) -> Run {
    let run = lake_cmd(lake, args);
    assert!(run.ok(), "lake {args:?}: {}{}", run.stderr(), run.stdout());
    run
}

/// The Parquet files in the table's data folders (not the Delta log's checkpoints).
fn data_files(lake: &Path) -> Vec<PathBuf> {
    parquet_files(&lake.join("cloudtrail"))
        .into_iter()
        .filter(|p| !p.to_string_lossy().contains("/_delta_log/"))
        .collect()
}

fn count(lake: &Path) -> String {
    scalar(lake, "SELECT count(*) FROM cloudtrail")
}

/// A lake of many small files: `slices` ingests without compaction.
fn small_file_lake(tmp: &Path, events: u64, days: u32, slices: usize) -> (PathBuf, PathBuf) {
    let src = tmp.join("src");
    generate(&src, events, days);
    let lake = tmp.join("lake");
    feed(&src, &lake, slices, &["--no-compact"]);
    (src, lake)
}

#[test]
fn compaction_retention_and_vacuum_keep_every_reader_on_the_same_rows() {
    let tmp = tempfile::tempdir().unwrap();
    let (_, lake) = small_file_lake(tmp.path(), 3_000, 3, 12);
    let before = files_per_partition(&lake);
    assert!(
        before.values().any(|n| *n > 3),
        "hourly ingests leave small files: {before:?}"
    );
    let want = figures(&lake);
    let small = |lake: &Path| u(&lake_ok(lake, &["--json"]).summary()[0], "small_files");
    let several: usize = before.values().filter(|n| **n > 1).sum();
    assert_eq!(small(&lake) as usize, several);

    let run = lake_ok(&lake, &["compact", "--json"]);
    let r = run.summary();
    let after = files_per_partition(&lake);
    assert!(after.values().all(|n| *n == 1), "{after:?}");
    assert_eq!(small(&lake), 0);
    let merged = before.values().filter(|n| **n > 1).count();
    assert_eq!(u(&r, "partitions") as usize, merged);
    assert_eq!(u(&r, "files_before") as usize, several);
    assert_eq!(u(&r, "files_after") as usize, merged);
    assert_eq!(figures(&lake), want);
    let rows = count(&lake);
    assert_eq!(deltalake_rows(&lake), rows);
    let text = lake_ok(&lake, &["compact"]).stdout();
    assert!(text.contains("compacted nothing"), "{text}");
    // The compaction is an OPTIMIZE that changes no data.
    let log = std::fs::read_dir(lake.join("cloudtrail/_delta_log"))
        .unwrap()
        .count();
    assert!(log > 1);

    // Retention: the first of the three days goes, and stays gone when the same source is
    // ingested again.
    let first = start().format("%Y-%m-%d").to_string();
    let in_first = scalar(
        &lake,
        &format!("SELECT count(*) FROM cloudtrail WHERE date = '{first}'"),
    );
    assert_ne!(in_first, "0");
    let r = lake_ok(&lake, &["retain", "4d", "--json"]).summary();
    assert!(u(&r, "partitions") >= 2, "{r}");
    let kept: u64 = rows.parse::<u64>().unwrap() - in_first.parse::<u64>().unwrap();
    assert_eq!(
        scalar(&lake, "SELECT min(date) FROM cloudtrail"),
        (start() + chrono::Duration::days(1)).to_string()
    );
    assert_eq!(count(&lake), kept.to_string());
    assert_eq!(deltalake_rows(&lake), kept.to_string());
    let again = ingest_ok(&lake, &[&lake.with_extension("inbox")], &[]);
    assert_eq!(u(&again, "written"), 0, "{again:#}");
    assert_eq!(u(&again, "objects_read"), 0, "{again:#}");
    assert_eq!(count(&lake), kept.to_string());

    // Vacuum: within the default window nothing goes; with 0, the removed files go and the
    // folders hold the latest version only.
    let on_disk = data_files(&lake).len();
    let r = lake_ok(&lake, &["vacuum", "--json"]).summary();
    assert_eq!(r["files"].as_array().unwrap().len(), 0, "{r}");
    let dry = lake_ok(&lake, &["vacuum", "--older-than", "0", "--dry-run"]);
    assert!(dry.stdout().contains("would delete"), "{}", dry.stdout());
    assert_eq!(data_files(&lake).len(), on_disk);
    let run = lake_ok(&lake, &["vacuum", "--older-than", "0"]);
    assert!(run.stderr().contains("warning"), "{}", run.stderr());
    let live = committed_files(&lake, Table::CloudTrail).len();
    assert!(live < on_disk);
    assert_eq!(data_files(&lake).len(), live);
    assert_eq!(count(&lake), kept.to_string());
    assert_eq!(deltalake_rows(&lake), kept.to_string());
    assert_eq!(hive_rows(&lake), kept.to_string());
}

#[test]
fn hourly_ingests_compact_as_they_go() {
    let tmp = tempfile::tempdir().unwrap();
    let src = tmp.path().join("src");
    generate(&src, 3_000, 3);
    let lake = tmp.path().join("lake");
    feed(&src, &lake, 12, &[]);
    let per = files_per_partition(&lake);
    let threshold = trailsql_lake::maintenance::AUTO_COMPACT_FILES;
    assert!(per.values().all(|n| *n <= threshold), "{per:?}");
    let one_run = tmp.path().join("one-run");
    ingest_ok(&one_run, &[&src], &[]);
    assert_eq!(figures(&lake), figures(&one_run));
    assert!(
        committed_files(&lake, Table::CloudTrail).len()
            <= files_per_partition(&one_run).values().sum()
    );
}

#[test]
fn ingest_retain_skips_and_removes_what_is_older_than_the_window() {
    let tmp = tempfile::tempdir().unwrap();
    let src = tmp.path().join("src");
    generate(&src, 2_000, 3);
    let lake = tmp.path().join("lake");
    let s = ingest_ok(&lake, &[&src], &["--retain", "4d"]);
    assert!(u(&s, "older_than_retention") > 0, "{s:#}");
    let oldest = (chrono::Utc::now() - chrono::Duration::days(4)).date_naive();
    let min_date = scalar(&lake, "SELECT min(date) FROM cloudtrail");
    assert!(min_date >= oldest.to_string(), "{min_date} < {oldest}");
    let text = ingest(&lake, &[&src], &["--retain", "4d"]);
    assert!(text.ok());
    assert_eq!(u(&text.summary(), "written"), 0);
}

#[test]
fn a_query_during_compaction_sees_one_version() {
    let tmp = tempfile::tempdir().unwrap();
    let (_, lake) = small_file_lake(tmp.path(), 3_000, 3, 8);
    let want = count(&lake);
    let dates: Vec<String> = sql(
        &lake,
        "SELECT DISTINCT date FROM cloudtrail ORDER BY 1",
        "csv",
    )
    .lines()
    .skip(1)
    .map(str::to_owned)
    .collect();
    let compactor = {
        let lake = lake.clone();
        std::thread::spawn(move || {
            // One partition date at a time: a commit every half second or so.
            for d in dates {
                lake_ok(&lake, &["compact", "--since", &d, "--until", &d]);
            }
        })
    };
    let mut queries = 0;
    while !compactor.is_finished() {
        assert_eq!(count(&lake), want, "after {queries} queries");
        queries += 1;
    }
    compactor.join().unwrap();
    assert!(queries >= 2, "queries ran while compactions committed");
    assert!(files_per_partition(&lake).values().all(|n| *n == 1));
    assert_eq!(count(&lake), want);
}

#[test]
fn kill_9_during_compaction_leaves_the_last_version_and_the_next_one_converges() {
    let tmp = tempfile::tempdir().unwrap();
    let (_, base) = small_file_lake(tmp.path(), 3_000, 3, 10);
    let want = figures(&base);
    let rows = count(&base);
    // How long a whole compaction takes, on a copy.
    let probe = tmp.path().join("probe");
    copy_tree(&base, &probe);
    let t = Instant::now();
    lake_ok(&probe, &["compact"]);
    let full = t.elapsed();
    let mut orphans_seen = false;
    for (i, frac) in [0.3, 0.6, 0.8, 0.9, 0.97].iter().enumerate() {
        let lake = tmp.path().join(format!("killed-{i}"));
        copy_tree(&base, &lake);
        let mut child = bin()
            .arg("--lake")
            .arg(&lake)
            .args(["lake", "compact"])
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .unwrap();
        std::thread::sleep(full.mul_f64(*frac));
        child.kill().unwrap(); // SIGKILL
        child.wait().unwrap();
        let committed: usize = lake_batches(&lake, Table::CloudTrail)
            .iter()
            .map(|(_, b)| b.num_rows())
            .sum();
        assert_eq!(committed.to_string(), rows, "killed at {frac}");
        assert_eq!(count(&lake), rows, "killed at {frac}");
        assert_eq!(deltalake_rows(&lake), rows, "killed at {frac}");
        orphans_seen |= data_files(&lake).len()
            > committed_files(&lake, Table::CloudTrail).len() + files_per_partition(&base).len();
        lake_ok(&lake, &["compact"]);
        assert!(files_per_partition(&lake).values().all(|n| *n == 1));
        assert_eq!(figures(&lake), want);
        // Files the killed compaction wrote are deleted by vacuum, and only those.
        lake_ok(&lake, &["vacuum", "--older-than", "0"]);
        assert_eq!(
            data_files(&lake).len(),
            committed_files(&lake, Table::CloudTrail).len()
        );
        assert_eq!(figures(&lake), want);
    }
    eprintln!("compaction took {full:?}; a kill left uncommitted files: {orphans_seen}");
}

fn copy_tree(from: &Path, to: &Path) {
    for f in files_under(from) {
        let dst = to.join(f.strip_prefix(from).unwrap());
        std::fs::create_dir_all(dst.parent().unwrap()).unwrap();
        std::fs::copy(&f, dst).unwrap();
    }
}

#[test]
fn vacuum_never_deletes_files_trailsql_did_not_write() {
    let tmp = tempfile::tempdir().unwrap();
    let (_, lake) = small_file_lake(tmp.path(), 1_000, 2, 3);
    let (file, _) = committed_files(&lake, Table::CloudTrail).remove(0);
    let theirs = file.with_file_name("notes.parquet");
    std::fs::write(&theirs, b"not ours").unwrap();
    let killed = file.with_file_name("part-killed-000001.parquet");
    std::fs::copy(&file, &killed).unwrap();
    let r = lake_ok(&lake, &["vacuum", "--older-than", "0", "--json"]).summary();
    let deleted: Vec<&str> = r["files"]
        .as_array()
        .unwrap()
        .iter()
        .map(|f| f["path"].as_str().unwrap())
        .collect();
    assert!(
        deleted
            .iter()
            .any(|p| p.ends_with("part-killed-000001.parquet")),
        "{r}"
    );
    assert!(!killed.exists());
    assert!(theirs.exists(), "a file someone else put there stays");
    assert!(file.exists());
}

#[test]
fn a_lake_of_the_previous_format_is_upgraded_in_place() {
    let tmp = tempfile::tempdir().unwrap();
    let src = tmp.path().join("src");
    generate(&src, 2_000, 2);
    let reference = tmp.path().join("reference");
    ingest_ok(&reference, &[&src], &[]);

    // The same data files, named by legacy commit records instead of a Delta log; a file no
    // record names (a killed run's) is in a folder too.
    let old = tmp.path().join("old");
    let mut files = Vec::new();
    for (f, _) in committed_files(&reference, Table::CloudTrail) {
        let rel = f
            .strip_prefix(&reference)
            .unwrap()
            .to_string_lossy()
            .into_owned();
        let dst = old.join(&rel);
        std::fs::create_dir_all(dst.parent().unwrap()).unwrap();
        std::fs::copy(&f, &dst).unwrap();
        let rows: usize =
            trailsql_lake::file::read_file(bytes::Bytes::from(std::fs::read(&f).unwrap()))
                .unwrap()
                .iter()
                .map(|b| b.num_rows())
                .sum();
        files.push(trailsql_lake::state::FileEntry {
            path: rel,
            rows: rows as u64,
            bytes: std::fs::metadata(&f).unwrap().len(),
        });
    }
    let stray = old
        .join(&files[0].path)
        .with_file_name("part-killed-000009.parquet");
    std::fs::copy(old.join(&files[0].path), &stray).unwrap();
    // What the reference lake has read, through the state's own reader (it keeps the
    // sources by delivery day, in records and folded checkpoints).
    let days: Vec<String> = std::fs::read_dir(reference.join("_trailsql/sources"))
        .unwrap()
        .map(|e| e.unwrap())
        .filter(|e| e.file_type().unwrap().is_dir())
        .map(|e| e.file_name().to_string_lossy().into_owned())
        .collect();
    let sources: Vec<trailsql_lake::state::SourceEntry> =
        tokio::runtime::Runtime::new().unwrap().block_on(async {
            let lake = trailsql_lake::Lake::open(reference.to_str().unwrap()).unwrap();
            let mut state = trailsql_lake::state::LakeState::load(&lake).await.unwrap();
            state.load_days(&lake, days).await.unwrap();
            state.sources.into_values().collect()
        });
    assert!(!sources.is_empty());
    let half = files.len() / 2;
    std::fs::create_dir_all(old.join("_trailsql/log")).unwrap();
    for (version, (files, sources)) in [
        (files[..half].to_vec(), sources.clone()),
        (files[half..].to_vec(), Vec::new()),
    ]
    .into_iter()
    .enumerate()
    {
        let commit = trailsql_lake::state::LegacyCommit {
            version: version as u32,
            run: format!("old{version}"),
            time: "2024-03-05T00:00:00Z".into(),
            files,
            quarantine: Vec::new(),
            sources,
            listed: Vec::new(),
        };
        std::fs::write(
            old.join(format!("_trailsql/log/{version:012}.json")),
            serde_json::to_vec(&commit).unwrap(),
        )
        .unwrap();
    }
    let refused = bin()
        .arg("--lake")
        .arg(&old)
        .args(["sql", "-c", "SELECT 1"])
        .output()
        .unwrap();
    assert_eq!(refused.status.code(), Some(1));

    let text = lake_ok(&old, &["upgrade"]).stdout();
    assert!(text.contains("upgraded 2 legacy commits"), "{text}");
    assert_eq!(figures(&old), figures(&reference));
    assert_eq!(deltalake_rows(&old), count(&reference));
    let named = committed_files(&old, Table::CloudTrail);
    assert!(
        named.iter().all(|(f, _)| f != &stray),
        "an unnamed file stays out"
    );
    // The log carries each file's statistics, as ingest commits them: the eventtime range
    // prunes files.
    let s = lake_ok(&old, &["--json"]).summary();
    assert_eq!(s[0]["rows"].to_string(), count(&reference));

    // An interrupted upgrade (killed before the legacy records moved) completes on a re-run
    // without adding anything twice.
    std::fs::rename(
        old.join("_trailsql/log-upgraded"),
        old.join("_trailsql/log"),
    )
    .unwrap();
    let text = lake_ok(&old, &["upgrade"]).stdout();
    assert!(text.contains("added by an earlier run"), "{text}");
    assert_eq!(figures(&old), figures(&reference));
    let text = lake_ok(&old, &["upgrade"]).stdout();
    assert!(text.contains("nothing to upgrade"), "{text}");

    // The source state came along: the same source adds nothing.
    let again = ingest_ok(&old, &[&src], &[]);
    assert_eq!(u(&again, "objects_read"), 0, "{again:#}");
    assert_eq!(u(&again, "written"), 0);
}
