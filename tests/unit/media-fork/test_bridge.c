/*
 * Bridged legs (bridge.h): two real legs on loopback, each with its far end
 * (rtp_peer.h), ticked by hand. Checks that audio crosses both ways re-stamped with the
 * sending leg's own stream, as it arrives (or on the tick while the sending leg's own
 * media, a tap or a hold needs it), that a flood is read at the per-tick budget and bad
 * datagrams are refused, that PCMU and PCMA are transcoded, that an RFC 4733 digit is
 * sent again on the other leg (its payload type and clock, marker once, end three times)
 * and heard once, that a SIP INFO digit goes on as an RFC 4733 event, that the leg's own
 * DTMF wins over the bridge, that taps see the bridged audio as `out`, and that
 * releasing one leg unbridges the other.
 */
#include "vp_test.h"

#include <stdlib.h>

#include "bridge.h"
#include "codec.h"
#include "command.h"
#include "leg.h"
#include "leg_tap.h"
#include "media_ctx.h"
#include "port_pool.h"
#include "rfc4733.h"
#include "rtp_peer.h"
#include "udp_pair.h"

#define SRC_SSRC 0x1234u

/* Telephone-event packets a far end received (payload kept, unlike rtp_peer's). */
struct events {
    int n;
    struct rtp_hdr h[32];
    struct rfc4733_event ev[32];
};

struct fixture {
    uv_loop_t loop;
    struct media_ctx ctx;
    struct peer pa, pb;
    struct leg *la, *lb;
    uint16_t seq;
    struct events eb; /* telephone-events b's far end got */
};

static struct fixture *current;

static void events_recv_cb(uv_udp_t *h, ssize_t nread, const uv_buf_t *buf,
                           const struct sockaddr *from, unsigned flags)
{
    peer_recv_cb(h, nread, buf, from, flags);
    struct rtp_hdr rh;
    struct events *e = &current->eb;
    if (nread <= 0 || rtp_parse(rxbuf, (size_t)nread, &rh, NULL) || rh.pt != 96 || e->n >= 32)
        return;
    assert_int_equal(rfc4733_parse(rh.payload, rh.payload_len, &e->ev[e->n]), 0);
    e->h[e->n++] = rh;
}

static void connect_leg(struct leg *l, struct peer *p, const char *codec, uint8_t te_pt)
{
    struct leg_remote r = {.codec = codec_by_name(codec),
                           .pt = codec_by_name(codec)->static_pt,
                           .ptime_ms = 20,
                           .mode = LEG_MODE_SILENCE,
                           .te_pt = te_pt};
    assert_int_equal(udp_addr_parse("127.0.0.1", p->port, &r.addr), 0);
    leg_connect(l, &r);
}

static struct fixture *open_fixture(const char *codec_b)
{
    struct fixture *fx = calloc(1, sizeof(*fx));
    current = fx;
    uv_loop_init(&fx->loop);
    fx->ctx.loop = &fx->loop;
    assert_int_equal(udp_addr_parse("127.0.0.1", 0, &fx->ctx.media_addr), 0);
    assert_int_equal(port_pool_create(&fx->ctx.ports, 42000, 42999), 0);
    media_metrics_init(&fx->ctx.metrics);
    peer_open(&fx->pa, &fx->loop);
    peer_open(&fx->pb, &fx->loop);
    uv_udp_recv_stop(&fx->pb.udp);
    assert_int_equal(uv_udp_recv_start(&fx->pb.udp, peer_alloc_cb, events_recv_cb), 0);
    assert_int_equal(leg_open(&fx->la, &fx->ctx, "voepy_leg_a", "voepy_call_a", ""), 0);
    assert_int_equal(leg_open(&fx->lb, &fx->ctx, "voepy_leg_b", "voepy_call_b", ""), 0);
    connect_leg(fx->la, &fx->pa, "PCMU", 101);
    connect_leg(fx->lb, &fx->pb, codec_b, 96);
    assert_int_equal(bridge_join(fx->la, fx->lb), 0);
    peer_reset(&fx->pb);
    return fx;
}

static int setup_pcmu(void **state)
{
    *state = open_fixture("PCMU");
    return 0;
}

