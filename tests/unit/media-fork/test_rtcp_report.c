/* rtcp_report: SR/RR + SDES bytes as RFC 3550 lays them out, read back with rtcp_parse()
 * and rtcp_report_read(); hostile report counts; NTP / DLSR / RTT arithmetic. */
#include "vp_test.h"

#include <stdlib.h>
#include <string.h>

#include "rtcp.h"
#include "rtcp_report.h"
#include "voepy/err.h"

static uint32_t get32(const uint8_t *p)
{
    return (uint32_t)p[0] << 24 | (uint32_t)p[1] << 16 | (uint32_t)p[2] << 8 | p[3];
}

/* Read a heap copy of exactly len bytes, so that ASan sees any overread. */
static int read_copy(const uint8_t *pkt, size_t len, uint32_t ours, struct rtcp_heard *h)
{
    uint8_t *copy = malloc(len ? len : 1);
    memcpy(copy, pkt, len);
    int rc = rtcp_report_read(copy, len, ours, h);
    free(copy);
    return rc;
}

static const struct rtcp_block block = {.ssrc = 0xfeedf00d,
                                        .fraction = 25,
                                        .lost = 10,
                                        .ext_max = 65536 + 13,
                                        .jitter = 79,
                                        .lsr = 0x12345678,
                                        .dlsr = 0x00018000};

static void test_sr_bytes(void **state)
{
    (void)state;
    uint8_t out[256];
    struct rtcp_sender si = {
        .ntp = 0xe1234567890abcdeull, .rtp_ts = 0xdeadbeef, .packets = 250, .octets = 40000};
    size_t n = rtcp_report_build(out, sizeof(out), 0xa1b2c3d4, &si, &block, "abc@voepy");
    /* SR: 8 + 20 + 24 = 52; SDES: 4 + ssrc 4 + item 2+9 + end 1 = 20 */
    assert_int_equal(n, 52 + 20);
    assert_int_equal(out[0], 0x81); /* V=2, RC=1 */
    assert_int_equal(out[1], RTCP_PT_SR);
    assert_int_equal(out[2] << 8 | out[3], 52 / 4 - 1);
    assert_int_equal(get32(out + 4), 0xa1b2c3d4);
    assert_int_equal(get32(out + 8), 0xe1234567);
    assert_int_equal(get32(out + 12), 0x890abcde);
    assert_int_equal(get32(out + 16), 0xdeadbeef);
    assert_int_equal(get32(out + 20), 250);
    assert_int_equal(get32(out + 24), 40000);
    assert_int_equal(get32(out + 28), 0xfeedf00d);
    assert_int_equal(get32(out + 32), 25u << 24 | 10u);
    assert_int_equal(get32(out + 36), 65536 + 13);
    assert_int_equal(get32(out + 40), 79);
    assert_int_equal(get32(out + 44), 0x12345678);
    assert_int_equal(get32(out + 48), 0x00018000);
    const uint8_t *sd = out + 52;
    assert_int_equal(sd[0], 0x81);
    assert_int_equal(sd[1], RTCP_PT_SDES);
    assert_int_equal(get32(sd + 4), 0xa1b2c3d4);
    assert_int_equal(sd[8], 1); /* CNAME */
    assert_int_equal(sd[9], 9);
    assert_memory_equal(sd + 10, "abc@voepy", 9);
    assert_int_equal(sd[19], 0); /* END */

    struct rtcp_info info;
    assert_int_equal(rtcp_parse(out, n, &info), 0);
    assert_int_equal(info.npackets, 2);
    assert_int_equal(info.first_pt, RTCP_PT_SR);
    assert_int_equal(info.ssrc, 0xa1b2c3d4);

    /* the far end reading it: our SR time and its block about us */
    struct rtcp_heard h;
    assert_int_equal(read_copy(out, n, 0xfeedf00d, &h), 0);
    assert_int_equal(h.ssrc, 0xa1b2c3d4);
    assert_true(h.has_sr);
    assert_int_equal(h.lsr, 0x4567890a);
    assert_true(h.has_block);
    assert_memory_equal(&h.block, &block, sizeof(block));
    /* a block about someone else is not ours */
    assert_int_equal(read_copy(out, n, 0x01020304, &h), 0);
    assert_true(h.has_sr);
    assert_false(h.has_block);
}

static void test_rr_bytes(void **state)
{
    (void)state;
    uint8_t out[256];
    struct rtcp_block b = block;
    b.lost = -3; /* duplicates: negative cumulative loss, 24-bit two's complement */
    size_t n = rtcp_report_build(out, sizeof(out), 7, NULL, &b, "x");
    assert_int_equal(n, 32 + 12);
    assert_int_equal(out[0], 0x81);
    assert_int_equal(out[1], RTCP_PT_RR);
    assert_int_equal(get32(out + 12) & 0xffffff, 0xfffffd);
    struct rtcp_heard h;
    assert_int_equal(read_copy(out, n, block.ssrc, &h), 0);
    assert_false(h.has_sr);
    assert_true(h.has_block);
    assert_int_equal(h.block.lost, -3);
    /* loss beyond 24 bits is clamped */
    b.lost = 0x7fffffff;
    rtcp_report_build(out, sizeof(out), 7, NULL, &b, "x");
    assert_int_equal(read_copy(out, n, block.ssrc, &h), 0);
    assert_int_equal(h.block.lost, 0x7fffff);

    /* an RR with no block (nothing heard yet) and no CNAME */
    n = rtcp_report_build(out, sizeof(out), 7, NULL, NULL, NULL);
    assert_int_equal(n, 8 + 12);
    assert_int_equal(out[0], 0x80);
    struct rtcp_info info;
    assert_int_equal(rtcp_parse(out, n, &info), 0);
    assert_int_equal(info.npackets, 2);
    assert_int_equal(read_copy(out, n, 7, &h), 0);
    assert_false(h.has_block);
    /* every CNAME length keeps the SDES word-aligned and parseable */
    char cname[300];
    memset(cname, 'c', sizeof(cname));
    for (size_t len = 0; len < sizeof(cname) - 1; len += 37) { /* 0 .. 259 */
        cname[len] = '\0';
        n = rtcp_report_build(out, sizeof(out), 7, NULL, NULL, cname);
        size_t used = len > 255 ? 255 : len;                  /* CNAME items hold 255 */
        size_t need = 8 + 4 + ((4 + 2 + used + 1 + 3) & ~3u); /* RR + SDES, padded */
        assert_int_equal(n, need <= sizeof(out) ? need : 0);
        if (n) {
            assert_int_equal(rtcp_parse(out, n, &info), 0);
            assert_int_equal(out[8 + 9], used);
        }
        cname[len] = 'c';
    }
}

