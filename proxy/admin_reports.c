/* tg_admin_reports implementation.  Runs on the admin listener's one polling thread, so
 * the store handle it keeps (opened on first use) is used by one thread at a time, as
 * store.h requires.  Every answer is built in a bounded tg_buf; query values are checked
 * with the same parsers as the CLI, and a bad one gets 400 with the CLI's message. */
#include "proxy/admin_reports.h"

#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "common/buf.h"
#include "quotas/money.h"
#include "quotas/period.h"
#include "records/focus.h"
#include "records/report.h"
#include "router/route.h"
#include "store/store.h"

#define JSON_MAX ((size_t)64 << 20)
#define DEFAULT_DAYS 30
#define TOP_KEYS_DEFAULT 10
#define TOP_KEYS_MAX 1000

static tg_store *store_;

void tg_admin_reports_stop(void)
{
    tg_store_close(store_);
    store_ = NULL;
}

static enum MHD_Result send_buf(struct MHD_Connection *con, unsigned status, const char *ctype,
                                const char *body, size_t len)
{
    struct MHD_Response *r =
        MHD_create_response_from_buffer(len, (void *)body, MHD_RESPMEM_MUST_COPY);
    if (!r)
        return MHD_NO;
    MHD_add_response_header(r, "content-type", ctype);
    MHD_add_response_header(r, "cache-control", "no-store");
    enum MHD_Result ret = MHD_queue_response(con, status, r);
    MHD_destroy_response(r);
    return ret;
}

static enum MHD_Result send_error(struct MHD_Connection *con, unsigned status, const char *type,
                                  const char *msg)
{
    tg_buf b;
    tg_buf_init(&b, 1024);
    int rc = tg_buf_puts(&b, "{\"error\":{\"message\":");
    if (rc == TG_BUF_OK)
        rc = tg_report_json_string(&b, msg);
    if (rc == TG_BUF_OK)
        rc = tg_buf_printf(&b, ",\"type\":\"%s\"}}", type);
    enum MHD_Result ret = rc == TG_BUF_OK
        ? send_buf(con, status, "application/json", b.p, b.len)
        : send_buf(con, 500, "application/json", "{}", 2);
    tg_buf_free(&b);
    return ret;
}

static const char *arg(struct MHD_Connection *con, const char *name)
{
    return MHD_lookup_connection_value(con, MHD_GET_ARGUMENT_KIND, name);
}

static bool arg_flag(struct MHD_Connection *con, const char *name)
{
    const char *v = arg(con, name);
    return v && (!strcmp(v, "1") || !strcmp(v, "true") || !*v);
}

/* ?name=N in 1..max (default def); -1 when malformed. */
static int arg_int(struct MHD_Connection *con, const char *name, int def, int max)
{
    const char *v = arg(con, name);
    if (!v)
        return def;
    char *end;
    long n = strtol(v, &end, 10);
    return *v && !*end && n >= 1 && n <= max ? (int)n : -1;
}

static tg_store *store(const tg_config *cfg, char *err, size_t errlen)
{
    if (!store_ && tg_store_open(cfg->store, &store_, err, errlen) != TG_STORE_OK)
        store_ = NULL;
    return store_;
}

/* Runs q; on failure answers and returns NULL with *ret set. */
static tg_report_row *run_report(struct MHD_Connection *con, const tg_config *cfg,
                                 const tg_report_query *q, size_t *n, enum MHD_Result *ret)
{
    char err[256];
    tg_store *st = store(cfg, err, sizeof err);
    tg_report_row *rows = NULL;
    *n = 0;
    if (!st) {
        *ret = send_error(con, 503, "server_error", err);
        return NULL;
    }
    if (tg_store_report(st, q, &rows, n) != TG_STORE_OK) {
        *ret = send_error(con, 500, "server_error", tg_store_errmsg(st));
        return NULL;
    }
    if (!rows) /* an empty report is not a failure */
        rows = calloc(1, sizeof *rows);
    if (!rows)
        *ret = send_error(con, 500, "server_error", "out of memory");
    return rows;
}

/* ---------------------------------------------------------------- GET /report */

