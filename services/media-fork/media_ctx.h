/*
 * media_ctx.h - what every leg of one engine shares.
 *
 * Owned by the engine (engine.c), which outlives its legs: legs keep a pointer to it.
 * The receive and send buffers are shared by all legs because the loop handles one
 * datagram (or one socket's batch) at a time and both paths finish with the buffers
 * before returning (reads land in rx_batch and their handler consumes them;
 * uv_udp_try_send copies tx_buf into the kernel). That is what keeps the packet path
 * free of allocations.
 */
#ifndef MF_MEDIA_CTX_H
#define MF_MEDIA_CTX_H

#include <stddef.h>
#include <stdint.h>
#include <sys/socket.h>
#include <uv.h>

#include "leg_event.h"
#include "media_metrics.h"
#include "rtp.h"

struct port_pool;
struct rx_poll;

#define MEDIA_TICK_MS     20 /* the shared frame clock */
#define MEDIA_RX_PER_TICK 16 /* datagrams a leg may read per port per tick (800/s) */
#define MEDIA_RX_BATCH    4  /* RTP datagrams read per recvmmsg call (leg_rx.c) */

struct media_ctx {
    uv_loop_t *loop;
    struct port_pool *ports;
    struct sockaddr_storage media_addr; /* VOEPY_MEDIA_IP, port 0 */
    struct media_metrics metrics;
    unsigned legs_open; /* legs whose handles are not closed yet */
    struct rx_poll *rx; /* the legs' RTP sockets (rx_poll.h): open while legs_open > 0 */
    /* Called when a leg has closed its handles and is freed (engine bookkeeping). */
    void (*leg_freed)(struct media_ctx *ctx);
    /* A leg's playback ended or its gather completed (may be NULL: nobody listens). */
    void (*leg_event)(struct media_ctx *ctx, const struct leg_event *ev);
    /* RTP read by recvmmsg; RTCP (read by libuv) into the first. A larger datagram
     * arrives truncated (MSG_TRUNC, UV_UDP_PARTIAL) and is refused. */
    uint8_t rx_batch[MEDIA_RX_BATCH][RTP_MAX_PACKET];
    uint8_t tx_buf[RTP_MAX_PACKET];
};

#endif
