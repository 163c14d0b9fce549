#include "rate_job.h"
#include "price.h"
#include "rate_row.h"

#include "voepy/alloc.h"
#include "voepy/err.h"
#include "voepy/id.h"
#include "voepy/json.h"
#include "voepy/log.h"
#include "voepy/pg.h"

#include <inttypes.h>
#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define SQL_LOAD  "rating_load_batch"
#define SQL_APPLY "rating_apply_batch"

/* One call of a batch. */
struct item {
    char call_id[96];
    void *arg;
    bool loaded;  /* rating_load's row matched */
    bool applied; /* rating_apply_batch's row matched */
    bool done;    /* its outcome is decided (before or after applying) */
    enum rate_result result;
    struct rating_charge charge;
    char reason[160];
};

struct rate_job {
    struct pg_pool *pg;
    rate_job_cb *cb;
    size_t n;
    struct item items[];
};

int rate_job_prepare(struct pg_pool *pg)
{
    int err = pg_prepare(pg, SQL_LOAD,
                         "SELECT l.* FROM jsonb_array_elements_text($1::jsonb) AS c(id), "
                         "rating_load(c.id) AS l");
    if (!err)
        err = pg_prepare(pg, SQL_APPLY, "SELECT * FROM rating_apply_batch($1::jsonb)");
    return err;
}

const char *rate_result_name(enum rate_result r)
{
    static const char *const names[] = {"charged", "already_rated", "unpriced", "skipped", "retry"};
    return (unsigned)r < sizeof(names) / sizeof(names[0]) ? names[r] : "?";
}

static void decide(struct item *it, enum rate_result result, const char *reason)
{
    it->done = true;
    it->result = result;
    if (reason != it->reason) /* an unpriced call keeps the reason price_entry wrote */
        snprintf(it->reason, sizeof(it->reason), "%s", reason ? reason : "");
    if (result != RATE_CHARGED)
        memset(&it->charge, 0, sizeof(it->charge));
}

/* Report every call and free: the last thing a batch does. */
static void finish(struct rate_job *j)
{
    for (size_t i = 0; i < j->n; i++) {
        struct item *it = &j->items[i];
        struct rate_outcome o = {.result = it->result,
                                 .call_id = it->call_id,
                                 .billed_seconds = it->charge.billed_seconds,
                                 .cost_cents = it->charge.cost_cents,
                                 .reason = it->reason[0] ? it->reason : NULL};
        j->cb(&o, it->arg);
    }
    free(j);
}

/* The database failed: every call not decided yet is left for a retry. */
static void db_failed(struct rate_job *j, int status, const struct pg_result *res)
{
    char reason[160];
    snprintf(reason, sizeof(reason), "%s%s%s", vp_err_message(status), res ? ": " : "",
             res ? pg_result_message(res) : "");
    for (size_t i = 0; i < j->n; i++)
        if (!j->items[i].done)
            decide(&j->items[i], RATE_RETRY, reason);
    finish(j);
}

/* The first item for call_id whose flag (loaded / applied) is still clear. */
static struct item *find(struct rate_job *j, const char *call_id, bool applied)
{
    for (size_t i = 0; call_id && i < j->n; i++) {
        struct item *it = &j->items[i];
        if ((applied ? it->applied : it->loaded) || strcmp(it->call_id, call_id) != 0)
            continue;
        if (applied)
            it->applied = true;
        else
            it->loaded = true;
        return it;
    }
    return NULL;
}

/* Price one loaded call into its apply entry (an error entry when it cannot be priced). */
static json_t *price_entry(struct item *it, const struct pg_result *res, int row)
{
    struct rating_rate rate = {0};
    bool has_rate = rate_row_read(res, row, &rate) == 0;
    int64_t ms = 0;
    const char *err_text = NULL;
    if (rate_row_i64(pg_get(res, row, "answered_ms"), &ms) || ms < 0)
        err_text = "unreadable answered_ms";
    else if (rating_price(has_rate ? &rate : NULL, ms, &it->charge))
        err_text = has_rate ? "the price does not fit in 64 bits or the rate is invalid"
                            : "no rate of the call's kind matches its number";
    if (err_text) {
        snprintf(it->reason, sizeof(it->reason), "%s", err_text);
        return json_pack("{s:s, s:s}", "call_id", it->call_id, "error", err_text);
    }
    const char *rate_id = has_rate ? pg_get(res, row, "rate_id") : NULL;
    char txn[ID_MAX] = "";
    if (it->charge.cost_cents > 0 && id_new(txn, sizeof(txn), "txn"))
        txn[0] = '\0'; /* cannot happen with this buffer; SQL then makes the id */
    return json_pack("{s:s, s:s?, s:I, s:I, s:s?}", "call_id", it->call_id, "rate_id", rate_id,
                     "billed", (json_int_t)it->charge.billed_seconds, "cents",
                     (json_int_t)it->charge.cost_cents, "txn", txn[0] ? txn : NULL);
}

