/* The shared media clock; see ticker.h. */
#include "ticker.h"

#include <stdlib.h>

#include "voepy/alloc.h"

struct ticker {
    uv_timer_t timer; /* first: freed in its close callback */
    uint64_t period_ns, next_due_ns;
    unsigned max_catchup;
    uint64_t overruns;
    ticker_cb *cb;
    void *arg;
    void (*closed)(void *arg);
    void *closed_arg;
};

static void timer_cb(uv_timer_t *h);

static void arm(struct ticker *t)
{
    uint64_t now = uv_hrtime();
    uint64_t wait_ns = t->next_due_ns > now ? t->next_due_ns - now : 0;
    uv_timer_start(&t->timer, timer_cb, (wait_ns + 999999) / 1000000, 0);
}

static void timer_cb(uv_timer_t *h)
{
    struct ticker *t = h->data;
    unsigned n = 0;
    uint64_t now = uv_hrtime();
    /* The callback may close the ticker: stop calling it then. */
    while (t->next_due_ns <= now && n < t->max_catchup && !uv_is_closing((uv_handle_t *)h)) {
        t->cb(t->arg);
        t->next_due_ns += t->period_ns;
        n++;
    }
    if (t->next_due_ns <= now) {
        uint64_t behind = (now - t->next_due_ns) / t->period_ns + 1;
        t->overruns += behind;
        t->next_due_ns += behind * t->period_ns;
    }
    if (!uv_is_closing((uv_handle_t *)h))
        arm(t);
}

int ticker_create(struct ticker **tp, uv_loop_t *loop, unsigned period_ms, unsigned max_catchup,
                  ticker_cb *cb, void *arg)
{
    struct ticker *t = VP_NEW(t);
    uv_timer_init(loop, &t->timer);
    t->timer.data = t;
    t->period_ns = (uint64_t)period_ms * 1000000u;
    t->next_due_ns = uv_hrtime() + t->period_ns;
    t->max_catchup = max_catchup ? max_catchup : 1;
    t->cb = cb;
    t->arg = arg;
    arm(t);
    *tp = t;
    return 0;
}

uint64_t ticker_overruns(const struct ticker *t)
{
    return t->overruns;
}

static void close_cb(uv_handle_t *h)
{
    struct ticker *t = h->data;
    void (*closed)(void *) = t->closed;
    void *arg = t->closed_arg;
    free(t);
    if (closed)
        closed(arg);
}

void ticker_close(struct ticker *t, void (*closed)(void *arg), void *arg)
{
    t->closed = closed;
    t->closed_arg = arg;
    uv_close((uv_handle_t *)&t->timer, close_cb);
}
