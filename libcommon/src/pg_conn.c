/*
 * pg_conn.c - one libpq session driven on the loop: resolve, connect, prepare, run,
 * cancel, reconnect.
 *
 * Everything here runs on the loop thread except PQcancel, which blocks and so runs on
 * a worker (uv_queue_work). The connection is freed only when every handle and request
 * that points at it has finished: `refs` counts the timer, each poll handle, and each
 * resolve or cancel request in flight. Requests that outlive the session they were made
 * for (a slow resolve, a late cancel) compare `generation` and drop their result.
 */
#include "pg_internal.h"

#include <netdb.h>
#include <stdlib.h>
#include <string.h>

#include "voepy/alloc.h"
#include "voepy/log.h"
#include "voepy/metrics.h"

#define BACKOFF_BASE_MS 100
#define BACKOFF_CAP_MS  5000
#define MAX_ADDRS       8
#define ADDR_LEN        64

struct pg_conn {
    struct pg__shared *sh;
    unsigned id;
    enum pg_conn_state state;
    PGconn *pg;
    uv_poll_t *poll; /* own allocation: replaced when libpq moves to another socket */
    int poll_fd;
    uv_timer_t timer;        /* backoff (BROKEN), connect timeout, cancel grace (BUSY) */
    struct pg__query *query; /* attached query, borrowed from the pool */
    PGresult *result;        /* result kept for the command in progress */
    struct gai_req *gai;     /* resolve in flight for this attempt */
    bool sent;               /* query sent: on failure it fails instead of being requeued */
    bool flushing;           /* PQflush returned 1: wait for writable */
    bool draining;           /* a timed-out query's results are still to be read */
    bool canceling;          /* PQcancel for this session still running */
    bool closing;
    unsigned nprepared;  /* registered statements prepared (or tried) in this session */
    unsigned attempts;   /* failures since the last good session, for backoff */
    unsigned generation; /* bumped whenever a session ends */
    unsigned refs;
};

struct gai_req {
    uv_getaddrinfo_t req;
    struct pg_conn *c;
    unsigned generation;
};

struct cancel_req {
    uv_work_t work;
    struct pg_conn *c;
    unsigned generation;
    PGcancel *cancel;
    int ok;
    char err[256];
};

static void poll_cb(uv_poll_t *h, int status, int events);
static void backoff_cb(uv_timer_t *t);
static void continue_preparing(struct pg_conn *c);

static const char *const state_names[PG__NSTATES] = {
    [PG_CONN_BROKEN] = "broken",       [PG_CONN_CONNECTING] = "connecting",
    [PG_CONN_PREPARING] = "preparing", [PG_CONN_IDLE] = "idle",
    [PG_CONN_BUSY] = "busy",           [PG_CONN_CLOSED] = "closed",
};

const char *pg__conn_state_name(enum pg_conn_state s)
{
    return (unsigned)s < PG__NSTATES ? state_names[s] : "invalid";
}

#define S(x) (1u << PG_CONN_##x)
/* The legal previous states of each state. */
static const unsigned legal_from[PG__NSTATES] = {
    [PG_CONN_BROKEN] = S(CONNECTING) | S(PREPARING) | S(IDLE) | S(BUSY),
    [PG_CONN_CONNECTING] = S(BROKEN),
    [PG_CONN_PREPARING] = S(CONNECTING) | S(IDLE),
    [PG_CONN_IDLE] = S(PREPARING) | S(BUSY),
    [PG_CONN_BUSY] = S(IDLE) | S(PREPARING),
    [PG_CONN_CLOSED] = S(BROKEN) | S(CONNECTING) | S(PREPARING) | S(IDLE) | S(BUSY),
};
#undef S

/* Every state change goes through here: it checks the transition and keeps the gauges. */
static void set_state(struct pg_conn *c, enum pg_conn_state s)
{
    if (!(legal_from[s] & (1u << c->state))) {
        log_error("pg.bad_transition", "pool %s conn %u: %s -> %s", c->sh->name, c->id,
                  pg__conn_state_name(c->state), pg__conn_state_name(s));
        abort();
    }
    if (c->sh->m_conns[c->state])
        metric_add(c->sh->m_conns[c->state], -1);
    if (c->sh->m_conns[s])
        metric_add(c->sh->m_conns[s], 1);
    log_debug("pg.conn_state", "pool %s conn %u: %s -> %s", c->sh->name, c->id,
              pg__conn_state_name(c->state), pg__conn_state_name(s));
    c->state = s;
}

