/* tg_xlate: translation between OpenAI chat completions and Anthropic messages.
 *
 * When a request's inbound dialect (the path the client called) differs from the outbound
 * one (the format of the provider the router chose), tollgate rewrites the request into the
 * provider's dialect, and the answer back into the caller's: JSON responses whole, streams
 * event by event, vendor errors into the caller's error shape.  What one side can express
 * and the other cannot (n > 1, logprobs, audio, response_format, Anthropic's thinking,
 * server tools, ...) is refused with a message naming the field, never dropped; the one
 * deliberate omission is Anthropic's cache_control hints going to an OpenAI-format vendor
 * (a hint, not content: those vendors cache prefixes on their own).
 *
 * Everything here is pure (no I/O, no globals) and safe from any thread. */
#ifndef TG_TRANSLATE_H
#define TG_TRANSLATE_H
#include <stdbool.h>
#include <stdint.h>

#include <cjson/cJSON.h>

#include "common/buf.h"
#include "proxy/dialect.h"

#define TG_XLATE_ERR_MAX 256       /* a refusal message */
#define TG_XLATE_MAX_STOP 4        /* OpenAI's limit on stop sequences */
#define TG_XLATE_MAX_TOOLS 128     /* tool calls tracked in one streamed answer */
#define TG_XLATE_ID_MAX 128        /* message / completion ids kept for a stream */
#define TG_XLATE_DEFAULT_VERSION "2023-06-01" /* anthropic-version sent when none given */

typedef enum { TG_WIRE_OPENAI = 0, TG_WIRE_ANTHROPIC = 1 } tg_wire; /* = tg_format */

#define TG_XLATE_OK 0
#define TG_XLATE_REFUSED (-1) /* cannot be translated (or malformed): err says why */
#define TG_XLATE_NOMEM (-2)

/* Options of a request translation. */
typedef struct {
    int64_t max_tokens;      /* to Anthropic: max_tokens when the request has none (> 0) */
    bool max_completion;     /* to OpenAI: send max_completion_tokens, else max_tokens */
} tg_xlate_opts;

/* Translates an OpenAI chat completions request into an Anthropic messages request
 * (*out, caller frees).  Returns TG_XLATE_OK, TG_XLATE_REFUSED with a one-line reason in
 * err (always NUL-terminated when errlen > 0), or TG_XLATE_NOMEM. */
int tg_xlate_req_to_anthropic(const cJSON *chat, const tg_xlate_opts *o, cJSON **out,
                              char *err, size_t errlen);

/* Translates an Anthropic messages request into an OpenAI chat completions request (a
 * stream asks for usage).  Returns as tg_xlate_req_to_anthropic. */
int tg_xlate_req_to_openai(const cJSON *msg, const tg_xlate_opts *o, cJSON **out, char *err,
                           size_t errlen);

/* Translates a complete answer: an Anthropic message into a chat.completion
 * (tg_xlate_resp_to_openai), or a chat.completion into an Anthropic message.  `created`
 * is the Unix time for OpenAI's "created".  Returns TG_XLATE_OK, TG_XLATE_REFUSED (not an
 * answer of the expected shape) or TG_XLATE_NOMEM. */
int tg_xlate_resp_to_openai(const cJSON *msg, int64_t created, cJSON **out);
int tg_xlate_resp_to_anthropic(const cJSON *chat, cJSON **out);

/* Rewrites a vendor's error body (either dialect's shape, or any text) with HTTP `status`
 * as an error in dialect `to`, appended to out.  Returns a tg_buf status. */
int tg_xlate_error(const char *body, size_t len, int status, tg_wire to, tg_buf *out);

/* A stream being translated: created per upstream attempt, fed every SSE event. */
typedef struct tg_xlate_stream tg_xlate_stream;

/* A translator of a stream in dialect `from` into dialect `to` (they differ).
 * include_usage: to OpenAI, end with a usage chunk (the client asked
 * stream_options.include_usage).  NULL when memory ran out. */
tg_xlate_stream *tg_xlate_stream_new(tg_wire from, tg_wire to, bool include_usage,
                                     int64_t created);

/* Frees a translator (NULL: nothing). */
void tg_xlate_stream_free(tg_xlate_stream *xs);

/* Handles one upstream SSE event (`ev`, `len` bytes, without its blank line): the
 * upstream dialect `up` sees it first (usage, delivered text: st), then its translation
 * is appended to out (zero or more complete events).  xs NULL: no translation, the same as
 * up->sse_event.  Returns a tg_buf status. */
int tg_xlate_sse(tg_xlate_stream *xs, const tg_dialect *up, tg_sse_state *st, const char *ev,
                 size_t len, tg_buf *out);

#endif
