/* tg_server: the public API listener and its event loops.
 *
 * One worker thread per core.  Each worker owns an epoll loop that drives its own
 * libmicrohttpd daemon (external epoll mode, listening socket shared with SO_REUSEPORT so
 * the kernel spreads connections) and its own libcurl multi handle
 * (curl_multi_socket_action).  A request lives on one worker from accept to the last
 * byte: no locks on the request path.  The loop blocks only in epoll_wait, with one
 * exception: a request alone on its worker commits its reservation to the ledger itself
 * (tg_ledger_waiter_inline), which holds up no other request and saves two thread
 * wake-ups.
 *
 * Upstream HTTP: HTTP/1.1 keep-alive by default; a provider with "http2": true multiplexes
 * its requests over HTTP/2 connections (CURLPIPE_MULTIPLEX, PIPEWAIT, up to
 * TG_H2_MAX_STREAMS streams a connection), so a stream costs no upstream socket.  Stream
 * backpressure: an HTTP/1.1 transfer whose client is a stream buffer
 * (limits.stream_buffer_bytes) behind is paused until the client catches up; an HTTP/2
 * transfer is never paused (libcurl 7.88 can stall every stream of a connection while one
 * is paused): such a stream is cut instead, the client getting what was buffered, an
 * error event (code "stream_buffer_full") and the end of the stream, and the record its
 * usage estimated from the delivered text (metric kind "slow_client"). */
#ifndef TG_SERVER_H
#define TG_SERVER_H

#include <stdbool.h>
#include <stddef.h>
#include <sys/socket.h>

#include "proxy/config.h"

/* Runs the proxy with `cfg` (kept, read-only, until return) until SIGINT or SIGTERM, then
 * drains: stops accepting, lets open requests finish for up to a few seconds, flushes the
 * records.  Returns 0 on a clean stop, or 1 after printing why it could not start (port
 * in use, store unreadable, ...). */
int tg_server_run(const tg_config *cfg);

/* The budgets and rate limits of the running proxy (for the admin API), NULL when it is
 * not serving.  Valid from before the admin listener starts until after it stops. */
struct tg_quota *tg_server_quota(void);

/* Resolves a listen address (IPv4, IPv6 or a host name) into *out; *v6 tells the family.
 * Returns 0, or -1 with one plain line in err. */
int tg_server_resolve(const char *host, int port, struct sockaddr_storage *out, bool *v6,
                      char *err, size_t errlen);

#endif
