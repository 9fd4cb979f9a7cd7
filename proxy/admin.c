/* tg_admin implementation: one libmicrohttpd daemon with its internal polling thread.
 * The token is compared as SHA-256 digests with CRYPTO_memcmp, so neither its bytes nor
 * its length leak through timing. */
#include "admin.h"

#include "common/buf.h"
#include "common/sha256.h"
#include "policies/catalog.h"
#include "policies/policy.h"
#include "proxy/admin_reports.h"
#include "proxy/admin_teams.h"
#include "quotas/money.h"
#include "quotas/quota.h"
#include "proxy/metrics.h"
#include "proxy/routing.h"
#include "proxy/server.h"
#include "router/route.h"

#include <cjson/cJSON.h>
#include <microhttpd.h>
#include <openssl/crypto.h>
#include <openssl/evp.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <time.h>

#define TG_ADMIN_MAX_RESPONSE ((size_t)16 << 20)
#define TG_ADMIN_MAX_BODY ((size_t)32 << 20) /* a catalog or policy sent to replace */

/* One admin request: its body, bounded. */
typedef struct {
    tg_buf body;
    bool too_big;
} admin_req;

static struct MHD_Daemon *daemon_;
static const tg_config *config_;
static tg_store *store_; /* used by the admin thread only (teams, keys, budgets) */

static enum MHD_Result reply(struct MHD_Connection *con, unsigned status, const char *ctype,
                             const char *body, size_t len)
{
    struct MHD_Response *r =
        MHD_create_response_from_buffer(len, (void *)body, MHD_RESPMEM_MUST_COPY);
    if (!r)
        return MHD_NO;
    MHD_add_response_header(r, "content-type", ctype);
    enum MHD_Result ret = MHD_queue_response(con, status, r);
    MHD_destroy_response(r);
    return ret;
}

static enum MHD_Result reply_error(struct MHD_Connection *con, unsigned status,
                                   const char *type, const char *message)
{
    char body[512];
    cJSON *root = cJSON_CreateObject(), *e = cJSON_AddObjectToObject(root, "error");
    cJSON_AddStringToObject(e, "message", message);
    cJSON_AddStringToObject(e, "type", type);
    if (!cJSON_PrintPreallocated(root, body, sizeof body, 0))
        snprintf(body, sizeof body, "{\"error\":{\"message\":\"error\"}}");
    cJSON_Delete(root);
    return reply(con, status, "application/json", body, strlen(body));
}

static int digest(const char *s, size_t n, unsigned char out[32])
{
    return tg_sha256(s, n, out);
}

/* 1 when the request carries the admin token. */
static int authorized(struct MHD_Connection *con)
{
    const char *want = getenv(config_->admin_token_env);
    const char *auth = MHD_lookup_connection_value(con, MHD_HEADER_KIND, "authorization");
    if (!want || !*want || !auth || strncasecmp(auth, "Bearer ", 7) != 0)
        return 0;
    unsigned char a[32], b[32];
    if (digest(auth + 7, strlen(auth + 7), a) != 0 || digest(want, strlen(want), b) != 0)
        return 0;
    return CRYPTO_memcmp(a, b, sizeof a) == 0;
}

