#!/usr/bin/env python3
"""Source-state benchmark: an incremental ingest over a trail of OBJECTS objects already in
the lake, with NEW new ones, from a bucket of moto's S3 server on loopback. Prints how long
the run took to start reading (state loaded, new prefixes listed: `startup_seconds` of the
summary), the whole run, and its peak RSS. See benches/README.md.

usage: python3 benches/source_state.py [--bin DIR] [--objects N] [--new N]
  DIR holds the `trailsql` and `source-state` binaries (default: $CARGO_TARGET_DIR/debug
  or target/debug).
"""
import argparse, json, os, socket, subprocess, sys, tempfile, time

import boto3


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def main():
    p = argparse.ArgumentParser()
    target = os.environ.get("CARGO_TARGET_DIR", "target")
    p.add_argument("--bin", default=os.path.join(target, "debug"))
    p.add_argument("--objects", type=int, default=1_000_000)
    p.add_argument("--new", type=int, default=1_000)
    a = p.parse_args()
    port = free_port()
    endpoint = f"http://127.0.0.1:{port}"
    moto = subprocess.Popen(["moto_server", "-H", "127.0.0.1", "-p", str(port)],
                            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        for _ in range(300):
            try:
                socket.create_connection(("127.0.0.1", port)).close()
                break
            except OSError:
                time.sleep(0.1)
        env = dict(os.environ, AWS_ENDPOINT_URL=endpoint, AWS_ACCESS_KEY_ID="test",
                   AWS_SECRET_ACCESS_KEY="test", AWS_REGION="us-east-1")
        boto3.client("s3", endpoint_url=endpoint, aws_access_key_id="test",
                     aws_secret_access_key="test", region_name="us-east-1").create_bucket(Bucket="trail")
        with tempfile.TemporaryDirectory() as tmp:
            lake = os.path.join(tmp, "lake")
            t = time.time()
            subprocess.run([os.path.join(a.bin, "source-state"), lake, "trail", str(a.objects), str(a.new)],
                           env=env, check=True)
            print(f"prepared in {time.time() - t:.1f}s", file=sys.stderr)
            out = subprocess.run(["/usr/bin/time", "-f", "%e %M", os.path.join(a.bin, "trailsql"),
                                  "--lake", lake, "ingest", "--json", "--quiet", "s3://trail/AWSLogs/"],
                                 env=env, capture_output=True, text=True)
            if out.returncode != 0:
                sys.exit(f"ingest failed: {out.stderr}")
            s = json.loads(out.stdout)
            wall, rss_kb = out.stderr.strip().splitlines()[-1].split()
            result = {
                "objects_in_state": a.objects,
                "objects_listed": s["objects_listed"],
                "objects_unchanged": s["objects_unchanged"],
                "objects_read": s["objects_read"],
                "startup_seconds": round(s["startup_seconds"], 3),
                "seconds": round(float(wall), 3),
                "peak_rss_mb": round(int(rss_kb) / 1024, 1),
            }
            print(json.dumps(result))
            assert s["objects_read"] == a.new, s
    finally:
        moto.kill()


if __name__ == "__main__":
    main()
