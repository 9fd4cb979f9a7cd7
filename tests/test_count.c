/* Tests for tg_count (router/count.h) and `tollgate count` (proxy/cmd_count.c).
 *
 * The anchors are the numbers OpenAI published in its cookbook "How to count tokens with
 * tiktoken" (examples/How_to_count_tokens_with_tiktoken.ipynb), checked there against the
 * API's usage.prompt_tokens: the six-message example is 129 prompt tokens on
 * gpt-3.5-turbo and gpt-4 and 124 on gpt-4o and gpt-4o-mini; the get_current_weather
 * tools example is 105 on gpt-3.5-turbo and gpt-4 and 101 on gpt-4o and gpt-4o-mini.  The
 * bodies are in tests/data/count/cookbook_*.json, exactly as the cookbook sends them.
 *
 * The other expected numbers were computed independently with the js-tiktoken package
 * applying the rules documented in router/count.c; the OpenAI image examples (765 for
 * 1024x1024, 1105 for 2048x4096, 85 for low detail) come from OpenAI's vision guide.
 *
 * The command-line tests run the tollgate binary built next to this test (skipped when it
 * is not there).  TG_TEST_DATA points at tests/data. */
#include <check.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#include "router/count.h"

/* ---------------------------------------------------------------- helpers */

static char *slurp(const char *path)
{
    FILE *f = fopen(path, "rb");
    ck_assert_msg(f != NULL, "cannot open %s", path);
    char *buf = malloc(1 << 20);
    ck_assert_ptr_nonnull(buf);
    size_t n = fread(buf, 1, (1 << 20) - 1, f);
    fclose(f);
    buf[n] = '\0';
    return buf;
}

static char *data_path(const char *name)
{
    const char *dir = getenv("TG_TEST_DATA");
    static char path[PATH_MAX];
    ck_assert_msg(dir != NULL, "TG_TEST_DATA is not set");
    snprintf(path, sizeof path, "%s/count/%s", dir, name);
    return path;
}

static cJSON *parse(const char *json)
{
    cJSON *v = NULL;
    char err[256];
    int rc = tg_count_parse(json, strlen(json), &v, err, sizeof err);
    ck_assert_msg(rc == 0, "parse failed: %s", err);
    return v;
}

static cJSON *load(const char *name)
{
    char *text = slurp(data_path(name));
    cJSON *v = parse(text);
    free(text);
    return v;
}

static tg_count_result count_body(const cJSON *body, tg_count_kind kind, const char *model)
{
    tg_count_result r;
    char err[256];
    int rc = tg_count_request(body, kind, model, &r, err, sizeof err);
    ck_assert_msg(rc == 0, "count failed: %s", err);
    ck_assert_ptr_nonnull(r.bpe);
    return r;
}

static tg_count_result count_json(const char *json, tg_count_kind kind, const char *model)
{
    cJSON *body = parse(json);
    tg_count_result r = count_body(body, kind, model);
    cJSON_Delete(body);
    return r;
}

static void expect_error(const char *json, tg_count_kind kind, const char *model,
                         const char *want)
{
    cJSON *body = parse(json);
    tg_count_result r;
    char err[256];
    int rc = tg_count_request(body, kind, model, &r, err, sizeof err);
    cJSON_Delete(body);
    ck_assert_int_eq(rc, TG_COUNT_EINVAL);
    ck_assert_str_eq(err, want);
    ck_assert_int_eq(r.tokens, 0);
}

/* Minimal base64 encoder for building inline images. */
static char *b64(const unsigned char *p, size_t n)
{
    static const char tab[] =
        "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
    char *out = malloc(4 * ((n + 2) / 3) + 1), *o = out;
    ck_assert_ptr_nonnull(out);
    for (size_t i = 0; i < n; i += 3) {
        unsigned v =
            (unsigned)p[i] << 16 | (i + 1 < n ? p[i + 1] << 8 : 0) | (i + 2 < n ? p[i + 2] : 0);
        *o++ = tab[v >> 18 & 63];
        *o++ = tab[v >> 12 & 63];
        *o++ = i + 1 < n ? tab[v >> 6 & 63] : '=';
        *o++ = i + 2 < n ? tab[v & 63] : '=';
    }
    *o = '\0';
    return out;
}

/* clang-format off */
/* The start of a PNG (signature and IHDR), enough for its size. */
static char *png_b64(unsigned w, unsigned h)
{
    unsigned char b[33] = {0x89, 'P', 'N', 'G', '\r', '\n', 0x1a, '\n', 0, 0, 0, 13,
                           'I', 'H', 'D', 'R'};
    for (int i = 0; i < 4; i++) {
        b[16 + i] = (unsigned char)(w >> (24 - 8 * i));
        b[20 + i] = (unsigned char)(h >> (24 - 8 * i));
    }
    b[24] = 8;
    b[25] = 6;
    return b64(b, sizeof b);
}

static char *jpeg_b64(unsigned w, unsigned h)
{
    unsigned char b[] = {0xFF, 0xD8,                                      /* SOI */
                         0xFF, 0xE0, 0, 16, 'J', 'F', 'I', 'F', 0, 1, 1, 0, 0, 1, 0, 1,
                         0, 0,                                            /* APP0 */
                         0xFF, 0xC0, 0, 17, 8, (unsigned char)(h >> 8), (unsigned char)h,
                         (unsigned char)(w >> 8), (unsigned char)w, 3,   /* SOF0 */
                         1, 0x22, 0, 2, 0x11, 1, 3, 0x11, 1};
    return b64(b, sizeof b);
}

