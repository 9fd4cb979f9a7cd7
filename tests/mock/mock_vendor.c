/*
 * mock_vendor: a fake OpenAI + Anthropic upstream for tollgate's integration tests and
 * benchmarks (the real vendor APIs cannot be reached from the test machines).
 *
 * WHAT IT ANSWERS (the vendors' real wire formats)
 *   OpenAI     POST /v1/chat/completions, /v1/completions, /v1/embeddings, /v1/responses
 *              GET  /v1/models, /v1/models/{id}
 *   Anthropic  POST /v1/messages, /v1/messages/count_tokens
 *              (GET /v1/models answers in Anthropic's format when the request carries
 *              x-api-key and no Authorization header)
 *   Mock       GET /mock/stats, POST /mock/reset (zeroes all but streams_open); neither
 *              needs a key nor is counted. /mock/stats: {requests, by_path{PATH:n},
 *              by_status{"CODE":n} ("0" = hang), streams_open, streams_completed,
 *              streams_aborted_by_client (client left before the end), streams_broken
 *              (x-mock-break-after), requests_aborted_by_client (left during delay/hang),
 *              last_request{method, path, headers (lower-case names; authorization and
 *              x-api-key cut to 8 characters), auth_key_prefix (8), auth_matches_env,
 *              body_too_big, body (JSON, or the raw text)}, recent[<=32]{method, path, model,
 *              stream, status}}
 *   Auth: OpenAI routes read "Authorization: Bearer KEY", Anthropic routes "x-api-key: KEY"
 *   and also require "anthropic-version" and "max_tokens", as the real API does. Env
 *   MOCK_API_KEY set: only that key is accepted; unset: any non-empty key. Wrong or missing
 *   key: 401 with the vendor's real error body.
 *
 * USAGE
 *   mock_vendor [--port N] [--host ADDR] [--threads N] [--knob NAME=VALUE]...
 *   --port 0 (the default) picks a free port. The first stdout line is "listening on PORT"
 *   (flushed). --host defaults to 127.0.0.1 (IPv6 literals work too). --knob gives a default
 *   for an x-mock-* header, used when a request lacks that header (for runs through a proxy
 *   that does not forward x-mock-* headers). SIGINT / SIGTERM stop it cleanly.
 *
 * HEADER KNOBS (per request, all optional; a bad value gives 400 naming the header)
 *   A request is judged in this order: unknown path or method 404, body over 8 MiB 413,
 *   key 401, bad knob 400, x-mock-status, JSON and vendor validation 400, success. Delay
 *   and hang apply to whichever reply results.
 *   x-mock-status: S            answer S (400..599) with the vendor's real error body
 *                               (OpenAI 429 rate_limit_exceeded, 500 server_error, 502/504
 *                               Cloudflare JSON, 503 overloaded; Anthropic 429
 *                               rate_limit_error, 529 overloaded_error, 500 api_error, ...)
 *   x-mock-quota: 1             with x-mock-status: 429 on OpenAI routes: the
 *                               insufficient_quota variant instead of rate_limit_exceeded
 *   x-mock-context-length: 1    with x-mock-status: 400 on OpenAI routes: the
 *                               context_length_exceeded error instead of a generic 400
 *   x-mock-retry-after: S       retry-after seconds sent with a 429 (default 1)
 *   x-mock-fault-models: a,b    apply the fault knobs (status, delay, hang, break, stall,
 *                               stream-error) only when the request's model is listed
 *   x-mock-delay-ms: N          wait N ms before sending the response headers
 *   x-mock-hang: 1              never answer; the request ends when the client leaves
 *   x-mock-chunk-delay-ms: N    N ms between SSE events (the first event is immediate)
 *   x-mock-break-after: K       streams: close the connection abruptly after K events (no
 *                               terminating chunk, no [DONE], no usage); 200 JSON replies:
 *                               send the headers and the first K body bytes, then close
 *                               (K = 0: close without any response)
 *   x-mock-stall-after: K       streams: after K events go silent, connection kept open
 *   x-mock-stream-error-after: K  streams: after K events send the vendor's in-stream error
 *                               event, then end the stream (no [DONE], no usage)
 *   x-mock-words: N             natural reply length in words (default 16)
 *   x-mock-prompt-tokens: N     input tokens to report (default: the estimate below)
 *   x-mock-completion-tokens: N output tokens to report whatever the text (overshoot tests)
 *   x-mock-cached-tokens: N     OpenAI cached_tokens (clipped to the prompt tokens)
 *   x-mock-reasoning-tokens: N  reasoning tokens, counted inside completion/output tokens
 *   x-mock-cache-read-tokens: N       Anthropic cache_read_input_tokens
 *   x-mock-cache-write-tokens: N      Anthropic cache creation, 5-minute TTL
 *   x-mock-cache-write-1h-tokens: N   Anthropic cache creation, 1-hour TTL
 *
 * DETERMINISTIC REPLIES AND USAGE
 *   The reply text is "w0 w1 w2 ..."; streams send one word per delta ("w0", " w1", ...).
 *   cap = max_completion_tokens or max_tokens (chat), max_tokens (completions, default 16;
 *   Anthropic), max_output_tokens (responses); none = no cap.
 *   reasoning R = min(x-mock-reasoning-tokens or 0, cap).
 *   words W = min(x-mock-words or 16, cap - R). W below the natural length ends with
 *   finish_reason "length" / stop_reason "max_tokens" / status "incomplete".
 *   completion_tokens / output_tokens = W + R, or x-mock-completion-tokens.
 *   prompt_tokens / input_tokens = x-mock-prompt-tokens, or else max(1, ceil(B / 4) + I):
 *   B = UTF-8 bytes of every JSON string under the prompt fields (messages, system, prompt,
 *   input, instructions), values of "role" and "type" keys excluded; I = integers inside
 *   arrays there (token-id prompts). Tools and per-message overheads are not counted.
 *   OpenAI prompt_tokens include the cached ones; Anthropic input_tokens exclude cache
 *   reads and writes, as in the real APIs. Embeddings: one vector per input, "dimensions"
 *   floats (default 1536), values derived from the input, float or base64.
 *
 * DESIGN
 *   One libmicrohttpd epoll thread (MHD_USE_EPOLL_INTERNAL_THREAD; --threads N for a pool)
 *   serves every connection and never blocks. libmicrohttpd 0.9.75 busy-loops when a
 *   content reader returns 0 in internal-polling mode, so nothing waits that way: whenever
 *   a request must wait (delay, hang, pacing between SSE events, stall) its callback
 *   suspends the connection (MHD_suspend_connection, legal from the access handler and the
 *   content reader) and files it in a min-heap keyed by wake-up time; one timer thread
 *   resumes connections when they are due (MHD_resume_connection; the ITC wakes the loop).
 *   Resumes are batched (see timer_main): 0.9.75 walks every suspended connection on each
 *   loop pass with a resume pending. libmicrohttpd does not watch suspended sockets, so a
 *   waiting connection wakes at least every MOCK_POLL_MS and peeks its socket (recv
 *   MSG_PEEK): a client that left is noticed and its request closed. Deliberate closes
 *   (break, client gone) also shutdown() the socket (see close_now). Stream events are
 *   generated on demand from the event index; nothing is pre-rendered.
 *   Measured (tests/mock/many_streams.py, 2-core machine): 10,000 concurrent streams at one
 *   event per second: 3 threads, ~23 KiB RSS per open stream (mostly libmicrohttpd's 16 KiB
 *   connection pool), ~0.3 of a core; 5,000 streams at 5 events/s: ~0.36 of a core.
 *   Lock order: g_timer.mu, then libmicrohttpd's internal mutex (suspend/resume);
 *   g_stats.mu is never held with another lock.
 */
#include <arpa/inet.h>
#include <cjson/cJSON.h>
#include <errno.h>
#include <microhttpd.h>
#include <netinet/in.h>
#include <pthread.h>
#include <signal.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <time.h>

#define WARN_UNUSED __attribute__((warn_unused_result))

/* Limits, all named here. */
#define MOCK_MAX_BODY ((size_t)8 << 20)    /* request body; over it: 413 */
#define MOCK_MAX_REPLY ((size_t)64 << 20)  /* one generated JSON reply or SSE event */
#define MOCK_MAX_WORDS 1000000L            /* x-mock-words */
#define MOCK_DEFAULT_WORDS 16L
#define MOCK_MAX_DIMS 8192L                /* embeddings "dimensions" */
#define MOCK_DEFAULT_DIMS 1536L
#define MOCK_MAX_INPUTS 2048               /* embeddings inputs per request */
#define MOCK_MAX_KNOB 1000000000L          /* largest numeric knob value */
#define MOCK_POLL_MS 200                   /* a waiting connection checks its client this often */
#define MOCK_CONN_LIMIT 20000
#define MOCK_CONN_MEMORY 16384             /* libmicrohttpd per-connection pool (RSS/stream) */
#define MOCK_BACKLOG 8192
#define MOCK_CONN_TIMEOUT_S 600
#define MOCK_RECENT 32                     /* requests kept in /mock/stats "recent" */
#define MOCK_MAX_DEFAULT_KNOBS 32
#define MOCK_MODEL_MAX 255                 /* longer model names are cut when echoed */
#define MOCK_TICK_PER_CONN_NS 1000ULL      /* resume batch spacing per suspended connection, */
#define MOCK_TICK_MIN_NS 1000000ULL        /* clamped to [1 ms, 20 ms] (see timer_main) */
#define MOCK_TICK_MAX_NS 20000000ULL

/* ------------------------------------------------------------------ bounded buffer */

struct buf {
    char *data; /* NUL-terminated when non-NULL */
    size_t len, cap, max;
};

static void buf_init(struct buf *b, size_t max)
{
    b->data = NULL;
    b->len = b->cap = 0;
    b->max = max;
}

static void buf_free(struct buf *b)
{
    free(b->data);
    buf_init(b, b->max);
}

/* Appends n bytes. Returns 0, or -1 when the result would pass b->max or memory ran out
 * (b unchanged then). */
static int WARN_UNUSED buf_append(struct buf *b, const void *p, size_t n)
{
    if (n > b->max - b->len)
        return -1;
    if (b->len + n + 1 > b->cap) {
        size_t cap = b->cap ? b->cap : 256;
        while (cap < b->len + n + 1)
            cap *= 2;
        char *d = realloc(b->data, cap);
        if (!d)
            return -1;
        b->data = d;
        b->cap = cap;
    }
    memcpy(b->data + b->len, p, n);
    b->len += n;
    b->data[b->len] = '\0';
    return 0;
}

static int WARN_UNUSED buf_puts(struct buf *b, const char *s)
{
    return buf_append(b, s, strlen(s));
}

/* ------------------------------------------------------------------ small helpers */

static uint64_t mono_ns(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (uint64_t)ts.tv_sec * 1000000000ULL + (uint64_t)ts.tv_nsec;
}

static uint64_t splitmix64(uint64_t *s)
{
    uint64_t z = (*s += 0x9E3779B97F4A7C15ULL);
    z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9ULL;
    z = (z ^ (z >> 27)) * 0x94D049BB133111EBULL;
    return z ^ (z >> 31);
}

static uint64_t fnv1a(const void *p, size_t n, uint64_t h)
{
    const unsigned char *s = p;
    for (size_t i = 0; i < n; i++)
        h = (h ^ s[i]) * 0x100000001B3ULL;
    return h;
}

/* Writes prefix + len characters drawn from alphabet, seeded, into dst (size n). */
static void make_id(char *dst, size_t n, const char *prefix, const char *alphabet, int len,
                    uint64_t seed)
{
    size_t alen = strlen(alphabet);
    int w = snprintf(dst, n, "%s", prefix);
    for (int i = 0; i < len && (size_t)w + 1 < n; i++)
        dst[w++] = alphabet[splitmix64(&seed) % alen];
    dst[w] = '\0';
}

#define BASE62 "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789"
#define HEX "0123456789abcdef"

/* Word i of the reply as a stream delta: "w0", " w1", " w2", ... */
static void word_delta(long i, char *dst, size_t n)
{
    snprintf(dst, n, i == 0 ? "w%ld" : " w%ld", i);
}

/* The whole reply text "w0 w1 ... w(n-1)" in out. Returns 0 or -1 (too long / no memory). */
static int WARN_UNUSED words_text(long n, struct buf *out)
{
    char w[32];
    if (buf_append(out, "", 0) != 0)
        return -1;
    for (long i = 0; i < n; i++) {
        word_delta(i, w, sizeof w);
        if (buf_puts(out, w) != 0)
            return -1;
    }
    return 0;
}

/* Parses a decimal long in [min, max]. Returns 0 and sets *out, or -1. */
static int parse_long(const char *s, long min, long max, long *out)
{
    char *end;
    errno = 0;
    long v = strtol(s, &end, 10);
    if (errno || end == s || *end != '\0' || v < min || v > max)
        return -1;
    *out = v;
    return 0;
}

/* ------------------------------------------------------------------ knobs */

struct knobs {
    long status, quota, context_length, retry_after, delay_ms, hang, chunk_delay_ms, break_after, stall_after,
        stream_error_after, words, prompt_tokens, completion_tokens, cached_tokens,
        reasoning_tokens, cache_read_tokens, cache_write_tokens, cache_write_1h_tokens;
};

