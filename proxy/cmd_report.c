/* `tollgate report [--config F] [--from D] [--to D] [--by FIELDS] [--team T]
 *  [--format table|csv|json]`: spend from the daily rollups (SPEC.md, records/report.h).
 *
 * Dates are UTC days, both ends included; the default range is the current month up to
 * today.  --by takes day, team, key, model, provider in any order (default "team"; ""
 * gives one total row).  Exit 1: a bad option value or a store problem; 2: usage. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "proxy/cmd_store.h"
#include "proxy/cmds.h"
#include "records/report.h"

#define WHO "tollgate report"
#define REPORT_OUT_MAX ((size_t)1 << 30) /* largest report printed */

static const char usage_text[] =
    "usage: tollgate report [--config FILE] [--from YYYY-MM-DD] [--to YYYY-MM-DD]\n"
    "                       [--by day,team,key,model,provider] [--team NAME]\n"
    "                       [--format table|csv|json]\n";

static const char details_text[] =
    "\n"
    "Spend per group from the ledger's daily rollups (UTC days, both ends included;\n"
    "default: this month up to today).  --by: grouping fields in output order (default\n"
    "team; an empty value gives one total row).  --team: one team only.  Columns: the\n"
    "fields, requests, tokens by type, est_input_tokens, reported/estimated/overshoot/\n"
    "unsettled/error request counts, cost_usd (exact decimal USD).\n";

int tg_cmd_report(int argc, char **argv)
{
    const char *config = NULL, *from = NULL, *to = NULL, *by = "team", *fmt = "table",
               *team = NULL;
    const tg_cli_opt opts[] = {{"--config", &config}, {"--from", &from}, {"--to", &to},
                               {"--by", &by},         {"--format", &fmt}, {"--team", &team},
                               {NULL, NULL}};
    const char *pos[1];
    int npos, rc = tg_cli_parse(argc, argv, opts, pos, 0, 0, &npos, WHO, usage_text,
                                details_text);
    if (rc >= 0)
        return rc;
    tg_report_query q = {0};
    tg_report_format f;
    char err[160];
    if (tg_report_range(from, to, (int64_t)time(NULL), &q.from_day, &q.to_day, err,
                        sizeof err) != 0 ||
        tg_report_parse_by(by, &q, err, sizeof err) != 0) {
        fprintf(stderr, WHO ": %s\n", err);
        return 1;
    }
    if (tg_report_parse_format(fmt, &f) != 0) {
        fprintf(stderr, WHO ": --format: unknown format '%s' (table, csv, json)\n", fmt);
        return 1;
    }
    if (team && !tg_store_team_name_valid(team)) {
        fprintf(stderr, WHO ": --team: not a team name: '%.64s'\n", team);
        return 1;
    }
    snprintf(q.team, sizeof q.team, "%s", team ? team : "");
    tg_store *st;
    if (tg_cli_store_open(WHO, config, &st) != 0)
        return 1;
    tg_report_row *rows = NULL;
    size_t n = 0;
    if (tg_store_report(st, &q, &rows, &n) != TG_STORE_OK) {
        fprintf(stderr, WHO ": %s\n", tg_store_errmsg(st));
        tg_store_close(st);
        return 1;
    }
    tg_store_close(st);
    tg_buf out;
    tg_buf_init(&out, REPORT_OUT_MAX);
    rc = tg_report_render(&q, rows, n, f, &out);
    free(rows);
    if (rc != TG_BUF_OK) {
        fprintf(stderr, WHO ": the report is too large to print\n");
        tg_buf_free(&out);
        return 1;
    }
    fwrite(out.p ? out.p : "", 1, out.len, stdout);
    tg_buf_free(&out);
    return tg_cli_finish(WHO);
}
