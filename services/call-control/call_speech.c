/*
 * The speech verbs of a call (call_speech.h): the commands call_media.c sends for speak
 * and gather_using_speak, transcription_start / transcription_stop, and what media-fork
 * reports of transcriptions, written with one SQL function each (0027_speech.sql).
 */
#include "call_speech.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "call_int.h"
#include "call_media.h"
#include "voepy/err.h"
#include "voepy/json.h"
#include "voepy/log.h"
#include "voepy/pg.h"

static void set_str(json_t *o, const char *key, const char *v)
{
    if (v)
        json_object_set_new(o, key, json_string(v));
}

/* {text, voice, language} of params p, text from member text_key. */
static json_t *spoken(const json_t *p, const char *text_key)
{
    json_t *o = json_object();
    set_str(o, "text", vjson_str(p, text_key));
    set_str(o, "voice", vjson_str(p, "voice"));
    set_str(o, "language", vjson_str(p, "language"));
    return o;
}

json_t *call_speech_speak_command(const char *leg_id, const json_t *p)
{
    json_t *cmd = spoken(p, "payload");
    set_str(cmd, "op", "speak");
    set_str(cmd, "leg_id", leg_id);
    return cmd;
}

void call_speech_gather_prompt(json_t *cmd, const json_t *p, bool retry)
{
    if (!vjson_str(p, "payload"))
        return;
    const char *key = retry && vjson_str(p, "invalid_payload") ? "invalid_payload" : "payload";
    json_object_del(cmd, "play");
    json_object_set_new(cmd, "speak", spoken(p, key));
}

bool call_speech_is_verb(const char *op)
{
    return op && (strcmp(op, "transcription_start") == 0 || strcmp(op, "transcription_stop") == 0);
}

bool call_speech_is_outcome(const char *op)
{
    return op && (strcmp(op, "transcript_chunk") == 0 || strcmp(op, "transcription_ended") == 0 ||
                  strcmp(op, "transcription_started") == 0);
}

/* ---- actions ---- */

int call_speech_action(struct call *c, const char *op, const char *action_id, const json_t *p,
                       char *why, size_t n)
{
    bool start = strcmp(op, "transcription_start") == 0;
    json_t *cmd = json_pack("{s:s, s:s}", "op", op, "leg_id", c->leg_id);
    if (start) {
        set_str(cmd, "transcription_id", action_id);
        set_str(cmd, "engine", vjson_str(p, "engine"));
        set_str(cmd, "language", vjson_str(p, "language"));
        set_str(cmd, "tracks", vjson_str(p, "transcription_tracks"));
    }
    int err = media__send_or_why(c, cmd, why, n);
    if (!err && !start) /* a start waits for media-fork's answer (on_started, _failed) */
        store__action_result(c, action_id, true, NULL);
    return err;
}

void call_speech_failed(struct call *c, const json_t *m)
{
    const char *id = vjson_str(m, "transcription_id"), *error = vjson_str(m, "error");
    const char *detail = vjson_str(m, "detail");
    if (!id || !id_valid(id, "act")) { /* a relay number's (call_relay.c): no action */
        vlog_kv(VLOG_WARN, "speech.transcription_refused", detail ? detail : "refused", "call_id",
                c->id, "transcription_id", id, NULL);
        return;
    }
    char note[256];
    snprintf(note, sizeof(note), "%.64s: %.180s", error ? error : "failed",
             detail ? detail : "media-fork could not start the transcription");
    store__action_result(c, id, false, note); /* also stops its call_transcriptions row */
}

/* ---- what media-fork reports ---- */

static void direct_cb(int status, const struct pg_result *res, void *arg)
{
    struct cc *cc = arg;
    (void)res;
    if (status)
        log_warn("speech.outcome_lost", "a transcription outcome was not recorded: %s",
                 vp_err_message(status));
    else
        cc__kick_outbox(cc);
}

