#include "rater.h"
#include "rate_job.h"

#include "voepy/alloc.h"
#include "voepy/err.h"
#include "voepy/log.h"
#include "voepy/metrics.h"
#include "voepy/outbox.h"
#include "voepy/redis.h"
#include "voepy/rstream.h"
#include "voepy/service.h"

#include <inttypes.h>
#include <jansson.h>
#include <string.h>

/* A call.ended event in a batch; the batch's end gives msg back to the consumer. */
struct job {
    struct rater *r;
    struct rstream_msg *msg;
    char *call_id;
};

/*
 * call.ended events are gathered into a batch (rate_job.h) until it is full or the loop
 * has delivered what it read (a 0 ms timer), then rated together: one load and one apply
 * statement for the whole batch instead of one pair per call.
 *
 * Lives until its consumer has closed, which is after every job has given its msg back,
 * and its flush timer has closed (refs counts both).
 */
struct rater {
    struct service *svc;
    struct rstream_consumer *consumer;
    struct metric *m_rated, *m_failed, *m_cents, *m_retries, *m_duplicates;
    uv_timer_t flush;
    struct job *batch[RATE_BATCH_MAX];
    size_t nbatch, batch_max;
    int refs;
};

static void count(struct rater *r, const struct rate_outcome *o)
{
    switch (o->result) {
    case RATE_CHARGED:
        metric_inc(r->m_rated);
        metric_add(r->m_cents, o->cost_cents);
        vlog_kv(VLOG_INFO, "rating.rated", "call rated", "call_id", o->call_id, NULL);
        log_debug("rating.price", "%s: %" PRId64 " s, %" PRId64 " cents", o->call_id,
                  o->billed_seconds, o->cost_cents);
        break;
    case RATE_UNPRICED:
        metric_inc(r->m_failed);
        vlog_kv(VLOG_WARN, "rating.failed", o->reason, "call_id", o->call_id, NULL);
        break;
    case RATE_SKIPPED:
        vlog_kv(VLOG_WARN, "rating.skipped", o->reason, "call_id", o->call_id, NULL);
        break;
    case RATE_RETRY:
        metric_inc(r->m_retries);
        vlog_kv(VLOG_WARN, "rating.retry", o->reason, "call_id", o->call_id, NULL);
        break;
    case RATE_ALREADY:
        metric_inc(r->m_duplicates);
        log_debug("rating.duplicate", "%s was already rated", o->call_id);
        break;
    }
}

/* The SQL has committed (or failed): acknowledge, or leave the entry for a retry. */
static void job_done_cb(const struct rate_outcome *o, void *arg)
{
    struct job *j = arg;
    count(j->r, o);
    if (o->result == RATE_RETRY)
        rstream_release(j->r->consumer, j->msg);
    else
        rstream_ack(j->r->consumer, j->msg); /* after rater_stop: stays pending, comes back */
    free(j->call_id);
    free(j);
}

/* Rate the gathered batch now; when the pool refuses it, its entries come back later. */
static void flush(struct rater *r)
{
    const char *ids[RATE_BATCH_MAX];
    void *args[RATE_BATCH_MAX];
    size_t n = r->nbatch;
    r->nbatch = 0;
    uv_timer_stop(&r->flush);
    for (size_t i = 0; i < n; i++) {
        ids[i] = r->batch[i]->call_id;
        args[i] = r->batch[i];
    }
    if (n == 0 || rate_job_start(r->svc->pg, ids, args, n, job_done_cb) == 0)
        return;
    for (size_t i = 0; i < n; i++) {
        rstream_release(r->consumer, r->batch[i]->msg); /* the pool is saturated: later */
        free(r->batch[i]->call_id);
        free(r->batch[i]);
    }
}

static void flush_cb(uv_timer_t *t)
{
    flush(t->data);
}

static void start_job(struct rater *r, struct rstream_msg *msg, const char *call_id)
{
    if (!call_id || !*call_id || strlen(call_id) >= 96) {
        vlog_kv(VLOG_WARN, "rating.bad_event", "unusable call_id", "entry", msg->id, NULL);
        rstream_ack(r->consumer, msg);
        return;
    }
    struct job *j = VP_NEW(j);
    *j = (struct job){r, msg, vp_strdup(call_id)};
    r->batch[r->nbatch++] = j;
    if (r->nbatch >= r->batch_max)
        flush(r);
    else if (r->nbatch == 1)
        uv_timer_start(&r->flush, flush_cb, 0, 0); /* after the messages read with it */
}

