/* Tests for tg_caps_infer (router/caps.h): a table of request bodies in the four API shapes
 * (OpenAI chat completions, completions, responses; Anthropic messages), each with the
 * exact capability bits and output cap it must give.  One loop test per row, so a
 * failure names the row.  The bodies follow the vendors' API references: OpenAI's chat
 * content parts (image_url, input_audio, file), responses input items and tools
 * (web_search, web_search_preview, function), text.format and reasoning; Anthropic's
 * content blocks (image, document, tool_result), tools, tool_choice and thinking. */
#include <check.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "policies/catalog.h"
#include "router/caps.h"

#define CHAT TG_COUNT_CHAT
#define COMPL TG_COUNT_COMPLETIONS
#define EMB TG_COUNT_EMBEDDINGS
#define RESP TG_COUNT_RESPONSES
#define MSG TG_COUNT_ANTHROPIC_MESSAGES

#define TOOLS TG_CAP_TOOLS
#define PAR TG_CAP_PARALLEL_TOOLS
#define VIS TG_CAP_VISION
#define AIN TG_CAP_AUDIO_IN
#define AOUT TG_CAP_AUDIO_OUT
#define JSON TG_CAP_JSON_MODE
#define STRUCT TG_CAP_STRUCTURED
#define REAS TG_CAP_REASONING
#define STREAM TG_CAP_STREAMING
#define WEB TG_CAP_WEB_SEARCH
#define FILEIN TG_CAP_FILE_INPUT

typedef struct {
    tg_count_kind kind;
    const char *body;
    uint32_t caps;
    int64_t max_out;
} row;

