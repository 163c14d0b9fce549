/*
 * rstream.c - Redis streams: XADD, and a consumer-group reader with claims.
 *
 * The consumer has two connections: `rd` carries only XGROUP CREATE and the blocking
 * XREADGROUP (one at a time), `ctl` carries XACK, XAUTOCLAIM and XPENDING, so acks never
 * wait behind a blocked read.
 *
 * Reading. Every time `rd` (re)connects, the groups are (re)created and every stream's
 * cursor goes back to "0": XREADGROUP with an id re-reads this consumer's own pending
 * entries (a previous life's, or a batch whose reply was lost with the connection); the
 * cursor then follows the last id returned until the stream's history is empty, and
 * becomes ">" (new entries). Entries already in flight here are skipped.
 *
 * Deliveries. New entries (">") are delivered with deliveries = 1. For re-read and
 * claimed entries, Redis has already counted the delivery; we ask it with XPENDING
 * (range of the batch, this consumer) and report its counter. When that lookup fails
 * (ctl down), deliveries is 2: a lower bound.
 *
 * Memory. A message is one allocation (struct rs_msg + id + body), in c's in-flight list
 * from the moment it is parsed until rstream_ack/rstream_release. Batches that wait for
 * XPENDING own their not-yet-delivered messages (close drops those). A delivered message
 * is the handler's until it comes back, also after close: c must outlive it, so close
 * leaves drain_timer open while any is out, and the last one back closes it. c itself is
 * freed only when both connections and all timers have closed (parts_open reaches 0), so
 * every callback may look at it, and never inside an ack: the free comes from uv_close.
 */
#include "voepy/rstream.h"

#include <assert.h>
#include <hiredis/hiredis.h>
#include <stdio.h>
#include <string.h>

#include "voepy/alloc.h"
#include "voepy/err.h"
#include "voepy/log.h"

#define READ_RETRY_MS   1000 /* after an error reply other than NOGROUP */
#define PENDING_SLACK   64   /* extra XPENDING rows for other pending entries in the range */
#define MAX_ID_LEN      64   /* "<ms>-<seq>" is at most 41 characters */
#define RD_TIMEOUT_XTRA 5000 /* reader timeout = block_ms + this (or ropts' cmd timeout) */
#define CLOSE_ACK_WAIT  1000 /* how long close waits for XACK replies before cutting ctl */

enum rs_state { RS_RUNNING, RS_DRAINING, RS_CLOSING };
enum rs_origin { ORIGIN_NEW, ORIGIN_HISTORY, ORIGIN_CLAIM };

struct rs_msg {
    struct rstream_msg pub; /* first: handlers get &m->pub */
    struct rs_msg *prev, *next;
    size_t stream;  /* index in c->streams */
    bool delivered; /* handed to the handler (else a batch still owns it) */
};

struct rs_batch {
    struct rstream_consumer *c;
    size_t stream, n;
    struct rs_msg *msgs[];
};

struct rstream_consumer {
    uv_loop_t *loop;
    struct redis *rd, *ctl;
    char *group, *consumer;
    char **streams;
    size_t nstreams;
    char (*cursor)[MAX_ID_LEN]; /* per stream: last re-read id, or ">" */
    unsigned block_ms, batch, max_inflight, claim_idle_ms, claim_interval_ms;
    enum rs_state state;
    bool groups_ok, creating, reading, claiming, create_failed, ctl_closing;
    unsigned groups_left;
    unsigned inflight; /* messages parsed and not yet acked/released */
    unsigned handed;   /* of those, delivered to the handler */
    unsigned acks;     /* XACKs without a reply yet */
    struct rs_msg *head;
    size_t claim_stream;
    char claim_cursor[MAX_ID_LEN];
    uv_timer_t claim_timer, retry_timer;
    uv_timer_t drain_timer; /* runs drain_done; after close, open while messages are out */
    int parts_open;         /* connections and timers not yet closed */
    rstream_msg_cb *cb;
    void *arg;
    void (*drain_done)(void *arg);
    void *drain_arg;
    void (*closed)(void *arg);
    void *closed_arg;
};

static void maybe_read(struct rstream_consumer *c);
static void claim_next(struct rstream_consumer *c);
static void close_ctl(struct rstream_consumer *c);
static void timer_closed_cb(uv_handle_t *h);

static bool is_str(const redisReply *r)
{
    return r && (r->type == REDIS_REPLY_STRING || r->type == REDIS_REPLY_STATUS);
}

