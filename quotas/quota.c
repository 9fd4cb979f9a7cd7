/* Budgets and rate limits in memory (see quota.h).
 *
 * Layout: TG_QUOTA_SHARDS shards, each a mutex and a chained hash table of entries.  An
 * entry is a team (by name) or a key (by id); a key lives in its team's shard, so one
 * lock covers everything one request touches.  Entries are never freed while the module
 * lives, so holds can point at them.
 *
 * An entry has a counter per period kind (day, week, month), each tagged with the index
 * of the period it counts (period.h); a reservation is added to all three, and only the
 * one of the team's current period is compared with the limits.  A counter whose index
 * is behind the request's starts over at zero.  Settlement and release touch a counter
 * only if it still holds the period the reservation was counted in: a request that
 * straddles midnight is charged to the day it started, as the ledger (grouped by ts_us)
 * says on recovery.
 *
 * The rolling minute: 60 one-second buckets of requests and tokens with running sums;
 * moving to a later second empties the buckets that left the window.  Tokens are
 * counted at the reservation (worst case) and corrected to the actual count at
 * settlement while their second is still in the window.
 *
 * Admission computes the room left (the minimum over every applicable limit of the key
 * and its team), grants the worst case when it fits, else the largest output cap that
 * fits when that is at least the floor, else finds the first limit that refuses even
 * the smallest request (period budgets before rates: waiting does not help those) for
 * the message.  All inside the shard lock: a few comparisons and additions. */
#include "quotas/quota.h"

#include <assert.h>
#include <errno.h>
#include <inttypes.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "common/buf.h"
#include "quotas/money.h"

#define BUCKETS_INITIAL 16       /* hash buckets per shard at first (power of two) */
#define CACHE_LINE 64
#define TOKENS_PER_MTOK INT64_C(1000000)
#define NONE_YET INT64_MIN       /* a counter that has counted no period yet */
#define USD6_SIZE 32             /* "$9223372036.854776" + NUL */

typedef struct {
    int64_t index; /* the period counted, NONE_YET before the first */
    int64_t spent_nusd, held_nusd, spent_tokens, held_tokens, requests;
} counter;

typedef struct {
    int64_t last_sec; /* the latest second seen */
    int64_t req, tok; /* sums over the buckets */
    int64_t b_req[TG_QUOTA_WINDOW_S], b_tok[TG_QUOTA_WINDOW_S];
} window;

typedef struct shard shard;

typedef struct entry {
    struct entry *next; /* hash chain */
    shard *sh;
    bool is_key;
    char name[TG_TEAM_NAME_MAX + 1]; /* team name or key id */
    tg_limits lim;
    tg_period period; /* the team's */
    counter c[TG_PERIOD_COUNT];
    window win;
} entry;

struct shard {
    _Alignas(CACHE_LINE) pthread_mutex_t mu;
    entry **buckets;
    size_t nbuckets, n;
};

struct tg_quota {
    tg_quota_config cfg;
    shard shards[TG_QUOTA_SHARDS];
    atomic_uint_least64_t admitted, clamped, refused, settled, released, overshoots;
    atomic_int_least64_t overshoot_nusd;
};

/* ---------------------------------------------------------------- entries */

static uint64_t hash_name(const char *s, bool is_key)
{
    uint64_t h = UINT64_C(1469598103934665603) ^ (uint64_t)is_key;
    for (; *s; s++)
        h = (h ^ (unsigned char)*s) * UINT64_C(1099511628211);
    return h;
}

static shard *shard_of(tg_quota *q, const char *team)
{
    return &q->shards[hash_name(team, false) % TG_QUOTA_SHARDS];
}

static entry **slot_of(shard *sh, const char *name, bool is_key)
{
    return &sh->buckets[hash_name(name, is_key) & (sh->nbuckets - 1)];
}

static entry *find(shard *sh, const char *name, bool is_key)
{
    for (entry *e = *slot_of(sh, name, is_key); e; e = e->next)
        if (e->is_key == is_key && strcmp(e->name, name) == 0)
            return e;
    return NULL;
}

/* Doubles the table when it is as full as it has buckets (lock held).  On out of
 * memory it stays as it is: longer chains, still correct. */
static void grow(shard *sh)
{
    if (sh->n < sh->nbuckets)
        return;
    size_t nb = sh->nbuckets * 2;
    entry **nbk = calloc(nb, sizeof *nbk);
    if (!nbk)
        return;
    for (size_t i = 0; i < sh->nbuckets; i++)
        for (entry *e = sh->buckets[i], *next; e; e = next) {
            next = e->next;
            entry **s = &nbk[hash_name(e->name, e->is_key) & (nb - 1)];
            e->next = *s;
            *s = e;
        }
    free(sh->buckets);
    sh->buckets = nbk;
    sh->nbuckets = nb;
}

