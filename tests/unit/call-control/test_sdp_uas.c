/*
 * The SDP answer to an inbound offer (sdp_uas.c): exactly the codec chosen from the
 * offer, telephone-event only when offered (with the offer's payload type), our address.
 */
#include "vp_test.h"

#include <string.h>

#include "sdp.h"
#include "sdp_uas.h"
#include "voepy/err.h"

static const char offer_pcma_dtmf96[] = "v=0\r\n"
                                        "o=- 1 1 IN IP4 10.0.0.1\r\n"
                                        "s=-\r\n"
                                        "c=IN IP4 10.0.0.1\r\n"
                                        "t=0 0\r\n"
                                        "m=audio 5004 RTP/AVP 18 8 0 96\r\n"
                                        "a=rtpmap:18 G729/8000\r\n"
                                        "a=rtpmap:8 PCMA/8000\r\n"
                                        "a=rtpmap:0 PCMU/8000\r\n"
                                        "a=rtpmap:96 telephone-event/8000\r\n";

static const char offer_pcmu_only[] = "v=0\r\n"
                                      "o=- 1 1 IN IP4 10.0.0.1\r\n"
                                      "s=-\r\n"
                                      "c=IN IP4 10.0.0.1\r\n"
                                      "t=0 0\r\n"
                                      "m=audio 5004 RTP/AVP 0\r\n";

static void parse(const char *sdp, struct sdp_answer *o)
{
    assert_int_equal(sdp_parse_answer(sdp, strlen(sdp), o), 0);
}

static void test_first_codec_we_speak_and_their_dtmf(void **state)
{
    struct sdp_answer o, back;
    struct buf b = BUF_INIT;
    (void)state;
    parse(offer_pcma_dtmf96, &o);
    struct sdp_answer_params p = {.ip = "127.0.0.1", .port = 40000, .session_id = 7, .offer = &o};
    assert_int_equal(sdp_build_answer(&b, &p), 0);
    assert_non_null(strstr(b.data, "m=audio 40000 RTP/AVP 8 96\r\n"));
    assert_non_null(strstr(b.data, "a=rtpmap:8 PCMA/8000\r\n"));
    assert_non_null(strstr(b.data, "a=rtpmap:96 telephone-event/8000\r\n"));
    assert_null(strstr(b.data, "PCMU"));
    assert_non_null(strstr(b.data, "c=IN IP4 127.0.0.1\r\n"));
    /* What we send is an answer our own parser accepts. */
    assert_int_equal(sdp_parse_answer(b.data, b.len, &back), 0);
    assert_int_equal(back.port, 40000);
    assert_string_equal(back.codec, "PCMA");
    buf_free(&b);
}

/* G722 and Opus offers: answered with that codec on the offer's payload type. */
static void test_wideband_offers(void **state)
{
    struct sdp_answer o, back;
    struct buf b = BUF_INIT;
    (void)state;
    parse("v=0\r\no=- 1 1 IN IP4 10.0.0.1\r\ns=-\r\nc=IN IP4 10.0.0.1\r\nt=0 0\r\n"
          "m=audio 5004 RTP/AVP 9 0\r\na=rtpmap:9 G722/8000\r\n",
          &o);
    struct sdp_answer_params p = {.ip = "127.0.0.1", .port = 40000, .session_id = 7, .offer = &o};
    assert_int_equal(sdp_build_answer(&b, &p), 0);
    assert_non_null(strstr(b.data, "m=audio 40000 RTP/AVP 9\r\n"));
    assert_non_null(strstr(b.data, "a=rtpmap:9 G722/8000\r\n"));
    assert_int_equal(sdp_parse_answer(b.data, b.len, &back), 0);
    assert_string_equal(back.codec, "G722");
    buf_reset(&b);
    parse("v=0\r\no=- 1 1 IN IP4 10.0.0.1\r\ns=-\r\nc=IN IP4 10.0.0.1\r\nt=0 0\r\n"
          "m=audio 5004 RTP/AVP 100 101\r\na=rtpmap:100 opus/48000/2\r\n"
          "a=rtpmap:101 telephone-event/8000\r\n",
          &o);
    assert_int_equal(sdp_build_answer(&b, &p), 0);
    assert_non_null(strstr(b.data, "m=audio 40000 RTP/AVP 100 101\r\n"));
    assert_non_null(strstr(b.data, "a=rtpmap:100 opus/48000/2\r\n"));
    assert_int_equal(sdp_parse_answer(b.data, b.len, &back), 0);
    assert_string_equal(back.codec, "OPUS");
    assert_int_equal(back.payload_type, 100);
    buf_reset(&b);
    o.payload_type = 9; /* Opus on a static number: refused */
    assert_int_equal(sdp_build_answer(&b, &p), VP_E_INVALID_PARAMETER);
    buf_free(&b);
}

