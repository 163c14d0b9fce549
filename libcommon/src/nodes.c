/*
 * nodes.c - node registry: heartbeat this node, track the alive nodes of watched services.
 *
 * Every interval_ms (and once at start) one timer tick:
 *   - heartbeats, when this is a node: ZADD voepy:nodes:<service> <now_ms> <id>, then
 *     HSET voepy:node:<service>:<id> heartbeat_ms <now_ms> <info pairs...> and PEXPIRE it
 *     to 2 * dead_after_ms, so details of a dead node disappear by themselves;
 *   - refreshes each watched service: ZRANGEBYSCORE voepy:nodes:<service> <now -
 *     dead_after_ms> +inf, kept sorted so that round-robin picks are stable across
 *     refreshes.
 * Dead members are left in the sorted set on purpose: survivors read it to find the
 * nodes that died (and close their calls).
 *
 * The redis connection is borrowed. Every command in flight holds n alive (n->cmds); n is
 * freed from its timer's close callback once closing and no reply is outstanding.
 */
#include "voepy/nodes.h"

#include <hiredis/hiredis.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "voepy/alloc.h"
#include "voepy/err.h"
#include "voepy/log.h"
#include "voepy/redis.h"
#include "voepy/vtime.h"

struct watch {
    struct nodes *n;
    char *service;
    char *key; /* voepy:nodes:<service> */
    char **ids;
    size_t nids;
    size_t rr; /* round-robin position */
    bool refreshing;
};

struct nodes {
    uv_loop_t *loop;
    struct redis *redis;
    char *service, *node_id;
    char *zkey, *hkey; /* this node's set and details hash (hkey NULL when only watching) */
    char **info;       /* key, value, ... */
    size_t ninfo;
    unsigned interval_ms, dead_after_ms;
    uv_timer_t timer;
    struct watch **watches;
    size_t nwatches;
    bool closing;
    unsigned cmds; /* replies still to come */
    void (*closed)(void *arg);
    void *closed_arg;
};

static void free_ids(struct watch *w)
{
    for (size_t i = 0; i < w->nids; i++)
        free(w->ids[i]);
    free(w->ids);
    w->ids = NULL;
    w->nids = 0;
}

static void nodes_free(struct nodes *n)
{
    for (size_t i = 0; i < n->nwatches; i++) {
        free_ids(n->watches[i]);
        free(n->watches[i]->service);
        free(n->watches[i]->key);
        free(n->watches[i]);
    }
    free(n->watches);
    for (size_t i = 0; i < n->ninfo; i++)
        free(n->info[i]);
    free(n->info);
    free(n->service);
    free(n->node_id);
    free(n->zkey);
    free(n->hkey);
    free(n);
}

static void timer_closed_cb(uv_handle_t *h)
{
    struct nodes *n = h->data;
    void (*closed)(void *) = n->closed;
    void *arg = n->closed_arg;
    nodes_free(n);
    if (closed)
        closed(arg);
}

static void maybe_finish(struct nodes *n)
{
    if (n->closing && n->cmds == 0 && !uv_is_closing((uv_handle_t *)&n->timer))
        uv_close((uv_handle_t *)&n->timer, timer_closed_cb);
}

static void write_cb(int status, struct redisReply *reply, void *arg)
{
    struct nodes *n = arg;
    if (!status && reply->type == REDIS_REPLY_ERROR)
        log_warn("nodes.write_failed", "node %s/%s: %s", n->service, n->node_id, reply->str);
    n->cmds--;
    maybe_finish(n);
}

static void send_write(struct nodes *n, int argc, const char **argv)
{
    if (redis_cmdv(n->redis, write_cb, n, argc, argv, NULL) == 0)
        n->cmds++;
}

static void heartbeat(struct nodes *n, int64_t now)
{
    char nowbuf[24], ttl[24];
    snprintf(nowbuf, sizeof(nowbuf), "%lld", (long long)now);
    snprintf(ttl, sizeof(ttl), "%llu", 2ULL * n->dead_after_ms);
    send_write(n, 4, (const char *[]){"ZADD", n->zkey, nowbuf, n->node_id});
    const char **argv = vp_calloc(4 + n->ninfo, sizeof(*argv));
    argv[0] = "HSET", argv[1] = n->hkey, argv[2] = "heartbeat_ms", argv[3] = nowbuf;
    for (size_t i = 0; i < n->ninfo; i++)
        argv[4 + i] = n->info[i];
    send_write(n, (int)(4 + n->ninfo), argv);
    free(argv);
    send_write(n, 3, (const char *[]){"PEXPIRE", n->hkey, ttl});
}

static int cmp_str(const void *a, const void *b)
{
    return strcmp(*(char *const *)a, *(char *const *)b);
}

static void refresh_cb(int status, struct redisReply *reply, void *arg)
{
    struct watch *w = arg;
    struct nodes *n = w->n;
    w->refreshing = false;
    n->cmds--;
    if (!status && reply->type == REDIS_REPLY_ARRAY && !n->closing) {
        free_ids(w);
        w->ids = vp_calloc(reply->elements ? reply->elements : 1, sizeof(*w->ids));
        for (size_t i = 0; i < reply->elements; i++)
            if (reply->element[i]->type == REDIS_REPLY_STRING)
                w->ids[w->nids++] = vp_strndup(reply->element[i]->str, reply->element[i]->len);
        qsort(w->ids, w->nids, sizeof(*w->ids), cmp_str);
    } else if (!status) {
        log_warn("nodes.refresh_failed", "nodes of %s: unexpected reply", w->service);
    }
    /* On failure the previous list stays: better slightly stale than empty. */
    maybe_finish(n);
}

