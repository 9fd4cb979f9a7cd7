/* libFuzzer target for the reservations slot parser (store/slot_file.h), which recovery
 * runs on every slot of whatever file it finds beside the ledger, and then for the record
 * codec on what a slot holds.
 * Input: 8 bytes of slot number (little-endian), then the slot's bytes (zero-padded to
 * TG_SLOTS_SIZE).  Checks: no crash, hang or read past the slot; an accepted entry has a
 * length in range, lies inside the slot, and its checksum (over the slot number, length
 * and payload) recomputes; a record it holds, if it decodes, has NUL-terminated strings. */
#include "store/record_codec.h"
#include "store/slot_file.h"

#include <stdint.h>
#include <stdlib.h>
#include <string.h>

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (size < 8)
        return 0;
    uint64_t u = 0;
    for (int i = 0; i < 8; i++)
        u |= (uint64_t)data[i] << (8 * i);
    int64_t slot = (int64_t)(u % (uint64_t)TG_SLOTS_MAX);
    static uint8_t bytes[TG_SLOTS_SIZE];
    size_t n = size - 8 < sizeof bytes ? size - 8 : sizeof bytes;
    memset(bytes, 0, sizeof bytes);
    memcpy(bytes, data + 8, n);
    const uint8_t *payload = NULL;
    size_t len = tg_slots_parse(bytes, slot, &payload);
    if (!len)
        return 0;
    if (len > TG_SLOTS_PAYLOAD || payload != bytes + TG_SLOTS_HEAD)
        abort();
    uint8_t pre[12];
    for (int i = 0; i < 8; i++)
        pre[i] = (uint8_t)((uint64_t)slot >> (8 * i));
    memcpy(pre + 8, bytes, 4);
    uint32_t crc = tg_slots_crc32c(tg_slots_crc32c(0, pre, sizeof pre), payload, len);
    uint32_t stored = (uint32_t)bytes[4] | (uint32_t)bytes[5] << 8 | (uint32_t)bytes[6] << 16 |
                      (uint32_t)bytes[7] << 24;
    if (crc != stored)
        abort();
    tg_record r;
    if (tg_record_unpack(payload, len, &r) == 0 &&
        (!memchr(r.id, 0, sizeof r.id) || !memchr(r.team, 0, sizeof r.team)))
        abort();
    return 0;
}
