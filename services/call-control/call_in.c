/*
 * An inbound call over SIP. A new INVITE (sip_uas.h) to a number in E.164 with a usable
 * SDP offer becomes a call in memory at once and a row in one statement
 * (cc_inbound_create, proto/sql/0021_inbound.sql): a DID nobody has is answered 404, one
 * in the inventory (released, never sold) or of a suspended tenant 480, and for a DID of
 * an active tenant the row is written with call.started (direction inbound, node_id this
 * node, so that commands reach us), 180 goes out and the call is ringing (call.ringing).
 *
 * Then the tenant acts, through the node's inbox: answer allocates a media-fork leg,
 * sends 200 with our SDP answer and connects the leg to the caller's offer; the ACK makes
 * the call answered (call.answered, and the answer action done). reject answers 486
 * (user_busy, end_reason busy) or 603 (rejected). Without either, the ring timeout
 * (VOEPY_INBOUND_RING_TIMEOUT_MS) answers 480 (no_answer). The caller's CANCEL ends the
 * call canceled (initiator callee, 487), its BYE after the answer completed/callee; the
 * hangup command and every other ending go through call__finish, which gives the INVITE
 * its final answer or sends our BYE (call_in__ending).
 *
 * answer's record "record-from-answer" (record_channels, record_format) starts a recording
 * when the call is answered (call_record.c), and its stream_url a WebSocket media stream
 * (call_stream.c, the call_streams row the gateway wrote).
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "call_dialog.h"
#include "call_forward.h"
#include "call_int.h"
#include "call_record.h"
#include "call_stream.h"
#include "sdp_uas.h"
#include "sip_uas.h"
#include "voepy/buf.h"
#include "voepy/e164.h"
#include "voepy/err.h"
#include "voepy/json.h"
#include "voepy/log.h"
#include "voepy/pg.h"
#include "voepy/vtime.h"

static void uas_cb(struct sip_uas *u, enum sip_uas_event ev, int64_t at_ms, void *arg);

/* A SIP user part as a number: E.164 as it is, or digits that are E.164 with a '+'. */
static bool number_of(const char *user, char *out, size_t n)
{
    char plus[32];
    if (e164_valid(user)) {
        snprintf(out, n, "%s", user);
        return true;
    }
    if (strlen(user) + 2 > sizeof(plus))
        return false;
    snprintf(plus, sizeof(plus), "+%s", user);
    if (!e164_valid(plus))
        return false;
    snprintf(out, n, "%s", plus);
    return true;
}

static void refuse(struct sip_uas *u, const struct sip_uas_offer *o, int status, const char *why)
{
    char st[8];
    snprintf(st, sizeof(st), "%d", status);
    vlog_kv(VLOG_INFO, "call.inbound_refused", why, "sip_call_id", o->call_id, "to", o->to_user,
            "status", st, NULL);
    sip_uas_end(u, status);
}

static void ring_timeout_cb(uv_timer_t *t)
{
    struct call *c = t->data;
    log_info("call.no_action", "inbound call %s: no answer or reject in time: 480", c->id);
    call__finish(c, "no_answer", "system", 480, vtime_now_ms());
}

static void start_answer(struct call *c, const char *action_id)
{
    c->answering = true;
    snprintf(c->answer_action, sizeof(c->answer_action), "%s", action_id);
    c->answer_note = NULL;    /* record and stream_url are carried out once answered */
    uv_timer_stop(&c->timer); /* the media timeout and the ACK wait bound the rest */
    vlog_kv(VLOG_INFO, "call.answering", "answering an inbound call", "call_id", c->id, "action_id",
            action_id, NULL);
    if (media__allocate(c) != 0)
        call__finish(c, "system_failure", "system", 0, vtime_now_ms());
}

static void do_reject(struct call *c, const char *action_id, bool busy)
{
    store__action_result(c, action_id, true, NULL);
    call__finish(c, busy ? "busy" : "rejected", "api", busy ? 486 : 603, vtime_now_ms());
}

/* The row is written: ring, or carry out what the tenant asked meanwhile. */
static void on_created(struct call *c)
{
    if (call_state_terminal(c->state) || !c->uas)
        return; /* ended meanwhile: its end is the next statement */
    if (strcmp(c->early.verb, "reject") == 0) {
        do_reject(c, c->early.action_id, c->early.busy);
        return;
    }
    if (sip_uas_ringing(c->uas) == 0)
        call_set_state(c, CALL_RINGING, vtime_now_ms());
    if (strcmp(c->early.verb, "answer") == 0)
        start_answer(c, c->early.action_id);
}