enum pg_conn_state pg__conn_state(const struct pg_conn *c)
{
    return c->state;
}

struct pg__query *pg__conn_query(const struct pg_conn *c)
{
    return c->query;
}

/* Drop one reference; the last one (after close) frees the connection. */
static void conn_unref(struct pg_conn *c)
{
    if (--c->refs > 0)
        return;
    struct pg_pool *p = c->sh->pool;
    free(c);
    pg__pool_conn_freed(p);
}

static void timer_close_cb(uv_handle_t *h)
{
    conn_unref(h->data);
}

static void poll_close_cb(uv_handle_t *h)
{
    struct pg_conn *c = h->data;
    free(h);
    conn_unref(c);
}

/* Close the poll handle; must run before libpq closes the socket it watches. */
static void poll_drop(struct pg_conn *c)
{
    if (!c->poll)
        return;
    uv_close((uv_handle_t *)c->poll, poll_close_cb);
    c->poll = NULL;
    c->poll_fd = -1;
}

/* Watch libpq's current socket, making a new handle when the socket changed. */
static int poll_watch(struct pg_conn *c, int events)
{
    int fd = PQsocket(c->pg);
    if (fd < 0)
        return UV_EBADF;
    if (c->poll && c->poll_fd != fd)
        poll_drop(c);
    if (!c->poll) {
        uv_poll_t *h = VP_NEW(h);
        int rc = uv_poll_init(c->sh->loop, h, fd);
        if (rc < 0) {
            free(h);
            return rc;
        }
        h->data = c;
        c->poll = h;
        c->poll_fd = fd;
        c->refs++;
    }
    return uv_poll_start(c->poll, events, poll_cb);
}

/* libpq's last error without the trailing newline. */
static void pq_error(const struct pg_conn *c, char *out, size_t n)
{
    snprintf(out, n, "%s", c->pg ? PQerrorMessage(c->pg) : "");
    size_t len = strlen(out);
    while (len > 0 && (out[len - 1] == '\n' || out[len - 1] == ' '))
        out[--len] = '\0';
}

/* End the session: handles first (they watch libpq's socket), then libpq. */
static void drop_session(struct pg_conn *c)
{
    poll_drop(c);
    if (c->pg)
        PQfinish(c->pg);
    c->pg = NULL;
    PQclear(c->result);
    c->result = NULL;
    if (c->gai)
        uv_cancel((uv_req_t *)&c->gai->req);
    c->gai = NULL;
    c->sent = c->flushing = c->draining = c->canceling = false;
    c->nprepared = 0;
    c->generation++;
}

/*
 * The session failed: drop it, schedule a reconnect with capped exponential backoff,
 * and hand the attached query back (VP_E_CLOSED when it was sent, else requeued).
 * May run user callbacks: the caller must return without touching the session.
 */
static void conn_fail(struct pg_conn *c, const char *why)
{
    char err[256];
    pq_error(c, err, sizeof(err));
    vlog_kv(VLOG_WARN, "pg.conn_broken", why, "pool", c->sh->name, "state",
            pg__conn_state_name(c->state), "error", err, NULL);
    struct pg__query *q = c->query;
    bool sent = c->sent;
    c->query = NULL;
    drop_session(c);
    set_state(c, PG_CONN_BROKEN);
    unsigned shift = c->attempts < 8 ? c->attempts : 8;
    uint64_t delay = (uint64_t)BACKOFF_BASE_MS << shift;
    c->attempts++;
    uv_timer_start(&c->timer, backoff_cb, delay < BACKOFF_CAP_MS ? delay : BACKOFF_CAP_MS, 0);
    if (!q)
        return;
    q->conn = NULL;
    if (sent)
        pg__pool_done(c->sh->pool, q, VP_E_CLOSED, NULL);
    else
        pg__pool_requeue(c->sh->pool, q);
}

