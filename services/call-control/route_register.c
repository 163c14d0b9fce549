/*
 * Trunk registration (see route_register.h). One timer ticks every TICK_MS: it sends the
 * REGISTERs that are due and, every round, asks PostgreSQL for the leases this node holds.
 * Each route has at most one REGISTER (or host name lookup) in flight; its transaction is
 * libosip2's (Timer F bounds it). Route records hold no handle: they are freed at once
 * (their transaction aborted or disowned first), except during a lookup (uv_getaddrinfo
 * holds the record: its callback frees it). A record whose route changed or left this
 * node first unregisters the binding it holds (the registry's leaving list), then goes.
 * The registry itself goes once its timer is closed and every query and lookup has
 * answered.
 */
#include "route_register.h"
#include "route_register_int.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cc_int.h"
#include "sip_auth.h"
#include "sip_msg.h"
#include "sip_stack.h"
#include "sip_ua.h"
#include "voepy/alloc.h"
#include "voepy/err.h"
#include "voepy/id.h"
#include "voepy/log.h"
#include "voepy/metrics.h"
#include "voepy/pg.h"
#include "voepy/vtime.h"

#define TICK_MS              200
#define LEASE_ROUNDS         3
#define UNREGISTER_WAIT_MS   3000 /* a drain waits this long for the Expires: 0 answers */
#define REPORT_WAIT_MS       1000 /* ... and then this long for its reports to be written */
#define BACKOFF_SHIFT        3    /* the retry delay doubles up to 8 times the base */
#define MAX_AUTH_PER_ATTEMPT 2    /* answered challenges per attempt (a stale nonce again) */
#define MAX_423_PER_ATTEMPT  2

static const char *const state_names[] = {"unregistered", "registered", "failed"};

static void tr_cb(void *owner, osip_transaction_t *tr, enum sip_tr_event ev,
                  const osip_message_t *resp, int64_t at_ms);
static void maybe_free(struct route_register *rr);

/* All routes, in an array the caller frees (*n set). */
static struct rr_route **all_routes(struct route_register *rr, size_t *n)
{
    size_t max = strmap_count(rr->routes);
    struct rr_route **all = vp_malloc((max ? max : 1) * sizeof(*all));
    *n = strmap_values(rr->routes, (void **)all, max);
    return all;
}

static void reported_cb(int status, const struct pg_result *res, void *arg)
{
    struct route_register *rr = arg;
    (void)res;
    rr->pending--;
    if (status && !rr->closing)
        log_warn("route.register_report_failed", "cannot record a registration: %s",
                 vp_err_message(status));
    maybe_free(rr);
}

/* route_registrations gets the route's state (release: the lease is given up too). */
static void report(struct rr_route *r, bool release)
{
    struct route_register *rr = r->rr;
    if (r->leaving)
        return; /* the route's state is its new record's (or no longer registers) */
    char exp[24];
    snprintf(exp, sizeof(exp), "%lld", (long long)r->expires_at_ms);
    const char *params[] = {rr->cc->node_id,
                            r->id,
                            state_names[r->state],
                            r->state == RR_REGISTERED ? exp : NULL,
                            r->state == RR_FAILED ? r->last_error : NULL,
                            release ? "true" : "false"};
    if (pg_exec(rr->cc->pg, "cc_route_reg_state", 6, params, reported_cb, rr) == 0)
        rr->pending++;
}

/* The Authorization of the next REGISTER, or NULL when no challenge is known. */
static char *authorization(struct rr_route *r)
{
    if (!r->have_challenge || !r->user)
        return NULL;
    struct sip_auth_creds cr = {.username = r->user, .password = r->pass, .realm = r->realm};
    return sip_auth_header(&r->ch, &cr, "REGISTER", r->ruri, ++r->nc, NULL);
}

