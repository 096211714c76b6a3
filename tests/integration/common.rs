//! Test helpers: running the real binary, reading the lake back with the parquet crate,
//! and finding the input record a row came from with a reader independent of ingest's.

use std::io::Read;
use std::path::{Path, PathBuf};
use std::process::{Command, Output};

use arrow::array::{AsArray, RecordBatch};
use arrow::datatypes::Int64Type;
use serde_json::Value;
use trailsql_lake::schema::Table;

pub fn bin() -> Command {
    Command::new(env!("CARGO_BIN_EXE_trailsql"))
}

pub fn fixtures() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../../tests/fixtures")
}

pub fn shared_samples() -> Option<PathBuf> {
    let p = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../../shared/data/cloudtrail-samples");
    p.is_dir().then_some(p)
}

pub fn gzip(data: &[u8]) -> Vec<u8> {
    use std::io::Write;
    let mut enc = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::default());
    enc.write_all(data).unwrap();
    enc.finish().unwrap()
}

/// Copy a fixture directory's files into `dst`.
pub fn copy_dir(src: &Path, dst: &Path) {
    std::fs::create_dir_all(dst).unwrap();
    for e in std::fs::read_dir(src).unwrap() {
        let e = e.unwrap();
        if e.file_type().unwrap().is_file() {
            std::fs::copy(e.path(), dst.join(e.file_name())).unwrap();
        }
    }
}

pub struct Run {
    pub output: Output,
}

impl Run {
    pub fn ok(&self) -> bool {
        self.output.status.success()
    }
    pub fn code(&self) -> i32 {
        self.output.status.code().unwrap_or(-1)
    }
    pub fn stdout(&self) -> String {
        String::from_utf8_lossy(&self.output.stdout).into_owned()
    }
    pub fn stderr(&self) -> String {
        String::from_utf8_lossy(&self.output.stderr).into_owned()
    }
    pub fn summary(&self) -> Value {
        serde_json::from_slice(&self.output.stdout).unwrap_or_else(|e| {
            panic!(
                "summary is JSON ({e}): {}\nstderr: {}",
                self.stdout(),
                self.stderr()
            )
        })
    }
}

