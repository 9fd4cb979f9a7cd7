/* tg_count: prompt tokens of an API request body (see count.h for the contract).
 *
 * How it works.  One walk over the parsed body, with a context (cctx) that carries the
 * encoding, the per-model constants, the running totals and the JSON path of the value
 * being looked at, so every shape error names its place ("messages[2].content: ...").
 * Every walker returns 0, TG_COUNT_EINVAL or TG_COUNT_ENOMEM and stops at the first error.
 *
 * The rules, and where they come from:
 *
 * Chat completions: OpenAI cookbook "How to count tokens with tiktoken", section 6
 *   (num_tokens_from_messages): 3 tokens per message, plus the tokens of every string value
 *   in it (role, content, name and any other string field), plus 1 per name, plus 3 that
 *   prime the reply.  Content given as an array of parts counts the text of its text parts
 *   and each image by the image rule below.  Assistant tool calls count 3 + name +
 *   arguments each (an estimate: the cookbook does not cover them).  Published check: the
 *   cookbook's six-message example is 129 tokens on gpt-3.5-turbo/gpt-4 (cl100k_base) and
 *   124 on gpt-4o/gpt-4o-mini (o200k_base).
 *
 * Tools: the same cookbook, section 7 (num_tokens_for_tools).  Per function: func_init +
 *   tokens("name:description") (one trailing '.' of the description dropped); when it has
 *   properties, prop_init and per property prop_key + tokens("key:type:description"), and
 *   for an enum, enum_init + per item enum_item + tokens(item); func_end once after all
 *   functions.  func_init is 7 for o200k_base models (gpt-4o family) and 10 for
 *   cl100k_base ones (gpt-3.5-turbo, gpt-4); prop_init 3, prop_key 3, enum_init -3,
 *   enum_item 3, func_end 12.  Published check: the get_current_weather example is 105
 *   tokens on gpt-3.5-turbo/gpt-4 and 101 on gpt-4o/gpt-4o-mini.  Schemas the cookbook
 *   does not cover (nested objects, arrays, anyOf, $ref, $defs, a missing type or
 *   description) add the tokens of their compact JSON as well, and make the count an
 *   estimate; so do non-function tools.
 *
 * Images (OpenAI vision guide, "Calculating costs"): detail "low" costs the base; "high"
 *   and "auto" (counted as high, the worst case) fit the image in 2048x2048, scale its
 *   short side down to 768 and cost base + tile * (number of 512 px tiles).  Base/tile is
 *   85/170 (gpt-4o, gpt-4.1, gpt-4.5, gpt-4-turbo and by default; o-series and gpt-5 list
 *   slightly less, so this is an upper bound for them) and 2833/5667 for gpt-4o-mini.  The
 *   patch-billed models (gpt-4.1-mini, gpt-4.1-nano, gpt-5-mini, gpt-5-nano, o4-mini)
 *   cost ceil(w/32)*ceil(h/32) patches, at most 1536, times 1.62/2.46/1.62/2.46/1.72.  The
 *   size is read from inline base64 data (PNG, JPEG, GIF, WebP); when it cannot be (a
 *   URL, a file id, another format) the worst case is counted: 8 tiles (a 768x2048 image)
 *   or 1536 patches, and the count becomes an estimate.
 *
 * Completions and embeddings: the tokens of the prompt/input (a string, an array of
 *   strings, an array of token ids or an array of such arrays: one token per id), and of a
 *   completions "suffix".  No framing.
 *
 * Responses API (always an estimate: OpenAI publishes no rule): "instructions" and every
 *   message item count like chat messages (a string input is one user message), function
 *   calls and their outputs like tool calls, 3 for the reply, tools as above.  Items this
 *   code does not know count the tokens of their compact JSON.  A previous_response_id's
 *   stored context cannot be seen from here and is not counted.
 *
 * Anthropic messages (always an estimate: Claude's tokenizer is not public): text in
 *   o200k_base with the chat framing (3 per message, 3 for the reply; the system prompt is
 *   one message), tool_use input and tool schemas as compact JSON, plus the tool-use system
 *   prompt Anthropic documents for current models when tools are given (346 tokens, 313
 *   when tool_choice is "any" or "tool").  Images cost w*h/750 tokens after the long edge
 *   is scaled to 1568 px, at most 1600 (the worst case when the size is unknown).
 *
 * Not counted at all (and the count is then an estimate): audio, files, PDF documents
 *   (Anthropic plain-text documents count their text), redacted thinking, item
 *   references. */
#include "router/count.h"

#include "common/buf.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

/* The longest JSON path kept for error messages; longer ones are cut. */
#define PATH_MAX_ 256
/* Decoded bytes of an inline image looked at to find its size (JPEG may need to skip
 * metadata first). */
#define SNIFF_MAX ((size_t)1 << 20)

/* OpenAI chat framing (cookbook). */
#define TOKENS_PER_MESSAGE 3
#define TOKENS_PER_NAME 1
#define TOKENS_REPLY_PRIMING 3
/* OpenAI tools (cookbook). */
#define FUNC_INIT_O200K 7
#define FUNC_INIT_CL100K 10
#define PROP_INIT 3
#define PROP_KEY 3
#define ENUM_INIT (-3)
#define ENUM_ITEM 3
#define FUNC_END 12
/* OpenAI images. */
#define TILE_PX 512
#define TILE_FIT_PX 2048
#define TILE_SHORT_PX 768
#define TILES_WORST 8
#define PATCH_PX 32
#define PATCH_MAX 1536
/* Anthropic. */
#define CLAUDE_TOOL_PROMPT_AUTO 346
#define CLAUDE_TOOL_PROMPT_ANY 313
#define CLAUDE_IMAGE_LONG_EDGE 1568
#define CLAUDE_IMAGE_PX_PER_TOKEN 750
#define CLAUDE_IMAGE_MAX 1600

typedef struct {
    bool patches;     /* patch-billed model */
    int base, tile;   /* tile models */
    int mult_percent; /* patch models: tokens per patch x 100 */
} img_rule;

typedef struct {
    const tg_bpe *bpe;
    const char *model; /* without a "provider/" prefix; "" when none */
    img_rule img;
    int func_init;
    tg_count_result *res;
    bool estimated;
    char *scratch; /* for building "name:type:description" lines */
    size_t scratch_cap;
    char *err;
    size_t errlen;
    char path[PATH_MAX_];
    size_t plen;
} cctx;

/* ---------------------------------------------------------------- paths and errors */

