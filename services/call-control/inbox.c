/*
 * This node's inbox, voepy:cc:{node} (group cc): hangup, answer and reject commands for
 * the calls it carries, the media verbs (call_media.h) and media-fork's replies. Each
 * message acts on memory only (the call then records what follows), so it is
 * acknowledged once handled.
 *
 * A hangup may overtake the claim's answer: the gateway reads node_id as soon as the
 * claim commits, before this node has processed it. Such a hangup waits here for a
 * while (EARLY_HANGUP_MS) and is applied when the call appears.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "call.h"
#include "call_amd.h"
#include "call_bridge.h"
#include "call_dialog.h"
#include "call_media.h"
#include "call_speech.h"
#include "call_record.h"
#include "call_stream.h"
#include "cc_int.h"
#include "voepy/alloc.h"
#include "voepy/id.h"
#include "voepy/json.h"
#include "voepy/log.h"
#include "voepy/pg.h"
#include "voepy/rstream.h"
#include "voepy/service.h"

#define EARLY_HANGUP_MS  30000
#define EARLY_HANGUP_MAX 10000

struct inbox {
    struct cc *cc;
    struct rstream_consumer *consumer;
};

struct early_hangup {
    uint64_t expires; /* uv_now */
    struct early_hangup_note note;
    char call_id[ID_MAX];
};

/* Hangups for calls that never came here (another node's, or over) expire. */
static void purge_expired(struct cc *cc)
{
    size_t n = strmap_count(cc->early_hangups);
    if (n < 256)
        return;
    struct early_hangup **all = vp_malloc(n * sizeof(*all));
    n = strmap_values(cc->early_hangups, (void **)all, n);
    uint64_t now = uv_now(cc->loop);
    for (size_t i = 0; i < n; i++) {
        if (all[i]->expires < now) {
            strmap_del(cc->early_hangups, all[i]->call_id);
            free(all[i]);
        }
    }
    free(all);
}

static void note_early_hangup(struct cc *cc, const char *call_id, const char *initiator,
                              const char *reason)
{
    purge_expired(cc);
    if (strmap_count(cc->early_hangups) >= EARLY_HANGUP_MAX) {
        log_warn("inbox.hangup_dropped", "too many hangups for unknown calls: dropped %s", call_id);
        return;
    }
    struct early_hangup *h = VP_NEW(h);
    snprintf(h->call_id, sizeof(h->call_id), "%s", call_id);
    h->expires = uv_now(cc->loop) + EARLY_HANGUP_MS;
    snprintf(h->note.initiator, sizeof(h->note.initiator), "%s", initiator ? initiator : "api");
    snprintf(h->note.reason, sizeof(h->note.reason), "%s", reason ? reason : "");
    if (strmap_put(cc->early_hangups, call_id, h) != 0)
        free(h);
}

bool inbox_take_early_hangup(struct cc *cc, const char *call_id, struct early_hangup_note *note)
{
    struct early_hangup *h = strmap_del(cc->early_hangups, call_id);
    if (!h)
        return false;
    bool fresh = h->expires >= uv_now(cc->loop);
    *note = h->note;
    free(h);
    return fresh;
}

void inbox_free_early_hangups(struct cc *cc)
{
    size_t n = strmap_count(cc->early_hangups);
    void **all = vp_malloc((n ? n : 1) * sizeof(*all));
    n = strmap_values(cc->early_hangups, all, n);
    for (size_t i = 0; i < n; i++)
        free(all[i]);
    free(all);
    strmap_free(cc->early_hangups);
    cc->early_hangups = NULL;
}

static void on_hangup(struct cc *cc, const json_t *m)
{
    const char *call_id = vjson_str(m, "call_id");
    const char *initiator = vjson_str(m, "initiator");
    if (!call_id || !id_valid(call_id, "call")) {
        log_warn("inbox.bad_hangup", "a hangup without a valid call_id");
        return;
    }
    vlog_kv(VLOG_INFO, "inbox.hangup", "hangup command", "call_id", call_id, "initiator", initiator,
            NULL);
    const char *reason = vjson_str(m, "reason");
    if (!call_hangup_by_id(cc, call_id, initiator, reason))
        note_early_hangup(cc, call_id, initiator, reason); /* the reason too: balance_exhausted */
}

