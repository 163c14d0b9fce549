#include "voepy/crypto.h"
#include "voepy/err.h"

#include <sodium.h>

int crypto_init(void)
{
    return sodium_init() < 0 ? VP_E_INTERNAL : 0;
}

void crypto_random(void *buf, size_t n)
{
    randombytes_buf(buf, n);
}

void crypto_random_token(char *out, size_t nchars)
{
    static const char alphabet[] = "0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz";
    for (size_t i = 0; i < nchars; i++)
        out[i] = alphabet[randombytes_uniform(sizeof(alphabet) - 1)];
    out[nchars] = '\0';
}

void crypto_sha256(const void *data, size_t n, uint8_t out[CRYPTO_SHA256_LEN])
{
    crypto_hash_sha256(out, data, n);
}

void crypto_sha256_hex(const void *data, size_t n, char out[CRYPTO_SHA256_HEX_LEN])
{
    uint8_t h[CRYPTO_SHA256_LEN];
    crypto_hash_sha256(h, data, n);
    sodium_bin2hex(out, CRYPTO_SHA256_HEX_LEN, h, sizeof(h));
}

void crypto_hmac_sha256(const void *key, size_t keylen, const void *data, size_t n,
                        uint8_t out[CRYPTO_HMAC_SHA256_LEN])
{
    crypto_auth_hmacsha256_state st;
    crypto_auth_hmacsha256_init(&st, key, keylen);
    crypto_auth_hmacsha256_update(&st, data, n);
    crypto_auth_hmacsha256_final(&st, out);
}

int crypto_base64_encode(const void *bin, size_t n, char *out, size_t outlen)
{
    size_t need = sodium_base64_ENCODED_LEN(n, sodium_base64_VARIANT_ORIGINAL);
    if (outlen < need)
        return VP_E_OVERFLOW;
    sodium_bin2base64(out, outlen, bin, n, sodium_base64_VARIANT_ORIGINAL);
    return (int)(need - 1);
}

int crypto_base64_decode(const char *b64, size_t n, uint8_t *out, size_t outlen)
{
    size_t len;
    /* Accept input with or without padding: try padded first, then unpadded. */
    if (sodium_base642bin(out, outlen, b64, n, NULL, &len, NULL, sodium_base64_VARIANT_ORIGINAL) ==
        0)
        return (int)len;
    if (sodium_base642bin(out, outlen, b64, n, NULL, &len, NULL,
                          sodium_base64_VARIANT_ORIGINAL_NO_PADDING) == 0)
        return (int)len;
    return VP_E_PARSE;
}

void crypto_hex(const void *bin, size_t n, char *out)
{
    sodium_bin2hex(out, 2 * n + 1, bin, n);
}

int crypto_memcmp(const void *a, const void *b, size_t n)
{
    return sodium_memcmp(a, b, n) == 0 ? 0 : 1;
}
