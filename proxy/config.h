/* tg_config: tollgate's configuration (SPEC.md "Configuration").
 *
 * One JSON file; every field optional with a default, so `tollgate serve` with no file runs
 * on embedded defaults.  Secrets are never in the file: only the NAMES of environment
 * variables that hold them (api_key_env, admin.token_env).  A loaded config is immutable
 * and shared read-only by all threads.
 *
 * {
 *   "listen": "127.0.0.1:8080",                 public API (host:port; [v6]:port)
 *   "workers": 0,                               event-loop threads; 0 = one per core
 *   "admin": {"listen": "127.0.0.1:8081", "token_env": "TOLLGATE_ADMIN_TOKEN"},
 *   "store": "sqlite:./var/tollgate.db",        or "postgres://..." (later)
 *   "catalog": ["file.json", ...],              model catalog files (router issue)
 *   "policy": "policy.json",                    routing policy (router issue)
 *   "default_provider": "openai",               provider for models no rule names
 *   "providers": {
 *     "openai":    {"format": "openai", "base_url": "https://api.openai.com",
 *                   "api_key_env": "OPENAI_API_KEY",
 *                   "timeouts": {"connect_ms": 5000, "first_byte_ms": 60000,
 *                                "idle_ms": 60000, "total_ms": 600000},
 *                   "http2": false,             true: HTTP/2 to this upstream, many
 *                                               streams multiplexed on each connection
 *                                               (ALPN over https://; cleartext h2c with
 *                                               prior knowledge needs libcurl >= 8.0)
 *                   "ca_file": ""},             PEM CA bundle to verify this upstream's
 *                                               TLS certificate with (a private CA);
 *                                               "": the system's store
 *     "anthropic": {"format": "anthropic", "base_url": "https://api.anthropic.com",
 *                   "api_key_env": "ANTHROPIC_API_KEY", ...}
 *   },
 *   "limits": {"max_body_bytes": 8388608, "max_header_bytes": 8192,
 *              "max_connections": 16384, "stream_buffer_bytes": 262144,
 *              "client_timeout_s": 300},
 *   "quotas": {"utc_offset": "+00:00",          the budgets' calendar: days, weeks and
 *                                               months start at midnight of this fixed
 *                                               offset (no daylight saving); "Z" = UTC
 *              "min_output_tokens": 64}         clamping never lowers an output cap below
 * }
 * A "providers" object given in the file replaces the default set whole. */
#ifndef TG_CONFIG_H
#define TG_CONFIG_H
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define TG_CONFIG_MAX_FILE ((size_t)4 << 20)  /* a config file larger than this is refused */
#define TG_CONFIG_MAX_PROVIDERS 32
#define TG_CONFIG_MAX_CATALOG 16
#define TG_CONFIG_NAME_MAX 64
#define TG_CONFIG_STR_MAX 512
#define TG_CONFIG_MIN_OUTPUT_DEFAULT 64 /* quotas.min_output_tokens */

typedef enum { TG_FORMAT_OPENAI = 0, TG_FORMAT_ANTHROPIC = 1 } tg_format;

typedef struct {
    char name[TG_CONFIG_NAME_MAX];
    tg_format format;
    char base_url[TG_CONFIG_STR_MAX];   /* no trailing slash */
    char api_key_env[TG_CONFIG_NAME_MAX];
    long connect_ms, first_byte_ms, idle_ms, total_ms;
    bool http2;                         /* multiplex requests over HTTP/2 connections */
    char ca_file[TG_CONFIG_STR_MAX];    /* "": the system's CA store */
} tg_provider_config;

typedef struct {
    char listen_host[TG_CONFIG_NAME_MAX];
    int listen_port;
    char admin_host[TG_CONFIG_NAME_MAX];
    int admin_port;
    char admin_token_env[TG_CONFIG_NAME_MAX];
    int workers;                         /* resolved: >= 1 */
    char store[TG_CONFIG_STR_MAX];
    char catalog[TG_CONFIG_MAX_CATALOG][TG_CONFIG_STR_MAX];
    int ncatalog;
    char policy[TG_CONFIG_STR_MAX];
    char default_provider[TG_CONFIG_NAME_MAX];
    tg_provider_config providers[TG_CONFIG_MAX_PROVIDERS];
    int nproviders;
    size_t max_body_bytes, max_header_bytes, stream_buffer_bytes;
    unsigned max_connections;
    unsigned client_timeout_s;
    int quota_utc_offset_s;              /* seconds east of UTC, |x| <= 18 h */
    long quota_min_output_tokens;        /* >= 1 */
} tg_config;

/* One problem found while loading: the file, the JSON path ("$.providers.openai.format")
 * and what is wrong. */
typedef struct {
    char text[TG_CONFIG_STR_MAX + 128];
} tg_config_problem;

/* Fills *cfg with the embedded defaults. */
void tg_config_defaults(tg_config *cfg);

/* Loads `path` (NULL: defaults only, plus env TOLLGATE_STORE overriding "store") into
 * *cfg.  Every problem found is stored in probs[0..maxprobs) (the count returned may be
 * larger than maxprobs: the rest are dropped) — the load goes on after a problem so that
 * `tollgate check` can print them all.  Returns the number of problems; *cfg is usable
 * only when it is 0. */
int tg_config_load(const char *path, tg_config *cfg, tg_config_problem *probs, int maxprobs);

/* The provider called `name`, or NULL. */
const tg_provider_config *tg_config_provider(const tg_config *cfg, const char *name);

#endif
