/* Store dispatch and everything that is the same for every backend (see store.h and the
 * backend contract in backend.h).
 *
 * tg_store_open picks the backend from the URL's scheme in `backends` below and lets it
 * open and migrate its database.  Every other public function checks its arguments here,
 * then calls the backend through st->be, so each rule (valid names, non-negative limits,
 * how secrets are made and compared) is written once.
 *
 * Keys: the id is "key_" + 12 hex digits and the secret "tg-" + 40 base62 characters, both
 * from RAND_bytes (base62 by rejection sampling: bytes >= 248 are dropped, so every
 * character is equally likely).  The backend gets only SHA-256(secret) and the prefix.
 * Lookup hashes the presented secret, lets the backend find the row by hash (an index),
 * and compares the stored hash with CRYPTO_memcmp before trusting the row.  Buffers that
 * held a secret or its hash are wiped with OPENSSL_cleanse. */
#include "store/store.h"

#include <assert.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "common/sha256.h"

#include <openssl/crypto.h>
#include <openssl/evp.h>
#include <openssl/rand.h>

#include "store/backend.h"

#define KEY_ID_RANDOM_BYTES 6   /* 12 hex digits */
#define KEY_SECRET_BODY_LEN 40  /* base62 characters after "tg-" */
#define KEY_CREATE_ATTEMPTS 4   /* new id and secret when the id is (very rarely) taken */

static const struct {
    const char *prefix;
    const tg_store_backend *be;
} backends[] = {
    {"sqlite:", &tg_store_sqlite_backend},
};

static const char *const period_names[] = {"day", "week", "month"};

/* ---------------------------------------------------------------- shared helpers */

int tg_store_fail(tg_store *st, int status, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(st->err, sizeof st->err, fmt, ap);
    va_end(ap);
    return status;
}

void tg_store_copy(char *dst, size_t size, const char *src)
{
    assert(size > 0);
    size_t n = strnlen(src, size - 1);
    memcpy(dst, src, n);
    dst[n] = '\0';
}

static void now_utc(char out[TG_STORE_TIME_LEN + 1])
{
    time_t t = time(NULL);
    struct tm tm;
    gmtime_r(&t, &tm);
    strftime(out, TG_STORE_TIME_LEN + 1, "%Y-%m-%dT%H:%M:%SZ", &tm);
}

static bool limit_valid(int64_t v)
{
    return v >= 0 || v == TG_STORE_UNLIMITED;
}

static bool limits_valid(const tg_limits *l)
{
    return limit_valid(l->budget_nusd) && limit_valid(l->budget_tokens) &&
           limit_valid(l->budget_requests) && limit_valid(l->rpm) && limit_valid(l->tpm);
}

/* Labels: at most TG_KEY_LABEL_MAX bytes of printable ASCII (they end up in tables, JSON
 * and logs, so no control characters and no encoding questions). */
static bool label_valid(const char *s)
{
    size_t n = strnlen(s, TG_KEY_LABEL_MAX + 1);
    if (n > TG_KEY_LABEL_MAX)
        return false;
    for (size_t i = 0; i < n; i++)
        if (s[i] < 0x20 || s[i] > 0x7e)
            return false;
    return true;
}

/* SHA-256 of `len` bytes into `md` (TG_KEY_HASH_LEN bytes).  Returns 0 or -1. */
static int hash_secret(const char *secret, size_t len, uint8_t *md)
{
    _Static_assert(TG_KEY_HASH_LEN == TG_SHA256_LEN, "a key hash is a SHA-256");
    return tg_sha256(secret, len, md);
}

/* "key_" + 12 random lower-case hex digits.  Returns 0 or -1 (CSPRNG failure). */
static int make_key_id(char out[TG_KEY_ID_LEN + 1])
{
    static const char hex[] = "0123456789abcdef";
    unsigned char r[KEY_ID_RANDOM_BYTES];
    if (RAND_bytes(r, sizeof r) != 1)
        return -1;
    memcpy(out, "key_", 4);
    for (size_t i = 0; i < sizeof r; i++) {
        out[4 + 2 * i] = hex[r[i] >> 4];
        out[5 + 2 * i] = hex[r[i] & 15];
    }
    out[TG_KEY_ID_LEN] = '\0';
    return 0;
}

