/*
 * rtp.h - RTP (RFC 3550) fixed header: parse what arrives, write what we send.
 *
 * rtp_parse() is the only place that reads a peer's RTP header. It trusts nothing: every
 * length (CSRC list, header extension, padding) is checked against the datagram before
 * it is used, so the payload pointer it hands out always lies inside the packet. It is a
 * pure function of its input, which is what the fuzzer drives.
 */
#ifndef MF_RTP_H
#define MF_RTP_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define RTP_HEADER_LEN 12 /* fixed header, without CSRCs or extension */
#define RTP_VERSION    2
#define RTP_MAX_PACKET 1500 /* larger datagrams are not RTP we handle */

/* Which check refused a packet (for metrics and tests). */
enum rtp_fault {
    RTP_FAULT_NONE,
    RTP_FAULT_SHORT,     /* shorter than the fixed header */
    RTP_FAULT_VERSION,   /* version is not 2 */
    RTP_FAULT_CSRC,      /* CSRC list runs past the end */
    RTP_FAULT_EXTENSION, /* extension header or its data runs past the end */
    RTP_FAULT_PADDING,   /* padding count 0 or larger than the payload */
    RTP_FAULT_RTCP,      /* payload type 72..76: an RTCP packet (RFC 5761) */
};

/* A parsed header. payload points into the packet given to rtp_parse(). */
struct rtp_hdr {
    bool marker;
    uint8_t pt; /* payload type 0..127 */
    uint8_t csrc_count;
    bool has_extension;
    uint16_t seq;
    uint32_t ts;
    uint32_t ssrc;
    const uint8_t *payload;
    size_t payload_len; /* without padding */
};

/*
 * Parse and validate one datagram. Returns 0 and fills *h, or VP_E_PARSE (then *h is
 * unspecified) and, when fault is not NULL, says which check failed.
 */
int rtp_parse(const uint8_t *pkt, size_t len, struct rtp_hdr *h, enum rtp_fault *fault);
/* Stable lower-case name of a fault ("short", "version", ...). */
const char *rtp_fault_name(enum rtp_fault f);

/* Write a 12-byte header (version 2, no padding, extension or CSRCs) into out. */
void rtp_write_header(uint8_t *out, bool marker, uint8_t pt, uint16_t seq, uint32_t ts,
                      uint32_t ssrc);

#endif