static enum MHD_Result on_report(struct MHD_Connection *con, const tg_config *cfg)
{
    tg_report_query q = {0};
    tg_report_format f = TG_REPORT_JSON;
    char err[160];
    const char *team = arg(con, "team"), *fmt = arg(con, "format"), *by = arg(con, "by");
    if (tg_report_range(arg(con, "from"), arg(con, "to"), (int64_t)time(NULL), &q.from_day,
                        &q.to_day, err, sizeof err) != 0 ||
        tg_report_parse_by(by ? by : "team", &q, err, sizeof err) != 0)
        return send_error(con, 400, "invalid_request_error", err);
    if (fmt && tg_report_parse_format(fmt, &f) != 0)
        return send_error(con, 400, "invalid_request_error",
                          "format: unknown format (table, csv, json)");
    if (team && !tg_store_team_name_valid(team))
        return send_error(con, 400, "invalid_request_error", "team: not a team name");
    snprintf(q.team, sizeof q.team, "%s", team ? team : "");
    size_t n;
    enum MHD_Result ret = MHD_NO;
    tg_report_row *rows = run_report(con, cfg, &q, &n, &ret);
    if (!rows)
        return ret;
    tg_buf b;
    tg_buf_init(&b, JSON_MAX);
    int rc = tg_report_render(&q, rows, n, f, &b);
    free(rows);
    static const char *const types[] = {"text/plain; charset=utf-8", "text/csv; charset=utf-8",
                                        "application/json"};
    ret = rc == TG_BUF_OK ? send_buf(con, 200, types[f], b.p ? b.p : "", b.len)
                          : send_error(con, 413, "invalid_request_error",
                                       "the report is too large: narrow it");
    tg_buf_free(&b);
    return ret;
}

/* ---------------------------------------------------------------- GET /export/focus */

static int buf_sink(void *ctx, const char *p, size_t n)
{
    return tg_buf_append(ctx, p, n) == TG_BUF_OK ? 0 : 1;
}

static enum MHD_Result on_export(struct MHD_Connection *con, const tg_config *cfg, bool meta)
{
    bool hourly = arg_flag(con, "hourly");
    if (meta) {
        char *m = tg_focus_metadata(hourly, (int64_t)time(NULL));
        enum MHD_Result ret = m ? send_buf(con, 200, "application/json", m, strlen(m))
                                : send_error(con, 500, "server_error", "out of memory");
        free(m);
        return ret;
    }
    int64_t from, to;
    char err[256];
    if (tg_report_range(arg(con, "from"), arg(con, "to"), (int64_t)time(NULL), &from, &to, err,
                        sizeof err) != 0)
        return send_error(con, 400, "invalid_request_error", err);
    tg_store *st = store(cfg, err, sizeof err);
    if (!st)
        return send_error(con, 503, "server_error", err);
    tg_route_snapshot *snap = tg_route_acquire();
    tg_buf b;
    tg_buf_init(&b, TG_ADMIN_EXPORT_MAX);
    tg_focus *f = tg_focus_new(snap ? snap->catalog : NULL, hourly, buf_sink, &b);
    int rc = f ? tg_store_records_scan(st, from * TG_REPORT_DAY_US,
                                       (to + 1) * TG_REPORT_DAY_US, tg_focus_record_fn, f)
               : TG_STORE_ERROR;
    int end = f ? tg_focus_end(f, NULL) : -1;
    tg_route_release(snap);
    enum MHD_Result ret;
    if (rc == TG_STORE_OK && end == 0)
        ret = send_buf(con, 200, "text/csv; charset=utf-8", b.p ? b.p : "", b.len);
    else if (rc == TG_STORE_ERROR)
        ret = send_error(con, 500, "server_error", f ? tg_store_errmsg(st) : "out of memory");
    else
        ret = send_error(con, 413, "invalid_request_error",
                         "the export is too large for one answer: use hourly=1, a shorter "
                         "range, or `tollgate export focus`");
    tg_buf_free(&b);
    return ret;
}

/* ---------------------------------------------------------------- dashboard data */

static int money(tg_buf *b, const char *key, int64_t nusd)
{
    char m[TG_MONEY_FMT_SIZE];
    tg_money_format(nusd, m, sizeof m);
    return tg_buf_printf(b, "\"%s\":%s", key, m);
}

/* ,"requests":N,"cost_usd":X} : the tail of a row object. */
static int requests_and_cost(tg_buf *b, const tg_report_row *r)
{
    int rc = tg_buf_printf(b, ",\"requests\":%" PRId64 ",", r->requests);
    if (rc == TG_BUF_OK)
        rc = money(b, "cost_usd", r->cost_nusd);
    return rc == TG_BUF_OK ? tg_buf_puts(b, "}") : rc;
}


static int day_field(tg_buf *b, const char *key, int64_t day)
{
    char d[TG_REPORT_DATE_SIZE];
    tg_report_day_text(day, d);
    return tg_buf_printf(b, "\"%s\":\"%s\"", key, d);
}

