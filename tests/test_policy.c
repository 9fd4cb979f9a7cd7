/* Tests for the routing policy (policies/policy.h): the glob matcher, every condition
 * operator on every kind of field (string, number, list, header, missing), $and/$or,
 * first-match-wins, the catch-all rule, every validation problem with its exact text and
 * JSON path, candidate expansion and de-duplication against the built-in catalog, the
 * built-in default policy, version labels, loading from files, and the matcher's speed.
 *
 * Policies are written here with single quotes for readability; pol() turns them into
 * JSON.  Conditions are tested by compiling a one-rule policy (plus the catch-all) and
 * evaluating that rule's condition against request contexts. */
#include <check.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "policies/policy.h"

#define MAXPROBS 64

static tg_catalog *cat;

static void setup(void)
{
    tg_cat_problem probs[4];
    int n = 0;
    cat = tg_catalog_load_texts(NULL, NULL, NULL, 0, true, probs, 4, &n);
    ck_assert_msg(cat != NULL && n == 0, "built-in catalog: %s", n ? probs[0].text : "?");
}

static void teardown(void)
{
    tg_catalog_free(cat);
}

/* `s` with every ' turned into " (a new string the caller frees). */
static char *pol(const char *s)
{
    char *out = strdup(s);
    ck_assert_ptr_nonnull(out);
    for (char *p = out; *p; p++)
        if (*p == '\'')
            *p = '"';
    return out;
}

typedef struct {
    tg_policy_problem p[MAXPROBS];
    int n;
} probs_t;

/* Compiles `text` (single-quoted JSON) against the built-in catalog. */
static tg_policy *compile(const char *text, probs_t *pr)
{
    char *json = pol(text);
    tg_policy *p = tg_policy_compile(json, strlen(json), "policy.json", cat, pr->p, MAXPROBS,
                                     &pr->n);
    free(json);
    ck_assert_msg((p == NULL) == (pr->n > 0), "a policy comes back exactly when no problem");
    return p;
}

static tg_policy *compile_ok(const char *text)
{
    probs_t pr;
    tg_policy *p = compile(text, &pr);
    ck_assert_msg(p != NULL, "unexpected problem: %s", pr.n ? pr.p[0].text : "");
    return p;
}

/* Checks that `text` gives exactly the problems `want` (NULL-terminated), in order. */
static void expect_problems(const char *text, const char *const *want)
{
    probs_t pr;
    tg_policy *p = compile(text, &pr);
    ck_assert_ptr_null(p);
    int n = 0, same = 0;
    while (want[n])
        n++;
    while (same < n && same < pr.n && strcmp(pr.p[same].text, want[same]) == 0)
        same++;
    for (int i = 0; (same < n || pr.n != n) && i < pr.n && i < MAXPROBS; i++)
        fprintf(stderr, "  got [%d] %s\n", i, pr.p[i].text);
    ck_assert_int_eq(pr.n, n);
    for (int i = 0; i < n; i++)
        ck_assert_str_eq(pr.p[i].text, want[i]);
}

static void expect_problem(const char *text, const char *want)
{
    const char *const list[] = {want, NULL};
    expect_problems(text, list);
}

/* ---------------------------------------------------------------- glob */

static const struct {
    const char *pat, *s;
    bool want;
} globs[] = {
    /* empty pattern and stars */
    {"", "", true},
    {"", "a", false},
    {"*", "", true},
    {"*", "anything at all", true},
    {"**", "x", true},
    {"a**b", "ab", true},
    {"a*", "abc", true},
    {"a*", "bac", false},
    {"*c", "abc", true},
    {"a*c", "ac", true},
    {"a*c", "abcbc", true},
    {"a*c", "abcb", false},
    {"*ab", "aab", true},
    {"a*b*", "a", false},
    {"*a*b*c*", "xxaxxbxxcxx", true},
    {"*a*b*c*", "xxaxxcxxbxx", false},
    {"gpt-4o*", "gpt-4o-mini", true},
    {"gpt-4o*", "gpt-4", false},
    {"claude-*-4-5", "claude-sonnet-4-5", true},
    {"claude-*-4-5", "claude-sonnet-4-1", false},
    {"GPT*", "gpt-4o", false},
    /* ? is one byte */
    {"?", "", false},
    {"?", "a", true},
    {"??", "a", false},
    {"a?c", "abc", true},
    {"?", "\xc3\xa9", false},
    {"??", "\xc3\xa9", true},
    /* classes */
    {"[abc]", "b", true},
    {"[abc]", "d", false},
    {"[a-c]x", "bx", true},
    {"[a-c]x", "dx", false},
    {"[!a-c]", "d", true},
    {"[!a-c]", "b", false},
    {"[!a-c]", "", false},
    {"o[1-4]*", "o3-mini", true},
    {"o[1-4]*", "o5", false},
    {"[]]", "]", true},
    {"[]a]", "a", true},
    {"[!]]", "]", false},
    {"[!]]", "x", true},
    {"[a-]", "-", true},
    {"[-a]", "-", true},
    {"[*]", "*", true},
    {"[*]", "x", false},
    {"[?]", "?", true},
    {"[?]", "a", false},
    {"[!*]*", "x*", true},
    {"[\x80-\xff]*", "\xc3\xa9", true},
    {"*[0-9]", "gpt-5", true},
    {"*[0-9]", "gpt-5o", false},
    /* escapes */
    {"\\*", "*", true},
    {"\\*", "a", false},
    {"a\\?", "a?", true},
    {"a\\?", "ab", false},
    {"\\[x]", "[x]", true},
    {"\\[x]", "x", false},
    {"[\\]]", "]", true},
    {"[a\\-z]", "-", true},
    {"[a\\-z]", "b", false},
    {"\\\\", "\\", true},
    {"\\a", "a", true},
    /* broken patterns (refused by the compiler) read literally */
    {"[abc", "[abc", true},
    {"[abc", "a", false},
    {"a\\", "a\\", true},
    {"[", "[", true},
};

START_TEST(glob_table)
{
    ck_assert_msg(tg_policy_glob(globs[_i].pat, globs[_i].s) == globs[_i].want,
                  "glob '%s' on '%s' should be %s", globs[_i].pat, globs[_i].s,
                  globs[_i].want ? "true" : "false");
}
END_TEST

/* A long hostile pattern against a long string finishes (no exponential backtracking). */
START_TEST(glob_backtracking)
{
    char pat[200], s[5000];
    for (int i = 0; i < 99; i++)
        pat[2 * i] = '*', pat[2 * i + 1] = 'a';
    pat[198] = 'b';
    pat[199] = '\0';
    memset(s, 'a', sizeof s - 1);
    s[sizeof s - 1] = '\0';
    ck_assert(!tg_policy_glob(pat, s));
    s[sizeof s - 2] = 'b';
    ck_assert(tg_policy_glob(pat, s));
}
END_TEST

START_TEST(glob_refused)
{
    expect_problems(
        "{'rules': [{'id': 'r', 'when': {'model': 'gpt-[4', 'team': {'$glob': 'a\\\\'},"
        " 'key': '[z-a]'}, 'route': {'candidates': ['o[1-'] }},"
        " {'id': 'd', 'route': {'candidates': ['$requested']}}]}",
        (const char *const[]){
            "policy.json: $.rules[0].when.model: invalid glob 'gpt-[4': a '[' class is not "
            "closed with ']'",
            "policy.json: $.rules[0].when.team.$glob: invalid glob 'a\\': ends with a lone '\\'",
            "policy.json: $.rules[0].when.key: invalid glob '[z-a]': a range runs backwards "
            "(like z-a)",
            "policy.json: $.rules[0].route.candidates[0]: invalid glob 'o[1-': a '[' class is "
            "not closed with ']'",
            NULL});
}
END_TEST

