/* tg_metrics implementation: fixed arrays of atomics, one per label combination, rendered
 * on demand.  Latency histograms use fixed bucket bounds in seconds. */
#include "metrics.h"

#include <stdatomic.h>
#include <string.h>

#define NSTATUS 6 /* 1xx..5xx by class index status/100, 0 = other */
static const double bounds_s[] = {0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1,
                                  0.25,   0.5,   1,      2.5,   5,    10,    30,    60};
#define NBUCKET (sizeof bounds_s / sizeof *bounds_s)

typedef struct {
    atomic_llong count[NBUCKET + 1]; /* last: +Inf */
    atomic_llong sum_us;
    atomic_llong n;
} histogram;

static atomic_llong requests[TG_EP_COUNT_][NSTATUS];
static atomic_llong streamed_requests;
static atomic_llong tokens[4][2]; /* type x (reported, estimated) */
static atomic_llong upstream_errors[8];
static atomic_llong open_streams, open_connections, fallbacks;
static histogram ttfb, total;

static const char *const error_kinds[] = {"connect",    "timeout",    "broken",      "status_5xx",
                                          "status_429", "status_4xx", "client_abort",
                                          "slow_client"};

const char *tg_endpoint_name(tg_endpoint ep)
{
    static const char *const names[] = {"chat_completions", "completions", "embeddings",
                                        "responses",        "messages",    "models",
                                        "healthz",          "other"};
    return ep < TG_EP_COUNT_ ? names[ep] : "other";
}

static void observe(histogram *h, int64_t us)
{
    size_t i = 0;
    while (i < NBUCKET && (double)us / 1e6 > bounds_s[i])
        i++;
    atomic_fetch_add_explicit(&h->count[i], 1, memory_order_relaxed);
    atomic_fetch_add_explicit(&h->sum_us, us, memory_order_relaxed);
    atomic_fetch_add_explicit(&h->n, 1, memory_order_relaxed);
}

void tg_metrics_request(tg_endpoint ep, int status, int streamed, int upstream,
                        int64_t ttfb_us, int64_t total_us)
{
    int cls = status >= 100 && status < 600 ? status / 100 : 0;
    if (ep >= TG_EP_COUNT_)
        ep = TG_EP_OTHER;
    atomic_fetch_add_explicit(&requests[ep][cls], 1, memory_order_relaxed);
    if (streamed)
        atomic_fetch_add_explicit(&streamed_requests, 1, memory_order_relaxed);
    if (!upstream)
        return;
    if (ttfb_us >= 0)
        observe(&ttfb, ttfb_us);
    observe(&total, total_us);
}

void tg_metrics_tokens(int64_t input, int64_t cached, int64_t output, int64_t reasoning,
                       int estimated)
{
    int64_t v[4] = {input, cached, output, reasoning};
    for (int i = 0; i < 4; i++)
        atomic_fetch_add_explicit(&tokens[i][estimated ? 1 : 0], v[i], memory_order_relaxed);
}

void tg_metrics_upstream_error(const char *kind)
{
    for (size_t i = 0; i < sizeof error_kinds / sizeof *error_kinds; i++)
        if (strcmp(kind, error_kinds[i]) == 0)
            atomic_fetch_add_explicit(&upstream_errors[i], 1, memory_order_relaxed);
}

void tg_metrics_fallback(void)
{
    atomic_fetch_add_explicit(&fallbacks, 1, memory_order_relaxed);
}

void tg_metrics_streams(int delta)
{
    atomic_fetch_add_explicit(&open_streams, delta, memory_order_relaxed);
}

void tg_metrics_connections(int delta)
{
    atomic_fetch_add_explicit(&open_connections, delta, memory_order_relaxed);
}

static long long get(atomic_llong *a)
{
    return atomic_load_explicit(a, memory_order_relaxed);
}