static const struct knob_def {
    const char *name;
    size_t off;
    long min, max;
} KNOB_DEFS[] = {
    { "x-mock-status", offsetof(struct knobs, status), 400, 599 },
    { "x-mock-quota", offsetof(struct knobs, quota), 0, 1 },
    { "x-mock-context-length", offsetof(struct knobs, context_length), 0, 1 },
    { "x-mock-retry-after", offsetof(struct knobs, retry_after), 0, MOCK_MAX_KNOB },
    { "x-mock-delay-ms", offsetof(struct knobs, delay_ms), 0, MOCK_MAX_KNOB },
    { "x-mock-hang", offsetof(struct knobs, hang), 0, 1 },
    { "x-mock-chunk-delay-ms", offsetof(struct knobs, chunk_delay_ms), 0, MOCK_MAX_KNOB },
    { "x-mock-break-after", offsetof(struct knobs, break_after), 0, MOCK_MAX_KNOB },
    { "x-mock-stall-after", offsetof(struct knobs, stall_after), 0, MOCK_MAX_KNOB },
    { "x-mock-stream-error-after", offsetof(struct knobs, stream_error_after), 0, MOCK_MAX_KNOB },
    { "x-mock-words", offsetof(struct knobs, words), 0, MOCK_MAX_WORDS },
    { "x-mock-prompt-tokens", offsetof(struct knobs, prompt_tokens), 0, MOCK_MAX_KNOB },
    { "x-mock-completion-tokens", offsetof(struct knobs, completion_tokens), 0, MOCK_MAX_KNOB },
    { "x-mock-cached-tokens", offsetof(struct knobs, cached_tokens), 0, MOCK_MAX_KNOB },
    { "x-mock-reasoning-tokens", offsetof(struct knobs, reasoning_tokens), 0, MOCK_MAX_KNOB },
    { "x-mock-cache-read-tokens", offsetof(struct knobs, cache_read_tokens), 0, MOCK_MAX_KNOB },
    { "x-mock-cache-write-tokens", offsetof(struct knobs, cache_write_tokens), 0, MOCK_MAX_KNOB },
    { "x-mock-cache-write-1h-tokens", offsetof(struct knobs, cache_write_1h_tokens), 0,
      MOCK_MAX_KNOB },
};
#define N_KNOBS (sizeof KNOB_DEFS / sizeof KNOB_DEFS[0])

static struct {
    const char *name, *value; /* name: the x-mock-* header; value: points into argv */
} g_default_knobs[MOCK_MAX_DEFAULT_KNOBS];
static int g_n_default_knobs;

/* The value of knob `name` for this request: its header, else the --knob default, else
 * NULL. The pointer lives as long as the request. */
static const char *knob_raw(struct MHD_Connection *c, const char *name)
{
    const char *v = MHD_lookup_connection_value(c, MHD_HEADER_KIND, name);
    if (v)
        return v;
    for (int i = 0; i < g_n_default_knobs; i++)
        if (strcasecmp(g_default_knobs[i].name, name) == 0)
            return g_default_knobs[i].value;
    return NULL;
}

/* Reads every numeric knob into k (-1 = absent). Returns NULL, or the name of the first
 * knob whose value is not an integer in its range. */
static const char *knobs_read(struct MHD_Connection *c, struct knobs *k)
{
    const char *bad = NULL;
    for (size_t i = 0; i < N_KNOBS; i++) {
        long *field = (long *)((char *)k + KNOB_DEFS[i].off);
        const char *raw = knob_raw(c, KNOB_DEFS[i].name);
        *field = -1;
        if (raw && parse_long(raw, KNOB_DEFS[i].min, KNOB_DEFS[i].max, field) != 0 && !bad)
            bad = KNOB_DEFS[i].name;
    }
    return bad;
}

/* True when x-mock-fault-models is absent or lists `model` (comma-separated). */
static int fault_applies(struct MHD_Connection *c, const char *model)
{
    const char *list = knob_raw(c, "x-mock-fault-models");
    if (!list)
        return 1;
    size_t mlen = strlen(model);
    for (const char *p = list; *p;) {
        while (*p == ' ' || *p == ',')
            p++;
        size_t n = strcspn(p, ",");
        size_t t = n;
        while (t > 0 && p[t - 1] == ' ')
            t--;
        if (t > 0 && t == mlen && strncmp(p, model, t) == 0)
            return 1;
        p += n;
    }
    return 0;
}

static void knobs_clear_faults(struct knobs *k)
{
    k->status = k->delay_ms = k->hang = k->break_after = -1;
    k->stall_after = k->stream_error_after = -1;
}

/* ------------------------------------------------------------------ routes and request */

enum route {
    RT_CHAT,
    RT_COMPLETIONS,
    RT_EMBEDDINGS,
    RT_RESPONSES,
    RT_MODELS,
    RT_MODEL,
    RT_MESSAGES,
    RT_COUNT_TOKENS,
    RT_STATS,
    RT_RESET,
    RT_UNKNOWN,
    RT_COUNT
};

enum dialect { DIALECT_OPENAI, DIALECT_ANTHROPIC };

static const struct route_def {
    const char *method, *path;
    enum dialect dialect;
} ROUTES[RT_COUNT] = {
    [RT_CHAT] = { "POST", "/v1/chat/completions", DIALECT_OPENAI },
    [RT_COMPLETIONS] = { "POST", "/v1/completions", DIALECT_OPENAI },
    [RT_EMBEDDINGS] = { "POST", "/v1/embeddings", DIALECT_OPENAI },
    [RT_RESPONSES] = { "POST", "/v1/responses", DIALECT_OPENAI },
    [RT_MODELS] = { "GET", "/v1/models", DIALECT_OPENAI },
    [RT_MODEL] = { "GET", "/v1/models/{id}", DIALECT_OPENAI },
    [RT_MESSAGES] = { "POST", "/v1/messages", DIALECT_ANTHROPIC },
    [RT_COUNT_TOKENS] = { "POST", "/v1/messages/count_tokens", DIALECT_ANTHROPIC },
    [RT_STATS] = { "GET", "/mock/stats", DIALECT_OPENAI },
    [RT_RESET] = { "POST", "/mock/reset", DIALECT_OPENAI },
    [RT_UNKNOWN] = { "", "other", DIALECT_OPENAI },
};

enum phase { PH_BODY, PH_WAIT, PH_SENT };

/* Everything about one request, from its first callback to MHD's completion callback. */
struct req {
    struct MHD_Connection *conn;
    const char *url, *method; /* owned by libmicrohttpd, valid for the request */
    enum route route;
    enum dialect dialect;
    int method_ok;
    enum phase phase;
    struct buf body;
    int too_big;
    struct knobs k;
    /* waiting before the headers */
    uint64_t due_ns;
    int suspended; /* guarded by g_timer.mu; 1 while filed in the timer heap */
    struct MHD_Response *resp; /* prepared reply, queued once the wait is over */
    unsigned status;
    int client_gone;
    /* reply facts */
    char id[64], item_id[64], rs_id[64], req_id[64];
    long created;
    char model[MOCK_MODEL_MAX + 1];
    long natural, words, cap;
    long in_tok, out_tok, cached, reasoning, cache_read, cache_w5m, cache_w1h;
    int include_usage;
    /* streaming */
    int is_stream, stream_started, stream_done, broken, error_sent;
    long ev_sent;
    struct buf ev;
    size_t ev_off;
    uint64_t next_due_ns;
    /* JSON reply cut short by x-mock-break-after */
    struct buf cut;
};

static void req_free(struct req *r)
{
    if (r->resp)
        MHD_destroy_response(r->resp);
    buf_free(&r->body);
    buf_free(&r->ev);
    buf_free(&r->cut);
    free(r);
}

/* Maps a method and URL to a route; sets dialect and method_ok. */
static void route_lookup(struct req *r)
{
    r->route = RT_UNKNOWN;
    for (int i = 0; i < RT_UNKNOWN; i++)
        if (strcmp(r->url, ROUTES[i].path) == 0)
            r->route = (enum route)i;
    if (r->route == RT_UNKNOWN && strncmp(r->url, "/v1/models/", 11) == 0 && r->url[11])
        r->route = RT_MODEL;
    if (r->route == RT_UNKNOWN && strncmp(r->url, "/v1/messages", 12) == 0)
        r->dialect = DIALECT_ANTHROPIC;
    else
        r->dialect = ROUTES[r->route].dialect;
    r->method_ok = r->route != RT_UNKNOWN && strcmp(r->method, ROUTES[r->route].method) == 0;
    if (r->route == RT_MODELS || r->route == RT_MODEL) {
        const char *bearer = MHD_lookup_connection_value(r->conn, MHD_HEADER_KIND, "authorization");
        const char *xkey = MHD_lookup_connection_value(r->conn, MHD_HEADER_KIND, "x-api-key");
        if (xkey && !bearer)
            r->dialect = DIALECT_ANTHROPIC;
    }
}

/* ------------------------------------------------------------------ stats */

struct recent {
    char method[8], path[64], model[64];
    int stream;
    unsigned status;
};

static struct {
    pthread_mutex_t mu;
    uint64_t seq; /* request counter, seeds ids; never reset */
    unsigned long requests, by_route[RT_COUNT], by_status[600];
    long streams_open;
    unsigned long streams_completed, streams_aborted, streams_broken, requests_aborted;
    cJSON *last;     /* last_request object without its body, or NULL */
    struct buf body; /* last request's raw body (parsed only when /mock/stats is read) */
    struct recent recent[MOCK_RECENT];
    unsigned long n_recent;
} g_stats = { .mu = PTHREAD_MUTEX_INITIALIZER };

static uint64_t stats_next_seq(void)
{
    pthread_mutex_lock(&g_stats.mu);
    uint64_t s = ++g_stats.seq;
    pthread_mutex_unlock(&g_stats.mu);
    return s;
}

struct header_walk {
    cJSON *obj;
};

/* libmicrohttpd header iterator: copies a header into the object under its lower-cased
 * name, credentials cut to their first 8 characters. */
static enum MHD_Result header_copy(void *cls, enum MHD_ValueKind kind, const char *key,
                                   const char *value)
{
    struct header_walk *w = cls;
    char name[128], val[64];
    size_t i = 0;
    (void)kind;
    for (; key[i] && i + 1 < sizeof name; i++)
        name[i] = (char)((key[i] >= 'A' && key[i] <= 'Z') ? key[i] + 32 : key[i]);
    name[i] = '\0';
    if (strcmp(name, "authorization") == 0 || strcmp(name, "x-api-key") == 0) {
        snprintf(val, sizeof val, "%.8s...", value ? value : "");
        value = val;
    }
    cJSON_DeleteItemFromObjectCaseSensitive(w->obj, name);
    cJSON_AddStringToObject(w->obj, name, value ? value : "");
    return MHD_YES;
}

/* The API key the request presents in its dialect's header ("" when none). */
static const char *req_api_key(const struct req *r)
{
    if (r->dialect == DIALECT_ANTHROPIC) {
        const char *k = MHD_lookup_connection_value(r->conn, MHD_HEADER_KIND, "x-api-key");
        return k ? k : "";
    }
    const char *h = MHD_lookup_connection_value(r->conn, MHD_HEADER_KIND, "authorization");
    if (!h || strncasecmp(h, "Bearer ", 7) != 0)
        return "";
    h += 7;
    while (*h == ' ')
        h++;
    return h;
}

static const char *g_api_key; /* MOCK_API_KEY, or NULL: any non-empty key is accepted */

static int key_accepted(const char *key)
{
    return *key && (!g_api_key || strcmp(key, g_api_key) == 0);
}

/* Builds the last_request object, body left out (outside any lock). */
static cJSON *last_request_json(const struct req *r)
{
    cJSON *o = cJSON_CreateObject();
    struct header_walk w = { cJSON_CreateObject() };
    const char *key = req_api_key(r);
    char prefix[9];
    snprintf(prefix, sizeof prefix, "%.8s", key);
    cJSON_AddStringToObject(o, "method", r->method);
    cJSON_AddStringToObject(o, "path", r->url);
    MHD_get_connection_values(r->conn, MHD_HEADER_KIND, header_copy, &w);
    cJSON_AddItemToObject(o, "headers", w.obj);
    cJSON_AddStringToObject(o, "auth_key_prefix", prefix);
    cJSON_AddBoolToObject(o, "auth_matches_env", key_accepted(key));
    cJSON_AddBoolToObject(o, "body_too_big", r->too_big);
    return o;
}

/* The stored body for last_request: parsed JSON, the raw text when it is not JSON, or null. */
static cJSON *last_body_json(const struct buf *b)
{
    cJSON *body = b->data ? cJSON_ParseWithLength(b->data, b->len) : NULL;
    if (body)
        return body;
    return b->data ? cJSON_CreateString(b->data) : cJSON_CreateNull();
}

/* Counts a request once its reply is decided (status 0: hang). Takes r->body's bytes. */
static void stats_record(struct req *r, unsigned status)
{
    cJSON *last = last_request_json(r);
    pthread_mutex_lock(&g_stats.mu);
    g_stats.requests++;
    g_stats.by_route[r->route]++;
    if (status < 600)
        g_stats.by_status[status]++;
    struct recent *e = &g_stats.recent[g_stats.n_recent++ % MOCK_RECENT];
    snprintf(e->method, sizeof e->method, "%.7s", r->method);
    snprintf(e->path, sizeof e->path, "%.63s", r->url);
    snprintf(e->model, sizeof e->model, "%.63s", r->model);
    e->stream = r->is_stream;
    e->status = status;
    cJSON_Delete(g_stats.last);
    g_stats.last = last;
    buf_free(&g_stats.body);
    g_stats.body = r->body;
    buf_init(&r->body, MOCK_MAX_BODY);
    pthread_mutex_unlock(&g_stats.mu);
}

