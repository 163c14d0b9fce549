/*
 * Digest answers (sip_auth.c): the published examples of RFC 2617 3.5 (MD5, qop=auth)
 * and RFC 7616 3.9.1 (SHA-256 and MD5), the choice among several challenges of a real
 * 401/407, and the challenges we must not answer.
 */
#include "vp_test.h"

#include <string.h>

#include "sip_auth.h"
#include "sip_msg.h"
#include "voepy/crypto.h"
#include "voepy/err.h"

/* The value of name="..." in h, or "" */
static void param(const char *h, const char *name, char *out, size_t n)
{
    char key[32];
    snprintf(key, sizeof(key), " %s=", name);
    const char *p = strstr(h, key);
    out[0] = '\0';
    if (!p)
        return;
    p += strlen(key);
    bool q = *p == '"';
    p += q;
    size_t len = strcspn(p, q ? "\"" : ",");
    snprintf(out, n, "%.*s", (int)(len < n ? len : n - 1), p);
}

static void test_rfc2617_md5_qop(void **state)
{
    (void)state;
    struct sip_auth_challenge ch = {.alg = SIP_AUTH_MD5, .qop_auth = true};
    strcpy(ch.realm, "testrealm@host.com");
    strcpy(ch.nonce, "dcd98b7102dd2f0e8b11d0f600bfb0c093");
    strcpy(ch.opaque, "5ccc069c403ebaf9f0171e9517f40e41");
    struct sip_auth_creds cr = {.username = "Mufasa", .password = "Circle Of Life"};
    char *h = sip_auth_header(&ch, &cr, "GET", "/dir/index.html", 1, "0a4f113b");
    assert_non_null(h);
    char v[128];
    param(h, "response", v, sizeof(v));
    assert_string_equal(v, "6629fae49393a05397450978507c4ef1");
    param(h, "nc", v, sizeof(v));
    assert_string_equal(v, "00000001");
    param(h, "opaque", v, sizeof(v));
    assert_string_equal(v, "5ccc069c403ebaf9f0171e9517f40e41");
    assert_non_null(strstr(h, "qop=auth"));
    assert_true(strncmp(h, "Digest username=\"Mufasa\"", 24) == 0);
    free(h);
}

static void test_rfc7616_sha256_and_md5(void **state)
{
    (void)state;
    struct sip_auth_challenge ch = {.alg = SIP_AUTH_SHA256, .qop_auth = true};
    strcpy(ch.realm, "http-auth@example.org");
    strcpy(ch.nonce, "7ypf/xlj9XXwfDPEoM4URrv/xwf94BcCAzFZH4GiTo0v");
    struct sip_auth_creds cr = {.username = "Mufasa", .password = "Circle of Life"};
    const char *cn = "f2/wE4q74E6zIJEtWaHKaf5wv/H5QzzpXusqGemxURZJ";
    char *h = sip_auth_header(&ch, &cr, "GET", "/dir/index.html", 1, cn);
    char v[128];
    param(h, "response", v, sizeof(v));
    assert_string_equal(v, "753927fa0e85d155564e2e272a28d1802ca10daf4496794697cf8db5856cb6c1");
    assert_non_null(strstr(h, "algorithm=SHA-256"));
    free(h);
    ch.alg = SIP_AUTH_MD5;
    h = sip_auth_header(&ch, &cr, "GET", "/dir/index.html", 1, cn);
    param(h, "response", v, sizeof(v));
    assert_string_equal(v, "8ca523f5e9506fed4657c9700eebdbec");
    free(h);
}

/* Without qop: response = H(HA1:nonce:HA2), no cnonce/nc in the header. */
static void test_md5_without_qop(void **state)
{
    (void)state;
    struct sip_auth_challenge ch = {.alg = SIP_AUTH_MD5};
    strcpy(ch.realm, "voepy");
    strcpy(ch.nonce, "abc");
    struct sip_auth_creds cr = {.username = "u", .password = "p"};
    char *h = sip_auth_header(&ch, &cr, "INVITE", "sip:+1555@127.0.0.1", 1, NULL);
    char ha1[SIP_AUTH_HEX_MAX], ha2[SIP_AUTH_HEX_MAX], want[SIP_AUTH_HEX_MAX], kd[128], v[80];
    sip_auth_hash_hex(SIP_AUTH_MD5, "u:voepy:p", 9, ha1);
    sip_auth_hash_hex(SIP_AUTH_MD5, "INVITE:sip:+1555@127.0.0.1", 26, ha2);
    int n = snprintf(kd, sizeof(kd), "%s:abc:%s", ha1, ha2);
    sip_auth_hash_hex(SIP_AUTH_MD5, kd, (size_t)n, want);
    param(h, "response", v, sizeof(v));
    assert_string_equal(v, want);
    assert_null(strstr(h, "cnonce"));
    assert_null(strstr(h, "qop"));
    free(h);
    /* quotes or line breaks in what goes between quotes: no header at all */
    cr.username = "u\"x";
    assert_null(sip_auth_header(&ch, &cr, "INVITE", "sip:a@b", 1, NULL));
}