static cJSON *config_json(const tg_config *c)
{
    cJSON *o = cJSON_CreateObject(), *adm = cJSON_AddObjectToObject(o, "admin");
    char hp[TG_CONFIG_NAME_MAX + 16];
    snprintf(hp, sizeof hp, "%s:%d", c->listen_host, c->listen_port);
    cJSON_AddStringToObject(o, "listen", hp);
    snprintf(hp, sizeof hp, "%s:%d", c->admin_host, c->admin_port);
    cJSON_AddStringToObject(adm, "listen", hp);
    cJSON_AddStringToObject(adm, "token_env", c->admin_token_env);
    cJSON_AddNumberToObject(o, "workers", c->workers);
    cJSON_AddStringToObject(o, "store", strncmp(c->store, "sqlite:", 7) == 0 ? c->store
                                                                              : "postgres://***");
    cJSON_AddStringToObject(o, "default_provider", c->default_provider);
    cJSON *ps = cJSON_AddObjectToObject(o, "providers");
    for (int i = 0; i < c->nproviders; i++) {
        const tg_provider_config *p = &c->providers[i];
        cJSON *pj = cJSON_AddObjectToObject(ps, p->name), *t;
        cJSON_AddStringToObject(pj, "format",
                                p->format == TG_FORMAT_ANTHROPIC ? "anthropic" : "openai");
        cJSON_AddStringToObject(pj, "base_url", p->base_url);
        cJSON_AddStringToObject(pj, "api_key_env", p->api_key_env);
        cJSON_AddBoolToObject(pj, "api_key_set", p->api_key_env[0] && getenv(p->api_key_env));
        cJSON_AddBoolToObject(pj, "http2", p->http2);
        t = cJSON_AddObjectToObject(pj, "timeouts");
        cJSON_AddNumberToObject(t, "connect_ms", (double)p->connect_ms);
        cJSON_AddNumberToObject(t, "first_byte_ms", (double)p->first_byte_ms);
        cJSON_AddNumberToObject(t, "idle_ms", (double)p->idle_ms);
        cJSON_AddNumberToObject(t, "total_ms", (double)p->total_ms);
    }
    cJSON *l = cJSON_AddObjectToObject(o, "limits");
    cJSON_AddNumberToObject(l, "max_body_bytes", (double)c->max_body_bytes);
    cJSON_AddNumberToObject(l, "max_header_bytes", (double)c->max_header_bytes);
    cJSON_AddNumberToObject(l, "max_connections", c->max_connections);
    cJSON_AddNumberToObject(l, "stream_buffer_bytes", (double)c->stream_buffer_bytes);
    cJSON_AddNumberToObject(l, "client_timeout_s", c->client_timeout_s);
    cJSON *q = cJSON_AddObjectToObject(o, "quotas");
    int off = c->quota_utc_offset_s < 0 ? -c->quota_utc_offset_s : c->quota_utc_offset_s;
    snprintf(hp, sizeof hp, "%c%02d:%02d", c->quota_utc_offset_s < 0 ? '-' : '+', off / 3600,
             off % 3600 / 60);
    cJSON_AddStringToObject(q, "utc_offset", hp);
    cJSON_AddNumberToObject(q, "min_output_tokens", (double)c->quota_min_output_tokens);
    return o;
}

/* The quota module's counters in Prometheus text format (nothing when not serving). */
static int quota_metrics(tg_buf *b)
{
    tg_quota *q = tg_server_quota();
    if (!q)
        return TG_BUF_OK;
    tg_quota_stats s;
    tg_quota_get_stats(q, &s);
    char usd[TG_MONEY_FMT_SIZE];
    tg_money_format(s.overshoot_nusd, usd, sizeof usd);
    return tg_buf_printf(b,
        "# HELP tollgate_quota_admissions_total Admission decisions by result.\n"
        "# TYPE tollgate_quota_admissions_total counter\n"
        "tollgate_quota_admissions_total{result=\"admitted\"} %llu\n"
        "tollgate_quota_admissions_total{result=\"clamped\"} %llu\n"
        "tollgate_quota_admissions_total{result=\"refused\"} %llu\n"
        "# HELP tollgate_quota_settlements_total Holds ended: settled at actual cost or "
        "released (nothing billed).\n"
        "# TYPE tollgate_quota_settlements_total counter\n"
        "tollgate_quota_settlements_total{result=\"settled\"} %llu\n"
        "tollgate_quota_settlements_total{result=\"released\"} %llu\n"
        "# HELP tollgate_quota_overshoots_total Settlements above their reservation.\n"
        "# TYPE tollgate_quota_overshoots_total counter\n"
        "tollgate_quota_overshoots_total %llu\n"
        "# HELP tollgate_quota_overshoot_usd_total What the overshoots went over, USD.\n"
        "# TYPE tollgate_quota_overshoot_usd_total counter\n"
        "tollgate_quota_overshoot_usd_total %s\n",
        (unsigned long long)s.admitted, (unsigned long long)s.clamped,
        (unsigned long long)s.refused, (unsigned long long)s.settled,
        (unsigned long long)s.released, (unsigned long long)s.overshoots, usd);
}

static enum MHD_Result reply_json(struct MHD_Connection *con, unsigned status, cJSON *j)
{
    char *s = j ? cJSON_Print(j) : NULL;
    cJSON_Delete(j);
    enum MHD_Result ret = s ? reply(con, status, "application/json", s, strlen(s))
                            : reply_error(con, 500, "server_error", "out of memory");
    cJSON_free(s);
    return ret;
}

/* The outcome of a validate / replace / reload: 200 with the running versions, or 422 with
 * every problem. */