static size_t path_add(cctx *c, const char *sep, const char *key, int index)
{
    size_t mark = c->plen, room = sizeof c->path - c->plen;
    if (key) {
        size_t s = c->plen ? tg_str_copy(c->path + c->plen, room, sep) : 0;
        c->plen += s + tg_str_copy(c->path + c->plen + s, room - s, key);
        return mark;
    }
    char num[TG_INT_TEXT_SIZE + 2] = "[";
    size_t k = 1 + tg_int_text(index, num + 1);
    num[k++] = ']', num[k] = '\0';
    c->plen += tg_str_copy(c->path + c->plen, room, num);
    return mark;
}

static size_t path_key(cctx *c, const char *key)
{
    return path_add(c, ".", key, 0);
}

static size_t path_index(cctx *c, int i)
{
    return path_add(c, "", NULL, i);
}

static void path_pop(cctx *c, size_t mark)
{
    c->plen = mark;
    c->path[mark] = '\0';
}

static int fail(cctx *c, const char *what)
{
    if (c->errlen)
        snprintf(c->err, c->errlen, "%s: %s", c->plen ? c->path : "body", what);
    return TG_COUNT_EINVAL;
}

static int fail_key(cctx *c, const char *key, const char *what)
{
    size_t mark = path_key(c, key);
    int rc = fail(c, what);
    path_pop(c, mark);
    return rc;
}

static int oom(cctx *c)
{
    if (c->errlen)
        snprintf(c->err, c->errlen, "out of memory");
    return TG_COUNT_ENOMEM;
}

/* ---------------------------------------------------------------- model rules */

/* True when `model` is `family` or `family-...` (a dated or otherwise suffixed name). */
static bool model_is(const char *model, const char *family)
{
    size_t n = strlen(family);
    return strncmp(model, family, n) == 0 && (model[n] == '\0' || model[n] == '-');
}

static img_rule image_rule_for(const char *m)
{
    if (model_is(m, "gpt-4.1-mini") || model_is(m, "gpt-5-mini"))
        return (img_rule){.patches = true, .mult_percent = 162};
    if (model_is(m, "gpt-4.1-nano") || model_is(m, "gpt-5-nano"))
        return (img_rule){.patches = true, .mult_percent = 246};
    if (model_is(m, "o4-mini"))
        return (img_rule){.patches = true, .mult_percent = 172};
    if (model_is(m, "gpt-4o-mini"))
        return (img_rule){.base = 2833, .tile = 5667};
    return (img_rule){.base = 85, .tile = 170};
}

/* The families whose tool overheads the cookbook published (and verified against the
 * API): gpt-4o, gpt-4o-mini, gpt-4 and gpt-3.5-turbo. */
static bool tools_published_for(const char *m)
{
    return model_is(m, "gpt-4o") || model_is(m, "gpt-4") || model_is(m, "gpt-3.5-turbo");
}

/* ---------------------------------------------------------------- counting */

static void add(cctx *c, int64_t n)
{
    c->res->tokens += n;
}

static int add_textn(cctx *c, const char *s, size_t len)
{
    size_t n = tg_bpe_count(c->bpe, s, len);
    if (n == SIZE_MAX)
        return oom(c);
    add(c, (int64_t)n);
    return 0;
}

static int add_text(cctx *c, const char *s)
{
    return add_textn(c, s, strlen(s));
}

/* Adds the tokens of the compact JSON text of `v` and marks the count an estimate. */
static int add_json(cctx *c, const cJSON *v)
{
    char *s = cJSON_PrintUnformatted(v);
    if (!s)
        return oom(c);
    int rc = add_text(c, s);
    cJSON_free(s);
    c->estimated = true;
    return rc;
}

/* Counts "a:b" or "a:b:d" (d may be NULL) as one text, the way the cookbook joins them.
 * A trailing '.' of the last part is dropped, as the cookbook does for descriptions. */
static int add_line(cctx *c, const char *a, const char *b, const char *d)
{
    const char *last = d ? d : b;
    size_t la = strlen(a), lb = strlen(b), ld = d ? strlen(d) : 0;
    size_t need = la + lb + ld + 3;
    if (need > c->scratch_cap) {
        char *p = realloc(c->scratch, need);
        if (!p)
            return oom(c);
        c->scratch = p;
        c->scratch_cap = need;
    }
    int n = d ? snprintf(c->scratch, need, "%s:%s:%s", a, b, d)
              : snprintf(c->scratch, need, "%s:%s", a, b);
    size_t len = (size_t)n;
    if (*last && last[strlen(last) - 1] == '.')
        len--;
    return add_textn(c, c->scratch, len);
}

static const cJSON *get(const cJSON *obj, const char *key)
{
    return cJSON_GetObjectItemCaseSensitive(obj, key);
}

/* *out = the string at obj.key, or NULL when absent or null.  Anything else is an error;
 * so is absence when `required`. */
static int get_string(cctx *c, const cJSON *obj, const char *key, bool required,
                      const char **out)
{
    const cJSON *v = get(obj, key);
    *out = NULL;
    if (!v || cJSON_IsNull(v))
        return required ? fail_key(c, key, "missing") : 0;
    if (!cJSON_IsString(v) || !v->valuestring)
        return fail_key(c, key, "expected a string");
    *out = v->valuestring;
    return 0;
}

/* Adds the tokens of the string at obj.key when there is one (see get_string). */
static int add_field(cctx *c, const cJSON *obj, const char *key, bool required)
{
    const char *s;
    int rc = get_string(c, obj, key, required, &s);
    if (rc || !s)
        return rc;
    return add_text(c, s);
}

/* ---------------------------------------------------------------- image sizes */

typedef struct {
    const char *p, *end;
    uint32_t acc;
    int nbits;
    size_t pos; /* bytes decoded so far */
} b64_reader;

static int b64_val(unsigned char ch)
{
    if (ch >= 'A' && ch <= 'Z')
        return ch - 'A';
    if (ch >= 'a' && ch <= 'z')
        return ch - 'a' + 26;
    if (ch >= '0' && ch <= '9')
        return ch - '0' + 52;
    if (ch == '+' || ch == '-')
        return 62;
    if (ch == '/' || ch == '_')
        return 63;
    return -1;
}

