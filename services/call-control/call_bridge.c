/*
 * transfer and bridge (call_bridge.h). The link between two calls is by id, never by
 * pointer (either may be freed first): struct call's peer_id (bridged or being bridged
 * with), parent_id (a transfer's child: the call it joins once answered), child_id (the
 * transfer dialling for this call) and bridge_action (the action the bridge completes,
 * on the call whose leg the bridge command names).
 *
 *   transfer: cc_transfer_create (on the parent's SQL queue) -> child call created here,
 *     its leg allocated on the parent's media node -> INVITE (call_out.c) -> answered:
 *     bridge command -> media-fork's bridged -> cc_calls_bridged (on the child's queue,
 *     behind its answer) -> both bridged, action done.
 *   bridge: the two calls checked here -> bridge command -> bridged -> as above.
 */
#include "call_bridge.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "call_forward.h"
#include "call_int.h"
#include "call_media.h"
#include "voepy/alloc.h"
#include "voepy/err.h"
#include "voepy/id.h"
#include "voepy/json.h"
#include "voepy/log.h"
#include "voepy/pg.h"
#include "voepy/vtime.h"

bool call_bridge_is_verb(const char *op)
{
    return op && (strcmp(op, "transfer") == 0 || strcmp(op, "bridge") == 0);
}

bool call_bridge_is_reply(const char *op)
{
    return op && (strcmp(op, "bridged") == 0 || strcmp(op, "unbridged") == 0);
}

bool call_bridge_is_request(const char *request)
{
    return request && strcmp(request, "bridge") == 0;
}

static bool live(const struct call *c)
{
    return c && !c->abandoned && !call_state_terminal(c->state);
}

static bool talking(const struct call *c)
{
    return live(c) && (c->state == CALL_ANSWERED || c->state == CALL_BRIDGED) &&
           c->media.state == MEDIA_ALLOCATED;
}

/* ---- action rows ---- */

static void direct_cb(int status, const struct pg_result *res, void *arg)
{
    (void)res;
    (void)arg;
    if (status)
        log_warn("bridge.action_lost", "an action result was not recorded: %s",
                 vp_err_message(status));
}

/* Fail action (of call_id) with note: on the call's queue while it is here, else direct. */
static void action_failed(struct cc *cc, const char *call_id, const char *action, const char *note)
{
    vlog_kv(VLOG_INFO, "bridge.action_failed", note, "call_id", call_id, "action_id", action, NULL);
    struct call *c = call__find(cc, call_id);
    if (c && !c->abandoned) {
        store__action_result(c, action, false, note);
        return;
    }
    const char *params[] = {action, call_id, note};
    if (pg_exec(cc->pg, "SELECT cc_action_failed($1, $2, $3)", 3, params, direct_cb, NULL) != 0)
        log_warn("bridge.action_lost", "an action result was not recorded: the queue is full");
}

/* ---- joining ---- */

/* a leaves the peer it has for another: that peer is hung up (bridged to nobody). */
static void drop_old_peer(struct call *a, const struct call *b)
{
    if (!a->peer_id[0] || strcmp(a->peer_id, b->id) == 0)
        return;
    struct call *old = call__find(a->cc, a->peer_id);
    a->peer_id[0] = '\0';
    if (!live(old))
        return;
    old->peer_id[0] = '\0';
    log_info("bridge.peer_dropped", "call %s leaves call %s for call %s: %s is hung up", a->id,
             old->id, b->id, old->id);
    call__finish(old, "completed", "system", 0, vtime_now_ms());
}

/*
 * Ask a's media node to bridge a's leg with b's; action (on a or b, "" none) completes
 * when media-fork says bridged. Returns 0 or VP_E_UNAVAILABLE (not sent; nothing changed).
 */
