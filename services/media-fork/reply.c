/* Reply bodies for call-control; see reply.h. */
#include "reply.h"

#include <jansson.h>

#include "recorder.h"
#include "voepy/json.h"

static char *dump(json_t *o)
{
    char *s = vjson_dump(o);
    json_decref(o);
    return s;
}

char *reply_allocated(const char *leg_id, const char *call_id, const char *node, const char *ip,
                      unsigned port)
{
    return dump(json_pack("{s:s, s:s, s:s, s:s, s:s, s:I}", "op", "media.allocated", "leg_id",
                          leg_id, "call_id", call_id, "media_node", node, "ip", ip, "port",
                          (json_int_t)port));
}

char *reply_failed(const char *leg_id, const char *call_id, const char *node, const char *error,
                   const char *request, const char *detail)
{
    json_t *o =
        json_pack("{s:s, s:s, s:s, s:s, s:s, s:s}", "op", "media.failed", "leg_id", leg_id,
                  "call_id", call_id, "media_node", node, "error", error, "request", request);
    if (detail && *detail)
        json_object_set_new(o, "detail", json_string(detail));
    return dump(o);
}

/* Receiver statistics and RTCP (leg_rtcp.c); unknown values are null. */
static json_t *add_quality(json_t *o, const struct leg_counters *c)
{
    json_object_set_new(o, "lost", json_integer((json_int_t)c->lost));
    json_object_set_new(o, "jitter_ms", json_integer((json_int_t)c->jitter_ms));
    json_object_set_new(o, "rtt_ms",
                        c->rtt_known ? json_integer((json_int_t)c->rtt_ms) : json_null());
    json_object_set_new(o, "rtcp_out", json_integer((json_int_t)c->rtcp_out));
    json_object_set_new(o, "remote_lost",
                        c->remote_known ? json_integer((json_int_t)c->remote_lost) : json_null());
    json_object_set_new(o, "remote_jitter_ms",
                        c->remote_known ? json_integer((json_int_t)c->remote_jitter_ms)
                                        : json_null());
    return o;
}

char *reply_released(const struct leg_report *r, const char *node)
{
    const struct leg_counters *c = &r->counters;
    return dump(add_quality(
        json_pack("{s:s, s:s, s:s, s:s, s:I, s:I, s:I, s:I, s:I, s:s}", "op", "media.released",
                  "leg_id", r->leg_id, "call_id", r->call_id, "media_node", node, "packets_in",
                  (json_int_t)c->packets_in, "packets_out", (json_int_t)c->packets_out, "bytes_in",
                  (json_int_t)c->bytes_in, "bytes_out", (json_int_t)c->bytes_out, "rtcp_in",
                  (json_int_t)c->rtcp_in, "reason", r->reason),
        c));
}

static json_t *event_base(const char *op, const char *leg_id, const char *call_id, const char *node)
{
    return json_pack("{s:s, s:s, s:s, s:s}", "op", op, "leg_id", leg_id, "call_id", call_id,
                     "media_node", node);
}

static void set_opt(json_t *o, const char *key, const char *v)
{
    if (v && *v)
        json_object_set_new(o, key, json_string(v));
}

char *reply_leg_event(const struct leg_event *ev, const char *node)
{
    json_t *o;
    if (ev->type == LEG_EV_PLAYBACK_ENDED) {
        o = event_base("playback_ended", ev->leg_id, ev->call_id, node);
        set_opt(o, "playback_id", ev->id);
        json_object_set_new(o, "reason", json_string(ev->reason));
    } else if (ev->type == LEG_EV_AMD_COMPLETE) {
        o = event_base("amd_complete", ev->leg_id, ev->call_id, node);
        json_object_set_new(o, "result", json_string(ev->status));
        json_object_set_new(o, "beep_detected", json_boolean(ev->beep));
        json_object_set_new(o, "elapsed_ms", json_integer(ev->elapsed_ms));
    } else {
        o = event_base("gather_complete", ev->leg_id, ev->call_id, node);
        json_object_set_new(o, "gather_id", json_string(ev->id));
        json_object_set_new(o, "digits", json_string(ev->digits));
        json_object_set_new(o, "status", json_string(ev->status));
    }
    return dump(o);
}

char *reply_play_failed(const char *leg_id, const char *call_id, const char *node,
                        const char *playback_id, const char *error, const char *detail)
{
    json_t *o = event_base("playback_ended", leg_id, call_id, node);
    set_opt(o, "playback_id", playback_id);
    json_object_set_new(o, "reason", json_string("failed"));
    json_object_set_new(o, "error", json_string(error));
    set_opt(o, "detail", detail);
    return dump(o);
}

char *reply_verb_failed(const char *leg_id, const char *call_id, const char *node,
                        const char *request, const char *gather_id, const char *error,
                        const char *detail)
{
    json_t *o = event_base("media.failed", leg_id, call_id, node);
    json_object_set_new(o, "error", json_string(error));
    json_object_set_new(o, "request", json_string(request));
    set_opt(o, "gather_id", gather_id);
    set_opt(o, "detail", detail);
    return dump(o);
}

char *reply_bridged(const char *op, const char *leg_id, const char *call_id, const char *node,
                    const char *peer_leg_id, const char *peer_call_id)
{
    json_t *o = event_base(op, leg_id, call_id, node);
    json_object_set_new(o, "peer_leg_id", json_string(peer_leg_id));
    json_object_set_new(o, "peer_call_id", json_string(peer_call_id));
    return dump(o);
}

char *reply_recording_done(const struct rec_result *r, const char *node)
{
    json_t *o = event_base("recording_done", r->leg_id, r->call_id, node);
    json_object_set_new(o, "recording_id", json_string(r->recording_id));
    json_object_set_new(o, "status", json_string(r->completed ? "completed" : "failed"));
    json_object_set_new(o, "duration_ms", json_integer((json_int_t)r->duration_ms));
    json_object_set_new(o, "size_bytes", json_integer((json_int_t)r->size_bytes));
    json_object_set_new(o, "storage_key", json_string(r->storage_key));
    set_opt(o, "error", r->error);
    set_opt(o, "detail", r->detail);
    return dump(o);
}
