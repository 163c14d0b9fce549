/*
 * Calls: the registry, the bookkeeping of each state move, and the ending of a call
 * (SIP hung up, media released, the end recorded, the memory freed).
 */
#include <assert.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "call_dialog.h"
#include "call_bridge.h"
#include "call_amd.h"
#include "call_int.h"
#include "call_record.h"
#include "call_relay.h"
#include "call_stream.h"
#include "call_route.h"
#include "sip_session.h"
#include "sip_uas.h"
#include "voepy/alloc.h"
#include "voepy/log.h"
#include "voepy/metrics.h"
#include "voepy/vtime.h"

static void update_live_gauge(struct cc *cc)
{
    metric_set(metrics_gauge("voepy_cc_live_calls", "calls this node carries now", NULL),
               (int64_t)strmap_count(cc->calls));
}

struct call *call__find(struct cc *cc, const char *id)
{
    return strmap_get(cc->calls, id);
}

bool call_known(struct cc *cc, const char *call_id)
{
    return call__find(cc, call_id) != NULL;
}

struct call *call__create(struct cc *cc, const struct call_params *p)
{
    struct call *c = VP_NEW(c);
    c->cc = cc;
    snprintf(c->id, sizeof(c->id), "%s", p->id);
    snprintf(c->tenant_id, sizeof(c->tenant_id), "%s", p->tenant_id);
    snprintf(c->leg_id, sizeof(c->leg_id), "%s", p->leg_id ? p->leg_id : "");
    snprintf(c->route_id, sizeof(c->route_id), "%s", p->route_id ? p->route_id : "");
    snprintf(c->from, sizeof(c->from), "%s", p->from);
    snprintf(c->to, sizeof(c->to), "%s", p->to);
    c->sip_uri = vp_strdup(p->sip_uri ? p->sip_uri : "");
    c->proto = SIP_UDP;
    if (p->transport)
        sip_proto_parse(p->transport, &c->proto);
    c->timeout_secs = p->timeout_secs > 0 ? p->timeout_secs : 60;
    c->time_limit_secs = p->time_limit_secs > 0 ? p->time_limit_secs : 0;
    c->inbound = p->inbound;
    c->routes = p->routes;
    c->state = CALL_INITIATED;
    c->q_tail = &c->q_head;
    uv_timer_init(cc->loop, &c->timer);
    uv_timer_init(cc->loop, &c->media_timer);
    c->timer.data = c;
    c->media_timer.data = c;
    c->handles = 2;
    if (strmap_put(cc->calls, c->id, c) != 0) {
        log_error("call.duplicate", "call %s is already carried here", c->id);
        c->abandoned = true;
        c->end_recorded = true;
        c->state = CALL_FAILED;
        call__maybe_free(c);
        return NULL;
    }
    update_live_gauge(cc);
    vlog_kv(VLOG_INFO, "call.claimed", "this node carries the call", "call_id", c->id, "direction",
            c->inbound ? "inbound" : "outbound", "tenant_id", c->tenant_id, "to", c->to, "route",
            c->sip_uri, NULL);
    return c;
}

/*
 * The answered statement's result: it also said (one round trip, not one statement each)
 * what the answered leg starts: the automatic recording it wrote (the record option of
 * the creation or the answer), answering-machine detection (outbound, premium), a relay
 * number's media (call_relay.c).
 */
static void answered_cb(struct call *c, int status, const struct pg_result *res)
{
    call_record_answered(c, status, res);
    if (!c->inbound)
        call_amd_answered(c, status, res);
    call_relay_answered(c, status, res);
}

bool call_set_state(struct call *c, enum call_state to, int64_t at_ms)
{
    if (!call_state_can_move(c->state, to)) {
        log_error("call.illegal_move", "call %s cannot move from %s to %s", c->id,
                  call_state_name(c->state), call_state_name(to));
        assert(!"illegal call state move");
        return false;
    }
    vlog_kv(VLOG_INFO, "call.state", "call state changed", "call_id", c->id, "from",
            call_state_name(c->state), "to", call_state_name(to), NULL);
    c->state = to;
    if (to == CALL_RINGING)
        store__ringing(c, at_ms);
    else if (to == CALL_ANSWERED) {
        store__answered(c, at_ms, answered_cb);
        call_stream_answered(c); /* answer's stream_url (call_stream.c) */
    }
    if (to == CALL_RINGING || to == CALL_ANSWERED)
        call_bridge__moved(c); /* a transfer's or forwarding's child: join its parent */
    return true;
}

