/* The floor of tollgate's design, for bench/proxy.sh: the leanest reverse proxy built from
 * the same parts and the same shape as proxy/server.c, with none of tollgate's work.
 *
 * One thread per core; each drives its own libmicrohttpd daemon in external-epoll mode
 * (SO_REUSEPORT) and its own libcurl multi handle through curl_multi_socket_action, one
 * epoll set for both.  A request's body is gathered, sent upstream with a reused easy
 * handle (HTTP/1.1 keep-alive), the connection suspended; when the transfer ends, the
 * upstream's body is answered with its status and content type.  No auth, no parsing, no
 * routing, no quota, no record: what is left is what libmicrohttpd and libcurl cost on
 * this machine, so tollgate's figures can be read against it.
 *
 * FLOOR_MODE picks what is measured: `multi` (the default, the shape above), `blocking`
 * (see start_upstream_blocking) or `origin` (no upstream: the request's body is answered
 * at once, libmicrohttpd alone, to set beside nginx answering with `return 200`).
 *
 * usage: [FLOOR_MODE=multi|blocking|origin] bench_floor PORT UPSTREAM_URL [WORKERS] */
#include <curl/curl.h>
#include <microhttpd.h>

#include <netinet/in.h>
#include <pthread.h>
#include <signal.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <time.h>
#include <unistd.h>

#define FLOOR_MAX_BODY (1 << 20) /* request and response bodies, bytes */
#define FLOOR_EVENTS 256
#define FLOOR_ZERO_WAIT_SKIP 2 /* as proxy/server.c's TG_ZERO_WAIT_SKIP */

typedef struct {
    char *p;
    size_t len, cap;
} buf;

typedef struct worker worker;

typedef struct req {
    worker *w;
    struct MHD_Connection *con;
    CURL *easy;
    buf in, out;
    long status;
    int state; /* 0 reading body, 1 upstream, 2 done */
} req;

struct worker {
    int epfd, mhd_fd, zero_waits;
    struct MHD_Daemon *mhd;
    CURLM *multi;
    long curl_deadline_ms; /* -1: none */
    CURL *blocking_easy; /* FLOOR_MODE=blocking */
    CURL *free_easy[64];
    int nfree_easy;
    pthread_t thread;
};

static const char *upstream_url;
static struct curl_slist *hdrs; /* built in main, before the workers start */
static volatile sig_atomic_t stopping;
enum { MODE_MULTI, MODE_BLOCKING, MODE_ORIGIN };
static int mode; /* FLOOR_MODE: multi (default), blocking, origin */

static long now_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return ts.tv_sec * 1000L + ts.tv_nsec / 1000000L;
}

/* Appends n bytes; -1 past FLOOR_MAX_BODY or out of memory. */
static int buf_add(buf *b, const void *d, size_t n)
{
    if (b->len + n > FLOOR_MAX_BODY)
        return -1;
    if (b->len + n > b->cap) {
        size_t cap = b->cap ? b->cap * 2 : 1024;
        while (cap < b->len + n)
            cap *= 2;
        char *p = realloc(b->p, cap);
        if (!p)
            return -1;
        b->p = p;
        b->cap = cap;
    }
    memcpy(b->p + b->len, d, n);
    b->len += n;
    return 0;
}

static size_t on_write(char *d, size_t sz, size_t n, void *ud)
{
    req *r = ud;
    return buf_add(&r->out, d, sz * n) == 0 ? sz * n : 0;
}

static int on_socket(CURL *e, curl_socket_t s, int what, void *ud, void *sp)
{
    (void)e;
    (void)sp;
    worker *w = ud;
    struct epoll_event ev = {.data.fd = s};
    if (what == CURL_POLL_REMOVE) {
        epoll_ctl(w->epfd, EPOLL_CTL_DEL, s, NULL);
        return 0;
    }
    ev.events = (what & CURL_POLL_IN ? EPOLLIN : 0) | (what & CURL_POLL_OUT ? EPOLLOUT : 0);
    if (epoll_ctl(w->epfd, EPOLL_CTL_MOD, s, &ev) != 0)
        epoll_ctl(w->epfd, EPOLL_CTL_ADD, s, &ev);
    return 0;
}

static int on_timer(CURLM *m, long ms, void *ud)
{
    (void)m;
    worker *w = ud;
    w->curl_deadline_ms = ms < 0 ? -1 : now_ms() + ms;
    return 0;
}

static CURL *take_easy(worker *w)
{
    if (w->nfree_easy)
        return w->free_easy[--w->nfree_easy];
    return curl_easy_init();
}

static void give_easy(worker *w, CURL *e)
{
    if (w->nfree_easy < 64) {
        curl_easy_reset(e);
        w->free_easy[w->nfree_easy++] = e;
    } else {
        curl_easy_cleanup(e);
    }
}

