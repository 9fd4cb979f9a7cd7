/* tg_route: routing decisions, the running output averages and the routing snapshots
 * (see route.h for the steps of a decision).
 *
 * A decision touches only the snapshot (read-only), the caller's input and the decision
 * struct: no allocation, no lock except the output-average table's (one short critical
 * section per candidate-set, not per candidate). */
#include "router/route.h"

#include "common/buf.h"
#include "router/count.h"

#include <cjson/cJSON.h>
#include <pthread.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#define AVG_SLOTS 4096          /* running averages kept (direct-mapped, power of two) */
#define AVG_KEY_MAX 160         /* team + requested name, truncated */
#define AVG_SHIFT 3             /* EWMA weight 1/8 for each new observation */

/* ------------------------------------------------------------------ helpers */

static uint32_t endpoint_bit(const char *ep)
{
    static const struct {
        const char *name;
        uint32_t bit;
    } map[] = {{"chat", TG_CAT_EP_CHAT},           {"completions", TG_CAT_EP_COMPLETIONS},
               {"embeddings", TG_CAT_EP_EMBEDDINGS}, {"responses", TG_CAT_EP_RESPONSES},
               {"messages", TG_CAT_EP_MESSAGES}};
    for (size_t i = 0; ep && i < sizeof map / sizeof *map; i++)
        if (strcmp(ep, map[i].name) == 0)
            return map[i].bit;
    return 0;
}

/* Appends `text` to the bounded string out[n] whose length is *len (cut at n - 1). */
static void str_add(char *out, size_t n, size_t *len, const char *text)
{
    size_t k = strlen(text);
    if (*len + k >= n)
        k = n - 1 - *len;
    memcpy(out + *len, text, k);
    *len += k;
    out[*len] = '\0';
}

/* v in decimal into buf (TG_INT_TEXT_SIZE bytes); returns buf.  No printf: exclusion
 * reasons are built for every excluded candidate of every decision. */
static const char *i64_text(int64_t v, char buf[TG_INT_TEXT_SIZE])
{
    tg_int_text(v, buf);
    return buf;
}

/* Appends the names of the capability bits in `caps` to out ("vision, tools"). */
static void caps_text(uint32_t caps, char *out, size_t n)
{
    size_t len = 0;
    out[0] = '\0';
    for (int i = 0; i < TG_CAP_COUNT; i++) {
        const char *name = (caps & (1u << i)) ? tg_cat_cap_name(1u << i) : NULL;
        if (!name)
            continue;
        if (len)
            str_add(out, n, &len, ", ");
        str_add(out, n, &len, name);
    }
}

static int64_t min_pos(int64_t a, int64_t b)
{
    if (a < 0)
        return b;
    if (b < 0)
        return a;
    return a < b ? a : b;
}

static int64_t add_sat(int64_t a, int64_t b)
{
    return a > INT64_MAX - b ? INT64_MAX : a + b;
}

/* ------------------------------------------------------------------ candidates */

/* Candidates already added, by model: an open-addressing set of cands indices, so adding
 * n candidates costs O(n) rather than O(n^2) (a rule may list hundreds of models). */
#define SEEN_SLOTS (2 * TG_ROUTE_MAX_CANDS) /* power of two, at most half full */

typedef struct {
    int16_t slot[SEEN_SLOTS]; /* cands index, or -1 */
} seen_set;

static unsigned seen_hash(const tg_cat_model *m)
{
    uint64_t h = (uint64_t)(uintptr_t)m * 0x9E3779B97F4A7C15ull;
    return (unsigned)(h >> 32) & (SEEN_SLOTS - 1);
}

/* Adds `m` (to `provider`) unless already present; returns the entry or NULL. */
static tg_route_cand *cand_add(tg_route_decision *d, seen_set *seen, const tg_cat_model *m,
                               const char *provider, int weight)
{
    unsigned h = seen_hash(m);
    for (; seen->slot[h] >= 0; h = (h + 1) & (SEEN_SLOTS - 1)) {
        const tg_route_cand *o = &d->cands[seen->slot[h]];
        if (o->model == m && strcmp(o->provider, provider) == 0)
            return NULL;
    }
    if (d->ncands == TG_ROUTE_MAX_CANDS)
        return NULL;
    seen->slot[h] = (int16_t)d->ncands;
    tg_route_cand *c = &d->cands[d->ncands++];
    c->model = m;
    c->provider = provider;
    c->price = NULL;
    c->input_tokens = c->expected_output = c->output_cap = 0;
    c->weight = weight > 0 ? weight : 1;
    c->expected_cost = c->worst_cost = -1;
    c->excluded = false;
    c->why[0] = '\0';
    return c;
}

