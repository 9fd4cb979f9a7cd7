/* Tests for proxy/translate.h and the Anthropic dialect (proxy/dialect.h):
 *   - a table of request shapes both ways (OpenAI chat -> Anthropic messages and back),
 *     each with the exact translation expected (compared as JSON), or the refusal and a
 *     word its message must name: system prompts, roles, multi-part content, images (data
 *     URLs, URLs), tools, tool calls and results, tool_choice, stop, max_tokens,
 *     temperature/top_p, streams, and what has no counterpart (n, logprobs, seed, audio,
 *     thinking, top_k, server tools, documents, ...);
 *   - complete answers both ways, and vendor errors into the other dialect's shape;
 *   - streams event by event both ways, text and tool-call argument deltas included;
 *   - Anthropic usage: 5-minute and 1-hour cache writes, and cumulative message_delta
 *     usage never added to message_start's (no double-counted cache tokens). */
#include <check.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "proxy/translate.h"

#define TO_A 0 /* OpenAI chat -> Anthropic */
#define TO_O 1 /* Anthropic -> OpenAI chat */

typedef struct {
    const char *name;
    int dir;
    const char *in;
    const char *want;    /* the exact translation, or NULL: refused */
    const char *refusal; /* a word the refusal names */
} row;

static const row rows[] = {
    {"basic", TO_A, "{\"model\":\"m\",\"messages\":[{\"role\":\"user\",\"content\":\"hi\"}]}",
     "{\"model\":\"m\",\"max_tokens\":1000,\"messages\":[{\"role\":\"user\",\"content\":"
     "[{\"type\":\"text\",\"text\":\"hi\"}]}]}", NULL},
    {"system, developer, stop, sampling, stream, user", TO_A,
     "{\"model\":\"m\",\"max_completion_tokens\":50,\"temperature\":0.3,\"top_p\":0.9,"
     "\"stop\":\"END\",\"stream\":true,\"stream_options\":{\"include_usage\":true},"
     "\"user\":\"u1\",\"n\":1,\"logprobs\":false,\"messages\":[{\"role\":\"system\",\"content\":"
     "\"sys\"},{\"role\":\"developer\",\"content\":[{\"type\":\"text\",\"text\":\"dev\"}]},"
     "{\"role\":\"user\",\"content\":\"hi\"}]}",
     "{\"model\":\"m\",\"max_tokens\":50,\"temperature\":0.3,\"top_p\":0.9,"
     "\"stop_sequences\":[\"END\"],\"stream\":true,\"metadata\":{\"user_id\":\"u1\"},"
     "\"system\":[{\"type\":\"text\",\"text\":\"sys\"},{\"type\":\"text\",\"text\":\"dev\"}],"
     "\"messages\":[{\"role\":\"user\",\"content\":[{\"type\":\"text\",\"text\":\"hi\"}]}]}",
     NULL},
    {"images: data URL and URL", TO_A,
     "{\"model\":\"m\",\"max_tokens\":5,\"messages\":[{\"role\":\"user\",\"content\":["
     "{\"type\":\"text\",\"text\":\"what?\"},{\"type\":\"image_url\",\"image_url\":{\"url\":"
     "\"data:image/png;base64,AAAA\",\"detail\":\"low\"}},{\"type\":\"image_url\","
     "\"image_url\":{\"url\":\"https://x.test/a.jpg\"}}]}]}",
     "{\"model\":\"m\",\"max_tokens\":5,\"messages\":[{\"role\":\"user\",\"content\":["
     "{\"type\":\"text\",\"text\":\"what?\"},{\"type\":\"image\",\"source\":{\"type\":\"base64\","
     "\"media_type\":\"image/png\",\"data\":\"AAAA\"}},{\"type\":\"image\",\"source\":"
     "{\"type\":\"url\",\"url\":\"https://x.test/a.jpg\"}}]}]}", NULL},
    {"tools, tool calls, tool results merged into one user turn", TO_A,
     "{\"model\":\"m\",\"max_tokens\":9,\"tool_choice\":\"required\",\"parallel_tool_calls\":"
     "false,\"tools\":[{\"type\":\"function\",\"function\":{\"name\":\"w\",\"description\":\"d\","
     "\"parameters\":{\"type\":\"object\",\"properties\":{\"city\":{\"type\":\"string\"}}}}}],"
     "\"messages\":[{\"role\":\"user\",\"content\":\"weather?\"},{\"role\":\"assistant\","
     "\"content\":null,\"tool_calls\":[{\"id\":\"c1\",\"type\":\"function\",\"function\":"
     "{\"name\":\"w\",\"arguments\":\"{\\\"city\\\":\\\"Paris\\\"}\"}},{\"id\":\"c2\",\"type\":"
     "\"function\",\"function\":{\"name\":\"w\",\"arguments\":\"\"}}]},{\"role\":\"tool\","
     "\"tool_call_id\":\"c1\",\"content\":\"sunny\"},{\"role\":\"tool\",\"tool_call_id\":\"c2\","
     "\"content\":[{\"type\":\"text\",\"text\":\"rain\"}]},{\"role\":\"user\",\"content\":"
     "\"thanks\"}]}",
     "{\"model\":\"m\",\"max_tokens\":9,\"tools\":[{\"name\":\"w\",\"description\":\"d\","
     "\"input_schema\":{\"type\":\"object\",\"properties\":{\"city\":{\"type\":\"string\"}}}}],"
     "\"tool_choice\":{\"type\":\"any\",\"disable_parallel_tool_use\":true},\"messages\":["
     "{\"role\":\"user\",\"content\":[{\"type\":\"text\",\"text\":\"weather?\"}]},"
     "{\"role\":\"assistant\",\"content\":[{\"type\":\"tool_use\",\"id\":\"c1\",\"name\":\"w\","
     "\"input\":{\"city\":\"Paris\"}},{\"type\":\"tool_use\",\"id\":\"c2\",\"name\":\"w\","
     "\"input\":{}}]},{\"role\":\"user\",\"content\":[{\"type\":\"tool_result\",\"tool_use_id\":"
     "\"c1\",\"content\":[{\"type\":\"text\",\"text\":\"sunny\"}]},{\"type\":\"tool_result\","
     "\"tool_use_id\":\"c2\",\"content\":[{\"type\":\"text\",\"text\":\"rain\"}]},"
     "{\"type\":\"text\",\"text\":\"thanks\"}]}]}", NULL},
    {"tool_choice function, stop array, assistant text", TO_A,
     "{\"model\":\"m\",\"max_tokens\":3,\"stop\":[\"a\",\"b\"],\"tool_choice\":{\"type\":"
     "\"function\",\"function\":{\"name\":\"w\"}},\"tools\":[{\"type\":\"function\","
     "\"function\":{\"name\":\"w\"}}],\"messages\":[{\"role\":\"user\",\"content\":\"q\"},"
     "{\"role\":\"assistant\",\"content\":\"a\"},{\"role\":\"user\",\"content\":\"q2\"}]}",
     "{\"model\":\"m\",\"max_tokens\":3,\"stop_sequences\":[\"a\",\"b\"],\"tool_choice\":"
     "{\"type\":\"tool\",\"name\":\"w\"},\"tools\":[{\"name\":\"w\",\"input_schema\":{\"type\":"
     "\"object\"}}],\"messages\":[{\"role\":\"user\",\"content\":[{\"type\":\"text\",\"text\":"
     "\"q\"}]},{\"role\":\"assistant\",\"content\":[{\"type\":\"text\",\"text\":\"a\"}]},"
     "{\"role\":\"user\",\"content\":[{\"type\":\"text\",\"text\":\"q2\"}]}]}", NULL},
    {"n > 1", TO_A, "{\"model\":\"m\",\"n\":2,\"messages\":[]}", NULL, "n other than 1"},
    {"logprobs", TO_A, "{\"model\":\"m\",\"logprobs\":true,\"messages\":[]}", NULL, "logprobs"},
    {"seed", TO_A, "{\"model\":\"m\",\"seed\":1,\"messages\":[]}", NULL, "seed"},
    {"response_format", TO_A, "{\"model\":\"m\",\"response_format\":{\"type\":\"json_object\"},"
     "\"messages\":[]}", NULL, "response_format"},
    {"audio output", TO_A, "{\"model\":\"m\",\"modalities\":[\"audio\"],\"messages\":[]}", NULL,
     "modalities"},
    {"frequency_penalty", TO_A, "{\"model\":\"m\",\"frequency_penalty\":1,\"messages\":[]}",
     NULL, "frequency_penalty"},
    {"audio input part", TO_A, "{\"model\":\"m\",\"messages\":[{\"role\":\"user\",\"content\":"
     "[{\"type\":\"input_audio\",\"input_audio\":{\"data\":\"x\",\"format\":\"wav\"}}]}]}", NULL,
     "input_audio"},
    {"function role", TO_A, "{\"model\":\"m\",\"messages\":[{\"role\":\"function\",\"name\":"
     "\"f\",\"content\":\"x\"}]}", NULL, "name"},
    {"message name", TO_A, "{\"model\":\"m\",\"messages\":[{\"role\":\"user\",\"name\":\"bob\","
     "\"content\":\"x\"}]}", NULL, "messages[0].name"},
    {"tool arguments not JSON", TO_A, "{\"model\":\"m\",\"messages\":[{\"role\":\"assistant\","
     "\"tool_calls\":[{\"id\":\"c\",\"type\":\"function\",\"function\":{\"name\":\"w\","
     "\"arguments\":\"{oops\"}}]}]}", NULL, "not a JSON object"},
    {"image ftp URL", TO_A, "{\"model\":\"m\",\"messages\":[{\"role\":\"user\",\"content\":["
     "{\"type\":\"image_url\",\"image_url\":{\"url\":\"ftp://x/y.png\"}}]}]}", NULL, "http(s)"},
    {"data URL not base64", TO_A, "{\"model\":\"m\",\"messages\":[{\"role\":\"user\",\"content\":"
     "[{\"type\":\"image_url\",\"image_url\":{\"url\":\"data:image/png,abc\"}}]}]}", NULL,
     "base64"},
    {"strict tool", TO_A, "{\"model\":\"m\",\"tools\":[{\"type\":\"function\",\"function\":"
     "{\"name\":\"w\",\"strict\":true}}],\"messages\":[]}", NULL, "strict"},
    {"messages not an array", TO_A, "{\"model\":\"m\",\"messages\":{}}", NULL, "messages"},

    {"basic back", TO_O,
     "{\"model\":\"m\",\"max_tokens\":100,\"system\":\"sys\",\"stop_sequences\":[\"a\",\"b\"],"
     "\"temperature\":0.2,\"top_p\":0.5,\"stream\":true,\"metadata\":{\"user_id\":\"u\"},"
     "\"messages\":[{\"role\":\"user\",\"content\":\"hi\"}]}",
     "{\"model\":\"m\",\"max_completion_tokens\":100,\"stop\":[\"a\",\"b\"],\"temperature\":0.2,"
     "\"top_p\":0.5,\"stream\":true,\"stream_options\":{\"include_usage\":true},\"user\":\"u\","
     "\"messages\":[{\"role\":\"system\",\"content\":\"sys\"},{\"role\":\"user\",\"content\":"
     "\"hi\"}]}", NULL},
    {"system blocks (cache_control hint dropped), images", TO_O,
     "{\"model\":\"m\",\"max_tokens\":1,\"system\":[{\"type\":\"text\",\"text\":\"s1\","
     "\"cache_control\":{\"type\":\"ephemeral\"}}],\"messages\":[{\"role\":\"user\",\"content\":"
     "[{\"type\":\"text\",\"text\":\"see\"},{\"type\":\"image\",\"source\":{\"type\":\"base64\","
     "\"media_type\":\"image/jpeg\",\"data\":\"QUJD\"}},{\"type\":\"image\",\"source\":{\"type\":"
     "\"url\",\"url\":\"https://x.test/i.png\"}}]}]}",
     "{\"model\":\"m\",\"max_completion_tokens\":1,\"messages\":[{\"role\":\"system\",\"content\":"
     "[{\"type\":\"text\",\"text\":\"s1\"}]},{\"role\":\"user\",\"content\":[{\"type\":\"text\","
     "\"text\":\"see\"},{\"type\":\"image_url\",\"image_url\":{\"url\":"
     "\"data:image/jpeg;base64,QUJD\"}},{\"type\":\"image_url\",\"image_url\":{\"url\":"
     "\"https://x.test/i.png\"}}]}]}", NULL},
    {"tools, tool_use, tool_result first", TO_O,
     "{\"model\":\"m\",\"max_tokens\":2,\"tools\":[{\"name\":\"w\",\"description\":\"d\","
     "\"input_schema\":{\"type\":\"object\"}}],\"tool_choice\":{\"type\":\"any\","
     "\"disable_parallel_tool_use\":true},\"messages\":[{\"role\":\"user\",\"content\":\"q\"},"
     "{\"role\":\"assistant\",\"content\":[{\"type\":\"text\",\"text\":\"let me\"},{\"type\":"
     "\"tool_use\",\"id\":\"t1\",\"name\":\"w\",\"input\":{\"c\":1}}]},{\"role\":\"user\","
     "\"content\":[{\"type\":\"text\",\"text\":\"and?\"},{\"type\":\"tool_result\","
     "\"tool_use_id\":\"t1\",\"content\":\"ok\"}]}]}",
     "{\"model\":\"m\",\"max_completion_tokens\":2,\"tools\":[{\"type\":\"function\",\"function\":"
     "{\"name\":\"w\",\"description\":\"d\",\"parameters\":{\"type\":\"object\"}}}],"
     "\"tool_choice\":\"required\",\"parallel_tool_calls\":false,\"messages\":[{\"role\":"
     "\"user\",\"content\":\"q\"},{\"role\":\"assistant\",\"content\":\"let me\",\"tool_calls\":"
     "[{\"id\":\"t1\",\"type\":\"function\",\"function\":{\"name\":\"w\",\"arguments\":"
     "\"{\\\"c\\\":1}\"}}]},{\"role\":\"tool\",\"tool_call_id\":\"t1\",\"content\":\"ok\"},"
     "{\"role\":\"user\",\"content\":[{\"type\":\"text\",\"text\":\"and?\"}]}]}", NULL},
    {"tool_choice tool and none", TO_O,
     "{\"model\":\"m\",\"max_tokens\":2,\"tool_choice\":{\"type\":\"tool\",\"name\":\"w\"},"
     "\"tools\":[{\"name\":\"w\",\"input_schema\":{}}],\"messages\":[]}",
     "{\"model\":\"m\",\"max_completion_tokens\":2,\"tool_choice\":{\"type\":\"function\","
     "\"function\":{\"name\":\"w\"}},\"tools\":[{\"type\":\"function\",\"function\":{\"name\":"
     "\"w\",\"parameters\":{}}}],\"messages\":[]}", NULL},
    {"thinking", TO_O, "{\"model\":\"m\",\"thinking\":{\"type\":\"enabled\",\"budget_tokens\":"
     "1024},\"messages\":[]}", NULL, "thinking"},
    {"top_k", TO_O, "{\"model\":\"m\",\"top_k\":5,\"messages\":[]}", NULL, "top_k"},
    {"server tool", TO_O, "{\"model\":\"m\",\"tools\":[{\"type\":\"web_search_20250305\","
     "\"name\":\"web_search\"}],\"messages\":[]}", NULL, "web_search_20250305"},
    {"document block", TO_O, "{\"model\":\"m\",\"messages\":[{\"role\":\"user\",\"content\":"
     "[{\"type\":\"document\",\"source\":{}}]}]}", NULL, "document"},
    {"thinking block", TO_O, "{\"model\":\"m\",\"messages\":[{\"role\":\"assistant\",\"content\":"
     "[{\"type\":\"thinking\",\"thinking\":\"x\",\"signature\":\"s\"}]}]}", NULL, "thinking"},
    {"tool_result is_error", TO_O, "{\"model\":\"m\",\"messages\":[{\"role\":\"user\",\"content\":"
     "[{\"type\":\"tool_result\",\"tool_use_id\":\"t\",\"is_error\":true,\"content\":\"x\"}]}]}",
     NULL, "is_error"},
    {"image in tool_result", TO_O, "{\"model\":\"m\",\"messages\":[{\"role\":\"user\",\"content\":"
     "[{\"type\":\"tool_result\",\"tool_use_id\":\"t\",\"content\":[{\"type\":\"image\","
     "\"source\":{}}]}]}]}", NULL, "only text"},
    {"five stop sequences", TO_O, "{\"model\":\"m\",\"stop_sequences\":[\"a\",\"b\",\"c\",\"d\","
     "\"e\"],\"messages\":[]}", NULL, "at most 4"},
    {"system role inside messages", TO_O, "{\"model\":\"m\",\"messages\":[{\"role\":\"system\","
     "\"content\":\"x\"}]}", NULL, "role"},
    {"metadata other than user_id", TO_O, "{\"model\":\"m\",\"metadata\":{\"x\":1},"
     "\"messages\":[]}", NULL, "user_id"},
    {"url-less image source", TO_O, "{\"model\":\"m\",\"messages\":[{\"role\":\"user\","
     "\"content\":[{\"type\":\"image\",\"source\":{\"type\":\"file\",\"file_id\":\"f\"}}]}]}",
     NULL, "file"},
    /* review: what was silently dropped or sent in a shape the other side rejects */
    {"empty tools (OpenAI rejects tools: []), tool_choice auto without tools", TO_O,
     "{\"model\":\"m\",\"max_tokens\":2,\"tools\":[],\"tool_choice\":{\"type\":\"auto\"},"
     "\"messages\":[]}",
     "{\"model\":\"m\",\"max_completion_tokens\":2,\"messages\":[]}", NULL},
    {"tools not an array", TO_O, "{\"model\":\"m\",\"tools\":{\"name\":\"w\"},"
     "\"messages\":[]}", NULL, "tools"},
    {"stop_sequences not an array", TO_O, "{\"model\":\"m\",\"stop_sequences\":\"x\","
     "\"messages\":[]}", NULL, "stop_sequences"},
    {"metadata.user_id not a string", TO_O, "{\"model\":\"m\",\"metadata\":{\"user_id\":5},"
     "\"messages\":[]}", NULL, "user_id"},
    {"temperature above Anthropic's range", TO_A, "{\"model\":\"m\",\"temperature\":1.5,"
     "\"messages\":[]}", NULL, "temperature"},
    {"tools not an array, to Anthropic", TO_A, "{\"model\":\"m\",\"tools\":{\"type\":"
     "\"function\"},\"messages\":[]}", NULL, "tools"},
    {"user not a string", TO_A, "{\"model\":\"m\",\"user\":5,\"messages\":[]}", NULL,
     "user"},
    {"tool_calls on a user message", TO_A, "{\"model\":\"m\",\"messages\":[{\"role\":"
     "\"user\",\"content\":\"x\",\"tool_calls\":[{\"id\":\"c\",\"type\":\"function\","
     "\"function\":{\"name\":\"w\",\"arguments\":\"{}\"}}]}]}", NULL,
     "messages[0].tool_calls"},
    {"tool_call_id on an assistant message", TO_A, "{\"model\":\"m\",\"messages\":[{"
     "\"role\":\"assistant\",\"content\":\"x\",\"tool_call_id\":\"c\"}]}", NULL,
     "messages[0].tool_call_id"},
    {"tool_calls not an array", TO_A, "{\"model\":\"m\",\"messages\":[{\"role\":"
     "\"assistant\",\"content\":\"x\",\"tool_calls\":\"c\"}]}", NULL, "tool_calls"},
    {"data URL media type too long", TO_A, "{\"model\":\"m\",\"messages\":[{\"role\":"
     "\"user\",\"content\":[{\"type\":\"image_url\",\"image_url\":{\"url\":\"data:image/"
     "xxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxx;base64,"
     "AAAA\"}}]}]}", NULL, "media type"},
};
#define NROWS ((int)(sizeof rows / sizeof *rows))