static char *gif_b64(unsigned w, unsigned h)
{
    unsigned char b[13] = {'G', 'I', 'F', '8', '9', 'a', (unsigned char)w,
                           (unsigned char)(w >> 8), (unsigned char)h, (unsigned char)(h >> 8)};
    return b64(b, sizeof b);
}

static char *webp_b64(unsigned w, unsigned h)
{
    unsigned char b[30] = {'R', 'I', 'F', 'F', 22, 0, 0, 0, 'W', 'E', 'B', 'P',
                           'V', 'P', '8', 'X', 10, 0, 0, 0, 0, 0, 0, 0};
    w--, h--;
    b[24] = (unsigned char)w, b[25] = (unsigned char)(w >> 8), b[26] = (unsigned char)(w >> 16);
    b[27] = (unsigned char)h, b[28] = (unsigned char)(h >> 8), b[29] = (unsigned char)(h >> 16);
    return b64(b, sizeof b);
}

/* clang-format on */

/* A chat body with one user message holding one image_url part. */
static int64_t image_tokens(const char *model, const char *mime, char *data, const char *detail,
                            bool *exact)
{
    char *json = malloc(strlen(data) + 512);
    ck_assert_ptr_nonnull(json);
    sprintf(json,
            "{\"messages\":[{\"role\":\"user\",\"content\":[{\"type\":\"image_url\","
            "\"image_url\":{\"url\":\"%s%s%s\"%s%s%s}}]}]}",
            mime ? "data:" : "", mime ? mime : "", data, detail ? ",\"detail\":\"" : "",
            detail ? detail : "", detail ? "\"" : "");
    free(data);
    tg_count_result r = count_json(json, TG_COUNT_CHAT, model);
    free(json);
    ck_assert_int_eq(r.images, 1);
    *exact = r.exact;
    return r.image_tokens;
}

/* ---------------------------------------------------------------- cookbook */

START_TEST(cookbook_messages)
{
    cJSON *body = load("cookbook_messages.json");
    static const struct {
        const char *model;
        int64_t want;
        const char *enc;
    } cases[] = {
        {"gpt-3.5-turbo", 129, "cl100k_base"}, {"gpt-4-0613", 129, "cl100k_base"},
        {"gpt-4", 129, "cl100k_base"},         {"gpt-4o", 124, "o200k_base"},
        {"gpt-4o-mini", 124, "o200k_base"},
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        tg_count_result r = count_body(body, TG_COUNT_CHAT, cases[i].model);
        ck_assert_msg(r.tokens == cases[i].want, "%s: %lld, want %lld", cases[i].model,
                      (long long)r.tokens, (long long)cases[i].want);
        ck_assert_str_eq(tg_bpe_name(r.bpe), cases[i].enc);
        ck_assert(r.exact);
        ck_assert_int_eq(r.tool_tokens, 0);
    }
    /* Without an override, the body's own "model" (gpt-4o) decides. */
    ck_assert_int_eq(count_body(body, TG_COUNT_CHAT, NULL).tokens, 124);
    cJSON_Delete(body);
}
END_TEST

START_TEST(cookbook_tools)
{
    cJSON *body = load("cookbook_tools.json");
    static const struct {
        const char *model;
        int64_t want, tools;
    } cases[] = {
        {"gpt-3.5-turbo", 105, 71},
        {"gpt-4", 105, 71},
        {"gpt-4o", 101, 68},
        {"gpt-4o-mini", 101, 68},
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        tg_count_result r = count_body(body, TG_COUNT_CHAT, cases[i].model);
        ck_assert_msg(r.tokens == cases[i].want, "%s: %lld, want %lld", cases[i].model,
                      (long long)r.tokens, (long long)cases[i].want);
        ck_assert_int_eq(r.tool_tokens, cases[i].tools);
        ck_assert(r.exact);
    }
    /* gpt-4.1's tool overheads were not published: same count, but an estimate. */
    tg_count_result r = count_body(body, TG_COUNT_CHAT, "gpt-4.1");
    ck_assert_int_eq(r.tokens, 101);
    ck_assert(!r.exact);
    cJSON_Delete(body);
}
END_TEST

/* The same function through the legacy "functions" field and the Responses-style flat
 * tool shape counts the same. */
START_TEST(tool_shapes)
{
    tg_count_result r = count_json(
        "{\"messages\":[],\"functions\":[{\"name\":\"get_current_weather\",\"description\":"
        "\"Get the current weather in a given location\",\"parameters\":{\"type\":\"object\","
        "\"properties\":{\"location\":{\"type\":\"string\",\"description\":\"The city and "
        "state, e.g. San Francisco, CA\"},\"unit\":{\"type\":\"string\",\"description\":\"The "
        "unit of temperature to return\",\"enum\":[\"celsius\",\"fahrenheit\"]}},"
        "\"required\":[\"location\"]}}]}",
        TG_COUNT_CHAT, "gpt-4o");
    ck_assert_int_eq(r.tool_tokens, 68);
    ck_assert_int_eq(r.tokens, 3 + 68);
    /* A trailing '.' on the description is dropped, as the cookbook does. */
    r = count_json("{\"messages\":[],\"tools\":[{\"type\":\"function\",\"name\":\"f\","
                   "\"description\":\"Do it.\"}]}",
                   TG_COUNT_CHAT, "gpt-4o");
    tg_count_result r2 =
        count_json("{\"messages\":[],\"tools\":[{\"type\":\"function\","
                   "\"function\":{\"name\":\"f\",\"description\":\"Do it\"}}]}",
                   TG_COUNT_CHAT, "gpt-4o");
    ck_assert_int_eq(r.tokens, r2.tokens);
    ck_assert(r2.exact);
    /* Nested schemas add their JSON and make the count an estimate. */
    r = count_json(
        "{\"messages\":[],\"tools\":[{\"type\":\"function\",\"function\":{"
        "\"name\":\"f\",\"description\":\"Do it\",\"parameters\":{\"type\":\"object\","
        "\"properties\":{\"xs\":{\"type\":\"array\",\"description\":\"list\","
        "\"items\":{\"type\":\"string\"}}}}}}]}",
        TG_COUNT_CHAT, "gpt-4o");
    ck_assert(!r.exact);
    ck_assert_int_gt(r.tool_tokens, r2.tool_tokens + 3 + 3 + 3);
}
END_TEST

