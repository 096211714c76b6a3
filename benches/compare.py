#!/usr/bin/env python3
"""trailsql against DuckDB, side by side, on one generated CloudTrail data set.

The main noun is the *run*: one data set made by trailsql-gen (default: 1M events over 30
days, 3 accounts, 4 regions), on which, in one invocation, this script measures

- ingest: `trailsql ingest` (wall time, peak RSS) against DuckDB converting the same files
  to hive-partitioned Parquet, and against the decompress floor (`gzip -dc` of the same
  files on all cores, and on one);
- queries: a fixed suite of typical CloudTrail questions, run by trailsql on its lake, by
  DuckDB on the same lake files, and by DuckDB on the raw .json.gz files; every answer is
  checked to be the same in all three;
- storage: the lake's bytes against the gzip input's (and DuckDB's Parquet output's);
- scale: trailsql ingest at --events and at --scale-events, wall and peak RSS;

prints a table of ratios next to issue 4's targets and writes every figure as JSON to
benches/results/<date>-<commit>.json. Usage: `python3 benches/compare.py --help`.

All timings are of whole processes (start-up included, the same way for every engine), with
the input in the page cache: each measurement is the median of --runs runs.
"""

from __future__ import annotations

import argparse
import csv
import gzip
import datetime as dt
import io
import json
import os
import platform
import re
import shutil
import statistics
import subprocess
import sys
import time
from pathlib import Path

import detect_bench  # noqa: E402 (benches/, next to this file)

REPO = Path(__file__).resolve().parent.parent
ACCOUNTS = 3
REGIONS = "us-east-1,eu-west-1,ap-southeast-2,us-west-2"
SEED = 1
# trailsql-gen's default first day; the one-day query picks a day inside the generated range.
START = dt.date(2024, 3, 1)
GIB = 1024**3

# Issue 4's targets, each a ratio measured in one run.
TARGETS = {
    "ingest_speedup_vs_duckdb": (">=", 2.0),
    "ingest_vs_floor": ("<=", 3.0),
    "query_median_ratio_vs_duckdb_parquet": ("<=", 1.0),
    "query_speedup_vs_duckdb_json": (">=", 30.0),
    "lake_vs_gzip": ("<=", 0.6),
    "peak_rss_at_scale_gib": ("<", 1.0),
    "peak_rss_scale_vs_base": ("<=", 1.2),
    # Issue 18: the console, time at the server (the API's own elapsed_ms), in ms.
    "console_history_one_day_ms": ("<", 300.0),
    "console_dashboard_30d_ms": ("<", 300.0),
    # Issue 15: ~800 Sigma rules in one detect run against one scan of the columns they read.
    "detect_vs_scan": ("<=", 3.0),
}

# ---------------------------------------------------------------------------------------------
# The query suite. Each question has trailsql's SQL (the Athena dialect its users write) and
# DuckDB's (run unchanged on the lake and on the raw JSON: both are presented to DuckDB as a
# view named `cloudtrail` with the lake's column names, see duckdb_views()). Placeholders in
# braces are filled from the data set (a principal and a bucket that occur in it, a day
# inside it). Every ORDER BY ... LIMIT is total, so the rows kept do not depend on the engine.
# ---------------------------------------------------------------------------------------------

QUERIES: list[dict[str, str]] = [
    {
        "name": "count",
        "question": "How many events are there?",
        "trailsql": "SELECT count(*) AS n FROM cloudtrail",
    },
    {
        "name": "events_by_name",
        "question": "Which API calls are made most?",
        "trailsql": "SELECT eventname, count(*) AS n FROM cloudtrail "
        "GROUP BY eventname ORDER BY n DESC, eventname LIMIT 20",
    },
    {
        "name": "errors_by_principal",
        "question": "Which principals get the most errors?",
        "trailsql": "SELECT useridentity.arn AS arn, count(*) AS errors FROM cloudtrail "
        "WHERE errorcode IS NOT NULL GROUP BY 1 ORDER BY errors DESC, arn NULLS LAST LIMIT 20",
    },
    {
        "name": "principal_activity",
        "question": "What did one principal do, and when?",
        "trailsql": "SELECT eventsource, eventname, count(*) AS n, min(eventtime) AS first_seen, "
        "max(eventtime) AS last_seen FROM cloudtrail WHERE useridentity.arn = '{arn}' "
        "GROUP BY 1, 2 ORDER BY n DESC, 1, 2",
    },
    {
        "name": "s3_buckets",
        "question": "Which S3 buckets are called most (JSON field of requestparameters)?",
        "trailsql": "SELECT json_extract_scalar(requestparameters, '$.bucketName') AS bucket, "
        "count(*) AS n FROM cloudtrail WHERE eventsource = 's3.amazonaws.com' "
        "GROUP BY 1 ORDER BY n DESC, bucket NULLS LAST LIMIT 20",
        "duckdb": "SELECT json_extract_string(requestparameters, '$.bucketName') AS bucket, "
        "count(*) AS n FROM cloudtrail WHERE eventsource = 's3.amazonaws.com' "
        "GROUP BY 1 ORDER BY n DESC, bucket NULLS LAST LIMIT 20",
    },
    {
        "name": "bucket_activity",
        "question": "Who did what to one bucket (filter on a JSON field)?",
        "trailsql": "SELECT eventname, useridentity.arn AS arn, count(*) AS n FROM cloudtrail "
        "WHERE json_extract_scalar(requestparameters, '$.bucketName') = '{bucket}' "
        "GROUP BY 1, 2 ORDER BY n DESC, 1, 2 NULLS LAST",
        "duckdb": "SELECT eventname, useridentity.arn AS arn, count(*) AS n FROM cloudtrail "
        "WHERE json_extract_string(requestparameters, '$.bucketName') = '{bucket}' "
        "GROUP BY 1, 2 ORDER BY n DESC, 1, 2 NULLS LAST",
    },
    {
        "name": "one_day",
        "question": "What happened on one day (a window on eventtime)?",
        "trailsql": "SELECT eventsource, count(*) AS n FROM cloudtrail "
        "WHERE eventtime >= '{day}T00:00:00Z' AND eventtime < '{next_day}T00:00:00Z' "
        "GROUP BY 1 ORDER BY n DESC, 1",
        "duckdb": "SELECT eventsource, count(*) AS n FROM cloudtrail "
        "WHERE eventtime >= TIMESTAMPTZ '{day} 00:00:00+00' "
        "AND eventtime < TIMESTAMPTZ '{next_day} 00:00:00+00' "
        "GROUP BY 1 ORDER BY n DESC, 1",
    },
    {
        "name": "top_source_ips",
        "question": "Which source IP addresses call most?",
        "trailsql": "SELECT sourceipaddress, count(*) AS n FROM cloudtrail "
        "GROUP BY 1 ORDER BY n DESC, 1 LIMIT 20",
    },
    {
        "name": "console_logins_without_mfa",
        "question": "Who logged in to the console without MFA?",
        "trailsql": "SELECT useridentity.arn AS arn, "
        "json_extract_scalar(responseelements, '$.ConsoleLogin') AS result, count(*) AS n "
        "FROM cloudtrail WHERE eventname = 'ConsoleLogin' "
        "AND coalesce(json_extract_scalar(additionaleventdata, '$.MFAUsed'), 'No') <> 'Yes' "
        "GROUP BY 1, 2 ORDER BY n DESC, 1, 2",
        "duckdb": "SELECT useridentity.arn AS arn, "
        "json_extract_string(responseelements, '$.ConsoleLogin') AS result, count(*) AS n "
        "FROM cloudtrail WHERE eventname = 'ConsoleLogin' "
        "AND coalesce(json_extract_string(additionaleventdata, '$.MFAUsed'), 'No') <> 'Yes' "
        "GROUP BY 1, 2 ORDER BY n DESC, 1, 2",
    },
    {
        "name": "resources_by_type",
        "question": "Which kinds of resources are touched (UNNEST of resources)?",
        "trailsql": "SELECT r.type AS type, count(*) AS n, count(DISTINCT r.arn) AS resources "
        "FROM cloudtrail CROSS JOIN UNNEST(resources) AS u (r) GROUP BY 1 ORDER BY n DESC, 1",
        "duckdb": "SELECT r.type AS type, count(*) AS n, count(DISTINCT r.arn) AS resources "
        "FROM (SELECT unnest(resources) AS r FROM cloudtrail) GROUP BY 1 ORDER BY n DESC, 1",
    },
    {
        "name": "error_rate_join",
        "question": "What is the error rate of the principals with most errors (a join)?",
        "trailsql": "WITH calls AS (SELECT useridentity.arn AS arn, count(*) AS n FROM cloudtrail "
        "GROUP BY 1), errors AS (SELECT useridentity.arn AS arn, count(*) AS n FROM cloudtrail "
        "WHERE errorcode IS NOT NULL GROUP BY 1) "
        "SELECT c.arn, c.n AS calls, e.n AS errors, round(e.n * 1.0 / c.n, 4) AS error_rate "
        "FROM calls c JOIN errors e ON c.arn = e.arn ORDER BY errors DESC, c.arn LIMIT 20",
    },
    {
        "name": "distinct_counts",
        "question": "How many distinct principals, source IPs and API calls?",
        "trailsql": "SELECT count(DISTINCT useridentity.arn) AS principals, "
        "count(DISTINCT sourceipaddress) AS ips, count(DISTINCT eventname) AS calls "
        "FROM cloudtrail",
    },
    {
        "name": "region_day",
        "question": "How many events per region and day (the partition columns)?",
        "trailsql": "SELECT region, date, count(*) AS n FROM cloudtrail "
        "GROUP BY 1, 2 ORDER BY 1, 2",
    },
    {
        "name": "access_denied_by_service",
        "question": "Which services deny access most?",
        "trailsql": "SELECT eventsource, errorcode, count(*) AS n FROM cloudtrail "
        "WHERE errorcode = 'AccessDenied' OR errorcode LIKE '%UnauthorizedOperation' "
        "GROUP BY 1, 2 ORDER BY n DESC, 1, 2",
    },
    {
        "name": "hourly",
        "question": "Events and errors per hour (time bucketing)?",
        "trailsql": "SELECT date_trunc('hour', eventtime) AS hour, count(*) AS n, "
        "count_if(errorcode IS NOT NULL) AS errors FROM cloudtrail GROUP BY 1 ORDER BY 1",
    },
]

