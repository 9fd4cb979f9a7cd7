/* Tests for the routing decision (router/route.h): candidates from the rule, exclusions
 * with their reasons (provider, endpoint, capabilities, output cap, context window, price
 * not yet in effect, unknown price, substitution), expected cost with tiers and safety
 * factors, the three objectives and their tie-breaks, the running output average, the
 * decision JSON and snapshot swaps.  Catalogs and policies are small JSON texts compiled
 * with the real loaders (policies/). */
#include <check.h>
#include <cjson/cJSON.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "policies/catalog.h"
#include "policies/policy.h"
#include "router/route.h"

#define NOW 1767225600 /* 2026-01-01T00:00:00Z */

static const char catalog_text[] =
    "{\"catalog_version\": \"t1\", \"models\": {"
    " \"a-cheap\": {\"provider\": \"pa\", \"tokenizer\": \"o200k_base\", \"endpoints\": [\"chat\"],"
    "   \"context_window\": 1000, \"max_output\": 100, \"capabilities\": [\"tools\"],"
    "   \"tier\": \"fast\", \"prices\": [{\"effective_from\": \"2025-01-01\", \"input\": 1,"
    "   \"output\": 2}]},"
    " \"b-mid\": {\"provider\": \"pb\", \"upstream_model\": \"b-upstream\","
    "   \"tokenizer\": \"estimate\", \"estimate_factor\": 1.5, \"endpoints\": [\"chat\"],"
    "   \"context_window\": 100000, \"max_output\": 4000,"
    "   \"capabilities\": [\"tools\", \"vision\"], \"tier\": \"fast\","
    "   \"prices\": [{\"effective_from\": \"2025-01-01\", \"input\": 2, \"output\": 4,"
    "   \"tiers\": [{\"above_tokens\": 500, \"input\": 10, \"output\": 20}]}]},"
    " \"c-same\": {\"provider\": \"pa\", \"tokenizer\": \"o200k_base\", \"endpoints\": [\"chat\"],"
    "   \"context_window\": 1000, \"max_output\": 100, \"capabilities\": [\"tools\"],"
    "   \"tier\": \"fast\", \"prices\": [{\"effective_from\": \"2025-01-01\", \"input\": 1,"
    "   \"output\": 2}]},"
    " \"d-later\": {\"provider\": \"pa\", \"tokenizer\": \"o200k_base\", \"endpoints\": [\"chat\"],"
    "   \"prices\": [{\"effective_from\": \"2030-01-01\", \"input\": 0.5, \"output\": 0.5}]},"
    " \"e-repriced\": {\"provider\": \"pa\", \"tokenizer\": \"o200k_base\","
    "   \"endpoints\": [\"chat\"], \"prices\": ["
    "   {\"effective_from\": \"2025-01-01\", \"input\": 9, \"output\": 9},"
    "   {\"effective_from\": \"2025-06-01\", \"input\": 0.25, \"output\": 0.25}]},"
    " \"f-embed\": {\"provider\": \"pa\", \"tokenizer\": \"cl100k_base\","
    "   \"endpoints\": [\"embeddings\"], \"prices\": [{\"effective_from\": \"2025-01-01\","
    "   \"input\": 0.02, \"output\": 0}]}"
    "}}";

static const char policy_text[] =
    "{\"policy_version\": \"pv1\", \"aliases\": [\"auto\", \"ord\", \"w\", \"subst\", \"none\","
    "  \"emb\"],"
    " \"rules\": ["
    "  {\"id\": \"deny-x\", \"when\": {\"team\": \"blocked\"}, \"deny\": \"no\"},"
    "  {\"id\": \"auto\", \"when\": {\"model\": \"auto\"}, \"route\": {\"candidates\": "
    "   [\"c-same\", \"b-mid\", \"a-cheap\", \"d-later\", \"e-repriced\"]}},"
    "  {\"id\": \"ord\", \"when\": {\"model\": \"ord\"}, \"route\": {\"candidates\": "
    "   [\"b-mid\", \"a-cheap\"], \"objective\": \"ordered\"}},"
    "  {\"id\": \"w\", \"when\": {\"model\": \"w\"}, \"route\": {\"candidates\": "
    "   [\"a-cheap\", \"b-mid\"], \"objective\": \"weighted\","
    "   \"weights\": {\"a-cheap\": 1, \"b-mid\": 3}}},"
    "  {\"id\": \"subst\", \"when\": {\"model\": \"b-mid\"}, \"route\": {\"candidates\": "
    "   [\"a-cheap\", \"$requested\"], \"substitute\": true}},"
    "  {\"id\": \"emb\", \"when\": {\"model\": \"emb\"}, \"route\": {\"candidates\": "
    "   [\"f-embed\", \"a-cheap\"]}},"
    "  {\"id\": \"none\", \"when\": {\"model\": \"none\"}, \"route\": {\"candidates\": "
    "   [\"d-later\"]}},"
    "  {\"id\": \"default\", \"when\": {}, \"route\": {\"candidates\": [\"$requested\"],"
    "   \"default_output_tokens\": 50}}"
    " ]}";