/* ---------------------------------------------------------------- chat */

START_TEST(chat_name)
{
    tg_count_result r =
        count_json("{\"model\":\"gpt-4o\",\"messages\":[{\"role\":\"user\",\"name\":\"bob\","
                   "\"content\":\"hi\"}]}",
                   TG_COUNT_CHAT, NULL);
    ck_assert_int_eq(r.tokens, 10);
    ck_assert(r.exact);
    /* Null and empty fields, as SDKs echo them back, change nothing. */
    r = count_json("{\"model\":\"gpt-4o\",\"messages\":[{\"role\":\"user\",\"name\":\"bob\","
                   "\"content\":\"hi\",\"refusal\":null,\"annotations\":[],\"tool_calls\":null,"
                   "\"function_call\":null}]}",
                   TG_COUNT_CHAT, NULL);
    ck_assert_int_eq(r.tokens, 10);
    ck_assert(r.exact);
}
END_TEST

START_TEST(chat_tool_calls)
{
    tg_count_result r = count_json(
        "{\"model\":\"gpt-4o\",\"messages\":["
        "{\"role\":\"user\",\"content\":\"What's the weather in Paris?\"},"
        "{\"role\":\"assistant\",\"content\":null,\"tool_calls\":[{\"id\":\"call_1\","
        "\"type\":\"function\",\"function\":{\"name\":\"get_current_weather\","
        "\"arguments\":\"{\\\"location\\\":\\\"Paris, FR\\\"}\"}}]},"
        "{\"role\":\"tool\",\"tool_call_id\":\"call_1\",\"content\":\"22 C and sunny\"}]}",
        TG_COUNT_CHAT, NULL);
    ck_assert_int_eq(r.tokens, 41);
    ck_assert(!r.exact);
}
END_TEST

START_TEST(chat_multipart)
{
    tg_count_result r = count_json(
        "{\"model\":\"gpt-4o\",\"messages\":[{\"role\":\"user\",\"content\":["
        "{\"type\":\"text\",\"text\":\"Describe\"},{\"type\":\"text\",\"text\":\" this "
        "image.\"},"
        "{\"type\":\"image_url\",\"image_url\":{\"url\":\"https://example.com/a.png\","
        "\"detail\":\"low\"}}]}]}",
        TG_COUNT_CHAT, NULL);
    ck_assert_int_eq(r.tokens, 11 + 85);
    ck_assert_int_eq(r.image_tokens, 85);
    ck_assert_int_eq(r.images, 1);
    ck_assert(r.exact);
    /* Unknown audio and file parts are not counted and make it an estimate. */
    r = count_json("{\"model\":\"gpt-4o\",\"messages\":[{\"role\":\"user\",\"content\":["
                   "{\"type\":\"input_audio\",\"input_audio\":{\"data\":\"AAAA\","
                   "\"format\":\"wav\"}}]}]}",
                   TG_COUNT_CHAT, NULL);
    ck_assert(!r.exact);
}
END_TEST

START_TEST(chat_images)
{
    bool exact;
    /* OpenAI's vision guide: 1024x1024 high = 765; 2048x4096 high = 1105; low = 85. */
    ck_assert_int_eq(
        image_tokens("gpt-4o", "image/png;base64,", png_b64(1024, 1024), "high", &exact), 765);
    ck_assert(exact);
    ck_assert_int_eq(
        image_tokens("gpt-4o", "image/png;base64,", png_b64(2048, 4096), NULL, &exact), 1105);
    ck_assert(exact);
    ck_assert_int_eq(
        image_tokens("gpt-4o", "image/png;base64,", png_b64(4096, 8192), "low", &exact), 85);
    /* Other formats: 512x512 = 1 tile; 600x400 = 2 tiles; 1500x700 = 6 tiles. */
    ck_assert_int_eq(
        image_tokens("gpt-4o", "image/jpeg;base64,", jpeg_b64(512, 512), NULL, &exact), 255);
    ck_assert(exact);
    ck_assert_int_eq(
        image_tokens("gpt-4o", "image/gif;base64,", gif_b64(600, 400), NULL, &exact), 425);
    ck_assert_int_eq(
        image_tokens("gpt-4o", "image/webp;base64,", webp_b64(1500, 700), NULL, &exact), 1105);
    /* A URL: the size is unknown, so the worst case (8 tiles) and an estimate. */
    ck_assert_int_eq(
        image_tokens("gpt-4o", NULL, strdup("https://example.com/cat.png"), "high", &exact),
        85 + 8 * 170);
    ck_assert(!exact);
    /* gpt-4o-mini bills images at 2833 + 5667 per tile. */
    ck_assert_int_eq(
        image_tokens("gpt-4o-mini", "image/png;base64,", png_b64(512, 512), NULL, &exact),
        2833 + 5667);
    ck_assert_int_eq(
        image_tokens("gpt-4o-mini", NULL, strdup("https://x/y.png"), "low", &exact), 2833);
    ck_assert(exact);
    /* Patch-billed: 1024x1024 = 1024 patches x 1.62; a URL counts the 1536-patch cap. */
    ck_assert_int_eq(
        image_tokens("gpt-4.1-mini", "image/png;base64,", png_b64(1024, 1024), NULL, &exact),
        1659);
    ck_assert(exact);
    ck_assert_int_eq(
        image_tokens("gpt-4.1-mini", NULL, strdup("https://x/y.png"), "low", &exact), 2489);
    ck_assert(!exact);
    ck_assert_int_le(
        image_tokens("gpt-4.1-mini", "image/png;base64,", png_b64(8000, 6000), NULL, &exact),
        2489);
    /* Data that is not an image of a known format: the worst case. */
    ck_assert_int_eq(
        image_tokens("gpt-4o", "image/png;base64,", strdup("AAAAAAAAAAAAAAAA"), NULL, &exact),
        85 + 8 * 170);
    ck_assert(!exact);
}
END_TEST

