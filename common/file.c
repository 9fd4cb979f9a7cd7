/* tg_file: whole-file reads with a size limit (see file.h). */
#include "common/file.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

int tg_file_read(const char *path, size_t max, char **buf, size_t *len, char *err,
                 size_t errlen)
{
    *buf = NULL;
    *len = 0;
    FILE *f = fopen(path, "rb");
    if (!f) {
        snprintf(err, errlen, "%s: cannot read: %s", path, strerror(errno));
        return -1;
    }
    size_t cap = 0, n = 0;
    char *b = NULL;
    for (;;) {
        if (n == cap) {
            size_t ncap = cap ? cap * 2 : 16384;
            char *nb = n > max ? NULL : realloc(b, ncap + 1);
            if (!nb) {
                snprintf(err, errlen, n > max ? "%s: larger than the %zu-byte limit"
                                              : "%s: out of memory", path, max);
                free(b);
                fclose(f);
                return -1;
            }
            b = nb, cap = ncap;
        }
        size_t got = fread(b + n, 1, cap - n, f);
        if (got == 0)
            break;
        n += got;
    }
    int bad = ferror(f);
    fclose(f);
    if (bad || n > max) {
        snprintf(err, errlen, bad ? "%s: read error" : "%s: larger than the %zu-byte limit",
                 path, max);
        free(b);
        return -1;
    }
    if (!b && !(b = malloc(1))) {
        snprintf(err, errlen, "%s: out of memory", path);
        return -1;
    }
    b[n] = '\0';
    *buf = b;
    *len = n;
    return 0;
}
