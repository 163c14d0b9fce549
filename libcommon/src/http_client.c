/*
 * http_client.c - asynchronous HTTP client: libcurl's multi_socket interface on libuv.
 *
 * How it is wired: curl tells us which sockets to watch (socket_cb) and when to wake it
 * (timer_cb); each watched socket gets one uv_poll_t (struct sock), the client has one
 * uv_timer_t. Both call curl_multi_socket_action() and then collect finished transfers
 * (check_done), whose callbacks run there, outside any curl callback, so a callback may
 * call httpc_send() or httpc_close().
 *
 * Lifetime: struct httpc embeds the timer and each struct sock embeds its poll, so both
 * are freed only from uv_close callbacks. The client counts its open handles and is freed
 * (then closed() runs) when the last one has closed. When curl stops watching a socket
 * (CURL_POLL_REMOVE, which curl sends before it closes the fd) the poll is closed at once,
 * so no poll ever watches a closed or reused descriptor.
 *
 * Closing: httpc_close() stops every poll, marks the client HTTPC_CLOSING and re-arms the
 * timer for the next loop turn; that turn (shutdown_cb) completes every outstanding
 * transfer with VP_E_CANCELED, frees curl and closes the handles. Deferring keeps
 * cancellation callbacks out of the caller's stack (httpc_close may be called from a
 * request callback).
 *
 * Address pin (connect_ip): done with CURLOPT_CONNECT_TO "::<ip>:" on the one easy handle,
 * not CURLOPT_RESOLVE, whose entries land in the multi handle's shared DNS cache and would
 * redirect later unpinned requests to the same host name. CONNECT_TO is per transfer,
 * a numeric address is never looked up, and curl's connection cache only reuses a
 * connection for a transfer with the same connect-to target. Host header, TLS SNI and
 * certificate checks still use the URL's host.
 */
#include "voepy/http_client.h"
#include "voepy/alloc.h"
#include "voepy/buf.h"
#include "voepy/err.h"
#include "voepy/log.h"

#include <arpa/inet.h>
#include <assert.h>
#include <curl/curl.h>
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#define HTTPC_USER_AGENT     "voepy/0.1.0"
#define HTTPC_TOTAL_CONNS    256
#define HTTPC_HOST_CONNS     16
#define HTTPC_TIMEOUT_MS     15000
#define HTTPC_CONNECT_MS     5000
#define HTTPC_MAX_BODY       (1024 * 1024)
#define HTTPC_MAX_HEADERS    (64 * 1024) /* bytes of response headers kept per response */
#define HTTPC_MAX_METHOD_LEN 32

/*
 * HTTPC_OPEN -> HTTPC_CLOSING (httpc_close) -> HTTPC_CLOSED (shutdown_cb: transfers
 * canceled, curl freed, handles closing; freed when the last handle has closed).
 */
enum httpc_state { HTTPC_OPEN, HTTPC_CLOSING, HTTPC_CLOSED };

/* One socket curl asked us to watch; freed in its poll's close callback. */
struct sock {
    uv_poll_t poll;
    curl_socket_t fd;
    struct httpc *c;
    struct sock *prev, *next;
};

/* One accepted request, from httpc_send until its callback has returned. */
struct xfer {
    struct httpc *c;
    CURL *easy;
    CURLU *url;                 /* the parsed URL that was checked, used by curl as is */
    struct curl_slist *headers; /* request headers */
    struct curl_slist *pin;     /* CONNECT_TO entry, NULL without connect_ip */
    struct buf body;            /* kept response body; limit = max_response_bytes */
    struct buf hdrs;            /* response headers, "Name: value\0" each */
    size_t n_hdrs;
    size_t max_body;
    uint64_t start_ns;
    httpc_cb *cb;
    void *arg;
    struct xfer *prev, *next;
    char errbuf[CURL_ERROR_SIZE];
};

struct httpc {
    uv_loop_t *loop;
    CURLM *multi;
    uv_timer_t timer; /* curl's timeout timer; runs shutdown_cb once closing */
    enum httpc_state state;
    struct xfer *xfers;
    struct sock *socks;
    unsigned inflight;
    unsigned handles; /* uv handles not yet closed (timer + polls) */
    char *user_agent;
    void (*closed)(void *arg);
    void *closed_arg;
};

