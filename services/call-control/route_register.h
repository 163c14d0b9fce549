/*
 * route_register.h - trunk registration (RFC 3261 10): the routes created with
 * register: true are kept registered with their registrar by one call-control node.
 *
 * Which node: every VOEPY_ROUTE_REGISTER_ROUND_MS (default 5000) each node takes or
 * renews, for three rounds, the lease of every registering route that no live node holds
 * (cc_route_reg_lease, proto/sql/0038_route_registration.sql), and registers the routes
 * it holds. A node that dies lets its leases lapse and a survivor takes its routes.
 *
 * A REGISTER goes to the route's sip_uri (an IP address, or a host name looked up with
 * uv_getaddrinfo before each attempt: one that does not resolve is a failed attempt) with
 * To/From sip:<auth_username>@<route host>, Contact this node's advertised SIP address and
 * Expires: register_expires_secs. A 401/407 is answered once
 * per attempt with the route's digest credentials (sip_auth.h); later REGISTERs answer the
 * last challenge again with the next nonce count. A 423 is retried with its Min-Expires.
 * The binding is refreshed at half the expiry the registrar granted (the 200's Contact
 * expires parameter, else its Expires header); a failure is retried after
 * VOEPY_ROUTE_REGISTER_RETRY_MS (default 30000), doubling up to 8 times that. Every
 * outcome is written to route_registrations (GET /admin/v1/routes: "registration") and
 * to the gauge voepy_route_registered{route}.
 *
 * A route changed by PATCH /admin/v1/routes/{id} is seen at the next round: a new
 * password, realm or expiry registers the same binding again at once; a new address of
 * record or registrar (sip_uri, transport, auth_username) first unregisters the old
 * binding (Expires: 0), then registers the new one; a route that stops registering (or
 * whose lease this node lost) is unregistered and dropped.
 */
#ifndef CC_ROUTE_REGISTER_H
#define CC_ROUTE_REGISTER_H

#include "sip_osip.h"

struct cc;
struct route_register;

/* Starts the rounds (none when cc->opts.route_register_round_ms is 0). Returns 0. */
int route_register_create(struct route_register **rp, struct cc *cc);
/*
 * SIGTERM: take no more leases, unregister (Expires: 0) every route this node holds,
 * give its leases up (the reports written), then done(arg) runs (from the loop; at the
 * latest about 4 s later).
 */
void route_register_drain(struct route_register *rr, void (*done)(void *arg), void *arg);
/* Stop now: REGISTERs in flight are dropped; the memory goes once queries and the timer
 * are done. Call before the SIP user agent is closed. */
void route_register_close(struct route_register *rr);

/* route_register_msg.c: reading a registrar's answers (unit-tested). */

/*
 * The expiry in seconds the registrar granted in a 2xx: the expires parameter of the
 * Contact whose user, host and port are those of contact_uri, else the Expires header,
 * else asked. A value that is not a number (or above 2^31) counts as absent.
 */
unsigned route_register_granted_secs(const osip_message_t *resp, const char *contact_uri,
                                     unsigned asked);
/* The Min-Expires of a 423, or 0 when absent or not a number. */
unsigned route_register_min_expires(const osip_message_t *resp);

#endif
