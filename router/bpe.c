/* tg_bpe: the built-in BPE tokenizer (see bpe.h for the contract).
 *
 * How it works, per input:
 *  1. The pre-tokenizer splits the text into pieces exactly as tiktoken's regex would
 *     (split_cl100k / split_o200k below are hand-written matchers of the two patterns, with
 *     the regex's leftmost-first alternation and backtracking worked out case by case).
 *     Character classes come from the generated Unicode 16.0 table (bpe_unicode.h); ASCII
 *     takes a 128-entry fast path.
 *  2. Each piece is looked up whole in the rank table (most English pieces are one token).
 *  3. Otherwise it is byte-pair merged as tiktoken does: repeatedly merge the adjacent pair
 *     whose concatenation has the lowest rank, leftmost on ties.  Short pieces use tiktoken's
 *     own scan (fast for tiny n); long ones a queue of per-rank position buckets over a
 *     linked list of parts, which performs the same merges in the same order in near-linear
 *     time where tiktoken is O(n^2).
 *
 * The rank table is an open-addressing hash of token bytes -> rank, built once per encoding
 * from the vocabulary compiled into the binary (router/gen/gen_vocab.py).  A slot holds the
 * token's first 8 bytes and a 38-bit hash tag, so a lookup is usually one cache line; all
 * 2-byte tokens also sit in a 64K direct table for the merge loop's first pass. */
#include "bpe.h"

#include "bpe_unicode.h"

#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define TG_BPE_NONE UINT32_MAX     /* "not a token" rank */
#define TG_BPE_DEAD (UINT32_MAX - 1) /* heap merge: part swallowed by its left neighbour */
#define TG_BPE_SMALL 64            /* pieces up to this many bytes use the simple scan */

extern const uint32_t tg_vocab_cl100k_base_count, tg_vocab_o200k_base_count;
extern const uint32_t tg_vocab_cl100k_base_off[], tg_vocab_o200k_base_off[];
extern const unsigned char tg_vocab_cl100k_base_blob[], tg_vocab_o200k_base_blob[];

typedef size_t (*split_fn)(const unsigned char *s, size_t n, size_t i);

struct tg_bpe {
    const char *name;
    uint32_t count;
    const uint32_t *off;
    const unsigned char *blob;
    split_fn split;
    struct tg_bpe_slot *slots; /* open addressing, linear probing */
    uint32_t mask;
    uint32_t max_len; /* longest token, bytes */
    uint32_t byte_rank[256];
    uint32_t *pair_rank; /* [b0 << 8 | b1]: rank of every 2-byte token, else NONE */
};

/* Where ids go: counted always, stored when ids != NULL. */
typedef struct {
    tg_bpe_ids *ids;
    size_t count;
    int err;
} sink;

/* ---------------------------------------------------------------- rank table */

/* The first min(n, 8) bytes of p as a little-endian word, zero-padded; n >= 1.  Reads
 * only p[0..n). */
static inline uint64_t load_word(const unsigned char *p, size_t n)
{
    if (n >= 8) {
        uint64_t w;
        memcpy(&w, p, 8);
        return w;
    }
    if (n >= 4) {
        uint32_t lo, hi;
        memcpy(&lo, p, 4);
        memcpy(&hi, p + n - 4, 4);
        return (uint64_t)lo | (uint64_t)hi << (8 * (n - 4));
    }
    return (uint64_t)p[0] | (uint64_t)p[n / 2] << (8 * (n / 2)) |
           (uint64_t)p[n - 1] << (8 * (n - 1));
}

static inline uint64_t mix(uint64_t h)
{
    h ^= h >> 32;
    h *= 0xBF58476D1CE4E5B9ull;
    h ^= h >> 29;
    h *= 0x94D049BB133111EBull;
    return h ^ (h >> 32);
}

/* Hash of p[0..n) given w = load_word(p, n). */
static inline uint64_t hash_bytes(const unsigned char *p, size_t n, uint64_t w)
{
    uint64_t h = (w ^ ((uint64_t)n * 0x9E3779B97F4A7C15ull)) * 0xD6E8FEB86659FD93ull;
    for (size_t i = 8; i < n; i += 8) {
        uint64_t x;
        memcpy(&x, p + (i + 8 <= n ? i : n - 8), 8);
        h = (h ^ x) * 0xD6E8FEB86659FD93ull;
        h ^= h >> 31;
    }
    return mix(h);
}

