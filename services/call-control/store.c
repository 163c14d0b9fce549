/*
 * Writing a call's moves to PostgreSQL: one SQL function per move (proto/sql/
 * 0020_call_control.sql), one statement at a time per call so that they commit in the
 * order they happened (a 200 right behind a 180 must not overtake it). A statement that
 * fails for a passing reason (connection lost, timeout) is tried again a few times; the
 * SQL is idempotent, so a retry of something that did commit changes nothing.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "call_int.h"
#include "call_media.h"
#include "call_record.h"
#include "voepy/alloc.h"
#include "voepy/id.h"
#include "voepy/log.h"
#include "voepy/pg.h"

#define MAX_PARAMS 12 /* cc_call_ended with leg statistics (0039) */
#define MAX_TRIES  4

struct store_op {
    struct store_op *next;
    struct call *c;
    const char *stmt;
    int nparams;
    char *params[MAX_PARAMS];
    bool kick; /* the statement wrote an event */
    bool ends; /* cc_call_ended: the call may go once it is done */
    int tries;
    store_then_cb *then; /* NULL, or told the result before the next statement runs */
};

void store__prepare(struct pg_pool *pg)
{
    pg_prepare(pg, "cc_claim_call", "SELECT * FROM cc_claim_call($1, $2, $3)");
    /* routes, proto/sql/0022_routes.sql */
    pg_prepare(pg, "cc_claim_call_routed", "SELECT * FROM cc_claim_call_routed($1, $2, $3)");
    pg_prepare(pg, "cc_call_route", "SELECT cc_call_route($1, $2, $3)");
    pg_prepare(pg, "cc_route_health", "SELECT * FROM cc_route_health($1, $2, $3, $4::jsonb)");
    pg_prepare(pg, "cc_leg_media", "SELECT cc_leg_media($1, $2, $3, $4, $5)");
    pg_prepare(pg, "cc_call_ringing", "SELECT cc_call_ringing($1, $2, $3)");
    pg_prepare(pg, "cc_call_answered",
               "SELECT * FROM cc_call_answered($1, $2, $3, $4, $5, $6, $7, $8, $9)");
    /* with the leg's loss, jitter and RTT: the overload in proto/sql/0039_leg_stats.sql */
    pg_prepare(pg, "cc_call_ended",
               "SELECT cc_call_ended($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12)");
    pg_prepare(pg, "cc_sweep_unclaimed", "SELECT * FROM cc_sweep_unclaimed($1, $2)");
    pg_prepare(pg, "cc_recover_node", "SELECT cc_recover_node($1, $2)");
    /* inbound calls, proto/sql/0021_inbound.sql */
    pg_prepare(pg, "cc_inbound_create",
               "SELECT * FROM cc_inbound_create($1, $2, $3, $4, $5, $6, $7, $8)");
    pg_prepare(pg, "cc_inbound_answered",
               "SELECT * FROM cc_inbound_answered($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11)");
    pg_prepare(pg, "cc_action_result", "SELECT cc_action_result($1, $2, $3, $4, $5)");
    /* media verbs, proto/sql/0024_media_verbs.sql */
    pg_prepare(pg, "cc_gather_complete", "SELECT cc_gather_complete($1, $2, $3, $4, $5)");
}

static void op_free(struct store_op *op)
{
    for (int i = 0; i < op->nparams; i++)
        free(op->params[i]);
    free(op);
}

static void run_next(struct call *c);

static bool transient(int status)
{
    return status == VP_E_CLOSED || status == VP_E_TIMEOUT || status == VP_E_UNAVAILABLE;
}

static void done_cb(int status, const struct pg_result *res, void *arg)
{
    struct store_op *op = arg;
    struct call *c = op->c;
    if (status && transient(status) && ++op->tries < MAX_TRIES && !c->abandoned) {
        log_warn("call.store_retry", "%s for call %s: %s; trying again", op->stmt, c->id,
                 vp_err_message(status));
        if (pg_exec(c->cc->pg, op->stmt, op->nparams, (const char *const *)op->params, done_cb,
                    op) == 0)
            return;
    }
    if (status) {
        struct vp_error e = {0};
        if (status == VP_E_DB)
            pg_result_error(res, &e);
        log_error("call.store_failed", "%s for call %s failed: %s %s", op->stmt, c->id,
                  vp_err_message(status), e.message);
    } else if (op->kick) {
        cc__kick_outbox(c->cc);
    }
    if (op->then)
        op->then(c, status, res);
    if (op->ends)
        c->end_recorded = true;
    c->q_head = op->next;
    if (!c->q_head)
        c->q_tail = &c->q_head;
    op_free(op);
    c->q_busy = false;
    run_next(c);
    call__maybe_free(c);
}

static void run_next(struct call *c)
{
    struct store_op *op = c->q_head;
    if (!op || c->q_busy)
        return;
    c->q_busy = true;
    if (pg_exec(c->cc->pg, op->stmt, op->nparams, (const char *const *)op->params, done_cb, op) !=
        0) {
        c->q_busy = false;
        log_error("call.store_failed", "%s for call %s: the database queue is full", op->stmt,
                  c->id);
        if (op->then)
            op->then(c, VP_E_UNAVAILABLE, NULL);
        if (op->ends)
            c->end_recorded = true;
        c->q_head = op->next;
        if (!c->q_head)
            c->q_tail = &c->q_head;
        op_free(op);
        run_next(c);
    }
}

