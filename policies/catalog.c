/* tg_cat: the model catalog (see catalog.h for the formats and the public contract).
 *
 * How loading works: every source (the built-in catalog, then each file or text) is
 * parsed with cJSON and walked by common/jsonchk's schema walker, so each problem becomes
 * one "FILE: $.json.path: what is wrong" line and the walk goes on.  A source's shape
 * picks its reader: an object with a "models" key is tollgate's own format, an object
 * whose entries carry LiteLLM fields (per-token prices, litellm_provider) is LiteLLM's.
 * Each model read is appended to one array with a sequence number; a source's own models
 * are then sorted by name to find names given twice in one file (a problem), and at the
 * end all of them are sorted by (name, sequence) and the last definition of each name is
 * kept: later sources replace earlier ones whole.  The result is a sorted array, so a
 * lookup is a binary search.  Nothing is kept when any problem was found.
 *
 * Money: prices are int64 nano-dollars per million tokens.  A price written as a JSON
 * number is taken through the shortest decimal text that reads back as the same double
 * ("1.25e-06"), and that text is scaled by a power of ten with integer arithmetic,
 * rounding half up: so 1.25e-06 USD per token is exactly 1,250,000,000 nano-dollars per
 * million tokens, with no binary-fraction residue.  Decimal strings ("0.075") go through
 * the same scaler.  Costs multiply in 128 bits and saturate at INT64_MAX.
 *
 * LiteLLM mapping (per entry): input_cost_per_token -> input, cache_read_input_token_cost
 * -> cached_input, cache_creation_input_token_cost -> cache_write, ..._above_1hr ->
 * cache_write_1h, output_cost_per_token -> output, output_cost_per_reasoning_token ->
 * reasoning; FIELD_above_Nk_tokens -> a long-context tier above N*1000 prompt tokens whose
 * missing prices inherit the base ones.  Fields tollgate does not use are ignored (LiteLLM
 * adds new ones all the time); the fields it uses must have the right type.  Entries of
 * modes other than chat, completion, embedding and responses are skipped, as are
 * "sample_spec" and non-object entries.  An entry without an input or output price is
 * kept with that price unknown (the router never routes to an unpriced model).
 *
 * Tokenizers (when a source does not name one): OpenAI models get their real encoding from
 * router/bpe's model table (o200k_base for gpt-4o, gpt-4.1, gpt-5*, o1/o3/o4* and the like,
 * cl100k_base for gpt-4, gpt-3.5 and text-embedding-3*), and o200k_base when the table
 * does not know the model yet (a newer family).  Every other vendor's tokenizer is not
 * public, so its models get "estimate": the o200k_base count times 1.15
 * (DEFAULT_ESTIMATE_PERMILLE), a safety factor so that a budget check made on the
 * estimate rarely falls short of what the vendor then bills (SPEC: "Where a model's
 * tokenizer is not public the input estimate carries a safety factor").  A catalog may set
 * its own factor per model (the built-in one uses 1.55 for Claude 4.7 and later, whose
 * tokenizer counts up to 35% more tokens than the earlier one). */
#include "policies/catalog.h"

#include "common/buf.h"
#include "common/jsonchk.h"
#include "quotas/money.h"
#include "router/bpe.h"

#include <cjson/cJSON.h>
#include <ctype.h>
#include <openssl/evp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#define TOLLGATE_SCALE 9    /* USD per million tokens -> nano-dollars per million: x 1e9 */
#define LITELLM_SCALE 15    /* USD per token -> nano-dollars per million tokens: x 1e15 */
#define FACTOR_SCALE 3      /* estimate_factor -> permille */
#define PRICE_MAX_NANO (INT64_C(1000000) * INT64_C(1000000000)) /* 1,000,000 USD per M */
#define TOKENS_MAX INT64_C(1000000000)    /* context windows, output caps, tier bounds */
#define DEFAULT_ESTIMATE_PERMILLE 1150    /* see the top of this file */
#define EXACT_PERMILLE 1000
#define ESTIMATE_PERMILLE_MIN 500
#define ESTIMATE_PERMILLE_MAX 4000
#define LABEL_MAX 64                      /* one source's catalog_version */
#define VERSION_TEXT_MAX 4096             /* the joined catalog version label */
#define DEC_DIGITS_MAX 40                 /* significant digits kept by the decimal scaler */
#define EXP_MAX 400                       /* |exponent| the decimal scaler looks at */
#define HASH_HEX 8                        /* hex digits of the content hash in the label */
#define PRICE_INHERIT (INT64_MIN + 1)     /* while reading: a tier price not given */
#define BUILTIN_NAME "built-in catalog"
#define NENDPOINTS 5                      /* TG_CAT_EP_* */

/* The price fields of one tier, in the order of the formats' field tables. */
enum { P_INPUT, P_CACHED, P_WRITE, P_WRITE_1H, P_OUTPUT, P_REASONING, NPRICES };

__extension__ typedef unsigned __int128 u128;

/* The built-in catalog, embedded at build time (policies/gen/gen_embed.py). */
extern const char tg_default_catalog_json[];
extern const size_t tg_default_catalog_json_len;

struct tg_catalog {
    tg_cat_model *models; /* sorted by name */
    int n;
    char *version;
};

/* ---------------------------------------------------------------- names and tables */

static const char *const cap_names[TG_CAP_COUNT] = {
    "tools",     "parallel_tools", "vision",         "audio_in",  "audio_out",  "json_mode",
    "structured_outputs", "reasoning", "prompt_caching", "streaming", "web_search",
    "file_input"};

static const char *const endpoint_names[NENDPOINTS] = {"chat", "completions", "embeddings",
                                                       "responses", "messages"};
static const char *const endpoint_paths[NENDPOINTS] = {
    "/v1/chat/completions", "/v1/completions", "/v1/embeddings", "/v1/responses",
    "/v1/messages"};

static const char *const price_names[NPRICES] = {"input",          "cached_input",
                                                 "cache_write",    "cache_write_1h",
                                                 "output",         "reasoning"};

static int64_t *price_slot(tg_cat_prices *p, int i)
{
    int64_t *slots[NPRICES] = {&p->input,          &p->cached_input, &p->cache_write,
                               &p->cache_write_1h, &p->output,       &p->reasoning};
    return slots[i];
}

const char *tg_cat_cap_name(uint32_t bit)
{
    for (int i = 0; i < TG_CAP_COUNT; i++)
        if (bit == 1u << i)
            return cap_names[i];
    return NULL;
}

uint32_t tg_cat_cap_parse(const char *name)
{
    for (int i = 0; i < TG_CAP_COUNT; i++)
        if (strcmp(name, cap_names[i]) == 0)
            return 1u << i;
    return 0;
}

/* Model and upstream names: 1 to TG_CAT_NAME_MAX - 1 printable ASCII bytes, no spaces. */
static bool model_name_valid(const char *s)
{
    size_t n = strlen(s);
    if (n == 0 || n >= TG_CAT_NAME_MAX)
        return false;
    for (; *s; s++)
        if ((unsigned char)*s <= 0x20 || (unsigned char)*s >= 0x7f)
            return false;
    return true;
}

/* Provider and tier names: 1 to TG_CAT_NAME_MAX - 1 of A-Z a-z 0-9 _ . - */
static bool word_valid(const char *s)
{
    size_t n = strlen(s);
    if (n == 0 || n >= TG_CAT_NAME_MAX)
        return false;
    for (; *s; s++)
        if (!isalnum((unsigned char)*s) && !strchr("_.-", *s))
            return false;
    return true;
}

static void copy_name(char *dst, const char *src)
{
    snprintf(dst, TG_CAT_NAME_MAX, "%s", src);
}

