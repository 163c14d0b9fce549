/* The set of legs of one node and the shared clock that drives them; see engine.h. */
#include "engine.h"

#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "idmap.h"
#include "media_ctx.h"
#include "port_pool.h"
#include "ticker.h"
#include "tombstones.h"
#include "udp_pair.h"
#include "voepy/alloc.h"
#include "voepy/err.h"
#include "voepy/log.h"
#include "voepy/metrics.h"

#define TICKS_PER_SECOND (1000 / MEDIA_TICK_MS)
#define MAX_CATCHUP      5 /* ticks run back to back after a stall (100 ms) */
#define TOMBSTONES       4096

struct engine {
    struct media_ctx ctx; /* legs point here; first, so leg_freed can find the engine */
    struct idmap *legs;   /* leg_id -> live leg (not closing) */
    struct tombstones *released;
    struct ticker *ticker;
    char media_ip[64];
    unsigned idle_ms;
    unsigned ticks;
    uint64_t overruns_seen;
    bool draining, closing;
    engine_reaped_cb *reaped_cb;
    void *reaped_arg;
    engine_event_cb *event_cb;
    void *event_arg;
    void (*drained)(void *arg);
    void *drained_arg;
    void (*closed)(void *arg);
    void *closed_arg;
    bool ticker_closed;
};

static void check_done(struct engine *e);

static void leg_freed_cb(struct media_ctx *ctx)
{
    check_done((struct engine *)ctx);
}

/* Remember l's identity and counters, so duplicates of its release get the same answer. */
static const struct tombstone *remember(struct engine *e, struct leg *l, const char *reason)
{
    struct tombstone rec = {.port = leg_port(l), .counters = *leg_counters(l), .reason = reason};
    snprintf(rec.leg_id, sizeof(rec.leg_id), "%s", leg_id(l));
    snprintf(rec.call_id, sizeof(rec.call_id), "%s", leg_call_id(l));
    snprintf(rec.reply_to, sizeof(rec.reply_to), "%s", leg_reply_to(l));
    tombstones_add(e->released, &rec);
    return tombstones_find(e->released, rec.leg_id);
}

static void report_from(const struct tombstone *t, struct leg_report *r)
{
    *r = (struct leg_report){.leg_id = t->leg_id,
                             .call_id = t->call_id,
                             .reply_to = t->reply_to,
                             .port = t->port,
                             .counters = t->counters,
                             .reason = t->reason};
}

/* Take a live leg out of service: record it, close it (freed asynchronously). */
static const struct tombstone *retire(struct engine *e, struct leg *l, const char *reason)
{
    idmap_remove(e->legs, leg_id(l));
    const struct tombstone *t = remember(e, l, reason);
    leg_close(l);
    return t;
}

static void reap_idle(struct engine *e)
{
    uint64_t now = uv_now(e->ctx.loop);
    /* From the end: retiring swaps the last leg into slot i, which was already seen. */
    for (size_t i = idmap_count(e->legs); i-- > 0;) {
        struct leg *l = idmap_value_at(e->legs, i);
        if (now - leg_last_activity(l) < e->idle_ms)
            continue;
        vlog_kv(VLOG_WARN, "media.leg_reaped", "leg idle: released by media-fork", "leg_id",
                leg_id(l), "call_id", leg_call_id(l), NULL);
        metric_inc(e->ctx.metrics.reaped);
        struct leg_report r;
        report_from(retire(e, l, "idle"), &r);
        if (e->reaped_cb)
            e->reaped_cb(&r, e->reaped_arg);
    }
}

static void tick_cb(void *arg)
{
    struct engine *e = arg;
    size_t n = idmap_count(e->legs);
    for (size_t i = 0; i < n; i++)
        leg_tick(idmap_value_at(e->legs, i));
    if (++e->ticks % TICKS_PER_SECOND)
        return;
    /* Once a second: idle legs, and overruns into the metric. */
    if (e->idle_ms)
        reap_idle(e);
    uint64_t o = ticker_overruns(e->ticker);
    metric_add(e->ctx.metrics.tick_overruns, (int64_t)(o - e->overruns_seen));
    e->overruns_seen = o;
}

static void leg_event_cb(struct media_ctx *ctx, const struct leg_event *ev)
{
    struct engine *e = (struct engine *)ctx;
    if (e->event_cb)
        e->event_cb(ev, e->event_arg);
}

static int init_ctx(struct engine *e, uv_loop_t *loop, const struct engine_opts *o)
{
    e->ctx.loop = loop;
    e->ctx.leg_freed = leg_freed_cb;
    e->ctx.leg_event = leg_event_cb;
    if (!o->media_ip || udp_addr_parse(o->media_ip, 0, &e->ctx.media_addr) ||
        strlen(o->media_ip) >= sizeof(e->media_ip) || udp_addr_unspecified(&e->ctx.media_addr))
        return VP_E_CONFIG; /* 0.0.0.0 binds but cannot be announced to a far end */
    snprintf(e->media_ip, sizeof(e->media_ip), "%s", o->media_ip);
    if (port_pool_create(&e->ctx.ports, o->port_min, o->port_max))
        return VP_E_CONFIG;
    media_metrics_init(&e->ctx.metrics);
    metric_set(e->ctx.metrics.ports_free, (int64_t)port_pool_free_count(e->ctx.ports));
    return 0;
}