static bool is_array(const redisReply *r, size_t min)
{
    return r && r->type == REDIS_REPLY_ARRAY && r->elements >= min;
}

static bool err_is(const redisReply *r, const char *prefix)
{
    return r->type == REDIS_REPLY_ERROR && strncmp(r->str, prefix, strlen(prefix)) == 0;
}

/* ---- producing ---------------------------------------------------------------------- */

struct add_ctx {
    rstream_added_cb *cb;
    void *arg;
};

static void added_cb(int status, struct redisReply *reply, void *arg)
{
    struct add_ctx *a = arg;
    const char *id = NULL;
    if (!status && reply->type == REDIS_REPLY_ERROR) {
        log_warn("rstream.add_failed", "XADD refused: %s", reply->str);
        status = VP_E_DB;
    } else if (!status) {
        id = is_str(reply) ? reply->str : NULL;
        status = id ? 0 : VP_E_PARSE;
    }
    if (a->cb)
        a->cb(status, id, a->arg);
    free(a);
}

int rstream_add(struct redis *r, const char *stream, const char *body, size_t len, long maxlen,
                rstream_added_cb *cb, void *arg)
{
    if (!stream || !*stream || (!body && len) || maxlen < 0)
        return VP_E_INVALID_PARAMETER;
    char maxbuf[24];
    const char *argv[8] = {"XADD", stream};
    size_t lens[8] = {4, strlen(stream)};
    int n = 2;
    if (maxlen > 0) {
        snprintf(maxbuf, sizeof(maxbuf), "%ld", maxlen);
        argv[n] = "MAXLEN", lens[n++] = 6;
        argv[n] = "~", lens[n++] = 1;
        argv[n] = maxbuf, lens[n++] = strlen(maxbuf);
    }
    argv[n] = "*", lens[n++] = 1;
    argv[n] = "m", lens[n++] = 1;
    argv[n] = body ? body : "", lens[n++] = len;
    struct add_ctx *a = VP_NEW(a);
    *a = (struct add_ctx){cb, arg};
    int rc = redis_cmdv(r, added_cb, a, n, argv, lens);
    if (rc)
        free(a);
    return rc;
}

/* ---- in-flight messages ------------------------------------------------------------- */

static struct rs_msg *msg_find(struct rstream_consumer *c, size_t stream, const char *id)
{
    for (struct rs_msg *m = c->head; m; m = m->next)
        if (m->stream == stream && strcmp(m->pub.id, id) == 0)
            return m;
    return NULL;
}

static struct rs_msg *msg_new(struct rstream_consumer *c, size_t stream, const redisReply *id,
                              const char *body, size_t len, unsigned deliveries)
{
    struct rs_msg *m = vp_malloc(sizeof(*m) + id->len + 1 + len + 1);
    char *idp = (char *)(m + 1);
    char *bodyp = idp + id->len + 1;
    memcpy(idp, id->str, id->len);
    idp[id->len] = '\0';
    memcpy(bodyp, body, len);
    bodyp[len] = '\0';
    *m = (struct rs_msg){
        .pub = {c->streams[stream], idp, bodyp, len, deliveries},
        .next = c->head,
        .stream = stream,
    };
    if (c->head)
        c->head->prev = m;
    c->head = m;
    c->inflight++;
    return m;
}

static void drain_timer_cb(uv_timer_t *t)
{
    struct rstream_consumer *c = t->data;
    if (c->state != RS_DRAINING || c->inflight || c->acks || !c->drain_done)
        return;
    void (*done)(void *) = c->drain_done;
    c->drain_done = NULL;
    done(c->drain_arg);
}

/* done() runs from its own timer, never from inside the caller's rstream_ack(). */
static void check_drained(struct rstream_consumer *c)
{
    if (c->state == RS_DRAINING && !c->inflight && !c->acks && c->drain_done)
        uv_timer_start(&c->drain_timer, drain_timer_cb, 0, 0);
}

static void msg_free(struct rstream_consumer *c, struct rs_msg *m)
{
    if (m->prev)
        m->prev->next = m->next;
    else
        c->head = m->next;
    if (m->next)
        m->next->prev = m->prev;
    assert(c->inflight > 0);
    c->inflight--;
    free(m);
}

