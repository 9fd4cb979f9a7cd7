/* Helpers shared by the subcommands that use the store (see cmd_store.h): argument
 * parsing, finding and opening the store, money and count arguments, table and JSON
 * output.
 *
 * Tables are printed in two passes over the rows (widths, then text), so nothing is
 * allocated; JSON is built with cJSON, money as raw number text so that the exact decimal
 * digits reach the reader (cJSON's doubles would round above 2^53 nano-dollars). */
#include "proxy/cmd_store.h"

#include <inttypes.h>
#include <stdlib.h>
#include <string.h>

#include "proxy/cmds.h"
#include "quotas/money.h"

#define COUNT_TEXT_MAX 19 /* digits of INT64_MAX */
#define STORE_ENV "TOLLGATE_STORE"

/* ---------------------------------------------------------------- arguments */

static int usage_error(const char *who, const char *usage, const char *what, const char *arg)
{
    fprintf(stderr, "%s: %s '%s'\n%s", who, what, arg, usage);
    return 2;
}

/* Matches argv[*i] against the options; 1 matched (value stored, *i advanced), 0 no,
 * -1 matched without a value. */
static int match_opt(int argc, char **argv, int *i, const tg_cli_opt *opts)
{
    const char *a = argv[*i];
    for (const tg_cli_opt *o = opts; o && o->name; o++) {
        size_t n = strlen(o->name);
        if (strncmp(a, o->name, n) != 0 || (a[n] != '\0' && a[n] != '='))
            continue;
        if (a[n] == '=') {
            *o->value = a + n + 1;
            return 1;
        }
        if (*i + 1 >= argc)
            return -1;
        *o->value = argv[++*i];
        return 1;
    }
    return 0;
}

int tg_cli_parse(int argc, char **argv, const tg_cli_opt *opts, const char **pos, int minpos,
                 int maxpos, int *npos, const char *who, const char *usage, const char *details)
{
    bool only_positional = false;
    *npos = 0;
    for (int i = 1; i < argc; i++) {
        const char *a = argv[i];
        if (only_positional || a[0] != '-' || !strcmp(a, "-")) {
            if (*npos >= maxpos)
                return usage_error(who, usage, "unexpected argument", a);
            pos[(*npos)++] = a;
            continue;
        }
        if (!strcmp(a, "--")) {
            only_positional = true;
        } else if (!strcmp(a, "-h") || !strcmp(a, "--help")) {
            fputs(usage, stdout);
            fputs(details, stdout);
            return 0;
        } else {
            int m = match_opt(argc, argv, &i, opts);
            if (m == 0)
                return usage_error(who, usage, "unknown option", a);
            if (m < 0)
                return usage_error(who, usage, "missing value for", a);
        }
    }
    if (*npos < minpos) {
        fprintf(stderr, "%s: missing argument\n%s", who, usage);
        return 2;
    }
    return -1;
}

int tg_cli_money_arg(const char *who, const char *flag, const char *val, bool allow_none,
                     int64_t *nusd)
{
    if (allow_none && !strcmp(val, "none")) {
        *nusd = TG_STORE_UNLIMITED;
        return 0;
    }
    int rc = tg_money_parse_usd(val, nusd);
    if (rc == TG_MONEY_OK)
        return 0;
    fprintf(stderr, "%s: %s: '%.*s': %s\n", who, flag, TG_MONEY_TEXT_MAX, val,
            tg_money_strerror(rc));
    return 1;
}

int tg_cli_count_arg(const char *who, const char *flag, const char *val, bool allow_none,
                     int64_t *n)
{
    int64_t v = 0;
    const char *p = val;
    if (allow_none && !strcmp(val, "none")) {
        *n = TG_STORE_UNLIMITED;
        return 0;
    }
    for (; *p >= '0' && *p <= '9' && p - val < COUNT_TEXT_MAX; p++) {
        int d = *p - '0';
        if (v > (INT64_MAX - d) / 10)
            break;
        v = v * 10 + d;
    }
    if (p == val || *p != '\0') {
        fprintf(stderr, "%s: %s: '%.*s': not a whole number from 0 to %" PRId64 "%s\n", who,
                flag, TG_MONEY_TEXT_MAX, val, INT64_MAX, allow_none ? " (or none)" : "");
        return 1;
    }
    *n = v;
    return 0;
}