/* The next decoded byte, or -1 at the end of the data (padding or any other character). */
static int b64_byte(b64_reader *r)
{
    while (r->nbits < 8) {
        if (r->p >= r->end)
            return -1;
        int v = b64_val((unsigned char)*r->p++);
        if (v < 0) {
            r->p = r->end;
            return -1;
        }
        r->acc = (r->acc << 6) | (uint32_t)v;
        r->nbits += 6;
    }
    r->nbits -= 8;
    int byte = (int)((r->acc >> r->nbits) & 0xffu);
    r->acc &= (1u << r->nbits) - 1;
    r->pos++;
    return byte;
}

static size_t b64_read(b64_reader *r, unsigned char *buf, size_t n)
{
    size_t i = 0;
    for (int b; i < n && (b = b64_byte(r)) >= 0; i++)
        buf[i] = (unsigned char)b;
    return i;
}

static unsigned be16(const unsigned char *p)
{
    return (unsigned)p[0] << 8 | p[1];
}
static unsigned le16(const unsigned char *p)
{
    return (unsigned)p[1] << 8 | p[0];
}
static unsigned le24(const unsigned char *p)
{
    return (unsigned)p[2] << 16 | le16(p);
}
static uint32_t be32(const unsigned char *p)
{
    return (uint32_t)be16(p) << 16 | be16(p + 2);
}

static int b64_u16(b64_reader *r)
{
    int hi = b64_byte(r), lo = b64_byte(r);
    return hi < 0 || lo < 0 ? -1 : hi << 8 | lo;
}

static bool is_sof(int m)
{
    return m >= 0xC0 && m <= 0xCF && m != 0xC4 && m != 0xC8 && m != 0xCC;
}

/* Walks JPEG markers from just after SOI to the first start-of-frame. */
static bool jpeg_dims(b64_reader *r, long *w, long *h)
{
    while (r->pos < SNIFF_MAX) {
        int m = b64_byte(r);
        if (m != 0xFF)
            return false;
        do
            m = b64_byte(r);
        while (m == 0xFF);
        if (m < 0 || m == 0xD9 || m == 0xDA)
            return false;
        if (m == 0xD8 || m == 0x01 || (m >= 0xD0 && m <= 0xD7))
            continue;
        int len = b64_u16(r);
        if (len < 2)
            return false;
        if (is_sof(m)) {
            if (b64_byte(r) < 0)
                return false;
            *h = b64_u16(r);
            *w = b64_u16(r);
            return *w > 0 && *h > 0;
        }
        for (int i = 0; i < len - 2; i++)
            if (b64_byte(r) < 0)
                return false;
    }
    return false;
}

static bool webp_dims(const unsigned char *b, size_t n, long *w, long *h)
{
    if (n < 30 || memcmp(b + 8, "WEBP", 4) != 0)
        return false;
    if (memcmp(b + 12, "VP8 ", 4) == 0) {
        *w = le16(b + 26) & 0x3fff;
        *h = le16(b + 28) & 0x3fff;
    } else if (memcmp(b + 12, "VP8L", 4) == 0) {
        uint32_t bits = (uint32_t)le24(b + 21) | (uint32_t)b[24] << 24;
        *w = (long)(bits & 0x3fff) + 1;
        *h = (long)((bits >> 14) & 0x3fff) + 1;
    } else if (memcmp(b + 12, "VP8X", 4) == 0) {
        *w = (long)le24(b + 24) + 1;
        *h = (long)le24(b + 27) + 1;
    } else {
        return false;
    }
    return *w > 0 && *h > 0;
}

/* The pixel size of base64 image data (PNG, JPEG, GIF or WebP), from its header. */
static bool image_dims_b64(const char *data, size_t len, long *w, long *h)
{
    b64_reader r = {.p = data, .end = data + len};
    unsigned char b[32];
    size_t n = b64_read(&r, b, sizeof b);
    if (n >= 24 && memcmp(b, "\x89PNG\r\n\x1a\n", 8) == 0) {
        *w = (long)be32(b + 16);
        *h = (long)be32(b + 20);
        return *w > 0 && *h > 0;
    }
    if (n >= 10 && memcmp(b, "GIF8", 4) == 0) {
        *w = le16(b + 6);
        *h = le16(b + 8);
        return *w > 0 && *h > 0;
    }
    if (n >= 12 && memcmp(b, "RIFF", 4) == 0)
        return webp_dims(b, n, w, h);
    if (n >= 3 && b[0] == 0xFF && b[1] == 0xD8) {
        b64_reader j = {.p = data, .end = data + len};
        b64_byte(&j);
        b64_byte(&j);
        return jpeg_dims(&j, w, h);
    }
    return false;
}

/* The size of the image in a "data:<type>;base64,<data>" URL. */
static bool image_dims_url(const char *url, long *w, long *h)
{
    if (strncasecmp(url, "data:", 5) != 0)
        return false;
    const char *comma = strchr(url, ',');
    if (!comma || comma - url < 12 || strncasecmp(comma - 7, ";base64", 7) != 0)
        return false;
    return image_dims_b64(comma + 1, strlen(comma + 1), w, h);
}

/* ---------------------------------------------------------------- image tokens */

/* ceil(x / unit) for x >= 0, forgiving rounding noise (no libm: the router links
 * without it). */
static int64_t ceil_div(double x, double unit)
{
    double q = x / unit - 1e-9;
    int64_t i = (int64_t)q;
    return (double)i < q ? i + 1 : i;
}

static double sqrt_pos(double x)
{
    double r = x > 1 ? x : 1;
    for (int i = 0; i < 64; i++)
        r = 0.5 * (r + x / r);
    return r;
}

static int64_t tile_tokens(const img_rule *ir, double w, double h)
{
    if (w > TILE_FIT_PX || h > TILE_FIT_PX) {
        double s = TILE_FIT_PX / (w > h ? w : h);
        w *= s;
        h *= s;
    }
    double shortest = w < h ? w : h;
    if (shortest > TILE_SHORT_PX) {
        w *= TILE_SHORT_PX / shortest;
        h *= TILE_SHORT_PX / shortest;
    }
    return ir->base + (int64_t)ir->tile * ceil_div(w, TILE_PX) * ceil_div(h, TILE_PX);
}

static int64_t patch_tokens(const img_rule *ir, double w, double h)
{
    int64_t patches = ceil_div(w, PATCH_PX) * ceil_div(h, PATCH_PX);
    if (patches > PATCH_MAX) {
        double s = sqrt_pos((double)PATCH_PX * PATCH_PX * PATCH_MAX / (w * h));
        w *= s;
        h *= s;
        double fw = (double)(int64_t)(w / PATCH_PX) / (w / PATCH_PX);
        double fh = (double)(int64_t)(h / PATCH_PX) / (h / PATCH_PX);
        s = fw < fh ? fw : fh;
        patches = ceil_div(w * s, PATCH_PX) * ceil_div(h * s, PATCH_PX);
        if (patches > PATCH_MAX || patches < 1) /* < 1: a degenerate shape */
            patches = PATCH_MAX;
    }
    return (patches * ir->mult_percent + 99) / 100;
}

