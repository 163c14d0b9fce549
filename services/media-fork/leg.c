/* Leg lifetime and state; the packet paths are in leg_rx.c and leg_tx.c. See leg.h. */
#include "leg_internal.h"

#include <assert.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "bridge.h"
#include "codec.h"
#include "port_pool.h"
#include "udp_pair.h"
#include "voepy/alloc.h"
#include "voepy/err.h"
#include "voepy/log.h"
#include "voepy/metrics.h"

const char *leg_state_name(enum leg_state s)
{
    switch (s) {
    case LEG_ALLOCATED:
        return "allocated";
    case LEG_CONNECTED:
        return "connected";
    case LEG_CLOSING:
        return "closing";
    }
    return "unknown";
}

const char *leg_mode_name(enum leg_mode m)
{
    return m == LEG_MODE_ECHO ? "echo" : "silence";
}

int leg_mode_parse(const char *s, enum leg_mode *m)
{
    if (s && strcmp(s, "echo") == 0)
        *m = LEG_MODE_ECHO;
    else if (s && strcmp(s, "silence") == 0)
        *m = LEG_MODE_SILENCE;
    else
        return VP_E_INVALID_PARAMETER;
    return 0;
}

/* The one place the state changes; asserts the transition is legal. */
static void set_state(struct leg *l, enum leg_state to)
{
    assert(l->state != LEG_CLOSING);
    assert(to != LEG_ALLOCATED);
    log_debug("media.leg_state", "leg %s %s -> %s", l->id, leg_state_name(l->state),
              leg_state_name(to));
    l->state = to;
}

static void update_gauges(struct media_ctx *ctx)
{
    metric_set(ctx->metrics.legs, ctx->legs_open);
    metric_set(ctx->metrics.ports_free, (int64_t)port_pool_free_count(ctx->ports));
}

struct bind_try {
    const struct sockaddr_storage *ip;
    int fds[2];
};

static int bind_try_cb(uint16_t port, void *arg)
{
    struct bind_try *bt = arg;
    return udp_pair_bind(bt->ip, port, bt->fds);
}

static int copy_id(char *dst, size_t cap, const char *src)
{
    if (!src || strlen(src) >= cap)
        return VP_E_INVALID_PARAMETER;
    memcpy(dst, src, strlen(src) + 1);
    return 0;
}

static int fill_ids(struct leg *l, const char *leg_id, const char *call_id, const char *reply_to)
{
    if (copy_id(l->id, sizeof(l->id), leg_id))
        return VP_E_INVALID_PARAMETER;
    if (copy_id(l->call_id, sizeof(l->call_id), call_id ? call_id : ""))
        return VP_E_INVALID_PARAMETER;
    return copy_id(l->reply_to, sizeof(l->reply_to), reply_to ? reply_to : "");
}

/* Hand the bound fds to libuv; on failure the fd not taken over is closed here. */
static int adopt_fds(struct leg *l, const int fds[2])
{
    uv_udp_init(l->ctx->loop, &l->rtp);
    uv_udp_init(l->ctx->loop, &l->rtcp);
    l->rtp.data = l;
    l->rtcp.data = l;
    l->ctx->legs_open++;
    int e1 = uv_udp_open(&l->rtp, fds[0]);
    if (e1)
        close(fds[0]);
    int e2 = uv_udp_open(&l->rtcp, fds[1]);
    if (e2)
        close(fds[1]);
    return e1 || e2 ? VP_E_IO : 0;
}

