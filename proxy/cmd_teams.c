/* `tollgate teams`: add, list and change teams and their hard budgets (SPEC.md).
 *
 * Each action parses its arguments (tg_cli_parse), checks every value before touching the
 * store (bad money, counts, periods and names are user errors, exit 1, naming the flag),
 * opens the store named by --config / TOLLGATE_STORE / the default, and makes one store
 * call.  The store writes the user-facing messages for its own refusals ("team 'x'
 * already exists", "no team 'x'"); they are printed as "tollgate teams: MESSAGE". */
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "proxy/cmd_store.h"
#include "quotas/money.h"

#define WHO "tollgate teams"
#define TOKENS_TEXT_SIZE 24
#define RATE_TEXT_SIZE 96

static const char usage_text[] =
    "usage: tollgate teams add NAME [--budget-usd X] [--period day|week|month] [--tokens N]\n"
    "                          [--requests N] [--rpm N] [--tpm N]\n"
    "       tollgate teams list [--format table|json]\n"
    "       tollgate teams set NAME [--budget-usd X|none] [--period P] [--tokens N|none]\n"
    "                          [--requests N|none] [--rpm N|none] [--tpm N|none]\n"
    "       (each also takes --config FILE)\n";

static const char details_text[] =
    "\n"
    "Teams and their hard budgets.  NAME is 1-64 characters from A-Z a-z 0-9 _ . -.\n"
    "  --budget-usd X   spend limit per period in USD, up to 9 decimals (\"none\": no limit)\n"
    "  --tokens N       token limit per period (\"none\": no limit)\n"
    "  --requests N     request limit per period (\"none\": no limit)\n"
    "  --rpm N          requests per rolling minute (\"none\": no limit)\n"
    "  --tpm N          tokens per rolling minute (\"none\": no limit)\n"
    "  --period P       the calendar period (UTC) the limits apply to: day, week or month\n"
    "                   (default month)\n"
    "  --format F       list as a table (default) or as a JSON array\n"
    "  --config FILE    the configuration whose \"store\" names the store (else the\n"
    "                   environment variable TOLLGATE_STORE, else sqlite:./var/tollgate.db)\n";

static int period_arg(const char *val, tg_period *p)
{
    if (tg_store_period_parse(val, p) == 0)
        return 0;
    fprintf(stderr, WHO ": --period: unknown period '%s' (day, week, month)\n", val);
    return 1;
}

static void tokens_text(int64_t n, char *buf, size_t size)
{
    if (n == TG_STORE_UNLIMITED)
        snprintf(buf, size, "-");
    else
        snprintf(buf, size, "%" PRId64, n);
}

/* "team 'ml': budget 100.00 USD, tokens -, period month" after `verb`, with ", requests
 * N, rpm N, tpm N" before the period for those that are set. */
static void describe(const char *verb, const tg_team *t)
{
    char money[TG_MONEY_FMT_SIZE], tokens[TOKENS_TEXT_SIZE], rates[RATE_TEXT_SIZE];
    tg_cli_money_text(t->lim.budget_nusd, money, sizeof money);
    tokens_text(t->lim.budget_tokens, tokens, sizeof tokens);
    tg_cli_rate_text(&t->lim, rates, sizeof rates);
    printf("%s team '%s': budget %s%s, tokens %s%s, period %s\n", verb, t->name,
           t->lim.budget_nusd == TG_STORE_UNLIMITED ? "none" : money,
           t->lim.budget_nusd == TG_STORE_UNLIMITED ? "" : " USD",
           t->lim.budget_tokens == TG_STORE_UNLIMITED ? "none" : tokens, rates,
           tg_store_period_name(t->period));
}

/* Prints the store's message for its last failure, closes the store, returns 1. */
static int store_error(tg_store *st)
{
    fprintf(stderr, WHO ": %s\n", tg_store_errmsg(st));
    tg_store_close(st);
    return 1;
}

/* Parses the arguments of add and set (the same options, one NAME) into the pointers.
 * Returns what tg_cli_parse returns. */
static int team_args(int argc, char **argv, const char *who, tg_cli_limit_args *la,
                     const char **period, const char **config, const char **pos)
{
    const tg_cli_opt opts[] = {{"--budget-usd", &la->budget}, {"--period", period},
                               {"--tokens", &la->tokens},     {"--requests", &la->requests},
                               {"--rpm", &la->rpm},           {"--tpm", &la->tpm},
                               {"--config", config},          {NULL, NULL}};
    int npos;
    return tg_cli_parse(argc, argv, opts, pos, 1, 1, &npos, who, usage_text, details_text);
}

/* ---------------------------------------------------------------- add */

static int team_add(int argc, char **argv)
{
    tg_cli_limit_args la = {0};
    const char *period = NULL, *config = NULL, *pos[1];
    int rc = team_args(argc, argv, WHO " add", &la, &period, &config, pos);
    if (rc >= 0)
        return rc;
    tg_team t = {.lim = TG_LIMITS_NONE, .period = TG_PERIOD_DEFAULT};
    if (!tg_store_team_name_valid(pos[0])) {
        fprintf(stderr, WHO ": invalid team name '%.*s': use 1-%d characters from "
                        "A-Z a-z 0-9 _ . -\n", TG_TEAM_NAME_MAX + 8, pos[0], TG_TEAM_NAME_MAX);
        return 1;
    }
    snprintf(t.name, sizeof t.name, "%s", pos[0]);
    if (tg_cli_limits_arg(WHO, &la, &t.lim) || (period && period_arg(period, &t.period)))
        return 1;
    tg_store *st;
    if (tg_cli_store_open(WHO, config, &st) != 0)
        return 1;
    if (tg_store_team_add(st, &t) != TG_STORE_OK)
        return store_error(st);
    tg_store_close(st);
    describe("added", &t);
    return tg_cli_finish(WHO);
}

