#!/usr/bin/env python3
"""Integration test of an HTTP/2 upstream (provider "http2": true, "ca_file"): tollgate ->
nginx (HTTP/2 over TLS, a throw-away self-signed certificate) -> the mock vendor over
HTTP/1.1.  Checks: JSON answers byte for byte with usage, 50 concurrent SSE streams
complete with every event and usage, the upstream side really is HTTP/2 with the streams
multiplexed on a few connections (nginx's access log: protocol and connection number), one
settled record per request with the vendor's usage, /config shows the option, and a client
that falls a whole stream buffer behind gets its stream cut with a stream_buffer_full error
event (an HTTP/2 transfer is never paused) and a record.  Skips with a note when nginx or
openssl is missing (deploy/setup.sh installs both).

usage: test_http2.py PATH/TO/tollgate PATH/TO/mock_vendor
"""
import json
import os
import shutil
import socket
import sqlite3
import subprocess
import sys
import tempfile
import threading
import time

from harness import (ADMIN_TOKEN, VENDOR_KEY, check, free_port, procs, request, run_main,
                     sse_events, wait_healthy)
import harness

TG, MOCK = sys.argv[1], sys.argv[2]
STREAMS = 50
WORDS = 12


def start_nginx(tmp, port, mport, port2, mport2):
    subprocess.run(["openssl", "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-keyout",
                    f"{tmp}/key.pem", "-out", f"{tmp}/cert.pem", "-days", "1", "-subj",
                    "/CN=127.0.0.1", "-addext", "subjectAltName=IP:127.0.0.1"],
                   check=True, capture_output=True)
    conf = f"""
worker_processes 1;
pid {tmp}/nginx.pid;
error_log {tmp}/nginx-error.log warn;
events {{ worker_connections 1024; }}
http {{
  log_format h2 '$server_protocol $connection $status';
  access_log {tmp}/access.log h2;
  client_body_temp_path {tmp}; proxy_temp_path {tmp}; fastcgi_temp_path {tmp};
  uwsgi_temp_path {tmp}; scgi_temp_path {tmp};
  upstream mock {{ server 127.0.0.1:{mport}; keepalive 64; }}
  upstream big {{ server 127.0.0.1:{mport2}; }}
  http2_max_concurrent_streams 1000;
  ssl_certificate {tmp}/cert.pem; ssl_certificate_key {tmp}/key.pem;
  server {{
    listen 127.0.0.1:{port} ssl http2;
    location / {{ proxy_pass http://mock; proxy_http_version 1.1;
                 proxy_set_header Connection ""; proxy_buffering off; }}
  }}
  server {{
    listen 127.0.0.1:{port2} ssl http2;
    location / {{ proxy_pass http://big; proxy_http_version 1.1; proxy_buffering off; }}
  }}
}}
"""
    with open(f"{tmp}/nginx.conf", "w") as f:
        f.write(conf)
    # not in harness.procs (those get SIGKILL, which leaves nginx's workers running):
    # main() stops it with SIGTERM and waits
    p = subprocess.Popen(["nginx", "-c", f"{tmp}/nginx.conf", "-g", "daemon off;"],
                         stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL,
                         stderr=subprocess.DEVNULL)
    for _ in range(100):
        try:
            socket.create_connection(("127.0.0.1", port), timeout=0.2).close()
            return p
        except OSError:
            time.sleep(0.05)
    return p


def access_log(tmp):
    try:
        with open(f"{tmp}/access.log") as f:
            return [l.split() for l in f if l.strip()]
    except OSError:
        return []


def main():
    if not (shutil.which("nginx") and shutil.which("openssl")):
        print("note: nginx or openssl not found (deploy/setup.sh installs them): the HTTP/2 "
              "upstream checks are skipped", flush=True)
        return
    tmp = tempfile.mkdtemp(prefix="tg-h2-")
    store = f"sqlite:{tmp}/tollgate.db"
    mport = harness.start_mock(MOCK, "x-mock-chunk-delay-ms=20", f"x-mock-words={WORDS}")
    mport2 = harness.start_mock(MOCK, "x-mock-words=200000")  # a long, fast stream
    nport, nport2 = free_port(), free_port()
    ngx = start_nginx(tmp, nport, mport, nport2, mport2)
    try:
        through_nginx(tmp, store, nport, nport2)
    finally:
        ngx.terminate()  # fast shutdown: the master stops its workers
        ngx.wait(timeout=10)


