//! Third-party readers get the rows and columns trailsql shows: as Delta tables (DuckDB's
//! `delta_scan`, from the venv tests/run.sh makes; the Python `deltalake` package), and as
//! plain Hive-partitioned Parquet (pyarrow, DuckDB's `read_parquet`, Spark without Delta
//! jars). tests/run.sh installs them from PyPI. The DDL `trailsql ddl` generates is run by
//! DuckDB (both forms) and Spark (Hive form), and snapshotted for every engine.

use std::path::{Path, PathBuf};
use std::process::Command;

use crate::common::*;

const SCRIPT: &str = r#"
import json, sys
import duckdb
import pyarrow.dataset as ds

lake = sys.argv[1]
out = {}
t = ds.dataset(lake + "/cloudtrail", format="parquet", partitioning="hive").to_table()
out["pyarrow_rows"] = t.num_rows
out["pyarrow_columns"] = t.schema.names
out["pyarrow_ids"] = sorted(x for x in t.column("eventid").to_pylist() if x is not None)
con = duckdb.connect()
rel = f"read_parquet('{lake}/cloudtrail/date=*/region=*/*.parquet', hive_partitioning=true)"
out["duckdb_rows"] = con.execute(f"select count(*) from {rel}").fetchone()[0]
out["duckdb_by_partition"] = [
    [str(d), r, n] for d, r, n in con.execute(
        f"select date, region, count(*) from {rel} group by all order by all").fetchall()
]
out["duckdb_nested"] = con.execute(
    f"select useridentity.sessioncontext.sessionissuer.arn, resources[1].arn, "
    f"strftime(eventtime at time zone 'UTC', '%Y-%m-%dT%H:%M:%SZ') "
    f"from {rel} where eventname = 'PutObject'").fetchall()
print(json.dumps(out, default=str))
"#;

#[test]
fn pyarrow_and_duckdb_read_the_lake_and_agree_with_trailsql() {
    let tmp = tempfile::tempdir().unwrap();
    let src = tmp.path().join("src");
    crate::shapes::shapes_dir(&src);
    let lake = tmp.path().join("lake");
    ingest_ok(&lake, &[&src], &[]);

    let out = Command::new("python3")
        .arg("-c")
        .arg(SCRIPT)
        .arg(&lake)
        .output()
        .expect("python3 runs");
    assert!(
        out.status.success(),
        "python readers failed (pip install duckdb pyarrow): {}",
        String::from_utf8_lossy(&out.stderr)
    );
    let v: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();

    let ours = scalar(&lake, "SELECT count(*) FROM cloudtrail");
    assert_eq!(v["pyarrow_rows"].to_string(), ours);
    assert_eq!(v["duckdb_rows"].to_string(), ours);

    let cols = sql(
        &lake,
        "SELECT column_name FROM information_schema.columns WHERE table_schema = 'public' AND table_name = 'cloudtrail' ORDER BY ordinal_position",
        "csv",
    );
    let mut ours_cols: Vec<String> = cols.lines().skip(1).map(str::to_owned).collect();
    let mut theirs: Vec<String> = v["pyarrow_columns"]
        .as_array()
        .unwrap()
        .iter()
        .map(|c| c.as_str().unwrap().to_owned())
        .collect();
    ours_cols.sort();
    theirs.sort();
    assert_eq!(
        theirs, ours_cols,
        "same columns, partition columns included"
    );

    let ids = sql(
        &lake,
        "SELECT eventid FROM cloudtrail WHERE eventid IS NOT NULL ORDER BY eventid",
        "csv",
    );
    let ours_ids: Vec<&str> = ids.lines().skip(1).collect();
    let theirs_ids: Vec<&str> = v["pyarrow_ids"]
        .as_array()
        .unwrap()
        .iter()
        .map(|x| x.as_str().unwrap())
        .collect();
    assert_eq!(theirs_ids, ours_ids);

    let parts = sql(
        &lake,
        "SELECT date, region, count(*) FROM cloudtrail GROUP BY 1, 2 ORDER BY 1, 2",
        "csv",
    );
    let ours_parts: Vec<String> = parts.lines().skip(1).map(str::to_owned).collect();
    let theirs_parts: Vec<String> = v["duckdb_by_partition"]
        .as_array()
        .unwrap()
        .iter()
        .map(|r| {
            format!(
                "{},{},{}",
                r[0].as_str().unwrap(),
                r[1].as_str().unwrap(),
                r[2]
            )
        })
        .collect();
    assert_eq!(theirs_parts, ours_parts);

    assert_eq!(
        v["duckdb_nested"],
        serde_json::json!([[
            "arn:aws:iam::111122223333:role/Deployer",
            "arn:aws:s3:::example-artifacts/builds/app.zip",
            "2024-03-02T00:05:00Z"
        ]])
    );
}