/* The bridge command for a's and b's legs, to a's media node. 0 or VP_E_UNAVAILABLE. */
static int send_bridge(struct call *a, const struct call *b)
{
    json_t *cmd =
        json_pack("{s:s, s:s, s:s}", "op", "bridge", "leg_id", a->leg_id, "peer_leg_id", b->leg_id);
    return media__send_verb(a, cmd);
}

int call_bridge__early(struct call *a, struct call *b)
{
    int err = send_bridge(a, b);
    if (!err)
        vlog_kv(VLOG_INFO, "bridge.early", "bridging two legs before the answer", "call_id", a->id,
                "peer_call_id", b->id, "media_node", a->media.node, NULL);
    return err;
}

int call_bridge__join(struct call *a, struct call *b, const char *action)
{
    int err = send_bridge(a, b); /* legs bridged early: media-fork keeps them as they are */
    if (err)
        return err;
    drop_old_peer(a, b);
    drop_old_peer(b, a);
    snprintf(a->peer_id, sizeof(a->peer_id), "%s", b->id);
    snprintf(b->peer_id, sizeof(b->peer_id), "%s", a->id);
    if (action != a->bridge_action) /* a transfer's child passes its own */
        snprintf(a->bridge_action, sizeof(a->bridge_action), "%s", action);
    vlog_kv(VLOG_INFO, "bridge.join", "bridging two calls", "call_id", a->id, "peer_call_id", b->id,
            "media_node", a->media.node, NULL);
    return 0;
}

/* ---- the transfer's child ---- */

/* Later than now, from the loop: ends a call whose move is still being handled. */
static void finish_soon_cb(uv_timer_t *t)
{
    struct call *c = t->data;
    call__finish(c, c->soon_reason, "system", 0, vtime_now_ms());
}

static void finish_soon(struct call *c, const char *reason)
{
    c->soon_reason = reason;
    uv_timer_start(&c->timer, finish_soon_cb, 0, 0);
}

static void child_answered(struct call *ch, struct call *parent)
{
    if (!talking(parent)) {
        log_info("bridge.parent_gone", "call %s answered but its parent %s is over", ch->id,
                 ch->parent_id);
        finish_soon(ch, "completed");
        return;
    }
    parent->child_id[0] = '\0';
    if (call_bridge__join(ch, parent, ch->bridge_action) == 0)
        return;
    action_failed(ch->cc, parent->id, ch->bridge_action,
                  "bridge_not_possible: the bridge command could not be sent to media-fork");
    finish_soon(ch, "system_failure");
}

static void child_failed(struct call *ch, struct call *parent)
{
    if (parent && strcmp(parent->child_id, ch->id) == 0)
        parent->child_id[0] = '\0';
    char note[160];
    snprintf(note, sizeof(note), "transfer_failed: the transfer target's call ended %s (%s)",
             ch->end_reason, ch->id);
    if (ch->bridge_action[0])
        action_failed(ch->cc, ch->parent_id, ch->bridge_action, note);
}

/* A child (of a transfer or forwarding) moved before being bridged. */
static void child_moved(struct call *ch)
{
    struct call *parent = call__find(ch->cc, ch->parent_id);
    if (parent && parent->relay) {
        call_forward__child_moved(parent, ch); /* call_forward.c answers the caller */
        return;
    }
    if (ch->state == CALL_ANSWERED)
        child_answered(ch, parent);
    else if (call_state_terminal(ch->state))
        child_failed(ch, parent);
}

/* ---- endings ---- */

static const char *partner_initiator(const struct call *c)
{
    return c->end_initiator && strcmp(c->end_initiator, "api") == 0 ? "api" : "system";
}

static void ended(struct call *c)
{
    struct call *child = c->child_id[0] ? call__find(c->cc, c->child_id) : NULL;
    if (live(child)) {
        log_info("bridge.child_canceled", "call %s ended while its transfer %s rang", c->id,
                 child->id);
        call__finish(child, child->state == CALL_ANSWERED ? "completed" : "canceled", "system", 0,
                     vtime_now_ms());
    }
    struct call *peer = c->peer_id[0] ? call__find(c->cc, c->peer_id) : NULL;
    if (live(peer) && strcmp(peer->peer_id, c->id) == 0) {
        log_info("bridge.peer_ended", "call %s ended: its bridged call %s ends too", c->id,
                 peer->id);
        call__finish(peer, "completed", partner_initiator(c), 0, vtime_now_ms());
    }
}

