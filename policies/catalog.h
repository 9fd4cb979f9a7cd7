/* tg_cat: the model catalog — what each model is, where it lives, what it can do and what
 * it costs (issue 4).
 *
 * Sources, later ones overriding earlier ones model by model:
 *   1. the built-in default catalog (policies/default_catalog.json, compiled in),
 *   2. files in LiteLLM's pricing format (model_prices_and_context_window.json): an object
 *      of model name -> {input_cost_per_token, output_cost_per_token, ...}, recognised by
 *      per-token price fields; "sample_spec" and non-object entries are skipped,
 *   3. files in tollgate's own format: {"catalog_version": "...", "models": {name: {...}}},
 *      recognised by the "models" key.
 * A model named by a later source replaces the earlier definition of that name whole.
 *
 * tollgate's own format, per model (every price in USD per million tokens, as a JSON number
 * or a decimal string; prices are held as integer nano-dollars per million tokens):
 *   {"provider": "openai", "upstream_model": "gpt-4o-mini-2024-07-18" (default: the name),
 *    "tokenizer": "o200k_base" | "cl100k_base" | "estimate", "estimate_factor": 1.15,
 *    "endpoints": ["chat", "completions", "embeddings", "responses", "messages"],
 *    "context_window": 128000, "max_output": 16384,
 *    "capabilities": ["tools", "parallel_tools", "vision", ...],   (tg_cat_cap_name)
 *    "tier": "fast",                                               admin-set quality tier
 *    "prices": [ {"effective_from": "2024-07-18",                 UTC date or date-time
 *                 "input": 0.15, "cached_input": 0.075, "cache_write": null,
 *                 "cache_write_1h": null, "output": 0.6, "reasoning": null (= output),
 *                 "tiers": [{"above_tokens": 200000, "input": ..., "output": ..., ...}]} ] }
 * A price change is a new element of "prices" with a later effective_from, never an edit.
 * Required: "provider" and "prices"; in each price version "input" and "output" (null when
 * unknown).  Defaults: upstream_model = the name; tokenizer from the provider and name
 * (OpenAI's encoding for OpenAI models, else "estimate"); estimate_factor 1.15 for
 * "estimate", else 1; endpoints ["chat"]; other prices unknown; effective_from absent =
 * since always (version id "").  In a tier, a price left out is the base price, null is
 * unknown; above_tokens ascending.  Limits: prices <= 1000000 USD per million tokens,
 * token counts <= 1e9, estimate_factor 0.5-4.  Unknown fields are problems, except names
 * starting with '_' (comments: "_comment", "_sources") in any object of the format.
 *
 * A loaded catalog is immutable: all threads read it without locks; reloads build a new
 * one (the router swaps snapshots).  Money is integer nano-dollars throughout. */
#ifndef TG_CATALOG_H
#define TG_CATALOG_H
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define TG_CAT_NAME_MAX 96      /* model, provider and tier names, with the NUL */
#define TG_CAT_MAX_MODELS 4096  /* models in one catalog */
#define TG_CAT_MAX_VERSIONS 16  /* price versions per model */
#define TG_CAT_MAX_TIERS 4      /* price tiers per version: base + long-context tiers */
#define TG_CAT_MAX_FILE ((size_t)32 << 20)
#define TG_CAT_PRICE_UNKNOWN INT64_MIN

/* Capabilities, as bits (names for JSON: tg_cat_cap_name). */
enum {
    TG_CAP_TOOLS = 1u << 0,          /* "tools": function calling */
    TG_CAP_PARALLEL_TOOLS = 1u << 1, /* "parallel_tools" */
    TG_CAP_VISION = 1u << 2,         /* "vision": image inputs */
    TG_CAP_AUDIO_IN = 1u << 3,       /* "audio_in" */
    TG_CAP_AUDIO_OUT = 1u << 4,      /* "audio_out" */
    TG_CAP_JSON_MODE = 1u << 5,      /* "json_mode": response_format json_object */
    TG_CAP_STRUCTURED = 1u << 6,     /* "structured_outputs": json_schema, strict tools */
    TG_CAP_REASONING = 1u << 7,      /* "reasoning": reasoning_effort and the like */
    TG_CAP_PROMPT_CACHING = 1u << 8, /* "prompt_caching" */
    TG_CAP_STREAMING = 1u << 9,      /* "streaming" */
    TG_CAP_WEB_SEARCH = 1u << 10,    /* "web_search" */
    TG_CAP_FILE_INPUT = 1u << 11,    /* "file_input": PDF/file content parts */
    TG_CAP_COUNT = 12
};

/* Endpoints a model serves, as bits. */
enum {
    TG_CAT_EP_CHAT = 1u << 0,        /* "chat" */
    TG_CAT_EP_COMPLETIONS = 1u << 1, /* "completions" */
    TG_CAT_EP_EMBEDDINGS = 1u << 2,  /* "embeddings" */
    TG_CAT_EP_RESPONSES = 1u << 3,   /* "responses" */
    TG_CAT_EP_MESSAGES = 1u << 4,    /* "messages" (Anthropic) */
};

