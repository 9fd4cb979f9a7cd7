/* tg_sha256 (see sha256.h): the algorithm fetched once (pthread_once), a context per
 * thread (_Thread_local, never freed: one small allocation per thread that ever hashes),
 * reinitialised with the fetched algorithm for each digest. */
#include "common/sha256.h"

#include <pthread.h>

#include <openssl/evp.h>

static EVP_MD *sha256_md;
static pthread_once_t sha256_once = PTHREAD_ONCE_INIT;
static _Thread_local EVP_MD_CTX *sha256_ctx;

static void fetch_sha256(void)
{
    sha256_md = EVP_MD_fetch(NULL, "SHA256", NULL);
}

int tg_sha256(const void *data, size_t len, unsigned char out[TG_SHA256_LEN])
{
    pthread_once(&sha256_once, fetch_sha256);
    if (!sha256_md)
        return -1;
    if (!sha256_ctx && !(sha256_ctx = EVP_MD_CTX_new()))
        return -1;
    unsigned int n = 0;
    if (EVP_DigestInit_ex2(sha256_ctx, sha256_md, NULL) != 1 ||
        EVP_DigestUpdate(sha256_ctx, data, len) != 1 ||
        EVP_DigestFinal_ex(sha256_ctx, out, &n) != 1)
        return -1;
    return n == TG_SHA256_LEN ? 0 : -1;
}
