/* test_bpe.c: Check unit tests for tollgate's built-in BPE tokenizer (router/bpe.h).
 *
 * corpus   Every text of tests/data/tokenizer/corpus.jsonl must encode to exactly the ids
 *          OpenAI's tiktoken gives (tests/data/tokenizer/<encoding>.ids, written by
 *          tests/gen/gen_tokenizer_expected.mjs), for cl100k_base and o200k_base.  For every
 *          line tg_bpe_count must equal the number of ids and decoding must give the text
 *          back byte for byte.  Up to 20 mismatches are printed (text, expected, got), then
 *          the test fails with the totals.
 * bytes    Invalid UTF-8 (truncated and overlong sequences, encoded surrogates, code points
 *          above U+10FFFF, 0xFF) and seeded random byte strings: no crash, every id inside the
 *          vocabulary, count == encode length, decode(encode(x)) == x.
 * misc     Known values from the tiktoken docs, the model table, lookup by name, ids outside
 *          the vocabulary, encode appending, empty input, 1 MiB of 'a'.
 *
 * TG_TEST_DATA must name the tests/data directory.  No test is timed. */
#include "router/bpe.h"

#include <check.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define MAX_REPORTS 20

/* ------------------------------------------------------------------ helpers */

typedef struct {
    char *p;
    size_t n;
} buf;

typedef struct {
    uint32_t *v;
    size_t n;
} idlist;

typedef struct {
    buf *texts;
    idlist *ids;
    size_t n;
} corpus;

static char *read_file(const char *name, size_t *len)
{
    const char *dir = getenv("TG_TEST_DATA");
    char path[4096];
    ck_assert_msg(dir != NULL, "TG_TEST_DATA is not set");
    snprintf(path, sizeof path, "%s/tokenizer/%s", dir, name);
    FILE *f = fopen(path, "rb");
    ck_assert_msg(f != NULL, "cannot open %s", path);
    ck_assert_int_eq(fseek(f, 0, SEEK_END), 0);
    long sz = ftell(f);
    ck_assert_int_ge(sz, 0);
    rewind(f);
    char *p = malloc((size_t)sz + 1);
    ck_assert_ptr_nonnull(p);
    ck_assert_uint_eq(fread(p, 1, (size_t)sz, f), (size_t)sz);
    fclose(f);
    p[sz] = '\0';
    *len = (size_t)sz;
    return p;
}

/* Splits `p` in place at '\n'; returns the number of lines (a trailing '\n' ends the last). */
static size_t split_lines(char *p, size_t len, char ***lines)
{
    size_t n = 0, cap = 1024;
    char **v = malloc(cap * sizeof *v);
    ck_assert_ptr_nonnull(v);
    for (size_t start = 0; start < len;) {
        char *nl = memchr(p + start, '\n', len - start);
        size_t end = nl ? (size_t)(nl - p) : len;
        if (n == cap) {
            cap *= 2;
            v = realloc(v, cap * sizeof *v);
            ck_assert_ptr_nonnull(v);
        }
        p[end] = '\0';
        v[n++] = p + start;
        start = end + 1;
    }
    *lines = v;
    return n;
}

static void put_utf8(buf *b, uint32_t c)
{
    unsigned char *o = (unsigned char *)b->p + b->n;
    if (c < 0x80) {
        o[0] = (unsigned char)c, b->n += 1;
    } else if (c < 0x800) {
        o[0] = (unsigned char)(0xC0 | c >> 6), o[1] = (unsigned char)(0x80 | (c & 0x3F)), b->n += 2;
    } else if (c < 0x10000) {
        o[0] = (unsigned char)(0xE0 | c >> 12), o[1] = (unsigned char)(0x80 | (c >> 6 & 0x3F));
        o[2] = (unsigned char)(0x80 | (c & 0x3F)), b->n += 3;
    } else {
        o[0] = (unsigned char)(0xF0 | c >> 18), o[1] = (unsigned char)(0x80 | (c >> 12 & 0x3F));
        o[2] = (unsigned char)(0x80 | (c >> 6 & 0x3F)), o[3] = (unsigned char)(0x80 | (c & 0x3F));
        b->n += 4;
    }
}

/* Fails the test with `what` and the offending input unless `ok`.  (Loops over the corpus test
 * with `if`: every passing ck_assert costs Check a write(2).) */
static void need(int ok, const char *what, const char *input)
{
    if (!ok)
        ck_abort_msg("%s: %.200s", what, input);
}

