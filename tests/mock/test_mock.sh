#!/usr/bin/env bash
# Contract test of the mock vendor upstream (tests/mock/mock_vendor.c): every endpoint's wire
# shape, the SSE event sequences, auth, each x-mock-* knob, /mock/stats and /mock/reset, and
# a clean stop on SIGTERM. Uses curl and python3; talks to 127.0.0.1 only.
# usage: test_mock.sh PATH/TO/mock_vendor
set -u
mock=${1:?usage: test_mock.sh PATH/TO/mock_vendor}
command -v curl >/dev/null || { echo "test_mock.sh: needs curl (apt-get install -y curl)"; exit 1; }
key=sk-mock-vendor-test-key-0123456789
pass=0 fail=0 pid="" pid2=""
tmp=$(mktemp -d)
cleanup() {
  [ -n "$pid" ] && kill "$pid" 2>/dev/null
  [ -n "$pid2" ] && kill "$pid2" 2>/dev/null
  rm -rf "$tmp"
}
trap cleanup EXIT

# ---------------------------------------------------------------- helpers
ok() { pass=$((pass + 1)); }
bad() { fail=$((fail + 1)); echo "FAIL $*"; }

# start_mock OUTVAR ARGS...: starts the mock on port 0, sets $OUTVAR to its port.
start_mock() {
  local var=$1 out="$tmp/out.$1" p="" i; shift
  MOCK_API_KEY=$key "$mock" --port 0 "$@" >"$out" 2>>"$tmp/mock.err" &
  eval "pid_$var=$!"
  for i in $(seq 100); do
    p=$(head -n 1 "$out" 2>/dev/null | sed -n 's/^listening on \([0-9]*\)$/\1/p')
    [ -n "$p" ] && break
    sleep 0.05
  done
  [ -n "$p" ] || { echo "mock did not start: $(cat "$tmp/mock.err")"; exit 1; }
  eval "$var=$p"
}

# python checker: chk.py json|sse FILE EXPR. `d` is the JSON document; `ev` the SSE events
# as dicts {event, data, json}; `names` the event names; `J` is json.loads.
cat >"$tmp/chk.py" <<'PY'
import json, sys
mode, path, expr = sys.argv[1], sys.argv[2], sys.argv[3]
raw = open(path, "rb").read().decode("utf-8", "replace")
env = {"J": json.loads, "raw": raw}
if mode == "json":
    env["d"] = json.loads(raw)
else:
    ev = []
    for block in raw.split("\n\n"):
        if not block.strip():
            continue
        e = {"event": None, "data": None, "json": None}
        for line in block.split("\n"):
            if line.startswith("event: "):
                e["event"] = line[7:]
            elif line.startswith("data: "):
                e["data"] = line[6:]
        try:
            e["json"] = json.loads(e["data"]) if e["data"] not in (None, "[DONE]") else None
        except ValueError:
            pass
        ev.append(e)
    env["ev"] = ev
    env["names"] = [e["event"] for e in ev]
    env["complete"] = raw.endswith("\n\n")
try:
    ok = eval(expr, env)
except Exception as exc:  # a failed lookup is a failed check
    print("  (%s: %s)" % (type(exc).__name__, exc))
    ok = False
sys.exit(0 if ok else 1)
PY

# call ARGS...: curl against the mock; body in $tmp/b, headers in $tmp/h; sets $code, $rc.
call() {
  code=$(curl -sS -N -o "$tmp/b" -D "$tmp/h" -w '%{http_code}' "$@" 2>"$tmp/curl.err"); rc=$?
}
oai() { call "$base$1" -H "Authorization: Bearer $key" -H 'content-type: application/json' "${@:2}"; }
ant() {
  call "$base$1" -H "x-api-key: $key" -H 'anthropic-version: 2023-06-01' \
    -H 'content-type: application/json' "${@:2}"
}
expect_code() { # name, want
  if [ "$code" == "$2" ]; then ok; else bad "$1: status $code (want $2), curl rc $rc: $(head -c 400 "$tmp/b")"; fi
}
expect_json() { # name, python expression over d
  if python3 "$tmp/chk.py" json "$tmp/b" "$2"; then ok; else bad "$1: [$2] on $(head -c 700 "$tmp/b")"; fi
}
expect_sse() { # name, python expression over ev / names
  if python3 "$tmp/chk.py" sse "$tmp/b" "$2"; then ok; else bad "$1: [$2] on $(head -c 900 "$tmp/b")"; fi
}
expect_header() { # name, header regex (case-insensitive)
  if grep -qiE "$2" "$tmp/h"; then ok; else bad "$1: no header matching [$2] in $(tr '\r\n' '  ' <"$tmp/h")"; fi
}
expect_eq() { # name, got, want
  if [ "$2" == "$3" ]; then ok; else bad "$1: got [$2] want [$3]"; fi
}
stats() { curl -sS "$base/mock/stats" >"$tmp/b"; }
# wait_stat NAME EXPR: polls /mock/stats for up to 3 s until EXPR holds.
wait_stat() {
  local i
  for i in $(seq 60); do
    stats
    python3 "$tmp/chk.py" json "$tmp/b" "$2" 2>/dev/null && { ok; return; }
    sleep 0.05
  done
  bad "$1: [$2] on $(head -c 600 "$tmp/b")"
}