static void add_image_tokens(cctx *c, int64_t n)
{
    c->res->images++;
    c->res->image_tokens += n;
    add(c, n);
}

/* An OpenAI image: `url` may be NULL (a file id), `detail` NULL or "low"/"high"/"auto". */
static void add_openai_image(cctx *c, const char *url, const char *detail)
{
    const img_rule *ir = &c->img;
    long w = 0, h = 0;
    bool known = url && image_dims_url(url, &w, &h);
    if (!ir->patches && detail && strcmp(detail, "low") == 0) {
        add_image_tokens(c, ir->base);
        return;
    }
    if (!known) {
        c->estimated = true;
        add_image_tokens(c, ir->patches ? (PATCH_MAX * ir->mult_percent + 99) / 100
                                        : ir->base + (int64_t)ir->tile * TILES_WORST);
        return;
    }
    add_image_tokens(c, ir->patches ? patch_tokens(ir, (double)w, (double)h)
                                    : tile_tokens(ir, (double)w, (double)h));
}

static void add_claude_image(cctx *c, const char *b64)
{
    long w = 0, h = 0;
    c->estimated = true;
    if (!b64 || !image_dims_b64(b64, strlen(b64), &w, &h)) {
        add_image_tokens(c, CLAUDE_IMAGE_MAX);
        return;
    }
    double dw = (double)w, dh = (double)h, longest = dw > dh ? dw : dh;
    if (longest > CLAUDE_IMAGE_LONG_EDGE) {
        dw *= CLAUDE_IMAGE_LONG_EDGE / longest;
        dh *= CLAUDE_IMAGE_LONG_EDGE / longest;
    }
    int64_t n = ceil_div(dw * dh, CLAUDE_IMAGE_PX_PER_TOKEN);
    add_image_tokens(c, n < CLAUDE_IMAGE_MAX ? n : CLAUDE_IMAGE_MAX);
}

/* ---------------------------------------------------------------- OpenAI content */

/* image_url part: {"image_url": {"url", "detail"}} (chat) or {"image_url": "...",
 * "detail"} (responses input_image); a responses image may carry only a file_id. */
static int count_image_part(cctx *c, const cJSON *part)
{
    const cJSON *iu = get(part, "image_url");
    const cJSON *holder = cJSON_IsObject(iu) ? iu : part;
    const char *url = NULL, *detail = NULL;
    int rc;
    if (cJSON_IsObject(iu)) {
        size_t mark = path_key(c, "image_url");
        rc = get_string(c, iu, "url", true, &url);
        path_pop(c, mark);
    } else {
        rc = get_string(c, part, "image_url", false, &url);
    }
    if (!rc)
        rc = get_string(c, holder, "detail", false, &detail);
    if (rc)
        return rc;
    add_openai_image(c, url, detail);
    return 0;
}

/* One part of an OpenAI content array (chat and responses vocabularies). */
static int count_openai_part(cctx *c, const cJSON *part)
{
    const char *type;
    if (!cJSON_IsObject(part))
        return fail(c, "expected a content part object");
    int rc = get_string(c, part, "type", true, &type);
    if (rc)
        return rc;
    if (!strcmp(type, "text") || !strcmp(type, "input_text") || !strcmp(type, "output_text"))
        return add_field(c, part, "text", true);
    if (!strcmp(type, "refusal"))
        return add_field(c, part, "refusal", true);
    if (!strcmp(type, "image_url") || !strcmp(type, "input_image"))
        return count_image_part(c, part);
    /* input_audio, file, input_file and anything newer: not counted. */
    c->estimated = true;
    return 0;
}

/* content: a string, null, or an array of parts. */
static int count_openai_content(cctx *c, const cJSON *content)
{
    if (!content || cJSON_IsNull(content))
        return 0;
    if (cJSON_IsString(content))
        return add_text(c, content->valuestring);
    if (!cJSON_IsArray(content))
        return fail(c, "expected a string or an array of content parts");
    int i = 0;
    for (const cJSON *part = content->child; part; part = part->next, i++) {
        size_t mark = path_index(c, i);
        int rc = count_openai_part(c, part);
        path_pop(c, mark);
        if (rc)
            return rc;
    }
    return 0;
}

/* ---------------------------------------------------------------- OpenAI tools */

/* Schema keywords the cookbook's flat "key:type:description" line does not cover. */
static bool schema_is_complex(const cJSON *prop)
{
    static const char *const keys[] = {"properties", "items", "anyOf", "oneOf",
                                       "allOf",      "$ref",  "not",   "prefixItems"};
    if (!cJSON_IsString(get(prop, "type")))
        return true;
    for (size_t i = 0; i < sizeof keys / sizeof keys[0]; i++)
        if (get(prop, keys[i]))
            return true;
    return cJSON_IsObject(get(prop, "additionalProperties"));
}

static int count_enum(cctx *c, const cJSON *en)
{
    if (!cJSON_IsArray(en))
        return fail(c, "expected an array");
    add(c, ENUM_INIT);
    for (const cJSON *item = en->child; item; item = item->next) {
        add(c, ENUM_ITEM);
        int rc = cJSON_IsString(item) ? add_text(c, item->valuestring) : add_json(c, item);
        if (rc)
            return rc;
    }
    return 0;
}

static int count_property(cctx *c, const char *key, const cJSON *prop)
{
    const char *type, *desc;
    if (!cJSON_IsObject(prop))
        return fail(c, "expected a schema object");
    add(c, PROP_KEY);
    const cJSON *en = get(prop, "enum");
    if (en) {
        size_t mark = path_key(c, "enum");
        int rc = count_enum(c, en);
        path_pop(c, mark);
        if (rc)
            return rc;
    }
    const cJSON *t = get(prop, "type"), *d = get(prop, "description");
    type = cJSON_IsString(t) ? t->valuestring : "";
    if (d && !cJSON_IsString(d))
        return fail_key(c, "description", "expected a string");
    desc = d ? d->valuestring : "";
    if (!d)
        c->estimated = true;
    int rc = add_line(c, key, type, desc);
    if (!rc && schema_is_complex(prop))
        rc = add_json(c, prop);
    return rc;
}

