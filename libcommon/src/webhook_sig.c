#include "voepy/webhook_sig.h"
#include "voepy/alloc.h"
#include "voepy/crypto.h"
#include "voepy/err.h"

#include <sodium.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define PREFIX      "whsec_"
#define SK_PREFIX   "whsk_"
#define PK_PREFIX   "whpk_"
#define KEY_MAX     64
#define SIG_B64LEN  44 /* base64 of 32 bytes */
#define V1A_B64LEN  88 /* base64 of 64 bytes */
#define MAC_HEX_LEN (2 * CRYPTO_HMAC_SHA256_LEN)

#define PLEN(p) (sizeof(p) - 1)

void webhook_secret_new(char out[WEBHOOK_SECRET_MAX])
{
    uint8_t key[32];
    crypto_random(key, sizeof(key));
    memcpy(out, PREFIX, PLEN(PREFIX));
    crypto_base64_encode(key, sizeof(key), out + PLEN(PREFIX), WEBHOOK_SECRET_MAX - PLEN(PREFIX));
}

void webhook_ed25519_keypair_new(char sk[WEBHOOK_ED25519_SK_MAX], char pk[WEBHOOK_ED25519_PK_MAX])
{
    uint8_t s[crypto_sign_SECRETKEYBYTES], p[crypto_sign_PUBLICKEYBYTES];
    crypto_sign_keypair(p, s);
    memcpy(sk, SK_PREFIX, PLEN(SK_PREFIX));
    crypto_base64_encode(s, sizeof(s), sk + PLEN(SK_PREFIX),
                         WEBHOOK_ED25519_SK_MAX - PLEN(SK_PREFIX));
    memcpy(pk, PK_PREFIX, PLEN(PK_PREFIX));
    crypto_base64_encode(p, sizeof(p), pk + PLEN(PK_PREFIX),
                         WEBHOOK_ED25519_PK_MAX - PLEN(PK_PREFIX));
    sodium_memzero(s, sizeof(s));
}

/* The raw key inside "whsec_<base64>"; returns its length or VP_E_INVALID_PARAMETER. */
static int secret_key(const char *secret, uint8_t key[KEY_MAX])
{
    if (!secret || strncmp(secret, PREFIX, PLEN(PREFIX)) != 0)
        return VP_E_INVALID_PARAMETER;
    const char *b64 = secret + PLEN(PREFIX);
    int n = crypto_base64_decode(b64, strlen(b64), key, KEY_MAX);
    return (n < 24) ? VP_E_INVALID_PARAMETER : n;
}

/* Exactly n bytes of base64 after prefix, or VP_E_INVALID_PARAMETER. */
static int prefixed_key(const char *s, const char *prefix, uint8_t *out, size_t n)
{
    size_t plen = strlen(prefix);
    uint8_t tmp[crypto_sign_SECRETKEYBYTES + 4];
    if (!s || strncmp(s, prefix, plen) != 0)
        return VP_E_INVALID_PARAMETER;
    int got = crypto_base64_decode(s + plen, strlen(s + plen), tmp, sizeof(tmp));
    if (got != (int)n)
        return VP_E_INVALID_PARAMETER;
    memcpy(out, tmp, n);
    sodium_memzero(tmp, sizeof(tmp));
    return 0;
}

static void mac(const uint8_t *key, size_t keylen, const char *msg_id, const char *ts,
                const char *body, size_t body_len, uint8_t out[CRYPTO_HMAC_SHA256_LEN])
{
    /* "<id>.<timestamp>.<body>" (or "<t>.<body>" when msg_id is NULL), hashed in pieces
     * so the body is never copied. */
    crypto_auth_hmacsha256_state st;
    crypto_auth_hmacsha256_init(&st, key, keylen);
    if (msg_id) {
        crypto_auth_hmacsha256_update(&st, (const uint8_t *)msg_id, strlen(msg_id));
        crypto_auth_hmacsha256_update(&st, (const uint8_t *)".", 1);
    }
    crypto_auth_hmacsha256_update(&st, (const uint8_t *)ts, strlen(ts));
    crypto_auth_hmacsha256_update(&st, (const uint8_t *)".", 1);
    crypto_auth_hmacsha256_update(&st, (const uint8_t *)body, body_len);
    crypto_auth_hmacsha256_final(&st, out);
}

/* "<id>.<ts>.<body>" in one piece, as Ed25519 (not prehashed) needs it; caller frees. */
static uint8_t *signed_content(const char *msg_id, const char *ts, const char *body,
                               size_t body_len, size_t *lenp)
{
    size_t idl = strlen(msg_id), tsl = strlen(ts);
    uint8_t *m = vp_malloc(idl + tsl + body_len + 2);
    memcpy(m, msg_id, idl);
    m[idl] = '.';
    memcpy(m + idl + 1, ts, tsl);
    m[idl + 1 + tsl] = '.';
    if (body_len)
        memcpy(m + idl + tsl + 2, body, body_len);
    *lenp = idl + tsl + body_len + 2;
    return m;
}

