/* tg_count: estimated prompt tokens of an API request body, the way the provider bills it.
 *
 * Five request shapes are understood: OpenAI chat completions, completions, embeddings and
 * responses, and Anthropic messages.  Text is counted with the built-in BPE (router/bpe.h)
 * in the encoding OpenAI uses for the model; the structure around it (per-message framing,
 * tool definitions, images) is counted with OpenAI's published rules:
 *
 *   - chat messages: the "How to count tokens with tiktoken" cookbook rule: 3 tokens per
 *     message, the tokens of every string value in it (role, content, name, ...), 1 more
 *     for a name, and 3 for priming the reply;
 *   - tools: the same cookbook's num_tokens_for_tools rule (function "name:description",
 *     one "key:type:description" line per property, enum items, fixed overheads);
 *   - images: the vision guide's tile formula (85 + 170 per 512 px tile for gpt-4o class
 *     models), the patch formula for the patch-billed minis, and a worst case when the
 *     image's size cannot be read from the request (a URL rather than inline data).
 *
 * The result says whether the count is exact: true only when the model's encoding is known
 * and every part of the body was counted by a published rule.  Everything else (Anthropic,
 * whose tokenizer is not public and is approximated with o200k_base; the Responses API;
 * tool calls; audio and files; images of unknown size; unknown models) is an estimate, and
 * the caller applies its safety factor to it.  The rules and their limits are described
 * next to the code in count.c.
 *
 * Nothing here keeps state: every function is safe to call from any thread. */
#ifndef TG_COUNT_H
#define TG_COUNT_H
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include <cjson/cJSON.h>

#include "router/bpe.h"

/* The largest request body tg_count_parse accepts (32 MiB). */
#define TG_COUNT_MAX_BODY ((size_t)32 << 20)

/* Return codes. */
#define TG_COUNT_OK 0
#define TG_COUNT_EINVAL (-1)  /* the body is not JSON or not the expected shape */
#define TG_COUNT_ENOMEM (-2)  /* memory ran out */
#define TG_COUNT_ETOOBIG (-3) /* the body is larger than TG_COUNT_MAX_BODY */

typedef enum {
    TG_COUNT_CHAT = 0,           /* POST /v1/chat/completions */
    TG_COUNT_COMPLETIONS,        /* POST /v1/completions */
    TG_COUNT_EMBEDDINGS,         /* POST /v1/embeddings */
    TG_COUNT_RESPONSES,          /* POST /v1/responses */
    TG_COUNT_ANTHROPIC_MESSAGES, /* POST /v1/messages (Anthropic) */
    TG_COUNT_KIND_COUNT_
} tg_count_kind;

typedef struct {
    int64_t tokens;       /* estimated prompt tokens, everything included */
    int64_t image_tokens; /* the part of `tokens` that images account for */
    int64_t tool_tokens;  /* the part of `tokens` that tool definitions account for */
    int images;           /* number of images in the request */
    bool exact;           /* true: counted by the provider's published rules */
    const tg_bpe *bpe;    /* the encoding used for text (never NULL after success) */
} tg_count_result;

/* The short name of `kind` as the CLI's --api flag spells it: "chat", "completions",
 * "embeddings", "responses", "messages".  "?" for a value outside the enum. */
const char *tg_count_kind_name(tg_count_kind kind);

/* Parses a --api value (the names above) into *out.  Returns 0, or -1 for an unknown name
 * (*out untouched). */
int tg_count_kind_parse(const char *name, tg_count_kind *out);

/* The kind served at the public API `path` ("/v1/chat/completions", "/v1/completions",
 * "/v1/embeddings", "/v1/responses", "/v1/messages"; a query string is ignored).  Returns
 * 0, or -1 when the path is none of them (*out untouched). */
int tg_count_kind_for_path(const char *path, tg_count_kind *out);

/* Guesses the kind of `body` from its shape alone, for when the endpoint is not known:
 * "messages" -> chat (Anthropic messages when the body also has a top-level "system" or
 * "anthropic_version", which OpenAI's chat API does not have); "prompt" -> completions;
 * "input" -> embeddings when "model" contains "embedding", else responses.  Returns 0, or
 * TG_COUNT_EINVAL with a one-line reason in err (always NUL-terminated when errlen > 0). */
TG_WARN_UNUSED int tg_count_detect(const cJSON *body, tg_count_kind *out, char *err,
                                   size_t errlen);

/* Parses `len` bytes of `text` as one JSON value.  On success returns 0 and *out is a tree
 * the caller frees with cJSON_Delete.  Errors: TG_COUNT_ETOOBIG when len is over
 * TG_COUNT_MAX_BODY, TG_COUNT_EINVAL for malformed JSON (err says where: line and column),
 * TG_COUNT_ENOMEM; *out is then NULL. */
TG_WARN_UNUSED int tg_count_parse(const char *text, size_t len, cJSON **out, char *err,
                                  size_t errlen);

/* Counts the prompt tokens of request `body` (not modified, not kept) of the given kind.
 * `model` overrides the body's "model" field when not NULL; the model picks the encoding
 * (tg_bpe_for_model; o200k_base and exact=false when it is unknown or absent) and the
 * per-model constants of the tool and image rules.
 * Returns 0 and fills *out; or TG_COUNT_EINVAL when the body does not have the shape of
 * the kind, with err naming the JSON path and what was expected, e.g.
 * "messages[2].content: expected a string or an array of content parts"; or
 * TG_COUNT_ENOMEM.  err is always NUL-terminated when errlen > 0; *out is zeroed on
 * error. */
TG_WARN_UNUSED int tg_count_request(const cJSON *body, tg_count_kind kind, const char *model,
                                    tg_count_result *out, char *err, size_t errlen);

#endif