/* The entry (name, is_key) of shard `sh`, made when new (lock held).  NULL: no memory. */
static entry *find_or_add(shard *sh, const char *name, bool is_key)
{
    entry *e = find(sh, name, is_key);
    if (e)
        return e;
    if (!(e = calloc(1, sizeof *e)))
        return NULL;
    e->sh = sh;
    e->is_key = is_key;
    snprintf(e->name, sizeof e->name, "%s", name);
    e->lim = TG_LIMITS_NONE;
    e->period = TG_PERIOD_DEFAULT;
    for (int k = 0; k < TG_PERIOD_COUNT; k++)
        e->c[k].index = NONE_YET;
    grow(sh);
    entry **s = slot_of(sh, name, is_key);
    e->next = *s;
    *s = e;
    sh->n++;
    return e;
}

/* ---------------------------------------------------------------- counters, windows */

/* Moves counter k of `e` to period `index` (a later period starts at zero). */
static void roll(entry *e, int k, int64_t index)
{
    counter *c = &e->c[k];
    if (c->index == NONE_YET || c->index < index)
        *c = (counter){.index = index};
}

/* Moves the window to second `sec`, emptying the buckets that left it. */
static void win_advance(window *w, int64_t sec)
{
    if (sec <= w->last_sec)
        return;
    if (sec - w->last_sec >= TG_QUOTA_WINDOW_S) {
        memset(w, 0, sizeof *w);
    } else {
        for (int64_t s = w->last_sec + 1; s <= sec; s++) {
            int i = (int)(s % TG_QUOTA_WINDOW_S);
            w->req -= w->b_req[i], w->tok -= w->b_tok[i];
            w->b_req[i] = w->b_tok[i] = 0;
        }
    }
    w->last_sec = sec;
}

/* Whether second `sec` is still in the window (its bucket holds it). */
static bool win_holds(const window *w, int64_t sec)
{
    return sec <= w->last_sec && sec > w->last_sec - TG_QUOTA_WINDOW_S;
}

static void win_add_tokens(window *w, int64_t sec, int64_t delta)
{
    if (!win_holds(w, sec))
        return;
    int i = (int)(sec % TG_QUOTA_WINDOW_S);
    w->b_tok[i] += delta;
    w->tok += delta;
}

/* Milliseconds from now_us until the oldest request (tokens: token use) in the window
 * leaves it; 0 when the window is empty.  Walks the ring from the oldest second without
 * a division per step: with steady traffic the first bucket is the answer. */
static int64_t win_reset_ms(const window *w, int64_t now_us, bool tokens)
{
    const int64_t *b = tokens ? w->b_tok : w->b_req;
    if ((tokens ? w->tok : w->req) <= 0)
        return 0;
    int i = (int)((w->last_sec + 1) % TG_QUOTA_WINDOW_S); /* last_sec - 59's bucket */
    for (int j = 0; j < TG_QUOTA_WINDOW_S; j++, i = i + 1 == TG_QUOTA_WINDOW_S ? 0 : i + 1) {
        if (b[i] <= 0)
            continue;
        int64_t leaves = (w->last_sec - TG_QUOTA_WINDOW_S + 1 + j + TG_QUOTA_WINDOW_S) * TG_US_PER_S;
        return leaves > now_us ? (leaves - now_us) / 1000 : 0;
    }
    return 0;
}

/* ceil(tokens * nusd_per_mtok / 1e6), exact. */
static int64_t cost_up(int64_t tokens, int64_t nusd_per_mtok)
{
    __int128 x = (__int128)tokens * nusd_per_mtok;
    return (int64_t)((x + TOKENS_PER_MTOK - 1) / TOKENS_PER_MTOK);
}

/* Copies at most size - 1 bytes of src and terminates (key ids fit: they are checked
 * by the store). */
static void copy_name(char *dst, size_t size, const char *src)
{
    size_t n = strnlen(src, size - 1);
    memcpy(dst, src, n);
    dst[n] = '\0';
}

static int64_t min64(int64_t a, int64_t b)
{
    return a < b ? a : b;
}

/* ---------------------------------------------------------------- admission */

/* Everything one admission works with (the shard lock held). */
typedef struct {
    tg_quota *q;
    const tg_quota_ask *ask;
    entry *e[2]; /* the key (if any), then the team */
    int ne;
    int64_t now_us, sec;
    int64_t index[TG_PERIOD_COUNT];
    int64_t room_nusd, room_tokens; /* INT64_MAX: no limit */
    bool room_request;
    int64_t min_nusd, min_tokens;   /* the smallest admissible ask (the floor) */
} admission;

static const counter *current(const entry *e)
{
    return &e->c[e->period];
}

