/*
 * Webhook signatures: Standard Webhooks v1 with several secrets, v1a (Ed25519) and the
 * voepy-signature scheme, against vectors computed elsewhere (the Standard Webhooks
 * example, node's crypto for Ed25519 and HMAC keyed with the secret string).
 */
#include "vp_test.h"

#include "voepy/crypto.h"
#include "voepy/err.h"
#include "voepy/webhook_sig.h"

#include <stdio.h>
#include <string.h>

#define SW_SECRET "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw"
#define SW_ID     "msg_p5jXN8AQM9LWM0D4loKWxJek"
#define SW_TS     1614265330
#define SW_TS_S   "1614265330"
#define SW_BODY   "{\"test\": 2432232314}"
#define SW_SIG    "v1,g0hM9SsE+OTPJTGt/tmIKtSyZlE3uFJELVlNIOLJ1OE="
/* node: crypto.sign(null, "<id>.<ts>.<body>", key from seed 01..20) */
#define ED_SK                                                                                   \
    "whsk_AQIDBAUGBwgJCgsMDQ4PEBESExQVFhcYGRobHB0eHyB5tVYuj+ZU+UB4sRLoqYunkB+FOuaVvtfg45ELrQSW" \
    "ZA=="
#define ED_PK "whpk_ebVWLo/mVPlAeLES6KmLp5AfhTrmlb7X4OORC60ElmQ="
#define ED_SIG \
    "v1a,OVJuLC0iOuaBuQulpz9A/zDgvqV8z8miLUJk2j15ZMONwDNhOvPJ3rO4owAHFyjFq80+pUUjrNfTHAZs1RQnDw=="
/* node: createHmac("sha256", SW_SECRET).update("<ts>.<body>").digest("hex") */
#define VP_HEX "2e37df5d4a028c51a7f3133d64ae1e300d2c2c900f1b1d49d4369ad2530f8964"

static const size_t body_len = sizeof(SW_BODY) - 1;

static void test_vectors(void **state)
{
    (void)state;
    char v1a[WEBHOOK_SIG_V1A_MAX], vp[WEBHOOK_VOEPY_SIG_MAX];
    assert_int_equal(webhook_sign_ed25519(ED_SK, SW_ID, SW_TS, SW_BODY, body_len, v1a), 0);
    assert_string_equal(v1a, ED_SIG);
    struct webhook_keys k = {.secret = SW_SECRET};
    assert_int_equal(webhook_sign_voepy(&k, SW_TS, SW_BODY, body_len, vp), 0);
    assert_string_equal(vp, "t=" SW_TS_S ",v1=" VP_HEX);
    assert_int_equal(
        webhook_verify_ed25519(ED_PK, SW_ID, SW_TS_S, ED_SIG, SW_BODY, body_len, SW_TS), 0);
    assert_int_equal(webhook_verify_voepy(SW_SECRET, vp, SW_BODY, body_len, SW_TS + 299), 0);
}

static void test_header_all_keys(void **state)
{
    (void)state;
    char prev[WEBHOOK_SECRET_MAX], h[WEBHOOK_SIG_HEADER_MAX], want[WEBHOOK_SIG_HEADER_MAX];
    webhook_secret_new(prev);
    struct webhook_keys k = {SW_SECRET, prev, ED_SK};
    assert_int_equal(webhook_sign_header(&k, SW_ID, SW_TS, SW_BODY, body_len, h), 0);
    char psig[WEBHOOK_SIG_MAX];
    assert_int_equal(webhook_sign(prev, SW_ID, SW_TS, SW_BODY, body_len, psig), 0);
    snprintf(want, sizeof(want), "%s %s %s", SW_SIG, psig, ED_SIG);
    assert_string_equal(h, want);
    /* each secret verifies on its own, and so does the public key */
    assert_int_equal(webhook_verify(SW_SECRET, SW_ID, SW_TS_S, h, SW_BODY, body_len, SW_TS), 0);
    assert_int_equal(webhook_verify(prev, SW_ID, SW_TS_S, h, SW_BODY, body_len, SW_TS), 0);
    assert_int_equal(webhook_verify_ed25519(ED_PK, SW_ID, SW_TS_S, h, SW_BODY, body_len, SW_TS), 0);
    /* only what is given is signed */
    k.previous_secret = "";
    k.ed25519_secret_key = NULL;
    assert_int_equal(webhook_sign_header(&k, SW_ID, SW_TS, SW_BODY, body_len, h), 0);
    assert_string_equal(h, SW_SIG);
    k.ed25519_secret_key = ED_SK;
    assert_int_equal(webhook_sign_header(&k, SW_ID, SW_TS, SW_BODY, body_len, h), 0);
    assert_string_equal(h, SW_SIG " " ED_SIG);
    assert_int_equal(webhook_verify(prev, SW_ID, SW_TS_S, h, SW_BODY, body_len, SW_TS),
                     VP_E_UNAUTHORIZED);
}

