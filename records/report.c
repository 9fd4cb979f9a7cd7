/* tg_report implementation: calendar arithmetic (Howard Hinnant's days_from_civil, UTC
 * only, no libc time zone), the --by parser, and the three renderers.  Rows are written
 * straight into a tg_buf; the table is sized in a first pass over its cells. */
#include "records/report.h"

#include <inttypes.h>
#include <stdio.h>
#include <string.h>

#include "quotas/money.h"

#define CELL_SIZE 160 /* one table cell, NUL included (models are < 128 bytes) */
#define NUM_COLS 13   /* the sums after the grouping fields */
#define COL_MAX (TG_REPORT_FIELD_COUNT + NUM_COLS)

static const char *const field_names[TG_REPORT_FIELD_COUNT] = {
    [TG_REPORT_DAY] = "day",     [TG_REPORT_TEAM] = "team",         [TG_REPORT_KEY] = "key",
    [TG_REPORT_MODEL] = "model", [TG_REPORT_PROVIDER] = "provider",
};

static const char *const num_names[NUM_COLS] = {
    "requests",           "input_tokens",       "cached_input_tokens", "cache_write_tokens",
    "output_tokens",      "reasoning_tokens",   "est_input_tokens",    "reported_requests",
    "estimated_requests", "overshoot_requests", "unsettled_requests",  "error_requests",
    "cost_usd",
};

static int64_t days_from_civil(int64_t y, unsigned m, unsigned d)
{
    y -= m <= 2;
    const int64_t era = (y >= 0 ? y : y - 399) / 400;
    const unsigned yoe = (unsigned)(y - era * 400);
    const unsigned doy = (153 * (m > 2 ? m - 3 : m + 9) + 2) / 5 + d - 1;
    const unsigned doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    return era * 146097 + (int64_t)doe - 719468;
}

static void civil_from_days(int64_t z, int64_t *y, unsigned *m, unsigned *d)
{
    z += 719468;
    const int64_t era = (z >= 0 ? z : z - 146096) / 146097;
    const unsigned doe = (unsigned)(z - era * 146097);
    const unsigned yoe = (doe - doe / 1460 + doe / 36524 - doe / 146096) / 365;
    const unsigned doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    const unsigned mp = (5 * doy + 2) / 153;
    *d = doy - (153 * mp + 2) / 5 + 1;
    *m = mp < 10 ? mp + 3 : mp - 9;
    *y = (int64_t)yoe + era * 400 + (*m <= 2);
}

int tg_report_parse_day(const char *s, int64_t *day)
{
    unsigned y, m, d;
    int len = 0;
    if (!s || strlen(s) != 10 || s[4] != '-' || s[7] != '-')
        return -1;
    for (int i = 0; i < 10; i++)
        if (i != 4 && i != 7 && (s[i] < '0' || s[i] > '9'))
            return -1;
    if (sscanf(s, "%4u-%2u-%2u%n", &y, &m, &d, &len) != 3 || len != 10)
        return -1;
    if (y < 1970 || m < 1 || m > 12 || d < 1)
        return -1;
    static const unsigned mdays[] = {31, 28, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31};
    bool leap = (y % 4 == 0 && y % 100 != 0) || y % 400 == 0;
    if (d > mdays[m - 1] + (m == 2 && leap))
        return -1;
    *day = days_from_civil(y, m, d);
    return 0;
}

void tg_report_day_text(int64_t day, char out[TG_REPORT_DATE_SIZE])
{
    int64_t y;
    unsigned m, d;
    civil_from_days(day, &y, &m, &d);
    if (y < 0 || y > 9999)
        y = 0;
    snprintf(out, TG_REPORT_DATE_SIZE, "%04u-%02u-%02u", (unsigned)y % 10000u, m % 100u,
             d % 100u);
}

int64_t tg_report_day_of(int64_t unix_s)
{
    return (unix_s >= 0 ? unix_s : unix_s - 86399) / 86400;
}

void tg_report_month_of(int64_t day, int64_t *first, int64_t *last)
{
    int64_t y;
    unsigned m, d;
    civil_from_days(day, &y, &m, &d);
    *first = days_from_civil(y, m, 1);
    *last = (m == 12 ? days_from_civil(y + 1, 1, 1) : days_from_civil(y, m + 1, 1)) - 1;
}

int tg_report_range(const char *from, const char *to, int64_t now_s, int64_t *from_day,
                    int64_t *to_day, char *err, size_t errlen)
{
    int64_t last = tg_report_day_of(now_s), first, unused;
    if (to && tg_report_parse_day(to, &last) != 0) {
        snprintf(err, errlen, "--to: not a date YYYY-MM-DD: '%.40s'", to);
        return -1;
    }
    tg_report_month_of(last, &first, &unused);
    if (from && tg_report_parse_day(from, &first) != 0) {
        snprintf(err, errlen, "--from: not a date YYYY-MM-DD: '%.40s'", from);
        return -1;
    }
    if (first > last) {
        snprintf(err, errlen, "--from is after --to");
        return -1;
    }
    *from_day = first, *to_day = last;
    return 0;
}

