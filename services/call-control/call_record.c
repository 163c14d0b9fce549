/*
 * Recordings of a call (call_record.h). Every database write here goes straight to the
 * pool, not through the call's statement queue: the outcome of a recording may come after
 * the call is gone, and a start only needs the call's row (cc_recording_start locks it).
 * A callback finds the call again by id; it may have ended meanwhile. The one exception
 * is the automatic recording at the answer, which the answered statement itself starts
 * (store.c, cc_call_answered): its result comes to call_record_answered.
 */
#include "call_record.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "call_int.h"
#include "call_media.h"
#include "voepy/alloc.h"
#include "voepy/err.h"
#include "voepy/json.h"
#include "voepy/log.h"
#include "voepy/pg.h"

/* A cc_recording_start in flight. */
struct rec_start {
    struct cc *cc;
    char call_id[ID_MAX];
    char action_id[ID_MAX]; /* "" for a start at the answer */
    long long max_length;   /* seconds, 0 = none */
    bool play_beep;
};

bool call_record_is_verb(const char *op)
{
    return op && (strcmp(op, "start_recording") == 0 || strcmp(op, "stop_recording") == 0);
}

/* ---- writes without the call ---- */

static void written_cb(int status, const struct pg_result *res, void *arg)
{
    struct cc *cc = arg;
    (void)res;
    if (status)
        log_warn("record.write_lost", "a recording outcome was not recorded: %s",
                 vp_err_message(status));
    else
        cc__kick_outbox(cc);
}

static void write_direct(struct cc *cc, const char *sql, const char *const *params, int n)
{
    if (pg_exec(cc->pg, sql, n, params, written_cb, cc) != 0)
        log_warn("record.write_lost", "a recording outcome was not recorded: the queue is full");
}

static void action_result(struct cc *cc, const char *call_id, const char *action, bool done,
                          const char *note)
{
    if (!action || !action[0])
        return;
    const char *params[] = {call_id, cc->node_id, action, done ? "true" : "false", note};
    write_direct(cc, "SELECT cc_action_result($1, $2, $3, $4, $5)", params, 5);
}

static void recording_failed(struct cc *cc, const char *recording_id, const char *error)
{
    const char *params[] = {recording_id, "failed", NULL, NULL, NULL, error};
    write_direct(cc, "SELECT cc_recording_done($1, $2, $3::bigint, $4::bigint, $5, $6)", params, 6);
}

/* ---- starting ---- */

/*
 * The call, live here, answered (or bridged: its leg's tap then hears the other call as
 * what we send) or ringing with early media (its leg is connected), with a media leg;
 * NULL otherwise.
 */
static struct call *recordable(struct cc *cc, const char *call_id)
{
    struct call *c = call__find(cc, call_id);
    bool live = c && (c->state == CALL_ANSWERED || c->state == CALL_BRIDGED ||
                      (c->state == CALL_RINGING && c->early_media));
    if (!live || c->abandoned || c->media.state != MEDIA_ALLOCATED)
        return NULL;
    return c;
}

static int send_start(struct call *c, const struct rec_start *s, const struct pg_result *res)
{
    json_t *cmd = json_pack("{s:s, s:s, s:s, s:s, s:s, s:s, s:I, s:b}", "op", "record_start",
                            "leg_id", c->leg_id, "recording_id", pg_get(res, 0, "recording_id"),
                            "tenant_id", pg_get(res, 0, "tenant_id"), "channels",
                            pg_get(res, 0, "channels"), "format", pg_get(res, 0, "format"),
                            "max_length", (json_int_t)s->max_length, "play_beep", s->play_beep);
    return media__send_verb(c, cmd);
}

/* The answer to a cc_recording_start (or the answered statement's recording columns):
 * record_start sent, or the recording failed; an action's result either way. */
static void started(struct rec_start *s, int status, const struct pg_result *res)
{
    struct cc *cc = s->cc;
    const char *rec = status == 0 && pg_ntuples(res) > 0 ? pg_get(res, 0, "recording_id") : NULL;
    struct call *c = rec ? recordable(cc, s->call_id) : NULL;
    int err = c ? send_start(c, s, res) : VP_E_NOT_FOUND;
    if (!err) {
        c->recording_sent = true;
        vlog_kv(VLOG_INFO, "record.started", "record_start sent", "call_id", s->call_id,
                "recording_id", rec, NULL);
        action_result(cc, s->call_id, s->action_id, true, NULL);
    } else {
        if (status)
            log_warn("record.start_failed", "call %s: cc_recording_start: %s", s->call_id,
                     vp_err_message(status));
        if (rec)
            recording_failed(cc, rec, c ? "media_unreachable" : "call_ended");
        action_result(cc, s->call_id, s->action_id, false,
                      c ? "the command could not be sent to media-fork"
                        : "the call is no longer answered on this node");
    }
}

static void started_cb(int status, const struct pg_result *res, void *arg)
{
    started(arg, status, res);
    free(arg);
}

#define SQL_START "SELECT * FROM cc_recording_start($1, $2, $3, $4, $5::boolean)"
/*
 * The same, only for a call whose creation asked for record on_ringing: the filter on
 * calls runs first and cc_recording_start once per row it lets through (a lateral call
 * on that row), so a call that records on_answer starts nothing here.
 */
