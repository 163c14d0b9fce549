/*
 * SIP over TCP: the listener, accepted and outgoing connections, stream framing.
 *
 * A connection is freed only in its uv_close callback. Input is bounded (one message's
 * worth of headers and body plus what follows it); a peer that overflows it, sends an
 * unframeable stream or stops reading our output is disconnected.
 */
#include "sip_transport_int.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "sip_frame.h"
#include "voepy/alloc.h"
#include "voepy/buf.h"
#include "voepy/err.h"
#include "voepy/log.h"

#define CONN_INPUT_LIMIT (SIP_FRAME_MAX_HEADERS + SIP_FRAME_MAX_BODY + 8192)
#define CONN_WRITE_LIMIT (1u << 20) /* bytes queued to a peer that does not read */
#define CONN_PENDING_MAX 64         /* messages waiting for a connect */
#define READ_CHUNK       16384

struct pending_msg {
    struct pending_msg *next;
    size_t len;
    char data[];
};

struct sip_conn {
    uv_tcp_t tcp;
    struct sip_transport *t;
    struct sip_conn *next;
    uint32_t id;
    char ip[SIP_IP_MAX];
    int port;
    bool connected;
    bool closing;
    uint64_t last_active;
    struct buf in;
    struct pending_msg *pending, **pending_tail;
    unsigned npending;
    uv_connect_t creq;
    char rchunk[READ_CHUNK];
};

struct conn_write {
    uv_write_t req;
    char data[];
};

static void unlink_conn(struct sip_transport *t, struct sip_conn *c)
{
    for (struct sip_conn **pp = &t->conns; *pp; pp = &(*pp)->next) {
        if (*pp == c) {
            *pp = c->next;
            t->nconns--;
            return;
        }
    }
}

static void drop_pending(struct sip_conn *c)
{
    while (c->pending) {
        struct pending_msg *m = c->pending;
        c->pending = m->next;
        free(m);
    }
    c->pending_tail = &c->pending;
    c->npending = 0;
}

static void conn_closed_cb(uv_handle_t *h)
{
    struct sip_conn *c = h->data;
    struct sip_transport *t = c->t;
    buf_free(&c->in);
    drop_pending(c);
    free(c);
    sip_tp__handle_closed(t);
}

static void conn_close(struct sip_conn *c, const char *why)
{
    if (c->closing)
        return;
    c->closing = true;
    unlink_conn(c->t, c);
    log_debug("sip.tcp_closed", "TCP connection %u with %s:%d closed: %s", c->id, c->ip, c->port,
              why);
    uv_close((uv_handle_t *)&c->tcp, conn_closed_cb);
}

static struct sip_conn *conn_new(struct sip_transport *t)
{
    struct sip_conn *c = VP_NEW(c);
    c->t = t;
    c->id = t->next_conn_id++;
    if (t->next_conn_id == 0)
        t->next_conn_id = 1;
    c->tcp.data = c;
    c->pending_tail = &c->pending;
    c->last_active = uv_now(t->loop);
    buf_init(&c->in, CONN_INPUT_LIMIT);
    uv_tcp_init(t->loop, &c->tcp);
    c->next = t->conns;
    t->conns = c;
    t->nconns++;
    t->handles++;
    return c;
}

static void peer_name(struct sip_conn *c)
{
    struct sockaddr_storage ss;
    int n = sizeof(ss);
    if (uv_tcp_getpeername(&c->tcp, (struct sockaddr *)&ss, &n))
        return;
    sip_addr_name((struct sockaddr *)&ss, c->ip, sizeof(c->ip), &c->port);
}

static void written_cb(uv_write_t *req, int status)
{
    struct sip_conn *c = req->handle->data;
    free(req);
    if (status && status != UV_ECANCELED)
        conn_close(c, uv_strerror(status));
}

