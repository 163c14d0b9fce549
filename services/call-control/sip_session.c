/*
 * An outbound INVITE dialog. The session reacts to its three client transactions (the
 * INVITE's ICT, a CANCEL's NICT, a BYE's NICT) and to in-dialog requests; the owner hears
 * about progress until it terminates the session, after which the session finishes the
 * SIP side alone (CANCEL after the first provisional, ACK+BYE for a 2xx that crosses the
 * CANCEL) and frees itself. Memory is freed in the guard timer's close callback, so a
 * session may end inside any callback. What the confirmed dialog adds (PRACK, 422,
 * session timers, re-INVITEs, our own requests) is in sip_session_dialog.c.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "sip_msg.h"
#include "sip_session_int.h"
#include "voepy/alloc.h"
#include "voepy/err.h"
#include "voepy/log.h"
#include "voepy/vtime.h"

const char *sip_session_call_id(const struct sip_session *s)
{
    return s->call_id;
}

static void report(struct sip_session *s, enum sip_session_event ev, int status,
                   const osip_message_t *m, int64_t at_ms)
{
    if (s->detached)
        return;
    /* A failure without a message is one we detected ourselves (timeout, transport). */
    struct sip_session_info info = {
        .status = status, .at_ms = at_ms, .local = ev == SIP_SESS_FAILED && !m};
    if (m && sip_msg_has_sdp(m))
        info.sdp = sip_msg_body(m, &info.sdp_len);
    s->cb(s, ev, &info, s->arg);
}

/* A request of this dialog. to_tag/routes only inside it (early or confirmed). */
int sip_session__build_body(struct sip_session *s, const char *method, const char *ruri,
                            const char *branch, unsigned cseq, bool in_dialog, const char *ctype,
                            const char *body, osip_message_t **mp)
{
    char fresh[SIP_TOKEN_MAX];
    if (!branch) {
        sip_msg_new_branch(fresh, sizeof(fresh));
        branch = fresh;
    }
    struct sip_req_spec spec = {.method = method,
                                .ruri = ruri,
                                .via_proto = sip_proto_name(s->proto),
                                .via_host = sip_ua_advertised_host(s->ua),
                                .via_port = sip_ua_port(s->ua),
                                .branch = branch,
                                .from_uri = s->from_uri,
                                .from_tag = s->local_tag,
                                .to_uri = s->to_uri,
                                .to_tag = in_dialog ? s->remote_tag : NULL,
                                .call_id = s->call_id,
                                .cseq = cseq,
                                .contact = strcmp(method, "INVITE") == 0 ? s->contact : NULL,
                                .routes = in_dialog ? (const char *const *)s->routes : NULL,
                                .nroutes = in_dialog ? s->nroutes : 0,
                                .content_type = body ? ctype : NULL,
                                .body = body};
    int err = sip_msg_request(mp, &spec);
    /* RFC 3261 22.1, 13.2.2.4: the INVITE, and the ACK of its 2xx, carry the credentials. */
    bool authed = strcmp(method, "INVITE") == 0 || strcmp(method, "ACK") == 0;
    if (!err && authed && s->authz[0])
        osip_message_set_header(*mp, "Authorization", s->authz[0]);
    if (!err && authed && s->authz[1])
        osip_message_set_header(*mp, "Proxy-Authorization", s->authz[1]);
    return err;
}

int sip_session__build(struct sip_session *s, const char *method, const char *ruri,
                       const char *branch, unsigned cseq, bool in_dialog, const char *sdp,
                       osip_message_t **mp)
{
    int err = sip_session__build_body(s, method, ruri, branch, cseq, in_dialog, "application/sdp",
                                      sdp, mp);
    if (!err && s->se_secs && strcmp(method, "INVITE") == 0 && !in_dialog) {
        char v[16];
        snprintf(v, sizeof(v), "%u", s->se_secs); /* RFC 4028 6: after a 422 */
        osip_message_set_header(*mp, "Session-Expires", v);
        osip_message_set_header(*mp, "Min-SE", v);
    }
    return err;
}

