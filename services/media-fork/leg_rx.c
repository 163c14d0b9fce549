/*
 * The receive path of a leg: both ports read into the engine's shared buffer, RTP is
 * parsed, checked against the latched source, counted and delivered; RTCP is validated
 * and counted. RTP sockets are watched edge-triggered in the context's rx_poll set
 * (rx_poll.h: one report per arrival, not two polls per packet) and read here with
 * recvmmsg until empty; RTCP, a packet every few seconds, is read by libuv. Work is bounded: a leg
 * reads at most MEDIA_RX_PER_TICK datagrams per port per 20 ms tick, after which reading
 * pauses until the next tick and the kernel drops the excess (a flood costs the flooder's
 * socket buffer, not our CPU).
 */
#include "leg_internal.h"

#include <errno.h>
#include <string.h>
#include <sys/socket.h>

#include "rtcp.h"
#include "rx_poll.h"
#include "udp_pair.h"
#include "voepy/err.h"
#include "voepy/log.h"
#include "voepy/metrics.h"

static void alloc_cb(uv_handle_t *h, size_t suggested, uv_buf_t *buf)
{
    struct leg *l = h->data;
    *buf = uv_buf_init((char *)l->ctx->rx_batch[0], sizeof(l->ctx->rx_batch[0]));
}

static void refuse(struct leg *l, struct metric *reason)
{
    l->counters.invalid_in++;
    metric_inc(reason);
}

static socklen_t sa_len(const struct sockaddr *sa)
{
    return sa->sa_family == AF_INET6 ? sizeof(struct sockaddr_in6) : sizeof(struct sockaddr_in);
}

/*
 * Symmetric RTP: the first valid packet's source becomes where we send (the far end may
 * sit behind NAT and its SDP address be private); after that, packets from elsewhere are
 * refused so nobody can inject audio or steal the stream. A new `connect` to a different
 * address latches again.
 */
static bool source_ok(struct leg *l, const struct sockaddr *from)
{
    if (l->latched)
        return udp_addr_equal(&l->latch_addr, from);
    memset(&l->latch_addr, 0, sizeof(l->latch_addr));
    memcpy(&l->latch_addr, from, sa_len(from));
    l->latched = true;
    log_debug("media.latched", "leg %s latched its far end", l->id);
    return true;
}

/* Hand a valid packet to whatever consumes this leg's audio. */
static void deliver(struct leg *l, const struct rtp_hdr *h)
{
    if (l->bridge && l->state == LEG_CONNECTED)
        bridge__rx(l, h); /* audio and events for the bridged peer (instead of echo) */
    else if (l->ring && l->state == LEG_CONNECTED && l->remote.mode == LEG_MODE_ECHO &&
             h->pt == l->remote.pt)
        frame_ring_push(l->ring, h->payload, h->payload_len);
    if (l->media)
        leg__media_rx(l, h); /* digits for a gather */
    if (l->taps && l->state == LEG_CONNECTED)
        leg__tap_rx(l, h); /* recording, streams, transcription, detectors */
}

static void on_rtp(struct leg *l, const uint8_t *pkt, size_t len, const struct sockaddr *from)
{
    struct media_metrics *m = &l->ctx->metrics;
    struct rtp_hdr h;
    enum rtp_fault fault;
    if (rtp_parse(pkt, len, &h, &fault)) {
        refuse(l, m->invalid_fault[fault]);
        return;
    }
    if (!source_ok(l, from)) {
        refuse(l, m->invalid_source);
        return;
    }
    l->counters.packets_in++;
    l->counters.bytes_in += len;
    metric_inc(m->packets_in);
    metric_add(m->bytes_in, (int64_t)len);
    l->last_activity = uv_now(l->ctx->loop);
    leg__stats_rx(l, &h); /* loss and jitter (leg_rtcp.c) */
    deliver(l, &h);
}

/* Count one RTCP read against the port's budget; pause reading when it is spent. */
static void charge(struct leg *l, uv_udp_t *h, unsigned *used, bool *paused)
{
    if (++*used < MEDIA_RX_PER_TICK)
        return;
    uv_udp_recv_stop(h);
    *paused = true;
    metric_inc(l->ctx->metrics.flood);
}

/*
 * Read the RTP socket until it is empty, the leg closes or the tick's budget is spent
 * (then the next tick reads on: edge-triggered, no new report comes for what waits).
 * recvmmsg takes up to MEDIA_RX_BATCH datagrams a call and stops at the first that is not
 * there, so a call that returns fewer than asked has emptied the socket: the usual
 * wake-up (one datagram) costs one call, not a read and an EAGAIN.
 */
