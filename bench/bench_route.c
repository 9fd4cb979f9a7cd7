/* Routing decision benchmark (issue 4): a generated catalog of NMODELS models and a policy
 * of NRULES rules, worst case for the matcher: the request fails every rule but the last
 * (each rule tests team, key tags, model globs, a header and token ranges), and the last
 * rule's candidates are every model (a glob), each checked for provider, endpoint,
 * capabilities, context window and priced at its tier, then sorted by expected cost.
 *
 * Printed beside it, measured in the same run: the policy match alone, and counting the
 * request's prompt tokens with the built-in tokenizer (the other per-request cost the
 * proxy pays before forwarding).  Median of RUNS runs of ITERS decisions each, in
 * microseconds per request.
 *
 * usage: bench_route [NMODELS [NRULES]]   (defaults 300 and 200) */
#include "policies/catalog.h"
#include "policies/policy.h"
#include "router/count.h"
#include "router/route.h"

#include <cjson/cJSON.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#define RUNS 7
#define ITERS 20000

static double now_s(void)
{
    struct timespec t;
    clock_gettime(CLOCK_MONOTONIC, &t);
    return (double)t.tv_sec + (double)t.tv_nsec / 1e9;
}

static int cmp_double(const void *a, const void *b)
{
    double x = *(const double *)a, y = *(const double *)b;
    return x < y ? -1 : x > y;
}

static char *gen_catalog(int nmodels)
{
    static const char *const caps[] = {"\"tools\"", "\"tools\", \"vision\"",
                                       "\"tools\", \"json_mode\", \"structured_outputs\"",
                                       "\"streaming\""};
    size_t cap = (size_t)nmodels * 600 + 256, len = 0;
    char *s = malloc(cap);
    len += (size_t)snprintf(s + len, cap - len, "{\"catalog_version\": \"bench\", \"models\": {");
    for (int i = 0; i < nmodels; i++)
        len += (size_t)snprintf(
            s + len, cap - len,
            "%s\"m%03d\": {\"provider\": \"p%d\", \"tokenizer\": \"%s\", \"endpoints\": "
            "[\"chat\"], \"context_window\": %d, \"max_output\": %d, \"capabilities\": "
            "[%s, \"streaming\"], \"tier\": \"t%d\", \"prices\": [{\"effective_from\": "
            "\"2025-01-01\", \"input\": %d.%02d, \"output\": %d.%02d, \"tiers\": "
            "[{\"above_tokens\": 200000, \"input\": 9, \"output\": 19}]}]}",
            i ? ", " : "", i, i % 5, i % 3 ? "o200k_base" : "estimate",
            (i % 4 + 1) * 32000, (i % 3 + 1) * 4096, caps[i % 4], i % 10, i % 7, i % 100,
            i % 11 + 1, (i * 7) % 100);
    snprintf(s + len, cap - len, "}}");
    return s;
}

static char *gen_policy(int nrules)
{
    size_t cap = (size_t)nrules * 400 + 256, len = 0;
    char *s = malloc(cap);
    len += (size_t)snprintf(s + len, cap - len,
                            "{\"aliases\": [\"auto\"], \"rules\": [");
    for (int i = 0; i < nrules - 1; i++)
        len += (size_t)snprintf(
            s + len, cap - len,
            "{\"id\": \"r%d\", \"when\": {\"$or\": [{\"team\": {\"$in\": [\"team-%d\", "
            "\"ops-%d\"]}, \"model\": \"auto*\"}, {\"key_tags\": \"tag-%d-*\"}, "
            "{\"header.x-priority\": {\"$eq\": \"p%d\"}, \"input_tokens\": {\"$gte\": %d, "
            "\"$lt\": %d}}]}, \"route\": {\"candidates\": [\"tier:t%d\"]}}, ",
            i, i, i, i, i, i * 10, i * 10 + 5, i % 10);
    snprintf(s + len, cap - len,
             "{\"id\": \"catch-all\", \"when\": {}, \"route\": {\"candidates\": [\"m*\"], "
             "\"objective\": \"cheapest\"}}]}");
    return s;
}

static const char *bench_header(void *hctx, const char *name)
{
    (void)hctx;
    return strcmp(name, "x-priority") == 0 ? "high" : NULL;
}

