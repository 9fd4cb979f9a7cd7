/* tg_recon implementation: a bounded CSV reader (RFC 4180 quoting), a cJSON walk over the
 * vendors' API pages, exact decimal money parsing, then a merge join of two sorted lists
 * of (day, model) rows.  Every parser failure names its place; nothing here trusts the
 * file: counts are checked to be integers in [0, TOKENS_MAX], sums saturate-checked. */
#include "records/reconcile.h"

#include <ctype.h>
#include <inttypes.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include <cjson/cJSON.h>

#include "quotas/money.h"
#include "records/report.h"

#define TOKENS_MAX INT64_C(1000000000000000) /* 1e15: far above any real bucket */
#define COST_MAX_NUSD (INT64_MAX / 4)
#define ERR(...) (snprintf(err, errlen, __VA_ARGS__), -1)

static const char *const vendor_names[] = {"openai", "anthropic"};

int tg_recon_vendor_parse(const char *s, tg_recon_vendor *v)
{
    for (int i = 0; i < 2; i++)
        if (!strcmp(s, vendor_names[i])) {
            *v = (tg_recon_vendor)i;
            return 0;
        }
    return -1;
}

const char *tg_recon_vendor_name(tg_recon_vendor v)
{
    return vendor_names[v == TG_RECON_ANTHROPIC];
}

void tg_recon_model_norm(const char *model, char *out, size_t size)
{
    snprintf(out, size, "%s", model);
    size_t n = strlen(out), digits = 0;
    while (digits < n && isdigit((unsigned char)out[n - 1 - digits]))
        digits++;
    if (digits == 8 && n > 9 && out[n - 9] == '-') { /* -YYYYMMDD */
        out[n - 9] = '\0';
        return;
    }
    /* -YYYY-MM-DD */
    if (n > 11 && out[n - 11] == '-' && out[n - 6] == '-' && out[n - 3] == '-') {
        int64_t day;
        char date[TG_REPORT_DATE_SIZE];
        memcpy(date, out + n - 10, 10);
        date[10] = '\0';
        if (tg_report_parse_day(date, &day) == 0)
            out[n - 11] = '\0';
    }
}

/* ---------------------------------------------------------------- values */

/* Exact decimal text -> nano-dollars, the text being in units of 10^-down USD (0: USD,
 * 2: cents); rounded half up at the nano-dollar.  0 or -1. */
static int parse_money(const char *s, int down, int64_t *nusd)
{
    __int128 mant = 0;
    int frac = -1, digits = 0;
    bool neg = *s == '-';
    if (neg || *s == '+')
        s++;
    for (; *s; s++) {
        if (*s == '.' && frac < 0) {
            frac = 0;
            continue;
        }
        if (!isdigit((unsigned char)*s) || ++digits > 30)
            return -1;
        mant = mant * 10 + (*s - '0');
        if (frac >= 0)
            frac++;
    }
    if (!digits)
        return -1;
    int shift = 9 - down - (frac < 0 ? 0 : frac);
    for (; shift > 0; shift--)
        mant *= 10;
    if (shift < 0) {
        __int128 p = 1;
        for (; shift < 0; shift++)
            p *= 10;
        mant = (mant + p / 2) / p;
    }
    if (mant > COST_MAX_NUSD)
        return -1;
    *nusd = neg ? -(int64_t)mant : (int64_t)mant;
    return 0;
}

/* A JSON number as money: through its shortest round-trip text, so 0.06 is 0.06. */
static int json_money(const cJSON *j, int down, int64_t *nusd)
{
    if (cJSON_IsString(j))
        return parse_money(j->valuestring, down, nusd);
    if (!cJSON_IsNumber(j) || !isfinite(j->valuedouble) || fabs(j->valuedouble) > 1e12)
        return -1;
    char buf[64];
    for (int prec = 1; prec <= 17; prec++) {
        snprintf(buf, sizeof buf, "%.*f", prec > 15 ? 15 : prec, j->valuedouble);
        if (strtod(buf, NULL) == j->valuedouble || prec == 17)
            break;
    }
    return parse_money(buf, down, nusd);
}