/* ---------------------------------------------------------------- decimal numbers */

typedef enum { DEC_OK = 0, DEC_SYNTAX, DEC_RANGE } dec_status;

typedef struct {
    char dig[DEC_DIGITS_MAX]; /* significant digits, no leading zeros */
    int nd;
    int exp10;                /* value = int(dig) x 10^exp10 */
} decimal;

/* Reads DIGITS[.DIGITS] and, when allow_exp, [(e|E)[+|-]DIGITS] into *d.  Digits past
 * DEC_DIGITS_MAX are dropped: that never changes a half-up rounding to at most 19 digits. */
static bool dec_read(const char *s, bool allow_exp, decimal *d)
{
    d->nd = 0;
    d->exp10 = 0;
    if (!isdigit((unsigned char)*s))
        return false;
    for (; isdigit((unsigned char)*s); s++) {
        if (d->nd < DEC_DIGITS_MAX && (d->nd > 0 || *s != '0'))
            d->dig[d->nd++] = *s;
        else if (d->nd == DEC_DIGITS_MAX)
            d->exp10++;
    }
    if (*s == '.') {
        if (!isdigit((unsigned char)*++s))
            return false;
        for (; isdigit((unsigned char)*s); s++) {
            if (d->nd == DEC_DIGITS_MAX)
                continue;
            if (d->nd > 0 || *s != '0')
                d->dig[d->nd++] = *s;
            d->exp10--;
        }
    }
    if (allow_exp && (*s == 'e' || *s == 'E')) {
        int sign = *++s == '-' ? -1 : 1;
        s += *s == '-' || *s == '+';
        if (!isdigit((unsigned char)*s))
            return false;
        int e = 0;
        for (; isdigit((unsigned char)*s); s++)
            if (e < EXP_MAX)
                e = e * 10 + (*s - '0');
        d->exp10 += sign * e;
    }
    return *s == '\0';
}

/* int(dig[0..n)), n <= 19 so that it fits. */
static u128 dec_prefix(const decimal *d, int n)
{
    u128 v = 0;
    for (int i = 0; i < n; i++)
        v = v * 10 + (unsigned)(d->dig[i] - '0');
    return v;
}

/* The value of `s` times 10^scale, rounded half up, into *out (<= max). */
static dec_status dec_scaled(const char *s, bool allow_exp, int scale, int64_t max,
                             int64_t *out)
{
    decimal d;
    if (!dec_read(s, allow_exp, &d))
        return DEC_SYNTAX;
    int e = d.exp10 + scale;
    u128 v;
    if (d.nd == 0) {
        v = 0;
    } else if (e >= 0) {
        if (d.nd + e > 19)
            return DEC_RANGE;
        v = dec_prefix(&d, d.nd);
        for (int i = 0; i < e; i++)
            v *= 10;
    } else {
        int keep = d.nd + e; /* digits left of the rounding point */
        if (keep > 19)
            return DEC_RANGE;
        v = keep < 0 ? 0 : dec_prefix(&d, keep);
        if (keep >= 0 && d.dig[keep] >= '5')
            v++;
    }
    if (v > (u128)max)
        return DEC_RANGE;
    *out = (int64_t)v;
    return DEC_OK;
}

/* The shortest "%.Ne" text that reads back as exactly `x`. */
static void shortest_text(double x, char *buf, size_t n)
{
    for (int prec = 1; prec <= 17; prec++) {
        snprintf(buf, n, "%.*e", prec - 1, x);
        if (strtod(buf, NULL) == x)
            return;
    }
}

/* A non-negative JSON number times 10^scale, exactly as its shortest decimal text. */
static dec_status number_scaled(double x, int scale, int64_t max, int64_t *out)
{
    char text[40];
    if (!(x >= 0)) /* negative or NaN */
        return DEC_SYNTAX;
    if (x == 0) { /* also -0, whose text has a sign */
        *out = 0;
        return DEC_OK;
    }
    shortest_text(x, text, sizeof text);
    return dec_scaled(text, true, scale, max, out);
}

/* ---------------------------------------------------------------- cost and lookup */

int64_t tg_cat_cost(int64_t tokens, int64_t nano_per_million)
{
    if (nano_per_million == TG_CAT_PRICE_UNKNOWN)
        return TG_CAT_PRICE_UNKNOWN;
    if (tokens <= 0 || nano_per_million <= 0)
        return 0;
    u128 v = (u128)(uint64_t)tokens * (uint64_t)nano_per_million + 500000;
    v /= 1000000;
    return v > (u128)INT64_MAX ? INT64_MAX : (int64_t)v;
}

const tg_cat_version *tg_cat_version_at(const tg_cat_model *m, int64_t ts)
{
    const tg_cat_version *best = NULL;
    for (int i = 0; i < m->nversions && m->versions[i].effective_from <= ts; i++)
        best = &m->versions[i];
    return best;
}

const tg_cat_prices *tg_cat_tier(const tg_cat_version *v, int64_t input_tokens)
{
    const tg_cat_prices *t = &v->tiers[0];
    for (int i = 1; i < v->ntiers && v->tiers[i].above_tokens < input_tokens; i++)
        t = &v->tiers[i];
    return t;
}

int tg_catalog_count(const tg_catalog *c)
{
    return c->n;
}

const tg_cat_model *tg_catalog_at(const tg_catalog *c, int i)
{
    return i >= 0 && i < c->n ? &c->models[i] : NULL;
}

const tg_cat_model *tg_catalog_find(const tg_catalog *c, const char *name)
{
    int lo = 0, hi = c->n;
    while (lo < hi) {
        int mid = lo + (hi - lo) / 2;
        int cmp = strcmp(c->models[mid].name, name);
        if (cmp == 0)
            return &c->models[mid];
        if (cmp < 0)
            lo = mid + 1;
        else
            hi = mid;
    }
    return NULL;
}

const char *tg_catalog_version(const tg_catalog *c)
{
    return c->version;
}

void tg_catalog_free(tg_catalog *c)
{
    if (!c)
        return;
    free(c->models);
    free(c->version);
    free(c);
}

/* ---------------------------------------------------------------- the builder */

typedef struct {
    tg_cat_model m;
    int seq; /* order of definition over all sources */
} entry;

typedef struct {
    entry *e;
    int n, cap;
    tg_cat_problem *probs;
    int maxprobs, nprobs;
    tg_buf labels;      /* catalog_version values joined with "+" */
    bool all_labelled;  /* every source so far had a catalog_version */
    EVP_MD_CTX *sha;    /* over every source text */
    bool nomem;
} builder;

/* A checker for source `name` that adds to the builder's problems. */
static void source_begin(builder *b, tg_jc *jc, const char *name)
{
    tg_jc_init(jc, name, b->probs, sizeof *b->probs, b->maxprobs);
    jc->n = b->nprobs;
}

static void source_end(builder *b, const tg_jc *jc)
{
    b->nprobs = jc->n;
}

/* A new zeroed model at the end, or NULL (out of memory, a problem). */
static tg_cat_model *append_model(builder *b, tg_jc *jc)
{
    if (b->n == b->cap) {
        int cap = b->cap ? b->cap * 2 : 64;
        entry *e = realloc(b->e, (size_t)cap * sizeof *e);
        if (!e) {
            tg_jc_problem(jc, NULL, "out of memory");
            b->nomem = true;
            return NULL;
        }
        b->e = e;
        b->cap = cap;
    }
    entry *e = &b->e[b->n];
    memset(e, 0, sizeof *e);
    e->seq = b->n++;
    return &e->m;
}

static void set_prices_unknown(tg_cat_prices *p, int64_t value)
{
    for (int i = 0; i < NPRICES; i++)
        *price_slot(p, i) = value;
}

