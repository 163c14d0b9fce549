/* rtp_parse / rtcp_parse with nasty inputs, rtp_write_header, the codec table. */
#include "vp_test.h"

#include <string.h>

#include "codec.h"
#include "rtcp.h"
#include "rtp.h"
#include "voepy/err.h"

/*
 * Parse a copy of the bytes in a heap block of exactly len bytes, so that any read past
 * the end is caught by AddressSanitizer. Returns the fault (RTP_FAULT_NONE on success).
 */
static enum rtp_fault parse(const uint8_t *bytes, size_t len, struct rtp_hdr *h)
{
    uint8_t *copy = malloc(len ? len : 1);
    memcpy(copy, bytes, len);
    struct rtp_hdr tmp;
    enum rtp_fault f = RTP_FAULT_NONE;
    int rc = rtp_parse(copy, len, &tmp, &f);
    assert_int_equal(rc, f == RTP_FAULT_NONE ? 0 : VP_E_PARSE);
    if (rc == 0) {
        assert_true(tmp.payload >= copy && tmp.payload + tmp.payload_len <= copy + len);
        if (h) {
            *h = tmp;
            h->payload = bytes + (tmp.payload - copy); /* same offset in the caller's bytes */
        }
    }
    free(copy);
    return f;
}

static void test_valid_packet(void **state)
{
    (void)state;
    uint8_t p[12 + 160];
    memset(p, 0xAB, sizeof(p));
    rtp_write_header(p, true, 8, 0xBEEF, 0x01020304, 0xCAFEBABE);
    struct rtp_hdr h;
    assert_int_equal(parse(p, sizeof(p), &h), RTP_FAULT_NONE);
    assert_true(h.marker);
    assert_int_equal(h.pt, 8);
    assert_int_equal(h.seq, 0xBEEF);
    assert_int_equal(h.ts, 0x01020304);
    assert_int_equal(h.ssrc, 0xCAFEBABE);
    assert_int_equal(h.csrc_count, 0);
    assert_false(h.has_extension);
    assert_ptr_equal(h.payload, p + 12);
    assert_int_equal(h.payload_len, 160);
    /* On the wire: exactly RFC 3550's layout. */
    const uint8_t want[12] = {0x80, 0x88, 0xBE, 0xEF, 1, 2, 3, 4, 0xCA, 0xFE, 0xBA, 0xBE};
    assert_memory_equal(p, want, 12);
    rtp_write_header(p, false, 0, 0, 0, 0);
    assert_int_equal(p[1], 0x00);
    /* A header alone is a valid packet with an empty payload. */
    assert_int_equal(parse(p, 12, &h), RTP_FAULT_NONE);
    assert_int_equal(h.payload_len, 0);
    assert_false(h.marker);
}

static void test_short_and_version(void **state)
{
    (void)state;
    uint8_t p[12];
    rtp_write_header(p, false, 0, 1, 2, 3);
    for (size_t n = 0; n < 12; n++)
        assert_int_equal(parse(p, n, NULL), RTP_FAULT_SHORT);
    for (unsigned v = 0; v < 4; v++) {
        p[0] = (uint8_t)(v << 6);
        assert_int_equal(parse(p, 12, NULL), v == 2 ? RTP_FAULT_NONE : RTP_FAULT_VERSION);
    }
    assert_int_equal(rtp_parse(p, 11, &(struct rtp_hdr){0}, NULL), VP_E_PARSE); /* NULL fault */
}

static void test_csrc(void **state)
{
    (void)state;
    uint8_t p[12 + 60 + 4];
    memset(p, 0, sizeof(p));
    rtp_write_header(p, false, 0, 1, 2, 3);
    p[0] |= 15; /* 15 CSRCs = 60 bytes */
    assert_int_equal(parse(p, 12 + 59, NULL), RTP_FAULT_CSRC);
    struct rtp_hdr h;
    assert_int_equal(parse(p, 12 + 60, &h), RTP_FAULT_NONE);
    assert_int_equal(h.csrc_count, 15);
    assert_int_equal(h.payload_len, 0);
    assert_int_equal(parse(p, sizeof(p), &h), RTP_FAULT_NONE);
    assert_ptr_equal(h.payload, p + 72);
    assert_int_equal(h.payload_len, 4);
    p[0] = 0x81; /* one CSRC, packet of 12 */
    assert_int_equal(parse(p, 12, NULL), RTP_FAULT_CSRC);
}

