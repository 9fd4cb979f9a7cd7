/* Tests for the store (store/store.h, SQLite backend) and the money helpers
 * (quotas/money.h).
 *
 * Every store test works in its own fresh temporary directory, removed afterwards.  The
 * SQLite file is also inspected directly (journal mode, schema_version rows, and the raw
 * bytes of the database and its WAL, which must hold the hash of each secret and never the
 * secret itself).  Concurrency tests give each thread its own handle, as store.h asks. */
#include <check.h>
#include <limits.h>
#include <ftw.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <signal.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include <openssl/crypto.h>
#include <openssl/evp.h>
#include <sqlite3.h>

#include "quotas/money.h"
#include "common/sha256.h"
#include "common/buf.h"
#include "store/record_codec.h"
#include "store/slot_file.h"
#include "store/sqlite_walbuf.h"
#include "store/store.h"

#define PATH_SIZE 512
#define TMPDIR_SIZE 256
#define THREADS 4
#define TEAMS_PER_THREAD 25

/* ---------------------------------------------------------------- helpers */

static char tmpdir[TMPDIR_SIZE];
static char dbpath[PATH_SIZE];
static char dburl[PATH_SIZE + 16];

static int rm_entry(const char *path, const struct stat *sb, int flag, struct FTW *ftw)
{
    (void)sb, (void)flag, (void)ftw;
    return remove(path);
}

static void setup(void)
{
    const char *base = getenv("TMPDIR");
    snprintf(tmpdir, sizeof tmpdir, "%s/tg_store_XXXXXX", base && *base ? base : "/tmp");
    ck_assert_ptr_nonnull(mkdtemp(tmpdir));
    snprintf(dbpath, sizeof dbpath, "%s/nested/dir/t.db", tmpdir);
    snprintf(dburl, sizeof dburl, "sqlite:%s", dbpath);
}

static void teardown(void)
{
    nftw(tmpdir, rm_entry, 16, FTW_DEPTH | FTW_PHYS);
}

static tg_store *open_ok(void)
{
    tg_store *st = NULL;
    char err[TG_STORE_ERR_SIZE] = "";
    int rc = tg_store_open(dburl, &st, err, sizeof err);
    ck_assert_msg(rc == TG_STORE_OK, "open %s: %d %s", dburl, rc, err);
    ck_assert_ptr_nonnull(st);
    return st;
}

static tg_team team_spec(const char *name, int64_t nusd, int64_t tokens, tg_period p)
{
    tg_team t = {.lim = TG_LIMITS_NONE, .period = p};
    t.lim.budget_nusd = nusd;
    t.lim.budget_tokens = tokens;
    snprintf(t.name, sizeof t.name, "%s", name);
    return t;
}

#define USD_LIMITS(nusd) {(nusd), TG_STORE_UNLIMITED, TG_STORE_UNLIMITED, TG_STORE_UNLIMITED, \
                          TG_STORE_UNLIMITED}
static const tg_limits lim25 = USD_LIMITS(INT64_C(2500000000));
static const tg_limits neg7 = USD_LIMITS(-7);
static const tg_limits zero = USD_LIMITS(0);
static const tg_limits one = USD_LIMITS(1);

static void add_team(tg_store *st, const char *name)
{
    tg_team t = team_spec(name, TG_STORE_UNLIMITED, TG_STORE_UNLIMITED, TG_PERIOD_MONTH);
    int rc = tg_store_team_add(st, &t);
    ck_assert_msg(rc == TG_STORE_OK, "add %s: %s", name, tg_store_errmsg(st));
}

/* Runs one-value SQL on the file directly; returns the text result in a static buffer. */
static const char *raw_query(const char *sql)
{
    static char out[256];
    sqlite3 *db;
    sqlite3_stmt *s;
    ck_assert_int_eq(sqlite3_open(dbpath, &db), SQLITE_OK);
    ck_assert_int_eq(sqlite3_prepare_v2(db, sql, -1, &s, NULL), SQLITE_OK);
    out[0] = '\0';
    if (sqlite3_step(s) == SQLITE_ROW && sqlite3_column_text(s, 0))
        snprintf(out, sizeof out, "%s", (const char *)sqlite3_column_text(s, 0));
    sqlite3_finalize(s);
    sqlite3_close(db);
    return out;
}

static void raw_exec(const char *sql)
{
    sqlite3 *db;
    ck_assert_int_eq(sqlite3_open(dbpath, &db), SQLITE_OK);
    ck_assert_int_eq(sqlite3_exec(db, sql, NULL, NULL, NULL), SQLITE_OK);
    sqlite3_close(db);
}

/* Whether the file `path` (absent: no) contains `len` bytes at `needle`. */
static bool file_has(const char *path, const void *needle, size_t len)
{
    FILE *f = fopen(path, "rb");
    if (!f)
        return false;
    size_t cap = 1 << 16, n = 0, got;
    char *buf = malloc(cap);
    ck_assert_ptr_nonnull(buf);
    while ((got = fread(buf + n, 1, cap - n, f)) > 0) {
        n += got;
        if (n == cap) {
            buf = realloc(buf, cap *= 2);
            ck_assert_ptr_nonnull(buf);
        }
    }
    fclose(f);
    bool found = memmem(buf, n, needle, len) != NULL;
    free(buf);
    return found;
}

/* Whether the database or its WAL holds `len` bytes at `needle`. */
static bool store_files_have(const void *needle, size_t len)
{
    char wal[PATH_SIZE + 8];
    snprintf(wal, sizeof wal, "%s-wal", dbpath);
    return file_has(dbpath, needle, len) || file_has(wal, needle, len);
}

/* ---------------------------------------------------------------- money */

static const struct {
    const char *text;
    int status;
    int64_t nusd;
} parse_cases[] = {
    {"0", TG_MONEY_OK, 0},
    {"0.000000001", TG_MONEY_OK, 1},
    {"9223372036.854775807", TG_MONEY_OK, INT64_MAX},
    {"12.5", TG_MONEY_OK, INT64_C(12500000000)},
    {"100", TG_MONEY_OK, INT64_C(100000000000)},
    {"0.1", TG_MONEY_OK, INT64_C(100000000)},
    {"007.10", TG_MONEY_OK, INT64_C(7100000000)},
    {"0.000000000", TG_MONEY_OK, 0},
    {"9223372036", TG_MONEY_OK, INT64_C(9223372036000000000)},
    {"00000000000000000000000000001", TG_MONEY_OK, INT64_C(1000000000)},
    {"9223372036.854775808", TG_MONEY_RANGE, 0},
    {"9223372037", TG_MONEY_RANGE, 0},
    {"99999999999999999999", TG_MONEY_RANGE, 0},
    {"1.0000000000", TG_MONEY_PRECISION, 0},
    {"0.0000000001", TG_MONEY_PRECISION, 0},
    {"-1", TG_MONEY_NEGATIVE, 0},
    {"-0", TG_MONEY_NEGATIVE, 0},
    {"1e3", TG_MONEY_SYNTAX, 0},
    {"", TG_MONEY_SYNTAX, 0},
    {" 1", TG_MONEY_SYNTAX, 0},
    {"1 ", TG_MONEY_SYNTAX, 0},
    {"+1", TG_MONEY_SYNTAX, 0},
    {".5", TG_MONEY_SYNTAX, 0},
    {"5.", TG_MONEY_SYNTAX, 0},
    {"1,000", TG_MONEY_SYNTAX, 0},
    {"1.2.3", TG_MONEY_SYNTAX, 0},
    {"abc", TG_MONEY_SYNTAX, 0},
    {"0x10", TG_MONEY_SYNTAX, 0},
    {"nan", TG_MONEY_SYNTAX, 0},
    {"1\n", TG_MONEY_SYNTAX, 0},
    {"000000000000000000000000000000000000000000000000000000000000000001", TG_MONEY_SYNTAX, 0},
};

START_TEST(money_parse_table)
{
    for (size_t i = 0; i < sizeof parse_cases / sizeof *parse_cases; i++) {
        int64_t v = -42;
        int rc = tg_money_parse_usd(parse_cases[i].text, &v);
        ck_assert_msg(rc == parse_cases[i].status, "'%s': status %d, want %d",
                      parse_cases[i].text, rc, parse_cases[i].status);
        if (rc == TG_MONEY_OK)
            ck_assert_msg(v == parse_cases[i].nusd, "'%s': %lld", parse_cases[i].text,
                          (long long)v);
        else
            ck_assert_msg(v == -42, "'%s': output changed on failure", parse_cases[i].text);
        ck_assert_ptr_nonnull(tg_money_strerror(rc));
    }
    int64_t v;
    ck_assert_int_eq(tg_money_parse_usd(NULL, &v), TG_MONEY_SYNTAX);
}
END_TEST

static const struct {
    int64_t nusd;
    const char *text;
} format_cases[] = {
    {0, "0.00"},
    {1, "0.000000001"},
    {INT64_C(12500000000), "12.50"},
    {INT64_C(1000000000), "1.00"},
    {INT64_C(123456789), "0.123456789"},
    {INT64_C(10000000), "0.01"},
    {INT64_C(1000000), "0.001"},
    {INT64_C(100000000000), "100.00"},
    {INT64_C(1234567890123), "1234.567890123"},
    {INT64_MAX, "9223372036.854775807"},
    {-1, "-0.000000001"},
    {INT64_C(-2500000000), "-2.50"},
    {INT64_MIN, "-9223372036.854775808"},
};

START_TEST(money_format_table)
{
    char buf[TG_MONEY_FMT_SIZE];
    for (size_t i = 0; i < sizeof format_cases / sizeof *format_cases; i++) {
        int n = tg_money_format(format_cases[i].nusd, buf, sizeof buf);
        ck_assert_str_eq(buf, format_cases[i].text);
        ck_assert_int_eq(n, (int)strlen(format_cases[i].text));
        int64_t back;
        if (format_cases[i].nusd >= 0) {
            ck_assert_int_eq(tg_money_parse_usd(buf, &back), TG_MONEY_OK);
            ck_assert(back == format_cases[i].nusd);
        }
    }
    char small[4];
    ck_assert_int_eq(tg_money_format(INT64_C(12500000000), small, sizeof small), 5);
    ck_assert_str_eq(small, "12.");
    ck_assert_int_eq(tg_money_format(INT64_C(12500000000), NULL, 0), 5);
}
END_TEST

/* tg_int_text prints as "%lld" does, at the edges and across the range; tg_str_copy as
 * "%s" with a bound does, a NULL source being "". */
START_TEST(int_text_and_copy)
{
    long long edge[] = {0, 1, -1, 9, 10, -10, 99, 100, 123456789, -987654321,
                        LLONG_MAX, LLONG_MIN, LLONG_MIN + 1};
    char got[TG_INT_TEXT_SIZE], want[32];
    for (size_t i = 0; i < sizeof edge / sizeof *edge; i++) {
        size_t n = tg_int_text(edge[i], got);
        snprintf(want, sizeof want, "%lld", edge[i]);
        ck_assert_str_eq(got, want);
        ck_assert_uint_eq(n, strlen(want));
    }
    for (long long v = 1; v < LLONG_MAX / 7; v = v * 7 + 3) {
        tg_int_text(v, got);
        snprintf(want, sizeof want, "%lld", v);
        ck_assert_str_eq(got, want);
        tg_int_text(-v, got);
        snprintf(want, sizeof want, "%lld", -v);
        ck_assert_str_eq(got, want);
    }
    char small[5];
    ck_assert_uint_eq(tg_str_copy(small, sizeof small, "abcdefgh"), 4);
    ck_assert_str_eq(small, "abcd");
    ck_assert_uint_eq(tg_str_copy(small, sizeof small, "ab"), 2);
    ck_assert_str_eq(small, "ab");
    ck_assert_uint_eq(tg_str_copy(small, sizeof small, NULL), 0);
    ck_assert_str_eq(small, "");
    ck_assert_uint_eq(tg_str_copy(small, 1, "x"), 0);
    ck_assert_str_eq(small, "");
}
END_TEST

START_TEST(money_round_trip)
{
    /* every amount with few significant digits, at every scale */
    int64_t scale = 1;
    for (int e = 0; e <= 18; e++) {
        for (int64_t d = 0; d < 100 && (d == 0 || scale <= INT64_MAX / d); d++) {
            char buf[TG_MONEY_FMT_SIZE];
            int64_t back;
            tg_money_format(d * scale, buf, sizeof buf);
            ck_assert_int_eq(tg_money_parse_usd(buf, &back), TG_MONEY_OK);
            ck_assert(back == d * scale);
        }
        if (e < 18)
            scale *= 10;
    }
}
END_TEST

/* ---------------------------------------------------------------- open and migrations */

#define SCHEMA_NOW 10 /* migrations: 1 teams and keys, 2 request records, 3 limits, ledger,
                         4 key tags, 5 daily rollups, 6 (day, team) rollups, 7 reservations,
                         8 new rows' rollups summed per transaction, 9 the state check,
                         10 no (team, ts_us) index */
#define SCHEMA_NOW_STR "10"