static const char *state_name(enum httpc_state s)
{
    switch (s) {
    case HTTPC_OPEN:
        return "open";
    case HTTPC_CLOSING:
        return "closing";
    case HTTPC_CLOSED:
        return "closed";
    }
    return "?";
}

static void set_state(struct httpc *c, enum httpc_state s)
{
    /* The only legal moves are one step forward. */
    assert((unsigned)s == (unsigned)c->state + 1);
    log_debug("httpc.state", "%s -> %s", state_name(c->state), state_name(s));
    c->state = s;
}

/* ---- handle bookkeeping ---- */

static void client_free(struct httpc *c)
{
    void (*closed)(void *) = c->closed;
    void *arg = c->closed_arg;
    free(c->user_agent);
    free(c);
    curl_global_cleanup();
    if (closed)
        closed(arg);
}

/* Called whenever one of the client's uv handles has closed. */
static void handle_gone(struct httpc *c)
{
    assert(c->handles > 0);
    c->handles--;
    if (c->handles == 0 && c->state == HTTPC_CLOSED)
        client_free(c);
}

static void timer_closed_cb(uv_handle_t *h)
{
    handle_gone(h->data);
}

static void sock_closed_cb(uv_handle_t *h)
{
    struct sock *k = h->data;
    struct httpc *c = k->c;
    free(k);
    handle_gone(c);
}

/* Unlink and close; the memory goes in sock_closed_cb. uv_close stops the poll now. */
static void sock_close(struct sock *k)
{
    struct httpc *c = k->c;
    if (k->prev)
        k->prev->next = k->next;
    else
        c->socks = k->next;
    if (k->next)
        k->next->prev = k->prev;
    uv_close((uv_handle_t *)&k->poll, sock_closed_cb);
}

static struct sock *sock_find(struct httpc *c, curl_socket_t fd)
{
    for (struct sock *k = c->socks; k; k = k->next)
        if (k->fd == fd)
            return k;
    return NULL;
}

static struct sock *sock_open(struct httpc *c, curl_socket_t fd)
{
    struct sock *k = VP_NEW(k);
    struct sock *stale = sock_find(c, fd);
    if (stale) {
        /* A poll left on a descriptor curl closed without telling us: drop it. */
        sock_close(stale);
    }
    int rc = uv_poll_init_socket(c->loop, &k->poll, fd);
    if (rc != 0) {
        log_error("httpc.poll", "uv_poll_init_socket(%d): %s", (int)fd, uv_strerror(rc));
        free(k);
        return NULL;
    }
    k->poll.data = k;
    k->fd = fd;
    k->c = c;
    k->next = c->socks;
    if (c->socks)
        c->socks->prev = k;
    c->socks = k;
    c->handles++;
    return k;
}

/* ---- completion ---- */

static int map_curl_error(CURLcode code)
{
    switch (code) {
    case CURLE_OK:
        return 0;
    case CURLE_OPERATION_TIMEDOUT:
        return VP_E_TIMEOUT;
    case CURLE_UNSUPPORTED_PROTOCOL:
    case CURLE_URL_MALFORMAT:
    case CURLE_BAD_FUNCTION_ARGUMENT:
        return VP_E_INVALID_PARAMETER;
    default:
        /* resolve, connect, send, receive, TLS and protocol failures */
        return VP_E_IO;
    }
}

/* Point an array at the collected "Name: value\0" strings; caller frees the array. */
static const char **headers_array(const struct xfer *x)
{
    const char **v = vp_calloc(x->n_hdrs + 1, sizeof(*v));
    const char *p = x->hdrs.data;
    for (size_t i = 0; i < x->n_hdrs; i++) {
        v[i] = p;
        p += strlen(p) + 1;
    }
    return v;
}

static void xfer_free(struct xfer *x)
{
    curl_easy_cleanup(x->easy);
    curl_url_cleanup(x->url);
    curl_slist_free_all(x->headers);
    curl_slist_free_all(x->pin);
    buf_free(&x->body);
    buf_free(&x->hdrs);
    free(x);
}

static void xfer_report(struct xfer *x, int status, CURLcode code)
{
    struct httpc_response res = {0};
    const char **hdrs = headers_array(x);
    res.status = status;
    curl_easy_getinfo(x->easy, CURLINFO_RESPONSE_CODE, &res.http_status);
    res.body = x->body.data ? x->body.data : "";
    res.body_len = x->body.len;
    res.total_ms = (double)(uv_hrtime() - x->start_ns) / 1e6;
    res.headers = hdrs;
    if (status == VP_E_CANCELED)
        res.error = "canceled: the client was closed";
    else if (status != 0)
        res.error = x->errbuf[0] ? x->errbuf : curl_easy_strerror(code);
    x->cb(&res, x->arg);
    free(hdrs);
}

