/*
 * Taps on a leg (leg_tap.h): a real leg on loopback, a far end (rtp_peer.h) sending
 * G.711 and RFC 4733 to it, and the leg ticked by hand. Checks that each tick gives one
 * frame of each direction, decoded, that missing audio is silence with in_heard false,
 * that digits are reported once, and the removal and close rules.
 */
#include "vp_test.h"

#include <stdio.h>
#include <stdlib.h>

#include "codec.h"
#include "gather.h"
#include "leg.h"
#include "leg_tap.h"
#include "media_ctx.h"
#include "port_pool.h"
#include "rfc4733.h"
#include "rtp_peer.h"
#include "udp_pair.h"

struct seen {
    int frames, heard, sent, closed;
    int16_t first_in, first_out;
    char digits[16];
    int ndigits;
    bool remove_self; /* remove the tap from inside its own frame() */
    struct leg *leg;
    struct leg_tap *tap;
};

static void frame_cb(void *arg, const struct leg_tap_frame *f)
{
    struct seen *s = arg;
    assert_int_equal(f->samples, 160);
    assert_int_equal(f->rate, 8000);
    if (f->in_heard && !s->heard)
        s->first_in = f->in[17];
    if (!f->in_heard)
        for (size_t i = 0; i < f->samples; i++)
            assert_int_equal(f->in[i], 0);
    s->first_out = f->out[0];
    s->frames++;
    s->heard += f->in_heard;
    s->sent += f->out_sent;
    if (s->remove_self)
        leg_tap_remove(s->leg, s->tap);
}

static void digit_cb(void *arg, char d)
{
    struct seen *s = arg;
    if (s->ndigits < 15)
        s->digits[s->ndigits++] = d;
}

static void closed_cb(void *arg)
{
    ((struct seen *)arg)->closed++;
}

static const struct leg_tap_ops OPS = {frame_cb, digit_cb, closed_cb};

struct fixture {
    uv_loop_t loop;
    struct media_ctx ctx;
    struct peer peer;
    struct leg *leg;
    uint16_t seq;
};

static int setup(void **state)
{
    struct fixture *fx = calloc(1, sizeof(*fx));
    uv_loop_init(&fx->loop);
    fx->ctx.loop = &fx->loop;
    assert_int_equal(udp_addr_parse("127.0.0.1", 0, &fx->ctx.media_addr), 0);
    assert_int_equal(port_pool_create(&fx->ctx.ports, 41000, 41999), 0);
    media_metrics_init(&fx->ctx.metrics);
    peer_open(&fx->peer, &fx->loop);
    assert_int_equal(leg_open(&fx->leg, &fx->ctx, "voepy_leg_tap", "voepy_call_tap", ""), 0);
    struct leg_remote r = {.codec = codec_by_name("PCMU"),
                           .pt = 0,
                           .ptime_ms = 20,
                           .mode = LEG_MODE_SILENCE,
                           .te_pt = 101};
    assert_int_equal(udp_addr_parse("127.0.0.1", fx->peer.port, &r.addr), 0);
    leg_connect(fx->leg, &r);
    *state = fx;
    return 0;
}

static int teardown(void **state)
{
    struct fixture *fx = *state;
    leg_close(fx->leg);
    uv_close((uv_handle_t *)&fx->peer.udp, NULL);
    vp_test_loop_done(&fx->loop);
    port_pool_destroy(fx->ctx.ports);
    free(fx);
    return 0;
}

/* Let datagrams in flight arrive (loopback: a few ms is plenty). */
static void settle(struct fixture *fx)
{
    bool never = false;
    vp_test_run_until(&fx->loop, &never, 15);
}

static void send_audio(struct fixture *fx, uint8_t fill)
{
    uint8_t p[RTP_HEADER_LEN + 160];
    rtp_write_header(p, false, 0, fx->seq, (uint32_t)fx->seq * 160u, 0x1234);
    fx->seq++;
    memset(p + RTP_HEADER_LEN, fill, 160);
    peer_send(&fx->peer, leg_port(fx->leg), p, sizeof(p));
}

static void send_event(struct fixture *fx, char digit, uint32_t ts, uint16_t dur, bool end)
{
    uint8_t p[RTP_HEADER_LEN + RFC4733_PAYLOAD_LEN];
    struct rfc4733_event ev = {
        .event = (uint8_t)rfc4733_code(digit), .end = end, .volume = 10, .duration = dur};
    rtp_write_header(p, dur == 160, 101, fx->seq++, ts, 0x1234);
    rfc4733_write(p + RTP_HEADER_LEN, &ev);
    peer_send(&fx->peer, leg_port(fx->leg), p, sizeof(p));
}