/* ---------------------------------------------------------------- list */

static void team_row(const void *rows, size_t i, char cells[][TG_CLI_CELL_SIZE])
{
    const tg_team *t = (const tg_team *)rows + i;
    snprintf(cells[0], TG_CLI_CELL_SIZE, "%s", t->name);
    tg_cli_money_text(t->lim.budget_nusd, cells[1], TG_CLI_CELL_SIZE);
    tokens_text(t->lim.budget_tokens, cells[2], TG_CLI_CELL_SIZE);
    tokens_text(t->lim.budget_requests, cells[3], TG_CLI_CELL_SIZE);
    tokens_text(t->lim.rpm, cells[4], TG_CLI_CELL_SIZE);
    tokens_text(t->lim.tpm, cells[5], TG_CLI_CELL_SIZE);
    snprintf(cells[6], TG_CLI_CELL_SIZE, "%s", tg_store_period_name(t->period));
    snprintf(cells[7], TG_CLI_CELL_SIZE, "%s", t->created_at);
}

static cJSON *team_json(const void *item)
{
    const tg_team *t = item;
    cJSON *o = cJSON_CreateObject();
    if (o && tg_cli_json_add(o, "name", tg_cli_json_text(t->name, false)) &&
        tg_cli_json_add(o, "budget_usd", tg_cli_json_money(t->lim.budget_nusd)) &&
        tg_cli_json_add(o, "budget_tokens", tg_cli_json_count(t->lim.budget_tokens)) &&
        tg_cli_json_add(o, "budget_requests", tg_cli_json_count(t->lim.budget_requests)) &&
        tg_cli_json_add(o, "rpm", tg_cli_json_count(t->lim.rpm)) &&
        tg_cli_json_add(o, "tpm", tg_cli_json_count(t->lim.tpm)) &&
        tg_cli_json_add(o, "period", tg_cli_json_text(tg_store_period_name(t->period), false)) &&
        tg_cli_json_add(o, "created_at", tg_cli_json_text(t->created_at, false)))
        return o;
    cJSON_Delete(o);
    return NULL;
}


static int print_teams_json(const tg_team *teams, size_t n)
{
    return tg_cli_print_json_array(WHO, teams, n, sizeof *teams, team_json);
}

static int team_list(int argc, char **argv)
{
    static const char *const head[] = {"NAME", "BUDGET_USD", "TOKENS", "REQUESTS",
                                       "RPM",  "TPM",        "PERIOD", "CREATED"};
    const char *format = NULL, *config = NULL, *pos[1];
    const tg_cli_opt opts[] = {{"--format", &format}, {"--config", &config}, {NULL, NULL}};
    int npos, rc = tg_cli_parse(argc, argv, opts, pos, 0, 0, &npos, WHO " list",
                                usage_text, details_text);
    bool json;
    if (rc >= 0)
        return rc;
    if (tg_cli_format_arg(WHO, format, &json) != 0)
        return 1;
    tg_store *st;
    tg_team *teams;
    size_t n;
    if (tg_cli_store_open(WHO, config, &st) != 0)
        return 1;
    if (tg_store_team_list(st, &teams, &n) != TG_STORE_OK)
        return store_error(st);
    tg_store_close(st);
    rc = 0;
    if (json)
        rc = print_teams_json(teams, n);
    else
        tg_cli_print_table(stdout, 8, head, teams, n, team_row);
    free(teams);
    return rc != 0 ? rc : tg_cli_finish(WHO);
}

/* ---------------------------------------------------------------- set */

static int team_set(int argc, char **argv)
{
    tg_cli_limit_args la = {0};
    const char *period = NULL, *config = NULL, *pos[1];
    int rc = team_args(argc, argv, WHO " set", &la, &period, &config, pos);
    if (rc >= 0)
        return rc;
    tg_team_update u = {.set_budget = la.budget != NULL, .set_tokens = la.tokens != NULL,
                        .set_requests = la.requests != NULL, .set_rpm = la.rpm != NULL,
                        .set_tpm = la.tpm != NULL, .set_period = period != NULL,
                        .lim = TG_LIMITS_NONE};
    if (!u.set_budget && !u.set_tokens && !u.set_requests && !u.set_rpm && !u.set_tpm &&
        !u.set_period) {
        fprintf(stderr, WHO " set: nothing to change (give --budget-usd, --tokens, "
                        "--requests, --rpm, --tpm or --period)\n%s", usage_text);
        return 2;
    }
    if (tg_cli_limits_arg(WHO, &la, &u.lim) || (period && period_arg(period, &u.period)))
        return 1;
    tg_store *st;
    tg_team t;
    if (tg_cli_store_open(WHO, config, &st) != 0)
        return 1;
    if (tg_store_team_set(st, pos[0], &u, &t) != TG_STORE_OK)
        return store_error(st);
    tg_store_close(st);
    describe("updated", &t);
    return tg_cli_finish(WHO);
}

int tg_cmd_teams(int argc, char **argv)
{
    static const tg_cli_action actions[] = {{"add", team_add}, {"list", team_list}, {"set", team_set}};
    return tg_cli_dispatch(argc, argv, WHO, actions, sizeof actions / sizeof *actions,
                           usage_text, details_text);
}
