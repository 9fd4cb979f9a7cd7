/* tg_policy: compiling a routing policy against a catalog, and matching requests to its
 * rules (see policy.h for the file format and the contract).
 *
 * How it works.
 *
 * Compiling is one walk over the parsed JSON.  Every object is read member by member
 * against the names it may hold (take_members, on common/jsonchk's schema walk): an
 * unknown or repeated member is a problem "FILE: $.json.path: what is wrong", and the walk
 * goes on, so one run reports every problem of the file.  Nothing compiled is returned
 * when there was any problem.
 *
 * A rule's "when" becomes a small tree of tg_policy_cond nodes: ALL (an object's fields,
 * several operators on one field, "$and"), ANY ("$or") and TEST leaves.  A TEST holds the
 * field as an enum id (header names lower-cased), the operator, and its operand in the
 * form the matcher wants: a glob checked for syntax, a string, a sorted string set (for
 * "$in"/"$nin", searched by bisection), a number or a number set as doubles, and for the
 * "capabilities" field a bit mask (names and globs are resolved against the capability
 * names when compiling, so testing is one AND).  String operands also carry a 64-bit
 * mask of the first bytes they can start with, so most non-matching strings are refused
 * without reading the operand.  The tree is then flattened (flatten): laid out in one
 * array in pre-order, the children of ALL/ANY cheapest first (numbers and capabilities,
 * then request strings, key tags, headers, nested logic), each leaf tagged with what it
 * reads.  Candidates are resolved against the catalog into tg_policy_cand arrays: "tier:X"
 * and globs expand to every matching model in catalog (name) order, "$requested" is an
 * entry with a NULL model, and a model already in the list is not added again.
 *
 * Everything a compiled policy holds (the rules, the nodes, copies of strings, the source
 * text) lives in one arena that tg_policy_free releases at once.  After compiling nothing
 * changes, so all threads read a policy without locks.
 *
 * Matching walks the rules in order (their conditions packed in one array) and evaluates
 * each flat condition with a view of the request's fields indexed by field id; it reads
 * the request context only and allocates nothing.  200 rules that each test 7 leaves
 * before failing take about 8 us on the 2-core development machine; rules that fail on
 * their first test, the usual case, about 1 to 2 us (tests/test_policy.c, match_speed).
 * Field semantics are in policy.h; one choice is ours: max_output_tokens of a request
 * without a cap is the number -1 (as the context carries it), so {"$lt": 1000} holds for
 * it: write {"$gte": 0, "$lt": 1000} for "a cap below 1000".  A rule without "when" is a
 * catch-all, like "when": {}.
 *
 * Globs: '*' any run of bytes, '?' one byte, "[abc]", "[a-z]", "[!x]" classes over bytes
 * (a ']' right after "[" or "[!" is a member), and '\' makes the next byte literal
 * (inside classes too).  The matcher is the iterative one that backtracks to the last
 * '*' only, O(len(pattern) * len(string)) at worst, without recursion.  Compiling refuses
 * broken patterns (an unclosed class, a reversed range, a trailing '\'); the matcher,
 * given one anyway, reads an unclosed '[' and a trailing '\' as literal bytes. */
#include "policies/policy.h"

#include "common/jsonchk.h"

#include <cjson/cJSON.h>
#include <ctype.h>
#include <openssl/sha.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define PATH_TEXT 320         /* bytes of a JSON path kept for a message */
#define SHOWN_MAX 60          /* bytes of a user's value shown in a message */
#define ARENA_BLOCK ((size_t)16 << 10)
#define VERSION_MAX 63        /* bytes of a given policy_version */
#define HEADER_NAME_MAX 128   /* bytes of NAME in "header.NAME" */
#define CANDIDATES_MAX 1024   /* entries of route.candidates as written */
#define WEIGHTS_MAX 1024      /* entries of route.weights */
#define WEIGHT_MAX 1000000
#define ATTEMPTS_MAX 10
#define DEFAULT_ATTEMPTS 3
#define OUTPUT_TOKENS_MAX 10000000
#define DEFAULT_OUTPUT_TOKENS 256
#define HASH_HEX 8            /* hex digits of the content hash in the version label */

/* The built-in default policy (policies/default_policy.json, embedded at build time). */
extern const char tg_default_policy_json[];
extern const size_t tg_default_policy_json_len;
#define DEFAULT_NAME "default_policy.json"

/* ---------------------------------------------------------------- arena */

typedef struct block {
    struct block *next;
    size_t used, cap;
    max_align_t data[];
} block;

typedef struct {
    block *head;
} arena;

/* n zeroed bytes that live until arena_free; NULL when memory ran out. */
static void *arena_alloc(arena *a, size_t n)
{
    const size_t align = _Alignof(max_align_t);
    n = n ? (n + align - 1) / align * align : align;
    block *b = a->head;
    if (!b || b->cap - b->used < n) {
        size_t cap = n > ARENA_BLOCK ? n : ARENA_BLOCK;
        b = malloc(sizeof *b + cap);
        if (!b)
            return NULL;
        b->used = 0;
        b->cap = cap;
        if (a->head && n > ARENA_BLOCK) { /* a big one: keep the head's free space */
            b->next = a->head->next;
            a->head->next = b;
        } else {
            b->next = a->head;
            a->head = b;
        }
    }
    void *p = (unsigned char *)b->data + b->used;
    b->used += n;
    return memset(p, 0, n);
}

static void arena_free(arena *a)
{
    for (block *b = a->head, *next; b; b = next) {
        next = b->next;
        free(b);
    }
    a->head = NULL;
}

/* ---------------------------------------------------------------- the compiled policy */

/* Node kinds: logic, and leaves by what they read (set when flattening; compiling makes
 * K_TEST leaves). */
enum { K_ALL, K_ANY, K_TEST, K_STRING, K_NUMBER, K_LIST, K_CAPS, K_HEADER };

enum {
    F_TEAM,
    F_KEY,
    F_KEY_TAGS,
    F_MODEL,
    F_ENDPOINT,
    F_INPUT_TOKENS,
    F_MAX_OUTPUT_TOKENS,
    F_CAPABILITIES,
    F_BUDGET_USED_PCT,
    F_HEADER,
    F_COUNT
};

enum { KIND_STRING, KIND_NUMBER, KIND_LIST };

static const struct {
    const char *name;
    int kind;
} fields[F_COUNT] = {
    {"team", KIND_STRING},
    {"key", KIND_STRING},
    {"key_tags", KIND_LIST},
    {"model", KIND_STRING},
    {"endpoint", KIND_STRING},
    {"input_tokens", KIND_NUMBER},
    {"max_output_tokens", KIND_NUMBER},
    {"capabilities", KIND_LIST},
    {"budget_used_pct", KIND_NUMBER},
    {"header.NAME", KIND_STRING},
};

enum { OP_GLOB, OP_EQ, OP_NE, OP_IN, OP_NIN, OP_LT, OP_LTE, OP_GT, OP_GTE, OP_COUNT };
static const char *const op_names[OP_COUNT] = {"$glob", "$eq",  "$ne", "$in", "$nin",
                                               "$lt",   "$lte", "$gt", "$gte"};

static const char *const endpoint_names[] = {"chat", "completions", "embeddings",
                                             "responses", "messages"};
#define ENDPOINT_COUNT ((int)(sizeof endpoint_names / sizeof endpoint_names[0]))