START_TEST(requests)
{
    const row *r = &rows[_i];
    cJSON *in = cJSON_Parse(r->in), *out = NULL;
    ck_assert_msg(in != NULL, "row %s: bad input JSON", r->name);
    char err[TG_XLATE_ERR_MAX] = "";
    tg_xlate_opts o = {.max_tokens = 1000, .max_completion = true};
    int rc = r->dir == TO_A ? tg_xlate_req_to_anthropic(in, &o, &out, err, sizeof err)
                            : tg_xlate_req_to_openai(in, &o, &out, err, sizeof err);
    if (!r->want) {
        ck_assert_msg(rc == TG_XLATE_REFUSED && out == NULL, "row %s: not refused", r->name);
        ck_assert_msg(strstr(err, r->refusal) != NULL, "row %s: refusal '%s' lacks '%s'",
                      r->name, err, r->refusal);
    } else {
        cJSON *want = cJSON_Parse(r->want);
        ck_assert_msg(want != NULL, "row %s: bad expected JSON", r->name);
        char *got = out ? cJSON_PrintUnformatted(out) : NULL;
        ck_assert_msg(rc == TG_XLATE_OK && cJSON_Compare(out, want, 1),
                      "row %s: rc %d err '%s'\n got  %s\n want %s", r->name, rc, err,
                      got ? got : "(null)", r->want);
        cJSON_free(got);
        cJSON_Delete(want);
    }
    cJSON_Delete(out);
    cJSON_Delete(in);
}
END_TEST

