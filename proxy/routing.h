/* tg_routing: keeps the proxy's routing snapshot (catalog + compiled policy) current.
 *
 * Sources: the config's "catalog" files (over the built-in catalog), an optional catalog
 * overlay given through the admin API (tollgate's own format, applied last, held in memory
 * only), and the "policy" file (none: the built-in policy); a policy replaced through the
 * admin API is written back to the policy file when there is one (atomically: a temporary
 * file renamed over it) so a restart keeps it.
 *
 * Reloads happen on SIGHUP, when a source file changes (polled every
 * TG_ROUTING_POLL_MS: size, mtime or inode), and through the admin API.  A new snapshot is
 * built off the event loops (on the reloader thread or the admin thread), validated whole,
 * and installed atomically; one that fails validation is rejected with every problem and
 * the running one stays.  Requests in flight keep the snapshot they started with
 * (router/route.h). */
#ifndef TG_ROUTING_H
#define TG_ROUTING_H
#include "proxy/config.h"

#include <stdbool.h>
#include <stddef.h>

#define TG_ROUTING_POLL_MS 1000
#define TG_ROUTING_MAX_PROBLEMS 64

typedef struct {
    char lines[TG_ROUTING_MAX_PROBLEMS][512];
    int n;          /* problems found (may exceed the lines kept) */
} tg_routing_problems;

/* Builds the first snapshot from `cfg` (kept by reference) and installs it.  Returns 0, or
 * -1 with every problem in *probs. */
int tg_routing_init(const tg_config *cfg, tg_routing_problems *probs);

/* Builds a snapshot from `cfg`'s sources without installing it: `tollgate check` and
 * `tollgate route`.  Returns it (caller frees with tg_route_snapshot_free) or NULL with
 * the problems. */
struct tg_route_snapshot *tg_routing_build(const tg_config *cfg, tg_routing_problems *probs);

/* Starts / stops the reloader thread (SIGHUP and file polling). */
int tg_routing_start(void);
void tg_routing_stop(void);

/* Asks for a reload from the files (async-signal-safe: the SIGHUP handler calls it). */
void tg_routing_request_reload(void);

/* Reloads from the files now.  Returns 0 (installed) or -1 (rejected, problems given). */
int tg_routing_reload(tg_routing_problems *probs);

/* Validates a new policy text (validate_only) or also installs it and writes it to the
 * policy file.  Returns 0 or -1 with the problems. */
int tg_routing_replace_policy(const char *text, size_t len, bool validate_only,
                              tg_routing_problems *probs);

/* The same for the catalog overlay (held in memory; NULL text removes it). */
int tg_routing_replace_catalog(const char *text, size_t len, bool validate_only,
                               tg_routing_problems *probs);

/* Is provider `name` configured in `cfg` (a tg_config *), with its API key in the
 * environment?  On false writes the reason (TG_ROUTE_WHY_MAX bytes) into why.  The
 * signature fits tg_route_input.provider_ok; `serve` and `route` both use it. */
bool tg_routing_provider_ok(void *cfg, const char *name, char *why);

/* Does `cfg` (a tg_config *) define provider `name`?  For tg_route_input.provider_exists. */
bool tg_routing_provider_exists(void *cfg, const char *name);

/* Reloads done and rejected since start (metrics, tests). */
unsigned long tg_routing_reloads(void);
unsigned long tg_routing_rejects(void);

#endif
