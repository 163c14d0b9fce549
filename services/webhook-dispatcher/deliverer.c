#include "deliverer.h"
#include "attempt.h"
#include "recorder.h"
#include "wh_request.h"

#include "voepy/alloc.h"
#include "voepy/err.h"
#include "voepy/http_client.h"
#include "voepy/log.h"
#include "voepy/metrics.h"
#include "voepy/pg.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define SQL_CLAIM   "wh_claim"
#define SQL_PENDING "wh_housekeep"
#define GAUGE_MS    5000
#define LEASE_GRACE 30000 /* URL check, recording, slack: beyond the HTTP timeout */
/*
 * Attempts that finish while a claim runs are claimed for together, this long after that
 * claim returned: claims of a few dozen deliveries rather than back-to-back claims of a
 * few each (every claim has a fixed cost in PostgreSQL). A claim with nothing before it
 * (new deliveries, the poll, an idle dispatcher) runs at once.
 */
#define CLAIM_COALESCE_MS 1

enum claim_state { CLAIM_IDLE, CLAIM_RUNNING };

/* What an attempt's delivery became (attempt.h), "abandoned" for NULL; retry and stale
 * leave the delivery unfinished. */
static const char *const outcomes[] = {"succeeded", "exhausted", "failed", "gone",
                                       "disabled",  "retry",     "stale",  "abandoned"};
#define NOUTCOMES (sizeof(outcomes) / sizeof(outcomes[0]))

struct deliverer {
    struct attempt_env env;
    struct deliverer_opts opts;
    enum claim_state claim;
    bool again;    /* kicked while a claim ran */
    bool draining; /* no new claims */
    bool stopped;
    unsigned inflight; /* attempts started and not done */
    unsigned queries;  /* claim and gauge queries without an answer */
    unsigned handles;  /* timers and the HTTP client not yet closed */
    char limit[16], per_endpoint[16], lease[16];
    uv_timer_t poll, gauge;
    uv_timer_t soon; /* the coalesced next claim (CLAIM_COALESCE_MS) */
    void (*drain_done)(void *arg);
    void *drain_arg;
    struct metric *m_pending, *m_inflight;
    /* the counters of count_result() by outcome (outcomes[]), made once */
    struct metric *m_attempts[NOUTCOMES], *m_deliveries[NOUTCOMES];
};

static void claim(struct deliverer *d);

static void maybe_free(struct deliverer *d)
{
    if (d->stopped && !d->inflight && !d->queries && !d->handles)
        free(d);
}

static void check_drained(struct deliverer *d)
{
    if (d->draining && !d->inflight && d->claim == CLAIM_IDLE && d->drain_done) {
        void (*done)(void *) = d->drain_done;
        d->drain_done = NULL;
        done(d->drain_arg);
    }
}

/* The attempt counter of an outcome, and its delivery counter (NULL when the delivery goes on). */
static void counters_for(const char *outcome, struct metric **attempts, struct metric **deliveries)
{
    char labels[64];
    snprintf(labels, sizeof(labels), "result=\"%s\"", outcome);
    *attempts = metrics_counter("voepy_webhook_attempts_total",
                                "Delivery attempts by what became of the delivery.", labels);
    *deliveries = NULL;
    if (strcmp(outcome, "retry") != 0 && strcmp(outcome, "stale") != 0 &&
        strcmp(outcome, "abandoned") != 0)
        *deliveries = metrics_counter("voepy_webhook_deliveries_total",
                                      "Deliveries finished, by result.", labels);
}

/* Every attempt by what it did to its delivery; deliveries by how they ended. */
static void count_result(struct deliverer *d, const char *outcome)
{
    const char *name = outcome ? outcome : "abandoned";
    struct metric *attempts = NULL, *deliveries = NULL;
    for (size_t i = 0; i < NOUTCOMES && !attempts; i++)
        if (strcmp(outcomes[i], name) == 0) {
            attempts = d->m_attempts[i];
            deliveries = d->m_deliveries[i];
        }
    if (!attempts) /* an outcome this file does not know: counted all the same */
        counters_for(name, &attempts, &deliveries);
    metric_inc(attempts);
    if (deliveries)
        metric_inc(deliveries);
}