/* A request translated there and back keeps what both sides express. */
START_TEST(round_trip)
{
    const char *chat = "{\"model\":\"m\",\"max_completion_tokens\":7,\"stop\":[\"x\"],"
                       "\"messages\":[{\"role\":\"system\",\"content\":\"s\"},{\"role\":"
                       "\"user\",\"content\":\"hi\"},{\"role\":\"assistant\",\"content\":"
                       "\"yo\"}]}";
    cJSON *in = cJSON_Parse(chat), *a = NULL, *back = NULL;
    char err[TG_XLATE_ERR_MAX];
    tg_xlate_opts o = {.max_tokens = 1, .max_completion = true};
    ck_assert_int_eq(tg_xlate_req_to_anthropic(in, &o, &a, err, sizeof err), TG_XLATE_OK);
    ck_assert_int_eq(tg_xlate_req_to_openai(a, &o, &back, err, sizeof err), TG_XLATE_OK);
    cJSON *want = cJSON_Parse("{\"model\":\"m\",\"max_completion_tokens\":7,\"stop\":[\"x\"],"
                              "\"messages\":[{\"role\":\"system\",\"content\":\"s\"},{\"role\":"
                              "\"user\",\"content\":[{\"type\":\"text\",\"text\":\"hi\"}]},"
                              "{\"role\":\"assistant\",\"content\":\"yo\"}]}");
    ck_assert(cJSON_Compare(back, want, 1));
    cJSON_Delete(want);
    cJSON_Delete(back);
    cJSON_Delete(a);
    cJSON_Delete(in);
}
END_TEST