# CloudTrail log files in the trail's layout: AWSLogs/ACCOUNT/CloudTrail/REGION/YYYY/MM/DD/.
# (Insights files are under CloudTrail-Insight/, digests under CloudTrail-Digest/.)
LOG_GLOB = "AWSLogs/*/CloudTrail/*/*/*/*/*.json.gz"


# The raw JSON as DuckDB reads it best: an explicit type for Records (auto-detection samples
# a few files and then rejects any record with a key it did not see), the free-form fields as
# JSON, and each event once (CloudTrail delivers some twice; the lake keeps one copy).
RAW_RECORD_TYPE = (
    "STRUCT(eventTime VARCHAR, eventSource VARCHAR, eventName VARCHAR, awsRegion VARCHAR, "
    "sourceIPAddress VARCHAR, userAgent VARCHAR, errorCode VARCHAR, errorMessage VARCHAR, "
    "eventID VARCHAR, userIdentity STRUCT(type VARCHAR, principalId VARCHAR, arn VARCHAR, "
    "accountId VARCHAR, userName VARCHAR, sessionContext STRUCT(sessionIssuer STRUCT("
    "arn VARCHAR, userName VARCHAR))), requestParameters JSON, responseElements JSON, "
    "additionalEventData JSON, resources STRUCT(ARN VARCHAR, accountId VARCHAR, type VARCHAR)[])[]"
)


def duckdb_views(lake: Path, src: Path) -> dict[str, str]:
    """The statements that define `cloudtrail` for DuckDB, on the lake and on the raw JSON."""
    tz = "SET TimeZone = 'UTC';"
    parquet = (
        f"{tz} CREATE VIEW cloudtrail AS SELECT * FROM read_parquet("
        f"'{lake}/cloudtrail/*/*/*.parquet', hive_partitioning = true);"
    )
    raw = (
        f"{tz} CREATE VIEW cloudtrail AS SELECT r.eventTime::TIMESTAMPTZ AS eventtime, "
        "r.eventSource AS eventsource, r.eventName AS eventname, r.awsRegion AS awsregion, "
        "r.sourceIPAddress AS sourceipaddress, r.userAgent AS useragent, "
        "r.errorCode AS errorcode, r.errorMessage AS errormessage, r.eventID AS eventid, "
        "r.userIdentity AS useridentity, r.requestParameters AS requestparameters, "
        "r.responseElements AS responseelements, "
        "r.additionalEventData AS additionaleventdata, r.resources AS resources, "
        "CAST(r.eventTime::TIMESTAMPTZ AS DATE) AS date, r.awsRegion AS region "
        f"FROM (SELECT unnest(Records) AS r FROM read_json('{src}/{LOG_GLOB}', "
        f"maximum_object_size = {1 << 30}, columns = {{Records: '{RAW_RECORD_TYPE}'}})) "
        "QUALIFY row_number() OVER (PARTITION BY eventid) = 1;"
    )
    return {"duckdb_parquet": parquet, "duckdb_json": raw}


def duckdb_convert_sql(src: Path, out: Path) -> str:
    """DuckDB's conversion of the log files to hive-partitioned Parquet, partitioned as the lake
    is (UTC day of eventTime, awsRegion). union_by_name infers each file's schema, so a record
    with a key the sampled files lacked is read instead of failing the statement (DuckDB's own
    advice when that happens, and it does on CloudTrail)."""
    return (
        "SET TimeZone = 'UTC'; COPY (SELECT unnest(r), CAST(r.eventTime AS DATE) AS date, "
        "r.awsRegion AS region FROM (SELECT unnest(Records) AS r FROM read_json("
        f"'{src}/{LOG_GLOB}', maximum_object_size = {1 << 30}, union_by_name = true))) "
        f"TO '{out}' (FORMAT parquet, PARTITION_BY (date, region))"
    )


# ---------------------------------------------------------------------------------------------
# Processes
# ---------------------------------------------------------------------------------------------


