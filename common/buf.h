/* tg_buf: a growable byte buffer that knows its own limit (after curl's dynbuf).
 *
 * Appending past `max` fails with TG_BUF_TOOBIG instead of growing, so a hostile peer
 * meets a clean error (413, 502) and never an out-of-memory.  The limits for each purpose
 * are named where they are configured (proxy/config.h). */
#ifndef TG_BUF_H
#define TG_BUF_H
#include <stddef.h>

#define TG_WARN_UNUSED __attribute__((warn_unused_result))
#define TG_BUF_OK 0
#define TG_BUF_TOOBIG (-1)
#define TG_BUF_NOMEM (-2)

typedef struct {
    char *p;      /* bytes, always NUL-terminated after a successful append */
    size_t len;   /* bytes in use, excluding the NUL */
    size_t cap;   /* allocated, excluding the NUL */
    size_t max;   /* len may never exceed this */
} tg_buf;

/* An empty buffer that may hold up to `max` bytes (nothing allocated yet). */
void tg_buf_init(tg_buf *b, size_t max);

/* Appends n bytes.  TG_BUF_OK, TG_BUF_TOOBIG (len + n > max; nothing appended) or
 * TG_BUF_NOMEM (nothing appended). */
TG_WARN_UNUSED int tg_buf_append(tg_buf *b, const void *data, size_t n);

/* Appends a NUL-terminated string (as tg_buf_append). */
TG_WARN_UNUSED int tg_buf_puts(tg_buf *b, const char *s);

/* Appends printf-formatted text (as tg_buf_append). */
TG_WARN_UNUSED int tg_buf_printf(tg_buf *b, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));

/* Copies at most size-1 bytes of `src` (NULL: "") into dst and NUL-terminates it
 * (size > 0): snprintf's "%s" without stdio's machinery.  Returns the bytes copied. */
size_t tg_str_copy(char *dst, size_t size, const char *src);

#define TG_INT_TEXT_SIZE 21 /* "-9223372036854775808" and its NUL */

/* Writes v in decimal, NUL-terminated, into buf (TG_INT_TEXT_SIZE bytes at least), as
 * printf's "%lld" would.  Returns the length. */
size_t tg_int_text(long long v, char *buf);

/* Drops the first n bytes (n <= len). */
void tg_buf_consume(tg_buf *b, size_t n);

/* Empties the buffer, keeping its memory. */
void tg_buf_reset(tg_buf *b);

/* Empties the buffer with a new limit, keeping its memory when it holds at most `keep`
 * bytes (freeing it otherwise): a buffer kept for reuse by a pooled owner.  b must have
 * been initialized (or zeroed). */
void tg_buf_rearm(tg_buf *b, size_t max, size_t keep);

/* Frees the memory; the buffer is empty and reusable with the same max. */
void tg_buf_free(tg_buf *b);

#endif
