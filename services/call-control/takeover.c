/*
 * The node's heartbeat in PostgreSQL and the takeover of dead nodes' calls (takeover.h).
 *
 * One timer: until the recovery of our earlier life has committed it retries that (a
 * beat before it would overwrite the moment the earlier life was last alive, which is
 * when its calls end); afterwards every tick sends one beat and, unless one is still in
 * flight, one takeover query. Each statement in flight counts in pending; the struct is
 * freed once closed, its timer closed and nothing is pending.
 */
#include "takeover.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "call.h"
#include "cc_int.h"
#include "voepy/alloc.h"
#include "voepy/json.h"
#include "voepy/log.h"
#include "voepy/metrics.h"
#include "voepy/pg.h"
#include "voepy/rstream.h"
#include "voepy/vtime.h"

#define TAKEOVER_NODES_PER_QUERY "10"
#define MF_STREAM_MAXLEN         100000

struct takeover {
    struct cc *cc;
    struct takeover_opts o;
    char started_ms[24]; /* this incarnation */
    uv_timer_t timer;
    unsigned pending; /* statements in flight */
    bool recovering, recovered, beating, sweeping;
    bool leaving, closed, timer_closed;
    void (*left)(void *arg);
    void *left_arg;
};

static void maybe_free(struct takeover *t)
{
    if (t->closed && t->timer_closed && t->pending == 0)
        free(t);
}

static bool exec(struct takeover *t, const char *stmt, int n, const char *const *params,
                 pg_result_cb *cb)
{
    if (pg_exec(t->cc->pg, stmt, n, params, cb, t) != 0)
        return false;
    t->pending++;
    return true;
}

static void recovered_cb(int status, const struct pg_result *res, void *arg)
{
    struct takeover *t = arg;
    const char *n = status == 0 ? pg_value(res, 0, 0) : NULL;
    t->recovering = false;
    if (status) {
        log_warn("cc.recover_failed", "could not end the calls of this node's earlier life: %s",
                 vp_err_message(status));
    } else {
        t->recovered = true;
        if (n && strcmp(n, "0") != 0) {
            log_warn("cc.recovered", "ended %s calls this node carried before it restarted", n);
            cc__kick_outbox(t->cc);
        }
    }
    t->pending--;
    maybe_free(t);
}

/* Calls left live under our node id by an earlier process: their dialogs are gone. */
static void recover(struct takeover *t)
{
    const char *params[] = {t->cc->node_id, t->started_ms};
    t->recovering = exec(t, "cc_recover_node", 2, params, recovered_cb);
}

static void beat_cb(int status, const struct pg_result *res, void *arg)
{
    struct takeover *t = arg;
    const char *fenced = status == 0 ? pg_value(res, 0, 0) : NULL;
    t->beating = false;
    if (status && !t->closed)
        log_warn("cc.beat_failed", "heartbeat not written: %s", vp_err_message(status));
    if (fenced && strcmp(fenced, "t") == 0 && !t->closed) {
        log_error("cc.taken_over", "a survivor ended this node's calls while it was cut off "
                                   "from the database: hanging up what it still carries");
        call_hangup_all(t->cc);
    }
    t->pending--;
    maybe_free(t);
}

static void beat(struct takeover *t)
{
    char now[24];
    snprintf(now, sizeof(now), "%lld", (long long)vtime_now_ms());
    const char *params[] = {t->cc->node_id, t->started_ms, now};
    t->beating = exec(t, "cc_node_beat", 3, params, beat_cb);
}

/* Best effort: media-fork also releases a leg that sees no RTP for a while. */
static void release_leg(struct takeover *t, const char *media_node, const char *leg_id)
{
    if (!media_node || !leg_id)
        return;
    char stream[192];
    snprintf(stream, sizeof(stream), "voepy:mf:%s", media_node);
    json_t *cmd = json_pack("{s:s, s:s, s:s}", "op", "release", "leg_id", leg_id, "reply_to",
                            t->cc->inbox_stream);
    char *body = vjson_dump(cmd);
    json_decref(cmd);
    if (rstream_add(t->cc->redis, stream, body, strlen(body), MF_STREAM_MAXLEN, NULL, NULL) != 0)
        log_warn("cc.takeover_release_lost", "could not ask %s to release leg %s", media_node,
                 leg_id);
    free(body);
}