static void test_extension(void **state)
{
    (void)state;
    uint8_t p[64];
    memset(p, 0, sizeof(p));
    rtp_write_header(p, false, 0, 1, 2, 3);
    p[0] |= 0x10;
    /* No room for the 4-byte extension header. */
    for (size_t n = 12; n < 16; n++)
        assert_int_equal(parse(p, n, NULL), RTP_FAULT_EXTENSION);
    /* Empty extension (length 0): valid. */
    struct rtp_hdr h;
    assert_int_equal(parse(p, 16, &h), RTP_FAULT_NONE);
    assert_true(h.has_extension);
    assert_int_equal(h.payload_len, 0);
    /* Two words of extension data, then 4 payload bytes. */
    p[14] = 0, p[15] = 2;
    assert_int_equal(parse(p, 23, NULL), RTP_FAULT_EXTENSION);
    assert_int_equal(parse(p, 24, &h), RTP_FAULT_NONE);
    assert_int_equal(parse(p, 28, &h), RTP_FAULT_NONE);
    assert_ptr_equal(h.payload, p + 24);
    assert_int_equal(h.payload_len, 4);
    /* The largest length a peer can claim. */
    p[14] = 0xFF, p[15] = 0xFF;
    assert_int_equal(parse(p, sizeof(p), NULL), RTP_FAULT_EXTENSION);
    /* CSRCs push the extension header past the end. */
    uint8_t big[12 + 60 + 4];
    memset(big, 0, sizeof(big));
    big[0] = 0x80 | 0x10 | 15;
    assert_int_equal(parse(big, sizeof(big) - 1, NULL), RTP_FAULT_EXTENSION);
    assert_int_equal(parse(big, sizeof(big), &h), RTP_FAULT_NONE);
    assert_int_equal(h.payload_len, 0);
}

static void test_padding(void **state)
{
    (void)state;
    uint8_t p[12 + 8];
    memset(p, 0, sizeof(p));
    rtp_write_header(p, false, 0, 1, 2, 3);
    p[0] |= 0x20;
    struct rtp_hdr h;
    /* Padding bit on a header-only packet: there is no count octet. */
    assert_int_equal(parse(p, 12, NULL), RTP_FAULT_PADDING);
    p[19] = 0; /* count 0 is not allowed (it includes itself) */
    assert_int_equal(parse(p, 20, NULL), RTP_FAULT_PADDING);
    p[19] = 9; /* more than the 8 payload bytes */
    assert_int_equal(parse(p, 20, NULL), RTP_FAULT_PADDING);
    p[19] = 255;
    assert_int_equal(parse(p, 20, NULL), RTP_FAULT_PADDING);
    p[19] = 8; /* all of it padding */
    assert_int_equal(parse(p, 20, &h), RTP_FAULT_NONE);
    assert_int_equal(h.payload_len, 0);
    p[19] = 3;
    assert_int_equal(parse(p, 20, &h), RTP_FAULT_NONE);
    assert_int_equal(h.payload_len, 5);
    /* Padding may not eat into CSRCs or the extension: it is counted after them. */
    uint8_t q[12 + 4 + 2];
    memset(q, 0, sizeof(q));
    q[0] = 0x80 | 0x20 | 1; /* one CSRC */
    q[17] = 4;
    assert_int_equal(parse(q, sizeof(q), NULL), RTP_FAULT_PADDING);
    q[17] = 2;
    assert_int_equal(parse(q, sizeof(q), &h), RTP_FAULT_NONE);
    assert_int_equal(h.payload_len, 0);
}

static void test_rtcp_payload_types_refused(void **state)
{
    (void)state;
    uint8_t p[32];
    memset(p, 0, sizeof(p));
    for (unsigned pt = 64; pt < 128; pt++) {
        rtp_write_header(p, false, (uint8_t)pt, 1, 2, 3);
        enum rtp_fault want = pt >= 72 && pt <= 76 ? RTP_FAULT_RTCP : RTP_FAULT_NONE;
        assert_int_equal(parse(p, sizeof(p), NULL), want);
    }
    /* An RTCP receiver report sent to the RTP port: 0x80 201 = marker + pt 73. */
    const uint8_t rr[8] = {0x80, 201, 0, 1, 1, 2, 3, 4};
    assert_int_equal(parse(rr, 8, NULL), RTP_FAULT_SHORT);
    uint8_t rr12[12] = {0x80, 201, 0, 2};
    assert_int_equal(parse(rr12, 12, NULL), RTP_FAULT_RTCP);
    assert_string_equal(rtp_fault_name(RTP_FAULT_RTCP), "rtcp");
    assert_string_equal(rtp_fault_name(RTP_FAULT_PADDING), "padding");
}

