/*
 * The far end's offers inside a dialog (sip_reinvite.h). Responses to a request go back
 * where it came from (its source address, as rport asks; over TCP the stack answers on
 * the request's connection for the transaction's own sends).
 */
#include "sip_reinvite.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "sip_msg.h"
#include "sip_stack.h"
#include "sip_ua_int.h"
#include "voepy/alloc.h"
#include "voepy/err.h"
#include "voepy/log.h"

#define HDR_MAX 128

struct sip_reinvite {
    struct sip_ua *ua;
    sip_offer_cb *cb;
    void *arg;
    bool own_pending;
    uint64_t version; /* our last answer's o= sess-version */
    unsigned answers;
    /* our 2xx to the last re-INVITE, until its ACK */
    osip_message_t *ok;
    unsigned ok_cseq;
    bool awaiting_ack;
    enum sip_proto proto;
    char dest_ip[SIP_IP_MAX];
    int dest_port;
    unsigned retrans_ms, elapsed_ms;
    char hdr_name[HDR_MAX], hdr_value[HDR_MAX];
    uv_timer_t timer;
};

struct sip_reinvite *sip_reinvite_create(struct sip_ua *ua)
{
    struct sip_reinvite *r = VP_NEW(r);
    r->ua = ua;
    r->version = 1;
    uv_timer_init(ua->loop, &r->timer);
    r->timer.data = r;
    return r;
}

void sip_reinvite_set_cb(struct sip_reinvite *r, sip_offer_cb *cb, void *arg)
{
    r->cb = cb;
    r->arg = arg;
}

void sip_reinvite_set_own_pending(struct sip_reinvite *r, bool pending)
{
    r->own_pending = pending;
}

void sip_reinvite_set_header(struct sip_reinvite *r, const char *name, const char *value)
{
    snprintf(r->hdr_name, sizeof(r->hdr_name), "%s", name && value ? name : "");
    snprintf(r->hdr_value, sizeof(r->hdr_value), "%s", name && value ? value : "");
}

unsigned sip_reinvite_count(const struct sip_reinvite *r)
{
    return r->answers;
}

static void respond(struct sip_reinvite *r, osip_transaction_t *tr, const osip_message_t *req,
                    int status, const char *tag)
{
    osip_message_t *resp = NULL;
    if (sip_msg_response(&resp, req, status, tag) == 0)
        sip_stack_respond(sip_ua_stack(r->ua), tr, resp);
}

/* Our 2xx again (T1, 2*T1, ... up to T2) until the ACK, for 64*T1 in all. */
static void retransmit_cb(uv_timer_t *t)
{
    struct sip_reinvite *r = t->data;
    if (!r->awaiting_ack || !r->ok)
        return;
    r->elapsed_ms += r->retrans_ms;
    if (r->elapsed_ms >= 64 * DEFAULT_T1) {
        log_warn("sip.reinvite_no_ack", "no ACK for our 2xx to a re-INVITE: giving up on it");
        r->awaiting_ack = false;
        return;
    }
    sip_stack_send_direct(sip_ua_stack(r->ua), r->ok, r->proto, r->dest_ip, r->dest_port);
    r->retrans_ms = r->retrans_ms * 2 > DEFAULT_T2 ? DEFAULT_T2 : r->retrans_ms * 2;
    uv_timer_start(&r->timer, retransmit_cb, r->retrans_ms, 0);
}

static osip_message_t *build_ok(struct sip_reinvite *r, const osip_message_t *req,
                                const struct sip_reinvite_dialog *d, const struct buf *sdp)
{
    osip_message_t *resp = NULL;
    if (sip_msg_response(&resp, req, 200, d->local_tag) != 0)
        return NULL;
    osip_message_set_header(resp, "Contact", d->contact);
    osip_message_set_header(resp, "Allow", SIP_UA_ALLOW);
    osip_message_set_header(resp, "Supported", "timer");
    if (r->hdr_name[0])
        osip_message_set_header(resp, r->hdr_name, r->hdr_value);
    if (sdp->len) {
        osip_message_set_content_type(resp, "application/sdp");
        osip_message_set_body(resp, sdp->data, sdp->len);
    }
    return resp;
}

