"""`tollgate report` (SPEC.md): totals equal the sums of the raw records, for every
grouping and format.  The store is filled by bench/gen_records (synthetic records priced
with the built-in catalog, written through the store's insert path: reservations later
settled, releases, unsettled and estimated rows), then checked against plain SQL over the
requests table.  Also: recovery's update keeps the rollups true, bad options exit 1/2.

usage: test_report.py PATH/TO/tollgate PATH/TO/gen_records"""
import csv
import io
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
TMP = tempfile.mkdtemp(prefix="tg-report-")
DB = os.path.join(TMP, "t.db")
ENV = dict(os.environ, TOLLGATE_STORE="sqlite:" + DB)
NUSD = Decimal(10) ** 9
FIELDS = {"day": "date(ts_us / 1000000, 'unixepoch')", "team": "team", "key": "key_id",
          "model": "model", "provider": "provider"}
CHARGED = ("CASE state WHEN 'released' THEN 0 WHEN 'reserved' THEN reserved_nusd"
           " WHEN 'unsettled' THEN reserved_nusd ELSE cost_nusd END")


def tg(*args):
    p = subprocess.run([TG, *args], capture_output=True, text=True, env=ENV)
    return p.returncode, p.stdout, p.stderr


def raw(by, lo="2026-11-01", hi="2026-11-30", team=None):
    """The report computed from the raw records with SQL, keyed by the grouping values."""
    cols = [FIELDS[f] for f in by]
    sel = ", ".join(cols + [
        "sum(state <> 'released')", "sum(input_tokens)", "sum(output_tokens)",
        "sum(cached_input_tokens)", "sum(cache_write_tokens)", "sum(reasoning_tokens)",
        "sum(usage_estimated)", "sum(overshoot)", "sum(state = 'unsettled')",
        f"sum({CHARGED})"])
    sql = (f"SELECT {sel} FROM requests WHERE date(ts_us / 1000000, 'unixepoch')"
           f" BETWEEN ? AND ?" + (" AND team = ?" if team else "") +
           (f" GROUP BY {', '.join(cols)}" if cols else ""))
    args = [lo, hi] + ([team] if team else [])
    with sqlite3.connect(DB) as db:
        rows = db.execute(sql, args).fetchall()
    out = {}
    for r in rows:
        k, v = tuple(r[:len(by)]), r[len(by):]
        if v[0] is None:
            continue
        out[k] = {"requests": v[0], "input_tokens": v[1], "output_tokens": v[2],
                  "cached_input_tokens": v[3], "cache_write_tokens": v[4],
                  "reasoning_tokens": v[5], "estimated_requests": v[6],
                  "overshoot_requests": v[7], "unsettled_requests": v[8],
                  "cost_usd": Decimal(v[9]) / NUSD}
    return out


def compare(name, by, rows, want):
    got = {}
    for r in rows:
        key = tuple(r[f] for f in by)
        check(f"{name}: {key} once", key not in got)
        got[key] = r
    check(f"{name}: same groups", set(got) == set(want),
          f"{sorted(set(got) ^ set(want))[:5]}")
    bad = [k for k in want if k in got and any(
        (Decimal(str(got[k][c])) if c == "cost_usd" else int(got[k][c])) != want[k][c]
        for c in want[k])]
    check(f"{name}: sums equal the records", not bad, f"{bad[:3]}")


def main():
    p = subprocess.run([GEN, "sqlite:" + DB, "6000", "--from", "2026-10-28", "--days", "40",
                        "--teams", "5", "--keys", "4", "--seed", "7"],
                       capture_output=True, text=True)
    check("generator", p.returncode == 0, p.stderr)
    rng = ["--from", "2026-11-01", "--to", "2026-11-30"]
    for by in (["team"], ["model"], ["key"], ["day"], ["team", "model"],
               ["day", "team", "key", "model", "provider"], []):
        rc, out, err = tg("report", *rng, "--by", ",".join(by), "--format", "json")
        check(f"json {by}: exit 0", rc == 0, err)
        rows = json.loads(out, parse_float=Decimal)
        compare(f"json {by}", by, rows, raw(by))
        for r in rows[:1]:
            check(f"json {by}: cost_usd exact decimal", isinstance(r["cost_usd"], Decimal))
    rc, out, err = tg("report", *rng, "--by", "model,team", "--format", "csv")
    rows = list(csv.DictReader(io.StringIO(out)))
    check("csv: exit 0 and header", rc == 0 and out.startswith("model,team,requests,"), err)
    compare("csv model,team", ["model", "team"], rows, raw(["model", "team"]))
    rc, out, err = tg("report", *rng, "--team", "team03", "--by", "day", "--format", "json")
    compare("--team", ["day"], json.loads(out, parse_float=Decimal),
            raw(["day"], team="team03"))
    rc, out, err = tg("report", *rng, "--by", "team")
    lines = out.splitlines()
    total = raw([])[()]
    check("table: header, rows, TOTAL", rc == 0 and lines[0].split()[0] == "team"
          and lines[-1].split()[0] == "TOTAL", out)
    check("table: TOTAL cost equals the records",
          Decimal(lines[-1].split()[-1]) == total["cost_usd"], lines[-1])
    # a range the generator's 40 days only partly cover
    rc, out, err = tg("report", "--from", "2026-10-30", "--to", "2026-11-02", "--by", "day",
                      "--format", "json")
    compare("partial range", ["day"], json.loads(out, parse_float=Decimal),
            raw(["day"], "2026-10-30", "2026-11-02"))
    # recovery turns reserved rows into unsettled ones with an UPDATE: rollups follow
    with sqlite3.connect(DB) as db:
        db.execute("UPDATE requests SET state = 'unsettled', reconcile = 1 WHERE id IN"
                   " (SELECT id FROM requests WHERE state = 'settled' ORDER BY id LIMIT 40)")
        db.execute("DELETE FROM requests WHERE id IN (SELECT id FROM requests"
                   " WHERE state = 'recorded' ORDER BY id LIMIT 30)")
    rc, out, err = tg("report", *rng, "--by", "team,model", "--format", "json")
    compare("after update and delete", ["team", "model"],
            json.loads(out, parse_float=Decimal), raw(["team", "model"]))
    # empty range: an empty array; bad options
    rc, out, err = tg("report", "--from", "2030-01-01", "--to", "2030-01-31", "--format",
                      "json")
    check("empty range: []", rc == 0 and json.loads(out) == [], out + err)
    for args, code, text in ((["--from", "2026-13-01"], 1, "--from"),
                             (["--to", "yesterday"], 1, "--to"),
                             (["--from", "2026-11-05", "--to", "2026-11-01"], 1, "after"),
                             (["--by", "team,colour"], 1, "colour"),
                             (["--by", "team,team"], 1, "twice"),
                             (["--format", "xml"], 1, "xml"),
                             (["--bogus"], 2, "unknown option")):
        rc, out, err = tg("report", *args)
        check(f"{args}: exit {code}", rc == code and text in err and not out, f"{rc} {err}")


run_main(main)
