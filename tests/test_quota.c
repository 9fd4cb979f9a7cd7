/* Unit tests of quotas/ (periods, admission, clamping, rate limits, settlement,
 * overshoot, messages, headers), the ledger writer's durability notices, crash recovery
 * (a writer closed without settling, and a child holding the writer killed with
 * SIGKILL), and admission under concurrency. */
#include <check.h>
#include <ftw.h>
#include <poll.h>
#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include <sqlite3.h>

#include "quotas/period.h"
#include "quotas/quota.h"
#include "records/ledger.h"
#include "store/record_codec.h"
#include "store/slot_file.h"
#include "store/store.h"

#define PATH_SIZE 512
#define USD INT64_C(1000000000)
#define SEC INT64_C(1000000)
#define HOUR (3600 * SEC)
#define DAY TG_US_PER_DAY
#define NOTICE_WAIT_MS 10000
#define CONC_THREADS 8
#define CONC_ROUNDS 4000

/* ---------------------------------------------------------------- helpers */

static char tmpdir[PATH_SIZE - 16], dbpath[PATH_SIZE], dburl[PATH_SIZE + 16];

static int rm_entry(const char *path, const struct stat *sb, int flag, struct FTW *ftw)
{
    (void)sb, (void)flag, (void)ftw;
    return remove(path);
}

static void setup(void)
{
    const char *base = getenv("TMPDIR");
    snprintf(tmpdir, sizeof tmpdir, "%s/tg_quota_XXXXXX", base && *base ? base : "/tmp");
    ck_assert_ptr_nonnull(mkdtemp(tmpdir));
    snprintf(dbpath, sizeof dbpath, "%s/t.db", tmpdir);
    snprintf(dburl, sizeof dburl, "sqlite:%s", dbpath);
}

static void teardown(void)
{
    nftw(tmpdir, rm_entry, 16, FTW_DEPTH | FTW_PHYS);
}

/* UTC µs of y-m-d h:mi:s. */
static int64_t at(int y, int m, int d, int h, int mi, int s)
{
    return tg_days_from_civil(y, m, d) * DAY + ((int64_t)h * 3600 + mi * 60 + s) * SEC;
}

static tg_limits usd_limit(int64_t nusd)
{
    tg_limits l = TG_LIMITS_NONE;
    l.budget_nusd = nusd;
    return l;
}

static tg_key mk_key(const char *team, const char *id, tg_period p, tg_limits team_lim,
                     tg_limits key_lim)
{
    tg_key k = {.period = p, .lim = key_lim, .team_lim = team_lim};
    snprintf(k.team, sizeof k.team, "%s", team);
    snprintf(k.id, sizeof k.id, "%s", id);
    return k;
}

static tg_record mk_rec(const char *id, int64_t ts_us)
{
    tg_record r = {.attempt = 1, .ts_us = ts_us, .ttfb_us = -1};
    snprintf(r.id, sizeof r.id, "%s", id);
    snprintf(r.model, sizeof r.model, "gpt-4o-mini");
    return r;
}

static tg_quota_ask mk_ask(const tg_key *k, const tg_record *r, int64_t cost, int64_t tokens)
{
    return (tg_quota_ask){.key = k, .rec = r, .cost_nusd = cost, .tokens = tokens,
                          .out_nusd_per_mtok = -1};
}

static tg_quota *mk_quota(tg_ledger *lg, int32_t offset_s)
{
    tg_quota_config cfg = {.utc_offset_s = offset_s, .ledger = lg};
    tg_quota *q = NULL;
    ck_assert_int_eq(tg_quota_new(&cfg, &q), 0);
    return q;
}

static tg_quota_usage usage(tg_quota *q, const char *team, const char *key, tg_period p,
                            int64_t now)
{
    tg_quota_usage u;
    tg_quota_usage_of(q, team, key, p, now, &u);
    return u;
}

/* Settles with actual cost `cost` and `tokens` tokens (all input). */
static bool settle(tg_quota *q, tg_quota_hold *h, tg_record r, int64_t cost, int64_t tokens)
{
    r.input_tokens = tokens;
    r.cost_nusd = r.cost_input_nusd = cost;
    return tg_quota_settle(q, h, &r);
}

/* ---------------------------------------------------------------- periods */

/* Every day from 1969-12-01 to 2101-01-01: day, ISO week and month labels and starts
 * agree with libc's gmtime/strftime ("%G-W%V") and timegm. */
START_TEST(periods_agree_with_libc)
{
    char want[32], got[TG_PERIOD_LABEL_SIZE];
    for (int64_t day = -31; day < tg_days_from_civil(2101, 1, 1); day++) {
        time_t t = (time_t)(day * 86400 + 43200);
        struct tm tm;
        gmtime_r(&t, &tm);
        int64_t ts = (int64_t)t * SEC;
        const char *fmt[] = {"%Y-%m-%d", "%G-W%V", "%Y-%m"};
        for (int p = 0; p < TG_PERIOD_COUNT; p++) {
            strftime(want, sizeof want, fmt[p], &tm);
            tg_period_label((tg_period)p, tg_period_index((tg_period)p, ts, 0), got, sizeof got);
            ck_assert_msg(!strcmp(want, got), "day %lld period %d: %s vs %s", (long long)day, p,
                          want, got);
        }
        /* starts: the day at 00:00, the week on Monday, the month on the 1st */
        int64_t ws = tg_period_start_us(TG_PERIOD_WEEK, tg_period_index(TG_PERIOD_WEEK, ts, 0), 0);
        time_t wt = (time_t)(ws / SEC);
        struct tm wtm;
        gmtime_r(&wt, &wtm);
        ck_assert_int_eq(wtm.tm_wday, 1);
        ck_assert_int_eq(wtm.tm_hour, 0);
        ck_assert(ws <= ts && ts - ws < 7 * DAY);
        struct tm m1 = {.tm_year = tm.tm_year, .tm_mon = tm.tm_mon, .tm_mday = 1};
        int64_t ms = tg_period_start_us(TG_PERIOD_MONTH, tg_period_index(TG_PERIOD_MONTH, ts, 0), 0);
        ck_assert_int_eq(ms, (int64_t)timegm(&m1) * SEC);
    }
}
END_TEST

START_TEST(period_boundaries)
{
    char l[TG_PERIOD_LABEL_SIZE];
    /* leap day, and the last second of February 2024 */
    int64_t feb29 = at(2024, 2, 29, 23, 59, 59);
    tg_period_label(TG_PERIOD_DAY, tg_period_index(TG_PERIOD_DAY, feb29, 0), l, sizeof l);
    ck_assert_str_eq(l, "2024-02-29");
    tg_period_label(TG_PERIOD_MONTH, tg_period_index(TG_PERIOD_MONTH, feb29, 0), l, sizeof l);
    ck_assert_str_eq(l, "2024-02");
    ck_assert_int_eq(tg_period_index(TG_PERIOD_MONTH, feb29 + SEC, 0),
                     tg_period_index(TG_PERIOD_MONTH, feb29, 0) + 1);
    ck_assert_int_eq(tg_period_start_us(TG_PERIOD_MONTH,
                                        tg_period_index(TG_PERIOD_MONTH, feb29, 0) + 1, 0),
                     at(2024, 3, 1, 0, 0, 0));
    /* 2023 has no Feb 29: Feb 28 is followed by March 1 */
    ck_assert_int_eq(tg_period_index(TG_PERIOD_DAY, at(2023, 3, 1, 0, 0, 0), 0),
                     tg_period_index(TG_PERIOD_DAY, at(2023, 2, 28, 12, 0, 0), 0) + 1);
    /* ISO weeks across years */
    const struct {
        int y, m, d;
        const char *week;
    } weeks[] = {{2026, 11, 24, "2026-W48"}, {2021, 1, 3, "2020-W53"}, {2024, 12, 30, "2025-W01"},
                 {2026, 12, 31, "2026-W53"}, {2027, 1, 1, "2026-W53"}, {2020, 12, 31, "2020-W53"}};
    for (size_t i = 0; i < sizeof weeks / sizeof *weeks; i++) {
        int64_t ts = at(weeks[i].y, weeks[i].m, weeks[i].d, 12, 0, 0);
        tg_period_label(TG_PERIOD_WEEK, tg_period_index(TG_PERIOD_WEEK, ts, 0), l, sizeof l);
        ck_assert_str_eq(l, weeks[i].week);
    }
    /* the week of Tuesday 2026-11-24 starts Monday 2026-11-23 00:00Z, ends 11-30 00:00Z */
    int64_t w = tg_period_index(TG_PERIOD_WEEK, at(2026, 11, 24, 10, 0, 0), 0);
    ck_assert_int_eq(tg_period_start_us(TG_PERIOD_WEEK, w, 0), at(2026, 11, 23, 0, 0, 0));
    ck_assert_int_eq(tg_period_start_us(TG_PERIOD_WEEK, w + 1, 0), at(2026, 11, 30, 0, 0, 0));
    ck_assert_int_eq(tg_period_index(TG_PERIOD_WEEK, at(2026, 11, 29, 23, 59, 59), 0), w);
    ck_assert_int_eq(tg_period_index(TG_PERIOD_WEEK, at(2026, 11, 30, 0, 0, 0), 0), w + 1);
    /* a calendar 2 h east of UTC: 2026-11-30T22:30Z is already December there */
    int64_t late = at(2026, 11, 30, 22, 30, 0);
    tg_period_label(TG_PERIOD_MONTH, tg_period_index(TG_PERIOD_MONTH, late, 7200), l, sizeof l);
    ck_assert_str_eq(l, "2026-12");
    tg_period_label(TG_PERIOD_MONTH, tg_period_index(TG_PERIOD_MONTH, late, 0), l, sizeof l);
    ck_assert_str_eq(l, "2026-11");
    ck_assert_int_eq(tg_period_start_us(TG_PERIOD_MONTH, tg_period_index(TG_PERIOD_MONTH, late, 7200),
                                        7200),
                     at(2026, 11, 30, 22, 0, 0));
    /* and 5 h west: 2026-12-01T03:00Z is still November */
    tg_period_label(TG_PERIOD_MONTH,
                    tg_period_index(TG_PERIOD_MONTH, at(2026, 12, 1, 3, 0, 0), -18000), l, sizeof l);
    ck_assert_str_eq(l, "2026-11");
    char iso[TG_STORE_TIME_LEN + 1];
    tg_period_iso_time(at(2026, 12, 1, 0, 0, 0), iso, sizeof iso);
    ck_assert_str_eq(iso, "2026-12-01T00:00:00Z");
}
END_TEST

