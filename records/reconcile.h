/* tg_recon: compares the ledger with a vendor's usage or cost export, per UTC day and
 * model (`tollgate reconcile`).
 *
 * What is read (the format is told apart by content: JSON when the first non-blank byte is
 * '{' or '[', else CSV with a header row):
 *   OpenAI, JSON: pages of the organization Usage API for completions
 *     ({"object":"page","data":[{"object":"bucket","start_time":UNIX,"results":[{
 *     "input_tokens","input_cached_tokens","output_tokens","num_model_requests","model"}]}]})
 *     and of the Costs API (results with "amount":{"value":USD,"currency":"usd"} and
 *     "line_item":"MODEL, input"); a single page or an array of pages.
 *   Anthropic, JSON: pages of the Admin API's usage report for messages
 *     ({"data":[{"starting_at":"...Z","results":[{"model","uncached_input_tokens",
 *     "cache_read_input_tokens","cache_creation":{"ephemeral_5m_input_tokens",
 *     "ephemeral_1h_input_tokens"} (or flat cache_creation_5m/1h_input_tokens),
 *     "output_tokens"}]}]}) and of its cost report (results with "amount" a decimal
 *     string in cents, "currency":"USD", "model").
 *   CSV (either vendor): one row per bucket with the same field names as columns (what
 *     the APIs' results give when flattened, as the vendors' cookbook exports do), matched
 *     case-insensitively, plus common aliases: day from date|day|start_time (UNIX seconds
 *     or ISO)|starting_at|bucket_start; model from model|model_name|line_item; tokens
 *     input_tokens|prompt_tokens, uncached_input_tokens, input_cached_tokens|
 *     cache_read_input_tokens|cached_tokens, cache_creation_input_tokens|
 *     cache_creation_5m_input_tokens|cache_creation_1h_input_tokens, output_tokens|
 *     completion_tokens, num_model_requests|requests; cost cost_usd|amount_value|cost (USD)
 *     or amount (USD for OpenAI, cents for Anthropic, as in their APIs).
 * Input tokens are compared as OpenTelemetry counts them: cached reads and cache writes
 * included.  Model names are compared without a trailing date ("gpt-4o-2024-08-06",
 * "claude-3-5-haiku-20241022" -> "gpt-4o", "claude-3-5-haiku").  Money is parsed exactly
 * from decimal text into nano-dollars (JSON numbers through their shortest text). */
#ifndef TG_RECONCILE_H
#define TG_RECONCILE_H
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "common/buf.h"
#include "store/store.h"

#define TG_RECON_MAX_INPUT ((size_t)256 << 20) /* largest vendor file read */
#define TG_RECON_MAX_ROWS 1000000              /* buckets in one vendor file */
#define TG_RECON_MODEL_MAX 128                 /* model name bytes, NUL included */
#define TG_RECON_CSV_FIELDS 64                 /* columns of a CSV file */
#define TG_RECON_FIELD_MAX 1024                /* bytes of one CSV field */

typedef enum { TG_RECON_OPENAI, TG_RECON_ANTHROPIC } tg_recon_vendor;

/* What one side says about one (day, model). */
typedef struct {
    int64_t day;
    char model[TG_RECON_MODEL_MAX]; /* normalised: without a trailing date */
    bool has_tokens, has_cost, has_requests, has_cache_write;
    int64_t input_tokens;           /* all input, cached and cache writes included */
    int64_t cached_input_tokens, cache_write_tokens, output_tokens, requests;
    int64_t cost_nusd;
} tg_recon_row;

typedef enum {
    TG_RECON_MATCHED,
    TG_RECON_DIFFERS,
    TG_RECON_MISSING_IN_LEDGER, /* the vendor billed it, the ledger has nothing */
    TG_RECON_MISSING_AT_VENDOR, /* the ledger has it, the vendor file not */
} tg_recon_status;

typedef struct {
    int64_t day;
    char model[TG_RECON_MODEL_MAX];
    tg_recon_status status;
    tg_recon_row ledger, vendor; /* zero when missing on that side */
} tg_recon_line;

typedef struct {
    int64_t token_tolerance;  /* absolute difference allowed per token count */
    int64_t cost_tolerance_nusd;
} tg_recon_opts;

/* "openai" / "anthropic" -> vendor; 0 or -1. */
int tg_recon_vendor_parse(const char *s, tg_recon_vendor *v);
const char *tg_recon_vendor_name(tg_recon_vendor v);

/* Parses a vendor file (len bytes, need not be NUL-terminated) into rows summed per
 * (day, model), sorted by day then model.  Returns 0 with *out (free()) and *n, or -1
 * with one plain line in err saying what and where ("line 3: ...", "$.data[0]: ..."). */
int tg_recon_parse(const char *text, size_t len, tg_recon_vendor v, tg_recon_row **out,
                   size_t *n, char *err, size_t errlen);

/* The model name without a trailing "-YYYY-MM-DD" or "-YYYYMMDD", into out. */
void tg_recon_model_norm(const char *model, char *out, size_t size);

/* Turns ledger report rows (grouped by day, model and provider) of provider `provider`
 * (NULL: all) into reconciliation rows (normalised models, summed, sorted).  requests are
 * the attempts not released, cost what the ledger charges.  Returns 0 with *out (free())
 * and *n, or -1 (out of memory). */
int tg_recon_from_report(const tg_report_row *rows, size_t nrows, const char *provider,
                         tg_recon_row **out, size_t *n);

/* Compares ledger and vendor rows (each sorted by day, model) over [from_day, to_day]:
 * only the quantities the vendor file has are compared.  Returns the lines (free()) in
 * *out, *n, or -1 (out of memory). */
int tg_recon_compare(const tg_recon_row *ledger, size_t nl, const tg_recon_row *vendor,
                     size_t nv, int64_t from_day, int64_t to_day, const tg_recon_opts *o,
                     tg_recon_line **out, size_t *n);

/* Renders the lines as a table or as JSON ({"vendor","from","to","summary","rows"}) into
 * out.  Returns a tg_buf status. */
int tg_recon_render(const tg_recon_line *lines, size_t n, tg_recon_vendor v, int64_t from_day,
                    int64_t to_day, bool json, tg_buf *out);

#endif