/// Run `engine`'s generated DDL (`trailsql ddl --engine ENGINE ARGS`) over a lake of the
/// shapes fixtures with a Python `script` run by `python` (DDL on stdin, `scratch` dir as its
/// argument) and check its output: rows and distinct IDs per partition, the Insights count, a
/// nested field. `insights: false` leaves the Insights file out, so `cloudtrail_insights` has
/// no file (most real trails).
fn generated_ddl_agrees(engine: &str, args: &[&str], python: &Path, script: &str, insights: bool) {
    let tmp = tempfile::tempdir().unwrap();
    let src = tmp.path().join("src");
    crate::shapes::shapes_dir(&src);
    if !insights {
        std::fs::remove_file(src.join("insights.json")).unwrap();
    }
    let lake = tmp.path().join("lake");
    ingest_ok(&lake, &[&src], &[]);
    let ddl = bin()
        .arg("--lake")
        .arg(&lake)
        .args(["ddl", "--engine", engine])
        .args(args)
        .output()
        .unwrap();
    assert!(
        ddl.status.success(),
        "{}",
        String::from_utf8_lossy(&ddl.stderr)
    );
    let mut child = Command::new(python)
        .arg("-c")
        .arg(script)
        .arg(tmp.path().join("scratch"))
        .current_dir(tmp.path())
        .stdin(std::process::Stdio::piped())
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    use std::io::Write;
    child.stdin.take().unwrap().write_all(&ddl.stdout).unwrap();
    let out = child.wait_with_output().unwrap();
    assert!(
        out.status.success(),
        "{engine}: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    let ours = sql(
        &lake,
        "SELECT date, region, count(*), count(DISTINCT eventid), sum(sourceindex) FROM cloudtrail GROUP BY 1, 2 ORDER BY 1, 2",
        "csv",
    );
    let expected = format!(
        "{}{}\narn:aws:iam::111122223333:role/Deployer\n",
        ours.lines()
            .skip(1)
            .map(|l| format!("{l}\n"))
            .collect::<String>(),
        scalar(&lake, "SELECT count(*) FROM cloudtrail_insights")
    );
    assert_eq!(String::from_utf8_lossy(&out.stdout), expected);
    if !insights {
        assert!(expected.contains("\n0\n"), "{expected}");
    }
}

const DUCKDB_DDL_SCRIPT: &str = r#"
import sys, duckdb
con = duckdb.connect()
con.execute(sys.stdin.read())
q = "SELECT date, region, count(*), count(DISTINCT eventid), sum(sourceindex) FROM cloudtrail_logs GROUP BY 1, 2 ORDER BY 1, 2"
for row in con.execute(q).fetchall():
    print(",".join(str(v) for v in row))
print(con.execute("SELECT count(*) FROM cloudtrail_insights").fetchone()[0])
print(con.execute("SELECT useridentity.sessioncontext.sessionissuer.arn FROM cloudtrail WHERE eventname = 'PutObject'").fetchone()[0])
"#;

/// The same with DuckDB's delta extension loaded from its PyPI package (offline: no
/// `INSTALL delta`), as the Delta DDL needs.
const DUCKDB_DELTA_SCRIPT: &str = r#"
import sys, glob, os, duckdb, duckdb_extension_delta
ext = glob.glob(os.path.join(os.path.dirname(duckdb_extension_delta.__file__), "extensions", "*", "delta.duckdb_extension"))[0]
con = duckdb.connect(config={"allow_unsigned_extensions": "true"})
con.execute(f"LOAD '{ext}'")
con.execute(sys.stdin.read())
q = "SELECT date, region, count(*), count(DISTINCT eventid), sum(sourceindex) FROM cloudtrail_logs GROUP BY 1, 2 ORDER BY 1, 2"
for row in con.execute(q).fetchall():
    print(",".join(str(v) for v in row))
