#!/usr/bin/env bash
# Tokenizer benchmark: tollgate's BPE beside OpenAI's tiktoken (npm, WASM) in the same run.
# Prints MB/s for both encodings on prose, code and non-Latin text, and the time for long
# runs of one character.  Needs a build in ./build (meson setup build && ninja -C build);
# the tiktoken column appears when node and npm are present (tiktoken is installed into
# bench/.node on first use).
#
# usage: bash bench/tokenizer.sh
set -euo pipefail
cd "$(dirname "$0")/.."
build=${BUILD:-build}
corpus=${CORPUS:-build/bench-corpus}
ninja -C "$build" bench/bench_tokenizer >/dev/null
python3 bench/gen_corpus.py "$corpus" . >/dev/null
files=("$corpus/prose.txt" "$corpus/code.txt" "$corpus/nonlatin.txt")
out=$(mktemp)
trap 'rm -f "$out"' EXIT
"$build/bench/bench_tokenizer" "${files[@]}" >"$out"
if command -v node >/dev/null && command -v npm >/dev/null; then
  if [ ! -d bench/.node/node_modules/tiktoken ]; then
    mkdir -p bench/.node
    npm install --silent --no-audit --no-fund --prefix bench/.node tiktoken@1.0.22 >/dev/null
  fi
  node bench/tiktoken_bench.mjs bench/.node/node_modules "${files[@]}" >>"$out"
else
  echo "(node/npm not found: no tiktoken column)" >&2
fi
python3 - "$out" <<'PY'
import sys
rows = {}
for line in open(sys.argv[1]):
    who, enc, case, mode, val = line.split()
    rows[(who, enc, case, mode)] = float(val)
print(f"{'encoding':<12} {'input':<13} {'tollgate count':>15} {'tollgate encode':>16} "
      f"{'tiktoken':>10} {'ratio':>7}   (MB/s, median of 5)")
for enc in ("cl100k_base", "o200k_base"):
    for case in ("prose.txt", "code.txt", "nonlatin.txt"):
        c = rows.get(("tollgate", enc, case, "count"))
        e = rows.get(("tollgate", enc, case, "encode"))
        t = rows.get(("tiktoken", enc, case, "encode"))
        ratio = f"{e / t:6.1f}x" if t else "      -"
        tt = f"{t:10.1f}" if t else "         -"
        print(f"{enc:<12} {case:<13} {c:15.1f} {e:16.1f} {tt} {ratio}")
print()
print(f"{'encoding':<12} {'one char repeated':<24} {'seconds':>8}")
for (who, enc, case, mode), v in sorted(rows.items()):
    if case.startswith("repeat"):
        print(f"{enc:<12} {who + ' ' + case[7:]:<24} {v:8.4f}")
PY
