/*
 * call_bridge.h - transfer and bridge: two calls of this node joined on one media-fork
 * node (proto/streams.md, docs/api.md).
 *
 *   transfer {to, from?, timeout_secs?}  dials a child call (cc_transfer_create in
 *       proto/sql/0025_bridge.sql: an outbound row of the tenant with
 *       options.parent_call_id, checked by the outbound rules, rated like any call) whose
 *       leg is allocated on the parent's media-fork node; its answer bridges the two legs;
 *       its failure (busy, no answer in timeout_secs, any other final failure) fails the
 *       action with the reason and leaves the parent as it was.
 *   bridge {leg_id}  joins this call's leg with the leg of another live call of the tenant
 *       carried by this node on the same media-fork node; anything else fails the action
 *       with "bridge_not_possible: <why>".
 *
 * Once media-fork answers `bridged`, both calls become bridged (call.bridged on each,
 * cc_calls_bridged) and the action is done. When either side ends, the other is ended
 * too (completed; initiator api when the first was hung up by the API, else system). A
 * call bridged again, or transferred, hangs up the peer it had (it would be left
 * bridged to nobody).
 *
 * For the service's own files only; everything runs on the loop.
 */
#ifndef CC_CALL_BRIDGE_H
#define CC_CALL_BRIDGE_H

#include <jansson.h>
#include <stdbool.h>
#include <stddef.h>

struct call;
struct cc;

/* Whether op is transfer or bridge (see INBOX_VERBS). */
bool call_bridge_is_verb(const char *op);
/*
 * Carry out a transfer or bridge action of call_id. Returns 0 when the call takes it (its
 * call_actions row is then completed by the call: done when bridged, failed with the
 * reason), else VP_E_* with why set for the action's error: VP_E_NOT_FOUND (not live
 * here), VP_E_CONFLICT (not answered or bridged, another transfer/bridge in progress,
 * bridge_not_possible), VP_E_INVALID_PARAMETER (params). params is the command's "params".
 */
int call_bridge_action(struct cc *cc, const char *op, const char *call_id, const char *action_id,
                       const json_t *params, char *why, size_t n);
/* Whether op is one of media-fork's bridge replies (bridged, unbridged). */
bool call_bridge_is_reply(const char *op);
/* media-fork's bridged / unbridged (inbox.c); m is the whole message. */
void call_bridge_reply(struct cc *cc, const json_t *m);

/* Hooks of call.c, media_client.c and call_forward.c (call_int.h's struct call fields). */
struct call_params;
/*
 * Create and dial a child of p (a transfer's, or a forwarding's when p->relay): its leg on
 * p's media node; action ("" none) is the transfer's, failed when the child cannot be
 * dialled. Returns the child, or NULL (then it is failed, or was never created).
 */
struct call *call_bridge__dial_child(struct call *p, const struct call_params *cp,
                                     const char *action);
/* c moved (to ringing, answered, or its end, after call__finish set its reason). */
void call_bridge__moved(struct call *c);
/*
 * Ask a's media node to bridge a's leg with b's (the peers they had are hung up); action
 * (of a, or of a's parent for a transfer; "" none) completes when media-fork says
 * bridged. Returns 0 or VP_E_* (not sent; nothing changed).
 */
int call_bridge__join(struct call *a, struct call *b, const char *action);
/*
 * Ask a's media node to bridge a's leg with b's before either call is answered (a
 * forwarding's early media, call_forward.c): nothing is linked (peer_id), no state moves,
 * no action completes; media-fork's bridged is only logged, its refusal only warned about.
 * The later call_bridge__join of the same pair is the real bridge (media-fork leaves
 * legs already bridged together as they are); the legs' release unbridges them. Returns 0
 * or VP_E_* (not sent).
 */
int call_bridge__early(struct call *a, struct call *b);
/* Whether a media.failed's request is the bridge's. */
bool call_bridge_is_request(const char *request);
/* media.failed for the bridge command of c's leg. */
void call_bridge__media_failed(struct call *c, const json_t *m);

#endif
