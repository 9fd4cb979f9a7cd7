/* tg_admin_reports: the finance part of the admin API (reports, FOCUS export, dashboard),
 * kept apart from admin.c, whose dispatcher calls tg_admin_reports_handle first.
 *
 *   GET /report?from=D&to=D&by=F,..&team=T&format=json|csv|table
 *                  as `tollgate report` (records/report.h); default format json
 *   GET /export/focus?from=D&to=D[&hourly=1]   FOCUS 1.4 CSV (records/focus.h), up to
 *                  TG_ADMIN_EXPORT_MAX bytes (413 past that: use hourly=1 or the CLI)
 *   GET /export/focus/metadata[?hourly=1]      the FOCUS metadata JSON
 *   GET /dashboard  the dashboard page (static HTML with inline JS and SVG, no data in it
 *                  and no external assets).  It is served WITHOUT the admin token: the
 *                  page reads the token from its URL fragment (/dashboard#token=...; a
 *                  fragment is never sent to the server) or asks for it, and sends it as
 *                  a bearer token to the data endpoints below, which need it.
 *   GET /dashboard/data/spend?days=N     spend per team and UTC day, last N days (30)
 *   GET /dashboard/data/budgets          each team's current period: budget, spend to
 *                  date by day, linear projection to the period's end
 *   GET /dashboard/data/models?days=N    model mix: requests, tokens, cost per model
 *   GET /dashboard/data/accuracy?days=N  estimated vs vendor-reported input tokens per
 *                  model (attempts with reported usage only), error in percent
 *   GET /dashboard/data/keys?days=N&limit=K  top keys by cost (10)
 * Money in JSON is an exact decimal number of USD (from int64 nano-dollars). */
#ifndef TG_ADMIN_REPORTS_H
#define TG_ADMIN_REPORTS_H
#include <stdbool.h>

#include <microhttpd.h>

#include "proxy/config.h"

#define TG_ADMIN_EXPORT_MAX ((size_t)256 << 20)
#define TG_DASHBOARD_DAYS_MAX 366

/* Handles `url` when it is one of the paths above: sets *handled and returns the MHD
 * result; otherwise *handled is false.  `authorized`: the request carried the admin
 * token (every path but /dashboard needs it). */
enum MHD_Result tg_admin_reports_handle(struct MHD_Connection *con, const tg_config *cfg,
                                        const char *url, const char *method, bool authorized,
                                        bool *handled);

/* Closes the admin thread's store handle (tg_admin_stop). */
void tg_admin_reports_stop(void);

/* The embedded dashboard page (records/dashboard.html), for tests. */
extern const char tg_dashboard_html[];
extern const size_t tg_dashboard_html_len;

#endif