static void attempt_finished_cb(const char *outcome, void *arg)
{
    struct deliverer *d = arg;
    d->inflight--;
    metric_set(d->m_inflight, d->inflight);
    count_result(d, outcome);
    if (d->stopped) {
        maybe_free(d);
        return;
    }
    check_drained(d);
    claim(d); /* room for one more */
}

static void soon_cb(uv_timer_t *t)
{
    claim(t->data);
}

static void claimed_cb(int status, const struct pg_result *res, void *arg)
{
    struct deliverer *d = arg;
    d->queries--;
    d->claim = CLAIM_IDLE;
    if (d->stopped) {
        maybe_free(d); /* rows stay leased: they come back when the leases end */
        return;
    }
    if (status)
        log_warn("webhook.claim_failed", "claiming deliveries failed: %s",
                 res ? pg_result_message(res) : vp_err_message(status));
    int n = status ? 0 : pg_ntuples(res);
    for (int i = 0; i < n; i++) {
        d->inflight++;
        attempt_start(&d->env, res, i, attempt_finished_cb, d);
    }
    metric_set(d->m_inflight, d->inflight);
    bool full = n > 0 && (unsigned)n == (unsigned)strtoul(d->limit, NULL, 10);
    if (full) {
        d->again = false;
        claim(d);
    } else if (d->again) {
        d->again = false;
        uv_timer_start(&d->soon, soon_cb, CLAIM_COALESCE_MS, 0);
    }
    check_drained(d);
}

static void claim(struct deliverer *d)
{
    if (d->stopped || d->draining)
        return;
    if (d->claim == CLAIM_RUNNING) {
        d->again = true;
        return;
    }
    if (uv_is_active((uv_handle_t *)&d->soon))
        return; /* soon_cb claims */
    if (d->inflight >= d->opts.max_inflight)
        return; /* a finishing attempt claims again */
    snprintf(d->limit, sizeof(d->limit), "%u", d->opts.max_inflight - d->inflight);
    const char *params[] = {d->limit, d->per_endpoint, d->lease};
    if (pg_exec(d->env.pg, SQL_CLAIM, 3, params, claimed_cb, d) == 0) {
        d->claim = CLAIM_RUNNING;
        d->queries++;
    }
}

static void poll_cb(uv_timer_t *t)
{
    claim(t->data);
}

static void pending_cb(int status, const struct pg_result *res, void *arg)
{
    struct deliverer *d = arg;
    d->queries--;
    const char *v = status ? NULL : pg_value(res, 0, 0);
    if (v)
        metric_set(d->m_pending, strtoll(v, NULL, 10));
    maybe_free(d);
}

static void gauge_cb(uv_timer_t *t)
{
    struct deliverer *d = t->data;
    if (pg_exec(d->env.pg, SQL_PENDING, 0, NULL, pending_cb, d) == 0)
        d->queries++;
}

void deliverer_kick(struct deliverer *d)
{
    claim(d);
}

void deliverer_drain(struct deliverer *d, void (*done)(void *arg), void *arg)
{
    d->draining = true;
    d->drain_done = done;
    d->drain_arg = arg;
    uv_timer_stop(&d->poll);
    uv_timer_stop(&d->soon);
    check_drained(d);
}

static void handle_closed_cb(uv_handle_t *h)
{
    struct deliverer *d = h->data;
    d->handles--;
    maybe_free(d);
}

static void http_closed_cb(void *arg)
{
    struct deliverer *d = arg;
    d->handles--;
    maybe_free(d);
}

