/* Unit tests of tg_cat (policies/catalog.c): the built-in catalog, LiteLLM's format (the
 * reference pricing file as a fixture, and small texts), tollgate's own format, exact
 * price conversion, long-context tiers, price versions over time, cost rounding and
 * saturation, override precedence between sources, every kind of problem with its JSON
 * path, the version label and the to_json round trip.
 *
 * Fixtures are in $TG_TEST_DATA/catalog; small cases are in-memory texts loaded with
 * tg_catalog_load_texts, so that each JSON sits beside what it must give. */
#include <check.h>
#include <limits.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "policies/catalog.h"

#define MAXP 64
#define NANO INT64_C(1000000000) /* nano-dollars per USD */

static tg_cat_problem probs[MAXP];
static int nprobs;

/* $TG_TEST_DATA/catalog/NAME into a static buffer. */
static const char *fixture(const char *name)
{
    static char path[PATH_MAX];
    const char *data = getenv("TG_TEST_DATA");
    ck_assert_msg(data != NULL, "TG_TEST_DATA is not set");
    snprintf(path, sizeof path, "%s/catalog/%s", data, name);
    return path;
}

static void print_problems(void)
{
    for (int i = 0; i < nprobs && i < MAXP; i++)
        fprintf(stderr, "problem: %s\n", probs[i].text);
}

/* Loads up to three texts named a.json, b.json, c.json (NULL ends the list). */
static tg_catalog *load3(bool builtin, const char *t1, const char *t2, const char *t3)
{
    const char *texts[3] = {t1, t2, t3};
    const char *names[3] = {"a.json", "b.json", "c.json"};
    size_t lens[3];
    int n = 0;
    while (n < 3 && texts[n]) {
        lens[n] = strlen(texts[n]);
        n++;
    }
    return tg_catalog_load_texts(texts, lens, names, n, builtin, probs, MAXP, &nprobs);
}

static tg_catalog *load1(const char *text)
{
    return load3(false, text, NULL, NULL);
}

/* Loads `text` (no builtin) expecting exactly the problems listed (NULL-terminated). */
static void expect_problems(const char *text, const char *const *want)
{
    tg_catalog *c = load1(text);
    int n = 0;
    while (want[n])
        n++;
    if (nprobs != n)
        print_problems();
    ck_assert_ptr_null(c);
    ck_assert_int_eq(nprobs, n);
    for (int i = 0; i < n; i++)
        ck_assert_str_eq(probs[i].text, want[i]);
}

static void expect_problem(const char *text, const char *want)
{
    const char *const list[] = {want, NULL};
    expect_problems(text, list);
}

static const tg_cat_prices *base(const tg_cat_model *m)
{
    ck_assert_int_ge(m->nversions, 1);
    return &m->versions[m->nversions - 1].tiers[0];
}

/* ---------------------------------------------------------------- built-in catalog */

START_TEST(builtin_loads_clean)
{
    tg_catalog *c = tg_catalog_load(NULL, 0, probs, MAXP, &nprobs);
    print_problems();
    ck_assert_int_eq(nprobs, 0);
    ck_assert_ptr_nonnull(c);
    ck_assert_int_ge(tg_catalog_count(c), 30);
    ck_assert_int_le(tg_catalog_count(c), 45);
    const char *providers[] = {"openai", "anthropic", "gemini", "deepseek", "xai"};
    for (size_t p = 0; p < sizeof providers / sizeof *providers; p++) {
        int seen = 0;
        for (int i = 0; i < tg_catalog_count(c); i++)
            seen += strcmp(tg_catalog_at(c, i)->provider, providers[p]) == 0;
        ck_assert_msg(seen > 0, "no %s model", providers[p]);
    }
    for (int i = 0; i < tg_catalog_count(c); i++) {
        const tg_cat_model *m = tg_catalog_at(c, i);
        ck_assert_msg(strcmp(m->tier, "fast") == 0 || strcmp(m->tier, "balanced") == 0 ||
                          strcmp(m->tier, "smart") == 0,
                      "%s: tier %s", m->name, m->tier);
        ck_assert_msg(base(m)->input >= 0 && base(m)->output >= 0, "%s unpriced", m->name);
        ck_assert_msg(m->endpoints != 0, "%s: no endpoints", m->name);
        if (i > 0)
            ck_assert_int_lt(strcmp(tg_catalog_at(c, i - 1)->name, m->name), 0);
    }
    ck_assert_str_eq(tg_catalog_version(c), "2026-11-24.1");
    const tg_cat_model *e = tg_catalog_find(c, "text-embedding-3-small");
    ck_assert_ptr_nonnull(e);
    ck_assert_uint_eq(e->endpoints, TG_CAT_EP_EMBEDDINGS);
    ck_assert_str_eq(e->tokenizer, "cl100k_base");
    ck_assert_int_eq(base(e)->input, 20000000); /* 0.02 USD per million */
    /* long-context tiers, price versions and factors of the built-in catalog */
    const tg_cat_model *astra = tg_catalog_find(c, "gpt-6.2-astra");
    ck_assert_ptr_nonnull(astra);
    const tg_cat_version *av = tg_cat_version_at(astra, 1800000000);
    ck_assert_int_eq(tg_cat_tier(av, 272000)->input, 8 * NANO);
    ck_assert_int_eq(tg_cat_tier(av, 272001)->input, 16 * NANO);
    ck_assert_int_eq(tg_cat_tier(av, 272001)->output, 60 * NANO);
    ck_assert_str_eq(astra->tokenizer, "o200k_base"); /* a family router/bpe does not know */
    const tg_cat_model *s55 = tg_catalog_find(c, "claude-sonnet-5-5");
    ck_assert_int_eq(tg_cat_version_at(s55, 1791158400)->tiers[0].cached_input, 200000000);
    ck_assert_int_eq(tg_cat_version_at(s55, 1791331200)->tiers[0].cached_input, 100000000);
    ck_assert_int_eq(s55->estimate_permille, 1550);
    const tg_cat_model *h55 = tg_catalog_find(c, "claude-haiku-5-5");
    const tg_cat_version *hv = tg_cat_version_at(h55, INT64_MAX);
    ck_assert_int_eq(tg_cat_tier(hv, 100001)->cache_write_1h, NANO);
    ck_assert_int_eq(tg_cat_tier(hv, 100000)->cache_write_1h, 200000000);
    const tg_cat_model *h = tg_catalog_find(c, "claude-haiku-4-5");
    ck_assert_ptr_nonnull(h);
    ck_assert_str_eq(h->tokenizer, "estimate");
    ck_assert_int_eq(h->estimate_permille, 1150);
    ck_assert(h->endpoints & TG_CAT_EP_MESSAGES);
    tg_catalog_free(c);
}
END_TEST