static void ack_cb(int status, struct redisReply *reply, void *arg)
{
    struct rstream_consumer *c = arg;
    c->acks--;
    if (status || reply->type == REDIS_REPLY_ERROR)
        log_warn("rstream.ack_failed", "XACK failed (%s): the entry will be delivered again",
                 status ? vp_err_code(status) : reply->str);
    if (c->state == RS_CLOSING && !c->acks)
        close_ctl(c);
    check_drained(c);
}

static void ack_send(struct rstream_consumer *c, size_t stream, const char *id)
{
    const char *argv[] = {"XACK", c->streams[stream], c->group, id};
    if (redis_cmdv(c->ctl, ack_cb, c, 4, argv, NULL) == 0)
        c->acks++;
    else
        log_warn("rstream.ack_failed", "XACK %s %s not sent: the entry will be delivered again",
                 c->streams[stream], id);
}

/* A delivered message comes back. After close the last one lets c go (from the loop). */
static void msg_return(struct rstream_consumer *c, struct rs_msg *m)
{
    assert(m->delivered && c->handed > 0);
    c->handed--;
    msg_free(c, m);
    if (c->state != RS_CLOSING) {
        check_drained(c);
        maybe_read(c);
    } else if (c->handed == 0) {
        uv_close((uv_handle_t *)&c->drain_timer, timer_closed_cb);
    }
}

void rstream_ack(struct rstream_consumer *c, struct rstream_msg *msg)
{
    struct rs_msg *m = (struct rs_msg *)msg;
    if (c->state != RS_CLOSING)
        ack_send(c, m->stream, m->pub.id);
    else
        log_debug("rstream.ack_after_close",
                  "%s %s acknowledged after close: it stays pending, delivered again later",
                  m->pub.stream, m->pub.id);
    msg_return(c, m);
}

void rstream_release(struct rstream_consumer *c, struct rstream_msg *msg)
{
    msg_return(c, (struct rs_msg *)msg);
}

unsigned rstream_inflight(const struct rstream_consumer *c)
{
    return c->inflight;
}

bool rstream_consumer_connected(const struct rstream_consumer *c)
{
    return c->rd && redis_connected(c->rd) && redis_connected(c->ctl) && c->groups_ok;
}

/* ---- batches: parse, look up delivery counts, deliver --------------------------------- */

/* Hand a batch's messages to the handler; it may close c, then the rest is dropped. */
static void deliver(struct rstream_consumer *c, struct rs_batch *b)
{
    for (size_t i = 0; i < b->n; i++) {
        struct rs_msg *m = b->msgs[i];
        if (c->state == RS_CLOSING) {
            msg_free(c, m); /* still pending in Redis: delivered again later */
            continue;
        }
        m->delivered = true;
        c->handed++;
        c->cb(c, &m->pub, c->arg);
    }
    free(b);
}

static void pending_apply(struct rs_batch *b, const redisReply *rows)
{
    for (size_t i = 0; is_array(rows, 0) && i < rows->elements; i++) {
        const redisReply *row = rows->element[i];
        if (!is_array(row, 4) || !is_str(row->element[0]) ||
            row->element[3]->type != REDIS_REPLY_INTEGER)
            continue;
        for (size_t k = 0; k < b->n; k++)
            if (strcmp(b->msgs[k]->pub.id, row->element[0]->str) == 0)
                b->msgs[k]->pub.deliveries = (unsigned)row->element[3]->integer;
    }
}

static void pending_cb(int status, struct redisReply *reply, void *arg)
{
    struct rs_batch *b = arg;
    if (!status)
        pending_apply(b, reply);
    deliver(b->c, b);
}

/* XPENDING s g first last count consumer; false when it could not be sent. */
static bool pending_lookup(struct rstream_consumer *c, struct rs_batch *b)
{
    char count[16];
    snprintf(count, sizeof(count), "%u", (unsigned)b->n + c->inflight + PENDING_SLACK);
    const char *argv[] = {"XPENDING",         c->streams[b->stream],     c->group,
                          b->msgs[0]->pub.id, b->msgs[b->n - 1]->pub.id, count,
                          c->consumer};
    return redis_cmdv(c->ctl, pending_cb, b, 7, argv, NULL) == 0;
}

/* The value of field "m" in an entry's flat field list; "" when absent. */
static const redisReply *entry_body(const redisReply *fields)
{
    for (size_t i = 0; i + 1 < fields->elements; i += 2)
        if (is_str(fields->element[i]) && fields->element[i]->len == 1 &&
            fields->element[i]->str[0] == 'm' && is_str(fields->element[i + 1]))
            return fields->element[i + 1];
    return NULL;
}