/* The query of the last `days` days up to today. */
static tg_report_query window(int days, int ngroup, tg_report_field g0, tg_report_field g1)
{
    tg_report_query q = {.ngroup = ngroup, .group = {g0, g1}};
    q.to_day = tg_report_day_of((int64_t)time(NULL));
    q.from_day = q.to_day - days + 1;
    return q;
}

static int spend_json(const tg_report_query *q, const tg_report_row *r, size_t n, tg_buf *b)
{
    int rc = tg_buf_puts(b, "{");
    if (rc == TG_BUF_OK)
        rc = day_field(b, "from", q->from_day);
    if (rc == TG_BUF_OK)
        rc = tg_buf_puts(b, ",");
    if (rc == TG_BUF_OK)
        rc = day_field(b, "to", q->to_day);
    if (rc == TG_BUF_OK)
        rc = tg_buf_puts(b, ",\"rows\":[");
    for (size_t i = 0; rc == TG_BUF_OK && i < n; i++) {
        rc = tg_buf_puts(b, i ? ",{" : "{");
        if (rc == TG_BUF_OK)
            rc = day_field(b, "day", r[i].day);
        if (rc == TG_BUF_OK)
            rc = tg_buf_puts(b, ",\"team\":");
        if (rc == TG_BUF_OK)
            rc = tg_report_json_string(b, r[i].team);
        if (rc == TG_BUF_OK)
            rc = requests_and_cost(b, &r[i]);
    }
    return rc == TG_BUF_OK ? tg_buf_puts(b, "]}") : rc;
}

static int model_json(const tg_report_row *r, size_t n, bool accuracy, tg_buf *b)
{
    int rc = tg_buf_puts(b, "{\"rows\":[");
    for (size_t i = 0, k = 0; rc == TG_BUF_OK && i < n; i++) {
        if (accuracy && !r[i].reported_requests)
            continue;
        rc = tg_buf_puts(b, k++ ? ",{\"model\":" : "{\"model\":");
        if (rc == TG_BUF_OK)
            rc = tg_report_json_string(b, r[i].model);
        if (rc == TG_BUF_OK && accuracy) {
            /* error in tenths of a percent, rounded half away from zero, exact integers */
            int64_t est = r[i].reported_est_input_tokens, act = r[i].reported_input_tokens;
            int64_t num = (est - act) * 1000;
            int64_t pm = act ? (num + (num >= 0 ? act / 2 : -act / 2)) / act : 0;
            rc = tg_buf_printf(b,
                               ",\"reported_requests\":%" PRId64
                               ",\"estimated_input_tokens\":%" PRId64
                               ",\"reported_input_tokens\":%" PRId64 ",\"error_pct\":%s%" PRId64
                               ".%" PRId64 "}",
                               r[i].reported_requests, est, act, pm < 0 ? "-" : "",
                               (pm < 0 ? -pm : pm) / 10, (pm < 0 ? -pm : pm) % 10);
        } else if (rc == TG_BUF_OK) {
            rc = tg_buf_printf(b,
                               ",\"requests\":%" PRId64 ",\"input_tokens\":%" PRId64
                               ",\"output_tokens\":%" PRId64 ",",
                               r[i].requests, r[i].input_tokens, r[i].output_tokens);
            if (rc == TG_BUF_OK)
                rc = money(b, "cost_usd", r[i].cost_nusd);
            if (rc == TG_BUF_OK)
                rc = tg_buf_puts(b, "}");
        }
    }
    return rc == TG_BUF_OK ? tg_buf_puts(b, "]}") : rc;
}

static int cost_desc(const void *a, const void *b)
{
    const tg_report_row *x = a, *y = b;
    if (x->cost_nusd != y->cost_nusd)
        return x->cost_nusd > y->cost_nusd ? -1 : 1;
    return strcmp(x->key_id, y->key_id);
}

static int keys_json(tg_report_row *r, size_t n, int limit, tg_buf *b)
{
    qsort(r, n, sizeof *r, cost_desc);
    int rc = tg_buf_puts(b, "{\"rows\":[");
    for (size_t i = 0; rc == TG_BUF_OK && i < n && i < (size_t)limit; i++) {
        rc = tg_buf_puts(b, i ? ",{\"key\":" : "{\"key\":");
        if (rc == TG_BUF_OK)
            rc = tg_report_json_string(b, r[i].key_id);
        if (rc == TG_BUF_OK)
            rc = tg_buf_puts(b, ",\"team\":");
        if (rc == TG_BUF_OK)
            rc = tg_report_json_string(b, r[i].team);
        if (rc == TG_BUF_OK)
            rc = requests_and_cost(b, &r[i]);
    }
    return rc == TG_BUF_OK ? tg_buf_puts(b, "]}") : rc;
}