START_TEST(open_fresh_and_reopen)
{
    tg_store *st = open_ok(); /* also creates nested/dir */
    ck_assert_int_eq(tg_store_schema_version(st), SCHEMA_NOW);
    ck_assert_str_eq(tg_store_errmsg(st), "");
    add_team(st, "persisted");
    tg_store_close(st);
    ck_assert_str_eq(raw_query("PRAGMA journal_mode"), "wal");
    ck_assert_str_eq(raw_query("PRAGMA user_version"), SCHEMA_NOW_STR);
    ck_assert_str_eq(raw_query("SELECT count(*) FROM schema_version"), SCHEMA_NOW_STR);
    for (int i = 0; i < 3; i++) { /* idempotent: nothing is applied twice */
        st = open_ok();
        ck_assert_int_eq(tg_store_schema_version(st), SCHEMA_NOW);
        tg_team t;
        ck_assert_int_eq(tg_store_team_get(st, "persisted", &t), TG_STORE_OK);
        tg_store_close(st);
    }
    ck_assert_str_eq(raw_query("SELECT count(*) FROM schema_version"), SCHEMA_NOW_STR);
    ck_assert_str_eq(raw_query("SELECT count(*) FROM sqlite_master WHERE type = 'index' AND"
                               " name = 'keys_hash'"),
                     "1");
}
END_TEST

START_TEST(open_refuses_newer_schema)
{
    tg_store_close(open_ok());
    raw_exec("INSERT INTO schema_version VALUES (999, '2099-01-01T00:00:00Z')");
    tg_store *st = (tg_store *)1;
    char err[TG_STORE_ERR_SIZE];
    ck_assert_int_eq(tg_store_open(dburl, &st, err, sizeof err), TG_STORE_ERROR);
    ck_assert_ptr_null(st);
    ck_assert_msg(strstr(err, "newer") && strstr(err, "999"), "%s", err);
}
END_TEST

START_TEST(open_bad_urls)
{
    static const char *const bad[] = {"", "sqlite:", "mysql://u:pw@h/db", "./var/x.db",
                                      "SQLITE:x.db"};
    tg_store *st;
    char err[TG_STORE_ERR_SIZE];
    for (size_t i = 0; i < sizeof bad / sizeof *bad; i++) {
        ck_assert_int_eq(tg_store_open(bad[i], &st, err, sizeof err), TG_STORE_INVALID);
        ck_assert_ptr_null(st);
        ck_assert(err[0] != '\0');
    }
    ck_assert_int_eq(tg_store_open(NULL, &st, NULL, 0), TG_STORE_INVALID);
    ck_assert_int_eq(tg_store_open("postgres://admin:hunter2@db/tg", &st, err, sizeof err),
                     TG_STORE_INVALID);
    ck_assert_msg(!strstr(err, "hunter2") && strstr(err, "PostgreSQL"), "%s", err);
}
END_TEST

START_TEST(open_not_a_database)
{
    char path[PATH_SIZE + 8], url[PATH_SIZE + 16], err[TG_STORE_ERR_SIZE];
    snprintf(path, sizeof path, "%s/junk.db", tmpdir);
    snprintf(url, sizeof url, "sqlite:%s", path);
    FILE *f = fopen(path, "wb");
    ck_assert_ptr_nonnull(f);
    for (int i = 0; i < 4096; i++)
        fputc("not a database "[i % 15], f);
    fclose(f);
    tg_store *st;
    ck_assert_int_eq(tg_store_open(url, &st, err, sizeof err), TG_STORE_ERROR);
    ck_assert_msg(strstr(err, "junk.db") && strstr(err, "not a database"), "%s", err);
    snprintf(url, sizeof url, "sqlite:%s/junk.db/below/x.db", tmpdir); /* a file as a dir */
    ck_assert_int_eq(tg_store_open(url, &st, err, sizeof err), TG_STORE_ERROR);
}
END_TEST

/* ---------------------------------------------------------------- teams */

START_TEST(team_add_get_list)
{
    tg_store *st = open_ok();
    tg_team t = team_spec("ml", INT64_C(100000000000), 5000, TG_PERIOD_WEEK), got;
    ck_assert_int_eq(tg_store_team_add(st, &t), TG_STORE_OK);
    ck_assert(t.id > 0);
    ck_assert_int_eq((int)strlen(t.created_at), TG_STORE_TIME_LEN);
    ck_assert(t.created_at[10] == 'T' && t.created_at[19] == 'Z');
    ck_assert_int_eq(tg_store_team_get(st, "ml", &got), TG_STORE_OK);
    ck_assert(got.id == t.id && got.lim.budget_nusd == INT64_C(100000000000));
    ck_assert(got.lim.budget_tokens == 5000 && got.period == TG_PERIOD_WEEK);
    ck_assert_str_eq(got.created_at, t.created_at);

    tg_team dup = team_spec("ml", TG_STORE_UNLIMITED, TG_STORE_UNLIMITED, TG_PERIOD_DAY);
    ck_assert_int_eq(tg_store_team_add(st, &dup), TG_STORE_EXISTS);
    ck_assert_str_eq(tg_store_errmsg(st), "team 'ml' already exists");
    ck_assert_int_eq(tg_store_team_get(st, "nope", &got), TG_STORE_NOT_FOUND);
    ck_assert_str_eq(tg_store_errmsg(st), "no team 'nope'");
    ck_assert_int_eq(tg_store_team_get(st, "ML", &got), TG_STORE_NOT_FOUND);

    add_team(st, "zeta");
    add_team(st, "alpha.1_x-y");
    tg_team *all;
    size_t n;
    ck_assert_int_eq(tg_store_team_list(st, &all, &n), TG_STORE_OK);
    ck_assert_uint_eq(n, 3);
    ck_assert_str_eq(all[0].name, "alpha.1_x-y");
    ck_assert_str_eq(all[1].name, "ml");
    ck_assert_str_eq(all[2].name, "zeta");
    ck_assert(all[2].lim.budget_nusd == TG_STORE_UNLIMITED);
    ck_assert(all[2].lim.budget_tokens == TG_STORE_UNLIMITED);
    free(all);
    tg_store_close(st);
}
END_TEST

START_TEST(team_names_and_limits)
{
    static const char *const bad[] = {
        "", "a b", "é", "team/x", "x\n", "quote'",
        "abcdefghijabcdefghijabcdefghijabcdefghijabcdefghijabcdefghijabcde", /* 65 */
    };
    char longest[TG_TEAM_NAME_MAX + 1];
    memset(longest, 'a', TG_TEAM_NAME_MAX);
    longest[TG_TEAM_NAME_MAX] = '\0';
    tg_store *st = open_ok();
    for (size_t i = 0; i < sizeof bad / sizeof *bad; i++) {
        ck_assert_msg(!tg_store_team_name_valid(bad[i]), "'%s' accepted", bad[i]);
        tg_team t = team_spec(bad[i], TG_STORE_UNLIMITED, TG_STORE_UNLIMITED, 0);
        if (strlen(bad[i]) <= TG_TEAM_NAME_MAX)
            ck_assert_int_eq(tg_store_team_add(st, &t), TG_STORE_INVALID);
    }
    ck_assert(!tg_store_team_name_valid(NULL));
    ck_assert(tg_store_team_name_valid(longest));
    add_team(st, longest);
    tg_team neg = team_spec("neg", -5, TG_STORE_UNLIMITED, TG_PERIOD_DAY);
    ck_assert_int_eq(tg_store_team_add(st, &neg), TG_STORE_INVALID);
    neg = team_spec("neg", 0, -2, TG_PERIOD_DAY);
    ck_assert_int_eq(tg_store_team_add(st, &neg), TG_STORE_INVALID);
    neg = team_spec("neg", 0, 0, (tg_period)7);
    ck_assert_int_eq(tg_store_team_add(st, &neg), TG_STORE_INVALID);
    tg_period p;
    ck_assert_int_eq(tg_store_period_parse("week", &p), 0);
    ck_assert_int_eq(p, TG_PERIOD_WEEK);
    ck_assert_int_eq(tg_store_period_parse("Week", &p), -1);
    ck_assert_int_eq(tg_store_period_parse("year", &p), -1);
    ck_assert_str_eq(tg_store_period_name(TG_PERIOD_DAY), "day");
    tg_store_close(st);
}
END_TEST

START_TEST(team_set_fields)
{
    tg_store *st = open_ok();
    tg_team t = team_spec("ops", INT64_C(5000000000), 100, TG_PERIOD_MONTH), got;
    ck_assert_int_eq(tg_store_team_add(st, &t), TG_STORE_OK);

    tg_team_update u = {.set_budget = true, .lim.budget_nusd = 1};
    ck_assert_int_eq(tg_store_team_set(st, "ops", &u, &got), TG_STORE_OK);
    ck_assert(got.lim.budget_nusd == 1 && got.lim.budget_tokens == 100);
    ck_assert(got.period == TG_PERIOD_MONTH);

    u = (tg_team_update){.set_period = true, .period = TG_PERIOD_DAY};
    ck_assert_int_eq(tg_store_team_set(st, "ops", &u, &got), TG_STORE_OK);
    ck_assert(got.lim.budget_nusd == 1 && got.period == TG_PERIOD_DAY);

    u = (tg_team_update){.set_budget = true, .set_tokens = true,
                         .lim = TG_LIMITS_NONE};
    ck_assert_int_eq(tg_store_team_set(st, "ops", &u, NULL), TG_STORE_OK);
    ck_assert_int_eq(tg_store_team_get(st, "ops", &got), TG_STORE_OK);
    ck_assert(got.lim.budget_nusd == TG_STORE_UNLIMITED && got.lim.budget_tokens == TG_STORE_UNLIMITED);
    ck_assert(got.period == TG_PERIOD_DAY && got.id == t.id);

    ck_assert_int_eq(tg_store_team_set(st, "ghost", &u, &got), TG_STORE_NOT_FOUND);
    ck_assert_str_eq(tg_store_errmsg(st), "no team 'ghost'");
    ck_assert_int_eq(tg_store_team_set(st, "bad\nname", &u, &got), TG_STORE_NOT_FOUND);
    ck_assert_ptr_null(strchr(tg_store_errmsg(st), '\n'));
    u = (tg_team_update){.set_tokens = true, .lim.budget_tokens = -3};
    ck_assert_int_eq(tg_store_team_set(st, "ops", &u, &got), TG_STORE_INVALID);
    tg_store_close(st);
}
END_TEST

/* ---------------------------------------------------------------- keys */