static void entry_take(struct rstream_consumer *c, struct rs_batch *b, const redisReply *e,
                       enum rs_origin o)
{
    if (!is_array(e, 2) || !is_str(e->element[0]) || e->element[0]->len >= MAX_ID_LEN)
        return;
    const redisReply *id = e->element[0], *fields = e->element[1];
    if (o != ORIGIN_NEW && msg_find(c, b->stream, id->str))
        return; /* being handled here already */
    if (!is_array(fields, 0)) {
        /* Pending but deleted (trimmed or XDEL): nothing to process, stop tracking it. */
        log_warn("rstream.entry_gone", "%s %s was deleted while pending; acknowledging it",
                 c->streams[b->stream], id->str);
        ack_send(c, b->stream, id->str);
        return;
    }
    const redisReply *body = entry_body(fields);
    b->msgs[b->n++] = msg_new(c, b->stream, id, body ? body->str : "", body ? body->len : 0,
                              o == ORIGIN_NEW ? 1 : 2);
}

static void take_entries(struct rstream_consumer *c, size_t stream, const redisReply *entries,
                         enum rs_origin o)
{
    if (c->state == RS_CLOSING || !is_array(entries, 1))
        return;
    struct rs_batch *b = vp_malloc(sizeof(*b) + entries->elements * sizeof(b->msgs[0]));
    *b = (struct rs_batch){.c = c, .stream = stream};
    for (size_t i = 0; i < entries->elements; i++)
        entry_take(c, b, entries->element[i], o);
    if (b->n == 0)
        free(b);
    else if (o == ORIGIN_NEW || !pending_lookup(c, b))
        deliver(c, b);
}

/* ---- reading ------------------------------------------------------------------------ */

static int stream_index(const struct rstream_consumer *c, const redisReply *name)
{
    for (size_t i = 0; is_str(name) && i < c->nstreams; i++)
        if (strlen(c->streams[i]) == name->len && memcmp(c->streams[i], name->str, name->len) == 0)
            return (int)i;
    return -1;
}

/* One stream's part of an XREADGROUP reply: [name, [entries]]. */
static void read_stream(struct rstream_consumer *c, const redisReply *s, unsigned count)
{
    int i = is_array(s, 2) ? stream_index(c, s->element[0]) : -1;
    if (i < 0)
        return;
    const redisReply *entries = s->element[1];
    bool history = strcmp(c->cursor[i], ">") != 0;
    size_t n = is_array(entries, 0) ? entries->elements : 0;
    if (history && n > 0 && n == count && is_array(entries->element[n - 1], 1) &&
        is_str(entries->element[n - 1]->element[0]) &&
        entries->element[n - 1]->element[0]->len < MAX_ID_LEN)
        snprintf(c->cursor[i], MAX_ID_LEN, "%s", entries->element[n - 1]->element[0]->str);
    else if (history)
        strcpy(c->cursor[i], ">"); /* fewer than asked for: the history is exhausted */
    take_entries(c, (size_t)i, entries, history ? ORIGIN_HISTORY : ORIGIN_NEW);
}

static void read_retry_cb(uv_timer_t *t)
{
    maybe_read(t->data);
}

static void read_failed(struct rstream_consumer *c, const char *err)
{
    c->groups_ok = false;
    if (strncmp(err, "NOGROUP", 7) == 0 || strncmp(err, "UNBLOCKED", 9) == 0) {
        log_info("rstream.group_missing", "group %s: %s; creating it again", c->group, err);
        maybe_read(c);
        return;
    }
    log_warn("rstream.read_failed", "XREADGROUP %s: %s", c->group, err);
    uv_timer_start(&c->retry_timer, read_retry_cb, READ_RETRY_MS, 0);
}

struct read_ctx {
    struct rstream_consumer *c;
    unsigned count;
};

static void read_cb(int status, struct redisReply *reply, void *arg)
{
    struct read_ctx *rc = arg;
    struct rstream_consumer *c = rc->c;
    unsigned count = rc->count;
    free(rc);
    /* status != 0: the connection is gone; reading resumes when it is back. */
    if (status || c->state != RS_RUNNING) {
        c->reading = false;
        return;
    }
    if (reply->type == REDIS_REPLY_ERROR) {
        c->reading = false;
        read_failed(c, reply->str);
        return;
    }
    /* reading stays set meanwhile: acks from handlers must not start the next read
       before every stream's cursor has moved past this reply. */
    for (size_t i = 0; is_array(reply, 1) && i < reply->elements; i++)
        read_stream(c, reply->element[i], count);
    c->reading = false;
    maybe_read(c);
}

