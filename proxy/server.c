/* tg_server: the public API's event loops (see server.h for the threading model).
 *
 * One request, on one worker:
 *   on_request (first call)      allocate tg_req, classify the endpoint, refuse an
 *                                announced body over the limit (413)
 *   on_request (upload chunks)   append to the bounded body buffer
 *   on_request (upload done)     healthz/models answered at once; otherwise authenticate,
 *                                parse, count prompt tokens, pick the provider, start the
 *                                upstream transfer and SUSPEND the connection
 *   curl header/write callbacks  status and headers arrive: a stream resumes the connection
 *                                at once and flows through the dialect's SSE filter into a
 *                                bounded buffer (the upstream is paused when it is full);
 *                                a JSON answer is collected whole, then resumes
 *   on_request (resumed)         queue the response (buffer, or reader callback)
 *   stream_reader                hand out buffered bytes; none yet: suspend until the
 *                                upstream writes more
 *   on_completed                 abort the upstream if still running (client gone), settle
 *                                usage (vendor-reported, else estimated from delivered text)
 *                                and submit the record
 *
 * libmicrohttpd 0.9.75 does not notice a client leaving while its connection is suspended,
 * so a suspended request's socket is watched in the worker's own epoll set for RDHUP: a
 * client that leaves aborts its upstream at once. */
#include "server.h"

#include "common/buf.h"
#include "common/jsonchk.h"
#include "common/sha256.h"
#include "proxy/admin.h"
#include "proxy/dialect.h"
#include "proxy/metrics.h"
#include "proxy/translate.h"
#include "proxy/routing.h"
#include "quotas/quota.h"
#include "records/ledger.h"
#include "records/records.h"
#include "router/caps.h"
#include "router/count.h"
#include "router/route.h"
#include "store/store.h"

#include <curl/curl.h>
#include <errno.h>
#include <microhttpd.h>
#include <netdb.h>
#include <netinet/in.h>
#include <stdarg.h>
#include <openssl/crypto.h>
#include <openssl/evp.h>
#include <openssl/rand.h>
#include <pthread.h>
#include <signal.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/epoll.h>
#include <sys/resource.h>
#include <time.h>
#include <unistd.h>

#define TG_MAX_UPSTREAM_RESPONSE ((size_t)64 << 20) /* a non-streamed answer */
#define TG_MAX_SSE_EVENT ((size_t)4 << 20)          /* one SSE event */
#define TG_MAX_PASS_HEADERS ((size_t)16 << 10)      /* upstream headers passed on */
#define TG_MAX_DELIVERED_TEXT ((size_t)8 << 20)     /* kept for a usage estimate */
#define TG_MAX_ANTHROPIC_HEADER 2048                /* anthropic-version/-beta passed on */
#define TG_SWEEP_MS 200                             /* timeout checks */
#define TG_STREAM_BLOCK 256                         /* MHD's buffer for a streamed reply to an
                                                       HTTP/1.0 client (chunked replies are
                                                       written straight into the pool) */
#define TG_UPSTREAM_BUFFER 16384                    /* libcurl's receive buffer: JSON */
#define TG_UPSTREAM_STREAM_BUFFER 1024              /* and for a stream (held while open;
                                                       libcurl's minimum) */
#define TG_UPLOAD_BUFFER 16384                      /* libcurl's upload buffer (its minimum) */
#define TG_CONN_POOL_EXTRA 8192                     /* MHD per-connection pool beyond headers */
#define TG_CONN_OVERFLOW 256                        /* connections per worker past
                                                       limits.max_connections that still get
                                                       a 503 (beyond: MHD closes them) */
#define TG_H2_MAX_STREAMS 1000                      /* per HTTP/2 upstream connection (the
                                                       server's own limit may be lower) */
#define TG_EASY_POOL 64                             /* idle libcurl handles kept per worker */
#define TG_REQ_POOL 64                              /* freed requests kept per worker */
#define TG_REQ_POOL_BUF_KEEP (64 * 1024) /* a pooled request keeps body/answer buffers <= this */
#define TG_PARKED_MAX 64                            /* idle upstream sockets left in a
                                                       worker's epoll set (see on_curl_socket) */
#define TG_KEY_CACHE_SLOTS 1024                     /* per worker, power of two */
#define TG_KEY_CACHE_TTL_US 2000000                 /* a revocation takes effect within */
#define TG_MAX_ATTEMPTS 10                          /* upstream attempts per request */
#define TG_ZERO_WAIT_SKIP 2                         /* see worker_main */
#define TG_LAZY_WATCH_MS 20                         /* a non-streamed request's client is
                                                       watched once suspended this long */

typedef enum { SRC_MHD, SRC_CURL, SRC_CURL_IDLE, SRC_DEAD, SRC_CLIENT, SRC_LEDGER } src_kind;

typedef struct {
    src_kind kind;
    int fd;
    void *ptr;       /* SRC_CLIENT: the request; SRC_DEAD: the next dead source */
    uint32_t events; /* SRC_CURL, SRC_CURL_IDLE: what the epoll set watches for */
} evsrc;

typedef struct worker worker;

typedef enum {
    RS_RECV,     /* receiving the body */
    RS_UPSTREAM, /* waiting for the upstream's headers (or whole body) */
    RS_READY,    /* resumed: a response is to be queued */
    RS_SENT,     /* response queued */
} req_state;

/* One candidate of a request's attempt plan (from the routing decision). */
typedef struct {
    const tg_cat_model *model;
    const tg_provider_config *prov;
    const tg_cat_version *price;         /* the price version in effect */
    int64_t expected_cost, worst_cost;   /* nano-dollars */
    int64_t input_tokens, output_cap;    /* estimate for this model; worst-case output */
    int64_t out_price;                   /* output, nano-dollars per million tokens */
} plan_entry;

typedef struct tg_req {
    worker *w;
    struct MHD_Connection *con;
    struct tg_req *prev, *next; /* worker's active list */
    req_state state;
    tg_endpoint ep;
    const char *path;
    tg_buf body;
    bool too_big, suspended, client_gone, streaming, upstream_done, paused;
    bool stream_counted;
    bool upload_freed; /* libcurl's upload buffer given back (release_upload) */
    bool refused; /* over the connection limit: the answer closes the connection */
    char id[32];
    tg_key key;
    char requested_model[128], model[128]; /* model: the upstream's name for it */
    const tg_provider_config *prov;        /* the current attempt's provider */
    /* routing: the snapshot this request keeps to its end, the rule, the attempt plan */
    tg_route_snapshot *snap;
    const tg_policy_rule *rule;
    plan_entry plan[TG_MAX_ATTEMPTS];
    int nplan, attempt; /* attempt: index into plan of the current attempt */
    int tries;          /* upstream attempts started (the record's attempt number) */
    int recorded;       /* the last attempt whose record is written */
    /* quotas: what this attempt holds, the admission's answer, the durability wait */
    tg_quota_hold hold;
    tg_quota_result qres;
    bool admitted, ledger_wait, orphan;
    bool authed;        /* the key is valid: its budget headers go on every answer */
    int64_t clamp_out;  /* > 0: the output cap lowered to fit the budget */
    cJSON *pending;     /* the parsed body, kept while the reservation becomes durable */
    /* an error decided while suspended, queued when resumed */
    int err_status;
    const char *err_type, *err_code;
    char err_msg[TG_QUOTA_MSG_SIZE];
    int retry_after_s;
    const tg_dialect *dialect; /* the current attempt's upstream dialect */
    bool count_only;           /* POST /v1/messages/count_tokens: answered locally */
    tg_xlate_stream *xs;       /* the attempt's stream translation (NULL: none) */
    bool xlate;                /* the attempt's answer is translated to the inbound dialect */
    int64_t est_input;
    /* upstream */
    CURL *easy;
    struct curl_slist *up_headers;
    char *up_body;
    size_t up_body_len;
    long up_status;
    bool headers_done;
    CURLcode cres;
    tg_buf pass_headers; /* "Name: value\n" lines to pass on */
    char content_type[128];
    tg_buf in;           /* streaming: bytes of an incomplete SSE event */
    tg_buf out;          /* bytes for the client */
    tg_sse_state sse;
    tg_usage usage;
    bool usage_unread;         /* a 200 JSON answer whose usage is read at settlement */
    /* response decided by tollgate (errors) */
    int status;
    /* client socket watch */
    evsrc watch;
    bool watching;
    bool stream_asked; /* the body asks for a stream: watched as soon as suspended */
    int64_t watch_due; /* monotonic us: the lazy watch is to be armed then; 0 none */
    /* times */
    int64_t t_start, t_up_start, t_first_byte, t_last_data, t_end; /* monotonic us */
    int64_t wall_start_us; /* UTC, for the record */
    bool stream_error; /* the upstream broke mid-stream: end the client's stream badly */
    bool slow_cut;     /* an HTTP/2 stream cut because the client fell behind */
} tg_req;

/* A key lookup the store answered recently (valid or revoked), by SHA-256 of the secret. */
typedef struct {
    unsigned char hash[32];
    int64_t expires;
    int status; /* TG_STORE_OK or TG_STORE_REVOKED */
    tg_key key;
} key_cache_entry;

struct worker {
    key_cache_entry *keys; /* TG_KEY_CACHE_SLOTS, direct-mapped */
    CURL *easy_pool[TG_EASY_POOL]; /* reset handles ready for reuse */
    struct curl_slist *prov_headers[TG_CONFIG_MAX_PROVIDERS]; /* built once (provider_headers) */
    int neasy;
    evsrc *parked[TG_PARKED_MAX]; /* idle upstream sockets still in the epoll set */
    int nparked;
    evsrc *dead; /* upstream sources gone during this round of events: freed after it */
    int idx;
    pthread_t th;
    const tg_config *cfg;
    int epfd;
    evsrc mhd_src;
    struct MHD_Daemon *mhd;
    CURLM *multi;
    int64_t curl_deadline; /* monotonic us; -1 none */
    tg_ledger_waiter *waiter; /* reservations made durable come back through it */
    evsrc ledger_src;
    tg_store *store;
    tg_req *active;
    tg_req *spare[TG_REQ_POOL]; /* freed requests kept for the next ones */
    int nspare;
    uint64_t rng;
    int64_t id_us;   /* the last request id's microsecond, and its sequence */
    unsigned id_seq;
    int64_t last_sweep;
    int zero_waits; /* rounds in a row without epoll_wait (timeout 0) */
    int64_t watch_deadline; /* monotonic us: the earliest lazy watch due; -1 none */
    bool quiesced;
    int64_t drain_deadline;
};

static atomic_int stop_requested;
static tg_quota *quota_; /* budgets and rate limits of every team and key */
static atomic_uint open_connections; /* all workers; limits.max_connections */
static char over_limit; /* its address marks a connection over the limit (socket context) */

static void mhd_log(void *cls, const char *fmt, va_list ap);
static void finish_attempt(tg_req *r, int status, const tg_usage *u, bool estimated);

static int64_t now_us(void)
{
    struct timespec t;
    clock_gettime(CLOCK_MONOTONIC, &t);
    return (int64_t)t.tv_sec * 1000000 + t.tv_nsec / 1000;
}

static int64_t wall_us(void)
{
    struct timespec t;
    clock_gettime(CLOCK_REALTIME, &t);
    return (int64_t)t.tv_sec * 1000000 + t.tv_nsec / 1000;
}

/* ------------------------------------------------------------------ helpers */

static const char *header(struct MHD_Connection *con, const char *name)
{
    return MHD_lookup_connection_value(con, MHD_HEADER_KIND, name);
}

/* "req_" + 20 hex digits: the UTC microsecond (13, never going back on one worker), a
 * per-worker sequence (3) and the worker (4).  Unique in a process (a worker would need
 * 4096 requests in one microsecond to repeat one), and time-ordered, so the ledger's rows
 * land at the right edge of its primary key: a batch of records dirties a few pages, not
 * one random page per row as random ids did.  Also steps the worker's random state. */
/* "req_" + us as 13 hex digits + seq as 3 + worker as 4 (as printf's "%013llx%03x%04x"),
 * into out (n >= 25 bytes; less: cut). */
static void hex_id(char *out, size_t n, uint64_t us, unsigned seq, unsigned idx)
{
    static const char digits[] = "0123456789abcdef";
    char id[25] = "req_";
    for (int i = 0; i < 13; i++)
        id[4 + i] = digits[(us >> (4 * (12 - i))) & 0xf];
    for (int i = 0; i < 3; i++)
        id[17 + i] = digits[(seq >> (4 * (2 - i))) & 0xf];
    for (int i = 0; i < 4; i++)
        id[20 + i] = digits[(idx >> (4 * (3 - i))) & 0xf];
    id[24] = '\0';
    tg_str_copy(out, n, id);
}

static void new_request_id(worker *w, char *out, size_t n)
{
    w->rng ^= w->rng << 13;
    w->rng ^= w->rng >> 7;
    w->rng ^= w->rng << 17;
    int64_t us = wall_us();
    if (us > w->id_us)
        w->id_us = us;
    else if ((++w->id_seq & 0xfff) == 0)
        w->id_us++; /* a full microsecond's worth: borrow the next one */
    hex_id(out, n, (uint64_t)w->id_us & 0xfffffffffffffULL, w->id_seq & 0xfff,
           (unsigned)w->idx & 0xffff);
}

static void list_add(worker *w, tg_req *r)
{
    r->next = w->active;
    r->prev = NULL;
    if (w->active)
        w->active->prev = r;
    w->active = r;
}

static void list_del(worker *w, tg_req *r)
{
    if (r->prev)
        r->prev->next = r->next;
    else if (w->active == r)
        w->active = r->next;
    if (r->next)
        r->next->prev = r->prev;
    r->prev = r->next = NULL;
}

