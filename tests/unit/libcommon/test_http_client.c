/*
 * Unit tests for the HTTP client (libcommon/src/http_client.c).
 *
 * The peer is a real, tiny HTTP/1.1 server written here on libuv (struct srv): it binds
 * 127.0.0.1 port 0 on the test's own loop, keeps connections alive, counts accepted
 * connections and requests, and records the last request so tests can check what went
 * over the wire. Paths: /hello, /echo (body back), /big (200000 bytes), /redirect (302),
 * /interim (a 100 response with a header, then 200), /never (no answer), else 404.
 *
 * getaddrinfo() is defined below for the whole test binary: curl's threaded resolver
 * calls it, so the tests can count name lookups (the connect_ip pin must not do any) and
 * no query ever leaves the machine (every lookup is refused).
 */
#include "vp_test.h"

#include <arpa/inet.h>
#include <netdb.h>
#include <netinet/in.h>
#include <stdatomic.h>
#include <string.h>
#include <strings.h>
#include <sys/socket.h>
#include <unistd.h>

#include "voepy/alloc.h"
#include "voepy/buf.h"
#include "voepy/err.h"
#include "voepy/http_client.h"

#define BIG_LEN 200000

/* ---- name lookups: counted and refused ---- */

static atomic_int lookups;

int getaddrinfo(const char *restrict node, const char *restrict service,
                const struct addrinfo *restrict hints, struct addrinfo **restrict res)
{
    (void)node;
    (void)service;
    (void)hints;
    (void)res;
    atomic_fetch_add(&lookups, 1);
    return EAI_NONAME;
}

/* ---- the test server ---- */

struct srv;

struct srv_conn {
    uv_tcp_t tcp;
    struct srv *s;
    struct buf in;
    struct srv_conn *prev, *next;
};

struct srv {
    uv_loop_t *loop;
    uv_tcp_t listener;
    int port;
    unsigned accepted, open, max_open, requests;
    unsigned handles; /* listener + connections not yet closed */
    struct srv_conn *conns;
    char method[32], path[256];
    char *head; /* request line and headers of the last request */
    char *body;
    size_t body_len;
};

struct srv_write {
    uv_write_t req;
    char *data;
};

static void srv_conn_closed_cb(uv_handle_t *h)
{
    struct srv_conn *k = h->data;
    k->s->handles--;
    k->s->open--;
    buf_free(&k->in);
    free(k);
}

static void srv_conn_close(struct srv_conn *k)
{
    if (uv_is_closing((uv_handle_t *)&k->tcp))
        return;
    if (k->prev)
        k->prev->next = k->next;
    else
        k->s->conns = k->next;
    if (k->next)
        k->next->prev = k->prev;
    uv_close((uv_handle_t *)&k->tcp, srv_conn_closed_cb);
}

static void srv_write_cb(uv_write_t *req, int status)
{
    struct srv_write *w = (struct srv_write *)req;
    (void)status;
    free(w->data);
    free(w);
}

static void srv_send(struct srv_conn *k, struct buf *out)
{
    struct srv_write *w = VP_NEW(w);
    size_t len;
    w->data = buf_steal(out, &len);
    uv_buf_t b = uv_buf_init(w->data, (unsigned)len);
    if (uv_write(&w->req, (uv_stream_t *)&k->tcp, &b, 1, srv_write_cb) != 0)
        srv_write_cb(&w->req, -1);
}

static void srv_respond(struct srv_conn *k)
{
    struct srv *s = k->s;
    struct buf out;
    buf_init(&out, 0);
    if (strcmp(s->path, "/hello") == 0) {
        buf_puts(&out, "HTTP/1.1 200 OK\r\nContent-Type: text/plain\r\nX-Test: yes\r\n"
                       "Content-Length: 11\r\n\r\nhello world");
    } else if (strcmp(s->path, "/echo") == 0) {
        buf_printf(&out, "HTTP/1.1 200 OK\r\nX-Method: %s\r\nContent-Length: %zu\r\n\r\n",
                   s->method, s->body_len);
        buf_append(&out, s->body, s->body_len);
    } else if (strcmp(s->path, "/big") == 0) {
        buf_printf(&out, "HTTP/1.1 200 OK\r\nContent-Length: %d\r\n\r\n", BIG_LEN);
        for (int i = 0; i < BIG_LEN; i++)
            buf_putc(&out, (char)('a' + i % 26));
    } else if (strcmp(s->path, "/redirect") == 0) {
        buf_puts(&out, "HTTP/1.1 302 Found\r\nLocation: /hello\r\nContent-Length: 0\r\n\r\n");
    } else if (strcmp(s->path, "/interim") == 0) {
        buf_puts(&out, "HTTP/1.1 100 Continue\r\nX-Interim: 1\r\n\r\n"
                       "HTTP/1.1 200 OK\r\nX-Final: 1\r\nContent-Length: 2\r\n\r\nok");
    } else if (strcmp(s->path, "/never") == 0) {
        buf_free(&out);
        return;
    } else {
        buf_puts(&out, "HTTP/1.1 404 Not Found\r\nContent-Length: 0\r\n\r\n");
    }
    srv_send(k, &out);
}

