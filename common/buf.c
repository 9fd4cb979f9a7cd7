/* tg_buf implementation: doubling growth capped at max, NUL kept after the data so text
 * can be handed to C string functions. */
#include "buf.h"

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

void tg_buf_init(tg_buf *b, size_t max)
{
    *b = (tg_buf){NULL, 0, 0, max};
}

static int grow(tg_buf *b, size_t need)
{
    if (need <= b->cap && b->p)
        return TG_BUF_OK;
    size_t cap = b->cap ? b->cap : 256;
    while (cap < need)
        cap *= 2;
    if (cap > b->max)
        cap = b->max;
    char *p = realloc(b->p, cap + 1);
    if (!p)
        return TG_BUF_NOMEM;
    b->p = p;
    b->cap = cap;
    return TG_BUF_OK;
}

int tg_buf_append(tg_buf *b, const void *data, size_t n)
{
    if (n > b->max - b->len)
        return TG_BUF_TOOBIG;
    int rc = grow(b, b->len + n);
    if (rc != TG_BUF_OK)
        return rc;
    if (n)
        memcpy(b->p + b->len, data, n);
    b->len += n;
    b->p[b->len] = '\0';
    return TG_BUF_OK;
}

int tg_buf_puts(tg_buf *b, const char *s)
{
    return tg_buf_append(b, s, strlen(s));
}

int tg_buf_printf(tg_buf *b, const char *fmt, ...)
{
    char small[512];
    va_list ap;
    va_start(ap, fmt);
    int n = vsnprintf(small, sizeof small, fmt, ap);
    va_end(ap);
    if (n < 0)
        return TG_BUF_NOMEM;
    if ((size_t)n < sizeof small)
        return tg_buf_append(b, small, (size_t)n);
    char *big = malloc((size_t)n + 1);
    if (!big)
        return TG_BUF_NOMEM;
    va_start(ap, fmt);
    vsnprintf(big, (size_t)n + 1, fmt, ap);
    va_end(ap);
    int rc = tg_buf_append(b, big, (size_t)n);
    free(big);
    return rc;
}

void tg_buf_consume(tg_buf *b, size_t n)
{
    if (n >= b->len) {
        tg_buf_reset(b);
        return;
    }
    memmove(b->p, b->p + n, b->len - n);
    b->len -= n;
    b->p[b->len] = '\0';
}

void tg_buf_reset(tg_buf *b)
{
    b->len = 0;
    if (b->p)
        b->p[0] = '\0';
}

void tg_buf_rearm(tg_buf *b, size_t max, size_t keep)
{
    if (b->cap > keep)
        tg_buf_free(b);
    tg_buf_reset(b);
    b->max = max;
}

void tg_buf_free(tg_buf *b)
{
    free(b->p);
    *b = (tg_buf){NULL, 0, 0, b->max};
}

size_t tg_str_copy(char *dst, size_t size, const char *src)
{
    size_t n = src ? strnlen(src, size - 1) : 0;
    if (n)
        memcpy(dst, src, n);
    dst[n] = '\0';
    return n;
}

size_t tg_int_text(long long v, char *buf)
{
    char tmp[TG_INT_TEXT_SIZE];
    unsigned long long m = v < 0 ? 0ULL - (unsigned long long)v : (unsigned long long)v;
    size_t n = 0;
    do {
        tmp[n++] = (char)('0' + m % 10);
        m /= 10;
    } while (m);
    size_t len = 0;
    if (v < 0)
        buf[len++] = '-';
    while (n)
        buf[len++] = tmp[--n];
    buf[len] = '\0';
    return len;
}