static void count_end(struct call *c)
{
    char labels[128];
    snprintf(labels, sizeof(labels), "status=\"%s\",end_reason=\"%s\"", call_state_name(c->state),
             c->end_reason);
    metric_inc(
        metrics_counter("voepy_cc_calls_total", "calls ended, by final status and reason", labels));
}

void call__finish(struct call *c, const char *reason, const char *initiator, int sip_status,
                  int64_t at_ms)
{
    if (call_state_terminal(c->state))
        return;
    enum call_state to =
        c->state == CALL_ANSWERED || c->state == CALL_BRIDGED ? CALL_ENDED : CALL_FAILED;
    if (!call_set_state(c, to, at_ms))
        return;
    c->end_reason = reason;
    c->end_initiator = initiator;
    c->end_sip_status = sip_status;
    c->end_ms = at_ms;
    char status[8];
    snprintf(status, sizeof(status), "%d", sip_status);
    vlog_kv(VLOG_INFO, "call.ending", "the call is over", "call_id", c->id, "status",
            call_state_name(to), "end_reason", reason, "end_initiator", initiator, "sip_status",
            sip_status ? status : NULL, NULL);
    count_end(c);
    uv_timer_stop(&c->timer);
    call_dialog__ending(c); /* a refer or INFO digits in progress fail */
    if (c->sess) {
        sip_session_terminate(c->sess);
        c->sess = NULL;
    }
    if (c->inbound)
        call_in__ending(c);
    if (!media__release(c))
        call__record_end(c);
    call_bridge__moved(c); /* a bridged peer or a transfer's child ends too */
}

void call__record_end(struct call *c)
{
    if (c->abandoned || c->end_recorded)
        return;
    if (c->media.gone) {
        /* Nobody will report the end of its recordings, streams or transcription. */
        log_warn("media.lost",
                 "call %s ended without media-fork's answer: what ran on its leg is closed", c->id);
        store__sql(c, "SELECT cc_media_lost($1, $2)", NULL, 0, true, NULL);
    }
    store__ended(c);
}

static void closed_cb(uv_handle_t *h)
{
    struct call *c = h->data;
    if (--c->handles > 0)
        return;
    struct cc *cc = c->cc;
    free(c->sip_uri);
    call_routes_free(c->routes);
    free(c);
    cc__call_gone(cc);
}

void call__maybe_free(struct call *c)
{
    if (c->freeing || c->q_busy || c->dns_pending)
        return;
    if (!c->abandoned && !(call_state_terminal(c->state) && c->end_recorded))
        return;
    c->freeing = true;
    if (strmap_get(c->cc->calls, c->id) == c)
        strmap_del(c->cc->calls, c->id);
    update_live_gauge(c->cc);
    call_dialog__free(c);
    if (c->sess) {
        sip_session_terminate(c->sess);
        c->sess = NULL;
    }
    if (c->uas) {
        sip_uas_end(c->uas, 500);
        c->uas = NULL;
    }
    uv_close((uv_handle_t *)&c->timer, closed_cb);
    uv_close((uv_handle_t *)&c->media_timer, closed_cb);
}

/* Every call now, in an array the caller frees (calls may leave the map meanwhile). */
static size_t all_calls(struct cc *cc, struct call ***out)
{
    size_t n = strmap_count(cc->calls);
    *out = vp_malloc((n ? n : 1) * sizeof(**out));
    return strmap_values(cc->calls, (void **)*out, n);
}

void call_hangup_all(struct cc *cc)
{
    struct call **all;
    size_t n = all_calls(cc, &all);
    int64_t now = vtime_now_ms();
    for (size_t i = 0; i < n; i++)
        call__finish(all[i], "system_failure", "system", 0, now);
    free(all);
}

void call_abandon_all(struct cc *cc)
{
    struct call **all;
    size_t n = all_calls(cc, &all);
    for (size_t i = 0; i < n; i++) {
        struct call *c = all[i];
        if (!call_state_terminal(c->state))
            log_warn("call.abandoned", "call %s is %s at stop: hung up, its end not recorded",
                     c->id, call_state_name(c->state));
        c->abandoned = true;
        uv_timer_stop(&c->timer);
        media__release(c); /* best effort: media-fork also releases idle legs */
        media__stop_waiting(c);
        if (c->sess) {
            sip_session_terminate(c->sess);
            c->sess = NULL;
        }
        if (c->uas) {
            sip_uas_end(c->uas, 503);
            c->uas = NULL;
        }
        call__maybe_free(c);
    }
    free(all);
}