static tg_catalog *cat;
static tg_policy *pol;
static const char *missing_key_provider;

static void setup(void)
{
    const char *texts[] = {catalog_text};
    size_t lens[] = {strlen(catalog_text)};
    const char *names[] = {"test-catalog"};
    tg_cat_problem cp[8];
    tg_policy_problem pp[8];
    int n = 0;
    cat = tg_catalog_load_texts(texts, lens, names, 1, false, cp, 8, &n);
    ck_assert_msg(cat != NULL, "catalog: %s", n ? cp[0].text : "?");
    pol = tg_policy_compile(policy_text, strlen(policy_text), "test-policy", cat, pp, 8, &n);
    ck_assert_msg(pol != NULL, "policy: %s", n ? pp[0].text : "?");
    missing_key_provider = NULL;
}

static void teardown(void)
{
    tg_policy_free(pol);
    tg_catalog_free(cat);
}

static bool provider_ok(void *pctx, const char *name, char *why)
{
    (void)pctx;
    if (missing_key_provider && strcmp(name, missing_key_provider) == 0) {
        snprintf(why, TG_ROUTE_WHY_MAX, "provider %s has no API key", name);
        return false;
    }
    return strcmp(name, "pa") == 0 || strcmp(name, "pb") == 0;
}

static bool provider_exists(void *pctx, const char *name)
{
    (void)pctx;
    return strcmp(name, "pa") == 0 || strcmp(name, "pb") == 0;
}

static tg_route_input input(const char *model, int64_t tokens)
{
    tg_route_input in = {.ctx = {.team = "t", .key_id = "k", .model = model,
                                 .endpoint = "chat", .input_tokens = tokens,
                                 .max_output_tokens = -1},
                         .provider_ok = provider_ok, .provider_exists = provider_exists,
                         .now = NOW};
    return in;
}

static tg_route_decision d; /* large: off the stack */

static const tg_route_cand *cand(const char *name)
{
    for (int i = 0; i < d.ncands; i++)
        if (strcmp(d.cands[i].model->name, name) == 0)
            return &d.cands[i];
    ck_abort_msg("no candidate %s", name);
    return NULL;
}

static const char *first(void)
{
    return d.norder ? d.cands[d.order[0]].model->name : "(none)";
}

START_TEST(cheapest_with_tie_break_and_versions)
{
    tg_route_input in = input("auto", 100);
    ck_assert_int_eq(tg_route_decide(cat, pol, &in, &d), TG_ROUTE_OK);
    ck_assert_str_eq(d.rule->id, "auto");
    /* e-repriced: the June 2025 price is in effect; 0.25/M beats 1/M */
    ck_assert_str_eq(first(), "e-repriced");
    ck_assert_str_eq(cand("e-repriced")->price->id, "2025-06-01");
    /* c-same and a-cheap cost the same: the rule's order decides (c-same first) */
    ck_assert_int_eq(cand("c-same")->expected_cost, cand("a-cheap")->expected_cost);
    int pc = -1, pa = -1;
    for (int i = 0; i < d.norder; i++) {
        if (d.order[i] == (int)(cand("c-same") - d.cands))
            pc = i;
        if (d.order[i] == (int)(cand("a-cheap") - d.cands))
            pa = i;
    }
    ck_assert_int_lt(pc, pa);
    ck_assert(cand("d-later")->excluded);
    ck_assert_str_eq(cand("d-later")->why, "no price in effect yet");
}
END_TEST

START_TEST(expected_cost_is_exact)
{
    tg_route_input in = input("auto", 100);
    tg_route_decide(cat, pol, &in, &d);
    /* a-cheap: 100 in x $1/M + min(max_output 100, default 256) out x $2/M */
    ck_assert_int_eq(cand("a-cheap")->expected_output, 100);
    ck_assert_int_eq(cand("a-cheap")->expected_cost, 100 * 1000 + 100 * 2000);
    ck_assert_int_eq(cand("a-cheap")->worst_cost, 100 * 1000 + 100 * 2000);
    /* b-mid: estimated tokenizer x1.5 -> 150 in; 150 <= 500: base tier */
    ck_assert_int_eq(cand("b-mid")->input_tokens, 150);
    ck_assert_int_eq(cand("b-mid")->expected_cost, 150 * 2000 + 256 * 4000);
    ck_assert_int_eq(cand("b-mid")->worst_cost, 150 * 2000 + 4000 * 4000);
}
END_TEST