/* The room left under every limit of the key and the team. */
static void measure(admission *a)
{
    a->room_nusd = a->room_tokens = INT64_MAX;
    a->room_request = true;
    for (int i = 0; i < a->ne; i++) {
        const entry *e = a->e[i];
        const counter *c = current(e);
        const tg_limits *l = &e->lim;
        if (l->budget_nusd != TG_STORE_UNLIMITED)
            a->room_nusd = min64(a->room_nusd, l->budget_nusd - c->spent_nusd - c->held_nusd);
        if (l->budget_tokens != TG_STORE_UNLIMITED)
            a->room_tokens = min64(a->room_tokens,
                                   l->budget_tokens - c->spent_tokens - c->held_tokens);
        if (l->tpm != TG_STORE_UNLIMITED)
            a->room_tokens = min64(a->room_tokens, l->tpm - e->win.tok);
        if (l->budget_requests != TG_STORE_UNLIMITED && c->requests >= l->budget_requests)
            a->room_request = false;
        if (l->rpm != TG_STORE_UNLIMITED && e->win.req >= l->rpm)
            a->room_request = false;
    }
}

static int64_t clamp_floor(const admission *a)
{
    if (a->ask->min_out_tokens > 0)
        return a->ask->min_out_tokens;
    return a->q->cfg.min_output_tokens > 0 ? a->q->cfg.min_output_tokens
                                           : TG_QUOTA_MIN_OUTPUT_DEFAULT;
}

static bool can_clamp(const admission *a)
{
    const tg_quota_ask *k = a->ask;
    return k->out_tokens > 0 && k->out_nusd_per_mtok >= 0 && clamp_floor(a) <= k->out_tokens;
}

/* The largest output cap that fits the room (may be below the floor or negative). */
static int64_t output_that_fits(const admission *a)
{
    const tg_quota_ask *k = a->ask;
    int64_t p = k->out_nusd_per_mtok, out = k->out_tokens;
    int64_t fixed_nusd = k->cost_nusd - cost_up(out, p), fixed_tokens = k->tokens - out;
    int64_t fit = out;
    if (a->room_tokens != INT64_MAX)
        fit = min64(fit, a->room_tokens - fixed_tokens);
    if (a->room_nusd != INT64_MAX && p > 0) {
        __int128 money = ((__int128)a->room_nusd - fixed_nusd) * TOKENS_PER_MTOK / p;
        fit = money < fit ? (int64_t)money : fit;
    } else if (a->room_nusd != INT64_MAX && fixed_nusd > a->room_nusd) {
        fit = -1;
    }
    return fit;
}

/* Sets why from limit `what` of entry e. */
static void explain(admission *a, const entry *e, tg_quota_what what, int64_t limit,
                    int64_t spent, int64_t held, int64_t asked, tg_quota_result *res)
{
    tg_quota_why *w = &res->why;
    w->what = what;
    w->on_key = e->is_key;
    copy_name(w->team, sizeof w->team, a->ask->key->team);
    copy_name(w->key_id, sizeof w->key_id, e->is_key ? e->name : "");
    w->period = e->period;
    w->limit = limit, w->spent = spent, w->held = held, w->asked = asked;
    if (what == TG_QUOTA_RPM || what == TG_QUOTA_TPM)
        w->reset_us = a->now_us + win_reset_ms(&e->win, a->now_us, what == TG_QUOTA_TPM) * 1000;
    else
        w->reset_us = tg_period_start_us(e->period, a->index[e->period] + 1,
                                         a->q->cfg.utc_offset_s);
}

/* Finds the limit that refuses even the smallest ask; returns the status. */
static int refuse(admission *a, tg_quota_result *res)
{
    for (int i = 0; i < a->ne; i++) { /* period budgets first: waiting does not help */
        const entry *e = a->e[i];
        const counter *c = current(e);
        const tg_limits *l = &e->lim;
        if (l->budget_requests != TG_STORE_UNLIMITED && c->requests >= l->budget_requests) {
            explain(a, e, TG_QUOTA_REQUESTS, l->budget_requests, c->requests, 0, 1, res);
            return TG_QUOTA_EXHAUSTED;
        }
        if (l->budget_nusd != TG_STORE_UNLIMITED &&
            a->min_nusd > l->budget_nusd - c->spent_nusd - c->held_nusd) {
            explain(a, e, TG_QUOTA_USD, l->budget_nusd, c->spent_nusd, c->held_nusd,
                    a->min_nusd, res);
            return TG_QUOTA_EXHAUSTED;
        }
        if (l->budget_tokens != TG_STORE_UNLIMITED &&
            a->min_tokens > l->budget_tokens - c->spent_tokens - c->held_tokens) {
            explain(a, e, TG_QUOTA_TOKENS, l->budget_tokens, c->spent_tokens, c->held_tokens,
                    a->min_tokens, res);
            return TG_QUOTA_EXHAUSTED;
        }
    }
    for (int i = 0; i < a->ne; i++) {
        const entry *e = a->e[i];
        const tg_limits *l = &e->lim;
        if (l->rpm != TG_STORE_UNLIMITED && e->win.req >= l->rpm) {
            explain(a, e, TG_QUOTA_RPM, l->rpm, e->win.req, 0, 1, res);
            return TG_QUOTA_RATE_LIMITED;
        }
        if (l->tpm != TG_STORE_UNLIMITED && a->min_tokens > l->tpm - e->win.tok) {
            explain(a, e, TG_QUOTA_TPM, l->tpm, e->win.tok, 0, a->min_tokens, res);
            return TG_QUOTA_RATE_LIMITED;
        }
    }
    assert(!"refused without a limit that refuses");
    return TG_QUOTA_EXHAUSTED;
}

