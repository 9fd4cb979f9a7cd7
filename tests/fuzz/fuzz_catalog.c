/* libFuzzer target for the model catalog loader: arbitrary bytes as one catalog text,
 * loaded alone and after the built-in catalog.
 * Checks: no crash or leak; a load either fails with at least one problem, each a
 * non-empty line, or gives a catalog whose invariants hold (names sorted and found by
 * lookup, versions ascending, tiers ascending, prices non-negative or unknown) and whose
 * JSON (tg_catalog_to_json) loads back into the same models. */
#include "policies/catalog.h"

#include <stdint.h>
#include <stdlib.h>
#include <string.h>

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

#define MAX_PROBS 16

static void check_prices(const tg_cat_prices *t)
{
    const int64_t p[] = {t->input, t->cached_input, t->cache_write, t->cache_write_1h,
                         t->output, t->reasoning};
    for (size_t i = 0; i < sizeof p / sizeof *p; i++)
        if (p[i] < 0 && p[i] != TG_CAT_PRICE_UNKNOWN)
            abort();
}

static void check_model(const tg_catalog *c, const tg_cat_model *m)
{
    if (tg_catalog_find(c, m->name) != m || m->nversions < 1 ||
        m->nversions > TG_CAT_MAX_VERSIONS)
        abort();
    for (int v = 0; v < m->nversions; v++) {
        const tg_cat_version *ver = &m->versions[v];
        if (ver->ntiers < 1 || ver->ntiers > TG_CAT_MAX_TIERS || ver->tiers[0].above_tokens)
            abort();
        if (v > 0 && ver->effective_from <= m->versions[v - 1].effective_from)
            abort();
        if (tg_cat_version_at(m, ver->effective_from) != ver)
            abort();
        for (int t = 0; t < ver->ntiers; t++) {
            check_prices(&ver->tiers[t]);
            if (t > 0 && ver->tiers[t].above_tokens <= ver->tiers[t - 1].above_tokens)
                abort();
            if (tg_cat_tier(ver, ver->tiers[t].above_tokens + 1) != &ver->tiers[t])
                abort();
        }
    }
}

static void check_catalog(const tg_catalog *c)
{
    for (int i = 0; i < tg_catalog_count(c); i++) {
        const tg_cat_model *m = tg_catalog_at(c, i);
        if (i > 0 && strcmp(tg_catalog_at(c, i - 1)->name, m->name) >= 0)
            abort();
        check_model(c, m);
    }
    if (!tg_catalog_version(c)[0])
        abort();
}

/* The catalog's JSON must load back (alone) into the same models. */
static void check_round_trip(const tg_catalog *c)
{
    char *json = tg_catalog_to_json(c);
    if (!json)
        abort();
    static tg_cat_problem probs[MAX_PROBS];
    int n = 0;
    size_t len = strlen(json);
    const char *text = json;
    tg_catalog *back = tg_catalog_load_texts(&text, &len, NULL, 1, false, probs, MAX_PROBS, &n);
    if (!back || n != 0 || tg_catalog_count(back) != tg_catalog_count(c))
        abort();
    for (int i = 0; i < tg_catalog_count(c); i++)
        if (memcmp(tg_catalog_at(c, i), tg_catalog_at(back, i), sizeof(tg_cat_model)) != 0)
            abort();
    tg_catalog_free(back);
    free(json);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    static tg_cat_problem probs[MAX_PROBS];
    const char *text = (const char *)data;
    const char *name = "fuzz.json";
    for (int builtin = 0; builtin <= 1; builtin++) {
        int n = -1;
        tg_catalog *c = tg_catalog_load_texts(&text, &size, &name, 1, builtin, probs,
                                              MAX_PROBS, &n);
        if (n < 0 || (c == NULL) != (n > 0))
            abort();
        for (int i = 0; i < n && i < MAX_PROBS; i++)
            if (!probs[i].text[0] || strchr(probs[i].text, '\n'))
                abort();
        if (c) {
            check_catalog(c);
            if (!builtin)
                check_round_trip(c);
        }
        tg_catalog_free(c);
    }
    return 0;
}
