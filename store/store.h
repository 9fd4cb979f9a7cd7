/* The persistent store: teams, their budgets, virtual keys, and the ledger of requests
 * (settlements and cost records; reservations of requests in flight apart).  This header is the store's
 * whole public interface.
 *
 * One small interface, interchangeable backends (STYLE.md, Redis's ae.c): a store is
 * opened from a URL, and the URL's scheme picks the backend.  "sqlite:PATH" is the embedded
 * SQLite backend (store_sqlite.c; PATH relative to the working directory, its parent
 * directories created); "postgres://..." / "postgresql://..." is reserved for the
 * PostgreSQL backend (not built yet: opening one fails with a clear message).  Nothing here
 * depends on the backend: callers see plain C structs and tg_store_status codes.  Opening
 * brings the schema up to date (numbered migrations, each in a transaction).
 *
 * Units: money is int64 nano-dollars (1 USD = 1e9 nusd, see quotas/money.h); times are UTC
 * ISO-8601 strings "YYYY-MM-DDTHH:MM:SSZ".  A limit of TG_STORE_UNLIMITED means "none"
 * (NULL in the database); real limits are >= 0.
 *
 * Virtual keys: the secret is "tg-" followed by 40 base62 characters from the OpenSSL
 * CSPRNG (about 238 random bits).  The store keeps only SHA-256(secret) and the first
 * TG_KEY_PREFIX_LEN characters (for people to recognise a key in lists).  A plain hash is
 * enough because the secret is random and long: nothing can be guessed from it.  The
 * secret is handed to the caller once, by tg_store_key_create, and is never stored, logged
 * or put into an error message.
 *
 * Errors: every fallible function returns a tg_store_status; after any status other than
 * TG_STORE_OK, tg_store_errmsg(st) holds one plain line that says what happened (e.g.
 * "team 'ml' already exists") and can be shown to a person as is.
 *
 * Threads: a handle is used by one thread at a time (it holds prepared statements and the
 * last error message).  Open one handle per thread; any number of handles, in one process
 * or several, may use the same SQLite file at once (WAL mode; a writer waits up to
 * TG_STORE_BUSY_TIMEOUT_MS for another writer). */
#ifndef TG_STORE_H
#define TG_STORE_H
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define TG_STORE_DEFAULT_URL "sqlite:./var/tollgate.db"
#define TG_STORE_URL_MAX 4096      /* longest store URL accepted */
#define TG_STORE_ERR_SIZE 512      /* tg_store_errmsg's buffer, NUL included */
#define TG_STORE_BUSY_TIMEOUT_MS 5000
#define TG_STORE_LIST_MAX 1000000  /* most rows one list call returns */

#define TG_STORE_UNLIMITED INT64_C(-1) /* no budget / no token limit (NULL) */

#define TG_TEAM_NAME_MAX 64        /* 1..64 characters from [A-Za-z0-9_.-] */
#define TG_KEY_ID_LEN 16           /* "key_" + 12 lower-case hex digits */
#define TG_KEY_LABEL_MAX 128       /* bytes; no control characters */
#define TG_KEY_SECRET_LEN 43       /* "tg-" + 40 base62 characters */
#define TG_KEY_SECRET_SIZE (TG_KEY_SECRET_LEN + 1)
#define TG_KEY_SECRET_INPUT_MAX 256 /* longer presented secrets are not looked up */
#define TG_KEY_PREFIX_LEN 8        /* shown in lists: "tg-" + 5 characters */
#define TG_KEY_TAGS_MAX 255        /* a key's tags, comma-separated, in bytes */
#define TG_KEY_TAG_MAX 32          /* one tag: [A-Za-z0-9._:-], 1..32 bytes */
#define TG_KEY_MAX_TAGS 16         /* tags per key */
#define TG_STORE_TIME_LEN 20       /* "2025-01-31T23:59:59Z" */

typedef struct tg_store tg_store;

typedef enum {
    TG_STORE_OK = 0,
    TG_STORE_NOT_FOUND, /* no such team or key (or a wrong secret) */
    TG_STORE_EXISTS,    /* the team name is taken */
    TG_STORE_REVOKED,   /* the key exists but was revoked */
    TG_STORE_INVALID,   /* a bad argument: name, label, negative limit, URL */
    TG_STORE_ERROR,     /* the backend failed: I/O, corrupt or too new a schema, busy
                           beyond the timeout, out of memory */
} tg_store_status;

