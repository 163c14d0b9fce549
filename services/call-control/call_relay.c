/*
 * Relay numbers' recording and transcription (call_relay.h). One statement on the call's
 * queue (cc_relay_media), then the two starts; nothing here outlives the call: a call
 * that ended meanwhile starts nothing (its transcription row stays requested, is never
 * charged: no audio was heard).
 */
#include "call_relay.h"

#include <string.h>

#include "call_int.h"
#include "call_media.h"
#include "voepy/err.h"
#include "voepy/log.h"
#include "voepy/pg.h"

/* Whether the relay's media may start on c: answered or bridged here, leg allocated. */
static bool startable(const struct call *c)
{
    return !c->abandoned && (c->state == CALL_ANSWERED || c->state == CALL_BRIDGED) &&
           c->media.state == MEDIA_ALLOCATED;
}

static bool flag(const struct pg_result *res, const char *col)
{
    const char *v = pg_get(res, 0, col);
    return v && strcmp(v, "t") == 0;
}

/* transcription_start as the API's (call_speech.c), without an action: id "relay". */
static void start_transcription(struct call *c)
{
    json_t *cmd =
        json_pack("{s:s, s:s, s:s, s:s, s:s}", "op", "transcription_start", "leg_id", c->leg_id,
                  "transcription_id", "relay", "engine", "fast", "tracks", "both");
    if (media__send_verb(c, cmd) != 0) {
        log_warn("relay.transcription_failed",
                 "call %s: transcription_start could not be sent to media-fork", c->id);
        return;
    }
    store__sql(c, "SELECT cc_relay_transcription_started($1, $2)", NULL, 0, false, NULL);
}

static void media_cb(struct call *c, int status, const struct pg_result *res)
{
    if (status || pg_ntuples(res) == 0) {
        if (status)
            log_warn("relay.media_failed", "call %s: cc_relay_media: %s", c->id,
                     vp_err_message(status));
        return;
    }
    bool record = flag(res, "record"), transcribe = flag(res, "transcribe");
    if (!record && !transcribe)
        return;
    if (!startable(c)) {
        log_info("relay.media_skipped", "call %s ended before its relay media started", c->id);
        return;
    }
    vlog_kv(VLOG_INFO, "relay.media", "starting the relay's media", "call_id", c->id, "record",
            record ? "true" : "false", "transcribe", transcribe ? "true" : "false", NULL);
    if (record && call_record__start(c, "dual", "mp3") != 0)
        log_warn("relay.record_failed", "call %s: the recording could not be asked for", c->id);
    if (transcribe)
        start_transcription(c);
}

void call_relay_bridged(struct call *p)
{
    store__sql(p, "SELECT * FROM cc_relay_media($1, $2)", NULL, 0, false, media_cb);
}
