/* `tollgate reconcile --vendor openai|anthropic FILE [--from D] [--to D] [--config F]
 *  [--provider NAME] [--format table|json] [--token-tolerance N] [--cost-tolerance USD]`:
 * compares a vendor's usage or cost export with the ledger per UTC day and model
 * (records/reconcile.h says which files are read).
 *
 * The ledger side is the daily rollups of provider NAME (default: the vendor's name), so
 * it reads at once over months.  The range defaults to the days the vendor file covers.
 * Exit 0: every day/model matches; 1: differences (the report says which) or a user
 * error (one line on stderr); 2: usage. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "proxy/cmd_store.h"
#include "proxy/cmds.h"
#include "quotas/money.h"
#include "records/reconcile.h"
#include "records/report.h"

#define WHO "tollgate reconcile"
#define OUT_MAX ((size_t)1 << 30)

static const char usage_text[] =
    "usage: tollgate reconcile --vendor openai|anthropic FILE [--from YYYY-MM-DD]\n"
    "                          [--to YYYY-MM-DD] [--config FILE] [--provider NAME]\n"
    "                          [--format table|json] [--token-tolerance N]\n"
    "                          [--cost-tolerance USD]\n";

static const char details_text[] =
    "\n"
    "Compares a vendor usage/cost export (OpenAI usage or costs API pages as JSON or CSV;\n"
    "Anthropic usage or cost report pages as JSON or CSV) with the ledger, per UTC day and\n"
    "model: matched, differs, missing_in_ledger, missing_at_vendor.  Only the quantities\n"
    "the file has are compared.  --provider: the ledger's provider name (default: the\n"
    "vendor).  Tolerances: tokens exact by default; cost 0.01 USD per day and model.\n"
    "Exit 0 when everything matches, 1 when anything differs.\n";

typedef struct {
    const char *config, *from, *to, *vendor, *provider, *format, *ttol, *ctol, *file;
} recon_args;

static int parse_args(int argc, char **argv, recon_args *a)
{
    const tg_cli_opt opts[] = {
        {"--config", &a->config},   {"--from", &a->from},     {"--to", &a->to},
        {"--vendor", &a->vendor},   {"--provider", &a->provider}, {"--format", &a->format},
        {"--token-tolerance", &a->ttol}, {"--cost-tolerance", &a->ctol}, {NULL, NULL}};
    const char *pos[1];
    int npos, rc = tg_cli_parse(argc, argv, opts, pos, 1, 1, &npos, WHO, usage_text,
                                details_text);
    if (rc >= 0)
        return rc;
    if (!a->vendor) {
        fprintf(stderr, WHO ": --vendor is required (openai or anthropic)\n%s", usage_text);
        return 2;
    }
    a->file = pos[0];
    return -1;
}

/* The ledger's rows for [from, to] of `provider`. */
static int ledger_rows(const char *config, const char *provider, int64_t from, int64_t to,
                       tg_recon_row **out, size_t *n)
{
    tg_store *st;
    if (tg_cli_store_open(WHO, config, &st) != 0)
        return 1;
    tg_report_query q = {.from_day = from, .to_day = to, .ngroup = 3,
                         .group = {TG_REPORT_DAY, TG_REPORT_MODEL, TG_REPORT_PROVIDER}};
    tg_report_row *rows = NULL;
    size_t nrows = 0;
    int rc = tg_store_report(st, &q, &rows, &nrows);
    if (rc != TG_STORE_OK)
        fprintf(stderr, WHO ": %s\n", tg_store_errmsg(st));
    tg_store_close(st);
    if (rc != TG_STORE_OK)
        return 1;
    rc = tg_recon_from_report(rows, nrows, provider, out, n);
    free(rows);
    if (rc != 0)
        fprintf(stderr, WHO ": out of memory\n");
    return rc ? 1 : 0;
}

