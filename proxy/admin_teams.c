/* The admin API's teams, keys and budgets (see admin_teams.h).
 *
 * A request is parsed (tg_admin_fields_parse: cJSON, every field checked, unknown ones
 * refused), applied with one store call (the store checks names and limits again and
 * writes the plain-line messages used in errors), and answered with the row as the store
 * now has it plus the quota module's usage of the current period.  Money goes out as exact
 * decimal numbers (raw JSON from tg_money_format), never through a double. */
#include "proxy/admin_teams.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cjson/cJSON.h>
#include <openssl/crypto.h>

#include "quotas/money.h"
#include "quotas/period.h"

#define COUNT_MAX 9007199254740992.0 /* 2^53: larger JSON numbers are not exact integers */
#define MONEY_NUMBER_MAX 9.0e6       /* USD: up to here a double rounds to the right nusd */
#define PATH_MAX_LEN 160             /* longest admin path handled */

/* ---------------------------------------------------------------- parsing */

typedef struct {
    const char *name;
    int64_t *lim;
    bool *set;
    bool money;
} limit_field;

static int fail(char *err, size_t errlen, const char *field, const char *what)
{
    snprintf(err, errlen, "%s%s%s", field ? field : "", field ? ": " : "", what);
    return -1;
}

static int parse_money(const cJSON *v, int64_t *out, char *err, size_t errlen, const char *f)
{
    char txt[TG_MONEY_TEXT_MAX + 1];
    if (cJSON_IsString(v)) {
        if (strlen(v->valuestring) > TG_MONEY_TEXT_MAX)
            return fail(err, errlen, f, "too long for an amount");
        snprintf(txt, sizeof txt, "%s", v->valuestring);
    } else if (cJSON_IsNumber(v)) {
        if (!(v->valuedouble >= 0))
            return fail(err, errlen, f, "must not be negative");
        if (v->valuedouble > MONEY_NUMBER_MAX)
            return fail(err, errlen, f, "too large for a JSON number: give it as a string");
        snprintf(txt, sizeof txt, "%.9f", v->valuedouble);
    } else {
        return fail(err, errlen, f, "must be a USD amount (a number or a decimal string) "
                                    "or null");
    }
    int rc = tg_money_parse_usd(txt, out);
    return rc == TG_MONEY_OK ? 0 : fail(err, errlen, f, tg_money_strerror(rc));
}

static int parse_count(const cJSON *v, int64_t *out, char *err, size_t errlen, const char *f)
{
    if (!cJSON_IsNumber(v) || v->valuedouble < 0 || v->valuedouble > COUNT_MAX ||
        (double)(int64_t)v->valuedouble != v->valuedouble)
        return fail(err, errlen, f, "must be a non-negative integer or null");
    *out = (int64_t)v->valuedouble;
    return 0;
}

static int parse_text(const cJSON *v, char *dst, size_t size, char *err, size_t errlen,
                      const char *f)
{
    if (!cJSON_IsString(v))
        return fail(err, errlen, f, "must be a string");
    if (strlen(v->valuestring) >= size)
        return fail(err, errlen, f, "too long");
    snprintf(dst, size, "%s", v->valuestring);
    return 0;
}

