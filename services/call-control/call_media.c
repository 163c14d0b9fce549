/*
 * The media verbs of a call (call_media.h). An action is checked against the call as this
 * node carries it (answered, a media leg allocated; one leg, so target_legs is self) and
 * sent to the leg's media-fork node. Its call_actions row completes:
 *   play, speak, stop_playback   as call_play.c says (target_legs, the queue of plays);
 *   gather*         with its final gather_complete, which is also call.gather_complete
 *                   (cc_gather_complete); media.failed for it fails it;
 *   stop_gather, send_dtmf   done once sent.
 *
 * maximum_tries: a try that ends invalid or timeout while tries are left is followed by
 * a new gather (gather_id "<action>~<try>") whose prompt is invalid_audio_url, else the
 * first prompt again (none for gather); only the last try's result is emitted. A gather
 * cancelled because the call ended is reported with status call_hangup.
 *
 * State per call (what plays, the gather running) lives in cc->media_calls, keyed by call
 * id, and goes when nothing is pending, when the leg is released (what was never
 * reported is closed then), or at inbox_close.
 */
#include "call_media.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "call_dialog.h"
#include "call_int.h"
#include "call_play.h"
#include "call_speech.h"
#include "voepy/alloc.h"
#include "voepy/err.h"
#include "voepy/json.h"
#include "voepy/log.h"
#include "voepy/pg.h"

#define GATHER_ID_MAX (ID_MAX + 8)

struct media_call {
    char call_id[ID_MAX];
    struct call_play *plays; /* the plays sent to the call's leg (call_play.c), NULL none */
    char gather_action[ID_MAX];
    char gather_id[GATHER_ID_MAX]; /* the running try's */
    int tries, max_tries;
    json_t *retry; /* the command of the next try (its gather_id set when sent) */
};

/* The last four are the speech verbs (call_speech.h). */
static const char *const media_verbs[] = {"play",
                                          "stop_playback",
                                          "gather",
                                          "gather_using_audio",
                                          "stop_gather",
                                          "send_dtmf",
                                          "speak",
                                          "gather_using_speak",
                                          "transcription_start",
                                          "transcription_stop",
                                          NULL};

static bool in_list(const char *s, const char *const *list)
{
    for (int i = 0; s && list[i]; i++)
        if (strcmp(s, list[i]) == 0)
            return true;
    return false;
}

bool call_media_is_verb(const char *op)
{
    return in_list(op, media_verbs);
}

bool call_media_is_verb_request(const char *request)
{
    static const char *const requests[] = {"play",
                                           "stop_playback",
                                           "gather",
                                           "stop_gather",
                                           "send_dtmf",
                                           "speak",
                                           "transcription_start",
                                           "transcription_stop",
                                           "digit_in", /* a SIP INFO digit (sip_info.c) */
                                           NULL};
    return in_list(request, requests);
}

/* ---- per-call state ---- */

static struct media_call *state_get(struct cc *cc, const char *call_id)
{
    return cc->media_calls ? strmap_get(cc->media_calls, call_id) : NULL;
}

static struct media_call *state_make(struct cc *cc, const char *call_id)
{
    struct media_call *mc = state_get(cc, call_id);
    if (mc)
        return mc;
    if (!cc->media_calls)
        cc->media_calls = strmap_create();
    mc = VP_NEW(mc);
    snprintf(mc->call_id, sizeof(mc->call_id), "%s", call_id);
    strmap_put(cc->media_calls, mc->call_id, mc);
    return mc;
}

static void state_free(struct cc *cc, struct media_call *mc)
{
    strmap_del(cc->media_calls, mc->call_id);
    call_play_free(mc->plays);
    json_decref(mc->retry);
    free(mc);
    if (strmap_count(cc->media_calls) == 0) {
        strmap_free(cc->media_calls);
        cc->media_calls = NULL;
    }
}

static void gather_forget(struct media_call *mc)
{
    mc->gather_action[0] = mc->gather_id[0] = '\0';
    json_decref(mc->retry);
    mc->retry = NULL;
}

/* Forget mc when nothing is pending. */
static void state_tidy(struct cc *cc, struct media_call *mc)
{
    if (!mc->plays && !mc->gather_action[0])
        state_free(cc, mc);
}

struct call_play **call_media__plays(struct cc *cc, const char *call_id, bool make)
{
    struct media_call *mc = make ? state_make(cc, call_id) : state_get(cc, call_id);
    return mc ? &mc->plays : NULL;
}