/*
 * Take x out of the client and curl, run its callback once, free it. status overrides
 * curl's result when nonzero (cancellation).
 */
static void xfer_finish(struct xfer *x, int status, CURLcode code)
{
    struct httpc *c = x->c;
    if (x->prev)
        x->prev->next = x->next;
    else
        c->xfers = x->next;
    if (x->next)
        x->next->prev = x->prev;
    c->inflight--;
    curl_multi_remove_handle(c->multi, x->easy);
    xfer_report(x, status ? status : map_curl_error(code), code);
    xfer_free(x);
}

/* Collect finished transfers; stops when a callback closed the client. */
static void check_done(struct httpc *c)
{
    CURLMsg *msg;
    int left;
    while (c->state == HTTPC_OPEN && (msg = curl_multi_info_read(c->multi, &left))) {
        if (msg->msg != CURLMSG_DONE)
            continue;
        char *priv = NULL;
        CURLcode code = msg->data.result; /* msg dies with curl_multi_remove_handle */
        curl_easy_getinfo(msg->easy_handle, CURLINFO_PRIVATE, &priv);
        xfer_finish((struct xfer *)priv, 0, code);
    }
}

static void drive(struct httpc *c, curl_socket_t fd, int flags)
{
    int running = 0;
    CURLMcode mc = curl_multi_socket_action(c->multi, fd, flags, &running);
    if (mc != CURLM_OK)
        log_error("httpc.multi", "curl_multi_socket_action: %s", curl_multi_strerror(mc));
    check_done(c);
}

/* ---- curl <-> libuv ---- */

static void poll_cb(uv_poll_t *p, int status, int events)
{
    struct sock *k = p->data;
    int flags = 0;
    if (k->c->state != HTTPC_OPEN)
        return;
    if (status < 0)
        flags = CURL_CSELECT_ERR;
    if (events & UV_READABLE)
        flags |= CURL_CSELECT_IN;
    if (events & UV_WRITABLE)
        flags |= CURL_CSELECT_OUT;
    drive(k->c, k->fd, flags);
}

/*
 * curl's socket callback. Never returns -1: in curl 7.88 that marks the whole multi
 * handle dead. A socket we cannot watch is logged; its transfer then ends by timeout.
 */
static int socket_cb(CURL *easy, curl_socket_t fd, int what, void *userp, void *socketp)
{
    struct httpc *c = userp;
    struct sock *k = socketp;
    (void)easy;
    if (what == CURL_POLL_REMOVE) {
        if (k)
            sock_close(k); /* curl closes fd after this returns */
        return 0;
    }
    if (c->state != HTTPC_OPEN)
        return 0; /* nothing is watched any more; shutdown_cb closes every poll */
    if (!k) {
        k = sock_open(c, fd);
        if (!k)
            return 0;
        curl_multi_assign(c->multi, fd, k);
    }
    int events = 0;
    if (what & CURL_POLL_IN)
        events |= UV_READABLE;
    if (what & CURL_POLL_OUT)
        events |= UV_WRITABLE;
    uv_poll_start(&k->poll, events, poll_cb);
    return 0;
}

static void timer_cb(uv_timer_t *t)
{
    drive(t->data, CURL_SOCKET_TIMEOUT, 0);
}

/* curl's timer callback; ignored once closing, when the timer belongs to shutdown_cb. */
static int timer_fn(CURLM *multi, long timeout_ms, void *userp)
{
    struct httpc *c = userp;
    (void)multi;
    if (c->state != HTTPC_OPEN)
        return 0;
    if (timeout_ms < 0)
        uv_timer_stop(&c->timer);
    else
        uv_timer_start(&c->timer, timer_cb, (uint64_t)timeout_ms, 0);
    return 0;
}

/* ---- response data ---- */

/* Keep up to max_body bytes; read and drop the rest so the connection stays usable. */
static size_t body_cb(char *p, size_t size, size_t n, void *userp)
{
    struct xfer *x = userp;
    size_t len = size * n;
    size_t room = x->max_body - x->body.len;
    buf_append(&x->body, p, len < room ? len : room);
    return len;
}

