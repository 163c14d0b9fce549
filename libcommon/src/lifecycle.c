#include "voepy/lifecycle.h"
#include "voepy/alloc.h"
#include "voepy/err.h"
#include "voepy/log.h"

#include <signal.h>
#include <stdlib.h>

#define MAX_PARTICIPANTS 32

struct participant {
    struct lifecycle_hooks hooks;
    bool drained;
};

struct lifecycle {
    uv_loop_t *loop;
    enum lifecycle_state state;
    unsigned drain_timeout_ms;
    uv_signal_t sigterm, sigint;
    uv_timer_t drain_timer;
    struct participant parts[MAX_PARTICIPANTS];
    int nparts;
    int open_handles; /* handles still to close before destroy */
};

static void stop_now(struct lifecycle *lc);

const char *lifecycle_state_name(enum lifecycle_state s)
{
    switch (s) {
    case LIFECYCLE_RUNNING:
        return "running";
    case LIFECYCLE_DRAINING:
        return "draining";
    case LIFECYCLE_STOPPING:
        return "stopping";
    }
    return "unknown";
}

/* The one place the state changes: only forward, RUNNING -> DRAINING -> STOPPING. */
static void set_state(struct lifecycle *lc, enum lifecycle_state s)
{
    if (s <= lc->state)
        abort();
    log_info("lifecycle.state", "%s -> %s", lifecycle_state_name(lc->state),
             lifecycle_state_name(s));
    lc->state = s;
}

static bool all_drained(const struct lifecycle *lc)
{
    for (int i = 0; i < lc->nparts; i++)
        if (!lc->parts[i].drained)
            return false;
    return true;
}

static void drain_timeout_cb(uv_timer_t *t)
{
    struct lifecycle *lc = t->data;
    log_warn("lifecycle.drain_timeout", "drain did not finish within %u ms; stopping",
             lc->drain_timeout_ms);
    stop_now(lc);
}

static void start_drain(struct lifecycle *lc)
{
    set_state(lc, LIFECYCLE_DRAINING);
    uv_timer_start(&lc->drain_timer, drain_timeout_cb, lc->drain_timeout_ms, 0);
    for (int i = 0; i < lc->nparts && lc->state == LIFECYCLE_DRAINING; i++) {
        struct participant *p = &lc->parts[i];
        if (p->hooks.drain)
            p->hooks.drain(lc, i, p->hooks.arg);
        else
            p->drained = true;
    }
    if (lc->state == LIFECYCLE_DRAINING && all_drained(lc))
        stop_now(lc);
}

static void handle_closed_cb(uv_handle_t *h)
{
    struct lifecycle *lc = h->data;
    lc->open_handles--;
}

static void stop_now(struct lifecycle *lc)
{
    if (lc->state == LIFECYCLE_STOPPING)
        return;
    set_state(lc, LIFECYCLE_STOPPING);
    uv_close((uv_handle_t *)&lc->drain_timer, handle_closed_cb);
    uv_close((uv_handle_t *)&lc->sigterm, handle_closed_cb);
    uv_close((uv_handle_t *)&lc->sigint, handle_closed_cb);
    for (int i = lc->nparts - 1; i >= 0; i--)
        if (lc->parts[i].hooks.stop)
            lc->parts[i].hooks.stop(lc->parts[i].hooks.arg);
}

static void signal_cb(uv_signal_t *s, int signum)
{
    struct lifecycle *lc = s->data;
    log_info("lifecycle.signal", "received %s", signum == SIGTERM ? "SIGTERM" : "SIGINT");
    lifecycle_shutdown(lc, signum == SIGTERM);
}

int lifecycle_create(struct lifecycle **lcp, uv_loop_t *loop, unsigned drain_timeout_ms)
{
    struct lifecycle *lc = VP_NEW(lc);
    lc->loop = loop;
    lc->drain_timeout_ms = drain_timeout_ms;
    lc->state = LIFECYCLE_RUNNING;
    signal(SIGPIPE, SIG_IGN);
    uv_timer_init(loop, &lc->drain_timer);
    uv_signal_init(loop, &lc->sigterm);
    uv_signal_init(loop, &lc->sigint);
    lc->drain_timer.data = lc->sigterm.data = lc->sigint.data = lc;
    lc->open_handles = 3;
    uv_signal_start(&lc->sigterm, signal_cb, SIGTERM);
    uv_signal_start(&lc->sigint, signal_cb, SIGINT);
    /* Signal handles must not keep the loop alive on their own. */
    uv_unref((uv_handle_t *)&lc->sigterm);
    uv_unref((uv_handle_t *)&lc->sigint);
    *lcp = lc;
    return 0;
}

int lifecycle_add(struct lifecycle *lc, const struct lifecycle_hooks *hooks)
{
    if (lc->nparts == MAX_PARTICIPANTS)
        return VP_E_OVERFLOW;
    lc->parts[lc->nparts].hooks = *hooks;
    lc->parts[lc->nparts].drained = false;
    return lc->nparts++;
}

void lifecycle_drained(struct lifecycle *lc, int id)
{
    if (id < 0 || id >= lc->nparts || lc->parts[id].drained)
        return;
    lc->parts[id].drained = true;
    if (lc->state == LIFECYCLE_DRAINING && all_drained(lc))
        stop_now(lc);
}

void lifecycle_shutdown(struct lifecycle *lc, bool drain)
{
    if (lc->state == LIFECYCLE_RUNNING && drain)
        start_drain(lc);
    else
        stop_now(lc); /* SIGINT, or a second SIGTERM while draining */
}

enum lifecycle_state lifecycle_state(const struct lifecycle *lc)
{
    return lc->state;
}

void lifecycle_destroy(struct lifecycle *lc)
{
    if (!lc)
        return;
    if (lc->state != LIFECYCLE_STOPPING)
        stop_now(lc);
    /* Run the loop just long enough to close our own handles. */
    while (lc->open_handles > 0)
        uv_run(lc->loop, UV_RUN_ONCE);
    free(lc);
}