static int count_parameters(cctx *c, const cJSON *params)
{
    if (!params || cJSON_IsNull(params))
        return 0;
    if (!cJSON_IsObject(params))
        return fail(c, "expected a JSON schema object");
    const cJSON *props = get(params, "properties");
    if (props && !cJSON_IsObject(props))
        return fail_key(c, "properties", "expected an object");
    if (props && props->child) {
        size_t mark = path_key(c, "properties");
        add(c, PROP_INIT);
        for (const cJSON *p = props->child; p; p = p->next) {
            size_t m2 = path_key(c, p->string);
            int rc = count_property(c, p->string, p);
            path_pop(c, m2);
            if (rc) {
                path_pop(c, mark);
                return rc;
            }
        }
        path_pop(c, mark);
    }
    const cJSON *defs = get(params, "$defs");
    if (!defs)
        defs = get(params, "definitions");
    return defs ? add_json(c, defs) : 0;
}

/* A function definition {name, description, parameters} (cookbook, section 7). */
static int count_function(cctx *c, const cJSON *fn)
{
    const char *name, *desc;
    if (!cJSON_IsObject(fn))
        return fail(c, "expected a function object");
    int rc = get_string(c, fn, "name", true, &name);
    if (!rc)
        rc = get_string(c, fn, "description", false, &desc);
    if (rc)
        return rc;
    if (!desc)
        c->estimated = true;
    add(c, c->func_init);
    rc = add_line(c, name, desc ? desc : "", NULL);
    if (rc)
        return rc;
    size_t mark = path_key(c, "parameters");
    rc = count_parameters(c, get(fn, "parameters"));
    path_pop(c, mark);
    return rc;
}

/* One entry of "tools" (chat: {type, function: {...}}; responses: {type, name, ...}) or
 * of the legacy "functions" (the function itself).  Returns 1 through *is_fn when it was
 * a function, which func_end is owed for. */
static int count_tool(cctx *c, const cJSON *tool, bool legacy, bool *is_fn)
{
    const char *type;
    *is_fn = false;
    if (!cJSON_IsObject(tool))
        return fail(c, "expected a tool object");
    if (legacy) {
        *is_fn = true;
        return count_function(c, tool);
    }
    int rc = get_string(c, tool, "type", false, &type);
    if (rc)
        return rc;
    if (type && strcmp(type, "function") != 0)
        return add_json(c, tool); /* custom and built-in tools: estimate */
    *is_fn = true;
    const cJSON *fn = get(tool, "function");
    if (!fn)
        return count_function(c, tool);
    size_t mark = path_key(c, "function");
    rc = count_function(c, fn);
    path_pop(c, mark);
    return rc;
}

static int count_tools_at(cctx *c, const cJSON *body, const char *key)
{
    const cJSON *tools = get(body, key);
    if (!tools || cJSON_IsNull(tools))
        return 0;
    if (!cJSON_IsArray(tools))
        return fail_key(c, key, "expected an array of tools");
    int64_t before = c->res->tokens;
    bool any_fn = false;
    size_t mark = path_key(c, key);
    int i = 0, rc = 0;
    for (const cJSON *t = tools->child; t && !rc; t = t->next, i++) {
        bool is_fn;
        size_t m2 = path_index(c, i);
        rc = count_tool(c, t, !strcmp(key, "functions"), &is_fn);
        path_pop(c, m2);
        any_fn |= is_fn;
    }
    path_pop(c, mark);
    if (rc)
        return rc;
    if (any_fn)
        add(c, FUNC_END);
    if (tools->child && !tools_published_for(c->model))
        c->estimated = true;
    c->res->tool_tokens += c->res->tokens - before;
    return 0;
}

/* ---------------------------------------------------------------- chat completions */

/* {"id", "type", "function": {"name", "arguments"}} or a custom tool's {"custom":
 * {"name", "input"}}: 3 + name + arguments, an estimate. */
static int count_tool_call(cctx *c, const cJSON *call)
{
    if (!cJSON_IsObject(call))
        return fail(c, "expected a tool call object");
    const cJSON *fn = get(call, "function");
    const char *args_key = "arguments";
    if (!fn) {
        fn = get(call, "custom");
        args_key = "input";
    }
    if (!cJSON_IsObject(fn))
        return fail_key(c, "function", "expected an object with name and arguments");
    size_t mark = path_key(c, fn->string);
    int rc = add_field(c, fn, "name", true);
    if (!rc)
        rc = add_field(c, fn, args_key, false);
    path_pop(c, mark);
    add(c, TOKENS_PER_MESSAGE);
    c->estimated = true;
    return rc;
}

static int count_tool_calls(cctx *c, const cJSON *calls)
{
    if (cJSON_IsNull(calls))
        return 0;
    if (!cJSON_IsArray(calls))
        return fail(c, "expected an array of tool calls");
    int i = 0;
    for (const cJSON *call = calls->child; call; call = call->next, i++) {
        size_t mark = path_index(c, i);
        int rc = count_tool_call(c, call);
        path_pop(c, mark);
        if (rc)
            return rc;
    }
    return 0;
}

/* One field of a chat message, by the cookbook's "every value" rule. */
static int count_message_field(cctx *c, const cJSON *f)
{
    const char *k = f->string;
    if (!strcmp(k, "content"))
        return count_openai_content(c, f);
    if (!strcmp(k, "tool_calls"))
        return count_tool_calls(c, f);
    if (!strcmp(k, "function_call")) { /* legacy: {"name", "arguments"} */
        if (cJSON_IsNull(f))
            return 0;
        c->estimated = true;
        return cJSON_IsObject(f) ? add_json(c, f) : fail(c, "expected an object");
    }
    if (!strcmp(k, "name")) {
        if (cJSON_IsNull(f))
            return 0;
        if (!cJSON_IsString(f))
            return fail(c, "expected a string");
        add(c, TOKENS_PER_NAME);
        return add_text(c, f->valuestring);
    }
    if (!strcmp(k, "role"))
        return cJSON_IsString(f) ? add_text(c, f->valuestring) : fail(c, "expected a string");
    /* tool_call_id, refusal, ...: counted by the cookbook's every-value rule, but not in
     * its published example.  Nulls and empty arrays (as SDKs echo them) count nothing. */
    if (cJSON_IsNull(f) || ((cJSON_IsArray(f) || cJSON_IsObject(f)) && !f->child))
        return 0;
    c->estimated = true;
    return cJSON_IsString(f) ? add_text(c, f->valuestring) : 0;
}

