/* `tollgate export focus [--config F] [--from D] [--to D] [-o FILE] [--hourly]`: the
 * ledger as FOCUS 1.4 Cost and Usage rows (records/focus.h).
 *
 * Rows are priced with the catalog of the configuration (as `serve` loads it).  Without
 * -o the CSV goes to stdout and no metadata is written; with -o FILE the CSV goes to FILE
 * (written to FILE.tmp, renamed when complete) and the FOCUS metadata to
 * FILE.metadata.json beside it.  Dates are UTC days, both included (default: this month
 * to today).  A summary line ("N rows from M records, billed X USD") goes to stderr. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "policies/catalog.h"
#include "proxy/cmd_store.h"
#include "proxy/cmds.h"
#include "proxy/config.h"
#include "proxy/routing.h"
#include "quotas/money.h"
#include "records/focus.h"
#include "records/report.h"
#include "router/route.h"

#define WHO "tollgate export"
#define PATH_SIZE 4096
#define ARGS_MAX 64

static const char usage_text[] =
    "usage: tollgate export focus [--config FILE] [--from YYYY-MM-DD] [--to YYYY-MM-DD]\n"
    "                             [-o FILE] [--hourly]\n";

static const char details_text[] =
    "\n"
    "FOCUS 1.4 Cost and Usage CSV: one row per request attempt and billed token type\n"
    "(--hourly: per UTC hour, team, key, model and token type).  -o FILE also writes the\n"
    "FOCUS metadata to FILE.metadata.json.  Dates are UTC days, both ends included\n"
    "(default: this month up to today).\n";

static int file_sink(void *ctx, const char *p, size_t n)
{
    return fwrite(p, 1, n, ctx) == n ? 0 : 1;
}

/* The catalog of `config`'s snapshot, as serve builds it; NULL after printing problems. */
static tg_route_snapshot *load_snapshot(const char *config)
{
    static tg_config cfg;
    static tg_config_problem cprobs[16];
    int n = tg_config_load(config, &cfg, cprobs, 16);
    for (int i = 0; i < n && i < 16; i++)
        fprintf(stderr, WHO ": %s\n", cprobs[i].text);
    if (n)
        return NULL;
    static tg_routing_problems probs;
    tg_route_snapshot *snap = tg_routing_build(&cfg, &probs);
    for (int i = 0; i < probs.n && i < TG_ROUTING_MAX_PROBLEMS; i++)
        fprintf(stderr, WHO ": %s\n", probs.lines[i]);
    return snap;
}

static int write_metadata(const char *csv_path, bool hourly)
{
    char path[PATH_SIZE];
    snprintf(path, sizeof path, "%s.metadata.json", csv_path);
    char *meta = tg_focus_metadata(hourly, (int64_t)time(NULL));
    FILE *fp = meta ? fopen(path, "w") : NULL;
    int ok = fp && fputs(meta, fp) >= 0;
    if (fp && fclose(fp) != 0)
        ok = 0;
    free(meta);
    if (!ok)
        fprintf(stderr, WHO ": cannot write %s\n", path);
    return ok ? 0 : 1;
}

/* Streams the records of [from_us, to_us) into the CSV at fp. */
static int run_export(const char *config, const tg_catalog *cat, bool hourly, int64_t from_us,
                      int64_t to_us, FILE *fp, tg_focus_stats *stats)
{
    tg_store *st;
    if (tg_cli_store_open(WHO, config, &st) != 0)
        return 1;
    tg_focus *f = tg_focus_new(cat, hourly, file_sink, fp);
    if (!f) {
        tg_store_close(st);
        fprintf(stderr, WHO ": out of memory\n");
        return 1;
    }
    int rc = tg_store_records_scan(st, from_us, to_us, tg_focus_record_fn, f);
    if (rc == TG_STORE_ERROR)
        fprintf(stderr, WHO ": %s\n", tg_store_errmsg(st));
    tg_store_close(st);
    int end = tg_focus_end(f, stats);
    if (rc == TG_STORE_OK && end != 0)
        fprintf(stderr, WHO ": cannot write the export\n");
    return rc == TG_STORE_OK && end == 0 ? 0 : 1;
}

static int export_focus(const char *config, const char *from, const char *to, const char *out,
                        bool hourly)
{
    int64_t from_day, to_day;
    char err[160], tmp[PATH_SIZE];
    if (tg_report_range(from, to, (int64_t)time(NULL), &from_day, &to_day, err, sizeof err)) {
        fprintf(stderr, WHO ": %s\n", err);
        return 1;
    }
    if (out && strlen(out) + 20 >= PATH_SIZE) {
        fprintf(stderr, WHO ": -o: path too long\n");
        return 1;
    }
    tg_route_snapshot *snap = load_snapshot(config);
    if (!snap)
        return 1;
    FILE *fp = stdout;
    if (out) {
        snprintf(tmp, sizeof tmp, "%s.tmp", out);
        if (!(fp = fopen(tmp, "w"))) {
            fprintf(stderr, WHO ": cannot create %s\n", tmp);
            tg_route_snapshot_free(snap);
            return 1;
        }
    }
    tg_focus_stats stats = {0};
    int rc = run_export(config, snap->catalog, hourly, from_day * TG_REPORT_DAY_US,
                        (to_day + 1) * TG_REPORT_DAY_US, fp, &stats);
    tg_route_snapshot_free(snap);
    if (out) {
        if (fclose(fp) != 0 && rc == 0) {
            fprintf(stderr, WHO ": cannot write %s\n", tmp);
            rc = 1;
        }
        if (rc == 0 && rename(tmp, out) != 0) {
            fprintf(stderr, WHO ": cannot rename %s to %s\n", tmp, out);
            rc = 1;
        }
        if (rc != 0)
            remove(tmp);
        if (rc == 0)
            rc = write_metadata(out, hourly);
    } else if (rc == 0) {
        rc = tg_cli_finish(WHO);
    }
    char billed[TG_MONEY_FMT_SIZE];
    tg_money_format(stats.billed_nusd, billed, sizeof billed);
    if (rc == 0)
        fprintf(stderr, "%llu rows from %llu records, billed %s USD\n",
                (unsigned long long)stats.rows, (unsigned long long)stats.records, billed);
    return rc;
}

int tg_cmd_export(int argc, char **argv)
{
    if (argc < 2 || strcmp(argv[1], "focus") != 0) {
        if (argc >= 2 && (!strcmp(argv[1], "-h") || !strcmp(argv[1], "--help"))) {
            fputs(usage_text, stdout);
            fputs(details_text, stdout);
            return 0;
        }
        fprintf(stderr, "%s", usage_text);
        return 2;
    }
    char *args[ARGS_MAX];
    int n = 0;
    bool hourly = false;
    for (int i = 1; i < argc; i++) { /* argv[1] ("focus") is the action's argv[0] */
        if (!strcmp(argv[i], "--hourly"))
            hourly = true;
        else if (n < ARGS_MAX)
            args[n++] = argv[i];
        else {
            fprintf(stderr, WHO ": too many arguments\n%s", usage_text);
            return 2;
        }
    }
    const char *config = NULL, *from = NULL, *to = NULL, *out = NULL;
    const tg_cli_opt opts[] = {{"--config", &config}, {"--from", &from}, {"--to", &to},
                               {"-o", &out},          {"--output", &out}, {NULL, NULL}};
    const char *pos[1];
    int npos, rc = tg_cli_parse(n, args, opts, pos, 0, 0, &npos, WHO " focus", usage_text,
                                details_text);
    if (rc >= 0)
        return rc;
    return export_focus(config, from, to, out, hourly);
}
