/* Calendar periods as integers (see period.h).
 *
 * Civil dates <-> day numbers use Howard Hinnant's days_from_civil / civil_from_days
 * (eras of 400 years, March-based years so that the leap day ends the year): exact for
 * every date in the int64 range we meet, with no tables and no time zone database.
 * ISO weeks: day 0 (1970-01-01) is a Thursday, so weeks counted from Monday 1969-12-29
 * are floor((day + 3) / 7).  A week belongs to the ISO year of its Thursday, and its
 * number is 1 + (days from the Thursday of week 1 of that year) / 7. */
#include "quotas/period.h"

#include <assert.h>
#include <inttypes.h>
#include <stdio.h>

#define THURSDAY_SHIFT 3 /* 1970-01-01 is day 3 of its ISO week (Monday = 0) */

static int64_t floor_div(int64_t a, int64_t b)
{
    int64_t q = a / b;
    return (a % b != 0 && (a < 0) != (b < 0)) ? q - 1 : q;
}

int64_t tg_days_from_civil(int64_t y, int m, int d)
{
    y -= m <= 2;
    int64_t era = floor_div(y, 400);
    int64_t yoe = y - era * 400;                                  /* [0, 399] */
    int64_t doy = (153 * (m > 2 ? m - 3 : m + 9) + 2) / 5 + d - 1; /* [0, 365] */
    int64_t doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;          /* [0, 146096] */
    return era * 146097 + doe - 719468;
}

void tg_civil_from_days(int64_t days, int64_t *y, int *m, int *d)
{
    days += 719468;
    int64_t era = floor_div(days, 146097);
    int64_t doe = days - era * 146097;
    int64_t yoe = (doe - doe / 1460 + doe / 36524 - doe / 146096) / 365;
    int64_t doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    int64_t mp = (5 * doy + 2) / 153;
    *d = (int)(doy - (153 * mp + 2) / 5 + 1);
    *m = (int)(mp < 10 ? mp + 3 : mp - 9);
    *y = yoe + era * 400 + (*m <= 2);
}

/* The local day number of ts_us on the calendar offset_s east of UTC. */
static int64_t local_day(int64_t ts_us, int32_t offset_s)
{
    assert(offset_s >= -TG_PERIOD_OFFSET_MAX_S && offset_s <= TG_PERIOD_OFFSET_MAX_S);
    return floor_div(ts_us + (int64_t)offset_s * TG_US_PER_S, TG_US_PER_DAY);
}

int64_t tg_period_index(tg_period p, int64_t ts_us, int32_t offset_s)
{
    int64_t day = local_day(ts_us, offset_s), y;
    int m, d;
    switch (p) {
    case TG_PERIOD_DAY:
        return day;
    case TG_PERIOD_WEEK:
        return floor_div(day + THURSDAY_SHIFT, 7);
    case TG_PERIOD_MONTH:
        tg_civil_from_days(day, &y, &m, &d);
        return y * 12 + m - 1;
    }
    assert(!"unknown period");
    return day;
}

/* The local day on which period `index` begins. */
static int64_t first_day(tg_period p, int64_t index)
{
    switch (p) {
    case TG_PERIOD_DAY:
        return index;
    case TG_PERIOD_WEEK:
        return index * 7 - THURSDAY_SHIFT;
    case TG_PERIOD_MONTH:
        return tg_days_from_civil(floor_div(index, 12), (int)(index - floor_div(index, 12) * 12) + 1, 1);
    }
    assert(!"unknown period");
    return index;
}

int64_t tg_period_start_us(tg_period p, int64_t index, int32_t offset_s)
{
    return first_day(p, index) * TG_US_PER_DAY - (int64_t)offset_s * TG_US_PER_S;
}

int tg_period_label(tg_period p, int64_t index, char *buf, size_t n)
{
    int64_t y;
    int m, d;
    if (p == TG_PERIOD_MONTH)
        return snprintf(buf, n, "%04" PRId64 "-%02d", floor_div(index, 12),
                         (int)(index - floor_div(index, 12) * 12) + 1);
    if (p == TG_PERIOD_DAY) {
        tg_civil_from_days(index, &y, &m, &d);
        return snprintf(buf, n, "%04" PRId64 "-%02d-%02d", y, m, d);
    }
    int64_t thursday = first_day(TG_PERIOD_WEEK, index) + 3;
    tg_civil_from_days(thursday, &y, &m, &d);
    int64_t jan1 = tg_days_from_civil(y, 1, 1);
    return snprintf(buf, n, "%04" PRId64 "-W%02d", y, (int)((thursday - jan1) / 7 + 1));
}

void tg_period_iso_time(int64_t ts_us, char *buf, size_t n)
{
    int64_t day = floor_div(ts_us, TG_US_PER_DAY), y;
    int64_t s = floor_div(ts_us, TG_US_PER_S) - day * 86400;
    int m, d;
    tg_civil_from_days(day, &y, &m, &d);
    snprintf(buf, n, "%04" PRId64 "-%02d-%02dT%02d:%02d:%02dZ", y, m, d, (int)(s / 3600),
             (int)(s / 60 % 60), (int)(s % 60));
}
