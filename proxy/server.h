/* tg_server: the public API listener and its event loops.
 *
 * One worker thread per core.  Each worker owns an epoll loop that drives its own
 * libmicrohttpd daemon (external epoll mode, listening socket shared with SO_REUSEPORT so
 * the kernel spreads connections) and its own libcurl multi handle
 * (curl_multi_socket_action).  A request lives on one worker from accept to the last
 * byte: no locks on the request path.  The loop never blocks on anything but epoll_wait. */
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