/* One member of the body; -1 with err for an unknown or bad one. */
static int parse_member(const cJSON *v, tg_admin_body_kind kind, tg_admin_fields *o,
                        char *err, size_t errlen)
{
    tg_team_update *u = &o->upd;
    const limit_field limits[] = {
        {"budget_usd", &u->lim.budget_nusd, &u->set_budget, true},
        {"budget_tokens", &u->lim.budget_tokens, &u->set_tokens, false},
        {"budget_requests", &u->lim.budget_requests, &u->set_requests, false},
        {"rpm", &u->lim.rpm, &u->set_rpm, false},
        {"tpm", &u->lim.tpm, &u->set_tpm, false}};
    const char *f = v->string;
    for (size_t i = 0; i < sizeof limits / sizeof *limits; i++) {
        if (strcmp(f, limits[i].name) != 0)
            continue;
        *limits[i].set = true;
        if (cJSON_IsNull(v)) {
            *limits[i].lim = TG_STORE_UNLIMITED;
            return 0;
        }
        return limits[i].money ? parse_money(v, limits[i].lim, err, errlen, f)
                               : parse_count(v, limits[i].lim, err, errlen, f);
    }
    bool team = kind == TG_ADMIN_BODY_TEAM_NEW || kind == TG_ADMIN_BODY_TEAM_SET;
    if (team && strcmp(f, "period") == 0) {
        u->set_period = true;
        if (!cJSON_IsString(v) || tg_store_period_parse(v->valuestring, &u->period) != 0)
            return fail(err, errlen, f, "must be \"day\", \"week\" or \"month\"");
        return 0;
    }
    if (kind == TG_ADMIN_BODY_TEAM_NEW && strcmp(f, "name") == 0)
        return o->has_name = true, parse_text(v, o->name, sizeof o->name, err, errlen, f);
    if (kind == TG_ADMIN_BODY_KEY_NEW && strcmp(f, "team") == 0)
        return o->has_team = true, parse_text(v, o->team, sizeof o->team, err, errlen, f);
    if (kind == TG_ADMIN_BODY_KEY_NEW && strcmp(f, "tags") == 0)
        return cJSON_IsNull(v) ? 0 : parse_text(v, o->tags, sizeof o->tags, err, errlen, f);
    if (kind == TG_ADMIN_BODY_KEY_NEW && strcmp(f, "name") == 0) {
        o->has_label = true;
        return cJSON_IsNull(v) ? 0 : parse_text(v, o->label, sizeof o->label, err, errlen, f);
    }
    char what[96];
    snprintf(what, sizeof what, "unknown field (allowed: %s)",
             kind == TG_ADMIN_BODY_TEAM_NEW ? "name, period and the limits"
             : kind == TG_ADMIN_BODY_TEAM_SET ? "period and the limits"
             : kind == TG_ADMIN_BODY_KEY_NEW ? "team, name, tags and the limits" : "the limits");
    return fail(err, errlen, f, what);
}

int tg_admin_fields_parse(const char *body, size_t len, tg_admin_body_kind kind,
                          tg_admin_fields *out, char *err, size_t errlen)
{
    memset(out, 0, sizeof *out);
    out->upd.lim = TG_LIMITS_NONE;
    out->upd.period = TG_PERIOD_DEFAULT;
    if (len == 0)
        return 0;
    cJSON *j = cJSON_ParseWithLength(body, len);
    if (!cJSON_IsObject(j)) {
        cJSON_Delete(j);
        return fail(err, errlen, NULL, "the body must be a JSON object");
    }
    int rc = 0;
    for (const cJSON *v = j->child; v && rc == 0; v = v->next)
        rc = parse_member(v, kind, out, err, errlen);
    cJSON_Delete(j);
    return rc;
}

/* ---------------------------------------------------------------- answers */

static cJSON *money_json(int64_t nusd)
{
    char buf[TG_MONEY_FMT_SIZE];
    if (nusd == TG_STORE_UNLIMITED)
        return cJSON_CreateNull();
    tg_money_format(nusd, buf, sizeof buf);
    return cJSON_CreateRaw(buf);
}

static cJSON *count_json(int64_t n)
{
    char buf[24];
    if (n == TG_STORE_UNLIMITED)
        return cJSON_CreateNull();
    snprintf(buf, sizeof buf, "%lld", (long long)n);
    return cJSON_CreateRaw(buf);
}

static cJSON *time_json(int64_t us)
{
    char buf[TG_STORE_TIME_LEN + 1];
    tg_period_iso_time(us, buf, sizeof buf);
    return cJSON_CreateString(buf);
}

static void add_limits(cJSON *o, const tg_limits *l)
{
    cJSON_AddItemToObject(o, "budget_usd", money_json(l->budget_nusd));
    cJSON_AddItemToObject(o, "budget_tokens", count_json(l->budget_tokens));
    cJSON_AddItemToObject(o, "budget_requests", count_json(l->budget_requests));
    cJSON_AddItemToObject(o, "rpm", count_json(l->rpm));
    cJSON_AddItemToObject(o, "tpm", count_json(l->tpm));
}

