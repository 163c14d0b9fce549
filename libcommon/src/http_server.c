/*
 * http_server.c - the listener, connections, their timers and limits, and writing
 * answers. The request object itself lives in http_request.c.
 *
 * One connection parses one request at a time. llhttp pauses twice per request: when
 * the head is complete (so that we know exactly how many bytes the head took, and can
 * refuse a too-large body or answer "100 Continue" before the body is read), and when
 * the message is complete (the handler has it; unparsed bytes of pipelined requests
 * stay in conn->in until the answer is queued, which keeps answers in order).
 *
 * Work per wake-up is bounded: REQUESTS_PER_WAKEUP requests per connection, then the
 * connection is put on the server's kick list and continued from an idle handle. Input
 * is buffered up to max_header_bytes + HTTP_READ_CHUNK per connection (reading stops beyond),
 * and parsing stops while more than HTTP_WRITE_QUEUE_LIMIT answer bytes wait to be sent.
 */
#include "http_internal.h"
#include "voepy/alloc.h"
#include "voepy/err.h"
#include "voepy/log.h"
#include "voepy/metrics.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#define LINGER_MS 2000

enum server_state { SRV_RUNNING, SRV_DRAINING, SRV_CLOSING };

struct http_server {
    uv_loop_t *loop;
    uv_tcp_t listener;
    uv_idle_t kick; /* runs while kicked connections wait to be processed */
    struct http_server_opts opts;
    char *host, *name;
    char *label; /* server="name" */
    http_handler_fn *handler;
    void *arg;
    enum server_state state;
    bool listening;   /* uv_close not yet called on the listener */
    int open_handles; /* listener + kick until their close callbacks ran */
    struct http_conn *conns;
    struct http_conn *kicked;
    unsigned nconns;
    int port;
    void (*drained)(void *arg);
    void *drained_arg;
    void (*closed)(void *arg);
    void *closed_arg;
    struct metric *m_conns, *m_duration;
    char rbuf[HTTP_READ_CHUNK]; /* every read lands here, then is copied to conn->in */
};

struct write_req {
    uv_write_t req;
    struct http_conn *c;
    char *data;
};

static void conn_close(struct http_conn *c);

/* ---- metrics ---- */

static void server_count(struct http_server *s, int status, const struct http_request *r)
{
    char labels[256];
    snprintf(labels, sizeof(labels), "%s,status=\"%d\"", s->label, status);
    metric_inc(metrics_counter("voepy_http_requests_total", "HTTP requests answered.", labels));
    if (r)
        metric_observe(s->m_duration, (double)(uv_hrtime() - r->start_ns) / 1e9);
}

/* ---- connection state ---- */

const struct http_server_opts *http__conn_opts(const struct http_conn *c)
{
    return &c->srv->opts;
}

static unsigned min_u(unsigned a, unsigned b)
{
    return a < b ? a : b;
}

static void timer_cb(uv_timer_t *t);

/* Each state has its own deadline; a fresh connection gets the shorter of idle/header. */
static void conn_arm_timer(struct http_conn *c)
{
    const struct http_server_opts *o = &c->srv->opts;
    unsigned ms = 0;
    switch (c->state) {
    case CONN_IDLE:
        ms = c->nrequests ? o->idle_timeout_ms : min_u(o->idle_timeout_ms, o->header_timeout_ms);
        break;
    case CONN_HEADERS:
        ms = o->header_timeout_ms;
        break;
    case CONN_BODY:
        ms = o->body_timeout_ms;
        break;
    case CONN_LINGER: /* until the last answer is flushed; shutdown_cb shortens it */
        ms = o->idle_timeout_ms;
        break;
    case CONN_HANDLER:
    case CONN_CLOSED:
        uv_timer_stop(&c->timer);
        return;
    }
    uv_timer_start(&c->timer, timer_cb, ms, 0);
}

