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

#include "common/jsonchk.h"

#include <arpa/inet.h>
#include <cjson/cJSON.h>
#include <ctype.h>
#include <curl/curl.h>
#include <errno.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <unistd.h>

#define WORKERS_MAX 1024
#define HOSTNAME_MAX 253
#define ENV_STORE "TOLLGATE_STORE"

/* ---------------------------------------------------------------- scalars */

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
    if (strlen(s) > TG_JC_SHOWN_MAX)
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
static void get_env_name(tg_jc *ld, const cJSON *v, const char *path, char *dst,
                         bool allow_empty)
{
    if (!tg_jc_want_string(ld, v, path))
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
    char q[TG_JC_QUOTED_MAX];
    if (env_value_showable(s)) {
        tg_jc_quoted(q, sizeof q, s);
        tg_jc_problem(ld, path, "expected an environment variable name [A-Z_][A-Z0-9_]* "
                      "(at most %d characters), got %s", TG_CONFIG_NAME_MAX - 1, q);
        return;
    }
    tg_jc_problem(ld, path, "expected the NAME of an environment variable [A-Z_][A-Z0-9_]*; the "
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

static void get_listen(tg_jc *ld, const cJSON *v, const char *path, char *host, int *port)
{
    if (!tg_jc_want_string(ld, v, path))
        return;
    const char *s = v->valuestring;
    if (parse_hostport(s, host, TG_CONFIG_NAME_MAX, port))
        return;
    char q[TG_JC_QUOTED_MAX];
    tg_jc_quoted(q, sizeof q, s);
    bool bare_v6 = s[0] != '[' && strchr(s, ':') && strchr(s, ':') != strrchr(s, ':');
    tg_jc_problem(ld, path, "expected \"host:port\" with a port 1-65535%s, got %s",
                  bare_v6 ? " (an IPv6 address in brackets: \"[::1]:8080\")" : "", q);
}

static bool wildcard_host(const char *h)
{
    return strcmp(h, "0.0.0.0") == 0 || strcmp(h, "::") == 0;
}

/* ---------------------------------------------------------------- providers */

enum { T_CONNECT, T_FIRST_BYTE, T_IDLE, T_TOTAL, T_COUNT };
static const char *const timeout_names[T_COUNT] = {"connect_ms", "first_byte_ms", "idle_ms",
                                                   "total_ms"};
static const long timeout_max[T_COUNT] = {600000, 3600000, 3600000, 86400000};

static void timeout_field(tg_jc *ld, void *ctx, int f, const cJSON *v, const char *path)
{
    tg_provider_config *p = ctx;
    long *dst[T_COUNT] = {&p->connect_ms, &p->first_byte_ms, &p->idle_ms, &p->total_ms};
    tg_jc_get_int(ld, v, path, 1, timeout_max[f], dst[f]);
}

static const tg_jc_schema timeouts_schema = {timeout_names, T_COUNT, "api_key_env",
                                             timeout_field, false};

static void get_format(tg_jc *ld, const cJSON *v, const char *path, tg_format *fmt)
{
    if (!tg_jc_want_string(ld, v, path))
        return;
    if (strcmp(v->valuestring, "openai") == 0) {
        *fmt = TG_FORMAT_OPENAI;
        return;
    }
    if (strcmp(v->valuestring, "anthropic") == 0) {
        *fmt = TG_FORMAT_ANTHROPIC;
        return;
    }
    char q[TG_JC_QUOTED_MAX];
    tg_jc_quoted(q, sizeof q, v->valuestring);
    tg_jc_problem(ld, path, "expected \"openai\" or \"anthropic\", got %s", q);
}

/* http(s)://host[:port][/path], no credentials, query or fragment; trailing '/' dropped. */
static void get_base_url(tg_jc *ld, const cJSON *v, const char *path, char *dst)
{
    char url[TG_CONFIG_STR_MAX];
    if (!tg_jc_get_string(ld, v, path, url, sizeof url, false))
        return;
    size_t scheme = strncasecmp(url, "http://", 7) == 0    ? 7
                    : strncasecmp(url, "https://", 8) == 0 ? 8
                                                           : 0;
    if (!scheme) {
        tg_jc_problem(ld, path, "expected a URL starting with http:// or https://");
        return;
    }
    size_t host_end = scheme + strcspn(url + scheme, "/");
    if (memchr(url + scheme, '@', host_end - scheme)) {
        tg_jc_problem(ld, path, TG_JC_SECRET_TEXT "api_key_env (no user:password@ in base_url)");
        return;
    }
    if (host_end == scheme || strpbrk(url, " \t\r\n?#")) {
        tg_jc_problem(ld, path, "expected http(s)://host[:port][/path] without spaces, query or "
                      "fragment");
        return;
    }
    size_t len = strlen(url);
    while (len > host_end && url[len - 1] == '/')
        url[--len] = '\0';
    memcpy(dst, url, len + 1);
}

enum { P_FORMAT, P_BASE_URL, P_API_KEY_ENV, P_TIMEOUTS, P_HTTP2, P_CA_FILE, P_COUNT };
static const char *const provider_names[P_COUNT] = {"format", "base_url", "api_key_env",
                                                    "timeouts", "http2", "ca_file"};

static void provider_field(tg_jc *ld, void *ctx, int f, const cJSON *v, const char *path)
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
    case P_HTTP2:
        if (cJSON_IsBool(v))
            p->http2 = cJSON_IsTrue(v);
        else
            tg_jc_problem(ld, path, "expected true or false");
        break;
    case P_CA_FILE: /* resolved and checked in load_provider */
        tg_jc_get_string(ld, v, path, p->ca_file, sizeof p->ca_file, false);
        break;
    default:
        tg_jc_walk(ld, v, path, &timeouts_schema, p);
    }
}