static int build_register(struct rr_route *r, unsigned expires, osip_message_t **mp)
{
    struct sip_ua *ua = r->rr->cc->ua;
    char branch[SIP_TOKEN_MAX], exp[16];
    sip_msg_new_branch(branch, sizeof(branch));
    struct sip_req_spec spec = {.method = "REGISTER",
                                .ruri = r->ruri,
                                .via_proto = sip_proto_name(r->proto),
                                .via_host = sip_ua_advertised_host(ua),
                                .via_port = sip_ua_port(ua),
                                .branch = branch,
                                .from_uri = r->aor,
                                .from_tag = r->from_tag,
                                .to_uri = r->aor,
                                .call_id = r->call_id,
                                .cseq = ++r->cseq,
                                .contact = r->contact};
    int err = sip_msg_request(mp, &spec);
    if (err)
        return err;
    snprintf(exp, sizeof(exp), "%u", expires);
    osip_message_set_header(*mp, "Expires", exp);
    char *authz = authorization(r);
    if (authz)
        osip_message_set_header(*mp, r->ch.proxy ? "Proxy-Authorization" : "Authorization", authz);
    free(authz);
    return 0;
}

static void fail(struct rr_route *r, const char *why);

/* A REGISTER (expires 0 unregisters), unless one is in flight. */
static void send_register(struct rr_route *r, unsigned expires)
{
    struct sip_ua *ua = r->rr->cc->ua;
    if (r->tr || !ua)
        return;
    if (!r->reachable || !r->ip[0]) {
        fail(r, r->reachable ? "the route's host name did not resolve"
                             : "the route's sip_uri names no host");
        return;
    }
    osip_message_t *m = NULL;
    int err = build_register(r, expires, &m);
    if (!err)
        err = sip_stack_request(sip_ua_stack(ua), m, r->proto, r->ip, r->port, tr_cb, r, &r->tr);
    if (err) {
        r->tr = NULL;
        fail(r, "the REGISTER could not be sent");
    }
}

static void resolved_cb(uv_getaddrinfo_t *req, int status, struct addrinfo *res)
{
    struct rr_route *r = req->data;
    struct route_register *rr = r->rr;
    r->resolving = false;
    rr->pending--;
    sip_addr_resolved(status, res, r->ip, sizeof(r->ip));
    if (r->gone)
        route_register__route_free(r);
    else if (!rr->closing && !rr->draining && !r->leaving)
        send_register(r, r->asked); /* fails the attempt when the name did not resolve */
    maybe_free(rr);
}

/*
 * A route named by a host name is looked up before each attempt (a refresh follows the
 * name to a new address), off the loop (uv_getaddrinfo's thread pool), for the address
 * family of our SIP socket.
 */
static void resolve(struct rr_route *r)
{
    struct route_register *rr = r->rr;
    const char *bind = rr->cc->opts.sip_host ? rr->cc->opts.sip_host : "";
    struct addrinfo hints = {.ai_family = strchr(bind, ':') ? AF_INET6 : AF_INET,
                             .ai_socktype = SOCK_DGRAM};
    r->dns.data = r;
    if (uv_getaddrinfo(rr->cc->loop, &r->dns, resolved_cb, r->name, NULL, &hints) != 0) {
        fail(r, "the route's host name cannot be looked up");
        return;
    }
    r->resolving = true;
    rr->pending++;
}

/* A new attempt (a refresh or a retry): its challenge and 423 budgets start afresh. */
static void attempt(struct rr_route *r)
{
    r->auth_tries = 0;
    r->tries_423 = 0;
    if (r->name)
        resolve(r);
    else
        send_register(r, r->asked);
}

static void set_gauge(struct rr_route *r)
{
    if (!r->leaving)
        metric_set(r->gauge, r->state == RR_REGISTERED && !r->unregistering ? 1 : 0);
}

static void fail(struct rr_route *r, const char *why)
{
    struct route_register *rr = r->rr;
    if (r->unregistering) {
        r->unregistering = false; /* the binding ends by itself at its expiry */
        return;
    }
    bool was = r->state == RR_FAILED && strcmp(r->last_error, why) == 0;
    snprintf(r->last_error, sizeof(r->last_error), "%s", why);
    r->state = RR_FAILED;
    unsigned shift = r->failures < BACKOFF_SHIFT ? r->failures : BACKOFF_SHIFT;
    r->failures++;
    r->next_at_ms = vtime_now_ms() + (int64_t)rr->cc->opts.route_register_retry_ms * (1 << shift);
    set_gauge(r);
    if (!was)
        vlog_kv(VLOG_WARN, "route.register_failed", "the registrar did not register us", "route",
                r->id, "uri", r->ruri, "error", why, NULL);
    report(r, false);
}