/* What a loaded row says before pricing: NULL when the call is to be priced. */
static const char *verdict_before_price(const struct pg_result *res, int row, enum rate_result *r)
{
    const char *st = pg_get(res, row, "status"), *rs = pg_get(res, row, "rating_status");
    *r = RATE_SKIPPED;
    if (rs && strcmp(rs, "rated") == 0) {
        *r = RATE_ALREADY;
        return "";
    }
    if (!st || (strcmp(st, "ended") != 0 && strcmp(st, "failed") != 0))
        return "the call has not ended";
    return NULL;
}

static enum rate_result applied_result(const char *outcome, const char **reason)
{
    static const struct {
        const char *outcome, *reason;
        enum rate_result result;
    } map[] = {
        {"rated", NULL, RATE_CHARGED},
        {"already_rated", NULL, RATE_ALREADY},
        {"failed", NULL, RATE_UNPRICED},
        {"not_found", "no such call", RATE_SKIPPED},
        {"not_ended", "the call has not ended", RATE_SKIPPED},
    };
    for (size_t i = 0; outcome && i < sizeof(map) / sizeof(map[0]); i++)
        if (strcmp(map[i].outcome, outcome) == 0) {
            *reason = map[i].reason;
            return map[i].result;
        }
    *reason = "the price was refused";
    return RATE_SKIPPED;
}

static void applied_cb(int status, const struct pg_result *res, void *arg)
{
    struct rate_job *j = arg;
    if (status) {
        db_failed(j, status, res);
        return;
    }
    for (int row = 0; row < pg_ntuples(res); row++) {
        struct item *it = find(j, pg_get(res, row, "call_id"), true);
        if (!it)
            continue;
        const char *reason = NULL;
        enum rate_result r = applied_result(pg_get(res, row, "outcome"), &reason);
        decide(it, r, r == RATE_UNPRICED ? it->reason : reason);
    }
    for (size_t i = 0; i < j->n; i++)
        if (!j->items[i].done)
            decide(&j->items[i], RATE_RETRY, "no answer for the call from rating_apply_batch");
    finish(j);
}

/* Decide or price every loaded call; the priced ones go to rating_apply_batch. */
static json_t *apply_entries(struct rate_job *j, const struct pg_result *res)
{
    json_t *entries = json_array();
    for (int row = 0; row < pg_ntuples(res); row++) {
        struct item *it = find(j, pg_get(res, row, "call_id"), false);
        enum rate_result r;
        const char *why;
        if (!it)
            continue;
        if ((why = verdict_before_price(res, row, &r)))
            decide(it, r, why);
        else
            json_array_append_new(entries, price_entry(it, res, row));
    }
    for (size_t i = 0; i < j->n; i++)
        if (!j->items[i].loaded)
            decide(&j->items[i], RATE_SKIPPED, "no such call");
    return entries;
}

static void loaded_cb(int status, const struct pg_result *res, void *arg)
{
    struct rate_job *j = arg;
    if (status) {
        db_failed(j, status, res);
        return;
    }
    json_t *entries = apply_entries(j, res);
    size_t n = json_array_size(entries);
    char *text = n ? vjson_dump(entries) : NULL;
    json_decref(entries);
    if (!n) {
        finish(j);
        return;
    }
    const char *params[] = {text};
    int err = pg_exec(j->pg, SQL_APPLY, 1, params, applied_cb, j);
    free(text); /* the pool copies its parameters */
    if (err)
        db_failed(j, VP_E_UNAVAILABLE, NULL);
}

int rate_job_start(struct pg_pool *pg, const char *const *call_ids, void *const *args, size_t n,
                   rate_job_cb *cb)
{
    if (n == 0 || n > RATE_BATCH_MAX)
        return VP_E_INVALID_PARAMETER;
    for (size_t i = 0; i < n; i++)
        if (!call_ids[i] || !*call_ids[i] ||
            strlen(call_ids[i]) >= sizeof(((struct item *)0)->call_id))
            return VP_E_INVALID_PARAMETER;
    struct rate_job *j = vp_calloc(1, sizeof(*j) + n * sizeof(struct item));
    json_t *ids = json_array();
    j->pg = pg;
    j->cb = cb;
    j->n = n;
    for (size_t i = 0; i < n; i++) {
        snprintf(j->items[i].call_id, sizeof(j->items[i].call_id), "%s", call_ids[i]);
        j->items[i].arg = args[i];
        json_array_append_new(ids, json_string(call_ids[i]));
    }
    char *text = vjson_dump(ids);
    json_decref(ids);
    const char *params[] = {text};
    int err = pg_exec(pg, SQL_LOAD, 1, params, loaded_cb, j);
    free(text);
    if (err)
        free(j);
    return err;
}
