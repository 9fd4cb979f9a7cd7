"""`tollgate reconcile`: vendor files built from the ledger's own records (so they match),
then with planted differences: a token count off, a day/model the vendor lacks, a model
the ledger lacks, a cost off by a dollar.  OpenAI usage and costs API pages (JSON, with
dated model snapshots), Anthropic usage and cost report rows (CSV, cost in cents).
Checks the statuses, the JSON report, the exit codes (0 all matched, 1 differences) and
parser errors.

usage: test_reconcile.py PATH/TO/tollgate PATH/TO/gen_records"""
import csv
import json
import os
import sqlite3
import subprocess
import sys
import tempfile
from decimal import Decimal

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from harness import check, run_main  # noqa: E402

TG, GEN = (os.path.abspath(a) for a in sys.argv[1:3])
TMP = tempfile.mkdtemp(prefix="tg-recon-")
DB = os.path.join(TMP, "t.db")
ENV = dict(os.environ, TOLLGATE_STORE="sqlite:" + DB)
DATED = {"gpt-4o-mini": "gpt-4o-mini-2024-07-18", "gpt-4.1": "gpt-4.1-2025-04-14",
         "claude-haiku-4-5": "claude-haiku-4-5-20251001"}


def ledger(provider):
    sql = ("SELECT date(ts_us / 1000000, 'unixepoch') AS d, model, sum(state <> 'released'),"
           " sum(input_tokens), sum(cached_input_tokens), sum(cache_write_tokens),"
           " sum(output_tokens), sum(CASE state WHEN 'released' THEN 0 WHEN 'unsettled'"
           " THEN reserved_nusd ELSE cost_nusd END) FROM requests WHERE provider = ?"
           " GROUP BY d, model ORDER BY d, model")
    with sqlite3.connect(DB) as db:
        return [dict(zip(["day", "model", "requests", "input", "cached", "write", "output",
                          "cost"], r)) for r in db.execute(sql, [provider])]


def unix(day):
    import datetime
    return int(datetime.datetime.fromisoformat(day + "T00:00:00+00:00").timestamp())


def openai_usage(rows):
    pages, by_day = [], {}
    for r in rows:
        by_day.setdefault(r["day"], []).append({
            "object": "organization.usage.completions.result", "input_tokens": r["input"],
            "output_tokens": r["output"], "input_cached_tokens": r["cached"],
            "num_model_requests": r["requests"], "project_id": None, "user_id": None,
            "api_key_id": None, "model": DATED.get(r["model"], r["model"]), "batch": None})
    days = sorted(by_day)
    for i in range(0, len(days), 2):  # two buckets per page: an array of pages
        pages.append({"object": "page", "data": [
            {"object": "bucket", "start_time": unix(d), "end_time": unix(d) + 86400,
             "results": by_day[d]} for d in days[i:i + 2]], "has_more": i + 2 < len(days)})
    return pages


def openai_costs(rows):
    data = [{"object": "bucket", "start_time": unix(r["day"]), "end_time": unix(r["day"]) + 86400,
             "results": [{"object": "organization.costs.result",
                          "amount": {"value": float(Decimal(r["cost"]) / 10**9),
                                     "currency": "usd"},
                          "line_item": DATED.get(r["model"], r["model"]) + ", input",
                          "project_id": None}]} for r in rows]
    return {"object": "page", "data": data, "has_more": False}


def run(vendor, path, *extra):
    p = subprocess.run([TG, "reconcile", "--vendor", vendor, path, "--format", "json", *extra],
                       capture_output=True, text=True, env=ENV)
    try:
        return p.returncode, json.loads(p.stdout), p.stderr
    except ValueError:
        return p.returncode, None, p.stderr + p.stdout


def write(name, obj):
    path = os.path.join(TMP, name)
    with open(path, "w") as f:
        json.dump(obj, f)
    return path