/// Run a command with `input` on its standard input: (exit code, stdout, stderr).
pub fn run_with_stdin(mut cmd: Command, input: &str) -> (i32, String, String) {
    use std::io::Write;
    use std::process::Stdio;
    let mut child = cmd
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    child
        .stdin
        .take()
        .unwrap()
        .write_all(input.as_bytes())
        .unwrap();
    let out = child.wait_with_output().unwrap();
    (
        out.status.code().unwrap_or(-1),
        String::from_utf8_lossy(&out.stdout).into_owned(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

pub fn ingest(lake: &Path, sources: &[&Path], extra: &[&str]) -> Run {
    let mut cmd = bin();
    cmd.arg("--lake")
        .arg(lake)
        .arg("ingest")
        .arg("--json")
        .arg("--quiet");
    cmd.args(extra);
    for s in sources {
        cmd.arg(s);
    }
    Run {
        output: cmd.output().unwrap(),
    }
}

pub fn ingest_ok(lake: &Path, sources: &[&Path], extra: &[&str]) -> Value {
    let run = ingest(lake, sources, extra);
    assert!(
        run.ok(),
        "ingest failed: {}\n{}",
        run.stderr(),
        run.stdout()
    );
    let s = run.summary();
    assert_balanced(&s);
    s
}

pub fn u(v: &Value, key: &str) -> u64 {
    v[key].as_u64().unwrap_or_else(|| panic!("{key} in {v}"))
}

/// Every record and every object accounted for.
pub fn assert_balanced(s: &Value) {
    assert_eq!(
        u(s, "records"),
        u(s, "written")
            + u(s, "duplicates_in_run")
            + u(s, "duplicates_in_lake")
            + u(s, "quarantined")
            + u(s, "outside_window")
            + s["older_than_retention"].as_u64().unwrap_or(0),
        "records balance: {s:#}"
    );
    assert_eq!(
        u(s, "objects_listed"),
        u(s, "objects_read")
            + u(s, "objects_unchanged")
            + u(s, "objects_skipped")
            + u(s, "objects_outside_window"),
        "objects balance: {s:#}"
    );
}

pub fn sql(lake: &Path, query: &str, format: &str) -> String {
    let out = bin()
        .arg("--lake")
        .arg(lake)
        .args(["sql", "--format", format, "-c", query])
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "sql failed: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8(out.stdout).unwrap()
}

/// The values of `columns` (as text, `""` for null) of every row of the Delta table at
/// `table`, read by the Python `deltalake` package (delta-rs, as pandas and polars users
/// read Delta), sorted.
pub fn deltalake_rows(table: &Path, columns: &[&str]) -> Vec<Vec<String>> {
    let script = r#"
import json, os, sys
from deltalake import DeltaTable
t = DeltaTable(sys.argv[1]).to_pyarrow_table()
cols = [["" if v is None else str(v) for v in t.column(c).to_pylist()] for c in sys.argv[2:]]
print(json.dumps(sorted(list(r) for r in zip(*cols))), flush=True)
# The reader's threads can abort the interpreter's teardown (delta-rs issue 2184).
os._exit(0)
"#;
    let out = Command::new("python3")
        .arg("-c")
        .arg(script)
        .arg(table)
        .args(columns)
        .output()
        .expect("python3 runs");
    assert!(
        out.status.success(),
        "deltalake failed on {} (pip install deltalake): {}",
        table.display(),
        String::from_utf8_lossy(&out.stderr)
    );
    serde_json::from_slice(&out.stdout).unwrap()
}

/// The rows of a query as CSV fields (quotes trimmed), sorted.
pub fn sorted_rows(lake: &Path, query: &str) -> Vec<Vec<String>> {
    let mut rows: Vec<Vec<String>> = sql(lake, query, "csv")
        .lines()
        .skip(1)
        .map(|l| {
            l.split(',')
                .map(|c| c.trim_matches('"').to_owned())
                .collect()
        })
        .collect();
    rows.sort();
    rows
}

/// The single value of a one-row, one-column query.
pub fn scalar(lake: &Path, query: &str) -> String {
    let csv = sql(lake, query, "csv");
    let mut lines = csv.lines().skip(1);
    let v = lines.next().unwrap_or_default().to_owned();
    assert!(lines.next().is_none(), "one row expected: {csv}");
    v
}

/// A row of the lake, rebuilt into the JSON record it was made from.
#[derive(Debug, Clone)]
pub struct LakeRow {
    /// The partition directory the row is in (`TABLE/date=D/region=R`).
    pub partition: String,
    pub source: String,
    pub index: i64,
    pub record: Value,
}

pub fn parquet_files(dir: &Path) -> Vec<PathBuf> {
    let mut out = Vec::new();
    let mut stack = vec![dir.to_path_buf()];
    while let Some(d) = stack.pop() {
        let Ok(rd) = std::fs::read_dir(&d) else {
            continue;
        };
        for e in rd.flatten() {
            let p = e.path();
            if p.is_dir() {
                stack.push(p);
            } else if p.extension().is_some_and(|x| x == "parquet") {
                out.push(p);
            }
        }
    }
    out.sort();
    out
}

/// The data files the table's Delta log names at its latest version, with the version that
/// added each (read from the log's JSON commits, as any Delta reader would).
pub fn committed_files(lake: &Path, table: Table) -> Vec<(PathBuf, u64)> {
    let log = lake.join(table.name()).join("_delta_log");
    let Ok(rd) = std::fs::read_dir(&log) else {
        return Vec::new();
    };
    let mut commits: Vec<(u64, PathBuf)> = rd
        .flatten()
        .filter_map(|e| {
            let p = e.path();
            let v = p
                .file_name()?
                .to_str()?
                .strip_suffix(".json")?
                .parse()
                .ok()?;
            Some((v, p))
        })
        .collect();
    commits.sort();
    let mut live: std::collections::BTreeMap<String, u64> = Default::default();
    for (version, path) in commits {
        for line in std::fs::read_to_string(path).unwrap().lines() {
            let action: Value = serde_json::from_str(line).unwrap();
            let decoded =
                |v: &Value| trailsql_lake::partition::unescape(v["path"].as_str().unwrap());
            if let Some(add) = action.get("add") {
                live.insert(decoded(add), version);
            } else if let Some(remove) = action.get("remove") {
                live.remove(&decoded(remove));
            }
        }
    }
    live.into_iter()
        .map(|(p, v)| (lake.join(table.name()).join(p), v))
        .collect()
}

pub fn lake_batches(lake: &Path, table: Table) -> Vec<(PathBuf, RecordBatch)> {
    committed_files(lake, table)
        .into_iter()
        .map(|(f, _)| f)
        .flat_map(|f| {
            let data = bytes::Bytes::from(std::fs::read(&f).unwrap());
            trailsql_lake::file::read_file(data)
                .unwrap()
                .into_iter()
                .map(move |b| (f.clone(), b))
        })
        .collect()
}

pub fn lake_rows(lake: &Path) -> Vec<LakeRow> {
    let mut rows = Vec::new();
    for table in Table::ALL {
        for (file, batch) in lake_batches(lake, table) {
            let partition = file
                .parent()
                .and_then(|d| d.strip_prefix(lake).ok())
                .map(|d| d.to_string_lossy().into_owned())
                .unwrap_or_default();
            let src = batch
                .column_by_name("sourceobject")
                .unwrap()
                .as_string::<i32>()
                .clone();
            let idx = batch
                .column_by_name("sourceindex")
                .unwrap()
                .as_primitive::<Int64Type>()
                .clone();
            for r in 0..batch.num_rows() {
                rows.push(LakeRow {
                    partition: partition.clone(),
                    source: src.value(r).to_owned(),
                    index: idx.value(r),
                    record: trailsql_ingest::rows::rebuild(&batch, table, r),
                });
            }
        }
    }
    rows
}

/// The `index`-th record of a source file, read with serde_json alone.
pub fn input_record(uri: &str, index: i64) -> Value {
    thread_local! {
        static CACHE: std::cell::RefCell<std::collections::HashMap<String, Vec<Value>>> = Default::default();
    }
    CACHE.with(|c| {
        let mut c = c.borrow_mut();
        let records = c
            .entry(uri.to_owned())
            .or_insert_with(|| input_records(uri));
        records[index as usize].clone()
    })
}

/// Every record of a source file, by index.
fn input_records(uri: &str) -> Vec<Value> {
    let path = uri.strip_prefix("file://").unwrap();
    let raw = std::fs::read(path).unwrap();
    let data = if raw.starts_with(&[0x1f, 0x8b]) {
        let mut out = Vec::new();
        let _ = flate2::read::MultiGzDecoder::new(&raw[..]).read_to_end(&mut out);
        out
    } else {
        raw
    };
    let text = String::from_utf8_lossy(&data);
    let text = text.trim_start_matches('\u{feff}');
    match serde_json::from_str::<Value>(text) {
        Ok(Value::Object(mut o)) if o.contains_key("Records") => match o.remove("Records") {
            Some(Value::Array(a)) => a,
            _ => Vec::new(),
        },
        Ok(Value::Object(o)) if o.contains_key("Events") => o["Events"]
            .as_array()
            .unwrap()
            .iter()
            .map(|e| serde_json::from_str(e["CloudTrailEvent"].as_str().unwrap()).unwrap())
            .collect(),
        Ok(Value::Array(a)) => a,
        Ok(v) => vec![v],
        Err(_) => text
            .lines()
            .filter(|l| !l.trim().is_empty())
            .map(|l| serde_json::from_str(l).unwrap_or(Value::Null))
            .collect(),
    }
}

/// Tiny deterministic PRNG for test schedules.
pub struct Rng(pub u64);

impl Rng {
    pub fn next(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9E37_79B9_7F4A_7C15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        z ^ (z >> 31)
    }
}
