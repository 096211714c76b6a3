#!/usr/bin/env python3
"""S3 benchmarks of trailsql on loopback: s3s-fs (a fast S3 server that serves a directory
and checks SigV4 signatures) behind tests/tools/s3proxy.py, which delays each request by a
round trip and logs it.

  python3 benches/s3.py latency [--objects 20000] [--delay-ms 250] [--max-requests 24,128]
      Ingest a bucket of small objects (about 10 KB of CloudTrail JSON each, in CloudTrail's
      layout) with a round trip of --delay-ms, at each --max-requests: objects/s against the
      bound in-flight / round trip. A first run without delay measures what the server and
      the proxy can serve at all.

  python3 benches/s3.py costs [--accounts 4] [--regions 2] [--days 7] [--events 100000]
      Ingest a generated organization trail (trailsql-gen) and count the requests of a first
      ingest, a re-run, a daily run and a query (trailsql's own counts, checked against the
      proxy's log), then scale them to the README's cost table.

Binaries: $TRAILSQL (default $CARGO_TARGET_DIR/release/trailsql, else target/release),
$TRAILSQL_GEN (trailsql-gen, next to it), $S3S_FS (default s3s-fs on PATH).
"""
import argparse
import gzip
import json
import os
import random
import shutil
import socket
import subprocess
import sys
import tempfile
import time

HERE = os.path.dirname(os.path.abspath(__file__))
PROXY = os.path.join(HERE, "..", "tests", "tools", "s3proxy.py")
ACCESS_KEY, SECRET_KEY = "AKIABENCHMARK0000001", "benchmark-secret"


def binary(env, name):
    if os.environ.get(env):
        return os.environ[env]
    target = os.environ.get("CARGO_TARGET_DIR", os.path.join(HERE, "..", "target"))
    for profile in ("release", "debug"):
        p = os.path.join(target, profile, name)
        if os.path.exists(p):
            return p
    sys.exit(f"{name} not found: build it or set ${env}")


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def wait_port(port):
    for _ in range(300):
        try:
            socket.create_connection(("127.0.0.1", port)).close()
            return
        except OSError:
            time.sleep(0.05)
    sys.exit(f"nothing listens on {port}")


class Servers:
    """s3s-fs over `root`, and a proxy in front of it per delay."""

    def __init__(self, root, work):
        self.work = work
        self.port = free_port()
        s3s = os.environ.get("S3S_FS") or shutil.which("s3s-fs") or sys.exit("s3s-fs not found")
        self.procs = [subprocess.Popen(
            [s3s, "--host", "127.0.0.1", "--port", str(self.port),
             "--access-key", ACCESS_KEY, "--secret-key", SECRET_KEY, root],
            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)]
        wait_port(self.port)

    def proxy(self, delay_ms):
        port = free_port()
        log = os.path.join(self.work, f"requests-{port}.ndjson")
        self.procs.append(subprocess.Popen(
            [sys.executable, PROXY, str(port), str(self.port), str(delay_ms), log]))
        wait_port(port)
        return f"http://127.0.0.1:{port}", log

    def close(self):
        for p in self.procs:
            p.kill()
            p.wait()


def trailsql(endpoint, args):
    env = {k: v for k, v in os.environ.items() if not k.startswith("AWS_")}
    env.update(AWS_ACCESS_KEY_ID=ACCESS_KEY, AWS_SECRET_ACCESS_KEY=SECRET_KEY,
               AWS_REGION="us-east-1", AWS_ENDPOINT_URL=endpoint, AWS_EC2_METADATA_DISABLED="true")
    start = time.monotonic()
    out = subprocess.run([binary("TRAILSQL", "trailsql")] + args, env=env, capture_output=True, text=True)
    secs = time.monotonic() - start
    if out.returncode != 0:
        sys.exit(f"trailsql {' '.join(args)}: {out.stderr}")
    return out, secs


def logged(log):
    """LIST, GET, PUT counts and GET bytes in the proxy's log, by bucket."""
    out = {}
    with open(log) as f:
        for line in f:
            r = json.loads(line)
            c = out.setdefault(r["bucket"], {"list": 0, "get": 0, "put": 0, "get_bytes": 0})
            if r["method"] == "GET" and ("list-type" in r["query"] or "prefix=" in r["query"]):
                c["list"] += 1
            elif r["method"] == "GET":
                c["get"] += 1
                c["get_bytes"] += r["received"]
            elif r["method"] == "PUT":
                c["put"] += 1
    return out


def check_counts(summary_requests, log):
    """trailsql's counts must be what the server saw."""
    seen = logged(log)
    for s in summary_requests:
        bucket = s["store"].removeprefix("s3://")
        mine = {k: s[k] for k in ("list", "get", "put", "get_bytes")}
        if seen.get(bucket) != mine:
            sys.exit(f"request counts differ for {bucket}: trailsql {mine}, server {seen.get(bucket)}")