static enum MHD_Result answer(struct MHD_Connection *con, unsigned code, buf *b)
{
    struct MHD_Response *resp =
        MHD_create_response_from_buffer(b->len, b->p, MHD_RESPMEM_MUST_COPY);
    if (!resp)
        return MHD_NO;
    MHD_add_response_header(resp, "content-type", "application/json");
    enum MHD_Result ok = MHD_queue_response(con, code, resp);
    MHD_destroy_response(resp);
    return ok;
}

/* The transfer's options: a POST of the request's body, the answer into r->out. */
static void set_transfer(CURL *e, req *r)
{
    curl_easy_setopt(e, CURLOPT_URL, upstream_url);
    curl_easy_setopt(e, CURLOPT_HTTPHEADER, hdrs);
    curl_easy_setopt(e, CURLOPT_POSTFIELDS, r->in.p ? r->in.p : "");
    curl_easy_setopt(e, CURLOPT_POSTFIELDSIZE_LARGE, (curl_off_t)r->in.len);
    curl_easy_setopt(e, CURLOPT_WRITEFUNCTION, on_write);
    curl_easy_setopt(e, CURLOPT_WRITEDATA, r);
    curl_easy_setopt(e, CURLOPT_PRIVATE, r);
    curl_easy_setopt(e, CURLOPT_HTTP_VERSION, (long)CURL_HTTP_VERSION_1_1);
    curl_easy_setopt(e, CURLOPT_NOSIGNAL, 1L);
    curl_easy_setopt(e, CURLOPT_TCP_NODELAY, 1L);
}

static void start_upstream(req *r)
{
    CURL *e = r->easy = take_easy(r->w);
    set_transfer(e, r);
    r->state = 1;
    MHD_suspend_connection(r->con);
    curl_multi_add_handle(r->w->multi, e);
}

/* FLOOR_MODE=blocking: curl_easy_perform in the handler, on the worker's own easy handle
 * (no suspend, no multi handle): the least the two libraries can do per request.  It holds
 * the whole loop for the upstream's answer, so it only means something at one connection. */
static void start_upstream_blocking(req *r)
{
    CURL *e = r->w->blocking_easy;
    set_transfer(e, r);
    if (curl_easy_perform(e) == CURLE_OK)
        curl_easy_getinfo(e, CURLINFO_RESPONSE_CODE, &r->status);
    r->state = 2;
}

static enum MHD_Result on_request(void *cls, struct MHD_Connection *con, const char *url,
                                  const char *method, const char *version,
                                  const char *data, size_t *size, void **ctx)
{
    (void)url;
    (void)method;
    (void)version;
    req *r = *ctx;
    if (!r) {
        r = calloc(1, sizeof *r);
        if (!r)
            return MHD_NO;
        r->w = cls;
        r->con = con;
        *ctx = r;
        return MHD_YES;
    }
    if (r->state == 0 && *size) {
        if (buf_add(&r->in, data, *size) != 0)
            return MHD_NO;
        *size = 0;
        return MHD_YES;
    }
    if (r->state == 0 && mode == MODE_ORIGIN) /* no upstream: libmicrohttpd alone */
        return answer(con, 200, &r->in);
    if (r->state == 0 && mode == MODE_BLOCKING) {
        start_upstream_blocking(r);
        return answer(con, (unsigned)(r->status ? r->status : 502), &r->out);
    }
    if (r->state == 0) {
        start_upstream(r);
        return MHD_YES;
    }
    return answer(con, (unsigned)(r->status ? r->status : 502), &r->out);
}

static void on_completed(void *cls, struct MHD_Connection *con, void **ctx,
                         enum MHD_RequestTerminationCode why)
{
    (void)cls;
    (void)con;
    (void)why;
    req *r = *ctx;
    if (!r)
        return;
    if (r->easy) {
        curl_multi_remove_handle(r->w->multi, r->easy);
        give_easy(r->w, r->easy);
    }
    free(r->in.p);
    free(r->out.p);
    free(r);
    *ctx = NULL;
}

static void drain_curl(worker *w)
{
    CURLMsg *m;
    int left;
    while ((m = curl_multi_info_read(w->multi, &left))) {
        if (m->msg != CURLMSG_DONE)
            continue;
        req *r;
        curl_easy_getinfo(m->easy_handle, CURLINFO_PRIVATE, (char **)&r);
        curl_easy_getinfo(m->easy_handle, CURLINFO_RESPONSE_CODE, &r->status);
        curl_multi_remove_handle(w->multi, r->easy);
        give_easy(w, r->easy);
        r->easy = NULL;
        r->state = 2;
        MHD_resume_connection(r->con);
    }
}

static int loop_timeout(worker *w)
{
    MHD_UNSIGNED_LONG_LONG mt;
    long t = MHD_get_timeout(w->mhd, &mt) == MHD_YES ? (long)mt : 1000;
    if (w->curl_deadline_ms >= 0) {
        long c = w->curl_deadline_ms - now_ms();
        t = c < t ? (c < 0 ? 0 : c) : t;
    }
    return (int)(t > 1000 ? 1000 : t);
}

