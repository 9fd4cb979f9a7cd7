"""`tollgate export focus`: every rule of the FOCUS 1.4 export (records/focus.h,
shared/reference/README.md), row by row, against the raw records and the catalog.

A store filled by bench/gen_records (settled, recorded-estimated, released, unsettled
rows; cached reads, cache writes, reasoning, a long-context tier) is exported per request
and hourly; the test parses the CSV and checks: every mandatory column, FOCUS columns
before the x_ ones, formats (UTC date-times, plain decimals, NULL as an empty field, flat
JSON Tags with team and key), fixed values, PricingQuantity = ConsumedQuantity / 1e6,
ListCost = ListUnitPrice x PricingQuantity exactly (and the contracted pair), unit prices
equal to the catalog's, one row per request attempt and billed token type, cached tokens
not counted again on the input row, reasoning inside output, BilledCost per request equal
to the ledger's charge, no rows for reserved or released attempts, the hourly mode's sums
equal to the per-request rows, and the metadata file.

usage: test_focus.py PATH/TO/tollgate PATH/TO/gen_records PATH/TO/default_catalog.json"""
import csv
import json
import os
import re
import sqlite3
import subprocess
import sys
import tempfile
from collections import defaultdict
from decimal import Decimal, getcontext

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from harness import check, run_main  # noqa: E402

getcontext().prec = 80
TG, GEN, CATALOG = (os.path.abspath(a) for a in sys.argv[1:4])
TMP = tempfile.mkdtemp(prefix="tg-focus-")
DB = os.path.join(TMP, "t.db")
ENV = dict(os.environ, TOLLGATE_STORE="sqlite:" + DB)
NUSD = Decimal(10) ** 9

MANDATORY = ["BilledCost", "EffectiveCost", "ListCost", "ContractedCost", "BillingAccountId",
             "BillingAccountName", "BillingCurrency", "BillingPeriodStart", "BillingPeriodEnd",
             "ChargeCategory", "ChargeClass", "ChargeDescription", "ChargePeriodStart",
             "ChargePeriodEnd", "HostProviderName", "InvoiceIssuerName", "PricingQuantity",
             "PricingUnit", "ServiceCategory", "ServiceName", "ServiceProviderName"]
CONDITIONAL = ["ConsumedQuantity", "ConsumedUnit", "ListUnitPrice", "ContractedUnitPrice",
               "SkuId", "SkuPriceId", "SkuMeter", "SkuPriceDetails", "SubAccountId",
               "SubAccountName", "Tags", "ResourceId", "RegionId", "PricingCategory",
               "ChargeFrequency", "ServiceSubcategory"]
NOT_NULL = [c for c in MANDATORY if c != "ChargeClass"] + [
    "ConsumedQuantity", "ConsumedUnit", "ListUnitPrice", "ContractedUnitPrice", "SkuId",
    "SkuPriceId", "SkuMeter", "SubAccountId", "Tags", "PricingCategory", "ChargeFrequency"]
DATETIMES = ["BillingPeriodStart", "BillingPeriodEnd", "ChargePeriodStart", "ChargePeriodEnd"]
DECIMALS = ["BilledCost", "EffectiveCost", "ListCost", "ContractedCost", "PricingQuantity",
            "ConsumedQuantity", "ListUnitPrice", "ContractedUnitPrice", "x_RequestCount"]
DT_RE = re.compile(r"^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\dZ$")
DEC_RE = re.compile(r"^-?(0|[1-9]\d*)(\.\d*[1-9])?$")
METERS = {"input": "Input Tokens", "cached_input": "Cache Read Input Tokens",
          "cache_write": "Cache Write Input Tokens", "output": "Output Tokens",
          "reasoning": "Output Tokens"}
PRICE_FIELD = {"input": "input", "cached_input": "cached_input", "cache_write": "cache_write",
               "output": "output", "reasoning": "reasoning"}


def read_csv(path):
    with open(path, newline="", encoding="utf-8") as f:
        text = f.read()
    check("CSV lines end with CRLF", text.endswith("\r\n") and "\n" not in
          text.replace("\r\n", ""), repr(text[-20:]))
    rows = list(csv.reader(text.splitlines()))
    return rows[0], [dict(zip(rows[0], r)) for r in rows[1:]], rows


