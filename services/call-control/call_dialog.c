/*
 * A call's dialog beyond answer and hangup (call_dialog.h).
 *
 * The far end's re-INVITE or UPDATE with an offer: we answer on the same media address
 * (the call's media-fork leg) with the codec the offer's first format we speak, and the
 * direction mirrored (sendonly -> recvonly, inactive -> inactive, recvonly -> sendonly).
 * The far end holds the call when its offer is sendonly or inactive or its address is
 * 0.0.0.0: media-fork then sends nothing (`connect` with `hold`); an offer back to
 * sendrecv unholds. A changed address or codec goes to media-fork with `connect` again.
 * An offer we cannot take (no PCMU/PCMA) is refused 488 and the call goes on as it was.
 * An outbound call's far end may also UPDATE before its 2xx (RFC 3311, in the early dialog
 * of a reliable 18x): the ringing leg moves to the new address the same way, and a 2xx
 * without SDP then keeps it (call_out.c's on_answered reads it as early media).
 *
 * A session timer that runs out (the far end stopped refreshing, RFC 4028 10) ends the
 * call: the BYE is already sent; end_reason failed, initiator system (the dialog failed
 * on the far end's side; system_failure is kept for voepy's own failures).
 */
#include "call_dialog.h"

#include <stdio.h>
#include <string.h>

#include "sdp_uas.h"
#include "sip_session.h"
#include "sip_uas.h"
#include "voepy/buf.h"
#include "voepy/err.h"
#include "voepy/log.h"

static enum sdp_dir mirror(enum sdp_dir d)
{
    switch (d) {
    case SDP_SENDONLY:
        return SDP_RECVONLY;
    case SDP_RECVONLY:
        return SDP_SENDONLY;
    case SDP_INACTIVE:
        return SDP_INACTIVE;
    case SDP_SENDRECV:
        break;
    }
    return SDP_SENDRECV;
}

static bool unspecified(const char *ip)
{
    return strcmp(ip, "0.0.0.0") == 0 || strcmp(ip, "::") == 0;
}

/* Tell media-fork what changed: the far end's address and codec, held or not. */
static void apply_offer(struct call *c, struct sdp_answer *a)
{
    bool hold = a->dir == SDP_SENDONLY || a->dir == SDP_INACTIVE || unspecified(a->ip);
    if (unspecified(a->ip)) { /* RFC 2543 hold: keep the address we know */
        snprintf(a->ip, sizeof(a->ip), "%s", c->offer.ip);
        a->port = c->offer.port;
    }
    if (hold != c->held)
        vlog_kv(VLOG_INFO, hold ? "call.held" : "call.unheld",
                hold ? "the far end holds the call: we send nothing"
                     : "the far end takes the call off hold",
                "call_id", c->id, "direction", sdp_dir_name(a->dir), NULL);
    c->held = hold;
    c->offer = *a;
    snprintf(c->remote_media, sizeof(c->remote_media), "%s:%d", a->ip, a->port);
    snprintf(c->codec, sizeof(c->codec), "%s", a->codec);
    media__connect(c, a);
}

static int offer_cb(void *arg, const char *sdp, size_t len, uint64_t version, struct buf *answer)
{
    struct call *c = arg;
    struct sdp_answer a;
    if (call_state_terminal(c->state) || c->media.state != MEDIA_ALLOCATED)
        return 500;
    if (!sdp) {
        a = c->offer; /* an INVITE without offer: ours, sendrecv (its ACK answers it) */
        a.dir = SDP_SENDRECV;
    } else if (sdp_parse_answer(sdp, len, &a) != 0) {
        log_info("call.offer_refused", "call %s: a re-offer we cannot take: 488", c->id);
        return 488;
    }
    if (unspecified(a.ip))
        a.dir = SDP_INACTIVE; /* RFC 2543 hold (c=0.0.0.0): answered inactive */
    struct sdp_answer_params p = {.ip = c->media.ip,
                                  .port = c->media.port,
                                  .session_id = c->sdp_id,
                                  .offer = &a,
                                  .dir = mirror(a.dir),
                                  .version = version};
    if (sdp_build_answer(answer, &p) != 0)
        return 488;
    if (!sdp)
        return 0;
    apply_offer(c, &a);
    if (c->state == CALL_RINGING)
        c->early_media = true; /* an early UPDATE's: the leg is connected before the 2xx */
    return 0;
}

static int request_cb(void *arg, const osip_message_t *req)
{
    struct call *c = arg;
    if (strcmp(req->sip_method, "NOTIFY") == 0)
        return call_refer__notify(c, req);
    if (strcmp(req->sip_method, "INFO") == 0)
        return call_info__incoming(c, req);
    return 501;
}

static void expired_cb(void *arg, int64_t at_ms)
{
    struct call *c = arg;
    log_warn("call.session_expired", "call %s: no session refresh from the far end: ended", c->id);
    call__finish(c, "failed", "system", 0, at_ms);
}

void call_dialog_hook(struct call *c)
{
    struct sip_dialog_hooks h = {
        .offer = offer_cb, .request = request_cb, .expired = expired_cb, .arg = c};
    if (c->sess)
        sip_session_set_hooks(c->sess, &h);
    if (c->uas)
        sip_uas_set_hooks(c->uas, &h);
}

int call_dialog__request(struct call *c, const struct sip_dialog_req *r, sip_dialog_resp_cb *cb,
                         void *arg)
{
    if (c->sess)
        return sip_session_request(c->sess, r, cb, arg);
    if (c->uas)
        return sip_uas_request(c->uas, r, cb, arg);
    return VP_E_CALL_NOT_IN_REQUIRED_STATE;
}

void call_dialog__ending(struct call *c)
{
    call_refer__ending(c);
    call_info__ending(c);
}

void call_dialog__free(struct call *c)
{
    call_refer__free(c);
    call_info__free(c);
}