print(con.execute("SELECT count(*) FROM cloudtrail_insights").fetchone()[0])
print(con.execute("SELECT useridentity.sessioncontext.sessionissuer.arn FROM cloudtrail WHERE eventname = 'PutObject'").fetchone()[0])
"#;

/// Run `ddl` then `query` in DuckDB with its delta extension (the venv's); the query's rows,
/// one line each, fields joined by commas.
pub fn duckdb_delta(ddl: &str, query: &str) -> String {
    let script = r#"
import sys, glob, os, duckdb, duckdb_extension_delta
ext = glob.glob(os.path.join(os.path.dirname(duckdb_extension_delta.__file__), "extensions", "*", "delta.duckdb_extension"))[0]
con = duckdb.connect(config={"allow_unsigned_extensions": "true"})
con.execute(f"LOAD '{ext}'")
con.execute(sys.stdin.read())
for row in con.execute(sys.argv[1]).fetchall():
    print(",".join(str(v) for v in row))
"#;
    let mut child = Command::new(duckdb_venv_python())
        .arg("-c")
        .arg(script)
        .arg(query)
        .stdin(std::process::Stdio::piped())
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    use std::io::Write;
    child
        .stdin
        .take()
        .unwrap()
        .write_all(ddl.as_bytes())
        .unwrap();
    let out = child.wait_with_output().unwrap();
    assert!(
        out.status.success(),
        "duckdb delta: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8(out.stdout).unwrap()
}

/// The Python of the venv with DuckDB 1.5 and its httpfs and delta extensions that
/// tests/run.sh makes (TRAILSQL_DUCKDB_HTTPFS).
pub fn duckdb_venv_python() -> PathBuf {
    let venv = std::env::var("TRAILSQL_DUCKDB_HTTPFS").unwrap_or_else(|_| {
        format!(
            "{}/.cache/trailsql/duckdb-httpfs",
            std::env::var("HOME").unwrap()
        )
    });
    let python = Path::new(&venv).join("bin/python");
    assert!(
        python.exists(),
        "DuckDB with its httpfs and delta extensions: run tests/run.sh (it makes {venv})"
    );
    python
}

#[test]
fn duckdb_runs_the_generated_hive_ddl_and_agrees() {
    generated_ddl_agrees(
        "duckdb",
        &["--hive"],
        Path::new("python3"),
        DUCKDB_DDL_SCRIPT,
        true,
    );
}

/// Most trails have no Insights events: the DDL must still run, with an empty
/// `cloudtrail_insights` of the right columns.
#[test]
fn duckdb_runs_the_generated_hive_ddl_on_a_lake_without_insights() {
    generated_ddl_agrees(
        "duckdb",
        &["--hive"],
        Path::new("python3"),
        DUCKDB_DDL_SCRIPT,
        false,
    );
}

/// The default DDL: DuckDB reads the Delta tables with `delta_scan` and agrees.
#[test]
fn duckdb_delta_scan_runs_the_generated_ddl_and_agrees() {
    generated_ddl_agrees(
        "duckdb",
        &[],
        &duckdb_venv_python(),
        DUCKDB_DELTA_SCRIPT,
        true,
    );
}

#[test]
fn duckdb_delta_scan_runs_the_generated_ddl_on_a_lake_without_insights() {
    generated_ddl_agrees(
        "duckdb",
        &[],
        &duckdb_venv_python(),
        DUCKDB_DELTA_SCRIPT,
        false,
    );
}

/// The statements of every engine, both forms, over a lake with data in both event tables
/// (what the statements say depends on it); Athena needs an s3:// location.
#[test]
fn ddl_for_every_engine_in_both_forms() {
    let local = bin()
        .args(["ddl", "--engine", "athena", "--location", "/tmp/lake"])
        .output()
        .unwrap();
    assert_eq!(local.status.code(), Some(2), "Athena needs s3://");
    let tmp = tempfile::tempdir().unwrap();
    let src = tmp.path().join("src");
    crate::shapes::shapes_dir(&src);
    let lake = tmp.path().join("lake");
    ingest_ok(&lake, &[&src], &[]);
    let ddl = |engine: &str, extra: &[&str]| {
        let o = bin()
            .arg("--lake")
            .arg(&lake)
            .args(["ddl", "--engine", engine, "--location", "s3://bucket/lake/"])
            .args(extra)
            .output()
            .unwrap();
        assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
        String::from_utf8(o.stdout).unwrap()
    };
    for engine in ["athena", "trino", "spark", "duckdb"] {
        insta::assert_snapshot!(format!("ddl_delta_{engine}"), ddl(engine, &[]));
    }
    for engine in ["trino", "spark"] {
        insta::assert_snapshot!(format!("ddl_{engine}"), ddl(engine, &["--hive"]));
    }
    let athena = ddl("athena", &[]);
    assert!(
        athena.contains(
            "CREATE EXTERNAL TABLE IF NOT EXISTS `cloudtrail`\nLOCATION 's3://bucket/lake/cloudtrail/'\nTBLPROPERTIES ('table_type' = 'DELTA');"
        ),
        "{athena}"
    );
    let hive = ddl("athena", &["--hive"]);
    assert!(
        hive.contains("once the lake is\n-- committed and vacuumed"),
        "{hive}"
    );
    assert!(hive.contains(
        "'storage.location.template' = 's3://bucket/lake/cloudtrail/date=${date}/region=${region}'"
    ));
    assert!(hive.contains("`resources` array<struct<arn:string,accountid:string,type:string>>"));
    assert!(hive.contains("PARTITIONED BY (`date` string, `region` string)"));
    // A lake with no data yet: the Delta statements would fail on a missing log, so they
    // are left as comments saying why.
    let empty = tmp.path().join("empty");
    let o = bin()
        .arg("--lake")
        .arg(&empty)
        .args(["ddl", "--engine", "spark"])
        .output()
        .unwrap();
    let text = String::from_utf8_lossy(&o.stdout);
    assert!(
        text.contains("-- cloudtrail has no data yet") && !text.contains("CREATE TABLE"),
        "{text}"
    );
}

/// Spark SQL (pyspark from PyPI, Java on the machine) runs the generated DDL over a lake and
/// agrees with trailsql.
#[test]
fn spark_runs_the_generated_hive_ddl_and_agrees() {
    // No Delta jars offline: Spark reads the plain Hive form.
    generated_ddl_agrees(
        "spark",
        &["--hive"],
        Path::new("python3"),
        r#"
import sys
from pyspark.sql import SparkSession
spark = (SparkSession.builder.master("local[1]").appName("trailsql-ddl")
         .config("spark.ui.enabled", "false").config("spark.sql.session.timeZone", "UTC")
         .config("spark.sql.warehouse.dir", sys.argv[1]).getOrCreate())
spark.sparkContext.setLogLevel("ERROR")
for stmt in sys.stdin.read().split(";"):
    if stmt.strip():
        spark.sql(stmt)
q = "SELECT date, region, count(*), count(DISTINCT eventid), sum(sourceindex) FROM cloudtrail_logs GROUP BY 1, 2 ORDER BY 1, 2"
for row in spark.sql(q).collect():
    print(",".join(str(v) for v in row))
print(spark.sql("SELECT count(*) FROM cloudtrail_insights").collect()[0][0])
print(spark.sql("SELECT useridentity.sessioncontext.sessionissuer.arn FROM cloudtrail WHERE eventname = 'PutObject'").collect()[0][0])
"#,
        // Without Insights: `cloudtrail_insights` has no file (DuckDB covers both cases).
        false,
    );
}

/// Made-up regions with characters a path cannot hold as they are (anonymised logs have
/// them): each is escaped once in its folder name, as Hive escapes it, so trailsql and
/// DuckDB both read the original value back, and `WHERE region = ...` finds it.
#[test]
fn odd_region_values_read_back_as_written() {
    let tmp = tempfile::tempdir().unwrap();
    let src = tmp.path().join("src");
    std::fs::create_dir_all(&src).unwrap();
    let regions = ["a b/c", "x=y", "région-東京", "100%", "us-east-1"];
    let records: Vec<serde_json::Value> = regions
        .iter()
        .enumerate()
        .map(|(i, r)| {
            serde_json::json!({
                "eventVersion": "1.08", "eventTime": "2024-03-01T10:00:00Z",
                "eventSource": "s3.amazonaws.com", "eventName": "GetObject",
                "awsRegion": r, "eventID": format!("odd-{i}"),
            })
        })
        .collect();
    std::fs::write(
        src.join("odd.json"),
        serde_json::to_vec(&serde_json::json!({ "Records": records })).unwrap(),
    )
    .unwrap();
    let lake = tmp.path().join("lake");
    ingest_ok(&lake, &[&src], &[]);

    let mut want: Vec<String> = regions.iter().map(|r| r.to_string()).collect();
    want.sort();
    let ours = sql(
        &lake,
        "SELECT region FROM cloudtrail WHERE region = awsregion ORDER BY 1",
        "csv",
    );
    let ours: Vec<&str> = ours.lines().skip(1).map(|l| l.trim_matches('"')).collect();
    assert_eq!(ours, want, "region reads the original value");
    for r in regions {
        let q = format!(
            "SELECT eventid FROM cloudtrail WHERE region = '{}'",
            r.replace('\'', "''")
        );
        assert_eq!(
            sql(&lake, &q, "csv").lines().count(),
            2,
            "{q} finds its row"
        );
    }

    let script = r#"
import json, sys, duckdb
lake = sys.argv[1]
rel = f"read_parquet('{lake}/cloudtrail/date=*/region=*/*.parquet', hive_partitioning=true)"
con = duckdb.connect()
print(json.dumps({
  "regions": [r for (r,) in con.execute(f"select region from {rel} order by 1").fetchall()],
  "found": [con.execute(f"select count(*) from {rel} where region = ?", [r]).fetchone()[0]
            for r in sys.argv[2:]],
}))
"#;
    let out = Command::new("python3")
        .arg("-c")
        .arg(script)
        .arg(&lake)
        .args(regions)
        .output()
        .expect("python3 runs");
    assert!(
        out.status.success(),
        "duckdb failed: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    let v: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(v["regions"], serde_json::json!(want));
    assert_eq!(v["found"], serde_json::json!([1, 1, 1, 1, 1]));
}

/// The Python `deltalake` package (delta-rs, as pandas and polars users read Delta) reads
/// the tables as Delta tables: the rows trailsql shows, the partition values as written, and
/// not the file of a killed run that no version names.
#[test]
fn the_deltalake_package_reads_the_rows_trailsql_shows() {
    let tmp = tempfile::tempdir().unwrap();
    let src = tmp.path().join("src");
    crate::shapes::shapes_dir(&src);
    let lake = tmp.path().join("lake");
    ingest_ok(&lake, &[&src], &[]);
    let (file, _) = committed_files(&lake, trailsql_lake::schema::Table::CloudTrail)
        .into_iter()
        .next()
        .unwrap();
    std::fs::copy(&file, file.with_file_name("part-killed-000001.parquet")).unwrap();
    let script = r#"
import json, os, sys
from deltalake import DeltaTable
t = DeltaTable(sys.argv[1] + "/cloudtrail").to_pyarrow_table()
rows = sorted(zip(t.column("date").to_pylist(), t.column("region").to_pylist(),
                  [x or "" for x in t.column("eventid").to_pylist()]))
print(json.dumps([list(r) for r in rows]), flush=True)
# The reader's threads can abort the interpreter's teardown ("terminate called without an
# active exception", delta-rs issue 2184): the answer is out, skip the teardown.
os._exit(0)
"#;
    let out = std::process::Command::new("python3")
        .arg("-c")
        .arg(script)
        .arg(&lake)
        .output()
        .expect("python3 runs");
    assert!(
        out.status.success(),
        "deltalake failed (pip install deltalake): {}",
        String::from_utf8_lossy(&out.stderr)
    );
    let theirs: Vec<Vec<String>> = serde_json::from_slice(&out.stdout).unwrap();
    let ours = sql(
        &lake,
        "SELECT date, region, coalesce(eventid, '') FROM cloudtrail ORDER BY 1, 2, 3",
        "csv",
    );
    let ours: Vec<Vec<String>> = ours
        .lines()
        .skip(1)
        .map(|l| {
            l.split(',')
                .map(|c| c.trim_matches('"').to_owned())
                .collect()
        })
        .collect();
    assert!(!ours.is_empty());
    assert_eq!(theirs, ours);
}
