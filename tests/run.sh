#!/usr/bin/env bash
# The test command: installs what the tests use from PyPI when it is missing (pyarrow and
# DuckDB, the third-party readers the lake is checked against; moto, the S3 server on
# loopback), then runs every test of the workspace and ends with one line totalling them
# (cargo prints one line per test binary).
set -euo pipefail
cd "$(dirname "$0")/.."
if ! python3 -c 'import duckdb, pyarrow, cryptography' 2>/dev/null; then
    python3 -m pip install --quiet --disable-pip-version-check duckdb pyarrow cryptography
fi
# A real S3-compatible server on loopback for the S3 tests.
if ! command -v moto_server >/dev/null || ! python3 -c 'import boto3' 2>/dev/null; then
    python3 -m pip install --quiet --disable-pip-version-check 'moto[server]'
fi
log="$(mktemp)"
trap 'rm -f "$log"' EXIT
status=0
cargo test --workspace --all-targets "$@" 2>&1 | tee "$log" || status=$?
awk '/^test result:/ { for (i = 1; i <= NF; i++) { if ($(i+1) ~ /^passed/) p += $i; if ($(i+1) ~ /^failed/) f += $i } }
     END { printf "tests: %d passed, %d failed\n", p, f }' "$log"
exit "$status"
