/* libFuzzer target for the tokenizer: arbitrary bytes (valid UTF-8 or not) through both
 * encodings.  Checks the contract of router/bpe.h on every input: no crash, count equals
 * the number of encoded ids, every id is in the vocabulary, and decoding gives back the
 * input bytes exactly. */
#include "router/bpe.h"

#include <stdint.h>
#include <stdlib.h>
#include <string.h>

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static void check_one(const tg_bpe *b, const char *text, size_t size)
{
    tg_bpe_ids ids = {0};
    if (tg_bpe_encode(b, text, size, &ids) != 0)
        abort();
    if (tg_bpe_count(b, text, size) != ids.n)
        abort();
    char *back;
    size_t backlen;
    if (tg_bpe_decode(b, ids.v, ids.n, &back, &backlen) != 0)
        abort();
    if (backlen != size || memcmp(back, text, size) != 0)
        abort();
    free(back);
    tg_bpe_ids_free(&ids);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    check_one(tg_bpe_get(TG_BPE_CL100K), (const char *)data, size);
    check_one(tg_bpe_get(TG_BPE_O200K), (const char *)data, size);
    return 0;
}
