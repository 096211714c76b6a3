//! Many writers: several `trailsql ingest` processes into one lake at once, local and in a
//! bucket (moto's S3 server on loopback), over sources that hold the same events (copies of
//! one generated trail). All succeed, and the lake holds what one run leaves: each event
//! once, as trailsql and the Python `deltalake` reader both count.

use std::path::Path;
use std::process::{Command, Output};

use crate::common::*;
use crate::s3::{Moto, start_moto, upload, with_s3};

const WRITERS: usize = 4;

/// One trail, copied under `c0/` .. `c3/` of `root`: each copy is another source of the same
/// events.
fn copies(root: &Path) -> Vec<std::path::PathBuf> {
    let cfg = trailsql_gen::GenConfig {
        events: 3000,
        days: 2,
        seed: 14,
        ..Default::default()
    };
    // The generator writes the same bytes for the same arguments.
    (0..WRITERS)
        .map(|i| {
            let d = root.join(format!("c{i}"));
            trailsql_gen::generate(&cfg, &d).unwrap();
            d
        })
        .collect()
}

/// Start `WRITERS` ingests at once (small checkpoints, so their commits interleave) and wait
/// for all of them.
fn concurrent(cmds: Vec<Command>) -> Vec<Output> {
    let children: Vec<_> = cmds
        .into_iter()
        .map(|mut c| {
            c.stdout(std::process::Stdio::piped())
                .stderr(std::process::Stdio::piped())
                .spawn()
                .unwrap()
        })
        .collect();
    children
        .into_iter()
        .map(|c| c.wait_with_output().unwrap())
        .collect()
}

fn assert_all_ok(outs: &[Output]) -> u64 {
    let mut written = 0;
    for o in outs {
        assert!(
            o.status.success(),
            "a concurrent ingest failed: {}",
            String::from_utf8_lossy(&o.stderr)
        );
        let s: serde_json::Value = serde_json::from_slice(&o.stdout).unwrap();
        assert_balanced(&s);
        assert!(
            u(&s, "objects_read") > 400,
            "each writer reads its copy: {s:#}"
        );
        written += u(&s, "written");
    }
    written
}

const COUNTS: &str = "SELECT (SELECT count(*) FROM cloudtrail) || ' ' || (SELECT count(DISTINCT eventid) FROM cloudtrail) || ' ' || (SELECT count(*) FROM cloudtrail_insights)";

