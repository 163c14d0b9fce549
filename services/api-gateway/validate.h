/*
 * validate.h - checks of request values that json.h's field table cannot express.
 *
 * Pure functions (no I/O), unit-tested in tests/unit/api-gateway/test_validate.c.
 */
#ifndef VOEPY_GW_VALIDATE_H
#define VOEPY_GW_VALIDATE_H

#include <jansson.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "voepy/err.h"

/* "sip:host[:port]": a host name, an IPv4 address or a bracketed IPv6 address; port 1-65535. */
bool validate_sip_uri(const char *uri);
/* ISO 3166-1 alpha-2 country of common calling codes ("1" -> "US", "44" -> "GB"), else NULL. */
const char *validate_country_for_code(const char *calling_code);
/* Two upper-case letters. */
bool validate_country(const char *s);
/* Only ASCII digits, between min and max of them. */
bool validate_digits(const char *s, size_t min, size_t max);
/*
 * A rate prefix: an optional "+" then 0-15 digits. Writes the digits (without "+") to
 * out[16]; false when malformed.
 */
bool validate_rate_prefix(const char *s, char out[16]);
/*
 * An amount of cents for rates: a JSON integer (whole cents) or a decimal string
 * ("0.45", at most 6 decimals), never a JSON real, and not negative. Writes micros
 * (1/1,000,000 of a cent). Errors name field: a JSON real or a malformed or too large
 * amount is VP_E_INVALID_PARAMETER, another JSON type VP_E_INVALID_REQUEST.
 */
int validate_cents(const json_t *v, const char *field, int64_t *micros, struct vp_error *e);

#endif