void call_media__tidy(struct cc *cc, const char *call_id)
{
    struct media_call *mc = state_get(cc, call_id);
    if (mc)
        state_tidy(cc, mc);
}

void call_media_free_all(struct cc *cc)
{
    while (cc->media_calls) {
        struct media_call *mc;
        strmap_values(cc->media_calls, (void **)&mc, 1);
        state_free(cc, mc);
    }
}

/* ---- recording outcomes ---- */

static void direct_cb(int status, const struct pg_result *res, void *arg)
{
    struct cc *cc = arg;
    (void)res;
    if (status)
        log_warn("media.outcome_lost", "a media outcome was not recorded: %s",
                 vp_err_message(status));
    else
        cc__kick_outbox(cc);
}

/* The call is gone from this node (its end recorded): write without its queue. */
static void record_direct(struct cc *cc, const char *sql, const char *const *params, int n)
{
    if (pg_exec(cc->pg, sql, n, params, direct_cb, cc) != 0)
        log_warn("media.outcome_lost", "a media outcome was not recorded: the queue is full");
}

static void record_gather(struct cc *cc, struct call *c, const char *call_id, const char *action,
                          const char *digits, const char *status)
{
    vlog_kv(VLOG_INFO, "media.gather_complete", "a gather ended", "call_id", call_id, "action_id",
            action, "status", status, NULL);
    if (c) {
        store__gather_complete(c, action, digits, status);
        return;
    }
    const char *params[] = {call_id, cc->node_id, action, digits, status};
    record_direct(cc, "SELECT cc_gather_complete($1, $2, $3, $4, $5)", params, 5);
}

/* ---- actions ---- */

static void set_str(json_t *o, const char *key, const char *v)
{
    if (v)
        json_object_set_new(o, key, json_string(v));
}

static void copy_member(json_t *to, const json_t *from, const char *key)
{
    json_t *v = json_object_get(from, key);
    if (v && !json_is_null(v))
        json_object_set(to, key, v);
}

static json_t *verb_command(struct call *c, const char *op)
{
    return json_pack("{s:s, s:s}", "op", op, "leg_id", c->leg_id);
}

int media__send_or_why(struct call *c, json_t *cmd, char *why, size_t n)
{
    int err = media__send_verb(c, cmd);
    if (err)
        snprintf(why, n, "the command could not be sent to media-fork node %s: %s", c->media.node,
                 vp_err_message(err));
    return err;
}

/* Whether action is already carried out here (a command read twice): nothing to do. */
static bool already(struct call *c, const char *action)
{
    struct media_call *mc = state_get(c->cc, c->id);
    return call_play_has(c, action) || (mc && strcmp(mc->gather_action, action) == 0);
}

/* The gather command of a try (without gather_id), prompt the prompt or NULL. */
static json_t *gather_command(struct call *c, const json_t *p, const char *prompt)
{
    static const char *const keys[] = {"minimum_digits",
                                       "maximum_digits",
                                       "terminating_digit",
                                       "timeout_millis",
                                       "inter_digit_timeout_millis",
                                       NULL};
    json_t *cmd = verb_command(c, "gather");
    for (int i = 0; keys[i]; i++)
        copy_member(cmd, p, keys[i]);
    set_str(cmd, "play", prompt);
    return cmd;
}

static int do_gather(struct call *c, const char *action, const json_t *p, char *why, size_t n)
{
    const char *prompt = vjson_str(p, "audio_url");
    const char *again = vjson_str(p, "invalid_audio_url");
    json_t *cmd = gather_command(c, p, prompt);
    call_speech_gather_prompt(cmd, p, false); /* gather_using_speak */
    set_str(cmd, "gather_id", action);
    int err = media__send_or_why(c, cmd, why, n);
    if (err)
        return err;
    struct media_call *mc = state_make(c->cc, c->id);
    gather_forget(mc); /* a running one: media-fork cancels it, its result still goes out */
    snprintf(mc->gather_action, sizeof(mc->gather_action), "%s", action);
    snprintf(mc->gather_id, sizeof(mc->gather_id), "%s", action);
    mc->tries = 1;
    long long max = vjson_int(p, "maximum_tries", 1);
    mc->max_tries = max < 1 ? 1 : max > 10 ? 10 : (int)max;
    if (mc->max_tries > 1) {
        mc->retry = gather_command(c, p, again ? again : prompt);
        call_speech_gather_prompt(mc->retry, p, true);
    }
    return 0;
}