static bool finished(const struct sip_session *s)
{
    return s->state == SESS_TERMINATED && !s->invite_tr && !s->cancel_tr && !s->bye_tr;
}

static void free_secret(char *p)
{
    if (p) {
        explicit_bzero(p, strlen(p));
        free(p);
    }
}

static void closed_cb(uv_handle_t *h)
{
    struct sip_session *s = h->data;
    free(s->offer);
    free(s->auth_user);
    free_secret(s->auth_pass);
    free(s->auth_realm);
    free(s->authz[0]);
    free(s->authz[1]);
    free(s->ruri);
    free(s->to_uri);
    free(s->from_uri);
    free(s->contact);
    free(s->remote_target);
    for (size_t i = 0; i < s->nroutes; i++)
        free(s->routes[i]);
    if (s->ack)
        osip_message_free(s->ack);
    if (s->refresh_ack)
        osip_message_free(s->refresh_ack);
    free(s);
}

/* Unhook from the UA and the stack now; the memory goes with the timer's close. */
static void release(struct sip_session *s)
{
    if (s->freeing)
        return;
    s->freeing = true;
    strmap_del(s->ua->sessions, s->call_id);
    sip_stack_disown(s->invite_tr);
    sip_stack_disown(s->cancel_tr);
    sip_stack_disown(s->bye_tr);
    s->invite_tr = s->cancel_tr = s->bye_tr = NULL;
    sip_stack_disown(s->req_tr);
    sip_stack_disown(s->prack_tr);
    sip_stack_disown(s->refresh_tr);
    s->req_tr = s->prack_tr = s->refresh_tr = NULL;
    sip_reinvite_free(s->reinv);
    s->reinv = NULL;
    sip_timer_free(s->stimer);
    s->stimer = NULL;
    uv_close((uv_handle_t *)&s->guard, closed_cb);
}

static void maybe_release(struct sip_session *s)
{
    if (s->detached && finished(s))
        release(s);
}

/* No final answer long after the CANCEL: forget the INVITE (RFC 3261 9.1). */
static void guard_cb(uv_timer_t *t)
{
    struct sip_session *s = t->data;
    if (!s->invite_tr)
        return;
    log_info("sip.invite_abandoned", "no final answer %d ms after CANCEL (call %s)",
             CANCEL_GUARD_MS, s->call_id);
    sip_stack_abort(sip_ua_stack(s->ua), s->invite_tr);
    s->invite_tr = NULL;
    s->state = SESS_TERMINATED;
    maybe_release(s);
}

static void send_cancel(struct sip_session *s)
{
    osip_message_t *cancel = NULL;
    if (s->cancel_sent || !s->invite_tr)
        return;
    s->cancel_sent = true;
    if (sip_session__build(s, "CANCEL", s->ruri, s->branch, s->invite_cseq, false, NULL, &cancel) ==
        0)
        sip_stack_request(sip_ua_stack(s->ua), cancel, s->proto, s->dest_ip, s->dest_port,
                          sip_session__tr_cb, s, &s->cancel_tr);
    uv_timer_start(&s->guard, guard_cb, CANCEL_GUARD_MS, 0);
}

void sip_session__send_bye(struct sip_session *s)
{
    osip_message_t *bye = NULL;
    sip_timer_arm(s->stimer, 0, false);
    if (s->bye_tr)
        return;
    int err = sip_session__build(s, "BYE", s->remote_target, NULL, ++s->cseq, true, NULL, &bye);
    if (!err)
        err = sip_stack_request(sip_ua_stack(s->ua), bye, s->proto, s->hop_ip, s->hop_port,
                                sip_session__tr_cb, s, &s->bye_tr);
    if (err)
        log_warn("sip.bye_failed", "cannot send BYE for call %s: %s", s->call_id,
                 vp_err_message(err));
    s->state = SESS_TERMINATED; /* the dialog ends with the BYE, whatever its answer */
}

