"""The finance admin API and the dashboard, end to end: tollgate serve (admin listener)
over a store filled with generated records for the last three weeks plus real requests
through the mock vendor.  Checks GET /report (JSON, CSV, errors, auth) against the CLI,
GET /export/focus and its metadata, the dashboard's JSON endpoints against the raw
records, and the page itself in headless Chromium: a screenshot that exists and has the
charts' colours, and a --dump-dom run whose rendered numbers equal the JSON.

usage: test_dashboard.py PATH/TO/tollgate PATH/TO/mock_vendor PATH/TO/gen_records"""
import datetime
import json
import os
import shutil
import sqlite3
import struct
import subprocess
import sys
import tempfile
import time
import zlib
from decimal import Decimal
from html.parser import HTMLParser

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import harness  # noqa: E402
from harness import ADMIN_TOKEN, VENDOR_KEY, check, free_port, procs, request, run_main  # noqa: E402

TG, MOCK, GEN = (os.path.abspath(a) for a in sys.argv[1:4])
TMP = tempfile.mkdtemp(prefix="tg-dash-")
DB = os.path.join(TMP, "t.db")
ADM = {"authorization": f"Bearer {ADMIN_TOKEN}"}
NUSD = Decimal(10) ** 9
PALETTE = ["#3b5bdb", "#e8590c", "#2f9e44", "#ae3ec9", "#1098ad", "#f59f00"]
CHROMIUM_FLAGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-quic",
                  "--no-first-run", "--disable-background-networking",
                  "--disable-component-update", "--disable-sync",
                  "--window-size=1280,1400", "--virtual-time-budget=5000"]


def usd_text(v):
    q = Decimal(v).quantize(Decimal("0.01"), rounding="ROUND_HALF_EVEN")
    return ("-$" if q < 0 else "$") + f"{abs(q):,.2f}"


