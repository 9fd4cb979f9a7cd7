#!/usr/bin/env bash
# Proxy benchmark: requests per second and added latency, side by side in one run:
#   direct  - wrk -> upstream (nginx answering a chat completion with `return 200`)
#   nginx   - wrk -> nginx reverse proxy (keep-alive upstream pool, its own nginx process
#             with one worker per core, as tollgate has) -> upstream (another nginx process)
#   nginx-self - informative: the same reverse proxy as a server block inside the upstream's
#             own nginx worker, so the proxy hop never crosses processes (no wake-up of
#             another process per request); no real deployment proxies to itself, so the
#             targets are read against `nginx`, but the figure is printed beside it
#   floor   - wrk -> bench_floor (libmicrohttpd + libcurl in tollgate's loop shape, and
#             nothing else: no auth, parsing, routing, quota or record) -> upstream; and at
#             one connection its parts: libmicrohttpd answering alone (beside nginx's
#             `return 200`), and libmicrohttpd with one blocking libcurl call per request
#   tollgate- wrk -> tollgate (auth, JSON parse, token count, route, quota admission with a
#             durable reservation, settlement into the ledger, metrics) -> upstream
# Quotas are on: the team has a USD budget (large enough for the run) and rpm / tpm limits,
# its key a USD budget of its own, so every request is checked against both and settled.
# Load: wrk on the same 2-core machine, POST of a small chat request.  Figures are medians
# of RUNS runs (default 3) of DURATION seconds (default 8) each, the paths interleaved.
# An added-latency ratio is printed as n/a when nginx's own added p50 is under 5 us (on some
# machines nginx's proxy hop costs nothing measurable at one connection: a ratio over it
# would be noise).
# With TG_BASE=/path/to/another/tollgate (an older build, say), that binary runs too, on a
# ledger of its own, as the path `tollgate-base`, interleaved with the rest: a change's
# effect measured in one run, against the same noise.
#
# usage: bash bench/proxy.sh     (needs a build in ./build, nginx and wrk from Debian)
#        TG_BASE=/tmp/old/build/proxy/tollgate RUNS=5 bash bench/proxy.sh
set -euo pipefail
cd "$(dirname "$0")/.."
runs=${RUNS:-3}
dur=${DURATION:-8}
tg=$PWD/build/proxy/tollgate
base=${TG_BASE:-}
[ -z "$base" ] || [ -x "$base" ] || { echo "bench/proxy.sh: TG_BASE=$base is not an executable"; exit 1; }
work=$(mktemp -d)
pids=()
cleanup() { for p in "${pids[@]}"; do kill "$p" 2>/dev/null || true; done; rm -rf "$work"; }
trap cleanup EXIT
for c in nginx wrk; do command -v $c >/dev/null || { echo "bench/proxy.sh: needs $c (apt-get install nginx-light wrk)"; exit 1; }; done