/* The default tokenizer of a model from its provider and upstream name: OpenAI's models
 * their encoding (router/bpe's table; OpenAI models it does not know yet, such as a new
 * family, o200k_base), every other model the estimate. */
static void default_tokenizer(tg_cat_model *m)
{
    if (strcmp(m->provider, "openai") != 0) {
        snprintf(m->tokenizer, sizeof m->tokenizer, "estimate");
        m->estimate_permille = DEFAULT_ESTIMATE_PERMILLE;
        return;
    }
    const char *enc = tg_bpe_name_for_model(m->upstream_model);
    snprintf(m->tokenizer, sizeof m->tokenizer, "%s", enc ? enc : "o200k_base");
    m->estimate_permille = EXACT_PERMILLE;
}

/* ---------------------------------------------------------------- shared field readers */

/* A price: a non-negative JSON number (or, in tollgate's format, a decimal string) times
 * 10^scale, or null (unknown). */
static void get_price(tg_jc *jc, const cJSON *v, const char *path, int scale, int64_t *out)
{
    bool tollgate = scale == TOLLGATE_SCALE;
    dec_status st = DEC_SYNTAX;
    int64_t p = 0;
    if (cJSON_IsNull(v)) {
        *out = TG_CAT_PRICE_UNKNOWN;
        return;
    }
    if (cJSON_IsNumber(v))
        st = number_scaled(v->valuedouble, scale, PRICE_MAX_NANO, &p);
    else if (cJSON_IsString(v) && tollgate)
        st = dec_scaled(v->valuestring, false, scale, PRICE_MAX_NANO, &p);
    if (st == DEC_OK)
        *out = p;
    else if (st == DEC_RANGE)
        tg_jc_problem(jc, path, "must be at most %s",
                      tollgate ? "1000000 (USD per million tokens)" : "1 (USD per token)");
    else if (tollgate)
        tg_jc_problem(jc, path, "must be a non-negative number or decimal string (USD per "
                                "million tokens), or null");
    else
        tg_jc_problem(jc, path, "must be a non-negative number (USD per token)");
}

/* A token count from 0 to TOKENS_MAX. */
static void get_tokens(tg_jc *jc, const cJSON *v, const char *path, int64_t *out)
{
    long n;
    if (tg_jc_get_int(jc, v, path, 0, (long)TOKENS_MAX, &n))
        *out = n;
}

/* An array of names from `names` into a bit set; other names are problems unless
 * `ignore_others`. */
static void get_name_set(tg_jc *jc, const cJSON *v, const char *path,
                         const char *const *names, int nnames, bool ignore_others,
                         uint32_t *out)
{
    if (!cJSON_IsArray(v)) {
        tg_jc_problem(jc, path, "expected an array of strings, got %s", tg_jc_type_name(v));
        return;
    }
    uint32_t set = 0;
    int i = 0;
    for (const cJSON *c = v->child; c; c = c->next, i++) {
        char ipath[TG_JC_PATH_MAX];
        tg_jc_path_index(ipath, sizeof ipath, path, i);
        if (!tg_jc_want_string(jc, c, ipath))
            continue;
        int k = 0;
        while (k < nnames && strcmp(names[k], c->valuestring) != 0)
            k++;
        if (k < nnames || ignore_others) {
            set |= k < nnames ? 1u << k : 0;
            continue;
        }
        char q[TG_JC_QUOTED_MAX], known[TG_JC_MSG_MAX / 2] = "";
        size_t o = 0;
        for (int j = 0; j < nnames && o < sizeof known; j++)
            o += (size_t)snprintf(known + o, sizeof known - o, "%s%s", j ? ", " : "",
                                  names[j]);
        tg_jc_quoted(q, sizeof q, c->valuestring);
        tg_jc_problem(jc, ipath, "unknown name %s (known: %s)", q, known);
    }
    *out = set;
}

/* "YYYY-MM-DD" or "YYYY-MM-DDTHH:MM:SSZ" (UTC) into seconds since the epoch. */
static bool parse_time(const char *s, int64_t *ts)
{
    size_t n = strlen(s);
    static const char date_shape[] = "dddd-dd-dd", full_shape[] = "dddd-dd-ddTdd:dd:ddZ";
    const char *shape = n == 10 ? date_shape : n == 20 ? full_shape : NULL;
    if (!shape)
        return false;
    for (size_t i = 0; i < n; i++)
        if (shape[i] == 'd' ? !isdigit((unsigned char)s[i]) : s[i] != shape[i])
            return false;
    struct tm tm = {0};
    tm.tm_year = atoi(s) - 1900;
    tm.tm_mon = atoi(s + 5) - 1;
    tm.tm_mday = atoi(s + 8);
    if (n == 20) {
        tm.tm_hour = atoi(s + 11);
        tm.tm_min = atoi(s + 14);
        tm.tm_sec = atoi(s + 17);
    }
    struct tm want = tm;
    time_t t = timegm(&tm);
    if (tm.tm_year < 70 || tm.tm_mon != want.tm_mon || tm.tm_mday != want.tm_mday ||
        tm.tm_hour != want.tm_hour || tm.tm_min != want.tm_min || tm.tm_sec != want.tm_sec)
        return false; /* before 1970, or normalised: 2025-02-30, 24:00:00, ... */
    *ts = (int64_t)t;
    return true;
}

/* ---------------------------------------------------------------- tollgate's format */

enum { V_FROM, V_PRICES, V_TIERS = V_PRICES + NPRICES, V_COUNT };
static const char *const version_names[V_COUNT] = {
    "effective_from", "input", "cached_input", "cache_write", "cache_write_1h", "output",
    "reasoning", "tiers"};

enum { T_ABOVE, T_PRICES, T_COUNT = T_PRICES + NPRICES };
static const char *const tier_names[T_COUNT] = {"above_tokens", "input", "cached_input",
                                                "cache_write", "cache_write_1h", "output",
                                                "reasoning"};

typedef struct {
    tg_cat_prices *t;
    bool has_above; /* given, valid or not */
} tier_ctx;

static void tier_field(tg_jc *jc, void *ctx, int f, const cJSON *v, const char *path)
{
    tier_ctx *tc = ctx;
    if (f >= T_PRICES) {
        get_price(jc, v, path, TOLLGATE_SCALE, price_slot(tc->t, f - T_PRICES));
        return;
    }
    long n;
    tc->has_above = true;
    if (tg_jc_get_int(jc, v, path, 1, (long)TOKENS_MAX, &n))
        tc->t->above_tokens = n;
}

static const tg_jc_schema tier_schema = {tier_names, T_COUNT, NULL, tier_field, true};

/* "tiers": long-context tiers after the base; prices not given inherit the base's. */
static void read_tiers(tg_jc *jc, tg_cat_version *ver, const cJSON *v, const char *path)
{
    if (!cJSON_IsArray(v)) {
        tg_jc_problem(jc, path, "expected an array of tiers, got %s", tg_jc_type_name(v));
        return;
    }
    int i = 0;
    for (const cJSON *c = v->child; c; c = c->next, i++) {
        char ipath[TG_JC_PATH_MAX];
        tg_jc_path_index(ipath, sizeof ipath, path, i);
        if (i + 1 >= TG_CAT_MAX_TIERS) {
            tg_jc_problem(jc, ipath, "too many tiers (at most %d after the base prices)",
                          TG_CAT_MAX_TIERS - 1);
            return;
        }
        tg_cat_prices *t = &ver->tiers[i + 1];
        set_prices_unknown(t, PRICE_INHERIT);
        t->above_tokens = -1; /* until a valid one is read */
        tier_ctx tc = {t, false};
        tg_jc_walk(jc, c, ipath, &tier_schema, &tc);
        ver->ntiers = i + 2;
        if (cJSON_IsObject(c) && !tc.has_above)
            tg_jc_problem(jc, ipath, "missing field \"above_tokens\"");
        else if (t->above_tokens >= 0 && t->above_tokens <= ver->tiers[i].above_tokens)
            tg_jc_problem(jc, ipath, "above_tokens must be greater than in the previous tier "
                                     "(%lld)", (long long)ver->tiers[i].above_tokens);
    }
}

