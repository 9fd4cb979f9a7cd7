/* The SQLite store backend ("sqlite:PATH"): the embedded default (see backend.h).
 *
 * Open: create PATH's parent directories (mode 0700), open the file, set the busy timeout
 * (TG_STORE_BUSY_TIMEOUT_MS), WAL mode (readers never block the writer, and several
 * processes may share the file), synchronous=NORMAL (in WAL mode a commit survives a
 * process crash; a power cut may lose the last commits but never corrupts the file), and
 * foreign keys.  Then migrate.
 *
 * Migrations: `migrations` below is an append-only list of SQL scripts; script i brings the
 * schema from version i to i+1.  The table schema_version has one row per applied
 * migration (the truth), and PRAGMA user_version mirrors the number for people using the
 * sqlite3 shell.  A handle reads the version without locking; only when a migration is due
 * does it take the write lock (BEGIN IMMEDIATE), read the version again (another process
 * may have just migrated) and apply every pending script in that one transaction, so a
 * crash leaves the old schema or the new one, never half.  A database newer than this
 * build is refused rather than guessed at.
 *
 * The ledger is the requests table (migrations 2 and 3) and the reservations table
 * (migration 7): a reservation writes the request's row, in state 'reserved', into its
 * slot of reservations before the request goes upstream (a small table without indexes
 * or triggers, rewritten in place: one page); its settlement inserts the full record
 * (state 'settled' or 'released') into requests, which ends the reservation (a
 * reservation is in flight while requests has no row of its (id, attempt)); the slot is
 * reused afterwards.  A serving process's ledger writer claims a slot file of its own
 * beside the ledger (PATH-inflight; sqlite_claim_reservations, slot_file.h) and writes
 * each reservation there instead, packed as one blob (record_codec.h) into its slot of a
 * shared memory map: no transaction, no system call, no lock, and it survives kill -9 as a
 * WAL commit does; the file's lock refuses a second serve on the same ledger.  Recovery
 * moves the reservations still in flight when a process died (in the table, in the slot
 * file, and in the SQLite reservations file of older builds, PATH-reservations: blobs or
 * wide rows) into requests as 'unsettled' (charged at the reservation, reconcile = 1),
 * empties them, and rebuilds spend with one GROUP BY per (team, key, day) over the index
 * on ts_us (reservations in flight included).
 *
 * Rollups (migrations 5, 6, 8): rollup_daily and rollup_team_daily sum the requests rows in
 * the transaction that writes them.  A batch's new rows are summed in memory per (day,
 * team, key, model, provider) and added with one upsert per group (rollup_batch); a row
 * written over an existing one, and deletes, go through the update and delete triggers.
 *
 * Statements are prepared once per handle, on first use (SQLITE_PREPARE_PERSISTENT), and
 * reset after each use.  Every value is bound, never spliced into SQL. */
#include <assert.h>
#include <errno.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include <sqlite3.h>

#include "store/backend.h"
#include "store/record_codec.h"
#include "store/slot_file.h"
#include "store/sqlite_walbuf.h"

#define SQLITE_DIR_MODE 0700
#define LIST_INITIAL 16
#define WAL_RETRY_MS 10
/* an older build's reservations file (SQLite), read by recovery only: PATH + this */
#define RESV_FILE_SUFFIX "-reservations"
#define SLOTS_FILE_SUFFIX "-inflight" /* the reservations slot file: PATH + this */

#define REC_COLS                                                                             \
    "id, attempt, ts_us, team, key_id, provider, requested_model, model, endpoint, "         \
    "est_input_tokens, input_tokens, cached_input_tokens, cache_write_tokens, "               \
    "output_tokens, reasoning_tokens, usage_estimated, status, upstream_status, latency_us, " \
    "ttfb_us, streamed, client_aborted, state, reconcile, overshoot, rule, policy_version, "  \
    "price_version, reserved_nusd, reserved_tokens, cost_nusd, cost_input_nusd, "            \
    "cost_cached_nusd, cost_cache_write_nusd, cost_output_nusd"
#define REC_NCOLS 35

/* The reservations table's columns: migration 7's table in the ledger (and the table a
 * reservations file had before its rows became blobs; recovery still reads it). */
#define RESV_TABLE_BODY                                                                      \
    "  slot INTEGER PRIMARY KEY," \
    "  id TEXT NOT NULL, attempt INTEGER NOT NULL, ts_us INTEGER NOT NULL," \
    "  team TEXT NOT NULL, key_id TEXT NOT NULL, provider TEXT NOT NULL," \
    "  requested_model TEXT NOT NULL, model TEXT NOT NULL, endpoint TEXT NOT NULL," \
    "  est_input_tokens INTEGER NOT NULL, input_tokens INTEGER NOT NULL," \
    "  cached_input_tokens INTEGER NOT NULL, cache_write_tokens INTEGER NOT NULL," \
    "  output_tokens INTEGER NOT NULL, reasoning_tokens INTEGER NOT NULL," \
    "  usage_estimated INTEGER NOT NULL, status INTEGER NOT NULL," \
    "  upstream_status INTEGER NOT NULL, latency_us INTEGER NOT NULL, ttfb_us INTEGER," \
    "  streamed INTEGER NOT NULL, client_aborted INTEGER NOT NULL," \
    "  state TEXT NOT NULL CHECK (state = 'reserved'), reconcile INTEGER NOT NULL," \
    "  overshoot INTEGER NOT NULL, rule TEXT NOT NULL, policy_version TEXT NOT NULL," \
    "  price_version TEXT NOT NULL, reserved_nusd INTEGER NOT NULL," \
    "  reserved_tokens INTEGER NOT NULL, cost_nusd INTEGER NOT NULL," \
    "  cost_input_nusd INTEGER NOT NULL, cost_cached_nusd INTEGER NOT NULL," \
    "  cost_cache_write_nusd INTEGER NOT NULL, cost_output_nusd INTEGER NOT NULL"

