/*
 * leg_internal.h - the leg object, shared by leg.c (lifetime and state), leg_rx.c
 * (receive path), leg_tx.c (send path) and the per-leg features that hook into those
 * paths: leg_media.c (media verbs), leg_tap.c (audio taps), leg_amd.c, leg_inject.c,
 * leg_rtcp.c, bridge.c. Nothing else includes it: the rest of media-fork uses leg.h.
 */
#ifndef MF_LEG_INTERNAL_H
#define MF_LEG_INTERNAL_H

#include <uv.h>

#include "frame_ring.h"
#include "leg.h"
#include "media_ctx.h"
#include "rtp_stats.h"

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
    /* Encoder/decoders for remote.codec (codec.h): made by leg_connect when the codec
     * changes, freed in close_cb; NULL before the first connect (or if the library
     * refused: the leg then sends no audio of its own). */
    struct codec_state *codec;
    bool latched; /* latch_addr holds the source of the far end's RTP */
    struct sockaddr_storage latch_addr;
    bool rtcp_seen; /* rtcp_addr: where the far end's RTCP comes from (for reports later) */
    struct sockaddr_storage rtcp_addr;

    /* Receive: datagrams read since the last tick, per port; reading pauses at the cap. */
    unsigned rx_rtp, rx_rtcp;
    bool rtp_paused, rtcp_paused;
    bool rtp_polled;         /* the RTP socket is in ctx->rx (rx_poll.h) */
    struct frame_ring *ring; /* frames for the echo source; NULL until first needed */

    /* Send: our own RTP stream (RFC 3550: random SSRC, initial seq and timestamp). */
    uint32_t ssrc;
    uint16_t seq;
    uint32_t ts;
    bool marker_next; /* first packet, or first after a gap, starts a talkspurt */

    /* RTCP and receiver statistics (leg_rtcp.c). */
    struct rtp_stats rx_stats; /* the far end's RTP (the latched source) */
    uint64_t rtcp_next;        /* uv_now() ms of our next report; 0: not scheduled */
    uint64_t rtcp_last_out;    /* packets_out at our last report: an SR while it grows */
    uint32_t peer_lsr;         /* middle of the far end's last SR's NTP time; 0: none */
    uint64_t peer_lsr_ns;      /* uv_hrtime() when that SR arrived */
    int64_t lost_counted;      /* loss already added to voepy_media_rtp_lost_total */

    /* Media verbs (leg_media.c): NULL until the first play/gather/send_dtmf. */
    struct leg_media *media;

    /* Audio taps (leg_tap.c): NULL while the leg has none. */
    struct leg_taps *taps;

    /* Answering-machine detection (leg_amd.c): NULL unless running. */
    struct leg_amd *amd;

    /* Bridged to another leg (bridge.c): NULL while not bridged. */
    struct leg_bridge *bridge;

    /* Injected audio (leg_inject.c): NULL until something is injected. */
    struct leg_inject *inject;
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
/* The leg is closing: its RTP socket leaves ctx->rx. */
void leg__rx_stop(struct leg *l);
/* A leg was freed: close ctx->rx when it was the last (the next leg opens another). */
void leg__rx_idle(struct media_ctx *ctx);
/* Start of a tick: refill the receive budgets and resume paused reading. */
void leg__rx_tick(struct leg *l);

/* leg_media.c */
/* A valid RTP packet from the far end (digits for a gather). */
void leg__media_rx(struct leg *l, const struct rtp_hdr *h);
/* This tick's frame from DTMF sending or playback; false: the mode decides. */
bool leg__media_frame(struct leg *l, struct leg_frame *f);
/* Whether DTMF sending or a playback (playing, or ready to start) has the send path. */
bool leg__media_sending(const struct leg *l);
/* Every tick, any state: gather deadlines. */
void leg__media_tick(struct leg *l);
/* The leg is closing: end playback ("stopped") and gather ("cancelled"), free. */
void leg__media_close(struct leg *l);

/* leg_tap.c (called only while l->taps is set) */
/* A valid packet from the far end of a connected leg. */
void leg__tap_rx(struct leg *l, const struct rtp_hdr *h);
/* A digit the far end began (RFC 4733 or leg_digit_in): every tap's digit(). */
void leg__tap_digit(struct leg *l, char digit);
/* End of a connected leg's tick: sent is this tick's audio payload (NULL: none). */
void leg__tap_tick(struct leg *l, const uint8_t *sent, size_t sent_len);
/* The leg is closing: every tap's closed(), then all are freed. Safe without taps. */
void leg__tap_close(struct leg *l);

/* bridge.c (called only while l->bridge is set) */
/* A valid packet from the far end of a connected leg: sent on the peer now, or kept for
 * the peer's tick. */
void bridge__rx(struct leg *l, const struct rtp_hdr *h);
/* This tick's frame from the peer (payload left NULL when it heard nothing); false when
 * the peer's audio goes out as it arrives (nothing to send, and no gap either). */
bool bridge__frame(struct leg *l, struct leg_frame *f);
/* The leg's own media wins this tick: the peer's audio waits for the tick again. */
void bridge__yield(struct leg *l);
/* A second frame for this tick when the peer's audio backs up (f->ts set by the caller);
 * false when there is no backlog. */
bool bridge__catch_up(struct leg *l, struct leg_frame *f);

/* leg_inject.c */
/* This tick's frame from injected audio; false when less than a frame is queued. */
bool leg__inject_frame(struct leg *l, struct leg_frame *f);
/* Whether a frame of injected audio is queued (the next tick sends it). */
bool leg__inject_pending(const struct leg *l);
/* The leg is closing: drop the queue. */
void leg__inject_close(struct leg *l);

/* leg_rtcp.c */
/* The leg is opened: empty statistics, no report scheduled. */
void leg__rtcp_init(struct leg *l);
/* A valid RTP packet from the latched far end: statistics and the leg's counters. */
void leg__stats_rx(struct leg *l, const struct rtp_hdr *h);
/* A valid RTCP compound packet from the far end: its SR time and its block about us. */
void leg__rtcp_rx(struct leg *l, const uint8_t *pkt, size_t len);
/* Connected legs, each tick after sending: an SR/RR + SDES when one is due. */
void leg__rtcp_tick(struct leg *l);
/* A connected leg is being released: a last report with a BYE (RFC 3550 6.6). */
void leg__rtcp_bye(struct leg *l);

/* leg_tx.c */
void leg__tx_init(struct leg *l);
/* Stamp f with the leg's SSRC, sequence number and marker and send it now (dropped and
 * counted when the socket refuses). */
void leg__tx_send(struct leg *l, const struct leg_frame *f);
/* Send this period's frame (connected legs). */
void leg__tx_tick(struct leg *l);

#endif