# ---- latency ----

def event(i, account, region, t):
    return {
        "eventVersion": "1.09",
        "userIdentity": {"type": "AssumedRole", "principalId": f"AROAEXAMPLE:{i % 97}",
                         "arn": f"arn:aws:sts::{account}:assumed-role/app/{i % 97}",
                         "accountId": account, "accessKeyId": f"ASIAEXAMPLE{i % 991:05d}"},
        "eventTime": t, "eventSource": "s3.amazonaws.com", "eventName": "GetObject",
        "awsRegion": region, "sourceIPAddress": f"10.0.{i % 250}.{i % 199}",
        "userAgent": "aws-sdk-java/2.20.0 Linux/5.10 OpenJDK_64-Bit_Server_VM",
        "requestParameters": {"bucketName": f"data-{i % 13}", "key": f"path/to/object-{i}.parquet",
                              "Host": f"data-{i % 13}.s3.{region}.amazonaws.com"},
        "responseElements": None, "requestID": f"REQ{i:016X}", "eventID": f"{account}-{region}-{i:012d}",
        "readOnly": True, "eventType": "AwsApiCall", "managementEvent": False,
        "recipientAccountId": account, "eventCategory": "Data",
    }


def small_bucket(root, objects):
    """`objects` objects of about 10 KB in CloudTrail's layout: 5 accounts, 2 regions,
    5-minute deliveries over as many days as it takes."""
    accounts = [f"{111122223333 + 111111111 * a}" for a in range(5)]
    regions = ["us-east-1", "eu-west-1"]
    i = 0
    slot = 0
    while i < objects:
        day, minute = divmod(slot, 288)
        for account in accounts:
            for region in regions:
                if i >= objects:
                    break
                hh, mm = divmod(minute * 5, 60)
                date = f"2024/03/{day + 1:02d}"
                stamp = f"202403{day + 1:02d}T{hh:02d}{mm:02d}Z"
                t = f"2024-03-{day + 1:02d}T{hh:02d}:{mm:02d}:00Z"
                d = os.path.join(root, "trail", "AWSLogs", account, "CloudTrail", region, date)
                os.makedirs(d, exist_ok=True)
                records = [event(i * 10 + k, account, region, t) for k in range(10)]
                name = f"{account}_CloudTrail_{region}_{stamp}_{i:08x}.json"
                with open(os.path.join(d, name), "w") as f:
                    json.dump({"Records": records}, f)
                i += 1
        slot += 1


def latency(a):
    work = tempfile.mkdtemp(prefix="trailsql-s3-latency-")
    root = os.path.join(work, "root")
    small_bucket(root, a.objects)
    size = sum(os.path.getsize(os.path.join(d, f)) for d, _, fs in os.walk(root) for f in fs)
    print(f"{a.objects} objects, {size / a.objects / 1024:.1f} KiB each on average")
    servers = Servers(root, work)
    rows = []
    try:
        runs = [(0, max(a.max_requests))] + [(a.delay_ms, n) for n in a.max_requests]
        for delay, n in runs:
            endpoint, log = servers.proxy(delay)
            lake = os.path.join(work, f"lake-{delay}-{n}")
            out, secs = trailsql(endpoint, ["--lake", lake, "ingest", "--json", "--quiet",
                                            "--max-requests", str(n), "s3://trail/AWSLogs/"])
            s = json.loads(out.stdout)
            check_counts(s["requests"], log)
            rate = s["objects_read"] / s["seconds"]
            bound = n / (delay / 1000) if delay else None
            trail = next(r for r in s["requests"] if r["store"] == "s3://trail")
            rows.append((delay, n, s["objects_read"], s["seconds"], rate, bound, trail["list"], trail["get"]))
            print(f"delay {delay} ms, {n} in flight: {s['objects_read']} objects in {s['seconds']:.1f} s"
                  f" = {rate:.0f} objects/s" + (f" ({rate / bound:.0%} of {bound:.0f})" if bound else "")
                  + f"; LIST {trail['list']}, GET {trail['get']}", flush=True)
    finally:
        servers.close()
        shutil.rmtree(work, ignore_errors=True)
    print("\n| round trip | in flight | objects | seconds | objects/s | bound (in flight / round trip) | of bound | LIST | GET |")
    print("|---|---|---|---|---|---|---|---|---|")
    for delay, n, objs, secs, rate, bound, lists, gets in rows:
        b = f"{bound:.0f}" if bound else "-"
        of = f"{rate / bound:.0%}" if bound else "-"
        print(f"| {delay} ms | {n} | {objs} | {secs:.1f} | {rate:.0f} | {b} | {of} | {lists} | {gets} |")


# ---- costs ----