static void test_no_dtmf_when_not_offered(void **state)
{
    struct sdp_answer o;
    struct buf b = BUF_INIT;
    (void)state;
    parse(offer_pcmu_only, &o);
    struct sdp_answer_params p = {.ip = "::1", .port = 40002, .session_id = 1, .offer = &o};
    assert_int_equal(sdp_build_answer(&b, &p), 0);
    assert_non_null(strstr(b.data, "m=audio 40002 RTP/AVP 0\r\n"));
    assert_null(strstr(b.data, "telephone-event"));
    assert_non_null(strstr(b.data, "c=IN IP6 ::1\r\n"));
    buf_free(&b);
}

static void test_bad_parameters(void **state)
{
    struct sdp_answer o;
    struct buf b = BUF_INIT;
    (void)state;
    parse(offer_pcmu_only, &o);
    struct sdp_answer_params p = {.ip = "not-an-ip", .port = 40000, .offer = &o};
    assert_int_equal(sdp_build_answer(&b, &p), VP_E_INVALID_PARAMETER);
    p.ip = "127.0.0.1";
    p.port = 0;
    assert_int_equal(sdp_build_answer(&b, &p), VP_E_INVALID_PARAMETER);
    p.port = 40000;
    p.offer = NULL;
    assert_int_equal(sdp_build_answer(&b, &p), VP_E_INVALID_PARAMETER);
    o.payload_type = 18; /* not a codec we speak */
    p.offer = &o;
    assert_int_equal(sdp_build_answer(&b, &p), VP_E_INVALID_PARAMETER);
    assert_int_equal(b.len, 0);
    buf_free(&b);
}

/* The answer to a re-offer (call_dialog.c): direction mirrored, o= version raised. */
static void test_direction_and_version(void **state)
{
    struct sdp_answer o, back;
    struct buf b = BUF_INIT;
    (void)state;
    parse(offer_pcmu_only, &o);
    struct sdp_answer_params p = {.ip = "127.0.0.1",
                                  .port = 40000,
                                  .session_id = 7,
                                  .offer = &o,
                                  .dir = SDP_RECVONLY,
                                  .version = 3};
    assert_int_equal(sdp_build_answer(&b, &p), 0);
    assert_non_null(strstr(b.data, "o=voepy 7 3 IN IP4 127.0.0.1\r\n"));
    assert_non_null(strstr(b.data, "a=recvonly\r\n"));
    assert_null(strstr(b.data, "a=sendrecv"));
    assert_int_equal(sdp_parse_answer(b.data, b.len, &back), 0);
    assert_int_equal(back.dir, SDP_RECVONLY);
    buf_free(&b);
    p.dir = SDP_INACTIVE;
    p.version = 0; /* 0 means 1 */
    assert_int_equal(sdp_build_answer(&b, &p), 0);
    assert_non_null(strstr(b.data, "o=voepy 7 1 IN IP4"));
    assert_non_null(strstr(b.data, "a=inactive\r\n"));
    buf_free(&b);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_first_codec_we_speak_and_their_dtmf),
        cmocka_unit_test(test_wideband_offers),
        cmocka_unit_test(test_no_dtmf_when_not_offered),
        cmocka_unit_test(test_bad_parameters),
        cmocka_unit_test(test_direction_and_version),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