static int render_histogram(tg_buf *out, const char *name, const char *help, histogram *h)
{
    int rc = tg_buf_printf(out, "# HELP %s %s\n# TYPE %s histogram\n", name, help, name);
    long long cum = 0;
    for (size_t i = 0; rc == TG_BUF_OK && i <= NBUCKET; i++) {
        cum += get(&h->count[i]);
        if (i < NBUCKET)
            rc = tg_buf_printf(out, "%s_bucket{le=\"%g\"} %lld\n", name, bounds_s[i], cum);
        else
            rc = tg_buf_printf(out, "%s_bucket{le=\"+Inf\"} %lld\n", name, cum);
    }
    if (rc == TG_BUF_OK)
        rc = tg_buf_printf(out, "%s_sum %.6f\n%s_count %lld\n", name,
                           (double)get(&h->sum_us) / 1e6, name, get(&h->n));
    return rc;
}

int tg_metrics_render(tg_buf *out)
{
    static const char *const types[] = {"input", "cached_input", "output", "reasoning"};
    int rc = tg_buf_puts(out, "# HELP tollgate_requests_total Requests answered, by endpoint "
                              "and status class.\n# TYPE tollgate_requests_total counter\n");
    for (int e = 0; rc == TG_BUF_OK && e < TG_EP_COUNT_; e++)
        for (int c = 1; rc == TG_BUF_OK && c < NSTATUS; c++)
            rc = tg_buf_printf(out, "tollgate_requests_total{endpoint=\"%s\",code=\"%dxx\"} "
                               "%lld\n", tg_endpoint_name((tg_endpoint)e), c,
                               get(&requests[e][c]));
    if (rc == TG_BUF_OK)
        rc = tg_buf_printf(out, "# HELP tollgate_streamed_requests_total Requests answered "
                           "as SSE streams.\n# TYPE tollgate_streamed_requests_total counter\n"
                           "tollgate_streamed_requests_total %lld\n", get(&streamed_requests));
    if (rc == TG_BUF_OK)
        rc = tg_buf_puts(out, "# HELP tollgate_upstream_errors_total Upstream failures by "
                              "kind.\n# TYPE tollgate_upstream_errors_total counter\n");
    for (size_t i = 0; rc == TG_BUF_OK && i < sizeof error_kinds / sizeof *error_kinds; i++)
        rc = tg_buf_printf(out, "tollgate_upstream_errors_total{kind=\"%s\"} %lld\n",
                           error_kinds[i], get(&upstream_errors[i]));
    if (rc == TG_BUF_OK)
        rc = tg_buf_printf(out, "# HELP tollgate_fallbacks_total Requests moved to their next "
                           "candidate after a failed attempt.\n# TYPE tollgate_fallbacks_total "
                           "counter\ntollgate_fallbacks_total %lld\n", get(&fallbacks));
    if (rc == TG_BUF_OK)
        rc = tg_buf_puts(out, "# HELP gen_ai_client_token_usage_total Tokens by "
                              "gen_ai.token.type and source.\n"
                              "# TYPE gen_ai_client_token_usage_total counter\n");
    for (int t = 0; rc == TG_BUF_OK && t < 4; t++)
        for (int s = 0; rc == TG_BUF_OK && s < 2; s++)
            rc = tg_buf_printf(out, "gen_ai_client_token_usage_total{gen_ai_token_type=\"%s\","
                               "source=\"%s\"} %lld\n", types[t], s ? "estimated" : "reported",
                               get(&tokens[t][s]));
    if (rc == TG_BUF_OK)
        rc = tg_buf_printf(out, "# HELP tollgate_open_streams SSE streams open to clients.\n"
                           "# TYPE tollgate_open_streams gauge\ntollgate_open_streams %lld\n"
                           "# HELP tollgate_open_connections Client connections open.\n"
                           "# TYPE tollgate_open_connections gauge\n"
                           "tollgate_open_connections %lld\n",
                           get(&open_streams), get(&open_connections));
    if (rc == TG_BUF_OK)
        rc = render_histogram(out, "gen_ai_server_time_to_first_token_seconds",
                              "Upstream time to first byte.", &ttfb);
    if (rc == TG_BUF_OK)
        rc = render_histogram(out, "gen_ai_client_operation_duration_seconds",
                              "Upstream request duration.", &total);
    return rc;
}