/* A slot holds the token's first 8 bytes and a meta word packing a 38-bit hash tag, the
 * length (<= 255) and the rank (< 2^18): most probes settle inside the slot's cache line,
 * and only tokens longer than 8 bytes read the vocabulary to compare the rest. */
#define SLOT_RANK_BITS 18
#define SLOT_LEN_SHIFT SLOT_RANK_BITS
#define SLOT_TAG_SHIFT (SLOT_RANK_BITS + 8)
#define SLOT_KEY_MASK (~(uint64_t)0 << SLOT_LEN_SHIFT)

struct tg_bpe_slot {
    uint64_t word; /* load_word(token) */
    uint64_t meta; /* tag << 26 | length << 18 | rank; 0 = empty */
};

static inline uint64_t slot_key(uint64_t h, size_t n)
{
    return (h >> SLOT_TAG_SHIFT) << SLOT_TAG_SHIFT | (uint64_t)n << SLOT_LEN_SHIFT;
}

/* Rank of the token with bytes p[0..n), or TG_BPE_NONE. */
static inline uint32_t rank_of(const tg_bpe *b, const unsigned char *p, size_t n)
{
    if (n > b->max_len)
        return TG_BPE_NONE;
    if (n == 2)
        return b->pair_rank[p[0] << 8 | p[1]];
    uint64_t w = load_word(p, n), h = hash_bytes(p, n, w), key = slot_key(h, n);
    uint32_t i = (uint32_t)h & b->mask;
    for (;;) {
        const struct tg_bpe_slot *s = &b->slots[i];
        if (s->meta == 0)
            return TG_BPE_NONE;
        if ((s->meta & SLOT_KEY_MASK) == key && s->word == w) {
            uint32_t r = (uint32_t)(s->meta & ((1u << SLOT_RANK_BITS) - 1));
            if (n <= 8 || memcmp(b->blob + b->off[r] + 8, p + 8, n - 8) == 0)
                return r;
        }
        i = (i + 1) & b->mask;
    }
}

static void out_of_memory(void)
{
    fputs("tollgate: out of memory building the tokenizer table\n", stderr);
    abort();
}

static void build_table(tg_bpe *b)
{
    uint32_t size = 1;
    while (size < b->count * 5 / 2)
        size <<= 1;
    b->slots = calloc(size, sizeof *b->slots);
    b->pair_rank = malloc(65536 * sizeof *b->pair_rank);
    if (!b->slots || !b->pair_rank || b->count > (1u << SLOT_RANK_BITS))
        out_of_memory();
    b->mask = size - 1;
    for (uint32_t i = 0; i < 65536; i++)
        b->pair_rank[i] = TG_BPE_NONE;
    for (uint32_t r = 0; r < b->count; r++) {
        const unsigned char *p = b->blob + b->off[r];
        size_t n = b->off[r + 1] - b->off[r];
        if (n == 0 || n > 255)
            out_of_memory(); /* impossible for the committed vocabularies */
        uint64_t w = load_word(p, n), h = hash_bytes(p, n, w);
        uint32_t i = (uint32_t)h & b->mask;
        while (b->slots[i].meta)
            i = (i + 1) & b->mask;
        b->slots[i] = (struct tg_bpe_slot){w, slot_key(h, n) | r};
        if (n == 2)
            b->pair_rank[p[0] << 8 | p[1]] = r;
        if (n > b->max_len)
            b->max_len = (uint32_t)n;
    }
    for (int c = 0; c < 256; c++) {
        unsigned char byte = (unsigned char)c;
        b->byte_rank[c] = rank_of(b, &byte, 1);
    }
}

/* ---------------------------------------------------------------- pre-tokenizer */

