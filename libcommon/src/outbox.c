#include "voepy/outbox.h"
#include "voepy/alloc.h"
#include "voepy/buf.h"
#include "voepy/err.h"
#include "voepy/log.h"
#include "voepy/metrics.h"
#include "voepy/pg.h"
#include "voepy/redis.h"
#include "voepy/rstream.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define LEASE_SQL "interval '10 seconds'"

/*
 * Claim a batch: unpublished events whose lease is free, oldest first, leased to us.
 * SKIP LOCKED lets several relays work side by side without waiting on each other.
 */
static const char claim_sql[] =
    "WITH c AS (SELECT seq FROM events"
    "            WHERE published_at IS NULL AND (lease_until IS NULL OR lease_until < now())"
    "            ORDER BY seq LIMIT $1 FOR UPDATE SKIP LOCKED),"
    "     u AS (UPDATE events e SET lease_until = now() + " LEASE_SQL " FROM c"
    "            WHERE e.seq = c.seq"
    "            RETURNING e.seq, e.id, e.type, e.tenant_id, e.call_id, e.occurred_at, e.data)"
    " SELECT seq, id, type, tenant_id, call_id, voepy_ts(occurred_at), data::text"
    "   FROM u ORDER BY seq";

/* Published ones are done; failed ones give their lease back so the next round retries. */
static const char done_sql[] =
    "UPDATE events SET published_at = CASE WHEN seq = ANY($1::bigint[]) THEN now() END,"
    "                  lease_until = NULL"
    " WHERE seq = ANY($1::bigint[]) OR seq = ANY($2::bigint[])";

enum round_state { ROUND_IDLE, ROUND_CLAIMING, ROUND_PUBLISHING, ROUND_MARKING };

struct outbox {
    uv_loop_t *loop;
    struct pg_pool *pg;
    struct redis *redis;
    struct outbox_opts opts;
    uv_timer_t timer;
    enum round_state state;
    bool again;   /* a kick arrived during a round */
    bool closing; /* close requested: free when the round ends */
    unsigned pending;
    struct buf ok, failed; /* "{1,2,3}" arrays of seqs for done_sql */
    size_t claimed;
    void (*closed)(void *arg);
    void *closed_arg;
    struct metric *m_published, *m_failed;
};

static void start_round(struct outbox *o);

unsigned outbox_partition(const char *key, unsigned partitions)
{
    uint32_t h = 2166136261u;
    for (const unsigned char *p = (const unsigned char *)(key ? key : ""); *p; p++) {
        h ^= *p;
        h *= 16777619u;
    }
    return partitions ? h % partitions : 0;
}

int outbox_stream_name(unsigned p, char *out, size_t n)
{
    int len = snprintf(out, n, "voepy:events:%u", p);
    if (len >= 0 && (size_t)len < n)
        return 0;
    if (n > 0)
        out[0] = '\0';
    return VP_E_INVALID_PARAMETER;
}

const char **outbox_stream_names(unsigned partitions)
{
    if (partitions == 0)
        return NULL;
    const char **names = vp_malloc(partitions * (sizeof(char *) + OUTBOX_STREAM_MAX));
    char(*buf)[OUTBOX_STREAM_MAX] = (char(*)[OUTBOX_STREAM_MAX])(names + partitions);
    for (unsigned p = 0; p < partitions; p++) {
        outbox_stream_name(p, buf[p], sizeof(buf[p]));
        names[p] = buf[p];
    }
    return names;
}

static void free_timer_cb(uv_handle_t *h)
{
    struct outbox *o = h->data;
    void (*closed)(void *) = o->closed;
    void *arg = o->closed_arg;
    buf_free(&o->ok);
    buf_free(&o->failed);
    free(o);
    if (closed)
        closed(arg);
}

/* The round is over: close if asked, run again at once if kicked or the batch was full. */
static void round_done(struct outbox *o)
{
    bool full = o->claimed == o->opts.batch;
    o->state = ROUND_IDLE;
    if (o->closing) {
        uv_close((uv_handle_t *)&o->timer, free_timer_cb);
        return;
    }
    if (o->again || full) {
        o->again = false;
        start_round(o);
    }
}

static void marked_cb(int status, const struct pg_result *res, void *arg)
{
    struct outbox *o = arg;
    if (status)
        log_warn("outbox.mark_failed", "could not mark events published: %s",
                 res ? pg_result_message(res) : vp_err_message(status));
    round_done(o);
}

static void append_seq(struct buf *b, const char *seq)
{
    buf_puts(b, b->len > 1 ? "," : "");
    buf_puts(b, seq);
}

static void mark(struct outbox *o)
{
    if (o->closing) {
        /* The pool may be closing too: leave the lease to expire; another relay republishes. */
        round_done(o);
        return;
    }
    buf_putc(&o->ok, '}');
    buf_putc(&o->failed, '}');
    const char *params[] = {o->ok.data, o->failed.data};
    o->state = ROUND_MARKING;
    if (pg_exec(o->pg, "outbox_done", 2, params, marked_cb, o))
        round_done(o);
}

struct add_ctx {
    struct outbox *o;
    char seq[24];
};

static void added_cb(int status, const char *entry_id, void *arg)
{
    struct add_ctx *ctx = arg;
    struct outbox *o = ctx->o;
    if (status == 0) {
        append_seq(&o->ok, ctx->seq);
        metric_inc(o->m_published);
    } else {
        append_seq(&o->failed, ctx->seq);
        metric_inc(o->m_failed);
    }
    free(ctx);
    if (--o->pending == 0)
        mark(o);
}