/* Start watching events; on failure the session fails and false is returned. */
static bool watch(struct pg_conn *c, int events)
{
    int rc = poll_watch(c, events);
    if (rc == 0)
        return true;
    conn_fail(c, uv_strerror(rc));
    return false;
}

static void notice_cb(void *arg, const char *msg)
{
    struct pg_conn *c = arg;
    vlog_kv(VLOG_DEBUG, "pg.notice", msg, "pool", c->sh->name, NULL);
}

static void connect_timeout_cb(uv_timer_t *t)
{
    struct pg_conn *c = t->data;
    if (c->state == PG_CONN_CONNECTING)
        conn_fail(c, "connect timed out");
}

/* Start libpq on the shared parameters; hosts/addrs fill the resolve placeholders. */
static void connect_start(struct pg_conn *c, const char *hosts, const char *addrs)
{
    const struct pg__shared *sh = c->sh;
    size_t n = 0;
    while (sh->keywords[n])
        n++;
    const char **values = vp_calloc(n + 1, sizeof(*values));
    memcpy(values, sh->values, n * sizeof(*values));
    if (hosts) {
        values[sh->host_idx] = hosts;
        values[sh->hostaddr_idx] = addrs;
    }
    c->pg = PQconnectStartParams(sh->keywords, values, 0);
    free(values);
    if (!c->pg) {
        log_error("pg.oom", "PQconnectStartParams returned NULL");
        abort();
    }
    PQsetNoticeProcessor(c->pg, notice_cb, c);
    if (PQstatus(c->pg) == CONNECTION_BAD) {
        conn_fail(c, "connect failed");
        return;
    }
    /* libpq starts as if PQconnectPoll had returned PGRES_POLLING_WRITING. */
    watch(c, UV_WRITABLE);
}

/* Render up to MAX_ADDRS addresses as a comma list; returns how many. */
static unsigned addrs_format(const struct addrinfo *ai, char *list, size_t n)
{
    unsigned count = 0;
    list[0] = '\0';
    for (; ai && count < MAX_ADDRS; ai = ai->ai_next) {
        char ip[ADDR_LEN];
        int rc = UV_EAI_FAMILY;
        if (ai->ai_family == AF_INET)
            rc = uv_ip4_name((const struct sockaddr_in *)ai->ai_addr, ip, sizeof(ip));
        else if (ai->ai_family == AF_INET6)
            rc = uv_ip6_name((const struct sockaddr_in6 *)ai->ai_addr, ip, sizeof(ip));
        if (rc != 0)
            continue;
        size_t len = strlen(list);
        snprintf(list + len, n - len, "%s%s", count++ ? "," : "", ip);
    }
    return count;
}

/*
 * Every resolved address becomes one host entry (the same name repeated, so that TLS
 * and auth see the name): libpq tries them in turn, moving to a new socket each time.
 */
static void connect_resolved(struct pg_conn *c, const struct addrinfo *ai)
{
    char addrs[MAX_ADDRS * ADDR_LEN];
    unsigned count = addrs_format(ai, addrs, sizeof(addrs));
    if (count == 0) {
        conn_fail(c, "host name resolved to no address");
        return;
    }
    size_t hlen = strlen(c->sh->resolve_host);
    char *hosts = vp_calloc(count, hlen + 1); /* count names, count-1 commas, NUL */
    for (unsigned i = 0; i < count; i++) {
        if (i)
            strcat(hosts, ",");
        strcat(hosts, c->sh->resolve_host);
    }
    connect_start(c, hosts, addrs);
    free(hosts);
}

static void gai_cb(uv_getaddrinfo_t *req, int status, struct addrinfo *res)
{
    struct gai_req *r = (struct gai_req *)req;
    struct pg_conn *c = r->c;
    bool current = c->gai == r && r->generation == c->generation;
    if (current)
        c->gai = NULL;
    if (current && c->state == PG_CONN_CONNECTING) {
        if (status < 0)
            conn_fail(c, uv_strerror(status));
        else
            connect_resolved(c, res);
    }
    uv_freeaddrinfo(res);
    free(r);
    conn_unref(c);
}