start_mock port
base="http://127.0.0.1:$port"
chat='{"model":"gpt-4o-mini","messages":[{"role":"user","content":"abcdefgh"}]}'
chat_stream='{"model":"gpt-4o-mini","stream":true,"messages":[{"role":"user","content":"hi"}]}'
chat_usage='{"model":"gpt-4o-mini","stream":true,"stream_options":{"include_usage":true},"messages":[{"role":"user","content":"hi"}]}'
msg='{"model":"claude-sonnet-4-20250514","max_tokens":100,"system":"abcd","messages":[{"role":"user","content":[{"type":"text","text":"abcdefgh"}]}]}'

# ---------------------------------------------------------------- OpenAI chat completions
oai /v1/chat/completions -d "$chat"
expect_code chat-200 200
expect_header chat-ctype '^content-type: application/json'
expect_header chat-reqid '^x-request-id: req_'
expect_json chat-shape 'd["object"]=="chat.completion" and d["id"].startswith("chatcmpl-") and isinstance(d["created"], int) and d["model"]=="gpt-4o-mini" and "system_fingerprint" in d'
expect_json chat-message 'd["choices"][0]["message"]=={"role":"assistant","content":" ".join("w%d"%i for i in range(16)),"refusal":None,"annotations":[]} and d["choices"][0]["finish_reason"]=="stop" and d["choices"][0]["index"]==0'
expect_json chat-usage 'd["usage"]=={"prompt_tokens":2,"completion_tokens":16,"total_tokens":18,"prompt_tokens_details":{"cached_tokens":0,"audio_tokens":0},"completion_tokens_details":{"reasoning_tokens":0,"audio_tokens":0,"accepted_prediction_tokens":0,"rejected_prediction_tokens":0}}'

oai /v1/chat/completions -d '{"model":"o3-mini","max_tokens":5,"messages":[{"role":"user","content":"x"}]}'
expect_json chat-max-tokens 'd["choices"][0]["message"]["content"]=="w0 w1 w2 w3 w4" and d["choices"][0]["finish_reason"]=="length" and d["usage"]["completion_tokens"]==5'

oai /v1/chat/completions -H 'x-mock-prompt-tokens: 42' -H 'x-mock-cached-tokens: 10' \
  -H 'x-mock-reasoning-tokens: 3' -H 'x-mock-words: 4' -d "$chat"
expect_json chat-usage-knobs 'd["usage"]["prompt_tokens"]==42 and d["usage"]["prompt_tokens_details"]["cached_tokens"]==10 and d["usage"]["completion_tokens"]==7 and d["usage"]["completion_tokens_details"]["reasoning_tokens"]==3 and d["usage"]["total_tokens"]==49 and d["choices"][0]["message"]["content"]=="w0 w1 w2 w3"'

oai /v1/chat/completions -H 'x-mock-reasoning-tokens: 3' \
  -d '{"model":"o3-mini","max_completion_tokens":5,"messages":[{"role":"user","content":"x"}]}'
expect_json chat-reasoning-in-cap 'd["choices"][0]["message"]["content"]=="w0 w1" and d["usage"]["completion_tokens"]==5 and d["choices"][0]["finish_reason"]=="length"'

oai /v1/chat/completions -H 'x-mock-completion-tokens: 999' -d "$chat"
expect_json chat-completion-override 'd["usage"]["completion_tokens"]==999 and d["usage"]["total_tokens"]==1001'