def costs(a):
    work = tempfile.mkdtemp(prefix="trailsql-s3-costs-")
    root = os.path.join(work, "root")
    gen = os.environ.get("TRAILSQL_GEN") or os.path.join(os.path.dirname(binary("TRAILSQL", "trailsql")), "trailsql-gen")
    regions = ",".join(["us-east-1", "eu-west-1", "ap-southeast-2", "us-west-2"][: a.regions])
    subprocess.run([gen, "--out", os.path.join(root, "trail"), "--events", str(a.events), "--days", str(a.days),
                    "--accounts", str(a.accounts), "--regions", regions, "--no-insights"],
                   check=True, stdout=subprocess.DEVNULL)
    os.makedirs(os.path.join(root, "lake"))
    objects = sum(len(fs) for d, _, fs in os.walk(root) if "CloudTrail-Digest" not in d)
    print(f"organization trail: {a.accounts} accounts x {a.regions} regions x {a.days} days, {objects} log objects")
    servers = Servers(root, work)
    last_day = f"2024-03-{a.days:02d}"
    next_day = f"2024-03-{a.days + 1:02d}"
    ingest = ["ingest", "--json", "--quiet"]
    runs = [
        ("first ingest, full listing", ["--lake", "s3://lake/org"] + ingest + ["s3://trail/AWSLogs/"]),
        ("re-run (lists the days since the last run)", ["--lake", "s3://lake/org"] + ingest + ["s3://trail/AWSLogs/"]),
        # A daily run: a day's events (`--since 1d` lists the same three day prefixes).
        (f"a day (--since {last_day} --until {next_day})",
         ["--lake", "s3://lake/day"] + ingest + ["--since", last_day, "--until", next_day, "s3://trail/AWSLogs/"]),
    ]
    table = []
    try:
        for name, args in runs:
            endpoint, log = servers.proxy(0)
            out, _ = trailsql(endpoint, args)
            s = json.loads(out.stdout)
            check_counts(s["requests"], log)
            by = {r["store"]: r for r in s["requests"]}
            t = by.get("s3://trail", {"list": 0, "get": 0})
            lk = by.get("s3://lake", {"list": 0, "get": 0, "put": 0})
            table.append((name, t["list"], t["get"], lk["list"], lk["get"], lk["put"], s["objects_read"]))
            print(f"{name}: trail LIST {t['list']}, GET {t['get']}; lake LIST {lk['list']}, GET {lk['get']},"
                  f" PUT {lk['put']}; objects read {s['objects_read']}, files written {s['files_written']}")
        endpoint, log = servers.proxy(0)
        out, _ = trailsql(endpoint, ["--lake", "s3://lake/org", "sql", "--stats", "--format", "csv", "-c",
                                     "SELECT date, count(*) FROM cloudtrail GROUP BY 1 ORDER BY 1"])
        line = next(l for l in out.stderr.splitlines() if l.startswith("requests: s3://lake"))
        print(f"a query (count(*) by day over the whole lake): {line}")
        seen = logged(log)["lake"]
        if f"LIST {seen['list']}, GET {seen['get']} (" not in line:
            sys.exit(f"query counts differ from the server's: {seen}")
        table.append(("a query: count(*) by day, whole lake", 0, 0, seen["list"], seen["get"], 0, 0))
    finally:
        servers.close()
        shutil.rmtree(work, ignore_errors=True)
    prefixes = a.accounts * a.regions
    print(f"\n| run | trail LIST | trail GET | lake LIST | lake GET | lake PUT |")
    print("|---|---|---|---|---|---|")
    for name, tl, tg, ll, lg, lp, _ in table:
        print(f"| {name} | {tl} | {tg} | {ll} | {lg} | {lp} |")
    print(f"\nper account-region ({prefixes}) and year (x 365/{a.days} for the first ingest), at"
          " LIST/PUT $0.005 and GET $0.0004 per 1,000:")
    for name, tl, tg, ll, lg, lp, _ in table:
        scale = 365 / a.days if name.startswith("first") else 1
        lists, gets, puts = (tl + ll) / prefixes * scale, (tg + lg) / prefixes * scale, lp / prefixes * scale
        cost = (lists + puts) / 1000 * 0.005 + gets / 1000 * 0.0004
        print(f"| {name} | {lists:.1f} | {gets:.0f} | {puts:.1f} | ${cost:.5f} |")


def main():
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    sub = p.add_subparsers(dest="cmd", required=True)
    l = sub.add_parser("latency")
    l.add_argument("--objects", type=int, default=20000)
    l.add_argument("--delay-ms", type=int, default=250)
    l.add_argument("--max-requests", type=lambda s: [int(x) for x in s.split(",")], default=[24, 128])
    c = sub.add_parser("costs")
    c.add_argument("--accounts", type=int, default=4)
    c.add_argument("--regions", type=int, default=2)
    c.add_argument("--days", type=int, default=7)
    c.add_argument("--events", type=int, default=100000)
    a = p.parse_args()
    random.seed(1)
    {"latency": latency, "costs": costs}[a.cmd](a)


if __name__ == "__main__":
    main()
