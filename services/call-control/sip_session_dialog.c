/*
 * What an early or confirmed outbound dialog adds to the INVITE (sip_session_int.h): the
 * early dialog of an 18x and the PRACK of a reliable provisional in it (RFC 3262), the
 * INVITE again after a 422 (RFC 4028 6), the session timer (our refreshes by UPDATE or
 * re-INVITE, BYE when the far end's do not come), the far end's re-INVITEs and UPDATEs
 * (sip_reinvite.h; UPDATEs already in the early dialog) and our own requests in the
 * dialog.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "sip_ext.h"
#include "sip_msg.h"
#include "sip_session_int.h"
#include "voepy/alloc.h"
#include "voepy/err.h"
#include "voepy/log.h"
#include "voepy/vtime.h"

/* Our refresh (RFC 4028 7.4): UPDATE when the far end allows it, else a re-INVITE with
 * our offer again (unchanged, so the same o= version). */
static void refresh_cb(void *arg)
{
    struct sip_session *s = arg;
    osip_message_t *m = NULL;
    if (s->state != SESS_CONFIRMED || s->refresh_tr)
        return;
    const char *method = s->peer_update ? "UPDATE" : "INVITE";
    s->refresh_cseq = ++s->cseq;
    int err = sip_session__build_body(s, method, s->remote_target, NULL, s->refresh_cseq, true,
                                      "application/sdp", s->peer_update ? NULL : s->offer, &m);
    if (!err) {
        char v[48];
        snprintf(v, sizeof(v), "%u;refresher=uac", sip_timer_secs(s->stimer));
        osip_message_set_header(m, "Session-Expires", v);
        osip_message_set_header(m, "Supported", "timer");
        if (!s->peer_update)
            osip_message_set_header(m, "Contact", s->contact);
        err = sip_stack_request(sip_ua_stack(s->ua), m, s->proto, s->hop_ip, s->hop_port,
                                sip_session__tr_cb, s, &s->refresh_tr);
    }
    log_info("sip.session_refresh", "call %s: refreshing the session with %s%s", s->call_id, method,
             err ? " failed" : "");
    sip_reinvite_set_own_pending(s->reinv, err == 0);
}

/* The session ended without refresh (theirs never came, or ours failed): BYE. */
static void expire_cb(void *arg)
{
    struct sip_session *s = arg;
    if (s->state != SESS_CONFIRMED)
        return;
    log_warn("sip.session_expired", "call %s: the session timer expired: BYE", s->call_id);
    sip_session__send_bye(s);
    if (!s->detached && s->hooks.expired)
        s->hooks.expired(s->hooks.arg, vtime_now_ms());
}

void sip_session__send_refresh_ack(struct sip_session *s)
{
    if (!s->refresh_ack && sip_session__build(s, "ACK", s->remote_target, NULL, s->refresh_cseq,
                                              true, NULL, &s->refresh_ack))
        return;
    sip_stack_send_direct(sip_ua_stack(s->ua), s->refresh_ack, s->proto, s->hop_ip, s->hop_port);
}

void sip_session__on_refresh_answer(struct sip_session *s, enum sip_tr_event ev,
                                    const osip_message_t *resp)
{
    bool invite = strcmp(s->refresh_tr->orig_request->sip_method, "INVITE") == 0;
    sip_stack_disown(s->refresh_tr);
    s->refresh_tr = NULL;
    sip_reinvite_set_own_pending(s->reinv, false);
    if (ev == SIP_TR_FINAL && resp->status_code < 300) {
        if (invite) {
            if (s->refresh_ack)
                osip_message_free(s->refresh_ack);
            s->refresh_ack = NULL;
            sip_session__send_refresh_ack(s);
        }
        sip_timer_refreshed(s->stimer);
        return;
    }
    log_warn("sip.refresh_failed", "call %s: our session refresh got %d", s->call_id,
             ev == SIP_TR_FINAL ? resp->status_code : 408);
    expire_cb(s); /* RFC 4028 10: the session is over */
}