static int setup_pcma(void **state)
{
    *state = open_fixture("PCMA");
    return 0;
}

static int teardown(void **state)
{
    struct fixture *fx = *state;
    if (fx->la)
        leg_close(fx->la);
    leg_close(fx->lb);
    uv_close((uv_handle_t *)&fx->pa.udp, NULL);
    uv_close((uv_handle_t *)&fx->pb.udp, NULL);
    vp_test_loop_done(&fx->loop);
    port_pool_destroy(fx->ctx.ports);
    free(fx);
    return 0;
}

static void settle(struct fixture *fx)
{
    bool never = false;
    vp_test_run_until(&fx->loop, &never, 15);
}

static void tick(struct fixture *fx, int n)
{
    for (int i = 0; i < n; i++) {
        leg_tick(fx->la);
        leg_tick(fx->lb);
    }
    settle(fx);
}

/* 20 ms of audio, every byte fill, from far end p to leg l (payload type pt). */
static void send_audio(struct fixture *fx, struct peer *p, struct leg *l, uint8_t pt, uint8_t fill)
{
    uint8_t pkt[RTP_HEADER_LEN + 160];
    rtp_write_header(pkt, false, pt, fx->seq, (uint32_t)fx->seq * 160u, SRC_SSRC);
    fx->seq++;
    memset(pkt + RTP_HEADER_LEN, fill, 160);
    peer_send(p, leg_port(l), pkt, sizeof(pkt));
}

static void send_event(struct fixture *fx, char digit, uint32_t ts, uint16_t dur, bool end)
{
    uint8_t pkt[RTP_HEADER_LEN + RFC4733_PAYLOAD_LEN];
    struct rfc4733_event ev = {
        .event = (uint8_t)rfc4733_code(digit), .end = end, .volume = 10, .duration = dur};
    rtp_write_header(pkt, dur == 160, 101, fx->seq++, ts, SRC_SSRC);
    rfc4733_write(pkt + RTP_HEADER_LEN, &ev);
    peer_send(&fx->pa, leg_port(fx->la), pkt, sizeof(pkt));
}

struct tapped {
    int out_sent;
    int16_t out0;
};

static void tap_frame_cb(void *arg, const struct leg_tap_frame *f)
{
    struct tapped *t = arg;
    if (f->out_sent && !t->out_sent++)
        t->out0 = f->out[0];
}

static const struct leg_tap_ops TAP = {tap_frame_cb, NULL, NULL};

/* The packets a far end got since pk: one RTP stream (its own SSRC, seq running on). */
static void assert_one_stream(const struct peer *p, int from, int n)
{
    for (int i = from; i < from + n; i++) {
        assert_int_not_equal(p->pkts[i].h.ssrc, SRC_SSRC); /* re-stamped, not forwarded */
        assert_int_equal(p->pkts[i].h.ssrc, p->pkts[from].h.ssrc);
        assert_int_equal((uint16_t)(p->pkts[i].h.seq - p->pkts[from].h.seq), i - from);
    }
}

static void test_audio_both_ways(void **state)
{
    struct fixture *fx = *state;
    assert_ptr_equal(bridge_peer(fx->la), fx->lb);
    assert_ptr_equal(bridge_peer(fx->lb), fx->la);
    struct tapped t = {0};
    struct leg_tap *tap = leg_tap_add(fx->lb, &TAP, &t);
    for (int i = 0; i < 3; i++)
        send_audio(fx, &fx->pa, fx->la, 0, 0x55);
    for (int i = 0; i < 2; i++)
        send_audio(fx, &fx->pb, fx->lb, 0, 0x66);
    settle(fx);
    tick(fx, 5);
    /* A bridged leg sends what its peer heard, and nothing when it heard nothing. */
    assert_int_equal(fx->pb.n, 3);
    assert_int_equal(fx->pa.n, 2);
    for (int i = 0; i < 3; i++) {
        assert_int_equal(fx->pb.pkts[i].h.pt, 0);
        assert_true(fx->pb.pkts[i].uniform);
        assert_int_equal(fx->pb.pkts[i].first, 0x55);
    }
    assert_int_equal(fx->pa.pkts[1].first, 0x66);
    assert_one_stream(&fx->pb, 0, 3);
    assert_one_stream(&fx->pa, 0, 2);
    assert_int_not_equal(fx->pa.pkts[0].h.ssrc, fx->pb.pkts[0].h.ssrc);
    /* The tap on b sees a's far end's audio as what b sent. */
    int16_t want;
    codec_decode(codec_by_name("PCMU"), (const uint8_t[]){0x55}, &want, 1);
    assert_int_equal(t.out_sent, 3);
    assert_int_equal(t.out0, want);
    leg_tap_remove(fx->lb, tap);
    /* Bridging a leg to itself is refused; the same pair again is a no-op. */
    assert_int_equal(bridge_join(fx->la, fx->la), VP_E_INVALID_PARAMETER);
    assert_int_equal(bridge_join(fx->lb, fx->la), 0);
    assert_ptr_equal(bridge_peer(fx->la), fx->lb);
}