/* A condition node.  Compiling builds a tree (ALL/ANY nodes point to their children);
 * flatten() then lays each rule's tree out in one array in pre-order, an ALL/ANY node
 * followed by its children's subtrees, so matching walks contiguous memory. */
struct tg_policy_cond {
    unsigned char kind, field, op;
    int n;               /* ALL/ANY: children; $in/$nin: members */
    int size;            /* flat form: nodes in this subtree, itself included */
    uint64_t firsts;     /* string operands: bit (b & 63) for each first byte b one may
                            start with (all bits for a glob starting with a wildcard) */
    union {
        const tg_policy_cond *const *kids; /* ALL/ANY while compiling */
        const char *str;                   /* glob or exact string */
        const char *const *set;            /* $in/$nin on strings, sorted */
        const double *nums;                /* $in/$nin on numbers */
        double num;
        uint32_t mask;                     /* capabilities named */
    } u;
    const char *hname;   /* F_HEADER: the lower-case header name */
};

/* The condition of a rule without "when" or with "when": {}. */
static const tg_policy_cond match_all = {.kind = K_ALL, .size = 1};

struct tg_policy {
    arena mem;
    const tg_catalog *cat;
    const char *text;
    size_t len;
    char version[VERSION_MAX + 1];
    tg_policy_rule *rules;
    int nrules;
    const char **aliases;        /* as written */
    const char **sorted_aliases; /* for bisection */
    int naliases;
    const tg_policy_cond **whens; /* rules[i].when, packed for the match loop */
};

/* ---------------------------------------------------------------- glob */

/* Matches byte `ch` against the class that starts at p (just after '[').  Returns where
 * the pattern goes on after the closing ']', or NULL when the class is not closed. */
static const char *class_match(const char *p, unsigned char ch, bool *hit)
{
    bool negate = *p == '!', found = false;
    if (negate)
        p++;
    const char *first = p;
    while (*p && (*p != ']' || p == first)) {
        if (*p == '\\' && p[1])
            p++;
        unsigned char lo = (unsigned char)*p++, hi = lo;
        if (p[0] == '-' && p[1] && p[1] != ']') {
            p++;
            if (*p == '\\' && p[1])
                p++;
            hi = (unsigned char)*p++;
        }
        if (lo <= ch && ch <= hi)
            found = true;
    }
    if (*p != ']')
        return NULL;
    *hit = found != negate;
    return p + 1;
}

/* Does the pattern element at *pat (not '*', not the end) match `ch`?  *pat moves past
 * the element. */
static bool element_match(const char **pat, unsigned char ch)
{
    const char *p = *pat;
    bool hit = false;
    if (*p == '?') {
        *pat = p + 1;
        return true;
    }
    if (*p == '[') {
        const char *after = class_match(p + 1, ch, &hit);
        if (after) {
            *pat = after;
            return hit;
        }
    } else if (*p == '\\' && p[1]) {
        p++;
    }
    *pat = p + 1;
    return (unsigned char)*p == ch;
}

bool tg_policy_glob(const char *pattern, const char *s)
{
    const char *star_p = NULL, *star_s = NULL, *p = pattern;
    while (*s) {
        if (*p == '*') {
            while (*p == '*')
                p++;
            star_p = p;
            star_s = s;
            continue;
        }
        const char *next = p;
        if (*p && element_match(&next, (unsigned char)*s)) {
            p = next;
            s++;
            continue;
        }
        if (!star_p)
            return false;
        p = star_p; /* let the last '*' take one more byte */
        s = ++star_s;
    }
    while (*p == '*')
        p++;
    return *p == '\0';
}

/* Is `pat` a well-formed glob?  When not, *why says what is wrong. */
static bool glob_check(const char *pat, const char **why)
{
    for (const char *p = pat; *p; p++) {
        if (*p == '\\') {
            if (!p[1]) {
                *why = "ends with a lone '\\'";
                return false;
            }
            p++;
            continue;
        }
        if (*p != '[')
            continue;
        const char *q = p + 1 + (p[1] == '!');
        const char *first = q;
        while (*q && (*q != ']' || q == first)) {
            q += *q == '\\' && q[1] ? 1 : 0;
            unsigned char lo = (unsigned char)*q++;
            if (q[0] == '-' && q[1] && q[1] != ']') {
                q += q[1] == '\\' && q[2] ? 2 : 1;
                if ((unsigned char)*q < lo) {
                    *why = "a range runs backwards (like z-a)";
                    return false;
                }
                q++;
            }
        }
        if (*q != ']') {
            *why = "a '[' class is not closed with ']'";
            return false;
        }
        p = q;
    }
    return true;
}

static bool has_glob_meta(const char *s)
{
    return strpbrk(s, "*?[\\") != NULL;
}

/* ---------------------------------------------------------------- matching */

static int cmp_str(const void *a, const void *b)
{
    return strcmp(*(const char *const *)a, *(const char *const *)b);
}

/* strcmp, inlined: the strings compared while matching are short. */
static int str_cmp(const char *a, const char *b)
{
    while (*a && *a == *b)
        a++, b++;
    return (unsigned char)*a - (unsigned char)*b;
}

static bool in_set(const tg_policy_cond *c, const char *s)
{
    int lo = 0, hi = c->n - 1;
    while (lo <= hi) {
        int mid = lo + (hi - lo) / 2;
        int d = str_cmp(s, c->u.set[mid]);
        if (d == 0)
            return true;
        if (d < 0)
            hi = mid - 1;
        else
            lo = mid + 1;
    }
    return false;
}

static bool in_nums(const tg_policy_cond *c, double v)
{
    for (int i = 0; i < c->n; i++)
        if (c->u.nums[i] == v)
            return true;
    return false;
}

static bool is_negative(int op)
{
    return op == OP_NE || op == OP_NIN;
}

/* $ne -> $eq, $nin -> $in: what one element of a list must not satisfy. */
static int positive_of(int op)
{
    return op == OP_NE ? OP_EQ : op == OP_NIN ? OP_IN : op;
}

static bool string_test(const tg_policy_cond *c, int op, const char *s)
{
    bool maybe = (c->firsts >> ((unsigned char)s[0] & 63)) & 1; /* false: a sure "no" */
    switch (op) {
    case OP_GLOB:
        return maybe && tg_policy_glob(c->u.str, s);
    case OP_EQ:
        return maybe && str_cmp(c->u.str, s) == 0;
    case OP_NE:
        return !maybe || str_cmp(c->u.str, s) != 0;
    case OP_IN:
        return maybe && in_set(c, s);
    case OP_NIN:
        return !maybe || !in_set(c, s);
    default:
        return false;
    }
}

static bool number_test(const tg_policy_cond *c, double v)
{
    switch (c->op) {
    case OP_EQ:
        return v == c->u.num;
    case OP_NE:
        return v != c->u.num;
    case OP_IN:
        return in_nums(c, v);
    case OP_NIN:
        return !in_nums(c, v);
    case OP_LT:
        return v < c->u.num;
    case OP_LTE:
        return v <= c->u.num;
    case OP_GT:
        return v > c->u.num;
    case OP_GTE:
        return v >= c->u.num;
    default:
        return false;
    }
}

/* A list field: positive operators hold when any element matches, negative ones when
 * none does (an empty or missing list matches nothing). */
static bool list_test(const tg_policy_cond *c, const char *const *items, int n)
{
    int op = positive_of(c->op);
    bool any = false;
    for (int i = 0; i < n && !any; i++)
        any = items[i] && string_test(c, op, items[i]);
    return is_negative(c->op) ? !any : any;
}

