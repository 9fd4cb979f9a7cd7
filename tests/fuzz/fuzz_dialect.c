/* libFuzzer target for the OpenAI dialect's parsers: arbitrary bytes as an upstream SSE
 * stream (split into events as the proxy does), as a JSON response (usage extraction) and
 * as a request body (include_usage injection).  Checks: no crash, the filtered output never
 * grows beyond the input plus event terminators, a stream without tollgate's own usage
 * request passes through byte for byte (events re-terminated with a blank line), and the
 * usage read through tg_dialect_usage_of (the "usage" member alone, found by a scan) is
 * the usage read from the whole parsed answer whenever cJSON parses it, for both dialects. */
#include "proxy/dialect.h"

#include <stdint.h>
#include <stdlib.h>
#include <string.h>

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static void run_stream(const char *s, size_t n, bool strip)
{
    tg_sse_state st = {0};
    tg_buf out;
    tg_buf_init(&st.delivered, 1 << 16);
    tg_buf_init(&out, 4 * n + 64);
    size_t pos = 0, events = 0, ev_bytes = 0;
    while (pos < n) {
        const char *e = memmem(s + pos, n - pos, "\n\n", 2);
        if (!e)
            break;
        size_t len = (size_t)(e - (s + pos));
        if (tg_dialect_openai.sse_event(&st, s + pos, len, &out) != TG_BUF_OK)
            abort();
        events++;
        ev_bytes += len;
        pos += len + 2;
    }
    if (out.len > ev_bytes + 2 * events)
        abort();
    if (!strip && out.len != ev_bytes + 2 * events)
        abort(); /* nothing may be dropped or edited when tollgate asked for nothing */
    tg_buf_free(&out);
    tg_buf_free(&st.delivered);
}

static bool same_usage(const tg_usage *a, const tg_usage *b)
{
    return a->input == b->input && a->cached_input == b->cached_input &&
           a->cache_write == b->cache_write && a->cache_write_1h == b->cache_write_1h &&
           a->output == b->output && a->reasoning == b->reasoning &&
           a->reported == b->reported;
}

/* The scan's usage against the tree's, for dialect d, when the tree exists. */
static void check_usage_scan(const tg_dialect *d, const char *s, size_t n, const cJSON *j)
{
    tg_usage fast = {0}, full = {0};
    tg_dialect_usage_of(d, s, n, &fast);
    if (!j)
        return;
    d->usage_from_json(j, &full);
    if (!same_usage(&fast, &full))
        abort();
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    const char *s = (const char *)data;
    run_stream(s, size, false);
    run_stream(s, size, true);
    cJSON *j = cJSON_ParseWithLength(s, size);
    check_usage_scan(&tg_dialect_openai, s, size, j);
    check_usage_scan(&tg_dialect_anthropic, s, size, j);
    if (j) {
        tg_usage u = {0};
        tg_dialect_openai.usage_from_json(j, &u);
        if (u.input < 0 || u.output < 0)
            abort();
        bool injected;
        if (cJSON_IsObject(j) && tg_dialect_openai.ask_stream_usage(j, &injected) == 0 &&
            injected) {
            cJSON *so = cJSON_GetObjectItemCaseSensitive(j, "stream_options");
            if (!cJSON_IsTrue(cJSON_GetObjectItemCaseSensitive(so, "include_usage")))
                abort();
        }
        cJSON_Delete(j);
    }
    return 0;
}