static int count_chat_message(cctx *c, const cJSON *msg)
{
    const char *role;
    if (!cJSON_IsObject(msg))
        return fail(c, "expected a message object");
    int rc = get_string(c, msg, "role", true, &role);
    if (rc)
        return rc;
    add(c, TOKENS_PER_MESSAGE);
    for (const cJSON *f = msg->child; f; f = f->next) {
        size_t mark = path_key(c, f->string);
        rc = count_message_field(c, f);
        path_pop(c, mark);
        if (rc)
            return rc;
    }
    return 0;
}

static int count_messages(cctx *c, const cJSON *body, int (*one)(cctx *, const cJSON *))
{
    const cJSON *msgs = get(body, "messages");
    if (!msgs)
        return fail_key(c, "messages", "missing");
    if (!cJSON_IsArray(msgs))
        return fail_key(c, "messages", "expected an array of messages");
    size_t mark = path_key(c, "messages");
    int i = 0, rc = 0;
    for (const cJSON *m = msgs->child; m && !rc; m = m->next, i++) {
        size_t m2 = path_index(c, i);
        rc = one(c, m);
        path_pop(c, m2);
    }
    path_pop(c, mark);
    return rc;
}

static int count_chat(cctx *c, const cJSON *body)
{
    int rc = count_messages(c, body, count_chat_message);
    if (rc)
        return rc;
    add(c, TOKENS_REPLY_PRIMING);
    rc = count_tools_at(c, body, "tools");
    if (!rc)
        rc = count_tools_at(c, body, "functions");
    return rc;
}

/* ---------------------------------------------------------------- completions, embeddings */

static int count_token_ids(cctx *c, const cJSON *arr)
{
    int i = 0;
    for (const cJSON *id = arr->child; id; id = id->next, i++) {
        if (!cJSON_IsNumber(id) || !(id->valuedouble >= 0) || id->valuedouble > UINT32_MAX ||
            id->valuedouble != (double)(int64_t)id->valuedouble) {
            size_t mark = path_index(c, i);
            int rc = fail(c, "expected a token id (a non-negative integer)");
            path_pop(c, mark);
            return rc;
        }
        add(c, 1);
    }
    return 0;
}

/* A prompt or input: a string, an array of strings, an array of token ids, or an array
 * of arrays of token ids. */
static int count_prompt(cctx *c, const cJSON *body, const char *key)
{
    const cJSON *v = get(body, key);
    if (!v)
        return fail_key(c, key, "missing");
    if (cJSON_IsString(v))
        return add_text(c, v->valuestring);
    static const char what[] =
        "expected a string, an array of strings or an array of token ids";
    if (!cJSON_IsArray(v))
        return fail_key(c, key, what);
    size_t mark = path_key(c, key);
    int rc = 0;
    if (v->child && cJSON_IsNumber(v->child)) {
        rc = count_token_ids(c, v);
        path_pop(c, mark);
        return rc;
    }
    int i = 0;
    for (const cJSON *e = v->child; e && !rc; e = e->next, i++) {
        size_t m2 = path_index(c, i);
        if (cJSON_IsString(e))
            rc = add_text(c, e->valuestring);
        else if (cJSON_IsArray(e))
            rc = count_token_ids(c, e);
        else
            rc = fail(c, "expected a string or an array of token ids");
        path_pop(c, m2);
    }
    path_pop(c, mark);
    return rc;
}

static int count_completions(cctx *c, const cJSON *body)
{
    int rc = count_prompt(c, body, "prompt");
    return rc ? rc : add_field(c, body, "suffix", false);
}

static int count_embeddings(cctx *c, const cJSON *body)
{
    return count_prompt(c, body, "input");
}

/* ---------------------------------------------------------------- responses */

/* A message framed like a chat message: 3 + role + content. */
static int count_framed(cctx *c, const char *role, const cJSON *content)
{
    add(c, TOKENS_PER_MESSAGE);
    int rc = add_text(c, role);
    if (rc)
        return rc;
    size_t mark = path_key(c, "content");
    rc = count_openai_content(c, content);
    path_pop(c, mark);
    return rc;
}

static int count_response_item(cctx *c, const cJSON *item)
{
    const char *type, *role;
    if (!cJSON_IsObject(item))
        return fail(c, "expected an input item object");
    int rc = get_string(c, item, "type", false, &type);
    if (!rc)
        rc = get_string(c, item, "role", false, &role);
    if (rc)
        return rc;
    if (!type || !strcmp(type, "message")) {
        if (!role)
            return fail_key(c, "role", "missing");
        return count_framed(c, role, get(item, "content"));
    }
    if (!strcmp(type, "function_call") || !strcmp(type, "custom_tool_call")) {
        add(c, TOKENS_PER_MESSAGE);
        rc = add_field(c, item, "name", true);
        if (!rc)
            rc = add_field(c, item, !strcmp(type, "function_call") ? "arguments" : "input",
                           false);
        return rc;
    }
    if (!strcmp(type, "function_call_output") || !strcmp(type, "custom_tool_call_output")) {
        add(c, TOKENS_PER_MESSAGE);
        size_t mark = path_key(c, "output");
        rc = count_openai_content(c, get(item, "output"));
        path_pop(c, mark);
        return rc;
    }
    if (!strcmp(type, "item_reference"))
        return 0;             /* stored elsewhere: cannot be counted from here */
    return add_json(c, item); /* reasoning, tool outputs, ...: their JSON as an estimate */
}

static int count_responses(cctx *c, const cJSON *body)
{
    const char *instr;
    int rc = get_string(c, body, "instructions", false, &instr);
    if (rc)
        return rc;
    if (instr) {
        add(c, TOKENS_PER_MESSAGE);
        if ((rc = add_text(c, "system")) != 0 || (rc = add_text(c, instr)) != 0)
            return rc;
    }
    const cJSON *input = get(body, "input");
    if (cJSON_IsString(input)) {
        add(c, TOKENS_PER_MESSAGE);
        if ((rc = add_text(c, "user")) != 0 || (rc = add_text(c, input->valuestring)) != 0)
            return rc;
    } else if (cJSON_IsArray(input)) {
        size_t mark = path_key(c, "input");
        int i = 0;
        for (const cJSON *it = input->child; it && !rc; it = it->next, i++) {
            size_t m2 = path_index(c, i);
            rc = count_response_item(c, it);
            path_pop(c, m2);
        }
        path_pop(c, mark);
        if (rc)
            return rc;
    } else if (input && !cJSON_IsNull(input)) {
        return fail_key(c, "input", "expected a string or an array of input items");
    }
    add(c, TOKENS_REPLY_PRIMING);
    return count_tools_at(c, body, "tools");
}