/* ---------------------------------------------------------------- conditions */

static const char *header_table(void *hctx, const char *name)
{
    const char *const *kv = hctx;
    for (; kv[0]; kv += 2)
        if (strcmp(kv[0], name) == 0)
            return kv[1];
    return NULL;
}

static const char *const headers[] = {"x-team", "ml", "x-priority", "high", NULL};
static const char *const tags[] = {"intern", "beta"};

/* A request with everything set. */
static tg_policy_ctx full_ctx(void)
{
    return (tg_policy_ctx){.team = "eng",
                           .key_id = "key-1",
                           .key_tags = tags,
                           .nkey_tags = 2,
                           .model = "gpt-4o",
                           .endpoint = "chat",
                           .input_tokens = 1200,
                           .max_output_tokens = 500,
                           .caps = TG_CAP_VISION | TG_CAP_TOOLS,
                           .budget_used_pct = 85.5,
                           .header = header_table,
                           .hctx = (void *)headers};
}

/* A request with every optional part missing. */
static tg_policy_ctx bare_ctx(void)
{
    return (tg_policy_ctx){.max_output_tokens = -1};
}

/* Does condition `when` (single-quoted JSON) hold for ctx? */
static bool holds(const char *when, const tg_policy_ctx *ctx)
{
    char text[4096];
    snprintf(text, sizeof text,
             "{'rules': [{'id': 'r', 'when': %s, 'route': {'candidates': ['$requested']}},"
             " {'id': 'all', 'route': {'candidates': ['$requested']}}]}",
             when);
    tg_policy *p = compile_ok(text);
    bool r = tg_policy_cond_eval(tg_policy_rule_at(p, 0)->when, ctx);
    const tg_policy_rule *m = tg_policy_match(p, ctx);
    ck_assert_str_eq(m->id, r ? "r" : "all");
    tg_policy_free(p);
    return r;
}

static const struct {
    const char *when;
    bool full, bare; /* on full_ctx and on bare_ctx */
} conds[] = {
    /* string field: plain glob, $glob, $eq, $ne, $in, $nin; missing only meets $ne/$nin */
    {"{'team': 'eng'}", true, false},
    {"{'team': 'e*'}", true, false},
    {"{'team': 'x*'}", false, false},
    {"{'team': {'$glob': '?ng'}}", true, false},
    {"{'team': {'$eq': 'eng'}}", true, false},
    {"{'team': {'$eq': 'e*'}}", false, false},
    {"{'team': {'$ne': 'eng'}}", false, true},
    {"{'team': {'$ne': 'ops'}}", true, true},
    {"{'team': {'$in': ['ops', 'eng']}}", true, false},
    {"{'team': {'$in': ['ops']}}", false, false},
    {"{'team': {'$in': []}}", false, false},
    {"{'team': {'$nin': ['ops', 'eng']}}", false, true},
    {"{'team': {'$nin': ['ops']}}", true, true},
    {"{'team': {'$nin': []}}", true, true},
    {"{'key': 'key-?'}", true, false},
    {"{'key': {'$in': ['key-1', 'key-2', 'key-3', 'a', 'z']}}", true, false},
    {"{'model': 'gpt-4o*'}", true, false},
    {"{'model': {'$glob': 'gpt-*', '$ne': 'gpt-4o'}}", false, false},
    {"{'model': {'$glob': 'gpt-*', '$nin': ['gpt-4o-mini']}}", true, false},
    {"{'endpoint': 'chat'}", true, false},
    {"{'endpoint': {'$in': ['chat', 'responses']}}", true, false},
    {"{'endpoint': {'$ne': 'messages'}}", true, true},
    /* number fields: plain number ($eq), $eq $ne $lt $lte $gt $gte $in $nin */
    {"{'input_tokens': 1200}", true, false},
    {"{'input_tokens': {'$eq': 1200}}", true, false},
    {"{'input_tokens': {'$ne': 1200}}", false, true},
    {"{'input_tokens': {'$lt': 1200}}", false, true},
    {"{'input_tokens': {'$lte': 1200}}", true, true},
    {"{'input_tokens': {'$gt': 1199.5}}", true, false},
    {"{'input_tokens': {'$gte': 1201}}", false, false},
    {"{'input_tokens': {'$gte': 1000, '$lt': 2000}}", true, false},
    {"{'input_tokens': {'$in': [5, 1200]}}", true, false},
    {"{'input_tokens': {'$in': []}}", false, false},
    {"{'input_tokens': {'$nin': [0]}}", true, false},
    {"{'max_output_tokens': -1}", false, true},
    {"{'max_output_tokens': {'$lt': 1000}}", true, true},
    {"{'max_output_tokens': {'$gte': 0, '$lt': 1000}}", true, false},
    {"{'budget_used_pct': {'$gte': 80}}", true, false},
    {"{'budget_used_pct': {'$lt': 80}}", false, true},
    {"{'budget_used_pct': 0}", false, true},
    {"{'budget_used_pct': {'$gt': 85.49, '$lte': 85.5}}", true, false},
    /* list fields: positive operators need any element, negative ones none */
    {"{'key_tags': 'intern'}", true, false},
    {"{'key_tags': 'b*'}", true, false},
    {"{'key_tags': 'admin'}", false, false},
    {"{'key_tags': {'$eq': 'beta'}}", true, false},
    {"{'key_tags': {'$glob': '*er*'}}", true, false},
    {"{'key_tags': {'$ne': 'intern'}}", false, true},
    {"{'key_tags': {'$ne': 'admin'}}", true, true},
    {"{'key_tags': {'$in': ['admin', 'beta']}}", true, false},
    {"{'key_tags': {'$nin': ['admin', 'beta']}}", false, true},
    {"{'key_tags': {'$nin': ['admin']}}", true, true},
    {"{'capabilities': 'vision'}", true, false},
    {"{'capabilities': 'audio*'}", false, false},
    {"{'capabilities': '*tools'}", true, false},
    {"{'capabilities': {'$eq': 'tools'}}", true, false},
    {"{'capabilities': {'$ne': 'tools'}}", false, true},
    {"{'capabilities': {'$ne': 'reasoning'}}", true, true},
    {"{'capabilities': {'$in': ['reasoning', 'vision']}}", true, false},
    {"{'capabilities': {'$nin': ['reasoning', 'vision']}}", false, true},
    {"{'capabilities': {'$nin': ['reasoning']}}", true, true},
    {"{'capabilities': {'$glob': 'parallel_*'}}", false, false},
    /* headers: names are lower-cased; a missing header only meets $ne / $nin */
    {"{'header.x-team': 'ml'}", true, false},
    {"{'header.X-Team': 'm?'}", true, false},
    {"{'header.x-team': {'$eq': 'ops'}}", false, false},
    {"{'header.x-team': {'$ne': 'ops'}}", true, true},
    {"{'header.x-team': {'$in': ['ml', 'ops']}}", true, false},
    {"{'header.x-team': {'$nin': ['ml']}}", false, true},
    {"{'header.x-absent': '*'}", false, false},
    {"{'header.x-absent': {'$ne': 'x'}}", true, true},
    {"{'header.x-team': 'ml', 'header.x-priority': 'high'}", true, false},
    /* several fields: all must hold */
    {"{'team': 'eng', 'model': 'gpt-4o', 'budget_used_pct': {'$gte': 80}}", true, false},
    {"{'team': 'eng', 'model': 'claude-*'}", false, false},
    /* $and / $or, nested */
    {"{'$or': [{'team': 'ops'}, {'model': 'gpt-*'}]}", true, false},
    {"{'$or': [{'team': 'ops'}, {'model': 'claude-*'}]}", false, false},
    {"{'$or': [{'team': 'ops'}, {'team': {'$ne': 'ops'}}]}", true, true},
    {"{'$and': [{'team': 'eng'}, {'model': 'gpt-*'}]}", true, false},
    {"{'$and': [{'team': 'eng'}, {'model': 'claude-*'}]}", false, false},
    {"{'$and': [{}, {}]}", true, true},
    {"{'$or': [{}]}", true, true},
    {"{'$and': [{'$or': [{'team': 'ops'}, {'key_tags': 'intern'}]}, {'$or': [{'input_tokens':"
     " {'$gt': 100000}}, {'capabilities': 'vision'}]}]}",
     true, false},
    {"{'$or': [{'$and': [{'team': 'eng'}, {'model': 'x'}]}, {'$and': [{'team': {'$ne': 'eng'}},"
     " {'model': {'$nin': ['x']}}]}]}",
     false, true},
    {"{'team': 'eng', '$or': [{'model': 'x'}, {'endpoint': 'chat'}], '$and': [{'key': 'key-1'}]}",
     true, false},
};