static const unsigned char ascii_class[128] = {
    ['\t'] = TG_UC_WS, ['\n'] = TG_UC_WS, ['\v'] = TG_UC_WS, ['\f'] = TG_UC_WS,
    ['\r'] = TG_UC_WS, [' '] = TG_UC_WS,
    ['0'] = TG_UC_N, ['1'] = TG_UC_N, ['2'] = TG_UC_N, ['3'] = TG_UC_N, ['4'] = TG_UC_N,
    ['5'] = TG_UC_N, ['6'] = TG_UC_N, ['7'] = TG_UC_N, ['8'] = TG_UC_N, ['9'] = TG_UC_N,
#define U_ TG_UC_L | TG_UC_UP
#define L_ TG_UC_L | TG_UC_LO
    ['A'] = U_, ['B'] = U_, ['C'] = U_, ['D'] = U_, ['E'] = U_, ['F'] = U_, ['G'] = U_,
    ['H'] = U_, ['I'] = U_, ['J'] = U_, ['K'] = U_, ['L'] = U_, ['M'] = U_, ['N'] = U_,
    ['O'] = U_, ['P'] = U_, ['Q'] = U_, ['R'] = U_, ['S'] = U_, ['T'] = U_, ['U'] = U_,
    ['V'] = U_, ['W'] = U_, ['X'] = U_, ['Y'] = U_, ['Z'] = U_,
    ['a'] = L_, ['b'] = L_, ['c'] = L_, ['d'] = L_, ['e'] = L_, ['f'] = L_, ['g'] = L_,
    ['h'] = L_, ['i'] = L_, ['j'] = L_, ['k'] = L_, ['l'] = L_, ['m'] = L_, ['n'] = L_,
    ['o'] = L_, ['p'] = L_, ['q'] = L_, ['r'] = L_, ['s'] = L_, ['t'] = L_, ['u'] = L_,
    ['v'] = L_, ['w'] = L_, ['x'] = L_, ['y'] = L_, ['z'] = L_,
#undef U_
#undef L_
};

/* Decodes one UTF-8 character at s[i] (i < n): returns its code point and sets *len.  An
 * invalid sequence yields UINT32_MAX with *len = 1 (class "other"). */
static uint32_t decode_slow(const unsigned char *s, size_t n, size_t i, unsigned *len)
{
    unsigned c = s[i], need;
    uint32_t cp, min;
    *len = 1;
    if (c >= 0xF0 && c <= 0xF4) {
        need = 3, cp = c & 0x07, min = 0x10000;
    } else if (c >= 0xE0 && c <= 0xEF) {
        need = 2, cp = c & 0x0F, min = 0x800;
    } else if (c >= 0xC2 && c <= 0xDF) {
        need = 1, cp = c & 0x1F, min = 0x80;
    } else {
        return UINT32_MAX;
    }
    if (n - i <= need)
        return UINT32_MAX;
    for (unsigned k = 1; k <= need; k++) {
        unsigned cc = s[i + k];
        if ((cc & 0xC0) != 0x80)
            return UINT32_MAX;
        cp = (cp << 6) | (cc & 0x3F);
    }
    if (cp < min || cp > 0x10FFFF || (cp >= 0xD800 && cp <= 0xDFFF))
        return UINT32_MAX;
    *len = need + 1;
    return cp;
}

/* Class bits of the character at s[i] (i < n); sets *len and *cp. */
static inline unsigned char_at(const unsigned char *s, size_t n, size_t i, unsigned *len,
                               uint32_t *cp)
{
    if (s[i] < 0x80) {
        *len = 1;
        *cp = s[i];
        return ascii_class[s[i]];
    }
    *cp = decode_slow(s, n, i, len);
    return *cp == UINT32_MAX ? 0 : tg_uc_class(*cp);
}

static inline unsigned class_at(const unsigned char *s, size_t n, size_t i, unsigned *len)
{
    uint32_t cp;
    return char_at(s, n, i, len, &cp);
}

/* End of the run of characters from i whose class has any bit of `mask`. */
static size_t run(const unsigned char *s, size_t n, size_t i, unsigned mask)
{
    while (i < n) {
        if (s[i] < 0x80) {
            if (!(ascii_class[s[i]] & mask))
                break;
            i++;
            continue;
        }
        unsigned len;
        if (!(class_at(s, n, i, &len) & mask))
            break;
        i += len;
    }
    return i;
}

/* End of the run of "other" characters (not \s, \p{L}, \p{N}) from i. */
static size_t run_other(const unsigned char *s, size_t n, size_t i)
{
    while (i < n) {
        unsigned len;
        if (class_at(s, n, i, &len) & (TG_UC_WS | TG_UC_L | TG_UC_N))
            break;
        i += len;
    }
    return i;
}

/* (?i:'s|'t|'re|'ve|'m|'ll|'d) at s[i]: end of the match, or 0.  Case folding maps only
 * U+017F (long s) outside ASCII onto these letters. */
