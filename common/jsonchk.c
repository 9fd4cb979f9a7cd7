/* tg_jc: JSON checking with every problem reported (see jsonchk.h).
 *
 * How it works: problems are formatted into the caller's fixed-size records as they are
 * found, the count going on past the array's end so the caller can say how many were
 * dropped.  Paths are built by the caller as it descends (tg_jc_path_key/_index) into
 * stack buffers of TG_JC_PATH_MAX bytes; a path that does not fit ends in "...".
 * Nothing here allocates except tg_jc_read_file. */
#include "common/jsonchk.h"

#include <ctype.h>
#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define SUGGEST_MAX 32 /* keys longer than this get no did-you-mean */

/* ---------------------------------------------------------------- problems */

void tg_jc_init(tg_jc *jc, const char *file, void *probs, size_t stride, int maxprobs)
{
    jc->file = file;
    jc->probs = probs;
    jc->stride = stride;
    jc->maxprobs = probs ? maxprobs : 0;
    jc->n = 0;
}

/* After snprintf wrote `w` into out[n]: a cut text ends in "..." (n >= 4). */
static void mark_cut(char *out, size_t n, int w)
{
    if (w < 0 || (size_t)w >= n)
        memcpy(out + n - 4, "...", 4);
}

void tg_jc_problem(tg_jc *jc, const char *path, const char *fmt, ...)
{
    int i = jc->n++;
    if (i >= jc->maxprobs)
        return;
    char msg[TG_JC_MSG_MAX];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(msg, sizeof msg, fmt, ap);
    va_end(ap);
    char *t = jc->probs + (size_t)i * jc->stride;
    size_t size = jc->stride;
    int w = path && *path ? snprintf(t, size, "%s: %s: %s", jc->file, path, msg)
                          : snprintf(t, size, "%s: %s", jc->file, msg);
    mark_cut(t, size, w);
}

void tg_jc_quoted(char *out, size_t n, const char *s)
{
    size_t o = 0, shown = 0;
    out[o++] = '"';
    for (; *s && shown < TG_JC_SHOWN_MAX && o + 8 < n; s++, shown++) {
        unsigned char c = (unsigned char)*s;
        if (c == '"' || c == '\\')
            o += (size_t)snprintf(out + o, n - o, "\\%c", c);
        else if (c < 0x20 || c >= 0x7f)
            o += (size_t)snprintf(out + o, n - o, "\\x%02x", c);
        else
            out[o++] = (char)c;
    }
    snprintf(out + o, n - o, "%s\"", *s ? "..." : "");
}

const char *tg_jc_type_name(const cJSON *v)
{
    if (cJSON_IsString(v))
        return "a string";
    if (cJSON_IsNumber(v))
        return "a number";
    if (cJSON_IsBool(v))
        return "a boolean";
    if (cJSON_IsNull(v))
        return "null";
    if (cJSON_IsArray(v))
        return "an array";
    return cJSON_IsObject(v) ? "an object" : "an invalid value";
}

/* ---------------------------------------------------------------- JSON paths */

/* A name written after a '.': letters, digits, '_', '-' and '$' (the policy's operators,
 * "$in", "$and"), not starting with a digit or '-'. */
static bool plain_key(const char *k)
{
    if (!*k || strlen(k) > TG_JC_SHOWN_MAX || !(isalpha((unsigned char)*k) || *k == '_' ||
                                                 *k == '$'))
        return false;
    for (; *k; k++)
        if (!isalnum((unsigned char)*k) && *k != '_' && *k != '-' && *k != '$')
            return false;
    return true;
}

#define DUP_SMALL 16 /* objects up to this many keys are checked pairwise, without a sort */

static int key_cmp(const void *a, const void *b)
{
    return strcmp(*(const char *const *)a, *(const char *const *)b);
}

/* The duplicated key among obj's own members, or NULL. */
static const char *dup_here(const cJSON *obj)
{
    const char *small[DUP_SMALL];
    size_t k = 0;
    const cJSON *c;
    for (c = obj->child; c && k < DUP_SMALL; c = c->next)
        small[k++] = c->string ? c->string : "";
    if (!c) {
        for (size_t i = 1; i < k; i++)
            for (size_t j = 0; j < i; j++)
                if (strcmp(small[i], small[j]) == 0)
                    return small[i];
        return NULL;
    }
    size_t total = 0;
    for (c = obj->child; c; c = c->next)
        total++;
    const char **all = malloc(total * sizeof *all);
    if (!all)
        return NULL; /* out of memory: not checked */
    k = 0;
    for (c = obj->child; c; c = c->next)
        all[k++] = c->string ? c->string : "";
    qsort(all, total, sizeof *all, key_cmp);
    const char *dup = NULL;
    for (size_t i = 1; i < total && !dup; i++)
        if (strcmp(all[i], all[i - 1]) == 0)
            dup = all[i];
    free(all);
    return dup;
}

