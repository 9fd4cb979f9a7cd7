/* The reservation blob codec (see record_codec.h): strings as length + bytes, numbers as
 * zigzag LEB128 varints, in a fixed order kept in two tables (strs, nums) that pack and
 * unpack share, so the two cannot drift apart. */
#include "store/record_codec.h"

#include <limits.h>
#include <string.h>

typedef struct {
    size_t off, size; /* offset and size of the char array in tg_record */
} str_field;

#define STR(f) {offsetof(tg_record, f), sizeof(((tg_record *)0)->f)}
static const str_field strs[] = {
    STR(id),    STR(team),     STR(key_id), STR(provider),       STR(requested_model),
    STR(model), STR(endpoint), STR(rule),   STR(policy_version), STR(price_version),
};
#undef STR

enum { N_I64, N_INT, N_BOOL, N_STATE }; /* a number's field type */

typedef struct {
    size_t off;
    int type;
} num_field;

#define I64(f) {offsetof(tg_record, f), N_I64}
#define INT(f) {offsetof(tg_record, f), N_INT}
#define BOOL(f) {offsetof(tg_record, f), N_BOOL}
static const num_field nums[TG_RECORD_CODEC_NUMS] = {
    INT(attempt),        I64(ts_us),           I64(est_input_tokens),
    I64(input_tokens),   I64(cached_input_tokens), I64(cache_write_tokens),
    I64(output_tokens),  I64(reasoning_tokens), BOOL(usage_estimated),
    INT(status),         INT(upstream_status), I64(latency_us),
    I64(ttfb_us),        BOOL(streamed),       BOOL(client_aborted),
    {offsetof(tg_record, state), N_STATE},     BOOL(reconcile),
    BOOL(overshoot),     I64(reserved_nusd),   I64(reserved_tokens),
    I64(cost_nusd),      I64(cost_input_nusd), I64(cost_cached_nusd),
    I64(cost_cache_write_nusd), I64(cost_output_nusd),
};
#undef I64
#undef INT
#undef BOOL

#define STATE_MAX TG_RECORD_UNSETTLED

static int64_t num_get(const tg_record *r, const num_field *f)
{
    const char *p = (const char *)r + f->off;
    switch (f->type) {
    case N_I64:
        return *(const int64_t *)(const void *)p;
    case N_INT:
        return *(const int *)(const void *)p;
    case N_BOOL:
        return *(const bool *)(const void *)p;
    default:
        return (int64_t)*(const tg_record_state *)(const void *)p;
    }
}

/* Stores v into the field; -1 when v is out of its range. */
static int num_set(tg_record *r, const num_field *f, int64_t v)
{
    char *p = (char *)r + f->off;
    switch (f->type) {
    case N_I64:
        *(int64_t *)(void *)p = v;
        return 0;
    case N_INT:
        if (v < INT_MIN || v > INT_MAX)
            return -1;
        *(int *)(void *)p = (int)v;
        return 0;
    case N_BOOL:
        if (v != 0 && v != 1)
            return -1;
        *(bool *)(void *)p = v == 1;
        return 0;
    default:
        if (v < 0 || v > STATE_MAX)
            return -1;
        *(tg_record_state *)(void *)p = (tg_record_state)v;
        return 0;
    }
}

size_t tg_record_pack(const tg_record *r, uint8_t *out)
{
    size_t k = 0;
    out[k++] = TG_RECORD_CODEC_VERSION;
    for (size_t i = 0; i < sizeof strs / sizeof *strs; i++) {
        const char *s = (const char *)r + strs[i].off;
        size_t n = strnlen(s, strs[i].size - 1);
        out[k++] = (uint8_t)n;
        memcpy(out + k, s, n);
        k += n;
    }
    for (size_t i = 0; i < TG_RECORD_CODEC_NUMS; i++) {
        int64_t v = num_get(r, &nums[i]);
        uint64_t z = ((uint64_t)v << 1) ^ (uint64_t)-(int64_t)((uint64_t)v >> 63);
        while (z >= 0x80) {
            out[k++] = (uint8_t)(z | 0x80);
            z >>= 7;
        }
        out[k++] = (uint8_t)z;
    }
    return k;
}

/* Reads a zigzag varint at *k; -1 when it runs past len or over 10 bytes. */
static int varint_read(const uint8_t *d, size_t len, size_t *k, int64_t *out)
{
    uint64_t z = 0;
    for (int shift = 0; shift < 70; shift += 7) {
        if (*k >= len)
            return -1;
        uint8_t b = d[(*k)++];
        if (shift == 63 && b > 1)
            return -1; /* more than 64 bits */
        z |= (uint64_t)(b & 0x7f) << shift;
        if (!(b & 0x80)) {
            *out = (int64_t)(z >> 1) ^ -(int64_t)(z & 1);
            return 0;
        }
    }
    return -1;
}

int tg_record_unpack(const uint8_t *data, size_t len, tg_record *r)
{
    memset(r, 0, sizeof *r);
    size_t k = 0;
    if (len < 1 || data[k++] != TG_RECORD_CODEC_VERSION)
        return -1;
    for (size_t i = 0; i < sizeof strs / sizeof *strs; i++) {
        if (k >= len)
            return -1;
        size_t n = data[k++];
        if (n >= strs[i].size || n > len - k || memchr(data + k, 0, n))
            return -1;
        memcpy((char *)r + strs[i].off, data + k, n);
        k += n;
    }
    for (size_t i = 0; i < TG_RECORD_CODEC_NUMS; i++) {
        int64_t v;
        if (varint_read(data, len, &k, &v) != 0 || num_set(r, &nums[i], v) != 0)
            return -1;
    }
    return k == len ? 0 : -1;
}
