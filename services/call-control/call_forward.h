/*
 * call_forward.h - forwarding numbers (relay): an inbound call to a DID with
 * relay_enabled is forwarded to the number's forward_to without any application.
 *
 * cc_inbound_create (proto/sql/0025_bridge.sql) writes the inbound call (call.started as
 * for any inbound call) and, in the same statement, its child: an outbound call to
 * forward_to (E.164 over the tenant's default route, or a sip: URI dialled directly).
 * Both legs go on one media-fork node. The child's 180/183 becomes our 180 to the caller
 * (both calls ringing). Early media: a 183 with SDP whose media the child's leg takes
 * (early_media) becomes our 183 with our SDP answer instead, as soon as the caller's leg is
 * allocated; that leg is connected to the caller's offer and bridged with the child's in
 * media-fork, so the caller hears the far network's ringback or announcements and the far
 * end hears the caller, while both calls stay ringing (no call.answered, no call.bridged
 * before the real answer). The child's answer makes us answer the caller (200 with our
 * SDP, the same answer as the 183's when there was one) and, once the caller's ACK makes
 * the inbound call answered, the two legs are bridged (both calls bridged, call.bridged
 * once; legs bridged early stay so). Its failure, with or without early media, rejects the
 * caller with a matching status (486 busy, 480 no answer, 503 otherwise) and both calls
 * end, their legs released (which undoes an early bridge), as when the caller cancels;
 * after the answer either side's BYE ends the other (call_bridge.c). The tenant's answer
 * and reject do not apply to such a call.
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
/*
 * call_out.c: the child's leg was connected to its 183's SDP (early_media set). For a
 * forwarding's child: the caller gets 183 and hears the child's early media (above).
 * Harmless for any other call and when called again. Call after the child's move to
 * ringing or before it: either order gives the caller one 183 (and no 180 when the
 * caller's leg was ready first).
 */
void call_forward__child_early(struct call *child);
/* call_bridge.c: the child moved (ringing, answered, ended) before it was bridged. */
void call_forward__child_moved(struct call *parent, struct call *child);
/* call_bridge.c: the forwarded (parent) call moved: answered -> bridge the two legs. */
void call_forward__moved(struct call *parent);

#endif