#define SQL_START_EARLY                                                                     \
    "SELECT r.* FROM calls x, LATERAL cc_recording_start(x.id, $2, $3, $4, $5::boolean) r " \
    "WHERE x.id = $1 AND x.options->>'record' = 'on_ringing'"

static struct rec_start *new_start(struct call *c, const char *action, long long max_length,
                                   bool beep)
{
    struct rec_start *s = VP_NEW(s);
    s->cc = c->cc;
    snprintf(s->call_id, sizeof(s->call_id), "%s", c->id);
    snprintf(s->action_id, sizeof(s->action_id), "%s", action ? action : "");
    s->max_length = max_length;
    s->play_beep = beep;
    return s;
}

/* Ask the database for the recording with sql (channels/format NULL with is_auto: the
 * call's own); s is freed by started_cb, or here when the query cannot be queued. */
static int ask(struct call *c, struct rec_start *s, const char *sql, const char *channels,
               const char *format, bool is_auto)
{
    const char *params[] = {c->id, c->cc->node_id, channels, format, is_auto ? "true" : "false"};
    int err = pg_exec(c->cc->pg, sql, 5, params, started_cb, s);
    if (err)
        free(s);
    return err;
}

static int start(struct call *c, const char *action, const char *channels, const char *format,
                 bool is_auto, long long max_length, bool beep)
{
    return ask(c, new_start(c, action, max_length, beep), SQL_START, channels, format, is_auto);
}

int call_record__start(struct call *c, const char *channels, const char *format)
{
    return start(c, NULL, channels, format, false, 0, false);
}

void call_record_answer_params(struct call *c, const json_t *params)
{
    const char *record = vjson_str(params, "record");
    if (!record || strcmp(record, "record-from-answer") != 0)
        return;
    const char *ch = vjson_str(params, "record_channels"),
               *fmt = vjson_str(params, "record_format");
    snprintf(c->answer_record.channels, sizeof(c->answer_record.channels), "%s",
             ch ? ch : "single");
    snprintf(c->answer_record.format, sizeof(c->answer_record.format), "%s", fmt ? fmt : "mp3");
}

void call_record_early(struct call *c)
{
    if (ask(c, new_start(c, NULL, 0, false), SQL_START_EARLY, NULL, NULL, true))
        log_warn("record.start_failed",
                 "call %s: the recording at early media could not be asked for", c->id);
}

bool call_record_answer_starts(const struct call *c)
{
    /* record on_ringing started with early media: one recording per call */
    return !(c->early_media && c->recording_sent);
}

void call_record_answered(struct call *c, int status, const struct pg_result *res)
{
    if (status || pg_ntuples(res) < 1 || !pg_get(res, 0, "recording_id"))
        return; /* nothing to record (a failed statement is logged by store.c) */
    struct rec_start s = {.cc = c->cc};
    snprintf(s.call_id, sizeof(s.call_id), "%s", c->id);
    started(&s, 0, res);
}

/* ---- actions ---- */

static int do_stop(struct call *c, const char *action, char *why, size_t n)
{
    json_t *cmd = json_pack("{s:s, s:s}", "op", "record_stop", "leg_id", c->leg_id);
    int err = media__send_or_why(c, cmd, why, n);
    if (!err)
        store__action_result(c, action, true, NULL);
    return err;
}

int call_record_action(struct cc *cc, const char *op, const char *call_id, const char *action_id,
                       const json_t *params, char *why, size_t n)
{
    struct call *c;
    int err = call_media_call(cc, call_id, &c, why, n);
    if (err)
        return err;
    if (strcmp(op, "stop_recording") == 0)
        return do_stop(c, action_id, why, n);
    const json_t *beep = json_object_get(params, "play_beep");
    err = start(c, action_id, vjson_str(params, "channels"), vjson_str(params, "format"), false,
                vjson_int(params, "max_length", 0), beep && json_is_true(beep));
    if (err)
        snprintf(why, n, "the database is busy: the recording was not started");
    return err ? VP_E_UNAVAILABLE : 0;
}

/* ---- outcomes ---- */

void call_record_done(struct cc *cc, const json_t *m)
{
    const char *rec = vjson_str(m, "recording_id"), *status = vjson_str(m, "status");
    if (!rec || !id_valid(rec, "rec") || !status) {
        log_warn("record.bad_reply", "recording_done without a valid recording_id or status");
        return;
    }
    char dur[24], size[24];
    snprintf(dur, sizeof(dur), "%lld", vjson_int(m, "duration_ms", 0));
    snprintf(size, sizeof(size), "%lld", vjson_int(m, "size_bytes", 0));
    const char *error = vjson_str(m, "error");
    vlog_kv(VLOG_INFO, "record.done", status, "call_id", vjson_str(m, "call_id"), "recording_id",
            rec, "error", error, NULL);
    const char *params[] = {rec, status, dur, size, vjson_str(m, "storage_key"), error};
    write_direct(cc, "SELECT cc_recording_done($1, $2, $3::bigint, $4::bigint, $5, $6)", params, 6);
}
