/* rtp_stats: sequence accounting with wrap, reordering, duplicates, jumps and a new SSRC;
 * loss fraction per interval; interarrival jitter. */
#include "vp_test.h"

#include "rtp_stats.h"

#define SSRC 0x11223344u

/* Feed seq with a timestamp 160 per packet from seq0 and an arrival exactly on time. */
static bool feed(struct rtp_stats *s, uint16_t seq, uint16_t seq0)
{
    uint32_t ts = 1000u + (uint32_t)(uint16_t)(seq - seq0) * 160u;
    return rtp_stats_update(s, SSRC, seq, ts, ts + 5000u, true);
}

static void test_in_order(void **state)
{
    (void)state;
    struct rtp_stats s;
    rtp_stats_init(&s, 8000);
    assert_int_equal(rtp_stats_expected(&s), 0);
    assert_int_equal(rtp_stats_lost_total(&s), 0);
    for (uint16_t i = 0; i < 50; i++)
        assert_true(feed(&s, (uint16_t)(100 + i), 100));
    assert_int_equal(s.first_seq, 100);
    assert_int_equal(rtp_stats_ext_max(&s), 149);
    assert_int_equal(rtp_stats_expected(&s), 50);
    assert_int_equal(rtp_stats_lost(&s), 0);
    assert_int_equal(rtp_stats_interval(&s), 0);
    assert_int_equal(rtp_stats_jitter(&s), 0); /* perfectly paced */
}

static void test_loss_and_fraction(void **state)
{
    (void)state;
    struct rtp_stats s;
    rtp_stats_init(&s, 8000);
    /* 0..99 with every 10th missing: 10 lost of 100 expected */
    for (uint16_t i = 0; i < 100; i++)
        if (i % 10 != 5)
            feed(&s, i, 0);
    assert_int_equal(rtp_stats_expected(&s), 100);
    assert_int_equal(rtp_stats_lost(&s), 10);
    assert_int_equal(rtp_stats_interval(&s), 10 * 256 / 100);
    /* next interval: 100..199 all there */
    for (uint16_t i = 100; i < 200; i++)
        feed(&s, i, 0);
    assert_int_equal(rtp_stats_interval(&s), 0);
    assert_int_equal(rtp_stats_lost(&s), 10); /* cumulative stays */
    /* an interval where half is lost */
    for (uint16_t i = 201; i < 300; i += 2) /* 200..299 expected, the odd half heard */
        feed(&s, i, 0);
    assert_int_equal(rtp_stats_interval(&s), 128);
    assert_int_equal(rtp_stats_lost_total(&s), 60);
    /* nothing expected since: 0 */
    assert_int_equal(rtp_stats_interval(&s), 0);
}

static void test_wrap(void **state)
{
    (void)state;
    struct rtp_stats s;
    rtp_stats_init(&s, 8000);
    for (uint32_t i = 0; i < 20; i++)
        if (i != 12) /* seq 6, after the wrap, is lost */
            feed(&s, (uint16_t)(65530u + i), 65530);
    assert_int_equal(s.cycles, 65536);
    assert_int_equal(rtp_stats_ext_max(&s), 65536u + 13u);
    assert_int_equal(rtp_stats_expected(&s), 20);
    assert_int_equal(rtp_stats_lost(&s), 1);
}

static void test_reorder_and_duplicates(void **state)
{
    (void)state;
    struct rtp_stats s;
    rtp_stats_init(&s, 8000);
    const uint16_t order[] = {10, 11, 13, 12, 14, 16, 15, 17};
    for (size_t i = 0; i < sizeof(order) / sizeof(order[0]); i++)
        assert_true(feed(&s, order[i], 10));
    assert_int_equal(rtp_stats_ext_max(&s), 17);
    assert_int_equal(rtp_stats_lost(&s), 0);
    /* reordering across the wrap does not add a cycle */
    struct rtp_stats w;
    rtp_stats_init(&w, 8000);
    const uint16_t worder[] = {65534, 0, 65535, 1};
    for (size_t i = 0; i < 4; i++)
        feed(&w, worder[i], 65534);
    assert_int_equal(rtp_stats_ext_max(&w), 65536u + 1u);
    assert_int_equal(rtp_stats_lost(&w), 0);
    /* duplicates count as received: loss goes negative, the total is clamped at 0 */
    feed(&s, 17, 10);
    feed(&s, 16, 10);
    assert_int_equal(rtp_stats_lost(&s), -2);
    assert_int_equal(rtp_stats_lost_total(&s), 0);
    assert_int_equal(rtp_stats_interval(&s), 0);
}

