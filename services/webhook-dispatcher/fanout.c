#include "fanout.h"

#include "voepy/alloc.h"
#include "voepy/err.h"
#include "voepy/log.h"
#include "voepy/metrics.h"
#include "voepy/outbox.h"
#include "voepy/pg.h"
#include "voepy/redis.h"
#include "voepy/rstream.h"
#include "voepy/service.h"

#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define SQL_FANOUT "wh_fanout"

/* An event whose wh_fanout() statement runs; its callback gives msg back. */
struct fan {
    struct fanout *f;
    struct rstream_msg *msg;
};

/* Lives until its consumer has closed, which is after every statement's msg came back. */
struct fanout {
    struct service *svc;
    struct rstream_consumer *consumer;
    char delay[24];
    bool stopping; /* created() is not called any more */
    void (*created)(void *arg);
    void *created_arg;
    struct metric *m_events, *m_deliveries;
};

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
    struct fan *fan = arg;
    struct fanout *f = fan->f;
    const char *n = status ? NULL : pg_value(res, 0, 0);
    long created = n ? strtol(n, NULL, 10) : 0;
    if (status && !f->stopping) /* at stop the pool cancels statements: not news */
        vlog_kv(VLOG_WARN, "webhook.fanout_failed",
                res ? pg_result_message(res) : vp_err_code(status), "entry", fan->msg->id,
                "dropped", poison(status, res) ? "true" : "false", NULL);
    if (!status) {
        metric_inc(f->m_events);
        metric_add(f->m_deliveries, created);
    }
    if (created > 0 && f->created && !f->stopping)
        f->created(f->created_arg);
    /* Last: after fanout_stop, giving back the last msg lets the consumer, then f, go. */
    if (status && !poison(status, res))
        rstream_release(f->consumer, fan->msg); /* comes back by claim */
    else
        rstream_ack(f->consumer, fan->msg); /* after fanout_stop: stays pending, comes back */
    free(fan);
}

static void msg_cb(struct rstream_consumer *c, struct rstream_msg *msg, void *arg)
{
    /* wh_fanout() checks the envelope (JSON, id, type, tenant_id): PostgreSQL's json takes
     * what customers' data may hold and jansson refuses (a NUL in a key), so nothing is
     * parsed here; what it refuses is poison (fanned_cb), dropped with a warning. */
    struct fanout *f = arg;
    struct fan *fan = VP_NEW(fan);
    *fan = (struct fan){f, msg};
    const char *params[] = {msg->body, f->delay};
    if (pg_exec(f->svc->pg, SQL_FANOUT, 2, params, fanned_cb, fan)) {
        free(fan);
        rstream_release(c, msg); /* the pool is saturated: later */
    }
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
    make_metrics(f);
    struct redis_opts ro;
    service_redis_opts(svc, &ro, "webhook-events");
    const char **streams = outbox_stream_names(opts->partitions); /* the consumer copies */
    struct rstream_consumer_opts co = {
        .group = "webhook-dispatcher",
        .consumer = opts->consumer,
        .streams = streams,
        .nstreams = opts->partitions,
        .max_inflight = opts->max_inflight ? opts->max_inflight : 64,
        .claim_idle_ms = 30000,
        .claim_interval_ms = 5000,
    };
    err = rstream_consumer_create(&f->consumer, svc->loop, &ro, &co, msg_cb, f);
    free(streams);
    if (err) {
        free(f);
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
    free(arg);
}

/* Statements still running give their entries back when they end; f goes after the last. */
void fanout_stop(struct fanout *f)
{
    f->stopping = true;
    rstream_consumer_close(f->consumer, consumer_closed_cb, f);
}
