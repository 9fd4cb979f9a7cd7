/* tg_quota: hard budgets and rate limits for teams and keys — admission, settlement,
 * crash recovery, and what to tell the client (issue 5).
 *
 * "A budget is a wall": a request is admitted only if its worst-case cost fits, so for
 * every team and key, settled + reserved never passes a limit (only an overshoot — actual
 * usage above the reservation — can, and every overshoot is recorded and counted).
 *
 * Limits (tg_limits, store.h), per team and per key, the tighter one winning:
 *   budget_nusd, budget_tokens, budget_requests   per calendar period of the team (day,
 *       ISO week from Monday, month; UTC or tg_quota_config.utc_offset_s), see period.h;
 *   rpm, tpm   requests and tokens per rolling minute (60 one-second buckets; in memory
 *       only, they start empty after a restart).
 * Counters keep a period index; when a request falls in a later period the counter
 * starts at zero (no sweep).  Each team and key keeps day, week and month counters at
 * once, so changing a team's period takes effect at once and stays correct.
 *
 * The request path, from a non-blocking event loop (one tg_ledger_waiter per worker):
 *
 *   1. tg_quota_reserve(q, &ask, &hold, &res) — in memory, a few hundred ns: checks
 *      every limit of the key and its team and holds the worst case (ask.cost_nusd,
 *      ask.tokens).  When it does not fit but a smaller output cap does (>= the floor),
 *      it reserves that instead (TG_QUOTA_CLAMPED, res.out_tokens: send that as
 *      max_tokens).  The reservation row goes to the ledger writer with (waiter, cookie).
 *   2. if res.wait: do not forward yet.  When tg_ledger_waiter_fd(waiter) is readable,
 *      tg_ledger_collect() gives the cookies whose reservations are durable; for each
 *      (ok: forward; !ok: the store failed: tg_quota_release and answer 503).
 *   3. forward, stream, meter.
 *   4. exactly once per admitted request: tg_quota_settle(q, &hold, &rec) with the
 *      actual usage and cost (the record replaces the reservation row: settlement and
 *      record in one transaction), or tg_quota_release(q, &hold, &rec) when nothing was
 *      billed (the upstream refused or was never reached).  Neither blocks.
 *   Refusals: TG_QUOTA_EXHAUSTED -> 429 {"code":"insufficient_quota"} with
 *   tg_quota_message(&res.why); TG_QUOTA_RATE_LIMITED -> 429 "rate_limit_exceeded", same
 *   message, Retry-After from res.why.reset_us; TG_QUOTA_NO_PRICE -> the model has no
 *   known price, so it cannot be held against a budget: refuse it (suggested 403,
 *   tg_quota_no_price_message).  Headers for any answer: tg_quota_headers(&res).
 *
 * At start, before any reserve: tg_quota_recover(q, store, now): rows left RESERVED by a
 * dead process become UNSETTLED (charged at their reservation, flagged for
 * reconciliation), and the counters of the current periods are rebuilt from the ledger.
 * One serving process per SQLite store.
 *
 * Threads: every function may be called from any thread.  Teams are spread over
 * TG_QUOTA_SHARDS shards, each with one mutex held for a few hundred instructions (a
 * key lives in its team's shard, so one lock covers a request).  Money: int64
 * nano-dollars; times: int64 µs since the Unix epoch, UTC. */
#ifndef TG_QUOTA_H
#define TG_QUOTA_H
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "quotas/period.h"
#include "records/ledger.h"
#include "store/store.h"

#define TG_QUOTA_SHARDS 64              /* lock stripes (teams hash to one) */
#define TG_QUOTA_WINDOW_S 60            /* the rolling minute of rpm and tpm */
#define TG_QUOTA_MIN_OUTPUT_DEFAULT 64  /* clamp floor: never lower max_tokens below */
#define TG_QUOTA_MSG_SIZE 512           /* tg_quota_message's buffer */
#define TG_QUOTA_HEADERS_MAX 7          /* tg_quota_headers' array */
#define TG_QUOTA_HEADER_VALUE_SIZE 32

typedef struct tg_quota tg_quota;

typedef struct {
    int32_t utc_offset_s;      /* budgets' calendar, seconds east of UTC (0: UTC);
                                  |x| <= TG_PERIOD_OFFSET_MAX_S, fixed (no DST) */
    int64_t min_output_tokens; /* clamp floor when the ask gives none (0: the default) */
    tg_ledger *ledger;         /* writer of reservations and settlements (not owned);
                                  NULL: memory only (tests, benchmarks) */
} tg_quota_config;

