/*
 * redis_uv.c - our libuv adapter for hiredis 0.14 async contexts.
 *
 * hiredis calls the add/del hooks whenever it wants (or no longer wants) read or write
 * readiness, and cleanup once, while it frees the context. The adapter lives in its own
 * allocation because the uv_poll handle must outlive the context until uv_close is done.
 */
#include "redis_uv.h"

#include "voepy/alloc.h"
#include "voepy/err.h"

struct redis_uv {
    redisAsyncContext *ac; /* NULL once hiredis has called cleanup */
    uv_poll_t poll;
    int events; /* UV_READABLE | UV_WRITABLE as hiredis last asked */
};

/*
 * libuv reports a socket error (a refused connect, a reset) as status < 0 with
 * events == 0 and stops the handle. hiredis learns about the error only by touching
 * the socket, so we replay the events we had registered: the write path checks
 * SO_ERROR while connecting, the read path gets the error from read(2). Either one frees
 * the context on error, which clears p->ac through cleanup_cb (p itself stays valid
 * until its close callback), hence the re-check between the two calls.
 */
static void poll_cb(uv_poll_t *h, int status, int events)
{
    struct redis_uv *p = h->data;
    if (status < 0)
        events = p->events;
    if (p->ac && (events & UV_READABLE))
        redisAsyncHandleRead(p->ac);
    if (p->ac && (events & UV_WRITABLE))
        redisAsyncHandleWrite(p->ac);
}

/* Always restart the poll: libuv may have stopped it after an error event. */
static void set_events(struct redis_uv *p, int events)
{
    p->events = events;
    if (events)
        uv_poll_start(&p->poll, events, poll_cb);
    else
        uv_poll_stop(&p->poll);
}

static void add_read_cb(void *privdata)
{
    struct redis_uv *p = privdata;
    set_events(p, p->events | UV_READABLE);
}

static void del_read_cb(void *privdata)
{
    struct redis_uv *p = privdata;
    set_events(p, p->events & ~UV_READABLE);
}

static void add_write_cb(void *privdata)
{
    struct redis_uv *p = privdata;
    set_events(p, p->events | UV_WRITABLE);
}

static void del_write_cb(void *privdata)
{
    struct redis_uv *p = privdata;
    set_events(p, p->events & ~UV_WRITABLE);
}

static void poll_close_cb(uv_handle_t *h)
{
    free(h->data);
}

/*
 * hiredis is freeing the context and closes the fd right after this returns. uv_close
 * stops the poll (removing the fd from epoll) now; the memory goes in poll_close_cb.
 */
static void cleanup_cb(void *privdata)
{
    struct redis_uv *p = privdata;
    p->ac = NULL;
    uv_close((uv_handle_t *)&p->poll, poll_close_cb);
}

int redis_uv_attach(redisAsyncContext *ac, uv_loop_t *loop)
{
    if (ac->ev.data != NULL || ac->c.fd < 0)
        return VP_E_IO;
    struct redis_uv *p = VP_NEW(p);
    if (uv_poll_init(loop, &p->poll, ac->c.fd) != 0) {
        free(p); /* uv_poll_init failed: the handle was never registered with the loop */
        return VP_E_IO;
    }
    p->ac = ac;
    p->poll.data = p;
    ac->ev.data = p;
    ac->ev.addRead = add_read_cb;
    ac->ev.delRead = del_read_cb;
    ac->ev.addWrite = add_write_cb;
    ac->ev.delWrite = del_write_cb;
    ac->ev.cleanup = cleanup_cb;
    return 0;
}