START_TEST(long_context_tier)
{
    tg_route_input in = input("ord", 400); /* x1.5 = 600 > 500: the upper tier */
    ck_assert_int_eq(tg_route_decide(cat, pol, &in, &d), TG_ROUTE_OK);
    ck_assert_int_eq(cand("b-mid")->input_tokens, 600);
    ck_assert_int_eq(cand("b-mid")->expected_cost, 600 * 10000 + 256 * 20000);
}
END_TEST

START_TEST(ordered_keeps_rule_order)
{
    tg_route_input in = input("ord", 10);
    tg_route_decide(cat, pol, &in, &d);
    ck_assert_str_eq(first(), "b-mid");
    ck_assert_int_eq(d.norder, 2);
}
END_TEST

START_TEST(weighted_draw)
{
    int counts[2] = {0, 0};
    for (uint64_t r = 0; r < 4000; r++) {
        tg_route_input in = input("w", 10);
        in.rand = r * 2654435761u;
        tg_route_decide(cat, pol, &in, &d);
        counts[strcmp(first(), "a-cheap") == 0 ? 0 : 1]++;
        ck_assert_int_eq(d.norder, 2);
    }
    /* weights 1:3 over a uniform draw (rand % 4) */
    ck_assert_int_eq(counts[0], 1000);
    ck_assert_int_eq(counts[1], 3000);
}
END_TEST

START_TEST(exclusion_reasons)
{
    tg_route_input in = input("auto", 100);
    in.ctx.caps = TG_CAP_VISION;
    tg_route_decide(cat, pol, &in, &d);
    ck_assert_str_eq(first(), "b-mid");
    ck_assert_str_eq(cand("a-cheap")->why, "lacks vision");

    in = input("auto", 950);
    in.ctx.max_output_tokens = 80;
    tg_route_decide(cat, pol, &in, &d);
    ck_assert(cand("a-cheap")->excluded);
    ck_assert_msg(strstr(cand("a-cheap")->why, "context window 1000") != NULL, "%s",
                  cand("a-cheap")->why);

    in = input("auto", 10);
    in.ctx.max_output_tokens = 500;
    tg_route_decide(cat, pol, &in, &d);
    ck_assert_str_eq(cand("a-cheap")->why, "max output 100 < requested output cap 500");
    ck_assert_int_eq(cand("b-mid")->output_cap, 500);

    missing_key_provider = "pb";
    in = input("ord", 10);
    tg_route_decide(cat, pol, &in, &d);
    ck_assert_str_eq(cand("b-mid")->why, "provider pb has no API key");
    ck_assert_str_eq(first(), "a-cheap");

    in = input("emb", 10);
    in.ctx.endpoint = "embeddings";
    tg_route_decide(cat, pol, &in, &d);
    ck_assert_str_eq(first(), "f-embed");
    ck_assert_str_eq(cand("a-cheap")->why, "does not serve the embeddings endpoint");
    ck_assert_int_eq(cand("f-embed")->expected_output, 0);
}
END_TEST

START_TEST(no_candidate_and_errors)
{
    tg_route_input in = input("none", 10);
    ck_assert_int_eq(tg_route_decide(cat, pol, &in, &d), TG_ROUTE_NO_CANDIDATE);
    ck_assert_msg(strstr(d.message, "d-later: no price in effect yet") != NULL, "%s",
                  d.message);
    in = input("gpt-nope", 10);
    ck_assert_int_eq(tg_route_decide(cat, pol, &in, &d), TG_ROUTE_UNKNOWN_MODEL);
    ck_assert(strstr(d.message, "gpt-nope") != NULL);
    in = input("auto", 10);
    in.ctx.team = "blocked";
    ck_assert_int_eq(tg_route_decide(cat, pol, &in, &d), TG_ROUTE_DENIED);
    ck_assert_str_eq(d.message, "no");
}
END_TEST