/* An action this node could not carry out: its entry is acked once the failure is recorded. */
struct action_failure {
    struct rstream_consumer *consumer;
    struct rstream_msg *msg;
};

static void action_failed_cb(int status, const struct pg_result *res, void *arg)
{
    struct action_failure *f = arg;
    (void)res;
    if (status)
        log_warn("inbox.action_failure_lost",
                 "inbox entry %s: the failed action is not recorded: %s", f->msg->id,
                 vp_err_message(status));
    rstream_ack(f->consumer, f->msg);
    free(f);
}

/*
 * Mark the call_actions row failed (cc_action_failed, proto/sql/0012_api_actions.sql)
 * instead of leaving it requested forever. Returns true when the ack is left to the
 * database's answer.
 */
static bool fail_action(struct cc *cc, struct rstream_consumer *consumer, struct rstream_msg *msg,
                        const char *action, const char *call, const char *error)
{
    const char *params[] = {action, call, error};
    struct action_failure *f = VP_NEW(f);
    f->consumer = consumer;
    f->msg = msg;
    if (pg_exec(cc->pg, "SELECT cc_action_failed($1, $2, $3)", 3, params, action_failed_cb, f) == 0)
        return true;
    free(f);
    return false;
}

static bool action_ids(const json_t *m, const char **action, const char **call)
{
    *action = vjson_str(m, "action_id");
    *call = vjson_str(m, "call_id");
    return *action && id_valid(*action, "act") && *call && id_valid(*call, "call");
}

/*
 * An op this node does not carry out (the gateway sends only advertised verbs, see
 * INBOX_VERBS; an older or newer gateway may not): its action, when it names one, fails.
 */
static bool unknown_op(struct cc *cc, struct rstream_consumer *consumer, struct rstream_msg *msg,
                       const json_t *m, const char *op)
{
    const char *action, *call;
    bool has_action = action_ids(m, &action, &call);
    vlog_kv(VLOG_WARN, "inbox.unknown_op", "an op this node does not carry out", "entry", msg->id,
            "op", op, "action_id", has_action ? action : NULL, NULL);
    if (!has_action)
        return false;
    char error[256];
    snprintf(error, sizeof(error), "%.64s is not carried out by node %.128s", op, cc->node_id);
    return fail_action(cc, consumer, msg, action, call, error);
}

/*
 * What an action op does with a valid call_id and action_id: the call takes the action
 * (0: it completes it later) or refuses it (an error, with why filled). Each op's
 * differences are in its own function below (transfer and bridge: call_bridge_action
 * itself); action_op() does the rest.
 */
typedef int(action_run_fn)(struct cc *cc, const char *op, const char *call, const char *action,
                           const json_t *params, char *why, size_t n);

/* answer and reject (call_in.c); reject takes only params.cause. */
static int inbound_run(struct cc *cc, const char *op, const char *call, const char *action,
                       const json_t *params, char *why, size_t n)
{
    if (strcmp(op, "answer") == 0)
        return call_in_answer(cc, call, action, params, why, n);
    return call_in_reject(cc, call, action, vjson_str(params, "cause"), why, n);
}

/* The media verbs: recording (call_record.c), streaming (call_stream.c), call_media.c's. */
static int media_run(struct cc *cc, const char *op, const char *call, const char *action,
                     const json_t *params, char *why, size_t n)
{
    if (call_record_is_verb(op))
        return call_record_action(cc, op, call, action, params, why, n);
    if (call_stream_is_verb(op))
        return call_stream_action(cc, op, call, action, params, why, n);
    return call_media_action(cc, op, call, action, params, why, n);
}

/* refer (call_refer.c), the only op of its module. */
static int refer_run(struct cc *cc, const char *op, const char *call, const char *action,
                     const json_t *params, char *why, size_t n)
{
    (void)op;
    return call_refer_action(cc, call, action, params, why, n);
}

/*
 * An action op (what: its kind, for the log): run(params) with the entry's call_id and
 * action_id. An entry without valid ids is dropped; an action the call cannot take (not
 * here, already answered or over, ...) fails here with the reason. Returns true when the
 * ack is left to the database's answer.
 */
