/* tg_focus implementation.  Each record becomes up to five priced parts (uncached input,
 * cache read, cache write, output, reasoning when priced apart); a part is written as one
 * CSV row at once, or in hourly mode added to the current hour's table (open addressing
 * on a 64-bit FNV-1a hash of its grouping key) which is sorted and written when a record
 * of a later hour arrives, and at the end.  Output is staged in a tg_buf and handed to the
 * sink every TG_FOCUS_FLUSH_AT bytes. */
#include "records/focus.h"

#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "common/buf.h"
#include "records/report.h"

#define STAGE_MAX ((size_t)16 << 20) /* staged bytes: far above one flush */
#define HOUR_US INT64_C(3600000000)
#define SEC_US INT64_C(1000000)
#define NUM_SIZE 64     /* a decimal number's text */
#define KEY_SIZE 512    /* an hourly group's key */
#define TABLE_INITIAL 256

/* The FOCUS columns (alphabetical), then tollgate's x_ columns. */
static const char *const columns[] = {
    "BilledCost", "BillingAccountId", "BillingAccountName", "BillingCurrency",
    "BillingPeriodEnd", "BillingPeriodStart", "ChargeCategory", "ChargeClass",
    "ChargeDescription", "ChargeFrequency", "ChargePeriodEnd", "ChargePeriodStart",
    "ConsumedQuantity", "ConsumedUnit", "ContractedCost", "ContractedUnitPrice",
    "EffectiveCost", "HostProviderName", "InvoiceIssuerName", "ListCost", "ListUnitPrice",
    "PricingCategory", "PricingQuantity", "PricingUnit", "RegionId", "ResourceId",
    "ServiceCategory", "ServiceName", "ServiceProviderName", "ServiceSubcategory", "SkuId",
    "SkuMeter", "SkuPriceDetails", "SkuPriceId", "SubAccountId", "SubAccountName", "Tags",
    "x_RequestId", "x_Attempt", "x_RequestCount", "x_RequestedModel", "x_RoutedModel",
    "x_Rule", "x_PolicyVersion", "x_PriceVersion", "x_PriceSource", "x_TokenSource",
    "x_TokenType", "x_Endpoint", "x_Status",
};
#define NCOLS ((int)(sizeof columns / sizeof *columns))

/* Data types for the metadata, by column index (decimal, string, date-time, JSON). */
static char column_type(int i)
{
    static const char *const dec[] = {"BilledCost", "ConsumedQuantity", "ContractedCost",
                                      "ContractedUnitPrice", "EffectiveCost", "ListCost",
                                      "ListUnitPrice", "PricingQuantity", "x_Attempt",
                                      "x_RequestCount", "x_Status"};
    for (size_t k = 0; k < sizeof dec / sizeof *dec; k++)
        if (!strcmp(columns[i], dec[k]))
            return 'd';
    if (strstr(columns[i], "PeriodStart") || strstr(columns[i], "PeriodEnd"))
        return 't';
    if (!strcmp(columns[i], "Tags") || !strcmp(columns[i], "SkuPriceDetails"))
        return 'j';
    return 's';
}

enum { M_INPUT, M_CACHE_READ, M_CACHE_WRITE, M_OUTPUT, M_COUNT };
static const char *const meters[M_COUNT] = {"Input Tokens", "Cache Read Input Tokens",
                                            "Cache Write Input Tokens", "Output Tokens"};

/* One priced part of a record (or, hourly, the sum of such parts). */
typedef struct {
    int64_t hour;         /* hourly: the hour's start, µs */
    char team[TG_TEAM_NAME_MAX + 1], key_id[TG_KEY_ID_LEN + 1];
    char model[128], provider[64], price_version[TG_RECORD_VERSION_MAX];
    int meter;            /* M_* */
    const char *token_type;   /* input, cached_input, cache_write, output, reasoning */
    const char *source;   /* reported, estimated, reserved */
    bool price_known;
    int64_t unit_nano;    /* nano-dollars per million tokens */
    int64_t tokens, billed_nusd, requests;
    bool used;
} part;

