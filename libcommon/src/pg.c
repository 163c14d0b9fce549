/*
 * pg.c - the PostgreSQL pool: conninfo, statement registry, queue, deadlines, results.
 *
 * Queries wait in one FIFO queue and go to the first IDLE connection. Every query has
 * the same timeout, so deadlines are in queue order: one timer armed for the earliest
 * deadline (queue head or a running query) is enough. pg_exec() never touches a
 * connection itself: it kicks a zero-delay timer, so that a failing connection can never
 * run a callback inside the pg_exec() call that queued it.
 */
#include "pg_internal.h"

#include <arpa/inet.h>
#include <stdlib.h>
#include <string.h>

#include "voepy/alloc.h"
#include "voepy/log.h"
#include "voepy/metrics.h"

#define MAX_POOL_SIZE 64
#define MAX_PARAMS    65535 /* the protocol's limit */

/* Status label of voepy_pg_queries_total, by callback status. */
static const struct {
    int status;
    const char *label;
} status_labels[] = {
    {0, "ok"},
    {VP_E_DB, "error"},
    {VP_E_TIMEOUT, "timeout"},
    {VP_E_CLOSED, "closed"},
    {VP_E_CANCELED, "canceled"},
    {VP_E_UNAVAILABLE, "rejected"},
};
#define NSTATUS (sizeof(status_labels) / sizeof(status_labels[0]))

struct pg_pool {
    struct pg__shared sh;
    char *name;
    PQconninfoOption *parsed; /* owns the strings sh.values points at */
    unsigned query_timeout_ms;
    unsigned max_queue;
    struct pg_conn **conns;
    unsigned nconns;
    unsigned live;    /* connections not yet freed */
    unsigned handles; /* the pool's own open timers */
    struct pg__query *head, *tail;
    unsigned queued;
    uv_timer_t deadline; /* armed for the earliest deadline */
    uv_timer_t kick;     /* zero-delay: dispatch from the loop */
    bool closing;
    void (*closed)(void *arg);
    void *closed_arg;
    struct metric *m_status[NSTATUS];
    struct metric *m_duration;
};

/* The result handed to callbacks: a view of libpq's, valid during the callback. */
struct pg_result {
    PGresult *r;
};

/* ---- queries ---------------------------------------------------------------------- */

static void query_free(struct pg__query *q)
{
    for (int i = 0; i < q->nparams; i++)
        free(q->params[i]);
    free(q->params);
    free(q->sql);
    free(q);
}

static int stmt_find(const struct pg_pool *p, const char *name)
{
    for (unsigned i = 0; i < p->sh.nstmts; i++)
        if (strcmp(p->sh.stmts[i].name, name) == 0)
            return (int)i;
    return -1;
}

static void count_status(struct pg_pool *p, int status)
{
    for (size_t i = 0; i < NSTATUS; i++)
        if (status_labels[i].status == status && p->m_status[i])
            metric_inc(p->m_status[i]);
}

/* Run q's callback, then free q and res. */
static void deliver(struct pg_pool *p, struct pg__query *q, int status, PGresult *res)
{
    count_status(p, status);
    if (p->m_duration)
        metric_observe(p->m_duration, (double)(uv_hrtime() - q->start_ns) / 1e9);
    struct pg_result view = {res};
    q->cb(status, res ? &view : NULL, q->arg);
    PQclear(res);
    query_free(q);
}

static void queue_push(struct pg_pool *p, struct pg__query *q)
{
    q->next = NULL;
    if (p->tail)
        p->tail->next = q;
    else
        p->head = q;
    p->tail = q;
    p->queued++;
}

static struct pg__query *queue_pop(struct pg_pool *p)
{
    struct pg__query *q = p->head;
    if (!q)
        return NULL;
    p->head = q->next;
    if (!p->head)
        p->tail = NULL;
    p->queued--;
    q->next = NULL;
    return q;
}

/* ---- dispatch and deadlines ------------------------------------------------------- */

