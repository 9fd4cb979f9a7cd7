/* tg_admin: the admin API, on its own listener (config admin.listen), for operators.
 *
 * Low traffic, so it runs libmicrohttpd's own polling thread, apart from the workers.
 * Every path but /healthz needs "Authorization: Bearer <token>", the token being the value
 * of the environment variable the config names (admin.token_env); without that variable
 * the admin API refuses every such request.  Secrets never appear in its answers.
 *
 *   GET /healthz   {"status":"ok"} (no token)
 *   GET /metrics   Prometheus text format (proxy/metrics.h)
 *   GET /config    the running configuration, secrets reduced to the names of their
 *                  environment variables
 *   GET /policy    the running policy's source text
 *   GET /catalog   the running catalog, every model, in tollgate's own format
 *   PUT|POST /policy[?validate_only=1]    body: a new policy; validated against the
 *                  running catalog; installed (and written to the policy file) unless
 *                  validate_only.  200 {"ok":true,"policy_version",...} or 422
 *                  {"ok":false,"problems":["FILE: $.path: ..."]}; a rejected policy
 *                  leaves the running one in place
 *   PUT|POST /catalog[?validate_only=1]   body: a catalog in tollgate's own format,
 *                  loaded over the configured files (in memory only)
 *   POST /reload   re-reads the catalog and policy files (as SIGHUP does)
 *   /teams, /teams/NAME, /keys, /keys/ID, /keys/ID/revoke, /budgets: teams, keys and
 *                  budgets (proxy/admin_teams.h); key secrets only in the answer to the
 *                  POST that creates the key
 * The admin thread keeps its own store handle, opened at start. */
#ifndef TG_ADMIN_H
#define TG_ADMIN_H
#include <stddef.h>

#include "proxy/config.h"

/* Starts the admin listener for `cfg` (kept until tg_admin_stop).  Returns 0, or -1 with
 * one plain line in err. */
int tg_admin_start(const tg_config *cfg, char *err, size_t errlen);

/* Stops it (no-op when not started). */
void tg_admin_stop(void);

#endif