# ---------------------------------------------------------------- chat streaming
oai /v1/chat/completions -H 'x-mock-words: 3' -d "$chat_stream"
expect_code sse-200 200
expect_header sse-ctype '^content-type: text/event-stream'
expect_sse sse-count 'len(ev)==6 and ev[-1]["data"]=="[DONE]" and complete'
expect_sse sse-role 'ev[0]["json"]["choices"][0]["delta"]=={"role":"assistant","content":"","refusal":None} and ev[0]["json"]["object"]=="chat.completion.chunk"'
expect_sse sse-words '"".join(e["json"]["choices"][0]["delta"].get("content","") for e in ev[:-1])=="w0 w1 w2"'
expect_sse sse-finish 'ev[4]["json"]["choices"][0]["finish_reason"]=="stop" and ev[4]["json"]["choices"][0]["delta"]=={} and all(e["json"]["choices"][0]["finish_reason"] is None for e in ev[:4])'
expect_sse sse-no-usage 'all("usage" not in e["json"] for e in ev[:-1])'
expect_sse sse-same-id 'len({e["json"]["id"] for e in ev[:-1]})==1'

oai /v1/chat/completions -H 'x-mock-words: 3' -H 'x-mock-prompt-tokens: 11' -d "$chat_usage"
expect_sse sse-usage-count 'len(ev)==7 and ev[-1]["data"]=="[DONE]"'
expect_sse sse-usage-null 'all(e["json"]["usage"] is None for e in ev[:5])'
expect_sse sse-usage-chunk 'ev[5]["json"]["choices"]==[] and ev[5]["json"]["usage"]["prompt_tokens"]==11 and ev[5]["json"]["usage"]["completion_tokens"]==3 and ev[5]["json"]["usage"]["total_tokens"]==14'

oai /v1/chat/completions -H 'x-mock-words: 20' -H 'x-mock-break-after: 3' -d "$chat_usage"
expect_eq broken-curl-rc "$rc" 18
expect_sse broken-3-events 'len(ev)==3 and all(e["data"]!="[DONE]" for e in ev) and all(e["json"]["usage"] is None for e in ev)'

oai /v1/chat/completions -H 'x-mock-words: 5' -H 'x-mock-stream-error-after: 2' -d "$chat_usage"
expect_eq stream-error-rc "$rc" 0
expect_sse stream-error 'len(ev)==3 and ev[2]["json"]["error"]["type"]=="server_error" and ev[2]["json"]["error"]["code"] is None'

# ---------------------------------------------------------------- legacy completions
oai /v1/completions -d '{"model":"gpt-3.5-turbo-instruct","prompt":"abcdefgh","max_tokens":4}'
expect_json completions 'd["object"]=="text_completion" and d["id"].startswith("cmpl-") and d["choices"][0]["text"]=="w0 w1 w2 w3" and d["choices"][0]["finish_reason"]=="length" and d["usage"]=={"prompt_tokens":2,"completion_tokens":4,"total_tokens":6}'
oai /v1/completions -d '{"model":"gpt-3.5-turbo-instruct","prompt":[1,2,3]}' -H 'x-mock-words: 20'
expect_json completions-default-cap 'd["choices"][0]["finish_reason"]=="length" and d["usage"]["completion_tokens"]==16 and d["usage"]["prompt_tokens"]==3'
oai /v1/completions -H 'x-mock-words: 2' \
  -d '{"model":"gpt-3.5-turbo-instruct","prompt":"hi","stream":true,"stream_options":{"include_usage":true}}'
expect_sse completions-sse 'len(ev)==5 and [e["json"]["choices"][0]["text"] for e in ev[:3]]==["w0"," w1",""] and ev[2]["json"]["choices"][0]["finish_reason"]=="stop" and ev[3]["json"]["choices"]==[] and ev[3]["json"]["usage"]["completion_tokens"]==2 and ev[4]["data"]=="[DONE]"'

# ---------------------------------------------------------------- embeddings
oai /v1/embeddings -d '{"model":"text-embedding-3-small","input":["abcd","efghijkl"],"dimensions":8}'
expect_json embeddings 'd["object"]=="list" and len(d["data"])==2 and d["data"][1]["index"]==1 and d["data"][0]["object"]=="embedding" and len(d["data"][0]["embedding"])==8 and d["usage"]=={"prompt_tokens":3,"total_tokens":3} and d["model"]=="text-embedding-3-small"'
cp "$tmp/b" "$tmp/emb1"
oai /v1/embeddings -d '{"model":"text-embedding-3-small","input":["abcd","efghijkl"],"dimensions":8}'
expect_eq embeddings-deterministic "$(cmp -s "$tmp/b" "$tmp/emb1" && echo same)" same
oai /v1/embeddings -d '{"model":"text-embedding-3-small","input":"abcd","encoding_format":"base64"}'
expect_json embeddings-base64 'len(d["data"])==1 and len(__import__("base64").b64decode(d["data"][0]["embedding"]))==1536*4'