static void assert_json(const cJSON *got, const char *want_txt)
{
    cJSON *want = cJSON_Parse(want_txt);
    char *g = cJSON_PrintUnformatted(got);
    ck_assert_msg(want && cJSON_Compare(got, want, 1), "got  %s\nwant %s", g, want_txt);
    cJSON_free(g);
    cJSON_Delete(want);
}

START_TEST(answers)
{
    cJSON *msg = cJSON_Parse(
        "{\"id\":\"msg_1\",\"type\":\"message\",\"role\":\"assistant\",\"model\":\"c\","
        "\"content\":[{\"type\":\"text\",\"text\":\"hi\"},{\"type\":\"tool_use\",\"id\":\"t1\","
        "\"name\":\"w\",\"input\":{\"a\":1}}],\"stop_reason\":\"tool_use\",\"stop_sequence\":null,"
        "\"usage\":{\"input_tokens\":10,\"cache_creation_input_tokens\":6,"
        "\"cache_read_input_tokens\":4,\"cache_creation\":{\"ephemeral_5m_input_tokens\":2,"
        "\"ephemeral_1h_input_tokens\":4},\"output_tokens\":3}}");
    cJSON *out = NULL;
    ck_assert_int_eq(tg_xlate_resp_to_openai(msg, 123, &out), TG_XLATE_OK);
    assert_json(out, "{\"id\":\"chatcmpl-msg_1\",\"object\":\"chat.completion\",\"created\":123,"
                "\"model\":\"c\",\"choices\":[{\"index\":0,\"message\":{\"role\":\"assistant\","
                "\"content\":\"hi\",\"tool_calls\":[{\"id\":\"t1\",\"type\":\"function\","
                "\"function\":{\"name\":\"w\",\"arguments\":\"{\\\"a\\\":1}\"}}],\"refusal\":null},"
                "\"logprobs\":null,\"finish_reason\":\"tool_calls\"}],\"usage\":{"
                "\"prompt_tokens\":20,\"completion_tokens\":3,\"total_tokens\":23,"
                "\"prompt_tokens_details\":{\"cached_tokens\":4}}}");
    cJSON_Delete(out);
    cJSON_Delete(msg);

    cJSON *chat = cJSON_Parse(
        "{\"id\":\"chatcmpl-9\",\"object\":\"chat.completion\",\"model\":\"g\",\"choices\":[{"
        "\"index\":0,\"message\":{\"role\":\"assistant\",\"content\":\"yo\",\"tool_calls\":[{"
        "\"id\":\"c1\",\"type\":\"function\",\"function\":{\"name\":\"w\",\"arguments\":"
        "\"{\\\"b\\\":2}\"}}]},\"finish_reason\":\"length\"}],\"usage\":{\"prompt_tokens\":12,"
        "\"completion_tokens\":5,\"prompt_tokens_details\":{\"cached_tokens\":2}}}");
    ck_assert_int_eq(tg_xlate_resp_to_anthropic(chat, &out), TG_XLATE_OK);
    assert_json(out, "{\"id\":\"msg_chatcmpl-9\",\"type\":\"message\",\"role\":\"assistant\","
                "\"model\":\"g\",\"content\":[{\"type\":\"text\",\"text\":\"yo\"},{\"type\":"
                "\"tool_use\",\"id\":\"c1\",\"name\":\"w\",\"input\":{\"b\":2}}],\"stop_reason\":"
                "\"max_tokens\",\"stop_sequence\":null,\"usage\":{\"input_tokens\":10,"
                "\"cache_creation_input_tokens\":0,\"cache_read_input_tokens\":2,"
                "\"output_tokens\":5}}");
    cJSON_Delete(out);
    cJSON_Delete(chat);

    cJSON *bad = cJSON_Parse("{\"choices\":[]}");
    ck_assert_int_eq(tg_xlate_resp_to_anthropic(bad, &out), TG_XLATE_REFUSED);
    ck_assert_int_eq(tg_xlate_resp_to_openai(bad, 1, &out), TG_XLATE_REFUSED);
    ck_assert_ptr_null(out);
    cJSON_Delete(bad);
}
END_TEST