/* Record the request whose head is in[0, head_len) and whose body follows. */
static void srv_record(struct srv *s, const char *in, size_t head_len, size_t body_len)
{
    free(s->head);
    free(s->body);
    s->head = vp_strndup(in, head_len);
    s->body = vp_malloc(body_len + 1);
    memcpy(s->body, in + head_len, body_len);
    s->body[body_len] = '\0';
    s->body_len = body_len;
    if (sscanf(s->head, "%31s %255s", s->method, s->path) != 2)
        s->method[0] = s->path[0] = '\0';
    s->requests++;
}

static size_t head_content_length(const char *in, size_t head_len)
{
    char *head = vp_strndup(in, head_len);
    const char *p = strcasestr(head, "\r\nContent-Length:");
    size_t n = p ? strtoul(p + 17, NULL, 10) : 0;
    free(head);
    return n;
}

/* Answer every complete request in the input (keep-alive, pipelining). */
static void srv_process(struct srv_conn *k)
{
    for (;;) {
        char *end = k->in.len ? memmem(k->in.data, k->in.len, "\r\n\r\n", 4) : NULL;
        if (!end)
            return;
        size_t head_len = (size_t)(end - k->in.data) + 4;
        size_t body_len = head_content_length(k->in.data, head_len);
        if (k->in.len < head_len + body_len)
            return;
        srv_record(k->s, k->in.data, head_len, body_len);
        srv_respond(k);
        buf_consume(&k->in, head_len + body_len);
    }
}

static void srv_alloc_cb(uv_handle_t *h, size_t hint, uv_buf_t *b)
{
    (void)h;
    (void)hint;
    *b = uv_buf_init(vp_malloc(65536), 65536);
}

static void srv_read_cb(uv_stream_t *st, ssize_t n, const uv_buf_t *b)
{
    struct srv_conn *k = st->data;
    if (n < 0)
        srv_conn_close(k);
    else if (n > 0 && buf_append(&k->in, b->base, (size_t)n) == 0)
        srv_process(k);
    free(b->base);
}

static void srv_accept_cb(uv_stream_t *l, int status)
{
    struct srv *s = l->data;
    struct srv_conn *k = VP_NEW(k);
    if (status != 0)
        return free(k);
    uv_tcp_init(s->loop, &k->tcp);
    k->tcp.data = k;
    k->s = s;
    buf_init(&k->in, 0);
    k->next = s->conns;
    if (s->conns)
        s->conns->prev = k;
    s->conns = k;
    s->handles++;
    s->accepted++;
    if (++s->open > s->max_open)
        s->max_open = s->open;
    if (uv_accept(l, (uv_stream_t *)&k->tcp) != 0)
        srv_conn_close(k);
    else
        uv_read_start((uv_stream_t *)&k->tcp, srv_alloc_cb, srv_read_cb);
}

static void srv_start(struct srv *s, uv_loop_t *loop)
{
    struct sockaddr_in a;
    struct sockaddr_storage got;
    int len = sizeof(got);
    memset(s, 0, sizeof(*s));
    s->loop = loop;
    uv_ip4_addr("127.0.0.1", 0, &a);
    assert_int_equal(uv_tcp_init(loop, &s->listener), 0);
    s->listener.data = s;
    s->handles = 1;
    assert_int_equal(uv_tcp_bind(&s->listener, (struct sockaddr *)&a, 0), 0);
    assert_int_equal(uv_listen((uv_stream_t *)&s->listener, 128, srv_accept_cb), 0);
    assert_int_equal(uv_tcp_getsockname(&s->listener, (struct sockaddr *)&got, &len), 0);
    s->port = ntohs(((struct sockaddr_in *)&got)->sin_port);
}

static void srv_handle_closed_cb(uv_handle_t *h)
{
    ((struct srv *)h->data)->handles--;
}

