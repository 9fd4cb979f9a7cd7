/* `tollgate keys`: create, list and revoke virtual keys (SPEC.md).
 *
 * `create` prints the new secret alone on stdout, once, and a line about the key (id,
 * team, prefix) on stderr; the secret's buffer is wiped right after.  Nothing else ever
 * sees the secret: `list` shows id, team, label, prefix, budget and times, never the
 * secret or its hash.  `revoke` of a key that already is revoked changes nothing and
 * succeeds (it says so on stderr), so scripts can repeat it. */
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <openssl/crypto.h>

#include "proxy/cmd_store.h"
#include "quotas/money.h"

#define WHO "tollgate keys"

static const char usage_text[] =
    "usage: tollgate keys create --team NAME [--name LABEL] [--tags T1,T2] [--budget-usd X]\n"
    "                            [--tokens N] [--requests N] [--rpm N] [--tpm N]\n"
    "       tollgate keys list [--team NAME] [--format table|json]\n"
    "       tollgate keys set ID [--budget-usd X|none] [--tokens N|none] [--requests N|none]\n"
    "                            [--rpm N|none] [--tpm N|none]\n"
    "       tollgate keys revoke ID\n"
    "       (each also takes --config FILE)\n";

static const char details_text[] =
    "\n"
    "Virtual keys, the bearer tokens applications send instead of a provider key.\n"
    "  create   makes a key for team NAME and prints its secret alone on stdout: this is\n"
    "           the only time it is shown (only its SHA-256 hash is stored)\n"
    "           --name LABEL     a label, at most 128 printable ASCII characters\n"
    "           --tags T1,T2     tags the routing policy can match (key_tags): at most 16,\n"
    "                            each 1-32 characters of A-Z a-z 0-9 . _ : -\n"
    "           --budget-usd X   the key's own spend limit per team period, in USD\n"
    "           --tokens N       its token limit per team period\n"
    "           --requests N     its request limit per team period\n"
    "           --rpm N, --tpm N requests / tokens per rolling minute\n"
    "           (the tighter of the key's and the team's limits applies)\n"
    "  list     the keys (of team NAME), revoked ones included: id, team, label, the\n"
    "           secret's first characters, limits, creation and revocation times\n"
    "  set      changes the limits of key ID (\"none\" clears one); the proxy sees the\n"
    "           change within its key cache time (2 s)\n"
    "  revoke   makes key ID stop working at once\n"
    "  --config FILE  the configuration whose \"store\" names the store (else the\n"
    "                 environment variable TOLLGATE_STORE, else sqlite:./var/tollgate.db)\n";

/* Prints the store's message for its last failure, closes the store, returns 1. */
static int store_error(tg_store *st)
{
    fprintf(stderr, WHO ": %s\n", tg_store_errmsg(st));
    tg_store_close(st);
    return 1;
}

/* ---------------------------------------------------------------- create */

static int key_create(int argc, char **argv)
{
    tg_cli_limit_args la = {0};
    const char *team = NULL, *label = NULL, *tags = NULL, *config = NULL, *pos[1];
    const tg_cli_opt opts[] = {{"--team", &team},         {"--name", &label},
                               {"--tags", &tags},
                               {"--budget-usd", &la.budget}, {"--tokens", &la.tokens},
                               {"--requests", &la.requests}, {"--rpm", &la.rpm},
                               {"--tpm", &la.tpm},           {"--config", &config},
                               {NULL, NULL}};
    int npos, rc = tg_cli_parse(argc, argv, opts, pos, 0, 0, &npos, WHO " create",
                                usage_text, details_text);
    if (rc >= 0)
        return rc;
    if (!team) {
        fprintf(stderr, WHO " create: --team is required\n%s", usage_text);
        return 2;
    }
    tg_limits lim = TG_LIMITS_NONE;
    if (tg_cli_limits_arg(WHO, &la, &lim))
        return 1;
    tg_store *st;
    tg_key k;
    char secret[TG_KEY_SECRET_SIZE];
    if (tg_cli_store_open(WHO, config, &st) != 0)
        return 1;
    if (tg_store_key_create_tagged(st, team, label, tags, &lim, secret, sizeof secret, &k) !=
        TG_STORE_OK)
        return store_error(st);
    tg_store_close(st);
    printf("%s\n", secret);
    rc = tg_cli_finish(WHO);
    OPENSSL_cleanse(secret, sizeof secret);
    if (rc == 0)
        fprintf(stderr, "created key %s for team '%s' (prefix %s); the secret is not shown "
                        "again\n", k.id, k.team, k.prefix);
    return rc;
}

