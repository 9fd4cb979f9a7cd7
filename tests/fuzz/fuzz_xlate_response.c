/* libFuzzer target for answer translation (proxy/translate.h): arbitrary bytes as a
 * complete upstream answer, translated Anthropic -> OpenAI and OpenAI -> Anthropic, and as
 * a vendor error body (any HTTP status) into both error shapes.  Checks: no crash or leak;
 * a translated answer has the other dialect's required fields and non-negative usage; an
 * error always comes out as valid JSON (valid UTF-8 included) in the requested shape. */
#include "proxy/translate.h"

#include <stdint.h>
#include <stdlib.h>
#include <string.h>

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

/* Whether s is well-formed UTF-8 (no overlong forms, surrogates or cut sequences). */
static bool valid_utf8(const unsigned char *p)
{
    while (*p) {
        int n = *p < 0x80 ? 0 : (*p & 0xE0) == 0xC0 ? 1 : (*p & 0xF0) == 0xE0 ? 2
                : (*p & 0xF8) == 0xF0 ? 3 : -1;
        if (n < 0 || (n == 1 && *p < 0xC2) || *p > 0xF4)
            return false;
        for (int i = 1; i <= n; i++)
            if ((p[i] & 0xC0) != 0x80)
                return false;
        if ((*p == 0xE0 && p[1] < 0xA0) || (*p == 0xED && p[1] >= 0xA0) ||
            (*p == 0xF0 && p[1] < 0x90) || (*p == 0xF4 && p[1] >= 0x90))
            return false;
        p += n + 1;
    }
    return true;
}

static void check_error(const char *s, size_t n, int status, tg_wire to)
{
    tg_buf b;
    tg_buf_init(&b, 1 << 20);
    if (tg_xlate_error(s, n, status, to, &b) != TG_BUF_OK)
        abort();
    if (!valid_utf8((const unsigned char *)b.p))
        abort();
    cJSON *j = cJSON_Parse(b.p);
    const cJSON *e = cJSON_GetObjectItem(j, "error");
    if (!cJSON_IsString(cJSON_GetObjectItem(e, "message")) ||
        !cJSON_IsString(cJSON_GetObjectItem(e, "type")))
        abort();
    if (to == TG_WIRE_ANTHROPIC && !cJSON_IsString(cJSON_GetObjectItem(j, "type")))
        abort();
    cJSON_Delete(j);
    tg_buf_free(&b);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    const char *s = (const char *)data;
    int status = size ? 400 + data[0] % 200 : 500;
    check_error(s, size, status, TG_WIRE_OPENAI);
    check_error(s, size, status, TG_WIRE_ANTHROPIC);
    cJSON *in = cJSON_ParseWithLength(s, size);
    if (!in)
        return 0;
    cJSON *out = NULL;
    if (tg_xlate_resp_to_openai(in, 1, &out) == TG_XLATE_OK) {
        const cJSON *ch = cJSON_GetArrayItem(cJSON_GetObjectItem(out, "choices"), 0);
        if (!cJSON_IsString(cJSON_GetObjectItem(ch, "finish_reason")))
            abort();
        tg_usage u = {0};
        tg_dialect_openai.usage_from_json(out, &u);
        if (u.input < 0 || u.output < 0 || u.cached_input < 0)
            abort();
    } else if (out) {
        abort();
    }
    cJSON_Delete(out);
    out = NULL;
    if (tg_xlate_resp_to_anthropic(in, &out) == TG_XLATE_OK) {
        if (!cJSON_IsArray(cJSON_GetObjectItem(out, "content")) ||
            !cJSON_IsString(cJSON_GetObjectItem(out, "stop_reason")))
            abort();
        tg_usage u = {0};
        tg_dialect_anthropic.usage_from_json(out, &u);
        if (u.input < 0 || u.output < 0 || u.cache_write_1h > u.cache_write)
            abort();
    } else if (out) {
        abort();
    }
    cJSON_Delete(out);
    cJSON_Delete(in);
    return 0;
}
