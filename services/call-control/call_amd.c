/* Answering-machine detection for outbound calls: see call_amd.h. */
#include "call_amd.h"

#include <string.h>

#include "call_int.h"
#include "call_media.h"
#include "voepy/json.h"
#include "voepy/log.h"
#include "voepy/pg.h"

void call_amd_answered(struct call *c, int status, const struct pg_result *res)
{
    const char *amd = status == 0 ? pg_get(res, 0, "amd") : NULL;
    if (!amd || strcmp(amd, "t") != 0)
        return;
    if (call_state_terminal(c->state) || c->abandoned)
        return;
    json_t *cmd = json_pack("{s:s, s:s}", "op", "amd_start", "leg_id", c->leg_id);
    int err = media__send_verb(c, cmd);
    if (err)
        log_warn("amd.start_failed", "call %s: amd_start could not be sent: %s", c->id,
                 vp_err_message(err));
    else
        vlog_kv(VLOG_INFO, "amd.started", "detection started", "call_id", c->id, NULL);
}

bool call_amd_is_outcome(const char *op)
{
    return strcmp(op, "amd_complete") == 0;
}

static void direct_cb(int status, const struct pg_result *res, void *arg)
{
    struct cc *cc = arg;
    if (status)
        log_warn("amd.outcome_failed", "cc_amd_complete: %s", vp_err_message(status));
    else
        cc__kick_outbox(cc);
}

void call_amd_outcome(struct cc *cc, const json_t *m)
{
    const char *call_id = vjson_str(m, "call_id"), *result = vjson_str(m, "result");
    const json_t *beep = json_object_get(m, "beep_detected");
    if (!call_id || !result) {
        log_warn("amd.bad_outcome", "an amd_complete without call_id or result");
        return;
    }
    char elapsed[24];
    snprintf(elapsed, sizeof(elapsed), "%lld", vjson_int(m, "elapsed_ms", 0));
    const char *args[] = {call_id, cc->node_id, result, beep && json_is_true(beep) ? "t" : "f",
                          elapsed};
    vlog_kv(VLOG_INFO, "amd.complete", "detection complete", "call_id", call_id, "result", result,
            NULL);
    static const char sql[] = "SELECT cc_amd_complete($1, $2, $3, $4::boolean, $5::bigint)";
    struct call *c = call__find(cc, call_id);
    if (c && !c->abandoned) {
        store__sql(c, sql, args + 2, 3, true, NULL); /* the call and node come first */
        return;
    }
    if (pg_exec(cc->pg, sql, 5, args, direct_cb, cc) != 0)
        log_warn("amd.outcome_lost", "call %s: the result was not recorded: the queue is full",
                 call_id);
}