# ---------------------------------------------------------------- responses
oai /v1/responses -H 'x-mock-reasoning-tokens: 2' -H 'x-mock-cached-tokens: 1' \
  -d '{"model":"gpt-5","input":"abcdefgh","instructions":"abcd","max_output_tokens":6}'
expect_json responses-shape 'd["object"]=="response" and d["id"].startswith("resp_") and d["status"]=="incomplete" and d["incomplete_details"]=={"reason":"max_output_tokens"} and d["model"]=="gpt-5"'
expect_json responses-output '[o["type"] for o in d["output"]]==["reasoning","message"] and d["output"][1]["content"][0]["type"]=="output_text" and d["output"][1]["content"][0]["text"]=="w0 w1 w2 w3"'
expect_json responses-usage 'd["usage"]=={"input_tokens":3,"input_tokens_details":{"cached_tokens":1},"output_tokens":6,"output_tokens_details":{"reasoning_tokens":2},"total_tokens":9}'
oai /v1/responses -H 'x-mock-words: 2' -d '{"model":"gpt-5","input":"hi","stream":true}'
expect_sse responses-sse-names 'names==["response.created","response.in_progress","response.output_item.added","response.content_part.added","response.output_text.delta","response.output_text.delta","response.output_text.done","response.content_part.done","response.output_item.done","response.completed"] and all(e["json"]["type"]==e["event"] for e in ev)'
expect_sse responses-sse-seq '[e["json"]["sequence_number"] for e in ev]==list(range(10)) and ev[0]["json"]["response"]["status"]=="in_progress" and ev[0]["json"]["response"]["usage"] is None'
expect_sse responses-sse-text '[e["json"]["delta"] for e in ev[4:6]]==["w0"," w1"] and ev[6]["json"]["text"]=="w0 w1"'
expect_sse responses-sse-usage 'ev[-1]["json"]["response"]["status"]=="completed" and ev[-1]["json"]["response"]["usage"]["output_tokens"]==2 and ev[-1]["json"]["response"]["usage"]["input_tokens"]==1'

# ---------------------------------------------------------------- Anthropic messages
ant /v1/messages -H 'x-mock-cache-read-tokens: 7' -H 'x-mock-cache-write-tokens: 5' \
  -H 'x-mock-cache-write-1h-tokens: 2' -H 'x-mock-words: 3' -d "$msg"
expect_code messages-200 200
expect_header messages-reqid '^request-id: req_'
expect_json messages-shape 'd["type"]=="message" and d["id"].startswith("msg_") and d["role"]=="assistant" and d["model"]=="claude-sonnet-4-20250514" and d["content"]==[{"type":"text","text":"w0 w1 w2"}] and d["stop_reason"]=="end_turn" and d["stop_sequence"] is None'
expect_json messages-usage 'd["usage"]["input_tokens"]==3 and d["usage"]["cache_read_input_tokens"]==7 and d["usage"]["cache_creation_input_tokens"]==7 and d["usage"]["cache_creation"]=={"ephemeral_5m_input_tokens":5,"ephemeral_1h_input_tokens":2} and d["usage"]["output_tokens"]==3'
ant /v1/messages -d '{"model":"claude-sonnet-4-20250514","max_tokens":2,"messages":[{"role":"user","content":"x"}]}'
expect_json messages-max-tokens 'd["stop_reason"]=="max_tokens" and d["usage"]["output_tokens"]==2'
ant /v1/messages -H 'x-mock-words: 2' -H 'x-mock-cache-read-tokens: 4' \
  -d '{"model":"claude-sonnet-4-20250514","max_tokens":100,"stream":true,"messages":[{"role":"user","content":"abcdefgh"}]}'
