/*
 * reply.c - answering a request: JSON bodies, error envelopes, SQL results to HTTP, and
 * the one log line and metrics per request.
 *
 * Every request ends here exactly once. reply_send() is the single exit: it logs, counts,
 * releases the parsed body and hands the answer to the http server, which then frees the
 * request with its arena (r included): nothing may touch r afterwards.
 */
#include "api.h"

#include <inttypes.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "voepy/http_server.h"
#include "voepy/log.h"
#include "voepy/metrics.h"

static const char *route_name(const struct api_req *r)
{
    return r->match.route ? r->match.route->pattern : "unmatched";
}

static void count_request(const struct api_req *r, int status, double seconds)
{
    char labels[256];
    snprintf(labels, sizeof(labels), "method=\"%s\",route=\"%s\",status=\"%d\"",
             r->match.route ? r->match.route->method : "other", route_name(r), status);
    metric_inc(metrics_counter("voepy_api_requests_total", "API requests answered.", labels));
    snprintf(labels, sizeof(labels), "method=\"%s\",route=\"%s\"",
             r->match.route ? r->match.route->method : "other", route_name(r));
    metric_observe(metrics_histogram("voepy_api_request_duration_seconds",
                                     "Time from request to answer.", labels,
                                     metrics_latency_buckets, metrics_latency_nbuckets),
                   seconds);
}

static void log_request(const struct api_req *r, int status, double seconds, const char *error)
{
    enum vlog_level lvl = status >= 500 ? VLOG_WARN : VLOG_INFO;
    if (!vlog_enabled(lvl))
        return; /* no printf (a float among them) per request for a line nobody sees */
    char st[8], ms[32];
    snprintf(st, sizeof(st), "%d", status);
    snprintf(ms, sizeof(ms), "%.3f", seconds * 1000.0);
    vlog_kv(lvl, "api.request", "request answered", "method", r->method, "route", route_name(r),
            "status", st, "duration_ms", ms, "tenant_id", r->tenant_id, "error", error, NULL);
}

static void finish(struct api_req *r, int status, const char *error)
{
    double seconds = (double)(uv_hrtime() - r->start_ns) / 1e9;
    log_request(r, status, seconds, error);
    count_request(r, status, seconds);
    if (r->body) {
        json_decref(r->body);
        r->body = NULL;
    }
}

void reply_send(struct api_req *r, int status, const char *body, size_t len)
{
    finish(r, status, NULL);
    if (status == 204)
        http_respond(r->http, 204, NULL, NULL, 0);
    else
        http_respond(r->http, status, "application/json", body, len);
}

void reply_send_media(struct api_req *r, int status, const char *content_type, const char *body,
                      size_t len)
{
    finish(r, status, NULL);
    http_respond(r->http, status, content_type, body, len);
}

void reply_error(struct api_req *r, const struct vp_error *e)
{
    char *body = vp_error_json(e);
    int status = vp_err_http_status(e->err);
    finish(r, status, vp_err_code(e->err));
    http_respond(r->http, status, "application/json", body, strlen(body));
    free(body);
}

int reply_fail(struct api_req *r, int err, const char *field, const char *fmt, ...)
{
    struct vp_error e;
    vp_error_set(&e, err, field, NULL);
    if (fmt) {
        va_list ap;
        va_start(ap, fmt);
        vsnprintf(e.message, sizeof(e.message), fmt, ap);
        va_end(ap);
    }
    reply_error(r, &e);
    return err;
}

void reply_header(struct api_req *r, const char *name, const char *value)
{
    http_response_header(r->http, name, value);
}

/*
 * The name sql is prepared under: "gw_" and a 64-bit FNV-1a hash of the text, written
 * into buf. Every query of the gateway is one of a fixed set of literal texts, so each is
 * registered once (pg_prepare is a no-op for a known name with the same text) and every
 * connection parses and plans it once instead of on every request. A text built at run
 * time must not come here: each distinct one would become a statement. On a hash
 * collision (another text under the name) sql itself is returned and runs unprepared.
 */
static const char *prepared(struct pg_pool *pg, const char *sql, char *buf, size_t len)
{
    uint64_t h = 14695981039346656037ULL;
    for (const unsigned char *c = (const unsigned char *)sql; *c; c++)
        h = (h ^ *c) * 1099511628211ULL;
    snprintf(buf, len, "gw_%016" PRIx64, h);
    return pg_prepare(pg, buf, sql) == 0 ? buf : sql;
}

int reply_exec(struct api *api, const char *sql, int nparams, const char *const *params,
               pg_result_cb *cb, void *arg)
{
    char name[32];
    return pg_exec(api->pg, prepared(api->pg, sql, name, sizeof(name)), nparams, params, cb, arg);
}

void reply_query(struct api_req *r, const char *sql, int nparams, const char *const *params,
                 pg_result_cb *cb)
{
    int err = reply_exec(r->api, sql, nparams, params, cb ? cb : reply_pg_cb, r);
    if (err) {
        log_warn("api.db_refused", "database queue refused a query: %s", vp_err_message(err));
        reply_fail(r, VP_E_UNAVAILABLE, NULL, "The database is busy; retry shortly.");
    }
}

/* A database failure that is not a domain error: log the server's words, answer vaguely. */
static void reply_db_error(struct api_req *r, const struct pg_result *res)
{
    log_error("api.db_error", "%s %s: SQLSTATE %s: %s", r->method, route_name(r),
              pg_result_sqlstate(res) ? pg_result_sqlstate(res) : "?",
              pg_result_message(res) ? pg_result_message(res) : "?");
    reply_fail(r, VP_E_INTERNAL, NULL, NULL);
}

bool reply_pg_ok(struct api_req *r, int status, const struct pg_result *res)
{
    if (status == VP_E_DB) {
        struct vp_error e;
        if (pg_result_error(res, &e) == VP_E_DB)
            reply_db_error(r, res);
        else
            reply_error(r, &e);
        return false;
    }
    if (status != 0) {
        log_warn("api.db_unavailable", "%s %s: %s", r->method, route_name(r),
                 vp_err_message(status));
        reply_fail(r, VP_E_UNAVAILABLE, NULL,
                   "The database did not answer; retry (with the same Idempotency-Key for "
                   "writes).");
        return false;
    }
    if (pg_ntuples(res) < 1 || !pg_get(res, 0, "http_status")) {
        log_error("api.db_no_row", "%s %s: the SQL function returned no answer", r->method,
                  route_name(r));
        reply_fail(r, VP_E_INTERNAL, NULL, NULL);
        return false;
    }
    return true;
}

bool reply_pg_replayed(const struct pg_result *res)
{
    const char *v = pg_get(res, 0, "replayed");
    return v && strcmp(v, "t") == 0;
}

void reply_pg_row(struct api_req *r, const struct pg_result *res)
{
    int status = atoi(pg_get(res, 0, "http_status"));
    const char *body = pg_get(res, 0, "http_body");
    if (reply_pg_replayed(res))
        reply_header(r, "Idempotent-Replayed", "true");
    if (status < 200 || status > 599) {
        log_error("api.db_bad_status", "%s %s: status %d from SQL", r->method, route_name(r),
                  status);
        reply_fail(r, VP_E_INTERNAL, NULL, NULL);
        return;
    }
    reply_send(r, status, body ? body : "", body ? strlen(body) : 0);
}

void reply_pg_cb(int status, const struct pg_result *res, void *arg)
{
    struct api_req *r = arg;
    if (reply_pg_ok(r, status, res))
        reply_pg_row(r, res);
}