/* Watches the client's socket for a hang-up while the connection is suspended. */
static void watch_client(tg_req *r)
{
    const union MHD_ConnectionInfo *ci =
        MHD_get_connection_info(r->con, MHD_CONNECTION_INFO_CONNECTION_FD);
    if (!ci || r->watching)
        return;
    r->watch = (evsrc){SRC_CLIENT, ci->connect_fd, r, EPOLLRDHUP};
    struct epoll_event ev = {.events = EPOLLRDHUP, .data.ptr = &r->watch};
    if (epoll_ctl(r->w->epfd, EPOLL_CTL_ADD, r->watch.fd, &ev) == 0)
        r->watching = true;
}

static void unwatch_client(tg_req *r)
{
    if (!r->watching)
        return;
    epoll_ctl(r->w->epfd, EPOLL_CTL_DEL, r->watch.fd, NULL);
    r->watching = false;
}

/* Suspends the connection.  A stream's client is watched at once; a non-streamed
 * request's only once it has waited TG_LAZY_WATCH_MS (arm_due_watches): most answers come
 * sooner, and then its socket never enters the epoll set (two epoll_ctl saved). */
static void suspend(tg_req *r)
{
    if (r->suspended)
        return;
    MHD_suspend_connection(r->con);
    r->suspended = true;
    if (r->stream_asked || r->streaming) {
        watch_client(r);
        return;
    }
    worker *w = r->w;
    r->watch_due = now_us() + (int64_t)TG_LAZY_WATCH_MS * 1000;
    if (w->watch_deadline < 0 || r->watch_due < w->watch_deadline)
        w->watch_deadline = r->watch_due;
}

/* Arms the lazy watches that are due (see suspend); the next due one sets the deadline.
 * A client that left meanwhile is reported by epoll at once (RDHUP is level-triggered). */
static void arm_due_watches(worker *w, int64_t now)
{
    w->watch_deadline = -1;
    for (tg_req *r = w->active; r; r = r->next) {
        if (!r->watch_due || !r->suspended || !r->con)
            continue;
        if (r->watch_due <= now) {
            r->watch_due = 0;
            watch_client(r);
        } else if (w->watch_deadline < 0 || r->watch_due < w->watch_deadline) {
            w->watch_deadline = r->watch_due;
        }
    }
}

static void resume(tg_req *r)
{
    if (!r->suspended)
        return;
    r->watch_due = 0;
    unwatch_client(r);
    r->suspended = false;
    MHD_resume_connection(r->con);
}

/* ------------------------------------------------------------------ responses */

/* Nano-dollars as dollars with all nine decimals ("0.000150000"), into usd
 * (TG_INT_TEXT_SIZE + 10 bytes). */
static void nusd_text(int64_t c, char *usd)
{
    if (c < 0) {
        snprintf(usd, TG_INT_TEXT_SIZE + 10, "-%lld.%09lld", -(long long)(c / 1000000000),
                 -(long long)(c % 1000000000));
        return;
    }
    size_t n = tg_int_text(c / 1000000000, usd);
    usd[n] = '.';
    int64_t f = c % 1000000000;
    for (int i = 9; i >= 1; i--, f /= 10)
        usd[n + (size_t)i] = (char)('0' + f % 10);
    usd[n + 10] = '\0';
}

static enum MHD_Result add_common_headers(tg_req *r, struct MHD_Response *resp)
{
    MHD_add_response_header(resp, "x-tollgate-request-id", r->id);
    if (r->retry_after_s > 0) {
        char ra[16];
        snprintf(ra, sizeof ra, "%d", r->retry_after_s);
        MHD_add_response_header(resp, "retry-after", ra);
    }
    if (r->admitted || r->authed) {
        tg_quota_header qh[TG_QUOTA_HEADERS_MAX];
        if (!r->admitted) /* nothing reserved (a refusal, a bad request): as it stands */
            tg_quota_peek(quota_, &r->key, wall_us(), &r->qres);
        int n = tg_quota_headers(&r->qres, qh);
        for (int i = 0; i < n; i++)
            MHD_add_response_header(resp, qh[i].name, qh[i].value);
    }
    if (!r->nplan)
        return MHD_YES;
    char usd[TG_INT_TEXT_SIZE + 10];
    nusd_text(r->plan[r->attempt].expected_cost, usd);
    MHD_add_response_header(resp, "x-tollgate-model", r->plan[r->attempt].model->name);
    MHD_add_response_header(resp, "x-tollgate-rule", r->rule->id);
    MHD_add_response_header(resp, "x-tollgate-estimated-cost-usd", usd);
    if (r->attempt) {
        tg_int_text(r->attempt + 1, usd);
        MHD_add_response_header(resp, "x-tollgate-attempts", usd);
    }
    return MHD_YES;
}

/* Queues `body` (copied) with `status`; returns MHD's verdict. */
static enum MHD_Result send_body(tg_req *r, int status, const char *ctype, const char *body,
                                 size_t len)
{
    struct MHD_Response *resp =
        MHD_create_response_from_buffer(len, (void *)body, MHD_RESPMEM_MUST_COPY);
    if (!resp)
        return MHD_NO;
    MHD_add_response_header(resp, "content-type", ctype);
    add_common_headers(r, resp);
    if (r->refused) {
        MHD_add_response_header(resp, "connection", "close");
        MHD_add_response_header(resp, "retry-after", "1");
    }
    enum MHD_Result ret = MHD_queue_response(r->con, (unsigned)status, resp);
    MHD_destroy_response(resp);
    r->status = status;
    r->state = RS_SENT;
    return ret;
}

/* Queues an error made by tollgate, in the caller's dialect. */
static enum MHD_Result send_error(tg_req *r, int status, const char *type, const char *code,
                                  const char *message)
{
    tg_buf b;
    tg_buf_init(&b, 64 << 10);
    const tg_dialect *d = r->ep == TG_EP_MESSAGES ? &tg_dialect_anthropic : &tg_dialect_openai;
    if (d->error_body(&b, type, code, message) != TG_BUF_OK) {
        tg_buf_free(&b);
        return MHD_NO;
    }
    enum MHD_Result ret = send_body(r, status, "application/json", b.p, b.len);
    tg_buf_free(&b);
    return ret;
}

/* ------------------------------------------------------------------ upstream */

static size_t on_up_header(char *data, size_t size, size_t n, void *userp)
{
    tg_req *r = userp;
    size_t len = size * n;
    if (len >= 5 && strncmp(data, "HTTP/", 5) == 0) {
        const char *sp = memchr(data, ' ', len);
        r->up_status = sp ? strtol(sp + 1, NULL, 10) : 0;
        tg_buf_reset(&r->pass_headers);
        r->content_type[0] = '\0';
        return len;
    }
    if (len <= 2) { /* the blank line ending a header block */
        if (r->up_status >= 200) {
            r->headers_done = true;
            r->streaming = r->up_status == 200 &&
                           strncasecmp(r->content_type, "text/event-stream", 17) == 0;
            if (r->t_first_byte < 0)
                r->t_first_byte = now_us();
            r->t_last_data = now_us(); /* the idle clock starts at the headers */
            if (r->streaming) {
                r->state = RS_READY;
                resume(r);
            }
        }
        return len;
    }
    const char *colon = memchr(data, ':', len);
    if (!colon)
        return len;
    size_t nlen = (size_t)(colon - data);
    const char *v = colon + 1, *end = data + len;
    while (v < end && (*v == ' ' || *v == '\t'))
        v++;
    while (end > v && (end[-1] == '\r' || end[-1] == '\n' || end[-1] == ' '))
        end--;
    static const char *const hop[] = {"connection", "keep-alive", "transfer-encoding",
                                      "content-length", "content-encoding", "date",
                                      "server", "set-cookie", "alt-svc", "upgrade"};
    for (size_t i = 0; i < sizeof hop / sizeof *hop; i++)
        if (nlen == strlen(hop[i]) && strncasecmp(data, hop[i], nlen) == 0)
            return len;
    if (nlen == 12 && strncasecmp(data, "content-type", 12) == 0) {
        size_t vn = (size_t)(end - v) < sizeof r->content_type ? (size_t)(end - v)
                                                                 : sizeof r->content_type - 1;
        memcpy(r->content_type, v, vn);
        r->content_type[vn] = '\0';
        return len;
    }
    if (tg_buf_printf(&r->pass_headers, "%.*s: %.*s\n", (int)nlen, data, (int)(end - v), v) !=
        TG_BUF_OK)
        return 0;
    return len;
}

/* Feeds complete SSE events from r->in through the dialect into r->out. */
static int pump_events(tg_req *r)
{
    for (;;) {
        char *e1 = memmem(r->in.p, r->in.len, "\n\n", 2);
        char *e2 = memmem(r->in.p, r->in.len, "\r\n\r\n", 4);
        char *e = e1 && (!e2 || e1 < e2) ? e1 : e2;
        if (!e)
            return 0;
        size_t evlen = (size_t)(e - r->in.p), skip = e == e1 ? 2 : 4;
        if (tg_xlate_sse(r->xs, r->dialect, &r->sse, r->in.p, evlen, &r->out) != TG_BUF_OK)
            return -1;
        tg_buf_consume(&r->in, evlen + skip);
    }
}

/* A stream from an HTTP/2 upstream whose client fell a whole stream buffer behind.
 * libcurl 7.88 can stall every stream of an HTTP/2 connection while one transfer is
 * paused, so such transfers are never paused: the client gets what is buffered, then an
 * error event in its dialect, then the end of the stream (the upstream transfer is
 * aborted; usage is estimated from what was delivered).  Returns 0 for libcurl. */
static size_t cut_slow_stream(tg_req *r)
{
    char msg[256];
    snprintf(msg, sizeof msg, "tollgate cut this stream: the client read more slowly than "
             "upstream %s sent and its %zu-byte stream buffer filled.", r->prov->name,
             r->w->cfg->stream_buffer_bytes);
    bool anthropic = r->ep == TG_EP_MESSAGES; /* the client's dialect */
    const tg_dialect *d = anthropic ? &tg_dialect_anthropic : &tg_dialect_openai;
    tg_buf ev;
    tg_buf_init(&ev, 4096);
    if (tg_buf_puts(&ev, anthropic ? "event: error\ndata: " : "data: ") == TG_BUF_OK &&
        d->error_body(&ev, "server_error", "stream_buffer_full", msg) == TG_BUF_OK &&
        tg_buf_puts(&ev, "\n\n") == TG_BUF_OK &&
        tg_buf_append(&r->out, ev.p, ev.len) != TG_BUF_OK)
        tg_buf_reset(&ev); /* no room even for the notice: the stream just ends */
    tg_buf_free(&ev);
    r->slow_cut = true;
    tg_metrics_upstream_error("slow_client");
    return 0;
}

static size_t on_up_write(char *data, size_t size, size_t n, void *userp)
{
    tg_req *r = userp;
    size_t len = size * n;
    r->t_last_data = now_us();
    if (!r->streaming)
        return tg_buf_append(&r->out, data, len) == TG_BUF_OK ? len : 0;
    if (r->out.len >= r->w->cfg->stream_buffer_bytes) {
        if (r->prov->http2)
            return cut_slow_stream(r);
        r->paused = true; /* backpressure: curl keeps these bytes and gives them again */
        return CURL_WRITEFUNC_PAUSE;
    }
    if (tg_buf_append(&r->in, data, len) != TG_BUF_OK || pump_events(r) != 0)
        return 0;
    if (r->out.len && r->state == RS_SENT)
        resume(r);
    return len;
}

/* A libcurl handle from the worker's pool (reset), or a new one. */
static CURL *easy_get(worker *w)
{
    return w->neasy ? w->easy_pool[--w->neasy] : curl_easy_init();
}

/* Returns a handle to the pool after resetting its options (connections stay in the multi
 * handle's cache either way). */
static void easy_put(worker *w, CURL *e)
{
    if (w->neasy == TG_EASY_POOL) {
        curl_easy_cleanup(e);
        return;
    }
    curl_easy_reset(e);
    w->easy_pool[w->neasy++] = e;
}

/* Whether a request body asks for a stream: a "stream" key set to true.  It only sizes
 * libcurl's receive buffer, so a rare wrong guess (the key nested deeper) costs a little
 * memory or a few more reads, never correctness. */
static bool asks_stream(const char *body, size_t len)
{
    const char *p = body, *end = body + len;
    while ((p = memmem(p, (size_t)(end - p), "\"stream\"", 8))) {
        p += 8;
        while (p < end && (*p == ' ' || *p == '\t' || *p == '\r' || *p == '\n'))
            p++;
        if (p == end || *p != ':')
            continue;
        p++;
        while (p < end && (*p == ' ' || *p == '\t' || *p == '\r' || *p == '\n'))
            p++;
        return end - p >= 4 && memcmp(p, "true", 4) == 0;
    }
    return false;
}

/* The path the current attempt calls upstream: the client's, unless translated. */
static const char *upstream_path(const tg_req *r)
{
    if (!r->xlate)
        return r->path;
    return r->prov->format == TG_FORMAT_ANTHROPIC ? "/v1/messages" : "/v1/chat/completions";
}

/* Adds Anthropic's version header (the client's, else the default) and its beta flags
 * (start_request refused values longer than TG_MAX_ANTHROPIC_HEADER). */
static struct curl_slist *anthropic_headers(tg_req *r, struct curl_slist *h)
{
    char line[TG_MAX_ANTHROPIC_HEADER + 32];
    const char *v = r->ep == TG_EP_MESSAGES ? header(r->con, "anthropic-version") : NULL;
    snprintf(line, sizeof line, "anthropic-version: %s", v ? v : TG_XLATE_DEFAULT_VERSION);
    h = curl_slist_append(h, line);
    const char *beta = r->ep == TG_EP_MESSAGES ? header(r->con, "anthropic-beta") : NULL;
    if (beta) {
        snprintf(line, sizeof line, "anthropic-beta: %s", beta);
        h = curl_slist_append(h, line);
    }
    return h;
}

/* The upstream URL: base_url + path.  A base_url with a path of its own (".../v1",
 * Gemini's ".../v1beta/openai") is the API's version root, as in the vendors' SDKs: it
 * stands for the path's leading "/v1". */