int tg_report_parse_by(const char *s, tg_report_query *q, char *err, size_t errlen)
{
    char buf[TG_REPORT_BY_MAX + 1];
    q->ngroup = 0;
    if (strlen(s) > TG_REPORT_BY_MAX) {
        snprintf(err, errlen, "--by is too long");
        return -1;
    }
    snprintf(buf, sizeof buf, "%s", s);
    char *save = NULL;
    for (char *t = strtok_r(buf, ",", &save); t; t = strtok_r(NULL, ",", &save)) {
        int f = -1;
        for (int i = 0; i < TG_REPORT_FIELD_COUNT; i++)
            if (strcmp(t, field_names[i]) == 0)
                f = i;
        for (int i = 0; f >= 0 && i < q->ngroup; i++)
            if ((int)q->group[i] == f) {
                snprintf(err, errlen, "--by: '%s' given twice", t);
                return -1;
            }
        if (f < 0) {
            snprintf(err, errlen, "--by: unknown field '%.32s' (day, team, key, model, provider)",
                     t);
            return -1;
        }
        q->group[q->ngroup++] = (tg_report_field)f;
    }
    return 0;
}

int tg_report_parse_format(const char *s, tg_report_format *f)
{
    static const char *const names[] = {"table", "csv", "json"};
    for (int i = 0; i < 3; i++)
        if (strcmp(s, names[i]) == 0) {
            *f = (tg_report_format)i;
            return 0;
        }
    return -1;
}

int tg_report_json_string(tg_buf *out, const char *s)
{
    int rc = tg_buf_puts(out, "\"");
    for (const unsigned char *p = (const unsigned char *)s; rc == TG_BUF_OK && *p; p++) {
        if (*p == '"' || *p == '\\')
            rc = tg_buf_printf(out, "\\%c", *p);
        else if (*p < 0x20)
            rc = tg_buf_printf(out, "\\u%04x", *p);
        else
            rc = tg_buf_append(out, p, 1);
    }
    return rc == TG_BUF_OK ? tg_buf_puts(out, "\"") : rc;
}

/* The cells of one row: grouping fields, then the sums (numbers as text). */
static int row_cells(const tg_report_query *q, const tg_report_row *r, char cells[][CELL_SIZE])
{
    int c = 0;
    for (int i = 0; i < q->ngroup; i++, c++) {
        switch (q->group[i]) {
        case TG_REPORT_DAY: tg_report_day_text(r->day, cells[c]); break;
        case TG_REPORT_TEAM: snprintf(cells[c], CELL_SIZE, "%s", r->team); break;
        case TG_REPORT_KEY: snprintf(cells[c], CELL_SIZE, "%s", r->key_id); break;
        case TG_REPORT_MODEL: snprintf(cells[c], CELL_SIZE, "%s", r->model); break;
        default: snprintf(cells[c], CELL_SIZE, "%s", r->provider); break;
        }
    }
    const int64_t nums[NUM_COLS - 1] = {
        r->requests,          r->input_tokens,       r->cached_input_tokens,
        r->cache_write_tokens, r->output_tokens,     r->reasoning_tokens,
        r->est_input_tokens,  r->reported_requests,  r->estimated_requests,
        r->overshoot_requests, r->unsettled_requests, r->error_requests};
    for (int i = 0; i < NUM_COLS - 1; i++, c++)
        snprintf(cells[c], CELL_SIZE, "%" PRId64, nums[i]);
    tg_money_format(r->cost_nusd, cells[c++], CELL_SIZE);
    return c;
}

/* The header names of the columns of q. */
static int head_cells(const tg_report_query *q, const char *head[COL_MAX])
{
    int c = 0;
    for (int i = 0; i < q->ngroup; i++)
        head[c++] = field_names[q->group[i]];
    for (int i = 0; i < NUM_COLS; i++)
        head[c++] = num_names[i];
    return c;
}

static void add_row(tg_report_row *sum, const tg_report_row *r)
{
    int64_t *a = &sum->requests;
    const int64_t *b = &r->requests;
    /* the int64 sums are contiguous in tg_report_row, from requests to cost_output_nusd */
    size_t count = (size_t)(&sum->cost_output_nusd - &sum->requests) + 1;
    for (size_t i = 0; i < count; i++)
        a[i] += b[i];
}

