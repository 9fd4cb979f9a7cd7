/* `tollgate count`: estimated prompt tokens of one API request body.
 *
 * Reads the body from FILE or stdin (at most TG_COUNT_MAX_BODY bytes), parses it, picks
 * the API (from --api, else from the body's shape, see tg_count_detect) and the model
 * (from --model, else the body's "model"), and prints the count from tg_count_request
 * alone on stdout; with --json, one JSON object with the details instead.
 *
 * Exit codes follow SPEC.md: 0 success, 1 a user error (unreadable file, body too large,
 * malformed JSON, wrong shape) told in one plain line on stderr that names the JSON path,
 * 2 a usage error. */
#include <errno.h>
#include <inttypes.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "proxy/cmds.h"
#include "router/count.h"

static const char usage_text[] =
    "usage: tollgate count [--model M] [--api API] [--json] [FILE]\n"
    "\n"
    "Prints the estimated prompt tokens of an API request body (JSON, read from FILE,\n"
    "or from stdin when FILE is absent or \"-\"), counted the way the provider bills it.\n"
    "\n"
    "  --model M    count for model M instead of the body's \"model\" (it picks the\n"
    "               encoding: o200k_base or cl100k_base; unknown models use o200k_base)\n"
    "  --api API    the API the body is for: chat, completions, embeddings, responses,\n"
    "               messages (Anthropic).  Without it the API is guessed from the body:\n"
    "               \"messages\" -> chat (messages when there is also a top-level \"system\"\n"
    "               or \"anthropic_version\"), \"prompt\" -> completions, \"input\" ->\n"
    "               embeddings when the model's name contains \"embedding\", else\n"
    "               responses.  An Anthropic body without \"system\" needs --api messages.\n"
    "  --json       print {\"tokens\", \"exact\", \"api\", \"encoding\", \"image_tokens\",\n"
    "               \"tool_tokens\", \"images\"} instead of the bare count\n"
    "  -h, --help   show this help\n"
    "\n"
    "Counts for Anthropic models, the Responses API, tool calls, audio, files and images\n"
    "whose size is not in the body are estimates (\"exact\": false).  The body is limited\n"
    "to 32 MiB.  Exit status: 0 success, 1 unreadable or invalid body, 2 usage error.\n";

typedef struct {
    const char *model;
    const char *api;
    const char *file;
    bool json;
} count_opts;

__attribute__((format(printf, 1, 2))) static int usage_error(const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    fputs("tollgate count: ", stderr);
    vfprintf(stderr, fmt, ap);
    va_end(ap);
    fputs("\n", stderr);
    fputs("usage: tollgate count [--model M] [--api API] [--json] [FILE]\n", stderr);
    return 2;
}

/* The value of option `name` given as "--name=V" or "--name V" (advancing *i). */
static const char *opt_value(int argc, char **argv, int *i, const char *name)
{
    size_t n = strlen(name);
    const char *a = argv[*i];
    if (strncmp(a, name, n) != 0)
        return NULL;
    if (a[n] == '=')
        return a + n + 1;
    if (a[n] != '\0' || *i + 1 >= argc)
        return NULL;
    return argv[++*i];
}

/* Returns -1 to go on, else the exit code. */
static int parse_args(int argc, char **argv, count_opts *o)
{
    bool options_done = false;
    for (int i = 1; i < argc; i++) {
        const char *a = argv[i];
        if (options_done || a[0] != '-' || !strcmp(a, "-")) {
            if (o->file)
                return usage_error("unexpected argument '%s'", a);
            o->file = a;
        } else if (!strcmp(a, "--")) {
            options_done = true;
        } else if (!strcmp(a, "-h") || !strcmp(a, "--help")) {
            fputs(usage_text, stdout);
            return 0;
        } else if (!strcmp(a, "--json")) {
            o->json = true;
        } else if (!strncmp(a, "--model", 7) && (a[7] == '\0' || a[7] == '=')) {
            if (!(o->model = opt_value(argc, argv, &i, "--model")))
                return usage_error("%s needs a value", "--model");
        } else if (!strncmp(a, "--api", 5) && (a[5] == '\0' || a[5] == '=')) {
            if (!(o->api = opt_value(argc, argv, &i, "--api")))
                return usage_error("%s needs a value", "--api");
        } else {
            return usage_error("unknown option '%s'", a);
        }
    }
    return -1;
}

