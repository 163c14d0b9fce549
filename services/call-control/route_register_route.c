/*
 * The route records of trunk registration (route_register_int.h): made from a lease row,
 * compared with a later one, and freed. The password is wiped before its memory is
 * freed.
 */
#include "route_register_int.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cc_int.h"
#include "sip_msg.h"
#include "sip_ua.h"
#include "voepy/alloc.h"
#include "voepy/log.h"
#include "voepy/metrics.h"
#include "voepy/pg.h"
#include "voepy/vtime.h"

static char *dup_or_null(const char *s)
{
    return s && *s ? vp_strdup(s) : NULL;
}

void route_register__drop(struct rr_route *r)
{
    if (r->tr && r->rr->cc->ua)
        sip_stack_abort(sip_ua_stack(r->rr->cc->ua), r->tr);
    r->tr = NULL;
}

void route_register__route_free(struct rr_route *r)
{
    route_register__drop(r);
    if (r->resolving) {
        r->gone = true; /* resolved_cb frees it */
        return;
    }
    if (!r->leaving) /* a leaving record's route may have a new record with this gauge */
        metric_set(r->gauge, 0);
    free(r->name);
    free(r->ruri);
    free(r->aor);
    free(r->contact);
    free(r->user);
    if (r->pass)
        explicit_bzero(r->pass, strlen(r->pass));
    free(r->pass);
    free(r->realm);
    explicit_bzero(&r->ch, sizeof(r->ch));
    free(r);
}

/* Where REGISTERs go: an IP literal as it is, a host name once looked up (resolve). */
static void target_route(struct rr_route *r, const char *host)
{
    unsigned char probe[16];
    r->reachable = *host && strlen(host) < 254;
    if (!r->reachable)
        return;
    if (uv_inet_pton(AF_INET, host, probe) == 0 || uv_inet_pton(AF_INET6, host, probe) == 0)
        r->reachable = strlen(host) < sizeof(r->ip);
    else
        r->name = vp_strdup(host);
    if (r->reachable && !r->name)
        memcpy(r->ip, host, strlen(host) + 1);
}

/* Request-URI, AOR and Contact of a route: sip:host[:port], sip:user@host, ours. */
static void address_route(struct rr_route *r, const char *uri)
{
    struct sip_ua *ua = r->rr->cc->ua;
    char host[256];
    r->ruri = vp_strdup(uri);
    if (sip_msg_uri_hostport(uri, host, sizeof(host), &r->port) != 0)
        host[0] = '\0';
    target_route(r, host);
    if (!host[0])
        snprintf(host, sizeof(host), "invalid");
    bool v6 = strchr(host, ':') != NULL;
    r->aor = vp_asprintf("sip:%s@%s%s%s", r->user ? r->user : "voepy", v6 ? "[" : "", host,
                         v6 ? "]" : "");
    const char *adv = sip_ua_advertised_host(ua);
    bool av6 = strchr(adv, ':') != NULL;
    r->contact =
        vp_asprintf("sip:%s@%s%s%s:%d%s", r->user ? r->user : "voepy", av6 ? "[" : "", adv,
                    av6 ? "]" : "", sip_ua_port(ua), r->proto == SIP_TCP ? ";transport=tcp" : "");
}

struct rr_route *route_register__route_new(struct route_register *rr, const struct pg_result *res,
                                           int i)
{
    struct rr_route *r = VP_NEW(r);
    r->rr = rr;
    snprintf(r->id, sizeof(r->id), "%s", pg_get(res, i, "route_id"));
    r->user = dup_or_null(pg_get(res, i, "auth_username"));
    r->pass = dup_or_null(pg_get(res, i, "auth_password"));
    r->realm = dup_or_null(pg_get(res, i, "auth_realm"));
    const char *tp = pg_get(res, i, "transport"), *exp = pg_get(res, i, "register_expires_secs");
    r->proto = SIP_UDP;
    if (tp)
        sip_proto_parse(tp, &r->proto);
    r->asked = exp ? (unsigned)strtoul(exp, NULL, 10) : 3600;
    r->expires_cfg = r->asked;
    address_route(r, pg_get(res, i, "sip_uri"));
    sip_msg_new_call_id(r->call_id, sizeof(r->call_id), sip_ua_advertised_host(rr->cc->ua));
    sip_msg_new_tag(r->from_tag, sizeof(r->from_tag));
    char labels[ID_MAX + 16];
    snprintf(labels, sizeof(labels), "route=\"%s\"", r->id);
    r->gauge = metrics_gauge("voepy_route_registered",
                             "1 while this node holds a registration of the route with its "
                             "registrar, else 0",
                             labels);
    metric_set(r->gauge, 0);
    return r;
}

/* NULL and "" alike (dup_or_null keeps no empty strings). */
static bool same_str(const char *a, const char *b)
{
    return strcmp(a ? a : "", b ? b : "") == 0;
}

/* Whether r registers the same binding as row i says: address of record, registrar, transport. */
bool route_register__same_binding(const struct rr_route *r, const struct pg_result *res, int i)
{
    enum sip_proto proto = SIP_UDP;
    const char *tp = pg_get(res, i, "transport");
    if (tp)
        sip_proto_parse(tp, &proto);
    return strcmp(r->ruri, pg_get(res, i, "sip_uri")) == 0 && r->proto == proto &&
           same_str(r->user, pg_get(res, i, "auth_username"));
}

/*
 * The route's password, realm or expiry changed (PATCH /admin/v1/routes/{id}): the same
 * binding is registered again at once with them (a REGISTER in flight gives way), so
 * that a wrong new password shows as failed now rather than at the next refresh.
 */
void route_register__resettle(struct rr_route *r, const struct pg_result *res, int i)
{
    const char *pass = pg_get(res, i, "auth_password"), *realm = pg_get(res, i, "auth_realm");
    const char *exp = pg_get(res, i, "register_expires_secs");
    unsigned expires = exp ? (unsigned)strtoul(exp, NULL, 10) : 3600;
    if (same_str(r->pass, pass) && same_str(r->realm, realm) && r->expires_cfg == expires)
        return;
    if (r->pass)
        explicit_bzero(r->pass, strlen(r->pass));
    free(r->pass);
    free(r->realm);
    r->pass = dup_or_null(pass);
    r->realm = dup_or_null(realm);
    r->asked = r->expires_cfg = expires;
    r->have_challenge = false;
    r->failures = 0;
    route_register__drop(r);
    r->next_at_ms = vtime_now_ms();
    log_info("route.register_changed", "route %s: registering again with its new settings", r->id);
}