/* Tier prices still PRICE_INHERIT take the base price. */
static void inherit_tiers(tg_cat_version *ver)
{
    for (int i = 1; i < ver->ntiers; i++)
        for (int k = 0; k < NPRICES; k++)
            if (*price_slot(&ver->tiers[i], k) == PRICE_INHERIT)
                *price_slot(&ver->tiers[i], k) = *price_slot(&ver->tiers[0], k);
}

typedef struct {
    tg_cat_version *v;
    int index;         /* in "prices" */
    bool has[V_COUNT];
} version_ctx;

static void version_field(tg_jc *jc, void *ctx, int f, const cJSON *v, const char *path)
{
    version_ctx *vc = ctx;
    vc->has[f] = true;
    if (f >= V_PRICES && f < V_TIERS) {
        get_price(jc, v, path, TOLLGATE_SCALE, price_slot(&vc->v->tiers[0], f - V_PRICES));
    } else if (f == V_TIERS) {
        read_tiers(jc, vc->v, v, path);
    } else if (tg_jc_want_string(jc, v, path)) {
        if (parse_time(v->valuestring, &vc->v->effective_from)) {
            snprintf(vc->v->id, sizeof vc->v->id, "%s", v->valuestring);
            return;
        }
        tg_jc_problem(jc, path, "expected a UTC date \"YYYY-MM-DD\" or date-time "
                                "\"YYYY-MM-DDTHH:MM:SSZ\" from 1970 on");
        vc->v->effective_from = INT64_MIN + vc->index; /* unique: no "same date" too */
    }
}

static const tg_jc_schema version_schema = {version_names, V_COUNT, NULL, version_field,
                                            true};

static void read_version(tg_jc *jc, tg_cat_version *ver, int index, const cJSON *v,
                         const char *path)
{
    memset(ver, 0, sizeof *ver);
    set_prices_unknown(&ver->tiers[0], TG_CAT_PRICE_UNKNOWN);
    ver->ntiers = 1;
    version_ctx vc = {ver, index, {false}};
    tg_jc_walk(jc, v, path, &version_schema, &vc);
    if (!cJSON_IsObject(v))
        return;
    if (!vc.has[V_PRICES + P_INPUT])
        tg_jc_problem(jc, path, "missing field \"input\" (null when unknown)");
    if (!vc.has[V_PRICES + P_OUTPUT])
        tg_jc_problem(jc, path, "missing field \"output\" (null when unknown)");
    inherit_tiers(ver);
}

/* Sorts the versions by effective_from; two with the same one are a problem. */
static void sort_versions(tg_jc *jc, tg_cat_model *m, const char *path)
{
    int idx[TG_CAT_MAX_VERSIONS]; /* position in the file of each sorted version */
    for (int i = 0; i < m->nversions; i++)
        idx[i] = i;
    for (int i = 1; i < m->nversions; i++) { /* insertion sort: stable, n <= 16 */
        tg_cat_version v = m->versions[i];
        int k = idx[i], j = i;
        for (; j > 0 && m->versions[j - 1].effective_from > v.effective_from; j--) {
            m->versions[j] = m->versions[j - 1];
            idx[j] = idx[j - 1];
        }
        m->versions[j] = v;
        idx[j] = k;
    }
    for (int i = 1; i < m->nversions; i++) {
        if (m->versions[i].effective_from != m->versions[i - 1].effective_from)
            continue;
        char pp[TG_JC_PATH_MAX], p[TG_JC_PATH_MAX];
        tg_jc_path_key(pp, sizeof pp, path, "prices");
        tg_jc_path_index(p, sizeof p, pp, idx[i]);
        tg_jc_problem(jc, p, "same effective_from as prices[%d] (each price version needs "
                             "its own date)", idx[i - 1]);
    }
}

static void read_versions(tg_jc *jc, tg_cat_model *m, const cJSON *v, const char *path)
{
    if (!cJSON_IsArray(v) || !v->child) {
        tg_jc_problem(jc, path, "expected a non-empty array of price versions, got %s",
                      cJSON_IsArray(v) ? "an empty array" : tg_jc_type_name(v));
        return;
    }
    int i = 0;
    for (const cJSON *c = v->child; c; c = c->next, i++) {
        char ipath[TG_JC_PATH_MAX];
        tg_jc_path_index(ipath, sizeof ipath, path, i);
        if (i == TG_CAT_MAX_VERSIONS) {
            tg_jc_problem(jc, ipath, "too many price versions (at most %d)",
                          TG_CAT_MAX_VERSIONS);
            return;
        }
        read_version(jc, &m->versions[i], i, c, ipath);
        m->nversions = i + 1;
    }
}

enum {
    M_PROVIDER, M_UPSTREAM, M_TOKENIZER, M_FACTOR, M_ENDPOINTS, M_CONTEXT, M_MAX_OUTPUT,
    M_CAPS, M_TIER, M_PRICES, M_COUNT
};
static const char *const model_names[M_COUNT] = {
    "provider",   "upstream_model", "tokenizer",    "estimate_factor", "endpoints",
    "context_window", "max_output", "capabilities", "tier",            "prices"};

typedef struct {
    tg_cat_model *m;
    bool has[M_COUNT];
} model_ctx;

static void get_word(tg_jc *jc, const cJSON *v, const char *path, char *dst)
{
    if (!tg_jc_want_string(jc, v, path))
        return;
    if (word_valid(v->valuestring))
        copy_name(dst, v->valuestring);
    else
        tg_jc_problem(jc, path, "expected 1-%d characters from A-Z a-z 0-9 _ . -",
                      TG_CAT_NAME_MAX - 1);
}

static void get_tokenizer(tg_jc *jc, const cJSON *v, const char *path, tg_cat_model *m)
{
    static const char *const known[] = {"o200k_base", "cl100k_base", "estimate"};
    if (!tg_jc_want_string(jc, v, path))
        return;
    for (size_t i = 0; i < sizeof known / sizeof *known; i++) {
        if (strcmp(v->valuestring, known[i]) == 0) {
            snprintf(m->tokenizer, sizeof m->tokenizer, "%s", known[i]);
            return;
        }
    }
    tg_jc_problem(jc, path, "expected \"o200k_base\", \"cl100k_base\" or \"estimate\"");
}

static void get_factor(tg_jc *jc, const cJSON *v, const char *path, int *permille)
{
    int64_t p = 0;
    if (cJSON_IsNumber(v) &&
        number_scaled(v->valuedouble, FACTOR_SCALE, ESTIMATE_PERMILLE_MAX, &p) == DEC_OK &&
        p >= ESTIMATE_PERMILLE_MIN) {
        *permille = (int)p;
        return;
    }
    tg_jc_problem(jc, path, "expected a number from %g to %g (the factor on input estimates)",
                  ESTIMATE_PERMILLE_MIN / 1000.0, ESTIMATE_PERMILLE_MAX / 1000.0);
}