/* sql ($1 call, $2 node, then args) on the call's queue, or directly when it is gone. */
static void record(struct cc *cc, const char *call_id, const char *sql, const char *const *args,
                   int n)
{
    struct call *c = call__find(cc, call_id);
    if (c && !c->abandoned) {
        store__sql(c, sql, args, n, true, NULL);
        return;
    }
    const char *params[10] = {call_id, cc->node_id};
    for (int i = 0; i < n && i < 8; i++)
        params[i + 2] = args[i];
    if (pg_exec(cc->pg, sql, n + 2, params, direct_cb, cc) != 0)
        log_warn("speech.outcome_lost", "a transcription outcome was not recorded: queue full");
}

static void int_text(char *buf, size_t n, const json_t *m, const char *key)
{
    snprintf(buf, n, "%lld", vjson_int(m, key, 0));
}

static void on_chunk(struct cc *cc, const char *call_id, const json_t *m)
{
    char conf[32], base[24], start[24], end[24];
    const json_t *c = json_object_get(m, "confidence");
    snprintf(conf, sizeof(conf), "%.4f", json_is_number(c) ? json_number_value(c) : 0.0);
    int_text(base, sizeof(base), m, "session_started_ms");
    int_text(start, sizeof(start), m, "start_ms");
    int_text(end, sizeof(end), m, "end_ms");
    const json_t *w = json_object_get(m, "words");
    char *words = json_is_array(w) ? vjson_dump(w) : NULL;
    const char *track = vjson_str(m, "track"), *text = vjson_str(m, "text");
    const char *args[] = {track ? track : "inbound", text ? text : "", conf, base, start, end,
                          words ? words : "[]"};
    vlog_kv(VLOG_INFO, "speech.transcript_chunk", "a phrase was transcribed", "call_id", call_id,
            "track", args[0], NULL);
    record(cc, call_id,
           "SELECT cc_transcript_chunk($1, $2, $3, $4, $5::float8, $6::bigint, $7::bigint, "
           "$8::bigint, $9::jsonb)",
           args, 7);
    free(words);
}

/* media-fork took the transcription_start: its action is done, the session active. A
 * redelivered start answers again: both statements change only what is still requested. */
static void on_started(struct cc *cc, const char *call_id, const json_t *m)
{
    const char *id = vjson_str(m, "transcription_id");
    vlog_kv(VLOG_INFO, "speech.transcription_started", "media-fork transcribes", "call_id", call_id,
            "transcription_id", id, "language", vjson_str(m, "language"), NULL);
    if (!id || !id_valid(id, "act"))
        return; /* a relay number's: call_relay.c marked it when it sent it */
    const char *args[] = {id};
    record(cc, call_id,
           "SELECT cc_action_result($1, $2, $3, true, NULL), cc_transcription_started($1, $2, $3)",
           args, 1);
}

static void on_ended(struct cc *cc, const char *call_id, const json_t *m)
{
    char ms[24];
    int_text(ms, sizeof(ms), m, "audio_ms");
    const char *reason = vjson_str(m, "reason");
    const char *args[] = {ms, reason ? reason : "stopped"};
    vlog_kv(VLOG_INFO, "speech.transcription_ended", "a transcription ended", "call_id", call_id,
            "audio_ms", ms, "reason", args[1], NULL);
    record(cc, call_id, "SELECT cc_transcription_ended($1, $2, $3::bigint, $4)", args, 2);
}

void call_speech_outcome(struct cc *cc, const json_t *m)
{
    const char *op = vjson_str(m, "op"), *call_id = vjson_str(m, "call_id");
    if (!call_id || !id_valid(call_id, "call")) {
        log_warn("speech.bad_outcome", "a %s without a valid call_id", op);
        return;
    }
    if (strcmp(op, "transcript_chunk") == 0)
        on_chunk(cc, call_id, m);
    else if (strcmp(op, "transcription_started") == 0)
        on_started(cc, call_id, m);
    else
        on_ended(cc, call_id, m);
}
