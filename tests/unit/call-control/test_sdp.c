/* SDP: the offer we send, and the answers we accept or refuse. */
#include "vp_test.h"

#include <string.h>

#include "sdp.h"
#include "voepy/err.h"

static void test_offer_lines(void **state)
{
    (void)state;
    struct buf b = BUF_INIT;
    struct sdp_offer_params p = {.ip = "127.0.0.1", .port = 20000, .session_id = 42, .version = 1};
    assert_int_equal(sdp_build_offer(&b, &p), 0);
    const char *want[] = {"v=0\r\n",
                          "o=voepy 42 1 IN IP4 127.0.0.1\r\n",
                          "c=IN IP4 127.0.0.1\r\n",
                          "t=0 0\r\n",
                          "m=audio 20000 RTP/AVP 0 8 9 111 101\r\n",
                          "a=rtpmap:0 PCMU/8000\r\n",
                          "a=rtpmap:8 PCMA/8000\r\n",
                          "a=rtpmap:9 G722/8000\r\n",
                          "a=rtpmap:111 opus/48000/2\r\n",
                          "a=rtpmap:101 telephone-event/8000\r\n",
                          "a=ptime:20\r\n",
                          "a=sendrecv\r\n"};
    for (size_t i = 0; i < sizeof(want) / sizeof(*want); i++)
        assert_non_null(strstr(b.data, want[i]));
    assert_true(strncmp(b.data, "v=0\r\n", 5) == 0);
    buf_free(&b);
}

static void test_offer_ipv6_and_bad_input(void **state)
{
    (void)state;
    struct buf b = BUF_INIT;
    struct sdp_offer_params p = {.ip = "::1", .port = 30000};
    assert_int_equal(sdp_build_offer(&b, &p), 0);
    assert_non_null(strstr(b.data, "c=IN IP6 ::1\r\n"));
    buf_reset(&b);
    p.ip = "media.example.com";
    assert_int_equal(sdp_build_offer(&b, &p), VP_E_INVALID_PARAMETER);
    p.ip = "127.0.0.1";
    p.port = 0;
    assert_int_equal(sdp_build_offer(&b, &p), VP_E_INVALID_PARAMETER);
    p.port = 70000;
    assert_int_equal(sdp_build_offer(&b, &p), VP_E_INVALID_PARAMETER);
    assert_int_equal(b.len, 0);
    buf_free(&b);
}

/* Our own offer parses as an answer (round trip). */
static void test_round_trip(void **state)
{
    (void)state;
    struct buf b = BUF_INIT;
    struct sdp_offer_params p = {.ip = "10.1.2.3", .port = 4000, .session_id = 1, .version = 1};
    sdp_build_offer(&b, &p);
    struct sdp_answer a;
    assert_int_equal(sdp_parse_answer(b.data, b.len, &a), 0);
    assert_string_equal(a.ip, "10.1.2.3");
    assert_int_equal(a.port, 4000);
    assert_int_equal(a.payload_type, 0);
    assert_string_equal(a.codec, "PCMU");
    assert_int_equal(a.dtmf_pt, 101);
    assert_int_equal(a.ptime, 20);
    assert_int_equal(a.dir, SDP_SENDRECV);
    buf_free(&b);
}

static int parse(const char *sdp, struct sdp_answer *a)
{
    return sdp_parse_answer(sdp, strlen(sdp), a);
}

static void test_answer_picks_first_common_codec(void **state)
{
    (void)state;
    struct sdp_answer a;
    const char *sdp = "v=0\r\no=- 1 1 IN IP4 192.0.2.1\r\ns=-\r\nc=IN IP4 192.0.2.1\r\nt=0 0\r\n"
                      "m=audio 6000 RTP/AVP 18 8 0 96\r\na=rtpmap:96 telephone-event/8000\r\n"
                      "a=ptime:30\r\na=sendonly\r\n";
    assert_int_equal(parse(sdp, &a), 0);
    assert_int_equal(a.payload_type, 8);
    assert_string_equal(a.codec, "PCMA");
    assert_int_equal(a.dtmf_pt, 96);
    assert_int_equal(a.ptime, 30);
    assert_int_equal(a.dir, SDP_SENDONLY);
    assert_string_equal(sdp_dir_name(a.dir), "sendonly");
}