/* ---------------------------------------------------------------- admission */

START_TEST(key_and_team_limits_tighter_wins)
{
    tg_quota *q = mk_quota(NULL, 0);
    int64_t now = at(2026, 11, 24, 10, 0, 0);
    tg_key a = mk_key("ml", "key_aaaaaaaaaaaa", TG_PERIOD_MONTH, usd_limit(10 * USD),
                      usd_limit(1 * USD));
    tg_key b = mk_key("ml", "key_bbbbbbbbbbbb", TG_PERIOD_MONTH, usd_limit(10 * USD),
                      TG_LIMITS_NONE);
    tg_record r = mk_rec("r", now);
    tg_quota_hold h;
    tg_quota_result res;
    /* key a: $1 of its own; 0.4 + 0.4 fit, the third 0.4 does not */
    tg_quota_ask ask = mk_ask(&a, &r, 400 * USD / 1000, 100);
    ck_assert_int_eq(tg_quota_reserve(q, &ask, &h, &res), TG_QUOTA_OK);
    ck_assert(!res.wait && res.reserved_nusd == 400 * USD / 1000);
    ck_assert_int_eq(res.remaining_nusd, 600 * USD / 1000); /* the key's, the tighter */
    settle(q, &h, r, 400 * USD / 1000, 100);
    ck_assert_int_eq(tg_quota_reserve(q, &ask, &h, &res), TG_QUOTA_OK);
    tg_quota_hold h2;
    ck_assert_int_eq(tg_quota_reserve(q, &ask, &h2, &res), TG_QUOTA_EXHAUSTED);
    ck_assert(res.why.on_key && res.why.what == TG_QUOTA_USD);
    ck_assert_str_eq(res.why.key_id, "key_aaaaaaaaaaaa");
    ck_assert(res.why.limit == USD && res.why.spent == 400 * USD / 1000);
    ck_assert_int_eq(res.why.held, 400 * USD / 1000);
    ck_assert_int_eq(res.why.reset_us, at(2026, 12, 1, 0, 0, 0));
    tg_quota_release(q, &h, &r);
    /* key b has no own limit: the team's $10 is the wall (0.4 spent by key a) */
    ask = mk_ask(&b, &r, 9 * USD, 100);
    ck_assert_int_eq(tg_quota_reserve(q, &ask, &h, &res), TG_QUOTA_OK);
    ck_assert_int_eq(res.remaining_nusd, 600 * USD / 1000);
    ask.cost_nusd = 601 * USD / 1000;
    ck_assert_int_eq(tg_quota_reserve(q, &ask, &h2, &res), TG_QUOTA_EXHAUSTED);
    ck_assert(!res.why.on_key && res.why.what == TG_QUOTA_USD && res.why.limit == 10 * USD);
    ask.cost_nusd = 600 * USD / 1000; /* exactly what is left fits */
    ck_assert_int_eq(tg_quota_reserve(q, &ask, &h2, &res), TG_QUOTA_OK);
    ck_assert_int_eq(res.remaining_nusd, 0);
    tg_quota_usage u = usage(q, "ml", NULL, TG_PERIOD_MONTH, now);
    ck_assert(u.spent_nusd + u.held_nusd == 10 * USD && u.requests == 3);
    u = usage(q, "ml", "key_aaaaaaaaaaaa", TG_PERIOD_MONTH, now);
    ck_assert(u.spent_nusd == 400 * USD / 1000 && u.held_nusd == 0 && u.requests == 1);

    /* token and request budgets, the key's tighter than the team's */
    tg_limits tl = TG_LIMITS_NONE, kl = TG_LIMITS_NONE;
    tl.budget_tokens = 1000, kl.budget_tokens = 300, kl.budget_requests = 2;
    tg_key c = mk_key("ops", "key_cccccccccccc", TG_PERIOD_DAY, tl, kl);
    ask = mk_ask(&c, &r, 0, 200);
    ck_assert_int_eq(tg_quota_reserve(q, &ask, &h, &res), TG_QUOTA_OK);
    ck_assert_int_eq(tg_quota_reserve(q, &ask, &h2, &res), TG_QUOTA_EXHAUSTED);
    ck_assert(res.why.on_key && res.why.what == TG_QUOTA_TOKENS && res.why.limit == 300);
    ck_assert_int_eq(res.why.reset_us, at(2026, 11, 25, 0, 0, 0)); /* daily */
    ask.tokens = 100;
    ck_assert_int_eq(tg_quota_reserve(q, &ask, &h2, &res), TG_QUOTA_OK);
    ck_assert_int_eq(tg_quota_reserve(q, &ask, &h2, &res), TG_QUOTA_EXHAUSTED);
    ck_assert(res.why.what == TG_QUOTA_REQUESTS && res.why.limit == 2);
    tg_quota_free(q);
}
END_TEST

START_TEST(clamping_and_floor)
{
    tg_quota *q = mk_quota(NULL, 0);
    int64_t now = at(2026, 11, 24, 10, 0, 0);
    tg_key k = mk_key("ml", "", TG_PERIOD_MONTH, usd_limit(10000), TG_LIMITS_NONE);
    tg_record r = mk_rec("r", now);
    tg_quota_hold h;
    tg_quota_result res;
    /* input 1000 nusd (100 tokens); output cap 4096 at 10 nusd/token (1e7 per million):
     * worst case 41960, room 10000: 900 output tokens fit */
    tg_quota_ask ask = mk_ask(&k, &r, 1000 + 40960, 100 + 4096);
    ask.out_tokens = 4096;
    ask.out_nusd_per_mtok = 10 * 1000000;
    ck_assert_int_eq(tg_quota_reserve(q, &ask, &h, &res), TG_QUOTA_CLAMPED);
    ck_assert_int_eq(res.out_tokens, 900);
    ck_assert_int_eq(res.reserved_nusd, 10000);
    ck_assert_int_eq(res.reserved_tokens, 1000);
    tg_quota_release(q, &h, &r);
    /* a token budget clamps too: 100 input + at most 150 output */
    tg_limits tl = usd_limit(10000);
    tl.budget_tokens = 250;
    k = mk_key("ml", "", TG_PERIOD_MONTH, tl, TG_LIMITS_NONE);
    ck_assert_int_eq(tg_quota_reserve(q, &ask, &h, &res), TG_QUOTA_CLAMPED);
    ck_assert_int_eq(res.out_tokens, 150);
    ck_assert_int_eq(res.reserved_nusd, 1000 + 1500);
    /* what is left (7500 nusd, 0 tokens) is below any floor: refused, naming tokens */
    ck_assert_int_eq(tg_quota_reserve(q, &ask, &h, &res), TG_QUOTA_EXHAUSTED);
    ck_assert_int_eq(res.why.what, TG_QUOTA_TOKENS);
    ck_assert_int_eq(res.why.asked, 100 + TG_QUOTA_MIN_OUTPUT_DEFAULT);
    tg_quota_free(q);

    /* the floor: with 500 output tokens of room a floor of 600 refuses, 400 clamps */
    q = mk_quota(NULL, 0);
    k = mk_key("ml", "", TG_PERIOD_MONTH, usd_limit(1000 + 5000), TG_LIMITS_NONE);
    ask.min_out_tokens = 600;
    ck_assert_int_eq(tg_quota_reserve(q, &ask, &h, &res), TG_QUOTA_EXHAUSTED);
    ck_assert(res.why.what == TG_QUOTA_USD && res.why.asked == 1000 + 6000);
    ask.min_out_tokens = 400;
    ck_assert_int_eq(tg_quota_reserve(q, &ask, &h, &res), TG_QUOTA_CLAMPED);
    ck_assert_int_eq(res.out_tokens, 500);
    /* no output price given: no clamping, refused */
    ask.out_nusd_per_mtok = -1;
    ck_assert_int_eq(tg_quota_reserve(q, &ask, &h, &res), TG_QUOTA_EXHAUSTED);
    /* rounding: 3 nusd per 1000 tokens (3000 per million), room 1 nusd: ceil rules */
    tg_quota_free(q);
    q = mk_quota(NULL, 0);
    k = mk_key("ml", "", TG_PERIOD_MONTH, usd_limit(1), TG_LIMITS_NONE);
    ask = mk_ask(&k, &r, 30, 10000);
    ask.out_tokens = 10000, ask.out_nusd_per_mtok = 3000, ask.min_out_tokens = 1;
    ck_assert_int_eq(tg_quota_reserve(q, &ask, &h, &res), TG_QUOTA_CLAMPED);
    ck_assert_int_eq(res.out_tokens, 333); /* ceil(333 * 3000 / 1e6) = 1 */
    ck_assert_int_eq(res.reserved_nusd, 1);
    tg_quota_free(q);
}
END_TEST