/* Stop reasons both ways, through complete answers. */
START_TEST(stop_reasons)
{
    static const char *const a2o[][2] = {{"end_turn", "stop"}, {"stop_sequence", "stop"},
                                         {"max_tokens", "length"}, {"tool_use", "tool_calls"},
                                         {"refusal", "content_filter"},
                                         {"pause_turn", "stop"},
                                         /* the answer filled the context window: cut */
                                         {"model_context_window_exceeded", "length"}};
    static const char *const o2a[][2] = {{"stop", "end_turn"}, {"length", "max_tokens"},
                                         {"tool_calls", "tool_use"},
                                         {"content_filter", "refusal"}};
    char txt[256];
    for (size_t i = 0; i < sizeof a2o / sizeof *a2o; i++) {
        snprintf(txt, sizeof txt, "{\"content\":[],\"stop_reason\":\"%s\"}", a2o[i][0]);
        cJSON *in = cJSON_Parse(txt), *out = NULL;
        ck_assert_int_eq(tg_xlate_resp_to_openai(in, 0, &out), TG_XLATE_OK);
        const cJSON *ch = cJSON_GetArrayItem(cJSON_GetObjectItem(out, "choices"), 0);
        ck_assert_str_eq(cJSON_GetObjectItem(ch, "finish_reason")->valuestring, a2o[i][1]);
        cJSON_Delete(out);
        cJSON_Delete(in);
    }
    for (size_t i = 0; i < sizeof o2a / sizeof *o2a; i++) {
        snprintf(txt, sizeof txt, "{\"choices\":[{\"message\":{\"content\":\"x\"},"
                 "\"finish_reason\":\"%s\"}]}", o2a[i][0]);
        cJSON *in = cJSON_Parse(txt), *out = NULL;
        ck_assert_int_eq(tg_xlate_resp_to_anthropic(in, &out), TG_XLATE_OK);
        ck_assert_str_eq(cJSON_GetObjectItem(out, "stop_reason")->valuestring, o2a[i][1]);
        cJSON_Delete(out);
        cJSON_Delete(in);
    }
}
END_TEST

START_TEST(errors)
{
    tg_buf b;
    tg_buf_init(&b, 1 << 16);
    const char *oe = "{\"error\":{\"message\":\"Rate limit reached\",\"type\":\"requests\","
                     "\"param\":null,\"code\":\"rate_limit_exceeded\"}}";
    ck_assert_int_eq(tg_xlate_error(oe, strlen(oe), 429, TG_WIRE_ANTHROPIC, &b), TG_BUF_OK);
    cJSON *j = cJSON_Parse(b.p);
    assert_json(j, "{\"type\":\"error\",\"error\":{\"type\":\"rate_limit_error\",\"message\":"
                "\"Rate limit reached\"}}");
    cJSON_Delete(j);
    tg_buf_reset(&b);
    const char *ae = "{\"type\":\"error\",\"error\":{\"type\":\"overloaded_error\",\"message\":"
                     "\"Overloaded\"}}";
    ck_assert_int_eq(tg_xlate_error(ae, strlen(ae), 529, TG_WIRE_OPENAI, &b), TG_BUF_OK);
    j = cJSON_Parse(b.p);
    assert_json(j, "{\"error\":{\"message\":\"Overloaded\",\"type\":\"server_error\","
                "\"param\":null,\"code\":null}}");
    cJSON_Delete(j);
    tg_buf_reset(&b);
    ck_assert_int_eq(tg_xlate_error("<html>bad gateway</html>", 24, 502, TG_WIRE_ANTHROPIC, &b),
                     TG_BUF_OK);
    ck_assert_ptr_nonnull(strstr(b.p, "api_error"));
    ck_assert_ptr_nonnull(strstr(b.p, "bad gateway"));
    tg_buf_reset(&b);
    /* tollgate's own errors named in OpenAI's words come out in Anthropic's types */
    ck_assert_int_eq(tg_dialect_anthropic.error_body(&b, "insufficient_quota",
                                                     "insufficient_quota", "no budget"),
                     TG_BUF_OK);
    ck_assert_str_eq(b.p, "{\"type\":\"error\",\"error\":{\"type\":\"rate_limit_error\","
                          "\"message\":\"no budget\"}}");
    tg_buf_free(&b);
}
END_TEST

/* Whether s is well-formed UTF-8 (no overlong forms, surrogates or truncated sequences). */
static bool valid_utf8(const char *s)
{
    const unsigned char *p = (const unsigned char *)s;
    while (*p) {
        int n = *p < 0x80 ? 0 : (*p & 0xE0) == 0xC0 ? 1 : (*p & 0xF0) == 0xE0 ? 2
                : (*p & 0xF8) == 0xF0 ? 3 : -1;
        if (n < 0 || (n == 1 && *p < 0xC2) || (*p == 0xE0 && (p[1] & 0xE0) == 0x80) ||
            (*p == 0xED && p[1] >= 0xA0) || (*p == 0xF0 && p[1] < 0x90) || *p > 0xF4 ||
            (*p == 0xF4 && p[1] >= 0x90))
            return false;
        for (int i = 1; i <= n; i++)
            if ((p[i] & 0xC0) != 0x80)
                return false;
        p += n + 1;
    }
    return true;
}