static void test_answer_media_level_address_and_dynamic_pcmu(void **state)
{
    (void)state;
    struct sdp_answer a;
    const char *sdp = "v=0\r\no=- 1 1 IN IP4 192.0.2.1\r\ns=-\r\nc=IN IP4 192.0.2.1\r\nt=0 0\r\n"
                      "m=video 7000 RTP/AVP 31\r\n"
                      "m=audio 6002 RTP/AVP 97\r\nc=IN IP4 198.51.100.7\r\n"
                      "a=rtpmap:97 PCMU/8000\r\n";
    assert_int_equal(parse(sdp, &a), 0);
    assert_string_equal(a.ip, "198.51.100.7");
    assert_int_equal(a.port, 6002);
    assert_int_equal(a.payload_type, 97);
    assert_string_equal(a.codec, "PCMU");
    assert_int_equal(a.dtmf_pt, -1);
}

static void test_answer_refusals(void **state)
{
    (void)state;
    struct sdp_answer a;
    const char *head = "v=0\r\no=- 1 1 IN IP4 192.0.2.1\r\ns=-\r\n";
    char sdp[512];
    /* stream rejected with port 0 */
    snprintf(sdp, sizeof(sdp), "%sc=IN IP4 192.0.2.1\r\nt=0 0\r\nm=audio 0 RTP/AVP 0\r\n", head);
    assert_int_equal(parse(sdp, &a), VP_E_INVALID_PARAMETER);
    /* no codec we offered */
    snprintf(sdp, sizeof(sdp), "%sc=IN IP4 192.0.2.1\r\nt=0 0\r\nm=audio 6000 RTP/AVP 18 4\r\n",
             head);
    assert_int_equal(parse(sdp, &a), VP_E_INVALID_PARAMETER);
    /* a static number remapped to another codec does not count as PCMU */
    snprintf(sdp, sizeof(sdp),
             "%sc=IN IP4 192.0.2.1\r\nt=0 0\r\nm=audio 6000 RTP/AVP 0\r\na=rtpmap:0 opus/48000\r\n",
             head);
    assert_int_equal(parse(sdp, &a), VP_E_INVALID_PARAMETER);
    /* SRTP profile */
    snprintf(sdp, sizeof(sdp), "%sc=IN IP4 192.0.2.1\r\nt=0 0\r\nm=audio 6000 RTP/SAVP 0\r\n",
             head);
    assert_int_equal(parse(sdp, &a), VP_E_INVALID_PARAMETER);
    /* no address at all */
    snprintf(sdp, sizeof(sdp), "%st=0 0\r\nm=audio 6000 RTP/AVP 0\r\n", head);
    assert_int_equal(parse(sdp, &a), VP_E_PARSE);
    /* a host name instead of an address */
    snprintf(sdp, sizeof(sdp),
             "%sc=IN IP4 media.example.com\r\nt=0 0\r\nm=audio 6000 RTP/AVP 0\r\n", head);
    assert_int_equal(parse(sdp, &a), VP_E_PARSE);
    /* no audio */
    snprintf(sdp, sizeof(sdp), "%sc=IN IP4 192.0.2.1\r\nt=0 0\r\nm=video 6000 RTP/AVP 31\r\n",
             head);
    assert_int_equal(parse(sdp, &a), VP_E_PARSE);
    /* port out of range */
    snprintf(sdp, sizeof(sdp), "%sc=IN IP4 192.0.2.1\r\nt=0 0\r\nm=audio 70000 RTP/AVP 0\r\n",
             head);
    assert_int_equal(parse(sdp, &a), VP_E_PARSE);
}

static void test_answer_garbage(void **state)
{
    (void)state;
    struct sdp_answer a;
    assert_int_equal(sdp_parse_answer(NULL, 0, &a), VP_E_PARSE);
    assert_int_equal(parse("", &a), VP_E_PARSE);
    assert_int_equal(parse("hello", &a), VP_E_PARSE);
    assert_int_equal(parse("v=0\r\n", &a), VP_E_PARSE);
    const char nul[] = "v=0\r\n\0m=audio 1 RTP/AVP 0\r\n";
    assert_int_equal(sdp_parse_answer(nul, sizeof(nul) - 1, &a), VP_E_PARSE);
    char big[SDP_MAX_LEN + 2];
    memset(big, 'a', sizeof(big));
    assert_int_equal(sdp_parse_answer(big, sizeof(big), &a), VP_E_PARSE);
    /* a truncated body (short Content-Length) is refused, not half read */
    const char *whole = "v=0\r\no=- 1 1 IN IP4 192.0.2.1\r\ns=-\r\nc=IN IP4 192.0.2.1\r\n"
                        "t=0 0\r\nm=audio 6000 RTP/AVP 0\r\n";
    for (size_t n = 1; n < strlen(whole) - 20; n++)
        assert_int_not_equal(sdp_parse_answer(whole, n, &a), 0);
}