static void model_field(tg_jc *jc, void *ctx, int f, const cJSON *v, const char *path)
{
    model_ctx *mc = ctx;
    tg_cat_model *m = mc->m;
    mc->has[f] = true;
    switch (f) {
    case M_PROVIDER:
        get_word(jc, v, path, m->provider);
        break;
    case M_UPSTREAM:
        if (!tg_jc_want_string(jc, v, path))
            break;
        if (model_name_valid(v->valuestring))
            copy_name(m->upstream_model, v->valuestring);
        else
            tg_jc_problem(jc, path, "expected 1-%d printable ASCII characters, no spaces",
                          TG_CAT_NAME_MAX - 1);
        break;
    case M_TOKENIZER:
        get_tokenizer(jc, v, path, m);
        break;
    case M_FACTOR:
        get_factor(jc, v, path, &m->estimate_permille);
        break;
    case M_ENDPOINTS:
        get_name_set(jc, v, path, endpoint_names, NENDPOINTS, false, &m->endpoints);
        break;
    case M_CONTEXT:
    case M_MAX_OUTPUT:
        get_tokens(jc, v, path, f == M_CONTEXT ? &m->context_window : &m->max_output);
        break;
    case M_CAPS:
        get_name_set(jc, v, path, cap_names, TG_CAP_COUNT, false, &m->caps);
        break;
    case M_TIER:
        get_word(jc, v, path, m->tier);
        break;
    default:
        read_versions(jc, m, v, path);
    }
}

static const tg_jc_schema model_schema = {model_names, M_COUNT, NULL, model_field, true};

/* A problem unless `name` is a valid model name. */
static void check_model_name(tg_jc *jc, const char *name, const char *path)
{
    if (!model_name_valid(name))
        tg_jc_problem(jc, path, "model names are 1-%d printable ASCII characters without "
                                "spaces", TG_CAT_NAME_MAX - 1);
}

static void read_tollgate_model(builder *b, tg_jc *jc, const cJSON *c, const char *path)
{
    check_model_name(jc, c->string, path);
    tg_cat_model *m = append_model(b, jc);
    if (!m)
        return;
    copy_name(m->name, c->string);
    model_ctx mc = {m, {false}};
    tg_jc_walk(jc, c, path, &model_schema, &mc);
    if (!cJSON_IsObject(c))
        return;
    if (!mc.has[M_PROVIDER])
        tg_jc_problem(jc, path, "missing field \"provider\"");
    if (!mc.has[M_PRICES])
        tg_jc_problem(jc, path, "missing field \"prices\" (at least one price version)");
    if (!m->upstream_model[0])
        copy_name(m->upstream_model, m->name);
    if (!mc.has[M_ENDPOINTS])
        m->endpoints = TG_CAT_EP_CHAT;
    if (!mc.has[M_TOKENIZER]) {
        int permille = m->estimate_permille;
        default_tokenizer(m);
        if (mc.has[M_FACTOR])
            m->estimate_permille = permille;
    } else if (!mc.has[M_FACTOR]) {
        bool estimate = strcmp(m->tokenizer, "estimate") == 0;
        m->estimate_permille = estimate ? DEFAULT_ESTIMATE_PERMILLE : EXACT_PERMILLE;
    }
    sort_versions(jc, m, path);
}

typedef struct {
    builder *b;
    char label[LABEL_MAX + 1];
} top_ctx;

static void read_models(builder *b, tg_jc *jc, const cJSON *v, const char *path)
{
    if (!tg_jc_want_object(jc, v, path))
        return;
    int i = 0;
    for (const cJSON *c = v->child; c; c = c->next) {
        if (c->string[0] == '_')
            continue; /* a comment */
        char cpath[TG_JC_PATH_MAX];
        tg_jc_path_key(cpath, sizeof cpath, path, c->string);
        if (i++ == TG_CAT_MAX_MODELS) {
            tg_jc_problem(jc, path, "too many models (at most %d)", TG_CAT_MAX_MODELS);
            return;
        }
        read_tollgate_model(b, jc, c, cpath);
        if (b->nomem)
            return;
    }
}

enum { F_VERSION, F_MODELS, F_COUNT };
static const char *const top_names[F_COUNT] = {"catalog_version", "models"};

static void top_field(tg_jc *jc, void *ctx, int f, const cJSON *v, const char *path)
{
    top_ctx *t = ctx;
    if (f == F_MODELS) {
        read_models(t->b, jc, v, path);
        return;
    }
    tg_jc_get_string(jc, v, path, t->label, sizeof t->label, false);
}

static const tg_jc_schema top_schema = {top_names, F_COUNT, NULL, top_field, true};

/* ---------------------------------------------------------------- LiteLLM's format */

static const char *const litellm_prices[NPRICES] = {
    "input_cost_per_token",  "cache_read_input_token_cost",
    "cache_creation_input_token_cost", "cache_creation_input_token_cost_above_1hr",
    "output_cost_per_token", "output_cost_per_reasoning_token"};

static const struct {
    const char *field;
    uint32_t caps;
} litellm_flags[] = {
    {"supports_function_calling", TG_CAP_TOOLS},
    {"supports_parallel_function_calling", TG_CAP_PARALLEL_TOOLS},
    {"supports_vision", TG_CAP_VISION},
    {"supports_audio_input", TG_CAP_AUDIO_IN},
    {"supports_audio_output", TG_CAP_AUDIO_OUT},
    {"supports_response_schema", TG_CAP_STRUCTURED | TG_CAP_JSON_MODE},
    {"supports_reasoning", TG_CAP_REASONING},
    {"supports_prompt_caching", TG_CAP_PROMPT_CACHING},
    {"supports_web_search", TG_CAP_WEB_SEARCH},
    {"supports_pdf_input", TG_CAP_FILE_INPUT},
};

/* LiteLLM's provider names that tollgate names otherwise. */
static const char *const provider_map[][2] = {
    {"text-completion-openai", "openai"},
    {"vertex_ai-language-models", "gemini"},
    {"vertex_ai-embedding-models", "gemini"},
};

static const char *litellm_provider(const char *p)
{
    for (size_t i = 0; i < sizeof provider_map / sizeof *provider_map; i++)
        if (strcmp(p, provider_map[i][0]) == 0)
            return provider_map[i][1];
    return p;
}

/* "" (the base: 0) or "_above_<N>k_tokens" (N x 1000) into *above. */
static bool tier_suffix(const char *s, int64_t *above)
{
    int64_t n = 0;
    *above = 0;
    if (!*s)
        return true;
    if (strncmp(s, "_above_", 7) != 0 || !isdigit((unsigned char)s[7]))
        return false;
    for (s += 7; isdigit((unsigned char)*s); s++)
        if ((n = n * 10 + (*s - '0')) > TOKENS_MAX / 1000)
            return false;
    if (n == 0 || strcmp(s, "k_tokens") != 0)
        return false;
    *above = n * 1000;
    return true;
}

/* Which price field `key` is (index into litellm_prices, -1 none) and its tier bound. */
static int litellm_price_key(const char *key, int64_t *above)
{
    int best = -1;
    size_t bestlen = 0;
    for (int i = 0; i < NPRICES; i++) {
        size_t n = strlen(litellm_prices[i]);
        int64_t a;
        if (n <= bestlen || strncmp(key, litellm_prices[i], n) != 0 || !tier_suffix(key + n, &a))
            continue;
        best = i;
        bestlen = n;
        *above = a;
    }
    return best;
}

/* The tier of `ver` above `above` tokens, added in order when new; NULL (a problem) when
 * there is no room for it. */