static void test_bye(void **state)
{
    (void)state;
    uint8_t out[128];
    size_t n = rtcp_report_build(out, sizeof(out), 0x0a0b0c0d, NULL, &block, "x");
    size_t m = rtcp_report_add_bye(out, sizeof(out), n, 0x0a0b0c0d);
    assert_int_equal(m, n + 8);
    assert_int_equal(out[n], 0x81);
    assert_int_equal(out[n + 1], RTCP_PT_BYE);
    assert_int_equal(out[n + 2] << 8 | out[n + 3], 1);
    assert_int_equal(get32(out + n + 4), 0x0a0b0c0d);
    struct rtcp_info info;
    assert_int_equal(rtcp_parse(out, m, &info), 0);
    assert_int_equal(info.npackets, 3);
    assert_true(info.has_bye);
    struct rtcp_heard h;
    assert_int_equal(read_copy(out, m, block.ssrc, &h), 0);
    assert_true(h.has_block); /* the report before the BYE still counts */
    /* no room: nothing written past cap */
    assert_int_equal(rtcp_report_add_bye(out, n + 7, n, 1), 0);
    assert_int_equal(rtcp_report_add_bye(out, n, n + 1, 1), 0);
}

static void test_small_buffer(void **state)
{
    (void)state;
    uint8_t out[64];
    struct rtcp_sender si = {0};
    assert_int_equal(rtcp_report_build(out, 71, 1, &si, &block, "abc@voepy"), 0);
    assert_int_equal(rtcp_report_build(out, sizeof(out), 1, &si, &block, "abc"), 0);
    assert_int_equal(rtcp_report_build(out, sizeof(out), 1, &si, NULL, "abc"), 28 + 16);
}

static void test_hostile(void **state)
{
    (void)state;
    uint8_t out[256];
    struct rtcp_heard h;
    size_t n = rtcp_report_build(out, sizeof(out), 7, NULL, &block, "x");
    /* a report count that promises blocks the packet does not hold */
    out[0] = 0x82;
    assert_int_equal(read_copy(out, n, block.ssrc, &h), VP_E_PARSE);
    out[0] = 0x9f;
    assert_int_equal(read_copy(out, n, block.ssrc, &h), VP_E_PARSE);
    /* an RR too short for its SSRC */
    const uint8_t tiny[] = {0x80, RTCP_PT_RR, 0, 0};
    assert_int_equal(read_copy(tiny, sizeof(tiny), 1, &h), VP_E_PARSE);
    /* not RTCP at all, or truncated */
    n = rtcp_report_build(out, sizeof(out), 7, NULL, &block, "x");
    for (size_t len = 0; len < n; len++)
        if (len != 32) /* the RR alone is a valid compound packet */
            assert_int_equal(read_copy(out, len, block.ssrc, &h), VP_E_PARSE);
    assert_int_equal(read_copy(out, 32, block.ssrc, &h), 0);
    assert_true(h.has_block);
}

static void test_time(void **state)
{
    (void)state;
    uint64_t ntp = rtcp_ntp_now();
    /* after 2020 (3786825600 s since 1900) and before 2036's wrap */
    assert_true(ntp >> 32 > 3786825600u);
    assert_int_equal(rtcp_ntp_middle(0x0001234567890000ull), 0x23456789);
    assert_int_equal(rtcp_dlsr(1500000000u), 0x18000); /* 1.5 s */
    assert_int_equal(rtcp_dlsr(0), 0);
    /* 6.4.1's example: A 0xb710:8000 (46864.5 s), LSR 0xb705:2000, DLSR 0x0005:4000 */
    assert_int_equal(rtcp_rtt_ms(0xb7108000u, 0xb7052000u, 0x00054000u), 6125);
    assert_int_equal(rtcp_rtt_ms(0xb7108000u, 0, 5), -1);              /* no SR seen */
    assert_int_equal(rtcp_rtt_ms(0x00010000u, 0x00020000u, 0), -1);    /* negative */
    assert_int_equal(rtcp_rtt_ms(0x00000010u, 0xfffffff0u, 0x10u), 0); /* across the wrap */
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_sr_bytes), cmocka_unit_test(test_rr_bytes),
        cmocka_unit_test(test_bye),      cmocka_unit_test(test_small_buffer),
        cmocka_unit_test(test_hostile),  cmocka_unit_test(test_time),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
