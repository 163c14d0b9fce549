/*
 * The call's media leg on a media-fork node (proto/streams.md): allocate an RTP port
 * before the INVITE (its address goes in our SDP offer), connect it to the far end's
 * address once answered, release it when the call ends and keep its counters. Commands
 * go to voepy:mf:{node}; the answers come back on this node's inbox and are matched to
 * the call by call_id and leg_id. Every wait is bounded by VOEPY_MEDIA_TIMEOUT_MS.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "call_bridge.h"
#include "call_int.h"
#include "call_media.h"
#include "voepy/json.h"
#include "voepy/log.h"
#include "voepy/nodes.h"
#include "voepy/rstream.h"
#include "voepy/vtime.h"

#define MF_STREAM_MAXLEN 100000
/* media-fork releases a leg after VOEPY_MEDIA_IDLE_SECS (60 by default) without RTP or a
 * command; a call may ring for up to 600 s before RTP flows, so an allocated leg is
 * touched with a repeated (idempotent) allocate this often. */
#define KEEPALIVE_MS 20000

static void added_cb(int status, const char *entry_id, void *arg)
{
    (void)entry_id;
    (void)arg;
    if (status)
        log_warn("media.command_lost", "a command to media-fork was not written: %s",
                 vp_err_message(status));
}

static int send_command(struct call *c, json_t *cmd)
{
    char stream[192];
    snprintf(stream, sizeof(stream), "voepy:mf:%s", c->media.node);
    char *body = vjson_dump(cmd);
    json_decref(cmd);
    int err =
        rstream_add(c->cc->redis, stream, body, strlen(body), MF_STREAM_MAXLEN, added_cb, NULL);
    free(body);
    return err;
}

static void allocate_timeout_cb(uv_timer_t *t)
{
    struct call *c = t->data;
    log_warn("media.timeout", "media-fork %s did not answer allocate for call %s in time",
             c->media.node, c->id);
    call__finish(c, "system_failure", "system", 0, vtime_now_ms());
}

static void release_timeout_cb(uv_timer_t *t)
{
    struct call *c = t->data;
    log_warn("media.timeout", "media-fork %s did not answer release for call %s in time",
             c->media.node, c->id);
    c->media.state = MEDIA_RELEASED;
    c->media.gone = true;
    call_media__released(c);
    call__record_end(c);
}

static json_t *allocate_command(struct call *c)
{
    return json_pack("{s:s, s:s, s:s, s:s, s:s}", "op", "allocate", "leg_id", c->leg_id, "call_id",
                     c->id, "tenant_id", c->tenant_id, "reply_to", c->cc->inbox_stream);
}

static void keepalive_cb(uv_timer_t *t)
{
    struct call *c = t->data;
    if (c->media.state == MEDIA_ALLOCATED)
        send_command(c, allocate_command(c));
}

#define PICK_RETRY_MS 100

static int allocate_on(struct call *c, const char *node)
{
    snprintf(c->media.node, sizeof(c->media.node), "%s", node);
    int err = send_command(c, allocate_command(c));
    if (err)
        return err;
    c->media.state = MEDIA_ALLOCATING;
    uv_timer_start(&c->media_timer, allocate_timeout_cb, c->cc->opts.media_timeout_ms, 0);
    return 0;
}

/* No media-fork node known yet (the registry refreshes once a second, so a node that
 * just started may not be listed): look again until the media timeout. */
static void pick_again_cb(uv_timer_t *t)
{
    struct call *c = t->data;
    if (call_state_terminal(c->state) || c->abandoned)
        return; /* ended while waiting: nothing was asked of media-fork */
    const char *node = nodes_pick(c->cc->nodes, "media-fork");
    int err = VP_E_UNAVAILABLE;
    if (node)
        err = allocate_on(c, node);
    else if (uv_now(c->cc->loop) < c->media.pick_deadline) {
        uv_timer_start(&c->media_timer, pick_again_cb, PICK_RETRY_MS, 0);
        return;
    }
    if (err) {
        log_error("media.no_node", "no media-fork node can take call %s: %s", c->id,
                  vp_err_message(err));
        call__finish(c, "system_failure", "system", 0, vtime_now_ms());
    }
}

int media__allocate(struct call *c)
{
    if (c->media.node[0]) { /* a transfer's child: on its parent's node (call_bridge.c) */
        char node[sizeof(c->media.node)];
        snprintf(node, sizeof(node), "%s", c->media.node); /* allocate_on copies into it */
        return allocate_on(c, node);
    }
    const char *node = nodes_pick(c->cc->nodes, "media-fork");
    if (node)
        return allocate_on(c, node);
    c->media.pick_deadline = uv_now(c->cc->loop) + c->cc->opts.media_timeout_ms;
    uv_timer_start(&c->media_timer, pick_again_cb, PICK_RETRY_MS, 0);
    return 0;
}

/*
 * a is the far end's SDP (the answer to our offer, or an inbound caller's offer): its
 * telephone-event payload type goes with it (dtmf_payload_type), so that media-fork hears
 * and sends RFC 4733 digits with the type the far end uses. One media-fork cannot take
 * (not dynamic, or the audio's) is left out: media-fork then uses 101.
 */
