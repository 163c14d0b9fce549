/* crypto and webhook signatures, checked against published test vectors. */
#include "vp_test.h"

#include <string.h>

#include "voepy/crypto.h"
#include "voepy/err.h"
#include "voepy/webhook_sig.h"

/* The Standard Webhooks specification's published test vector. */
#define SW_SECRET "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw"
#define SW_ID     "msg_p5jXN8AQM9LWM0D4loKWxJek"
#define SW_TS     1614265330
#define SW_BODY   "{\"test\": 2432232314}"
#define SW_SIG    "v1,g0hM9SsE+OTPJTGt/tmIKtSyZlE3uFJELVlNIOLJ1OE="

static void test_sha256_hmac(void **state)
{
    (void)state;
    char hex[CRYPTO_SHA256_HEX_LEN];
    crypto_sha256_hex("abc", 3, hex);
    assert_string_equal(hex, "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad");
    /* RFC 4231 test case 2. */
    uint8_t mac[CRYPTO_HMAC_SHA256_LEN];
    crypto_hmac_sha256("Jefe", 4, "what do ya want for nothing?", 28, mac);
    crypto_hex(mac, sizeof(mac), hex);
    assert_string_equal(hex, "5bdcc146bf60754e6a042426089575c75a003f089d2739839dec58b964ec3843");
}

static void test_base64(void **state)
{
    (void)state;
    char out[16];
    assert_int_equal(crypto_base64_encode("foob", 4, out, sizeof(out)), 8);
    assert_string_equal(out, "Zm9vYg==");
    uint8_t bin[8];
    assert_int_equal(crypto_base64_decode("Zm9vYg==", 8, bin, sizeof(bin)), 4);
    assert_memory_equal(bin, "foob", 4);
    assert_int_equal(crypto_base64_decode("Zm9vYg", 6, bin, sizeof(bin)), 4);
    assert_int_equal(crypto_base64_decode("Zm9v!g==", 8, bin, sizeof(bin)), VP_E_PARSE);
    assert_int_equal(crypto_base64_encode("foob", 4, out, 8), VP_E_OVERFLOW);
}

static void test_random_token(void **state)
{
    (void)state;
    char a[33], b[33];
    crypto_random_token(a, 32);
    crypto_random_token(b, 32);
    assert_int_equal(strlen(a), 32);
    assert_string_not_equal(a, b);
    assert_int_equal(crypto_memcmp("abc", "abc", 3), 0);
    assert_int_not_equal(crypto_memcmp("abc", "abd", 3), 0);
}

static void test_webhook_vector(void **state)
{
    (void)state;
    char sig[WEBHOOK_SIG_MAX];
    assert_int_equal(webhook_sign(SW_SECRET, SW_ID, SW_TS, SW_BODY, strlen(SW_BODY), sig), 0);
    assert_string_equal(sig, SW_SIG);
    assert_int_equal(webhook_verify(SW_SECRET, SW_ID, "1614265330", SW_SIG, SW_BODY,
                                    strlen(SW_BODY), SW_TS + 10),
                     0);
    /* Several signatures (secret rotation): any match is enough. */
    assert_int_equal(webhook_verify(SW_SECRET, SW_ID, "1614265330",
                                    "v1,AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA= " SW_SIG,
                                    SW_BODY, strlen(SW_BODY), SW_TS),
                     0);
}

static void test_webhook_rejects(void **state)
{
    (void)state;
    const char *body = SW_BODY;
    size_t n = strlen(body);
    /* Tampered body. */
    assert_int_equal(
        webhook_verify(SW_SECRET, SW_ID, "1614265330", SW_SIG, "{\"test\": 1}", 11, SW_TS),
        VP_E_UNAUTHORIZED);
    /* Wrong secret. */
    char other[WEBHOOK_SECRET_MAX];
    webhook_secret_new(other);
    assert_int_equal(strncmp(other, "whsec_", 6), 0);
    assert_int_equal(webhook_verify(other, SW_ID, "1614265330", SW_SIG, body, n, SW_TS),
                     VP_E_UNAUTHORIZED);
    /* Timestamp 301 s off either way. */
    assert_int_equal(webhook_verify(SW_SECRET, SW_ID, "1614265330", SW_SIG, body, n, SW_TS + 301),
                     VP_E_TIMEOUT);
    assert_int_equal(webhook_verify(SW_SECRET, SW_ID, "1614265330", SW_SIG, body, n, SW_TS - 301),
                     VP_E_TIMEOUT);
    /* Missing or malformed pieces. */
    assert_int_equal(webhook_verify(SW_SECRET, SW_ID, NULL, SW_SIG, body, n, SW_TS),
                     VP_E_INVALID_PARAMETER);
    assert_int_equal(webhook_verify(SW_SECRET, SW_ID, "16x", SW_SIG, body, n, SW_TS),
                     VP_E_INVALID_PARAMETER);
    assert_int_equal(webhook_verify(SW_SECRET, "", "1614265330", SW_SIG, body, n, SW_TS),
                     VP_E_INVALID_PARAMETER);
    assert_int_equal(webhook_verify(SW_SECRET, SW_ID, "1614265330", NULL, body, n, SW_TS),
                     VP_E_INVALID_PARAMETER);
    assert_int_equal(webhook_verify("nosecret", SW_ID, "1614265330", SW_SIG, body, n, SW_TS),
                     VP_E_INVALID_PARAMETER);
    assert_int_equal(webhook_verify(SW_SECRET, SW_ID, "1614265330", "v2,abc v1,", body, n, SW_TS),
                     VP_E_UNAUTHORIZED);
    /* A signature for another message id does not verify this one. */
    assert_int_equal(webhook_verify(SW_SECRET, "msg_other", "1614265330", SW_SIG, body, n, SW_TS),
                     VP_E_UNAUTHORIZED);
}

static void test_webhook_roundtrip(void **state)
{
    (void)state;
    char secret[WEBHOOK_SECRET_MAX], sig[WEBHOOK_SIG_MAX];
    for (int i = 0; i < 100; i++) {
        webhook_secret_new(secret);
        char body[64];
        int n = snprintf(body, sizeof(body), "{\"i\":%d}", i);
        assert_int_equal(webhook_sign(secret, "evt_1", 1700000000 + i, body, (size_t)n, sig), 0);
        char ts[16];
        snprintf(ts, sizeof(ts), "%d", 1700000000 + i);
        assert_int_equal(webhook_verify(secret, "evt_1", ts, sig, body, (size_t)n, 1700000000), 0);
    }
}

int main(void)
{
    crypto_init();
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_sha256_hmac),     cmocka_unit_test(test_base64),
        cmocka_unit_test(test_random_token),    cmocka_unit_test(test_webhook_vector),
        cmocka_unit_test(test_webhook_rejects), cmocka_unit_test(test_webhook_roundtrip),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