/* Budget periods: calendar periods in UTC (or the configured offset, quotas/period.h). */
typedef enum { TG_PERIOD_DAY, TG_PERIOD_WEEK, TG_PERIOD_MONTH } tg_period;
#define TG_PERIOD_DEFAULT TG_PERIOD_MONTH

/* The limits of a team or a key.  Each is >= 0 or TG_STORE_UNLIMITED.  The budgets hold per
 * calendar period (the team's, also for its keys); rpm and tpm per rolling minute (those
 * are enforced in memory only, see quotas/quota.h).  A zero-initialised tg_limits means
 * "all zero": start from TG_LIMITS_NONE instead. */
typedef struct {
    int64_t budget_nusd;     /* spend per period, nano-dollars */
    int64_t budget_tokens;   /* tokens (input + output) per period */
    int64_t budget_requests; /* requests per period */
    int64_t rpm;             /* requests per rolling minute */
    int64_t tpm;             /* tokens per rolling minute */
} tg_limits;

#define TG_LIMITS_NONE                                                                        \
    ((tg_limits){TG_STORE_UNLIMITED, TG_STORE_UNLIMITED, TG_STORE_UNLIMITED,                 \
                 TG_STORE_UNLIMITED, TG_STORE_UNLIMITED})

typedef struct {
    int64_t id;                          /* assigned by the store */
    char name[TG_TEAM_NAME_MAX + 1];
    tg_limits lim;
    tg_period period;
    char created_at[TG_STORE_TIME_LEN + 1];
} tg_team;

/* A change to a team: only the fields whose set_* flag is true are written.  A limit of
 * TG_STORE_UNLIMITED clears it. */
typedef struct {
    bool set_budget, set_tokens, set_requests, set_rpm, set_tpm, set_period;
    tg_limits lim;      /* the new values of the limits whose flag is set */
    tg_period period;
} tg_team_update;

/* What the store knows about a key.  Never the secret or its hash.  Lookups also give the
 * team's limits and period, so that one read tells the quota module everything. */
typedef struct {
    char id[TG_KEY_ID_LEN + 1];
    int64_t team_id;
    char team[TG_TEAM_NAME_MAX + 1];     /* the team's name */
    char name[TG_KEY_LABEL_MAX + 1];     /* label, "" when none */
    char prefix[TG_KEY_PREFIX_LEN + 1];  /* first characters of the secret */
    char tags[TG_KEY_TAGS_MAX + 1];      /* "tag1,tag2" (policy key_tags); "" when none */
    tg_limits lim;                       /* the key's own limits (per team period) */
    tg_limits team_lim;                  /* its team's limits */
    tg_period period;                    /* its team's period */
    char created_at[TG_STORE_TIME_LEN + 1];
    char revoked_at[TG_STORE_TIME_LEN + 1]; /* "" while the key is active */
} tg_key;

/* The state of a request's row in the ledger (the requests table).
 *   RECORDED   written without a reservation (no quota in the path): counts at cost_nusd
 *   RESERVED   admitted, worst case held, maybe upstream now: counts at reserved_nusd
 *   SETTLED    ended with actual usage: counts at cost_nusd (overshoot flagged if above)
 *   RELEASED   failed before anything was billed: counts nothing
 *   UNSETTLED  found RESERVED at start (the process died): charged at reserved_nusd and
 *              flagged `reconcile` for finance to compare with the vendor's bill */
typedef enum {
    TG_RECORD_RECORDED = 0,
    TG_RECORD_RESERVED,
    TG_RECORD_SETTLED,
    TG_RECORD_RELEASED,
    TG_RECORD_UNSETTLED,
} tg_record_state;

#define TG_RECORD_RULE_MAX 64     /* rule id and policy version buffers, NUL included */
#define TG_RECORD_VERSION_MAX 32  /* price version buffer, NUL included */

/* One request attempt that reached (or tried to reach) an upstream: the source of truth
 * for spend.  No prompt or answer text is ever stored.  Tokens follow OpenTelemetry GenAI
 * usage: input includes cached_input; output includes reasoning.  Costs are nano-dollars;
 * the per-type costs split cost_nusd by token type (input = uncached input). */
