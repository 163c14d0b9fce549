#include "voepy/webhook_sig.h"
#include "voepy/crypto.h"
#include "voepy/err.h"

#include <sodium.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define PREFIX     "whsec_"
#define KEY_MAX    64
#define SIG_B64LEN 44 /* base64 of 32 bytes */

void webhook_secret_new(char out[WEBHOOK_SECRET_MAX])
{
    uint8_t key[32];
    crypto_random(key, sizeof(key));
    memcpy(out, PREFIX, sizeof(PREFIX) - 1);
    crypto_base64_encode(key, sizeof(key), out + sizeof(PREFIX) - 1,
                         WEBHOOK_SECRET_MAX - (sizeof(PREFIX) - 1));
}

/* The raw key inside "whsec_<base64>"; returns its length or VP_E_INVALID_PARAMETER. */
static int secret_key(const char *secret, uint8_t key[KEY_MAX])
{
    if (!secret || strncmp(secret, PREFIX, sizeof(PREFIX) - 1) != 0)
        return VP_E_INVALID_PARAMETER;
    const char *b64 = secret + sizeof(PREFIX) - 1;
    int n = crypto_base64_decode(b64, strlen(b64), key, KEY_MAX);
    return (n < 24) ? VP_E_INVALID_PARAMETER : n;
}

static void mac(const uint8_t *key, size_t keylen, const char *msg_id, const char *ts,
                const char *body, size_t body_len, uint8_t out[CRYPTO_HMAC_SHA256_LEN])
{
    /* "<id>.<timestamp>.<body>", hashed in pieces so the body is never copied. */
    crypto_auth_hmacsha256_state st;
    crypto_auth_hmacsha256_init(&st, key, keylen);
    crypto_auth_hmacsha256_update(&st, (const uint8_t *)msg_id, strlen(msg_id));
    crypto_auth_hmacsha256_update(&st, (const uint8_t *)".", 1);
    crypto_auth_hmacsha256_update(&st, (const uint8_t *)ts, strlen(ts));
    crypto_auth_hmacsha256_update(&st, (const uint8_t *)".", 1);
    crypto_auth_hmacsha256_update(&st, (const uint8_t *)body, body_len);
    crypto_auth_hmacsha256_final(&st, out);
}

int webhook_sign(const char *secret, const char *msg_id, int64_t timestamp_s, const char *body,
                 size_t body_len, char out[WEBHOOK_SIG_MAX])
{
    uint8_t key[KEY_MAX], h[CRYPTO_HMAC_SHA256_LEN];
    int keylen = secret_key(secret, key);
    if (keylen < 0 || !msg_id)
        return VP_E_INVALID_PARAMETER;
    char ts[24];
    snprintf(ts, sizeof(ts), "%lld", (long long)timestamp_s);
    mac(key, (size_t)keylen, msg_id, ts, body, body_len, h);
    memcpy(out, "v1,", 3);
    crypto_base64_encode(h, sizeof(h), out + 3, WEBHOOK_SIG_MAX - 3);
    return 0;
}

static int parse_ts(const char *s, int64_t *out)
{
    char *end;
    if (!s || !*s)
        return VP_E_INVALID_PARAMETER;
    long long v = strtoll(s, &end, 10);
    if (*end || v < 0)
        return VP_E_INVALID_PARAMETER;
    *out = v;
    return 0;
}

/* Does one "v1,<b64>" token match the expected MAC? */
static int token_matches(const char *tok, size_t len, const uint8_t expect[CRYPTO_HMAC_SHA256_LEN])
{
    if (len != 3 + SIG_B64LEN || strncmp(tok, "v1,", 3) != 0)
        return 0;
    uint8_t got[CRYPTO_HMAC_SHA256_LEN + 4];
    int n = crypto_base64_decode(tok + 3, SIG_B64LEN, got, sizeof(got));
    return n == CRYPTO_HMAC_SHA256_LEN && crypto_memcmp(got, expect, CRYPTO_HMAC_SHA256_LEN) == 0;
}

int webhook_verify(const char *secret, const char *msg_id, const char *timestamp,
                   const char *signature_header, const char *body, size_t body_len, int64_t now_s)
{
    uint8_t key[KEY_MAX], h[CRYPTO_HMAC_SHA256_LEN];
    int64_t ts;
    int keylen = secret_key(secret, key);
    if (keylen < 0 || !msg_id || !*msg_id || !signature_header || parse_ts(timestamp, &ts))
        return VP_E_INVALID_PARAMETER;
    if (ts < now_s - WEBHOOK_TOLERANCE_S || ts > now_s + WEBHOOK_TOLERANCE_S)
        return VP_E_TIMEOUT;
    mac(key, (size_t)keylen, msg_id, timestamp, body, body_len, h);
    const char *p = signature_header;
    while (*p) {
        while (*p == ' ')
            p++;
        const char *end = strchr(p, ' ');
        size_t len = end ? (size_t)(end - p) : strlen(p);
        if (len && token_matches(p, len, h))
            return 0;
        p += len;
    }
    return VP_E_UNAUTHORIZED;
}
