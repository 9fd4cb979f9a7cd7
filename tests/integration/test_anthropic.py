#!/usr/bin/env python3
"""Integration tests of the Anthropic dialect and of translation (issue 7), against mock
vendors speaking each real wire format over real sockets:

- POST /v1/messages passed through to an Anthropic provider (JSON and SSE), x-api-key or
  Bearer virtual keys, anthropic-version required, max_tokens filled when absent, the
  vendor key sent as x-api-key; errors made by tollgate in Anthropic's shape (401, 400,
  404, 413, 429 insufficient quota, 502, 504) and vendor errors translated;
- POST /v1/messages/count_tokens answered locally from tollgate's estimate;
- OpenAI chat requests to an Anthropic model and Anthropic requests to an OpenAI model,
  JSON and streams, translated both ways; untranslatable fields refused with a 400 in the
  caller's dialect and nothing sent upstream;
- an OpenAI-compatible provider configured with its own base_url (".../v1");
- records: the cache tokens (read, 5-minute and 1-hour writes) equal what the mock
  reported, never doubled by message_start + message_delta, priced with the catalog's
  cache prices;
- the official @anthropic-ai/sdk and openai npm SDKs (tests/sdk/anthropic_sdk.mjs).

usage: test_anthropic.py PATH/TO/tollgate PATH/TO/mock_vendor
"""
import json
import os
import shutil
import signal
import sqlite3
import subprocess
import sys
import tempfile

from harness import (VENDOR_KEY, check, free_port, is_openai_error, mock_stats, procs,
                     request, run_main, sse_events, wait_healthy)
import harness

TG, MOCK = sys.argv[1], sys.argv[2]
CACHE_READ, CACHE_5M, CACHE_1H = 100, 40, 20
# USD per million tokens; nano-dollars per token = price * 1000
PRICE = {"input": 3, "cached_input": 0.3, "cache_write": 3.75, "cache_write_1h": 6,
         "output": 15}


def model(provider, upstream, endpoints=("chat", "messages"), **extra):
    m = {"provider": provider, "upstream_model": upstream, "tokenizer": "estimate",
         "estimate_factor": 1.2, "endpoints": list(endpoints), "context_window": 200000,
         "max_output": 8192, "capabilities": ["tools", "vision", "streaming"],
         "prices": [dict(PRICE, effective_from="2025-01-01")]}
    m.update(extra)
    return m


CATALOG = {"catalog_version": "anth-1", "models": {
    "claude-x": model("anthropic", "claude-sonnet-test",
                      capabilities=["tools", "vision", "streaming", "reasoning"]),
    "claude-err": model("anthropic", "claude-err-upstream"),
    "claude-down": model("pdown", "claude-sonnet-test"),
    "claude-hang": model("phang", "claude-sonnet-test"),
    "gpt-x": model("openai", "gpt-4o-mini", endpoints=("chat",), tokenizer="o200k_base",
                   estimate_factor=1, capabilities=["tools", "vision", "streaming", "reasoning"]),
    "gpt-err": model("openai", "gpt-err-upstream", endpoints=("chat",)),
    "compat-x": model("ollama", "llama-test", endpoints=("chat",)),
    "gem-x": model("gemini", "gemini-test", endpoints=("chat",)),
}}


POLICY = {"policy_version": "anth-p1", "aliases": ["openai-first", "anthropic-first"],
          "rules": [{"id": "openai-first", "when": {"model": "openai-first"},
                     "route": {"candidates": ["gpt-x", "claude-x"], "objective": "ordered"}},
                    {"id": "anthropic-first", "when": {"model": "anthropic-first"},
                     "route": {"candidates": ["claude-x", "gpt-x"], "objective": "ordered"}},
                    {"id": "default", "when": {}, "route": {"candidates": ["$requested"]}}]}


def write_json(path, obj):
    with open(path, "w") as f:
        json.dump(obj, f)


def is_anthropic_error(body, etype=None):
    try:
        j = json.loads(body)
    except Exception:
        return False
    e = j.get("error") if isinstance(j, dict) else None
    ok = j.get("type") == "error" and isinstance(e, dict) and isinstance(e.get("message"), str)
    return ok and (etype is None or e.get("type") == etype)


