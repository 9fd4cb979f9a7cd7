/* tg_route: the routing decision — policy rule -> capable candidates -> cheapest expected
 * cost -> fallback order (issue 4).
 *
 * Inputs: the request as the policy sees it (tg_policy_ctx: team, key, requested model,
 * endpoint, estimated input tokens, output cap, required capabilities, budget used,
 * headers), plus what only the proxy knows: which providers are usable right now, the
 * time (price versions), and the recent average output of this team and alias.
 *
 * Steps:
 *   1. the requested name: a catalog model ("gpt-4o"), "PROVIDER/MODEL" (a catalog model
 *      pinned to a configured provider), or a policy alias ("auto").  Anything else is
 *      404 model_not_found.
 *   2. the first policy rule that matches; a deny rule ends with 403.
 *   3. candidates: the rule's list ("$requested" = the requested catalog model).  A
 *      concrete model the client named is never replaced unless the rule says
 *      "substitute": true; then only that model is tried.
 *   4. each candidate is excluded with a reason, or priced: the input estimate (exact
 *      tokenizer, or o200k count x the model's safety factor), the expected output
 *      min(request cap, model max output, team/alias running average, rule default), the
 *      price version in effect and its long-context tier -> expected cost in nano-dollars;
 *      the worst case (input + output cap) is what quotas reserve.
 *   5. order: cheapest (expected cost, ties by position in the rule then by name),
 *      ordered (the rule's order) or weighted (a weighted draw, then by weight).
 * Nothing here allocates: a decision is a fixed-size struct on the caller's stack. */
#ifndef TG_ROUTE_H
#define TG_ROUTE_H
#include "policies/catalog.h"
#include "policies/policy.h"

#include <stdbool.h>
#include <stdint.h>

#define TG_ROUTE_MAX_CANDS 512     /* candidates considered per request (rest ignored) */
#define TG_ROUTE_WHY_MAX 160
#define TG_ROUTE_DEFAULT_MAX_OUTPUT 4096 /* worst-case output when neither the request nor
                                            the catalog gives a cap */

typedef struct {
    const tg_cat_model *model;
    const char *provider;       /* the provider it goes to (pinned, or the model's) */
    const tg_cat_version *price;/* the price version in effect; NULL when none */
    int64_t input_tokens;       /* estimate for this model (factor applied) */
    int64_t expected_output;    /* tokens */
    int64_t output_cap;         /* worst-case output: the request's cap, else the model's
                                   max output, else TG_ROUTE_DEFAULT_MAX_OUTPUT */
    int64_t expected_cost;      /* nano-dollars; -1 when excluded before pricing */
    int64_t worst_cost;         /* input + output_cap at list price; -1 likewise */
    int weight;
    bool excluded;
    char why[TG_ROUTE_WHY_MAX]; /* the exclusion reason; "" when eligible */
} tg_route_cand;

typedef enum {
    TG_ROUTE_OK = 0,
    TG_ROUTE_UNKNOWN_MODEL, /* 404: neither a catalog model nor an alias */
    TG_ROUTE_DENIED,        /* 403: a deny rule matched */
    TG_ROUTE_NO_CANDIDATE,  /* 400: every candidate excluded (reasons in cands) */
} tg_route_status;

typedef struct {
    tg_route_status status;
    const tg_policy_rule *rule;   /* the rule that matched (NULL for UNKNOWN_MODEL) */
    const char *requested;        /* as the client named it */
    bool concrete;                /* the client named a catalog model */
    int64_t input_tokens;         /* the raw estimate (o200k count of the body) */
    uint32_t caps;                /* required capabilities */
    int ncands;
    tg_route_cand cands[TG_ROUTE_MAX_CANDS];
    int norder;                   /* eligible candidates, attempt order (cands indices) */
    int order[TG_ROUTE_MAX_CANDS];
    char message[TG_ROUTE_WHY_MAX * 2]; /* for a non-OK status: what the client is told */
    char pinned[TG_CAT_NAME_MAX]; /* the provider a "PROVIDER/MODEL" name pins, or "" */
} tg_route_decision;

/* What the proxy tells the router about one request. */
typedef struct {
    tg_policy_ctx ctx;            /* ctx.model: the requested name */
    /* Is provider `name` configured and holding its key?  NULL: every provider is.  On
     * false, writes the reason into why[TG_ROUTE_WHY_MAX]. */
    bool (*provider_ok)(void *pctx, const char *name, char *why);
    void *pctx;
    /* "PROVIDER/" prefixes name configured providers?  NULL: no pinning. */
    bool (*provider_exists)(void *pctx, const char *name);
    /* Input tokens with the cl100k tokenizer (models that use it); NULL or < 0: use the
     * o200k estimate for them too. */
    int64_t (*count_cl100k)(void *cctx);
    void *cctx;
    int64_t now;                  /* UTC seconds: picks price versions */
    uint64_t rand;                /* a random draw for the weighted objective */
} tg_route_input;

/* For tg_route_input.count_cl100k: the body's prompt tokens with the cl100k tokenizer
 * (cctx: a tg_route_body); -1 when the body cannot be counted. */
typedef struct {
    const struct cJSON *body;
    int kind; /* tg_count_kind */
} tg_route_body;
int64_t tg_route_count_cl100k(void *cctx);

/* Decides the route for `in` with `cat` and `pol` (pol compiled against cat).  Fills *d
 * completely and returns d->status. */
tg_route_status tg_route_decide(const tg_catalog *cat, const tg_policy *pol,
                                const tg_route_input *in, tg_route_decision *d);

/* The decision as JSON (`tollgate route`, the admin API): malloc'd string or NULL. */
char *tg_route_decision_json(const tg_route_decision *d);

/* Running average of output tokens per (team, requested name), shared by all threads:
 * observe after each answered request, read during decisions (-1 when none yet). */
void tg_route_observe_output(const char *team, const char *requested, int64_t output);
int64_t tg_route_avg_output(const char *team, const char *requested);

/* ------------------------------------------------------------------ snapshots
 * A routing snapshot is one catalog with the policy compiled against it.  The proxy holds
 * the current one; each request takes a reference at its start and keeps that snapshot
 * to its end, so a reload never changes a request in flight.  Swaps are atomic. */
typedef struct tg_route_snapshot {
    tg_catalog *catalog;
    tg_policy *policy;
    int64_t loaded_at;            /* UTC seconds */
    int refs;                     /* guarded by the snapshot lock */
} tg_route_snapshot;

#define TG_ROUTE_MAX_PROBLEMS 64

/* Builds a snapshot from catalog sources (texts[i] of lens[i] bytes, labelled names[i] in
 * problems, loaded over the built-in catalog in order) and a policy text (NULL: the
 * built-in policy) labelled policy_name.  On any problem returns NULL and writes every
 * problem (up to maxprobs, one line each) into probs; *nprobs gets the count. */
tg_route_snapshot *tg_route_snapshot_build(const char *const *texts, const size_t *lens,
                                           const char *const *names, int ntexts,
                                           const char *policy_text, size_t policy_len,
                                           const char *policy_name, char (*probs)[512],
                                           int maxprobs, int *nprobs);

/* Installs `s` as current (the previous one is freed when its last request ends). */
void tg_route_install(tg_route_snapshot *s);

/* The current snapshot with a reference taken (NULL if none installed). */
tg_route_snapshot *tg_route_acquire(void);

/* Drops a reference taken by tg_route_acquire; frees a replaced snapshot at zero. */
void tg_route_release(tg_route_snapshot *s);

/* Frees a snapshot that was never installed. */
void tg_route_snapshot_free(tg_route_snapshot *s);

#endif