static void srv_stop(struct srv *s)
{
    while (s->conns)
        srv_conn_close(s->conns);
    uv_close((uv_handle_t *)&s->listener, srv_handle_closed_cb);
    while (s->handles)
        uv_run(s->loop, UV_RUN_ONCE);
    free(s->head);
    free(s->body);
}

/* ---- test fixture ---- */

struct result;
struct t;

/* Requests sent one after another, each from the previous one's callback. */
struct chain {
    struct t *t;
    int left, ok, send_errors;
    bool done;
};

struct t {
    uv_loop_t loop;
    struct srv srv;
    struct httpc *c;
    bool closed;
    int seq; /* orders callbacks and closed() */
    int closed_seq;
    char url[256];
    /*
     * Results live here, not on a test's stack: after a failed assertion the teardown
     * still cancels outstanding requests, whose callbacks must write somewhere valid.
     */
    struct result *results;
    int n_results;
    struct chain chain;
};

#define MAX_RESULTS 160

/* One request's outcome, copied out of the callback. */
struct result {
    struct t *t;
    int calls;
    bool done;
    int status;
    long http;
    char *body;
    size_t body_len;
    bool body_nul; /* body[body_len] was '\0' */
    char *error;
    double total_ms;
    char **headers;
    int seq;
    bool saw_closed;  /* closed() had already run when the callback ran */
    int send_in_cb;   /* httpc_send from inside the callback (cancel_cb only) */
    bool close_in_cb; /* close_cb: close the client from the callback */
};

static void result_cb(const struct httpc_response *res, void *arg)
{
    struct result *r = arg;
    if (r->calls++ > 0)
        return; /* a second call is the failure; keep the first outcome */
    r->status = res->status;
    r->http = res->http_status;
    r->body_len = res->body_len;
    r->body_nul = res->body[res->body_len] == '\0';
    r->body = vp_malloc(res->body_len + 1);
    memcpy(r->body, res->body, res->body_len + 1);
    r->error = res->error ? vp_strdup(res->error) : NULL;
    r->total_ms = res->total_ms;
    size_t n = 0;
    while (res->headers && res->headers[n])
        n++;
    r->headers = vp_calloc(n + 1, sizeof(char *));
    for (size_t i = 0; i < n; i++)
        r->headers[i] = vp_strdup(res->headers[i]);
    r->seq = ++r->t->seq;
    r->saw_closed = r->t->closed;
    r->done = true;
}

static struct result *result_new(struct t *t)
{
    assert_true(t->n_results < MAX_RESULTS);
    struct result *r = &t->results[t->n_results++];
    r->t = t;
    return r;
}

static void result_free(struct result *r)
{
    for (size_t i = 0; r->headers && r->headers[i]; i++)
        free(r->headers[i]);
    free(r->headers);
    free(r->body);
    free(r->error);
}

static const char *result_header(const struct result *r, const char *name)
{
    struct httpc_response view = {.headers = (const char *const *)r->headers};
    return httpc_response_header(&view, name);
}

static void closed_cb(void *arg)
{
    struct t *t = arg;
    t->closed = true;
    t->closed_seq = ++t->seq;
}

static int fixture_setup(void **state)
{
    struct t *t = VP_NEW(t);
    t->results = vp_calloc(MAX_RESULTS, sizeof(*t->results));
    assert_int_equal(uv_loop_init(&t->loop), 0);
    srv_start(&t->srv, &t->loop);
    atomic_store(&lookups, 0);
    *state = t;
    return 0;
}

static void client_close(struct t *t)
{
    if (t->c && !t->closed) {
        httpc_close(t->c, closed_cb, t);
        assert_true(vp_test_run_until(&t->loop, &t->closed, 5000));
    }
}

static int fixture_teardown(void **state)
{
    struct t *t = *state;
    client_close(t);
    srv_stop(&t->srv);
    vp_test_loop_done(&t->loop);
    for (int i = 0; i < t->n_results; i++)
        result_free(&t->results[i]);
    free(t->results);
    free(t);
    return 0;
}

static void client_open(struct t *t, const struct httpc_opts *opts)
{
    assert_int_equal(httpc_create(&t->c, &t->loop, opts), 0);
}

static const char *url(struct t *t, const char *path)
{
    snprintf(t->url, sizeof(t->url), "http://127.0.0.1:%d%s", t->srv.port, path);
    return t->url;
}

static void send_ok(struct t *t, const struct httpc_request *req, struct result *r)
{
    assert_int_equal(httpc_send(t->c, req, result_cb, r), 0);
}