static const tg_jc_schema provider_schema = {provider_names, P_COUNT, "api_key_env",
                                             provider_field, false};

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

/* "http2" over cleartext is HTTP/2 with prior knowledge, which libcurl before 8.0.0
 * breaks on every reuse of a connection (curl issue 10634: "Error in the HTTP2 framing
 * layer" for the second stream), so it is refused with such a libcurl; https:// (ALPN)
 * works.  "ca_file" is taken from the config's directory when relative, and must be
 * readable. */
static void check_transport(tg_jc *ld, const char *path, const char *dir,
                            tg_provider_config *p)
{
    char sub[TG_JC_PATH_MAX];
    const curl_version_info_data *cv = curl_version_info(CURLVERSION_NOW);
    if (p->http2 && strncasecmp(p->base_url, "http://", 7) == 0 &&
        cv->version_num < 0x080000) {
        tg_jc_path_key(sub, sizeof sub, path, "http2");
        tg_jc_problem(ld, sub, "HTTP/2 over cleartext (http://) needs libcurl 8.0 or later "
                      "(this is %s, whose h2c connections fail on reuse): use an https:// "
                      "base_url, or set http2 to false", cv->version);
    }
    if (!p->ca_file[0])
        return;
    tg_jc_path_key(sub, sizeof sub, path, "ca_file");
    char full[TG_CONFIG_STR_MAX];
    int w = snprintf(full, sizeof full, "%s%s", p->ca_file[0] == '/' ? "" : dir, p->ca_file);
    if (w < 0 || w >= (int)sizeof full) {
        tg_jc_problem(ld, sub, "too long once joined to the config's directory (at most %d "
                      "bytes)", TG_CONFIG_STR_MAX - 1);
        return;
    }
    memcpy(p->ca_file, full, (size_t)w + 1);
    if (access(p->ca_file, R_OK) != 0)
        tg_jc_problem(ld, sub, "cannot read %s: %s", p->ca_file, strerror(errno));
}

/* One entry of "providers"; true when it may be kept. */
static bool load_provider(tg_jc *ld, const cJSON *c, const char *path, const char *dir,
                          tg_provider_config *p)
{
    bool ok = provider_name_valid(c->string);
    if (!ok)
        tg_jc_problem(ld, path, "invalid provider name: 1-%d characters from A-Z a-z 0-9 _ . -",
                      TG_CONFIG_NAME_MAX - 1);
    provider_defaults(p, ok ? c->string : "");
    if (!tg_jc_want_object(ld, c, path))
        return ok;
    tg_jc_walk(ld, c, path, &provider_schema, p);
    check_transport(ld, path, dir, p);
    if (!p->base_url[0] && !cJSON_GetObjectItemCaseSensitive(c, "base_url"))
        tg_jc_problem(ld, path, "missing field \"base_url\" (required for a provider other than "
                      "\"openai\" and \"anthropic\")");
    if (!p->api_key_env[0] && !cJSON_GetObjectItemCaseSensitive(c, "api_key_env"))
        tg_jc_problem(ld, path,
                      "missing field \"api_key_env\" (none can be derived from the name)");
    return ok;
}

