#include "fanout.h"

#include "voepy/alloc.h"
#include "voepy/err.h"
#include "voepy/log.h"
#include "voepy/metrics.h"
#include "voepy/pg.h"
#include "voepy/redis.h"
#include "voepy/rstream.h"
#include "voepy/service.h"

#include <inttypes.h>
#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define SQL_FANOUT "wh_fanout"

/* An event in hand: its stream entry (NULL once the consumer has closed). */
struct held {
    struct fanout *f;
    struct rstream_msg *msg;
    struct held *prev, *next;
};

struct fanout {
    struct service *svc;
    struct rstream_consumer *consumer;
    char **streams;
    size_t nstreams;
    char delay[24];
    struct held *held;
    bool stopping;
    bool consumer_closed;
    void (*created)(void *arg);
    void *created_arg;
    struct metric *m_events, *m_deliveries;
};

static void free_fanout(struct fanout *f)
{
    for (size_t i = 0; i < f->nstreams; i++)
        free(f->streams[i]);
    free(f->streams);
    free(f);
}

static void maybe_free(struct fanout *f)
{
    if (f->stopping && f->consumer_closed && !f->held)
        free_fanout(f);
}

static void held_unlink(struct held *h)
{
    struct fanout *f = h->f;
    if (h->prev)
        h->prev->next = h->next;
    else
        f->held = h->next;
    if (h->next)
        h->next->prev = h->prev;
    free(h);
    maybe_free(f);
}

/* A statement that can never succeed for this event (bad data, a domain refusal). */
static bool poison(int status, const struct pg_result *res)
{
    if (status != VP_E_DB || !res)
        return false;
    const char *state = pg_result_sqlstate(res);
    return pg_result_error(res, NULL) != VP_E_DB || (state && strncmp(state, "22", 2) == 0);
}

static void fanned_cb(int status, const struct pg_result *res, void *arg)
{
    struct held *h = arg;
    struct fanout *f = h->f;
    const char *n = status ? NULL : pg_value(res, 0, 0);
    long created = n ? strtol(n, NULL, 10) : 0;
    if (status && h->msg)
        vlog_kv(VLOG_WARN, "webhook.fanout_failed",
                res ? pg_result_message(res) : vp_err_code(status), "entry", h->msg->id, "dropped",
                poison(status, res) ? "true" : "false", NULL);
    if (h->msg && status && !poison(status, res))
        rstream_release(f->consumer, h->msg); /* comes back by claim */
    else if (h->msg)
        rstream_ack(f->consumer, h->msg);
    if (!status) {
        metric_inc(f->m_events);
        metric_add(f->m_deliveries, created);
    }
    if (created > 0 && f->created && !f->stopping)
        f->created(f->created_arg);
    held_unlink(h);
}

/* An envelope the SQL can use: a JSON object with string id, type and tenant_id. */
static bool envelope_ok(const struct rstream_msg *msg)
{
    json_t *ev = json_loadb(msg->body, msg->len, JSON_REJECT_DUPLICATES, NULL);
    bool ok = json_is_object(ev) && json_is_string(json_object_get(ev, "id")) &&
              json_is_string(json_object_get(ev, "type")) &&
              json_is_string(json_object_get(ev, "tenant_id"));
    json_decref(ev);
    return ok;
}

static void msg_cb(struct rstream_consumer *c, struct rstream_msg *msg, void *arg)
{
    struct fanout *f = arg;
    if (!envelope_ok(msg)) {
        vlog_kv(VLOG_WARN, "webhook.bad_event", "not an event envelope; dropped", "stream",
                msg->stream, "entry", msg->id, NULL);
        rstream_ack(c, msg);
        return;
    }
    struct held *h = VP_NEW(h);
    h->f = f;
    h->msg = msg;
    const char *params[] = {msg->body, f->delay};
    if (pg_exec(f->svc->pg, SQL_FANOUT, 2, params, fanned_cb, h)) {
        free(h);
        rstream_release(c, msg); /* the pool is saturated: later */
        return;
    }
    h->next = f->held;
    if (f->held)
        f->held->prev = h;
    f->held = h;
}

static void make_streams(struct fanout *f, unsigned partitions)
{
    f->nstreams = partitions;
    f->streams = vp_calloc(partitions, sizeof(char *));
    for (unsigned p = 0; p < partitions; p++)
        f->streams[p] = vp_asprintf("voepy:events:%u", p);
}

static void make_metrics(struct fanout *f)
{
    f->m_events = metrics_counter("voepy_webhook_events_total",
                                  "Events fanned out to webhook endpoints.", NULL);
    f->m_deliveries = metrics_counter("voepy_webhook_deliveries_created_total",
                                      "Deliveries created (one per subscribed endpoint).", NULL);
}

int fanout_create(struct fanout **fp, struct service *svc, const struct fanout_opts *opts)
{
    if (!opts->partitions)
        return VP_E_INVALID_PARAMETER;
    int err = pg_prepare(svc->pg, SQL_FANOUT, "SELECT wh_fanout($1::json, $2::bigint)");
    if (err)
        return err;
    struct fanout *f = VP_NEW(f);
    f->svc = svc;
    f->created = opts->created;
    f->created_arg = opts->created_arg;
    snprintf(f->delay, sizeof(f->delay), "%" PRId64, opts->first_delay_ms);
    make_streams(f, opts->partitions);
    make_metrics(f);
    struct redis_opts ro;
    service_redis_opts(svc, &ro, "webhook-events");
    struct rstream_consumer_opts co = {
        .group = "webhook-dispatcher",
        .consumer = opts->consumer,
        .streams = (const char *const *)f->streams,
        .nstreams = f->nstreams,
        .max_inflight = opts->max_inflight ? opts->max_inflight : 64,
        .claim_idle_ms = 30000,
        .claim_interval_ms = 5000,
    };
    err = rstream_consumer_create(&f->consumer, svc->loop, &ro, &co, msg_cb, f);
    if (err) {
        free_fanout(f);
        return err;
    }
    *fp = f;
    return 0;
}

void fanout_drain(struct fanout *f, void (*done)(void *arg), void *arg)
{
    rstream_consumer_drain(f->consumer, done, arg);
}

static void consumer_closed_cb(void *arg)
{
    struct fanout *f = arg;
    f->consumer_closed = true;
    maybe_free(f);
}

void fanout_stop(struct fanout *f)
{
    f->stopping = true;
    /* the consumer frees the entries it handed out: statements must not touch them now */
    for (struct held *h = f->held; h; h = h->next)
        h->msg = NULL;
    rstream_consumer_close(f->consumer, consumer_closed_cb, f);
}