typedef struct {
    char id[40];                  /* x-tollgate-request-id */
    int attempt;                  /* 1 for the first upstream attempt */
    int64_t ts_us;                /* start, microseconds since the Unix epoch (UTC) */
    char team[TG_TEAM_NAME_MAX + 1];
    char key_id[TG_KEY_ID_LEN + 1];
    char provider[64];
    char requested_model[128];    /* as the client named it */
    char model[128];              /* as sent upstream */
    char endpoint[24];            /* chat_completions, completions, ... */
    int64_t est_input_tokens;     /* tollgate's estimate before sending */
    int64_t input_tokens, cached_input_tokens, cache_write_tokens;
    int64_t output_tokens, reasoning_tokens;
    bool usage_estimated;         /* true: the vendor reported no usage; tollgate counted */
    int status;                   /* HTTP status sent to the client */
    int upstream_status;          /* 0 when no answer came */
    int64_t latency_us;           /* request start to last byte */
    int64_t ttfb_us;              /* upstream time to first byte, -1 when none */
    bool streamed, client_aborted;
    /* ledger fields (migration 3); all zero / "" for a plain record */
    tg_record_state state;
    bool reconcile;               /* charged at its reservation by recovery: check it */
    bool overshoot;               /* actual cost or tokens above the reservation */
    char rule[TG_RECORD_RULE_MAX];            /* routing rule id */
    char policy_version[TG_RECORD_RULE_MAX];
    char price_version[TG_RECORD_VERSION_MAX];
    int64_t reserved_nusd, reserved_tokens;   /* the worst case held at admission */
    int64_t cost_nusd;                        /* actual (settled) cost */
    int64_t cost_input_nusd, cost_cached_nusd, cost_cache_write_nusd, cost_output_nusd;
    /* a reservation's place in the store (1, 2, ...; 0: none, the store picks one), reused
     * by a later reservation once this one's settlement is written (see tg_ledger) */
    int64_t slot;
} tg_record;

/* What one (team, key, day) has spent, as recovery rebuilds it from the ledger. */
typedef struct {
    char team[TG_TEAM_NAME_MAX + 1];
    char key_id[TG_KEY_ID_LEN + 1];
    int64_t day;           /* days since 1970-01-01 on the calendar of `offset_s` */
    int64_t charged_nusd;  /* settled/recorded at cost, reserved/unsettled at reservation */
    int64_t charged_tokens;
    int64_t requests;      /* rows not released */
} tg_spend_row;

/* Opens (creating if needed) the store named by `url` and migrates its schema to the
 * current version.  `url` is not kept.  On success returns TG_STORE_OK and sets *out, a
 * handle the caller closes with tg_store_close.  On failure returns TG_STORE_INVALID (a
 * malformed or unsupported URL) or TG_STORE_ERROR (cannot create, open or migrate; a
 * schema newer than this build), sets *out to NULL and writes one plain line into `err`
 * (`errlen` bytes, NUL-terminated; may be NULL when errlen is 0).  The message never
 * repeats a postgres URL (it may hold a password). */
__attribute__((warn_unused_result)) int tg_store_open(const char *url, tg_store **out,
                                                     char *err, size_t errlen);

/* Closes the handle and frees it.  NULL is allowed. */
void tg_store_close(tg_store *st);

/* The message for the last status other than TG_STORE_OK returned on this handle ("" when
 * none).  Owned by the handle, valid until its next call. */
const char *tg_store_errmsg(const tg_store *st);

/* The schema version the open store is at (the number of migrations applied). */
int tg_store_schema_version(const tg_store *st);

/* True when `name` is a valid team name: 1..TG_TEAM_NAME_MAX characters [A-Za-z0-9_.-]. */
bool tg_store_team_name_valid(const char *name);

/* "day", "week" or "month" <-> tg_period.  parse returns 0, or -1 for anything else. */
__attribute__((warn_unused_result)) int tg_store_period_parse(const char *s, tg_period *p);
const char *tg_store_period_name(tg_period p);

/* Adds a team.  From `team` it reads name, lim and period (limits >= 0 or
 * TG_STORE_UNLIMITED); on success it fills in id and created_at.
 * Returns TG_STORE_OK, TG_STORE_INVALID (name or limits), TG_STORE_EXISTS (the name is
 * taken: "team 'NAME' already exists"), or TG_STORE_ERROR. */