int engine_create(struct engine **ep, uv_loop_t *loop, const struct engine_opts *o)
{
    struct engine *e = VP_NEW(e);
    int err = init_ctx(e, loop, o);
    if (err) {
        port_pool_destroy(e->ctx.ports);
        free(e);
        return err;
    }
    e->idle_ms = o->idle_ms;
    idmap_create(&e->legs, port_pool_capacity(e->ctx.ports));
    tombstones_create(&e->released, o->tombstones ? o->tombstones : TOMBSTONES);
    ticker_create(&e->ticker, loop, MEDIA_TICK_MS, MAX_CATCHUP, tick_cb, e);
    *ep = e;
    return 0;
}

void engine_on_reaped(struct engine *e, engine_reaped_cb *cb, void *arg)
{
    e->reaped_cb = cb;
    e->reaped_arg = arg;
}

void engine_on_event(struct engine *e, engine_event_cb *cb, void *arg)
{
    e->event_cb = cb;
    e->event_arg = arg;
}

const char *engine_media_ip(const struct engine *e)
{
    return e->media_ip;
}

static void count_failure(struct engine *e, int err)
{
    if (err == VP_E_UNAVAILABLE)
        metric_inc(e->ctx.metrics.alloc_no_ports);
    else if (err == VP_E_CANCELED)
        metric_inc(e->ctx.metrics.alloc_draining);
    else
        metric_inc(e->ctx.metrics.alloc_io);
}

int engine_allocate(struct engine *e, const char *id, const char *call_id, const char *reply_to,
                    uint16_t *port)
{
    struct leg *l = idmap_get(e->legs, id);
    if (l) {
        /* A duplicate (retry, redelivery): same leg, same port. */
        leg_touch(l);
        *port = leg_port(l);
        return 0;
    }
    if (tombstones_find(e->released, id))
        return VP_E_CONFLICT;
    int err = e->draining || e->closing ? VP_E_CANCELED : 0;
    if (!err)
        err = leg_open(&l, &e->ctx, id, call_id, reply_to);
    if (err) {
        if (err != VP_E_INVALID_PARAMETER)
            count_failure(e, err);
        return err;
    }
    /* Cannot fail: the map holds as many legs as the pool has pairs. */
    idmap_put(e->legs, leg_id(l), l);
    *port = leg_port(l);
    return 0;
}

int engine_connect(struct engine *e, const char *id, const struct leg_remote *r)
{
    struct leg *l = idmap_get(e->legs, id);
    if (!l)
        return VP_E_NOT_FOUND;
    leg_connect(l, r);
    return 0;
}

void engine_release(struct engine *e, const char *id, struct leg_report *r)
{
    struct leg *l = idmap_get(e->legs, id);
    const struct tombstone *t = l ? retire(e, l, "release") : tombstones_find(e->released, id);
    if (t) {
        report_from(t, r);
        return;
    }
    *r = (struct leg_report){.leg_id = id, .call_id = "", .reply_to = "", .reason = "unknown"};
}

size_t engine_leg_count(const struct engine *e)
{
    return idmap_count(e->legs);
}

size_t engine_ports_free(const struct engine *e)
{
    return port_pool_free_count(e->ctx.ports);
}

struct leg *engine_find(const struct engine *e, const char *id)
{
    return idmap_get(e->legs, id);
}

bool engine_draining(const struct engine *e)
{
    return e->draining;
}

static void finish_close(struct engine *e)
{
    void (*closed)(void *) = e->closed;
    void *arg = e->closed_arg;
    idmap_destroy(e->legs);
    tombstones_destroy(e->released);
    port_pool_destroy(e->ctx.ports);
    free(e);
    if (closed)
        closed(arg);
}

/* After a leg or the ticker closed: report a finished drain or finish closing. */
static void check_done(struct engine *e)
{
    if (e->ctx.legs_open || idmap_count(e->legs))
        return;
    if (e->drained) {
        void (*done)(void *) = e->drained;
        e->drained = NULL;
        done(e->drained_arg);
    }
    if (e->closing && e->ticker_closed)
        finish_close(e);
}

void engine_drain(struct engine *e, void (*done)(void *arg), void *arg)
{
    log_info("media.draining", "refusing new legs; %zu live", idmap_count(e->legs));
    e->draining = true;
    e->drained = done;
    e->drained_arg = arg;
    check_done(e);
}

static void ticker_closed_cb(void *arg)
{
    struct engine *e = arg;
    e->ticker_closed = true;
    check_done(e);
}

void engine_close(struct engine *e, void (*closed)(void *arg), void *arg)
{
    e->closing = true;
    e->closed = closed;
    e->closed_arg = arg;
    e->drained = NULL;
    for (size_t i = idmap_count(e->legs); i-- > 0;)
        retire(e, idmap_value_at(e->legs, i), "shutdown");
    /* The ticker closes last, from the loop: finish_close never runs inside this call. */
    ticker_close(e->ticker, ticker_closed_cb, e);
}