/* A connect attempt: resolve when the host is a name, then PQconnectStartParams. */
static void start_connect(struct pg_conn *c)
{
    set_state(c, PG_CONN_CONNECTING);
    uv_timer_start(&c->timer, connect_timeout_cb, c->sh->connect_timeout_ms, 0);
    if (!c->sh->resolve_host) {
        connect_start(c, NULL, NULL);
        return;
    }
    struct gai_req *r = VP_NEW(r);
    r->c = c;
    r->generation = c->generation;
    struct addrinfo hints = {.ai_family = AF_UNSPEC, .ai_socktype = SOCK_STREAM};
    int rc = uv_getaddrinfo(c->sh->loop, &r->req, gai_cb, c->sh->resolve_host, NULL, &hints);
    if (rc < 0) {
        free(r);
        conn_fail(c, uv_strerror(rc));
        return;
    }
    c->gai = r;
    c->refs++;
}

static void backoff_cb(uv_timer_t *t)
{
    struct pg_conn *c = t->data;
    if (c->state == PG_CONN_BROKEN)
        start_connect(c);
}

static void connected(struct pg_conn *c)
{
    if (PQsetnonblocking(c->pg, 1) != 0) {
        conn_fail(c, "PQsetnonblocking failed");
        return;
    }
    uv_timer_stop(&c->timer);
    c->attempts = 0;
    log_info("pg.connected", "pool %s conn %u: backend %d at %s", c->sh->name, c->id,
             PQbackendPID(c->pg), PQhostaddr(c->pg) ? PQhostaddr(c->pg) : "?");
    set_state(c, PG_CONN_PREPARING);
    if (watch(c, UV_READABLE))
        continue_preparing(c);
}

static void connect_poll(struct pg_conn *c)
{
    /* Stop first: PQconnectPoll may close this socket and open the next host's. */
    uv_poll_stop(c->poll);
    switch (PQconnectPoll(c->pg)) {
    case PGRES_POLLING_READING:
        watch(c, UV_READABLE);
        return;
    case PGRES_POLLING_WRITING:
        watch(c, UV_WRITABLE);
        return;
    case PGRES_POLLING_OK:
        connected(c);
        return;
    default:
        conn_fail(c, "connect failed");
        return;
    }
}

/* Send what libpq has buffered; keep watching writable while some is left. */
static bool flush(struct pg_conn *c)
{
    int r = PQflush(c->pg);
    if (r < 0) {
        conn_fail(c, "write failed");
        return false;
    }
    c->flushing = r == 1;
    return watch(c, UV_READABLE | (c->flushing ? UV_WRITABLE : 0));
}

static void become_idle(struct pg_conn *c)
{
    set_state(c, PG_CONN_IDLE);
    pg__pool_idle(c->sh->pool);
}

static void send_query(struct pg_conn *c)
{
    const struct pg__query *q = c->query;
    const char *const *params = (const char *const *)q->params;
    int ok = q->stmt >= 0
                 ? PQsendQueryPrepared(c->pg, c->sh->stmts[q->stmt].name, q->nparams, params, NULL,
                                       NULL, 0)
                 : PQsendQueryParams(c->pg, q->sql, q->nparams, NULL, params, NULL, NULL, 0);
    if (!ok) {
        conn_fail(c, "send failed");
        return;
    }
    set_state(c, PG_CONN_BUSY);
    c->sent = true;
    flush(c);
}

/* Prepare the next registered statement, or move on to the waiting query or IDLE. */
static void continue_preparing(struct pg_conn *c)
{
    if (c->nprepared < c->sh->nstmts) {
        const struct pg__stmt *s = &c->sh->stmts[c->nprepared];
        if (!PQsendPrepare(c->pg, s->name, s->sql, 0, NULL)) {
            conn_fail(c, "send prepare failed");
            return;
        }
        flush(c);
        return;
    }
    if (c->query)
        send_query(c);
    else
        become_idle(c);
}

static bool is_error(const PGresult *r)
{
    ExecStatusType st = PQresultStatus(r);
    return st == PGRES_FATAL_ERROR || st == PGRES_BAD_RESPONSE || st == PGRES_NONFATAL_ERROR;
}