/* The request as the matcher reads it: string and number fields by id. */
typedef struct {
    const char *str[F_COUNT];
    double num[F_COUNT];
    const tg_policy_ctx *ctx;
} view;

static void view_init(view *v, const tg_policy_ctx *ctx)
{
    v->str[F_TEAM] = ctx->team;
    v->str[F_KEY] = ctx->key_id;
    v->str[F_MODEL] = ctx->model;
    v->str[F_ENDPOINT] = ctx->endpoint;
    v->num[F_INPUT_TOKENS] = (double)ctx->input_tokens;
    v->num[F_MAX_OUTPUT_TOKENS] = (double)ctx->max_output_tokens;
    v->num[F_BUDGET_USED_PCT] = ctx->budget_used_pct;
    v->ctx = ctx;
}

/* A missing string only satisfies $ne and $nin. */
static bool string_or_missing(const tg_policy_cond *c, const char *s)
{
    return s ? string_test(c, c->op, s) : is_negative(c->op);
}

static bool eval(const tg_policy_cond *c, const view *v)
{
    const tg_policy_ctx *ctx = v->ctx;
    switch (c->kind) {
    case K_STRING:
        return string_or_missing(c, v->str[c->field]);
    case K_NUMBER:
        return number_test(c, v->num[c->field]);
    case K_CAPS:
        return ((ctx->caps & c->u.mask) != 0) != is_negative(c->op);
    case K_LIST:
        return list_test(c, ctx->key_tags, ctx->key_tags ? ctx->nkey_tags : 0);
    case K_HEADER:
        return string_or_missing(c, ctx->header ? ctx->header(ctx->hctx, c->hname) : NULL);
    default:
        break;
    }
    bool any = c->kind == K_ANY; /* ALL stops at the first false, ANY at the first true */
    const tg_policy_cond *kid = c + 1;
    for (int i = 0; i < c->n; i++, kid += kid->size)
        if (eval(kid, v) == any)
            return any;
    return !any;
}

bool tg_policy_cond_eval(const tg_policy_cond *c, const tg_policy_ctx *ctx)
{
    view v;
    if (!c)
        return true;
    view_init(&v, ctx);
    return eval(c, &v);
}

const tg_policy_rule *tg_policy_match(const tg_policy *p, const tg_policy_ctx *ctx)
{
    view v;
    view_init(&v, ctx);
    for (int i = 0; i < p->nrules; i++)
        if (eval(p->whens[i], &v))
            return &p->rules[i];
    return NULL; /* not reached: the last rule is a catch-all */
}

/* ---------------------------------------------------------------- problems and paths */

typedef struct {
    tg_jc jc;                    /* problems */
    arena *mem;                  /* the policy's arena */
    const tg_catalog *cat;
    int ncat;
    unsigned char *taken;        /* per rule: catalog index -> already a candidate */
    tg_policy_cand *cands;       /* per rule: candidates collected (ncat + 1) */
    bool oom_told;
} comp;

/* arena_alloc that reports running out of memory (once). */
static void *alloc(comp *c, size_t n)
{
    void *p = arena_alloc(c->mem, n);
    if (!p && !c->oom_told) {
        c->oom_told = true;
        tg_jc_problem(&c->jc, NULL, "out of memory");
    }
    return p;
}

static const char *copy_str(comp *c, const char *s)
{
    size_t n = strlen(s) + 1;
    char *p = alloc(c, n);
    return p ? memcpy(p, s, n) : NULL;
}

/* `s` as shown in a message: printable ASCII as is, other bytes as \xNN, at most
 * SHOWN_MAX bytes of it and then "...". */
static const char *shown(const char *s, char *out, size_t n)
{
    size_t o = 0, i = 0;
    for (; s[i] && i < SHOWN_MAX && o + 5 < n; i++) {
        unsigned char ch = (unsigned char)s[i];
        if (ch >= 0x20 && ch < 0x7f)
            out[o++] = (char)ch;
        else
            o += (size_t)snprintf(out + o, n - o, "\\x%02x", ch);
    }
    snprintf(out + o, n - o, "%s", s[i] ? "..." : "");
    return out;
}

#define SHOWN_BUF (SHOWN_MAX * 4 + 8)

/* names joined with ", " into out. */
static const char *joined(const char *const *names, int n, char *out, size_t size)
{
    size_t o = 0;
    out[0] = '\0';
    for (int i = 0; i < n && o < size; i++)
        o += (size_t)snprintf(out + o, size - o, "%s%s", i ? ", " : "", names[i]);
    return out;
}

/* tg_jc_walk's handler for take_members: remembers each known member. */
static void take_one(tg_jc *jc, void *ctx, int field, const cJSON *v, const char *path)
{
    (void)jc;
    (void)path;
    ((const cJSON **)ctx)[field] = v;
}

/* Reads the members of object `obj` (at `path`) that `names` lists into got[] (NULL when
 * absent), and each one's path into paths[] when not NULL; an unknown or repeated member
 * is a problem.  False (a problem) when `obj` is not an object. */
static bool take_members(comp *c, const cJSON *obj, const char *path,
                         const char *const *names, int nnames, const cJSON **got,
                         char (*paths)[PATH_TEXT])
{
    const tg_jc_schema sc = {names, nnames, NULL, take_one, false};
    if (!cJSON_IsObject(obj)) {
        tg_jc_problem(&c->jc, path, "must be an object");
        return false;
    }
    for (int i = 0; i < nnames; i++) {
        got[i] = NULL;
        if (paths)
            tg_jc_path_key(paths[i], PATH_TEXT, path, names[i]);
    }
    tg_jc_walk(&c->jc, obj, path, &sc, got);
    return true;
}

/* ---------------------------------------------------------------- conditions */

static const tg_policy_cond *compile_when(comp *c, const cJSON *obj, const char *path,
                                          int depth);

static tg_policy_cond *new_node(comp *c, int kind, int nkids)
{
    tg_policy_cond *node = alloc(c, sizeof *node);
    if (!node)
        return NULL;
    node->kind = (unsigned char)kind;
    if (nkids > 0 && !(node->u.kids = alloc(c, (size_t)nkids * sizeof *node->u.kids)))
        return NULL;
    return node;
}

static void add_kid(tg_policy_cond *node, const tg_policy_cond *kid)
{
    if (kid)
        ((const tg_policy_cond **)node->u.kids)[node->n++] = kid;
}

static int count_members(const cJSON *v)
{
    int n = 0;
    for (const cJSON *m = v->child; m; m = m->next)
        n++;
    return n;
}

/* "header.NAME": NAME is 1..HEADER_NAME_MAX bytes of an HTTP token; kept lower-case. */
static const char *header_name(comp *c, const char *key, const char *path)
{
    const char *name = key + strlen("header.");
    size_t n = strlen(name);
    bool ok = n > 0 && n <= HEADER_NAME_MAX;
    for (size_t i = 0; ok && i < n; i++)
        ok = isalnum((unsigned char)name[i]) || strchr("!#$%&'*+-.^_`|~", name[i]);
    if (!ok) {
        tg_jc_problem(&c->jc, path, "header.NAME needs NAME of 1 to %d letters, digits or !#$%%&'*+-.^_`|~",
                HEADER_NAME_MAX);
        return NULL;
    }
    char *low = alloc(c, n + 1);
    for (size_t i = 0; low && i < n; i++)
        low[i] = (char)tolower((unsigned char)name[i]);
    return low;
}