void sip_session__start_dialog(struct sip_session *s, const osip_message_t *resp)
{
    static const struct sip_timer_ops ops_template = {.refresh = refresh_cb, .expire = expire_cb};
    bool we_refresh;
    if (!s->reinv) /* else made by the early dialog (take_early_dialog) */
        s->reinv = sip_reinvite_create(s->ua);
    sip_reinvite_set_cb(s->reinv, s->hooks.offer, s->hooks.arg);
    s->peer_update = sip_ext_allows(resp, "UPDATE");
    unsigned secs = sip_ext_uac_timer(resp, &we_refresh);
    if (!secs)
        return;
    struct sip_timer_ops ops = ops_template;
    ops.arg = s;
    s->stimer = sip_timer_create(s->ua->loop, &ops);
    sip_timer_arm(s->stimer, secs, we_refresh);
    char v[48]; /* in our 2xx to their re-INVITE they are its UAC */
    snprintf(v, sizeof(v), "%u;refresher=%s", secs, we_refresh ? "uas" : "uac");
    sip_reinvite_set_header(s->reinv, "Session-Expires", v);
    log_info("sip.session_timer", "call %s: session timer %u s, refreshed by %s", s->call_id, secs,
             we_refresh ? "us" : "the far end");
}

/* RFC 3262: the PRACK of the reliable provisional resp (RSeq rseq), a request of its
 * early dialog: To tag, Contact as Request-URI and route set of the provisional, as any
 * request in a dialog (sip_session__take_dialog made it the session's dialog). */
static void send_prack(struct sip_session *s, uint32_t rseq)
{
    osip_message_t *m = NULL;
    char rack[48];
    if (s->prack_tr)
        return; /* the provisional comes again until our PRACK's answer */
    int err = sip_session__build_body(s, "PRACK", s->remote_target, NULL, ++s->cseq, true, NULL,
                                      NULL, &m);
    snprintf(rack, sizeof(rack), "%u %u INVITE", (unsigned)rseq, s->invite_cseq);
    if (!err)
        osip_message_set_header(m, "RAck", rack);
    if (!err)
        err = sip_stack_request(sip_ua_stack(s->ua), m, s->proto, s->hop_ip, s->hop_port,
                                sip_session__tr_cb, s, &s->prack_tr);
    if (!err)
        s->rseq = rseq;
    log_info("sip.prack", "call %s: PRACK for RSeq %u%s", s->call_id, (unsigned)rseq,
             err ? " could not be sent" : "");
}

/* The early dialog resp (an 18x with a To tag) makes: the far end's UPDATEs are answered
 * in it (RFC 3311 5.1) by the offer hook, as in the confirmed dialog. */
static void take_early_dialog(struct sip_session *s, const osip_message_t *resp)
{
    const char *tag = sip_msg_to_tag(resp);
    if (strcmp(tag, s->remote_tag) != 0)
        s->rseq = 0; /* another fork's early dialog: its own RSeq space */
    if (sip_session__take_dialog(s, resp) != 0)
        log_warn("sip.bad_early_target", "call %s: the %d names no usable next hop", s->call_id,
                 resp->status_code);
    if (!s->reinv) {
        s->reinv = sip_reinvite_create(s->ua);
        sip_reinvite_set_cb(s->reinv, s->hooks.offer, s->hooks.arg);
    }
}

/*
 * A provisional above 100 to our INVITE; true when the owner should hear of it. A 1xx with
 * a To tag (but 199, which ends an early dialog, RFC 6228) makes the early dialog; a
 * reliable one (Require: 100rel, RSeq) is PRACKed, and one whose RSeq we already PRACKed
 * in that dialog is a retransmission nobody hears of again (RFC 3262 4): its SDP is
 * old news after an UPDATE moved the media.
 */
bool sip_session__on_provisional(struct sip_session *s, const osip_message_t *resp)
{
    const char *tag = sip_msg_to_tag(resp);
    uint32_t rseq = sip_ext_rseq(resp);
    bool reliable = rseq && sip_ext_has(resp, "require", "100rel");
    bool same = tag && strcmp(tag, s->remote_tag) == 0;
    if (reliable && same && rseq <= s->rseq)
        return false;
    if (tag && resp->status_code != 199)
        take_early_dialog(s, resp);
    if (reliable && tag && strcmp(tag, s->remote_tag) == 0)
        send_prack(s, rseq);
    return true;
}

