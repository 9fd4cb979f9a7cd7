/* Translation benchmark (issue 7): what tollgate adds per request when the router sends a
 * request to a vendor of the other dialect.  A chat request with a system prompt, three
 * turns, a tool definition and an image part (~1.3 KB) is translated to Anthropic's
 * Messages API; an Anthropic answer (text + tool_use, with cache usage) back to a
 * chat.completion; and a 64-delta Anthropic stream is translated event by event to
 * OpenAI chunks (the Anthropic dialect's usage accounting included).  Printed beside it,
 * measured in the same run: parsing the same request body with cJSON, which every
 * request pays anyway.  Median of RUNS runs, in microseconds per operation.
 *
 * usage: bench_translate */
#include "proxy/translate.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#define RUNS 7
#define ITERS 20000
#define STREAM_ITERS 2000
#define STREAM_DELTAS 64

static const char *const request =
    "{\"model\":\"claude-x\",\"max_tokens\":512,\"temperature\":0.2,\"stop\":[\"END\"],"
    "\"tools\":[{\"type\":\"function\",\"function\":{\"name\":\"get_weather\",\"description\":"
    "\"Current weather for a city\",\"parameters\":{\"type\":\"object\",\"properties\":{"
    "\"city\":{\"type\":\"string\",\"description\":\"City name\"},\"unit\":{\"type\":\"string\","
    "\"enum\":[\"c\",\"f\"]}},\"required\":[\"city\"]}}}],\"messages\":[{\"role\":\"system\","
    "\"content\":\"You are a helpful assistant who answers briefly and precisely.\"},"
    "{\"role\":\"user\",\"content\":[{\"type\":\"text\",\"text\":\"What is in this picture, "
    "and what is the weather where it was taken?\"},{\"type\":\"image_url\",\"image_url\":{"
    "\"url\":\"data:image/png;base64,iVBORw0KGgoAAAANSUhEUgAAAAEAAAABCAYAAAAfFcSJAAAADUlEQVR42"
    "mNk+M9QDwADhgGAWjR9awAAAABJRU5ErkJggg==\"}}]},{\"role\":\"assistant\",\"content\":null,"
    "\"tool_calls\":[{\"id\":\"call_1\",\"type\":\"function\",\"function\":{\"name\":"
    "\"get_weather\",\"arguments\":\"{\\\"city\\\":\\\"Paris\\\"}\"}}]},{\"role\":\"tool\","
    "\"tool_call_id\":\"call_1\",\"content\":\"18 C, light rain\"},{\"role\":\"user\","
    "\"content\":\"Thanks. Summarise both in one sentence, please.\"}]}";

static const char *const answer =
    "{\"id\":\"msg_01\",\"type\":\"message\",\"role\":\"assistant\",\"model\":\"claude-x\","
    "\"content\":[{\"type\":\"text\",\"text\":\"A street in Paris; it is 18 C with light rain "
    "there now.\"},{\"type\":\"tool_use\",\"id\":\"toolu_1\",\"name\":\"get_weather\",\"input\":"
    "{\"city\":\"Lyon\"}}],\"stop_reason\":\"tool_use\",\"stop_sequence\":null,\"usage\":{"
    "\"input_tokens\":412,\"cache_creation_input_tokens\":0,\"cache_read_input_tokens\":1024,"
    "\"output_tokens\":37}}";

static double now_s(void)
{
    struct timespec t;
    clock_gettime(CLOCK_MONOTONIC, &t);
    return (double)t.tv_sec + (double)t.tv_nsec / 1e9;
}

static int cmp_double(const void *a, const void *b)
{
    double x = *(const double *)a, y = *(const double *)b;
    return x < y ? -1 : x > y;
}

typedef void (*op_fn)(void);

static void op_parse(void)
{
    cJSON_Delete(cJSON_Parse(request));
}

static void op_request(void)
{
    cJSON *in = cJSON_Parse(request), *out = NULL;
    char err[TG_XLATE_ERR_MAX];
    tg_xlate_opts o = {.max_tokens = 1024};
    if (tg_xlate_req_to_anthropic(in, &o, &out, err, sizeof err) != TG_XLATE_OK)
        abort();
    char *txt = cJSON_PrintUnformatted(out);
    cJSON_free(txt);
    cJSON_Delete(out);
    cJSON_Delete(in);
}