static void stats_stream_opened(void)
{
    pthread_mutex_lock(&g_stats.mu);
    g_stats.streams_open++;
    pthread_mutex_unlock(&g_stats.mu);
}

/* Accounts for a finished request: how its stream (if any) ended. */
static void stats_on_complete(const struct req *r, enum MHD_RequestTerminationCode toe)
{
    int shutdown = toe == MHD_REQUEST_TERMINATED_DAEMON_SHUTDOWN;
    pthread_mutex_lock(&g_stats.mu);
    if (r->stream_started) {
        g_stats.streams_open--;
        if (r->stream_done && toe == MHD_REQUEST_TERMINATED_COMPLETED_OK)
            g_stats.streams_completed++;
        else if (r->broken)
            g_stats.streams_broken++;
        else if (!shutdown)
            g_stats.streams_aborted++;
    } else if (r->phase == PH_WAIT && !shutdown) {
        g_stats.requests_aborted++;
    }
    pthread_mutex_unlock(&g_stats.mu);
}

static void stats_reset(void)
{
    pthread_mutex_lock(&g_stats.mu);
    g_stats.requests = g_stats.streams_completed = g_stats.streams_aborted = 0;
    g_stats.streams_broken = g_stats.requests_aborted = 0;
    memset(g_stats.by_route, 0, sizeof g_stats.by_route);
    memset(g_stats.by_status, 0, sizeof g_stats.by_status);
    g_stats.n_recent = 0;
    cJSON_Delete(g_stats.last);
    g_stats.last = NULL;
    buf_free(&g_stats.body);
    pthread_mutex_unlock(&g_stats.mu);
}

static cJSON *stats_recent_json(void)
{
    cJSON *a = cJSON_CreateArray();
    unsigned long n = g_stats.n_recent < MOCK_RECENT ? g_stats.n_recent : MOCK_RECENT;
    for (unsigned long i = g_stats.n_recent - n; i < g_stats.n_recent; i++) {
        const struct recent *e = &g_stats.recent[i % MOCK_RECENT];
        cJSON *o = cJSON_CreateObject();
        cJSON_AddStringToObject(o, "method", e->method);
        cJSON_AddStringToObject(o, "path", e->path);
        cJSON_AddStringToObject(o, "model", e->model);
        cJSON_AddBoolToObject(o, "stream", e->stream);
        cJSON_AddNumberToObject(o, "status", e->status);
        cJSON_AddItemToArray(a, o);
    }
    return a;
}

/* The /mock/stats document. Caller owns the result. */
static cJSON *stats_json(void)
{
    cJSON *o = cJSON_CreateObject(), *paths = cJSON_CreateObject(), *st = cJSON_CreateObject();
    char code[16];
    pthread_mutex_lock(&g_stats.mu);
    cJSON_AddNumberToObject(o, "requests", (double)g_stats.requests);
    for (int i = 0; i < RT_COUNT; i++)
        if (g_stats.by_route[i])
            cJSON_AddNumberToObject(paths, ROUTES[i].path, (double)g_stats.by_route[i]);
    for (int i = 0; i < 600; i++) {
        snprintf(code, sizeof code, "%d", i);
        if (g_stats.by_status[i])
            cJSON_AddNumberToObject(st, code, (double)g_stats.by_status[i]);
    }
    cJSON_AddItemToObject(o, "by_path", paths);
    cJSON_AddItemToObject(o, "by_status", st);
    cJSON_AddNumberToObject(o, "streams_open", (double)g_stats.streams_open);
    cJSON_AddNumberToObject(o, "streams_completed", (double)g_stats.streams_completed);
    cJSON_AddNumberToObject(o, "streams_aborted_by_client", (double)g_stats.streams_aborted);
    cJSON_AddNumberToObject(o, "streams_broken", (double)g_stats.streams_broken);
    cJSON_AddNumberToObject(o, "requests_aborted_by_client", (double)g_stats.requests_aborted);
    cJSON *last = g_stats.last ? cJSON_Duplicate(g_stats.last, 1) : cJSON_CreateNull();
    if (g_stats.last)
        cJSON_AddItemToObject(last, "body", last_body_json(&g_stats.body));
    cJSON_AddItemToObject(o, "last_request", last);
    cJSON_AddItemToObject(o, "recent", stats_recent_json());
    pthread_mutex_unlock(&g_stats.mu);
    return o;
}

/* ------------------------------------------------------------------ timer: suspend / resume */

struct tentry {
    uint64_t due;
    struct req *r;
};

static struct {
    pthread_mutex_t mu;
    pthread_cond_t cv;
    pthread_t thread;
    struct tentry *heap;
    size_t n, cap;
    int stopping;
    uint64_t last_batch; /* when the last batch of resumes was made */
} g_timer = { .mu = PTHREAD_MUTEX_INITIALIZER };

static void heap_swap(size_t a, size_t b)
{
    struct tentry t = g_timer.heap[a];
    g_timer.heap[a] = g_timer.heap[b];
    g_timer.heap[b] = t;
}

/* Files r to be resumed at `due`. Caller holds g_timer.mu. Returns 0 or -1 (no memory). */
static int WARN_UNUSED heap_push(uint64_t due, struct req *r)
{
    if (g_timer.n == g_timer.cap) {
        size_t cap = g_timer.cap ? g_timer.cap * 2 : 1024;
        struct tentry *h = realloc(g_timer.heap, cap * sizeof *h);
        if (!h)
            return -1;
        g_timer.heap = h;
        g_timer.cap = cap;
    }
    size_t i = g_timer.n++;
    g_timer.heap[i] = (struct tentry){ due, r };
    while (i > 0 && g_timer.heap[(i - 1) / 2].due > g_timer.heap[i].due) {
        heap_swap(i, (i - 1) / 2);
        i = (i - 1) / 2;
    }
    return 0;
}

/* Removes and returns the earliest entry. Caller holds g_timer.mu; the heap is not empty. */
static struct req *heap_pop(void)
{
    struct req *r = g_timer.heap[0].r;
    g_timer.heap[0] = g_timer.heap[--g_timer.n];
    for (size_t i = 0;;) {
        size_t l = 2 * i + 1, s = i;
        if (l < g_timer.n && g_timer.heap[l].due < g_timer.heap[s].due)
            s = l;
        if (l + 1 < g_timer.n && g_timer.heap[l + 1].due < g_timer.heap[s].due)
            s = l + 1;
        if (s == i)
            break;
        heap_swap(i, s);
        i = s;
    }
    return r;
}

/* Suspends r's connection until `due` (monotonic ns). Call only from r's access handler or
 * content reader, which must then return without queuing anything. Returns 0, or -1 when
 * stopping or out of memory (the connection is then not suspended). */
static int WARN_UNUSED wait_suspend(struct req *r, uint64_t due)
{
    int rc = -1;
    pthread_mutex_lock(&g_timer.mu);
    if (!g_timer.stopping && heap_push(due, r) == 0) {
        MHD_suspend_connection(r->conn);
        r->suspended = 1;
        if (g_timer.heap[0].r == r)
            pthread_cond_signal(&g_timer.cv);
        rc = 0;
    }
    pthread_mutex_unlock(&g_timer.mu);
    return rc;
}

static void timed_wait_until(uint64_t due)
{
    struct timespec ts = { (time_t)(due / 1000000000ULL), (long)(due % 1000000000ULL) };
    pthread_cond_timedwait(&g_timer.cv, &g_timer.mu, &ts);
}

/* Resumes every entry that is due (all of them when stopping). Caller holds g_timer.mu. */
static void resume_due(uint64_t now)
{
    while (g_timer.n > 0 && (g_timer.stopping || g_timer.heap[0].due <= now)) {
        struct req *r = heap_pop();
        r->suspended = 0;
        MHD_resume_connection(r->conn);
    }
    g_timer.last_batch = now;
}

/* The spacing between resume batches: 1 us per suspended connection, within 1..20 ms. */
static uint64_t batch_tick(void)
{
    uint64_t t = (uint64_t)g_timer.n * MOCK_TICK_PER_CONN_NS;
    return t < MOCK_TICK_MIN_NS ? MOCK_TICK_MIN_NS : t > MOCK_TICK_MAX_NS ? MOCK_TICK_MAX_NS : t;
}

/* Timer thread: resumes connections when due; when stopping, resumes all and exits.
 * Resumes are made in batches, one tick apart at least: libmicrohttpd 0.9.75 walks its
 * whole list of suspended connections on every loop pass that has a resume pending, so a
 * pass per resumed stream would cost O(open streams) per event. With the tick proportional
 * to the number of suspended connections the walks stay a small, constant share of a core
 * (~5%). An idle timer still wakes exactly on time; a busy one makes events up to one tick
 * late (10 ms with 10,000 open streams). */
static void *timer_main(void *arg)
{
    (void)arg;
    pthread_mutex_lock(&g_timer.mu);
    for (;;) {
        if (g_timer.n == 0) {
            if (g_timer.stopping)
                break;
            pthread_cond_wait(&g_timer.cv, &g_timer.mu);
            continue;
        }
        uint64_t now = mono_ns(), wake = g_timer.heap[0].due;
        if (wake < g_timer.last_batch + batch_tick())
            wake = g_timer.last_batch + batch_tick();
        if (!g_timer.stopping && wake > now)
            timed_wait_until(wake);
        else
            resume_due(now);
    }
    pthread_mutex_unlock(&g_timer.mu);
    return NULL;
}

static int WARN_UNUSED timer_start(void)
{
    pthread_condattr_t a;
    pthread_condattr_init(&a);
    pthread_condattr_setclock(&a, CLOCK_MONOTONIC);
    int rc = pthread_cond_init(&g_timer.cv, &a);
    pthread_condattr_destroy(&a);
    if (rc != 0)
        return -1;
    return pthread_create(&g_timer.thread, NULL, timer_main, NULL) == 0 ? 0 : -1;
}

/* Resumes every suspended connection, refuses new suspensions, joins the thread. */
static void timer_stop(void)
{
    pthread_mutex_lock(&g_timer.mu);
    g_timer.stopping = 1;
    pthread_cond_broadcast(&g_timer.cv);
    pthread_mutex_unlock(&g_timer.mu);
    pthread_join(g_timer.thread, NULL);
    free(g_timer.heap);
    g_timer.heap = NULL;
    pthread_cond_destroy(&g_timer.cv);
}

/* True when r's client closed its end or the socket failed (peeked, nothing consumed). */
static int client_gone(const struct req *r)
{
    const union MHD_ConnectionInfo *ci =
        MHD_get_connection_info(r->conn, MHD_CONNECTION_INFO_CONNECTION_FD);
    char b;
    if (!ci)
        return 0;
    ssize_t n = recv(ci->connect_fd, &b, 1, MSG_PEEK | MSG_DONTWAIT);
    if (n == 0)
        return 1;
    return n < 0 && errno != EAGAIN && errno != EWOULDBLOCK && errno != EINTR;
}

/* Ends r's connection now: shutdown() both ways, then the caller returns
 * MHD_CONTENT_READER_END_WITH_ERROR. libmicrohttpd 0.9.75 (epoll mode) marks the connection
 * closed on that return but, with no further socket event, keeps the socket open until its
 * timeout; the shutdown delivers the FIN to the client at once and wakes the loop so the
 * connection is cleaned up. Returns END_WITH_ERROR for the caller to pass on. */
static ssize_t close_now(const struct req *r)
{
    const union MHD_ConnectionInfo *ci =
        MHD_get_connection_info(r->conn, MHD_CONNECTION_INFO_CONNECTION_FD);
    if (ci)
        shutdown(ci->connect_fd, SHUT_RDWR);
    return MHD_CONTENT_READER_END_WITH_ERROR;
}

/* ------------------------------------------------------------------ vendor errors */

/* An OpenAI error body {"error":{message,type,param,code}}; code NULL = null. */
static char *openai_error_body(const char *message, const char *type, const char *param,
                               const char *code)
{
    cJSON *o = cJSON_CreateObject(), *e = cJSON_AddObjectToObject(o, "error");
    cJSON_AddStringToObject(e, "message", message);
    cJSON_AddStringToObject(e, "type", type);
    cJSON_AddItemToObject(e, "param", param ? cJSON_CreateString(param) : cJSON_CreateNull());
    cJSON_AddItemToObject(e, "code", code ? cJSON_CreateString(code) : cJSON_CreateNull());
    char *s = cJSON_PrintUnformatted(o);
    cJSON_Delete(o);
    return s;
}

/* Cloudflare's JSON for 502/504 in front of OpenAI: code is a number there. */
static char *openai_cf_error_body(unsigned status)
{
    cJSON *o = cJSON_CreateObject(), *e = cJSON_AddObjectToObject(o, "error");
    cJSON_AddNumberToObject(e, "code", status);
    cJSON_AddStringToObject(e, "message", status == 502 ? "Bad gateway." : "Gateway timeout.");
    cJSON_AddNullToObject(e, "param");
    cJSON_AddStringToObject(e, "type", status == 502 ? "cf_bad_gateway" : "cf_gateway_timeout");
    char *s = cJSON_PrintUnformatted(o);
    cJSON_Delete(o);
    return s;
}

