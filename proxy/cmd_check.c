/* `tollgate check [--config FILE]`: validate the configuration (SPEC.md "Command line").
 *
 * How it works: tg_config_load collects every problem of the config file (and of the
 * TOLLGATE_STORE override); then the catalog files and the policy it names are loaded and
 * compiled exactly as `serve` would (proxy/routing.h), collecting their problems too.
 * Problems go to stderr, one per line, "FILE: $.path: what is wrong", and the exit code
 * is 1.  A clean config gives exit 0 and, on stdout, one warning per
 * secret variable that is not set in this environment, then the summary line
 * "config OK: FILE, N providers, listen H:P, admin H:P, store S".  Secrets are never
 * printed: neither the values of the variables nor a password in a postgres store URL. */
#include "proxy/cmds.h"

#include <errno.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "policies/catalog.h"
#include "policies/policy.h"
#include "proxy/config.h"
#include "proxy/routing.h"
#include "router/route.h"

#define WHO "tollgate check"
#define MAX_PROBLEMS 200      /* problems printed; the rest are counted */
#define ADDR_TEXT (TG_CONFIG_NAME_MAX + 16)

static const char usage_text[] = "usage: tollgate check [--config FILE]\n";

static const char details_text[] =
    "\n"
    "Validates the configuration and the catalog and policy files it names, and prints\n"
    "every problem on stderr (exit 1).  Without --config the embedded defaults are\n"
    "checked (and TOLLGATE_STORE, which overrides \"store\").\n"
    "  --config FILE    the JSON configuration to check\n";

static int usage_error(const char *fmt, const char *arg)
{
    fprintf(stderr, WHO ": ");
    fprintf(stderr, fmt, arg);
    fprintf(stderr, "\n%s", usage_text);
    return 2;
}

/* Parses argv; returns -1 to go on with *config set (NULL: none), else the exit code. */
static int parse_args(int argc, char **argv, const char **config)
{
    *config = NULL;
    for (int i = 1; i < argc; i++) {
        const char *a = argv[i];
        if (strcmp(a, "-h") == 0 || strcmp(a, "--help") == 0) {
            printf("%s%s", usage_text, details_text);
            return 0;
        }
        if (strcmp(a, "--config") == 0) {
            if (i + 1 == argc)
                return usage_error("%s needs a FILE", a);
            *config = argv[++i];
        } else if (strncmp(a, "--config=", 9) == 0) {
            *config = a + 9;
        } else {
            return usage_error(a[0] == '-' ? "unknown option '%s'" : "unexpected argument '%s'",
                               a);
        }
        if (!**config)
            return usage_error("%s", "--config needs a FILE");
    }
    return -1;
}

/* ---------------------------------------------------------------- catalog and policy */

/* Builds the routing the config names (catalog files over the built-in catalog, the
 * policy compiled against it) and prints every problem; returns the problem count.  On
 * success *snap holds it for the summary. */
static int check_routing(const tg_config *cfg, tg_route_snapshot **snap)
{
    static tg_routing_problems probs;
    *snap = tg_routing_build(cfg, &probs);
    for (int i = 0; i < probs.n && i < TG_ROUTING_MAX_PROBLEMS; i++)
        fprintf(stderr, "%s\n", probs.lines[i]);
    if (probs.n > TG_ROUTING_MAX_PROBLEMS)
        fprintf(stderr, "... and %d more problems\n", probs.n - TG_ROUTING_MAX_PROBLEMS);
    return *snap ? 0 : (probs.n ? probs.n : 1);
}

/* ---------------------------------------------------------------- the report */

static void addr_text(char *out, size_t n, const char *host, int port)
{
    snprintf(out, n, strchr(host, ':') ? "[%s]:%d" : "%s:%d", host, port);
}

/* The store URL for display: a postgres password becomes "***" and the query (which may
 * hold one too) is left out. */
