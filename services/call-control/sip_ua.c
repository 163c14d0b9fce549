/*
 * Routing of what the stack cannot place in a transaction of ours: requests from peers,
 * stray 2xx, transport failures. Sessions register under their Call-ID.
 */
#include "sip_ua_int.h"

#include <stdlib.h>
#include <string.h>

#include "sip_ext.h"
#include "sip_msg.h"
#include "voepy/alloc.h"
#include "voepy/err.h"
#include "voepy/log.h"

#define SIP_ALLOW_METHODS SIP_UA_ALLOW

void sip_ua__respond(struct sip_ua *ua, osip_transaction_t *tr, const osip_message_t *req,
                     int status, const char *to_tag)
{
    char tag[SIP_TOKEN_MAX];
    if (!to_tag) {
        sip_msg_new_tag(tag, sizeof(tag));
        to_tag = tag;
    }
    osip_message_t *resp = NULL;
    if (sip_msg_response(&resp, req, status, to_tag) != 0)
        return;
    if (status == 200 && strcmp(req->sip_method, "OPTIONS") == 0)
        osip_message_set_header(resp, "Allow", SIP_ALLOW_METHODS);
    if (status == 405 || status == 501)
        osip_message_set_header(resp, "Allow", SIP_ALLOW_METHODS);
    sip_stack_respond(ua->st, tr, resp);
}

/* Dialog-less requests: the far end asks about something we do not have. */
static void answer_outside_dialog(struct sip_ua *ua, osip_transaction_t *tr,
                                  const osip_message_t *req)
{
    const char *m = req->sip_method;
    static const char *const in_dialog[] = {"BYE",   "CANCEL", "INFO",  "UPDATE",
                                            "PRACK", "NOTIFY", "REFER", NULL};
    if (strcmp(m, "OPTIONS") == 0) {
        sip_ua__respond(ua, tr, req, 200, NULL);
        return;
    }
    if (strcmp(m, "INVITE") == 0 && sip_msg_to_tag(req)) {
        sip_ua__respond(ua, tr, req, 481, NULL); /* a re-INVITE of a dialog we do not have */
        return;
    }
    if (strcmp(m, "INVITE") == 0) {
        char cid[SIP_CALL_ID_MAX];
        vlog_kv(VLOG_INFO, "sip.inbound_refused", "nobody takes inbound calls here: 480", "call_id",
                sip_msg_call_id(req, cid, sizeof(cid)), NULL);
        sip_ua__respond(ua, tr, req, 480, NULL);
        return;
    }
    for (int i = 0; in_dialog[i]; i++) {
        if (strcmp(m, in_dialog[i]) == 0) {
            sip_ua__respond(ua, tr, req, 481, NULL);
            return;
        }
    }
    sip_ua__respond(ua, tr, req, 501, NULL);
}

/* The user part of a URI ("" when none): borrowed from the message. */
static const char *user_of(const osip_uri_t *url)
{
    return url && url->username ? url->username : "";
}

/* A final answer naming what the request lacks (Unsupported, Min-SE). */
static void respond_with(struct sip_ua *ua, osip_transaction_t *tr, const osip_message_t *req,
                         int status, const char *name, const char *value)
{
    char tag[SIP_TOKEN_MAX];
    osip_message_t *resp = NULL;
    sip_msg_new_tag(tag, sizeof(tag));
    if (sip_msg_response(&resp, req, status, tag) != 0)
        return;
    osip_message_set_header(resp, name, value);
    sip_stack_respond(ua->st, tr, resp);
}

/*
 * RFC 3261 8.2.2.3: an extension required that we do not support gets 420; RFC 4028 5: a
 * Session-Expires below our Min-SE gets 422. True when req was answered so.
 */
static bool refuse_extensions(struct sip_ua *ua, osip_transaction_t *tr, const osip_message_t *req)
{
    char tag[64], min[16];
    struct sip_session_expires se;
    if (sip_ext_unsupported(req, SIP_EXT_UAS_SUPPORTED, tag, sizeof(tag))) {
        log_info("sip.unsupported_extension", "an INVITE requires %s: 420", tag);
        respond_with(ua, tr, req, 420, "Unsupported", tag);
        return true;
    }
    if (sip_ext_session_expires(req, &se) == 0 && se.secs && se.secs < SIP_SE_MIN_SE) {
        snprintf(min, sizeof(min), "%u", SIP_SE_MIN_SE);
        respond_with(ua, tr, req, 422, "Min-SE", min);
        return true;
    }
    return false;
}

/* A new INVITE (no To tag, no session under its Call-ID): an inbound session for the
 * handler. A Call-ID already taken by another session is a merged request (482). */
static void new_invite(struct sip_ua *ua, osip_transaction_t *tr, const osip_message_t *req,
                       const struct sip_rx *rx)
{
    char cid[SIP_CALL_ID_MAX];
    sip_msg_call_id(req, cid, sizeof(cid));
    if (strmap_get(ua->uas, cid) || strmap_get(ua->sessions, cid)) {
        sip_ua__respond(ua, tr, req, 482, NULL);
        return;
    }
    if (refuse_extensions(ua, tr, req))
        return;
    struct sip_uas *u = sip_uas__create(ua, tr, req, rx);
    if (!u)
        return; /* already answered */
    const char *to = user_of(req->req_uri);
    struct sip_uas_offer o = {.from_user = user_of(req->from->url),
                              .to_user = *to ? to : user_of(req->to->url),
                              .call_id = sip_uas_call_id(u),
                              .at_ms = rx->at_ms};
    if (sip_msg_has_sdp(req))
        o.sdp = sip_msg_body(req, &o.sdp_len);
    ua->on_invite(u, &o, ua->on_invite_arg);
}