/* clang-format off */
static const row rows[] = {
    /* ---- chat completions */
    {CHAT, "{\"model\":\"gpt-4o\",\"messages\":[{\"role\":\"user\",\"content\":\"hi\"}]}", 0, -1},
    {CHAT, "{\"messages\":[{\"role\":\"user\",\"content\":\"hi\"}],\"max_tokens\":100}", 0, 100},
    {CHAT, "{\"messages\":[],\"max_tokens\":100,\"max_completion_tokens\":50}", 0, 50},
    {CHAT, "{\"messages\":[],\"max_completion_tokens\":\"50\",\"max_tokens\":7}", 0, 7},
    {CHAT, "{\"messages\":[],\"max_tokens\":-5}", 0, -1},
    {CHAT, "{\"messages\":[],\"max_tokens\":12.5}", 0, -1},
    {CHAT, "{\"messages\":[],\"max_tokens\":1e300}", 0, 1000000000000000},
    {CHAT, "{\"messages\":[],\"stream\":true}", STREAM, -1},
    {CHAT, "{\"messages\":[],\"stream\":false,\"stream_options\":{\"include_usage\":true}}", 0, -1},
    {CHAT, "{\"messages\":[{\"role\":\"user\",\"content\":[{\"type\":\"text\",\"text\":\"what is this\"},"
           "{\"type\":\"image_url\",\"image_url\":{\"url\":\"https://x/y.png\"}}]}]}", VIS, -1},
    {CHAT, "{\"messages\":[{\"role\":\"user\",\"content\":[{\"type\":\"input_audio\","
           "\"input_audio\":{\"data\":\"AAAA\",\"format\":\"wav\"}}]}]}", AIN, -1},
    {CHAT, "{\"messages\":[{\"role\":\"user\",\"content\":[{\"type\":\"file\","
           "\"file\":{\"file_id\":\"file-1\"}}]}]}", FILEIN, -1},
    {CHAT, "{\"messages\":[{\"role\":\"system\",\"content\":\"s\"},{\"role\":\"user\",\"content\":["
           "{\"type\":\"image_url\",\"image_url\":{\"url\":\"data:,\"}},{\"type\":\"file\",\"file\":{}},"
           "{\"type\":\"input_audio\",\"input_audio\":{}}]}],\"max_completion_tokens\":4096}",
     VIS | FILEIN | AIN, 4096},
    {CHAT, "{\"messages\":[],\"tools\":[{\"type\":\"function\",\"function\":{\"name\":\"f\","
           "\"parameters\":{}}}]}", TOOLS, -1},
    {CHAT, "{\"messages\":[],\"tools\":[{\"type\":\"function\",\"function\":{\"name\":\"f\","
           "\"strict\":true}}],\"parallel_tool_calls\":true}", TOOLS | STRUCT | PAR, -1},
    {CHAT, "{\"messages\":[],\"tools\":[{\"type\":\"function\",\"function\":{\"name\":\"f\"}}],"
           "\"parallel_tool_calls\":false,\"tool_choice\":\"required\"}", TOOLS, -1},
    {CHAT, "{\"messages\":[],\"parallel_tool_calls\":true}", 0, -1},
    {CHAT, "{\"messages\":[],\"tools\":[],\"tool_choice\":\"none\"}", 0, -1},
    {CHAT, "{\"messages\":[],\"tool_choice\":{\"type\":\"function\",\"function\":{\"name\":\"f\"}}}",
     TOOLS, -1},
    {CHAT, "{\"messages\":[],\"functions\":[{\"name\":\"f\"}],\"function_call\":\"auto\"}", TOOLS, -1},
    {CHAT, "{\"messages\":[],\"functions\":[],\"function_call\":\"none\"}", 0, -1},
    {CHAT, "{\"messages\":[],\"response_format\":{\"type\":\"json_object\"}}", JSON, -1},
    {CHAT, "{\"messages\":[],\"response_format\":{\"type\":\"json_schema\",\"json_schema\":{}}}",
     STRUCT, -1},
    {CHAT, "{\"messages\":[],\"response_format\":{\"type\":\"text\"}}", 0, -1},
    {CHAT, "{\"messages\":[],\"modalities\":[\"text\",\"audio\"],\"audio\":{\"voice\":\"alloy\","
           "\"format\":\"wav\"}}", AOUT, -1},
    {CHAT, "{\"messages\":[],\"modalities\":[\"text\"]}", 0, -1},
    {CHAT, "{\"messages\":[],\"reasoning_effort\":\"high\",\"max_completion_tokens\":2000}",
     REAS, 2000},
    {CHAT, "{\"messages\":[],\"web_search_options\":{}}", WEB, -1},
    {CHAT, "{\"messages\":\"nope\",\"tools\":\"x\",\"stream\":\"yes\",\"max_tokens\":\"9\"}", 0, -1},
    {CHAT, "{\"messages\":[{\"role\":\"assistant\",\"content\":null,\"tool_calls\":[]},"
           "{\"role\":\"tool\",\"tool_call_id\":\"1\",\"content\":[{\"type\":\"text\",\"text\":\"r\"}]},"
           "7,{\"content\":[3,{\"type\":5},{\"text\":\"no type\"}]}]}", 0, -1},
    {CHAT, "[1,2,3]", 0, -1},
    /* ---- completions */
    {COMPL, "{\"model\":\"gpt-3.5-turbo-instruct\",\"prompt\":\"Say this\",\"max_tokens\":7}", 0, 7},
    {COMPL, "{\"prompt\":[\"a\",\"b\"],\"stream\":true}", STREAM, -1},
    {COMPL, "{\"prompt\":\"x\",\"messages\":[{\"content\":[{\"type\":\"image_url\"}]}]}", 0, -1},
    /* ---- embeddings: nothing but what the top level says */
    {EMB, "{\"model\":\"text-embedding-3-small\",\"input\":[{\"content\":[{\"type\":\"input_image\"}]}]}",
     0, -1},
    /* ---- responses */
    {RESP, "{\"model\":\"gpt-4.1\",\"input\":\"Tell me a joke\"}", 0, -1},
    {RESP, "{\"input\":\"x\",\"max_output_tokens\":300,\"stream\":true}", STREAM, 300},
    {RESP, "{\"input\":[{\"role\":\"user\",\"content\":[{\"type\":\"input_text\",\"text\":\"hi\"},"
           "{\"type\":\"input_image\",\"image_url\":\"https://x/y.jpg\"}]}]}", VIS, -1},
    {RESP, "{\"input\":[{\"type\":\"message\",\"role\":\"user\",\"content\":[{\"type\":\"input_file\","
           "\"file_id\":\"file-1\"}]}]}", FILEIN, -1},
    {RESP, "{\"input\":[{\"role\":\"user\",\"content\":[{\"type\":\"input_audio\","
           "\"input_audio\":{\"data\":\"AA\",\"format\":\"mp3\"}}]}]}", AIN, -1},
    {RESP, "{\"input\":[{\"type\":\"function_call_output\",\"call_id\":\"c\",\"output\":["
           "{\"type\":\"input_image\",\"image_url\":\"data:,\"}]}]}", VIS, -1},
    {RESP, "{\"input\":\"x\",\"tools\":[{\"type\":\"web_search_preview\"}]}", WEB, -1},
    {RESP, "{\"input\":\"x\",\"tools\":[{\"type\":\"web_search\"},{\"type\":\"function\",\"name\":\"f\","
           "\"strict\":true,\"parameters\":{}}],\"parallel_tool_calls\":true}",
     WEB | TOOLS | STRUCT | PAR, -1},
    {RESP, "{\"input\":\"x\",\"tools\":[{\"type\":\"web_search\"}],\"parallel_tool_calls\":true}",
     WEB, -1},
    {RESP, "{\"input\":\"x\",\"tools\":[{\"type\":\"function\",\"name\":\"f\",\"strict\":false}]}",
     TOOLS, -1},
    {RESP, "{\"input\":\"x\",\"text\":{\"format\":{\"type\":\"json_schema\",\"name\":\"n\","
           "\"schema\":{}}}}", STRUCT, -1},
    {RESP, "{\"input\":\"x\",\"text\":{\"format\":{\"type\":\"json_object\"}}}", JSON, -1},
    {RESP, "{\"input\":\"x\",\"text\":{\"format\":{\"type\":\"text\"},\"verbosity\":\"low\"}}", 0, -1},
    {RESP, "{\"input\":\"x\",\"reasoning\":{\"effort\":\"medium\",\"summary\":\"auto\"},"
           "\"max_output_tokens\":25000}", REAS, 25000},
    {RESP, "{\"input\":\"x\",\"reasoning\":null,\"max_output_tokens\":null}", 0, -1},
    /* ---- Anthropic messages */
    {MSG, "{\"model\":\"claude-sonnet-4-5\",\"max_tokens\":1024,\"messages\":[{\"role\":\"user\","
          "\"content\":\"Hello\"}]}", 0, 1024},
    {MSG, "{\"max_tokens\":64,\"messages\":[{\"role\":\"user\",\"content\":[{\"type\":\"image\","
          "\"source\":{\"type\":\"base64\",\"media_type\":\"image/png\",\"data\":\"AA\"}},"
          "{\"type\":\"text\",\"text\":\"what?\"}]}]}", VIS, 64},
    {MSG, "{\"max_tokens\":64,\"messages\":[{\"role\":\"user\",\"content\":[{\"type\":\"document\","
          "\"source\":{\"type\":\"base64\",\"media_type\":\"application/pdf\",\"data\":\"AA\"}}]}]}",
     FILEIN, 64},
    {MSG, "{\"max_tokens\":64,\"messages\":[{\"role\":\"user\",\"content\":[{\"type\":\"tool_result\","
          "\"tool_use_id\":\"t\",\"content\":[{\"type\":\"image\",\"source\":{}}]}]}]}", VIS, 64},
    {MSG, "{\"max_tokens\":64,\"tools\":[{\"name\":\"get_weather\",\"input_schema\":{\"type\":\"object\"}}],"
          "\"messages\":[]}", TOOLS, 64},
    {MSG, "{\"max_tokens\":64,\"tools\":[{\"name\":\"f\",\"input_schema\":{}}],\"tool_choice\":"
          "{\"type\":\"any\"},\"messages\":[]}", TOOLS, 64},
    {MSG, "{\"max_tokens\":64,\"tool_choice\":{\"type\":\"none\"},\"messages\":[]}", 0, 64},
    {MSG, "{\"max_tokens\":64,\"tools\":[{\"type\":\"web_search_20250305\",\"name\":\"web_search\","
          "\"max_uses\":5}],\"messages\":[]}", WEB, 64},
    {MSG, "{\"max_tokens\":16000,\"thinking\":{\"type\":\"enabled\",\"budget_tokens\":10000},"
          "\"stream\":true,\"messages\":[]}", REAS | STREAM, 16000},
    {MSG, "{\"max_tokens\":100,\"thinking\":{\"type\":\"disabled\"},\"messages\":[]}", 0, 100},
    {MSG, "{\"max_tokens\":100,\"system\":[{\"type\":\"text\",\"text\":\"s\",\"cache_control\":"
          "{\"type\":\"ephemeral\"}}],\"messages\":[{\"role\":\"assistant\",\"content\":[{\"type\":"
          "\"tool_use\",\"id\":\"t\",\"name\":\"f\",\"input\":{}}]}]}", 0, 100},
    {MSG, "{\"max_tokens\":0,\"messages\":[{\"role\":\"user\",\"content\":[{\"type\":\"tool_result\","
          "\"content\":[{\"type\":\"tool_result\",\"content\":[{\"type\":\"image\"}]}]}]}]}", 0, 0},
};
/* clang-format on */