static enum MHD_Result reply_routing(struct MHD_Connection *con, int rc,
                                    const tg_routing_problems *p, bool validate_only)
{
    cJSON *o = cJSON_CreateObject();
    cJSON_AddBoolToObject(o, "ok", rc == 0);
    cJSON_AddBoolToObject(o, "validate_only", validate_only);
    if (rc != 0) {
        cJSON *arr = cJSON_AddArrayToObject(o, "problems");
        for (int i = 0; arr && i < p->n && i < TG_ROUTING_MAX_PROBLEMS; i++)
            cJSON_AddItemToArray(arr, cJSON_CreateString(p->lines[i]));
        cJSON_AddNumberToObject(o, "problem_count", p->n);
        return reply_json(con, 422, o);
    }
    tg_route_snapshot *s = tg_route_acquire();
    if (s) {
        cJSON_AddStringToObject(o, "policy_version", tg_policy_version(s->policy));
        cJSON_AddStringToObject(o, "catalog_version", tg_catalog_version(s->catalog));
        cJSON_AddNumberToObject(o, "models", tg_catalog_count(s->catalog));
    }
    tg_route_release(s);
    return reply_json(con, 200, o);
}

static bool query_flag(struct MHD_Connection *con, const char *name)
{
    const char *v = MHD_lookup_connection_value(con, MHD_GET_ARGUMENT_KIND, name);
    return v && (strcmp(v, "1") == 0 || strcmp(v, "true") == 0 || !*v);
}

/* GET/POST/PUT /policy, /catalog, POST /reload. */
static enum MHD_Result on_routing(struct MHD_Connection *con, const char *url,
                                  const char *method, admin_req *ar)
{
    bool get = strcmp(method, "GET") == 0;
    bool put = strcmp(method, "PUT") == 0 || strcmp(method, "POST") == 0;
    bool validate = query_flag(con, "validate_only");
    tg_routing_problems *p = calloc(1, sizeof *p);
    enum MHD_Result ret;
    if (!p)
        return reply_error(con, 500, "server_error", "out of memory");
    if (strcmp(url, "/reload") == 0 && put) {
        ret = reply_routing(con, tg_routing_reload(p), p, false);
    } else if (get) {
        tg_route_snapshot *s = tg_route_acquire();
        size_t len = 0;
        const char *ptext = s ? tg_policy_text(s->policy, &len) : NULL;
        char *ctext = s && url[1] == 'c' ? tg_catalog_to_json(s->catalog) : NULL;
        ret = !s ? reply_error(con, 503, "server_error", "no routing loaded")
              : url[1] == 'p' ? reply(con, 200, "application/json", ptext, len)
              : ctext ? reply(con, 200, "application/json", ctext, strlen(ctext))
                      : reply_error(con, 500, "server_error", "out of memory");
        free(ctext);
        tg_route_release(s);
    } else if (put && ar->too_big) {
        ret = reply_error(con, 413, "invalid_request_error", "The body is too large.");
    } else if (put) {
        const char *text = ar->body.p ? ar->body.p : "";
        int rc = url[1] == 'p'
            ? tg_routing_replace_policy(text, ar->body.len, validate, p)
            : tg_routing_replace_catalog(text, ar->body.len, validate, p);
        ret = reply_routing(con, rc, p, validate);
    } else {
        ret = reply_error(con, 405, "invalid_request_error", "Use GET, PUT or POST.");
    }
    free(p);
    return ret;
}

/* /teams, /keys, /budgets (admin_teams.h). */
static enum MHD_Result on_teams(struct MHD_Connection *con, const char *url,
                                const char *method, admin_req *ar)
{
    if (ar->too_big)
        return reply_error(con, 413, "invalid_request_error", "The body is too large.");
    struct timespec ts;
    clock_gettime(CLOCK_REALTIME, &ts);
    tg_admin_ctx ctx = {.store = store_, .quota = tg_server_quota(),
                        .now_us = (int64_t)ts.tv_sec * 1000000 + ts.tv_nsec / 1000};
    tg_admin_reply out;
    const char *team = MHD_lookup_connection_value(con, MHD_GET_ARGUMENT_KIND, "team");
    tg_admin_teams(&ctx, method, url, team, ar->body.p ? ar->body.p : "", ar->body.len, &out);
    if (!out.json)
        return reply_error(con, 500, "server_error", "out of memory");
    enum MHD_Result ret = reply(con, out.status, "application/json", out.json,
                                strlen(out.json));
    OPENSSL_cleanse(out.json, strlen(out.json)); /* a new key's secret */
    free(out.json);
    return ret;
}

