//! kill -9 at random moments of an ingest, then a normal run: the lake's committed version
//! ends exactly as an uninterrupted run leaves it.

use std::process::Stdio;
use std::time::{Duration, Instant};

use crate::common::*;

fn sorted_rows(lake: &std::path::Path) -> Vec<(String, i64, String)> {
    let mut rows: Vec<(String, i64, String)> = lake_rows(lake)
        .into_iter()
        .map(|r| (r.source, r.index, r.record.to_string()))
        .collect();
    rows.sort();
    rows
}

#[test]
fn kill_9_at_random_moments_then_a_normal_run_gives_the_uninterrupted_lake() {
    let tmp = tempfile::tempdir().unwrap();
    let src = tmp.path().join("src");
    let cfg = trailsql_gen::GenConfig {
        events: 8_000,
        days: 3,
        accounts: 2,
        regions: vec!["us-east-1".into(), "eu-west-1".into()],
        seed: 11,
        ..Default::default()
    };
    trailsql_gen::generate(&cfg, &src).unwrap();

    // A small buffer makes many checkpoints, so kills land before, during and after commits.
    let args = ["--buffer-mb", "1"];
    let reference = tmp.path().join("reference");
    let t = Instant::now();
    let expected = ingest_ok(&reference, &[&src], &args);
    let full_ms = t.elapsed().as_millis() as u64;

    let lake = tmp.path().join("crashed");
    let seed = std::env::var("TRAILSQL_CRASH_SEED")
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or(20_241_124);
    let mut rng = Rng(seed);
    let mut kills = 0;
    for _ in 0..12 {
        if kills >= 3 {
            break;
        }
        let mut child = bin()
            .arg("--lake")
            .arg(&lake)
            .args(["ingest", "--quiet"])
            .args(args)
            .arg(&src)
            .stdout(Stdio::null())
            .stderr(Stdio::piped())
            .spawn()
            .unwrap();
        std::thread::sleep(Duration::from_millis(rng.next() % (full_ms / 2).max(50)));
        match child.try_wait().unwrap() {
            None => {
                child.kill().unwrap(); // SIGKILL
                kills += 1;
                child.wait().unwrap();
            }
            Some(status) => {
                let out = child.wait_with_output().unwrap();
                assert!(
                    status.success(),
                    "an ingest failed: {}",
                    String::from_utf8_lossy(&out.stderr)
                );
            }
        }
    }
    assert!(kills >= 1, "no run was interrupted (seed {seed})");
    // Between the kill and the next run, trailsql and the `deltalake` Python reader both
    // count exactly the rows of the last committed version.
    let committed: usize = lake_batches(&lake, trailsql_lake::schema::Table::CloudTrail)
        .iter()
        .map(|(_, b)| b.num_rows())
        .sum();
    assert_eq!(
        scalar(&lake, "SELECT count(*) FROM cloudtrail"),
        committed.to_string()
    );
    if lake.join("cloudtrail/_delta_log").exists() {
        // os._exit: the reader's threads can abort the interpreter's teardown (delta-rs
        // issue 2184) after the answer is printed.
        let out = std::process::Command::new("python3")
            .arg("-c")
            .arg("import os, sys; from deltalake import DeltaTable; print(DeltaTable(sys.argv[1]).to_pyarrow_table().num_rows, flush=True); os._exit(0)")
            .arg(lake.join("cloudtrail"))
            .output()
            .expect("python3 runs");
        assert!(
            out.status.success(),
            "deltalake failed: {}",
            String::from_utf8_lossy(&out.stderr)
        );
        assert_eq!(
            String::from_utf8_lossy(&out.stdout).trim(),
            committed.to_string()
        );
    }
    let last = ingest_ok(&lake, &[&src], &args);

    let (got, want) = (sorted_rows(&lake), sorted_rows(&reference));
    let first_diff = got.iter().zip(&want).position(|(a, b)| a != b);
    assert!(
        got.len() == want.len() && first_diff.is_none(),
        "seed {seed}, {kills} kills: {} rows, expected {}; first difference at {first_diff:?}: {:?} vs {:?}",
        got.len(),
        want.len(),
        first_diff.map(|i| (&got[i].0, got[i].1)),
        first_diff.map(|i| (&want[i].0, want[i].1)),
    );
    assert_eq!(
        scalar(&lake, "SELECT count(*) FROM cloudtrail"),
        scalar(&reference, "SELECT count(*) FROM cloudtrail")
    );
    assert!(u(&expected, "written") > 7_900, "{expected:#}");
    assert!(!lake.join("_trailsql/lock").exists());
    // Files of killed runs are in the folders but in no version: readers do not see them
    // (the rows above are read from the files the Delta log names).
    let named = committed_files(&lake, trailsql_lake::schema::Table::CloudTrail).len();
    assert!(named <= parquet_files(&lake.join("cloudtrail")).len());
    let again = ingest_ok(&lake, &[&src], &args);
    assert_eq!(u(&again, "written"), 0);
    assert_eq!(u(&again, "objects_read"), 0);
    eprintln!("crash test: seed {seed}, {kills} kills, last run {last}");
}