/* The columns of claim_sql. */
enum { COL_SEQ, COL_ID, COL_TYPE, COL_TENANT, COL_CALL, COL_OCCURRED, COL_DATA };

/* {"id","type","occurred_at","tenant_id","call_id","data"}; data is already JSON text. */
static void envelope(struct buf *b, const struct pg_result *res, int row)
{
    static const struct {
        const char *key;
        int col;
    } fields[] = {{"id", COL_ID},
                  {"type", COL_TYPE},
                  {"occurred_at", COL_OCCURRED},
                  {"tenant_id", COL_TENANT},
                  {"call_id", COL_CALL}};
    buf_putc(b, '{');
    for (size_t i = 0; i < sizeof(fields) / sizeof(fields[0]); i++) {
        const char *v = pg_value(res, row, fields[i].col);
        buf_printf(b, "%s\"%s\":", i ? "," : "", fields[i].key);
        if (!v) {
            buf_puts(b, "null");
            continue;
        }
        buf_putc(b, '"');
        buf_json_escape(b, v, strlen(v));
        buf_putc(b, '"');
    }
    buf_puts(b, ",\"data\":");
    buf_puts(b, pg_value(res, row, COL_DATA));
    buf_putc(b, '}');
}

static void publish_row(struct outbox *o, const struct pg_result *res, int row)
{
    const char *call = pg_value(res, row, COL_CALL), *tenant = pg_value(res, row, COL_TENANT);
    char stream[OUTBOX_STREAM_MAX];
    outbox_stream_name(outbox_partition(call ? call : tenant, o->opts.partitions), stream,
                       sizeof(stream));
    struct add_ctx *ctx = VP_NEW(ctx);
    ctx->o = o;
    snprintf(ctx->seq, sizeof(ctx->seq), "%s", pg_value(res, row, COL_SEQ));
    struct buf body = BUF_INIT;
    envelope(&body, res, row);
    o->pending++;
    if (rstream_add(o->redis, stream, body.data, body.len, o->opts.stream_maxlen, added_cb, ctx))
        added_cb(VP_E_UNAVAILABLE, NULL, ctx);
    buf_free(&body);
}

static void claimed_cb(int status, const struct pg_result *res, void *arg)
{
    struct outbox *o = arg;
    o->claimed = status ? 0 : (size_t)pg_ntuples(res);
    if (status || o->claimed == 0) {
        if (status && status != VP_E_CANCELED)
            log_warn("outbox.claim_failed", "could not claim events: %s",
                     res ? pg_result_message(res) : vp_err_message(status));
        o->claimed = 0;
        round_done(o);
        return;
    }
    o->state = ROUND_PUBLISHING;
    buf_reset(&o->ok);
    buf_reset(&o->failed);
    buf_putc(&o->ok, '{');
    buf_putc(&o->failed, '{');
    o->pending = 1; /* held until every row is handed to Redis */
    for (int i = 0; i < pg_ntuples(res); i++)
        publish_row(o, res, i);
    if (--o->pending == 0)
        mark(o);
}

static void start_round(struct outbox *o)
{
    if (o->state != ROUND_IDLE || o->closing)
        return;
    char limit[16];
    snprintf(limit, sizeof(limit), "%u", o->opts.batch);
    const char *params[] = {limit};
    o->state = ROUND_CLAIMING;
    if (pg_exec(o->pg, "outbox_claim", 1, params, claimed_cb, o))
        o->state = ROUND_IDLE;
}

static void tick_cb(uv_timer_t *t)
{
    start_round(t->data);
}

int outbox_create(struct outbox **op, uv_loop_t *loop, struct pg_pool *pg, struct redis *redis,
                  const struct outbox_opts *opts)
{
    struct outbox *o = VP_NEW(o);
    o->loop = loop;
    o->pg = pg;
    o->redis = redis;
    o->opts = opts ? *opts : (struct outbox_opts){0};
    if (!o->opts.partitions)
        o->opts.partitions = 4;
    if (!o->opts.poll_ms)
        o->opts.poll_ms = 250;
    if (!o->opts.batch)
        o->opts.batch = 100;
    if (!o->opts.stream_maxlen)
        o->opts.stream_maxlen = 1000000;
    pg_prepare(pg, "outbox_claim", claim_sql);
    pg_prepare(pg, "outbox_done", done_sql);
    o->m_published = metrics_counter("voepy_outbox_events_published_total",
                                     "Events moved from the outbox to their stream", NULL);
    o->m_failed = metrics_counter("voepy_outbox_publish_failures_total",
                                  "Events whose XADD failed (retried)", NULL);
    uv_timer_init(loop, &o->timer);
    o->timer.data = o;
    uv_timer_start(&o->timer, tick_cb, o->opts.poll_ms, o->opts.poll_ms);
    *op = o;
    return 0;
}

void outbox_kick(struct outbox *o)
{
    if (o->state == ROUND_IDLE)
        start_round(o);
    else
        o->again = true;
}

void outbox_close(struct outbox *o, void (*closed)(void *arg), void *arg)
{
    o->closing = true;
    o->closed = closed;
    o->closed_arg = arg;
    uv_timer_stop(&o->timer);
    if (o->state == ROUND_IDLE)
        uv_close((uv_handle_t *)&o->timer, free_timer_cb);
}