static size_t contraction(const unsigned char *s, size_t n, size_t i)
{
    if (i + 1 >= n || s[i] != '\'')
        return 0;
    unsigned c = s[i + 1] | 0x20;
    if (c == 's' || c == 't' || c == 'm' || c == 'd')
        return i + 2;
    if (s[i + 1] == 0xC5 && i + 2 < n && s[i + 2] == 0xBF)
        return i + 3;
    if (i + 2 >= n)
        return 0;
    unsigned c2 = s[i + 2] | 0x20;
    if ((c == 'r' && c2 == 'e') || (c == 'v' && c2 == 'e') || (c == 'l' && c2 == 'l'))
        return i + 3;
    return 0;
}

/* \p{N}{1,3} at i (known to be a number). */
static size_t numbers(const unsigned char *s, size_t n, size_t i)
{
    unsigned len;
    for (int k = 0; k < 3 && i < n && (class_at(s, n, i, &len) & TG_UC_N); k++)
        i += len;
    return i;
}

/* \s*[\r\n]+ | \s+(?!\S) | \s+  at i (known to be white space). */
static size_t spaces(const unsigned char *s, size_t n, size_t i)
{
    size_t j = i, last = i, nl_end = 0;
    while (j < n) {
        unsigned len;
        uint32_t cp;
        if (!(char_at(s, n, j, &len, &cp) & TG_UC_WS))
            break;
        if (cp == '\r' || cp == '\n')
            nl_end = j + len;
        last = j;
        j += len;
    }
    if (nl_end)
        return nl_end;           /* \s*[\r\n]+ ends after the run's last newline */
    if (j == n || last == i)
        return j;                /* \s+(?!\S) at end of text, or \s+ of one char */
    return last;                 /* \s+(?!\S): leave the last space to the next piece */
}

/* " ?[^\s\p{L}\p{N}]+" then a run of \r, \n (and '/' when `slash`), at i; 0 if no match. */
static size_t punct(const unsigned char *s, size_t n, size_t i, int slash)
{
    size_t j = i + (s[i] == ' ');
    unsigned len;
    if (j >= n || (class_at(s, n, j, &len) & (TG_UC_WS | TG_UC_L | TG_UC_N)))
        return 0;
    j = run_other(s, n, j);
    while (j < n && (s[j] == '\r' || s[j] == '\n' || (slash && s[j] == '/')))
        j++;
    return j;
}

static inline int is_prefix_class(unsigned cls, uint32_t cp)
{
    return !(cls & (TG_UC_L | TG_UC_N)) && cp != '\r' && cp != '\n';
}

/* cl100k_base: (?i:'s|'t|'re|'ve|'m|'ll|'d)|[^\r\n\p{L}\p{N}]?\p{L}+|\p{N}{1,3}|
 *              ?[^\s\p{L}\p{N}]+[\r\n]*|\s*[\r\n]+|\s+(?!\S)|\s+ */
static size_t split_cl100k(const unsigned char *s, size_t n, size_t i)
{
    unsigned l0;
    uint32_t c0;
    unsigned f0 = char_at(s, n, i, &l0, &c0);
    size_t e;
    if (c0 == '\'' && (e = contraction(s, n, i)))
        return e;
    if (f0 & TG_UC_L)
        return run(s, n, i, TG_UC_L);
    if (is_prefix_class(f0, c0) && i + l0 < n) {
        unsigned l1;
        if (class_at(s, n, i + l0, &l1) & TG_UC_L)
            return run(s, n, i + l0, TG_UC_L);
    }
    if (f0 & TG_UC_N)
        return numbers(s, n, i);
    if ((e = punct(s, n, i, 0)))
        return e;
    return spaces(s, n, i);
}

/* o200k's first alternative after the optional prefix, at st:
 * [\p{Lu}\p{Lt}\p{Lm}\p{Lo}\p{M}]*[\p{Ll}\p{Lm}\p{Lo}\p{M}]+  -> end, or 0.
 * The upper run is greedy; if no lower-class character follows it, the regex backtracks
 * to the run's last character that is also lower-class (Lm, Lo or M) and ends after it. */
static size_t o200k_upper_lower(const unsigned char *s, size_t n, size_t st)
{
    size_t j = st, last_lo = 0;
    int have_lo = 0;
    unsigned len, cls = 0;
    while (j < n) {
        cls = class_at(s, n, j, &len);
        if (!(cls & TG_UC_UP))
            break;
        if (cls & TG_UC_LO)
            have_lo = 1, last_lo = j + len;
        j += len;
    }
    if (j < n && (cls & TG_UC_LO))
        return run(s, n, j, TG_UC_LO);
    return have_lo ? last_lo : 0;
}