up=18901 ng=18902 tgp=18903 adm=18904 flp=18905 orp=18906 blp=18907 ngs=18908 tbp=18909 tba=18910
body='{"id":"chatcmpl-bench","object":"chat.completion","created":1700000000,"model":"gpt-4o-mini","choices":[{"index":0,"message":{"role":"assistant","content":"w0 w1 w2 w3","refusal":null},"finish_reason":"stop"}],"usage":{"prompt_tokens":12,"completion_tokens":4,"total_tokens":16,"prompt_tokens_details":{"cached_tokens":0},"completion_tokens_details":{"reasoning_tokens":0}}}'
# the upstream, and nginx-self: one nginx process with one worker
cat >"$work/nginx.conf" <<NGX
worker_processes 1;
pid $work/nginx.pid;
error_log $work/error.log;
events { worker_connections 4096; }
http {
  access_log off;
  upstream up { server 127.0.0.1:$up; keepalive 64; }
  server { listen 127.0.0.1:$up; location / { default_type application/json; return 200 '$body'; } }
  server { listen 127.0.0.1:$ngs; location / { proxy_pass http://up; proxy_http_version 1.1;
           proxy_set_header Connection ""; } }
}
NGX
# the nginx reverse proxy: a process of its own, one worker per core
cat >"$work/proxy.conf" <<NGX
worker_processes auto;
pid $work/proxy.pid;
error_log $work/proxy-error.log;
events { worker_connections 4096; }
http {
  access_log off;
  upstream up { server 127.0.0.1:$up; keepalive 64; }
  server { listen 127.0.0.1:$ng; location / { proxy_pass http://up; proxy_http_version 1.1;
           proxy_set_header Connection ""; } }
}
NGX
nginx -c "$work/nginx.conf" -g 'daemon off;' &
pids+=($!)
nginx -c "$work/proxy.conf" -g 'daemon off;' &
pids+=($!)
export OPENAI_API_KEY=sk-bench
start_tg() { # binary name port admin-port: config, team, key (into $work/NAME.key), serve
  cat >"$work/$2.json" <<CFG
{"listen":"127.0.0.1:$3","workers":${WORKERS:-0},"admin":{"listen":"127.0.0.1:$4"},"store":"sqlite:$work/$2.db",
 "providers":{"openai":{"format":"openai","base_url":"http://127.0.0.1:$up","api_key_env":"OPENAI_API_KEY"}}}
CFG
  "$1" teams add bench --budget-usd 1000000 --period month --rpm 1000000000 --tpm 1000000000000 \
    --config "$work/$2.json" >/dev/null
  "$1" keys create --team bench --budget-usd 500000 --config "$work/$2.json" 2>/dev/null >"$work/$2.key"
  "$1" serve --config "$work/$2.json" 2>"$work/$2.log" &
  pids+=($!)
}
start_tg "$tg" tg $tgp $adm
key=$(cat "$work/tg.key")
[ -z "$base" ] || start_tg "$base" tgb $tbp $tba
for m in multi:$flp origin:$orp blocking:$blp; do
  FLOOR_MODE=${m%:*} "$PWD/build/bench/bench_floor" ${m#*:} "http://127.0.0.1:$up/v1/chat/completions" ${WORKERS:-} &
  pids+=($!)
done
sleep 1
post_lua() { # key file
  cat >"$2" <<LUA
wrk.method = "POST"
wrk.body = '{"model":"gpt-4o-mini","messages":[{"role":"user","content":"Say hello in four words."}]}'
wrk.headers["Content-Type"] = "application/json"
wrk.headers["Authorization"] = "Bearer $1"
LUA
}
post_lua "$key" "$work/post.lua"
[ -z "$base" ] || post_lua "$(cat "$work/tgb.key")" "$work/post-tgb.lua"
for port in $up $ng $ngs $flp $orp $blp $tgp ${base:+$tbp}; do
  k=$key; [ "$port" = $tbp ] && k=$(cat "$work/tgb.key")
  code=$(curl -s -o /dev/null -w '%{http_code}' -H "Authorization: Bearer $k" \
         -d '{"model":"gpt-4o-mini","messages":[{"role":"user","content":"hi"}]}' \
         "http://127.0.0.1:$port/v1/chat/completions" || true)
  [ "$code" = 200 ] || { echo "bench/proxy.sh: port $port answered $code"; cat "$work/tg.log"; exit 1; }
done
hdr=$(curl -s -D - -o /dev/null -H "Authorization: Bearer $key" \
      -d '{"model":"gpt-4o-mini","messages":[{"role":"user","content":"hi"}]}' \
      "http://127.0.0.1:$tgp/v1/chat/completions" | tr -d '\r')
grep -q '^x-tollgate-budget-remaining-usd: ' <<<"$hdr" && grep -q '^x-ratelimit-limit-requests: ' <<<"$hdr" ||
  { echo "bench/proxy.sh: tollgate answered without its quota headers (quotas off?)"; exit 1; }

# one wrk run: prints "rps p50_us"
one() { # port connections threads
  local lua=$work/post.lua
  [ "$1" = $tbp ] && lua=$work/post-tgb.lua
  wrk -t"$3" -c"$2" -d"${dur}s" --latency -s "$lua" "http://127.0.0.1:$1/v1/chat/completions" |
    awk '/Requests\/sec/ {rps=$2} /^ +50%/ {v=$2; u=1; if (v ~ /us$/) u=1; else if (v ~ /ms$/) u=1000; else if (v ~ /s$/) u=1000000; sub(/[a-z]+$/,"",v); p50=v*u}
         END {printf "%.0f %.0f\n", rps, p50}'
}
median() { sort -n | awk '{a[NR]=$1} END {print a[int((NR+1)/2)]}'; }

# Runs are interleaved (run 1 of every path, then run 2, ...), so a slow spell of this
# shared machine falls on every path alike rather than on whichever ran then.
declare -A rps lat r16 l1
portof() { case $1 in direct) echo $up;; nginx) echo $ng;; nginx-self) echo $ngs;;
  floor) echo $flp;; tollgate) echo $tgp;; origin) echo $orp;; blocking) echo $blp;;
  tollgate-base) echo $tbp;; esac; }
paths="direct nginx nginx-self floor tollgate${base:+ tollgate-base}"
for i in $(seq "$runs"); do
  for name in $paths; do
    r16[$name]+="$(one "$(portof $name)" 16 2 | cut -d' ' -f1) "
    l1[$name]+="$(one "$(portof $name)" 1 1 | cut -d' ' -f2) "
  done
  # the floor's parts, at one connection: libmicrohttpd answering by itself (beside
  # nginx's `return 200`, the direct path), and one blocking libcurl call in the handler
  for name in origin blocking; do
    l1[$name]+="$(one "$(portof $name)" 1 1 | cut -d' ' -f2) "
  done
