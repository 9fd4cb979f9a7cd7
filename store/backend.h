/* The contract between store.c (dispatch) and the store backends.  Private to store/:
 * nothing outside this folder includes it.
 *
 * store.c owns everything that is the same for every backend: URL parsing, argument
 * checks, time stamps, key ids and secrets, hashing and the constant-time comparison.  A
 * backend only moves rows in and out of its database, so a new backend (PostgreSQL) is one
 * file implementing this table of functions plus one line in store.c's backend list.
 *
 * Backend functions get arguments that store.c has already checked (valid names, limits
 * >= 0 or TG_STORE_UNLIMITED, 32-byte hashes).  Each returns a tg_store_status.  For
 * TG_STORE_ERROR the backend sets the message with tg_store_fail; the messages for the
 * other statuses ("no team 'x'", ...) are written by store.c, once for all backends. */
#ifndef TG_STORE_BACKEND_H
#define TG_STORE_BACKEND_H
#include "store/store.h"

#define TG_KEY_HASH_LEN 32 /* SHA-256 */

typedef struct tg_store_backend {
    const char *name; /* "sqlite" */
    /* Opens the database named by `target` (the URL without "scheme:") into st->impl and
     * migrates it; sets st->schema_version. */
    int (*open)(tg_store *st, const char *target);
    void (*close)(tg_store *st); /* frees st->impl */
    /* Inserts the team (id assigned here); TG_STORE_EXISTS when the name is taken. */
    int (*team_insert)(tg_store *st, tg_team *team);
    int (*team_get)(tg_store *st, const char *name, tg_team *out);
    int (*team_list)(tg_store *st, tg_team **out, size_t *n);
    /* TG_STORE_NOT_FOUND when there is no team `name`. */
    int (*team_update)(tg_store *st, const char *name, const tg_team_update *u);
    /* Inserts the key (team_id, id, name, prefix, lim, created_at from `key`) with its
     * hash; TG_STORE_EXISTS when the id or the hash is taken. */
    int (*key_insert)(tg_store *st, const tg_key *key, const uint8_t *hash);
    int (*key_get)(tg_store *st, const char *id, tg_key *out);
    /* The key whose stored hash equals `hash`, and that stored hash. */
    int (*key_by_hash)(tg_store *st, const uint8_t *hash, tg_key *out, uint8_t *stored);
    /* team_id < 0: all keys. */
    int (*key_list)(tg_store *st, int64_t team_id, tg_key **out, size_t *n);
    /* The limits of `u` whose flag is set; TG_STORE_NOT_FOUND when there is no key `id`. */
    int (*key_update)(tg_store *st, const char *id, const tg_team_update *u);
    /* Sets revoked_at = `when` if not yet revoked; TG_STORE_NOT_FOUND / TG_STORE_REVOKED. */
    int (*key_revoke)(tg_store *st, const char *id, const char *when);
    /* Inserts recs[0..n) in one transaction. */
    int (*records_insert)(tg_store *st, const tg_record *recs, size_t n);
    int (*records_count)(tg_store *st, int64_t *n);
    int (*record_get)(tg_store *st, const char *id, int attempt, tg_record *out);
    /* RESERVED -> UNSETTLED + reconcile, one transaction; *n how many. */
    int (*ledger_recover)(tg_store *st, int64_t *n);
    int (*reservation_slots)(tg_store *st, int64_t *top);
    /* See tg_store_claim_reservations; NULL: the backend keeps no reservations file. */
    int (*claim_reservations)(tg_store *st);
    /* See tg_store_reservation_room and _put; NULL: no such file (TG_STORE_INVALID). */
    int (*reservation_room)(tg_store *st, int64_t top);
    int (*reservation_put)(tg_store *st, const tg_record *rec);
    /* See tg_store_spend_by_day; *out is a new array. */
    int (*spend_by_day)(tg_store *st, int64_t since_us, int32_t offset_s, tg_spend_row **out,
                        size_t *n);
    /* See tg_store_report (q checked: fields distinct, from <= to). */
    int (*report)(tg_store *st, const tg_report_query *q, tg_report_row **out, size_t *n);
    /* See tg_store_records_scan. */
    int (*records_scan)(tg_store *st, int64_t from_us, int64_t to_us, tg_record_fn fn,
                        void *ctx);
} tg_store_backend;

struct tg_store {
    const tg_store_backend *be;
    void *impl;
    int schema_version;
    char err[TG_STORE_ERR_SIZE];
};

/* Sets st's message (printf-style, one line) and returns `status`. */
__attribute__((format(printf, 3, 4))) int tg_store_fail(tg_store *st, int status,
                                                        const char *fmt, ...);

/* Copies at most size-1 bytes of `src` into `dst` and NUL-terminates it (size > 0). */
void tg_store_copy(char *dst, size_t size, const char *src);

extern const tg_store_backend tg_store_sqlite_backend;

#endif