class Failed(Exception):
    """A command the harness depends on failed."""


def run_measured(cmd: list[str], *, shell: bool = False) -> dict:
    """Run a command under /usr/bin/time -v; its wall time (measured here, to the
    microsecond), peak RSS (of the largest process in the tree, as GNU time reports it: for a
    pipeline this is one of its processes), CPU time and output."""
    timed = ["/usr/bin/time", "-v"] + (["sh", "-c", cmd[0]] if shell else cmd)
    t0 = time.perf_counter()
    p = subprocess.run(timed, capture_output=True, text=True)
    wall = time.perf_counter() - t0
    stats = parse_gnu_time(p.stderr)
    if p.returncode != 0:
        tail = "\n".join(p.stderr.splitlines()[-25:])
        raise Failed(f"command failed ({p.returncode}): {' '.join(cmd)[:300]}\n{tail}")
    return {
        "wall_s": wall,
        "max_rss_bytes": int(stats.get("Maximum resident set size (kbytes)", 0)) * 1024,
        "cpu_s": stats.get("User time (seconds)", 0) + stats.get("System time (seconds)", 0),
        "stdout": p.stdout,
    }


def parse_gnu_time(stderr: str) -> dict[str, float]:
    out = {}
    for line in stderr.splitlines():
        m = re.match(r"\s+([A-Z][^:]*(?:\([^)]*\))?): ([0-9.]+)$", line)
        if m:
            out[m.group(1)] = float(m.group(2))
    return out


def median_of(samples: list[dict], key: str) -> float:
    return statistics.median(s[key] for s in samples)


def summarise(samples: list[dict]) -> dict:
    return {
        "runs": len(samples),
        "wall_s": [round(s["wall_s"], 4) for s in samples],
        "wall_s_median": round(median_of(samples, "wall_s"), 4),
        "max_rss_bytes": [s["max_rss_bytes"] for s in samples],
        "max_rss_bytes_median": int(median_of(samples, "max_rss_bytes")),
        "cpu_s_median": round(median_of(samples, "cpu_s"), 3),
    }


def tool_output(cmd: list[str]) -> str:
    try:
        return subprocess.run(cmd, capture_output=True, text=True, check=True).stdout.strip()
    except (OSError, subprocess.CalledProcessError):
        return "unknown"


# ---------------------------------------------------------------------------------------------
# Set-up: binaries, DuckDB, data sets
# ---------------------------------------------------------------------------------------------


def target_dir() -> Path:
    meta = subprocess.run(
        ["cargo", "metadata", "--format-version", "1", "--no-deps"],
        cwd=REPO, capture_output=True, text=True, check=True,
    )
    return Path(json.loads(meta.stdout)["target_directory"])


def build(no_build: bool, bin_dir: Path | None) -> tuple[Path, Path]:
    release = bin_dir or target_dir() / "release"
    if not no_build and not bin_dir:
        log("building the release binaries (cargo build --release -p trailsql -p trailsql-gen)")
        subprocess.run(
            ["cargo", "build", "--release", "-q", "-p", "trailsql", "-p", "trailsql-gen"],
            cwd=REPO, check=True,
        )
    bins = release / "trailsql", release / "trailsql-gen"
    for b in bins:
        if not b.is_file():
            sys.exit(f"compare.py: {b} is missing: run without --no-build")
    return bins


def find_duckdb(explicit: str | None) -> str:
    """The native DuckDB CLI. The `duckdb` command pip installs is a Python wrapper that starts
    the binary shipped in the duckdb_cli package: run the binary itself, so DuckDB's start-up
    is not charged a Python interpreter's."""
    if explicit:
        return explicit

    def packaged() -> str | None:
        probe = subprocess.run(
            [sys.executable, "-c",
             "import duckdb_cli, os; print(os.path.dirname(duckdb_cli.__file__))"],
            capture_output=True, text=True,
        )
        if probe.returncode != 0:
            return None
        b = Path(probe.stdout.strip()) / "duckdb"
        return str(b) if b.is_file() else None

    found = packaged()
    if not found:
        log("installing the DuckDB CLI from PyPI (pip install duckdb-cli)")
        subprocess.run(
            [sys.executable, "-m", "pip", "install", "--quiet", "--disable-pip-version-check",
             "duckdb-cli"],
            check=True,
        )
        found = packaged() or shutil.which("duckdb")
    if not found:
        sys.exit("compare.py: no DuckDB CLI (pip install duckdb-cli, or pass --duckdb PATH)")
    return found


def dataset(gen: Path, data_dir: Path, events: int, days: int) -> tuple[Path, dict]:
    """The generated data set for these parameters, made once and reused (its summary in
    gen.json marks it complete)."""
    home = data_dir / f"events-{events}-days-{days}-accounts-{ACCOUNTS}-seed-{SEED}"
    src, marker = home / "src", home / "gen.json"
    if marker.is_file():
        return home, json.loads(marker.read_text())
    log(f"generating {events:,} events over {days} days into {src}")
    shutil.rmtree(home, ignore_errors=True)
    home.mkdir(parents=True)
    m = run_measured([
        str(gen), "--events", str(events), "--days", str(days), "--accounts", str(ACCOUNTS),
        "--regions", REGIONS, "--seed", str(SEED), "--out", str(src),
    ])
    summary = json.loads(m["stdout"])
    summary["generate_wall_s"] = round(m["wall_s"], 3)
    summary["generate_max_rss_bytes"] = m["max_rss_bytes"]
    marker.write_text(json.dumps(summary, indent=2) + "\n")
    return home, summary


def input_bytes(src: Path) -> dict:
    """Gzip bytes of the log files (CloudTrail and Insights: what becomes the lake's tables),
    and of everything trailsql reads (digests too)."""
    logs = total = files = 0
    for path in src.rglob("*.gz"):
        size = path.stat().st_size
        total += size
        files += 1
        if "/CloudTrail-Digest/" not in str(path):
            logs += size
    return {"gz_files": files, "gz_bytes_all": total, "gz_bytes_logs": logs}


def tree_bytes(root: Path) -> tuple[int, int]:
    files = [p for p in root.rglob("*") if p.is_file()] if root.exists() else []
    return sum(p.stat().st_size for p in files), len(files)


# ---------------------------------------------------------------------------------------------
# Measurements
# ---------------------------------------------------------------------------------------------


def trailsql_ingest(trailsql: Path, lake: Path, src: Path) -> dict:
    shutil.rmtree(lake, ignore_errors=True)
    m = run_measured([str(trailsql), "--lake", str(lake), "ingest", "--quiet", "--json", str(src)])
    m["summary"] = json.loads(m.pop("stdout"))
    return m


