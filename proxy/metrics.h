/* tg_metrics: process-wide counters for GET /metrics (Prometheus text format).
 *
 * Lock-free: every counter is a relaxed C11 atomic, bumped from any worker thread; the
 * admin thread reads them while they move (each value is exact, the set is not a
 * snapshot). */
#ifndef TG_METRICS_H
#define TG_METRICS_H
#include <stdint.h>

#include "common/buf.h"

typedef enum {
    TG_EP_CHAT, TG_EP_COMPLETIONS, TG_EP_EMBEDDINGS, TG_EP_RESPONSES, TG_EP_MESSAGES,
    TG_EP_MODELS, TG_EP_HEALTHZ, TG_EP_OTHER, TG_EP_COUNT_
} tg_endpoint;

/* The label value of an endpoint ("chat_completions", ...). */
const char *tg_endpoint_name(tg_endpoint ep);

/* A finished request: endpoint, status sent to the client, whether it was streamed,
 * whether it reached an upstream, and the upstream's latency to first byte and total
 * (microseconds; ignored when it did not reach one). */
void tg_metrics_request(tg_endpoint ep, int status, int streamed, int upstream,
                        int64_t ttfb_us, int64_t total_us);

/* Tokens billed by type (input, cached input, output, reasoning), and whether they were
 * reported by the vendor or estimated. */
void tg_metrics_tokens(int64_t input, int64_t cached, int64_t output, int64_t reasoning,
                       int estimated);

/* An upstream transfer failed: kind is "connect", "timeout", "broken", "status_5xx",
 * "status_429", "status_4xx" or "client_abort". */
void tg_metrics_upstream_error(const char *kind);

/* Open streams gauge: +1 when a stream starts reaching the client, -1 when it ends. */
void tg_metrics_streams(int delta);

/* One request moved to its next candidate (routing fallback). */
void tg_metrics_fallback(void);

/* Connections gauge. */
void tg_metrics_connections(int delta);

/* Appends the whole exposition (text format 0.0.4) to out.  Returns a tg_buf status. */
int tg_metrics_render(tg_buf *out);

#endif
