#!/usr/bin/env python3
"""Integration tests of routing in `tollgate serve` (issue 4) against mock vendors over
real sockets: the cheapest capable model, exclusions (no key, price not yet in effect,
missing capability), header and deny rules, unknown models, fallbacks on each class
(429, 5xx, timeout, connect, context length) and not on others, one record per attempt,
/v1/models, the decision headers, `tollgate route`, and reloads (file change, SIGHUP,
admin API with validate-only, a rejected policy keeps the running one, reload under load
loses no request).

usage: test_routing.py PATH/TO/tollgate PATH/TO/mock_vendor
"""
import json
import os
import signal
import sqlite3
import subprocess
import sys
import tempfile
import threading
import time

from harness import (ADMIN_TOKEN, VENDOR_KEY, check, free_port, is_openai_error, mock_stats,
                     procs, request, run_main, sse_events, wait_healthy)
import harness

TG, MOCK = sys.argv[1], sys.argv[2]


def model(provider, upstream, inp, out, caps=("tools", "streaming"), since="2025-01-01",
          tiers=None, tier="fast"):
    price = {"effective_from": since, "input": inp, "output": out}
    if tiers:
        price["tiers"] = tiers
    return {"provider": provider, "upstream_model": upstream, "tokenizer": "o200k_base",
            "endpoints": ["chat"], "context_window": 128000, "max_output": 16384,
            "capabilities": list(caps), "tier": tier, "prices": [price]}


CATALOG = {"catalog_version": "it-1", "models": {
    "m-cheap": model("ok", "gpt-4o-mini", 0.10, 0.40),
    "m-vision": model("ok", "gpt-4o", 2.5, 10.0, caps=("tools", "vision", "streaming")),
    "m-nokey": model("nokey", "gpt-4o-mini", 0.01, 0.01),
    "m-future": model("ok", "gpt-4o-mini", 0.01, 0.01, since="2099-01-01"),
    "m-429": model("p429", "gpt-4o-mini", 0.05, 0.2),
    "m-500": model("p500", "gpt-4o-mini", 0.05, 0.2),
    "m-hang": model("phang", "gpt-4o-mini", 0.05, 0.2),
    "m-down": model("pdown", "gpt-4o-mini", 0.05, 0.2),
    "m-ctx": model("pctx", "gpt-4o-mini", 0.05, 0.2),
    "m-tiered": model("ok", "gpt-4o-mini", 1.0, 2.0,
                      tiers=[{"above_tokens": 1000, "input": 3.0, "output": 4.0}]),
}}


def rule(rid, alias, cands, objective="ordered", on=None, **extra):
    route = {"candidates": cands, "objective": objective}
    if on is not None:
        route["fallback"] = {"on": on, "max_attempts": 3}
    route.update(extra)
    return {"id": rid, "when": {"model": alias}, "route": route}


def policy(cheap_cands=("m-vision", "m-cheap", "m-nokey", "m-future"), version="p1"):
    return {"policy_version": version,
            "aliases": ["cheap", "fb-429", "fb-500", "fb-timeout", "fb-connect", "fb-ctx",
                        "no-fb", "all-fail", "denied", "tiered"],
            "rules": [
                {"id": "deny", "when": {"model": "denied"}, "deny": "This alias is closed."},
                {"id": "gold", "when": {"model": "cheap", "header.x-tier": "gold"},
                 "route": {"candidates": ["m-vision"]}},
                {"id": "batch-keys", "when": {"model": "cheap", "key_tags": "batch*"},
                 "route": {"candidates": ["m-tiered"]}},
                rule("cheap", "cheap", list(cheap_cands), "cheapest"),
                rule("fb-429", "fb-429", ["m-429", "m-cheap"], on=["429"]),
                rule("fb-500", "fb-500", ["m-500", "m-cheap"], on=["5xx"]),
                rule("fb-timeout", "fb-timeout", ["m-hang", "m-cheap"], on=["timeout"]),
                rule("fb-connect", "fb-connect", ["m-down", "m-cheap"], on=["connect"]),
                rule("fb-ctx", "fb-ctx", ["m-ctx", "m-cheap"], on=["context_length"]),
                rule("no-fb", "no-fb", ["m-429", "m-cheap"], on=["5xx"]),
                rule("all-fail", "all-fail", ["m-429", "m-500"],
                     on=["429", "5xx", "timeout", "connect", "context_length"]),
                rule("tiered", "tiered", ["m-tiered"]),
                {"id": "default", "when": {}, "route": {"candidates": ["$requested"]}},
            ]}


def write_json(path, obj):
    tmp = path + ".new"
    with open(tmp, "w") as f:
        json.dump(obj, f)
    os.replace(tmp, path)