static void wait_done(struct t *t, struct result *r)
{
    assert_true(vp_test_run_until(&t->loop, &r->done, 5000));
}

/* Run the loop for ms milliseconds (to see that nothing more happens). */
static void run_for(struct t *t, unsigned ms)
{
    bool never = false;
    vp_test_run_until(&t->loop, &never, ms);
}

static struct result *get(struct t *t, const char *path, const char *const *headers)
{
    struct httpc_request req = {.method = "GET", .url = url(t, path), .headers = headers};
    struct result *r = result_new(t);
    send_ok(t, &req, r);
    wait_done(t, r);
    assert_int_equal(r->calls, 1);
    return r;
}

/* ---- tests ---- */

static void test_get(void **state)
{
    struct t *t = *state;
    client_open(t, NULL);
    const char *hdrs[] = {"X-Req: abc", "Accept: text/plain", NULL};
    struct result *r = get(t, "/hello", hdrs);
    assert_int_equal(r->status, 0);
    assert_int_equal(r->http, 200);
    assert_null(r->error);
    assert_int_equal(r->body_len, 11);
    assert_string_equal(r->body, "hello world");
    assert_true(r->body_nul);
    assert_true(r->total_ms > 0);
    /* response headers: the status line is not one of them; lookup ignores case */
    assert_non_null(r->headers[0]);
    assert_true(strncmp(r->headers[0], "HTTP/", 5) != 0);
    assert_string_equal(result_header(r, "x-test"), "yes");
    assert_string_equal(result_header(r, "CONTENT-LENGTH"), "11");
    assert_string_equal(result_header(r, "Content-Type"), "text/plain");
    assert_null(result_header(r, "X-Tes"));
    assert_null(result_header(r, "missing"));
    /* what the server received */
    char host[64];
    snprintf(host, sizeof(host), "\r\nHost: 127.0.0.1:%d\r\n", t->srv.port);
    assert_string_equal(t->srv.method, "GET");
    assert_string_equal(t->srv.path, "/hello");
    assert_non_null(strstr(t->srv.head, host));
    assert_non_null(strstr(t->srv.head, "\r\nX-Req: abc\r\n"));
    assert_non_null(strstr(t->srv.head, "\r\nAccept: text/plain\r\n"));
    assert_non_null(strstr(t->srv.head, "\r\nUser-Agent: voepy/"));
    assert_int_equal(t->srv.body_len, 0);

    /* a 4xx is a response, not a transport error */
    r = get(t, "/nope", NULL);
    assert_int_equal(r->status, 0);
    assert_int_equal(r->http, 404);
    assert_int_equal(r->body_len, 0);
    assert_string_equal(r->body, "");

    /* headers of a 1xx interim response are not mixed into the final response's */
    r = get(t, "/interim", NULL);
    assert_int_equal(r->http, 200);
    assert_string_equal(r->body, "ok");
    assert_string_equal(result_header(r, "x-final"), "1");
    assert_null(result_header(r, "x-interim"));
}