START_TEST(chat_unknown_model)
{
    cJSON *body = load("cookbook_messages.json");
    tg_count_result r = count_body(body, TG_COUNT_CHAT, "llama-3-70b");
    ck_assert_int_eq(r.tokens, 124); /* o200k_base */
    ck_assert_str_eq(tg_bpe_name(r.bpe), "o200k_base");
    ck_assert(!r.exact);
    cJSON_DeleteItemFromObject(body, "model");
    r = count_body(body, TG_COUNT_CHAT, NULL);
    ck_assert_int_eq(r.tokens, 124);
    ck_assert(!r.exact);
    /* A provider prefix is ignored. */
    r = count_body(body, TG_COUNT_CHAT, "openai/gpt-4");
    ck_assert_int_eq(r.tokens, 129);
    ck_assert(r.exact);
    cJSON_Delete(body);
}
END_TEST

/* ---------------------------------------------------------------- other APIs */

START_TEST(completions)
{
    tg_count_result r = count_json("{\"model\":\"gpt-3.5-turbo-instruct\","
                                   "\"prompt\":\"Say this is a test\"}",
                                   TG_COUNT_COMPLETIONS, NULL);
    ck_assert_int_eq(r.tokens, 5);
    ck_assert_str_eq(tg_bpe_name(r.bpe), "cl100k_base");
    ck_assert(r.exact);
    r = count_json("{\"prompt\":[\"Hello world\",\"Goodbye\"],\"suffix\":\" the end\"}",
                   TG_COUNT_COMPLETIONS, "gpt-4o");
    ck_assert_int_eq(r.tokens, 4 + 2);
    r = count_json("{\"prompt\":[1,2,3]}", TG_COUNT_COMPLETIONS, "gpt-4o");
    ck_assert_int_eq(r.tokens, 3);
    r = count_json("{\"prompt\":[[1,2],[3],[]]}", TG_COUNT_COMPLETIONS, "gpt-4o");
    ck_assert_int_eq(r.tokens, 3);
    r = count_json("{\"prompt\":[]}", TG_COUNT_COMPLETIONS, "gpt-4o");
    ck_assert_int_eq(r.tokens, 0);
}
END_TEST

START_TEST(embeddings)
{
    static const char jp[] = "\xe3\x81\x8a\xe8\xaa\x95\xe7\x94\x9f\xe6\x97\xa5\xe3\x81\x8a"
                             "\xe3\x82\x81\xe3\x81\xa7\xe3\x81\xa8\xe3\x81\x86";
    char json[256];
    snprintf(json, sizeof json, "{\"model\":\"text-embedding-3-small\",\"input\":\"%s\"}", jp);
    tg_count_result r = count_json(json, TG_COUNT_EMBEDDINGS, NULL);
    ck_assert_int_eq(r.tokens, 9); /* cookbook: cl100k_base, 9 tokens */
    ck_assert(r.exact);
    r = count_json(json, TG_COUNT_EMBEDDINGS, "gpt-4o");
    ck_assert_int_eq(r.tokens, 8); /* cookbook: o200k_base, 8 tokens */
    r = count_json("{\"model\":\"text-embedding-ada-002\",\"input\":[\"first text\","
                   "\"second text\"]}",
                   TG_COUNT_EMBEDDINGS, NULL);
    ck_assert_int_eq(r.tokens, 4);
    r = count_json("{\"model\":\"text-embedding-3-large\",\"input\":[[1,2,3],[4]]}",
                   TG_COUNT_EMBEDDINGS, NULL);
    ck_assert_int_eq(r.tokens, 4);
    ck_assert(r.exact);
}
END_TEST

START_TEST(responses)
{
    tg_count_result r = count_json("{\"model\":\"gpt-4o\",\"instructions\":\"Be brief.\","
                                   "\"input\":\"Hello\"}",
                                   TG_COUNT_RESPONSES, NULL);
    ck_assert_int_eq(r.tokens, 15);
    ck_assert(!r.exact);
    r = count_json(
        "{\"model\":\"gpt-4o\",\"input\":["
        "{\"role\":\"user\",\"content\":[{\"type\":\"input_text\",\"text\":\"hi\"}]},"
        "{\"type\":\"function_call\",\"call_id\":\"c1\",\"name\":\"f\","
        "\"arguments\":\"{}\"},"
        "{\"type\":\"function_call_output\",\"call_id\":\"c1\",\"output\":\"ok\"}]}",
        TG_COUNT_RESPONSES, NULL);
    ck_assert_int_eq(r.tokens, 17);
    /* Images by URL string with detail low; flat function tools. */
    r = count_json("{\"model\":\"gpt-4o\",\"input\":[{\"type\":\"message\",\"role\":\"user\","
                   "\"content\":[{\"type\":\"input_image\",\"image_url\":\"https://x/y.png\","
                   "\"detail\":\"low\"}]}],\"tools\":[{\"type\":\"function\",\"name\":\"f\","
                   "\"description\":\"Do it\"}]}",
                   TG_COUNT_RESPONSES, NULL);
    ck_assert_int_eq(r.image_tokens, 85);
    ck_assert_int_gt(r.tool_tokens, 7 + 12);
}
END_TEST