static void msg_cb(struct rstream_consumer *c, struct rstream_msg *msg, void *arg)
{
    struct rater *r = arg;
    json_t *ev = json_loadb(msg->body, msg->len, 0, NULL);
    const char *type = json_string_value(json_object_get(ev, "type"));
    const char *call_id = json_string_value(json_object_get(ev, "call_id"));
    if (!type) {
        vlog_kv(VLOG_WARN, "rating.bad_event", "not an event envelope", "stream", msg->stream,
                "entry", msg->id, NULL);
        rstream_ack(c, msg);
    } else if (strcmp(type, "call.ended") != 0) {
        rstream_ack(c, msg); /* not ours */
    } else {
        start_job(r, msg, call_id);
    }
    json_decref(ev);
}

static void make_metrics(struct rater *r)
{
    r->m_rated = metrics_counter("voepy_rating_calls_rated_total",
                                 "Ended calls priced and charged (free ones included).", NULL);
    r->m_failed = metrics_counter("voepy_rating_calls_failed_total",
                                  "Ended calls that could not be priced (no rate).", NULL);
    r->m_cents = metrics_counter("voepy_rating_cents_charged_total",
                                 "Cents charged to tenant balances for calls.", NULL);
    r->m_retries =
        metrics_counter("voepy_rating_retries_total",
                        "Rating attempts left for later after a database failure.", NULL);
    r->m_duplicates = metrics_counter("voepy_rating_duplicates_total",
                                      "call.ended events for calls already rated.", NULL);
}

int rater_create(struct rater **rp, struct service *svc, const struct rater_opts *opts)
{
    const char **streams = outbox_stream_names(opts->partitions); /* the consumer copies */
    struct rater *r = NULL;
    int err = streams ? rate_job_prepare(svc->pg) : VP_E_INVALID_PARAMETER;
    if (err)
        goto out;
    r = VP_NEW(r);
    r->svc = svc;
    r->refs = 2; /* the consumer and the flush timer */
    unsigned inflight = opts->max_inflight ? opts->max_inflight : 64;
    r->batch_max = inflight < RATE_BATCH_MAX ? inflight : RATE_BATCH_MAX;
    make_metrics(r);
    struct redis_opts ro;
    service_redis_opts(svc, &ro, "rating-events");
    struct rstream_consumer_opts co = {
        .group = "rating",
        .consumer = opts->consumer,
        .streams = streams,
        .nstreams = opts->partitions,
        .max_inflight = inflight,
        .claim_idle_ms = 30000, /* a dead rater's calls are taken over after 30 s */
        .claim_interval_ms = 5000,
    };
    err = rstream_consumer_create(&r->consumer, svc->loop, &ro, &co, msg_cb, r);
    if (!err) {
        uv_timer_init(svc->loop, &r->flush);
        r->flush.data = r;
    }
out:
    free(streams);
    if (err) {
        free(r);
        return err;
    }
    *rp = r;
    return 0;
}

void rater_drain(struct rater *r, void (*done)(void *arg), void *arg)
{
    rstream_consumer_drain(r->consumer, done, arg);
}

static void unref(struct rater *r)
{
    if (--r->refs == 0)
        free(r);
}

static void consumer_closed_cb(void *arg)
{
    unref(arg);
}

static void timer_closed_cb(uv_handle_t *h)
{
    unref(h->data);
}

/* Jobs still running give their entries back when they end; r goes after the last. The
 * batch not started yet gives its entries back now (they stay pending for a consumer). */
void rater_stop(struct rater *r)
{
    for (size_t i = 0; i < r->nbatch; i++) {
        rstream_release(r->consumer, r->batch[i]->msg);
        free(r->batch[i]->call_id);
        free(r->batch[i]);
    }
    r->nbatch = 0;
    uv_close((uv_handle_t *)&r->flush, timer_closed_cb);
    rstream_consumer_close(r->consumer, consumer_closed_cb, r);
}
