/* The Anthropic dialect (Messages API, POST /v1/messages).
 *
 * Errors: {"type":"error","error":{"type","message"}} with Anthropic's own error types
 * (invalid_request_error, authentication_error, permission_error, not_found_error,
 * request_too_large, rate_limit_error, api_error, timeout_error, overloaded_error): the
 * OpenAI-style type/code tollgate's core names an error with are mapped onto them.
 *
 * Usage: input_tokens EXCLUDES cache reads (cache_read_input_tokens) and cache writes
 * (cache_creation_input_tokens, split by TTL in cache_creation.ephemeral_5m_input_tokens /
 * ephemeral_1h_input_tokens); tg_usage.input is their sum.  A stream always carries usage:
 * message_start holds the input side (and an early output count), message_delta the final
 * output_tokens — CUMULATIVE, and newer API versions repeat the input fields there too.  So
 * each field a later event reports REPLACES the earlier value; nothing is ever added, which
 * is how cache tokens are counted once (trackers that add message_start and message_delta
 * count them twice).  Streams pass through unchanged. */
#include "dialect.h"

#include <string.h>

#define TG_ANTH_USAGE_MAX 1e15 /* tokens; a larger reported count is held at this */

static const cJSON *obj(const cJSON *o, const char *key)
{
    const cJSON *v = cJSON_GetObjectItemCaseSensitive(o, key);
    return cJSON_IsObject(v) ? v : NULL;
}

/* A token count: true with *out set when `key` holds a number (negative: 0; huge: held). */
static bool count(const cJSON *o, const char *key, int64_t *out)
{
    const cJSON *v = cJSON_GetObjectItemCaseSensitive(o, key);
    if (!cJSON_IsNumber(v))
        return false;
    double d = v->valuedouble;
    *out = !(d >= 0) ? 0 : d > TG_ANTH_USAGE_MAX ? (int64_t)TG_ANTH_USAGE_MAX : (int64_t)d;
    return true;
}

/* The error type Anthropic would use for an error tollgate names in OpenAI's words. */
static const char *anth_type(const char *type, const char *code)
{
    static const struct {
        const char *from, *to;
    } by_code[] = {
        {"missing_api_key", "authentication_error"}, {"invalid_api_key", "authentication_error"},
        {"model_not_found", "not_found_error"},      {"unknown_url", "not_found_error"},
        {"request_too_large", "request_too_large"},  {"insufficient_quota", "rate_limit_error"},
        {"rate_limit_exceeded", "rate_limit_error"}, {"upstream_timeout", "timeout_error"},
        {"connection_limit_reached", "overloaded_error"},
        {"model_not_allowed", "permission_error"},
    };
    for (size_t i = 0; code && i < sizeof by_code / sizeof *by_code; i++)
        if (strcmp(code, by_code[i].from) == 0)
            return by_code[i].to;
    if (!type)
        return "api_error";
    if (strcmp(type, "server_error") == 0)
        return "api_error";
    if (strcmp(type, "insufficient_quota") == 0 || strcmp(type, "requests") == 0 ||
        strcmp(type, "tokens") == 0)
        return "rate_limit_error";
    return type; /* invalid_request_error, permission_error, Anthropic's own names */
}

static int anthropic_error_body(tg_buf *out, const char *type, const char *code,
                                const char *message)
{
    cJSON *root = cJSON_CreateObject();
    cJSON_AddStringToObject(root, "type", "error");
    cJSON *err = cJSON_AddObjectToObject(root, "error");
    if (!err) {
        cJSON_Delete(root);
        return TG_BUF_NOMEM;
    }
    cJSON_AddStringToObject(err, "type", anth_type(type, code));
    cJSON_AddStringToObject(err, "message", message);
    char *s = cJSON_PrintUnformatted(root);
    cJSON_Delete(root);
    if (!s)
        return TG_BUF_NOMEM;
    int rc = tg_buf_puts(out, s);
    cJSON_free(s);
    return rc;
}

/* Applies the fields present in an Anthropic usage object to *u: each replaces what an
 * earlier event said (message_delta's counts are cumulative), absent ones are kept. */
static void apply_usage(const cJSON *usage, tg_usage *u)
{
    if (!usage)
        return;
    int64_t in = u->input - u->cached_input - u->cache_write;
    int64_t read = u->cached_input, write = u->cache_write, w1h = u->cache_write_1h;
    int64_t w5m = write - w1h, v;
    if (in < 0)
        in = 0;
    (void)count(usage, "input_tokens", &in);
    (void)count(usage, "cache_read_input_tokens", &read);
    bool total = count(usage, "cache_creation_input_tokens", &write);
    const cJSON *cc = obj(usage, "cache_creation");
    if (cc) {
        bool has5 = count(cc, "ephemeral_5m_input_tokens", &w5m);
        bool has1 = count(cc, "ephemeral_1h_input_tokens", &w1h);
        if (!total && (has5 || has1))
            write = w5m + w1h;
    } /* no breakdown: the 1-hour part said before stands (none: all 5-minute) */
    if (w1h > write)
        w1h = write;
    if (count(usage, "output_tokens", &v))
        u->output = v;
    u->cached_input = read;
    u->cache_write = write;
    u->cache_write_1h = w1h;
    u->input = in + read + write;
    u->reported = true;
}

static void anthropic_usage_from_json(const cJSON *resp, tg_usage *u)
{
    apply_usage(obj(resp, "usage"), u);
}

/* Anthropic streams always report usage: nothing to ask for. */
static int anthropic_ask_stream_usage(cJSON *body, bool *injected)
{
    (void)body;
    *injected = false;
    return 0;
}

static int anthropic_sse_event(tg_sse_state *st, const char *ev, size_t len, tg_buf *out)
{
    tg_buf data;
    tg_buf_init(&data, len + 1);
    cJSON *e = NULL;
    if (tg_sse_data(ev, len, &data) == 0 && data.len)
        e = cJSON_ParseWithLength(data.p, data.len);
    tg_buf_free(&data);
    const cJSON *type = cJSON_GetObjectItemCaseSensitive(e, "type");
    const char *t = cJSON_IsString(type) ? type->valuestring : "";
    if (strcmp(t, "message_start") == 0) {
        apply_usage(obj(obj(e, "message"), "usage"), &st->usage);
    } else if (strcmp(t, "message_delta") == 0) {
        apply_usage(obj(e, "usage"), &st->usage);
    } else if (strcmp(t, "message_stop") == 0) {
        st->done = true;
    } else if (strcmp(t, "content_block_delta") == 0) {
        const cJSON *d = obj(e, "delta");
        const cJSON *txt = cJSON_GetObjectItemCaseSensitive(d, "text");
        if (!cJSON_IsString(txt))
            txt = cJSON_GetObjectItemCaseSensitive(d, "partial_json");
        int full = cJSON_IsString(txt) ? tg_buf_puts(&st->delivered, txt->valuestring) : 0;
        (void)full; /* a full buffer just stops growing: the figure is an estimate */
    }
    cJSON_Delete(e);
    int rc = tg_buf_append(out, ev, len);
    return rc == TG_BUF_OK ? tg_buf_append(out, "\n\n", 2) : rc;
}

const tg_dialect tg_dialect_anthropic = {
    .name = "anthropic",
    .error_body = anthropic_error_body,
    .usage_from_json = anthropic_usage_from_json,
    .ask_stream_usage = anthropic_ask_stream_usage,
    .sse_event = anthropic_sse_event,
};