static void test_frames_both_ways(void **state)
{
    struct fixture *fx = *state;
    peer_reset(&fx->peer);
    struct seen s = {.leg = fx->leg};
    s.tap = leg_tap_add(fx->leg, &OPS, &s);
    assert_int_equal(leg_tap_count(fx->leg), 1);
    send_audio(fx, 0x55);
    send_audio(fx, 0x55);
    settle(fx);
    for (int i = 0; i < 4; i++)
        leg_tick(fx->leg);
    assert_int_equal(s.frames, 4);
    assert_int_equal(s.heard, 2); /* two frames arrived, two ticks found nothing */
    assert_int_equal(s.sent, 4);  /* silence mode sends every tick */
    int16_t want;
    codec_decode(codec_by_name("PCMU"), (const uint8_t[]){0x55}, &want, 1);
    assert_int_equal(s.first_in, want);
    assert_true(abs(s.first_out) < 16); /* PCMU silence decodes to (almost) zero */
    leg_tap_remove(fx->leg, s.tap);
    assert_int_equal(leg_tap_count(fx->leg), 0);
    leg_tick(fx->leg);
    assert_int_equal(s.frames, 4);
    assert_int_equal(s.closed, 0); /* removal does not call closed() */
    settle(fx);
    assert_int_equal(fx->peer.n, 5); /* the far end got every tick's packet */
}

static void test_digits_once_per_event(void **state)
{
    struct fixture *fx = *state;
    struct seen s = {.leg = fx->leg};
    s.tap = leg_tap_add(fx->leg, &OPS, &s);
    send_event(fx, '5', 8000, 160, false);
    send_event(fx, '5', 8000, 320, false);
    send_event(fx, '5', 8000, 480, true);
    send_event(fx, '5', 8000, 480, true);
    send_event(fx, '#', 9600, 160, false);
    settle(fx);
    assert_int_equal(s.ndigits, 2);
    assert_memory_equal(s.digits, "5#", 2);
    leg_tap_remove(fx->leg, s.tap);
}

static char gathered[32]; /* "digits:status" of the last gather_complete */

static void gather_event_cb(struct media_ctx *ctx, const struct leg_event *ev)
{
    (void)ctx;
    if (ev->type == LEG_EV_GATHER_COMPLETE)
        snprintf(gathered, sizeof(gathered), "%s:%s", ev->digits, ev->status);
}

/* leg_digit_in (a SIP INFO digit relayed by call-control): the taps and a running gather
 * hear it as they hear an RFC 4733 digit; what is not DTMF is ignored. */
static void test_digit_in_is_heard_like_rfc4733(void **state)
{
    struct fixture *fx = *state;
    fx->ctx.leg_event = gather_event_cb;
    gathered[0] = '\0';
    struct seen s = {.leg = fx->leg};
    s.tap = leg_tap_add(fx->leg, &OPS, &s);
    struct gather_params p = {.min_digits = 2,
                              .max_digits = 8,
                              .terminator = '#',
                              .timeout_ms = 5000,
                              .inter_digit_ms = 5000};
    leg_gather(fx->leg, &p, "g1", NULL, "voepy:cc:test");
    leg_digit_in(fx->leg, '4', 0);
    leg_digit_in(fx->leg, 'x', 0);
    leg_digit_in(fx->leg, '\0', 0);
    leg_digit_in(fx->leg, 'B', 0);
    assert_string_equal(gathered, "");
    leg_digit_in(fx->leg, '#', 0);
    assert_string_equal(gathered, "4B:valid");
    assert_int_equal(s.ndigits, 3);
    assert_memory_equal(s.digits, "4B#", 3);
    leg_tap_remove(fx->leg, s.tap);
}

static void test_remove_inside_callback_and_close(void **state)
{
    struct fixture *fx = *state;
    struct seen a = {.leg = fx->leg, .remove_self = true}, b = {.leg = fx->leg};
    a.tap = leg_tap_add(fx->leg, &OPS, &a);
    b.tap = leg_tap_add(fx->leg, &OPS, &b);
    leg_tick(fx->leg);
    leg_tick(fx->leg);
    assert_int_equal(a.frames, 1);
    assert_int_equal(b.frames, 2);
    assert_int_equal(leg_tap_count(fx->leg), 1);
    leg_close(fx->leg);
    assert_int_equal(b.closed, 1);
    assert_int_equal(a.closed, 0);
    leg_close(fx->leg); /* idempotent: closed() once */
    assert_int_equal(b.closed, 1);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(test_frames_both_ways, setup, teardown),
        cmocka_unit_test_setup_teardown(test_digits_once_per_event, setup, teardown),
        cmocka_unit_test_setup_teardown(test_digit_in_is_heard_like_rfc4733, setup, teardown),
        cmocka_unit_test_setup_teardown(test_remove_inside_callback_and_close, setup, teardown),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
