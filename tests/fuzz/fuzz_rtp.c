/*
 * fuzz_rtp.c - media-fork's RTP and RTCP header parsers, on exact-size copies so that
 * ASan sees any read past the datagram.
 */
#include <stdlib.h>
#include <string.h>

#include "fuzz.h"
#include "rtcp.h"
#include "rtp.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    uint8_t *pkt = malloc(size ? size : 1);
    memcpy(pkt, data, size);
    struct rtp_hdr h;
    enum rtp_fault fault;
    if (rtp_parse(pkt, size, &h, &fault) == 0) {
        /* The payload the parser hands out must lie inside the packet. */
        if (h.payload < pkt || h.payload + h.payload_len > pkt + size)
            abort();
    }
    struct rtcp_info info;
    rtcp_parse(pkt, size, &info);
    free(pkt);
    return 0;
}
