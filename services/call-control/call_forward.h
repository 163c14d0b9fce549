/*
 * call_forward.h - forwarding numbers (relay): an inbound call to a DID with
 * relay_enabled is forwarded to the number's forward_to without any application.
 *
 * cc_inbound_create (proto/sql/0025_bridge.sql) writes the inbound call (call.started as
 * for any inbound call) and, in the same statement, its child: an outbound call to
 * forward_to (E.164 over the tenant's default route, or a sip: URI dialled directly).
 * Both legs go on one media-fork node. The child's 180/183 becomes our 180 to the caller
 * (both calls ringing); its answer makes us answer the caller (200 with our SDP) and, once
 * the caller's ACK makes the inbound call answered, the two legs are bridged (both calls
 * bridged, call.bridged). Its failure rejects the caller with a matching status (486 busy,
 * 480 no answer, 503 otherwise) and both calls end; after the answer either side's BYE ends
 * the other (call_bridge.c). The tenant's answer and reject do not apply to such a call.
 *
 * For the service's own files only; everything runs on the loop.
 */
#ifndef CC_CALL_FORWARD_H
#define CC_CALL_FORWARD_H

#include <stdbool.h>

struct call;
struct pg_result;

/*
 * call_in.c: the inbound call's row is written; res is cc_inbound_create's row. Returns
 * true when the number forwards (the call is then driven from here), false otherwise.
 */
bool call_forward_created(struct call *c, const struct pg_result *res);
/*
 * call_in.c, when the call's leg is allocated: whether the 200 of a forwarded call must
 * wait (its child has not answered). Starts the child's leg if it waited for this node.
 */
bool call_forward_hold(struct call *c);
/* call_bridge.c: the child moved (ringing, answered, ended) before it was bridged. */
void call_forward__child_moved(struct call *parent, struct call *child);
/* call_bridge.c: the forwarded (parent) call moved: answered -> bridge the two legs. */
void call_forward__moved(struct call *parent);

#endif