static enum MHD_Result on_admin(void *cls, struct MHD_Connection *con, const char *url,
                                const char *method, const char *version, const char *upload,
                                size_t *upload_size, void **con_cls)
{
    (void)cls, (void)version;
    admin_req *ar = *con_cls;
    if (!ar) { /* first call: headers only */
        ar = calloc(1, sizeof *ar);
        if (!ar)
            return MHD_NO;
        tg_buf_init(&ar->body, TG_ADMIN_MAX_BODY);
        *con_cls = ar;
        return MHD_YES;
    }
    if (*upload_size) {
        if (!ar->too_big && tg_buf_append(&ar->body, upload, *upload_size) != TG_BUF_OK)
            ar->too_big = true;
        *upload_size = 0;
        return MHD_YES;
    }
    if (strcmp(url, "/healthz") == 0)
        return reply(con, 200, "application/json", "{\"status\":\"ok\"}", 15);
    bool finance = false; /* reports, FOCUS export, dashboard: proxy/admin_reports.c */
    enum MHD_Result fret =
        tg_admin_reports_handle(con, config_, url, method, authorized(con), &finance);
    if (finance)
        return fret;
    if (!authorized(con))
        return reply_error(con, 401, "authentication_error",
                           getenv(config_->admin_token_env)
                               ? "Send the admin token as 'Authorization: Bearer <token>'."
                               : "The admin API is locked: its token environment variable "
                                 "is not set.");
    if (strcmp(url, "/policy") == 0 || strcmp(url, "/catalog") == 0 ||
        strcmp(url, "/reload") == 0)
        return on_routing(con, url, method, ar);
    if (tg_admin_teams_path(url))
        return on_teams(con, url, method, ar);
    if (strcmp(method, "GET") != 0)
        return reply_error(con, 405, "invalid_request_error", "Use GET.");
    if (strcmp(url, "/metrics") == 0) {
        tg_buf b;
        tg_buf_init(&b, TG_ADMIN_MAX_RESPONSE);
        enum MHD_Result ret = tg_metrics_render(&b) == TG_BUF_OK && quota_metrics(&b) == TG_BUF_OK
            ? reply(con, 200, "text/plain; version=0.0.4", b.p, b.len)
            : reply_error(con, 500, "server_error", "metrics too large");
        tg_buf_free(&b);
        return ret;
    }
    if (strcmp(url, "/config") == 0) {
        cJSON *j = config_json(config_);
        char *s = cJSON_Print(j);
        cJSON_Delete(j);
        enum MHD_Result ret = s ? reply(con, 200, "application/json", s, strlen(s)) : MHD_NO;
        cJSON_free(s);
        return ret;
    }
    return reply_error(con, 404, "invalid_request_error", "Unknown admin path.");
}

static void on_admin_done(void *cls, struct MHD_Connection *con, void **con_cls,
                          enum MHD_RequestTerminationCode toe)
{
    (void)cls, (void)con, (void)toe;
    admin_req *ar = *con_cls;
    if (ar) {
        tg_buf_free(&ar->body);
        free(ar);
    }
    *con_cls = NULL;
}

int tg_admin_start(const tg_config *cfg, char *err, size_t errlen)
{
    struct sockaddr_storage ss;
    bool v6;
    config_ = cfg;
    if (tg_server_resolve(cfg->admin_host, cfg->admin_port, &ss, &v6, err, errlen) != 0)
        return -1;
    if (tg_store_open(cfg->store, &store_, err, errlen) != TG_STORE_OK)
        return -1;
    daemon_ = MHD_start_daemon(MHD_USE_INTERNAL_POLLING_THREAD | MHD_USE_AUTO |
                                   (v6 ? MHD_USE_IPv6 : 0),
                               (uint16_t)cfg->admin_port, NULL, NULL, on_admin, NULL,
                               MHD_OPTION_SOCK_ADDR, (struct sockaddr *)&ss,
                               MHD_OPTION_CONNECTION_LIMIT, 64U,
                               MHD_OPTION_CONNECTION_TIMEOUT, 30U,
                               MHD_OPTION_NOTIFY_COMPLETED, on_admin_done, NULL,
                               MHD_OPTION_END);
    if (!daemon_) {
        snprintf(err, errlen, "cannot listen on %s:%d for the admin API (in use?)",
                 cfg->admin_host, cfg->admin_port);
        return -1;
    }
    return 0;
}

void tg_admin_stop(void)
{
    if (daemon_)
        MHD_stop_daemon(daemon_);
    daemon_ = NULL;
    tg_store_close(store_);
    store_ = NULL;
    tg_admin_reports_stop();
}