void call_bridge__moved(struct call *c)
{
    if (c->relay && !call_state_terminal(c->state))
        call_forward__moved(c);
    if (c->parent_id[0] && !c->peer_id[0])
        child_moved(c);
    if (call_state_terminal(c->state))
        ended(c);
}

/* ---- media-fork's answers ---- */

/* The action the bridge of a and b completes (on either), or "". */
static char *pending_action(struct call *a, struct call *b)
{
    return a->bridge_action[0] || !b ? a->bridge_action : b->bridge_action;
}

static void store_bridged(struct call *on, struct call *other, store_then_cb *then)
{
    char ms[24];
    snprintf(ms, sizeof(ms), "%lld", (long long)vtime_now_ms());
    const char *action = pending_action(on, other);
    const char *args[] = {other->id, action[0] ? action : NULL, ms};
    store__sql(on, "SELECT cc_calls_bridged($1, $2, $3, $4, $5) AS moved", args, 3, true, then);
}

static void stored_again(struct call *on, int status, const struct pg_result *res)
{
    (void)status;
    (void)res;
    struct call *other = on->peer_id[0] ? call__find(on->cc, on->peer_id) : NULL;
    pending_action(on, other)[0] = '\0';
}

/*
 * Each call's moves are written in order on its own queue, but two calls' queues run side
 * by side: the other call's answer may not be committed yet (a forwarded call is answered
 * right before its legs are bridged). cc_calls_bridged then changes nothing and is run
 * once more behind the other call's statements.
 */
static void stored(struct call *on, int status, const struct pg_result *res)
{
    const char *v = status == 0 && pg_ntuples(res) > 0 ? pg_get(res, 0, "moved") : NULL;
    bool moved = v && strcmp(v, "t") == 0;
    struct call *other = on->peer_id[0] ? call__find(on->cc, on->peer_id) : NULL;
    if (!moved && status == 0 && live(other) && strcmp(other->peer_id, on->id) == 0) {
        store_bridged(other, on, stored_again);
        return;
    }
    pending_action(on, other)[0] = '\0';
}

static void bridged(struct call *c, struct call *peer)
{
    int64_t now = vtime_now_ms();
    if (c->state == CALL_ANSWERED)
        call_set_state(c, CALL_BRIDGED, now);
    if (peer->state == CALL_ANSWERED)
        call_set_state(peer, CALL_BRIDGED, now);
    /* on the queue of the call answered last: its answer is written first */
    if (peer->answered_ms > c->answered_ms)
        store_bridged(peer, c, stored);
    else
        store_bridged(c, peer, stored);
}

void call_bridge_reply(struct cc *cc, const json_t *m)
{
    const char *op = vjson_str(m, "op");
    const char *leg = vjson_str(m, "leg_id");
    const char *peer_call = vjson_str(m, "peer_call_id");
    struct call *c = call__find(cc, vjson_str(m, "call_id") ? vjson_str(m, "call_id") : "");
    if (strcmp(op, "bridged") != 0 || !live(c) || !leg || strcmp(leg, c->leg_id) != 0)
        return;           /* unbridged is only logged: the ending that asked for it does the rest */
    if (!c->peer_id[0]) { /* an early bridge (call_bridge__early): no move until the join */
        log_debug("bridge.early_done", "media-fork bridged call %s's leg before the answer", c->id);
        return;
    }
    struct call *peer = call__find(cc, c->peer_id);
    if (!live(peer) || !peer_call || strcmp(peer_call, peer->id) != 0) {
        log_info("bridge.stale", "media-fork bridged call %s with a call no longer its peer",
                 c->id);
        return;
    }
    bridged(c, peer);
}