/* An Anthropic error body {"type":"error","error":{type,message},"request_id"}. */
static char *anthropic_error_body(const char *type, const char *message, const char *req_id)
{
    cJSON *o = cJSON_CreateObject();
    cJSON_AddStringToObject(o, "type", "error");
    cJSON *e = cJSON_AddObjectToObject(o, "error");
    cJSON_AddStringToObject(e, "type", type);
    cJSON_AddStringToObject(e, "message", message);
    cJSON_AddStringToObject(o, "request_id", req_id);
    char *s = cJSON_PrintUnformatted(o);
    cJSON_Delete(o);
    return s;
}

/* OpenAI's masking of a wrong key: a few leading characters, stars, the last four. */
static void mask_key(const char *key, char *dst, size_t n)
{
    size_t len = strlen(key), keep = len >= 12 ? 3 : 0, tail = len >= 12 ? 4 : 0, w = 0;
    for (size_t i = 0; i < len && w + 1 < n; i++)
        dst[w++] = (i < keep || i >= len - tail) ? key[i] : '*';
    dst[w] = '\0';
}

static char *openai_auth_error(const char *key)
{
    char msg[512], masked[200];
    if (!*key)
        return openai_error_body(
            "You didn't provide an API key. You need to provide your API key in an "
            "Authorization header using Bearer auth (i.e. Authorization: Bearer YOUR_KEY), or "
            "as the password field (with blank username) if you're accessing the API from your "
            "browser and are prompted for a username. You can obtain an API key from "
            "https://platform.openai.com/account/api-keys.",
            "invalid_request_error", NULL, NULL);
    mask_key(key, masked, sizeof masked);
    snprintf(msg, sizeof msg,
             "Incorrect API key provided: %s. You can find your API key at "
             "https://platform.openai.com/account/api-keys.",
             masked);
    return openai_error_body(msg, "invalid_request_error", NULL, "invalid_api_key");
}

/* The OpenAI error body for an injected status. */
static char *openai_status_error(const struct req *r, unsigned status)
{
    char msg[512];
    if (status == 401)
        return openai_auth_error(req_api_key(r));
    if (status == 429 && r->k.quota == 1)
        return openai_error_body(
            "You exceeded your current quota, please check your plan and billing details. For "
            "more information on this error, read the docs: "
            "https://platform.openai.com/docs/guides/error-codes/api-errors.",
            "insufficient_quota", NULL, "insufficient_quota");
    if (status == 429) {
        snprintf(msg, sizeof msg,
                 "Rate limit reached for %s in organization org-mock on requests per min (RPM): "
                 "Limit 500, Used 500, Requested 1. Please try again in 120ms. Visit "
                 "https://platform.openai.com/account/rate-limits to learn more.",
                 r->model[0] ? r->model : "default");
        return openai_error_body(msg, "requests", NULL, "rate_limit_exceeded");
    }
    if (status == 403 || status == 404) {
        snprintf(msg, sizeof msg,
                 "The model `%s` does not exist or you do not have access to it.", r->model);
        return openai_error_body(msg, "invalid_request_error", NULL, "model_not_found");
    }
    if (status == 502 || status == 504)
        return openai_cf_error_body(status);
    if (status == 503)
        return openai_error_body("The engine is currently overloaded, please try again later.",
                                 "server_error", NULL, NULL);
    if (status >= 500)
        return openai_error_body(
            "The server had an error while processing your request. Sorry about that!",
            "server_error", NULL, NULL);
    if (status == 400 && r->k.context_length == 1)
        return openai_error_body(
            "This model's maximum context length is 128000 tokens. However, your messages "
            "resulted in 130000 tokens. Please reduce the length of the messages.",
            "invalid_request_error", "messages", "context_length_exceeded");
    return openai_error_body("Invalid request (injected by x-mock-status).",
                             "invalid_request_error", NULL, NULL);
}

/* The Anthropic error body for an injected status. */
static char *anthropic_status_error(const struct req *r, unsigned status)
{
    char msg[512];
    switch (status) {
    case 401: return anthropic_error_body("authentication_error", "invalid x-api-key", r->req_id);
    case 403:
        return anthropic_error_body("permission_error",
                                    "Your API key does not have permission to use the "
                                    "specified resource.",
                                    r->req_id);
    case 404:
        snprintf(msg, sizeof msg, "model: %s", r->model);
        return anthropic_error_body("not_found_error", msg, r->req_id);
    case 413:
        return anthropic_error_body("request_too_large",
                                    "Request exceeds the maximum allowed number of bytes.",
                                    r->req_id);
    case 429:
        return anthropic_error_body(
            "rate_limit_error",
            "This request would exceed the rate limit for your organization of 50 requests per "
            "minute. For details, refer to: https://docs.claude.com/en/api/rate-limits. You can "
            "see the response headers for current usage. Please reduce the prompt length or the "
            "maximum tokens requested, or try again later.",
            r->req_id);
    case 529: return anthropic_error_body("overloaded_error", "Overloaded", r->req_id);
    default: break;
    }
    if (status >= 500)
        return anthropic_error_body("api_error", "Internal server error", r->req_id);
    return anthropic_error_body("invalid_request_error",
                                "Invalid request (injected by x-mock-status).", r->req_id);
}

/* ------------------------------------------------------------------ response plumbing */

/* Headers every vendor reply carries. */
static void add_vendor_headers(struct MHD_Response *resp, const struct req *r)
{
    if (r->dialect == DIALECT_ANTHROPIC) {
        MHD_add_response_header(resp, "request-id", r->req_id);
        MHD_add_response_header(resp, "anthropic-organization-id", "mock-org");
        return;
    }
    MHD_add_response_header(resp, "x-request-id", r->req_id);
    MHD_add_response_header(resp, "openai-organization", "org-mock");
    MHD_add_response_header(resp, "openai-processing-ms", "1");
    MHD_add_response_header(resp, "openai-version", "2020-10-01");
}

/* Content reader for a JSON reply cut after k.break_after bytes. */
static ssize_t cut_reader(void *cls, uint64_t pos, char *out, size_t max)
{
    struct req *r = cls;
    size_t limit = (size_t)r->k.break_after < r->cut.len ? (size_t)r->k.break_after : r->cut.len;
    if (pos >= limit) {
        r->broken = 1;
        return close_now(r);
    }
    size_t n = limit - (size_t)pos < max ? limit - (size_t)pos : max;
    memcpy(out, r->cut.data + pos, n);
    return (ssize_t)n;
}

/* Prepares `body` (malloc'd, taken; NULL = out of memory) as r's reply with `status`.
 * x-mock-break-after: K cuts a 200 body after K bytes (K = 0: no reply at all). */
static void prepare_json(struct req *r, unsigned status, char *body)
{
    if (!body)
        return;
    size_t len = strlen(body);
    long cut = status == 200 ? r->k.break_after : -1;
    r->status = status;
    if (cut == 0) {
        free(body);
        return;
    }
    if (cut > 0) {
        int ok = buf_append(&r->cut, body, len) == 0;
        free(body);
        if (!ok)
            return;
        r->resp = MHD_create_response_from_callback(len, 4096, cut_reader, r, NULL);
    } else {
        r->resp = MHD_create_response_from_buffer(len, body, MHD_RESPMEM_MUST_FREE);
        if (!r->resp)
            free(body);
    }
    if (!r->resp)
        return;
    MHD_add_response_header(r->resp, "content-type", "application/json");
    add_vendor_headers(r->resp, r);
    if (status == 429) {
        char ra[32];
        snprintf(ra, sizeof ra, "%ld", r->k.retry_after >= 0 ? r->k.retry_after : 1);
        MHD_add_response_header(r->resp, "retry-after", ra);
    }
}

/* Prepares a cJSON document (taken) as r's reply. */
static void prepare_cjson(struct req *r, unsigned status, cJSON *doc)
{
    char *s = doc ? cJSON_PrintUnformatted(doc) : NULL;
    cJSON_Delete(doc);
    prepare_json(r, status, s);
}

/* Prepares the vendor error for `status` in r's dialect. */
static void prepare_status_error(struct req *r, unsigned status)
{
    prepare_json(r, status,
                 r->dialect == DIALECT_ANTHROPIC ? anthropic_status_error(r, status)
                                                 : openai_status_error(r, status));
}

/* Prepares a 400 in r's dialect. */
static void prepare_bad_request(struct req *r, const char *message, const char *param,
                                const char *code)
{
    prepare_json(r, 400,
                 r->dialect == DIALECT_ANTHROPIC
                     ? anthropic_error_body("invalid_request_error", message, r->req_id)
                     : openai_error_body(message, "invalid_request_error", param, code));
}

/* ------------------------------------------------------------------ request analysis */

/* Adds the size of prompt text under j to *bytes and integers in arrays to *ints. */
static void measure_text(const cJSON *j, int in_array, long *bytes, long *ints)
{
    if (j->string && (strcmp(j->string, "role") == 0 || strcmp(j->string, "type") == 0))
        return;
    if (cJSON_IsString(j))
        *bytes += (long)strlen(j->valuestring);
    else if (cJSON_IsNumber(j) && in_array)
        *ints += 1;
    else if (cJSON_IsArray(j) || cJSON_IsObject(j))
        for (const cJSON *c = j->child; c; c = c->next)
            measure_text(c, cJSON_IsArray(j), bytes, ints);
}

/* The prompt-token estimate of a request body (see the top comment). */
static long prompt_estimate(const cJSON *body)
{
    static const char *const fields[] = { "messages", "system", "prompt", "input",
                                          "instructions" };
    long bytes = 0, ints = 0;
    for (size_t i = 0; i < sizeof fields / sizeof fields[0]; i++) {
        const cJSON *f = cJSON_GetObjectItemCaseSensitive(body, fields[i]);
        if (!f)
            continue;
        if (cJSON_IsString(f))
            bytes += (long)strlen(f->valuestring);
        else
            measure_text(f, 0, &bytes, &ints);
    }
    long t = (bytes + 3) / 4 + ints;
    return t < 1 ? 1 : t;
}

/* An integer member, or -1 when absent or not a number. */
static long json_long(const cJSON *o, const char *name)
{
    const cJSON *v = cJSON_GetObjectItemCaseSensitive(o, name);
    return cJSON_IsNumber(v) ? (long)v->valuedouble : -1;
}

static int json_true(const cJSON *o, const char *name)
{
    return cJSON_IsTrue(cJSON_GetObjectItemCaseSensitive(o, name));
}

/* The output cap the request sets for its route, or -1 for none. */
static long request_cap(const struct req *r, const cJSON *body)
{
    long c;
    switch (r->route) {
    case RT_CHAT:
        c = json_long(body, "max_completion_tokens");
        return c >= 0 ? c : json_long(body, "max_tokens");
    case RT_COMPLETIONS:
        c = json_long(body, "max_tokens");
        return c >= 0 ? c : 16;
    case RT_RESPONSES: return json_long(body, "max_output_tokens");
    case RT_MESSAGES: return json_long(body, "max_tokens");
    default: return -1;
    }
}

/* Fills the deterministic usage numbers from the body and the knobs. */
static void plan_usage(struct req *r, const cJSON *body)
{
    const struct knobs *k = &r->k;
    r->cap = request_cap(r, body);
    r->natural = k->words >= 0 ? k->words : MOCK_DEFAULT_WORDS;
    r->reasoning = k->reasoning_tokens >= 0 ? k->reasoning_tokens : 0;
    if (r->cap >= 0 && r->reasoning > r->cap)
        r->reasoning = r->cap;
    r->words = r->natural;
    if (r->cap >= 0 && r->words > r->cap - r->reasoning)
        r->words = r->cap - r->reasoning;
    r->out_tok = k->completion_tokens >= 0 ? k->completion_tokens : r->words + r->reasoning;
    r->in_tok = k->prompt_tokens >= 0 ? k->prompt_tokens : prompt_estimate(body);
    r->cached = k->cached_tokens >= 0 ? k->cached_tokens : 0;
    if (r->cached > r->in_tok)
        r->cached = r->in_tok;
    r->cache_read = k->cache_read_tokens >= 0 ? k->cache_read_tokens : 0;
    r->cache_w5m = k->cache_write_tokens >= 0 ? k->cache_write_tokens : 0;
    r->cache_w1h = k->cache_write_1h_tokens >= 0 ? k->cache_write_1h_tokens : 0;
    const cJSON *so = cJSON_GetObjectItemCaseSensitive(body, "stream_options");
    r->include_usage = json_true(so, "include_usage");
    r->is_stream = json_true(body, "stream") &&
                   (r->route == RT_CHAT || r->route == RT_COMPLETIONS ||
                    r->route == RT_RESPONSES || r->route == RT_MESSAGES);
}

static int truncated(const struct req *r)
{
    return r->words < r->natural;
}

struct problem {
    const char *message, *param, *code;
};