/* Marks `c` excluded with the reason, the concatenation of the non-NULL parts; returns
 * false (for "return exclude(...)"). */
static bool exclude(tg_route_cand *c, const char *a, const char *b, const char *d, const char *e)
{
    const char *parts[] = {a, b, d, e};
    size_t len = 0;
    c->excluded = true;
    c->why[0] = '\0';
    for (int i = 0; i < 4; i++)
        if (parts[i])
            str_add(c->why, sizeof c->why, &len, parts[i]);
    return false;
}

/* The input estimate for `m`: exact tokenizer or o200k count x safety factor. */
static int64_t input_for(const tg_route_input *in, const tg_cat_model *m, int64_t *cl100k)
{
    int64_t base = in->ctx.input_tokens;
    if (strcmp(m->tokenizer, "cl100k_base") == 0 && in->count_cl100k) {
        if (*cl100k == -2)
            *cl100k = in->count_cl100k(in->cctx);
        return *cl100k >= 0 ? *cl100k : base;
    }
    if (strcmp(m->tokenizer, "estimate") == 0 && m->estimate_permille > 0)
        return (base * m->estimate_permille + 999) / 1000;
    return base;
}

/* Checks one candidate and prices it; false when it is excluded (with the reason). */
static bool price_cand(const tg_route_input *in, uint32_t ep, const tg_policy_rule *rule,
                       int64_t avg, int64_t *cl100k, tg_route_cand *c)
{
    const tg_cat_model *m = c->model;
    char why[TG_ROUTE_WHY_MAX], n1[24], n2[24];
    if (in->provider_ok && !in->provider_ok(in->pctx, c->provider, why))
        return exclude(c, why, NULL, NULL, NULL);
    if (!(m->endpoints & ep))
        return exclude(c, "does not serve the ", in->ctx.endpoint, " endpoint", NULL);
    uint32_t missing = in->ctx.caps & ~m->caps;
    if (missing) {
        caps_text(missing, why, sizeof why);
        return exclude(c, "lacks ", why, NULL, NULL);
    }
    int64_t cap = in->ctx.max_output_tokens;
    if (cap >= 0 && m->max_output > 0 && cap > m->max_output)
        return exclude(c, "max output ", i64_text(m->max_output, n1),
                       " < requested output cap ", i64_text(cap, n2));
    c->input_tokens = input_for(in, m, cl100k);
    int64_t need = add_sat(c->input_tokens, cap > 0 ? cap : 0);
    if (m->context_window > 0 && need > m->context_window)
        return exclude(c, "context window ", i64_text(m->context_window, n1),
                       " < estimated input + output cap ", i64_text(need, n2));
    c->price = tg_cat_version_at(m, in->now);
    if (!c->price)
        return exclude(c, "no price in effect yet", NULL, NULL, NULL);
    const tg_cat_prices *p = tg_cat_tier(c->price, c->input_tokens);
    if (p->input == TG_CAT_PRICE_UNKNOWN || p->output == TG_CAT_PRICE_UNKNOWN)
        return exclude(c, "no known price (tollgate never routes at an unknown price)", NULL, NULL,
                       NULL);
    bool embed = ep == TG_CAT_EP_EMBEDDINGS;
    c->output_cap = embed ? 0 : cap >= 0 ? cap : m->max_output > 0 ? m->max_output
                                                                  : TG_ROUTE_DEFAULT_MAX_OUTPUT;
    int64_t exp = min_pos(min_pos(cap, m->max_output > 0 ? m->max_output : -1),
                          min_pos(avg, rule->default_output_tokens));
    c->expected_output = embed ? 0 : exp < 0 ? 0 : exp;
    int64_t in_cost = tg_cat_cost(c->input_tokens, p->input);
    c->expected_cost = add_sat(in_cost, tg_cat_cost(c->expected_output, p->output));
    c->worst_cost = add_sat(in_cost, tg_cat_cost(c->output_cap, p->output));
    return true;
}