static const char *const migrations[] = {
    /* 1: teams and virtual keys */
    "CREATE TABLE teams ("
    "  id            INTEGER PRIMARY KEY,"
    "  name          TEXT    NOT NULL UNIQUE,"
    "  budget_nusd   INTEGER CHECK (budget_nusd IS NULL OR budget_nusd >= 0),"
    "  budget_tokens INTEGER CHECK (budget_tokens IS NULL OR budget_tokens >= 0),"
    "  period        TEXT    NOT NULL DEFAULT 'month'"
    "                        CHECK (period IN ('day', 'week', 'month')),"
    "  created_at    TEXT    NOT NULL"
    ");"
    "CREATE TABLE keys ("
    "  id          TEXT    PRIMARY KEY,"
    "  team_id     INTEGER NOT NULL REFERENCES teams (id),"
    "  name        TEXT    NOT NULL DEFAULT '',"
    "  hash        BLOB    NOT NULL CHECK (length(hash) = 32),"
    "  prefix      TEXT    NOT NULL,"
    "  budget_nusd INTEGER CHECK (budget_nusd IS NULL OR budget_nusd >= 0),"
    "  created_at  TEXT    NOT NULL,"
    "  revoked_at  TEXT"
    ");"
    "CREATE UNIQUE INDEX keys_hash ON keys (hash);"
    "CREATE INDEX keys_team ON keys (team_id);",
    /* 2: per-request records (the source of truth for spend).  Small rows, no text. */
    "CREATE TABLE requests ("
    "  id              TEXT    NOT NULL,"
    "  attempt         INTEGER NOT NULL DEFAULT 1,"
    "  ts_us           INTEGER NOT NULL,"
    "  team            TEXT    NOT NULL,"
    "  key_id          TEXT    NOT NULL,"
    "  provider        TEXT    NOT NULL,"
    "  requested_model TEXT    NOT NULL,"
    "  model           TEXT    NOT NULL,"
    "  endpoint        TEXT    NOT NULL,"
    "  est_input_tokens   INTEGER NOT NULL,"
    "  input_tokens       INTEGER NOT NULL,"
    "  cached_input_tokens INTEGER NOT NULL,"
    "  cache_write_tokens INTEGER NOT NULL,"
    "  output_tokens      INTEGER NOT NULL,"
    "  reasoning_tokens   INTEGER NOT NULL,"
    "  usage_estimated INTEGER NOT NULL,"
    "  status          INTEGER NOT NULL,"
    "  upstream_status INTEGER NOT NULL,"
    "  latency_us      INTEGER NOT NULL,"
    "  ttfb_us         INTEGER,"
    "  streamed        INTEGER NOT NULL,"
    "  client_aborted  INTEGER NOT NULL,"
    "  PRIMARY KEY (id, attempt)"
    ") WITHOUT ROWID;"
    "CREATE INDEX requests_team_ts ON requests (team, ts_us);",
    /* 3: request and rate limits for teams and keys; the ledger columns of requests */
    "ALTER TABLE teams ADD COLUMN budget_requests INTEGER"
    "  CHECK (budget_requests IS NULL OR budget_requests >= 0);"
    "ALTER TABLE teams ADD COLUMN rpm INTEGER CHECK (rpm IS NULL OR rpm >= 0);"
    "ALTER TABLE teams ADD COLUMN tpm INTEGER CHECK (tpm IS NULL OR tpm >= 0);"
    "ALTER TABLE keys ADD COLUMN budget_tokens INTEGER"
    "  CHECK (budget_tokens IS NULL OR budget_tokens >= 0);"
    "ALTER TABLE keys ADD COLUMN budget_requests INTEGER"
    "  CHECK (budget_requests IS NULL OR budget_requests >= 0);"
    "ALTER TABLE keys ADD COLUMN rpm INTEGER CHECK (rpm IS NULL OR rpm >= 0);"
    "ALTER TABLE keys ADD COLUMN tpm INTEGER CHECK (tpm IS NULL OR tpm >= 0);"
    "ALTER TABLE requests ADD COLUMN state TEXT NOT NULL DEFAULT 'recorded'"
    "  CHECK (state IN ('recorded', 'reserved', 'settled', 'released', 'unsettled'));"
    "ALTER TABLE requests ADD COLUMN reconcile INTEGER NOT NULL DEFAULT 0;"
    "ALTER TABLE requests ADD COLUMN overshoot INTEGER NOT NULL DEFAULT 0;"
    "ALTER TABLE requests ADD COLUMN rule TEXT NOT NULL DEFAULT '';"
    "ALTER TABLE requests ADD COLUMN policy_version TEXT NOT NULL DEFAULT '';"
    "ALTER TABLE requests ADD COLUMN price_version TEXT NOT NULL DEFAULT '';"
    "ALTER TABLE requests ADD COLUMN reserved_nusd INTEGER NOT NULL DEFAULT 0;"
    "ALTER TABLE requests ADD COLUMN reserved_tokens INTEGER NOT NULL DEFAULT 0;"
    "ALTER TABLE requests ADD COLUMN cost_nusd INTEGER NOT NULL DEFAULT 0;"
    "ALTER TABLE requests ADD COLUMN cost_input_nusd INTEGER NOT NULL DEFAULT 0;"
    "ALTER TABLE requests ADD COLUMN cost_cached_nusd INTEGER NOT NULL DEFAULT 0;"
    "ALTER TABLE requests ADD COLUMN cost_cache_write_nusd INTEGER NOT NULL DEFAULT 0;"
    "ALTER TABLE requests ADD COLUMN cost_output_nusd INTEGER NOT NULL DEFAULT 0;"
    "CREATE INDEX requests_ts ON requests (ts_us);"
    "CREATE INDEX requests_reserved ON requests (state) WHERE state = 'reserved';",
    /* 4: key tags (the routing policy's key_tags condition) */
    "ALTER TABLE keys ADD COLUMN tags TEXT NOT NULL DEFAULT '';",
    /* 5: daily rollups per (UTC day, team, key, model, provider), kept by triggers in the
     * same transaction as the request row they sum (insert, the settlement's upsert,
     * recovery's update), and filled from the rows already there. */
    "CREATE TABLE rollup_daily ("
    "  day INTEGER NOT NULL,"
    "  team TEXT NOT NULL, key_id TEXT NOT NULL, model TEXT NOT NULL, provider TEXT NOT NULL,"
    "  requests INTEGER NOT NULL DEFAULT 0,"
    "  attempts INTEGER NOT NULL DEFAULT 0,"
    "  input_tokens INTEGER NOT NULL DEFAULT 0,"
    "  cached_input_tokens INTEGER NOT NULL DEFAULT 0,"
    "  cache_write_tokens INTEGER NOT NULL DEFAULT 0,"
    "  output_tokens INTEGER NOT NULL DEFAULT 0,"
    "  reasoning_tokens INTEGER NOT NULL DEFAULT 0,"
    "  est_input_tokens INTEGER NOT NULL DEFAULT 0,"
    "  reported_requests INTEGER NOT NULL DEFAULT 0,"
    "  reported_input_tokens INTEGER NOT NULL DEFAULT 0,"
    "  reported_est_input_tokens INTEGER NOT NULL DEFAULT 0,"
    "  estimated_requests INTEGER NOT NULL DEFAULT 0,"
    "  overshoot_requests INTEGER NOT NULL DEFAULT 0,"
    "  unsettled_requests INTEGER NOT NULL DEFAULT 0,"
    "  error_requests INTEGER NOT NULL DEFAULT 0,"
    "  cost_nusd INTEGER NOT NULL DEFAULT 0,"
    "  cost_input_nusd INTEGER NOT NULL DEFAULT 0,"
    "  cost_cached_nusd INTEGER NOT NULL DEFAULT 0,"
    "  cost_cache_write_nusd INTEGER NOT NULL DEFAULT 0,"
    "  cost_output_nusd INTEGER NOT NULL DEFAULT 0,"
    "  PRIMARY KEY (day, team, key_id, model, provider)"
    ") WITHOUT ROWID;"
    "CREATE TRIGGER requests_rollup_ins AFTER INSERT ON requests BEGIN "
    "INSERT INTO rollup_daily (day, team, key_id, model, provider, requests, "
    "attempts, input_tokens, cached_input_tokens, cache_write_tokens, output_tokens, "
    "reasoning_tokens, est_input_tokens, reported_requests, reported_input_tokens, "
    "reported_est_input_tokens, estimated_requests, overshoot_requests, "
    "unsettled_requests, error_requests, cost_nusd, cost_input_nusd, "
    "cost_cached_nusd, cost_cache_write_nusd, cost_output_nusd) VALUES (NEW.ts_us / "
    "86400000000, NEW.team, NEW.key_id, NEW.model, NEW.provider, ((NEW.state <> "
    "'released')), (1), (NEW.input_tokens), (NEW.cached_input_tokens), "
    "(NEW.cache_write_tokens), (NEW.output_tokens), (NEW.reasoning_tokens), "
    "(NEW.est_input_tokens), ((NEW.usage_estimated = 0 AND NEW.state IN ('recorded', "
    "'settled') AND NEW.input_tokens > 0)), (CASE WHEN (NEW.usage_estimated = 0 AND "
    "NEW.state IN ('recorded', 'settled') AND NEW.input_tokens > 0) THEN "
    "NEW.input_tokens ELSE 0 END), (CASE WHEN (NEW.usage_estimated = 0 AND NEW.state "
    "IN ('recorded', 'settled') AND NEW.input_tokens > 0) THEN NEW.est_input_tokens "
    "ELSE 0 END), ((NEW.usage_estimated <> 0)), ((NEW.overshoot <> 0)), ((NEW.state = "
    "'unsettled')), ((NEW.status >= 400)), (CASE NEW.state WHEN 'released' THEN 0 "
    "WHEN 'reserved' THEN NEW.reserved_nusd WHEN 'unsettled' THEN NEW.reserved_nusd "
    "ELSE NEW.cost_nusd END), (NEW.cost_input_nusd), (NEW.cost_cached_nusd), "
    "(NEW.cost_cache_write_nusd), (NEW.cost_output_nusd)) ON CONFLICT (day, team, "
    "key_id, model, provider) DO UPDATE SET requests = requests + excluded.requests, "
    "attempts = attempts + excluded.attempts, input_tokens = input_tokens + "
    "excluded.input_tokens, cached_input_tokens = cached_input_tokens + "
    "excluded.cached_input_tokens, cache_write_tokens = cache_write_tokens + "
    "excluded.cache_write_tokens, output_tokens = output_tokens + "
    "excluded.output_tokens, reasoning_tokens = reasoning_tokens + "
    "excluded.reasoning_tokens, est_input_tokens = est_input_tokens + "
    "excluded.est_input_tokens, reported_requests = reported_requests + "
    "excluded.reported_requests, reported_input_tokens = reported_input_tokens + "
    "excluded.reported_input_tokens, reported_est_input_tokens = "
    "reported_est_input_tokens + excluded.reported_est_input_tokens, "
    "estimated_requests = estimated_requests + excluded.estimated_requests, "
    "overshoot_requests = overshoot_requests + excluded.overshoot_requests, "
    "unsettled_requests = unsettled_requests + excluded.unsettled_requests, "
    "error_requests = error_requests + excluded.error_requests, cost_nusd = cost_nusd "
    "+ excluded.cost_nusd, cost_input_nusd = cost_input_nusd + "
    "excluded.cost_input_nusd, cost_cached_nusd = cost_cached_nusd + "
    "excluded.cost_cached_nusd, cost_cache_write_nusd = cost_cache_write_nusd + "
    "excluded.cost_cache_write_nusd, cost_output_nusd = cost_output_nusd + "
    "excluded.cost_output_nusd;"
    " END;"
    "CREATE TRIGGER requests_rollup_upd AFTER UPDATE ON requests BEGIN "
    "INSERT INTO rollup_daily (day, team, key_id, model, provider, requests, "
    "attempts, input_tokens, cached_input_tokens, cache_write_tokens, output_tokens, "
    "reasoning_tokens, est_input_tokens, reported_requests, reported_input_tokens, "
    "reported_est_input_tokens, estimated_requests, overshoot_requests, "
    "unsettled_requests, error_requests, cost_nusd, cost_input_nusd, "
    "cost_cached_nusd, cost_cache_write_nusd, cost_output_nusd) VALUES (OLD.ts_us / "
    "86400000000, OLD.team, OLD.key_id, OLD.model, OLD.provider, -((OLD.state <> "
    "'released')), -(1), -(OLD.input_tokens), -(OLD.cached_input_tokens), "
    "-(OLD.cache_write_tokens), -(OLD.output_tokens), -(OLD.reasoning_tokens), "
    "-(OLD.est_input_tokens), -((OLD.usage_estimated = 0 AND OLD.state IN "
    "('recorded', 'settled') AND OLD.input_tokens > 0)), -(CASE WHEN "
    "(OLD.usage_estimated = 0 AND OLD.state IN ('recorded', 'settled') AND "
    "OLD.input_tokens > 0) THEN OLD.input_tokens ELSE 0 END), -(CASE WHEN "
    "(OLD.usage_estimated = 0 AND OLD.state IN ('recorded', 'settled') AND "
    "OLD.input_tokens > 0) THEN OLD.est_input_tokens ELSE 0 END), "
    "-((OLD.usage_estimated <> 0)), -((OLD.overshoot <> 0)), -((OLD.state = "
    "'unsettled')), -((OLD.status >= 400)), -(CASE OLD.state WHEN 'released' THEN 0 "
    "WHEN 'reserved' THEN OLD.reserved_nusd WHEN 'unsettled' THEN OLD.reserved_nusd "
    "ELSE OLD.cost_nusd END), -(OLD.cost_input_nusd), -(OLD.cost_cached_nusd), "
    "-(OLD.cost_cache_write_nusd), -(OLD.cost_output_nusd)) ON CONFLICT (day, team, "
    "key_id, model, provider) DO UPDATE SET requests = requests + excluded.requests, "
    "attempts = attempts + excluded.attempts, input_tokens = input_tokens + "
    "excluded.input_tokens, cached_input_tokens = cached_input_tokens + "
    "excluded.cached_input_tokens, cache_write_tokens = cache_write_tokens + "
    "excluded.cache_write_tokens, output_tokens = output_tokens + "
    "excluded.output_tokens, reasoning_tokens = reasoning_tokens + "
    "excluded.reasoning_tokens, est_input_tokens = est_input_tokens + "
    "excluded.est_input_tokens, reported_requests = reported_requests + "
    "excluded.reported_requests, reported_input_tokens = reported_input_tokens + "
    "excluded.reported_input_tokens, reported_est_input_tokens = "
    "reported_est_input_tokens + excluded.reported_est_input_tokens, "
    "estimated_requests = estimated_requests + excluded.estimated_requests, "
    "overshoot_requests = overshoot_requests + excluded.overshoot_requests, "
    "unsettled_requests = unsettled_requests + excluded.unsettled_requests, "
    "error_requests = error_requests + excluded.error_requests, cost_nusd = cost_nusd "
    "+ excluded.cost_nusd, cost_input_nusd = cost_input_nusd + "
    "excluded.cost_input_nusd, cost_cached_nusd = cost_cached_nusd + "
    "excluded.cost_cached_nusd, cost_cache_write_nusd = cost_cache_write_nusd + "
    "excluded.cost_cache_write_nusd, cost_output_nusd = cost_output_nusd + "
    "excluded.cost_output_nusd;"
    "INSERT INTO rollup_daily (day, team, key_id, model, provider, requests, "
    "attempts, input_tokens, cached_input_tokens, cache_write_tokens, output_tokens, "
    "reasoning_tokens, est_input_tokens, reported_requests, reported_input_tokens, "
    "reported_est_input_tokens, estimated_requests, overshoot_requests, "
    "unsettled_requests, error_requests, cost_nusd, cost_input_nusd, "
    "cost_cached_nusd, cost_cache_write_nusd, cost_output_nusd) VALUES (NEW.ts_us / "
    "86400000000, NEW.team, NEW.key_id, NEW.model, NEW.provider, ((NEW.state <> "
    "'released')), (1), (NEW.input_tokens), (NEW.cached_input_tokens), "
    "(NEW.cache_write_tokens), (NEW.output_tokens), (NEW.reasoning_tokens), "
    "(NEW.est_input_tokens), ((NEW.usage_estimated = 0 AND NEW.state IN ('recorded', "
    "'settled') AND NEW.input_tokens > 0)), (CASE WHEN (NEW.usage_estimated = 0 AND "
    "NEW.state IN ('recorded', 'settled') AND NEW.input_tokens > 0) THEN "
    "NEW.input_tokens ELSE 0 END), (CASE WHEN (NEW.usage_estimated = 0 AND NEW.state "
    "IN ('recorded', 'settled') AND NEW.input_tokens > 0) THEN NEW.est_input_tokens "
    "ELSE 0 END), ((NEW.usage_estimated <> 0)), ((NEW.overshoot <> 0)), ((NEW.state = "
    "'unsettled')), ((NEW.status >= 400)), (CASE NEW.state WHEN 'released' THEN 0 "
    "WHEN 'reserved' THEN NEW.reserved_nusd WHEN 'unsettled' THEN NEW.reserved_nusd "
    "ELSE NEW.cost_nusd END), (NEW.cost_input_nusd), (NEW.cost_cached_nusd), "
    "(NEW.cost_cache_write_nusd), (NEW.cost_output_nusd)) ON CONFLICT (day, team, "
    "key_id, model, provider) DO UPDATE SET requests = requests + excluded.requests, "
    "attempts = attempts + excluded.attempts, input_tokens = input_tokens + "
    "excluded.input_tokens, cached_input_tokens = cached_input_tokens + "
    "excluded.cached_input_tokens, cache_write_tokens = cache_write_tokens + "
    "excluded.cache_write_tokens, output_tokens = output_tokens + "
    "excluded.output_tokens, reasoning_tokens = reasoning_tokens + "
    "excluded.reasoning_tokens, est_input_tokens = est_input_tokens + "
    "excluded.est_input_tokens, reported_requests = reported_requests + "
    "excluded.reported_requests, reported_input_tokens = reported_input_tokens + "
    "excluded.reported_input_tokens, reported_est_input_tokens = "
    "reported_est_input_tokens + excluded.reported_est_input_tokens, "
    "estimated_requests = estimated_requests + excluded.estimated_requests, "
    "overshoot_requests = overshoot_requests + excluded.overshoot_requests, "
    "unsettled_requests = unsettled_requests + excluded.unsettled_requests, "
    "error_requests = error_requests + excluded.error_requests, cost_nusd = cost_nusd "
    "+ excluded.cost_nusd, cost_input_nusd = cost_input_nusd + "
    "excluded.cost_input_nusd, cost_cached_nusd = cost_cached_nusd + "
    "excluded.cost_cached_nusd, cost_cache_write_nusd = cost_cache_write_nusd + "
    "excluded.cost_cache_write_nusd, cost_output_nusd = cost_output_nusd + "
    "excluded.cost_output_nusd;"
    " END;"
    "CREATE TRIGGER requests_rollup_del AFTER DELETE ON requests BEGIN "
    "INSERT INTO rollup_daily (day, team, key_id, model, provider, requests, "
    "attempts, input_tokens, cached_input_tokens, cache_write_tokens, output_tokens, "
    "reasoning_tokens, est_input_tokens, reported_requests, reported_input_tokens, "
    "reported_est_input_tokens, estimated_requests, overshoot_requests, "
    "unsettled_requests, error_requests, cost_nusd, cost_input_nusd, "
    "cost_cached_nusd, cost_cache_write_nusd, cost_output_nusd) VALUES (OLD.ts_us / "
    "86400000000, OLD.team, OLD.key_id, OLD.model, OLD.provider, -((OLD.state <> "
    "'released')), -(1), -(OLD.input_tokens), -(OLD.cached_input_tokens), "
    "-(OLD.cache_write_tokens), -(OLD.output_tokens), -(OLD.reasoning_tokens), "
    "-(OLD.est_input_tokens), -((OLD.usage_estimated = 0 AND OLD.state IN "
    "('recorded', 'settled') AND OLD.input_tokens > 0)), -(CASE WHEN "
    "(OLD.usage_estimated = 0 AND OLD.state IN ('recorded', 'settled') AND "
    "OLD.input_tokens > 0) THEN OLD.input_tokens ELSE 0 END), -(CASE WHEN "
    "(OLD.usage_estimated = 0 AND OLD.state IN ('recorded', 'settled') AND "
    "OLD.input_tokens > 0) THEN OLD.est_input_tokens ELSE 0 END), "
    "-((OLD.usage_estimated <> 0)), -((OLD.overshoot <> 0)), -((OLD.state = "
    "'unsettled')), -((OLD.status >= 400)), -(CASE OLD.state WHEN 'released' THEN 0 "
    "WHEN 'reserved' THEN OLD.reserved_nusd WHEN 'unsettled' THEN OLD.reserved_nusd "
    "ELSE OLD.cost_nusd END), -(OLD.cost_input_nusd), -(OLD.cost_cached_nusd), "
    "-(OLD.cost_cache_write_nusd), -(OLD.cost_output_nusd)) ON CONFLICT (day, team, "
    "key_id, model, provider) DO UPDATE SET requests = requests + excluded.requests, "
    "attempts = attempts + excluded.attempts, input_tokens = input_tokens + "
    "excluded.input_tokens, cached_input_tokens = cached_input_tokens + "
    "excluded.cached_input_tokens, cache_write_tokens = cache_write_tokens + "
    "excluded.cache_write_tokens, output_tokens = output_tokens + "
    "excluded.output_tokens, reasoning_tokens = reasoning_tokens + "
    "excluded.reasoning_tokens, est_input_tokens = est_input_tokens + "
    "excluded.est_input_tokens, reported_requests = reported_requests + "
    "excluded.reported_requests, reported_input_tokens = reported_input_tokens + "
    "excluded.reported_input_tokens, reported_est_input_tokens = "
    "reported_est_input_tokens + excluded.reported_est_input_tokens, "
    "estimated_requests = estimated_requests + excluded.estimated_requests, "
    "overshoot_requests = overshoot_requests + excluded.overshoot_requests, "
    "unsettled_requests = unsettled_requests + excluded.unsettled_requests, "
    "error_requests = error_requests + excluded.error_requests, cost_nusd = cost_nusd "
    "+ excluded.cost_nusd, cost_input_nusd = cost_input_nusd + "
    "excluded.cost_input_nusd, cost_cached_nusd = cost_cached_nusd + "
    "excluded.cost_cached_nusd, cost_cache_write_nusd = cost_cache_write_nusd + "
    "excluded.cost_cache_write_nusd, cost_output_nusd = cost_output_nusd + "
    "excluded.cost_output_nusd;"
    " END;"
    "INSERT INTO rollup_daily SELECT ts_us / 86400000000, team, key_id, model, provider, "
    "sum((state <> 'released')), sum(1), sum(input_tokens), sum(cached_input_tokens), "
    "sum(cache_write_tokens), sum(output_tokens), sum(reasoning_tokens), "
    "sum(est_input_tokens), sum((usage_estimated = 0 AND state IN ('recorded', "
    "'settled') AND input_tokens > 0)), sum(CASE WHEN (usage_estimated = 0 AND state "
    "IN ('recorded', 'settled') AND input_tokens > 0) THEN input_tokens ELSE 0 END), "
    "sum(CASE WHEN (usage_estimated = 0 AND state IN ('recorded', 'settled') AND "
    "input_tokens > 0) THEN est_input_tokens ELSE 0 END), sum((usage_estimated <> "
    "0)), sum((overshoot <> 0)), sum((state = 'unsettled')), sum((status >= 400)), "
    "sum(CASE state WHEN 'released' THEN 0 WHEN 'reserved' THEN reserved_nusd WHEN "
    "'unsettled' THEN reserved_nusd ELSE cost_nusd END), sum(cost_input_nusd), "
    "sum(cost_cached_nusd), sum(cost_cache_write_nusd), sum(cost_output_nusd) FROM "
    "requests R GROUP BY 1, 2, 3, 4, 5;",
    /* 6: the same sums per (UTC day, team) only, for reports by team and day (a month is
     * days x teams rows), kept by their own triggers in the same transaction, filled from
     * rollup_daily. */
    "CREATE TABLE rollup_team_daily ("
    "  day INTEGER NOT NULL, team TEXT NOT NULL,"
    "  requests INTEGER NOT NULL DEFAULT 0,"
    "  attempts INTEGER NOT NULL DEFAULT 0,"
    "  input_tokens INTEGER NOT NULL DEFAULT 0,"
    "  cached_input_tokens INTEGER NOT NULL DEFAULT 0,"
    "  cache_write_tokens INTEGER NOT NULL DEFAULT 0,"
    "  output_tokens INTEGER NOT NULL DEFAULT 0,"
    "  reasoning_tokens INTEGER NOT NULL DEFAULT 0,"
    "  est_input_tokens INTEGER NOT NULL DEFAULT 0,"
    "  reported_requests INTEGER NOT NULL DEFAULT 0,"
    "  reported_input_tokens INTEGER NOT NULL DEFAULT 0,"
    "  reported_est_input_tokens INTEGER NOT NULL DEFAULT 0,"
    "  estimated_requests INTEGER NOT NULL DEFAULT 0,"
    "  overshoot_requests INTEGER NOT NULL DEFAULT 0,"
    "  unsettled_requests INTEGER NOT NULL DEFAULT 0,"
    "  error_requests INTEGER NOT NULL DEFAULT 0,"
    "  cost_nusd INTEGER NOT NULL DEFAULT 0,"
    "  cost_input_nusd INTEGER NOT NULL DEFAULT 0,"
    "  cost_cached_nusd INTEGER NOT NULL DEFAULT 0,"
    "  cost_cache_write_nusd INTEGER NOT NULL DEFAULT 0,"
    "  cost_output_nusd INTEGER NOT NULL DEFAULT 0,"
    "  PRIMARY KEY (day, team)"
    ") WITHOUT ROWID;"
    "CREATE TRIGGER requests_rollup_team_ins AFTER INSERT ON requests BEGIN "
    "INSERT INTO rollup_team_daily (day, team, requests, attempts, input_tokens, "
    "cached_input_tokens, cache_write_tokens, output_tokens, reasoning_tokens, "
    "est_input_tokens, reported_requests, reported_input_tokens, "
    "reported_est_input_tokens, estimated_requests, overshoot_requests, "
    "unsettled_requests, error_requests, cost_nusd, cost_input_nusd, "
    "cost_cached_nusd, cost_cache_write_nusd, cost_output_nusd) VALUES (NEW.ts_us / "
    "86400000000, NEW.team, ((NEW.state <> 'released')), (1), (NEW.input_tokens), "
    "(NEW.cached_input_tokens), (NEW.cache_write_tokens), (NEW.output_tokens), "
    "(NEW.reasoning_tokens), (NEW.est_input_tokens), ((NEW.usage_estimated = 0 AND "
    "NEW.state IN ('recorded', 'settled') AND NEW.input_tokens > 0)), (CASE WHEN "
    "(NEW.usage_estimated = 0 AND NEW.state IN ('recorded', 'settled') AND "
    "NEW.input_tokens > 0) THEN NEW.input_tokens ELSE 0 END), (CASE WHEN "
    "(NEW.usage_estimated = 0 AND NEW.state IN ('recorded', 'settled') AND "
    "NEW.input_tokens > 0) THEN NEW.est_input_tokens ELSE 0 END), "
    "((NEW.usage_estimated <> 0)), ((NEW.overshoot <> 0)), ((NEW.state = "
    "'unsettled')), ((NEW.status >= 400)), (CASE NEW.state WHEN 'released' THEN 0 "
    "WHEN 'reserved' THEN NEW.reserved_nusd WHEN 'unsettled' THEN NEW.reserved_nusd "
    "ELSE NEW.cost_nusd END), (NEW.cost_input_nusd), (NEW.cost_cached_nusd), "
    "(NEW.cost_cache_write_nusd), (NEW.cost_output_nusd)) ON CONFLICT (day, team) DO "
    "UPDATE SET requests = requests + excluded.requests, attempts = attempts + "
    "excluded.attempts, input_tokens = input_tokens + excluded.input_tokens, "
    "cached_input_tokens = cached_input_tokens + excluded.cached_input_tokens, "
    "cache_write_tokens = cache_write_tokens + excluded.cache_write_tokens, "
    "output_tokens = output_tokens + excluded.output_tokens, reasoning_tokens = "
    "reasoning_tokens + excluded.reasoning_tokens, est_input_tokens = "
    "est_input_tokens + excluded.est_input_tokens, reported_requests = "
    "reported_requests + excluded.reported_requests, reported_input_tokens = "
    "reported_input_tokens + excluded.reported_input_tokens, "
    "reported_est_input_tokens = reported_est_input_tokens + "
    "excluded.reported_est_input_tokens, estimated_requests = estimated_requests + "
    "excluded.estimated_requests, overshoot_requests = overshoot_requests + "
    "excluded.overshoot_requests, unsettled_requests = unsettled_requests + "
    "excluded.unsettled_requests, error_requests = error_requests + "
    "excluded.error_requests, cost_nusd = cost_nusd + excluded.cost_nusd, "
    "cost_input_nusd = cost_input_nusd + excluded.cost_input_nusd, cost_cached_nusd = "
    "cost_cached_nusd + excluded.cost_cached_nusd, cost_cache_write_nusd = "
    "cost_cache_write_nusd + excluded.cost_cache_write_nusd, cost_output_nusd = "
    "cost_output_nusd + excluded.cost_output_nusd;"
    " END;"
    "CREATE TRIGGER requests_rollup_team_upd AFTER UPDATE ON requests BEGIN "
    "INSERT INTO rollup_team_daily (day, team, requests, attempts, input_tokens, "
    "cached_input_tokens, cache_write_tokens, output_tokens, reasoning_tokens, "
    "est_input_tokens, reported_requests, reported_input_tokens, "
    "reported_est_input_tokens, estimated_requests, overshoot_requests, "
    "unsettled_requests, error_requests, cost_nusd, cost_input_nusd, "
    "cost_cached_nusd, cost_cache_write_nusd, cost_output_nusd) VALUES (OLD.ts_us / "
    "86400000000, OLD.team, -((OLD.state <> 'released')), -(1), -(OLD.input_tokens), "
    "-(OLD.cached_input_tokens), -(OLD.cache_write_tokens), -(OLD.output_tokens), "
    "-(OLD.reasoning_tokens), -(OLD.est_input_tokens), -((OLD.usage_estimated = 0 AND "
    "OLD.state IN ('recorded', 'settled') AND OLD.input_tokens > 0)), -(CASE WHEN "
    "(OLD.usage_estimated = 0 AND OLD.state IN ('recorded', 'settled') AND "
    "OLD.input_tokens > 0) THEN OLD.input_tokens ELSE 0 END), -(CASE WHEN "
    "(OLD.usage_estimated = 0 AND OLD.state IN ('recorded', 'settled') AND "
    "OLD.input_tokens > 0) THEN OLD.est_input_tokens ELSE 0 END), "
    "-((OLD.usage_estimated <> 0)), -((OLD.overshoot <> 0)), -((OLD.state = "
    "'unsettled')), -((OLD.status >= 400)), -(CASE OLD.state WHEN 'released' THEN 0 "
    "WHEN 'reserved' THEN OLD.reserved_nusd WHEN 'unsettled' THEN OLD.reserved_nusd "
    "ELSE OLD.cost_nusd END), -(OLD.cost_input_nusd), -(OLD.cost_cached_nusd), "
    "-(OLD.cost_cache_write_nusd), -(OLD.cost_output_nusd)) ON CONFLICT (day, team) "
    "DO UPDATE SET requests = requests + excluded.requests, attempts = attempts + "
    "excluded.attempts, input_tokens = input_tokens + excluded.input_tokens, "
    "cached_input_tokens = cached_input_tokens + excluded.cached_input_tokens, "
    "cache_write_tokens = cache_write_tokens + excluded.cache_write_tokens, "
    "output_tokens = output_tokens + excluded.output_tokens, reasoning_tokens = "
    "reasoning_tokens + excluded.reasoning_tokens, est_input_tokens = "
    "est_input_tokens + excluded.est_input_tokens, reported_requests = "
    "reported_requests + excluded.reported_requests, reported_input_tokens = "
    "reported_input_tokens + excluded.reported_input_tokens, "
    "reported_est_input_tokens = reported_est_input_tokens + "
    "excluded.reported_est_input_tokens, estimated_requests = estimated_requests + "
    "excluded.estimated_requests, overshoot_requests = overshoot_requests + "
    "excluded.overshoot_requests, unsettled_requests = unsettled_requests + "
    "excluded.unsettled_requests, error_requests = error_requests + "
    "excluded.error_requests, cost_nusd = cost_nusd + excluded.cost_nusd, "
    "cost_input_nusd = cost_input_nusd + excluded.cost_input_nusd, cost_cached_nusd = "
    "cost_cached_nusd + excluded.cost_cached_nusd, cost_cache_write_nusd = "
    "cost_cache_write_nusd + excluded.cost_cache_write_nusd, cost_output_nusd = "
    "cost_output_nusd + excluded.cost_output_nusd;"
    "INSERT INTO rollup_team_daily (day, team, requests, attempts, input_tokens, "
    "cached_input_tokens, cache_write_tokens, output_tokens, reasoning_tokens, "
    "est_input_tokens, reported_requests, reported_input_tokens, "
    "reported_est_input_tokens, estimated_requests, overshoot_requests, "
    "unsettled_requests, error_requests, cost_nusd, cost_input_nusd, "
    "cost_cached_nusd, cost_cache_write_nusd, cost_output_nusd) VALUES (NEW.ts_us / "
    "86400000000, NEW.team, ((NEW.state <> 'released')), (1), (NEW.input_tokens), "
    "(NEW.cached_input_tokens), (NEW.cache_write_tokens), (NEW.output_tokens), "
    "(NEW.reasoning_tokens), (NEW.est_input_tokens), ((NEW.usage_estimated = 0 AND "
    "NEW.state IN ('recorded', 'settled') AND NEW.input_tokens > 0)), (CASE WHEN "
    "(NEW.usage_estimated = 0 AND NEW.state IN ('recorded', 'settled') AND "
    "NEW.input_tokens > 0) THEN NEW.input_tokens ELSE 0 END), (CASE WHEN "
    "(NEW.usage_estimated = 0 AND NEW.state IN ('recorded', 'settled') AND "
    "NEW.input_tokens > 0) THEN NEW.est_input_tokens ELSE 0 END), "
    "((NEW.usage_estimated <> 0)), ((NEW.overshoot <> 0)), ((NEW.state = "
    "'unsettled')), ((NEW.status >= 400)), (CASE NEW.state WHEN 'released' THEN 0 "
    "WHEN 'reserved' THEN NEW.reserved_nusd WHEN 'unsettled' THEN NEW.reserved_nusd "
    "ELSE NEW.cost_nusd END), (NEW.cost_input_nusd), (NEW.cost_cached_nusd), "
    "(NEW.cost_cache_write_nusd), (NEW.cost_output_nusd)) ON CONFLICT (day, team) DO "
    "UPDATE SET requests = requests + excluded.requests, attempts = attempts + "
    "excluded.attempts, input_tokens = input_tokens + excluded.input_tokens, "
    "cached_input_tokens = cached_input_tokens + excluded.cached_input_tokens, "
    "cache_write_tokens = cache_write_tokens + excluded.cache_write_tokens, "
    "output_tokens = output_tokens + excluded.output_tokens, reasoning_tokens = "
    "reasoning_tokens + excluded.reasoning_tokens, est_input_tokens = "
    "est_input_tokens + excluded.est_input_tokens, reported_requests = "
    "reported_requests + excluded.reported_requests, reported_input_tokens = "
    "reported_input_tokens + excluded.reported_input_tokens, "
    "reported_est_input_tokens = reported_est_input_tokens + "
    "excluded.reported_est_input_tokens, estimated_requests = estimated_requests + "
    "excluded.estimated_requests, overshoot_requests = overshoot_requests + "
    "excluded.overshoot_requests, unsettled_requests = unsettled_requests + "
    "excluded.unsettled_requests, error_requests = error_requests + "
    "excluded.error_requests, cost_nusd = cost_nusd + excluded.cost_nusd, "
    "cost_input_nusd = cost_input_nusd + excluded.cost_input_nusd, cost_cached_nusd = "
    "cost_cached_nusd + excluded.cost_cached_nusd, cost_cache_write_nusd = "
    "cost_cache_write_nusd + excluded.cost_cache_write_nusd, cost_output_nusd = "
    "cost_output_nusd + excluded.cost_output_nusd;"
    " END;"
    "CREATE TRIGGER requests_rollup_team_del AFTER DELETE ON requests BEGIN "
    "INSERT INTO rollup_team_daily (day, team, requests, attempts, input_tokens, "
    "cached_input_tokens, cache_write_tokens, output_tokens, reasoning_tokens, "
    "est_input_tokens, reported_requests, reported_input_tokens, "
    "reported_est_input_tokens, estimated_requests, overshoot_requests, "
    "unsettled_requests, error_requests, cost_nusd, cost_input_nusd, "
    "cost_cached_nusd, cost_cache_write_nusd, cost_output_nusd) VALUES (OLD.ts_us / "
    "86400000000, OLD.team, -((OLD.state <> 'released')), -(1), -(OLD.input_tokens), "
    "-(OLD.cached_input_tokens), -(OLD.cache_write_tokens), -(OLD.output_tokens), "
    "-(OLD.reasoning_tokens), -(OLD.est_input_tokens), -((OLD.usage_estimated = 0 AND "
    "OLD.state IN ('recorded', 'settled') AND OLD.input_tokens > 0)), -(CASE WHEN "
    "(OLD.usage_estimated = 0 AND OLD.state IN ('recorded', 'settled') AND "
    "OLD.input_tokens > 0) THEN OLD.input_tokens ELSE 0 END), -(CASE WHEN "
    "(OLD.usage_estimated = 0 AND OLD.state IN ('recorded', 'settled') AND "
    "OLD.input_tokens > 0) THEN OLD.est_input_tokens ELSE 0 END), "
    "-((OLD.usage_estimated <> 0)), -((OLD.overshoot <> 0)), -((OLD.state = "
    "'unsettled')), -((OLD.status >= 400)), -(CASE OLD.state WHEN 'released' THEN 0 "
    "WHEN 'reserved' THEN OLD.reserved_nusd WHEN 'unsettled' THEN OLD.reserved_nusd "
    "ELSE OLD.cost_nusd END), -(OLD.cost_input_nusd), -(OLD.cost_cached_nusd), "
    "-(OLD.cost_cache_write_nusd), -(OLD.cost_output_nusd)) ON CONFLICT (day, team) "
    "DO UPDATE SET requests = requests + excluded.requests, attempts = attempts + "
    "excluded.attempts, input_tokens = input_tokens + excluded.input_tokens, "
    "cached_input_tokens = cached_input_tokens + excluded.cached_input_tokens, "
    "cache_write_tokens = cache_write_tokens + excluded.cache_write_tokens, "
    "output_tokens = output_tokens + excluded.output_tokens, reasoning_tokens = "
    "reasoning_tokens + excluded.reasoning_tokens, est_input_tokens = "
    "est_input_tokens + excluded.est_input_tokens, reported_requests = "
    "reported_requests + excluded.reported_requests, reported_input_tokens = "
    "reported_input_tokens + excluded.reported_input_tokens, "
    "reported_est_input_tokens = reported_est_input_tokens + "
    "excluded.reported_est_input_tokens, estimated_requests = estimated_requests + "
    "excluded.estimated_requests, overshoot_requests = overshoot_requests + "
    "excluded.overshoot_requests, unsettled_requests = unsettled_requests + "
    "excluded.unsettled_requests, error_requests = error_requests + "
    "excluded.error_requests, cost_nusd = cost_nusd + excluded.cost_nusd, "
    "cost_input_nusd = cost_input_nusd + excluded.cost_input_nusd, cost_cached_nusd = "
    "cost_cached_nusd + excluded.cost_cached_nusd, cost_cache_write_nusd = "
    "cost_cache_write_nusd + excluded.cost_cache_write_nusd, cost_output_nusd = "
    "cost_output_nusd + excluded.cost_output_nusd;"
    " END;"
    "INSERT INTO rollup_team_daily SELECT day, team, "
    "sum(requests), sum(attempts), sum(input_tokens), sum(cached_input_tokens), "
    "sum(cache_write_tokens), sum(output_tokens), sum(reasoning_tokens), "
    "sum(est_input_tokens), sum(reported_requests), sum(reported_input_tokens), "
    "sum(reported_est_input_tokens), sum(estimated_requests), "
    "sum(overshoot_requests), sum(unsettled_requests), sum(error_requests), "
    "sum(cost_nusd), sum(cost_input_nusd), sum(cost_cached_nusd), "
    "sum(cost_cache_write_nusd), sum(cost_output_nusd) FROM rollup_daily GROUP BY "
    "day, team;",
    /* 7: reservations get a table of their own: small (a slot per request in flight,
     * reused once its settlement is written), no secondary index, no trigger, so the
     * durable write before a request goes upstream rewrites one page in place, and the
     * settlement (a row in requests) does not touch it.  A reservation is in flight while
     * requests has no row with its (id, attempt).  Rows left 'reserved' in requests by an
     * older build move over (the delete keeps the rollups right through their trigger). */
    "CREATE TABLE reservations (" RESV_TABLE_BODY ");"
    "INSERT INTO reservations (" REC_COLS ") SELECT " REC_COLS
    " FROM requests WHERE state = 'reserved';"
    "DELETE FROM requests WHERE state = 'reserved';",
    /* 8: a new request row is summed into both rollups by the writer, once per (day, team,
     * key, model, provider) a transaction touches (see rollup_batch), not by a trigger per
     * row: the two insert triggers cost the ledger writer a third of its time.  The update
     * and delete triggers stay (a settlement over an existing row, recovery, deletes). */
    ("DROP TRIGGER IF EXISTS requests_rollup_ins;"
     "DROP TRIGGER IF EXISTS requests_rollup_team_ins;"),
    /* 9: the state column's CHECK as a chain of equalities.  SQLite codes `state IN (five
     * strings)` with an ephemeral table it builds on every insert (a b-tree opened, a page
     * cache of 85 KiB allocated and freed: a quarter of a settlement's insert); `=` and OR
     * is the same constraint, evaluated in place.  Existing rows satisfy both, so the table
     * keeps its content: the schema text is edited in place (SQLite's documented way to
     * change a CHECK: writable_schema, RESET reloads this connection's schema), and a
     * throwaway table bumps the schema cookie so other connections reload theirs. */
    ("PRAGMA writable_schema = ON;"
     "UPDATE sqlite_master SET sql = replace(sql, 'CHECK (state IN (''recorded'', "
     "''reserved'', ''settled'', ''released'', ''unsettled''))', 'CHECK (state = "
     "''recorded'' OR state = ''reserved'' OR state = ''settled'' OR state = ''released'' "
     "OR state = ''unsettled'')') WHERE type = 'table' AND name = 'requests';"
     "PRAGMA writable_schema = RESET;"
     "CREATE TABLE tg_schema_cookie (x); DROP TABLE tg_schema_cookie;"),
    /* 10: no index on requests (team, ts_us).  No query reads it (per-team figures come
     * from the rollups; time ranges use requests_ts), and every settlement row paid a
     * third b-tree insert for it. */
    "DROP INDEX IF EXISTS requests_team_ts;",
    /* 11: (next).  Append; never edit a released script. */
};
#define SCHEMA_VERSION ((int)(sizeof migrations / sizeof *migrations))

