/*
 * An outbound call over SIP: media first (our SDP offer carries media-fork's address),
 * then the route's host is resolved if it is a name, the INVITE goes out, and the
 * session's answers move the call: 18x ringing, 2xx answered (media connected, the
 * time limit armed), a final failure or the far end's BYE ends it. timeout_secs bounds
 * the ringing, time_limit_secs the answered call; a hangup command ends it either way.
 *
 * Routes (call_route.h): the INVITE answers the route's digest challenges (sip_session).
 * When it fails before the call rings -- a 5xx or 408 from the far end, Timer B, or a
 * transport failure, and no 18x yet (the call is still initiated) -- the route's
 * failover is dialled once with a fresh INVITE (new Call-ID) on the same media leg, and
 * calls.route_id names it. After an 18x the far end has taken the call: no failover,
 * so one call never rings two phones. A 4xx/6xx is the callee's answer, not the trunk's
 * failure: it ends the call as before.
 *
 * Early media: an 18x (180, 181, 182, 183...) that carries an SDP answer connects the
 * media leg to it at once (the call stays ringing, nothing is billed: billing counts from
 * answered_ms), so the far end's announcements or ringback reach the leg and what the leg
 * sends reaches the far end. A later 18x with a different SDP moves the leg; a repeated
 * one (a retransmission) changes nothing; the 2xx's SDP connects it again as for any
 * call. While early media lasts the call plays its creation's audio_url on its own leg
 * and starts a record on_ringing (call_play_early, call_record_early); a transfer's or
 * forwarding's child tells call_forward.c instead (its parent decides what is heard).
 */
#include <ctype.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "call_dialog.h"
#include "call_forward.h"
#include "call_int.h"
#include "call_play.h"
#include "call_record.h"
#include "call_route.h"
#include "sip_msg.h"
#include "sip_session.h"
#include "sip_ua.h"
#include "voepy/alloc.h"
#include "voepy/buf.h"
#include "voepy/e164.h"
#include "voepy/err.h"
#include "voepy/log.h"
#include "voepy/vtime.h"

static void session_cb(struct sip_session *s, enum sip_session_event ev,
                       const struct sip_session_info *info, void *arg);

static void ring_timeout_cb(uv_timer_t *t)
{
    struct call *c = t->data;
    log_info("call.no_answer", "call %s: no answer in %d s, canceling", c->id, c->timeout_secs);
    call__finish(c, "no_answer", "system", 0, vtime_now_ms());
}

static void time_limit_cb(uv_timer_t *t)
{
    struct call *c = t->data;
    log_info("call.time_limit", "call %s reached its time limit of %d s", c->id,
             c->time_limit_secs);
    /*
     * The call ends at its limit, not when the timer's callback got to run: the loop's
     * clock may read a millisecond early or the BYE go out a millisecond late, and neither
     * may bill a second more or less than the limit the customer set.
     */
    call__finish(c, "time_limit", "system", 0, c->answered_ms + (int64_t)c->time_limit_secs * 1000);
}

static void fail_system(struct call *c, const char *why)
{
    log_error("call.dial_failed", "call %s: %s", c->id, why);
    call__finish(c, "system_failure", "system", 0, vtime_now_ms());
}

static char *offer(struct call *c)
{
    struct buf b = BUF_INIT;
    int64_t now = vtime_now_ms();
    struct sdp_offer_params p = {
        .ip = c->media.ip, .port = c->media.port, .session_id = (uint64_t)now, .version = 1};
    c->sdp_id = (uint64_t)now; /* kept for our answers to re-offers (call_dialog.c) */
    if (sdp_build_offer(&b, &p) != 0) {
        buf_free(&b);
        return NULL;
    }
    return buf_steal(&b, NULL);
}