static void upstream_url(const char *base, const char *path, char *out, size_t n)
{
    const char *scheme = strstr(base, "://");
    const char *slash = scheme ? strchr(scheme + 3, '/') : NULL;
    if (slash && slash[1] && strncmp(path, "/v1/", 4) == 0)
        path += 3;
    size_t len = tg_str_copy(out, n, base);
    tg_str_copy(out + len, n - len, path);
}

static int on_curl_close(void *userp, curl_socket_t s);

/* The request headers every call to provider p carries: content type, the vendor key from
 * the environment, no Expect, the user agent; Anthropic's version and beta flags follow
 * (per request).  NULL when out of memory. */
static struct curl_slist *base_headers(const tg_provider_config *p)
{
    char auth[512];
    const char *key = p->api_key_env[0] ? getenv(p->api_key_env) : NULL;
    bool anth = p->format == TG_FORMAT_ANTHROPIC;
    if (key)
        snprintf(auth, sizeof auth, anth ? "x-api-key: %s" : "Authorization: Bearer %s", key);
    else
        snprintf(auth, sizeof auth, anth ? "x-api-key:" : "Authorization:"); /* none */
    struct curl_slist *h = curl_slist_append(NULL, "Content-Type: application/json"), *t;
    const char *more[] = {auth, "Expect:", "User-Agent: tollgate/0.1"};
    for (size_t i = 0; h && i < sizeof more / sizeof *more; i++) {
        if (!(t = curl_slist_append(h, more[i]))) {
            curl_slist_free_all(h);
            h = NULL;
        }
        h = t;
    }
    OPENSSL_cleanse(auth, sizeof auth);
    return h;
}

/* A provider whose headers do not vary per request (every format but Anthropic's) gets
 * its list built once per worker and shared by its calls (r->up_headers stays NULL);
 * building it per call cost ten allocations and a scan of the environment. */
static struct curl_slist *provider_headers(worker *w, const tg_provider_config *p)
{
    ptrdiff_t i = p - w->cfg->providers;
    if (i < 0 || i >= w->cfg->nproviders)
        return NULL;
    if (!w->prov_headers[i])
        w->prov_headers[i] = base_headers(p);
    return w->prov_headers[i];
}

static int start_upstream(tg_req *r, const char *body, size_t len)
{
    const tg_provider_config *p = r->prov;
    char url[TG_CONFIG_STR_MAX + 64];
    bool anth = p->format == TG_FORMAT_ANTHROPIC;
    upstream_url(p->base_url, upstream_path(r), url, sizeof url);
    struct curl_slist *h = NULL;
    if (anth) { /* its own list: version and beta flags come from the client */
        if ((h = base_headers(p)))
            h = anthropic_headers(r, h);
        r->up_headers = h;
    } else {
        h = provider_headers(r->w, p);
    }
    if (!h)
        return -1;
    r->up_body = malloc(len + 1);
    if (!r->up_body)
        return -1;
    memcpy(r->up_body, body, len);
    r->up_body_len = len;
    r->upload_freed = false;
    CURL *e = easy_get(r->w);
    if (!e)
        return -1;
    r->easy = e;
    curl_easy_setopt(e, CURLOPT_URL, url);
    curl_easy_setopt(e, CURLOPT_HTTPHEADER, h);
    curl_easy_setopt(e, CURLOPT_POST, 1L);
    curl_easy_setopt(e, CURLOPT_POSTFIELDS, r->up_body);
    curl_easy_setopt(e, CURLOPT_POSTFIELDSIZE_LARGE, (curl_off_t)len);
    curl_easy_setopt(e, CURLOPT_HEADERFUNCTION, on_up_header);
    curl_easy_setopt(e, CURLOPT_HEADERDATA, r);
    curl_easy_setopt(e, CURLOPT_WRITEFUNCTION, on_up_write);
    curl_easy_setopt(e, CURLOPT_WRITEDATA, r);
    curl_easy_setopt(e, CURLOPT_PRIVATE, r);
    if (p->http2) { /* h2c by prior knowledge, or ALPN over TLS; share a connection */
        curl_easy_setopt(e, CURLOPT_HTTP_VERSION,
                         strncasecmp(p->base_url, "https:", 6) == 0
                             ? (long)CURL_HTTP_VERSION_2TLS
                             : (long)CURL_HTTP_VERSION_2_PRIOR_KNOWLEDGE);
        curl_easy_setopt(e, CURLOPT_PIPEWAIT, 1L);
    } else {
        curl_easy_setopt(e, CURLOPT_HTTP_VERSION, (long)CURL_HTTP_VERSION_1_1);
    }
    if (p->ca_file[0])
        curl_easy_setopt(e, CURLOPT_CAINFO, p->ca_file);
    curl_easy_setopt(e, CURLOPT_NOSIGNAL, 1L);
    curl_easy_setopt(e, CURLOPT_CLOSESOCKETFUNCTION, on_curl_close);
    curl_easy_setopt(e, CURLOPT_CLOSESOCKETDATA, r->w);
    curl_easy_setopt(e, CURLOPT_CONNECTTIMEOUT_MS, p->connect_ms);
    curl_easy_setopt(e, CURLOPT_TIMEOUT_MS, p->total_ms);
    curl_easy_setopt(e, CURLOPT_TCP_NODELAY, 1L);
    curl_easy_setopt(e, CURLOPT_BUFFERSIZE, r->stream_asked ?
                     (long)TG_UPSTREAM_STREAM_BUFFER : (long)TG_UPSTREAM_BUFFER);
    curl_easy_setopt(e, CURLOPT_UPLOAD_BUFFERSIZE, (long)TG_UPLOAD_BUFFER);
    if (curl_multi_add_handle(r->w->multi, e) != CURLM_OK)
        return -1;
    r->t_up_start = r->t_last_data = now_us();
    return 0;
}

/* Stops the upstream transfer (if any) and frees its handle. */
static void end_upstream(tg_req *r)
{
    if (r->easy) {
        curl_multi_remove_handle(r->w->multi, r->easy);
        easy_put(r->w, r->easy);
        r->easy = NULL;
    }
    curl_slist_free_all(r->up_headers);
    r->up_headers = NULL;
    free(r->up_body);
    r->up_body = NULL;
}

/* ------------------------------------------------------------------ request start */

static bool endpoint_of(const char *url, const char *method, tg_endpoint *ep, bool *post)
{
    static const struct {
        const char *path;
        tg_endpoint ep;
        bool post;
    } routes[] = {
        {"/v1/chat/completions", TG_EP_CHAT, true}, {"/v1/completions", TG_EP_COMPLETIONS, true},
        {"/v1/embeddings", TG_EP_EMBEDDINGS, true}, {"/v1/responses", TG_EP_RESPONSES, true},
        {"/v1/models", TG_EP_MODELS, false},        {"/healthz", TG_EP_HEALTHZ, false},
        {"/v1/messages", TG_EP_MESSAGES, true},
        {"/v1/messages/count_tokens", TG_EP_MESSAGES, true}, /* answered locally */
    };
    (void)method;
    for (size_t i = 0; i < sizeof routes / sizeof *routes; i++)
        if (strcmp(url, routes[i].path) == 0) {
            *ep = routes[i].ep;
            *post = routes[i].post;
            return true;
        }
    return false;
}

/* GET /v1/models: the catalog's models whose provider is configured, and the policy's
 * aliases, in OpenAI's list shape. */
static enum MHD_Result answer_models(tg_req *r)
{
    tg_route_snapshot *snap = tg_route_acquire();
    cJSON *root = cJSON_CreateObject(), *data = cJSON_AddArrayToObject(root, "data");
    cJSON_AddStringToObject(root, "object", "list");
    for (int i = 0; snap && data && i < tg_policy_alias_count(snap->policy); i++) {
        cJSON *m = cJSON_CreateObject();
        cJSON_AddStringToObject(m, "id", tg_policy_alias_at(snap->policy, i));
        cJSON_AddStringToObject(m, "object", "model");
        cJSON_AddNumberToObject(m, "created", 0);
        cJSON_AddStringToObject(m, "owned_by", "tollgate");
        cJSON_AddItemToArray(data, m);
    }
    for (int i = 0; snap && data && i < tg_catalog_count(snap->catalog); i++) {
        const tg_cat_model *cm = tg_catalog_at(snap->catalog, i);
        if (!tg_config_provider(r->w->cfg, cm->provider))
            continue;
        cJSON *m = cJSON_CreateObject();
        cJSON_AddStringToObject(m, "id", cm->name);
        cJSON_AddStringToObject(m, "object", "model");
        cJSON_AddNumberToObject(m, "created",
                                cm->nversions ? (double)cm->versions[0].effective_from : 0);
        cJSON_AddStringToObject(m, "owned_by", cm->provider);
        cJSON_AddItemToArray(data, m);
    }
    tg_route_release(snap);
    char *txt = cJSON_PrintUnformatted(root);
    cJSON_Delete(root);
    if (!txt)
        return send_error(r, 500, "server_error", NULL, "out of memory");
    enum MHD_Result ret = send_body(r, 200, "application/json", txt, strlen(txt));
    cJSON_free(txt);
    return ret;
}

static enum MHD_Result answer_local(tg_req *r)
{
    if (r->ep == TG_EP_HEALTHZ)
        return send_body(r, 200, "application/json", "{\"status\":\"ok\"}", 15);
    return answer_models(r);
}

/* POST /v1/messages/count_tokens: tollgate's own estimate of the prompt, with the
 * catalog's estimate factor of the named model when it has one (no vendor call). */
static enum MHD_Result answer_count(tg_req *r)
{
    int64_t n = r->est_input;
    tg_route_snapshot *snap = tg_route_acquire();
    const tg_cat_model *m = snap ? tg_catalog_find(snap->catalog, r->requested_model) : NULL;
    if (m && strcmp(m->tokenizer, "estimate") == 0 && m->estimate_permille > 0)
        n = (n * m->estimate_permille + 999) / 1000;
    tg_route_release(snap);
    char body[64];
    int len = snprintf(body, sizeof body, "{\"input_tokens\":%lld}", (long long)n);
    return send_body(r, 200, "application/json", body, (size_t)len);
}

/* The store's answer for `secret`, from the worker's cache when it is fresh: a lookup in
 * SQLite costs file locks and reads, the cache one SHA-256.  Unknown keys are not cached
 * (a flood of wrong keys cannot evict good ones); revocations show within the TTL. */
static int lookup_key(worker *w, const char *secret, tg_key *out)
{
    unsigned char h[TG_SHA256_LEN];
    size_t len = strlen(secret);
    if (len > TG_KEY_SECRET_INPUT_MAX || tg_sha256(secret, len, h) != 0)
        return tg_store_key_lookup(w->store, secret, len, out);
    key_cache_entry *e = &w->keys[(h[0] | h[1] << 8) & (TG_KEY_CACHE_SLOTS - 1)];
    int64_t now = now_us();
    if (e->expires > now && CRYPTO_memcmp(e->hash, h, sizeof h) == 0) {
        *out = e->key;
        return e->status;
    }
    int st = tg_store_key_lookup(w->store, secret, len, out);
    if (st == TG_STORE_OK || st == TG_STORE_REVOKED) {
        memcpy(e->hash, h, sizeof h);
        e->key = *out;
        e->status = st;
        e->expires = now + TG_KEY_CACHE_TTL_US;
    }
    OPENSSL_cleanse(h, sizeof h);
    return st;
}

/* Authenticates the bearer (or x-api-key) secret; on failure queues the error. */
static bool authenticate(tg_req *r, enum MHD_Result *ret)
{
    const char *auth = header(r->con, "authorization");
    const char *secret = NULL;
    if (auth && strncasecmp(auth, "Bearer ", 7) == 0)
        secret = auth + 7;
    else
        secret = header(r->con, "x-api-key");
    if (!secret || !*secret) {
        *ret = send_error(r, 401, "invalid_request_error", "missing_api_key",
                          "You didn't provide an API key. Send your tollgate virtual key "
                          "as 'Authorization: Bearer <key>' (or 'x-api-key: <key>').");
        return false;
    }
    int st = lookup_key(r->w, secret, &r->key);
    if (st == TG_STORE_OK)
        return r->authed = true;
    if (st == TG_STORE_REVOKED) {
        char msg[160];
        snprintf(msg, sizeof msg, "The virtual key %s has been revoked.", r->key.id);
        *ret = send_error(r, 401, "invalid_request_error", "invalid_api_key", msg);
    } else if (st == TG_STORE_NOT_FOUND) {
        *ret = send_error(r, 401, "invalid_request_error", "invalid_api_key",
                          "Incorrect API key provided: not a tollgate virtual key.");
    } else {
        *ret = send_error(r, 500, "server_error", NULL,
                          "tollgate could not read its key store.");
    }
    return false;
}

/* ------------------------------------------------------------------ routing */

static const char *route_header(void *hctx, const char *name)
{
    return header(((tg_req *)hctx)->con, name);
}

/* The error for a decision that found no route; queued in the caller's dialect. */
static enum MHD_Result route_refused(tg_req *r, const tg_route_decision *d)
{
    if (d->status == TG_ROUTE_UNKNOWN_MODEL)
        return send_error(r, 404, "invalid_request_error", "model_not_found", d->message);
    if (d->status == TG_ROUTE_DENIED)
        return send_error(r, 403, "permission_error", "model_not_allowed", d->message);
    /* a concrete model whose only obstacle is its provider's set-up: a gateway problem */
    if (d->concrete && d->ncands >= 1 && strncmp(d->cands[0].why, "provider ", 9) == 0)
        return send_error(r, 502, "server_error", "upstream_not_configured", d->cands[0].why);
    return send_error(r, 400, "invalid_request_error", "no_capable_model", d->message);
}

/* The share of the team's USD budget spent or held in its current period, in percent
 * (0 without a budget): what policy rules see as budget_used_pct. */