/* A 422 (RFC 4028 6): the INVITE again asking for the far end's Min-SE, once or twice. */
bool sip_session__answer_422(struct sip_session *s, const osip_message_t *resp)
{
    unsigned min_se = sip_ext_min_se(resp);
    if (s->detached || s->cancel_wanted || s->cancel_sent || !min_se || min_se <= s->se_secs ||
        ++s->se_retries > 2 || min_se > 86400)
        return false;
    s->se_secs = min_se;
    log_info("sip.session_interval_too_small", "call %s: 422, INVITE again with %u s", s->call_id,
             min_se);
    return sip_session__send_invite(s) == 0;
}

void sip_session__on_request_answer(struct sip_session *s, enum sip_tr_event ev,
                                    const osip_message_t *resp)
{
    sip_stack_disown(s->req_tr);
    s->req_tr = NULL;
    int status = ev == SIP_TR_FINAL ? resp->status_code : ev == SIP_TR_TIMEOUT ? 408 : 503;
    sip_dialog_resp_cb *cb = s->req_cb;
    s->req_cb = NULL;
    if (cb && !s->detached)
        cb(s->req_arg, status, ev == SIP_TR_FINAL ? resp : NULL);
}

/*
 * A re-INVITE or UPDATE is a target refresh (RFC 3261 12.2.2, RFC 3311 5.2): once we
 * answered it 2xx, our requests go to its Contact (a carrier moving the call to another
 * of its nodes). The route set stays, so the next hop moves only without one.
 */
static void retarget(struct sip_session *s, const osip_message_t *req)
{
    char *contact = sip_msg_contact_uri(req);
    if (contact && strcmp(contact, s->remote_target) != 0 &&
        sip_session__set_hop(s, s->nroutes ? s->routes[0] : contact) == 0) {
        free(s->remote_target);
        s->remote_target = vp_strdup(contact);
        log_info("sip.target_refresh", "call %s: the far end's target is now %s", s->call_id,
                 contact);
    }
    osip_free(contact);
}

/* A re-INVITE or UPDATE: an offer (or a refresh) once the dialog is confirmed; in the
 * early dialog only an UPDATE (RFC 3311 5.1: a re-INVITE needs a confirmed dialog). */
void sip_session__on_offer(struct sip_session *s, osip_transaction_t *tr, const osip_message_t *req,
                           const struct sip_rx *rx)
{
    bool early = s->state == SESS_PROCEEDING && strcmp(req->sip_method, "UPDATE") == 0;
    if ((s->state != SESS_CONFIRMED && !early) || !s->reinv || s->detached) {
        sip_ua__respond(s->ua, tr, req, s->state == SESS_CONFIRMED ? 481 : 491, s->local_tag);
        return;
    }
    struct sip_reinvite_dialog d = {
        .local_tag = s->local_tag, .contact = s->contact, .proto = s->proto};
    unsigned answered = sip_reinvite_count(s->reinv);
    sip_reinvite_on_request(s->reinv, tr, req, rx, &d);
    if (sip_reinvite_count(s->reinv) != answered)
        retarget(s, req);
    sip_timer_refreshed(s->stimer); /* a re-INVITE or UPDATE refreshes, whoever sends it */
}

void sip_session__on_ack(struct sip_session *s, const osip_message_t *ack)
{
    if (s->reinv)
        sip_reinvite_on_ack(s->reinv, ack);
}

void sip_session_set_hooks(struct sip_session *s, const struct sip_dialog_hooks *h)
{
    s->hooks = *h;
    if (s->reinv)
        sip_reinvite_set_cb(s->reinv, h->offer, h->arg);
}

int sip_session_request(struct sip_session *s, const struct sip_dialog_req *r,
                        sip_dialog_resp_cb *cb, void *arg)
{
    osip_message_t *m = NULL;
    if (s->state != SESS_CONFIRMED || s->detached)
        return VP_E_CALL_NOT_IN_REQUIRED_STATE;
    if (s->req_tr)
        return VP_E_CONFLICT;
    int err = sip_session__build_body(s, r->method, s->remote_target, NULL, ++s->cseq, true,
                                      r->content_type, r->body, &m);
    if (!err && sip_dialog_add_headers(m, r) != 0) {
        osip_message_free(m);
        err = VP_E_INVALID_PARAMETER;
    }
    if (!err)
        err = sip_stack_request(sip_ua_stack(s->ua), m, s->proto, s->hop_ip, s->hop_port,
                                sip_session__tr_cb, s, &s->req_tr);
    if (!err) {
        s->req_cb = cb;
        s->req_arg = arg;
    }
    return err;
}