static struct store_op *op_new(struct call *c, const char *stmt)
{
    struct store_op *op = VP_NEW(op);
    op->c = c;
    op->stmt = stmt;
    op->params[op->nparams++] = vp_strdup(c->id);
    op->params[op->nparams++] = vp_strdup(c->cc->node_id);
    return op;
}

static void add(struct store_op *op, const char *v)
{
    op->params[op->nparams++] = v ? vp_strdup(v) : NULL;
}

static void add_int(struct store_op *op, long long v, bool present)
{
    op->params[op->nparams++] = present ? vp_asprintf("%lld", v) : NULL;
}

static void push(struct call *c, struct store_op *op)
{
    *c->q_tail = op;
    c->q_tail = &op->next;
    run_next(c);
}

void store__ringing(struct call *c, int64_t at_ms)
{
    struct store_op *op = op_new(c, "cc_call_ringing");
    add_int(op, at_ms, true);
    op->kick = true;
    push(c, op);
}

/*
 * An inbound call's answer also completes its answer action (cc_inbound_answered). The
 * same statement starts the call's automatic recording (under an id chosen here, so that
 * a retry finds it) unless call_record.c says the answer starts none, and answers what
 * else the answered leg needs (then: call.c).
 */
void store__answered(struct call *c, int64_t at_ms, store_then_cb *then)
{
    struct store_op *op = op_new(c, c->inbound ? "cc_inbound_answered" : "cc_call_answered");
    add_int(op, at_ms, true);
    add_int(op, c->answer_status, true);
    add(op, c->remote_media[0] ? c->remote_media : NULL);
    add(op, c->codec[0] ? c->codec : NULL);
    if (c->inbound) {
        add(op, c->answer_action[0] ? c->answer_action : NULL);
        add(op, c->answer_note);
    }
    char rec[ID_MAX];
    bool record = call_record_answer_starts(c) && id_new(rec, sizeof(rec), "rec") == 0;
    bool asked = c->answer_record.channels[0] != '\0';
    add(op, record ? rec : NULL);
    add(op, asked ? c->answer_record.channels : NULL);
    add(op, asked ? c->answer_record.format : NULL);
    op->kick = true;
    op->then = then;
    push(c, op);
}

void store__inbound_create(struct call *c, const char *sip_call_id, int64_t at_ms,
                           store_then_cb *then)
{
    struct store_op *op = op_new(c, "cc_inbound_create");
    add(op, c->leg_id);
    add(op, c->from);
    add(op, c->to);
    add_int(op, at_ms, true);
    add(op, sip_call_id);
    add_int(op, c->timeout_secs, true);
    op->kick = true;
    op->then = then;
    push(c, op);
}

void store__sql(struct call *c, const char *sql, const char *const *args, int n, bool kick,
                store_then_cb *then)
{
    struct store_op *op = op_new(c, sql);
    for (int i = 0; i < n && op->nparams < MAX_PARAMS; i++)
        add(op, args[i]);
    op->kick = kick;
    op->then = then;
    push(c, op);
}

void store__action_result(struct call *c, const char *action_id, bool done, const char *note)
{
    struct store_op *op = op_new(c, "cc_action_result");
    add(op, action_id);
    add(op, done ? "true" : "false");
    add(op, note);
    push(c, op);
}

void store__gather_complete(struct call *c, const char *action_id, const char *digits,
                            const char *status)
{
    struct store_op *op = op_new(c, "cc_gather_complete");
    add(op, action_id);
    add(op, digits);
    add(op, status);
    op->kick = true;
    push(c, op);
}

/* The route that carries the call after all (its failover): calls.route_id. */
void store__route(struct call *c)
{
    struct store_op *op = op_new(c, "cc_call_route");
    add(op, c->route_id);
    push(c, op);
}

void store__leg_media(struct call *c, const char *sip_call_id)
{
    struct store_op *op = op_new(c, "cc_leg_media");
    char local[SIP_IP_MAX + 8] = "";
    if (c->media.state == MEDIA_ALLOCATED)
        snprintf(local, sizeof(local), "%s:%d", c->media.ip, c->media.port);
    add(op, c->media.node[0] ? c->media.node : NULL);
    add(op, local[0] ? local : NULL);
    add(op, sip_call_id);
    push(c, op);
}

void store__ended(struct call *c)
{
    struct store_op *op = op_new(c, "cc_call_ended");
    add_int(op, c->end_ms, true);
    add(op, call_state_name(c->state));
    add(op, c->end_reason);
    add(op, c->end_initiator);
    add_int(op, c->end_sip_status, c->end_sip_status > 0);
    add_int(op, c->media.packets_in, c->media.counted);
    add_int(op, c->media.packets_out, c->media.counted);
    add_int(op, c->media.lost, c->media.counted);
    add_int(op, c->media.jitter_ms, c->media.counted);
    add_int(op, c->media.rtt_ms, c->media.counted && c->media.rtt_ms >= 0);
    op->kick = true;
    op->ends = true;
    push(c, op);
}