/* The usage of a team (key_id NULL) or key in the current period of kind `p`. */
static cJSON *usage_json(const tg_admin_ctx *c, const char *team, const char *key_id,
                         tg_period p, int64_t budget_nusd)
{
    cJSON *o = cJSON_CreateObject();
    if (!o || !c->quota)
        return o;
    int32_t off = tg_quota_utc_offset(c->quota);
    int64_t index = tg_period_index(p, c->now_us, off);
    tg_quota_usage u;
    (void)tg_quota_usage_of(c->quota, team, key_id, p, c->now_us, &u);
    cJSON_AddStringToObject(o, "period", tg_store_period_name(p));
    cJSON_AddItemToObject(o, "period_start", time_json(tg_period_start_us(p, index, off)));
    cJSON_AddItemToObject(o, "resets_at", time_json(tg_period_start_us(p, index + 1, off)));
    cJSON_AddItemToObject(o, "spent_usd", money_json(u.spent_nusd));
    cJSON_AddItemToObject(o, "reserved_usd", money_json(u.held_nusd));
    int64_t left = budget_nusd - u.spent_nusd - u.held_nusd;
    cJSON_AddItemToObject(o, "remaining_usd", budget_nusd == TG_STORE_UNLIMITED
                                                  ? cJSON_CreateNull()
                                                  : money_json(left > 0 ? left : 0));
    cJSON_AddItemToObject(o, "tokens", count_json(u.spent_tokens + u.held_tokens));
    cJSON_AddItemToObject(o, "requests", count_json(u.requests));
    return o;
}

static cJSON *team_json(const tg_admin_ctx *c, const tg_team *t)
{
    cJSON *o = cJSON_CreateObject();
    cJSON_AddStringToObject(o, "name", t->name);
    cJSON_AddStringToObject(o, "period", tg_store_period_name(t->period));
    add_limits(o, &t->lim);
    cJSON_AddStringToObject(o, "created_at", t->created_at);
    if (c->quota)
        cJSON_AddItemToObject(o, "usage",
                              usage_json(c, t->name, NULL, t->period, t->lim.budget_nusd));
    return o;
}

static cJSON *key_json(const tg_admin_ctx *c, const tg_key *k)
{
    cJSON *o = cJSON_CreateObject();
    cJSON_AddStringToObject(o, "id", k->id);
    cJSON_AddStringToObject(o, "team", k->team);
    cJSON_AddItemToObject(o, "name", k->name[0] ? cJSON_CreateString(k->name)
                                                : cJSON_CreateNull());
    cJSON_AddStringToObject(o, "prefix", k->prefix);
    char buf[TG_KEY_TAGS_MAX + 1];
    const char *tags[TG_KEY_MAX_TAGS];
    cJSON_AddItemToObject(o, "tags", cJSON_CreateStringArray(
                                         tags, tg_store_key_tags(k, buf, tags, TG_KEY_MAX_TAGS)));
    add_limits(o, &k->lim);
    cJSON_AddStringToObject(o, "created_at", k->created_at);
    cJSON_AddItemToObject(o, "revoked_at", k->revoked_at[0] ? cJSON_CreateString(k->revoked_at)
                                                            : cJSON_CreateNull());
    if (c->quota)
        cJSON_AddItemToObject(o, "usage",
                              usage_json(c, k->team, k->id, k->period, k->lim.budget_nusd));
    return o;
}

static void answer(tg_admin_reply *out, unsigned status, cJSON *j)
{
    out->status = status;
    out->json = j ? cJSON_PrintUnformatted(j) : NULL;
    cJSON_Delete(j);
}

static void answer_error(tg_admin_reply *out, unsigned status, const char *type,
                         const char *message)
{
    cJSON *o = cJSON_CreateObject(), *e = cJSON_AddObjectToObject(o, "error");
    cJSON_AddStringToObject(e, "message", message);
    cJSON_AddStringToObject(e, "type", type);
    answer(out, status, o);
}

/* The answer for a store status other than OK. */
static void store_error(const tg_admin_ctx *c, int rc, tg_admin_reply *out)
{
    const char *msg = tg_store_errmsg(c->store);
    switch (rc) {
    case TG_STORE_NOT_FOUND: answer_error(out, 404, "not_found_error", msg); return;
    case TG_STORE_EXISTS: answer_error(out, 409, "conflict_error", msg); return;
    case TG_STORE_INVALID: answer_error(out, 400, "invalid_request_error", msg); return;
    default: answer_error(out, 500, "server_error", msg); return;
    }
}

/* Parses the body for `kind`; false after queueing the 400. */
static bool body_fields(const char *body, size_t len, tg_admin_body_kind kind,
                        tg_admin_fields *f, tg_admin_reply *out)
{
    char err[TG_ADMIN_ERR_SIZE];
    if (tg_admin_fields_parse(body, len, kind, f, err, sizeof err) == 0)
        return true;
    answer_error(out, 400, "invalid_request_error", err);
    return false;
}