int tg_cli_limits_arg(const char *who, const tg_cli_limit_args *a, tg_limits *lim)
{
    if (a->budget && tg_cli_money_arg(who, "--budget-usd", a->budget, true, &lim->budget_nusd))
        return 1;
    const struct {
        const char *flag, *val;
        int64_t *out;
    } counts[] = {{"--tokens", a->tokens, &lim->budget_tokens},
                  {"--requests", a->requests, &lim->budget_requests},
                  {"--rpm", a->rpm, &lim->rpm},
                  {"--tpm", a->tpm, &lim->tpm}};
    for (size_t i = 0; i < sizeof counts / sizeof *counts; i++)
        if (counts[i].val && tg_cli_count_arg(who, counts[i].flag, counts[i].val, true,
                                              counts[i].out))
            return 1;
    return 0;
}

void tg_cli_rate_text(const tg_limits *lim, char *buf, size_t n)
{
    const struct {
        const char *name;
        int64_t v;
    } parts[] = {{"requests", lim->budget_requests}, {"rpm", lim->rpm}, {"tpm", lim->tpm}};
    size_t len = 0;
    buf[0] = '\0';
    for (size_t i = 0; i < sizeof parts / sizeof *parts && len < n; i++)
        if (parts[i].v != TG_STORE_UNLIMITED)
            len += (size_t)snprintf(buf + len, n - len, ", %s %" PRId64, parts[i].name,
                                    parts[i].v);
}

int tg_cli_format_arg(const char *who, const char *val, bool *json)
{
    if (!val || !strcmp(val, "table")) {
        *json = false;
        return 0;
    }
    if (!strcmp(val, "json")) {
        *json = true;
        return 0;
    }
    fprintf(stderr, "%s: --format: unknown format '%s' (table, json)\n", who, val);
    return 1;
}

/* ---------------------------------------------------------------- the store */

/* The "store" field of configuration file `path`: 0 with *url (NULL when absent; owned by
 * *root, which the caller deletes), or 1 after a message. */
static int config_store(const char *who, const char *path, cJSON **root, const char **url)
{
    char *text;
    size_t len;
    *root = NULL;
    *url = NULL;
    if (tg_cli_read_input(path, TG_CLI_CONFIG_MAX, &text, &len) != 0)
        return 1;
    *root = cJSON_ParseWithLength(text, len);
    free(text);
    if (!*root || !cJSON_IsObject(*root)) {
        fprintf(stderr, "%s: %s: %s\n", who, path,
                *root ? "$: expected a JSON object" : "not valid JSON");
        return 1;
    }
    const cJSON *s = cJSON_GetObjectItemCaseSensitive(*root, "store");
    if (s && !cJSON_IsString(s)) {
        fprintf(stderr, "%s: %s: $.store: expected a string like \"sqlite:PATH\"\n", who,
                path);
        return 1;
    }
    *url = s ? s->valuestring : NULL;
    return 0;
}

int tg_cli_store_open(const char *who, const char *config, tg_store **st)
{
    cJSON *root = NULL;
    const char *url = NULL;
    char err[TG_STORE_ERR_SIZE];
    *st = NULL;
    if (config && config_store(who, config, &root, &url) != 0) {
        cJSON_Delete(root);
        return 1;
    }
    if (!url || !*url)
        url = getenv(STORE_ENV);
    if (!url || !*url)
        url = TG_STORE_DEFAULT_URL;
    int rc = tg_store_open(url, st, err, sizeof err);
    cJSON_Delete(root);
    if (rc == TG_STORE_OK)
        return 0;
    fprintf(stderr, "%s: store: %s\n", who, err);
    return 1;
}

/* ---------------------------------------------------------------- output */

void tg_cli_money_text(int64_t nusd, char *buf, size_t n)
{
    if (nusd == TG_STORE_UNLIMITED)
        snprintf(buf, n, "-");
    else
        tg_money_format(nusd, buf, n);
}

