/*
 * Taking outbound calls: the voepy:dial consumer (group call-control) and the sweeper.
 *
 * A dial command is a wake-up, not the record (proto/streams.md): the call row is. So a
 * command is acknowledged as soon as it is read, and the claim that follows decides: the
 * conditional update in cc_claim_call lets exactly one node win a call. A command lost on
 * the way (or acknowledged by a node that died before claiming) leaves its call
 * initiated and unclaimed; every node's sweeper claims such calls after a few seconds.
 *
 * The claim also returns the route's credentials and failover (cc_claim_call_routed);
 * a route this node's keep-alives found down (route_health.h) gives the call to its
 * failover when that one is not down too.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "call.h"
#include "call_route.h"
#include "cc_int.h"
#include "route_health.h"
#include "voepy/alloc.h"
#include "voepy/id.h"
#include "voepy/json.h"
#include "voepy/log.h"
#include "voepy/metrics.h"
#include "voepy/pg.h"
#include "voepy/rstream.h"
#include "voepy/service.h"
#include "voepy/vtime.h"

#define SWEEP_BATCH "20"

struct dial {
    struct cc *cc;
    struct rstream_consumer *consumer;
    uv_timer_t sweep;
    bool sweeping; /* a sweep query is in flight */
    bool draining, closed, sweep_closed;
    unsigned pending;        /* SQL in flight: the struct lives until its callbacks have run */
    struct strmap *claiming; /* call ids whose claim is in flight */
    struct route_health *health;
};

static void maybe_free(struct dial *d)
{
    if (d->sweep_closed && d->pending == 0) {
        strmap_free(d->claiming);
        free(d);
    }
}

struct claim {
    struct dial *d;
    char call_id[ID_MAX];
};

static void count_claim(const char *outcome)
{
    char labels[48];
    snprintf(labels, sizeof(labels), "outcome=\"%s\"", outcome);
    metric_inc(metrics_counter("voepy_cc_claims_total",
                               "claims of initiated calls by outcome (dial, canceled, no_route, "
                               "taken, error)",
                               labels));
}

/* The routes of the claimed call: the failover first when the route is down here. */
static struct call_routes *routes_of(struct dial *d, const struct pg_result *res)
{
    struct call_routes *r = call_routes_from_claim(res);
    r->timer_b_ms = route_health_timer_b_ms(d->health);
    if (call_routes_has_failover(r) && route_health_down(d->health, r->primary.id) &&
        !route_health_down(d->health, r->failover.id)) {
        log_info("dial.route_down", "route %s is down: the call goes to its failover %s",
                 r->primary.id, r->failover.id);
        call_routes_swap(r);
    }
    return r;
}

static void start_call(struct dial *d, const struct pg_result *res)
{
    struct call_params p = {.id = pg_get(res, 0, "call_id"),
                            .tenant_id = pg_get(res, 0, "tenant_id"),
                            .leg_id = pg_get(res, 0, "leg_id"),
                            .from = pg_get(res, 0, "from_number"),
                            .to = pg_get(res, 0, "to_number"),
                            .route_id = pg_get(res, 0, "route_id"),
                            .sip_uri = pg_get(res, 0, "sip_uri"),
                            .transport = pg_get(res, 0, "transport")};
    const char *t = pg_get(res, 0, "timeout_secs"), *l = pg_get(res, 0, "time_limit_secs");
    p.timeout_secs = t ? atoi(t) : 60;
    p.time_limit_secs = l ? atoi(l) : 0;
    if (!p.id || !p.tenant_id || !p.leg_id || !p.from || !p.to || !p.sip_uri) {
        log_error("dial.bad_claim", "the claim of %s returned incomplete data", p.id);
        return;
    }
    if (d->cc->stopped || d->closed) {
        log_warn("dial.claimed_at_stop", "call %s was claimed while stopping: not dialled", p.id);
        return;
    }
    p.routes = routes_of(d, res); /* the call takes it */
    call_out_start(d->cc, &p);
}

static void claimed_cb(int status, const struct pg_result *res, void *arg)
{
    struct claim *cl = arg;
    struct dial *d = cl->d;
    d->pending--;
    strmap_del(d->claiming, cl->call_id);
    const char *outcome = status == 0 && pg_ntuples(res) > 0 ? pg_get(res, 0, "outcome") : NULL;
    if (status) {
        log_error("dial.claim_failed", "claim of %s failed: %s", cl->call_id,
                  vp_err_message(status));
        count_claim("error");
    } else if (!outcome) {
        log_debug("dial.not_claimable", "call %s is taken or over", cl->call_id);
        count_claim("taken");
    } else if (strcmp(outcome, "dial") == 0) {
        count_claim("dial");
        start_call(d, res);
    } else {
        vlog_kv(VLOG_INFO, "dial.ended_at_claim", "the call ended at its claim", "call_id",
                cl->call_id, "outcome", outcome, NULL);
        count_claim(strcmp(outcome, "canceled") == 0 ? "canceled" : "no_route");
        cc__kick_outbox(d->cc);
    }
    free(cl);
    maybe_free(d);
}