expect_sse messages-sse-names 'names==["message_start","content_block_start","ping","content_block_delta","content_block_delta","content_block_stop","message_delta","message_stop"] and all(e["json"]["type"]==e["event"] for e in ev)'
expect_sse messages-sse-start 'ev[0]["json"]["message"]["usage"]["input_tokens"]==2 and ev[0]["json"]["message"]["usage"]["cache_read_input_tokens"]==4 and ev[0]["json"]["message"]["usage"]["output_tokens"]==1 and ev[0]["json"]["message"]["usage"]["cache_creation"]=={"ephemeral_5m_input_tokens":0,"ephemeral_1h_input_tokens":0} and ev[0]["json"]["message"]["content"]==[]'
expect_sse messages-sse-deltas '[e["json"]["delta"] for e in ev[3:5]]==[{"type":"text_delta","text":"w0"},{"type":"text_delta","text":" w1"}]'
expect_sse messages-sse-delta 'ev[6]["json"]["delta"]=={"stop_reason":"end_turn","stop_sequence":None} and ev[6]["json"]["usage"]=={"output_tokens":2}'
ant /v1/messages -H 'x-mock-words: 5' -H 'x-mock-stream-error-after: 4' \
  -d '{"model":"claude-sonnet-4-20250514","max_tokens":100,"stream":true,"messages":[]}'
expect_sse messages-sse-error 'names[-1]=="error" and ev[-1]["json"]["error"]["type"]=="overloaded_error" and len(ev)==5'
ant /v1/messages/count_tokens -d "$msg"
expect_json count-tokens 'd=={"input_tokens":3}'
call "$base/v1/messages" -H "x-api-key: $key" -d "$msg"
expect_code messages-needs-version 400
expect_json messages-needs-version-body 'd["type"]=="error" and d["error"]=={"type":"invalid_request_error","message":"anthropic-version: header is required"}'
ant /v1/messages -d '{"model":"claude-sonnet-4-20250514","messages":[]}'
expect_json messages-needs-max-tokens 'd["error"]["message"]=="max_tokens: Field required"'

# ---------------------------------------------------------------- models
oai /v1/models
expect_json models-openai 'd["object"]=="list" and all(m["object"]=="model" for m in d["data"]) and "gpt-4o" in [m["id"] for m in d["data"]]'
call "$base/v1/models" -H "x-api-key: $key" -H 'anthropic-version: 2023-06-01'
expect_json models-anthropic 'd["has_more"] is False and all(m["type"]=="model" for m in d["data"])'
oai /v1/models/gpt-4o
expect_json model-one 'd=={"id":"gpt-4o","object":"model","created":1715367049,"owned_by":"system"}'

# ---------------------------------------------------------------- auth and routing errors
call "$base/v1/chat/completions" -d "$chat"
expect_code auth-missing 401
expect_json auth-missing-body 'd["error"]["message"].startswith("You didn'"'"'t provide an API key") and d["error"]["type"]=="invalid_request_error" and d["error"]["code"] is None'
call "$base/v1/chat/completions" -H 'Authorization: Bearer sk-wrong-key-abcdefghijkl' -d "$chat"
expect_code auth-wrong 401
expect_json auth-wrong-body 'd=={"error":{"message":d["error"]["message"],"type":"invalid_request_error","param":None,"code":"invalid_api_key"}} and d["error"]["message"].startswith("Incorrect API key provided: sk-") and "ijkl." in d["error"]["message"]'
call "$base/v1/messages" -H 'x-api-key: wrong' -H 'anthropic-version: 2023-06-01' -d "$msg"
expect_code auth-anthropic 401
expect_json auth-anthropic-body 'd["type"]=="error" and d["error"]=={"type":"authentication_error","message":"invalid x-api-key"}'
oai /v1/nope -d '{}'
expect_code not-found 404
expect_json not-found-body 'd["error"]["message"]=="Invalid URL (POST /v1/nope)"'
oai /v1/chat/completions -d 'not json'
expect_code bad-json 400
expect_json bad-json-body 'd["error"]["type"]=="invalid_request_error" and "parse the JSON body" in d["error"]["message"]'
oai /v1/chat/completions -d '{"model":"gpt-4o"}'
expect_json missing-messages 'd["error"]["param"]=="messages" and d["error"]["code"]=="missing_required_parameter"'
oai /v1/chat/completions -H 'x-mock-words: lots' -d "$chat"
expect_code bad-knob 400
expect_json bad-knob-body '"x-mock-words" in d["error"]["message"]'

