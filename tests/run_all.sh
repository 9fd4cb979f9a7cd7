#!/usr/bin/env bash
# README command 2 (and CI, through .ci/run): install what is missing, build, and run every
# test: the Check unit tests and CLI tests in the release build (gcc), again under
# AddressSanitizer + UndefinedBehaviorSanitizer (gcc), a clang -Werror build with its tests,
# and each libFuzzer target for FUZZ_SECONDS (default 60) seconds.
#
# usage: bash tests/run_all.sh
set -euo pipefail
cd "$(dirname "$0")/.."
fuzz_seconds=${FUZZ_SECONDS:-60}

step() { printf '\n=== %s\n' "$*"; }

step "setup and release build (gcc)"
# what only the tests need beside the build: nginx-light + openssl (the HTTP/2 upstream
# test's TLS front, tests/integration/test_http2.py), chromium + a font (the dashboard's
# screenshot test), wrk (so the benchmarks under bench/ can run on the same set-up)
bash deploy/setup.sh nginx-light openssl wrk chromium fonts-dejavu-core

step "tests: release build (gcc)"
meson test -C build --print-errorlogs

step "tests: ASan + UBSan build (gcc)"
[ -f build-san/build.ninja ] || meson setup build-san --buildtype=debugoptimized \
  -Db_sanitize=address,undefined -Db_lundef=false >/dev/null
ninja -C build-san >/dev/null
UBSAN_OPTIONS=halt_on_error=1:print_stacktrace=1 ASAN_OPTIONS=detect_leaks=1 \
  meson test -C build-san --print-errorlogs

step "tests: clang build (-Werror)"
[ -f build-clang/build.ninja ] || CC=clang meson setup build-clang --buildtype=release >/dev/null
ninja -C build-clang >/dev/null
meson test -C build-clang --print-errorlogs

step "fuzzing: ${fuzz_seconds}s per target (clang libFuzzer + ASan + UBSan)"
[ -f build-fuzz/build.ninja ] || CC=clang meson setup build-fuzz --buildtype=debugoptimized \
  -Dfuzz=true -Dtests=false -Db_sanitize=address,undefined -Db_lundef=false >/dev/null
ninja -C build-fuzz >/dev/null
seeds=$(mktemp -d)
trap 'rm -rf "$seeds"' EXIT
python3 - "$seeds" <<'PY'
import json, os, sys
out = sys.argv[1]
for i, line in enumerate(open("tests/data/tokenizer/corpus.jsonl", encoding="utf-8")):
    if i % 50 == 0:
        open(os.path.join(out, f"bpe{i}"), "wb").write(json.loads(line).encode("utf-8")[:4096])
PY
# one fuzz target per core at a time (the machine has 2): each runs fuzz_seconds
fuzz_one() { # name: runs build-fuzz/tests/fuzz/NAME on its seeds, log in $seeds/NAME.log
  local name=$1 dir="$seeds/$1"
  mkdir -p "$dir"
  if [ "$name" = fuzz_bpe ]; then cp "$seeds"/bpe* "$dir"/; fi
  if [ -d "tests/fuzz/seeds/$name" ]; then cp "tests/fuzz/seeds/$name"/* "$dir"/; fi
  "build-fuzz/tests/fuzz/$name" -max_total_time="$fuzz_seconds" -max_len=8192 \
    -print_final_stats=1 "$dir" >"$seeds/$name.log" 2>&1
}
jobs_max=$(nproc 2>/dev/null || echo 2)
names=()
for f in build-fuzz/tests/fuzz/fuzz_*; do
  [ -f "$f" ] && [ -x "$f" ] && names+=("$(basename "$f")")
done
failed=()
for ((i = 0; i < ${#names[@]}; i += jobs_max)); do
  pids=()
  for name in "${names[@]:i:jobs_max}"; do
    fuzz_one "$name" & pids+=($!)
  done
  for j in "${!pids[@]}"; do
    name=${names[i + j]}
    if wait "${pids[j]}"; then
      echo "--- $name"
      grep -E 'stat::number_of_executed_units|stat::peak_rss_mb|Done' "$seeds/$name.log" || true
    else
      tail -n 60 "$seeds/$name.log"
      echo "fuzz target $name failed"
      failed+=("$name")
    fi
  done
done
if [ ${#failed[@]} -gt 0 ]; then
  echo "fuzz targets failed: ${failed[*]}"
  exit 1
fi

step "all tests passed"
