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

START_TEST(problem_simple)
{
    expect_problem("{\"models\": {\"m\": {\"provider\": \"openai\", \"prices\": [{\"input\":"
                   " -1, \"output\": 1}]}}}",
                   "a.json: $.models.m.prices[0].input: must be a non-negative number or "
                   "decimal string (USD per million tokens), or null");
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
    tcase_add_test(tc, problem_simple);
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