/* o200k's second alternative after the prefix: [upper]+[lower]*  -> end, or 0. */
static size_t o200k_upper_then(const unsigned char *s, size_t n, size_t st)
{
    size_t j = run(s, n, st, TG_UC_UP);
    if (j == st)
        return 0;
    return run(s, n, j, TG_UC_LO);
}

static size_t with_contraction(const unsigned char *s, size_t n, size_t e)
{
    size_t c = (e < n && s[e] == '\'') ? contraction(s, n, e) : 0;
    return c ? c : e;
}

/* o200k_base: [^\r\n\p{L}\p{N}]?[upper]*[lower]+(?i:contr)? | [^\r\n\p{L}\p{N}]?[upper]+
 * [lower]*(?i:contr)? | \p{N}{1,3} | ?[^\s\p{L}\p{N}]+[\r\n/]* | \s*[\r\n]+ | \s+(?!\S) | \s+ */
static size_t split_o200k(const unsigned char *s, size_t n, size_t i)
{
    unsigned l0;
    uint32_t c0;
    unsigned f0 = char_at(s, n, i, &l0, &c0);
    int pre = is_prefix_class(f0, c0) && i + l0 < n;
    size_t e;
    if (pre && (e = o200k_upper_lower(s, n, i + l0)))
        return with_contraction(s, n, e);
    if ((e = o200k_upper_lower(s, n, i)))
        return with_contraction(s, n, e);
    if (pre && (e = o200k_upper_then(s, n, i + l0)))
        return with_contraction(s, n, e);
    if ((e = o200k_upper_then(s, n, i)))
        return with_contraction(s, n, e);
    if (f0 & TG_UC_N)
        return numbers(s, n, i);
    if ((e = punct(s, n, i, 1)))
        return e;
    return spaces(s, n, i);
}

/* ---------------------------------------------------------------- merging */

static inline void emit(sink *k, uint32_t id)
{
    k->count++;
    if (!k->ids || k->err)
        return;
    tg_bpe_ids *v = k->ids;
    if (v->n == v->cap) {
        size_t cap = v->cap ? v->cap * 2 : 256;
        uint32_t *nv = realloc(v->v, cap * sizeof *nv);
        if (!nv) {
            k->err = 1;
            return;
        }
        v->v = nv;
        v->cap = cap;
    }
    v->v[v->n++] = id;
}

/* tiktoken's own merge loop, for pieces of 2..TG_BPE_SMALL bytes. */
static void merge_small(const tg_bpe *b, const unsigned char *p, size_t n, sink *k)
{
    uint32_t start[TG_BPE_SMALL + 1], rank[TG_BPE_SMALL + 1];
    size_t m = n + 1; /* parts, the last one an end sentinel */
    for (size_t i = 0; i + 1 < n; i++) {
        start[i] = (uint32_t)i;
        rank[i] = rank_of(b, p + i, 2);
    }
    start[n - 1] = (uint32_t)(n - 1), rank[n - 1] = TG_BPE_NONE;
    start[n] = (uint32_t)n, rank[n] = TG_BPE_NONE;
    for (;;) {
        uint32_t best = TG_BPE_NONE;
        size_t bi = 0;
        for (size_t i = 0; i + 1 < m; i++)
            if (rank[i] < best)
                best = rank[i], bi = i;
        if (best == TG_BPE_NONE)
            break;
        memmove(start + bi + 1, start + bi + 2, (m - bi - 2) * sizeof *start);
        memmove(rank + bi + 1, rank + bi + 2, (m - bi - 2) * sizeof *rank);
        m--;
        rank[bi] = bi + 2 < m ? rank_of(b, p + start[bi], start[bi + 2] - start[bi])
                              : TG_BPE_NONE;
        if (bi > 0)
            rank[bi - 1] = rank_of(b, p + start[bi - 1], start[bi + 1] - start[bi - 1]);
    }
    for (size_t i = 0; i + 1 < m; i++)
        emit(k, rank_of(b, p + start[i], start[i + 1] - start[i]));
}

/* The merge queue for long pieces: a bucket of positions per rank, and a min-heap of the
 * ranks that have a bucket.  Merges of one rank run left to right, so positions mostly
 * arrive in order and a bucket is sorted only when one came out of order.  Long pieces
 * tend to hold few distinct pair ranks (a run of one letter: a few dozen), which makes this
 * close to linear where a (rank, position) heap pays log n on every step. */
typedef struct {
    uint32_t rank, head, n, cap;
    uint8_t dirty;  /* a position arrived out of order: sort before the next pop */
    uint8_t queued; /* in the rank heap */
    uint32_t *pos;
} bucket;