static bool is_space(char ch)
{
    return ch == '\r' || ch == '\n' || ch == ' ' || ch == '\t';
}

/*
 * Collect "Name: value" lines of the final response: a status line (also of a 1xx
 * interim response) starts over. Folded continuation lines, lines with a NUL and lines
 * past HTTPC_MAX_HEADERS bytes are dropped.
 */
static size_t header_cb(char *p, size_t size, size_t n, void *userp)
{
    struct xfer *x = userp;
    size_t len = size * n, keep = len;
    if (len >= 5 && memcmp(p, "HTTP/", 5) == 0) {
        buf_reset(&x->hdrs);
        x->n_hdrs = 0;
        return len;
    }
    while (keep && is_space(p[keep - 1]))
        keep--;
    if (keep == 0 || p[0] == ' ' || p[0] == '\t' || p[0] == ':' || !memchr(p, ':', keep) ||
        memchr(p, '\0', keep) || x->hdrs.len + keep + 1 > HTTPC_MAX_HEADERS)
        return len;
    buf_append(&x->hdrs, p, keep);
    buf_append(&x->hdrs, "", 1); /* the separator, counted in len */
    x->n_hdrs++;
    return len;
}

const char *httpc_response_header(const struct httpc_response *res, const char *name)
{
    size_t n = strlen(name);
    for (const char *const *h = res->headers; h && *h; h++) {
        if (strncasecmp(*h, name, n) != 0 || (*h)[n] != ':')
            continue;
        const char *v = *h + n + 1;
        while (*v == ' ' || *v == '\t')
            v++;
        return v;
    }
    return NULL;
}

/* ---- request checks ---- */

static bool method_ok(const char *m)
{
    size_t n = strlen(m);
    if (n == 0 || n > HTTPC_MAX_METHOD_LEN)
        return false;
    for (size_t i = 0; i < n; i++)
        if (!strchr("ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789"
                    "!#$%&'*+-.^_`|~",
                    m[i]))
            return false;
    return true;
}

/* "Name: value" without CR or LF (no header injection), with a non-empty name. */
static bool header_ok(const char *h)
{
    const char *colon = strchr(h, ':');
    return colon && colon != h && !strpbrk(h, "\r\n");
}

/* Parse the URL once; only http and https with a host. *up is set on success. */
static int url_parse(const char *url, CURLU **up)
{
    CURLU *u = curl_url();
    char *scheme = NULL, *host = NULL;
    int err = VP_E_INVALID_PARAMETER;
    if (!u)
        return VP_E_INTERNAL;
    if (curl_url_set(u, CURLUPART_URL, url, 0) != CURLUE_OK ||
        curl_url_get(u, CURLUPART_SCHEME, &scheme, 0) != CURLUE_OK ||
        curl_url_get(u, CURLUPART_HOST, &host, 0) != CURLUE_OK || !*host)
        goto out;
    if (strcasecmp(scheme, "http") != 0 && strcasecmp(scheme, "https") != 0)
        goto out;
    err = 0;
out:
    curl_free(scheme);
    curl_free(host);
    if (err)
        curl_url_cleanup(u);
    else
        *up = u;
    return err;
}

static int request_check(const struct httpc_request *req)
{
    if (!req->url || (req->method && !method_ok(req->method)) || (!req->body && req->body_len))
        return VP_E_INVALID_PARAMETER;
    for (const char *const *h = req->headers; h && *h; h++)
        if (!header_ok(*h))
            return VP_E_INVALID_PARAMETER;
    if (req->connect_ip) {
        unsigned char addr[sizeof(struct in6_addr)];
        if (inet_pton(AF_INET, req->connect_ip, addr) != 1 &&
            inet_pton(AF_INET6, req->connect_ip, addr) != 1)
            return VP_E_INVALID_PARAMETER;
    }
    return 0;
}

/* ---- request setup ---- */

/* Method and body. NULL method: GET without a body, POST with one. */
static bool setup_method(struct xfer *x, const struct httpc_request *req)
{
    const char *m = req->method ? req->method : req->body ? "POST" : "GET";
    CURL *e = x->easy;
    bool bad = false;
    if (req->body || strcmp(m, "POST") == 0) {
        bad |= curl_easy_setopt(e, CURLOPT_POSTFIELDSIZE_LARGE, (curl_off_t)req->body_len);
        bad |= curl_easy_setopt(e, CURLOPT_COPYPOSTFIELDS, req->body ? req->body : "");
        if (strcmp(m, "POST") != 0)
            bad |= curl_easy_setopt(e, CURLOPT_CUSTOMREQUEST, m);
    } else if (strcmp(m, "HEAD") == 0) {
        bad |= curl_easy_setopt(e, CURLOPT_NOBODY, 1L);
    } else if (strcmp(m, "GET") != 0) {
        bad |= curl_easy_setopt(e, CURLOPT_CUSTOMREQUEST, m);
    }
    return !bad;
}

