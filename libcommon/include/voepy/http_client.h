/*
 * http_client.h - an asynchronous HTTP client on libcurl's multi interface and libuv.
 *
 * Connections are reused per host (keep-alive); redirects are never followed; only
 * http and https are allowed; no proxy from the environment is used. The callback runs
 * exactly once per request, on the loop thread, also when the client is closed with
 * requests outstanding (status VP_E_CANCELED).
 */
#ifndef VOEPY_HTTP_CLIENT_H
#define VOEPY_HTTP_CLIENT_H

#include <stddef.h>
#include <stdint.h>
#include <uv.h>

struct httpc;

struct httpc_opts {
    unsigned max_total_connections; /* default 256 */
    unsigned max_host_connections;  /* default 16 */
    const char *user_agent;         /* default "voepy/<version>" */
};

struct httpc_request {
    const char *method; /* "POST"; NULL = GET, or POST when body is set */
    const char *url;
    const char *const *headers; /* "Name: value" strings, NULL-terminated; may be NULL */
    const char *body;
    size_t body_len;
    unsigned timeout_ms;         /* whole request; default 15000 */
    unsigned connect_timeout_ms; /* default 5000 */
    size_t max_response_bytes;   /* kept of the body; the rest is read and dropped;
                                    0 = 1 MiB */
    /*
     * Optional pin: connect to this numeric address instead of resolving the URL's host
     * (URL safety: connect to exactly the address that was checked). NULL = resolve.
     * An IPv4 or IPv6 literal without brackets; the URL's host stays the Host header.
     */
    const char *connect_ip;
};

struct httpc_response {
    int status;       /* 0 or a VP_E_* transport error (VP_E_TIMEOUT, VP_E_IO, ...) */
    long http_status; /* 0 when no response arrived */
    const char *body; /* NUL-terminated, truncated to max_response_bytes */
    size_t body_len;
    const char *error; /* curl's message when status != 0 */
    double total_ms;
    const char *const *headers; /* response headers "Name: value", NULL-terminated */
};

/* res and everything it points to are valid only during the callback. */
typedef void(httpc_cb)(const struct httpc_response *res, void *arg);

int httpc_create(struct httpc **cp, uv_loop_t *loop, const struct httpc_opts *opts);
/*
 * Returns 0 (cb will run) or a VP_E_* error (cb will not run): VP_E_INVALID_PARAMETER for
 * a bad URL, a scheme other than http/https, a bad method, a header with CR/LF or no name,
 * a non-numeric connect_ip; VP_E_CLOSED after httpc_close. req is copied; it need not
 * outlive the call. May be called from a callback.
 */
int httpc_send(struct httpc *c, const struct httpc_request *req, httpc_cb *cb, void *arg);
/* Case-insensitive header lookup in a response; NULL when absent. */
const char *httpc_response_header(const struct httpc_response *res, const char *name);
unsigned httpc_inflight(const struct httpc *c);
/*
 * Cancel outstanding requests (their callbacks run), free, then closed() runs. Call once;
 * may be called from a request callback. The callbacks run on a later loop turn, never
 * inside httpc_close.
 */
void httpc_close(struct httpc *c, void (*closed)(void *arg), void *arg);

#endif