static uint32_t hex4(const char *s)
{
    char tmp[5] = {s[0], s[1], s[2], s[3], '\0'};
    char *end;
    unsigned long v = strtoul(tmp, &end, 16);
    need(end == tmp + 4, "bad \\u escape", s);
    return (uint32_t)v;
}

/* The code point of the \uXXXX escape at s (s[0] == 'u'), joining a surrogate pair;
 * advances *s past it. */
static uint32_t json_escape_cp(const char **s)
{
    uint32_t c = hex4(*s + 1);
    *s += 5;
    if (c >= 0xD800 && c < 0xDC00) {
        need((*s)[0] == '\\' && (*s)[1] == 'u', "lone surrogate in corpus", *s);
        uint32_t lo = hex4(*s + 2);
        need(lo >= 0xDC00 && lo < 0xE000, "bad surrogate pair in corpus", *s);
        c = 0x10000 + ((c - 0xD800) << 10) + (lo - 0xDC00);
        *s += 6;
    }
    return c;
}

/* Decodes one JSON string literal (the whole line).  Written here rather than with cJSON
 * because the corpus holds U+0000, which a C-string API cannot return. */
static buf json_string(const char *s)
{
    size_t len = strlen(s);
    buf b = {malloc(len + 1), 0};
    need(b.p != NULL, "out of memory", s);
    need(len >= 2 && s[0] == '"' && s[len - 1] == '"', "not a JSON string", s);
    const char *end = s + len - 1;
    for (s++; s < end;) {
        if (*s != '\\') {
            b.p[b.n++] = *s++;
            continue;
        }
        s++;
        if (*s == 'u') {
            put_utf8(&b, json_escape_cp(&s));
            continue;
        }
        static const char names[] = "\"\\/bfnrt", values[] = "\"\\/\b\f\n\r\t";
        const char *simple = *s ? strchr(names, *s) : NULL;
        need(simple != NULL, "bad escape in corpus", s);
        b.p[b.n++] = values[simple - names];
        s++;
    }
    b.p[b.n] = '\0';
    return b;
}

static idlist parse_ids(const char *s)
{
    idlist l = {malloc((strlen(s) / 2 + 1) * sizeof(uint32_t)), 0};
    need(l.v != NULL, "out of memory", s);
    while (*s) {
        char *end;
        unsigned long v = strtoul(s, &end, 10);
        need(end != s && v <= UINT32_MAX, "bad id list", s);
        l.v[l.n++] = (uint32_t)v;
        s = end;
        while (*s == ' ')
            s++;
    }
    return l;
}

static corpus load_corpus(const char *encoding)
{
    char ids_name[64], **tl, **il;
    size_t tlen, ilen;
    snprintf(ids_name, sizeof ids_name, "%s.ids", encoding);
    char *traw = read_file("corpus.jsonl", &tlen), *iraw = read_file(ids_name, &ilen);
    size_t nt = split_lines(traw, tlen, &tl), ni = split_lines(iraw, ilen, &il);
    ck_assert_msg(nt == ni, "corpus has %zu lines but %s has %zu", nt, ids_name, ni);
    ck_assert_uint_gt(nt, 1000);
    corpus c = {malloc(nt * sizeof(buf)), malloc(nt * sizeof(idlist)), nt};
    ck_assert(c.texts && c.ids);
    for (size_t i = 0; i < nt; i++) {
        c.texts[i] = json_string(tl[i]);
        c.ids[i] = parse_ids(il[i]);
    }
    free(tl), free(il), free(traw), free(iraw);
    return c;
}

static void free_corpus(corpus *c)
{
    for (size_t i = 0; i < c->n; i++)
        free(c->texts[i].p), free(c->ids[i].v);
    free(c->texts), free(c->ids);
}

static void print_text(const char *s, size_t n)
{
    fputs("  text: \"", stderr);
    for (size_t i = 0; i < n && i < 200; i++) {
        unsigned char ch = (unsigned char)s[i];
        if (ch == '"' || ch == '\\')
            fprintf(stderr, "\\%c", ch);
        else if (ch >= 0x20 && ch < 0x7F)
            fputc(ch, stderr);
        else
            fprintf(stderr, "\\x%02x", ch);
    }
    fprintf(stderr, "\"%s (%zu bytes)\n", n > 200 ? "..." : "", n);
}

static void print_ids(const char *label, const uint32_t *v, size_t n)
{
    fprintf(stderr, "  %s (%zu):", label, n);
    for (size_t i = 0; i < n && i < 48; i++)
        fprintf(stderr, " %u", v[i]);
    fputs(n > 48 ? " ...\n" : "\n", stderr);
}