/* The field id of condition key `key`, or -1 after a problem. */
static int field_id(comp *c, const char *key, const char *path)
{
    for (int f = 0; f < F_HEADER; f++)
        if (strcmp(key, fields[f].name) == 0)
            return f;
    if (strncmp(key, "header.", strlen("header.")) == 0)
        return F_HEADER;
    tg_jc_problem(&c->jc, path,
            "unknown field (known: team, key, key_tags, model, endpoint, input_tokens, "
            "max_output_tokens, capabilities, budget_used_pct, header.NAME, $and, $or)");
    return -1;
}

/* capabilities: the bits that `s` names (exact) or matches (glob); 0 after a problem. */
static uint32_t caps_named(comp *c, const char *s, bool glob, const char *path)
{
    char q[SHOWN_BUF];
    uint32_t mask = 0;
    for (int b = 0; b < TG_CAP_COUNT; b++) {
        const char *name = tg_cat_cap_name(1u << b);
        if (name && (glob ? tg_policy_glob(s, name) : strcmp(s, name) == 0))
            mask |= 1u << b;
    }
    if (!mask)
        tg_jc_problem(&c->jc, path, glob ? "'%s' matches no capability" : "'%s' is not a capability",
                shown(s, q, sizeof q));
    return mask;
}

static void check_endpoint(comp *c, const char *s, const char *path)
{
    char q[SHOWN_BUF], known[128];
    for (int i = 0; i < ENDPOINT_COUNT; i++)
        if (strcmp(s, endpoint_names[i]) == 0)
            return;
    tg_jc_problem(&c->jc, path, "'%s' is not an endpoint (known: %s)", shown(s, q, sizeof q),
            joined(endpoint_names, ENDPOINT_COUNT, known, sizeof known));
}

/* One string operand `s` of `node` at `path`: checked for its field and operator. */
static void check_operand(comp *c, tg_policy_cond *node, const char *s, const char *path)
{
    char q[SHOWN_BUF];
    const char *why;
    if (node->op == OP_GLOB && !glob_check(s, &why)) {
        tg_jc_problem(&c->jc, path, "invalid glob '%s': %s", shown(s, q, sizeof q), why);
        return;
    }
    if (node->field == F_CAPABILITIES)
        node->u.mask |= caps_named(c, s, node->op == OP_GLOB, path);
    else if (node->field == F_ENDPOINT && node->op != OP_GLOB)
        check_endpoint(c, s, path);
}

static uint64_t first_bit(const char *s)
{
    return (uint64_t)1 << ((unsigned char)s[0] & 63);
}

/* $in / $nin on a string or list field: a sorted copy of the strings (capabilities keep
 * only their mask). */
static bool string_set(comp *c, tg_policy_cond *node, const cJSON *v, const char *path)
{
    bool keep = node->field != F_CAPABILITIES;
    int n = keep ? count_members(v) : 0, i = 0;
    const char **set = n ? alloc(c, (size_t)n * sizeof *set) : NULL;
    if (n && !set)
        return false;
    for (const cJSON *e = v->child; e; e = e->next, i++) {
        char epath[PATH_TEXT];
        tg_jc_path_index(epath, PATH_TEXT, path, i);
        check_operand(c, node, e->valuestring, epath);
        node->firsts |= first_bit(e->valuestring);
        if (keep && !(set[i] = copy_str(c, e->valuestring)))
            return false;
    }
    if (!keep)
        return true;
    if (n > 1)
        qsort(set, (size_t)n, sizeof *set, cmp_str);
    node->u.set = set;
    node->n = n;
    return true;
}

static bool all_of_type(const cJSON *arr, cJSON_bool (*is)(const cJSON *))
{
    if (!cJSON_IsArray(arr))
        return false;
    for (const cJSON *e = arr->child; e; e = e->next)
        if (!is(e))
            return false;
    return true;
}

/* The operand of a string or list field's operator. */
static bool string_operand(comp *c, tg_policy_cond *node, const cJSON *v, const char *path)
{
    bool set = node->op == OP_IN || node->op == OP_NIN;
    if (set && !all_of_type(v, cJSON_IsString)) {
        tg_jc_problem(&c->jc, path, "must be an array of strings");
        return false;
    }
    if (set)
        return string_set(c, node, v, path);
    if (!cJSON_IsString(v)) {
        tg_jc_problem(&c->jc, path, "must be a string");
        return false;
    }
    check_operand(c, node, v->valuestring, path);
    if (node->field == F_CAPABILITIES)
        return true;
    node->firsts = first_bit(v->valuestring);
    if (node->op == OP_GLOB && strchr("*?[\\", v->valuestring[0]))
        node->firsts = UINT64_MAX; /* no literal first byte ("" has '\0') */
    return (node->u.str = copy_str(c, v->valuestring)) != NULL;
}

/* The operand of a number field's operator. */
static bool number_operand(comp *c, tg_policy_cond *node, const cJSON *v, const char *path)
{
    if (node->op != OP_IN && node->op != OP_NIN) {
        if (!cJSON_IsNumber(v)) {
            tg_jc_problem(&c->jc, path, "must be a number");
            return false;
        }
        node->u.num = v->valuedouble;
        return true;
    }
    if (!all_of_type(v, cJSON_IsNumber)) {
        tg_jc_problem(&c->jc, path, "must be an array of numbers");
        return false;
    }
    int n = count_members(v), i = 0;
    double *nums = n ? alloc(c, (size_t)n * sizeof *nums) : NULL;
    if (n && !nums)
        return false;
    for (const cJSON *e = v->child; e; e = e->next)
        nums[i++] = e->valuedouble;
    node->u.nums = nums;
    node->n = n;
    return true;
}

/* A TEST node: field `f` (header name `hname`), operator `op` with operand `v`. */
static const tg_policy_cond *compile_op(comp *c, int f, const char *hname, int op,
                                        const cJSON *v, const char *path)
{
    int kind = fields[f].kind;
    if (op >= OP_LT && kind != KIND_NUMBER) {
        tg_jc_problem(&c->jc, path, "%s applies only to number fields (input_tokens, "
                "max_output_tokens, budget_used_pct)", op_names[op]);
        return NULL;
    }
    if (op == OP_GLOB && kind == KIND_NUMBER) {
        tg_jc_problem(&c->jc, path, "$glob applies only to string and list fields");
        return NULL;
    }
    tg_policy_cond *node = new_node(c, K_TEST, 0);
    if (!node)
        return NULL;
    node->field = (unsigned char)f;
    node->op = (unsigned char)op;
    node->hname = hname;
    bool ok = kind == KIND_NUMBER ? number_operand(c, node, v, path)
                                  : string_operand(c, node, v, path);
    return ok ? node : NULL;
}

/* {"$op": operand, ...} on field f: one TEST, or an ALL of several. */
static const tg_policy_cond *compile_ops(comp *c, int f, const char *hname, const cJSON *v,
                                         const char *path)
{
    char known[128];
    unsigned seen = 0;
    if (!v->child) {
        tg_jc_problem(&c->jc, path, "must hold at least one operator");
        return NULL;
    }
    tg_policy_cond *all = new_node(c, K_ALL, count_members(v));
    if (!all)
        return NULL;
    for (const cJSON *m = v->child; m; m = m->next) {
        char mpath[PATH_TEXT];
        tg_jc_path_key(mpath, PATH_TEXT, path, m->string);
        int op = 0;
        while (op < OP_COUNT && strcmp(op_names[op], m->string) != 0)
            op++;
        if (op == OP_COUNT)
            tg_jc_problem(&c->jc, mpath, "unknown operator (known: %s)",
                    joined(op_names, OP_COUNT, known, sizeof known));
        else if (seen & (1u << op))
            tg_jc_problem(&c->jc, mpath, "duplicate field (each field may appear once)");
        else
            add_kid(all, compile_op(c, f, hname, op, m, mpath));
        if (op < OP_COUNT)
            seen |= 1u << op;
    }
    return all->n == 1 ? all->u.kids[0] : all;
}