static int conn_write(struct sip_conn *c, const char *data, size_t len)
{
    if (uv_stream_get_write_queue_size((uv_stream_t *)&c->tcp) > CONN_WRITE_LIMIT) {
        conn_close(c, "peer does not read");
        return VP_E_IO;
    }
    struct conn_write *w = vp_malloc(sizeof(*w) + len);
    memcpy(w->data, data, len);
    uv_buf_t b = uv_buf_init(w->data, (unsigned)len);
    int rc = uv_write(&w->req, (uv_stream_t *)&c->tcp, &b, 1, written_cb);
    if (rc) {
        free(w);
        conn_close(c, uv_strerror(rc));
        return VP_E_IO;
    }
    c->last_active = uv_now(c->t->loop);
    return 0;
}

static void alloc_cb(uv_handle_t *h, size_t suggested, uv_buf_t *buf)
{
    struct sip_conn *c = h->data;
    (void)suggested;
    *buf = uv_buf_init(c->rchunk, sizeof(c->rchunk));
}

/* Hand every complete message in the input buffer up; false when the stream is bad. */
static bool deliver_frames(struct sip_conn *c)
{
    struct sockaddr_storage from;
    sip_tp__addr(c->ip, c->port, &from);
    for (;;) {
        size_t skip, len;
        int err = sip_frame_next(c->in.data, c->in.len, &skip, &len);
        if (err) {
            log_warn("sip.tcp_bad_stream", "TCP stream from %s:%d: %s", c->ip, c->port,
                     vp_err_message(err));
            return false;
        }
        buf_consume(&c->in, skip);
        if (len == 0)
            return true;
        sip_tp__deliver(c->t, SIP_TCP, c->in.data, len, (struct sockaddr *)&from, c->id);
        if (c->closing || c->t->closing)
            return true;
        buf_consume(&c->in, len);
    }
}

static void read_cb(uv_stream_t *s, ssize_t n, const uv_buf_t *b)
{
    struct sip_conn *c = s->data;
    if (n < 0) {
        conn_close(c, n == UV_EOF ? "closed by peer" : uv_strerror((int)n));
        return;
    }
    c->last_active = uv_now(c->t->loop);
    if (n == 0)
        return;
    if (buf_append(&c->in, b->base, (size_t)n)) {
        log_warn("sip.tcp_overflow", "TCP input from %s:%d exceeds %d bytes", c->ip, c->port,
                 CONN_INPUT_LIMIT);
        conn_close(c, "input overflow");
        return;
    }
    if (!deliver_frames(c))
        conn_close(c, "bad framing");
}

static void flush_pending(struct sip_conn *c)
{
    while (c->pending && !c->closing) {
        struct pending_msg *m = c->pending;
        c->pending = m->next;
        conn_write(c, m->data, m->len);
        free(m);
    }
    drop_pending(c);
}

static void connected_cb(uv_connect_t *req, int status)
{
    struct sip_conn *c = req->handle->data;
    if (c->closing)
        return;
    if (status) {
        log_warn("sip.tcp_connect_failed", "TCP connect to %s:%d failed: %s", c->ip, c->port,
                 uv_strerror(status));
        struct sip_transport *t = c->t;
        char ip[SIP_IP_MAX];
        int port = c->port;
        snprintf(ip, sizeof(ip), "%s", c->ip);
        conn_close(c, "connect failed");
        if (t->err_cb && !t->closing)
            t->err_cb(SIP_TCP, ip, port, VP_E_UNAVAILABLE, t->arg);
        return;
    }
    c->connected = true;
    uv_read_start((uv_stream_t *)&c->tcp, alloc_cb, read_cb);
    flush_pending(c);
}

static struct sip_conn *find_conn(struct sip_transport *t, const char *ip, int port, uint32_t id)
{
    struct sip_conn *by_addr = NULL;
    for (struct sip_conn *c = t->conns; c; c = c->next) {
        if (id && c->id == id)
            return c;
        if (!by_addr && c->port == port && strcmp(c->ip, ip) == 0)
            by_addr = c;
    }
    return by_addr;
}