static double budget_used_pct(const tg_req *r)
{
    int64_t budget = r->key.team_lim.budget_nusd;
    tg_quota_usage u;
    if (budget <= 0 || !tg_quota_usage_of(quota_, r->key.team, NULL, r->key.period,
                                          r->wall_start_us, &u))
        return budget == 0 ? 100.0 : 0.0;
    return (double)(u.spent_nusd + u.held_nusd) * 100.0 / (double)budget;
}

/* Routes the request (policy, candidates, cost) and fills r's attempt plan; on failure
 * queues the error.  The decision is big, so it lives on this frame only. */
static bool route(tg_req *r, const cJSON *body, enum MHD_Result *ret)
{
    r->snap = tg_route_acquire();
    if (!r->snap) {
        *ret = send_error(r, 503, "server_error", NULL, "tollgate has no routing loaded.");
        return false;
    }
    tg_count_kind kind = (tg_count_kind)r->ep;
    tg_caps_result caps;
    tg_caps_infer(body, kind, &caps);
    tg_route_body cc = {body, (int)kind};
    char tagbuf[TG_KEY_TAGS_MAX + 1];
    const char *tags[TG_KEY_MAX_TAGS];
    int ntags = tg_store_key_tags(&r->key, tagbuf, tags, TG_KEY_MAX_TAGS);
    tg_route_input in = {
        .ctx = {.team = r->key.team, .key_id = r->key.id, .key_tags = tags,
                .nkey_tags = ntags, .model = r->requested_model,
                .endpoint = tg_count_kind_name(kind), .input_tokens = r->est_input,
                .max_output_tokens = caps.max_output_tokens, .caps = caps.caps,
                .budget_used_pct = budget_used_pct(r), .header = route_header, .hctx = r},
        .provider_ok = tg_routing_provider_ok,
        .provider_exists = tg_routing_provider_exists,
        .pctx = (void *)r->w->cfg, .count_cl100k = tg_route_count_cl100k, .cctx = &cc,
        .now = r->wall_start_us / 1000000, .rand = r->w->rng};
    tg_route_decision d;
    if (tg_route_decide(r->snap->catalog, r->snap->policy, &in, &d) != TG_ROUTE_OK) {
        *ret = route_refused(r, &d);
        return false;
    }
    r->rule = d.rule;
    int max = d.rule->max_attempts < TG_MAX_ATTEMPTS ? d.rule->max_attempts : TG_MAX_ATTEMPTS;
    for (int i = 0; i < d.norder && r->nplan < max; i++) {
        const tg_route_cand *c = &d.cands[d.order[i]];
        r->plan[r->nplan].model = c->model;
        r->plan[r->nplan].prov = tg_config_provider(r->w->cfg, c->provider);
        r->plan[r->nplan].price = c->price;
        r->plan[r->nplan].expected_cost = c->expected_cost;
        r->plan[r->nplan].worst_cost = c->worst_cost;
        r->plan[r->nplan].input_tokens = c->input_tokens;
        r->plan[r->nplan].output_cap = c->output_cap;
        r->plan[r->nplan].out_price = tg_cat_tier(c->price, c->input_tokens)->output;
        r->nplan++;
    }
    return true;
}

/* Whether `body` (in the caller's dialect) can be said in dialect `up`; err gets why not.
 * Only chat completions and Anthropic messages translate into each other. */
static bool translatable(const tg_req *r, const cJSON *body, tg_wire up, char *err, size_t n)
{
    tg_wire in = r->ep == TG_EP_MESSAGES ? TG_WIRE_ANTHROPIC : TG_WIRE_OPENAI;
    if (in == up)
        return true;
    if (r->ep != TG_EP_CHAT && r->ep != TG_EP_MESSAGES) {
        snprintf(err, n, "%s requests cannot be translated to Anthropic's Messages API.",
                 tg_endpoint_name(r->ep));
        return false;
    }
    tg_xlate_opts o = {.max_tokens = 1};
    cJSON *out = NULL;
    int rc = in == TG_WIRE_OPENAI ? tg_xlate_req_to_anthropic(body, &o, &out, err, n)
                                  : tg_xlate_req_to_openai(body, &o, &out, err, n);
    cJSON_Delete(out);
    return rc != TG_XLATE_REFUSED; /* out of memory: found again when sending */
}

/* Drops from the plan the candidates whose provider's dialect cannot express the request
 * (like a missing capability: no hold, no record), keeping the order; when none is left,
 * queues the 400 naming the first reason, in the caller's dialect. */
static bool drop_untranslatable(tg_req *r, const cJSON *body, enum MHD_Result *ret)
{
    char err[2][TG_XLATE_ERR_MAX] = {"", ""}, first[TG_XLATE_ERR_MAX] = "";
    int verdict[2] = {-1, -1}, n = 0; /* per upstream dialect: -1 unknown, 0 no, 1 yes */
    for (int i = 0; i < r->nplan; i++) {
        int w = r->plan[i].prov && r->plan[i].prov->format == TG_FORMAT_ANTHROPIC;
        if (verdict[w] < 0)
            verdict[w] = translatable(r, body, (tg_wire)w, err[w], sizeof err[w]);
        if (verdict[w]) {
            r->plan[n++] = r->plan[i];
            continue;
        }
        if (!first[0])
            snprintf(first, sizeof first, "%s (model %s)", err[w], r->plan[i].model->name);
    }
    r->nplan = n;
    if (n > 0)
        return true;
    *ret = send_error(r, 400, "invalid_request_error", "untranslatable_request", first);
    return false;
}

/* Makes plan[i] the current attempt. */
static void use_attempt(tg_req *r, int i)
{
    r->attempt = i;
    r->prov = r->plan[i].prov;
    tg_str_copy(r->model, sizeof r->model, r->plan[i].model->upstream_model);
}

/* The current attempt's record as known before forwarding: who, what, where, the rule and
 * the versions (usage, status and costs come at the end). */
static void fill_record(const tg_req *r, tg_record *rec)
{
    memset(rec, 0, sizeof *rec);
    tg_str_copy(rec->id, sizeof rec->id, r->id);
    rec->attempt = r->tries > 0 ? r->tries : 1;
    rec->ts_us = r->wall_start_us;
    tg_str_copy(rec->team, sizeof rec->team, r->key.team);
    tg_str_copy(rec->key_id, sizeof rec->key_id, r->key.id);
    tg_str_copy(rec->provider, sizeof rec->provider, r->prov ? r->prov->name : "");
    tg_str_copy(rec->requested_model, sizeof rec->requested_model, r->requested_model);
    tg_str_copy(rec->model, sizeof rec->model,
                r->nplan ? r->plan[r->attempt].model->name : r->model);
    tg_str_copy(rec->endpoint, sizeof rec->endpoint, tg_endpoint_name(r->ep));
    rec->est_input_tokens = r->est_input;
    rec->ttfb_us = -1;
    if (!r->nplan)
        return;
    tg_str_copy(rec->rule, sizeof rec->rule, r->rule->id);
    tg_str_copy(rec->policy_version, sizeof rec->policy_version,
                tg_policy_version(r->snap->policy));
    tg_str_copy(rec->price_version, sizeof rec->price_version,
                r->plan[r->attempt].price->id);
}

/* Holds the worst case of plan[i] against the key's and team's limits.  Returns the
 * tg_quota status; on admission r->hold is live, r->clamp_out set when the output cap had
 * to be lowered, and r->ledger_wait when the reservation's durability notice must come
 * before the request goes upstream. */
static int reserve(tg_req *r, int i)
{
    use_attempt(r, i);
    r->tries++;
    tg_record rec;
    fill_record(r, &rec);
    r->tries--;
    const plan_entry *p = &r->plan[i];
    tg_quota_ask ask = {.key = &r->key, .rec = &rec, .cost_nusd = p->worst_cost,
                        .tokens = p->input_tokens + p->output_cap,
                        .out_tokens = p->output_cap, .out_nusd_per_mtok = p->out_price,
                        .waiter = r->w->waiter, .cookie = (uint64_t)(uintptr_t)r};
    /* alone on this worker: commit the reservation here rather than wait for the ledger
     * writer's thread (two thread wake-ups); blocking the loop holds no one else up */
    tg_ledger_waiter_inline(r->w->waiter, r->w->active == r && !r->next);
    int st = tg_quota_reserve(quota_, &ask, &r->hold, &r->qres);
    if (st != TG_QUOTA_OK && st != TG_QUOTA_CLAMPED)
        return st;
    r->admitted = true;
    r->clamp_out = st == TG_QUOTA_CLAMPED ? r->qres.out_tokens : 0;
    r->ledger_wait = r->qres.wait;
    return st;
}

/* Sets the error a refused admission gets (queued by the caller or on resume). */
static void quota_refusal(tg_req *r, int st)
{
    r->err_status = st == TG_QUOTA_NO_PRICE ? 403 : 429;
    r->err_type = st == TG_QUOTA_EXHAUSTED ? "insufficient_quota"
                  : st != TG_QUOTA_RATE_LIMITED ? "invalid_request_error"
                  : r->qres.why.what == TG_QUOTA_TPM ? "tokens" : "requests";
    r->err_code = st == TG_QUOTA_EXHAUSTED ? "insufficient_quota"
                  : st == TG_QUOTA_RATE_LIMITED ? "rate_limit_exceeded" : "model_not_allowed";
    if (st == TG_QUOTA_EXHAUSTED || st == TG_QUOTA_RATE_LIMITED)
        tg_quota_message(&r->qres.why, r->err_msg, sizeof r->err_msg);
    else
        tg_quota_no_price_message(r->plan[r->attempt].model->name, r->err_msg,
                                  sizeof r->err_msg);
    if (st == TG_QUOTA_RATE_LIMITED) {
        int64_t wait = (r->qres.why.reset_us - wall_us() + 999999) / 1000000;
        r->retry_after_s = wait < 1 ? 1 : wait > 3600 ? 3600 : (int)wait;
    }
}

/* Admission of the first attempt: the first candidate in the plan whose worst case fits
 * (a later one may be cheaper under "ordered"); when none fits, the refusal of the first. */
static int admit(tg_req *r)
{
    int first = -1;
    for (int i = 0; i < r->nplan; i++) {
        int st = reserve(r, i);
        if (st == TG_QUOTA_OK || st == TG_QUOTA_CLAMPED) {
            r->err_status = r->retry_after_s = 0;
            return st;
        }
        if (first < 0) {
            first = st;
            quota_refusal(r, st);
        }
        if (st == TG_QUOTA_RATE_LIMITED || st == TG_QUOTA_INVALID)
            break; /* no other model changes a rate limit */
    }
    use_attempt(r, 0);
    return first;
}

/* Validates the body and counts its prompt tokens; queues a 400 on failure. */
static cJSON *parse_request(tg_req *r, enum MHD_Result *ret)
{
    cJSON *body = cJSON_ParseWithLength(r->body.p ? r->body.p : "", r->body.len);
    if (!cJSON_IsObject(body)) {
        cJSON_Delete(body);
        *ret = send_error(r, 400, "invalid_request_error", NULL,
                          "We could not parse the JSON body of your request. (HINT: This "
                          "likely means you aren't using your HTTP library correctly. The "
                          "API expects a JSON payload.)");
        return NULL;
    }
    const char *dup;
    if (tg_jc_duplicate_key(body, &dup)) {
        char msg[200];
        snprintf(msg, sizeof msg, "The request body has the key \"%.100s\" twice in one "
                 "object; send each key once.", dup);
        cJSON_Delete(body);
        *ret = send_error(r, 400, "invalid_request_error", "duplicate_key", msg);
        return NULL;
    }
    const cJSON *model = cJSON_GetObjectItemCaseSensitive(body, "model");
    if (!cJSON_IsString(model) || !model->valuestring[0] ||
        strlen(model->valuestring) >= sizeof r->requested_model) {
        cJSON_Delete(body);
        *ret = send_error(r, 400, "invalid_request_error", NULL,
                          "you must provide a model parameter");
        return NULL;
    }
    tg_str_copy(r->requested_model, sizeof r->requested_model, model->valuestring);
    tg_count_kind kind = (tg_count_kind)r->ep; /* TG_EP_* mirrors the count kinds */
    tg_count_result cr;
    char err[256];
    /* the router's base estimate is o200k; models with other tokenizers adjust it */
    if (tg_count_request(body, kind, "gpt-4o", &cr, err, sizeof err) != TG_COUNT_OK) {
        cJSON_Delete(body);
        *ret = send_error(r, 400, "invalid_request_error", NULL, err);
        return NULL;
    }
    r->est_input = cr.tokens;
    return body;
}

/* Lowers the request's output cap to r->clamp_out (what fits the budget): the field the
 * client used, else the endpoint's own (max_completion_tokens for chat completions). */
static void set_output_cap(tg_req *r, cJSON *body)
{
    static const char *const fields[] = {"max_completion_tokens", "max_tokens",
                                         "max_output_tokens"};
    for (size_t i = 0; i < sizeof fields / sizeof *fields; i++)
        if (cJSON_GetObjectItemCaseSensitive(body, fields[i])) {
            cJSON_ReplaceItemInObjectCaseSensitive(body, fields[i],
                                                   cJSON_CreateNumber((double)r->clamp_out));
            return;
        }
    const char *f = r->ep == TG_EP_CHAT ? fields[0] : r->ep == TG_EP_RESPONSES ? fields[2]
                                                                               : fields[1];
    cJSON_AddNumberToObject(body, f, (double)r->clamp_out);
}

/* Sets the current attempt's upstream dialect and, when it is not the client's, the
 * translated request (*out) and the stream translator.  An Anthropic request without
 * max_tokens gets the route's output cap.  Returns TG_XLATE_OK, TG_XLATE_NOMEM, or
 * TG_XLATE_REFUSED with the 400 in r->err_*. */
