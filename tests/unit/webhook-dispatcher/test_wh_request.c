/* Delivery headers (signature verified as a receiver would) and response text cleaning. */
#include "vp_test.h"

#include "wh_request.h"
#include "voepy/crypto.h"
#include "voepy/err.h"
#include "voepy/webhook_sig.h"

#include <string.h>

static const char secret[] = "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw";
static const struct webhook_keys keys = {.secret = secret};

static const char *header_value(const struct wh_headers *h, const char *name)
{
    size_t n = strlen(name);
    for (int i = 0; h->list[i]; i++)
        if (strncmp(h->list[i], name, n) == 0 && h->list[i][n] == ':')
            return h->list[i] + n + 2;
    return NULL;
}

static void test_headers_verify(void **state)
{
    (void)state;
    const char body[] = "{\"id\" : \"voepy_evt_1\", \"type\" : \"call.ended\"}";
    struct wh_headers h;
    assert_int_equal(wh_headers_build(&h, "voepy_evt_1", &keys, body, strlen(body), 1700000000), 0);
    assert_string_equal(header_value(&h, "content-type"), "application/json");
    assert_string_equal(header_value(&h, "webhook-id"), "voepy_evt_1");
    assert_string_equal(header_value(&h, "webhook-timestamp"), "1700000000");
    const char *sig = header_value(&h, "webhook-signature");
    assert_non_null(sig);
    assert_memory_equal(sig, "v1,", 3);
    const char *vs = header_value(&h, "voepy-signature");
    assert_non_null(vs);
    assert_int_equal(webhook_verify_voepy(secret, vs, body, strlen(body), 1700000010), 0);
    assert_int_equal(strncmp(vs, "t=1700000000,v1=", 16), 0);
    assert_null(h.list[5]);
    assert_int_equal(
        webhook_verify(secret, "voepy_evt_1", "1700000000", sig, body, strlen(body), 1700000010),
        0);
    /* the signature covers id, timestamp and every byte of the body */
    assert_int_equal(
        webhook_verify(secret, "voepy_evt_2", "1700000000", sig, body, strlen(body), 1700000010),
        VP_E_UNAUTHORIZED);
    assert_int_equal(
        webhook_verify(secret, "voepy_evt_1", "1700000001", sig, body, strlen(body), 1700000010),
        VP_E_UNAUTHORIZED);
    assert_int_equal(webhook_verify(secret, "voepy_evt_1", "1700000000", sig, body,
                                    strlen(body) - 1, 1700000010),
                     VP_E_UNAUTHORIZED);
}

/* The HMAC computed here by hand, as a receiver in another language would. */
static void test_signature_by_hand(void **state)
{
    (void)state;
    const char body[] = "{}";
    struct wh_headers h;
    assert_int_equal(wh_headers_build(&h, "evt_x", &keys, body, 2, 42), 0);
    uint8_t key[64];
    int keylen = crypto_base64_decode(secret + 6, strlen(secret + 6), key, sizeof(key));
    assert_true(keylen > 0);
    uint8_t mac[CRYPTO_HMAC_SHA256_LEN];
    crypto_hmac_sha256(key, (size_t)keylen, "evt_x.42.{}", 11, mac);
    char b64[64], want[80];
    assert_true(crypto_base64_encode(mac, sizeof(mac), b64, sizeof(b64)) > 0);
    snprintf(want, sizeof(want), "v1,%s", b64);
    assert_string_equal(header_value(&h, "webhook-signature"), want);
}

/* A rotation overlap and an Ed25519 key: every key signs, each verifies on its own. */
static void test_headers_all_keys(void **state)
{
    (void)state;
    char prev[WEBHOOK_SECRET_MAX], sk[WEBHOOK_ED25519_SK_MAX], pk[WEBHOOK_ED25519_PK_MAX];
    webhook_secret_new(prev);
    webhook_ed25519_keypair_new(sk, pk);
    const struct webhook_keys k = {secret, prev, sk};
    const char body[] = "{\"data\":\"\xe2\x82\xac\"}";
    struct wh_headers h;
    assert_int_equal(wh_headers_build(&h, "evt_r", &k, body, strlen(body), 1700000000), 0);
    const char *sig = header_value(&h, "webhook-signature");
    assert_int_equal(strncmp(sig, "v1,", 3), 0);
    assert_non_null(strstr(sig, " v1,"));
    assert_non_null(strstr(sig, " v1a,"));
    const char *vs = header_value(&h, "voepy-signature");
    for (int i = 0; i < 2; i++) {
        const char *s = i ? prev : secret;
        assert_int_equal(
            webhook_verify(s, "evt_r", "1700000000", sig, body, strlen(body), 1700000000), 0);
        assert_int_equal(webhook_verify_voepy(s, vs, body, strlen(body), 1700000000), 0);
    }
    assert_int_equal(
        webhook_verify_ed25519(pk, "evt_r", "1700000000", sig, body, strlen(body), 1700000000), 0);
    /* a malformed previous secret or key is refused, not silently left out */
    const struct webhook_keys bad1 = {secret, "whsec_x", NULL}, bad2 = {secret, NULL, "whsk_x"};
    assert_int_equal(wh_headers_build(&h, "evt_r", &bad1, body, 2, 1), VP_E_INVALID_PARAMETER);
    assert_int_equal(wh_headers_build(&h, "evt_r", &bad2, body, 2, 1), VP_E_INVALID_PARAMETER);
}