struct tg_focus {
    const tg_catalog *cat;
    bool hourly;
    tg_focus_sink sink;
    void *ctx;
    tg_buf stage;
    int failed;
    tg_focus_stats stats;
    part *table;          /* hourly: the current hour's groups */
    size_t cap, used;
    int64_t hour;
};

void tg_focus_decimal(__int128 v, int scale, char *buf, size_t size)
{
    char digits[NUM_SIZE];
    int n = 0;
    bool neg = v < 0;
    unsigned __int128 u = neg ? (unsigned __int128)(-v) : (unsigned __int128)v;
    do {
        digits[n++] = (char)('0' + (int)(u % 10));
        u /= 10;
    } while (u && n < NUM_SIZE - 2);
    while (n <= scale)
        digits[n++] = '0';
    /* digits[] is little-endian; drop trailing (fractional) zeros */
    int lo = 0;
    while (lo < scale && digits[lo] == '0')
        lo++;
    size_t o = 0;
    if (neg && o + 1 < size)
        buf[o++] = '-';
    for (int i = n - 1; i >= lo && o + 2 < size; i--) {
        buf[o++] = digits[i];
        if (i == scale && i > lo)
            buf[o++] = '.';
    }
    buf[o] = '\0';
}

static void iso_time(int64_t us, char *out, size_t size)
{
    int64_t s = us >= 0 ? us / SEC_US : (us - SEC_US + 1) / SEC_US;
    char day[TG_REPORT_DATE_SIZE];
    int64_t d = tg_report_day_of(s), rem = s - d * 86400;
    tg_report_day_text(d, day);
    snprintf(out, size, "%sT%02d:%02d:%02dZ", day, (int)(rem / 3600), (int)(rem / 60 % 60),
             (int)(rem % 60));
}

/* The vendor's display name, for the provider columns. */
static const char *provider_display(const char *p)
{
    static const char *const names[][2] = {{"openai", "OpenAI"},   {"anthropic", "Anthropic"},
                                           {"gemini", "Google"},   {"google", "Google"},
                                           {"deepseek", "DeepSeek"}, {"xai", "xAI"},
                                           {"mistral", "Mistral AI"}};
    for (size_t i = 0; i < sizeof names / sizeof *names; i++)
        if (!strcmp(p, names[i][0]))
            return names[i][1];
    return p;
}

static int stage_flush(tg_focus *f, size_t at_least)
{
    if (f->failed || f->stage.len < at_least)
        return f->failed;
    if (f->stage.len && (f->failed = f->sink(f->ctx, f->stage.p, f->stage.len)) != 0)
        return f->failed;
    tg_buf_reset(&f->stage);
    return 0;
}

/* Appends one CSV field (NULL: empty), quoted when needed, then ',' or the line end.
 * Returns a tg_buf status. */
static int field(tg_buf *b, const char *v, bool last)
{
    int rc = TG_BUF_OK;
    if (v && strpbrk(v, ",\"\r\n")) {
        rc = tg_buf_puts(b, "\"");
        for (const char *p = v; rc == TG_BUF_OK && *p; p++)
            rc = *p == '"' ? tg_buf_puts(b, "\"\"") : tg_buf_append(b, p, 1);
        if (rc == TG_BUF_OK)
            rc = tg_buf_puts(b, "\"");
    } else if (v) {
        rc = tg_buf_puts(b, v);
    }
    return rc == TG_BUF_OK ? tg_buf_puts(b, last ? "\r\n" : ",") : rc;
}

/* A flat JSON object of string pairs, into out. */
static void json_object(char *out, size_t size, const char *const *kv, int npairs)
{
    tg_buf b;
    tg_buf_init(&b, size - 1);
    int rc = tg_buf_puts(&b, "{");
    for (int i = 0; rc == TG_BUF_OK && i < npairs; i++) {
        rc = tg_buf_puts(&b, i ? "," : "");
        if (rc == TG_BUF_OK)
            rc = tg_report_json_string(&b, kv[2 * i]);
        if (rc == TG_BUF_OK)
            rc = tg_buf_puts(&b, ":");
        if (rc == TG_BUF_OK)
            rc = tg_report_json_string(&b, kv[2 * i + 1]);
    }
    if (rc == TG_BUF_OK)
        rc = tg_buf_puts(&b, "}");
    snprintf(out, size, "%s", rc == TG_BUF_OK && b.p ? b.p : "{}");
    tg_buf_free(&b);
}

