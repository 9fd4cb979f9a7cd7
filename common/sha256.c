/* tg_sha256 (see sha256.h): the algorithm fetched once (pthread_once), a context per
 * thread kept under a pthread key whose destructor frees it when the thread ends, and
 * reinitialised with the fetched algorithm for each digest. */
#include "common/sha256.h"

#include <pthread.h>

#include <openssl/evp.h>

static EVP_MD *sha256_md;
static pthread_key_t sha256_key;
static int sha256_key_ok;
static pthread_once_t sha256_once = PTHREAD_ONCE_INIT;

static void free_ctx(void *ctx)
{
    EVP_MD_CTX_free(ctx);
}

static void sha256_init_once(void)
{
    sha256_md = EVP_MD_fetch(NULL, "SHA256", NULL);
    sha256_key_ok = pthread_key_create(&sha256_key, free_ctx) == 0;
}

/* This thread's context, made on first use; NULL when out of memory. */
static EVP_MD_CTX *thread_ctx(void)
{
    EVP_MD_CTX *ctx = pthread_getspecific(sha256_key);
    if (ctx)
        return ctx;
    if (!(ctx = EVP_MD_CTX_new()))
        return NULL;
    if (pthread_setspecific(sha256_key, ctx) != 0) {
        EVP_MD_CTX_free(ctx);
        return NULL;
    }
    return ctx;
}

int tg_sha256(const void *data, size_t len, unsigned char out[TG_SHA256_LEN])
{
    pthread_once(&sha256_once, sha256_init_once);
    if (!sha256_md || !sha256_key_ok)
        return -1;
    EVP_MD_CTX *ctx = thread_ctx();
    if (!ctx)
        return -1;
    unsigned int n = 0;
    if (EVP_DigestInit_ex2(ctx, sha256_md, NULL) != 1 ||
        EVP_DigestUpdate(ctx, data, len) != 1 ||
        EVP_DigestFinal_ex(ctx, out, &n) != 1)
        return -1;
    return n == TG_SHA256_LEN ? 0 : -1;
}