static void test_jump_and_resync(void **state)
{
    (void)state;
    struct rtp_stats s;
    rtp_stats_init(&s, 8000);
    for (uint16_t i = 0; i < 10; i++)
        feed(&s, i, 0);
    /* a stray packet far ahead is not counted, and does not move max_seq */
    assert_false(rtp_stats_update(&s, SSRC, 20000, 0, 0, true));
    assert_int_equal(rtp_stats_ext_max(&s), 9);
    feed(&s, 10, 0);
    assert_int_equal(rtp_stats_lost(&s), 0);
    /* the same jump confirmed by the next sequence number: the source restarted */
    assert_false(rtp_stats_update(&s, SSRC, 30000, 0, 0, true));
    assert_true(rtp_stats_update(&s, SSRC, 30001, 0, 0, true));
    assert_int_equal(s.base_seq, 30001);
    assert_int_equal(rtp_stats_expected(&s), 1);
    assert_int_equal(rtp_stats_lost_total(&s), 0);
}

static void test_source_change(void **state)
{
    (void)state;
    struct rtp_stats s;
    rtp_stats_init(&s, 8000);
    for (uint16_t i = 0; i < 20; i += 2) /* 10 of 19 expected: 9 lost */
        rtp_stats_update(&s, 1, i, i * 160u, i * 160u + (i % 4 ? 80u : 0u), true);
    assert_int_equal(rtp_stats_lost(&s), 9);
    assert_true(rtp_stats_jitter(&s) > 0);
    /* a new SSRC: sequence state and jitter restart, the loss so far is carried */
    assert_true(rtp_stats_update(&s, 2, 5000, 77, 99, true));
    assert_int_equal(s.ssrc, 2);
    assert_int_equal(s.first_seq, 5000);
    assert_int_equal(rtp_stats_expected(&s), 1);
    assert_int_equal(rtp_stats_lost(&s), 0);
    assert_int_equal(rtp_stats_jitter(&s), 0);
    rtp_stats_update(&s, 2, 5003, 77, 99, true);
    assert_int_equal(rtp_stats_lost(&s), 2);
    assert_int_equal(rtp_stats_lost_total(&s), 11);
}

static void test_jitter(void **state)
{
    (void)state;
    struct rtp_stats s;
    rtp_stats_init(&s, 8000);
    /* every other packet 10 ms (80 units) late: |D| is 80 for every pair after the first */
    uint32_t j_prev = 0;
    for (uint32_t i = 0; i < 200; i++) {
        uint32_t ts = 4000000000u + i * 160u; /* wraps: transit arithmetic must not care */
        uint32_t arrival = 123u + i * 160u + (i % 2 ? 80u : 0u);
        rtp_stats_update(&s, SSRC, (uint16_t)i, ts, arrival, true);
        if (i == 3)
            j_prev = rtp_stats_jitter(&s);
    }
    assert_true(j_prev > 0 && j_prev < 80);
    /* J converges to |D| = 80 units = 10 ms */
    assert_in_range(rtp_stats_jitter(&s), 78, 80);
    assert_int_equal(rtp_stats_jitter_ms(&s), 10);
    /* untimed packets (RFC 4733 events) leave jitter alone */
    uint32_t before = s.jitter16;
    rtp_stats_update(&s, SSRC, 200, 1, 999999u, false);
    assert_int_equal(s.jitter16, before);
    /* a clock change restarts the estimate; same clock changes nothing */
    rtp_stats_set_clock(&s, 8000);
    assert_int_equal(s.jitter16, before);
    rtp_stats_set_clock(&s, 16000);
    assert_int_equal(rtp_stats_jitter(&s), 0);
}

static void test_arrival(void **state)
{
    (void)state;
    struct rtp_stats s;
    rtp_stats_init(&s, 0); /* 0 means 8000 */
    assert_int_equal(s.clock_rate, 8000);
    assert_int_equal(rtp_stats_arrival(&s, 1000000000u), 8000);
    assert_int_equal(rtp_stats_arrival(&s, 20000000u), 160);
    /* a large monotonic time (weeks of uptime) wraps like an RTP timestamp */
    uint64_t t = 3000000ull * 1000000000u + 500000000u;
    assert_int_equal(rtp_stats_arrival(&s, t), (uint32_t)(3000000ull * 8000u + 4000u));
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_in_order),
        cmocka_unit_test(test_loss_and_fraction),
        cmocka_unit_test(test_wrap),
        cmocka_unit_test(test_reorder_and_duplicates),
        cmocka_unit_test(test_jump_and_resync),
        cmocka_unit_test(test_source_change),
        cmocka_unit_test(test_jitter),
        cmocka_unit_test(test_arrival),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