static bool empty(const char *s)
{
    return !s || !*s;
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

int webhook_sign_ed25519(const char *secret_key, const char *msg_id, int64_t timestamp_s,
                         const char *body, size_t body_len, char out[WEBHOOK_SIG_V1A_MAX])
{
    uint8_t sk[crypto_sign_SECRETKEYBYTES], sig[crypto_sign_BYTES];
    if (!msg_id || prefixed_key(secret_key, SK_PREFIX, sk, sizeof(sk)))
        return VP_E_INVALID_PARAMETER;
    char ts[24];
    snprintf(ts, sizeof(ts), "%lld", (long long)timestamp_s);
    size_t n;
    uint8_t *m = signed_content(msg_id, ts, body, body_len, &n);
    crypto_sign_detached(sig, NULL, m, n, sk);
    free(m);
    sodium_memzero(sk, sizeof(sk));
    memcpy(out, "v1a,", 4);
    crypto_base64_encode(sig, sizeof(sig), out + 4, WEBHOOK_SIG_V1A_MAX - 4);
    return 0;
}

int webhook_sign_header(const struct webhook_keys *keys, const char *msg_id, int64_t timestamp_s,
                        const char *body, size_t body_len, char out[WEBHOOK_SIG_HEADER_MAX])
{
    char cur[WEBHOOK_SIG_MAX], prev[WEBHOOK_SIG_MAX] = "", v1a[WEBHOOK_SIG_V1A_MAX] = "";
    out[0] = '\0';
    if (webhook_sign(keys->secret, msg_id, timestamp_s, body, body_len, cur))
        return VP_E_INVALID_PARAMETER;
    if (!empty(keys->previous_secret) &&
        webhook_sign(keys->previous_secret, msg_id, timestamp_s, body, body_len, prev))
        return VP_E_INVALID_PARAMETER;
    if (!empty(keys->ed25519_secret_key) &&
        webhook_sign_ed25519(keys->ed25519_secret_key, msg_id, timestamp_s, body, body_len, v1a))
        return VP_E_INVALID_PARAMETER;
    snprintf(out, WEBHOOK_SIG_HEADER_MAX, "%s%s%s%s%s", cur, prev[0] ? " " : "", prev,
             v1a[0] ? " " : "", v1a);
    return 0;
}

/* ",v1=<hex HMAC(secret string, "<ts>.<body>")>" appended at out. */
static void voepy_mac_hex(const char *secret, const char *ts, const char *body, size_t body_len,
                          char hex[MAC_HEX_LEN + 1])
{
    uint8_t h[CRYPTO_HMAC_SHA256_LEN];
    mac((const uint8_t *)secret, strlen(secret), NULL, ts, body, body_len, h);
    crypto_hex(h, sizeof(h), hex);
}

int webhook_sign_voepy(const struct webhook_keys *keys, int64_t timestamp_s, const char *body,
                       size_t body_len, char out[WEBHOOK_VOEPY_SIG_MAX])
{
    uint8_t key[KEY_MAX];
    char ts[24], cur[MAC_HEX_LEN + 1], prev[MAC_HEX_LEN + 1] = "";
    out[0] = '\0';
    if (secret_key(keys->secret, key) < 0 ||
        (!empty(keys->previous_secret) && secret_key(keys->previous_secret, key) < 0))
        return VP_E_INVALID_PARAMETER;
    snprintf(ts, sizeof(ts), "%lld", (long long)timestamp_s);
    voepy_mac_hex(keys->secret, ts, body, body_len, cur);
    if (!empty(keys->previous_secret))
        voepy_mac_hex(keys->previous_secret, ts, body, body_len, prev);
    snprintf(out, WEBHOOK_VOEPY_SIG_MAX, "t=%s,v1=%s%s%s", ts, cur, prev[0] ? ",v1=" : "", prev);
    return 0;
}

/* A decimal unix timestamp, digits only. */
static int parse_ts(const char *s, size_t len, int64_t *out)
{
    if (!s || len == 0 || len > 18)
        return VP_E_INVALID_PARAMETER;
    int64_t v = 0;
    for (size_t i = 0; i < len; i++) {
        if (s[i] < '0' || s[i] > '9')
            return VP_E_INVALID_PARAMETER;
        v = v * 10 + (s[i] - '0');
    }
    *out = v;
    return 0;
}

static int check_time(const char *ts, size_t len, int64_t now_s)
{
    int64_t t;
    if (parse_ts(ts, len, &t))
        return VP_E_INVALID_PARAMETER;
    if (t < now_s - WEBHOOK_TOLERANCE_S || t > now_s + WEBHOOK_TOLERANCE_S)
        return VP_E_TIMEOUT;
    return 0;
}

/* Does one "<version>,<b64>" token carry the expected bytes (n of them)? */
static bool token_matches(const char *tok, size_t len, const char *version, const uint8_t *expect,
                          size_t n)
{
    size_t vl = strlen(version);
    if (len <= vl + 1 || strncmp(tok, version, vl) != 0 || tok[vl] != ',')
        return false;
    uint8_t got[crypto_sign_BYTES + 4];
    int m = crypto_base64_decode(tok + vl + 1, len - vl - 1, got, sizeof(got));
    return m == (int)n && crypto_memcmp(got, expect, n) == 0;
}

int webhook_verify(const char *secret, const char *msg_id, const char *timestamp,
                   const char *signature_header, const char *body, size_t body_len, int64_t now_s)
{
    uint8_t key[KEY_MAX], h[CRYPTO_HMAC_SHA256_LEN];
    int keylen = secret_key(secret, key);
    if (keylen < 0 || empty(msg_id) || !signature_header || !timestamp)
        return VP_E_INVALID_PARAMETER;
    int err = check_time(timestamp, strlen(timestamp), now_s);
    if (err)
        return err;
    mac(key, (size_t)keylen, msg_id, timestamp, body, body_len, h);
    for (const char *p = signature_header; *p;) {
        while (*p == ' ')
            p++;
        size_t len = strcspn(p, " ");
        if (len && token_matches(p, len, "v1", h, sizeof(h)))
            return 0;
        p += len;
    }
    return VP_E_UNAUTHORIZED;
}

/* Does one "v1a,<b64>" token hold a valid signature of m? */
static bool v1a_matches(const char *tok, size_t len, const uint8_t *m, size_t n,
                        const uint8_t pk[crypto_sign_PUBLICKEYBYTES])
{
    uint8_t sig[crypto_sign_BYTES + 4];
    if (len <= 4 || strncmp(tok, "v1a,", 4) != 0)
        return false;
    int got = crypto_base64_decode(tok + 4, len - 4, sig, sizeof(sig));
    return got == crypto_sign_BYTES && crypto_sign_verify_detached(sig, m, n, pk) == 0;
}

int webhook_verify_ed25519(const char *public_key, const char *msg_id, const char *timestamp,
                           const char *signature_header, const char *body, size_t body_len,
                           int64_t now_s)
{
    uint8_t pk[crypto_sign_PUBLICKEYBYTES];
    if (prefixed_key(public_key, PK_PREFIX, pk, sizeof(pk)) || empty(msg_id) || !signature_header ||
        !timestamp)
        return VP_E_INVALID_PARAMETER;
    int err = check_time(timestamp, strlen(timestamp), now_s);
    if (err)
        return err;
    size_t n;
    uint8_t *m = signed_content(msg_id, timestamp, body, body_len, &n);
    err = VP_E_UNAUTHORIZED;
    for (const char *p = signature_header; *p && err;) {
        while (*p == ' ')
            p++;
        size_t len = strcspn(p, " ");
        if (len && v1a_matches(p, len, m, n, pk))
            err = 0;
        p += len;
    }
    free(m);
    return err;
}

/* The value of "t=" in a voepy-signature; NULL when absent (first one wins). */
static const char *voepy_field(const char *header, const char *name, size_t *lenp)
{
    size_t nl = strlen(name);
    for (const char *p = header; *p;) {
        size_t len = strcspn(p, ",");
        if (len > nl && strncmp(p, name, nl) == 0 && p[nl] == '=') {
            *lenp = len - nl - 1;
            return p + nl + 1;
        }
        p += len;
        if (*p == ',')
            p++;
    }
    return NULL;
}

/* Does one "v1=<hex>" element match? */
static bool voepy_v1_matches(const char *p, size_t len,
                             const uint8_t expect[CRYPTO_HMAC_SHA256_LEN])
{
    uint8_t got[CRYPTO_HMAC_SHA256_LEN];
    size_t n = 0;
    if (len != 3 + MAC_HEX_LEN || strncmp(p, "v1=", 3) != 0)
        return false;
    if (sodium_hex2bin(got, sizeof(got), p + 3, MAC_HEX_LEN, NULL, &n, NULL) || n != sizeof(got))
        return false;
    return crypto_memcmp(got, expect, sizeof(got)) == 0;
}

int webhook_verify_voepy(const char *secret, const char *header, const char *body, size_t body_len,
                         int64_t now_s)
{
    uint8_t key[KEY_MAX], h[CRYPTO_HMAC_SHA256_LEN];
    size_t tlen = 0;
    const char *t = header ? voepy_field(header, "t", &tlen) : NULL;
    if (secret_key(secret, key) < 0 || !t)
        return VP_E_INVALID_PARAMETER;
    int err = check_time(t, tlen, now_s);
    if (err)
        return err;
    char ts[24];
    snprintf(ts, sizeof(ts), "%.*s", (int)tlen, t);
    mac((const uint8_t *)secret, strlen(secret), NULL, ts, body, body_len, h);
    for (const char *p = header; *p;) {
        size_t len = strcspn(p, ",");
        if (voepy_v1_matches(p, len, h))
            return 0;
        p += len;
        if (*p == ',')
            p++;
    }
    return VP_E_UNAUTHORIZED;
}