/* ---------------------------------------------------------------- LiteLLM's format */

START_TEST(litellm_fixture_loads_clean)
{
    const char *files[] = {fixture("model_prices.json")};
    tg_catalog *c = tg_catalog_load(files, 1, probs, MAXP, &nprobs);
    print_problems();
    ck_assert_int_eq(nprobs, 0);
    ck_assert_ptr_nonnull(c);

    /* five models to the nano-dollar (per million tokens) */
    const tg_cat_model *m = tg_catalog_find(c, "gpt-4o-mini");
    ck_assert_ptr_nonnull(m);
    ck_assert_int_eq(base(m)->input, 150000000);       /* 1.5e-07 */
    ck_assert_int_eq(base(m)->cached_input, 75000000); /* 7.5e-08 */
    ck_assert_int_eq(base(m)->output, 600000000);      /* 6e-07 */
    ck_assert_int_eq(base(m)->cache_write, TG_CAT_PRICE_UNKNOWN);
    ck_assert_str_eq(m->provider, "openai");
    ck_assert_str_eq(m->tokenizer, "o200k_base");
    ck_assert_uint_eq(m->endpoints, TG_CAT_EP_CHAT | TG_CAT_EP_RESPONSES);

    m = tg_catalog_find(c, "claude-opus-4-1");
    ck_assert_int_eq(base(m)->input, 15 * NANO);
    ck_assert_int_eq(base(m)->output, 75 * NANO);
    ck_assert_int_eq(base(m)->cache_write, 18750000000);    /* 1.875e-05 */
    ck_assert_int_eq(base(m)->cache_write_1h, 30 * NANO);   /* 3e-05 */
    ck_assert_int_eq(base(m)->cached_input, 1500000000);
    ck_assert_str_eq(m->tokenizer, "estimate");
    ck_assert_uint_eq(m->endpoints, TG_CAT_EP_CHAT | TG_CAT_EP_MESSAGES);

    m = tg_catalog_find(c, "deepseek-v4-pro");
    ck_assert_int_eq(base(m)->input, 435000000);  /* 4.35e-07 */
    ck_assert_int_eq(base(m)->cached_input, 3625000); /* 3.625e-09 */
    ck_assert_int_eq(base(m)->cache_write, 0);

    m = tg_catalog_find(c, "kimi-k2.6");
    ck_assert_str_eq(m->provider, "moonshot");
    ck_assert_int_eq(base(m)->input, 954000000);  /* 9.54e-07 */
    ck_assert_int_eq(base(m)->output, 3961000000); /* 3.961e-06 */

    m = tg_catalog_find(c, "gemini-2.5-flash");
    ck_assert_str_eq(m->provider, "gemini");
    ck_assert_int_eq(base(m)->input, 300000000);
    ck_assert_int_eq(base(m)->reasoning, 2500000000);
    ck_assert_uint_eq(m->endpoints, TG_CAT_EP_CHAT | TG_CAT_EP_COMPLETIONS);
    ck_assert_int_eq(m->context_window, 1048576);
    ck_assert_int_eq(m->max_output, 65535);
    ck_assert(m->caps & TG_CAP_REASONING);
    ck_assert(m->caps & TG_CAP_STRUCTURED);
    ck_assert(m->caps & TG_CAP_JSON_MODE);

    /* skipped modes, endpoint lists that serve nothing tollgate has */
    ck_assert_ptr_null(tg_catalog_find(c, "gpt-image-1"));
    const tg_cat_model *rt = tg_catalog_find(c, "gpt-realtime");
    ck_assert_ptr_nonnull(rt);
    ck_assert_uint_eq(rt->endpoints, 0);
    const tg_cat_model *emb = tg_catalog_find(c, "gemini-embedding-001");
    ck_assert_uint_eq(emb->endpoints, TG_CAT_EP_EMBEDDINGS);
    ck_assert(!(emb->caps & TG_CAP_STREAMING));
    const tg_cat_model *old = tg_catalog_find(c, "gpt-3.5-turbo-instruct");
    ck_assert_str_eq(old->provider, "openai");
    ck_assert_str_eq(old->tokenizer, "cl100k_base");
    ck_assert_uint_eq(old->endpoints, TG_CAT_EP_COMPLETIONS);
    tg_catalog_free(c);
}
END_TEST