static void rtp_drain(struct leg *l)
{
    struct media_ctx *ctx = l->ctx;
    int fd;
    if (uv_fileno((const uv_handle_t *)&l->rtp, &fd))
        return;
    struct sockaddr_storage from[MEDIA_RX_BATCH];
    struct iovec iov[MEDIA_RX_BATCH];
    struct mmsghdr mm[MEDIA_RX_BATCH];
    while (l->state != LEG_CLOSING && !l->rtp_paused) {
        unsigned want = MEDIA_RX_PER_TICK - l->rx_rtp;
        if (want > MEDIA_RX_BATCH)
            want = MEDIA_RX_BATCH;
        for (unsigned i = 0; i < want; i++) {
            iov[i] = (struct iovec){.iov_base = ctx->rx_batch[i], .iov_len = RTP_MAX_PACKET};
            mm[i].msg_hdr = (struct msghdr){.msg_name = &from[i],
                                            .msg_namelen = sizeof(from[i]),
                                            .msg_iov = &iov[i],
                                            .msg_iovlen = 1};
        }
        int n = recvmmsg(fd, mm, want, 0, NULL);
        if (n < 0 && errno == EINTR)
            continue;
        if (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK))
            return;
        l->rx_rtp += n < 0 ? 1 : (unsigned)n; /* an error the socket reported (ICMP) too */
        if (l->rx_rtp >= MEDIA_RX_PER_TICK) {
            l->rtp_paused = true;
            metric_inc(ctx->metrics.flood);
        }
        if (n < 0)
            continue;
        for (int i = 0; i < n && l->state != LEG_CLOSING; i++) {
            if (mm[i].msg_hdr.msg_flags & MSG_TRUNC)
                refuse(l, ctx->metrics.invalid_oversize);
            else
                on_rtp(l, ctx->rx_batch[i], mm[i].msg_len, (const struct sockaddr *)&from[i]);
        }
        if ((unsigned)n < want)
            return; /* emptied */
    }
}

static void rtp_ready_cb(void *arg)
{
    rtp_drain(arg);
}

static void rtcp_recv_cb(uv_udp_t *h, ssize_t nread, const uv_buf_t *buf,
                         const struct sockaddr *from, unsigned flags)
{
    struct leg *l = h->data;
    if (nread < 0 || !from || l->state == LEG_CLOSING)
        return;
    charge(l, h, &l->rx_rtcp, &l->rtcp_paused);
    struct rtcp_info info;
    if ((flags & UV_UDP_PARTIAL) || rtcp_parse((const uint8_t *)buf->base, (size_t)nread, &info)) {
        refuse(l, l->ctx->metrics.invalid_rtcp);
        return;
    }
    /* RTCP keeps a leg alive (a call on hold may send RTCP only). */
    l->counters.rtcp_in++;
    metric_inc(l->ctx->metrics.rtcp_in);
    l->last_activity = uv_now(l->ctx->loop);
    if (!l->rtcp_seen) {
        memcpy(&l->rtcp_addr, from, sa_len(from));
        l->rtcp_seen = true;
    }
    leg__rtcp_rx(l, (const uint8_t *)buf->base, (size_t)nread); /* RTT, loss of our RTP */
}

int leg__rx_start(struct leg *l)
{
    struct media_ctx *ctx = l->ctx;
    int fd;
    if (!ctx->rx && rx_poll_open(&ctx->rx, ctx->loop, rtp_ready_cb))
        return VP_E_IO;
    if (uv_fileno((const uv_handle_t *)&l->rtp, &fd) || rx_poll_add(ctx->rx, fd, l))
        return VP_E_IO;
    l->rtp_polled = true;
    if (uv_udp_recv_start(&l->rtcp, alloc_cb, rtcp_recv_cb))
        return VP_E_IO;
    rtp_drain(l); /* what arrived before the socket joined the set makes no edge */
    return 0;
}

void leg__rx_stop(struct leg *l)
{
    int fd;
    if (l->rtp_polled && !uv_fileno((const uv_handle_t *)&l->rtp, &fd))
        rx_poll_remove(l->ctx->rx, fd);
    l->rtp_polled = false;
}

void leg__rx_idle(struct media_ctx *ctx)
{
    if (ctx->legs_open || !ctx->rx)
        return;
    rx_poll_close(ctx->rx);
    ctx->rx = NULL;
}

void leg__rx_tick(struct leg *l)
{
    l->rx_rtp = 0;
    l->rx_rtcp = 0;
    if (l->rtp_paused) {
        l->rtp_paused = false;
        rtp_drain(l);
    }
    if (l->rtcp_paused && uv_udp_recv_start(&l->rtcp, alloc_cb, rtcp_recv_cb) == 0)
        l->rtcp_paused = false;
}