static const char *conn_state_name(enum http_conn_state s)
{
    static const char *names[] = {"idle", "headers", "body", "handler", "linger", "closed"};
    return s <= CONN_CLOSED ? names[s] : "unknown";
}

/* The one place the state changes. Once closed, later transitions are ignored. */
void http__conn_set_state(struct http_conn *c, enum http_conn_state to)
{
    static const unsigned legal[] = {
        [CONN_IDLE] = 1u << CONN_HEADERS | 1u << CONN_LINGER | 1u << CONN_CLOSED,
        [CONN_HEADERS] = 1u << CONN_BODY | 1u << CONN_LINGER | 1u << CONN_CLOSED,
        [CONN_BODY] = 1u << CONN_HANDLER | 1u << CONN_LINGER | 1u << CONN_CLOSED,
        [CONN_HANDLER] = 1u << CONN_IDLE | 1u << CONN_LINGER | 1u << CONN_CLOSED,
        [CONN_LINGER] = 1u << CONN_CLOSED,
        [CONN_CLOSED] = 0,
    };
    if (c->state == CONN_CLOSED)
        return;
    if (!(legal[c->state] & (1u << to))) {
        log_error("http.bad_state", "connection %s -> %s", conn_state_name(c->state),
                  conn_state_name(to));
        abort();
    }
    c->state = to;
    conn_arm_timer(c);
}

static void kick_cb(uv_idle_t *h)
{
    struct http_server *s = h->data;
    struct http_conn *list = s->kicked;
    s->kicked = NULL;
    uv_idle_stop(h);
    while (list) {
        struct http_conn *c = list;
        list = c->kick_next;
        c->kick_next = NULL;
        c->kicked = false;
        http__conn_process(c);
    }
}

/* Continue this connection from the loop, not from the caller's stack. */
void http__conn_kick(struct http_conn *c)
{
    if (c->kicked || c->state == CONN_CLOSED)
        return;
    c->kicked = true;
    c->kick_next = c->srv->kicked;
    c->srv->kicked = c;
    uv_idle_start(&c->srv->kick, kick_cb);
}

static void conn_unkick(struct http_conn *c)
{
    for (struct http_conn **pp = &c->srv->kicked; *pp; pp = &(*pp)->kick_next) {
        if (*pp == c) {
            *pp = c->kick_next;
            c->kicked = false;
            return;
        }
    }
}

/* ---- reading ---- */

static void alloc_cb(uv_handle_t *h, size_t hint, uv_buf_t *b)
{
    struct http_conn *c = h->data;
    b->base = c->srv->rbuf;
    b->len = sizeof(c->srv->rbuf);
}

static void read_cb(uv_stream_t *st, ssize_t nread, const uv_buf_t *b)
{
    struct http_conn *c = st->data;
    if (nread < 0) { /* EOF or error: a request with the handler is now gone */
        conn_close(c);
        return;
    }
    if (nread == 0 || c->state == CONN_LINGER)
        return; /* lingering: discard what the client still sends */
    buf_append(&c->in, b->base, (size_t)nread);
    http__conn_process(c);
}

/* Read while lingering, or while buffered input stays under its bound. */
void http__conn_update_reading(struct http_conn *c)
{
    if (c->state == CONN_CLOSED)
        return;
    size_t limit = c->srv->opts.max_header_bytes + HTTP_READ_CHUNK;
    bool want = c->state == CONN_LINGER || c->in.len - c->in_off < limit;
    if (want && !c->reading)
        c->reading = uv_read_start((uv_stream_t *)&c->tcp, alloc_cb, read_cb) == 0;
    else if (!want && c->reading)
        c->reading = uv_read_stop((uv_stream_t *)&c->tcp) != 0;
}

/* ---- writing ---- */