START_TEST(litellm_tiers)
{
    const char *files[] = {fixture("model_prices.json")};
    tg_catalog *c = tg_catalog_load(files, 1, probs, MAXP, &nprobs);
    ck_assert_ptr_nonnull(c);
    const tg_cat_model *m = tg_catalog_find(c, "gemini-2.5-pro");
    const tg_cat_version *v = tg_cat_version_at(m, 1800000000);
    ck_assert_int_eq(v->ntiers, 2);
    ck_assert_int_eq(v->tiers[1].above_tokens, 200000);
    ck_assert_int_eq(tg_cat_tier(v, 200000)->input, 1250000000);
    ck_assert_int_eq(tg_cat_tier(v, 200001)->input, 2500000000);
    ck_assert_int_eq(tg_cat_tier(v, 200001)->output, 15 * NANO);
    ck_assert_int_eq(tg_cat_tier(v, 200001)->cached_input, 250000000);
    ck_assert_int_eq(tg_cat_tier(v, 0)->output, 10 * NANO);

    m = tg_catalog_find(c, "gpt-5.4");
    v = tg_cat_version_at(m, 0);
    ck_assert_int_eq(v->ntiers, 2);
    ck_assert_int_eq(v->tiers[1].above_tokens, 272000);
    ck_assert_int_eq(tg_cat_tier(v, 272000)->input, 2500000000);
    ck_assert_int_eq(tg_cat_tier(v, 272001)->input, 5 * NANO);
    ck_assert_int_eq(tg_cat_tier(v, 272001)->output, 22500000000);
    ck_assert_int_eq(tg_cat_tier(v, 272001)->cached_input, 500000000);

    /* a tier price the source lacks inherits the base price: gemini-3-pro-preview's
     * cache_write above 200k is given, its reasoning is not */
    m = tg_catalog_find(c, "claude-sonnet-4-5");
    v = tg_cat_version_at(m, 0);
    ck_assert_int_eq(v->tiers[1].cache_write_1h, 12 * NANO);
    ck_assert_int_eq(v->tiers[1].cache_write, 7500000000);
    ck_assert_int_eq(v->tiers[1].reasoning, TG_CAT_PRICE_UNKNOWN);
    tg_catalog_free(c);
}
END_TEST

START_TEST(litellm_small)
{
    const char *text =
        "{\"sample_spec\": {\"input_cost_per_token\": 0},"
        " \"note\": \"not an object: skipped\","
        " \"openai/gpt-4.1\": {\"litellm_provider\": \"openai\", \"mode\": \"chat\","
        "   \"input_cost_per_token\": 2e-06, \"output_cost_per_token\": 8e-06,"
        "   \"supports_native_streaming\": false, \"supported_endpoints\": [\"/v1/messages\","
        "   \"/v1/batch\", \"/v1/responses\"], \"max_tokens\": 4096},"
        " \"xai/grok-x\": {\"litellm_provider\": \"xai\", \"output_cost_per_token\": 1e-06,"
        "   \"max_input_tokens\": 1000, \"max_tokens\": 5},"
        " \"dall-e-3\": {\"litellm_provider\": \"openai\", \"mode\": \"image_generation\"},"
        " \"mine/x\": {\"litellm_provider\": \"azure\", \"mode\": \"embedding\","
        "   \"input_cost_per_token\": 1.25e-06, \"output_cost_per_token\": 0}}";
    tg_catalog *c = load1(text);
    print_problems();
    ck_assert_ptr_nonnull(c);
    ck_assert_int_eq(tg_catalog_count(c), 3);
    const tg_cat_model *m = tg_catalog_find(c, "openai/gpt-4.1");
    ck_assert_str_eq(m->upstream_model, "gpt-4.1");
    ck_assert_uint_eq(m->endpoints, TG_CAT_EP_MESSAGES | TG_CAT_EP_RESPONSES);
    ck_assert(!(m->caps & TG_CAP_STREAMING));
    ck_assert_int_eq(m->context_window, 4096);
    ck_assert_str_eq(m->tokenizer, "o200k_base");
    m = tg_catalog_find(c, "xai/grok-x");
    ck_assert_str_eq(m->upstream_model, "grok-x");
    ck_assert_int_eq(base(m)->input, TG_CAT_PRICE_UNKNOWN); /* loaded, but unpriced */
    ck_assert_int_eq(base(m)->output, NANO);
    ck_assert_int_eq(m->context_window, 1000);
    ck_assert(m->caps & TG_CAP_STREAMING);
    ck_assert_uint_eq(m->endpoints, TG_CAT_EP_CHAT);
    m = tg_catalog_find(c, "mine/x");
    ck_assert_str_eq(m->upstream_model, "mine/x"); /* the prefix is not the provider */
    ck_assert_str_eq(m->provider, "azure");
    ck_assert_str_eq(m->tokenizer, "estimate");
    ck_assert_int_eq(base(m)->input, 1250000000);
    ck_assert_int_eq(m->versions[0].effective_from, 0);
    ck_assert_str_eq(m->versions[0].id, "");
    ck_assert_ptr_null(tg_catalog_find(c, "dall-e-3"));
    ck_assert_str_eq(tg_catalog_version(c) + 0 * 7, tg_catalog_version(c));
    ck_assert_int_eq(strncmp(tg_catalog_version(c), "sha256:", 7), 0);
    ck_assert_int_eq(strlen(tg_catalog_version(c)), 15);
    tg_catalog_free(c);
}
END_TEST

/* ---------------------------------------------------------------- conversions */

/* The input price model "m" gets from `fmt` with `value` put in. */
static int64_t price_of(const char *fmt, const char *value)
{
    char text[256];
    snprintf(text, sizeof text, fmt, value);
    tg_catalog *c = load1(text);
    print_problems();
    ck_assert_ptr_nonnull(c);
    int64_t p = base(tg_catalog_find(c, "m"))->input;
    tg_catalog_free(c);
    return p;
}

/* LiteLLM's per-token `value` in nano-dollars per million tokens. */
static int64_t litellm_price(const char *value)
{
    return price_of("{\"m\": {\"litellm_provider\": \"openai\", \"input_cost_per_token\": %s,"
                    " \"output_cost_per_token\": 0}}", value);
}

/* The same for tollgate's per-million `value` (a number or a "string"). */
static int64_t tollgate_price(const char *value)
{
    return price_of("{\"models\": {\"m\": {\"provider\": \"openai\", \"prices\": [{\"input\": "
                    "%s, \"output\": 1}]}}}", value);
}

