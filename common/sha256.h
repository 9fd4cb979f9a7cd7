/* tg_sha256: SHA-256 on the hot path (every request hashes its virtual key).
 *
 * OpenSSL 3's EVP_Digest(..., EVP_sha256(), ...) looks the algorithm up in the provider
 * tables on every call (an implicit fetch: about 17 allocations, a lock or two, lhash
 * probes).  This module fetches SHA-256 once per process and keeps one digest context per
 * thread, so a digest is an init, an update and a final. */
#ifndef TG_SHA256_H
#define TG_SHA256_H
#include <stddef.h>

#define TG_SHA256_LEN 32

/* SHA-256 of data[0..len) into out.  Thread-safe.  Returns 0, or -1 when OpenSSL fails
 * (out of memory, no provider): out is then undefined. */
__attribute__((warn_unused_result)) int tg_sha256(const void *data, size_t len,
                                                  unsigned char out[TG_SHA256_LEN]);

#endif