static int parse_count(const char *s, int64_t *v)
{
    int64_t n = 0;
    if (!*s)
        return -1;
    for (; *s; s++) {
        if (!isdigit((unsigned char)*s) || n > TOKENS_MAX / 10)
            return -1;
        n = n * 10 + (*s - '0');
    }
    if (n > TOKENS_MAX)
        return -1;
    *v = n;
    return 0;
}

static int json_count(const cJSON *j, int64_t *v)
{
    if (cJSON_IsNull(j)) {
        *v = 0;
        return 0;
    }
    if (cJSON_IsString(j))
        return parse_count(j->valuestring, v);
    if (!cJSON_IsNumber(j) || !(j->valuedouble >= 0) || j->valuedouble > (double)TOKENS_MAX ||
        j->valuedouble != floor(j->valuedouble))
        return -1;
    *v = (int64_t)j->valuedouble;
    return 0;
}

/* A day from UNIX seconds (all digits) or an ISO date/date-time ("2026-11-03...").  */
static int parse_when(const char *s, int64_t *day)
{
    int64_t secs;
    if (parse_count(s, &secs) == 0) {
        *day = tg_report_day_of(secs);
        return 0;
    }
    char date[TG_REPORT_DATE_SIZE];
    if (strlen(s) < 10)
        return -1;
    memcpy(date, s, 10);
    date[10] = '\0';
    return tg_report_parse_day(date, day);
}

static int json_when(const cJSON *j, int64_t *day)
{
    if (cJSON_IsString(j))
        return parse_when(j->valuestring, day);
    if (!cJSON_IsNumber(j) || !(j->valuedouble >= 0) || j->valuedouble > 253402300799.0)
        return -1;
    *day = tg_report_day_of((int64_t)j->valuedouble);
    return 0;
}

/* ---------------------------------------------------------------- row list */

typedef struct {
    tg_recon_row *p;
    size_t n, cap;
} row_list;

static tg_recon_row *row_add(row_list *l)
{
    if (l->n == l->cap) {
        if (l->n >= TG_RECON_MAX_ROWS)
            return NULL;
        size_t cap = l->cap ? l->cap * 2 : 64;
        tg_recon_row *p = realloc(l->p, cap * sizeof *p);
        if (!p)
            return NULL;
        l->p = p, l->cap = cap;
    }
    tg_recon_row *r = &l->p[l->n++];
    memset(r, 0, sizeof *r);
    return r;
}

static int row_cmp(const void *a, const void *b)
{
    const tg_recon_row *x = a, *y = b;
    if (x->day != y->day)
        return x->day < y->day ? -1 : 1;
    return strcmp(x->model, y->model);
}

static int64_t sat_add(int64_t a, int64_t b)
{
    return a > INT64_MAX - b ? INT64_MAX : a + b;
}

/* Sorts and sums rows with the same (day, model). */
static void row_merge(row_list *l)
{
    if (!l->n)
        return;
    qsort(l->p, l->n, sizeof *l->p, row_cmp);
    size_t o = 0;
    for (size_t i = 1; i < l->n; i++) {
        tg_recon_row *a = &l->p[o], *b = &l->p[i];
        if (row_cmp(a, b) != 0) {
            l->p[++o] = *b;
            continue;
        }
        a->has_tokens |= b->has_tokens, a->has_cost |= b->has_cost;
        a->has_requests |= b->has_requests, a->has_cache_write |= b->has_cache_write;
        a->input_tokens = sat_add(a->input_tokens, b->input_tokens);
        a->cached_input_tokens = sat_add(a->cached_input_tokens, b->cached_input_tokens);
        a->cache_write_tokens = sat_add(a->cache_write_tokens, b->cache_write_tokens);
        a->output_tokens = sat_add(a->output_tokens, b->output_tokens);
        a->requests = sat_add(a->requests, b->requests);
        a->cost_nusd = sat_add(a->cost_nusd, b->cost_nusd);
    }
    l->n = o + 1;
}

