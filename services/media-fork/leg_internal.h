/*
 * leg_internal.h - the leg object, shared by leg.c (lifetime and state), leg_rx.c
 * (receive path) and leg_tx.c (send path). Nothing outside these three files includes it.
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
};

/* leg_rx.c */
int leg__rx_start(struct leg *l);
/* Start of a tick: refill the receive budgets and resume paused reading. */
void leg__rx_tick(struct leg *l);

/* leg_tx.c */
void leg__tx_init(struct leg *l);
/* Send this period's frame (connected legs). */
void leg__tx_tick(struct leg *l);

#endif
