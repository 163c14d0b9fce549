/*
 * The send path of a leg: once per tick the leg's mode (its source) yields one frame,
 * which is stamped with our own SSRC, sequence number and timestamp and sent with
 * uv_udp_try_send from the engine's shared buffer. RTP is never queued: a packet the
 * socket refuses is dropped and counted, since a late frame is useless.
 *
 * Playback and DTMF events (leg_media.c) come first; otherwise the mode fills the tick.
 * A bridged leg sends its peer's audio instead of its mode (bridge.c): mostly as it
 * arrives, from the peer's receive path through leg__tx_send(), its tick then sending
 * nothing; a mixer would plug in here too. RTCP sender/receiver reports (RFC 3550 6.2,
 * about every 5 s) are sent from leg__tx_tick() by leg_rtcp.c to l->rtcp_addr (or the RTP
 * address + 1) on the same clock.
 */
#include "leg_internal.h"

#include <string.h>

#include "codec.h"
#include "voepy/crypto.h"
#include "voepy/metrics.h"

void leg__tx_init(struct leg *l)
{
    crypto_random(&l->ssrc, sizeof(l->ssrc));
    crypto_random(&l->seq, sizeof(l->seq));
    crypto_random(&l->ts, sizeof(l->ts));
    l->marker_next = true;
    leg__rtcp_init(l);
}

/* Timestamp units in one tick at the codec's clock: 160 (G.711, G.722), 960 (Opus). */
static uint32_t tick_samples(const struct leg *l)
{
    return codec_frame_ts(l->remote.codec) / 20u * MEDIA_TICK_MS;
}

/* This period's payload from the leg's mode, or NULL when there is nothing to send. */
static const uint8_t *next_frame(struct leg *l, size_t *len)
{
    switch (l->remote.mode) {
    case LEG_MODE_SILENCE: /* G.711's static frame, else zeros through our encoder */
        *len = 0;
        return l->codec ? codec_state_silence(l->codec, len) : NULL;
    case LEG_MODE_ECHO: {
        const struct frame *f = l->ring ? frame_ring_pop(l->ring) : NULL;
        *len = f ? f->len : 0;
        return f ? f->data : NULL;
    }
    }
    return NULL;
}

/* The latched source once the far end has spoken, else its SDP address. */
static const struct sockaddr *destination(const struct leg *l)
{
    return (const struct sockaddr *)(l->latched ? &l->latch_addr : &l->remote.addr);
}

void leg__tx_send(struct leg *l, const struct leg_frame *f)
{
    uint8_t *out = l->ctx->tx_buf;
    if (f->len > sizeof(l->ctx->tx_buf) - RTP_HEADER_LEN)
        return;
    bool marker = f->event ? f->marker : l->marker_next;
    rtp_write_header(out, marker, f->pt, l->seq, f->ts, l->ssrc);
    memcpy(out + RTP_HEADER_LEN, f->payload, f->len);
    uv_buf_t b = uv_buf_init((char *)out, (unsigned)(RTP_HEADER_LEN + f->len));
    int rc = uv_udp_try_send(&l->rtp, &b, 1, destination(l));
    if (rc < 0) {
        metric_inc(l->ctx->metrics.send_errors);
        return; /* not sent: seq is not used up, the marker stays pending */
    }
    l->seq++;
    l->marker_next = f->event; /* audio after an event starts a new talkspurt */
    l->counters.packets_out++;
    l->counters.bytes_out += (uint64_t)rc;
    metric_inc(l->ctx->metrics.packets_out);
    metric_add(l->ctx->metrics.bytes_out, rc);
}

void leg__tx_tick(struct leg *l)
{
    struct leg_frame f = {.pt = l->remote.pt, .ts = l->ts};
    bool media = l->media && leg__media_frame(l, &f); /* DTMF or playback wins */
    if (!media && l->inject)
        media = leg__inject_frame(l, &f); /* then injected audio (leg_inject.c) */
    bool bridged = !media && l->bridge;
    bool on_receipt = false; /* the bridged audio went out as it arrived (bridge.c) */
    if (media && l->bridge)
        bridge__yield(l);
    if (bridged)
        on_receipt = !bridge__frame(l, &f);
    else if (!media)
        f.payload = next_frame(l, &f.len);
    if (l->remote.hold)
        f.payload = NULL; /* held by the far end: nothing goes out, the clock runs on */
    if (f.payload)
        leg__tx_send(l, &f);
    else if (!on_receipt)
        l->marker_next = true; /* silence gap: the next packet starts a talkspurt */
    if (bridged && f.payload && !f.event && !l->remote.hold) {
        /* The peer's audio backed up: a second frame, a period later on our clock. */
        struct leg_frame g = {.pt = l->remote.pt, .ts = l->ts + tick_samples(l)};
        if (bridge__catch_up(l, &g)) {
            leg__tx_send(l, &g);
            l->ts += tick_samples(l);
        }
    }
    if (l->taps) {
        bool audio = f.payload && !f.event;
        leg__tap_tick(l, audio ? f.payload : NULL, audio ? f.len : 0);
    }
    leg__rtcp_tick(l); /* SR/RR when due (leg_rtcp.c); l->ts is this period's time */
    /* The timestamp follows the clock whether or not this period was sent. */
    l->ts += tick_samples(l);
}
