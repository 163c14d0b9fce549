/*
 * call.h - the calls this node carries, as the rest of the service sees them.
 *
 * A call is created when this node wins its claim (dial.c) and lives until its ending is
 * recorded in PostgreSQL and its media leg is released. Its state machine is in
 * call_state.h; call.c keeps the registry and does the bookkeeping of each move,
 * call_out.c drives an outbound call over SIP, media_client.c talks to media-fork,
 * store.c writes each move with one SQL function.
 */
#ifndef CC_CALL_H
#define CC_CALL_H

#include <jansson.h>
#include <stdbool.h>
#include <stdint.h>

struct call;
struct call_routes;
struct cc;

/* What the claim (cc_claim_call) returns for a call to dial. */
struct call_params {
    const char *id, *tenant_id, *leg_id;
    const char *from, *to;
    const char *route_id, *sip_uri, *transport;
    int timeout_secs, time_limit_secs; /* time_limit 0 = none */
    bool inbound;                      /* call_in.c: a call to one of our DIDs */
    struct call_routes *routes;        /* credentials and failover (call_route.h); the call takes
                                          it (freed with the call), NULL = none */
};

/* Start dialling a claimed call. Returns 0 or VP_E_* (the call is then failed). */
int call_out_start(struct cc *cc, const struct call_params *p);
/*
 * A hangup command for the call with this id: end_reason completed (answered) or canceled
 * (before), unless reason names another known one (balance_exhausted, time_limit,
 * system_failure); initiator api unless another known one is given. Returns false when
 * this node does not carry the call (yet).
 */
bool call_hangup_by_id(struct cc *cc, const char *call_id, const char *initiator,
                       const char *reason);
/*
 * Inbound calls (call_in.c). call_in_invite_cb takes every new INVITE (sip_ua_on_invite;
 * arg is the struct cc). The answer and reject commands return 0 when the call takes the
 * action (its call_actions row is then completed by the call), else VP_E_* with why set
 * to a sentence for the action's error: VP_E_NOT_FOUND (no such call here) or
 * VP_E_CONFLICT (not an inbound call waiting for an answer). params is the command's
 * "params" (may be NULL); cause is "user_busy" or "rejected".
 */
struct sip_uas;
struct sip_uas_offer;
void call_in_invite_cb(struct sip_uas *u, const struct sip_uas_offer *o, void *arg);
int call_in_answer(struct cc *cc, const char *call_id, const char *action_id, const json_t *params,
                   char *why, size_t n);
int call_in_reject(struct cc *cc, const char *call_id, const char *action_id, const char *cause,
                   char *why, size_t n);
/* A media-fork reply for one of our calls (inbox.c). */
void call_media_reply(struct cc *cc, const json_t *msg);
/* Hang up every live call (end_reason system_failure, initiator system). */
void call_hangup_all(struct cc *cc);
/* Stop: hang up best effort, record nothing more, free calls as their work completes. */
void call_abandon_all(struct cc *cc);
/* Whether this node carries the call. */
bool call_known(struct cc *cc, const char *call_id);

#endif
