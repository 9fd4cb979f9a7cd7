/* The OpenAI dialect (chat completions, completions, embeddings, responses).
 *
 * Errors: {"error":{"message","type","param","code"}}.  Usage: chat and completions report
 * prompt_tokens (cached included, in prompt_tokens_details.cached_tokens) and
 * completion_tokens (reasoning included, in completion_tokens_details.reasoning_tokens);
 * the Responses API reports input_tokens / output_tokens with *_details.  In a stream,
 * usage comes only when the request says stream_options.include_usage: then every chunk
 * carries "usage":null and one last chunk with "choices":[] carries the usage.  When the
 * client did not ask, tollgate asks anyway and hides both, so the client sees the stream
 * the vendor would have sent it. */
#include "dialect.h"

#include <string.h>

static int openai_error_body(tg_buf *out, const char *type, const char *code,
                             const char *message)
{
    cJSON *root = cJSON_CreateObject(), *err = cJSON_AddObjectToObject(root, "error");
    if (!err) {
        cJSON_Delete(root);
        return TG_BUF_NOMEM;
    }
    cJSON_AddStringToObject(err, "message", message);
    cJSON_AddStringToObject(err, "type", type);
    cJSON_AddNullToObject(err, "param");
    if (code)
        cJSON_AddStringToObject(err, "code", code);
    else
        cJSON_AddNullToObject(err, "code");
    char *s = cJSON_PrintUnformatted(root);
    cJSON_Delete(root);
    if (!s)
        return TG_BUF_NOMEM;
    int rc = tg_buf_puts(out, s);
    cJSON_free(s);
    return rc;
}

#define TG_USAGE_MAX 1e15 /* tokens; a larger reported count is held at this */

/* A token count from a usage object: missing, negative or not a number is 0; an absurdly
 * large one is held at TG_USAGE_MAX (never converted out of int64's range). */
static int64_t num(const cJSON *obj, const char *key)
{
    const cJSON *v = cJSON_GetObjectItemCaseSensitive(obj, key);
    if (!cJSON_IsNumber(v) || !(v->valuedouble >= 0))
        return 0;
    return v->valuedouble > TG_USAGE_MAX ? (int64_t)TG_USAGE_MAX : (int64_t)v->valuedouble;
}

static const cJSON *obj(const cJSON *o, const char *key)
{
    const cJSON *v = cJSON_GetObjectItemCaseSensitive(o, key);
    return cJSON_IsObject(v) ? v : NULL;
}

/* Reads an OpenAI usage object (either vocabulary) into *u. */
static void read_usage(const cJSON *usage, tg_usage *u)
{
    if (!usage)
        return;
    u->reported = true;
    if (cJSON_GetObjectItemCaseSensitive(usage, "input_tokens")) { /* Responses API */
        u->input = num(usage, "input_tokens");
        u->output = num(usage, "output_tokens");
        u->cached_input = num(obj(usage, "input_tokens_details"), "cached_tokens");
        u->reasoning = num(obj(usage, "output_tokens_details"), "reasoning_tokens");
        return;
    }
    u->input = num(usage, "prompt_tokens");
    u->output = num(usage, "completion_tokens");
    u->cached_input = num(obj(usage, "prompt_tokens_details"), "cached_tokens");
    u->reasoning = num(obj(usage, "completion_tokens_details"), "reasoning_tokens");
}

static void openai_usage_from_json(const cJSON *resp, tg_usage *u)
{
    read_usage(obj(resp, "usage"), u);
}

static int openai_ask_stream_usage(cJSON *body, bool *injected)
{
    *injected = false;
    if (!cJSON_IsTrue(cJSON_GetObjectItemCaseSensitive(body, "stream")))
        return 0;
    /* stream_options given twice (serve refuses such bodies; stay safe anyway): keep
     * neither copy and ask afresh below */
    int count = 0;
    for (const cJSON *c = body->child; c; c = c->next)
        count += c->string && strcmp(c->string, "stream_options") == 0;
    while (count > 1 && cJSON_GetObjectItemCaseSensitive(body, "stream_options"))
        cJSON_DeleteItemFromObjectCaseSensitive(body, "stream_options");
    cJSON *so = cJSON_GetObjectItemCaseSensitive(body, "stream_options");
    if (cJSON_IsObject(so) &&
        cJSON_IsTrue(cJSON_GetObjectItemCaseSensitive(so, "include_usage")))
        return 0;
    if (!cJSON_IsObject(so)) {
        cJSON_DeleteItemFromObjectCaseSensitive(body, "stream_options");
        so = cJSON_AddObjectToObject(body, "stream_options");
        if (!so)
            return -1;
    }
    cJSON_DeleteItemFromObjectCaseSensitive(so, "include_usage");
    if (!cJSON_AddTrueToObject(so, "include_usage"))
        return -1;
    *injected = true;
    return 0;
}

