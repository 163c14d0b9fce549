/*
 * Forwarding numbers (call_forward.h). The inbound call (the parent) and its child are
 * linked as a transfer's are (call_bridge.c: parent_id, child_id, peer_id); what differs
 * is that the parent is not answered yet: it rings when the child rings, is answered
 * (200) when the child answers, and the two legs are bridged once the caller's ACK makes
 * the parent answered. Nothing here adds a SQL statement: the child's row came with the
 * parent's (cc_inbound_create), the moves are the usual ones, the bridge is
 * cc_calls_bridged.
 *
 * Early media: when the child's leg is connected to its 183's SDP (call_out.c sets
 * early_media and calls call_forward__child_early), the parent's leg is connected to the
 * caller's offer and bridged with the child's at once (call_bridge__early: media-fork
 * only), and the caller gets 183 with our answer; the 200 repeats it. The calls stay
 * ringing; the ACK's join of the same legs is the bridge the states and call.bridged
 * follow. Any ending releases both legs, which unbridges them.
 */
#include "call_forward.h"

#include <stdio.h>
#include <string.h>

#include "call_bridge.h"
#include "call_int.h"
#include "call_relay.h"
#include "sip_uas.h"
#include "voepy/err.h"
#include "voepy/log.h"
#include "voepy/nodes.h"
#include "voepy/pg.h"
#include "voepy/vtime.h"

static bool live(const struct call *c)
{
    return c && !c->abandoned && !call_state_terminal(c->state);
}

bool call_forward_created(struct call *c, const struct pg_result *res)
{
    const char *fid = pg_get(res, 0, "fwd_call_id");
    if (!fid || !fid[0])
        return false;
    c->relay = true;
    struct call_params cp = {.id = fid,
                             .tenant_id = c->tenant_id,
                             .leg_id = pg_get(res, 0, "fwd_leg_id"),
                             .from = pg_get(res, 0, "fwd_from"),
                             .to = pg_get(res, 0, "fwd_user"),
                             .route_id = pg_get(res, 0, "fwd_route_id"),
                             .sip_uri = pg_get(res, 0, "fwd_sip_uri"),
                             .transport = pg_get(res, 0, "fwd_transport"),
                             .timeout_secs = c->timeout_secs};
    vlog_kv(VLOG_INFO, "call.forwarding", "an inbound call to a forwarding number", "call_id",
            c->id, "child_call_id", fid, "forward_to", pg_get(res, 0, "fwd_to"), NULL);
    /*
     * Both legs on one media-fork node: the parent's is picked now and both are allocated
     * at once. When no node is known yet (the registry is read once a second), the
     * parent's allocation waits for one and the child's follows it (call_forward_hold).
     */
    const char *node = nodes_pick(c->cc->nodes, "media-fork");
    if (node)
        snprintf(c->media.node, sizeof(c->media.node), "%s", node);
    if (!cp.sip_uri) {
        log_error("call.forward_failed", "call %s: no route for the forwarding target", c->id);
        call__finish(c, "system_failure", "system", 503, vtime_now_ms());
    } else if (media__allocate(c) != 0) {
        call__finish(c, "system_failure", "system", 503, vtime_now_ms());
    }
    call_bridge__dial_child(c, &cp, ""); /* failed at once when the parent is already over */
    return true;
}

/*
 * The child has early media: the caller gets 183 with our SDP answer (the one the 200
 * repeats), the parent's leg is connected to the caller's offer and bridged with the
 * child's, so each side hears the other before the answer. Once per call, when the
 * parent's leg is allocated (else call_forward_hold comes back here); the parent rings.
 */
static void early_start(struct call *p, struct call *ch)
{
    if (p->relay_early || p->relay_answered || !p->uas || p->media.state != MEDIA_ALLOCATED ||
        !live(ch) || !ch->early_media || ch->media.state != MEDIA_ALLOCATED || ch->peer_id[0])
        return;
    int err = call_in__early_answer(p);
    if (err) {
        log_warn("call.forward_early_failed", "call %s: no 183 for the early media of %s: %s",
                 p->id, ch->id, vp_err_message(err));
        return; /* the caller hears nothing before the answer, as without early media */
    }
    p->relay_early = true;
    if (p->state == CALL_INITIATED)
        call_set_state(p, CALL_RINGING, vtime_now_ms());
    if (call_bridge__early(ch, p) != 0)
        log_warn("call.forward_early_failed", "call %s: the early bridge with %s was not sent",
                 p->id, ch->id); /* the answer's join asks again */
}

bool call_forward_hold(struct call *c)
{
    if (!c->relay)
        return false;
    struct call *ch = c->child_id[0] ? call__find(c->cc, c->child_id) : NULL;
    if (live(ch) && ch->media.state == MEDIA_NONE) { /* waited for the parent's node */
        snprintf(ch->media.node, sizeof(ch->media.node), "%s", c->media.node);
        if (media__allocate(ch) != 0)
            call__finish(ch, "system_failure", "system", 0, vtime_now_ms());
    }
    if (live(ch))
        early_start(c, ch); /* the child's early media came before the caller's leg */
    return !c->relay_answered;
}

void call_forward__child_early(struct call *ch)
{
    struct call *p = ch->parent_id[0] ? call__find(ch->cc, ch->parent_id) : NULL;
    if (live(p) && p->relay && strcmp(p->child_id, ch->id) == 0)
        early_start(p, ch);
}

/* The caller's final answer for a child that ended before the answer. */
static int status_for(const char *reason)
{
    if (strcmp(reason, "busy") == 0)
        return 486;
    if (strcmp(reason, "no_answer") == 0)
        return 480;
    return 503;
}

static void child_answered(struct call *p)
{
    p->relay_answered = true;
    uv_timer_stop(&p->timer); /* the caller's ring timeout: answered now */
    if (p->media.state == MEDIA_ALLOCATED)
        call_in__media_ready(p); /* 200 now; else when the leg is allocated */
}

void call_forward__child_moved(struct call *p, struct call *ch)
{
    if (!live(p))
        return; /* the parent's ending ends the child (call_bridge.c) */
    if (ch->state == CALL_RINGING && p->state == CALL_INITIATED && p->uas) {
        early_start(p, ch); /* a 183 with SDP whose early media came first: 183, no 180 */
        if (p->state == CALL_INITIATED && sip_uas_ringing(p->uas) == 0)
            call_set_state(p, CALL_RINGING, vtime_now_ms());
    } else if (ch->state == CALL_ANSWERED) {
        child_answered(p);
    } else if (call_state_terminal(ch->state)) {
        p->child_id[0] = '\0';
        bool answered = p->state == CALL_ANSWERED;
        log_info("call.forward_ended", "call %s: the forwarded call %s ended %s", p->id, ch->id,
                 ch->end_reason);
        call__finish(p, answered ? "completed" : ch->end_reason, "system",
                     answered ? 0 : status_for(ch->end_reason), vtime_now_ms());
    }
}

void call_forward__moved(struct call *p)
{
    if (p->state != CALL_ANSWERED || !p->relay_answered)
        return;
    struct call *ch = p->child_id[0] ? call__find(p->cc, p->child_id) : NULL;
    if (!live(ch) || ch->state != CALL_ANSWERED) {
        call__finish(p, "completed", "system", 0, vtime_now_ms());
        return;
    }
    p->child_id[0] = '\0';
    if (call_bridge__join(ch, p, "") != 0) {
        log_error("call.forward_failed", "call %s: the bridge command could not be sent", p->id);
        call__finish(p, "system_failure", "system", 0, vtime_now_ms());
        return;
    }
    call_relay_bridged(p);
}
