/* libFuzzer target for the policy compiler and matcher: arbitrary bytes as a policy file,
 * compiled against the built-in catalog (loaded once), then matched against a few fixed
 * request contexts.  Checks: no crash, no leak; a compile either gives a policy (and then
 * every context matches a rule, a rule's candidates point into the catalog or are
 * "$requested", and its limits are in range) or reports at least one problem, each a
 * non-empty line naming the file. */
#include "policies/policy.h"

#include <stdint.h>
#include <stdlib.h>
#include <string.h>

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

#define MAX_PROBS 16

static const char *header(void *hctx, const char *name)
{
    (void)hctx;
    return strcmp(name, "x-team") == 0 ? "ml" : NULL;
}

static const char *const tags[] = {"intern", "beta"};

static const tg_policy_ctx ctxs[] = {
    {.max_output_tokens = -1},
    {.team = "eng", .key_id = "k1", .key_tags = tags, .nkey_tags = 2, .model = "gpt-4o",
     .endpoint = "chat", .input_tokens = 1200, .max_output_tokens = 500,
     .caps = TG_CAP_VISION | TG_CAP_TOOLS, .budget_used_pct = 85.5, .header = header},
    {.team = "", .key_id = "", .model = "auto", .endpoint = "messages", .input_tokens = -5,
     .max_output_tokens = 0, .caps = 0xffffffffu, .budget_used_pct = 1e300, .header = header},
};

static void check_rule(const tg_policy_rule *r, const tg_catalog *cat)
{
    if (!r || !r->when || r->max_attempts < 1 || r->max_attempts > 10 || !r->id[0] ||
        r->default_output_tokens < 1 || (r->fallback_on & ~(unsigned)TG_FB_ALL))
        abort();
    for (int i = 0; i < r->ncands; i++) {
        const tg_cat_model *m = r->cands[i].model;
        if (r->cands[i].weight < 1 || (m && tg_catalog_find(cat, m->name) != m))
            abort();
    }
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    static tg_catalog *cat;
    static tg_policy_problem probs[MAX_PROBS];
    if (!cat) {
        int n = 0;
        cat = tg_catalog_load(NULL, 0, NULL, 0, &n);
        if (!cat)
            abort();
    }
    int n = -1;
    tg_policy *p = tg_policy_compile((const char *)data, size, "fuzz.json", cat, probs,
                                     MAX_PROBS, &n);
    if ((p == NULL) != (n > 0))
        abort();
    for (int i = 0; i < n && i < MAX_PROBS; i++)
        if (strncmp(probs[i].text, "fuzz.json: ", 11) != 0 || !probs[i].text[11])
            abort();
    if (!p)
        return 0;
    for (int i = 0; i < tg_policy_rule_count(p); i++)
        check_rule(tg_policy_rule_at(p, i), cat);
    for (size_t i = 0; i < sizeof ctxs / sizeof ctxs[0]; i++)
        if (!tg_policy_match(p, &ctxs[i]))
            abort();
    for (int i = 0; i < tg_policy_alias_count(p); i++)
        if (!tg_policy_is_alias(p, tg_policy_alias_at(p, i)))
            abort();
    if (!tg_policy_version(p)[0])
        abort();
    tg_policy_free(p);
    return 0;
}