def main():
    p = subprocess.run([GEN, "sqlite:" + DB, "5000", "--from", "2026-11-01", "--days", "6",
                        "--teams", "3", "--keys", "2", "--seed", "5"], capture_output=True,
                       text=True)
    check("generator", p.returncode == 0, p.stderr)
    oa = ledger("openai")
    check("ledger has OpenAI rows", len(oa) > 10)

    # 1. usage that matches exactly: exit 0
    rc, rep, err = run("openai", write("clean.json", openai_usage(oa)))
    check("clean usage: exit 0, all matched", rc == 0 and rep and
          rep["summary"]["matched"] == len(oa) and rep["summary"]["differs"] == 0,
          f"{rc} {err} {rep and rep['summary']}")
    check("clean usage: range from the file", rep and rep["from"] == "2026-11-01" and
          rep["to"] == "2026-11-06")
    check("dated snapshots matched to catalog names",
          rep and any(r["model"] == "gpt-4o-mini" for r in rep["rows"]))

    # 2. planted differences
    planted = [dict(r) for r in oa]
    planted[3]["output"] += 100          # tokens off
    gone = planted.pop(5)                # the vendor lacks a day/model
    planted.append({"day": "2026-11-02", "model": "gpt-9-phantom", "requests": 4,
                    "input": 4000, "cached": 0, "write": 0, "output": 50, "cost": 0})
    rc, rep, err = run("openai", write("planted.json", openai_usage(planted)))
    check("planted: exit 1 with the report", rc == 1 and rep is not None, err)
    if rep:
        st = {(r["day"], r["model"]): r for r in rep["rows"]}
        d3 = st.get((oa[3]["day"], oa[3]["model"]), {})
        check("planted: output tokens differ", d3.get("status") == "differs" and
              d3["diff"]["output_tokens"] == -100, d3)
        g = st.get((gone["day"], gone["model"]), {})
        check("planted: missing at vendor", g.get("status") == "missing_at_vendor", g)
        ph = st.get(("2026-11-02", "gpt-9-phantom"), {})
        check("planted: missing in ledger", ph.get("status") == "missing_in_ledger" and
              ph["vendor"]["input_tokens"] == 4000, ph)
        check("planted: summary counts", rep["summary"] == {
            "matched": len(oa) - 2, "differs": 1, "missing_in_ledger": 1,
            "missing_at_vendor": 1}, rep["summary"])

    # 3. costs API: matched within a cent, then one off by a dollar
    rc, rep, err = run("openai", write("costs.json", openai_costs(oa)))
    check("costs: exit 0", rc == 0, f"{err} {rep and rep['summary']}")
    off = [dict(r) for r in oa]
    off[2]["cost"] += 10**9
    rc, rep, err = run("openai", write("costs_off.json", openai_costs(off)))
    row = rep and [r for r in rep["rows"] if r["status"] != "matched"]
    check("costs off by 1 USD: exit 1, that row, diff -1", rc == 1 and len(row) == 1 and
          Decimal(str(row[0]["diff"]["cost_usd"])) == Decimal(-1), row)
    # a window that excludes the planted row matches
    rc, rep, err = run("openai", os.path.join(TMP, "costs_off.json"), "--from",
                       "2026-11-05", "--to", "2026-11-06")
    check("--from/--to narrows both sides", (rc == 0) == (off[2]["day"] < "2026-11-05"),
          f"{rc} {err}")

    # 4. Anthropic CSV usage (uncached + cache read + cache writes) and cost in cents
    an = ledger("anthropic")
    check("ledger has Anthropic rows", len(an) > 5)
    path = os.path.join(TMP, "anthropic.csv")
    with open(path, "w", newline="") as f:
        w = csv.writer(f)
        w.writerow(["starting_at", "ending_at", "model", "uncached_input_tokens",
                    "cache_read_input_tokens", "cache_creation_5m_input_tokens",
                    "output_tokens", "amount", "currency"])
        for i, r in enumerate(an):
            cents = Decimal(r["cost"]) / 10**7
            w.writerow([r["day"] + "T00:00:00Z", r["day"] + "T23:59:59Z",
                        DATED.get(r["model"], r["model"]),
                        r["input"] - r["cached"] - r["write"] + (7 if i == 1 else 0),
                        r["cached"], r["write"], r["output"], f"{cents}", "USD"])
    p = subprocess.run([TG, "reconcile", "--vendor", "anthropic", path], capture_output=True,
                       text=True, env=ENV)
    lines = [ln for ln in p.stdout.splitlines() if " differs " in ln]
    check("anthropic CSV: exit 1, one row differs (7 input tokens)", p.returncode == 1 and
          len(lines) == 1 and an[1]["model"] in lines[0] and
          "1 of %d day/model rows differ" % len(an) in p.stdout, p.stdout + p.stderr)

    # 5. parser errors: exit 1, a clear line, nothing on stdout
    for name, text, want in (("bad.json", '{"data": [', "not valid JSON"),
                             ("nodata.json", '{"object": "page"}', "no \"data\""),
                             ("badcount.json", '{"data":[{"start_time":1,"results":'
                              '[{"input_tokens":-5,"output_tokens":1}]}]}', "whole number"),
                             ("quote.csv", 'date,model,input_tokens\n2026-11-01,"gpt,1\n',
                              "not closed"),
                             ("nodate.csv", "model,input_tokens\nx,1\n", "no date column"),
                             ("baddate.csv", "date,model,input_tokens\n11/01,x,1\n",
                              "line 2")):
        path = os.path.join(TMP, name)
        with open(path, "w") as f:
            f.write(text)
        p = subprocess.run([TG, "reconcile", "--vendor", "openai", path], capture_output=True,
                           text=True, env=ENV)
        check(f"{name}: exit 1 with '{want}'", p.returncode == 1 and want in p.stderr and
              not p.stdout, p.stderr)
    p = subprocess.run([TG, "reconcile", path], capture_output=True, text=True, env=ENV)
    check("no --vendor: usage, exit 2", p.returncode == 2)
    p = subprocess.run([TG, "reconcile", "--vendor", "azure", path], capture_output=True,
                       text=True, env=ENV)
    check("unknown vendor: exit 1", p.returncode == 1 and "azure" in p.stderr)


run_main(main)