START_TEST(unknown_price_refused)
{
    tg_quota *q = mk_quota(NULL, 0);
    tg_key k = mk_key("ml", "", TG_PERIOD_MONTH, TG_LIMITS_NONE, TG_LIMITS_NONE);
    tg_record r = mk_rec("r", at(2026, 11, 24, 10, 0, 0));
    tg_quota_hold h;
    tg_quota_result res;
    tg_quota_ask ask = mk_ask(&k, &r, INT64_MIN, 10);
    ck_assert_int_eq(tg_quota_reserve(q, &ask, &h, &res), TG_QUOTA_NO_PRICE);
    ck_assert(!h.live && res.reserved_nusd == 0);
    char msg[TG_QUOTA_MSG_SIZE];
    tg_quota_no_price_message("acme/mystery-1", msg, sizeof msg);
    ck_assert_str_eq(msg, "Model 'acme/mystery-1' has no known price, so tollgate cannot hold "
                          "its cost against a budget; ask an admin to add its price to the "
                          "catalog.");
    tg_quota_usage u = usage(q, "ml", NULL, TG_PERIOD_MONTH, r.ts_us);
    ck_assert_int_eq(u.requests, 0);
    /* bad asks */
    ask = mk_ask(&k, &r, 1, -1);
    ck_assert_int_eq(tg_quota_reserve(q, &ask, &h, &res), TG_QUOTA_INVALID);
    ask = mk_ask(NULL, &r, 1, 1);
    ck_assert_int_eq(tg_quota_reserve(q, &ask, &h, &res), TG_QUOTA_INVALID);
    tg_quota_stats st;
    tg_quota_get_stats(q, &st);
    ck_assert_uint_eq(st.refused, 1);
    tg_quota_free(q);
}
END_TEST

START_TEST(rate_limits_and_headers)
{
    tg_quota *q = mk_quota(NULL, 0);
    int64_t now = at(2026, 11, 24, 10, 0, 0);
    tg_limits tl = usd_limit(5 * USD), kl = TG_LIMITS_NONE;
    tl.rpm = 3, tl.tpm = 1000;
    kl.tpm = 500;
    tg_key k = mk_key("ml", "key_aaaaaaaaaaaa", TG_PERIOD_MONTH, tl, kl);
    tg_record r = mk_rec("r", now);
    tg_quota_hold h[4];
    tg_quota_result res;
    tg_quota_ask ask = mk_ask(&k, &r, USD, 100);
    for (int i = 0; i < 3; i++) {
        r.ts_us = now + i * 10 * SEC; /* at 0 s, 10 s, 20 s */
        ck_assert_int_eq(tg_quota_reserve(q, &ask, &h[i], &res), TG_QUOTA_OK);
    }
    ck_assert(res.requests.limit == 3 && res.requests.remaining == 0);
    ck_assert_int_eq(res.requests.reset_ms, 40000); /* the first leaves at 60 s */
    ck_assert(res.tokens.limit == 500 && res.tokens.remaining == 200); /* the key's */
    tg_quota_header hd[TG_QUOTA_HEADERS_MAX];
    int n = tg_quota_headers(&res, hd);
    ck_assert_int_eq(n, 7);
    ck_assert_str_eq(hd[0].name, "x-tollgate-budget-remaining-usd");
    ck_assert_str_eq(hd[0].value, "2.00");
    ck_assert_str_eq(hd[1].name, "x-ratelimit-limit-requests");
    ck_assert_str_eq(hd[1].value, "3");
    ck_assert_str_eq(hd[2].name, "x-ratelimit-remaining-requests");
    ck_assert_str_eq(hd[2].value, "0");
    ck_assert_str_eq(hd[3].name, "x-ratelimit-reset-requests");
    ck_assert_str_eq(hd[3].value, "40s");
    ck_assert_str_eq(hd[5].name, "x-ratelimit-remaining-tokens");
    ck_assert_str_eq(hd[5].value, "200");
    /* the fourth in the same minute: rate limited, retry when the first leaves */
    r.ts_us = now + 30 * SEC;
    ck_assert_int_eq(tg_quota_reserve(q, &ask, &h[3], &res), TG_QUOTA_RATE_LIMITED);
    ck_assert(res.why.what == TG_QUOTA_RPM && !res.why.on_key && res.why.limit == 3);
    ck_assert_int_eq(res.why.reset_us, now + 60 * SEC);
    char msg[TG_QUOTA_MSG_SIZE];
    tg_quota_message(&res.why, msg, sizeof msg);
    ck_assert_str_eq(msg, "Team 'ml' is limited to 3 requests per minute; retry after "
                          "2026-11-24T10:01:00Z.");
    /* settling with fewer tokens frees tpm room; release keeps the request in rpm */
    for (int i = 0; i < 3; i++)
        settle(q, &h[i], r, USD / 2, 10);
    r.ts_us = now + 60 * SEC; /* the first left the window: one request of room */
    ask.tokens = 480;
    ck_assert_int_eq(tg_quota_reserve(q, &ask, &h[3], &res), TG_QUOTA_OK);
    ck_assert_int_eq(res.tokens.remaining, 500 - 480 - 20);
    tg_quota_release(q, &h[3], &r);
    ck_assert_int_eq(tg_quota_reserve(q, &ask, &h[3], &res), TG_QUOTA_RATE_LIMITED);
    /* tpm refuses a request bigger than the key's minute */
    r.ts_us = now + 200 * SEC;
    ask.tokens = 501;
    ck_assert_int_eq(tg_quota_reserve(q, &ask, &h[3], &res), TG_QUOTA_RATE_LIMITED);
    ck_assert(res.why.what == TG_QUOTA_TPM && res.why.on_key && res.why.limit == 500);
    ask.tokens = 500;
    ck_assert_int_eq(tg_quota_reserve(q, &ask, &h[3], &res), TG_QUOTA_OK);
    /* no limits: no headers */
    tg_quota_result none = {.remaining_nusd = TG_STORE_UNLIMITED,
                            .requests = {TG_STORE_UNLIMITED, 0, 0},
                            .tokens = {TG_STORE_UNLIMITED, 0, 0}};
    ck_assert_int_eq(tg_quota_headers(&none, hd), 0);
    tg_quota_free(q);
}
END_TEST

/* peek: the header figures as they stand, nothing held, nothing counted. */
START_TEST(peek_reports_without_holding)
{
    tg_quota *q = mk_quota(NULL, 0);
    int64_t now = at(2026, 11, 24, 10, 0, 0);
    tg_limits tl = usd_limit(5 * USD), kl = usd_limit(3 * USD);
    tl.rpm = 4;
    tg_key k = mk_key("ml", "key_aaaaaaaaaaaa", TG_PERIOD_MONTH, tl, kl);
    tg_quota_result res;
    tg_quota_peek(q, &k, now, &res); /* a team never seen: whole */
    ck_assert_int_eq(res.remaining_nusd, 3 * USD);          /* the key's is tighter */
    ck_assert(res.requests.limit == 4 && res.requests.remaining == 4);
    ck_assert_int_eq(res.tokens.limit, TG_STORE_UNLIMITED);
    tg_record r = mk_rec("r", now);
    tg_quota_ask ask = mk_ask(&k, &r, USD, 100);
    tg_quota_hold h;
    ck_assert_int_eq(tg_quota_reserve(q, &ask, &h, &res), TG_QUOTA_OK);
    for (int i = 0; i < 3; i++)
        tg_quota_peek(q, &k, now + SEC, &res);
    ck_assert_int_eq(res.remaining_nusd, 2 * USD);
    ck_assert(res.requests.remaining == 3 && res.requests.reset_ms == 59000);
    tg_quota_usage u = usage(q, "ml", NULL, TG_PERIOD_MONTH, now);
    ck_assert(u.requests == 1 && u.held_nusd == USD); /* peeks count nothing */
    tg_key bad = k;
    bad.team[0] = '\0';
    tg_quota_peek(q, &bad, now, &res); /* no team: no figures */
    ck_assert(res.remaining_nusd == TG_STORE_UNLIMITED &&
              res.requests.limit == TG_STORE_UNLIMITED);
    tg_quota_header hd[TG_QUOTA_HEADERS_MAX];
    ck_assert_int_eq(tg_quota_headers(&res, hd), 0);
    settle(q, &h, r, USD / 2, 10);
    tg_quota_free(q);
}
END_TEST