#define NROWS ((int)(sizeof rows / sizeof rows[0]))

/* The bits of `caps` by name, for failure messages. */
static void caps_text(uint32_t caps, char *out, size_t n)
{
    static const char *const names[TG_CAP_COUNT] = {
        "tools",          "parallel_tools", "vision",     "audio_in",
        "audio_out",      "json_mode",      "structured", "reasoning",
        "prompt_caching", "streaming",      "web_search", "file_input"};
    size_t o = 0;
    out[0] = '\0';
    for (int b = 0; b < 32; b++)
        if (caps & (1u << b))
            o += (size_t)snprintf(out + o, n - o, "%s%s", o ? "," : "",
                                  b < TG_CAP_COUNT ? names[b] : "?");
}

START_TEST(table)
{
    const row *r = &rows[_i];
    cJSON *body = cJSON_Parse(r->body);
    ck_assert_msg(body != NULL, "row %d: bad JSON", _i);
    tg_caps_result res = {0xdead, 77};
    tg_caps_infer(body, r->kind, &res);
    cJSON_Delete(body);
    char got[256], want[256];
    caps_text(res.caps, got, sizeof got);
    caps_text(r->caps, want, sizeof want);
    ck_assert_msg(res.caps == r->caps, "row %d: caps {%s}, want {%s}", _i, got, want);
    ck_assert_msg(res.max_output_tokens == r->max_out, "row %d: max_output_tokens %lld, want %lld",
                  _i, (long long)res.max_output_tokens, (long long)r->max_out);
}
END_TEST