def png_colours(path):
    """Distinct RGB colours of a PNG (8-bit RGB or RGBA, non-interlaced), decoded here."""
    data = open(path, "rb").read()
    check("screenshot is a PNG", data[:8] == b"\x89PNG\r\n\x1a\n")
    pos, idat, w = 8, b"", 0
    while pos < len(data):
        n, kind = struct.unpack(">I4s", data[pos:pos + 8])
        body = data[pos + 8:pos + 8 + n]
        if kind == b"IHDR":
            w, h, depth, ctype = struct.unpack(">IIBB", body[:10])
        elif kind == b"IDAT":
            idat += body
        pos += 12 + n
    bpp = 4 if ctype == 6 else 3
    raw, stride, prev, colours = zlib.decompress(idat), w * bpp, bytearray(w * bpp), set()
    for y in range(h):
        f, line = raw[y * (stride + 1)], bytearray(raw[y * (stride + 1) + 1:(y + 1) * (stride + 1)])
        for i in range(stride):
            a = line[i - bpp] if i >= bpp else 0
            b, c = prev[i], prev[i - bpp] if i >= bpp else 0
            if f == 1:
                line[i] = (line[i] + a) & 255
            elif f == 2:
                line[i] = (line[i] + b) & 255
            elif f == 3:
                line[i] = (line[i] + (a + b) // 2) & 255
            elif f == 4:
                p = a + b - c
                pa, pb, pc = abs(p - a), abs(p - b), abs(p - c)
                line[i] = (line[i] + (a if pa <= pb and pa <= pc else b if pb <= pc else c)) & 255
        for i in range(0, stride, bpp * 2):  # every other pixel is plenty
            colours.add(bytes(line[i:i + 3]))
        prev = line
    return colours


class Values(HTMLParser):
    """Every element with data-value: (its class, data-* keys, data-value, text)."""
    def __init__(self):
        super().__init__()
        self.found, self.stack = [], []

    def handle_starttag(self, tag, attrs):
        a = dict(attrs)
        self.stack.append(a if "data-value" in a else None)
        if "data-value" in a:
            a["_text"] = ""
            self.found.append(a)

    def handle_endtag(self, tag):
        if self.stack:
            self.stack.pop()

    def handle_data(self, text):
        for a in self.stack:
            if a is not None:
                a["_text"] += text


def setup():
    today = datetime.datetime.now(datetime.timezone.utc).date()
    first = today - datetime.timedelta(days=20)
    p = subprocess.run([GEN, "sqlite:" + DB, "3000", "--from", first.isoformat(), "--days", "21",
                        "--teams", "4", "--keys", "3", "--seed", "3"], capture_output=True, text=True)
    check("generator", p.returncode == 0, p.stderr)
    env = dict(os.environ, OPENAI_API_KEY=VENDOR_KEY, TOLLGATE_ADMIN_TOKEN=ADMIN_TOKEN,
               TOLLGATE_STORE="sqlite:" + DB)
    mock = harness.start_mock(MOCK)
    port, admin = free_port(), free_port()
    cfg = os.path.join(TMP, "tollgate.json")
    with open(cfg, "w") as f:
        json.dump({"listen": f"127.0.0.1:{port}", "admin": {"listen": f"127.0.0.1:{admin}"},
                   "store": "sqlite:" + DB, "workers": 1, "providers": {"openai": {
                       "format": "openai", "base_url": f"http://127.0.0.1:{mock}",
                       "api_key_env": "OPENAI_API_KEY"}}}, f)
    run = lambda *a: subprocess.run([TG, *a, "--config", cfg], env=env, capture_output=True,
                                    text=True)
    for team, args in (("team00", ["--budget-usd", "40"]), ("team01", ["--budget-usd", "9"]),
                       ("team02", []), ("team03", ["--budget-usd", "6", "--period", "week"]),
                       ("ml", ["--budget-usd", "100"])):
        run("teams", "add", team, *args)
    key = run("keys", "create", "--team", "ml").stdout.strip()
    log = open(os.path.join(TMP, "serve.log"), "w")
    procs.append(subprocess.Popen([TG, "serve", "--config", cfg], env=env, stderr=log))
    check("serve starts", harness.wait_healthy(port), open(os.path.join(TMP, "serve.log")).read())
    return env, cfg, port, admin, key


def real_requests(port, key):
    """Requests through the mock: their records land in the same report."""
    auth = {"authorization": f"Bearer {key}"}
    ok = 0
    for i in range(6):
        body = {"model": "gpt-4o-mini", "messages": [{"role": "user", "content": f"hi {i}"}]}
        st, _, _ = request(port, "POST", "/v1/chat/completions", body, auth)
        ok += st == 200
    check("real requests answered", ok == 6, ok)
    for _ in range(100):  # the ledger writer commits within milliseconds
        with sqlite3.connect(DB) as db:
            n = db.execute("SELECT count(*) FROM requests WHERE team = 'ml' AND state IN"
                           " ('settled', 'recorded')").fetchone()[0]
        if n >= 6:
            break
        time.sleep(0.05)
    check("real requests recorded", n >= 6, n)


def api_checks(env, cfg, admin):
    today = datetime.datetime.now(datetime.timezone.utc).date()
    lo = (today - datetime.timedelta(days=20)).isoformat()
    st, h, b = request(admin, "GET", f"/report?from={lo}&to={today}&by=team,model", headers=ADM)
    cli = subprocess.run([TG, "report", "--config", cfg, "--from", lo, "--to", str(today),
                          "--by", "team,model", "--format", "json"], env=env,
                         capture_output=True, text=True)
    check("GET /report equals tollgate report", st == 200 and
          json.loads(b) == json.loads(cli.stdout) and "application/json" in h["content-type"],
          (st, b[:200]))
    check("GET /report includes the real requests",
          any(r["team"] == "ml" and r["requests"] >= 6 for r in json.loads(b)))
    st, h, b = request(admin, "GET", f"/report?from={lo}&format=csv&by=day", headers=ADM)
    check("GET /report csv", st == 200 and b.startswith(b"day,requests,") and
          "text/csv" in h["content-type"])
    st, h, b = request(admin, "GET", "/report?from=yesterday", headers=ADM)
    check("GET /report bad date: 400 with the reason", st == 400 and b"--from" in b, b)
    st, h, b = request(admin, "GET", "/report?by=colour", headers=ADM)
    check("GET /report bad field: 400", st == 400 and b"colour" in b, b)
    st, h, b = request(admin, "GET", "/report")
    check("GET /report needs the token", st == 401)
    st, h, b = request(admin, "GET", "/dashboard/data/spend")
    check("dashboard data needs the token", st == 401)
    st, h, b = request(admin, "POST", "/report", {}, ADM)
    check("POST /report: 405", st == 405)
    st, h, csvb = request(admin, "GET", f"/export/focus?from={lo}&to={today}", headers=ADM)
    lines = csvb.decode().split("\r\n")
    cols = lines[0].split(",")
    billed = sum(Decimal(ln.split(",")[cols.index("BilledCost")]) for ln in lines[1:] if ln)
    with sqlite3.connect(DB) as db:
        charged = db.execute("SELECT sum(CASE state WHEN 'released' THEN 0 WHEN 'reserved' THEN"
                             " 0 WHEN 'unsettled' THEN reserved_nusd ELSE cost_nusd END)"
                             " FROM requests").fetchone()[0]
    check("GET /export/focus: CSV whose BilledCost sums to the ledger", st == 200 and
          "BilledCost" in cols and billed * NUSD == charged, (st, billed, charged))
    st, h, b = request(admin, "GET", "/export/focus/metadata", headers=ADM)
    check("GET /export/focus/metadata", st == 200 and
          json.loads(b)["Schema"]["FocusVersion"] == "1.4")
    st, h, b = request(admin, "GET", "/dashboard/data/spend?days=0", headers=ADM)
    check("dashboard data: bad days is 400", st == 400)


def fetch_data(admin):
    return {k: json.loads(request(admin, "GET", f"/dashboard/data/{k}", headers=ADM)[2])
            for k in ("spend", "budgets", "models", "accuracy", "keys")}


def data_checks(d):
    today = datetime.datetime.now(datetime.timezone.utc).date()
    lo = (today - datetime.timedelta(days=29)).isoformat()
    with sqlite3.connect(DB) as db:
        by_model = dict(db.execute(
            "SELECT model, sum(CASE state WHEN 'released' THEN 0 WHEN 'reserved' THEN"
            " reserved_nusd WHEN 'unsettled' THEN reserved_nusd ELSE cost_nusd END) FROM requests"
            " WHERE date(ts_us / 1000000, 'unixepoch') >= ? GROUP BY model", [lo]).fetchall())
        acc = {m: (e, a) for m, e, a in db.execute(
            "SELECT model, sum(est_input_tokens), sum(input_tokens) FROM requests WHERE"
            " usage_estimated = 0 AND state IN ('settled', 'recorded') AND input_tokens > 0"
            " AND date(ts_us / 1000000, 'unixepoch') >= ? GROUP BY model", [lo])}
    got = {r["model"]: Decimal(str(r["cost_usd"])) * NUSD for r in d["models"]["rows"]}
    check("models: cost per model equals the records", got == {m: Decimal(v) for m, v in
                                                               by_model.items()}, got)
    bad = [r for r in d["accuracy"]["rows"] if
           (r["estimated_input_tokens"], r["reported_input_tokens"]) != acc.get(r["model"])
           or abs(Decimal(str(r["error_pct"])) - Decimal(100) * (acc[r["model"]][0] -
                  acc[r["model"]][1]) / acc[r["model"]][1]) > Decimal("0.051")]
    check("accuracy: estimated vs reported per model", not bad and
          len(d["accuracy"]["rows"]) == len(acc), bad[:2])
    b = {t["team"]: t for t in d["budgets"]["teams"]}
    check("budgets: every team, budget or null", set(b) == {"team00", "team01", "team02",
                                                           "team03", "ml"} and
          b["team02"]["budget_usd"] is None and Decimal(str(b["team01"]["budget_usd"])) == 9)
    t1 = b["team01"]
    check("budgets: cumulative adds up, projection >= spent",
          (not t1["daily"] or Decimal(str(t1["daily"][-1]["cumulative_usd"])) ==
           Decimal(str(t1["spent_usd"]))) and
          Decimal(str(t1["projected_usd"])) >= Decimal(str(t1["spent_usd"])), t1)
    ks = [Decimal(str(r["cost_usd"])) for r in d["keys"]["rows"]]
    check("top keys: at most 10, by cost", 0 < len(ks) <= 10 and ks == sorted(ks, reverse=True))


def browser_checks(admin, d):
    chrome = shutil.which("chromium") or shutil.which("chromium-browser")
    check("chromium is installed (deploy/setup.sh)", chrome is not None)
    if not chrome:
        return
    url = f"http://127.0.0.1:{admin}/dashboard#token={ADMIN_TOKEN}"
    shot = os.path.join(TMP, "dashboard.png")
    flags = CHROMIUM_FLAGS + [f"--user-data-dir={tempfile.mkdtemp(prefix='tg-chrome-')}"]
    p = subprocess.run([chrome, *flags, f"--screenshot={shot}", url], capture_output=True,
                       text=True, timeout=120)
    check("screenshot written", os.path.exists(shot) and os.path.getsize(shot) > 20000,
          p.stderr[-500:])
    if os.path.exists(shot):
        if os.environ.get("TG_KEEP_SCREENSHOT"):
            shutil.copy(shot, os.environ["TG_KEEP_SCREENSHOT"])
        colours = png_colours(shot)
        palette = {bytes.fromhex(c[1:]) for c in PALETTE}
        check("screenshot: many colours, the charts' palette drawn",
              len(colours) > 50 and len(palette & colours) >= 4,
              (len(colours), len(palette & colours)))
    flags = CHROMIUM_FLAGS + [f"--user-data-dir={tempfile.mkdtemp(prefix='tg-chrome-')}"]
    p = subprocess.run([chrome, *flags, "--dump-dom", url], capture_output=True, text=True,
                       timeout=120)
    dom = p.stdout
    check("page rendered its data", 'data-ready="1"' in dom, (dom[:300], p.stderr[-300:]))
    v = Values()
    v.feed(dom)
    found = v.found
    grand = [a for a in found if a.get("id") == "grand-total"]
    spend_total = sum(Decimal(str(r["cost_usd"])) for r in d["spend"]["rows"])
    check("rendered: total spend equals the JSON", grand and
          Decimal(grand[0]["data-value"]) == spend_total and
          grand[0]["_text"] == usd_text(spend_total), grand)
    want_models = {r["model"]: Decimal(str(r["cost_usd"])) for r in d["models"]["rows"]}
    got_models = {a["data-model"]: Decimal(a["data-value"]) for a in found
                  if a.get("class") == "model-cost"}
    check("rendered: model mix equals the JSON", got_models == want_models and all(
        a["_text"].startswith(usd_text(a["data-value"])) for a in found
        if a.get("class") == "model-cost"), (got_models, want_models))
    want_acc = {r["model"]: Decimal(str(r["error_pct"])) for r in d["accuracy"]["rows"]}
    got_acc = {a["data-model"]: Decimal(a["data-value"]) for a in found
               if a.get("class") == "accuracy"}
    check("rendered: accuracy equals the JSON", got_acc == want_acc, (got_acc, want_acc))
    keys = [Decimal(a["data-value"]) for a in found if a.get("class") == "key-cost"]
    check("rendered: top keys equal the JSON",
          keys == [Decimal(str(r["cost_usd"])) for r in d["keys"]["rows"]], keys)
    spent = sorted(Decimal(a["data-value"]) for a in found if a.get("class") == "b-spent")
    want = sorted(Decimal(str(t["spent_usd"])) for t in d["budgets"]["teams"]
                  if t["budget_usd"] is not None)
    check("rendered: budget spend equals the JSON", spent == want, (spent, want))
    teams = {}
    for r in d["spend"]["rows"]:
        teams[r["team"]] = teams.get(r["team"], 0) + Decimal(str(r["cost_usd"]))
    legend = {}
    for a in found:  # the money span inside each team's legend entry
        if a.get("class") == "" and a.get("data-value") and a["_text"].startswith("$"):
            legend[len(legend)] = Decimal(a["data-value"])
    check("rendered: one legend entry per team, totals equal the JSON",
          dom.count('class="team-total"') == len(teams) and
          sorted(legend.values()) == sorted(teams.values()), (legend, teams))


def main():
    env, cfg, port, admin, key = setup()
    real_requests(port, key)
    api_checks(env, cfg, admin)
    st, h, page = request(admin, "GET", "/dashboard")
    check("GET /dashboard without a token: the static page, no data", st == 200 and
          b"<svg" not in page and b"Bearer" in page and "text/html" in h["content-type"])
    d = fetch_data(admin)
    data_checks(d)
    browser_checks(admin, d)


run_main(main)
