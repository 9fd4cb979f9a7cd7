/* tg_report: spend reports over the daily rollups (store.h tg_store_report), as a table,
 * CSV or JSON — the one renderer behind `tollgate report` and the admin API's GET /report.
 *
 * Columns: the grouping fields in the order asked (day as YYYY-MM-DD, team, key, model,
 * provider), then requests, input_tokens, cached_input_tokens, cache_write_tokens,
 * output_tokens, reasoning_tokens, est_input_tokens, reported_requests,
 * estimated_requests, overshoot_requests, unsettled_requests, error_requests, cost_usd.
 * Money is printed fixed-point from int64 nano-dollars (quotas/money.h: "12.50",
 * "0.000000375"): exact, never a float.  JSON is an array of objects with those names,
 * cost_usd a JSON number with the exact decimal digits.  The table ends with a TOTAL row
 * (CSV and JSON do not: their consumers sum). */
#ifndef TG_REPORT_H
#define TG_REPORT_H
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "common/buf.h"
#include "store/store.h"

#define TG_REPORT_DATE_SIZE 11 /* "YYYY-MM-DD" and the NUL */
#define TG_REPORT_BY_MAX 128   /* longest --by value accepted */

typedef enum { TG_REPORT_TABLE, TG_REPORT_CSV, TG_REPORT_JSON } tg_report_format;

/* Parses a UTC date "YYYY-MM-DD" (a real calendar day, year 1970-9999) into days since
 * 1970-01-01.  Returns 0, or -1 (nothing written). */
int tg_report_parse_day(const char *s, int64_t *day);

/* Writes day `day` as "YYYY-MM-DD" into out. */
void tg_report_day_text(int64_t day, char out[TG_REPORT_DATE_SIZE]);

/* The UTC day of `unix_s` (seconds since the epoch). */
int64_t tg_report_day_of(int64_t unix_s);

/* Days of the UTC calendar month that holds `day`: its first and last. */
void tg_report_month_of(int64_t day, int64_t *first, int64_t *last);

/* The day range of --from D / --to D (either NULL: absent), both inclusive.  Defaults: from
 * the first day of the month of `to`; to today (the UTC day of `now_s`).  Returns 0, or -1
 * with one plain line in err ("--from: not a date YYYY-MM-DD: 'x'"). */
int tg_report_range(const char *from, const char *to, int64_t now_s, int64_t *from_day,
                    int64_t *to_day, char *err, size_t errlen);

/* Parses a comma-separated list of grouping fields ("team,model,key,day,provider"; empty
 * for one total row) into q->group / q->ngroup.  Returns 0, or -1 with one plain line in
 * err naming the bad field. */
int tg_report_parse_by(const char *s, tg_report_query *q, char *err, size_t errlen);

/* "table", "csv" or "json".  Returns 0, or -1. */
int tg_report_parse_format(const char *s, tg_report_format *f);

/* Appends the report of rows[0..n) (grouped as q says) to `out` in format f.  Returns
 * TG_BUF_OK, or the tg_buf error (out over its limit, or out of memory). */
int tg_report_render(const tg_report_query *q, const tg_report_row *rows, size_t n,
                     tg_report_format f, tg_buf *out);

/* Appends `s` to `out` as a JSON string (quoted, escaped).  Returns a tg_buf status. */
int tg_report_json_string(tg_buf *out, const char *s);

#endif