enum {
    S_TEAM_INSERT,
    S_TEAM_GET,
    S_TEAM_LIST,
    S_TEAM_UPDATE,
    S_KEY_INSERT,
    S_KEY_GET,
    S_KEY_BY_HASH,
    S_KEY_LIST,
    S_KEY_REVOKE,
    S_KEY_UPDATE,
    S_KEY_REVOKED,
    S_RECORD_INSERT,
    S_RECORD_NEW,
    S_ROLLUP_ADD,
    S_ROLLUP_TEAM_ADD,
    S_RECORD_COUNT,
    S_RECORD_GET,
    S_SPEND_BY_DAY,
    S_RECORD_SCAN,
    S_RESV_INSERT,
    S_RESV_GET,
    S_RECORD_EXISTS,
    S_BEGIN,
    S_COMMIT,
    STMT_COUNT
};

#define TEAM_COLS                                                                            \
    "id, name, budget_nusd, budget_tokens, period, created_at, budget_requests, rpm, tpm"
#define KEY_COLS                                                                             \
    "k.id, k.team_id, t.name, k.name, k.prefix, k.created_at, k.revoked_at, "                 \
    "k.budget_nusd, k.budget_tokens, k.budget_requests, k.rpm, k.tpm, "                      \
    "t.budget_nusd, t.budget_tokens, t.budget_requests, t.rpm, t.tpm, t.period, k.tags"