static int queue_pending(struct sip_conn *c, const char *data, size_t len)
{
    if (c->npending >= CONN_PENDING_MAX)
        return VP_E_UNAVAILABLE;
    struct pending_msg *m = vp_malloc(sizeof(*m) + len);
    m->next = NULL;
    m->len = len;
    memcpy(m->data, data, len);
    *c->pending_tail = m;
    c->pending_tail = &m->next;
    c->npending++;
    return 0;
}

static struct sip_conn *conn_open(struct sip_transport *t, const char *ip, int port, int *err)
{
    struct sockaddr_storage ss;
    if (sip_tp__addr(ip, port, &ss)) {
        *err = VP_E_INVALID_PARAMETER;
        return NULL;
    }
    if (t->nconns >= t->max_conns) {
        *err = VP_E_UNAVAILABLE;
        return NULL;
    }
    struct sip_conn *c = conn_new(t);
    snprintf(c->ip, sizeof(c->ip), "%s", ip);
    c->port = port;
    int rc = uv_tcp_connect(&c->creq, &c->tcp, (struct sockaddr *)&ss, connected_cb);
    if (rc) {
        conn_close(c, uv_strerror(rc));
        *err = VP_E_IO;
        return NULL;
    }
    uv_tcp_nodelay(&c->tcp, 1);
    return c;
}

int sip_tcp__send(struct sip_transport *t, const char *ip, int port, uint32_t conn_id,
                  const char *data, size_t len)
{
    struct sip_conn *c = find_conn(t, ip ? ip : "", port, conn_id);
    int err = 0;
    if (!c)
        c = conn_open(t, ip, port, &err);
    if (!c)
        return err;
    if (!c->connected)
        return queue_pending(c, data, len);
    return conn_write(c, data, len);
}

static void accept_cb(uv_stream_t *server, int status)
{
    struct sip_transport *t = server->data;
    if (status || t->closing)
        return;
    if (t->nconns >= t->max_conns) {
        uv_tcp_t *reject = vp_malloc(sizeof(*reject));
        uv_tcp_init(t->loop, reject);
        if (uv_accept(server, (uv_stream_t *)reject) == 0)
            log_warn("sip.tcp_refused", "refused a TCP connection: %u open", t->nconns);
        sip_tp__close_free((uv_handle_t *)reject);
        return;
    }
    struct sip_conn *c = conn_new(t);
    if (uv_accept(server, (uv_stream_t *)&c->tcp)) {
        conn_close(c, "accept failed");
        return;
    }
    c->connected = true;
    peer_name(c);
    uv_tcp_nodelay(&c->tcp, 1);
    uv_read_start((uv_stream_t *)&c->tcp, alloc_cb, read_cb);
}

uv_tcp_t *sip_tcp__listen(uv_loop_t *loop, const struct sockaddr *addr, int *err)
{
    uv_tcp_t *l = vp_malloc(sizeof(*l));
    uv_tcp_init(loop, l);
    *err = uv_tcp_bind(l, addr, 0);
    if (*err == 0)
        *err = uv_listen((uv_stream_t *)l, 128, accept_cb);
    if (*err == 0)
        return l;
    sip_tp__close_free((uv_handle_t *)l);
    return NULL;
}

void sip_tcp__start(struct sip_transport *t)
{
    t->listener->data = t;
}

void sip_tcp__sweep(struct sip_transport *t, uint64_t now_ms)
{
    uint64_t idle_ms = (uint64_t)t->idle_secs * 1000;
    struct sip_conn *c = t->conns;
    while (c) {
        struct sip_conn *next = c->next;
        if (now_ms - c->last_active > idle_ms)
            conn_close(c, "idle");
        c = next;
    }
}

void sip_tcp__close_all(struct sip_transport *t)
{
    while (t->conns)
        conn_close(t->conns, "transport closing");
}