static void test_voepy_rotation(void **state)
{
    (void)state;
    char prev[WEBHOOK_SECRET_MAX], other[WEBHOOK_SECRET_MAX], vp[WEBHOOK_VOEPY_SIG_MAX];
    webhook_secret_new(prev);
    webhook_secret_new(other);
    struct webhook_keys k = {.secret = SW_SECRET, .previous_secret = prev};
    assert_int_equal(webhook_sign_voepy(&k, SW_TS, SW_BODY, body_len, vp), 0);
    assert_int_equal(strncmp(vp, "t=" SW_TS_S ",v1=" VP_HEX ",v1=", 2 + 10 + 4 + 64 + 4), 0);
    assert_int_equal(strlen(vp), 2 + 10 + 2 * (4 + 64));
    assert_int_equal(webhook_verify_voepy(SW_SECRET, vp, SW_BODY, body_len, SW_TS), 0);
    assert_int_equal(webhook_verify_voepy(prev, vp, SW_BODY, body_len, SW_TS), 0);
    assert_int_equal(webhook_verify_voepy(other, vp, SW_BODY, body_len, SW_TS), VP_E_UNAUTHORIZED);
    /* the order of the parts and unknown parts do not matter */
    char swapped[WEBHOOK_VOEPY_SIG_MAX + 16];
    snprintf(swapped, sizeof(swapped), "v1=%s,x=1,t=%s", VP_HEX, SW_TS_S);
    assert_int_equal(webhook_verify_voepy(SW_SECRET, swapped, SW_BODY, body_len, SW_TS), 0);
}

static void test_rejects(void **state)
{
    (void)state;
    char vp[WEBHOOK_VOEPY_SIG_MAX];
    struct webhook_keys k = {.secret = SW_SECRET};
    assert_int_equal(webhook_sign_voepy(&k, SW_TS, SW_BODY, body_len, vp), 0);
    const char tampered[] = "{\"test\": 2432232315}";
    /* tampered body */
    assert_int_equal(webhook_verify_voepy(SW_SECRET, vp, tampered, body_len, SW_TS),
                     VP_E_UNAUTHORIZED);
    assert_int_equal(
        webhook_verify_ed25519(ED_PK, SW_ID, SW_TS_S, ED_SIG, tampered, body_len, SW_TS),
        VP_E_UNAUTHORIZED);
    /* the timestamp is part of what is signed */
    assert_int_equal(
        webhook_verify_ed25519(ED_PK, SW_ID, "1614265331", ED_SIG, SW_BODY, body_len, SW_TS),
        VP_E_UNAUTHORIZED);
    /* 301 s off either way */
    for (int d = -301; d <= 301; d += 602) {
        assert_int_equal(webhook_verify_voepy(SW_SECRET, vp, SW_BODY, body_len, SW_TS + d),
                         VP_E_TIMEOUT);
        assert_int_equal(
            webhook_verify_ed25519(ED_PK, SW_ID, SW_TS_S, ED_SIG, SW_BODY, body_len, SW_TS + d),
            VP_E_TIMEOUT);
    }
    assert_int_equal(webhook_verify_voepy(SW_SECRET, vp, SW_BODY, body_len, SW_TS - 300), 0);
    /* another key pair */
    char sk[WEBHOOK_ED25519_SK_MAX], pk[WEBHOOK_ED25519_PK_MAX];
    webhook_ed25519_keypair_new(sk, pk);
    assert_int_equal(webhook_verify_ed25519(pk, SW_ID, SW_TS_S, ED_SIG, SW_BODY, body_len, SW_TS),
                     VP_E_UNAUTHORIZED);
    /* a v1 HMAC is no v1a signature and the other way round */
    assert_int_equal(
        webhook_verify_ed25519(ED_PK, SW_ID, SW_TS_S, SW_SIG, SW_BODY, body_len, SW_TS),
        VP_E_UNAUTHORIZED);
    assert_int_equal(webhook_verify(SW_SECRET, SW_ID, SW_TS_S, ED_SIG, SW_BODY, body_len, SW_TS),
                     VP_E_UNAUTHORIZED);
}

