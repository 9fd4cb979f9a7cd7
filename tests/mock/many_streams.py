#!/usr/bin/env python3
"""Open many slow SSE streams at once against the mock vendor (or, with --port/--path/--key,
against tollgate in front of it), count every event, and measure the server's RSS and CPU.

Each stream is a raw HTTP/1.1 request on its own socket (asyncio, no thread per stream) with
x-mock-chunk-delay-ms pacing, decoded with a minimal chunked-transfer reader. Connections
are opened at most --connect-batch at a time. While the streams run, the server process is
sampled from /proc (VmRSS, utime+stime, threads) and GET /mock/stats is polled when
--stats-port is given (the mock itself: the same port by default).

usage:
  many_streams.py --spawn build/tests/mock/mock_vendor -n 10000 --delay-ms 1000 --words 30
  many_streams.py --port 8080 --pid PID --key tg-... -n 10000     (an already running server)
Talks to 127.0.0.1 only. Exit 0 when every stream completed with every event, else 1.
The last line is a JSON summary.
"""
import argparse
import asyncio
import json
import os
import resource
import subprocess
import sys
import time

HOST = "127.0.0.1"


def parse_args():
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--spawn", help="start this mock_vendor binary on a free port")
    p.add_argument("--port", type=int, help="port of a running server")
    p.add_argument("--pid", type=int, help="pid of the running server, to sample RSS/CPU")
    p.add_argument("--stats-port", type=int, help="mock port for /mock/stats (default: --port)")
    p.add_argument("-n", "--streams", type=int, default=10000)
    p.add_argument("--delay-ms", type=int, default=1000, help="x-mock-chunk-delay-ms")
    p.add_argument("--words", type=int, default=30, help="x-mock-words")
    p.add_argument("--path", default="/v1/chat/completions")
    p.add_argument("--model", default="gpt-4o-mini")
    p.add_argument("--key", default="sk-mock", help="bearer key (x-api-key for /v1/messages)")
    p.add_argument("--connect-batch", type=int, default=500, help="concurrent connects")
    p.add_argument("--timeout", type=float, default=300, help="give up after this many s")
    return p.parse_args()


def expected_events(path, words):
    """Events a complete stream carries (see the stream comments in mock_vendor.c)."""
    if path.endswith("/messages"):
        return words + 6
    if path.endswith("/responses"):
        return words + 8
    if path.endswith("/completions") and "chat" not in path:
        return words + 3  # words, finish, usage, [DONE]
    return words + 4  # role, words, finish, usage, [DONE]


def request_bytes(a):
    anthropic = a.path.endswith("/messages")
    body = {"model": a.model, "stream": True}
    if a.path.endswith("/completions") and "chat" not in a.path:
        body["prompt"] = "hello"
    elif a.path.endswith("/responses"):
        body["input"] = "hello"
    else:
        body["messages"] = [{"role": "user", "content": "hello"}]
    if anthropic:
        body["max_tokens"] = 100000
    else:
        body["stream_options"] = {"include_usage": True}
    data = json.dumps(body).encode()
    auth = (f"x-api-key: {a.key}\r\nanthropic-version: 2023-06-01\r\n" if anthropic
            else f"Authorization: Bearer {a.key}\r\n")
    head = (f"POST {a.path} HTTP/1.1\r\nHost: {HOST}:{a.port}\r\n{auth}"
            f"content-type: application/json\r\ncontent-length: {len(data)}\r\n"
            f"x-mock-chunk-delay-ms: {a.delay_ms}\r\nx-mock-words: {a.words}\r\n"
            "Connection: close\r\n\r\n")
    return head.encode() + data


class Tally:
    def __init__(self):
        self.open = self.peak_open = self.completed = self.failed = self.events = 0
        self.errors = {}
        self.first_byte = []

    def fail(self, why):
        self.failed += 1
        self.errors[why] = self.errors.get(why, 0) + 1


async def read_chunked(reader, tally):
    """Reads a chunked body, counting SSE events (blank-line terminated). Returns events."""
    events, tail = 0, b""
    while True:
        size = int((await reader.readline()).split(b";")[0].strip() or b"0", 16)
        if size == 0:
            await reader.readline()
            return events
        data = tail + await reader.readexactly(size)
        await reader.readexactly(2)
        n = data.count(b"\n\n")
        events += n
        tally.events += n
        tail = data[data.rfind(b"\n\n") + 2:] if n else data


async def one_stream(a, req, want, tally, gate):
    try:
        async with gate:
            reader, writer = await asyncio.open_connection(HOST, a.port)
        t0 = time.monotonic()  # first byte is timed from the established connection
        tally.open += 1
        tally.peak_open = max(tally.peak_open, tally.open)
        try:
            writer.write(req)
            status = await reader.readline()
            tally.first_byte.append(time.monotonic() - t0)
            if b" 200 " not in status:
                tally.fail(status.decode(errors="replace").strip()[:60] or "no status")
                return
            headers = (await reader.readuntil(b"\r\n\r\n")).lower()
            if b"transfer-encoding: chunked" not in headers:
                tally.fail("not chunked")
                return
            got = await read_chunked(reader, tally)
            if got == want:
                tally.completed += 1
            else:
                tally.fail(f"events {got} != {want}")
        finally:
            tally.open -= 1
            writer.close()
    except (OSError, asyncio.IncompleteReadError, ValueError) as e:
        tally.fail(type(e).__name__ + ": " + str(e)[:50])