static void store_text(char *out, size_t n, const char *url)
{
    const char *sep = strstr(url, "://");
    if (strncmp(url, "postgres", 8) != 0 || !sep) {
        snprintf(out, n, "%s", url);
        return;
    }
    const char *auth = sep + 3;
    size_t authlen = strcspn(auth, "/?");
    const char *at = NULL; /* the last '@': a password may hold one */
    for (size_t i = 0; i < authlen; i++)
        if (auth[i] == '@')
            at = auth + i;
    const char *colon = at ? memchr(auth, ':', (size_t)(at - auth)) : NULL;
    size_t keep = strcspn(url, "?");
    if (!colon) {
        snprintf(out, n, "%.*s%s", (int)keep, url, url[keep] ? "?..." : "");
        return;
    }
    const char *rest = at;
    size_t restlen = keep - (size_t)(rest - url);
    snprintf(out, n, "%.*s:***%.*s%s", (int)(colon - url), url, (int)restlen, rest,
             url[keep] ? "?..." : "");
}

static void warn_unset(const char *who, const char *var, const char *effect)
{
    const char *v = getenv(var);
    if (!v)
        printf("warning: %s: %s is not set; %s\n", who, var, effect);
    else if (!*v)
        printf("warning: %s: %s is empty; %s\n", who, var, effect);
}

static void print_ok(const char *config, const tg_config *cfg, const tg_route_snapshot *snap)
{
    for (int i = 0; i < cfg->nproviders; i++) {
        const tg_provider_config *p = &cfg->providers[i];
        char who[TG_CONFIG_NAME_MAX + 16];
        snprintf(who, sizeof who, "provider %s", p->name);
        if (p->api_key_env[0])
            warn_unset(who, p->api_key_env, "requests routed to it will fail with 502");
    }
    warn_unset("admin", cfg->admin_token_env, "the admin API will refuse every request");
    char listen[ADDR_TEXT], admin[ADDR_TEXT], store[TG_CONFIG_STR_MAX];
    addr_text(listen, sizeof listen, cfg->listen_host, cfg->listen_port);
    addr_text(admin, sizeof admin, cfg->admin_host, cfg->admin_port);
    store_text(store, sizeof store, cfg->store);
    printf("config OK: %s, %d provider%s, listen %s, admin %s, store %s\n",
           config, cfg->nproviders,
           cfg->nproviders == 1 ? "" : "s", listen, admin, store);
    printf("catalog OK: %s, %d models\npolicy OK: %s, %d rules, version %s\n",
           tg_catalog_version(snap->catalog), tg_catalog_count(snap->catalog),
           cfg->policy[0] ? cfg->policy : "built-in", tg_policy_rule_count(snap->policy),
           tg_policy_version(snap->policy));
}

int tg_cmd_check(int argc, char **argv)
{
    const char *config;
    int rc = parse_args(argc, argv, &config);
    if (rc >= 0)
        return rc;
    static tg_config cfg; /* large: keep it off the stack */
    static tg_config_problem probs[MAX_PROBLEMS];
    const char *label = config ? config : "embedded defaults";
    int n = tg_config_load(config, &cfg, probs, MAX_PROBLEMS);
    for (int i = 0; i < n && i < MAX_PROBLEMS; i++)
        fprintf(stderr, "%s\n", probs[i].text);
    if (n > MAX_PROBLEMS)
        fprintf(stderr, "%s: ... and %d more problems\n", label, n - MAX_PROBLEMS);
    tg_route_snapshot *snap = NULL;
    if (n == 0)
        n += check_routing(&cfg, &snap);
    if (n > 0)
        return 1;
    print_ok(label, &cfg, snap);
    tg_route_snapshot_free(snap);
    if (fflush(stdout) != 0 || ferror(stdout)) {
        fprintf(stderr, WHO ": cannot write the report: %s\n", strerror(errno));
        return 1;
    }
    return 0;
}
