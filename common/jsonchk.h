/* tg_jc: checking JSON files against a small schema and reporting every problem.
 *
 * The loaders of the configuration, the model catalog and the routing policy share one
 * way to complain: "FILE: $.json.path: what is wrong", one message per problem, the walk
 * going on after each so that one run reports them all.  A tg_jc collects those messages
 * into the caller's array of fixed-size problem records (any struct whose only member is
 * a char array: tg_config_problem, tg_cat_problem, tg_policy_problem) and counts also the
 * ones that did not fit.
 *
 * An object is walked child by child against a schema (the known field names and a
 * handler called once per known field).  Unknown fields are problems with a did-you-mean
 * from a small edit distance, duplicate fields are problems, and a schema may name the
 * field where a secret's environment variable goes so that a secret written inline
 * ("api_key": ...) gets a message pointing there. */
#ifndef TG_JSONCHK_H
#define TG_JSONCHK_H
#include <cjson/cJSON.h>
#include <stdbool.h>
#include <stddef.h>

#define TG_JC_PATH_MAX 160  /* bytes of a JSON path shown in a message */
#define TG_JC_SHOWN_MAX 40  /* keys and values longer than this are shortened in messages */
#define TG_JC_MSG_MAX 512   /* one message, before the file and path are put in front */
#define TG_JC_QUOTED_MAX (TG_JC_SHOWN_MAX * 4 + 8) /* tg_jc_quoted's output, always fits */
#define TG_JC_SECRET_TEXT "secrets are never inline: put the key in an environment variable " \
                          "and name it in "

typedef struct {
    const char *file; /* names the source in messages */
    char *probs;      /* maxprobs records of `stride` bytes, each a NUL-terminated text */
    size_t stride;
    int maxprobs;
    int n;            /* problems found, also those dropped */
} tg_jc;

/* A checker that stores problems in probs[0..maxprobs) (records of `stride` bytes; probs
 * may be NULL when maxprobs is 0) and labels them with `file` (kept, not copied). */
void tg_jc_init(tg_jc *jc, const char *file, void *probs, size_t stride, int maxprobs);

/* Records "FILE: PATH: message" (or "FILE: message" when path is NULL or ""), cut with
 * "..." when it does not fit; counts it either way. */
__attribute__((format(printf, 3, 4))) void tg_jc_problem(tg_jc *jc, const char *path,
                                                         const char *fmt, ...);

/* `s` for a message, into out[n] (n >= TG_JC_QUOTED_MAX): in double quotes, control and
 * non-ASCII bytes as \xNN, shortened to TG_JC_SHOWN_MAX characters with "...". */
void tg_jc_quoted(char *out, size_t n, const char *s);

/* "a string", "a number", ... for "expected X, got Y" messages. */
const char *tg_jc_type_name(const cJSON *v);

/* Does an object anywhere in `v` hold the same key twice?  Parsers disagree on which one
 * counts (cJSON the first, most vendors' the last), so a request body with a duplicate key
 * is refused rather than read one way by tollgate and another by the vendor.  On true,
 * *key points at the duplicated key (inside v).  O(k log k) per object of k keys. */
bool tg_jc_duplicate_key(const cJSON *v, const char **key);

/* parent.key, or parent["key"] when the key is not a plain name; parent[i]. */
void tg_jc_path_key(char *out, size_t n, const char *parent, const char *key);
void tg_jc_path_index(char *out, size_t n, const char *parent, int i);

/* True when `v` is a string (else a problem "expected a string, got ..."). */
bool tg_jc_want_string(tg_jc *jc, const cJSON *v, const char *path);

/* True when `v` is an object (else a problem). */
bool tg_jc_want_object(tg_jc *jc, const cJSON *v, const char *path);

/* Copies the string value into dst[n]; a problem (and false) when it is not a string, is
 * empty and !allow_empty, or does not fit. */
bool tg_jc_get_string(tg_jc *jc, const cJSON *v, const char *path, char *dst, size_t n,
                      bool allow_empty);

/* An integer from lo to hi into *out (else a problem and false). */
bool tg_jc_get_int(tg_jc *jc, const cJSON *v, const char *path, long lo, long hi, long *out);

typedef void (*tg_jc_field_fn)(tg_jc *jc, void *ctx, int field, const cJSON *v,
                               const char *path);

typedef struct {
    const char *const *names; /* the known fields, in schema order */
    int nnames;
    const char *secret_field; /* where a secret's variable is named; NULL: no such check */
    tg_jc_field_fn fn;
    bool comments;            /* fields whose name starts with '_' are comments: skipped */
} tg_jc_schema;

/* Whether a member before `c` in object `obj` has the same name (a duplicate field). */
bool tg_jc_earlier_sibling(const cJSON *obj, const cJSON *c);

/* Walks object `obj` at `path`, calling sc->fn for each known field once; unknown and
 * duplicate fields are problems.  A non-object is a problem. */
void tg_jc_walk(tg_jc *jc, const cJSON *obj, const char *path, const tg_jc_schema *sc,
                void *ctx);

/* Reads `path` (at most `max` bytes, no NUL bytes) into a new NUL-terminated buffer (the
 * caller frees it) and its length into *len, or NULL after a problem. */
char *tg_jc_read_file(tg_jc *jc, const char *path, size_t max, size_t *len);

/* Parses text[0..len) (a UTF-8 byte order mark is skipped; text[len] must be readable
 * and is usually the NUL) into a cJSON tree (the caller deletes it), or NULL after a
 * problem "line L, column C: invalid JSON ...". */
cJSON *tg_jc_parse(tg_jc *jc, const char *text, size_t len);

#endif
