/* libFuzzer target for stream translation and the Anthropic dialect's SSE filter: arbitrary
 * bytes split into SSE events as the proxy does, fed through the Anthropic dialect alone
 * (pass-through), Anthropic -> OpenAI chunks and OpenAI -> Anthropic events.  Checks: no
 * crash or leak; the pass-through output is the input events re-terminated, byte for byte;
 * usage never goes negative and the 1-hour cache writes never exceed all cache writes;
 * every translated event is complete (ends with a blank line) and its data is JSON or
 * [DONE]. */
#include "proxy/translate.h"

#include <stdint.h>
#include <stdlib.h>
#include <string.h>

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static void check_usage(const tg_usage *u)
{
    if (u->input < 0 || u->output < 0 || u->cached_input < 0 || u->cache_write < 0 ||
        u->cache_write_1h < 0 || u->cache_write_1h > u->cache_write)
        abort();
}

/* Every event in out is "...data: JSON\n\n" or "data: [DONE]\n\n". */
static void check_events(const tg_buf *out)
{
    if (!out->p)
        return;
    const char *p = out->p, *end = out->p + out->len;
    while (p < end) {
        const char *e = memmem(p, (size_t)(end - p), "\n\n", 2);
        if (!e)
            abort();
        const char *d = memmem(p, (size_t)(e - p), "data: ", 6);
        if (!d)
            abort();
        d += 6;
        if (!((size_t)(e - d) == 6 && memcmp(d, "[DONE]", 6) == 0)) {
            cJSON *j = cJSON_ParseWithLength(d, (size_t)(e - d));
            if (!cJSON_IsObject(j))
                abort();
            cJSON_Delete(j);
        }
        p = e + 2;
    }
}

static void run(const char *s, size_t n, tg_xlate_stream *xs, const tg_dialect *up)
{
    tg_sse_state st = {0};
    tg_buf out;
    tg_buf_init(&st.delivered, 1 << 16);
    tg_buf_init(&out, 64 * n + 4096);
    size_t pos = 0, bytes = 0, events = 0;
    while (pos < n) {
        const char *e = memmem(s + pos, n - pos, "\n\n", 2);
        size_t len = e ? (size_t)(e - (s + pos)) : n - pos;
        if (tg_xlate_sse(xs, up, &st, s + pos, len, &out) != TG_BUF_OK)
            abort();
        check_usage(&st.usage);
        bytes += len;
        events++;
        pos += len + (e ? 2 : 0);
    }
    if (!xs && out.len != bytes + 2 * events)
        abort();
    if (xs)
        check_events(&out);
    tg_buf_free(&out);
    tg_buf_free(&st.delivered);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    const char *s = (const char *)data;
    run(s, size, NULL, &tg_dialect_anthropic);
    tg_xlate_stream *xs = tg_xlate_stream_new(TG_WIRE_ANTHROPIC, TG_WIRE_OPENAI, size & 1, 1);
    if (xs)
        run(s, size, xs, &tg_dialect_anthropic);
    tg_xlate_stream_free(xs);
    xs = tg_xlate_stream_new(TG_WIRE_OPENAI, TG_WIRE_ANTHROPIC, false, 1);
    if (xs)
        run(s, size, xs, &tg_dialect_openai);
    tg_xlate_stream_free(xs);
    return 0;
}
