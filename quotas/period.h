/* tg_period_*: calendar periods (day, week, month) as integers, for budgets.
 *
 * A period is named by an index on a calendar that is `offset_s` seconds east of UTC
 * (0: UTC, the default; a fixed offset, no daylight-saving rules):
 *   day    days since 1970-01-01                          label "2026-11-24"
 *   week   ISO weeks (Monday to Sunday) since 1969-12-29  label "2026-W48" (ISO year)
 *   month  year * 12 + month - 1                           label "2026-11"
 * Counters carry the index of the period they hold; when "now" has a larger index the
 * counter starts over at zero: a period reset is one integer comparison, no sweep.
 * Everything is integer arithmetic on the proleptic Gregorian calendar (leap years
 * included); times are int64 microseconds since the Unix epoch, UTC. */
#ifndef TG_PERIOD_H
#define TG_PERIOD_H
#include <stddef.h>
#include <stdint.h>

#include "store/store.h"

#define TG_PERIOD_OFFSET_MAX_S (18 * 3600) /* ISO 8601 offsets stop at +-18:00 */
#define TG_PERIOD_LABEL_SIZE 16            /* "2026-W48" / "2026-11-24" + NUL, with room */
#define TG_PERIOD_COUNT 3                  /* day, week, month */
#define TG_US_PER_S INT64_C(1000000)
#define TG_US_PER_DAY INT64_C(86400000000)

/* The index of the period of kind `p` that contains `ts_us`, on the calendar `offset_s`
 * east of UTC (|offset_s| <= TG_PERIOD_OFFSET_MAX_S).  Monotonic in ts_us. */
int64_t tg_period_index(tg_period p, int64_t ts_us, int32_t offset_s);

/* The UTC time (µs) at which period `index` of kind `p` begins on that calendar.  The
 * period ends where index + 1 begins: tg_period_start_us(p, index + 1, offset_s). */
int64_t tg_period_start_us(tg_period p, int64_t index, int32_t offset_s);

/* Writes the period's label ("2026-11-24", "2026-W48", "2026-11") into buf (size n,
 * NUL-terminated when n > 0).  Returns the label's length as snprintf does. */
int tg_period_label(tg_period p, int64_t index, char *buf, size_t n);

/* Days since 1970-01-01 of the civil date y-m-d (m 1..12, d 1..31), and back. */
int64_t tg_days_from_civil(int64_t y, int m, int d);
void tg_civil_from_days(int64_t days, int64_t *y, int *m, int *d);

/* "YYYY-MM-DDTHH:MM:SSZ" for `ts_us` (UTC) into buf (size n >= TG_STORE_TIME_LEN + 1). */
void tg_period_iso_time(int64_t ts_us, char *buf, size_t n);

#endif
