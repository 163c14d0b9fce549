/* TCP framing: whole messages out of a byte stream, hostile lengths refused. */
#include "vp_test.h"

#include <string.h>

#include "sip_frame.h"
#include "voepy/err.h"

static const char msg1[] = "BYE sip:a@h SIP/2.0\r\nVia: SIP/2.0/TCP h\r\nContent-Length: 4\r\n"
                           "\r\nbody";
static const char msg2[] = "SIP/2.0 200 OK\r\nl: 0\r\n\r\n";

static void test_one_message_in_pieces(void **state)
{
    (void)state;
    size_t skip, len;
    for (size_t n = 0; n < sizeof(msg1) - 1; n++) {
        assert_int_equal(sip_frame_next(msg1, n, &skip, &len), 0);
        assert_int_equal(len, 0);
    }
    assert_int_equal(sip_frame_next(msg1, sizeof(msg1) - 1, &skip, &len), 0);
    assert_int_equal(skip, 0);
    assert_int_equal(len, sizeof(msg1) - 1);
}

static void test_keepalives_and_two_messages(void **state)
{
    (void)state;
    char stream[512];
    snprintf(stream, sizeof(stream), "\r\n\r\n%s%s", msg2, msg1);
    size_t skip, len;
    assert_int_equal(sip_frame_next(stream, strlen(stream), &skip, &len), 0);
    assert_int_equal(skip, 4);
    assert_int_equal(len, sizeof(msg2) - 1); /* compact "l:" form */
    const char *rest = stream + skip + len;
    assert_int_equal(sip_frame_next(rest, strlen(rest), &skip, &len), 0);
    assert_int_equal(skip, 0);
    assert_int_equal(len, sizeof(msg1) - 1);
}

static void test_bad_lengths(void **state)
{
    (void)state;
    size_t skip, len;
    const char *none = "BYE sip:a@h SIP/2.0\r\nVia: x\r\n\r\n";
    assert_int_equal(sip_frame_next(none, strlen(none), &skip, &len), VP_E_PARSE);
    const char *neg = "BYE sip:a@h SIP/2.0\r\nContent-Length: -1\r\n\r\n";
    assert_int_equal(sip_frame_next(neg, strlen(neg), &skip, &len), VP_E_PARSE);
    const char *junk = "BYE sip:a@h SIP/2.0\r\nContent-Length: 12ab\r\n\r\n";
    assert_int_equal(sip_frame_next(junk, strlen(junk), &skip, &len), VP_E_PARSE);
    const char *twice = "BYE sip:a@h SIP/2.0\r\nContent-Length: 1\r\nl: 2\r\n\r\nxy";
    assert_int_equal(sip_frame_next(twice, strlen(twice), &skip, &len), VP_E_PARSE);
    const char *same = "BYE sip:a@h SIP/2.0\r\nContent-Length: 2\r\nl: 2\r\n\r\nxy";
    assert_int_equal(sip_frame_next(same, strlen(same), &skip, &len), 0);
    assert_int_equal(len, strlen(same));
    const char *huge = "BYE sip:a@h SIP/2.0\r\nContent-Length: 99999999999\r\n\r\n";
    assert_int_equal(sip_frame_next(huge, strlen(huge), &skip, &len), VP_E_OVERFLOW);
    const char *big = "BYE sip:a@h SIP/2.0\r\nContent-Length: 60000\r\n\r\n";
    assert_int_equal(sip_frame_next(big, strlen(big), &skip, &len), VP_E_OVERFLOW);
}

static void test_endless_headers(void **state)
{
    (void)state;
    size_t n = SIP_FRAME_MAX_HEADERS + 10, skip, len;
    char *data = malloc(n);
    memset(data, 'a', n);
    assert_int_equal(sip_frame_next(data, n, &skip, &len), VP_E_OVERFLOW);
    assert_int_equal(sip_frame_next(data, 100, &skip, &len), 0); /* not yet too long */
    assert_int_equal(len, 0);
    free(data);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_one_message_in_pieces),
        cmocka_unit_test(test_keepalives_and_two_messages),
        cmocka_unit_test(test_bad_lengths),
        cmocka_unit_test(test_endless_headers),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