#define KEY_NCOLS 19 /* the stored hash follows KEY_COLS in S_KEY_BY_HASH */
#define KEY_FROM " FROM keys k JOIN teams t ON t.id = k.team_id"
/* A settlement replaces its reservation's row in place (an upsert, so the rollup
 * triggers see an UPDATE with the old and the new values). */
#define REC_UPSERT_SET \
    "ts_us = excluded.ts_us, team = excluded.team, key_id = excluded.key_id, " \
    "provider = excluded.provider, requested_model = excluded.requested_model, " \
    "model = excluded.model, endpoint = excluded.endpoint, est_input_tokens = " \
    "excluded.est_input_tokens, input_tokens = excluded.input_tokens, " \
    "cached_input_tokens = excluded.cached_input_tokens, cache_write_tokens = " \
    "excluded.cache_write_tokens, output_tokens = excluded.output_tokens, " \
    "reasoning_tokens = excluded.reasoning_tokens, usage_estimated = " \
    "excluded.usage_estimated, status = excluded.status, upstream_status = " \
    "excluded.upstream_status, latency_us = excluded.latency_us, ttfb_us = " \
    "excluded.ttfb_us, streamed = excluded.streamed, client_aborted = " \
    "excluded.client_aborted, state = excluded.state, reconcile = " \
    "excluded.reconcile, overshoot = excluded.overshoot, rule = excluded.rule, " \
    "policy_version = excluded.policy_version, price_version = " \
    "excluded.price_version, reserved_nusd = excluded.reserved_nusd, " \
    "reserved_tokens = excluded.reserved_tokens, cost_nusd = excluded.cost_nusd, " \
    "cost_input_nusd = excluded.cost_input_nusd, cost_cached_nusd = " \
    "excluded.cost_cached_nusd, cost_cache_write_nusd = " \
    "excluded.cost_cache_write_nusd, cost_output_nusd = excluded.cost_output_nusd"
/* A request row (bind_record's parameters). */
#define REC_INSERT                                                                           \
    "INSERT INTO requests (" REC_COLS ") VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, "  \
    "?11, ?12, ?13, ?14, ?15, ?16, ?17, ?18, ?19, ?20, ?21, ?22, ?23, ?24, ?25, ?26, ?27, "  \
    "?28, ?29, ?30, ?31, ?32, ?33, ?34, ?35)"
/* The sums of both rollup tables, in rollup_row's order (see rollup_batch). */
#define ROLLUP_SUMS                                                                          \
    "requests, attempts, input_tokens, cached_input_tokens, cache_write_tokens, "            \
    "output_tokens, reasoning_tokens, est_input_tokens, reported_requests, "                 \
    "reported_input_tokens, reported_est_input_tokens, estimated_requests, "                 \
    "overshoot_requests, unsettled_requests, error_requests, cost_nusd, cost_input_nusd, "   \
    "cost_cached_nusd, cost_cache_write_nusd, cost_output_nusd"
#define ROLLUP_NSUMS 20
#define ROLLUP_PARAMS_FROM_6                                                                 \
    "?6, ?7, ?8, ?9, ?10, ?11, ?12, ?13, ?14, ?15, ?16, ?17, ?18, ?19, ?20, ?21, ?22, ?23, " \
    "?24, ?25"
#define ROLLUP_PARAMS_FROM_3                                                                 \
    "?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11, ?12, ?13, ?14, ?15, ?16, ?17, ?18, ?19, ?20, "    \
    "?21, ?22"
#define ROLLUP_ADD_SET                                                                       \
    "requests = requests + excluded.requests, attempts = attempts + excluded.attempts, "     \
    "input_tokens = input_tokens + excluded.input_tokens, cached_input_tokens = "            \
    "cached_input_tokens + excluded.cached_input_tokens, cache_write_tokens = "              \
    "cache_write_tokens + excluded.cache_write_tokens, output_tokens = output_tokens + "     \
    "excluded.output_tokens, reasoning_tokens = reasoning_tokens + "                         \
    "excluded.reasoning_tokens, est_input_tokens = est_input_tokens + "                      \
    "excluded.est_input_tokens, reported_requests = reported_requests + "                    \
    "excluded.reported_requests, reported_input_tokens = reported_input_tokens + "           \
    "excluded.reported_input_tokens, reported_est_input_tokens = "                           \
    "reported_est_input_tokens + excluded.reported_est_input_tokens, estimated_requests = "  \
    "estimated_requests + excluded.estimated_requests, overshoot_requests = "                \
    "overshoot_requests + excluded.overshoot_requests, unsettled_requests = "                \
    "unsettled_requests + excluded.unsettled_requests, error_requests = error_requests + "   \
    "excluded.error_requests, cost_nusd = cost_nusd + excluded.cost_nusd, cost_input_nusd "  \
    "= cost_input_nusd + excluded.cost_input_nusd, cost_cached_nusd = cost_cached_nusd + "   \
    "excluded.cost_cached_nusd, cost_cache_write_nusd = cost_cache_write_nusd + "            \
    "excluded.cost_cache_write_nusd, cost_output_nusd = cost_output_nusd + "                 \
    "excluded.cost_output_nusd"
/* A reservations row (alias r) whose request has no record yet: still in flight. */
#define RESV_IN_FLIGHT                                                                       \
    "NOT EXISTS (SELECT 1 FROM requests q WHERE q.id = r.id AND q.attempt = r.attempt)"
/* The columns CHARGED_NUSD and CHARGED_TOKENS read (requests and reservations alike). */
#define SPEND_COLS                                                                           \
    "team, key_id, ts_us, state, reserved_nusd, reserved_tokens, cost_nusd, input_tokens, "  \
    "output_tokens"
/* What a row counts against budgets, by state (see tg_record_state in store.h). */
#define CHARGED_NUSD                                                                         \
    "CASE state WHEN 'released' THEN 0 WHEN 'reserved' THEN reserved_nusd"                  \
    " WHEN 'unsettled' THEN reserved_nusd ELSE cost_nusd END"
#define CHARGED_TOKENS                                                                       \
    "CASE state WHEN 'released' THEN 0 WHEN 'reserved' THEN reserved_tokens"                \
    " WHEN 'unsettled' THEN reserved_tokens ELSE input_tokens + output_tokens END"

/* A reservation into its slot, and one in flight by (id, attempt), in the reservations
 * table of `schema` ("main": the ledger's; "resv": a claimed reservations file). */
#define RESV_INSERT                                                                          \
    "INSERT OR REPLACE INTO main.reservations (" REC_COLS ", slot) VALUES (?1, ?2, ?3, ?4, " \
    "?5, ?6, ?7, ?8, ?9, ?10, ?11, ?12, ?13, ?14, ?15, ?16, ?17, ?18, ?19, ?20, ?21, ?22, "   \
    "?23, ?24, ?25, ?26, ?27, ?28, ?29, ?30, ?31, ?32, ?33, ?34, ?35, ?36)"
#define RESV_GET                                                                             \
    "SELECT " REC_COLS ", slot FROM main.reservations r WHERE id = ?1 AND attempt = ?2"      \
    " AND " RESV_IN_FLIGHT

static const char *const stmt_sql[STMT_COUNT] = {
    [S_TEAM_INSERT] = "INSERT INTO teams (name, budget_nusd, budget_tokens, period, "
                      "created_at, budget_requests, rpm, tpm) VALUES (?1, ?2, ?3, ?4, ?5, ?6, "
                      "?7, ?8)",
    [S_TEAM_GET] = "SELECT " TEAM_COLS " FROM teams WHERE name = ?1",
    [S_TEAM_LIST] = "SELECT " TEAM_COLS " FROM teams ORDER BY name",
    [S_TEAM_UPDATE] = "UPDATE teams SET"
                      " budget_nusd = CASE WHEN ?1 THEN ?2 ELSE budget_nusd END,"
                      " budget_tokens = CASE WHEN ?3 THEN ?4 ELSE budget_tokens END,"
                      " period = CASE WHEN ?5 THEN ?6 ELSE period END,"
                      " budget_requests = CASE WHEN ?8 THEN ?9 ELSE budget_requests END,"
                      " rpm = CASE WHEN ?10 THEN ?11 ELSE rpm END,"
                      " tpm = CASE WHEN ?12 THEN ?13 ELSE tpm END"
                      " WHERE name = ?7",
    [S_KEY_INSERT] = "INSERT INTO keys (id, team_id, name, hash, prefix, budget_nusd, "
                     "created_at, budget_tokens, budget_requests, rpm, tpm, tags) VALUES (?1, "
                     "?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11, ?12)",
    [S_KEY_GET] = "SELECT " KEY_COLS KEY_FROM " WHERE k.id = ?1",
    [S_KEY_BY_HASH] = "SELECT " KEY_COLS ", k.hash" KEY_FROM " WHERE k.hash = ?1",
    [S_KEY_LIST] = "SELECT " KEY_COLS KEY_FROM " WHERE ?1 < 0 OR k.team_id = ?1"
                   " ORDER BY t.name, k.created_at, k.rowid",
    [S_KEY_REVOKE] = "UPDATE keys SET revoked_at = ?2 WHERE id = ?1 AND revoked_at IS NULL",
    [S_KEY_UPDATE] = "UPDATE keys SET"
                     " budget_nusd = CASE WHEN ?2 THEN ?3 ELSE budget_nusd END,"
                     " budget_tokens = CASE WHEN ?4 THEN ?5 ELSE budget_tokens END,"
                     " budget_requests = CASE WHEN ?6 THEN ?7 ELSE budget_requests END,"
                     " rpm = CASE WHEN ?8 THEN ?9 ELSE rpm END,"
                     " tpm = CASE WHEN ?10 THEN ?11 ELSE tpm END"
                     " WHERE id = ?1",
    [S_KEY_REVOKED] = "SELECT revoked_at IS NOT NULL FROM keys WHERE id = ?1",
    [S_RECORD_INSERT] = REC_INSERT " ON CONFLICT (id, attempt) DO UPDATE SET " REC_UPSERT_SET,
    [S_RECORD_NEW] = REC_INSERT,
    [S_ROLLUP_ADD] = "INSERT INTO rollup_daily (day, team, key_id, model, provider, "
                     ROLLUP_SUMS ") VALUES (?1, ?2, ?3, ?4, ?5, " ROLLUP_PARAMS_FROM_6
                     ") ON CONFLICT (day, team, key_id, model, provider) DO UPDATE SET "
                     ROLLUP_ADD_SET,
    [S_ROLLUP_TEAM_ADD] = "INSERT INTO rollup_team_daily (day, team, " ROLLUP_SUMS ") VALUES "
                          "(?1, ?2, " ROLLUP_PARAMS_FROM_3 ") ON CONFLICT (day, team) DO "
                          "UPDATE SET " ROLLUP_ADD_SET,
    [S_RECORD_COUNT] = "SELECT count(*) FROM requests",
    [S_RECORD_GET] = "SELECT " REC_COLS " FROM requests WHERE id = ?1 AND attempt = ?2",
    [S_RESV_INSERT] = RESV_INSERT,
    [S_BEGIN] = "BEGIN IMMEDIATE",
    [S_COMMIT] = "COMMIT",
    [S_RESV_GET] = RESV_GET,
    [S_RECORD_EXISTS] = "SELECT 1 FROM requests WHERE id = ?1 AND attempt = ?2",
    /* ?2: the calendar's offset in µs; ts_us + ?2 >= 0 for any time after 1970-01-02 */
    [S_SPEND_BY_DAY] = "SELECT team, key_id, (ts_us + ?2) / 86400000000 AS day,"
                       " sum(" CHARGED_NUSD "), sum(" CHARGED_TOKENS "),"
                       " sum(state <> 'released')"
                       " FROM (SELECT " SPEND_COLS " FROM requests WHERE ts_us >= ?1 UNION ALL"
                       " SELECT " SPEND_COLS " FROM main.reservations r WHERE ts_us >= ?1"
                       " AND " RESV_IN_FLIGHT ")"
                       " GROUP BY team, key_id, day",
    [S_RECORD_SCAN] = "SELECT " REC_COLS " FROM requests WHERE ts_us >= ?1 AND ts_us < ?2"
                      " ORDER BY ts_us, id, attempt",
};

typedef struct {
    sqlite3 *db;
    sqlite3_stmt *stmt[STMT_COUNT];
    char *resv_path;  /* an older build's reservations file (PATH-reservations); NULL for
                       * :memory: */
    char *slots_path; /* the reservations slot file (PATH-inflight); NULL for :memory: */
    tg_slots *slots;  /* slots_path, held (sqlite_claim_reservations); NULL: not claimed */
} sqlite_impl;

static sqlite3 *db_of(tg_store *st)
{
    return ((sqlite_impl *)st->impl)->db;
}

#define DB_ERR_PREFIX "sqlite: "

static int db_fail(tg_store *st)
{
    return tg_store_fail(st, TG_STORE_ERROR, DB_ERR_PREFIX "%s", sqlite3_errmsg(db_of(st)));
}

/* The prepared statement `which`, reset and ready for binding, or NULL (error set). */
static sqlite3_stmt *stmt_get(tg_store *st, int which)
{
    sqlite_impl *im = st->impl;
    assert(which >= 0 && which < STMT_COUNT);
    if (im->stmt[which])
        return im->stmt[which];
    if (sqlite3_prepare_v3(im->db, stmt_sql[which], -1, SQLITE_PREPARE_PERSISTENT,
                           &im->stmt[which], NULL) != SQLITE_OK) {
        db_fail(st);
        return NULL;
    }
    return im->stmt[which];
}

/* Ends a use of `s`: keeps the result `rc`, sets the message if it is an error. */
static int stmt_done(tg_store *st, sqlite3_stmt *s, int rc)
{
    if (rc == TG_STORE_ERROR)
        db_fail(st);
    sqlite3_reset(s);
    sqlite3_clear_bindings(s);
    return rc;
}

/* Steps s, which returns no rows, and resets it: TG_STORE_OK when it ran to the end. */
static int step_done(tg_store *st, sqlite3_stmt *s)
{
    return stmt_done(st, s, sqlite3_step(s) == SQLITE_DONE ? TG_STORE_OK : TG_STORE_ERROR);
}