static void write_cb(uv_write_t *req, int status)
{
    struct write_req *w = (struct write_req *)req;
    struct http_conn *c = w->c;
    free(w->data);
    free(w);
    if (status < 0) {
        conn_close(c); /* a no-op when the close canceled this write */
        return;
    }
    if (c->state == CONN_IDLE)
        conn_arm_timer(c); /* a slow reader that makes progress is not idle */
    if (c->write_blocked &&
        uv_stream_get_write_queue_size((uv_stream_t *)&c->tcp) < HTTP_WRITE_QUEUE_LIMIT) {
        c->write_blocked = false;
        http__conn_kick(c);
    }
}

/* Queue b's bytes (taken over) for writing. */
void http__conn_write(struct http_conn *c, struct buf *b)
{
    struct write_req *w = VP_NEW(w);
    size_t len;
    w->c = c;
    w->data = buf_steal(b, &len);
    uv_buf_t ub = uv_buf_init(w->data, (unsigned)len);
    if (uv_write(&w->req, (uv_stream_t *)&c->tcp, &ub, 1, write_cb) < 0) {
        free(w->data);
        free(w);
        conn_close(c);
    }
}

static void conn_send(struct http_conn *c, const struct http_request *r, int status,
                      const char *ctype, const char *body, size_t len, enum http_conn_header ch)
{
    struct buf out = BUF_INIT;
    http__render_head(&out, r, status, ctype, len, ch);
    if (!(r && r->head) && status != 204 && status != 304)
        buf_append(&out, body, len);
    http__conn_write(c, &out);
}

/* ---- closing ---- */

static void server_check_done(struct http_server *s);

static void conn_closed_cb(uv_handle_t *h)
{
    struct http_conn *c = h->data;
    if (--c->open_handles > 0)
        return;
    struct http_server *s = c->srv;
    if (c->prev)
        c->prev->next = c->next;
    else
        s->conns = c->next;
    if (c->next)
        c->next->prev = c->prev;
    s->nconns--;
    metric_add(s->m_conns, -1);
    buf_free(&c->in);
    free(c);
    server_check_done(s);
}

/* Close now. A request with the handler is detached and marked gone. */
static void conn_close(struct http_conn *c)
{
    if (c->state == CONN_CLOSED)
        return;
    if (c->req && c->state == CONN_HANDLER) {
        c->req->gone = true;
        c->req->conn = NULL;
    } else {
        http__request_free(c->req);
    }
    c->req = NULL;
    http__conn_set_state(c, CONN_CLOSED);
    conn_unkick(c);
    uv_close((uv_handle_t *)&c->tcp, conn_closed_cb);
    uv_close((uv_handle_t *)&c->timer, conn_closed_cb);
}

static void shutdown_cb(uv_shutdown_t *req, int status)
{
    struct http_conn *c = req->data;
    if (status < 0)
        conn_close(c);
    else if (c->state == CONN_LINGER)
        uv_timer_start(&c->timer, timer_cb, min_u(LINGER_MS, c->srv->opts.idle_timeout_ms), 0);
}

/*
 * The last answer is queued: shut the write side down once it is flushed, and keep
 * reading (and discarding) for a while, so that a client still sending a body we refused
 * reads our answer instead of a reset.
 */
static void conn_linger(struct http_conn *c)
{
    if (c->state == CONN_CLOSED || c->state == CONN_LINGER)
        return;
    http__conn_set_state(c, CONN_LINGER);
    conn_unkick(c);
    buf_free(&c->in);
    c->in_off = 0;
    c->shutdown.data = c;
    if (uv_shutdown(&c->shutdown, (uv_stream_t *)&c->tcp, shutdown_cb) < 0) {
        conn_close(c);
        return;
    }
    http__conn_update_reading(c);
}

static void timer_cb(uv_timer_t *t)
{
    struct http_conn *c = t->data;
    if (c->state == CONN_HEADERS || c->state == CONN_BODY)
        http__conn_fail(c, 408);
    else
        conn_close(c); /* idle keep-alive or lingering: silently */
}

