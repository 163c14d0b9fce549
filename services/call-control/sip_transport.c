#include "sip_transport_int.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "voepy/alloc.h"
#include "voepy/err.h"
#include "voepy/log.h"
#include "voepy/vtime.h"

#define SWEEP_MS 10000

const char *sip_proto_name(enum sip_proto p)
{
    return p == SIP_TCP ? "TCP" : "UDP";
}

int sip_proto_parse(const char *s, enum sip_proto *p)
{
    if (s && strcasecmp(s, "udp") == 0)
        *p = SIP_UDP;
    else if (s && strcasecmp(s, "tcp") == 0)
        *p = SIP_TCP;
    else
        return VP_E_INVALID_PARAMETER;
    return 0;
}

int sip_addr_name(const struct sockaddr *sa, char *ip, size_t n, int *port)
{
    int p = 0, err = 0;
    ip[0] = '\0';
    if (sa && sa->sa_family == AF_INET6) {
        uv_ip6_name((const struct sockaddr_in6 *)sa, ip, n);
        p = ntohs(((const struct sockaddr_in6 *)sa)->sin6_port);
    } else if (sa && sa->sa_family == AF_INET) {
        uv_ip4_name((const struct sockaddr_in *)sa, ip, n);
        p = ntohs(((const struct sockaddr_in *)sa)->sin_port);
    } else {
        err = VP_E_INVALID_PARAMETER;
    }
    if (port)
        *port = p;
    return err;
}

void sip_addr_resolved(int status, struct addrinfo *res, char *ip, size_t n)
{
    ip[0] = '\0';
    if (status == 0 && res)
        sip_addr_name(res->ai_addr, ip, n, NULL);
    uv_freeaddrinfo(res);
}

int sip_tp__addr(const char *ip, int port, struct sockaddr_storage *ss)
{
    memset(ss, 0, sizeof(*ss));
    if (!ip || port <= 0 || port > 65535)
        return VP_E_INVALID_PARAMETER;
    if (uv_ip4_addr(ip, port, (struct sockaddr_in *)ss) == 0)
        return 0;
    if (uv_ip6_addr(ip, port, (struct sockaddr_in6 *)ss) == 0)
        return 0;
    return VP_E_INVALID_PARAMETER;
}

void sip_tp__deliver(struct sip_transport *t, enum sip_proto proto, const char *data, size_t len,
                     const struct sockaddr *from, uint32_t conn_id)
{
    struct sip_rx rx = {
        .proto = proto, .data = data, .len = len, .conn_id = conn_id, .at_ms = vtime_now_ms()};
    sip_addr_name(from, rx.src_ip, sizeof(rx.src_ip), &rx.src_port);
    t->rx(&rx, t->arg);
}

static void udp_alloc_cb(uv_handle_t *h, size_t suggested, uv_buf_t *buf)
{
    struct sip_transport *t = h->data;
    (void)suggested;
    *buf = uv_buf_init(t->rbuf, sizeof(t->rbuf));
}

static void udp_recv_cb(uv_udp_t *u, ssize_t n, const uv_buf_t *buf, const struct sockaddr *from,
                        unsigned flags)
{
    struct sip_transport *t = u->data;
    (void)buf;
    if (n < 0) {
        log_warn("sip.udp_error", "UDP receive failed: %s", uv_strerror((int)n));
        return;
    }
    if (n == 0 || !from || t->closing)
        return;
    if (flags & UV_UDP_PARTIAL) {
        log_warn("sip.udp_truncated", "dropped a datagram larger than %d bytes", SIP_UDP_MAX);
        return;
    }
    sip_tp__deliver(t, SIP_UDP, t->rbuf, (size_t)n, from, 0);
}

/* A send that could not go out at once keeps its own copy until libuv is done. */
struct udp_send {
    uv_udp_send_t req;
    char data[];
};

static void udp_sent_cb(uv_udp_send_t *req, int status)
{
    if (status && status != UV_ECANCELED)
        log_warn("sip.udp_send_failed", "UDP send failed: %s", uv_strerror(status));
    free(req);
}

static int udp_send(struct sip_transport *t, const struct sockaddr *to, const char *data,
                    size_t len)
{
    uv_buf_t b = uv_buf_init((char *)data, (unsigned)len);
    int rc = uv_udp_try_send(t->udp, &b, 1, to);
    if (rc >= 0)
        return 0;
    if (rc != UV_EAGAIN) {
        log_warn("sip.udp_send_failed", "UDP send failed: %s", uv_strerror(rc));
        return VP_E_IO;
    }
    struct udp_send *s = vp_malloc(sizeof(*s) + len);
    memcpy(s->data, data, len);
    b = uv_buf_init(s->data, (unsigned)len);
    rc = uv_udp_send(&s->req, t->udp, &b, 1, to, udp_sent_cb);
    if (rc) {
        free(s);
        return VP_E_IO;
    }
    return 0;
}

