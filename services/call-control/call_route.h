/*
 * call_route.h - the routes an outbound call may take: the one its claim chose, with its
 * digest credentials, and that route's failover (cc_claim_call_routed, proto/sql/
 * 0022_routes.sql).
 *
 * dial.c builds the set from the claim's row and hands it to the call (call_params.routes);
 * the call owns it from then on and frees it with itself (call.c). call_out.c dials the
 * primary and, when it fails before ringing, the failover once.
 */
#ifndef CC_CALL_ROUTE_H
#define CC_CALL_ROUTE_H

#include <stdbool.h>

#include "sip_auth.h"
#include "voepy/id.h"

struct pg_result;

struct call_route {
    char id[ID_MAX];
    char *sip_uri, *transport;
    char *auth_username, *auth_password, *auth_realm; /* NULL when the route has none */
};

struct call_routes {
    struct call_route primary;
    struct call_route failover; /* id "" when the route has none */
    unsigned timer_b_ms;        /* INVITE Timer B on routes with a failover; 0 = 64*T1 */
};

/* The set from row 0 of a cc_claim_call_routed result. Never NULL. */
struct call_routes *call_routes_from_claim(const struct pg_result *res);
/* Dial the failover first (the primary is down); the primary becomes the failover, so
 * it is still tried once should the failover fail before ringing too. */
void call_routes_swap(struct call_routes *r);
bool call_routes_has_failover(const struct call_routes *r);
/* The credentials of a route, as sip_session wants them (borrowed from rt). */
void call_route_creds(const struct call_route *rt, struct sip_auth_creds *cr);
void call_routes_free(struct call_routes *r);

#endif
