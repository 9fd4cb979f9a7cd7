/* A ledger row (tg_record) as one compact blob: how a serving process keeps its reservations
 * in the slots of its claimed reservations file (store_sqlite.c, slot_file.h), and how an
 * older build kept them in a SQLite table (a row of 35 columns cost SQLite more than the
 * rest of the commit; one blob column costs one), which recovery still reads.
 *
 * Format, version 1: a version byte (1); the ten strings id, team, key_id, provider,
 * requested_model, model, endpoint, rule, policy_version, price_version, each a length byte
 * and its bytes (no NUL, shorter than its tg_record field); then the 25 numbers attempt,
 * ts_us, est_input_tokens, input_tokens, cached_input_tokens, cache_write_tokens,
 * output_tokens, reasoning_tokens, usage_estimated, status, upstream_status, latency_us,
 * ttfb_us, streamed, client_aborted, state, reconcile, overshoot, reserved_nusd,
 * reserved_tokens, cost_nusd, cost_input_nusd, cost_cached_nusd, cost_cache_write_nusd,
 * cost_output_nusd, each a zigzag varint (LEB128, at most 10 bytes); nothing after.  The
 * slot is not in it (it is the row's key). */
#ifndef TG_RECORD_CODEC_H
#define TG_RECORD_CODEC_H
#include <stddef.h>
#include <stdint.h>

#include "store/store.h"

#define TG_RECORD_CODEC_VERSION 1
#define TG_RECORD_CODEC_NUMS 25
/* An upper bound of a packed record's size. */
#define TG_RECORD_PACKED_MAX (1 + sizeof(tg_record) + TG_RECORD_CODEC_NUMS * 10)

/* Packs *r into out (TG_RECORD_PACKED_MAX bytes at least); returns the length.  r's strings
 * are NUL-terminated within their fields (as every tg_record is). */
size_t tg_record_pack(const tg_record *r, uint8_t *out);

/* Unpacks len bytes into *r (zeroed first; slot 0).  Returns 0, or -1 for anything that is
 * not exactly a version-1 record: unknown version, a string too long for its field or with
 * a NUL, a varint longer than 10 bytes, a number out of its field's range (int fields, 0/1
 * flags, the state), missing or extra bytes.  Never reads past data + len. */
int tg_record_unpack(const uint8_t *data, size_t len, tg_record *r);

#endif