/* Request-URI sip:<to>@<route host:port>, To sip:<to>@<route host>. */
static void invite(struct call *c, const char *ip, const char *host, int port)
{
    bool v6 = strchr(host, ':') != NULL;
    char ruri[512], to[512];
    snprintf(ruri, sizeof(ruri), "sip:%s@%s%s%s:%d", c->to, v6 ? "[" : "", host, v6 ? "]" : "",
             port);
    snprintf(to, sizeof(to), "sip:%s@%s%s%s", c->to, v6 ? "[" : "", host, v6 ? "]" : "");
    char *sdp = offer(c);
    if (!sdp) {
        fail_system(c, "media-fork gave an address we cannot offer");
        return;
    }
    struct sip_auth_creds cr = {0};
    if (c->routes)
        call_route_creds(&c->routes->primary, &cr);
    struct sip_connect_opts o = {.ruri = ruri,
                                 .to_uri = to,
                                 .from_user = c->from,
                                 .proto = c->proto,
                                 .dest_ip = ip,
                                 .dest_port = port,
                                 .sdp = sdp,
                                 .auth = cr.username ? &cr : NULL,
                                 .timer_b_ms = c->routes ? c->routes->timer_b_ms : 0};
    int err = sip_session_connect(&c->sess, c->cc->ua, &o, session_cb, c);
    free(sdp);
    if (err) {
        fail_system(c, "the INVITE could not be sent");
        return;
    }
    call_dialog_hook(c); /* re-INVITEs, NOTIFY, INFO, session timers */
    store__leg_media(c, sip_session_call_id(c->sess));
    uv_timer_start(&c->timer, ring_timeout_cb, (uint64_t)c->timeout_secs * 1000, 0);
}

static void resolved_cb(uv_getaddrinfo_t *req, int status, struct addrinfo *res)
{
    struct call *c = req->data;
    c->dns_pending = false;
    char ip[SIP_IP_MAX];
    sip_addr_resolved(status, res, ip, sizeof(ip));
    char host[256];
    int port = 0;
    sip_msg_uri_hostport(c->sip_uri, host, sizeof(host), &port);
    if (call_state_terminal(c->state) || c->abandoned)
        call__maybe_free(c);
    else if (!ip[0])
        fail_system(c, "the route's host does not resolve");
    else
        invite(c, ip, host, port);
}

/* A host name or address we may put in a Request-URI as it is. */
static bool host_ok(const char *h)
{
    if (!*h)
        return false;
    for (; *h; h++)
        if (!isalnum((unsigned char)*h) && !strchr(".-:", *h))
            return false;
    return true;
}

void call__media_ready(struct call *c)
{
    char host[256];
    int port;
    unsigned char probe[16];
    if (c->inbound) {
        call_in__media_ready(c); /* the leg answers an inbound INVITE */
        return;
    }
    if (call_state_terminal(c->state))
        return;
    if (sip_msg_uri_hostport(c->sip_uri, host, sizeof(host), &port) != 0 || !host_ok(host)) {
        fail_system(c, "the route's sip_uri is not a usable SIP URI");
        return;
    }
    if (uv_inet_pton(AF_INET, host, probe) == 0 || uv_inet_pton(AF_INET6, host, probe) == 0) {
        invite(c, host, host, port);
        return;
    }
    /* The address family our SIP socket can reach. */
    bool v6 = strchr(c->cc->opts.sip_host ? c->cc->opts.sip_host : "", ':') != NULL;
    struct addrinfo hints = {.ai_family = v6 ? AF_INET6 : AF_INET, .ai_socktype = SOCK_DGRAM};
    c->dns.data = c;
    if (uv_getaddrinfo(c->cc->loop, &c->dns, resolved_cb, host, NULL, &hints) != 0) {
        fail_system(c, "cannot resolve the route's host");
        return;
    }
    c->dns_pending = true;
}

