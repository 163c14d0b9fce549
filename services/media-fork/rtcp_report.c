/* RTCP SR/RR/SDES building and SR/RR reading; see rtcp_report.h. */
#include "rtcp_report.h"

#include <string.h>
#include <time.h>

#include "rtcp.h"
#include "voepy/err.h"

#define NTP_UNIX_OFFSET 2208988800u /* seconds from 1900 to 1970 */
#define BLOCK_LEN       24
#define SDES_CNAME      1

static void put16(uint8_t *p, uint16_t v)
{
    p[0] = (uint8_t)(v >> 8);
    p[1] = (uint8_t)v;
}

static void put32(uint8_t *p, uint32_t v)
{
    put16(p, (uint16_t)(v >> 16));
    put16(p + 2, (uint16_t)v);
}

static uint32_t get32(const uint8_t *p)
{
    return (uint32_t)p[0] << 24 | (uint32_t)p[1] << 16 | (uint32_t)p[2] << 8 | p[3];
}

/* Sub-packet header: version 2, no padding, count, type, length in words minus one. */
static void put_header(uint8_t *p, unsigned count, uint8_t pt, size_t len)
{
    p[0] = (uint8_t)(0x80u | (count & 0x1fu));
    p[1] = pt;
    put16(p + 2, (uint16_t)(len / 4 - 1));
}

static void put_block(uint8_t *p, const struct rtcp_block *b)
{
    int32_t lost = b->lost > 0x7fffff ? 0x7fffff : b->lost < -0x800000 ? -0x800000 : b->lost;
    put32(p, b->ssrc);
    put32(p + 4, (uint32_t)b->fraction << 24 | ((uint32_t)lost & 0xffffffu));
    put32(p + 8, b->ext_max);
    put32(p + 12, b->jitter);
    put32(p + 16, b->lsr);
    put32(p + 20, b->dlsr);
}

/* SR or RR at out (cap checked by the caller); returns its length. */
static size_t put_report(uint8_t *out, uint32_t ssrc, const struct rtcp_sender *s,
                         const struct rtcp_block *b)
{
    size_t len = 8 + (s ? 20 : 0) + (b ? BLOCK_LEN : 0);
    put_header(out, b ? 1 : 0, s ? RTCP_PT_SR : RTCP_PT_RR, len);
    put32(out + 4, ssrc);
    uint8_t *p = out + 8;
    if (s) {
        put32(p, (uint32_t)(s->ntp >> 32));
        put32(p + 4, (uint32_t)s->ntp);
        put32(p + 8, s->rtp_ts);
        put32(p + 12, s->packets);
        put32(p + 16, s->octets);
        p += 20;
    }
    if (b)
        put_block(p, b);
    return len;
}

/* SDES with one chunk: SSRC, CNAME item, END and zero padding to a word boundary. */
static size_t sdes_len(size_t cname_len)
{
    return 4 + ((4 + 2 + cname_len + 1 + 3) & ~(size_t)3);
}

static void put_sdes(uint8_t *out, size_t len, uint32_t ssrc, const char *cname, size_t n)
{
    memset(out, 0, len);
    put_header(out, 1, RTCP_PT_SDES, len);
    put32(out + 4, ssrc);
    out[8] = SDES_CNAME;
    out[9] = (uint8_t)n;
    memcpy(out + 10, cname, n);
}

size_t rtcp_report_build(uint8_t *out, size_t cap, uint32_t ssrc, const struct rtcp_sender *sender,
                         const struct rtcp_block *block, const char *cname)
{
    size_t n = cname ? strnlen(cname, 255) : 0;
    size_t rlen = 8 + (sender ? 20 : 0) + (block ? BLOCK_LEN : 0), slen = sdes_len(n);
    if (cap < rlen + slen)
        return 0;
    put_report(out, ssrc, sender, block);
    put_sdes(out + rlen, slen, ssrc, cname ? cname : "", n);
    return rlen + slen;
}

size_t rtcp_report_add_bye(uint8_t *out, size_t cap, size_t len, uint32_t ssrc)
{
    if (len > cap || cap - len < 8)
        return 0;
    put_header(out + len, 1, RTCP_PT_BYE, 8);
    put32(out + len + 4, ssrc);
    return len + 8;
}

static void get_block(const uint8_t *p, struct rtcp_block *b)
{
    uint32_t w = get32(p + 4);
    b->ssrc = get32(p);
    b->fraction = (uint8_t)(w >> 24);
    /* sign-extend the 24-bit cumulative loss */
    b->lost = (int32_t)((w & 0xffffffu) ^ 0x800000u) - 0x800000;
    b->ext_max = get32(p + 8);
    b->jitter = get32(p + 12);
    b->lsr = get32(p + 16);
    b->dlsr = get32(p + 20);
}

/* One SR or RR of n bytes (n >= 8, from rtcp_parse); VP_E_PARSE when its blocks overrun. */
static int read_report(const uint8_t *p, size_t n, uint32_t our_ssrc, struct rtcp_heard *h)
{
    bool sr = p[1] == RTCP_PT_SR;
    size_t off = 8 + (sr ? 20 : 0);
    unsigned count = p[0] & 0x1fu;
    if (off + (size_t)count * BLOCK_LEN > n)
        return VP_E_PARSE;
    if (sr && !h->has_sr) {
        h->has_sr = true;
        h->lsr = get32(p + 10); /* the middle 32 bits of the 64-bit NTP timestamp */
    }
    for (unsigned i = 0; i < count && !h->has_block; i++, off += BLOCK_LEN) {
        if (get32(p + off) != our_ssrc)
            continue;
        get_block(p + off, &h->block);
        h->has_block = true;
    }
    return 0;
}

int rtcp_report_read(const uint8_t *pkt, size_t len, uint32_t our_ssrc, struct rtcp_heard *h)
{
    memset(h, 0, sizeof(*h));
    struct rtcp_info info;
    if (rtcp_parse(pkt, len, &info))
        return VP_E_PARSE;
    bool first = true;
    for (size_t off = 0; off < len;) {
        const uint8_t *p = pkt + off;
        size_t n = 4u * ((size_t)((unsigned)p[2] << 8 | p[3]) + 1); /* checked by rtcp_parse */
        bool report = p[1] == RTCP_PT_SR || p[1] == RTCP_PT_RR;
        if (report && n < 8)
            return VP_E_PARSE;
        if (report && first) {
            h->ssrc = get32(p + 4);
            first = false;
        }
        if (report && read_report(p, n, our_ssrc, h))
            return VP_E_PARSE;
        off += n;
    }
    return 0;
}

uint64_t rtcp_ntp_now(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_REALTIME, &ts);
    uint64_t frac = ((uint64_t)ts.tv_nsec << 32) / 1000000000u;
    return ((uint64_t)ts.tv_sec + NTP_UNIX_OFFSET) << 32 | frac;
}

uint32_t rtcp_ntp_middle(uint64_t ntp)
{
    return (uint32_t)(ntp >> 16);
}

uint32_t rtcp_dlsr(uint64_t delay_ns)
{
    uint64_t v = (delay_ns << 16) / 1000000000u; /* delays of up to ~3 days fit */
    return v > UINT32_MAX ? UINT32_MAX : (uint32_t)v;
}

int64_t rtcp_rtt_ms(uint32_t arrival, uint32_t lsr, uint32_t dlsr)
{
    if (lsr == 0)
        return -1;
    uint32_t rtt = arrival - lsr - dlsr;
    if (rtt > 0x7fffffffu)
        return -1; /* negative: the far end's clock or DLSR is off */
    return (int64_t)(((uint64_t)rtt * 1000u + 32768u) >> 16);
}