def measure_ingest(trailsql: Path, duckdb: str, home: Path, runs: int) -> dict:
    src, lake, dd_out = home / "src", home / "lake", home / "duckdb-parquet"
    gz_list = f"find '{src}' -name '*.gz' -print0"
    floor_parallel = (
        f"{gz_list} | xargs -0 -n 1000 -P {os.cpu_count()} "
        "sh -c 'cat \"$@\" | gzip -dc >/dev/null' _"
    )
    floor_single = f"{gz_list} | xargs -0 cat | gzip -dc >/dev/null"
    # One pass to load the page cache: every measurement below reads from memory.
    subprocess.run(["sh", "-c", floor_parallel], check=True)
    contenders = ("trailsql", "duckdb", "floor", "floor_1_core")
    samples: dict[str, list[dict]] = {k: [] for k in contenders}
    for i in range(runs):
        # Interleaved, so a slow patch of the machine hits every contender alike.
        log(f"ingest run {i + 1}/{runs}")
        samples["trailsql"].append(trailsql_ingest(trailsql, lake, src))
        shutil.rmtree(dd_out, ignore_errors=True)
        samples["duckdb"].append(run_measured([duckdb, "-c", duckdb_convert_sql(src, dd_out)]))
        samples["floor"].append(run_measured([floor_parallel], shell=True))
        samples["floor_1_core"].append(run_measured([floor_single], shell=True))
    out = {k: summarise(v) for k, v in samples.items()}
    out["trailsql"]["summary"] = samples["trailsql"][-1]["summary"]
    # DuckDB reads the lake's Parquet files by a glob, not through the Delta log: a file
    # that compaction replaced would be counted twice. Vacuum (untimed) leaves only the
    # files of the current version in the folders.
    subprocess.run([str(trailsql), "--lake", str(lake), "lake", "vacuum", "--older-than", "0d"],
                   check=True, capture_output=True)
    out["commands"] = {
        "trailsql": f"/usr/bin/time -v {trailsql} --lake LAKE ingest --quiet --json {src}",
        "duckdb": f"{duckdb} -c \"{duckdb_convert_sql(src, dd_out)}\"",
        "floor": floor_parallel,
        "floor_1_core": floor_single,
    }
    return out