START_TEST(conditions)
{
    tg_policy_ctx full = full_ctx(), bare = bare_ctx();
    ck_assert_msg(holds(conds[_i].when, &full) == conds[_i].full, "%s on the full request",
                  conds[_i].when);
    ck_assert_msg(holds(conds[_i].when, &bare) == conds[_i].bare, "%s on the bare request",
                  conds[_i].when);
}
END_TEST

/* Headers without a lookup function, NULL tags inside a list, and NULL conditions. */
START_TEST(condition_edges)
{
    tg_policy_ctx ctx = full_ctx();
    ctx.header = NULL;
    ck_assert(!holds("{'header.x-team': 'ml'}", &ctx));
    ck_assert(holds("{'header.x-team': {'$nin': ['ml']}}", &ctx));
    const char *const holes[] = {NULL, "beta"};
    ctx.key_tags = holes;
    ck_assert(holds("{'key_tags': 'beta'}", &ctx));
    ck_assert(!holds("{'key_tags': {'$ne': 'beta'}}", &ctx));
    ctx.key_tags = NULL; /* nkey_tags 2 but no array: an empty list */
    ck_assert(!holds("{'key_tags': '*'}", &ctx));
    ck_assert(tg_policy_cond_eval(NULL, &ctx));
}
END_TEST

/* 16 levels of $and/$or nest; 17 do not. */
static char *nested(int levels)
{
    static char buf[4096];
    size_t o = 0;
    for (int i = 0; i < levels; i++)
        o += (size_t)snprintf(buf + o, sizeof buf - o, "{'%s': [", i % 2 ? "$or" : "$and");
    o += (size_t)snprintf(buf + o, sizeof buf - o, "{'team': 'eng'}");
    for (int i = 0; i < levels; i++)
        o += (size_t)snprintf(buf + o, sizeof buf - o, "]}");
    return buf;
}

START_TEST(nesting_depth)
{
    tg_policy_ctx full = full_ctx(), bare = bare_ctx();
    ck_assert(holds(nested(TG_POLICY_MAX_DEPTH), &full));
    ck_assert(!holds(nested(TG_POLICY_MAX_DEPTH), &bare));
    char text[8192], path[1024] = "$.rules[0].when";
    snprintf(text, sizeof text,
             "{'rules': [{'id': 'r', 'when': %s, 'route': {'candidates': ['$requested']}},"
             " {'id': 'all', 'route': {'candidates': ['$requested']}}]}",
             nested(TG_POLICY_MAX_DEPTH + 1));
    for (int i = 0; i < TG_POLICY_MAX_DEPTH; i++)
        strcat(path, i % 2 ? ".$or[0]" : ".$and[0]");
    strcat(path, ".$and");
    char want[2048];
    snprintf(want, sizeof want, "policy.json: %s: nested deeper than 16 levels of $and/$or",
             path);
    expect_problem(text, want);
}
END_TEST

/* ---------------------------------------------------------------- rules */

START_TEST(first_match_wins)
{
    tg_policy *p = compile_ok(
        "{'rules': ["
        " {'id': 'interns', 'when': {'key_tags': 'intern', 'model': 'o*'}, 'deny': 'no o-models'},"
        " {'id': 'big', 'when': {'input_tokens': {'$gt': 1000}},"
        "  'route': {'candidates': ['$requested']}},"
        " {'id': 'eng', 'when': {'team': 'eng'}, 'route': {'candidates': ['$requested']}},"
        " {'id': 'default', 'when': {}, 'route': {'candidates': ['$requested']}}]}");
    tg_policy_ctx ctx = full_ctx();
    ck_assert_str_eq(tg_policy_match(p, &ctx)->id, "big");
    ctx.model = "o3";
    const tg_policy_rule *r = tg_policy_match(p, &ctx);
    ck_assert_str_eq(r->id, "interns");
    ck_assert(r->deny);
    ck_assert_str_eq(r->deny_message, "no o-models");
    ck_assert_int_eq(r->index, 0);
    ctx.input_tokens = 10;
    ctx.model = "gpt-4o";
    ck_assert_str_eq(tg_policy_match(p, &ctx)->id, "eng");
    tg_policy_ctx bare = bare_ctx();
    r = tg_policy_match(p, &bare);
    ck_assert_str_eq(r->id, "default");
    ck_assert_int_eq(r->index, 3);
    ck_assert_int_eq(tg_policy_rule_count(p), 4);
    ck_assert_ptr_eq(tg_policy_rule_at(p, 3), r);
    ck_assert_ptr_null(tg_policy_rule_at(p, 4));
    ck_assert_ptr_null(tg_policy_rule_at(p, -1));
    tg_policy_free(p);
}
END_TEST

START_TEST(rule_defaults)
{
    tg_policy *p = compile_ok("{'rules': [{'id': 'd', 'route': {'candidates': ['$requested']}}]}");
    const tg_policy_rule *r = tg_policy_rule_at(p, 0);
    ck_assert(!r->deny);
    ck_assert_int_eq(r->objective, TG_OBJ_CHEAPEST);
    ck_assert(!r->substitute);
    ck_assert_uint_eq(r->fallback_on, TG_FB_ALL);
    ck_assert_int_eq(r->max_attempts, 3);
    ck_assert_int_eq(r->default_output_tokens, 256);
    ck_assert_int_eq(r->ncands, 1);
    ck_assert_ptr_null(r->cands[0].model);
    ck_assert_int_eq(r->cands[0].weight, 1);
    ck_assert_int_eq(tg_policy_alias_count(p), 0);
    ck_assert(!tg_policy_is_alias(p, "auto"));
    tg_policy_free(p);

    p = compile_ok("{'rules': [{'id': 'd', 'when': {}, 'route': {'candidates': ['$requested'],"
                   " 'objective': 'ordered', 'substitute': true, 'default_output_tokens': 1000,"
                   " 'fallback': {'on': ['429', 'timeout', 'context_length'],"
                   " 'max_attempts': 10}}}]}");
    r = tg_policy_rule_at(p, 0);
    ck_assert_int_eq(r->objective, TG_OBJ_ORDERED);
    ck_assert(r->substitute);
    ck_assert_uint_eq(r->fallback_on, TG_FB_429 | TG_FB_TIMEOUT | TG_FB_CONTEXT_LENGTH);
    ck_assert_int_eq(r->max_attempts, 10);
    ck_assert_int_eq(r->default_output_tokens, 1000);
    tg_policy_free(p);

    p = compile_ok("{'rules': [{'id': 'd', 'route': {'candidates': ['$requested'],"
                   " 'fallback': {'on': []}}}]}");
    ck_assert_uint_eq(tg_policy_rule_at(p, 0)->fallback_on, 0);
    ck_assert_int_eq(tg_policy_rule_at(p, 0)->max_attempts, 3);
    tg_policy_free(p);
}
END_TEST