START_TEST(anthropic)
{
    static const char base[] =
        "{\"model\":\"claude-sonnet-4-5\",\"max_tokens\":1024,\"system\":\"You are terse.\","
        "\"messages\":[{\"role\":\"user\",\"content\":\"Hello, Claude\"},"
        "{\"role\":\"assistant\",\"content\":[{\"type\":\"text\",\"text\":\"Hi.\"}]}]";
    char json[1024];
    snprintf(json, sizeof json, "%s}", base);
    tg_count_result r = count_json(json, TG_COUNT_ANTHROPIC_MESSAGES, NULL);
    ck_assert_int_eq(r.tokens, 23);
    ck_assert_str_eq(tg_bpe_name(r.bpe), "o200k_base");
    ck_assert(!r.exact);
    snprintf(json, sizeof json,
             "%s,\"tools\":[{\"name\":\"get_weather\",\"description\":\"Get the weather\","
             "\"input_schema\":{\"type\":\"object\",\"properties\":{\"location\":{\"type\":"
             "\"string\"}},\"required\":[\"location\"]}}]}",
             base);
    r = count_json(json, TG_COUNT_ANTHROPIC_MESSAGES, NULL);
    ck_assert_int_eq(r.tokens, 393);
    ck_assert_int_eq(r.tool_tokens, 370);
    /* System as blocks; an image block of known size: 1000x750 px / 750 = 1000. */
    char *png = png_b64(1000, 750);
    snprintf(json, sizeof json,
             "{\"system\":[{\"type\":\"text\",\"text\":\"You are terse.\"}],\"messages\":["
             "{\"role\":\"user\",\"content\":[{\"type\":\"text\",\"text\":\"Look\"},"
             "{\"type\":\"image\",\"source\":{\"type\":\"base64\",\"media_type\":\"image/png\","
             "\"data\":\"%s\"}}]}]}",
             png);
    free(png);
    r = count_json(json, TG_COUNT_ANTHROPIC_MESSAGES, NULL);
    ck_assert_int_eq(r.tokens, 15 + 1000);
    ck_assert_int_eq(r.image_tokens, 1000);
    /* tool_use and tool_result blocks. */
    r = count_json(
        "{\"messages\":[{\"role\":\"assistant\",\"content\":[{\"type\":\"tool_use\","
        "\"id\":\"t1\",\"name\":\"get_weather\",\"input\":{\"location\":\"Paris\"}}]},"
        "{\"role\":\"user\",\"content\":[{\"type\":\"tool_result\",\"tool_use_id\":"
        "\"t1\",\"content\":[{\"type\":\"text\",\"text\":\"22 C\"}]}]}]}",
        TG_COUNT_ANTHROPIC_MESSAGES, NULL);
    ck_assert_int_eq(r.tokens, 20);
    /* A plain-text document counts its text. */
    r = count_json("{\"messages\":[{\"role\":\"user\",\"content\":[{\"type\":\"document\","
                   "\"source\":{\"type\":\"text\",\"media_type\":\"text/plain\","
                   "\"data\":\"The grass is green.\"}}]}]}",
                   TG_COUNT_ANTHROPIC_MESSAGES, NULL);
    ck_assert_int_eq(r.tokens, 12);
}
END_TEST

/* ---------------------------------------------------------------- errors */

START_TEST(errors_chat)
{
    expect_error("[1,2]", TG_COUNT_CHAT, NULL, "body: expected a JSON object");
    expect_error("{\"model\":\"gpt-4o\"}", TG_COUNT_CHAT, NULL, "messages: missing");
    expect_error("{\"messages\":{}}", TG_COUNT_CHAT, NULL,
                 "messages: expected an array of messages");
    expect_error("{\"messages\":[\"hi\"]}", TG_COUNT_CHAT, NULL,
                 "messages[0]: expected a message object");
    expect_error("{\"messages\":[{\"content\":\"hi\"}]}", TG_COUNT_CHAT, NULL,
                 "messages[0].role: missing");
    expect_error("{\"messages\":[{\"role\":7,\"content\":\"hi\"}]}", TG_COUNT_CHAT, NULL,
                 "messages[0].role: expected a string");
    expect_error("{\"messages\":[{\"role\":\"user\",\"role\":7}]}", TG_COUNT_CHAT, NULL,
                 "messages[0].role: expected a string");
    expect_error("{\"messages\":[{\"role\":\"system\",\"content\":\"a\"},{\"role\":\"user\","
                 "\"content\":\"b\"},{\"role\":\"user\",\"content\":42}]}",
                 TG_COUNT_CHAT, NULL,
                 "messages[2].content: expected a string or an array of content parts");
    expect_error("{\"messages\":[{\"role\":\"user\",\"content\":[{\"type\":\"text\","
                 "\"text\":\"a\"},\"b\"]}]}",
                 TG_COUNT_CHAT, NULL, "messages[0].content[1]: expected a content part object");
    expect_error("{\"messages\":[{\"role\":\"user\",\"content\":[{\"text\":\"a\"}]}]}",
                 TG_COUNT_CHAT, NULL, "messages[0].content[0].type: missing");
    expect_error("{\"messages\":[{\"role\":\"user\",\"content\":[{\"type\":\"text\"}]}]}",
                 TG_COUNT_CHAT, NULL, "messages[0].content[0].text: missing");
    expect_error("{\"messages\":[{\"role\":\"user\",\"content\":[{\"type\":\"image_url\","
                 "\"image_url\":{\"detail\":\"low\"}}]}]}",
                 TG_COUNT_CHAT, NULL, "messages[0].content[0].image_url.url: missing");
    expect_error("{\"messages\":[{\"role\":\"user\",\"name\":1,\"content\":\"a\"}]}",
                 TG_COUNT_CHAT, NULL, "messages[0].name: expected a string");
    expect_error("{\"messages\":[{\"role\":\"user\",\"content\":\"a\"},{\"role\":\"assistant\","
                 "\"tool_calls\":{}}]}",
                 TG_COUNT_CHAT, NULL,
                 "messages[1].tool_calls: expected an array of tool calls");
    expect_error("{\"messages\":[{\"role\":\"assistant\",\"tool_calls\":[{\"id\":\"x\","
                 "\"function\":{\"arguments\":\"{}\"}}]}]}",
                 TG_COUNT_CHAT, NULL, "messages[0].tool_calls[0].function.name: missing");
    expect_error("{\"model\":4,\"messages\":[]}", TG_COUNT_CHAT, NULL,
                 "model: expected a string");
}
END_TEST

