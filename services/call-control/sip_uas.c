/*
 * An inbound INVITE dialog, UAS side. The INVITE's server transaction (IST) carries the
 * provisional and non-2xx final answers and absorbs retransmitted INVITEs and the ACK of
 * a non-2xx; once a 2xx is sent the IST is over (RFC 3261 17.2.1) and the session itself
 * retransmits the 2xx until the ACK (which arrives outside any transaction) or 64*T1.
 * The session's BYE is a client transaction of its own. Memory is freed in the timer's
 * close callback, so a session may end inside any callback. What the confirmed dialog
 * adds (session timers, re-INVITEs, INFO/NOTIFY, our own requests) is in sip_uas_dialog.c.
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

const char *sip_uas_call_id(const struct sip_uas *u)
{
    return u->call_id;
}

static void report(struct sip_uas *u, enum sip_uas_event ev, int64_t at_ms)
{
    if (u->bound && !u->detached)
        u->cb(u, ev, at_ms, u->arg);
}

static const char *via_branch(const osip_message_t *m)
{
    osip_via_t *via = osip_list_get(&m->vias, 0);
    osip_generic_param_t *b = NULL;
    if (via)
        osip_via_param_get_byname(via, "branch", &b);
    return b && b->gvalue ? b->gvalue : NULL;
}

static bool ip_literal(const char *s)
{
    unsigned char probe[16];
    return uv_inet_pton(AF_INET, s, probe) == 0 || uv_inet_pton(AF_INET6, s, probe) == 0;
}

/*
 * Where responses to the INVITE go, computed as libosip2 does for the IST's own sends
 * (RFC 3261 18.2.2, RFC 3581): the top Via's maddr, else received (set on arrival), else
 * its host; rport, else its port, else 5060. False when that is no address we can send to:
 * the IST's first send would fail and osip would end the transaction under us, so such
 * an INVITE is refused at once (a final answer, after which we hold no IST).
 */
static bool reply_dest(struct sip_uas *u, const osip_message_t *req)
{
    osip_via_t *via = osip_list_get(&req->vias, 0);
    osip_generic_param_t *maddr = NULL, *rec = NULL, *rport = NULL;
    osip_via_param_get_byname(via, "maddr", &maddr);
    osip_via_param_get_byname(via, "received", &rec);
    osip_via_param_get_byname(via, "rport", &rport);
    const char *host = maddr && maddr->gvalue ? maddr->gvalue
                       : rec && rec->gvalue   ? rec->gvalue
                                              : via->host;
    const char *port = rport && rport->gvalue ? rport->gvalue : via->port;
    char *end = NULL;
    long p = port ? strtol(port, &end, 10) : 5060;
    if (!host || strlen(host) >= sizeof(u->reply_ip) || !ip_literal(host) || p <= 0 || p > 65535 ||
        (port && *end))
        return false;
    memcpy(u->reply_ip, host, strlen(host) + 1);
    u->reply_port = (int)p;
    return true;
}

static char *uri_text(osip_uri_t *url)
{
    char *s = NULL;
    if (!url || osip_uri_to_str(url, &s) != 0)
        return vp_strdup("sip:anonymous@anonymous.invalid");
    char *out = vp_strdup(s);
    osip_free(s);
    return out;
}

/* The next hop of our in-dialog requests: the first Record-Route, else the caller's
 * Contact, when it is an IP literal; else where the INVITE came from. */
static void dialog_hop(struct sip_uas *u, const struct sip_rx *rx)
{
    const char *hop = u->nroutes ? u->routes[0] : u->remote_target;
    char host[256];
    int port;
    snprintf(u->hop_ip, sizeof(u->hop_ip), "%s", rx->src_ip);
    u->hop_port = rx->src_port;
    if (sip_msg_uri_hostport(hop, host, sizeof(host), &port) != 0 ||
        strlen(host) >= sizeof(u->hop_ip) || !ip_literal(host))
        return;
    memcpy(u->hop_ip, host, strlen(host) + 1);
    u->hop_port = port;
}

