/*
 * call_dialog.h - a call's SIP dialog beyond answer and hangup: the far end's re-INVITEs
 * and UPDATEs (hold, unhold, a new media address or codec: passed to media-fork with
 * `connect`), its INFO and NOTIFY requests, the end of a session timer, and the verbs
 * carried by requests of ours inside the dialog: refer (call_refer.c) and send_dtmf's
 * SIP INFO fallback (sip_info.c).
 *
 * Every function runs on the loop, for a call of this node (call_int.h).
 */
#ifndef CC_CALL_DIALOG_H
#define CC_CALL_DIALOG_H

#include <jansson.h>
#include <stdbool.h>
#include <stddef.h>

#include "call_int.h"
#include "sip_dialog.h"

/* Hang the dialog hooks on the call's session (outbound, after connect) or uas (inbound,
 * at bind). */
void call_dialog_hook(struct call *c);
/* call__finish: actions in progress (refer, INFO digits) end with the call. */
void call_dialog__ending(struct call *c);
/* call__maybe_free: what the call still holds of the dialog goes. */
void call_dialog__free(struct call *c);
/* A request of ours in the call's dialog (sip_session_request / sip_uas_request). */
int call_dialog__request(struct call *c, const struct sip_dialog_req *r, sip_dialog_resp_cb *cb,
                         void *arg);

/* call_refer.c: the refer verb. Returns 0 when the call takes the action (it completes
 * the call_actions row), else VP_E_* with why (inbox.c fails the action). */
int call_refer_action(struct cc *cc, const char *call_id, const char *action_id,
                      const json_t *params, char *why, size_t n);
/* A NOTIFY in the call's dialog; returns the status to answer. */
int call_refer__notify(struct call *c, const osip_message_t *req);
void call_refer__ending(struct call *c);
void call_refer__free(struct call *c);

/* sip_info.c: DTMF as SIP INFO (application/dtmf-relay). */
/* send_dtmf for a far end without telephone-event; as call_refer_action. */
int call_info_send_dtmf(struct call *c, const char *action_id, const json_t *params, char *why,
                        size_t n);
/* An INFO in the call's dialog; returns the status to answer. */
int call_info__incoming(struct call *c, const osip_message_t *req);
void call_info__ending(struct call *c);
void call_info__free(struct call *c);

#endif