def proc_sample(pid):
    """(rss_kib, cpu_seconds, threads) of pid from /proc, or None."""
    try:
        status = open(f"/proc/{pid}/status").read().split("\n")
        stat = open(f"/proc/{pid}/stat").read().rsplit(")", 1)[1].split()
    except OSError:
        return None
    rss = next(int(l.split()[1]) for l in status if l.startswith("VmRSS:"))
    threads = next(int(l.split()[1]) for l in status if l.startswith("Threads:"))
    cpu = (int(stat[11]) + int(stat[12])) / os.sysconf("SC_CLK_TCK")
    return rss, cpu, threads


async def mock_stats(port):
    try:
        r, w = await asyncio.open_connection(HOST, port)
        w.write(f"GET /mock/stats HTTP/1.1\r\nHost: {HOST}\r\nConnection: close\r\n\r\n".encode())
        raw = await r.read()
        w.close()
        return json.loads(raw.split(b"\r\n\r\n", 1)[1])
    except (OSError, ValueError, IndexError):
        return None


async def monitor(a, tally, samples, done):
    """Samples the server every second until done is set."""
    t0 = time.monotonic()
    while not done.is_set():
        s = proc_sample(a.pid) if a.pid else None
        st = await mock_stats(a.stats_port) if a.stats_port else None
        samples.append({"t": round(time.monotonic() - t0, 1), "proc": s,
                        "streams_open": st and st.get("streams_open"),
                        "client_open": tally.open, "events": tally.events})
        line = f"t={samples[-1]['t']:6.1f}s client_open={tally.open:6d} events={tally.events:8d}"
        if s:
            line += f" server_rss={s[0] / 1024:7.1f}MiB cpu={s[1]:7.2f}s threads={s[2]}"
        if st:
            line += f" mock_streams_open={st.get('streams_open')}"
        print(line, flush=True)
        try:
            await asyncio.wait_for(done.wait(), 1.0)
        except asyncio.TimeoutError:
            pass


async def run(a):
    tally, samples, done = Tally(), [], asyncio.Event()
    req, want = request_bytes(a), expected_events(a.path, a.words)
    gate = asyncio.Semaphore(a.connect_batch)
    mon = asyncio.create_task(monitor(a, tally, samples, done))
    base = proc_sample(a.pid) if a.pid else None
    t0 = time.monotonic()
    tasks = [asyncio.create_task(one_stream(a, req, want, tally, gate)) for _ in range(a.streams)]
    finished, pending = await asyncio.wait(tasks, timeout=a.timeout)
    for t in pending:
        t.cancel()
        tally.fail("timeout")
    wall = time.monotonic() - t0
    done.set()
    await mon
    end = proc_sample(a.pid) if a.pid else None
    return tally, samples, wall, want, base, end


def summarize(a, tally, samples, wall, want, base, end):
    rss = [s["proc"][0] for s in samples if s["proc"]]
    mock_open = [s["streams_open"] for s in samples if s["streams_open"] is not None]
    fb = sorted(tally.first_byte)
    out = {
        "streams": a.streams, "completed": tally.completed, "failed": tally.failed,
        "errors": tally.errors, "events": tally.events, "events_expected": a.streams * want,
        "peak_client_open": tally.peak_open,
        "peak_mock_streams_open": max(mock_open) if mock_open else None,
        "wall_s": round(wall, 1), "delay_ms": a.delay_ms, "words": a.words,
        "first_byte_p50_ms": round(fb[len(fb) // 2] * 1000, 1) if fb else None,
        "first_byte_p99_ms": round(fb[int(len(fb) * 0.99)] * 1000, 1) if fb else None,
    }
    if base and end:
        cpu = end[1] - base[1]
        out.update({"server_rss_start_mib": round(base[0] / 1024, 1),
                    "server_rss_peak_mib": round(max(rss) / 1024, 1),
                    "server_cpu_s": round(cpu, 2),
                    "server_cpu_pct_of_one_core": round(100 * cpu / wall, 1),
                    "server_threads": end[2],
                    "client_cpu_s": round(time.process_time(), 2)})
    return out


def spawn(a):
    env = dict(os.environ, MOCK_API_KEY=a.key)
    p = subprocess.Popen([a.spawn, "--port", "0"], stdout=subprocess.PIPE, text=True, env=env)
    line = p.stdout.readline()
    if not line.startswith("listening on "):
        sys.exit("many_streams: the mock did not start")
    a.port, a.pid = int(line.split()[-1]), p.pid
    return p


def main():
    a = parse_args()
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    resource.setrlimit(resource.RLIMIT_NOFILE, (hard, hard))
    if hard < a.streams + 100:
        print(f"many_streams: warning: RLIMIT_NOFILE {hard} < {a.streams} streams", flush=True)
    proc = spawn(a) if a.spawn else None
    if not a.port:
        sys.exit("many_streams: give --spawn or --port")
    if a.stats_port is None and proc:
        a.stats_port = a.port
    try:
        res = asyncio.run(run(a))
    finally:
        if proc:
            proc.terminate()
            proc.wait(timeout=10)
    out = summarize(a, *res)
    print(json.dumps(out), flush=True)
    sys.exit(0 if out["completed"] == a.streams and out["events"] == out["events_expected"] else 1)


if __name__ == "__main__":
    main()