/*
 * The dialog as resp defines it (RFC 3261 12.1.2): remote tag, target (its Contact), the
 * route set (its Record-Route reversed, loose routes: the first is the next hop) and the
 * next hop. A 1xx with a To tag makes the early dialog our PRACK and the far end's early
 * UPDATE live in; the 2xx sets it again (13.2.2.4: the route set is recomputed).
 */
int sip_session__take_dialog(struct sip_session *s, const osip_message_t *resp)
{
    const char *tag = sip_msg_to_tag(resp);
    snprintf(s->remote_tag, sizeof(s->remote_tag), "%s", tag ? tag : "");
    char *contact = sip_msg_contact_uri(resp);
    free(s->remote_target);
    s->remote_target = vp_strdup(contact ? contact : s->ruri);
    osip_free(contact);
    for (size_t i = 0; i < s->nroutes; i++)
        free(s->routes[i]);
    s->nroutes = 0;
    int n = osip_list_size(&resp->record_routes);
    for (int i = n - 1; i >= 0 && s->nroutes < MAX_ROUTES; i--) {
        char *rr = NULL;
        osip_record_route_to_str(osip_list_get(&resp->record_routes, i), &rr);
        if (rr)
            s->routes[s->nroutes++] = vp_strdup(rr);
        osip_free(rr);
    }
    return sip_session__set_hop(s, s->nroutes ? s->routes[0] : s->remote_target);
}

/* The next hop of the dialog's requests: uri's host and port (see sip_session_int.h). */
int sip_session__set_hop(struct sip_session *s, const char *uri)
{
    char host[256];
    int port;
    unsigned char probe[16];
    int err = sip_msg_uri_hostport(uri, host, sizeof(host), &port);
    if (err)
        return err;
    if (strlen(host) >= sizeof(s->hop_ip) ||
        (uv_inet_pton(AF_INET, host, probe) != 0 && uv_inet_pton(AF_INET6, host, probe) != 0)) {
        /* A name we would have to resolve: the trunk we sent the INVITE to is the best
         * guess for where the dialog's requests go (names in Contact are rare there). */
        log_debug("sip.named_target", "call %s: next hop %s is a name; using %s:%d", s->call_id,
                  host, s->dest_ip, s->dest_port);
        snprintf(s->hop_ip, sizeof(s->hop_ip), "%s", s->dest_ip);
        s->hop_port = s->dest_port;
        return 0;
    }
    memcpy(s->hop_ip, host, strlen(host) + 1);
    s->hop_port = port;
    return 0;
}

static void send_ack(struct sip_session *s)
{
    if (!s->ack && sip_session__build(s, "ACK", s->remote_target, NULL, s->invite_cseq, true, NULL,
                                      &s->ack) != 0)
        return;
    sip_stack_send_direct(sip_ua_stack(s->ua), s->ack, s->proto, s->hop_ip, s->hop_port);
}

static void on_2xx(struct sip_session *s, const osip_message_t *resp, int64_t at_ms)
{
    if (s->state == SESS_CONFIRMED || s->ack) {
        send_ack(s); /* the same 2xx again */
        return;
    }
    if (sip_session__take_dialog(s, resp) != 0) {
        log_warn("sip.bad_target", "2xx for call %s names no usable next hop", s->call_id);
        s->state = SESS_TERMINATED;
        report(s, SIP_SESS_FAILED, 502, NULL, at_ms);
        return;
    }
    send_ack(s);
    s->state = SESS_CONFIRMED;
    if (s->detached || s->cancel_wanted || s->cancel_sent) {
        sip_session__send_bye(s); /* a 2xx crossed our CANCEL: take the call down */
        return;
    }
    sip_session__start_dialog(s, resp);
    report(s, SIP_SESS_ANSWERED, resp->status_code, resp, at_ms);
}