static void registered(struct rr_route *r, const osip_message_t *resp, int64_t at_ms)
{
    if (r->unregistering) {
        r->unregistering = false;
        r->state = RR_UNREGISTERED;
        log_info("route.unregistered", "route %s: unregistered", r->id);
        return;
    }
    unsigned granted = route_register_granted_secs(resp, r->contact, r->asked);
    if (granted == 0) {
        fail(r, "the registrar granted an expiry of 0");
        return;
    }
    bool was = r->state == RR_REGISTERED;
    r->state = RR_REGISTERED;
    r->failures = 0;
    r->last_error[0] = '\0';
    r->expires_at_ms = at_ms + (int64_t)granted * 1000;
    r->next_at_ms = at_ms + (int64_t)granted * 500; /* refresh at half the expiry */
    set_gauge(r);
    if (!was)
        log_info("route.registered", "route %s: registered for %u s", r->id, granted);
    report(r, false);
}

/* A 401/407: answer it, unless this attempt already answered a fresh challenge. */
static void challenged(struct rr_route *r, const osip_message_t *resp, unsigned expires)
{
    struct sip_auth_creds cr = {.username = r->user, .password = r->pass, .realm = r->realm};
    struct sip_auth_challenge ch;
    char why[64];
    snprintf(why, sizeof(why), "%d %s", resp->status_code,
             resp->reason_phrase ? resp->reason_phrase : "");
    if (!r->user || sip_auth_pick(resp, &cr, &ch) != 0) {
        fail(r, why);
        return;
    }
    if (r->auth_tries >= MAX_AUTH_PER_ATTEMPT || (r->auth_tries > 0 && !ch.stale)) {
        fail(r, why); /* our answer to its own challenge was refused */
        return;
    }
    r->auth_tries++;
    r->ch = ch;
    r->have_challenge = true;
    r->nc = 0;
    send_register(r, expires);
}

/* A 423 Interval Too Brief: ask again for its Min-Expires. */
static bool too_brief(struct rr_route *r, const osip_message_t *resp)
{
    unsigned min = route_register_min_expires(resp);
    if (r->unregistering || min <= r->asked || min > 86400 || r->tries_423++ >= MAX_423_PER_ATTEMPT)
        return false;
    r->asked = min;
    send_register(r, r->asked);
    return true;
}

static void answered(struct rr_route *r, const osip_message_t *resp, int64_t at_ms)
{
    int code = resp->status_code;
    unsigned expires = r->unregistering ? 0 : r->asked;
    if (code >= 200 && code < 300) {
        registered(r, resp, at_ms);
    } else if (code == 401 || code == 407) {
        challenged(r, resp, expires);
    } else if (code != 423 || !too_brief(r, resp)) {
        char why[64];
        snprintf(why, sizeof(why), "%d %s", code, resp->reason_phrase ? resp->reason_phrase : "");
        fail(r, why);
    }
}

/* Free the leaving records that are done (no REGISTER in flight). */
static void sweep_leaving(struct route_register *rr)
{
    for (struct rr_route **p = &rr->leaving; *p;) {
        struct rr_route *r = *p;
        if (r->tr) {
            p = &r->next_leaving;
            continue;
        }
        *p = r->next_leaving;
        route_register__route_free(r);
    }
}

static void tr_cb(void *owner, osip_transaction_t *tr, enum sip_tr_event ev,
                  const osip_message_t *resp, int64_t at_ms)
{
    struct rr_route *r = owner;
    struct route_register *rr = r->rr;
    if (ev == SIP_TR_PROVISIONAL || tr != r->tr)
        return;
    sip_stack_disown(tr);
    r->tr = NULL;
    if (ev == SIP_TR_FINAL)
        answered(r, resp, at_ms);
    else
        fail(r, ev == SIP_TR_TIMEOUT ? "timeout" : "transport failure");
    if (r->leaving && !r->tr)
        sweep_leaving(rr); /* r is freed */
    maybe_free(rr);        /* a drain may be complete */
}