int main(int argc, char **argv)
{
    int nmodels = argc > 1 ? atoi(argv[1]) : 300, nrules = argc > 2 ? atoi(argv[2]) : 200;
    char *ctext = gen_catalog(nmodels), *ptext = gen_policy(nrules);
    const char *texts[] = {ctext};
    size_t lens[] = {strlen(ctext)};
    const char *names[] = {"bench-catalog"};
    tg_cat_problem cp[4];
    tg_policy_problem pp[4];
    int n = 0;
    tg_catalog *cat = tg_catalog_load_texts(texts, lens, names, 1, false, cp, 4, &n);
    if (!cat) {
        fprintf(stderr, "catalog: %s\n", n ? cp[0].text : "?");
        return 1;
    }
    tg_policy *pol = tg_policy_compile(ptext, strlen(ptext), "bench-policy", cat, pp, 4, &n);
    if (!pol) {
        fprintf(stderr, "policy: %s\n", n ? pp[0].text : "?");
        return 1;
    }
    static const char body_text[] =
        "{\"model\": \"auto\", \"messages\": [{\"role\": \"system\", \"content\": \"You are "
        "a helpful assistant that answers briefly.\"}, {\"role\": \"user\", \"content\": "
        "\"Summarise the main causes of the French revolution in three bullet points, "
        "with one sentence each, and name one book to read.\"}], \"tools\": [{\"type\": "
        "\"function\", \"function\": {\"name\": \"search\", \"parameters\": {\"type\": "
        "\"object\", \"properties\": {\"q\": {\"type\": \"string\"}}}}}]}";
    cJSON *body = cJSON_Parse(body_text);
    const char *tags[] = {"bench-tag"};
    tg_route_input in = {.ctx = {.team = "bench", .key_id = "key_bench", .key_tags = tags,
                                 .nkey_tags = 1, .model = "auto", .endpoint = "chat",
                                 .input_tokens = 3, .max_output_tokens = -1,
                                 .caps = TG_CAP_TOOLS, .header = bench_header},
                         .now = 1767225600};
    static tg_route_decision d;
    double t_dec[RUNS], t_match[RUNS], t_count[RUNS];
    volatile int64_t sink = 0;
    for (int r = 0; r < RUNS; r++) {
        double t0 = now_s();
        for (int i = 0; i < ITERS; i++) {
            tg_route_decide(cat, pol, &in, &d);
            sink += d.norder;
        }
        double t1 = now_s();
        for (int i = 0; i < ITERS; i++)
            sink += tg_policy_match(pol, &in.ctx)->index;
        double t2 = now_s();
        for (int i = 0; i < ITERS / 10; i++) {
            tg_count_result cr;
            char err[64];
            if (tg_count_request(body, TG_COUNT_CHAT, "gpt-4o", &cr, err, sizeof err) == 0)
                sink += cr.tokens;
        }
        double t3 = now_s();
        t_dec[r] = (t1 - t0) / ITERS * 1e6;
        t_match[r] = (t2 - t1) / ITERS * 1e6;
        t_count[r] = (t3 - t2) / (ITERS / 10) * 1e6;
    }
    qsort(t_dec, RUNS, sizeof *t_dec, cmp_double);
    qsort(t_match, RUNS, sizeof *t_match, cmp_double);
    qsort(t_count, RUNS, sizeof *t_count, cmp_double);
    printf("routing decision, %d rules x %d models (last rule matches; %d candidates "
           "priced and sorted; chose %s)\n", nrules, nmodels, d.ncands,
           d.norder ? d.cands[d.order[0]].model->name : "nothing");
    printf("%-44s %10s %10s %10s\n", "us per request (median of 7 runs)", "median", "min",
           "max");
    printf("%-44s %10.2f %10.2f %10.2f\n", "full decision (match + price + sort)",
           t_dec[RUNS / 2], t_dec[0], t_dec[RUNS - 1]);
    printf("%-44s %10.2f %10.2f %10.2f\n", "  of which: policy match alone", t_match[RUNS / 2],
           t_match[0], t_match[RUNS - 1]);
    printf("%-44s %10.2f %10.2f %10.2f\n", "baseline: count this request's prompt tokens",
           t_count[RUNS / 2], t_count[0], t_count[RUNS - 1]);
    printf("target: under 20 us per decision: %s\n", t_dec[RUNS / 2] < 20 ? "met" : "NOT met");
    cJSON_Delete(body);
    tg_policy_free(pol);
    tg_catalog_free(cat);
    free(ctext);
    free(ptext);
    return (int)(sink & 0);
}
