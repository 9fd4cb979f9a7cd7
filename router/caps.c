/* tg_caps: the capabilities a request needs, inferred from its body (see caps.h).
 *
 * How it works.  Two passes over the parsed body, neither allocating:
 *
 *   1. top-level fields, the same for every kind (a field a kind does not have is simply
 *      absent): tools / functions / tool_choice / function_call, parallel_tool_calls,
 *      response_format and text.format, modalities and audio, reasoning_effort /
 *      reasoning / thinking, stream, web_search_options, and the output cap;
 *   2. the content parts of the conversation: chat and Anthropic "messages", responses
 *      "input" items.  Each message or item's "content" (and a responses tool output's
 *      "output") is an array of parts whose "type" maps to a capability through one table
 *      (image_url / input_image / image -> vision, input_audio -> audio_in, file /
 *      input_file / document -> file_input).  An Anthropic tool_result carries a nested
 *      content array, walked to PART_DEPTH_MAX levels.
 *
 * Tools: a tool whose "type" starts with "web_search" (OpenAI's responses web_search and
 * web_search_preview, Anthropic's web_search_20250305) needs web search; every other tool
 * (function, custom, and the hosted or client tools of both vendors) needs tool calling.
 * A tool with "strict": true (flat, or inside "function" as chat writes it) needs
 * structured outputs.  Values of the wrong type are ignored: the counter and the vendor
 * judge a body's validity; this only reads what a valid body asks for. */
#include "router/caps.h"

#include "policies/catalog.h"

#include <stdbool.h>
#include <string.h>

/* Nested content arrays walked (an Anthropic tool_result's content is level 2). */
#define PART_DEPTH_MAX 2
/* Output caps above this are held here (no conversion out of int64 range). */
#define OUTPUT_CAP_MAX 1e15

static const cJSON *get(const cJSON *obj, const char *key)
{
    return cJSON_GetObjectItemCaseSensitive(obj, key);
}

/* The string at obj.key, or NULL when absent or not a string. */
static const char *get_str(const cJSON *obj, const char *key)
{
    const cJSON *v = get(obj, key);
    return cJSON_IsString(v) ? v->valuestring : NULL;
}

static bool str_is(const char *s, const char *want)
{
    return s && strcmp(s, want) == 0;
}

static bool nonempty_array(const cJSON *v)
{
    return cJSON_IsArray(v) && v->child;
}

/* ---------------------------------------------------------------- tools */

static uint32_t tool_caps(const cJSON *tool)
{
    const char *type = get_str(tool, "type");
    uint32_t caps = type && strncmp(type, "web_search", 10) == 0 ? TG_CAP_WEB_SEARCH
                                                                 : TG_CAP_TOOLS;
    if (cJSON_IsTrue(get(tool, "strict")) || cJSON_IsTrue(get(get(tool, "function"), "strict")))
        caps |= TG_CAP_STRUCTURED;
    return caps;
}

/* "none" as a string or as {"type": "none"} (Anthropic) asks for no tool. */
static bool choice_is_none(const cJSON *choice)
{
    if (cJSON_IsString(choice))
        return str_is(choice->valuestring, "none");
    return str_is(get_str(choice, "type"), "none");
}

static uint32_t tools_caps(const cJSON *body)
{
    uint32_t caps = 0;
    const cJSON *tools = get(body, "tools");
    if (cJSON_IsArray(tools))
        for (const cJSON *t = tools->child; t; t = t->next)
            if (cJSON_IsObject(t))
                caps |= tool_caps(t);
    if (nonempty_array(get(body, "functions")))
        caps |= TG_CAP_TOOLS;
    const cJSON *choice = get(body, "tool_choice");
    if ((cJSON_IsString(choice) || cJSON_IsObject(choice)) && !choice_is_none(choice))
        caps |= TG_CAP_TOOLS;
    const cJSON *fcall = get(body, "function_call");
    if ((cJSON_IsString(fcall) || cJSON_IsObject(fcall)) && !choice_is_none(fcall))
        caps |= TG_CAP_TOOLS;
    if ((caps & TG_CAP_TOOLS) && cJSON_IsTrue(get(body, "parallel_tool_calls")))
        caps |= TG_CAP_PARALLEL_TOOLS;
    return caps;
}

/* ---------------------------------------------------------------- top-level options */

static uint32_t format_caps(const char *type)
{
    if (str_is(type, "json_schema"))
        return TG_CAP_STRUCTURED;
    if (str_is(type, "json_object"))
        return TG_CAP_JSON_MODE;
    return 0;
}