/* Decides what to grant (lock held).  Returns the status; fills res's amounts. */
static int decide(admission *a, tg_quota_result *res)
{
    const tg_quota_ask *k = a->ask;
    measure(a);
    a->min_nusd = k->cost_nusd, a->min_tokens = k->tokens;
    if (can_clamp(a)) {
        int64_t f = clamp_floor(a);
        a->min_nusd = k->cost_nusd - cost_up(k->out_tokens, k->out_nusd_per_mtok) +
                      cost_up(f, k->out_nusd_per_mtok);
        a->min_tokens = k->tokens - k->out_tokens + f;
    }
    if (!a->room_request)
        return refuse(a, res);
    if (k->cost_nusd <= a->room_nusd && k->tokens <= a->room_tokens) {
        res->reserved_nusd = k->cost_nusd, res->reserved_tokens = k->tokens;
        res->out_tokens = k->out_tokens;
        return TG_QUOTA_OK;
    }
    if (!can_clamp(a))
        return refuse(a, res);
    int64_t fit = output_that_fits(a);
    if (fit < clamp_floor(a))
        return refuse(a, res);
    res->out_tokens = fit;
    res->reserved_nusd = k->cost_nusd - cost_up(k->out_tokens, k->out_nusd_per_mtok) +
                         cost_up(fit, k->out_nusd_per_mtok);
    res->reserved_tokens = k->tokens - k->out_tokens + fit;
    return TG_QUOTA_CLAMPED;
}

/* Adds the grant to every counter and window of the key and the team (lock held). */
static void hold_grant(admission *a, const tg_quota_result *res, tg_quota_hold *hold)
{
    for (int i = 0; i < a->ne; i++) {
        entry *e = a->e[i];
        for (int p = 0; p < TG_PERIOD_COUNT; p++) {
            counter *c = &e->c[p];
            c->held_nusd += res->reserved_nusd;
            c->held_tokens += res->reserved_tokens;
            c->requests++;
        }
        int s = (int)(e->win.last_sec % TG_QUOTA_WINDOW_S);
        e->win.b_req[s]++, e->win.req++;
        e->win.b_tok[s] += res->reserved_tokens, e->win.tok += res->reserved_tokens;
    }
    *hold = (tg_quota_hold){.team = a->e[a->ne - 1], .key = a->ne == 2 ? a->e[0] : NULL,
                            .sec = a->e[a->ne - 1]->win.last_sec,
                            .nusd = res->reserved_nusd, .tokens = res->reserved_tokens,
                            .live = true};
    memcpy(hold->index, a->index, sizeof hold->index);
}

/* The header figures after the grant: the tightest USD budget and rate limits. */
static void report(admission *a, tg_quota_result *res)
{
    res->remaining_nusd = TG_STORE_UNLIMITED;
    res->requests = res->tokens = (tg_quota_rate){TG_STORE_UNLIMITED, 0, 0};
    for (int i = 0; i < a->ne; i++) {
        const entry *e = a->e[i];
        const counter *c = current(e);
        if (e->lim.budget_nusd != TG_STORE_UNLIMITED) {
            int64_t left = e->lim.budget_nusd - c->spent_nusd - c->held_nusd;
            left = left > 0 ? left : 0;
            if (res->remaining_nusd == TG_STORE_UNLIMITED || left < res->remaining_nusd)
                res->remaining_nusd = left;
        }
        const int64_t limits[2] = {e->lim.rpm, e->lim.tpm}, used[2] = {e->win.req, e->win.tok};
        tg_quota_rate *r[2] = {&res->requests, &res->tokens};
        for (int j = 0; j < 2; j++) {
            if (limits[j] == TG_STORE_UNLIMITED)
                continue;
            int64_t left = limits[j] > used[j] ? limits[j] - used[j] : 0;
            if (r[j]->limit != TG_STORE_UNLIMITED && left >= r[j]->remaining)
                continue;
            *r[j] = (tg_quota_rate){limits[j], left, win_reset_ms(&e->win, a->now_us, j == 1)};
        }
    }
}