/* The first missing or invalid field the vendor would reject, or {NULL}. */
static struct problem find_problem(const struct req *r, const cJSON *body)
{
    const cJSON *model = cJSON_GetObjectItemCaseSensitive(body, "model");
    const int anth = r->dialect == DIALECT_ANTHROPIC;
    const int needs_messages = r->route == RT_CHAT || anth;
    if (anth && !MHD_lookup_connection_value(r->conn, MHD_HEADER_KIND, "anthropic-version"))
        return (struct problem){ "anthropic-version: header is required", NULL, NULL };
    if (!cJSON_IsString(model) || !model->valuestring[0])
        return (struct problem){ anth ? "model: Field required"
                                      : "you must provide a model parameter",
                                 NULL, NULL };
    if (needs_messages && !cJSON_IsArray(cJSON_GetObjectItemCaseSensitive(body, "messages")))
        return (struct problem){ anth ? "messages: Field required"
                                      : "Missing required parameter: 'messages'.",
                                 "messages", "missing_required_parameter" };
    if (r->route == RT_EMBEDDINGS && !cJSON_GetObjectItemCaseSensitive(body, "input"))
        return (struct problem){ "Missing required parameter: 'input'.", "input",
                                 "missing_required_parameter" };
    if (r->route == RT_MESSAGES && json_long(body, "max_tokens") < 0)
        return (struct problem){ "max_tokens: Field required", NULL, NULL };
    if (r->route != RT_COUNT_TOKENS && r->cap == 0)
        return (struct problem){ anth ? "max_tokens: Input should be greater than or equal to 1"
                                      : "Invalid 'max_tokens': integer below minimum value. "
                                        "Expected a value >= 1, but got 0 instead.",
                                 "max_tokens", "integer_below_min_value" };
    return (struct problem){ NULL, NULL, NULL };
}

/* ------------------------------------------------------------------ OpenAI documents */

static cJSON *chat_usage(const struct req *r)
{
    cJSON *u = cJSON_CreateObject();
    cJSON_AddNumberToObject(u, "prompt_tokens", (double)r->in_tok);
    cJSON_AddNumberToObject(u, "completion_tokens", (double)r->out_tok);
    cJSON_AddNumberToObject(u, "total_tokens", (double)(r->in_tok + r->out_tok));
    cJSON *p = cJSON_AddObjectToObject(u, "prompt_tokens_details");
    cJSON_AddNumberToObject(p, "cached_tokens", (double)r->cached);
    cJSON_AddNumberToObject(p, "audio_tokens", 0);
    cJSON *c = cJSON_AddObjectToObject(u, "completion_tokens_details");
    cJSON_AddNumberToObject(c, "reasoning_tokens", (double)r->reasoning);
    cJSON_AddNumberToObject(c, "audio_tokens", 0);
    cJSON_AddNumberToObject(c, "accepted_prediction_tokens", 0);
    cJSON_AddNumberToObject(c, "rejected_prediction_tokens", 0);
    return u;
}

static cJSON *completion_usage(const struct req *r)
{
    cJSON *u = cJSON_CreateObject();
    cJSON_AddNumberToObject(u, "prompt_tokens", (double)r->in_tok);
    cJSON_AddNumberToObject(u, "completion_tokens", (double)r->out_tok);
    cJSON_AddNumberToObject(u, "total_tokens", (double)(r->in_tok + r->out_tok));
    return u;
}

/* The fields every chat/completions object and chunk starts with. */
static cJSON *openai_head(const struct req *r, const char *object)
{
    cJSON *o = cJSON_CreateObject();
    cJSON_AddStringToObject(o, "id", r->id);
    cJSON_AddStringToObject(o, "object", object);
    cJSON_AddNumberToObject(o, "created", (double)r->created);
    cJSON_AddStringToObject(o, "model", r->model);
    return o;
}

/* The reply text as a cJSON string (NULL when too long). */
static cJSON *reply_text(const struct req *r)
{
    struct buf t;
    buf_init(&t, MOCK_MAX_REPLY);
    cJSON *s = words_text(r->words, &t) == 0 ? cJSON_CreateString(t.data) : NULL;
    buf_free(&t);
    return s;
}

static cJSON *chat_json(const struct req *r)
{
    cJSON *o = openai_head(r, "chat.completion");
    cJSON *choices = cJSON_AddArrayToObject(o, "choices"), *ch = cJSON_CreateObject();
    cJSON_AddItemToArray(choices, ch);
    cJSON_AddNumberToObject(ch, "index", 0);
    cJSON *m = cJSON_AddObjectToObject(ch, "message");
    cJSON_AddStringToObject(m, "role", "assistant");
    cJSON_AddItemToObject(m, "content", reply_text(r));
    cJSON_AddNullToObject(m, "refusal");
    cJSON_AddArrayToObject(m, "annotations");
    cJSON_AddNullToObject(ch, "logprobs");
    cJSON_AddStringToObject(ch, "finish_reason", truncated(r) ? "length" : "stop");
    cJSON_AddItemToObject(o, "usage", chat_usage(r));
    cJSON_AddStringToObject(o, "service_tier", "default");
    cJSON_AddStringToObject(o, "system_fingerprint", "fp_mock0001");
    return o;
}

static cJSON *completion_json(const struct req *r)
{
    cJSON *o = openai_head(r, "text_completion");
    cJSON *choices = cJSON_AddArrayToObject(o, "choices"), *ch = cJSON_CreateObject();
    cJSON_AddItemToArray(choices, ch);
    cJSON_AddItemToObject(ch, "text", reply_text(r));
    cJSON_AddNumberToObject(ch, "index", 0);
    cJSON_AddNullToObject(ch, "logprobs");
    cJSON_AddStringToObject(ch, "finish_reason", truncated(r) ? "length" : "stop");
    cJSON_AddItemToObject(o, "usage", completion_usage(r));
    cJSON_AddStringToObject(o, "system_fingerprint", "fp_mock0001");
    return o;
}

/* Base64 of n bytes appended to out. */
static int WARN_UNUSED base64_append(struct buf *out, const unsigned char *p, size_t n)
{
    static const char tbl[] = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
    char q[4];
    for (size_t i = 0; i < n; i += 3) {
        uint32_t v = (uint32_t)p[i] << 16;
        if (i + 1 < n)
            v |= (uint32_t)p[i + 1] << 8;
        if (i + 2 < n)
            v |= p[i + 2];
        q[0] = tbl[(v >> 18) & 63];
        q[1] = tbl[(v >> 12) & 63];
        q[2] = i + 1 < n ? tbl[(v >> 6) & 63] : '=';
        q[3] = i + 2 < n ? tbl[v & 63] : '=';
        if (buf_append(out, q, 4) != 0)
            return -1;
    }
    return 0;
}

/* The next deterministic embedding component, in [-0.1, 0.1] with 6 decimals. */
static double embedding_value(uint64_t *seed)
{
    return (double)((long)(splitmix64(seed) % 200001) - 100000) / 1e6;
}

/* One deterministic embedding vector for `seed`: a float array, or with b64 the base64 of
 * the little-endian float32 values (as encoding_format "base64" sends them). */
static cJSON *embedding_vector(uint64_t seed, long dims, int b64)
{
    if (!b64) {
        cJSON *a = cJSON_CreateArray();
        for (long i = 0; i < dims; i++)
            cJSON_AddItemToArray(a, cJSON_CreateNumber(embedding_value(&seed)));
        return a;
    }
    float *raw = malloc((size_t)dims * sizeof *raw);
    struct buf b;
    buf_init(&b, MOCK_MAX_REPLY);
    if (!raw)
        return NULL;
    for (long i = 0; i < dims; i++)
        raw[i] = (float)embedding_value(&seed); /* little-endian host, as on the wire */
    size_t n = (size_t)dims * sizeof *raw;
    cJSON *s = base64_append(&b, (const unsigned char *)raw, n) == 0 ? cJSON_CreateString(b.data)
                                                                   : NULL;
    free(raw);
    buf_free(&b);
    return s;
}

static uint64_t input_seed(const cJSON *in, long index)
{
    char *s = cJSON_PrintUnformatted(in);
    uint64_t h = fnv1a(&index, sizeof index, 0xCBF29CE484222325ULL);
    if (s)
        h = fnv1a(s, strlen(s), h);
    free(s);
    return h;
}

static cJSON *embeddings_json(const struct req *r, const cJSON *body)
{
    const cJSON *in = cJSON_GetObjectItemCaseSensitive(body, "input");
    long dims = json_long(body, "dimensions");
    const cJSON *fmt = cJSON_GetObjectItemCaseSensitive(body, "encoding_format");
    int b64 = cJSON_IsString(fmt) && strcmp(fmt->valuestring, "base64") == 0;
    if (dims < 1 || dims > MOCK_MAX_DIMS)
        dims = MOCK_DEFAULT_DIMS;
    /* a string or a token array is one input; an array of those is several */
    int many = cJSON_IsArray(in) && in->child && !cJSON_IsNumber(in->child);
    const cJSON *e = many ? in->child : in;
    cJSON *o = cJSON_CreateObject(), *data = cJSON_CreateArray();
    cJSON_AddStringToObject(o, "object", "list");
    for (long i = 0; e && i < MOCK_MAX_INPUTS; i++) {
        cJSON *d = cJSON_CreateObject();
        cJSON_AddStringToObject(d, "object", "embedding");
        cJSON_AddNumberToObject(d, "index", (double)i);
        cJSON_AddItemToObject(d, "embedding", embedding_vector(input_seed(e, i), dims, b64));
        cJSON_AddItemToArray(data, d);
        e = many ? e->next : NULL;
    }
    cJSON_AddItemToObject(o, "data", data);
    cJSON_AddStringToObject(o, "model", r->model);
    cJSON *u = cJSON_AddObjectToObject(o, "usage");
    cJSON_AddNumberToObject(u, "prompt_tokens", (double)r->in_tok);
    cJSON_AddNumberToObject(u, "total_tokens", (double)r->in_tok);
    return o;
}

static const char *const OPENAI_MODELS[] = {
    "gpt-4o",      "gpt-4o-mini", "gpt-4.1", "gpt-4.1-mini",           "gpt-4.1-nano",
    "o3-mini",     "o4-mini",     "gpt-5",   "gpt-3.5-turbo-instruct", "text-embedding-3-small",
    "text-embedding-3-large",
};

static const char *const ANTHROPIC_MODELS[][2] = {
    { "claude-opus-4-1-20250805", "Claude Opus 4.1" },
    { "claude-sonnet-4-20250514", "Claude Sonnet 4" },
    { "claude-3-5-haiku-20241022", "Claude Haiku 3.5" },
};

static cJSON *openai_model(const char *id)
{
    cJSON *m = cJSON_CreateObject();
    cJSON_AddStringToObject(m, "id", id);
    cJSON_AddStringToObject(m, "object", "model");
    cJSON_AddNumberToObject(m, "created", 1715367049);
    cJSON_AddStringToObject(m, "owned_by", "system");
    return m;
}

static cJSON *anthropic_model(const char *id, const char *name)
{
    cJSON *m = cJSON_CreateObject();
    cJSON_AddStringToObject(m, "type", "model");
    cJSON_AddStringToObject(m, "id", id);
    cJSON_AddStringToObject(m, "display_name", name);
    cJSON_AddStringToObject(m, "created_at", "2025-05-22T00:00:00Z");
    return m;
}

/* GET /v1/models (list) or /v1/models/{id} (one), in r's dialect. */
static cJSON *models_json(const struct req *r)
{
    const char *one = r->route == RT_MODEL ? r->url + 11 : NULL;
    int anth = r->dialect == DIALECT_ANTHROPIC;
    if (one)
        return anth ? anthropic_model(one, one) : openai_model(one);
    cJSON *o = cJSON_CreateObject(), *data = cJSON_CreateArray();
    if (!anth)
        cJSON_AddStringToObject(o, "object", "list");
    size_t n = anth ? sizeof ANTHROPIC_MODELS / sizeof ANTHROPIC_MODELS[0]
                    : sizeof OPENAI_MODELS / sizeof OPENAI_MODELS[0];
    for (size_t i = 0; i < n; i++)
        cJSON_AddItemToArray(data, anth ? anthropic_model(ANTHROPIC_MODELS[i][0],
                                                          ANTHROPIC_MODELS[i][1])
                                        : openai_model(OPENAI_MODELS[i]));
    cJSON_AddItemToObject(o, "data", data);
    if (anth) {
        cJSON_AddBoolToObject(o, "has_more", 0);
        cJSON_AddStringToObject(o, "first_id", ANTHROPIC_MODELS[0][0]);
        cJSON_AddStringToObject(o, "last_id", ANTHROPIC_MODELS[n - 1][0]);
    }
    return o;
}

/* ------------------------------------------------------------------ Responses API documents */

static cJSON *responses_usage(const struct req *r)
{
    cJSON *u = cJSON_CreateObject();
    cJSON_AddNumberToObject(u, "input_tokens", (double)r->in_tok);
    cJSON *d = cJSON_AddObjectToObject(u, "input_tokens_details");
    cJSON_AddNumberToObject(d, "cached_tokens", (double)r->cached);
    cJSON_AddNumberToObject(u, "output_tokens", (double)r->out_tok);
    cJSON *od = cJSON_AddObjectToObject(u, "output_tokens_details");
    cJSON_AddNumberToObject(od, "reasoning_tokens", (double)r->reasoning);
    cJSON_AddNumberToObject(u, "total_tokens", (double)(r->in_tok + r->out_tok));
    return u;
}