/* Answer a request the server refuses itself, then close. */
void http__conn_fail(struct http_conn *c, int status)
{
    int err = status == 408   ? VP_E_REQUEST_TIMEOUT
              : status == 413 ? VP_E_PAYLOAD_TOO_LARGE
              : status == 431 ? VP_E_HEADERS_TOO_LARGE
                              : VP_E_INVALID_REQUEST;
    struct vp_error e;
    vp_error_set(&e, err, NULL, NULL);
    char *body = vp_error_json(&e);
    log_debug("http.refused", "%d from %s: %s", status, c->remote,
              llhttp_get_error_reason(&c->parser) ? llhttp_get_error_reason(&c->parser) : "");
    conn_send(c, c->req, status, "application/json", body, strlen(body), HTTP_CONN_CLOSE);
    free(body);
    server_count(c->srv, status, c->req);
    http__request_free(c->req);
    c->req = NULL;
    conn_linger(c);
}

/* The request is complete: the handler has it until http_respond(). */
void http__conn_dispatch(struct http_conn *c)
{
    http__conn_set_state(c, CONN_HANDLER);
    c->nrequests++;
    c->srv->handler(c->req, c->srv->arg);
}

/* ---- answering ---- */

static bool conn_keep_alive(const struct http_conn *c, const struct http_request *r)
{
    unsigned max = c->srv->opts.max_requests_per_conn;
    return r->keep_alive && !r->close && c->srv->state == SRV_RUNNING &&
           (max == 0 || c->nrequests < max);
}

void http_respond(struct http_request *r, int status, const char *content_type, const char *body,
                  size_t len)
{
    struct http_conn *c = r->conn;
    if (!c) { /* the client went away (or the server closed): drop the answer */
        http__request_free(r);
        return;
    }
    if (status < 200 || status > 999) {
        log_error("http.bad_status", "handler answered %d; sending 500", status);
        status = 500;
    }
    bool keep = conn_keep_alive(c, r);
    enum http_conn_header ch = !keep       ? HTTP_CONN_CLOSE
                               : r->http10 ? HTTP_CONN_KEEP_ALIVE
                                           : HTTP_CONN_NONE;
    conn_send(c, r, status, content_type, body ? body : "", body ? len : 0, ch);
    server_count(c->srv, status, r);
    c->req = NULL;
    http__request_free(r);
    if (!keep) {
        conn_linger(c);
        return;
    }
    http__conn_set_state(c, CONN_IDLE);
    c->header_bytes = 0;
    llhttp_resume(&c->parser);
    c->resumed = true;
    if (!c->processing)
        http__conn_kick(c); /* next pipelined request: from the loop, not the caller's stack */
}

void http_respond_error(struct http_request *r, const struct vp_error *e)
{
    char *body = vp_error_json(e);
    http_respond(r, vp_err_http_status(e->err), "application/json", body, strlen(body));
    free(body);
}

/* ---- the listener ---- */

static void free_handle_cb(uv_handle_t *h)
{
    free(h);
}

/* Over max_connections: accept (or the listener keeps waking) and close at once. */
static void refuse(struct http_server *s)
{
    uv_tcp_t *t = VP_NEW(t);
    uv_tcp_init(s->loop, t);
    uv_accept((uv_stream_t *)&s->listener, (uv_stream_t *)t);
    uv_close((uv_handle_t *)t, free_handle_cb);
    log_debug("http.refused_connection", "%s: %u connections", s->name, s->nconns);
}

static void conn_remote(struct http_conn *c)
{
    struct sockaddr_storage ss;
    int len = sizeof(ss);
    if (uv_tcp_getpeername(&c->tcp, (struct sockaddr *)&ss, &len) < 0)
        return;
    if (ss.ss_family == AF_INET6)
        uv_ip6_name((struct sockaddr_in6 *)&ss, c->remote, sizeof(c->remote));
    else
        uv_ip4_name((struct sockaddr_in *)&ss, c->remote, sizeof(c->remote));
}