/* ---------------------------------------------------------------- list */

static void key_row(const void *rows, size_t i, char cells[][TG_CLI_CELL_SIZE])
{
    const tg_key *k = (const tg_key *)rows + i;
    snprintf(cells[0], TG_CLI_CELL_SIZE, "%s", k->id);
    snprintf(cells[1], TG_CLI_CELL_SIZE, "%s", k->team);
    snprintf(cells[2], TG_CLI_CELL_SIZE, "%s", k->name[0] ? k->name : "-");
    snprintf(cells[3], TG_CLI_CELL_SIZE, "%s", k->prefix);
    tg_cli_money_text(k->lim.budget_nusd, cells[4], TG_CLI_CELL_SIZE);
    const int64_t counts[] = {k->lim.budget_tokens, k->lim.budget_requests, k->lim.rpm,
                              k->lim.tpm};
    for (int c = 0; c < 4; c++)
        if (counts[c] == TG_STORE_UNLIMITED)
            snprintf(cells[5 + c], TG_CLI_CELL_SIZE, "-");
        else
            snprintf(cells[5 + c], TG_CLI_CELL_SIZE, "%" PRId64, counts[c]);
    snprintf(cells[9], TG_CLI_CELL_SIZE, "%s", k->created_at);
    snprintf(cells[10], TG_CLI_CELL_SIZE, "%s", k->revoked_at[0] ? k->revoked_at : "-");
    snprintf(cells[11], TG_CLI_CELL_SIZE, "%.*s", TG_CLI_CELL_SIZE - 1,
             k->tags[0] ? k->tags : "-");
}

/* The key's tags as a JSON array of strings. */
static cJSON *tags_json(const tg_key *k)
{
    char buf[TG_KEY_TAGS_MAX + 1];
    const char *tags[TG_KEY_MAX_TAGS];
    int n = tg_store_key_tags(k, buf, tags, TG_KEY_MAX_TAGS);
    return cJSON_CreateStringArray(tags, n);
}

static cJSON *key_json(const void *item)
{
    const tg_key *k = item;
    cJSON *o = cJSON_CreateObject();
    if (o && tg_cli_json_add(o, "id", tg_cli_json_text(k->id, false)) &&
        tg_cli_json_add(o, "team", tg_cli_json_text(k->team, false)) &&
        tg_cli_json_add(o, "name", tg_cli_json_text(k->name, true)) &&
        tg_cli_json_add(o, "prefix", tg_cli_json_text(k->prefix, false)) &&
        tg_cli_json_add(o, "tags", tags_json(k)) &&
        tg_cli_json_add(o, "budget_usd", tg_cli_json_money(k->lim.budget_nusd)) &&
        tg_cli_json_add(o, "budget_tokens", tg_cli_json_count(k->lim.budget_tokens)) &&
        tg_cli_json_add(o, "budget_requests", tg_cli_json_count(k->lim.budget_requests)) &&
        tg_cli_json_add(o, "rpm", tg_cli_json_count(k->lim.rpm)) &&
        tg_cli_json_add(o, "tpm", tg_cli_json_count(k->lim.tpm)) &&
        tg_cli_json_add(o, "created_at", tg_cli_json_text(k->created_at, false)) &&
        tg_cli_json_add(o, "revoked_at", tg_cli_json_text(k->revoked_at, true)))
        return o;
    cJSON_Delete(o);
    return NULL;
}


static int print_keys_json(const tg_key *keys, size_t n)
{
    return tg_cli_print_json_array(WHO, keys, n, sizeof *keys, key_json);
}

static int key_list(int argc, char **argv)
{
    static const char *const head[] = {"ID",  "TEAM", "NAME",    "PREFIX",  "BUDGET_USD",
                                       "TOKENS", "REQUESTS", "RPM", "TPM", "CREATED",
                                       "REVOKED", "TAGS"};
    const char *team = NULL, *format = NULL, *config = NULL, *pos[1];
    const tg_cli_opt opts[] = {
        {"--team", &team}, {"--format", &format}, {"--config", &config}, {NULL, NULL}};
    int npos, rc = tg_cli_parse(argc, argv, opts, pos, 0, 0, &npos, WHO " list",
                                usage_text, details_text);
    bool json;
    if (rc >= 0)
        return rc;
    if (tg_cli_format_arg(WHO, format, &json) != 0)
        return 1;
    tg_store *st;
    tg_key *keys;
    size_t n;
    if (tg_cli_store_open(WHO, config, &st) != 0)
        return 1;
    if (tg_store_key_list(st, team, &keys, &n) != TG_STORE_OK)
        return store_error(st);
    tg_store_close(st);
    rc = 0;
    if (json)
        rc = print_keys_json(keys, n);
    else
        tg_cli_print_table(stdout, 12, head, keys, n, key_row);
    free(keys);
    return rc != 0 ? rc : tg_cli_finish(WHO);
}