static void set_model(tg_recon_row *r, const char *model)
{
    char buf[TG_RECON_MODEL_MAX];
    snprintf(buf, sizeof buf, "%s", model && *model ? model : "*");
    char *comma = strchr(buf, ','); /* OpenAI's line_item: "gpt-4o-2024-08-06, input" */
    if (comma)
        *comma = '\0';
    tg_recon_model_norm(buf, r->model, sizeof r->model);
}

/* ---------------------------------------------------------------- JSON */

static const char *jstr(const cJSON *o, const char *k)
{
    const cJSON *j = cJSON_GetObjectItemCaseSensitive(o, k);
    return cJSON_IsString(j) ? j->valuestring : NULL;
}

/* Adds token count field k of o (absent: 0) to *sum; -1 when present but not a count. */
static int jadd(const cJSON *o, const char *k, int64_t *sum, bool *seen)
{
    const cJSON *j = cJSON_GetObjectItemCaseSensitive(o, k);
    int64_t v = 0;
    if (!j)
        return 0;
    if (json_count(j, &v) != 0)
        return -1;
    *sum = sat_add(*sum, v);
    if (seen)
        *seen = true;
    return 0;
}

static int json_result(const cJSON *res, int64_t day, tg_recon_vendor v, row_list *l,
                       const char *where, char *err, size_t errlen)
{
    if (!cJSON_IsObject(res))
        return ERR("%s: a result must be an object", where);
    tg_recon_row *r = row_add(l);
    if (!r)
        return ERR("%s: too many results (at most %d) or out of memory", where,
                   TG_RECON_MAX_ROWS);
    r->day = day;
    const cJSON *amount = cJSON_GetObjectItemCaseSensitive(res, "amount");
    if (amount) { /* a cost result */
        const cJSON *val = cJSON_IsObject(amount)
                               ? cJSON_GetObjectItemCaseSensitive(amount, "value") : amount;
        const char *cur = cJSON_IsObject(amount) ? jstr(amount, "currency")
                                                 : jstr(res, "currency");
        if (cur && strcasecmp(cur, "usd") != 0)
            return ERR("%s: currency '%.8s' (only USD is supported)", where, cur);
        int down = v == TG_RECON_ANTHROPIC && !cJSON_IsObject(amount) ? 2 : 0;
        if (json_money(val, down, &r->cost_nusd) != 0)
            return ERR("%s.amount: not a decimal amount", where);
        r->has_cost = true;
        set_model(r, jstr(res, "model") ? jstr(res, "model") : jstr(res, "line_item"));
        return 0;
    }
    set_model(r, jstr(res, "model"));
    int bad = 0;
    if (v == TG_RECON_OPENAI) {
        bad |= jadd(res, "input_tokens", &r->input_tokens, &r->has_tokens);
        bad |= jadd(res, "input_cached_tokens", &r->cached_input_tokens, NULL);
    } else {
        const cJSON *cc = cJSON_GetObjectItemCaseSensitive(res, "cache_creation");
        bad |= jadd(res, "uncached_input_tokens", &r->input_tokens, &r->has_tokens);
        bad |= jadd(res, "cache_read_input_tokens", &r->cached_input_tokens, NULL);
        bad |= jadd(res, "cache_creation_5m_input_tokens", &r->cache_write_tokens,
                    &r->has_cache_write);
        bad |= jadd(res, "cache_creation_1h_input_tokens", &r->cache_write_tokens,
                    &r->has_cache_write);
        if (cJSON_IsObject(cc)) {
            bad |= jadd(cc, "ephemeral_5m_input_tokens", &r->cache_write_tokens,
                        &r->has_cache_write);
            bad |= jadd(cc, "ephemeral_1h_input_tokens", &r->cache_write_tokens,
                        &r->has_cache_write);
        }
        r->input_tokens = sat_add(sat_add(r->input_tokens, r->cached_input_tokens),
                                  r->cache_write_tokens);
    }
    bad |= jadd(res, "output_tokens", &r->output_tokens, &r->has_tokens);
    bad |= jadd(res, "num_model_requests", &r->requests, &r->has_requests);
    if (bad)
        return ERR("%s: a token count is not a whole number in 0..1e15", where);
    if (!r->has_tokens)
        return ERR("%s: neither tokens nor an amount", where);
    return 0;
}