static bool ask_valid(const tg_quota_ask *k)
{
    return k && k->key && k->rec && tg_store_team_name_valid(k->key->team) && k->tokens >= 0 &&
           k->out_tokens >= 0 && k->out_tokens <= k->tokens &&
           (unsigned)k->key->period < TG_PERIOD_COUNT;
}

/* Finds (making them if new) the entries of the ask and refreshes their limits. */
static int enter(admission *a)
{
    const tg_key *key = a->ask->key;
    shard *sh = shard_of(a->q, key->team);
    entry *team = find_or_add(sh, key->team, false);
    entry *ke = key->id[0] && team ? find_or_add(sh, key->id, true) : NULL;
    if (!team || (key->id[0] && !ke))
        return -1;
    team->lim = key->team_lim;
    team->period = key->period;
    a->ne = 0;
    if (ke) {
        ke->lim = key->lim;
        ke->period = key->period;
        a->e[a->ne++] = ke;
    }
    a->e[a->ne++] = team;
    for (int i = 0; i < a->ne; i++) {
        for (int p = 0; p < TG_PERIOD_COUNT; p++)
            roll(a->e[i], p, a->index[p]);
        win_advance(&a->e[i]->win, a->sec);
    }
    return 0;
}

/* Queues the reservation row (its ledger slot into hold->slot); true when it is already
 * durable (committed inline). */
static bool write_reservation(tg_quota *q, const tg_quota_ask *ask, const tg_quota_result *res,
                              tg_quota_hold *hold)
{
    tg_record r = *ask->rec;
    snprintf(r.team, sizeof r.team, "%s", ask->key->team);
    snprintf(r.key_id, sizeof r.key_id, "%s", ask->key->id);
    r.state = TG_RECORD_RESERVED;
    r.reserved_nusd = res->reserved_nusd;
    r.reserved_tokens = res->reserved_tokens;
    r.reconcile = r.overshoot = false;
    r.cost_nusd = r.cost_input_nusd = r.cost_cached_nusd = 0;
    r.cost_cache_write_nusd = r.cost_output_nusd = 0;
    r.slot = 0;
    bool durable = tg_ledger_submit(q->cfg.ledger, &r, ask->waiter, ask->cookie);
    hold->slot = r.slot;
    return durable;
}

int tg_quota_reserve(tg_quota *q, const tg_quota_ask *ask, tg_quota_hold *hold,
                     tg_quota_result *res)
{
    memset(res, 0, sizeof *res);
    memset(hold, 0, sizeof *hold);
    if (!ask_valid(ask))
        return TG_QUOTA_INVALID;
    if (ask->cost_nusd < 0) {
        atomic_fetch_add(&q->refused, 1);
        return TG_QUOTA_NO_PRICE;
    }
    admission a = {.q = q, .ask = ask, .now_us = ask->rec->ts_us,
                   .sec = ask->rec->ts_us / TG_US_PER_S};
    for (int p = 0; p < TG_PERIOD_COUNT; p++)
        a.index[p] = tg_period_index((tg_period)p, a.now_us, q->cfg.utc_offset_s);
    shard *sh = shard_of(q, ask->key->team);
    pthread_mutex_lock(&sh->mu);
    if (enter(&a) != 0) {
        pthread_mutex_unlock(&sh->mu);
        return TG_QUOTA_INVALID; /* out of memory */
    }
    int rc = decide(&a, res);
    if (rc == TG_QUOTA_OK || rc == TG_QUOTA_CLAMPED)
        hold_grant(&a, res, hold);
    report(&a, res);
    pthread_mutex_unlock(&sh->mu);
    if (rc != TG_QUOTA_OK && rc != TG_QUOTA_CLAMPED) {
        res->reserved_nusd = res->reserved_tokens = res->out_tokens = 0;
        atomic_fetch_add(&q->refused, 1);
        return rc;
    }
    atomic_fetch_add(rc == TG_QUOTA_OK ? &q->admitted : &q->clamped, 1);
    if (q->cfg.ledger) {
        bool durable = write_reservation(q, ask, res, hold);
        res->wait = ask->waiter != NULL && !durable;
    }
    return rc;
}

void tg_quota_peek(tg_quota *q, const tg_key *key, int64_t now_us, tg_quota_result *res)
{
    memset(res, 0, sizeof *res);
    res->remaining_nusd = TG_STORE_UNLIMITED;
    res->requests = res->tokens = (tg_quota_rate){TG_STORE_UNLIMITED, 0, 0};
    tg_record rec = {.ts_us = now_us};
    tg_quota_ask ask = {.key = key, .rec = &rec};
    if (!ask_valid(&ask))
        return;
    admission a = {.q = q, .ask = &ask, .now_us = now_us, .sec = now_us / TG_US_PER_S};
    for (int p = 0; p < TG_PERIOD_COUNT; p++)
        a.index[p] = tg_period_index((tg_period)p, now_us, q->cfg.utc_offset_s);
    shard *sh = shard_of(q, key->team);
    pthread_mutex_lock(&sh->mu);
    if (enter(&a) == 0)
        report(&a, res);
    pthread_mutex_unlock(&sh->mu);
}