/* The value `v` of condition field `f` (named `key`) at `path`. */
static const tg_policy_cond *compile_field(comp *c, int f, const char *key, const cJSON *v,
                                           const char *path)
{
    const char *hname = f == F_HEADER ? header_name(c, key, path) : NULL;
    if (f == F_HEADER && !hname)
        return NULL;
    int kind = fields[f].kind;
    if (cJSON_IsObject(v))
        return compile_ops(c, f, hname, v, path);
    if (cJSON_IsString(v) && kind != KIND_NUMBER)
        return compile_op(c, f, hname, OP_GLOB, v, path);
    if (cJSON_IsNumber(v) && kind == KIND_NUMBER)
        return compile_op(c, f, hname, OP_EQ, v, path);
    if (kind == KIND_NUMBER)
        tg_jc_problem(&c->jc, path, "must be a number or an object of operators");
    else if (cJSON_IsArray(v))
        tg_jc_problem(&c->jc, path, "must be a string (a glob) or an object of operators "
                "(a list of values: {\"$in\": [...]})");
    else
        tg_jc_problem(&c->jc, path, "must be a string (a glob) or an object of operators");
    return NULL;
}

/* "$and" / "$or": a non-empty array of condition objects, one level deeper. */
static const tg_policy_cond *compile_logic(comp *c, int kind, const cJSON *arr,
                                           const char *path, int depth)
{
    if (depth >= TG_POLICY_MAX_DEPTH) {
        tg_jc_problem(&c->jc, path, "nested deeper than %d levels of $and/$or", TG_POLICY_MAX_DEPTH);
        return NULL;
    }
    if (!cJSON_IsArray(arr) || !arr->child) {
        tg_jc_problem(&c->jc, path, "must be a non-empty array of condition objects");
        return NULL;
    }
    tg_policy_cond *node = new_node(c, kind, count_members(arr));
    if (!node)
        return NULL;
    int i = 0;
    for (const cJSON *e = arr->child; e; e = e->next, i++) {
        char epath[PATH_TEXT];
        tg_jc_path_index(epath, PATH_TEXT, path, i);
        add_kid(node, compile_when(c, e, epath, depth + 1));
    }
    return node;
}

/* A condition object: all its members must hold. */
static const tg_policy_cond *compile_when(comp *c, const cJSON *obj, const char *path,
                                          int depth)
{
    if (!cJSON_IsObject(obj)) {
        tg_jc_problem(&c->jc, path, "must be an object");
        return NULL;
    }
    if (!obj->child)
        return &match_all;
    tg_policy_cond *all = new_node(c, K_ALL, count_members(obj));
    if (!all)
        return NULL;
    unsigned seen = 0; /* fields (not headers), then $and, $or: each may appear once */
    for (const cJSON *m = obj->child; m; m = m->next) {
        char mpath[PATH_TEXT];
        tg_jc_path_key(mpath, PATH_TEXT, path, m->string);
        int f = strcmp(m->string, "$and") == 0  ? F_COUNT
                : strcmp(m->string, "$or") == 0 ? F_COUNT + 1
                : m->string[0] == '$'           ? -2
                                                : field_id(c, m->string, mpath);
        if (f == -2)
            tg_jc_problem(&c->jc, mpath, "unknown operator (known here: $and, $or)");
        if (f < 0)
            continue;
        if (f != F_HEADER && (seen & (1u << f))) {
            tg_jc_problem(&c->jc, mpath, "duplicate field (each field may appear once)");
            continue;
        }
        seen |= 1u << f;
        if (f >= F_COUNT)
            add_kid(all, compile_logic(c, f == F_COUNT ? K_ALL : K_ANY, m, mpath, depth));
        else
            add_kid(all, compile_field(c, f, m->string, m, mpath));
    }
    return all->n == 1 ? all->u.kids[0] : all;
}

/* Children of ALL/ANY are tested cheapest first (the result does not depend on the
 * order): numbers and capabilities, then request strings, key tags, headers (a call),
 * nested $and/$or. */
#define RANK_COUNT 5
static int cost_rank(const tg_policy_cond *t)
{
    if (t->kind != K_TEST)
        return 4;
    if (t->field == F_HEADER)
        return 3;
    if (t->field == F_KEY_TAGS)
        return 2;
    return fields[t->field].kind == KIND_NUMBER || t->field == F_CAPABILITIES ? 0 : 1;
}

/* The kind of leaf a compiled TEST becomes: what it reads. */
static unsigned char leaf_kind(const tg_policy_cond *t)
{
    switch (t->field) {
    case F_HEADER:
        return K_HEADER;
    case F_KEY_TAGS:
        return K_LIST;
    case F_CAPABILITIES:
        return K_CAPS;
    default:
        return fields[t->field].kind == KIND_NUMBER ? K_NUMBER : K_STRING;
    }
}

static int tree_nodes(const tg_policy_cond *t)
{
    int n = 1;
    for (int i = 0; t->kind != K_TEST && i < t->n; i++)
        n += tree_nodes(t->u.kids[i]);
    return n;
}

/* Copies tree `t` into out[] in pre-order, children cheapest first; returns the end. */
static tg_policy_cond *flatten_into(const tg_policy_cond *t, tg_policy_cond *out)
{
    tg_policy_cond *next = out + 1;
    *out = *t;
    out->size = 1;
    if (t->kind == K_TEST) {
        out->kind = leaf_kind(t);
        return next;
    }
    out->u.kids = NULL;
    for (int rank = 0; rank < RANK_COUNT; rank++)
        for (int i = 0; i < t->n; i++)
            if (cost_rank(t->u.kids[i]) == rank)
                next = flatten_into(t->u.kids[i], next);
    out->size = (int)(next - out);
    return next;
}

/* The flat form of compiled tree `t` (NULL after a problem). */
static const tg_policy_cond *flatten(comp *c, const tg_policy_cond *t)
{
    if (!t || t == &match_all)
        return t;
    tg_policy_cond *flat = alloc(c, (size_t)tree_nodes(t) * sizeof *flat);
    if (flat)
        flatten_into(t, flat);
    return flat;
}

/* ---------------------------------------------------------------- candidates */

/* Does candidate or weight spec `spec` name model `m` (NULL: the requested model)? */
static bool spec_matches(const char *spec, const tg_cat_model *m)
{
    if (!m)
        return strcmp(spec, "$requested") == 0;
    if (strncmp(spec, "tier:", 5) == 0)
        return spec[5] && strcmp(spec + 5, m->tier) == 0;
    if (strcmp(spec, m->name) == 0)
        return true;
    return has_glob_meta(spec) && tg_policy_glob(spec, m->name);
}

static void add_cand(comp *c, tg_policy_rule *r, int idx)
{
    if (idx >= 0) {
        if (c->taken[idx])
            return;
        c->taken[idx] = 1;
    } else {
        for (int i = 0; i < r->ncands; i++)
            if (!c->cands[i].model)
                return;
    }
    c->cands[r->ncands++] = (tg_policy_cand){idx >= 0 ? tg_catalog_at(c->cat, idx) : NULL, 1};
}

