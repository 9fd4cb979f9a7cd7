#!/usr/bin/env python3
"""Integration tests of hard budgets in `tollgate serve` (issue 5) against mock vendors over
real sockets:

  (a) a burst of parallel requests (JSON and streams) against a team budget that fits only
      a few: every answer is 200 or 429 insufficient_quota (limit, spent and reset time in
      the message), spend never passes the limit, every ledger row's cost equals the
      vendor-reported usage at list price to the nano-dollar (computed here with integers);
  (b) kill -9 under streaming load, restart on the same store: every request the mock saw
      has a ledger row (settled, or unsettled at its reserved cost and flagged), and the
      team's counter after restart equals the ledger's sum (admin API and the
      x-tollgate-budget-remaining-usd header);
  (c) period boundaries (ledger rows one microsecond either side of the day, ISO week and
      month starts), key vs team limits (the tighter wins), clamping of max_tokens /
      max_completion_tokens (the mock reports the cap it got), unknown price refused,
      rpm / tpm with OpenAI's x-ratelimit-* headers, overshoot recorded, degrading to a
      cheaper candidate, release on upstream failure, settlement when the client leaves
      mid-stream, quota counters in /metrics, the budget header on every authenticated
      answer, and the admin API for teams, keys and budgets.

usage: test_quotas.py PATH/TO/tollgate PATH/TO/mock_vendor
"""
import calendar
import datetime
import json
import os
import re
import signal
import socket
import sqlite3
import subprocess
import sys
import tempfile
import threading
import time
from decimal import Decimal

from harness import (ADMIN_TOKEN, check, free_port, is_openai_error, mock_stats, procs,
                     request, run_main, sse_events, wait_healthy)
import harness

TG, MOCK = sys.argv[1], sys.argv[2]
NUSD = 10**9
MTOK = 10**6

# prices in USD per million tokens, as decimal strings; and in nano-dollars per million
PRICES = {"q-burst": ("0.1234567", "0.5432109"), "q-ok": ("0.15", "0.60"),
          "q-stream": ("2.5", "10"), "q-est": ("1", "2")}


def nano_per_mtok(usd):
    return int(Decimal(usd) * NUSD)