static struct pg_conn *idle_conn(const struct pg_pool *p)
{
    for (unsigned i = 0; i < p->nconns; i++)
        if (pg__conn_state(p->conns[i]) == PG_CONN_IDLE)
            return p->conns[i];
    return NULL;
}

/* Hand queued queries to idle connections. Call from loop callbacks only. */
static void dispatch(struct pg_pool *p)
{
    struct pg_conn *c;
    while (!p->closing && p->head && (c = idle_conn(p)))
        pg__conn_run(c, queue_pop(p));
}

static void kick_cb(uv_timer_t *t)
{
    dispatch(t->data);
}

static void kick(struct pg_pool *p)
{
    if (!uv_is_active((uv_handle_t *)&p->kick))
        uv_timer_start(&p->kick, kick_cb, 0, 0);
}

static void deadline_cb(uv_timer_t *t);

/* Arm the deadline timer for the earliest deadline, or stop it when nothing waits. */
static void deadline_arm(struct pg_pool *p)
{
    uint64_t next = p->head ? p->head->deadline_ms : UINT64_MAX;
    for (unsigned i = 0; i < p->nconns; i++) {
        const struct pg__query *q = pg__conn_query(p->conns[i]);
        if (q && q->deadline_ms < next)
            next = q->deadline_ms;
    }
    if (next == UINT64_MAX) {
        uv_timer_stop(&p->deadline);
        return;
    }
    uint64_t now = uv_now(p->sh.loop);
    uv_timer_start(&p->deadline, deadline_cb, next > now ? next - now : 0, 0);
}

/* Fail every query whose deadline passed; a callback may close the pool. */
static void deadline_cb(uv_timer_t *t)
{
    struct pg_pool *p = t->data;
    uint64_t now = uv_now(p->sh.loop);
    while (!p->closing && p->head && p->head->deadline_ms <= now)
        deliver(p, queue_pop(p), VP_E_TIMEOUT, NULL);
    for (unsigned i = 0; i < p->nconns && !p->closing; i++) {
        struct pg__query *q = pg__conn_query(p->conns[i]);
        if (!q || q->deadline_ms > now)
            continue;
        pg__conn_abandon(p->conns[i]);
        deliver(p, q, VP_E_TIMEOUT, NULL);
    }
    if (!p->closing)
        deadline_arm(p);
}

/* ---- called by connections -------------------------------------------------------- */

void pg__pool_done(struct pg_pool *p, struct pg__query *q, int status, PGresult *res)
{
    deliver(p, q, status, res);
    dispatch(p);
}

void pg__pool_requeue(struct pg_pool *p, struct pg__query *q)
{
    /* It is older than anything queued: back to the head keeps deadline order. */
    q->next = p->head;
    p->head = q;
    if (!p->tail)
        p->tail = q;
    p->queued++;
    kick(p);
}

void pg__pool_idle(struct pg_pool *p)
{
    dispatch(p);
}

static void pool_free(struct pg_pool *p)
{
    for (unsigned i = 0; i < p->sh.nstmts; i++) {
        free(p->sh.stmts[i].name);
        free(p->sh.stmts[i].sql);
    }
    free(p->sh.stmts);
    free(p->sh.keywords);
    free(p->sh.values);
    PQconninfoFree(p->parsed);
    free(p->conns);
    free(p->name);
    free(p);
}

/* The pool goes when its timers and every connection have gone. */
static void maybe_finish(struct pg_pool *p)
{
    if (!p->closing || p->live > 0 || p->handles > 0)
        return;
    void (*closed)(void *) = p->closed;
    void *arg = p->closed_arg;
    pool_free(p);
    if (closed)
        closed(arg);
}

void pg__pool_conn_freed(struct pg_pool *p)
{
    p->live--;
    maybe_finish(p);
}

static void timer_closed_cb(uv_handle_t *h)
{
    struct pg_pool *p = h->data;
    p->handles--;
    maybe_finish(p);
}

/* ---- conninfo --------------------------------------------------------------------- */

static bool is_ip(const char *s)
{
    unsigned char a[sizeof(struct in6_addr)];
    return inet_pton(AF_INET, s, a) == 1 || inet_pton(AF_INET6, s, a) == 1;
}

