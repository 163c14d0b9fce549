/*
 * id.h - identifiers "voepy_<kind>_<ULID>".
 *
 * The ULID part is 26 Crockford base32 characters: 48 bits of milliseconds since the
 * epoch then 80 random bits, so ids sort by creation time. Kinds are lowercase letters
 * (call, leg, rec, route, num, evt, key, txn, tenant, whk, dlv, ...).
 */
#ifndef VOEPY_ID_H
#define VOEPY_ID_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define ID_ULID_LEN 26
#define ID_MAX      64 /* buffer size that fits any id */

/* Write a new id of the given kind; returns 0 or VP_E_OVERFLOW / VP_E_INVALID_PARAMETER. */
int id_new(char *out, size_t outlen, const char *kind);
/* Same, at a chosen time (tests, and ids that must sort with a past event). */
int id_new_at(char *out, size_t outlen, const char *kind, int64_t epoch_ms);
/* True when s is a well-formed id; a NULL kind accepts any kind. */
bool id_valid(const char *s, const char *kind);
/* The millisecond timestamp inside a valid id, or -1. */
int64_t id_time_ms(const char *s);

#endif