bool tg_jc_duplicate_key(const cJSON *v, const char **key)
{
    if (!v || !(cJSON_IsObject(v) || cJSON_IsArray(v)))
        return false;
    if (cJSON_IsObject(v) && (*key = dup_here(v)) != NULL)
        return true;
    for (const cJSON *c = v->child; c; c = c->next)
        if (tg_jc_duplicate_key(c, key))
            return true;
    return false;
}

void tg_jc_path_key(char *out, size_t n, const char *parent, const char *key)
{
    if (plain_key(key)) {
        mark_cut(out, n, snprintf(out, n, "%s.%s", parent, key));
        return;
    }
    char q[TG_JC_QUOTED_MAX];
    tg_jc_quoted(q, sizeof q, key);
    mark_cut(out, n, snprintf(out, n, "%s[%s]", parent, q));
}

void tg_jc_path_index(char *out, size_t n, const char *parent, int i)
{
    mark_cut(out, n, snprintf(out, n, "%s[%d]", parent, i));
}

/* ---------------------------------------------------------------- scalars */

bool tg_jc_want_string(tg_jc *jc, const cJSON *v, const char *path)
{
    if (cJSON_IsString(v) && v->valuestring)
        return true;
    tg_jc_problem(jc, path, "expected a string, got %s", tg_jc_type_name(v));
    return false;
}

bool tg_jc_want_object(tg_jc *jc, const cJSON *v, const char *path)
{
    if (cJSON_IsObject(v))
        return true;
    tg_jc_problem(jc, path, "expected an object, got %s", tg_jc_type_name(v));
    return false;
}

bool tg_jc_get_string(tg_jc *jc, const cJSON *v, const char *path, char *dst, size_t n,
                      bool allow_empty)
{
    if (!tg_jc_want_string(jc, v, path))
        return false;
    const char *s = v->valuestring;
    if (!*s && !allow_empty) {
        tg_jc_problem(jc, path, "expected a non-empty string");
        return false;
    }
    if (strlen(s) >= n) {
        tg_jc_problem(jc, path, "too long (at most %zu bytes)", n - 1);
        return false;
    }
    memcpy(dst, s, strlen(s) + 1);
    return true;
}

bool tg_jc_get_int(tg_jc *jc, const cJSON *v, const char *path, long lo, long hi, long *out)
{
    if (!cJSON_IsNumber(v)) {
        tg_jc_problem(jc, path, "expected an integer from %ld to %ld, got %s", lo, hi,
                      tg_jc_type_name(v));
        return false;
    }
    double d = v->valuedouble;
    if (!(d >= (double)lo && d <= (double)hi) || d != (double)(long)d) { /* NaN fails too */
        tg_jc_problem(jc, path, "expected an integer from %ld to %ld, got %.15g", lo, hi, d);
        return false;
    }
    *out = (long)d;
    return true;
}

/* ---------------------------------------------------------------- objects */

static int edit_distance(const char *a, const char *b)
{
    size_t la = strlen(a), lb = strlen(b);
    int row[SUGGEST_MAX + 1];
    for (size_t j = 0; j <= lb; j++)
        row[j] = (int)j;
    for (size_t i = 1; i <= la; i++) {
        int diag = row[0];
        row[0] = (int)i;
        for (size_t j = 1; j <= lb; j++) {
            int up = row[j];
            int cost = tolower((unsigned char)a[i - 1]) != b[j - 1];
            int best = diag + cost;
            if (up + 1 < best)
                best = up + 1;
            if (row[j - 1] + 1 < best)
                best = row[j - 1] + 1;
            row[j] = best;
            diag = up;
        }
    }
    return row[lb];
}

/* The known name closest to `key`, or NULL when none is close. */
static const char *suggest(const tg_jc_schema *sc, const char *key)
{
    const char *best = NULL;
    int bestd = 0;
    if (strlen(key) > SUGGEST_MAX)
        return NULL;
    for (int i = 0; i < sc->nnames; i++) {
        size_t len = strlen(sc->names[i]);
        if (len > SUGGEST_MAX)
            continue;
        int limit = len <= 4 ? 1 : len <= 8 ? 2 : 3;
        int d = edit_distance(key, sc->names[i]);
        if (d <= limit && (!best || d < bestd))
            best = sc->names[i], bestd = d;
    }
    return best;
}

/* Field names people use for a secret written inline. */
static bool secret_name(const char *key)
{
    static const char *const secrets[] = {"apikey", "key", "token", "secret", "password",
                                          "authorization", "bearer", "admintoken",
                                          "accesstoken", "secretkey", "adminkey"};
    char norm[SUGGEST_MAX + 1];
    size_t n = 0;
    for (; *key && n < SUGGEST_MAX; key++)
        if (*key != '_' && *key != '-')
            norm[n++] = (char)tolower((unsigned char)*key);
    if (*key)
        return false;
    norm[n] = '\0';
    for (size_t i = 0; i < sizeof secrets / sizeof *secrets; i++)
        if (strcmp(norm, secrets[i]) == 0)
            return true;
    return false;
}

