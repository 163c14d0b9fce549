#include "voepy/money.h"
#include "voepy/err.h"

#include <stdio.h>
#include <string.h>

int money_parse_cents_decimal(const char *s, int allow_negative, int64_t *micros)
{
    if (!s || !*s)
        return VP_E_PARSE;
    int neg = 0;
    if (*s == '-') {
        if (!allow_negative)
            return VP_E_PARSE;
        neg = 1;
        s++;
    }
    int64_t whole = 0, frac = 0;
    int nwhole = 0, nfrac = 0;
    for (; *s >= '0' && *s <= '9'; s++, nwhole++) {
        if (whole > (INT64_MAX / MONEY_MICROS_PER_CENT - 9) / 10)
            return VP_E_OVERFLOW;
        whole = whole * 10 + (*s - '0');
    }
    if (*s == '.') {
        s++;
        for (; *s >= '0' && *s <= '9'; s++, nfrac++) {
            if (nfrac == 6)
                return VP_E_PARSE; /* finer than a micro */
            frac = frac * 10 + (*s - '0');
        }
        if (nfrac == 0)
            return VP_E_PARSE;
    }
    if (*s != '\0' || nwhole == 0)
        return VP_E_PARSE;
    for (int i = nfrac; i < 6; i++)
        frac *= 10;
    int64_t v = whole * MONEY_MICROS_PER_CENT + frac;
    *micros = neg ? -v : v;
    return 0;
}

int money_format_micros(int64_t micros, char *out, size_t outlen)
{
    const char *sign = "";
    uint64_t v = (uint64_t)micros;
    if (micros < 0) {
        sign = "-";
        v = 0 - (uint64_t)micros;
    }
    uint64_t whole = v / (uint64_t)MONEY_MICROS_PER_CENT,
             frac = v % (uint64_t)MONEY_MICROS_PER_CENT;
    int n;
    if (frac == 0) {
        n = snprintf(out, outlen, "%s%llu", sign, (unsigned long long)whole);
    } else {
        char f[8];
        snprintf(f, sizeof(f), "%06llu", (unsigned long long)frac);
        for (int i = 5; i > 0 && f[i] == '0'; i--)
            f[i] = '\0';
        n = snprintf(out, outlen, "%s%llu.%s", sign, (unsigned long long)whole, f);
    }
    return (n < 0 || (size_t)n >= outlen) ? VP_E_OVERFLOW : 0;
}

int64_t money_micros_to_cents_ceil(int64_t micros)
{
    int64_t q = micros / MONEY_MICROS_PER_CENT;
    return (micros % MONEY_MICROS_PER_CENT > 0) ? q + 1 : q;
}

int money_muldiv_ceil(int64_t a, int64_t b, int64_t c, int64_t *out)
{
    __int128 p = (__int128)a * b;
    if (c <= 0)
        return VP_E_INVALID_PARAMETER;
    __int128 q = p / c;
    if (p % c > 0)
        q += 1;
    if (q > INT64_MAX || q < INT64_MIN)
        return VP_E_OVERFLOW;
    *out = (int64_t)q;
    return 0;
}