static void *worker_main(void *arg)
{
    worker *w = arg;
    struct epoll_event evs[FLOOR_EVENTS];
    int running;
    while (!stopping) {
        int t = loop_timeout(w), n = 0;
        if (t > 0 || w->zero_waits >= FLOOR_ZERO_WAIT_SKIP) {
            n = epoll_wait(w->epfd, evs, FLOOR_EVENTS, t);
            w->zero_waits = 0;
        } else {
            w->zero_waits++;
        }
        for (int i = 0; i < n; i++) {
            int fd = evs[i].data.fd;
            if (fd == w->mhd_fd)
                continue;
            int fl = (evs[i].events & EPOLLIN ? CURL_CSELECT_IN : 0) |
                     (evs[i].events & EPOLLOUT ? CURL_CSELECT_OUT : 0) |
                     (evs[i].events & (EPOLLERR | EPOLLHUP) ? CURL_CSELECT_ERR : 0);
            curl_multi_socket_action(w->multi, fd, fl, &running);
        }
        if (w->curl_deadline_ms >= 0 && now_ms() >= w->curl_deadline_ms) {
            w->curl_deadline_ms = -1;
            curl_multi_socket_action(w->multi, CURL_SOCKET_TIMEOUT, 0, &running);
        }
        drain_curl(w);
        MHD_run(w->mhd);
    }
    return NULL;
}

static int worker_start(worker *w, uint16_t port)
{
    w->curl_deadline_ms = -1;
    w->blocking_easy = curl_easy_init();
    w->epfd = epoll_create1(EPOLL_CLOEXEC);
    w->multi = curl_multi_init();
    curl_multi_setopt(w->multi, CURLMOPT_SOCKETFUNCTION, on_socket);
    curl_multi_setopt(w->multi, CURLMOPT_SOCKETDATA, w);
    curl_multi_setopt(w->multi, CURLMOPT_TIMERFUNCTION, on_timer);
    curl_multi_setopt(w->multi, CURLMOPT_TIMERDATA, w);
    curl_multi_setopt(w->multi, CURLMOPT_MAXCONNECTS, 1024L);
    struct sockaddr_in sa = {.sin_family = AF_INET, .sin_port = htons(port),
                             .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
    w->mhd = MHD_start_daemon(MHD_USE_EPOLL | MHD_ALLOW_SUSPEND_RESUME, port, NULL, NULL,
                              on_request, w, MHD_OPTION_SOCK_ADDR, (struct sockaddr *)&sa,
                              MHD_OPTION_LISTENING_ADDRESS_REUSE, 1U,
                              MHD_OPTION_NOTIFY_COMPLETED, on_completed, w, MHD_OPTION_END);
    if (w->epfd < 0 || !w->multi || !w->mhd)
        return -1;
    const union MHD_DaemonInfo *di = MHD_get_daemon_info(w->mhd, MHD_DAEMON_INFO_EPOLL_FD);
    w->mhd_fd = di->epoll_fd;
    struct epoll_event ev = {.events = EPOLLIN, .data.fd = w->mhd_fd};
    return epoll_ctl(w->epfd, EPOLL_CTL_ADD, w->mhd_fd, &ev);
}

static void on_signal(int sig)
{
    (void)sig;
    stopping = 1;
}

int main(int argc, char **argv)
{
    if (argc < 3) {
        fprintf(stderr, "usage: bench_floor PORT UPSTREAM_URL [WORKERS]\n");
        return 2;
    }
    upstream_url = argv[2];
    long nw = argc > 3 ? atol(argv[3]) : sysconf(_SC_NPROCESSORS_ONLN);
    if (nw < 1 || nw > 64)
        nw = 1;
    curl_global_init(CURL_GLOBAL_DEFAULT);
    hdrs = curl_slist_append(NULL, "Content-Type: application/json");
    signal(SIGPIPE, SIG_IGN);
    signal(SIGINT, on_signal);
    signal(SIGTERM, on_signal);
    const char *m = getenv("FLOOR_MODE");
    mode = !m || !strcmp(m, "multi") ? MODE_MULTI : !strcmp(m, "blocking") ? MODE_BLOCKING
           : !strcmp(m, "origin") ? MODE_ORIGIN : -1;
    if (mode < 0) {
        fprintf(stderr, "bench_floor: FLOOR_MODE is multi, blocking or origin\n");
        return 2;
    }
    worker *ws = calloc((size_t)nw, sizeof *ws);
    for (long i = 0; i < nw; i++) {
        if (!ws || worker_start(&ws[i], (uint16_t)atoi(argv[1])) != 0) {
            fprintf(stderr, "bench_floor: cannot start worker %ld on port %s\n", i, argv[1]);
            return 1;
        }
    }
    for (long i = 0; i < nw; i++)
        pthread_create(&ws[i].thread, NULL, worker_main, &ws[i]);
    for (long i = 0; i < nw; i++)
        pthread_join(ws[i].thread, NULL);
    for (long i = 0; i < nw; i++)
        MHD_stop_daemon(ws[i].mhd);
    return 0;
}