static void created_cb(struct call *c, int status, const struct pg_result *res)
{
    const char *outcome = status == 0 && pg_ntuples(res) > 0 ? pg_get(res, 0, "outcome") : NULL;
    const char *tenant = outcome ? pg_get(res, 0, "tenant_id") : NULL;
    c->creating = false;
    if (outcome && strcmp(outcome, "created") == 0 && tenant) {
        snprintf(c->tenant_id, sizeof(c->tenant_id), "%s", tenant);
        if (call_forward_created(c, res))
            return; /* a forwarding number: call_forward.c rings and answers */
        on_created(c);
        return;
    }
    int sip = !outcome ? 500 : strcmp(outcome, "unknown") == 0 ? 404 : 480;
    char st[8];
    snprintf(st, sizeof(st), "%d", sip);
    vlog_kv(VLOG_INFO, "call.inbound_refused", "no tenant takes calls to this number", "call_id",
            c->id, "to", c->to, "outcome", outcome ? outcome : vp_err_message(status), "status", st,
            NULL);
    /* No row was written: nothing to record. */
    uv_timer_stop(&c->timer);
    if (c->uas) {
        sip_uas_end(c->uas, sip);
        c->uas = NULL;
    }
    if (!call_state_terminal(c->state))
        c->state = CALL_FAILED;
    c->end_recorded = true;
    c->abandoned = true;
}

/* Returns false when no call could be made (the INVITE is still the caller's to refuse). */
static bool create(struct cc *cc, struct sip_uas *u, const struct sip_uas_offer *o,
                   const char *from, const char *to, const struct sdp_answer *offer)
{
    char id[ID_MAX], leg[ID_MAX];
    unsigned ms = cc->opts.inbound_ring_timeout_ms;
    int secs = (int)((ms + 999) / 1000);
    struct call_params p = {.id = id,
                            .tenant_id = "",
                            .leg_id = leg,
                            .from = from,
                            .to = to,
                            .timeout_secs = secs < 1     ? 1
                                            : secs > 600 ? 600
                                                         : secs,
                            .inbound = true};
    if (id_new(id, sizeof(id), "call") != 0 || id_new(leg, sizeof(leg), "leg") != 0)
        return false;
    struct call *c = call__create(cc, &p);
    if (!c)
        return false;
    c->uas = u;
    c->offer = *offer;
    c->creating = true;
    sip_uas_bind(u, uas_cb, c);
    call_dialog_hook(c); /* re-INVITEs, NOTIFY, INFO, session timers */
    uv_timer_start(&c->timer, ring_timeout_cb, ms, 0);
    store__inbound_create(c, o->call_id, o->at_ms, created_cb);
    call__maybe_free(c); /* a statement that could not even be queued ended it (500) */
    return true;
}

void call_in_invite_cb(struct sip_uas *u, const struct sip_uas_offer *o, void *arg)
{
    struct cc *cc = arg;
    char to[32], from[32];
    struct sdp_answer offer;
    if (cc->draining || cc->stopped) {
        refuse(u, o, 503, "the node is draining: no new calls");
        return;
    }
    if (!number_of(o->to_user, to, sizeof(to))) {
        refuse(u, o, 404, "the called user is not a number");
        return;
    }
    if (!o->sdp || o->sdp_len > SDP_MAX_LEN || sdp_parse_answer(o->sdp, o->sdp_len, &offer) != 0) {
        refuse(u, o, 488, "the INVITE has no SDP offer we can answer (PCMU, PCMA, G722, OPUS)");
        return;
    }
    if (!number_of(o->from_user, from, sizeof(from)))
        snprintf(from, sizeof(from), "anonymous"); /* caller ID withheld or not a number */
    if (!create(cc, u, o, from, to, &offer))
        refuse(u, o, 500, "the call could not be made");
}

/*
 * Our SDP answer to the caller's offer. Built with the same session id each time (the first
 * build picks it), so that a forwarding's 183 and its 200 carry the same answer (RFC 3264:
 * the 200 repeats the answer an early 183 gave).
 */
static int build_answer(struct call *c, struct buf *b)
{
    if (!c->sdp_id)
        c->sdp_id = (uint64_t)vtime_now_ms(); /* also for our answers to re-offers */
    struct sdp_answer_params p = {
        .ip = c->media.ip, .port = c->media.port, .session_id = c->sdp_id, .offer = &c->offer};
    return sdp_build_answer(b, &p);
}

/* Send our answer in a 183 (early) or the 200. */
static int send_answer(struct call *c, bool early)
{
    struct buf b = BUF_INIT;
    int err = build_answer(c, &b);
    if (!err)
        err = early ? sip_uas_progress(c->uas, b.data) : sip_uas_answer(c->uas, b.data);
    buf_free(&b);
    return err;
}

int call_in__early_answer(struct call *c)
{
    if (call_state_terminal(c->state) || !c->uas || c->media.state != MEDIA_ALLOCATED)
        return VP_E_CLOSED;
    int err = send_answer(c, true);
    if (err)
        return err;
    media__connect(c, &c->offer); /* the 200 repeats the same answer: no second connect */
    store__leg_media(c, NULL);
    return 0;
}