int sip_transport_send(struct sip_transport *t, enum sip_proto proto, const char *ip, int port,
                       uint32_t conn_id, const char *data, size_t len)
{
    if (t->closing)
        return VP_E_CLOSED;
    if (proto == SIP_TCP)
        return sip_tcp__send(t, ip, port, conn_id, data, len);
    struct sockaddr_storage ss;
    if (sip_tp__addr(ip, port, &ss))
        return VP_E_INVALID_PARAMETER;
    if (len > SIP_UDP_MAX - 8 - 40)
        return VP_E_OVERFLOW;
    return udp_send(t, (const struct sockaddr *)&ss, data, len);
}

static void sweep_cb(uv_timer_t *timer)
{
    sip_tcp__sweep(timer->data, uv_now(timer->loop));
}

static int bound_port(uv_udp_t *u)
{
    struct sockaddr_storage ss;
    int n = sizeof(ss);
    if (uv_udp_getsockname(u, (struct sockaddr *)&ss, &n))
        return -1;
    if (ss.ss_family == AF_INET6)
        return ntohs(((struct sockaddr_in6 *)&ss)->sin6_port);
    return ntohs(((struct sockaddr_in *)&ss)->sin_port);
}

static void free_handle_cb(uv_handle_t *h)
{
    free(h);
}

void sip_tp__close_free(uv_handle_t *h)
{
    uv_close(h, free_handle_cb);
}

/* One attempt: UDP on port (0 = any), then TCP on the port UDP got. */
static int bind_once(struct sip_transport *t, int port)
{
    struct sockaddr_storage ss;
    if (sip_tp__addr(t->host, port ? port : 1, &ss))
        return UV_EINVAL;
    ((struct sockaddr_in *)&ss)->sin_port = htons((uint16_t)port); /* same offset for in6 */
    uv_udp_t *u = vp_malloc(sizeof(*u));
    uv_udp_init(t->loop, u);
    int rc = uv_udp_bind(u, (struct sockaddr *)&ss, 0);
    if (rc == 0) {
        int got = bound_port(u);
        sip_tp__addr(t->host, got, &ss);
        uv_tcp_t *l = sip_tcp__listen(t->loop, (struct sockaddr *)&ss, &rc);
        if (l) {
            t->udp = u;
            t->listener = l;
            t->port = got;
            return 0;
        }
    }
    sip_tp__close_free((uv_handle_t *)u);
    return rc;
}

/*
 * Bind UDP, then TCP on the same port. With port 0 the kernel picks the UDP port, which
 * may be taken for TCP: try again a few times.
 */
static int bind_both(struct sip_transport *t, int want_port)
{
    int rc = UV_EADDRINUSE;
    for (int attempt = 0; attempt < 16; attempt++) {
        rc = bind_once(t, want_port);
        if (rc == 0)
            return 0;
        if (want_port || rc == UV_EINVAL)
            break;
    }
    log_error("sip.bind_failed", "cannot bind %s:%d for UDP and TCP: %s", t->host, want_port,
              uv_strerror(rc));
    return VP_E_CONFIG;
}

int sip_transport_create(struct sip_transport **tp, uv_loop_t *loop,
                         const struct sip_transport_opts *o, sip_rx_cb *rx, sip_tp_error_cb *err_cb,
                         void *arg)
{
    struct sip_transport *t = VP_NEW(t);
    t->loop = loop;
    snprintf(t->host, sizeof(t->host), "%s", o->host ? o->host : "127.0.0.1");
    t->max_conns = o->max_conns ? o->max_conns : 1024;
    t->idle_secs = o->idle_secs ? o->idle_secs : 900;
    t->rx = rx;
    t->err_cb = err_cb;
    t->arg = arg;
    t->next_conn_id = 1;
    int err = bind_both(t, o->port);
    if (err) {
        free(t);
        return err;
    }
    t->udp->data = t;
    uv_udp_recv_start(t->udp, udp_alloc_cb, udp_recv_cb);
    sip_tcp__start(t);
    uv_timer_init(loop, &t->sweep);
    t->sweep.data = t;
    uv_timer_start(&t->sweep, sweep_cb, SWEEP_MS, SWEEP_MS);
    t->handles = 1; /* the sweep timer; connections add theirs */
    *tp = t;
    return 0;
}

int sip_transport_port(const struct sip_transport *t)
{
    return t->port;
}

const char *sip_transport_host(const struct sip_transport *t)
{
    return t->host;
}

void sip_tp__handle_closed(struct sip_transport *t)
{
    if (--t->handles > 0)
        return;
    void (*closed)(void *) = t->closed;
    void *arg = t->closed_arg;
    free(t);
    if (closed)
        closed(arg);
}

static void handle_closed_cb(uv_handle_t *h)
{
    sip_tp__handle_closed(h->data);
}

void sip_transport_close(struct sip_transport *t, void (*closed)(void *arg), void *arg)
{
    if (t->closing)
        return;
    t->closing = true;
    t->closed = closed;
    t->closed_arg = arg;
    sip_tcp__close_all(t);
    uv_udp_recv_stop(t->udp);
    sip_tp__close_free((uv_handle_t *)t->udp);
    sip_tp__close_free((uv_handle_t *)t->listener);
    uv_close((uv_handle_t *)&t->sweep, handle_closed_cb);
}