/*
 * r no longer registers as it did (its lease is gone, register is off, or its address of
 * record, registrar or transport changed): the binding it holds is removed (REGISTER
 * Expires: 0 to the address it registered at), then r is freed. A record in the middle
 * of a lookup holds no usable address: its binding is left to expire.
 */
static void leave(struct rr_route *r)
{
    struct route_register *rr = r->rr;
    bool bound = r->state == RR_REGISTERED && !r->resolving && r->ip[0];
    route_register__drop(r); /* a refresh in flight gives way to the unregister */
    metric_set(r->gauge, 0);
    r->leaving = true;
    r->next_leaving = rr->leaving;
    rr->leaving = r;
    if (bound) {
        r->unregistering = true;
        r->auth_tries = 0;
        send_register(r, 0);
    }
    sweep_leaving(rr);
}

/*
 * The leases this node holds now: new routes register at once, changed ones register
 * anew (a new address of record or registrar after unregistering the old binding), lost
 * ones unregister and are dropped.
 */
static void sync_routes(struct route_register *rr, const struct pg_result *res)
{
    struct strmap *next = strmap_create();
    for (int i = 0; i < pg_ntuples(res); i++) {
        const char *id = pg_get(res, i, "route_id"), *uri = pg_get(res, i, "sip_uri");
        if (!id || !uri || strmap_get(next, id))
            continue;
        struct rr_route *r = strmap_del(rr->routes, id);
        if (r && !route_register__same_binding(r, res, i)) {
            log_info("route.register_moved", "route %s: its binding changed", r->id);
            leave(r);
            r = NULL;
        }
        if (r)
            route_register__resettle(r, res, i);
        else {
            r = route_register__route_new(rr, res, i);
            r->next_at_ms = vtime_now_ms();
        }
        strmap_put(next, r->id, r);
    }
    size_t n;
    struct rr_route **gone = all_routes(rr, &n);
    for (size_t i = 0; i < n; i++) {
        log_info("route.register_lease_lost", "route %s: no longer registered by this node",
                 gone[i]->id);
        leave(gone[i]);
    }
    free(gone);
    strmap_free(rr->routes);
    rr->routes = next;
}

static void leased_cb(int status, const struct pg_result *res, void *arg)
{
    struct route_register *rr = arg;
    rr->pending--;
    rr->querying = false;
    if (status && !rr->closing)
        log_warn("route.register_lease_failed", "registration round: %s", vp_err_message(status));
    else if (!rr->closing && !rr->draining)
        sync_routes(rr, res);
    maybe_free(rr);
}

static void lease_round(struct route_register *rr)
{
    if (rr->querying)
        return;
    char ms[24], lease[24];
    snprintf(ms, sizeof(ms), "%lld", (long long)vtime_now_ms());
    snprintf(lease, sizeof(lease), "%u", rr->cc->opts.route_register_round_ms * LEASE_ROUNDS);
    const char *params[] = {rr->cc->node_id, ms, lease};
    if (pg_exec(rr->cc->pg, "cc_route_reg_lease", 3, params, leased_cb, rr) == 0) {
        rr->querying = true;
        rr->pending++;
    }
}

static void tick_cb(uv_timer_t *t)
{
    struct route_register *rr = t->data;
    int64_t now = vtime_now_ms();
    if (rr->draining) {
        maybe_free(rr); /* the drain's deadline */
        return;
    }
    if (now >= rr->next_round_ms) {
        rr->next_round_ms = now + rr->cc->opts.route_register_round_ms;
        lease_round(rr);
    }
    size_t n;
    struct rr_route **all = all_routes(rr, &n);
    for (size_t i = 0; i < n; i++)
        if (!all[i]->tr && !all[i]->resolving && now >= all[i]->next_at_ms)
            attempt(all[i]);
    free(all);
}