def pick_parameters(trailsql: Path, lake: Path, days: int) -> dict[str, str]:
    """Values the suite filters on, taken from the data so every data set has them: the IAM
    user with most events, the bucket with most S3 calls, the middle day."""
    def one(sql: str) -> str:
        p = subprocess.run(
            [str(trailsql), "--lake", str(lake), "sql", "--format", "csv", "-c", sql],
            capture_output=True, text=True, check=True,
        )
        rows = list(csv.reader(io.StringIO(p.stdout)))
        if len(rows) < 2:
            raise Failed(f"no value for a query parameter: {sql}")
        return rows[1][0]

    day = START + dt.timedelta(days=days // 2)
    return {
        "arn": one("SELECT useridentity.arn FROM cloudtrail WHERE useridentity.type = 'IAMUser' "
                   "GROUP BY 1 ORDER BY count(*) DESC, 1 LIMIT 1"),
        "bucket": one("SELECT json_extract_scalar(requestparameters, '$.bucketName') AS b "
                      "FROM cloudtrail WHERE eventsource = 's3.amazonaws.com' AND "
                      "json_extract_scalar(requestparameters, '$.bucketName') IS NOT NULL "
                      "GROUP BY 1 ORDER BY count(*) DESC, 1 LIMIT 1"),
        "day": day.isoformat(),
        "next_day": (day + dt.timedelta(days=1)).isoformat(),
    }


TIMESTAMP = re.compile(r"^(\d{4}-\d{2}-\d{2})[T ](\d{2}:\d{2}:\d{2})(\.\d+)?(Z|[+-]00(:?00)?)?$")
NUMBER = re.compile(r"^-?(\d+\.?\d*|\.\d+)([eE][-+]?\d+)?$")


def normalise_cell(v: str) -> str:
    """One spelling per value: timestamps as `YYYY-MM-DD HH:MM:SS[.frac]` in UTC (engines
    write `T`/space, `Z`/`+00`), numbers rounded to 6 significant digits (integral ones as
    integers), booleans in lower case."""
    m = TIMESTAMP.match(v)
    if m:
        frac = (m.group(3) or "").rstrip("0").rstrip(".")
        return f"{m.group(1)} {m.group(2)}{frac}"
    if NUMBER.match(v):
        f = float(v)
        return str(int(f)) if f.is_integer() and abs(f) < 1e15 else f"{f:.6g}"
    if v in ("true", "false", "TRUE", "FALSE", "True", "False"):
        return v.lower()
    return v


def normalise(csv_text: str) -> list[tuple[str, ...]]:
    """Rows of a CSV result without its header (column names differ by engine), each cell
    normalised, sorted."""
    rows = list(csv.reader(io.StringIO(csv_text)))[1:]
    return sorted(tuple(normalise_cell(c) for c in r) for r in rows)


def describe_mismatch(name: str, a: str, ra: list, b: str, rb: list) -> str:
    lines = [f"MISMATCH in query {name}: {a} gave {len(ra)} rows, {b} gave {len(rb)}"]
    only_a = [r for r in ra if r not in set(rb)][:5]
    only_b = [r for r in rb if r not in set(ra)][:5]
    lines += [f"  only in {a}: {r}" for r in only_a]
    lines += [f"  only in {b}: {r}" for r in only_b]
    return "\n".join(lines)


def measure_queries(trailsql: Path, duckdb: str, home: Path, runs: int, raw_runs: int,
                    params: dict[str, str]) -> tuple[list[dict], list[str]]:
    views = duckdb_views(home / "lake", home / "src")
    lake = home / "lake"

    def command(engine: str, q: dict) -> list[str]:
        if engine == "trailsql":
            sql = q["trailsql"].format(**params)
            return [str(trailsql), "--lake", str(lake), "sql", "--format", "csv", "-c", sql]
        sql = q.get("duckdb", q["trailsql"]).format(**params)
        return [duckdb, "-csv", "-nullvalue", "", "-c", f"{views[engine]} {sql}"]

    results, mismatches = [], []
    for q in QUERIES:
        log(f"query {q['name']}")
        entry = {"name": q["name"], "question": q["question"],
                 "sql": {"trailsql": q["trailsql"].format(**params),
                         "duckdb": q.get("duckdb", q["trailsql"]).format(**params)}}
        answers, times = {}, {}
        # The first run of each engine is the warm-up; it gives the answer that is checked.
        # The two engines on the lake are timed before DuckDB's raw-JSON runs, which load both
        # cores for seconds (the engine timed first after one paid 20 to 50 ms for it), and
        # they take turns at going first.
        for engine in ("trailsql", "duckdb_parquet"):
            answers[engine] = normalise(run_measured(command(engine, q))["stdout"])
            times[engine] = []
        for r in range(runs):
            order = ("trailsql", "duckdb_parquet") if r % 2 == 0 else ("duckdb_parquet", "trailsql")
            for engine in order:
                times[engine].append(run_measured(command(engine, q))["wall_s"])
        first = run_measured(command("duckdb_json", q))
        answers["duckdb_json"] = normalise(first["stdout"])
        times["duckdb_json"] = []
        # DuckDB on the raw JSON reads and parses every file for every query, seconds a run, and
        # its input is in the page cache already (ingest read it): with --raw-runs 1 its
        # checked run is its timed run.
        if raw_runs == 1:
            times["duckdb_json"].append(first["wall_s"])
        else:
            for _ in range(raw_runs):
                times["duckdb_json"].append(run_measured(command("duckdb_json", q))["wall_s"])
        entry["rows"] = len(answers["trailsql"])
        entry["same_answer"] = True
        for other in ("duckdb_parquet", "duckdb_json"):
            if answers[other] != answers["trailsql"]:
                entry["same_answer"] = False
                msg = describe_mismatch(q["name"], "trailsql", answers["trailsql"], other,
                                        answers[other])
                mismatches.append(msg)
                print("\n" + "!" * 80 + "\n" + msg + "\n" + "!" * 80, file=sys.stderr)
        entry["wall_s"] = {e: [round(t, 4) for t in ts] for e, ts in times.items()}
        entry["wall_s_median"] = {e: round(statistics.median(ts), 4) for e, ts in times.items()}
        results.append(entry)
    return results, mismatches


def measure_scale(trailsql: Path, home: Path, runs: int) -> dict:
    samples = []
    for i in range(runs):
        log(f"scale ingest run {i + 1}/{runs} ({home.name})")
        samples.append(trailsql_ingest(trailsql, home / "lake", home / "src"))
    out = summarise(samples)
    out.update(volume(samples[-1]["summary"]))
    return out


def volume(summary: dict) -> dict:
    """What an ingest read, from its summary: time per unit of each is compared across scales
    (a bigger trail has more records per file, so per-record and per-file costs differ)."""
    return {k: summary[k] for k in ("records", "json_bytes", "objects_read")}


def measure_console(trailsql: Path, lake: Path, runs: int, params: dict[str, str],
                    days: int) -> dict:
    """`trailsql serve` on the lake: Event history with a one-day window and a filter (a
    page of 100 newest events, and the count beside it, as the page asks for both), and the
    dashboard of the whole 30-day window, each the median of `runs` requests after one
    untimed request. The figure is the server's own `elapsed_ms` (planning, scanning and
    JSON), and the wall time of the request from here beside it. The first request's time is
    kept too: the dashboard remembers the counts of whole days it has seen, so its first
    look at a window costs the scan its later looks do not."""
    import urllib.parse
    import urllib.request

    proc = subprocess.Popen([str(trailsql), "--lake", str(lake), "serve", "--listen",
                             "127.0.0.1:0"], stdout=subprocess.PIPE, text=True)
    try:
        url = ""
        for line in proc.stdout:
            if line.strip().startswith("http://"):
                url = line.strip().rstrip("/")
                break
        if not url:
            raise Failed("trailsql serve printed no URL")

        def timed(path: str, query: dict[str, str]) -> dict:
            samples = []
            first = None
            for i in range(runs + 1):
                start = time.perf_counter()
                with urllib.request.urlopen(f"{url}{path}?{urllib.parse.urlencode(query)}",
                                            timeout=600) as r:
                    body = json.load(r)
                wall = (time.perf_counter() - start) * 1e3
                if i:
                    samples.append((body["elapsed_ms"], wall))
                else:
                    first = body["elapsed_ms"]
            return {"server_ms_median": statistics.median(s for s, _ in samples),
                    "first_server_ms": first,
                    "wall_ms_median": statistics.median(w for _, w in samples),
                    "server_ms": [s for s, _ in samples]}

        day = {"since": params["day"], "until": params["next_day"], "principal": params["arn"]}
        page = timed("/api/events", {**day, "limit": "100"})
        count = timed("/api/events/count", day)
        end = (START + dt.timedelta(days=days)).isoformat()
        dashboard = timed("/api/dashboard", {"since": START.isoformat(), "until": end})
        log(f"console: history page {page['server_ms_median']:.0f} ms, count "
            f"{count['server_ms_median']:.0f} ms, dashboard {dashboard['server_ms_median']:.0f} ms "
            f"(first look {dashboard['first_server_ms']:.0f} ms)")
        return {"history_page": page, "history_count": count, "dashboard_30d": dashboard,
                "filter": day}
    finally:
        proc.terminate()
        proc.wait(30)


# ---------------------------------------------------------------------------------------------
# Report
# ---------------------------------------------------------------------------------------------


def ratios(res: dict) -> dict:
    ing = res["ingest"]
    t, d, f = (ing[k]["wall_s_median"] for k in ("trailsql", "duckdb", "floor"))
    q = res["queries"]
    per_query_parquet = [e["wall_s_median"]["trailsql"] / e["wall_s_median"]["duckdb_parquet"]
                         for e in q]
    per_query_json = [e["wall_s_median"]["duckdb_json"] / e["wall_s_median"]["trailsql"]
                      for e in q]
    out = {
        "ingest_speedup_vs_duckdb": d / t,
        "ingest_vs_floor": t / f,
        "ingest_vs_floor_1_core": t / ing["floor_1_core"]["wall_s_median"],
        "query_median_ratio_vs_duckdb_parquet": statistics.median(per_query_parquet),
        "query_speedup_vs_duckdb_json": statistics.median(per_query_json),
        "lake_vs_gzip": res["storage"]["lake_bytes"] / res["storage"]["gz_bytes_logs"],
        "duckdb_parquet_vs_gzip": res["storage"]["duckdb_parquet_bytes"]
        / res["storage"]["gz_bytes_logs"],
    }
    console = res.get("console")
    if console:
        # The page asks for a page and its count at once: the slower of the two is the answer.
        out["console_history_one_day_ms"] = max(console["history_page"]["server_ms_median"],
                                                console["history_count"]["server_ms_median"])
        out["console_dashboard_30d_ms"] = console["dashboard_30d"]["server_ms_median"]
    if "detect" in res:
        out["detect_vs_scan"] = res["detect"]["detect_vs_scan"]
    scale = res.get("scale")
    if scale:
        base, big = scale["base"], scale["scale"]
        out["peak_rss_base_gib"] = max(base["max_rss_bytes"]) / GIB
        out["peak_rss_at_scale_gib"] = max(big["max_rss_bytes"]) / GIB
        out["peak_rss_scale_vs_base"] = max(big["max_rss_bytes"]) / max(base["max_rss_bytes"])
        # 1.0 when time grows exactly as the number of records (bytes of JSON) does.
        for unit, key in (("record", "records"), ("json_byte", "json_bytes")):
            out[f"time_per_{unit}_scale_vs_base"] = (
                (big["wall_s_median"] / big[key]) / (base["wall_s_median"] / base[key]))
    return {k: round(v, 4) for k, v in out.items()}


def met(key: str, value: float) -> str:
    if key not in TARGETS:
        return ""
    op, limit = TARGETS[key]
    ok = {">=": value >= limit, "<=": value <= limit, "<": value < limit}[op]
    return "yes" if ok else "NO"


def print_report(res: dict) -> None:
    r = res["ratios"]
    ing = res["ingest"]
    mib = 1024 * 1024
    wall = {k: ing[k]["wall_s_median"] for k in ("trailsql", "duckdb", "floor", "floor_1_core")}
    store = res["storage"]
    rows = [
        ("ingest: DuckDB time / trailsql time", "ingest_speedup_vs_duckdb",
         f"{wall['duckdb']:.2f} s / {wall['trailsql']:.2f} s"),
        ("ingest: trailsql time / decompress floor (all cores)", "ingest_vs_floor",
         f"{wall['trailsql']:.2f} s / {wall['floor']:.2f} s"),
        ("ingest: trailsql time / decompress floor (1 core)", "ingest_vs_floor_1_core",
         f"{wall['trailsql']:.2f} s / {wall['floor_1_core']:.2f} s"),
        ("queries: median of trailsql / DuckDB on the lake", "query_median_ratio_vs_duckdb_parquet",
         f"{len(res['queries'])} queries"),
        ("queries: median of DuckDB on raw JSON / trailsql", "query_speedup_vs_duckdb_json",
         f"{len(res['queries'])} queries"),
        ("storage: lake / gzip input", "lake_vs_gzip",
         f"{store['lake_bytes'] / mib:.1f} MiB / {store['gz_bytes_logs'] / mib:.1f} MiB"),
        ("storage: DuckDB's Parquet / gzip input", "duckdb_parquet_vs_gzip",
         f"{store['duckdb_parquet_bytes'] / mib:.1f} MiB"),
    ]
    if "console" in res:
        c = res["console"]
        rows += [
            ("console: Event history, one day and a filter (ms)", "console_history_one_day_ms",
             f"page {c['history_page']['server_ms_median']:.0f} ms, count "
             f"{c['history_count']['server_ms_median']:.0f} ms at the server"),
            ("console: dashboard of 30 days (ms)", "console_dashboard_30d_ms",
             f"wall {c['dashboard_30d']['wall_ms_median']:.0f} ms, first look {c['dashboard_30d'].get('first_server_ms') or 0:.0f} ms"),
        ]
    if "scale" in res:
        s = res["scale"]
        duckdb_rss = max(ing["duckdb"]["max_rss_bytes"]) / GIB
        json_gib = s["scale"]["json_bytes"] / GIB, s["base"]["json_bytes"] / GIB
        rows += [
            ("memory: trailsql peak RSS at base (GiB)", "peak_rss_base_gib",
             f"{s['base']['records']:,} records (DuckDB converting them: {duckdb_rss:.2f} GiB)"),
            ("memory: trailsql peak RSS at scale (GiB)", "peak_rss_at_scale_gib",
             f"{s['scale']['records']:,} records"),
            ("memory: peak RSS at scale / at base", "peak_rss_scale_vs_base", ""),
            ("ingest time per record at scale / at base", "time_per_record_scale_vs_base",
             f"{s['scale']['wall_s_median']:.2f} s / {s['base']['wall_s_median']:.2f} s"),
            ("ingest time per byte of JSON at scale / at base", "time_per_json_byte_scale_vs_base",
             f"{json_gib[0]:.2f} GiB / {json_gib[1]:.2f} GiB of JSON"),
        ]
    print()
    print(f"{'measure':<54} {'ratio':>8}  {'target':<8} {'met':<4} figures")
    for label, key, figures in rows:
        target = " ".join(str(x) for x in TARGETS[key]) if key in TARGETS else ""
        print(f"{label:<54} {r[key]:>8.3f}  {target:<8} {met(key, r[key]):<4} {figures}")
    print()
    print(f"{'query':<28} {'trailsql':>9} {'duckdb pq':>10} {'duckdb json':>12} {'t/dpq':>7} "
          f"{'dj/t':>7} rows same")
    for q in res["queries"]:
        m = q["wall_s_median"]
        print(f"{q['name']:<28} {m['trailsql']:>8.3f}s {m['duckdb_parquet']:>9.3f}s "
              f"{m['duckdb_json']:>11.3f}s {m['trailsql'] / m['duckdb_parquet']:>7.2f} "
              f"{m['duckdb_json'] / m['trailsql']:>7.1f} {q['rows']:>4} "
              f"{'yes' if q['same_answer'] else 'NO'}")


def markdown(res: dict) -> str:
    """The results as the Markdown tables of benches/README.md (and the top-level README's
    Performance section), so the figures there are pasted from a run, not typed."""
    r, ing, store = res["ratios"], res["ingest"], res["storage"]
    mib = 1024 * 1024
    d = res["dataset"]
    m = res["machine"]
    out = [
        f"Run of {res['date'][:10]} at commit {res['commit'][:7]}"
        f"{' (uncommitted changes)' if res['dirty'] else ''}: {m['cores']} cores ({m['cpu']}), "
        f"{m['memory_bytes'] / GIB:.0f} GiB, {res['versions']['duckdb'].split(' (')[0]} "
        f"(DuckDB), {res['versions']['rustc']}; load average before and after "
        f"{res['load_average_before'][0]:.2f} and {res['load_average_after'][0]:.2f}. "
        f"Data set: {res['parameters']['events']:,} events over {res['parameters']['days']} days "
        f"({d['files']:,} log files, {store['gz_bytes_logs'] / mib:.1f} MiB of gzip, "
        f"{ing['trailsql']['summary']['json_bytes'] / GIB:.2f} GiB of JSON, "
        f"{ing['trailsql']['summary']['records']:,} records); medians of "
        f"{res['parameters']['runs']} runs.",
        "",
        "| measure | figures | ratio | target | met |",
        "|---|---|---|---|---|",
    ]

    def row(label: str, figures: str, key: str) -> None:
        target = " ".join(str(x) for x in TARGETS[key]) if key in TARGETS else ""
        out.append(f"| {label} | {figures} | {r[key]:.2f} | {target} | {met(key, r[key])} |")

    w = {k: ing[k]["wall_s_median"] for k in ("trailsql", "duckdb", "floor", "floor_1_core")}
    row("ingest: DuckDB's conversion / trailsql",
        f"{w['duckdb']:.2f} s / {w['trailsql']:.2f} s", "ingest_speedup_vs_duckdb")
    row("ingest: trailsql / decompress floor, all cores",
        f"{w['trailsql']:.2f} s / {w['floor']:.2f} s", "ingest_vs_floor")
    row("ingest: trailsql / decompress floor, one core",
        f"{w['trailsql']:.2f} s / {w['floor_1_core']:.2f} s", "ingest_vs_floor_1_core")
    n = len(res["queries"])
    row("queries: median over the suite of trailsql / DuckDB on the lake", f"{n} queries",
        "query_median_ratio_vs_duckdb_parquet")
    row("queries: median over the suite of DuckDB on raw JSON / trailsql", f"{n} queries",
        "query_speedup_vs_duckdb_json")
    row("storage: lake / gzip input",
        f"{store['lake_bytes'] / mib:.1f} MiB / {store['gz_bytes_logs'] / mib:.1f} MiB",
        "lake_vs_gzip")
    row("storage: DuckDB's Parquet / gzip input",
        f"{store['duckdb_parquet_bytes'] / mib:.1f} MiB", "duckdb_parquet_vs_gzip")
    if "console" in res:
        c = res["console"]
        row("console: Event history, one day and a filter, ms at the server",
            f"page {c['history_page']['server_ms_median']:.0f} ms, count "
            f"{c['history_count']['server_ms_median']:.0f} ms", "console_history_one_day_ms")
        row("console: dashboard of 30 days, ms at the server",
            f"wall {c['dashboard_30d']['wall_ms_median']:.0f} ms, first look {c['dashboard_30d'].get('first_server_ms') or 0:.0f} ms", "console_dashboard_30d_ms")
    if "scale" in res:
        s = res["scale"]
        row("ingest peak RSS, GiB",
            f"{s['base']['records']:,} records (DuckDB: "
            f"{max(ing['duckdb']['max_rss_bytes']) / GIB:.2f} GiB)", "peak_rss_base_gib")
        row("ingest peak RSS at scale, GiB", f"{s['scale']['records']:,} records",
            "peak_rss_at_scale_gib")
        row("ingest peak RSS, scale / base", "", "peak_rss_scale_vs_base")
        row("ingest time per record, scale / base",
            f"{s['scale']['wall_s_median']:.2f} s / {s['base']['wall_s_median']:.2f} s",
            "time_per_record_scale_vs_base")
        row("ingest time per byte of JSON, scale / base",
            f"{s['scale']['json_bytes'] / GIB:.2f} GiB / {s['base']['json_bytes'] / GIB:.2f} GiB",
            "time_per_json_byte_scale_vs_base")
    out += ["", "| query | trailsql | DuckDB, lake | DuckDB, raw JSON | trailsql / DuckDB lake "
            "| DuckDB JSON / trailsql | rows |", "|---|---|---|---|---|---|---|"]
    for q in res["queries"]:
        t = q["wall_s_median"]
        out.append(f"| {q['name']} | {t['trailsql']:.3f} s | {t['duckdb_parquet']:.3f} s | "
                   f"{t['duckdb_json']:.2f} s | {t['trailsql'] / t['duckdb_parquet']:.2f} | "
                   f"{t['duckdb_json'] / t['trailsql']:.1f} | {q['rows']} |")
    return "\n".join(out) + "\n"


def machine() -> dict:
    cpu, mem = "unknown", 0
    try:
        cpu = next(line.split(":", 1)[1].strip()
                   for line in Path("/proc/cpuinfo").read_text().splitlines()
                   if line.startswith("model name"))
        mem = next(int(line.split()[1]) * 1024
                   for line in Path("/proc/meminfo").read_text().splitlines()
                   if line.startswith("MemTotal:"))
    except (OSError, StopIteration):
        pass
    return {"cpu": cpu, "cores": os.cpu_count(), "memory_bytes": mem, "os": platform.platform()}


def git(*args: str) -> str:
    return tool_output(["git", "-C", str(REPO), *args])


def log(msg: str) -> None:
    print(f"[{time.strftime('%H:%M:%S')}] {msg}", file=sys.stderr, flush=True)


def sigma_rules() -> Path | None:
    """SigmaHQ's CloudTrail rules in ../shared/data, when present (read there, never copied)."""
    for a in REPO.parents:
        p = a / "shared/data/sigma-cloudtrail/rules/cloud/aws/cloudtrail"
        if p.is_dir():
            return p
    return None

# ---------------------------------------------------------------------------------------------
# One huge object and one gzip bomb (--big-objects): peak memory of one object
# ---------------------------------------------------------------------------------------------

BIG_RECORDS = 600_000
BOMB_BYTES = 2 << 30


def big_inputs(data_dir: Path) -> tuple[Path, Path]:
    """A ~550 MB `{"Records":[...]}` file of 600,000 records in one object, and a gzip that
    expands to 2 GiB of white space; made once and kept in DATA_DIR/big-objects."""
    d = data_dir / "big-objects"
    d.mkdir(parents=True, exist_ok=True)
    records, bomb = d / "records.json", d / "bomb.json.gz"
    if not records.exists():
        log(f"writing {records} ({BIG_RECORDS:,} records)")
        pad = "x" * 600
        tmp = records.with_suffix(".tmp")
        with open(tmp, "w") as f:
            f.write('{"Records":[')
            for i in range(BIG_RECORDS):
                if i:
                    f.write(",")
                # In time order over 28 days, as a trail's events are.
                t = i * 28 * 86400 // BIG_RECORDS
                day, hour, minute, second = t // 86400, t // 3600 % 24, t // 60 % 60, t % 60
                f.write(
                    '{"eventVersion":"1.08","eventTime":"2024-03-%02dT%02d:%02d:%02dZ",'
                    '"eventSource":"s3.amazonaws.com","eventName":"GetObject",'
                    '"awsRegion":"us-east-1","sourceIPAddress":"198.51.100.%d",'
                    '"eventID":"%08x-0000-4000-8000-%012x","recipientAccountId":"111122223333",'
                    '"requestParameters":{"bucketName":"b","key":"k/%d","pad":"%s"}}'
                    % (1 + day, hour, minute, second, i % 250, i, i, i, pad))
            f.write("]}\n")
        tmp.rename(records)
    if not bomb.exists():
        log(f"writing {bomb} (2 GiB of white space, gzipped)")
        block = b" " * (1 << 20)
        tmp = bomb.with_suffix(".tmp")
        with gzip.open(tmp, "wb", compresslevel=9) as f:
            for _ in range(BOMB_BYTES >> 20):
                f.write(block)
        tmp.rename(bomb)
    return records, bomb


def measure_big_objects(trailsql: Path, data_dir: Path, runs: int,
                        max_object_size: str | None) -> dict:
    out = {}
    for name, path in zip(("records_548mb", "gzip_bomb_2gib"), big_inputs(data_dir)):
        samples = []
        for _ in range(runs):
            lake = data_dir / "big-objects" / "lake"
            shutil.rmtree(lake, ignore_errors=True)
            cmd = [str(trailsql), "--lake", str(lake), "ingest", "--quiet", "--json", str(path)]
            if max_object_size:
                cmd += ["--max-object-size", max_object_size]
            samples.append(run_measured(cmd))
        summary = json.loads(samples[-1]["stdout"])
        out[name] = {
            **summarise(samples),
            "files_written": summary["files_written"],
            "object_bytes": path.stat().st_size,
            "json_bytes": summary["json_bytes"],
            "written": summary["written"],
            "rejected": summary["objects_rejected"],
            "damaged": summary["objects_damaged"],
            "skipped": summary["skipped_by_reason"],
            "problems": summary["problems"],
        }
        log(f"{name}: {out[name]['max_rss_bytes_median'] / 2**20:.0f} MiB peak RSS, "
            f"{out[name]['wall_s_median']:.1f} s, {summary['written']:,} written, "
            f"problems {summary['problems']}")
    return out


def main() -> int:
    try:
        return compare()
    except Failed as e:
        print(f"compare.py: {e}", file=sys.stderr)
        return 1


def compare() -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0],
                                 formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--events", type=int, default=1_000_000, help="events of the main data set")
    ap.add_argument("--scale-events", type=int, default=4_000_000,
                    help="events of the scale data set (0: skip the scale measurement)")
    ap.add_argument("--days", type=int, default=30, help="days the data sets cover")
    ap.add_argument("--runs", type=int, default=3, help="timed runs per measurement (median)")
    ap.add_argument("--raw-runs", type=int,
                    help="timed runs of each query by DuckDB on the raw JSON (default: --runs; "
                         "1 times its checked run, which saves minutes: each run reads every file)")
    ap.add_argument("--data-dir", type=Path, default=Path.home() / ".cache/trailsql/bench",
                    help="where data sets, lakes and DuckDB's output are kept between runs")
    ap.add_argument("--no-build", action="store_true", help="use the release binaries as built")
    ap.add_argument("--bin-dir", type=Path,
                    help="take trailsql and trailsql-gen from this directory (no build): to "
                         "measure a build kept aside while the tree changes (the results still "
                         "name the work tree's commit)")
    ap.add_argument("--duckdb", help="the DuckDB CLI to run (default: the duckdb-cli package's)")
    ap.add_argument("--markdown-from", type=Path, metavar="RESULTS",
                    help="print a results file as the README's Markdown tables, measure nothing")
    ap.add_argument("--console-only", action="store_true",
                    help="measure only the console (trailsql serve) on the main data set's lake, "
                         "ingesting it first if it is missing; print the figures, write nothing")
    ap.add_argument("--detect-only", action="store_true",
                    help="measure only `trailsql detect` (generated rules + SigmaHQ's) against "
                         "one scan, on the --events data set (ingested if its lake is missing)")
    ap.add_argument("--out", type=Path,
                    help="results file (default benches/results/DATE-COMMIT.json)")
    ap.add_argument("--big-objects", action="store_true",
                    help="measure only one huge object (600,000 records, ~550 MB) and one gzip "
                         "bomb (2 GiB of white space): peak RSS and wall time of each ingest")
    ap.add_argument("--max-object-size", help="with --big-objects: pass this to ingest")
    args = ap.parse_args()
    if args.markdown_from:
        print(markdown(json.loads(args.markdown_from.read_text())), end="")
        return 0
    if args.runs < 1:
        ap.error("--runs must be at least 1")
    if args.raw_runs is None:
        args.raw_runs = args.runs
    if args.raw_runs < 1:
        ap.error("--raw-runs must be at least 1")

    if args.big_objects:
        trailsql = (args.bin_dir or target_dir() / "release") / "trailsql"
        if not args.no_build and not args.bin_dir:
            build(False, None)
        res = {
            "date": dt.datetime.now(dt.timezone.utc).isoformat(timespec="seconds"),
            "commit": git("rev-parse", "HEAD"),
            "binaries": str(trailsql.parent),
            "machine": machine(),
            "load_average_before": os.getloadavg(),
            "big_objects": measure_big_objects(trailsql, args.data_dir, args.runs,
                                               args.max_object_size),
            "load_average_after": os.getloadavg(),
        }
        name = f"{dt.date.today().isoformat()}-{git('rev-parse', '--short', 'HEAD')}-big-objects.json"
        out = args.out or REPO / "benches" / "results" / name
        out.parent.mkdir(parents=True, exist_ok=True)
        out.write_text(json.dumps(res, indent=2) + "\n")
        print(f"results: {out}")
        return 0

    trailsql, gen = build(args.no_build, args.bin_dir)
    if args.console_only:
        home, _ = dataset(gen, args.data_dir, args.events, args.days)
        if not (home / "lake" / "cloudtrail").is_dir():
            trailsql_ingest(trailsql, home / "lake", home / "src")
        params = pick_parameters(trailsql, home / "lake", args.days)
        print(json.dumps(measure_console(trailsql, home / "lake", args.runs, params, args.days),
                         indent=2))
        return 0
    if args.detect_only:
        home, _ = dataset(gen, args.data_dir, args.events, args.days)
        if not (home / "lake" / "cloudtrail").is_dir():
            trailsql_ingest(trailsql, home / "lake", home / "src")
        res = detect_bench.measure(trailsql, home / "lake", home, args.runs, sigma_rules())
        print(json.dumps(res, indent=2))
        return 0
    duckdb = find_duckdb(args.duckdb)
    home, gen_summary = dataset(gen, args.data_dir, args.events, args.days)

    res: dict = {
        "date": dt.datetime.now(dt.timezone.utc).isoformat(timespec="seconds"),
        "commit": git("rev-parse", "HEAD"),
        "dirty": bool(git("status", "--porcelain", "--untracked-files=no")),
        "binaries": str(trailsql.parent),
        "machine": machine(),
        "versions": {
            "trailsql": tool_output([str(trailsql), "--version"]),
            "duckdb": tool_output([duckdb, "--version"]),
            "rustc": tool_output(["rustc", "--version"]),
            "gzip": tool_output(["gzip", "--version"]).splitlines()[0],
        },
        "parameters": {"events": args.events, "scale_events": args.scale_events,
                       "days": args.days, "accounts": ACCOUNTS, "regions": REGIONS.split(","),
                       "seed": SEED, "runs": args.runs, "raw_runs": args.raw_runs},
        "dataset": {**gen_summary, **input_bytes(home / "src")},
        # Other work on the machine skews every figure: the load before and after tells.
        "load_average_before": os.getloadavg(),
    }
    res["ingest"] = measure_ingest(trailsql, duckdb, home, args.runs)
    lake_bytes, lake_files = 0, 0
    for table in ("cloudtrail", "cloudtrail_insights"):
        b, n = tree_bytes(home / "lake" / table)
        lake_bytes, lake_files = lake_bytes + b, lake_files + n
    dd_bytes, dd_files = tree_bytes(home / "duckdb-parquet")
    res["storage"] = {
        "gz_bytes_logs": res["dataset"]["gz_bytes_logs"],
        "lake_bytes": lake_bytes, "lake_files": lake_files,
        "duckdb_parquet_bytes": dd_bytes, "duckdb_parquet_files": dd_files,
    }
    params = pick_parameters(trailsql, home / "lake", args.days)
    res["query_parameters"] = params
    res["queries"], mismatches = measure_queries(trailsql, duckdb, home, args.runs,
                                                 args.raw_runs, params)
    res["console"] = measure_console(trailsql, home / "lake", args.runs, params, args.days)
    if args.scale_events:
        big, big_summary = dataset(gen, args.data_dir, args.scale_events, args.days)
        # The base is the ingest measured above.
        base = {k: v for k, v in res["ingest"]["trailsql"].items() if k != "summary"}
        base.update(volume(res["ingest"]["trailsql"]["summary"]))
        res["scale"] = {"base": base, "scale": measure_scale(trailsql, big, args.runs),
                        "scale_dataset": {**big_summary, **input_bytes(big / "src")}}
        # The scale lake is not needed again; it is the largest thing kept.
        shutil.rmtree(big / "lake", ignore_errors=True)
    res["detect"] = detect_bench.measure(trailsql, home / "lake", home, args.runs, sigma_rules())
    res["ratios"] = ratios(res)
    res["targets"] = {k: {"op": op, "limit": v, "met": met(k, res["ratios"][k]) == "yes"}
                      for k, (op, v) in TARGETS.items() if k in res["ratios"]}
    res["same_answers"] = not mismatches
    res["load_average_after"] = os.getloadavg()
    print_report(res)

    if mismatches:
        out = args.data_dir / f"failed-{dt.date.today().isoformat()}.json"
    else:
        name = f"{dt.date.today().isoformat()}-{git('rev-parse', '--short', 'HEAD')}.json"
        out = args.out or REPO / "benches" / "results" / name
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(json.dumps(res, indent=2) + "\n")
    print(f"\nresults: {out}")
    if mismatches:
        print(f"\nFAILED: {len(mismatches)} queries gave different answers (see above)",
              file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