/* Audio goes out as it arrives, before any tick, on b's own stream: one talkspurt on
 * b's clock (the received timestamps moved by one offset), the far end's marker passed
 * on; the ticks in between send nothing and open no gap. */
static void test_forwards_on_receipt(void **state)
{
    struct fixture *fx = *state;
    for (int i = 0; i < 3; i++)
        send_audio(fx, &fx->pa, fx->la, 0, (uint8_t)(0x40 + i));
    settle(fx);
    assert_int_equal(fx->pb.n, 3);
    tick(fx, 2);
    assert_int_equal(fx->pb.n, 3);
    fx->seq += 10; /* the far end was silent for 200 ms: its next packet starts a talkspurt */
    uint8_t pkt[RTP_HEADER_LEN + 160];
    rtp_write_header(pkt, true, 0, fx->seq, (uint32_t)fx->seq * 160u, SRC_SSRC);
    memset(pkt + RTP_HEADER_LEN, 0x50, 160);
    peer_send(&fx->pa, leg_port(fx->la), pkt, sizeof(pkt));
    settle(fx);
    assert_int_equal(fx->pb.n, 4);
    assert_one_stream(&fx->pb, 0, 4);
    for (int i = 0; i < 3; i++) {
        assert_int_equal(fx->pb.pkts[i].first, 0x40 + i);
        assert_int_equal(fx->pb.pkts[i].h.marker, i == 0);
        if (i)
            assert_int_equal(fx->pb.pkts[i].h.ts - fx->pb.pkts[i - 1].h.ts, 160);
    }
    assert_int_equal(fx->pb.pkts[3].first, 0x50);
    assert_true(fx->pb.pkts[3].h.marker);
    assert_int_equal(fx->pb.pkts[3].h.ts - fx->pb.pkts[2].h.ts, 11 * 160);
}

/* b's own DTMF takes b's send path back to its tick; the audio heard meanwhile waits
 * there (and goes out in the pause after the digit), and forwarding resumes: a new
 * talkspurt, later on b's clock. */
static void test_own_media_takes_over_and_gives_back(void **state)
{
    struct fixture *fx = *state;
    send_audio(fx, &fx->pa, fx->la, 0, 0x41);
    settle(fx);
    assert_int_equal(fx->pb.n, 1);
    assert_int_equal(leg_send_dtmf(fx->lb, "3", 40), 0);
    send_audio(fx, &fx->pa, fx->la, 0, 0x42);
    settle(fx);
    assert_int_equal(fx->pb.n, 1); /* not forwarded: b is sending its digit */
    tick(fx, 8);                   /* the digit (40 ms, its end three times) and its pause */
    struct events *e = &fx->eb;
    assert_true(e->n >= 3);
    assert_int_equal(e->ev[0].event, 3);
    int before = fx->pb.n;
    send_audio(fx, &fx->pa, fx->la, 0, 0x43);
    settle(fx);
    assert_int_equal(fx->pb.n, before + 1); /* forwarded again, at once */
    const struct pkt *last = &fx->pb.pkts[fx->pb.n - 1];
    assert_int_equal(last->first, 0x43);
    assert_int_equal(last->h.pt, 0);
    assert_true(last->h.marker);
    assert_int_equal(last->h.ssrc, fx->pb.pkts[0].h.ssrc);
    assert_true((int32_t)(last->h.ts - e->h[0].ts) > 0);
    assert_int_equal((last->h.ts - fx->pb.pkts[0].h.ts) % 160, 0);
    int waited = 0; /* the audio heard during the digit: sent once, by a tick of its pause */
    for (int i = 0; i < fx->pb.n; i++)
        waited += fx->pb.pkts[i].h.pt == 0 && fx->pb.pkts[i].first == 0x42;
    assert_int_equal(waited, 1);
}