/* The catalog index of the model called `name`, or -1 (catalog is in name order). */
static int model_index(const comp *c, const char *name)
{
    int lo = 0, hi = c->ncat - 1;
    while (lo <= hi) {
        int mid = lo + (hi - lo) / 2;
        int d = strcmp(name, tg_catalog_at(c->cat, mid)->name);
        if (d == 0)
            return mid;
        if (d < 0)
            hi = mid - 1;
        else
            lo = mid + 1;
    }
    return -1;
}

/* Adds the models candidate spec `s` names; false when it names none. */
static bool expand_spec(comp *c, tg_policy_rule *r, const char *s)
{
    if (strcmp(s, "$requested") == 0) {
        add_cand(c, r, -1);
        return true;
    }
    int idx = strncmp(s, "tier:", 5) == 0 ? -1 : model_index(c, s);
    if (idx >= 0) {
        add_cand(c, r, idx);
        return true;
    }
    if (strncmp(s, "tier:", 5) != 0 && !has_glob_meta(s))
        return false;
    bool any = false;
    for (int i = 0; i < c->ncat; i++) {
        if (spec_matches(s, tg_catalog_at(c->cat, i))) {
            add_cand(c, r, i);
            any = true;
        }
    }
    return any;
}

static void compile_candidates(comp *c, const cJSON *v, const char *path, tg_policy_rule *r)
{
    char q[SHOWN_BUF];
    if (!cJSON_IsArray(v) || !v->child || count_members(v) > CANDIDATES_MAX) {
        tg_jc_problem(&c->jc, path, "must be a non-empty array of at most %d strings", CANDIDATES_MAX);
        return;
    }
    memset(c->taken, 0, (size_t)c->ncat);
    int i = 0;
    for (const cJSON *e = v->child; e; e = e->next, i++) {
        char epath[PATH_TEXT];
        const char *s = e->valuestring, *why;
        tg_jc_path_index(epath, PATH_TEXT, path, i);
        if (!cJSON_IsString(e))
            tg_jc_problem(&c->jc, epath, "must be a string");
        else if (has_glob_meta(s) && model_index(c, s) < 0 && !glob_check(s, &why))
            tg_jc_problem(&c->jc, epath, "invalid glob '%s': %s", shown(s, q, sizeof q), why);
        else if (!expand_spec(c, r, s))
            tg_jc_problem(&c->jc, epath, "'%s' is not a catalog model, tier or pattern matching any model",
                    shown(s, q, sizeof q));
    }
    if (r->ncands && !(r->cands = alloc(c, (size_t)r->ncands * sizeof *r->cands)))
        return;
    if (r->ncands)
        memcpy(r->cands, c->cands, (size_t)r->ncands * sizeof *r->cands);
}

/* route.weights: each candidate takes the value of the first key naming it. */
static void compile_weights(comp *c, const cJSON *w, const char *path, tg_policy_rule *r)
{
    char q[SHOWN_BUF];
    if (!cJSON_IsObject(w) || count_members(w) > WEIGHTS_MAX) {
        tg_jc_problem(&c->jc, path, "must be an object of at most %d model or pattern: weight",
                WEIGHTS_MAX);
        return;
    }
    bool bad = false; /* a weight was refused: do not blame the candidates it names */
    for (int k = 0; k < r->ncands; k++)
        r->cands[k].weight = 0;
    for (const cJSON *m = w->child; m; m = m->next) {
        char mpath[PATH_TEXT];
        long weight = 0;
        bool used = false;
        tg_jc_path_key(mpath, PATH_TEXT, path, m->string);
        if (!tg_jc_get_int(&c->jc, m, mpath, 1, WEIGHT_MAX, &weight)) {
            bad = true;
            continue;
        }
        for (int k = 0; k < r->ncands; k++) {
            if (!spec_matches(m->string, r->cands[k].model))
                continue;
            used = true;
            if (!r->cands[k].weight)
                r->cands[k].weight = (int)weight;
        }
        if (!used)
            tg_jc_problem(&c->jc, mpath, "matches no candidate of this rule");
    }
    for (int k = 0; k < r->ncands && !bad; k++)
        if (!r->cands[k].weight)
            tg_jc_problem(&c->jc, path, "no weight for candidate '%s'",
                    r->cands[k].model ? shown(r->cands[k].model->name, q, sizeof q)
                                      : "$requested");
}

/* ---------------------------------------------------------------- rules */

static const char *const objective_names[] = {"cheapest", "ordered", "weighted"};
#define OBJECTIVE_COUNT 3

static const char *const fallback_names[] = {"429", "5xx", "timeout", "connect",
                                             "context_length"};
#define FALLBACK_COUNT 5

/* *out = the index of v's string in names[], else a problem naming them. */
static bool get_choice(comp *c, const cJSON *v, const char *path, const char *const *names,
                       int n, int *out)
{
    char q[SHOWN_BUF], known[128];
    for (int i = 0; cJSON_IsString(v) && i < n; i++) {
        if (strcmp(v->valuestring, names[i]) == 0) {
            *out = i;
            return true;
        }
    }
    if (cJSON_IsString(v))
        tg_jc_problem(&c->jc, path, "unknown value '%s' (known: %s)", shown(v->valuestring, q, sizeof q),
                joined(names, n, known, sizeof known));
    else
        tg_jc_problem(&c->jc, path, "must be one of %s", joined(names, n, known, sizeof known));
    return false;
}

enum { FB_ON, FB_MAX_ATTEMPTS, FB_COUNT };
static const char *const fb_fields[FB_COUNT] = {"on", "max_attempts"};

static void compile_fallback(comp *c, const cJSON *v, const char *path, tg_policy_rule *r)
{
    const cJSON *got[FB_COUNT];
    char p[FB_COUNT][PATH_TEXT];
    if (!take_members(c, v, path, fb_fields, FB_COUNT, got, p))
        return;
    long attempts;
    if (got[FB_MAX_ATTEMPTS] &&
        tg_jc_get_int(&c->jc, got[FB_MAX_ATTEMPTS], p[FB_MAX_ATTEMPTS], 1, ATTEMPTS_MAX,
                      &attempts))
        r->max_attempts = (int)attempts;
    if (!got[FB_ON])
        return;
    if (!cJSON_IsArray(got[FB_ON])) {
        tg_jc_problem(&c->jc, p[FB_ON], "must be an array of failure classes");
        return;
    }
    r->fallback_on = 0;
    int i = 0, cls = 0;
    for (const cJSON *e = got[FB_ON]->child; e; e = e->next, i++) {
        char epath[PATH_TEXT];
        tg_jc_path_index(epath, PATH_TEXT, p[FB_ON], i);
        if (get_choice(c, e, epath, fallback_names, FALLBACK_COUNT, &cls))
            r->fallback_on |= 1u << cls;
    }
}

enum { RT_CANDIDATES, RT_OBJECTIVE, RT_WEIGHTS, RT_SUBSTITUTE, RT_FALLBACK, RT_OUTPUT,
       RT_COUNT };
static const char *const route_fields[RT_COUNT] = {
    "candidates", "objective", "weights", "substitute", "fallback", "default_output_tokens"};