/* Every kind the enum has, and one it does not, on the same rich body: the top-level
 * fields count for all, the conversation only where the kind has one. */
START_TEST(kinds)
{
    cJSON *body = cJSON_Parse("{\"stream\":true,\"max_tokens\":5,\"messages\":[{\"content\":"
                              "[{\"type\":\"image\"}]}],\"input\":[{\"content\":[{\"type\":"
                              "\"input_file\"}]}]}");
    ck_assert_ptr_nonnull(body);
    static const uint32_t want[TG_COUNT_KIND_COUNT_] = {
        TG_CAP_STREAMING | TG_CAP_VISION, TG_CAP_STREAMING, TG_CAP_STREAMING,
        TG_CAP_STREAMING | TG_CAP_FILE_INPUT, TG_CAP_STREAMING | TG_CAP_VISION};
    for (int k = 0; k < TG_COUNT_KIND_COUNT_; k++) {
        tg_caps_result res;
        tg_caps_infer(body, (tg_count_kind)k, &res);
        ck_assert_uint_eq(res.caps, want[k]);
        ck_assert_int_eq(res.max_output_tokens, 5);
    }
    tg_caps_result res;
    tg_caps_infer(body, TG_COUNT_KIND_COUNT_, &res);
    ck_assert_uint_eq(res.caps, TG_CAP_STREAMING);
    tg_caps_infer(NULL, TG_COUNT_CHAT, &res);
    ck_assert_uint_eq(res.caps, 0);
    ck_assert_int_eq(res.max_output_tokens, -1);
    cJSON_Delete(body);
}
END_TEST

static Suite *caps_suite(void)
{
    Suite *s = suite_create("caps");
    TCase *tc = tcase_create("core");
    tcase_add_loop_test(tc, table, 0, NROWS);
    tcase_add_test(tc, kinds);
    suite_add_tcase(s, tc);
    return s;
}

int main(void)
{
    SRunner *sr = srunner_create(caps_suite());
    srunner_run_all(sr, CK_NORMAL);
    int failed = srunner_ntests_failed(sr);
    srunner_free(sr);
    return failed ? EXIT_FAILURE : EXIT_SUCCESS;
}