static void read_send(struct rstream_consumer *c)
{
    unsigned count = c->max_inflight - c->inflight;
    if (count > c->batch)
        count = c->batch;
    char countbuf[16], blockbuf[16];
    snprintf(countbuf, sizeof(countbuf), "%u", count);
    snprintf(blockbuf, sizeof(blockbuf), "%u", c->block_ms);
    size_t argc = 9 + 2 * c->nstreams;
    const char **argv = vp_calloc(argc, sizeof(*argv));
    const char *head[] = {"XREADGROUP", "GROUP",  c->group, c->consumer,
                          "COUNT",      countbuf, "BLOCK",  blockbuf};
    memcpy(argv, head, sizeof(head));
    argv[8] = "STREAMS";
    for (size_t i = 0; i < c->nstreams; i++) {
        argv[9 + i] = c->streams[i];
        argv[9 + c->nstreams + i] = c->cursor[i];
    }
    struct read_ctx *rc = VP_NEW(rc);
    *rc = (struct read_ctx){c, count};
    if (redis_cmdv(c->rd, read_cb, rc, (int)argc, argv, NULL) == 0)
        c->reading = true;
    else
        free(rc); /* rd is down: its state callback restarts reading */
    free(argv);
}

static void create_cb(int status, struct redisReply *reply, void *arg)
{
    struct rstream_consumer *c = arg;
    if (!status && reply->type == REDIS_REPLY_ERROR && !err_is(reply, "BUSYGROUP")) {
        log_warn("rstream.group_create_failed", "XGROUP CREATE %s: %s", c->group, reply->str);
        c->create_failed = true;
    }
    if (status)
        c->create_failed = true;
    if (--c->groups_left > 0)
        return;
    c->creating = false;
    if (c->state != RS_RUNNING)
        return;
    if (c->create_failed) {
        if (!status)
            uv_timer_start(&c->retry_timer, read_retry_cb, READ_RETRY_MS, 0);
        return;
    }
    c->groups_ok = true;
    for (size_t i = 0; i < c->nstreams; i++)
        strcpy(c->cursor[i], "0"); /* re-read our own pending entries first */
    maybe_read(c);
}

/* XGROUP CREATE s g 0 MKSTREAM for every stream, on rd, before any read. */
static void create_groups(struct rstream_consumer *c)
{
    c->creating = true;
    c->create_failed = false;
    c->groups_left = 0;
    for (size_t i = 0; i < c->nstreams; i++) {
        const char *argv[] = {"XGROUP", "CREATE", c->streams[i], c->group, "0", "MKSTREAM"};
        if (redis_cmdv(c->rd, create_cb, c, 6, argv, NULL) == 0)
            c->groups_left++;
    }
    if (c->groups_left < c->nstreams)
        c->create_failed = true; /* rd went down; its state callback starts over */
    if (c->groups_left == 0)
        c->creating = false;
}

static void maybe_read(struct rstream_consumer *c)
{
    if (c->state != RS_RUNNING || c->reading || c->creating || !redis_connected(c->rd) ||
        uv_is_active((uv_handle_t *)&c->retry_timer))
        return;
    if (!c->groups_ok)
        create_groups(c);
    else if (c->inflight < c->max_inflight)
        read_send(c);
}

static void rd_state_cb(bool connected, void *arg)
{
    struct rstream_consumer *c = arg;
    c->groups_ok = false;
    if (connected)
        maybe_read(c);
}

/* ---- claiming ----------------------------------------------------------------------- */