static void bind_limit(sqlite3_stmt *s, int i, int64_t v)
{
    if (v == TG_STORE_UNLIMITED)
        sqlite3_bind_null(s, i);
    else
        sqlite3_bind_int64(s, i, v);
}

static int64_t column_limit(sqlite3_stmt *s, int i)
{
    if (sqlite3_column_type(s, i) == SQLITE_NULL)
        return TG_STORE_UNLIMITED;
    return sqlite3_column_int64(s, i);
}

static void column_copy(sqlite3_stmt *s, int i, char *dst, size_t size)
{
    const unsigned char *t = sqlite3_column_text(s, i);
    tg_store_copy(dst, size, t ? (const char *)t : "");
}

/* True for an insert refused because a unique value is taken. */
static bool is_duplicate(tg_store *st)
{
    int e = sqlite3_extended_errcode(db_of(st));
    return e == SQLITE_CONSTRAINT_UNIQUE || e == SQLITE_CONSTRAINT_PRIMARYKEY;
}

/* ---------------------------------------------------------------- open and migrate */

/* Creates the directories above the file `path` (like mkdir -p on its dirname). */
static int make_parents(tg_store *st, const char *path)
{
    char buf[TG_STORE_URL_MAX + 1];
    tg_store_copy(buf, sizeof buf, path);
    for (char *p = buf + 1; *p; p++) {
        if (*p != '/')
            continue;
        *p = '\0';
        if (mkdir(buf, SQLITE_DIR_MODE) != 0 && errno != EEXIST)
            return tg_store_fail(st, TG_STORE_ERROR, "sqlite:%s: cannot create %s: %s", path,
                                 buf, strerror(errno));
        *p = '/';
    }
    return TG_STORE_OK;
}

static int exec(tg_store *st, const char *sql)
{
    return sqlite3_exec(db_of(st), sql, NULL, NULL, NULL) == SQLITE_OK ? TG_STORE_OK
                                                                        : db_fail(st);
}

/* Runs `sql`, which yields one integer, into *out. */
static int query_int(tg_store *st, const char *sql, int *out)
{
    sqlite3_stmt *s;
    if (sqlite3_prepare_v2(db_of(st), sql, -1, &s, NULL) != SQLITE_OK)
        return db_fail(st);
    int rc = sqlite3_step(s) == SQLITE_ROW ? TG_STORE_OK : db_fail(st);
    if (rc == TG_STORE_OK)
        *out = sqlite3_column_int(s, 0);
    sqlite3_finalize(s);
    return rc;
}

/* Reads the schema version (0 for a new database) into *version. */
static int read_version(tg_store *st, int *version)
{
    int exists = 0;
    int rc = query_int(st, "SELECT count(*) FROM sqlite_master WHERE type = 'table'"
                           " AND name = 'schema_version'", &exists);
    *version = 0;
    if (rc != TG_STORE_OK || !exists)
        return rc;
    return query_int(st, "SELECT coalesce(max(version), 0) FROM schema_version", version);
}

/* Applies migrations from+1 .. SCHEMA_VERSION inside the caller's transaction. */
static int apply_migrations(tg_store *st, int from)
{
    char sql[128];
    for (int v = from + 1; v <= SCHEMA_VERSION; v++) {
        int rc = exec(st, migrations[v - 1]);
        if (rc != TG_STORE_OK)
            return rc;
        snprintf(sql, sizeof sql,
                 "INSERT INTO schema_version (version, applied_at) VALUES (%d,"
                 " strftime('%%Y-%%m-%%dT%%H:%%M:%%SZ', 'now'))",
                 v);
        if ((rc = exec(st, sql)) != TG_STORE_OK)
            return rc;
    }
    snprintf(sql, sizeof sql, "PRAGMA user_version = %d", SCHEMA_VERSION);
    return exec(st, sql);
}

static int too_new(tg_store *st, int version)
{
    return tg_store_fail(st, TG_STORE_ERROR,
                         "the store's schema version %d is newer than this tollgate "
                         "understands (%d): upgrade tollgate",
                         version, SCHEMA_VERSION);
}

/* Takes the write lock and applies what is still pending once it holds it. */
static int migrate_locked(tg_store *st)
{
    int version = 0;
    int rc = exec(st, "BEGIN IMMEDIATE");
    if (rc != TG_STORE_OK)
        return rc;
    rc = exec(st, "CREATE TABLE IF NOT EXISTS schema_version ("
                  " version INTEGER PRIMARY KEY, applied_at TEXT NOT NULL)");
    if (rc == TG_STORE_OK)
        rc = read_version(st, &version);
    if (rc == TG_STORE_OK && version > SCHEMA_VERSION)
        rc = too_new(st, version);
    if (rc == TG_STORE_OK)
        rc = apply_migrations(st, version);
    if (rc == TG_STORE_OK)
        rc = exec(st, "COMMIT");
    if (rc != TG_STORE_OK)
        sqlite3_exec(db_of(st), "ROLLBACK", NULL, NULL, NULL);
    return rc;
}

static int migrate(tg_store *st)
{
    int version = 0;
    int rc = read_version(st, &version);
    if (rc != TG_STORE_OK)
        return rc;
    if (version > SCHEMA_VERSION)
        return too_new(st, version);
    if (version < SCHEMA_VERSION && (rc = migrate_locked(st)) != TG_STORE_OK)
        return rc;
    st->schema_version = SCHEMA_VERSION;
    return TG_STORE_OK;
}

/* Switches to WAL mode (kept in the file, so a no-op after the first time).  Switching a
 * new file needs an exclusive lock, and when two connections try it at once SQLite
 * answers SQLITE_BUSY at once instead of calling the busy handler (waiting could
 * deadlock): so retry here, for at most the busy timeout. */
static int set_wal(tg_store *st, const char *pragma)
{
    for (int waited = 0;; waited += WAL_RETRY_MS) {
        int rc = sqlite3_exec(db_of(st), pragma, NULL, NULL, NULL);
        if (rc == SQLITE_OK)
            return TG_STORE_OK;
        if ((rc & 0xff) != SQLITE_BUSY || waited >= TG_STORE_BUSY_TIMEOUT_MS)
            return db_fail(st);
        sqlite3_sleep(WAL_RETRY_MS);
    }
}

static int configure(tg_store *st)
{
    sqlite3_busy_timeout(db_of(st), TG_STORE_BUSY_TIMEOUT_MS);
    int rc = set_wal(st, "PRAGMA journal_mode = WAL");
    if (rc == TG_STORE_OK)
        rc = exec(st, "PRAGMA synchronous = NORMAL");
    if (rc == TG_STORE_OK)
        rc = exec(st, "PRAGMA foreign_keys = ON");
    return rc;
}

static void sqlite_close(tg_store *st)
{
    sqlite_impl *im = st->impl;
    if (!im)
        return;
    for (int i = 0; i < STMT_COUNT; i++)
        sqlite3_finalize(im->stmt[i]);
    sqlite3_close(im->db);
    tg_slots_close(im->slots);
    free(im->resv_path);
    free(im->slots_path);
    free(im);
    st->impl = NULL;
}

/* Once, before SQLite initializes: no memory statistics (they take a global mutex on
 * every allocation SQLite makes).  Too late (SQLite already in use): changes nothing. */
static void sqlite_setup(void)
{
    sqlite3_config(SQLITE_CONFIG_MEMSTATUS, 0);
}

static int sqlite_open(tg_store *st, const char *path)
{
    static pthread_once_t once = PTHREAD_ONCE_INIT;
    pthread_once(&once, sqlite_setup);
    int rc = make_parents(st, path);
    if (rc != TG_STORE_OK)
        return rc;
    sqlite_impl *im = calloc(1, sizeof *im);
    if (!im)
        return tg_store_fail(st, TG_STORE_ERROR, "out of memory");
    st->impl = im;
    if (path[0] && strcmp(path, ":memory:") != 0) {
        size_t len = strlen(path) + sizeof RESV_FILE_SUFFIX;
        size_t slen = strlen(path) + sizeof SLOTS_FILE_SUFFIX;
        im->resv_path = malloc(len);
        im->slots_path = malloc(slen);
        if (!im->resv_path || !im->slots_path) {
            sqlite_close(st);
            return tg_store_fail(st, TG_STORE_ERROR, "out of memory");
        }
        snprintf(im->resv_path, len, "%s" RESV_FILE_SUFFIX, path);
        snprintf(im->slots_path, slen, "%s" SLOTS_FILE_SUFFIX, path);
    }
    /* NOMUTEX: a handle is used by one thread at a time (store.h), so SQLite's own lock
     * per call on the connection is pure cost */
    int flags = SQLITE_OPEN_READWRITE | SQLITE_OPEN_CREATE | SQLITE_OPEN_NOMUTEX;
    /* the WAL's writes of a commit in one system call (sqlite_walbuf.h); the default VFS
     * if the shim could not register */
    const char *vfs = tg_walbuf_register() == SQLITE_OK ? TG_WALBUF_VFS : NULL;
    if (sqlite3_open_v2(path, &im->db, flags, vfs) != SQLITE_OK) {
        rc = tg_store_fail(st, TG_STORE_ERROR, "sqlite:%s: %s", path,
                           im->db ? sqlite3_errmsg(im->db) : "out of memory");
        sqlite_close(st);
        return rc;
    }
    sqlite3_extended_result_codes(im->db, 1);
    rc = configure(st);
    if (rc == TG_STORE_OK)
        rc = migrate(st);
    if (rc != TG_STORE_OK) { /* name the file: "sqlite:PATH: what went wrong" */
        char msg[TG_STORE_ERR_SIZE];
        size_t skip = strncmp(st->err, DB_ERR_PREFIX, strlen(DB_ERR_PREFIX)) == 0
                          ? strlen(DB_ERR_PREFIX)
                          : 0;
        tg_store_copy(msg, sizeof msg, st->err + skip);
        tg_store_fail(st, rc, "sqlite:%s: %s", path, msg);
        sqlite_close(st);
    }
    return rc;
}

/* ---------------------------------------------------------------- teams */

/* Reads a TEAM_COLS row; TG_STORE_ERROR when its period is not one we know. */
static int read_team(sqlite3_stmt *s, tg_team *t)
{
    const char *period = (const char *)sqlite3_column_text(s, 4);
    if (tg_store_period_parse(period, &t->period) != 0)
        return TG_STORE_ERROR;
    t->id = sqlite3_column_int64(s, 0);
    column_copy(s, 1, t->name, sizeof t->name);
    t->lim.budget_nusd = column_limit(s, 2);
    t->lim.budget_tokens = column_limit(s, 3);
    column_copy(s, 5, t->created_at, sizeof t->created_at);
    t->lim.budget_requests = column_limit(s, 6);
    t->lim.rpm = column_limit(s, 7);
    t->lim.tpm = column_limit(s, 8);
    return TG_STORE_OK;
}

static int sqlite_team_insert(tg_store *st, tg_team *team)
{
    sqlite3_stmt *s = stmt_get(st, S_TEAM_INSERT);
    if (!s)
        return TG_STORE_ERROR;
    sqlite3_bind_text(s, 1, team->name, -1, SQLITE_TRANSIENT);
    bind_limit(s, 2, team->lim.budget_nusd);
    bind_limit(s, 3, team->lim.budget_tokens);
    sqlite3_bind_text(s, 4, tg_store_period_name(team->period), -1, SQLITE_STATIC);
    sqlite3_bind_text(s, 5, team->created_at, -1, SQLITE_TRANSIENT);
    bind_limit(s, 6, team->lim.budget_requests);
    bind_limit(s, 7, team->lim.rpm);
    bind_limit(s, 8, team->lim.tpm);
    if (sqlite3_step(s) == SQLITE_DONE) {
        team->id = sqlite3_last_insert_rowid(db_of(st));
        return stmt_done(st, s, TG_STORE_OK);
    }
    return stmt_done(st, s, is_duplicate(st) ? TG_STORE_EXISTS : TG_STORE_ERROR);
}

static int sqlite_team_get(tg_store *st, const char *name, tg_team *out)
{
    sqlite3_stmt *s = stmt_get(st, S_TEAM_GET);
    if (!s)
        return TG_STORE_ERROR;
    sqlite3_bind_text(s, 1, name, -1, SQLITE_TRANSIENT);
    int step = sqlite3_step(s);
    if (step == SQLITE_DONE)
        return stmt_done(st, s, TG_STORE_NOT_FOUND);
    if (step != SQLITE_ROW)
        return stmt_done(st, s, TG_STORE_ERROR);
    if (read_team(s, out) != TG_STORE_OK) {
        stmt_done(st, s, TG_STORE_OK);
        return tg_store_fail(st, TG_STORE_ERROR, "sqlite: team '%s' has a bad period", name);
    }
    return stmt_done(st, s, TG_STORE_OK);
}

/* Grows the array *arr (of *cap elements of `size` bytes) when it is full. */
static int grow(tg_store *st, void **arr, size_t *cap, size_t n, size_t size)
{
    if (n < *cap)
        return TG_STORE_OK;
    if (n >= TG_STORE_LIST_MAX)
        return tg_store_fail(st, TG_STORE_ERROR, "more than %d rows to list",
                             TG_STORE_LIST_MAX);
    size_t ncap = *cap ? *cap * 2 : LIST_INITIAL;
    void *p = realloc(*arr, ncap * size);
    if (!p)
        return tg_store_fail(st, TG_STORE_ERROR, "out of memory");
    *arr = p;
    *cap = ncap;
    return TG_STORE_OK;
}

/* Ends a list query that stopped at `step` with status `rc`: resets `s` (may be NULL) and
 * frees `arr` unless the list is complete.  Returns the final status. */
static int list_end(tg_store *st, sqlite3_stmt *s, int rc, int step, void *arr)
{
    if (rc == TG_STORE_OK && step != SQLITE_DONE)
        rc = stmt_done(st, s, TG_STORE_ERROR);
    else if (s)
        stmt_done(st, s, TG_STORE_OK);
    if (rc != TG_STORE_OK)
        free(arr);
    return rc;
}

static int sqlite_team_list(tg_store *st, tg_team **out, size_t *n)
{
    sqlite3_stmt *s = stmt_get(st, S_TEAM_LIST);
    tg_team *arr = NULL;
    size_t cap = 0, len = 0;
    int rc = s ? TG_STORE_OK : TG_STORE_ERROR, step = SQLITE_DONE;
    while (rc == TG_STORE_OK && (step = sqlite3_step(s)) == SQLITE_ROW) {
        rc = grow(st, (void **)&arr, &cap, len, sizeof *arr);
        if (rc == TG_STORE_OK && read_team(s, &arr[len++]) != TG_STORE_OK)
            rc = tg_store_fail(st, TG_STORE_ERROR, "sqlite: a team has a bad period");
    }
    rc = list_end(st, s, rc, step, arr);
    if (rc == TG_STORE_OK)
        *out = arr, *n = len;
    return rc;
}

static int sqlite_team_update(tg_store *st, const char *name, const tg_team_update *u)
{
    sqlite3_stmt *s = stmt_get(st, S_TEAM_UPDATE);
    if (!s)
        return TG_STORE_ERROR;
    sqlite3_bind_int(s, 1, u->set_budget);
    bind_limit(s, 2, u->lim.budget_nusd);
    sqlite3_bind_int(s, 3, u->set_tokens);
    bind_limit(s, 4, u->lim.budget_tokens);
    sqlite3_bind_int(s, 5, u->set_period);
    sqlite3_bind_text(s, 6, tg_store_period_name(u->period), -1, SQLITE_STATIC);
    sqlite3_bind_text(s, 7, name, -1, SQLITE_TRANSIENT);
    sqlite3_bind_int(s, 8, u->set_requests);
    bind_limit(s, 9, u->lim.budget_requests);
    sqlite3_bind_int(s, 10, u->set_rpm);
    bind_limit(s, 11, u->lim.rpm);
    sqlite3_bind_int(s, 12, u->set_tpm);
    bind_limit(s, 13, u->lim.tpm);
    if (sqlite3_step(s) != SQLITE_DONE)
        return stmt_done(st, s, TG_STORE_ERROR);
    int changed = sqlite3_changes(db_of(st));
    return stmt_done(st, s, changed ? TG_STORE_OK : TG_STORE_NOT_FOUND);
}