void media__connect(struct call *c, const struct sdp_answer *a)
{
    if (c->media.state != MEDIA_ALLOCATED)
        return;
    json_t *cmd =
        json_pack("{s:s, s:s, s:s, s:i, s:i, s:s, s:i, s:s}", "op", "connect", "leg_id", c->leg_id,
                  "remote_ip", a->ip, "remote_port", a->port, "payload_type", a->payload_type,
                  "codec", a->codec, "ptime", a->ptime, "mode", c->cc->opts.media_mode);
    if (a->dtmf_pt >= 96 && a->dtmf_pt <= 127 && a->dtmf_pt != a->payload_type)
        json_object_set_new(cmd, "dtmf_payload_type", json_integer(a->dtmf_pt));
    if (a->dir == SDP_SENDONLY || a->dir == SDP_INACTIVE) /* the far end holds the call */
        json_object_set_new(cmd, "hold", json_true());
    send_command(c, cmd);
}

int media__send_verb(struct call *c, json_t *cmd)
{
    json_object_set_new(cmd, "reply_to", json_string(c->cc->inbox_stream));
    return send_command(c, cmd);
}

bool media__release(struct call *c)
{
    if (c->media.state != MEDIA_ALLOCATING && c->media.state != MEDIA_ALLOCATED)
        return c->media.state == MEDIA_RELEASING;
    json_t *cmd = json_pack("{s:s, s:s, s:s}", "op", "release", "leg_id", c->leg_id, "reply_to",
                            c->cc->inbox_stream);
    if (send_command(c, cmd) != 0) {
        c->media.state = MEDIA_RELEASED;
        c->media.gone = true;
        call_media__released(c);
        return false;
    }
    c->media.state = MEDIA_RELEASING;
    uv_timer_start(&c->media_timer, release_timeout_cb, c->cc->opts.media_timeout_ms, 0);
    return true;
}

void media__stop_waiting(struct call *c)
{
    uv_timer_stop(&c->media_timer);
}

static void on_allocated(struct call *c, const json_t *m)
{
    const char *ip = vjson_str(m, "ip");
    long long port = vjson_int(m, "port", 0);
    if (c->media.state != MEDIA_ALLOCATING)
        return; /* a keepalive's answer, or a late one: a release is on its way */
    uv_timer_stop(&c->media_timer);
    if (!ip || strlen(ip) >= sizeof(c->media.ip) || port <= 0 || port > 65535) {
        log_error("media.bad_reply", "media.allocated for call %s has no usable address", c->id);
        c->media.state = MEDIA_RELEASED;
        call__finish(c, "system_failure", "system", 0, vtime_now_ms());
        return;
    }
    snprintf(c->media.ip, sizeof(c->media.ip), "%s", ip);
    c->media.port = (int)port;
    c->media.state = MEDIA_ALLOCATED;
    uv_timer_start(&c->media_timer, keepalive_cb, KEEPALIVE_MS, KEEPALIVE_MS);
    call__media_ready(c);
}

static void on_failed(struct call *c, const json_t *m)
{
    const char *request = vjson_str(m, "request");
    if (call_bridge_is_request(request)) {
        call_bridge__media_failed(c, m); /* the bridge's failure: the calls go on */
        return;
    }
    if (call_media_is_verb_request(request)) {
        call_media__failed(c, m); /* a verb's failure: the leg and the call go on */
        return;
    }
    vlog_kv(VLOG_ERROR, "media.failed", "media-fork refused a command", "call_id", c->id, "request",
            request, "error", vjson_str(m, "error"), "detail", vjson_str(m, "detail"), NULL);
    if (c->media.state == MEDIA_RELEASING && request && strcmp(request, "allocate") == 0)
        return; /* the release's own answer ends the wait */
    if (c->media.state == MEDIA_ALLOCATING || c->media.state == MEDIA_ALLOCATED) {
        uv_timer_stop(&c->media_timer);
        c->media.state = MEDIA_RELEASED; /* nothing is held for us */
        call__finish(c, "system_failure", "system", 0, vtime_now_ms());
    }
}

static void on_released(struct call *c, const json_t *m)
{
    c->media.packets_in = vjson_int(m, "packets_in", 0);
    c->media.packets_out = vjson_int(m, "packets_out", 0);
    c->media.lost = vjson_int(m, "lost", 0); /* receiver statistics (leg_rtcp.c) */
    c->media.jitter_ms = vjson_int(m, "jitter_ms", 0);
    c->media.rtt_ms = vjson_int(m, "rtt_ms", -1); /* null: no RTCP report about us */
    c->media.counted = true;
    bool waited = c->media.state == MEDIA_RELEASING;
    c->media.state = MEDIA_RELEASED;
    uv_timer_stop(&c->media_timer);
    call_media__released(c);
    if (waited) {
        call__record_end(c);
        return;
    }
    vlog_kv(VLOG_WARN, "media.released_early", "media-fork released a live call's leg", "call_id",
            c->id, "reason", vjson_str(m, "reason"), NULL);
    if (!call_state_terminal(c->state))
        call__finish(c, "system_failure", "system", 0, vtime_now_ms());
}

void call_media_reply(struct cc *cc, const json_t *m)
{
    const char *op = vjson_str(m, "op");
    const char *call_id = vjson_str(m, "call_id");
    const char *leg_id = vjson_str(m, "leg_id");
    struct call *c = call_id ? call__find(cc, call_id) : NULL;
    if (!c || !leg_id || strcmp(leg_id, c->leg_id) != 0 || c->abandoned) {
        vlog_kv(VLOG_DEBUG, "media.reply_ignored", "a media reply for no call of ours", "op", op,
                "call_id", call_id, NULL);
        return;
    }
    if (strcmp(op, "media.allocated") == 0)
        on_allocated(c, m);
    else if (strcmp(op, "media.failed") == 0)
        on_failed(c, m);
    else if (strcmp(op, "media.released") == 0)
        on_released(c, m);
}