/* Writes one row for part p; `r` is the record (NULL in hourly mode). */
static int write_row(tg_focus *f, const part *p, const tg_record *r, int64_t start_us,
                     int64_t end_us)
{
    char billed[NUM_SIZE], qty[NUM_SIZE], unit[NUM_SIZE], list[NUM_SIZE], consumed[NUM_SIZE];
    char ps[32], pe[32], bs[32], be[32], desc[320], sku[320], skuprice[480], tags[256],
        details[512], svc[128], attempt[16], count[24], status[16];
    tg_focus_decimal(p->billed_nusd, 9, billed, sizeof billed);
    tg_focus_decimal(p->tokens, 6, qty, sizeof qty);
    tg_focus_decimal(p->tokens, 0, consumed, sizeof consumed);
    tg_focus_decimal(p->unit_nano, 9, unit, sizeof unit);
    tg_focus_decimal((__int128)p->tokens * p->unit_nano, 15, list, sizeof list);
    iso_time(start_us, ps, sizeof ps);
    iso_time(end_us, pe, sizeof pe);
    int64_t first, last;
    tg_report_month_of(tg_report_day_of(start_us / SEC_US), &first, &last);
    iso_time(first * 86400 * SEC_US, bs, sizeof bs);
    iso_time((last + 1) * 86400 * SEC_US, be, sizeof be);
    const char *prov = provider_display(p->provider);
    snprintf(svc, sizeof svc, "%s API", prov);
    snprintf(desc, sizeof desc, "%s %s", p->model, meters[p->meter]);
    snprintf(sku, sizeof sku, "%s/%s/%s", p->provider, p->model, p->token_type);
    snprintf(skuprice, sizeof skuprice, "%s@%s/%s", sku,
             p->price_version[0] ? p->price_version : "-", unit);
    const char *tag_kv[] = {"team", p->team, "key", p->key_id};
    json_object(tags, sizeof tags, tag_kv, 2);
    const char *det_kv[] = {"x_ModelDeveloper", prov, "x_ModelId", p->model,
                            "x_PriceVersion", p->price_version};
    json_object(details, sizeof details, det_kv, 3);
    snprintf(count, sizeof count, "%" PRId64, p->requests);
    if (r) {
        snprintf(attempt, sizeof attempt, "%d", r->attempt);
        snprintf(status, sizeof status, "%d", r->status);
    }
    const char *v[NCOLS] = {
        billed, prov, prov, "USD", be, bs, "Usage", NULL, desc, "Usage-Based", pe, ps,
        consumed, "Tokens", list, unit, billed, prov, prov, list, unit, "Standard", qty,
        "1000000 Tokens", NULL, NULL, "AI and Machine Learning", svc, prov, "Generative AI",
        sku, meters[p->meter], details, skuprice, p->team, p->team, tags,
        r ? r->id : NULL, r ? attempt : NULL, count, r ? r->requested_model : NULL, p->model,
        r && r->rule[0] ? r->rule : NULL, r && r->policy_version[0] ? r->policy_version : NULL,
        p->price_version[0] ? p->price_version : NULL, p->price_known ? "catalog" : "unknown",
        p->source, p->token_type, r ? r->endpoint : NULL, r ? status : NULL};
    for (int i = 0; i < NCOLS && !f->failed; i++)
        if (field(&f->stage, v[i], i == NCOLS - 1) != TG_BUF_OK)
            f->failed = -1;
    f->stats.rows++;
    f->stats.billed_nusd += p->billed_nusd;
    return stage_flush(f, TG_FOCUS_FLUSH_AT);
}

static uint64_t fnv(const char *s, size_t n)
{
    uint64_t h = 1469598103934665603u;
    for (size_t i = 0; i < n; i++)
        h = (h ^ (unsigned char)s[i]) * 1099511628211u;
    return h;
}