static size_t first_diff(const idlist *want, const tg_bpe_ids *got)
{
    size_t i = 0;
    while (i < want->n && i < got->n && want->v[i] == got->v[i])
        i++;
    return i;
}

static int same_ids(const idlist *want, const tg_bpe_ids *got)
{
    return want->n == got->n &&
           (want->n == 0 || memcmp(want->v, got->v, want->n * sizeof *want->v) == 0);
}

/* decode(ids) == text[0..n)?  Also fails the test on a decode error. */
static int round_trips(const tg_bpe *bpe, const tg_bpe_ids *ids, const char *text, size_t n)
{
    char *out = NULL;
    size_t outlen = 0;
    int rc = tg_bpe_decode(bpe, ids->v, ids->n, &out, &outlen);
    if (rc != 0)
        ck_abort_msg("tg_bpe_decode of freshly encoded ids returned %d", rc);
    int ok = outlen == n && (n == 0 || memcmp(out, text, n) == 0) && out[outlen] == '\0';
    free(out);
    return ok;
}

/* Encodes text[0..n) into a fresh id list; the caller frees it. */
static tg_bpe_ids encode(const tg_bpe *bpe, const char *text, size_t n)
{
    tg_bpe_ids ids = {0};
    if (tg_bpe_encode(bpe, text, n, &ids) != 0)
        ck_abort_msg("%s: tg_bpe_encode failed on %zu bytes", tg_bpe_name(bpe), n);
    return ids;
}

/* ------------------------------------------------------------------ corpus */

typedef struct {
    size_t ids, count, trip;
} tally;

static void check_line(const tg_bpe *bpe, const corpus *c, size_t i, tally *t)
{
    const buf *text = &c->texts[i];
    tg_bpe_ids got = encode(bpe, text->p, text->n);
    if (!same_ids(&c->ids[i], &got) && t->ids++ < MAX_REPORTS) {
        fprintf(stderr, "%s: line %zu differs at id #%zu\n", tg_bpe_name(bpe), i + 1,
                first_diff(&c->ids[i], &got));
        print_text(text->p, text->n);
        print_ids("want", c->ids[i].v, c->ids[i].n);
        print_ids("got ", got.v, got.n);
    }
    size_t cnt = tg_bpe_count(bpe, text->p, text->n);
    if (cnt != got.n && t->count++ < MAX_REPORTS)
        fprintf(stderr, "%s: line %zu: count %zu, encode gives %zu ids\n", tg_bpe_name(bpe),
                i + 1, cnt, got.n);
    if (!round_trips(bpe, &got, text->p, text->n) && t->trip++ < MAX_REPORTS)
        fprintf(stderr, "%s: line %zu does not round-trip\n", tg_bpe_name(bpe), i + 1);
    tg_bpe_ids_free(&got);
}

START_TEST(test_corpus)
{
    const tg_bpe *bpe = tg_bpe_get((tg_bpe_id)_i);
    ck_assert_ptr_nonnull(bpe);
    corpus c = load_corpus(tg_bpe_name(bpe));
    tally t = {0, 0, 0};
    for (size_t i = 0; i < c.n; i++)
        check_line(bpe, &c, i, &t);
    fprintf(stderr, "%s: %zu corpus lines, %zu id mismatches, %zu count mismatches, "
            "%zu round-trip failures\n", tg_bpe_name(bpe), c.n, t.ids, t.count, t.trip);
    size_t n = c.n;
    free_corpus(&c);
    ck_assert_msg(t.ids == 0 && t.count == 0 && t.trip == 0,
                  "%s: of %zu lines, %zu encode differently from tiktoken, %zu miscount, "
                  "%zu do not round-trip", tg_bpe_name(bpe), n, t.ids, t.count, t.trip);
}
END_TEST

/* ------------------------------------------------------------------ arbitrary bytes */

/* Encodes any bytes: ids in the vocabulary, count agrees, decode gives the bytes back. */
static void check_bytes(const tg_bpe *bpe, const char *p, size_t n)
{
    tg_bpe_ids ids = encode(bpe, p, n);
    uint32_t vocab = tg_bpe_vocab_size(bpe);
    size_t bad = 0, count = tg_bpe_count(bpe, p, n);
    for (size_t i = 0; i < ids.n; i++)
        bad += ids.v[i] >= vocab;
    if (bad || count != ids.n || !round_trips(bpe, &ids, p, n)) {
        print_text(p, n);
        ck_abort_msg("%s: %zu ids outside the vocabulary, count %zu for %zu ids, or no round "
                     "trip", tg_bpe_name(bpe), bad, count, ids.n);
    }
    tg_bpe_ids_free(&ids);
}