/* ---------------------------------------------------------------- set */

static int key_set(int argc, char **argv)
{
    tg_cli_limit_args la = {0};
    const char *config = NULL, *pos[1];
    const tg_cli_opt opts[] = {{"--budget-usd", &la.budget}, {"--tokens", &la.tokens},
                               {"--requests", &la.requests}, {"--rpm", &la.rpm},
                               {"--tpm", &la.tpm},           {"--config", &config},
                               {NULL, NULL}};
    int npos, rc = tg_cli_parse(argc, argv, opts, pos, 1, 1, &npos, WHO " set", usage_text,
                                details_text);
    if (rc >= 0)
        return rc;
    tg_team_update u = {.set_budget = la.budget != NULL, .set_tokens = la.tokens != NULL,
                        .set_requests = la.requests != NULL, .set_rpm = la.rpm != NULL,
                        .set_tpm = la.tpm != NULL, .lim = TG_LIMITS_NONE};
    if (!u.set_budget && !u.set_tokens && !u.set_requests && !u.set_rpm && !u.set_tpm) {
        fprintf(stderr, WHO " set: nothing to change (give --budget-usd, --tokens, "
                        "--requests, --rpm or --tpm)\n%s", usage_text);
        return 2;
    }
    if (tg_cli_limits_arg(WHO, &la, &u.lim))
        return 1;
    tg_store *st;
    tg_key k;
    if (tg_cli_store_open(WHO, config, &st) != 0)
        return 1;
    if (tg_store_key_set(st, pos[0], &u, &k) != TG_STORE_OK)
        return store_error(st);
    tg_store_close(st);
    char budget[TG_CLI_CELL_SIZE], tokens[TG_CLI_CELL_SIZE], rates[TG_CLI_CELL_SIZE];
    tg_cli_money_text(k.lim.budget_nusd, budget, sizeof budget);
    snprintf(tokens, sizeof tokens, "%" PRId64, k.lim.budget_tokens);
    tg_cli_rate_text(&k.lim, rates, sizeof rates);
    printf("updated key %s (team '%s'): budget %s%s, tokens %s%s\n", k.id, k.team,
           k.lim.budget_nusd == TG_STORE_UNLIMITED ? "none" : budget,
           k.lim.budget_nusd == TG_STORE_UNLIMITED ? "" : " USD",
           k.lim.budget_tokens == TG_STORE_UNLIMITED ? "none" : tokens, rates);
    return tg_cli_finish(WHO);
}

/* ---------------------------------------------------------------- revoke */

static int key_revoke(int argc, char **argv)
{
    const char *config = NULL, *pos[1];
    const tg_cli_opt opts[] = {{"--config", &config}, {NULL, NULL}};
    int npos, rc = tg_cli_parse(argc, argv, opts, pos, 1, 1, &npos, WHO " revoke",
                                usage_text, details_text);
    if (rc >= 0)
        return rc;
    tg_store *st;
    tg_key k;
    if (tg_cli_store_open(WHO, config, &st) != 0)
        return 1;
    rc = tg_store_key_revoke(st, pos[0], &k);
    if (rc == TG_STORE_REVOKED) {
        fprintf(stderr, WHO ": key '%s' was already revoked at %s\n", k.id, k.revoked_at);
        tg_store_close(st);
        return 0;
    }
    if (rc != TG_STORE_OK)
        return store_error(st);
    tg_store_close(st);
    printf("revoked key %s (team '%s') at %s\n", k.id, k.team, k.revoked_at);
    return tg_cli_finish(WHO);
}

int tg_cmd_keys(int argc, char **argv)
{
    static const tg_cli_action actions[] = {{"create", key_create}, {"list", key_list}, {"set", key_set},
                                            {"revoke", key_revoke}};
    return tg_cli_dispatch(argc, argv, WHO, actions, sizeof actions / sizeof *actions,
                           usage_text, details_text);
}