/* A vendor error that is not JSON is quoted, and the quote is valid UTF-8 (JSON must be)
 * even when the body is Latin-1 or the preview cuts a character in two. */
START_TEST(error_text_utf8)
{
    char body[1024];
    memset(body, 'a', sizeof body);
    static const char head[] = "<h1>Bad \xe9\xff gateway</h1>";
    memcpy(body, head, sizeof head - 1);
    memcpy(body + 399, "\xc3\xa9", 2); /* "é" across the 400-byte preview limit */
    for (int to = 0; to < 2; to++) {
        tg_buf b;
        tg_buf_init(&b, 1 << 16);
        ck_assert_int_eq(tg_xlate_error(body, sizeof body, 502, (tg_wire)to, &b), TG_BUF_OK);
        ck_assert_msg(valid_utf8(b.p), "not UTF-8: %s", b.p);
        cJSON *j = cJSON_Parse(b.p);
        ck_assert_ptr_nonnull(j);
        ck_assert_ptr_nonnull(strstr(b.p, "Bad "));
        cJSON_Delete(j);
        tg_buf_reset(&b);
        const char *je = "{\"error\":{\"message\":\"caf\xe9 closed\"}}";
        ck_assert_int_eq(tg_xlate_error(je, strlen(je), 500, (tg_wire)to, &b), TG_BUF_OK);
        ck_assert_msg(valid_utf8(b.p) && strstr(b.p, "caf? closed"), "%s", b.p);
        tg_buf_free(&b);
    }
}
END_TEST

/* Feeds events (separated by blank lines) through tg_xlate_sse; returns the output. */
static char *run_stream(tg_xlate_stream *xs, const tg_dialect *up, tg_sse_state *st,
                        const char *const *events, int n)
{
    tg_buf out;
    tg_buf_init(&out, 1 << 20);
    for (int i = 0; i < n; i++)
        ck_assert_int_eq(tg_xlate_sse(xs, up, st, events[i], strlen(events[i]), &out),
                         TG_BUF_OK);
    char *s = strdup(out.p ? out.p : "");
    tg_buf_free(&out);
    return s;
}

static const char *const anth_stream[] = {
    "event: message_start\ndata: {\"type\":\"message_start\",\"message\":{\"id\":\"msg_7\","
    "\"type\":\"message\",\"role\":\"assistant\",\"model\":\"c\",\"content\":[],\"usage\":{"
    "\"input_tokens\":10,\"cache_read_input_tokens\":100,\"cache_creation_input_tokens\":60,"
    "\"cache_creation\":{\"ephemeral_5m_input_tokens\":40,\"ephemeral_1h_input_tokens\":20},"
    "\"output_tokens\":1}}}",
    "event: content_block_start\ndata: {\"type\":\"content_block_start\",\"index\":0,"
    "\"content_block\":{\"type\":\"text\",\"text\":\"\"}}",
    "event: ping\ndata: {\"type\": \"ping\"}",
    "event: content_block_delta\ndata: {\"type\":\"content_block_delta\",\"index\":0,\"delta\":"
    "{\"type\":\"text_delta\",\"text\":\"Hi\"}}",
    "event: content_block_stop\ndata: {\"type\":\"content_block_stop\",\"index\":0}",
    "event: content_block_start\ndata: {\"type\":\"content_block_start\",\"index\":1,"
    "\"content_block\":{\"type\":\"tool_use\",\"id\":\"toolu_1\",\"name\":\"w\",\"input\":{}}}",
    "event: content_block_delta\ndata: {\"type\":\"content_block_delta\",\"index\":1,\"delta\":"
    "{\"type\":\"input_json_delta\",\"partial_json\":\"{\\\"a\\\":\"}}",
    "event: content_block_delta\ndata: {\"type\":\"content_block_delta\",\"index\":1,\"delta\":"
    "{\"type\":\"input_json_delta\",\"partial_json\":\"1}\"}}",
    "event: content_block_stop\ndata: {\"type\":\"content_block_stop\",\"index\":1}",
    /* newer API versions repeat the input counts, cumulatively, in message_delta */
    "event: message_delta\ndata: {\"type\":\"message_delta\",\"delta\":{\"stop_reason\":"
    "\"tool_use\",\"stop_sequence\":null},\"usage\":{\"input_tokens\":10,"
    "\"cache_read_input_tokens\":100,\"cache_creation_input_tokens\":60,\"output_tokens\":15}}",
    "event: message_stop\ndata: {\"type\":\"message_stop\"}",
};

START_TEST(stream_anthropic_to_openai)
{
    tg_sse_state st = {0};
    tg_buf_init(&st.delivered, 1 << 16);
    tg_xlate_stream *xs = tg_xlate_stream_new(TG_WIRE_ANTHROPIC, TG_WIRE_OPENAI, true, 5);
    char *out = run_stream(xs, &tg_dialect_anthropic, &st, anth_stream,
                           (int)(sizeof anth_stream / sizeof *anth_stream));
    /* usage: replaced, never added: cache tokens once, output the final count */
    ck_assert(st.usage.reported);
    ck_assert_int_eq(st.usage.cached_input, 100);
    ck_assert_int_eq(st.usage.cache_write, 60);
    ck_assert_int_eq(st.usage.cache_write_1h, 20);
    ck_assert_int_eq(st.usage.input, 170);
    ck_assert_int_eq(st.usage.output, 15);
    ck_assert(st.done);
    const char *want[] = {
        "{\"role\":\"assistant\",\"content\":\"\"}", "{\"content\":\"Hi\"}",
        ("{\"tool_calls\":[{\"index\":0,\"id\":\"toolu_1\",\"type\":\"function\",\"function\":"
         "{\"name\":\"w\",\"arguments\":\"\"}}]}"),
        "{\"tool_calls\":[{\"index\":0,\"function\":{\"arguments\":\"{\\\"a\\\":\"}}]}",
        "{\"tool_calls\":[{\"index\":0,\"function\":{\"arguments\":\"1}\"}}]}", "{}"};
    char *p = out;
    for (size_t i = 0; i < sizeof want / sizeof *want; i++) {
        ck_assert_msg(strncmp(p, "data: ", 6) == 0, "chunk %zu: %s", i, p);
        char *end = strstr(p, "\n\n");
        ck_assert_ptr_nonnull(end);
        cJSON *c = cJSON_ParseWithLength(p + 6, (size_t)(end - p - 6));
        const cJSON *ch = cJSON_GetArrayItem(cJSON_GetObjectItem(c, "choices"), 0);
        ck_assert_str_eq(cJSON_GetObjectItem(c, "id")->valuestring, "chatcmpl-msg_7");
        ck_assert_str_eq(cJSON_GetObjectItem(c, "object")->valuestring, "chat.completion.chunk");
        assert_json(cJSON_GetObjectItem(ch, "delta"), want[i]);
        const cJSON *fr = cJSON_GetObjectItem(ch, "finish_reason");
        if (i == 5)
            ck_assert_str_eq(fr->valuestring, "tool_calls");
        else
            ck_assert(cJSON_IsNull(fr));
        cJSON_Delete(c);
        p = end + 2;
    }
    ck_assert_ptr_nonnull(strstr(p, "\"choices\":[]"));
    ck_assert_ptr_nonnull(strstr(p, "\"prompt_tokens\":170,\"completion_tokens\":15"));
    ck_assert_ptr_nonnull(strstr(p, "\"cached_tokens\":100"));
    ck_assert_str_eq(strstr(p, "\n\n") + 2, "data: [DONE]\n\n");
    free(out);
    tg_xlate_stream_free(xs);
    tg_buf_free(&st.delivered);
}
END_TEST