/* The bytes `core` alone and inside a few contexts. */
static void check_in_contexts(const tg_bpe *bpe, const char *core, size_t n)
{
    static const char *const pre[] = {"", "a", "A", " ", "  ", "1", ".", "'", "\n", "\xe4\xb8\xad"};
    static const char *const post[] = {"", "b", "B", " x", "s", "'s", "1", "!", "\n", "\xcc\x81"};
    char tmp[256];
    for (size_t i = 0; i < sizeof pre / sizeof *pre; i++)
        for (size_t j = 0; j < sizeof post / sizeof *post; j++) {
            size_t a = strlen(pre[i]), b = strlen(post[j]);
            ck_assert_uint_lt(a + n + b, sizeof tmp);
            memcpy(tmp, pre[i], a), memcpy(tmp + a, core, n), memcpy(tmp + a + n, post[j], b);
            check_bytes(bpe, tmp, a + n + b);
        }
}

static const struct {
    const char *p;
    size_t n;
} BAD_UTF8[] = {
#define B(s) {s, sizeof s - 1}
    B("\xff"), B("\xfe"), B("\xff\xff\xff"), B("\x80"), B("\xbf"), B("\x80\x80\x80\x80"),
    B("\xc2"), B("\xe4\xb8"), B("\xf0\x9f\x98"), B("\xf0\x9f"), B("\xf0"), B("\xe4"),
    B("\xc0\x80"), B("\xc1\xbf"), B("\xe0\x80\x80"), B("\xe0\x9f\xbf"), B("\xf0\x80\x80\x80"),
    B("\xf0\x8f\xbf\xbf"), B("\xed\xa0\x80"), B("\xed\xbf\xbf"), B("\xed\xa0\xbd\xed\xb8\x80"),
    B("\xf4\x90\x80\x80"), B("\xf5\x80\x80\x80"), B("\xf7\xbf\xbf\xbf"), B("\xf8\x88\x80\x80\x80"),
    B("\xfc\x84\x80\x80\x80\x80"), B("\xc2\xc2"), B("\xe4\xb8\xe4\xb8\xad"), B("\xc2 "),
    B("a\xff" "b"), B("\xff's"), B("'\xff"), B("1\xff" "2"), B(" \xff\n"), B("\xff\xfe\xfd\xfc"),
    B("\xef\xbb\xbf\xff"), B("\xe2\x80\xa8\xff"), B("\xcc\x81\xff"), B("\xff\xcc\x81"),
    B("\x00"), B("\x00\xff\x00"), B("\xed\x9f\xbf"), B("\xee\x80\x80"), B("\xf4\x8f\xbf\xbf"),
#undef B
};

START_TEST(test_invalid_utf8)
{
    const tg_bpe *bpe = tg_bpe_get((tg_bpe_id)_i);
    for (size_t i = 0; i < sizeof BAD_UTF8 / sizeof *BAD_UTF8; i++)
        check_in_contexts(bpe, BAD_UTF8[i].p, BAD_UTF8[i].n);
}
END_TEST

static uint64_t rng_state = 0x9e3779b97f4a7c15u;

static uint32_t rng(void)
{
    rng_state ^= rng_state << 13, rng_state ^= rng_state >> 7, rng_state ^= rng_state << 17;
    return (uint32_t)(rng_state >> 32);
}

/* A random byte biased towards UTF-8 structure: ASCII, continuation bytes, lead bytes. */
static unsigned char random_byte(void)
{
    static const char ascii[] = "aAzZ09 \t\n\r'.,!?/sltdmrve_-\"";
    switch (rng() % 6) {
    case 0: case 1: return (unsigned char)ascii[rng() % (sizeof ascii - 1)];
    case 2: return (unsigned char)(0x80 + rng() % 0x40);
    case 3: return (unsigned char)(0xC0 + rng() % 0x40);
    case 4: return (unsigned char)(0xE0 + rng() % 0x10);
    default: return (unsigned char)(rng() & 0xFF);
    }
}