static cJSON *output_text_part(const struct req *r, int with_text)
{
    cJSON *p = cJSON_CreateObject();
    cJSON_AddStringToObject(p, "type", "output_text");
    cJSON_AddArrayToObject(p, "annotations");
    cJSON_AddArrayToObject(p, "logprobs");
    cJSON_AddItemToObject(p, "text", with_text ? reply_text(r) : cJSON_CreateString(""));
    return p;
}

static cJSON *message_item(const struct req *r, int done)
{
    cJSON *m = cJSON_CreateObject();
    cJSON_AddStringToObject(m, "id", r->item_id);
    cJSON_AddStringToObject(m, "type", "message");
    cJSON_AddStringToObject(m, "status",
                            !done ? "in_progress" : truncated(r) ? "incomplete" : "completed");
    cJSON *content = cJSON_AddArrayToObject(m, "content");
    if (done)
        cJSON_AddItemToArray(content, output_text_part(r, 1));
    cJSON_AddStringToObject(m, "role", "assistant");
    return m;
}

static cJSON *reasoning_item(const struct req *r)
{
    cJSON *m = cJSON_CreateObject();
    cJSON_AddStringToObject(m, "id", r->rs_id);
    cJSON_AddStringToObject(m, "type", "reasoning");
    cJSON_AddArrayToObject(m, "summary");
    return m;
}

/* The response object: in progress (no output, usage null) or final. */
static cJSON *response_json(const struct req *r, int final)
{
    cJSON *o = cJSON_CreateObject();
    cJSON_AddStringToObject(o, "id", r->id);
    cJSON_AddStringToObject(o, "object", "response");
    cJSON_AddNumberToObject(o, "created_at", (double)r->created);
    cJSON_AddStringToObject(o, "status",
                            !final ? "in_progress" : truncated(r) ? "incomplete" : "completed");
    cJSON_AddBoolToObject(o, "background", 0);
    cJSON_AddNullToObject(o, "error");
    if (final && truncated(r))
        cJSON_AddStringToObject(cJSON_AddObjectToObject(o, "incomplete_details"), "reason",
                                "max_output_tokens");
    else
        cJSON_AddNullToObject(o, "incomplete_details");
    cJSON_AddNullToObject(o, "instructions");
    if (r->cap >= 0)
        cJSON_AddNumberToObject(o, "max_output_tokens", (double)r->cap);
    else
        cJSON_AddNullToObject(o, "max_output_tokens");
    cJSON_AddStringToObject(o, "model", r->model);
    cJSON *out = cJSON_AddArrayToObject(o, "output");
    if (final && r->reasoning > 0)
        cJSON_AddItemToArray(out, reasoning_item(r));
    if (final)
        cJSON_AddItemToArray(out, message_item(r, 1));
    cJSON_AddBoolToObject(o, "parallel_tool_calls", 1);
    cJSON_AddNullToObject(o, "previous_response_id");
    cJSON *rs = cJSON_AddObjectToObject(o, "reasoning");
    cJSON_AddNullToObject(rs, "effort");
    cJSON_AddNullToObject(rs, "summary");
    cJSON_AddStringToObject(o, "service_tier", "default");
    cJSON_AddBoolToObject(o, "store", 1);
    cJSON_AddNumberToObject(o, "temperature", 1);
    cJSON_AddStringToObject(cJSON_AddObjectToObject(cJSON_AddObjectToObject(o, "text"), "format"),
                            "type", "text");
    cJSON_AddStringToObject(o, "tool_choice", "auto");
    cJSON_AddArrayToObject(o, "tools");
    cJSON_AddNumberToObject(o, "top_p", 1);
    cJSON_AddStringToObject(o, "truncation", "disabled");
    cJSON_AddItemToObject(o, "usage", final ? responses_usage(r) : cJSON_CreateNull());
    cJSON_AddNullToObject(o, "user");
    cJSON_AddObjectToObject(o, "metadata");
    return o;
}

/* ------------------------------------------------------------------ Anthropic documents */

static cJSON *anthropic_usage(const struct req *r, long output_tokens)
{
    cJSON *u = cJSON_CreateObject();
    cJSON_AddNumberToObject(u, "input_tokens", (double)r->in_tok);
    cJSON_AddNumberToObject(u, "cache_creation_input_tokens",
                            (double)(r->cache_w5m + r->cache_w1h));
    cJSON_AddNumberToObject(u, "cache_read_input_tokens", (double)r->cache_read);
    cJSON *cc = cJSON_AddObjectToObject(u, "cache_creation");
    cJSON_AddNumberToObject(cc, "ephemeral_5m_input_tokens", (double)r->cache_w5m);
    cJSON_AddNumberToObject(cc, "ephemeral_1h_input_tokens", (double)r->cache_w1h);
    cJSON_AddNumberToObject(u, "output_tokens", (double)output_tokens);
    cJSON_AddStringToObject(u, "service_tier", "standard");
    return u;
}

static const char *anthropic_stop(const struct req *r)
{
    return truncated(r) ? "max_tokens" : "end_turn";
}

/* The message object: as sent in message_start (no content) or final. */
static cJSON *anthropic_json(const struct req *r, int final)
{
    cJSON *o = cJSON_CreateObject();
    cJSON_AddStringToObject(o, "id", r->id);
    cJSON_AddStringToObject(o, "type", "message");
    cJSON_AddStringToObject(o, "role", "assistant");
    cJSON_AddStringToObject(o, "model", r->model);
    cJSON *content = cJSON_AddArrayToObject(o, "content");
    if (final) {
        cJSON *t = cJSON_CreateObject();
        cJSON_AddStringToObject(t, "type", "text");
        cJSON_AddItemToObject(t, "text", reply_text(r));
        cJSON_AddItemToArray(content, t);
        cJSON_AddStringToObject(o, "stop_reason", anthropic_stop(r));
    } else {
        cJSON_AddNullToObject(o, "stop_reason");
    }
    cJSON_AddNullToObject(o, "stop_sequence");
    cJSON_AddItemToObject(o, "usage", anthropic_usage(r, final ? r->out_tok : 1));
    return o;
}

/* ------------------------------------------------------------------ SSE events */

/* Appends "event: NAME\n" (when name) and "data: TEXT\n\n" to out. Returns 0 or -1. */
static int WARN_UNUSED sse_text(struct buf *out, const char *name, const char *text)
{
    if (name && (buf_puts(out, "event: ") != 0 || buf_puts(out, name) != 0 ||
                 buf_puts(out, "\n") != 0))
        return -1;
    if (buf_puts(out, "data: ") != 0 || buf_puts(out, text) != 0 || buf_puts(out, "\n\n") != 0)
        return -1;
    return 0;
}

/* sse_text with doc printed as compact JSON; takes doc. */
static int WARN_UNUSED sse_json(struct buf *out, const char *name, cJSON *doc)
{
    char *s = doc ? cJSON_PrintUnformatted(doc) : NULL;
    cJSON_Delete(doc);
    int rc = s ? sse_text(out, name, s) : -1;
    free(s);
    return rc;
}

/* A chat.completion.chunk with one choice: delta (taken) and finish reason (NULL = null). */
static cJSON *chat_chunk(const struct req *r, cJSON *delta, const char *finish)
{
    cJSON *o = openai_head(r, "chat.completion.chunk");
    cJSON_AddStringToObject(o, "service_tier", "default");
    cJSON_AddStringToObject(o, "system_fingerprint", "fp_mock0001");
    cJSON *choices = cJSON_AddArrayToObject(o, "choices");
    if (delta) {
        cJSON *ch = cJSON_CreateObject();
        cJSON_AddNumberToObject(ch, "index", 0);
        cJSON_AddItemToObject(ch, "delta", delta);
        cJSON_AddNullToObject(ch, "logprobs");
        cJSON_AddItemToObject(ch, "finish_reason",
                              finish ? cJSON_CreateString(finish) : cJSON_CreateNull());
        cJSON_AddItemToArray(choices, ch);
    }
    if (r->include_usage)
        cJSON_AddItemToObject(o, "usage", delta ? cJSON_CreateNull() : chat_usage(r));
    return o;
}

/* Chat stream: role chunk, one chunk per word, finish chunk, [usage chunk], [DONE]. */
static long chat_total(const struct req *r)
{
    return r->words + 3 + r->include_usage;
}

static int WARN_UNUSED chat_event(const struct req *r, long i, struct buf *out)
{
    char w[32];
    cJSON *d;
    if (i == chat_total(r) - 1)
        return buf_puts(out, "data: [DONE]\n\n");
    if (i == r->words + 2)
        return sse_json(out, NULL, chat_chunk(r, NULL, NULL));
    if (i == r->words + 1)
        return sse_json(out, NULL,
                        chat_chunk(r, cJSON_CreateObject(), truncated(r) ? "length" : "stop"));
    d = cJSON_CreateObject();
    if (i == 0) {
        cJSON_AddStringToObject(d, "role", "assistant");
        cJSON_AddStringToObject(d, "content", "");
        cJSON_AddNullToObject(d, "refusal");
    } else {
        word_delta(i - 1, w, sizeof w);
        cJSON_AddStringToObject(d, "content", w);
    }
    return sse_json(out, NULL, chat_chunk(r, d, NULL));
}

/* A text_completion chunk with `text` (NULL: the usage chunk, no choices). */
static cJSON *completion_chunk(const struct req *r, const char *text, const char *finish)
{
    cJSON *o = openai_head(r, "text_completion");
    cJSON *choices = cJSON_AddArrayToObject(o, "choices");
    if (text) {
        cJSON *ch = cJSON_CreateObject();
        cJSON_AddStringToObject(ch, "text", text);
        cJSON_AddNumberToObject(ch, "index", 0);
        cJSON_AddNullToObject(ch, "logprobs");
        cJSON_AddItemToObject(ch, "finish_reason",
                              finish ? cJSON_CreateString(finish) : cJSON_CreateNull());
        cJSON_AddItemToArray(choices, ch);
    }
    cJSON_AddStringToObject(o, "system_fingerprint", "fp_mock0001");
    if (r->include_usage)
        cJSON_AddItemToObject(o, "usage", text ? cJSON_CreateNull() : completion_usage(r));
    return o;
}

/* Completions stream: one chunk per word, finish chunk, [usage chunk], [DONE]. */
static long completion_total(const struct req *r)
{
    return r->words + 2 + r->include_usage;
}

static int WARN_UNUSED completion_event(const struct req *r, long i, struct buf *out)
{
    char w[32];
    if (i == completion_total(r) - 1)
        return buf_puts(out, "data: [DONE]\n\n");
    if (i == r->words + 1)
        return sse_json(out, NULL, completion_chunk(r, NULL, NULL));
    if (i == r->words)
        return sse_json(out, NULL, completion_chunk(r, "", truncated(r) ? "length" : "stop"));
    word_delta(i, w, sizeof w);
    return sse_json(out, NULL, completion_chunk(r, w, NULL));
}

/* A Responses stream event {"type":name,"sequence_number":i, ...}. */
static cJSON *resp_event(const char *name, long i)
{
    cJSON *o = cJSON_CreateObject();
    cJSON_AddStringToObject(o, "type", name);
    cJSON_AddNumberToObject(o, "sequence_number", (double)i);
    return o;
}

/* Adds item_id, output_index, content_index of the message's text part. */
static void resp_part_ref(const struct req *r, cJSON *o)
{
    cJSON_AddStringToObject(o, "item_id", r->item_id);
    cJSON_AddNumberToObject(o, "output_index", r->reasoning > 0 ? 1 : 0);
    cJSON_AddNumberToObject(o, "content_index", 0);
}

/* Responses stream: created, in_progress, [reasoning item added/done], message item added,
 * content_part.added, one output_text.delta per word, output_text.done, content_part.done,
 * output_item.done, completed (or incomplete). No [DONE]. */
static long responses_total(const struct req *r)
{
    return r->words + 8 + (r->reasoning > 0 ? 2 : 0);
}

static int WARN_UNUSED responses_item_event(const struct req *r, long i, int done, int reasoning,
                                            struct buf *out)
{
    const char *name = done ? "response.output_item.done" : "response.output_item.added";
    cJSON *e = resp_event(name, i);
    cJSON_AddNumberToObject(e, "output_index", reasoning ? 0 : (r->reasoning > 0 ? 1 : 0));
    cJSON_AddItemToObject(e, "item", reasoning ? reasoning_item(r) : message_item(r, done));
    return sse_json(out, name, e);
}

static int WARN_UNUSED responses_event(const struct req *r, long i, struct buf *out)
{
    long base = r->reasoning > 0 ? 4 : 2, n = r->words;
    char w[32];
    const char *name;
    cJSON *e;
    if (i < 2) {
        name = i == 0 ? "response.created" : "response.in_progress";
        e = resp_event(name, i);
        cJSON_AddItemToObject(e, "response", response_json(r, 0));
        return sse_json(out, name, e);
    }
    if (i < base)
        return responses_item_event(r, i, i == 3, 1, out);
    if (i == base || i == base + n + 4)
        return responses_item_event(r, i, i != base, 0, out);
    if (i == base + n + 5) {
        name = truncated(r) ? "response.incomplete" : "response.completed";
        e = resp_event(name, i);
        cJSON_AddItemToObject(e, "response", response_json(r, 1));
        return sse_json(out, name, e);
    }
    if (i == base + 1 || i == base + n + 3) {
        name = i == base + 1 ? "response.content_part.added" : "response.content_part.done";
        e = resp_event(name, i);
        resp_part_ref(r, e);
        cJSON_AddItemToObject(e, "part", output_text_part(r, i != base + 1));
        return sse_json(out, name, e);
    }
    if (i == base + n + 2) {
        e = resp_event("response.output_text.done", i);
        resp_part_ref(r, e);
        cJSON_AddItemToObject(e, "text", reply_text(r));
        cJSON_AddArrayToObject(e, "logprobs");
        return sse_json(out, "response.output_text.done", e);
    }
    e = resp_event("response.output_text.delta", i);
    resp_part_ref(r, e);
    word_delta(i - base - 2, w, sizeof w);
    cJSON_AddStringToObject(e, "delta", w);
    cJSON_AddArrayToObject(e, "logprobs");
    return sse_json(out, "response.output_text.delta", e);
}