/* Appends the content text a chunk delivers (chat delta, completion text, responses
 * delta) to st->delivered; a full buffer just stops growing (the figure is an estimate). */
static void note_delivered(tg_sse_state *st, const cJSON *chunk)
{
    const cJSON *choices = cJSON_GetObjectItemCaseSensitive(chunk, "choices"), *c;
    cJSON_ArrayForEach(c, choices)
    {
        const cJSON *delta = obj(c, "delta");
        const cJSON *t = cJSON_GetObjectItemCaseSensitive(delta ? delta : c,
                                                          delta ? "content" : "text");
        if (cJSON_IsString(t) && tg_buf_puts(&st->delivered, t->valuestring) != TG_BUF_OK)
            return;
    }
    const cJSON *type = cJSON_GetObjectItemCaseSensitive(chunk, "type");
    const cJSON *delta = cJSON_GetObjectItemCaseSensitive(chunk, "delta");
    if (cJSON_IsString(type) && strcmp(type->valuestring, "response.output_text.delta") == 0 &&
        cJSON_IsString(delta) && tg_buf_puts(&st->delivered, delta->valuestring) != TG_BUF_OK)
        return; /* full: the estimate stops growing */
}

/* Appends ev without its last `"usage":null` member (the one tollgate caused). */
static int append_without_null_usage(tg_buf *out, const char *ev, size_t len)
{
    static const char *const pats[] = {",\"usage\":null", ",\"usage\": null",
                                       "\"usage\":null,", "\"usage\": null,"};
    for (size_t i = 0; i < sizeof pats / sizeof *pats; i++) {
        size_t pl = strlen(pats[i]);
        const char *hit = NULL;
        for (const char *p = ev; (p = memmem(p, len - (size_t)(p - ev), pats[i], pl)); p++)
            hit = p;
        if (!hit)
            continue;
        int rc = tg_buf_append(out, ev, (size_t)(hit - ev));
        if (rc == TG_BUF_OK)
            rc = tg_buf_append(out, hit + pl, len - (size_t)(hit - ev) - pl);
        return rc;
    }
    return tg_buf_append(out, ev, len);
}

int tg_sse_data(const char *ev, size_t len, tg_buf *data)
{
    const char *p = ev, *end = ev + len;
    while (p < end) {
        const char *nl = memchr(p, '\n', (size_t)(end - p));
        const char *eol = nl ? nl : end;
        size_t n = (size_t)(eol - p);
        if (n && p[n - 1] == '\r')
            n--;
        if (n >= 5 && memcmp(p, "data:", 5) == 0) {
            const char *v = p + 5;
            size_t vn = n - 5;
            if (vn && *v == ' ')
                v++, vn--;
            if (data->len && tg_buf_append(data, "\n", 1) != TG_BUF_OK)
                return -1;
            if (tg_buf_append(data, v, vn) != TG_BUF_OK)
                return -1;
        }
        p = nl ? nl + 1 : end;
    }
    return 0;
}

/* Whitespace from i on, as cJSON skips it (every byte up to 0x20, NUL included): the
 * first index past it. */
static size_t json_ws(const char *p, size_t i, size_t n)
{
    while (i < n && (unsigned char)p[i] <= 0x20)
        i++;
    return i;
}

/* Past the string opening at p[i] ('"'): the index after its closing quote, or 0 when it
 * does not close (or holds a raw control character); *esc set when it has a backslash. */
static size_t json_skip_string(const char *p, size_t i, size_t n, bool *esc)
{
    for (i++; i < n; i++) {
        if (p[i] == '\\') {
            *esc = true;
            i++;
        } else if (p[i] == '"') {
            return i + 1;
        } else if ((unsigned char)p[i] < 0x20) {
            return 0;
        }
    }
    return 0;
}

/* Past the value at p[i]: 0 when it does not end.  Tokens are strings, brackets,
 * separators and runs of other bytes (numbers, literals); only nesting is kept count of. */
