/* Edge-triggered readiness for the legs' RTP sockets (rx_poll.h). */
#include "rx_poll.h"

#include <stdlib.h>
#include <sys/epoll.h>
#include <unistd.h>

#include "voepy/alloc.h"
#include "voepy/err.h"
#include "voepy/log.h"

#define BATCH      256 /* sockets taken per epoll_wait */
#define MAX_ROUNDS 8   /* full batches per wake-up before other handles get their turn */

struct rx_poll {
    uv_poll_t handle;
    int epfd;
    rx_poll_ready_cb *ready;
    struct epoll_event ev[BATCH];
};

/*
 * The set's descriptor is readable: take what is ready, batch by batch. A ready() may
 * remove another socket whose report is already in this batch: its owner must stay valid
 * until the loop's next closing phase (a leg is freed only in its close callback) and
 * ignore the report (a closing leg reads nothing).
 */
static void readable_cb(uv_poll_t *h, int status, int events)
{
    (void)events;
    struct rx_poll *p = h->data;
    if (status < 0) {
        log_error("media.rx_poll_failed", "status=%s", uv_strerror(status));
        return;
    }
    for (int round = 0; round < MAX_ROUNDS; round++) {
        int n = epoll_wait(p->epfd, p->ev, BATCH, 0);
        for (int i = 0; i < n; i++)
            p->ready(p->ev[i].data.ptr);
        if (n < BATCH)
            return;
    }
}

int rx_poll_open(struct rx_poll **out, uv_loop_t *loop, rx_poll_ready_cb *ready)
{
    struct rx_poll *p = VP_NEW(p);
    p->ready = ready;
    p->epfd = epoll_create1(EPOLL_CLOEXEC);
    if (p->epfd < 0 || uv_poll_init(loop, &p->handle, p->epfd)) {
        if (p->epfd >= 0)
            close(p->epfd);
        free(p);
        return VP_E_IO;
    }
    p->handle.data = p;
    if (uv_poll_start(&p->handle, UV_READABLE, readable_cb)) {
        rx_poll_close(p);
        return VP_E_IO;
    }
    *out = p;
    return 0;
}

int rx_poll_add(struct rx_poll *p, int fd, void *arg)
{
    struct epoll_event ev = {.events = EPOLLIN | EPOLLET, .data.ptr = arg};
    return epoll_ctl(p->epfd, EPOLL_CTL_ADD, fd, &ev) ? VP_E_IO : 0;
}

void rx_poll_remove(struct rx_poll *p, int fd)
{
    epoll_ctl(p->epfd, EPOLL_CTL_DEL, fd, NULL);
}

static void closed_cb(uv_handle_t *h)
{
    struct rx_poll *p = h->data;
    close(p->epfd);
    free(p);
}

void rx_poll_close(struct rx_poll *p)
{
    uv_close((uv_handle_t *)&p->handle, closed_cb);
}