static int prepare_dialects(tg_req *r, const cJSON *body, cJSON **out)
{
    tg_wire in = r->ep == TG_EP_MESSAGES ? TG_WIRE_ANTHROPIC : TG_WIRE_OPENAI;
    tg_wire up = r->prov->format == TG_FORMAT_ANTHROPIC ? TG_WIRE_ANTHROPIC : TG_WIRE_OPENAI;
    tg_xlate_opts o = {.max_tokens = r->plan[r->attempt].output_cap,
                       .max_completion = strcmp(r->prov->name, "openai") == 0};
    char err[TG_XLATE_ERR_MAX] = "";
    int rc = TG_XLATE_OK;
    *out = NULL;
    tg_xlate_stream_free(r->xs);
    r->xs = NULL;
    r->dialect = up == TG_WIRE_ANTHROPIC ? &tg_dialect_anthropic : &tg_dialect_openai;
    r->xlate = in != up;
    if (!r->xlate && up == TG_WIRE_ANTHROPIC &&
        !cJSON_IsNumber(cJSON_GetObjectItemCaseSensitive(body, "max_tokens"))) {
        *out = cJSON_Duplicate(body, 1);
        cJSON_DeleteItemFromObjectCaseSensitive(*out, "max_tokens");
        return *out && cJSON_AddNumberToObject(*out, "max_tokens", (double)o.max_tokens)
                   ? TG_XLATE_OK : TG_XLATE_NOMEM;
    }
    if (!r->xlate)
        return TG_XLATE_OK;
    if (r->ep != TG_EP_CHAT && r->ep != TG_EP_MESSAGES) {
        snprintf(err, sizeof err, "The routed model %s speaks Anthropic's Messages API only: "
                 "%s requests cannot be translated for it.", r->plan[r->attempt].model->name,
                 tg_endpoint_name(r->ep));
        rc = TG_XLATE_REFUSED;
    } else if (in == TG_WIRE_OPENAI) {
        rc = tg_xlate_req_to_anthropic(body, &o, out, err, sizeof err);
    } else {
        rc = tg_xlate_req_to_openai(body, &o, out, err, sizeof err);
    }
    if (rc == TG_XLATE_REFUSED) {
        r->err_status = 400;
        r->err_type = "invalid_request_error";
        r->err_code = "untranslatable_request";
        snprintf(r->err_msg, sizeof r->err_msg, "%s", err);
        return rc;
    }
    const cJSON *so = cJSON_GetObjectItemCaseSensitive(body, "stream_options");
    bool usage = cJSON_IsTrue(cJSON_GetObjectItemCaseSensitive(so, "include_usage"));
    if (rc == TG_XLATE_OK && cJSON_IsTrue(cJSON_GetObjectItemCaseSensitive(body, "stream"))) {
        r->xs = tg_xlate_stream_new(up, in, usage, wall_us() / 1000000);
        rc = r->xs ? TG_XLATE_OK : TG_XLATE_NOMEM;
    }
    return rc;
}

static int send_upstream_body(tg_req *r, cJSON *body, bool edited);

/* Starts the current attempt's upstream transfer with `body`: the client's bytes
 * unchanged unless tollgate must edit the request (model name, usage in streams, a
 * translation into the provider's dialect).  Returns 0, -1 when memory ran out, or -2
 * when the request cannot be translated for this provider (the 400 is in r->err_*). */
static int send_upstream(tg_req *r, cJSON *body)
{
    cJSON *xbody = NULL;
    int xr = prepare_dialects(r, body, &xbody);
    if (xr != TG_XLATE_OK)
        return xr == TG_XLATE_REFUSED ? -2 : -1;
    int rc = send_upstream_body(r, xbody ? xbody : body, xbody != NULL);
    cJSON_Delete(xbody);
    return rc;
}

/* send_upstream's second half: `body` in the provider's dialect (`edited`: not the
 * client's bytes). */
static int send_upstream_body(tg_req *r, cJSON *body, bool edited)
{
    const cJSON *m = cJSON_GetObjectItemCaseSensitive(body, "model");
    bool injected = false, edit = edited || !cJSON_IsString(m) ||
                                  strcmp(r->model, m->valuestring) != 0;
    r->sse.strip_usage = false;
    if (r->ep == TG_EP_CHAT || r->ep == TG_EP_COMPLETIONS) {
        if (r->dialect->ask_stream_usage(body, &injected) != 0)
            return -1;
        r->sse.strip_usage = injected;
    }
    if (edit)
        cJSON_ReplaceItemInObjectCaseSensitive(body, "model", cJSON_CreateString(r->model));
    if (r->clamp_out > 0) {
        set_output_cap(r, body);
        edit = true;
    }
    int rc;
    if (injected || edit) {
        char *txt = cJSON_PrintUnformatted(body);
        rc = txt ? start_upstream(r, txt, strlen(txt)) : -1;
        cJSON_free(txt);
    } else {
        rc = start_upstream(r, r->body.p, r->body.len);
    }
    if (rc != 0)
        end_upstream(r);
    return rc;
}

static enum MHD_Result forward(tg_req *r, cJSON *body)
{
    int rc = send_upstream(r, body);
    if (rc == -2) { /* untranslatable: the hold is released, the record says 400 */
        tg_usage none = {0};
        finish_attempt(r, 400, &none, false);
        return send_error(r, r->err_status, r->err_type, r->err_code, r->err_msg);
    }
    if (rc != 0)
        return send_error(r, 500, "server_error", NULL, "tollgate could not start the "
                          "upstream request (out of memory)");
    r->state = RS_UPSTREAM;
    suspend(r);
    return MHD_YES;
}

static enum MHD_Result start_request(tg_req *r)
{
    enum MHD_Result ret = MHD_YES;
    if (r->ep == TG_EP_HEALTHZ)
        return answer_local(r);
    if (!authenticate(r, &ret))
        return ret;
    if (r->ep == TG_EP_MODELS)
        return answer_local(r);
    const char *av = header(r->con, "anthropic-version");
    const char *ab = header(r->con, "anthropic-beta");
    if (r->ep == TG_EP_MESSAGES && (!av || !*av))
        return send_error(r, 400, "invalid_request_error", NULL,
                          "anthropic-version: header is required");
    if (r->ep == TG_EP_MESSAGES && ((av && strlen(av) > TG_MAX_ANTHROPIC_HEADER) ||
                                    (ab && strlen(ab) > TG_MAX_ANTHROPIC_HEADER))) {
        char msg[128];
        snprintf(msg, sizeof msg, "The anthropic-version and anthropic-beta headers may have "
                 "at most %d bytes each.", TG_MAX_ANTHROPIC_HEADER);
        return send_error(r, 400, "invalid_request_error", NULL, msg);
    }
    if (r->too_big) {
        char msg[128];
        snprintf(msg, sizeof msg, "Request body too large: the limit is %zu bytes.",
                 r->w->cfg->max_body_bytes);
        return send_error(r, 413, "invalid_request_error", "request_too_large", msg);
    }
    cJSON *body = parse_request(r, &ret);
    if (!body)
        return ret;
    r->stream_asked = asks_stream(r->body.p, r->body.len);
    if (r->count_only) {
        cJSON_Delete(body);
        return answer_count(r);
    }
    if (!route(r, body, &ret) || !drop_untranslatable(r, body, &ret)) {
        cJSON_Delete(body);
        return ret;
    }
    int st = admit(r);
    if (st != TG_QUOTA_OK && st != TG_QUOTA_CLAMPED) {
        cJSON_Delete(body);
        return send_error(r, r->err_status, r->err_type, r->err_code, r->err_msg);
    }
    r->tries = 1;
    if (r->ledger_wait) { /* forwarded when the reservation is durable (ledger_ready) */
        r->pending = body;
        r->state = RS_UPSTREAM;
        suspend(r);
        return MHD_YES;
    }
    ret = forward(r, body);
    cJSON_Delete(body);
    return ret;
}

/* ------------------------------------------------------------------ response phase */

/* libcurl 7.88 keeps an HTTP/2 transfer's upload buffer (16 KiB, its minimum) for the life
 * of the transfer, held by every open stream for nothing once the body has gone.  Setting
 * CURLOPT_UPLOAD_BUFFERSIZE frees it (setopt.c: "force a realloc next opportunity"), so once
 * libcurl counts the whole body sent it is set again.  Called outside libcurl's callbacks.
 * HTTP/1.1 sends a POSTFIELDS body without that buffer: there this frees nothing. */
static void release_upload(tg_req *r)
{
    curl_off_t sent = 0;
    if (r->upload_freed || !r->easy)
        return;
    if (curl_easy_getinfo(r->easy, CURLINFO_SIZE_UPLOAD_T, &sent) != CURLE_OK ||
        sent < (curl_off_t)r->up_body_len)
        return;
    curl_easy_setopt(r->easy, CURLOPT_UPLOAD_BUFFERSIZE, (long)TG_UPLOAD_BUFFER);
    r->upload_freed = true;
}

static ssize_t stream_reader(void *cls, uint64_t pos, char *buf, size_t max)
{
    tg_req *r = cls;
    (void)pos;
    release_upload(r);
    if (r->client_gone)
        return MHD_CONTENT_READER_END_WITH_ERROR;
    if (r->out.len) {
        size_t n = r->out.len < max ? r->out.len : max;
        memcpy(buf, r->out.p, n);
        tg_buf_consume(&r->out, n);
        if (r->paused && r->easy && r->out.len < r->w->cfg->stream_buffer_bytes / 2) {
            r->paused = false;
            curl_easy_pause(r->easy, CURLPAUSE_CONT);
        }
        return (ssize_t)n;
    }
    if (r->upstream_done)
        return r->stream_error ? MHD_CONTENT_READER_END_WITH_ERROR
                               : MHD_CONTENT_READER_END_OF_STREAM;
    suspend(r);
    return 0;
}

static void add_pass_headers(tg_req *r, struct MHD_Response *resp)
{
    char *p = r->pass_headers.p, *end = p ? p + r->pass_headers.len : NULL;
    while (p && p < end) {
        char *nl = memchr(p, '\n', (size_t)(end - p));
        char *colon = memchr(p, ':', (size_t)(nl - p));
        if (!nl || !colon)
            break;
        *nl = '\0';
        *colon = '\0';
        MHD_add_response_header(resp, p, colon + 2);
        *colon = ':';
        *nl = '\n';
        p = nl + 1;
    }
}

static enum MHD_Result queue_upstream_response(tg_req *r)
{
    struct MHD_Response *resp;
    if (r->streaming) {
        resp = MHD_create_response_from_callback(MHD_SIZE_UNKNOWN, TG_STREAM_BLOCK,
                                                 stream_reader, r, NULL);
        r->stream_counted = true;
        tg_metrics_streams(1);
    } else {
        resp = MHD_create_response_from_buffer(r->out.len, r->out.p, MHD_RESPMEM_MUST_COPY);
    }
    if (!resp)
        return MHD_NO;
    if (r->content_type[0])
        MHD_add_response_header(resp, "content-type", r->content_type);
    add_pass_headers(r, resp);
    add_common_headers(r, resp);
    tg_buf_free(&r->pass_headers); /* copied into resp */
    if (r->streaming) {
        MHD_add_response_header(resp, "cache-control", "no-cache");
        tg_buf_free(&r->body); /* not needed again (libcurl sends its own copy) */
    }
    enum MHD_Result ret = MHD_queue_response(r->con, (unsigned)r->up_status, resp);
    MHD_destroy_response(resp);
    r->status = (int)r->up_status;
    r->state = RS_SENT;
    return ret;
}

/* The upstream failed before answering: the error the client gets. */
static enum MHD_Result queue_upstream_failure(tg_req *r)
{
    char msg[256];
    if (r->cres == CURLE_OPERATION_TIMEDOUT) {
        tg_metrics_upstream_error("timeout");
        snprintf(msg, sizeof msg, "Upstream %s timed out.", r->prov->name);
        return send_error(r, 504, "server_error", "upstream_timeout", msg);
    }
    bool connect = r->cres == CURLE_COULDNT_CONNECT || r->cres == CURLE_COULDNT_RESOLVE_HOST;
    tg_metrics_upstream_error(connect ? "connect" : "broken");
    snprintf(msg, sizeof msg, "Upstream %s %s: %s.", r->prov->name,
             connect ? "is unreachable" : "sent a broken response",
             curl_easy_strerror(r->cres));
    return send_error(r, 502, "server_error", connect ? "upstream_unreachable" :
                      "upstream_error", msg);
}

static enum MHD_Result add_header_bytes(void *cls, enum MHD_ValueKind kind, const char *key,
                                        size_t key_size, const char *value,
                                        size_t value_size)
{
    size_t *n = cls;
    (void)key, (void)value;
    /* "Name: value\r\n", or "key=value&" in the query string */
    *n += key_size + value_size + (kind == MHD_HEADER_KIND ? 4 : 2);
    return MHD_YES;
}

/* The limits checked before anything else, on a request's first call: the connection
 * count (503, the connection closes after it) and the size of the request line and
 * headers (431).  Queues the error and returns true when one is passed.  A header block
 * larger than MHD's per-connection pool (max_header_bytes + TG_CONN_POOL_EXTRA) never
 * reaches tollgate: MHD answers it with its own 431. */
static bool refuse_over_limits(tg_req *r, const char *method, const char *url,
                               const char *version, enum MHD_Result *ret)
{
    const tg_config *cfg = r->w->cfg;
    const union MHD_ConnectionInfo *ci =
        MHD_get_connection_info(r->con, MHD_CONNECTION_INFO_SOCKET_CONTEXT);
    char msg[160];
    if (ci && ci->socket_context == &over_limit) {
        r->refused = true;
        snprintf(msg, sizeof msg, "tollgate is at its connection limit (%u open connections). "
                 "Retry shortly, or reuse a kept-alive connection.", cfg->max_connections);
        *ret = send_error(r, 503, "server_error", "connection_limit_reached", msg);
        return true;
    }
    size_t n = strlen(method) + strlen(url) + strlen(version) + 4;
    MHD_get_connection_values_n(r->con, MHD_HEADER_KIND | MHD_GET_ARGUMENT_KIND,
                                add_header_bytes, &n);
    if (n <= cfg->max_header_bytes)
        return false;
    snprintf(msg, sizeof msg, "Request headers too large: %zu bytes, the limit is %zu bytes.",
             n, cfg->max_header_bytes);
    *ret = send_error(r, 431, "invalid_request_error", "request_headers_too_large", msg);
    return true;
}

