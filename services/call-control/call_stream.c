/*
 * WebSocket media streams of a call (call_stream.h). Outcomes are written straight to
 * the pool, not through the call's statement queue: a stream may end after the call has
 * left this node (media-fork reports it when the leg is released), and they are recorded
 * by stream id alone.
 */
#include "call_stream.h"

#include <stdio.h>
#include <string.h>

#include "call_int.h"
#include "call_media.h"
#include "voepy/err.h"
#include "voepy/id.h"
#include "voepy/json.h"
#include "voepy/log.h"
#include "voepy/pg.h"

bool call_stream_is_verb(const char *op)
{
    return op && (strcmp(op, "streaming_start") == 0 || strcmp(op, "streaming_stop") == 0);
}

bool call_stream_is_reply(const char *op)
{
    return op && (strcmp(op, "streaming_started") == 0 || strcmp(op, "streaming_ended") == 0);
}

/* ---- writes without the call ---- */

static void written_cb(int status, const struct pg_result *res, void *arg)
{
    (void)res;
    (void)arg;
    if (status)
        log_warn("stream.write_lost", "a stream outcome was not recorded: %s",
                 vp_err_message(status));
}

static void write_direct(struct cc *cc, const char *sql, const char *const *params, int n)
{
    if (pg_exec(cc->pg, sql, n, params, written_cb, cc) != 0)
        log_warn("stream.write_lost", "a stream outcome was not recorded: the queue is full");
}

static void row_failed(struct cc *cc, const char *stream_id)
{
    const char *params[] = {stream_id, "failed", "0", "0"};
    write_direct(cc, "SELECT cc_stream_ended($1, $2, $3::bigint, $4::bigint)", params, 4);
}

/* ---- starting and stopping ---- */

static int send_start(struct call *c, const char *stream_id, const char *url, const char *track,
                      const char *codec)
{
    json_t *cmd = json_pack("{s:s, s:s, s:s, s:s, s:s, s:s, s:b}", "op", "streaming_start",
                            "leg_id", c->leg_id, "stream_id", stream_id, "url", url, "track",
                            track ? track : "inbound_track", "codec", codec ? codec : "PCMU",
                            "bidirectional", 1);
    int err = media__send_verb(c, cmd);
    vlog_kv(err ? VLOG_WARN : VLOG_INFO, "stream.start", err ? "not sent" : "streaming_start sent",
            "call_id", c->id, "stream_id", stream_id, NULL);
    return err;
}

static int do_start(struct call *c, const char *action, const json_t *p, char *why, size_t n)
{
    const char *stream_id = vjson_str(p, "stream_id"), *url = vjson_str(p, "stream_url");
    if (!stream_id || !id_valid(stream_id, "stream") || !url) {
        snprintf(why, n, "streaming_start without a valid stream_id and stream_url");
        return VP_E_INVALID_PARAMETER;
    }
    int err =
        send_start(c, stream_id, url, vjson_str(p, "stream_track"), vjson_str(p, "stream_codec"));
    if (err)
        snprintf(why, n, "the command could not be sent to media-fork node %s: %s", c->media.node,
                 vp_err_message(err));
    else
        store__action_result(c, action, true, NULL);
    return err;
}

static int do_stop(struct call *c, const char *action, const json_t *p, char *why, size_t n)
{
    json_t *cmd = json_pack("{s:s, s:s}", "op", "streaming_stop", "leg_id", c->leg_id);
    const char *stream_id = vjson_str(p, "stream_id");
    if (stream_id)
        json_object_set_new(cmd, "stream_id", json_string(stream_id));
    int err = media__send_or_why(c, cmd, why, n);
    if (!err)
        store__action_result(c, action, true, NULL);
    return err;
}

int call_stream_action(struct cc *cc, const char *op, const char *call_id, const char *action_id,
                       const json_t *params, char *why, size_t n)
{
    struct call *c;
    int err = call_media_call(cc, call_id, &c, why, n);
    if (err)
        return err;
    if (strcmp(op, "streaming_stop") == 0)
        return do_stop(c, action_id, params, why, n);
    return do_start(c, action_id, params, why, n);
}

void call_stream_answer_params(struct call *c, const json_t *params)
{
    const char *stream_id = vjson_str(params, "stream_id"), *url = vjson_str(params, "stream_url");
    if (!stream_id || !url || !id_valid(stream_id, "stream"))
        return;
    const char *track = vjson_str(params, "stream_track"),
               *codec = vjson_str(params, "stream_codec");
    snprintf(c->answer_stream.stream_id, sizeof(c->answer_stream.stream_id), "%s", stream_id);
    snprintf(c->answer_stream.url, sizeof(c->answer_stream.url), "%s", url);
    snprintf(c->answer_stream.track, sizeof(c->answer_stream.track), "%s",
             track ? track : "inbound_track");
    snprintf(c->answer_stream.codec, sizeof(c->answer_stream.codec), "%s", codec ? codec : "PCMU");
}

void call_stream_answered(struct call *c)
{
    if (!c->answer_stream.stream_id[0])
        return;
    char stream_id[ID_MAX];
    snprintf(stream_id, sizeof(stream_id), "%s", c->answer_stream.stream_id);
    c->answer_stream.stream_id[0] = '\0'; /* once */
    if (c->media.state != MEDIA_ALLOCATED ||
        send_start(c, stream_id, c->answer_stream.url, c->answer_stream.track,
                   c->answer_stream.codec) != 0)
        row_failed(c->cc, stream_id);
}

/* ---- outcomes ---- */

void call_stream_reply(struct cc *cc, const json_t *m)
{
    const char *op = vjson_str(m, "op"), *stream_id = vjson_str(m, "stream_id");
    if (!stream_id || !id_valid(stream_id, "stream")) {
        log_warn("stream.bad_reply", "%s without a valid stream_id", op);
        return;
    }
    if (strcmp(op, "streaming_started") == 0) {
        const char *params[] = {stream_id};
        write_direct(cc, "SELECT cc_stream_started($1)", params, 1);
        return;
    }
    const char *reason = vjson_str(m, "reason");
    char sent[24], dropped[24];
    snprintf(sent, sizeof(sent), "%lld", vjson_int(m, "frames_sent", 0));
    snprintf(dropped, sizeof(dropped), "%lld", vjson_int(m, "frames_dropped", 0));
    vlog_kv(VLOG_INFO, "stream.ended", reason, "call_id", vjson_str(m, "call_id"), "stream_id",
            stream_id, "error", vjson_str(m, "error"), "detail", vjson_str(m, "detail"), NULL);
    const char *params[] = {stream_id, reason ? reason : "stopped", sent, dropped};
    write_direct(cc, "SELECT cc_stream_ended($1, $2, $3::bigint, $4::bigint)", params, 4);
}
