/*
 * apikey.h - the format of tenant API keys.
 *
 *   voepy_live_<30 random base62 characters><6-character checksum>
 *
 * The checksum is the CRC-32 (IEEE 802.3, as zlib and PNG compute it) of everything
 * before it ("voepy_live_" and the 30 random characters), written in base62 (0-9A-Za-z),
 * most significant digit first, left-padded with '0' to 6 characters (62^6 > 2^32). The
 * fixed prefix lets secret scanners find leaked keys and the checksum lets them (and us)
 * tell a real key from a random string without a database lookup. The random part
 * carries about 178 bits of entropy.
 *
 * Only the SHA-256 of a key is ever stored (api_keys.key_hash); the key is shown once,
 * when it is made. api_keys.prefix keeps the first APIKEY_SHOWN_LEN characters so that an
 * operator can recognise a key in a list.
 */
#ifndef VOEPY_GW_APIKEY_H
#define VOEPY_GW_APIKEY_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define APIKEY_PREFIX     "voepy_live_"
#define APIKEY_PREFIX_LEN 11
#define APIKEY_RANDOM_LEN 30
#define APIKEY_CHECK_LEN  6
#define APIKEY_LEN        (APIKEY_PREFIX_LEN + APIKEY_RANDOM_LEN + APIKEY_CHECK_LEN)
#define APIKEY_BUF        (APIKEY_LEN + 1)
#define APIKEY_SHOWN_LEN  (APIKEY_PREFIX_LEN + 4)

/* A new key (crypto_init() must have run). */
void apikey_new(char out[APIKEY_BUF]);
/* True when s has the prefix, the length, the alphabet and a matching checksum. */
bool apikey_well_formed(const char *s);
/* The checksum of the first n characters of s, base62, NUL-terminated. */
void apikey_checksum(const char *s, size_t n, char out[APIKEY_CHECK_LEN + 1]);
/* CRC-32 (IEEE 802.3, reflected, init and final xor 0xFFFFFFFF). */
uint32_t apikey_crc32(const void *data, size_t n);
/* The stored form: lowercase hex SHA-256 of the key (out: CRYPTO_SHA256_HEX_LEN bytes). */
void apikey_hash(const char *key, char *out);

/*
 * Scopes. A key holds a list of scopes, kept here as one string of names separated by
 * single spaces ("calls:write numbers:read"). "*" holds every scope, a scope holds itself,
 * and "x:write" also holds "x:read". api_scope_held() in proto/sql/0011_api_keys.sql is
 * the same rule in SQL.
 */
#define APIKEY_SCOPES_MAX 256 /* longest scope list (every known scope fits) */

/* True when s names a scope a key may be given ("*" included). */
bool apikey_scope_known(const char *s);
/* True when the space-separated list held grants want. NULL held holds nothing. */
bool apikey_scope_held(const char *held, const char *want);

#endif