static void on_answered(struct call *c, const struct sip_session_info *info)
{
    struct sdp_answer a = c->offer;
    /* A 2xx without SDP after early media keeps the 18x's: with 100rel the reliable 183
     * carried the answer (RFC 3262), and the 2xx need not repeat it. */
    int err = info->sdp || !c->early_media ? sdp_parse_answer(info->sdp, info->sdp_len, &a) : 0;
    if (err) {
        log_warn("call.bad_answer", "call %s: the 2xx carries no usable SDP answer (%s)", c->id,
                 vp_err_message(err));
        call__finish(c, "failed", "system", info->status, info->at_ms);
        return;
    }
    c->answer_status = info->status;
    snprintf(c->remote_media, sizeof(c->remote_media), "%s:%d", a.ip, a.port);
    snprintf(c->codec, sizeof(c->codec), "%s", a.codec);
    c->offer = a; /* the far end's SDP as it stands (re-offers, send_dtmf's INFO fallback) */
    media__connect(c, &a);
    uv_timer_stop(&c->timer);
    c->answered_ms = info->at_ms;
    call_play_ringback_stop(c); /* before the bridge and call.answered (call_set_state) */
    if (!call_set_state(c, CALL_ANSWERED, info->at_ms))
        return;
    if (c->time_limit_secs > 0)
        uv_timer_start(&c->timer, time_limit_cb, (uint64_t)c->time_limit_secs * 1000, 0);
}

/* Whether two SDP answers ask for the same media (a retransmitted or repeated 18x). */
static bool same_media(const struct sdp_answer *x, const struct sdp_answer *y)
{
    return strcmp(x->ip, y->ip) == 0 && x->port == y->port && x->payload_type == y->payload_type &&
           strcmp(x->codec, y->codec) == 0 && x->ptime == y->ptime && x->dtmf_pt == y->dtmf_pt &&
           x->dir == y->dir;
}

/* A ringing call's 18x carries an SDP answer: connect the leg to it (see the top). */
static void early_media(struct call *c, const struct sip_session_info *info)
{
    struct sdp_answer a;
    int err = sdp_parse_answer(info->sdp, info->sdp_len, &a);
    if (err) {
        log_warn("call.bad_early_sdp", "call %s: the %d's SDP is not usable, no early media (%s)",
                 c->id, info->status, vp_err_message(err));
        return;
    }
    if (c->media.state != MEDIA_ALLOCATED || (c->early_media && same_media(&c->offer, &a)))
        return;
    bool first = !c->early_media;
    snprintf(c->remote_media, sizeof(c->remote_media), "%s:%d", a.ip, a.port);
    snprintf(c->codec, sizeof(c->codec), "%s", a.codec);
    c->offer = a;
    media__connect(c, &a);
    c->early_media = true;
    vlog_kv(VLOG_INFO, "call.early_media", first ? "early media" : "early media moved", "call_id",
            c->id, "remote", c->remote_media, "codec", c->codec, NULL);
    if (c->parent_id[0]) {
        call_forward__child_early(c); /* its parent decides what is heard (early-fwd) */
        return;
    }
    if (first) {
        call_play_early(c);   /* the creation's audio_url on this leg until the answer */
        call_record_early(c); /* record on_ringing starts now */
    }
}

/*
 * 18x: any of them rings the call -- 180 Ringing, 181 Call Is Being Forwarded, 182
 * Queued, 183 Session Progress, and those not yet named (RFC 3261 21.1: an unknown 1xx
 * reads as 183) -- and carries early media when it has an SDP. 199 (Early Dialog
 * Terminated, RFC 6228) rings too but brings no media: it ends one early dialog while
 * another may go on. The session gave neither 100 nor a reliable retransmission.
 */
static void on_progress(struct call *c, const struct sip_session_info *info)
{
    if (info->status <= 100 || info->status >= 200)
        return;
    if (c->state == CALL_INITIATED && call_set_state(c, CALL_RINGING, info->at_ms))
        call_play_ringback(c); /* a transfer's child: its parent hears audio_url */
    if (info->sdp && c->state == CALL_RINGING && info->status != 199)
        early_media(c, info);
}

/* The call goes over rt from now on (route_id, URI, transport; recorded). */
static void use_route(struct call *c, const struct call_route *rt)
{
    snprintf(c->route_id, sizeof(c->route_id), "%s", rt->id);
    free(c->sip_uri);
    c->sip_uri = vp_strdup(rt->sip_uri ? rt->sip_uri : "");
    c->proto = SIP_UDP;
    if (rt->transport)
        sip_proto_parse(rt->transport, &c->proto);
    store__route(c);
}