START_TEST(errors_tools)
{
    expect_error("{\"messages\":[],\"tools\":{}}", TG_COUNT_CHAT, NULL,
                 "tools: expected an array of tools");
    expect_error("{\"messages\":[],\"tools\":[{\"type\":\"function\",\"function\":"
                 "{\"description\":\"d\"}}]}",
                 TG_COUNT_CHAT, NULL, "tools[0].function.name: missing");
    expect_error("{\"messages\":[],\"tools\":[{\"type\":\"function\",\"function\":{\"name\":"
                 "\"f\",\"parameters\":{\"properties\":{\"location\":\"string\"}}}}]}",
                 TG_COUNT_CHAT, NULL,
                 "tools[0].function.parameters.properties.location: expected a schema object");
    expect_error("{\"messages\":[],\"tools\":[{\"type\":\"function\",\"function\":{\"name\":"
                 "\"f\",\"parameters\":{\"properties\":{\"unit\":{\"type\":\"string\","
                 "\"enum\":\"celsius\"}}}}}]}",
                 TG_COUNT_CHAT, NULL,
                 "tools[0].function.parameters.properties.unit.enum: expected an array");
    expect_error("{\"messages\":[],\"functions\":[{\"name\":\"f\",\"description\":3}]}",
                 TG_COUNT_CHAT, NULL, "functions[0].description: expected a string");
}
END_TEST

START_TEST(errors_other)
{
    expect_error("{\"model\":\"gpt-4o\"}", TG_COUNT_COMPLETIONS, NULL, "prompt: missing");
    expect_error("{\"prompt\":42}", TG_COUNT_COMPLETIONS, NULL,
                 "prompt: expected a string, an array of strings or an array of token ids");
    expect_error("{\"prompt\":[1,-2]}", TG_COUNT_COMPLETIONS, NULL,
                 "prompt[1]: expected a token id (a non-negative integer)");
    expect_error("{\"prompt\":[\"a\",3]}", TG_COUNT_COMPLETIONS, NULL,
                 "prompt[1]: expected a string or an array of token ids");
    expect_error("{\"prompt\":[[1,2.5]]}", TG_COUNT_COMPLETIONS, NULL,
                 "prompt[0][1]: expected a token id (a non-negative integer)");
    expect_error("{\"model\":\"text-embedding-3-small\"}", TG_COUNT_EMBEDDINGS, NULL,
                 "input: missing");
    expect_error("{\"input\":42}", TG_COUNT_RESPONSES, NULL,
                 "input: expected a string or an array of input items");
    expect_error("{\"input\":[{\"type\":\"message\",\"content\":\"hi\"}]}", TG_COUNT_RESPONSES,
                 NULL, "input[0].role: missing");
    expect_error("{\"instructions\":[1]}", TG_COUNT_RESPONSES, NULL,
                 "instructions: expected a string");
    expect_error("{\"messages\":[{\"role\":\"user\"}]}", TG_COUNT_ANTHROPIC_MESSAGES, NULL,
                 "messages[0].content: missing");
    expect_error("{\"messages\":[{\"role\":\"user\",\"content\":{}}]}",
                 TG_COUNT_ANTHROPIC_MESSAGES, NULL,
                 "messages[0].content: expected a string or an array of content blocks");
    expect_error("{\"messages\":[{\"role\":\"user\",\"content\":[{\"text\":\"a\"}]}]}",
                 TG_COUNT_ANTHROPIC_MESSAGES, NULL, "messages[0].content[0].type: missing");
    expect_error("{\"system\":5,\"messages\":[]}", TG_COUNT_ANTHROPIC_MESSAGES, NULL,
                 "system: expected a string or an array of content blocks");
}
END_TEST