int leg_open(struct leg **lp, struct media_ctx *ctx, const char *leg_id, const char *call_id,
             const char *reply_to)
{
    struct leg *l = VP_NEW(l);
    l->ctx = ctx;
    int err = fill_ids(l, leg_id, call_id, reply_to);
    if (err) {
        free(l);
        return err;
    }
    struct bind_try bt = {.ip = &ctx->media_addr};
    err = port_pool_acquire(ctx->ports, bind_try_cb, &bt, &l->port);
    if (err) {
        free(l);
        return err;
    }
    l->state = LEG_ALLOCATED;
    l->last_activity = uv_now(ctx->loop);
    leg__tx_init(l);
    err = adopt_fds(l, bt.fds);
    if (!err)
        err = leg__rx_start(l);
    if (err) {
        leg_close(l); /* frees l and the port asynchronously */
        return err;
    }
    update_gauges(ctx);
    *lp = l;
    return 0;
}

/* A fresh codec state for c (a new codec, or the first connect). */
static void set_codec(struct leg *l, const struct codec *c)
{
    codec_state_free(l->codec);
    l->codec = NULL;
    if (codec_state_create(&l->codec, c) != 0)
        log_error("media.codec_failed", "leg=%s codec=%s", l->id, c->name);
}

void leg_connect(struct leg *l, const struct leg_remote *r)
{
    bool moved = l->state != LEG_CONNECTED ||
                 !udp_addr_equal(&l->remote.addr, (const struct sockaddr *)&r->addr);
    if (moved) {
        /* New far end (first connect or a re-INVITE elsewhere): latch again. */
        l->latched = false;
        l->rtcp_seen = false;
    }
    if (r->mode == LEG_MODE_ECHO && (!l->ring || l->remote.mode != LEG_MODE_ECHO)) {
        if (!l->ring)
            l->ring = vp_malloc(sizeof(*l->ring));
        frame_ring_reset(l->ring);
    }
    if (!l->codec || codec_state_codec(l->codec) != r->codec)
        set_codec(l, r->codec);
    l->remote = *r;
    if (l->state != LEG_CONNECTED)
        set_state(l, LEG_CONNECTED);
    leg_touch(l);
}

void leg_tick(struct leg *l)
{
    if (l->state == LEG_CLOSING)
        return;
    leg__rx_tick(l);
    leg__media_tick(l);
    if (l->state == LEG_CONNECTED)
        leg__tx_tick(l);
}

void leg_touch(struct leg *l)
{
    l->last_activity = uv_now(l->ctx->loop);
}

static void close_cb(uv_handle_t *h)
{
    struct leg *l = h->data;
    if (--l->closes_pending)
        return;
    struct media_ctx *ctx = l->ctx;
    port_pool_release(ctx->ports, l->port);
    ctx->legs_open--;
    update_gauges(ctx);
    free(l->ring);
    codec_state_free(l->codec);
    free(l);
    leg__rx_idle(ctx); /* before leg_freed, which may free the engine and ctx with it */
    if (ctx->leg_freed)
        ctx->leg_freed(ctx);
}

void leg_close(struct leg *l)
{
    if (l->state == LEG_CLOSING)
        return;
    leg__media_close(l); /* its events go out before the leg is gone */
    leg__tap_close(l);
    leg__inject_close(l);
    bridge_leave(l); /* the peer goes back to its mode */
    if (l->state == LEG_CONNECTED)
        leg__rtcp_bye(l); /* the far end learns we left (leg_rtcp.c) */
    set_state(l, LEG_CLOSING);
    leg__rx_stop(l);
    l->closes_pending = 2;
    uv_close((uv_handle_t *)&l->rtp, close_cb);
    uv_close((uv_handle_t *)&l->rtcp, close_cb);
}

const char *leg_id(const struct leg *l)
{
    return l->id;
}

const char *leg_call_id(const struct leg *l)
{
    return l->call_id;
}

const char *leg_reply_to(const struct leg *l)
{
    return l->reply_to;
}

uint16_t leg_port(const struct leg *l)
{
    return l->port;
}

enum leg_state leg_state(const struct leg *l)
{
    return l->state;
}

const struct leg_counters *leg_counters(const struct leg *l)
{
    return &l->counters;
}

uint64_t leg_last_activity(const struct leg *l)
{
    return l->last_activity;
}
