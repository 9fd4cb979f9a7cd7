/* Helpers shared by the subcommands (see cmds.h). */
#include "cmds.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static int fail(const char *name, const char *what, FILE *f, int is_stdin, char *b)
{
    fprintf(stderr, "tollgate: %s: %s\n", name, what);
    if (!is_stdin)
        fclose(f);
    free(b);
    return 1;
}

int tg_cli_read_input(const char *path, size_t max, char **buf, size_t *len)
{
    int is_stdin = !path || strcmp(path, "-") == 0;
    const char *name = is_stdin ? "<stdin>" : path;
    FILE *f = is_stdin ? stdin : fopen(path, "rb");
    if (!f) {
        fprintf(stderr, "tollgate: %s: %s\n", name, strerror(errno));
        return 1;
    }
    size_t cap = 0, n = 0;
    char *b = NULL;
    for (;;) {
        if (n > max)
            return fail(name, "input is larger than the limit for this command", f,
                        is_stdin, b);
        if (n == cap) {
            size_t ncap = cap ? cap * 2 : 65536;
            char *nb = realloc(b, ncap + 1);
            if (!nb)
                return fail(name, "out of memory", f, is_stdin, b);
            b = nb, cap = ncap;
        }
        size_t got = fread(b + n, 1, cap - n, f);
        if (got == 0)
            break;
        n += got;
    }
    if (ferror(f))
        return fail(name, strerror(errno), f, is_stdin, b);
    if (!is_stdin)
        fclose(f);
    b[n] = '\0';
    *buf = b;
    *len = n;
    return 0;
}
