/* Money: integer nano-dollars (nusd), parsed from and printed as exact decimal USD.
 *
 * Every amount tollgate stores or compares (budgets, prices, costs, reservations) is an
 * int64_t count of nano-dollars: 1 USD = 1,000,000,000 nusd, so the largest amount is
 * 9223372036.854775807 USD.  Nothing here uses floating point: "0.1" is exactly
 * 100000000 nusd, and printing gives back the same digits.
 *
 * Printed form (tg_money_format): fixed-point USD with the trailing zeros of the nine
 * decimals trimmed, but never fewer than two decimals: 12500000000 -> "12.50",
 * 1 -> "0.000000001", 0 -> "0.00", 123456789 -> "0.123456789".  A negative amount
 * (a refund or an overshoot correction) gets a leading '-'.  The output is always
 * accepted back by tg_money_parse_usd when it is not negative. */
#ifndef TG_MONEY_H
#define TG_MONEY_H
#include <stddef.h>
#include <stdint.h>

#define TG_MONEY_NUSD_PER_USD INT64_C(1000000000)
#define TG_MONEY_DECIMALS 9
/* Longest text tg_money_parse_usd accepts (leading zeros included): far more than the 21
 * characters of the largest amount, small enough to refuse absurd input early. */
#define TG_MONEY_TEXT_MAX 64
/* A buffer of this size always holds tg_money_format's output ("-9223372036.854775808"
 * plus the NUL is 22 bytes). */
#define TG_MONEY_FMT_SIZE 32

typedef enum {
    TG_MONEY_OK = 0,
    TG_MONEY_SYNTAX,    /* not DIGITS[.DIGITS]: empty, spaces, sign, exponent, garbage */
    TG_MONEY_NEGATIVE,  /* starts with '-' */
    TG_MONEY_PRECISION, /* more than 9 decimals (finer than one nano-dollar) */
    TG_MONEY_RANGE,     /* more than 9223372036.854775807 USD */
} tg_money_status;

/* Parses `s`, a non-negative decimal amount of USD, into *nusd exactly.
 * Accepted: one or more digits, optionally followed by '.' and one to nine digits
 * ("100", "12.5", "0.000000001", "007.10").  Refused: "", " 1", "1 ", "+1", "-1",
 * ".5", "5.", "1e3", "1,000", more than nine decimals (even zeros: "1.0000000000"),
 * and anything above the int64 range.  `s` is a NUL-terminated string (not kept).
 * Returns TG_MONEY_OK and sets *nusd, or another tg_money_status and leaves *nusd alone. */
__attribute__((warn_unused_result)) int tg_money_parse_usd(const char *s, int64_t *nusd);

/* One short lower-case phrase explaining a tg_money_status, for messages like
 * "--budget-usd: too many decimals (at most 9)".  Never NULL; static storage. */
const char *tg_money_strerror(int status);

/* Writes `nusd` as USD (the form described at the top of this file) into `buf` of size
 * `n`, always NUL-terminated when n > 0.  Returns the length of the full text, as
 * snprintf does: the output was truncated if the result is >= n.  With n >=
 * TG_MONEY_FMT_SIZE it never is. */
int tg_money_format(int64_t nusd, char *buf, size_t n);

#endif
