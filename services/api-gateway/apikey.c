/*
 * apikey.c - tenant API keys: make, recognise, hash (see apikey.h for the format).
 */
#include "apikey.h"

#include <string.h>

#include "voepy/crypto.h"

/* Every scope a key may carry (docs/api.md describes them). */
static const char *const known_scopes[] = {
    "*",
    "calls:read",
    "calls:write",
    "numbers:read",
    "numbers:write",
    "recordings:read",
    "recordings:write",
    "webhooks:read",
    "webhooks:write",
    "billing:read",
    "billing:write",
    "keys:read",
    "keys:write",
    NULL,
};

static const char base62[] = "0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz";

uint32_t apikey_crc32(const void *data, size_t n)
{
    const unsigned char *p = data;
    uint32_t crc = 0xFFFFFFFFu;
    for (size_t i = 0; i < n; i++) {
        crc ^= p[i];
        for (int k = 0; k < 8; k++)
            crc = (crc >> 1) ^ (0xEDB88320u & (0u - (crc & 1u)));
    }
    return crc ^ 0xFFFFFFFFu;
}

void apikey_checksum(const char *s, size_t n, char out[APIKEY_CHECK_LEN + 1])
{
    uint32_t v = apikey_crc32(s, n);
    for (int i = APIKEY_CHECK_LEN - 1; i >= 0; i--) {
        out[i] = base62[v % 62];
        v /= 62;
    }
    out[APIKEY_CHECK_LEN] = '\0';
}

void apikey_new(char out[APIKEY_BUF])
{
    memcpy(out, APIKEY_PREFIX, APIKEY_PREFIX_LEN);
    crypto_random_token(out + APIKEY_PREFIX_LEN, APIKEY_RANDOM_LEN);
    apikey_checksum(out, APIKEY_PREFIX_LEN + APIKEY_RANDOM_LEN,
                    out + APIKEY_PREFIX_LEN + APIKEY_RANDOM_LEN);
}

static bool is_base62(char c)
{
    return (c >= '0' && c <= '9') || (c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z');
}

bool apikey_well_formed(const char *s)
{
    if (!s || strlen(s) != APIKEY_LEN || strncmp(s, APIKEY_PREFIX, APIKEY_PREFIX_LEN) != 0)
        return false;
    for (size_t i = APIKEY_PREFIX_LEN; i < APIKEY_LEN; i++)
        if (!is_base62(s[i]))
            return false;
    char check[APIKEY_CHECK_LEN + 1];
    apikey_checksum(s, APIKEY_PREFIX_LEN + APIKEY_RANDOM_LEN, check);
    return memcmp(check, s + APIKEY_PREFIX_LEN + APIKEY_RANDOM_LEN, APIKEY_CHECK_LEN) == 0;
}

void apikey_hash(const char *key, char *out)
{
    crypto_sha256_hex(key, strlen(key), out);
}

bool apikey_scope_known(const char *s)
{
    for (const char *const *k = known_scopes; s && *k; k++)
        if (strcmp(*k, s) == 0)
            return true;
    return false;
}

/* Whether the one held scope tok (len bytes, not terminated) grants want. */
static bool one_holds(const char *tok, size_t len, const char *want)
{
    if (len == 1 && tok[0] == '*')
        return true;
    size_t wlen = strlen(want);
    if (len == wlen && memcmp(tok, want, len) == 0)
        return true;
    /* "x:write" holds "x:read": same resource, then the verbs. */
    const char *colon = strchr(want, ':');
    if (!colon || strcmp(colon, ":read") != 0)
        return false;
    size_t res = (size_t)(colon - want);
    return len == res + 6 && memcmp(tok, want, res) == 0 && memcmp(tok + res, ":write", 6) == 0;
}

bool apikey_scope_held(const char *held, const char *want)
{
    if (!held || !want || !*want)
        return false;
    const char *p = held;
    while (*p) {
        size_t len = strcspn(p, " ");
        if (len && one_holds(p, len, want))
            return true;
        p += len;
        while (*p == ' ')
            p++;
    }
    return false;
}