int route_register_create(struct route_register **rp, struct cc *cc)
{
    struct route_register *rr = VP_NEW(rr);
    rr->cc = cc;
    rr->routes = strmap_create();
    pg_prepare(cc->pg, "cc_route_reg_lease",
               "SELECT * FROM cc_route_reg_lease($1, $2::bigint, $3::int)");
    pg_prepare(cc->pg, "cc_route_reg_state",
               "SELECT cc_route_reg_state($1, $2, $3, $4::bigint, $5, $6::boolean)");
    uv_timer_init(cc->loop, &rr->timer);
    rr->timer.data = rr;
    if (cc->opts.route_register_round_ms > 0)
        uv_timer_start(&rr->timer, tick_cb, TICK_MS, TICK_MS);
    *rp = rr;
    return 0;
}

/* Drop every leaving record (unregisters without answer: those bindings expire). */
static void free_leaving(struct route_register *rr)
{
    while (rr->leaving) {
        struct rr_route *r = rr->leaving;
        rr->leaving = r->next_leaving;
        route_register__route_free(r);
    }
}

/* Every unregister answered (or the deadline passed): leases given up, then done. */
static bool drain_complete(struct route_register *rr)
{
    size_t n;
    struct rr_route **all = all_routes(rr, &n);
    bool waiting = false;
    for (size_t i = 0; i < n; i++)
        waiting = waiting || all[i]->tr;
    for (struct rr_route *l = rr->leaving; l; l = l->next_leaving)
        waiting = waiting || l->tr;
    if (waiting && vtime_now_ms() < rr->drain_deadline_ms) {
        free(all);
        return false;
    }
    free_leaving(rr);
    for (size_t i = 0; i < n; i++) {
        route_register__drop(all[i]); /* an unregister without answer: the binding expires */
        all[i]->unregistering = false;
        report(all[i], true);
        strmap_del(rr->routes, all[i]->id);
        route_register__route_free(all[i]);
    }
    free(all);
    return true;
}

/*
 * The drain is done once every unregister is answered (or given up) and every report is
 * written: the service stops after done(), and stopping cancels the queries still queued
 * in the pool, which would leave the leases held and the bindings shown registered.
 */
static void maybe_free(struct route_register *rr)
{
    if (rr->draining && rr->drained && drain_complete(rr) &&
        (rr->pending == 0 || vtime_now_ms() >= rr->drain_deadline_ms + REPORT_WAIT_MS)) {
        void (*done)(void *) = rr->drained;
        rr->drained = NULL;
        done(rr->drained_arg); /* runs from a callback of the loop */
    }
    if (rr->closing && rr->timer_closed && rr->pending == 0) {
        strmap_free(rr->routes);
        free(rr);
    }
}

void route_register_drain(struct route_register *rr, void (*done)(void *arg), void *arg)
{
    if (!rr || rr->draining || rr->closing)
        return;
    rr->draining = true;
    rr->drained = done;
    rr->drained_arg = arg;
    rr->drain_deadline_ms = vtime_now_ms() + UNREGISTER_WAIT_MS;
    size_t n;
    struct rr_route **all = all_routes(rr, &n);
    for (size_t i = 0; i < n; i++) {
        struct rr_route *r = all[i];
        if (r->state != RR_REGISTERED)
            continue;
        route_register__drop(r); /* a refresh in flight gives way to the unregister */
        r->unregistering = true;
        r->auth_tries = 0;
        set_gauge(r);
        send_register(r, 0);
    }
    free(all);
    if (!uv_is_active((uv_handle_t *)&rr->timer))
        uv_timer_start(&rr->timer, tick_cb, TICK_MS, TICK_MS);
    /* done runs from the tick or an answer: never inside this call */
}

static void timer_closed_cb(uv_handle_t *h)
{
    struct route_register *rr = h->data;
    rr->timer_closed = true;
    maybe_free(rr);
}

void route_register_close(struct route_register *rr)
{
    if (!rr || rr->closing)
        return;
    rr->closing = true;
    rr->drained = NULL;
    size_t n;
    struct rr_route **all = all_routes(rr, &n);
    for (size_t i = 0; i < n; i++) {
        strmap_del(rr->routes, all[i]->id);
        route_register__route_free(all[i]);
    }
    free(all);
    free_leaving(rr);
    uv_close((uv_handle_t *)&rr->timer, timer_closed_cb);
}