/* ---------------------------------------------------------------- Anthropic messages */

static int count_claude_blocks(cctx *c, const cJSON *content, int depth);

static int count_claude_image(cctx *c, const cJSON *block)
{
    const cJSON *src = get(block, "source");
    if (!cJSON_IsObject(src))
        return fail_key(c, "source", "expected an object");
    const cJSON *data = get(src, "data");
    add_claude_image(c, cJSON_IsString(data) ? data->valuestring : NULL);
    return 0;
}

/* A plain-text document counts its text; PDFs and other sources are not counted. */
static int count_claude_document(cctx *c, const cJSON *block)
{
    const cJSON *src = get(block, "source"), *type = get(src, "type");
    if (!cJSON_IsObject(src))
        return fail_key(c, "source", "expected an object");
    if (!cJSON_IsString(type) || strcmp(type->valuestring, "text") != 0)
        return 0;
    size_t mark = path_key(c, "source");
    int rc = add_field(c, src, "data", true);
    path_pop(c, mark);
    return rc;
}

static int count_claude_block(cctx *c, const cJSON *b, int depth)
{
    const char *type;
    if (!cJSON_IsObject(b))
        return fail(c, "expected a content block object");
    int rc = get_string(c, b, "type", true, &type);
    if (rc)
        return rc;
    if (!strcmp(type, "text"))
        return add_field(c, b, "text", true);
    if (!strcmp(type, "image"))
        return count_claude_image(c, b);
    if (!strcmp(type, "thinking"))
        return add_field(c, b, "thinking", true);
    if (!strcmp(type, "tool_use")) {
        rc = add_field(c, b, "name", true);
        const cJSON *input = get(b, "input");
        return rc || !input ? rc : add_json(c, input);
    }
    if (!strcmp(type, "tool_result") && depth == 0) {
        size_t mark = path_key(c, "content");
        rc = count_claude_blocks(c, get(b, "content"), depth + 1);
        path_pop(c, mark);
        return rc;
    }
    if (!strcmp(type, "document"))
        return count_claude_document(c, b);
    if (!strcmp(type, "redacted_thinking"))
        return 0;          /* encrypted thinking: not counted (already an estimate) */
    return add_json(c, b); /* server tool blocks, search results, ...: an estimate */
}

/* content: a string, or an array of blocks (absent/null counts nothing). */
static int count_claude_blocks(cctx *c, const cJSON *content, int depth)
{
    if (!content || cJSON_IsNull(content))
        return 0;
    if (cJSON_IsString(content))
        return add_text(c, content->valuestring);
    if (!cJSON_IsArray(content))
        return fail(c, "expected a string or an array of content blocks");
    int i = 0;
    for (const cJSON *b = content->child; b; b = b->next, i++) {
        size_t mark = path_index(c, i);
        int rc = count_claude_block(c, b, depth);
        path_pop(c, mark);
        if (rc)
            return rc;
    }
    return 0;
}

static int count_claude_message(cctx *c, const cJSON *msg)
{
    const char *role;
    if (!cJSON_IsObject(msg))
        return fail(c, "expected a message object");
    int rc = get_string(c, msg, "role", true, &role);
    if (rc)
        return rc;
    const cJSON *content = get(msg, "content");
    if (!content)
        return fail_key(c, "content", "missing");
    add(c, TOKENS_PER_MESSAGE);
    if ((rc = add_text(c, role)) != 0)
        return rc;
    size_t mark = path_key(c, "content");
    rc = count_claude_blocks(c, content, 0);
    path_pop(c, mark);
    return rc;
}

static int count_claude_tool(cctx *c, const cJSON *tool)
{
    if (!cJSON_IsObject(tool))
        return fail(c, "expected a tool object");
    const cJSON *schema = get(tool, "input_schema");
    if (!schema)
        return add_json(c, tool); /* server tools (web search, bash, ...) */
    int rc = add_field(c, tool, "name", true);
    if (!rc)
        rc = add_field(c, tool, "description", false);
    return rc ? rc : add_json(c, schema);
}

static int count_claude_tools(cctx *c, const cJSON *body)
{
    const cJSON *tools = get(body, "tools");
    if (!tools || cJSON_IsNull(tools))
        return 0;
    if (!cJSON_IsArray(tools))
        return fail_key(c, "tools", "expected an array of tools");
    int64_t before = c->res->tokens;
    size_t mark = path_key(c, "tools");
    int i = 0, rc = 0;
    for (const cJSON *t = tools->child; t && !rc; t = t->next, i++) {
        size_t m2 = path_index(c, i);
        rc = count_claude_tool(c, t);
        path_pop(c, m2);
    }
    path_pop(c, mark);
    if (rc)
        return rc;
    if (tools->child) {
        const cJSON *choice = get(get(body, "tool_choice"), "type");
        bool forced = cJSON_IsString(choice) && (!strcmp(choice->valuestring, "any") ||
                                                 !strcmp(choice->valuestring, "tool"));
        add(c, forced ? CLAUDE_TOOL_PROMPT_ANY : CLAUDE_TOOL_PROMPT_AUTO);
    }
    c->res->tool_tokens += c->res->tokens - before;
    return 0;
}

static int count_anthropic(cctx *c, const cJSON *body)
{
    const cJSON *sys = get(body, "system");
    c->estimated = true;
    if (sys && !cJSON_IsNull(sys)) {
        add(c, TOKENS_PER_MESSAGE);
        size_t mark = path_key(c, "system");
        int rc = count_claude_blocks(c, sys, 1);
        path_pop(c, mark);
        if (rc)
            return rc;
    }
    int rc = count_messages(c, body, count_claude_message);
    if (rc)
        return rc;
    add(c, TOKENS_REPLY_PRIMING);
    return count_claude_tools(c, body);
}

/* ---------------------------------------------------------------- public */

static const char *const kind_names[TG_COUNT_KIND_COUNT_] = {
    "chat", "completions", "embeddings", "responses", "messages"};
static const char *const kind_paths[TG_COUNT_KIND_COUNT_] = {
    "/v1/chat/completions", "/v1/completions", "/v1/embeddings", "/v1/responses",
    "/v1/messages"};