/* Of a command's results keep the first error, else the last result. */
static void keep_result(struct pg_conn *c, PGresult *r)
{
    if (c->result && is_error(c->result)) {
        PQclear(r);
        return;
    }
    PQclear(c->result);
    c->result = r;
}

/* 0, VP_E_DB, or VP_E_CLOSED when the error ended the session (FATAL, PANIC). */
static int classify(const struct pg_conn *c, const PGresult *r)
{
    if (!r)
        return VP_E_CLOSED;
    if (!is_error(r))
        return 0;
    const char *sev = PQresultErrorField(r, PG_DIAG_SEVERITY_NONLOCALIZED);
    if (PQstatus(c->pg) == CONNECTION_BAD || (sev && strcmp(sev, "ERROR") != 0))
        return VP_E_CLOSED;
    return VP_E_DB;
}

static void finish_prepare(struct pg_conn *c, PGresult *r)
{
    const struct pg__stmt *s = &c->sh->stmts[c->nprepared];
    if (!r || is_error(r))
        vlog_kv(VLOG_WARN, "pg.prepare_failed", r ? PQresultErrorMessage(r) : "no result", "pool",
                c->sh->name, "statement", s->name, NULL);
    PQclear(r);
    /* A statement that failed to prepare is not retried: running it reports the error. */
    c->nprepared++;
    continue_preparing(c);
}

static void finish_drain(struct pg_conn *c, PGresult *r)
{
    PQclear(r);
    c->draining = false;
    if (c->canceling)
        return; /* cancel_after_cb makes the connection IDLE */
    uv_timer_stop(&c->timer);
    become_idle(c);
}

static void finish_query(struct pg_conn *c, PGresult *r)
{
    int status = classify(c, r);
    if (status == VP_E_CLOSED) {
        PQclear(r);
        conn_fail(c, "session ended by the server");
        return;
    }
    struct pg__query *q = c->query;
    c->query = NULL;
    c->sent = false;
    q->conn = NULL;
    set_state(c, PG_CONN_IDLE);
    pg__pool_done(c->sh->pool, q, status, r); /* may attach the next query to c */
}

static void finish_command(struct pg_conn *c)
{
    PGresult *r = c->result;
    c->result = NULL;
    if (c->state == PG_CONN_PREPARING)
        finish_prepare(c, r);
    else if (c->draining)
        finish_drain(c, r);
    else
        finish_query(c, r);
}

static void read_results(struct pg_conn *c)
{
    while (!PQisBusy(c->pg)) {
        PGresult *r = PQgetResult(c->pg);
        if (!r) {
            finish_command(c);
            return;
        }
        ExecStatusType st = PQresultStatus(r);
        if (st == PGRES_COPY_IN || st == PGRES_COPY_OUT || st == PGRES_COPY_BOTH) {
            PQclear(r);
            conn_fail(c, "COPY is not supported");
            return;
        }
        keep_result(c, r);
    }
}

/* PREPARING and BUSY: read what arrived, send what is left, then collect results. */
static void io(struct pg_conn *c, int events)
{
    if ((events & UV_READABLE) && !PQconsumeInput(c->pg)) {
        conn_fail(c, "read failed");
        return;
    }
    if ((c->flushing || (events & UV_WRITABLE)) && !flush(c))
        return;
    if (!c->flushing)
        read_results(c);
}

/* IDLE: the server only speaks to say goodbye (or to send notices). */
static void idle_read(struct pg_conn *c)
{
    if (!PQconsumeInput(c->pg) || PQstatus(c->pg) == CONNECTION_BAD) {
        conn_fail(c, "connection lost while idle");
        return;
    }
    PGnotify *n;
    while ((n = PQnotifies(c->pg)))
        PQfreemem(n);
    watch(c, UV_READABLE);
}

static void poll_cb(uv_poll_t *h, int status, int events)
{
    struct pg_conn *c = h->data;
    if (h != c->poll)
        return;
    /* On error libuv stops the handle and reports no events: let libpq find the error. */
    if (status < 0)
        events = UV_READABLE | UV_WRITABLE;
    switch (c->state) {
    case PG_CONN_CONNECTING:
        connect_poll(c);
        break;
    case PG_CONN_PREPARING:
    case PG_CONN_BUSY:
        io(c, events);
        break;
    case PG_CONN_IDLE:
        idle_read(c);
        break;
    default:
        break;
    }
}