static bool is_base62(char c)
{
    return (c >= '0' && c <= '9') || (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z');
}

START_TEST(key_create_and_lookup)
{
    tg_store *st = open_ok();
    add_team(st, "ml");
    char secret[TG_KEY_SECRET_SIZE];
    tg_key k, found;
    ck_assert_int_eq(tg_store_key_create(st, "ml", "ci runner", &lim25, secret,
                                         sizeof secret, &k),
                     TG_STORE_OK);
    ck_assert_int_eq((int)strlen(secret), TG_KEY_SECRET_LEN);
    ck_assert(!strncmp(secret, "tg-", 3));
    for (int i = 3; i < TG_KEY_SECRET_LEN; i++)
        ck_assert(is_base62(secret[i]));
    ck_assert_int_eq((int)strlen(k.id), TG_KEY_ID_LEN);
    ck_assert(!strncmp(k.id, "key_", 4));
    ck_assert(strspn(k.id + 4, "0123456789abcdef") == 12);
    ck_assert(!strncmp(k.prefix, secret, TG_KEY_PREFIX_LEN));
    ck_assert_int_eq((int)strlen(k.prefix), TG_KEY_PREFIX_LEN);
    ck_assert_str_eq(k.team, "ml");
    ck_assert_str_eq(k.revoked_at, "");

    ck_assert_int_eq(tg_store_key_lookup(st, secret, strlen(secret), &found), TG_STORE_OK);
    ck_assert_str_eq(found.id, k.id);
    ck_assert_str_eq(found.team, "ml");
    ck_assert_str_eq(found.name, "ci runner");
    ck_assert(found.lim.budget_nusd == INT64_C(2500000000) && found.team_id == k.team_id);

    /* not NUL-terminated: only len bytes count */
    char padded[TG_KEY_SECRET_SIZE + 4];
    snprintf(padded, sizeof padded, "%sXYZ", secret);
    ck_assert_int_eq(tg_store_key_lookup(st, padded, TG_KEY_SECRET_LEN, &found), TG_STORE_OK);
    ck_assert_int_eq(tg_store_key_lookup(st, padded, strlen(padded), &found),
                     TG_STORE_NOT_FOUND);

    char wrong[TG_KEY_SECRET_SIZE];
    memcpy(wrong, secret, sizeof wrong);
    wrong[TG_KEY_SECRET_LEN - 1] = wrong[TG_KEY_SECRET_LEN - 1] == 'a' ? 'b' : 'a';
    ck_assert_int_eq(tg_store_key_lookup(st, wrong, strlen(wrong), &found), TG_STORE_NOT_FOUND);
    ck_assert_str_eq(tg_store_errmsg(st), "unknown key");
    ck_assert_int_eq(tg_store_key_lookup(st, secret, TG_KEY_SECRET_LEN - 1, &found),
                     TG_STORE_NOT_FOUND);
    ck_assert_int_eq(tg_store_key_lookup(st, k.prefix, strlen(k.prefix), &found),
                     TG_STORE_NOT_FOUND);
    ck_assert_int_eq(tg_store_key_lookup(st, "", 0, &found), TG_STORE_NOT_FOUND);
    ck_assert_int_eq(tg_store_key_lookup(st, NULL, 5, &found), TG_STORE_NOT_FOUND);
    char huge[TG_KEY_SECRET_INPUT_MAX + 2];
    memset(huge, 'x', sizeof huge);
    ck_assert_int_eq(tg_store_key_lookup(st, huge, sizeof huge, &found), TG_STORE_NOT_FOUND);

    ck_assert_int_eq(tg_store_key_get(st, k.id, &found), TG_STORE_OK);
    ck_assert_str_eq(found.prefix, k.prefix);
    ck_assert_int_eq(tg_store_key_get(st, "key_000000000000", &found), TG_STORE_NOT_FOUND);
    ck_assert_int_eq(tg_store_key_get(st, "nonsense", &found), TG_STORE_NOT_FOUND);
    tg_store_close(st);
}
END_TEST

START_TEST(key_create_refusals)
{
    tg_store *st = open_ok();
    add_team(st, "ml");
    char secret[TG_KEY_SECRET_SIZE] = "leftover", tiny[8] = "leftover";
    char label[TG_KEY_LABEL_MAX + 2];
    memset(label, 'l', sizeof label - 1);
    label[sizeof label - 1] = '\0';
    tg_key k;
    ck_assert_int_eq(tg_store_key_create(st, "nope", NULL, NULL, secret,
                                         sizeof secret, &k),
                     TG_STORE_NOT_FOUND);
    ck_assert_str_eq(secret, "");
    ck_assert_str_eq(tg_store_errmsg(st), "no team 'nope'");
    ck_assert_int_eq(tg_store_key_create(st, "ml", NULL, NULL, tiny, sizeof tiny,
                                         &k),
                     TG_STORE_INVALID);
    ck_assert_int_eq(tg_store_key_create(st, "ml", label, NULL, secret,
                                         sizeof secret, &k),
                     TG_STORE_INVALID);
    label[TG_KEY_LABEL_MAX] = '\0'; /* exactly the limit */
    ck_assert_int_eq(tg_store_key_create(st, "ml", label, NULL, secret,
                                         sizeof secret, &k),
                     TG_STORE_OK);
    ck_assert_int_eq(tg_store_key_create(st, "ml", "tab\there", NULL, secret,
                                         sizeof secret, &k),
                     TG_STORE_INVALID);
    ck_assert_int_eq(tg_store_key_create(st, "ml", "", &neg7, secret, sizeof secret, &k),
                     TG_STORE_INVALID);
    ck_assert_int_eq(tg_store_key_create(st, "ml", NULL, &zero, secret, sizeof secret, NULL),
                     TG_STORE_OK);
    tg_store_close(st);
}
END_TEST

/* Key tags: stored and read back through every lookup, split for the policy, and bad
 * lists refused with the tag named. */
START_TEST(key_tags_round_trip_and_refusals)
{
    tg_store *st = open_ok();
    add_team(st, "ml");
    char secret[TG_KEY_SECRET_SIZE];
    tg_key k, got;
    ck_assert_int_eq(tg_store_key_create_tagged(st, "ml", "t", "nightly,eu:west", NULL, secret,
                                                sizeof secret, &k),
                     TG_STORE_OK);
    ck_assert_int_eq(tg_store_key_lookup(st, secret, strlen(secret), &got), TG_STORE_OK);
    ck_assert_str_eq(got.tags, "nightly,eu:west");
    char buf[TG_KEY_TAGS_MAX + 1];
    const char *tags[TG_KEY_MAX_TAGS];
    ck_assert_int_eq(tg_store_key_tags(&got, buf, tags, TG_KEY_MAX_TAGS), 2);
    ck_assert_str_eq(tags[0], "nightly");
    ck_assert_str_eq(tags[1], "eu:west");
    ck_assert_int_eq(tg_store_key_create(st, "ml", NULL, NULL, secret, sizeof secret, &k),
                     TG_STORE_OK);
    ck_assert_str_eq(k.tags, "");
    static const char *const bad[] = {"a b", ",a", "a,", "a,,b", "x/y",
                                      "123456789012345678901234567890123",
                                      "1,2,3,4,5,6,7,8,9,10,11,12,13,14,15,16,17"};
    for (size_t i = 0; i < sizeof bad / sizeof *bad; i++) {
        ck_assert_int_eq(tg_store_key_create_tagged(st, "ml", NULL, bad[i], NULL, secret,
                                                    sizeof secret, &k),
                         TG_STORE_INVALID);
        ck_assert_str_eq(secret, "");
    }
    ck_assert_msg(strstr(tg_store_errmsg(st), "at most 16 tags") != NULL, "%s",
                  tg_store_errmsg(st));
    tg_store_close(st);
}
END_TEST

START_TEST(key_revoke_and_list)
{
    tg_store *st = open_ok();
    add_team(st, "b-team");
    add_team(st, "a-team");
    char s1[TG_KEY_SECRET_SIZE], s2[TG_KEY_SECRET_SIZE], s3[TG_KEY_SECRET_SIZE];
    tg_key k1, k2, k3, got;
    ck_assert_int_eq(tg_store_key_create(st, "b-team", "one", NULL, s1,
                                         sizeof s1, &k1), TG_STORE_OK);
    ck_assert_int_eq(tg_store_key_create(st, "b-team", "two", NULL, s2,
                                         sizeof s2, &k2), TG_STORE_OK);
    ck_assert_int_eq(tg_store_key_create(st, "a-team", NULL, &one, s3, sizeof s3, &k3),
                     TG_STORE_OK);

    ck_assert_int_eq(tg_store_key_revoke(st, k1.id, &got), TG_STORE_OK);
    ck_assert_int_eq((int)strlen(got.revoked_at), TG_STORE_TIME_LEN);
    ck_assert_int_eq(tg_store_key_lookup(st, s1, strlen(s1), &got), TG_STORE_REVOKED);
    ck_assert_str_eq(got.id, k1.id);
    ck_assert_msg(strstr(tg_store_errmsg(st), "revoked") && !strstr(tg_store_errmsg(st), s1),
                  "%s", tg_store_errmsg(st));
    ck_assert_int_eq(tg_store_key_lookup(st, s2, strlen(s2), &got), TG_STORE_OK);
    ck_assert_int_eq(tg_store_key_revoke(st, k1.id, &got), TG_STORE_REVOKED);
    ck_assert_int_eq(tg_store_key_revoke(st, "key_ffffffffffff", &got), TG_STORE_NOT_FOUND);
    ck_assert_str_eq(tg_store_errmsg(st), "no key 'key_ffffffffffff'");
    ck_assert_int_eq(tg_store_key_revoke(st, "x", NULL), TG_STORE_NOT_FOUND);

    tg_key *keys;
    size_t n;
    ck_assert_int_eq(tg_store_key_list(st, NULL, &keys, &n), TG_STORE_OK);
    ck_assert_uint_eq(n, 3);
    ck_assert_str_eq(keys[0].id, k3.id); /* a-team first */
    ck_assert_str_eq(keys[1].id, k1.id);
    ck_assert_str_eq(keys[2].id, k2.id);
    ck_assert(keys[1].revoked_at[0] && !keys[2].revoked_at[0]);
    free(keys);
    ck_assert_int_eq(tg_store_key_list(st, "b-team", &keys, &n), TG_STORE_OK);
    ck_assert_uint_eq(n, 2);
    free(keys);
    add_team(st, "empty");
    ck_assert_int_eq(tg_store_key_list(st, "empty", &keys, &n), TG_STORE_OK);
    ck_assert_uint_eq(n, 0);
    ck_assert_ptr_null(keys);
    ck_assert_int_eq(tg_store_key_list(st, "ghost", &keys, &n), TG_STORE_NOT_FOUND);
    tg_store_close(st);
}
END_TEST

START_TEST(key_set_limits)
{
    tg_store *st = open_ok();
    add_team(st, "t");
    char sec[TG_KEY_SECRET_SIZE];
    tg_key k, got;
    ck_assert_int_eq(tg_store_key_create(st, "t", NULL, NULL, sec, sizeof sec, &k), TG_STORE_OK);
    tg_team_update u = {.set_budget = true, .set_rpm = true, .lim = TG_LIMITS_NONE};
    u.lim.budget_nusd = 7, u.lim.rpm = 9, u.lim.tpm = 11; /* tpm not flagged: unchanged */
    ck_assert_int_eq(tg_store_key_set(st, k.id, &u, &got), TG_STORE_OK);
    ck_assert(got.lim.budget_nusd == 7 && got.lim.rpm == 9 && got.lim.tpm == TG_STORE_UNLIMITED &&
              got.lim.budget_tokens == TG_STORE_UNLIMITED);
    ck_assert_int_eq(tg_store_key_lookup(st, sec, strlen(sec), &got), TG_STORE_OK);
    ck_assert(got.lim.budget_nusd == 7 && got.lim.rpm == 9);
    u = (tg_team_update){.set_budget = true, .lim = TG_LIMITS_NONE}; /* clears it */
    ck_assert_int_eq(tg_store_key_set(st, k.id, &u, &got), TG_STORE_OK);
    ck_assert(got.lim.budget_nusd == TG_STORE_UNLIMITED && got.lim.rpm == 9);
    u.lim.budget_nusd = -5;
    ck_assert_int_eq(tg_store_key_set(st, k.id, &u, NULL), TG_STORE_INVALID);
    u = (tg_team_update){.set_period = true, .lim = TG_LIMITS_NONE};
    ck_assert_int_eq(tg_store_key_set(st, k.id, &u, NULL), TG_STORE_INVALID);
    u.set_period = false;
    ck_assert_int_eq(tg_store_key_set(st, "key_ffffffffffff", &u, NULL), TG_STORE_NOT_FOUND);
    ck_assert_str_eq(tg_store_errmsg(st), "no key 'key_ffffffffffff'");
    ck_assert_int_eq(tg_store_key_set(st, "../x", &u, NULL), TG_STORE_NOT_FOUND);
    tg_store_close(st);
    OPENSSL_cleanse(sec, sizeof sec);
}
END_TEST

START_TEST(key_secret_never_stored)
{
    enum { NKEYS = 20 };
    static char secrets[NKEYS][TG_KEY_SECRET_SIZE];
    uint8_t hash[32];
    unsigned int hlen;
    tg_store *st = open_ok();
    add_team(st, "ml");
    for (int i = 0; i < NKEYS; i++)
        ck_assert_int_eq(tg_store_key_create(st, "ml", "k", NULL, secrets[i],
                                             TG_KEY_SECRET_SIZE, NULL),
                         TG_STORE_OK);
    for (int pass = 0; pass < 2; pass++) { /* pass 0: in the WAL; pass 1: checkpointed */
        for (int i = 0; i < NKEYS; i++) {
            const char *s = secrets[i];
            ck_assert_msg(!store_files_have(s, TG_KEY_SECRET_LEN), "secret %d on disk", i);
            ck_assert_msg(!store_files_have(s + TG_KEY_PREFIX_LEN,
                                            TG_KEY_SECRET_LEN - TG_KEY_PREFIX_LEN),
                          "secret %d's tail on disk", i);
            ck_assert(store_files_have(s, TG_KEY_PREFIX_LEN));
            ck_assert_int_eq(EVP_Digest(s, TG_KEY_SECRET_LEN, hash, &hlen, EVP_sha256(), NULL),
                             1);
            ck_assert_msg(store_files_have(hash, sizeof hash), "hash %d not on disk", i);
        }
        if (pass == 0)
            tg_store_close(st);
    }
    ck_assert_str_eq(raw_query("SELECT count(*) FROM keys WHERE length(hash) = 32"), "20");
}
END_TEST

START_TEST(key_ids_and_secrets_unique)
{
    enum { NKEYS = 300 };
    static char ids[NKEYS][TG_KEY_ID_LEN + 1], secrets[NKEYS][TG_KEY_SECRET_SIZE];
    tg_store *st = open_ok();
    add_team(st, "ml");
    tg_key k;
    for (int i = 0; i < NKEYS; i++) {
        ck_assert_int_eq(tg_store_key_create(st, "ml", NULL, NULL, secrets[i],
                                             TG_KEY_SECRET_SIZE, &k),
                         TG_STORE_OK);
        memcpy(ids[i], k.id, sizeof ids[i]);
    }
    for (int i = 0; i < NKEYS; i++)
        for (int j = i + 1; j < NKEYS; j++) {
            ck_assert_str_ne(ids[i], ids[j]);
            ck_assert_str_ne(secrets[i], secrets[j]);
        }
    for (int i = 0; i < NKEYS; i += 37) {
        ck_assert_int_eq(tg_store_key_lookup(st, secrets[i], TG_KEY_SECRET_LEN, &k),
                         TG_STORE_OK);
        ck_assert_str_eq(k.id, ids[i]);
    }
    tg_store_close(st);
}
END_TEST

/* ---------------------------------------------------------------- concurrency */

START_TEST(two_handles_share_the_file)
{
    tg_store *a = open_ok(), *b = open_ok();
    char secret[TG_KEY_SECRET_SIZE];
    tg_team t;
    tg_key k;
    add_team(a, "shared");
    ck_assert_int_eq(tg_store_team_get(b, "shared", &t), TG_STORE_OK);
    ck_assert_int_eq(tg_store_key_create(b, "shared", NULL, NULL, secret,
                                         sizeof secret, NULL),
                     TG_STORE_OK);
    ck_assert_int_eq(tg_store_key_lookup(a, secret, strlen(secret), &k), TG_STORE_OK);
    tg_team dup = team_spec("shared", 0, 0, TG_PERIOD_DAY);
    ck_assert_int_eq(tg_store_team_add(b, &dup), TG_STORE_EXISTS);
    ck_assert_int_eq(tg_store_key_revoke(a, k.id, NULL), TG_STORE_OK);
    ck_assert_int_eq(tg_store_key_lookup(b, secret, strlen(secret), &k), TG_STORE_REVOKED);
    tg_store_close(a);
    tg_store_close(b);
    ck_assert_str_eq(raw_query("PRAGMA journal_mode"), "wal");
}
END_TEST

/* Each thread opens its own handle (racing the first open's migration) and writes. */
static void *writer(void *arg)
{
    long id = (long)arg;
    tg_store *st = NULL;
    char err[TG_STORE_ERR_SIZE], name[32], secret[TG_KEY_SECRET_SIZE];
    if (tg_store_open(dburl, &st, err, sizeof err) != TG_STORE_OK) {
        fprintf(stderr, "thread %ld: open: %s\n", id, err);
        return (void *)1;
    }
    for (int i = 0; i < TEAMS_PER_THREAD; i++) {
        snprintf(name, sizeof name, "t%ld-%d", id, i);
        tg_team t = team_spec(name, i, TG_STORE_UNLIMITED, TG_PERIOD_DAY);
        tg_key k;
        if (tg_store_team_add(st, &t) != TG_STORE_OK ||
            tg_store_key_create(st, name, NULL, NULL, secret, sizeof secret,
                                NULL) != TG_STORE_OK ||
            tg_store_key_lookup(st, secret, strlen(secret), &k) != TG_STORE_OK) {
            fprintf(stderr, "thread %ld: %s\n", id, tg_store_errmsg(st));
            tg_store_close(st);
            return (void *)1;
        }
    }
    tg_store_close(st);
    return NULL;
}

START_TEST(concurrent_writers)
{
    pthread_t th[THREADS];
    for (long i = 0; i < THREADS; i++)
        ck_assert_int_eq(pthread_create(&th[i], NULL, writer, (void *)i), 0);
    for (int i = 0; i < THREADS; i++) {
        void *ret;
        ck_assert_int_eq(pthread_join(th[i], &ret), 0);
        ck_assert_ptr_null(ret);
    }
    tg_store *st = open_ok();
    tg_team *teams;
    tg_key *keys;
    size_t n;
    ck_assert_int_eq(tg_store_team_list(st, &teams, &n), TG_STORE_OK);
    ck_assert_uint_eq(n, THREADS * TEAMS_PER_THREAD);
    free(teams);
    ck_assert_int_eq(tg_store_key_list(st, NULL, &keys, &n), TG_STORE_OK);
    ck_assert_uint_eq(n, THREADS * TEAMS_PER_THREAD);
    free(keys);
    tg_store_close(st);
    ck_assert_str_eq(raw_query("SELECT count(*) FROM schema_version"), SCHEMA_NOW_STR);
}
END_TEST

START_TEST(records_insert_batch)
{
    tg_store *st = open_ok();
    tg_record recs[3];
    memset(recs, 0, sizeof recs);
    for (int i = 0; i < 3; i++) {
        snprintf(recs[i].id, sizeof recs[i].id, "req_%d", i);
        recs[i].ts_us = 1700000000000000 + i;
        snprintf(recs[i].team, sizeof recs[i].team, "ml");
        recs[i].input_tokens = 10 + i;
        recs[i].ttfb_us = i == 1 ? -1 : 500;
    }
    int64_t n = -1;
    ck_assert_int_eq(tg_store_records_insert(st, recs, 3), TG_STORE_OK);
    ck_assert_int_eq(tg_store_records_count(st, &n), TG_STORE_OK);
    ck_assert_int_eq(n, 3);
    /* the same request id and attempt again replaces, never duplicates */
    ck_assert_int_eq(tg_store_records_insert(st, recs, 1), TG_STORE_OK);
    ck_assert_int_eq(tg_store_records_count(st, &n), TG_STORE_OK);
    ck_assert_int_eq(n, 3);
    ck_assert_int_eq(tg_store_records_insert(st, recs, 0), TG_STORE_OK);
    tg_store_close(st);
    ck_assert_str_eq(raw_query("SELECT sum(input_tokens) FROM requests"), "33");
    ck_assert_str_eq(raw_query("SELECT count(*) FROM requests WHERE ttfb_us IS NULL"), "1");
}
END_TEST

START_TEST(limits_round_trip)
{
    tg_store *st = open_ok();
    tg_team t = team_spec("ml", INT64_C(10000000000), 5000, TG_PERIOD_WEEK), got;
    t.lim.budget_requests = 100;
    t.lim.rpm = 60;
    t.lim.tpm = 0;
    ck_assert_int_eq(tg_store_team_add(st, &t), TG_STORE_OK);
    ck_assert_int_eq(tg_store_team_get(st, "ml", &got), TG_STORE_OK);
    ck_assert(got.lim.budget_requests == 100 && got.lim.rpm == 60 && got.lim.tpm == 0);

    tg_team_update u = {.set_requests = true, .set_tpm = true, .lim = TG_LIMITS_NONE};
    u.lim.tpm = 9000;
    ck_assert_int_eq(tg_store_team_set(st, "ml", &u, &got), TG_STORE_OK);
    ck_assert(got.lim.budget_requests == TG_STORE_UNLIMITED && got.lim.rpm == 60);
    ck_assert(got.lim.tpm == 9000 && got.lim.budget_tokens == 5000);
    u = (tg_team_update){.set_rpm = true, .lim = TG_LIMITS_NONE};
    u.lim.rpm = -2;
    ck_assert_int_eq(tg_store_team_set(st, "ml", &u, &got), TG_STORE_INVALID);

    tg_limits kl = {INT64_C(1000000000), 700, 7, 3, 300};
    char secret[TG_KEY_SECRET_SIZE];
    tg_key k, found;
    ck_assert_int_eq(tg_store_key_create(st, "ml", "k", &kl, secret, sizeof secret, &k),
                     TG_STORE_OK);
    ck_assert_int_eq(tg_store_key_lookup(st, secret, strlen(secret), &found), TG_STORE_OK);
    ck_assert(memcmp(&found.lim, &kl, sizeof kl) == 0);
    ck_assert(found.team_lim.budget_nusd == INT64_C(10000000000));
    ck_assert(found.team_lim.rpm == 60 && found.team_lim.tpm == 9000);
    ck_assert(found.team_lim.budget_requests == TG_STORE_UNLIMITED);
    ck_assert_int_eq(found.period, TG_PERIOD_WEEK);
    kl.tpm = -1 - 1;
    ck_assert_int_eq(tg_store_key_create(st, "ml", "k", &kl, secret, sizeof secret, &k),
                     TG_STORE_INVALID);
    tg_store_close(st);
}
END_TEST

static tg_record ledger_rec(const char *id, int64_t ts_us, const char *key, tg_record_state state,
                            int64_t reserved, int64_t cost)
{
    tg_record r = {.attempt = 1, .ts_us = ts_us, .state = state, .reserved_nusd = reserved,
                   .reserved_tokens = 100, .cost_nusd = cost, .input_tokens = 20,
                   .output_tokens = 5, .ttfb_us = -1};
    snprintf(r.id, sizeof r.id, "%s", id);
    snprintf(r.team, sizeof r.team, "ml");
    snprintf(r.key_id, sizeof r.key_id, "%s", key);
    return r;
}

/* The ledger: a reservation row replaced by its settlement, recovery of rows left
 * reserved, and spend per (team, key, day) by state. */
START_TEST(ledger_states_and_recovery)
{
    tg_store *st = open_ok();
    const int64_t day0 = INT64_C(1764547200000000); /* 2025-12-01T00:00:00Z */
    const int64_t h = INT64_C(3600000000);
    tg_record recs[] = {
        ledger_rec("a", day0 + h, "key_a", TG_RECORD_RESERVED, 1000, 0),
        ledger_rec("b", day0 + 2 * h, "key_a", TG_RECORD_RESERVED, 2000, 0),
        ledger_rec("c", day0 + 3 * h, "key_b", TG_RECORD_RESERVED, 4000, 0),
        ledger_rec("d", day0 + 25 * h, "key_a", TG_RECORD_RECORDED, 0, 30),
        ledger_rec("e", day0 - h, "key_a", TG_RECORD_SETTLED, 9, 9), /* before `since` */
    };
    snprintf(recs[0].rule, sizeof recs[0].rule, "cheap-first");
    snprintf(recs[0].policy_version, sizeof recs[0].policy_version, "p7");
    snprintf(recs[0].price_version, sizeof recs[0].price_version, "2024-07-18");
    ck_assert_int_eq(tg_store_records_insert(st, recs, 5), TG_STORE_OK);
    /* reservations live in their own table until settled; a read finds them there */
    ck_assert_str_eq(raw_query("SELECT count(*) FROM reservations"), "3");
    ck_assert_str_eq(raw_query("SELECT count(*) FROM requests"), "2");
    tg_record got;
    ck_assert_int_eq(tg_store_record_get(st, "c", 1, &got), TG_STORE_OK);
    ck_assert(got.state == TG_RECORD_RESERVED && got.reserved_nusd == 4000 && !got.reconcile);
    tg_spend_row *rows;
    size_t nrows;
    ck_assert_int_eq(tg_store_spend_by_day(st, day0, 0, &rows, &nrows), TG_STORE_OK);
    int64_t held = 0;
    for (size_t i = 0; i < nrows; i++)
        held += rows[i].charged_nusd;
    ck_assert(nrows == 3 && held == 1000 + 2000 + 4000 + 30); /* reserved ones count */
    free(rows);
    tg_record settled = recs[0], rel = recs[1];
    settled.state = TG_RECORD_SETTLED;
    settled.cost_nusd = 1500;
    settled.cost_input_nusd = 500;
    settled.cost_output_nusd = 1000;
    settled.overshoot = true;
    rel.state = TG_RECORD_RELEASED;
    tg_record fin[] = {settled, rel};
    ck_assert_int_eq(tg_store_records_insert(st, fin, 2), TG_STORE_OK);
    /* a settlement (or release) is the request's row; it ends the reservation (still in
     * its slot until reused: only "c" is in flight now) */
    ck_assert_str_eq(raw_query("SELECT group_concat(id) FROM reservations r WHERE NOT EXISTS"
                               " (SELECT 1 FROM requests q WHERE q.id = r.id"
                               " AND q.attempt = r.attempt)"), "c");
    int64_t top = -1;
    ck_assert_int_eq(tg_store_reservation_slots(st, &top), TG_STORE_OK);
    ck_assert(top == 3); /* slot 0 asked for a new one each time */
    tg_record again = recs[2]; /* a reservation into slot 1 overwrites the settled "a" */
    snprintf(again.id, sizeof again.id, "f");
    again.slot = 1;
    ck_assert_int_eq(tg_store_records_insert(st, &again, 1), TG_STORE_OK);
    ck_assert_str_eq(raw_query("SELECT group_concat(id, ',') FROM reservations"), "f,b,c");
    ck_assert_int_eq(tg_store_record_get(st, "f", 1, &got), TG_STORE_OK);
    ck_assert(got.state == TG_RECORD_RESERVED && got.slot == 1);
    again.state = TG_RECORD_RELEASED;
    ck_assert_int_eq(tg_store_records_insert(st, &again, 1), TG_STORE_OK);
    ck_assert_str_eq(raw_query("SELECT count(*) FROM requests WHERE id IN ('a', 'b')"), "2");
    ck_assert_int_eq(tg_store_record_get(st, "a", 1, &got), TG_STORE_OK);
    ck_assert_int_eq(got.state, TG_RECORD_SETTLED);
    ck_assert(got.cost_nusd == 1500 && got.reserved_nusd == 1000 && got.overshoot);
    ck_assert(got.cost_input_nusd == 500 && got.cost_output_nusd == 1000 && !got.reconcile);
    ck_assert_str_eq(got.rule, "cheap-first");
    ck_assert_str_eq(got.policy_version, "p7");
    ck_assert_str_eq(got.price_version, "2024-07-18");
    ck_assert_int_eq(got.ttfb_us, -1);
    ck_assert_int_eq(tg_store_record_get(st, "a", 2, &got), TG_STORE_NOT_FOUND);

    int64_t n = -1;
    ck_assert_int_eq(tg_store_ledger_recover(st, &n), TG_STORE_OK);
    ck_assert_int_eq(n, 1); /* only "c" was still reserved */
    ck_assert_int_eq(tg_store_record_get(st, "c", 1, &got), TG_STORE_OK);
    ck_assert(got.state == TG_RECORD_UNSETTLED && got.reconcile && got.reserved_nusd == 4000);
    ck_assert_str_eq(raw_query("SELECT count(*) FROM reservations"), "0");
    ck_assert_int_eq(tg_store_ledger_recover(st, &n), TG_STORE_OK);
    ck_assert_int_eq(n, 0);

    ck_assert_int_eq(tg_store_spend_by_day(st, day0, 0, &rows, &nrows), TG_STORE_OK);
    ck_assert_uint_eq(nrows, 3);
    int64_t day = day0 / INT64_C(86400000000);
    for (size_t i = 0; i < nrows; i++) {
        tg_spend_row *r = &rows[i];
        if (!strcmp(r->key_id, "key_a") && r->day == day) /* a settled, b released */
            ck_assert(r->charged_nusd == 1500 && r->charged_tokens == 25 && r->requests == 1);
        else if (!strcmp(r->key_id, "key_b")) /* c unsettled: its reservation */
            ck_assert(r->charged_nusd == 4000 && r->charged_tokens == 100 && r->requests == 1);
        else /* d, recorded, the next day */
            ck_assert(r->day == day + 1 && r->charged_nusd == 30 && r->requests == 1);
    }
    free(rows);
    /* on a calendar 2 h west of UTC, "a" (01:00Z) falls on the day before */
    ck_assert_int_eq(tg_store_spend_by_day(st, day0 - 2 * h, -7200, &rows, &nrows),
                     TG_STORE_OK);
    bool saw_prev = false;
    for (size_t i = 0; i < nrows; i++)
        if (!strcmp(rows[i].key_id, "key_a") && rows[i].day == day - 1)
            saw_prev = rows[i].charged_nusd == 1500 + 9;
    ck_assert(saw_prev);
    free(rows);
    ck_assert_int_eq(tg_store_spend_by_day(st, 0, 19 * 3600, &rows, &nrows), TG_STORE_INVALID);
    tg_store_close(st);
}
END_TEST

/* tg_sha256 (key hashes) against the FIPS 180-2 vectors, from two threads at once (each
 * keeps its own context). */
static void *sha_thread(void *arg __attribute__((unused)))
{
    static const char *const want[] = {
        "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad",
        "248d6a61d20638b8e5c026930c3e6039a33ce45964ff2167f6ecedd419db06c1",
    };
    static const char *const in[] = {
        "abc", "abcdbcdecdefdefgefghfghighijhijkijkljklmklmnlmnomnopnopq"};
    for (int round = 0; round < 1000; round++) {
        int i = round % 2;
        unsigned char md[TG_SHA256_LEN];
        char hex[2 * TG_SHA256_LEN + 1];
        if (tg_sha256(in[i], strlen(in[i]), md) != 0)
            return (void *)"failed";
        for (int k = 0; k < TG_SHA256_LEN; k++)
            snprintf(hex + 2 * k, 3, "%02x", md[k]);
        if (strcmp(hex, want[i]) != 0)
            return (void *)"wrong digest";
    }
    return NULL;
}

START_TEST(sha256_vectors)
{
    pthread_t t[2];
    for (int i = 0; i < 2; i++)
        ck_assert_int_eq(pthread_create(&t[i], NULL, sha_thread, NULL), 0);
    for (int i = 0; i < 2; i++) {
        void *res;
        pthread_join(t[i], &res);
        ck_assert_msg(res == NULL, "%s", (const char *)res);
    }
}
END_TEST

/* A claiming handle writes its reservations into the slot file beside the ledger (the
 * ledger's own table stays empty), within the room made for them, sees them itself,
 * settles them into the ledger, counts slots over both; another handle's recovery moves
 * what it left in flight once it is closed.  An in-memory store has no such file. */
START_TEST(claimed_reservations_file)
{
    tg_store *mem = NULL;
    char err[TG_STORE_ERR_SIZE];
    ck_assert_int_eq(tg_store_open("sqlite::memory:", &mem, err, sizeof err), TG_STORE_OK);
    ck_assert_int_eq(tg_store_claim_reservations(mem), TG_STORE_INVALID);
    ck_assert_int_eq(tg_store_reservation_room(mem, 10), TG_STORE_INVALID);
    tg_store_close(mem);
    tg_store *st = open_ok(), *cl = open_ok();
    ck_assert_int_eq(tg_store_claim_reservations(cl), TG_STORE_OK);
    const int64_t day0 = INT64_C(1764547200000000);
    tg_record recs[] = {
        ledger_rec("a", day0, "key_a", TG_RECORD_RESERVED, 1000, 0),
        ledger_rec("b", day0, "key_a", TG_RECORD_RESERVED, 2000, 0),
    };
    recs[0].slot = 4, recs[1].slot = 9;
    ck_assert_int_eq(tg_store_reservation_room(cl, 9), TG_STORE_OK);
    ck_assert_int_eq(tg_store_reservation_put(st, &recs[0]), TG_STORE_INVALID); /* no file */
    ck_assert_int_eq(tg_store_reservation_put(cl, &recs[0]), TG_STORE_OK);
    ck_assert_int_eq(tg_store_records_insert(cl, &recs[1], 1), TG_STORE_OK);
    tg_record far = recs[1];
    far.slot = TG_SLOTS_MAX; /* beyond any room: refused, nothing written */
    ck_assert_int_eq(tg_store_reservation_put(cl, &far), TG_STORE_ERROR);
    ck_assert_ptr_nonnull(strstr(tg_store_errmsg(cl), "-inflight"));
    ck_assert_str_eq(raw_query("SELECT count(*) FROM reservations"), "0");
    tg_record got;
    ck_assert_int_eq(tg_store_record_get(cl, "b", 1, &got), TG_STORE_OK);
    ck_assert(got.state == TG_RECORD_RESERVED && got.slot == 9 && got.reserved_nusd == 2000);
    ck_assert_int_eq(tg_store_record_get(st, "b", 1, &got), TG_STORE_NOT_FOUND);
    int64_t top = 0;
    ck_assert_int_eq(tg_store_reservation_slots(cl, &top), TG_STORE_OK);
    ck_assert_int_eq(top, 9);
    tg_record fin = recs[0];
    fin.state = TG_RECORD_SETTLED;
    fin.cost_nusd = 600;
    ck_assert_int_eq(tg_store_records_insert(cl, &fin, 1), TG_STORE_OK);
    ck_assert_int_eq(tg_store_record_get(st, "a", 1, &got), TG_STORE_OK);
    ck_assert(got.state == TG_RECORD_SETTLED && got.cost_nusd == 600);
    tg_store_close(cl); /* as a process that dies with "b" in flight */
    int64_t n = -1;
    ck_assert_int_eq(tg_store_ledger_recover(st, &n), TG_STORE_OK);
    ck_assert_int_eq(n, 1);
    ck_assert_int_eq(tg_store_record_get(st, "b", 1, &got), TG_STORE_OK);
    ck_assert(got.state == TG_RECORD_UNSETTLED && got.reconcile && got.reserved_nusd == 2000);
    ck_assert_int_eq(tg_store_ledger_recover(st, &n), TG_STORE_OK);
    ck_assert_int_eq(n, 0);
    tg_store_close(st);
}
END_TEST

/* ------------------------------------------------------------- the reservation blob */

static int64_t db_int(sqlite3 *db, const char *sql);

/* A record with every field set, strings at their longest, numbers at their extremes. */
static tg_record full_record(void)
{
    tg_record r;
    memset(&r, 0, sizeof r); /* padding and string tails too: the records are memcmp'd */
    memset(r.id, 'i', sizeof r.id - 1);
    memset(r.team, 't', sizeof r.team - 1);
    memset(r.key_id, 'k', sizeof r.key_id - 1);
    snprintf(r.provider, sizeof r.provider, "openai-eu");
    snprintf(r.requested_model, sizeof r.requested_model, "gpt-4o-mini");
    memset(r.model, 'm', sizeof r.model - 1);
    snprintf(r.endpoint, sizeof r.endpoint, "chat_completions");
    snprintf(r.rule, sizeof r.rule, "cheap-first");
    snprintf(r.policy_version, sizeof r.policy_version, "p-7");
    snprintf(r.price_version, sizeof r.price_version, "2026-11-30");
    r.attempt = INT32_MAX, r.ts_us = INT64_MAX, r.est_input_tokens = INT64_MIN;
    r.input_tokens = 1, r.cached_input_tokens = -1, r.cache_write_tokens = 63;
    r.output_tokens = -64, r.reasoning_tokens = 64, r.usage_estimated = true;
    r.status = 429, r.upstream_status = INT32_MIN, r.latency_us = 123456789;
    r.ttfb_us = -1, r.streamed = true, r.client_aborted = false;
    r.state = TG_RECORD_RESERVED, r.reconcile = true, r.overshoot = true;
    r.reserved_nusd = INT64_C(9007199254740993), r.reserved_tokens = 4096;
    r.cost_nusd = 1, r.cost_input_nusd = 2, r.cost_cached_nusd = 3;
    r.cost_cache_write_nusd = 4, r.cost_output_nusd = INT64_MAX - 1;
    return r;
}

/* A record packs and unpacks to itself (the slot aside), within TG_RECORD_PACKED_MAX; an
 * empty one too. */
START_TEST(record_codec_round_trip)
{
    tg_record in = full_record(), out;
    in.slot = 0;
    uint8_t buf[TG_RECORD_PACKED_MAX];
    size_t n = tg_record_pack(&in, buf);
    ck_assert_uint_le(n, TG_RECORD_PACKED_MAX);
    ck_assert_int_eq(tg_record_unpack(buf, n, &out), 0);
    ck_assert_int_eq(memcmp(&in, &out, sizeof in), 0);
    tg_record empty;
    memset(&empty, 0, sizeof empty);
    n = tg_record_pack(&empty, buf);
    ck_assert_uint_eq(n, 1 + 10 + TG_RECORD_CODEC_NUMS);
    ck_assert_int_eq(tg_record_unpack(buf, n, &out), 0);
    ck_assert_int_eq(memcmp(&empty, &out, sizeof empty), 0);
}
END_TEST

/* Anything but exactly a version-1 record is refused: every truncation, a byte more,
 * another version, a string too long for its field or holding a NUL, an 11-byte varint, a
 * flag of 2, an unknown state, an attempt beyond int. */
START_TEST(record_codec_rejects)
{
    tg_record r, out;
    memset(&r, 0, sizeof r);
    uint8_t buf[TG_RECORD_PACKED_MAX + 16], bad[TG_RECORD_PACKED_MAX + 16];
    size_t n = tg_record_pack(&r, buf); /* 1 + 10 empty strings + 25 one-byte zeros */
    for (size_t k = 0; k < n; k++)
        ck_assert_msg(tg_record_unpack(buf, k, &out) != 0, "a %zu-byte prefix", k);
    buf[n] = 0;
    ck_assert_int_ne(tg_record_unpack(buf, n + 1, &out), 0);
    memcpy(bad, buf, n);
    bad[0] = 2;
    ck_assert_int_ne(tg_record_unpack(bad, n, &out), 0);
    /* id (the first string) of 40 bytes: its field holds 39 */
    bad[0] = 1, bad[1] = 40;
    memset(bad + 2, 'x', 40);
    memcpy(bad + 42, buf + 2, n - 2);
    ck_assert_int_ne(tg_record_unpack(bad, n + 40, &out), 0);
    bad[1] = 39; /* 39 fit: the same bytes less one are a record */
    memcpy(bad + 41, buf + 2, n - 2);
    ck_assert_int_eq(tg_record_unpack(bad, n + 39, &out), 0);
    ck_assert_uint_eq(strlen(out.id), 39);
    bad[20] = '\0';
    ck_assert_int_ne(tg_record_unpack(bad, n + 39, &out), 0);
    /* the numbers start at 11: attempt, ts_us, ... */
    size_t at = 11;
    memcpy(bad, buf, n);
    memset(bad + at, 0x80, 10), bad[at + 10] = 0; /* 11 bytes */
    memcpy(bad + at + 11, buf + at + 1, n - at - 1);
    ck_assert_int_ne(tg_record_unpack(bad, n + 10, &out), 0);
    memcpy(bad, buf, n);
    bad[at + 8] = 4; /* usage_estimated = 2 (zigzag 4) */
    ck_assert_int_ne(tg_record_unpack(bad, n, &out), 0);
    bad[at + 8] = 2; /* = 1 */
    ck_assert_int_eq(tg_record_unpack(bad, n, &out), 0);
    ck_assert(out.usage_estimated);
    memcpy(bad, buf, n);
    bad[at + 15] = 2 * (TG_RECORD_UNSETTLED + 1); /* state one past the last */
    ck_assert_int_ne(tg_record_unpack(bad, n, &out), 0);
    bad[at + 15] = 2 * TG_RECORD_UNSETTLED;
    ck_assert_int_eq(tg_record_unpack(bad, n, &out), 0);
    ck_assert(out.state == TG_RECORD_UNSETTLED);
    /* attempt = 2^31 (zigzag 2^32: five bytes) */
    memcpy(bad, buf, at);
    memcpy(bad + at, (uint8_t[]){0x80, 0x80, 0x80, 0x80, 0x10}, 5);
    memcpy(bad + at + 5, buf + at + 1, n - at - 1);
    ck_assert_int_ne(tg_record_unpack(bad, n + 4, &out), 0);
    ck_assert_int_ne(tg_record_unpack(NULL, 0, &out), 0);
}
END_TEST

/* The SQLite reservations files of older builds (the wide table; the blob table) still
 * give up their reservations in flight to recovery; a claim then writes the slot file,
 * whose reservations the next recovery moves. */
START_TEST(legacy_reservations_file_recovered)
{
    tg_store *st = open_ok();
    char resv[PATH_SIZE + 16];
    snprintf(resv, sizeof resv, "%s-reservations", dbpath);
    sqlite3 *db;
    ck_assert_int_eq(sqlite3_open(resv, &db), SQLITE_OK);
    char *sql = sqlite3_mprintf(
        "PRAGMA journal_mode = WAL; ATTACH %Q AS l;"
        "CREATE TABLE main.reservations AS SELECT * FROM l.reservations WHERE 0;"
        "INSERT INTO main.reservations (" "slot, id, attempt, ts_us, team, key_id, provider,"
        " requested_model, model, endpoint, est_input_tokens, input_tokens,"
        " cached_input_tokens, cache_write_tokens, output_tokens, reasoning_tokens,"
        " usage_estimated, status, upstream_status, latency_us, ttfb_us, streamed,"
        " client_aborted, state, reconcile, overshoot, rule, policy_version, price_version,"
        " reserved_nusd, reserved_tokens, cost_nusd, cost_input_nusd, cost_cached_nusd,"
        " cost_cache_write_nusd, cost_output_nusd) VALUES (7, 'old_1', 1,"
        " 1764547200000000, 'ml', 'key_a', 'openai', 'm', 'm', 'chat_completions', 10, 0, 0,"
        " 0, 0, 0, 1, 0, 0, 0, -1, 0, 0, 'reserved', 0, 0, '', '', '', 3300, 40, 0, 0, 0, 0,"
        " 0); DETACH l;"
        "CREATE TABLE inflight (slot INTEGER PRIMARY KEY, rec BLOB NOT NULL)", dbpath);
    ck_assert_int_eq(sqlite3_exec(db, sql, NULL, NULL, NULL), SQLITE_OK);
    sqlite3_free(sql);
    tg_record blob = ledger_rec("old_2", INT64_C(1764547200000000), "key_a",
                                TG_RECORD_RESERVED, 4400, 0);
    uint8_t packed[TG_RECORD_PACKED_MAX];
    size_t plen = tg_record_pack(&blob, packed);
    sqlite3_stmt *ins;
    ck_assert_int_eq(sqlite3_prepare_v2(db, "INSERT INTO inflight VALUES (8, ?1)", -1, &ins,
                                        NULL), SQLITE_OK);
    sqlite3_bind_blob(ins, 1, packed, (int)plen, SQLITE_STATIC);
    ck_assert_int_eq(sqlite3_step(ins), SQLITE_DONE);
    sqlite3_finalize(ins);
    sqlite3_close(db);
    int64_t n = 0;
    ck_assert_int_eq(tg_store_ledger_recover(st, &n), TG_STORE_OK);
    ck_assert_int_eq(n, 2);
    tg_record got;
    ck_assert_int_eq(tg_store_record_get(st, "old_1", 1, &got), TG_STORE_OK);
    ck_assert(got.state == TG_RECORD_UNSETTLED && got.reconcile && got.reserved_nusd == 3300);
    ck_assert_int_eq(tg_store_record_get(st, "old_2", 1, &got), TG_STORE_OK);
    ck_assert(got.state == TG_RECORD_UNSETTLED && got.reserved_nusd == 4400);
    tg_store *cl = open_ok();
    ck_assert_int_eq(tg_store_claim_reservations(cl), TG_STORE_OK);
    tg_record r = ledger_rec("new_1", INT64_C(1764547200000000), "key_a",
                             TG_RECORD_RESERVED, 500, 0);
    r.slot = 3;
    ck_assert_int_eq(tg_store_reservation_room(cl, 3), TG_STORE_OK);
    ck_assert_int_eq(tg_store_records_insert(cl, &r, 1), TG_STORE_OK);
    int64_t top = 0;
    ck_assert_int_eq(tg_store_reservation_slots(cl, &top), TG_STORE_OK);
    ck_assert_int_eq(top, 3);
    tg_store_close(cl);
    ck_assert_int_eq(tg_store_ledger_recover(st, &n), TG_STORE_OK);
    ck_assert_int_eq(n, 1);
    ck_assert_int_eq(tg_store_record_get(st, "new_1", 1, &got), TG_STORE_OK);
    ck_assert(got.state == TG_RECORD_UNSETTLED && got.reserved_nusd == 500);
    tg_store_close(st);
}
END_TEST

/* A whole entry (its checksum holds) whose record this build cannot read (a newer
 * version) stops recovery with an error naming the file and the slot, and changes
 * nothing: the entry stays for a person to see. */
START_TEST(unreadable_reservation_refused)
{
    tg_store *st = open_ok(), *cl = open_ok();
    ck_assert_int_eq(tg_store_claim_reservations(cl), TG_STORE_OK);
    tg_record r = ledger_rec("b1", INT64_C(1764547200000000), "key_a", TG_RECORD_RESERVED,
                             500, 0);
    r.slot = 5;
    ck_assert_int_eq(tg_store_reservation_room(cl, 5), TG_STORE_OK);
    ck_assert_int_eq(tg_store_reservation_put(cl, &r), TG_STORE_OK);
    tg_store_close(cl);
    char path[PATH_SIZE + 16], err[256];
    snprintf(path, sizeof path, "%s-inflight", dbpath);
    tg_slots *sl;
    ck_assert_int_eq(tg_slots_open(path, false, &sl, err, sizeof err), 0);
    uint8_t packed[TG_RECORD_PACKED_MAX];
    size_t len = tg_record_pack(&r, packed);
    packed[0] = 2; /* a codec version this build does not know */
    ck_assert_int_eq(tg_slots_put(sl, 5, packed, len), 0);
    tg_slots_close(sl);
    int64_t n = -1;
    ck_assert_int_eq(tg_store_ledger_recover(st, &n), TG_STORE_ERROR);
    ck_assert_int_eq(n, 0);
    const char *e = tg_store_errmsg(st);
    ck_assert_msg(strstr(e, "-inflight") && strstr(e, "slot 5") && strstr(e, "version-1"),
                  "%s", e);
    ck_assert_str_eq(raw_query("SELECT count(*) FROM requests"), "0");
    ck_assert_int_eq(tg_slots_open(path, false, &sl, err, sizeof err), 0);
    ck_assert_int_eq(tg_slots_highest(sl), 5);
    tg_slots_close(sl);
    tg_store_close(st);
}
END_TEST

/* ------------------------------------------------------------- the WAL shim */

static void db_exec(sqlite3 *db, const char *sql)
{
    char *err = NULL;
    int rc = sqlite3_exec(db, sql, NULL, NULL, &err);
    ck_assert_msg(rc == SQLITE_OK, "%s: %s", sql, err ? err : "?");
}

static int64_t db_int(sqlite3 *db, const char *sql)
{
    sqlite3_stmt *s;
    ck_assert_int_eq(sqlite3_prepare_v2(db, sql, -1, &s, NULL), SQLITE_OK);
    ck_assert_int_eq(sqlite3_step(s), SQLITE_ROW);
    int64_t v = sqlite3_column_int64(s, 0);
    sqlite3_finalize(s);
    return v;
}

/* Through the shim, every commit is in the file when COMMIT returns: a second connection
 * on the default VFS (reading the WAL from the file) sees each one at once, small ones
 * and large ones whose pages spill mid-transaction and are overwritten (SQLite then
 * rewrites frame headers out of order).  And the shim did gather: fewer pwrites than
 * writes. */
START_TEST(walbuf_commits_reach_the_file)
{
    ck_assert_int_eq(tg_walbuf_register(), SQLITE_OK);
    char path[600];
    snprintf(path, sizeof path, "%s/wb.db", tmpdir);
    sqlite3 *a, *b;
    int rw = SQLITE_OPEN_READWRITE | SQLITE_OPEN_CREATE;
    ck_assert_int_eq(sqlite3_open_v2(path, &a, rw, TG_WALBUF_VFS), SQLITE_OK);
    db_exec(a, "PRAGMA journal_mode = WAL; PRAGMA synchronous = NORMAL; PRAGMA cache_size = 8;"
               "CREATE TABLE t (k INTEGER PRIMARY KEY, v BLOB NOT NULL)");
    ck_assert_int_eq(sqlite3_open_v2(path, &b, SQLITE_OPEN_READWRITE, NULL), SQLITE_OK);
    tg_walbuf_stats s0, s1;
    tg_walbuf_stats_get(&s0);
    int64_t rows = 0, bytes = 0;
    for (int i = 0; i < 240; i++) {
        char sql[256];
        if (i % 40 == 39) { /* every row rewritten twice: spills and overwritten frames */
            int len = 900 + i % 7;
            snprintf(sql, sizeof sql, "BEGIN; UPDATE t SET v = randomblob(%d);"
                     "UPDATE t SET v = randomblob(%d); COMMIT", len - 1, len);
            bytes = rows * len;
        } else {
            int n = 1 + i % 5, len = 100 + i;
            snprintf(sql, sizeof sql, "BEGIN; WITH RECURSIVE c(x) AS (SELECT 1 UNION ALL "
                     "SELECT x + 1 FROM c WHERE x < %d) INSERT INTO t (v) SELECT "
                     "randomblob(%d) FROM c; COMMIT", n, len);
            rows += n, bytes += (int64_t)n * len;
        }
        db_exec(a, sql);
        ck_assert_int_eq(db_int(b, "SELECT count(*) FROM t"), rows);
        ck_assert_int_eq(db_int(b, "SELECT total(length(v)) FROM t"), bytes);
    }
    tg_walbuf_stats_get(&s1);
    ck_assert_msg(s1.flushes - s0.flushes < (s1.writes - s0.writes) / 2,
                  "%llu pwrites for %llu writes", (unsigned long long)(s1.flushes - s0.flushes),
                  (unsigned long long)(s1.writes - s0.writes));
    sqlite3_close(a);
    sqlite3_stmt *s;
    ck_assert_int_eq(sqlite3_prepare_v2(b, "PRAGMA integrity_check", -1, &s, NULL), SQLITE_OK);
    ck_assert_int_eq(sqlite3_step(s), SQLITE_ROW);
    ck_assert_str_eq((const char *)sqlite3_column_text(s, 0), "ok");
    sqlite3_finalize(s);
    sqlite3_close(b);
}
END_TEST

/* kill -9 right after writes: each reservation a child reported written (into the slot
 * file's map) is found by recovery, and each record it reported committed (through the WAL
 * shim) is in the ledger. */
START_TEST(writes_survive_kill)
{
    int fds[2];
    ck_assert_int_eq(pipe(fds), 0);
    pid_t pid = fork();
    ck_assert_int_ge(pid, 0);
    if (pid == 0) {
        close(fds[0]);
        tg_store *cl = NULL;
        char err[TG_STORE_ERR_SIZE];
        if (tg_store_open(dburl, &cl, err, sizeof err) != TG_STORE_OK ||
            tg_store_claim_reservations(cl) != TG_STORE_OK)
            _exit(2);
        for (int i = 0;; i++) {
            tg_record r = ledger_rec("k", INT64_C(1764547200000000), "key_a",
                                     TG_RECORD_RESERVED, 10, 0);
            snprintf(r.id, sizeof r.id, "k%d", i);
            r.slot = 1 + i;
            if (tg_store_reservation_room(cl, r.slot) != TG_STORE_OK ||
                tg_store_reservation_put(cl, &r) != TG_STORE_OK)
                _exit(3);
            r = ledger_rec("s", INT64_C(1764547200000000), "key_a", TG_RECORD_SETTLED, 10, 7);
            snprintf(r.id, sizeof r.id, "s%d", i);
            if (tg_store_records_insert(cl, &r, 1) != TG_STORE_OK)
                _exit(3);
            if (write(fds[1], &i, sizeof i) != sizeof i)
                _exit(4);
        }
    }
    close(fds[1]);
    int last = -1, got;
    while (last < 300 && read(fds[0], &got, sizeof got) == sizeof got)
        last = got;
    kill(pid, SIGKILL);
    int status;
    ck_assert_int_eq(waitpid(pid, &status, 0), pid);
    ck_assert(WIFSIGNALED(status));
    while (read(fds[0], &got, sizeof got) == sizeof got) /* acknowledged before it died */
        last = got;
    close(fds[0]);
    tg_store *st = open_ok();
    int64_t n = -1;
    ck_assert_int_eq(tg_store_ledger_recover(st, &n), TG_STORE_OK);
    ck_assert_int_ge(n, last + 1);
    tg_record r;
    for (int i = 0; i <= last; i++) {
        char id[16];
        snprintf(id, sizeof id, "k%d", i);
        ck_assert_int_eq(tg_store_record_get(st, id, 1, &r), TG_STORE_OK);
        ck_assert(r.state == TG_RECORD_UNSETTLED && r.reconcile);
        snprintf(id, sizeof id, "s%d", i);
        ck_assert_int_eq(tg_store_record_get(st, id, 1, &r), TG_STORE_OK);
        ck_assert(r.state == TG_RECORD_SETTLED && r.cost_nusd == 7);
    }
    tg_store_close(st);
}
END_TEST

/* The slot file itself: entries round-trip through a reopen; a torn entry (a byte of it
 * changed: the checksum fails) reads as empty, and so does an entry copied into another
 * slot (the slot number is under the checksum); a second open while one holds the file is
 * refused, saying who holds it; a file without the header is refused, never guessed at;
 * clear empties it. */
START_TEST(slot_file_entries)
{
    char path[PATH_SIZE + 16], err[256];
    snprintf(path, sizeof path, "%s-slots-test", dbpath);
    tg_slots *s = NULL, *other = NULL;
    tg_store_close(open_ok()); /* the directory */
    ck_assert_int_eq(tg_slots_open(path, false, &s, err, sizeof err), 1); /* absent */
    ck_assert_msg(tg_slots_open(path, true, &s, err, sizeof err) == 0, "%s", err);
    ck_assert_int_eq(tg_slots_top(s), 0);
    ck_assert_int_eq(tg_slots_put(s, 1, "x", 1), -1); /* no room yet */
    ck_assert_int_eq(tg_slots_room(s, 3, err, sizeof err), 0);
    ck_assert_int_ge(tg_slots_top(s), 3);
    ck_assert_int_eq(tg_slots_room(s, TG_SLOTS_MAX, err, sizeof err), -1);
    ck_assert_int_eq(tg_slots_put(s, 1, "first", 5), 0);
    ck_assert_int_eq(tg_slots_put(s, 3, "third entry", 11), 0);
    ck_assert_int_eq(tg_slots_put(s, 2, "", 0), -1);
    uint8_t big[TG_SLOTS_PAYLOAD + 1] = {0};
    ck_assert_int_eq(tg_slots_put(s, 2, big, sizeof big), -1);
    ck_assert_int_eq(tg_slots_put(s, 2, big, TG_SLOTS_PAYLOAD), 0);
    ck_assert_int_eq(tg_slots_open(path, true, &other, err, sizeof err), -1);
    ck_assert_msg(strstr(err, "held by another"), "%s", err);
    tg_slots_close(s);
    ck_assert_int_eq(tg_slots_open(path, false, &s, err, sizeof err), 0);
    ck_assert_int_eq(tg_slots_highest(s), 3);
    tg_slots_close(s);
    /* tear slot 3 (one payload byte) and copy slot 1 over slot 2, on disk */
    FILE *f = fopen(path, "r+b");
    ck_assert_ptr_nonnull(f);
    uint8_t slot1[TG_SLOTS_SIZE];
    ck_assert_int_eq(fseek(f, TG_SLOTS_SIZE, SEEK_SET), 0);
    ck_assert_uint_eq(fread(slot1, 1, sizeof slot1, f), sizeof slot1);
    const uint8_t *payload;
    ck_assert_uint_eq(tg_slots_parse(slot1, 1, &payload), 5);
    ck_assert_uint_eq(tg_slots_parse(slot1, 2, &payload), 0); /* not its place */
    ck_assert_int_eq(fseek(f, 2 * TG_SLOTS_SIZE, SEEK_SET), 0);
    ck_assert_uint_eq(fwrite(slot1, 1, sizeof slot1, f), sizeof slot1);
    ck_assert_int_eq(fseek(f, 3 * TG_SLOTS_SIZE + TG_SLOTS_HEAD + 2, SEEK_SET), 0);
    ck_assert_int_eq(fputc('X', f), 'X');
    fclose(f);
    ck_assert_int_eq(tg_slots_open(path, false, &s, err, sizeof err), 0);
    ck_assert_int_eq(tg_slots_highest(s), 1);
    ck_assert_int_eq(tg_slots_clear(s, err, sizeof err), 0);
    ck_assert_int_eq(tg_slots_highest(s), 0);
    tg_slots_close(s);
    struct stat sb;
    ck_assert_int_eq(stat(path, &sb), 0);
    ck_assert_int_eq(sb.st_size, TG_SLOTS_SIZE);
    /* a foreign file */
    f = fopen(path, "r+b");
    ck_assert_int_eq(fputc('T', f), 'T');
    fclose(f);
    ck_assert_int_eq(tg_slots_open(path, false, &s, err, sizeof err), -1);
    ck_assert_msg(strstr(err, "not a tollgate reservations slot file"), "%s", err);
    /* the checksum is CRC-32C: the standard check value, and the CPU's instruction (where
     * used) equal to the table, over every length and alignment, in pieces too */
    ck_assert_uint_eq(tg_slots_crc32c(0, "123456789", 9), 0xE3069283u);
    ck_assert_uint_eq(tg_slots_crc32c_portable(0, "123456789", 9), 0xE3069283u);
    uint8_t bytes[300];
    for (size_t i = 0; i < sizeof bytes; i++)
        bytes[i] = (uint8_t)(i * 131 + 7);
    for (size_t off = 0; off < 8; off++)
        for (size_t len = 0; len + off <= sizeof bytes; len += 13) {
            uint32_t a = tg_slots_crc32c(0, bytes + off, len);
            ck_assert_uint_eq(a, tg_slots_crc32c_portable(0, bytes + off, len));
            ck_assert_uint_eq(a, tg_slots_crc32c(tg_slots_crc32c(0, bytes + off, len / 2),
                                                 bytes + off + len / 2, len - len / 2));
        }
}
END_TEST

/* Migration 7 moves the rows an older build left 'reserved' in requests into the
 * reservations table (the rollups follow through their delete trigger); recovery then
 * charges them as before. */
START_TEST(migration_moves_old_reservations)
{
    tg_store *st = open_ok();
    tg_store_close(st);
    raw_exec("DROP TABLE reservations; DELETE FROM schema_version WHERE version >= 7;"
             "PRAGMA user_version = 6;");
    st = open_ok(); /* (migrates back to 9; now go back to 6 with an old-style row) */
    tg_record r = ledger_rec("old", INT64_C(1764547200000000), "key_a", TG_RECORD_SETTLED,
                             700, 600);
    ck_assert_int_eq(tg_store_records_insert(st, &r, 1), TG_STORE_OK);
    tg_store_close(st);
    raw_exec("DROP TABLE reservations; DELETE FROM schema_version WHERE version >= 7;"
             "PRAGMA user_version = 6;"
             "UPDATE requests SET state = 'reserved' WHERE id = 'old';");
    ck_assert_str_eq(raw_query("SELECT sum(cost_nusd) FROM rollup_daily"), "700");
    st = open_ok();
    ck_assert_int_eq(tg_store_schema_version(st), SCHEMA_NOW);
    ck_assert_str_eq(raw_query("SELECT count(*) FROM requests"), "0");
    ck_assert_str_eq(raw_query("SELECT state || reserved_nusd FROM reservations"), "reserved700");
    ck_assert_str_eq(raw_query("SELECT sum(cost_nusd) FROM rollup_daily"), "0");
    int64_t n = 0;
    ck_assert_int_eq(tg_store_ledger_recover(st, &n), TG_STORE_OK);
    ck_assert_int_eq(n, 1);
    ck_assert_str_eq(raw_query("SELECT state || reconcile FROM requests"), "unsettled1");
    ck_assert_str_eq(raw_query("SELECT sum(cost_nusd) FROM rollup_daily"), "700");
    tg_store_close(st);
}
END_TEST

/* A fresh store holding one settled row, id "kept" (cost 600): what a migration must keep. */
static tg_store *open_with_kept_row(void)
{
    tg_store *st = open_ok();
    tg_record r = ledger_rec("kept", INT64_C(1764547200000000), "key_a", TG_RECORD_SETTLED,
                             700, 600);
    ck_assert_int_eq(tg_store_records_insert(st, &r, 1), TG_STORE_OK);
    return st;
}

/* Migration 10 drops requests_team_ts (no query reads it; a settlement paid an insert into
 * it): a version-9 file with rows keeps them, and a time range still reads requests_ts. */
START_TEST(migration_drops_team_ts_index)
{
    tg_store *st = open_with_kept_row();
    tg_store_close(st);
    ck_assert_str_eq(raw_query("SELECT count(*) FROM sqlite_master WHERE name = "
                               "'requests_team_ts'"), "0");
    raw_exec("CREATE INDEX requests_team_ts ON requests (team, ts_us);"
             "DELETE FROM schema_version WHERE version >= 10; PRAGMA user_version = 9;");
    st = open_ok();
    ck_assert_int_eq(tg_store_schema_version(st), SCHEMA_NOW);
    tg_record got;
    ck_assert_int_eq(tg_store_record_get(st, "kept", 1, &got), TG_STORE_OK);
    ck_assert_int_eq(got.cost_nusd, 600);
    tg_store_close(st);
    ck_assert_str_eq(raw_query("SELECT count(*) FROM sqlite_master WHERE name = "
                               "'requests_team_ts'"), "0");
    sqlite3 *db;
    sqlite3_stmt *q;
    ck_assert_int_eq(sqlite3_open(dbpath, &db), SQLITE_OK);
    ck_assert_int_eq(sqlite3_prepare_v2(db, "EXPLAIN QUERY PLAN SELECT id FROM requests WHERE"
                                        " ts_us >= 0 AND ts_us < 1", -1, &q, NULL), SQLITE_OK);
    ck_assert_int_eq(sqlite3_step(q), SQLITE_ROW);
    const char *plan = (const char *)sqlite3_column_text(q, 3); /* id, parent, -, detail */
    ck_assert_msg(plan && strstr(plan, "requests_ts"), "plan: %s", plan ? plan : "(none)");
    sqlite3_finalize(q);
    sqlite3_close(db);
}
END_TEST

/* Migration 9 rewrites the state column's CHECK from IN (...) to a chain of equalities
 * (same constraint, no ephemeral table per insert): a version-8 file with rows keeps them,
 * a handle opened before the migration picks the new schema up, a bad state is still
 * refused, and the file passes SQLite's integrity check. */
START_TEST(migration_rewrites_state_check)
{
    tg_store *st = open_with_kept_row();
    tg_store_close(st);
    tg_record r = ledger_rec("new", INT64_C(1764547200000000), "key_a", TG_RECORD_SETTLED,
                             700, 600);
    raw_exec("PRAGMA writable_schema = ON;"
             "UPDATE sqlite_master SET sql = replace(sql, 'CHECK (state = ''recorded'' OR "
             "state = ''reserved'' OR state = ''settled'' OR state = ''released'' OR state = "
             "''unsettled'')', 'CHECK (state IN (''recorded'', ''reserved'', ''settled'', "
             "''released'', ''unsettled''))') WHERE name = 'requests';"
             "PRAGMA writable_schema = RESET;"
             "DELETE FROM schema_version WHERE version >= 9; PRAGMA user_version = 8;");
    ck_assert_str_eq(raw_query("SELECT instr(sql, 'state IN (') > 0 FROM sqlite_master"
                               " WHERE name = 'requests'"), "1");
    sqlite3 *old; /* a connection that parsed the version-8 schema */
    ck_assert_int_eq(sqlite3_open(dbpath, &old), SQLITE_OK);
    ck_assert_int_eq(sqlite3_exec(old, "SELECT count(*) FROM requests", NULL, NULL, NULL),
                     SQLITE_OK);
    st = open_ok();
    ck_assert_int_eq(tg_store_schema_version(st), SCHEMA_NOW);
    ck_assert_str_eq(raw_query("SELECT instr(sql, 'state IN (') FROM sqlite_master"
                               " WHERE name = 'requests'"), "0");
    ck_assert_str_eq(raw_query("SELECT instr(sql, 'CHECK (state = ''recorded'' OR') > 0 FROM"
                               " sqlite_master WHERE name = 'requests'"), "1");
    ck_assert_str_eq(raw_query("SELECT count(*) FROM sqlite_master WHERE name ="
                               " 'tg_schema_cookie'"), "0");
    ck_assert_str_eq(raw_query("SELECT state || cost_nusd FROM requests"), "settled600");
    ck_assert_str_eq(raw_query("PRAGMA integrity_check"), "ok");
    sqlite3_stmt *ex; /* the old connection's next insert plan has no ephemeral table */
    ck_assert_int_eq(sqlite3_exec(old, "SELECT count(*) FROM requests", NULL, NULL, NULL),
                     SQLITE_OK);
#define BARE_INSERT                                                                          \
    "INSERT INTO requests (id, ts_us, team, key_id, provider, requested_model, model,"        \
    " endpoint, est_input_tokens, input_tokens, cached_input_tokens, cache_write_tokens,"     \
    " output_tokens, reasoning_tokens, usage_estimated, status, upstream_status, latency_us," \
    " streamed, client_aborted, state) VALUES ('x', 1, 't', 'k', 'p', 'm', 'm', 'e', 0, 0,"   \
    " 0, 0, 0, 0, 0, 200, 200, 1, 0, 0, "
    ck_assert_int_eq(sqlite3_prepare_v2(old, "EXPLAIN " BARE_INSERT "?1)", -1, &ex, NULL),
                     SQLITE_OK);
    bool ephemeral = false;
    while (sqlite3_step(ex) == SQLITE_ROW)
        ephemeral |= strcmp((const char *)sqlite3_column_text(ex, 1), "OpenEphemeral") == 0;
    sqlite3_finalize(ex);
    ck_assert(!ephemeral);
    char *msg = NULL;
    ck_assert_int_eq(sqlite3_exec(old, BARE_INSERT "'bogus')", NULL, NULL, &msg),
                     SQLITE_CONSTRAINT);
    ck_assert_msg(msg && strstr(msg, "CHECK constraint failed"), "%s", msg ? msg : "");
    sqlite3_free(msg);
    sqlite3_close(old);
    r.state = TG_RECORD_RELEASED;
    snprintf(r.id, sizeof r.id, "%s", "new");
    ck_assert_int_eq(tg_store_records_insert(st, &r, 1), TG_STORE_OK);
    ck_assert_str_eq(raw_query("SELECT group_concat(state, ',') FROM (SELECT state FROM"
                               " requests ORDER BY id)"), "settled,released");
    tg_store_close(st);
}
END_TEST

/* The per-row sums the rollups must equal, from requests itself (the expressions of the
 * rollup triggers), grouped by `groups`; and the query counting the rows of `table` that
 * differ from them, either way. */
#define ROW_SUMS                                                                             \
    "sum(state <> 'released'), count(*), sum(input_tokens), sum(cached_input_tokens),"       \
    " sum(cache_write_tokens), sum(output_tokens), sum(reasoning_tokens),"                    \
    " sum(est_input_tokens), sum(" REPORTED "), sum(CASE WHEN " REPORTED " THEN input_tokens" \
    " ELSE 0 END), sum(CASE WHEN " REPORTED " THEN est_input_tokens ELSE 0 END),"             \
    " sum(usage_estimated <> 0), sum(overshoot <> 0), sum(state = 'unsettled'),"              \
    " sum(status >= 400), sum(CASE state WHEN 'released' THEN 0 WHEN 'reserved' THEN"         \
    " reserved_nusd WHEN 'unsettled' THEN reserved_nusd ELSE cost_nusd END),"                 \
    " sum(cost_input_nusd), sum(cost_cached_nusd), sum(cost_cache_write_nusd),"              \
    " sum(cost_output_nusd)"
#define REPORTED                                                                             \
    "(usage_estimated = 0 AND state IN ('recorded', 'settled') AND input_tokens > 0)"
#define TABLE_SUMS                                                                           \
    "requests, attempts, input_tokens, cached_input_tokens, cache_write_tokens,"             \
    " output_tokens, reasoning_tokens, est_input_tokens, reported_requests,"                  \
    " reported_input_tokens, reported_est_input_tokens, estimated_requests,"                  \
    " overshoot_requests, unsettled_requests, error_requests, cost_nusd, cost_input_nusd,"    \
    " cost_cached_nusd, cost_cache_write_nusd, cost_output_nusd"
#define DAILY_DIFF                                                                           \
    "WITH t AS (SELECT day, team, key_id, model, provider, " TABLE_SUMS " FROM rollup_daily"  \
    " WHERE requests <> 0 OR attempts <> 0), r AS (SELECT ts_us / 86400000000, team, key_id," \
    " model, provider, " ROW_SUMS " FROM requests GROUP BY 1, 2, 3, 4, 5)"                    \
    " SELECT (SELECT count(*) FROM (SELECT * FROM t EXCEPT SELECT * FROM r)) +"               \
    " (SELECT count(*) FROM (SELECT * FROM r EXCEPT SELECT * FROM t))"
#define TEAM_DIFF                                                                            \
    "WITH t AS (SELECT day, team, " TABLE_SUMS " FROM rollup_team_daily WHERE requests <> 0"  \
    " OR attempts <> 0), r AS (SELECT ts_us / 86400000000, team, " ROW_SUMS " FROM requests"  \
    " GROUP BY 1, 2)"                                                                         \
    " SELECT (SELECT count(*) FROM (SELECT * FROM t EXCEPT SELECT * FROM r)) +"               \
    " (SELECT count(*) FROM (SELECT * FROM r EXCEPT SELECT * FROM t))"

/* Rows of rollup_daily and rollup_team_daily that differ from the sums of requests. */
static int rollup_diffs(void)
{
    return atoi(raw_query(DAILY_DIFF)) + atoi(raw_query(TEAM_DIFF));
}

/* Both rollups equal the sums of the rows, whatever the mix a transaction brings: many
 * groups in one batch (more than the group index's first size), every state, a row written
 * twice in one batch, settlements over rows of earlier batches, and recovery. */
START_TEST(rollups_equal_the_rows)
{
    tg_store *st = open_ok();
    const int64_t day0 = INT64_C(1764547200000000);
    const char *states = "RSLUr"; /* recorded settled released unsettled reserved */
    enum { N = 600 };
    tg_record *recs = calloc(N, sizeof *recs);
    ck_assert_ptr_nonnull(recs);
    for (int i = 0; i < N; i++) {
        char id[16], key[16];
        snprintf(id, sizeof id, "q%d", i % 550); /* 50 rows written twice in the batch */
        snprintf(key, sizeof key, "key_%d", i % 7);
        char c = states[i % 5];
        tg_record_state state = c == 'R' ? TG_RECORD_RECORDED : c == 'S' ? TG_RECORD_SETTLED
                                : c == 'L' ? TG_RECORD_RELEASED : c == 'U'
                                    ? TG_RECORD_UNSETTLED : TG_RECORD_RESERVED;
        recs[i] = ledger_rec(id, day0 + (i % 3) * INT64_C(86400000000) + i, key, state,
                             1000 + i, 900 + i);
        snprintf(recs[i].team, sizeof recs[i].team, "team%d", i % 11);
        snprintf(recs[i].model, sizeof recs[i].model, "m%d", i % 5);
        snprintf(recs[i].provider, sizeof recs[i].provider, "p%d", i % 2);
        recs[i].usage_estimated = i % 4 == 0;
        recs[i].overshoot = i % 9 == 0;
        recs[i].status = i % 13 == 0 ? 400 : i % 17 == 0 ? 502 : 200;
        recs[i].est_input_tokens = 18 + i % 3;
        recs[i].cached_input_tokens = i % 6;
        recs[i].cost_output_nusd = i;
    }
    ck_assert_int_eq(tg_store_records_insert(st, recs, N), TG_STORE_OK);
    ck_assert_int_eq(rollup_diffs(), 0);
    for (int i = 0; i < N; i++) { /* settle the reservations, resettle some rows */
        recs[i].state = i % 3 ? TG_RECORD_SETTLED : TG_RECORD_RELEASED;
        recs[i].cost_nusd += 7;
    }
    ck_assert_int_eq(tg_store_records_insert(st, recs, 100), TG_STORE_OK);
    ck_assert_int_eq(rollup_diffs(), 0);
    int64_t n = 0;
    ck_assert_int_eq(tg_store_ledger_recover(st, &n), TG_STORE_OK);
    ck_assert_int_gt(n, 0);
    ck_assert_str_eq(raw_query("SELECT count(*) FROM reservations"), "0");
    ck_assert_int_eq(rollup_diffs(), 0);
    /* and the check can fail: one rollup cell off by one */
    raw_exec("UPDATE rollup_daily SET cost_output_nusd = cost_output_nusd + 1"
             " WHERE (day, team, key_id, model, provider) ="
             " (SELECT day, team, key_id, model, provider FROM rollup_daily LIMIT 1)");
    ck_assert_int_eq(rollup_diffs(), 2);
    free(recs);
    tg_store_close(st);
}
END_TEST

/* The daily rollups follow every write of the ledger (insert, settlement upsert, release,
 * recovery's update) in the same transaction: a report equals the sums of the records. */
START_TEST(rollups_follow_the_ledger)
{
    tg_store *st = open_ok();
    const int64_t day0 = INT64_C(1764547200000000); /* 2025-12-01T00:00:00Z */
    const int64_t h = INT64_C(3600000000);
    tg_record recs[] = {
        ledger_rec("a", day0 + h, "key_a", TG_RECORD_RESERVED, 1000, 0),
        ledger_rec("b", day0 + 2 * h, "key_a", TG_RECORD_RESERVED, 2000, 0),
        ledger_rec("c", day0 + 3 * h, "key_b", TG_RECORD_RESERVED, 4000, 0),
        ledger_rec("d", day0 + 25 * h, "key_a", TG_RECORD_RECORDED, 0, 30),
    };
    snprintf(recs[3].model, sizeof recs[3].model, "m2");
    recs[3].usage_estimated = true;
    ck_assert_int_eq(tg_store_records_insert(st, recs, 4), TG_STORE_OK);
    tg_record settled = recs[0], rel = recs[1];
    settled.state = TG_RECORD_SETTLED;
    settled.cost_nusd = 1500;
    settled.est_input_tokens = 18;
    rel.state = TG_RECORD_RELEASED;
    rel.input_tokens = rel.output_tokens = 0;
    tg_record fin[] = {settled, rel};
    ck_assert_int_eq(tg_store_records_insert(st, fin, 2), TG_STORE_OK);
    int64_t n = 0;
    ck_assert_int_eq(tg_store_ledger_recover(st, &n), TG_STORE_OK);

    int64_t day = day0 / TG_REPORT_DAY_US;
    tg_report_query q = {.from_day = day, .to_day = day + 1, .ngroup = 2,
                         .group = {TG_REPORT_KEY, TG_REPORT_DAY}};
    tg_report_row *rows;
    size_t nrows;
    ck_assert_int_eq(tg_store_report(st, &q, &rows, &nrows), TG_STORE_OK);
    ck_assert_uint_eq(nrows, 3);
    /* key_a day0: a settled (1500) + b released (nothing, one attempt) */
    ck_assert_str_eq(rows[0].key_id, "key_a");
    ck_assert(rows[0].day == day && rows[0].requests == 1 && rows[0].attempts == 2);
    ck_assert(rows[0].cost_nusd == 1500 && rows[0].input_tokens == 20);
    ck_assert(rows[0].reported_requests == 1 && rows[0].reported_est_input_tokens == 18);
    /* key_a day0+1: d, recorded, estimated */
    ck_assert(rows[1].day == day + 1 && rows[1].cost_nusd == 30 && rows[1].estimated_requests == 1);
    /* key_b: c unsettled at its reservation */
    ck_assert_str_eq(rows[2].key_id, "key_b");
    ck_assert(rows[2].cost_nusd == 4000 && rows[2].unsettled_requests == 1);
    free(rows);
    q.ngroup = 1; /* by team: the (day, team) rollup */
    q.group[0] = TG_REPORT_TEAM;
    ck_assert_int_eq(tg_store_report(st, &q, &rows, &nrows), TG_STORE_OK);
    ck_assert(nrows == 1 && rows[0].cost_nusd == 5530 && rows[0].attempts == 4 &&
              rows[0].unsettled_requests == 1 && rows[0].estimated_requests == 1);
    free(rows);
    q.ngroup = 0; /* one total row */
    ck_assert_int_eq(tg_store_report(st, &q, &rows, &nrows), TG_STORE_OK);
    ck_assert(nrows == 1 && rows[0].cost_nusd == 5530 && rows[0].attempts == 4);
    free(rows);
    q.from_day = day + 2; /* nothing in range */
    q.to_day = day + 3;
    ck_assert_int_eq(tg_store_report(st, &q, &rows, &nrows), TG_STORE_OK);
    ck_assert_uint_eq(nrows, 0);
    q.to_day = day; /* reversed */
    ck_assert_int_eq(tg_store_report(st, &q, &rows, &nrows), TG_STORE_INVALID);
    q = (tg_report_query){.to_day = day, .ngroup = 2, .group = {TG_REPORT_DAY, TG_REPORT_DAY}};
    ck_assert_int_eq(tg_store_report(st, &q, &rows, &nrows), TG_STORE_INVALID);
    tg_store_close(st);
}
END_TEST

static Suite *store_suite(void)
{
    Suite *s = suite_create("store");
    TCase *money = tcase_create("money");
    tcase_add_test(money, money_parse_table);
    tcase_add_test(money, money_format_table);
    tcase_add_test(money, money_round_trip);
    suite_add_tcase(s, money);

    TCase *db = tcase_create("sqlite");
    tcase_add_checked_fixture(db, setup, teardown);
    tcase_set_timeout(db, 60);
    tcase_add_test(db, open_fresh_and_reopen);
    tcase_add_test(db, open_refuses_newer_schema);
    tcase_add_test(db, open_bad_urls);
    tcase_add_test(db, open_not_a_database);
    tcase_add_test(db, team_add_get_list);
    tcase_add_test(db, team_names_and_limits);
    tcase_add_test(db, team_set_fields);
    tcase_add_test(db, key_create_and_lookup);
    tcase_add_test(db, key_create_refusals);
    tcase_add_test(db, key_tags_round_trip_and_refusals);
    tcase_add_test(db, key_revoke_and_list);
    tcase_add_test(db, key_set_limits);
    tcase_add_test(db, key_secret_never_stored);
    tcase_add_test(db, key_ids_and_secrets_unique);
    tcase_add_test(db, two_handles_share_the_file);
    tcase_add_test(db, concurrent_writers);
    tcase_add_test(db, records_insert_batch);
    tcase_add_test(db, limits_round_trip);
    tcase_add_test(db, ledger_states_and_recovery);
    tcase_add_test(db, slot_file_entries);
    tcase_add_test(db, walbuf_commits_reach_the_file);
    tcase_add_test(db, writes_survive_kill);
    tcase_add_test(db, migration_moves_old_reservations);
    tcase_add_test(db, migration_drops_team_ts_index);
    tcase_add_test(db, migration_rewrites_state_check);
    tcase_add_test(db, claimed_reservations_file);
    tcase_add_test(db, record_codec_round_trip);
    tcase_add_test(db, record_codec_rejects);
    tcase_add_test(db, legacy_reservations_file_recovered);
    tcase_add_test(db, unreadable_reservation_refused);
    tcase_add_test(db, sha256_vectors);
    tcase_add_test(db, int_text_and_copy);
    tcase_add_test(db, rollups_follow_the_ledger);
    tcase_add_test(db, rollups_equal_the_rows);
    suite_add_tcase(s, db);
    return s;
}

int main(void)
{
    SRunner *sr = srunner_create(store_suite());
    srunner_run_all(sr, CK_NORMAL);
    int failed = srunner_ntests_failed(sr);
    srunner_free(sr);
    return failed == 0 ? EXIT_SUCCESS : EXIT_FAILURE;
}
