/* libFuzzer target for the reservation blob codec (store/record_codec.h), which recovery
 * runs on whatever the reservations file holds (fuzz_slot_file.c: the slot around it).
 * Checks: no crash, hang or read past the input; an accepted blob has NUL-terminated
 * strings and in-range flags and state, packs back into no more bytes than it came in
 * (packing writes minimal varints; unpacking also takes longer ones), and that packing
 * unpacks to the same record. */
#include "store/record_codec.h"

#include <stdint.h>
#include <stdlib.h>
#include <string.h>

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static void check_record(const tg_record *r)
{
    if (!memchr(r->id, 0, sizeof r->id) || !memchr(r->team, 0, sizeof r->team) ||
        !memchr(r->model, 0, sizeof r->model) ||
        !memchr(r->price_version, 0, sizeof r->price_version))
        abort();
    if (r->state > TG_RECORD_UNSETTLED || r->slot != 0)
        abort();
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    tg_record r, again;
    if (tg_record_unpack(data, size, &r) != 0)
        return 0;
    check_record(&r);
    uint8_t buf[TG_RECORD_PACKED_MAX];
    size_t n = tg_record_pack(&r, buf);
    if (n > TG_RECORD_PACKED_MAX || n > size)
        abort(); /* the packing is minimal: never longer than what was read */
    if (tg_record_unpack(buf, n, &again) != 0 || memcmp(&r, &again, sizeof r) != 0)
        abort();
    return 0;
}