static int do_stop_gather(struct call *c, const char *action, char *why, size_t n)
{
    struct media_call *mc = state_get(c->cc, c->id);
    json_t *cmd = verb_command(c, "stop_gather");
    if (mc && mc->gather_id[0]) {
        set_str(cmd, "gather_id", mc->gather_id);
        mc->max_tries = mc->tries; /* the cancelled try is the last */
    }
    int err = media__send_or_why(c, cmd, why, n);
    if (!err)
        store__action_result(c, action, true, NULL);
    return err;
}

static int do_send_dtmf(struct call *c, const char *action, const json_t *p, char *why, size_t n)
{
    if (c->offer.dtmf_pt < 0) /* no telephone-event in the far end's SDP: SIP INFO */
        return call_info_send_dtmf(c, action, p, why, n);
    json_t *cmd = verb_command(c, "send_dtmf");
    set_str(cmd, "digits", vjson_str(p, "digits"));
    copy_member(cmd, p, "duration_millis");
    int err = media__send_or_why(c, cmd, why, n);
    if (!err)
        store__action_result(c, action, true, NULL);
    return err;
}

int call_media_call(struct cc *cc, const char *call_id, struct call **cp, char *why, size_t n)
{
    struct call *c = call__find(cc, call_id);
    if (!c || c->abandoned) {
        snprintf(why, n, "call %s is not live on this node", call_id);
        return VP_E_NOT_FOUND;
    }
    if ((c->state != CALL_ANSWERED && c->state != CALL_BRIDGED) ||
        c->media.state != MEDIA_ALLOCATED) {
        snprintf(why, n, "call %s is not answered with a media leg on this node", call_id);
        return VP_E_CONFLICT;
    }
    *cp = c;
    return 0;
}

int call_media_action(struct cc *cc, const char *op, const char *call_id, const char *action_id,
                      const json_t *params, char *why, size_t n)
{
    struct call *c;
    int err = call_media_call(cc, call_id, &c, why, n);
    if (err)
        return err;
    const char *legs = vjson_str(params, "target_legs");
    bool play = strcmp(op, "play") == 0 || strcmp(op, "speak") == 0;
    if (!play && legs && strcmp(legs, "self") != 0) {
        snprintf(why, n, "target_legs %.16s needs a second leg: call %s has only its own", legs,
                 call_id);
        return VP_E_INVALID_PARAMETER;
    }
    if (already(c, action_id))
        return 0;
    if (play) /* call_play.c: target_legs and the queue */
        return call_play_action(c, op, action_id, params, why, n);
    if (strcmp(op, "gather_using_speak") == 0)
        return do_gather(c, action_id, params, why, n);
    if (call_speech_is_verb(op))
        return call_speech_action(c, op, action_id, params, why, n);
    if (strcmp(op, "stop_playback") == 0)
        return call_play_stop(c, action_id, params, why, n);
    if (strcmp(op, "gather") == 0 || strcmp(op, "gather_using_audio") == 0)
        return do_gather(c, action_id, params, why, n);
    if (strcmp(op, "stop_gather") == 0)
        return do_stop_gather(c, action_id, why, n);
    if (strcmp(op, "send_dtmf") == 0)
        return do_send_dtmf(c, action_id, params, why, n);
    snprintf(why, n, "%.64s is not a media verb", op);
    return VP_E_INVALID_PARAMETER;
}

/* ---- what media-fork reports ---- */

static const char *or_else(const char *v, const char *def)
{
    return v ? v : def;
}

/* The action a gather_id names ("<action>" or "<action>~<try>"), false when none. */
static bool gather_action_of(const char *gather_id, char *action, size_t n)
{
    if (!gather_id)
        return false;
    size_t len = strcspn(gather_id, "~");
    if (len >= n)
        return false;
    memcpy(action, gather_id, len);
    action[len] = '\0';
    return id_valid(action, "act");
}

/* Start the next try of mc's gather; false when it could not be sent. */
static bool retry_gather(struct call *c, struct media_call *mc)
{
    mc->tries++;
    int n = snprintf(mc->gather_id, sizeof(mc->gather_id), "%s~%d", mc->gather_action, mc->tries);
    if (n < 0 || (size_t)n >= sizeof(mc->gather_id))
        return false; /* cannot happen: an action id and a small count fit GATHER_ID_MAX */
    json_t *cmd = json_deep_copy(mc->retry);
    set_str(cmd, "gather_id", mc->gather_id);
    char tries[16];
    snprintf(tries, sizeof(tries), "%d", mc->tries);
    vlog_kv(VLOG_INFO, "media.gather_retry", "the gather is tried again", "call_id", c->id,
            "action_id", mc->gather_action, "try", tries, NULL);
    return media__send_verb(c, cmd) == 0;
}