/* Request headers, plus an empty "Expect:" so bodies go out without a 100-continue wait. */
static bool setup_headers(struct xfer *x, const struct httpc_request *req)
{
    bool expect = false;
    for (const char *const *h = req->headers; h && *h; h++) {
        x->headers = curl_slist_append(x->headers, *h);
        expect |= strncasecmp(*h, "Expect:", 7) == 0;
        if (!x->headers)
            return false;
    }
    if (!expect)
        x->headers = curl_slist_append(x->headers, "Expect:");
    return x->headers && curl_easy_setopt(x->easy, CURLOPT_HTTPHEADER, x->headers) == CURLE_OK;
}

/* CONNECT_TO "::ip:" = any host, any port of this transfer -> ip, same port. */
static bool setup_pin(struct xfer *x, const char *ip)
{
    char entry[INET6_ADDRSTRLEN + 8];
    snprintf(entry, sizeof(entry), strchr(ip, ':') ? "::[%s]:" : "::%s:", ip);
    x->pin = curl_slist_append(NULL, entry);
    return x->pin && curl_easy_setopt(x->easy, CURLOPT_CONNECT_TO, x->pin) == CURLE_OK;
}

static bool setup_common(struct xfer *x, const struct httpc_request *req)
{
    CURL *e = x->easy;
    long timeout = req->timeout_ms ? (long)req->timeout_ms : HTTPC_TIMEOUT_MS;
    long connect = req->connect_timeout_ms ? (long)req->connect_timeout_ms : HTTPC_CONNECT_MS;
    bool bad = false;
    bad |= curl_easy_setopt(e, CURLOPT_PRIVATE, (char *)x);
    bad |= curl_easy_setopt(e, CURLOPT_CURLU, x->url);
    bad |= curl_easy_setopt(e, CURLOPT_PROTOCOLS_STR, "http,https");
    bad |= curl_easy_setopt(e, CURLOPT_REDIR_PROTOCOLS_STR, "http,https");
    bad |= curl_easy_setopt(e, CURLOPT_FOLLOWLOCATION, 0L);
    bad |= curl_easy_setopt(e, CURLOPT_PROXY, "");
    bad |= curl_easy_setopt(e, CURLOPT_NOSIGNAL, 1L);
    bad |= curl_easy_setopt(e, CURLOPT_TIMEOUT_MS, timeout);
    bad |= curl_easy_setopt(e, CURLOPT_CONNECTTIMEOUT_MS, connect);
    bad |= curl_easy_setopt(e, CURLOPT_USERAGENT, x->c->user_agent);
    bad |= curl_easy_setopt(e, CURLOPT_ERRORBUFFER, x->errbuf);
    bad |= curl_easy_setopt(e, CURLOPT_WRITEFUNCTION, body_cb);
    bad |= curl_easy_setopt(e, CURLOPT_WRITEDATA, x);
    bad |= curl_easy_setopt(e, CURLOPT_HEADERFUNCTION, header_cb);
    bad |= curl_easy_setopt(e, CURLOPT_HEADERDATA, x);
    return !bad;
}

static int xfer_setup(struct xfer *x, const struct httpc_request *req)
{
    x->easy = curl_easy_init();
    if (!x->easy)
        return VP_E_INTERNAL;
    if (!setup_common(x, req) || !setup_method(x, req) || !setup_headers(x, req) ||
        (req->connect_ip && !setup_pin(x, req->connect_ip)))
        return VP_E_INTERNAL;
    return 0;
}

