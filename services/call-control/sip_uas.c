/*
 * An inbound INVITE dialog, UAS side. The INVITE's server transaction (IST) carries the
 * provisional and non-2xx final answers and absorbs retransmitted INVITEs and the ACK of
 * a non-2xx; once a 2xx is sent the IST is over (RFC 3261 17.2.1) and the session itself
 * retransmits the 2xx until the ACK (which arrives outside any transaction) or 64*T1.
 * The session's BYE is a client transaction of its own. Memory is freed in the timer's
 * close callback, so a session may end inside any callback.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "sip_dialog.h"
#include "sip_ext.h"
#include "sip_msg.h"
#include "sip_timer.h"
#include "sip_ua_int.h"
#include "sip_uas.h"
#include "voepy/alloc.h"
#include "voepy/err.h"
#include "voepy/log.h"
#include "voepy/vtime.h"

#define MAX_ROUTES 8

enum uas_state {
    UAS_PROCEEDING, /* INVITE received, no final answer yet */
    UAS_ANSWERED,   /* 2xx sent, waiting for its ACK */
    UAS_CONFIRMED,  /* ACK received */
    UAS_TERMINATED, /* final failure sent, canceled, or hung up */
};

struct sip_uas {
    struct sip_ua *ua;
    enum uas_state state;
    bool bound;         /* an owner took the session */
    bool detached;      /* the owner ended it: no more callbacks */
    bool bye_after_ack; /* ended while the 2xx waits for its ACK */
    bool rang, freeing;
    sip_uas_cb *cb;
    void *arg;
    enum sip_proto proto;
    char hop_ip[SIP_IP_MAX]; /* in-dialog next hop */
    int hop_port;
    char reply_ip[SIP_IP_MAX]; /* where responses to the INVITE go (its top Via) */
    int reply_port;
    char call_id[SIP_CALL_ID_MAX];
    char local_tag[SIP_TOKEN_MAX];
    char remote_tag[128];
    char branch[128]; /* the INVITE's top Via branch (its CANCEL has the same) */
    unsigned invite_cseq;
    char *local_uri, *remote_uri, *remote_target, *contact;
    char *routes[MAX_ROUTES];
    size_t nroutes;
    unsigned cseq;           /* our own requests (BYE) */
    osip_message_t *invite;  /* a copy, to build responses from */
    osip_transaction_t *ist; /* until the final answer is handed to it */
    osip_transaction_t *bye_tr;
    osip_message_t *ok; /* our 2xx, sent again until the ACK */
    unsigned retrans_ms;
    uint64_t ack_deadline; /* uv_now */
    uv_timer_t timer;      /* 2xx retransmissions */
    /* the confirmed dialog (sip_dialog.h) */
    struct sip_dialog_hooks hooks;
    struct sip_reinvite *reinv; /* the caller's re-INVITEs and UPDATEs */
    osip_transaction_t *req_tr; /* our own request in the dialog (REFER, INFO) */
    sip_dialog_resp_cb *req_cb;
    void *req_arg;
    /* RFC 4028: the interval and refresher our 2xx gave, armed at the ACK */
    unsigned se_secs;
    bool we_refresh, peer_update;
    struct sip_timer *stimer;
    osip_transaction_t *refresh_tr;
    unsigned refresh_cseq;
    osip_message_t *refresh_ack;
};

static void tr_cb(void *owner, osip_transaction_t *tr, enum sip_tr_event ev,
                  const osip_message_t *resp, int64_t at_ms);

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

static void maybe_release(struct sip_uas *u)
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
static int build(struct sip_uas *u, const char *method, unsigned cseq, const char *ctype,
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

static void send_bye(struct sip_uas *u)
{
    osip_message_t *bye = NULL;
    sip_timer_arm(u->stimer, 0, false);
    if (u->bye_tr)
        return;
    int err = build(u, "BYE", ++u->cseq, NULL, NULL, &bye);
    if (!err)
        err = sip_stack_request(sip_ua_stack(u->ua), bye, u->proto, u->hop_ip, u->hop_port, tr_cb,
                                u, &u->bye_tr);
    if (err)
        log_warn("sip.bye_failed", "cannot send BYE for inbound call %s: %s", u->call_id,
                 vp_err_message(err));
    u->state = UAS_TERMINATED; /* the dialog ends with the BYE, whatever its answer */
}

/* ---- RFC 4028 on an inbound dialog ---- */

/* The session ended without refresh: BYE, and the owner hears of it. */
static void expire_cb(void *arg)
{
    struct sip_uas *u = arg;
    if (u->state != UAS_CONFIRMED)
        return;
    log_warn("sip.session_expired", "inbound call %s: the session timer expired: BYE", u->call_id);
    send_bye(u);
    if (u->bound && !u->detached && u->hooks.expired)
        u->hooks.expired(u->hooks.arg, vtime_now_ms());
    maybe_release(u);
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
    int err = build(u, method, u->refresh_cseq, "application/sdp", body, &m);
    free(body);
    if (!err) {
        char v[48];
        snprintf(v, sizeof(v), "%u;refresher=uac", u->se_secs);
        osip_message_set_header(m, "Session-Expires", v);
        err = sip_stack_request(sip_ua_stack(u->ua), m, u->proto, u->hop_ip, u->hop_port, tr_cb, u,
                                &u->refresh_tr);
    }
    log_info("sip.session_refresh", "inbound call %s: refreshing the session with %s%s", u->call_id,
             method, err ? " failed" : "");
    sip_reinvite_set_own_pending(u->reinv, err == 0);
}

static void on_refresh_answer(struct sip_uas *u, enum sip_tr_event ev, const osip_message_t *resp)
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
        if (build(u, "ACK", u->refresh_cseq, NULL, NULL, &u->refresh_ack) == 0)
            sip_stack_send_direct(sip_ua_stack(u->ua), u->refresh_ack, u->proto, u->hop_ip,
                                  u->hop_port);
    }
    sip_timer_refreshed(u->stimer);
}

