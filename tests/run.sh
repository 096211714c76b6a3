#!/usr/bin/env bash
# The test command: installs the third-party readers the lake is checked against (pyarrow,
# DuckDB, from PyPI) when they are missing, then runs every test of the workspace.
set -euo pipefail
cd "$(dirname "$0")/.."
if ! python3 -c 'import duckdb, pyarrow' 2>/dev/null; then
    python3 -m pip install --quiet --disable-pip-version-check duckdb pyarrow
fi
exec cargo test --workspace "$@"