/* XAUTOCLAIM reply (Redis 7): [next-cursor, [entries], [deleted ids]]. */
static void claim_cb(int status, struct redisReply *reply, void *arg)
{
    struct rstream_consumer *c = arg;
    c->claiming = false;
    if (c->state != RS_RUNNING)
        return;
    if (status || !is_array(reply, 2) || !is_str(reply->element[0]) ||
        reply->element[0]->len >= MAX_ID_LEN) {
        if (!status && reply->type == REDIS_REPLY_ERROR && !err_is(reply, "NOGROUP"))
            log_warn("rstream.claim_failed", "XAUTOCLAIM %s: %s", c->group, reply->str);
        return; /* try again next interval */
    }
    if (is_array(reply, 3) && is_array(reply->element[2], 1))
        log_warn("rstream.claim_gone", "%zu pending entries of %s were deleted",
                 reply->element[2]->elements, c->streams[c->claim_stream]);
    take_entries(c, c->claim_stream, reply->element[1], ORIGIN_CLAIM);
    if (strcmp(reply->element[0]->str, "0-0") == 0) {
        c->claim_stream++;
        strcpy(c->claim_cursor, "0-0");
    } else {
        snprintf(c->claim_cursor, MAX_ID_LEN, "%s", reply->element[0]->str);
    }
    claim_next(c);
}

/* Claim from the current stream and cursor, while there is room for more messages. */
static void claim_next(struct rstream_consumer *c)
{
    if (c->state != RS_RUNNING || c->claim_stream >= c->nstreams || c->inflight >= c->max_inflight)
        return;
    unsigned count = c->max_inflight - c->inflight;
    if (count > c->batch)
        count = c->batch;
    char idle[16], countbuf[16];
    snprintf(idle, sizeof(idle), "%u", c->claim_idle_ms);
    snprintf(countbuf, sizeof(countbuf), "%u", count);
    const char *argv[] = {"XAUTOCLAIM", c->streams[c->claim_stream],
                          c->group,     c->consumer,
                          idle,         c->claim_cursor,
                          "COUNT",      countbuf};
    if (redis_cmdv(c->ctl, claim_cb, c, 8, argv, NULL) == 0)
        c->claiming = true;
}

static void claim_timer_cb(uv_timer_t *t)
{
    struct rstream_consumer *c = t->data;
    if (c->claiming || !c->groups_ok)
        return;
    c->claim_stream = 0;
    strcpy(c->claim_cursor, "0-0");
    claim_next(c);
}

/* ---- life cycle --------------------------------------------------------------------- */

static void consumer_free(struct rstream_consumer *c)
{
    for (size_t i = 0; i < c->nstreams; i++)
        free(c->streams[i]);
    free(c->streams);
    free(c->cursor);
    free(c->group);
    free(c->consumer);
    free(c);
}

static void part_closed(struct rstream_consumer *c)
{
    if (--c->parts_open > 0)
        return;
    void (*closed)(void *) = c->closed;
    void *arg = c->closed_arg;
    consumer_free(c);
    if (closed)
        closed(arg);
}

static void redis_closed_cb(void *arg)
{
    part_closed(arg);
}

static void timer_closed_cb(uv_handle_t *h)
{
    part_closed(h->data);
}

void rstream_consumer_drain(struct rstream_consumer *c, void (*done)(void *arg), void *arg)
{
    if (c->state != RS_RUNNING)
        return; /* already draining or closing: the first call's done() stands */
    c->state = RS_DRAINING;
    c->drain_done = done;
    c->drain_arg = arg;
    uv_timer_stop(&c->claim_timer);
    uv_timer_stop(&c->retry_timer);
    /* Closing rd cancels the blocked XREADGROUP now rather than after block_ms. */
    redis_close(c->rd, redis_closed_cb, c);
    c->rd = NULL;
    check_drained(c);
}

/* ctl goes last, once the acks already sent are answered (or CLOSE_ACK_WAIT passed). */
static void close_ctl(struct rstream_consumer *c)
{
    if (c->ctl_closing)
        return;
    c->ctl_closing = true;
    uv_close((uv_handle_t *)&c->retry_timer, timer_closed_cb);
    redis_close(c->ctl, redis_closed_cb, c);
}

static void close_ctl_cb(uv_timer_t *t)
{
    close_ctl(t->data);
}

void rstream_consumer_close(struct rstream_consumer *c, void (*closed)(void *arg), void *arg)
{
    assert(c->state != RS_CLOSING);
    c->state = RS_CLOSING;
    c->closed = closed;
    c->closed_arg = arg;
    /* Delivered messages stay the handler's: drain_timer, one of c's parts, stays open
       until the last of them comes back (msg_return). Batches waiting for XPENDING free
       theirs when their reply or cancellation comes; those entries stay pending. */
    uv_timer_stop(&c->drain_timer);
    if (c->handed == 0)
        uv_close((uv_handle_t *)&c->drain_timer, timer_closed_cb);
    if (c->rd)
        redis_close(c->rd, redis_closed_cb, c);
    c->rd = NULL;
    uv_close((uv_handle_t *)&c->claim_timer, timer_closed_cb);
    if (c->acks)
        uv_timer_start(&c->retry_timer, close_ctl_cb, CLOSE_ACK_WAIT, 0);
    else
        close_ctl(c);
}