static void compile_route(comp *c, const cJSON *v, const char *path, tg_policy_rule *r)
{
    const cJSON *got[RT_COUNT];
    char p[RT_COUNT][PATH_TEXT];
    if (!take_members(c, v, path, route_fields, RT_COUNT, got, p))
        return;
    if (got[RT_CANDIDATES])
        compile_candidates(c, got[RT_CANDIDATES], p[RT_CANDIDATES], r);
    else
        tg_jc_problem(&c->jc, path, "missing field \"candidates\"");
    int obj = TG_OBJ_CHEAPEST;
    if (got[RT_OBJECTIVE] &&
        get_choice(c, got[RT_OBJECTIVE], p[RT_OBJECTIVE], objective_names, OBJECTIVE_COUNT,
                   &obj))
        r->objective = (tg_objective)obj;
    if (got[RT_WEIGHTS] && r->objective != TG_OBJ_WEIGHTED)
        tg_jc_problem(&c->jc, p[RT_WEIGHTS], "only allowed with objective \"weighted\"");
    else if (got[RT_WEIGHTS])
        compile_weights(c, got[RT_WEIGHTS], p[RT_WEIGHTS], r);
    else if (r->objective == TG_OBJ_WEIGHTED)
        tg_jc_problem(&c->jc, path, "missing field \"weights\" (objective \"weighted\" needs a "
                "weight per candidate)");
    if (got[RT_SUBSTITUTE] && !cJSON_IsBool(got[RT_SUBSTITUTE]))
        tg_jc_problem(&c->jc, p[RT_SUBSTITUTE], "must be true or false");
    r->substitute = cJSON_IsTrue(got[RT_SUBSTITUTE]);
    if (got[RT_FALLBACK])
        compile_fallback(c, got[RT_FALLBACK], p[RT_FALLBACK], r);
    long n;
    if (got[RT_OUTPUT] && tg_jc_get_int(&c->jc, got[RT_OUTPUT], p[RT_OUTPUT], 1, OUTPUT_TOKENS_MAX, &n))
        r->default_output_tokens = n;
}

/* A rule id: 1..TG_POLICY_ID_MAX-1 bytes of letters, digits, '_', '-', '.', ':'. */
static void compile_id(comp *c, const cJSON *v, const char *path, tg_policy_rule *r)
{
    size_t n = cJSON_IsString(v) ? strlen(v->valuestring) : 0;
    bool ok = n > 0 && n < TG_POLICY_ID_MAX;
    for (size_t i = 0; ok && i < n; i++)
        ok = isalnum((unsigned char)v->valuestring[i]) || strchr("_-.:", v->valuestring[i]);
    if (!ok)
        tg_jc_problem(&c->jc, path, "must be 1 to %d letters, digits, '_', '-', '.' or ':'",
                TG_POLICY_ID_MAX - 1);
    else
        memcpy(r->id, v->valuestring, n + 1);
}

static void compile_deny(comp *c, const cJSON *v, const char *path, tg_policy_rule *r)
{
    size_t n = cJSON_IsString(v) ? strlen(v->valuestring) : 0;
    if (n == 0 || n >= TG_POLICY_MSG_MAX) {
        tg_jc_problem(&c->jc, path, "must be a non-empty string of less than %d bytes", TG_POLICY_MSG_MAX);
        return;
    }
    r->deny = true;
    memcpy(r->deny_message, v->valuestring, n + 1);
}

enum { R_ID, R_DESCRIPTION, R_WHEN, R_ROUTE, R_DENY, R_COUNT };
static const char *const rule_fields[R_COUNT] = {"id", "description", "when", "route",
                                                 "deny"};

/* Rule `v` at `path` into *r.  Returns whether it is a catch-all (when absent or {}). */
static bool compile_rule(comp *c, const cJSON *v, const char *path, tg_policy_rule *r)
{
    const cJSON *got[R_COUNT];
    char p[R_COUNT][PATH_TEXT];
    r->when = &match_all;
    r->objective = TG_OBJ_CHEAPEST;
    r->fallback_on = TG_FB_ALL;
    r->max_attempts = DEFAULT_ATTEMPTS;
    r->default_output_tokens = DEFAULT_OUTPUT_TOKENS;
    if (!take_members(c, v, path, rule_fields, R_COUNT, got, p))
        return false;
    if (got[R_ID])
        compile_id(c, got[R_ID], p[R_ID], r);
    else
        tg_jc_problem(&c->jc, path, "missing field \"id\"");
    if (got[R_DESCRIPTION] && !cJSON_IsString(got[R_DESCRIPTION]))
        tg_jc_problem(&c->jc, p[R_DESCRIPTION], "must be a string");
    if (got[R_WHEN])
        r->when = flatten(c, compile_when(c, got[R_WHEN], p[R_WHEN], 0));
    if (got[R_ROUTE] && got[R_DENY])
        tg_jc_problem(&c->jc, path, "has both \"route\" and \"deny\" (exactly one is allowed)");
    else if (!got[R_ROUTE] && !got[R_DENY])
        tg_jc_problem(&c->jc, path, "needs \"route\" or \"deny\"");
    if (got[R_ROUTE])
        compile_route(c, got[R_ROUTE], p[R_ROUTE], r);
    if (got[R_DENY])
        compile_deny(c, got[R_DENY], p[R_DENY], r);
    return !got[R_WHEN] || (cJSON_IsObject(got[R_WHEN]) && !got[R_WHEN]->child);
}

/* ---------------------------------------------------------------- the whole file */

#define ALIASES_MAX 256

static void compile_rules(comp *c, const cJSON *v, tg_policy *p)
{
    char q[SHOWN_BUF];
    int n = v && cJSON_IsArray(v) ? count_members(v) : 0;
    if (!v)
        tg_jc_problem(&c->jc, "$", "missing field \"rules\"");
    else if (n == 0)
        tg_jc_problem(&c->jc, "$.rules", "must be a non-empty array of rule objects");
    else if (n > TG_POLICY_MAX_RULES)
        tg_jc_problem(&c->jc, "$.rules", "has %d rules; at most %d are allowed", n, TG_POLICY_MAX_RULES);
    if (n == 0 || n > TG_POLICY_MAX_RULES || !(p->rules = alloc(c, (size_t)n * sizeof *p->rules)))
        return;
    bool last_catches = false;
    for (const cJSON *e = v->child; e; e = e->next, p->nrules++) {
        char rpath[PATH_TEXT];
        tg_policy_rule *r = &p->rules[p->nrules];
        tg_jc_path_index(rpath, PATH_TEXT, "$.rules", p->nrules);
        r->index = p->nrules;
        last_catches = compile_rule(c, e, rpath, r);
        if (last_catches && e->next)
            tg_jc_problem(&c->jc, rpath, "a catch-all rule (when {}) must be the last rule; the rules "
                    "after it never match");
    }
    if (!last_catches)
        tg_jc_problem(&c->jc, "$.rules", "the last rule must be a catch-all (when {})");
    if ((p->whens = alloc(c, (size_t)p->nrules * sizeof *p->whens)) != NULL)
        for (int i = 0; i < p->nrules; i++)
            p->whens[i] = p->rules[i].when;
    for (int i = 1; i < p->nrules; i++) {
        for (int j = 0; p->rules[i].id[0] && j < i; j++) {
            if (strcmp(p->rules[i].id, p->rules[j].id) != 0)
                continue;
            char ipath[PATH_TEXT];
            snprintf(ipath, sizeof ipath, "$.rules[%d].id", i);
            tg_jc_problem(&c->jc, ipath, "duplicate rule id '%s' (first at $.rules[%d])",
                    shown(p->rules[i].id, q, sizeof q), j);
            break;
        }
    }
}