/* ---------------------------------------------------------------- settlement */

/* Swaps the hold for (nusd, tokens, requests) in the counters it was counted in. */
static void unhold(tg_quota_hold *h, int64_t nusd, int64_t tokens, int64_t requests)
{
    entry *es[2] = {h->key, h->team};
    shard *sh = ((entry *)h->team)->sh;
    pthread_mutex_lock(&sh->mu);
    for (int i = 0; i < 2; i++) {
        entry *e = es[i];
        if (!e)
            continue;
        for (int p = 0; p < TG_PERIOD_COUNT; p++) {
            counter *c = &e->c[p];
            if (c->index != h->index[p])
                continue; /* that period is over: nothing left to correct */
            c->held_nusd -= h->nusd, c->held_tokens -= h->tokens;
            c->spent_nusd += nusd, c->spent_tokens += tokens;
            c->requests += requests;
        }
        win_add_tokens(&e->win, h->sec, tokens - h->tokens);
    }
    pthread_mutex_unlock(&sh->mu);
    h->live = false;
}

static void fill_names(const tg_quota_hold *h, tg_record *rec)
{
    copy_name(rec->team, sizeof rec->team, ((entry *)h->team)->name);
    copy_name(rec->key_id, sizeof rec->key_id, h->key ? ((entry *)h->key)->name : "");
    rec->reserved_nusd = h->nusd;
    rec->reserved_tokens = h->tokens;
    rec->reconcile = false;
    rec->slot = h->slot;
}

bool tg_quota_settle(tg_quota *q, tg_quota_hold *hold, tg_record *rec)
{
    assert(hold->live);
    int64_t tokens = rec->input_tokens + rec->output_tokens;
    bool over = rec->cost_nusd > hold->nusd || tokens > hold->tokens;
    fill_names(hold, rec);
    rec->state = TG_RECORD_SETTLED;
    rec->overshoot = over;
    unhold(hold, rec->cost_nusd, tokens, 0);
    atomic_fetch_add(&q->settled, 1);
    if (over) {
        atomic_fetch_add(&q->overshoots, 1);
        if (rec->cost_nusd > hold->nusd)
            atomic_fetch_add(&q->overshoot_nusd, rec->cost_nusd - hold->nusd);
    }
    if (q->cfg.ledger)
        tg_ledger_submit(q->cfg.ledger, rec, NULL, 0);
    return over;
}

void tg_quota_release(tg_quota *q, tg_quota_hold *hold, tg_record *rec)
{
    assert(hold->live);
    fill_names(hold, rec);
    rec->state = TG_RECORD_RELEASED;
    rec->overshoot = false;
    rec->cost_nusd = rec->cost_input_nusd = rec->cost_cached_nusd = 0;
    rec->cost_cache_write_nusd = rec->cost_output_nusd = 0;
    unhold(hold, 0, 0, -1);
    atomic_fetch_add(&q->released, 1);
    if (q->cfg.ledger)
        tg_ledger_submit(q->cfg.ledger, rec, NULL, 0);
}

/* ---------------------------------------------------------------- recovery */

/* Adds one ledger row (a team's or key's spend on one day) to the entry's counters of
 * the periods that contain `now` (lock held). */
static void add_day(tg_quota *q, entry *e, const tg_spend_row *r, const int64_t *now_index)
{
    int64_t day_start = r->day * TG_US_PER_DAY - (int64_t)q->cfg.utc_offset_s * TG_US_PER_S;
    for (int p = 0; p < TG_PERIOD_COUNT; p++) {
        if (tg_period_index((tg_period)p, day_start, q->cfg.utc_offset_s) != now_index[p])
            continue;
        roll(e, p, now_index[p]);
        e->c[p].spent_nusd += r->charged_nusd;
        e->c[p].spent_tokens += r->charged_tokens;
        e->c[p].requests += r->requests;
    }
}

int tg_quota_recover(tg_quota *q, tg_store *st, int64_t now_us, int64_t *unsettled)
{
    int rc = tg_store_ledger_recover(st, unsettled);
    return rc == TG_STORE_OK ? tg_quota_rebuild(q, st, now_us) : rc;
}

