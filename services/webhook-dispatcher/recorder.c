#include "recorder.h"

#include "voepy/alloc.h"
#include "voepy/buf.h"
#include "voepy/err.h"
#include "voepy/log.h"
#include "voepy/metrics.h"
#include "voepy/pg.h"
#include "voepy/vtime.h"

#include <inttypes.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define SQL_RECORD    "wh_record_batch"
#define BATCH_DEFAULT 256
#define TRIES         3 /* runs of one batch that PostgreSQL chose as a deadlock victim */

/* The array parameters of wh_record(), in order. */
enum col {
    C_DELIVERY,
    C_ATTEMPT,
    C_STATUS,
    C_ERROR,
    C_DURATION,
    C_RESPONSE,
    C_OUTCOME,
    C_RETRY,
    C_SLOWDOWN,
    C_RETRY_AFTER,
    NCOLS
};

struct recorder {
    uv_loop_t *loop;
    struct pg_pool *pg;
    struct recorder_opts opts;
    uv_idle_t turn;                 /* runs the next batch on the next loop turn */
    struct wh_result *head, **tail; /* queued, in arrival order */
    struct wh_result **batch;       /* the batch in flight (opts.batch_max slots) */
    unsigned nbatch, tries;
    bool running, closing, idle_closed;
    bool lost;                /* a batch failed: "recorded through" can no longer advance */
    struct metric *m_through; /* voepy_webhook_recorded_through_ms */
    struct buf cols[NCOLS];   /* the array literals, reused batch after batch */
    char slowdown[24], disable_after[24];
    void (*closed)(void *arg);
    void *closed_arg;
};

static void run(struct recorder *rec);
static void next_turn(struct recorder *rec);

static void maybe_free(struct recorder *rec)
{
    if (!rec->closing || rec->running || !rec->idle_closed)
        return;
    for (int c = 0; c < NCOLS; c++)
        buf_free(&rec->cols[c]);
    free(rec->batch);
    void (*closed)(void *) = rec->closed;
    void *arg = rec->closed_arg;
    free(rec);
    if (closed)
        closed(arg);
}

/* One element of a text[] literal: NULL, or the value quoted with \ and " escaped. */
static void put_text(struct buf *b, const char *s)
{
    if (b->len > 1)
        buf_putc(b, ',');
    if (!s) {
        buf_puts(b, "NULL");
        return;
    }
    buf_putc(b, '"');
    for (const char *p = s; *p; p++) {
        size_t n = strcspn(p, "\"\\");
        buf_append(b, p, n);
        p += n;
        if (!*p)
            break;
        buf_putc(b, '\\');
        buf_putc(b, *p);
    }
    buf_putc(b, '"');
}

/* A number element, or NULL when !present (formatted here: no printf per element). */
static void put_num(struct buf *b, bool present, int64_t v)
{
    if (b->len > 1)
        buf_putc(b, ',');
    if (!present) {
        buf_puts(b, "NULL");
        return;
    }
    char d[24], *p = d + sizeof(d);
    uint64_t u = v < 0 ? 0 - (uint64_t)v : (uint64_t)v;
    do
        *--p = (char)('0' + u % 10);
    while (u /= 10);
    if (v < 0)
        *--p = '-';
    buf_append(b, p, (size_t)(d + sizeof(d) - p));
}

static void put_result(struct recorder *rec, const struct wh_result *r)
{
    const struct wh_decision *d = &r->decision;
    put_text(&rec->cols[C_DELIVERY], r->delivery_id);
    put_text(&rec->cols[C_ATTEMPT], r->attempt);
    put_num(&rec->cols[C_STATUS], r->http_status != 0, r->http_status);
    put_text(&rec->cols[C_ERROR], r->error && *r->error ? r->error : NULL);
    put_num(&rec->cols[C_DURATION], true,
            r->duration_ms > INT32_MAX ? INT32_MAX : (int64_t)r->duration_ms);
    put_text(&rec->cols[C_RESPONSE], r->http_status ? r->response : NULL);
    put_text(&rec->cols[C_OUTCOME], wh_outcome_name(d->outcome));
    put_num(&rec->cols[C_RETRY], true, d->retry_ms);
    put_text(&rec->cols[C_SLOWDOWN], d->slowdown ? "t" : "f");
    put_num(&rec->cols[C_RETRY_AFTER], d->retry_after_ms >= 0, d->retry_after_ms);
}

/* Move up to batch_max queued results into the batch and build its parameters. */
static void take_batch(struct recorder *rec)
{
    for (int c = 0; c < NCOLS; c++) {
        buf_reset(&rec->cols[c]);
        buf_putc(&rec->cols[c], '{');
    }
    rec->nbatch = 0;
    while (rec->head && rec->nbatch < rec->opts.batch_max) {
        struct wh_result *r = rec->head;
        rec->head = r->next;
        put_result(rec, r);
        rec->batch[rec->nbatch++] = r;
    }
    if (!rec->head)
        rec->tail = &rec->head;
    for (int c = 0; c < NCOLS; c++)
        buf_putc(&rec->cols[c], '}');
}

/* Report every result of the batch still unreported (outcome NULL: not recorded). */
static void finish_batch(struct recorder *rec, const char *why)
{
    unsigned lost = 0;
    for (unsigned i = 0; i < rec->nbatch; i++) {
        struct wh_result *r = rec->batch[i];
        if (!r)
            continue;
        rec->batch[i] = NULL;
        lost++;
        r->done(r, NULL);
    }
    if (lost && why) {
        rec->lost = true;
        log_warn("webhook.record_failed",
                 "%u results not recorded (%s): their deliveries come "
                 "back when their leases end",
                 lost, why);
    }
    rec->nbatch = 0;
}