/* A flood is read MEDIA_RX_PER_TICK datagrams per tick: the rest waits in the socket
 * and is read by the next ticks (its socket is edge-triggered: no new report comes for
 * it, the tick resumes reading by itself). What is read is forwarded at once. */
static void test_read_budget_per_tick(void **state)
{
    struct fixture *fx = *state;
    for (int i = 0; i < 40; i++)
        send_audio(fx, &fx->pa, fx->la, 0, 0x41);
    settle(fx);
    assert_int_equal(leg_counters(fx->la)->packets_in, MEDIA_RX_PER_TICK);
    assert_int_equal(fx->pb.n, MEDIA_RX_PER_TICK);
    tick(fx, 1);
    assert_int_equal(leg_counters(fx->la)->packets_in, 2 * MEDIA_RX_PER_TICK);
    tick(fx, 1);
    assert_int_equal(leg_counters(fx->la)->packets_in, 40);
    assert_int_equal(fx->pb.n, 40);
    assert_one_stream(&fx->pb, 0, 40);
    send_audio(fx, &fx->pa, fx->la, 0, 0x42); /* under budget: read on arrival again */
    settle(fx);
    assert_int_equal(leg_counters(fx->la)->packets_in, 41);
}

/* A datagram larger than RTP_MAX_PACKET (read truncated) and a malformed one are refused
 * and counted, in the middle of a batch of good ones, which still go through. */
static void test_bad_datagrams_refused(void **state)
{
    struct fixture *fx = *state;
    static uint8_t big[RTP_MAX_PACKET + 200];
    rtp_write_header(big, false, 0, 999, 999 * 160u, SRC_SSRC);
    send_audio(fx, &fx->pa, fx->la, 0, 0x41);
    peer_send(&fx->pa, leg_port(fx->la), big, sizeof(big));
    peer_send(&fx->pa, leg_port(fx->la), (const uint8_t[]){0x80, 0}, 2);
    send_audio(fx, &fx->pa, fx->la, 0, 0x42);
    settle(fx);
    assert_int_equal(leg_counters(fx->la)->packets_in, 2);
    assert_int_equal(leg_counters(fx->la)->invalid_in, 2);
    assert_int_equal(fx->pb.n, 2);
    assert_int_equal(fx->pb.pkts[0].first, 0x41);
    assert_int_equal(fx->pb.pkts[1].first, 0x42);
}

/* A far end that holds the call gets nothing, bridged audio included. */
static void test_hold_stops_forwarding(void **state)
{
    struct fixture *fx = *state;
    struct leg_remote r = {.codec = codec_by_name("PCMU"),
                           .pt = 0,
                           .ptime_ms = 20,
                           .mode = LEG_MODE_SILENCE,
                           .te_pt = 96,
                           .hold = true};
    assert_int_equal(udp_addr_parse("127.0.0.1", fx->pb.port, &r.addr), 0);
    leg_connect(fx->lb, &r);
    peer_reset(&fx->pb);
    send_audio(fx, &fx->pa, fx->la, 0, 0x41);
    settle(fx);
    tick(fx, 2);
    assert_int_equal(fx->pb.n, 0);
}

/* Audio that backs up for b's tick (packets bunched, or late for their tick: b has a tap,
 * so it sends on its tick) is caught up, not lost: past two frames waiting, a tick sends
 * a second one, on one stream, a period apart. */