static void load_providers(tg_jc *ld, tg_config *cfg, const char *dir, const cJSON *v,
                           const char *path)
{
    if (!cJSON_IsObject(v)) {
        tg_jc_problem(ld, path, "expected an object of providers by name, got %s",
                      tg_jc_type_name(v));
        return;
    }
    cfg->nproviders = 0;
    for (const cJSON *c = v->child; c; c = c->next) {
        char cpath[TG_JC_PATH_MAX];
        tg_jc_path_key(cpath, sizeof cpath, path, c->string);
        if (tg_jc_earlier_sibling(v, c)) {
            tg_jc_problem(ld, cpath, "duplicate provider name (each provider may appear once)");
            continue;
        }
        if (cfg->nproviders == TG_CONFIG_MAX_PROVIDERS) {
            tg_jc_problem(ld, path, "too many providers (at most %d)", TG_CONFIG_MAX_PROVIDERS);
            return;
        }
        tg_provider_config p;
        if (load_provider(ld, c, cpath, dir, &p))
            cfg->providers[cfg->nproviders++] = p;
    }
    if (!v->child)
        tg_jc_problem(ld, path, "expected at least one provider");
}

/* ---------------------------------------------------------------- admin, limits */

enum { A_LISTEN, A_TOKEN_ENV, A_COUNT };
static const char *const admin_names[A_COUNT] = {"listen", "token_env"};

static void admin_field(tg_jc *ld, void *ctx, int f, const cJSON *v, const char *path)
{
    tg_config *cfg = ctx;
    if (f == A_LISTEN)
        get_listen(ld, v, path, cfg->admin_host, &cfg->admin_port);
    else
        get_env_name(ld, v, path, cfg->admin_token_env, false);
}

static const tg_jc_schema admin_schema = {admin_names, A_COUNT, "token_env", admin_field,
                                          false};

enum { L_BODY, L_HEADER, L_CONNECTIONS, L_STREAM, L_CLIENT_TIMEOUT, L_COUNT };
static const char *const limit_names[L_COUNT] = {"max_body_bytes", "max_header_bytes",
                                                 "max_connections", "stream_buffer_bytes",
                                                 "client_timeout_s"};
static const long limit_min[L_COUNT] = {1024, 1024, 1, 4096, 1};
static const long limit_max[L_COUNT] = {1073741824, 1048576, 1000000, 67108864, 86400};