static void test_post(void **state)
{
    struct t *t = *state;
    struct httpc_opts opts = {.user_agent = "test-agent/1"};
    client_open(t, &opts);
    static const char body[] = "{\"a\":1}\0tail"; /* a NUL inside: body_len counts */
    const char *hdrs[] = {"Content-Type: application/json", "X-Sig: s1", NULL};
    struct httpc_request req = {.method = "POST",
                                .url = url(t, "/echo"),
                                .headers = hdrs,
                                .body = body,
                                .body_len = sizeof(body) - 1};
    struct result *r = result_new(t);
    send_ok(t, &req, r);
    wait_done(t, r);
    assert_int_equal(r->status, 0);
    assert_int_equal(r->http, 200);
    assert_string_equal(t->srv.method, "POST");
    assert_string_equal(t->srv.path, "/echo");
    assert_int_equal(t->srv.body_len, sizeof(body) - 1);
    assert_memory_equal(t->srv.body, body, sizeof(body) - 1);
    assert_non_null(strstr(t->srv.head, "\r\nContent-Type: application/json\r\n"));
    assert_non_null(strstr(t->srv.head, "\r\nX-Sig: s1\r\n"));
    assert_non_null(strstr(t->srv.head, "\r\nContent-Length: 12\r\n"));
    assert_non_null(strstr(t->srv.head, "\r\nUser-Agent: test-agent/1\r\n"));
    assert_int_equal(r->body_len, sizeof(body) - 1);
    assert_memory_equal(r->body, body, sizeof(body) - 1);
    assert_string_equal(result_header(r, "X-Method"), "POST");

    /* A large body goes out at once: no "Expect: 100-continue" (our server never says 100). */
    size_t big_len = 1100000; /* curl 7.88 asks for 100-continue above 1 MiB */
    char *big = vp_malloc(big_len);
    for (size_t i = 0; i < big_len; i++)
        big[i] = (char)('A' + i % 23);
    struct httpc_request breq = {.method = "PUT",
                                 .url = url(t, "/echo"),
                                 .body = big,
                                 .body_len = big_len,
                                 .max_response_bytes = 1200000};
    r = result_new(t);
    send_ok(t, &breq, r);
    wait_done(t, r);
    assert_int_equal(r->http, 200);
    assert_string_equal(t->srv.method, "PUT");
    assert_null(strcasestr(t->srv.head, "\r\nExpect:"));
    assert_int_equal(t->srv.body_len, big_len);
    assert_memory_equal(t->srv.body, big, big_len);
    assert_int_equal(r->body_len, big_len);
    assert_memory_equal(r->body, big, big_len);
    assert_string_equal(result_header(r, "X-Method"), "PUT");
    free(big);

    /* no method: POST with a body; DELETE without one sends no body */
    struct httpc_request dreq = {.url = url(t, "/echo"), .body = "x", .body_len = 1};
    r = result_new(t);
    send_ok(t, &dreq, r);
    wait_done(t, r);
    assert_string_equal(t->srv.method, "POST");
    assert_string_equal(r->body, "x");
    dreq = (struct httpc_request){.method = "DELETE", .url = url(t, "/echo")};
    r = result_new(t);
    send_ok(t, &dreq, r);
    wait_done(t, r);
    assert_string_equal(t->srv.method, "DELETE");
    assert_int_equal(t->srv.body_len, 0);
}

static void chain_cb(const struct httpc_response *res, void *arg)
{
    struct chain *ch = arg;
    ch->ok += res->status == 0 && res->http_status == 200 && strcmp(res->body, "hello world") == 0;
    if (--ch->left == 0) {
        ch->done = true;
        return;
    }
    /* the next request from inside the callback */
    struct httpc_request req = {.method = "GET", .url = url(ch->t, "/hello")};
    ch->send_errors += httpc_send(ch->t->c, &req, chain_cb, ch) != 0;
}

static void test_keepalive(void **state)
{
    struct t *t = *state;
    client_open(t, NULL);
    struct chain *ch = &t->chain;
    *ch = (struct chain){.t = t, .left = 5};
    struct httpc_request req = {.method = "GET", .url = url(t, "/hello")};
    assert_int_equal(httpc_send(t->c, &req, chain_cb, ch), 0);
    assert_true(vp_test_run_until(&t->loop, &ch->done, 5000));
    assert_int_equal(ch->ok, 5);
    assert_int_equal(ch->send_errors, 0);
    /* and after the connection sat idle in the cache for a while */
    run_for(t, 50);
    for (int i = 0; i < 3; i++) {
        struct result *r = get(t, "/hello", NULL);
        assert_int_equal(r->http, 200);
    }
    assert_int_equal(t->srv.requests, 8);
    assert_int_equal(t->srv.accepted, 1);
    assert_int_equal(httpc_inflight(t->c), 0);
}

static void run_concurrent(struct t *t, int n, unsigned max_host)
{
    struct httpc_opts opts = {.max_host_connections = max_host};
    client_open(t, max_host ? &opts : NULL);
    struct result *r = &t->results[t->n_results];
    for (int i = 0; i < n; i++)
        result_new(t);
    char(*bodies)[32] = vp_calloc((size_t)n, sizeof(*bodies));
    for (int i = 0; i < n; i++) {
        snprintf(bodies[i], sizeof(bodies[i]), "request-%d", i);
        struct httpc_request req = {.method = "POST",
                                    .url = url(t, "/echo"),
                                    .body = bodies[i],
                                    .body_len = strlen(bodies[i])};
        send_ok(t, &req, &r[i]);
    }
    assert_int_equal(httpc_inflight(t->c), n);
    for (int i = 0; i < n; i++)
        wait_done(t, &r[i]);
    for (int i = 0; i < n; i++) {
        assert_int_equal(r[i].calls, 1);
        assert_int_equal(r[i].status, 0);
        assert_int_equal(r[i].http, 200);
        assert_string_equal(r[i].body, bodies[i]); /* each gets its own answer */
    }
    assert_int_equal(httpc_inflight(t->c), 0);
    assert_int_equal(t->srv.requests, n);
    unsigned limit = max_host ? max_host : 16;
    assert_true(t->srv.max_open <= limit);
    assert_true(t->srv.accepted <= limit);
    assert_true(t->srv.accepted >= 1);
    free(bodies);
}

