/*
 * ops.c - /healthz, /readyz and /metrics on the service's operations port.
 *
 * Every answer is computed on the spot from the loop thread: readiness checks are plain
 * function calls that must not block (they report state the client wrappers already
 * track, e.g. "the pool has a live connection").
 */
#include "voepy/ops.h"
#include "voepy/alloc.h"
#include "voepy/buf.h"
#include "voepy/err.h"
#include "voepy/http_server.h"
#include "voepy/lifecycle.h"
#include "voepy/log.h"
#include "voepy/metrics.h"

#include <stdlib.h>
#include <string.h>

struct ops_check {
    char *name;
    ops_check_fn *fn;
    void *arg;
};

struct ops {
    struct http_server *srv;
    struct lifecycle *lc; /* may be NULL */
    struct ops_check *checks;
    size_t nchecks;
    void (*closed)(void *arg);
    void *closed_arg;
};

static void respond_json(struct http_request *r, int status, const char *json)
{
    http_respond(r, status, "application/json", json, strlen(json));
}

static const char *lifecycle_not_ready(const struct ops *o)
{
    if (!o->lc)
        return NULL;
    switch (lifecycle_state(o->lc)) {
    case LIFECYCLE_RUNNING:
        return NULL;
    case LIFECYCLE_DRAINING:
        return "{\"status\":\"draining\"}";
    case LIFECYCLE_STOPPING:
        break;
    }
    return "{\"status\":\"stopping\"}";
}

/* 200 when every check passes; else 503 naming the failing checks in registration order. */
static void serve_readyz(struct ops *o, struct http_request *r)
{
    const char *state = lifecycle_not_ready(o);
    if (state) {
        respond_json(r, 503, state);
        return;
    }
    struct buf b = BUF_INIT;
    size_t failing = 0;
    buf_puts(&b, "{\"status\":\"not_ready\",\"failing\":[");
    for (size_t i = 0; i < o->nchecks; i++) {
        if (o->checks[i].fn(o->checks[i].arg))
            continue;
        buf_puts(&b, failing++ ? ",\"" : "\"");
        buf_json_escape(&b, o->checks[i].name, strlen(o->checks[i].name));
        buf_putc(&b, '"');
    }
    buf_puts(&b, "]}");
    if (failing)
        respond_json(r, 503, b.data);
    else
        respond_json(r, 200, "{\"status\":\"ready\"}");
    buf_free(&b);
}

static void serve_metrics(struct http_request *r)
{
    struct buf b = BUF_INIT;
    metrics_render(&b);
    http_respond(r, 200, "text/plain; version=0.0.4", b.data ? b.data : "", b.len);
    buf_free(&b);
}

static void reject(struct http_request *r, int err)
{
    struct vp_error e;
    vp_error_set(&e, err, NULL, NULL);
    if (err == VP_E_METHOD_NOT_ALLOWED)
        http_response_header(r, "Allow", "GET, HEAD");
    http_respond_error(r, &e);
}

/* Handler of the ops server: three read-only resources. HEAD is GET without a body. */
static void ops_handler_cb(struct http_request *r, void *arg)
{
    struct ops *o = arg;
    const char *path = http_request_path(r);
    const char *method = http_request_method(r);
    bool known = strcmp(path, "/healthz") == 0 || strcmp(path, "/readyz") == 0 ||
                 strcmp(path, "/metrics") == 0;
    if (!known)
        reject(r, VP_E_NOT_FOUND);
    else if (strcmp(method, "GET") != 0 && strcmp(method, "HEAD") != 0)
        reject(r, VP_E_METHOD_NOT_ALLOWED);
    else if (strcmp(path, "/healthz") == 0)
        respond_json(r, 200, "{\"status\":\"ok\"}");
    else if (strcmp(path, "/readyz") == 0)
        serve_readyz(o, r);
    else
        serve_metrics(r);
}

static void ops_free(struct ops *o)
{
    for (size_t i = 0; i < o->nchecks; i++)
        free(o->checks[i].name);
    free(o->checks);
    free(o);
}

int ops_create(struct ops **op, uv_loop_t *loop, const char *host, int port, struct lifecycle *lc)
{
    struct ops *o = VP_NEW(o);
    /* Probes and scrapers send small requests; keep what one may cost small too. */
    struct http_server_opts so = {
        .host = host,
        .port = port,
        .max_header_bytes = 8192,
        .max_body_bytes = 1024,
        .max_connections = 256,
        .name = "ops",
    };
    o->lc = lc;
    int err = http_server_create(&o->srv, loop, &so, ops_handler_cb, o);
    if (err < 0)
        goto out;
    *op = o;
out:
    if (err < 0)
        ops_free(o);
    return err;
}

int ops_port(const struct ops *o)
{
    return http_server_port(o->srv);
}

void ops_add_check(struct ops *o, const char *name, ops_check_fn *fn, void *arg)
{
    o->checks = vp_realloc(o->checks, (o->nchecks + 1) * sizeof(*o->checks));
    o->checks[o->nchecks].name = vp_strdup(name);
    o->checks[o->nchecks].fn = fn;
    o->checks[o->nchecks].arg = arg;
    o->nchecks++;
}

static void server_closed_cb(void *arg)
{
    struct ops *o = arg;
    void (*closed)(void *) = o->closed;
    void *closed_arg = o->closed_arg;
    ops_free(o);
    if (closed)
        closed(closed_arg);
}

/* o may be NULL (a service that failed before its ops server existed). */
void ops_close(struct ops *o, void (*closed)(void *arg), void *arg)
{
    if (!o) {
        if (closed)
            closed(arg);
        return;
    }
    o->closed = closed;
    o->closed_arg = arg;
    http_server_close(o->srv, server_closed_cb, o);
}
