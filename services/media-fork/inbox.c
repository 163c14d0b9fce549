/* Consuming voepy:mf:{node}, applying commands, replying; see inbox.h. */
#include "inbox.h"

#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "audio_cache.h"
#include "audio_file.h"
#include "command.h"
#include "engine.h"
#include "reply.h"
#include "voepy/alloc.h"
#include "voepy/log.h"
#include "voepy/metrics.h"
#include "voepy/rstream.h"

/* Replies are trimmed approximately so a dead call-control node's inbox stays bounded. */
#define REPLY_MAXLEN 100000

/*
 * Freed once closed, its consumer closed (so every command it handed out came back) and
 * no reply is in flight (replies for reaped legs hold no command but still count).
 */
struct inbox {
    struct rstream_consumer *consumer;
    struct redis *redis;
    struct engine *engine;
    struct audio_cache *audio;
    char node[128];
    unsigned replies; /* replies being written */
    struct metric *commands[MF_OP_LAST + 1], *invalid, *reply_errors;
    void (*drained)(void *arg); /* set while draining, until reported */
    void *drained_arg;
    bool consumer_drained, closing, consumer_closed;
    void (*closed)(void *arg);
    void *closed_arg;
};

/* A reply being written; owns its callback argument until the callback runs. */
struct pending {
    struct inbox *in;
    struct rstream_msg *msg; /* the command to acknowledge, or NULL (reaped legs) */
};

/* While draining: report once the consumer is drained and no reply is in flight. */
static void check_drained(struct inbox *in)
{
    if (!in->drained || !in->consumer_drained || in->replies)
        return;
    void (*done)(void *) = in->drained;
    in->drained = NULL;
    done(in->drained_arg);
}

static void maybe_free(struct inbox *in)
{
    if (!in->consumer_closed || in->replies)
        return;
    void (*closed)(void *) = in->closed;
    void *closed_arg = in->closed_arg;
    free(in);
    if (closed)
        closed(closed_arg);
}

static void added_cb(int status, const char *entry_id, void *arg)
{
    struct pending *p = arg;
    struct inbox *in = p->in;
    if (status && !in->closing) /* at close, the shared connection cancels: not news */
        metric_inc(in->reply_errors);
    /* After close these only free the command: it stays pending and is answered again. */
    if (p->msg && status == 0)
        rstream_ack(in->consumer, p->msg);
    else if (p->msg)
        rstream_release(in->consumer, p->msg); /* comes back; answered again */
    free(p);
    in->replies--;
    check_drained(in);
    maybe_free(in);
}

/* Write body (consumed) to stream; then acknowledge msg (may be NULL). */
static void send_reply(struct inbox *in, const char *stream, char *body, struct rstream_msg *msg)
{
    struct pending *p = VP_NEW(p);
    *p = (struct pending){in, msg};
    in->replies++;
    int err = rstream_add(in->redis, stream, body, strlen(body), REPLY_MAXLEN, added_cb, p);
    free(body);
    if (err) {
        log_warn("media.reply_failed", "cannot write to %s: %s", stream, vp_err_message(err));
        added_cb(err, NULL, p);
    }
}

static const char *failure_code(int err)
{
    switch (err) {
    case VP_E_UNAVAILABLE:
        return "no_ports";
    case VP_E_CANCELED:
        return "draining";
    case VP_E_CONFLICT:
        return "released";
    case VP_E_INVALID_PARAMETER:
        return "invalid_request";
    case VP_E_NOT_FOUND:
        return "unknown_leg";
    }
    return "io_error";
}

static void do_allocate(struct inbox *in, const struct mf_command *c, struct rstream_msg *msg)
{
    uint16_t port = 0;
    int err = engine_allocate(in->engine, c->leg_id, c->call_id, c->reply_to, &port);
    char *body;
    if (err) {
        vlog_kv(VLOG_WARN, "media.allocate_failed", failure_code(err), "leg_id", c->leg_id,
                "call_id", c->call_id, NULL);
        body = reply_failed(c->leg_id, c->call_id, in->node, failure_code(err), "allocate", NULL);
    } else {
        body = reply_allocated(c->leg_id, c->call_id, in->node, engine_media_ip(in->engine), port);
    }
    send_reply(in, c->reply_to, body, msg);
}

static void do_connect(struct inbox *in, const struct mf_command *c, struct rstream_msg *msg)
{
    if (engine_connect(in->engine, c->leg_id, &c->remote))
        vlog_kv(VLOG_WARN, "media.connect_unknown", "connect for a leg not live here", "leg_id",
                c->leg_id, NULL);
    rstream_ack(in->consumer, msg);
}

