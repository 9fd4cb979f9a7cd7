/* libFuzzer target for the admin API's body parser (proxy/admin_teams.h): arbitrary bytes
 * as the body of each kind of request.  Checks: no crash; a refusal always says why; an
 * accepted body gives limits that are each >= 0 or TG_STORE_UNLIMITED, strings that are
 * terminated, and a period that exists. */
#include "proxy/admin_teams.h"

#include <stdint.h>
#include <stdlib.h>
#include <string.h>

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static int limit_ok(int64_t v)
{
    return v >= 0 || v == TG_STORE_UNLIMITED;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    for (int kind = TG_ADMIN_BODY_TEAM_NEW; kind <= TG_ADMIN_BODY_KEY_SET; kind++) {
        tg_admin_fields f;
        char err[TG_ADMIN_ERR_SIZE] = "";
        if (tg_admin_fields_parse((const char *)data, size, (tg_admin_body_kind)kind, &f, err,
                                  sizeof err) != 0) {
            if (!err[0])
                abort();
            continue;
        }
        const tg_limits *l = &f.upd.lim;
        if (!limit_ok(l->budget_nusd) || !limit_ok(l->budget_tokens) ||
            !limit_ok(l->budget_requests) || !limit_ok(l->rpm) || !limit_ok(l->tpm))
            abort();
        if ((unsigned)f.upd.period > TG_PERIOD_MONTH)
            abort();
        if (strnlen(f.name, sizeof f.name) == sizeof f.name ||
            strnlen(f.team, sizeof f.team) == sizeof f.team ||
            strnlen(f.label, sizeof f.label) == sizeof f.label)
            abort();
        if (kind == TG_ADMIN_BODY_KEY_SET && (f.has_name || f.has_team || f.upd.set_period))
            abort();
    }
    return 0;
}
