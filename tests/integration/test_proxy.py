#!/usr/bin/env python3
"""Integration tests of `tollgate serve` against the mock vendor (tests/mock), over real
sockets on 127.0.0.1.  Python standard library only.

Starts several mock vendors (normal, and one per fault: 429, 500, hang, broken stream, slow
stream), a tollgate with one provider per mock, a team and a key in a temporary SQLite
store; then checks pass-through (JSON byte for byte, SSE with and without include_usage),
every error path in OpenAI's shape (including the header-size and connection-count limits,
the latter on a second tollgate), upstream faults, a client leaving mid-stream, and the
records written to the store.

usage: test_proxy.py PATH/TO/tollgate PATH/TO/mock_vendor
Prints "N passed, M failed" and exits non-zero on any failure.
"""
import json
import os
import signal
import socket
import sqlite3
import subprocess
import sys
import tempfile
import time

from harness import (ADMIN_TOKEN, VENDOR_KEY, check, free_port, is_openai_error, mock_stats,
                     procs, request, results, run_main, sse_events, wait_healthy)
import harness

TG, MOCK = sys.argv[1], sys.argv[2]


def start_mock(*knobs):
    return harness.start_mock(MOCK, *knobs)


def serve(cfg_path, env, port, **popen):
    """Starts `tollgate serve` and waits until its /healthz answers."""
    p = subprocess.Popen([TG, "serve", "--config", cfg_path], env=env, **popen)
    procs.append(p)
    if not wait_healthy(port):
        raise RuntimeError(f"tollgate serve --config {cfg_path} did not answer /healthz "
                           f"(exit status {p.poll()})")
    return p


