/*
 * media_metrics.h - the Prometheus series of media-fork, looked up once.
 *
 * The packet path updates these through cached pointers (metrics.h: one integer add), so
 * counting costs nothing measurable per packet.
 */
#ifndef MF_MEDIA_METRICS_H
#define MF_MEDIA_METRICS_H

#include "rtp.h"

struct metric;

struct media_metrics {
    struct metric *legs;                     /* voepy_media_legs: legs holding ports */
    struct metric *ports_free;               /* voepy_media_ports_free: free RTP/RTCP pairs */
    struct metric *packets_in, *packets_out; /* voepy_media_rtp_packets_total{direction} */
    struct metric *bytes_in, *bytes_out;     /* voepy_media_rtp_bytes_total{direction} */
    struct metric *rtcp_in;                  /* voepy_media_rtcp_packets_total{direction} */
    struct metric *rtcp_out;                 /* direction="out": our SR/RR (leg_rtcp.c) */
    struct metric *lost;      /* voepy_media_rtp_lost_total: far ends' RTP never received */
    struct metric *jitter_ms; /* voepy_media_rtp_jitter_ms: histogram, one per RTCP report */
    struct metric *rtt_ms;    /* voepy_media_rtcp_rtt_ms: histogram, per report about us */
    /* voepy_media_rtp_invalid_total{reason}: malformed RTP by rtp_fault, then others */
    struct metric *invalid_fault[RTP_FAULT_RTCP + 1];
    struct metric *invalid_source;   /* reason="source": not from the latched address */
    struct metric *invalid_rtcp;     /* reason="rtcp_malformed" on the RTCP port */
    struct metric *invalid_oversize; /* reason="oversize": larger than RTP_MAX_PACKET */
    struct metric *flood;            /* voepy_media_rx_throttled_total: reading paused */
    struct metric *send_errors;      /* voepy_media_rtp_send_errors_total */
    struct metric *alloc_no_ports;   /* voepy_media_allocation_failures_total{reason} */
    struct metric *alloc_draining;
    struct metric *alloc_io;
    struct metric *reaped;        /* voepy_media_legs_reaped_total */
    struct metric *tick_overruns; /* voepy_media_tick_overruns_total */
    /* The media verbs (leg_media.c). */
    struct metric *digits_rfc4733, *digits_inband; /* voepy_media_dtmf_digits_total{source} */
    struct metric *dtmf_sent;                      /* voepy_media_dtmf_sent_total */
    struct metric *play_finished, *play_stopped;   /* voepy_media_playbacks_total{reason} */
    /* voepy_media_gathers_total{status}, indexed by enum gather_status */
    struct metric *gathers[4];
};

/* Look every series up (idempotent: the registry returns existing series). */
void media_metrics_init(struct media_metrics *m);

#endif
