/* libFuzzer target for capability inference: arbitrary bytes parsed as JSON (cJSON) and
 * given to tg_caps_infer as each request kind.  Checks: no crash; only defined capability
 * bits; an output cap of -1 or in 0..1e15. */
#include "policies/catalog.h"
#include "router/caps.h"

#include <stdint.h>
#include <stdlib.h>

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    cJSON *body = cJSON_ParseWithLength((const char *)data, size);
    if (!body)
        return 0;
    for (int k = 0; k <= TG_COUNT_KIND_COUNT_; k++) {
        tg_caps_result r;
        tg_caps_infer(body, (tg_count_kind)k, &r);
        if ((r.caps >> TG_CAP_COUNT) != 0 || r.max_output_tokens < -1 ||
            r.max_output_tokens > 1000000000000000)
            abort();
    }
    cJSON_Delete(body);
    return 0;
}
