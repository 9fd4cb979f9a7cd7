/* `tollgate route [--config FILE] [--team T] [--key ID] [--api API] [--header N:V]...
 *  [--budget-used PCT] [FILE]`: the routing decision for a request body, without calling
 * any upstream (SPEC.md "Command line").
 *
 * It loads the config's catalog and policy exactly as `serve` does (proxy/routing.h),
 * counts the body's prompt tokens and infers its required capabilities as the proxy does,
 * and prints router/route.h's decision as JSON: the chosen model, the rule, the estimated
 * input tokens, and every candidate with its estimated cost and why it was excluded.
 * Providers count as usable exactly as in `serve`: defined by the config, with their API
 * key variable set in this environment.  A decision that routes nowhere (unknown model, a deny
 * rule, no capable candidate) is still a decision: printed, exit 0, "status" says which.
 * Exit 1: unreadable or invalid body, or a config/catalog/policy problem; 2: usage. */
#include "proxy/cmds.h"

#include "policies/catalog.h"
#include "policies/policy.h"
#include "proxy/config.h"
#include "proxy/routing.h"
#include "router/caps.h"
#include "router/count.h"
#include "router/route.h"
#include "store/store.h"

#include <cjson/cJSON.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <time.h>

#define MAX_HEADERS 32

static const char usage_text[] =
    "usage: tollgate route [--config FILE] [--team T] [--key ID] [--tags T1,T2] [--api API]\n"
    "                      [--header NAME:VALUE]... [--budget-used PCT] [FILE]\n";

static const char details_text[] =
    "\n"
    "Prints, as JSON, the routing decision for the API request body in FILE (stdin when\n"
    "absent or \"-\"): the chosen model, the rule, the estimated input tokens, the\n"
    "required capabilities and every candidate with its estimated cost and the reason it\n"
    "was excluded.  Nothing is sent upstream.\n"
    "  --config FILE      the configuration whose catalog and policy to use\n"
    "  --team T, --key ID the team and key the policy sees\n"
    "  --tags T1,T2       the key's tags the policy sees (key_tags)\n"
    "  --api API          chat, completions, embeddings, responses, messages (default:\n"
    "                     guessed from the body, as `tollgate count` does)\n"
    "  --header N:V       a request header the policy may match (repeatable)\n"
    "  --budget-used PCT  the team's budget used, in percent (default 0)\n";

typedef struct {
    const char *config, *team, *key, *api, *file, *tags;
    const char *headers[MAX_HEADERS];
    int nheaders;
    double budget_used;
} route_opts;

__attribute__((format(printf, 1, 2))) static int usage_error(const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    fputs("tollgate route: ", stderr);
    vfprintf(stderr, fmt, ap);
    va_end(ap);
    fprintf(stderr, "\n%s", usage_text);
    return 2;
}

/* The value of option argv[*i] ("--x V" or "--x=V"); NULL when missing. */
static const char *opt_value(int argc, char **argv, int *i, const char *name)
{
    size_t n = strlen(name);
    if (strncmp(argv[*i], name, n) == 0 && argv[*i][n] == '=')
        return argv[*i] + n + 1;
    return *i + 1 < argc ? argv[++*i] : NULL;
}

static int parse_args(int argc, char **argv, route_opts *o)
{
    static const char *const names[] = {"--config", "--team", "--key", "--api", "--header",
                                        "--budget-used", "--tags"};
    for (int i = 1; i < argc; i++) {
        const char *a = argv[i];
        if (strcmp(a, "-h") == 0 || strcmp(a, "--help") == 0) {
            printf("%s%s", usage_text, details_text);
            return 0;
        }
        int which = -1;
        for (int k = 0; k < 7; k++) {
            size_t n = strlen(names[k]);
            if (strncmp(a, names[k], n) == 0 && (a[n] == '\0' || a[n] == '='))
                which = k;
        }
        if (which < 0 && a[0] == '-' && a[1])
            return usage_error("unknown option '%s'", a);
        if (which < 0) {
            if (o->file)
                return usage_error("unexpected argument '%s'", a);
            o->file = a;
            continue;
        }
        const char *v = opt_value(argc, argv, &i, names[which]);
        if (!v || !*v)
            return usage_error("%s needs a value", names[which]);
        char *end;
        switch (which) {
        case 0: o->config = v; break;
        case 1: o->team = v; break;
        case 2: o->key = v; break;
        case 3: o->api = v; break;
        case 6: o->tags = v; break;
        case 4:
            if (o->nheaders == MAX_HEADERS || !strchr(v, ':'))
                return usage_error("--header takes NAME:VALUE (at most %d)", MAX_HEADERS);
            o->headers[o->nheaders++] = v;
            break;
        default:
            o->budget_used = strtod(v, &end);
            if (*end || o->budget_used < 0)
                return usage_error("--budget-used takes a percentage, not '%s'", v);
        }
    }
    return -1;
}

static const char *opt_header(void *hctx, const char *name)
{
    const route_opts *o = hctx;
    size_t n = strlen(name);
    for (int i = 0; i < o->nheaders; i++) {
        const char *h = o->headers[i];
        if (strncasecmp(h, name, n) == 0 && h[n] == ':')
            return h[n + 1] == ' ' ? h + n + 2 : h + n + 1;
    }
    return NULL;
}