/* A host entry libpq would resolve with blocking getaddrinfo (not an IP, not a socket). */
static bool is_name(const char *h, size_t n)
{
    char one[256];
    if (n == 0 || h[0] == '/' || h[0] == '@')
        return false; /* default, or a Unix socket directory */
    if (n >= sizeof(one))
        return true;
    memcpy(one, h, n);
    one[n] = '\0';
    return !is_ip(one);
}

/* 1 when host (a comma list) holds a name, 0 when not, VP_E_CONFIG for a list of names. */
static int host_needs_resolve(const char *host)
{
    bool name = false, list = strchr(host, ',') != NULL;
    for (const char *h = host; h;) {
        const char *comma = strchr(h, ',');
        size_t n = comma ? (size_t)(comma - h) : strlen(h);
        name = name || is_name(h, n);
        h = comma ? comma + 1 : NULL;
    }
    if (name && list)
        return VP_E_CONFIG; /* would resolve each name with blocking getaddrinfo */
    return name;
}

static void param_add(struct pg_pool *p, size_t *k, const char *key, const char *val)
{
    p->sh.keywords[*k] = key;
    p->sh.values[*k] = val;
    (*k)++;
}

/* Turn the conninfo into keyword/value arrays with a resolve placeholder for names. */
static int params_build(struct pg_pool *p, const char *conninfo)
{
    char *err = NULL;
    p->parsed = PQconninfoParse(conninfo, &err);
    if (!p->parsed) {
        log_error("pg.bad_conninfo", "pool %s: %s", p->name, err ? err : "out of memory");
        PQfreemem(err);
        return VP_E_CONFIG;
    }
    size_t n = 0, k = 0;
    const char *host = NULL, *hostaddr = NULL;
    bool appname = false;
    for (const PQconninfoOption *o = p->parsed; o->keyword; o++)
        n++;
    p->sh.keywords = vp_calloc(n + 4, sizeof(char *));
    p->sh.values = vp_calloc(n + 4, sizeof(char *));
    for (const PQconninfoOption *o = p->parsed; o->keyword; o++) {
        if (!o->val)
            continue;
        if (strcmp(o->keyword, "host") == 0) {
            host = o->val;
            continue;
        }
        hostaddr = strcmp(o->keyword, "hostaddr") == 0 ? o->val : hostaddr;
        appname = appname || strcmp(o->keyword, "application_name") == 0;
        param_add(p, &k, o->keyword, o->val);
    }
    if (!appname)
        param_add(p, &k, "application_name", p->name);
    int rc = host && !hostaddr ? host_needs_resolve(host) : 0;
    if (rc < 0) {
        log_error("pg.bad_conninfo", "pool %s: a list of host names needs hostaddr", p->name);
        return rc;
    }
    if (rc == 1) {
        p->sh.resolve_host = host;
        p->sh.host_idx = (int)k;
        param_add(p, &k, "host", NULL);
        p->sh.hostaddr_idx = (int)k;
        param_add(p, &k, "hostaddr", NULL);
    } else if (host) {
        param_add(p, &k, "host", host);
    }
    return 0;
}

/* ---- metrics ---------------------------------------------------------------------- */

static void metrics_create(struct pg_pool *p)
{
    char labels[160];
    for (size_t i = 0; i < NSTATUS; i++) {
        snprintf(labels, sizeof(labels), "pool=\"%s\",status=\"%s\"", p->name,
                 status_labels[i].label);
        p->m_status[i] =
            metrics_counter("voepy_pg_queries_total", "PostgreSQL queries by outcome.", labels);
    }
    snprintf(labels, sizeof(labels), "pool=\"%s\"", p->name);
    p->m_duration = metrics_histogram("voepy_pg_query_duration_seconds",
                                      "PostgreSQL query time including queueing.", labels,
                                      metrics_latency_buckets, metrics_latency_nbuckets);
    for (int s = 0; s < PG__NSTATES; s++) {
        if (s == PG_CONN_CLOSED)
            continue;
        snprintf(labels, sizeof(labels), "pool=\"%s\",state=\"%s\"", p->name,
                 pg__conn_state_name((enum pg_conn_state)s));
        p->sh.m_conns[s] =
            metrics_gauge("voepy_pg_connections", "PostgreSQL connections by state.", labels);
    }
}

