/* tg_policy: the routing policy — ordered rules, first match wins (issue 4).
 *
 * {
 *   "policy_version": "2026-11-24.1",        optional; else a content hash "sha256:..."
 *   "aliases": ["auto", "fast", "smart"],    model names the policy owns (GET /v1/models
 *                                            lists them; a request for a name that is
 *                                            neither a catalog model nor an alias is 404)
 *   "rules": [
 *     {"id": "degrade", "when": {"budget_used_pct": {"$gte": 80}, "model": {"$in": ["auto"]}},
 *      "route": {"candidates": ["tier:fast"], "objective": "cheapest"}},
 *     {"id": "no-o1-for-interns", "when": {"key_tags": "intern", "model": "o1*"},
 *      "deny": "interns may not use o1 models"},
 *     {"id": "default", "when": {}, "route": {"candidates": ["$requested"]}}
 *   ]
 * }
 *
 * Conditions ("when": an object, every field must hold; {} matches everything):
 *   fields   team, key (key id), key_tags (list), model (requested model or alias),
 *            endpoint ("chat","completions","embeddings","responses","messages"),
 *            input_tokens (estimated), max_output_tokens (requested cap; absent = -1),
 *            capabilities (list: required capabilities inferred from the body, names as
 *            tg_cat_cap_name), budget_used_pct (0..100+, the team's budget used in the
 *            current period), "header.NAME" (request header, NAME lower-case)
 *   values   a plain string is a glob (* ? [abc] [!a-z]); a plain number means $eq;
 *            {"$eq": v} {"$ne": v} {"$in": [..]} {"$nin": [..]} exact (strings), and
 *            {"$lt"|"$lte"|"$gt"|"$gte": number}; several operators in one object all hold.
 *            {"$glob": "pat"} explicit glob.  On list fields (key_tags, capabilities) a
 *            plain string/$glob/$eq/$in holds when ANY element matches, $ne/$nin when NONE
 *            does.  A missing header or field only satisfies $ne / $nin.
 *   logic    {"$and": [cond, ...]}, {"$or": [cond, ...]} nest conditions.
 * Actions (exactly one of "route" and "deny"):
 *   route.candidates   list of: a catalog model name, "tier:NAME" (every model of that tier),
 *                      a glob over catalog names ("claude-*"), "$requested" (the model the
 *                      client named, when it is a catalog model)
 *   route.objective    "cheapest" (default) | "ordered" | "weighted" (route.weights:
 *                      {model or pattern: positive integer})
 *   route.substitute   may a concrete model the client named be replaced (default false:
 *                      only that model is tried)
 *   route.fallback     {"on": ["429","5xx","timeout","connect","context_length"],
 *                       "max_attempts": 3}   (default: all classes, 3 attempts)
 *   route.default_output_tokens   expected output when nothing better is known (256)
 *   deny               message of a 403 the client gets
 * A catch-all rule (when {} ) is required, and must be last.
 *
 * A policy is compiled against one catalog (candidates become model lists) and is then
 * immutable, shared read-only by all threads. */
#ifndef TG_POLICY_H
#define TG_POLICY_H
#include "policies/catalog.h"

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define TG_POLICY_MAX_FILE ((size_t)8 << 20)
#define TG_POLICY_MAX_RULES 4096
#define TG_POLICY_ID_MAX 64
#define TG_POLICY_MAX_DEPTH 16        /* $and / $or nesting */
#define TG_POLICY_MSG_MAX 256

/* Fallback classes (route.fallback.on). */
enum {
    TG_FB_429 = 1u << 0,
    TG_FB_5XX = 1u << 1,
    TG_FB_TIMEOUT = 1u << 2,
    TG_FB_CONNECT = 1u << 3,
    TG_FB_CONTEXT_LENGTH = 1u << 4,
    TG_FB_ALL = 0x1f
};

