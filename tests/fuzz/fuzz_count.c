/* libFuzzer target for the request token counter: arbitrary bytes as a request body, for
 * each of the five API kinds and with the kind detected from the body.  Checks: no crash,
 * an error always comes with a message, and a success gives a non-negative count whose
 * parts (images, tools) do not exceed the whole. */
#include "router/count.h"

#include <stdint.h>
#include <stdlib.h>

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static void count_one(const cJSON *body, tg_count_kind kind)
{
    tg_count_result r;
    char err[256];
    int rc = tg_count_request(body, kind, NULL, &r, err, sizeof err);
    if (rc == TG_COUNT_OK) {
        if (r.tokens < 0 || r.image_tokens < 0 || r.tool_tokens < 0 || !r.bpe ||
            r.image_tokens + r.tool_tokens > r.tokens)
            abort();
    } else if (rc == TG_COUNT_EINVAL && err[0] == '\0') {
        abort();
    }
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    cJSON *body;
    char err[256];
    if (tg_count_parse((const char *)data, size, &body, err, sizeof err) != TG_COUNT_OK) {
        if (err[0] == '\0')
            abort();
        return 0;
    }
    for (int k = 0; k < TG_COUNT_KIND_COUNT_; k++)
        count_one(body, (tg_count_kind)k);
    tg_count_kind kind;
    if (tg_count_detect(body, &kind, err, sizeof err) == 0)
        count_one(body, kind);
    cJSON_Delete(body);
    return 0;
}
