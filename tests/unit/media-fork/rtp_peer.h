/*
 * rtp_peer.h - the far end in media-fork tests: a UDP socket on 127.0.0.1 that records
 * every RTP packet it receives (header, size, payload shape, source port, arrival time)
 * and sends what the test gives it. Test-only; included by one test file.
 */
#ifndef MF_TEST_RTP_PEER_H
#define MF_TEST_RTP_PEER_H

#include <arpa/inet.h>
#include <string.h>
#include <uv.h>

#include "rtp.h"

#define RTP_PEER_MAX_PKTS 2048

struct pkt {
    struct rtp_hdr h;
    size_t len; /* datagram */
    uint8_t first;
    bool uniform; /* payload bytes all equal */
    uint16_t from_port;
    uint64_t t_ms;
};

struct peer {
    uv_udp_t udp;
    uint16_t port;
    struct pkt pkts[RTP_PEER_MAX_PKTS];
    int n;
    uint64_t bytes;
    int bad;
    uint64_t total_n, total_bytes; /* since the start, never reset */
};

static uint8_t rxbuf[2048];

static void peer_alloc_cb(uv_handle_t *h, size_t s, uv_buf_t *buf)
{
    *buf = uv_buf_init((char *)rxbuf, sizeof(rxbuf));
}

static void peer_recv_cb(uv_udp_t *h, ssize_t nread, const uv_buf_t *buf,
                         const struct sockaddr *from, unsigned flags)
{
    struct peer *p = h->data;
    if (nread <= 0 || !from)
        return;
    struct pkt *k = &p->pkts[p->n < RTP_PEER_MAX_PKTS ? p->n : RTP_PEER_MAX_PKTS - 1];
    if (rtp_parse(rxbuf, (size_t)nread, &k->h, NULL)) {
        p->bad++;
        return;
    }
    k->len = (size_t)nread;
    k->first = k->h.payload_len ? k->h.payload[0] : 0;
    k->uniform = true;
    for (size_t i = 1; i < k->h.payload_len; i++)
        k->uniform &= k->h.payload[i] == k->first;
    k->h.payload = NULL; /* points into rxbuf: not kept */
    k->from_port = ntohs(((const struct sockaddr_in *)from)->sin_port);
    k->t_ms = uv_hrtime() / 1000000u;
    p->n++;
    p->bytes += (uint64_t)nread;
    p->total_n++;
    p->total_bytes += (uint64_t)nread;
}

static void peer_open(struct peer *p, uv_loop_t *loop)
{
    memset(p, 0, sizeof(*p));
    uv_udp_init(loop, &p->udp);
    p->udp.data = p;
    struct sockaddr_in a;
    uv_ip4_addr("127.0.0.1", 0, &a);
    assert_int_equal(uv_udp_bind(&p->udp, (struct sockaddr *)&a, 0), 0);
    int len = sizeof(a);
    uv_udp_getsockname(&p->udp, (struct sockaddr *)&a, &len);
    p->port = ntohs(a.sin_port);
    assert_int_equal(uv_udp_recv_start(&p->udp, peer_alloc_cb, peer_recv_cb), 0);
}

static void peer_reset(struct peer *p)
{
    p->n = 0;
    p->bytes = 0;
    p->bad = 0;
}

static void peer_send(struct peer *p, uint16_t to_port, const uint8_t *d, size_t len)
{
    struct sockaddr_in a;
    uv_ip4_addr("127.0.0.1", to_port, &a);
    uv_buf_t b = uv_buf_init((char *)d, (unsigned)len);
    assert_int_equal(uv_udp_try_send(&p->udp, &b, 1, (struct sockaddr *)&a), (int)len);
}

#endif