static void add_alias(comp *c, tg_policy *p, const char *s, const char *path)
{
    char q[SHOWN_BUF];
    size_t n = strlen(s);
    if (n == 0 || n >= TG_CAT_NAME_MAX) {
        tg_jc_problem(&c->jc, path, "must be 1 to %d bytes", TG_CAT_NAME_MAX - 1);
        return;
    }
    if (model_index(c, s) >= 0) {
        tg_jc_problem(&c->jc, path, "'%s' is a catalog model; an alias must be a new name",
                shown(s, q, sizeof q));
        return;
    }
    for (int i = 0; i < p->naliases; i++) {
        if (strcmp(p->aliases[i], s) == 0) {
            tg_jc_problem(&c->jc, path, "duplicate alias '%s'", shown(s, q, sizeof q));
            return;
        }
    }
    if ((p->aliases[p->naliases] = copy_str(c, s)) != NULL)
        p->naliases++;
}

static void compile_aliases(comp *c, const cJSON *v, tg_policy *p)
{
    int n = cJSON_IsArray(v) ? count_members(v) : 0;
    if (!all_of_type(v, cJSON_IsString) || n > ALIASES_MAX) {
        tg_jc_problem(&c->jc, "$.aliases", "must be an array of at most %d strings", ALIASES_MAX);
        return;
    }
    if (n == 0 || !(p->aliases = alloc(c, (size_t)n * sizeof *p->aliases)) ||
        !(p->sorted_aliases = alloc(c, (size_t)n * sizeof *p->aliases)))
        return;
    int i = 0;
    for (const cJSON *e = v->child; e; e = e->next, i++) {
        char epath[PATH_TEXT];
        tg_jc_path_index(epath, PATH_TEXT, "$.aliases", i);
        add_alias(c, p, e->valuestring, epath);
    }
    memcpy(p->sorted_aliases, p->aliases, (size_t)p->naliases * sizeof *p->aliases);
    qsort(p->sorted_aliases, (size_t)p->naliases, sizeof *p->aliases, cmp_str);
}

/* policy_version as given (printable ASCII), else "sha256:" and the text's hash. */
static void set_version(comp *c, const cJSON *v, tg_policy *p)
{
    if (!v) {
        unsigned char md[SHA256_DIGEST_LENGTH];
        SHA256((const unsigned char *)p->text, p->len, md);
        int o = snprintf(p->version, sizeof p->version, "sha256:");
        for (int i = 0; i < HASH_HEX / 2; i++)
            o += snprintf(p->version + o, sizeof p->version - (size_t)o, "%02x", md[i]);
        return;
    }
    size_t n = cJSON_IsString(v) ? strlen(v->valuestring) : 0;
    bool ok = n > 0 && n <= VERSION_MAX;
    for (size_t i = 0; ok && i < n; i++)
        ok = v->valuestring[i] >= 0x20 && v->valuestring[i] < 0x7f;
    if (!ok)
        tg_jc_problem(&c->jc, "$.policy_version", "must be 1 to %d printable ASCII characters",
                VERSION_MAX);
    else
        memcpy(p->version, v->valuestring, n + 1);
}

enum { T_VERSION, T_ALIASES, T_RULES, T_COUNT };
static const char *const top_fields[T_COUNT] = {"policy_version", "aliases", "rules"};

static void compile_text(comp *c, const char *text, size_t len, tg_policy *p)
{
    char *copy = alloc(c, len + 1);
    if (!copy)
        return;
    memcpy(copy, text, len);
    copy[len] = '\0';
    p->text = copy;
    p->len = len;
    cJSON *root = tg_jc_parse(&c->jc, copy, len);
    if (!root)
        return;
    const cJSON *got[T_COUNT];
    if (take_members(c, root, "$", top_fields, T_COUNT, got, NULL)) {
        set_version(c, got[T_VERSION], p);
        if (got[T_ALIASES])
            compile_aliases(c, got[T_ALIASES], p);
        compile_rules(c, got[T_RULES], p);
    }
    cJSON_Delete(root);
}

/* ---------------------------------------------------------------- public */

tg_policy *tg_policy_compile(const char *text, size_t len, const char *name,
                             const tg_catalog *cat, tg_policy_problem *probs, int maxprobs,
                             int *nprobs)
{
    if (!text) {
        text = tg_default_policy_json;
        len = tg_default_policy_json_len;
        name = name ? name : DEFAULT_NAME;
    }
    comp c = {0};
    tg_jc_init(&c.jc, name ? name : "policy", probs, sizeof *probs, maxprobs);
    c.ncat = cat ? tg_catalog_count(cat) : 0;
    tg_policy *p = calloc(1, sizeof *p);
    c.taken = malloc((size_t)c.ncat + 1);
    c.cands = malloc(((size_t)c.ncat + 1) * sizeof *c.cands);
    if (!p || !c.taken || !c.cands) {
        tg_jc_problem(&c.jc, NULL, "out of memory");
    } else if (!cat) {
        tg_jc_problem(&c.jc, NULL, "no catalog to compile the policy against");
    } else if (len > TG_POLICY_MAX_FILE) {
        tg_jc_problem(&c.jc, NULL, "larger than the limit of %zu bytes", TG_POLICY_MAX_FILE);
    } else {
        c.mem = &p->mem;
        c.cat = p->cat = cat;
        compile_text(&c, text, len, p);
    }
    free(c.taken);
    free(c.cands);
    if (nprobs)
        *nprobs = c.jc.n;
    if (c.jc.n) {
        tg_policy_free(p);
        return NULL;
    }
    return p;
}

tg_policy *tg_policy_load(const char *path, const tg_catalog *cat, tg_policy_problem *probs,
                          int maxprobs, int *nprobs)
{
    if (!path)
        return tg_policy_compile(NULL, 0, NULL, cat, probs, maxprobs, nprobs);
    comp c = {0};
    size_t len = 0;
    tg_jc_init(&c.jc, path, probs, sizeof *probs, maxprobs);
    char *text = tg_jc_read_file(&c.jc, path, TG_POLICY_MAX_FILE, &len);
    if (!text) {
        if (nprobs)
            *nprobs = c.jc.n;
        return NULL;
    }
    tg_policy *p = tg_policy_compile(text, len, path, cat, probs, maxprobs, nprobs);
    free(text);
    return p;
}

void tg_policy_free(tg_policy *p)
{
    if (!p)
        return;
    arena_free(&p->mem);
    free(p);
}

const char *tg_policy_version(const tg_policy *p)
{
    return p->version;
}

int tg_policy_rule_count(const tg_policy *p)
{
    return p->nrules;
}

const tg_policy_rule *tg_policy_rule_at(const tg_policy *p, int i)
{
    return i >= 0 && i < p->nrules ? &p->rules[i] : NULL;
}

bool tg_policy_is_alias(const tg_policy *p, const char *name)
{
    return name && p->naliases &&
           bsearch(&name, p->sorted_aliases, (size_t)p->naliases, sizeof *p->sorted_aliases,
                   cmp_str) != NULL;
}

int tg_policy_alias_count(const tg_policy *p)
{
    return p->naliases;
}

const char *tg_policy_alias_at(const tg_policy *p, int i)
{
    return i >= 0 && i < p->naliases ? p->aliases[i] : NULL;
}

const char *tg_policy_text(const tg_policy *p, size_t *len)
{
    if (len)
        *len = p->len;
    return p->text;
}