/* A price as written and what it must be in nano-dollars per million tokens. */
typedef struct {
    const char *text;
    int64_t nano;
} price_case;

static const price_case litellm_cases[] = {
    {"1.25e-06", 1250000000},
    {"7.5e-08", 75000000},
    {"3.625e-09", 3625000},
    {"2.8e-09", 2800000},
    {"1.875e-05", 18750000000},
    {"0.00027", 270000000000},
    {"3.961e-06", 3961000000},
    {"0.0000011", 1100000000},
    {"1.1e-06", 1100000000},
    {"0", 0},
    {"1e-15", 1},
    {"4.9e-16", 0}, /* rounds to nearest */
    {"5e-16", 1}, /* half up */
    {"1.5e-15", 2},
    {"1", 1000000 * NANO}, /* the maximum */
};

static const price_case tollgate_cases[] = {
    {"0.075", 75000000},
    {"\"0.075\"", 75000000},
    {"0.15", 150000000},
    {"\"2.50\"", 2500000000},
    {"1.1", 1100000000},
    {"0.1", 100000000},
    {"\"0.0000000005\"", 1}, /* half up */
    {"\"0.0000000004999\"", 0},
    {"\"1000000\"", 1000000 * NANO},
    {"1e2", 100 * NANO},
    {"null", TG_CAT_PRICE_UNKNOWN},
};

START_TEST(price_conversion_exact)
{
    for (size_t i = 0; i < sizeof litellm_cases / sizeof *litellm_cases; i++)
        ck_assert_msg(litellm_price(litellm_cases[i].text) == litellm_cases[i].nano,
                      "LiteLLM %s", litellm_cases[i].text);
    for (size_t i = 0; i < sizeof tollgate_cases / sizeof *tollgate_cases; i++)
        ck_assert_msg(tollgate_price(tollgate_cases[i].text) == tollgate_cases[i].nano,
                      "tollgate %s", tollgate_cases[i].text);
}
END_TEST

/* ---------------------------------------------------------------- cost */

START_TEST(cost_rounding_and_saturation)
{
    ck_assert_int_eq(tg_cat_cost(1000000, 150000000), 150000000);
    ck_assert_int_eq(tg_cat_cost(1, 150000000), 150);
    ck_assert_int_eq(tg_cat_cost(1, 499999), 0);
    ck_assert_int_eq(tg_cat_cost(1, 500000), 1); /* half up */
    ck_assert_int_eq(tg_cat_cost(3, 500000), 2); /* 1.5 -> 2 */
    ck_assert_int_eq(tg_cat_cost(7, 1250000000), 8750);
    ck_assert_int_eq(tg_cat_cost(0, 1250000000), 0);
    ck_assert_int_eq(tg_cat_cost(-5, 1250000000), 0);
    ck_assert_int_eq(tg_cat_cost(5, 0), 0);
    ck_assert_int_eq(tg_cat_cost(5, TG_CAT_PRICE_UNKNOWN), TG_CAT_PRICE_UNKNOWN);
    /* 1e12 tokens at 1e15 nano per million: 1e21 nano, saturated */
    ck_assert_int_eq(tg_cat_cost(INT64_C(1000000000000), INT64_C(1000000000000000)),
                     INT64_MAX);
    ck_assert_int_eq(tg_cat_cost(INT64_MAX, INT64_MAX), INT64_MAX);
    /* just below the edge: exact */
    ck_assert_int_eq(tg_cat_cost(INT64_C(9223372036854), INT64_C(1000000)),
                     INT64_C(9223372036854));
    ck_assert_int_eq(tg_cat_cost(INT64_C(1000000000000), INT64_C(75000000)),
                     INT64_C(75000000000000));
}
END_TEST


/* ---------------------------------------------------------------- versions */

static const char versions_text[] =
    "{\"catalog_version\": \"v1\", \"models\": {\"m\": {\"provider\": \"openai\","
    " \"prices\": ["
    "  {\"effective_from\": \"2025-06-01T12:00:00Z\", \"input\": 3, \"output\": 4},"
    "  {\"effective_from\": \"2024-01-01\", \"input\": 1, \"output\": 2},"
    "  {\"effective_from\": \"2026-01-01\", \"input\": \"0.5\", \"output\": \"0.75\","
    "   \"tiers\": [{\"above_tokens\": 100, \"input\": 1}, {\"above_tokens\": 1000,"
    "   \"output\": null}]}]}}}";

START_TEST(version_selection)
{
    tg_catalog *c = load1(versions_text);
    print_problems();
    ck_assert_ptr_nonnull(c);
    const tg_cat_model *m = tg_catalog_find(c, "m");
    ck_assert_int_eq(m->nversions, 3);
    ck_assert_str_eq(m->versions[0].id, "2024-01-01");
    ck_assert_int_eq(m->versions[0].effective_from, 1704067200);
    ck_assert_int_eq(m->versions[1].effective_from, 1748779200);
    ck_assert_str_eq(m->versions[1].id, "2025-06-01T12:00:00Z");
    ck_assert_ptr_null(tg_cat_version_at(m, 1704067199));            /* before all */
    ck_assert_str_eq(tg_cat_version_at(m, 1704067200)->id, "2024-01-01"); /* at */
    ck_assert_str_eq(tg_cat_version_at(m, 1748779199)->id, "2024-01-01"); /* between */
    ck_assert_str_eq(tg_cat_version_at(m, 1748779200)->id, "2025-06-01T12:00:00Z");
    ck_assert_str_eq(tg_cat_version_at(m, INT64_MAX)->id, "2026-01-01"); /* after */
    const tg_cat_version *v = tg_cat_version_at(m, INT64_MAX);
    ck_assert_int_eq(v->ntiers, 3);
    ck_assert_int_eq(tg_cat_tier(v, 100)->input, 500000000);
    ck_assert_int_eq(tg_cat_tier(v, 101)->input, NANO);
    ck_assert_int_eq(tg_cat_tier(v, 101)->output, 750000000); /* inherited */
    ck_assert_int_eq(tg_cat_tier(v, 1001)->input, 500000000);   /* inherited */
    ck_assert_int_eq(tg_cat_tier(v, 1001)->output, TG_CAT_PRICE_UNKNOWN);
    ck_assert_str_eq(m->upstream_model, "m");
    ck_assert_str_eq(m->tokenizer, "o200k_base");
    ck_assert_uint_eq(m->endpoints, TG_CAT_EP_CHAT);
    ck_assert_str_eq(tg_catalog_version(c), "v1");
    tg_catalog_free(c);
}
END_TEST