/* ---------------------------------------------------------------- keys */

static int sqlite_key_update(tg_store *st, const char *id, const tg_team_update *u)
{
    sqlite3_stmt *s = stmt_get(st, S_KEY_UPDATE);
    if (!s)
        return TG_STORE_ERROR;
    sqlite3_bind_text(s, 1, id, -1, SQLITE_TRANSIENT);
    const bool set[5] = {u->set_budget, u->set_tokens, u->set_requests, u->set_rpm,
                         u->set_tpm};
    const int64_t val[5] = {u->lim.budget_nusd, u->lim.budget_tokens,
                            u->lim.budget_requests, u->lim.rpm, u->lim.tpm};
    for (int i = 0; i < 5; i++) {
        sqlite3_bind_int(s, 2 + 2 * i, set[i]);
        bind_limit(s, 3 + 2 * i, val[i]);
    }
    if (sqlite3_step(s) != SQLITE_DONE)
        return stmt_done(st, s, TG_STORE_ERROR);
    int changed = sqlite3_changes(db_of(st));
    return stmt_done(st, s, changed ? TG_STORE_OK : TG_STORE_NOT_FOUND);
}

static void read_limits(sqlite3_stmt *s, int first, tg_limits *l)
{
    l->budget_nusd = column_limit(s, first);
    l->budget_tokens = column_limit(s, first + 1);
    l->budget_requests = column_limit(s, first + 2);
    l->rpm = column_limit(s, first + 3);
    l->tpm = column_limit(s, first + 4);
}

/* Reads a KEY_COLS row (the team's period was checked when the team was written: a bad
 * one reads as the default). */
static void read_key(sqlite3_stmt *s, tg_key *k)
{
    column_copy(s, 0, k->id, sizeof k->id);
    k->team_id = sqlite3_column_int64(s, 1);
    column_copy(s, 2, k->team, sizeof k->team);
    column_copy(s, 3, k->name, sizeof k->name);
    column_copy(s, 4, k->prefix, sizeof k->prefix);
    column_copy(s, 5, k->created_at, sizeof k->created_at);
    column_copy(s, 6, k->revoked_at, sizeof k->revoked_at);
    read_limits(s, 7, &k->lim);
    read_limits(s, 12, &k->team_lim);
    if (tg_store_period_parse((const char *)sqlite3_column_text(s, 17), &k->period) != 0)
        k->period = TG_PERIOD_DEFAULT;
    column_copy(s, 18, k->tags, sizeof k->tags);
}

static int sqlite_key_insert(tg_store *st, const tg_key *k, const uint8_t *hash)
{
    sqlite3_stmt *s = stmt_get(st, S_KEY_INSERT);
    if (!s)
        return TG_STORE_ERROR;
    sqlite3_bind_text(s, 1, k->id, -1, SQLITE_TRANSIENT);
    sqlite3_bind_int64(s, 2, k->team_id);
    sqlite3_bind_text(s, 3, k->name, -1, SQLITE_TRANSIENT);
    sqlite3_bind_blob(s, 4, hash, TG_KEY_HASH_LEN, SQLITE_TRANSIENT);
    sqlite3_bind_text(s, 5, k->prefix, -1, SQLITE_TRANSIENT);
    bind_limit(s, 6, k->lim.budget_nusd);
    sqlite3_bind_text(s, 7, k->created_at, -1, SQLITE_TRANSIENT);
    bind_limit(s, 8, k->lim.budget_tokens);
    bind_limit(s, 9, k->lim.budget_requests);
    bind_limit(s, 10, k->lim.rpm);
    bind_limit(s, 11, k->lim.tpm);
    sqlite3_bind_text(s, 12, k->tags, -1, SQLITE_TRANSIENT);
    if (sqlite3_step(s) == SQLITE_DONE)
        return stmt_done(st, s, TG_STORE_OK);
    return stmt_done(st, s, is_duplicate(st) ? TG_STORE_EXISTS : TG_STORE_ERROR);
}

/* Runs the one-row key query `s` (already bound); the stored hash into `hash` if not NULL. */
static int key_row(tg_store *st, sqlite3_stmt *s, tg_key *out, uint8_t *hash)
{
    int step = sqlite3_step(s);
    if (step == SQLITE_DONE)
        return stmt_done(st, s, TG_STORE_NOT_FOUND);
    if (step != SQLITE_ROW)
        return stmt_done(st, s, TG_STORE_ERROR);
    read_key(s, out);
    if (hash) {
        const void *h = sqlite3_column_blob(s, KEY_NCOLS);
        if (!h || sqlite3_column_bytes(s, KEY_NCOLS) != TG_KEY_HASH_LEN)
            return stmt_done(st, s, TG_STORE_NOT_FOUND);
        memcpy(hash, h, TG_KEY_HASH_LEN);
    }
    return stmt_done(st, s, TG_STORE_OK);
}

static int sqlite_key_get(tg_store *st, const char *id, tg_key *out)
{
    sqlite3_stmt *s = stmt_get(st, S_KEY_GET);
    if (!s)
        return TG_STORE_ERROR;
    sqlite3_bind_text(s, 1, id, -1, SQLITE_TRANSIENT);
    return key_row(st, s, out, NULL);
}

static int sqlite_key_by_hash(tg_store *st, const uint8_t *hash, tg_key *out, uint8_t *stored)
{
    sqlite3_stmt *s = stmt_get(st, S_KEY_BY_HASH);
    if (!s)
        return TG_STORE_ERROR;
    sqlite3_bind_blob(s, 1, hash, TG_KEY_HASH_LEN, SQLITE_TRANSIENT);
    return key_row(st, s, out, stored);
}

static int sqlite_key_list(tg_store *st, int64_t team_id, tg_key **out, size_t *n)
{
    sqlite3_stmt *s = stmt_get(st, S_KEY_LIST);
    tg_key *arr = NULL;
    size_t cap = 0, len = 0;
    int rc = s ? TG_STORE_OK : TG_STORE_ERROR, step = SQLITE_DONE;
    if (s)
        sqlite3_bind_int64(s, 1, team_id);
    while (rc == TG_STORE_OK && (step = sqlite3_step(s)) == SQLITE_ROW) {
        rc = grow(st, (void **)&arr, &cap, len, sizeof *arr);
        if (rc == TG_STORE_OK)
            read_key(s, &arr[len++]);
    }
    rc = list_end(st, s, rc, step, arr);
    if (rc == TG_STORE_OK)
        *out = arr, *n = len;
    return rc;
}

static int sqlite_key_revoke(tg_store *st, const char *id, const char *when)
{
    sqlite3_stmt *s = stmt_get(st, S_KEY_REVOKE);
    if (!s)
        return TG_STORE_ERROR;
    sqlite3_bind_text(s, 1, id, -1, SQLITE_TRANSIENT);
    sqlite3_bind_text(s, 2, when, -1, SQLITE_TRANSIENT);
    if (sqlite3_step(s) != SQLITE_DONE)
        return stmt_done(st, s, TG_STORE_ERROR);
    int changed = sqlite3_changes(db_of(st));
    stmt_done(st, s, TG_STORE_OK);
    if (changed)
        return TG_STORE_OK;
    if (!(s = stmt_get(st, S_KEY_REVOKED)))
        return TG_STORE_ERROR;
    sqlite3_bind_text(s, 1, id, -1, SQLITE_TRANSIENT);
    int step = sqlite3_step(s);
    if (step == SQLITE_DONE)
        return stmt_done(st, s, TG_STORE_NOT_FOUND);
    if (step != SQLITE_ROW)
        return stmt_done(st, s, TG_STORE_ERROR);
    return stmt_done(st, s, TG_STORE_REVOKED);
}

static const char *const state_names[] = {"recorded", "reserved", "settled", "released",
                                           "unsettled"};
#define STATE_COUNT ((int)(sizeof state_names / sizeof *state_names))

static int bind_record(sqlite3_stmt *s, const tg_record *r)
{
    const char *text[] = {r->team, r->key_id, r->provider, r->requested_model, r->model,
                          r->endpoint};
    int64_t nums[] = {r->est_input_tokens, r->input_tokens, r->cached_input_tokens,
                      r->cache_write_tokens, r->output_tokens, r->reasoning_tokens,
                      r->usage_estimated, r->status, r->upstream_status, r->latency_us};
    const char *ledger_text[] = {r->rule, r->policy_version, r->price_version};
    int64_t costs[] = {r->reserved_nusd,   r->reserved_tokens,  r->cost_nusd,
                       r->cost_input_nusd, r->cost_cached_nusd, r->cost_cache_write_nusd,
                       r->cost_output_nusd};
    int i = 1;
    sqlite3_bind_text(s, i++, r->id, -1, SQLITE_STATIC);
    sqlite3_bind_int(s, i++, r->attempt > 0 ? r->attempt : 1);
    sqlite3_bind_int64(s, i++, r->ts_us);
    for (size_t k = 0; k < sizeof text / sizeof *text; k++)
        sqlite3_bind_text(s, i++, text[k], -1, SQLITE_STATIC);
    for (size_t k = 0; k < sizeof nums / sizeof *nums; k++)
        sqlite3_bind_int64(s, i++, nums[k]);
    if (r->ttfb_us >= 0)
        sqlite3_bind_int64(s, i++, r->ttfb_us);
    else
        sqlite3_bind_null(s, i++);
    sqlite3_bind_int(s, i++, r->streamed);
    sqlite3_bind_int(s, i++, r->client_aborted);
    int st = (unsigned)r->state < STATE_COUNT ? (int)r->state : 0;
    sqlite3_bind_text(s, i++, state_names[st], -1, SQLITE_STATIC);
    sqlite3_bind_int(s, i++, r->reconcile);
    sqlite3_bind_int(s, i++, r->overshoot);
    for (size_t k = 0; k < sizeof ledger_text / sizeof *ledger_text; k++)
        sqlite3_bind_text(s, i++, ledger_text[k], -1, SQLITE_STATIC);
    for (size_t k = 0; k < sizeof costs / sizeof *costs; k++)
        sqlite3_bind_int64(s, i++, costs[k]);
    assert(i - 1 == REC_NCOLS);
    return SQLITE_OK;
}

/* Reads a REC_COLS row into *r. */
static void read_record(sqlite3_stmt *s, tg_record *r)
{
    memset(r, 0, sizeof *r);
    int i = 0;
    column_copy(s, i++, r->id, sizeof r->id);
    r->attempt = sqlite3_column_int(s, i++);
    r->ts_us = sqlite3_column_int64(s, i++);
    column_copy(s, i++, r->team, sizeof r->team);
    column_copy(s, i++, r->key_id, sizeof r->key_id);
    column_copy(s, i++, r->provider, sizeof r->provider);
    column_copy(s, i++, r->requested_model, sizeof r->requested_model);
    column_copy(s, i++, r->model, sizeof r->model);
    column_copy(s, i++, r->endpoint, sizeof r->endpoint);
    int64_t *nums[] = {&r->est_input_tokens, &r->input_tokens, &r->cached_input_tokens,
                       &r->cache_write_tokens, &r->output_tokens, &r->reasoning_tokens};
    for (size_t k = 0; k < sizeof nums / sizeof *nums; k++)
        *nums[k] = sqlite3_column_int64(s, i++);
    r->usage_estimated = sqlite3_column_int(s, i++);
    r->status = sqlite3_column_int(s, i++);
    r->upstream_status = sqlite3_column_int(s, i++);
    r->latency_us = sqlite3_column_int64(s, i++);
    r->ttfb_us = sqlite3_column_type(s, i) == SQLITE_NULL ? -1 : sqlite3_column_int64(s, i);
    i++;
    r->streamed = sqlite3_column_int(s, i++);
    r->client_aborted = sqlite3_column_int(s, i++);
    const char *state = (const char *)sqlite3_column_text(s, i++);
    for (int k = 0; state && k < STATE_COUNT; k++)
        if (strcmp(state, state_names[k]) == 0)
            r->state = (tg_record_state)k;
    r->reconcile = sqlite3_column_int(s, i++);
    r->overshoot = sqlite3_column_int(s, i++);
    column_copy(s, i++, r->rule, sizeof r->rule);
    column_copy(s, i++, r->policy_version, sizeof r->policy_version);
    column_copy(s, i++, r->price_version, sizeof r->price_version);
    int64_t *costs[] = {&r->reserved_nusd,   &r->reserved_tokens,  &r->cost_nusd,
                        &r->cost_input_nusd, &r->cost_cached_nusd, &r->cost_cache_write_nusd,
                        &r->cost_output_nusd};
    for (size_t k = 0; k < sizeof costs / sizeof *costs; k++)
        *costs[k] = sqlite3_column_int64(s, i++);
    assert(i == REC_NCOLS);
}

/* ------------------------------------------------------------- rollups */

/* The new request rows of one transaction, summed per (day, team, key, model, provider):
 * what the insert triggers dropped by migration 8 added one row at a time.  A group is
 * named by its first row (which outlives the batch: the caller's array); `slot` is an
 * open-addressing index over the groups, twice the rows in size. */
typedef struct {
    const tg_record *first;
    int64_t day;
    uint64_t hash;
    int64_t sum[ROLLUP_NSUMS];
} rollup_group;

typedef struct {
    rollup_group *g;
    size_t n;
    int32_t *slot; /* -1: empty */
    size_t nslot;  /* a power of two */
} rollup_batch;

/* What one new row adds to its groups, in ROLLUP_SUMS order: the same expressions as the
 * update and delete triggers (migrations 5 and 6) apply to NEW and OLD. */
static void rollup_row(const tg_record *r, int64_t v[ROLLUP_NSUMS])
{
    tg_record_state st = (unsigned)r->state < STATE_COUNT ? r->state : TG_RECORD_RECORDED;
    bool reported = !r->usage_estimated && r->input_tokens > 0 &&
                    (st == TG_RECORD_RECORDED || st == TG_RECORD_SETTLED);
    int64_t cost = st == TG_RECORD_RELEASED ? 0
                   : st == TG_RECORD_RESERVED || st == TG_RECORD_UNSETTLED ? r->reserved_nusd
                   : r->cost_nusd;
    int64_t row[ROLLUP_NSUMS] = {
        st != TG_RECORD_RELEASED, 1, r->input_tokens, r->cached_input_tokens,
        r->cache_write_tokens, r->output_tokens, r->reasoning_tokens, r->est_input_tokens,
        reported, reported ? r->input_tokens : 0, reported ? r->est_input_tokens : 0,
        r->usage_estimated, r->overshoot, st == TG_RECORD_UNSETTLED, r->status >= 400, cost,
        r->cost_input_nusd, r->cost_cached_nusd, r->cost_cache_write_nusd,
        r->cost_output_nusd};
    memcpy(v, row, sizeof row);
}

static uint64_t fnv_str(uint64_t h, const char *p)
{
    for (; *p; p++)
        h = (h ^ (unsigned char)*p) * UINT64_C(0x100000001b3);
    return (h ^ 0xff) * UINT64_C(0x100000001b3); /* a separator: "ab"+"c" != "a"+"bc" */
}

static bool same_group(const rollup_group *g, const tg_record *r, int64_t day, uint64_t h)
{
    const tg_record *f = g->first;
    return g->hash == h && g->day == day && !strcmp(f->team, r->team) &&
           !strcmp(f->key_id, r->key_id) && !strcmp(f->model, r->model) &&
           !strcmp(f->provider, r->provider);
}

/* Sets the batch up for at most `rows` groups (none allocated for 0); -1 when out of
 * memory. */
static int rollup_init(rollup_batch *b, size_t rows)
{
    memset(b, 0, sizeof *b);
    if (!rows)
        return 0;
    for (b->nslot = 16; b->nslot < 2 * rows; b->nslot *= 2)
        ;
    b->g = malloc(rows * sizeof *b->g);
    b->slot = malloc(b->nslot * sizeof *b->slot);
    if (!b->g || !b->slot)
        return -1;
    memset(b->slot, 0xff, b->nslot * sizeof *b->slot);
    return 0;
}

static void rollup_free(rollup_batch *b)
{
    free(b->g);
    free(b->slot);
}