/* The requested name as a catalog model (maybe "PROVIDER/MODEL"), or NULL. */
static const tg_cat_model *requested_model(const tg_catalog *cat, const tg_route_input *in,
                                           char *provider, size_t n)
{
    const char *name = in->ctx.model;
    const tg_cat_model *m = tg_catalog_find(cat, name);
    if (m) {
        snprintf(provider, n, "%s", m->provider);
        return m;
    }
    const char *slash = strchr(name, '/');
    if (!slash || !in->provider_exists || (size_t)(slash - name) >= n)
        return NULL;
    snprintf(provider, n, "%.*s", (int)(slash - name), name);
    if (!in->provider_exists(in->pctx, provider))
        return NULL;
    return tg_catalog_find(cat, slash + 1);
}

/* Fills d->cands from the rule (or the requested model alone). */
static void collect(tg_route_decision *d, const tg_policy_rule *rule, const tg_cat_model *req,
                    const char *req_provider)
{
    seen_set seen;
    memset(seen.slot, 0xff, sizeof seen.slot);
    if (req && !rule->substitute) {
        cand_add(d, &seen, req, req_provider, 1);
        for (int i = 0; i < rule->ncands; i++) {
            const tg_cat_model *m = rule->cands[i].model;
            if (!m || m == req)
                continue;
            tg_route_cand *c = cand_add(d, &seen, m, m->provider, rule->cands[i].weight);
            if (c)
                (void)exclude(c, "not tried: the client named ", req->name,
                              " and the rule does not allow substitution", NULL);
        }
        return;
    }
    for (int i = 0; i < rule->ncands; i++) {
        const tg_cat_model *m = rule->cands[i].model;
        if (!m && req)
            cand_add(d, &seen, req, req_provider, rule->cands[i].weight);
        else if (m)
            cand_add(d, &seen, m, m->provider, rule->cands[i].weight);
    }
}

/* ------------------------------------------------------------------ ordering */

/* A candidate's place in the cheapest order: (cost, index in the rule), unique keys. */
typedef struct {
    int64_t cost;
    int idx;
} cost_key;

static bool key_before(const cost_key *x, const cost_key *y)
{
    return x->cost != y->cost ? x->cost < y->cost : x->idx < y->idx;
}

/* Bottom-up merge sort of k[0..n) using tmp[n]; O(n log n), no allocation, no callback. */
static void sort_keys(cost_key *k, cost_key *tmp, int n)
{
    for (int w = 1; w < n; w *= 2) {
        for (int lo = 0; lo < n; lo += 2 * w) {
            int mid = lo + w < n ? lo + w : n, hi = lo + 2 * w < n ? lo + 2 * w : n;
            int i = lo, j = mid, o = lo;
            while (i < mid && j < hi)
                tmp[o++] = key_before(&k[j], &k[i]) ? k[j++] : k[i++];
            while (i < mid)
                tmp[o++] = k[i++];
            while (j < hi)
                tmp[o++] = k[j++];
        }
        memcpy(k, tmp, (size_t)n * sizeof *k);
    }
}

/* Cheapest expected cost first; equal costs keep the rule's order. */
static void order_cheapest(tg_route_decision *d)
{
    cost_key keys[TG_ROUTE_MAX_CANDS], tmp[TG_ROUTE_MAX_CANDS];
    for (int i = 0; i < d->norder; i++)
        keys[i] = (cost_key){d->cands[d->order[i]].expected_cost, d->order[i]};
    sort_keys(keys, tmp, d->norder);
    for (int i = 0; i < d->norder; i++)
        d->order[i] = keys[i].idx;
}

static void order_weighted(tg_route_decision *d, uint64_t rnd)
{
    /* by weight, heaviest first (stable), then the draw moves one to the front */
    for (int i = 1; i < d->norder; i++) {
        int v = d->order[i], j = i - 1;
        while (j >= 0 && d->cands[d->order[j]].weight < d->cands[v].weight) {
            d->order[j + 1] = d->order[j];
            j--;
        }
        d->order[j + 1] = v;
    }
    uint64_t total = 0;
    for (int i = 0; i < d->norder; i++)
        total += (uint64_t)d->cands[d->order[i]].weight;
    if (total == 0)
        return;
    uint64_t r = rnd % total;
    for (int i = 0; i < d->norder; i++) {
        uint64_t w = (uint64_t)d->cands[d->order[i]].weight;
        if (r < w) {
            int pick = d->order[i];
            memmove(&d->order[1], &d->order[0], (size_t)i * sizeof d->order[0]);
            d->order[0] = pick;
            return;
        }
        r -= w;
    }
}