START_TEST(parse_errors)
{
    cJSON *v;
    char err[256];
    ck_assert_int_eq(tg_count_parse("{\n  \"a\": ]}", 11, &v, err, sizeof err),
                     TG_COUNT_EINVAL);
    ck_assert_ptr_null(v);
    ck_assert_str_eq(err, "malformed JSON at line 2, column 8");
    ck_assert_int_eq(tg_count_parse("{} x", 4, &v, err, sizeof err), TG_COUNT_EINVAL);
    ck_assert_str_eq(err,
                     "malformed JSON at line 1, column 4: unexpected text after the value");
    ck_assert_int_eq(tg_count_parse("{\"a\":", 5, &v, err, sizeof err), TG_COUNT_EINVAL);
    ck_assert_str_eq(err, "malformed JSON: unexpected end of input");
    ck_assert_int_eq(tg_count_parse("", 0, &v, err, sizeof err), TG_COUNT_EINVAL);
    /* Not NUL-terminated: only len bytes are read. */
    ck_assert_int_eq(tg_count_parse("{}garbage", 2, &v, err, sizeof err), 0);
    cJSON_Delete(v);
    ck_assert_int_eq(tg_count_parse(" {} \n", 5, &v, err, sizeof err), 0);
    cJSON_Delete(v);
    size_t big = TG_COUNT_MAX_BODY + 1;
    char *text = malloc(big);
    ck_assert_ptr_nonnull(text);
    memset(text, ' ', big);
    ck_assert_int_eq(tg_count_parse(text, big, &v, err, sizeof err), TG_COUNT_ETOOBIG);
    ck_assert_str_eq(err, "body is larger than the 32 MiB limit");
    free(text);
}
END_TEST

/* ---------------------------------------------------------------- kinds */

static tg_count_kind detect(const char *json)
{
    cJSON *body = parse(json);
    tg_count_kind k = TG_COUNT_KIND_COUNT_;
    char err[256];
    ck_assert_int_eq(tg_count_detect(body, &k, err, sizeof err), 0);
    cJSON_Delete(body);
    return k;
}

START_TEST(kinds)
{
    ck_assert_int_eq(detect("{\"model\":\"gpt-4o\",\"messages\":[]}"), TG_COUNT_CHAT);
    ck_assert_int_eq(detect("{\"model\":\"claude-x\",\"system\":\"s\",\"messages\":[]}"),
                     TG_COUNT_ANTHROPIC_MESSAGES);
    ck_assert_int_eq(detect("{\"anthropic_version\":\"vertex-2023-10-16\",\"messages\":[]}"),
                     TG_COUNT_ANTHROPIC_MESSAGES);
    ck_assert_int_eq(detect("{\"prompt\":\"a\"}"), TG_COUNT_COMPLETIONS);
    ck_assert_int_eq(detect("{\"model\":\"text-embedding-3-small\",\"input\":\"a\"}"),
                     TG_COUNT_EMBEDDINGS);
    ck_assert_int_eq(detect("{\"model\":\"gpt-4o\",\"input\":\"a\"}"), TG_COUNT_RESPONSES);
    ck_assert_int_eq(detect("{\"prompt\":{\"id\":\"pmpt_1\"}}"), TG_COUNT_RESPONSES);

    cJSON *body = parse("{\"model\":\"gpt-4o\"}");
    tg_count_kind k;
    char err[256];
    ck_assert_int_eq(tg_count_detect(body, &k, err, sizeof err), TG_COUNT_EINVAL);
    ck_assert_str_eq(err, "body: not a request this counts: no \"messages\", \"prompt\" or "
                          "\"input\"");
    cJSON_Delete(body);

    ck_assert_int_eq(tg_count_kind_for_path("/v1/chat/completions", &k), 0);
    ck_assert_int_eq(k, TG_COUNT_CHAT);
    ck_assert_int_eq(tg_count_kind_for_path("/v1/messages?beta=true", &k), 0);
    ck_assert_int_eq(k, TG_COUNT_ANTHROPIC_MESSAGES);
    ck_assert_int_eq(tg_count_kind_for_path("/v1/chat", &k), -1);
    ck_assert_int_eq(tg_count_kind_parse("embeddings", &k), 0);
    ck_assert_int_eq(k, TG_COUNT_EMBEDDINGS);
    ck_assert_int_eq(tg_count_kind_parse("anthropic", &k), -1);
    ck_assert_str_eq(tg_count_kind_name(TG_COUNT_RESPONSES), "responses");
    ck_assert_str_eq(tg_count_kind_name(TG_COUNT_KIND_COUNT_), "?");
}
END_TEST

/* ---------------------------------------------------------------- command line */

static char tollgate_bin[PATH_MAX + 32];

static bool find_tollgate(void)
{
    char self[PATH_MAX];
    ssize_t n = readlink("/proc/self/exe", self, sizeof self - 1);
    if (n <= 0)
        return false;
    self[n] = '\0';
    char *slash = strrchr(self, '/');
    if (!slash)
        return false;
    *slash = '\0';
    snprintf(tollgate_bin, sizeof tollgate_bin, "%s/../proxy/tollgate", self);
    return access(tollgate_bin, X_OK) == 0;
}

/* Runs `sh -c "<prefix> tollgate count <args>"`; returns the exit code, stdout in out and
 * stderr in err. */
static int run_count(const char *prefix, const char *args, char *out, size_t outlen, char *err,
                     size_t errlen)
{
    char errfile[] = "/tmp/tg_count_errXXXXXX";
    int fd = mkstemp(errfile);
    ck_assert_int_ge(fd, 0);
    close(fd);
    char cmd[2 * PATH_MAX + 512];
    snprintf(cmd, sizeof cmd, "%s '%s' count %s 2>%s", prefix, tollgate_bin, args, errfile);
    FILE *p = popen(cmd, "r");
    ck_assert_ptr_nonnull(p);
    size_t n = fread(out, 1, outlen - 1, p);
    out[n] = '\0';
    int st = pclose(p);
    FILE *f = fopen(errfile, "r");
    ck_assert_ptr_nonnull(f);
    n = fread(err, 1, errlen - 1, f);
    err[n] = '\0';
    fclose(f);
    unlink(errfile);
    return WIFEXITED(st) ? WEXITSTATUS(st) : -1;
}