static void test_backlog_is_caught_up_not_dropped(void **state)
{
    struct fixture *fx = *state;
    struct tapped t = {0};
    leg_tap_add(fx->lb, &TAP, &t);
    for (int i = 0; i < 6; i++)
        send_audio(fx, &fx->pa, fx->la, 0, (uint8_t)(0x40 + i));
    settle(fx);
    tick(fx, 3);
    assert_int_equal(fx->pb.n, 5); /* 1+1, 1+1, 1: two waiting are left alone */
    tick(fx, 3);
    assert_int_equal(fx->pb.n, 6);
    assert_one_stream(&fx->pb, 0, 6);
    for (int i = 0; i < 6; i++) {
        assert_int_equal(fx->pb.pkts[i].first, 0x40 + i); /* in order, none lost */
        if (i)
            assert_int_equal(fx->pb.pkts[i].h.ts - fx->pb.pkts[i - 1].h.ts, 160);
    }
}

static void test_transcodes_pcmu_pcma(void **state)
{
    struct fixture *fx = *state;
    send_audio(fx, &fx->pa, fx->la, 0, 0x55); /* PCMU in on a ... */
    send_audio(fx, &fx->pb, fx->lb, 8, 0xd5); /* PCMA in on b ... */
    settle(fx);
    tick(fx, 2);
    int16_t pcm;
    uint8_t alaw, ulaw;
    codec_decode(codec_by_name("PCMU"), (const uint8_t[]){0x55}, &pcm, 1);
    codec_encode(codec_by_name("PCMA"), &pcm, &alaw, 1);
    codec_decode(codec_by_name("PCMA"), (const uint8_t[]){0xd5}, &pcm, 1);
    codec_encode(codec_by_name("PCMU"), &pcm, &ulaw, 1);
    assert_int_equal(fx->pb.n, 1); /* ... goes out PCMA on b */
    assert_int_equal(fx->pb.pkts[0].h.pt, 8);
    assert_true(fx->pb.pkts[0].uniform);
    assert_int_equal(fx->pb.pkts[0].first, alaw);
    assert_int_not_equal(alaw, 0x55);
    assert_int_equal(fx->pa.n, 1); /* ... goes out PCMU on a */
    assert_int_equal(fx->pa.pkts[0].h.pt, 0);
    assert_int_equal(fx->pa.pkts[0].first, ulaw);
}

static void test_dtmf_passes_through_once(void **state)
{
    struct fixture *fx = *state;
    send_event(fx, '5', 8000, 160, false);
    settle(fx);
    tick(fx, 1);
    send_event(fx, '5', 8000, 320, false);
    settle(fx);
    tick(fx, 1);
    for (int i = 0; i < 3; i++)
        send_event(fx, '5', 8000, 480, true);
    settle(fx);
    tick(fx, 5);
    send_event(fx, '5', 8000, 480, true); /* a late repeat of the end: not a new event */
    settle(fx);
    tick(fx, 2);
    struct events *e = &fx->eb;
    assert_int_equal(e->n, 5);     /* start, update, end x3 */
    assert_int_equal(fx->pb.n, 5); /* and no audio in their place */
    struct rfc4733_rx rx = {0};
    int digits = 0, ends = 0;
    for (int i = 0; i < e->n; i++) {
        assert_int_equal(e->ev[i].event, 5);
        assert_int_equal(e->h[i].ts, e->h[0].ts); /* the event's start, on b's clock */
        assert_int_equal(e->h[i].marker, i == 0);
        assert_int_not_equal(e->h[i].ssrc, SRC_SSRC);
        ends += e->ev[i].end;
        digits += rfc4733_rx_packet(&rx, e->h[i].ssrc, e->h[i].ts, &e->ev[i]) != 0;
    }
    assert_int_equal(ends, 3);
    assert_int_equal(digits, 1);
    assert_int_equal(e->ev[4].duration, 480);
    /* b's own DTMF wins over the bridged audio. */
    send_audio(fx, &fx->pa, fx->la, 0, 0x55);
    assert_int_equal(leg_send_dtmf(fx->lb, "7", 40), 0);
    settle(fx);
    tick(fx, 1);
    assert_int_equal(e->n, 6);
    assert_int_equal(e->ev[5].event, 7);
    assert_int_not_equal(e->h[5].ts, e->h[0].ts);
}