/* The INVITE (first or again): a new branch and CSeq, same Call-ID and From tag. */
int sip_session__send_invite(struct sip_session *s)
{
    osip_message_t *invite = NULL;
    if (s->invite_cseq)
        sip_msg_new_branch(s->branch, sizeof(s->branch));
    s->invite_cseq = s->invite_cseq ? ++s->cseq : s->cseq;
    int err = sip_session__build(s, "INVITE", s->ruri, s->branch, s->invite_cseq, false, s->offer,
                                 &invite);
    if (!err)
        err = sip_stack_request(sip_ua_stack(s->ua), invite, s->proto, s->dest_ip, s->dest_port,
                                sip_session__tr_cb, s, &s->invite_tr);
    if (!err)
        sip_stack_set_timer_b(s->invite_tr, s->timer_b_ms);
    s->state = SESS_CALLING;
    return err;
}

/* A 401/407 to our INVITE: true when it is answered by a new INVITE with credentials. */
static bool answer_challenge(struct sip_session *s, const osip_message_t *resp)
{
    struct sip_auth_creds cr = {
        .username = s->auth_user, .password = s->auth_pass, .realm = s->auth_realm};
    struct sip_auth_challenge ch;
    if (!s->auth_user || s->detached || s->cancel_wanted || s->cancel_sent)
        return false;
    if (sip_auth_pick(resp, &cr, &ch) != 0) {
        log_warn("sip.auth_unanswerable", "call %s: no challenge in the %d we can answer",
                 s->call_id, resp->status_code);
        return false;
    }
    bool again = s->authz[ch.proxy] && strcmp(s->authz_realm[ch.proxy], ch.realm) == 0;
    if ((again && !ch.stale) || ++s->auth_tries > MAX_AUTH_TRIES) {
        log_warn("sip.auth_refused", "call %s: the far end refused our credentials for realm %s",
                 s->call_id, ch.realm);
        return false;
    }
    char *h = sip_auth_header(&ch, &cr, "INVITE", s->ruri, 1, NULL);
    if (!h)
        return false;
    free(s->authz[ch.proxy]);
    s->authz[ch.proxy] = h;
    snprintf(s->authz_realm[ch.proxy], sizeof(s->authz_realm[ch.proxy]), "%s", ch.realm);
    log_info("sip.auth_answered", "call %s: answering a %d (%s, realm %s)", s->call_id,
             resp->status_code, ch.alg == SIP_AUTH_SHA256 ? "SHA-256" : "MD5", ch.realm);
    return sip_session__send_invite(s) == 0;
}

static void on_invite_event(struct sip_session *s, enum sip_tr_event ev, const osip_message_t *resp,
                            int64_t at_ms)
{
    if (ev == SIP_TR_PROVISIONAL) {
        if (s->state == SESS_CALLING)
            s->state = SESS_PROCEEDING;
        if (s->cancel_wanted)
            send_cancel(s);
        else if (resp->status_code > 100 && sip_session__on_provisional(s, resp))
            report(s, SIP_SESS_PROGRESS, resp->status_code, resp, at_ms);
        return;
    }
    sip_stack_disown(s->invite_tr);
    s->invite_tr = NULL;
    uv_timer_stop(&s->guard);
    if (ev == SIP_TR_FINAL && resp->status_code < 300) {
        on_2xx(s, resp, at_ms);
        return;
    }
    if (ev == SIP_TR_FINAL && (resp->status_code == 401 || resp->status_code == 407) &&
        answer_challenge(s, resp))
        return;
    if (ev == SIP_TR_FINAL && resp->status_code == 422 && sip_session__answer_422(s, resp))
        return;
    s->state = SESS_TERMINATED;
    int status = ev == SIP_TR_FINAL ? resp->status_code : ev == SIP_TR_TIMEOUT ? 408 : 503;
    report(s, SIP_SESS_FAILED, status, ev == SIP_TR_FINAL ? resp : NULL, at_ms);
}