/* ---- public API ------------------------------------------------------------------- */

/* Names become metric labels: keep them to [A-Za-z0-9_.-]. */
static bool name_ok(const char *s)
{
    size_t n = strlen(s);
    return n > 0 && n < 64 &&
           strspn(s, "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789_.-") == n;
}

static void opts_apply(struct pg_pool *p, const struct pg_opts *o)
{
    p->nconns = o->size ? o->size : 4;
    if (p->nconns > MAX_POOL_SIZE)
        p->nconns = MAX_POOL_SIZE;
    p->sh.connect_timeout_ms = o->connect_timeout_ms ? o->connect_timeout_ms : 5000;
    p->query_timeout_ms = o->query_timeout_ms ? o->query_timeout_ms : 10000;
    p->max_queue = o->max_queue ? o->max_queue : 10000;
}

int pg_pool_create(struct pg_pool **pp, uv_loop_t *loop, const struct pg_opts *opts)
{
    int rc = VP_E_CONFIG;
    const char *name = opts->name ? opts->name : "default";
    if (!opts->conninfo || !name_ok(name))
        return VP_E_CONFIG;
    struct pg_pool *p = VP_NEW(p);
    p->name = vp_strdup(name);
    p->sh.loop = loop;
    p->sh.pool = p;
    p->sh.name = p->name;
    opts_apply(p, opts);
    if ((rc = params_build(p, opts->conninfo)) < 0)
        goto out;
    metrics_create(p);
    uv_timer_init(loop, &p->deadline);
    uv_timer_init(loop, &p->kick);
    p->deadline.data = p->kick.data = p;
    p->handles = 2;
    p->conns = vp_calloc(p->nconns, sizeof(*p->conns));
    for (unsigned i = 0; i < p->nconns; i++, p->live++)
        pg__conn_create(&p->conns[i], &p->sh, i);
    *pp = p;
    return 0;
out:
    pool_free(p);
    return rc;
}

int pg_prepare(struct pg_pool *p, const char *name, const char *sql)
{
    if (!name || !*name || !sql)
        return VP_E_INVALID_PARAMETER;
    if (p->closing)
        return VP_E_UNAVAILABLE;
    int i = stmt_find(p, name);
    if (i >= 0)
        return strcmp(p->sh.stmts[i].sql, sql) == 0 ? 0 : VP_E_CONFLICT;
    if (p->sh.nstmts == p->sh.stmts_cap) {
        p->sh.stmts_cap = p->sh.stmts_cap ? 2 * p->sh.stmts_cap : 16;
        p->sh.stmts = vp_realloc(p->sh.stmts, p->sh.stmts_cap * sizeof(*p->sh.stmts));
    }
    /* Connections prepare it when they next connect, or before they first run it. */
    p->sh.stmts[p->sh.nstmts].name = vp_strdup(name);
    p->sh.stmts[p->sh.nstmts].sql = vp_strdup(sql);
    p->sh.nstmts++;
    return 0;
}

int pg_exec(struct pg_pool *p, const char *name_or_sql, int nparams, const char *const *params,
            pg_result_cb *cb, void *arg)
{
    if (!name_or_sql || !cb || nparams < 0 || nparams > MAX_PARAMS || (nparams && !params))
        return VP_E_INVALID_PARAMETER;
    if (p->closing || p->queued >= p->max_queue) {
        count_status(p, VP_E_UNAVAILABLE);
        return VP_E_UNAVAILABLE;
    }
    struct pg__query *q = VP_NEW(q);
    q->stmt = stmt_find(p, name_or_sql);
    q->sql = vp_strdup(name_or_sql);
    q->nparams = nparams;
    q->params = vp_calloc(nparams ? (size_t)nparams : 1, sizeof(char *));
    for (int i = 0; i < nparams; i++)
        q->params[i] = params[i] ? vp_strdup(params[i]) : NULL;
    q->cb = cb;
    q->arg = arg;
    q->deadline_ms = uv_now(p->sh.loop) + p->query_timeout_ms;
    q->start_ns = uv_hrtime();
    queue_push(p, q);
    if (!uv_is_active((uv_handle_t *)&p->deadline))
        deadline_arm(p);
    kick(p);
    return 0;
}

