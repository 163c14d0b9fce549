/* Consuming voepy:mf:{node}, applying commands, replying; see inbox.h. */
#include "inbox_internal.h"

#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "command.h"
#include "engine.h"
#include "recorder.h"
#include "stream.h"
#include "transcribe.h"
#include "reply.h"
#include "voepy/alloc.h"
#include "voepy/log.h"
#include "voepy/metrics.h"
#include "voepy/rstream.h"

/* Replies are trimmed approximately so a dead call-control node's inbox stays bounded. */
#define REPLY_MAXLEN 100000

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

void inbox__maybe_free(struct inbox *in)
{
    if (!in->consumer_closed || in->replies || in->fetching)
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
    inbox__maybe_free(in);
}

void inbox__send_reply(struct inbox *in, const char *stream, char *body, struct rstream_msg *msg)
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
    inbox__send_reply(in, c->reply_to, body, msg);
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
    inbox__forget_leg(in, c->leg_id);
    engine_release(in->engine, c->leg_id, &r);
    const char *to = c->reply_to[0] ? c->reply_to : r.reply_to;
    if (!to[0]) {
        rstream_ack(in->consumer, msg); /* nobody to tell */
        return;
    }
    /* r points into engine memory that the next engine call may reuse: copy first. */
    char stream[STREAM_MAX];
    snprintf(stream, sizeof(stream), "%s", to);
    inbox__send_reply(in, stream, reply_released(&r, in->node), msg);
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
    inbox__send_reply(in, stream,
                      reply_failed(c->leg_id, call_id, in->node, "invalid_request",
                                   command_op_name(c->op), e->message),
                      msg);
}

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
        inbox__do_media(in, &c, msg);
}

static void reaped_cb(const struct leg_report *r, void *arg)
{
    struct inbox *in = arg;
    inbox__forget_leg(in, r->leg_id); /* a play still waiting for audio ends "stopped" */
    if (r->reply_to[0])
        inbox__send_reply(in, r->reply_to, reply_released(r, in->node), NULL);
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
    in->load = o->load;
    in->recorder = o->recorder;
    in->streamer = o->streamer;
    in->tts = o->tts;
    in->asr = o->asr;
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
    engine_on_event(in->engine, inbox__leg_event_cb, in);
    if (in->recorder)
        recorder_on_done(in->recorder, inbox__recording_done_cb, in);
    if (in->streamer)
        streamer_on_event(in->streamer, inbox__stream_event_cb, in);
    if (in->asr)
        transcribe_on_reply(in->asr, inbox__transcribe_reply_cb, in);
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
    inbox__maybe_free(in);
}

void inbox_close(struct inbox *in, void (*closed)(void *arg), void *arg)
{
    engine_on_reaped(in->engine, NULL, NULL);
    engine_on_event(in->engine, NULL, NULL);
    if (in->recorder) /* outcomes after this have nowhere to go */
        recorder_on_done(in->recorder, NULL, NULL);
    if (in->streamer)
        streamer_on_event(in->streamer, NULL, NULL);
    if (in->asr)
        transcribe_on_reply(in->asr, NULL, NULL);
    in->closing = true;
    in->drained = NULL;
    in->closed = closed;
    in->closed_arg = arg;
    rstream_consumer_close(in->consumer, consumer_closed_cb, in);
}
