#!/usr/bin/env bash
# Report and FOCUS export benchmark over a large generated ledger (issue 6).
#
# Generates RECORDS (default 10,000,000) request records for November 2026 (30 days, 50
# teams x 20 keys, ten models) with bench/gen_records, through the store's own insert path
# (so the daily rollups are maintained by the same triggers as in production), into
# BENCH_DB (default /tmp/tollgate-bench/report-RECORDS.db).  Generated once and reused:
# delete the file to regenerate.  It takes minutes and about 4 GB; never run by CI.
#
# Then, in the same run, medians of RUNS (default 5):
#   - `tollgate report` for the month by team (the target: under one second), beside the
#     same figures by a raw GROUP BY over the requests table (the baseline);
#   - the same for --by day,team,model,key (the largest report);
#   - `tollgate export focus` over EXPORT_DAYS (default 3) days: rows per second, per
#     request and --hourly, beside the sqlite3 shell dumping the same records as CSV.
#
# usage: bash bench/report.sh        (needs a release build in ./build and sqlite3)
set -euo pipefail
cd "$(dirname "$0")/.."
ninja -C build proxy/tollgate bench/gen_records >/dev/null
records=${RECORDS:-10000000}
runs=${RUNS:-5}
days=${EXPORT_DAYS:-3}
db=${BENCH_DB:-/tmp/tollgate-bench/report-$records.db}
mkdir -p "$(dirname "$db")"
export TOLLGATE_STORE="sqlite:$db"
echo "machine: $(nproc) cores, $(uname -sr), load $(cut -d' ' -f1-3 /proc/loadavg)"
if [ ! -f "$db.done" ]; then
  rm -f "$db" "$db-wal" "$db-shm"
  echo "generating $records records into $db (once) ..."
  ./build/bench/gen_records "sqlite:$db" "$records" --from 2026-11-01 --days 30 \
    --teams 50 --keys 20 --seed 42
  sqlite3 "$db" "PRAGMA wal_checkpoint(TRUNCATE); ANALYZE;" >/dev/null
  touch "$db.done"
fi
echo "store: $(du -h "$db" | cut -f1), $(sqlite3 "$db" 'SELECT count(*) FROM rollup_daily') rollup rows"

python3 - "$db" "$runs" "$days" <<'PY'
import os, re, sqlite3, statistics, subprocess, sys, tempfile, time
from decimal import Decimal
db, runs, days = sys.argv[1], int(sys.argv[2]), int(sys.argv[3])
tg = "./build/proxy/tollgate"

def timed(fn):
    out, times = None, []
    for _ in range(runs):
        t = time.perf_counter()
        out = fn()
        times.append(time.perf_counter() - t)
    return statistics.median(times), out

def cli(*args):
    p = subprocess.run([tg, *args], capture_output=True, text=True, check=True)
    return p.stdout, p.stderr

CHARGED = ("CASE state WHEN 'released' THEN 0 WHEN 'reserved' THEN reserved_nusd"
           " WHEN 'unsettled' THEN reserved_nusd ELSE cost_nusd END")
lo, hi = 1793491200 * 10**6, (1793491200 + 30 * 86400) * 10**6  # 2026-11-01 .. 12-01

def raw(by):
    with sqlite3.connect(db) as c:
        return c.execute(f"SELECT {by}, sum(state <> 'released'), sum(input_tokens),"
                         f" sum(output_tokens), sum({CHARGED}) FROM requests WHERE ts_us >= ?"
                         f" AND ts_us < ? GROUP BY {by}", [lo, hi]).fetchall()

rng = ["--from", "2026-11-01", "--to", "2026-11-30", "--format", "csv"]
t_rep, (out, _) = timed(lambda: cli("report", *rng, "--by", "team"))
t_raw, rows = timed(lambda: raw("team"))
n_rec = sum(r[1] for r in rows)
cost = {r[0]: r[4] for r in rows}
rep = {l.split(",")[0]: l.split(",")[-1] for l in out.splitlines()[1:]}
same = set(rep) == set(cost) and all(Decimal(rep[t]) * 10**9 == cost[t] for t in cost)
print(f"month report by team ({len(rows)} teams, {n_rec} billed requests), median of {runs}:")
print(f"  baseline: raw GROUP BY over the requests table   {t_raw:8.3f} s")
print(f"  tollgate report --by team (process, rollups)    {t_rep:8.3f} s   "
      f"({'same totals' if same else 'TOTALS DIFFER'})")
by = "day,team,model,key"
t_rep2, (out2, _) = timed(lambda: cli("report", *rng, "--by", by))
t_raw2, rows2 = timed(lambda: raw("ts_us / 86400000000, team, model, key_id"))
print(f"month report by {by} ({len(out2.splitlines()) - 1} rows), median of {runs}:")
print(f"  baseline: raw GROUP BY over the requests table   {t_raw2:8.3f} s")
print(f"  tollgate report --by {by:<26}{t_rep2:8.3f} s")

tmp = tempfile.mkdtemp(prefix="tg-bench-")
end = f"2026-11-{days:02d}"
def export(*extra):
    _, err = cli("export", "focus", "--from", "2026-11-01", "--to", end, "-o",
                 os.path.join(tmp, "focus.csv"), *extra)
    return int(re.search(r"(\d+) rows from (\d+) records", err).group(1)), \
        int(re.search(r"(\d+) rows from (\d+) records", err).group(2))
def dump():
    with open(os.path.join(tmp, "dump.csv"), "w") as f:
        subprocess.run(["sqlite3", "-csv", "-header", db, f"SELECT * FROM requests WHERE"
                        f" ts_us >= {lo} AND ts_us < {lo + days * 86400 * 10**6}"],
                       stdout=f, check=True)
    return sum(1 for _ in open(os.path.join(tmp, "dump.csv"))) - 1
r = max(1, runs // 2)
runs_saved, runs = runs, r
t_dump, nd = timed(dump)
t_exp, (nrows, nrec) = timed(export)
t_hour, (hrows, _) = timed(lambda: export("--hourly"))
runs = runs_saved
size = os.path.getsize(os.path.join(tmp, "focus.csv"))
print(f"FOCUS export of {days} days ({nrec} records), median of {r}:")
print(f"  baseline: sqlite3 shell, records as CSV          {t_dump:8.2f} s  {nd / t_dump:10.0f} records/s")
print(f"  tollgate export focus (per request x token type) {t_exp:8.2f} s  {nrows / t_exp:10.0f} rows/s"
      f"  ({nrows} rows, {nrec / t_exp:.0f} records/s)")
print(f"  tollgate export focus --hourly                   {t_hour:8.2f} s  {nrec / t_hour:10.0f} records/s"
      f"  ({hrows} rows)")
for f in os.listdir(tmp):
    os.remove(os.path.join(tmp, f))
os.rmdir(tmp)
PY