/* A zeroed request, from the worker's spares when it has one (a tg_req is a few KiB:
 * past malloc's per-thread caches, so calloc and free cost a trip into its bins). */
static tg_req *req_new(worker *w)
{
    if (!w->nspare)
        return calloc(1, sizeof(tg_req));
    tg_req *r = w->spare[--w->nspare];
    tg_buf body = r->body, out = r->out; /* their memory is kept for reuse */
    memset(r, 0, sizeof *r);
    r->body = body, r->out = out;
    return r;
}

static enum MHD_Result on_request(void *cls, struct MHD_Connection *con, const char *url,
                                  const char *method, const char *version,
                                  const char *upload, size_t *upload_size, void **con_cls)
{
    worker *w = cls;
    tg_req *r = *con_cls;
    (void)version;
    if (!r) {
        r = req_new(w);
        if (!r)
            return MHD_NO;
        r->w = w;
        r->con = con;
        r->t_start = now_us();
        r->wall_start_us = wall_us();
        r->t_first_byte = -1;
        r->path = url;
        tg_buf_rearm(&r->body, w->cfg->max_body_bytes, TG_REQ_POOL_BUF_KEEP);
        tg_buf_rearm(&r->out, TG_MAX_UPSTREAM_RESPONSE, TG_REQ_POOL_BUF_KEEP);
        tg_buf_init(&r->in, TG_MAX_SSE_EVENT);
        tg_buf_init(&r->pass_headers, TG_MAX_PASS_HEADERS);
        tg_buf_init(&r->sse.delivered, TG_MAX_DELIVERED_TEXT);
        new_request_id(w, r->id, sizeof r->id);
        list_add(w, r);
        *con_cls = r;
        enum MHD_Result ret;
        if (refuse_over_limits(r, method, url, version, &ret))
            return ret;
        bool post;
        if (!endpoint_of(url, method, &r->ep, &post)) {
            r->ep = TG_EP_OTHER;
            return send_error(r, 404, "invalid_request_error", "unknown_url",
                              "Unknown request URL. Please check the URL for typos.");
        }
        if (strcmp(method, post ? "POST" : "GET") != 0) {
            char msg[96];
            snprintf(msg, sizeof msg, "Method %s is not allowed here: use %s.", method,
                     post ? "POST" : "GET");
            return send_error(r, 405, "invalid_request_error", "method_not_allowed", msg);
        }
        r->count_only = strcmp(url, "/v1/messages/count_tokens") == 0;
        const char *cl = header(con, "content-length");
        if (cl && strtoull(cl, NULL, 10) > w->cfg->max_body_bytes)
            r->too_big = true;
        return MHD_YES;
    }
    if (r->state == RS_RECV) {
        if (*upload_size) {
            if (!r->too_big && tg_buf_append(&r->body, upload, *upload_size) != TG_BUF_OK)
                r->too_big = true;
            *upload_size = 0;
            return MHD_YES;
        }
        return start_request(r);
    }
    if (r->client_gone)
        return MHD_NO;
    if (r->state == RS_READY) {
        if (r->err_status)
            return send_error(r, r->err_status, r->err_type, r->err_code, r->err_msg);
        if (r->streaming || r->headers_done)
            return queue_upstream_response(r);
        return queue_upstream_failure(r);
    }
    return MHD_YES;
}

/* ------------------------------------------------------------------ completion */

/* Tokens of the text delivered to the client, counted the way the routed model is. */
static int64_t delivered_tokens(const tg_req *r)
{
    if (!r->sse.delivered.len)
        return 0;
    const tg_cat_model *m = r->nplan ? r->plan[r->attempt].model : NULL;
    const tg_bpe *bpe = m ? tg_bpe_by_name(m->tokenizer) : NULL;
    if (!bpe)
        bpe = tg_bpe_get(TG_BPE_O200K);
    int64_t n = (int64_t)tg_bpe_count(bpe, r->sse.delivered.p, r->sse.delivered.len);
    if (m && strcmp(m->tokenizer, "estimate") == 0 && m->estimate_permille > 0)
        n = (n * m->estimate_permille + 999) / 1000;
    return n;
}

/* The usage of the current attempt: vendor-reported, else estimated when an answer began
 * (stream cut, client gone): the prompt as estimated and the text actually delivered.
 * Refused or failed attempts (no 200) are not billed by the vendors: zero. */
static tg_usage attempt_usage(const tg_req *r, bool *estimated)
{
    tg_usage u = r->streaming ? r->sse.usage : r->usage;
    *estimated = false;
    if (u.reported || r->up_status != 200)
        return u;
    u.input = r->nplan ? r->plan[r->attempt].input_tokens : r->est_input;
    u.output = delivered_tokens(r);
    *estimated = true;
    return u;
}

/* Prices `u` at the attempt's price version and long-context tier into rec's costs, by
 * token type (each rounded on its own; the total is their sum).  Cached reads and cache
 * writes without their own price bill as input, reasoning without its own as output. */
static void price_usage(const tg_cat_version *v, const tg_usage *u, tg_record *rec)
{
    const tg_cat_prices *p = tg_cat_tier(v, u->input);
    int64_t cached_p = p->cached_input != TG_CAT_PRICE_UNKNOWN ? p->cached_input : p->input;
    int64_t write_p = p->cache_write != TG_CAT_PRICE_UNKNOWN ? p->cache_write : p->input;
    int64_t write1h_p = p->cache_write_1h != TG_CAT_PRICE_UNKNOWN ? p->cache_write_1h : write_p;
    int64_t w1h = u->cache_write_1h < u->cache_write ? u->cache_write_1h : u->cache_write;
    int64_t reason_p = p->reasoning != TG_CAT_PRICE_UNKNOWN ? p->reasoning : p->output;
    int64_t uncached = u->input - u->cached_input - u->cache_write;
    int64_t plain_out = u->output - u->reasoning;
    rec->cost_input_nusd = tg_cat_cost(uncached > 0 ? uncached : 0, p->input);
    rec->cost_cached_nusd = tg_cat_cost(u->cached_input, cached_p);
    rec->cost_cache_write_nusd = tg_cat_cost(u->cache_write - w1h, write_p) +
                                 tg_cat_cost(w1h, write1h_p);
    rec->cost_output_nusd = tg_cat_cost(plain_out > 0 ? plain_out : 0, p->output) +
                            tg_cat_cost(u->reasoning, reason_p);
    rec->cost_nusd = rec->cost_input_nusd + rec->cost_cached_nusd +
                     rec->cost_cache_write_nusd + rec->cost_output_nusd;
}

/* Ends the current attempt: its record with usage, status and cost goes to the ledger,
 * settling the attempt's hold (something was billed: an answer began) or releasing it
 * (the upstream refused or failed before answering).  Once per attempt. */
static void finish_attempt(tg_req *r, int status, const tg_usage *u, bool estimated)
{
    if (r->recorded == r->tries)
        return;
    r->recorded = r->tries;
    tg_record rec;
    fill_record(r, &rec);
    rec.input_tokens = u->input;
    rec.cached_input_tokens = u->cached_input;
    rec.cache_write_tokens = u->cache_write;
    rec.output_tokens = u->output;
    rec.reasoning_tokens = u->reasoning;
    rec.usage_estimated = estimated;
    rec.status = status;
    rec.upstream_status = (int)r->up_status;
    rec.latency_us = (r->t_end > 0 ? r->t_end : now_us()) - r->t_start;
    rec.ttfb_us = r->t_first_byte >= 0 ? r->t_first_byte - r->t_up_start : -1;
    rec.streamed = r->streaming;
    rec.client_aborted = r->client_gone;
    bool billed = r->up_status == 200 && r->t_up_start;
    if (billed && r->nplan)
        price_usage(r->plan[r->attempt].price, u, &rec);
    if (!r->hold.live)
        tg_records_submit(&rec);
    else if (billed)
        tg_quota_settle(quota_, &r->hold, &rec);
    else
        tg_quota_release(quota_, &r->hold, &rec);
}

static void settle_and_record(tg_req *r)
{
    if (r->usage_unread) { /* the answer as the upstream sent it: r->out is untouched */
        r->usage_unread = false;
        tg_dialect_usage_of(r->dialect, r->out.p ? r->out.p : "", r->out.len, &r->usage);
    }
    bool estimated;
    tg_usage u = attempt_usage(r, &estimated);
    if (r->t_up_start)
        tg_metrics_tokens(u.input, u.cached_input, u.output, u.reasoning, estimated);
    if (r->t_up_start || r->hold.live)
        finish_attempt(r, r->status, &u, estimated);
    if (r->t_up_start && r->up_status == 200 && !r->client_gone)
        tg_route_observe_output(r->key.team, r->requested_model, u.output);
    tg_metrics_request(r->ep, r->status, r->streaming, r->t_up_start != 0,
                       r->t_first_byte >= 0 ? r->t_first_byte - r->t_up_start : -1,
                       r->t_end - (r->t_up_start ? r->t_up_start : r->t_start));
}

static void req_free(tg_req *r)
{
    list_del(r->w, r);
    unwatch_client(r);
    tg_buf_free(&r->in);
    tg_buf_free(&r->pass_headers);
    tg_buf_free(&r->sse.delivered);
    tg_xlate_stream_free(r->xs);
    cJSON_Delete(r->pending);
    tg_route_release(r->snap);
    worker *w = r->w;
    if (w->nspare < TG_REQ_POOL) {
        tg_buf_rearm(&r->body, 0, TG_REQ_POOL_BUF_KEEP); /* kept, up to a size */
        tg_buf_rearm(&r->out, 0, TG_REQ_POOL_BUF_KEEP);
        w->spare[w->nspare++] = r;
    } else {
        tg_buf_free(&r->body);
        tg_buf_free(&r->out);
        free(r);
    }
}

static void on_completed(void *cls, struct MHD_Connection *con, void **con_cls,
                         enum MHD_RequestTerminationCode toe)
{
    tg_req *r = *con_cls;
    (void)cls;
    (void)con;
    if (!r)
        return;
    /* Not completed and not ended by tollgate (a broken upstream stream): the client left. */
    if (toe != MHD_REQUEST_TERMINATED_COMPLETED_OK && !r->stream_error &&
        toe != MHD_REQUEST_TERMINATED_DAEMON_SHUTDOWN)
        r->client_gone = true;
    if (r->easy) {
        tg_metrics_upstream_error("client_abort");
        end_upstream(r);
    }
    if (r->stream_counted)
        tg_metrics_streams(-1);
    r->t_end = now_us();
    settle_and_record(r);
    *con_cls = NULL;
    if (r->ledger_wait) { /* its durability notice is still to come: freed then */
        unwatch_client(r);
        r->orphan = true;
        r->con = NULL;
        return;
    }
    req_free(r);
}

/* The fallback class of the current attempt's failure (TG_FB_*), 0 for none. */
static uint32_t failure_class(const tg_req *r)
{
    if (r->cres == CURLE_OPERATION_TIMEDOUT)
        return TG_FB_TIMEOUT;
    if (r->cres == CURLE_COULDNT_CONNECT || r->cres == CURLE_COULDNT_RESOLVE_HOST)
        return TG_FB_CONNECT;
    if (r->cres != CURLE_OK || r->up_status >= 500)
        return TG_FB_5XX;
    if (r->up_status == 429)
        return TG_FB_429;
    if (r->up_status == 400 && r->out.len &&
        (memmem(r->out.p, r->out.len, "context_length_exceeded", 23) ||
         memmem(r->out.p, r->out.len, "prompt is too long", 18))) /* OpenAI; Anthropic */
        return TG_FB_CONTEXT_LENGTH;
    return 0;
}

/* Clears what the previous attempt left (nothing of it reached the client). */
static void reset_attempt(tg_req *r)
{
    r->up_status = 0;
    r->cres = CURLE_OK;
    r->headers_done = r->streaming = r->paused = false;
    r->content_type[0] = '\0';
    r->t_first_byte = -1;
    memset(&r->usage, 0, sizeof r->usage);
    r->usage_unread = false;
    memset(&r->sse.usage, 0, sizeof r->sse.usage);
    r->sse.done = false;
    tg_buf_reset(&r->pass_headers);
    tg_buf_reset(&r->out);
    tg_buf_reset(&r->in);
    tg_buf_reset(&r->sse.delivered);
}

/* Before the first byte reached the client, a failure the rule names moves the request
 * to its next candidate; the failed attempt gets its own record.  True when the next
 * attempt is under way. */
static bool try_fallback(tg_req *r)
{
    if (r->state != RS_UPSTREAM || r->client_gone || r->streaming || !r->rule ||
        r->attempt + 1 >= r->nplan || !(failure_class(r) & r->rule->fallback_on))
        return false;
    end_upstream(r);
    bool est;
    tg_usage u = attempt_usage(r, &est);
    int st = r->cres == CURLE_OK ? (int)r->up_status
             : r->cres == CURLE_OPERATION_TIMEDOUT ? 504 : 502;
    r->t_end = now_us();
    finish_attempt(r, st, &u, est);
    int failed = r->attempt, qs = reserve(r, failed + 1);
    if (qs != TG_QUOTA_OK && qs != TG_QUOTA_CLAMPED) {
        use_attempt(r, failed); /* the next does not fit the budget: this answer stands */
        r->err_status = r->retry_after_s = 0;
        return false;
    }
    tg_metrics_fallback();
    cJSON *body = cJSON_ParseWithLength(r->body.p ? r->body.p : "", r->body.len);
    reset_attempt(r);
    r->tries++;
    r->t_end = 0;
    if (body && r->ledger_wait) { /* forwarded by ledger_ready */
        r->pending = body;
        return true;
    }
    int rc = body ? send_upstream(r, body) : -1;
    cJSON_Delete(body);
    if (rc == -2)
        return false; /* untranslatable for the next provider: its 400 is in r->err_* */
    if (rc != 0) {
        r->cres = CURLE_OUT_OF_MEMORY;
        return false;
    }
    return true;
}

