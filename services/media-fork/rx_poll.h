/*
 * rx_poll.h - edge-triggered read readiness for many datagram sockets, under one libuv
 * handle.
 *
 * libuv polls level-triggered: every socket that had a datagram is reported, read until
 * EAGAIN, and polled once more by the kernel at the next epoll_wait to find it empty. At
 * 50 packets a second per socket nearly every wake-up finds one datagram per socket, so
 * that second poll (and the epoll bookkeeping around it) is paid for every packet:
 * bench-media measured 6.6 % of media-fork's CPU in epoll_wait against rtpengine's 1.4 %
 * (rtpengine registers its sockets edge-triggered). Here the sockets sit in an epoll set
 * of our own, edge-triggered, and that set's descriptor is what libuv polls: one wake-up
 * hands over every ready socket once.
 *
 * Edge-triggered means the owner must read a reported socket until EAGAIN, or remember
 * that it stopped early (a read budget) and read again later by itself: no new report
 * comes until a new datagram arrives. Linux only (epoll), as media-fork is.
 */
#ifndef MF_RX_POLL_H
#define MF_RX_POLL_H

#include <uv.h>

struct rx_poll;

/* A socket added with arg became readable (or has an error pending). */
typedef void rx_poll_ready_cb(void *arg);

/* Returns 0 or VP_E_IO. The handle keeps the loop alive until rx_poll_close. */
int rx_poll_open(struct rx_poll **out, uv_loop_t *loop, rx_poll_ready_cb *ready);
/* Watch fd (non-blocking) for datagrams; ready(arg) runs on each new arrival edge. */
int rx_poll_add(struct rx_poll *p, int fd, void *arg);
/* Stop watching fd (before it is closed): no ready() for it from the next wake-up on. */
void rx_poll_remove(struct rx_poll *p, int fd);
/* Close: ready() never runs again; the memory goes when libuv has closed the handle. */
void rx_poll_close(struct rx_poll *p);

#endif
