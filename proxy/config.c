/* tg_config: loading and validating tollgate's JSON configuration (see config.h).
 *
 * How it works: the config starts as the embedded defaults; the file is read (at most
 * TG_CONFIG_MAX_FILE bytes), parsed with cJSON, and each object is walked child by child
 * against a small schema (its field names and a handler).  A field that is well-formed
 * replaces its default; anything else becomes a problem "FILE: $.json.path: what is
 * wrong" and the walk goes on, so one run reports every problem.  Unknown fields are
 * problems too (a typo must not silently fall back to a default), with a did-you-mean
 * from a small edit distance; fields that look like inline secrets ("api_key", "token",
 * ...) are refused with a message pointing at the *_env field instead.  Values that may
 * be secrets (store URLs, malformed api_key_env) are never echoed in messages.
 *
 * Paths in the file: "catalog" and "policy" entries that are relative are resolved
 * against the directory of the config file, so a config and its catalog can move
 * together; "store" stays as written (SPEC: ./var relative to the working directory).
 * A provider that leaves out fields gets defaults derived from its name: format
 * "anthropic" for "anthropic", else "openai"; the vendor's base_url for "openai" and
 * "anthropic" (required for any other name); api_key_env NAME_API_KEY (upper case).
 * api_key_env "" means the upstream needs no key (a local model server). */
#include "proxy/config.h"

#include <arpa/inet.h>
#include <cjson/cJSON.h>
#include <ctype.h>
#include <errno.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <unistd.h>

#define PATH_TEXT 160      /* bytes of a JSON path shown in a message */
#define SHOWN_MAX 40       /* keys and values longer than this are shortened in messages */
#define SUGGEST_MAX 32     /* keys longer than this get no did-you-mean */
#define MSG_MAX TG_CONFIG_STR_MAX
#define WORKERS_MAX 1024
#define HOSTNAME_MAX 253
#define ENV_STORE "TOLLGATE_STORE"

#define SECRET_TEXT "secrets are never inline: put the key in an environment variable and " \
                    "name it in "

/* ---------------------------------------------------------------- problems */

typedef struct {
    const char *file;            /* names the source in messages */
    tg_config_problem *probs;
    int maxprobs;
    int n;                       /* problems found, also those dropped */
} loader;

/* After snprintf wrote `w` into out[n]: a cut text ends in "..." (n >= 4). */
static void mark_cut(char *out, size_t n, int w)
{
    if (w < 0 || (size_t)w >= n)
        memcpy(out + n - 4, "...", 4);
}

__attribute__((format(printf, 3, 4))) static void problem(loader *ld, const char *path,
                                                          const char *fmt, ...)
{
    int i = ld->n++;
    if (i >= ld->maxprobs)
        return;
    char msg[MSG_MAX];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(msg, sizeof msg, fmt, ap);
    va_end(ap);
    char *t = ld->probs[i].text;
    size_t size = sizeof ld->probs[i].text;
    int w = path && *path ? snprintf(t, size, "%s: %s: %s", ld->file, path, msg)
                          : snprintf(t, size, "%s: %s", ld->file, msg);
    mark_cut(t, size, w);
}

/* `s` for a message: in double quotes, control and non-ASCII bytes as \xNN, shortened to
 * SHOWN_MAX characters with "...". */
