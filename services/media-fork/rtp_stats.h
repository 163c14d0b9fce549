/*
 * rtp_stats.h - receiver statistics about one RTP source (RFC 3550 appendix A.1, A.3, A.8).
 *
 * A leg keeps one of these for the far end's RTP (the latched source) and feeds it every
 * valid packet: the extended highest sequence number (with 16-bit wrap), packets
 * expected vs received (cumulative loss and the fraction lost per report interval) and
 * the interarrival jitter, in RTP timestamp units, from arrival times converted to the
 * codec clock. A packet with a new SSRC, or a jump the source confirms with a second
 * packet (A.1 "resync"), starts the sequence state again; the loss of the earlier
 * source is carried in rtp_stats_lost_total() so the leg's total survives.
 *
 * Pure arithmetic on a caller-owned struct: no allocation, no clock of its own (the
 * caller passes arrival times), so the packet path can afford it and tests can drive it.
 */
#ifndef MF_RTP_STATS_H
#define MF_RTP_STATS_H

#include <stdbool.h>
#include <stdint.h>

struct rtp_stats {
    uint32_t clock_rate; /* Hz of the RTP timestamps (jitter units) */
    bool started;        /* a packet has been counted since the last reset */
    uint32_t ssrc;
    uint16_t first_seq, max_seq;
    uint32_t cycles;   /* wraps of the sequence number, times 65536 */
    uint32_t base_seq; /* first sequence number of this source (32 bits) */
    uint32_t bad_seq;  /* the sequence number a jump's confirmation must have */
    uint32_t received; /* packets counted, duplicates included (A.3) */
    uint32_t expected_prior, received_prior; /* at the last rtp_stats_interval() */
    bool timed;                              /* transit holds a value */
    uint32_t transit;                        /* arrival - timestamp of the last timed packet */
    uint32_t jitter16;                       /* interarrival jitter times 16 (A.8) */
    int64_t lost_before; /* cumulative loss of earlier sources (never negative) */
};

/* Forget everything; clock_rate (Hz, > 0; 8000 is used for 0) sets the jitter unit. */
void rtp_stats_init(struct rtp_stats *s, uint32_t clock_rate);
/* Change the clock (a new codec): jitter restarts, sequence state stays. */
void rtp_stats_set_clock(struct rtp_stats *s, uint32_t clock_rate);

/*
 * Account one packet. arrival is the arrival time in the codec clock (rtp_stats_arrival);
 * timed says whether the packet's timestamp follows the media clock (audio: yes; RFC 4733
 * events repeat their start timestamp: no, they count for sequence and loss only).
 * Returns false when the packet was not counted (the first of a large jump, A.1).
 */
bool rtp_stats_update(struct rtp_stats *s, uint32_t ssrc, uint16_t seq, uint32_t ts,
                      uint32_t arrival, bool timed);
/* A monotonic time in nanoseconds as a timestamp of clock_rate (wraps like RTP). */
uint32_t rtp_stats_arrival(const struct rtp_stats *s, uint64_t now_ns);

/* Extended highest sequence number received (cycles + max_seq). */
uint32_t rtp_stats_ext_max(const struct rtp_stats *s);
/* Packets expected from this source: ext_max - base + 1 (0 before the first packet). */
uint32_t rtp_stats_expected(const struct rtp_stats *s);
/* Cumulative packets lost from this source: expected - received, negative with duplicates. */
int64_t rtp_stats_lost(const struct rtp_stats *s);
/* Lost over the leg's life: earlier sources plus this one, at least 0. */
int64_t rtp_stats_lost_total(const struct rtp_stats *s);
/*
 * Close a report interval: the fraction lost since the previous call as an 8-bit fixed
 * point number (lost / expected * 256, 0 when nothing was lost or expected, A.3).
 */
uint8_t rtp_stats_interval(struct rtp_stats *s);
/* Interarrival jitter in timestamp units, and in milliseconds (rounded). */
uint32_t rtp_stats_jitter(const struct rtp_stats *s);
uint32_t rtp_stats_jitter_ms(const struct rtp_stats *s);

#endif