/* The dialog as the INVITE defines it (RFC 3261 12.1.1). */
static void init_dialog(struct sip_uas *u, const osip_message_t *req, const struct sip_rx *rx)
{
    const char *tag = sip_msg_from_tag(req), *branch = via_branch(req);
    sip_msg_call_id(req, u->call_id, sizeof(u->call_id));
    sip_msg_new_tag(u->local_tag, sizeof(u->local_tag));
    snprintf(u->remote_tag, sizeof(u->remote_tag), "%s", tag ? tag : "");
    snprintf(u->branch, sizeof(u->branch), "%s", branch ? branch : "");
    u->invite_cseq = sip_msg_cseq_number(req);
    u->local_uri = uri_text(req->to->url);
    u->remote_uri = uri_text(req->from->url);
    char *contact = sip_msg_contact_uri(req);
    u->remote_target = vp_strdup(contact ? contact : u->remote_uri);
    osip_free(contact);
    int n = osip_list_size(&req->record_routes);
    for (int i = 0; i < n && u->nroutes < MAX_ROUTES; i++) {
        char *rr = NULL;
        osip_record_route_to_str(osip_list_get(&req->record_routes, i), &rr);
        if (rr)
            u->routes[u->nroutes++] = vp_strdup(rr);
        osip_free(rr);
    }
    const char *host = sip_ua_advertised_host(u->ua);
    bool v6 = strchr(host, ':') != NULL;
    u->contact = vp_asprintf("sip:voepy@%s%s%s:%d%s", v6 ? "[" : "", host, v6 ? "]" : "",
                             sip_ua_port(u->ua), u->proto == SIP_TCP ? ";transport=tcp" : "");
    dialog_hop(u, rx);
}

static void closed_cb(uv_handle_t *h)
{
    struct sip_uas *u = h->data;
    free(u->local_uri);
    free(u->remote_uri);
    free(u->remote_target);
    free(u->contact);
    for (size_t i = 0; i < u->nroutes; i++)
        free(u->routes[i]);
    if (u->invite)
        osip_message_free(u->invite);
    if (u->ok)
        osip_message_free(u->ok);
    if (u->refresh_ack)
        osip_message_free(u->refresh_ack);
    free(u);
}

/* Unhook from the UA and the stack now; the memory goes with the timer's close. */
static void release(struct sip_uas *u)
{
    if (u->freeing)
        return;
    u->freeing = true;
    if (strmap_get(u->ua->uas, u->call_id) == u)
        strmap_del(u->ua->uas, u->call_id);
    sip_stack_disown(u->bye_tr);
    u->bye_tr = NULL;
    sip_stack_disown(u->req_tr);
    sip_stack_disown(u->refresh_tr);
    u->req_tr = u->refresh_tr = NULL;
    sip_reinvite_free(u->reinv);
    u->reinv = NULL;
    sip_timer_free(u->stimer);
    u->stimer = NULL;
    sip_stack_watch(u->ist, NULL, NULL);
    u->ist = NULL;
    uv_close((uv_handle_t *)&u->timer, closed_cb);
}

void sip_uas__maybe_release(struct sip_uas *u)
{
    if (u->detached && u->state == UAS_TERMINATED && !u->bye_tr)
        release(u);
}

/* A response to the INVITE through its transaction. The IST ends with a final answer. */
static int respond(struct sip_uas *u, osip_message_t *resp)
{
    osip_transaction_t *ist = u->ist;
    if (resp->status_code >= 200) {
        sip_stack_watch(ist, NULL, NULL); /* we let go of it: osip ends it when it is done */
        u->ist = NULL;
    }
    if (!ist) {
        osip_message_free(resp);
        return VP_E_CLOSED;
    }
    return sip_stack_respond(sip_ua_stack(u->ua), ist, resp);
}

static int response(struct sip_uas *u, int status, osip_message_t **rp)
{
    int err = sip_msg_response(rp, u->invite, status, u->local_tag);
    if (!err && status > 100 && status < 300) {
        osip_message_set_header(*rp, "Contact", u->contact);
        osip_list_clone(&u->invite->record_routes, &(*rp)->record_routes,
                        (int (*)(void *, void **))osip_record_route_clone);
    }
    return err;
}

static void send_final(struct sip_uas *u, int status)
{
    osip_message_t *resp = NULL;
    if (u->state != UAS_PROCEEDING)
        return;
    u->state = UAS_TERMINATED;
    if (status < 300 || status > 699)
        status = 500;
    if (response(u, status, &resp) == 0)
        respond(u, resp);
}