static void accept_cb(uv_stream_t *l, int status)
{
    struct http_server *s = l->data;
    if (status < 0) {
        log_warn("http.accept_failed", "%s: %s", s->name, uv_strerror(status));
        return;
    }
    if (s->nconns >= s->opts.max_connections) {
        refuse(s);
        return;
    }
    struct http_conn *c = VP_NEW(c);
    c->srv = s;
    uv_tcp_init(s->loop, &c->tcp);
    uv_timer_init(s->loop, &c->timer);
    c->tcp.data = c->timer.data = c;
    c->open_handles = 2;
    c->next = s->conns;
    if (s->conns)
        s->conns->prev = c;
    s->conns = c;
    s->nconns++;
    metric_add(s->m_conns, 1);
    buf_init(&c->in, 0);
    if (uv_accept(l, (uv_stream_t *)&c->tcp) < 0) {
        conn_close(c);
        return;
    }
    uv_tcp_nodelay(&c->tcp, 1);
    conn_remote(c);
    llhttp_init(&c->parser, HTTP_REQUEST, &http__settings);
    c->parser.data = c;
    c->state = CONN_IDLE;
    conn_arm_timer(c);
    http__conn_update_reading(c);
}

/* ---- server life ---- */

static void server_free(struct http_server *s)
{
    void (*closed)(void *) = s->closed;
    void *arg = s->closed_arg;
    free(s->host);
    free(s->name);
    free(s->label);
    free(s);
    if (closed)
        closed(arg);
}

/* Called whenever a connection or one of the server's handles finished closing. */
static void server_check_done(struct http_server *s)
{
    if (s->nconns > 0)
        return;
    if (s->state == SRV_CLOSING && s->open_handles == 0) {
        server_free(s);
    } else if (s->state == SRV_DRAINING && !s->listening && s->open_handles == 1 && s->drained) {
        void (*drained)(void *) = s->drained;
        s->drained = NULL;
        drained(s->drained_arg); /* may close the server: touch nothing after */
    }
}

static void server_handle_closed_cb(uv_handle_t *h)
{
    struct http_server *s = h->data;
    s->open_handles--;
    server_check_done(s);
}

static void listener_close(struct http_server *s)
{
    if (!s->listening)
        return;
    s->listening = false;
    uv_close((uv_handle_t *)&s->listener, server_handle_closed_cb);
}

/* server="name", with \ " and newline escaped as label values require. */
static char *label_escape(const char *name)
{
    struct buf b = BUF_INIT;
    buf_puts(&b, "server=\"");
    for (const char *p = name; *p && p - name < 64; p++) { /* fits server_count()'s buffer */
        if (*p == '\\' || *p == '"')
            buf_putc(&b, '\\');
        if (*p == '\n')
            buf_puts(&b, "\\n");
        else
            buf_putc(&b, *p);
    }
    buf_putc(&b, '"');
    return buf_steal(&b, NULL);
}

static void set_opts(struct http_server *s, const struct http_server_opts *in)
{
    struct http_server_opts o = in ? *in : (struct http_server_opts){0};
    s->host = vp_strdup(o.host && *o.host ? o.host : "127.0.0.1");
    s->name = vp_strdup(o.name && *o.name ? o.name : "http");
    o.max_header_bytes = o.max_header_bytes ? o.max_header_bytes : 16 * 1024;
    o.max_body_bytes = o.max_body_bytes ? o.max_body_bytes : 1024 * 1024;
    o.header_timeout_ms = o.header_timeout_ms ? o.header_timeout_ms : 10000;
    o.body_timeout_ms = o.body_timeout_ms ? o.body_timeout_ms : 30000;
    o.idle_timeout_ms = o.idle_timeout_ms ? o.idle_timeout_ms : 60000;
    o.max_connections = o.max_connections ? o.max_connections : 10000;
    o.host = s->host;
    o.name = s->name;
    s->opts = o;
    s->label = label_escape(s->name);
}