static void request_cb(struct sip_stack *st, osip_transaction_t *tr, const osip_message_t *req,
                       const struct sip_rx *rx, void *arg)
{
    struct sip_ua *ua = arg;
    (void)st;
    char cid[SIP_CALL_ID_MAX];
    sip_msg_call_id(req, cid, sizeof(cid));
    struct sip_session *s = strmap_get(ua->sessions, cid);
    struct sip_uas *u = strmap_get(ua->uas, cid);
    if (s && sip_session__matches(s, req))
        sip_session__on_request(s, tr, req, rx);
    else if (u && sip_uas__owns(u, req))
        sip_uas__on_request(u, tr, req, rx);
    else if (strcmp(req->sip_method, "INVITE") == 0 && !sip_msg_to_tag(req) && ua->on_invite &&
             !ua->closing)
        new_invite(ua, tr, req, rx);
    else
        answer_outside_dialog(ua, tr, req);
}

static void stray_response_cb(struct sip_stack *st, const osip_message_t *resp,
                              const struct sip_rx *rx, void *arg)
{
    struct sip_ua *ua = arg;
    (void)st;
    char cid[SIP_CALL_ID_MAX];
    struct sip_session *s = strmap_get(ua->sessions, sip_msg_call_id(resp, cid, sizeof(cid)));
    struct sip_uas *u = strmap_get(ua->uas, cid);
    if (s)
        sip_session__on_stray_response(s, resp, rx);
    else if (u)
        sip_uas__on_stray_response(u, resp); /* a 2xx of our refreshing re-INVITE, again */
}

static void stray_ack_cb(struct sip_stack *st, const osip_message_t *ack, const struct sip_rx *rx,
                         void *arg)
{
    struct sip_ua *ua = arg;
    (void)st;
    char cid[SIP_CALL_ID_MAX];
    struct sip_uas *u = strmap_get(ua->uas, sip_msg_call_id(ack, cid, sizeof(cid)));
    struct sip_session *s = strmap_get(ua->sessions, cid);
    if (u && sip_uas__owns(u, ack))
        sip_uas__on_ack(u, ack, rx); /* the ACK of our 2xx to an inbound INVITE or re-INVITE */
    else if (s && sip_session__matches(s, ack))
        sip_session__on_ack(s, ack); /* the ACK of our 2xx to a re-INVITE */
}

static void transport_error_cb(struct sip_stack *st, enum sip_proto proto, const char *ip, int port,
                               void *arg)
{
    struct sip_ua *ua = arg;
    (void)st;
    size_t n = strmap_count(ua->sessions);
    if (n == 0)
        return;
    void **all = vp_malloc(n * sizeof(*all));
    n = strmap_values(ua->sessions, all, n);
    for (size_t i = 0; i < n; i++)
        sip_session__on_transport_error(all[i], proto, ip, port);
    free(all);
}

int sip_ua_create(struct sip_ua **up, uv_loop_t *loop, const struct sip_ua_opts *o)
{
    struct sip_ua *ua = VP_NEW(ua);
    ua->loop = loop;
    ua->sessions = strmap_create();
    ua->uas = strmap_create();
    struct sip_stack_handlers h = {.request = request_cb,
                                   .stray_response = stray_response_cb,
                                   .stray_ack = stray_ack_cb,
                                   .transport_error = transport_error_cb,
                                   .arg = ua};
    struct sip_stack_opts so = {
        .host = o->host, .port = o->port, .advertised_host = o->advertised_host};
    int err = sip_stack_create(&ua->st, loop, &so, &h);
    if (err) {
        strmap_free(ua->sessions);
        strmap_free(ua->uas);
        free(ua);
        return err;
    }
    *up = ua;
    return 0;
}

int sip_ua_port(const struct sip_ua *ua)
{
    return sip_stack_port(ua->st);
}

const char *sip_ua_advertised_host(const struct sip_ua *ua)
{
    return sip_stack_advertised_host(ua->st);
}

struct sip_stack *sip_ua_stack(struct sip_ua *ua)
{
    return ua->st;
}

void sip_ua_on_invite(struct sip_ua *ua, sip_uas_invite_cb *cb, void *arg)
{
    ua->on_invite = cb;
    ua->on_invite_arg = arg;
}

unsigned sip_ua_sessions(const struct sip_ua *ua)
{
    return (unsigned)(strmap_count(ua->sessions) + strmap_count(ua->uas));
}

static void stack_closed_cb(void *arg)
{
    struct sip_ua *ua = arg;
    void (*closed)(void *) = ua->closed;
    void *closed_arg = ua->closed_arg;
    strmap_free(ua->sessions);
    strmap_free(ua->uas);
    free(ua);
    if (closed)
        closed(closed_arg);
}

void sip_ua_close(struct sip_ua *ua, void (*closed)(void *arg), void *arg)
{
    if (ua->closing)
        return;
    ua->closing = true;
    ua->closed = closed;
    ua->closed_arg = arg;
    size_t n = strmap_count(ua->sessions);
    void **all = vp_malloc((n ? n : 1) * sizeof(*all));
    n = strmap_values(ua->sessions, all, n);
    for (size_t i = 0; i < n; i++)
        sip_session__destroy(all[i]);
    free(all);
    n = strmap_count(ua->uas);
    all = vp_malloc((n ? n : 1) * sizeof(*all));
    n = strmap_values(ua->uas, all, n);
    for (size_t i = 0; i < n; i++)
        sip_uas__destroy(all[i]);
    free(all);
    sip_stack_flush(ua->st); /* CANCELs and BYEs leave before the sockets close */
    sip_stack_close(ua->st, stack_closed_cb, ua);
}