__attribute__((warn_unused_result)) int tg_store_team_add(tg_store *st, tg_team *team);

/* Finds the team called `name` and copies it into *out.
 * Returns TG_STORE_OK, TG_STORE_NOT_FOUND ("no team 'NAME'"), or TG_STORE_ERROR. */
__attribute__((warn_unused_result)) int tg_store_team_get(tg_store *st, const char *name,
                                                         tg_team *out);

/* All teams, by name, as a new array of *n entries the caller frees with free() (NULL when
 * there are none).  Returns TG_STORE_OK or TG_STORE_ERROR (then *out is NULL, *n 0). */
__attribute__((warn_unused_result)) int tg_store_team_list(tg_store *st, tg_team **out,
                                                          size_t *n);

/* Applies `u` to the team called `name`; on success copies the updated team into *out
 * (may be NULL).  Returns TG_STORE_OK, TG_STORE_INVALID (a negative limit other than
 * TG_STORE_UNLIMITED), TG_STORE_NOT_FOUND, or TG_STORE_ERROR. */
__attribute__((warn_unused_result)) int tg_store_team_set(tg_store *st, const char *name,
                                                         const tg_team_update *u,
                                                         tg_team *out);

/* Creates a key for team `team` with label `label` (NULL or "" for none) and limits `lim`
 * (NULL: none; not kept).  The new secret is written into `secret`,
 * which must have room for TG_KEY_SECRET_SIZE bytes (`secret_size`); it exists nowhere
 * else, so the caller shows it once and then wipes it (OPENSSL_cleanse).  On success *out
 * (may be NULL) gets the key's details.  Returns TG_STORE_OK, TG_STORE_INVALID (label,
 * a limit, buffer too small), TG_STORE_NOT_FOUND (no such team), or TG_STORE_ERROR (also
 * when the CSPRNG fails).  On failure `secret` holds "". */
__attribute__((warn_unused_result)) int tg_store_key_create(tg_store *st, const char *team,
                                                           const char *label,
                                                           const tg_limits *lim, char *secret,
                                                           size_t secret_size, tg_key *out);

/* tg_store_key_create with tags: `tags` is NULL, "" or a comma-separated list of at most
 * TG_KEY_MAX_TAGS tags of 1..TG_KEY_TAG_MAX characters [A-Za-z0-9._:-] (the routing
 * policy's key_tags condition matches them).  TG_STORE_INVALID names a bad tag. */
__attribute__((warn_unused_result)) int tg_store_key_create_tagged(
    tg_store *st, const char *team, const char *label, const char *tags, const tg_limits *lim,
    char *secret, size_t secret_size, tg_key *out);

/* Splits k->tags into out[max] (pointers into buf, a copy of the tags of
 * TG_KEY_TAGS_MAX + 1 bytes); returns the count. */
int tg_store_key_tags(const tg_key *k, char *buf, const char **out, int max);

/* Finds the key `id` (revoked or not) and copies it into *out.
 * Returns TG_STORE_OK, TG_STORE_NOT_FOUND ("no key 'ID'"), or TG_STORE_ERROR. */
__attribute__((warn_unused_result)) int tg_store_key_get(tg_store *st, const char *id,
                                                        tg_key *out);

/* Keys, revoked ones included, ordered by team name then creation, as a new array the
 * caller frees with free() (NULL when none).  `team` NULL lists every team's keys.
 * Returns TG_STORE_OK, TG_STORE_NOT_FOUND (`team` does not exist), or TG_STORE_ERROR. */
__attribute__((warn_unused_result)) int tg_store_key_list(tg_store *st, const char *team,
                                                         tg_key **out, size_t *n);

/* Changes the limits of key `id` (revoked or not): the limits whose set_* flag is true
 * in `u` (set_period must be false: a key follows its team's period).  On success *out
 * (may be NULL) gets the key as changed.  Returns TG_STORE_OK, TG_STORE_INVALID (a
 * negative limit, or set_period), TG_STORE_NOT_FOUND, or TG_STORE_ERROR. */
__attribute__((warn_unused_result)) int tg_store_key_set(tg_store *st, const char *id,
                                                        const tg_team_update *u, tg_key *out);