/* Parses and measures the body; returns 0 or 1 (told on stderr). */
static int read_body(const route_opts *o, cJSON **body, tg_count_kind *kind, int64_t *tokens)
{
    char *text = NULL, err[256];
    size_t len = 0;
    if (tg_cli_read_input(o->file, TG_COUNT_MAX_BODY, &text, &len) != 0)
        return 1;
    const char *name = o->file ? o->file : "<stdin>";
    int rc = tg_count_parse(text, len, body, err, sizeof err);
    free(text);
    if (rc == TG_COUNT_OK && !cJSON_IsString(cJSON_GetObjectItemCaseSensitive(*body, "model")))
        snprintf(err, sizeof err, "the body has no \"model\""), rc = TG_COUNT_EINVAL;
    if (rc == TG_COUNT_OK && o->api && tg_count_kind_parse(o->api, kind) != 0)
        snprintf(err, sizeof err, "unknown --api '%s'", o->api), rc = TG_COUNT_EINVAL;
    if (rc == TG_COUNT_OK && !o->api)
        rc = tg_count_detect(*body, kind, err, sizeof err);
    tg_count_result cr;
    if (rc == TG_COUNT_OK)
        rc = tg_count_request(*body, *kind, "gpt-4o", &cr, err, sizeof err);
    if (rc != TG_COUNT_OK) {
        fprintf(stderr, "tollgate route: %s: %s\n", name, err);
        cJSON_Delete(*body);
        *body = NULL;
        return 1;
    }
    *tokens = cr.tokens;
    return 0;
}

static int decide_and_print(const route_opts *o, const tg_config *cfg,
                            const tg_route_snapshot *snap, const cJSON *body,
                            tg_count_kind kind, int64_t tokens)
{
    tg_caps_result caps;
    tg_caps_infer(body, kind, &caps);
    tg_route_body cc = {body, (int)kind};
    tg_key k = {0};
    snprintf(k.tags, sizeof k.tags, "%s", o->tags ? o->tags : "");
    char tagbuf[TG_KEY_TAGS_MAX + 1];
    const char *tags[TG_KEY_MAX_TAGS];
    int ntags = tg_store_key_tags(&k, tagbuf, tags, TG_KEY_MAX_TAGS);
    tg_route_input in = {
        .ctx = {.team = o->team, .key_id = o->key, .key_tags = tags, .nkey_tags = ntags,
                .model = cJSON_GetObjectItemCaseSensitive(body, "model")->valuestring,
                .endpoint = tg_count_kind_name(kind), .input_tokens = tokens,
                .max_output_tokens = caps.max_output_tokens, .caps = caps.caps,
                .budget_used_pct = o->budget_used, .header = opt_header, .hctx = (void *)o},
        .provider_ok = tg_routing_provider_ok, .provider_exists = tg_routing_provider_exists,
        .pctx = (void *)cfg, .count_cl100k = tg_route_count_cl100k, .cctx = &cc,
        .now = (int64_t)time(NULL), .rand = 0};
    static tg_route_decision d;
    tg_route_decide(snap->catalog, snap->policy, &in, &d);
    char *json = tg_route_decision_json(&d);
    cJSON *out = json ? cJSON_Parse(json) : NULL;
    cJSON_free(json);
    if (!out) {
        fputs("tollgate route: out of memory\n", stderr);
        return 1;
    }
    cJSON_AddStringToObject(out, "policy_version", tg_policy_version(snap->policy));
    cJSON_AddStringToObject(out, "catalog_version", tg_catalog_version(snap->catalog));
    char *txt = cJSON_Print(out);
    cJSON_Delete(out);
    if (!txt) {
        fputs("tollgate route: out of memory\n", stderr);
        return 1;
    }
    puts(txt);
    cJSON_free(txt);
    return fflush(stdout) == 0 ? 0 : 1;
}

int tg_cmd_route(int argc, char **argv)
{
    route_opts o = {0};
    int rc = parse_args(argc, argv, &o);
    if (rc >= 0)
        return rc;
    static tg_config cfg;
    static tg_config_problem cprobs[16];
    int n = tg_config_load(o.config, &cfg, cprobs, 16);
    for (int i = 0; i < n && i < 16; i++)
        fprintf(stderr, "%s\n", cprobs[i].text);
    if (n)
        return 1;
    static tg_routing_problems probs;
    tg_route_snapshot *snap = tg_routing_build(&cfg, &probs);
    for (int i = 0; i < probs.n && i < TG_ROUTING_MAX_PROBLEMS; i++)
        fprintf(stderr, "%s\n", probs.lines[i]);
    if (!snap)
        return 1;
    cJSON *body = NULL;
    tg_count_kind kind = TG_COUNT_CHAT;
    int64_t tokens = 0;
    rc = read_body(&o, &body, &kind, &tokens);
    if (rc == 0)
        rc = decide_and_print(&o, &cfg, snap, body, kind, tokens);
    cJSON_Delete(body);
    tg_route_snapshot_free(snap);
    return rc;
}
