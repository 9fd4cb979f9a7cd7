#!/usr/bin/env bash
# Many concurrent slow SSE streams held open at once: peak resident memory, every event
# delivered.  Two paths in one run, one after the other, the same N streams each:
#   nginx     client -> nginx (plain HTTP/1.1 reverse proxy, proxy_buffering off) -> mock
#   tollgate  client -> tollgate (provider "http2": true) -> nginx HTTP/2 (TLS) -> mock
# The mock vendor (tests/mock) streams a chat completion at one event per DELAY_MS (WORDS
# words + role, finish, usage and [DONE] events), so all N streams are open at once with
# events flowing; the client is tests/mock/many_streams.py (asyncio, one socket a stream).
# Why HTTP/2 upstream: a proxied HTTP/1.1 stream holds two sockets in tollgate, and this
# sandbox's hard RLIMIT_NOFILE is 20,000 per process, so 10,000 streams need the upstream
# side multiplexed (many streams on each HTTP/2 connection; the HTTP/2 front is nginx,
# whose worker processes each have their own descriptor limit).  The front speaks TLS with
# a throw-away self-signed certificate (the provider's ca_file): Debian 12's libcurl 7.88.1
# breaks cleartext h2c on connection reuse (curl issue 10634), ALPN over TLS works.
# Prints, per path: streams asked, the most open at once (seen by the client), events
# delivered/expected, the proxy's idle and peak RSS (VmHWM; nginx: master + workers summed)
# and its growth per stream open at the peak.  Streams last about WORDS x DELAY_MS: long
# enough that all N are open at once while the client is still connecting the last ones.
#
# usage: bash bench/streams.sh [N]      (default 10000; needs ./build, nginx from Debian)
#   env: DELAY_MS (default 1000), WORDS (default 90), WORKERS (tollgate; default per core),
#        BASELINE=0 skips the nginx-alone run, MAX_HEADER_BYTES sets tollgate's
#        limits.max_header_bytes (libmicrohttpd's per-connection pool is that + 8 KiB)
set -euo pipefail
cd "$(dirname "$0")/.."
tg=$PWD/build/proxy/tollgate
mock=$PWD/build/tests/mock/mock_vendor
n=${1:-10000}
delay=${DELAY_MS:-1000}
words=${WORDS:-90}
for c in nginx openssl; do command -v $c >/dev/null || { echo "bench/streams.sh: needs $c (apt-get install nginx-light openssl)"; exit 1; }; done
ulimit -n "$(ulimit -Hn)"
hard=$(ulimit -Hn)
if [ $((n + 200)) -gt "$hard" ]; then
  echo "bench/streams.sh: $n streams need $((n + 200)) descriptors per process; the hard" \
       "RLIMIT_NOFILE is $hard" >&2
  exit 1
fi
work=$(mktemp -d)
pids=()
cleanup() { for p in "${pids[@]}"; do kill "$p" 2>/dev/null || true; done; sleep 0.3; rm -rf "$work"; }
trap cleanup EXIT
free_port() { python3 -c 'import socket;s=socket.socket();s.bind(("127.0.0.1",0));print(s.getsockname()[1])'; }
kib() { awk -v k="$2" '$1==k":" {print $2}' "/proc/$1/status"; }
# the summed RSS field $2 of an nginx master and its workers
nginx_kib() { local s=0; for p in $1 $(pgrep -P "$1"); do s=$((s + $(kib "$p" "$2"))); done; echo $s; }

MOCK_API_KEY=sk-bench "$mock" --port 0 --threads 2 --knob x-mock-chunk-delay-ms="$delay" \
  --knob x-mock-words="$words" >"$work/mock.out" &
pids+=($!)
for _ in $(seq 50); do grep -q listening "$work/mock.out" 2>/dev/null && break; sleep 0.1; done
mport=$(awk '{print $NF}' "$work/mock.out")
openssl req -x509 -newkey rsa:2048 -nodes -keyout "$work/key.pem" -out "$work/cert.pem" \
  -days 1 -subj /CN=127.0.0.1 -addext subjectAltName=IP:127.0.0.1 2>/dev/null