/* ---------------------------------------------------------------- precedence */

START_TEST(override_precedence)
{
    const char *litellm =
        "{\"gpt-4o\": {\"litellm_provider\": \"openai\", \"input_cost_per_token\": 1e-06,"
        " \"output_cost_per_token\": 2e-06},"
        " \"only-litellm\": {\"litellm_provider\": \"openai\", \"input_cost_per_token\": 1e-06,"
        " \"output_cost_per_token\": 2e-06},"
        " \"claude-haiku-4-5\": {\"litellm_provider\": \"anthropic\","
        " \"input_cost_per_token\": 9e-06, \"output_cost_per_token\": 9e-06}}";
    const char *mine =
        "{\"catalog_version\": \"ours-7\", \"models\": {"
        " \"gpt-4o\": {\"provider\": \"openai\", \"tier\": \"house\","
        "   \"prices\": [{\"input\": 3, \"output\": 4}]},"
        " \"brand-new\": {\"provider\": \"local\", \"prices\": [{\"input\": 0, \"output\": 0}]}}}";
    tg_catalog *c = load3(true, litellm, mine, NULL);
    print_problems();
    ck_assert_ptr_nonnull(c);
    const tg_cat_model *m = tg_catalog_find(c, "gpt-4o");
    ck_assert_int_eq(base(m)->input, 3 * NANO); /* tollgate file over LiteLLM over built-in */
    ck_assert_str_eq(m->tier, "house");
    ck_assert_int_eq(m->context_window, 0); /* replaced whole, nothing merged */
    m = tg_catalog_find(c, "claude-haiku-4-5");
    ck_assert_int_eq(base(m)->input, 9 * NANO); /* LiteLLM over built-in */
    ck_assert_str_eq(m->tier, "");
    ck_assert_ptr_nonnull(tg_catalog_find(c, "only-litellm"));
    m = tg_catalog_find(c, "brand-new");
    ck_assert_str_eq(m->tokenizer, "estimate");
    ck_assert_int_eq(m->estimate_permille, 1150);
    ck_assert_ptr_nonnull(tg_catalog_find(c, "gpt-5")); /* built-in ones stay */
    /* a LiteLLM source has no catalog_version: the label is a content hash */
    ck_assert_int_eq(strncmp(tg_catalog_version(c), "sha256:", 7), 0);
    tg_catalog_free(c);

    c = load3(true, mine, NULL, NULL);
    ck_assert_ptr_nonnull(c);
    ck_assert_str_eq(tg_catalog_version(c), "2026-11-24.1+ours-7");
    tg_catalog_free(c);
}
END_TEST

/* ---------------------------------------------------------------- problems */

/* `text` with every ' made a " (keeps the JSON below readable), in one of two static
 * buffers used in turn. */
static const char *dq(const char *text)
{
    static char bufs[2][4096];
    static int turn;
    char *buf = bufs[turn ^= 1];
    size_t n = strlen(text);
    ck_assert_uint_lt(n, sizeof bufs[0]);
    for (size_t i = 0; i <= n; i++)
        buf[i] = text[i] == '\'' ? '"' : text[i];
    return buf;
}

/* A valid model "m" with `extra` fields added, and a valid price version with more. */
#define MODEL_WITH "{'models': {'m': {'provider': 'openai', 'prices': [{'input': 1, " \
                   "'output': 1}], %s}}}"
#define PRICE_WITH "{'models': {'m': {'provider': 'openai', 'prices': [{'input': 1, " \
                   "'output': 1, %s}]}}}"

typedef struct {
    const char *form, *arg; /* the text: form with arg put in (arg NULL: form alone) */
    const char *problem;    /* the one problem it must give, after "a.json: " */
} problem_case;

