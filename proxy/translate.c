/* tg_xlate: OpenAI chat completions <-> Anthropic messages (see translate.h).
 *
 * Requests: every top-level field of the source is either translated or refused (a table
 * of the fields each side knows; an unknown field is refused rather than guessed at).
 * Mapping, OpenAI <-> Anthropic:
 *   system/developer messages      <-> "system" (string, or text blocks)
 *   user text / image_url parts    <-> text / image blocks (data: URLs <-> base64 sources,
 *                                      http(s) URLs <-> url sources)
 *   assistant content + tool_calls <-> text + tool_use blocks (arguments JSON <-> input)
 *   "tool" messages                <-> tool_result blocks in a user message (consecutive
 *                                      same-role messages merge: Anthropic alternates)
 *   max_completion_tokens/max_tokens <-> max_tokens (required by Anthropic: filled from
 *                                      the route's output cap when absent)
 *   stop                           <-> stop_sequences
 *   temperature, top_p, stream     <-> the same
 *   tools (function)               <-> tools (name, description, input_schema)
 *   tool_choice auto/none/required/{function} <-> auto/none/any/{tool};
 *   parallel_tool_calls:false      <-> disable_parallel_tool_use
 *   user                           <-> metadata.user_id
 *   finish_reason stop/length/tool_calls/content_filter <-> stop_reason
 *                                      end_turn|stop_sequence|pause_turn/max_tokens|
 *                                      model_context_window_exceeded/tool_use/refusal
 *                                      (OpenAI never says which stop sequence ended an
 *                                      answer: its "stop" is end_turn, stop_sequence null)
 *   usage prompt_tokens (cached included), cached_tokens, completion_tokens <->
 *         input_tokens + cache_read_input_tokens + cache_creation_input_tokens, ...
 * Streams: Anthropic's message_start / content_block_{start,delta,stop} / message_delta /
 * message_stop become chat.completion.chunk events (text deltas, tool-call deltas with
 * their index, a finish chunk, the usage chunk when asked, [DONE]), and the reverse:
 * OpenAI chunks open and close content blocks as text and tool calls come.  Both stream
 * translators keep only small fixed state (ids, the block <-> tool-call index map). */
#include "translate.h"

#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define TG_XLATE_MSG_PREVIEW 400 /* bytes of a non-JSON vendor error quoted */
#define TG_XLATE_MEDIA_TYPE_MAX 64 /* a data: URL's media type, with its NUL */

/* ------------------------------------------------------------------ helpers */