int tg_quota_rebuild(tg_quota *q, tg_store *st, int64_t now_us)
{
    int rc;
    int64_t now_index[TG_PERIOD_COUNT], since = INT64_MAX;
    for (int p = 0; p < TG_PERIOD_COUNT; p++) {
        now_index[p] = tg_period_index((tg_period)p, now_us, q->cfg.utc_offset_s);
        since = min64(since, tg_period_start_us((tg_period)p, now_index[p],
                                                q->cfg.utc_offset_s));
    }
    tg_spend_row *rows;
    size_t n;
    if ((rc = tg_store_spend_by_day(st, since, q->cfg.utc_offset_s, &rows, &n)) != TG_STORE_OK)
        return rc;
    for (size_t i = 0; i < n; i++) {
        if (!tg_store_team_name_valid(rows[i].team))
            continue;
        shard *sh = shard_of(q, rows[i].team);
        pthread_mutex_lock(&sh->mu);
        entry *team = find_or_add(sh, rows[i].team, false);
        entry *key = rows[i].key_id[0] ? find_or_add(sh, rows[i].key_id, true) : NULL;
        if (team)
            add_day(q, team, &rows[i], now_index);
        if (key)
            add_day(q, key, &rows[i], now_index);
        pthread_mutex_unlock(&sh->mu);
    }
    free(rows);
    return TG_STORE_OK;
}

/* ---------------------------------------------------------------- reading */

bool tg_quota_usage_of(tg_quota *q, const char *team, const char *key_id, tg_period p,
                       int64_t now_us, tg_quota_usage *out)
{
    memset(out, 0, sizeof *out);
    if (!tg_store_team_name_valid(team) || (unsigned)p >= TG_PERIOD_COUNT)
        return false;
    int64_t index = tg_period_index(p, now_us, q->cfg.utc_offset_s);
    shard *sh = shard_of(q, team);
    pthread_mutex_lock(&sh->mu);
    const entry *e = key_id && key_id[0] ? find(sh, key_id, true) : find(sh, team, false);
    if (e && e->c[p].index == index) {
        const counter *c = &e->c[p];
        *out = (tg_quota_usage){c->spent_nusd, c->held_nusd, c->spent_tokens, c->held_tokens,
                                c->requests};
    }
    pthread_mutex_unlock(&sh->mu);
    return e != NULL;
}

int32_t tg_quota_utc_offset(const tg_quota *q)
{
    return q->cfg.utc_offset_s;
}

void tg_quota_get_stats(tg_quota *q, tg_quota_stats *out)
{
    *out = (tg_quota_stats){atomic_load(&q->admitted),   atomic_load(&q->clamped),
                            atomic_load(&q->refused),    atomic_load(&q->settled),
                            atomic_load(&q->released),   atomic_load(&q->overshoots),
                            atomic_load(&q->overshoot_nusd)};
}

/* ---------------------------------------------------------------- messages, headers */

/* "$9.998000": USD with six decimals, rounded half up (messages only; never parsed). */
static void usd6(int64_t nusd, char *buf, size_t n)
{
    int64_t micro = nusd / 1000 + (nusd % 1000 >= 500);
    snprintf(buf, n, "$%" PRId64 ".%06" PRId64, micro / 1000000, micro % 1000000);
}

static const char *adjective(tg_period p)
{
    return p == TG_PERIOD_DAY ? "daily" : p == TG_PERIOD_WEEK ? "weekly" : "monthly";
}

int tg_quota_message(const tg_quota_why *w, char *buf, size_t n)
{
    char who[TG_TEAM_NAME_MAX + TG_KEY_ID_LEN + 32], when[TG_STORE_TIME_LEN + 1];
    char a[USD6_SIZE], b[USD6_SIZE], c[USD6_SIZE], d[USD6_SIZE];
    if (w->on_key)
        snprintf(who, sizeof who, "Key '%s' of team '%s'", w->key_id, w->team);
    else
        snprintf(who, sizeof who, "Team '%s'", w->team);
    tg_period_iso_time(w->reset_us, when, sizeof when);
    switch (w->what) {
    case TG_QUOTA_USD:
        usd6(w->spent, a, sizeof a), usd6(w->limit, b, sizeof b);
        usd6(w->held, c, sizeof c), usd6(w->asked, d, sizeof d);
        return snprintf(buf, n, "%s has spent %s of its %s %s budget (reserved %s in flight); "
                        "this request needs up to %s; it resets at %s.", who, a, b,
                        adjective(w->period), c, d, when);
    case TG_QUOTA_TOKENS:
        return snprintf(buf, n, "%s has used %" PRId64 " of its %" PRId64 " %s tokens "
                        "(reserved %" PRId64 " in flight); this request needs up to %" PRId64
                        "; it resets at %s.", who, w->spent, w->limit, adjective(w->period),
                        w->held, w->asked, when);
    case TG_QUOTA_REQUESTS:
        return snprintf(buf, n, "%s has made %" PRId64 " of its %" PRId64 " %s requests; "
                        "it resets at %s.", who, w->spent, w->limit, adjective(w->period), when);
    case TG_QUOTA_RPM:
        return snprintf(buf, n, "%s is limited to %" PRId64 " requests per minute; retry "
                        "after %s.", who, w->limit, when);
    case TG_QUOTA_TPM:
        return snprintf(buf, n, "%s is limited to %" PRId64 " tokens per minute and has "
                        "used %" PRId64 " in the last minute; this request needs up to %" PRId64
                        "; retry after %s.", who, w->limit, w->spent, w->asked, when);
    }
    return snprintf(buf, n, "%s has no quota left.", who);
}