typedef struct {
    bucket *b;        /* buckets in use */
    uint32_t nb, capb;
    uint32_t *slot;   /* open addressing rank -> bucket index + 1 */
    uint32_t mask;
    uint32_t *heap;   /* bucket indices, min-heap by rank */
    uint32_t nh;
} mqueue;

static int cmp_u32(const void *a, const void *b)
{
    uint32_t x = *(const uint32_t *)a, y = *(const uint32_t *)b;
    return (x > y) - (x < y);
}

static void mq_free(mqueue *q)
{
    for (uint32_t i = 0; i < q->nb; i++)
        free(q->b[i].pos);
    free(q->b);
    free(q->slot);
    free(q->heap);
}

static void mq_heap_up(mqueue *q, uint32_t i)
{
    uint32_t v = q->heap[i];
    while (i > 0) {
        uint32_t p = (i - 1) / 2;
        if (q->b[q->heap[p]].rank <= q->b[v].rank)
            break;
        q->heap[i] = q->heap[p];
        i = p;
    }
    q->heap[i] = v;
}

static void mq_heap_pop(mqueue *q)
{
    uint32_t v = q->heap[--q->nh], i = 0;
    for (;;) {
        uint32_t c = 2 * i + 1;
        if (c >= q->nh)
            break;
        if (c + 1 < q->nh && q->b[q->heap[c + 1]].rank < q->b[q->heap[c]].rank)
            c++;
        if (q->b[q->heap[c]].rank >= q->b[v].rank)
            break;
        q->heap[i] = q->heap[c];
        i = c;
    }
    if (q->nh)
        q->heap[i] = v;
}

static int mq_grow_slots(mqueue *q)
{
    uint32_t size = q->mask ? (q->mask + 1) * 2 : 64;
    uint32_t *slot = calloc(size, sizeof *slot);
    if (!slot)
        return -1;
    for (uint32_t i = 0; i < q->nb; i++) {
        uint32_t h = (q->b[i].rank * 0x9E3779B1u) & (size - 1);
        while (slot[h])
            h = (h + 1) & (size - 1);
        slot[h] = i + 1;
    }
    free(q->slot);
    q->slot = slot;
    q->mask = size - 1;
    return 0;
}

/* The bucket of `rank`, created (and its rank queued) if absent; NULL when out of memory. */
static bucket *mq_bucket(mqueue *q, uint32_t rank)
{
    if ((q->nb + 1) * 2 > q->mask && mq_grow_slots(q) != 0)
        return NULL;
    uint32_t h = (rank * 0x9E3779B1u) & q->mask;
    while (q->slot[h]) {
        uint32_t bi = q->slot[h] - 1;
        bucket *bk = &q->b[bi];
        if (bk->rank == rank) {
            if (!bk->queued) {
                bk->queued = 1;
                q->heap[q->nh++] = bi;
                mq_heap_up(q, q->nh - 1);
            }
            return bk;
        }
        h = (h + 1) & q->mask;
    }
    if (q->nb == q->capb) {
        uint32_t cap = q->capb ? q->capb * 2 : 32;
        bucket *nb = realloc(q->b, cap * sizeof *nb);
        uint32_t *nh = realloc(q->heap, cap * sizeof *nh);
        if (nb)
            q->b = nb;
        if (nh)
            q->heap = nh;
        if (!nb || !nh)
            return NULL;
        q->capb = cap;
    }
    q->b[q->nb] = (bucket){rank, 0, 0, 0, 0, 1, NULL};
    q->slot[h] = q->nb + 1;
    q->heap[q->nh++] = q->nb;
    mq_heap_up(q, q->nh - 1);
    return &q->b[q->nb++];
}

static int mq_push(mqueue *q, uint32_t rank, uint32_t pos)
{
    bucket *bk = mq_bucket(q, rank);
    if (!bk)
        return -1;
    if (bk->n == bk->cap) {
        uint32_t cap = bk->cap ? bk->cap * 2 : 16;
        uint32_t *np = realloc(bk->pos, cap * sizeof *np);
        if (!np)
            return -1;
        bk->pos = np, bk->cap = cap;
    }
    if (bk->n > bk->head && bk->pos[bk->n - 1] > pos)
        bk->dirty = 1;
    bk->pos[bk->n++] = pos;
    return 0;
}