static size_t group_key(const part *p, char *key)
{
    int n = snprintf(key, KEY_SIZE, "%s|%s|%s|%s|%s|%d|%s|%s|%" PRId64 "|%d", p->team,
                     p->key_id, p->model, p->provider, p->price_version, p->meter,
                     p->token_type, p->source, p->unit_nano, p->price_known);
    return n < 0 ? 0 : (size_t)n < KEY_SIZE ? (size_t)n : KEY_SIZE - 1;
}

static int part_cmp(const void *a, const void *b)
{
    const part *x = a, *y = b;
    int c;
    if (x->used != y->used || !x->used)
        return x->used == y->used ? 0 : x->used ? -1 : 1;
    if ((c = strcmp(x->team, y->team)) || (c = strcmp(x->key_id, y->key_id)) ||
        (c = strcmp(x->model, y->model)) || (c = strcmp(x->provider, y->provider)))
        return c;
    if (x->meter != y->meter)
        return x->meter - y->meter;
    if ((c = strcmp(x->token_type, y->token_type)) || (c = strcmp(x->source, y->source)))
        return c;
    return (x->unit_nano > y->unit_nano) - (x->unit_nano < y->unit_nano);
}

/* Writes the current hour's groups in a stable order and empties the table. */
static int flush_hour(tg_focus *f)
{
    if (!f->used)
        return f->failed;
    qsort(f->table, f->cap, sizeof *f->table, part_cmp);
    for (size_t i = 0; i < f->used && !f->failed; i++)
        write_row(f, &f->table[i], NULL, f->hour, f->hour + HOUR_US);
    memset(f->table, 0, f->cap * sizeof *f->table);
    f->used = 0;
    return f->failed;
}

static int table_grow(tg_focus *f);

static int hourly_add(tg_focus *f, const part *p)
{
    if ((f->used + 1) * 2 > f->cap && table_grow(f) != 0)
        return -1;
    char key[KEY_SIZE], other[KEY_SIZE];
    size_t kl = group_key(p, key);
    for (size_t i = fnv(key, kl) & (f->cap - 1);; i = (i + 1) & (f->cap - 1)) {
        part *e = &f->table[i];
        if (!e->used) {
            *e = *p;
            e->used = true;
            f->used++;
            return 0;
        }
        if (group_key(e, other) == kl && memcmp(key, other, kl) == 0) {
            e->tokens += p->tokens;
            e->billed_nusd += p->billed_nusd;
            e->requests += p->requests;
            return 0;
        }
    }
}

static int table_grow(tg_focus *f)
{
    size_t ncap = f->cap ? f->cap * 2 : TABLE_INITIAL;
    part *old = f->table;
    size_t ocap = f->cap;
    f->table = calloc(ncap, sizeof *f->table);
    if (!f->table) {
        f->table = old;
        return -1;
    }
    f->cap = ncap;
    f->used = 0;
    for (size_t i = 0; i < ocap; i++)
        if (old[i].used)
            hourly_add(f, &old[i]);
    free(old);
    return 0;
}

/* The unit prices of the record's model at its price version and tier. */
typedef struct {
    bool known;
    int64_t input, cached, write, output, reasoning;
} unit_prices;

static unit_prices prices_for(const tg_focus *f, const tg_record *r)
{
    unit_prices u = {0};
    const tg_cat_model *m = f->cat ? tg_catalog_find(f->cat, r->model) : NULL;
    const tg_cat_version *v = NULL;
    for (int i = 0; m && r->price_version[0] && i < m->nversions; i++)
        if (!strcmp(m->versions[i].id, r->price_version))
            v = &m->versions[i];
    if (m && !v)
        v = tg_cat_version_at(m, r->ts_us / SEC_US);
    if (!v)
        return u;
    const tg_cat_prices *p = tg_cat_tier(v, r->input_tokens);
    if (p->input == TG_CAT_PRICE_UNKNOWN || p->output == TG_CAT_PRICE_UNKNOWN)
        return u;
    u.known = true;
    u.input = p->input;
    u.output = p->output;
    u.cached = p->cached_input != TG_CAT_PRICE_UNKNOWN ? p->cached_input : p->input;
    u.write = p->cache_write != TG_CAT_PRICE_UNKNOWN ? p->cache_write : p->input;
    u.reasoning = p->reasoning != TG_CAT_PRICE_UNKNOWN ? p->reasoning : p->output;
    return u;
}