static void cancel_work_cb(uv_work_t *w)
{
    struct cancel_req *r = (struct cancel_req *)w;
    r->ok = PQcancel(r->cancel, r->err, sizeof(r->err));
}

static void cancel_after_cb(uv_work_t *w, int status)
{
    struct cancel_req *r = (struct cancel_req *)w;
    struct pg_conn *c = r->c;
    PQfreeCancel(r->cancel);
    if (!r->ok)
        vlog_kv(VLOG_WARN, "pg.cancel_failed", r->err, "pool", c->sh->name, NULL);
    if (r->generation == c->generation && c->state == PG_CONN_BUSY) {
        c->canceling = false;
        if (!c->draining) {
            uv_timer_stop(&c->timer);
            become_idle(c);
        }
    }
    free(r);
    conn_unref(c);
}

/* Ask the server to cancel the running statement; PQcancel blocks, so on a worker. */
static void start_cancel(struct pg_conn *c)
{
    PGcancel *k = PQgetCancel(c->pg);
    if (!k)
        return; /* the grace timer decides */
    struct cancel_req *r = VP_NEW(r);
    r->c = c;
    r->generation = c->generation;
    r->cancel = k;
    if (uv_queue_work(c->sh->loop, &r->work, cancel_work_cb, cancel_after_cb) < 0) {
        PQfreeCancel(k);
        free(r);
        return;
    }
    c->canceling = true;
    c->refs++;
}

static void grace_cb(uv_timer_t *t)
{
    struct pg_conn *c = t->data;
    if (c->state == PG_CONN_BUSY && (c->draining || c->canceling))
        conn_fail(c, "cancelled statement did not finish");
}

void pg__conn_abandon(struct pg_conn *c)
{
    struct pg__query *q = c->query;
    if (!q)
        return;
    c->query = NULL;
    q->conn = NULL;
    if (!c->sent)
        return; /* still preparing for it: preparation carries on, then IDLE */
    /*
     * The statement may still run: read and drop its results, and take no new work
     * until both they and the cancel request are done, so that a late cancel can never
     * hit the next query. If that takes too long, the session is replaced.
     */
    c->sent = false;
    c->draining = true;
    start_cancel(c);
    uv_timer_start(&c->timer, grace_cb, c->sh->connect_timeout_ms, 0);
}

void pg__conn_run(struct pg_conn *c, struct pg__query *q)
{
    c->query = q;
    q->conn = c;
    if (q->stmt >= 0 && (unsigned)q->stmt >= c->nprepared) {
        /* Statements registered after this session started: prepare them first. */
        set_state(c, PG_CONN_PREPARING);
        continue_preparing(c);
        return;
    }
    send_query(c);
}

struct pg__query *pg__conn_close(struct pg_conn *c)
{
    if (c->closing)
        return NULL;
    struct pg__query *q = c->query;
    c->query = NULL;
    if (q)
        q->conn = NULL;
    c->closing = true;
    drop_session(c);
    set_state(c, PG_CONN_CLOSED);
    uv_close((uv_handle_t *)&c->timer, timer_close_cb);
    return q;
}

int pg__conn_create(struct pg_conn **cp, struct pg__shared *sh, unsigned id)
{
    struct pg_conn *c = VP_NEW(c);
    c->sh = sh;
    c->id = id;
    c->state = PG_CONN_BROKEN;
    c->poll_fd = -1;
    uv_timer_init(sh->loop, &c->timer);
    c->timer.data = c;
    c->refs = 1; /* the timer, released in timer_close_cb */
    if (sh->m_conns[PG_CONN_BROKEN])
        metric_add(sh->m_conns[PG_CONN_BROKEN], 1);
    /* The first attempt runs from the loop, never inside pg_pool_create(). */
    uv_timer_start(&c->timer, backoff_cb, 0, 0);
    *cp = c;
    return 0;
}
