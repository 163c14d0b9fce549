/*
 * OPTIONS keep-alives to routes (see route_health.h). One timer drives the rounds; each
 * route has at most one ping in flight, which the next round counts as failed and drops
 * if it is still unanswered (libosip2's Timer F would wait 32 s). A route named by a host
 * name is resolved (uv_getaddrinfo) before each of its pings; a name that does not
 * resolve is a failed ping. A route record with a lookup in flight is freed by the
 * lookup's callback (gone marks it).
 */
#include "route_health.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cc_int.h"
#include "sip_msg.h"
#include "sip_stack.h"
#include "sip_ua.h"
#include "voepy/alloc.h"
#include "voepy/buf.h"
#include "voepy/err.h"
#include "voepy/id.h"
#include "voepy/log.h"
#include "voepy/metrics.h"
#include "voepy/pg.h"
#include "voepy/vtime.h"

struct rh_route {
    struct route_health *rh;
    char id[ID_MAX];
    char *ruri;
    enum sip_proto proto;
    char ip[SIP_IP_MAX];
    int port;
    bool pingable; /* an IP literal, or a name to resolve */
    char *name;    /* the host name to resolve before each ping, NULL for an IP literal */
    uv_getaddrinfo_t dns;
    bool resolving, gone;
    bool known; /* a ping has been judged */
    bool up;
    unsigned failures;
    osip_transaction_t *tr; /* the ping in flight */
    struct metric *gauge;
};

struct route_health {
    struct cc *cc;
    struct strmap *routes; /* route id -> struct rh_route */
    uv_timer_t timer;
    bool querying, closing, timer_closed;
    unsigned pending; /* queries and name lookups in flight */
};

static void tr_cb(void *owner, osip_transaction_t *tr, enum sip_tr_event ev,
                  const osip_message_t *resp, int64_t at_ms);

static void judge(struct rh_route *r, bool ok)
{
    bool was_up = !r->known || r->up;
    r->failures = ok ? 0 : r->failures + 1;
    r->up = r->failures < r->rh->cc->opts.route_down_after;
    r->known = true;
    metric_set(r->gauge, r->up ? 1 : 0);
    if (was_up != r->up)
        vlog_kv(r->up ? VLOG_INFO : VLOG_WARN, r->up ? "route.up" : "route.down",
                r->up ? "the route answers keep-alives again" : "the route stopped answering",
                "route", r->id, "uri", r->ruri, NULL);
}

static void drop_ping(struct rh_route *r)
{
    if (r->tr && r->rh->cc->ua)
        sip_stack_abort(sip_ua_stack(r->rh->cc->ua), r->tr);
    r->tr = NULL;
}

static void route_free(struct rh_route *r)
{
    drop_ping(r);
    if (r->resolving) {
        r->gone = true; /* resolved_cb frees it */
        return;
    }
    free(r->name);
    free(r->ruri);
    free(r);
}

static void maybe_free(struct route_health *rh);
static void send_ping(struct rh_route *r);

static void resolved_cb(uv_getaddrinfo_t *req, int status, struct addrinfo *res)
{
    struct rh_route *r = req->data;
    struct route_health *rh = r->rh;
    r->resolving = false;
    rh->pending--;
    sip_addr_resolved(status, res, r->ip, sizeof(r->ip));
    if (r->gone)
        route_free(r);
    else if (!r->ip[0])
        judge(r, false);
    else
        send_ping(r);
    maybe_free(rh);
}

/* A ping: at once for an IP literal, after a lookup for a name. */
static void ping(struct rh_route *r)
{
    struct route_health *rh = r->rh;
    if (!r->pingable || r->tr || r->resolving || rh->closing)
        return;
    if (!r->name) {
        send_ping(r);
        return;
    }
    const char *bind = rh->cc->opts.sip_host ? rh->cc->opts.sip_host : "";
    struct addrinfo hints = {.ai_family = strchr(bind, ':') ? AF_INET6 : AF_INET,
                             .ai_socktype = SOCK_DGRAM};
    r->dns.data = r;
    if (uv_getaddrinfo(rh->cc->loop, &r->dns, resolved_cb, r->name, NULL, &hints) != 0) {
        judge(r, false);
        return;
    }
    r->resolving = true;
    rh->pending++;
}

