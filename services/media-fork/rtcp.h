/*
 * rtcp.h - RTCP (RFC 3550 section 6) compound packet validation.
 *
 * For now media-fork only counts what arrives; the validator is the one place that reads
 * a peer's RTCP, checks every sub-packet's length against the datagram, and is where
 * sender/receiver report parsing (jitter, loss for quality metrics) will hang. Sending
 * reports is for later (leg_tx.c has the hook). Pure, so the fuzzer can drive it.
 */
#ifndef MF_RTCP_H
#define MF_RTCP_H

#include <stddef.h>
#include <stdint.h>

#define RTCP_PT_SR   200
#define RTCP_PT_RR   201
#define RTCP_PT_SDES 202
#define RTCP_PT_BYE  203

struct rtcp_info {
    unsigned npackets; /* sub-packets in the compound packet */
    uint8_t first_pt;  /* packet type of the first sub-packet (SR, RR, ...) */
    uint32_t ssrc;     /* sender SSRC of the first sub-packet, 0 when it has none */
    int has_bye;
};

/*
 * Validate a compound packet: every sub-packet has version 2, a packet type in 192..223,
 * a length that fits, and padding only on the last one; the lengths add up to len.
 * Returns 0 and fills *info, or VP_E_PARSE.
 */
int rtcp_parse(const uint8_t *pkt, size_t len, struct rtcp_info *info);

#endif