/* Rewrites a complete upstream answer (r->out) in the client's dialect: a response, or
 * the vendor's error in the client's error shape.  An answer that cannot be translated
 * becomes tollgate's 502 (the usage already read still bills). */
static void translate_answer(tg_req *r)
{
    tg_wire in = r->ep == TG_EP_MESSAGES ? TG_WIRE_ANTHROPIC : TG_WIRE_OPENAI;
    tg_buf b;
    tg_buf_init(&b, TG_MAX_UPSTREAM_RESPONSE);
    int rc = TG_BUF_OK;
    if (r->up_status == 200) {
        cJSON *j = cJSON_ParseWithLength(r->out.p ? r->out.p : "", r->out.len), *t = NULL;
        int xr = !j ? TG_XLATE_REFUSED : in == TG_WIRE_OPENAI
                 ? tg_xlate_resp_to_openai(j, wall_us() / 1000000, &t)
                 : tg_xlate_resp_to_anthropic(j, &t);
        char *txt = xr == TG_XLATE_OK ? cJSON_PrintUnformatted(t) : NULL;
        rc = txt ? tg_buf_puts(&b, txt) : TG_BUF_NOMEM;
        cJSON_free(txt);
        cJSON_Delete(t);
        cJSON_Delete(j);
    } else {
        rc = tg_xlate_error(r->out.p, r->out.len, (int)r->up_status, in, &b);
    }
    if (rc != TG_BUF_OK) {
        tg_buf_free(&b);
        r->err_status = 502;
        r->err_type = "server_error";
        r->err_code = "upstream_error";
        snprintf(r->err_msg, sizeof r->err_msg, "The answer of upstream %s could not be "
                 "translated into the API you called.", r->prov->name);
        return;
    }
    tg_buf_free(&r->out);
    r->out = b;
    snprintf(r->content_type, sizeof r->content_type, "application/json");
}

/* A transfer finished (well or not). */
static void upstream_finished(tg_req *r, CURLcode res)
{
    r->cres = res;
    r->t_end = now_us();
    if (r->streaming) {
        if (r->in.len) /* an unterminated last event: pass it on as it came */
            (void)tg_xlate_sse(r->xs, r->dialect, &r->sse, r->in.p, r->in.len, &r->out);
        tg_buf_reset(&r->in);
        if (res != CURLE_OK) {
            r->stream_error = true;
            if (!r->slow_cut)
                tg_metrics_upstream_error(res == CURLE_OPERATION_TIMEDOUT ? "timeout"
                                                                          : "broken");
        }
    } else if (res == CURLE_OK && r->up_status == 200) {
        if (r->xlate) /* read now: the answer is about to be rewritten for the client */
            tg_dialect_usage_of(r->dialect, r->out.p ? r->out.p : "", r->out.len, &r->usage);
        else /* read at settlement, once the answer has gone out (off the latency path) */
            r->usage_unread = true;
    } else if (res == CURLE_OK) {
        tg_metrics_upstream_error(r->up_status == 429 ? "status_429" :
                                  r->up_status >= 500 ? "status_5xx" : "status_4xx");
    }
    if (try_fallback(r))
        return;
    if (r->cres != CURLE_OK && !r->streaming)
        r->headers_done = false; /* answer with tollgate's own error */
    else if (r->xlate && !r->streaming && r->headers_done)
        translate_answer(r);
    r->upstream_done = true;
    end_upstream(r);
    if (r->state == RS_UPSTREAM)
        r->state = RS_READY;
    resume(r);
}

static void drain_curl_messages(worker *w)
{
    CURLMsg *m;
    int left;
    while ((m = curl_multi_info_read(w->multi, &left))) {
        if (m->msg != CURLMSG_DONE)
            continue;
        tg_req *r = NULL;
        curl_easy_getinfo(m->easy_handle, CURLINFO_PRIVATE, (char **)&r);
        if (r)
            upstream_finished(r, m->data.result);
    }
}

/* A reservation of r became durable (ok) or could not be written: forward the request,
 * or answer 503.  An orphan (the client left while it waited) is freed now. */
static void ledger_ready(tg_req *r, bool ok)
{
    r->ledger_wait = false;
    if (r->orphan) {
        req_free(r);
        return;
    }
    cJSON *body = r->pending;
    r->pending = NULL;
    int rc = ok && body ? send_upstream(r, body) : -1;
    cJSON_Delete(body);
    if (rc == 0)
        return; /* upstream under way; the connection stays suspended */
    r->t_end = now_us();
    bool est;
    tg_usage none = {0};
    (void)est;
    finish_attempt(r, rc == -2 ? 400 : 503, &none, false);
    if (rc != -2) {
        r->err_status = ok ? 500 : 503;
        r->err_type = "server_error";
        r->err_code = NULL;
        snprintf(r->err_msg, sizeof r->err_msg, ok ? "tollgate could not start the upstream "
                 "request (out of memory)." : "tollgate could not record the request in its "
                 "ledger (the store is failing); nothing was sent upstream.");
    }
    r->state = RS_READY;
    resume(r);
}

static void drain_ledger(worker *w)
{
    tg_ledger_done done[64];
    size_t n;
    do { /* fewer than asked for: none left (more would keep the fd readable anyway) */
        n = tg_ledger_collect(w->waiter, done, 64);
        for (size_t i = 0; i < n; i++)
            ledger_ready((tg_req *)(uintptr_t)done[i].cookie, done[i].ok);
    } while (n == 64);
}

/* The end of a loop round: the reservations its requests made are committed together,
 * here when no transaction is under way (their requests go upstream in this round), else
 * by the ledger writer (their notices come through the eventfd). */
static void kick_ledger(worker *w)
{
    tg_ledger *lg = tg_records_ledger();
    if (!lg)
        return;
    tg_ledger_done done[64];
    size_t n = tg_ledger_kick(lg, w->waiter, done, 64);
    for (size_t i = 0; i < n; i++)
        ledger_ready((tg_req *)(uintptr_t)done[i].cookie, done[i].ok);
}

/* The client hung up while its connection was suspended. */
static void client_left(tg_req *r)
{
    r->client_gone = true;
    unwatch_client(r);
    if (r->easy) {
        tg_metrics_upstream_error("client_abort");
        end_upstream(r);
    }
    resume(r); /* MHD now sees the closed socket and calls on_completed */
}

/* Upstream first-byte and idle timeouts (curl enforces connect and total).  A paused
 * transfer is waiting for the client, not the upstream: it is not idle. */
static void sweep(worker *w, int64_t now)
{
    for (tg_req *r = w->active, *next; r; r = next) {
        next = r->next;
        if (!r->easy || r->paused)
            continue;
        int64_t since = r->headers_done ? r->t_last_data : r->t_up_start;
        long limit_ms = r->headers_done ? r->prov->idle_ms : r->prov->first_byte_ms;
        if (now - since > (int64_t)limit_ms * 1000)
            upstream_finished(r, CURLE_OPERATION_TIMEDOUT);
    }
}

/* ------------------------------------------------------------------ event loop */

/* Retires a libcurl socket's source: an event of this round may still point at it, so it
 * is freed after the round (free_dead), and ignored until then. */
static void retire(worker *w, evsrc *src)
{
    if (!src)
        return;
    src->kind = SRC_DEAD;
    src->ptr = w->dead;
    w->dead = src;
}

static void free_dead(worker *w)
{
    while (w->dead) {
        evsrc *next = w->dead->ptr;
        free(w->dead);
        w->dead = next;
    }
}

/* Takes the parked source of socket fd out of the parked list; NULL when not parked. */
static evsrc *unpark(worker *w, int fd)
{
    for (int i = 0; i < w->nparked; i++)
        if (w->parked[i]->fd == fd) {
            evsrc *src = w->parked[i];
            w->parked[i] = w->parked[--w->nparked];
            return src;
        }
    return NULL;
}

/* libcurl's socket callback.  A keep-alive upstream connection is removed when its transfer
 * ends and added back when the next one starts: instead of EPOLL_CTL_DEL and ADD each
 * time, an idle socket stays in the epoll set, parked (watching EPOLLIN only), and is
 * taken back without a syscall.  Parked sockets stay open until libcurl closes them through
 * on_curl_close, which unparks them first, so a parked fd is never a reused number.  An
 * event on a parked socket (the upstream closed it, or sent something unasked) takes it
 * out of the set (handle_event); libcurl finds the connection dead when it next checks. */
static int on_curl_socket(CURL *e, curl_socket_t s, int what, void *userp, void *socketp)
{
    worker *w = userp;
    evsrc *src = socketp;
    (void)e;
    if (what == CURL_POLL_REMOVE) {
        curl_multi_assign(w->multi, s, NULL);
        if (!src)
            return 0;
        if (w->nparked < TG_PARKED_MAX) {
            struct epoll_event ev = {.events = EPOLLIN, .data.ptr = src};
            if (src->events == EPOLLIN || epoll_ctl(w->epfd, EPOLL_CTL_MOD, s, &ev) == 0) {
                src->kind = SRC_CURL_IDLE;
                src->events = EPOLLIN;
                w->parked[w->nparked++] = src;
                return 0;
            }
        }
        epoll_ctl(w->epfd, EPOLL_CTL_DEL, s, NULL);
        retire(w, src);
        return 0;
    }
    struct epoll_event ev = {0};
    ev.events = (what & CURL_POLL_IN ? EPOLLIN : 0) | (what & CURL_POLL_OUT ? EPOLLOUT : 0);
    if (!src && (src = unpark(w, s))) { /* still in the epoll set */
        src->kind = SRC_CURL;
        curl_multi_assign(w->multi, s, src);
    } else if (!src) {
        src = malloc(sizeof *src);
        if (!src)
            return -1;
        *src = (evsrc){SRC_CURL, s, NULL, ev.events};
        curl_multi_assign(w->multi, s, src);
        ev.data.ptr = src;
        return epoll_ctl(w->epfd, EPOLL_CTL_ADD, s, &ev) == 0 ? 0 : -1;
    }
    if (src->events == ev.events)
        return 0;
    src->events = ev.events;
    ev.data.ptr = src;
    return epoll_ctl(w->epfd, EPOLL_CTL_MOD, s, &ev) == 0 ? 0 : -1;
}

/* libcurl closes a socket (CURLOPT_CLOSESOCKETFUNCTION): a parked one is forgotten first
 * (closing it takes it out of the epoll set). */
static int on_curl_close(void *userp, curl_socket_t s)
{
    worker *w = userp;
    retire(w, unpark(w, s));
    return close(s);
}

/* An event on a parked socket: out of the epoll set until libcurl uses it again. */
static void idle_socket_event(worker *w, evsrc *src)
{
    epoll_ctl(w->epfd, EPOLL_CTL_DEL, src->fd, NULL);
    retire(w, unpark(w, src->fd));
}

static int on_curl_timer(CURLM *m, long timeout_ms, void *userp)
{
    worker *w = userp;
    (void)m;
    w->curl_deadline = timeout_ms < 0 ? -1 : now_us() + (int64_t)timeout_ms * 1000;
    return 0;
}

static int loop_timeout_ms(worker *w, int64_t now)
{
    int64_t t = TG_SWEEP_MS;
    if (w->curl_deadline >= 0) {
        int64_t c = (w->curl_deadline - now + 999) / 1000;
        if (c < t)
            t = c < 0 ? 0 : c;
    }
    if (w->watch_deadline >= 0) {
        int64_t d = (w->watch_deadline - now + 999) / 1000;
        if (d < t)
            t = d < 0 ? 0 : d;
    }
    MHD_UNSIGNED_LONG_LONG mt;
    if (MHD_get_timeout(w->mhd, &mt) == MHD_YES && (int64_t)mt < t)
        t = (int64_t)mt;
    return (int)t;
}

static void handle_event(worker *w, struct epoll_event *ev)
{
    evsrc *src = ev->data.ptr;
    int running;
    if (src->kind == SRC_CURL) {
        int flags = (ev->events & EPOLLIN ? CURL_CSELECT_IN : 0) |
                    (ev->events & EPOLLOUT ? CURL_CSELECT_OUT : 0) |
                    (ev->events & (EPOLLERR | EPOLLHUP) ? CURL_CSELECT_ERR : 0);
        curl_multi_socket_action(w->multi, src->fd, flags, &running);
    } else if (src->kind == SRC_CURL_IDLE) {
        idle_socket_event(w, src);
    } else if (src->kind == SRC_CLIENT) {
        client_left(src->ptr);
    } else if (src->kind == SRC_LEDGER) {
        drain_ledger(w);
    }
}

static void *worker_main(void *arg)
{
    worker *w = arg;
    struct epoll_event evs[256];
    int running;
    for (;;) {
        if (atomic_load(&stop_requested) && !w->quiesced) {
            MHD_socket ls = MHD_quiesce_daemon(w->mhd); /* stop accepting; drain */
            if (ls != MHD_INVALID_SOCKET)
                close(ls);
            w->quiesced = true;
            w->drain_deadline = now_us() + 5000000;
        }
        if (w->quiesced && (!w->active || now_us() > w->drain_deadline))
            break;
        int64_t now = now_us();
        int t = loop_timeout_ms(w, now), n = 0;
        /* libmicrohttpd asks to run again at once (timeout 0) for a few rounds after each
         * answer, advancing the connection a state at a time: skip the epoll_wait of the
         * first TG_ZERO_WAIT_SKIP such rounds in a row (events wait that long at most) */
        if (t > 0 || w->zero_waits >= TG_ZERO_WAIT_SKIP) {
            n = epoll_wait(w->epfd, evs, 256, t);
            w->zero_waits = 0;
        } else {
            w->zero_waits++;
        }
        for (int i = 0; i < n; i++)
            if (evs[i].data.ptr != &w->mhd_src)
                handle_event(w, &evs[i]);
        free_dead(w);
        now = now_us();
        if (w->curl_deadline >= 0 && now >= w->curl_deadline) {
            w->curl_deadline = -1;
            curl_multi_socket_action(w->multi, CURL_SOCKET_TIMEOUT, 0, &running);
        }
        drain_curl_messages(w);
        MHD_run(w->mhd);
        kick_ledger(w);
        if (w->watch_deadline >= 0 && now_us() >= w->watch_deadline)
            arm_due_watches(w, now_us());
        if (now - w->last_sweep >= TG_SWEEP_MS * 1000) {
            w->last_sweep = now;
            sweep(w, now);
            drain_curl_messages(w);
        }
    }
    return NULL;
}

