/* The tollgate subcommands and the small helpers they share.
 *
 * Each tg_cmd_* gets argv with argv[0] the subcommand's name and returns the process exit
 * code: 0 success, 1 a user error explained on stderr, 2 a usage error (SPEC.md). */
#ifndef TG_CMDS_H
#define TG_CMDS_H
#include <stddef.h>

int tg_cmd_tokenize(int argc, char **argv);
int tg_cmd_count(int argc, char **argv);
int tg_cmd_serve(int argc, char **argv);
int tg_cmd_check(int argc, char **argv);
int tg_cmd_route(int argc, char **argv);
int tg_cmd_teams(int argc, char **argv);
int tg_cmd_keys(int argc, char **argv);
int tg_cmd_report(int argc, char **argv);
int tg_cmd_export(int argc, char **argv);
int tg_cmd_reconcile(int argc, char **argv);

/* Reads all of `path` (stdin when NULL or "-") into a new NUL-terminated malloc'd buffer.
 * Input longer than `max` bytes is refused.  Returns 0, or 1 after printing one plain line
 * on stderr naming the file and the problem.  The caller frees *buf. */
int tg_cli_read_input(const char *path, size_t max, char **buf, size_t *len);

#endif