static const problem_case problem_cases[] = {
    /* the file as a whole */
    {"{'models': {}", NULL, "line 1, column 14: invalid JSON: unexpected end of file"},
    {"[1, 2]", NULL, "$: not a model catalog: expected an object with 'models' (the "
                     "tollgate format) or LiteLLM pricing entries (litellm_provider, "
                     "input_cost_per_token, ...)"},
    {"{'gpt': {'price': 1}}", NULL, "$: not a model catalog: expected an object with "
     "'models' (the tollgate format) or LiteLLM pricing entries (litellm_provider, "
     "input_cost_per_token, ...)"},
    {"{'models': {}, 'catalog_verison': 'x'}", NULL,
     "$.catalog_verison: unknown field (did you mean 'catalog_version'?)"},
    {"{'models': {}, 'catalog_version': 7}", NULL,
     "$.catalog_version: expected a string, got a number"},
    {"{'models': []}", NULL, "$.models: expected an object, got an array"},
    {"{'models': {'m': 5}}", NULL, "$.models.m: expected an object, got a number"},
    {"{'models': {'bad name': {'provider': 'x', 'prices': [{'input': 1, 'output': 1}]}}}",
     NULL, "$.models['bad name']: model names are 1-95 printable ASCII characters without "
           "spaces"},
    {"{'models': {'m': {'provider': 'x', 'prices': [{'input': 1, 'output': 1}]},"
     " 'm': {'provider': 'y', 'prices': [{'input': 1, 'output': 1}]}}}",
     NULL, "$.models.m: model defined twice in this file (each name may appear once)"},
    /* a model's fields */
    {MODEL_WITH, "'provder': 'x'", "$.models.m.provder: unknown field (did you mean "
                                   "'provider'?)"},
    {MODEL_WITH, "'colour': 'x'", "$.models.m.colour: unknown field (known: provider, "
     "upstream_model, tokenizer, estimate_factor, endpoints, context_window, max_output, "
     "capabilities, tier, prices)"},
    {MODEL_WITH, "'tier': 'fast', 'tier': 'smart'",
     "$.models.m.tier: duplicate field (each field may appear once)"},
    {"{'models': {'m': {'prices': [{'input': 1, 'output': 1}]}}}", NULL,
     "$.models.m: missing field 'provider'"},
    {"{'models': {'m': {'provider': 'openai'}}}", NULL,
     "$.models.m: missing field 'prices' (at least one price version)"},
    {"{'models': {'m': {'provider': 'open ai', 'prices': [{'input': 1, 'output': 1}]}}}",
     NULL, "$.models.m.provider: expected 1-95 characters from A-Z a-z 0-9 _ . -"},
    {MODEL_WITH, "'upstream_model': ''",
     "$.models.m.upstream_model: expected 1-95 printable ASCII characters, no spaces"},
    {MODEL_WITH, "'tokenizer': 'p50k_base'",
     "$.models.m.tokenizer: expected 'o200k_base', 'cl100k_base' or 'estimate'"},
    {MODEL_WITH, "'estimate_factor': 0.2",
     "$.models.m.estimate_factor: expected a number from 0.5 to 4 (the factor on input "
     "estimates)"},
    {MODEL_WITH, "'endpoints': ['chat', 'chatt']",
     "$.models.m.endpoints[1]: unknown name 'chatt' (known: chat, completions, embeddings, "
     "responses, messages)"},
    {MODEL_WITH, "'capabilities': 'tools'",
     "$.models.m.capabilities: expected an array of strings, got a string"},
    {MODEL_WITH, "'capabilities': [1]",
     "$.models.m.capabilities[0]: expected a string, got a number"},
    {MODEL_WITH, "'context_window': -1",
     "$.models.m.context_window: expected an integer from 0 to 1000000000, got -1"},
    {MODEL_WITH, "'max_output': 1.5",
     "$.models.m.max_output: expected an integer from 0 to 1000000000, got 1.5"},
    {MODEL_WITH, "'tier': ''",
     "$.models.m.tier: expected 1-95 characters from A-Z a-z 0-9 _ . -"},
    /* price versions */
    {"{'models': {'m': {'provider': 'x', 'prices': []}}}", NULL,
     "$.models.m.prices: expected a non-empty array of price versions, got an empty array"},
    {"{'models': {'m': {'provider': 'x', 'prices': [7]}}}", NULL,
     "$.models.m.prices[0]: expected an object, got a number"},
    {"{'models': {'m': {'provider': 'x', 'prices': [{'input': 1}]}}}", NULL,
     "$.models.m.prices[0]: missing field 'output' (null when unknown)"},
    {"{'models': {'m': {'provider': 'x', 'prices': [{'output': 1}]}}}", NULL,
     "$.models.m.prices[0]: missing field 'input' (null when unknown)"},
    {PRICE_WITH, "'cached_input': -0.5", "$.models.m.prices[0].cached_input: must be a "
     "non-negative number or decimal string (USD per million tokens), or null"},
    {PRICE_WITH, "'cache_write': '1.2.3'", "$.models.m.prices[0].cache_write: must be a "
     "non-negative number or decimal string (USD per million tokens), or null"},
    {PRICE_WITH, "'cache_write_1h': '1e3'", "$.models.m.prices[0].cache_write_1h: must be a "
     "non-negative number or decimal string (USD per million tokens), or null"},
    {PRICE_WITH, "'reasoning': true", "$.models.m.prices[0].reasoning: must be a "
     "non-negative number or decimal string (USD per million tokens), or null"},
    {PRICE_WITH, "'reasoning': 1000000.01",
     "$.models.m.prices[0].reasoning: must be at most 1000000 (USD per million tokens)"},
    {PRICE_WITH, "'effective_from': '2025-02-30'",
     "$.models.m.prices[0].effective_from: expected a UTC date 'YYYY-MM-DD' or date-time "
     "'YYYY-MM-DDTHH:MM:SSZ' from 1970 on"},
    {PRICE_WITH, "'effective_from': '2025-01-01T24:00:00Z'",
     "$.models.m.prices[0].effective_from: expected a UTC date 'YYYY-MM-DD' or date-time "
     "'YYYY-MM-DDTHH:MM:SSZ' from 1970 on"},
    {PRICE_WITH, "'effective_from': '1969-12-31'",
     "$.models.m.prices[0].effective_from: expected a UTC date 'YYYY-MM-DD' or date-time "
     "'YYYY-MM-DDTHH:MM:SSZ' from 1970 on"},
    {PRICE_WITH, "'efective_from': '2025-01-01'",
     "$.models.m.prices[0].efective_from: unknown field (did you mean 'effective_from'?)"},
    {"{'models': {'m': {'provider': 'x', 'prices': [{'effective_from': '2025-01-01', "
     "'input': 1, 'output': 1}, {'effective_from': '2024-01-01', 'input': 1, 'output': 1}, "
     "{'effective_from': '2025-01-01T00:00:00Z', 'input': 2, 'output': 2}]}}}", NULL,
     "$.models.m.prices[2]: same effective_from as prices[0] (each price version needs its "
     "own date)"},
    {PRICE_WITH, "'tiers': {}",
     "$.models.m.prices[0].tiers: expected an array of tiers, got an object"},
    {PRICE_WITH, "'tiers': [{'input': 2}]",
     "$.models.m.prices[0].tiers[0]: missing field 'above_tokens'"},
    {PRICE_WITH, "'tiers': [{'above_tokens': 0}]",
     "$.models.m.prices[0].tiers[0].above_tokens: expected an integer from 1 to 1000000000, "
     "got 0"},
    {PRICE_WITH, "'tiers': [{'above_tokens': 500}, {'above_tokens': 500}]",
     "$.models.m.prices[0].tiers[1]: above_tokens must be greater than in the previous tier "
     "(500)"},
    {PRICE_WITH, "'tiers': [{'above_tokens': 1}, {'above_tokens': 2}, {'above_tokens': 3}, "
     "{'above_tokens': 4}]",
     "$.models.m.prices[0].tiers[3]: too many tiers (at most 3 after the base prices)"},
    {PRICE_WITH, "'tiers': [{'above_tokens': 1, 'output': -1}]",
     "$.models.m.prices[0].tiers[0].output: must be a non-negative number or decimal string "
     "(USD per million tokens), or null"},
    /* LiteLLM's format */
    {"{'m': {'litellm_provider': 'openai', 'input_cost_per_token': -1e-06}}", NULL,
     "$.m.input_cost_per_token: must be a non-negative number (USD per token)"},
    {"{'m': {'litellm_provider': 'openai', 'input_cost_per_token': '1e-06'}}", NULL,
     "$.m.input_cost_per_token: must be a non-negative number (USD per token)"},
    {"{'m': {'litellm_provider': 'openai', 'output_cost_per_token_above_200k_tokens': 2}}",
     NULL, "$.m.output_cost_per_token_above_200k_tokens: must be at most 1 (USD per token)"},
    {"{'m': {'input_cost_per_token': 1e-06}}", NULL, "$.m: missing field 'litellm_provider'"},
    {"{'m': {'litellm_provider': 'open ai', 'input_cost_per_token': 1e-06}}", NULL,
     "$.m.litellm_provider: expected 1-95 characters from A-Z a-z 0-9 _ . -"},
    {"{'m': {'litellm_provider': 'openai', 'mode': 1}}", NULL,
     "$.m.mode: expected a string, got a number"},
    {"{'m': {'litellm_provider': 'openai', 'supports_vision': 'yes'}}", NULL,
     "$.m.supports_vision: expected a boolean, got a string"},
    {"{'m': {'litellm_provider': 'openai', 'max_input_tokens': 12.5}}", NULL,
     "$.m.max_input_tokens: expected an integer from 0 to 1000000000, got 12.5"},
    {"{'m': {'litellm_provider': 'openai', 'supported_endpoints': '/v1/chat/completions'}}",
     NULL, "$.m.supported_endpoints: expected an array of strings, got a string"},
    {"{'m': {'litellm_provider': 'openai', 'input_cost_per_token': 1e-06, "
     "'input_cost_per_token': 2e-06}}", NULL,
     "$.m.input_cost_per_token: duplicate field (each field may appear once)"},
    {"{'m': {'litellm_provider': 'openai', 'input_cost_per_token_above_1k_tokens': 1e-06, "
     "'input_cost_per_token_above_2k_tokens': 1e-06, 'input_cost_per_token_above_3k_tokens':"
     " 1e-06, 'input_cost_per_token_above_4k_tokens': 1e-06}}", NULL,
     "$.m.input_cost_per_token_above_4k_tokens: too many long-context tiers (at most 3)"},
};