static bool deadlocked(int status, const struct pg_result *res)
{
    const char *state = status == VP_E_DB && res ? pg_result_sqlstate(res) : NULL;
    return state && (strcmp(state, "40P01") == 0 || strcmp(state, "40001") == 0);
}

/* Rows (i, outcome, emitted): report each result; events written kick the outbox first. */
static void report(struct recorder *rec, const struct pg_result *res)
{
    int n = pg_ntuples(res);
    long emitted = 0;
    for (int row = 0; row < n; row++) {
        const char *e = pg_value(res, row, 2);
        emitted += e ? strtol(e, NULL, 10) : 0;
    }
    if (emitted > 0 && rec->opts.emitted)
        rec->opts.emitted(rec->opts.emitted_arg);
    for (int row = 0; row < n; row++) {
        const char *iv = pg_value(res, row, 0);
        unsigned long i = iv ? strtoul(iv, NULL, 10) : 0;
        if (i < 1 || i > rec->nbatch || !rec->batch[i - 1])
            continue;
        struct wh_result *r = rec->batch[i - 1];
        rec->batch[i - 1] = NULL;
        if (!rec->lost && r->queued_ms > metric_value(rec->m_through))
            metric_set(rec->m_through, r->queued_ms);
        const char *outcome = pg_value(res, row, 1);
        r->done(r, outcome ? outcome : "stale");
    }
}

static void recorded_cb(int status, const struct pg_result *res, void *arg)
{
    struct recorder *rec = arg;
    rec->running = false;
    if (deadlocked(status, res) && rec->tries < TRIES && !rec->closing) {
        log_info("webhook.record_retry", "batch of %u results chosen as deadlock victim: again",
                 rec->nbatch);
        run(rec);
        if (rec->running)
            return;
    }
    if (status) {
        char why[160];
        snprintf(why, sizeof(why), "%s", res ? pg_result_message(res) : vp_err_message(status));
        finish_batch(rec, status == VP_E_CANCELED ? NULL : why);
    } else {
        report(rec, res);
        finish_batch(rec, "no row for it"); /* none left unless the SQL misbehaved */
    }
    if (rec->closing) {
        maybe_free(rec);
        return;
    }
    if (rec->head)
        next_turn(rec); /* what came in meanwhile is the next batch */
}

/* Run the batch held in rec->batch / rec->cols (again, after a deadlock). */
static void run(struct recorder *rec)
{
    const char *params[NCOLS + 2];
    for (int c = 0; c < NCOLS; c++)
        params[c] = rec->cols[c].data;
    params[NCOLS] = rec->slowdown;
    params[NCOLS + 1] = rec->disable_after;
    rec->tries++;
    if (pg_exec(rec->pg, SQL_RECORD, NCOLS + 2, params, recorded_cb, rec) == 0)
        rec->running = true;
}

/* The next loop turn: the results gathered until then become one batch. */
static void turn_cb(uv_idle_t *h)
{
    struct recorder *rec = h->data;
    uv_idle_stop(h);
    if (rec->running || rec->closing || !rec->head)
        return; /* the running batch's end starts the next */
    take_batch(rec);
    rec->tries = 0;
    run(rec);
    if (!rec->running)
        finish_batch(rec, "the database queue is full");
    if (rec->head && !rec->running)
        next_turn(rec);
}

static void next_turn(struct recorder *rec)
{
    uv_idle_start(&rec->turn, turn_cb);
}

void recorder_add(struct recorder *rec, struct wh_result *r)
{
    r->next = NULL;
    r->queued_ms = vtime_now_ms();
    *rec->tail = r;
    rec->tail = &r->next;
    if (!rec->running)
        next_turn(rec);
}

static void idle_closed_cb(uv_handle_t *h)
{
    struct recorder *rec = h->data;
    rec->idle_closed = true;
    maybe_free(rec);
}

void recorder_close(struct recorder *rec, void (*closed)(void *arg), void *arg)
{
    rec->closing = true;
    rec->closed = closed;
    rec->closed_arg = arg;
    while (rec->head) {
        struct wh_result *r = rec->head;
        rec->head = r->next;
        r->done(r, NULL);
    }
    rec->tail = &rec->head;
    uv_close((uv_handle_t *)&rec->turn, idle_closed_cb);
}

int recorder_create(struct recorder **rp, uv_loop_t *loop, struct pg_pool *pg,
                    const struct recorder_opts *opts)
{
    int err = pg_prepare(pg, SQL_RECORD,
                         "SELECT * FROM wh_record($1::text[], $2::int[], $3::int[], $4::text[], "
                         "$5::int[], $6::text[], $7::text[], $8::bigint[], $9::boolean[], "
                         "$10::bigint[], $11::bigint, $12::bigint)");
    if (err)
        return err;
    struct recorder *rec = VP_NEW(rec);
    rec->loop = loop;
    rec->pg = pg;
    rec->opts = *opts;
    if (!rec->opts.batch_max)
        rec->opts.batch_max = BATCH_DEFAULT;
    rec->batch = vp_calloc(rec->opts.batch_max, sizeof(*rec->batch));
    rec->tail = &rec->head;
    for (int c = 0; c < NCOLS; c++)
        buf_init(&rec->cols[c], 0);
    snprintf(rec->slowdown, sizeof(rec->slowdown), "%" PRId64, opts->slowdown_ms);
    snprintf(rec->disable_after, sizeof(rec->disable_after), "%" PRId64, opts->disable_after_s);
    rec->m_through = metrics_gauge("voepy_webhook_recorded_through_ms",
                                   "Unix time (ms): every result queued before it is in "
                                   "PostgreSQL (stops advancing after a lost batch).",
                                   NULL);
    uv_idle_init(loop, &rec->turn);
    rec->turn.data = rec;
    *rp = rec;
    return 0;
}
