/* libFuzzer target for the vendor usage/cost importer (records/reconcile.h): the first
 * byte picks the vendor, the rest is the file (CSV or JSON).
 * Checks: no crash, hang or leak; a failed parse says why (a non-empty line) and returns
 * no rows; a successful one gives rows sorted by (day, model) with no key twice, counts in
 * range, and a comparison with itself that matches everywhere. */
#include "records/reconcile.h"

#include <stdint.h>
#include <stdlib.h>
#include <string.h>

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static void check_rows(const tg_recon_row *r, size_t n)
{
    for (size_t i = 0; i < n; i++) {
        if (r[i].input_tokens < 0 || r[i].output_tokens < 0 || r[i].requests < 0 ||
            r[i].cached_input_tokens < 0 || r[i].cache_write_tokens < 0 ||
            !memchr(r[i].model, '\0', sizeof r[i].model))
            abort();
        if (i && (r[i - 1].day > r[i].day ||
                  (r[i - 1].day == r[i].day && strcmp(r[i - 1].model, r[i].model) >= 0)))
            abort();
    }
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (size < 1)
        return 0;
    tg_recon_vendor v = data[0] & 1 ? TG_RECON_ANTHROPIC : TG_RECON_OPENAI;
    tg_recon_row *rows = NULL;
    size_t n = 0;
    char err[256] = "";
    int rc = tg_recon_parse((const char *)data + 1, size - 1, v, &rows, &n, err, sizeof err);
    if (rc != 0) {
        if (!err[0] || rows || n)
            abort();
        return 0;
    }
    check_rows(rows, n);
    tg_recon_opts o = {0};
    tg_recon_line *lines = NULL;
    size_t nl = 0;
    if (tg_recon_compare(rows, n, rows, n, INT64_MIN, INT64_MAX, &o, &lines, &nl) != 0)
        abort();
    for (size_t i = 0; i < nl; i++)
        if (lines[i].status != TG_RECON_MATCHED)
            abort();
    free(lines);
    free(rows);
    return 0;
}
