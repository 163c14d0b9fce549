/*
 * What a confirmed inbound dialog adds (sip_uas_int.h): the session timer our 200 gave
 * (RFC 4028: our refreshes by UPDATE or re-INVITE when we refresh, BYE when the caller's
 * do not come), the caller's re-INVITEs and UPDATEs (sip_reinvite.h), its INFO and
 * NOTIFY, and our own requests in the dialog.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "sip_ext.h"
#include "sip_msg.h"
#include "sip_uas_int.h"
#include "voepy/alloc.h"
#include "voepy/err.h"
#include "voepy/log.h"
#include "voepy/vtime.h"

/* The session ended without refresh: BYE, and the owner hears of it. */
static void expire_cb(void *arg)
{
    struct sip_uas *u = arg;
    if (u->state != UAS_CONFIRMED)
        return;
    log_warn("sip.session_expired", "inbound call %s: the session timer expired: BYE", u->call_id);
    sip_uas__send_bye(u);
    if (u->bound && !u->detached && u->hooks.expired)
        u->hooks.expired(u->hooks.arg, vtime_now_ms());
    sip_uas__maybe_release(u);
}

/* Our refresh: UPDATE when the caller allows it, else a re-INVITE with our SDP again. */
static void refresh_cb(void *arg)
{
    struct sip_uas *u = arg;
    osip_message_t *m = NULL;
    size_t len = 0;
    const char *sdp = u->ok ? sip_msg_body(u->ok, &len) : NULL;
    if (u->state != UAS_CONFIRMED || u->refresh_tr)
        return;
    const char *method = u->peer_update || !sdp ? "UPDATE" : "INVITE";
    u->refresh_cseq = ++u->cseq;
    char *body = strcmp(method, "INVITE") == 0 ? vp_strndup(sdp, len) : NULL;
    int err = sip_uas__build(u, method, u->refresh_cseq, "application/sdp", body, &m);
    free(body);
    if (!err) {
        char v[48];
        snprintf(v, sizeof(v), "%u;refresher=uac", u->se_secs);
        osip_message_set_header(m, "Session-Expires", v);
        err = sip_stack_request(sip_ua_stack(u->ua), m, u->proto, u->hop_ip, u->hop_port,
                                sip_uas__tr_cb, u, &u->refresh_tr);
    }
    log_info("sip.session_refresh", "inbound call %s: refreshing the session with %s%s", u->call_id,
             method, err ? " failed" : "");
    sip_reinvite_set_own_pending(u->reinv, err == 0);
}

void sip_uas__on_refresh_answer(struct sip_uas *u, enum sip_tr_event ev, const osip_message_t *resp)
{
    bool invite = strcmp(u->refresh_tr->orig_request->sip_method, "INVITE") == 0;
    sip_stack_disown(u->refresh_tr);
    u->refresh_tr = NULL;
    sip_reinvite_set_own_pending(u->reinv, false);
    if (ev != SIP_TR_FINAL || resp->status_code >= 300) {
        expire_cb(u);
        return;
    }
    if (invite) {
        if (u->refresh_ack)
            osip_message_free(u->refresh_ack);
        u->refresh_ack = NULL;
        if (sip_uas__build(u, "ACK", u->refresh_cseq, NULL, NULL, &u->refresh_ack) == 0)
            sip_stack_send_direct(sip_ua_stack(u->ua), u->refresh_ack, u->proto, u->hop_ip,
                                  u->hop_port);
    }
    sip_timer_refreshed(u->stimer);
}

/* The Session-Expires of our 2xx (RFC 4028 9), when the INVITE asked for a timer. */
void sip_uas__timer_headers(struct sip_uas *u, osip_message_t *resp)
{
    struct sip_session_expires se;
    if (sip_ext_session_expires(u->invite, &se) != 0 || !se.secs)
        return;
    bool caller_can = sip_ext_has(u->invite, "supported", "timer");
    u->se_secs = se.secs < SIP_SE_MIN_SE ? SIP_SE_MIN_SE : se.secs;
    u->we_refresh = se.refresher == SIP_REFRESHER_UAS || !caller_can;
    u->peer_update = sip_ext_allows(u->invite, "UPDATE");
    char v[48];
    snprintf(v, sizeof(v), "%u;refresher=%s", u->se_secs, u->we_refresh ? "uas" : "uac");
    osip_message_set_header(resp, "Session-Expires", v);
    if (caller_can)
        osip_message_set_header(resp, "Require", "timer");
}