/* Counts open connections over all workers; one that opens past limits.max_connections is
 * marked and answered 503 on its first request (refuse_over_limits). */
static void on_connection(void *cls, struct MHD_Connection *c, void **socket_ctx,
                          enum MHD_ConnectionNotificationCode code)
{
    worker *w = cls;
    (void)c;
    if (code == MHD_CONNECTION_NOTIFY_STARTED) {
        if (atomic_fetch_add(&open_connections, 1) >= w->cfg->max_connections)
            *socket_ctx = &over_limit;
        tg_metrics_connections(1);
    } else {
        atomic_fetch_sub(&open_connections, 1);
        tg_metrics_connections(-1);
    }
}

static int worker_init(worker *w, const tg_config *cfg, int idx, unsigned conn_limit,
                       char *err, size_t errlen)
{
    w->idx = idx;
    w->cfg = cfg;
    w->curl_deadline = -1;
    w->watch_deadline = -1;
    if (RAND_bytes((unsigned char *)&w->rng, sizeof w->rng) != 1 || w->rng == 0)
        w->rng = (uint64_t)now_us() | 1;
    if (tg_store_open(cfg->store, &w->store, err, errlen) != TG_STORE_OK)
        return -1;
    w->keys = calloc(TG_KEY_CACHE_SLOTS, sizeof *w->keys);
    if (!w->keys) {
        snprintf(err, errlen, "out of memory");
        return -1;
    }
    w->epfd = epoll_create1(EPOLL_CLOEXEC);
    w->multi = curl_multi_init();
    if (w->epfd < 0 || !w->multi) {
        snprintf(err, errlen, "cannot create the event loop: %s", strerror(errno));
        return -1;
    }
    if (tg_ledger_waiter_new(&w->waiter) != 0) {
        snprintf(err, errlen, "cannot create the ledger notice fd: %s", strerror(errno));
        return -1;
    }
    tg_ledger_waiter_defer(w->waiter, true); /* kick_ledger at the end of each round */
    w->ledger_src = (evsrc){SRC_LEDGER, tg_ledger_waiter_fd(w->waiter), NULL, EPOLLIN};
    struct epoll_event lev = {.events = EPOLLIN, .data.ptr = &w->ledger_src};
    if (epoll_ctl(w->epfd, EPOLL_CTL_ADD, w->ledger_src.fd, &lev) != 0) {
        snprintf(err, errlen, "epoll: %s", strerror(errno));
        return -1;
    }
    curl_multi_setopt(w->multi, CURLMOPT_SOCKETFUNCTION, on_curl_socket);
    curl_multi_setopt(w->multi, CURLMOPT_SOCKETDATA, w);
    curl_multi_setopt(w->multi, CURLMOPT_TIMERFUNCTION, on_curl_timer);
    curl_multi_setopt(w->multi, CURLMOPT_TIMERDATA, w);
    curl_multi_setopt(w->multi, CURLMOPT_MAX_HOST_CONNECTIONS, 0L);
    curl_multi_setopt(w->multi, CURLMOPT_MAXCONNECTS, 1024L);
    curl_multi_setopt(w->multi, CURLMOPT_PIPELINING, CURLPIPE_MULTIPLEX);
    curl_multi_setopt(w->multi, CURLMOPT_MAX_CONCURRENT_STREAMS, (long)TG_H2_MAX_STREAMS);
    struct sockaddr_storage ss;
    bool v6;
    if (tg_server_resolve(cfg->listen_host, cfg->listen_port, &ss, &v6, err, errlen) != 0)
        return -1;
    unsigned flags = MHD_USE_EPOLL | MHD_ALLOW_SUSPEND_RESUME | MHD_USE_ERROR_LOG |
                     (v6 ? MHD_USE_IPv6 : 0);
    w->mhd = MHD_start_daemon(flags, (uint16_t)cfg->listen_port, NULL, NULL, on_request, w,
                              MHD_OPTION_EXTERNAL_LOGGER, mhd_log, NULL, /* first */
                              MHD_OPTION_SOCK_ADDR, (struct sockaddr *)&ss,
                              MHD_OPTION_LISTENING_ADDRESS_REUSE, 1U,
                              MHD_OPTION_CONNECTION_LIMIT, conn_limit,
                              MHD_OPTION_CONNECTION_TIMEOUT, cfg->client_timeout_s,
                              MHD_OPTION_CONNECTION_MEMORY_LIMIT,
                              (size_t)cfg->max_header_bytes + TG_CONN_POOL_EXTRA,
                              MHD_OPTION_NOTIFY_COMPLETED, on_completed, w,
                              MHD_OPTION_NOTIFY_CONNECTION, on_connection, w,
                              MHD_OPTION_END);
    if (!w->mhd) {
        snprintf(err, errlen, "cannot listen on %s:%d (in use, or not an address of this "
                 "machine)", cfg->listen_host, cfg->listen_port);
        return -1;
    }
    const union MHD_DaemonInfo *di = MHD_get_daemon_info(w->mhd, MHD_DAEMON_INFO_EPOLL_FD);
    w->mhd_src = (evsrc){SRC_MHD, di->epoll_fd, NULL, EPOLLIN};
    struct epoll_event ev = {.events = EPOLLIN, .data.ptr = &w->mhd_src};
    if (epoll_ctl(w->epfd, EPOLL_CTL_ADD, di->epoll_fd, &ev) != 0) {
        snprintf(err, errlen, "epoll: %s", strerror(errno));
        return -1;
    }
    return 0;
}

int tg_server_resolve(const char *host, int port, struct sockaddr_storage *out, bool *v6,
                      char *err, size_t errlen)
{
    struct addrinfo hints = {.ai_family = AF_UNSPEC, .ai_socktype = SOCK_STREAM,
                             .ai_flags = AI_PASSIVE}, *res = NULL;
    char portstr[16];
    snprintf(portstr, sizeof portstr, "%d", port);
    int rc = getaddrinfo(host, portstr, &hints, &res);
    if (rc != 0 || !res) {
        snprintf(err, errlen, "cannot resolve listen address '%s': %s", host,
                 gai_strerror(rc));
        return -1;
    }
    memset(out, 0, sizeof *out);
    memcpy(out, res->ai_addr, res->ai_addrlen);
    *v6 = res->ai_family == AF_INET6;
    freeaddrinfo(res);
    return 0;
}

/* libmicrohttpd's messages, prefixed; they never hold request contents. */
static void mhd_log(void *cls, const char *fmt, va_list ap)
{
    (void)cls;
    char line[512];
    vsnprintf(line, sizeof line, fmt, ap);
    size_t n = strlen(line);
    while (n && (line[n - 1] == '\n' || line[n - 1] == ' '))
        line[--n] = '\0';
    fprintf(stderr, "tollgate: http: %s\n", line);
}

static void worker_free(worker *w)
{
    if (w->mhd)
        MHD_stop_daemon(w->mhd);
    while (w->neasy)
        curl_easy_cleanup(w->easy_pool[--w->neasy]);
    if (w->multi)
        curl_multi_cleanup(w->multi); /* closes the pooled connections (on_curl_close) */
    while (w->nparked) /* none left normally */
        free(w->parked[--w->nparked]);
    free_dead(w);
    while (w->nspare) {
        tg_req *r = w->spare[--w->nspare];
        tg_buf_free(&r->body);
        tg_buf_free(&r->out);
        free(r);
    }
    if (w->epfd > 0)
        close(w->epfd);
    for (int i = 0; i < TG_CONFIG_MAX_PROVIDERS; i++)
        curl_slist_free_all(w->prov_headers[i]);
    tg_store_close(w->store);
    free(w->keys);
}

static void raise_fd_limit(void)
{
    struct rlimit rl;
    if (getrlimit(RLIMIT_NOFILE, &rl) == 0 && rl.rlim_cur < rl.rlim_max) {
        rl.rlim_cur = rl.rlim_max;
        setrlimit(RLIMIT_NOFILE, &rl);
    }
}

static void on_signal(int sig)
{
    if (sig == SIGHUP) {
        tg_routing_request_reload();
        return;
    }
    atomic_store(&stop_requested, 1);
}

/* Loads the routing (catalog + policy); prints every problem when it cannot. */
static int start_routing(const tg_config *cfg)
{
    tg_routing_problems *p = malloc(sizeof *p);
    if (!p)
        return -1;
    int rc = tg_routing_init(cfg, p);
    if (rc != 0) {
        fprintf(stderr, "tollgate: the catalog or policy has %d problem%s:\n", p->n,
                p->n == 1 ? "" : "s");
        for (int i = 0; i < p->n && i < TG_ROUTING_MAX_PROBLEMS; i++)
            fprintf(stderr, "  %s\n", p->lines[i]);
    }
    free(p);
    return rc == 0 ? tg_routing_start() : -1;
}

/* The ledger and the budgets, on one store handle used only here: crash recovery first
 * (reservations a dead process left in flight are charged at their reservation and
 * flagged; it needs the reservations file, which the ledger writer then claims), the
 * writer, then the quota module with its counters rebuilt from the ledger.  Returns 0, or
 * -1 with err set. */
static int start_ledger(const tg_config *cfg, char *err, size_t errlen)
{
    tg_store *st;
    if (tg_store_open(cfg->store, &st, err, errlen) != TG_STORE_OK)
        return -1;
    int64_t unsettled = 0;
    int rc = tg_store_ledger_recover(st, &unsettled) == TG_STORE_OK ? 0 : -1;
    if (rc != 0)
        snprintf(err, errlen, "ledger recovery failed: %s", tg_store_errmsg(st));
    else if (unsettled > 0)
        fprintf(stderr, "tollgate: recovery: %lld request%s left unsettled by the last run "
                "charged at their reserved cost and flagged for reconciliation\n",
                (long long)unsettled, unsettled == 1 ? "" : "s");
    if (rc == 0)
        rc = tg_records_start(cfg->store, err, errlen);
    tg_quota_config qc = {.ledger = tg_records_ledger(),
                          .utc_offset_s = cfg->quota_utc_offset_s,
                          .min_output_tokens = cfg->quota_min_output_tokens};
    if (rc == 0 && (rc = tg_quota_new(&qc, &quota_)) != 0)
        snprintf(err, errlen, "out of memory");
    if (rc == 0 && tg_quota_rebuild(quota_, st, wall_us()) != TG_STORE_OK) {
        snprintf(err, errlen, "rebuilding the budget counters failed: %s",
                 tg_store_errmsg(st));
        rc = -1;
    }
    tg_store_close(st);
    return rc;
}

struct tg_quota *tg_server_quota(void)
{
    return quota_;
}

/* Stops what tg_server_run started, in order: the ledger writer delivers its last notices
 * before the waiters go. */
static void stop_all(worker *ws, int nw)
{
    tg_admin_stop();
    tg_records_stop();
    for (int i = 0; i < nw; i++)
        tg_ledger_waiter_free(ws[i].waiter);
    tg_quota_free(quota_);
    quota_ = NULL;
    tg_routing_stop();
    curl_global_cleanup();
    free(ws);
}

int tg_server_run(const tg_config *cfg)
{
    char err[512] = "";
    int nw = cfg->workers > 0 ? cfg->workers : 1;
    worker *ws = calloc((size_t)nw, sizeof *ws);
    if (!ws || curl_global_init(CURL_GLOBAL_ALL) != CURLE_OK) {
        fputs("tollgate: out of memory\n", stderr);
        free(ws);
        return 1;
    }
    raise_fd_limit();
    signal(SIGPIPE, SIG_IGN);
    struct sigaction sa = {.sa_handler = on_signal};
    sigaction(SIGINT, &sa, NULL);
    sigaction(SIGTERM, &sa, NULL);
    sigaction(SIGHUP, &sa, NULL);
    tg_bpe_get(TG_BPE_CL100K);
    tg_bpe_get(TG_BPE_O200K);
    /* The limit itself is counted over all workers (on_connection); MHD's own, per worker,
     * only bounds the connections that get a 503 (the kernel may give one worker them all) */
    unsigned per = cfg->max_connections + TG_CONN_OVERFLOW;
    if (start_routing(cfg) != 0) {
        free(ws);
        return 1;
    }
    int rc = start_ledger(cfg, err, sizeof err);
    if (rc == 0)
        rc = tg_admin_start(cfg, err, sizeof err);
    for (int i = 0; rc == 0 && i < nw; i++)
        rc = worker_init(&ws[i], cfg, i, per, err, sizeof err);
    if (rc != 0) {
        fprintf(stderr, "tollgate: %s\n", err);
        for (int i = 0; i < nw; i++)
            worker_free(&ws[i]);
        stop_all(ws, nw);
        return 1;
    }
    fprintf(stderr, "tollgate: listening on %s:%d with %d workers, admin on %s:%d, store %s\n",
            cfg->listen_host, cfg->listen_port, nw, cfg->admin_host, cfg->admin_port,
            strncmp(cfg->store, "sqlite:", 7) == 0 ? cfg->store : "(postgres)");
    for (int i = 0; i < nw; i++)
        pthread_create(&ws[i].th, NULL, worker_main, &ws[i]);
    for (int i = 0; i < nw; i++)
        pthread_join(ws[i].th, NULL);
    for (int i = 0; i < nw; i++)
        worker_free(&ws[i]);
    stop_all(ws, nw);
    fputs("tollgate: stopped\n", stderr);
    return 0;
}