START_TEST(problem_each_kind)
{
    const problem_case *pc = &problem_cases[_i];
    char text[2048], want[1024];
    snprintf(text, sizeof text, pc->form, pc->arg ? pc->arg : "");
    snprintf(want, sizeof want, "a.json: %s", pc->problem);
    expect_problem(dq(text), dq(want));
}
END_TEST

START_TEST(problem_many_in_one_file)
{
    const char *const want[] = {
        "a.json: $.models.a.provider: expected a string, got a number",
        "a.json: $.models.a.prices[0].input: must be a non-negative number or decimal "
        "string (USD per million tokens), or null",
        "a.json: $.models.a.tokenzer: unknown field (did you mean \"tokenizer\"?)",
        "a.json: $.models.b: missing field \"prices\" (at least one price version)",
        "a.json: $.models[\"c d\"]: model names are 1-95 printable ASCII characters without "
        "spaces",
        "a.json: $.models[\"c d\"].prices[1].effective_from: expected a UTC date "
        "\"YYYY-MM-DD\" or date-time \"YYYY-MM-DDTHH:MM:SSZ\" from 1970 on",
        "a.json: $.models[\"c d\"].prices[1]: missing field \"output\" (null when unknown)",
        "a.json: $.extra: unknown field (known: catalog_version, models)",
        NULL};
    expect_problems(dq("{'models': {'_note': 'a comment',"
                       " 'a': {'provider': 1, 'prices': [{'input': -2, 'output': 1}],"
                       "       'tokenzer': 'estimate'},"
                       " 'b': {'provider': 'x'},"
                       " 'c d': {'provider': 'x', 'prices': [{'input': 1, 'output': 1},"
                       "        {'effective_from': 'soon', 'input': 1}]}},"
                       " '_comment': 'comments are fine', 'extra': 1}"),
                    want);
    /* more problems than room: all counted, the first ones kept */
    tg_cat_problem two[2];
    const char *text = dq("{'models': {'a': {}, 'b': {}, 'c': {}}}");
    size_t len = strlen(text);
    const char *name = "x.json";
    int n = 0;
    ck_assert_ptr_null(tg_catalog_load_texts(&text, &len, &name, 1, false, two, 2, &n));
    ck_assert_int_eq(n, 6);
    ck_assert_str_eq(two[1].text, "x.json: $.models.a: missing field \"prices\" (at least one "
                                  "price version)");
}
END_TEST

