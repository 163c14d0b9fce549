/*
 * Relay numbers' recording and transcription (call_relay.h). What the number asks for
 * comes with the inbound call's answered statement (cc_inbound_answered runs
 * cc_relay_media); the starts follow once that answer is known and the bridge with the
 * child is sent, whichever comes last (today the bridge: it is sent as the call becomes
 * answered, before the statement's result). Nothing here outlives the call: a call that
 * ended meanwhile starts nothing (its transcription row stays requested, is never
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

/* Bits of struct call's relay_media. */
enum {
    RELAY_JOINED = 1,     /* the bridge with the child is sent (call_relay_bridged) */
    RELAY_KNOWN = 2,      /* the answered statement said what the number asks for */
    RELAY_RECORD = 4,     /* ... relay_record */
    RELAY_TRANSCRIBE = 8, /* ... relay_transcribe */
    RELAY_STARTED = 16,   /* done: once per call */
};

static void start_when_ready(struct call *c)
{
    unsigned m = c->relay_media;
    if (!(m & RELAY_JOINED) || !(m & RELAY_KNOWN) || (m & RELAY_STARTED))
        return;
    c->relay_media |= RELAY_STARTED;
    bool record = m & RELAY_RECORD, transcribe = m & RELAY_TRANSCRIBE;
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

void call_relay_answered(struct call *c, int status, const struct pg_result *res)
{
    if (!c->relay || status)
        return; /* a failed statement is logged by store.c */
    c->relay_media |= RELAY_KNOWN;
    if (flag(res, "relay_record"))
        c->relay_media |= RELAY_RECORD;
    if (flag(res, "relay_transcribe"))
        c->relay_media |= RELAY_TRANSCRIBE;
    start_when_ready(c);
}

void call_relay_bridged(struct call *p)
{
    p->relay_media |= RELAY_JOINED;
    start_when_ready(p);
}