static int json_page(const cJSON *page, tg_recon_vendor v, row_list *l, const char *where,
                     char *err, size_t errlen)
{
    const cJSON *data = cJSON_GetObjectItemCaseSensitive(page, "data");
    char at[96];
    if (!cJSON_IsArray(data))
        return ERR("%s: no \"data\" array (not a usage or cost page)", where);
    int bi = 0;
    for (const cJSON *b = data->child; b; b = b->next, bi++) {
        snprintf(at, sizeof at, "%s.data[%d]", where, bi);
        const cJSON *start = cJSON_GetObjectItemCaseSensitive(b, "start_time");
        if (!start)
            start = cJSON_GetObjectItemCaseSensitive(b, "starting_at");
        int64_t day;
        if (!cJSON_IsObject(b) || json_when(start, &day) != 0)
            return ERR("%s: a bucket needs start_time (UNIX) or starting_at (ISO)", at);
        const cJSON *res = cJSON_GetObjectItemCaseSensitive(b, "results");
        if (!res)
            res = cJSON_GetObjectItemCaseSensitive(b, "result");
        if (!cJSON_IsArray(res))
            return ERR("%s: no \"results\" array", at);
        int ri = 0;
        for (const cJSON *r = res->child; r; r = r->next, ri++) {
            char rat[128];
            snprintf(rat, sizeof rat, "%s.results[%d]", at, ri);
            if (json_result(r, day, v, l, rat, err, errlen) != 0)
                return -1;
        }
    }
    return 0;
}

static int parse_json(const char *text, size_t len, tg_recon_vendor v, row_list *l, char *err,
                      size_t errlen)
{
    cJSON *root = cJSON_ParseWithLength(text, len);
    if (!root)
        return ERR("not valid JSON");
    int rc = 0;
    if (cJSON_IsArray(root)) {
        int i = 0;
        char at[32];
        for (const cJSON *p = root->child; p && rc == 0; p = p->next, i++) {
            snprintf(at, sizeof at, "$[%d]", i);
            rc = json_page(p, v, l, at, err, errlen);
        }
    } else {
        rc = json_page(root, v, l, "$", err, errlen);
    }
    cJSON_Delete(root);
    return rc;
}

/* ---------------------------------------------------------------- CSV */

enum { C_DAY, C_MODEL, C_INPUT, C_UNCACHED, C_CACHED, C_WRITE, C_OUTPUT, C_REQUESTS,
       C_COST_USD, C_AMOUNT, C_ROLES };

static const char *const role_aliases[C_ROLES][8] = {
    [C_DAY] = {"date", "day", "start_time", "starting_at", "bucket_start", "start_time_iso",
               "usage_date"},
    [C_MODEL] = {"model", "model_name", "model_id", "line_item"},
    [C_INPUT] = {"input_tokens", "prompt_tokens", "n_context_tokens_total"},
    [C_UNCACHED] = {"uncached_input_tokens"},
    [C_CACHED] = {"input_cached_tokens", "cache_read_input_tokens", "cached_tokens",
                  "n_cached_context_tokens_total"},
    [C_WRITE] = {"cache_creation_input_tokens", "cache_creation_5m_input_tokens",
                 "cache_creation_1h_input_tokens", "cache_write_tokens"},
    [C_OUTPUT] = {"output_tokens", "completion_tokens", "n_generated_tokens_total"},
    [C_REQUESTS] = {"num_model_requests", "requests", "n_requests"},
    [C_COST_USD] = {"cost_usd", "amount_value", "cost", "amount_usd"},
    [C_AMOUNT] = {"amount"},
};

/* Reads one CSV record starting at *pos into fields[] (each TG_RECON_FIELD_MAX bytes).
 * Returns the field count, 0 at the end of the text, or -1 (err set). */