/* Random bytes with the version forced to 2 most of the time: nothing read out of bounds. */
static void test_random_inputs_stay_in_bounds(void **state)
{
    (void)state;
    uint32_t x = 12345;
    uint8_t p[96];
    unsigned ok = 0;
    for (int i = 0; i < 100000; i++) {
        for (size_t k = 0; k < sizeof(p); k++) {
            x = x * 1103515245u + 12345u;
            p[k] = (uint8_t)(x >> 16);
        }
        if (i % 8)
            p[0] = (uint8_t)(0x80 | (p[0] & 0x3f));
        if (i % 3 == 0)
            p[0] &= (uint8_t)~0x0f; /* fewer CSRCs: more packets get to the later checks */
        size_t len = (x >> 8) % sizeof(p);
        ok += parse(p, len, NULL) == RTP_FAULT_NONE;
    }
    assert_true(ok > 1000); /* the generator does reach the accepting paths */
}

static void test_rtcp(void **state)
{
    (void)state;
    struct rtcp_info info;
    const uint8_t rr[8] = {0x80, RTCP_PT_RR, 0, 1, 0xDE, 0xAD, 0xBE, 0xEF};
    assert_int_equal(rtcp_parse(rr, sizeof(rr), &info), 0);
    assert_int_equal(info.npackets, 1);
    assert_int_equal(info.first_pt, RTCP_PT_RR);
    assert_int_equal(info.ssrc, 0xDEADBEEF);
    /* Compound: RR + BYE. */
    uint8_t c[16] = {0x80, RTCP_PT_RR, 0, 1, 0, 0, 0, 1, 0x81, RTCP_PT_BYE, 0, 1, 0, 0, 0, 1};
    assert_int_equal(rtcp_parse(c, sizeof(c), &info), 0);
    assert_int_equal(info.npackets, 2);
    assert_true(info.has_bye);
    /* Lengths that do not add up, or run past the end. */
    assert_int_equal(rtcp_parse(c, 15, &info), VP_E_PARSE);
    assert_int_equal(rtcp_parse(c, 10, &info), VP_E_PARSE);
    assert_int_equal(rtcp_parse(c, 3, &info), VP_E_PARSE);
    assert_int_equal(rtcp_parse(c, 0, &info), VP_E_PARSE);
    uint8_t bad[8];
    memcpy(bad, rr, 8);
    bad[3] = 0xFF;
    bad[2] = 0xFF;
    assert_int_equal(rtcp_parse(bad, 8, &info), VP_E_PARSE);
    memcpy(bad, rr, 8);
    bad[0] = 0x40; /* version 1 */
    assert_int_equal(rtcp_parse(bad, 8, &info), VP_E_PARSE);
    memcpy(bad, rr, 8);
    bad[1] = 0; /* packet type outside 192..223 */
    assert_int_equal(rtcp_parse(bad, 8, &info), VP_E_PARSE);
    /* Padding only on the last sub-packet. */
    c[0] |= 0x20;
    assert_int_equal(rtcp_parse(c, sizeof(c), &info), VP_E_PARSE);
    c[0] &= (uint8_t)~0x20;
    c[8] |= 0x20;
    assert_int_equal(rtcp_parse(c, sizeof(c), &info), 0);
    /* An RTP packet is not RTCP. */
    uint8_t rtp[12];
    rtp_write_header(rtp, false, 0, 1, 2, 3);
    assert_int_equal(rtcp_parse(rtp, sizeof(rtp), &info), VP_E_PARSE);
}

static void test_codecs(void **state)
{
    (void)state;
    const struct codec *u = codec_by_name("PCMU"), *a = codec_by_name("pcma");
    assert_non_null(u);
    assert_non_null(a);
    assert_int_equal(u->static_pt, 0);
    assert_int_equal(a->static_pt, 8);
    assert_ptr_equal(codec_by_pt(0), u);
    assert_ptr_equal(codec_by_pt(8), a);
    assert_null(codec_by_pt(18));
    assert_null(codec_by_name("G729"));
    assert_null(codec_by_name(NULL));
    assert_int_equal(u->frame_bytes, 160);
    const uint8_t *su = codec_silence_frame(u), *sa = codec_silence_frame(a);
    for (size_t i = 0; i < 160; i++) {
        assert_int_equal(su[i], 0xFF);
        assert_int_equal(sa[i], 0xD5);
    }
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_valid_packet),
        cmocka_unit_test(test_short_and_version),
        cmocka_unit_test(test_csrc),
        cmocka_unit_test(test_extension),
        cmocka_unit_test(test_padding),
        cmocka_unit_test(test_rtcp_payload_types_refused),
        cmocka_unit_test(test_random_inputs_stay_in_bounds),
        cmocka_unit_test(test_rtcp),
        cmocka_unit_test(test_codecs),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