def catalog_price(cat, model, version, input_tokens, kind):
    """USD per million tokens from the catalog file, with the proxy's fallbacks."""
    m = cat["models"][model]
    v = [p for p in m["prices"] if p.get("effective_from", "") == version][0]
    tier = dict(v)
    for t in v.get("tiers", []):
        if input_tokens > t["above_tokens"]:
            tier = dict(v, **t)
    fallback = {"cached_input": "input", "cache_write": "input", "reasoning": "output"}
    p = tier.get(PRICE_FIELD[kind])
    if p is None:
        p = tier[fallback[kind]]
    return Decimal(str(p))


def check_header(header, name):
    check(f"{name}: every mandatory column", all(c in header for c in MANDATORY),
          [c for c in MANDATORY if c not in header])
    check(f"{name}: the conditional columns used", all(c in header for c in CONDITIONAL))
    xs = [i for i, c in enumerate(header) if c.startswith("x_")]
    check(f"{name}: x_ columns after the FOCUS ones",
          xs and xs == list(range(xs[0], len(header))), header)
    check(f"{name}: x_PascalCase", all(re.match(r"^x_[A-Z][A-Za-z]+$", header[i]) for i in xs))
    for c in ("x_RequestId", "x_RoutedModel", "x_Rule", "x_TokenSource"):
        check(f"{name}: has {c}", c in header)
    check(f"{name}: no duplicate column", len(set(header)) == len(header))


def check_row(r, name, bad):
    """Per-row format and arithmetic rules; appends a reason to bad on failure."""
    for c in DATETIMES:
        if not DT_RE.match(r[c]):
            bad.append(f"{c}={r[c]!r}")
    for c in DECIMALS:
        if r[c] != "" and not DEC_RE.match(r[c]):
            bad.append(f"{c}={r[c]!r}")
    for c in NOT_NULL:
        if r[c] == "":
            bad.append(f"{c} is NULL")
    for c, v in r.items():
        if v in ('""', "NULL", "null"):
            bad.append(f"{c}={v!r}")
    fixed = {"ChargeCategory": "Usage", "ChargeClass": "", "BillingCurrency": "USD",
             "ChargeFrequency": "Usage-Based", "PricingCategory": "Standard",
             "ServiceCategory": "AI and Machine Learning",
             "ServiceSubcategory": "Generative AI", "ConsumedUnit": "Tokens",
             "PricingUnit": "1000000 Tokens", "ResourceId": "", "RegionId": ""}
    for c, v in fixed.items():
        if r[c] != v:
            bad.append(f"{c}={r[c]!r}")
    if bad:
        return
    qty, consumed = Decimal(r["PricingQuantity"]), Decimal(r["ConsumedQuantity"])
    if qty != consumed / Decimal(1000000):
        bad.append("PricingQuantity != ConsumedQuantity / 1e6")
    if Decimal(r["ListCost"]) != Decimal(r["ListUnitPrice"]) * qty:
        bad.append(f"ListCost {r['ListCost']} != {r['ListUnitPrice']} x {qty}")
    if Decimal(r["ContractedCost"]) != Decimal(r["ContractedUnitPrice"]) * qty:
        bad.append("ContractedCost != ContractedUnitPrice x PricingQuantity")
    if r["EffectiveCost"] != r["BilledCost"]:
        bad.append("EffectiveCost != BilledCost")
    if METERS.get(r["x_TokenType"]) != r["SkuMeter"]:
        bad.append(f"SkuMeter {r['SkuMeter']} for {r['x_TokenType']}")
    if not (r["BillingPeriodStart"] <= r["ChargePeriodStart"] < r["ChargePeriodEnd"]
            <= r["BillingPeriodEnd"]):
        bad.append("periods out of order")
    for c in ("Tags", "SkuPriceDetails"):
        try:
            o = json.loads(r[c])
            if not isinstance(o, dict) or any(not isinstance(v, str) for v in o.values()):
                bad.append(f"{c} not a flat object")
        except ValueError:
            bad.append(f"{c} not JSON")
    tags = json.loads(r["Tags"]) if not bad else {}
    if tags.get("team") != r["SubAccountId"] or not tags.get("key", "").startswith("key_"):
        bad.append(f"Tags {r['Tags']}")