int tg_focus_price_record(const tg_catalog *cat, tg_record *rec)
{
    tg_focus f = {.cat = cat};
    const tg_cat_model *m = tg_catalog_find(cat, rec->model);
    const tg_cat_version *v = m && !rec->price_version[0]
                                  ? tg_cat_version_at(m, rec->ts_us / SEC_US) : NULL;
    if (v)
        snprintf(rec->price_version, sizeof rec->price_version, "%s", v->id);
    unit_prices u = prices_for(&f, rec);
    if (!u.known)
        return -1;
    int64_t uncached = rec->input_tokens - rec->cached_input_tokens - rec->cache_write_tokens;
    int64_t plain_out = rec->output_tokens - rec->reasoning_tokens;
    rec->cost_input_nusd = tg_cat_cost(uncached > 0 ? uncached : 0, u.input);
    rec->cost_cached_nusd = tg_cat_cost(rec->cached_input_tokens, u.cached);
    rec->cost_cache_write_nusd = tg_cat_cost(rec->cache_write_tokens, u.write);
    rec->cost_output_nusd = tg_cat_cost(plain_out > 0 ? plain_out : 0, u.output) +
                            tg_cat_cost(rec->reasoning_tokens, u.reasoning);
    rec->cost_nusd = rec->cost_input_nusd + rec->cost_cached_nusd +
                     rec->cost_cache_write_nusd + rec->cost_output_nusd;
    return 0;
}

/* The record's parts: up to five. */
static int record_parts(const tg_focus *f, const tg_record *r, part *out)
{
    unit_prices u = prices_for(f, r);
    part base = {.requests = 1, .price_known = u.known};
    snprintf(base.team, sizeof base.team, "%s", r->team);
    snprintf(base.key_id, sizeof base.key_id, "%s", r->key_id);
    snprintf(base.model, sizeof base.model, "%s", r->model);
    snprintf(base.provider, sizeof base.provider, "%s", r->provider);
    snprintf(base.price_version, sizeof base.price_version, "%s", r->price_version);
    base.source = r->usage_estimated ? "estimated" : "reported";
    int n = 0;
    if (r->state == TG_RECORD_UNSETTLED) {
        out[n] = base;
        out[n].source = "reserved";
        out[n].meter = M_INPUT, out[n].token_type = "input", out[n].unit_nano = u.input;
        out[n].tokens = r->input_tokens > 0 ? r->input_tokens : 0;
        out[n++].billed_nusd = r->reserved_nusd;
        return n;
    }
    int64_t uncached = r->input_tokens - r->cached_input_tokens - r->cache_write_tokens;
    int64_t plain_out = r->output_tokens - r->reasoning_tokens;
    bool split = u.reasoning != u.output && r->reasoning_tokens > 0;
    int64_t reason_cost = split ? tg_cat_cost(r->reasoning_tokens, u.reasoning) : 0;
    const struct {
        int meter;
        const char *type;
        int64_t tokens, price, cost;
    } kinds[] = {
        {M_INPUT, "input", uncached, u.input, r->cost_input_nusd},
        {M_CACHE_READ, "cached_input", r->cached_input_tokens, u.cached, r->cost_cached_nusd},
        {M_CACHE_WRITE, "cache_write", r->cache_write_tokens, u.write,
         r->cost_cache_write_nusd},
        {M_OUTPUT, "output", split ? plain_out : r->output_tokens, u.output,
         r->cost_output_nusd - reason_cost},
        {M_OUTPUT, "reasoning", split ? r->reasoning_tokens : 0, u.reasoning, reason_cost},
    };
    for (size_t k = 0; k < sizeof kinds / sizeof *kinds; k++) {
        if (kinds[k].tokens <= 0 && kinds[k].cost == 0)
            continue;
        out[n] = base;
        out[n].meter = kinds[k].meter;
        out[n].token_type = kinds[k].type;
        out[n].tokens = kinds[k].tokens > 0 ? kinds[k].tokens : 0;
        out[n].unit_nano = u.known ? kinds[k].price : 0;
        out[n++].billed_nusd = kinds[k].cost;
    }
    return n;
}