static void test_headers_bad(void **state)
{
    (void)state;
    struct wh_headers h;
    assert_int_equal(
        wh_headers_build(&h, "evt", &(struct webhook_keys){.secret = "nope"}, "{}", 2, 1),
        VP_E_INVALID_PARAMETER);
    assert_int_equal(
        wh_headers_build(&h, "evt", &(struct webhook_keys){.secret = "whsec_"}, "{}", 2, 1),
        VP_E_INVALID_PARAMETER);
    assert_int_equal(wh_headers_build(&h, "", &keys, "{}", 2, 1), VP_E_INVALID_PARAMETER);
    assert_int_equal(wh_headers_build(&h, NULL, &keys, "{}", 2, 1), VP_E_INVALID_PARAMETER);
    assert_int_equal(wh_headers_build(&h, "evt\r\nx: y", &keys, "{}", 2, 1),
                     VP_E_INVALID_PARAMETER);
    assert_int_equal(wh_headers_build(&h, "evt 1", &keys, "{}", 2, 1), VP_E_INVALID_PARAMETER);
    char long_id[WH_EVENT_ID_MAX + 2];
    memset(long_id, 'a', sizeof(long_id) - 1);
    long_id[sizeof(long_id) - 1] = '\0';
    assert_int_equal(wh_headers_build(&h, long_id, &keys, "{}", 2, 1), VP_E_INVALID_PARAMETER);
    long_id[WH_EVENT_ID_MAX] = '\0';
    assert_int_equal(wh_headers_build(&h, long_id, &keys, "{}", 2, 1), 0);
}

static void test_sanitize(void **state)
{
    (void)state;
    char out[WH_RESPONSE_KEEP + 1];
    assert_int_equal(wh_text_sanitize("ok", 2, out, WH_RESPONSE_KEEP), 2);
    assert_string_equal(out, "ok");
    /* NUL, stray continuation, overlong, surrogate, and a cut-short character */
    const char in[] = "a\0b\x80"
                      "c\xc0\xaf"
                      "d\xed\xa0\x80"
                      "e\xe2\x82";
    size_t n = wh_text_sanitize(in, sizeof(in) - 1, out, WH_RESPONSE_KEEP);
    assert_string_equal(out, "a?b?c??d???e??");
    assert_int_equal(n, strlen(out));
    /* valid multi-byte text is kept as is */
    const char utf8[] = "h\xc3\xa9llo \xe2\x82\xac \xf0\x9f\x98\x80";
    assert_int_equal(wh_text_sanitize(utf8, sizeof(utf8) - 1, out, WH_RESPONSE_KEEP),
                     sizeof(utf8) - 1);
    assert_string_equal(out, utf8);
    /* the limit never cuts a character in two */
    assert_int_equal(wh_text_sanitize("\xe2\x82\xac\xe2\x82\xac", 6, out, 4), 3);
    assert_string_equal(out, "\xe2\x82\xac");
    char big[3000];
    memset(big, 'x', sizeof(big));
    assert_int_equal(wh_text_sanitize(big, sizeof(big), out, WH_RESPONSE_KEEP), WH_RESPONSE_KEEP);
    assert_int_equal(strlen(out), WH_RESPONSE_KEEP);
    assert_int_equal(wh_text_sanitize("", 0, out, WH_RESPONSE_KEEP), 0);
    assert_string_equal(out, "");
}

static int setup(void **state)
{
    (void)state;
    return crypto_init();
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_headers_verify),   cmocka_unit_test(test_signature_by_hand),
        cmocka_unit_test(test_headers_all_keys), cmocka_unit_test(test_headers_bad),
        cmocka_unit_test(test_sanitize),
    };
    return cmocka_run_group_tests(tests, setup, NULL);
}
