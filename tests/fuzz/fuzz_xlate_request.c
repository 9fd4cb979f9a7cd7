/* libFuzzer target for request translation (proxy/translate.h): arbitrary bytes as a
 * request body, translated OpenAI chat -> Anthropic and Anthropic -> OpenAI chat, and a
 * successful translation translated back again.  Checks: no crash or leak; success gives
 * an object with "messages" (and Anthropic's required max_tokens), refusal gives no
 * output and a non-empty reason. */
#include "proxy/translate.h"

#include <stdint.h>
#include <stdlib.h>
#include <string.h>

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static void check(int rc, const cJSON *out, const char *err, bool anthropic)
{
    if (rc == TG_XLATE_OK) {
        if (!cJSON_IsObject(out) || !cJSON_IsArray(cJSON_GetObjectItem(out, "messages")))
            abort();
        if (anthropic && !cJSON_IsNumber(cJSON_GetObjectItem(out, "max_tokens")))
            abort();
    } else if (out || (rc == TG_XLATE_REFUSED && !err[0])) {
        abort();
    }
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    cJSON *in = cJSON_ParseWithLength((const char *)data, size);
    if (!in)
        return 0;
    tg_xlate_opts o = {.max_tokens = 100, .max_completion = size & 1};
    char err[TG_XLATE_ERR_MAX] = "";
    cJSON *a = NULL, *c = NULL, *back = NULL;
    int rc = tg_xlate_req_to_anthropic(in, &o, &a, err, sizeof err);
    check(rc, a, err, true);
    if (a) {
        err[0] = '\0';
        rc = tg_xlate_req_to_openai(a, &o, &back, err, sizeof err);
        check(rc, back, err, false);
        cJSON_Delete(back);
    }
    err[0] = '\0';
    rc = tg_xlate_req_to_openai(in, &o, &c, err, sizeof err);
    check(rc, c, err, false);
    if (c) {
        err[0] = '\0';
        back = NULL;
        rc = tg_xlate_req_to_anthropic(c, &o, &back, err, sizeof err);
        check(rc, back, err, true);
        cJSON_Delete(back);
    }
    cJSON_Delete(a);
    cJSON_Delete(c);
    cJSON_Delete(in);
    return 0;
}
