/* `tollgate teams` and `tollgate keys`, and the helpers shared by the subcommands that
 * read or write the store (cmd_store.c).
 *
 * Which store: `--config FILE` names the JSON configuration, whose optional "store" field
 * is the store URL; without it (or without the field) the environment variable
 * TOLLGATE_STORE; without that TG_STORE_DEFAULT_URL ("sqlite:./var/tollgate.db").  Until the
 * configuration loader exists only the "store" field is read. */
#ifndef TG_CMD_STORE_H
#define TG_CMD_STORE_H
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>

#include <cjson/cJSON.h>

#include "store/store.h"

/* Each returns the exit code: 0 success, 1 user error (one plain line on stderr), 2 usage.
 * argv[0] is "teams" / "keys". */
int tg_cmd_teams(int argc, char **argv);
int tg_cmd_keys(int argc, char **argv);

/* One action of a subcommand ("teams add", "keys revoke", ...). */
typedef struct {
    const char *name;
    int (*run)(int argc, char **argv); /* argv[0] is the action's name */
} tg_cli_action;

/* Runs the action argv[1] names, or prints `usage` (exit 2) when there is none or it is
 * unknown, or usage and `details` on stdout (exit 0) for -h/--help/help.  `who` prefixes
 * the error ("tollgate keys"). */
/* Prints n items (each `size` bytes, at `items`) as a JSON array, converting each with
 * to_json (NULL on failure); returns what tg_cli_print_json returns. */
int tg_cli_print_json_array(const char *who, const void *items, size_t n, size_t size,
                            cJSON *(*to_json)(const void *item));

int tg_cli_dispatch(int argc, char **argv, const char *who, const tg_cli_action *actions,
                    size_t nactions, const char *usage, const char *details);

#define TG_CLI_CONFIG_MAX (4u << 20) /* largest configuration file read */
#define TG_CLI_TABLE_COLS 12         /* columns of a table */
#define TG_CLI_CELL_SIZE 160         /* bytes of one table cell, NUL included */

/* A value option of an action: "--name V" or "--name=V" stores V in *value (the last one
 * given wins). */
typedef struct {
    const char *name;
    const char **value;
} tg_cli_opt;

/* Parses the arguments of one action, argv[1..argc-1]: the options in `opts` (ended by
 * {NULL, NULL}), "-h"/"--help", "--" (everything after it is positional), and between
 * `minpos` and `maxpos` positional arguments into pos[] (room for `maxpos`), their count
 * into *npos.  `who` names the command in messages ("tollgate teams add").
 * Returns -1 to go on; 0 after printing `usage` and `details` on stdout (help asked for);
 * 2 after a usage error, explained on stderr followed by `usage`.  Pointers point into
 * argv. */
int tg_cli_parse(int argc, char **argv, const tg_cli_opt *opts, const char **pos, int minpos,
                 int maxpos, int *npos, const char *who, const char *usage, const char *details);

/* Opens the store that `config` (NULL for none) and the environment select (see top of
 * file).  Returns 0 with *st set, or 1 after printing a line on stderr ("WHO: ..."). */
__attribute__((warn_unused_result)) int tg_cli_store_open(const char *who, const char *config,
                                                         tg_store **st);

/* Parses the USD amount `val` of option `flag` into *nusd; "none" gives TG_STORE_UNLIMITED
 * when allow_none.  Returns 0, or 1 after printing "WHO: FLAG: reason" on stderr. */
__attribute__((warn_unused_result)) int tg_cli_money_arg(const char *who, const char *flag,
                                                        const char *val, bool allow_none,
                                                        int64_t *nusd);

/* The same for a non-negative integer count (e.g. --tokens). */
__attribute__((warn_unused_result)) int tg_cli_count_arg(const char *who, const char *flag,
                                                        const char *val, bool allow_none,
                                                        int64_t *n);

/* The limit options teams and keys share, as given (NULL: absent). */
typedef struct {
    const char *budget, *tokens, *requests, *rpm, *tpm; /* --budget-usd ... --tpm */
} tg_cli_limit_args;

/* Parses the limit options that are present into *lim (others are left alone); each takes
 * "none" for no limit.  Returns 0, or 1 after printing "WHO: FLAG: reason" on stderr. */
__attribute__((warn_unused_result)) int tg_cli_limits_arg(const char *who,
                                                         const tg_cli_limit_args *a,
                                                         tg_limits *lim);

/* Appends ", requests N, rpm N, tpm N" to `buf` (size n) for those of the three limits
 * that are set, so that the usual one-line descriptions stay short. */
void tg_cli_rate_text(const tg_limits *lim, char *buf, size_t n);

/* Output formats of the list actions: "table" (default) or "json".  Returns 0 with *json
 * set, or 1 after printing "WHO: --format: ..." on stderr. */
__attribute__((warn_unused_result)) int tg_cli_format_arg(const char *who, const char *val,
                                                         bool *json);

/* A money limit for display: "12.50", or "-" when TG_STORE_UNLIMITED. */
void tg_cli_money_text(int64_t nusd, char *buf, size_t n);

/* Fills the cells of row `i` (one string per column, each < TG_CLI_CELL_SIZE). */
typedef void (*tg_cli_row_fn)(const void *rows, size_t i, char cells[][TG_CLI_CELL_SIZE]);

/* Prints a table to `out`: the `ncols` (<= TG_CLI_TABLE_COLS) headings, then `nrows` rows
 * from `row`, each column as wide as its widest cell, two spaces apart. */
void tg_cli_print_table(FILE *out, int ncols, const char *const *head, const void *rows,
                        size_t nrows, tg_cli_row_fn row);

/* A limit as a JSON value: the exact decimal number (12.50 for money, 1000 for a count),
 * or null for TG_STORE_UNLIMITED.  NULL when out of memory. */
cJSON *tg_cli_json_money(int64_t nusd);
cJSON *tg_cli_json_count(int64_t n);

/* A string as a JSON value, or null when `s` is "" and empty_is_null. */
cJSON *tg_cli_json_text(const char *s, bool empty_is_null);

/* Adds `v` to object `o` under `key`.  Returns false (deleting `v`) when `v` is NULL or
 * adding fails: out of memory. */
bool tg_cli_json_add(cJSON *o, const char *key, cJSON *v);

/* Prints `json` (deleted here; NULL means out of memory) unformatted on one line of
 * stdout.  Returns 0, or 1 after a message. */
int tg_cli_print_json(const char *who, cJSON *json);

/* Ends a command: 0 when stdout was written out, else 1 after a message. */
int tg_cli_finish(const char *who);

#endif