/* Adds new row r (from the caller's array, which outlives the batch) to its group. */
static void rollup_add(rollup_batch *b, const tg_record *r)
{
    int64_t day = r->ts_us / INT64_C(86400000000);
    uint64_t h = UINT64_C(0xcbf29ce484222325) ^ (uint64_t)day;
    h = fnv_str(fnv_str(fnv_str(fnv_str(h, r->team), r->key_id), r->model), r->provider);
    size_t i = (size_t)h & (b->nslot - 1);
    while (b->slot[i] >= 0 && !same_group(&b->g[b->slot[i]], r, day, h))
        i = (i + 1) & (b->nslot - 1);
    if (b->slot[i] < 0) {
        b->slot[i] = (int32_t)b->n;
        b->g[b->n++] = (rollup_group){.first = r, .day = day, .hash = h};
    }
    int64_t v[ROLLUP_NSUMS];
    rollup_row(r, v);
    for (int k = 0; k < ROLLUP_NSUMS; k++)
        b->g[b->slot[i]].sum[k] += v[k];
}

/* Adds every group to rollup_daily and rollup_team_daily, in the caller's transaction. */
static int rollup_flush(tg_store *st, const rollup_batch *b)
{
    sqlite3_stmt *day = stmt_get(st, S_ROLLUP_ADD), *team = stmt_get(st, S_ROLLUP_TEAM_ADD);
    if (!day || !team)
        return TG_STORE_ERROR;
    for (size_t i = 0; i < b->n; i++) {
        const rollup_group *g = &b->g[i];
        const tg_record *f = g->first;
        sqlite3_bind_int64(day, 1, g->day);
        sqlite3_bind_text(day, 2, f->team, -1, SQLITE_STATIC);
        sqlite3_bind_text(day, 3, f->key_id, -1, SQLITE_STATIC);
        sqlite3_bind_text(day, 4, f->model, -1, SQLITE_STATIC);
        sqlite3_bind_text(day, 5, f->provider, -1, SQLITE_STATIC);
        sqlite3_bind_int64(team, 1, g->day);
        sqlite3_bind_text(team, 2, f->team, -1, SQLITE_STATIC);
        for (int k = 0; k < ROLLUP_NSUMS; k++) {
            sqlite3_bind_int64(day, 6 + k, g->sum[k]);
            sqlite3_bind_int64(team, 3 + k, g->sum[k]);
        }
        if (step_done(st, day) != TG_STORE_OK || step_done(st, team) != TG_STORE_OK)
            return TG_STORE_ERROR;
    }
    return TG_STORE_OK;
}

/* ------------------------------------------------------------- ledger writes */

_Static_assert(TG_RECORD_PACKED_MAX <= TG_SLOTS_PAYLOAD, "a packed record fits a slot");

/* A reservation into its slot (r->slot, which the caller made room for) of the claimed slot
 * file, packed as one blob (record_codec.h): stores into shared memory, no transaction. */
static int slots_write(tg_store *st, const tg_record *r)
{
    sqlite_impl *im = st->impl;
    uint8_t rec[TG_RECORD_PACKED_MAX];
    size_t len = tg_record_pack(r, rec);
    if (tg_slots_put(im->slots, r->slot, rec, len) != 0)
        return tg_store_fail(st, TG_STORE_ERROR, "reservation slot %lld is outside the %lld "
                             "slots of %s", (long long)r->slot,
                             (long long)tg_slots_top(im->slots), im->slots_path);
    return TG_STORE_OK;
}

/* One row of a batch: a reservation goes to its slot; anything else is the request's row
 * (which ends its reservation, if any: see RESV_IN_FLIGHT).  A new request row joins the
 * batch's rollups; one that already exists is replaced by the upsert, whose update
 * triggers move the rollups from the old values to the new. */
static int record_write(tg_store *st, const tg_record *r, rollup_batch *b)
{
    bool resv = r->state == TG_RECORD_RESERVED;
    if (resv && ((sqlite_impl *)st->impl)->slots)
        return slots_write(st, r);
    sqlite3_stmt *s = stmt_get(st, resv ? S_RESV_INSERT : S_RECORD_NEW);
    if (!s)
        return TG_STORE_ERROR;
    bind_record(s, r);
    if (resv && r->slot > 0)
        sqlite3_bind_int64(s, REC_NCOLS + 1, r->slot);
    else if (resv)
        sqlite3_bind_null(s, REC_NCOLS + 1);
    int step = sqlite3_step(s);
    if (step == SQLITE_DONE && !resv)
        rollup_add(b, r);
    if (resv || step != SQLITE_CONSTRAINT_PRIMARYKEY)
        return stmt_done(st, s, step == SQLITE_DONE ? TG_STORE_OK : TG_STORE_ERROR);
    stmt_done(st, s, TG_STORE_OK); /* (id, attempt) is there: replace it */
    if (!(s = stmt_get(st, S_RECORD_INSERT)))
        return TG_STORE_ERROR;
    bind_record(s, r);
    return step_done(st, s);
}

/* Writes n rows and their rollups inside the caller's transaction. */
static int rows_write(tg_store *st, const tg_record *recs, size_t n)
{
    size_t fresh = 0; /* rows that may be new request rows */
    for (size_t i = 0; i < n; i++)
        fresh += recs[i].state != TG_RECORD_RESERVED;
    rollup_batch b;
    if (rollup_init(&b, fresh) != 0) {
        rollup_free(&b);
        return tg_store_fail(st, TG_STORE_ERROR, "out of memory");
    }
    int rc = TG_STORE_OK;
    for (size_t i = 0; i < n && rc == TG_STORE_OK; i++)
        rc = record_write(st, &recs[i], &b);
    if (rc == TG_STORE_OK && b.n)
        rc = rollup_flush(st, &b);
    rollup_free(&b);
    return rc;
}

/* Runs the prepared statement `which`, which returns no rows. */
static int stmt_run(tg_store *st, int which)
{
    sqlite3_stmt *s = stmt_get(st, which);
    return s ? step_done(st, s) : TG_STORE_ERROR;
}

/* The ledger's hot path: BEGIN and COMMIT prepared once, not parsed per batch.  A batch of
 * reservations on a claiming handle goes to the slot file alone: no transaction. */
static int sqlite_records_insert(tg_store *st, const tg_record *recs, size_t n)
{
    bool resv_only = ((sqlite_impl *)st->impl)->slots != NULL;
    for (size_t i = 0; i < n && resv_only; i++)
        resv_only = recs[i].state == TG_RECORD_RESERVED;
    for (size_t i = 0; i < n && resv_only; i++)
        if (slots_write(st, &recs[i]) != TG_STORE_OK)
            return TG_STORE_ERROR;
    if (resv_only)
        return TG_STORE_OK;
    if (stmt_run(st, S_BEGIN) != TG_STORE_OK)
        return TG_STORE_ERROR;
    if (rows_write(st, recs, n) != TG_STORE_OK || stmt_run(st, S_COMMIT) != TG_STORE_OK) {
        sqlite3_exec(db_of(st), "ROLLBACK", NULL, NULL, NULL); /* keeps the first error */
        return TG_STORE_ERROR;
    }
    return TG_STORE_OK;
}

static int sqlite_records_count(tg_store *st, int64_t *n)
{
    sqlite3_stmt *s = stmt_get(st, S_RECORD_COUNT);
    if (!s)
        return TG_STORE_ERROR;
    if (sqlite3_step(s) != SQLITE_ROW)
        return stmt_done(st, s, TG_STORE_ERROR);
    *n = sqlite3_column_int64(s, 0);
    return stmt_done(st, s, TG_STORE_OK);
}

/* Steps statement `which` with (id, attempt) bound as ?1, ?2 into *s: SQLite's result code
 * (SQLITE_ERROR when it cannot be prepared, *s then NULL). */
static int step_by_id(tg_store *st, int which, const char *id, int attempt, sqlite3_stmt **s)
{
    if (!(*s = stmt_get(st, which)))
        return SQLITE_ERROR;
    sqlite3_bind_text(*s, 1, id, -1, SQLITE_STATIC);
    sqlite3_bind_int(*s, 2, attempt);
    return sqlite3_step(*s);
}

static int record_get_from(tg_store *st, int which, const char *id, int attempt,
                           tg_record *out)
{
    sqlite3_stmt *s;
    int step = step_by_id(st, which, id, attempt, &s);
    if (!s)
        return TG_STORE_ERROR;
    if (step == SQLITE_DONE)
        return stmt_done(st, s, TG_STORE_NOT_FOUND);
    if (step != SQLITE_ROW)
        return stmt_done(st, s, TG_STORE_ERROR);
    read_record(s, out);
    if (which == S_RESV_GET)
        out->slot = sqlite3_column_int64(s, REC_NCOLS);
    return stmt_done(st, s, TG_STORE_OK);
}

/* Whether requests has the row (id, attempt): *yes. */
static int record_exists(tg_store *st, const char *id, int attempt, bool *yes)
{
    sqlite3_stmt *s;
    int step = step_by_id(st, S_RECORD_EXISTS, id, attempt, &s);
    if (!s)
        return TG_STORE_ERROR;
    *yes = step == SQLITE_ROW;
    return stmt_done(st, s, step == SQLITE_ROW || step == SQLITE_DONE ? TG_STORE_OK
                                                                       : TG_STORE_ERROR);
}

/* Decodes the inflight row at s (slot, rec) into *r; a blob this build cannot read is an
 * error naming the file and the slot (never guessed at). */
static int inflight_read(tg_store *st, sqlite3_stmt *s, tg_record *r)
{
    const void *rec = sqlite3_column_blob(s, 1);
    int len = sqlite3_column_bytes(s, 1);
    int64_t slot = sqlite3_column_int64(s, 0);
    if (tg_record_unpack(rec, rec ? (size_t)len : 0, r) != 0)
        return tg_store_fail(st, TG_STORE_ERROR, "the reservations file %s: slot %lld holds "
                             "%d bytes that are not a version-%d reservation record",
                             ((sqlite_impl *)st->impl)->resv_path, (long long)slot, len,
                             TG_RECORD_CODEC_VERSION);
    r->slot = slot;
    return TG_STORE_OK;
}

/* Calls fn(st, r, arg) for each reservation in flight that s (a scan of the reservations
 * file's inflight table: slot, rec) yields (requests has no row of its (id, attempt)),
 * until fn returns other than TG_STORE_OK (which it returns); resets s.  The table holds
 * one row per slot: as many as the peak of requests in flight. */
static int inflight_each(tg_store *st, sqlite3_stmt *s,
                         int (*fn)(tg_store *, const tg_record *, void *), void *arg)
{
    if (!s)
        return TG_STORE_ERROR;
    int step = SQLITE_DONE, rc = TG_STORE_OK;
    while (rc == TG_STORE_OK && (step = sqlite3_step(s)) == SQLITE_ROW) {
        tg_record r;
        bool done = false;
        rc = inflight_read(st, s, &r);
        if (rc == TG_STORE_OK)
            rc = record_exists(st, r.id, r.attempt, &done);
        if (rc == TG_STORE_OK && !done)
            rc = fn(st, &r, arg);
    }
    if (rc == TG_STORE_OK && step != SQLITE_DONE)
        rc = db_fail(st);
    sqlite3_reset(s);
    return rc;
}

/* tg_slots_each's callback for slots_in_flight: decodes the slot, skips it when requests
 * has its row (settled before the slot was reused), else calls the caller's fn. */
typedef struct {
    tg_store *st;
    const char *path;
    int (*fn)(tg_store *, const tg_record *, void *);
    void *arg;
} slots_walk;

static int slots_visit(int64_t slot, const uint8_t *data, size_t len, void *arg)
{
    slots_walk *k = arg;
    tg_record r;
    if (tg_record_unpack(data, len, &r) != 0)
        return tg_store_fail(k->st, TG_STORE_ERROR, "the reservations file %s: slot %lld "
                             "holds %zu bytes that are not a version-%d reservation record",
                             k->path, (long long)slot, len, TG_RECORD_CODEC_VERSION);
    r.slot = slot;
    bool done = false;
    int rc = record_exists(k->st, r.id, r.attempt, &done);
    if (rc == TG_STORE_OK && !done)
        rc = k->fn(k->st, &r, k->arg);
    return rc;
}

/* Calls fn(st, r, arg) for each reservation in flight in the slot file `sl` (at `path`),
 * until fn returns other than TG_STORE_OK (which it returns); a slot whose checksum holds
 * but whose record this build cannot read is an error naming file and slot. */
static int slots_in_flight(tg_store *st, tg_slots *sl, const char *path,
                           int (*fn)(tg_store *, const tg_record *, void *), void *arg)
{
    slots_walk k = {st, path, fn, arg};
    return tg_slots_each(sl, slots_visit, &k);
}

typedef struct {
    const char *id;
    int attempt;
    tg_record *out;
} inflight_find;
#define INFLIGHT_FOUND (-1) /* inflight_match's "found it": stops the walk */

static int inflight_match(tg_store *st, const tg_record *r, void *arg)
{
    (void)st;
    inflight_find *f = arg;
    if (r->attempt != f->attempt || strcmp(r->id, f->id))
        return TG_STORE_OK;
    *f->out = *r;
    return INFLIGHT_FOUND;
}

/* The request's row, or else its reservation (a request in flight). */
static int sqlite_record_get(tg_store *st, const char *id, int attempt, tg_record *out)
{
    sqlite_impl *im = st->impl;
    int rc = record_get_from(st, S_RECORD_GET, id, attempt, out);
    if (rc == TG_STORE_NOT_FOUND)
        rc = record_get_from(st, S_RESV_GET, id, attempt, out);
    if (rc != TG_STORE_NOT_FOUND || !im->slots)
        return rc;
    inflight_find f = {id, attempt, out};
    rc = slots_in_flight(st, im->slots, im->slots_path, inflight_match, &f);
    return rc == INFLIGHT_FOUND ? TG_STORE_OK
           : rc == TG_STORE_OK            ? TG_STORE_NOT_FOUND
                                          : rc;
}

/* Appends the reservations in flight in `table` to the growable array (*out, *n, *cap). */
static int resv_in_flight(tg_store *st, const char *table, tg_record **out, size_t *n,
                          size_t *cap)
{
    char sql[sizeof REC_COLS + 256];
    snprintf(sql, sizeof sql, "SELECT " REC_COLS " FROM %s r WHERE " RESV_IN_FLIGHT, table);
    sqlite3_stmt *s;
    if (sqlite3_prepare_v2(db_of(st), sql, -1, &s, NULL) != SQLITE_OK)
        return db_fail(st);
    int step;
    while ((step = sqlite3_step(s)) == SQLITE_ROW) {
        if (grow(st, (void **)out, cap, *n, sizeof **out) != TG_STORE_OK) {
            sqlite3_finalize(s);
            return TG_STORE_ERROR;
        }
        read_record(s, &(*out)[(*n)++]);
    }
    int rc = step == SQLITE_DONE ? TG_STORE_OK : db_fail(st);
    sqlite3_finalize(s);
    return rc;
}

typedef struct {
    tg_record **out;
    size_t *n, *cap;
} resv_list;

static int resv_list_add(tg_store *st, const tg_record *r, void *arg)
{
    resv_list *l = arg;
    if (grow(st, (void **)l->out, l->cap, *l->n, sizeof **l->out) != TG_STORE_OK)
        return TG_STORE_ERROR;
    (*l->out)[(*l->n)++] = *r;
    return TG_STORE_OK;
}

/* Whether the attached reservations file has table `name`: *yes. */
static int resv_has_table(tg_store *st, const char *name, bool *yes)
{
    sqlite3_stmt *s;
    if (sqlite3_prepare_v2(db_of(st), "SELECT 1 FROM resv.sqlite_master WHERE type = 'table'"
                           " AND name = ?1", -1, &s, NULL) != SQLITE_OK)
        return db_fail(st);
    sqlite3_bind_text(s, 1, name, -1, SQLITE_STATIC);
    int step = sqlite3_step(s);
    *yes = step == SQLITE_ROW;
    int rc = step == SQLITE_ROW || step == SQLITE_DONE ? TG_STORE_OK : db_fail(st);
    sqlite3_finalize(s);
    return rc;
}

/* Appends the reservations in flight in the attached reservations file to (*out, *n, *cap)
 * and empties it: the inflight table's blobs, and the rows of the wide reservations table
 * that builds before the blob kept there (still read, so an upgrade loses none). */