static tg_cat_prices *litellm_tier(tg_jc *jc, tg_cat_version *ver, int64_t above,
                                   const char *path)
{
    int i = 1;
    while (i < ver->ntiers && ver->tiers[i].above_tokens < above)
        i++;
    if (i < ver->ntiers && ver->tiers[i].above_tokens == above)
        return &ver->tiers[i];
    if (ver->ntiers == TG_CAT_MAX_TIERS) {
        tg_jc_problem(jc, path, "too many long-context tiers (at most %d)",
                      TG_CAT_MAX_TIERS - 1);
        return NULL;
    }
    memmove(&ver->tiers[i + 1], &ver->tiers[i], (size_t)(ver->ntiers - i) * sizeof *ver->tiers);
    ver->ntiers++;
    set_prices_unknown(&ver->tiers[i], PRICE_INHERIT);
    ver->tiers[i].above_tokens = above;
    return &ver->tiers[i];
}

static void litellm_read_prices(tg_jc *jc, const cJSON *e, const char *path,
                                tg_cat_version *ver)
{
    memset(ver, 0, sizeof *ver);
    set_prices_unknown(&ver->tiers[0], TG_CAT_PRICE_UNKNOWN);
    ver->ntiers = 1;
    for (const cJSON *f = e->child; f; f = f->next) {
        int64_t above = 0;
        int k = litellm_price_key(f->string, &above);
        if (k < 0 || cJSON_IsNull(f))
            continue;
        char fpath[TG_JC_PATH_MAX];
        tg_jc_path_key(fpath, sizeof fpath, path, f->string);
        if (tg_jc_earlier_sibling(e, f)) {
            tg_jc_problem(jc, fpath, "duplicate field (each field may appear once)");
            continue;
        }
        tg_cat_prices *t = above ? litellm_tier(jc, ver, above, fpath) : &ver->tiers[0];
        if (t)
            get_price(jc, f, fpath, LITELLM_SCALE, price_slot(t, k));
    }
    inherit_tiers(ver);
}

/* Field `name` of entry `e` when present and not null, with its path. */
static const cJSON *litellm_item(const cJSON *e, const char *path, const char *name,
                                 char *fpath)
{
    const cJSON *v = cJSON_GetObjectItemCaseSensitive(e, name);
    if (!v || cJSON_IsNull(v))
        return NULL;
    tg_jc_path_key(fpath, TG_JC_PATH_MAX, path, name);
    return v;
}

/* A boolean field: 1 true, 0 false, -1 absent or null (a problem when not a boolean). */
static int litellm_flag(tg_jc *jc, const cJSON *e, const char *path, const char *name)
{
    char fpath[TG_JC_PATH_MAX];
    const cJSON *v = litellm_item(e, path, name, fpath);
    if (!v)
        return -1;
    if (cJSON_IsBool(v))
        return cJSON_IsTrue(v);
    tg_jc_problem(jc, fpath, "expected a boolean, got %s", tg_jc_type_name(v));
    return -1;
}

static void litellm_tokens(tg_jc *jc, const cJSON *e, const char *path, const char *name,
                           int64_t *out)
{
    char fpath[TG_JC_PATH_MAX];
    const cJSON *v = litellm_item(e, path, name, fpath);
    if (v)
        get_tokens(jc, v, fpath, out);
}

/* The endpoints of the entry's mode, or false for a mode tollgate does not serve. */
static bool litellm_mode(tg_jc *jc, const cJSON *e, const char *path, uint32_t *eps)
{
    static const struct {
        const char *mode;
        uint32_t eps;
    } modes[] = {{"chat", TG_CAT_EP_CHAT},
                 {"completion", TG_CAT_EP_COMPLETIONS},
                 {"embedding", TG_CAT_EP_EMBEDDINGS},
                 {"responses", TG_CAT_EP_RESPONSES}};
    char fpath[TG_JC_PATH_MAX];
    const cJSON *v = litellm_item(e, path, "mode", fpath);
    *eps = TG_CAT_EP_CHAT;
    if (!v)
        return true; /* LiteLLM's default mode is chat */
    if (!tg_jc_want_string(jc, v, fpath))
        return false;
    for (size_t i = 0; i < sizeof modes / sizeof *modes; i++) {
        if (strcmp(v->valuestring, modes[i].mode) == 0) {
            *eps = modes[i].eps;
            return true;
        }
    }
    return false;
}

/* "supported_endpoints" when present: the API paths tollgate serves, others ignored. */
static bool litellm_endpoints(tg_jc *jc, const cJSON *e, const char *path, uint32_t *eps)
{
    char fpath[TG_JC_PATH_MAX];
    const cJSON *v = litellm_item(e, path, "supported_endpoints", fpath);
    if (!v)
        return false;
    get_name_set(jc, v, fpath, endpoint_paths, NENDPOINTS, true, eps);
    return true;
}

/* Endpoints and capabilities of entry `e`, whose mode serves `mode_eps`. */
static void litellm_caps(tg_jc *jc, const cJSON *e, const char *path, tg_cat_model *m,
                         uint32_t mode_eps)
{
    for (size_t i = 0; i < sizeof litellm_flags / sizeof *litellm_flags; i++)
        if (litellm_flag(jc, e, path, litellm_flags[i].field) == 1)
            m->caps |= litellm_flags[i].caps;
    if (mode_eps != TG_CAT_EP_EMBEDDINGS &&
        litellm_flag(jc, e, path, "supports_native_streaming") != 0)
        m->caps |= TG_CAP_STREAMING;
    if (litellm_endpoints(jc, e, path, &m->endpoints))
        return;
    m->endpoints = mode_eps;
    if (mode_eps == TG_CAT_EP_CHAT && strcmp(m->provider, "openai") == 0)
        m->endpoints |= TG_CAT_EP_RESPONSES;
    if (mode_eps == TG_CAT_EP_CHAT && strcmp(m->provider, "anthropic") == 0)
        m->endpoints |= TG_CAT_EP_MESSAGES;
}

/* The name sent upstream: the key without a "provider/" prefix naming the provider. */
static void litellm_upstream(tg_cat_model *m, const char *raw_provider)
{
    const char *slash = strchr(m->name, '/');
    size_t n = slash ? (size_t)(slash - m->name) : 0;
    bool prefixed = slash && slash[1] &&
                    ((strlen(raw_provider) == n && strncmp(m->name, raw_provider, n) == 0) ||
                     (strlen(m->provider) == n && strncmp(m->name, m->provider, n) == 0));
    copy_name(m->upstream_model, prefixed ? slash + 1 : m->name);
}

static void read_litellm_entry(builder *b, tg_jc *jc, const cJSON *e, const char *path)
{
    uint32_t mode_eps;
    if (!litellm_mode(jc, e, path, &mode_eps))
        return; /* image generation, audio, moderation, rerank, ...: not served */
    char ppath[TG_JC_PATH_MAX];
    const cJSON *prov = litellm_item(e, path, "litellm_provider", ppath);
    if (!prov) {
        tg_jc_problem(jc, path, "missing field \"litellm_provider\"");
        return;
    }
    if (!tg_jc_want_string(jc, prov, ppath))
        return;
    if (!word_valid(prov->valuestring)) {
        tg_jc_problem(jc, ppath, "expected 1-%d characters from A-Z a-z 0-9 _ . -",
                      TG_CAT_NAME_MAX - 1);
        return;
    }
    check_model_name(jc, e->string, path);
    tg_cat_model *m = append_model(b, jc);
    if (!m)
        return;
    copy_name(m->name, e->string);
    copy_name(m->provider, litellm_provider(prov->valuestring));
    litellm_upstream(m, prov->valuestring);
    m->nversions = 1;
    litellm_read_prices(jc, e, path, &m->versions[0]);
    char fpath[TG_JC_PATH_MAX];
    const char *ctx_field = litellm_item(e, path, "max_input_tokens", fpath)
                                ? "max_input_tokens" : "max_tokens";
    litellm_tokens(jc, e, path, ctx_field, &m->context_window);
    litellm_tokens(jc, e, path, "max_output_tokens", &m->max_output);
    litellm_caps(jc, e, path, m, mode_eps);
    default_tokenizer(m);
}

