/*
 * SIP extension headers (sip_ext.c): Require/Supported option tags, Session-Expires and
 * Min-SE (RFC 4028) and the UAC's timer decision, RSeq (RFC 3262), Allow, and
 * application/dtmf-relay bodies. Malformed values included.
 */
#include "vp_test.h"

#include <string.h>

#include "sip_ext.h"
#include "sip_msg.h"
#include "voepy/err.h"

#define HEAD                                                \
    "SIP/2.0 200 OK\r\n"                                    \
    "Via: SIP/2.0/UDP 192.0.2.1:5060;branch=z9hG4bKabc\r\n" \
    "From: <sip:a@192.0.2.1>;tag=1\r\n"                     \
    "To: <sip:b@192.0.2.2>;tag=2\r\n"                       \
    "Call-ID: xyz@192.0.2.1\r\n"                            \
    "CSeq: 1 INVITE\r\n"

static osip_message_t *msg(const char *extra)
{
    char text[2048];
    snprintf(text, sizeof(text), HEAD "%sContent-Length: 0\r\n\r\n", extra);
    osip_message_t *m = NULL;
    assert_int_equal(sip_msg_parse(text, strlen(text), &m), 0);
    return m;
}

static void test_require_unsupported(void **state)
{
    char tag[32];
    (void)state;
    osip_message_t *m = msg("Require: timer\r\n");
    assert_false(sip_ext_unsupported(m, SIP_EXT_UAS_SUPPORTED, tag, sizeof(tag)));
    osip_message_free(m);
    m = msg("Require: timer, 100rel\r\n");
    assert_true(sip_ext_unsupported(m, SIP_EXT_UAS_SUPPORTED, tag, sizeof(tag)));
    assert_string_equal(tag, "100rel");
    osip_message_free(m);
    m = msg("Require: TIMER\r\nRequire: precondition\r\n");
    assert_true(sip_ext_unsupported(m, SIP_EXT_UAS_SUPPORTED, tag, sizeof(tag)));
    assert_string_equal(tag, "precondition");
    osip_message_free(m);
    m = msg("");
    assert_false(sip_ext_unsupported(m, SIP_EXT_UAS_SUPPORTED, tag, sizeof(tag)));
    osip_message_free(m);
}

static void test_has_and_allows(void **state)
{
    (void)state;
    osip_message_t *m = msg("Supported: replaces,timer\r\nRequire: 100rel\r\n"
                            "Allow: INVITE, ACK, UPDATE\r\n");
    assert_true(sip_ext_has(m, "supported", "timer"));
    assert_false(sip_ext_has(m, "supported", "time"));
    assert_true(sip_ext_has(m, "require", "100rel"));
    assert_true(sip_ext_allows(m, "UPDATE"));
    assert_false(sip_ext_allows(m, "REFER"));
    osip_message_free(m);
    m = msg("k: timer\r\n"); /* compact Supported */
    assert_true(sip_ext_has(m, "supported", "timer"));
    osip_message_free(m);
}

static void test_session_expires(void **state)
{
    struct sip_session_expires se;
    bool we;
    (void)state;
    osip_message_t *m = msg("Session-Expires: 1800;refresher=uas\r\nMin-SE: 90\r\n");
    assert_int_equal(sip_ext_session_expires(m, &se), 0);
    assert_int_equal(se.secs, 1800);
    assert_int_equal(se.refresher, SIP_REFRESHER_UAS);
    assert_int_equal(sip_ext_min_se(m), 90);
    assert_int_equal(sip_ext_uac_timer(m, &we), 1800);
    assert_false(we); /* the far end refreshes */
    osip_message_free(m);
    m = msg("x: 4\r\n"); /* compact form, no refresher: the UAC refreshes */
    assert_int_equal(sip_ext_uac_timer(m, &we), 4);
    assert_true(we);
    osip_message_free(m);
    m = msg("Session-Expires: 600 ; refresher=uac\r\n");
    assert_int_equal(sip_ext_session_expires(m, &se), 0);
    assert_int_equal(se.refresher, SIP_REFRESHER_UAC);
    osip_message_free(m);
    m = msg("");
    assert_int_equal(sip_ext_session_expires(m, &se), 0);
    assert_int_equal(se.secs, 0);
    assert_int_equal(sip_ext_uac_timer(m, &we), 0);
    assert_int_equal(sip_ext_min_se(m), 0);
    osip_message_free(m);
    const char *bad[] = {"Session-Expires: soon\r\n", "Session-Expires: 0\r\n",
                         "Session-Expires: 90x\r\n", "Session-Expires: 90;refresher=me\r\n",
                         "Session-Expires: 99999999999\r\n"};
    for (size_t i = 0; i < sizeof(bad) / sizeof(*bad); i++) {
        m = msg(bad[i]);
        assert_int_equal(sip_ext_session_expires(m, &se), VP_E_PARSE);
        assert_int_equal(sip_ext_uac_timer(m, &we), 0);
        osip_message_free(m);
    }
    m = msg("Min-SE: -5\r\n");
    assert_int_equal(sip_ext_min_se(m), 0);
    osip_message_free(m);
}