void deliverer_stop(struct deliverer *d)
{
    d->stopped = true;
    d->env.stopping = true;
    d->drain_done = NULL;
    uv_close((uv_handle_t *)&d->poll, handle_closed_cb);
    uv_close((uv_handle_t *)&d->soon, handle_closed_cb);
    uv_close((uv_handle_t *)&d->gauge, handle_closed_cb);
    /* attempts in HTTP end now, unrecorded; so do results not yet written */
    httpc_close(d->env.http, http_closed_cb, d);
    recorder_close(d->env.recorder, http_closed_cb, d);
}

static int prepare(struct pg_pool *pg)
{
    int err = pg_prepare(pg, SQL_CLAIM, "SELECT * FROM wh_claim($1::int, $2::int, $3::int)");
    if (!err)
        err = pg_prepare(pg, SQL_PENDING, "SELECT wh_housekeep()");
    return err;
}

static void init_metrics(struct deliverer *d)
{
    d->env.m_latency = metrics_histogram("voepy_webhook_attempt_duration_seconds",
                                         "Time from request to response of attempts.", NULL,
                                         metrics_latency_buckets, metrics_latency_nbuckets);
    d->m_pending = metrics_gauge("voepy_webhook_pending", "Deliveries waiting to be sent.", NULL);
    d->m_inflight = metrics_gauge("voepy_webhook_inflight", "Attempts in flight here.", NULL);
    for (size_t i = 0; i < NOUTCOMES; i++)
        counters_for(outcomes[i], &d->m_attempts[i], &d->m_deliveries[i]);
}

static void init_env(struct deliverer *d, uv_loop_t *loop, struct pg_pool *pg)
{
    d->env.loop = loop;
    d->env.pg = pg;
    d->env.schedule = d->opts.schedule;
    d->env.timeout_ms = d->opts.timeout_ms;
    d->env.url_policy = d->opts.url_policy;
    unsigned lease = d->opts.lease_ms ? d->opts.lease_ms : d->opts.timeout_ms + LEASE_GRACE;
    snprintf(d->lease, sizeof(d->lease), "%u", lease);
    snprintf(d->per_endpoint, sizeof(d->per_endpoint), "%u", d->opts.per_endpoint);
}

int deliverer_create(struct deliverer **dp, uv_loop_t *loop, struct pg_pool *pg,
                     const struct deliverer_opts *opts)
{
    if (!opts->max_inflight || !opts->per_endpoint || !opts->timeout_ms || !opts->poll_ms ||
        !opts->schedule.n || (opts->lease_ms && opts->lease_ms <= opts->timeout_ms))
        return VP_E_INVALID_PARAMETER;
    int err = prepare(pg);
    if (err)
        return err;
    struct deliverer *d = VP_NEW(d);
    d->opts = *opts;
    init_env(d, loop, pg);
    struct httpc_opts ho = {.max_total_connections = opts->max_inflight,
                            /* endpoints often share a host: the per-endpoint cap is SQL's */
                            .max_host_connections =
                                opts->per_endpoint > 16 ? opts->per_endpoint : 16,
                            .user_agent = WH_USER_AGENT};
    struct recorder_opts ro = {.batch_max = opts->record_batch,
                               .slowdown_ms = opts->slowdown_ms,
                               .disable_after_s = opts->disable_after_s,
                               .emitted = opts->emitted,
                               .emitted_arg = opts->emitted_arg};
    err = recorder_create(&d->env.recorder, loop, pg, &ro);
    if (!err)
        err = httpc_create(&d->env.http, loop, &ho);
    if (err) {
        if (d->env.recorder)
            recorder_close(d->env.recorder, NULL, NULL);
        free(d);
        return err;
    }
    init_metrics(d);
    uv_timer_init(loop, &d->poll);
    uv_timer_init(loop, &d->soon);
    uv_timer_init(loop, &d->gauge);
    d->poll.data = d->gauge.data = d->soon.data = d;
    d->handles = 5; /* poll, soon, gauge, HTTP client, recorder */
    uv_timer_start(&d->poll, poll_cb, 0, opts->poll_ms);
    uv_timer_start(&d->gauge, gauge_cb, 0, GAUGE_MS);
    *dp = d;
    return 0;
}
