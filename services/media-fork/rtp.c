/* RTP fixed header parsing and writing; see rtp.h. */
#include "rtp.h"

#include "voepy/err.h"

static uint16_t get16(const uint8_t *p)
{
    return (uint16_t)((unsigned)p[0] << 8 | p[1]);
}

static uint32_t get32(const uint8_t *p)
{
    return (uint32_t)p[0] << 24 | (uint32_t)p[1] << 16 | (uint32_t)p[2] << 8 | p[3];
}

static void put16(uint8_t *p, uint16_t v)
{
    p[0] = (uint8_t)(v >> 8);
    p[1] = (uint8_t)v;
}

static void put32(uint8_t *p, uint32_t v)
{
    p[0] = (uint8_t)(v >> 24);
    p[1] = (uint8_t)(v >> 16);
    p[2] = (uint8_t)(v >> 8);
    p[3] = (uint8_t)v;
}

static int fail(enum rtp_fault *fault, enum rtp_fault f)
{
    if (fault)
        *fault = f;
    return VP_E_PARSE;
}

/*
 * Offset of the payload after CSRCs and the extension, or 0 with *f set when either runs
 * past len. Sizes are computed in size_t from at most 15 * 4 and 65535 * 4 bytes, so
 * nothing here can wrap.
 */
static size_t payload_offset(const uint8_t *pkt, size_t len, enum rtp_fault *f)
{
    size_t off = RTP_HEADER_LEN + 4u * (pkt[0] & 0x0fu);
    if (off > len) {
        *f = RTP_FAULT_CSRC;
        return 0;
    }
    if (!(pkt[0] & 0x10u))
        return off;
    if (len - off < 4) {
        *f = RTP_FAULT_EXTENSION;
        return 0;
    }
    size_t ext = 4u * (size_t)get16(pkt + off + 2);
    off += 4;
    if (ext > len - off) {
        *f = RTP_FAULT_EXTENSION;
        return 0;
    }
    return off + ext;
}

int rtp_parse(const uint8_t *pkt, size_t len, struct rtp_hdr *h, enum rtp_fault *fault)
{
    if (len < RTP_HEADER_LEN)
        return fail(fault, RTP_FAULT_SHORT);
    if (pkt[0] >> 6 != RTP_VERSION)
        return fail(fault, RTP_FAULT_VERSION);
    uint8_t pt = pkt[1] & 0x7fu;
    if (pt >= 72 && pt <= 76)
        return fail(fault, RTP_FAULT_RTCP);
    enum rtp_fault f = RTP_FAULT_NONE;
    size_t off = payload_offset(pkt, len, &f);
    if (f != RTP_FAULT_NONE)
        return fail(fault, f);
    size_t plen = len - off;
    if (pkt[0] & 0x20u) {
        /* The last octet counts the padding, itself included: 1 .. payload length. */
        if (plen == 0 || pkt[len - 1] == 0 || pkt[len - 1] > plen)
            return fail(fault, RTP_FAULT_PADDING);
        plen -= pkt[len - 1];
    }
    h->marker = pkt[1] >> 7;
    h->pt = pt;
    h->csrc_count = pkt[0] & 0x0fu;
    h->has_extension = pkt[0] & 0x10u;
    h->seq = get16(pkt + 2);
    h->ts = get32(pkt + 4);
    h->ssrc = get32(pkt + 8);
    h->payload = pkt + off;
    h->payload_len = plen;
    if (fault)
        *fault = RTP_FAULT_NONE;
    return 0;
}

const char *rtp_fault_name(enum rtp_fault f)
{
    switch (f) {
    case RTP_FAULT_NONE:
        return "none";
    case RTP_FAULT_SHORT:
        return "short";
    case RTP_FAULT_VERSION:
        return "version";
    case RTP_FAULT_CSRC:
        return "csrc";
    case RTP_FAULT_EXTENSION:
        return "extension";
    case RTP_FAULT_PADDING:
        return "padding";
    case RTP_FAULT_RTCP:
        return "rtcp";
    }
    return "unknown";
}

void rtp_write_header(uint8_t *out, bool marker, uint8_t pt, uint16_t seq, uint32_t ts,
                      uint32_t ssrc)
{
    out[0] = RTP_VERSION << 6;
    out[1] = (uint8_t)((marker ? 0x80u : 0u) | (pt & 0x7fu));
    put16(out + 2, seq);
    put32(out + 4, ts);
    put32(out + 8, ssrc);
}