typedef enum {
    TG_QUOTA_OK = 0,       /* admitted with the whole worst case */
    TG_QUOTA_CLAMPED,      /* admitted with a lower output cap, res.out_tokens */
    TG_QUOTA_EXHAUSTED,    /* a period budget has no room: 429 insufficient_quota */
    TG_QUOTA_RATE_LIMITED, /* rpm or tpm: 429 rate_limit_exceeded, retry later */
    TG_QUOTA_NO_PRICE,     /* ask.cost_nusd < 0: the price is unknown: refuse */
    TG_QUOTA_INVALID,      /* a bad ask (no key or record, negative tokens, bad name) */
} tg_quota_status;

/* Which limit refused a request. */
typedef enum {
    TG_QUOTA_USD,
    TG_QUOTA_TOKENS,
    TG_QUOTA_REQUESTS,
    TG_QUOTA_RPM,
    TG_QUOTA_TPM,
} tg_quota_what;

typedef struct {
    /* Who, with their limits and the team's period: as tg_store_key_lookup gives them
     * (the limits are taken from here at every call, so changes apply within the
     * caller's key cache time).  key->id "" holds the team's limits only. */
    const tg_key *key;
    /* The request's record as far as known before forwarding (id, attempt, ts_us,
     * provider, models, endpoint, est_input_tokens, rule, versions).  Its ts_us is the
     * request's time for periods and rate windows (use the current time); team and
     * key_id are taken from `key`.  Copied, not kept. */
    const tg_record *rec;
    int64_t cost_nusd;         /* worst case: estimated input + the full output cap; < 0:
                                  unknown price (TG_QUOTA_NO_PRICE) */
    int64_t tokens;            /* worst case tokens: estimated input + output cap */
    int64_t out_tokens;        /* the output cap inside `tokens` (0: never clamp) */
    int64_t out_nusd_per_mtok; /* output price per million tokens, for clamping (< 0:
                                  never clamp); the clamped cost of k tokens is
                                  cost_nusd - ceil(out_tokens * p / 1e6) + ceil(k * p / 1e6) */
    int64_t min_out_tokens;    /* clamp floor (0: the configured one) */
    tg_ledger_waiter *waiter;  /* where the durability notice goes */
    uint64_t cookie;           /* what comes back through it */
} tg_quota_ask;

/* Why a request was refused: enough for the message and Retry-After. */
typedef struct {
    tg_quota_what what;
    bool on_key;                         /* the key's limit (else the team's) */
    char team[TG_TEAM_NAME_MAX + 1];
    char key_id[TG_KEY_ID_LEN + 1];
    tg_period period;                    /* for the period budgets */
    int64_t limit;                       /* nusd, tokens or requests */
    int64_t spent;                       /* settled (rates: used in the window) */
    int64_t held;                        /* reserved by requests in flight */
    int64_t asked;                       /* what this request needed at least */
    int64_t reset_us;                    /* when room comes back (UTC µs) */
} tg_quota_why;

/* One rate limit for the x-ratelimit-* headers: the tighter of team and key. */
typedef struct {
    int64_t limit;     /* TG_STORE_UNLIMITED: none */
    int64_t remaining;
    int64_t reset_ms;  /* until the oldest use in the window expires (0 when empty) */
} tg_quota_rate;

typedef struct {
    int64_t reserved_nusd, reserved_tokens; /* what is held (0 when refused) */
    int64_t out_tokens;                     /* the output cap granted */
    bool wait;                              /* a durability notice will come (false:
                                               none, or the row is durable already) */
    tg_quota_why why;                       /* set when refused */
    int64_t remaining_nusd;                 /* tightest USD budget left after this
                                               request, TG_STORE_UNLIMITED: none */
    tg_quota_rate requests, tokens;         /* after this request */
} tg_quota_result;

/* What an admitted request holds; the caller keeps it until settle or release. */
typedef struct {
    void *team, *key;                /* the module's entries (key NULL: team only) */
    int64_t index[TG_PERIOD_COUNT];  /* the periods it was counted in */
    int64_t sec;                     /* its rate-window second */
    int64_t nusd, tokens;            /* held */
    int64_t slot;                    /* the reservation's ledger slot (0: none) */
    bool live;                       /* not yet settled or released */
} tg_quota_hold;

/* What a team or key has used in the period that contains `now_us` (tests, admin). */
typedef struct {
    int64_t spent_nusd, held_nusd;
    int64_t spent_tokens, held_tokens;
    int64_t requests;                /* admitted and not released, in flight included */
} tg_quota_usage;

typedef struct {
    uint64_t admitted, clamped, refused, settled, released;
    uint64_t overshoots;             /* settlements above their reservation */
    int64_t overshoot_nusd;          /* the sum of what they went over, nano-dollars */
} tg_quota_stats;

typedef struct {
    const char *name;                        /* static */
    char value[TG_QUOTA_HEADER_VALUE_SIZE];
} tg_quota_header;

/* Makes a quota module.  Returns 0 with *out set, or -1 (bad offset: errno EINVAL; out
 * of memory: ENOMEM).  `cfg` is copied. */
