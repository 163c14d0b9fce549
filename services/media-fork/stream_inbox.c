/*
 * streaming_start and streaming_stop from the node's inbox (stream.h, proto/streams.md),
 * and the streams' outcomes as replies: streaming_started once the client is connected,
 * streaming_ended once it is over (reason stopped | released | failed | closed_by_peer,
 * frames_sent, frames_dropped, error and detail when it failed). Both commands are
 * acknowledged once applied; streaming_stop is answered only by the streaming_ended of
 * each stream it stops.
 */
#include <jansson.h>
#include <stdio.h>
#include <string.h>

#include "engine.h"
#include "inbox_internal.h"
#include "reply.h"
#include "stream.h"
#include "voepy/json.h"
#include "voepy/log.h"

static char *event_json(const struct stream_event *ev, const char *node)
{
    json_t *o = json_pack("{s:s, s:s, s:s, s:s, s:s}", "op",
                          ev->ended ? "streaming_ended" : "streaming_started", "leg_id", ev->leg_id,
                          "call_id", ev->call_id, "media_node", node, "stream_id", ev->stream_id);
    if (ev->ended) {
        json_object_set_new(o, "reason", json_string(ev->reason ? ev->reason : "stopped"));
        json_object_set_new(o, "frames_sent", json_integer((json_int_t)ev->frames_sent));
        json_object_set_new(o, "frames_dropped", json_integer((json_int_t)ev->frames_dropped));
        if (ev->error)
            json_object_set_new(o, "error", json_string(ev->error));
        if (ev->detail)
            json_object_set_new(o, "detail", json_string(ev->detail));
    }
    char *s = json_dumps(o, JSON_COMPACT);
    json_decref(o);
    return s;
}

void inbox__stream_event_cb(const struct stream_event *ev, void *arg)
{
    struct inbox *in = arg;
    if (!ev->reply_to || !ev->reply_to[0])
        return;
    char stream[STREAM_MAX];
    snprintf(stream, sizeof(stream), "%s", ev->reply_to);
    inbox__send_reply(in, stream, event_json(ev, in->node), NULL);
}

/* A start that cannot even begin (no such leg here, no streamer): streaming_ended at once. */
static void unknown_leg(struct inbox *in, const struct mf_command *c, struct rstream_msg *msg,
                        const char *error)
{
    struct stream_event ev = {.ended = true,
                              .leg_id = c->leg_id,
                              .call_id = "",
                              .stream_id = c->stream.stream_id,
                              .reason = "failed",
                              .error = error,
                              .detail = NULL};
    if (!c->reply_to[0]) {
        rstream_ack(in->consumer, msg);
        return;
    }
    char stream[STREAM_MAX];
    snprintf(stream, sizeof(stream), "%s", c->reply_to);
    inbox__send_reply(in, stream, event_json(&ev, in->node), msg);
}

void inbox__do_stream(struct inbox *in, const struct mf_command *c, struct rstream_msg *msg)
{
    if (c->op == MF_OP_STREAMING_STOP) {
        if (in->streamer)
            streamer_stop(in->streamer, c->leg_id, c->stream.stream_id);
        rstream_ack(in->consumer, msg);
        return;
    }
    struct leg *l = engine_find(in->engine, c->leg_id);
    if (!l || !in->streamer) {
        unknown_leg(in, c, msg, l ? "streaming_not_supported" : "unknown_leg");
        return;
    }
    leg_touch(l);
    streamer_start(in->streamer, l, &c->stream, c->reply_to);
    rstream_ack(in->consumer, msg);
}
