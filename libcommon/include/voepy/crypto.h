/*
 * crypto.h - the few primitives voepy needs, all from libsodium.
 *
 * crypto_init() must run once before anything else here (and before id_new()).
 */
#ifndef VOEPY_CRYPTO_H
#define VOEPY_CRYPTO_H

#include <stddef.h>
#include <stdint.h>

#define CRYPTO_SHA256_LEN      32
#define CRYPTO_SHA256_HEX_LEN  65 /* 64 hex digits + NUL */
#define CRYPTO_HMAC_SHA256_LEN 32

int crypto_init(void);
void crypto_random(void *buf, size_t n);
/* n random bytes rendered as lowercase base32 (a-z2-7) or base62; out gets NUL. */
void crypto_random_token(char *out, size_t nchars);
void crypto_sha256(const void *data, size_t n, uint8_t out[CRYPTO_SHA256_LEN]);
void crypto_sha256_hex(const void *data, size_t n, char out[CRYPTO_SHA256_HEX_LEN]);
void crypto_hmac_sha256(const void *key, size_t keylen, const void *data, size_t n,
                        uint8_t out[CRYPTO_HMAC_SHA256_LEN]);
/* Standard base64 with padding; returns bytes written (without NUL) or VP_E_OVERFLOW. */
int crypto_base64_encode(const void *bin, size_t n, char *out, size_t outlen);
/* Decodes standard base64 (padding optional); returns bytes written or VP_E_PARSE. */
int crypto_base64_decode(const char *b64, size_t n, uint8_t *out, size_t outlen);
void crypto_hex(const void *bin, size_t n, char *out /* 2n+1 */);
/* Constant-time comparison; 0 when equal. */
int crypto_memcmp(const void *a, const void *b, size_t n);

#endif