START_TEST(test_random_bytes)
{
    const tg_bpe *bpe = tg_bpe_get((tg_bpe_id)_i);
    char tmp[200];
    rng_state = 0x9e3779b97f4a7c15u + (uint64_t)_i;
    for (int k = 0; k < 20000; k++) {
        size_t n = rng() % sizeof tmp;
        for (size_t i = 0; i < n; i++)
            tmp[i] = (char)random_byte();
        check_bytes(bpe, tmp, n);
    }
    size_t big = 1 << 18;
    char *p = malloc(big);
    ck_assert_ptr_nonnull(p);
    for (size_t i = 0; i < big; i++)
        p[i] = (char)(rng() & 0xFF);
    check_bytes(bpe, p, big);
    free(p);
}
END_TEST

/* ------------------------------------------------------------------ misc */

static void expect_ids(tg_bpe_id id, const char *text, const uint32_t *want, size_t n)
{
    const tg_bpe *bpe = tg_bpe_get(id);
    tg_bpe_ids got = encode(bpe, text, strlen(text));
    ck_assert_uint_eq(got.n, n);
    for (size_t i = 0; i < n; i++)
        ck_assert_uint_eq(got.v[i], want[i]);
    tg_bpe_ids_free(&got);
}

START_TEST(test_known_values)
{
    expect_ids(TG_BPE_CL100K, "hello world", (const uint32_t[]){15339, 1917}, 2);
    expect_ids(TG_BPE_O200K, "hello world", (const uint32_t[]){24912, 2375}, 2);
    expect_ids(TG_BPE_CL100K, "<|endoftext|>", (const uint32_t[]){27, 91, 8862, 728, 428, 91, 29},
               7);
    expect_ids(TG_BPE_CL100K, "'s", (const uint32_t[]){596}, 1);
}
END_TEST

static void expect_model(const char *model, const char *encoding)
{
    const tg_bpe *bpe = tg_bpe_for_model(model);
    if (!encoding) {
        ck_assert_msg(bpe == NULL, "model %s should be unknown, got %s", model, tg_bpe_name(bpe));
        return;
    }
    ck_assert_msg(bpe != NULL, "model %s should map to %s, got NULL", model, encoding);
    ck_assert_msg(strcmp(tg_bpe_name(bpe), encoding) == 0, "model %s should map to %s, got %s",
                  model, encoding, tg_bpe_name(bpe));
}

START_TEST(test_for_model)
{
    static const char *const o200k[] = {
        "gpt-4o", "gpt-4o-mini-2024-07-18", "gpt-4.1", "gpt-5", "o1", "o3-mini", "o4-mini",
        "chatgpt-4o-latest", "openai/gpt-4o", "gpt-4o-2024-08-06", "gpt-4.1-nano", "gpt-4.5-preview",
        "gpt-5-mini", "o3", "codex-mini-latest"};
    static const char *const cl100k[] = {
        "gpt-4", "gpt-4-turbo", "gpt-3.5-turbo", "text-embedding-3-small",
        "text-embedding-ada-002", "gpt-4-0613", "gpt-3.5-turbo-0125", "text-embedding-3-large",
        "openai/gpt-4"};
    static const char *const unknown[] = {
        "", "unknown-model", "claude-3-5-sonnet-20241022", "llama-3.1-70b", "gemini-1.5-pro",
        "text-davinci-003"};
    for (size_t i = 0; i < sizeof o200k / sizeof *o200k; i++)
        expect_model(o200k[i], "o200k_base");
    for (size_t i = 0; i < sizeof cl100k / sizeof *cl100k; i++)
        expect_model(cl100k[i], "cl100k_base");
    for (size_t i = 0; i < sizeof unknown / sizeof *unknown; i++)
        expect_model(unknown[i], NULL);
}
END_TEST

START_TEST(test_by_name)
{
    const tg_bpe *cl = tg_bpe_by_name("cl100k_base"), *o = tg_bpe_by_name("o200k_base");
    ck_assert_ptr_eq(cl, tg_bpe_get(TG_BPE_CL100K));
    ck_assert_ptr_eq(o, tg_bpe_get(TG_BPE_O200K));
    ck_assert_ptr_ne(cl, o);
    ck_assert_str_eq(tg_bpe_name(cl), "cl100k_base");
    ck_assert_str_eq(tg_bpe_name(o), "o200k_base");
    ck_assert_ptr_null(tg_bpe_by_name("r50k_base"));
    ck_assert_ptr_null(tg_bpe_by_name("p50k_base"));
    ck_assert_ptr_null(tg_bpe_by_name(""));
    ck_assert_ptr_null(tg_bpe_by_name("cl100k"));
    ck_assert_uint_eq(tg_bpe_vocab_size(cl), 100256);
    ck_assert_uint_eq(tg_bpe_vocab_size(o), 199998);
}
END_TEST