static bool has_string(const cJSON *arr, const char *want)
{
    if (!cJSON_IsArray(arr))
        return false;
    for (const cJSON *e = arr->child; e; e = e->next)
        if (cJSON_IsString(e) && str_is(e->valuestring, want))
            return true;
    return false;
}

static uint32_t option_caps(const cJSON *body)
{
    uint32_t caps = format_caps(get_str(get(body, "response_format"), "type"));
    caps |= format_caps(get_str(get(get(body, "text"), "format"), "type"));
    if (has_string(get(body, "modalities"), "audio") || cJSON_IsObject(get(body, "audio")))
        caps |= TG_CAP_AUDIO_OUT;
    if (cJSON_IsString(get(body, "reasoning_effort")) || cJSON_IsObject(get(body, "reasoning")) ||
        str_is(get_str(get(body, "thinking"), "type"), "enabled"))
        caps |= TG_CAP_REASONING;
    if (cJSON_IsTrue(get(body, "stream")))
        caps |= TG_CAP_STREAMING;
    if (cJSON_IsObject(get(body, "web_search_options")))
        caps |= TG_CAP_WEB_SEARCH;
    return caps;
}

/* The non-negative integer at obj.key (held at OUTPUT_CAP_MAX), or -1 when absent or not
 * one. */
static int64_t get_count(const cJSON *obj, const char *key)
{
    const cJSON *v = get(obj, key);
    if (!cJSON_IsNumber(v) || !(v->valuedouble >= 0))
        return -1;
    if (v->valuedouble > OUTPUT_CAP_MAX)
        return (int64_t)OUTPUT_CAP_MAX;
    int64_t n = (int64_t)v->valuedouble;
    return (double)n == v->valuedouble ? n : -1;
}

static int64_t output_cap(const cJSON *body)
{
    static const char *const keys[] = {"max_completion_tokens", "max_tokens",
                                       "max_output_tokens"};
    for (size_t i = 0; i < sizeof keys / sizeof keys[0]; i++) {
        int64_t n = get_count(body, keys[i]);
        if (n >= 0)
            return n;
    }
    return -1;
}

/* ---------------------------------------------------------------- content parts */

static const struct {
    const char *type;
    uint32_t cap;
} part_caps[] = {
    {"image_url", TG_CAP_VISION},     {"input_image", TG_CAP_VISION},
    {"image", TG_CAP_VISION},         {"input_audio", TG_CAP_AUDIO_IN},
    {"file", TG_CAP_FILE_INPUT},      {"input_file", TG_CAP_FILE_INPUT},
    {"document", TG_CAP_FILE_INPUT},
};

static uint32_t part_cap(const char *type)
{
    if (!type)
        return 0;
    for (size_t i = 0; i < sizeof part_caps / sizeof part_caps[0]; i++)
        if (strcmp(type, part_caps[i].type) == 0)
            return part_caps[i].cap;
    return 0;
}

/* The capabilities of the parts in `parts` (an array; anything else has none). */
static uint32_t parts_caps(const cJSON *parts, int depth)
{
    uint32_t caps = 0;
    if (!cJSON_IsArray(parts) || depth > PART_DEPTH_MAX)
        return 0;
    for (const cJSON *p = parts->child; p; p = p->next) {
        if (!cJSON_IsObject(p))
            continue;
        caps |= part_cap(get_str(p, "type"));
        caps |= parts_caps(get(p, "content"), depth + 1);
    }
    return caps;
}

/* Chat and Anthropic messages, responses input items: their content and outputs. */
static uint32_t conversation_caps(const cJSON *list)
{
    uint32_t caps = 0;
    if (!cJSON_IsArray(list))
        return 0;
    for (const cJSON *m = list->child; m; m = m->next) {
        if (!cJSON_IsObject(m))
            continue;
        caps |= parts_caps(get(m, "content"), 1);
        caps |= parts_caps(get(m, "output"), 1);
    }
    return caps;
}

/* ---------------------------------------------------------------- public */

void tg_caps_infer(const cJSON *body, tg_count_kind kind, tg_caps_result *out)
{
    out->caps = 0;
    out->max_output_tokens = -1;
    if (!cJSON_IsObject(body))
        return;
    out->caps = tools_caps(body) | option_caps(body);
    out->max_output_tokens = output_cap(body);
    switch (kind) {
    case TG_COUNT_CHAT:
    case TG_COUNT_ANTHROPIC_MESSAGES:
        out->caps |= conversation_caps(get(body, "messages"));
        break;
    case TG_COUNT_RESPONSES:
        out->caps |= conversation_caps(get(body, "input"));
        break;
    default: /* completions and embeddings: text prompts only */
        break;
    }
}