def usd(nano):
    return f"{nano // 10**9}.{nano % 10**9:09d}"


def main():
    tmp = tempfile.mkdtemp(prefix="tg-route-")
    store = f"sqlite:{tmp}/tollgate.db"
    env = dict(os.environ, TOLLGATE_STORE=store, OPENAI_API_KEY=VENDOR_KEY,
               TOLLGATE_ADMIN_TOKEN=ADMIN_TOKEN)
    env.pop("TG_TEST_UNSET_KEY", None)
    ports = {"ok": harness.start_mock(MOCK),
             "p429": harness.start_mock(MOCK, "x-mock-status=429"),
             "p500": harness.start_mock(MOCK, "x-mock-status=500"),
             "phang": harness.start_mock(MOCK, "x-mock-hang=1"),
             "pctx": harness.start_mock(MOCK, "x-mock-status=400", "x-mock-context-length=1")}
    providers = {n: {"format": "openai", "base_url": f"http://127.0.0.1:{p}",
                     "api_key_env": "OPENAI_API_KEY", "timeouts": {"first_byte_ms": 800}}
                 for n, p in ports.items()}
    providers["pdown"] = {"format": "openai", "base_url": "http://127.0.0.1:1",
                          "api_key_env": "OPENAI_API_KEY"}
    providers["openai"] = dict(providers["ok"])  # the built-in catalog's OpenAI models
    providers["nokey"] = {"format": "openai", "base_url": f"http://127.0.0.1:{ports['ok']}",
                          "api_key_env": "TG_TEST_UNSET_KEY"}
    cat_path, pol_path = os.path.join(tmp, "catalog.json"), os.path.join(tmp, "policy.json")
    write_json(cat_path, CATALOG)
    write_json(pol_path, policy())
    port, admin = free_port(), free_port()
    cfg_path = os.path.join(tmp, "tollgate.json")
    write_json(cfg_path, {"listen": f"127.0.0.1:{port}", "admin": {"listen": f"127.0.0.1:{admin}"},
                          "store": store, "workers": 2, "providers": providers,
                          "catalog": [cat_path], "policy": pol_path})
    run = lambda *a, **kw: subprocess.run([TG, *a], env=env, capture_output=True, text=True,
                                          **kw)
    r = run("check", "--config", cfg_path)
    check("check passes", r.returncode == 0 and "policy OK" in r.stdout, (r.stdout, r.stderr))
    run("teams", "add", "ml", "--config", cfg_path)
    key = run("keys", "create", "--team", "ml", "--config", cfg_path).stdout.strip()
    auth = {"authorization": f"Bearer {key}"}
    tagged = run("keys", "create", "--team", "ml", "--tags", "nightly,batch-eu",
                 "--config", cfg_path).stdout.strip()
    r = run("keys", "create", "--team", "ml", "--tags", "bad tag", "--config", cfg_path)
    check("a bad tag is refused", r.returncode == 1 and "invalid tag 'bad tag'" in r.stderr,
          (r.returncode, r.stderr))
    log_path = os.path.join(tmp, "serve.log")
    log = open(log_path, "w")
    tg = subprocess.Popen([TG, "serve", "--config", cfg_path], env=env, stderr=log)
    procs.append(tg)
    check("tollgate starts", wait_healthy(port), open(log_path).read())
    chat = {"model": "cheap", "messages": [{"role": "user", "content": "hello there"}]}
    post = lambda body, h=None: request(port, "POST", "/v1/chat/completions", body,
                                        dict(auth, **(h or {})))

    # ---- /v1/models
    st, h, b = request(port, "GET", "/v1/models", headers=auth)
    ids = [m["id"] for m in json.loads(b)["data"]] if st == 200 else []
    check("models lists aliases and catalog", st == 200 and "cheap" in ids and
          "m-cheap" in ids and "gpt-4o-mini" in ids, ids[:20])

    # ---- cheapest capable, decision headers, exclusions
    tokens = int(run("count", "--model", "gpt-4o", "--api", "chat",
                     input=json.dumps(chat)).stdout)
    st, h, b = post(chat)
    want = usd(tokens * 100 + 256 * 400)  # $0.10/M in, $0.40/M x 256 expected out
    check("cheapest: m-cheap", st == 200 and h.get("x-tollgate-model") == "m-cheap" and
          h.get("x-tollgate-rule") == "cheap", (st, h, b[:200]))
    check("estimated cost header", h.get("x-tollgate-estimated-cost-usd") == want,
          (h.get("x-tollgate-estimated-cost-usd"), want, tokens))
    last = mock_stats(ports["ok"])["last_request"]["body"]
    check("upstream got the upstream model name", last.get("model") == "gpt-4o-mini", last)
    st, h, b = post(chat, {"x-tier": "gold"})
    check("header rule", st == 200 and h.get("x-tollgate-model") == "m-vision" and
          h.get("x-tollgate-rule") == "gold", (st, h))
    st, h, b = request(port, "POST", "/v1/chat/completions", chat,
                       {"authorization": f"Bearer {tagged}"})
    check("key tags rule", st == 200 and h.get("x-tollgate-rule") == "batch-keys" and
          h.get("x-tollgate-model") == "m-tiered", (st, h))
    d = json.loads(run("route", "--config", cfg_path, "--tags", "x,batch-1",
                       input=json.dumps(chat)).stdout)
    check("route CLI key tags", d.get("rule") == "batch-keys", d)
    img = {"model": "cheap", "messages": [{"role": "user", "content": [
        {"type": "text", "text": "what is this?"},
        {"type": "image_url", "image_url": {"url": "data:image/png;base64,iVBORw0KGgo="}}]}]}
    st, h, b = post(img)
    check("vision needs a vision model", st == 200 and h.get("x-tollgate-model") == "m-vision",
          (st, h, b[:300]))
    st, h, b = post(dict(chat, model="denied"))
    check("deny rule 403", st == 403 and is_openai_error(b, "model_not_allowed") and
          b"closed" in b, (st, b))
    st, h, b = post(dict(chat, model="no-such-model"))
    check("unknown model 404", st == 404 and is_openai_error(b, "model_not_found"), (st, b))
    st, h, b = post(dict(chat, model="gpt-4o-mini"))
    check("built-in catalog model by name", st == 200 and
          h.get("x-tollgate-rule") == "default", (st, h, b[:200]))
    st, h, b = post(dict(chat, model="ok/m-cheap"))
    check("provider-pinned name", st == 200 and h.get("x-tollgate-model") == "m-cheap", (st, h))
    long_chat = dict(chat, model="tiered",
                     messages=[{"role": "user", "content": "word " * 1500}])
    st, h, b = post(long_chat)
    lt = int(run("count", "--model", "gpt-4o", "--api", "chat",
                 input=json.dumps(long_chat)).stdout)
    check("long-context tier price", st == 200 and h.get("x-tollgate-estimated-cost-usd") ==
          usd(lt * 3000 + 256 * 4000), (h.get("x-tollgate-estimated-cost-usd"), lt))

    # ---- fallbacks
    for alias, prov, slow in [("fb-429", "p429", False), ("fb-500", "p500", False),
                              ("fb-timeout", "phang", True), ("fb-connect", "pdown", False),
                              ("fb-ctx", "pctx", False)]:
        before = mock_stats(ports[prov])["requests"] if prov in ports else 0
        t0 = time.time()
        st, h, b = post(dict(chat, model=alias))
        took = time.time() - t0
        seen = mock_stats(ports[prov])["requests"] - before if prov in ports else 1
        check(f"{alias} falls back", st == 200 and h.get("x-tollgate-model") == "m-cheap" and
              h.get("x-tollgate-attempts") == "2" and seen == 1 and
              (took > 0.7 if slow else took < 5), (st, h, b[:200], seen, took))
    st, h, b = post(dict(chat, model="fb-429", stream=True))
    evs = sse_events(b)
    check("fallback then stream", st == 200 and evs and evs[-1] == "data: [DONE]" and
          h.get("x-tollgate-attempts") == "2", (st, h, evs[-2:]))
    st, h, b = post(dict(chat, model="no-fb"))
    check("429 not in fallback classes passes through", st == 429 and
          json.loads(b)["error"]["code"] == "rate_limit_exceeded", (st, b))
    st, h, b = post(dict(chat, model="all-fail"))
    fail_id = h.get("x-tollgate-request-id")
    check("every candidate failing: the last answer passes", st == 500 and
          h.get("x-tollgate-attempts") == "2", (st, h, b))

    # ---- tollgate route
    r = run("route", "--config", cfg_path, "--team", "ml", input=json.dumps(chat))
    d = json.loads(r.stdout) if r.returncode == 0 else {}
    why = {c["model"]: c["excluded"] for c in d.get("candidates", [])}
    check("route CLI decision", d.get("model") == "m-cheap" and d.get("rule") == "cheap" and
          d.get("estimated_input_tokens") == tokens, (r.stdout[:600], r.stderr))
    check("route CLI explains exclusions", why.get("m-cheap") is None and
          "TG_TEST_UNSET_KEY" in (why.get("m-nokey") or "") and
          "no price in effect" in (why.get("m-future") or "") and why.get("m-vision") is None,
          why)
    r = run("route", "--config", cfg_path, input=json.dumps(img))
    d = json.loads(r.stdout) if r.returncode == 0 else {}
    check("route CLI capabilities", d.get("model") == "m-vision" and
          "vision" in d.get("required_capabilities", []) and
          "lacks vision" in str(d.get("candidates")), r.stdout[:600])

    # ---- reloads
    adm = {"authorization": f"Bearer {ADMIN_TOKEN}"}

    def routed_model():
        return post(chat)[1].get("x-tollgate-model")

    def wait_model(want, secs=4.0):
        t0 = time.time()
        while time.time() - t0 < secs:
            if routed_model() == want:
                return True
            time.sleep(0.1)
        return False

    write_json(pol_path, policy(("m-vision",), "p2"))
    check("file change reloads", wait_model("m-vision"), open(log_path).read()[-600:])
    bad = policy(("m-vision", "m-nonexistent"), "p-bad")
    write_json(pol_path, bad)
    time.sleep(2.5)
    check("rejected file keeps the running policy", routed_model() == "m-vision" and
          "rejected" in open(log_path).read(), open(log_path).read()[-800:])
    st, h, b = request(admin, "POST", "/policy?validate_only=1", bad, adm)
    probs = json.loads(b).get("problems", []) if st == 422 else []
    check("admin validate rejects with path", st == 422 and
          any("$.rules[" in p and "m-nonexistent" in p for p in probs), (st, b[:500]))
    st, h, b = request(admin, "POST", "/policy?validate_only=1", policy(version="p3"), adm)
    check("admin validate accepts, does not install", st == 200 and json.loads(b)["ok"] and
          routed_model() == "m-vision", (st, b))
    st, h, b = request(admin, "PUT", "/policy", policy(version="p4"), adm)
    check("admin replace installs at once", st == 200 and routed_model() == "m-cheap" and
          json.loads(b).get("policy_version") == "p4", (st, b))
    check("admin replace writes the file", json.load(open(pol_path)).get("policy_version") ==
          "p4")
    st, h, b = request(admin, "GET", "/policy", headers=adm)
    check("admin reads the policy", st == 200 and json.loads(b)["policy_version"] == "p4", b[:200])
    st, h, b = request(admin, "GET", "/catalog", headers=adm)
    check("admin reads the catalog", st == 200 and "m-cheap" in json.loads(b)["models"], b[:200])
    with open(pol_path, "w") as f:  # same size and a write within the same second
        json.dump(policy(("m-vision",), "p5"), f)
    tg.send_signal(signal.SIGHUP)
    check("SIGHUP reloads", wait_model("m-vision", 2.0), open(log_path).read()[-400:])

    # reload under load: no request lost or failed while the policy swaps
    stop, statuses, errors = threading.Event(), [], []

    def hammer():
        while not stop.is_set():
            try:
                statuses.append(post(chat)[0])
            except Exception as e:
                errors.append(repr(e))

    threads = [threading.Thread(target=hammer) for _ in range(4)]
    for t in threads:
        t.start()
    for i in range(20):
        cands = ("m-cheap",) if i % 2 else ("m-vision", "m-cheap")
        st, h, b = request(admin, "PUT", "/policy", policy(cands, f"load-{i}"), adm)
        if st != 200:
            errors.append(b)
        time.sleep(0.05)
    stop.set()
    for t in threads:
        t.join()
    check("reload under load loses nothing", len(statuses) > 50 and
          all(s == 200 for s in statuses) and not errors,
          (len(statuses), set(statuses), errors[:3]))

    # ---- records: one per attempt
    tg.send_signal(signal.SIGTERM)
    tg.wait(timeout=15)
    db = sqlite3.connect(store[len("sqlite:"):])
    rows = db.execute("SELECT attempt, status, provider, model FROM requests WHERE id = ? "
                      "ORDER BY attempt", (fail_id,)).fetchall()
    check("a record per attempt", rows == [(1, 429, "p429", "m-429"), (2, 500, "p500", "m-500")],
          rows)
    n = db.execute("SELECT COUNT(*) FROM requests WHERE attempt = 2").fetchone()[0]
    check("fallback attempts recorded", n >= 7, n)
    rows = db.execute("SELECT DISTINCT rule, policy_version, price_version FROM requests "
                      "WHERE id = ?", (fail_id,)).fetchall()
    check("records carry rule, policy and price versions", rows == [("all-fail", "p1", rows[0][2])]
          and rows[0][2] != "", rows)
    vers = {v for (v,) in db.execute("SELECT DISTINCT policy_version FROM requests")}
    check("requests during reloads carry the version they were routed by",
          len({v for v in vers if v.startswith("load-")}) >= 2, sorted(vers))


run_main(main)