static void test_malformed(void **state)
{
    (void)state;
    char out[WEBHOOK_SIG_HEADER_MAX], v1a[WEBHOOK_SIG_V1A_MAX], vp[WEBHOOK_VOEPY_SIG_MAX];
    const char *bad_sk[] = {
        "whsk_",     "whsk_AAAA", "whpk_ebVWLo/mVPlAeLES6KmLp5AfhTrmlb7X4OORC60ElmQ=",
        "whsk_!!!!", ED_PK,       NULL};
    for (size_t i = 0; i < sizeof(bad_sk) / sizeof(bad_sk[0]); i++) {
        assert_int_equal(webhook_sign_ed25519(bad_sk[i], SW_ID, 1, "{}", 2, v1a),
                         VP_E_INVALID_PARAMETER);
        struct webhook_keys k = {SW_SECRET, NULL, bad_sk[i]};
        if (bad_sk[i]) {
            assert_int_equal(webhook_sign_header(&k, SW_ID, 1, "{}", 2, out),
                             VP_E_INVALID_PARAMETER);
            assert_string_equal(out, "");
        }
    }
    struct webhook_keys badprev = {SW_SECRET, "whsec_short", NULL};
    assert_int_equal(webhook_sign_header(&badprev, SW_ID, 1, "{}", 2, out), VP_E_INVALID_PARAMETER);
    assert_int_equal(webhook_sign_voepy(&badprev, 1, "{}", 2, vp), VP_E_INVALID_PARAMETER);
    struct webhook_keys nokey = {NULL, NULL, NULL};
    assert_int_equal(webhook_sign_voepy(&nokey, 1, "{}", 2, vp), VP_E_INVALID_PARAMETER);
    assert_int_equal(
        webhook_verify_ed25519("whpk_AAAA", SW_ID, SW_TS_S, ED_SIG, SW_BODY, body_len, SW_TS),
        VP_E_INVALID_PARAMETER);
    assert_int_equal(webhook_verify_ed25519(ED_PK, SW_ID, "", ED_SIG, SW_BODY, body_len, SW_TS),
                     VP_E_INVALID_PARAMETER);
    assert_int_equal(webhook_verify_ed25519(ED_PK, NULL, SW_TS_S, ED_SIG, SW_BODY, body_len, SW_TS),
                     VP_E_INVALID_PARAMETER);
    const char *bad_vp[] = {"", "v1=" VP_HEX, "t=,v1=" VP_HEX, "t=12a,v1=" VP_HEX, NULL};
    for (size_t i = 0; i < sizeof(bad_vp) / sizeof(bad_vp[0]); i++)
        assert_int_equal(webhook_verify_voepy(SW_SECRET, bad_vp[i], SW_BODY, body_len, SW_TS),
                         VP_E_INVALID_PARAMETER);
    /* well-formed but useless v1 values: wrong length, not hex */
    assert_int_equal(webhook_verify_voepy(SW_SECRET, "t=" SW_TS_S ",v1=abc,v1=" VP_HEX "00",
                                          SW_BODY, body_len, SW_TS),
                     VP_E_UNAUTHORIZED);
    char nothex[] = "t=" SW_TS_S ",v1=" VP_HEX;
    nothex[sizeof(nothex) - 2] = 'g';
    assert_int_equal(webhook_verify_voepy(SW_SECRET, nothex, SW_BODY, body_len, SW_TS),
                     VP_E_UNAUTHORIZED);
}

/* Random keys and bodies (binary, empty, large) round-trip through every scheme. */
static void test_roundtrip(void **state)
{
    (void)state;
    static char body[70000];
    char sec[WEBHOOK_SECRET_MAX], prev[WEBHOOK_SECRET_MAX], sk[WEBHOOK_ED25519_SK_MAX],
        pk[WEBHOOK_ED25519_PK_MAX], h[WEBHOOK_SIG_HEADER_MAX], vp[WEBHOOK_VOEPY_SIG_MAX];
    for (int i = 0; i < 40; i++) {
        size_t n = i == 0 ? 0 : (size_t)(i * 1733) % sizeof(body);
        crypto_random(body, n);
        webhook_secret_new(sec);
        webhook_secret_new(prev);
        webhook_ed25519_keypair_new(sk, pk);
        struct webhook_keys k = {sec, prev, sk};
        int64_t ts = 1700000000 + i;
        char tss[24];
        snprintf(tss, sizeof(tss), "%lld", (long long)ts);
        assert_int_equal(webhook_sign_header(&k, "voepy_evt_x", ts, body, n, h), 0);
        assert_int_equal(webhook_sign_voepy(&k, ts, body, n, vp), 0);
        assert_int_equal(webhook_verify(sec, "voepy_evt_x", tss, h, body, n, ts), 0);
        assert_int_equal(webhook_verify(prev, "voepy_evt_x", tss, h, body, n, ts), 0);
        assert_int_equal(webhook_verify_ed25519(pk, "voepy_evt_x", tss, h, body, n, ts), 0);
        assert_int_equal(webhook_verify_voepy(sec, vp, body, n, ts), 0);
        assert_int_equal(webhook_verify_voepy(prev, vp, body, n, ts), 0);
        if (n) {
            body[n / 2] ^= 1;
            assert_int_equal(webhook_verify(sec, "voepy_evt_x", tss, h, body, n, ts),
                             VP_E_UNAUTHORIZED);
            assert_int_equal(webhook_verify_ed25519(pk, "voepy_evt_x", tss, h, body, n, ts),
                             VP_E_UNAUTHORIZED);
            assert_int_equal(webhook_verify_voepy(prev, vp, body, n, ts), VP_E_UNAUTHORIZED);
        }
    }
}

static int setup(void **state)
{
    (void)state;
    return crypto_init();
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_vectors),        cmocka_unit_test(test_header_all_keys),
        cmocka_unit_test(test_voepy_rotation), cmocka_unit_test(test_rejects),
        cmocka_unit_test(test_malformed),      cmocka_unit_test(test_roundtrip),
    };
    return cmocka_run_group_tests(tests, setup, NULL);
}