static void test_concurrent_limited(void **state)
{
    run_concurrent(*state, 40, 4);
}

static void test_concurrent_default(void **state)
{
    run_concurrent(*state, 100, 0);
}

static void test_truncate(void **state)
{
    struct t *t = *state;
    client_open(t, NULL);
    struct httpc_request req = {.url = url(t, "/big"), .max_response_bytes = 1000};
    struct result *r = result_new(t);
    send_ok(t, &req, r);
    wait_done(t, r);
    assert_int_equal(r->status, 0);
    assert_int_equal(r->http, 200);
    assert_int_equal(r->body_len, 1000);
    assert_true(r->body_nul);
    for (int i = 0; i < 1000; i++)
        assert_int_equal(r->body[i], 'a' + i % 26);
    assert_string_equal(result_header(r, "Content-Length"), "200000");
    /* the rest was read, not left on the connection: it is reused cleanly */
    r = get(t, "/hello", NULL);
    assert_string_equal(r->body, "hello world");
    assert_int_equal(t->srv.accepted, 1);
}

static void test_timeout(void **state)
{
    struct t *t = *state;
    client_open(t, NULL);
    struct httpc_request req = {.url = url(t, "/never"), .timeout_ms = 300};
    struct result *r = result_new(t);
    send_ok(t, &req, r);
    wait_done(t, r);
    assert_int_equal(r->status, VP_E_TIMEOUT);
    assert_int_equal(r->http, 0);
    assert_non_null(r->error);
    assert_true(r->total_ms >= 250 && r->total_ms < 3000);
    assert_int_equal(t->srv.requests, 1);
    run_for(t, 400);
    assert_int_equal(r->calls, 1);
    assert_int_equal(httpc_inflight(t->c), 0);
}

