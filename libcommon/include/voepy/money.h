/*
 * money.h - integer money. Never floating point.
 *
 * The API speaks whole cents (int64). Rates need a finer unit: a "micro" is one
 * millionth of a cent (1 cent = 1,000,000 micros), so 0.45 cents/minute is 450,000
 * micros/minute. Sub-cent amounts accumulate in micros and are rounded up to the cent
 * once, at the end.
 */
#ifndef VOEPY_MONEY_H
#define VOEPY_MONEY_H

#include <stddef.h>
#include <stdint.h>

#define MONEY_MICROS_PER_CENT INT64_C(1000000)

/*
 * Parse a decimal amount of cents ("12", "0.45", "1.000001"; at most 6 decimals, no sign
 * unless allow_negative) into micros. Returns 0, VP_E_PARSE or VP_E_OVERFLOW.
 */
int money_parse_cents_decimal(const char *s, int allow_negative, int64_t *micros);
/* Format micros as a decimal amount of cents without trailing zeros ("0.45", "12"). */
int money_format_micros(int64_t micros, char *out, size_t outlen);
/* Round micros up to whole cents (towards +infinity). */
int64_t money_micros_to_cents_ceil(int64_t micros);
/* a * b / c rounded up, with overflow detection; returns 0 or VP_E_OVERFLOW. c > 0. */
int money_muldiv_ceil(int64_t a, int64_t b, int64_t c, int64_t *out);

#endif