# nginx: `mode` h1 = the baseline proxy, h2 = tollgate's HTTP/2 upstream front (TLS)
start_nginx() { # mode port
  local d="$work/nginx-$1" listen
  mkdir -p "$d"
  [ "$1" = h2 ] && listen="127.0.0.1:$2 ssl http2 reuseport; ssl_certificate $work/cert.pem; ssl_certificate_key $work/key.pem" || listen="127.0.0.1:$2 reuseport"
  cat >"$d/nginx.conf" <<NGX
worker_processes 2;
worker_rlimit_nofile $hard;
pid $d/nginx.pid;
error_log $d/error.log warn;
events { worker_connections $((hard - 100)); }
http {
  access_log off;
  client_body_temp_path $d; proxy_temp_path $d; fastcgi_temp_path $d;
  uwsgi_temp_path $d; scgi_temp_path $d;
  upstream mock { server 127.0.0.1:$mport; keepalive 256; }
  keepalive_requests 1000000;
  http2_max_concurrent_streams 1000;
  server {
    listen $listen;
    location / { proxy_pass http://mock; proxy_http_version 1.1;
                 proxy_set_header Connection ""; proxy_buffering off;
                 proxy_read_timeout 300s; }
  }
}
NGX
  nginx -c "$d/nginx.conf" -g 'daemon off;' 2>"$d/stderr" &
  pids+=($!)
  echo $! >"$d/pid"
  for _ in $(seq 50); do
    curl -sf -o /dev/null "http://127.0.0.1:$mport/mock/stats" && [ -n "$(pgrep -P "$(cat "$d/pid")")" ] && break
    sleep 0.1
  done
  sleep 0.3
}

results=()
# one run of the client against `port`; prints "opened events/expected ok|FAILED"
clients() { # port pid key
  python3 tests/mock/many_streams.py --port "$1" --pid "$2" --stats-port "$mport" \
    --key "$3" -n "$n" --delay-ms "$delay" --words "$words" --connect-batch 200 \
    --timeout 600 >"$work/run.out" 2>&1 && res=ok || res=FAILED
  sum=$(tail -1 "$work/run.out")
  [ "$res" = ok ] || { tail -4 "$work/run.out" >&2; }
  python3 -c 'import json,sys;d=json.loads(sys.argv[1]);print("%d %d/%d" % (d["peak_client_open"], d["events"], d["events_expected"]), sys.argv[2])' "$sum" "$res" 2>/dev/null || echo "? ? $res"
}

# ---- baseline: nginx alone as the proxy
if [ "${BASELINE:-1}" != 0 ]; then
ngp=$(free_port)
start_nginx h1 "$ngp"
np=$(cat "$work/nginx-h1/pid")
idle=$(nginx_kib "$np" VmRSS)
read -r opened ev res < <(clients "$ngp" "$np" sk-bench)
peak=$(nginx_kib "$np" VmHWM)
results+=("nginx $opened $ev $idle $peak $res")
kill "$np"; wait "$np" 2>/dev/null || true
fi

# ---- tollgate, its upstream an HTTP/2 provider (nginx h2c in front of the mock)
h2p=$(free_port)
start_nginx h2 "$h2p"
port=$(free_port) adm=$(free_port)
cat >"$work/tg.json" <<CFG
{"listen":"127.0.0.1:$port","workers":${WORKERS:-0},"admin":{"listen":"127.0.0.1:$adm"},
 "store":"sqlite:$work/tg.db","default_provider":"openai",
 "providers":{"openai":{"format":"openai","base_url":"https://127.0.0.1:$h2p","http2":true,
   "ca_file":"$work/cert.pem",
   "api_key_env":"MOCK_KEY","timeouts":{"idle_ms":60000}}}${MAX_HEADER_BYTES:+,
 \"limits\":{\"max_header_bytes\":$MAX_HEADER_BYTES\}}}
CFG
"$tg" teams add bench --config "$work/tg.json" >/dev/null
key=$("$tg" keys create --team bench --config "$work/tg.json" 2>/dev/null)
MOCK_KEY=sk-bench "$tg" serve --config "$work/tg.json" 2>"$work/tg.log" &
tpid=$!
pids+=($tpid)
for _ in $(seq 50); do curl -sf "http://127.0.0.1:$port/healthz" >/dev/null && break; sleep 0.1; done
idle=$(kib "$tpid" VmRSS)
read -r opened ev res < <(clients "$port" "$tpid" "$key")
peak=$(kib "$tpid" VmHWM)
results+=("tollgate $opened $ev $idle $peak $res")
records=$(python3 -c "import sqlite3;print(sqlite3.connect('$work/tg.db').execute(\"select count(*) from requests where streamed=1 and output_tokens>0\").fetchone()[0])" 2>/dev/null || echo "?")

printf '%-9s %8s %8s %16s %10s %10s %10s %s\n' path streams "max open" "events" "idle MiB" \
  "peak MiB" "KiB/stream" result
for r in "${results[@]}"; do
  read -r name o e i p st <<<"$r"
  awk -v nm="$name" -v n="$n" -v o="$o" -v e="$e" -v i="$i" -v p="$p" -v st="$st" \
    'BEGIN {printf "%-9s %8d %8s %16s %10.1f %10.1f %10.1f %s\n", nm, n, o, e, i/1024, p/1024, (p-i)/(o>0?o:n), st}'
done
echo "tollgate: $records streamed records with usage; upstream: HTTP/2 over TLS to nginx; client: tests/mock/many_streams.py; $(date -u +%F)"