/* Anthropic stream: message_start, content_block_start, ping, one content_block_delta per
 * word, content_block_stop, message_delta, message_stop. */
static long anthropic_total(const struct req *r)
{
    return r->words + 6;
}

static cJSON *typed(const char *type)
{
    cJSON *o = cJSON_CreateObject();
    cJSON_AddStringToObject(o, "type", type);
    return o;
}

static int WARN_UNUSED anthropic_event(const struct req *r, long i, struct buf *out)
{
    long n = r->words;
    char w[32];
    cJSON *e;
    if (i == 0) {
        e = typed("message_start");
        cJSON_AddItemToObject(e, "message", anthropic_json(r, 0));
        return sse_json(out, "message_start", e);
    }
    if (i == 1 || i == n + 3) {
        const char *name = i == 1 ? "content_block_start" : "content_block_stop";
        e = typed(name);
        cJSON_AddNumberToObject(e, "index", 0);
        if (i == 1) {
            cJSON *b = cJSON_AddObjectToObject(e, "content_block");
            cJSON_AddStringToObject(b, "type", "text");
            cJSON_AddStringToObject(b, "text", "");
        }
        return sse_json(out, name, e);
    }
    if (i == 2)
        return sse_text(out, "ping", "{\"type\": \"ping\"}");
    if (i == n + 4) {
        e = typed("message_delta");
        cJSON *d = cJSON_AddObjectToObject(e, "delta");
        cJSON_AddStringToObject(d, "stop_reason", anthropic_stop(r));
        cJSON_AddNullToObject(d, "stop_sequence");
        cJSON_AddNumberToObject(cJSON_AddObjectToObject(e, "usage"), "output_tokens",
                                (double)r->out_tok);
        return sse_json(out, "message_delta", e);
    }
    if (i == n + 5)
        return sse_json(out, "message_stop", typed("message_stop"));
    e = typed("content_block_delta");
    cJSON_AddNumberToObject(e, "index", 0);
    cJSON *d = cJSON_AddObjectToObject(e, "delta");
    cJSON_AddStringToObject(d, "type", "text_delta");
    word_delta(i - 3, w, sizeof w);
    cJSON_AddStringToObject(d, "text", w);
    return sse_json(out, "content_block_delta", e);
}

static long stream_total(const struct req *r)
{
    switch (r->route) {
    case RT_CHAT: return chat_total(r);
    case RT_COMPLETIONS: return completion_total(r);
    case RT_RESPONSES: return responses_total(r);
    default: return anthropic_total(r);
    }
}

/* The vendor's in-stream error event (x-mock-stream-error-after). */
static int WARN_UNUSED error_event(const struct req *r, struct buf *out)
{
    static const char msg[] =
        "The server had an error while processing your request. Sorry about that!";
    if (r->route == RT_MESSAGES)
        return sse_text(out, "error", "{\"type\":\"error\",\"error\":{\"type\":"
                                      "\"overloaded_error\",\"message\":\"Overloaded\"}}");
    if (r->route == RT_RESPONSES) {
        cJSON *e = resp_event("error", r->ev_sent);
        cJSON_AddStringToObject(e, "code", "server_error");
        cJSON_AddStringToObject(e, "message", msg);
        cJSON_AddNullToObject(e, "param");
        return sse_json(out, "error", e);
    }
    char *s = openai_error_body(msg, "server_error", NULL, NULL);
    int rc = s ? sse_text(out, NULL, s) : -1;
    free(s);
    return rc;
}

/* Generates stream event number i into out. Returns 0 or -1. */
static int WARN_UNUSED stream_event(const struct req *r, long i, struct buf *out)
{
    switch (r->route) {
    case RT_CHAT: return chat_event(r, i, out);
    case RT_COMPLETIONS: return completion_event(r, i, out);
    case RT_RESPONSES: return responses_event(r, i, out);
    default: return anthropic_event(r, i, out);
    }
}

/* ------------------------------------------------------------------ stream content reader */

enum step { STEP_EMIT, STEP_WAIT, STEP_STALL, STEP_END, STEP_BREAK };

static enum step stream_step(const struct req *r, uint64_t now)
{
    if (r->error_sent || r->ev_sent >= stream_total(r))
        return STEP_END;
    if (r->k.break_after >= 0 && r->ev_sent >= r->k.break_after)
        return STEP_BREAK;
    if (r->k.stall_after >= 0 && r->ev_sent >= r->k.stall_after)
        return STEP_STALL;
    return now < r->next_due_ns ? STEP_WAIT : STEP_EMIT;
}

/* Generates the next event into r->ev. Returns 0 or -1. */
static int WARN_UNUSED stream_emit(struct req *r, uint64_t now)
{
    int rc;
    r->ev.len = 0;
    r->ev_off = 0;
    if (r->k.stream_error_after >= 0 && r->ev_sent >= r->k.stream_error_after) {
        rc = error_event(r, &r->ev);
        r->error_sent = 1;
    } else {
        rc = stream_event(r, r->ev_sent, &r->ev);
    }
    r->ev_sent++;
    long delay_ms = r->k.chunk_delay_ms > 0 ? r->k.chunk_delay_ms : 0;
    r->next_due_ns = now + (uint64_t)delay_ms * 1000000ULL;
    return rc;
}

/* Suspends a stream until `due` from inside the content reader. Returns the reader's
 * result: 0 (suspended) or END_WITH_ERROR (client gone, or stopping). */
static ssize_t reader_wait(struct req *r, uint64_t due)
{
    if (client_gone(r)) {
        r->client_gone = 1;
        return close_now(r);
    }
    return wait_suspend(r, due) == 0 ? 0 : close_now(r);
}

/* libmicrohttpd content reader of a stream: copies pending event bytes, generates events
 * when due (several per call when unpaced), suspends when the next one is not due. */
static ssize_t stream_reader(void *cls, uint64_t pos, char *out, size_t max)
{
    struct req *r = cls;
    size_t n = 0;
    (void)pos;
    for (;;) {
        if (r->ev_off < r->ev.len) {
            size_t c = r->ev.len - r->ev_off < max - n ? r->ev.len - r->ev_off : max - n;
            memcpy(out + n, r->ev.data + r->ev_off, c);
            n += c;
            r->ev_off += c;
            if (n == max || r->k.chunk_delay_ms > 0)
                return (ssize_t)n;
            continue;
        }
        uint64_t now = mono_ns();
        enum step s = stream_step(r, now);
        if (s != STEP_EMIT && n > 0)
            return (ssize_t)n;
        switch (s) {
        case STEP_EMIT:
            if (stream_emit(r, now) != 0)
                return n > 0 ? (ssize_t)n : close_now(r);
            continue;
        case STEP_WAIT: {
            uint64_t poll = now + MOCK_POLL_MS * 1000000ULL;
            return reader_wait(r, r->next_due_ns < poll ? r->next_due_ns : poll);
        }
        case STEP_STALL: return reader_wait(r, now + MOCK_POLL_MS * 1000000ULL);
        case STEP_END: r->stream_done = 1; return MHD_CONTENT_READER_END_OF_STREAM;
        case STEP_BREAK: r->broken = 1; return close_now(r);
        }
    }
}

static void prepare_stream(struct req *r)
{
    r->status = 200;
    buf_init(&r->ev, MOCK_MAX_REPLY);
    r->resp = MHD_create_response_from_callback(MHD_SIZE_UNKNOWN, 16384, stream_reader, r, NULL);
    if (!r->resp)
        return;
    MHD_add_response_header(r->resp, "content-type", "text/event-stream; charset=utf-8");
    MHD_add_response_header(r->resp, "cache-control", "no-cache");
    add_vendor_headers(r->resp, r);
}

/* ------------------------------------------------------------------ request handling */

/* Sets ids and the echoed model. */
static void assign_ids(struct req *r, const cJSON *body)
{
    uint64_t seq = stats_next_seq();
    const cJSON *m = cJSON_GetObjectItemCaseSensitive(body, "model");
    if (cJSON_IsString(m))
        snprintf(r->model, sizeof r->model, "%s", m->valuestring);
    r->created = (long)time(NULL);
    switch (r->route) {
    case RT_COMPLETIONS: make_id(r->id, sizeof r->id, "cmpl-", BASE62, 29, seq); break;
    case RT_RESPONSES: make_id(r->id, sizeof r->id, "resp_", HEX, 48, seq); break;
    case RT_MESSAGES: make_id(r->id, sizeof r->id, "msg_01", BASE62, 22, seq); break;
    default: make_id(r->id, sizeof r->id, "chatcmpl-", BASE62, 29, seq); break;
    }
    make_id(r->item_id, sizeof r->item_id, "msg_", HEX, 48, seq ^ 0x1111);
    make_id(r->rs_id, sizeof r->rs_id, "rs_", HEX, 48, seq ^ 0x2222);
    if (r->dialect == DIALECT_ANTHROPIC)
        make_id(r->req_id, sizeof r->req_id, "req_011C", BASE62, 20, seq ^ 0x3333);
    else
        make_id(r->req_id, sizeof r->req_id, "req_", HEX, 32, seq ^ 0x3333);
}

/* Prepares the success reply of a valid request. */
static void prepare_success(struct req *r, const cJSON *body)
{
    if (r->is_stream) {
        prepare_stream(r);
        return;
    }
    switch (r->route) {
    case RT_CHAT: prepare_cjson(r, 200, chat_json(r)); break;
    case RT_COMPLETIONS: prepare_cjson(r, 200, completion_json(r)); break;
    case RT_EMBEDDINGS: prepare_cjson(r, 200, embeddings_json(r, body)); break;
    case RT_RESPONSES: prepare_cjson(r, 200, response_json(r, 1)); break;
    case RT_MESSAGES: prepare_cjson(r, 200, anthropic_json(r, 1)); break;
    case RT_COUNT_TOKENS: {
        cJSON *o = cJSON_CreateObject();
        cJSON_AddNumberToObject(o, "input_tokens", (double)r->in_tok);
        prepare_cjson(r, 200, o);
        break;
    }
    default: prepare_cjson(r, 200, models_json(r)); break;
    }
}

/* 404 for an unknown path or a wrong method, in the path's dialect. */
static void prepare_not_found(struct req *r)
{
    char msg[300];
    r->status = 404;
    if (r->dialect == DIALECT_ANTHROPIC) {
        prepare_json(r, 404, anthropic_error_body("not_found_error", "Not Found", r->req_id));
        return;
    }
    snprintf(msg, sizeof msg, "Invalid URL (%s %.256s)", r->method, r->url);
    prepare_json(r, 404, openai_error_body(msg, "invalid_request_error", NULL, NULL));
}

static void prepare_too_big(struct req *r)
{
    if (r->dialect == DIALECT_ANTHROPIC)
        prepare_status_error(r, 413);
    else
        prepare_json(r, 413,
                     openai_error_body("Request too large: the body exceeds 8 MiB.",
                                       "invalid_request_error", NULL, "request_too_large"));
}

/* Decides r's reply (r->resp, r->status) for a request whose body is complete. Order:
 * route, size, auth, knobs, injected status, JSON, vendor validation, success. */
static void prepare_reply(struct req *r, const cJSON *body)
{
    const char *bad_knob = knobs_read(r->conn, &r->k);
    const char *key = req_api_key(r);
    char msg[128];
    if (!fault_applies(r->conn, r->model))
        knobs_clear_faults(&r->k);
    if (!r->method_ok) {
        prepare_not_found(r);
    } else if (r->too_big) {
        prepare_too_big(r);
    } else if (!key_accepted(key) && r->dialect == DIALECT_ANTHROPIC) {
        prepare_json(r, 401, anthropic_error_body("authentication_error",
                                                  *key ? "invalid x-api-key"
                                                       : "x-api-key header is required",
                                                  r->req_id));
    } else if (!key_accepted(key)) {
        prepare_json(r, 401, openai_auth_error(key));
    } else if (bad_knob) {
        snprintf(msg, sizeof msg, "mock_vendor: bad value for header %s", bad_knob);
        prepare_bad_request(r, msg, NULL, NULL);
    } else if (r->k.status >= 400) {
        prepare_status_error(r, (unsigned)r->k.status);
    } else if (r->route == RT_MODELS || r->route == RT_MODEL) {
        prepare_success(r, NULL);
    } else if (!cJSON_IsObject(body)) {
        prepare_bad_request(r,
                            "We could not parse the JSON body of your request. (HINT: This likely "
                            "means you aren't using your HTTP library correctly. The OpenAI API "
                            "expects a JSON payload, but what was sent was not valid JSON.",
                            NULL, NULL);
    } else {
        plan_usage(r, body);
        struct problem p = find_problem(r, body);
        if (p.message)
            prepare_bad_request(r, p.message, p.param, p.code);
        else
            prepare_success(r, body);
    }
}

