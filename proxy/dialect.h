/* tg_dialect: what differs between vendor APIs, behind one small interface.
 *
 * A dialect knows one vendor wire format: how errors look, where usage is reported in a
 * JSON response and in an SSE stream, and how to ask the vendor for usage in a stream.
 * The proxy core (server.c) never looks inside a vendor's JSON itself.  One file per
 * dialect: dialect_openai.c and dialect_anthropic.c.  Translating a request or answer from one
 * dialect into the other is proxy/translate.h's business, not a dialect's. */
#ifndef TG_DIALECT_H
#define TG_DIALECT_H
#include <stdbool.h>
#include <stdint.h>

#include <cjson/cJSON.h>

#include "common/buf.h"

/* Tokens by type, as a vendor bills them.  input includes cached_input and cache_write
 * (OpenAI's prompt_tokens does; Anthropic's three input counts are added up); cache_write
 * includes cache_write_1h (Anthropic's 1-hour cache writes, priced apart); output includes
 * reasoning. */
typedef struct {
    int64_t input, cached_input, cache_write, cache_write_1h, output, reasoning;
    bool reported; /* the vendor said so; false: absent (or estimated by the caller) */
} tg_usage;

/* Per-stream state a dialect keeps while an SSE stream passes through. */
typedef struct {
    bool strip_usage;      /* tollgate asked for usage the client did not: hide it */
    bool done;             /* the terminal event was seen */
    tg_usage usage;        /* from the stream, when reported */
    tg_buf delivered;      /* text of content deltas (bounded), for an estimate */
} tg_sse_state;

typedef struct tg_dialect {
    const char *name;

    /* Writes an error body in this dialect: `type` and `code` as the vendor would name
     * them (code may be NULL).  Returns a tg_buf status. */
    int (*error_body)(tg_buf *out, const char *type, const char *code, const char *message);

    /* Reads the usage block of a complete (non-streamed) response into *u. */
    void (*usage_from_json)(const cJSON *resp, tg_usage *u);

    /* Prepares a streamed request's body so that the vendor reports usage: sets
     * *injected when the client had not asked and tollgate added the request.  Returns 0,
     * or -1 when memory ran out. */
    int (*ask_stream_usage)(cJSON *body, bool *injected);

    /* Handles one complete SSE event (`ev`, `len` bytes, without the blank line that ends
     * it): updates st, and appends to `out` what the client must see (the event unchanged
     * and its terminator; nothing when the event is tollgate's own; the event minus the
     * extra fields tollgate caused).  Returns a tg_buf status. */
    int (*sse_event)(tg_sse_state *st, const char *ev, size_t len, tg_buf *out);
} tg_dialect;

extern const tg_dialect tg_dialect_openai;
extern const tg_dialect tg_dialect_anthropic;

/* The data of one SSE event: its "data:" lines (one leading space cut) joined by "\n",
 * appended to `data`.  Returns 0, or -1 when `data` is full or memory ran out. */
int tg_sse_data(const char *ev, size_t len, tg_buf *data);

/* Finds the top-level member `key` of the JSON object in p[0..n) without building a tree:
 * returns 1 with its value at *val (*vlen bytes, unparsed), 0 when the object was walked to
 * its end without it, -1 when the scan cannot tell (not an object, a key written with an
 * escape, broken structure): then parse the whole document.  Strings are skipped escape by
 * escape, containers by depth; values are not validated (a caller parses the one found). */
int tg_json_top_member(const char *p, size_t n, const char *key, const char **val,
                       size_t *vlen);

/* d->usage_from_json on a complete answer of n bytes, parsing only its top-level "usage"
 * member when tg_json_top_member finds it (a JSON answer is mostly text and choices the
 * usage does not need), the whole answer when the scan cannot tell, nothing when there is
 * no usage.  Whenever cJSON can parse the whole answer, *u is what usage_from_json on that
 * tree gives (fuzz_dialect checks it); when it cannot, a usage block that is itself whole
 * JSON is still read. */
void tg_dialect_usage_of(const tg_dialect *d, const char *p, size_t n, tg_usage *u);

#endif
