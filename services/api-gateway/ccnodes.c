/*
 * ccnodes.c - which call-control nodes are alive, and which action verbs each carries out.
 *
 * Nodes advertise their verbs in the node registry (proto/streams.md): the hash
 * voepy:node:call-control:{id} has "verbs", comma-separated. Every CCNODES_REFRESH_MS one
 * EVAL reads the alive members of voepy:nodes:call-control (score within DEAD_AFTER_MS
 * of now, as libcommon/src/nodes.c counts them) with their verbs in one round trip, and
 * replaces the cache. An action is forwarded only to a node found here advertising its
 * verb (proto/sql/0012_api_actions.sql decides, given the list). When Redis has not
 * answered for longer than a node lives, the cache counts as empty: no node is known to
 * carry anything out.
 *
 * The cache is freed from its timer's close callback once closing and no reply is
 * outstanding (the reply callback still needs it).
 */
#include "api.h"

#include <hiredis/hiredis.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "voepy/alloc.h"
#include "voepy/http_server.h"
#include "voepy/log.h"
#include "voepy/redis.h"
#include "voepy/vtime.h"

#define CCNODES_REFRESH_MS 1000
#define DEAD_AFTER_MS      5000 /* nodes.h's default dead_after_ms */

/* KEYS[1] the set, ARGV[1] the oldest live score, ARGV[2] the hash prefix, ARGV[3] the
 * field: id, value pairs. */
static const char script[] = "local ids = redis.call('ZRANGEBYSCORE', KEYS[1], ARGV[1], '+inf')\n"
                             "local out = {}\n"
                             "for _, id in ipairs(ids) do\n"
                             "  out[#out + 1] = id\n"
                             "  out[#out + 1] = redis.call('HGET', ARGV[2] .. id, ARGV[3]) or ''\n"
                             "end\n"
                             "return out\n";

int nodes_field_read(struct redis *redis, const char *service, const char *field,
                     redis_reply_cb *cb, void *arg)
{
    char set[96], prefix[96], min[24];
    snprintf(set, sizeof(set), "voepy:nodes:%s", service);
    snprintf(prefix, sizeof(prefix), "voepy:node:%s:", service);
    snprintf(min, sizeof(min), "%lld", (long long)(vtime_now_ms() - DEAD_AFTER_MS));
    const char *argv[] = {"EVAL", script, "1", set, min, prefix, field};
    return redis_cmdv(redis, cb, arg, 7, argv, NULL);
}

struct ccnode {
    char *id;
    char *verbs; /* ",hangup,play," (commas around every verb, for a whole-word match) */
};

struct ccnodes {
    uv_loop_t *loop;
    struct redis *redis;
    uv_timer_t timer;
    struct ccnode *nodes;
    size_t n;
    uint64_t refreshed_at; /* uv_now of the last good refresh */
    bool inflight, closing;
};

static void free_nodes(struct ccnodes *c)
{
    for (size_t i = 0; i < c->n; i++) {
        free(c->nodes[i].id);
        free(c->nodes[i].verbs);
    }
    free(c->nodes);
    c->nodes = NULL;
    c->n = 0;
}

static void timer_closed_cb(uv_handle_t *h)
{
    struct ccnodes *c = h->data;
    free_nodes(c);
    free(c);
}

static void maybe_free(struct ccnodes *c)
{
    if (c->closing && !c->inflight && !uv_is_closing((uv_handle_t *)&c->timer))
        uv_close((uv_handle_t *)&c->timer, timer_closed_cb);
}

static bool is_string(const redisReply *e)
{
    return e->type == REDIS_REPLY_STRING || e->type == REDIS_REPLY_STATUS;
}

/* Replace the cache with the reply's [id, verbs, id, verbs, ...]. */
static void take_reply(struct ccnodes *c, const redisReply *reply)
{
    free_nodes(c);
    size_t pairs = reply->elements / 2;
    c->nodes = vp_calloc(pairs ? pairs : 1, sizeof(*c->nodes));
    for (size_t i = 0; i < pairs; i++) {
        const redisReply *id = reply->element[2 * i], *verbs = reply->element[2 * i + 1];
        if (!is_string(id) || !is_string(verbs))
            continue;
        struct ccnode *n = &c->nodes[c->n++];
        n->id = vp_strndup(id->str, id->len);
        size_t len = verbs->len + 3;
        n->verbs = vp_malloc(len);
        snprintf(n->verbs, len, ",%.*s,", (int)verbs->len, verbs->str);
    }
    c->refreshed_at = uv_now(c->loop);
}

static void refresh_cb(int status, struct redisReply *reply, void *arg)
{
    struct ccnodes *c = arg;
    c->inflight = false;
    if (c->closing) {
        maybe_free(c);
        return;
    }
    if (status == 0 && reply->type == REDIS_REPLY_ARRAY)
        take_reply(c, reply);
    else
        log_debug("api.ccnodes_refresh_failed", "node registry not read: %s",
                  status                             ? vp_err_message(status)
                  : reply->type == REDIS_REPLY_ERROR ? reply->str
                                                     : "unexpected reply");
}

static void tick_cb(uv_timer_t *t)
{
    struct ccnodes *c = t->data;
    if (c->inflight || c->closing)
        return;
    if (nodes_field_read(c->redis, "call-control", "verbs", refresh_cb, c) == 0)
        c->inflight = true;
}

int ccnodes_create(struct ccnodes **cp, uv_loop_t *loop, struct redis *redis)
{
    struct ccnodes *c = VP_NEW(c);
    c->loop = loop;
    c->redis = redis;
    uv_timer_init(loop, &c->timer);
    c->timer.data = c;
    uv_timer_start(&c->timer, tick_cb, 0, CCNODES_REFRESH_MS);
    *cp = c;
    return 0;
}

/* Append s to the literal at *p as a quoted array element ("\" and \\ escaped). */
static void put_element(char **p, const char *s)
{
    *(*p)++ = '"';
    for (; *s; s++) {
        if (*s == '"' || *s == '\\')
            *(*p)++ = '\\';
        *(*p)++ = *s;
    }
    *(*p)++ = '"';
}

static bool advertises(const struct ccnode *n, const char *verb)
{
    size_t len = strlen(verb);
    for (const char *v = strstr(n->verbs, verb); v; v = strstr(v + 1, verb))
        if (v[-1] == ',' && v[len] == ',')
            return true;
    return false;
}

const char *ccnodes_with_verb(struct ccnodes *c, struct api_req *r, const char *verb)
{
    bool fresh = c && c->refreshed_at && uv_now(c->loop) - c->refreshed_at <= DEAD_AFTER_MS;
    size_t size = 3;
    for (size_t i = 0; fresh && i < c->n; i++)
        size += 2 * strlen(c->nodes[i].id) + 3;
    char *out = http_request_alloc(r->http, size), *p = out;
    *p++ = '{';
    for (size_t i = 0; fresh && i < c->n; i++) {
        if (!advertises(&c->nodes[i], verb))
            continue;
        if (p > out + 1)
            *p++ = ',';
        put_element(&p, c->nodes[i].id);
    }
    *p++ = '}';
    *p = '\0';
    return out;
}

void ccnodes_close(struct ccnodes *c)
{
    if (!c || c->closing)
        return;
    c->closing = true;
    uv_timer_stop(&c->timer);
    maybe_free(c);
}