/* Limits near INT64_MAX: every comparison subtracts instead of adding (UBSan watches). */
START_TEST(huge_limits_do_not_overflow)
{
    tg_quota *q = mk_quota(NULL, 0);
    tg_limits tl = usd_limit(INT64_MAX);
    tl.budget_tokens = INT64_MAX, tl.tpm = INT64_MAX;
    tg_key k = mk_key("big", "", TG_PERIOD_MONTH, tl, TG_LIMITS_NONE);
    tg_record r = mk_rec("r", at(2026, 11, 24, 10, 0, 0));
    tg_quota_hold h1, h2;
    tg_quota_result res;
    tg_quota_ask ask = mk_ask(&k, &r, INT64_MAX - 10, INT64_MAX - 10);
    ck_assert_int_eq(tg_quota_reserve(q, &ask, &h1, &res), TG_QUOTA_OK);
    ask = mk_ask(&k, &r, 100, 5);
    ck_assert_int_eq(tg_quota_reserve(q, &ask, &h2, &res), TG_QUOTA_EXHAUSTED);
    ck_assert(res.why.what == TG_QUOTA_USD && res.why.limit == INT64_MAX);
    ask = mk_ask(&k, &r, 10, 100);
    ck_assert_int_eq(tg_quota_reserve(q, &ask, &h2, &res), TG_QUOTA_EXHAUSTED);
    ck_assert_int_eq(res.why.what, TG_QUOTA_TOKENS);
    ask = mk_ask(&k, &r, 10, 10);
    ck_assert_int_eq(tg_quota_reserve(q, &ask, &h2, &res), TG_QUOTA_OK);
    ck_assert_int_eq(res.remaining_nusd, 0);
    tg_quota_release(q, &h1, &r);
    tg_quota_release(q, &h2, &r);
    tg_quota_free(q);
}
END_TEST

START_TEST(overshoot_recorded)
{
    tg_quota *q = mk_quota(NULL, 0);
    int64_t now = at(2026, 11, 24, 10, 0, 0);
    tg_key k = mk_key("ml", "", TG_PERIOD_MONTH, usd_limit(USD), TG_LIMITS_NONE);
    tg_record r = mk_rec("r", now);
    tg_quota_hold h;
    tg_quota_result res;
    tg_quota_ask ask = mk_ask(&k, &r, 900 * USD / 1000, 100);
    ck_assert_int_eq(tg_quota_reserve(q, &ask, &h, &res), TG_QUOTA_OK);
    tg_record fin = r;
    fin.input_tokens = 90, fin.output_tokens = 20; /* 110 tokens > 100 reserved */
    fin.cost_nusd = 1200 * USD / 1000;
    ck_assert(tg_quota_settle(q, &h, &fin));
    ck_assert(fin.overshoot && fin.state == TG_RECORD_SETTLED);
    ck_assert(fin.reserved_nusd == 900 * USD / 1000 && fin.reserved_tokens == 100);
    ck_assert(!h.live);
    tg_quota_stats st;
    tg_quota_get_stats(q, &st);
    ck_assert_uint_eq(st.overshoots, 1);
    ck_assert_int_eq(st.overshoot_nusd, 300 * USD / 1000);
    /* the spend shows the truth, above the limit; nothing more is admitted */
    tg_quota_usage u = usage(q, "ml", NULL, TG_PERIOD_MONTH, now);
    ck_assert(u.spent_nusd == 1200 * USD / 1000 && u.held_nusd == 0 && u.spent_tokens == 110);
    ask.cost_nusd = 0;
    ck_assert_int_eq(tg_quota_reserve(q, &ask, &h, &res), TG_QUOTA_EXHAUSTED);
    ck_assert_int_eq(res.remaining_nusd, 0);
    /* a settlement within the reservation is no overshoot */
    tg_quota_free(q);
    q = mk_quota(NULL, 0);
    ask.cost_nusd = 100;
    ck_assert_int_eq(tg_quota_reserve(q, &ask, &h, &res), TG_QUOTA_OK);
    ck_assert(!settle(q, &h, r, 100, 100));
    tg_quota_free(q);
}
END_TEST

START_TEST(period_rollover)
{
    tg_quota *q = mk_quota(NULL, 0);
    int64_t t = at(2026, 11, 30, 23, 59, 59); /* last second of November, a Monday */
    tg_key k = mk_key("ml", "", TG_PERIOD_DAY, usd_limit(10 * USD), TG_LIMITS_NONE);
    tg_record r = mk_rec("r", t);
    tg_quota_hold h1, h2;
    tg_quota_result res;
    tg_quota_ask ask = mk_ask(&k, &r, 6 * USD, 10);
    ck_assert_int_eq(tg_quota_reserve(q, &ask, &h1, &res), TG_QUOTA_OK);
    ck_assert_int_eq(tg_quota_reserve(q, &ask, &h2, &res), TG_QUOTA_EXHAUSTED);
    char msg[TG_QUOTA_MSG_SIZE];
    tg_quota_message(&res.why, msg, sizeof msg);
    ck_assert_str_eq(msg, "Team 'ml' has spent $0.000000 of its $10.000000 daily budget "
                          "(reserved $6.000000 in flight); this request needs up to "
                          "$6.000000; it resets at 2026-12-01T00:00:00Z.");
    /* one second later: a new day starts at zero (the request in flight belongs to
     * November 30 and settles there) */
    r.ts_us = t + SEC;
    ck_assert_int_eq(tg_quota_reserve(q, &ask, &h2, &res), TG_QUOTA_OK);
    settle(q, &h1, r, 5 * USD, 10);
    tg_quota_usage u = usage(q, "ml", NULL, TG_PERIOD_DAY, t + SEC);
    ck_assert(u.spent_nusd == 0 && u.held_nusd == 6 * USD && u.requests == 1);
    /* the month and week counters rolled too (December, and the week of Monday 11-30
     * holds both) */
    u = usage(q, "ml", NULL, TG_PERIOD_MONTH, t + SEC);
    ck_assert(u.spent_nusd == 0 && u.held_nusd == 6 * USD);
    u = usage(q, "ml", NULL, TG_PERIOD_WEEK, t + SEC);
    ck_assert(u.spent_nusd == 5 * USD && u.held_nusd == 6 * USD && u.requests == 2);
    /* switching the team to weekly applies at once, with the week's true spend */
    k.period = TG_PERIOD_WEEK;
    ask.cost_nusd = 1 * USD;
    ck_assert_int_eq(tg_quota_reserve(q, &ask, &h1, &res), TG_QUOTA_EXHAUSTED);
    ck_assert(res.why.period == TG_PERIOD_WEEK && res.why.spent == 5 * USD);
    tg_quota_message(&res.why, msg, sizeof msg);
    ck_assert_str_eq(msg, "Team 'ml' has spent $5.000000 of its $10.000000 weekly budget "
                          "(reserved $6.000000 in flight); this request needs up to "
                          "$1.000000; it resets at 2026-12-07T00:00:00Z.");
    tg_quota_release(q, &h2, &r);
    tg_quota_free(q);
}
END_TEST

START_TEST(messages)
{
    char msg[TG_QUOTA_MSG_SIZE];
    tg_quota_why w = {.what = TG_QUOTA_USD, .team = "ml", .period = TG_PERIOD_MONTH,
                      .limit = 10 * USD, .spent = 9998 * USD / 1000, .held = 1500000,
                      .asked = 2000000, .reset_us = at(2026, 12, 1, 0, 0, 0)};
    tg_quota_message(&w, msg, sizeof msg);
    ck_assert_str_eq(msg, "Team 'ml' has spent $9.998000 of its $10.000000 monthly budget "
                          "(reserved $0.001500 in flight); this request needs up to "
                          "$0.002000; it resets at 2026-12-01T00:00:00Z.");
    w.on_key = true;
    snprintf(w.key_id, sizeof w.key_id, "key_0123456789ab");
    w.what = TG_QUOTA_TOKENS, w.limit = 5000, w.spent = 4990, w.held = 5, w.asked = 70;
    w.period = TG_PERIOD_WEEK;
    tg_quota_message(&w, msg, sizeof msg);
    ck_assert_str_eq(msg, "Key 'key_0123456789ab' of team 'ml' has used 4990 of its 5000 "
                          "weekly tokens (reserved 5 in flight); this request needs up to 70; "
                          "it resets at 2026-12-01T00:00:00Z.");
    w.what = TG_QUOTA_REQUESTS, w.on_key = false, w.limit = 100, w.spent = 100;
    w.period = TG_PERIOD_DAY;
    tg_quota_message(&w, msg, sizeof msg);
    ck_assert_str_eq(msg, "Team 'ml' has made 100 of its 100 daily requests; it resets at "
                          "2026-12-01T00:00:00Z.");
    w.what = TG_QUOTA_TPM, w.limit = 1000, w.spent = 990, w.asked = 20;
    tg_quota_message(&w, msg, sizeof msg);
    ck_assert_str_eq(msg, "Team 'ml' is limited to 1000 tokens per minute and has used 990 "
                          "in the last minute; this request needs up to 20; retry after "
                          "2026-12-01T00:00:00Z.");
    /* rounding to micro-dollars, half up, and a small buffer */
    w.what = TG_QUOTA_USD, w.spent = 1499, w.limit = 1500, w.held = 0, w.asked = 500;
    tg_quota_message(&w, msg, sizeof msg);
    ck_assert_ptr_nonnull(strstr(msg, "spent $0.000001 of its $0.000002 daily"));
    char tiny[8];
    ck_assert_int_gt(tg_quota_message(&w, tiny, sizeof tiny), 7);
    ck_assert_uint_eq(strlen(tiny), 7);
}
END_TEST