static const char *const openai_stream[] = {
    "data: {\"id\":\"c9\",\"object\":\"chat.completion.chunk\",\"model\":\"g\",\"choices\":[{"
    "\"index\":0,\"delta\":{\"role\":\"assistant\",\"content\":\"\"},\"finish_reason\":null}]}",
    "data: {\"id\":\"c9\",\"choices\":[{\"index\":0,\"delta\":{\"content\":\"Hel\"}}]}",
    "data: {\"id\":\"c9\",\"choices\":[{\"index\":0,\"delta\":{\"content\":\"lo\"}}]}",
    ("data: {\"id\":\"c9\",\"choices\":[{\"index\":0,\"delta\":{\"tool_calls\":[{\"index\":0,"
     "\"id\":\"call_1\",\"type\":\"function\",\"function\":{\"name\":\"w\","
     "\"arguments\":\"\"}}]}}]}"),
    "data: {\"id\":\"c9\",\"choices\":[{\"index\":0,\"delta\":{\"tool_calls\":[{\"index\":0,"
    "\"function\":{\"arguments\":\"{\\\"a\\\"\"}}]}}]}",
    "data: {\"id\":\"c9\",\"choices\":[{\"index\":0,\"delta\":{\"tool_calls\":[{\"index\":0,"
    "\"function\":{\"arguments\":\":1}\"}}]}}]}",
    ("data: {\"id\":\"c9\",\"choices\":[{\"index\":0,\"delta\":{},"
     "\"finish_reason\":\"tool_calls\"}]}"),
    "data: {\"id\":\"c9\",\"choices\":[],\"usage\":{\"prompt_tokens\":30,\"completion_tokens\":8,"
    "\"prompt_tokens_details\":{\"cached_tokens\":10}}}",
    "data: [DONE]",
};

START_TEST(stream_openai_to_anthropic)
{
    tg_sse_state st = {0};
    tg_buf_init(&st.delivered, 1 << 16);
    tg_xlate_stream *xs = tg_xlate_stream_new(TG_WIRE_OPENAI, TG_WIRE_ANTHROPIC, false, 5);
    char *out = run_stream(xs, &tg_dialect_openai, &st, openai_stream,
                           (int)(sizeof openai_stream / sizeof *openai_stream));
    static const struct {
        const char *event, *data;
    } want[] = {
        {"message_start", "{\"type\":\"message_start\",\"message\":{\"id\":\"msg_c9\",\"type\":"
         "\"message\",\"role\":\"assistant\",\"model\":\"g\",\"content\":[],\"stop_reason\":null,"
         "\"stop_sequence\":null,\"usage\":{\"input_tokens\":0,\"cache_creation_input_tokens\":0,"
         "\"cache_read_input_tokens\":0,\"output_tokens\":0}}}"},
        {"content_block_start", "{\"type\":\"content_block_start\",\"index\":0,"
         "\"content_block\":{\"type\":\"text\",\"text\":\"\"}}"},
        {"content_block_delta", "{\"type\":\"content_block_delta\",\"index\":0,\"delta\":{"
         "\"type\":\"text_delta\",\"text\":\"Hel\"}}"},
        {"content_block_delta", "{\"type\":\"content_block_delta\",\"index\":0,\"delta\":{"
         "\"type\":\"text_delta\",\"text\":\"lo\"}}"},
        {"content_block_stop", "{\"type\":\"content_block_stop\",\"index\":0}"},
        {"content_block_start", "{\"type\":\"content_block_start\",\"index\":1,"
         "\"content_block\":{\"type\":\"tool_use\",\"id\":\"call_1\",\"name\":\"w\","
         "\"input\":{}}}"},
        {"content_block_delta", "{\"type\":\"content_block_delta\",\"index\":1,\"delta\":{"
         "\"type\":\"input_json_delta\",\"partial_json\":\"{\\\"a\\\"\"}}"},
        {"content_block_delta", "{\"type\":\"content_block_delta\",\"index\":1,\"delta\":{"
         "\"type\":\"input_json_delta\",\"partial_json\":\":1}\"}}"},
        {"content_block_stop", "{\"type\":\"content_block_stop\",\"index\":1}"},
        {"message_delta", "{\"type\":\"message_delta\",\"delta\":{\"stop_reason\":\"tool_use\","
         "\"stop_sequence\":null},\"usage\":{\"input_tokens\":20,\"cache_creation_input_tokens\":"
         "0,\"cache_read_input_tokens\":10,\"output_tokens\":8}}"},
        {"message_stop", "{\"type\":\"message_stop\"}"},
    };
    char *p = out;
    for (size_t i = 0; i < sizeof want / sizeof *want; i++) {
        char head[64];
        snprintf(head, sizeof head, "event: %s\ndata: ", want[i].event);
        ck_assert_msg(strncmp(p, head, strlen(head)) == 0, "event %zu: %s", i, p);
        p += strlen(head);
        char *end = strstr(p, "\n\n");
        ck_assert_ptr_nonnull(end);
        cJSON *e = cJSON_ParseWithLength(p, (size_t)(end - p));
        assert_json(e, want[i].data);
        cJSON_Delete(e);
        p = end + 2;
    }
    ck_assert_str_eq(p, "");
    ck_assert(st.done);
    free(out);
    tg_xlate_stream_free(xs);
    tg_buf_free(&st.delivered);
}
END_TEST

/* Without translation the dialect's pass-through is unchanged; an error event mid-stream
 * becomes the caller's error event and ends the translation. */
