#!/usr/bin/env bash
# The test command: installs what the tests use from PyPI when it is missing (pyarrow and
# DuckDB, the third-party readers the lake is checked against; moto, the S3 server on
# loopback; Playwright and Debian's chromium for the console's browser test), then runs every
# test of the workspace and ends with one line totalling them (cargo prints one line per test
# binary). The venv of DuckDB 1.5 with its httpfs and delta extensions is kept in
# ~/.cache/trailsql/duckdb-httpfs (TRAILSQL_DUCKDB_HTTPFS).
set -euo pipefail
cd "$(dirname "$0")/.."
if ! python3 -c 'import duckdb, pyarrow, cryptography' 2>/dev/null; then
    python3 -m pip install --quiet --disable-pip-version-check duckdb pyarrow cryptography
fi
# Spark SQL runs the generated DDL (needs Java 17+, which the machines have).
if ! python3 -c 'import pyspark' 2>/dev/null; then
    python3 -m pip install --quiet --disable-pip-version-check pyspark
fi
# The Python Delta reader (delta-rs), one of the readers the lake's Delta tables are checked
# against.
if ! python3 -c 'import deltalake' 2>/dev/null; then
    python3 -m pip install --quiet --disable-pip-version-check deltalake==1.6.6
fi
# A real S3-compatible server on loopback for the S3 tests.
if ! command -v moto_server >/dev/null || ! python3 -c 'import boto3' 2>/dev/null; then
    python3 -m pip install --quiet --disable-pip-version-check 'moto[server]'
fi
# The console's browser test: Debian's Chromium driven by Playwright for Python (Playwright's
# own browser download is not used).
if ! command -v chromium >/dev/null; then
    if [ "$(id -u)" = 0 ]; then
        apt-get update -qq && apt-get install -y -qq chromium >/dev/null
    else
        sudo apt-get update -qq && sudo apt-get install -y -qq chromium >/dev/null
    fi
fi
if ! python3 -c 'import playwright' 2>/dev/null; then
    python3 -m pip install --quiet --disable-pip-version-check playwright
fi
# DuckDB 1.5 with its httpfs and delta extensions: DuckDB reading the lake's Delta tables
# (delta_scan) and a lake in S3 needs them, and PyPI has them (loadable offline) only for
# DuckDB 1.5: a venv of its own, so the main DuckDB stays current. The delta extension and
# the `deltalake` package are never loaded in one process (that aborted at exit).
venv="${TRAILSQL_DUCKDB_HTTPFS:-$HOME/.cache/trailsql/duckdb-httpfs}"
if ! "$venv/bin/python" -c 'import duckdb, duckdb_extension_httpfs, duckdb_extension_delta' 2>/dev/null; then
    python3 -m venv "$venv"
    "$venv/bin/pip" install --quiet --disable-pip-version-check duckdb==1.5.5 \
        duckdb-extension-httpfs==1.5.5 duckdb-extension-delta==1.5.5
fi
export TRAILSQL_DUCKDB_HTTPFS="$venv"
log="$(mktemp)"
trap 'rm -f "$log"' EXIT
status=0
cargo test --workspace --all-targets "$@" 2>&1 | tee "$log" || status=$?
awk '/^test result:/ { for (i = 1; i <= NF; i++) { if ($(i+1) ~ /^passed/) p += $i; if ($(i+1) ~ /^failed/) f += $i } }
     END { printf "tests: %d passed, %d failed\n", p, f }' "$log"
exit "$status"