static void do_release(struct inbox *in, const struct mf_command *c, struct rstream_msg *msg)
{
    struct leg_report r;
    engine_release(in->engine, c->leg_id, &r);
    const char *to = c->reply_to[0] ? c->reply_to : r.reply_to;
    if (!to[0]) {
        rstream_ack(in->consumer, msg); /* nobody to tell */
        return;
    }
    /* r points into engine memory that the next engine call may reuse: copy first. */
    char stream[STREAM_MAX];
    snprintf(stream, sizeof(stream), "%s", to);
    send_reply(in, stream, reply_released(&r, in->node), msg);
}

/* A command that failed to parse: tell the asker when we know who and what. */
static void refuse(struct inbox *in, const struct mf_command *c, const struct vp_error *e,
                   struct rstream_msg *msg)
{
    metric_inc(in->invalid);
    vlog_kv(VLOG_WARN, "media.bad_command", e->message, "field", e->field, "stream_id", msg->id,
            NULL);
    struct leg *l = c->leg_id[0] ? engine_find(in->engine, c->leg_id) : NULL;
    const char *to = c->reply_to[0] ? c->reply_to : l ? leg_reply_to(l) : "";
    if (c->op == MF_OP_NONE || !c->leg_id[0] || !to[0]) {
        rstream_ack(in->consumer, msg);
        return;
    }
    char stream[STREAM_MAX];
    snprintf(stream, sizeof(stream), "%s", to);
    const char *call_id = c->call_id[0] || !l ? c->call_id : leg_call_id(l);
    send_reply(in, stream,
               reply_failed(c->leg_id, call_id, in->node, "invalid_request", command_op_name(c->op),
                            e->message),
               msg);
}

static void do_media(struct inbox *in, const struct mf_command *c, struct rstream_msg *msg);

static void msg_cb(struct rstream_consumer *consumer, struct rstream_msg *msg, void *arg)
{
    struct inbox *in = arg;
    struct mf_command c;
    struct vp_error e;
    if (command_parse(msg->body, msg->len, &c, &e)) {
        refuse(in, &c, &e, msg);
        return;
    }
    metric_inc(in->commands[c.op]);
    if (c.op == MF_OP_ALLOCATE)
        do_allocate(in, &c, msg);
    else if (c.op == MF_OP_CONNECT)
        do_connect(in, &c, msg);
    else if (c.op == MF_OP_RELEASE)
        do_release(in, &c, msg);
    else
        do_media(in, &c, msg);
}

/* ---- the media verbs ---------------------------------------------------------------- */

static const char *audio_error(int err)
{
    switch (err) {
    case VP_E_NOT_FOUND:
        return "audio_not_found";
    case VP_E_NOT_IMPLEMENTED:
        return "audio_url_not_supported";
    }
    return "audio_invalid";
}

/* The audio at url into *ap; NULL on success, else the error code (e says more). */
static const char *load_audio(struct inbox *in, const char *url, struct audio **ap,
                              struct vp_error *e)
{
    if (!in->audio) {
        vp_error_set(e, VP_E_NOT_IMPLEMENTED, "audio", "no VOEPY_MEDIA_AUDIO_DIR configured");
        return "audio_url_not_supported";
    }
    int err = audio_cache_get(in->audio, url, ap, e);
    if (err)
        vlog_kv(VLOG_WARN, "media.audio_failed", e->message, "url", url, NULL);
    return err ? audio_error(err) : NULL;
}

/* A verb that failed: tell its reply_to (else the leg's allocate's), or just acknowledge. */
static void verb_failed(struct inbox *in, const struct mf_command *c, const struct leg *l,
                        const char *error, const char *detail, struct rstream_msg *msg)
{
    char stream[STREAM_MAX], call_id[LEG_ID_MAX];
    snprintf(stream, sizeof(stream), "%s", c->reply_to[0] ? c->reply_to : l ? leg_reply_to(l) : "");
    snprintf(call_id, sizeof(call_id), "%s", l ? leg_call_id(l) : "");
    vlog_kv(VLOG_WARN, "media.verb_failed", error, "op", command_op_name(c->op), "leg_id",
            c->leg_id, NULL);
    if (!stream[0]) {
        rstream_ack(in->consumer, msg);
        return;
    }
    char *body = c->op == MF_OP_PLAY
                     ? reply_play_failed(c->leg_id, call_id, in->node, c->media_id, error, detail)
                     : reply_verb_failed(c->leg_id, call_id, in->node, command_op_name(c->op),
                                         c->op == MF_OP_GATHER ? c->media_id : NULL, error, detail);
    send_reply(in, stream, body, msg);
}

