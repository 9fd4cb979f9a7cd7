/* tg_caps: what a request needs from a model, inferred from its body (issue 4).
 *
 * OpenAI chat completions / completions / responses and Anthropic messages bodies:
 *   tools / functions                       -> TG_CAP_TOOLS
 *   parallel_tool_calls true with tools     -> TG_CAP_PARALLEL_TOOLS
 *   tool_choice (other than "none")         -> TG_CAP_TOOLS
 *   a tool with "strict": true, or response_format {"type": "json_schema"}
 *   (responses: text.format json_schema)   -> TG_CAP_STRUCTURED
 *   response_format {"type": "json_object"} -> TG_CAP_JSON_MODE
 *   image_url / input_image / image parts   -> TG_CAP_VISION
 *   input_audio parts                       -> TG_CAP_AUDIO_IN
 *   "modalities" containing "audio", or "audio" object -> TG_CAP_AUDIO_OUT
 *   file / input_file / document parts      -> TG_CAP_FILE_INPUT
 *   reasoning_effort, reasoning {..}, thinking {type: enabled} -> TG_CAP_REASONING
 *   stream true                             -> TG_CAP_STREAMING
 *   web_search_options, or a web_search tool -> TG_CAP_WEB_SEARCH
 * and the requested output cap: max_completion_tokens, else max_tokens, else
 * max_output_tokens (responses); -1 when none. */
#ifndef TG_CAPS_H
#define TG_CAPS_H
#include "router/count.h"

#include <cjson/cJSON.h>
#include <stdint.h>

typedef struct {
    uint32_t caps;             /* TG_CAP_* of policies/catalog.h */
    int64_t max_output_tokens; /* requested cap; -1 none */
} tg_caps_result;

/* Infers what `body` (a parsed request of `kind`) requires.  Never fails: fields of the
 * wrong type are ignored here (the counter and the vendor judge validity). */
void tg_caps_infer(const cJSON *body, tg_count_kind kind, tg_caps_result *out);

#endif
