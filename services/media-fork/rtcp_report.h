/*
 * rtcp_report.h - RTCP sender and receiver reports (RFC 3550 6.4) and SDES CNAME (6.5):
 * building the compound packet a leg sends, reading the reports a far end sends, and the
 * NTP-time arithmetic behind the round-trip time (6.4.1: RTT = A - LSR - DLSR).
 *
 * Pure functions on caller-owned buffers (no allocation, no clock except rtcp_ntp_now),
 * so the packet path can use them and the unit tests can check the bytes.
 */
#ifndef MF_RTCP_REPORT_H
#define MF_RTCP_REPORT_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

/* One reception report block (6.4.1): what a receiver says about one source. */
struct rtcp_block {
    uint32_t ssrc;    /* the source this block is about */
    uint8_t fraction; /* lost since the last report, / 256 */
    int32_t lost;     /* cumulative, clamped to 24-bit signed when written */
    uint32_t ext_max; /* extended highest sequence number received */
    uint32_t jitter;  /* interarrival jitter, timestamp units */
    uint32_t lsr;     /* middle 32 bits of the NTP time of the last SR from it, or 0 */
    uint32_t dlsr;    /* delay since that SR, 1/65536 s, or 0 */
};

/* The sender info of an SR (6.4.1). */
struct rtcp_sender {
    uint64_t ntp;     /* NTP timestamp (seconds since 1900 << 32 | fraction) */
    uint32_t rtp_ts;  /* the same instant in our RTP clock */
    uint32_t packets; /* RTP packets sent (wraps) */
    uint32_t octets;  /* RTP payload octets sent (wraps) */
};

/*
 * Build a compound packet into out: an SR when sender is not NULL, else an RR, with one
 * report block when block is not NULL; then an SDES chunk with our CNAME (at most 255
 * bytes are used). Returns its length (a multiple of 4), or 0 when cap is too small.
 */
size_t rtcp_report_build(uint8_t *out, size_t cap, uint32_t ssrc, const struct rtcp_sender *sender,
                         const struct rtcp_block *block, const char *cname);

/*
 * Append a BYE (6.6) for ssrc to a compound packet of len bytes already in out (it must
 * start with an SR or RR). Returns the new length, or 0 when cap is too small.
 */
size_t rtcp_report_add_bye(uint8_t *out, size_t cap, size_t len, uint32_t ssrc);

/* What a far end's compound packet tells us (rtcp_report_read). */
struct rtcp_heard {
    uint32_t ssrc; /* sender SSRC of the first SR/RR */
    bool has_sr;   /* it sent an SR: lsr is the middle of its NTP timestamp */
    uint32_t lsr;
    bool has_block; /* one of its report blocks is about our SSRC */
    struct rtcp_block block;
};

/*
 * Read SR/RR sub-packets of a compound packet, checked with rtcp_parse() first: the first
 * SR gives lsr, the first report block about our_ssrc gives block. Returns 0, or
 * VP_E_PARSE when the packet is not valid RTCP or an SR/RR's report count runs past it.
 */
int rtcp_report_read(const uint8_t *pkt, size_t len, uint32_t our_ssrc, struct rtcp_heard *h);

/* The wall clock as an NTP timestamp. */
uint64_t rtcp_ntp_now(void);
/* The middle 32 bits of an NTP timestamp (16.16 seconds), as in LSR. */
uint32_t rtcp_ntp_middle(uint64_t ntp);
/* A delay in nanoseconds as DLSR units (1/65536 s). */
uint32_t rtcp_dlsr(uint64_t delay_ns);
/*
 * Round-trip time in milliseconds from a block about us that arrived at NTP middle time
 * arrival; -1 when the block has no LSR or the result would be negative (clock skew).
 */
int64_t rtcp_rtt_ms(uint32_t arrival, uint32_t lsr, uint32_t dlsr);

#endif