static void taken_one(struct takeover *t, const struct pg_result *res, int i)
{
    vlog_kv(VLOG_WARN, "cc.takeover_call", "ended a call of a dead node", "dead_node",
            pg_get(res, i, "node_id"), "call_id", pg_get(res, i, "call_id"), "status",
            pg_get(res, i, "status"), "ended_at", pg_get(res, i, "alive_at"), NULL);
    metric_inc(metrics_counter("voepy_cc_takeover_calls_total",
                               "calls of dead nodes this node ended", NULL));
    if (!t->closed)
        release_leg(t, pg_get(res, i, "media_node"), pg_get(res, i, "leg_id"));
}

static void swept_cb(int status, const struct pg_result *res, void *arg)
{
    struct takeover *t = arg;
    t->sweeping = false;
    if (status && !t->closed)
        log_warn("cc.takeover_failed", "looking for dead nodes failed: %s", vp_err_message(status));
    int n = status == 0 ? pg_ntuples(res) : 0;
    for (int i = 0; i < n; i++)
        taken_one(t, res, i);
    if (n > 0)
        cc__kick_outbox(t->cc);
    t->pending--;
    maybe_free(t);
}

static void sweep(struct takeover *t)
{
    char dead[16];
    snprintf(dead, sizeof(dead), "%u", t->o.dead_ms);
    const char *params[] = {t->cc->node_id, dead, TAKEOVER_NODES_PER_QUERY};
    t->sweeping = exec(t, "cc_takeover_dead", 3, params, swept_cb);
}

static void tick_cb(uv_timer_t *timer)
{
    struct takeover *t = timer->data;
    if (t->closed || t->leaving)
        return;
    if (!t->recovered) {
        if (!t->recovering)
            recover(t);
        return;
    }
    if (!t->beating)
        beat(t);
    if (!t->sweeping)
        sweep(t);
}

int takeover_create(struct takeover **tp, struct cc *cc, const struct takeover_opts *o)
{
    struct takeover *t = VP_NEW(t);
    t->cc = cc;
    t->o = *o;
    if (!t->o.dead_ms)
        t->o.dead_ms = 5000;
    if (!t->o.beat_ms)
        t->o.beat_ms = t->o.dead_ms / 3 < 1000 ? t->o.dead_ms / 3 : 1000;
    if (t->o.beat_ms < 50)
        t->o.beat_ms = 50;
    snprintf(t->started_ms, sizeof(t->started_ms), "%lld", (long long)vtime_now_ms());
    pg_prepare(cc->pg, "cc_recover_node", "SELECT cc_recover_node($1, $2)");
    pg_prepare(cc->pg, "cc_node_beat", "SELECT cc_node_beat($1, $2, $3)");
    pg_prepare(cc->pg, "cc_node_leave", "SELECT cc_node_leave($1, $2)");
    pg_prepare(cc->pg, "cc_takeover_dead", "SELECT * FROM cc_takeover_dead($1, $2, $3)");
    uv_timer_init(cc->loop, &t->timer);
    t->timer.data = t;
    uv_timer_start(&t->timer, tick_cb, t->o.beat_ms, t->o.beat_ms);
    recover(t);
    log_info("cc.takeover_started", "beating every %u ms; nodes silent for %u ms are dead",
             t->o.beat_ms, t->o.dead_ms);
    *tp = t;
    return 0;
}

static void left_cb(int status, const struct pg_result *res, void *arg)
{
    struct takeover *t = arg;
    (void)res;
    if (status)
        log_warn("cc.leave_failed", "this node's heartbeat row was not removed: %s",
                 vp_err_message(status));
    void (*done)(void *) = t->left;
    t->left = NULL;
    if (done)
        done(t->left_arg);
    t->pending--;
    maybe_free(t);
}

void takeover_leave(struct takeover *t, void (*done)(void *arg), void *arg)
{
    t->leaving = true;
    t->left = done;
    t->left_arg = arg;
    const char *params[] = {t->cc->node_id, t->started_ms};
    if (!exec(t, "cc_node_leave", 2, params, left_cb)) {
        t->left = NULL;
        done(arg);
    }
}

static void timer_closed_cb(uv_handle_t *h)
{
    struct takeover *t = h->data;
    t->timer_closed = true;
    maybe_free(t);
}

void takeover_close(struct takeover *t)
{
    if (t->closed)
        return;
    t->closed = true;
    t->left = NULL;
    uv_close((uv_handle_t *)&t->timer, timer_closed_cb);
}