/* ------------------------------------------------------------------ decision */

int64_t tg_route_count_cl100k(void *cctx)
{
    const tg_route_body *b = cctx;
    tg_count_result cr;
    char err[64];
    return tg_count_request(b->body, (tg_count_kind)b->kind, "gpt-4", &cr, err, sizeof err) ==
                   TG_COUNT_OK
               ? cr.tokens
               : -1;
}

static void no_candidate_message(tg_route_decision *d)
{
    size_t len = (size_t)snprintf(d->message, sizeof d->message,
                                  "No model can serve this request (rule '%s'):",
                                  d->rule->id);
    for (int i = 0; i < d->ncands && len < sizeof d->message; i++) {
        int w = snprintf(d->message + len, sizeof d->message - len, "%s %s: %s",
                         i ? ";" : "", d->cands[i].model->name, d->cands[i].why);
        if (w < 0)
            break;
        len += (size_t)w;
    }
    if (d->ncands == 0 && len < sizeof d->message)
        snprintf(d->message + len, sizeof d->message - len, " the rule names no model for "
                 "'%s'", d->requested);
}

tg_route_status tg_route_decide(const tg_catalog *cat, const tg_policy *pol,
                                const tg_route_input *in, tg_route_decision *d)
{
    d->status = TG_ROUTE_OK;
    d->rule = NULL;
    d->requested = in->ctx.model;
    d->input_tokens = in->ctx.input_tokens;
    d->caps = in->ctx.caps;
    d->ncands = d->norder = 0;
    d->message[0] = '\0';
    const tg_cat_model *req = requested_model(cat, in, d->pinned, sizeof d->pinned);
    d->concrete = req != NULL;
    if (!req && !tg_policy_is_alias(pol, in->ctx.model)) {
        snprintf(d->message, sizeof d->message, "The model '%.200s' does not exist: it is "
                 "neither in tollgate's catalog nor a policy alias.", in->ctx.model);
        return d->status = TG_ROUTE_UNKNOWN_MODEL;
    }
    d->rule = tg_policy_match(pol, &in->ctx);
    if (d->rule->deny) {
        snprintf(d->message, sizeof d->message, "%s", d->rule->deny_message);
        return d->status = TG_ROUTE_DENIED;
    }
    collect(d, d->rule, req, d->pinned);
    int64_t avg = in->ctx.team ? tg_route_avg_output(in->ctx.team, in->ctx.model) : -1;
    int64_t cl100k = -2;
    uint32_t ep = endpoint_bit(in->ctx.endpoint);
    if (ep & (TG_CAT_EP_CHAT | TG_CAT_EP_MESSAGES)) /* tollgate translates between these */
        ep = TG_CAT_EP_CHAT | TG_CAT_EP_MESSAGES;
    for (int i = 0; i < d->ncands; i++) {
        if (!d->cands[i].excluded && price_cand(in, ep, d->rule, avg, &cl100k, &d->cands[i]))
            d->order[d->norder++] = i;
    }
    if (d->norder == 0) {
        no_candidate_message(d);
        return d->status = TG_ROUTE_NO_CANDIDATE;
    }
    if (d->rule->objective == TG_OBJ_CHEAPEST)
        order_cheapest(d);
    else if (d->rule->objective == TG_OBJ_WEIGHTED)
        order_weighted(d, in->rand);
    return d->status;
}

/* ------------------------------------------------------------------ decision as JSON */

/* Adds `nano` as a JSON number in USD with nine decimals, exactly (no binary float). */
static void add_usd(cJSON *o, const char *name, int64_t nano)
{
    if (nano < 0) {
        cJSON_AddNullToObject(o, name);
        return;
    }
    char txt[32];
    snprintf(txt, sizeof txt, "%lld.%09lld", (long long)(nano / 1000000000),
             (long long)(nano % 1000000000));
    cJSON_AddRawToObject(o, name, txt);
}