/* G722 and OPUS answers; VOEPY_CODECS (sdp_codecs_set) orders and limits what we offer and
 * accept. */
static void test_wideband_and_codec_list(void **state)
{
    (void)state;
    struct sdp_answer a;
    const char *head = "v=0\r\no=- 1 1 IN IP4 192.0.2.1\r\ns=-\r\nc=IN IP4 192.0.2.1\r\nt=0 0\r\n";
    char g722[256], opus[256], opus_static[256];
    snprintf(g722, sizeof(g722),
             "%sm=audio 6000 RTP/AVP 9 101\r\na=rtpmap:101 "
             "telephone-event/8000\r\n",
             head);
    snprintf(opus, sizeof(opus), "%sm=audio 6000 RTP/AVP 18 107\r\na=rtpmap:107 OPUS/48000/2\r\n",
             head);
    snprintf(opus_static, sizeof(opus_static),
             "%sm=audio 6000 RTP/AVP 9\r\na=rtpmap:9 "
             "opus/48000/2\r\n",
             head);
    assert_int_equal(parse(g722, &a), 0);
    assert_string_equal(a.codec, "G722");
    assert_int_equal(a.payload_type, 9);
    assert_int_equal(a.dtmf_pt, 101);
    assert_int_equal(parse(opus, &a), 0);
    assert_string_equal(a.codec, "OPUS");
    assert_int_equal(a.payload_type, 107);
    assert_int_equal(parse(opus_static, &a), VP_E_INVALID_PARAMETER); /* 9 is G722's */
    assert_string_equal(sdp_codec_rtpmap("opus"), "opus/48000/2");
    assert_null(sdp_codec_rtpmap("G729"));
    assert_true(sdp_codec_pt_ok("OPUS", 96) && !sdp_codec_pt_ok("OPUS", 9));
    assert_true(sdp_codec_pt_ok("G722", 9) && !sdp_codec_pt_ok("G722", 96));

    assert_int_equal(sdp_codecs_set("opus, pcma"), 0);
    struct buf b = BUF_INIT;
    struct sdp_offer_params p = {.ip = "127.0.0.1", .port = 20000, .session_id = 1, .version = 1};
    assert_int_equal(sdp_build_offer(&b, &p), 0);
    assert_non_null(strstr(b.data, "m=audio 20000 RTP/AVP 111 8 101\r\n"));
    assert_null(strstr(b.data, "PCMU"));
    assert_null(strstr(b.data, "G722"));
    assert_int_equal(parse(g722, &a), VP_E_INVALID_PARAMETER); /* G722 is not enabled now */
    assert_int_equal(sdp_codecs_set("PCMU,G729"), VP_E_INVALID_PARAMETER);
    assert_int_equal(sdp_codecs_set("PCMU,pcmu"), VP_E_INVALID_PARAMETER);
    assert_int_equal(sdp_codecs_set(" , "), VP_E_INVALID_PARAMETER);
    assert_int_equal(sdp_codecs_set(NULL), VP_E_INVALID_PARAMETER);
    buf_reset(&b);
    assert_int_equal(sdp_build_offer(&b, &p), 0); /* refused lists changed nothing */
    assert_non_null(strstr(b.data, "RTP/AVP 111 8 101\r\n"));
    assert_int_equal(sdp_codecs_set("PCMU,PCMA,G722,OPUS"), 0);
    buf_free(&b);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_offer_lines),
        cmocka_unit_test(test_offer_ipv6_and_bad_input),
        cmocka_unit_test(test_round_trip),
        cmocka_unit_test(test_answer_picks_first_common_codec),
        cmocka_unit_test(test_answer_media_level_address_and_dynamic_pcmu),
        cmocka_unit_test(test_answer_refusals),
        cmocka_unit_test(test_answer_garbage),
        cmocka_unit_test(test_wideband_and_codec_list),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
