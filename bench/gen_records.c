/* gen_records: fills a store with synthetic request records that the proxy could have
 * written, through the store's own insert (so the daily rollups are kept by the same
 * transaction as in production).  For the report/export tests and bench/report.sh.
 *
 * usage: gen_records STORE_URL COUNT [--from YYYY-MM-DD] [--days N] [--teams N]
 *                    [--keys N] [--seed N]
 * Records spread evenly over [from, from + days) UTC, in time order as the proxy writes
 * them (each in its own slot of the span, at a random point in it); teams "team00".., keys per team
 * "key_TTKKK..."; ten chat models of the built-in catalog, priced with it
 * (tg_focus_price_record).  Mix: 2% unsettled (charged at a reservation), 3% released
 * (502, nothing billed), 5% recorded with estimated usage, the rest settled with
 * vendor-reported usage; 10% of the settled ones are first written as a reservation and
 * then settled (the upsert path); cached reads, cache writes (Anthropic) and reasoning
 * tokens (o4-mini, gpt-5-mini) on a share of them.  Deterministic for a seed.  Prints the
 * number of records written and the seconds it took. */
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "policies/catalog.h"
#include "records/focus.h"
#include "records/report.h"
#include "store/store.h"

#define BATCH 4096
#define DAY_US INT64_C(86400000000)

static const char *const models[] = {
    "gpt-4o-mini", "gpt-5-mini", "gpt-4.1", "o4-mini", "claude-haiku-4-5",
    "claude-sonnet-4-6", "claude-haiku-5-5", "gemini-2.5-flash", "deepseek-v4-flash",
    "gpt-5.5"};
#define NMODELS ((int)(sizeof models / sizeof *models))

static uint64_t rng_state;

static uint64_t rnd(void) /* splitmix64 */
{
    uint64_t z = (rng_state += 0x9e3779b97f4a7c15u);
    z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9u;
    z = (z ^ (z >> 27)) * 0x94d049bb133111ebu;
    return z ^ (z >> 31);
}

static int64_t between(int64_t lo, int64_t hi)
{
    return lo + (int64_t)(rnd() % (uint64_t)(hi - lo + 1));
}

static const char *provider_of(const tg_catalog *cat, const char *model)
{
    const tg_cat_model *m = tg_catalog_find(cat, model);
    return m ? m->provider : "openai";
}

/* One settled, reported record of model mi at ts. */
static void make_usage(const tg_catalog *cat, tg_record *r, int mi, uint64_t seq,
                       int64_t ts, int team, int key)
{
    memset(r, 0, sizeof *r);
    snprintf(r->id, sizeof r->id, "req_%016" PRIx64, seq);
    r->attempt = 1;
    r->ts_us = ts;
    snprintf(r->team, sizeof r->team, "team%02d", team);
    snprintf(r->key_id, sizeof r->key_id, "key_%02d%010d", team, key);
    snprintf(r->model, sizeof r->model, "%s", models[mi]);
    snprintf(r->requested_model, sizeof r->requested_model, "%s",
             rnd() % 4 ? models[mi] : "auto");
    snprintf(r->provider, sizeof r->provider, "%.63s", provider_of(cat, models[mi]));
    snprintf(r->endpoint, sizeof r->endpoint, "chat_completions");
    snprintf(r->rule, sizeof r->rule, "%s", rnd() % 2 ? "default" : "cheap-first");
    snprintf(r->policy_version, sizeof r->policy_version, "p1");
    r->input_tokens = rnd() % 50 ? between(50, 6000) : between(90000, 300000); /* tiers */
    r->est_input_tokens = r->input_tokens * between(900, 1150) / 1000;
    r->output_tokens = between(10, 1500);
    if (rnd() % 10 < 3)
        r->cached_input_tokens = r->input_tokens * between(10, 90) / 100;
    if (!strcmp(r->provider, "anthropic") && rnd() % 10 == 0)
        r->cache_write_tokens = (r->input_tokens - r->cached_input_tokens) / 2;
    if (!strcmp(models[mi], "o4-mini") || !strcmp(models[mi], "gpt-5-mini"))
        r->reasoning_tokens = r->output_tokens / 2;
    r->status = r->upstream_status = 200;
    r->latency_us = between(200000, 9000000);
    r->ttfb_us = r->latency_us / 4;
    r->streamed = rnd() % 2;
    r->state = TG_RECORD_SETTLED;
}

