/*
 * A session timer's clock (sip_timer.h): one uv timer, restarted at each refresh.
 */
#include "sip_timer.h"

#include <stdlib.h>

#include "sip_ext.h"
#include "voepy/alloc.h"

struct sip_timer {
    uv_timer_t timer;
    struct sip_timer_ops ops;
    unsigned secs;
    unsigned refreshes;
    bool we_refresh;
    bool freeing;
};

struct sip_timer *sip_timer_create(uv_loop_t *loop, const struct sip_timer_ops *ops)
{
    struct sip_timer *t = VP_NEW(t);
    t->ops = *ops;
    uv_timer_init(loop, &t->timer);
    t->timer.data = t;
    return t;
}

static void fire_cb(uv_timer_t *h)
{
    struct sip_timer *t = h->data;
    if (t->freeing || !t->secs)
        return;
    if (t->we_refresh) {
        if (t->ops.refresh)
            t->ops.refresh(t->ops.arg);
    } else if (t->ops.expire) {
        t->ops.expire(t->ops.arg);
    }
}

static void start(struct sip_timer *t)
{
    if (!t->secs) {
        uv_timer_stop(&t->timer);
        return;
    }
    uint64_t ms = t->we_refresh ? sip_ext_refresh_ms(t->secs) : sip_ext_expiry_ms(t->secs);
    uv_timer_start(&t->timer, fire_cb, ms, 0);
}

void sip_timer_arm(struct sip_timer *t, unsigned secs, bool we_refresh)
{
    if (!t)
        return;
    t->secs = secs;
    t->we_refresh = we_refresh;
    start(t);
}

void sip_timer_refreshed(struct sip_timer *t)
{
    if (!t || !t->secs)
        return;
    t->refreshes++;
    start(t);
}

unsigned sip_timer_secs(const struct sip_timer *t)
{
    return t->secs;
}

bool sip_timer_we_refresh(const struct sip_timer *t)
{
    return t->we_refresh;
}

unsigned sip_timer_refreshes(const struct sip_timer *t)
{
    return t->refreshes;
}

static void closed_cb(uv_handle_t *h)
{
    free(h->data);
}

void sip_timer_free(struct sip_timer *t)
{
    if (!t || t->freeing)
        return;
    t->freeing = true;
    uv_close((uv_handle_t *)&t->timer, closed_cb);
}
