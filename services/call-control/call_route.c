/*
 * The routes of an outbound call, as its claim returned them. The password is wiped
 * before its memory is freed.
 */
#include "call_route.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "voepy/alloc.h"
#include "voepy/pg.h"

static char *dup_or_null(const char *s)
{
    return s && *s ? vp_strdup(s) : NULL;
}

static void read_route(struct call_route *rt, const struct pg_result *res, const char *prefix)
{
    char col[64];
#define COL(name) (snprintf(col, sizeof(col), "%s%s", prefix, name), pg_get(res, 0, col))
    const char *id = COL("route_id");
    snprintf(rt->id, sizeof(rt->id), "%s", id ? id : "");
    rt->sip_uri = dup_or_null(COL("sip_uri"));
    rt->transport = dup_or_null(COL("transport"));
    rt->auth_username = dup_or_null(COL("auth_username"));
    rt->auth_password = dup_or_null(COL("auth_password"));
    rt->auth_realm = dup_or_null(COL("auth_realm"));
#undef COL
}

struct call_routes *call_routes_from_claim(const struct pg_result *res)
{
    struct call_routes *r = VP_NEW(r);
    read_route(&r->primary, res, "");
    read_route(&r->failover, res, "failover_");
    if (!r->failover.sip_uri)
        r->failover.id[0] = '\0';
    return r;
}

bool call_routes_has_failover(const struct call_routes *r)
{
    return r && r->failover.id[0] && r->failover.sip_uri;
}

void call_routes_swap(struct call_routes *r)
{
    struct call_route t = r->primary;
    r->primary = r->failover;
    r->failover = t;
}

void call_route_creds(const struct call_route *rt, struct sip_auth_creds *cr)
{
    cr->username = rt->auth_username;
    cr->password = rt->auth_password;
    cr->realm = rt->auth_realm;
}

static void route_free(struct call_route *rt)
{
    free(rt->sip_uri);
    free(rt->transport);
    free(rt->auth_username);
    if (rt->auth_password)
        explicit_bzero(rt->auth_password, strlen(rt->auth_password));
    free(rt->auth_password);
    free(rt->auth_realm);
}

void call_routes_free(struct call_routes *r)
{
    if (!r)
        return;
    route_free(&r->primary);
    route_free(&r->failover);
    free(r);
}