/* A CSV field: quoted when it holds a comma, quote or line break. */
static int csv_field(tg_buf *out, const char *s)
{
    if (!strpbrk(s, ",\"\r\n"))
        return tg_buf_puts(out, s);
    int rc = tg_buf_puts(out, "\"");
    for (const char *p = s; rc == TG_BUF_OK && *p; p++)
        rc = *p == '"' ? tg_buf_puts(out, "\"\"") : tg_buf_append(out, p, 1);
    return rc == TG_BUF_OK ? tg_buf_puts(out, "\"") : rc;
}

static int render_csv(const tg_report_query *q, const tg_report_row *rows, size_t n, tg_buf *out)
{
    const char *head[COL_MAX];
    char cells[COL_MAX][CELL_SIZE];
    int nc = head_cells(q, head), rc = TG_BUF_OK;
    for (int c = 0; rc == TG_BUF_OK && c < nc; c++)
        rc = tg_buf_printf(out, "%s%s", head[c], c + 1 < nc ? "," : "\r\n");
    for (size_t i = 0; rc == TG_BUF_OK && i < n; i++) {
        row_cells(q, &rows[i], cells);
        for (int c = 0; rc == TG_BUF_OK && c < nc; c++) {
            rc = csv_field(out, cells[c]);
            if (rc == TG_BUF_OK)
                rc = tg_buf_puts(out, c + 1 < nc ? "," : "\r\n");
        }
    }
    return rc;
}

static int render_json(const tg_report_query *q, const tg_report_row *rows, size_t n,
                       tg_buf *out)
{
    const char *head[COL_MAX];
    char cells[COL_MAX][CELL_SIZE];
    int nc = head_cells(q, head), rc = tg_buf_puts(out, "[");
    for (size_t i = 0; rc == TG_BUF_OK && i < n; i++) {
        row_cells(q, &rows[i], cells);
        rc = tg_buf_puts(out, i ? ",\n{" : "\n{");
        for (int c = 0; rc == TG_BUF_OK && c < nc; c++) {
            rc = tg_buf_printf(out, "%s\"%s\":", c ? "," : "", head[c]);
            if (rc == TG_BUF_OK)
                rc = c < q->ngroup ? tg_report_json_string(out, cells[c])
                                   : tg_buf_puts(out, cells[c]);
        }
        if (rc == TG_BUF_OK)
            rc = tg_buf_puts(out, "}");
    }
    return rc == TG_BUF_OK ? tg_buf_puts(out, n ? "\n]\n" : "]\n") : rc;
}

static int render_table(const tg_report_query *q, const tg_report_row *rows, size_t n,
                        tg_buf *out)
{
    const char *head[COL_MAX];
    char cells[COL_MAX][CELL_SIZE];
    size_t width[COL_MAX];
    int nc = head_cells(q, head), rc = TG_BUF_OK;
    tg_report_row total = {0};
    for (int c = 0; c < nc; c++)
        width[c] = strlen(head[c]);
    for (size_t i = 0; i <= n; i++) { /* pass 1: widths; row n is the total */
        if (i < n)
            add_row(&total, &rows[i]);
        row_cells(q, i < n ? &rows[i] : &total, cells);
        for (int c = q->ngroup; c < nc; c++)
            if (strlen(cells[c]) > width[c])
                width[c] = strlen(cells[c]);
        for (int c = 0; i < n && c < q->ngroup; c++)
            if (strlen(cells[c]) > width[c])
                width[c] = strlen(cells[c]);
    }
    if (q->ngroup && width[0] < strlen("TOTAL"))
        width[0] = strlen("TOTAL");
    size_t last = q->ngroup ? n + 1 : n; /* one total row only when there are groups */
    for (size_t i = 0; rc == TG_BUF_OK && i <= last; i++) {
        if (i > 0)
            row_cells(q, i <= n ? &rows[i - 1] : &total, cells);
        if (i == n + 1)
            for (int c = 0; c < q->ngroup; c++)
                snprintf(cells[c], CELL_SIZE, "%s", c == 0 ? "TOTAL" : "");
        for (int c = 0; rc == TG_BUF_OK && c < nc; c++) {
            const char *t = i == 0 ? head[c] : cells[c];
            bool num = c >= q->ngroup;
            if (c == nc - 1)
                rc = tg_buf_printf(out, "%*s\n", (int)width[c], t);
            else
                rc = tg_buf_printf(out, num ? "%*s  " : "%-*s  ", (int)width[c], t);
        }
    }
    return rc;
}

int tg_report_render(const tg_report_query *q, const tg_report_row *rows, size_t n,
                     tg_report_format f, tg_buf *out)
{
    switch (f) {
    case TG_REPORT_CSV: return render_csv(q, rows, n, out);
    case TG_REPORT_JSON: return render_json(q, rows, n, out);
    default: return render_table(q, rows, n, out);
    }
}
