/*
 * e164.h - E.164 phone numbers: "+" then 6-15 digits, the first not 0.
 */
#ifndef VOEPY_E164_H
#define VOEPY_E164_H

#include <stdbool.h>
#include <stddef.h>

bool e164_valid(const char *s);
/*
 * The country calling code of a valid number (1-3 digits) written to cc; returns 0, or
 * VP_E_INVALID_PARAMETER when the number is invalid or its code is unassigned.
 */
int e164_country_code(const char *s, char *cc, size_t cclen);

#endif