void tg_cli_print_table(FILE *out, int ncols, const char *const *head, const void *rows,
                        size_t nrows, tg_cli_row_fn row)
{
    char cells[TG_CLI_TABLE_COLS][TG_CLI_CELL_SIZE];
    size_t width[TG_CLI_TABLE_COLS] = {0};
    if (ncols > TG_CLI_TABLE_COLS)
        ncols = TG_CLI_TABLE_COLS;
    for (int c = 0; c < ncols; c++)
        width[c] = strlen(head[c]);
    for (size_t r = 0; r < nrows; r++) {
        row(rows, r, cells);
        for (int c = 0; c < ncols; c++)
            if (strlen(cells[c]) > width[c])
                width[c] = strlen(cells[c]);
    }
    for (size_t r = 0; r <= nrows; r++) {
        if (r > 0)
            row(rows, r - 1, cells);
        for (int c = 0; c < ncols; c++) {
            const char *text = r == 0 ? head[c] : cells[c];
            if (c == ncols - 1)
                fprintf(out, "%s\n", text);
            else
                fprintf(out, "%-*s  ", (int)width[c], text);
        }
    }
}

cJSON *tg_cli_json_money(int64_t nusd)
{
    char buf[TG_MONEY_FMT_SIZE];
    if (nusd == TG_STORE_UNLIMITED)
        return cJSON_CreateNull();
    tg_money_format(nusd, buf, sizeof buf);
    return cJSON_CreateRaw(buf);
}

cJSON *tg_cli_json_count(int64_t n)
{
    char buf[COUNT_TEXT_MAX + 2];
    if (n == TG_STORE_UNLIMITED)
        return cJSON_CreateNull();
    snprintf(buf, sizeof buf, "%" PRId64, n);
    return cJSON_CreateRaw(buf);
}

cJSON *tg_cli_json_text(const char *s, bool empty_is_null)
{
    return empty_is_null && !*s ? cJSON_CreateNull() : cJSON_CreateString(s);
}

bool tg_cli_json_add(cJSON *o, const char *key, cJSON *v)
{
    if (!v)
        return false;
    if (cJSON_AddItemToObject(o, key, v))
        return true;
    cJSON_Delete(v);
    return false;
}

int tg_cli_print_json(const char *who, cJSON *json)
{
    char *text = json ? cJSON_PrintUnformatted(json) : NULL;
    cJSON_Delete(json);
    if (!text) {
        fprintf(stderr, "%s: out of memory\n", who);
        return 1;
    }
    puts(text);
    cJSON_free(text);
    return 0;
}

int tg_cli_finish(const char *who)
{
    if (fflush(stdout) == 0 && !ferror(stdout))
        return 0;
    fprintf(stderr, "%s: cannot write the output\n", who);
    return 1;
}

int tg_cli_dispatch(int argc, char **argv, const char *who, const tg_cli_action *actions,
                    size_t nactions, const char *usage, const char *details)
{
    if (argc < 2) {
        fputs(usage, stderr);
        return 2;
    }
    if (!strcmp(argv[1], "-h") || !strcmp(argv[1], "--help") || !strcmp(argv[1], "help")) {
        fputs(usage, stdout);
        fputs(details, stdout);
        return 0;
    }
    for (size_t i = 0; i < nactions; i++)
        if (!strcmp(argv[1], actions[i].name))
            return actions[i].run(argc - 1, argv + 1);
    fprintf(stderr, "%s: unknown action '%s'\n%s", who, argv[1], usage);
    return 2;
}

int tg_cli_print_json_array(const char *who, const void *items, size_t n, size_t size,
                            cJSON *(*to_json)(const void *item))
{
    cJSON *arr = cJSON_CreateArray();
    for (size_t i = 0; arr && i < n; i++) {
        cJSON *o = to_json((const char *)items + i * size);
        if (!o || !cJSON_AddItemToArray(arr, o)) {
            cJSON_Delete(o);
            cJSON_Delete(arr);
            arr = NULL;
        }
    }
    return tg_cli_print_json(who, arr);
}