START_TEST(catch_all_required)
{
    expect_problem("{'rules': [{'id': 'a', 'when': {'team': 'x'}, 'deny': 'no'}]}",
                   "policy.json: $.rules: the last rule must be a catch-all (when {})");
    expect_problems(
        "{'rules': [{'id': 'a', 'when': {}, 'deny': 'no'},"
        " {'id': 'b', 'deny': 'no'}, {'id': 'c', 'when': {'team': 'x'}, 'deny': 'no'}]}",
        (const char *const[]){
            "policy.json: $.rules[0]: a catch-all rule (when {}) must be the last rule; the "
            "rules after it never match",
            "policy.json: $.rules[1]: a catch-all rule (when {}) must be the last rule; the "
            "rules after it never match",
            "policy.json: $.rules: the last rule must be a catch-all (when {})", NULL});
    /* a deny rule may be the catch-all */
    tg_policy *p = compile_ok("{'rules': [{'id': 'closed', 'when': {}, 'deny': 'closed'}]}");
    tg_policy_ctx bare = bare_ctx();
    ck_assert(tg_policy_match(p, &bare)->deny);
    tg_policy_free(p);
}
END_TEST

/* ---------------------------------------------------------------- validation */

START_TEST(problems_top)
{
    expect_problem("", "policy.json: line 1, column 1: invalid JSON: unexpected end of file");
    expect_problem("{'rules': [}\n", "policy.json: line 1, column 12: invalid JSON near '}'");
    expect_problem("{\n  'rules': []\n} x",
                   "policy.json: line 3, column 3: invalid JSON near 'x'");
    expect_problem("[]", "policy.json: $: must be an object");
    expect_problem("{}", "policy.json: $: missing field \"rules\"");
    expect_problem("{'rules': {}}",
                   "policy.json: $.rules: must be a non-empty array of rule objects");
    expect_problem("{'rules': []}",
                   "policy.json: $.rules: must be a non-empty array of rule objects");
    expect_problems(
        "{'policy_version': '', 'aliases': ['auto', 'auto', 'gpt-4o', ''], 'extra': 1,"
        " 'rules': [{'id': 'd', 'deny': 'x'}], 'rules': 5}",
        (const char *const[]){
            "policy.json: $.extra: unknown field (known: policy_version, aliases, rules)",
            "policy.json: $.rules: duplicate field (each field may appear once)",
            "policy.json: $.policy_version: must be 1 to 63 printable ASCII characters",
            "policy.json: $.aliases[1]: duplicate alias 'auto'",
            "policy.json: $.aliases[2]: 'gpt-4o' is a catalog model; an alias must be a new "
            "name",
            "policy.json: $.aliases[3]: must be 1 to 95 bytes", NULL});
    expect_problems("{'policy_version': 7, 'aliases': 'auto', 'rules': [7]}",
                    (const char *const[]){
                        "policy.json: $.policy_version: must be 1 to 63 printable ASCII "
                        "characters",
                        "policy.json: $.aliases: must be an array of at most 256 strings",
                        "policy.json: $.rules[0]: must be an object",
                        "policy.json: $.rules: the last rule must be a catch-all (when {})",
                        NULL});
}
END_TEST

START_TEST(problems_rules)
{
    expect_problems(
        "{'rules': ["
        " {'when': {}, 'route': {'candidates': ['$requested']}, 'deny': 'both', 'extra': 1},"
        " {'id': 'bad id!', 'when': {'team': 'x'}},"
        " {'id': 'a', 'description': 5, 'when': {'team': 'x'}, 'deny': ''},"
        " {'id': 'a', 'when': [], 'deny': 'x'},"
        " {'id': 'b', 'when': {'team': 'x'}, 'deny': 'x', 'id': 'c'},"
        " {'id': 'd', 'route': {'candidates': ['$requested']}}]}",
        (const char *const[]){
            "policy.json: $.rules[0].extra: unknown field (known: id, description, when, "
            "route, deny)",
            "policy.json: $.rules[0]: missing field \"id\"",
            "policy.json: $.rules[0]: has both \"route\" and \"deny\" (exactly one is allowed)",
            "policy.json: $.rules[0]: a catch-all rule (when {}) must be the last rule; the "
            "rules after it never match",
            "policy.json: $.rules[1].id: must be 1 to 63 letters, digits, '_', '-', '.' or ':'",
            "policy.json: $.rules[1]: needs \"route\" or \"deny\"",
            "policy.json: $.rules[2].description: must be a string",
            "policy.json: $.rules[2].deny: must be a non-empty string of less than 256 bytes",
            "policy.json: $.rules[3].when: must be an object",
            "policy.json: $.rules[4].id: duplicate field (each field may appear once)",
            "policy.json: $.rules[3].id: duplicate rule id 'a' (first at $.rules[2])", NULL});
    char text[1024];
    snprintf(text, sizeof text, "{'rules': [{'id': '%064d', 'deny': 'x'}]}", 0);
    expect_problem(text,
                   "policy.json: $.rules[0].id: must be 1 to 63 letters, digits, '_', '-', '.' "
                   "or ':'");
}
END_TEST