START_TEST(stream_passthrough_and_errors)
{
    tg_sse_state st = {0};
    tg_buf_init(&st.delivered, 1 << 16);
    char *out = run_stream(NULL, &tg_dialect_anthropic, &st, anth_stream, 2);
    ck_assert_int_eq(strlen(out), strlen(anth_stream[0]) + strlen(anth_stream[1]) + 4);
    free(out);
    tg_xlate_stream *xs = tg_xlate_stream_new(TG_WIRE_ANTHROPIC, TG_WIRE_OPENAI, false, 5);
    const char *evs[] = {anth_stream[0], "event: error\ndata: {\"type\":\"error\",\"error\":{"
                         "\"type\":\"overloaded_error\",\"message\":\"Overloaded\"}}",
                         anth_stream[3]};
    out = run_stream(xs, &tg_dialect_anthropic, &st, evs, 3);
    char *err = strstr(out, "\n\ndata: {\"error\":{\"message\":\"Overloaded\"");
    ck_assert_msg(err != NULL, "%s", out);
    ck_assert_str_eq(strstr(err + 2, "\n\n"), "\n\n"); /* nothing after the error */
    free(out);
    tg_xlate_stream_free(xs);
    xs = tg_xlate_stream_new(TG_WIRE_OPENAI, TG_WIRE_ANTHROPIC, false, 5);
    const char *oevs[] = {openai_stream[1], "data: {\"error\":{\"message\":\"boom\"}}"};
    out = run_stream(xs, &tg_dialect_openai, &st, oevs, 2);
    ck_assert_ptr_nonnull(strstr(out, "event: error\ndata: {\"type\":\"error\",\"error\":{"
                                      "\"type\":\"api_error\",\"message\":\"boom\"}}"));
    free(out);
    tg_xlate_stream_free(xs);
    tg_buf_free(&st.delivered);
}
END_TEST

/* A tool call beyond what a stream translator tracks (TG_XLATE_MAX_TOOLS) is not dropped
 * in silence: the caller gets an error event and the translation ends. */
START_TEST(stream_tool_limit)
{
    tg_sse_state st = {0};
    tg_buf_init(&st.delivered, 1 << 16);
    tg_xlate_stream *xs = tg_xlate_stream_new(TG_WIRE_ANTHROPIC, TG_WIRE_OPENAI, false, 5);
    const char *evs[] = {anth_stream[0], "event: content_block_start\ndata: {\"type\":"
                         "\"content_block_start\",\"index\":200,\"content_block\":{\"type\":"
                         "\"tool_use\",\"id\":\"toolu_9\",\"name\":\"w\",\"input\":{}}}",
                         anth_stream[10]};
    char *out = run_stream(xs, &tg_dialect_anthropic, &st, evs, 3);
    char *err = strstr(out, "\n\ndata: {\"error\":{\"message\":");
    ck_assert_msg(err != NULL && strstr(err, "tool") != NULL, "%s", out);
    ck_assert_ptr_null(strstr(out, "[DONE]")); /* the answer is not passed off as whole */
    free(out);
    tg_xlate_stream_free(xs);
    xs = tg_xlate_stream_new(TG_WIRE_OPENAI, TG_WIRE_ANTHROPIC, false, 5);
    const char *oevs[] = {openai_stream[1], "data: {\"id\":\"c9\",\"choices\":[{\"index\":0,"
                          "\"delta\":{\"tool_calls\":[{\"index\":128,\"id\":\"call_9\","
                          "\"type\":\"function\",\"function\":{\"name\":\"w\",\"arguments\":"
                          "\"{}\"}}]}}]}", "data: [DONE]"};
    out = run_stream(xs, &tg_dialect_openai, &st, oevs, 3);
    ck_assert_msg(strstr(out, "event: error\ndata: {\"type\":\"error\"") != NULL, "%s", out);
    ck_assert_ptr_null(strstr(out, "message_stop"));
    free(out);
    tg_xlate_stream_free(xs);
    tg_buf_free(&st.delivered);
}
END_TEST

START_TEST(anthropic_usage)
{
    tg_usage u = {0};
    cJSON *j = cJSON_Parse("{\"usage\":{\"input_tokens\":5,\"cache_creation_input_tokens\":30,"
                           "\"cache_read_input_tokens\":7,\"output_tokens\":9}}");
    tg_dialect_anthropic.usage_from_json(j, &u);
    ck_assert(u.reported);
    ck_assert_int_eq(u.input, 42);
    ck_assert_int_eq(u.cached_input, 7);
    ck_assert_int_eq(u.cache_write, 30);
    ck_assert_int_eq(u.cache_write_1h, 0); /* no breakdown: all 5-minute */
    ck_assert_int_eq(u.output, 9);
    cJSON_Delete(j);
    memset(&u, 0, sizeof u);
    j = cJSON_Parse("{\"usage\":{\"input_tokens\":5,\"cache_creation\":{"
                    "\"ephemeral_5m_input_tokens\":3,\"ephemeral_1h_input_tokens\":4},"
                    "\"output_tokens\":-2}}");
    tg_dialect_anthropic.usage_from_json(j, &u);
    ck_assert_int_eq(u.cache_write, 7);
    ck_assert_int_eq(u.cache_write_1h, 4);
    ck_assert_int_eq(u.input, 12);
    ck_assert_int_eq(u.output, 0);
    cJSON_Delete(j);
    bool injected = true;
    ck_assert_int_eq(tg_dialect_anthropic.ask_stream_usage(NULL, &injected), 0);
    ck_assert(!injected);
}
END_TEST

static Suite *translate_suite(void)
{
    Suite *s = suite_create("translate");
    TCase *tc = tcase_create("core");
    tcase_add_loop_test(tc, requests, 0, NROWS);
    tcase_add_test(tc, round_trip);
    tcase_add_test(tc, answers);
    tcase_add_test(tc, stop_reasons);
    tcase_add_test(tc, errors);
    tcase_add_test(tc, error_text_utf8);
    tcase_add_test(tc, stream_anthropic_to_openai);
    tcase_add_test(tc, stream_openai_to_anthropic);
    tcase_add_test(tc, stream_passthrough_and_errors);
    tcase_add_test(tc, stream_tool_limit);
    tcase_add_test(tc, anthropic_usage);
    suite_add_tcase(s, tc);
    return s;
}

int main(void)
{
    SRunner *sr = srunner_create(translate_suite());
    srunner_run_all(sr, CK_NORMAL);
    int failed = srunner_ntests_failed(sr);
    srunner_free(sr);
    return failed ? EXIT_FAILURE : EXIT_SUCCESS;
}