/* One team's current period: spend per day to date, and the linear projection. */
static int budget_team(const tg_team *t, const tg_report_row *r, size_t n, int64_t now_us,
                       tg_buf *b)
{
    int64_t idx = tg_period_index(t->period, now_us, 0);
    int64_t start = tg_period_start_us(t->period, idx, 0);
    int64_t end = tg_period_start_us(t->period, idx + 1, 0);
    int64_t spent = 0;
    char label[TG_PERIOD_LABEL_SIZE];
    tg_period_label(t->period, idx, label, sizeof label);
    int rc = tg_buf_puts(b, "{\"team\":");
    if (rc == TG_BUF_OK)
        rc = tg_report_json_string(b, t->name);
    if (rc == TG_BUF_OK)
        rc = tg_buf_printf(b, ",\"period\":\"%s\",\"label\":\"%s\",",
                           tg_store_period_name(t->period), label);
    if (rc == TG_BUF_OK)
        rc = day_field(b, "start", start / TG_REPORT_DAY_US);
    if (rc == TG_BUF_OK)
        rc = tg_buf_puts(b, ",");
    if (rc == TG_BUF_OK)
        rc = day_field(b, "end", end / TG_REPORT_DAY_US - 1);
    if (rc == TG_BUF_OK && t->lim.budget_nusd == TG_STORE_UNLIMITED)
        rc = tg_buf_puts(b, ",\"budget_usd\":null");
    else if (rc == TG_BUF_OK) {
        rc = tg_buf_puts(b, ",");
        if (rc == TG_BUF_OK)
            rc = money(b, "budget_usd", t->lim.budget_nusd);
    }
    if (rc == TG_BUF_OK)
        rc = tg_buf_puts(b, ",\"daily\":[");
    int k = 0;
    for (size_t i = 0; rc == TG_BUF_OK && i < n; i++) {
        if (strcmp(r[i].team, t->name) != 0 || r[i].day < start / TG_REPORT_DAY_US)
            continue;
        spent += r[i].cost_nusd;
        rc = tg_buf_puts(b, k++ ? ",{" : "{");
        if (rc == TG_BUF_OK)
            rc = day_field(b, "day", r[i].day);
        if (rc == TG_BUF_OK)
            rc = tg_buf_puts(b, ",");
        if (rc == TG_BUF_OK)
            rc = money(b, "cost_usd", r[i].cost_nusd);
        if (rc == TG_BUF_OK)
            rc = tg_buf_puts(b, ",");
        if (rc == TG_BUF_OK)
            rc = money(b, "cumulative_usd", spent);
        if (rc == TG_BUF_OK)
            rc = tg_buf_puts(b, "}");
    }
    /* projection: the spend rate so far (per elapsed µs) carried to the period's end */
    int64_t elapsed = now_us - start > 0 ? now_us - start : 1, whole = end - start;
    __int128 proj = (__int128)spent * whole / elapsed;
    if (rc == TG_BUF_OK)
        rc = tg_buf_puts(b, "],");
    if (rc == TG_BUF_OK)
        rc = money(b, "spent_usd", spent);
    if (rc == TG_BUF_OK)
        rc = tg_buf_puts(b, ",");
    if (rc == TG_BUF_OK)
        rc = money(b, "projected_usd", proj > INT64_MAX ? INT64_MAX : (int64_t)proj);
    return rc == TG_BUF_OK ? tg_buf_printf(b, ",\"elapsed_permille\":%" PRId64 "}",
                                           (int64_t)((__int128)elapsed * 1000 / whole))
                           : rc;
}