static cJSON *cand_json(const tg_route_cand *c)
{
    cJSON *o = cJSON_CreateObject();
    if (!o)
        return NULL;
    cJSON_AddStringToObject(o, "model", c->model->name);
    cJSON_AddStringToObject(o, "provider", c->provider);
    cJSON_AddStringToObject(o, "upstream_model", c->model->upstream_model);
    if (c->price) {
        cJSON_AddStringToObject(o, "price_version", c->price->id);
        cJSON_AddNumberToObject(o, "estimated_input_tokens", (double)c->input_tokens);
        cJSON_AddNumberToObject(o, "expected_output_tokens", (double)c->expected_output);
        cJSON_AddNumberToObject(o, "output_cap", (double)c->output_cap);
    }
    add_usd(o, "estimated_cost_usd", c->expected_cost);
    add_usd(o, "worst_case_cost_usd", c->worst_cost);
    if (c->excluded)
        cJSON_AddStringToObject(o, "excluded", c->why);
    else
        cJSON_AddNullToObject(o, "excluded");
    return o;
}

static const char *status_name(tg_route_status st)
{
    switch (st) {
    case TG_ROUTE_OK: return "ok";
    case TG_ROUTE_UNKNOWN_MODEL: return "unknown_model";
    case TG_ROUTE_DENIED: return "denied";
    case TG_ROUTE_NO_CANDIDATE: return "no_candidate";
    }
    return "?";
}

char *tg_route_decision_json(const tg_route_decision *d)
{
    static const char *const objectives[] = {"cheapest", "ordered", "weighted"};
    cJSON *o = cJSON_CreateObject(), *arr;
    if (!o)
        return NULL;
    cJSON_AddStringToObject(o, "status", status_name(d->status));
    const tg_route_cand *best = d->norder ? &d->cands[d->order[0]] : NULL;
    if (best) {
        cJSON_AddStringToObject(o, "model", best->model->name);
        cJSON_AddStringToObject(o, "provider", best->provider);
    } else {
        cJSON_AddNullToObject(o, "model");
    }
    cJSON_AddStringToObject(o, "requested", d->requested ? d->requested : "");
    if (d->rule) {
        cJSON_AddStringToObject(o, "rule", d->rule->id);
        cJSON_AddStringToObject(o, "objective", objectives[d->rule->objective]);
    } else {
        cJSON_AddNullToObject(o, "rule");
    }
    cJSON_AddNumberToObject(o, "estimated_input_tokens", (double)d->input_tokens);
    add_usd(o, "estimated_cost_usd", best ? best->expected_cost : -1);
    arr = cJSON_AddArrayToObject(o, "required_capabilities");
    for (int i = 0; arr && i < TG_CAP_COUNT; i++)
        if (d->caps & (1u << i))
            cJSON_AddItemToArray(arr, cJSON_CreateString(tg_cat_cap_name(1u << i)));
    int attempts = d->rule && d->norder > d->rule->max_attempts ? d->rule->max_attempts
                                                                 : d->norder;
    arr = cJSON_AddArrayToObject(o, "attempts");
    for (int i = 0; arr && i < attempts; i++)
        cJSON_AddItemToArray(arr, cJSON_CreateString(d->cands[d->order[i]].model->name));
    arr = cJSON_AddArrayToObject(o, "candidates");
    for (int i = 0; arr && i < d->ncands; i++)
        cJSON_AddItemToArray(arr, cand_json(&d->cands[i]));
    if (d->message[0])
        cJSON_AddStringToObject(o, "message", d->message);
    char *s = cJSON_Print(o);
    cJSON_Delete(o);
    return s;
}

/* ------------------------------------------------------------------ output averages */

typedef struct {
    char key[AVG_KEY_MAX];
    int64_t avg;
} avg_slot;

static avg_slot avg_table[AVG_SLOTS];
static pthread_mutex_t avg_lock = PTHREAD_MUTEX_INITIALIZER;