/* "tg-" + 40 uniformly random base62 characters into out[TG_KEY_SECRET_SIZE].
 * Returns 0 or -1 (CSPRNG failure). */
static int make_secret(char *out)
{
    static const char b62[] =
        "0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz";
    unsigned char r[64];
    size_t n = 0;
    memcpy(out, "tg-", 3);
    while (n < KEY_SECRET_BODY_LEN) {
        if (RAND_bytes(r, sizeof r) != 1) {
            OPENSSL_cleanse(r, sizeof r);
            return -1;
        }
        for (size_t i = 0; i < sizeof r && n < KEY_SECRET_BODY_LEN; i++)
            if (r[i] < 248) /* 248 = 4 * 62: keeps b % 62 uniform */
                out[3 + n++] = b62[r[i] % 62];
    }
    out[TG_KEY_SECRET_LEN] = '\0';
    OPENSSL_cleanse(r, sizeof r);
    return 0;
}

/* ---------------------------------------------------------------- open and close */

/* The backend whose scheme starts `url`, with *target pointing after the scheme. */
static const tg_store_backend *find_backend(const char *url, const char **target)
{
    for (size_t i = 0; i < sizeof backends / sizeof *backends; i++) {
        size_t n = strlen(backends[i].prefix);
        if (strncmp(url, backends[i].prefix, n) == 0) {
            *target = url + n;
            return backends[i].be;
        }
    }
    return NULL;
}

static int open_fail(char *err, size_t errlen, int status, const char *msg)
{
    if (errlen)
        snprintf(err, errlen, "%s", msg);
    return status;
}

int tg_store_open(const char *url, tg_store **out, char *err, size_t errlen)
{
    const char *target = NULL;
    *out = NULL;
    if (!url || !*url || strnlen(url, TG_STORE_URL_MAX + 1) > TG_STORE_URL_MAX)
        return open_fail(err, errlen, TG_STORE_INVALID, "store URL is empty or too long");
    if (!strncmp(url, "postgres://", 11) || !strncmp(url, "postgresql://", 13))
        return open_fail(err, errlen, TG_STORE_INVALID,
                         "the PostgreSQL store is not available in this build yet "
                         "(use sqlite:PATH)");
    const tg_store_backend *be = find_backend(url, &target);
    if (!be)
        return open_fail(err, errlen, TG_STORE_INVALID,
                         "unknown store URL (expected sqlite:PATH or postgres://...)");
    if (!*target)
        return open_fail(err, errlen, TG_STORE_INVALID, "store URL sqlite: needs a path");
    tg_store *st = calloc(1, sizeof *st);
    if (!st)
        return open_fail(err, errlen, TG_STORE_ERROR, "out of memory");
    st->be = be;
    int rc = be->open(st, target);
    if (rc != TG_STORE_OK) {
        open_fail(err, errlen, rc, st->err);
        free(st);
        return rc;
    }
    *out = st;
    return TG_STORE_OK;
}

void tg_store_close(tg_store *st)
{
    if (!st)
        return;
    st->be->close(st);
    free(st);
}

const char *tg_store_errmsg(const tg_store *st)
{
    return st->err;
}

int tg_store_schema_version(const tg_store *st)
{
    return st->schema_version;
}

/* ---------------------------------------------------------------- names and periods */

