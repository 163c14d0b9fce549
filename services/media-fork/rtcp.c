/* RTCP compound packet validation; see rtcp.h. */
#include "rtcp.h"

#include <string.h>

#include "voepy/err.h"

#define RTCP_HEADER_LEN 4

static uint32_t get32(const uint8_t *p)
{
    return (uint32_t)p[0] << 24 | (uint32_t)p[1] << 16 | (uint32_t)p[2] << 8 | p[3];
}

/* Size in bytes of the sub-packet at p (at least 4 bytes remain), or 0 when invalid. */
static size_t subpacket_len(const uint8_t *p, size_t left)
{
    if (p[0] >> 6 != 2 || p[1] < 192 || p[1] > 223)
        return 0;
    size_t n = 4u * ((size_t)((unsigned)p[2] << 8 | p[3]) + 1);
    if (n > left)
        return 0;
    if ((p[0] & 0x20u) && n != left)
        return 0; /* padding only on the last sub-packet */
    return n;
}

int rtcp_parse(const uint8_t *pkt, size_t len, struct rtcp_info *info)
{
    memset(info, 0, sizeof(*info));
    if (len < RTCP_HEADER_LEN)
        return VP_E_PARSE;
    size_t off = 0;
    while (off < len) {
        if (len - off < RTCP_HEADER_LEN)
            return VP_E_PARSE;
        size_t n = subpacket_len(pkt + off, len - off);
        if (n == 0)
            return VP_E_PARSE;
        if (info->npackets == 0) {
            info->first_pt = pkt[1];
            info->ssrc = n >= 8 ? get32(pkt + 4) : 0;
        }
        if (pkt[off + 1] == RTCP_PT_BYE)
            info->has_bye = 1;
        info->npackets++;
        off += n;
    }
    return 0;
}