def through_nginx(tmp, store, nport, nport2):
    port, admin = free_port(), free_port()
    prov = {"format": "openai", "base_url": f"https://127.0.0.1:{nport}", "http2": True,
            "ca_file": "cert.pem", "api_key_env": "OPENAI_API_KEY",
            "timeouts": {"first_byte_ms": 5000, "idle_ms": 5000}}
    cfg = {"listen": f"127.0.0.1:{port}", "admin": {"listen": f"127.0.0.1:{admin}"},
           "store": store, "workers": 2,
           "providers": {"openai": prov,
                         "big": dict(prov, base_url=f"https://127.0.0.1:{nport2}")},
           "limits": {"stream_buffer_bytes": 4096}}
    cfg_path = os.path.join(tmp, "tollgate.json")
    with open(cfg_path, "w") as f:
        json.dump(cfg, f)
    env = dict(os.environ, TOLLGATE_STORE=store, OPENAI_API_KEY=VENDOR_KEY,
               TOLLGATE_ADMIN_TOKEN=ADMIN_TOKEN)
    run = lambda *a: subprocess.run([TG, *a], env=env, capture_output=True, text=True)
    chk = run("check", "--config", cfg_path)
    check("check accepts http2 + ca_file", chk.returncode == 0, chk.stdout + chk.stderr)
    run("teams", "add", "ml", "--config", cfg_path)
    key = run("keys", "create", "--team", "ml", "--config", cfg_path).stdout.strip()
    p = subprocess.Popen([TG, "serve", "--config", cfg_path], env=env)
    procs.append(p)
    check("tollgate up", wait_healthy(port))
    auth = {"authorization": f"Bearer {key}"}
    chat = {"model": "gpt-4o-mini", "messages": [{"role": "user", "content": "hello there"}]}

    # ---- JSON, twice (the second reuses the HTTP/2 connection)
    for i in range(2):
        st, h, b = request(port, "POST", "/v1/chat/completions", chat, auth)
        j = json.loads(b) if st == 200 else {}
        check(f"json {i} through http2", st == 200 and j.get("usage", {}).get(
            "completion_tokens") == WORDS, (st, b[:200]))

    # ---- many concurrent streams
    out = [None] * STREAMS

    def one(i):
        try:
            out[i] = request(port, "POST", "/v1/chat/completions",
                             dict(chat, stream=True, stream_options={"include_usage": True}),
                             auth, timeout=30)
        except Exception as e:  # counted below
            out[i] = (0, {}, repr(e).encode())

    ts = [threading.Thread(target=one, args=(i,)) for i in range(STREAMS)]
    for t in ts:
        t.start()
    for t in ts:
        t.join()
    good = 0
    for st, h, b in out:
        ev = sse_events(b) if st == 200 else []
        usage = [json.loads(e[6:]).get("usage") for e in ev if e.startswith("data: {")]
        if (st == 200 and ev and ev[-1] == "data: [DONE]" and len(ev) == WORDS + 4 and
                usage[-1] and usage[-1].get("completion_tokens") == WORDS):
            good += 1
    check(f"{STREAMS} concurrent streams complete with usage", good == STREAMS,
          [o[:1] + (o[2][-120:],) for o in out if o][:3])

    # ---- the upstream side: HTTP/2, multiplexed
    log = access_log(tmp)
    protos = {l[0] for l in log}
    conns = {l[1] for l in log}
    check("upstream requests were HTTP/2", protos == {"HTTP/2.0"} and len(log) >= STREAMS + 2,
          (protos, len(log)))
    check("streams multiplexed on few connections", 0 < len(conns) <= 8,
          (len(conns), len(log)))

    # ---- /config shows the option
    st, h, b = request(admin, "GET", "/config", headers={"authorization": f"Bearer {ADMIN_TOKEN}"})
    pc = json.loads(b).get("providers", {}).get("openai", {}) if st == 200 else {}
    check("admin /config shows http2", pc.get("http2") is True, b[:300])

    # ---- a client that does not read: its stream is cut, not paused
    s = socket.create_connection(("127.0.0.1", port))
    s.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4096)
    body = json.dumps(dict(chat, model="big/gpt-4o-mini", stream=True)).encode()
    harness.send_chat(s, key, body)
    time.sleep(2)  # tollgate's buffer (4 KiB) and the socket buffers fill meanwhile
    got = b""
    s.settimeout(10)
    try:
        while True:
            d = s.recv(65536)
            if not d:
                break
            got += d
    except OSError:
        pass
    s.close()
    check("slow client gets a stream_buffer_full error event",
          b'"code":"stream_buffer_full"' in got and b"data: [DONE]" not in got, got[-300:])
    st, h, b = request(admin, "GET", "/metrics", headers={"authorization": f"Bearer {ADMIN_TOKEN}"})
    check("metrics count the cut", b'kind="slow_client"} 1' in b,
          [l for l in b.decode().splitlines() if "slow_client" in l])

    # ---- records: one settled row per request, the vendor's usage
    time.sleep(0.3)
    db = sqlite3.connect(f"{tmp}/tollgate.db")
    rows = db.execute("SELECT state, streamed, usage_estimated, output_tokens, status "
                      "FROM requests").fetchall()
    settled = [r for r in rows if r[0] == "settled"]
    full = [r for r in settled if not r[2] and r[3] == WORDS and r[4] == 200]
    check("records: every request settled", len(settled) == len(rows) == STREAMS + 3,
          (len(settled), len(rows)))
    check("records: the vendor's usage", len(full) == STREAMS + 2, len(full))
    cut = [r for r in settled if r[1] and r[2]]
    check("record of the cut stream: usage estimated", len(cut) == 1 and cut[0][3] > 0, cut)


if __name__ == "__main__":
    run_main(main)