START_TEST(problems_conditions)
{
    expect_problems(
        "{'rules': [{'id': 'r', 'when': {"
        " 'model': {'$in': 'gpt-4o'}, 'tem': 'x', '$not': {}, 'team': {'$regex': 'x', '$eq': 5},"
        " 'key': {'$lt': 3}, 'key_tags': 5, 'endpoint': ['chat'], 'input_tokens': 'big',"
        " 'budget_used_pct': {'$glob': '9*', '$in': ['x'], '$eq': 'x', '$gte': 1, '$gte': 2},"
        " 'max_output_tokens': {}, 'capabilities': {'$in': ['visoin'], '$eq': 7},"
        " 'header.': 'x', 'header.x y': 'x', 'team': 'dup'"
        "}, 'deny': 'x'},"
        " {'id': 'r2', 'when': {'$and': {}, '$or': [], 'endpoint': {'$nin': ['chat', 'chatt']},"
        " 'capabilities': 'audio-*', 'model': {'$ne': ['x']}, 'key': {'$in': ['a', 1]}},"
        " 'deny': 'x'},"
        " {'id': 'r3', 'when': {'$or': [{'team': 'x'}, 5]}, 'deny': 'x'},"
        " {'id': 'd', 'route': {'candidates': ['$requested']}}]}",
        (const char *const[]){
            "policy.json: $.rules[0].when.model.$in: must be an array of strings",
            "policy.json: $.rules[0].when.tem: unknown field (known: team, key, key_tags, "
            "model, endpoint, input_tokens, max_output_tokens, capabilities, budget_used_pct, "
            "header.NAME, $and, $or)",
            "policy.json: $.rules[0].when.$not: unknown operator (known here: $and, $or)",
            "policy.json: $.rules[0].when.team.$regex: unknown operator (known: $glob, $eq, "
            "$ne, $in, $nin, $lt, $lte, $gt, $gte)",
            "policy.json: $.rules[0].when.team.$eq: must be a string",
            "policy.json: $.rules[0].when.key.$lt: $lt applies only to number fields "
            "(input_tokens, max_output_tokens, budget_used_pct)",
            "policy.json: $.rules[0].when.key_tags: must be a string (a glob) or an object of "
            "operators",
            "policy.json: $.rules[0].when.endpoint: must be a string (a glob) or an object of "
            "operators (a list of values: {\"$in\": [...]})",
            "policy.json: $.rules[0].when.input_tokens: must be a number or an object of "
            "operators",
            "policy.json: $.rules[0].when.budget_used_pct.$glob: $glob applies only to string "
            "and list fields",
            "policy.json: $.rules[0].when.budget_used_pct.$in: must be an array of numbers",
            "policy.json: $.rules[0].when.budget_used_pct.$eq: must be a number",
            "policy.json: $.rules[0].when.budget_used_pct.$gte: duplicate field (each field may appear once)",
            "policy.json: $.rules[0].when.max_output_tokens: must hold at least one operator",
            "policy.json: $.rules[0].when.capabilities.$in[0]: 'visoin' is not a capability",
            "policy.json: $.rules[0].when.capabilities.$eq: must be a string",
            "policy.json: $.rules[0].when[\"header.\"]: header.NAME needs NAME of 1 to 128 "
            "letters, digits or !#$%&'*+-.^_`|~",
            "policy.json: $.rules[0].when[\"header.x y\"]: header.NAME needs NAME of 1 to 128 "
            "letters, digits or !#$%&'*+-.^_`|~",
            "policy.json: $.rules[0].when.team: duplicate field (each field may appear once)",
            "policy.json: $.rules[1].when.$and: must be a non-empty array of condition objects",
            "policy.json: $.rules[1].when.$or: must be a non-empty array of condition objects",
            "policy.json: $.rules[1].when.endpoint.$nin[1]: 'chatt' is not an endpoint (known: "
            "chat, completions, embeddings, responses, messages)",
            "policy.json: $.rules[1].when.capabilities: 'audio-*' matches no capability",
            "policy.json: $.rules[1].when.model.$ne: must be a string",
            "policy.json: $.rules[1].when.key.$in: must be an array of strings",
            "policy.json: $.rules[2].when.$or[1]: must be an object", NULL});
}
END_TEST

START_TEST(problems_routes)
{
    expect_problems(
        "{'rules': ["
        " {'id': 'a', 'when': {'team': 'a'}, 'route': {'candidates': ['gpt-4o', 'gpt-9', 5,"
        " 'tier:nope', 'nothing-*'], 'objective': 'fastest', 'weights': {'gpt-4o': 1},"
        " 'substitute': 'yes', 'fallback': {'on': ['429', '4xx', 7], 'max_attempts': 11,"
        " 'tries': 1}, 'default_output_tokens': 0, 'extra': true}},"
        " {'id': 'b', 'when': {'team': 'b'}, 'route': {'candidates': []}},"
        " {'id': 'c', 'when': {'team': 'c'}, 'route': {'objective': 7}},"
        " {'id': 'd', 'when': {'team': 'd'}, 'route': {'candidates': ['gpt-4o', '$requested'],"
        " 'objective': 'weighted', 'weights': {'gpt-4o': 0, 'claude-nothing*': 2,"
        " '$requested': 1.5}}},"
        " {'id': 'e', 'when': {'team': 'e'}, 'route': {'candidates': ['gpt-4o', '$requested'],"
        " 'objective': 'weighted', 'weights': {'gpt-4o': 2}}},"
        " {'id': 'f', 'when': {'team': 'f'}, 'route': {'candidates': ['$requested'],"
        " 'objective': 'weighted'}},"
        " {'id': 'g', 'when': {'team': 'g'}, 'route': {'candidates': ['$requested'],"
        " 'fallback': {'on': 'all', 'max_attempts': 0}}},"
        " {'id': 'h', 'when': {'team': 'h'}, 'route': 5},"
        " {'id': 'z', 'route': {'candidates': ['$requested'], 'fallback': []}}]}",
        (const char *const[]){
            "policy.json: $.rules[0].route.extra: unknown field (known: candidates, objective, "
            "weights, substitute, fallback, default_output_tokens)",
            "policy.json: $.rules[0].route.candidates[1]: 'gpt-9' is not a catalog model, tier "
            "or pattern matching any model",
            "policy.json: $.rules[0].route.candidates[2]: must be a string",
            "policy.json: $.rules[0].route.candidates[3]: 'tier:nope' is not a catalog model, "
            "tier or pattern matching any model",
            "policy.json: $.rules[0].route.candidates[4]: 'nothing-*' is not a catalog model, "
            "tier or pattern matching any model",
            "policy.json: $.rules[0].route.objective: unknown value 'fastest' (known: "
            "cheapest, ordered, weighted)",
            "policy.json: $.rules[0].route.weights: only allowed with objective \"weighted\"",
            "policy.json: $.rules[0].route.substitute: must be true or false",
            "policy.json: $.rules[0].route.fallback.tries: unknown field (known: on, "
            "max_attempts)",
            "policy.json: $.rules[0].route.fallback.max_attempts: expected an integer from 1 to "
            "10, got 11",
            "policy.json: $.rules[0].route.fallback.on[1]: unknown value '4xx' (known: 429, "
            "5xx, timeout, connect, context_length)",
            "policy.json: $.rules[0].route.fallback.on[2]: must be one of 429, 5xx, timeout, "
            "connect, context_length",
            "policy.json: $.rules[0].route.default_output_tokens: expected an integer from 1 "
            "to 10000000, got 0",
            "policy.json: $.rules[1].route.candidates: must be a non-empty array of at most "
            "1024 strings",
            "policy.json: $.rules[2].route: missing field \"candidates\"",
            "policy.json: $.rules[2].route.objective: must be one of cheapest, ordered, "
            "weighted",
            "policy.json: $.rules[3].route.weights.gpt-4o: expected an integer from 1 to "
            "1000000, got 0",
            "policy.json: $.rules[3].route.weights[\"claude-nothing*\"]: matches no candidate "
            "of this rule",
            "policy.json: $.rules[3].route.weights.$requested: expected an integer from 1 to "
            "1000000, got 1.5",
            "policy.json: $.rules[4].route.weights: no weight for candidate '$requested'",
            "policy.json: $.rules[5].route: missing field \"weights\" (objective \"weighted\" "
            "needs a weight per candidate)",
            "policy.json: $.rules[6].route.fallback.max_attempts: expected an integer from 1 to "
            "10, got 0",
            "policy.json: $.rules[6].route.fallback.on: must be an array of failure classes",
            "policy.json: $.rules[7].route: must be an object",
            "policy.json: $.rules[8].route.fallback: must be an object",
            NULL});
}
END_TEST