/* Next (rank, position) in order into *rank and *pos; 0 when the queue is empty. */
static int mq_pop(mqueue *q, uint32_t *rank, uint32_t *pos)
{
    while (q->nh) {
        bucket *bk = &q->b[q->heap[0]];
        if (bk->head == bk->n) { /* empty: leaves the heap until pushed again */
            bk->head = bk->n = 0;
            bk->dirty = bk->queued = 0;
            mq_heap_pop(q);
            continue;
        }
        if (bk->dirty) {
            qsort(bk->pos + bk->head, bk->n - bk->head, sizeof *bk->pos, cmp_u32);
            bk->dirty = 0;
        }
        *rank = bk->rank;
        *pos = bk->pos[bk->head++];
        return 1;
    }
    return 0;
}

/* Same merges as merge_small, near-linear: parts are a linked list over byte positions
 * (next/prev), pair[pos] is the rank of part pos joined with its successor, and queue
 * entries whose rank no longer matches pair[pos] are stale and skipped.  A pair's bytes
 * only ever grow, so an entry whose rank still matches is current. */
static int merge_long(const tg_bpe *b, const unsigned char *p, size_t n, sink *k)
{
    uint32_t *mem = malloc(n * 3 * sizeof *mem);
    mqueue q = {0};
    int rc = mem ? 0 : -1;
    uint32_t *next = mem, *prev = mem + n, *pair = mem + 2 * n;
    for (size_t i = 0; rc == 0 && i < n; i++) {
        next[i] = (uint32_t)(i + 1);
        prev[i] = (uint32_t)(i - 1);
        pair[i] = i + 1 < n ? rank_of(b, p + i, 2) : TG_BPE_NONE;
        if (pair[i] != TG_BPE_NONE)
            rc = mq_push(&q, pair[i], (uint32_t)i);
    }
    uint32_t r, pos;
    while (rc == 0 && mq_pop(&q, &r, &pos)) {
        if (pair[pos] != r)
            continue;
        uint32_t nx = next[pos], nq = next[nx];
        next[pos] = nq;
        if (nq < n)
            prev[nq] = pos;
        pair[nx] = TG_BPE_DEAD;
        pair[pos] = nq < n ? rank_of(b, p + pos, next[nq] - pos) : TG_BPE_NONE;
        if (pair[pos] != TG_BPE_NONE)
            rc = mq_push(&q, pair[pos], pos);
        if (rc == 0 && pos > 0) {
            uint32_t pp = prev[pos];
            pair[pp] = rank_of(b, p + pp, nq - pp);
            if (pair[pp] != TG_BPE_NONE)
                rc = mq_push(&q, pair[pp], pp);
        }
    }
    for (uint32_t i = 0; rc == 0 && i < n; i = next[i])
        emit(k, rank_of(b, p + i, next[i] - i));
    mq_free(&q);
    free(mem);
    return rc;
}

static int encode_piece(const tg_bpe *b, const unsigned char *p, size_t n, sink *k)
{
    if (n == 1) {
        emit(k, b->byte_rank[p[0]]);
        return 0;
    }
    uint32_t r = rank_of(b, p, n);
    if (r != TG_BPE_NONE) {
        emit(k, r);
        return 0;
    }
    if (n <= TG_BPE_SMALL) {
        merge_small(b, p, n, k);
        return 0;
    }
    return merge_long(b, p, n, k);
}

static int encode_all(const tg_bpe *b, const char *text, size_t len, sink *k)
{
    const unsigned char *s = (const unsigned char *)text;
    size_t i = 0;
    while (i < len) {
        size_t e = b->split(s, len, i);
        if (encode_piece(b, s + i, e - i, k) != 0 || k->err)
            return -1;
        i = e;
    }
    return 0;
}

/* ---------------------------------------------------------------- public API */

static tg_bpe encodings[TG_BPE_COUNT_];
static pthread_once_t once[TG_BPE_COUNT_] = {PTHREAD_ONCE_INIT, PTHREAD_ONCE_INIT};

static void init_cl100k(void)
{
    tg_bpe *b = &encodings[TG_BPE_CL100K];
    *b = (tg_bpe){"cl100k_base", tg_vocab_cl100k_base_count, tg_vocab_cl100k_base_off,
                  tg_vocab_cl100k_base_blob, split_cl100k, NULL, 0, 0, {0}, NULL};
    build_table(b);
}