head -c $((9 * 1024 * 1024)) /dev/zero | tr '\0' a >"$tmp/big"
oai /v1/chat/completions --data-binary @"$tmp/big"
expect_code too-big 413
expect_json too-big-body 'd["error"]["type"]=="invalid_request_error" and d["error"]["param"] is None'
oai /v1/chat/completions -H 'Transfer-Encoding: chunked' --data-binary @"$tmp/big"
expect_code too-big-chunked 413

# ---------------------------------------------------------------- injected faults
oai /v1/chat/completions -H 'x-mock-status: 429' -d "$chat"
expect_code openai-429 429
expect_header openai-429-retry-after '^retry-after: 1'
expect_json openai-429-body 'd["error"]["type"]=="requests" and d["error"]["code"]=="rate_limit_exceeded" and d["error"]["param"] is None and d["error"]["message"].startswith("Rate limit reached for gpt-4o-mini")'
oai /v1/chat/completions -H 'x-mock-status: 429' -H 'x-mock-quota: 1' -H 'x-mock-retry-after: 7' -d "$chat"
expect_header openai-429-retry-after-7 '^retry-after: 7'
expect_json openai-429-quota 'd["error"]["type"]=="insufficient_quota" and d["error"]["code"]=="insufficient_quota"'
oai /v1/chat/completions -H 'x-mock-status: 500' -d "$chat_stream"
expect_code openai-500 500
expect_json openai-500-body 'd=={"error":{"message":"The server had an error while processing your request. Sorry about that!","type":"server_error","param":None,"code":None}}'
oai /v1/chat/completions -H 'x-mock-status: 503' -d "$chat"
expect_json openai-503 'd["error"]["type"]=="server_error"'
oai /v1/chat/completions -H 'x-mock-status: 400' -d "$chat"
expect_json openai-400 'd["error"]["type"]=="invalid_request_error"'
ant /v1/messages -H 'x-mock-status: 429' -d "$msg"
expect_code anthropic-429 429
expect_header anthropic-429-retry-after '^retry-after: 1'
expect_json anthropic-429 'd["type"]=="error" and d["error"]["type"]=="rate_limit_error"'
ant /v1/messages -H 'x-mock-status: 529' -d "$msg"
expect_json anthropic-529 'd["error"]=={"type":"overloaded_error","message":"Overloaded"}'
ant /v1/messages -H 'x-mock-status: 500' -d "$msg"
expect_json anthropic-500 'd["error"]["type"]=="api_error"'
oai /v1/chat/completions -H 'x-mock-status: 429' -H 'x-mock-fault-models: gpt-4o, o3-mini' -d "$chat"
expect_code fault-models-skip 200
oai /v1/chat/completions -H 'x-mock-status: 429' -H 'x-mock-fault-models: gpt-4o,gpt-4o-mini' -d "$chat"
expect_code fault-models-hit 429

start=$(date +%s%N)
oai /v1/chat/completions -H 'x-mock-delay-ms: 400' -d "$chat"
ms=$((($(date +%s%N) - start) / 1000000))
expect_code delay-200 200
if [ "$ms" -ge 400 ] && [ "$ms" -lt 3000 ]; then ok; else bad "delay: took ${ms} ms"; fi

start=$(date +%s%N)
oai /v1/chat/completions -H 'x-mock-words: 4' -H 'x-mock-chunk-delay-ms: 100' -d "$chat_stream"
ms=$((($(date +%s%N) - start) / 1000000))
expect_sse paced-complete 'len(ev)==7 and ev[-1]["data"]=="[DONE]"'
if [ "$ms" -ge 600 ] && [ "$ms" -lt 3000 ]; then ok; else bad "chunk delay: 7 events took ${ms} ms"; fi

oai /v1/chat/completions -H 'x-mock-break-after: 10' -d "$chat"
expect_eq cut-json-rc "$rc" 18
expect_eq cut-json-bytes "$(wc -c <"$tmp/b")" 10
oai /v1/chat/completions -H 'x-mock-break-after: 0' -d "$chat"
expect_eq no-reply-rc "$rc" 52

# ---------------------------------------------------------------- stats: aborts, last request
curl -sS -X POST "$base/mock/reset" >/dev/null
stats
expect_json reset 'd["requests"]==0 and d["last_request"] is None and d["recent"]==[] and d["streams_open"]==0'

oai /v1/chat/completions -m 0.5 -H 'x-mock-hang: 1' -d "$chat"
expect_eq hang-times-out "$rc" 28
wait_stat hang-abort-counted 'd["requests_aborted_by_client"]==1 and d["by_status"]=={"0":1}'