tg_focus *tg_focus_new(const tg_catalog *cat, bool hourly, tg_focus_sink sink, void *ctx)
{
    tg_focus *f = calloc(1, sizeof *f);
    if (!f)
        return NULL;
    f->cat = cat, f->hourly = hourly, f->sink = sink, f->ctx = ctx;
    f->hour = INT64_MIN;
    tg_buf_init(&f->stage, STAGE_MAX);
    for (int i = 0; i < NCOLS && !f->failed; i++)
        if (field(&f->stage, columns[i], i == NCOLS - 1) != TG_BUF_OK)
            f->failed = -1;
    return f;
}

int tg_focus_add(tg_focus *f, const tg_record *r)
{
    if (f->failed)
        return f->failed;
    if (r->state == TG_RECORD_RESERVED || r->state == TG_RECORD_RELEASED)
        return 0;
    f->stats.records++;
    part parts[5];
    int n = record_parts(f, r, parts);
    if (!f->hourly) {
        int64_t start = r->ts_us - ((r->ts_us % SEC_US) + SEC_US) % SEC_US;
        for (int i = 0; i < n && !f->failed; i++)
            write_row(f, &parts[i], r, start, start + SEC_US);
        return f->failed;
    }
    int64_t hour = r->ts_us - ((r->ts_us % HOUR_US) + HOUR_US) % HOUR_US;
    if (hour != f->hour && flush_hour(f) != 0)
        return f->failed;
    f->hour = hour;
    for (int i = 0; i < n; i++)
        if (hourly_add(f, &parts[i]) != 0)
            return f->failed = -1;
    return 0;
}

int tg_focus_record_fn(void *ctx, const tg_record *r)
{
    return tg_focus_add(ctx, r);
}

int tg_focus_end(tg_focus *f, tg_focus_stats *stats)
{
    if (f->hourly)
        flush_hour(f);
    int rc = stage_flush(f, 0);
    if (stats)
        *stats = f->stats;
    tg_buf_free(&f->stage);
    free(f->table);
    free(f);
    return rc;
}

char *tg_focus_metadata(bool hourly, int64_t now_s)
{
    tg_buf b;
    char created[32];
    iso_time(now_s * SEC_US, created, sizeof created);
    tg_buf_init(&b, (size_t)1 << 20);
    int rc = tg_buf_printf(&b,
                           "{\n  \"DataGenerator\": {\"DataGenerator\": \"tollgate\"},\n"
                           "  \"Schema\": {\n    \"SchemaId\": \"tollgate-focus-1.4-%s\",\n"
                           "    \"FocusVersion\": \"" TG_FOCUS_VERSION "\",\n"
                           "    \"CreationDate\": \"%s\",\n"
                           "    \"x_Granularity\": \"%s\",\n    \"ColumnDefinition\": [",
                           hourly ? "hourly" : "request", created,
                           hourly ? "hour" : "request-token-type");
    static const char *const types[] = {"Decimal", "String", "DateTime", "JSON"};
    for (int i = 0; rc == TG_BUF_OK && i < NCOLS; i++) {
        char t = column_type(i);
        rc = tg_buf_printf(&b, "%s\n      {\"ColumnName\": \"%s\", \"DataType\": \"%s\"%s}",
                           i ? "," : "", columns[i],
                           types[t == 'd' ? 0 : t == 's' ? 1 : t == 't' ? 2 : 3],
                           !strcmp(columns[i], "BillingCurrency")
                               ? ", \"StringMaxLength\": 3, \"StringEncoding\": \"UTF-8\""
                           : t == 'd' ? ", \"NumberScale\": 15, \"NumberPrecision\": 38"
                                      : "");
    }
    if (rc == TG_BUF_OK)
        rc = tg_buf_puts(&b, "\n    ]\n  }\n}\n");
    if (rc != TG_BUF_OK) {
        tg_buf_free(&b);
        return NULL;
    }
    return b.p; /* tg_buf's storage is malloc'd and NUL-terminated */
}