void call_bridge__media_failed(struct call *c, const json_t *m)
{
    if (!c->peer_id[0] && !c->bridge_action[0]) {
        /* an early bridge (a join names its peer first): the calls go on without early
         * media, and the answer's join asks again */
        vlog_kv(VLOG_WARN, "bridge.early_failed", "media-fork refused the early bridge", "call_id",
                c->id, "error", vjson_str(m, "error"), "detail", vjson_str(m, "detail"), NULL);
        return;
    }
    char note[256];
    snprintf(note, sizeof(note), "bridge_not_possible: media-fork refused the bridge (%s%s%s)",
             vjson_str(m, "error") ? vjson_str(m, "error") : "error",
             vjson_str(m, "detail") ? ": " : "",
             vjson_str(m, "detail") ? vjson_str(m, "detail") : "");
    struct call *peer = c->peer_id[0] ? call__find(c->cc, c->peer_id) : NULL;
    if (c->bridge_action[0]) {
        /* the action is the parent's (a transfer's child) or c's own (bridge) */
        action_failed(c->cc, c->parent_id[0] ? c->parent_id : c->id, c->bridge_action, note);
        c->bridge_action[0] = '\0';
    }
    if (peer && strcmp(peer->peer_id, c->id) == 0)
        peer->peer_id[0] = '\0';
    c->peer_id[0] = '\0';
    if (c->parent_id[0] && live(c))
        call__finish(c, "system_failure", "system", 0, vtime_now_ms());
}

/* ---- the actions ---- */

/* A number column of a result (NULL: 0). */
static long long int_of(const char *v)
{
    return v ? strtoll(v, NULL, 10) : 0;
}

static void transfer_created(struct call *p, int status, const struct pg_result *res)
{
    char action[ID_MAX];
    snprintf(action, sizeof(action), "%s", p->bridge_action);
    p->bridge_action[0] = '\0';
    if (status) {
        struct vp_error e = {0};
        if (status == VP_E_DB)
            pg_result_error(res, &e);
        char note[320];
        snprintf(note, sizeof(note), "%s: %s", vp_err_code(e.err ? e.err : status),
                 e.message[0] ? e.message : vp_err_message(status));
        action_failed(p->cc, p->id, action, note);
        return;
    }
    struct call_params cp = {.id = pg_get(res, 0, "call_id"),
                             .tenant_id = p->tenant_id,
                             .leg_id = pg_get(res, 0, "leg_id"),
                             .from = pg_get(res, 0, "from_number"),
                             .to = pg_get(res, 0, "to_number"),
                             .route_id = pg_get(res, 0, "route_id"),
                             .sip_uri = pg_get(res, 0, "sip_uri"),
                             .transport = pg_get(res, 0, "transport"),
                             .timeout_secs = (int)int_of(pg_get(res, 0, "timeout_secs"))};
    call_bridge__dial_child(p, &cp, action);
}

struct call *call_bridge__dial_child(struct call *p, const struct call_params *cp,
                                     const char *action)
{
    struct call *ch = cp->id && cp->leg_id ? call__create(p->cc, cp) : NULL;
    if (!ch) {
        if (action[0])
            action_failed(p->cc, p->id, action, "transfer_failed: the new call was not created");
        return NULL;
    }
    snprintf(ch->parent_id, sizeof(ch->parent_id), "%s", p->id);
    snprintf(ch->bridge_action, sizeof(ch->bridge_action), "%s", action);
    snprintf(ch->media.node, sizeof(ch->media.node), "%s", p->media.node);
    if (!live(p) || (!p->relay && !talking(p))) {
        call__finish(ch, "canceled", "system", 0, vtime_now_ms()); /* the parent went meanwhile */
        return NULL;
    }
    snprintf(p->child_id, sizeof(p->child_id), "%s", ch->id);
    if (!ch->media.node[0] && p->relay)
        return ch; /* allocated with the parent's node, once known (call_forward_hold) */
    if (media__allocate(ch) != 0)
        call__finish(ch, "system_failure", "system", 0, vtime_now_ms());
    return ch;
}

