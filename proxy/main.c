/* tollgate: one binary, one subcommand per job (SPEC.md "Command line").
 *
 * main only dispatches; each subcommand lives in its own cmd_*.c and returns the exit code
 * (0 success, 1 user error explained on stderr, 2 usage). */
#include "cmds.h"

#include <stdio.h>
#include <string.h>

#ifndef TG_VERSION
#define TG_VERSION "0.1.0"
#endif

typedef struct {
    const char *name;
    int (*run)(int argc, char **argv);
    const char *summary;
} command;

static const command commands[] = {
    {"serve", tg_cmd_serve, "[--config FILE]  run the proxy"},
    {"check", tg_cmd_check, "[--config FILE]  validate the configuration"},
    {"route", tg_cmd_route,
     "[--config FILE] [--team T] [FILE]  the routing decision for a request body"},
    {"teams", tg_cmd_teams, "add|list|set ... [--config FILE]  teams and their budgets"},
    {"keys", tg_cmd_keys, "create|list|revoke ... [--config FILE]  virtual keys"},
    {"report", tg_cmd_report,
     "[--from D] [--to D] [--by team,model,key,day] [--format table|csv|json]  spend"},
    {"export", tg_cmd_export,
     "focus [--from D] [--to D] [-o FILE] [--hourly]  FOCUS 1.4 cost and usage CSV"},
    {"reconcile", tg_cmd_reconcile,
     "--vendor openai|anthropic FILE [--from D] [--to D]  ledger vs the vendor's bill"},
    {"tokenize", tg_cmd_tokenize,
     "[--encoding cl100k_base|o200k_base] [--ids] [--jsonl] [FILE]  token counts or ids"},
    {"count", tg_cmd_count,
     "[--model M] [--api KIND] [FILE]  estimated prompt tokens of an API request body"},
};

static int usage(FILE *out, int code)
{
    fprintf(out, "usage: tollgate COMMAND [ARGS]\n\ncommands:\n");
    for (size_t i = 0; i < sizeof commands / sizeof *commands; i++)
        fprintf(out, "  %-9s %s\n", commands[i].name, commands[i].summary);
    fprintf(out, "\n  tollgate --version | --help\n");
    return code;
}

int main(int argc, char **argv)
{
    if (argc < 2)
        return usage(stderr, 2);
    if (strcmp(argv[1], "--help") == 0 || strcmp(argv[1], "-h") == 0 ||
        strcmp(argv[1], "help") == 0)
        return usage(stdout, 0);
    if (strcmp(argv[1], "--version") == 0) {
        printf("tollgate %s\n", TG_VERSION);
        return 0;
    }
    for (size_t i = 0; i < sizeof commands / sizeof *commands; i++)
        if (strcmp(argv[1], commands[i].name) == 0)
            return commands[i].run(argc - 1, argv + 1);
    fprintf(stderr, "tollgate: unknown command '%s'\n", argv[1]);
    return usage(stderr, 2);
}