int httpc_send(struct httpc *c, const struct httpc_request *req, httpc_cb *cb, void *arg)
{
    if (!c || !req || !cb)
        return VP_E_INVALID_PARAMETER;
    if (c->state != HTTPC_OPEN)
        return VP_E_CLOSED;
    int err = request_check(req);
    CURLU *url = NULL;
    if (err || (err = url_parse(req->url, &url)))
        return err;
    struct xfer *x = VP_NEW(x);
    x->c = c;
    x->url = url;
    x->cb = cb;
    x->arg = arg;
    x->max_body = req->max_response_bytes ? req->max_response_bytes : HTTPC_MAX_BODY;
    x->start_ns = uv_hrtime();
    buf_init(&x->body, x->max_body);
    buf_init(&x->hdrs, 0);
    err = xfer_setup(x, req);
    if (!err && curl_multi_add_handle(c->multi, x->easy) != CURLM_OK)
        err = VP_E_INTERNAL;
    if (err) {
        xfer_free(x);
        return err;
    }
    x->next = c->xfers;
    if (c->xfers)
        c->xfers->prev = x;
    c->xfers = x;
    c->inflight++;
    return 0;
}

unsigned httpc_inflight(const struct httpc *c)
{
    return c->inflight;
}

/* ---- create / close ---- */

static int multi_setup(struct httpc *c, const struct httpc_opts *opts)
{
    long total =
        opts && opts->max_total_connections ? (long)opts->max_total_connections : HTTPC_TOTAL_CONNS;
    long host =
        opts && opts->max_host_connections ? (long)opts->max_host_connections : HTTPC_HOST_CONNS;
    bool bad = false;
    bad |= curl_multi_setopt(c->multi, CURLMOPT_SOCKETFUNCTION, socket_cb);
    bad |= curl_multi_setopt(c->multi, CURLMOPT_SOCKETDATA, c);
    bad |= curl_multi_setopt(c->multi, CURLMOPT_TIMERFUNCTION, timer_fn);
    bad |= curl_multi_setopt(c->multi, CURLMOPT_TIMERDATA, c);
    bad |= curl_multi_setopt(c->multi, CURLMOPT_MAX_TOTAL_CONNECTIONS, total);
    bad |= curl_multi_setopt(c->multi, CURLMOPT_MAX_HOST_CONNECTIONS, host);
    /* the idle-connection cache may hold every allowed connection for reuse */
    bad |= curl_multi_setopt(c->multi, CURLMOPT_MAXCONNECTS, total);
    return bad ? VP_E_INTERNAL : 0;
}

int httpc_create(struct httpc **cp, uv_loop_t *loop, const struct httpc_opts *opts)
{
    struct httpc *c = NULL;
    int err = 0;
    if (!cp || !loop)
        return VP_E_INVALID_PARAMETER;
    if (curl_global_init(CURL_GLOBAL_DEFAULT) != CURLE_OK)
        return VP_E_INTERNAL;
    c = VP_NEW(c);
    c->loop = loop;
    c->user_agent = vp_strdup(opts && opts->user_agent ? opts->user_agent : HTTPC_USER_AGENT);
    c->multi = curl_multi_init();
    if (!c->multi || (err = multi_setup(c, opts)) != 0) {
        err = VP_E_INTERNAL;
        goto out;
    }
    /* Last: from here on the client is freed only through its handles' close callbacks. */
    uv_timer_init(loop, &c->timer);
    c->timer.data = c;
    c->handles = 1;
out:
    if (err) {
        if (c->multi)
            curl_multi_cleanup(c->multi);
        free(c->user_agent);
        free(c);
        curl_global_cleanup();
    } else {
        *cp = c;
    }
    return err;
}

/* Runs on the loop turn after httpc_close; see the top of the file. */
static void shutdown_cb(uv_timer_t *t)
{
    struct httpc *c = t->data;
    while (c->xfers)
        xfer_finish(c->xfers, VP_E_CANCELED, CURLE_OK);
    curl_multi_cleanup(c->multi);
    c->multi = NULL;
    while (c->socks)
        sock_close(c->socks);
    set_state(c, HTTPC_CLOSED);
    uv_close((uv_handle_t *)&c->timer, timer_closed_cb);
}

void httpc_close(struct httpc *c, void (*closed)(void *arg), void *arg)
{
    if (c->state != HTTPC_OPEN) {
        log_error("httpc.close", "httpc_close called twice; ignored");
        return;
    }
    c->closed = closed;
    c->closed_arg = arg;
    set_state(c, HTTPC_CLOSING);
    /* Stop watching before curl closes any socket in shutdown_cb. */
    for (struct sock *k = c->socks; k; k = k->next)
        uv_poll_stop(&k->poll);
    uv_timer_stop(&c->timer);
    uv_timer_start(&c->timer, shutdown_cb, 0, 0);
}