def cost(tokens, usd_per_mtok):
    """tollgate's rule (tg_cat_cost): tokens x price / 1e6, rounded half up, integers."""
    return (tokens * nano_per_mtok(usd_per_mtok) + MTOK // 2) // MTOK


def model(provider, inp, out, tokenizer="o200k_base", **extra):
    m = {"provider": provider, "upstream_model": "gpt-4o-mini", "tokenizer": tokenizer,
         "endpoints": ["chat"], "context_window": 128000, "max_output": 16384,
         "capabilities": ["tools", "streaming"], "tier": "fast",
         "prices": [{"effective_from": "2025-01-01", "input": inp, "output": out}]}
    m.update(extra)
    return m


CATALOG = {"catalog_version": "q-1", "models": {
    "q-burst": model("slowjson", *PRICES["q-burst"]),
    "q-ok": model("ok", *PRICES["q-ok"]),
    "q-stream": model("slowstream", *PRICES["q-stream"]),
    "q-noprice": model("ok", "0.15", None),
    "q-est": model("est", *PRICES["q-est"], tokenizer="estimate", estimate_factor=1.0),
    "q-500": model("p500", "0.15", "0.60"),
}}
POLICY = {"policy_version": "q-p1", "aliases": ["degrade"], "rules": [
    {"id": "degrade", "when": {"model": "degrade"},
     "route": {"candidates": ["q-stream", "q-ok"], "objective": "ordered"}},
    {"id": "default", "when": {}, "route": {"candidates": ["$requested"]}}]}


def usd(nano):
    return f"{nano // NUSD}.{nano % NUSD:09d}"


def usd6(nano):
    micro = nano // 1000 + (1 if nano % 1000 >= 500 else 0)
    return f"${micro // 10**6}.{micro % 10**6:06d}"


def nusd_of(text):
    return int(Decimal(str(text)) * NUSD)


def iso(ts):
    return datetime.datetime.fromtimestamp(ts, datetime.timezone.utc).strftime(
        "%Y-%m-%dT%H:%M:%SZ")


def period_starts(now):
    """UTC starts (s) of the current and the next day, ISO week and month."""
    d = datetime.datetime.fromtimestamp(now, datetime.timezone.utc)
    day = calendar.timegm(d.date().timetuple())
    week = day - d.weekday() * 86400
    month = calendar.timegm(datetime.date(d.year, d.month, 1).timetuple())
    ny, nm = (d.year + 1, 1) if d.month == 12 else (d.year, d.month + 1)
    nmonth = calendar.timegm(datetime.date(ny, nm, 1).timetuple())
    return {"day": (day, day + 86400), "week": (week, week + 7 * 86400),
            "month": (month, nmonth)}


class Admin:
    def __init__(self, port):
        self.port = port

    def __call__(self, method, path, body=None, token=ADMIN_TOKEN):
        h = {"authorization": f"Bearer {token}"} if token else {}
        st, _, b = request(self.port, method, path, body, h)
        try:
            return st, json.loads(b)
        except ValueError:
            return st, b

    def team(self, name, **limits):
        st, t = self("POST", "/teams", dict(name=name, **limits))
        check(f"admin creates team {name}", st == 201, (st, t))
        return t

    def key(self, team, **limits):
        st, k = self("POST", "/keys", dict(team=team, **limits))
        check(f"admin creates a key of {team}", st == 201 and k.get("secret", "").startswith(
            "tg-"), (st, k))
        return k


def chat(model_name, text="count to three", **extra):
    body = {"model": model_name, "messages": [{"role": "user", "content": text}]}
    body.update(extra)
    return body


def post(port, key, body):
    return request(port, "POST", "/v1/chat/completions", body,
                   {"authorization": f"Bearer {key}"})


def usage_of(status, body, streamed):
    if status != 200:
        return None
    if not streamed:
        return json.loads(body)["usage"]
    for e in sse_events(body):
        data = e[len("data: "):]
        if data.startswith("{") and json.loads(data).get("usage"):
            return json.loads(data)["usage"]
    return None


def rows(db_path, where, args=()):
    db = sqlite3.connect(db_path)
    db.row_factory = sqlite3.Row
    try:
        return [dict(r) for r in db.execute(f"SELECT * FROM requests WHERE {where}", args)]
    finally:
        db.close()


def wait_rows(db_path, where, args, n, state=None, secs=5.0):
    """Polls until `n` rows match (and all have `state`); returns them."""
    end = time.time() + secs
    while True:
        got = rows(db_path, where, args)
        if (len(got) >= n and (state is None or all(r["state"] == state for r in got))) \
                or time.time() > end:
            return got
        time.sleep(0.05)


def charged(r):
    return r["reserved_nusd"] if r["state"] in ("reserved", "unsettled") else \
        0 if r["state"] == "released" else r["cost_nusd"]


# ------------------------------------------------------------------ (a) concurrency

def test_burst(port, admin, db_path, mock_port):
    budget = nusd_of("0.00022")
    admin.team("burst", budget_usd="0.00022", period="month")
    key = admin.key("burst")["secret"]
    n, results = 48, {}
    barrier = threading.Barrier(n)

    def one(i):
        streamed = i % 2 == 1
        body = chat("q-burst", max_tokens=100)
        if streamed:
            body.update(stream=True, stream_options={"include_usage": True})
        barrier.wait()
        results[i] = (streamed,) + post(port, key, body)

    threads = [threading.Thread(target=one, args=(i,)) for i in range(n)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    statuses = [r[1] for r in results.values()]
    ok = [r for r in results.values() if r[1] == 200]
    refused = [r for r in results.values() if r[1] == 429]
    check("burst: every answer is 200 or 429", len(ok) + len(refused) == n,
          sorted(set(statuses)))
    check("burst: some admitted, some refused", ok and refused, (len(ok), len(refused)))
    month_end = period_starts(time.time())["month"][1]
    for streamed, st, h, b in refused:
        e = json.loads(b).get("error", {})
        msg = e.get("message", "")
        good = (is_openai_error(b, "insufficient_quota") and e.get("type") == "insufficient_quota"
                and "of its $0.000220 monthly budget" in msg and "has spent $" in msg
                and f"resets at {iso(month_end)}" in msg)
        check("burst: 429 says limit, spent and reset time", good, b)
        check("burst: 429 carries the budget header",
              "x-tollgate-budget-remaining-usd" in h, h)
    for streamed, st, h, b in ok:
        rem = h.get("x-tollgate-budget-remaining-usd")
        check("burst: 200 carries the remaining budget",
              rem is not None and 0 <= nusd_of(rem) <= budget, h)
    got = wait_rows(db_path, "team = ?", ("burst",), len(ok), "settled")
    seen = mock_stats(mock_port)["by_path"].get("/v1/chat/completions", 0)
    check("burst: one settled row per 200, as many as the vendor saw",
          len(got) == len(ok) == seen and all(r["state"] == "settled" for r in got),
          (len(got), len(ok), seen, [r["state"] for r in got]))
    spent = sum(r["cost_nusd"] for r in got)
    full = cost(100, PRICES["q-burst"][1])
    clamped = sum(1 for r in got if r["reserved_nusd"] < full)
    print(f"burst: {n} parallel, {len(ok)} admitted ({clamped} clamped), {len(refused)} "
          f"refused; spent {usd(spent)} of {usd(budget)} USD", flush=True)
    check("burst: spend never passes the limit", spent <= budget, (spent, budget))
    check("burst: no reservation above the limit",
          all(0 < r["reserved_nusd"] <= budget for r in got), [r["reserved_nusd"] for r in got])
    by_id = {r["id"]: r for r in got}
    pin, pout = PRICES["q-burst"]
    exact = 0
    for streamed, st, h, b in ok:
        u = usage_of(st, b, streamed)
        r = by_id.get(h.get("x-tollgate-request-id"))
        if not u or not r:
            check("burst: usage and row found", False, (h, b[:200]))
            continue
        want = cost(u["prompt_tokens"], pin) + cost(u["completion_tokens"], pout)
        same = (r["input_tokens"] == u["prompt_tokens"] and
                r["output_tokens"] == u["completion_tokens"] and r["cost_nusd"] == want and
                r["cost_input_nusd"] + r["cost_output_nusd"] == want and not r["overshoot"])
        exact += same
        check("burst: ledger = vendor usage at list price, to the nano-dollar", same,
              (u, {k: r[k] for k in ("input_tokens", "output_tokens", "cost_nusd")}, want))
    check("burst: every 200 checked", exact == len(ok), (exact, len(ok)))
    st, t = admin("GET", "/teams/burst")
    u = t.get("usage", {}) if st == 200 else {}
    check("burst: the team's counter equals the ledger",
          u and nusd_of(u["spent_usd"]) == spent and nusd_of(u["reserved_usd"]) == 0
          and u["requests"] == len(ok) and nusd_of(u["remaining_usd"]) == budget - spent,
          (t, spent))


# ------------------------------------------------------------------ (b) crash

def test_crash(ctx):
    port, admin, db_path = ctx["port"], ctx["admin"], ctx["db"]
    admin.team("crash", budget_usd="5", period="month")
    crash_key = admin.key("crash", budget_usd="4")
    key = crash_key["secret"]
    for _ in range(2):  # settled before the crash
        st, _, _ = post(port, key, chat("q-ok", max_tokens=50))
        check("crash: warm-up answered", st == 200, st)
    # a settlement is group-committed after the answer (the writer's next round), so wait
    # for both rows to be written before the crash these two must survive
    end = time.time() + 10
    while len(rows(db_path, "team = ? AND state = 'settled'", ("crash",))) < 2 and \
            time.time() < end:
        time.sleep(0.02)
    nstreams = 8
    errors = []
    sp = ctx["mocks"]["slowstream"]
    base = mock_stats(sp)["by_path"].get("/v1/chat/completions", 0)
    base_open = mock_stats(sp)["streams_open"]

    def stream():
        try:
            post(port, key, chat("q-stream", max_tokens=500, stream=True))
        except Exception as e:  # tollgate dies under it
            errors.append(e)

    threads = [threading.Thread(target=stream, daemon=True) for _ in range(nstreams)]
    for t in threads:
        t.start()
    end = time.time() + 10
    while mock_stats(sp)["streams_open"] < base_open + nstreams and time.time() < end:
        time.sleep(0.05)
    check("crash: streams in flight",
          mock_stats(sp)["streams_open"] == base_open + nstreams,
          mock_stats(sp))
    ctx["tg"].send_signal(signal.SIGKILL)
    ctx["tg"].wait()
    for t in threads:
        t.join(timeout=10)
    seen = mock_stats(sp)["by_path"].get("/v1/chat/completions", 0) - base
    ctx["tg"] = ctx["serve"]()
    check("crash: restarts", wait_healthy(port), open(ctx["log"]).read()[-2000:])
    log = open(ctx["log"]).read()
    check("crash: recovery says what it charged",
          re.search(rf"recovery: {seen} requests left unsettled", log), log[-2000:])
    got = rows(db_path, "team = ?", ("crash",))
    streamed = [r for r in got if r["model"] == "q-stream"]  # this team's only
    check("crash: every request the vendor saw has a row", len(streamed) == seen == nstreams,
          (len(streamed), seen))
    check("crash: each is unsettled, flagged, charged at its reservation",
          all(r["state"] == "unsettled" and r["reconcile"] == 1 and r["reserved_nusd"] > 0
              for r in streamed), [(r["state"], r["reconcile"]) for r in streamed])
    pin, pout = PRICES["q-stream"]
    check("crash: the reservation is the worst case (input estimate + 500 output tokens)",
          all(r["reserved_nusd"] >= cost(500, pout) for r in streamed),
          [r["reserved_nusd"] for r in streamed])
    check("crash: the earlier requests stay settled",
          sorted(r["state"] for r in got if r["model"] == "q-ok") == ["settled", "settled"],
          [r["state"] for r in got])
    total = sum(charged(r) for r in got)
    st, t = admin("GET", "/teams/crash")
    u = t.get("usage", {}) if st == 200 else {}
    check("crash: the team's counter after restart equals the ledger sum",
          u and nusd_of(u["spent_usd"]) == total and nusd_of(u["reserved_usd"]) == 0
          and u["requests"] == len(got), (u, total))
    st, k = admin("GET", f"/keys/{crash_key['id']}")
    u = k.get("usage", {}) if st == 200 else {}
    check("crash: the key's counter after restart equals the ledger sum",
          u and nusd_of(u["spent_usd"]) == total and u["requests"] == len(got) and
          nusd_of(u["remaining_usd"]) == 4 * NUSD - total, (u, total))
    st, h, b = post(port, key, chat("q-ok", max_tokens=50))
    rid = h.get("x-tollgate-request-id")
    probe = wait_rows(db_path, "id = ?", (rid,), 1, "settled")
    rem = h.get("x-tollgate-budget-remaining-usd")
    check("crash: the budget header after restart counts the ledger",
          st == 200 and probe and rem is not None and
          nusd_of(rem) == 4 * NUSD - total - probe[0]["reserved_nusd"],
          (st, rem, total, probe))


# ------------------------------------------------------------------ (c) limits

def seed_period_rows(db_path, now):
    """Ledger rows one µs before and exactly at each period start (written before serve
    starts, so recovery must sort them into periods)."""
    db = sqlite3.connect(db_path)
    starts = period_starts(now)
    n = 0

    def row(team, ts, nusd):
        nonlocal n
        n += 1
        db.execute("INSERT INTO requests (id, attempt, ts_us, team, key_id, provider, "
                   "requested_model, model, endpoint, est_input_tokens, input_tokens, "
                   "cached_input_tokens, cache_write_tokens, output_tokens, reasoning_tokens, "
                   "usage_estimated, status, upstream_status, latency_us, ttfb_us, streamed, "
                   "client_aborted, state, cost_nusd, cost_input_nusd) VALUES (?, 1, ?, ?, '', "
                   "'ok', 'q-ok', 'q-ok', 'chat_completions', 10, 10, 0, 0, 10, 0, 0, 200, 200, "
                   "1000, 500, 0, 0, 'settled', ?, ?)",
                   (f"seed-{n}", ts, team, nusd, nusd))

    for p in ("day", "week", "month"):
        start = starts[p][0] * 10**6
        row(f"p{p}", start - 1, nusd_of("0.01"))        # the previous period: not counted
        row(f"p{p}", start, nusd_of("0.00999"))         # this period: counted
    row("pfresh", starts["day"][0] * 10**6 - 1, nusd_of("0.01"))
    db.commit()
    db.close()


def test_periods(port, admin, now):
    starts = period_starts(now)
    for p in ("day", "week", "month"):
        admin("PATCH", f"/teams/p{p}", {"period": p})
        key = admin.key(f"p{p}")["secret"]
        st, h, b = post(port, key, chat("q-ok", max_tokens=200))
        msg = json.loads(b).get("error", {}).get("message", "") if st == 429 else ""
        adj = {"day": "daily", "week": "weekly", "month": "monthly"}[p]
        check(f"periods: {p}: the row at the start counts, the one before does not",
              st == 429 and "has spent $0.009990 of its $0.010000 " + adj in msg and
              f"resets at {iso(starts[p][1])}" in msg, (st, b))
    admin("PATCH", "/teams/pfresh", {"period": "day"})
    key = admin.key("pfresh")["secret"]
    st, h, b = post(port, key, chat("q-ok", max_tokens=200))
    check("periods: yesterday's full spend leaves today's budget whole",
          st == 200 and nusd_of(h["x-tollgate-budget-remaining-usd"]) > nusd_of("0.0098"),
          (st, h, b[:300]))


def test_key_vs_team(port, admin):
    admin.team("kt", budget_usd="1")
    k1 = admin.key("kt", budget_usd="0.00001")
    k2 = admin.key("kt")
    st, h, b = post(port, k1["secret"], chat("q-ok", max_tokens=200))
    msg = json.loads(b).get("error", {}).get("message", "") if st == 429 else ""
    check("limits: the key's tighter budget refuses",
          st == 429 and f"Key '{k1['id']}' of team 'kt'" in msg and "$0.000010" in msg, b)
    check("limits: the key's remaining budget is the tighter one",
          nusd_of(h.get("x-tollgate-budget-remaining-usd", "-1")) == nusd_of("0.00001"), h)
    st, h, b = post(port, k2["secret"], chat("q-ok", max_tokens=200))
    check("limits: the team's other key is admitted", st == 200, (st, b[:300]))
    admin.team("tk", budget_usd="0.00001")
    k3 = admin.key("tk", budget_usd="1")
    st, h, b = post(port, k3["secret"], chat("q-ok", max_tokens=200))
    msg = json.loads(b).get("error", {}).get("message", "") if st == 429 else ""
    check("limits: the team's tighter budget refuses a generous key",
          st == 429 and msg.startswith("Team 'tk' has spent"), b)
    k4 = admin.key("kt", budget_requests=2)
    got = [post(port, k4["secret"], chat("q-ok", max_tokens=20)) for _ in range(3)]
    check("limits: a key's request budget", [g[0] for g in got] == [200, 200, 429] and
          "has made 2 of its 2 monthly requests" in got[2][2].decode(), [g[:1] for g in got])
    admin.team("tokteam", budget_tokens=100)
    k5 = admin.key("tokteam")
    st, h, b = post(port, k5["secret"], chat("q-ok", max_tokens=1000))
    check("limits: a token budget clamps the output cap to fit", st == 200, (st, b[:300]))


def test_clamping(port, admin, db_path, mock_port):
    budget = nusd_of("0.0001")
    admin.team("clamp", budget_usd="0.0001")
    key = admin.key("clamp")["secret"]
    pout = nano_per_mtok(PRICES["q-ok"][1])
    spent = 0
    for field in ("max_tokens", "max_completion_tokens", None):
        extra = {field: 1000} if field else {}
        st, h, b = post(port, key, chat("q-ok", **extra))
        last = mock_stats(mock_port)["last_request"]["body"]
        r = wait_rows(db_path, "id = ?", (h.get("x-tollgate-request-id"),), 1, "settled")
        r = r[0] if r else {}
        sent = last.get(field or "max_completion_tokens")
        other = "max_completion_tokens" if field == "max_tokens" else "max_tokens"
        room = budget - spent
        check(f"clamp: {field or 'no cap'}: admitted with a lower cap in the same field",
              st == 200 and isinstance(sent, int) and 64 <= sent < (field and 1000 or 16384)
              and other not in last, (st, last, b[:200]))
        check(f"clamp: {field or 'no cap'}: the reservation fills the room, one token more "
              f"would not fit", r and r["reserved_nusd"] <= room and
              room - r["reserved_nusd"] <= pout // MTOK + 1 and
              r["reserved_tokens"] - r["est_input_tokens"] == sent, (r, room, sent))
        spent += r.get("cost_nusd", 0)
    admin.team("floor", budget_usd="0.00003")
    key = admin.key("floor")["secret"]
    before = mock_stats(mock_port)["requests"]
    st, h, b = post(port, key, chat("q-ok", max_tokens=1000))
    check("clamp: below the floor (64 tokens) the request is refused",
          st == 429 and is_openai_error(b, "insufficient_quota") and
          mock_stats(mock_port)["requests"] == before, (st, b))


def test_degrade(port, admin):
    admin.team("degr", budget_usd="0.0003")
    key = admin.key("degr")["secret"]
    st, h, b = post(port, key, chat("degrade", max_tokens=100))
    check("degrade: a first choice that cannot fit even clamped gives way to a cheaper one",
          st == 200 and h.get("x-tollgate-model") == "q-ok", (st, h, b[:300]))
    st, h, b = post(port, key, chat("q-stream", max_tokens=100))
    check("degrade: the expensive model alone is refused", st == 429 and
          is_openai_error(b, "insufficient_quota"), (st, b[:300]))


def test_unknown_price(port, key, db_path, mock_port):
    before = mock_stats(mock_port)["requests"]
    st, h, b = post(port, key, chat("q-noprice"))
    check("unknown price: refused, never sent", 400 <= st < 500 and is_openai_error(b) and
          "price" in json.loads(b)["error"]["message"] and
          mock_stats(mock_port)["requests"] == before, (st, b))
    check("unknown price: nothing in the ledger at $0",
          rows(db_path, "model = 'q-noprice'") == [], "")


def test_rates(port, admin, db_path):
    admin.team("rate", rpm=3)
    key = admin.key("rate")["secret"]
    seen = []
    for i in range(4):
        st, h, b = post(port, key, chat("q-ok", max_tokens=20))
        seen.append((st, h.get("x-ratelimit-limit-requests"),
                     h.get("x-ratelimit-remaining-requests"), h.get("x-ratelimit-reset-requests"),
                     h.get("retry-after")))
    check("rpm: three pass with OpenAI's headers, the fourth is 429",
          [s[:3] for s in seen] == [(200, "3", "2"), (200, "3", "1"), (200, "3", "0"),
                                    (429, "3", "0")], seen)
    check("rpm: reset headers in OpenAI's form",
          all(re.fullmatch(r"\d+(ms|s)|\d+m\d+s", s[3] or "") for s in seen), seen)
    check("rpm: retry-after on the refusal", seen[3][4] and 1 <= int(seen[3][4]) <= 60, seen)
    e = json.loads(b)["error"]
    check("rpm: rate_limit_exceeded in OpenAI's shape", is_openai_error(b, "rate_limit_exceeded")
          and e["type"] == "requests" and "3 requests per minute" in e["message"], b)
    admin.team("tpm", tpm=3000)
    key = admin.key("tpm")["secret"]
    st, h, b = post(port, key, chat("q-ok", max_tokens=2000))
    r = wait_rows(db_path, "id = ?", (h.get("x-tollgate-request-id"),), 1, "settled")
    check("tpm: admitted with the token headers",
          st == 200 and r and h.get("x-ratelimit-limit-tokens") == "3000" and
          int(h["x-ratelimit-remaining-tokens"]) == 3000 - r[0]["reserved_tokens"], (st, h, r))
    st, h, b = post(port, key, chat("q-ok", "hello " * 4000, max_tokens=10))
    e = json.loads(b).get("error", {})
    check("tpm: a prompt larger than the minute's tokens is refused",
          st == 429 and e.get("code") == "rate_limit_exceeded" and e.get("type") == "tokens"
          and "3000 tokens per minute" in e.get("message", "") and
          h.get("x-ratelimit-limit-tokens") == "3000", (st, b))


def test_overshoot(port, admin, db_path):
    admin.team("over", budget_usd="10")
    key = admin.key("over")["secret"]
    st, h, b = post(port, key, chat("q-est", max_tokens=50))
    r = wait_rows(db_path, "id = ?", (h.get("x-tollgate-request-id"),), 1, "settled")
    pin, pout = PRICES["q-est"]
    u = json.loads(b)["usage"] if st == 200 else {}
    want = cost(u.get("prompt_tokens", 0), pin) + cost(u.get("completion_tokens", 0), pout)
    check("overshoot: an estimate below the vendor's count is recorded, never hidden",
          st == 200 and r and r[0]["overshoot"] == 1 and r[0]["cost_nusd"] == want and
          r[0]["cost_nusd"] > r[0]["reserved_nusd"], (st, r, want))


def test_client_gone(port, admin, db_path):
    admin.team("gone", budget_usd="2")
    key = admin.key("gone")["secret"]
    body = json.dumps(chat("q-stream", max_tokens=300, stream=True)).encode()
    s = socket.create_connection(("127.0.0.1", port), timeout=10)
    harness.send_chat(s, key, body)
    got = b""
    while got.count(b"data: ") < 4:  # a few words, then the client leaves
        chunk = s.recv(4096)
        if not chunk:
            break
        got += chunk
    rid = re.search(rb"x-tollgate-request-id: (\S+)", got, re.I)
    s.close()
    r = wait_rows(db_path, "id = ?", (rid.group(1).decode() if rid else "",), 1, "settled")
    check("client gone: the stream is settled at what was delivered, not left reserved",
          r and r[0]["state"] == "settled" and r[0]["client_aborted"] == 1 and
          r[0]["usage_estimated"] == 1 and 0 < r[0]["output_tokens"] < 300 and
          0 < r[0]["cost_nusd"] <= r[0]["reserved_nusd"], (got[:300], r))
    st, t = admin("GET", "/teams/gone")
    u = t.get("usage", {})
    check("client gone: the team is charged exactly the settled cost",
          r and nusd_of(u.get("spent_usd", -1)) == r[0]["cost_nusd"] and
          u.get("reserved_usd") == 0, (u, r))


def test_release(port, admin, db_path):
    admin.team("rel", budget_usd="1")
    key = admin.key("rel")["secret"]
    st, h, b = post(port, key, chat("q-500", max_tokens=100))
    r = wait_rows(db_path, "id = ?", (h.get("x-tollgate-request-id"),), 1, "released")
    check("release: an upstream failure passes through", st == 500, (st, b[:200]))
    check("release: its reservation is released, nothing charged",
          r and r[0]["state"] == "released" and r[0]["cost_nusd"] == 0 and
          r[0]["reserved_nusd"] > 0, r)
    st, t = admin("GET", "/teams/rel")
    u = t.get("usage", {})
    check("release: the team's counters are whole again",
          st == 200 and u.get("spent_usd") == 0 and u.get("reserved_usd") == 0 and
          u.get("requests") == 0 and u.get("remaining_usd") == 1, t)


def test_metrics(admin):
    st, _, b = request(admin.port, "GET", "/metrics",
                       headers={"authorization": f"Bearer {ADMIN_TOKEN}"})
    text = b.decode()
    m = dict(re.findall(r"^(tollgate_quota_[a-z_]+(?:\{[^}]*\})?) (\S+)$", text, re.M))
    check("metrics: admissions, settlements and overshoots are counted",
          st == 200 and int(m.get('tollgate_quota_admissions_total{result="refused"}', 0)) > 40
          and int(m.get('tollgate_quota_settlements_total{result="released"}', 0)) >= 1
          and int(m.get("tollgate_quota_overshoots_total", 0)) >= 1
          and Decimal(m.get("tollgate_quota_overshoot_usd_total", "0")) > 0, m)


def test_headers_everywhere(port, admin):
    admin.team("hdr", budget_usd="3")
    key = admin.key("hdr")["secret"]
    st, h, b = request(port, "POST", "/v1/chat/completions", raw=b"{not json",
                       headers={"authorization": f"Bearer {key}"})
    check("headers: a 400 of a known key carries the budget header",
          st == 400 and "x-tollgate-budget-remaining-usd" in h, (st, h))
    st, h, b = request(port, "GET", "/v1/models", headers={"authorization": f"Bearer {key}"})
    check("headers: GET /v1/models carries it", st == 200 and
          "x-tollgate-budget-remaining-usd" in h, h)
    st, h, b = request(port, "GET", "/v1/models", headers={"authorization": "Bearer nope"})
    check("headers: an unknown key gets none", st == 401 and
          "x-tollgate-budget-remaining-usd" not in h, h)


def test_admin(port, admin, tg_env, cfg_path):
    st, b = admin("GET", "/teams", token=None)
    check("admin: needs the token", st == 401, (st, b))
    st, b = admin("GET", "/teams", token="wrong")
    check("admin: refuses a wrong token", st == 401, (st, b))
    t = admin.team("adm", budget_usd="12.5", period="week", budget_tokens=1000, rpm=60)
    check("admin: the team as stored", t.get("budget_usd") == 12.5 and t.get("period") == "week"
          and t.get("budget_tokens") == 1000 and t.get("rpm") == 60 and t.get("tpm") is None
          and t.get("usage", {}).get("remaining_usd") == 12.5, t)
    st, b = admin("POST", "/teams", {"name": "adm"})
    check("admin: a taken name is 409", st == 409 and "already exists" in
          b["error"]["message"], (st, b))
    st, b = admin("POST", "/teams", {"name": "x", "budget": 1})
    check("admin: an unknown field is 400 and names it", st == 400 and
          b["error"]["message"].startswith("budget: unknown field"), (st, b))
    st, b = admin("POST", "/teams", {"name": "x", "budget_usd": "1.0000000001"})
    check("admin: finer than a nano-dollar is 400", st == 400, (st, b))
    st, b = admin("POST", "/teams", {"name": "x", "rpm": -1})
    check("admin: a negative limit is 400", st == 400, (st, b))
    st, b = admin("PATCH", "/teams/adm", {"budget_usd": None, "tpm": 500})
    check("admin: set clears and sets", st == 200 and b["budget_usd"] is None and
          b["tpm"] == 500 and b["rpm"] == 60, b)
    st, b = admin("PATCH", "/teams/nope", {"tpm": 1})
    check("admin: an unknown team is 404", st == 404, (st, b))
    k = admin.key("adm", name="ci", budget_usd="0.5", tags="nightly,eu:west")
    secret = k["secret"]
    check("admin: a key's tags are kept", k.get("tags") == ["nightly", "eu:west"], k)
    st, b = admin("POST", "/keys", {"team": "adm", "tags": "a,,b"})
    check("admin: a bad tag list is 400 naming it", st == 400 and
          "invalid tag ''" in json.dumps(b), (st, b))
    st, raw_h, raw = request(admin.port, "GET", "/keys?team=adm",
                             headers={"authorization": f"Bearer {ADMIN_TOKEN}"})
    ks = json.loads(raw)
    check("admin: listings never show a secret or hash",
          st == 200 and len(ks) == 1 and "secret" not in ks[0] and "hash" not in ks[0] and
          secret.encode() not in raw and ks[0]["prefix"] == secret[:8] and
          ks[0]["budget_usd"] == 0.5 and ks[0]["name"] == "ci", ks)
    st, raw_h, raw = request(admin.port, "GET", f"/keys/{k['id']}",
                             headers={"authorization": f"Bearer {ADMIN_TOKEN}"})
    check("admin: GET /keys/ID without the secret", st == 200 and secret.encode() not in raw,
          raw)
    db = sqlite3.connect(cfg_path["db"])
    hashes = [bytes(r[0]) for r in db.execute("SELECT hash FROM keys WHERE id = ?", (k["id"],))]
    dump = b"".join(bytes(str(r), "utf-8") for r in db.execute("SELECT * FROM keys"))
    db.close()
    check("admin: the store keeps the hash only", len(hashes) == 1 and len(hashes[0]) == 32 and
          secret.encode() not in dump, hashes)
    st, b = admin("PATCH", f"/keys/{k['id']}", {"budget_usd": "0.25", "rpm": 5})
    check("admin: key limits set", st == 200 and b["budget_usd"] == 0.25 and b["rpm"] == 5, b)
    st, b = admin("PATCH", f"/keys/{k['id']}", {"period": "day"})
    check("admin: a key has no period of its own", st == 400, (st, b))
    st, h, _ = post(port, secret, chat("q-ok", max_tokens=10))
    check("admin: the new key works", st == 200, st)
    st, b = admin("GET", "/budgets")
    mine = [x for x in b if x.get("key") == k["id"]] if st == 200 else []
    check("admin: /budgets shows the key's usage", len(mine) == 1 and
          mine[0]["usage"]["requests"] == 1 and mine[0]["usage"]["period"] == "week", mine)
    st, b = admin("POST", f"/keys/{k['id']}/revoke")
    check("admin: revoke", st == 200 and b["revoked_at"], (st, b))
    st, b = admin("DELETE", f"/keys/{k['id']}")
    check("admin: revoking again changes nothing", st == 200 and b["revoked_at"], (st, b))
    time.sleep(2.2)  # the workers' key cache
    st, h, _ = post(port, secret, chat("q-ok", max_tokens=10))
    check("admin: a revoked key is refused", st == 401, st)
    st, b = admin("GET", "/keys/key_000000000000")
    check("admin: an unknown key is 404", st == 404, (st, b))
    st, b = admin("PUT", "/budgets")
    check("admin: wrong method is 405", st == 405, (st, b))


def main():
    now = time.time()
    to_midnight = 86400 - now % 86400
    if to_midnight < 120:  # keep the period checks off a day boundary
        time.sleep(to_midnight + 1)
        now = time.time()
    tmp = tempfile.mkdtemp(prefix="tg-quota-")
    db_path = f"{tmp}/tollgate.db"
    store = f"sqlite:{db_path}"
    env = dict(os.environ, TOLLGATE_STORE=store, OPENAI_API_KEY=harness.VENDOR_KEY,
               TOLLGATE_ADMIN_TOKEN=ADMIN_TOKEN)
    mocks = {"ok": harness.start_mock(MOCK),
             "slowjson": harness.start_mock(MOCK, "x-mock-delay-ms=300"),
             "slowstream": harness.start_mock(MOCK, "x-mock-chunk-delay-ms=100",
                                              "x-mock-words=200"),
             "est": harness.start_mock(MOCK, "x-mock-prompt-tokens=5000"),
             "p500": harness.start_mock(MOCK, "x-mock-status=500")}
    providers = {n: {"format": "openai", "base_url": f"http://127.0.0.1:{p}",
                     "api_key_env": "OPENAI_API_KEY"} for n, p in mocks.items()}
    cat_path, pol_path = os.path.join(tmp, "catalog.json"), os.path.join(tmp, "policy.json")
    json.dump(CATALOG, open(cat_path, "w"))
    json.dump(POLICY, open(pol_path, "w"))
    port, admin_port = free_port(), free_port()
    cfg_path = os.path.join(tmp, "tollgate.json")
    json.dump({"listen": f"127.0.0.1:{port}", "admin": {"listen": f"127.0.0.1:{admin_port}"},
               "store": store, "workers": 2, "providers": providers, "default_provider": "ok",
               "catalog": [cat_path], "policy": pol_path}, open(cfg_path, "w"))
    run = lambda *a: subprocess.run([TG, *a, "--config", cfg_path], env=env,
                                    capture_output=True, text=True)
    for p in ("pday", "pweek", "pmonth", "pfresh"):
        r = run("teams", "add", p, "--budget-usd", "0.01")
        check(f"teams add {p}", r.returncode == 0, r.stderr)
    r = run("teams", "add", "misc")
    misc_key = run("keys", "create", "--team", "misc").stdout.strip()
    seed_period_rows(db_path, now)
    log_path = os.path.join(tmp, "serve.log")

    def serve():
        p = subprocess.Popen([TG, "serve", "--config", cfg_path], env=env,
                             stderr=open(log_path, "a"))
        procs.append(p)
        return p

    ctx = {"port": port, "db": db_path, "mocks": mocks, "log": log_path, "serve": serve,
           "tg": serve()}
    check("tollgate starts", wait_healthy(port), open(log_path).read())
    admin = Admin(admin_port)
    ctx["admin"] = admin
    test_periods(port, admin, now)
    test_burst(port, admin, db_path, mocks["slowjson"])
    test_key_vs_team(port, admin)
    test_clamping(port, admin, db_path, mocks["ok"])
    test_degrade(port, admin)
    test_unknown_price(port, misc_key, db_path, mocks["ok"])
    test_rates(port, admin, db_path)
    test_overshoot(port, admin, db_path)
    test_release(port, admin, db_path)
    test_client_gone(port, admin, db_path)
    test_metrics(admin)
    test_headers_everywhere(port, admin)
    test_admin(port, admin, env, {"db": db_path})
    test_crash(ctx)
    ctx["tg"].send_signal(signal.SIGTERM)
    check("tollgate stops cleanly", ctx["tg"].wait(timeout=15) == 0, "")
    log = open(log_path).read()
    check("no sanitizer report in the server's log",
          "runtime error" not in log and "Sanitizer" not in log, log[-3000:])


if __name__ == "__main__":
    run_main(main)