static int refuse(char *err, size_t errlen, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

static int refuse(char *err, size_t errlen, const char *fmt, ...)
{
    if (errlen) {
        va_list ap;
        va_start(ap, fmt);
        vsnprintf(err, errlen, fmt, ap);
        va_end(ap);
    }
    return TG_XLATE_REFUSED;
}

static const cJSON *get(const cJSON *o, const char *k)
{
    return cJSON_GetObjectItemCaseSensitive(o, k);
}

static const char *str(const cJSON *o, const char *k)
{
    const cJSON *v = get(o, k);
    return cJSON_IsString(v) ? v->valuestring : NULL;
}

static bool is(const char *a, const char *b)
{
    return a && strcmp(a, b) == 0;
}

/* Whether o has key k with a value other than null. */
static bool given(const cJSON *o, const char *k)
{
    const cJSON *v = get(o, k);
    return v && !cJSON_IsNull(v);
}

/* A copy of v added to o under k (nothing when v is NULL).  False when memory ran out. */
static bool add_copy(cJSON *o, const char *k, const cJSON *v)
{
    if (!v)
        return true;
    cJSON *c = cJSON_Duplicate(v, 1);
    return c && cJSON_AddItemToObject(o, k, c);
}

static cJSON *text_block(const char *type, const char *text)
{
    cJSON *b = cJSON_CreateObject();
    cJSON_AddStringToObject(b, "type", type);
    cJSON_AddStringToObject(b, "text", text);
    return b;
}

/* Whether every top-level key of `o` is in `known`; else *bad names the first other. */
static bool keys_known(const cJSON *o, const char *const *known, size_t n, const char **bad)
{
    const cJSON *it;
    cJSON_ArrayForEach(it, o)
    {
        size_t i = 0;
        while (i < n && strcmp(it->string, known[i]) != 0)
            i++;
        if (i == n) {
            *bad = it->string;
            return false;
        }
    }
    return true;
}

/* ------------------------------------------------------------------ OpenAI -> Anthropic */

/* Appends a message of `role` with content `blocks` (taken) to msgs, merged into the last
 * message when it has the same role (Anthropic wants user and assistant turns to alternate). */
static void push_msg(cJSON *msgs, const char *role, cJSON *blocks)
{
    cJSON *last = cJSON_GetArrayItem(msgs, cJSON_GetArraySize(msgs) - 1);
    if (last && is(str(last, "role"), role)) {
        cJSON *content = cJSON_GetObjectItemCaseSensitive(last, "content");
        cJSON *b;
        while ((b = cJSON_DetachItemFromArray(blocks, 0)))
            cJSON_AddItemToArray(content, b);
        cJSON_Delete(blocks);
        return;
    }
    cJSON *m = cJSON_CreateObject();
    cJSON_AddStringToObject(m, "role", role);
    cJSON_AddItemToObject(m, "content", blocks);
    cJSON_AddItemToArray(msgs, m);
}

/* An OpenAI image_url part as an Anthropic image block (*out), or a refusal. */
static int image_to_anthropic(const cJSON *part, cJSON **out, char *err, size_t errlen,
                              const char *where)
{
    const cJSON *iu = get(part, "image_url");
    const char *url = cJSON_IsString(iu) ? iu->valuestring : str(iu, "url");
    if (!url)
        return refuse(err, errlen, "%s: image_url needs a \"url\"", where);
    cJSON *src = cJSON_CreateObject();
    if (strncmp(url, "data:", 5) == 0) {
        const char *semi = strchr(url + 5, ';'), *comma = strchr(url + 5, ',');
        if (!semi || !comma || semi > comma || strncmp(semi, ";base64,", 8) != 0) {
            cJSON_Delete(src);
            return refuse(err, errlen, "%s: only base64 data: URLs can be sent to Anthropic "
                          "(data:<media type>;base64,<data>)", where);
        }
        char mt[TG_XLATE_MEDIA_TYPE_MAX];
        if (semi - (url + 5) >= (ptrdiff_t)sizeof mt) {
            cJSON_Delete(src);
            return refuse(err, errlen, "%s: the data: URL's media type is too long", where);
        }
        snprintf(mt, sizeof mt, "%.*s", (int)(semi - (url + 5)), url + 5);
        cJSON_AddStringToObject(src, "type", "base64");
        cJSON_AddStringToObject(src, "media_type", mt);
        cJSON_AddStringToObject(src, "data", comma + 1);
    } else if (strncmp(url, "http://", 7) == 0 || strncmp(url, "https://", 8) == 0) {
        cJSON_AddStringToObject(src, "type", "url");
        cJSON_AddStringToObject(src, "url", url);
    } else {
        cJSON_Delete(src);
        return refuse(err, errlen, "%s: an image URL must be http(s) or a base64 data: URL",
                      where);
    }
    cJSON *b = cJSON_CreateObject();
    cJSON_AddStringToObject(b, "type", "image");
    cJSON_AddItemToObject(b, "source", src);
    *out = b;
    return TG_XLATE_OK;
}

/* OpenAI message content (string or parts) as Anthropic blocks appended to `blocks`.
 * images: whether image parts are allowed here; empty strings are skipped when skip_empty. */
static int content_to_blocks(const cJSON *content, cJSON *blocks, bool images, bool skip_empty,
                             char *err, size_t errlen, const char *where)
{
    if (!content || cJSON_IsNull(content))
        return TG_XLATE_OK;
    if (cJSON_IsString(content)) {
        if (!(skip_empty && !content->valuestring[0]))
            cJSON_AddItemToArray(blocks, text_block("text", content->valuestring));
        return TG_XLATE_OK;
    }
    if (!cJSON_IsArray(content))
        return refuse(err, errlen, "%s.content: expected a string or an array of parts", where);
    const cJSON *p;
    cJSON_ArrayForEach(p, content)
    {
        const char *t = str(p, "type");
        if (is(t, "text") && str(p, "text")) {
            if (!(skip_empty && !str(p, "text")[0]))
                cJSON_AddItemToArray(blocks, text_block("text", str(p, "text")));
        } else if (is(t, "image_url") && images) {
            cJSON *b = NULL;
            int rc = image_to_anthropic(p, &b, err, errlen, where);
            if (rc != TG_XLATE_OK)
                return rc;
            cJSON_AddItemToArray(blocks, b);
        } else {
            return refuse(err, errlen, "%s.content: a \"%s\" part cannot be translated to "
                          "Anthropic's Messages API", where, t ? t : "(untyped)");
        }
    }
    return TG_XLATE_OK;
}

/* An assistant message's tool_calls as tool_use blocks. */
static int tool_calls_to_blocks(const cJSON *calls, cJSON *blocks, char *err, size_t errlen,
                                const char *where)
{
    const cJSON *c;
    cJSON_ArrayForEach(c, calls)
    {
        const cJSON *fn = get(c, "function");
        const char *id = str(c, "id"), *name = str(fn, "name"), *args = str(fn, "arguments");
        if (!is(str(c, "type"), "function") || !id || !name)
            return refuse(err, errlen, "%s.tool_calls: each needs type \"function\", an id "
                          "and function.name", where);
        cJSON *input = args && args[0] ? cJSON_Parse(args) : cJSON_CreateObject();
        if (!cJSON_IsObject(input)) {
            cJSON_Delete(input);
            return refuse(err, errlen, "%s.tool_calls: function.arguments of %s is not a JSON "
                          "object (Anthropic's tool_use input must be one)", where, id);
        }
        cJSON *b = cJSON_CreateObject();
        cJSON_AddStringToObject(b, "type", "tool_use");
        cJSON_AddStringToObject(b, "id", id);
        cJSON_AddStringToObject(b, "name", name);
        cJSON_AddItemToObject(b, "input", input);
        cJSON_AddItemToArray(blocks, b);
    }
    return TG_XLATE_OK;
}

/* A "tool" message as a tool_result block. */
static int tool_msg_to_block(const cJSON *m, cJSON **out, char *err, size_t errlen,
                             const char *where)
{
    const char *id = str(m, "tool_call_id");
    if (!id)
        return refuse(err, errlen, "%s: a tool message needs tool_call_id", where);
    cJSON *parts = cJSON_CreateArray();
    int rc = content_to_blocks(get(m, "content"), parts, false, false, err, errlen, where);
    if (rc != TG_XLATE_OK) {
        cJSON_Delete(parts);
        return rc;
    }
    cJSON *b = cJSON_CreateObject();
    cJSON_AddStringToObject(b, "type", "tool_result");
    cJSON_AddStringToObject(b, "tool_use_id", id);
    cJSON_AddItemToObject(b, "content", parts);
    *out = b;
    return TG_XLATE_OK;
}

/* One OpenAI message into msgs (or the system blocks). */
static int message_to_anthropic(const cJSON *m, cJSON *msgs, cJSON *system, char *err,
                                size_t errlen, const char *where)
{
    const char *role = str(m, "role");
    static const char *const known[] = {"role", "content", "tool_calls", "tool_call_id",
                                        "refusal"};
    const char *bad;
    if (!cJSON_IsObject(m) || !role)
        return refuse(err, errlen, "%s: expected a message object with a role", where);
    if (!keys_known(m, known, sizeof known / sizeof *known, &bad))
        return refuse(err, errlen, "%s.%s cannot be translated to Anthropic's Messages API",
                      where, bad);
    if (get(m, "refusal") && !cJSON_IsNull(get(m, "refusal")))
        return refuse(err, errlen, "%s.refusal cannot be translated to Anthropic's Messages "
                      "API", where);
    if (given(m, "tool_calls") && (!is(role, "assistant") || !cJSON_IsArray(get(m, "tool_calls"))))
        return refuse(err, errlen, "%s.tool_calls: only an assistant message has them, as an "
                      "array", where);
    if (given(m, "tool_call_id") && !is(role, "tool"))
        return refuse(err, errlen, "%s.tool_call_id: only a tool message has one", where);
    if (is(role, "system") || is(role, "developer"))
        return content_to_blocks(get(m, "content"), system, false, true, err, errlen, where);
    cJSON *blocks = cJSON_CreateArray();
    int rc;
    if (is(role, "user")) {
        rc = content_to_blocks(get(m, "content"), blocks, true, false, err, errlen, where);
    } else if (is(role, "assistant")) {
        rc = content_to_blocks(get(m, "content"), blocks, false, true, err, errlen, where);
        if (rc == TG_XLATE_OK)
            rc = tool_calls_to_blocks(get(m, "tool_calls"), blocks, err, errlen, where);
    } else if (is(role, "tool")) {
        cJSON *b = NULL;
        rc = tool_msg_to_block(m, &b, err, errlen, where);
        if (b)
            cJSON_AddItemToArray(blocks, b);
        role = "user";
    } else {
        rc = refuse(err, errlen, "%s: role \"%s\" cannot be translated to Anthropic's Messages "
                    "API", where, role);
    }
    if (rc != TG_XLATE_OK) {
        cJSON_Delete(blocks);
        return rc;
    }
    push_msg(msgs, role, blocks);
    return TG_XLATE_OK;
}

/* OpenAI function tools as Anthropic tools in out["tools"]; other kinds and strict are
 * refused (err says which). */
static int tools_to_anthropic(const cJSON *tools, cJSON *out, char *err, size_t errlen)
{
    cJSON *arr = cJSON_AddArrayToObject(out, "tools");
    const cJSON *t;
    int i = 0;
    cJSON_ArrayForEach(t, tools)
    {
        const cJSON *fn = get(t, "function");
        if (!is(str(t, "type"), "function") || !str(fn, "name"))
            return refuse(err, errlen, "tools[%d]: only function tools with a name can be "
                          "translated to Anthropic", i);
        if (cJSON_IsTrue(get(fn, "strict")))
            return refuse(err, errlen, "tools[%d].function.strict cannot be translated to "
                          "Anthropic's Messages API", i);
        cJSON *a = cJSON_CreateObject();
        cJSON_AddStringToObject(a, "name", str(fn, "name"));
        add_copy(a, "description", get(fn, "description"));
        const cJSON *params = get(fn, "parameters");
        if (cJSON_IsObject(params))
            add_copy(a, "input_schema", params);
        else
            cJSON_AddStringToObject(cJSON_AddObjectToObject(a, "input_schema"), "type",
                                    "object");
        cJSON_AddItemToArray(arr, a);
        i++;
    }
    return TG_XLATE_OK;
}

/* tool_choice and parallel_tool_calls:false as Anthropic's tool_choice in out (none when
 * the request has neither). */
static int tool_choice_to_anthropic(const cJSON *chat, cJSON *out, char *err, size_t errlen)
{
    const cJSON *tc = get(chat, "tool_choice");
    const cJSON *ptc = get(chat, "parallel_tool_calls");
    cJSON *c = NULL;
    if (cJSON_IsString(tc)) {
        const char *s = tc->valuestring;
        if (!is(s, "auto") && !is(s, "none") && !is(s, "required"))
            return refuse(err, errlen, "tool_choice \"%s\" cannot be translated", s);
        c = cJSON_CreateObject();
        cJSON_AddStringToObject(c, "type", is(s, "required") ? "any" : s);
    } else if (cJSON_IsObject(tc)) {
        const char *name = str(get(tc, "function"), "name");
        if (!is(str(tc, "type"), "function") || !name)
            return refuse(err, errlen, "tool_choice: only {\"type\":\"function\",\"function\":"
                          "{\"name\"}} can be translated");
        c = cJSON_CreateObject();
        cJSON_AddStringToObject(c, "type", "tool");
        cJSON_AddStringToObject(c, "name", name);
    } else if (tc && !cJSON_IsNull(tc)) {
        return refuse(err, errlen, "tool_choice: expected a string or an object");
    }
    if (cJSON_IsFalse(ptc) && get(chat, "tools")) {
        if (!c) {
            c = cJSON_CreateObject();
            cJSON_AddStringToObject(c, "type", "auto");
        }
        if (!is(str(c, "type"), "none"))
            cJSON_AddTrueToObject(c, "disable_parallel_tool_use");
    }
    if (c)
        cJSON_AddItemToObject(out, "tool_choice", c);
    return TG_XLATE_OK;
}

/* Fields of a chat request with no Anthropic counterpart unless they hold their default,
 * and a temperature past Anthropic's range (refused, the router drops the Anthropic
 * candidate for another instead of meeting the vendor's 400). */
static int check_chat_defaults(const cJSON *chat, char *err, size_t errlen)
{
    const cJSON *n = get(chat, "n");
    if (n && !cJSON_IsNull(n) && !(cJSON_IsNumber(n) && n->valuedouble == 1))
        return refuse(err, errlen, "n other than 1 cannot be translated to Anthropic's Messages "
                      "API (one answer per request)");
    const cJSON *lp = get(chat, "logprobs");
    if (lp && !cJSON_IsNull(lp) && !cJSON_IsFalse(lp))
        return refuse(err, errlen, "logprobs cannot be translated to Anthropic's Messages API");
    const cJSON *t = get(chat, "temperature");
    if (cJSON_IsNumber(t) && t->valuedouble > 1)
        return refuse(err, errlen, "temperature above 1 cannot be translated to Anthropic's "
                      "Messages API (its range is 0 to 1)");
    static const char *const zero[] = {"presence_penalty", "frequency_penalty"};
    for (size_t i = 0; i < 2; i++) {
        const cJSON *v = get(chat, zero[i]);
        if (v && !cJSON_IsNull(v) && !(cJSON_IsNumber(v) && v->valuedouble == 0))
            return refuse(err, errlen, "%s cannot be translated to Anthropic's Messages API",
                          zero[i]);
    }
    return TG_XLATE_OK;
}

/* "stop" (a string or an array of strings) as out["stop_sequences"]. */
static int stop_to_anthropic(const cJSON *stop, cJSON *out, char *err, size_t errlen)
{
    if (!stop || cJSON_IsNull(stop))
        return TG_XLATE_OK;
    cJSON *arr = cJSON_AddArrayToObject(out, "stop_sequences");
    if (cJSON_IsString(stop)) {
        cJSON_AddItemToArray(arr, cJSON_CreateString(stop->valuestring));
        return TG_XLATE_OK;
    }
    const cJSON *s;
    cJSON_ArrayForEach(s, stop)
    {
        if (!cJSON_IsString(s))
            return refuse(err, errlen, "stop: expected a string or an array of strings");
        cJSON_AddItemToArray(arr, cJSON_CreateString(s->valuestring));
    }
    return cJSON_IsArray(stop) ? TG_XLATE_OK
                               : refuse(err, errlen, "stop: expected a string or an array");
}

/* The chat messages as out["messages"] and out["system"] (a string when one block, blocks
 * when more).  On refusal out gets neither. */
static int messages_to_anthropic(const cJSON *chat, cJSON *out, char *err, size_t errlen)
{
    const cJSON *msgs = get(chat, "messages");
    if (!cJSON_IsArray(msgs))
        return refuse(err, errlen, "messages: expected an array of messages");
    cJSON *system = cJSON_CreateArray(), *am = cJSON_CreateArray();
    const cJSON *m;
    int i = 0, rc = TG_XLATE_OK;
    cJSON_ArrayForEach(m, msgs)
    {
        char where[32];
        snprintf(where, sizeof where, "messages[%d]", i++);
        rc = message_to_anthropic(m, am, system, err, errlen, where);
        if (rc != TG_XLATE_OK)
            break;
    }
    if (rc != TG_XLATE_OK) {
        cJSON_Delete(system);
        cJSON_Delete(am);
        return rc;
    }
    int ns = cJSON_GetArraySize(system);
    if (ns == 1) {
        cJSON_AddStringToObject(out, "system", str(cJSON_GetArrayItem(system, 0), "text"));
        cJSON_Delete(system);
    } else if (ns > 1) {
        cJSON_AddItemToObject(out, "system", system);
    } else {
        cJSON_Delete(system);
    }
    cJSON_AddItemToObject(out, "messages", am);
    return TG_XLATE_OK;
}

int tg_xlate_req_to_anthropic(const cJSON *chat, const tg_xlate_opts *o, cJSON **out,
                              char *err, size_t errlen)
{
    static const char *const known[] = {
        "model", "messages", "max_tokens", "max_completion_tokens", "temperature", "top_p",
        "stop", "stream", "stream_options", "tools", "tool_choice", "parallel_tool_calls",
        "user", "n", "logprobs", "presence_penalty", "frequency_penalty"};
    const char *bad;
    *out = NULL;
    if (!cJSON_IsObject(chat))
        return refuse(err, errlen, "the request body must be a JSON object");
    if (!keys_known(chat, known, sizeof known / sizeof *known, &bad))
        return refuse(err, errlen, "%s cannot be translated to Anthropic's Messages API (the "
                      "routed model is an Anthropic model)", bad);
    int rc = check_chat_defaults(chat, err, errlen);
    if (rc != TG_XLATE_OK)
        return rc;
    cJSON *a = cJSON_CreateObject();
    add_copy(a, "model", get(chat, "model"));
    rc = messages_to_anthropic(chat, a, err, errlen);
    const cJSON *mt = get(chat, "max_completion_tokens");
    if (!cJSON_IsNumber(mt))
        mt = get(chat, "max_tokens");
    if (cJSON_IsNumber(mt))
        add_copy(a, "max_tokens", mt);
    else
        cJSON_AddNumberToObject(a, "max_tokens",
                                (double)(o && o->max_tokens > 0 ? o->max_tokens : 4096));
    if (rc == TG_XLATE_OK)
        rc = stop_to_anthropic(get(chat, "stop"), a, err, errlen);
    static const char *const same[] = {"temperature", "top_p", "stream"};
    for (size_t i = 0; i < 3; i++)
        if (get(chat, same[i]) && !cJSON_IsNull(get(chat, same[i])))
            add_copy(a, same[i], get(chat, same[i]));
    const cJSON *tools = get(chat, "tools");
    if (rc == TG_XLATE_OK && given(chat, "tools") && !cJSON_IsArray(tools))
        rc = refuse(err, errlen, "tools: expected an array of tools");
    if (rc == TG_XLATE_OK && given(chat, "user") && !str(chat, "user"))
        rc = refuse(err, errlen, "user: expected a string");
    if (rc == TG_XLATE_OK && cJSON_IsArray(tools) && cJSON_GetArraySize(tools) > 0)
        rc = tools_to_anthropic(tools, a, err, errlen);
    if (rc == TG_XLATE_OK)
        rc = tool_choice_to_anthropic(chat, a, err, errlen);
    if (str(chat, "user"))
        cJSON_AddStringToObject(cJSON_AddObjectToObject(a, "metadata"), "user_id",
                                str(chat, "user"));
    if (rc != TG_XLATE_OK) {
        cJSON_Delete(a);
        return rc;
    }
    *out = a;
    return TG_XLATE_OK;
}

/* ------------------------------------------------------------------ Anthropic -> OpenAI */

/* An Anthropic image block as an OpenAI image_url part. */
static int image_to_openai(const cJSON *b, cJSON *parts, char *err, size_t errlen,
                           const char *where)
{
    const cJSON *src = get(b, "source");
    const char *t = str(src, "type");
    cJSON *iu = cJSON_CreateObject();
    if (is(t, "base64") && str(src, "media_type") && str(src, "data")) {
        tg_buf u;
        tg_buf_init(&u, (size_t)-1);
        if (tg_buf_printf(&u, "data:%s;base64,%s", str(src, "media_type"), str(src, "data")) !=
            TG_BUF_OK) {
            cJSON_Delete(iu);
            tg_buf_free(&u);
            return TG_XLATE_NOMEM;
        }
        cJSON_AddStringToObject(iu, "url", u.p);
        tg_buf_free(&u);
    } else if (is(t, "url") && str(src, "url")) {
        cJSON_AddStringToObject(iu, "url", str(src, "url"));
    } else {
        cJSON_Delete(iu);
        return refuse(err, errlen, "%s: an image source of type \"%s\" cannot be translated "
                      "to OpenAI's chat API (base64 and url can)", where, t ? t : "(none)");
    }
    cJSON *p = cJSON_CreateObject();
    cJSON_AddStringToObject(p, "type", "image_url");
    cJSON_AddItemToObject(p, "image_url", iu);
    cJSON_AddItemToArray(parts, p);
    return TG_XLATE_OK;
}

/* A tool_result block as an OpenAI "tool" message. */
static int tool_result_to_openai(const cJSON *b, cJSON *msgs, char *err, size_t errlen,
                                 const char *where)
{
    const char *id = str(b, "tool_use_id");
    if (!id)
        return refuse(err, errlen, "%s: tool_result needs tool_use_id", where);
    if (cJSON_IsTrue(get(b, "is_error")))
        return refuse(err, errlen, "%s: tool_result is_error cannot be translated to OpenAI's "
                      "chat API (it has no error flag for tool results)", where);
    const cJSON *c = get(b, "content");
    cJSON *m = cJSON_CreateObject();
    cJSON_AddStringToObject(m, "role", "tool");
    cJSON_AddStringToObject(m, "tool_call_id", id);
    if (cJSON_IsString(c) || !c) {
        cJSON_AddStringToObject(m, "content", c ? c->valuestring : "");
    } else {
        cJSON *parts = cJSON_AddArrayToObject(m, "content");
        const cJSON *p;
        cJSON_ArrayForEach(p, c)
        {
            if (!is(str(p, "type"), "text") || !str(p, "text")) {
                cJSON_Delete(m);
                return refuse(err, errlen, "%s: only text can be translated inside a "
                              "tool_result for OpenAI's chat API", where);
            }
            cJSON_AddItemToArray(parts, text_block("text", str(p, "text")));
        }
    }
    cJSON_AddItemToArray(msgs, m);
    return TG_XLATE_OK;
}

/* A user message's blocks: tool results first (as tool messages, which OpenAI wants right
 * after the assistant's tool calls), then one user message with the rest. */
static int user_to_openai(const cJSON *content, cJSON *msgs, char *err, size_t errlen,
                          const char *where)
{
    cJSON *parts = cJSON_CreateArray();
    const cJSON *b;
    int rc = TG_XLATE_OK;
    cJSON_ArrayForEach(b, content)
    {
        const char *t = str(b, "type");
        if (is(t, "text") && str(b, "text"))
            cJSON_AddItemToArray(parts, text_block("text", str(b, "text")));
        else if (is(t, "image"))
            rc = image_to_openai(b, parts, err, errlen, where);
        else if (is(t, "tool_result"))
            rc = tool_result_to_openai(b, msgs, err, errlen, where);
        else
            rc = refuse(err, errlen, "%s: a \"%s\" block cannot be translated to OpenAI's chat "
                        "API", where, t ? t : "(untyped)");
        if (rc != TG_XLATE_OK)
            break;
    }
    if (rc != TG_XLATE_OK || cJSON_GetArraySize(parts) == 0) {
        cJSON_Delete(parts);
        return rc;
    }
    cJSON *m = cJSON_CreateObject();
    cJSON_AddStringToObject(m, "role", "user");
    cJSON_AddItemToObject(m, "content", parts);
    cJSON_AddItemToArray(msgs, m);
    return TG_XLATE_OK;
}

/* An assistant message's blocks as one OpenAI assistant message appended to msgs: the
 * text blocks joined, tool_use blocks as tool_calls (content null when only calls). */
static int assistant_to_openai(const cJSON *content, cJSON *msgs, char *err, size_t errlen,
                               const char *where)
{
    tg_buf text;
    tg_buf_init(&text, (size_t)-1);
    cJSON *m = cJSON_CreateObject(), *calls = cJSON_CreateArray();
    const cJSON *b;
    int rc = TG_XLATE_OK;
    cJSON_ArrayForEach(b, content)
    {
        const char *t = str(b, "type");
        if (is(t, "text") && str(b, "text")) {
            if (tg_buf_puts(&text, str(b, "text")) != TG_BUF_OK)
                rc = TG_XLATE_NOMEM;
        } else if (is(t, "tool_use") && str(b, "id") && str(b, "name")) {
            char *args = cJSON_PrintUnformatted(cJSON_IsObject(get(b, "input")) ?
                                                get(b, "input") : NULL);
            cJSON *c = cJSON_CreateObject(), *fn;
            cJSON_AddStringToObject(c, "id", str(b, "id"));
            cJSON_AddStringToObject(c, "type", "function");
            fn = cJSON_AddObjectToObject(c, "function");
            cJSON_AddStringToObject(fn, "name", str(b, "name"));
            cJSON_AddStringToObject(fn, "arguments", args ? args : "{}");
            cJSON_free(args);
            cJSON_AddItemToArray(calls, c);
        } else {
            rc = refuse(err, errlen, "%s: a \"%s\" block cannot be translated to OpenAI's chat "
                        "API", where, t ? t : "(untyped)");
        }
        if (rc != TG_XLATE_OK)
            break;
    }
    if (rc != TG_XLATE_OK) {
        tg_buf_free(&text);
        cJSON_Delete(m);
        cJSON_Delete(calls);
        return rc;
    }
    cJSON_AddStringToObject(m, "role", "assistant");
    if (text.len || !cJSON_GetArraySize(calls))
        cJSON_AddStringToObject(m, "content", text.p ? text.p : "");
    else
        cJSON_AddNullToObject(m, "content");
    if (cJSON_GetArraySize(calls))
        cJSON_AddItemToObject(m, "tool_calls", calls);
    else
        cJSON_Delete(calls);
    tg_buf_free(&text);
    cJSON_AddItemToArray(msgs, m);
    return TG_XLATE_OK;
}

/* Anthropic's "system" (string or text blocks) as a leading system message in msgs. */
static int system_to_openai(const cJSON *sys, cJSON *msgs, char *err, size_t errlen)
{
    if (!sys || cJSON_IsNull(sys))
        return TG_XLATE_OK;
    cJSON *m = cJSON_CreateObject();
    cJSON_AddStringToObject(m, "role", "system");
    cJSON_AddItemToArray(msgs, m);
    if (cJSON_IsString(sys)) {
        cJSON_AddStringToObject(m, "content", sys->valuestring);
        return TG_XLATE_OK;
    }
    if (!cJSON_IsArray(sys))
        return refuse(err, errlen, "system: expected a string or an array of text blocks");
    cJSON *parts = cJSON_AddArrayToObject(m, "content");
    const cJSON *b;
    cJSON_ArrayForEach(b, sys)
    {
        if (!is(str(b, "type"), "text") || !str(b, "text"))
            return refuse(err, errlen, "system: only text blocks can be translated");
        cJSON_AddItemToArray(parts, text_block("text", str(b, "text")));
    }
    return TG_XLATE_OK;
}

/* The Anthropic messages (and system) as out["messages"]. */
static int msgs_to_openai(const cJSON *msg, cJSON *out, char *err, size_t errlen)
{
    const cJSON *msgs = get(msg, "messages");
    if (!cJSON_IsArray(msgs))
        return refuse(err, errlen, "messages: expected an array of messages");
    cJSON *om = cJSON_AddArrayToObject(out, "messages");
    int rc = system_to_openai(get(msg, "system"), om, err, errlen), i = 0;
    const cJSON *m;
    cJSON_ArrayForEach(m, msgs)
    {
        if (rc != TG_XLATE_OK)
            return rc;
        char where[32];
        snprintf(where, sizeof where, "messages[%d]", i++);
        const char *role = str(m, "role");
        const cJSON *c = get(m, "content");
        if (!is(role, "user") && !is(role, "assistant"))
            return refuse(err, errlen, "%s: role must be \"user\" or \"assistant\"", where);
        if (cJSON_IsString(c)) {
            cJSON *x = cJSON_CreateObject();
            cJSON_AddStringToObject(x, "role", role);
            cJSON_AddStringToObject(x, "content", c->valuestring);
            cJSON_AddItemToArray(om, x);
        } else if (!cJSON_IsArray(c)) {
            return refuse(err, errlen, "%s.content: expected a string or an array of blocks",
                          where);
        } else {
            rc = is(role, "user") ? user_to_openai(c, om, err, errlen, where)
                                  : assistant_to_openai(c, om, err, errlen, where);
        }
    }
    return rc;
}

/* Anthropic client tools as OpenAI function tools in out["tools"]; server tools refused. */
static int tools_to_openai(const cJSON *tools, cJSON *out, char *err, size_t errlen)
{
    if (!tools || cJSON_IsNull(tools))
        return TG_XLATE_OK;
    if (!cJSON_IsArray(tools))
        return refuse(err, errlen, "tools: expected an array of tools");
    if (cJSON_GetArraySize(tools) == 0)
        return TG_XLATE_OK; /* OpenAI refuses "tools": [], and none says the same */
    cJSON *arr = cJSON_AddArrayToObject(out, "tools");
    const cJSON *t;
    int i = 0;
    cJSON_ArrayForEach(t, tools)
    {
        const char *type = str(t, "type");
        if ((type && !is(type, "custom")) || !str(t, "name"))
            return refuse(err, errlen, "tools[%d]: the Anthropic tool type \"%s\" cannot be "
                          "translated to OpenAI's chat API (client tools can)", i,
                          type ? type : "(unnamed)");
        cJSON *f = cJSON_CreateObject(), *fn;
        cJSON_AddStringToObject(f, "type", "function");
        fn = cJSON_AddObjectToObject(f, "function");
        cJSON_AddStringToObject(fn, "name", str(t, "name"));
        add_copy(fn, "description", get(t, "description"));
        add_copy(fn, "parameters", get(t, "input_schema"));
        cJSON_AddItemToArray(arr, f);
        i++;
    }
    return TG_XLATE_OK;
}

/* tool_choice (and disable_parallel_tool_use) for OpenAI.  Without tools, auto and none
 * say nothing and are left out (OpenAI refuses a tool_choice without tools). */
static int tool_choice_to_openai(const cJSON *tc, bool tools, cJSON *out, char *err,
                                 size_t errlen)
{
    if (!tc || cJSON_IsNull(tc))
        return TG_XLATE_OK;
    const char *t = str(tc, "type");
    if (!tools && (is(t, "auto") || is(t, "none")))
        return TG_XLATE_OK;
    if (is(t, "auto") || is(t, "none"))
        cJSON_AddStringToObject(out, "tool_choice", t);
    else if (is(t, "any"))
        cJSON_AddStringToObject(out, "tool_choice", "required");
    else if (is(t, "tool") && str(tc, "name")) {
        cJSON *c = cJSON_CreateObject();
        cJSON_AddStringToObject(c, "type", "function");
        cJSON_AddStringToObject(cJSON_AddObjectToObject(c, "function"), "name",
                                str(tc, "name"));
        cJSON_AddItemToObject(out, "tool_choice", c);
    } else {
        return refuse(err, errlen, "tool_choice: expected type auto, any, tool (with a name) "
                      "or none");
    }
    if (cJSON_IsTrue(get(tc, "disable_parallel_tool_use")))
        cJSON_AddFalseToObject(out, "parallel_tool_calls");
    return TG_XLATE_OK;
}

int tg_xlate_req_to_openai(const cJSON *msg, const tg_xlate_opts *o, cJSON **out, char *err,
                           size_t errlen)
{
    static const char *const known[] = {"model", "messages", "system", "max_tokens",
                                        "stop_sequences", "stream", "temperature", "top_p",
                                        "tools", "tool_choice", "metadata"};
    const char *bad;
    *out = NULL;
    if (!cJSON_IsObject(msg))
        return refuse(err, errlen, "the request body must be a JSON object");
    if (!keys_known(msg, known, sizeof known / sizeof *known, &bad))
        return refuse(err, errlen, "%s cannot be translated to OpenAI's chat API (the routed "
                      "model is served in OpenAI's format)", bad);
    const cJSON *md = get(msg, "metadata"), *stop = get(msg, "stop_sequences");
    static const char *const md_known[] = {"user_id"};
    if (md && !cJSON_IsNull(md) && (!cJSON_IsObject(md) || !keys_known(md, md_known, 1, &bad)))
        return refuse(err, errlen, "metadata: only user_id can be translated");
    if (given(md, "user_id") && !str(md, "user_id"))
        return refuse(err, errlen, "metadata.user_id: expected a string");
    if (stop && !cJSON_IsNull(stop) && !cJSON_IsArray(stop))
        return refuse(err, errlen, "stop_sequences: expected an array of strings");
    if (cJSON_GetArraySize(stop) > TG_XLATE_MAX_STOP)
        return refuse(err, errlen, "stop_sequences: OpenAI's chat API takes at most %d",
                      TG_XLATE_MAX_STOP);
    cJSON *c = cJSON_CreateObject();
    add_copy(c, "model", get(msg, "model"));
    int rc = msgs_to_openai(msg, c, err, errlen);
    if (cJSON_IsNumber(get(msg, "max_tokens")))
        add_copy(c, o && o->max_completion ? "max_completion_tokens" : "max_tokens",
                 get(msg, "max_tokens"));
    const cJSON *s;
    cJSON_ArrayForEach(s, stop)
    {
        if (!cJSON_IsString(s) && rc == TG_XLATE_OK)
            rc = refuse(err, errlen, "stop_sequences: expected strings");
    }
    if (cJSON_IsArray(stop) && cJSON_GetArraySize(stop))
        add_copy(c, "stop", stop);
    static const char *const same[] = {"temperature", "top_p"};
    for (size_t i = 0; i < 2; i++)
        if (get(msg, same[i]) && !cJSON_IsNull(get(msg, same[i])))
            add_copy(c, same[i], get(msg, same[i]));
    if (cJSON_IsTrue(get(msg, "stream"))) {
        cJSON_AddTrueToObject(c, "stream");
        cJSON_AddTrueToObject(cJSON_AddObjectToObject(c, "stream_options"), "include_usage");
    }
    if (rc == TG_XLATE_OK)
        rc = tools_to_openai(get(msg, "tools"), c, err, errlen);
    if (rc == TG_XLATE_OK)
        rc = tool_choice_to_openai(get(msg, "tool_choice"),
                                   cJSON_GetArraySize(get(msg, "tools")) > 0, c, err, errlen);
    if (str(md, "user_id"))
        cJSON_AddStringToObject(c, "user", str(md, "user_id"));
    if (rc != TG_XLATE_OK) {
        cJSON_Delete(c);
        return rc;
    }
    *out = c;
    return TG_XLATE_OK;
}

/* ------------------------------------------------------------------ answers */

/* OpenAI's finish_reason for an Anthropic stop_reason (NULL or unknown: "stop"). */
static const char *finish_of(const char *stop_reason)
{
    if (is(stop_reason, "max_tokens") || is(stop_reason, "model_context_window_exceeded"))
        return "length"; /* cut short, by max_tokens or by the context window */
    if (is(stop_reason, "tool_use"))
        return "tool_calls";
    if (is(stop_reason, "refusal"))
        return "content_filter";
    return "stop"; /* end_turn, stop_sequence, pause_turn */
}

/* Anthropic's stop_reason for an OpenAI finish_reason (NULL or unknown: "end_turn"). */
static const char *stop_reason_of(const char *finish)
{
    if (is(finish, "length"))
        return "max_tokens";
    if (is(finish, "tool_calls") || is(finish, "function_call"))
        return "tool_use";
    if (is(finish, "content_filter"))
        return "refusal";
    return "end_turn";
}

/* An OpenAI usage object from tg_usage-style counts. */
static cJSON *openai_usage(int64_t prompt, int64_t cached, int64_t completion)
{
    cJSON *u = cJSON_CreateObject();
    cJSON_AddNumberToObject(u, "prompt_tokens", (double)prompt);
    cJSON_AddNumberToObject(u, "completion_tokens", (double)completion);
    cJSON_AddNumberToObject(u, "total_tokens", (double)(prompt + completion));
    cJSON_AddNumberToObject(cJSON_AddObjectToObject(u, "prompt_tokens_details"),
                            "cached_tokens", (double)cached);
    return u;
}

/* An Anthropic usage object from OpenAI-style counts (prompt includes the cached part:
 * input_tokens excludes it, as Anthropic's does). */
static cJSON *anthropic_usage(int64_t prompt, int64_t cached, int64_t completion)
{
    cJSON *u = cJSON_CreateObject();
    int64_t in = prompt - cached;
    cJSON_AddNumberToObject(u, "input_tokens", (double)(in > 0 ? in : 0));
    cJSON_AddNumberToObject(u, "cache_creation_input_tokens", 0);
    cJSON_AddNumberToObject(u, "cache_read_input_tokens", (double)cached);
    cJSON_AddNumberToObject(u, "output_tokens", (double)completion);
    return u;
}

static void id_with_prefix(char *dst, size_t n, const char *prefix, const char *id)
{
    snprintf(dst, n, "%s%s", prefix, id ? id : "tollgate");
}

int tg_xlate_resp_to_openai(const cJSON *msg, int64_t created, cJSON **out)
{
    *out = NULL;
    if (!cJSON_IsObject(msg) || !cJSON_IsArray(get(msg, "content")))
        return TG_XLATE_REFUSED;
    cJSON *content = cJSON_Duplicate(get(msg, "content"), 1), *b;
    /* thinking blocks could only come if asked for, and asking is refused */
    for (int i = cJSON_GetArraySize(content) - 1; i >= 0; i--) {
        const char *t = str(cJSON_GetArrayItem(content, i), "type");
        if (!is(t, "text") && !is(t, "tool_use"))
            cJSON_DeleteItemFromArray(content, i);
    }
    cJSON *tmp = cJSON_CreateArray();
    char err[8];
    int rc = assistant_to_openai(content, tmp, err, sizeof err, "content");
    cJSON_Delete(content);
    if (rc != TG_XLATE_OK) {
        cJSON_Delete(tmp);
        return rc;
    }
    const cJSON *u = get(msg, "usage");
    tg_usage us = {0};
    tg_dialect_anthropic.usage_from_json(msg, &us);
    char id[TG_XLATE_ID_MAX + 16];
    id_with_prefix(id, sizeof id, "chatcmpl-", str(msg, "id"));
    cJSON *c = cJSON_CreateObject();
    cJSON_AddStringToObject(c, "id", id);
    cJSON_AddStringToObject(c, "object", "chat.completion");
    cJSON_AddNumberToObject(c, "created", (double)created);
    add_copy(c, "model", get(msg, "model"));
    cJSON *choices = cJSON_AddArrayToObject(c, "choices"), *ch = cJSON_CreateObject();
    cJSON_AddNumberToObject(ch, "index", 0);
    b = cJSON_DetachItemFromArray(tmp, 0);
    cJSON_AddNullToObject(b, "refusal");
    cJSON_AddItemToObject(ch, "message", b);
    cJSON_AddNullToObject(ch, "logprobs");
    cJSON_AddStringToObject(ch, "finish_reason", finish_of(str(msg, "stop_reason")));
    cJSON_AddItemToArray(choices, ch);
    cJSON_Delete(tmp);
    if (u)
        cJSON_AddItemToObject(c, "usage", openai_usage(us.input, us.cached_input, us.output));
    *out = c;
    return TG_XLATE_OK;
}

int tg_xlate_resp_to_anthropic(const cJSON *chat, cJSON **out)
{
    *out = NULL;
    const cJSON *ch = cJSON_GetArrayItem(get(chat, "choices"), 0);
    const cJSON *m = get(ch, "message");
    if (!cJSON_IsObject(m))
        return TG_XLATE_REFUSED;
    cJSON *content = cJSON_CreateArray();
    const cJSON *text = get(m, "content");
    if (cJSON_IsString(text) && text->valuestring[0])
        cJSON_AddItemToArray(content, text_block("text", text->valuestring));
    else if (cJSON_IsString(get(m, "refusal")))
        cJSON_AddItemToArray(content, text_block("text", str(m, "refusal")));
    char err[8];
    if (tool_calls_to_blocks(get(m, "tool_calls"), content, err, sizeof err, "") !=
        TG_XLATE_OK) {
        cJSON_Delete(content);
        return TG_XLATE_REFUSED;
    }
    tg_usage us = {0};
    tg_dialect_openai.usage_from_json(chat, &us);
    char id[TG_XLATE_ID_MAX + 16];
    id_with_prefix(id, sizeof id, "msg_", str(chat, "id"));
    cJSON *a = cJSON_CreateObject();
    cJSON_AddStringToObject(a, "id", id);
    cJSON_AddStringToObject(a, "type", "message");
    cJSON_AddStringToObject(a, "role", "assistant");
    add_copy(a, "model", get(chat, "model"));
    cJSON_AddItemToObject(a, "content", content);
    cJSON_AddStringToObject(a, "stop_reason", stop_reason_of(str(ch, "finish_reason")));
    cJSON_AddNullToObject(a, "stop_sequence");
    cJSON_AddItemToObject(a, "usage", anthropic_usage(us.input, us.cached_input, us.output));
    *out = a;
    return TG_XLATE_OK;
}

/* Length of the well-formed UTF-8 character at p (1 to 4), or 0 when it is not one
 * (a bad lead byte, an overlong form, a surrogate, past U+10FFFF, or cut short). */
static int utf8_char(const unsigned char *p)
{
    int n = *p < 0x80 ? 1 : *p >= 0xC2 && *p < 0xE0 ? 2 : (*p & 0xF0) == 0xE0 ? 3
            : *p >= 0xF0 && *p < 0xF5 ? 4 : 0;
    for (int i = 1; i < n; i++)
        if ((p[i] & 0xC0) != 0x80)
            return 0;
    if ((*p == 0xE0 && p[1] < 0xA0) || (*p == 0xED && p[1] >= 0xA0) ||
        (*p == 0xF0 && p[1] < 0x90) || (*p == 0xF4 && p[1] >= 0x90))
        return 0;
    return n;
}

/* Makes the NUL-terminated s valid UTF-8 in place: each byte that does not start a
 * well-formed character becomes '?' (JSON text must be UTF-8; vendor pages may not be). */
static void utf8_scrub(char *s)
{
    unsigned char *p = (unsigned char *)s;
    while (*p) {
        int n = utf8_char(p);
        if (!n)
            *p++ = '?';
        else
            p += n;
    }
}

/* The error type each dialect uses for an HTTP status. */
static const char *error_type(int status, tg_wire to)
{
    if (to == TG_WIRE_ANTHROPIC) {
        switch (status) {
        case 400: return "invalid_request_error";
        case 401: return "authentication_error";
        case 403: return "permission_error";
        case 404: return "not_found_error";
        case 413: return "request_too_large";
        case 429: return "rate_limit_error";
        case 503:
        case 529: return "overloaded_error";
        case 504: return "timeout_error";
        default: return status >= 500 ? "api_error" : "invalid_request_error";
        }
    }
    if (status == 429)
        return "requests";
    if (status == 403)
        return "permission_error";
    return status >= 500 ? "server_error" : "invalid_request_error";
}

int tg_xlate_error(const char *body, size_t len, int status, tg_wire to, tg_buf *out)
{
    if (!body)
        len = 0;
    cJSON *j = cJSON_ParseWithLength(body ? body : "", len);
    cJSON *e = cJSON_GetObjectItemCaseSensitive(j, "error");
    cJSON *m = cJSON_IsString(e) ? e : cJSON_GetObjectItemCaseSensitive(e, "message");
    char *msg = cJSON_IsString(m) ? m->valuestring : NULL, raw[TG_XLATE_MSG_PREVIEW + 64];
    if (msg) {
        utf8_scrub(msg); /* j is ours; cJSON passes invalid UTF-8 through */
    } else {
        snprintf(raw, sizeof raw, "The upstream answered HTTP %d: %.*s", status,
                 (int)(len < TG_XLATE_MSG_PREVIEW ? len : TG_XLATE_MSG_PREVIEW),
                 body ? body : "");
        utf8_scrub(raw);
        msg = raw;
    }
    const char *code = NULL;
    if (to == TG_WIRE_OPENAI)
        code = status == 401 ? "invalid_api_key" : status == 429 ? "rate_limit_exceeded"
               : status == 404 ? "model_not_found" : NULL;
    const tg_dialect *d = to == TG_WIRE_ANTHROPIC ? &tg_dialect_anthropic : &tg_dialect_openai;
    int rc = d->error_body(out, error_type(status, to), code, msg);
    cJSON_Delete(j);
    return rc;
}

/* ------------------------------------------------------------------ streams */

struct tg_xlate_stream {
    tg_wire from, to;
    bool include_usage;
    int64_t created;
    char id[TG_XLATE_ID_MAX + 16], model[TG_XLATE_ID_MAX];
    tg_buf scratch;           /* the upstream dialect's pass-through output (discarded) */
    bool started, finished;   /* first event out; terminal events out */
    /* Anthropic -> OpenAI: the tool-call index of each content block (-1: not a tool) */
    int tool_of_block[TG_XLATE_MAX_TOOLS];
    int ntools;
    /* OpenAI -> Anthropic: the open block, the block of each tool call, the stop reason */
    int open_block, open_kind, nblocks; /* kind: 0 none, 1 text, 2 tool_use */
    int block_of_tool[TG_XLATE_MAX_TOOLS];
    char finish[32];
};

tg_xlate_stream *tg_xlate_stream_new(tg_wire from, tg_wire to, bool include_usage,
                                     int64_t created)
{
    tg_xlate_stream *xs = calloc(1, sizeof *xs);
    if (!xs)
        return NULL;
    xs->from = from;
    xs->to = to;
    xs->include_usage = include_usage;
    xs->created = created;
    xs->open_block = -1;
    for (int i = 0; i < TG_XLATE_MAX_TOOLS; i++)
        xs->tool_of_block[i] = xs->block_of_tool[i] = -1;
    tg_buf_init(&xs->scratch, (size_t)-1);
    return xs;
}

void tg_xlate_stream_free(tg_xlate_stream *xs)
{
    if (!xs)
        return;
    tg_buf_free(&xs->scratch);
    free(xs);
}

/* Appends "data: JSON\n\n" (OpenAI) or "event: NAME\ndata: JSON\n\n" (Anthropic) and
 * frees e. */
static int emit(tg_buf *out, const char *event, cJSON *e)
{
    char *s = cJSON_PrintUnformatted(e);
    cJSON_Delete(e);
    if (!s)
        return TG_BUF_NOMEM;
    int rc = event ? tg_buf_printf(out, "event: %s\ndata: %s\n\n", event, s)
                   : tg_buf_printf(out, "data: %s\n\n", s);
    cJSON_free(s);
    return rc;
}

/* An OpenAI chunk with one choice whose delta is `delta` (taken; NULL: {}), and `finish`. */
static int emit_chunk(tg_xlate_stream *xs, tg_buf *out, cJSON *delta, const char *finish)
{
    cJSON *c = cJSON_CreateObject(), *ch = cJSON_CreateObject();
    cJSON_AddStringToObject(c, "id", xs->id);
    cJSON_AddStringToObject(c, "object", "chat.completion.chunk");
    cJSON_AddNumberToObject(c, "created", (double)xs->created);
    cJSON_AddStringToObject(c, "model", xs->model);
    cJSON_AddNumberToObject(ch, "index", 0);
    cJSON_AddItemToObject(ch, "delta", delta ? delta : cJSON_CreateObject());
    cJSON_AddNullToObject(ch, "logprobs");
    if (finish)
        cJSON_AddStringToObject(ch, "finish_reason", finish);
    else
        cJSON_AddNullToObject(ch, "finish_reason");
    cJSON_AddItemToArray(cJSON_AddArrayToObject(c, "choices"), ch);
    return emit(out, NULL, c);
}

/* A tool_calls delta for tool `idx`: with id and name when starting, else arguments. */
static cJSON *tool_delta(int idx, const char *id, const char *name, const char *args)
{
    cJSON *d = cJSON_CreateObject(), *tc = cJSON_CreateObject(), *fn;
    cJSON_AddNumberToObject(tc, "index", idx);
    if (id) {
        cJSON_AddStringToObject(tc, "id", id);
        cJSON_AddStringToObject(tc, "type", "function");
    }
    fn = cJSON_AddObjectToObject(tc, "function");
    if (name)
        cJSON_AddStringToObject(fn, "name", name);
    cJSON_AddStringToObject(fn, "arguments", args ? args : "");
    cJSON_AddItemToArray(cJSON_AddArrayToObject(d, "tool_calls"), tc);
    return d;
}

/* The event's "index" when it is a number in [0, TG_XLATE_MAX_TOOLS), else -1. */
static int block_index(const cJSON *e)
{
    const cJSON *i = get(e, "index");
    return cJSON_IsNumber(i) && i->valuedouble >= 0 && i->valuedouble < TG_XLATE_MAX_TOOLS
               ? (int)i->valuedouble : -1;
}

static int stream_fail(tg_xlate_stream *xs, const char *msg, tg_buf *out);

#define TG_XLATE_STR_(x) #x
#define TG_XLATE_STR(x) TG_XLATE_STR_(x)
#define TG_XLATE_TOO_MANY_TOOLS                                                     \
    "the answer has more tool calls (or content blocks) than tollgate translates in a " \
    "stream (" TG_XLATE_STR(TG_XLATE_MAX_TOOLS) ")"

/* One Anthropic event as OpenAI chunks. */
static int anthropic_to_chunks(tg_xlate_stream *xs, const tg_sse_state *st, const cJSON *e,
                               tg_buf *out)
{
    const char *t = str(e, "type");
    if (is(t, "message_start")) {
        const cJSON *m = get(e, "message");
        id_with_prefix(xs->id, sizeof xs->id, "chatcmpl-", str(m, "id"));
        snprintf(xs->model, sizeof xs->model, "%s", str(m, "model") ? str(m, "model") : "");
        xs->started = true;
        cJSON *d = cJSON_CreateObject();
        cJSON_AddStringToObject(d, "role", "assistant");
        cJSON_AddStringToObject(d, "content", "");
        return emit_chunk(xs, out, d, NULL);
    }
    if (!xs->started)
        return TG_BUF_OK;
    int bi = block_index(e);
    const cJSON *cb = get(e, "content_block"), *d = get(e, "delta");
    if (is(t, "content_block_start") && is(str(cb, "type"), "tool_use")) {
        if (bi < 0 || xs->ntools >= TG_XLATE_MAX_TOOLS)
            return stream_fail(xs, TG_XLATE_TOO_MANY_TOOLS, out);
        xs->tool_of_block[bi] = xs->ntools++;
        return emit_chunk(xs, out, tool_delta(xs->tool_of_block[bi], str(cb, "id"),
                                              str(cb, "name"), ""), NULL);
    }
    if (is(t, "content_block_start") && is(str(cb, "type"), "text") && str(cb, "text") &&
        str(cb, "text")[0]) {
        cJSON *x = cJSON_CreateObject();
        cJSON_AddStringToObject(x, "content", str(cb, "text"));
        return emit_chunk(xs, out, x, NULL);
    }
    if (is(t, "content_block_delta") && is(str(d, "type"), "text_delta") && str(d, "text")) {
        cJSON *x = cJSON_CreateObject();
        cJSON_AddStringToObject(x, "content", str(d, "text"));
        return emit_chunk(xs, out, x, NULL);
    }
    if (is(t, "content_block_delta") && is(str(d, "type"), "input_json_delta") && bi >= 0 &&
        xs->tool_of_block[bi] >= 0 && str(d, "partial_json"))
        return emit_chunk(xs, out, tool_delta(xs->tool_of_block[bi], NULL, NULL,
                                              str(d, "partial_json")), NULL);
    if (is(t, "message_delta") && str(d, "stop_reason")) {
        snprintf(xs->finish, sizeof xs->finish, "%s", finish_of(str(d, "stop_reason")));
        return emit_chunk(xs, out, NULL, xs->finish);
    }
    if (is(t, "message_stop") && !xs->finished) {
        xs->finished = true;
        int rc = TG_BUF_OK;
        if (xs->include_usage) {
            cJSON *c = cJSON_CreateObject();
            cJSON_AddStringToObject(c, "id", xs->id);
            cJSON_AddStringToObject(c, "object", "chat.completion.chunk");
            cJSON_AddNumberToObject(c, "created", (double)xs->created);
            cJSON_AddStringToObject(c, "model", xs->model);
            cJSON_AddArrayToObject(c, "choices");
            cJSON_AddItemToObject(c, "usage", openai_usage(st->usage.input,
                                                           st->usage.cached_input,
                                                           st->usage.output));
            rc = emit(out, NULL, c);
        }
        return rc == TG_BUF_OK ? tg_buf_puts(out, "data: [DONE]\n\n") : rc;
    }
    return TG_BUF_OK; /* ping, content_block_stop, thinking deltas: nothing to say */
}

/* Closes the open Anthropic content block, if any. */
static int close_block(tg_xlate_stream *xs, tg_buf *out)
{
    if (xs->open_block < 0)
        return TG_BUF_OK;
    cJSON *e = cJSON_CreateObject();
    cJSON_AddStringToObject(e, "type", "content_block_stop");
    cJSON_AddNumberToObject(e, "index", xs->open_block);
    xs->open_block = -1;
    xs->open_kind = 0;
    return emit(out, "content_block_stop", e);
}

/* Opens a new content block (closing the open one): a text block, or a tool_use block. */
static int open_block(tg_xlate_stream *xs, tg_buf *out, const char *id, const char *name)
{
    int rc = close_block(xs, out);
    if (rc != TG_BUF_OK)
        return rc;
    cJSON *e = cJSON_CreateObject(), *b;
    cJSON_AddStringToObject(e, "type", "content_block_start");
    cJSON_AddNumberToObject(e, "index", xs->nblocks);
    b = cJSON_AddObjectToObject(e, "content_block");
    if (name) {
        cJSON_AddStringToObject(b, "type", "tool_use");
        cJSON_AddStringToObject(b, "id", id ? id : "");
        cJSON_AddStringToObject(b, "name", name);
        cJSON_AddObjectToObject(b, "input");
    } else {
        cJSON_AddStringToObject(b, "type", "text");
        cJSON_AddStringToObject(b, "text", "");
    }
    xs->open_block = xs->nblocks++;
    xs->open_kind = name ? 2 : 1;
    return emit(out, "content_block_start", e);
}

/* A content_block_delta event for block `index` whose delta is {type, key: val}. */
static int block_delta(tg_buf *out, int index, const char *type, const char *key,
                       const char *val)
{
    cJSON *e = cJSON_CreateObject(), *d;
    cJSON_AddStringToObject(e, "type", "content_block_delta");
    cJSON_AddNumberToObject(e, "index", index);
    d = cJSON_AddObjectToObject(e, "delta");
    cJSON_AddStringToObject(d, "type", type);
    cJSON_AddStringToObject(d, key, val);
    return emit(out, "content_block_delta", e);
}

/* The message_start event of a translated OpenAI stream (ids and model from the first
 * chunk; usage all zero: OpenAI reports it at the end, in message_delta). */
static int message_start(tg_xlate_stream *xs, const cJSON *chunk, tg_buf *out)
{
    id_with_prefix(xs->id, sizeof xs->id, "msg_", str(chunk, "id"));
    snprintf(xs->model, sizeof xs->model, "%s", str(chunk, "model") ? str(chunk, "model") : "");
    xs->started = true;
    cJSON *e = cJSON_CreateObject(), *m;
    cJSON_AddStringToObject(e, "type", "message_start");
    m = cJSON_AddObjectToObject(e, "message");
    cJSON_AddStringToObject(m, "id", xs->id);
    cJSON_AddStringToObject(m, "type", "message");
    cJSON_AddStringToObject(m, "role", "assistant");
    cJSON_AddStringToObject(m, "model", xs->model);
    cJSON_AddArrayToObject(m, "content");
    cJSON_AddNullToObject(m, "stop_reason");
    cJSON_AddNullToObject(m, "stop_sequence");
    cJSON_AddItemToObject(m, "usage", anthropic_usage(0, 0, 0));
    return emit(out, "message_start", e);
}

/* The tool-call deltas of one OpenAI chunk as tool_use blocks and input_json deltas. */
static int tool_chunks(tg_xlate_stream *xs, const cJSON *calls, tg_buf *out)
{
    const cJSON *tc;
    int rc = TG_BUF_OK;
    cJSON_ArrayForEach(tc, calls)
    {
        int idx = block_index(tc);
        const cJSON *fn = get(tc, "function");
        if (idx < 0)
            return stream_fail(xs, TG_XLATE_TOO_MANY_TOOLS, out);
        if (xs->block_of_tool[idx] < 0) {
            rc = open_block(xs, out, str(tc, "id"), str(fn, "name") ? str(fn, "name") : "");
            xs->block_of_tool[idx] = xs->open_block;
        }
        const char *args = str(fn, "arguments");
        if (rc == TG_BUF_OK && args && args[0])
            rc = block_delta(out, xs->block_of_tool[idx], "input_json_delta", "partial_json",
                             args);
        if (rc != TG_BUF_OK)
            return rc;
    }
    return rc;
}

/* The end of an OpenAI stream ([DONE]) as message_delta and message_stop. */
static int message_end(tg_xlate_stream *xs, const tg_sse_state *st, tg_buf *out)
{
    if (xs->finished || !xs->started)
        return TG_BUF_OK;
    xs->finished = true;
    int rc = close_block(xs, out);
    if (rc != TG_BUF_OK)
        return rc;
    cJSON *e = cJSON_CreateObject(), *d;
    cJSON_AddStringToObject(e, "type", "message_delta");
    d = cJSON_AddObjectToObject(e, "delta");
    cJSON_AddStringToObject(d, "stop_reason", stop_reason_of(xs->finish));
    cJSON_AddNullToObject(d, "stop_sequence");
    cJSON_AddItemToObject(e, "usage", anthropic_usage(st->usage.input, st->usage.cached_input,
                                                      st->usage.output));
    rc = emit(out, "message_delta", e);
    if (rc != TG_BUF_OK)
        return rc;
    e = cJSON_CreateObject();
    cJSON_AddStringToObject(e, "type", "message_stop");
    return emit(out, "message_stop", e);
}

/* One OpenAI chunk (or [DONE]) as Anthropic events. */
static int chunk_to_anthropic(tg_xlate_stream *xs, const tg_sse_state *st, const char *data,
                              const cJSON *chunk, tg_buf *out)
{
    if (is(data, "[DONE]"))
        return message_end(xs, st, out);
    if (!cJSON_IsObject(chunk))
        return TG_BUF_OK;
    int rc = TG_BUF_OK;
    if (!xs->started)
        rc = message_start(xs, chunk, out);
    const cJSON *ch = cJSON_GetArrayItem(get(chunk, "choices"), 0), *d = get(ch, "delta");
    const char *text = str(d, "content");
    if (rc == TG_BUF_OK && text && text[0]) {
        if (xs->open_kind != 1)
            rc = open_block(xs, out, NULL, NULL);
        if (rc == TG_BUF_OK)
            rc = block_delta(out, xs->open_block, "text_delta", "text", text);
    }
    if (rc == TG_BUF_OK && cJSON_IsArray(get(d, "tool_calls")))
        rc = tool_chunks(xs, get(d, "tool_calls"), out);
    if (rc == TG_BUF_OK && str(ch, "finish_reason")) {
        snprintf(xs->finish, sizeof xs->finish, "%s", str(ch, "finish_reason"));
        rc = close_block(xs, out);
    }
    return rc;
}

/* Ends the translation with an error event saying msg, in the caller's dialect. */
static int stream_fail(tg_xlate_stream *xs, const char *msg, tg_buf *out)
{
    tg_buf b;
    tg_buf_init(&b, (size_t)-1);
    const tg_dialect *d = xs->to == TG_WIRE_ANTHROPIC ? &tg_dialect_anthropic
                                                     : &tg_dialect_openai;
    int rc = d->error_body(&b, "server_error", NULL, msg);
    if (rc == TG_BUF_OK)
        rc = xs->to == TG_WIRE_ANTHROPIC ? tg_buf_printf(out, "event: error\ndata: %s\n\n", b.p)
                                         : tg_buf_printf(out, "data: %s\n\n", b.p);
    tg_buf_free(&b);
    xs->finished = true;
    return rc;
}

/* An in-stream error event of the upstream, in the caller's dialect. */
static int stream_error(tg_xlate_stream *xs, const cJSON *e, tg_buf *out)
{
    const cJSON *err = get(e, "error");
    return stream_fail(xs, str(err, "message") ? str(err, "message") : "upstream stream error",
                       out);
}

int tg_xlate_sse(tg_xlate_stream *xs, const tg_dialect *up, tg_sse_state *st, const char *ev,
                 size_t len, tg_buf *out)
{
    if (!xs)
        return up->sse_event(st, ev, len, out);
    int rc = up->sse_event(st, ev, len, &xs->scratch);
    tg_buf_reset(&xs->scratch);
    if (rc != TG_BUF_OK)
        return rc;
    tg_buf data;
    tg_buf_init(&data, len + 1);
    if (tg_sse_data(ev, len, &data) != 0 || !data.len) {
        tg_buf_free(&data);
        return TG_BUF_OK; /* comments, keep-alives: nothing to translate */
    }
    cJSON *e = cJSON_ParseWithLength(data.p, data.len);
    if (xs->finished)
        rc = TG_BUF_OK;
    else if (get(e, "error") && (xs->from == TG_WIRE_OPENAI || is(str(e, "type"), "error")))
        rc = stream_error(xs, e, out);
    else if (xs->from == TG_WIRE_ANTHROPIC)
        rc = anthropic_to_chunks(xs, st, e, out);
    else
        rc = chunk_to_anthropic(xs, st, data.p, e, out);
    cJSON_Delete(e);
    tg_buf_free(&data);
    return rc;
}
