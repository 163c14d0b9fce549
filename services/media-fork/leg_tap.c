/*
 * Taps on a leg's audio (leg_tap.h). The receive path copies each audio payload into a
 * FIFO of its own while taps exist (the echo/bridge ring is consumed by the send path, so
 * taps cannot share it); the send path hands over the frame it just sent. Once per tick
 * both are decoded and every tap gets the pair.
 *
 * Taps may remove themselves, or others, while the list is walked: removal then only
 * marks the tap, and the walk's end sweeps marked ones. Nothing here allocates per
 * packet; a tap's record and the FIFO are allocated when the tap is added.
 */
#include <stdlib.h>
#include <string.h>

#include "codec.h"
#include "leg_internal.h"
#include "leg_tap.h"
#include "rfc4733.h"
#include "voepy/alloc.h"

#define TAP_SAMPLES FRAME_MAX_BYTES     /* decode room: up to 60 ms at 8 kHz */
#define TAP_FRAME   CODEC_FRAME_SAMPLES /* what taps get per tick: 20 ms; longer frames are cut */

struct leg_tap {
    const struct leg_tap_ops *ops;
    void *arg;
    struct leg_tap *next;
    bool removed;
};

struct leg_taps {
    struct leg_tap *head;
    unsigned count;
    unsigned walking; /* > 0 while callbacks run: removal is deferred */
    struct frame_ring in;
    struct rfc4733_rx events;
    int16_t in_pcm[TAP_SAMPLES], out_pcm[TAP_SAMPLES];
};

struct leg_tap *leg_tap_add(struct leg *l, const struct leg_tap_ops *ops, void *arg)
{
    if (!l->taps) {
        l->taps = VP_NEW(l->taps);
        frame_ring_reset(&l->taps->in);
    }
    struct leg_tap *t = VP_NEW(t);
    t->ops = ops;
    t->arg = arg;
    t->next = l->taps->head;
    l->taps->head = t;
    l->taps->count++;
    return t;
}

/* Unlink and free the taps marked removed; free the state when none is left. */
static void sweep(struct leg *l)
{
    struct leg_taps *ts = l->taps;
    if (ts->walking)
        return; /* the outermost walk sweeps */
    for (struct leg_tap **pp = &ts->head; *pp;) {
        struct leg_tap *t = *pp;
        if (!t->removed) {
            pp = &t->next;
            continue;
        }
        *pp = t->next;
        free(t);
    }
    if (!ts->head) {
        free(ts);
        l->taps = NULL;
    }
}

void leg_tap_remove(struct leg *l, struct leg_tap *t)
{
    if (!l->taps || t->removed)
        return;
    t->removed = true;
    l->taps->count--;
    sweep(l);
}

unsigned leg_tap_count(const struct leg *l)
{
    return l->taps ? l->taps->count : 0;
}

void leg__tap_rx(struct leg *l, const struct rtp_hdr *h)
{
    struct leg_taps *ts = l->taps;
    if (h->pt == l->remote.pt) {
        frame_ring_push(&ts->in, h->payload, h->payload_len);
        return;
    }
    struct rfc4733_event ev;
    if (h->pt != l->remote.te_pt || rfc4733_parse(h->payload, h->payload_len, &ev))
        return;
    char digit = rfc4733_rx_packet(&ts->events, h->ssrc, h->ts, &ev);
    if (digit)
        leg__tap_digit(l, digit);
}

void leg__tap_digit(struct leg *l, char digit)
{
    struct leg_taps *ts = l->taps;
    ts->walking++;
    for (struct leg_tap *t = ts->head; t; t = t->next)
        if (!t->removed && t->ops->digit)
            t->ops->digit(t->arg, digit);
    ts->walking--;
    sweep(l);
}

/* Decode a frame with reader d's state into TAP_FRAME samples; the rest (or all, without
 * a frame or codec state) is silence. */
static bool decode(struct leg *l, enum codec_dec d, const uint8_t *data, size_t len, int16_t *pcm)
{
    int n = data && l->codec ? codec_state_decode(l->codec, d, data, len, pcm, TAP_SAMPLES) : 0;
    size_t got = n > 0 ? ((size_t)n < TAP_FRAME ? (size_t)n : TAP_FRAME) : 0;
    memset(pcm + got, 0, (TAP_FRAME - got) * sizeof(*pcm));
    return got > 0;
}

void leg__tap_tick(struct leg *l, const uint8_t *sent, size_t sent_len)
{
    struct leg_taps *ts = l->taps;
    const struct frame *in = frame_ring_pop(&ts->in);
    struct leg_tap_frame f = {
        .in = ts->in_pcm,
        .out = ts->out_pcm,
        .samples = TAP_FRAME,
        .rate = 8000, /* every codec is decoded to the leg's 8 kHz (codec.h) */
        .in_heard = decode(l, CODEC_DEC_IN, in ? in->data : NULL, in ? in->len : 0, ts->in_pcm),
        .out_sent = decode(l, CODEC_DEC_OUT, sent, sent_len, ts->out_pcm),
    };
    ts->walking++;
    for (struct leg_tap *t = ts->head; t; t = t->next)
        if (!t->removed)
            t->ops->frame(t->arg, &f);
    ts->walking--;
    sweep(l);
}

void leg__tap_close(struct leg *l)
{
    struct leg_taps *ts = l->taps;
    if (!ts)
        return;
    ts->walking++;
    for (struct leg_tap *t = ts->head; t; t = t->next) {
        if (t->removed)
            continue;
        t->removed = true;
        ts->count--;
        if (t->ops->closed)
            t->ops->closed(t->arg);
    }
    ts->walking--;
    sweep(l);
}