/* ---------------------------------------------------------------- the ledger */

static tg_ledger *start_ledger(void)
{
    tg_ledger *lg = NULL;
    char err[TG_STORE_ERR_SIZE];
    ck_assert_msg(tg_ledger_start(dburl, &lg, err, sizeof err) == 0, "%s", err);
    return lg;
}

/* Waits (poll on the eventfd) until `cookie` comes back through w; returns its ok. */
static bool wait_notice(tg_ledger_waiter *w, uint64_t cookie)
{
    tg_ledger_done done[16];
    for (int waited = 0; waited < NOTICE_WAIT_MS;) {
        struct pollfd p = {.fd = tg_ledger_waiter_fd(w), .events = POLLIN};
        int rc = poll(&p, 1, 100);
        if (rc == 0) {
            waited += 100;
            continue;
        }
        size_t n = tg_ledger_collect(w, done, 16);
        for (size_t i = 0; i < n; i++)
            if (done[i].cookie == cookie)
                return done[i].ok;
    }
    ck_abort_msg("no notice for cookie %llu", (unsigned long long)cookie);
    return false;
}

static tg_store *open_store(void)
{
    tg_store *st = NULL;
    char err[TG_STORE_ERR_SIZE];
    ck_assert_msg(tg_store_open(dburl, &st, err, sizeof err) == TG_STORE_OK, "%s", err);
    return st;
}

/* The one integer `sql` yields, on its own connection to the ledger. */
static int64_t sql_int(const char *sql)
{
    sqlite3 *db;
    sqlite3_stmt *s;
    ck_assert_int_eq(sqlite3_open(dbpath, &db), SQLITE_OK);
    ck_assert_int_eq(sqlite3_prepare_v2(db, sql, -1, &s, NULL), SQLITE_OK);
    ck_assert_int_eq(sqlite3_step(s), SQLITE_ROW);
    int64_t v = sqlite3_column_int64(s, 0);
    sqlite3_finalize(s);
    sqlite3_close(db);
    return v;
}

/* Whole reservations in the ledger's slot file (PATH-inflight), read from the file as it
 * is on disk (a running ledger may hold it): with `id`, only those of that request; with
 * slot > 0, only in that slot.  Every whole entry must decode. */
static int slot_entries(const char *id, int64_t slot)
{
    char path[PATH_SIZE + 16];
    snprintf(path, sizeof path, "%s-inflight", dbpath);
    FILE *f = fopen(path, "rb");
    ck_assert_ptr_nonnull(f);
    static uint8_t buf[TG_SLOTS_SIZE];
    int n = 0;
    ck_assert_uint_eq(fread(buf, 1, sizeof buf, f), sizeof buf); /* the header */
    for (int64_t i = 1; fread(buf, 1, sizeof buf, f) == sizeof buf; i++) {
        const uint8_t *payload;
        size_t len = tg_slots_parse(buf, i, &payload);
        tg_record r;
        if (!len)
            continue;
        ck_assert_int_eq(tg_record_unpack(payload, len, &r), 0);
        n += (!id || strcmp(r.id, id) == 0) && (slot == 0 || slot == i);
    }
    fclose(f);
    return n;
}

/* A reservation is durable when submit returns (the ledger's slot file); the settlement
 * replaces it.  Rows waited for otherwise come back as notices, in order, each once. */
START_TEST(ledger_notices_and_rows)
{
    tg_ledger *lg = start_ledger();
    tg_ledger_waiter *w;
    ck_assert_int_eq(tg_ledger_waiter_new(&w), 0);
    tg_quota *q = mk_quota(lg, 0);
    tg_store *st = open_store();
    int64_t now = at(2026, 11, 24, 10, 0, 0);
    tg_key k = mk_key("ml", "key_aaaaaaaaaaaa", TG_PERIOD_MONTH, usd_limit(USD), TG_LIMITS_NONE);
    tg_record r = mk_rec("req_1", now), got;
    snprintf(r.rule, sizeof r.rule, "cheapest");
    tg_quota_hold h;
    tg_quota_result res;
    tg_quota_ask ask = mk_ask(&k, &r, 5000, 300);
    ask.waiter = w, ask.cookie = 77;
    ck_assert_int_eq(tg_quota_reserve(q, &ask, &h, &res), TG_QUOTA_OK);
    ck_assert(!res.wait); /* durable already: no notice to wait for */
    ck_assert_int_eq(slot_entries("req_1", 0), 1);
    /* in flight: in the reservations file, which the running ledger holds */
    ck_assert_int_eq(tg_ledger_record_get(lg, "req_1", 1, &got), TG_STORE_OK);
    ck_assert(got.state == TG_RECORD_RESERVED && got.reserved_nusd == 5000);
    ck_assert_str_eq(got.team, "ml");
    ck_assert_str_eq(got.key_id, "key_aaaaaaaaaaaa");
    ck_assert_str_eq(got.rule, "cheapest");
    r.input_tokens = 100, r.output_tokens = 50, r.status = 200;
    r.cost_nusd = 1700, r.cost_input_nusd = 200, r.cost_cached_nusd = 0;
    r.cost_output_nusd = 1500;
    ck_assert(!tg_quota_settle(q, &h, &r));
    tg_ledger_sync(lg);
    ck_assert_int_eq(tg_store_record_get(st, "req_1", 1, &got), TG_STORE_OK);
    ck_assert(got.state == TG_RECORD_SETTLED && got.cost_nusd == 1700 && !got.overshoot);
    ck_assert(got.cost_output_nusd == 1500 && got.reserved_nusd == 5000 && got.status == 200);
    /* many notices at once, in order, each exactly once */
    enum { MANY = 300 };
    for (int i = 0; i < MANY; i++) {
        char id[32];
        snprintf(id, sizeof id, "req_m%d", i);
        r = mk_rec(id, now);
        tg_ledger_submit(lg, &r, w, (uint64_t)i);
    }
    int seen = 0;
    tg_ledger_done done[64];
    while (seen < MANY) {
        struct pollfd p = {.fd = tg_ledger_waiter_fd(w), .events = POLLIN};
        ck_assert_int_eq(poll(&p, 1, NOTICE_WAIT_MS), 1);
        size_t n = tg_ledger_collect(w, done, 64);
        for (size_t i = 0; i < n; i++, seen++)
            ck_assert(done[i].cookie == (uint64_t)seen && done[i].ok);
    }
    tg_store_close(st);
    tg_quota_free(q);
    tg_ledger_stop(lg);
    ck_assert_int_eq(sql_int("SELECT count(*) FROM requests WHERE state = 'recorded'"), MANY);
    ck_assert_int_eq(sql_int("SELECT count(*) FROM requests"), MANY + 1);
    struct pollfd p = {.fd = tg_ledger_waiter_fd(w), .events = POLLIN};
    ck_assert_int_eq(poll(&p, 1, 0), 0); /* nothing left over */
    tg_ledger_waiter_free(w);
}
END_TEST

/* A waiter marked inline gets its row committed on the submitting thread, with the rows
 * queued before it: submit answers true (durable) and no notice comes for it.  A failed
 * inline write answers false with the notice ok = false already there, and leaves the
 * rows to the writer, which retries them. */
