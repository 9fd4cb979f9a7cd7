#!/usr/bin/env bash
# Ledger and quota benchmark: settled requests per second into SQLite through the ledger
# writer (reserve into its slot -> settle, group-committed),
# beside raw SQLite inserts (one transaction per row, and 1000 rows per transaction) in
# the same run; and the in-memory cost of admission + settlement in ns beside two
# uncontended mutex lock/unlock pairs.  Medians of RUNS runs (default 5) of REQUESTS
# requests (default 200000).  The databases live in a fresh directory under TMPDIR
# (or /tmp), removed afterwards.
#
# usage: bash bench/ledger.sh        (needs a release build in ./build)
set -euo pipefail
cd "$(dirname "$0")/.."
ninja -C build bench/bench_ledger >/dev/null
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
bt=$(meson introspect build --buildoptions | python3 -c 'import json,sys; print(next(o["value"] for o in json.load(sys.stdin) if o["name"] == "buildtype"))')
echo "machine: $(nproc) cores, $(uname -sr); build: $bt"
./build/bench/bench_ledger "$work" "${REQUESTS:-200000}" "${RUNS:-5}"