/* Carry out a verb on live leg l; NULL or the error code. */
static const char *apply_media(struct inbox *in, const struct mf_command *c, struct leg *l,
                               struct vp_error *e)
{
    struct audio *a = NULL;
    const char *error = NULL;
    switch (c->op) {
    case MF_OP_PLAY:
        if (!(error = load_audio(in, c->audio, &a, e)))
            leg_play(l, a, c->loops, c->media_id, c->reply_to);
        return error;
    case MF_OP_GATHER:
        if (c->audio[0] && (error = load_audio(in, c->audio, &a, e)))
            return error;
        leg_gather(l, &c->gather, c->media_id, a, c->reply_to);
        return NULL;
    case MF_OP_SEND_DTMF:
        return leg_send_dtmf(l, c->digits, c->duration_ms) ? "dtmf_queue_full" : NULL;
    case MF_OP_STOP_PLAYBACK:
        leg_stop_playback(l); /* nothing playing is not an error: stop is idempotent */
        return NULL;
    case MF_OP_STOP_GATHER:
        leg_stop_gather(l, c->media_id);
        return NULL;
    default:
        return "invalid_request";
    }
}

static void do_media(struct inbox *in, const struct mf_command *c, struct rstream_msg *msg)
{
    struct leg *l = engine_find(in->engine, c->leg_id);
    struct vp_error e = {0};
    const char *error = l ? apply_media(in, c, l, &e) : "unknown_leg";
    if (error)
        verb_failed(in, c, l, error, e.message, msg);
    else
        rstream_ack(in->consumer, msg);
}

static void leg_event_cb(const struct leg_event *ev, void *arg)
{
    struct inbox *in = arg;
    if (!ev->reply_to[0])
        return;
    char stream[STREAM_MAX];
    snprintf(stream, sizeof(stream), "%s", ev->reply_to);
    send_reply(in, stream, reply_leg_event(ev, in->node), NULL);
}

static void reaped_cb(const struct leg_report *r, void *arg)
{
    struct inbox *in = arg;
    if (r->reply_to[0])
        send_reply(in, r->reply_to, reply_released(r, in->node), NULL);
}

static void init_metrics(struct inbox *in)
{
    const char *help = "Commands received on voepy:mf:{node}.";
    for (int op = MF_OP_ALLOCATE; op <= MF_OP_LAST; op++) {
        char labels[48];
        snprintf(labels, sizeof(labels), "op=\"%s\"", command_op_name((enum mf_op)op));
        in->commands[op] = metrics_counter("voepy_media_commands_total", help, labels);
    }
    in->invalid = metrics_counter("voepy_media_commands_total", help, "op=\"invalid\"");
    in->reply_errors = metrics_counter("voepy_media_reply_errors_total",
                                       "Replies that could not be written to Redis.", NULL);
}

int inbox_create(struct inbox **ip, uv_loop_t *loop, const struct inbox_opts *o)
{
    struct inbox *in = VP_NEW(in);
    in->redis = o->redis;
    in->engine = o->engine;
    in->audio = o->audio;
    snprintf(in->node, sizeof(in->node), "%s", o->node_id);
    init_metrics(in);
    char stream[STREAM_MAX];
    snprintf(stream, sizeof(stream), "voepy:mf:%s", o->node_id);
    const char *streams[] = {stream}; /* the consumer copies the name */
    struct rstream_consumer_opts co = {
        .group = "mf",
        .consumer = in->node,
        .streams = streams,
        .nstreams = 1,
        .claim_idle_ms = o->claim_idle_ms ? o->claim_idle_ms : 5000,
        .claim_interval_ms = 1000,
    };
    int err = rstream_consumer_create(&in->consumer, loop, o->ropts, &co, msg_cb, in);
    if (err) {
        free(in);
        return err;
    }
    engine_on_reaped(in->engine, reaped_cb, in);
    engine_on_event(in->engine, leg_event_cb, in);
    *ip = in;
    return 0;
}

static void consumer_drained_cb(void *arg)
{
    struct inbox *in = arg;
    in->consumer_drained = true;
    check_drained(in);
}

void inbox_drain(struct inbox *in, void (*done)(void *arg), void *arg)
{
    in->drained = done;
    in->drained_arg = arg;
    rstream_consumer_drain(in->consumer, consumer_drained_cb, in);
}

static void consumer_closed_cb(void *arg)
{
    struct inbox *in = arg;
    in->consumer_closed = true;
    maybe_free(in);
}

void inbox_close(struct inbox *in, void (*closed)(void *arg), void *arg)
{
    engine_on_reaped(in->engine, NULL, NULL);
    engine_on_event(in->engine, NULL, NULL);
    in->closing = true;
    in->drained = NULL;
    in->closed = closed;
    in->closed_arg = arg;
    rstream_consumer_close(in->consumer, consumer_closed_cb, in);
}