/* Queues the prepared reply (none prepared: close the connection). */
static enum MHD_Result queue_prepared(struct req *r)
{
    r->phase = PH_SENT;
    if (!r->resp)
        return MHD_NO;
    enum MHD_Result rc = MHD_queue_response(r->conn, r->status, r->resp);
    MHD_destroy_response(r->resp);
    r->resp = NULL;
    if (rc == MHD_YES && r->is_stream && r->status == 200) {
        r->stream_started = 1;
        stats_stream_opened();
    }
    return rc;
}

/* Waits (delay or hang) before the headers, or queues the reply when the wait is over. */
static enum MHD_Result wait_or_send(struct req *r)
{
    uint64_t now = mono_ns();
    if (r->k.hang != 1 && now >= r->due_ns)
        return queue_prepared(r);
    if (client_gone(r)) {
        r->client_gone = 1;
        return MHD_NO;
    }
    uint64_t wake = now + MOCK_POLL_MS * 1000000ULL;
    if (r->k.hang != 1 && r->due_ns < wake)
        wake = r->due_ns;
    return wait_suspend(r, wake) == 0 ? MHD_YES : MHD_NO;
}

/* Queues doc (taken) as a 200 application/json reply: the mock's own endpoints. */
static enum MHD_Result send_doc(struct req *r, cJSON *doc)
{
    char *s = cJSON_PrintUnformatted(doc);
    cJSON_Delete(doc);
    if (!s)
        return MHD_NO;
    struct MHD_Response *resp =
        MHD_create_response_from_buffer(strlen(s), s, MHD_RESPMEM_MUST_FREE);
    if (!resp) {
        free(s);
        return MHD_NO;
    }
    MHD_add_response_header(resp, "content-type", "application/json");
    enum MHD_Result rc = MHD_queue_response(r->conn, 200, resp);
    MHD_destroy_response(resp);
    r->phase = PH_SENT;
    return rc;
}

/* /mock/stats and /mock/reset. */
static enum MHD_Result serve_mock(struct req *r)
{
    if (!r->method_ok) {
        cJSON *e = cJSON_CreateObject();
        cJSON_AddStringToObject(e, "error", "use GET /mock/stats or POST /mock/reset");
        return send_doc(r, e);
    }
    if (r->route == RT_RESET) {
        stats_reset();
        cJSON *ok = cJSON_CreateObject();
        cJSON_AddBoolToObject(ok, "ok", 1);
        return send_doc(r, ok);
    }
    return send_doc(r, stats_json());
}

/* The body is complete: decide the reply, count the request, then wait or send. */
static enum MHD_Result req_complete(struct req *r)
{
    if (r->route == RT_STATS || r->route == RT_RESET)
        return serve_mock(r);
    cJSON *body = r->body.data ? cJSON_ParseWithLength(r->body.data, r->body.len) : NULL;
    assign_ids(r, body);
    prepare_reply(r, body);
    cJSON_Delete(body);
    stats_record(r, r->k.hang == 1 ? 0 : r->status);
    buf_free(&r->body);
    if (r->k.hang == 1 || r->k.delay_ms > 0) {
        r->phase = PH_WAIT;
        r->due_ns = mono_ns() + (uint64_t)(r->k.delay_ms > 0 ? r->k.delay_ms : 0) * 1000000ULL;
        return wait_or_send(r);
    }
    return queue_prepared(r);
}

/* Appends upload data to the body; past MOCK_MAX_BODY the rest is dropped and 413 follows. */
static void req_take_body(struct req *r, const char *data, size_t n)
{
    if (r->too_big)
        return;
    if (buf_append(&r->body, data, n) != 0) {
        r->too_big = 1;
        buf_free(&r->body);
    }
}

/* First call for a request: allocate its state. A declared body over the limit is
 * answered at once (libmicrohttpd then closes the connection without reading it). */
static enum MHD_Result req_begin(struct MHD_Connection *c, const char *url, const char *method,
                                 void **req_cls)
{
    struct req *r = calloc(1, sizeof *r);
    if (!r)
        return MHD_NO;
    r->conn = c;
    r->url = url;
    r->method = method;
    buf_init(&r->body, MOCK_MAX_BODY);
    buf_init(&r->ev, MOCK_MAX_REPLY);
    buf_init(&r->cut, MOCK_MAX_REPLY);
    route_lookup(r);
    *req_cls = r;
    const char *cl = MHD_lookup_connection_value(c, MHD_HEADER_KIND, "content-length");
    if (cl && strtoull(cl, NULL, 10) > MOCK_MAX_BODY) {
        r->too_big = 1;
        return req_complete(r);
    }
    return MHD_YES;
}

/* libmicrohttpd access handler: body collection, then reply; called again after resume. */
static enum MHD_Result on_request(void *cls, struct MHD_Connection *c, const char *url,
                                  const char *method, const char *version, const char *upload,
                                  size_t *upload_size, void **req_cls)
{
    struct req *r = *req_cls;
    (void)cls;
    (void)version;
    if (!r)
        return req_begin(c, url, method, req_cls);
    if (r->phase == PH_BODY && *upload_size > 0) {
        req_take_body(r, upload, *upload_size);
        *upload_size = 0;
        return MHD_YES;
    }
    if (r->phase == PH_BODY)
        return req_complete(r);
    if (r->phase == PH_WAIT)
        return wait_or_send(r);
    *upload_size = 0;
    return MHD_YES;
}

/* libmicrohttpd completion callback: accounts for the request and frees its state. */
static void on_completed(void *cls, struct MHD_Connection *c, void **req_cls,
                         enum MHD_RequestTerminationCode toe)
{
    struct req *r = *req_cls;
    (void)cls;
    (void)c;
    if (!r)
        return;
    if (r->route != RT_STATS && r->route != RT_RESET)
        stats_on_complete(r, toe);
    req_free(r);
    *req_cls = NULL;
}

/* ------------------------------------------------------------------ startup */

struct opts {
    unsigned port;
    const char *host;
    unsigned threads;
};

static void usage(FILE *f)
{
    fprintf(f, "usage: mock_vendor [--port N] [--host ADDR] [--threads N] "
               "[--knob x-mock-NAME=VALUE]...\n");
}

/* The canonical name of knob `name` ("x-mock-...", any case), or NULL when unknown. */
static const char *knob_name(const char *name, size_t len)
{
    static const char fault_models[] = "x-mock-fault-models";
    for (size_t i = 0; i < N_KNOBS; i++)
        if (strlen(KNOB_DEFS[i].name) == len && strncasecmp(KNOB_DEFS[i].name, name, len) == 0)
            return KNOB_DEFS[i].name;
    if (len == strlen(fault_models) && strncasecmp(fault_models, name, len) == 0)
        return fault_models;
    return NULL;
}

/* Records "--knob NAME=VALUE". Returns 0, or -1 (unknown knob, no '=', or too many). */
static int add_default_knob(const char *arg)
{
    const char *eq = strchr(arg, '=');
    const char *name = eq ? knob_name(arg, (size_t)(eq - arg)) : NULL;
    if (!name || g_n_default_knobs == MOCK_MAX_DEFAULT_KNOBS) {
        fprintf(stderr, "mock_vendor: --knob wants a known x-mock-NAME=VALUE, got '%s'\n", arg);
        return -1;
    }
    g_default_knobs[g_n_default_knobs].name = name;
    g_default_knobs[g_n_default_knobs++].value = eq + 1;
    return 0;
}

/* Parses argv into o and the --knob defaults. Returns 0, 1 (--help), or -1 (usage error). */
static int parse_args(int argc, char **argv, struct opts *o)
{
    long v;
    o->port = 0;
    o->host = "127.0.0.1";
    o->threads = 1;
    for (int i = 1; i < argc; i++) {
        const char *a = argv[i], *val = i + 1 < argc ? argv[i + 1] : NULL;
        if (strcmp(a, "--help") == 0 || strcmp(a, "-h") == 0)
            return 1;
        if (!val)
            return -1;
        i++;
        if (strcmp(a, "--port") == 0 && parse_long(val, 0, 65535, &v) == 0)
            o->port = (unsigned)v;
        else if (strcmp(a, "--threads") == 0 && parse_long(val, 1, 64, &v) == 0)
            o->threads = (unsigned)v;
        else if (strcmp(a, "--host") == 0)
            o->host = val;
        else if (strcmp(a, "--knob") != 0 || add_default_knob(val) != 0)
            return -1;
    }
    return 0;
}

static void raise_nofile(void)
{
    struct rlimit rl;
    if (getrlimit(RLIMIT_NOFILE, &rl) == 0 && rl.rlim_cur < rl.rlim_max) {
        rl.rlim_cur = rl.rlim_max;
        if (setrlimit(RLIMIT_NOFILE, &rl) != 0)
            perror("mock_vendor: setrlimit NOFILE");
    }
}

/* libmicrohttpd's error log, minus the lines that the mock's deliberate closes (break,
 * client gone, no reply) cause on every such request. */
static void mhd_log(void *cls, const char *fmt, va_list ap)
{
    char line[512];
    (void)cls;
    vsnprintf(line, sizeof line, fmt, ap);
    if (strncmp(line, "Closing connection (application", 31) == 0 ||
        strncmp(line, "Application reported internal error", 35) == 0)
        return;
    fprintf(stderr, "mock_vendor: libmicrohttpd: %s", line);
}

/* Starts the daemon on o->host:o->port. Returns NULL on failure (reason on stderr). */
static struct MHD_Daemon *start_daemon(const struct opts *o)
{
    static struct sockaddr_storage ss;
    unsigned flags = MHD_USE_EPOLL_INTERNAL_THREAD | MHD_ALLOW_SUSPEND_RESUME |
                     MHD_USE_ERROR_LOG | MHD_USE_TURBO;
    struct sockaddr_in *v4 = (struct sockaddr_in *)&ss;
    struct sockaddr_in6 *v6 = (struct sockaddr_in6 *)&ss;
    memset(&ss, 0, sizeof ss);
    if (inet_pton(AF_INET, o->host, &v4->sin_addr) == 1) {
        v4->sin_family = AF_INET;
        v4->sin_port = htons((uint16_t)o->port);
    } else if (inet_pton(AF_INET6, o->host, &v6->sin6_addr) == 1) {
        v6->sin6_family = AF_INET6;
        v6->sin6_port = htons((uint16_t)o->port);
        flags |= MHD_USE_IPv6;
    } else {
        fprintf(stderr, "mock_vendor: --host must be a numeric IPv4 or IPv6 address\n");
        return NULL;
    }
    struct MHD_OptionItem ops[] = {
        { MHD_OPTION_CONNECTION_LIMIT, MOCK_CONN_LIMIT, NULL },
        { MHD_OPTION_CONNECTION_MEMORY_LIMIT, MOCK_CONN_MEMORY, NULL },
        { MHD_OPTION_CONNECTION_TIMEOUT, MOCK_CONN_TIMEOUT_S, NULL },
        { MHD_OPTION_LISTEN_BACKLOG_SIZE, MOCK_BACKLOG, NULL },
        { o->threads > 1 ? MHD_OPTION_THREAD_POOL_SIZE : MHD_OPTION_END, o->threads, NULL },
        { MHD_OPTION_END, 0, NULL },
    };
    struct MHD_Daemon *d = MHD_start_daemon(
        flags, (uint16_t)o->port, NULL, NULL, on_request, NULL, /* the logger must come first */
        MHD_OPTION_EXTERNAL_LOGGER, mhd_log, NULL, MHD_OPTION_SOCK_ADDR, &ss,
        MHD_OPTION_NOTIFY_COMPLETED, on_completed, NULL, MHD_OPTION_ARRAY, ops, MHD_OPTION_END);
    if (!d)
        fprintf(stderr, "mock_vendor: cannot listen on %s port %u\n", o->host, o->port);
    return d;
}

int main(int argc, char **argv)
{
    struct opts o;
    sigset_t stop;
    int sig, a = parse_args(argc, argv, &o);
    if (a != 0) {
        usage(a > 0 ? stdout : stderr);
        return a > 0 ? 0 : 2;
    }
    g_api_key = getenv("MOCK_API_KEY");
    if (g_api_key && !*g_api_key)
        g_api_key = NULL;
    raise_nofile();
    signal(SIGPIPE, SIG_IGN);
    sigemptyset(&stop);
    sigaddset(&stop, SIGINT);
    sigaddset(&stop, SIGTERM);
    pthread_sigmask(SIG_BLOCK, &stop, NULL); /* inherited by every thread started below */
    if (timer_start() != 0) {
        fprintf(stderr, "mock_vendor: cannot start the timer thread\n");
        return 1;
    }
    struct MHD_Daemon *d = start_daemon(&o);
    if (!d)
        return 1;
    const union MHD_DaemonInfo *info = MHD_get_daemon_info(d, MHD_DAEMON_INFO_BIND_PORT);
    printf("listening on %u\n", info ? (unsigned)info->port : o.port);
    fflush(stdout);
    sigwait(&stop, &sig);
    timer_stop();
    MHD_stop_daemon(d);
    stats_reset();
    return 0;
}
