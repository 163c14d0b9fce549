/*
 * validate.c - value checks beyond json.h's field table (validate.h).
 */
#include "validate.h"

#include <arpa/inet.h>
#include <string.h>

#include "voepy/money.h"

/* Host names per RFC 1123: labels of 1-63 letters, digits and hyphens, not at the ends. */
static bool hostname_valid(const char *h, size_t n)
{
    if (n == 0 || n > 253)
        return false;
    size_t label = 0;
    for (size_t i = 0; i < n; i++) {
        char c = h[i];
        if (c == '.') {
            if (label == 0 || h[i - 1] == '-')
                return false;
            label = 0;
            continue;
        }
        bool ok = (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
                  (c == '-' && label > 0);
        if (!ok || ++label > 63)
            return false;
    }
    return h[n - 1] != '-' && h[n - 1] != '.';
}

static bool ipv6_bracketed_valid(const char *h, size_t n)
{
    char addr[INET6_ADDRSTRLEN];
    struct in6_addr a6;
    if (n < 3 || h[n - 1] != ']' || n - 2 >= sizeof(addr))
        return false;
    memcpy(addr, h + 1, n - 2);
    addr[n - 2] = '\0';
    return inet_pton(AF_INET6, addr, &a6) == 1;
}

static bool port_valid(const char *p)
{
    if (!validate_digits(p, 1, 5))
        return false;
    long v = 0;
    for (; *p; p++)
        v = v * 10 + (*p - '0');
    return v >= 1 && v <= 65535;
}

bool validate_sip_uri(const char *uri)
{
    if (!uri || strncmp(uri, "sip:", 4) != 0)
        return false;
    const char *host = uri + 4;
    const char *colon;
    size_t hlen;
    if (*host == '[') {
        const char *close = strchr(host, ']');
        if (!close)
            return false;
        hlen = (size_t)(close - host) + 1;
        if (!ipv6_bracketed_valid(host, hlen))
            return false;
        colon = host + hlen;
    } else {
        hlen = strcspn(host, ":");
        if (!hostname_valid(host, hlen))
            return false;
        colon = host + hlen;
    }
    if (*colon == '\0')
        return true;
    return *colon == ':' && port_valid(colon + 1);
}

const char *validate_country_for_code(const char *calling_code)
{
    static const char *const map[][2] = {
        {"1", "US"},  {"7", "RU"},   {"27", "ZA"},  {"31", "NL"},  {"32", "BE"}, {"33", "FR"},
        {"34", "ES"}, {"39", "IT"},  {"41", "CH"},  {"43", "AT"},  {"44", "GB"}, {"45", "DK"},
        {"46", "SE"}, {"47", "NO"},  {"48", "PL"},  {"49", "DE"},  {"52", "MX"}, {"55", "BR"},
        {"61", "AU"}, {"64", "NZ"},  {"65", "SG"},  {"81", "JP"},  {"82", "KR"}, {"86", "CN"},
        {"91", "IN"}, {"351", "PT"}, {"353", "IE"}, {"358", "FI"},
    };
    for (size_t i = 0; calling_code && i < sizeof(map) / sizeof(map[0]); i++)
        if (strcmp(map[i][0], calling_code) == 0)
            return map[i][1];
    return NULL;
}

bool validate_country(const char *s)
{
    return s && strlen(s) == 2 && s[0] >= 'A' && s[0] <= 'Z' && s[1] >= 'A' && s[1] <= 'Z';
}

bool validate_digits(const char *s, size_t min, size_t max)
{
    if (!s)
        return false;
    size_t n = 0;
    for (; s[n]; n++)
        if (s[n] < '0' || s[n] > '9')
            return false;
    return n >= min && n <= max;
}

bool validate_rate_prefix(const char *s, char out[16])
{
    if (!s)
        return false;
    if (*s == '+')
        s++;
    if (!validate_digits(s, 0, 15))
        return false;
    strcpy(out, s);
    return true;
}

int validate_cents(const json_t *v, const char *field, int64_t *micros, struct vp_error *e)
{
    if (json_is_integer(v)) {
        json_int_t n = json_integer_value(v);
        if (n < 0 || n > INT64_MAX / MONEY_MICROS_PER_CENT)
            return vp_error_set(e, VP_E_INVALID_PARAMETER, field,
                                "%s must be a non-negative amount of cents.", field);
        *micros = (int64_t)n * MONEY_MICROS_PER_CENT;
        return 0;
    }
    if (json_is_real(v))
        return vp_error_set(e, VP_E_INVALID_PARAMETER, field,
                            "%s must be a whole number or a decimal string such as \"0.45\": "
                            "fractional JSON numbers are refused to keep money exact.",
                            field);
    if (!json_is_string(v))
        return vp_error_set(e, VP_E_INVALID_REQUEST, field,
                            "%s must be an integer or a decimal string.", field);
    if (money_parse_cents_decimal(json_string_value(v), 0, micros) != 0)
        return vp_error_set(e, VP_E_INVALID_PARAMETER, field,
                            "%s must be a non-negative decimal amount of cents with at most 6 "
                            "decimals, such as \"0.45\".",
                            field);
    return 0;
}