/* Keep our 2xx to a re-INVITE and send it again until the ACK. */
static void await_ack(struct sip_reinvite *r, const osip_message_t *ok, unsigned cseq,
                      const struct sip_rx *rx, enum sip_proto proto)
{
    if (r->ok)
        osip_message_free(r->ok);
    r->ok = NULL;
    if (osip_message_clone(ok, &r->ok) != 0) {
        r->ok = NULL;
        return;
    }
    r->ok_cseq = cseq;
    r->awaiting_ack = true;
    r->proto = proto;
    snprintf(r->dest_ip, sizeof(r->dest_ip), "%s", rx->src_ip);
    r->dest_port = rx->src_port;
    r->retrans_ms = DEFAULT_T1;
    r->elapsed_ms = 0;
    if (proto == SIP_UDP)
        uv_timer_start(&r->timer, retransmit_cb, r->retrans_ms, 0);
}

/* A retransmitted re-INVITE (its CSeq is the one we answered): the same 2xx again. */
static bool answered_again(struct sip_reinvite *r, osip_transaction_t *tr, unsigned cseq)
{
    osip_message_t *again = NULL;
    if (!r->ok || cseq != r->ok_cseq)
        return false;
    if (osip_message_clone(r->ok, &again) == 0)
        sip_stack_respond(sip_ua_stack(r->ua), tr, again);
    return true;
}

void sip_reinvite_on_request(struct sip_reinvite *r, osip_transaction_t *tr,
                             const osip_message_t *req, const struct sip_rx *rx,
                             const struct sip_reinvite_dialog *d)
{
    bool invite = strcmp(req->sip_method, "INVITE") == 0;
    unsigned cseq = sip_msg_cseq_number(req);
    if (invite && answered_again(r, tr, cseq))
        return;
    if (invite && (r->awaiting_ack || r->own_pending)) {
        log_info("sip.reinvite_glare", "a re-INVITE while another offer is pending: 491");
        respond(r, tr, req, 491, d->local_tag);
        return;
    }
    size_t len = 0;
    const char *sdp = sip_msg_has_sdp(req) ? sip_msg_body(req, &len) : NULL;
    struct buf answer = BUF_INIT;
    int status = 0;
    if (sdp || invite) /* an UPDATE without SDP only refreshes: 200 without body */
        status = r->cb ? r->cb(r->arg, sdp, len, r->version + 1, &answer) : 488;
    if (status) {
        buf_free(&answer);
        respond(r, tr, req, status >= 400 && status <= 699 ? status : 500, d->local_tag);
        return;
    }
    if (answer.len)
        r->version++;
    osip_message_t *ok = build_ok(r, req, d, &answer);
    buf_free(&answer);
    if (!ok) {
        respond(r, tr, req, 500, d->local_tag);
        return;
    }
    r->answers++;
    if (invite)
        await_ack(r, ok, cseq, rx, d->proto);
    sip_stack_respond(sip_ua_stack(r->ua), tr, ok);
}

bool sip_reinvite_on_ack(struct sip_reinvite *r, const osip_message_t *ack)
{
    if (!r->awaiting_ack || sip_msg_cseq_number(ack) != r->ok_cseq)
        return false;
    r->awaiting_ack = false;
    uv_timer_stop(&r->timer);
    return true;
}

static void closed_cb(uv_handle_t *h)
{
    struct sip_reinvite *r = h->data;
    if (r->ok)
        osip_message_free(r->ok);
    free(r);
}

void sip_reinvite_free(struct sip_reinvite *r)
{
    if (r)
        uv_close((uv_handle_t *)&r->timer, closed_cb);
}
