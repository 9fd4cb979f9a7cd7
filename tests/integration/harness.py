"""Shared pieces of tollgate's integration tests (Python standard library only): the
check counter, mock vendors started as subprocesses, a plain HTTP client, and the
OpenAI error-shape check.  Each test script calls finish() at the end."""
import http.client
import json
import os
import socket
import subprocess
import sys
import time

VENDOR_KEY = "sk-vendor-test-0123456789"
ADMIN_TOKEN = "admin-test-token-9876"
results = {"pass": 0, "fail": 0}
procs = []


def check(name, cond, detail=""):
    if cond:
        results["pass"] += 1
    else:
        results["fail"] += 1
        print(f"FAIL {name}: {detail}", flush=True)


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def start_mock(mock, *knobs):
    """Starts mock_vendor with --knob defaults; returns its port."""
    args = [mock, "--port", "0"]
    for k in knobs:
        args += ["--knob", k]
    env = dict(os.environ, MOCK_API_KEY=VENDOR_KEY)
    p = subprocess.Popen(args, stdout=subprocess.PIPE, env=env, text=True)
    procs.append(p)
    return int(p.stdout.readline().split()[-1])


def send_chat(sock, key, body, version=b"1.1"):
    """Writes a POST /v1/chat/completions with `body` (bytes) on a raw socket, for tests
    that must control the connection themselves (leave early, read slowly, HTTP/1.0)."""
    sock.sendall(b"POST /v1/chat/completions HTTP/" + version + b"\r\nHost: x\r\n"
                 b"Content-Type: application/json\r\nAuthorization: Bearer " + key.encode() +
                 b"\r\nContent-Length: " + str(len(body)).encode() + b"\r\n\r\n" + body)


def request(port, method, path, body=None, headers=None, raw=None, timeout=20):
    c = http.client.HTTPConnection("127.0.0.1", port, timeout=timeout)
    data = raw if raw is not None else (json.dumps(body).encode() if body is not None else None)
    h = {"content-type": "application/json"}
    h.update(headers or {})
    try:
        c.request(method, path, body=data, headers=h)
    except (BrokenPipeError, ConnectionResetError):
        # the server answered and closed before the request was all sent (an oversized
        # header or body): its answer is still there to read
        pass
    r = c.getresponse()
    try:
        out = r.read()
    except http.client.IncompleteRead as e:  # a stream cut short: what arrived, flagged
        out = e.partial + b"<INCOMPLETE>"
    c.close()
    return r.status, dict((k.lower(), v) for k, v in r.getheaders()), out


def mock_stats(port):
    return json.loads(request(port, "GET", "/mock/stats")[2])


def sse_events(raw):
    return [e for e in raw.decode().split("\n\n") if e.strip()]


def is_openai_error(body, code=None):
    try:
        e = json.loads(body)["error"]
    except Exception:
        return False
    ok = isinstance(e.get("message"), str) and "type" in e and "param" in e and "code" in e
    return ok and (code is None or e["code"] == code)


def wait_healthy(port, tries=100):
    for _ in range(tries):
        try:
            if request(port, "GET", "/healthz")[0] == 200:
                return True
        except OSError:
            time.sleep(0.05)
    return False


def run_main(main):
    """Runs main(), counts a crash as a failure, kills the subprocesses, prints the tally
    and exits non-zero on any failure."""
    try:
        main()
    except Exception:
        import traceback
        traceback.print_exc()
        results["fail"] += 1
    finally:
        for p in procs:
            if p.poll() is None:
                p.kill()
    print(f"{results['pass']} passed, {results['fail']} failed")
    sys.exit(1 if results["fail"] else 0)