static void unknown_field(tg_jc *jc, const tg_jc_schema *sc, const char *key,
                          const char *path)
{
    if (sc->secret_field && secret_name(key)) {
        tg_jc_problem(jc, path, TG_JC_SECRET_TEXT "%s", sc->secret_field);
        return;
    }
    const char *near = suggest(sc, key);
    if (near) {
        tg_jc_problem(jc, path, "unknown field (did you mean \"%s\"?)", near);
        return;
    }
    char known[TG_JC_MSG_MAX / 2] = "";
    size_t o = 0;
    for (int i = 0; i < sc->nnames && o < sizeof known; i++)
        o += (size_t)snprintf(known + o, sizeof known - o, "%s%s", i ? ", " : "",
                              sc->names[i]);
    tg_jc_problem(jc, path, "unknown field (known: %s)", known);
}

bool tg_jc_earlier_sibling(const cJSON *obj, const cJSON *c)
{
    for (const cJSON *e = obj->child; e && e != c; e = e->next)
        if (strcmp(e->string, c->string) == 0)
            return true;
    return false;
}

void tg_jc_walk(tg_jc *jc, const cJSON *obj, const char *path, const tg_jc_schema *sc,
                void *ctx)
{
    if (!tg_jc_want_object(jc, obj, path))
        return;
    for (const cJSON *c = obj->child; c; c = c->next) {
        char cpath[TG_JC_PATH_MAX];
        tg_jc_path_key(cpath, sizeof cpath, path, c->string);
        if (tg_jc_earlier_sibling(obj, c)) {
            tg_jc_problem(jc, cpath, "duplicate field (each field may appear once)");
            continue;
        }
        if (sc->comments && c->string[0] == '_')
            continue;
        int f = 0;
        while (f < sc->nnames && strcmp(sc->names[f], c->string) != 0)
            f++;
        if (f == sc->nnames)
            unknown_field(jc, sc, c->string, cpath);
        else
            sc->fn(jc, ctx, f, c, cpath);
    }
}

/* ---------------------------------------------------------------- files */

char *tg_jc_read_file(tg_jc *jc, const char *path, size_t max, size_t *len)
{
    FILE *f = fopen(path, "rb");
    if (!f) {
        tg_jc_problem(jc, NULL, "cannot open: %s", strerror(errno));
        return NULL;
    }
    char *buf = malloc(max + 2);
    size_t n = buf ? fread(buf, 1, max + 1, f) : 0;
    int err = ferror(f) ? errno : 0;
    fclose(f);
    if (!buf)
        tg_jc_problem(jc, NULL, "out of memory");
    else if (err)
        tg_jc_problem(jc, NULL, "cannot read: %s", strerror(err));
    else if (n > max)
        tg_jc_problem(jc, NULL, "larger than the limit of %zu bytes", max);
    else if (memchr(buf, '\0', n))
        tg_jc_problem(jc, NULL, "not a text file (contains a NUL byte)");
    else {
        buf[n] = '\0';
        *len = n;
        return buf;
    }
    free(buf);
    return NULL;
}

/* "line L, column C: invalid JSON ..." for a parse that stopped at `at`. */
static void syntax_problem(tg_jc *jc, const char *text, size_t len, const char *at)
{
    if (!at || at < text || at > text + len)
        at = text + len;
    int line = 1, col = 1;
    for (const char *p = text; p < at; p++) {
        if (*p == '\n')
            line++, col = 1;
        else if (((unsigned char)*p & 0xC0) != 0x80) /* count UTF-8 characters */
            col++;
    }
    if (at == text + len) {
        tg_jc_problem(jc, NULL, "line %d, column %d: invalid JSON: unexpected end of file",
                      line, col);
        return;
    }
    char near[24];
    size_t k = 0;
    for (; at + k < text + len && at[k] != '\n' && at[k] != '\r' && k < 16; k++)
        near[k] = isprint((unsigned char)at[k]) ? at[k] : '?';
    near[k] = '\0';
    if (k == 0)
        tg_jc_problem(jc, NULL, "line %d, column %d: invalid JSON", line, col);
    else
        tg_jc_problem(jc, NULL, "line %d, column %d: invalid JSON near '%s'", line, col,
                      near);
}

cJSON *tg_jc_parse(tg_jc *jc, const char *text, size_t len)
{
    if (memchr(text, '\0', len)) {
        tg_jc_problem(jc, NULL, "not a text file (contains a NUL byte)");
        return NULL;
    }
    const char *body = text, *end = NULL;
    if (len >= 3 && memcmp(text, "\xEF\xBB\xBF", 3) == 0) /* a UTF-8 byte order mark */
        body += 3;
    size_t blen = len - (size_t)(body - text);
    cJSON *root = cJSON_ParseWithLengthOpts(body, blen + 1, &end, 1);
    if (!root)
        syntax_problem(jc, body, blen, end);
    return root;
}