/* The Session-Expires of our 2xx (RFC 4028 9), when the INVITE asked for a timer. */
static void timer_headers(struct sip_uas *u, osip_message_t *resp)
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
static void start_dialog(struct sip_uas *u)
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

static void on_request_answer(struct sip_uas *u, enum sip_tr_event ev, const osip_message_t *resp)
{
    sip_stack_disown(u->req_tr);
    u->req_tr = NULL;
    int status = ev == SIP_TR_FINAL ? resp->status_code : ev == SIP_TR_TIMEOUT ? 408 : 503;
    sip_dialog_resp_cb *cb = u->req_cb;
    u->req_cb = NULL;
    if (cb && !u->detached)
        cb(u->req_arg, status, ev == SIP_TR_FINAL ? resp : NULL);
}

static void tr_cb(void *owner, osip_transaction_t *tr, enum sip_tr_event ev,
                  const osip_message_t *resp, int64_t at_ms)
{
    struct sip_uas *u = owner;
    (void)at_ms;
    if (ev != SIP_TR_PROVISIONAL && tr == u->bye_tr) {
        sip_stack_disown(tr);
        u->bye_tr = NULL;
    } else if (ev != SIP_TR_PROVISIONAL && tr == u->refresh_tr) {
        on_refresh_answer(u, ev, resp);
    } else if (ev != SIP_TR_PROVISIONAL && tr == u->req_tr) {
        on_request_answer(u, ev, resp);
    }
    maybe_release(u);
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
            send_bye(u);
        report(u, SIP_UAS_FAILED, vtime_now_ms());
        maybe_release(u);
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
    maybe_release(u);
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
    timer_headers(u, resp);
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
        send_bye(u);
        break;
    case UAS_TERMINATED:
        break;
    }
    maybe_release(u);
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

/* A re-INVITE or UPDATE of the confirmed dialog (491 while our 2xx awaits its ACK). */
static void on_offer(struct sip_uas *u, osip_transaction_t *tr, const osip_message_t *req,
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
static int other_status(struct sip_uas *u, const osip_message_t *req)
{
    if (u->state == UAS_CONFIRMED && u->bound && !u->detached && u->hooks.request)
        return u->hooks.request(u->hooks.arg, req);
    return strcmp(req->sip_method, "INFO") == 0 ? 200 : 501;
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
        on_offer(u, tr, req, rx);
    else if (strcmp(m, "OPTIONS") == 0)
        sip_ua__respond(u->ua, tr, req, 200, u->local_tag);
    else
        sip_ua__respond(u->ua, tr, req, other_status(u, req), u->local_tag);
    maybe_release(u);
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
    int err = build(u, r->method, ++u->cseq, r->content_type, r->body, &m);
    if (!err && sip_dialog_add_headers(m, r) != 0) {
        osip_message_free(m);
        err = VP_E_INVALID_PARAMETER;
    }
    if (!err)
        err = sip_stack_request(sip_ua_stack(u->ua), m, u->proto, u->hop_ip, u->hop_port, tr_cb, u,
                                &u->req_tr);
    if (!err) {
        u->req_cb = cb;
        u->req_arg = arg;
    }
    return err;
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
        start_dialog(u);
    if (u->bye_after_ack)
        send_bye(u);
    report(u, SIP_UAS_CONFIRMED, rx->at_ms);
    maybe_release(u);
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

void sip_uas__destroy(struct sip_uas *u)
{
    u->detached = true;
    if (u->state == UAS_PROCEEDING)
        send_final(u, 503);
    else if (u->state == UAS_ANSWERED || u->state == UAS_CONFIRMED)
        send_bye(u);
    u->state = UAS_TERMINATED;
    release(u);
}