done
for name in $paths origin blocking; do
  [ -n "${r16[$name]:-}" ] && rps[$name]=$(printf '%s\n' ${r16[$name]} | median)
  lat[$name]=$(printf '%s\n' ${l1[$name]} | median)
done
echo "each run, req/s @16 conn: tollgate ${r16[tollgate]}| nginx ${r16[nginx]}"
echo "each run, p50 us @1 conn: tollgate ${l1[tollgate]}| nginx ${l1[nginx]}| direct ${l1[direct]}"
echo "each run, tollgate/nginx: throughput $(paste <(printf '%s\n' ${r16[tollgate]}) \
  <(printf '%s\n' ${r16[nginx]}) | awk '{printf "%.2f ", $1/$2}')| added latency $(paste \
  <(printf '%s\n' ${l1[tollgate]}) <(printf '%s\n' ${l1[nginx]}) <(printf '%s\n' ${l1[direct]}) |
  awk '{d = $2 - $3; if (d >= 5) printf "%.2f ", ($1 - $3) / d; else printf "n/a "}')"
records=$(python3 -c "import sqlite3;print(sqlite3.connect('$work/tg.db').execute('select count(*) from requests').fetchone()[0])" 2>/dev/null || echo "?")
printf '%-13s %14s %16s %18s\n' path "req/s @16 conn" "p50 us @1 conn" "added p50 us"
for name in $paths; do
  add=$(( ${lat[$name]} - ${lat[direct]} ))
  printf '%-13s %14s %16s %18s\n' "$name" "${rps[$name]}" "${lat[$name]}" "$add"
done
awk -v t="${rps[tollgate]}" -v n="${rps[nginx]}" -v lt="${lat[tollgate]}" -v ln="${lat[nginx]}" -v ld="${lat[direct]}" \
  'function ratio(a, b) { return b >= 5 ? sprintf("%.2f", a / b) : "n/a" }
   BEGIN {printf "tollgate/nginx throughput: %.2f   tollgate/nginx added latency: %s\n", t/n, ratio(lt-ld, ln-ld)}'
awk -v t="${rps[tollgate]}" -v n="${rps[nginx-self]}" -v lt="${lat[tollgate]}" -v ln="${lat[nginx-self]}" -v ld="${lat[direct]}" \
  'function ratio(a, b) { return b >= 5 ? sprintf("%.2f", a / b) : "n/a" }
   BEGIN {printf "(informative) tollgate/nginx-self throughput: %.2f   added latency: %s\n", t/n, ratio(lt-ld, ln-ld)}'
awk -v t="${rps[floor]}" -v n="${rps[nginx]}" -v lt="${lat[floor]}" -v ln="${lat[nginx]}" -v ld="${lat[direct]}" \
  'function ratio(a, b) { return b >= 5 ? sprintf("%.2f", a / b) : "n/a" }
   BEGIN {printf "floor/nginx throughput:    %.2f   floor/nginx added latency:    %s  (libmicrohttpd + libcurl alone)\n", t/n, ratio(lt-ld, ln-ld)}'
[ -z "$base" ] || echo "tollgate/tollgate-base ($base): each run, throughput $(paste \
  <(printf '%s\n' ${r16[tollgate]}) <(printf '%s\n' ${r16[tollgate-base]}) | awk '{printf "%.2f ", $1/$2}')|" \
  "p50 at 1 conn $(paste <(printf '%s\n' ${l1[tollgate]}) <(printf '%s\n' ${l1[tollgate-base]}) |
  awk '{printf "%+d ", $1 - $2}')us; medians: throughput $(awk -v a="${rps[tollgate]}" \
  -v b="${rps[tollgate-base]}" 'BEGIN {printf "%.3f", a/b}'), p50 $(( ${lat[tollgate]} - ${lat[tollgate-base]} )) us"
echo "the floor's parts, p50 us at 1 conn: libmicrohttpd answering alone ${lat[origin]} (nginx answering alone: ${lat[direct]});" \
  "libmicrohttpd + one blocking libcurl call: ${lat[blocking]}, added $(( ${lat[blocking]} - ${lat[direct]} )) against nginx's $(( ${lat[nginx]} - ${lat[direct]} ))"
echo "records written by tollgate during the run: $records (median of $runs runs x ${dur}s; wrk on the same machine)"
python3 - "$work/tg.db" <<'PY' || true
import sqlite3, sys
db = sqlite3.connect(sys.argv[1])
rows = dict(db.execute("SELECT state, count(*) FROM requests GROUP BY state").fetchall())
print("ledger rows by state (quotas on):", ", ".join(f"{k} {v}" for k, v in sorted(rows.items())))
PY