/* A request of ours in the dialog (we are its UAS: From is our To). */
int sip_uas__build(struct sip_uas *u, const char *method, unsigned cseq, const char *ctype,
                   const char *body, osip_message_t **mp)
{
    char branch[SIP_TOKEN_MAX];
    sip_msg_new_branch(branch, sizeof(branch));
    struct sip_req_spec spec = {.method = method,
                                .ruri = u->remote_target,
                                .via_proto = sip_proto_name(u->proto),
                                .via_host = sip_ua_advertised_host(u->ua),
                                .via_port = sip_ua_port(u->ua),
                                .branch = branch,
                                .from_uri = u->local_uri,
                                .from_tag = u->local_tag,
                                .to_uri = u->remote_uri,
                                .to_tag = u->remote_tag[0] ? u->remote_tag : NULL,
                                .call_id = u->call_id,
                                .cseq = cseq,
                                .contact = strcmp(method, "INVITE") == 0 ? u->contact : NULL,
                                .routes = (const char *const *)u->routes,
                                .nroutes = u->nroutes,
                                .content_type = body ? ctype : NULL,
                                .body = body};
    return sip_msg_request(mp, &spec);
}

void sip_uas__send_bye(struct sip_uas *u)
{
    osip_message_t *bye = NULL;
    sip_timer_arm(u->stimer, 0, false);
    if (u->bye_tr)
        return;
    int err = sip_uas__build(u, "BYE", ++u->cseq, NULL, NULL, &bye);
    if (!err)
        err = sip_stack_request(sip_ua_stack(u->ua), bye, u->proto, u->hop_ip, u->hop_port,
                                sip_uas__tr_cb, u, &u->bye_tr);
    if (err)
        log_warn("sip.bye_failed", "cannot send BYE for inbound call %s: %s", u->call_id,
                 vp_err_message(err));
    u->state = UAS_TERMINATED; /* the dialog ends with the BYE, whatever its answer */
}

void sip_uas__tr_cb(void *owner, osip_transaction_t *tr, enum sip_tr_event ev,
                    const osip_message_t *resp, int64_t at_ms)
{
    struct sip_uas *u = owner;
    (void)at_ms;
    if (ev != SIP_TR_PROVISIONAL && tr == u->bye_tr) {
        sip_stack_disown(tr);
        u->bye_tr = NULL;
    } else if (ev != SIP_TR_PROVISIONAL && tr == u->refresh_tr) {
        sip_uas__on_refresh_answer(u, ev, resp);
    } else if (ev != SIP_TR_PROVISIONAL && tr == u->req_tr) {
        sip_uas__on_request_answer(u, ev, resp);
    }
    sip_uas__maybe_release(u);
}

/* Our 2xx again (T1, 2*T1, ... up to T2), until the ACK or 64*T1 (RFC 3261 13.3.1.4). */
static void retransmit_cb(uv_timer_t *t)
{
    struct sip_uas *u = t->data;
    if (u->state != UAS_ANSWERED)
        return;
    if (uv_now(u->ua->loop) >= u->ack_deadline) {
        log_warn("sip.no_ack", "no ACK for our 2xx of inbound call %s", u->call_id);
        u->state = UAS_CONFIRMED; /* confirmed without ACK: the owner hangs it up */
        if (u->detached)
            sip_uas__send_bye(u);
        report(u, SIP_UAS_FAILED, vtime_now_ms());
        sip_uas__maybe_release(u);
        return;
    }
    sip_stack_send_direct(sip_ua_stack(u->ua), u->ok, u->proto, u->reply_ip, u->reply_port);
    u->retrans_ms = u->retrans_ms * 2 > DEFAULT_T2 ? DEFAULT_T2 : u->retrans_ms * 2;
    uv_timer_start(&u->timer, retransmit_cb, u->retrans_ms, 0);
}

/* The IST is gone (from the loop, after the osip round that ended it): the INVITE can no
 * longer be answered, so the call is over for its owner. */
static void ist_lost_cb(uv_timer_t *t)
{
    struct sip_uas *u = t->data;
    if (u->state != UAS_PROCEEDING)
        return;
    log_warn("sip.ist_lost",
             "inbound call %s: its INVITE can no longer be answered (a send "
             "to the caller failed)",
             u->call_id);
    u->state = UAS_TERMINATED;
    report(u, SIP_UAS_FAILED, vtime_now_ms());
    sip_uas__maybe_release(u);
}

/* osip ended the IST we hold (a failed send): forget it now, tell the owner soon. */
static void ist_gone_cb(void *owner, osip_transaction_t *tr)
{
    struct sip_uas *u = owner;
    if (u->ist != tr)
        return;
    u->ist = NULL;
    if (!u->freeing)
        uv_timer_start(&u->timer, ist_lost_cb, 0, 0); /* idle before the 2xx */
}

void sip_uas_bind(struct sip_uas *u, sip_uas_cb *cb, void *arg)
{
    u->bound = true;
    u->cb = cb;
    u->arg = arg;
}