START_TEST(problems_limits)
{
    /* every problem is counted, also those that do not fit */
    const char *text = "{'a': 1, 'b': 2, 'c': 3, 'rules': [{'id': 'd', 'deny': 'x'}]}";
    char *json = pol(text);
    tg_policy_problem two[2];
    int n = -1;
    ck_assert_ptr_null(tg_policy_compile(json, strlen(json), "p", cat, two, 2, &n));
    ck_assert_int_eq(n, 3);
    ck_assert_str_eq(two[1].text, "p: $.b: unknown field (known: policy_version, aliases, rules)");
    n = -1;
    ck_assert_ptr_null(tg_policy_compile(json, strlen(json), NULL, cat, NULL, 0, &n));
    ck_assert_int_eq(n, 3);
    ck_assert_ptr_null(tg_policy_compile(json, strlen(json), NULL, cat, NULL, 5, NULL));
    free(json);
    /* no catalog, a NUL byte, too large */
    ck_assert_ptr_null(tg_policy_compile("{}", 2, "p", NULL, two, 2, &n));
    ck_assert_int_eq(n, 1);
    ck_assert_str_eq(two[0].text, "p: no catalog to compile the policy against");
    ck_assert_ptr_null(tg_policy_compile("{\0}", 3, "p", cat, two, 2, &n));
    ck_assert_str_eq(two[0].text, "p: not a text file (contains a NUL byte)");
    ck_assert_ptr_null(tg_policy_compile("{}", TG_POLICY_MAX_FILE + 1, "p", cat, two, 2, &n));
    ck_assert_str_eq(two[0].text, "p: larger than the limit of 8388608 bytes");
    /* more than TG_POLICY_MAX_RULES rules */
    size_t cap = (TG_POLICY_MAX_RULES + 1) * 40 + 64, o = 0;
    char *big = malloc(cap);
    ck_assert_ptr_nonnull(big);
    o += (size_t)snprintf(big + o, cap - o, "{\"rules\": [");
    for (int i = 0; i <= TG_POLICY_MAX_RULES; i++)
        o += (size_t)snprintf(big + o, cap - o, "%s{\"id\": \"r%d\", \"deny\": \"x\"}",
                              i ? "," : "", i);
    o += (size_t)snprintf(big + o, cap - o, "]}");
    ck_assert_ptr_null(tg_policy_compile(big, o, "p", cat, two, 2, &n));
    ck_assert_int_eq(n, 1);
    ck_assert_str_eq(two[0].text, "p: $.rules: has 4097 rules; at most 4096 are allowed");
    free(big);
    /* a long key is shortened in its path; a long value in its message */
    char longer[2048];
    snprintf(longer, sizeof longer, "{'rules': [{'id': 'd', 'deny': 'x', '%0100d': 1}]}", 7);
    probs_t pr;
    ck_assert_ptr_null(compile(longer, &pr));
    ck_assert_int_eq(pr.n, 1);
    ck_assert_ptr_nonnull(strstr(pr.p[0].text, "0000...\"]: unknown field"));
}
END_TEST

/* A UTF-8 byte order mark is skipped; the text is kept as given. */
START_TEST(text_and_version)
{
    const char *text = "\xEF\xBB\xBF{\"policy_version\": \"2026-11-24.1\", \"rules\": "
                       "[{\"id\": \"d\", \"deny\": \"no\"}]}";
    probs_t pr;
    tg_policy *p = tg_policy_compile(text, strlen(text), "p", cat, pr.p, MAXPROBS, &pr.n);
    ck_assert_ptr_nonnull(p);
    ck_assert_str_eq(tg_policy_version(p), "2026-11-24.1");
    size_t len = 0;
    ck_assert_str_eq(tg_policy_text(p, &len), text);
    ck_assert_uint_eq(len, strlen(text));
    ck_assert_str_eq(tg_policy_text(p, NULL), text);
    tg_policy_free(p);
    /* sha256 of the text, first 8 hex digits (python3 hashlib) */
    text = "{\"rules\": [{\"id\": \"d\", \"deny\": \"no\"}]}";
    p = tg_policy_compile(text, strlen(text), "p", cat, pr.p, MAXPROBS, &pr.n);
    ck_assert_ptr_nonnull(p);
    ck_assert_str_eq(tg_policy_version(p), "sha256:e337e83e");
    tg_policy_free(p);
    /* the text need not be NUL-terminated: only len bytes are read */
    char buf[64];
    memcpy(buf, text, strlen(text));
    memset(buf + strlen(text), 'x', sizeof buf - strlen(text));
    p = tg_policy_compile(buf, strlen(text), "p", cat, pr.p, MAXPROBS, &pr.n);
    ck_assert_ptr_nonnull(p);
    ck_assert_str_eq(tg_policy_version(p), "sha256:e337e83e");
    tg_policy_free(p);
    tg_policy_free(NULL);
}
END_TEST

START_TEST(aliases)
{
    tg_policy *p = compile_ok("{'aliases': ['smart', 'auto', 'cheap-ish'], 'rules': [{'id': 'd',"
                              " 'route': {'candidates': ['$requested']}}]}");
    ck_assert_int_eq(tg_policy_alias_count(p), 3);
    ck_assert_str_eq(tg_policy_alias_at(p, 0), "smart");
    ck_assert_str_eq(tg_policy_alias_at(p, 1), "auto");
    ck_assert_str_eq(tg_policy_alias_at(p, 2), "cheap-ish");
    ck_assert_ptr_null(tg_policy_alias_at(p, 3));
    ck_assert_ptr_null(tg_policy_alias_at(p, -1));
    ck_assert(tg_policy_is_alias(p, "auto"));
    ck_assert(tg_policy_is_alias(p, "cheap-ish"));
    ck_assert(tg_policy_is_alias(p, "smart"));
    ck_assert(!tg_policy_is_alias(p, "Auto"));
    ck_assert(!tg_policy_is_alias(p, "gpt-4o"));
    ck_assert(!tg_policy_is_alias(p, NULL));
    tg_policy_free(p);
}
END_TEST

START_TEST(load_files)
{
    char path[] = "/tmp/tg_policy_XXXXXX";
    int fd = mkstemp(path);
    ck_assert_int_ge(fd, 0);
    const char *text = "{\"rules\": [{\"id\": \"d\", \"deny\": \"no\"}], \"x\": 1}";
    ck_assert_int_eq(write(fd, text, strlen(text)), (ssize_t)strlen(text));
    close(fd);
    probs_t pr;
    ck_assert_ptr_null(tg_policy_load(path, cat, pr.p, MAXPROBS, &pr.n));
    ck_assert_int_eq(pr.n, 1);
    char want[256];
    snprintf(want, sizeof want, "%s: $.x: unknown field (known: policy_version, aliases, rules)",
             path);
    ck_assert_str_eq(pr.p[0].text, want);
    fd = open(path, O_WRONLY | O_TRUNC);
    ck_assert_int_ge(fd, 0);
    const char *good = "{\"rules\": [{\"id\": \"d\", \"deny\": \"no\"}]}";
    ck_assert_int_eq(write(fd, good, strlen(good)), (ssize_t)strlen(good));
    close(fd);
    tg_policy *p = tg_policy_load(path, cat, pr.p, MAXPROBS, &pr.n);
    ck_assert_msg(p != NULL, "%s", pr.p[0].text);
    ck_assert_int_eq(pr.n, 0);
    ck_assert_str_eq(tg_policy_rule_at(p, 0)->id, "d");
    tg_policy_free(p);
    unlink(path);
    ck_assert_ptr_null(tg_policy_load("/nonexistent/policy.json", cat, pr.p, MAXPROBS, &pr.n));
    ck_assert_int_eq(pr.n, 1);
    ck_assert_str_eq(pr.p[0].text, "/nonexistent/policy.json: cannot open: No such file or "
                                   "directory");
    ck_assert_ptr_null(tg_policy_load("/", cat, pr.p, MAXPROBS, &pr.n));
    ck_assert_int_eq(pr.n, 1);
    ck_assert_str_eq(pr.p[0].text, "/: cannot read: Is a directory");
}
END_TEST