/* Reads all of `f` into a new NUL-terminated buffer; at most TG_COUNT_MAX_BODY bytes.
 * Returns 0, TG_COUNT_ETOOBIG, TG_COUNT_ENOMEM, or -4 on a read error (errno set). */
static int read_all(FILE *f, char **out, size_t *outlen)
{
    size_t cap = 64 * 1024, len = 0;
    char *buf = malloc(cap);
    *out = NULL;
    if (!buf)
        return TG_COUNT_ENOMEM;
    for (;;) {
        if (len + 1 >= cap) { /* grow, to at most the limit + 1 byte + the NUL */
            size_t ncap = cap * 2 < TG_COUNT_MAX_BODY + 2 ? cap * 2 : TG_COUNT_MAX_BODY + 2;
            char *p = realloc(buf, ncap);
            if (!p) {
                free(buf);
                return TG_COUNT_ENOMEM;
            }
            buf = p;
            cap = ncap;
        }
        size_t n = fread(buf + len, 1, cap - 1 - len, f);
        len += n;
        if (len > TG_COUNT_MAX_BODY) {
            free(buf);
            return TG_COUNT_ETOOBIG;
        }
        if (n == 0)
            break;
    }
    if (ferror(f)) {
        int e = errno;
        free(buf);
        errno = e;
        return -4;
    }
    buf[len] = '\0';
    *out = buf;
    *outlen = len;
    return 0;
}

static int load_body(const char *file, cJSON **body)
{
    const char *name = file ? file : "<stdin>";
    FILE *f = file ? fopen(file, "rb") : stdin;
    char *text, err[256];
    size_t len;
    if (!f) {
        fprintf(stderr, "tollgate count: %s: %s\n", name, strerror(errno));
        return 1;
    }
    int rc = read_all(f, &text, &len);
    if (file)
        fclose(f);
    if (rc == TG_COUNT_ETOOBIG)
        fprintf(stderr, "tollgate count: %s: body is larger than the %zu MiB limit\n", name,
                TG_COUNT_MAX_BODY >> 20);
    else if (rc == TG_COUNT_ENOMEM)
        fprintf(stderr, "tollgate count: %s: out of memory\n", name);
    else if (rc)
        fprintf(stderr, "tollgate count: %s: %s\n", name, strerror(errno));
    if (rc)
        return 1;
    rc = tg_count_parse(text, len, body, err, sizeof err);
    free(text);
    if (rc) {
        fprintf(stderr, "tollgate count: %s: %s\n", name, err);
        return 1;
    }
    return 0;
}

static void print_result(const tg_count_result *r, tg_count_kind kind, bool json)
{
    if (!json) {
        printf("%" PRId64 "\n", r->tokens);
        return;
    }
    printf("{\"tokens\":%" PRId64 ",\"exact\":%s,\"api\":\"%s\",\"encoding\":\"%s\","
           "\"image_tokens\":%" PRId64 ",\"tool_tokens\":%" PRId64 ",\"images\":%d}\n",
           r->tokens, r->exact ? "true" : "false", tg_count_kind_name(kind),
           tg_bpe_name(r->bpe), r->image_tokens, r->tool_tokens, r->images);
}

int tg_cmd_count(int argc, char **argv)
{
    count_opts o = {0};
    tg_count_kind kind = TG_COUNT_CHAT;
    int rc = parse_args(argc, argv, &o);
    if (rc >= 0)
        return rc;
    if (o.api && tg_count_kind_parse(o.api, &kind) != 0)
        return usage_error("unknown --api '%s' (chat, completions, embeddings, responses, "
                           "messages)",
                           o.api);
    if (o.file && !strcmp(o.file, "-"))
        o.file = NULL;
    cJSON *body;
    if ((rc = load_body(o.file, &body)) != 0)
        return rc;
    const char *name = o.file ? o.file : "<stdin>";
    char err[512];
    tg_count_result res;
    if (!o.api && tg_count_detect(body, &kind, err, sizeof err) != 0) {
        fprintf(stderr, "tollgate count: %s: %s (use --api)\n", name, err);
        cJSON_Delete(body);
        return 1;
    }
    rc = tg_count_request(body, kind, o.model, &res, err, sizeof err);
    cJSON_Delete(body);
    if (rc) {
        fprintf(stderr, "tollgate count: %s: %s\n", name, err);
        return 1;
    }
    print_result(&res, kind, o.json);
    return fflush(stdout) == 0 ? 0 : 1;
}