static size_t json_skip_value(const char *p, size_t i, size_t n)
{
    size_t depth = 0;
    bool esc = false;
    do {
        i = json_ws(p, i, n);
        if (i >= n)
            return 0;
        char c = p[i];
        if (c == '"') {
            if (!(i = json_skip_string(p, i, n, &esc)))
                return 0;
        } else if (c == '{' || c == '[') {
            depth++, i++;
        } else if (c == '}' || c == ']') {
            if (!depth)
                return 0;
            depth--, i++;
        } else if (c == ',' || c == ':') {
            if (!depth)
                return 0;
            i++;
        } else {
            size_t s = i;
            while (i < n && (unsigned char)p[i] > 0x20 && !strchr(",:{}[]\"", p[i]))
                i++;
            if (i == s)
                return 0;
        }
    } while (depth);
    return i;
}

int tg_json_top_member(const char *p, size_t n, const char *key, const char **val,
                       size_t *vlen)
{
    size_t klen = strlen(key), i = json_ws(p, 0, n);
    if (i >= n || p[i] != '{')
        return -1;
    i = json_ws(p, i + 1, n);
    if (i < n && p[i] == '}')
        return 0;
    for (;;) {
        bool esc = false;
        size_t ke = i < n && p[i] == '"' ? json_skip_string(p, i, n, &esc) : 0;
        if (!ke || esc)
            return -1;
        bool match = ke - i - 2 == klen && memcmp(p + i + 1, key, klen) == 0;
        i = json_ws(p, ke, n);
        if (i >= n || p[i] != ':')
            return -1;
        size_t vs = json_ws(p, i + 1, n), ve = json_skip_value(p, vs, n);
        if (!ve)
            return -1;
        if (match) {
            *val = p + vs, *vlen = ve - vs;
            return 1;
        }
        i = json_ws(p, ve, n);
        if (i < n && p[i] == '}')
            return 0;
        if (i >= n || p[i] != ',')
            return -1;
        i = json_ws(p, i + 1, n);
    }
}

void tg_dialect_usage_of(const tg_dialect *d, const char *p, size_t n, tg_usage *u)
{
    const char *v;
    size_t vlen;
    int found = tg_json_top_member(p, n, "usage", &v, &vlen);
    if (found == 0)
        return;
    cJSON *root = NULL;
    if (found < 0) {
        root = cJSON_ParseWithLength(p, n);
    } else {
        cJSON *usage = cJSON_ParseWithLength(v, vlen);
        root = usage ? cJSON_CreateObject() : NULL;
        if (root)
            cJSON_AddItemToObject(root, "usage", usage);
        else
            cJSON_Delete(usage);
    }
    if (root)
        d->usage_from_json(root, u);
    cJSON_Delete(root);
}

static int openai_sse_event(tg_sse_state *st, const char *ev, size_t len, tg_buf *out)
{
    tg_buf data;
    tg_buf_init(&data, len + 1);
    if (tg_sse_data(ev, len, &data) != 0 || data.len == 0 ||
        strcmp(data.p, "[DONE]") == 0) {
        if (data.p && strcmp(data.p, "[DONE]") == 0)
            st->done = true;
        tg_buf_free(&data);
        int rc = tg_buf_append(out, ev, len);
        return rc == TG_BUF_OK ? tg_buf_append(out, "\n\n", 2) : rc;
    }
    cJSON *chunk = cJSON_ParseWithLength(data.p, data.len);
    tg_buf_free(&data);
    bool drop = false, strip = false;
    if (chunk) {
        note_delivered(st, chunk);
        const cJSON *usage = obj(chunk, "usage");
        const cJSON *resp = obj(chunk, "response"); /* responses API: response.completed */
        if (!usage && resp)
            usage = obj(resp, "usage");
        if (usage)
            read_usage(usage, &st->usage);
        const cJSON *choices = cJSON_GetObjectItemCaseSensitive(chunk, "choices");
        if (st->strip_usage && usage && cJSON_IsArray(choices) &&
            cJSON_GetArraySize(choices) == 0)
            drop = true;
        else if (st->strip_usage && cJSON_IsNull(cJSON_GetObjectItemCaseSensitive(chunk, "usage")))
            strip = true;
        cJSON_Delete(chunk);
    }
    if (drop)
        return TG_BUF_OK;
    int rc = strip ? append_without_null_usage(out, ev, len) : tg_buf_append(out, ev, len);
    return rc == TG_BUF_OK ? tg_buf_append(out, "\n\n", 2) : rc;
}

const tg_dialect tg_dialect_openai = {
    .name = "openai",
    .error_body = openai_error_body,
    .usage_from_json = openai_usage_from_json,
    .ask_stream_usage = openai_ask_stream_usage,
    .sse_event = openai_sse_event,
};
