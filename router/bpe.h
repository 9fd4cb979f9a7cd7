/* tg_bpe: tollgate's built-in byte-pair-encoding tokenizer (cl100k_base, o200k_base).
 *
 * Token-for-token identical to OpenAI tiktoken's encode_ordinary on valid UTF-8: special
 * token text (e.g. "<|endoftext|>") is plain text.  Work is linear in the input (merges use
 * a heap, never tiktoken's quadratic rescans), so a hostile prompt cannot stall the proxy.
 *
 * Bytes that are not valid UTF-8 (a bad lead byte, a truncated or overlong sequence, a
 * surrogate, anything above U+10FFFF) never fail: each such byte is taken as one character
 * of the "other" class (like punctuation: not letter, number nor space), so it joins a
 * punctuation run and is byte-pair encoded with it.  Decoding the ids gives back the exact
 * input bytes in every case.
 *
 * Encodings are immutable after first use and safe to share between threads. */
#ifndef TG_BPE_H
#define TG_BPE_H
#include <stddef.h>
#include <stdint.h>

#define TG_WARN_UNUSED __attribute__((warn_unused_result))

typedef struct tg_bpe tg_bpe;

typedef enum { TG_BPE_CL100K = 0, TG_BPE_O200K = 1, TG_BPE_COUNT_ } tg_bpe_id;

/* A growable array of token ids owned by the caller; zero-initialise, free with
 * tg_bpe_ids_free. */
typedef struct {
    uint32_t *v;
    size_t n, cap;
} tg_bpe_ids;

/* The encoding `id`, built on first call (a few ms; thread-safe).  Never NULL for a valid
 * id; aborts only if memory for the rank table cannot be had at start. */
const tg_bpe *tg_bpe_get(tg_bpe_id id);

/* The encoding called `name` ("cl100k_base" or "o200k_base"), or NULL. */
const tg_bpe *tg_bpe_by_name(const char *name);

/* The encoding OpenAI uses for `model` (gpt-4o, gpt-4.1, gpt-4.5, gpt-5*, o1/o3/o4*,
 * chatgpt-4o, codex -> o200k_base; gpt-4, gpt-3.5, text-embedding-3*, ada-002 ->
 * cl100k_base).  A "provider/" prefix and date or fine-tune suffixes are ignored.
 * NULL when the model is not an OpenAI model this table knows. */
const tg_bpe *tg_bpe_for_model(const char *model);

/* The name of that encoding ("o200k_base", "cl100k_base") or NULL, as tg_bpe_for_model
 * decides but without loading the vocabulary (for the model catalog). */
const char *tg_bpe_name_for_model(const char *model);

/* "cl100k_base" or "o200k_base". */
const char *tg_bpe_name(const tg_bpe *bpe);

/* Number of vocabulary tokens (ids are 0 .. n-1; special tokens are not included). */
uint32_t tg_bpe_vocab_size(const tg_bpe *bpe);

/* Number of tokens `text[0..len)` encodes to, without materialising the ids.  Returns
 * SIZE_MAX only if scratch memory for a very long piece could not be allocated. */
size_t tg_bpe_count(const tg_bpe *bpe, const char *text, size_t len);

/* Appends the ids of `text[0..len)` to `out`.  Returns 0, or -1 when memory ran out (out
 * then holds a prefix of the ids). */
TG_WARN_UNUSED int tg_bpe_encode(const tg_bpe *bpe, const char *text, size_t len,
                                 tg_bpe_ids *out);

/* The bytes of token `id` (not NUL-terminated) and their length, or NULL for an id
 * outside the vocabulary. */
const unsigned char *tg_bpe_token(const tg_bpe *bpe, uint32_t id, size_t *len);

/* Decodes `n` ids into a new malloc'd buffer (NUL-terminated for convenience; *outlen
 * excludes it).  Returns 0, -1 on an id outside the vocabulary (nothing allocated) or -2
 * when memory ran out.  The caller frees *out. */
TG_WARN_UNUSED int tg_bpe_decode(const tg_bpe *bpe, const uint32_t *ids, size_t n,
                                 char **out, size_t *outlen);

/* Releases the ids' memory and zeroes the struct. */
void tg_bpe_ids_free(tg_bpe_ids *ids);

#endif