int sip_uas_ringing(struct sip_uas *u)
{
    osip_message_t *resp = NULL;
    if (u->state != UAS_PROCEEDING || u->detached)
        return VP_E_CLOSED;
    if (u->rang)
        return 0;
    int err = response(u, 180, &resp);
    if (!err)
        err = respond(u, resp);
    u->rang = err == 0;
    return err;
}

int sip_uas_progress(struct sip_uas *u, const char *sdp)
{
    osip_message_t *resp = NULL;
    if (u->state != UAS_PROCEEDING || u->detached)
        return VP_E_CLOSED;
    int err = response(u, 183, &resp);
    if (err)
        return err;
    osip_message_set_content_type(resp, "application/sdp");
    osip_message_set_body(resp, sdp, strlen(sdp));
    return respond(u, resp);
}

int sip_uas_answer(struct sip_uas *u, const char *sdp)
{
    osip_message_t *resp = NULL;
    if (u->state != UAS_PROCEEDING || u->detached || !u->ist)
        return VP_E_CLOSED;
    int err = response(u, 200, &resp);
    if (err)
        return err;
    osip_message_set_header(resp, "Allow", SIP_UA_ALLOW);
    osip_message_set_header(resp, "Supported", SIP_EXT_UAS_SUPPORTED);
    sip_uas__timer_headers(u, resp);
    osip_message_set_content_type(resp, "application/sdp");
    osip_message_set_body(resp, sdp, strlen(sdp));
    if (osip_message_clone(resp, &u->ok) != 0) {
        osip_message_free(resp);
        return VP_E_INTERNAL;
    }
    err = respond(u, resp);
    if (err)
        return err;
    u->state = UAS_ANSWERED;
    u->retrans_ms = DEFAULT_T1;
    u->ack_deadline = uv_now(u->ua->loop) + 64 * DEFAULT_T1;
    uv_timer_start(&u->timer, retransmit_cb, u->retrans_ms, 0);
    return 0;
}

void sip_uas_end(struct sip_uas *u, int status)
{
    u->detached = true;
    switch (u->state) {
    case UAS_PROCEEDING:
        send_final(u, status);
        break;
    case UAS_ANSWERED:
        u->bye_after_ack = true; /* RFC 3261 15: no BYE before the ACK (or giving up) */
        break;
    case UAS_CONFIRMED:
        sip_uas__send_bye(u);
        break;
    case UAS_TERMINATED:
        break;
    }
    sip_uas__maybe_release(u);
}

/* A session that never was: answer the INVITE now (a final answer: no IST is kept). */
static struct sip_uas *refuse_invite(struct sip_uas *u, osip_transaction_t *tr,
                                     const osip_message_t *req, int status)
{
    osip_message_t *resp = NULL;
    if (sip_msg_response(&resp, req, status, NULL) == 0)
        sip_stack_respond(sip_ua_stack(u->ua), tr, resp);
    u->ist = NULL;
    u->state = UAS_TERMINATED;
    u->detached = true;
    release(u);
    return NULL;
}

struct sip_uas *sip_uas__create(struct sip_ua *ua, osip_transaction_t *tr,
                                const osip_message_t *req, const struct sip_rx *rx)
{
    struct sip_uas *u = VP_NEW(u);
    u->ua = ua;
    u->ist = tr;
    u->proto = rx->proto;
    uv_timer_init(ua->loop, &u->timer);
    u->timer.data = u;
    if (!reply_dest(u, req)) {
        log_info("sip.bad_via", "an INVITE's top Via names no address we can answer");
        return refuse_invite(u, tr, req, 400);
    }
    if (osip_message_clone(req, &u->invite) != 0) {
        u->invite = NULL;
        return refuse_invite(u, tr, req, 500);
    }
    init_dialog(u, req, rx);
    if (strmap_put(ua->uas, u->call_id, u) != 0)
        return refuse_invite(u, tr, req, 482);
    sip_stack_watch(tr, ist_gone_cb, u);
    osip_message_t *trying = NULL;
    if (sip_msg_response(&trying, req, 100, NULL) == 0)
        sip_stack_respond(sip_ua_stack(ua), tr, trying);
    return u;
}