static void test_timer_arithmetic(void **state)
{
    (void)state;
    assert_int_equal(sip_ext_refresh_ms(1800), 900000);
    assert_int_equal(sip_ext_expiry_ms(1800), (1800 - 32) * 1000); /* min(32, 600) */
    assert_int_equal(sip_ext_expiry_ms(90), 60000);                /* min(32, 30) */
    assert_int_equal(sip_ext_expiry_ms(4), 3000);
    assert_int_equal(sip_ext_refresh_ms(4), 2000);
}

static void test_rseq(void **state)
{
    (void)state;
    osip_message_t *m = msg("RSeq: 42\r\n");
    assert_int_equal(sip_ext_rseq(m), 42);
    osip_message_free(m);
    m = msg("RSeq: none\r\n");
    assert_int_equal(sip_ext_rseq(m), 0);
    osip_message_free(m);
    m = msg("RSeq: 0\r\n");
    assert_int_equal(sip_ext_rseq(m), 0);
    osip_message_free(m);
}

static void test_dtmf_relay(void **state)
{
    int ms;
    (void)state;
    const char body[] = "Signal=5\r\nDuration=250\r\n";
    assert_int_equal(sip_ext_dtmf_relay(body, strlen(body), &ms), '5');
    assert_int_equal(ms, 250);
    assert_int_equal(sip_ext_dtmf_relay("Signal= #\r\n", 11, &ms), '#');
    assert_int_equal(ms, 0);
    assert_int_equal(sip_ext_dtmf_relay("signal=10\nduration=100", 22, &ms), '*');
    assert_int_equal(ms, 100);
    assert_int_equal(sip_ext_dtmf_relay("Signal=11", 9, &ms), '#');
    assert_int_equal(sip_ext_dtmf_relay("Signal=d", 8, &ms), 'D');
    /* not NUL-terminated: only len bytes are read */
    assert_int_equal(sip_ext_dtmf_relay("Signal=7XXXX", 8, &ms), '7');
    assert_int_equal(sip_ext_dtmf_relay("Signal=E", 8, &ms), 0);
    assert_int_equal(sip_ext_dtmf_relay("Signal=55", 9, &ms), 0);
    assert_int_equal(sip_ext_dtmf_relay("Signal=", 7, &ms), 0);
    assert_int_equal(sip_ext_dtmf_relay("Duration=250", 12, &ms), 0);
    assert_int_equal(sip_ext_dtmf_relay("", 0, &ms), 0);
    assert_int_equal(sip_ext_dtmf_relay(NULL, 0, &ms), 0);
    assert_int_equal(sip_ext_dtmf_relay("Signal=1\r\nDuration=xyz", 22, &ms), '1');
    assert_int_equal(ms, 0);
}

int main(void)
{
    parser_init();
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_require_unsupported),
        cmocka_unit_test(test_has_and_allows),
        cmocka_unit_test(test_session_expires),
        cmocka_unit_test(test_timer_arithmetic),
        cmocka_unit_test(test_rseq),
        cmocka_unit_test(test_dtmf_relay),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