/* "team\x1frequested" into key; returns its slot. */
static avg_slot *avg_find(const char *team, const char *requested, char *key)
{
    snprintf(key, AVG_KEY_MAX, "%s\x1f%s", team, requested);
    uint32_t h = 2166136261u; /* FNV-1a */
    for (const char *p = key; *p; p++)
        h = (h ^ (unsigned char)*p) * 16777619u;
    return &avg_table[h & (AVG_SLOTS - 1)];
}

void tg_route_observe_output(const char *team, const char *requested, int64_t output)
{
    char key[AVG_KEY_MAX];
    if (!team || !requested || output < 0)
        return;
    pthread_mutex_lock(&avg_lock);
    avg_slot *s = avg_find(team, requested, key);
    if (strcmp(s->key, key) != 0) {
        memcpy(s->key, key, sizeof key);
        s->avg = output;
    } else {
        s->avg += (output - s->avg) / (1 << AVG_SHIFT);
    }
    pthread_mutex_unlock(&avg_lock);
}

int64_t tg_route_avg_output(const char *team, const char *requested)
{
    char key[AVG_KEY_MAX];
    int64_t v = -1;
    if (!team || !requested)
        return -1;
    pthread_mutex_lock(&avg_lock);
    avg_slot *s = avg_find(team, requested, key);
    if (strcmp(s->key, key) == 0)
        v = s->avg;
    pthread_mutex_unlock(&avg_lock);
    return v;
}

/* ------------------------------------------------------------------ snapshots */

static pthread_mutex_t snap_lock = PTHREAD_MUTEX_INITIALIZER;
static tg_route_snapshot *snap_current;

void tg_route_snapshot_free(tg_route_snapshot *s)
{
    if (!s)
        return;
    tg_policy_free(s->policy);
    tg_catalog_free(s->catalog);
    free(s);
}

tg_route_snapshot *tg_route_snapshot_build(const char *const *texts, const size_t *lens,
                                           const char *const *names, int ntexts,
                                           const char *policy_text, size_t policy_len,
                                           const char *policy_name, char (*probs)[512],
                                           int maxprobs, int *nprobs)
{
    enum { MAXP = TG_ROUTE_MAX_PROBLEMS };
    tg_cat_problem cp[MAXP];
    tg_policy_problem pp[MAXP];
    int n = 0, total = 0;
    tg_catalog *cat = tg_catalog_load_texts(texts, lens, names, ntexts, true, cp, MAXP, &n);
    for (int i = 0; i < n && i < MAXP && total < maxprobs; i++)
        snprintf(probs[total++], 512, "%.511s", cp[i].text);
    *nprobs = n;
    if (!cat)
        return NULL;
    tg_policy *pol = tg_policy_compile(policy_text, policy_len,
                                       policy_name ? policy_name : "policy", cat, pp, MAXP, &n);
    for (int i = 0; i < n && i < MAXP && total < maxprobs; i++)
        snprintf(probs[total++], 512, "%.511s", pp[i].text);
    *nprobs += n;
    tg_route_snapshot *s = pol ? calloc(1, sizeof *s) : NULL;
    if (!s) {
        if (pol && total < maxprobs)
            snprintf(probs[total++], 512, "out of memory");
        *nprobs += pol ? 1 : 0;
        tg_policy_free(pol);
        tg_catalog_free(cat);
        return NULL;
    }
    s->catalog = cat;
    s->policy = pol;
    s->loaded_at = (int64_t)time(NULL);
    return s;
}

void tg_route_install(tg_route_snapshot *s)
{
    pthread_mutex_lock(&snap_lock);
    tg_route_snapshot *old = snap_current;
    snap_current = s;
    if (s)
        s->refs++; /* the "current" reference */
    bool free_old = old && --old->refs == 0;
    pthread_mutex_unlock(&snap_lock);
    if (free_old)
        tg_route_snapshot_free(old);
}

tg_route_snapshot *tg_route_acquire(void)
{
    pthread_mutex_lock(&snap_lock);
    tg_route_snapshot *s = snap_current;
    if (s)
        s->refs++;
    pthread_mutex_unlock(&snap_lock);
    return s;
}

void tg_route_release(tg_route_snapshot *s)
{
    if (!s)
        return;
    pthread_mutex_lock(&snap_lock);
    bool last = --s->refs == 0;
    pthread_mutex_unlock(&snap_lock);
    if (last)
        tg_route_snapshot_free(s);
}
