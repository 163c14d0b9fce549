/*
 * Two legs joined (bridge.h). Audio heard on one leg goes out on its peer as it arrives
 * (forward on receipt): re-stamped with the peer's SSRC and sequence, its timestamp moved
 * onto the peer's clock by an offset taken when forwarding began, transcoded only when
 * the codecs differ. That is one send per packet received, in the same wake-up, with no
 * copy kept: the path rtpengine takes, and the one that keeps up when the loop is full
 * (a tick-paced relay sends its frames in one burst per period and, late, falls behind).
 *
 * The peer's 20 ms tick takes over whenever the peer's audio is not just the bridged one:
 * a playback, DTMF or injected audio of its own (which win), taps that need what it sent
 * each tick, a hold, an RFC 4733 event being relayed, or codecs whose clocks differ.
 * Then each side holds what its own far end sent (audio in a frame ring, the current
 * event in a relay record) and the peer's tick takes from there. Switching either way
 * starts a talkspurt (marker bit); audio left in the ring when forwarding resumes is
 * older than what just arrived and is dropped.
 *
 * The two sides are allocated and freed together; a leg's side is reachable only through
 * l->bridge, which both legs clear before the memory goes.
 */
#include "bridge.h"

#include <stdlib.h>
#include <string.h>

#include "codec.h"
#include "leg_internal.h"
#include "rfc4733.h"
#include "voepy/alloc.h"
#include "voepy/err.h"
#include "voepy/log.h"

/* An RFC 4733 event heard on one leg, being sent on the other. */
enum relay_state {
    RELAY_IDLE,    /* nothing heard yet */
    RELAY_SENDING, /* heard: the peer sends it every tick */
    RELAY_DONE,    /* its end went out three times; repeats of it are ignored */
};

struct dtmf_relay {
    enum relay_state state;
    uint32_t src_ssrc, src_ts; /* identify the event on the leg that heard it */
    uint8_t code, volume;
    uint16_t duration; /* the longest heard so far */
    bool ended;        /* the source's end packet arrived */
    bool started;      /* the first packet (marker) went out on the peer */
    uint32_t start_ts; /* on the peer's RTP clock */
    unsigned ends_sent;
};

struct leg_bridge {
    struct leg *peer;
    struct frame_ring heard; /* audio from this leg's far end, for the peer to send */
    struct dtmf_relay relay; /* an event from this leg's far end, for the peer to send */
    /* This leg sends the peer's audio as it arrives (else on its tick, from the ring). */
    bool direct;
    uint32_t direct_ssrc; /* the stream ts_offset was taken from */
    uint32_t ts_offset;   /* our timestamp = the received one + ts_offset */
    /* Scratch for what this leg sends: a transcoded frame, an event payload. */
    int16_t pcm[FRAME_MAX_BYTES];
    uint8_t out[FRAME_MAX_BYTES];
    uint8_t ev[RFC4733_PAYLOAD_LEN];
};

static struct leg_bridge *side_new(struct leg *peer)
{
    struct leg_bridge *b = VP_NEW(b);
    b->peer = peer;
    frame_ring_reset(&b->heard);
    return b;
}

void bridge_leave(struct leg *l)
{
    if (!l->bridge)
        return;
    struct leg *peer = l->bridge->peer;
    log_info("media.unbridged", "leg %s and leg %s are no longer bridged", l->id, peer->id);
    free(peer->bridge);
    peer->bridge = NULL;
    peer->marker_next = true; /* the mode's audio starts a new talkspurt */
    free(l->bridge);
    l->bridge = NULL;
    l->marker_next = true;
}

int bridge_join(struct leg *a, struct leg *b)
{
    if (a == b || a->state == LEG_CLOSING || b->state == LEG_CLOSING)
        return VP_E_INVALID_PARAMETER;
    if (a->bridge && a->bridge->peer == b)
        return 0; /* already: a repeated command */
    bridge_leave(a);
    bridge_leave(b);
    a->bridge = side_new(b);
    b->bridge = side_new(a);
    log_info("media.bridged", "leg %s and leg %s are bridged", a->id, b->id);
    leg_touch(a);
    leg_touch(b);
    return 0;
}

struct leg *bridge_peer(const struct leg *l)
{
    return l->bridge ? l->bridge->peer : NULL;
}

/* ---- transcoding -------------------------------------------------------------------- */

/* The peer's frame in l's codec: as is when both speak the same, else transcoded. */
static void audio_frame(struct leg *l, const uint8_t *in, size_t in_len, struct leg_frame *f)
{
    struct leg_bridge *b = l->bridge;
    const struct codec *from = b->peer->remote.codec;
    f->len = in_len;
    if (!from || from == l->remote.codec) {
        f->payload = in; /* same codec (G.722 and Opus too): relayed unchanged */
        return;
    }
    /* The peer's own relay decoder (its far end's stream), then our encoder: 20 ms at
     * 8 kHz in between; a longer G.711 frame keeps its length through G.711. */
    f->payload = NULL;
    f->len = 0;
    if (!b->peer->codec || !l->codec)
        return;
    int n =
        codec_state_decode(b->peer->codec, CODEC_DEC_RELAY, in, in_len, b->pcm, FRAME_MAX_BYTES);
    if (n <= 0)
        return;
    if (!from->stateful && !l->remote.codec->stateful) {
        codec_encode(l->remote.codec, b->pcm, b->out, (size_t)n);
        f->len = (size_t)n;
    } else {
        if (n < CODEC_FRAME_SAMPLES) /* a short frame: padded with silence */
            memset(b->pcm + n, 0, (CODEC_FRAME_SAMPLES - (size_t)n) * sizeof(b->pcm[0]));
        int len = codec_state_encode(l->codec, b->pcm, b->out, sizeof(b->out));
        f->len = len > 0 ? (size_t)len : 0;
    }
    f->payload = f->len ? b->out : NULL;
}