__attribute__((warn_unused_result)) int tg_quota_new(const tg_quota_config *cfg,
                                                    tg_quota **out);

/* Frees the module (NULL allowed).  Holds still out become invalid. */
void tg_quota_free(tg_quota *q);

/* Crash recovery; call once before the first reserve, with a handle on the store the
 * ledger writes to.  Marks rows left RESERVED as UNSETTLED (charged at reserved cost,
 * reconcile = 1; *unsettled gets how many, may be NULL), then rebuilds the counters of
 * the periods that contain `now_us` from the ledger.  Returns a tg_store_status; on
 * failure the message is tg_store_errmsg(st) and the counters are unchanged. */
__attribute__((warn_unused_result)) int tg_quota_recover(tg_quota *q, tg_store *st,
                                                        int64_t now_us, int64_t *unsettled);

/* tg_quota_recover's second half alone: rebuilds the counters from the ledger, for a
 * caller that ran tg_store_ledger_recover itself (before starting the ledger writer, which
 * holds the reservations slot file recovery reads). */
__attribute__((warn_unused_result)) int tg_quota_rebuild(tg_quota *q, tg_store *st,
                                                        int64_t now_us);

/* Admission (see the top of the file).  On TG_QUOTA_OK / TG_QUOTA_CLAMPED *hold is live
 * and must be settled or released exactly once; res->wait says whether a durability
 * notice will come for ask->cookie (a ledger is configured and ask->waiter is set, and
 * the row was not committed inline on this thread, which makes it durable before this
 * returns; with a ledger and no waiter the row is written without a notice).  On a refusal nothing is
 * held or written and res->why says why (EXHAUSTED, RATE_LIMITED). */
__attribute__((warn_unused_result)) int tg_quota_reserve(tg_quota *q, const tg_quota_ask *ask,
                                                        tg_quota_hold *hold,
                                                        tg_quota_result *res);

/* The header figures (res->remaining_nusd, res->requests, res->tokens) of `key` and its
 * team at `now_us` without holding anything: for answers that reserve nothing (refusals,
 * bad requests, GET /v1/models) so that every authenticated answer carries the budget
 * headers.  The rest of *res is zeroed.  Limits are taken from `key` as in reserve. */
void tg_quota_peek(tg_quota *q, const tg_key *key, int64_t now_us, tg_quota_result *res);

/* Settlement: `rec` is the request's full record with its actual usage (input_tokens +
 * output_tokens are its tokens) and cost_nusd (and the per-type costs).  The module sets
 * state SETTLED, reserved_nusd / reserved_tokens and overshoot (actual above reserved;
 * counted in the stats), swaps the hold for the actual amounts in the counters, and
 * queues the record (no notice).  Returns whether it was an overshoot.  hold->live
 * becomes false; a hold that is not live is a caller bug (asserted). */
bool tg_quota_settle(tg_quota *q, tg_quota_hold *hold, tg_record *rec);

/* Release: nothing was billed (the upstream refused, failed before answering, or was
 * never called).  Drops the hold (the request no longer counts against request budgets;
 * it stays in the rpm window), sets state RELEASED and the costs to 0 in `rec`, and
 * queues it. */
void tg_quota_release(tg_quota *q, tg_quota_hold *hold, tg_record *rec);

/* The usage of team `team` (key_id NULL or "") or of key `key_id` in the period of kind
 * `p` that contains now_us.  Returns false when the module has never seen it (then *out
 * is all zero). */
bool tg_quota_usage_of(tg_quota *q, const char *team, const char *key_id, tg_period p,
                       int64_t now_us, tg_quota_usage *out);

void tg_quota_get_stats(tg_quota *q, tg_quota_stats *out);

/* The budgets' calendar offset, seconds east of UTC (tg_quota_config.utc_offset_s). */
int32_t tg_quota_utc_offset(const tg_quota *q);

/* The refusal as one line for the client (e.g. "Team 'ml' has spent $9.998000 of its
 * $10.000000 monthly budget (reserved $0.001500 in flight); it resets at
 * 2026-12-01T00:00:00Z.").  Writes into buf (size n, NUL-terminated); returns the length
 * as snprintf does. */
int tg_quota_message(const tg_quota_why *why, char *buf, size_t n);

/* The refusal for a model without a known price (TG_QUOTA_NO_PRICE), one line. */
int tg_quota_no_price_message(const char *model, char *buf, size_t n);

/* The response headers for an admitted request: x-tollgate-budget-remaining-usd (exact
 * USD, when a USD budget applies), x-ratelimit-limit-requests / -remaining-requests /
 * -reset-requests and the same for -tokens (when rpm / tpm apply; reset as "12s").
 * Fills out[0..n) and returns n (<= TG_QUOTA_HEADERS_MAX). */
int tg_quota_headers(const tg_quota_result *res, tg_quota_header out[TG_QUOTA_HEADERS_MAX]);

#endif