def anth_events(raw):
    """[(event name, data dict)] of an Anthropic SSE body."""
    out = []
    for ev in sse_events(raw):
        name, data = None, None
        for line in ev.split("\n"):
            if line.startswith("event: "):
                name = line[7:]
            elif line.startswith("data: "):
                data = json.loads(line[6:])
        out.append((name, data))
    return out


def chunks(raw):
    evs = sse_events(raw)
    return [json.loads(e[6:]) for e in evs if e.startswith("data: {")], evs


def cost(inp, read, w5, w1, out):
    p = {k: int(v * 1000) for k, v in PRICE.items()}  # nano-dollars per token
    return ((inp - read - w5 - w1) * p["input"] + read * p["cached_input"] +
            w5 * p["cache_write"] + w1 * p["cache_write_1h"] + out * p["output"])


def main():
    tmp = tempfile.mkdtemp(prefix="tg-anth-")
    store = f"sqlite:{tmp}/tollgate.db"
    env = dict(os.environ, TOLLGATE_STORE=store, OPENAI_API_KEY=VENDOR_KEY,
               ANTHROPIC_API_KEY=VENDOR_KEY)
    cache_knobs = (f"x-mock-cache-read-tokens={CACHE_READ}",
                   f"x-mock-cache-write-tokens={CACHE_5M}",
                   f"x-mock-cache-write-1h-tokens={CACHE_1H}")
    ports = {"anthropic": harness.start_mock(MOCK, *cache_knobs, "x-mock-status=529",
                                             "x-mock-fault-models=claude-err-upstream"),
             "openai": harness.start_mock(MOCK, "x-mock-cached-tokens=2", "x-mock-status=429",
                                          "x-mock-fault-models=gpt-err-upstream"),
             "phang": harness.start_mock(MOCK, "x-mock-hang=1")}
    url = lambda n: f"http://127.0.0.1:{ports[n]}"
    providers = {
        "anthropic": {"format": "anthropic", "base_url": url("anthropic"),
                      "api_key_env": "ANTHROPIC_API_KEY"},
        "openai": {"format": "openai", "base_url": url("openai"), "api_key_env": "OPENAI_API_KEY"},
        "ollama": {"format": "openai", "base_url": url("openai") + "/v1",
                   "api_key_env": "OPENAI_API_KEY"},
        "gemini": {"format": "openai", "base_url": url("openai") + "/v1beta/openai",
                   "api_key_env": "OPENAI_API_KEY"},
        "pdown": {"format": "anthropic", "base_url": "http://127.0.0.1:1",
                  "api_key_env": "ANTHROPIC_API_KEY"},
        "phang": {"format": "anthropic", "base_url": url("phang"),
                  "api_key_env": "ANTHROPIC_API_KEY", "timeouts": {"total_ms": 600}},
    }
    cat_path = os.path.join(tmp, "catalog.json")
    write_json(cat_path, CATALOG)
    pol_path = os.path.join(tmp, "policy.json")
    write_json(pol_path, POLICY)
    port = free_port()
    cfg_path = os.path.join(tmp, "tollgate.json")
    write_json(cfg_path, {"listen": f"127.0.0.1:{port}", "admin": {"listen": f"127.0.0.1:{free_port()}"},
                          "store": store, "workers": 2, "providers": providers,
                          "catalog": [cat_path], "policy": pol_path, "limits": {"max_body_bytes": 200000}})
    run = lambda *a, **kw: subprocess.run([TG, *a], env=env, capture_output=True, text=True, **kw)
    r = run("check", "--config", cfg_path)
    check("check passes", r.returncode == 0, (r.stdout, r.stderr))
    run("teams", "add", "ml", "--config", cfg_path)
    run("teams", "add", "poor", "--budget-usd", "0.000001", "--config", cfg_path)
    key = run("keys", "create", "--team", "ml", "--config", cfg_path).stdout.strip()
    poor = run("keys", "create", "--team", "poor", "--config", cfg_path).stdout.strip()
    log_path = os.path.join(tmp, "serve.log")
    tg = subprocess.Popen([TG, "serve", "--config", cfg_path], env=env,
                          stderr=open(log_path, "w"))
    procs.append(tg)
    check("tollgate starts", wait_healthy(port), open(log_path).read())
    ah = {"x-api-key": key, "anthropic-version": "2023-06-01"}
    oh = {"authorization": f"Bearer {key}"}
    msg = {"model": "claude-x", "max_tokens": 64, "system": "be brief",
           "messages": [{"role": "user", "content": "hello there"}]}
    amsg = lambda body, h=None: request(port, "POST", "/v1/messages", body, dict(ah, **(h or {})))
    chat = lambda body, h=None: request(port, "POST", "/v1/chat/completions", body,
                                        dict(oh, **(h or {})))
    expect = {}  # request id -> usage the mock reported, as tollgate must record it

    # ---- /v1/messages passed through to an Anthropic provider
    st, h, b = amsg(msg)
    j = json.loads(b) if st == 200 else {}
    u = j.get("usage", {})
    check("messages json", st == 200 and j.get("type") == "message" and
          j["content"][0]["type"] == "text" and j["content"][0]["text"].startswith("w0"),
          (st, b[:300]))
    check("messages json: cache usage as the vendor sent it",
          u.get("cache_read_input_tokens") == CACHE_READ and
          u.get("cache_creation", {}).get("ephemeral_1h_input_tokens") == CACHE_1H, u)
    expect[h.get("x-tollgate-request-id")] = (u.get("input_tokens", 0), u.get("output_tokens", 0))
    last = mock_stats(ports["anthropic"])["last_request"]
    check("upstream: x-api-key vendor key, anthropic-version, upstream model",
          last["path"] == "/v1/messages" and last["auth_matches_env"] and
          last["headers"].get("anthropic-version") == "2023-06-01" and
          "authorization" not in last["headers"] and
          last["body"].get("model") == "claude-sonnet-test", last)
    betas = ",".join(f"feature-{i:02d}-2025-01-01" for i in range(16))  # 367 bytes
    st, h, b = amsg(msg, {"anthropic-beta": betas})
    last = mock_stats(ports["anthropic"])["last_request"]
    check("a long anthropic-beta list reaches the vendor whole", st == 200 and
          last["headers"].get("anthropic-beta") == betas, (st, last["headers"]))
    before = mock_stats(ports["anthropic"])["requests"]
    st, h, b = amsg(msg, {"anthropic-beta": "x" * 5000})
    check("an anthropic-beta past tollgate's limit: 400 naming it, nothing sent",
          st == 400 and is_anthropic_error(b, "invalid_request_error") and
          b"anthropic-beta" in b and mock_stats(ports["anthropic"])["requests"] == before,
          (st, b[:200]))
    st, h, b = amsg(msg, {"x-api-key": "", "authorization": f"Bearer {key}"})
    check("messages with a Bearer virtual key", st == 200, (st, b[:200]))
    st, h, b = amsg(dict(msg, stream=True))
    evs = anth_events(b)
    names = [n for n, _ in evs]
    check("messages stream passes through", st == 200 and names[0] == "message_start" and
          names[-1] == "message_stop" and "ping" in names and "message_delta" in names and
          "content_block_delta" in names, (st, names))
    start = evs[0][1]["message"]["usage"] if evs and evs[0][1] else {}
    delta = [d for n, d in evs if n == "message_delta"]
    expect[h.get("x-tollgate-request-id")] = (start.get("input_tokens", 0),
                                             delta[0]["usage"]["output_tokens"] if delta else 0)
    check("stream usage: message_start has the cache tokens, message_delta the output",
          start.get("cache_read_input_tokens") == CACHE_READ and delta and
          delta[0]["usage"]["output_tokens"] > 1, (start, delta))
    nomax = {k: v for k, v in msg.items() if k != "max_tokens"}
    st, h, b = amsg(nomax)
    last = mock_stats(ports["anthropic"])["last_request"]["body"]
    check("max_tokens filled from the route's output cap", st == 200 and
          last.get("max_tokens") == 8192, (st, b[:200], last.get("max_tokens")))
    expect[h.get("x-tollgate-request-id")] = tuple(json.loads(b)["usage"][k] for k in
                                                  ("input_tokens", "output_tokens")) \
        if st == 200 else (0, 0)

    # ---- errors made by tollgate on /v1/messages, in Anthropic's shape
    before = mock_stats(ports["anthropic"])["requests"]
    st, h, b = amsg(msg, {"anthropic-version": ""})
    check("no anthropic-version: 400", st == 400 and is_anthropic_error(b, "invalid_request_error")
          and b"anthropic-version" in b, (st, b))
    st, h, b = amsg(msg, {"x-api-key": "tg-wrong"})
    check("bad key: 401 authentication_error", st == 401 and
          is_anthropic_error(b, "authentication_error"), (st, b))
    st, h, b = amsg(dict(msg, model="claude-nope"))
    check("unknown model: 404 not_found_error", st == 404 and
          is_anthropic_error(b, "not_found_error"), (st, b))
    st, h, b = request(port, "POST", "/v1/messages", raw=b"{not json", headers=ah)
    check("bad JSON: 400", st == 400 and is_anthropic_error(b, "invalid_request_error"), (st, b))
    big = dict(msg, messages=[{"role": "user", "content": "x" * 300000}])
    st, h, b = amsg(big)
    check("too large: 413 request_too_large", st == 413 and
          is_anthropic_error(b, "request_too_large"), (st, b[:200]))
    st, h, b = amsg(msg, {"x-api-key": poor})
    check("budget exhausted: 429 rate_limit_error", st == 429 and
          is_anthropic_error(b, "rate_limit_error") and b"budget" in b.lower(), (st, b))
    after = mock_stats(ports["anthropic"])
    check("refused requests never reach the vendor", after["requests"] == before,
          after["recent"][-3:])
    st, h, b = amsg(dict(msg, model="claude-down"))
    check("unreachable upstream: 502 api_error", st == 502 and is_anthropic_error(b, "api_error"),
          (st, b))
    st, h, b = amsg(dict(msg, model="claude-hang"))
    check("upstream timeout: 504 timeout_error", st == 504 and
          is_anthropic_error(b, "timeout_error"), (st, b))
    st, h, b = amsg(dict(msg, model="claude-err"))
    check("vendor error passes through in its own shape", st == 529 and
          is_anthropic_error(b, "overloaded_error"), (st, b))

    # ---- count_tokens: local
    before = mock_stats(ports["anthropic"])["requests"]
    body = {"model": "claude-x", "system": "be brief",
            "messages": [{"role": "user", "content": "count these words please"}]}
    st, h, b = request(port, "POST", "/v1/messages/count_tokens", body, ah)
    raw = int(run("count", "--model", "gpt-4o", "--api", "messages",
                  input=json.dumps(body)).stdout or 0)
    check("count_tokens answered locally with tollgate's estimate", st == 200 and
          json.loads(b) == {"input_tokens": (raw * 1200 + 999) // 1000} and raw > 0 and
          mock_stats(ports["anthropic"])["requests"] == before, (st, b, raw))
    st, h, b = request(port, "POST", "/v1/messages/count_tokens", body,
                       {"anthropic-version": "2023-06-01"})
    check("count_tokens needs a key", st == 401 and is_anthropic_error(b, "authentication_error"),
          (st, b))

    # ---- OpenAI chat -> Anthropic model (translated)
    tools = [{"type": "function", "function": {"name": "get_weather", "description": "weather",
              "parameters": {"type": "object", "properties": {"city": {"type": "string"}}}}}]
    creq = {"model": "claude-x", "max_tokens": 40, "temperature": 0.5, "stop": ["STOP"],
            "tools": tools, "tool_choice": "required",
            "messages": [{"role": "system", "content": "be brief"},
                         {"role": "user", "content": [
                             {"type": "text", "text": "what is this?"},
                             {"type": "image_url",
                              "image_url": {"url": "data:image/png;base64,iVBORw0KGgo="}}]}]}
    st, h, b = chat(creq)
    j = json.loads(b) if st == 200 else {}
    last = mock_stats(ports["anthropic"])["last_request"]
    lb = last["body"]
    check("chat -> anthropic: a chat.completion back", st == 200 and
          j.get("object") == "chat.completion" and
          j["choices"][0]["message"]["content"].startswith("w0") and
          j["choices"][0]["finish_reason"] == "stop", (st, b[:300]))
    check("chat -> anthropic: usage mapped (prompt includes cache, cached = reads)",
          st == 200 and j["usage"]["prompt_tokens"] > CACHE_READ + CACHE_5M + CACHE_1H and
          j["usage"]["prompt_tokens_details"]["cached_tokens"] == CACHE_READ, j.get("usage"))
    if st == 200:
        pt = j["usage"]["prompt_tokens"] - CACHE_READ - CACHE_5M - CACHE_1H
        expect[h.get("x-tollgate-request-id")] = (pt, j["usage"]["completion_tokens"])
    check("chat -> anthropic: request translated", last["path"] == "/v1/messages" and
          lb.get("system") == "be brief" and lb.get("max_tokens") == 40 and
          lb.get("stop_sequences") == ["STOP"] and lb.get("temperature") == 0.5 and
          lb.get("tool_choice") == {"type": "any"} and
          lb["tools"][0]["input_schema"]["properties"]["city"]["type"] == "string" and
          lb["messages"][0]["content"][1]["source"] == {
              "type": "base64", "media_type": "image/png", "data": "iVBORw0KGgo="},
          lb)
    st, h, b = chat({"model": "claude-x", "stream": True,
                     "stream_options": {"include_usage": True},
                     "messages": [{"role": "user", "content": "hi"}]})
    cs, evs = chunks(b)
    text = "".join(c["choices"][0]["delta"].get("content") or "" for c in cs if c["choices"])
    usage = [c["usage"] for c in cs if c.get("usage")]
    check("chat stream -> anthropic: chunks, usage chunk, [DONE]", st == 200 and
          evs[-1] == "data: [DONE]" and text.startswith("w0 w1") and
          cs[0]["object"] == "chat.completion.chunk" and
          any(c["choices"] and c["choices"][0]["finish_reason"] == "stop" for c in cs) and
          len(usage) == 1 and usage[0]["prompt_tokens_details"]["cached_tokens"] == CACHE_READ,
          (st, evs[:3], evs[-3:]))
    if usage:
        expect[h.get("x-tollgate-request-id")] = (
            usage[0]["prompt_tokens"] - CACHE_READ - CACHE_5M - CACHE_1H,
            usage[0]["completion_tokens"])
    before = mock_stats(ports["anthropic"])["requests"]
    for bad, field in [({"n": 2}, b"n other than 1"), ({"logprobs": True}, b"logprobs"),
                       ({"seed": 7}, b"seed"),
                       ({"presence_penalty": 0.5}, b"presence_penalty")]:
        st, h, b = chat(dict(creq, **bad))
        check(f"chat -> anthropic refuses {field.decode()}: 400 OpenAI shape", st == 400 and
              is_openai_error(b, "untranslatable_request") and field in b, (st, b))
    check("untranslatable requests never reach the vendor",
          mock_stats(ports["anthropic"])["requests"] == before)
    st, h, b = chat(dict(creq, model="claude-err"))
    check("anthropic vendor error in OpenAI's shape", st == 529 and is_openai_error(b), (st, b))

    # ---- Anthropic messages -> OpenAI model (translated)
    st, h, b = amsg(dict(msg, model="gpt-x", stop_sequences=["END"], tools=[
        {"name": "get_weather", "description": "weather",
         "input_schema": {"type": "object", "properties": {"city": {"type": "string"}}}}],
        tool_choice={"type": "tool", "name": "get_weather"}))
    j = json.loads(b) if st == 200 else {}
    last = mock_stats(ports["openai"])["last_request"]
    lb = last["body"]
    check("messages -> openai: an Anthropic message back", st == 200 and
          j.get("type") == "message" and j["content"][0]["text"].startswith("w0") and
          j["stop_reason"] == "end_turn" and j["usage"]["cache_read_input_tokens"] == 2 and
          j["usage"]["input_tokens"] > 0,
          (st, b[:300]))
    check("messages -> openai: request translated", last["path"] == "/v1/chat/completions" and
          lb["messages"][0] == {"role": "system", "content": "be brief"} and
          lb.get("stop") == ["END"] and lb.get("max_completion_tokens") == 64 and
          lb["tool_choice"] == {"type": "function", "function": {"name": "get_weather"}} and
          lb["tools"][0]["function"]["parameters"]["type"] == "object" and
          last["headers"].get("authorization", "").startswith("Bearer"), last)
    st, h, b = amsg(dict(msg, model="gpt-x", stream=True))
    evs = anth_events(b)
    names = [n for n, _ in evs]
    text = "".join(d["delta"].get("text", "") for n, d in evs if n == "content_block_delta")
    md = [d for n, d in evs if n == "message_delta"]
    check("messages stream -> openai: Anthropic events", st == 200 and
          names[0] == "message_start" and names[1] == "content_block_start" and
          names[-2:] == ["message_delta", "message_stop"] and text.startswith("w0 w1") and
          md and md[0]["usage"]["output_tokens"] > 0 and
          md[0]["delta"]["stop_reason"] == "end_turn", (st, names))
    lb = mock_stats(ports["openai"])["last_request"]["body"]
    check("messages stream -> openai asks for usage", lb.get("stream_options") ==
          {"include_usage": True}, lb)
    before = mock_stats(ports["openai"])["requests"]
    st, h, b = amsg(dict(msg, model="gpt-x", thinking={"type": "enabled", "budget_tokens": 1024}))
    check("messages -> openai refuses thinking: 400 Anthropic shape", st == 400 and
          is_anthropic_error(b, "invalid_request_error") and b"thinking" in b, (st, b))
    st, h, b = amsg(dict(msg, model="gpt-x", top_k=5))
    check("messages -> openai refuses top_k", st == 400 and is_anthropic_error(b) and
          b"top_k" in b, (st, b))
    check("refused translations never reach the vendor",
          mock_stats(ports["openai"])["requests"] == before)
    st, h, b = amsg(dict(msg, model="gpt-err"))
    check("openai vendor 429 in Anthropic's shape", st == 429 and
          is_anthropic_error(b, "rate_limit_error"), (st, b))

    # ---- a candidate the request cannot be translated for is skipped, like a missing
    # capability: the alias goes on to a model whose dialect can say it
    st, h, b = amsg(dict(msg, model="openai-first"))
    check("alias: first candidate when translatable", st == 200 and
          h.get("x-tollgate-model") == "gpt-x", (st, h.get("x-tollgate-model"), b[:200]))
    before = mock_stats(ports["openai"])["requests"]
    st, h, b = amsg(dict(msg, model="openai-first", thinking={"type": "enabled",
                                                               "budget_tokens": 1024}))
    check("alias: thinking skips the OpenAI model for the Anthropic one", st == 200 and
          h.get("x-tollgate-model") == "claude-x" and not h.get("x-tollgate-attempts") and
          mock_stats(ports["openai"])["requests"] == before and
          mock_stats(ports["anthropic"])["last_request"]["body"].get("thinking"),
          (st, h.get("x-tollgate-model"), b[:200]))
    st, h, b = chat({"model": "anthropic-first", "n": 2,
                     "messages": [{"role": "user", "content": "hi"}]})
    check("alias: n=2 skips the Anthropic model for the OpenAI one", st == 200 and
          h.get("x-tollgate-model") == "gpt-x" and
          mock_stats(ports["openai"])["last_request"]["body"].get("n") == 2,
          (st, h.get("x-tollgate-model"), b[:200]))

    # ---- an OpenAI-compatible vendor configured by base_url (".../v1")
    st, h, b = chat({"model": "compat-x", "messages": [{"role": "user", "content": "hi"}]})
    last = mock_stats(ports["openai"])["last_request"]
    check("openai-compatible provider with base_url .../v1", st == 200 and
          last["path"] == "/v1/chat/completions" and last["body"]["model"] == "llama-test" and
          last["auth_matches_env"], (st, b[:200], last["path"]))

    st, h, b = chat({"model": "gem-x", "messages": [{"role": "user", "content": "hi"}]})
    last = mock_stats(ports["openai"])["last_request"]
    check("Gemini-style base_url .../v1beta/openai: the path follows it (the mock has no such "
          "route: 404 passed on)", st == 404 and
          last["path"] == "/v1beta/openai/chat/completions", (st, last["path"]))

    # ---- the official SDKs (tests/sdk; npm ci on first run)
    sdk_ran = run_sdk(port, key)

    # ---- records: cache tokens equal what the mock reported, priced with cache prices
    tg.send_signal(signal.SIGTERM)
    tg.wait(timeout=15)
    check("clean stop", tg.returncode == 0, open(log_path).read()[-500:])
    db = sqlite3.connect(store[len("sqlite:"):])
    cur = db.execute("SELECT * FROM requests")
    cols = [d[0] for d in cur.description]
    recs = {r["id"]: r for r in (dict(zip(cols, x)) for x in cur.fetchall())}
    for rid, (inp, out) in expect.items():
        r = recs.get(rid)
        want_in = inp + CACHE_READ + CACHE_5M + CACHE_1H
        check(f"record {rid}: tokens as reported, cache counted once", r and
              r["input_tokens"] == want_in and r["cached_input_tokens"] == CACHE_READ and
              r["cache_write_tokens"] == CACHE_5M + CACHE_1H and r["output_tokens"] == out and
              not r["usage_estimated"], (r, inp, out))
        check(f"record {rid}: priced with cache read/5m/1h prices", r and
              r["cost_cached_nusd"] == CACHE_READ * 300 and
              r["cost_cache_write_nusd"] == CACHE_5M * 3750 + CACHE_1H * 6000 and
              r["cost_nusd"] == cost(want_in, CACHE_READ, CACHE_5M, CACHE_1H, out), r)
    check("cache records checked", len(expect) >= 5, len(expect))
    anth = [r for r in recs.values() if r["provider"] == "anthropic" and r["status"] == 200]
    check("every Anthropic answer recorded with the mock's cache tokens", anth and
          all(r["cached_input_tokens"] == CACHE_READ and
              r["cache_write_tokens"] == CACHE_5M + CACHE_1H for r in anth),
          [(r["cached_input_tokens"], r["cache_write_tokens"]) for r in anth])
    check("messages endpoint recorded", any(r["endpoint"] == "messages" for r in anth),
          set(r["endpoint"] for r in anth))
    untrans = [r for r in recs.values() if r["status"] == 400]
    check("untranslatable requests refused before admission: no hold, no record",
          untrans == [], untrans)
    if not sdk_ran:
        print("note: node/npm not available: the SDK checks were skipped", flush=True)


def run_sdk(port, key):
    sdk = os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "sdk")
    sh = lambda *a, **kw: subprocess.run(a, capture_output=True, text=True, **kw)
    if not (shutil.which("node") and shutil.which("npm")):
        return False
    mod = os.path.join(sdk, "node_modules", "@anthropic-ai", "sdk")
    if not os.path.isdir(mod) or not os.path.isdir(os.path.join(sdk, "node_modules", "openai")):
        try:
            r = sh("npm", "ci", "--no-audit", "--no-fund", "--silent", cwd=sdk, timeout=180)
            why = r.returncode == 0 or f"exit {r.returncode}: {r.stderr[-500:]}"
        except subprocess.TimeoutExpired:
            why = "timed out after 180 s"
        check("sdk npm ci", why is True, f"npm ci in {sdk} failed: {why}")
    if not os.path.isdir(mod):
        return False
    try:
        r = sh("node", os.path.join(sdk, "anthropic_sdk.mjs"), timeout=60, env=dict(
            os.environ, TG_BASE_URL=f"http://127.0.0.1:{port}", TG_KEY=key))
    except subprocess.TimeoutExpired as e:
        r = subprocess.CompletedProcess(e.cmd, "timed out after 60 s",
                                        (e.stdout or b"").decode(errors="replace"), "")
    for line in r.stdout.splitlines():
        if line.startswith(("ok ", "not ok ")):
            name, _, detail = line.split("ok ", 1)[1].partition(": ")
            check(f"sdk {name}", line.startswith("ok "), detail)
    check("sdk exit 0", r.returncode == 0, (r.returncode, r.stdout[-300:], r.stderr[-500:]))
    return True


run_main(main)