oai /v1/chat/completions -m 0.6 -H 'x-mock-words: 50' -H 'x-mock-chunk-delay-ms: 100' -d "$chat_stream"
expect_eq abort-times-out "$rc" 28
expect_sse abort-partial 'len(ev)>=3 and all(e["data"]!="[DONE]" for e in ev)'
wait_stat stream-abort-counted 'd["streams_aborted_by_client"]==1 and d["streams_open"]==0'

oai /v1/chat/completions -m 0.5 -H 'x-mock-stall-after: 2' -d "$chat_stream"
expect_sse stall-2-events 'len(ev)==2'
wait_stat stall-abort-counted 'd["streams_aborted_by_client"]==2 and d["streams_open"]==0'

oai /v1/chat/completions -H 'x-mock-break-after: 2' -d "$chat_stream"
wait_stat broken-counted 'd["streams_broken"]==1'

curl -sN -o /dev/null "$base/v1/chat/completions" -H "Authorization: Bearer $key" \
  -H 'x-mock-words: 40' -H 'x-mock-chunk-delay-ms: 100' -d "$chat_stream" &
bg=$!
wait_stat stream-open-gauge 'd["streams_open"]==1'
wait $bg
wait_stat stream-completed 'd["streams_open"]==0 and d["streams_completed"]==1'

oai /v1/chat/completions -H 'X-Custom: yes' -d "$chat"
stats
expect_json last-request 'd["last_request"]["path"]=="/v1/chat/completions" and d["last_request"]["method"]=="POST" and d["last_request"]["body"]["model"]=="gpt-4o-mini"'
expect_json last-request-auth 'd["last_request"]["auth_matches_env"] is True and d["last_request"]["auth_key_prefix"]=="sk-mock-" and d["last_request"]["headers"]["authorization"]=="Bearer s..." and d["last_request"]["headers"]["x-custom"]=="yes"'
expect_json stats-counts 'd["requests"]==6 and d["by_path"]=={"/v1/chat/completions":6} and d["recent"][-1]["model"]=="gpt-4o-mini" and d["recent"][-1]["status"]==200'
call "$base/v1/chat/completions" -H 'Authorization: Bearer sk-other' -d "$chat"
stats
expect_json last-request-wrong-key 'd["last_request"]["auth_matches_env"] is False and d["last_request"]["auth_key_prefix"]=="sk-other"'

oai /v1/chat/completions -d 'plain text body'
stats
expect_json last-request-raw-body 'd["last_request"]["body"]=="plain text body"'

# ---------------------------------------------------------------- --knob defaults, clean stop
"$mock" --port 0 --knob x-mock-wrods=3 >/dev/null 2>&1
expect_eq knob-typo-exit "$?" 2
start_mock port2 --knob x-mock-words=2 --knob x-mock-prompt-tokens=9
call "http://127.0.0.1:$port2/v1/chat/completions" -H "Authorization: Bearer $key" -d "$chat"
expect_json knob-default 'd["choices"][0]["message"]["content"]=="w0 w1" and d["usage"]["prompt_tokens"]==9'
call "http://127.0.0.1:$port2/v1/chat/completions" -H "Authorization: Bearer $key" -H 'x-mock-words: 3' -d "$chat"
expect_json knob-header-wins 'd["choices"][0]["message"]["content"]=="w0 w1 w2"'
pid2=$pid_port2

# a suspended stream and a hanging request are open while the mock is stopped
curl -sN -o /dev/null -m 5 "$base/v1/chat/completions" -H "Authorization: Bearer $key" \
  -H 'x-mock-chunk-delay-ms: 1000' -d "$chat_stream" &
c1=$!
curl -s -o /dev/null -m 5 "$base/v1/chat/completions" -H "Authorization: Bearer $key" \
  -H 'x-mock-hang: 1' -d "$chat" &
c2=$!
sleep 0.3
pid=$pid_port
kill -TERM "$pid"
wait "$pid"; st=$?
pid=""
expect_eq sigterm-exit "$st" 0
wait "$c1" "$c2"
kill -TERM "$pid2"; wait "$pid2"; pid2=""

if [ -s "$tmp/mock.err" ] && grep -qiE 'sanitizer|runtime error|leak' "$tmp/mock.err"; then
  bad "sanitizer report: $(head -c 2000 "$tmp/mock.err")"
fi
echo "$pass passed, $fail failed"
[ "$fail" -eq 0 ]