START_TEST(concrete_model_not_substituted)
{
    tg_route_input in = input("a-cheap", 10);
    ck_assert_int_eq(tg_route_decide(cat, pol, &in, &d), TG_ROUTE_OK);
    ck_assert_str_eq(d.rule->id, "default");
    ck_assert(d.concrete);
    ck_assert_int_eq(d.norder, 1);
    ck_assert_str_eq(first(), "a-cheap");
    ck_assert_int_eq(cand("a-cheap")->expected_output, 50); /* the rule's default */
    /* a rule that allows substitution: the cheaper model wins over the named one */
    in = input("b-mid", 10);
    tg_route_decide(cat, pol, &in, &d);
    ck_assert_str_eq(d.rule->id, "subst");
    ck_assert_str_eq(first(), "a-cheap");
    ck_assert_int_eq(d.norder, 2);
    /* a provider-pinned name */
    in = input("pb/a-cheap", 10);
    ck_assert_int_eq(tg_route_decide(cat, pol, &in, &d), TG_ROUTE_OK);
    ck_assert_str_eq(first(), "a-cheap");
    ck_assert_str_eq(d.cands[d.order[0]].provider, "pb");
    in = input("nowhere/a-cheap", 10);
    ck_assert_int_eq(tg_route_decide(cat, pol, &in, &d), TG_ROUTE_UNKNOWN_MODEL);
}
END_TEST

START_TEST(running_average_lowers_expected_output)
{
    tg_route_observe_output("avg-team", "ord", 40);
    ck_assert_int_eq(tg_route_avg_output("avg-team", "ord"), 40);
    tg_route_observe_output("avg-team", "ord", 120); /* 40 + (120-40)/8 */
    ck_assert_int_eq(tg_route_avg_output("avg-team", "ord"), 50);
    ck_assert_int_eq(tg_route_avg_output("avg-team", "auto"), -1);
    tg_route_input in = input("ord", 10);
    in.ctx.team = "avg-team";
    tg_route_decide(cat, pol, &in, &d);
    ck_assert_int_eq(cand("b-mid")->expected_output, 50);
}
END_TEST

START_TEST(decision_json)
{
    tg_route_input in = input("auto", 100);
    in.ctx.caps = TG_CAP_TOOLS;
    tg_route_decide(cat, pol, &in, &d);
    char *s = tg_route_decision_json(&d);
    cJSON *j = cJSON_Parse(s);
    ck_assert_ptr_nonnull(j);
    /* e-repriced is cheapest but lacks tools; c-same ties a-cheap and comes first */
    ck_assert_str_eq(cJSON_GetObjectItem(j, "model")->valuestring, "c-same");
    ck_assert_str_eq(cJSON_GetObjectItem(j, "rule")->valuestring, "auto");
    ck_assert_int_eq(cJSON_GetObjectItem(j, "estimated_input_tokens")->valueint, 100);
    cJSON *cands = cJSON_GetObjectItem(j, "candidates");
    ck_assert_int_eq(cJSON_GetArraySize(cands), 5);
    /* money is printed exactly, fixed-point: 100 x $1/M + 100 x $2/M */
    ck_assert_msg(strstr(s, "0.000300000") != NULL, "%s", s);
    ck_assert_msg(strstr(s, "\"lacks tools\"") != NULL, "%s", s);
    ck_assert_str_eq(cJSON_GetArrayItem(cJSON_GetObjectItem(j, "required_capabilities"), 0)
                         ->valuestring, "tools");
    cJSON_Delete(j);
    cJSON_free(s);
}
END_TEST

START_TEST(snapshots_swap_and_free)
{
    const char *texts[] = {catalog_text};
    size_t lens[] = {strlen(catalog_text)};
    const char *names[] = {"c"};
    char probs[4][512];
    int n = 0;
    tg_route_snapshot *a = tg_route_snapshot_build(texts, lens, names, 1, policy_text,
                                                   strlen(policy_text), "p", probs, 4, &n);
    ck_assert_msg(a != NULL, "%s", n ? probs[0] : "?");
    tg_route_install(a);
    tg_route_snapshot *held = tg_route_acquire();
    ck_assert_ptr_eq(held, a);
    tg_route_snapshot *b = tg_route_snapshot_build(texts, lens, names, 1, NULL, 0, "builtin",
                                                   probs, 4, &n);
    ck_assert_msg(b != NULL, "%s", n ? probs[0] : "?");
    tg_route_install(b);                  /* a stays alive: a request holds it */
    ck_assert_str_eq(tg_policy_version(held->policy), "pv1");
    tg_route_release(held);               /* a is freed here (ASan checks) */
    ck_assert_ptr_eq(tg_route_acquire(), b);
    tg_route_release(b);
    const char *bad = "{\"rules\": [{\"id\": \"x\", \"when\": {}, \"route\": "
                      "{\"candidates\": [\"nope\"]}}]}";
    ck_assert_ptr_null(tg_route_snapshot_build(texts, lens, names, 1, bad, strlen(bad), "bad",
                                               probs, 4, &n));
    ck_assert_int_ge(n, 1);
    ck_assert_msg(strstr(probs[0], "nope") != NULL, "%s", probs[0]);
    tg_route_install(NULL);
}
END_TEST