const char *tg_count_kind_name(tg_count_kind kind)
{
    return (unsigned)kind < TG_COUNT_KIND_COUNT_ ? kind_names[kind] : "?";
}

int tg_count_kind_parse(const char *name, tg_count_kind *out)
{
    for (int k = 0; name && k < TG_COUNT_KIND_COUNT_; k++)
        if (!strcmp(name, kind_names[k])) {
            *out = (tg_count_kind)k;
            return 0;
        }
    return -1;
}

int tg_count_kind_for_path(const char *path, tg_count_kind *out)
{
    size_t n = path ? strcspn(path, "?") : 0;
    for (int k = 0; path && k < TG_COUNT_KIND_COUNT_; k++)
        if (strlen(kind_paths[k]) == n && !strncmp(path, kind_paths[k], n)) {
            *out = (tg_count_kind)k;
            return 0;
        }
    return -1;
}

static void set_err(char *err, size_t errlen, const char *msg)
{
    if (errlen)
        snprintf(err, errlen, "%s", msg);
}

int tg_count_detect(const cJSON *body, tg_count_kind *out, char *err, size_t errlen)
{
    set_err(err, errlen, "");
    if (!cJSON_IsObject(body)) {
        set_err(err, errlen, "body: expected a JSON object");
        return TG_COUNT_EINVAL;
    }
    const cJSON *prompt = get(body, "prompt"), *model = get(body, "model");
    if (get(body, "messages"))
        *out = get(body, "system") || get(body, "anthropic_version")
                   ? TG_COUNT_ANTHROPIC_MESSAGES
                   : TG_COUNT_CHAT;
    else if (prompt && !cJSON_IsObject(prompt)) /* a responses prompt is an object */
        *out = TG_COUNT_COMPLETIONS;
    else if (get(body, "input"))
        *out = cJSON_IsString(model) && strstr(model->valuestring, "embedding")
                   ? TG_COUNT_EMBEDDINGS
                   : TG_COUNT_RESPONSES;
    else if (prompt)
        *out = TG_COUNT_RESPONSES;
    else {
        set_err(err, errlen,
                "body: not a request this counts: no \"messages\", \"prompt\" "
                "or \"input\"");
        return TG_COUNT_EINVAL;
    }
    return 0;
}

/* 1-based line and column of byte `off` of `text`. */
static void line_col(const char *text, size_t off, size_t *line, size_t *col)
{
    *line = 1;
    *col = 1;
    for (size_t i = 0; i < off; i++) {
        if (text[i] == '\n') {
            ++*line;
            *col = 1;
        } else {
            ++*col;
        }
    }
}

/* cJSON reports an error at the end of the input as being at its last byte.  Parsing
 * again with one more space tells the two apart: an error that moves onto the space was
 * the end of the input. */
static bool fails_at_end(const char *text, size_t len)
{
    char *copy = malloc(len + 1);
    const char *end = NULL;
    if (!copy)
        return false;
    memcpy(copy, text, len);
    copy[len] = ' ';
    cJSON *v = cJSON_ParseWithLengthOpts(copy, len + 1, &end, 0);
    bool at_end = !v && end == copy + len;
    cJSON_Delete(v);
    free(copy);
    return at_end;
}

int tg_count_parse(const char *text, size_t len, cJSON **out, char *err, size_t errlen)
{
    const char *end = NULL;
    *out = NULL;
    set_err(err, errlen, "");
    if (len > TG_COUNT_MAX_BODY) {
        if (errlen)
            snprintf(err, errlen, "body is larger than the %zu MiB limit",
                     TG_COUNT_MAX_BODY >> 20);
        return TG_COUNT_ETOOBIG;
    }
    cJSON *v = cJSON_ParseWithLengthOpts(text, len, &end, 0);
    size_t off = end && end >= text && end <= text + len ? (size_t)(end - text) : len;
    if (v) {
        while (off < len && text[off] && strchr(" \t\r\n", text[off]))
            off++;
        if (off == len) {
            *out = v;
            return 0;
        }
        cJSON_Delete(v);
    }
    if (off >= len || (!v && off + 1 == len && fails_at_end(text, len))) {
        set_err(err, errlen, "malformed JSON: unexpected end of input");
        return TG_COUNT_EINVAL;
    }
    size_t line, col;
    line_col(text, off, &line, &col);
    if (errlen)
        snprintf(err, errlen, "malformed JSON at line %zu, column %zu%s", line, col,
                 v ? ": unexpected text after the value" : "");
    return TG_COUNT_EINVAL;
}

static int count_kind(cctx *c, const cJSON *body, tg_count_kind kind)
{
    switch (kind) {
    case TG_COUNT_CHAT:
        return count_chat(c, body);
    case TG_COUNT_COMPLETIONS:
        return count_completions(c, body);
    case TG_COUNT_EMBEDDINGS:
        return count_embeddings(c, body);
    case TG_COUNT_RESPONSES:
        c->estimated = true;
        return count_responses(c, body);
    case TG_COUNT_ANTHROPIC_MESSAGES:
        return count_anthropic(c, body);
    default:
        return fail(c, "unknown request kind");
    }
}

int tg_count_request(const cJSON *body, tg_count_kind kind, const char *model,
                     tg_count_result *out, char *err, size_t errlen)
{
    cctx c = {.res = out, .err = err, .errlen = errlen};
    memset(out, 0, sizeof *out);
    set_err(err, errlen, "");
    if (!cJSON_IsObject(body))
        return fail(&c, "expected a JSON object");
    if (!model) {
        const cJSON *m = get(body, "model");
        if (m && !cJSON_IsNull(m) && !cJSON_IsString(m))
            return fail_key(&c, "model", "expected a string");
        model = cJSON_IsString(m) ? m->valuestring : "";
    }
    const char *slash = strrchr(model, '/');
    c.model = slash ? slash + 1 : model;
    c.bpe = *model ? tg_bpe_for_model(model) : NULL;
    c.estimated = c.bpe == NULL;
    if (!c.bpe)
        c.bpe = tg_bpe_get(TG_BPE_O200K);
    c.img = image_rule_for(c.model);
    c.func_init = c.bpe == tg_bpe_get(TG_BPE_CL100K) ? FUNC_INIT_CL100K : FUNC_INIT_O200K;
    int rc = count_kind(&c, body, kind);
    free(c.scratch);
    if (rc) {
        memset(out, 0, sizeof *out);
        return rc;
    }
    out->exact = !c.estimated;
    out->bpe = c.bpe;
    return 0;
}