START_TEST(problem_files)
{
    const char *files[] = {"/nonexistent/cat.json", fixture("model_prices.json")};
    tg_catalog *c = tg_catalog_load(files, 2, probs, MAXP, &nprobs);
    ck_assert_ptr_null(c);
    ck_assert_int_eq(nprobs, 1);
    ck_assert_str_eq(probs[0].text, "/nonexistent/cat.json: cannot open: No such file or "
                                    "directory");
    /* an in-memory text need not be NUL-terminated, and may not hold a NUL */
    const char *text = "{\"models\": {}}\0garbage";
    size_t len = 23;
    c = tg_catalog_load_texts(&text, &len, NULL, 1, false, probs, MAXP, &nprobs);
    ck_assert_ptr_null(c);
    ck_assert_str_eq(probs[0].text, "text: not a text file (contains a NUL byte)");
    len = 14;
    c = tg_catalog_load_texts(&text, &len, NULL, 1, false, probs, MAXP, &nprobs);
    ck_assert_ptr_nonnull(c);
    ck_assert_int_eq(tg_catalog_count(c), 0);
    tg_catalog_free(c);
}
END_TEST

/* ---------------------------------------------------------------- to_json */

/* Loads c's JSON back (no builtin) and checks it gives the same models and label. */
static void assert_round_trip(const tg_catalog *c)
{
    char *json = tg_catalog_to_json(c);
    ck_assert_ptr_nonnull(json);
    tg_catalog *back = load1(json);
    print_problems();
    ck_assert_ptr_nonnull(back);
    ck_assert_int_eq(tg_catalog_count(back), tg_catalog_count(c));
    ck_assert_str_eq(tg_catalog_version(back), tg_catalog_version(c));
    for (int i = 0; i < tg_catalog_count(c); i++)
        ck_assert_msg(memcmp(tg_catalog_at(c, i), tg_catalog_at(back, i),
                             sizeof(tg_cat_model)) == 0,
                      "%s differs after the round trip", tg_catalog_at(c, i)->name);
    char *again = tg_catalog_to_json(back);
    ck_assert_str_eq(again, json);
    free(again);
    free(json);
    tg_catalog_free(back);
}

START_TEST(to_json_round_trip)
{
    const char *odd =
        "{\"models\": {\"odd\": {\"provider\": \"p\", \"upstream_model\": \"x/y\","
        " \"tokenizer\": \"cl100k_base\", \"estimate_factor\": 1.234, \"endpoints\": [],"
        " \"capabilities\": [\"file_input\", \"tools\"], \"tier\": \"t\", \"prices\": ["
        "  {\"input\": \"999999.999999999\", \"output\": \"0.000000001\","
        "   \"reasoning\": \"123456.123456789\", \"cache_write_1h\": 0},"
        "  {\"effective_from\": \"2030-01-01T00:00:01Z\", \"input\": null, \"output\": null,"
        "   \"tiers\": [{\"above_tokens\": 5, \"input\": 2}]}]}}}";
    tg_catalog *c = load3(true, odd, versions_text, NULL);
    print_problems();
    ck_assert_ptr_nonnull(c);
    assert_round_trip(c);
    tg_catalog_free(c);

    const char *files[] = {fixture("model_prices.json")};
    c = tg_catalog_load(files, 1, probs, MAXP, &nprobs);
    ck_assert_ptr_nonnull(c);
    assert_round_trip(c);
    tg_catalog_free(c);
}
END_TEST

/* ---------------------------------------------------------------- small functions */

START_TEST(cap_names_and_lookup)
{
    for (int i = 0; i < TG_CAP_COUNT; i++) {
        const char *name = tg_cat_cap_name(1u << i);
        ck_assert_ptr_nonnull(name);
        ck_assert_uint_eq(tg_cat_cap_parse(name), 1u << i);
    }
    ck_assert_str_eq(tg_cat_cap_name(TG_CAP_STRUCTURED), "structured_outputs");
    ck_assert_ptr_null(tg_cat_cap_name(0));
    ck_assert_ptr_null(tg_cat_cap_name(TG_CAP_TOOLS | TG_CAP_VISION));
    ck_assert_ptr_null(tg_cat_cap_name(1u << TG_CAP_COUNT));
    ck_assert_uint_eq(tg_cat_cap_parse("Tools"), 0);
    tg_catalog *c = load1(versions_text);
    ck_assert_ptr_nonnull(c);
    ck_assert_ptr_null(tg_catalog_at(c, -1));
    ck_assert_ptr_null(tg_catalog_at(c, 1));
    ck_assert_ptr_null(tg_catalog_find(c, "M"));
    ck_assert_ptr_null(tg_catalog_find(c, ""));
    tg_catalog_free(c);
    tg_catalog_free(NULL);
}
END_TEST

Suite *catalog_suite(void);

Suite *catalog_suite(void)
{
    Suite *s = suite_create("catalog");
    TCase *tc = tcase_create("core");
    tcase_add_test(tc, builtin_loads_clean);
    tcase_add_test(tc, litellm_fixture_loads_clean);
    tcase_add_test(tc, litellm_tiers);
    tcase_add_test(tc, litellm_small);
    tcase_add_test(tc, price_conversion_exact);
    tcase_add_test(tc, cost_rounding_and_saturation);
    tcase_add_test(tc, version_selection);
    tcase_add_test(tc, override_precedence);
    tcase_add_loop_test(tc, problem_each_kind, 0,
                        (int)(sizeof problem_cases / sizeof *problem_cases));
    tcase_add_test(tc, problem_many_in_one_file);
    tcase_add_test(tc, problem_files);
    tcase_add_test(tc, to_json_round_trip);
    tcase_add_test(tc, cap_names_and_lookup);
    suite_add_tcase(s, tc);
    return s;
}

int main(void)
{
    SRunner *sr = srunner_create(catalog_suite());
    srunner_run_all(sr, CK_NORMAL);
    int failed = srunner_ntests_failed(sr);
    srunner_free(sr);
    return failed ? EXIT_FAILURE : EXIT_SUCCESS;
}