START_TEST(test_out_of_range)
{
    const tg_bpe *bpe = tg_bpe_get((tg_bpe_id)_i);
    uint32_t vocab = tg_bpe_vocab_size(bpe);
    uint32_t special = _i == TG_BPE_CL100K ? 100257 : 199999; /* <|endoftext|> */
    uint32_t bad[] = {vocab, vocab + 1, special, UINT32_MAX};
    size_t len = 0;
    for (size_t i = 0; i < sizeof bad / sizeof *bad; i++) {
        uint32_t ids[3] = {0, bad[i], 1};
        char *out = NULL;
        size_t outlen = 0;
        ck_assert_int_eq(tg_bpe_decode(bpe, ids, 3, &out, &outlen), -1);
        ck_assert_ptr_null(tg_bpe_token(bpe, bad[i], &len));
    }
    ck_assert_ptr_nonnull(tg_bpe_token(bpe, vocab - 1, &len));
    ck_assert_uint_gt(len, 0);
    const unsigned char *t = tg_bpe_token(bpe, 0, &len);
    ck_assert(t != NULL && len == 1 && t[0] == '!');
}
END_TEST

START_TEST(test_empty_and_append)
{
    const tg_bpe *bpe = tg_bpe_get((tg_bpe_id)_i);
    tg_bpe_ids ids = encode(bpe, "", 0);
    ck_assert_uint_eq(ids.n, 0);
    ck_assert_uint_eq(tg_bpe_count(bpe, "", 0), 0);
    char *out = NULL;
    size_t outlen = 1;
    ck_assert_int_eq(tg_bpe_decode(bpe, ids.v, 0, &out, &outlen), 0);
    ck_assert(out != NULL && outlen == 0 && out[0] == '\0');
    free(out);
    const char *a = "Hello, world!", *b = " It's 2024\n";
    ck_assert_int_eq(tg_bpe_encode(bpe, a, strlen(a), &ids), 0);
    size_t na = ids.n;
    ck_assert_int_eq(tg_bpe_encode(bpe, b, strlen(b), &ids), 0);
    ck_assert_uint_eq(ids.n, na + tg_bpe_count(bpe, b, strlen(b)));
    ck_assert(round_trips(bpe, &ids, "Hello, world! It's 2024\n", strlen(a) + strlen(b)));
    tg_bpe_ids_free(&ids);
    ck_assert(ids.v == NULL && ids.n == 0 && ids.cap == 0);
}
END_TEST

START_TEST(test_one_mib_run)
{
    const tg_bpe *bpe = tg_bpe_get((tg_bpe_id)_i);
    size_t n = (size_t)1 << 20;
    char *p = malloc(n);
    ck_assert_ptr_nonnull(p);
    memset(p, 'a', n);
    check_bytes(bpe, p, n);
    free(p);
}
END_TEST

static Suite *bpe_suite(void)
{
    Suite *s = suite_create("bpe");
    TCase *corpus_tc = tcase_create("corpus"), *bytes = tcase_create("bytes");
    TCase *misc = tcase_create("misc");
    tcase_add_loop_test(corpus_tc, test_corpus, 0, TG_BPE_COUNT_);
    tcase_add_loop_test(bytes, test_invalid_utf8, 0, TG_BPE_COUNT_);
    tcase_add_loop_test(bytes, test_random_bytes, 0, TG_BPE_COUNT_);
    tcase_add_loop_test(bytes, test_one_mib_run, 0, TG_BPE_COUNT_);
    tcase_add_test(misc, test_known_values);
    tcase_add_test(misc, test_for_model);
    tcase_add_test(misc, test_by_name);
    tcase_add_loop_test(misc, test_out_of_range, 0, TG_BPE_COUNT_);
    tcase_add_loop_test(misc, test_empty_and_append, 0, TG_BPE_COUNT_);
    suite_add_tcase(s, corpus_tc);
    suite_add_tcase(s, bytes);
    suite_add_tcase(s, misc);
    return s;
}

int main(void)
{
    SRunner *sr = srunner_create(bpe_suite());
    srunner_run_all(sr, CK_NORMAL);
    int failed = srunner_ntests_failed(sr);
    srunner_free(sr);
    return failed ? EXIT_FAILURE : EXIT_SUCCESS;
}
