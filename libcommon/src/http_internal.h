/*
 * http_internal.h - what http_server.c (listener, connections, timers, writing) and
 * http_request.c (the request object, its arena, response headers) share.
 *
 * Ownership: the server owns its connections (a list); a connection owns the request it
 * is parsing or that waits for its answer (conn->req). When the connection closes while
 * the handler holds the request, the request is detached (req->conn = NULL, gone) and
 * then belongs to the handler until http_respond() frees it.
 */
#ifndef VOEPY_HTTP_INTERNAL_H
#define VOEPY_HTTP_INTERNAL_H

#include <llhttp.h>
#include <netinet/in.h>
#include <stdint.h>

#include "voepy/buf.h"
#include "voepy/http_server.h"

/* At most this many headers per request; more is answered with 431. */
#define HTTP_MAX_HEADERS 100
/* Requests one connection handles per wake-up before it yields to the loop. */
#define HTTP_REQUESTS_PER_WAKEUP 16
/* One read; buffered input per connection is bounded by max_header_bytes + this. */
#define HTTP_READ_CHUNK 65536
/* Parsing of a connection's next request waits while more answer bytes are queued. */
#define HTTP_WRITE_QUEUE_LIMIT (1024 * 1024)

enum http_conn_state {
    CONN_IDLE,    /* between requests: idle timer (header timer on a fresh connection) */
    CONN_HEADERS, /* request begun, headers not complete: header timer */
    CONN_BODY,    /* headers complete, body not: body timer */
    CONN_HANDLER, /* complete request with the handler; parser paused, no timer */
    CONN_LINGER,  /* last answer queued, write side shut down; reading and discarding */
    CONN_CLOSED,  /* uv_close called; freed when both handles have closed */
};

/* Why llhttp_execute() returned HPE_PAUSED: set by our callbacks. */
enum http_pause { PAUSE_NONE, PAUSE_HEADERS, PAUSE_MESSAGE };

struct http_conn {
    uv_tcp_t tcp;
    uv_timer_t timer;
    uv_shutdown_t shutdown;
    struct http_server *srv;
    struct http_conn *prev, *next; /* the server's connection list */
    struct http_conn *kick_next;   /* the server's list of connections to process */
    bool kicked;
    llhttp_t parser;
    enum http_conn_state state;
    enum http_pause pause;
    int fail_status; /* status a callback asked for when it returned an error */
    struct buf in;   /* received, unparsed bytes start at in.data + in_off */
    size_t in_off;
    size_t header_bytes; /* bytes of the current request's head so far */
    unsigned nrequests;
    struct http_request *req; /* being parsed or with the handler; owned */
    bool processing;          /* inside conn_process(): do not re-enter */
    bool resumed;             /* parser resumed: execute once even without input */
    bool reading;
    bool write_blocked; /* parsing stopped until the write queue drains */
    int open_handles;
    char remote[INET6_ADDRSTRLEN];
};

struct http_header {
    const char *name;
    const char *value;
};

struct http_arena_chunk;

struct http_request {
    struct http_conn *conn; /* NULL once detached (client gone or server closed) */
    struct http_arena_chunk *arena;
    const char *method;
    const char *path;  /* raw path, in the arena */
    const char *query; /* raw query without '?', in the arena */
    struct buf url, field, value, body;
    struct http_header *headers;
    size_t nheaders;
    struct buf resp_headers; /* "Name: value\r\n" lines added by the handler */
    void *data;
    uint64_t start_ns;
    bool gone, keep_alive, close, head, http10;
    char remote[INET6_ADDRSTRLEN];
};

/* How the response speaks about the connection. */
enum http_conn_header { HTTP_CONN_NONE, HTTP_CONN_CLOSE, HTTP_CONN_KEEP_ALIVE };

/*
 * http_server.c: a connection's transport, for the parser side. All may be called from
 * inside http__conn_process(); none frees the connection (that happens in uv_close's
 * callback), so the caller re-checks c->state afterwards.
 */
const struct http_server_opts *http__conn_opts(const struct http_conn *c);
/* The one place the state changes (and the state's timer is armed). */
void http__conn_set_state(struct http_conn *c, enum http_conn_state to);
/* Answer with an error status of the server's own (400, 408, 413, 431), then close. */
void http__conn_fail(struct http_conn *c, int status);
/* Queue b's bytes (taken over) for writing. */
void http__conn_write(struct http_conn *c, struct buf *b);
/* Continue the connection from the loop (an idle handle), not the caller's stack. */
void http__conn_kick(struct http_conn *c);
void http__conn_update_reading(struct http_conn *c);
/* Hand the complete request to the server's handler. */
void http__conn_dispatch(struct http_conn *c);

/* http_request.c: from bytes to requests, and the request object. */
extern const llhttp_settings_t http__settings;
/* Parse what conn->in holds, dispatching complete requests (bounded per call). */
void http__conn_process(struct http_conn *c);
void http__request_free(struct http_request *r);
/* Status line and headers (Date, Content-Length, Connection, the handler's); r may be NULL. */
void http__render_head(struct buf *out, const struct http_request *r, int status,
                       const char *content_type, size_t len, enum http_conn_header conn);

#endif