/* The dialog is up (ACK): the caller's offers are taken, the session timer runs. */
void sip_uas__start_dialog(struct sip_uas *u)
{
    u->reinv = sip_reinvite_create(u->ua);
    sip_reinvite_set_cb(u->reinv, u->hooks.offer, u->hooks.arg);
    if (!u->se_secs)
        return;
    struct sip_timer_ops ops = {.refresh = refresh_cb, .expire = expire_cb, .arg = u};
    u->stimer = sip_timer_create(u->ua->loop, &ops);
    sip_timer_arm(u->stimer, u->se_secs, u->we_refresh);
    char v[48]; /* in our 2xx to their re-INVITE they are its UAC */
    snprintf(v, sizeof(v), "%u;refresher=%s", u->se_secs, u->we_refresh ? "uas" : "uac");
    sip_reinvite_set_header(u->reinv, "Session-Expires", v);
    log_info("sip.session_timer", "inbound call %s: session timer %u s, refreshed by %s",
             u->call_id, u->se_secs, u->we_refresh ? "us" : "the caller");
}

void sip_uas__on_request_answer(struct sip_uas *u, enum sip_tr_event ev, const osip_message_t *resp)
{
    sip_stack_disown(u->req_tr);
    u->req_tr = NULL;
    int status = ev == SIP_TR_FINAL ? resp->status_code : ev == SIP_TR_TIMEOUT ? 408 : 503;
    sip_dialog_resp_cb *cb = u->req_cb;
    u->req_cb = NULL;
    if (cb && !u->detached)
        cb(u->req_arg, status, ev == SIP_TR_FINAL ? resp : NULL);
}

/* A re-INVITE or UPDATE of the confirmed dialog (491 while our 2xx awaits its ACK). */
void sip_uas__on_offer(struct sip_uas *u, osip_transaction_t *tr, const osip_message_t *req,
                       const struct sip_rx *rx)
{
    if (u->state != UAS_CONFIRMED || !u->reinv || u->detached) {
        sip_ua__respond(u->ua, tr, req, u->state == UAS_ANSWERED ? 491 : 481, u->local_tag);
        return;
    }
    struct sip_reinvite_dialog d = {
        .local_tag = u->local_tag, .contact = u->contact, .proto = u->proto};
    sip_reinvite_on_request(u->reinv, tr, req, rx, &d);
    sip_timer_refreshed(u->stimer);
}

/* INFO, NOTIFY and the rest: the owner's answer, else 200 for INFO and 501. */
int sip_uas__other_status(struct sip_uas *u, const osip_message_t *req)
{
    if (u->state == UAS_CONFIRMED && u->bound && !u->detached && u->hooks.request)
        return u->hooks.request(u->hooks.arg, req);
    return strcmp(req->sip_method, "INFO") == 0 ? 200 : 501;
}

void sip_uas_set_hooks(struct sip_uas *u, const struct sip_dialog_hooks *h)
{
    u->hooks = *h;
    if (u->reinv)
        sip_reinvite_set_cb(u->reinv, h->offer, h->arg);
}

int sip_uas_request(struct sip_uas *u, const struct sip_dialog_req *r, sip_dialog_resp_cb *cb,
                    void *arg)
{
    osip_message_t *m = NULL;
    if (u->state != UAS_CONFIRMED || u->detached)
        return VP_E_CALL_NOT_IN_REQUIRED_STATE;
    if (u->req_tr)
        return VP_E_CONFLICT;
    int err = sip_uas__build(u, r->method, ++u->cseq, r->content_type, r->body, &m);
    if (!err && sip_dialog_add_headers(m, r) != 0) {
        osip_message_free(m);
        err = VP_E_INVALID_PARAMETER;
    }
    if (!err)
        err = sip_stack_request(sip_ua_stack(u->ua), m, u->proto, u->hop_ip, u->hop_port,
                                sip_uas__tr_cb, u, &u->req_tr);
    if (!err) {
        u->req_cb = cb;
        u->req_arg = arg;
    }
    return err;
}

void sip_uas__on_stray_response(struct sip_uas *u, const osip_message_t *resp)
{
    const char *method = sip_msg_cseq_method(resp);
    if (resp->status_code >= 200 && resp->status_code < 300 && method &&
        strcmp(method, "INVITE") == 0 && u->refresh_ack &&
        sip_msg_cseq_number(resp) == u->refresh_cseq)
        sip_stack_send_direct(sip_ua_stack(u->ua), u->refresh_ack, u->proto, u->hop_ip,
                              u->hop_port); /* our ACK was lost */
}