START_TEST(cli)
{
    if (!find_tollgate()) {
        fprintf(stderr,
                "test_count: no tollgate binary next to the tests; CLI tests skipped\n");
        return;
    }
    char out[4096], err[4096], args[PATH_MAX + 64];
    const char *msgs = data_path("cookbook_messages.json");

    snprintf(args, sizeof args, "'%s'", msgs);
    ck_assert_int_eq(run_count("", args, out, sizeof out, err, sizeof err), 0);
    ck_assert_str_eq(out, "124\n");
    ck_assert_str_eq(err, "");

    snprintf(args, sizeof args, "--model gpt-4 '%s'", msgs);
    ck_assert_int_eq(run_count("", args, out, sizeof out, err, sizeof err), 0);
    ck_assert_str_eq(out, "129\n");

    snprintf(args, sizeof args, "--model=gpt-3.5-turbo - < '%s'", msgs);
    ck_assert_int_eq(run_count("", args, out, sizeof out, err, sizeof err), 0);
    ck_assert_str_eq(out, "129\n");

    snprintf(args, sizeof args, "--model gpt-4o-mini < '%s'", data_path("cookbook_tools.json"));
    ck_assert_int_eq(run_count("", args, out, sizeof out, err, sizeof err), 0);
    ck_assert_str_eq(out, "101\n");

    snprintf(args, sizeof args, "--json '%s'", data_path("cookbook_tools.json"));
    ck_assert_int_eq(run_count("", args, out, sizeof out, err, sizeof err), 0);
    ck_assert_str_eq(out,
                     "{\"tokens\":101,\"exact\":true,\"api\":\"chat\",\"encoding\":"
                     "\"o200k_base\",\"image_tokens\":0,\"tool_tokens\":68,\"images\":0}\n");

    ck_assert_int_eq(run_count("printf '{\"messages\":[{\"role\":\"user\",\"content\":"
                               "\"Hello, Claude\"}]}' |",
                               "--api messages", out, sizeof out, err, sizeof err),
                     0);
    ck_assert_str_eq(out, "10\n");

    /* Usage errors: 2. */
    ck_assert_int_eq(run_count("", "--bogus", out, sizeof out, err, sizeof err), 2);
    ck_assert_ptr_nonnull(strstr(err, "unknown option '--bogus'"));
    ck_assert_int_eq(run_count("", "--api foo x.json", out, sizeof out, err, sizeof err), 2);
    ck_assert_int_eq(run_count("", "a.json b.json", out, sizeof out, err, sizeof err), 2);
    ck_assert_int_eq(run_count("", "--model", out, sizeof out, err, sizeof err), 2);
    ck_assert_int_eq(run_count("", "--help", out, sizeof out, err, sizeof err), 0);
    ck_assert_ptr_nonnull(strstr(out, "usage: tollgate count"));

    /* User errors: 1, one line naming the JSON path. */
    ck_assert_int_eq(
        run_count("printf '{\"messages\": [' |", "", out, sizeof out, err, sizeof err), 1);
    ck_assert_str_eq(err, "tollgate count: <stdin>: malformed JSON: unexpected end of input\n");
    ck_assert_str_eq(out, "");
    ck_assert_int_eq(run_count("printf '{\"messages\":[{\"role\":\"user\",\"content\":1}]}' |",
                               "", out, sizeof out, err, sizeof err),
                     1);
    ck_assert_str_eq(err, "tollgate count: <stdin>: messages[0].content: expected a string or "
                          "an array of content parts\n");
    ck_assert_int_eq(
        run_count("printf '{\"model\":\"gpt-4o\"}' |", "", out, sizeof out, err, sizeof err),
        1);
    ck_assert_int_eq(run_count("", "/nonexistent/body.json", out, sizeof out, err, sizeof err),
                     1);
    ck_assert_ptr_nonnull(strstr(err, "/nonexistent/body.json"));
    ck_assert_int_eq(
        run_count("head -c 33554433 /dev/zero |", "", out, sizeof out, err, sizeof err), 1);
    ck_assert_str_eq(err, "tollgate count: <stdin>: body is larger than the 32 MiB limit\n");
}
END_TEST

static Suite *count_suite(void)
{
    Suite *s = suite_create("count");
    TCase *tc = tcase_create("core");
    tcase_add_test(tc, cookbook_messages);
    tcase_add_test(tc, cookbook_tools);
    tcase_add_test(tc, tool_shapes);
    tcase_add_test(tc, chat_name);
    tcase_add_test(tc, chat_tool_calls);
    tcase_add_test(tc, chat_multipart);
    tcase_add_test(tc, chat_images);
    tcase_add_test(tc, chat_unknown_model);
    tcase_add_test(tc, completions);
    tcase_add_test(tc, embeddings);
    tcase_add_test(tc, responses);
    tcase_add_test(tc, anthropic);
    tcase_add_test(tc, errors_chat);
    tcase_add_test(tc, errors_tools);
    tcase_add_test(tc, errors_other);
    tcase_add_test(tc, parse_errors);
    tcase_add_test(tc, kinds);
    tcase_add_test(tc, cli);
    suite_add_tcase(s, tc);
    return s;
}

int main(void)
{
    SRunner *sr = srunner_create(count_suite());
    srunner_run_all(sr, CK_NORMAL);
    int failed = srunner_ntests_failed(sr);
    srunner_free(sr);
    return failed ? EXIT_FAILURE : EXIT_SUCCESS;
}