/* ---------------------------------------------------------------- teams */

static void teams_list(const tg_admin_ctx *c, tg_admin_reply *out)
{
    tg_team *teams;
    size_t n;
    int rc = tg_store_team_list(c->store, &teams, &n);
    if (rc != TG_STORE_OK)
        return store_error(c, rc, out);
    cJSON *arr = cJSON_CreateArray();
    for (size_t i = 0; i < n; i++)
        cJSON_AddItemToArray(arr, team_json(c, &teams[i]));
    free(teams);
    answer(out, 200, arr);
}

static void team_create(const tg_admin_ctx *c, const char *body, size_t len,
                        tg_admin_reply *out)
{
    tg_admin_fields f;
    if (!body_fields(body, len, TG_ADMIN_BODY_TEAM_NEW, &f, out))
        return;
    if (!f.has_name)
        return answer_error(out, 400, "invalid_request_error", "name: required");
    tg_team t = {.lim = f.upd.lim, .period = f.upd.period};
    snprintf(t.name, sizeof t.name, "%s", f.name);
    int rc = tg_store_team_add(c->store, &t);
    if (rc != TG_STORE_OK)
        return store_error(c, rc, out);
    answer(out, 201, team_json(c, &t));
}

static void team_one(const tg_admin_ctx *c, const char *method, const char *name,
                     const char *body, size_t len, tg_admin_reply *out)
{
    tg_team t;
    int rc;
    if (strcmp(method, "GET") == 0) {
        rc = tg_store_team_get(c->store, name, &t);
    } else if (!strcmp(method, "PATCH") || !strcmp(method, "PUT") || !strcmp(method, "POST")) {
        tg_admin_fields f;
        if (!body_fields(body, len, TG_ADMIN_BODY_TEAM_SET, &f, out))
            return;
        rc = tg_store_team_set(c->store, name, &f.upd, &t);
    } else {
        return answer_error(out, 405, "invalid_request_error", "Use GET, PATCH, PUT or POST.");
    }
    if (rc != TG_STORE_OK)
        return store_error(c, rc, out);
    answer(out, 200, team_json(c, &t));
}

/* ---------------------------------------------------------------- keys */

static void keys_list(const tg_admin_ctx *c, const char *team, tg_admin_reply *out)
{
    tg_key *keys;
    size_t n;
    int rc = tg_store_key_list(c->store, team, &keys, &n);
    if (rc != TG_STORE_OK)
        return store_error(c, rc, out);
    cJSON *arr = cJSON_CreateArray();
    for (size_t i = 0; i < n; i++)
        cJSON_AddItemToArray(arr, key_json(c, &keys[i]));
    free(keys);
    answer(out, 200, arr);
}

static void key_create(const tg_admin_ctx *c, const char *body, size_t len,
                       tg_admin_reply *out)
{
    tg_admin_fields f;
    if (!body_fields(body, len, TG_ADMIN_BODY_KEY_NEW, &f, out))
        return;
    if (!f.has_team)
        return answer_error(out, 400, "invalid_request_error", "team: required");
    char secret[TG_KEY_SECRET_SIZE];
    tg_key k;
    int rc = tg_store_key_create_tagged(c->store, f.team, f.label, f.tags, &f.upd.lim, secret,
                                        sizeof secret, &k);
    if (rc != TG_STORE_OK)
        return store_error(c, rc, out);
    cJSON *o = key_json(c, &k);
    cJSON_AddStringToObject(o, "secret", secret);
    OPENSSL_cleanse(secret, sizeof secret);
    answer(out, 201, o);
}