static int options(const recon_args *a, tg_recon_vendor *v, tg_recon_opts *o, bool *json)
{
    o->token_tolerance = 0;
    o->cost_tolerance_nusd = TG_MONEY_NUSD_PER_USD / 100;
    if (tg_recon_vendor_parse(a->vendor, v) != 0) {
        fprintf(stderr, WHO ": --vendor: '%.32s' (openai or anthropic)\n", a->vendor);
        return 1;
    }
    *json = a->format && !strcmp(a->format, "json");
    if (a->format && !*json && strcmp(a->format, "table") != 0) {
        fprintf(stderr, WHO ": --format: unknown format '%.32s' (table, json)\n", a->format);
        return 1;
    }
    if (a->ttol && tg_cli_count_arg(WHO, "--token-tolerance", a->ttol, false,
                                    &o->token_tolerance) != 0)
        return 1;
    if (a->ctol &&
        tg_cli_money_arg(WHO, "--cost-tolerance", a->ctol, false, &o->cost_tolerance_nusd) != 0)
        return 1;
    return 0;
}

/* The range: --from/--to, else the vendor file's first and last day. */
static int range(const recon_args *a, const tg_recon_row *vr, size_t nv, int64_t *from,
                 int64_t *to)
{
    char err[160];
    if (!a->from && !a->to && nv) {
        *from = vr[0].day, *to = vr[nv - 1].day;
        return 0;
    }
    if (tg_report_range(a->from, a->to, (int64_t)time(NULL), from, to, err, sizeof err) != 0) {
        fprintf(stderr, WHO ": %s\n", err);
        return 1;
    }
    return 0;
}

static int report(const tg_recon_row *lr, size_t nl, const tg_recon_row *vr, size_t nv,
                  tg_recon_vendor v, const tg_recon_opts *o, int64_t from, int64_t to,
                  bool json)
{
    tg_recon_line *lines = NULL;
    size_t n = 0, bad = 0;
    if (tg_recon_compare(lr, nl, vr, nv, from, to, o, &lines, &n) != 0) {
        fprintf(stderr, WHO ": out of memory\n");
        return 1;
    }
    for (size_t i = 0; i < n; i++)
        bad += lines[i].status != TG_RECON_MATCHED;
    tg_buf out;
    tg_buf_init(&out, OUT_MAX);
    int rc = tg_recon_render(lines, n, v, from, to, json, &out);
    free(lines);
    if (rc == TG_BUF_OK)
        fwrite(out.p ? out.p : "", 1, out.len, stdout);
    else
        fprintf(stderr, WHO ": the report is too large\n");
    tg_buf_free(&out);
    if (rc != TG_BUF_OK || tg_cli_finish(WHO) != 0)
        return 1;
    return bad ? 1 : 0;
}

int tg_cmd_reconcile(int argc, char **argv)
{
    recon_args a = {0};
    int rc = parse_args(argc, argv, &a);
    if (rc >= 0)
        return rc;
    tg_recon_vendor v;
    tg_recon_opts o;
    bool json;
    if (options(&a, &v, &o, &json) != 0)
        return 1;
    char *text = NULL, err[256];
    size_t len = 0;
    if (tg_cli_read_input(a.file, TG_RECON_MAX_INPUT, &text, &len) != 0)
        return 1;
    tg_recon_row *vr = NULL, *lr = NULL;
    size_t nv = 0, nl = 0;
    rc = tg_recon_parse(text, len, v, &vr, &nv, err, sizeof err);
    free(text);
    if (rc != 0) {
        fprintf(stderr, WHO ": %s: %s\n", a.file, err);
        return 1;
    }
    int64_t from = 0, to = 0;
    rc = range(&a, vr, nv, &from, &to);
    if (rc == 0)
        rc = ledger_rows(a.config, a.provider ? a.provider : a.vendor, from, to, &lr, &nl);
    if (rc == 0)
        rc = report(lr, nl, vr, nv, v, &o, from, to, json);
    free(vr);
    free(lr);
    return rc;
}
