/* tg_focus: the ledger as FOCUS 1.4 Cost and Usage rows (CSV), for `tollgate export
 * focus` and the admin API's GET /export/focus.
 *
 * One row per request attempt and billed token type (SkuMeter "Input Tokens", "Cache Read
 * Input Tokens", "Cache Write Input Tokens", "Output Tokens"): cached reads and cache
 * writes are not counted again on the uncached input row; reasoning tokens are output
 * (a second "Output Tokens" row only when the catalog prices reasoning apart).  Rows in
 * state RESERVED (in flight) and RELEASED (nothing billed) are left out; an UNSETTLED row
 * (charged at its reservation by recovery) is one "Input Tokens" row with its reported
 * tokens (usually 0), BilledCost the reservation and x_TokenSource "reserved".
 *
 * Columns: the FOCUS ones in alphabetical order (every mandatory column of 1.4 and the
 * conditional ones that apply), then the x_ columns (TG_FOCUS_COLUMNS lists them all).
 * Formats (shared/reference/README.md): date-times UTC "YYYY-MM-DDTHH:mm:ssZ"; numbers
 * plain decimals (no exponent, no separators, trailing zeros trimmed); NULL is an empty
 * field; Tags a flat JSON object {"team":..,"key":..}; fields quoted per RFC 4180 when
 * needed.  Money is exact: PricingUnit "1000000 Tokens", PricingQuantity = tokens / 1e6
 * (at most 6 decimals), ListUnitPrice = the catalog price in USD per million tokens (at
 * most 9 decimals, from integer nano-dollars), ListCost = ListUnitPrice x PricingQuantity
 * computed in 128-bit integers and printed with all its digits (at most 15 decimals), so
 * the product holds exactly on every row.  ContractedUnitPrice/ContractedCost equal the
 * list ones (no negotiated rates known); BilledCost = EffectiveCost = the cost the ledger
 * recorded for that token type (nano-dollars, each type rounded once when the request
 * settled), so the export's BilledCost sums to the ledger's spend.  Unit prices come from
 * the catalog: the model's price version the record names (else the one in effect at the
 * time), its long-context tier by input tokens, with the proxy's fallbacks (cache reads
 * and writes without a price bill as input, reasoning as output).  A model the catalog no
 * longer knows gets unit price 0 (ListCost 0) and x_PriceSource "unknown".
 *
 * Hourly mode: rows aggregated per UTC hour x team x key x model x provider x SkuMeter x
 * unit price x token source; ChargePeriod is the hour, x_RequestId and x_Rule are NULL,
 * x_RequestCount says how many attempts a row sums.  Records arrive in time order
 * (tg_store_records_scan), so one hour is held in memory at a time. */
#ifndef TG_FOCUS_H
#define TG_FOCUS_H
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "policies/catalog.h"
#include "store/store.h"

#define TG_FOCUS_VERSION "1.4"
#define TG_FOCUS_FLUSH_AT (64u << 10) /* bytes buffered before the sink is called */

/* Receives CSV bytes; returns 0, or non-zero to stop the export (that value is returned by
 * tg_focus_add / tg_focus_end). */
typedef int (*tg_focus_sink)(void *ctx, const char *p, size_t n);

typedef struct tg_focus tg_focus;

typedef struct {
    uint64_t records; /* records seen */
    uint64_t rows;    /* CSV rows written (header not counted) */
    int64_t billed_nusd; /* sum of BilledCost */
} tg_focus_stats;

/* Starts an export priced by `cat` (kept, not owned), writing to `sink`.  The header line
 * is written at once.  Returns NULL when out of memory. */
tg_focus *tg_focus_new(const tg_catalog *cat, bool hourly, tg_focus_sink sink, void *ctx);

/* Adds one record (in time order).  Returns 0 or the sink's non-zero value; -1 when out of
 * memory. */
int tg_focus_add(tg_focus *f, const tg_record *r);

/* Writes what is still held, flushes, fills *stats (may be NULL) and frees f.  Returns 0 or
 * the first failure (a failed export's output is incomplete). */
int tg_focus_end(tg_focus *f, tg_focus_stats *stats);

/* The FOCUS metadata of an export made now (JSON text: DataGenerator, Schema with
 * FocusVersion, CreationDate and every column's definition), malloc'd; NULL when out of
 * memory.  `hourly` is recorded in it. */
char *tg_focus_metadata(bool hourly, int64_t now_s);

/* Prices rec's usage (input, cached, cache write, output, reasoning tokens) by the catalog
 * exactly as the proxy does when a request settles: the model's price version named by
 * rec->price_version (else the one in effect at rec->ts_us, whose id is then written
 * there), its tier by input tokens, each token type rounded once, cost_nusd their sum.
 * Returns 0, or -1 (rec unchanged) when the catalog has no price for the model then.
 * For generators and tests that must produce records the proxy could have written. */
int tg_focus_price_record(const tg_catalog *cat, tg_record *rec);

/* A tg_record_fn (store.h) that feeds tg_focus_add: ctx is the tg_focus. */
int tg_focus_record_fn(void *ctx, const tg_record *r);

/* Writes v / 10^scale (v >= 0 or < 0) as a plain decimal with trailing zeros trimmed ("0",
 * "0.15", "12") into buf (at least 48 bytes).  Exposed for tests and the reconciler. */
void tg_focus_decimal(__int128 v, int scale, char *buf, size_t size);

#endif