bool tg_store_team_name_valid(const char *name)
{
    size_t n = name ? strnlen(name, TG_TEAM_NAME_MAX + 1) : 0;
    if (n == 0 || n > TG_TEAM_NAME_MAX)
        return false;
    for (size_t i = 0; i < n; i++) {
        char c = name[i];
        bool ok = (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
                  c == '_' || c == '.' || c == '-';
        if (!ok)
            return false;
    }
    return true;
}

int tg_store_period_parse(const char *s, tg_period *p)
{
    for (int i = 0; i < 3; i++)
        if (s && strcmp(s, period_names[i]) == 0) {
            *p = (tg_period)i;
            return 0;
        }
    return -1;
}

const char *tg_store_period_name(tg_period p)
{
    return (unsigned)p < 3 ? period_names[p] : "?";
}

/* ---------------------------------------------------------------- teams */

static int check_team_name(tg_store *st, const char *name)
{
    if (tg_store_team_name_valid(name))
        return TG_STORE_OK;
    return tg_store_fail(st, TG_STORE_INVALID,
                         "invalid team name: use 1-%d characters from A-Z a-z 0-9 _ . -",
                         TG_TEAM_NAME_MAX);
}

int tg_store_team_add(tg_store *st, tg_team *team)
{
    int rc = check_team_name(st, team->name);
    if (rc != TG_STORE_OK)
        return rc;
    if (!limits_valid(&team->lim))
        return tg_store_fail(st, TG_STORE_INVALID, "a limit must not be negative");
    if ((unsigned)team->period > TG_PERIOD_MONTH)
        return tg_store_fail(st, TG_STORE_INVALID, "unknown budget period");
    now_utc(team->created_at);
    rc = st->be->team_insert(st, team);
    if (rc == TG_STORE_EXISTS)
        return tg_store_fail(st, rc, "team '%s' already exists", team->name);
    return rc;
}

/* Names are echoed only when valid, so a message stays one plain line. */
static int no_team(tg_store *st, const char *name)
{
    if (!tg_store_team_name_valid(name))
        return tg_store_fail(st, TG_STORE_NOT_FOUND,
                             "no team by that name (names are 1-%d characters from "
                             "A-Z a-z 0-9 _ . -)", TG_TEAM_NAME_MAX);
    return tg_store_fail(st, TG_STORE_NOT_FOUND, "no team '%s'", name);
}

int tg_store_team_get(tg_store *st, const char *name, tg_team *out)
{
    if (!tg_store_team_name_valid(name))
        return no_team(st, name);
    int rc = st->be->team_get(st, name, out);
    return rc == TG_STORE_NOT_FOUND ? no_team(st, name) : rc;
}

int tg_store_team_list(tg_store *st, tg_team **out, size_t *n)
{
    *out = NULL;
    *n = 0;
    return st->be->team_list(st, out, n);
}

int tg_store_team_set(tg_store *st, const char *name, const tg_team_update *u, tg_team *out)
{
    tg_team scratch;
    if ((u->set_budget && !limit_valid(u->lim.budget_nusd)) ||
        (u->set_tokens && !limit_valid(u->lim.budget_tokens)) ||
        (u->set_requests && !limit_valid(u->lim.budget_requests)) ||
        (u->set_rpm && !limit_valid(u->lim.rpm)) || (u->set_tpm && !limit_valid(u->lim.tpm)))
        return tg_store_fail(st, TG_STORE_INVALID, "a limit must not be negative");
    if (u->set_period && (unsigned)u->period > TG_PERIOD_MONTH)
        return tg_store_fail(st, TG_STORE_INVALID, "unknown budget period");
    if (!tg_store_team_name_valid(name))
        return no_team(st, name);
    int rc = st->be->team_update(st, name, u);
    if (rc == TG_STORE_NOT_FOUND)
        return no_team(st, name);
    if (rc != TG_STORE_OK)
        return rc;
    return tg_store_team_get(st, name, out ? out : &scratch);
}

/* ---------------------------------------------------------------- keys */

/* One attempt at a new key: fresh id and secret, then the insert. */
static int key_insert_new(tg_store *st, tg_key *k, char *secret)
{
    uint8_t hash[TG_KEY_HASH_LEN];
    if (make_key_id(k->id) != 0 || make_secret(secret) != 0)
        return tg_store_fail(st, TG_STORE_ERROR, "the random number generator failed");
    tg_store_copy(k->prefix, sizeof k->prefix, secret);
    if (hash_secret(secret, TG_KEY_SECRET_LEN, hash) != 0)
        return tg_store_fail(st, TG_STORE_ERROR, "SHA-256 failed");
    int rc = st->be->key_insert(st, k, hash);
    OPENSSL_cleanse(hash, sizeof hash);
    return rc;
}

/* Is `tags` a valid tag list (see tg_store_key_create_tagged)?  On false, why[n] says. */
static bool tags_valid(const char *tags, char *why, size_t n)
{
    if (strlen(tags) > TG_KEY_TAGS_MAX) {
        snprintf(why, n, "invalid tags: at most %d bytes in all", TG_KEY_TAGS_MAX);
        return false;
    }
    int count = 0;
    for (const char *p = tags; *p;) {
        size_t len = strcspn(p, ",");
        size_t ok = strspn(p, "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789._:-");
        if (len == 0 || len > TG_KEY_TAG_MAX || ok < len) {
            snprintf(why, n, "invalid tag '%.*s': 1 to %d characters of A-Z a-z 0-9 . _ : -",
                     (int)(len > 40 ? 40 : len), p, TG_KEY_TAG_MAX);
            return false;
        }
        if (++count > TG_KEY_MAX_TAGS) {
            snprintf(why, n, "invalid tags: at most %d tags", TG_KEY_MAX_TAGS);
            return false;
        }
        p += len;
        if (*p == ',' && *++p == '\0') {
            snprintf(why, n, "invalid tags: a trailing comma");
            return false;
        }
    }
    return true;
}

int tg_store_key_tags(const tg_key *k, char *buf, const char **out, int max)
{
    tg_store_copy(buf, TG_KEY_TAGS_MAX + 1, k->tags);
    int n = 0;
    for (char *save = NULL, *t = strtok_r(buf, ",", &save); t && n < max;
         t = strtok_r(NULL, ",", &save))
        out[n++] = t;
    return n;
}

int tg_store_key_create(tg_store *st, const char *team, const char *label, const tg_limits *lim,
                        char *secret, size_t secret_size, tg_key *out)
{
    return tg_store_key_create_tagged(st, team, label, NULL, lim, secret, secret_size, out);
}

int tg_store_key_create_tagged(tg_store *st, const char *team, const char *label,
                               const char *tags, const tg_limits *lim, char *secret,
                               size_t secret_size, tg_key *out)
{
    tg_team t;
    tg_key k = {0};
    char why[128];
    if (!secret || secret_size < TG_KEY_SECRET_SIZE)
        return tg_store_fail(st, TG_STORE_INVALID, "the secret buffer is too small");
    secret[0] = '\0';
    label = label ? label : "";
    tags = tags ? tags : "";
    if (!tags_valid(tags, why, sizeof why))
        return tg_store_fail(st, TG_STORE_INVALID, "%s", why);
    if (!label_valid(label))
        return tg_store_fail(st, TG_STORE_INVALID,
                             "invalid key name: at most %d printable ASCII characters",
                             TG_KEY_LABEL_MAX);
    tg_limits none = TG_LIMITS_NONE;
    if (!lim)
        lim = &none;
    if (!limits_valid(lim))
        return tg_store_fail(st, TG_STORE_INVALID, "a limit must not be negative");
    int rc = tg_store_team_get(st, team, &t);
    if (rc != TG_STORE_OK)
        return rc;
    k.team_id = t.id;
    tg_store_copy(k.team, sizeof k.team, t.name);
    tg_store_copy(k.name, sizeof k.name, label);
    tg_store_copy(k.tags, sizeof k.tags, tags);
    k.lim = *lim;
    k.team_lim = t.lim;
    k.period = t.period;
    now_utc(k.created_at);
    rc = TG_STORE_EXISTS;
    for (int i = 0; i < KEY_CREATE_ATTEMPTS && rc == TG_STORE_EXISTS; i++)
        rc = key_insert_new(st, &k, secret);
    if (rc != TG_STORE_OK) {
        OPENSSL_cleanse(secret, secret_size);
        secret[0] = '\0';
        return rc == TG_STORE_EXISTS ? tg_store_fail(st, TG_STORE_ERROR, "key id collision")
                                     : rc;
    }
    if (out)
        *out = k;
    return TG_STORE_OK;
}

/* "key_" + 12 lower-case hex digits. */
static bool key_id_valid(const char *id)
{
    return id && strnlen(id, TG_KEY_ID_LEN + 1) == TG_KEY_ID_LEN && !strncmp(id, "key_", 4) &&
           strspn(id + 4, "0123456789abcdef") == TG_KEY_ID_LEN - 4;
}

static int no_key(tg_store *st, const char *id)
{
    if (!key_id_valid(id))
        return tg_store_fail(st, TG_STORE_NOT_FOUND,
                             "no key with that id (ids look like key_0123456789ab)");
    return tg_store_fail(st, TG_STORE_NOT_FOUND, "no key '%s'", id);
}

int tg_store_key_get(tg_store *st, const char *id, tg_key *out)
{
    if (!key_id_valid(id))
        return no_key(st, id);
    int rc = st->be->key_get(st, id, out);
    return rc == TG_STORE_NOT_FOUND ? no_key(st, id) : rc;
}

int tg_store_key_list(tg_store *st, const char *team, tg_key **out, size_t *n)
{
    tg_team t;
    *out = NULL;
    *n = 0;
    if (!team)
        return st->be->key_list(st, -1, out, n);
    int rc = tg_store_team_get(st, team, &t);
    return rc != TG_STORE_OK ? rc : st->be->key_list(st, t.id, out, n);
}

int tg_store_key_set(tg_store *st, const char *id, const tg_team_update *u, tg_key *out)
{
    tg_key scratch;
    if ((u->set_budget && !limit_valid(u->lim.budget_nusd)) ||
        (u->set_tokens && !limit_valid(u->lim.budget_tokens)) ||
        (u->set_requests && !limit_valid(u->lim.budget_requests)) ||
        (u->set_rpm && !limit_valid(u->lim.rpm)) || (u->set_tpm && !limit_valid(u->lim.tpm)))
        return tg_store_fail(st, TG_STORE_INVALID, "a limit must not be negative");
    if (u->set_period)
        return tg_store_fail(st, TG_STORE_INVALID, "a key has no period of its own: it "
                             "follows its team's");
    if (!key_id_valid(id))
        return no_key(st, id);
    int rc = st->be->key_update(st, id, u);
    if (rc == TG_STORE_NOT_FOUND)
        return no_key(st, id);
    if (rc != TG_STORE_OK)
        return rc;
    return tg_store_key_get(st, id, out ? out : &scratch);
}

int tg_store_key_revoke(tg_store *st, const char *id, tg_key *out)
{
    char when[TG_STORE_TIME_LEN + 1];
    tg_key scratch;
    if (!key_id_valid(id))
        return no_key(st, id);
    now_utc(when);
    int rc = st->be->key_revoke(st, id, when);
    if (rc == TG_STORE_NOT_FOUND)
        return no_key(st, id);
    if (rc != TG_STORE_OK && rc != TG_STORE_REVOKED)
        return rc;
    int got = tg_store_key_get(st, id, out ? out : &scratch);
    if (got != TG_STORE_OK)
        return got;
    if (rc == TG_STORE_REVOKED)
        return tg_store_fail(st, rc, "key '%s' was already revoked", id);
    return TG_STORE_OK;
}

int tg_store_key_lookup(tg_store *st, const char *secret, size_t len, tg_key *out)
{
    uint8_t hash[TG_KEY_HASH_LEN], stored[TG_KEY_HASH_LEN];
    tg_key k;
    if (!secret || len == 0 || len > TG_KEY_SECRET_INPUT_MAX)
        return tg_store_fail(st, TG_STORE_NOT_FOUND, "unknown key");
    if (hash_secret(secret, len, hash) != 0)
        return tg_store_fail(st, TG_STORE_ERROR, "SHA-256 failed");
    int rc = st->be->key_by_hash(st, hash, &k, stored);
    if (rc == TG_STORE_OK && CRYPTO_memcmp(stored, hash, sizeof hash) != 0)
        rc = TG_STORE_NOT_FOUND;
    if (rc == TG_STORE_NOT_FOUND)
        tg_store_fail(st, rc, "unknown key");
    OPENSSL_cleanse(hash, sizeof hash);
    OPENSSL_cleanse(stored, sizeof stored);
    if (rc != TG_STORE_OK)
        return rc;
    *out = k;
    if (k.revoked_at[0])
        return tg_store_fail(st, TG_STORE_REVOKED, "key '%s' was revoked at %s", k.id,
                             k.revoked_at);
    return TG_STORE_OK;
}

int tg_store_records_insert(tg_store *st, const tg_record *recs, size_t n)
{
    if (n == 0)
        return TG_STORE_OK;
    return st->be->records_insert(st, recs, n);
}

int tg_store_records_count(tg_store *st, int64_t *n)
{
    return st->be->records_count(st, n);
}

int tg_store_record_get(tg_store *st, const char *id, int attempt, tg_record *out)
{
    int rc = st->be->record_get(st, id, attempt, out);
    if (rc == TG_STORE_NOT_FOUND)
        tg_store_fail(st, rc, "no record for that request id and attempt");
    return rc;
}

int tg_store_ledger_recover(tg_store *st, int64_t *n)
{
    int64_t scratch;
    return st->be->ledger_recover(st, n ? n : &scratch);
}

int tg_store_claim_reservations(tg_store *st)
{
    if (!st->be->claim_reservations)
        return tg_store_fail(st, TG_STORE_INVALID, "the %s store keeps its reservations in "
                             "the ledger", st->be->name);
    return st->be->claim_reservations(st);
}

int tg_store_reservation_room(tg_store *st, int64_t top)
{
    if (!st->be->reservation_room)
        return tg_store_fail(st, TG_STORE_INVALID, "this store keeps no reservations file");
    return st->be->reservation_room(st, top);
}

int tg_store_reservation_put(tg_store *st, const tg_record *rec)
{
    if (!st->be->reservation_put)
        return tg_store_fail(st, TG_STORE_INVALID, "this store keeps no reservations file");
    if (rec->state != TG_RECORD_RESERVED || rec->slot < 1)
        return tg_store_fail(st, TG_STORE_INVALID, "not a reservation with a slot");
    return st->be->reservation_put(st, rec);
}

int tg_store_reservation_slots(tg_store *st, int64_t *top)
{
    *top = 0;
    return st->be->reservation_slots(st, top);
}

/* Calendar offsets beyond +-18 h exist nowhere (ISO 8601 stops at +-18:00). */
#define OFFSET_MAX_S (18 * 3600)

int tg_store_spend_by_day(tg_store *st, int64_t since_us, int32_t offset_s, tg_spend_row **out,
                          size_t *n)
{
    *out = NULL;
    *n = 0;
    if (offset_s < -OFFSET_MAX_S || offset_s > OFFSET_MAX_S)
        return tg_store_fail(st, TG_STORE_INVALID, "calendar offset beyond +-18 hours");
    return st->be->spend_by_day(st, since_us, offset_s, out, n);
}

int tg_store_report(tg_store *st, const tg_report_query *q, tg_report_row **out, size_t *n)
{
    *out = NULL;
    *n = 0;
    unsigned seen = 0;
    if (q->ngroup < 0 || q->ngroup > TG_REPORT_FIELD_COUNT)
        return tg_store_fail(st, TG_STORE_INVALID, "too many grouping fields");
    for (int i = 0; i < q->ngroup; i++) {
        unsigned bit = 1u << (unsigned)q->group[i];
        if ((unsigned)q->group[i] >= TG_REPORT_FIELD_COUNT || (seen & bit))
            return tg_store_fail(st, TG_STORE_INVALID, "a grouping field is unknown or twice");
        seen |= bit;
    }
    if (q->from_day > q->to_day)
        return tg_store_fail(st, TG_STORE_INVALID, "the report's start is after its end");
    return st->be->report(st, q, out, n);
}

int tg_store_records_scan(tg_store *st, int64_t from_us, int64_t to_us, tg_record_fn fn,
                          void *ctx)
{
    if (from_us >= to_us)
        return TG_STORE_OK;
    return st->be->records_scan(st, from_us, to_us, fn, ctx);
}
