/* Exact decimal USD <-> integer nano-dollars (see money.h).
 *
 * Parsing is a single left-to-right scan: the whole-dollar digits are accumulated with an
 * overflow check against INT64_MAX / 1e9, the decimals are scaled to nine places, and the
 * sum is checked against what is left of the range.  Formatting splits the magnitude (as
 * uint64_t, so INT64_MIN works) into dollars and nine decimals and trims trailing zeros
 * down to two decimals.  No floating point anywhere. */
#include "quotas/money.h"

#include <stdbool.h>
#include <string.h>

#include "common/buf.h"

static bool is_digit(char c)
{
    return c >= '0' && c <= '9';
}

/* Accumulates the digits at *p into *whole (stopping at the first non-digit).  Returns
 * TG_MONEY_OK, TG_MONEY_SYNTAX when there is no digit, or TG_MONEY_RANGE when the dollars
 * alone exceed the int64 range of nano-dollars. */
static int parse_whole(const char **p, int64_t *whole)
{
    const int64_t max_whole = INT64_MAX / TG_MONEY_NUSD_PER_USD;
    const char *s = *p;
    int64_t v = 0;
    if (!is_digit(*s))
        return TG_MONEY_SYNTAX;
    for (; is_digit(*s); s++) {
        v = v * 10 + (*s - '0');
        if (v > max_whole)
            return TG_MONEY_RANGE;
    }
    *p = s;
    *whole = v;
    return TG_MONEY_OK;
}

/* Parses ".DIGITS" at *p (nothing there is zero decimals) into nano-dollars. */
static int parse_fraction(const char **p, int64_t *frac)
{
    const char *s = *p;
    int64_t v = 0;
    int places = 0;
    if (*s != '.') {
        *frac = 0;
        return TG_MONEY_OK;
    }
    s++;
    if (!is_digit(*s))
        return TG_MONEY_SYNTAX;
    for (; is_digit(*s); s++, places++) {
        if (places == TG_MONEY_DECIMALS)
            return TG_MONEY_PRECISION;
        v = v * 10 + (*s - '0');
    }
    for (; places < TG_MONEY_DECIMALS; places++)
        v *= 10;
    *p = s;
    *frac = v;
    return TG_MONEY_OK;
}

int tg_money_parse_usd(const char *s, int64_t *nusd)
{
    int64_t whole, frac;
    int rc;
    if (!s || !*s)
        return TG_MONEY_SYNTAX;
    if (*s == '-')
        return TG_MONEY_NEGATIVE;
    if (strnlen(s, TG_MONEY_TEXT_MAX + 1) > TG_MONEY_TEXT_MAX)
        return TG_MONEY_SYNTAX;
    if ((rc = parse_whole(&s, &whole)) != TG_MONEY_OK)
        return rc;
    if ((rc = parse_fraction(&s, &frac)) != TG_MONEY_OK)
        return rc;
    if (*s != '\0')
        return TG_MONEY_SYNTAX;
    if (frac > INT64_MAX - whole * TG_MONEY_NUSD_PER_USD)
        return TG_MONEY_RANGE;
    *nusd = whole * TG_MONEY_NUSD_PER_USD + frac;
    return TG_MONEY_OK;
}

const char *tg_money_strerror(int status)
{
    switch (status) {
    case TG_MONEY_OK:
        return "ok";
    case TG_MONEY_SYNTAX:
        return "not an amount in USD (digits, optionally '.' and up to 9 decimals)";
    case TG_MONEY_NEGATIVE:
        return "must not be negative";
    case TG_MONEY_PRECISION:
        return "too many decimals (at most 9: one nano-dollar)";
    case TG_MONEY_RANGE:
        return "too large (at most 9223372036.854775807)";
    default:
        return "invalid amount";
    }
}

int tg_money_format(int64_t nusd, char *buf, size_t n)
{
    const uint64_t per = (uint64_t)TG_MONEY_NUSD_PER_USD;
    bool neg = nusd < 0;
    uint64_t mag = neg ? (uint64_t)0 - (uint64_t)nusd : (uint64_t)nusd;
    char frac[TG_MONEY_DECIMALS + 1];
    uint64_t f = mag % per;
    for (int i = TG_MONEY_DECIMALS - 1; i >= 0; i--, f /= 10)
        frac[i] = (char)('0' + f % 10);
    frac[TG_MONEY_DECIMALS] = '\0';
    int keep = TG_MONEY_DECIMALS;
    while (keep > 2 && frac[keep - 1] == '0')
        keep--;
    char text[TG_MONEY_FMT_SIZE]; /* "-" 10 digits "." 9 digits: it always fits */
    size_t len = neg ? 1 : 0;
    text[0] = '-';
    len += tg_int_text((long long)(mag / per), text + len);
    text[len++] = '.';
    memcpy(text + len, frac, (size_t)keep);
    len += (size_t)keep;
    text[len] = '\0';
    if (n) /* cut to n - 1 bytes, as snprintf, which returns the whole length too */
        tg_str_copy(buf, n, text);
    return (int)len;
}