static void quoted(char *out, size_t n, const char *s)
{
    size_t o = 0, shown = 0;
    out[o++] = '"';
    for (; *s && shown < SHOWN_MAX && o + 8 < n; s++, shown++) {
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

static const char *type_name(const cJSON *v)
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

static bool plain_key(const char *k)
{
    if (!*k || strlen(k) > SHOWN_MAX || !(isalpha((unsigned char)*k) || *k == '_'))
        return false;
    for (; *k; k++)
        if (!isalnum((unsigned char)*k) && *k != '_' && *k != '-')
            return false;
    return true;
}

/* parent.key, or parent["key"] when the key is not a plain name. */
static void path_key(char *out, size_t n, const char *parent, const char *key)
{
    if (plain_key(key)) {
        mark_cut(out, n, snprintf(out, n, "%s.%s", parent, key));
        return;
    }
    char q[SHOWN_MAX * 4 + 8];
    quoted(q, sizeof q, key);
    mark_cut(out, n, snprintf(out, n, "%s[%s]", parent, q));
}

static void path_index(char *out, size_t n, const char *parent, int i)
{
    mark_cut(out, n, snprintf(out, n, "%s[%d]", parent, i));
}

/* ---------------------------------------------------------------- scalars */

static bool want_string(loader *ld, const cJSON *v, const char *path)
{
    if (cJSON_IsString(v) && v->valuestring)
        return true;
    problem(ld, path, "expected a string, got %s", type_name(v));
    return false;
}

/* Copies the string value into dst[n]; a problem when it is not a string, is empty and
 * !allow_empty, or does not fit. */
static bool get_string(loader *ld, const cJSON *v, const char *path, char *dst, size_t n,
                       bool allow_empty)
{
    if (!want_string(ld, v, path))
        return false;
    const char *s = v->valuestring;
    if (!*s && !allow_empty) {
        problem(ld, path, "expected a non-empty string");
        return false;
    }
    if (strlen(s) >= n) {
        problem(ld, path, "too long (at most %zu bytes)", n - 1);
        return false;
    }
    memcpy(dst, s, strlen(s) + 1);
    return true;
}

/* An integer from lo to hi into *out. */
static bool get_int(loader *ld, const cJSON *v, const char *path, long lo, long hi, long *out)
{
    if (!cJSON_IsNumber(v)) {
        problem(ld, path, "expected an integer from %ld to %ld, got %s", lo, hi, type_name(v));
        return false;
    }
    double d = v->valuedouble;
    if (!(d >= (double)lo && d <= (double)hi) || d != (double)(long)d) { /* NaN fails too */
        problem(ld, path, "expected an integer from %ld to %ld, got %.15g", lo, hi, d);
        return false;
    }
    *out = (long)d;
    return true;
}

static bool env_name_valid(const char *s)
{
    if (!*s || !(isupper((unsigned char)*s) || *s == '_'))
        return false;
    for (; *s; s++)
        if (!isupper((unsigned char)*s) && !isdigit((unsigned char)*s) && *s != '_')
            return false;
    return true;
}

/* Whether a bad *_env value may be echoed: short, [A-Za-z0-9_] only, not mixed case (an
 * API key pasted in by mistake is long, mixed case or has '-'). */
static bool env_value_showable(const char *s)
{
    bool lower = false, upper = false;
    if (strlen(s) > SHOWN_MAX)
        return false;
    for (; *s; s++) {
        if (!isalnum((unsigned char)*s) && *s != '_')
            return false;
        lower |= islower((unsigned char)*s) != 0;
        upper |= isupper((unsigned char)*s) != 0;
    }
    return !(lower && upper);
}

/* The NAME of an environment variable into dst (size TG_CONFIG_NAME_MAX); "" only when
 * allow_empty. */
static void get_env_name(loader *ld, const cJSON *v, const char *path, char *dst,
                         bool allow_empty)
{
    if (!want_string(ld, v, path))
        return;
    const char *s = v->valuestring;
    if (!*s && allow_empty) {
        dst[0] = '\0';
        return;
    }
    if (env_name_valid(s) && strlen(s) < TG_CONFIG_NAME_MAX) {
        memcpy(dst, s, strlen(s) + 1);
        return;
    }
    char q[SHOWN_MAX * 4 + 8];
    if (env_value_showable(s)) {
        quoted(q, sizeof q, s);
        problem(ld, path, "expected an environment variable name [A-Z_][A-Z0-9_]* "
                          "(at most %d characters), got %s", TG_CONFIG_NAME_MAX - 1, q);
        return;
    }
    problem(ld, path, "expected the NAME of an environment variable [A-Z_][A-Z0-9_]*; the "
                      "value (not shown) is not one: if it is a secret, remove it from the "
                      "file and put it in that variable");
}

/* ---------------------------------------------------------------- host:port */

static bool hostname_valid(const char *h)
{
    size_t len = strlen(h), label = 0;
    if (len == 0 || len > HOSTNAME_MAX || h[0] == '-' || h[0] == '.')
        return false;
    for (size_t i = 0; i < len; i++) {
        if (h[i] == '.') {
            if (label == 0 || h[i - 1] == '-')
                return false;
            label = 0;
        } else if (isalnum((unsigned char)h[i]) || h[i] == '-') {
            if (++label > 63)
                return false;
        } else {
            return false;
        }
    }
    if (strspn(h, "0123456789.") == len) { /* all digits: must be a real IPv4 address */
        struct in_addr a4;
        return inet_pton(AF_INET, h, &a4) == 1;
    }
    return h[len - 1] != '-';
}

static bool port_valid(const char *p, int *port)
{
    size_t n = strlen(p);
    if (n == 0 || n > 5 || strspn(p, "0123456789") != n)
        return false;
    long v = strtol(p, NULL, 10);
    if (v < 1 || v > 65535)
        return false;
    *port = (int)v;
    return true;
}

/* "host:port", "[v6]:port".  The host is stored without brackets; hostn bytes. */
static bool parse_hostport(const char *s, char *host, size_t hostn, int *port)
{
    char h[HOSTNAME_MAX + 3];
    const char *colon;
    if (s[0] == '[') {
        const char *close = strchr(s, ']');
        if (!close || close[1] != ':' || (size_t)(close - s - 1) >= sizeof h)
            return false;
        memcpy(h, s + 1, (size_t)(close - s - 1));
        h[close - s - 1] = '\0';
        struct in6_addr a6;
        if (inet_pton(AF_INET6, h, &a6) != 1)
            return false;
        colon = close + 1;
    } else {
        colon = strchr(s, ':');
        if (!colon || strchr(colon + 1, ':') || (size_t)(colon - s) >= sizeof h)
            return false;
        memcpy(h, s, (size_t)(colon - s));
        h[colon - s] = '\0';
        if (!hostname_valid(h))
            return false;
    }
    if (!port_valid(colon + 1, port) || strlen(h) >= hostn)
        return false;
    memcpy(host, h, strlen(h) + 1);
    return true;
}

static void get_listen(loader *ld, const cJSON *v, const char *path, char *host, int *port)
{
    if (!want_string(ld, v, path))
        return;
    const char *s = v->valuestring;
    if (parse_hostport(s, host, TG_CONFIG_NAME_MAX, port))
        return;
    char q[SHOWN_MAX * 4 + 8];
    quoted(q, sizeof q, s);
    bool bare_v6 = s[0] != '[' && strchr(s, ':') && strchr(s, ':') != strrchr(s, ':');
    problem(ld, path, "expected \"host:port\" with a port 1-65535%s, got %s",
            bare_v6 ? " (an IPv6 address in brackets: \"[::1]:8080\")" : "", q);
}

static bool wildcard_host(const char *h)
{
    return strcmp(h, "0.0.0.0") == 0 || strcmp(h, "::") == 0;
}

/* ---------------------------------------------------------------- objects */

typedef void (*field_fn)(loader *ld, void *ctx, int field, const cJSON *v, const char *path);

typedef struct {
    const char *const *names;    /* the known fields, in schema order */
    int nnames;
    const char *secret_field;    /* where a secret's variable is named, for the message */
    field_fn fn;
} schema;

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
static const char *suggest(const schema *sc, const char *key)
{
    const char *best = NULL;
    int bestd = 0;
    if (strlen(key) > SUGGEST_MAX)
        return NULL;
    for (int i = 0; i < sc->nnames; i++) {
        size_t len = strlen(sc->names[i]);
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

static void unknown_field(loader *ld, const schema *sc, const char *key, const char *path)
{
    if (secret_name(key)) {
        problem(ld, path, SECRET_TEXT "%s", sc->secret_field);
        return;
    }
    const char *near = suggest(sc, key);
    if (near) {
        problem(ld, path, "unknown field (did you mean \"%s\"?)", near);
        return;
    }
    char known[MSG_MAX / 2] = "";
    size_t o = 0;
    for (int i = 0; i < sc->nnames && o < sizeof known; i++)
        o += (size_t)snprintf(known + o, sizeof known - o, "%s%s", i ? ", " : "",
                              sc->names[i]);
    problem(ld, path, "unknown field (known: %s)", known);
}

static bool earlier_sibling(const cJSON *obj, const cJSON *c)
{
    for (const cJSON *e = obj->child; e && e != c; e = e->next)
        if (strcmp(e->string, c->string) == 0)
            return true;
    return false;
}

static bool want_object(loader *ld, const cJSON *v, const char *path)
{
    if (cJSON_IsObject(v))
        return true;
    problem(ld, path, "expected an object, got %s", type_name(v));
    return false;
}

/* Walks object `obj` at `path`, calling sc->fn for each known field once. */
static void walk(loader *ld, const cJSON *obj, const char *path, const schema *sc, void *ctx)
{
    if (!want_object(ld, obj, path))
        return;
    for (const cJSON *c = obj->child; c; c = c->next) {
        char cpath[PATH_TEXT];
        path_key(cpath, sizeof cpath, path, c->string);
        if (earlier_sibling(obj, c)) {
            problem(ld, cpath, "duplicate field (each field may appear once)");
            continue;
        }
        int f = 0;
        while (f < sc->nnames && strcmp(sc->names[f], c->string) != 0)
            f++;
        if (f == sc->nnames)
            unknown_field(ld, sc, c->string, cpath);
        else
            sc->fn(ld, ctx, f, c, cpath);
    }
}

/* ---------------------------------------------------------------- providers */

enum { T_CONNECT, T_FIRST_BYTE, T_IDLE, T_TOTAL, T_COUNT };
static const char *const timeout_names[T_COUNT] = {"connect_ms", "first_byte_ms", "idle_ms",
                                                   "total_ms"};
static const long timeout_max[T_COUNT] = {600000, 3600000, 3600000, 86400000};

static void timeout_field(loader *ld, void *ctx, int f, const cJSON *v, const char *path)
{
    tg_provider_config *p = ctx;
    long *dst[T_COUNT] = {&p->connect_ms, &p->first_byte_ms, &p->idle_ms, &p->total_ms};
    get_int(ld, v, path, 1, timeout_max[f], dst[f]);
}

static const schema timeouts_schema = {timeout_names, T_COUNT, "api_key_env", timeout_field};

static void get_format(loader *ld, const cJSON *v, const char *path, tg_format *fmt)
{
    if (!want_string(ld, v, path))
        return;
    if (strcmp(v->valuestring, "openai") == 0) {
        *fmt = TG_FORMAT_OPENAI;
        return;
    }
    if (strcmp(v->valuestring, "anthropic") == 0) {
        *fmt = TG_FORMAT_ANTHROPIC;
        return;
    }
    char q[SHOWN_MAX * 4 + 8];
    quoted(q, sizeof q, v->valuestring);
    problem(ld, path, "expected \"openai\" or \"anthropic\", got %s", q);
}

/* http(s)://host[:port][/path], no credentials, query or fragment; trailing '/' dropped. */
static void get_base_url(loader *ld, const cJSON *v, const char *path, char *dst)
{
    char url[TG_CONFIG_STR_MAX];
    if (!get_string(ld, v, path, url, sizeof url, false))
        return;
    size_t scheme = strncasecmp(url, "http://", 7) == 0    ? 7
                    : strncasecmp(url, "https://", 8) == 0 ? 8
                                                           : 0;
    if (!scheme) {
        problem(ld, path, "expected a URL starting with http:// or https://");
        return;
    }
    size_t host_end = scheme + strcspn(url + scheme, "/");
    if (memchr(url + scheme, '@', host_end - scheme)) {
        problem(ld, path, SECRET_TEXT "api_key_env (no user:password@ in base_url)");
        return;
    }
    if (host_end == scheme || strpbrk(url, " \t\r\n?#")) {
        problem(ld, path, "expected http(s)://host[:port][/path] without spaces, query or "
                          "fragment");
        return;
    }
    size_t len = strlen(url);
    while (len > host_end && url[len - 1] == '/')
        url[--len] = '\0';
    memcpy(dst, url, len + 1);
}

enum { P_FORMAT, P_BASE_URL, P_API_KEY_ENV, P_TIMEOUTS, P_COUNT };
static const char *const provider_names[P_COUNT] = {"format", "base_url", "api_key_env",
                                                    "timeouts"};

static void provider_field(loader *ld, void *ctx, int f, const cJSON *v, const char *path)
{
    tg_provider_config *p = ctx;
    switch (f) {
    case P_FORMAT:
        get_format(ld, v, path, &p->format);
        break;
    case P_BASE_URL:
        get_base_url(ld, v, path, p->base_url);
        break;
    case P_API_KEY_ENV:
        get_env_name(ld, v, path, p->api_key_env, true);
        break;
    default:
        walk(ld, v, path, &timeouts_schema, p);
    }
}

static const schema provider_schema = {provider_names, P_COUNT, "api_key_env",
                                       provider_field};

/* The defaults of a provider called `name` (see the top of the file). */
static void provider_defaults(tg_provider_config *p, const char *name)
{
    memset(p, 0, sizeof *p);
    snprintf(p->name, sizeof p->name, "%s", name);
    p->format = strcmp(name, "anthropic") == 0 ? TG_FORMAT_ANTHROPIC : TG_FORMAT_OPENAI;
    if (strcmp(name, "openai") == 0)
        snprintf(p->base_url, sizeof p->base_url, "https://api.openai.com");
    if (strcmp(name, "anthropic") == 0)
        snprintf(p->base_url, sizeof p->base_url, "https://api.anthropic.com");
    size_t n = 0;
    for (; name[n] && n + sizeof "_API_KEY" < sizeof p->api_key_env; n++)
        p->api_key_env[n] = isalnum((unsigned char)name[n])
                                ? (char)toupper((unsigned char)name[n]) : '_';
    snprintf(p->api_key_env + n, sizeof p->api_key_env - n, "_API_KEY");
    if (name[n] || !env_name_valid(p->api_key_env))
        p->api_key_env[0] = '\0'; /* cannot derive one: the file must say */
    p->connect_ms = 5000;
    p->first_byte_ms = 60000;
    p->idle_ms = 60000;
    p->total_ms = 600000;
}

static bool provider_name_valid(const char *s)
{
    size_t n = strlen(s);
    return n > 0 && n < TG_CONFIG_NAME_MAX &&
           strspn(s, "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789_.-") == n;
}

/* One entry of "providers"; true when it may be kept. */
static bool load_provider(loader *ld, const cJSON *c, const char *path,
                          tg_provider_config *p)
{
    bool ok = provider_name_valid(c->string);
    if (!ok)
        problem(ld, path, "invalid provider name: 1-%d characters from A-Z a-z 0-9 _ . -",
                TG_CONFIG_NAME_MAX - 1);
    provider_defaults(p, ok ? c->string : "");
    if (!want_object(ld, c, path))
        return ok;
    walk(ld, c, path, &provider_schema, p);
    if (!p->base_url[0] && !cJSON_GetObjectItemCaseSensitive(c, "base_url"))
        problem(ld, path, "missing field \"base_url\" (required for a provider other than "
                          "\"openai\" and \"anthropic\")");
    if (!p->api_key_env[0] && !cJSON_GetObjectItemCaseSensitive(c, "api_key_env"))
        problem(ld, path, "missing field \"api_key_env\" (none can be derived from the name)");
    return ok;
}

static void load_providers(loader *ld, tg_config *cfg, const cJSON *v, const char *path)
{
    if (!cJSON_IsObject(v)) {
        problem(ld, path, "expected an object of providers by name, got %s", type_name(v));
        return;
    }
    cfg->nproviders = 0;
    for (const cJSON *c = v->child; c; c = c->next) {
        char cpath[PATH_TEXT];
        path_key(cpath, sizeof cpath, path, c->string);
        if (earlier_sibling(v, c)) {
            problem(ld, cpath, "duplicate provider name (each provider may appear once)");
            continue;
        }
        if (cfg->nproviders == TG_CONFIG_MAX_PROVIDERS) {
            problem(ld, path, "too many providers (at most %d)", TG_CONFIG_MAX_PROVIDERS);
            return;
        }
        tg_provider_config p;
        if (load_provider(ld, c, cpath, &p))
            cfg->providers[cfg->nproviders++] = p;
    }
    if (!v->child)
        problem(ld, path, "expected at least one provider");
}

/* ---------------------------------------------------------------- admin, limits */

enum { A_LISTEN, A_TOKEN_ENV, A_COUNT };
static const char *const admin_names[A_COUNT] = {"listen", "token_env"};

static void admin_field(loader *ld, void *ctx, int f, const cJSON *v, const char *path)
{
    tg_config *cfg = ctx;
    if (f == A_LISTEN)
        get_listen(ld, v, path, cfg->admin_host, &cfg->admin_port);
    else
        get_env_name(ld, v, path, cfg->admin_token_env, false);
}

static const schema admin_schema = {admin_names, A_COUNT, "token_env", admin_field};

enum { L_BODY, L_HEADER, L_CONNECTIONS, L_STREAM, L_CLIENT_TIMEOUT, L_COUNT };
static const char *const limit_names[L_COUNT] = {"max_body_bytes", "max_header_bytes",
                                                 "max_connections", "stream_buffer_bytes",
                                                 "client_timeout_s"};
static const long limit_min[L_COUNT] = {1024, 1024, 1, 4096, 1};
static const long limit_max[L_COUNT] = {1073741824, 1048576, 1000000, 67108864, 86400};

static void limit_field(loader *ld, void *ctx, int f, const cJSON *v, const char *path)
{
    tg_config *cfg = ctx;
    long n;
    if (!get_int(ld, v, path, limit_min[f], limit_max[f], &n))
        return;
    switch (f) {
    case L_BODY:
        cfg->max_body_bytes = (size_t)n;
        break;
    case L_HEADER:
        cfg->max_header_bytes = (size_t)n;
        break;
    case L_CONNECTIONS:
        cfg->max_connections = (unsigned)n;
        break;
    case L_STREAM:
        cfg->stream_buffer_bytes = (size_t)n;
        break;
    default:
        cfg->client_timeout_s = (unsigned)n;
    }
}

static const schema limits_schema = {limit_names, L_COUNT, "api_key_env", limit_field};

/* ---------------------------------------------------------------- store */

static bool store_valid(const char *s)
{
    if (strncmp(s, "sqlite:", 7) == 0)
        return s[7] != '\0';
    if (strncmp(s, "postgres://", 11) == 0)
        return s[11] != '\0';
    if (strncmp(s, "postgresql://", 13) == 0)
        return s[13] != '\0';
    return false;
}

/* The value is never echoed: a postgres URL may hold a password. */
static void check_store(loader *ld, const char *s, const char *path, char *dst)
{
    if (strlen(s) >= TG_CONFIG_STR_MAX) {
        problem(ld, path, "too long (at most %d bytes)", TG_CONFIG_STR_MAX - 1);
        return;
    }
    if (!store_valid(s)) {
        problem(ld, path, "expected \"sqlite:PATH\" or \"postgres://...\"");
        return;
    }
    memcpy(dst, s, strlen(s) + 1);
}

static void get_store(loader *ld, const cJSON *v, const char *path, char *dst)
{
    if (want_string(ld, v, path))
        check_store(ld, v->valuestring, path, dst);
}

/* ---------------------------------------------------------------- top level */

typedef struct {
    tg_config *cfg;
    const char *dir;              /* the config file's directory + '/', or "" */
    bool default_provider_set, admin_listen_set;
} top_ctx;

/* A file named in the config: relative paths are taken from the config's directory. */
static bool get_file(loader *ld, const cJSON *v, const char *path, const char *dir,
                     char *dst)
{
    char name[TG_CONFIG_STR_MAX];
    if (!get_string(ld, v, path, name, sizeof name, false))
        return false;
    const char *prefix = name[0] == '/' ? "" : dir;
    int w = snprintf(dst, TG_CONFIG_STR_MAX, "%s%s", prefix, name);
    if (w < 0 || w >= TG_CONFIG_STR_MAX) {
        problem(ld, path, "too long once joined to the config's directory (at most %d bytes)",
                TG_CONFIG_STR_MAX - 1);
        dst[0] = '\0';
        return false;
    }
    return true;
}

static void get_catalog(loader *ld, top_ctx *t, const cJSON *v, const char *path)
{
    tg_config *cfg = t->cfg;
    if (cJSON_IsString(v)) {
        cfg->ncatalog = get_file(ld, v, path, t->dir, cfg->catalog[0]) ? 1 : 0;
        return;
    }
    if (!cJSON_IsArray(v)) {
        problem(ld, path, "expected a file name or an array of file names, got %s",
                type_name(v));
        return;
    }
    int n = cJSON_GetArraySize(v);
    if (n > TG_CONFIG_MAX_CATALOG) {
        problem(ld, path, "too many catalog files (at most %d)", TG_CONFIG_MAX_CATALOG);
        return;
    }
    int i = 0;
    cfg->ncatalog = 0;
    for (const cJSON *c = v->child; c; c = c->next, i++) {
        char ipath[PATH_TEXT];
        path_index(ipath, sizeof ipath, path, i);
        if (get_file(ld, c, ipath, t->dir, cfg->catalog[cfg->ncatalog]))
            cfg->ncatalog++;
    }
}

enum { F_LISTEN, F_WORKERS, F_ADMIN, F_STORE, F_CATALOG, F_POLICY, F_DEFAULT_PROVIDER,
       F_PROVIDERS, F_LIMITS, F_COUNT };
static const char *const top_names[F_COUNT] = {
    "listen", "workers", "admin", "store", "catalog", "policy", "default_provider",
    "providers", "limits"};

static void top_field(loader *ld, void *ctx, int f, const cJSON *v, const char *path)
{
    top_ctx *t = ctx;
    tg_config *cfg = t->cfg;
    long n;
    switch (f) {
    case F_LISTEN:
        get_listen(ld, v, path, cfg->listen_host, &cfg->listen_port);
        break;
    case F_WORKERS:
        if (get_int(ld, v, path, 0, WORKERS_MAX, &n))
            cfg->workers = (int)n;
        break;
    case F_ADMIN:
        t->admin_listen_set = cJSON_IsObject(v) &&
                              cJSON_GetObjectItemCaseSensitive(v, "listen") != NULL;
        walk(ld, v, path, &admin_schema, cfg);
        break;
    case F_STORE:
        get_store(ld, v, path, cfg->store);
        break;
    case F_CATALOG:
        get_catalog(ld, t, v, path);
        break;
    case F_POLICY:
        get_file(ld, v, path, t->dir, cfg->policy);
        break;
    case F_DEFAULT_PROVIDER:
        t->default_provider_set =
            get_string(ld, v, path, cfg->default_provider, TG_CONFIG_NAME_MAX, false);
        break;
    case F_PROVIDERS:
        load_providers(ld, cfg, v, path);
        break;
    default:
        walk(ld, v, path, &limits_schema, cfg);
    }
}

static const schema top_schema = {top_names, F_COUNT, "providers.*.api_key_env", top_field};

/* ---------------------------------------------------------------- cross-field checks */

static void check_default_provider(loader *ld, const top_ctx *t)
{
    tg_config *cfg = t->cfg;
    if (!t->default_provider_set) {
        if (!tg_config_provider(cfg, cfg->default_provider) && cfg->nproviders > 0)
            memcpy(cfg->default_provider, cfg->providers[0].name, TG_CONFIG_NAME_MAX);
        return;
    }
    if (tg_config_provider(cfg, cfg->default_provider) || cfg->nproviders == 0)
        return;
    char q[SHOWN_MAX * 4 + 8], names[MSG_MAX / 2] = "";
    size_t o = 0;
    for (int i = 0; i < cfg->nproviders && o < sizeof names; i++)
        o += (size_t)snprintf(names + o, sizeof names - o, "%s%s", i ? ", " : "",
                              cfg->providers[i].name);
    quoted(q, sizeof q, cfg->default_provider);
    problem(ld, "$.default_provider", "names no provider: %s (providers: %s)", q, names);
}

static void check_listeners(loader *ld, const top_ctx *t)
{
    const tg_config *cfg = t->cfg;
    if (cfg->listen_port != cfg->admin_port)
        return;
    if (strcmp(cfg->listen_host, cfg->admin_host) != 0 && !wildcard_host(cfg->listen_host) &&
        !wildcard_host(cfg->admin_host))
        return;
    problem(ld, t->admin_listen_set ? "$.admin.listen" : "$.listen",
            "the public API and the admin API cannot share port %d", cfg->listen_port);
}

/* ---------------------------------------------------------------- the file */

/* Reads `path` into a new NUL-terminated buffer, or NULL after a problem. */
static char *read_file(loader *ld, const char *path, size_t *len)
{
    FILE *f = fopen(path, "rb");
    if (!f) {
        problem(ld, NULL, "cannot open: %s", strerror(errno));
        return NULL;
    }
    char *buf = malloc(TG_CONFIG_MAX_FILE + 2);
    size_t n = buf ? fread(buf, 1, TG_CONFIG_MAX_FILE + 1, f) : 0;
    int err = ferror(f) ? errno : 0;
    fclose(f);
    if (!buf)
        problem(ld, NULL, "out of memory");
    else if (err)
        problem(ld, NULL, "cannot read: %s", strerror(err));
    else if (n > TG_CONFIG_MAX_FILE)
        problem(ld, NULL, "larger than the limit of %zu bytes", TG_CONFIG_MAX_FILE);
    else if (memchr(buf, '\0', n))
        problem(ld, NULL, "not a text file (contains a NUL byte)");
    else {
        buf[n] = '\0';
        *len = n;
        return buf;
    }
    free(buf);
    return NULL;
}

/* "line L, column C: invalid JSON ..." for a parse that stopped at `at`. */
static void syntax_problem(loader *ld, const char *text, size_t len, const char *at)
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
    if (*at == '\0') {
        problem(ld, NULL, "line %d, column %d: invalid JSON: unexpected end of file", line,
                col);
        return;
    }
    char near[24];
    size_t k = 0;
    for (; at[k] && at[k] != '\n' && at[k] != '\r' && k < 16; k++)
        near[k] = isprint((unsigned char)at[k]) ? at[k] : '?';
    near[k] = '\0';
    if (k == 0)
        problem(ld, NULL, "line %d, column %d: invalid JSON", line, col);
    else
        problem(ld, NULL, "line %d, column %d: invalid JSON near '%s'", line, col, near);
}

/* The directory of `path` with a trailing '/', or "" for a bare name. */
static void dir_of(const char *path, char *dir, size_t n)
{
    const char *slash = strrchr(path, '/');
    size_t len = slash ? (size_t)(slash - path) + 1 : 0;
    if (len >= n)
        len = 0; /* only for paths longer than PATH_MAX, which do not open */
    memcpy(dir, path, len);
    dir[len] = '\0';
}

static void load_file(loader *ld, const char *path, tg_config *cfg)
{
    size_t len = 0;
    char *text = read_file(ld, path, &len);
    if (!text)
        return;
    const char *body = text, *end = NULL;
    if (len >= 3 && memcmp(text, "\xEF\xBB\xBF", 3) == 0) /* a UTF-8 byte order mark */
        body += 3;
    cJSON *root = cJSON_ParseWithLengthOpts(body, len - (size_t)(body - text) + 1, &end, 1);
    if (!root) {
        syntax_problem(ld, body, len - (size_t)(body - text), end);
        free(text);
        return;
    }
    char dir[4096];
    dir_of(path, dir, sizeof dir);
    top_ctx t = {cfg, dir, false, false};
    walk(ld, root, "$", &top_schema, &t);
    check_default_provider(ld, &t);
    check_listeners(ld, &t);
    cJSON_Delete(root);
    free(text);
}

/* ---------------------------------------------------------------- public */

static int online_cpus(void)
{
    long n = sysconf(_SC_NPROCESSORS_ONLN);
    return n < 1 ? 1 : n > WORKERS_MAX ? WORKERS_MAX : (int)n;
}

void tg_config_defaults(tg_config *cfg)
{
    memset(cfg, 0, sizeof *cfg);
    snprintf(cfg->listen_host, sizeof cfg->listen_host, "127.0.0.1");
    cfg->listen_port = 8080;
    snprintf(cfg->admin_host, sizeof cfg->admin_host, "127.0.0.1");
    cfg->admin_port = 8081;
    snprintf(cfg->admin_token_env, sizeof cfg->admin_token_env, "TOLLGATE_ADMIN_TOKEN");
    cfg->workers = online_cpus();
    snprintf(cfg->store, sizeof cfg->store, "sqlite:./var/tollgate.db");
    snprintf(cfg->default_provider, sizeof cfg->default_provider, "openai");
    provider_defaults(&cfg->providers[0], "openai");
    provider_defaults(&cfg->providers[1], "anthropic");
    cfg->nproviders = 2;
    cfg->max_body_bytes = 8388608;
    cfg->max_header_bytes = 16384;
    cfg->max_connections = 16384;
    cfg->stream_buffer_bytes = 262144;
    cfg->client_timeout_s = 300;
}

int tg_config_load(const char *path, tg_config *cfg, tg_config_problem *probs, int maxprobs)
{
    tg_config_defaults(cfg);
    loader ld = {path ? path : "embedded defaults", probs, probs ? maxprobs : 0, 0};
    if (path)
        load_file(&ld, path, cfg);
    if (cfg->workers == 0)
        cfg->workers = online_cpus();
    const char *env = getenv(ENV_STORE);
    if (env && *env) {
        loader el = {ENV_STORE " (environment)", probs, ld.maxprobs, ld.n};
        check_store(&el, env, NULL, cfg->store);
        ld.n = el.n;
    }
    return ld.n;
}

const tg_provider_config *tg_config_provider(const tg_config *cfg, const char *name)
{
    for (int i = 0; i < cfg->nproviders; i++)
        if (strcmp(cfg->providers[i].name, name) == 0)
            return &cfg->providers[i];
    return NULL;
}