static osip_message_t *challenge(const char *status_line, const char *headers)
{
    char text[2048];
    int n = snprintf(text, sizeof(text),
                     "SIP/2.0 %s\r\nVia: SIP/2.0/UDP 127.0.0.1:5060;branch=z9hG4bKx\r\n"
                     "From: <sip:a@127.0.0.1>;tag=1\r\nTo: <sip:b@127.0.0.1>;tag=2\r\n"
                     "Call-ID: c1\r\nCSeq: 1 INVITE\r\n%sContent-Length: 0\r\n\r\n",
                     status_line, headers);
    osip_message_t *m = NULL;
    assert_int_equal(sip_msg_parse(text, (size_t)n, &m), 0);
    return m;
}

static void test_pick_strongest(void **state)
{
    (void)state;
    struct sip_auth_creds cr = {.username = "u", .password = "p"};
    struct sip_auth_challenge ch;
    osip_message_t *m =
        challenge("401 Unauthorized", "WWW-Authenticate: Digest realm=\"r\", nonce=\"n1\", "
                                      "algorithm=MD5, qop=\"auth\"\r\n"
                                      "WWW-Authenticate: Digest realm=\"r\", nonce=\"n2\", "
                                      "algorithm=SHA-256, qop=\"auth,auth-int\", opaque=\"o\"\r\n");
    assert_int_equal(sip_auth_pick(m, &cr, &ch), 0);
    assert_int_equal(ch.alg, SIP_AUTH_SHA256);
    assert_string_equal(ch.nonce, "n2");
    assert_string_equal(ch.opaque, "o");
    assert_true(ch.qop_auth);
    assert_false(ch.proxy);
    assert_false(ch.stale);
    /* a realm we hold no credentials for */
    cr.realm = "other";
    assert_int_equal(sip_auth_pick(m, &cr, &ch), VP_E_NOT_FOUND);
    osip_message_free(m);
    cr.realm = NULL;
    m = challenge("407 Proxy Authentication Required",
                  "Proxy-Authenticate: Digest realm=\"px\", nonce=\"n3\", stale=TRUE\r\n");
    assert_int_equal(sip_auth_pick(m, &cr, &ch), 0);
    assert_true(ch.proxy);
    assert_true(ch.stale);
    assert_false(ch.qop_auth);
    assert_int_equal(ch.alg, SIP_AUTH_MD5);
    osip_message_free(m);
}

static void test_unanswerable(void **state)
{
    (void)state;
    struct sip_auth_creds cr = {.username = "u", .password = "p"};
    struct sip_auth_challenge ch;
    const char *bad[] = {
        "WWW-Authenticate: Basic realm=\"r\"\r\n",
        "WWW-Authenticate: Digest realm=\"r\", nonce=\"n\", algorithm=SHA-512-256\r\n",
        "WWW-Authenticate: Digest realm=\"r\", nonce=\"n\", algorithm=MD5-sess, qop=auth\r\n",
        "WWW-Authenticate: Digest realm=\"r\", nonce=\"n\", qop=\"auth-int\"\r\n",
        "WWW-Authenticate: Digest realm=\"r\"\r\n",
        "",
    };
    for (size_t i = 0; i < sizeof(bad) / sizeof(*bad); i++) {
        osip_message_t *m = challenge("401 Unauthorized", bad[i]);
        assert_int_equal(sip_auth_pick(m, &cr, &ch), VP_E_NOT_FOUND);
        osip_message_free(m);
    }
}

int main(void)
{
    crypto_init();
    parser_init();
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_rfc2617_md5_qop), cmocka_unit_test(test_rfc7616_sha256_and_md5),
        cmocka_unit_test(test_md5_without_qop), cmocka_unit_test(test_pick_strongest),
        cmocka_unit_test(test_unanswerable),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
