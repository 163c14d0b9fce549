/*
 * http_server.h - an HTTP/1.1 server on llhttp and libuv.
 *
 * Keep-alive and pipelining: requests on one connection are handled one at a time and
 * answered in order (the parser pauses after a complete request until it is answered).
 * Limits: header bytes (431), body bytes (413), a header timeout and a body timeout
 * (408), an idle keep-alive timeout (silent close) and a maximum number of connections.
 * Malformed requests get 400 and the connection is closed. Bodies with
 * Transfer-Encoding: chunked are accepted and reassembled.
 *
 * The handler is called once per request on the loop thread and may answer at once or
 * later (after a database round trip): every request is answered exactly once with
 * http_respond(). The request stays valid until then even if the client goes away (the
 * answer is then dropped); http_request_gone() tells a handler that cares.
 *
 * Memory: the request, its strings and everything from http_request_alloc() are freed
 * after http_respond() returns.
 */
#ifndef VOEPY_HTTP_SERVER_H
#define VOEPY_HTTP_SERVER_H

#include <stdbool.h>
#include <stddef.h>
#include <uv.h>

struct http_server;
struct http_request;

typedef void(http_handler_fn)(struct http_request *req, void *arg);

struct http_server_opts {
    const char *host;               /* bind address, default "127.0.0.1" */
    int port;                       /* 0 picks a free port: see http_server_port() */
    size_t max_header_bytes;        /* default 16 KiB */
    size_t max_body_bytes;          /* default 1 MiB */
    unsigned header_timeout_ms;     /* first byte to end of headers, default 10 s */
    unsigned body_timeout_ms;       /* end of headers to end of body, default 30 s */
    unsigned idle_timeout_ms;       /* keep-alive idle, default 60 s */
    unsigned max_connections;       /* default 10000; further accepts are closed */
    unsigned max_requests_per_conn; /* 0 = unlimited */
    const char *name;               /* metrics label server="..." (default "http") */
};

int http_server_create(struct http_server **sp, uv_loop_t *loop,
                       const struct http_server_opts *opts, http_handler_fn *handler, void *arg);
/* The bound port (useful after asking for port 0). */
int http_server_port(const struct http_server *s);
/* Stop accepting; close idle connections; call done when the last connection closed. */
void http_server_drain(struct http_server *s, void (*done)(void *arg), void *arg);
/* Close the listener and every connection; the server is freed, then closed() runs. */
void http_server_close(struct http_server *s, void (*closed)(void *arg), void *arg);

/* Request accessors: strings are NUL-terminated and live as long as the request. */
const char *http_request_method(const struct http_request *r); /* "GET" */
const char *http_request_path(const struct http_request *r);   /* raw (not decoded), no query */
const char *http_request_query(const struct http_request *r);  /* raw, without '?'; "" if none */
/* Case-insensitive; NULL when absent. Repeated headers are joined with ", ". */
const char *http_request_header(const struct http_request *r, const char *name);
const char *http_request_body(const struct http_request *r, size_t *len);
/* A query parameter, percent- and '+'-decoded; NULL when absent. */
const char *http_request_query_param(struct http_request *r, const char *name);
const char *http_request_remote_addr(const struct http_request *r);
/* Memory freed with the request. */
void *http_request_alloc(struct http_request *r, size_t n);
char *http_request_strdup(struct http_request *r, const char *s);
/* Handler's own per-request pointer. */
void http_request_set_data(struct http_request *r, void *data);
void *http_request_data(const struct http_request *r);
/* True when the client closed the connection while the request waited for its answer. */
bool http_request_gone(const struct http_request *r);

/* Add a response header (before http_respond). */
void http_response_header(struct http_request *r, const char *name, const char *value);
/* Answer the request; body is copied. Content-Length and Date are added. */
void http_respond(struct http_request *r, int status, const char *content_type, const char *body,
                  size_t len);
/* Answer with the JSON error envelope for e (status from the error table). */
struct vp_error;
void http_respond_error(struct http_request *r, const struct vp_error *e);

/* The reason phrase for a status ("Not Found"). */
const char *http_status_text(int status);

#endif