/* A failure of the trunk rather than an answer of the callee (see the top). */
static bool trunk_failure(const struct sip_session_info *info)
{
    return info->local || info->status == 408 || (info->status >= 500 && info->status < 600);
}

/* Dial the failover route once; true when the call goes on there. */
static bool fail_over(struct call *c, const struct sip_session_info *info)
{
    if (c->failed_over || c->state != CALL_INITIATED || !call_routes_has_failover(c->routes) ||
        !trunk_failure(info))
        return false;
    c->failed_over = true;
    vlog_kv(VLOG_INFO, "call.failover", "the route failed before ringing: dialling its failover",
            "call_id", c->id, "route", c->route_id, "failover", c->routes->failover.id, NULL);
    sip_session_terminate(c->sess); /* the failed dialog lets go of itself */
    c->sess = NULL;
    uv_timer_stop(&c->timer);
    call_routes_swap(c->routes);
    use_route(c, &c->routes->primary);
    call__media_ready(c); /* resolve and INVITE on the same media leg */
    return true;
}

static void on_failed(struct call *c, const struct sip_session_info *info)
{
    if (fail_over(c, info))
        return;
    const char *initiator = info->local ? "system" : "callee";
    int status = info->local ? 0 : info->status;
    call__finish(c, call_reason_for_status(info->status), initiator, status, info->at_ms);
}

static void session_cb(struct sip_session *s, enum sip_session_event ev,
                       const struct sip_session_info *info, void *arg)
{
    struct call *c = arg;
    (void)s;
    switch (ev) {
    case SIP_SESS_PROGRESS:
        on_progress(c, info);
        break;
    case SIP_SESS_ANSWERED:
        on_answered(c, info);
        break;
    case SIP_SESS_FAILED:
        on_failed(c, info);
        break;
    case SIP_SESS_CLOSED:
        call__finish(c, "completed", "callee", 0, info->at_ms);
        break;
    }
}

/* A name from a message, kept only when it is one of ours (static strings). */
static const char *pick(const char *v, const char *const *names, const char *def)
{
    for (int i = 0; v && names[i]; i++)
        if (strcmp(v, names[i]) == 0)
            return names[i];
    return def;
}

/* End c as a hangup command asked: its reason when it is one of ours, else by state. */
static void finish_by_command(struct call *c, const char *initiator, const char *reason)
{
    static const char *const initiators[] = {"api", "system", "caller", "callee", NULL};
    static const char *const reasons[] = {"balance_exhausted", "time_limit", "system_failure",
                                          NULL};
    const char *def =
        c->state == CALL_ANSWERED || c->state == CALL_BRIDGED ? "completed" : "canceled";
    call__finish(c, pick(reason, reasons, def), pick(initiator, initiators, "api"), 0,
                 vtime_now_ms());
}

int call_out_start(struct cc *cc, const struct call_params *p)
{
    struct call *c = call__create(cc, p);
    if (!c)
        return VP_E_CONFLICT;
    if (!e164_valid(c->from) || !e164_valid(c->to)) {
        /* They go into SIP headers as they are: the gateway checked them, we check again. */
        fail_system(c, "from or to is not an E.164 number");
        return VP_E_INVALID_PARAMETER;
    }
    if (c->routes && c->routes->primary.id[0] && strcmp(c->routes->primary.id, c->route_id) != 0)
        use_route(c, &c->routes->primary); /* dial.c put the failover first: route down */
    struct early_hangup_note early;
    if (inbox_take_early_hangup(cc, c->id, &early)) {
        finish_by_command(c, early.initiator, early.reason);
        return 0;
    }
    int err = media__allocate(c);
    if (err)
        fail_system(c, "no media-fork node can take the call");
    return 0;
}

bool call_hangup_by_id(struct cc *cc, const char *call_id, const char *initiator,
                       const char *reason)
{
    struct call *c = call__find(cc, call_id);
    if (!c)
        return false;
    if (!call_state_terminal(c->state))
        finish_by_command(c, initiator, reason);
    return true;
}
