/*
 * leg_ids.h - sizes of the identifiers that travel with a leg, and its counters.
 *
 * Ids come from stream messages; longer ones are refused when the command is parsed, so
 * fixed buffers never truncate silently.
 */
#ifndef MF_LEG_IDS_H
#define MF_LEG_IDS_H

#include <stdbool.h>
#include <stdint.h>

#define LEG_ID_MAX 64  /* voepy_leg_<ULID> is 36 */
#define STREAM_MAX 160 /* "voepy:cc:" + a node id of up to 127 */

/* What a leg counted; reported in media.released. Bytes are whole RTP datagrams. */
struct leg_counters {
    uint64_t packets_in, bytes_in;   /* valid RTP from the far end */
    uint64_t packets_out, bytes_out; /* RTP we sent */
    uint64_t rtcp_in;                /* valid RTCP compound packets */
    uint64_t invalid_in;             /* datagrams refused (malformed, foreign source) */
    /* RTCP and receiver statistics (leg_rtcp.c, RFC 3550 6.4 / A.3 / A.8). */
    uint64_t rtcp_out;         /* RTCP compound packets we sent (SR/RR + SDES) */
    int64_t lost;              /* far end's RTP lost: expected - received, all sources, >= 0 */
    uint32_t jitter_ms;        /* interarrival jitter of the far end's RTP, last estimate */
    bool rtt_known;            /* rtt_ms came from a report block about us */
    uint32_t rtt_ms;           /* round-trip time (A - LSR - DLSR) */
    bool remote_known;         /* the far end reported on our stream: */
    int64_t remote_lost;       /*   cumulative loss of our RTP it reports */
    uint32_t remote_jitter_ms; /*   the jitter of our RTP it reports */
};

#endif