typedef enum { TG_OBJ_CHEAPEST = 0, TG_OBJ_ORDERED, TG_OBJ_WEIGHTED } tg_objective;

/* What a request looks like to the matcher.  Strings may be NULL (absent). */
typedef struct {
    const char *team, *key_id;
    const char *const *key_tags;
    int nkey_tags;
    const char *model;          /* requested model or alias */
    const char *endpoint;       /* "chat", ... */
    int64_t input_tokens;       /* estimated prompt tokens */
    int64_t max_output_tokens;  /* requested cap; -1 none */
    uint32_t caps;              /* required capabilities (TG_CAP_*) */
    double budget_used_pct;     /* 0 when the team has no budget */
    /* request header by lower-case name, or NULL */
    const char *(*header)(void *hctx, const char *name);
    void *hctx;
} tg_policy_ctx;

/* One resolved candidate of a rule: a model, with its weight (weighted objective, else 1).
 * model NULL marks "$requested", resolved per request. */
typedef struct {
    const tg_cat_model *model;
    int weight;
} tg_policy_cand;

typedef struct tg_policy_cond tg_policy_cond; /* compiled "when", private */

typedef struct {
    char id[TG_POLICY_ID_MAX];
    int index;                 /* position in "rules" */
    const tg_policy_cond *when;
    bool deny;
    char deny_message[TG_POLICY_MSG_MAX];
    tg_policy_cand *cands;     /* in the order written; a pattern expands in name order,
                                  duplicates dropped (first kept) */
    int ncands;
    tg_objective objective;
    bool substitute;
    uint32_t fallback_on;      /* TG_FB_* */
    int max_attempts;          /* >= 1 */
    int64_t default_output_tokens;
} tg_policy_rule;

typedef struct tg_policy tg_policy;

typedef struct {
    char text[512]; /* "FILE: $.rules[3].when.model.$in: must be an array of strings" */
} tg_policy_problem;

/* Compiles the policy in `text` against catalog `cat` (which must outlive the policy).
 * `name` labels problems (the file name).  text NULL: the built-in default policy
 * (policies/default_policy.json).  Every problem (syntax, unknown field or operator,
 * candidate naming no catalog model or tier, missing or misplaced catch-all, duplicate
 * rule id, ...) goes to probs[0..maxprobs) with its JSON path; returns NULL when any. */
tg_policy *tg_policy_compile(const char *text, size_t len, const char *name,
                             const tg_catalog *cat, tg_policy_problem *probs, int maxprobs,
                             int *nprobs);

/* Reads `path` (NULL: built-in default) and compiles it as above. */
tg_policy *tg_policy_load(const char *path, const tg_catalog *cat, tg_policy_problem *probs,
                          int maxprobs, int *nprobs);

void tg_policy_free(tg_policy *p);

const char *tg_policy_version(const tg_policy *p);
int tg_policy_rule_count(const tg_policy *p);
const tg_policy_rule *tg_policy_rule_at(const tg_policy *p, int i);

/* Is `name` one of the policy's aliases?  And the aliases, for listing. */
bool tg_policy_is_alias(const tg_policy *p, const char *name);
int tg_policy_alias_count(const tg_policy *p);
const char *tg_policy_alias_at(const tg_policy *p, int i);

/* The first rule whose condition holds for `ctx` (never NULL for a compiled policy: the
 * catch-all matches). */
const tg_policy_rule *tg_policy_match(const tg_policy *p, const tg_policy_ctx *ctx);

/* Does condition `c` hold for `ctx`?  (exposed for tests) */
bool tg_policy_cond_eval(const tg_policy_cond *c, const tg_policy_ctx *ctx);

/* Glob match: * any run, ? one byte, [abc] [a-z] [!x] classes; no regex engine. */
bool tg_policy_glob(const char *pattern, const char *s);

/* The policy's source text (for the admin API's read). */
const char *tg_policy_text(const tg_policy *p, size_t *len);

#endif