/* Adds record seq (and maybe its reservation first) to batch; returns rows added. */
static int gen_one(const tg_catalog *cat, tg_record *batch, uint64_t seq, int64_t ts,
                   int teams, int keys)
{
    int team = (int)(rnd() % (uint64_t)teams), key = (int)(rnd() % (uint64_t)keys);
    int mi = (int)(rnd() % NMODELS), p = (int)(rnd() % 100);
    tg_record *r = &batch[0];
    make_usage(cat, r, mi, seq, ts, team, key);
    if (tg_focus_price_record(cat, r) != 0)
        return 0; /* not priced yet at that time */
    r->reserved_nusd = r->cost_nusd * 2 + 1000;
    r->reserved_tokens = r->input_tokens + 4096;
    if (p < 2) { /* unsettled: charged at the reservation, usage unknown */
        r->state = TG_RECORD_UNSETTLED;
        r->reconcile = true;
        r->input_tokens = r->cached_input_tokens = r->cache_write_tokens = 0;
        r->output_tokens = r->reasoning_tokens = 0;
        r->cost_nusd = r->cost_input_nusd = r->cost_cached_nusd = 0;
        r->cost_cache_write_nusd = r->cost_output_nusd = 0;
        return 1;
    }
    if (p < 5) { /* released: the upstream failed before answering */
        r->state = TG_RECORD_RELEASED;
        r->status = r->upstream_status = 502;
        r->input_tokens = r->cached_input_tokens = r->cache_write_tokens = 0;
        r->output_tokens = r->reasoning_tokens = 0;
        r->cost_nusd = r->cost_input_nusd = r->cost_cached_nusd = 0;
        r->cost_cache_write_nusd = r->cost_output_nusd = 0;
        return 1;
    }
    if (p < 10) { /* recorded with estimated usage (the vendor reported none) */
        r->state = TG_RECORD_RECORDED;
        r->usage_estimated = true;
        r->input_tokens = r->est_input_tokens;
        r->cached_input_tokens = r->cache_write_tokens = r->reasoning_tokens = 0;
        r->price_version[0] = '\0';
        tg_focus_price_record(cat, r);
        return 1;
    }
    r->overshoot = p == 99;
    if (p >= 90) { /* reservation first, then the settlement (an upsert) */
        batch[1] = *r;
        tg_record *res = &batch[0];
        res->state = TG_RECORD_RESERVED;
        res->input_tokens = res->cached_input_tokens = res->cache_write_tokens = 0;
        res->output_tokens = res->reasoning_tokens = 0;
        res->cost_nusd = res->cost_input_nusd = res->cost_cached_nusd = 0;
        res->cost_cache_write_nusd = res->cost_output_nusd = 0;
        return 2;
    }
    return 1;
}

static const char *opt(int argc, char **argv, const char *name, const char *def)
{
    for (int i = 3; i + 1 < argc; i++)
        if (!strcmp(argv[i], name))
            return argv[i + 1];
    return def;
}

int main(int argc, char **argv)
{
    if (argc < 3) {
        fprintf(stderr, "usage: gen_records STORE_URL COUNT [--from YYYY-MM-DD] [--days N] "
                        "[--teams N] [--keys N] [--seed N]\n");
        return 2;
    }
    long long count = atoll(argv[2]);
    int days = atoi(opt(argc, argv, "--days", "30"));
    int teams = atoi(opt(argc, argv, "--teams", "8"));
    int keys = atoi(opt(argc, argv, "--keys", "12"));
    rng_state = (uint64_t)atoll(opt(argc, argv, "--seed", "1"));
    int64_t from_day;
    if (count < 0 || days < 1 || teams < 1 || teams > 99 || keys < 1 ||
        tg_report_parse_day(opt(argc, argv, "--from", "2026-11-01"), &from_day) != 0) {
        fprintf(stderr, "gen_records: bad arguments\n");
        return 2;
    }
    tg_cat_problem probs[4];
    tg_catalog *cat = tg_catalog_load(NULL, 0, probs, 4, NULL);
    tg_store *st;
    char err[256];
    if (!cat || tg_store_open(argv[1], &st, err, sizeof err) != TG_STORE_OK) {
        fprintf(stderr, "gen_records: %s\n", cat ? err : "catalog");
        return 1;
    }
    static tg_record batch[BATCH + 2];
    struct timespec t0, t1;
    clock_gettime(CLOCK_MONOTONIC, &t0);
    long long done = 0;
    uint64_t seq = rng_state << 32;
    while (done < count) {
        size_t n = 0;
        while (n < BATCH && done < count) {
            /* in time order, as the proxy writes them: record i in its slot of the span */
            int64_t slot = (int64_t)days * DAY_US / (count ? count : 1);
            int64_t ts = from_day * DAY_US + slot * done + (int64_t)(rnd() % (uint64_t)(slot + 1));
            int k = gen_one(cat, &batch[n], seq++, ts, teams, keys);
            n += (size_t)k;
            done += k > 0;
        }
        if (tg_store_records_insert(st, batch, n) != TG_STORE_OK) {
            fprintf(stderr, "gen_records: %s\n", tg_store_errmsg(st));
            return 1;
        }
    }
    clock_gettime(CLOCK_MONOTONIC, &t1);
    printf("%lld records in %.2f s\n", done,
           (double)(t1.tv_sec - t0.tv_sec) + (double)(t1.tv_nsec - t0.tv_nsec) / 1e9);
    tg_store_close(st);
    tg_catalog_free(cat);
    return 0;
}