static void init_o200k(void)
{
    tg_bpe *b = &encodings[TG_BPE_O200K];
    *b = (tg_bpe){"o200k_base", tg_vocab_o200k_base_count, tg_vocab_o200k_base_off,
                  tg_vocab_o200k_base_blob, split_o200k, NULL, 0, 0, {0}, NULL};
    build_table(b);
}

const tg_bpe *tg_bpe_get(tg_bpe_id id)
{
    if (id == TG_BPE_CL100K) {
        pthread_once(&once[id], init_cl100k);
        return &encodings[id];
    }
    if (id == TG_BPE_O200K) {
        pthread_once(&once[id], init_o200k);
        return &encodings[id];
    }
    return NULL;
}

const tg_bpe *tg_bpe_by_name(const char *name)
{
    if (!name)
        return NULL;
    if (strcmp(name, "cl100k_base") == 0)
        return tg_bpe_get(TG_BPE_CL100K);
    if (strcmp(name, "o200k_base") == 0)
        return tg_bpe_get(TG_BPE_O200K);
    return NULL;
}

/* 1 when `model` starts with `prefix` followed by end of string or one of "-:_.@". */
static int family(const char *model, const char *prefix)
{
    size_t n = strlen(prefix);
    if (strncmp(model, prefix, n) != 0)
        return 0;
    return model[n] == '\0' || strchr("-:_.@", model[n]) != NULL;
}

const char *tg_bpe_name_for_model(const char *model)
{
    static const char *const o200k[] = {
        "gpt-4o", "gpt-4.1", "gpt-4.5", "gpt-5", "o1", "o3", "o4", "o4-mini", "chatgpt-4o",
        "gpt-oss", "codex-mini", "gpt-realtime", "gpt-audio", "computer-use-preview"};
    static const char *const cl100k[] = {
        "gpt-4", "gpt-3.5", "gpt-35", "text-embedding-3-small", "text-embedding-3-large",
        "text-embedding-ada-002", "davinci-002", "babbage-002"};
    if (!model)
        return NULL;
    const char *slash = strrchr(model, '/');
    if (slash)
        model = slash + 1;
    if (strncmp(model, "ft:", 3) == 0)
        model += 3;
    for (size_t i = 0; i < sizeof o200k / sizeof *o200k; i++)
        if (family(model, o200k[i]))
            return "o200k_base";
    for (size_t i = 0; i < sizeof cl100k / sizeof *cl100k; i++)
        if (family(model, cl100k[i]))
            return "cl100k_base";
    return NULL;
}

const tg_bpe *tg_bpe_for_model(const char *model)
{
    return tg_bpe_by_name(tg_bpe_name_for_model(model));
}

const char *tg_bpe_name(const tg_bpe *bpe) { return bpe->name; }

uint32_t tg_bpe_vocab_size(const tg_bpe *bpe) { return bpe->count; }

size_t tg_bpe_count(const tg_bpe *bpe, const char *text, size_t len)
{
    sink k = {NULL, 0, 0};
    if (encode_all(bpe, text, len, &k) != 0)
        return SIZE_MAX;
    return k.count;
}

int tg_bpe_encode(const tg_bpe *bpe, const char *text, size_t len, tg_bpe_ids *out)
{
    sink k = {out, 0, 0};
    return encode_all(bpe, text, len, &k);
}

const unsigned char *tg_bpe_token(const tg_bpe *bpe, uint32_t id, size_t *len)
{
    if (id >= bpe->count)
        return NULL;
    *len = bpe->off[id + 1] - bpe->off[id];
    return bpe->blob + bpe->off[id];
}

int tg_bpe_decode(const tg_bpe *bpe, const uint32_t *ids, size_t n, char **out,
                  size_t *outlen)
{
    size_t total = 0;
    for (size_t i = 0; i < n; i++) {
        if (ids[i] >= bpe->count)
            return -1;
        total += bpe->off[ids[i] + 1] - bpe->off[ids[i]];
    }
    char *buf = malloc(total + 1);
    if (!buf)
        return -2;
    size_t at = 0;
    for (size_t i = 0; i < n; i++) {
        size_t len = bpe->off[ids[i] + 1] - bpe->off[ids[i]];
        memcpy(buf + at, bpe->blob + bpe->off[ids[i]], len);
        at += len;
    }
    buf[at] = '\0';
    *out = buf;
    *outlen = at;
    return 0;
}

void tg_bpe_ids_free(tg_bpe_ids *ids)
{
    free(ids->v);
    *ids = (tg_bpe_ids){NULL, 0, 0};
}