def ledger():
    with sqlite3.connect(DB) as db:
        db.row_factory = sqlite3.Row
        return {(r["id"], r["attempt"]): dict(r) for r in db.execute("SELECT * FROM requests")}


def main():
    cat = json.load(open(CATALOG))
    p = subprocess.run([GEN, "sqlite:" + DB, "4000", "--from", "2026-11-01", "--days", "3",
                        "--teams", "3", "--keys", "3", "--seed", "11"],
                       capture_output=True, text=True)
    check("generator", p.returncode == 0, p.stderr)
    out = os.path.join(TMP, "focus.csv")
    p = subprocess.run([TG, "export", "focus", "--from", "2026-11-01", "--to", "2026-11-03",
                        "-o", out], capture_output=True, text=True, env=ENV)
    check("export: exit 0", p.returncode == 0, p.stderr)
    header, rows, raw_rows = read_csv(out)
    check_header(header, "per request")
    check("every line has every column", all(len(r) == len(header) for r in raw_rows))
    bad_rows = 0
    for i, r in enumerate(rows):
        bad = []
        check_row(r, "row", bad)
        if bad:
            bad_rows += 1
            if bad_rows <= 5:
                check(f"row {i + 2}", False, "; ".join(bad))
    check(f"all {len(rows)} rows follow the format and arithmetic rules", bad_rows == 0)

    recs = ledger()
    by_req = defaultdict(list)
    for r in rows:
        by_req[(r["x_RequestId"], int(r["x_Attempt"]))].append(r)
    billed_states = {"settled", "recorded", "unsettled"}
    want = {k for k, v in recs.items() if v["state"] in billed_states and
            (v["input_tokens"] or v["output_tokens"] or v["state"] == "unsettled")}
    check("rows exactly for the billed attempts", set(by_req) == want,
          f"{len(set(by_req) ^ want)} differ")
    problems = []
    for k, rs in by_req.items():
        rec = recs[k]
        types = [r["x_TokenType"] for r in rs]
        if len(types) != len(set(types)):
            problems.append(f"{k}: a token type twice")
        q = defaultdict(int)
        for r in rs:
            q[r["x_TokenType"]] += int(r["ConsumedQuantity"])
        billed = sum(Decimal(r["BilledCost"]) for r in rs)
        if rec["state"] == "unsettled":
            if billed * NUSD != rec["reserved_nusd"] or rs[0]["x_TokenSource"] != "reserved":
                problems.append(f"{k}: unsettled row")
            continue
        uncached = rec["input_tokens"] - rec["cached_input_tokens"] - rec["cache_write_tokens"]
        if (q["input"] != uncached or q["cached_input"] != rec["cached_input_tokens"] or
                q["cache_write"] != rec["cache_write_tokens"] or
                q["output"] + q["reasoning"] != rec["output_tokens"]):
            problems.append(f"{k}: token quantities {dict(q)} vs record")
        if billed * NUSD != rec["cost_nusd"]:
            problems.append(f"{k}: billed {billed} vs cost {rec['cost_nusd']}")
        src = "estimated" if rec["usage_estimated"] else "reported"
        for r in rs:
            price = catalog_price(cat, rec["model"], rec["price_version"],
                                  rec["input_tokens"], r["x_TokenType"])
            if Decimal(r["ListUnitPrice"]) != price:
                problems.append(f"{k}: {r['x_TokenType']} unit {r['ListUnitPrice']} vs {price}")
            if (r["x_TokenSource"] != src or r["x_RoutedModel"] != rec["model"] or
                    r["x_Rule"] != rec["rule"] or json.loads(r["Tags"])["key"] != rec["key_id"]
                    or r["SubAccountId"] != rec["team"]):
                problems.append(f"{k}: x_ columns or tags")
    check("per request: quantities, costs, prices, x_ columns", not problems, problems[:5])
    check("reasoning tokens present and inside output",
          any(r["x_TokenType"] == "output" and recs[k]["reasoning_tokens"]
              for k, rs in by_req.items() for r in rs))
    check("cache read and cache write rows present",
          {"Cache Read Input Tokens", "Cache Write Input Tokens"} <= {r["SkuMeter"] for r in rows})
    total = sum(Decimal(r["BilledCost"]) for r in rows)
    with sqlite3.connect(DB) as db:
        charged = db.execute(
            "SELECT sum(CASE state WHEN 'released' THEN 0 WHEN 'reserved' THEN 0"
            " WHEN 'unsettled' THEN reserved_nusd ELSE cost_nusd END) FROM requests").fetchone()[0]
    check("BilledCost sums to the ledger's spend", total * NUSD == charged, f"{total} {charged}")
    m = re.search(r"billed (\S+) USD", p.stderr)
    check("summary line on stderr", m and Decimal(m.group(1)) == total, p.stderr)
    check("a long-context tier is priced", any(
        recs[k]["input_tokens"] > 272000 and recs[k]["model"] == "gpt-5.5" for k in by_req))

    meta = json.load(open(out + ".metadata.json"))
    cols = [c["ColumnName"] for c in meta["Schema"]["ColumnDefinition"]]
    check("metadata: FOCUS 1.4, every column in order",
          meta["Schema"]["FocusVersion"] == "1.4" and cols == header and
          DT_RE.match(meta["Schema"]["CreationDate"]), meta["Schema"].get("FocusVersion"))

    # hourly rollup mode
    hout = os.path.join(TMP, "hourly.csv")
    p = subprocess.run([TG, "export", "focus", "--from", "2026-11-01", "--to", "2026-11-03",
                        "--hourly", "-o", hout], capture_output=True, text=True, env=ENV)
    check("hourly: exit 0", p.returncode == 0, p.stderr)
    hheader, hrows, _ = read_csv(hout)
    check("hourly: same columns", hheader == header)
    bad_rows = 0
    for r in hrows:
        bad = []
        check_row(r, "hourly", bad)
        if r["x_RequestId"] or not r["ChargePeriodStart"].endswith(":00:00Z"):
            bad.append("hourly row shape")
        bad_rows += bool(bad)
    check("hourly: every row follows the rules", bad_rows == 0, bad_rows)
    check("hourly: fewer rows", 0 < len(hrows) < len(rows), f"{len(hrows)} vs {len(rows)}")

    def sums(rs, hourly):
        s = defaultdict(lambda: [0, Decimal(0), 0])
        for r in rs:
            k = (r["ChargePeriodStart"][:13], r["SubAccountId"], r["Tags"], r["x_RoutedModel"],
                 r["x_TokenType"], r["x_TokenSource"])
            s[k][0] += int(r["ConsumedQuantity"])
            s[k][1] += Decimal(r["BilledCost"])
            s[k][2] += int(r["x_RequestCount"]) if hourly else 1
        return dict(s)
    a, b = sums(rows, False), sums(hrows, True)
    check("hourly: sums per hour, team, key, model, token type equal the request rows",
          {k: v[:2] for k, v in a.items()} == {k: v[:2] for k, v in b.items()})
    check("hourly: x_RequestCount counts the rows summed", a == b)
    hkeys = [(r["ChargePeriodStart"], r["Tags"], r["x_RoutedModel"], r["x_TokenType"],
              r["x_TokenSource"], r["ListUnitPrice"]) for r in hrows]
    check("hourly: one row per group", len(hkeys) == len(set(hkeys)))

    # errors: bad dates, unknown action, unwritable output
    for args, code in ((["--from", "11/01/2026"], 1), (["-o", "/nonexistent/dir/x.csv"], 1),
                       (["--bogus"], 2)):
        p = subprocess.run([TG, "export", "focus", *args], capture_output=True, text=True,
                           env=ENV)
        check(f"export {args}: exit {code}", p.returncode == code and p.stderr, p.stderr)
    p = subprocess.run([TG, "export", "csv"], capture_output=True, text=True, env=ENV)
    check("export csv: usage, exit 2", p.returncode == 2)


run_main(main)