static void claim(struct dial *d, const char *call_id)
{
    if (call_known(d->cc, call_id) || strmap_get(d->claiming, call_id))
        return;
    struct claim *cl = VP_NEW(cl);
    cl->d = d;
    snprintf(cl->call_id, sizeof(cl->call_id), "%s", call_id);
    char ms[24];
    snprintf(ms, sizeof(ms), "%lld", (long long)vtime_now_ms());
    const char *params[] = {cl->call_id, d->cc->node_id, ms};
    if (pg_exec(d->cc->pg, "cc_claim_call_routed", 3, params, claimed_cb, cl) != 0) {
        log_error("dial.claim_failed", "claim of %s: the database queue is full", call_id);
        free(cl);
        return;
    }
    d->pending++;
    strmap_put(d->claiming, cl->call_id, cl);
}

static void dial_msg_cb(struct rstream_consumer *consumer, struct rstream_msg *msg, void *arg)
{
    struct dial *d = arg;
    json_t *m = NULL;
    struct vp_error e;
    const char *op = NULL, *call_id = NULL;
    if (vjson_parse_object(msg->body, msg->len, false, &m, &e) == 0) {
        op = vjson_str(m, "op");
        call_id = vjson_str(m, "call_id");
    }
    if (!op || strcmp(op, "dial") != 0 || !call_id || !id_valid(call_id, "call"))
        log_warn("dial.bad_command", "ignored a voepy:dial entry %s that is not a dial command",
                 msg->id);
    else if (!d->draining)
        claim(d, call_id);
    json_decref(m);
    rstream_ack(consumer, msg);
}

static void swept_cb(int status, const struct pg_result *res, void *arg)
{
    struct dial *d = arg;
    d->sweeping = false;
    d->pending--;
    if (status && !d->closed)
        log_warn("dial.sweep_failed", "sweep for unclaimed calls failed: %s",
                 vp_err_message(status));
    for (int i = 0; status == 0 && i < pg_ntuples(res) && !d->draining; i++) {
        const char *id = pg_get(res, i, "call_id");
        log_info("dial.unclaimed", "call %s was left unclaimed: claiming it", id);
        claim(d, id);
    }
    maybe_free(d);
}

static void sweep_cb(uv_timer_t *t)
{
    struct dial *d = t->data;
    if (d->sweeping || d->draining)
        return;
    char older[16];
    snprintf(older, sizeof(older), "%u", d->cc->opts.unclaimed_after_ms);
    const char *params[] = {older, SWEEP_BATCH};
    if (pg_exec(d->cc->pg, "cc_sweep_unclaimed", 2, params, swept_cb, d) == 0) {
        d->sweeping = true;
        d->pending++;
    }
}

int dial_create(struct dial **dp, struct cc *cc)
{
    struct dial *d = VP_NEW(d);
    d->cc = cc;
    int err = route_health_create(&d->health, cc);
    if (err) {
        free(d);
        return err;
    }
    d->claiming = strmap_create();
    static const char *const streams[] = {"voepy:dial"};
    struct rstream_consumer_opts co = {
        .group = "call-control", .consumer = cc->node_id, .streams = streams, .nstreams = 1};
    struct redis_opts ro;
    service_redis_opts(cc->svc, &ro, "cc-dial");
    err = rstream_consumer_create(&d->consumer, cc->loop, &ro, &co, dial_msg_cb, d);
    if (err) {
        route_health_close(d->health);
        strmap_free(d->claiming);
        free(d);
        return err;
    }
    uv_timer_init(cc->loop, &d->sweep);
    d->sweep.data = d;
    unsigned every = cc->opts.sweep_interval_ms;
    uv_timer_start(&d->sweep, sweep_cb, every, every);
    *dp = d;
    return 0;
}

void dial_drain(struct dial *d)
{
    if (d->draining)
        return;
    d->draining = true;
    uv_timer_stop(&d->sweep);
    rstream_consumer_drain(d->consumer, NULL, NULL);
}

static void sweep_closed_cb(uv_handle_t *h)
{
    struct dial *d = h->data;
    d->sweep_closed = true;
    maybe_free(d);
}

void dial_close(struct dial *d)
{
    if (d->closed)
        return;
    d->closed = true;
    d->draining = true;
    route_health_close(d->health);
    d->health = NULL;
    rstream_consumer_close(d->consumer, NULL, NULL);
    uv_close((uv_handle_t *)&d->sweep, sweep_closed_cb);
}