static int resv_file_take(tg_store *st, tg_record **out, size_t *n, size_t *cap)
{
    bool wide = false, blobs = false;
    int rc = resv_has_table(st, "reservations", &wide);
    if (rc == TG_STORE_OK)
        rc = resv_has_table(st, "inflight", &blobs);
    if (rc == TG_STORE_OK && wide)
        rc = resv_in_flight(st, "resv.reservations", out, n, cap);
    if (rc == TG_STORE_OK && wide)
        rc = exec(st, "DELETE FROM resv.reservations");
    if (rc != TG_STORE_OK || !blobs)
        return rc;
    sqlite3_stmt *s;
    if (sqlite3_prepare_v2(db_of(st), "SELECT slot, rec FROM resv.inflight", -1, &s,
                           NULL) != SQLITE_OK)
        return db_fail(st);
    resv_list l = {out, n, cap};
    rc = inflight_each(st, s, resv_list_add, &l);
    sqlite3_finalize(s);
    return rc == TG_STORE_OK ? exec(st, "DELETE FROM resv.inflight") : rc;
}

static int attach_resv(tg_store *st)
{
    sqlite3_stmt *s;
    if (sqlite3_prepare_v2(db_of(st), "ATTACH DATABASE ?1 AS resv", -1, &s, NULL) != SQLITE_OK)
        return db_fail(st);
    sqlite3_bind_text(s, 1, ((sqlite_impl *)st->impl)->resv_path, -1, SQLITE_STATIC);
    int rc = sqlite3_step(s) == SQLITE_DONE ? TG_STORE_OK : db_fail(st);
    sqlite3_finalize(s);
    return rc;
}

static void detach_resv(tg_store *st)
{
    sqlite3_exec(db_of(st), "DETACH DATABASE resv", NULL, NULL, NULL);
}

/* The error for a reservations file that another process holds (SQLITE_BUSY), or the
 * database's own error.  Returns TG_STORE_ERROR. */
static int resv_fail(tg_store *st)
{
    if ((sqlite3_errcode(db_of(st)) & 0xff) != SQLITE_BUSY)
        return db_fail(st);
    return tg_store_fail(st, TG_STORE_ERROR, "the ledger's reservations file %s is held by "
                         "another running tollgate serve (one serve per SQLite ledger; "
                         "replicas share budgets through PostgreSQL)",
                         ((sqlite_impl *)st->impl)->resv_path);
}

/* The slot file for recovery: the claimed one, or else opened (and locked) here when it
 * exists (*opened set: close it after).  *out NULL: there is none. */
static int slots_for_recovery(tg_store *st, tg_slots **out, bool *opened)
{
    sqlite_impl *im = st->impl;
    *out = im->slots, *opened = false;
    if (im->slots || !im->slots_path)
        return TG_STORE_OK;
    char err[TG_STORE_ERR_SIZE];
    int rc = tg_slots_open(im->slots_path, false, out, err, sizeof err);
    if (rc < 0)
        return tg_store_fail(st, TG_STORE_ERROR, "%s", err);
    *opened = rc == 0;
    return TG_STORE_OK;
}

/* Moves the reservations in flight (in the ledger's reservations table, in the slot file a
 * serving process kept, and in an older build's reservations file if there is one) into
 * requests as 'unsettled' (charged at their reservation, flagged for reconciliation) with
 * their rollups, in one transaction, and marks rows an older build left 'reserved' in
 * requests the same way; then empties the files.  A crash before they are emptied leaves
 * their entries, which are then no longer in flight (requests has them): a second recovery
 * moves nothing twice. */
static int sqlite_ledger_recover(tg_store *st, int64_t *n)
{
    *n = 0;
    sqlite_impl *im = st->impl;
    struct stat sb;
    tg_slots *sl;
    bool opened, attached = im->resv_path && stat(im->resv_path, &sb) == 0;
    if (slots_for_recovery(st, &sl, &opened) != TG_STORE_OK)
        return TG_STORE_ERROR;
    int rc = TG_STORE_OK;
    if (attached && attach_resv(st) != TG_STORE_OK)
        rc = resv_fail(st), attached = false;
    if (rc == TG_STORE_OK && exec(st, "BEGIN IMMEDIATE") != TG_STORE_OK)
        rc = resv_fail(st);
    bool began = rc == TG_STORE_OK;
    tg_record *moved = NULL;
    size_t nmoved = 0, cap = 0;
    if (rc == TG_STORE_OK)
        rc = resv_in_flight(st, "main.reservations", &moved, &nmoved, &cap);
    if (rc == TG_STORE_OK && attached)
        rc = resv_file_take(st, &moved, &nmoved, &cap);
    resv_list l = {&moved, &nmoved, &cap};
    if (rc == TG_STORE_OK && sl)
        rc = slots_in_flight(st, sl, im->slots_path, resv_list_add, &l);
    for (size_t i = 0; rc == TG_STORE_OK && i < nmoved; i++) {
        moved[i].state = TG_RECORD_UNSETTLED;
        moved[i].reconcile = true;
    }
    if (rc == TG_STORE_OK)
        rc = rows_write(st, moved, nmoved);
    free(moved);
    if (rc == TG_STORE_OK)
        rc = exec(st, "DELETE FROM main.reservations;"
                      "UPDATE requests SET state = 'unsettled', reconcile = 1"
                      " WHERE state = 'reserved'");
    if (rc == TG_STORE_OK) {
        *n = (int64_t)nmoved + sqlite3_changes(db_of(st));
        rc = exec(st, "COMMIT");
    }
    if (rc != TG_STORE_OK) {
        *n = 0;
        if (began)
            sqlite3_exec(db_of(st), "ROLLBACK", NULL, NULL, NULL);
    }
    char err[TG_STORE_ERR_SIZE];
    if (rc == TG_STORE_OK && sl && tg_slots_clear(sl, err, sizeof err) != 0)
        rc = tg_store_fail(st, TG_STORE_ERROR, "%s", err);
    if (opened)
        tg_slots_close(sl);
    if (attached)
        detach_resv(st);
    return rc;
}

/* The highest slot in use: in the ledger's table and, on a claiming handle, the slot
 * file's. */
static int sqlite_reservation_slots(tg_store *st, int64_t *top)
{
    sqlite_impl *im = st->impl;
    int v = 0;
    int rc = query_int(st, "SELECT coalesce(max(slot), 0) FROM main.reservations", &v);
    int64_t w = im->slots ? tg_slots_highest(im->slots) : 0;
    *top = w > v ? w : v;
    return rc;
}

/* Opens and locks the reservations slot file (PATH-inflight; slot_file.h): from now on a
 * reservation is a store into its mapped slot.  Another process (a second serve on the
 * same ledger, or its recovery) is refused until this handle closes. */
static int sqlite_claim_reservations(tg_store *st)
{
    sqlite_impl *im = st->impl;
    if (im->slots)
        return TG_STORE_OK;
    if (!im->slots_path)
        return tg_store_fail(st, TG_STORE_INVALID,
                             "an in-memory store keeps no reservations file");
    char err[TG_STORE_ERR_SIZE];
    if (tg_slots_open(im->slots_path, true, &im->slots, err, sizeof err) != 0)
        return tg_store_fail(st, TG_STORE_ERROR, "%s", err);
    return TG_STORE_OK;
}

static int sqlite_reservation_room(tg_store *st, int64_t top)
{
    sqlite_impl *im = st->impl;
    char err[TG_STORE_ERR_SIZE];
    if (!im->slots)
        return tg_store_fail(st, TG_STORE_INVALID, "this handle holds no reservations file");
    if (tg_slots_room(im->slots, top, err, sizeof err) != 0)
        return tg_store_fail(st, TG_STORE_ERROR, "%s", err);
    return TG_STORE_OK;
}

static int sqlite_reservation_put(tg_store *st, const tg_record *rec)
{
    if (!((sqlite_impl *)st->impl)->slots)
        return tg_store_fail(st, TG_STORE_INVALID, "this handle holds no reservations file");
    return slots_write(st, rec);
}

static int sqlite_spend_by_day(tg_store *st, int64_t since_us, int32_t offset_s,
                               tg_spend_row **out, size_t *n)
{
    sqlite3_stmt *s = stmt_get(st, S_SPEND_BY_DAY);
    tg_spend_row *arr = NULL;
    size_t cap = 0, len = 0;
    int rc = s ? TG_STORE_OK : TG_STORE_ERROR, step = SQLITE_DONE;
    if (s) {
        sqlite3_bind_int64(s, 1, since_us);
        sqlite3_bind_int64(s, 2, (int64_t)offset_s * 1000000);
    }
    while (rc == TG_STORE_OK && (step = sqlite3_step(s)) == SQLITE_ROW) {
        rc = grow(st, (void **)&arr, &cap, len, sizeof *arr);
        if (rc != TG_STORE_OK)
            break;
        tg_spend_row *r = &arr[len++];
        column_copy(s, 0, r->team, sizeof r->team);
        column_copy(s, 1, r->key_id, sizeof r->key_id);
        r->day = sqlite3_column_int64(s, 2);
        r->charged_nusd = sqlite3_column_int64(s, 3);
        r->charged_tokens = sqlite3_column_int64(s, 4);
        r->requests = sqlite3_column_int64(s, 5);
    }
    rc = list_end(st, s, rc, step, arr);
    if (rc == TG_STORE_OK)
        *out = arr, *n = len;
    return rc;
}

/* ---------------------------------------------------------------- reports */

/* The rollup columns summed by a report, in tg_report_row's order after the groups. */
#define REPORT_SUMS                                                                          \
    "sum(requests), sum(attempts), sum(input_tokens), sum(cached_input_tokens), "            \
    "sum(cache_write_tokens), sum(output_tokens), sum(reasoning_tokens), "                   \
    "sum(est_input_tokens), sum(reported_requests), sum(reported_input_tokens), "            \
    "sum(reported_est_input_tokens), sum(estimated_requests), sum(overshoot_requests), "     \
    "sum(unsettled_requests), sum(error_requests), sum(cost_nusd), sum(cost_input_nusd), "  \
    "sum(cost_cached_nusd), sum(cost_cache_write_nusd), sum(cost_output_nusd)"
#define REPORT_SQL_MAX 2048

static const char *const report_cols[TG_REPORT_FIELD_COUNT] = {
    [TG_REPORT_DAY] = "day",     [TG_REPORT_TEAM] = "team",         [TG_REPORT_KEY] = "key_id",
    [TG_REPORT_MODEL] = "model", [TG_REPORT_PROVIDER] = "provider",
};

/* The report's SQL: only fixed column names from report_cols are spliced in. */
static void report_sql(const tg_report_query *q, char *sql, size_t size)
{
    char groups[128] = "";
    size_t gl = 0;
    /* grouped by day and team at most: the (day, team) rollup has the same sums */
    const char *table = "rollup_team_daily";
    for (int i = 0; i < q->ngroup; i++)
        if (q->group[i] != TG_REPORT_DAY && q->group[i] != TG_REPORT_TEAM)
            table = "rollup_daily";
    for (int i = 0; i < q->ngroup; i++)
        gl += (size_t)snprintf(groups + gl, sizeof groups - gl, "%s%s", i ? ", " : "",
                               report_cols[q->group[i]]);
    if (q->ngroup)
        snprintf(sql, size,
                 "SELECT %s, " REPORT_SUMS " FROM %s WHERE day BETWEEN ?1 AND ?2"
                 " AND (?3 = '' OR team = ?3) GROUP BY %s HAVING sum(attempts) <> 0"
                 " ORDER BY %s",
                 groups, table, groups, groups);
    else
        snprintf(sql, size,
                 "SELECT " REPORT_SUMS " FROM %s WHERE day BETWEEN ?1 AND ?2"
                 " AND (?3 = '' OR team = ?3) HAVING sum(attempts) <> 0", table);
}

static void read_report_row(sqlite3_stmt *s, const tg_report_query *q, tg_report_row *r)
{
    memset(r, 0, sizeof *r);
    int i = 0;
    for (; i < q->ngroup; i++) {
        switch (q->group[i]) {
        case TG_REPORT_DAY: r->day = sqlite3_column_int64(s, i); break;
        case TG_REPORT_TEAM: column_copy(s, i, r->team, sizeof r->team); break;
        case TG_REPORT_KEY: column_copy(s, i, r->key_id, sizeof r->key_id); break;
        case TG_REPORT_MODEL: column_copy(s, i, r->model, sizeof r->model); break;
        default: column_copy(s, i, r->provider, sizeof r->provider); break;
        }
    }
    int64_t *sums[] = {&r->requests, &r->attempts, &r->input_tokens, &r->cached_input_tokens,
                       &r->cache_write_tokens, &r->output_tokens, &r->reasoning_tokens,
                       &r->est_input_tokens, &r->reported_requests, &r->reported_input_tokens,
                       &r->reported_est_input_tokens, &r->estimated_requests,
                       &r->overshoot_requests, &r->unsettled_requests, &r->error_requests,
                       &r->cost_nusd, &r->cost_input_nusd, &r->cost_cached_nusd,
                       &r->cost_cache_write_nusd, &r->cost_output_nusd};
    for (size_t k = 0; k < sizeof sums / sizeof *sums; k++)
        *sums[k] = sqlite3_column_int64(s, i++);
}

static int sqlite_report(tg_store *st, const tg_report_query *q, tg_report_row **out,
                         size_t *n)
{
    char sql[REPORT_SQL_MAX];
    sqlite3_stmt *s = NULL;
    report_sql(q, sql, sizeof sql);
    if (sqlite3_prepare_v2(db_of(st), sql, -1, &s, NULL) != SQLITE_OK)
        return db_fail(st);
    sqlite3_bind_int64(s, 1, q->from_day);
    sqlite3_bind_int64(s, 2, q->to_day);
    sqlite3_bind_text(s, 3, q->team, -1, SQLITE_STATIC);
    tg_report_row *arr = NULL;
    size_t cap = 0, len = 0;
    int rc = TG_STORE_OK, step;
    while ((step = sqlite3_step(s)) == SQLITE_ROW) {
        if ((rc = grow(st, (void **)&arr, &cap, len, sizeof *arr)) != TG_STORE_OK)
            break;
        read_report_row(s, q, &arr[len++]);
    }
    if (rc == TG_STORE_OK && step != SQLITE_DONE)
        rc = db_fail(st);
    sqlite3_finalize(s);
    if (rc != TG_STORE_OK) {
        free(arr);
        return rc;
    }
    *out = arr, *n = len;
    return TG_STORE_OK;
}

static int sqlite_records_scan(tg_store *st, int64_t from_us, int64_t to_us, tg_record_fn fn,
                               void *ctx)
{
    sqlite3_stmt *s = stmt_get(st, S_RECORD_SCAN);
    if (!s)
        return TG_STORE_ERROR;
    sqlite3_bind_int64(s, 1, from_us);
    sqlite3_bind_int64(s, 2, to_us);
    tg_record r;
    int step, stop = 0;
    while ((step = sqlite3_step(s)) == SQLITE_ROW) {
        read_record(s, &r);
        if ((stop = fn(ctx, &r)) != 0)
            return stmt_done(st, s, stop);
    }
    return stmt_done(st, s, step == SQLITE_DONE ? TG_STORE_OK : TG_STORE_ERROR);
}

const tg_store_backend tg_store_sqlite_backend = {
    .name = "sqlite",
    .open = sqlite_open,
    .close = sqlite_close,
    .team_insert = sqlite_team_insert,
    .team_get = sqlite_team_get,
    .team_list = sqlite_team_list,
    .team_update = sqlite_team_update,
    .key_update = sqlite_key_update,
    .key_insert = sqlite_key_insert,
    .key_get = sqlite_key_get,
    .key_by_hash = sqlite_key_by_hash,
    .key_list = sqlite_key_list,
    .key_revoke = sqlite_key_revoke,
    .records_insert = sqlite_records_insert,
    .records_count = sqlite_records_count,
    .record_get = sqlite_record_get,
    .ledger_recover = sqlite_ledger_recover,
    .reservation_slots = sqlite_reservation_slots,
    .claim_reservations = sqlite_claim_reservations,
    .reservation_room = sqlite_reservation_room,
    .reservation_put = sqlite_reservation_put,
    .spend_by_day = sqlite_spend_by_day,
    .report = sqlite_report,
    .records_scan = sqlite_records_scan,
};