/* Whether some entry of `root` carries LiteLLM's fields. */
static bool looks_litellm(const cJSON *root)
{
    for (const cJSON *c = root->child; c; c = c->next)
        if (cJSON_IsObject(c) && (cJSON_GetObjectItemCaseSensitive(c, "litellm_provider") ||
                                  cJSON_GetObjectItemCaseSensitive(c, "input_cost_per_token") ||
                                  cJSON_GetObjectItemCaseSensitive(c, "output_cost_per_token")))
            return true;
    return false;
}

static void read_litellm(builder *b, tg_jc *jc, const cJSON *root)
{
    int i = 0;
    for (const cJSON *c = root->child; c && !b->nomem; c = c->next) {
        if (!cJSON_IsObject(c) || strcmp(c->string, "sample_spec") == 0)
            continue;
        char cpath[TG_JC_PATH_MAX];
        tg_jc_path_key(cpath, sizeof cpath, "$", c->string);
        if (i++ == TG_CAT_MAX_MODELS) {
            tg_jc_problem(jc, "$", "too many models (at most %d)", TG_CAT_MAX_MODELS);
            return;
        }
        read_litellm_entry(b, jc, c, cpath);
    }
}

/* ---------------------------------------------------------------- sources */

static int entry_cmp(const void *a, const void *b)
{
    const entry *x = a, *y = b;
    int c = strcmp(x->m.name, y->m.name);
    return c ? c : (x->seq > y->seq) - (x->seq < y->seq);
}

/* A name defined twice by one source (entries [start, n)) is a problem. */
static void check_duplicates(builder *b, tg_jc *jc, int start, const char *parent)
{
    if (b->n - start > 1) /* b->e may still be NULL */
        qsort(b->e + start, (size_t)(b->n - start), sizeof *b->e, entry_cmp);
    for (int i = start + 1; i < b->n; i++) {
        if (strcmp(b->e[i].m.name, b->e[i - 1].m.name) != 0)
            continue;
        char p[TG_JC_PATH_MAX];
        tg_jc_path_key(p, sizeof p, parent, b->e[i].m.name);
        tg_jc_problem(jc, p, "model defined twice in this file (each name may appear once)");
    }
}

static void add_label(builder *b, tg_jc *jc, const char *label)
{
    if (!*label || !b->all_labelled) {
        b->all_labelled = false;
        return;
    }
    int rc = b->labels.len ? tg_buf_puts(&b->labels, "+") : TG_BUF_OK;
    if (rc == TG_BUF_OK)
        rc = tg_buf_puts(&b->labels, label);
    if (rc == TG_BUF_TOOBIG)
        b->all_labelled = false; /* too long to be a useful label: the hash stands in */
    if (rc == TG_BUF_NOMEM) {
        tg_jc_problem(jc, NULL, "out of memory");
        b->nomem = true;
    }
}

/* Reads the parsed source `root` in whichever format its shape says. */
static void read_root(builder *b, tg_jc *jc, const cJSON *root)
{
    int start = b->n;
    if (cJSON_IsObject(root) && cJSON_GetObjectItemCaseSensitive(root, "models")) {
        top_ctx t = {b, ""};
        tg_jc_walk(jc, root, "$", &top_schema, &t);
        check_duplicates(b, jc, start, "$.models");
        add_label(b, jc, t.label);
        return;
    }
    b->all_labelled = false;
    if (cJSON_IsObject(root) && looks_litellm(root)) {
        read_litellm(b, jc, root);
        check_duplicates(b, jc, start, "$");
        return;
    }
    tg_jc_problem(jc, "$", "not a model catalog: expected an object with \"models\" "
                           "(the tollgate format) or LiteLLM pricing entries (litellm_provider, "
                           "input_cost_per_token, ...)");
}

/* One source from text[0..len), NUL-terminated at text[len]. */
static void load_text(builder *b, tg_jc *jc, const char *text, size_t len)
{
    if (!EVP_DigestUpdate(b->sha, text, len) || !EVP_DigestUpdate(b->sha, "", 1)) {
        tg_jc_problem(jc, NULL, "cannot hash the catalog (OpenSSL failed)");
        return;
    }
    cJSON *root = tg_jc_parse(jc, text, len);
    if (!root) {
        b->all_labelled = false;
        return;
    }
    read_root(b, jc, root);
    cJSON_Delete(root);
}

/* One source from texts that need not be NUL-terminated. */
static void load_copy(builder *b, const char *name, const char *text, size_t len)
{
    tg_jc jc;
    source_begin(b, &jc, name);
    char *copy = len <= TG_CAT_MAX_FILE ? malloc(len + 1) : NULL;
    if (len > TG_CAT_MAX_FILE) {
        tg_jc_problem(&jc, NULL, "larger than the limit of %zu bytes", TG_CAT_MAX_FILE);
    } else if (!copy) {
        tg_jc_problem(&jc, NULL, "out of memory");
    } else {
        memcpy(copy, text, len);
        copy[len] = '\0';
        load_text(b, &jc, copy, len);
    }
    free(copy);
    source_end(b, &jc);
}

/* An empty builder; false after a problem (out of memory). */
static bool builder_init(builder *b, tg_cat_problem *probs, int maxprobs)
{
    memset(b, 0, sizeof *b);
    b->probs = probs;
    b->maxprobs = probs ? maxprobs : 0;
    b->all_labelled = true;
    tg_buf_init(&b->labels, VERSION_TEXT_MAX);
    b->sha = EVP_MD_CTX_new();
    if (b->sha && EVP_DigestInit_ex(b->sha, EVP_sha256(), NULL))
        return true;
    tg_jc jc;
    source_begin(b, &jc, "catalog");
    tg_jc_problem(&jc, NULL, "out of memory (cannot start SHA-256)");
    source_end(b, &jc);
    return false;
}

static void builder_free(builder *b)
{
    free(b->e);
    tg_buf_free(&b->labels);
    EVP_MD_CTX_free(b->sha);
}

/* "sha256:" and the first HASH_HEX hex digits of the hash of every source. */
static char *hash_label(builder *b)
{
    unsigned char md[EVP_MAX_MD_SIZE];
    unsigned int mdlen = 0;
    char *s = malloc(sizeof "sha256:" + HASH_HEX);
    if (!s || !EVP_DigestFinal_ex(b->sha, md, &mdlen) || mdlen < HASH_HEX / 2) {
        free(s);
        return NULL;
    }
    int o = snprintf(s, sizeof "sha256:", "sha256:");
    for (int i = 0; i < HASH_HEX / 2; i++)
        o += snprintf(s + o, 3, "%02x", md[i]);
    return s;
}

/* Keeps the last definition of every name; the catalog, or NULL after any problem. */
static tg_catalog *finish(builder *b)
{
    tg_jc jc;
    source_begin(b, &jc, "catalog");
    if (b->n > 1)
        qsort(b->e, (size_t)b->n, sizeof *b->e, entry_cmp);
    int n = 0;
    for (int i = 0; i < b->n; i++)
        if (i + 1 == b->n || strcmp(b->e[i].m.name, b->e[i + 1].m.name) != 0)
            b->e[n++] = b->e[i];
    if (n > TG_CAT_MAX_MODELS)
        tg_jc_problem(&jc, NULL, "too many models (%d, at most %d)", n, TG_CAT_MAX_MODELS);
    tg_catalog *c = jc.n ? NULL : calloc(1, sizeof *c);
    if (c) {
        c->models = malloc((size_t)(n ? n : 1) * sizeof *c->models);
        c->version = b->all_labelled && b->labels.len ? strdup(b->labels.p) : hash_label(b);
    }
    if (c && (!c->models || !c->version)) {
        tg_jc_problem(&jc, NULL, "out of memory");
        tg_catalog_free(c);
        c = NULL;
    }
    source_end(b, &jc);
    if (!c)
        return NULL;
    for (int i = 0; i < n; i++)
        c->models[i] = b->e[i].m;
    c->n = n;
    return c;
}