/* Prices of one tier, nano-dollars per million tokens; TG_CAT_PRICE_UNKNOWN where the
 * source gives none.  reasoning UNKNOWN means reasoning tokens bill as output. */
typedef struct {
    int64_t above_tokens; /* this tier applies when prompt tokens > above_tokens (base: 0) */
    int64_t input, cached_input, cache_write, cache_write_1h, output, reasoning;
} tg_cat_prices;

typedef struct {
    int64_t effective_from; /* UTC, seconds since the epoch; 0 = since always */
    char id[32];            /* "2024-07-18" or the source's date-time: the price version */
    tg_cat_prices tiers[TG_CAT_MAX_TIERS]; /* ascending above_tokens; tiers[0] is the base */
    int ntiers;
} tg_cat_version;

typedef struct {
    char name[TG_CAT_NAME_MAX];           /* what clients ask for */
    char provider[TG_CAT_NAME_MAX];       /* a provider of the config */
    char upstream_model[TG_CAT_NAME_MAX]; /* the name sent to the provider */
    char tier[TG_CAT_NAME_MAX];           /* admin-set quality tier, "" none */
    char tokenizer[16];                   /* "o200k_base", "cl100k_base" or "estimate" */
    int estimate_permille;                /* input estimate factor x1000 (1000: exact) */
    uint32_t endpoints;                   /* TG_CAT_EP_* */
    uint32_t caps;                        /* TG_CAP_* */
    int64_t context_window, max_output;   /* tokens; 0 = unknown */
    tg_cat_version versions[TG_CAT_MAX_VERSIONS]; /* ascending effective_from */
    int nversions;
} tg_cat_model;

typedef struct tg_catalog tg_catalog;

/* One problem found while loading: "FILE: $.models.gpt-4o.prices[0].input: must be ..." */
typedef struct {
    char text[512];
} tg_cat_problem;

/* Loads the built-in catalog, then `files[0..nfiles)` in order.  Every problem is stored
 * in probs[0..maxprobs) and counted; loading goes on after a problem so all are reported.
 * Returns the catalog (caller frees with tg_catalog_free) when there were no problems,
 * else NULL; *nprobs (when nprobs is not NULL) gets the count, which may exceed maxprobs. */
tg_catalog *tg_catalog_load(const char *const *files, int nfiles, tg_cat_problem *probs,
                            int maxprobs, int *nprobs);

/* Same from in-memory JSON texts (tests, the admin API's replace); names[i] labels
 * problems.  with_builtin: start from the built-in catalog. */
tg_catalog *tg_catalog_load_texts(const char *const *texts, const size_t *lens,
                                  const char *const *names, int n, bool with_builtin,
                                  tg_cat_problem *probs, int maxprobs, int *nprobs);

void tg_catalog_free(tg_catalog *c);

/* The catalog's version label: the sources' catalog_version values joined with "+" when
 * every source (the built-in one too) has one, else a short content hash of all source
 * texts ("sha256:1a2b3c4d").  Owned by the catalog. */
const char *tg_catalog_version(const tg_catalog *c);

/* Number of models, and model i (0 <= i < count), in name order. */
int tg_catalog_count(const tg_catalog *c);
const tg_cat_model *tg_catalog_at(const tg_catalog *c, int i);

/* The model called `name` (exact, case-sensitive), or NULL.  O(log n). */
const tg_cat_model *tg_catalog_find(const tg_catalog *c, const char *name);

/* The price version in effect at `ts` (UTC seconds), or NULL when none is yet. */
const tg_cat_version *tg_cat_version_at(const tg_cat_model *m, int64_t ts);

/* The tier of `v` that applies to a prompt of `input_tokens`. */
const tg_cat_prices *tg_cat_tier(const tg_cat_version *v, int64_t input_tokens);

/* Cost in nano-dollars of `tokens` at `nano_per_million`, rounded half up; exact integer
 * arithmetic (128-bit intermediate).  Returns TG_CAT_PRICE_UNKNOWN if the price is, 0 when
 * tokens or the price are <= 0, and INT64_MAX when the cost does not fit (never wraps). */
int64_t tg_cat_cost(int64_t tokens, int64_t nano_per_million);

/* Capability bit <-> name ("tools", "vision", ...); NULL / 0 when unknown. */
const char *tg_cat_cap_name(uint32_t bit);
uint32_t tg_cat_cap_parse(const char *name);

/* Serialises the catalog as tollgate's own format (the admin API's read), into a malloc'd
 * NUL-terminated string (free with free()); NULL on out of memory.  Loading it back (without
 * the built-in catalog) gives the same models and version label. */
char *tg_catalog_to_json(const tg_catalog *c);

#endif