int tg_quota_no_price_message(const char *model, char *buf, size_t n)
{
    return snprintf(buf, n, "Model '%.128s' has no known price, so tollgate cannot hold its "
                    "cost against a budget; ask an admin to add its price to the catalog.",
                    model ? model : "");
}

/* "12s", "1m0s" or "250ms", as OpenAI writes its reset headers. */
static void duration_text(int64_t ms, char *buf)
{
    /* the longest: 20 characters and "ms"; the "m" form has at most 15 + 1 + 2 + 1 */
    _Static_assert(TG_QUOTA_HEADER_VALUE_SIZE >= TG_INT_TEXT_SIZE + 2, "room");
    size_t len;
    if (ms < 1000) {
        len = tg_int_text(ms, buf);
        memcpy(buf + len, "ms", 3);
    } else if (ms < 60000) {
        len = tg_int_text((ms + 999) / 1000, buf);
        memcpy(buf + len, "s", 2);
    } else {
        len = tg_int_text(ms / 60000, buf);
        buf[len++] = 'm';
        len += tg_int_text((ms % 60000 + 999) / 1000, buf + len);
        memcpy(buf + len, "s", 2);
    }
}

int tg_quota_headers(const tg_quota_result *res, tg_quota_header out[TG_QUOTA_HEADERS_MAX])
{
    static const char *const names[2][3] = {
        {"x-ratelimit-limit-requests", "x-ratelimit-remaining-requests",
         "x-ratelimit-reset-requests"},
        {"x-ratelimit-limit-tokens", "x-ratelimit-remaining-tokens",
         "x-ratelimit-reset-tokens"}};
    int n = 0;
    if (res->remaining_nusd != TG_STORE_UNLIMITED) {
        out[n].name = "x-tollgate-budget-remaining-usd";
        tg_money_format(res->remaining_nusd, out[n++].value, TG_QUOTA_HEADER_VALUE_SIZE);
    }
    const tg_quota_rate *rates[2] = {&res->requests, &res->tokens};
    for (int j = 0; j < 2; j++) {
        if (rates[j]->limit == TG_STORE_UNLIMITED)
            continue;
        out[n].name = names[j][0];
        tg_int_text(rates[j]->limit, out[n++].value);
        out[n].name = names[j][1];
        tg_int_text(rates[j]->remaining, out[n++].value);
        out[n].name = names[j][2];
        duration_text(rates[j]->reset_ms, out[n++].value);
    }
    assert(n <= TG_QUOTA_HEADERS_MAX);
    return n;
}

/* ---------------------------------------------------------------- life */

int tg_quota_new(const tg_quota_config *cfg, tg_quota **out)
{
    *out = NULL;
    if (cfg->utc_offset_s < -TG_PERIOD_OFFSET_MAX_S || cfg->utc_offset_s > TG_PERIOD_OFFSET_MAX_S ||
        cfg->min_output_tokens < 0) {
        errno = EINVAL;
        return -1;
    }
    size_t size = (sizeof(tg_quota) + CACHE_LINE - 1) / CACHE_LINE * CACHE_LINE;
    tg_quota *q = aligned_alloc(CACHE_LINE, size);
    if (!q) {
        errno = ENOMEM;
        return -1;
    }
    memset(q, 0, size);
    q->cfg = *cfg;
    for (int i = 0; i < TG_QUOTA_SHARDS; i++)
        pthread_mutex_init(&q->shards[i].mu, NULL);
    for (int i = 0; i < TG_QUOTA_SHARDS; i++) {
        shard *sh = &q->shards[i];
        sh->nbuckets = BUCKETS_INITIAL;
        if (!(sh->buckets = calloc(sh->nbuckets, sizeof *sh->buckets))) {
            tg_quota_free(q);
            errno = ENOMEM;
            return -1;
        }
    }
    *out = q;
    return 0;
}

void tg_quota_free(tg_quota *q)
{
    if (!q)
        return;
    for (int i = 0; i < TG_QUOTA_SHARDS; i++) {
        shard *sh = &q->shards[i];
        for (size_t b = 0; sh->buckets && b < sh->nbuckets; b++)
            for (entry *e = sh->buckets[b], *next; e; e = next) {
                next = e->next;
                free(e);
            }
        free(sh->buckets);
        pthread_mutex_destroy(&sh->mu);
    }
    free(q);
}