START_TEST(ledger_inline_commit)
{
    tg_ledger *lg = start_ledger();
    tg_ledger_waiter *w;
    ck_assert_int_eq(tg_ledger_waiter_new(&w), 0);
    tg_ledger_waiter_inline(w, true);
    int64_t now = at(2026, 11, 24, 10, 0, 0);
    tg_record r = mk_rec("req_inline", now);
    /* nothing queued: the writer is not writing */
    ck_assert(tg_ledger_submit(lg, &r, w, 5));
    struct pollfd p = {.fd = tg_ledger_waiter_fd(w), .events = POLLIN};
    ck_assert_int_eq(poll(&p, 1, 0), 0); /* no notice: the answer said it */
    tg_ledger_done done[4];
    ck_assert_uint_eq(tg_ledger_collect(w, done, 4), 0);
    ck_assert_int_eq(sql_int("SELECT count(*) FROM requests"), 1); /* durable, no sync */
    /* a plain row (no waiter, no reservation: the lazy queue) does not ride along: the
     * inline commit writes the urgent rows only; the writer takes the plain one at its
     * tick, or at a sync */
    r = mk_rec("req_plain", now);
    tg_ledger_submit(lg, &r, NULL, 0);
    r = mk_rec("req_inline2", now);
    if (!tg_ledger_submit(lg, &r, w, 8)) /* the writer was busy with the plain row */
        ck_assert(wait_notice(w, 8));
    ck_assert_int_eq(sql_int("SELECT count(*) FROM requests WHERE id = 'req_inline2'"), 1);
    tg_ledger_sync(lg);
    ck_assert_int_eq(sql_int("SELECT count(*) FROM requests"), 3);
    /* the store refuses (another connection holds the write lock past the busy timeout) */
    sqlite3 *db;
    ck_assert_int_eq(sqlite3_open(dbpath, &db), SQLITE_OK);
    ck_assert_int_eq(sqlite3_exec(db, "BEGIN EXCLUSIVE", NULL, NULL, NULL), SQLITE_OK);
    /* ... but not a reservation: it goes to the reservations file, which the ledger holds
     * alone, so another process's lock on the ledger never delays it */
    tg_record rv = mk_rec("req_resv", now);
    rv.state = TG_RECORD_RESERVED;
    ck_assert(tg_ledger_submit(lg, &rv, w, 9));
    ck_assert_int_eq(poll(&p, 1, 0), 0);
    r = mk_rec("req_failed", now);
    ck_assert(!tg_ledger_submit(lg, &r, w, 6));
    ck_assert_uint_eq(tg_ledger_collect(w, done, 4), 1);
    ck_assert(done[0].cookie == 6 && !done[0].ok);
    ck_assert_int_eq(sqlite3_exec(db, "ROLLBACK", NULL, NULL, NULL), SQLITE_OK);
    sqlite3_close(db);
    tg_ledger_sync(lg); /* the writer retries the row: it is written, never dropped */
    ck_assert_int_eq(sql_int("SELECT count(*) FROM requests WHERE id = 'req_failed'"), 1);
    ck_assert_int_eq(poll(&p, 1, 0), 0); /* its notice came once */
    /* not inline: the writer commits and notifies as before */
    tg_ledger_waiter_inline(w, false);
    r = mk_rec("req_queued", now);
    ck_assert(!tg_ledger_submit(lg, &r, w, 7));
    ck_assert(wait_notice(w, 7));
    tg_ledger_stop(lg);
    ck_assert_int_eq(sql_int("SELECT count(*) FROM requests"), 5);
    tg_ledger_waiter_free(w);
}
END_TEST

/* A running ledger holds its reservations file: a second one on the same ledger (another
 * serve) is refused with a message that says so, and recovery too; once the first stops,
 * recovery moves what it left in flight and a new ledger starts. */
START_TEST(ledger_holds_its_reservations_file)
{
    tg_ledger *lg = start_ledger(), *second = NULL;
    tg_record r = mk_rec("req_held", at(2026, 11, 24, 10, 0, 0));
    r.state = TG_RECORD_RESERVED;
    r.reserved_nusd = 700;
    tg_ledger_submit(lg, &r, NULL, 0);
    tg_ledger_sync(lg);
    char err[TG_STORE_ERR_SIZE];
    ck_assert_int_eq(tg_ledger_start(dburl, &second, err, sizeof err), -1);
    ck_assert_ptr_null(second);
    ck_assert_msg(strstr(err, "reservations file") && strstr(err, "held by another"), "%s",
                  err);
    tg_store *st = open_store();
    int64_t n = -1;
    ck_assert_int_eq(tg_store_ledger_recover(st, &n), TG_STORE_ERROR);
    ck_assert_ptr_nonnull(strstr(tg_store_errmsg(st), "held by another"));
    tg_ledger_stop(lg);
    ck_assert_int_eq(tg_store_ledger_recover(st, &n), TG_STORE_OK);
    ck_assert_int_eq(n, 1);
    tg_record got;
    ck_assert_int_eq(tg_store_record_get(st, "req_held", 1, &got), TG_STORE_OK);
    ck_assert(got.state == TG_RECORD_UNSETTLED && got.reconcile && got.reserved_nusd == 700);
    tg_store_close(st);
    ck_assert_int_eq(slot_entries(NULL, 0), 0);
    lg = start_ledger();
    tg_ledger_stop(lg);
}
END_TEST

/* Counts done[0..n) into seen[cookie - first] (cookies first..first+2), each committed. */
static void count_notices(const tg_ledger_done *done, size_t n, uint64_t first, int seen[3])
{
    for (size_t i = 0; i < n; i++) {
        ck_assert(done[i].ok && done[i].cookie >= first && done[i].cookie < first + 3);
        seen[done[i].cookie - first]++;
    }
}

/* A deferred waiter's urgent rows (rows waited for; reservations on a store without a slot
 * file, such as PostgreSQL's) wait for the loop's kick, which commits them on the calling
 * thread and hands back the loop's own notices without a signal on its fd; left unkicked,
 * the writer still takes them at its tick. */
START_TEST(ledger_kick_commits_the_round)
{
    tg_ledger *lg = start_ledger();
    tg_ledger_waiter *w;
    ck_assert_int_eq(tg_ledger_waiter_new(&w), 0);
    tg_ledger_waiter_defer(w, true);
    int64_t now = at(2026, 11, 24, 10, 0, 0);
    tg_ledger_done done[8];
    ck_assert_uint_eq(tg_ledger_kick(lg, w, done, 8), 0); /* nothing queued */
    tg_record r[3];
    for (int i = 0; i < 3; i++) {
        char id[16];
        snprintf(id, sizeof id, "req_k%d", i);
        r[i] = mk_rec(id, now + i);
        ck_assert(!tg_ledger_submit(lg, &r[i], w, (uint64_t)(10 + i)));
    }
    /* Each notice comes exactly once: from the kick for the rows it committed, through
     * the fd for any the writer's tick took first (a loaded machine can be that slow). */
    int seen[3] = {0};
    size_t n = tg_ledger_kick(lg, w, done, 8);
    ck_assert_uint_le(n, 3);
    count_notices(done, n, 10, seen);
    struct pollfd p = {.fd = tg_ledger_waiter_fd(w), .events = POLLIN};
    while (n < 3) {
        ck_assert_int_eq(poll(&p, 1, 10000), 1);
        size_t k = tg_ledger_collect(w, done, 8);
        count_notices(done, k, 10, seen);
        n += k;
    }
    ck_assert(seen[0] == 1 && seen[1] == 1 && seen[2] == 1);
    /* nothing more: a signal left on the fd (the writer's, before the kick took its
     * notice with ours) finds an empty list */
    if (poll(&p, 1, 0) == 1)
        ck_assert_uint_eq(tg_ledger_collect(w, done, 8), 0);
    tg_record got;
    for (int i = 0; i < 3; i++) {
        ck_assert_int_eq(tg_ledger_record_get(lg, r[i].id, 1, &got), TG_STORE_OK);
        ck_assert(got.state == TG_RECORD_RECORDED);
    }
    /* not kicked: the writer still writes it at its tick */
    tg_record late = mk_rec("req_late", now);
    ck_assert(!tg_ledger_submit(lg, &late, w, 20));
    ck_assert(wait_notice(w, 20));
    ck_assert_int_eq(tg_ledger_record_get(lg, "req_late", 1, &got), TG_STORE_OK);
    tg_ledger_stop(lg);
    ck_assert_int_eq(sql_int("SELECT count(*) FROM requests"), 4);
    tg_ledger_waiter_free(w);
}
END_TEST

/* Reservations (urgent) and settlements (lazy) go through two queues; a settlement
 * submitted before its reservation's notice came, from two threads at once, never
 * reaches the disk first: after a sync no reservation is left and every row is settled. */
typedef struct {
    tg_ledger *lg;
    tg_ledger_waiter *w;
    int thread;
} order_arg;

#define ORDER_ROWS 3000

static void *order_thread(void *p)
{
    order_arg *a = p;
    int64_t now = at(2026, 11, 24, 10, 0, 0);
    for (int i = 0; i < ORDER_ROWS; i++) {
        char id[32];
        snprintf(id, sizeof id, "req_o%d_%d", a->thread, i);
        tg_record r = mk_rec(id, now + i);
        r.state = TG_RECORD_RESERVED;
        r.reserved_nusd = 100;
        tg_ledger_waiter_inline(a->w, i % 3 == 0); /* some inline, most by the writer */
        tg_ledger_submit(a->lg, &r, a->w, (uint64_t)i);
        r.state = i % 2 ? TG_RECORD_SETTLED : TG_RECORD_RELEASED;
        r.cost_nusd = i % 2 ? 60 : 0;
        tg_ledger_submit(a->lg, &r, NULL, 0); /* at once: before the notice */
        tg_ledger_done d[64];
        while (tg_ledger_collect(a->w, d, 64) > 0)
            ;
    }
    return NULL;
}