/* Revokes key `id` now; on success *out (may be NULL) gets the key as revoked.
 * Returns TG_STORE_OK, TG_STORE_NOT_FOUND, TG_STORE_REVOKED (it already was: nothing
 * changes, *out gets the key with its first revocation time), or TG_STORE_ERROR. */
__attribute__((warn_unused_result)) int tg_store_key_revoke(tg_store *st, const char *id,
                                                           tg_key *out);

/* Authenticates a presented secret (`len` bytes at `secret`, need not be NUL-terminated):
 * hashes it, finds the key with that hash and compares the hashes in constant time.
 * Returns TG_STORE_OK with the key (and its team) in *out; TG_STORE_NOT_FOUND for an
 * unknown, empty or over-long secret; TG_STORE_REVOKED for a revoked key (*out is filled,
 * so the caller can say which key); or TG_STORE_ERROR.  The secret is not kept and never
 * appears in tg_store_errmsg. */
__attribute__((warn_unused_result)) int tg_store_key_lookup(tg_store *st, const char *secret,
                                                           size_t len, tg_key *out);

/* Writes n records in one transaction (all or none), in order: a record replaces the row
 * with the same (id, attempt).  A reservation (state RESERVED) is kept apart, in its slot
 * (overwriting whatever that slot held; slot 0: a new one); it counts as in flight until
 * a record of the same (id, attempt) in any other state (its settlement) is written.  Returns TG_STORE_OK, or TG_STORE_ERROR (the caller keeps the records
 * and retries). */
__attribute__((warn_unused_result)) int tg_store_records_insert(tg_store *st,
                                                               const tg_record *recs,
                                                               size_t n);

/* Number of records in the store (tests and reports). */
__attribute__((warn_unused_result)) int tg_store_records_count(tg_store *st, int64_t *n);

/* The record (id, attempt) into *out, or its reservation while it is in flight.  Returns TG_STORE_OK, TG_STORE_NOT_FOUND or
 * TG_STORE_ERROR. */
__attribute__((warn_unused_result)) int tg_store_record_get(tg_store *st, const char *id,
                                                           int attempt, tg_record *out);

/* Crash recovery, step 1: every reservation still held (in the ledger, and in the
 * reservations file of tg_store_claim_reservations) becomes a record in state UNSETTLED
 * with `reconcile` set (charged at its reservation), in one transaction per file.  *n (may be NULL) gets how many.
 * Run it only when no other process serves from this store (one `serve` per SQLite file).
 * Returns TG_STORE_OK or TG_STORE_ERROR. */
__attribute__((warn_unused_result)) int tg_store_ledger_recover(tg_store *st, int64_t *n);

/* Makes `st` the one handle that writes this process's reservations, and no other
 * process's: from now on the reservations it writes go to the ledger's reservations file
 * (for SQLite, PATH-inflight beside the ledger: store/slot_file.h), which it holds until it
 * is closed.  A reservation written there touches nothing else and takes no lock (it is on
 * the request's path): tg_store_reservation_put.  Recovery (on any handle) and
 * tg_store_record_get on this handle see the file's reservations; other handles do not
 * while it is held.  Run recovery before, since it needs the file.  Returns TG_STORE_OK,
 * TG_STORE_INVALID (the store keeps no such file: an in-memory one; keep writing
 * reservations into the ledger) or TG_STORE_ERROR (another process holds it: one serve per
 * SQLite ledger). */
__attribute__((warn_unused_result)) int tg_store_claim_reservations(tg_store *st);

/* Makes room in the claimed reservations file for slots 1..top (call it before a put to a
 * slot above any given room before; not concurrently with a put).  Returns TG_STORE_OK,
 * TG_STORE_INVALID (no claimed file on this handle: write reservations with
 * tg_store_records_insert) or TG_STORE_ERROR (the file cannot grow; too many in flight). */
__attribute__((warn_unused_result)) int tg_store_reservation_room(tg_store *st, int64_t top);

/* Writes the reservation *rec (state RESERVED, rec->slot within the room made) into its
 * slot of the claimed reservations file: durable against the process's death when it
 * returns (as a committed transaction of the ledger), with no system call and no lock.
 * Unlike every other call on a handle, several threads may put at once, to different
 * slots.  Returns TG_STORE_OK, TG_STORE_INVALID (no claimed file) or TG_STORE_ERROR. */