static bool is_status(const char *s, const char *a, const char *b)
{
    return s && (strcmp(s, a) == 0 || (b && strcmp(s, b) == 0));
}

static void on_gather_complete(struct cc *cc, struct call *c, const char *call_id, const json_t *m)
{
    const char *gid = vjson_str(m, "gather_id"), *status = vjson_str(m, "status");
    char action[ID_MAX];
    if (!gather_action_of(gid, action, sizeof(action)) ||
        (!is_status(status, "valid", "invalid") && !is_status(status, "timeout", "cancelled"))) {
        log_warn("media.bad_gather_complete",
                 "a gather_complete for call %s without a known "
                 "gather_id or status",
                 call_id);
        return;
    }
    bool live = c && !call_state_terminal(c->state) && c->media.state == MEDIA_ALLOCATED;
    struct media_call *mc = state_get(cc, call_id);
    if (mc && strcmp(mc->gather_action, action) == 0) {
        if (strcmp(mc->gather_id, gid) != 0)
            return; /* an earlier try's, again */
        if (live && is_status(status, "invalid", "timeout") && mc->tries < mc->max_tries &&
            mc->retry && retry_gather(c, mc))
            return;
        gather_forget(mc);
        state_tidy(cc, mc);
    }
    if (strcmp(status, "cancelled") == 0 && !live)
        status = "call_hangup";
    record_gather(cc, c, call_id, action, or_else(vjson_str(m, "digits"), ""), status);
}

void call_media_outcome(struct cc *cc, const json_t *m)
{
    const char *op = vjson_str(m, "op"), *call_id = vjson_str(m, "call_id");
    const char *leg_id = vjson_str(m, "leg_id");
    if (!call_id || !id_valid(call_id, "call") || !leg_id) {
        log_warn("media.bad_outcome", "a %s without a call_id or leg_id", op);
        return;
    }
    struct call *c = call__find(cc, call_id);
    if (c && strcmp(c->leg_id, leg_id) != 0) {
        log_warn("media.bad_outcome", "a %s for call %s names another leg", op, call_id);
        return;
    }
    if (c && c->abandoned)
        return;
    if (strcmp(op, "playback_ended") == 0)
        call_play_ended(cc, c, call_id, m); /* call_play.c */
    else
        on_gather_complete(cc, c, call_id, m);
}

void call_media__failed(struct call *c, const json_t *m)
{
    const char *request = vjson_str(m, "request");
    char action[ID_MAX], note[256];
    vlog_kv(VLOG_WARN, "media.verb_failed", "media-fork could not carry out a verb", "call_id",
            c->id, "request", request, "error", vjson_str(m, "error"), "detail",
            vjson_str(m, "detail"), NULL);
    if (strcmp(request, "transcription_start") == 0) {
        call_speech_failed(c, m); /* call_speech.c: its action fails */
        return;
    }
    if (strcmp(request, "gather") != 0 ||
        !gather_action_of(vjson_str(m, "gather_id"), action, sizeof(action)))
        return; /* the other verbs' failures name no action: logged */
    snprintf(note, sizeof(note), "%.64s: %.180s", or_else(vjson_str(m, "error"), "failed"),
             or_else(vjson_str(m, "detail"), "the gather could not start"));
    store__action_result(c, action, false, note);
    struct media_call *mc = state_get(c->cc, c->id);
    if (mc && strcmp(mc->gather_action, action) == 0) {
        gather_forget(mc);
        state_tidy(c->cc, mc);
    }
}

/*
 * media-fork reports a playback's or gather's end before media.released; what is still
 * pending here was never reported (media-fork gone, the release given up): it is closed
 * as the call's end closed it, so that no action stays requested and the tenant still
 * gets the gather's result.
 */
void call_media__released(struct call *c)
{
    call_play_released(c); /* may free the state */
    struct media_call *mc = state_get(c->cc, c->id);
    if (!mc)
        return;
    if (!c->abandoned) {
        if (mc->gather_action[0])
            record_gather(c->cc, c, c->id, mc->gather_action, "", "call_hangup");
    }
    state_free(c->cc, mc);
}