bool pg_pool_ready(const struct pg_pool *p)
{
    for (unsigned i = 0; i < p->nconns; i++) {
        enum pg_conn_state s = pg__conn_state(p->conns[i]);
        if (s == PG_CONN_PREPARING || s == PG_CONN_IDLE || s == PG_CONN_BUSY)
            return true;
    }
    return false;
}

void pg_pool_close(struct pg_pool *p, void (*closed)(void *arg), void *arg)
{
    if (p->closing)
        return;
    p->closing = true;
    p->closed = closed;
    p->closed_arg = arg;
    struct pg__query *q;
    while ((q = queue_pop(p)))
        deliver(p, q, VP_E_CANCELED, NULL);
    for (unsigned i = 0; i < p->nconns; i++)
        if ((q = pg__conn_close(p->conns[i])))
            deliver(p, q, VP_E_CANCELED, NULL);
    uv_close((uv_handle_t *)&p->deadline, timer_closed_cb);
    uv_close((uv_handle_t *)&p->kick, timer_closed_cb);
}

/* ---- results ---------------------------------------------------------------------- */

int pg_ntuples(const struct pg_result *res)
{
    return res && res->r ? PQntuples(res->r) : 0;
}

int pg_nfields(const struct pg_result *res)
{
    return res && res->r ? PQnfields(res->r) : 0;
}

const char *pg_value(const struct pg_result *res, int row, int col)
{
    if (row < 0 || col < 0 || row >= pg_ntuples(res) || col >= pg_nfields(res))
        return NULL;
    return PQgetisnull(res->r, row, col) ? NULL : PQgetvalue(res->r, row, col);
}

const char *pg_get(const struct pg_result *res, int row, const char *col)
{
    if (!res || !res->r || !col)
        return NULL;
    return pg_value(res, row, PQfnumber(res->r, col));
}

long long pg_affected(const struct pg_result *res)
{
    const char *n = res && res->r ? PQcmdTuples(res->r) : "";
    return *n ? strtoll(n, NULL, 10) : 0;
}

static const char *error_field(const struct pg_result *res, int field)
{
    return res && res->r ? PQresultErrorField(res->r, field) : NULL;
}

const char *pg_result_sqlstate(const struct pg_result *res)
{
    return error_field(res, PG_DIAG_SQLSTATE);
}

const char *pg_result_message(const struct pg_result *res)
{
    return error_field(res, PG_DIAG_MESSAGE_PRIMARY);
}

int pg_result_error(const struct pg_result *res, struct vp_error *e)
{
    static const char prefix[] = "voepy:";
    struct vp_error tmp;
    e = e ? e : &tmp;
    if (res && res->r && PQresultStatus(res->r) != PGRES_FATAL_ERROR &&
        PQresultStatus(res->r) != PGRES_NONFATAL_ERROR &&
        PQresultStatus(res->r) != PGRES_BAD_RESPONSE)
        return vp_error_set(e, 0, NULL, NULL);
    const char *msg = pg_result_message(res);
    if (!msg || strncmp(msg, prefix, sizeof(prefix) - 1) != 0)
        return vp_error_set(e, VP_E_DB, NULL, NULL); /* server text stays out of replies */
    int err = vp_err_from_code(msg + sizeof(prefix) - 1);
    const char *hint = error_field(res, PG_DIAG_MESSAGE_HINT);
    const char *detail = error_field(res, PG_DIAG_MESSAGE_DETAIL);
    if (hint)
        return vp_error_set(e, err, detail, "%s", hint);
    return vp_error_set(e, err, detail, NULL);
}
