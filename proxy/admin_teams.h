/* tg_admin_teams: the admin API's teams, keys and budgets (issue 5), as plain functions
 * from (method, path, body) to (status, JSON), so that they are tested and fuzzed without
 * HTTP; proxy/admin.c puts them behind the admin listener and its bearer token.
 *
 *   GET    /teams                 every team: limits and current-period usage
 *   POST   /teams                 {"name", "period", limits...}        -> 201 the team
 *   GET    /teams/NAME            one team
 *   PATCH|PUT|POST /teams/NAME    {"period", limits...}: what is given changes
 *   GET    /keys[?team=NAME]      keys (revoked ones included), never a secret or hash
 *   POST   /keys                  {"team", "name", "tags", ...} -> 201 the key with
 *                                 "secret": shown this once, only its SHA-256 is stored
 *   GET    /keys/ID               one key
 *   PATCH|PUT|POST /keys/ID       {limits...}
 *   DELETE /keys/ID, POST /keys/ID/revoke    revokes it (again: 200, unchanged)
 *   GET    /budgets               the current period's usage of every team and key
 *
 * Limits in bodies: "budget_usd" (USD per period: a decimal string, exact to the
 * nano-dollar, or a JSON number, rounded to the nano-dollar), "budget_tokens",
 * "budget_requests", "rpm", "tpm" (non-negative integers); null clears a limit.  "period":
 * "day" | "week" | "month" (teams only).  Unknown fields are refused (400), so a typo never
 * silently leaves a limit unset.  Answers use the same names; money is an exact decimal
 * number.  Usage objects: {"period", "period_start", "resets_at", "spent_usd",
 * "reserved_usd" (held by requests in flight), "remaining_usd" (null without a USD
 * budget), "tokens", "requests"}: the serving process's counters, rebuilt from the ledger
 * at start.  Limit changes reach the workers within their key cache time (2 s).
 * Errors: {"error": {"message", "type"}} with 400, 404, 405, 409 (team exists), 500. */
#ifndef TG_ADMIN_TEAMS_H
#define TG_ADMIN_TEAMS_H
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "quotas/quota.h"
#include "store/store.h"

#define TG_ADMIN_ERR_SIZE 256 /* a body problem's message */

/* The fields of a request body, parsed and checked. */
typedef struct {
    bool has_name, has_team, has_label;
    char name[TG_TEAM_NAME_MAX + 1];  /* POST /teams: the team's name */
    char team[TG_TEAM_NAME_MAX + 1];  /* POST /keys: the key's team */
    char label[TG_KEY_LABEL_MAX + 1]; /* POST /keys: "name", the key's label */
    char tags[TG_KEY_TAGS_MAX + 1];   /* POST /keys: "tags" ("a,b"), checked by the store */
    tg_team_update upd;               /* limits and period, with their set_* flags */
} tg_admin_fields;

typedef enum {
    TG_ADMIN_BODY_TEAM_NEW, /* name, period, limits */
    TG_ADMIN_BODY_TEAM_SET, /* period, limits */
    TG_ADMIN_BODY_KEY_NEW,  /* team, name (label), tags, limits */
    TG_ADMIN_BODY_KEY_SET,  /* limits */
} tg_admin_body_kind;

/* Parses `len` bytes at `body` (need not be NUL-terminated; "" is an empty object) as a
 * JSON object of the fields `kind` allows.  Returns 0 with *out filled, or -1 with one
 * line in err (errlen bytes) naming the field and the problem. */
__attribute__((warn_unused_result)) int tg_admin_fields_parse(const char *body, size_t len,
                                                             tg_admin_body_kind kind,
                                                             tg_admin_fields *out, char *err,
                                                             size_t errlen);

/* What one admin request works with. */
typedef struct {
    tg_store *store;  /* used by the calling thread only */
    tg_quota *quota;  /* the serving process's counters; NULL: usage left out */
    int64_t now_us;   /* UTC */
} tg_admin_ctx;

typedef struct {
    unsigned status;
    char *json; /* the body; free with free() */
} tg_admin_reply;

/* True when `url` is one of the paths above (the caller then calls tg_admin_teams). */
bool tg_admin_teams_path(const char *url);

/* Answers one request.  `team_query` is the ?team= argument (NULL: none).  out->json is
 * NULL only when memory ran out (answer 500).  The secret of a new key lives only in
 * out->json; the caller wipes it (OPENSSL_cleanse) after sending. */
void tg_admin_teams(const tg_admin_ctx *ctx, const char *method, const char *url,
                    const char *team_query, const char *body, size_t len, tg_admin_reply *out);

#endif
