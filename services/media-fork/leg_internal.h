/*
 * leg_internal.h - the leg object, shared by leg.c (lifetime and state), leg_rx.c
 * (receive path), leg_tx.c (send path) and leg_media.c (media verbs). Nothing outside
 * these four files includes it.
 */
#ifndef MF_LEG_INTERNAL_H
#define MF_LEG_INTERNAL_H

#include <uv.h>

#include "frame_ring.h"
#include "leg.h"
#include "media_ctx.h"

struct leg {
    uv_udp_t rtp, rtcp; /* embedded: the leg is freed when both are closed */
    struct media_ctx *ctx;
    enum leg_state state;
    char id[LEG_ID_MAX];
    char call_id[LEG_ID_MAX];
    char reply_to[STREAM_MAX];
    uint16_t port; /* RTP; RTCP is port + 1 */
    unsigned closes_pending;
    uint64_t last_activity; /* uv_now() ms */
    struct leg_counters counters;

    /* Far end: valid from LEG_CONNECTED on. */
    struct leg_remote remote;
    bool latched; /* latch_addr holds the source of the far end's RTP */
    struct sockaddr_storage latch_addr;
    bool rtcp_seen; /* rtcp_addr: where the far end's RTCP comes from (for reports later) */
    struct sockaddr_storage rtcp_addr;

    /* Receive: datagrams read since the last tick, per port; reading pauses at the cap. */
    unsigned rx_rtp, rx_rtcp;
    bool rtp_paused, rtcp_paused;
    struct frame_ring *ring; /* frames for the echo source; NULL until first needed */

    /* Send: our own RTP stream (RFC 3550: random SSRC, initial seq and timestamp). */
    uint32_t ssrc;
    uint16_t seq;
    uint32_t ts;
    bool marker_next; /* first packet, or first after a gap, starts a talkspurt */

    /* Media verbs (leg_media.c): NULL until the first play/gather/send_dtmf. */
    struct leg_media *media;

    /* Audio taps (leg_tap.c): NULL while the leg has none. */
    struct leg_taps *taps;
};

/* One packet to send this tick. */
struct leg_frame {
    const uint8_t *payload; /* NULL: nothing to send */
    size_t len;
    uint8_t pt;
    uint32_t ts;
    bool event;  /* an RFC 4733 event packet (marker given here, not by talkspurts) */
    bool marker; /* for events */
};

/* leg_rx.c */
int leg__rx_start(struct leg *l);
/* Start of a tick: refill the receive budgets and resume paused reading. */
void leg__rx_tick(struct leg *l);

/* leg_media.c */
/* A valid RTP packet from the far end (digits for a gather). */
void leg__media_rx(struct leg *l, const struct rtp_hdr *h);
/* This tick's frame from DTMF sending or playback; false: the mode decides. */
bool leg__media_frame(struct leg *l, struct leg_frame *f);
/* Every tick, any state: gather deadlines. */
void leg__media_tick(struct leg *l);
/* The leg is closing: end playback ("stopped") and gather ("cancelled"), free. */
void leg__media_close(struct leg *l);

/* leg_tap.c (called only while l->taps is set) */
/* A valid packet from the far end of a connected leg. */
void leg__tap_rx(struct leg *l, const struct rtp_hdr *h);
/* End of a connected leg's tick: sent is this tick's audio payload (NULL: none). */
void leg__tap_tick(struct leg *l, const uint8_t *sent, size_t sent_len);
/* The leg is closing: every tap's closed(), then all are freed. Safe without taps. */
void leg__tap_close(struct leg *l);

/* leg_tx.c */
void leg__tx_init(struct leg *l);
/* Send this period's frame (connected legs). */
void leg__tx_tick(struct leg *l);

#endif