/* Many candidates (more than a merge-sort pass or two), listed twice: each is priced once,
 * and the order is by expected cost with ties in the rule's order. */
START_TEST(many_candidates_sorted_and_deduplicated)
{
    enum { N = 150 };
    size_t cap = N * 260 + 256, len = 0;
    char *ct = malloc(cap), *pt = malloc(N * 16 + 256);
    len += (size_t)snprintf(ct + len, cap - len, "{\"models\": {");
    for (int i = 0; i < N; i++)
        len += (size_t)snprintf(ct + len, cap - len, "%s\"m%03d\": {\"provider\": \"pa\", "
                                "\"tokenizer\": \"o200k_base\", \"endpoints\": [\"chat\"], "
                                "\"prices\": [{\"effective_from\": \"2025-01-01\", "
                                "\"input\": %d, \"output\": 1}]}", i ? ", " : "", i,
                                (i * 37) % 11 + 1);
    snprintf(ct + len, cap - len, "}}");
    snprintf(pt, N * 16 + 256, "{\"aliases\": [\"many\"], \"rules\": [{\"id\": \"all\", "
             "\"when\": {}, \"route\": {\"candidates\": [\"m149\", \"m*\", \"m000\"]}}]}");
    const char *texts[] = {ct};
    size_t lens[] = {strlen(ct)};
    const char *names[] = {"many"};
    tg_cat_problem cp[4];
    tg_policy_problem pp[4];
    int n = 0;
    tg_catalog *c2 = tg_catalog_load_texts(texts, lens, names, 1, false, cp, 4, &n);
    ck_assert_msg(c2 != NULL, "%s", n ? cp[0].text : "?");
    tg_policy *p2 = tg_policy_compile(pt, strlen(pt), "many", c2, pp, 4, &n);
    ck_assert_msg(p2 != NULL, "%s", n ? pp[0].text : "?");
    tg_route_input in = input("many", 1000);
    ck_assert_int_eq(tg_route_decide(c2, p2, &in, &d), TG_ROUTE_OK);
    ck_assert_int_eq(d.ncands, N); /* m149 and m000 named twice: once each */
    ck_assert_int_eq(d.norder, N);
    ck_assert_str_eq(d.cands[0].model->name, "m149");
    for (int i = 1; i < d.norder; i++) {
        const tg_route_cand *a = &d.cands[d.order[i - 1]], *b = &d.cands[d.order[i]];
        ck_assert_int_le(a->expected_cost, b->expected_cost);
        if (a->expected_cost == b->expected_cost)
            ck_assert_int_lt(d.order[i - 1], d.order[i]);
    }
    /* the cheapest input price is 1 (i*37 % 11 == 0: i = 0, 11, 22, ...): m149 is not one
     * of them, so m000 comes first, being first in the rule among them after m149 */
    ck_assert_str_eq(d.cands[d.order[0]].model->name, "m000");
    tg_policy_free(p2);
    tg_catalog_free(c2);
    free(ct);
    free(pt);
}
END_TEST

static Suite *route_suite(void)
{
    Suite *s = suite_create("route");
    TCase *tc = tcase_create("decide");
    tcase_add_checked_fixture(tc, setup, teardown);
    tcase_add_test(tc, cheapest_with_tie_break_and_versions);
    tcase_add_test(tc, expected_cost_is_exact);
    tcase_add_test(tc, long_context_tier);
    tcase_add_test(tc, ordered_keeps_rule_order);
    tcase_add_test(tc, weighted_draw);
    tcase_add_test(tc, exclusion_reasons);
    tcase_add_test(tc, no_candidate_and_errors);
    tcase_add_test(tc, concrete_model_not_substituted);
    tcase_add_test(tc, running_average_lowers_expected_output);
    tcase_add_test(tc, decision_json);
    tcase_add_test(tc, snapshots_swap_and_free);
    tcase_add_test(tc, many_candidates_sorted_and_deduplicated);
    suite_add_tcase(s, tc);
    return s;
}

int main(void)
{
    SRunner *sr = srunner_create(route_suite());
    srunner_run_all(sr, CK_NORMAL);
    int failed = srunner_ntests_failed(sr);
    srunner_free(sr);
    return failed ? 1 : 0;
}