static void limit_field(tg_jc *ld, void *ctx, int f, const cJSON *v, const char *path)
{
    tg_config *cfg = ctx;
    long n;
    if (!tg_jc_get_int(ld, v, path, limit_min[f], limit_max[f], &n))
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

static const tg_jc_schema limits_schema = {limit_names, L_COUNT, "api_key_env", limit_field,
                                           false};

enum { Q_OFFSET, Q_MIN_OUTPUT, Q_COUNT };
static const char *const quota_names[Q_COUNT] = {"utc_offset", "min_output_tokens"};

/* "+HH:MM", "-HH:MM" (at most 18:00) or "Z" into seconds east of UTC; -1 when malformed. */
static int parse_offset(const char *s, int *out)
{
    if (strcmp(s, "Z") == 0)
        return *out = 0, 0;
    if (strlen(s) != 6 || (s[0] != '+' && s[0] != '-') || s[3] != ':')
        return -1;
    for (int i = 1; i < 6; i++)
        if (i != 3 && (s[i] < '0' || s[i] > '9'))
            return -1;
    int h = (s[1] - '0') * 10 + (s[2] - '0'), m = (s[4] - '0') * 10 + (s[5] - '0');
    if (m > 59 || h * 60 + m > 18 * 60)
        return -1;
    *out = (s[0] == '-' ? -1 : 1) * (h * 3600 + m * 60);
    return 0;
}

static void quota_field(tg_jc *ld, void *ctx, int f, const cJSON *v, const char *path)
{
    tg_config *cfg = ctx;
    long n;
    char s[16];
    if (f == Q_MIN_OUTPUT) {
        if (tg_jc_get_int(ld, v, path, 1, 1000000000, &n))
            cfg->quota_min_output_tokens = n;
        return;
    }
    if (tg_jc_get_string(ld, v, path, s, sizeof s, false) &&
        parse_offset(s, &cfg->quota_utc_offset_s) != 0)
        tg_jc_problem(ld, path, "expected \"+HH:MM\", \"-HH:MM\" (at most 18:00) or \"Z\"");
}

static const tg_jc_schema quotas_schema = {quota_names, Q_COUNT, NULL, quota_field,
                                           false};

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
static void check_store(tg_jc *ld, const char *s, const char *path, char *dst)
{
    if (strlen(s) >= TG_CONFIG_STR_MAX) {
        tg_jc_problem(ld, path, "too long (at most %d bytes)", TG_CONFIG_STR_MAX - 1);
        return;
    }
    if (!store_valid(s)) {
        tg_jc_problem(ld, path, "expected \"sqlite:PATH\" or \"postgres://...\"");
        return;
    }
    memcpy(dst, s, strlen(s) + 1);
}

static void get_store(tg_jc *ld, const cJSON *v, const char *path, char *dst)
{
    if (tg_jc_want_string(ld, v, path))
        check_store(ld, v->valuestring, path, dst);
}

/* ---------------------------------------------------------------- top level */

typedef struct {
    tg_config *cfg;
    const char *dir;              /* the config file's directory + '/', or "" */
    bool default_provider_set, admin_listen_set;
} top_ctx;

/* A file named in the config: relative paths are taken from the config's directory. */
static bool get_file(tg_jc *ld, const cJSON *v, const char *path, const char *dir,
                     char *dst)
{
    char name[TG_CONFIG_STR_MAX];
    if (!tg_jc_get_string(ld, v, path, name, sizeof name, false))
        return false;
    const char *prefix = name[0] == '/' ? "" : dir;
    int w = snprintf(dst, TG_CONFIG_STR_MAX, "%s%s", prefix, name);
    if (w < 0 || w >= TG_CONFIG_STR_MAX) {
        tg_jc_problem(ld, path, "too long once joined to the config's directory (at most %d bytes)",
                      TG_CONFIG_STR_MAX - 1);
        dst[0] = '\0';
        return false;
    }
    return true;
}

static void get_catalog(tg_jc *ld, top_ctx *t, const cJSON *v, const char *path)
{
    tg_config *cfg = t->cfg;
    if (cJSON_IsString(v)) {
        cfg->ncatalog = get_file(ld, v, path, t->dir, cfg->catalog[0]) ? 1 : 0;
        return;
    }
    if (!cJSON_IsArray(v)) {
        tg_jc_problem(ld, path, "expected a file name or an array of file names, got %s",
                      tg_jc_type_name(v));
        return;
    }
    int n = cJSON_GetArraySize(v);
    if (n > TG_CONFIG_MAX_CATALOG) {
        tg_jc_problem(ld, path, "too many catalog files (at most %d)", TG_CONFIG_MAX_CATALOG);
        return;
    }
    int i = 0;
    cfg->ncatalog = 0;
    for (const cJSON *c = v->child; c; c = c->next, i++) {
        char ipath[TG_JC_PATH_MAX];
        tg_jc_path_index(ipath, sizeof ipath, path, i);
        if (get_file(ld, c, ipath, t->dir, cfg->catalog[cfg->ncatalog]))
            cfg->ncatalog++;
    }
}

enum { F_LISTEN, F_WORKERS, F_ADMIN, F_STORE, F_CATALOG, F_POLICY, F_DEFAULT_PROVIDER,
       F_PROVIDERS, F_LIMITS, F_QUOTAS, F_COUNT };
static const char *const top_names[F_COUNT] = {
    "listen", "workers", "admin", "store", "catalog", "policy", "default_provider",
    "providers", "limits", "quotas"};

static void top_field(tg_jc *ld, void *ctx, int f, const cJSON *v, const char *path)
{
    top_ctx *t = ctx;
    tg_config *cfg = t->cfg;
    long n;
    switch (f) {
    case F_LISTEN:
        get_listen(ld, v, path, cfg->listen_host, &cfg->listen_port);
        break;
    case F_WORKERS:
        if (tg_jc_get_int(ld, v, path, 0, WORKERS_MAX, &n))
            cfg->workers = (int)n;
        break;
    case F_ADMIN:
        t->admin_listen_set = cJSON_IsObject(v) &&
                              cJSON_GetObjectItemCaseSensitive(v, "listen") != NULL;
        tg_jc_walk(ld, v, path, &admin_schema, cfg);
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
            tg_jc_get_string(ld, v, path, cfg->default_provider, TG_CONFIG_NAME_MAX, false);
        break;
    case F_PROVIDERS:
        load_providers(ld, cfg, t->dir, v, path);
        break;
    case F_QUOTAS:
        tg_jc_walk(ld, v, path, &quotas_schema, cfg);
        break;
    default:
        tg_jc_walk(ld, v, path, &limits_schema, cfg);
    }
}

static const tg_jc_schema top_schema = {top_names, F_COUNT, "providers.*.api_key_env",
                                        top_field, false};

/* ---------------------------------------------------------------- cross-field checks */

static void check_default_provider(tg_jc *ld, const top_ctx *t)
{
    tg_config *cfg = t->cfg;
    if (!t->default_provider_set) {
        if (!tg_config_provider(cfg, cfg->default_provider) && cfg->nproviders > 0)
            memcpy(cfg->default_provider, cfg->providers[0].name, TG_CONFIG_NAME_MAX);
        return;
    }
    if (tg_config_provider(cfg, cfg->default_provider) || cfg->nproviders == 0)
        return;
    char q[TG_JC_QUOTED_MAX], names[TG_JC_MSG_MAX / 2] = "";
    size_t o = 0;
    for (int i = 0; i < cfg->nproviders && o < sizeof names; i++)
        o += (size_t)snprintf(names + o, sizeof names - o, "%s%s", i ? ", " : "",
                              cfg->providers[i].name);
    tg_jc_quoted(q, sizeof q, cfg->default_provider);
    tg_jc_problem(ld, "$.default_provider", "names no provider: %s (providers: %s)", q, names);
}

static void check_listeners(tg_jc *ld, const top_ctx *t)
{
    const tg_config *cfg = t->cfg;
    if (cfg->listen_port != cfg->admin_port)
        return;
    if (strcmp(cfg->listen_host, cfg->admin_host) != 0 && !wildcard_host(cfg->listen_host) &&
        !wildcard_host(cfg->admin_host))
        return;
    tg_jc_problem(ld, t->admin_listen_set ? "$.admin.listen" : "$.listen",
                  "the public API and the admin API cannot share port %d", cfg->listen_port);
}

/* ---------------------------------------------------------------- the file */

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

static void load_file(tg_jc *ld, const char *path, tg_config *cfg)
{
    size_t len = 0;
    char *text = tg_jc_read_file(ld, path, TG_CONFIG_MAX_FILE, &len);
    if (!text)
        return;
    cJSON *root = tg_jc_parse(ld, text, len);
    if (!root) {
        free(text);
        return;
    }
    char dir[4096];
    dir_of(path, dir, sizeof dir);
    top_ctx t = {cfg, dir, false, false};
    tg_jc_walk(ld, root, "$", &top_schema, &t);
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
    cfg->max_header_bytes = 8192;
    cfg->max_connections = 16384;
    cfg->stream_buffer_bytes = 262144;
    cfg->client_timeout_s = 300;
    cfg->quota_utc_offset_s = 0;
    cfg->quota_min_output_tokens = TG_CONFIG_MIN_OUTPUT_DEFAULT;
}

int tg_config_load(const char *path, tg_config *cfg, tg_config_problem *probs, int maxprobs)
{
    tg_config_defaults(cfg);
    tg_jc ld;
    tg_jc_init(&ld, path ? path : "embedded defaults", probs, sizeof *probs, maxprobs);
    if (path)
        load_file(&ld, path, cfg);
    if (cfg->workers == 0)
        cfg->workers = online_cpus();
    const char *env = getenv(ENV_STORE);
    if (env && *env) {
        tg_jc el = ld;
        el.file = ENV_STORE " (environment)";
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
