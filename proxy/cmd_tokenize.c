/* `tollgate tokenize [--encoding NAME] [--ids] [--jsonl] [FILE]` (SPEC.md).
 *
 * Whole-input mode prints the token count of all of FILE (stdin when absent), or with
 * --ids its ids space-separated on one line.  --jsonl reads one JSON value a line (a string,
 * or an object with a "text" string) and prints one line per input line.  Encoding is
 * "ordinary": special-token text counts as plain text. */
#include "cmds.h"
#include "router/bpe.h"

#include <cjson/cJSON.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define TG_TOKENIZE_MAX_INPUT ((size_t)1 << 30) /* 1 GiB */

static int tokenize_usage(void)
{
    fputs("usage: tollgate tokenize [--encoding cl100k_base|o200k_base] [--ids] [--jsonl] "
          "[FILE]\n", stderr);
    return 2;
}

/* Prints the count, or the ids, of text[0..len) as one line.  0 or 1 (out of memory). */
static int print_one(const tg_bpe *bpe, const char *text, size_t len, int ids)
{
    if (!ids) {
        size_t n = tg_bpe_count(bpe, text, len);
        if (n == SIZE_MAX) {
            fputs("tollgate: out of memory while tokenizing\n", stderr);
            return 1;
        }
        printf("%zu\n", n);
        return 0;
    }
    tg_bpe_ids v = {0};
    if (tg_bpe_encode(bpe, text, len, &v) != 0) {
        tg_bpe_ids_free(&v);
        fputs("tollgate: out of memory while tokenizing\n", stderr);
        return 1;
    }
    for (size_t i = 0; i < v.n; i++)
        printf(i ? " %u" : "%u", v.v[i]);
    putchar('\n');
    tg_bpe_ids_free(&v);
    return 0;
}

/* The text a JSONL line carries, or NULL. */
static const cJSON *line_text(const cJSON *j)
{
    if (cJSON_IsString(j))
        return j;
    const cJSON *t = cJSON_IsObject(j) ? cJSON_GetObjectItemCaseSensitive(j, "text") : NULL;
    return cJSON_IsString(t) ? t : NULL;
}

static int run_jsonl(const tg_bpe *bpe, char *buf, size_t len, int ids, const char *name)
{
    size_t lineno = 0;
    char *p = buf, *end = buf + len;
    while (p < end) {
        char *nl = memchr(p, '\n', (size_t)(end - p));
        char *eol = nl ? nl : end;
        lineno++;
        cJSON *j = cJSON_ParseWithLength(p, (size_t)(eol - p));
        const cJSON *t = j ? line_text(j) : NULL;
        if (!t) {
            fprintf(stderr, "tollgate: %s:%zu: expected a JSON string or an object with a "
                    "\"text\" string\n", name, lineno);
            cJSON_Delete(j);
            return 1;
        }
        /* cJSON stops strings at NUL: a "\u0000" escape ends the text there. */
        int rc = print_one(bpe, t->valuestring, strlen(t->valuestring), ids);
        cJSON_Delete(j);
        if (rc != 0)
            return rc;
        p = nl ? nl + 1 : end;
    }
    return 0;
}

int tg_cmd_tokenize(int argc, char **argv)
{
    const char *enc = "cl100k_base", *file = NULL;
    int ids = 0, jsonl = 0;
    for (int i = 1; i < argc; i++) {
        if (strcmp(argv[i], "--ids") == 0)
            ids = 1;
        else if (strcmp(argv[i], "--jsonl") == 0)
            jsonl = 1;
        else if (strcmp(argv[i], "--encoding") == 0 && i + 1 < argc)
            enc = argv[++i];
        else if (strncmp(argv[i], "--encoding=", 11) == 0)
            enc = argv[i] + 11;
        else if (argv[i][0] == '-' && argv[i][1] != '\0')
            return tokenize_usage();
        else if (file)
            return tokenize_usage();
        else
            file = argv[i];
    }
    const tg_bpe *bpe = tg_bpe_by_name(enc);
    if (!bpe) {
        fprintf(stderr, "tollgate: unknown encoding '%s' (known: cl100k_base, o200k_base)\n",
                enc);
        return 1;
    }
    char *buf;
    size_t len;
    if (tg_cli_read_input(file, TG_TOKENIZE_MAX_INPUT, &buf, &len) != 0)
        return 1;
    int rc = jsonl ? run_jsonl(bpe, buf, len, ids, file ? file : "<stdin>")
                   : print_one(bpe, buf, len, ids);
    free(buf);
    if (rc == 0 && fflush(stdout) != 0) {
        perror("tollgate: stdout");
        rc = 1;
    }
    return rc;
}