/* A listener with a full accept queue drops SYNs: the connect phase hangs. */
static void test_connect_timeout(void **state)
{
    struct t *t = *state;
    client_open(t, NULL);
    struct sockaddr_in a = {.sin_family = AF_INET, .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
    socklen_t alen = sizeof(a);
    int l = socket(AF_INET, SOCK_STREAM, 0), fill[3];
    assert_int_equal(bind(l, (struct sockaddr *)&a, sizeof(a)), 0);
    assert_int_equal(listen(l, 0), 0);
    assert_int_equal(getsockname(l, (struct sockaddr *)&a, &alen), 0);
    for (int i = 0; i < 3; i++) {
        fill[i] = socket(AF_INET, SOCK_STREAM | SOCK_NONBLOCK, 0);
        connect(fill[i], (struct sockaddr *)&a, sizeof(a));
    }
    run_for(t, 50);
    char u[64];
    snprintf(u, sizeof(u), "http://127.0.0.1:%d/", ntohs(a.sin_port));
    struct httpc_request req = {.url = u, .connect_timeout_ms = 300, .timeout_ms = 10000};
    struct result *r = result_new(t);
    send_ok(t, &req, r);
    wait_done(t, r);
    assert_int_equal(r->status, VP_E_TIMEOUT);
    assert_true(r->total_ms >= 250 && r->total_ms < 3000);
    for (int i = 0; i < 3; i++)
        close(fill[i]);
    close(l);
}

static void test_refused(void **state)
{
    struct t *t = *state;
    client_open(t, NULL);
    /* bound but not listening: connecting to it is refused */
    struct sockaddr_in a = {.sin_family = AF_INET, .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
    socklen_t alen = sizeof(a);
    int fd = socket(AF_INET, SOCK_STREAM, 0);
    assert_int_equal(bind(fd, (struct sockaddr *)&a, sizeof(a)), 0);
    assert_int_equal(getsockname(fd, (struct sockaddr *)&a, &alen), 0);
    char u[64];
    snprintf(u, sizeof(u), "http://127.0.0.1:%d/hello", ntohs(a.sin_port));
    struct httpc_request req = {.url = u};
    struct result *r = result_new(t);
    send_ok(t, &req, r);
    wait_done(t, r);
    assert_int_equal(r->status, VP_E_IO);
    assert_int_equal(r->http, 0);
    assert_non_null(r->error);
    assert_int_equal(r->body_len, 0);
    close(fd);
}

static void test_redirect_not_followed(void **state)
{
    struct t *t = *state;
    client_open(t, NULL);
    struct result *r = get(t, "/redirect", NULL);
    assert_int_equal(r->status, 0);
    assert_int_equal(r->http, 302);
    assert_string_equal(result_header(r, "location"), "/hello");
    run_for(t, 100);
    assert_int_equal(t->srv.requests, 1);
    assert_string_equal(t->srv.path, "/redirect");
}

static void test_connect_ip_pin(void **state)
{
    struct t *t = *state;
    client_open(t, NULL);
    char u[128], host[64];
    snprintf(u, sizeof(u), "http://pinned.invalid:%d/hello", t->srv.port);
    snprintf(host, sizeof(host), "\r\nHost: pinned.invalid:%d\r\n", t->srv.port);
    struct httpc_request req = {.url = u, .connect_ip = "127.0.0.1"};
    struct result *r = result_new(t);
    send_ok(t, &req, r);
    wait_done(t, r);
    assert_int_equal(r->status, 0);
    assert_int_equal(r->http, 200);
    assert_string_equal(r->body, "hello world");
    assert_non_null(strstr(t->srv.head, host)); /* the URL's host, at the pinned address */
    assert_int_equal(atomic_load(&lookups), 0);

    /*
     * Without the pin the name is looked up (our getaddrinfo refuses it): this shows the
     * lookup counter sees curl's lookups, and that the pin neither landed in a DNS cache
     * nor lent its connection to an unpinned request for the same host.
     */
    req.connect_ip = NULL;
    r = result_new(t);
    send_ok(t, &req, r);
    wait_done(t, r);
    assert_int_equal(r->status, VP_E_IO);
    assert_true(atomic_load(&lookups) >= 1);
    assert_int_equal(t->srv.requests, 1);

    /* pinned again: still fine, on the kept-alive connection */
    req.connect_ip = "127.0.0.1";
    r = result_new(t);
    send_ok(t, &req, r);
    wait_done(t, r);
    assert_int_equal(r->http, 200);
    assert_int_equal(t->srv.accepted, 1);

    /* only a numeric address is a pin */
    const char *bad[] = {"not-an-ip", "localhost", "127.0.0.1:80", "", "[::1]", "127.1"};
    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
        req.connect_ip = bad[i];
        assert_int_equal(httpc_send(t->c, &req, result_cb, r), VP_E_INVALID_PARAMETER);
    }
}

static void test_bad_input(void **state)
{
    struct t *t = *state;
    struct httpc *c = NULL;
    assert_int_equal(httpc_create(&c, NULL, NULL), VP_E_INVALID_PARAMETER);
    assert_null(c);
    client_open(t, NULL);
    struct result *r = result_new(t);
    char ftp[64];
    snprintf(ftp, sizeof(ftp), "ftp://127.0.0.1:%d/hello", t->srv.port);
    const char *urls[] = {ftp,
                          "file:///etc/passwd",
                          "gopher://127.0.0.1/",
                          "dict://127.0.0.1/",
                          "127.0.0.1/hello",
                          "http://",
                          "http://a b/",
                          "",
                          "not a url"};
    for (size_t i = 0; i < sizeof(urls) / sizeof(urls[0]); i++) {
        struct httpc_request req = {.url = urls[i]};
        assert_int_equal(httpc_send(t->c, &req, result_cb, r), VP_E_INVALID_PARAMETER);
    }
    struct httpc_request req = {.url = NULL};
    assert_int_equal(httpc_send(t->c, &req, result_cb, r), VP_E_INVALID_PARAMETER);
    req.url = url(t, "/hello");
    const char *methods[] = {"GE T", "GET\r\nX: y", "", "G\x01T"};
    for (size_t i = 0; i < sizeof(methods) / sizeof(methods[0]); i++) {
        req.method = methods[i];
        assert_int_equal(httpc_send(t->c, &req, result_cb, r), VP_E_INVALID_PARAMETER);
    }
    req.method = NULL;
    const char *inject[] = {"X-A: b\r\nX-Injected: 1", NULL};
    const char *nocolon[] = {"NoColon", NULL};
    const char *noname[] = {": value", NULL};
    const char *const *bad_headers[] = {inject, nocolon, noname};
    for (size_t i = 0; i < 3; i++) {
        req.headers = bad_headers[i];
        assert_int_equal(httpc_send(t->c, &req, result_cb, r), VP_E_INVALID_PARAMETER);
    }
    req.headers = NULL;
    req.body_len = 5; /* with no body */
    assert_int_equal(httpc_send(t->c, &req, result_cb, r), VP_E_INVALID_PARAMETER);
    req.body_len = 0;
    assert_int_equal(httpc_send(t->c, &req, NULL, r), VP_E_INVALID_PARAMETER);
    assert_int_equal(httpc_send(t->c, NULL, result_cb, r), VP_E_INVALID_PARAMETER);
    assert_int_equal(httpc_inflight(t->c), 0);
    run_for(t, 100);
    assert_int_equal(r->calls, 0);
    assert_int_equal(t->srv.requests, 0);

    /* an upper-case scheme is still http */
    snprintf(ftp, sizeof(ftp), "HTTP://127.0.0.1:%d/hello", t->srv.port);
    req.url = ftp;
    send_ok(t, &req, r);
    wait_done(t, r);
    assert_int_equal(r->http, 200);
}

/* Records like result_cb, then tries to send from inside a canceled callback. */
static void cancel_cb(const struct httpc_response *res, void *arg)
{
    struct result *r = arg;
    result_cb(res, arg);
    struct httpc_request req = {.url = url(r->t, "/hello")};
    r->send_in_cb = httpc_send(r->t->c, &req, result_cb, r);
}

static void test_close_outstanding(void **state)
{
    struct t *t = *state;
    /* one connection per host: one request reaches the server, two wait inside curl */
    struct httpc_opts opts = {.max_host_connections = 1};
    client_open(t, &opts);
    struct result *r[3];
    for (int i = 0; i < 3; i++) {
        struct httpc_request req = {.url = url(t, "/never")};
        r[i] = result_new(t);
        assert_int_equal(httpc_send(t->c, &req, cancel_cb, r[i]), 0);
    }
    while (t->srv.requests < 1)
        assert_true(uv_run(&t->loop, UV_RUN_ONCE));
    run_for(t, 50);
    assert_int_equal(t->srv.requests, 1);
    assert_int_equal(httpc_inflight(t->c), 3);
    httpc_close(t->c, closed_cb, t);
    assert_int_equal(r[0]->calls + r[1]->calls + r[2]->calls, 0); /* not from inside close */
    assert_true(vp_test_run_until(&t->loop, &t->closed, 5000));
    for (int i = 0; i < 3; i++) {
        assert_int_equal(r[i]->calls, 1);
        assert_int_equal(r[i]->status, VP_E_CANCELED);
        assert_non_null(strstr(r[i]->error, "cancel"));
        assert_false(r[i]->saw_closed);
        assert_true(r[i]->seq < t->closed_seq);
        assert_int_equal(r[i]->send_in_cb, VP_E_CLOSED);
    }
    /* the client closed its connection: the server sees it go */
    for (int i = 0; i < 100 && t->srv.open; i++)
        run_for(t, 10);
    assert_int_equal(t->srv.open, 0);
}

static void close_from_cb(const struct httpc_response *res, void *arg)
{
    struct result *r = arg;
    result_cb(res, arg);
    httpc_close(r->t->c, closed_cb, r->t);
}

static void test_close_in_callback(void **state)
{
    struct t *t = *state;
    client_open(t, NULL);
    struct result *never = result_new(t), *hello = result_new(t);
    struct httpc_request req = {.url = url(t, "/never")};
    assert_int_equal(httpc_send(t->c, &req, result_cb, never), 0);
    req.url = url(t, "/hello");
    assert_int_equal(httpc_send(t->c, &req, close_from_cb, hello), 0);
    assert_true(vp_test_run_until(&t->loop, &t->closed, 5000));
    assert_int_equal(hello->calls, 1);
    assert_int_equal(hello->status, 0);
    assert_int_equal(hello->http, 200);
    assert_int_equal(never->calls, 1);
    assert_int_equal(never->status, VP_E_CANCELED);
    assert_true(hello->seq < never->seq);
    assert_true(never->seq < t->closed_seq);
}

int main(void)
{
#define T(f) cmocka_unit_test_setup_teardown(f, fixture_setup, fixture_teardown)
    const struct CMUnitTest tests[] = {
        T(test_get),
        T(test_post),
        T(test_keepalive),
        T(test_concurrent_limited),
        T(test_concurrent_default),
        T(test_truncate),
        T(test_timeout),
        T(test_connect_timeout),
        T(test_refused),
        T(test_redirect_not_followed),
        T(test_connect_ip_pin),
        T(test_bad_input),
        T(test_close_outstanding),
        T(test_close_in_callback),
    };
#undef T
    return cmocka_run_group_tests(tests, NULL, NULL);
}