static int csv_record(const char *t, size_t len, size_t *pos, char fields[][TG_RECON_FIELD_MAX],
                      char *err, size_t errlen, int line)
{
    size_t i = *pos;
    if (i >= len)
        return 0;
    int nf = 0;
    for (;;) {
        if (nf >= TG_RECON_CSV_FIELDS)
            return ERR("line %d: more than %d columns", line, TG_RECON_CSV_FIELDS);
        char *f = fields[nf++];
        size_t fl = 0;
        bool quoted = i < len && t[i] == '"';
        if (quoted)
            i++;
        for (; i < len; i++) {
            char c = t[i];
            if (quoted && c == '"') {
                if (i + 1 < len && t[i + 1] == '"') {
                    i++;
                } else {
                    quoted = false;
                    continue;
                }
            } else if (!quoted && (c == ',' || c == '\n' || c == '\r')) {
                break;
            }
            if (fl + 1 >= TG_RECON_FIELD_MAX)
                return ERR("line %d: a field longer than %d bytes", line,
                           TG_RECON_FIELD_MAX - 1);
            f[fl++] = c;
        }
        f[fl] = '\0';
        if (quoted)
            return ERR("line %d: a quoted field is not closed", line);
        if (i < len && t[i] == ',') {
            i++;
            continue;
        }
        if (i < len && t[i] == '\r')
            i++;
        if (i < len && t[i] == '\n')
            i++;
        *pos = i;
        return nf;
    }
}

static int csv_roles(char fields[][TG_RECON_FIELD_MAX], int nf, int role_col[C_ROLES],
                     char *err, size_t errlen)
{
    for (int r = 0; r < C_ROLES; r++)
        role_col[r] = -1;
    for (int r = 0; r < C_ROLES; r++)
        for (int a = 0; role_col[r] < 0 && a < 8 && role_aliases[r][a]; a++)
            for (int c = 0; c < nf; c++)
                if (!strcasecmp(fields[c], role_aliases[r][a])) {
                    role_col[r] = c;
                    break;
                }
    if (role_col[C_DAY] < 0)
        return ERR("line 1: no date column (date, day, start_time, starting_at, ...)");
    bool tokens = role_col[C_INPUT] >= 0 || role_col[C_UNCACHED] >= 0 ||
                  role_col[C_OUTPUT] >= 0;
    if (!tokens && role_col[C_COST_USD] < 0 && role_col[C_AMOUNT] < 0)
        return ERR("line 1: no token or cost columns (input_tokens, output_tokens, cost_usd,"
                   " amount, ...)");
    return 0;
}

static int csv_count(char fields[][TG_RECON_FIELD_MAX], int nf, int col, int64_t *v)
{
    *v = 0;
    if (col < 0 || col >= nf || !fields[col][0])
        return 0;
    return parse_count(fields[col], v);
}

static int csv_row(char fields[][TG_RECON_FIELD_MAX], int nf, const int role[C_ROLES],
                   tg_recon_vendor v, row_list *l, int line, char *err, size_t errlen)
{
    tg_recon_row *r = row_add(l);
    if (!r)
        return ERR("line %d: too many rows or out of memory", line);
    if (role[C_DAY] >= nf || parse_when(fields[role[C_DAY]], &r->day) != 0)
        return ERR("line %d: not a date or UNIX time", line);
    set_model(r, role[C_MODEL] >= 0 && role[C_MODEL] < nf ? fields[role[C_MODEL]] : NULL);
    int64_t in = 0, unc = 0, cached = 0, write = 0;
    if (csv_count(fields, nf, role[C_INPUT], &in) ||
        csv_count(fields, nf, role[C_UNCACHED], &unc) ||
        csv_count(fields, nf, role[C_CACHED], &cached) ||
        csv_count(fields, nf, role[C_WRITE], &write) ||
        csv_count(fields, nf, role[C_OUTPUT], &r->output_tokens) ||
        csv_count(fields, nf, role[C_REQUESTS], &r->requests))
        return ERR("line %d: a count is not a whole number in 0..1e15", line);
    r->input_tokens = role[C_INPUT] >= 0 ? in : sat_add(sat_add(unc, cached), write);
    r->cached_input_tokens = cached;
    r->cache_write_tokens = write;
    r->has_tokens = role[C_INPUT] >= 0 || role[C_UNCACHED] >= 0 || role[C_OUTPUT] >= 0;
    r->has_requests = role[C_REQUESTS] >= 0;
    r->has_cache_write = role[C_WRITE] >= 0;
    int cc = role[C_COST_USD] >= 0 ? role[C_COST_USD] : role[C_AMOUNT];
    int down = role[C_COST_USD] < 0 && v == TG_RECON_ANTHROPIC ? 2 : 0;
    if (cc >= 0 && cc < nf && fields[cc][0]) {
        if (parse_money(fields[cc], down, &r->cost_nusd) != 0)
            return ERR("line %d: not a decimal amount: '%.40s'", line, fields[cc]);
        r->has_cost = true;
    }
    return 0;
}

