#!/usr/bin/env bash
# Many concurrent slow SSE streams through tollgate: peak resident memory per stream.
#   mock vendor (tests/mock) <- tollgate <- tests/mock/many_streams.py (N streams at once)
# Every stream is a chat completion streamed by the mock at one event per DELAY_MS ms
# (WORDS words + role, finish, usage and [DONE] events), so all N are open at the same time
# with events flowing.  Prints tollgate's peak RSS (VmHWM) and its growth per stream over
# the idle process, the mock's for comparison, and the client's tally (every event of every
# stream must arrive).
#
# usage: bash bench/streams.sh [N ...]     (several N run one after another)
#   default N: 10000, or the most that fit under the open-file limit (see below)
#   env: DELAY_MS (default 1000), WORDS (default 20), WORKERS (default: one per core)
# A proxied stream holds two sockets in tollgate, so N is bounded by about RLIMIT_NOFILE / 2
# (the hard limit; raising it needs CAP_SYS_RESOURCE).  When the last N is below 10,000 the
# script also prints tollgate's RSS at 10,000 extrapolated from its measured per-stream
# figure, marked as such.
set -euo pipefail
cd "$(dirname "$0")/.."
tg=$PWD/build/proxy/tollgate
mock=$PWD/build/tests/mock/mock_vendor
delay=${DELAY_MS:-1000}
words=${WORDS:-20}
ulimit -n "$(ulimit -Hn)"
hard=$(ulimit -Hn)
counts=("$@")
if [ ${#counts[@]} -eq 0 ]; then
  fit=$(( (hard - 64) / 2 / 100 * 100 ))
  counts=($(( fit < 10000 ? fit : 10000 )))
fi
work=$(mktemp -d)
pids=()
cleanup() { for p in "${pids[@]}"; do kill "$p" 2>/dev/null || true; done; rm -rf "$work"; }
trap cleanup EXIT
free_port() { python3 -c 'import socket;s=socket.socket();s.bind(("127.0.0.1",0));print(s.getsockname()[1])'; }
kib() { awk -v k="$2" '$1==k":" {print $2}' "/proc/$1/status"; }

printf '%8s %10s %12s %12s %14s %10s %12s %14s %s\n' streams "peak open" "tg idle MiB" \
  "tg peak MiB" "tg KiB/stream" "mock MiB" "mock KiB/st" events result
for n in "${counts[@]}"; do
  if [ $((2 * n + 64)) -gt "$hard" ]; then
    echo "bench/streams.sh: $n streams need $((2 * n + 64)) descriptors in tollgate; the hard" \
         "RLIMIT_NOFILE is $hard (raising it needs CAP_SYS_RESOURCE)" >&2
    exit 1
  fi
  MOCK_API_KEY=sk-bench "$mock" --port 0 --knob x-mock-chunk-delay-ms="$delay" \
    --knob x-mock-words="$words" >"$work/mock.out" &
  mpid=$!
  pids+=($mpid)
  for _ in $(seq 50); do grep -q listening "$work/mock.out" 2>/dev/null && break; sleep 0.1; done
  mport=$(awk '{print $NF}' "$work/mock.out")
  port=$(free_port) adm=$(free_port)
  rm -f "$work"/tg.db*
  cat >"$work/tg.json" <<CFG
{"listen":"127.0.0.1:$port","workers":${WORKERS:-0},"admin":{"listen":"127.0.0.1:$adm"},
 "store":"sqlite:$work/tg.db",
 "providers":{"openai":{"format":"openai","base_url":"http://127.0.0.1:$mport",
   "api_key_env":"MOCK_KEY","timeouts":{"idle_ms":60000}}}}
CFG
  "$tg" teams add bench --config "$work/tg.json" >/dev/null
  key=$("$tg" keys create --team bench --config "$work/tg.json" 2>/dev/null)
  MOCK_KEY=sk-bench "$tg" serve --config "$work/tg.json" 2>"$work/tg.log" &
  tpid=$!
  pids+=($tpid)
  for _ in $(seq 50); do curl -sf "http://127.0.0.1:$port/healthz" >/dev/null && break; sleep 0.1; done
  idle=$(kib "$tpid" VmRSS)
  midle=$(kib "$mpid" VmRSS)
  python3 tests/mock/many_streams.py --port "$port" --pid "$tpid" --stats-port "$mport" \
    --key "$key" -n "$n" --delay-ms "$delay" --words "$words" >"$work/run.out" 2>&1 &&
    res=ok || res=FAILED
  tpeak=$(kib "$tpid" VmHWM)
  mpeak=$(kib "$mpid" VmHWM)
  sum=$(tail -1 "$work/run.out")
  read -r ev open < <(python3 -c 'import json,sys;d=json.loads(sys.argv[1]);print("%d/%d %s" % (d["events"], d["events_expected"], d["peak_mock_streams_open"]))' "$sum" 2>/dev/null || echo "? ?")
  awk -v n="$n" -v o="$open" -v i="$idle" -v p="$tpeak" -v mi="$midle" -v mp="$mpeak" -v ev="$ev" \
    -v r="$res" 'BEGIN {printf "%8d %10s %12.1f %12.1f %14.1f %10.1f %12.1f %14s %s\n", n, o, i/1024,
                 p/1024, (p-i)/n, mp/1024, (mp-mi)/n, ev, r}'
  [ "$res" = ok ] || { tail -5 "$work/run.out" >&2; tail -5 "$work/tg.log" >&2; }
  kill "$tpid" "$mpid" 2>/dev/null || true
  wait "$tpid" "$mpid" 2>/dev/null || true
done
if [ "$n" -lt 10000 ] && [ "$res" = ok ]; then
  awk -v n="$n" -v i="$idle" -v p="$tpeak" 'BEGIN {printf "extrapolated, not measured: 10000 streams ~ %.0f MiB (idle + 10000 x %.1f KiB measured at %d)\n",
       (i + 10000 * (p - i) / n) / 1024, (p - i) / n, n}'
fi