/* ---------------------------------------------------------------- candidates */

/* The models of the built-in catalog that `spec` names, in name order, into out[]. */
static int catalog_matches(const char *spec, const tg_cat_model **out, int max)
{
    int n = 0;
    for (int i = 0; i < tg_catalog_count(cat) && n < max; i++) {
        const tg_cat_model *m = tg_catalog_at(cat, i);
        bool hit = strncmp(spec, "tier:", 5) == 0 ? strcmp(m->tier, spec + 5) == 0
                                                   : tg_policy_glob(spec, m->name);
        if (hit)
            out[n++] = m;
    }
    return n;
}

/* A tier of the built-in catalog with at least two models. */
static const char *some_tier(void)
{
    static char tier[TG_CAT_NAME_MAX + 8];
    static const tg_cat_model *ms[TG_CAT_MAX_MODELS];
    for (int i = 0; i < tg_catalog_count(cat); i++) {
        const tg_cat_model *m = tg_catalog_at(cat, i);
        snprintf(tier, sizeof tier, "tier:%s", m->tier);
        if (m->tier[0] && catalog_matches(tier, ms, TG_CAT_MAX_MODELS) >= 2)
            return tier;
    }
    ck_abort_msg("the built-in catalog has no tier of two models");
    return NULL;
}

START_TEST(candidates_expand)
{
    static const tg_cat_model *want[TG_CAT_MAX_MODELS + 1], *tier_ms[TG_CAT_MAX_MODELS];
    const char *tier = some_tier();
    int nt = catalog_matches(tier, tier_ms, TG_CAT_MAX_MODELS);
    const tg_cat_model *second = tier_ms[1];
    /* the tier's second model first, then the rest of the tier, then $requested once, then
       every other model in name order */
    char text[1024];
    snprintf(text, sizeof text,
             "{'rules': [{'id': 'd', 'route': {'candidates': ['%s', '%s', '$requested',"
             " '%s', '$requested', '*']}}]}",
             second->name, tier, second->name);
    tg_policy *p = compile_ok(text);
    const tg_policy_rule *r = tg_policy_rule_at(p, 0);
    int n = 0;
    want[n++] = second;
    for (int i = 0; i < nt; i++)
        if (tier_ms[i] != second)
            want[n++] = tier_ms[i];
    want[n++] = NULL;
    for (int i = 0; i < tg_catalog_count(cat); i++) {
        const tg_cat_model *m = tg_catalog_at(cat, i);
        bool seen = false;
        for (int k = 0; k < n; k++)
            seen = seen || want[k] == m;
        if (!seen)
            want[n++] = m;
    }
    ck_assert_int_eq(r->ncands, tg_catalog_count(cat) + 1);
    ck_assert_int_eq(r->ncands, n);
    for (int i = 0; i < n; i++) {
        ck_assert_msg(r->cands[i].model == want[i], "candidate %d is %s, want %s", i,
                      r->cands[i].model ? r->cands[i].model->name : "$requested",
                      want[i] ? want[i]->name : "$requested");
        ck_assert_int_eq(r->cands[i].weight, 1);
        ck_assert(!r->cands[i].model || tg_catalog_find(cat, r->cands[i].model->name) ==
                                            r->cands[i].model);
    }
    tg_policy_free(p);
}
END_TEST

/* A concrete case: a glob after one of the models it matches keeps that one first. */
START_TEST(candidates_named)
{
    const tg_cat_model *mini = tg_catalog_find(cat, "gpt-4o-mini");
    const tg_cat_model *full = tg_catalog_find(cat, "gpt-4o");
    ck_assert(mini && full);
    tg_policy *p = compile_ok("{'rules': [{'id': 'd', 'route': {'candidates': ['gpt-4o-mini',"
                              " 'gpt-4o*', 'gpt-4o-mini']}}]}");
    const tg_policy_rule *r = tg_policy_rule_at(p, 0);
    const tg_cat_model *ms[TG_CAT_MAX_MODELS];
    ck_assert_int_eq(r->ncands, catalog_matches("gpt-4o*", ms, TG_CAT_MAX_MODELS));
    ck_assert_ptr_eq(r->cands[0].model, mini);
    ck_assert_ptr_eq(r->cands[1].model, full);
    tg_policy_free(p);
}
END_TEST

START_TEST(candidates_weighted)
{
    const tg_cat_model *ms[TG_CAT_MAX_MODELS];
    const char *tier = some_tier();
    int nt = catalog_matches(tier, ms, TG_CAT_MAX_MODELS);
    char text[1024];
    /* the first key naming a candidate gives its weight; '*' names all and is used */
    snprintf(text, sizeof text,
             "{'rules': [{'id': 'd', 'route': {'candidates': ['$requested', '%s'],"
             " 'objective': 'weighted', 'weights': {'%s': 7, '$requested': 2, '*': 9,"
             " '%s': 3}}}]}",
             tier, ms[0]->name, tier);
    tg_policy *p = compile_ok(text);
    const tg_policy_rule *r = tg_policy_rule_at(p, 0);
    ck_assert_int_eq(r->objective, TG_OBJ_WEIGHTED);
    ck_assert_int_eq(r->ncands, nt + 1);
    ck_assert_ptr_null(r->cands[0].model);
    ck_assert_int_eq(r->cands[0].weight, 2);
    ck_assert_ptr_eq(r->cands[1].model, ms[0]);
    ck_assert_int_eq(r->cands[1].weight, 7);
    for (int i = 2; i <= nt; i++) {
        ck_assert_ptr_eq(r->cands[i].model, ms[i - 1]);
        ck_assert_int_eq(r->cands[i].weight, 9);
    }
    tg_policy_free(p);
}
END_TEST

