/* Unicode 16.0 character classes for the BPE pre-tokenizer.
 *
 * tiktoken's split regexes need five sets: \p{L}, \p{N}, \s (White_Space), \p{M}, and
 * o200k's "upper" [\p{Lu}\p{Lt}\p{Lm}\p{Lo}\p{M}] and "lower" [\p{Ll}\p{Lm}\p{Lo}\p{M}].
 * Debian's ICU/PCRE2 carry older Unicode, so the table is generated from Unicode 16.0 data
 * (router/gen/gen_unicode.mjs) and committed as router/bpe_unicode.c. */
#ifndef TG_BPE_UNICODE_H
#define TG_BPE_UNICODE_H
#include <stdint.h>

enum {
    TG_UC_L = 1,   /* \p{L} */
    TG_UC_N = 2,   /* \p{N} */
    TG_UC_WS = 4,  /* \s: White_Space */
    TG_UC_UP = 8,  /* Lu Lt Lm Lo M */
    TG_UC_LO = 16, /* Ll Lm Lo M */
    TG_UC_M = 32,  /* \p{M} */
};

extern const uint16_t tg_uc_stage1[0x1100];
extern const uint8_t tg_uc_stage2[][256];

/* Class bits of code point cp (0 for cp > 0x10FFFF). Pure, thread-safe. */
static inline unsigned tg_uc_class(uint32_t cp)
{
    if (cp > 0x10FFFF)
        return 0;
    return tg_uc_stage2[tg_uc_stage1[cp >> 8]][cp & 0xFF];
}
#endif