tg_catalog *tg_catalog_load_texts(const char *const *texts, const size_t *lens,
                                  const char *const *names, int n, bool with_builtin,
                                  tg_cat_problem *probs, int maxprobs, int *nprobs)
{
    builder b;
    tg_catalog *c = NULL;
    if (builder_init(&b, probs, maxprobs)) {
        if (with_builtin)
            load_copy(&b, BUILTIN_NAME, tg_default_catalog_json, tg_default_catalog_json_len);
        for (int i = 0; i < n; i++)
            load_copy(&b, names && names[i] ? names[i] : "text", texts[i], lens[i]);
        c = finish(&b);
    }
    builder_free(&b);
    if (nprobs)
        *nprobs = b.nprobs;
    return c;
}

tg_catalog *tg_catalog_load(const char *const *files, int nfiles, tg_cat_problem *probs,
                            int maxprobs, int *nprobs)
{
    builder b;
    tg_catalog *c = NULL;
    tg_jc jc;
    if (builder_init(&b, probs, maxprobs)) {
        load_copy(&b, BUILTIN_NAME, tg_default_catalog_json, tg_default_catalog_json_len);
        for (int i = 0; i < nfiles; i++) {
            size_t len = 0;
            source_begin(&b, &jc, files[i]);
            char *text = tg_jc_read_file(&jc, files[i], TG_CAT_MAX_FILE, &len);
            if (text)
                load_text(&b, &jc, text, len);
            else
                b.all_labelled = false;
            source_end(&b, &jc);
            free(text);
        }
        c = finish(&b);
    }
    builder_free(&b);
    if (nprobs)
        *nprobs = b.nprobs;
    return c;
}

/* ---------------------------------------------------------------- to JSON */

/* Drops trailing zeros of a decimal fraction, and a bare point: "2.50" -> "2.5",
 * "2.000" -> "2". */
static void trim_decimal(char *text)
{
    size_t n = strlen(text);
    if (!strchr(text, '.'))
        return;
    while (text[n - 1] == '0')
        text[--n] = '\0';
    if (text[n - 1] == '.')
        text[--n] = '\0';
}

/* A price as a JSON number when one reads back exactly, else as a decimal string. */
static cJSON *price_json(int64_t nano)
{
    char text[TG_MONEY_FMT_SIZE];
    int64_t back = -1;
    if (nano == TG_CAT_PRICE_UNKNOWN)
        return cJSON_CreateNull();
    tg_money_format(nano, text, sizeof text);
    trim_decimal(text);
    if (number_scaled(strtod(text, NULL), TOLLGATE_SCALE, PRICE_MAX_NANO, &back) == DEC_OK &&
        back == nano)
        return cJSON_CreateRaw(text);
    return cJSON_CreateString(text);
}

/* Adds `item` to `obj` under `key`; false (item freed) when either is missing. */
static bool add(cJSON *obj, const char *key, cJSON *item)
{
    if (item && obj && cJSON_AddItemToObject(obj, key, item))
        return true;
    cJSON_Delete(item);
    return false;
}

/* Adds `item` to array `a`; false (item freed) when either is missing. */
static bool push(cJSON *a, cJSON *item)
{
    if (item && a && cJSON_AddItemToArray(a, item))
        return true;
    cJSON_Delete(item);
    return false;
}

static cJSON *names_json(uint32_t set, const char *const *names, int nnames)
{
    cJSON *a = cJSON_CreateArray();
    for (int i = 0; a && i < nnames; i++) {
        if (!(set & 1u << i))
            continue;
        if (!push(a, cJSON_CreateString(names[i]))) {
            cJSON_Delete(a);
            return NULL;
        }
    }
    return a;
}

/* The prices of one tier into `o`: the base leaves out unknown optional prices (absent
 * means unknown there), a long-context tier gives all six (absent would inherit). */
static bool prices_into(cJSON *o, const tg_cat_prices *t, bool base)
{
    bool ok = base || add(o, "above_tokens", cJSON_CreateNumber((double)t->above_tokens));
    for (int k = 0; ok && k < NPRICES; k++) {
        int64_t p = *price_slot((tg_cat_prices *)t, k);
        bool required = !base || k == P_INPUT || k == P_OUTPUT;
        if (required || p != TG_CAT_PRICE_UNKNOWN)
            ok = add(o, price_names[k], price_json(p));
    }
    return ok;
}

static cJSON *version_json(const tg_cat_version *v)
{
    cJSON *o = cJSON_CreateObject();
    bool ok = o && (!v->id[0] || add(o, "effective_from", cJSON_CreateString(v->id))) &&
              prices_into(o, &v->tiers[0], true);
    cJSON *tiers = ok && v->ntiers > 1 ? cJSON_AddArrayToObject(o, "tiers") : NULL;
    ok = ok && (v->ntiers == 1 || tiers);
    for (int i = 1; ok && i < v->ntiers; i++) {
        cJSON *t = cJSON_CreateObject();
        ok = push(tiers, t) && prices_into(t, &v->tiers[i], false);
    }
    if (!ok)
        cJSON_Delete(o);
    return ok ? o : NULL;
}

/* estimate_factor as a short decimal: 1150 -> "1.15". */
static cJSON *factor_json(int permille)
{
    char text[32];
    snprintf(text, sizeof text, "%d.%03d", permille / 1000, permille % 1000);
    trim_decimal(text);
    return cJSON_CreateRaw(text);
}

static cJSON *model_json(const tg_cat_model *m)
{
    cJSON *o = cJSON_CreateObject();
    bool ok = add(o, "provider", cJSON_CreateString(m->provider)) &&
              add(o, "upstream_model", cJSON_CreateString(m->upstream_model)) &&
              add(o, "tokenizer", cJSON_CreateString(m->tokenizer)) &&
              add(o, "estimate_factor", factor_json(m->estimate_permille)) &&
              add(o, "endpoints", names_json(m->endpoints, endpoint_names, NENDPOINTS)) &&
              add(o, "context_window", cJSON_CreateNumber((double)m->context_window)) &&
              add(o, "max_output", cJSON_CreateNumber((double)m->max_output)) &&
              add(o, "capabilities", names_json(m->caps, cap_names, TG_CAP_COUNT)) &&
              (!m->tier[0] || add(o, "tier", cJSON_CreateString(m->tier)));
    cJSON *prices = ok ? cJSON_AddArrayToObject(o, "prices") : NULL;
    ok = prices != NULL;
    for (int i = 0; ok && i < m->nversions; i++)
        ok = push(prices, version_json(&m->versions[i]));
    if (!ok)
        cJSON_Delete(o);
    return ok ? o : NULL;
}

char *tg_catalog_to_json(const tg_catalog *c)
{
    cJSON *root = cJSON_CreateObject();
    bool ok = add(root, "catalog_version", cJSON_CreateString(c->version));
    cJSON *models = ok ? cJSON_AddObjectToObject(root, "models") : NULL;
    ok = models != NULL;
    for (int i = 0; ok && i < c->n; i++)
        ok = add(models, c->models[i].name, model_json(&c->models[i]));
    char *s = ok ? cJSON_Print(root) : NULL;
    cJSON_Delete(root);
    return s;
}