static void refresh(struct nodes *n, struct watch *w, int64_t now)
{
    if (w->refreshing)
        return;
    char min[24];
    snprintf(min, sizeof(min), "%lld", (long long)(now - n->dead_after_ms));
    const char *argv[] = {"ZRANGEBYSCORE", w->key, min, "+inf"};
    if (redis_cmdv(n->redis, refresh_cb, w, 4, argv, NULL) == 0) {
        w->refreshing = true;
        n->cmds++;
    }
}

static void tick_cb(uv_timer_t *t)
{
    struct nodes *n = t->data;
    int64_t now = vtime_now_ms();
    if (n->node_id)
        heartbeat(n, now);
    for (size_t i = 0; i < n->nwatches; i++)
        refresh(n, n->watches[i], now);
}

static struct watch *watch_find(const struct nodes *n, const char *service)
{
    for (size_t i = 0; i < n->nwatches; i++)
        if (strcmp(n->watches[i]->service, service) == 0)
            return n->watches[i];
    return NULL;
}

static struct watch *watch_add(struct nodes *n, const char *service)
{
    struct watch *w = VP_NEW(w);
    w->n = n;
    w->service = vp_strdup(service);
    w->key = vp_asprintf("voepy:nodes:%s", service);
    n->watches = vp_realloc(n->watches, (n->nwatches + 1) * sizeof(*n->watches));
    n->watches[n->nwatches++] = w;
    return w;
}

void nodes_watch(struct nodes *n, const char *service)
{
    if (n->closing || !service || !*service || watch_find(n, service))
        return;
    refresh(n, watch_add(n, service), vtime_now_ms());
}

size_t nodes_alive(struct nodes *n, const char *service, const char **ids, size_t max)
{
    const struct watch *w = service ? watch_find(n, service) : NULL;
    size_t k = 0;
    for (; w && k < w->nids && k < max; k++)
        ids[k] = w->ids[k];
    return k;
}

const char *nodes_pick(struct nodes *n, const char *service)
{
    struct watch *w = service ? watch_find(n, service) : NULL;
    if (!w || w->nids == 0)
        return NULL;
    return w->ids[w->rr++ % w->nids];
}

void nodes_close(struct nodes *n, void (*closed)(void *arg), void *arg)
{
    if (n->closing)
        return;
    n->closing = true;
    n->closed = closed;
    n->closed_arg = arg;
    uv_timer_stop(&n->timer);
    if (n->node_id) {
        /* Same connection as the heartbeats, so this lands after any of them in flight. */
        send_write(n, 3, (const char *[]){"ZREM", n->zkey, n->node_id});
        send_write(n, 2, (const char *[]){"DEL", n->hkey});
    }
    maybe_finish(n);
}

static bool name_ok(const char *s)
{
    return s && *s && !strpbrk(s, " \t\r\n");
}

static int check_opts(const struct nodes_opts *o)
{
    if (!o || !name_ok(o->service) || (o->node_id && !name_ok(o->node_id)))
        return VP_E_INVALID_PARAMETER;
    unsigned interval = o->interval_ms ? o->interval_ms : 1000;
    unsigned dead = o->dead_after_ms ? o->dead_after_ms : 5000;
    if (dead <= interval)
        return VP_E_INVALID_PARAMETER; /* every node would flap between beats */
    size_t k = 0;
    while (o->info && o->info[k])
        k++;
    return k % 2 ? VP_E_INVALID_PARAMETER : 0; /* a key without a value */
}

static void copy_info(struct nodes *n, const char *const *info)
{
    while (info && info[n->ninfo])
        n->ninfo++;
    n->info = vp_calloc(n->ninfo ? n->ninfo : 1, sizeof(*n->info));
    for (size_t i = 0; i < n->ninfo; i++)
        n->info[i] = vp_strdup(info[i]);
}

int nodes_create(struct nodes **np, uv_loop_t *loop, struct redis *redis,
                 const struct nodes_opts *opts)
{
    int rc = redis ? check_opts(opts) : VP_E_INVALID_PARAMETER;
    if (rc)
        return rc;
    struct nodes *n = VP_NEW(n);
    n->loop = loop;
    n->redis = redis;
    n->service = vp_strdup(opts->service);
    n->interval_ms = opts->interval_ms ? opts->interval_ms : 1000;
    n->dead_after_ms = opts->dead_after_ms ? opts->dead_after_ms : 5000;
    n->zkey = vp_asprintf("voepy:nodes:%s", opts->service);
    if (opts->node_id) {
        n->node_id = vp_strdup(opts->node_id);
        n->hkey = vp_asprintf("voepy:node:%s:%s", opts->service, opts->node_id);
    }
    copy_info(n, opts->info);
    watch_add(n, opts->service);
    uv_timer_init(loop, &n->timer);
    n->timer.data = n;
    uv_timer_start(&n->timer, tick_cb, 0, n->interval_ms);
    *np = n;
    return 0;
}