static void op_answer(void)
{
    cJSON *in = cJSON_Parse(answer), *out = NULL;
    if (tg_xlate_resp_to_openai(in, 1, &out) != TG_XLATE_OK)
        abort();
    char *txt = cJSON_PrintUnformatted(out);
    cJSON_free(txt);
    cJSON_Delete(out);
    cJSON_Delete(in);
}

static char events[STREAM_DELTAS + 8][512];
static int nevents;

static void make_stream(void)
{
    snprintf(events[nevents++], sizeof events[0],
             "event: message_start\ndata: {\"type\":\"message_start\",\"message\":{\"id\":"
             "\"msg_1\",\"model\":\"claude-x\",\"content\":[],\"usage\":{\"input_tokens\":412,"
             "\"cache_read_input_tokens\":1024,\"output_tokens\":1}}}");
    snprintf(events[nevents++], sizeof events[0],
             "event: content_block_start\ndata: {\"type\":\"content_block_start\",\"index\":0,"
             "\"content_block\":{\"type\":\"text\",\"text\":\"\"}}");
    for (int i = 0; i < STREAM_DELTAS; i++)
        snprintf(events[nevents++], sizeof events[0],
                 "event: content_block_delta\ndata: {\"type\":\"content_block_delta\","
                 "\"index\":0,\"delta\":{\"type\":\"text_delta\",\"text\":\" w%d\"}}", i);
    snprintf(events[nevents++], sizeof events[0],
             "event: content_block_stop\ndata: {\"type\":\"content_block_stop\",\"index\":0}");
    snprintf(events[nevents++], sizeof events[0],
             "event: message_delta\ndata: {\"type\":\"message_delta\",\"delta\":{\"stop_reason\":"
             "\"end_turn\",\"stop_sequence\":null},\"usage\":{\"output_tokens\":64}}");
    snprintf(events[nevents++], sizeof events[0],
             "event: message_stop\ndata: {\"type\":\"message_stop\"}");
}

/* One whole stream through the translator (xs) or the plain dialect filter (NULL). */
static void stream_once(bool translate)
{
    tg_sse_state st = {0};
    tg_buf out;
    tg_buf_init(&st.delivered, 1 << 16);
    tg_buf_init(&out, 1 << 20);
    tg_xlate_stream *xs = translate
        ? tg_xlate_stream_new(TG_WIRE_ANTHROPIC, TG_WIRE_OPENAI, true, 1) : NULL;
    for (int i = 0; i < nevents; i++)
        if (tg_xlate_sse(xs, &tg_dialect_anthropic, &st, events[i], strlen(events[i]), &out) !=
            TG_BUF_OK)
            abort();
    tg_xlate_stream_free(xs);
    tg_buf_free(&out);
    tg_buf_free(&st.delivered);
}

static void op_stream_xlate(void)
{
    stream_once(true);
}

static void op_stream_plain(void)
{
    stream_once(false);
}

static double median_us(op_fn f, int iters)
{
    double runs[RUNS];
    for (int r = 0; r < RUNS; r++) {
        double t0 = now_s();
        for (int i = 0; i < iters; i++)
            f();
        runs[r] = (now_s() - t0) * 1e6 / iters;
    }
    qsort(runs, RUNS, sizeof *runs, cmp_double);
    return runs[RUNS / 2];
}

int main(void)
{
    make_stream();
    printf("operation                                              us/op (median of %d)\n", RUNS);
    printf("parse the %4zu-byte chat request (cJSON, paid anyway)   %8.2f\n", strlen(request),
           median_us(op_parse, ITERS));
    printf("chat request -> Anthropic request (parse+xlate+print)  %8.2f\n",
           median_us(op_request, ITERS));
    printf("Anthropic answer -> chat.completion (parse+xlate+print) %7.2f\n",
           median_us(op_answer, ITERS));
    printf("%d-event Anthropic stream, dialect filter only         %8.2f\n", nevents,
           median_us(op_stream_plain, STREAM_ITERS));
    printf("%d-event Anthropic stream -> OpenAI chunks             %8.2f\n", nevents,
           median_us(op_stream_xlate, STREAM_ITERS));
    return 0;
}