static void send_ping(struct rh_route *r)
{
    struct sip_ua *ua = r->rh->cc->ua;
    if (r->tr || !ua)
        return;
    char branch[SIP_TOKEN_MAX], tag[SIP_TOKEN_MAX], cid[SIP_CALL_ID_MAX];
    const char *host = sip_ua_advertised_host(ua);
    sip_msg_new_branch(branch, sizeof(branch));
    sip_msg_new_tag(tag, sizeof(tag));
    sip_msg_new_call_id(cid, sizeof(cid), host);
    bool v6 = strchr(host, ':') != NULL;
    char *from = vp_asprintf("sip:voepy@%s%s%s", v6 ? "[" : "", host, v6 ? "]" : "");
    struct sip_req_spec spec = {.method = "OPTIONS",
                                .ruri = r->ruri,
                                .via_proto = sip_proto_name(r->proto),
                                .via_host = host,
                                .via_port = sip_ua_port(ua),
                                .branch = branch,
                                .from_uri = from,
                                .from_tag = tag,
                                .to_uri = r->ruri,
                                .call_id = cid,
                                .cseq = 1};
    osip_message_t *m = NULL;
    int err = sip_msg_request(&m, &spec);
    free(from);
    if (!err)
        err = sip_stack_request(sip_ua_stack(ua), m, r->proto, r->ip, r->port, tr_cb, r, &r->tr);
    if (err) {
        r->tr = NULL;
        judge(r, false);
    }
}

static void tr_cb(void *owner, osip_transaction_t *tr, enum sip_tr_event ev,
                  const osip_message_t *resp, int64_t at_ms)
{
    struct rh_route *r = owner;
    (void)at_ms;
    if (ev == SIP_TR_PROVISIONAL || tr != r->tr)
        return;
    sip_stack_disown(tr);
    r->tr = NULL;
    judge(r, ev == SIP_TR_FINAL && resp->status_code < 500);
}

static struct rh_route *route_new(struct route_health *rh, const char *id, const char *uri,
                                  const char *transport)
{
    struct rh_route *r = VP_NEW(r);
    r->rh = rh;
    snprintf(r->id, sizeof(r->id), "%s", id);
    r->ruri = vp_strdup(uri);
    r->proto = SIP_UDP;
    if (transport)
        sip_proto_parse(transport, &r->proto);
    char host[256];
    unsigned char probe[16];
    if (sip_msg_uri_hostport(uri, host, sizeof(host), &r->port) != 0 || !*host) {
        log_warn("route.not_pinged", "route %s: %s is no SIP URI we can reach", id, uri);
    } else if (uv_inet_pton(AF_INET, host, probe) == 0 ||
               uv_inet_pton(AF_INET6, host, probe) == 0) {
        r->pingable = strlen(host) < sizeof(r->ip);
        if (r->pingable)
            memcpy(r->ip, host, strlen(host) + 1);
    } else {
        r->name = vp_strdup(host);
        r->pingable = true;
    }
    char labels[ID_MAX + 16];
    snprintf(labels, sizeof(labels), "route=\"%s\"", r->id);
    r->gauge =
        metrics_gauge("voepy_route_up",
                      "1 while the route answers OPTIONS keep-alives, 0 once it is down", labels);
    metric_set(r->gauge, 1);
    return r;
}

/* Whether r still pings what the route's row names. */
static bool same_target(const struct rh_route *r, const char *uri, const char *transport)
{
    enum sip_proto proto = SIP_UDP;
    if (transport)
        sip_proto_parse(transport, &proto);
    return strcmp(r->ruri, uri) == 0 && r->proto == proto;
}

/* The routes of the database now: new ones are pinged at once, gone ones dropped. */
static void sync_routes(struct route_health *rh, const struct pg_result *res)
{
    struct strmap *next = strmap_create();
    for (int i = 0; i < pg_ntuples(res); i++) {
        const char *id = pg_get(res, i, "route_id"), *uri = pg_get(res, i, "sip_uri");
        if (!id || !uri || strmap_get(next, id))
            continue;
        struct rh_route *r = strmap_del(rh->routes, id);
        if (r && !same_target(r, uri, pg_get(res, i, "transport"))) {
            route_free(r); /* changed (PATCH /admin/v1/routes/{id}): it starts afresh */
            r = NULL;
        }
        if (!r) {
            r = route_new(rh, id, uri, pg_get(res, i, "transport"));
            ping(r);
        }
        strmap_put(next, r->id, r);
    }
    size_t n = strmap_count(rh->routes);
    void **gone = vp_malloc((n ? n : 1) * sizeof(*gone));
    n = strmap_values(rh->routes, gone, n);
    for (size_t i = 0; i < n; i++)
        route_free(gone[i]);
    free(gone);
    strmap_free(rh->routes);
    rh->routes = next;
}