static int check_opts(const struct rstream_consumer_opts *o, rstream_msg_cb *cb)
{
    if (!o || !cb || !o->group || !*o->group || !o->consumer || !*o->consumer || !o->streams ||
        o->nstreams == 0)
        return VP_E_INVALID_PARAMETER;
    for (size_t i = 0; i < o->nstreams; i++) {
        if (!o->streams[i] || !*o->streams[i])
            return VP_E_INVALID_PARAMETER;
        for (size_t k = 0; k < i; k++)
            if (strcmp(o->streams[i], o->streams[k]) == 0)
                return VP_E_INVALID_PARAMETER;
    }
    return 0;
}

static void copy_opts(struct rstream_consumer *c, const struct rstream_consumer_opts *o)
{
    c->group = vp_strdup(o->group);
    c->consumer = vp_strdup(o->consumer);
    c->nstreams = o->nstreams;
    c->streams = vp_calloc(o->nstreams, sizeof(*c->streams));
    c->cursor = vp_calloc(o->nstreams, sizeof(*c->cursor));
    for (size_t i = 0; i < o->nstreams; i++)
        c->streams[i] = vp_strdup(o->streams[i]);
    c->block_ms = o->block_ms ? o->block_ms : 1000;
    c->batch = o->batch ? o->batch : 32;
    c->max_inflight = o->max_inflight ? o->max_inflight : 256;
    /* Zero takes the default, so a zeroed opts struct still takes over dead consumers. */
    c->claim_idle_ms = o->claim_idle_ms == RSTREAM_NO_CLAIM ? 0
                       : o->claim_idle_ms                   ? o->claim_idle_ms
                                                            : 30000;
    c->claim_interval_ms = o->claim_interval_ms ? o->claim_interval_ms : 5000;
}

/* Both connections get ropts, named "<name>-read" and "<name>-ctl"; the reader's command
   timeout covers its BLOCK time. */
static int open_connections(struct rstream_consumer *c, const struct redis_opts *ropts)
{
    struct redis_opts o = ropts ? *ropts : (struct redis_opts){0};
    const char *base = o.name ? o.name : "rstream";
    char *rd_name = vp_asprintf("%s-read", base), *ctl_name = vp_asprintf("%s-ctl", base);
    unsigned extra = (o.cmd_timeout_ms && o.cmd_timeout_ms != REDIS_NO_TIMEOUT) ? o.cmd_timeout_ms
                                                                                : RD_TIMEOUT_XTRA;
    o.name = ctl_name;
    int rc = redis_create(&c->ctl, c->loop, &o);
    if (rc)
        goto out;
    o.name = rd_name;
    o.cmd_timeout_ms = c->block_ms + extra;
    rc = redis_create(&c->rd, c->loop, &o);
    if (rc) {
        redis_close(c->ctl, NULL, NULL); /* it has not called anything of ours yet */
        goto out;
    }
    redis_on_state(c->rd, rd_state_cb, c);
out:
    free(rd_name);
    free(ctl_name);
    return rc;
}

int rstream_consumer_create(struct rstream_consumer **cp, uv_loop_t *loop,
                            const struct redis_opts *ropts,
                            const struct rstream_consumer_opts *opts, rstream_msg_cb *cb, void *arg)
{
    int rc = check_opts(opts, cb);
    if (rc)
        return rc;
    struct rstream_consumer *c = VP_NEW(c);
    c->loop = loop;
    c->cb = cb;
    c->arg = arg;
    copy_opts(c, opts);
    rc = open_connections(c, ropts);
    if (rc) {
        consumer_free(c);
        return rc;
    }
    uv_timer_t *timers[] = {&c->claim_timer, &c->retry_timer, &c->drain_timer};
    for (size_t i = 0; i < 3; i++) {
        uv_timer_init(loop, timers[i]);
        timers[i]->data = c;
    }
    c->parts_open = 5; /* rd, ctl and three timers */
    if (c->claim_idle_ms)
        uv_timer_start(&c->claim_timer, claim_timer_cb, c->claim_interval_ms, c->claim_interval_ms);
    *cp = c;
    return 0;
}