void sip_session__tr_cb(void *owner, osip_transaction_t *tr, enum sip_tr_event ev,
                        const osip_message_t *resp, int64_t at_ms)
{
    struct sip_session *s = owner;
    if (tr == s->invite_tr) {
        on_invite_event(s, ev, resp, at_ms);
    } else if (ev != SIP_TR_PROVISIONAL && tr == s->cancel_tr) {
        sip_stack_disown(tr);
        s->cancel_tr = NULL;
    } else if (ev != SIP_TR_PROVISIONAL && tr == s->bye_tr) {
        sip_stack_disown(tr);
        s->bye_tr = NULL;
        s->state = SESS_TERMINATED;
    } else if (ev != SIP_TR_PROVISIONAL && tr == s->prack_tr) {
        sip_stack_disown(tr);
        s->prack_tr = NULL;
    } else if (ev != SIP_TR_PROVISIONAL && tr == s->refresh_tr) {
        sip_session__on_refresh_answer(s, ev, resp);
    } else if (ev != SIP_TR_PROVISIONAL && tr == s->req_tr) {
        sip_session__on_request_answer(s, ev, resp);
    }
    maybe_release(s);
}

static int init_uris(struct sip_session *s, const struct sip_connect_opts *o)
{
    const char *host = sip_ua_advertised_host(s->ua);
    int port = sip_ua_port(s->ua);
    bool v6 = strchr(host, ':') != NULL;
    s->ruri = vp_strdup(o->ruri);
    s->to_uri = vp_strdup(o->to_uri);
    s->from_uri = vp_asprintf("sip:%s@%s%s%s", o->from_user, v6 ? "[" : "", host, v6 ? "]" : "");
    s->contact = vp_asprintf("sip:voepy@%s%s%s:%d%s", v6 ? "[" : "", host, v6 ? "]" : "", port,
                             o->proto == SIP_TCP ? ";transport=tcp" : "");
    s->remote_target = vp_strdup(o->ruri);
    s->offer = vp_strdup(o->sdp);
    if (o->auth && o->auth->username && o->auth->password) {
        s->auth_user = vp_strdup(o->auth->username);
        s->auth_pass = vp_strdup(o->auth->password);
        s->auth_realm = o->auth->realm && *o->auth->realm ? vp_strdup(o->auth->realm) : NULL;
    }
    s->timer_b_ms = o->timer_b_ms;
    snprintf(s->dest_ip, sizeof(s->dest_ip), "%s", o->dest_ip);
    s->dest_port = o->dest_port;
    snprintf(s->hop_ip, sizeof(s->hop_ip), "%s", o->dest_ip);
    s->hop_port = o->dest_port;
    return 0;
}

int sip_session_connect(struct sip_session **sp, struct sip_ua *ua,
                        const struct sip_connect_opts *o, sip_session_cb *cb, void *arg)
{
    if (ua->closing)
        return VP_E_CLOSED;
    if (!o->ruri || !o->to_uri || !o->from_user || !o->dest_ip || !o->sdp)
        return VP_E_INVALID_PARAMETER;
    struct sip_session *s = VP_NEW(s);
    s->ua = ua;
    s->cb = cb;
    s->arg = arg;
    s->proto = o->proto;
    s->cseq = 1;
    sip_msg_new_call_id(s->call_id, sizeof(s->call_id), sip_ua_advertised_host(ua));
    sip_msg_new_tag(s->local_tag, sizeof(s->local_tag));
    sip_msg_new_branch(s->branch, sizeof(s->branch));
    init_uris(s, o);
    uv_timer_init(ua->loop, &s->guard);
    s->guard.data = s;
    int err = sip_session__send_invite(s);
    if (!err)
        err = strmap_put(ua->sessions, s->call_id, s);
    if (err) {
        s->detached = true;
        s->state = SESS_TERMINATED;
        release(s);
        return err;
    }
    *sp = s;
    return 0;
}

void sip_session_terminate(struct sip_session *s)
{
    s->detached = true;
    switch (s->state) {
    case SESS_CALLING:
        s->cancel_wanted = true; /* RFC 3261 9.1: no CANCEL before a provisional */
        break;
    case SESS_PROCEEDING:
        send_cancel(s);
        break;
    case SESS_CONFIRMED:
        sip_session__send_bye(s);
        break;
    case SESS_TERMINATED:
        break;
    }
    maybe_release(s);
}