START_TEST(ledger_settlement_never_overtakes_reservation)
{
    tg_ledger *lg = start_ledger();
    order_arg args[2];
    pthread_t th[2];
    for (int t = 0; t < 2; t++) {
        args[t] = (order_arg){lg, NULL, t};
        ck_assert_int_eq(tg_ledger_waiter_new(&args[t].w), 0);
        ck_assert_int_eq(pthread_create(&th[t], NULL, order_thread, &args[t]), 0);
    }
    for (int t = 0; t < 2; t++)
        pthread_join(th[t], NULL);
    tg_ledger_sync(lg);
    ck_assert_int_eq(sql_int("SELECT count(*) FROM requests"), 2 * ORDER_ROWS);
    /* every settlement is written, so every slot is free again: the next reservation takes
     * the lowest one, over the settled row it held */
    tg_record next = mk_rec("req_next", at(2026, 11, 24, 11, 0, 0));
    next.state = TG_RECORD_RESERVED;
    tg_ledger_submit(lg, &next, NULL, 0);
    ck_assert_int_eq(next.slot, 1);
    tg_ledger_sync(lg);
    ck_assert_int_eq(sql_int("SELECT count(*) FROM requests WHERE state = 'settled'"),
                     ORDER_ROWS);
    ck_assert_int_eq(sql_int("SELECT sum(cost_nusd) FROM rollup_team_daily"),
                     ORDER_ROWS * 60);
    tg_ledger_stop(lg);
    /* the only reservation in flight is the last one, in slot 1: recovery moves it alone */
    ck_assert_int_eq(slot_entries("req_next", 1), 1);
    tg_store *st = open_store();
    int64_t n = 0;
    ck_assert_int_eq(tg_store_ledger_recover(st, &n), TG_STORE_OK);
    ck_assert_int_eq(n, 1);
    tg_record got;
    ck_assert_int_eq(tg_store_record_get(st, "req_next", 1, &got), TG_STORE_OK);
    ck_assert(got.state == TG_RECORD_UNSETTLED && got.reconcile);
    tg_store_close(st);
    for (int t = 0; t < 2; t++)
        tg_ledger_waiter_free(args[t].w);
}
END_TEST

/* The usage of every (team, key) in the current periods, recomputed in SQL straight from
 * the ledger rows, equals the rebuilt counters. */
static void check_counters_match_ledger(tg_quota *q, const char *team, const char *key,
                                        tg_period p, int64_t now)
{
    int64_t index = tg_period_index(p, now, 0);
    int64_t from = tg_period_start_us(p, index, 0), to = tg_period_start_us(p, index + 1, 0);
    char sql[1024], filter[256];
    snprintf(filter, sizeof filter, "team = '%s'%s%s%s AND ts_us >= %lld AND ts_us < %lld", team,
             key ? " AND key_id = '" : "", key ? key : "", key ? "'" : "", (long long)from,
             (long long)to);
    tg_quota_usage u = usage(q, team, key, p, now);
    snprintf(sql, sizeof sql,
             "SELECT coalesce(sum(CASE state WHEN 'settled' THEN cost_nusd WHEN 'recorded' THEN "
             "cost_nusd WHEN 'released' THEN 0 ELSE reserved_nusd END), 0) FROM requests WHERE %s",
             filter);
    ck_assert_int_eq(u.spent_nusd + u.held_nusd, sql_int(sql));
    snprintf(sql, sizeof sql,
             "SELECT coalesce(sum(CASE state WHEN 'settled' THEN input_tokens + output_tokens "
             "WHEN 'released' THEN 0 ELSE reserved_tokens END), 0) FROM requests WHERE %s", filter);
    ck_assert_int_eq(u.spent_tokens + u.held_tokens, sql_int(sql));
    snprintf(sql, sizeof sql, "SELECT count(*) FROM requests WHERE state <> 'released' AND %s",
             filter);
    ck_assert_int_eq(u.requests, sql_int(sql));
}

/* "Crash" by closing the writer without settling: reopen, unsettled rows are charged at
 * their reservation and flagged, and the counters equal the ledger. */
START_TEST(recovery_after_close_without_settling)
{
    int64_t now = at(2026, 11, 24, 10, 0, 0);
    tg_key k = mk_key("ml", "key_aaaaaaaaaaaa", TG_PERIOD_MONTH, usd_limit(10 * USD),
                      TG_LIMITS_NONE);
    tg_ledger *lg = start_ledger();
    tg_quota *q = mk_quota(lg, 0);
    tg_quota_hold h[5];
    tg_quota_result res;
    for (int i = 0; i < 5; i++) {
        char id[32];
        snprintf(id, sizeof id, "req_%d", i);
        tg_record r = mk_rec(id, now - i * DAY); /* today, and 1..4 days ago */
        tg_quota_ask ask = mk_ask(&k, &r, (i + 1) * USD / 10, 100 * (i + 1));
        ck_assert_int_eq(tg_quota_reserve(q, &ask, &h[i], &res), TG_QUOTA_OK);
        if (i == 1)
            settle(q, &h[i], r, USD / 100, 42);
        if (i == 2)
            tg_quota_release(q, &h[i], &r);
    }
    tg_ledger_stop(lg); /* 0, 3 and 4 never settle */
    tg_quota_free(q);

    q = mk_quota(NULL, 0);
    tg_store *st = open_store();
    int64_t n = -1;
    ck_assert_int_eq(tg_quota_recover(q, st, now, &n), TG_STORE_OK);
    ck_assert_int_eq(n, 3);
    tg_record got;
    ck_assert_int_eq(tg_store_record_get(st, "req_3", 1, &got), TG_STORE_OK);
    ck_assert(got.state == TG_RECORD_UNSETTLED && got.reconcile && got.reserved_nusd == 4 * USD / 10);
    ck_assert_int_eq(tg_store_record_get(st, "req_1", 1, &got), TG_STORE_OK);
    ck_assert(got.state == TG_RECORD_SETTLED && !got.reconcile);
    /* this month: 0.1 (unsettled) + 0.01 (settled) + 0.4 + 0.5 (unsettled) */
    tg_quota_usage u = usage(q, "ml", NULL, TG_PERIOD_MONTH, now);
    ck_assert_int_eq(u.spent_nusd, USD / 10 + USD / 100 + 4 * USD / 10 + 5 * USD / 10);
    ck_assert_int_eq(u.held_nusd, 0);
    ck_assert_int_eq(u.requests, 4);
    for (int p = 0; p < TG_PERIOD_COUNT; p++) {
        check_counters_match_ledger(q, "ml", NULL, (tg_period)p, now);
        check_counters_match_ledger(q, "ml", "key_aaaaaaaaaaaa", (tg_period)p, now);
    }
    /* the week of Monday 11-23: today (0.1) and yesterday (0.01) only */
    u = usage(q, "ml", NULL, TG_PERIOD_WEEK, now);
    ck_assert_int_eq(u.spent_nusd, USD / 10 + USD / 100);
    /* recovery is idempotent */
    ck_assert_int_eq(tg_quota_recover(q, st, now, &n), TG_STORE_OK);
    ck_assert_int_eq(n, 0);
    tg_store_close(st);
    tg_quota_free(q);
}
END_TEST

#define CHILD_DURABLE 40  /* reservations the child makes durable */
#define CHILD_SETTLED 15  /* of which it settles (and syncs) before saying so */

/* The child: holds the writer, reserves, settles some, tells the parent, then waits to be
 * killed with reservations in flight (and more being written). */
static void child_main(int wfd)
{
    tg_ledger *lg;
    tg_ledger_waiter *w;
    tg_quota *q;
    char err[TG_STORE_ERR_SIZE];
    tg_quota_config cfg = {0};
    if (tg_ledger_start(dburl, &lg, err, sizeof err) != 0 || tg_ledger_waiter_new(&w) != 0)
        _exit(2);
    cfg.ledger = lg;
    if (tg_quota_new(&cfg, &q) != 0)
        _exit(2);
    int64_t now = at(2026, 11, 24, 10, 0, 0);
    tg_key k = mk_key("ml", "key_aaaaaaaaaaaa", TG_PERIOD_DAY, usd_limit(100 * USD),
                      TG_LIMITS_NONE);
    static tg_quota_hold h[CHILD_DURABLE];
    int waiting = 0; /* reservations whose notice is to come (none with a slot file) */
    for (int i = 0; i < CHILD_DURABLE; i++) {
        char id[32];
        snprintf(id, sizeof id, "req_%d", i);
        tg_record r = mk_rec(id, now + i * SEC);
        tg_quota_ask ask = mk_ask(&k, &r, 1000 + i, 10 + i);
        ask.waiter = w, ask.cookie = (uint64_t)i;
        tg_quota_result res;
        if (tg_quota_reserve(q, &ask, &h[i], &res) != TG_QUOTA_OK)
            _exit(3);
        waiting += res.wait;
    }
    for (int got = 0; got < waiting;) {
        struct pollfd p = {.fd = tg_ledger_waiter_fd(w), .events = POLLIN};
        poll(&p, 1, 1000);
        tg_ledger_done done[CHILD_DURABLE];
        got += (int)tg_ledger_collect(w, done, CHILD_DURABLE);
    }
    for (int i = 0; i < CHILD_SETTLED; i++) {
        tg_record r = mk_rec("x", now + i * SEC);
        snprintf(r.id, sizeof r.id, "req_%d", i);
        r.input_tokens = 5, r.cost_nusd = 500 + i;
        tg_quota_settle(q, &h[i], &r);
    }
    tg_ledger_sync(lg);
    if (write(wfd, "k", 1) != 1)
        _exit(4);
    for (int i = 0;; i++) { /* keep the writer busy until the SIGKILL */
        tg_record r = mk_rec("busy", now);
        snprintf(r.id, sizeof r.id, "busy_%d", i);
        tg_ledger_submit(lg, &r, NULL, 0);
        if (i % 1000 == 999)
            usleep(1000);
    }
}