static int parse_csv(const char *text, size_t len, tg_recon_vendor v, row_list *l, char *err,
                     size_t errlen)
{
    static _Thread_local char fields[TG_RECON_CSV_FIELDS][TG_RECON_FIELD_MAX];
    size_t pos = 0;
    int role[C_ROLES], line = 1;
    if (len >= 3 && !memcmp(text, "\xEF\xBB\xBF", 3)) /* a UTF-8 byte order mark */
        pos = 3;
    int nf = csv_record(text, len, &pos, fields, err, errlen, line);
    if (nf <= 0)
        return nf < 0 ? -1 : ERR("the file is empty");
    if (csv_roles(fields, nf, role, err, errlen) != 0)
        return -1;
    while ((nf = csv_record(text, len, &pos, fields, err, errlen, ++line)) > 0) {
        if (nf == 1 && !fields[0][0])
            continue; /* a blank line */
        if (csv_row(fields, nf, role, v, l, line, err, errlen) != 0)
            return -1;
    }
    return nf < 0 ? -1 : 0;
}

int tg_recon_parse(const char *text, size_t len, tg_recon_vendor v, tg_recon_row **out,
                   size_t *n, char *err, size_t errlen)
{
    row_list l = {0};
    size_t i = 0;
    *out = NULL, *n = 0;
    if (len > TG_RECON_MAX_INPUT)
        return ERR("the file is larger than %zu bytes", TG_RECON_MAX_INPUT);
    while (i < len && isspace((unsigned char)text[i]))
        i++;
    bool json = i < len && (text[i] == '{' || text[i] == '[');
    int rc = json ? parse_json(text, len, v, &l, err, errlen)
                  : parse_csv(text, len, v, &l, err, errlen);
    if (rc != 0) {
        free(l.p);
        return -1;
    }
    row_merge(&l);
    *out = l.p, *n = l.n;
    return 0;
}

/* ---------------------------------------------------------------- compare */

int tg_recon_from_report(const tg_report_row *rows, size_t nrows, const char *provider,
                         tg_recon_row **out, size_t *n)
{
    row_list l = {0};
    *out = NULL, *n = 0;
    for (size_t i = 0; i < nrows; i++) {
        const tg_report_row *x = &rows[i];
        if (provider && strcmp(x->provider, provider) != 0)
            continue;
        tg_recon_row *r = row_add(&l);
        if (!r) {
            free(l.p);
            return -1;
        }
        r->day = x->day;
        tg_recon_model_norm(x->model, r->model, sizeof r->model);
        r->has_tokens = r->has_cost = r->has_requests = r->has_cache_write = true;
        r->input_tokens = x->input_tokens;
        r->cached_input_tokens = x->cached_input_tokens;
        r->cache_write_tokens = x->cache_write_tokens;
        r->output_tokens = x->output_tokens;
        r->requests = x->requests;
        r->cost_nusd = x->cost_nusd;
    }
    row_merge(&l);
    *out = l.p, *n = l.n;
    return 0;
}

static bool far(int64_t a, int64_t b, int64_t tol)
{
    return (a > b ? a - b : b - a) > tol;
}

