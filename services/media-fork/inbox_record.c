/*
 * record_start and record_stop (recorder.h, proto/streams.md): applied to the leg and
 * acknowledged at once; the outcome, recording_done, is written when the file is stored
 * (or at once, "failed", when the recording cannot start). Nothing is answered for
 * record_stop itself: each recording it stops reports its own recording_done.
 */
#include <stdio.h>
#include <string.h>

#include "engine.h"
#include "inbox_internal.h"
#include "recorder.h"
#include "reply.h"
#include "voepy/log.h"

static const char *start_error(int err)
{
    switch (err) {
    case VP_E_NOT_IMPLEMENTED:
        return "format_not_supported";
    case VP_E_CANCELED:
        return "draining";
    case VP_E_NOT_FOUND:
        return "unknown_leg";
    case VP_E_UNAVAILABLE:
        return "recording_not_supported";
    }
    return "invalid_request";
}

static void start_failed(struct inbox *in, const struct mf_command *c, const struct leg *l, int err,
                         struct rstream_msg *msg)
{
    char stream[STREAM_MAX];
    snprintf(stream, sizeof(stream), "%s", c->reply_to[0] ? c->reply_to : l ? leg_reply_to(l) : "");
    struct rec_result res = {.leg_id = c->leg_id,
                             .call_id = l ? leg_call_id(l) : "",
                             .recording_id = c->record.recording_id,
                             .error = start_error(err),
                             .detail = err == VP_E_NOT_IMPLEMENTED
                                           ? "this node's libsndfile cannot write the format"
                                           : NULL,
                             .storage_key = ""};
    vlog_kv(VLOG_WARN, "media.recording_refused", res.error, "leg_id", c->leg_id, "recording_id",
            c->record.recording_id, NULL);
    if (!stream[0]) {
        rstream_ack(in->consumer, msg);
        return;
    }
    inbox__send_reply(in, stream, reply_recording_done(&res, in->node), msg);
}

void inbox__do_record(struct inbox *in, const struct mf_command *c, struct rstream_msg *msg)
{
    struct leg *l = engine_find(in->engine, c->leg_id);
    if (c->op == MF_OP_RECORD_STOP) {
        if (in->recorder)
            recorder_stop(in->recorder, c->leg_id, c->record.recording_id);
        rstream_ack(in->consumer, msg);
        return;
    }
    int err = !l ? VP_E_NOT_FOUND : !in->recorder ? VP_E_UNAVAILABLE : 0;
    if (!err)
        err = recorder_start(in->recorder, l, c->tenant_id, &c->record, c->reply_to);
    if (err)
        start_failed(in, c, l, err, msg);
    else
        rstream_ack(in->consumer, msg);
}

void inbox__recording_done_cb(const struct rec_result *r, void *arg)
{
    struct inbox *in = arg;
    if (!r->reply_to[0])
        return;
    char stream[STREAM_MAX];
    snprintf(stream, sizeof(stream), "%s", r->reply_to);
    inbox__send_reply(in, stream, reply_recording_done(r, in->node), NULL);
}