static int do_transfer(struct call *p, const char *action, const json_t *params, char *why,
                       size_t n)
{
    const char *to = vjson_str(params, "to");
    const char *from = vjson_str(params, "from");
    long long timeout = vjson_int(params, "timeout_secs", 30);
    if (!to || timeout < 1 || timeout > 600) {
        snprintf(why, n, "transfer needs to and timeout_secs 1..600");
        return VP_E_INVALID_PARAMETER;
    }
    char t[16];
    snprintf(t, sizeof(t), "%lld", timeout);
    snprintf(p->bridge_action, sizeof(p->bridge_action), "%s", action);
    const char *args[] = {action, to, from, t};
    store__sql(p, "SELECT * FROM cc_transfer_create($1, $2, $3, $4, $5, $6)", args, 4, true,
               transfer_created);
    return 0;
}

/* The live call of this node whose leg is leg_id, or NULL. */
static struct call *call_of_leg(struct cc *cc, const char *leg_id)
{
    size_t n = strmap_count(cc->calls);
    struct call **all = vp_malloc((n ? n : 1) * sizeof(*all));
    n = strmap_values(cc->calls, (void **)all, n);
    struct call *found = NULL;
    for (size_t i = 0; i < n && !found; i++)
        if (live(all[i]) && strcmp(all[i]->leg_id, leg_id) == 0)
            found = all[i];
    free(all);
    return found;
}

static int not_possible(char *why, size_t n, const char *sentence, const char *leg)
{
    snprintf(why, n, "bridge_not_possible: %s (leg %s)", sentence, leg);
    return VP_E_CONFLICT;
}

static int do_bridge(struct call *c, const char *action, const json_t *params, char *why, size_t n)
{
    const char *leg = vjson_str(params, "leg_id");
    if (!leg || !id_valid(leg, "leg")) {
        snprintf(why, n, "bridge needs leg_id");
        return VP_E_INVALID_PARAMETER;
    }
    struct call *o = call_of_leg(c->cc, leg);
    if (!o)
        return not_possible(why, n,
                            "the other call is not carried by the call-control node of this "
                            "one; both calls must be",
                            leg);
    if (o == c)
        return not_possible(why, n, "a call cannot be bridged with itself", leg);
    if (!talking(o))
        return not_possible(why, n, "the other call is not answered with a media leg", leg);
    if (strcmp(o->media.node, c->media.node) != 0)
        return not_possible(why, n, "the two legs are on different media-fork nodes", leg);
    if (o->child_id[0] || o->bridge_action[0] || (o->parent_id[0] && !o->peer_id[0]))
        return not_possible(why, n, "the other call is being transferred or bridged", leg);
    if (call_bridge__join(c, o, action) != 0) {
        snprintf(why, n, "the bridge command could not be sent to media-fork");
        return VP_E_UNAVAILABLE;
    }
    return 0;
}

int call_bridge_action(struct cc *cc, const char *op, const char *call_id, const char *action_id,
                       const json_t *params, char *why, size_t n)
{
    struct call *c = call__find(cc, call_id);
    if (!live(c)) {
        snprintf(why, n, "call %s is not live on this node", call_id);
        return VP_E_NOT_FOUND;
    }
    if (!talking(c)) {
        snprintf(why, n, "call %s is not answered with a media leg on this node", call_id);
        return VP_E_CONFLICT;
    }
    if (c->child_id[0] || c->bridge_action[0]) {
        snprintf(why, n, "call %s has a transfer or bridge in progress", call_id);
        return VP_E_CONFLICT;
    }
    if (strcmp(op, "transfer") == 0)
        return do_transfer(c, action_id, params, why, n);
    return do_bridge(c, action_id, params, why, n);
}