def main():
    tmp = tempfile.mkdtemp(prefix="tg-it-")
    store = f"sqlite:{tmp}/tollgate.db"
    env = dict(os.environ, TOLLGATE_STORE=store, OPENAI_API_KEY=VENDOR_KEY,
               TG_TEST_VENDOR_KEY=VENDOR_KEY, TOLLGATE_ADMIN_TOKEN=ADMIN_TOKEN)
    ports = {
        "openai": start_mock(),
        "p429": start_mock("x-mock-status=429"),
        "p500": start_mock("x-mock-status=500"),
        "phang": start_mock("x-mock-hang=1"),
        "pbreak": start_mock("x-mock-break-after=3", "x-mock-words=40"),
        "pslow": start_mock("x-mock-chunk-delay-ms=100", "x-mock-words=200"),
        "pstall": start_mock("x-mock-stall-after=0"),
    }
    providers = {name: {"format": "openai", "base_url": f"http://127.0.0.1:{port}",
                        "api_key_env": "OPENAI_API_KEY",
                        "timeouts": {"first_byte_ms": 1500, "idle_ms": 3000}}
                 for name, port in ports.items()}
    providers["pdown"] = {"format": "openai", "base_url": "http://127.0.0.1:1",
                          "api_key_env": "OPENAI_API_KEY"}
    providers["pnokey"] = {"format": "openai", "base_url": f"http://127.0.0.1:{ports['openai']}",
                           "api_key_env": "TG_TEST_UNSET_KEY"}
    port, admin = free_port(), free_port()
    cfg = {"listen": f"127.0.0.1:{port}", "admin": {"listen": f"127.0.0.1:{admin}"},
           "store": store, "workers": 2, "providers": providers,
           "limits": {"max_body_bytes": 65536}}
    cfg_path = os.path.join(tmp, "tollgate.json")
    with open(cfg_path, "w") as f:
        json.dump(cfg, f)

    run = lambda *a: subprocess.run([TG, *a], env=env, capture_output=True, text=True)
    check("team add", run("teams", "add", "ml", "--config", cfg_path).returncode == 0)
    key = run("keys", "create", "--team", "ml", "--config", cfg_path).stdout.strip()
    check("key create", key.startswith("tg-"), key)
    revoked = run("keys", "create", "--team", "ml", "--config", cfg_path).stdout.strip()
    rid = [k for k in json.loads(run("keys", "list", "--format", "json", "--config",
                                     cfg_path).stdout)
           if revoked.startswith(k["prefix"])][0]["id"]
    check("key revoke", run("keys", "revoke", rid, "--config", cfg_path).returncode == 0)

    tg = serve(cfg_path, env, port, stderr=subprocess.PIPE, text=True)
    auth = {"authorization": f"Bearer {key}"}
    chat = {"model": "gpt-4o-mini", "messages": [{"role": "user", "content": "hello there"}]}

    # ---- local answers and errors made by tollgate
    st, h, b = request(port, "GET", "/healthz")
    check("healthz", st == 200 and json.loads(b)["status"] == "ok", b)
    st, h, b = request(port, "POST", "/v1/chat/completions", chat)
    check("no key 401", st == 401 and is_openai_error(b, "missing_api_key"), (st, b))
    st, h, b = request(port, "POST", "/v1/chat/completions", chat,
                       {"authorization": "Bearer tg-wrong"})
    check("wrong key 401", st == 401 and is_openai_error(b, "invalid_api_key"), (st, b))
    check("wrong key not echoed", b"tg-wrong" not in b, b)
    st, h, b = request(port, "POST", "/v1/chat/completions", chat,
                       {"authorization": f"Bearer {revoked}"})
    check("revoked key 401", st == 401 and b"revoked" in b and revoked.encode() not in b, b)
    st, h, b = request(port, "POST", "/v1/nope", chat, auth)
    check("unknown path 404", st == 404 and is_openai_error(b, "unknown_url"), (st, b))
    st, h, b = request(port, "GET", "/v1/chat/completions", None, auth)
    check("wrong method 405", st == 405 and is_openai_error(b), (st, b))
    st, h, b = request(port, "POST", "/v1/chat/completions", None, auth, raw=b"{not json")
    check("bad json 400", st == 400 and is_openai_error(b), (st, b))
    st, h, b = request(port, "POST", "/v1/chat/completions", None, auth,
                       raw=b'{"model":"gpt-4o","stream":false,"stream":true,'
                           b'"messages":[{"role":"user","content":"hi"}]}')
    check("duplicate key 400", st == 400 and is_openai_error(b, "duplicate_key") and
          b'"stream"' in b.replace(b'\\"', b'"'), (st, b))
    st, h, b = request(port, "POST", "/v1/chat/completions", {"messages": []}, auth)
    check("no model 400", st == 400 and b"model" in b, (st, b))
    st, h, b = request(port, "POST", "/v1/chat/completions",
                       {"model": "gpt-4o", "messages": [{"role": "user", "content": 5}]}, auth)
    check("bad shape 400 names path", st == 400 and b"messages[0].content" in b, (st, b))
    st, h, b = request(port, "POST", "/v1/chat/completions", None, auth,
                       raw=b'{"model":"gpt-4o","messages":[{"role":"user","content":"' +
                       b"x" * 70000 + b'"}]}')
    check("too large 413", st == 413 and is_openai_error(b, "request_too_large"), (st, b[:200]))
    st, h, b = request(port, "POST", "/v1/chat/completions",
                       dict(chat, model="pnokey/gpt-4o"), auth)
    check("provider without key 502", st == 502 and b"TG_TEST_UNSET_KEY" in b, (st, b))
    st, h, b = request(port, "POST", "/v1/chat/completions", chat,
                       dict(auth, **{"x-big": "a" * 12000}))
    check("headers over max_header_bytes 431", st == 431 and
          is_openai_error(b, "request_headers_too_large") and b"8192" in b, (st, b[:200]))
    st, h, b = request(port, "POST", "/v1/chat/completions", chat,
                       dict(auth, **{"x-big": "a" * 40000}))
    check("headers beyond MHD's pool 431", st == 431, (st, b[:200]))
    check("no upstream reached on errors", mock_stats(ports["openai"])["requests"] == 0,
          mock_stats(ports["openai"]))

    # ---- connection limit: a second tollgate allowing 2 connections
    port2 = free_port()
    cfg2 = dict(cfg, listen=f"127.0.0.1:{port2}", admin={"listen": f"127.0.0.1:{free_port()}"},
                store=f"sqlite:{tmp}/limits.db", limits={"max_connections": 2})
    cfg2_path = os.path.join(tmp, "limits.json")
    with open(cfg2_path, "w") as f:
        json.dump(cfg2, f)
    # a ledger of its own (one serve per SQLite ledger: the environment names the store)
    tg2 = serve(cfg2_path, dict(env, TOLLGATE_STORE=cfg2["store"]), port2,
                stderr=subprocess.DEVNULL)
    adm2 = {"authorization": f"Bearer {ADMIN_TOKEN}"}

    def open_conns():
        m = request(cfg2["admin"]["listen"].split(":")[1], "GET", "/metrics", headers=adm2)[2]
        return [int(l.split()[1]) for l in m.decode().splitlines()
                if l.startswith("tollgate_open_connections ")][0]

    def settle_conns(want, limit=10.0):
        """Waits until tollgate counts `want` open connections (a loaded machine may
        process the close of the health check's connection late)."""
        end = time.time() + limit
        while open_conns() != want and time.time() < end:
            time.sleep(0.05)
        return open_conns()

    settle_conns(0)  # the health check's connection is closed and uncounted
    held = [socket.create_connection(("127.0.0.1", port2)) for _ in range(2)]
    check("two connections counted", settle_conns(2) == 2)
    st, h, b = request(port2, "POST", "/v1/chat/completions", chat, auth)
    check("connection over max_connections 503", st == 503 and
          is_openai_error(b, "connection_limit_reached") and
          h.get("connection", "").lower() == "close" and "retry-after" in h, (st, h, b))
    held[0].sendall(b"GET /healthz HTTP/1.1\r\nHost: x\r\n\r\n")
    got = held[0].recv(4096)
    check("connections within the limit served", got.startswith(b"HTTP/1.1 200"), got[:200])
    for s in held:
        s.close()
    time.sleep(0.2)
    st, h, b = request(port2, "GET", "/healthz")
    check("served again under the limit", st == 200, (st, b))
    tg2.terminate()
    tg2.wait(timeout=15)

    # ---- admin listener
    st, h, b = request(admin, "GET", "/healthz")
    check("admin healthz", st == 200, (st, b))
    st, h, b = request(admin, "GET", "/metrics")
    check("admin metrics needs token", st == 401, (st, b))
    st, h, b = request(admin, "GET", "/metrics", headers={"authorization": "Bearer nope"})
    check("admin wrong token", st == 401, (st, b))
    adm = {"authorization": f"Bearer {ADMIN_TOKEN}"}
    st, h, b = request(admin, "GET", "/config", headers=adm)
    conf = json.loads(b) if st == 200 else {}
    check("admin config", st == 200 and conf["providers"]["openai"]["api_key_env"] ==
          "OPENAI_API_KEY" and conf["providers"]["openai"]["api_key_set"] is True, (st, b))
    check("admin config has no secret", VENDOR_KEY.encode() not in b and
          ADMIN_TOKEN.encode() not in b, b[:200])
    st, h, b = request(admin, "GET", "/metrics", headers=adm)
    check("admin metrics", st == 200 and b'tollgate_requests_total{endpoint="chat_completions"'
          b',code="4xx"}' in b, (st, b[:300]))

    # ---- JSON pass-through
    st, h, b = request(port, "POST", "/v1/chat/completions", chat, auth)
    j = json.loads(b)
    check("chat 200", st == 200 and j["object"] == "chat.completion", (st, b))
    check("usage passed", j["usage"]["prompt_tokens"] > 0, j.get("usage"))
    check("request id header", h.get("x-tollgate-request-id", "").startswith("req_"), h)
    check("model header", h.get("x-tollgate-model") == "gpt-4o-mini", h)
    last = mock_stats(ports["openai"])["last_request"]
    check("upstream got vendor key", last.get("auth_matches_env") is True, last)
    check("upstream body unchanged", last.get("body") == chat, last.get("body"))
    for ep, body in [("/v1/completions", {"model": "gpt-3.5-turbo-instruct", "prompt": "hi"}),
                     ("/v1/embeddings", {"model": "text-embedding-3-small", "input": "hi"}),
                     ("/v1/responses", {"model": "gpt-4.1", "input": "hi"})]:
        st, h, b = request(port, "POST", ep, body, auth)
        check(f"{ep} 200", st == 200 and "usage" in json.loads(b), (st, b[:200]))

    # ---- streaming
    st, h, b = request(port, "POST", "/v1/chat/completions", dict(chat, stream=True), auth)
    evs = sse_events(b)
    check("stream 200 sse", st == 200 and h.get("content-type", "").startswith(
        "text/event-stream"), (st, h))
    check("stream ends with DONE", evs and evs[-1] == "data: [DONE]", evs[-2:])
    check("stream has no usage field", all('"usage"' not in e for e in evs), evs[:3])
    stream11 = evs
    sent = mock_stats(ports["openai"])["last_request"]["body"]
    check("tollgate asked for usage", sent.get("stream_options") == {"include_usage": True},
          sent)
    body = dict(chat, stream=True, stream_options={"include_usage": True})
    st, h, b = request(port, "POST", "/v1/chat/completions", body, auth)
    evs = sse_events(b)
    usage_chunks = [json.loads(e[6:]) for e in evs if e.startswith("data: {") and
                    json.loads(e[6:]).get("usage")]
    check("client usage chunk kept", len(usage_chunks) == 1 and
          usage_chunks[0]["choices"] == [], evs[-3:])
    check("client usage null kept", '"usage":null' in evs[0], evs[0])
    st, h, b = request(port, "POST", "/v1/chat/completions", dict(chat, stream=True),
                       dict(auth, **{"x-big": "a" * 7600}))
    check("headers under max_header_bytes streamed", st == 200 and b"[DONE]" in b,
          (st, b[-200:]))

    # ---- an HTTP/1.0 client: no chunked encoding, the stream ends when the connection
    # closes; it gets the same events as an HTTP/1.1 client
    payload = json.dumps(dict(chat, stream=True)).encode()
    s = socket.create_connection(("127.0.0.1", port), timeout=20)
    harness.send_chat(s, key, payload, version=b"1.0")
    raw = b""
    while True:
        part = s.recv(65536)
        if not part:
            break
        raw += part
    s.close()
    head, _, body10 = raw.partition(b"\r\n\r\n")
    head = head.decode().lower()
    evs10 = sse_events(body10)
    check("HTTP/1.0 stream: 200, not chunked, same events, DONE at close",
          head.startswith("http/1.") and " 200 " in head.split("\r\n")[0] and
          "transfer-encoding" not in head and evs10 and evs10[-1] == "data: [DONE]" and
          len(evs10) == len(stream11), (head, len(evs10), len(stream11), body10[-120:]))

    # ---- upstream faults
    st, h, b = request(port, "POST", "/v1/chat/completions", dict(chat, model="p429/gpt-4o"),
                       auth)
    check("429 passes through", st == 429 and json.loads(b)["error"]["code"] ==
          "rate_limit_exceeded" and "retry-after" in h, (st, h, b))
    st, h, b = request(port, "POST", "/v1/chat/completions", dict(chat, model="p500/gpt-4o"),
                       auth)
    check("500 passes through", st == 500 and json.loads(b)["error"]["type"] ==
          "server_error", (st, b))
    st, h, b = request(port, "POST", "/v1/chat/completions", dict(chat, model="pdown/gpt-4o"),
                       auth)
    check("unreachable 502", st == 502 and is_openai_error(b, "upstream_unreachable"), (st, b))
    t0 = time.time()
    st, h, b = request(port, "POST", "/v1/chat/completions", dict(chat, model="phang/gpt-4o"),
                       auth)
    check("hang 504", st == 504 and is_openai_error(b, "upstream_timeout") and
          1.2 < time.time() - t0 < 5, (st, b, time.time() - t0))
    st, h, b = request(port, "POST", "/v1/chat/completions",
                       dict(chat, model="pbreak/gpt-4o", stream=True), auth)
    check("broken stream: cut short, no DONE", b"[DONE]" not in b and
          b.endswith(b"<INCOMPLETE>") and b.count(b"data:") == 3, b[-100:])
    t0 = time.time()
    st, h, b = request(port, "POST", "/v1/chat/completions",
                       dict(chat, model="pstall/gpt-4o", stream=True), auth)
    took = time.time() - t0
    check("idle stream cut after idle_ms, not before", st == 200 and 2.8 < took < 6 and
          b.endswith(b"<INCOMPLETE>"), (st, took, b[-80:]))

    # ---- client leaves mid-stream
    before = mock_stats(ports["pslow"])["streams_aborted_by_client"]
    s = socket.create_connection(("127.0.0.1", port))
    payload = json.dumps(dict(chat, model="pslow/gpt-4o", stream=True)).encode()
    harness.send_chat(s, key, payload)
    got = b""
    while got.count(b"data:") < 3:
        got += s.recv(4096)
    s.close()
    t0 = time.time()
    aborted = before
    while time.time() - t0 < 2 and aborted == before:
        time.sleep(0.05)
        aborted = mock_stats(ports["pslow"])["streams_aborted_by_client"]
    check("client leaving aborts upstream", aborted == before + 1,
          (before, aborted, time.time() - t0))

    # ---- client leaves a non-streamed request: its socket is watched lazily (after 20 ms),
    # so one leaving before and one leaving after that both abort the upstream well before
    # phang's 1.5 s first-byte timeout would
    payload = json.dumps(dict(chat, model="phang/gpt-4o")).encode()
    for wait in (0.0, 0.3):
        before = mock_stats(ports["phang"])["requests_aborted_by_client"]
        s = socket.create_connection(("127.0.0.1", port))
        harness.send_chat(s, key, payload)
        t0 = time.time()
        time.sleep(wait)
        s.close()
        aborted = before
        while time.time() - t0 < 1.2 and aborted == before:
            time.sleep(0.02)
            aborted = mock_stats(ports["phang"])["requests_aborted_by_client"]
        check("client leaving a non-streamed request after %.1f s aborts upstream" % wait,
              aborted == before + 1 and time.time() - t0 < wait + 0.6,
              (before, aborted, time.time() - t0))
        while time.time() - t0 < 3 and aborted == before: # settled before the next case
            time.sleep(0.05)
            aborted = mock_stats(ports["phang"])["requests_aborted_by_client"]

    # ---- metrics after traffic
    st, h, b = request(admin, "GET", "/metrics", headers=adm)
    m = {l.split()[0]: float(l.split()[1]) for l in b.decode().splitlines()
         if l and not l.startswith("#")}
    check("metrics count 2xx chat", m.get('tollgate_requests_total{endpoint='
          '"chat_completions",code="2xx"}', 0) >= 5, b[:400])
    check("metrics count client abort", m.get('tollgate_upstream_errors_total{kind='
          '"client_abort"}', 0) >= 1, b[:400])
    check("metrics tokens", m.get('gen_ai_client_token_usage_total{gen_ai_token_type='
          '"input",source="reported"}', 0) > 0, b[:400])

    # ---- the official openai npm SDK through tollgate (tests/sdk: pinned, npm ci on first run)
    import shutil
    sdk, sdk_streams = os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "sdk"), 0
    sh = lambda *a, **kw: subprocess.run(a, capture_output=True, text=True, **kw)
    if not (shutil.which("node") and shutil.which("npm")):
        print("note: node or npm not found: the openai SDK checks are skipped", flush=True)
    else:
        if not os.path.isdir(os.path.join(sdk, "node_modules", "openai")):
            try:
                r = sh("npm", "ci", "--no-audit", "--no-fund", "--silent", cwd=sdk, timeout=180)
                why = r.returncode == 0 or f"exit {r.returncode}: {r.stderr[-500:]}"
            except subprocess.TimeoutExpired:
                why = "timed out after 180 s"
            check("sdk npm ci", why is True, f"npm ci in {sdk} failed: {why}")
        if os.path.isdir(os.path.join(sdk, "node_modules", "openai")):
            sdk_streams = 2  # its two streams are records of provider openai (checked below)
            try:
                r = sh("node", os.path.join(sdk, "openai_sdk.mjs"), timeout=60, env=dict(
                    os.environ, TG_BASE_URL=f"http://127.0.0.1:{port}", TG_KEY=key))
            except subprocess.TimeoutExpired as e:
                r = subprocess.CompletedProcess(e.cmd, "timed out after 60 s",
                                                (e.stdout or b"").decode(errors="replace"), "")
            for line in r.stdout.splitlines():
                if line.startswith(("ok ", "not ok ")):
                    name, _, detail = line.split("ok ", 1)[1].partition(": ")
                    check(f"sdk {name}", line.startswith("ok "), detail)
            check("sdk exit 0", r.returncode == 0, (r.returncode, r.stdout[-300:],
                                                     r.stderr[-500:]))

    # ---- records
    tg.send_signal(signal.SIGTERM)
    tg.wait(timeout=15)
    check("clean stop", tg.returncode == 0, tg.stderr.read()[-500:])
    db = sqlite3.connect(store[len("sqlite:"):])
    rows = db.execute("SELECT * FROM requests").fetchall()
    cols = [d[0] for d in db.execute("SELECT * FROM requests").description]
    recs = [dict(zip(cols, r)) for r in rows]
    upstream_total = sum(mock_stats(p)["requests"] for p in ports.values())
    check("a record per upstream request", len(recs) == upstream_total + 1,
          (len(recs), upstream_total))  # + the unreachable one (no mock saw it)
    ok = [r for r in recs if r["endpoint"] == "chat_completions" and r["status"] == 200 and
          not r["streamed"]]
    check("record fields", ok and ok[0]["team"] == "ml" and ok[0]["key_id"].startswith("key_")
          and ok[0]["input_tokens"] > 0 and ok[0]["output_tokens"] > 0 and
          not ok[0]["usage_estimated"], ok[:1])
    streamed = [r for r in recs if r["streamed"] and r["status"] == 200 and
                r["provider"] == "openai"]
    check("streamed records have vendor usage", len(streamed) == 4 + sdk_streams and
          all(not r["usage_estimated"] and r["output_tokens"] > 0 for r in streamed), streamed)
    gone = [r for r in recs if r["client_aborted"] and r["streamed"]]
    check("client abort recorded, usage estimated", len(gone) == 1 and
          gone[0]["usage_estimated"] and gone[0]["output_tokens"] > 0, gone)
    left = [r for r in recs if r["client_aborted"] and not r["streamed"]]
    check("non-streamed client aborts recorded, hold released", len(left) == 2 and
          all(r["provider"] == "phang" and r["state"] == "released" for r in left), left)
    broke = [r for r in recs if r["provider"] == "pbreak"]
    check("broken stream recorded as estimated", len(broke) == 1 and
          broke[0]["usage_estimated"], broke)
    check("secret not in store", key.encode() not in open(store[7:], "rb").read())


run_main(main)