START_TEST(recovery_after_kill_9)
{
    int fds[2];
    ck_assert_int_eq(pipe(fds), 0);
    pid_t pid = fork();
    ck_assert_int_ge(pid, 0);
    if (pid == 0) {
        close(fds[0]);
        child_main(fds[1]);
    }
    close(fds[1]);
    char c;
    ck_assert_int_eq(read(fds[0], &c, 1), 1);
    close(fds[0]);
    usleep(20000); /* let it write some more */
    ck_assert_int_eq(kill(pid, SIGKILL), 0);
    int status;
    ck_assert_int_eq(waitpid(pid, &status, 0), pid);
    ck_assert(WIFSIGNALED(status) && WTERMSIG(status) == SIGKILL);

    int64_t now = at(2026, 11, 24, 12, 0, 0);
    tg_quota *q = mk_quota(NULL, 0);
    tg_store *st = open_store();
    int64_t n = -1;
    ck_assert_int_eq(tg_quota_recover(q, st, now, &n), TG_STORE_OK);
    ck_assert_int_eq(n, CHILD_DURABLE - CHILD_SETTLED);
    ck_assert_int_eq(sql_int("SELECT count(*) FROM requests WHERE id LIKE 'req_%' AND "
                             "state = 'unsettled' AND reconcile = 1"),
                     CHILD_DURABLE - CHILD_SETTLED);
    ck_assert_int_eq(sql_int("SELECT count(*) FROM requests WHERE state = 'settled'"),
                     CHILD_SETTLED);
    int64_t want = 0;
    for (int i = 0; i < CHILD_DURABLE; i++)
        want += i < CHILD_SETTLED ? 500 + i : 1000 + i;
    tg_quota_usage u = usage(q, "ml", "key_aaaaaaaaaaaa", TG_PERIOD_DAY, now);
    ck_assert_int_eq(u.spent_nusd, want);
    for (int p = 0; p < TG_PERIOD_COUNT; p++) {
        check_counters_match_ledger(q, "ml", NULL, (tg_period)p, now);
        check_counters_match_ledger(q, "ml", "key_aaaaaaaaaaaa", (tg_period)p, now);
    }
    tg_store_close(st);
    tg_quota_free(q);
}
END_TEST

/* ---------------------------------------------------------------- concurrency */

typedef struct {
    tg_quota *q;
    const tg_key *key;
    int64_t now, limit;
    int64_t actual_sum;  /* what this thread settled */
    int admitted;
    bool broke;          /* saw settled + reserved above the limit */
} conc_arg;

static void *conc_main(void *p)
{
    conc_arg *a = p;
    unsigned seed = (unsigned)(uintptr_t)a;
    for (int i = 0; i < CONC_ROUNDS; i++) {
        tg_record r = mk_rec("c", a->now);
        int64_t cost = 1000 + rand_r(&seed) % 9000;
        tg_quota_ask ask = mk_ask(a->key, &r, cost, 10);
        tg_quota_hold h;
        tg_quota_result res;
        if (tg_quota_reserve(a->q, &ask, &h, &res) != TG_QUOTA_OK)
            continue;
        a->admitted++;
        tg_quota_usage u;
        tg_quota_usage_of(a->q, "ml", NULL, TG_PERIOD_MONTH, a->now, &u);
        if (u.spent_nusd + u.held_nusd > a->limit)
            a->broke = true;
        if (rand_r(&seed) % 4 == 0) {
            tg_quota_release(a->q, &h, &r);
            continue;
        }
        int64_t actual = cost - rand_r(&seed) % (cost + 1); /* 0 .. cost */
        settle(a->q, &h, r, actual, 5);
        a->actual_sum += actual;
    }
    return NULL;
}

/* Eight threads against a budget that fits a few requests at a time: settled + reserved
 * never passes the limit, and the settled total is the sum of the actual costs. */
START_TEST(concurrent_admission_is_exact)
{
    tg_quota *q = mk_quota(NULL, 0);
    const int64_t limit = 40000000; /* a few thousand requests of 1000..10000 in total */
    tg_key k = mk_key("ml", "", TG_PERIOD_MONTH, usd_limit(limit), TG_LIMITS_NONE);
    pthread_t th[CONC_THREADS];
    conc_arg args[CONC_THREADS];
    int64_t now = at(2026, 11, 24, 10, 0, 0);
    for (int i = 0; i < CONC_THREADS; i++) {
        args[i] = (conc_arg){.q = q, .key = &k, .now = now, .limit = limit};
        ck_assert_int_eq(pthread_create(&th[i], NULL, conc_main, &args[i]), 0);
    }
    int64_t total = 0;
    int admitted = 0;
    for (int i = 0; i < CONC_THREADS; i++) {
        pthread_join(th[i], NULL);
        ck_assert(!args[i].broke);
        total += args[i].actual_sum;
        admitted += args[i].admitted;
    }
    tg_quota_usage u = usage(q, "ml", NULL, TG_PERIOD_MONTH, now);
    ck_assert_int_eq(u.held_nusd, 0);
    ck_assert_int_eq(u.spent_nusd, total);
    ck_assert(u.spent_nusd <= limit);
    ck_assert_int_gt(admitted, 0);
    ck_assert_int_lt(admitted, CONC_THREADS * CONC_ROUNDS); /* the wall was reached */
    tg_quota_free(q);
}
END_TEST

/* The in-flight form: every thread holds up to two reservations at once against a budget
 * that fits only five; at every admission the sum stays under the limit. */
typedef struct {
    tg_quota *q;
    const tg_key *key;
    int64_t now;
    int peak_violations;
} hold_arg;

static void *hold_main(void *p)
{
    hold_arg *a = p;
    for (int i = 0; i < CONC_ROUNDS; i++) {
        tg_record r = mk_rec("h", a->now);
        tg_quota_ask ask = mk_ask(a->key, &r, 1000, 1);
        tg_quota_hold h1, h2;
        tg_quota_result res;
        bool ok1 = tg_quota_reserve(a->q, &ask, &h1, &res) == TG_QUOTA_OK;
        bool ok2 = tg_quota_reserve(a->q, &ask, &h2, &res) == TG_QUOTA_OK;
        tg_quota_usage u;
        tg_quota_usage_of(a->q, "tiny", NULL, TG_PERIOD_DAY, a->now, &u);
        if (u.held_nusd > 5000 || u.spent_nusd != 0)
            a->peak_violations++;
        if (ok1)
            tg_quota_release(a->q, &h1, &r);
        if (ok2)
            tg_quota_release(a->q, &h2, &r);
    }
    return NULL;
}

START_TEST(concurrent_holds_never_pass_the_wall)
{
    tg_quota *q = mk_quota(NULL, 0);
    tg_key k = mk_key("tiny", "", TG_PERIOD_DAY, usd_limit(5000), TG_LIMITS_NONE);
    pthread_t th[CONC_THREADS];
    hold_arg args[CONC_THREADS];
    int64_t now = at(2026, 11, 24, 10, 0, 0);
    for (int i = 0; i < CONC_THREADS; i++) {
        args[i] = (hold_arg){.q = q, .key = &k, .now = now};
        ck_assert_int_eq(pthread_create(&th[i], NULL, hold_main, &args[i]), 0);
    }
    for (int i = 0; i < CONC_THREADS; i++) {
        pthread_join(th[i], NULL);
        ck_assert_int_eq(args[i].peak_violations, 0);
    }
    tg_quota_usage u = usage(q, "tiny", NULL, TG_PERIOD_DAY, now);
    ck_assert(u.held_nusd == 0 && u.requests == 0);
    tg_quota_free(q);
}
END_TEST

static Suite *quota_suite(void)
{
    Suite *s = suite_create("quota");
    TCase *mem = tcase_create("memory");
    tcase_add_test(mem, periods_agree_with_libc);
    tcase_add_test(mem, period_boundaries);
    tcase_add_test(mem, key_and_team_limits_tighter_wins);
    tcase_add_test(mem, clamping_and_floor);
    tcase_add_test(mem, unknown_price_refused);
    tcase_add_test(mem, rate_limits_and_headers);
    tcase_add_test(mem, peek_reports_without_holding);
    tcase_add_test(mem, huge_limits_do_not_overflow);
    tcase_add_test(mem, overshoot_recorded);
    tcase_add_test(mem, period_rollover);
    tcase_add_test(mem, messages);
    tcase_add_test(mem, concurrent_admission_is_exact);
    tcase_add_test(mem, concurrent_holds_never_pass_the_wall);
    suite_add_tcase(s, mem);
    TCase *db = tcase_create("ledger");
    tcase_add_checked_fixture(db, setup, teardown);
    tcase_add_test(db, ledger_notices_and_rows);
    tcase_add_test(db, ledger_inline_commit);
    tcase_add_test(db, ledger_settlement_never_overtakes_reservation);
    tcase_add_test(db, ledger_kick_commits_the_round);
    tcase_add_test(db, ledger_holds_its_reservations_file);
    tcase_add_test(db, recovery_after_close_without_settling);
    tcase_add_test(db, recovery_after_kill_9);
    suite_add_tcase(s, db);
    return s;
}

int main(void)
{
    SRunner *sr = srunner_create(quota_suite());
    srunner_run_all(sr, CK_NORMAL);
    int failed = srunner_ntests_failed(sr);
    srunner_free(sr);
    return failed == 0 ? EXIT_SUCCESS : EXIT_FAILURE;
}