static bool action_op(struct cc *cc, struct rstream_consumer *consumer, struct rstream_msg *msg,
                      const json_t *m, const char *op, const char *what, action_run_fn *run)
{
    const char *action, *call;
    if (!action_ids(m, &action, &call)) {
        log_warn("inbox.bad_action", "entry %s: %s without a valid call_id and action_id", msg->id,
                 op);
        return false;
    }
    vlog_kv(VLOG_INFO, "inbox.action", what, "op", op, "call_id", call, "action_id", action, NULL);
    char why[256] = "";
    int err = run(cc, op, call, action, json_object_get(m, "params"), why, sizeof(why));
    if (!err)
        return false;
    vlog_kv(VLOG_INFO, "inbox.action_refused", why, "op", op, "call_id", call, NULL);
    return fail_action(cc, consumer, msg, action, call, why);
}

static bool is_media_outcome(const char *op)
{
    return strcmp(op, "playback_ended") == 0 || strcmp(op, "gather_complete") == 0;
}

static bool is_inbound_verb(const char *op)
{
    return strcmp(op, "answer") == 0 || strcmp(op, "reject") == 0;
}

/* Handle one command; true when its ack is left to a database answer. */
static bool handle(struct inbox *in, struct rstream_consumer *consumer, struct rstream_msg *msg,
                   const json_t *m, const char *op)
{
    if (strcmp(op, "hangup") == 0)
        on_hangup(in->cc, m);
    else if (strncmp(op, "media.", 6) == 0)
        call_media_reply(in->cc, m);
    else if (is_media_outcome(op))
        call_media_outcome(in->cc, m);
    else if (call_speech_is_outcome(op))
        call_speech_outcome(in->cc, m);
    else if (call_bridge_is_reply(op))
        call_bridge_reply(in->cc, m);
    else if (call_bridge_is_verb(op))
        return action_op(in->cc, consumer, msg, m, op, "bridge action", call_bridge_action);
    else if (strcmp(op, "recording_done") == 0)
        call_record_done(in->cc, m);
    else if (call_stream_is_reply(op))
        call_stream_reply(in->cc, m); /* call_stream.c */
    else if (call_amd_is_outcome(op))
        call_amd_outcome(in->cc, m);
    else if (strcmp(op, "refer") == 0)
        return action_op(in->cc, consumer, msg, m, op, "refer action", refer_run);
    else if (is_inbound_verb(op))
        return action_op(in->cc, consumer, msg, m, op, "inbound call action", inbound_run);
    else if (call_media_is_verb(op) || call_record_is_verb(op) || call_stream_is_verb(op))
        return action_op(in->cc, consumer, msg, m, op, "media action", media_run);
    else
        return unknown_op(in->cc, consumer, msg, m, op);
    return false;
}

static void inbox_msg_cb(struct rstream_consumer *consumer, struct rstream_msg *msg, void *arg)
{
    struct inbox *in = arg;
    json_t *m = NULL;
    struct vp_error e;
    const char *op = NULL;
    if (vjson_parse_object(msg->body, msg->len, false, &m, &e) == 0)
        op = vjson_str(m, "op");
    bool deferred = false;
    if (!op)
        log_warn("inbox.bad_message", "ignored inbox entry %s: not a JSON command", msg->id);
    else
        deferred = handle(in, consumer, msg, m, op);
    json_decref(m);
    if (!deferred)
        rstream_ack(consumer, msg); /* else acked by action_failed_cb */
}

int inbox_create(struct inbox **ip, struct cc *cc)
{
    struct inbox *in = VP_NEW(in);
    in->cc = cc;
    const char *const streams[] = {cc->inbox_stream};
    /* One consumer per node stream: nobody else reads it, so nothing to claim. */
    struct rstream_consumer_opts co = {.group = "cc",
                                       .consumer = cc->node_id,
                                       .streams = streams,
                                       .nstreams = 1,
                                       .claim_idle_ms = RSTREAM_NO_CLAIM};
    struct redis_opts ro;
    service_redis_opts(cc->svc, &ro, "cc-inbox");
    int err = rstream_consumer_create(&in->consumer, cc->loop, &ro, &co, inbox_msg_cb, in);
    if (err) {
        free(in);
        return err;
    }
    *ip = in;
    return 0;
}

static void consumer_closed_cb(void *arg)
{
    free(arg);
}

void inbox_close(struct inbox *in)
{
    call_media_free_all(in->cc); /* no media reply can come any more */
    rstream_consumer_close(in->consumer, consumer_closed_cb, in);
}