static tg_recon_status judge(const tg_recon_row *le, const tg_recon_row *ve,
                             const tg_recon_opts *o)
{
    int64_t t = o->token_tolerance;
    bool differ = false;
    if (ve->has_tokens)
        differ |= far(le->input_tokens, ve->input_tokens, t) ||
                  far(le->cached_input_tokens, ve->cached_input_tokens, t) ||
                  far(le->output_tokens, ve->output_tokens, t);
    if (ve->has_cache_write)
        differ |= far(le->cache_write_tokens, ve->cache_write_tokens, t);
    if (ve->has_requests)
        differ |= far(le->requests, ve->requests, 0);
    if (ve->has_cost)
        differ |= far(le->cost_nusd, ve->cost_nusd, o->cost_tolerance_nusd);
    return differ ? TG_RECON_DIFFERS : TG_RECON_MATCHED;
}

static bool empty_row(const tg_recon_row *r)
{
    return !r->input_tokens && !r->output_tokens && !r->requests && !r->cost_nusd &&
           !r->cached_input_tokens && !r->cache_write_tokens;
}

int tg_recon_compare(const tg_recon_row *ledger, size_t nl, const tg_recon_row *vendor,
                     size_t nv, int64_t from_day, int64_t to_day, const tg_recon_opts *o,
                     tg_recon_line **out, size_t *n)
{
    tg_recon_line *lines = calloc(nl + nv + 1, sizeof *lines);
    size_t i = 0, j = 0, k = 0;
    if (!lines)
        return -1;
    while (i < nl || j < nv) {
        int c = i >= nl ? 1 : j >= nv ? -1 : row_cmp(&ledger[i], &vendor[j]);
        const tg_recon_row *le = c <= 0 ? &ledger[i++] : NULL;
        const tg_recon_row *ve = c >= 0 ? &vendor[j++] : NULL;
        const tg_recon_row *any = le ? le : ve;
        if (any->day < from_day || any->day > to_day)
            continue;
        if ((!le || empty_row(le)) && (!ve || empty_row(ve)))
            continue;
        tg_recon_line *ln = &lines[k++];
        ln->day = any->day;
        snprintf(ln->model, sizeof ln->model, "%s", any->model);
        if (le)
            ln->ledger = *le;
        if (ve)
            ln->vendor = *ve;
        ln->status = !le || empty_row(le) ? TG_RECON_MISSING_IN_LEDGER
                     : !ve || empty_row(ve) ? TG_RECON_MISSING_AT_VENDOR
                                            : judge(le, ve, o);
    }
    *out = lines, *n = k;
    return 0;
}

/* ---------------------------------------------------------------- output */

static const char *const status_names[] = {"matched", "differs", "missing_in_ledger",
                                           "missing_at_vendor"};

static int side_json(tg_buf *b, const char *name, const tg_recon_row *r, bool present)
{
    if (!present)
        return tg_buf_printf(b, ",\"%s\":null", name);
    char usd[TG_MONEY_FMT_SIZE];
    tg_money_format(r->cost_nusd, usd, sizeof usd);
    return tg_buf_printf(b,
                         ",\"%s\":{\"requests\":%" PRId64 ",\"input_tokens\":%" PRId64
                         ",\"cached_input_tokens\":%" PRId64 ",\"cache_write_tokens\":%" PRId64
                         ",\"output_tokens\":%" PRId64 ",\"cost_usd\":%s}",
                         name, r->requests, r->input_tokens, r->cached_input_tokens,
                         r->cache_write_tokens, r->output_tokens, r->has_cost ? usd : "null");
}