__attribute__((warn_unused_result)) int tg_store_reservation_put(tg_store *st,
                                                                const tg_record *rec);

/* The highest reservation slot the store holds (0: none) into *top, so a new writer
 * starts above every slot a dead process may have left in flight.  Returns TG_STORE_OK or
 * TG_STORE_ERROR. */
__attribute__((warn_unused_result)) int tg_store_reservation_slots(tg_store *st,
                                                                  int64_t *top);

/* Crash recovery, step 2: spend per (team, key, day) of the rows that started at or after
 * `since_us` (UTC µs), days counted on a calendar `offset_s` seconds east of UTC (at most
 * 18 hours either way).  Returns TG_STORE_OK with a new array (*out, *n; free() it, NULL
 * when empty), TG_STORE_INVALID (the offset) or TG_STORE_ERROR. */
__attribute__((warn_unused_result)) int tg_store_spend_by_day(tg_store *st, int64_t since_us,
                                                             int32_t offset_s,
                                                             tg_spend_row **out, size_t *n);

/* ---------------------------------------------------------------- reports */

/* The fields a report can group by (tg_report_query.group, in output order). */
typedef enum {
    TG_REPORT_DAY = 0, /* UTC day */
    TG_REPORT_TEAM,
    TG_REPORT_KEY,
    TG_REPORT_MODEL,   /* the catalog model the attempt went to (the routed model) */
    TG_REPORT_PROVIDER,
    TG_REPORT_FIELD_COUNT
} tg_report_field;

#define TG_REPORT_DAY_US INT64_C(86400000000)

/* A report over the daily rollups: the rows whose UTC day is in [from_day, to_day] (days
 * since 1970-01-01), optionally one team's, grouped by group[0..ngroup) (each field at
 * most once; ngroup 0: one total row).  Rows come ordered by the grouping fields. */
typedef struct {
    int64_t from_day, to_day;
    tg_report_field group[TG_REPORT_FIELD_COUNT];
    int ngroup;
    char team[TG_TEAM_NAME_MAX + 1]; /* "" for every team */
} tg_report_query;

/* One report row: the grouping fields (the others are 0 / "") and the sums.  requests
 * counts attempts that were not released (billed or held); attempts counts all.  cost_nusd
 * is what the rows are charged (settled/recorded at cost, reserved/unsettled at their
 * reservation), the cost_*_nusd split the actual cost by token type.  reported_*: the
 * attempts whose usage the vendor reported, with the input tokens it reported and the
 * ones tollgate had estimated for them (estimation accuracy). */
typedef struct {
    int64_t day;
    char team[TG_TEAM_NAME_MAX + 1];
    char key_id[TG_KEY_ID_LEN + 1];
    char model[128];
    char provider[64];
    int64_t requests, attempts;
    int64_t input_tokens, cached_input_tokens, cache_write_tokens, output_tokens,
        reasoning_tokens, est_input_tokens;
    int64_t reported_requests, reported_input_tokens, reported_est_input_tokens;
    int64_t estimated_requests, overshoot_requests, unsettled_requests, error_requests;
    int64_t cost_nusd, cost_input_nusd, cost_cached_nusd, cost_cache_write_nusd,
        cost_output_nusd;
} tg_report_row;

/* Runs `q` over the daily rollups (kept in the same transaction as every record write, so
 * they always equal the sums of the records).  Returns TG_STORE_OK with a new array (*out,
 * *n; free() it, NULL when empty), TG_STORE_INVALID (a bad query: a field twice, days
 * reversed) or TG_STORE_ERROR. */
__attribute__((warn_unused_result)) int tg_store_report(tg_store *st, const tg_report_query *q,
                                                       tg_report_row **out, size_t *n);

/* Called for each record of a scan; a non-zero return stops the scan (and is returned). */
typedef int (*tg_record_fn)(void *ctx, const tg_record *r);

/* Calls fn for every record that started in [from_us, to_us), in start-time order (then
 * id, attempt), without holding them all in memory.  Returns TG_STORE_OK, fn's non-zero
 * value when it stopped the scan, or TG_STORE_ERROR. */
__attribute__((warn_unused_result)) int tg_store_records_scan(tg_store *st, int64_t from_us,
                                                             int64_t to_us, tg_record_fn fn,
                                                             void *ctx);

#endif