/* ---- receive: what this leg's far end sent ---------------------------------------- */

static void relay_heard(struct dtmf_relay *r, const struct rtp_hdr *h)
{
    struct rfc4733_event ev;
    if (rfc4733_parse(h->payload, h->payload_len, &ev))
        return;
    bool same = r->state != RELAY_IDLE && r->src_ssrc == h->ssrc && r->src_ts == h->ts;
    if (same) {
        if (r->state == RELAY_DONE)
            return; /* the end's repeats, or a late update */
        if (ev.duration > r->duration)
            r->duration = ev.duration;
        r->ended |= ev.end;
        return;
    }
    *r = (struct dtmf_relay){.state = RELAY_SENDING,
                             .src_ssrc = h->ssrc,
                             .src_ts = h->ts,
                             .code = ev.event,
                             .volume = ev.volume,
                             .duration = ev.duration,
                             .ended = ev.end};
}

/* Whether src's audio can go out on dst as it arrives (see the top of the file). */
static bool on_receipt(const struct leg *src, const struct leg *dst)
{
    const struct codec *from = src->remote.codec, *to = dst->remote.codec;
    bool same_clock = from == to || (from && to && !from->stateful && !to->stateful);
    return same_clock && dst->state == LEG_CONNECTED && !dst->remote.hold && !dst->taps &&
           src->bridge->relay.state != RELAY_SENDING && !leg__media_sending(dst) &&
           !leg__inject_pending(dst);
}

/* dst's tick sends the bridged audio again: its next packet starts a talkspurt. */
static void direct_stop(struct leg *dst)
{
    if (!dst->bridge->direct)
        return;
    dst->bridge->direct = false;
    dst->marker_next = true;
}

/* Send h's audio on dst now, on dst's stream and clock. */
static void forward(struct leg *dst, const struct rtp_hdr *h)
{
    struct leg_bridge *b = dst->bridge;
    if (!b->direct || b->direct_ssrc != h->ssrc) {
        /* Continue dst's clock from here: the first packet takes the time its tick would
         * have given it. What waited for the tick is older than this: dropped. */
        b->direct = true;
        b->direct_ssrc = h->ssrc;
        b->ts_offset = dst->ts - h->ts;
        dst->marker_next = true;
        frame_ring_reset(&b->peer->bridge->heard);
    } else if (h->marker) {
        dst->marker_next = true; /* the far end's talkspurt starts ours */
    }
    struct leg_frame f = {.pt = dst->remote.pt, .ts = h->ts + b->ts_offset};
    audio_frame(dst, h->payload, h->payload_len, &f);
    if (f.payload)
        leg__tx_send(dst, &f);
}

void bridge__rx(struct leg *l, const struct rtp_hdr *h)
{
    struct leg_bridge *b = l->bridge;
    if (h->pt == l->remote.pt) {
        if (on_receipt(l, b->peer)) {
            forward(b->peer, h);
            return;
        }
        direct_stop(b->peer);
        frame_ring_push(&b->heard, h->payload, h->payload_len);
    } else if (h->pt == l->remote.te_pt) {
        relay_heard(&b->relay, h);
    }
}

/* ---- send: what the peer's far end sent, on this leg ------------------------------- */

/* The relayed event's packet for this tick, on l's clock and payload type. */
static void relay_frame(struct leg *l, struct dtmf_relay *r, struct leg_frame *f)
{
    struct leg_bridge *b = l->bridge;
    f->marker = !r->started;
    if (!r->started) {
        r->started = true;
        r->start_ts = l->ts;
    }
    struct rfc4733_event ev = {
        .event = r->code, .end = r->ended, .volume = r->volume, .duration = r->duration};
    rfc4733_write(b->ev, &ev);
    if (r->ended && ++r->ends_sent >= 3)
        r->state = RELAY_DONE;
    f->payload = b->ev;
    f->len = sizeof(b->ev);
    f->pt = l->remote.te_pt;
    f->ts = r->start_ts;
    f->event = true;
}

/*
 * One frame goes out per tick, and one arrives per period, but not in step: a packet
 * that lands just after the tick it was meant for leaves that tick with nothing, and the
 * next tick finds two. Without catching up each such crossing would add a frame of
 * delay for good, until the ring is full and drops audio (seen: 6 % loss at 500 bridged
 * calls in tests/bench/media). So when more than BACKLOG frames wait, a second one goes
 * out in the same tick; the delay stays under BACKLOG + 1 periods.
 */
#define BACKLOG 2

bool bridge__catch_up(struct leg *l, struct leg_frame *f)
{
    struct leg_bridge *src = l->bridge->peer->bridge;
    if (src->relay.state == RELAY_SENDING || src->heard.count <= BACKLOG)
        return false;
    const struct frame *in = frame_ring_pop(&src->heard);
    audio_frame(l, in->data, in->len, f);
    return true;
}

bool bridge__frame(struct leg *l, struct leg_frame *f)
{
    struct leg_bridge *src = l->bridge->peer->bridge;
    if (src->relay.state == RELAY_SENDING) {
        direct_stop(l);
        relay_frame(l, &src->relay, f);
        return true;
    }
    if (l->bridge->direct)
        return false; /* the peer's audio goes out as it arrives */
    const struct frame *in = frame_ring_pop(&src->heard);
    if (in) /* else nothing heard: nothing sent, a gap as the far end's own would be */
        audio_frame(l, in->data, in->len, f);
    return true;
}

void bridge__yield(struct leg *l)
{
    direct_stop(l);
}