void call_in__media_ready(struct call *c)
{
    if (call_state_terminal(c->state) || !c->uas || call_forward_hold(c))
        return; /* a forwarded call is answered when its child answers */
    int err = send_answer(c, false);
    if (err) {
        log_error("call.answer_failed", "inbound call %s: the 200 could not be sent: %s", c->id,
                  vp_err_message(err));
        call__finish(c, "system_failure", "system", 0, vtime_now_ms());
        return;
    }
    if (c->relay_early)
        return; /* connected and written with the 183 (call_forward.c) */
    media__connect(c, &c->offer);
    store__leg_media(c, NULL);
}

static void on_confirmed(struct call *c, int64_t at_ms)
{
    if (call_state_terminal(c->state))
        return;
    c->answer_status = 200;
    snprintf(c->remote_media, sizeof(c->remote_media), "%s:%d", c->offer.ip, c->offer.port);
    snprintf(c->codec, sizeof(c->codec), "%s", c->offer.codec);
    c->answered_ms = at_ms;
    call_set_state(c, CALL_ANSWERED, at_ms);
}

static void uas_cb(struct sip_uas *u, enum sip_uas_event ev, int64_t at_ms, void *arg)
{
    struct call *c = arg;
    (void)u;
    switch (ev) {
    case SIP_UAS_CONFIRMED:
        on_confirmed(c, at_ms);
        break;
    case SIP_UAS_CANCELED:
        call__finish(c, "canceled", "callee", 487, at_ms);
        break;
    case SIP_UAS_CLOSED:
        call__finish(c, "completed", "callee", 0, at_ms);
        break;
    case SIP_UAS_FAILED:
        /* no ACK for our 200, or the stack ended the INVITE's transaction (a send failed) */
        log_warn("call.inbound_failed",
                 "inbound call %s: the INVITE's dialog failed (no ACK for our 200, or its "
                 "transaction ended after a failed send)",
                 c->id);
        call__finish(c, "failed", "system", 0, at_ms);
        break;
    }
}

/* The final answer an INVITE gets when the call ends before it is answered. */
static int final_status(const struct call *c)
{
    if (c->end_sip_status >= 300)
        return c->end_sip_status;
    return strcmp(c->end_reason, "system_failure") == 0 ? 503 : 480;
}

void call_in__ending(struct call *c)
{
    if (c->answer_action[0] && !c->answered_ms) {
        char why[160];
        snprintf(why, sizeof(why), "the call ended (%s) before it could be answered",
                 c->end_reason);
        store__action_result(c, c->answer_action, false, why);
    }
    if (c->uas) {
        sip_uas_end(c->uas, final_status(c));
        c->uas = NULL;
    }
}

/* The call an answer or reject may act on, or VP_E_* with why. */
static int waiting_call(struct cc *cc, const char *call_id, struct call **cp, char *why, size_t n)
{
    struct call *c = call__find(cc, call_id);
    if (!c) {
        snprintf(why, n, "call %s is not live on this node", call_id);
        return VP_E_NOT_FOUND;
    }
    if (!c->inbound || !c->uas || c->answering || call_state_terminal(c->state) ||
        c->state == CALL_ANSWERED || c->state == CALL_BRIDGED || c->relay ||
        (c->creating && c->early.verb[0])) {
        snprintf(why, n, "call %s is not an inbound call waiting for an answer", call_id);
        return VP_E_CONFLICT;
    }
    *cp = c;
    return 0;
}

static void stash(struct call *c, const char *verb, const char *action_id)
{
    snprintf(c->early.verb, sizeof(c->early.verb), "%s", verb);
    snprintf(c->early.action_id, sizeof(c->early.action_id), "%s", action_id);
}

int call_in_answer(struct cc *cc, const char *call_id, const char *action_id, const json_t *params,
                   char *why, size_t n)
{
    struct call *c;
    int err = waiting_call(cc, call_id, &c, why, n);
    if (err)
        return err;
    call_record_answer_params(c, params); /* record: started once answered */
    call_stream_answer_params(c, params); /* stream_url: likewise (call_stream.c) */
    if (c->creating) {
        stash(c, "answer", action_id);
        return 0;
    }
    start_answer(c, action_id);
    return 0;
}

int call_in_reject(struct cc *cc, const char *call_id, const char *action_id, const char *cause,
                   char *why, size_t n)
{
    struct call *c;
    bool busy = cause && strcmp(cause, "user_busy") == 0;
    if (!busy && (!cause || strcmp(cause, "rejected") != 0)) {
        snprintf(why, n, "reject needs cause user_busy or rejected");
        return VP_E_INVALID_PARAMETER;
    }
    int err = waiting_call(cc, call_id, &c, why, n);
    if (err)
        return err;
    if (c->creating) {
        stash(c, "reject", action_id);
        c->early.busy = busy;
        return 0;
    }
    do_reject(c, action_id, busy);
    return 0;
}