/// Row counts of both tables as the Python `deltalake` package reads them.
fn deltalake_counts(root: &str, storage: &[(&str, &str)]) -> String {
    let script = r#"
import json, os, sys
from deltalake import DeltaTable
root, opts = sys.argv[1], json.loads(sys.argv[2])
n = [DeltaTable(f"{root}/{t}", storage_options=opts or None).to_pyarrow_table().num_rows
     for t in ("cloudtrail", "cloudtrail_insights")]
print(f"{n[0]} {n[1]}", flush=True)
os._exit(0)
"#;
    let opts: serde_json::Map<String, serde_json::Value> = storage
        .iter()
        .map(|(k, v)| (k.to_string(), serde_json::Value::from(*v)))
        .collect();
    let out = Command::new("python3")
        .args([
            "-c",
            script,
            root,
            &serde_json::Value::from(opts).to_string(),
        ])
        .output()
        .expect("python3 runs");
    assert!(
        out.status.success(),
        "deltalake failed: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8_lossy(&out.stdout).trim().to_owned()
}

/// `count distinct insights` of a one-run lake.
fn expected(tmp: &Path, src: &Path) -> (String, u64) {
    let single = tmp.join("single");
    let s = ingest_ok(&single, &[src], &[]);
    (
        sql(&single, COUNTS, "csv")
            .lines()
            .nth(1)
            .unwrap()
            .trim_matches('"')
            .to_owned(),
        u(&s, "written"),
    )
}

#[test]
fn concurrent_ingests_into_a_local_lake_keep_each_event_once() {
    let tmp = tempfile::tempdir().unwrap();
    let dirs = copies(&tmp.path().join("src"));
    let (want, single_written) = expected(tmp.path(), &dirs[0]);
    let lake = tmp.path().join("lake");
    let cmds = dirs
        .iter()
        .map(|d| {
            let mut c = bin();
            c.arg("--lake")
                .arg(&lake)
                .args(["ingest", "--json", "--quiet", "--buffer-mb", "1"])
                .arg(d);
            c
        })
        .collect();
    let written = assert_all_ok(&concurrent(cmds));
    assert_eq!(written, single_written, "the writers wrote each event once");
    let got = sql(&lake, COUNTS, "csv");
    assert_eq!(got.lines().nth(1).unwrap().trim_matches('"'), want);
    let (rows, _) = want.split_once(' ').unwrap();
    let insights = want.rsplit(' ').next().unwrap();
    assert_eq!(
        deltalake_counts(lake.to_str().unwrap(), &[]),
        format!("{rows} {insights}")
    );
    let paths: Vec<&Path> = dirs.iter().map(|d| d.as_path()).collect();
    let again = ingest_ok(&lake, &paths, &[]);
    assert_eq!(u(&again, "written"), 0, "{again:#}");
    assert_eq!(u(&again, "objects_read"), 0, "{again:#}");
}

fn s3_cmd(moto: &Moto, lake: &str, args: &[&str]) -> Command {
    let mut c = bin();
    c.args(["--lake", lake]).args(args);
    with_s3(&mut c, moto);
    c
}

#[test]
fn concurrent_ingests_into_a_bucket_lake_keep_each_event_once() {
    let moto = start_moto();
    let tmp = tempfile::tempdir().unwrap();
    let root = tmp.path().join("src");
    let dirs = copies(&root);
    upload(&moto, &root);
    let (want, single_written) = expected(tmp.path(), &dirs[0]);
    let lake = "s3://lake/many";
    let cmds = (0..WRITERS)
        .map(|i| {
            let src = format!("s3://trail/c{i}/AWSLogs/");
            s3_cmd(
                &moto,
                lake,
                &["ingest", "--json", "--quiet", "--buffer-mb", "1", &src],
            )
        })
        .collect();
    let written = assert_all_ok(&concurrent(cmds));
    assert_eq!(written, single_written, "the writers wrote each event once");
    let o = s3_cmd(&moto, lake, &["sql", "--format", "csv", "-c", COUNTS])
        .output()
        .unwrap();
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    let got = String::from_utf8_lossy(&o.stdout).into_owned();
    assert_eq!(got.lines().nth(1).unwrap().trim_matches('"'), want);
    let (rows, _) = want.split_once(' ').unwrap();
    let insights = want.rsplit(' ').next().unwrap();
    let storage = [
        ("AWS_ENDPOINT_URL", moto.endpoint.as_str()),
        ("AWS_ACCESS_KEY_ID", "test"),
        ("AWS_SECRET_ACCESS_KEY", "test"),
        ("AWS_REGION", "us-east-1"),
        ("AWS_ALLOW_HTTP", "true"),
    ];
    assert_eq!(
        deltalake_counts(lake, &storage),
        format!("{rows} {insights}")
    );
    let mut args = vec!["ingest", "--json", "--quiet"];
    let srcs: Vec<String> = (0..WRITERS)
        .map(|i| format!("s3://trail/c{i}/AWSLogs/"))
        .collect();
    args.extend(srcs.iter().map(String::as_str));
    let o = s3_cmd(&moto, lake, &args).output().unwrap();
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    let again: serde_json::Value = serde_json::from_slice(&o.stdout).unwrap();
    assert_eq!(u(&again, "written"), 0, "{again:#}");
    assert_eq!(u(&again, "objects_read"), 0, "{again:#}");
}