static void key_one(const tg_admin_ctx *c, const char *method, const char *id, bool revoke,
                    const char *body, size_t len, tg_admin_reply *out)
{
    tg_key k;
    int rc;
    bool post = strcmp(method, "POST") == 0;
    if (revoke ? post : strcmp(method, "DELETE") == 0) {
        rc = tg_store_key_revoke(c->store, id, &k);
        if (rc == TG_STORE_REVOKED)
            rc = TG_STORE_OK; /* already revoked: nothing changes, the answer is the same */
    } else if (revoke) {
        return answer_error(out, 405, "invalid_request_error", "Use POST.");
    } else if (strcmp(method, "GET") == 0) {
        rc = tg_store_key_get(c->store, id, &k);
    } else if (!strcmp(method, "PATCH") || !strcmp(method, "PUT") || post) {
        tg_admin_fields f;
        if (!body_fields(body, len, TG_ADMIN_BODY_KEY_SET, &f, out))
            return;
        rc = tg_store_key_set(c->store, id, &f.upd, &k);
    } else {
        return answer_error(out, 405, "invalid_request_error",
                            "Use GET, PATCH, PUT, POST or DELETE.");
    }
    if (rc != TG_STORE_OK)
        return store_error(c, rc, out);
    answer(out, 200, key_json(c, &k));
}

/* ---------------------------------------------------------------- budgets */

static void budgets(const tg_admin_ctx *c, tg_admin_reply *out)
{
    tg_team *teams;
    tg_key *keys;
    size_t nt, nk;
    int rc = tg_store_team_list(c->store, &teams, &nt);
    if (rc != TG_STORE_OK)
        return store_error(c, rc, out);
    if ((rc = tg_store_key_list(c->store, NULL, &keys, &nk)) != TG_STORE_OK) {
        free(teams);
        return store_error(c, rc, out);
    }
    cJSON *arr = cJSON_CreateArray();
    for (size_t i = 0; i < nt; i++) {
        cJSON *o = cJSON_CreateObject();
        cJSON_AddStringToObject(o, "team", teams[i].name);
        cJSON_AddNullToObject(o, "key");
        add_limits(o, &teams[i].lim);
        cJSON_AddItemToObject(o, "usage", usage_json(c, teams[i].name, NULL, teams[i].period,
                                                     teams[i].lim.budget_nusd));
        cJSON_AddItemToArray(arr, o);
    }
    for (size_t i = 0; i < nk; i++) {
        if (keys[i].revoked_at[0])
            continue;
        cJSON *o = cJSON_CreateObject();
        cJSON_AddStringToObject(o, "team", keys[i].team);
        cJSON_AddStringToObject(o, "key", keys[i].id);
        add_limits(o, &keys[i].lim);
        cJSON_AddItemToObject(o, "usage", usage_json(c, keys[i].team, keys[i].id,
                                                     keys[i].period, keys[i].lim.budget_nusd));
        cJSON_AddItemToArray(arr, o);
    }
    free(teams);
    free(keys);
    answer(out, 200, arr);
}

/* ---------------------------------------------------------------- dispatch */

bool tg_admin_teams_path(const char *url)
{
    return !strcmp(url, "/teams") || !strncmp(url, "/teams/", 7) || !strcmp(url, "/keys") ||
           !strncmp(url, "/keys/", 6) || !strcmp(url, "/budgets");
}

void tg_admin_teams(const tg_admin_ctx *c, const char *method, const char *url,
                    const char *team_query, const char *body, size_t len, tg_admin_reply *out)
{
    char id[PATH_MAX_LEN];
    bool get = strcmp(method, "GET") == 0, post = strcmp(method, "POST") == 0;
    out->status = 500;
    out->json = NULL;
    if (strlen(url) >= sizeof id)
        return answer_error(out, 404, "not_found_error", "Unknown admin path.");
    if (!strcmp(url, "/teams") || !strcmp(url, "/keys") || !strcmp(url, "/budgets")) {
        if (!get && !(post && url[1] != 'b'))
            return answer_error(out, 405, "invalid_request_error",
                                url[1] == 'b' ? "Use GET." : "Use GET or POST.");
        if (url[1] == 'b')
            return budgets(c, out);
        if (url[1] == 't')
            return get ? teams_list(c, out) : team_create(c, body, len, out);
        return get ? keys_list(c, team_query && *team_query ? team_query : NULL, out)
                   : key_create(c, body, len, out);
    }
    bool team = url[1] == 't';
    snprintf(id, sizeof id, "%s", url + (team ? 7 : 6));
    char *slash = strchr(id, '/');
    bool revoke = false;
    if (slash && !team && strcmp(slash, "/revoke") == 0) {
        *slash = '\0';
        revoke = true;
    } else if (slash || !id[0]) {
        return answer_error(out, 404, "not_found_error", "Unknown admin path.");
    }
    if (team)
        return team_one(c, method, id, body, len, out);
    key_one(c, method, id, revoke, body, len, out);
}