bool sip_uas__owns(const struct sip_uas *u, const osip_message_t *req)
{
    const char *m = req->sip_method, *ft = sip_msg_from_tag(req), *tt = sip_msg_to_tag(req);
    const char *branch = via_branch(req);
    if (strcmp(m, "CANCEL") == 0 || (strcmp(m, "INVITE") == 0 && !tt))
        return branch && strcmp(branch, u->branch) == 0;
    if (!ft || !tt)
        return false;
    /* Either orientation, as sip_session.c accepts. */
    return (strcmp(ft, u->remote_tag) == 0 && strcmp(tt, u->local_tag) == 0) ||
           (strcmp(ft, u->local_tag) == 0 && strcmp(tt, u->remote_tag) == 0);
}

static void on_cancel(struct sip_uas *u, osip_transaction_t *tr, const osip_message_t *req,
                      const struct sip_rx *rx)
{
    sip_ua__respond(u->ua, tr, req, 200, u->local_tag);
    if (u->state != UAS_PROCEEDING)
        return; /* a final answer crossed the CANCEL: it has no effect (RFC 3261 9.2) */
    send_final(u, 487);
    report(u, SIP_UAS_CANCELED, rx->at_ms);
}

static void on_bye(struct sip_uas *u, osip_transaction_t *tr, const osip_message_t *req,
                   const struct sip_rx *rx)
{
    sip_ua__respond(u->ua, tr, req, 200, u->local_tag);
    enum uas_state was = u->state;
    if (was == UAS_PROCEEDING) {
        send_final(u, 487); /* a BYE on the early dialog: treated as a CANCEL */
        report(u, SIP_UAS_CANCELED, rx->at_ms);
        return;
    }
    u->state = UAS_TERMINATED;
    uv_timer_stop(&u->timer);
    if (was == UAS_ANSWERED)
        report(u, SIP_UAS_CONFIRMED, rx->at_ms); /* the BYE says our 2xx arrived */
    if (was == UAS_ANSWERED || was == UAS_CONFIRMED)
        report(u, SIP_UAS_CLOSED, rx->at_ms);
}

/* A retransmitted INVITE after our 2xx: its IST is gone, so a new one was made for it. */
static void on_invite_again(struct sip_uas *u, osip_transaction_t *tr)
{
    osip_message_t *again = NULL;
    if (u->ok && osip_message_clone(u->ok, &again) == 0)
        sip_stack_respond(sip_ua_stack(u->ua), tr, again);
    else if (u->ist != tr && sip_msg_response(&again, u->invite, 500, u->local_tag) == 0)
        sip_stack_respond(sip_ua_stack(u->ua), tr, again);
}

void sip_uas__on_request(struct sip_uas *u, osip_transaction_t *tr, const osip_message_t *req,
                         const struct sip_rx *rx)
{
    const char *m = req->sip_method;
    if (strcmp(m, "CANCEL") == 0)
        on_cancel(u, tr, req, rx);
    else if (strcmp(m, "BYE") == 0)
        on_bye(u, tr, req, rx);
    else if (strcmp(m, "INVITE") == 0 && !sip_msg_to_tag(req))
        on_invite_again(u, tr);
    else if (strcmp(m, "INVITE") == 0 || strcmp(m, "UPDATE") == 0)
        sip_uas__on_offer(u, tr, req, rx);
    else if (strcmp(m, "OPTIONS") == 0)
        sip_ua__respond(u->ua, tr, req, 200, u->local_tag);
    else
        sip_ua__respond(u->ua, tr, req, sip_uas__other_status(u, req), u->local_tag);
    sip_uas__maybe_release(u);
}

void sip_uas__on_ack(struct sip_uas *u, const osip_message_t *ack, const struct sip_rx *rx)
{
    if (u->state == UAS_CONFIRMED && u->reinv && sip_reinvite_on_ack(u->reinv, ack))
        return; /* the ACK of our 2xx to a re-INVITE */
    if (u->state != UAS_ANSWERED || sip_msg_cseq_number(ack) != u->invite_cseq)
        return; /* a retransmitted ACK, or one for something else */
    uv_timer_stop(&u->timer);
    u->state = UAS_CONFIRMED;
    if (!u->bye_after_ack)
        sip_uas__start_dialog(u);
    if (u->bye_after_ack)
        sip_uas__send_bye(u);
    report(u, SIP_UAS_CONFIRMED, rx->at_ms);
    sip_uas__maybe_release(u);
}

void sip_uas__destroy(struct sip_uas *u)
{
    u->detached = true;
    if (u->state == UAS_PROCEEDING)
        send_final(u, 503);
    else if (u->state == UAS_ANSWERED || u->state == UAS_CONFIRMED)
        sip_uas__send_bye(u);
    u->state = UAS_TERMINATED;
    release(u);
}
