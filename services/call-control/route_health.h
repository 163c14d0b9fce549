/*
 * route_health.h - the OPTIONS keep-alive of every route, as this node sees it.
 *
 * Every VOEPY_ROUTE_OPTIONS_MS (default 30000; 0: no keep-alive) the node sends an OPTIONS
 * to each route (its sip_uri and transport; an IP literal, a name is resolved each round).
 * A route answers with a final response below 500 (any such answer shows a live trunk:
 * many answer OPTIONS with 404 or 405) or it fails: a 5xx, a transport failure, or no
 * answer by the next round. VOEPY_ROUTE_DOWN_AFTER (default 3) failures in a row make it
 * down, one answer up again. Each round also reports what it saw to PostgreSQL
 * (cc_route_health, proto/sql/0022_routes.sql: GET /admin/v1/routes shows it) and reads
 * the route list for the next round. The gauge voepy_route_up{route} is 1 or 0 on /metrics.
 *
 * dial.c asks route_health_down() before dialling: a down route with a failover that is
 * not down gives its new calls to the failover.
 *
 * VOEPY_SIP_TIMER_B_MS (default 32000, RFC 3261's 64*T1) is read here too: how long an
 * outbound INVITE waits for any answer before its route counts as failed (failover).
 */
#ifndef CC_ROUTE_HEALTH_H
#define CC_ROUTE_HEALTH_H

#include <stdbool.h>

struct cc;
struct route_health;

/* Reads the variables above (VP_E_CONFIG when one is bad) and starts the rounds. */
int route_health_create(struct route_health **rp, struct cc *cc);
/* True only for a route this node has seen fail VOEPY_ROUTE_DOWN_AFTER times in a row. */
bool route_health_down(const struct route_health *rh, const char *route_id);
unsigned route_health_timer_b_ms(const struct route_health *rh);
/* Stop: pings in flight are dropped; the memory goes once queries and handles are done.
 * Call before the SIP user agent is closed. */
void route_health_close(struct route_health *rh);

#endif