bool sip_session__matches(const struct sip_session *s, const osip_message_t *req)
{
    const char *ft = sip_msg_from_tag(req), *tt = sip_msg_to_tag(req);
    if (!ft || !tt || !s->remote_tag[0])
        return false;
    /* Either orientation: SIPp's stock scenarios (and some UAs) send BYE with From and
     * To as they were in our INVITE instead of swapped. */
    return (strcmp(ft, s->remote_tag) == 0 && strcmp(tt, s->local_tag) == 0) ||
           (strcmp(ft, s->local_tag) == 0 && strcmp(tt, s->remote_tag) == 0);
}

void sip_session__on_request(struct sip_session *s, osip_transaction_t *tr,
                             const osip_message_t *req, const struct sip_rx *rx)
{
    const char *m = req->sip_method;
    if (strcmp(m, "BYE") == 0 && (s->state == SESS_CALLING || s->state == SESS_PROCEEDING)) {
        /* RFC 3261 15: the callee may not BYE an early dialog; it answers the INVITE. */
        sip_ua__respond(s->ua, tr, req, 481, s->local_tag);
    } else if (strcmp(m, "BYE") == 0) {
        sip_ua__respond(s->ua, tr, req, 200, s->local_tag);
        bool was_up = s->state == SESS_CONFIRMED;
        s->state = SESS_TERMINATED;
        if (was_up)
            report(s, SIP_SESS_CLOSED, 0, NULL, rx->at_ms);
        maybe_release(s);
    } else if (strcmp(m, "INVITE") == 0 || strcmp(m, "UPDATE") == 0) {
        sip_session__on_offer(s, tr, req, rx);
    } else {
        int status = s->hooks.request && !s->detached ? s->hooks.request(s->hooks.arg, req)
                     : strcmp(m, "INFO") == 0         ? 200
                                                      : 501;
        sip_ua__respond(s->ua, tr, req, status, s->local_tag);
    }
}

void sip_session__on_stray_response(struct sip_session *s, const osip_message_t *resp,
                                    const struct sip_rx *rx)
{
    (void)rx;
    const char *method = sip_msg_cseq_method(resp);
    if (resp->status_code < 200 || resp->status_code >= 300 || !method ||
        strcmp(method, "INVITE") != 0 || !s->ack)
        return;
    const char *tag = sip_msg_to_tag(resp);
    if (tag && strcmp(tag, s->remote_tag) != 0) {
        log_warn("sip.forked_2xx", "ignored a 2xx from another fork of call %s", s->call_id);
        return;
    }
    if (s->refresh_ack && sip_msg_cseq_number(resp) == s->refresh_cseq)
        sip_session__send_refresh_ack(s); /* the 2xx of our refreshing re-INVITE, again */
    else
        send_ack(s); /* our ACK was lost: the far end retransmits its 2xx */
}

void sip_session__on_transport_error(struct sip_session *s, enum sip_proto proto, const char *ip,
                                     int port)
{
    bool to_dest = port == s->dest_port && strcmp(ip, s->dest_ip) == 0;
    bool to_hop = port == s->hop_port && strcmp(ip, s->hop_ip) == 0;
    if (proto != s->proto || (!to_dest && !to_hop) || s->freeing)
        return;
    struct sip_stack *st = sip_ua_stack(s->ua);
    if (s->invite_tr) {
        sip_stack_abort(st, s->invite_tr);
        s->invite_tr = NULL;
        s->state = SESS_TERMINATED;
        report(s, SIP_SESS_FAILED, 503, NULL, vtime_now_ms());
    }
    if (s->cancel_tr)
        sip_stack_abort(st, s->cancel_tr);
    if (s->bye_tr)
        sip_stack_abort(st, s->bye_tr);
    s->cancel_tr = s->bye_tr = NULL;
    if (s->state == SESS_CONFIRMED && s->detached)
        s->state = SESS_TERMINATED;
    maybe_release(s);
}

void sip_session__destroy(struct sip_session *s)
{
    s->detached = true;
    if (s->state == SESS_PROCEEDING)
        send_cancel(s);
    else if (s->state == SESS_CONFIRMED)
        sip_session__send_bye(s);
    s->state = SESS_TERMINATED;
    release(s);
}
