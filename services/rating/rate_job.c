#include "rate_job.h"
#include "price.h"

#include "voepy/alloc.h"
#include "voepy/err.h"
#include "voepy/log.h"
#include "voepy/pg.h"

#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define SQL_LOAD  "rating_load"
#define SQL_APPLY "rating_apply"
#define SQL_FAIL  "rating_fail"

struct rate_job {
    struct pg_pool *pg;
    char call_id[96];
    char reason[256];
    struct rating_charge charge;
    rate_job_cb *cb;
    void *arg;
};

int rate_job_prepare(struct pg_pool *pg)
{
    int err = pg_prepare(pg, SQL_LOAD, "SELECT * FROM rating_load($1)");
    if (!err)
        err = pg_prepare(pg, SQL_APPLY, "SELECT * FROM rating_apply($1, $2, $3::int, $4::bigint)");
    if (!err)
        err = pg_prepare(pg, SQL_FAIL, "SELECT rating_fail($1, $2)");
    return err;
}

const char *rate_result_name(enum rate_result r)
{
    static const char *const names[] = {"charged", "already_rated", "unpriced", "skipped", "retry"};
    return (unsigned)r < sizeof(names) / sizeof(names[0]) ? names[r] : "?";
}

/* Report and free: the last thing a job does. */
static void finish(struct rate_job *j, enum rate_result result, const char *reason)
{
    struct rate_outcome o = {.result = result,
                             .call_id = j->call_id,
                             .billed_seconds = j->charge.billed_seconds,
                             .cost_cents = j->charge.cost_cents,
                             .reason = reason};
    j->cb(&o, j->arg);
    free(j);
}

static void db_failed(struct rate_job *j, int status, const struct pg_result *res)
{
    snprintf(j->reason, sizeof(j->reason), "%s%s%s", vp_err_message(status), res ? ": " : "",
             res ? pg_result_message(res) : "");
    finish(j, RATE_RETRY, j->reason);
}

static int parse_i64(const char *s, int64_t *out)
{
    char *end;
    if (!s || !*s)
        return VP_E_PARSE;
    errno = 0;
    long long v = strtoll(s, &end, 10);
    if (errno || *end)
        return VP_E_PARSE;
    *out = v;
    return 0;
}

/* The rate columns of rating_load's row; false when no rate matched. */
static bool row_rate(const struct pg_result *res, struct rating_rate *r)
{
    if (!pg_get(res, 0, "rate_id"))
        return false;
    return !parse_i64(pg_get(res, 0, "micros_per_minute"), &r->micros_per_minute) &&
           !parse_i64(pg_get(res, 0, "connection_fee_micros"), &r->connection_fee_micros) &&
           !parse_i64(pg_get(res, 0, "initial_increment_s"), &r->initial_increment_s) &&
           !parse_i64(pg_get(res, 0, "subsequent_increment_s"), &r->subsequent_increment_s) &&
           !parse_i64(pg_get(res, 0, "minimum_charge_micros"), &r->minimum_charge_micros);
}

static void failed_cb(int status, const struct pg_result *res, void *arg)
{
    struct rate_job *j = arg;
    if (status) {
        db_failed(j, status, res);
        return;
    }
    memset(&j->charge, 0, sizeof(j->charge));
    finish(j, RATE_UNPRICED, j->reason);
}

static void mark_unpriced(struct rate_job *j)
{
    const char *params[] = {j->call_id, j->reason};
    if (pg_exec(j->pg, SQL_FAIL, 2, params, failed_cb, j))
        finish(j, RATE_RETRY, "database queue full");
}

static void applied_cb(int status, const struct pg_result *res, void *arg)
{
    struct rate_job *j = arg;
    if (status == VP_E_DB && pg_result_error(res, NULL) != VP_E_DB) {
        /* a domain refusal from rating_apply: the call vanished or has not ended */
        snprintf(j->reason, sizeof(j->reason), "%s", vp_err_code(pg_result_error(res, NULL)));
        finish(j, RATE_SKIPPED, j->reason);
    } else if (status) {
        db_failed(j, status, res);
    } else {
        const char *outcome = pg_get(res, 0, "outcome");
        bool already = outcome && strcmp(outcome, "already_rated") == 0;
        finish(j, already ? RATE_ALREADY : RATE_CHARGED, NULL);
    }
}

static void apply(struct rate_job *j, const char *rate_id)
{
    char billed[24], cents[24];
    snprintf(billed, sizeof(billed), "%" PRId64, j->charge.billed_seconds);
    snprintf(cents, sizeof(cents), "%" PRId64, j->charge.cost_cents);
    const char *params[] = {j->call_id, rate_id, billed, cents};
    if (pg_exec(j->pg, SQL_APPLY, 4, params, applied_cb, j))
        finish(j, RATE_RETRY, "database queue full");
}

/* Price the loaded call; an answered call without a rate cannot be priced. */
static void price(struct rate_job *j, const struct pg_result *res)
{
    struct rating_rate rate = {0};
    bool has_rate = row_rate(res, &rate);
    int64_t ms = 0;
    if (parse_i64(pg_get(res, 0, "answered_ms"), &ms) || ms < 0) {
        snprintf(j->reason, sizeof(j->reason), "unreadable answered_ms");
        mark_unpriced(j);
        return;
    }
    int err = rating_price(has_rate ? &rate : NULL, ms, &j->charge);
    if (err) {
        snprintf(j->reason, sizeof(j->reason), "%s",
                 has_rate ? "the price does not fit in 64 bits or the rate is invalid"
                          : "no rate of the call's kind matches its number");
        mark_unpriced(j);
        return;
    }
    apply(j, has_rate ? pg_get(res, 0, "rate_id") : NULL);
}

static void loaded_cb(int status, const struct pg_result *res, void *arg)
{
    struct rate_job *j = arg;
    if (status) {
        db_failed(j, status, res);
        return;
    }
    if (pg_ntuples(res) == 0) {
        finish(j, RATE_SKIPPED, "no such call");
        return;
    }
    const char *st = pg_get(res, 0, "status"), *rs = pg_get(res, 0, "rating_status");
    if (rs && strcmp(rs, "rated") == 0) {
        finish(j, RATE_ALREADY, NULL);
        return;
    }
    if (!st || (strcmp(st, "ended") != 0 && strcmp(st, "failed") != 0)) {
        finish(j, RATE_SKIPPED, "the call has not ended");
        return;
    }
    price(j, res);
}

int rate_job_start(struct pg_pool *pg, const char *call_id, rate_job_cb *cb, void *arg)
{
    if (!call_id || !*call_id || strlen(call_id) >= sizeof(((struct rate_job *)0)->call_id))
        return VP_E_INVALID_PARAMETER;
    struct rate_job *j = VP_NEW(j);
    j->pg = pg;
    j->cb = cb;
    j->arg = arg;
    snprintf(j->call_id, sizeof(j->call_id), "%s", call_id);
    const char *params[] = {j->call_id};
    int err = pg_exec(pg, SQL_LOAD, 1, params, loaded_cb, j);
    if (err)
        free(j);
    return err;
}