/* A digit a's far end sent by SIP INFO (digit_in) goes on to b's far end as an RFC 4733
 * event on b's payload type, as long as INFO said (rounded up to ticks). */
static void test_info_digit_is_relayed(void **state)
{
    struct fixture *fx = *state;
    leg_digit_in(fx->la, '9', 60);
    tick(fx, 6);
    struct events *e = &fx->eb;
    assert_int_equal(e->n, 5); /* 60 ms: 3 packets, the last with E, sent 3 times */
    for (int i = 0; i < e->n; i++) {
        assert_int_equal(e->ev[i].event, 9);
        assert_int_equal(e->h[i].marker, i == 0);
        assert_int_equal(e->ev[i].end, i >= 2);
    }
    assert_int_equal(e->ev[4].duration, 480);
    leg_digit_in(fx->la, 'x', 60); /* not a digit: nothing */
    tick(fx, 8);
    assert_int_equal(e->n, 5);
}

static void test_release_unbridges(void **state)
{
    struct fixture *fx = *state;
    leg_close(fx->la);
    fx->la = NULL; /* freed by the loop */
    assert_null(bridge_peer(fx->lb));
    leg_tick(fx->lb);
    settle(fx);
    assert_int_equal(fx->pb.n, 1); /* b is back to its mode: silence */
    assert_true(fx->pb.pkts[0].uniform);
    assert_int_equal(fx->pb.pkts[0].first, codec_silence_frame(codec_by_name("PCMU"))[0]);
    /* unbridge of a leg with no peer is harmless */
    bridge_leave(fx->lb);
}

static void test_command_fields(void **state)
{
    (void)state;
    struct mf_command c;
    struct vp_error e;
    const char *ok = "{\"op\":\"bridge\",\"leg_id\":\"voepy_leg_a\",\"peer_leg_id\":"
                     "\"voepy_leg_b\",\"reply_to\":\"voepy:cc:n1\"}";
    assert_int_equal(command_parse(ok, strlen(ok), &c, &e), 0);
    assert_int_equal(c.op, MF_OP_BRIDGE);
    assert_string_equal(c.peer_leg_id, "voepy_leg_b");
    const char *no_peer = "{\"op\":\"bridge\",\"leg_id\":\"voepy_leg_a\"}";
    assert_int_equal(command_parse(no_peer, strlen(no_peer), &c, &e), VP_E_INVALID_PARAMETER);
    assert_string_equal(e.field, "peer_leg_id");
    const char *un = "{\"op\":\"unbridge\",\"leg_id\":\"voepy_leg_a\"}";
    assert_int_equal(command_parse(un, strlen(un), &c, &e), 0);
    assert_int_equal(c.op, MF_OP_UNBRIDGE);
    assert_string_equal(command_op_name(MF_OP_UNBRIDGE), "unbridge");
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(test_audio_both_ways, setup_pcmu, teardown),
        cmocka_unit_test_setup_teardown(test_forwards_on_receipt, setup_pcmu, teardown),
        cmocka_unit_test_setup_teardown(test_own_media_takes_over_and_gives_back, setup_pcmu,
                                        teardown),
        cmocka_unit_test_setup_teardown(test_hold_stops_forwarding, setup_pcmu, teardown),
        cmocka_unit_test_setup_teardown(test_read_budget_per_tick, setup_pcmu, teardown),
        cmocka_unit_test_setup_teardown(test_bad_datagrams_refused, setup_pcmu, teardown),
        cmocka_unit_test_setup_teardown(test_backlog_is_caught_up_not_dropped, setup_pcmu,
                                        teardown),
        cmocka_unit_test_setup_teardown(test_transcodes_pcmu_pcma, setup_pcma, teardown),
        cmocka_unit_test_setup_teardown(test_dtmf_passes_through_once, setup_pcmu, teardown),
        cmocka_unit_test_setup_teardown(test_info_digit_is_relayed, setup_pcmu, teardown),
        cmocka_unit_test_setup_teardown(test_release_unbridges, setup_pcmu, teardown),
        cmocka_unit_test(test_command_fields),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