static int render_json(const tg_recon_line *ls, size_t n, tg_recon_vendor v, int64_t from,
                       int64_t to, tg_buf *b)
{
    size_t count[4] = {0};
    char d1[TG_REPORT_DATE_SIZE], d2[TG_REPORT_DATE_SIZE];
    for (size_t i = 0; i < n; i++)
        count[ls[i].status]++;
    tg_report_day_text(from, d1);
    tg_report_day_text(to, d2);
    int rc = tg_buf_printf(b,
                           "{\"vendor\":\"%s\",\"from\":\"%s\",\"to\":\"%s\",\"summary\":{"
                           "\"matched\":%zu,\"differs\":%zu,\"missing_in_ledger\":%zu,"
                           "\"missing_at_vendor\":%zu},\"rows\":[",
                           tg_recon_vendor_name(v), d1, d2, count[0], count[1], count[2],
                           count[3]);
    for (size_t i = 0; rc == TG_BUF_OK && i < n; i++) {
        const tg_recon_line *l = &ls[i];
        char day[TG_REPORT_DATE_SIZE], dusd[TG_MONEY_FMT_SIZE];
        tg_report_day_text(l->day, day);
        rc = tg_buf_printf(b, "%s\n{\"day\":\"%s\",\"model\":", i ? "," : "", day);
        if (rc == TG_BUF_OK)
            rc = tg_report_json_string(b, l->model);
        if (rc == TG_BUF_OK)
            rc = tg_buf_printf(b, ",\"status\":\"%s\"", status_names[l->status]);
        bool hl = l->status != TG_RECON_MISSING_IN_LEDGER;
        bool hv = l->status != TG_RECON_MISSING_AT_VENDOR;
        if (rc == TG_BUF_OK)
            rc = side_json(b, "ledger", &l->ledger, hl);
        if (rc == TG_BUF_OK)
            rc = side_json(b, "vendor", &l->vendor, hv);
        tg_money_format(l->ledger.cost_nusd - l->vendor.cost_nusd, dusd, sizeof dusd);
        if (rc == TG_BUF_OK)
            rc = tg_buf_printf(b,
                               ",\"diff\":{\"input_tokens\":%" PRId64 ",\"output_tokens\":%" PRId64
                               ",\"cost_usd\":%s}}",
                               l->ledger.input_tokens - l->vendor.input_tokens,
                               l->ledger.output_tokens - l->vendor.output_tokens,
                               l->vendor.has_cost || !hv ? dusd : "null");
    }
    return rc == TG_BUF_OK ? tg_buf_puts(b, "\n]}\n") : rc;
}

static int render_table(const tg_recon_line *ls, size_t n, tg_buf *b)
{
    int rc = tg_buf_printf(b, "%-10s  %-28s  %-17s  %12s  %12s  %12s  %12s  %14s  %14s\n",
                           "day", "model", "status", "ledger_in", "vendor_in", "ledger_out",
                           "vendor_out", "ledger_usd", "vendor_usd");
    size_t bad = 0;
    for (size_t i = 0; rc == TG_BUF_OK && i < n; i++) {
        const tg_recon_line *l = &ls[i];
        char day[TG_REPORT_DATE_SIZE], lu[TG_MONEY_FMT_SIZE], vu[TG_MONEY_FMT_SIZE];
        tg_report_day_text(l->day, day);
        tg_money_format(l->ledger.cost_nusd, lu, sizeof lu);
        tg_money_format(l->vendor.cost_nusd, vu, sizeof vu);
        bad += l->status != TG_RECON_MATCHED;
        rc = tg_buf_printf(b,
                           "%-10s  %-28s  %-17s  %12" PRId64 "  %12" PRId64 "  %12" PRId64
                           "  %12" PRId64 "  %14s  %14s\n",
                           day, l->model, status_names[l->status], l->ledger.input_tokens,
                           l->vendor.input_tokens, l->ledger.output_tokens,
                           l->vendor.output_tokens, lu, l->vendor.has_cost ? vu : "-");
    }
    if (rc == TG_BUF_OK)
        rc = tg_buf_printf(b, "%zu of %zu day/model rows differ\n", bad, n);
    return rc;
}

int tg_recon_render(const tg_recon_line *lines, size_t n, tg_recon_vendor v, int64_t from_day,
                    int64_t to_day, bool json, tg_buf *out)
{
    return json ? render_json(lines, n, v, from_day, to_day, out) : render_table(lines, n, out);
}