static void maybe_free(struct route_health *rh)
{
    if (rh->closing && rh->timer_closed && rh->pending == 0) {
        strmap_free(rh->routes);
        free(rh);
    }
}

static void queried_cb(int status, const struct pg_result *res, void *arg)
{
    struct route_health *rh = arg;
    rh->pending--;
    rh->querying = false;
    if (status && !rh->closing)
        log_warn("route.health_query_failed", "keep-alive round: %s", vp_err_message(status));
    else if (!rh->closing)
        sync_routes(rh, res);
    maybe_free(rh);
}

/* What this node saw, for cc_route_health: [{"route_id","up","failures"}, ...]. */
static char *report(struct route_health *rh)
{
    struct buf b = BUF_INIT;
    size_t n = strmap_count(rh->routes);
    struct rh_route **all = vp_malloc((n ? n : 1) * sizeof(*all));
    n = strmap_values(rh->routes, (void **)all, n);
    buf_putc(&b, '[');
    for (size_t i = 0, k = 0; i < n; i++) {
        if (!all[i]->known)
            continue;
        buf_printf(&b, "%s{\"route_id\":\"%s\",\"up\":%s,\"failures\":%u}", k++ ? "," : "",
                   all[i]->id, all[i]->up ? "true" : "false", all[i]->failures);
    }
    buf_putc(&b, ']');
    free(all);
    return buf_steal(&b, NULL);
}

static void query(struct route_health *rh)
{
    if (rh->querying)
        return;
    char ms[24], ttl[24];
    snprintf(ms, sizeof(ms), "%lld", (long long)vtime_now_ms());
    snprintf(ttl, sizeof(ttl), "%u", rh->cc->opts.route_options_ms * 3);
    char *rep = report(rh);
    const char *params[] = {rh->cc->node_id, ms, ttl, rep};
    if (pg_exec(rh->cc->pg, "cc_route_health", 4, params, queried_cb, rh) == 0) {
        rh->querying = true;
        rh->pending++;
    }
    free(rep);
}

static void round_cb(uv_timer_t *t)
{
    struct route_health *rh = t->data;
    size_t n = strmap_count(rh->routes);
    struct rh_route **all = vp_malloc((n ? n : 1) * sizeof(*all));
    n = strmap_values(rh->routes, (void **)all, n);
    for (size_t i = 0; i < n; i++) {
        if (all[i]->tr) { /* no answer in a whole round */
            drop_ping(all[i]);
            judge(all[i], false);
        }
    }
    query(rh);
    for (size_t i = 0; i < n; i++)
        ping(all[i]);
    free(all);
}

int route_health_create(struct route_health **rp, struct cc *cc)
{
    struct route_health *rh = VP_NEW(rh);
    rh->cc = cc;
    rh->routes = strmap_create();
    uv_timer_init(cc->loop, &rh->timer);
    rh->timer.data = rh;
    if (cc->opts.route_options_ms > 0) {
        uint64_t every = cc->opts.route_options_ms;
        uv_timer_start(&rh->timer, round_cb, every < 1000 ? every : 1000, every);
    }
    *rp = rh;
    return 0;
}

bool route_health_down(const struct route_health *rh, const char *route_id)
{
    const struct rh_route *r = rh && route_id ? strmap_get(rh->routes, route_id) : NULL;
    return r && r->known && !r->up;
}

unsigned route_health_timer_b_ms(const struct route_health *rh)
{
    return rh ? rh->cc->opts.sip_timer_b_ms : 0;
}

static void timer_closed_cb(uv_handle_t *h)
{
    struct route_health *rh = h->data;
    rh->timer_closed = true;
    maybe_free(rh);
}

void route_health_close(struct route_health *rh)
{
    if (!rh || rh->closing)
        return;
    rh->closing = true;
    size_t n = strmap_count(rh->routes);
    void **all = vp_malloc((n ? n : 1) * sizeof(*all));
    n = strmap_values(rh->routes, all, n);
    for (size_t i = 0; i < n; i++) {
        strmap_del(rh->routes, ((struct rh_route *)all[i])->id);
        route_free(all[i]);
    }
    free(all);
    uv_close((uv_handle_t *)&rh->timer, timer_closed_cb);
}