/* Numeric addresses only: resolving a name here would block the loop. */
static int bind_addr(const char *host, int port, struct sockaddr_storage *ss)
{
    memset(ss, 0, sizeof(*ss));
    if (uv_ip4_addr(host, port, (struct sockaddr_in *)ss) == 0)
        return 0;
    if (uv_ip6_addr(host, port, (struct sockaddr_in6 *)ss) == 0)
        return 0;
    return VP_E_CONFIG;
}

static int server_listen(struct http_server *s)
{
    struct sockaddr_storage ss;
    int len = sizeof(ss);
    int rc = bind_addr(s->host, s->opts.port, &ss);
    if (rc < 0) {
        log_error("http.bad_address", "%s: cannot listen on %s", s->name, s->host);
        return rc;
    }
    rc = uv_tcp_bind(&s->listener, (struct sockaddr *)&ss, 0);
    if (rc == 0)
        rc = uv_listen((uv_stream_t *)&s->listener, 511, accept_cb);
    if (rc == 0)
        rc = uv_tcp_getsockname(&s->listener, (struct sockaddr *)&ss, &len);
    if (rc < 0) {
        log_error("http.listen_failed", "%s on %s:%d: %s", s->name, s->host, s->opts.port,
                  uv_strerror(rc));
        return VP_E_IO;
    }
    s->port = ntohs(ss.ss_family == AF_INET6 ? ((struct sockaddr_in6 *)&ss)->sin6_port
                                             : ((struct sockaddr_in *)&ss)->sin_port);
    return 0;
}

/*
 * On failure the half-built server closes its two handles and frees itself from their
 * close callbacks: the caller runs the loop as usual.
 */
int http_server_create(struct http_server **sp, uv_loop_t *loop,
                       const struct http_server_opts *opts, http_handler_fn *handler, void *arg)
{
    struct http_server *s = VP_NEW(s);
    s->loop = loop;
    s->handler = handler;
    s->arg = arg;
    set_opts(s, opts);
    uv_tcp_init(loop, &s->listener);
    uv_idle_init(loop, &s->kick);
    s->listener.data = s->kick.data = s;
    s->listening = true;
    s->open_handles = 2;
    int err = server_listen(s);
    if (err < 0)
        goto out;
    s->m_conns = metrics_gauge("voepy_http_connections", "Open HTTP connections.", s->label);
    s->m_duration = metrics_histogram("voepy_http_request_duration_seconds",
                                      "Time from the first byte of a request to its answer.",
                                      s->label, metrics_latency_buckets, metrics_latency_nbuckets);
    log_info("http.listening", "%s on %s:%d", s->name, s->host, s->port);
    *sp = s;
out:
    if (err < 0)
        http_server_close(s, NULL, NULL);
    return err;
}

int http_server_port(const struct http_server *s)
{
    return s->port;
}

void http_server_drain(struct http_server *s, void (*done)(void *arg), void *arg)
{
    if (s->state != SRV_RUNNING)
        return;
    s->state = SRV_DRAINING;
    s->drained = done;
    s->drained_arg = arg;
    listener_close(s);
    /*
     * Idle connections go now (after the answer they may still be sending); the others
     * finish their request and close after it.
     */
    for (struct http_conn *c = s->conns; c; c = c->next) {
        if (c->state != CONN_IDLE)
            continue;
        if (uv_stream_get_write_queue_size((uv_stream_t *)&c->tcp) > 0)
            conn_linger(c);
        else
            conn_close(c);
    }
}

void http_server_close(struct http_server *s, void (*closed)(void *arg), void *arg)
{
    if (s->state == SRV_CLOSING)
        return;
    s->state = SRV_CLOSING;
    s->drained = NULL;
    s->closed = closed;
    s->closed_arg = arg;
    listener_close(s);
    uv_close((uv_handle_t *)&s->kick, server_handle_closed_cb);
    for (struct http_conn *c = s->conns; c; c = c->next)
        conn_close(c);
}