/* The built-in default policy compiles against the built-in catalog without a problem. */
START_TEST(default_policy)
{
    probs_t pr;
    tg_policy *p = tg_policy_compile(NULL, 0, NULL, cat, pr.p, MAXPROBS, &pr.n);
    for (int i = 0; i < pr.n && i < MAXPROBS; i++)
        fprintf(stderr, "%s\n", pr.p[i].text);
    ck_assert_int_eq(pr.n, 0);
    ck_assert_ptr_nonnull(p);
    tg_policy *same = tg_policy_load(NULL, cat, pr.p, MAXPROBS, &pr.n);
    ck_assert_ptr_nonnull(same);
    ck_assert_str_eq(tg_policy_version(p), tg_policy_version(same));
    tg_policy_free(same);
    ck_assert_int_eq(strncmp(tg_policy_version(p), "sha256:", 7), 0);
    ck_assert_uint_eq(strlen(tg_policy_version(p)), 15);
    ck_assert_int_eq(tg_policy_alias_count(p), 3);
    ck_assert(tg_policy_is_alias(p, "auto"));
    ck_assert(tg_policy_is_alias(p, "fast"));
    ck_assert(tg_policy_is_alias(p, "smart"));
    static const char *const ids[] = {"fast", "smart", "auto", "default"};
    ck_assert_int_eq(tg_policy_rule_count(p), 4);
    for (int i = 0; i < 4; i++) {
        const tg_policy_rule *r = tg_policy_rule_at(p, i);
        ck_assert_str_eq(r->id, ids[i]);
        ck_assert_int_eq(r->objective, TG_OBJ_CHEAPEST);
        ck_assert_uint_eq(r->fallback_on, TG_FB_ALL);
        ck_assert_int_eq(r->max_attempts, 3);
        ck_assert(!r->substitute && !r->deny);
        tg_policy_ctx ctx = full_ctx();
        ctx.model = i < 3 ? ids[i] : "gpt-4o";
        ck_assert_ptr_eq(tg_policy_match(p, &ctx), r);
    }
    /* "auto": every model of the three tiers, fast ones first */
    const tg_policy_rule *r = tg_policy_rule_at(p, 2);
    const tg_cat_model *ms[TG_CAT_MAX_MODELS];
    int n = catalog_matches("tier:fast", ms, TG_CAT_MAX_MODELS);
    n += catalog_matches("tier:balanced", ms + n, TG_CAT_MAX_MODELS - n);
    n += catalog_matches("tier:smart", ms + n, TG_CAT_MAX_MODELS - n);
    ck_assert_int_gt(n, 2);
    ck_assert_int_eq(r->ncands, n);
    for (int i = 0; i < n; i++)
        ck_assert_ptr_eq(r->cands[i].model, ms[i]);
    r = tg_policy_rule_at(p, 3);
    ck_assert_int_eq(r->ncands, 1);
    ck_assert_ptr_null(r->cands[0].model);
    tg_policy_free(p);
}
END_TEST

/* ---------------------------------------------------------------- a big policy
 * (its speed is measured by bench/route.sh, not here) */

#define SPEED_MODELS 300
#define SPEED_RULES 200
#define SPEED_ROUNDS 100

/* 300 models in 3 tiers; 199 rules that do not match in front of the catch-all, each a
 * worst case that tests every one of its 7 leaves (an $in, a number, a list, then an $or
 * of a glob, a glob and a header that all fail): every rule is evaluated whole and the
 * catch-all matches, every time. */
/* SPEED_MODELS models in three tiers, in tollgate's catalog format, into text[cap]. */
static size_t speed_catalog(char *text, size_t cap)
{
    size_t o = (size_t)snprintf(text, cap, "{\"models\": {");
    for (int i = 0; i < SPEED_MODELS; i++)
        o += (size_t)snprintf(text + o, cap - o,
                              "%s\"model-%03d\": {\"provider\": \"openai\", \"tier\": \"t%d\","
                              " \"prices\": [{\"effective_from\": \"2024-01-01\", \"input\": 1,"
                              " \"output\": 2}]}",
                              i ? "," : "", i, i % 3);
    return o + (size_t)snprintf(text + o, cap - o, "}}");
}

/* SPEED_RULES - 1 worst-case rules and the catch-all, into text[cap]. */
static size_t speed_policy(char *text, size_t cap)
{
    size_t o = (size_t)snprintf(text, cap, "{\"aliases\": [\"auto\"], \"rules\": [");
    for (int i = 0; i < SPEED_RULES - 1; i++)
        o += (size_t)snprintf(
            text + o, cap - o,
            "{\"id\": \"r%d\", \"when\": {\"endpoint\": {\"$in\": [\"chat\", \"messages\"]},"
            " \"budget_used_pct\": {\"$lt\": 99}, \"key_tags\": {\"$nin\": [\"x%d\"]},"
            " \"$or\": [{\"team\": \"team-%d\"}, {\"model\": \"model-%03d*\"},"
            " {\"header.x-route\": \"r%d-*\"}]},"
            " \"route\": {\"candidates\": [\"tier:t%d\", \"model-*\"]}},",
            i, i, i, i + SPEED_MODELS, i, i % 3);
    return o + (size_t)snprintf(text + o, cap - o, "{\"id\": \"default\", \"route\":"
                                " {\"candidates\": [\"$requested\"]}}]}");
}

START_TEST(big_policy_matches_the_catch_all)
{
    size_t cap = 1 << 20;
    char *text = malloc(cap);
    ck_assert_ptr_nonnull(text);
    const char *texts[] = {text};
    const size_t lens[] = {speed_catalog(text, cap)};
    const char *names[] = {"speed.json"};
    tg_cat_problem cp[4];
    int n = 0;
    tg_catalog *big = tg_catalog_load_texts(texts, lens, names, 1, false, cp, 4, &n);
    ck_assert_msg(big != NULL, "%s", n ? cp[0].text : "?");
    ck_assert_int_eq(tg_catalog_count(big), SPEED_MODELS);
    probs_t pr;
    size_t len = speed_policy(text, cap);
    tg_policy *p = tg_policy_compile(text, len, "speed", big, pr.p, MAXPROBS, &pr.n);
    ck_assert_msg(p != NULL, "%s", pr.n ? pr.p[0].text : "?");
    ck_assert_int_eq(tg_policy_rule_at(p, 0)->ncands, SPEED_MODELS);
    tg_policy_ctx ctx = full_ctx();
    long sum = 0; /* (no ck_assert in the loop: each one reports to the runner) */
    for (int i = 0; i < SPEED_ROUNDS; i++)
        sum += tg_policy_match(p, &ctx)->index;
    ck_assert_int_eq(sum, (long)SPEED_ROUNDS * (SPEED_RULES - 1));
    tg_policy_free(p);
    tg_catalog_free(big);
    free(text);
}
END_TEST

static Suite *policy_suite(void)
{
    Suite *s = suite_create("policy");
    TCase *tc = tcase_create("core");
    tcase_add_checked_fixture(tc, setup, teardown);
    tcase_add_loop_test(tc, glob_table, 0, (int)(sizeof globs / sizeof globs[0]));
    tcase_add_test(tc, glob_backtracking);
    tcase_add_test(tc, glob_refused);
    tcase_add_loop_test(tc, conditions, 0, (int)(sizeof conds / sizeof conds[0]));
    tcase_add_test(tc, condition_edges);
    tcase_add_test(tc, nesting_depth);
    tcase_add_test(tc, first_match_wins);
    tcase_add_test(tc, rule_defaults);
    tcase_add_test(tc, catch_all_required);
    tcase_add_test(tc, problems_top);
    tcase_add_test(tc, problems_rules);
    tcase_add_test(tc, problems_conditions);
    tcase_add_test(tc, problems_routes);
    tcase_add_test(tc, problems_limits);
    tcase_add_test(tc, text_and_version);
    tcase_add_test(tc, aliases);
    tcase_add_test(tc, load_files);
    tcase_add_test(tc, candidates_expand);
    tcase_add_test(tc, candidates_named);
    tcase_add_test(tc, candidates_weighted);
    tcase_add_test(tc, default_policy);
    tcase_add_test(tc, big_policy_matches_the_catch_all);
    suite_add_tcase(s, tc);
    return s;
}

int main(void)
{
    SRunner *sr = srunner_create(policy_suite());
    srunner_run_all(sr, CK_NORMAL);
    int failed = srunner_ntests_failed(sr);
    srunner_free(sr);
    return failed ? EXIT_FAILURE : EXIT_SUCCESS;
}