static enum MHD_Result on_budgets(struct MHD_Connection *con, const tg_config *cfg)
{
    char err[256];
    tg_store *st = store(cfg, err, sizeof err);
    if (!st)
        return send_error(con, 503, "server_error", err);
    tg_team *teams = NULL;
    size_t nt = 0, n = 0;
    if (tg_store_team_list(st, &teams, &nt) != TG_STORE_OK)
        return send_error(con, 500, "server_error", tg_store_errmsg(st));
    /* the longest period is a month: 31 days back covers every team's current one */
    tg_report_query q = window(32, 2, TG_REPORT_TEAM, TG_REPORT_DAY);
    enum MHD_Result ret = MHD_NO;
    tg_report_row *rows = run_report(con, cfg, &q, &n, &ret);
    if (!rows) {
        free(teams);
        return ret;
    }
    tg_buf b;
    tg_buf_init(&b, JSON_MAX);
    struct timespec now;
    clock_gettime(CLOCK_REALTIME, &now);
    int64_t now_us = (int64_t)now.tv_sec * 1000000 + now.tv_nsec / 1000;
    int rc = tg_buf_puts(&b, "{\"teams\":[");
    for (size_t i = 0; rc == TG_BUF_OK && i < nt; i++) {
        rc = i ? tg_buf_puts(&b, ",") : TG_BUF_OK;
        if (rc == TG_BUF_OK)
            rc = budget_team(&teams[i], rows, n, now_us, &b);
    }
    if (rc == TG_BUF_OK)
        rc = tg_buf_puts(&b, "]}");
    free(rows);
    free(teams);
    ret = rc == TG_BUF_OK ? send_buf(con, 200, "application/json", b.p, b.len)
                          : send_error(con, 500, "server_error", "answer too large");
    tg_buf_free(&b);
    return ret;
}

static enum MHD_Result on_data(struct MHD_Connection *con, const tg_config *cfg,
                               const char *what)
{
    if (!strcmp(what, "budgets"))
        return on_budgets(con, cfg);
    int days = arg_int(con, "days", DEFAULT_DAYS, TG_DASHBOARD_DAYS_MAX);
    int limit = arg_int(con, "limit", TOP_KEYS_DEFAULT, TOP_KEYS_MAX);
    if (days < 0 || limit < 0)
        return send_error(con, 400, "invalid_request_error",
                          "days: 1..366 and limit: 1..1000, whole numbers");
    tg_report_query q;
    if (!strcmp(what, "spend"))
        q = window(days, 2, TG_REPORT_DAY, TG_REPORT_TEAM);
    else if (!strcmp(what, "models") || !strcmp(what, "accuracy"))
        q = window(days, 1, TG_REPORT_MODEL, TG_REPORT_DAY);
    else if (!strcmp(what, "keys"))
        q = window(days, 2, TG_REPORT_KEY, TG_REPORT_TEAM);
    else
        return send_error(con, 404, "invalid_request_error", "Unknown dashboard data.");
    size_t n;
    enum MHD_Result ret = MHD_NO;
    tg_report_row *rows = run_report(con, cfg, &q, &n, &ret);
    if (!rows)
        return ret;
    tg_buf b;
    tg_buf_init(&b, JSON_MAX);
    int rc = what[0] == 's'   ? spend_json(&q, rows, n, &b)
             : what[0] == 'm' ? model_json(rows, n, false, &b)
             : what[0] == 'a' ? model_json(rows, n, true, &b)
                              : keys_json(rows, n, limit, &b);
    free(rows);
    ret = rc == TG_BUF_OK ? send_buf(con, 200, "application/json", b.p, b.len)
                          : send_error(con, 500, "server_error", "answer too large");
    tg_buf_free(&b);
    return ret;
}

enum MHD_Result tg_admin_reports_handle(struct MHD_Connection *con, const tg_config *cfg,
                                        const char *url, const char *method, bool authorized,
                                        bool *handled)
{
    static const char data_prefix[] = "/dashboard/data/";
    bool dash = !strcmp(url, "/dashboard") || !strcmp(url, "/dashboard/");
    *handled = dash || !strcmp(url, "/report") || !strncmp(url, "/export/focus", 13) ||
               !strncmp(url, data_prefix, sizeof data_prefix - 1);
    if (!*handled)
        return MHD_NO;
    if (strcmp(method, "GET") != 0)
        return send_error(con, 405, "invalid_request_error", "Use GET.");
    if (dash)
        return send_buf(con, 200, "text/html; charset=utf-8", tg_dashboard_html,
                        tg_dashboard_html_len);
    if (!authorized)
        return send_error(con, 401, "authentication_error",
                          "Send the admin token as 'Authorization: Bearer <token>'.");
    if (!strcmp(url, "/report"))
        return on_report(con, cfg);
    if (!strcmp(url, "/export/focus") || !strcmp(url, "/export/focus/metadata"))
        return on_export(con, cfg, url[13] == '/');
    if (!strncmp(url, data_prefix, sizeof data_prefix - 1))
        return on_data(con, cfg, url + sizeof data_prefix - 1);
    return send_error(con, 404, "invalid_request_error", "Unknown admin path.");
}
