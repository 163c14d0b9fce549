/*
 * Unit tests for libcommon/src/http_server.c and http_request.c over real TCP on
 * 127.0.0.1. The client side is plain blocking sockets in a thread that only records
 * what it received; the test thread runs the server's loop and makes the assertions.
 */
#include "vp_test.h"

#include <arpa/inet.h>
#include <netinet/in.h>
#include <pthread.h>
#include <string.h>
#include <strings.h>
#include <sys/socket.h>
#include <sys/time.h>
#include <unistd.h>

#include "voepy/alloc.h"
#include "voepy/buf.h"
#include "voepy/err.h"
#include "voepy/http_server.h"
#include "voepy/metrics.h"

/* ---- the server side: one loop and server per test ---- */

struct fixture {
    uv_loop_t loop;
    struct http_server *srv;
    bool closed, drained;
};

struct handler_state {
    int calls;
    char order[256]; /* paths in dispatch order */
    struct http_request *stash[8];
    int nstash;
};
static struct handler_state H;

/* Two of these are more than the kernel (4 MiB send buffer at most) and the server's write
 * queue limit (1 MiB) hold together, so the third pipelined request has to wait. */
#define BIG_BODY (3 * 1024 * 1024)

static void echo(struct http_request *r)
{
    size_t blen;
    const char *body = http_request_body(r, &blen);
    const char *tok = http_request_header(r, "x-token");
    const char *acc = http_request_header(r, "ACCEPT");
    char *out = vp_asprintf("%s %s q=%s tok=%s acc=%s body=%.*s", http_request_method(r),
                            http_request_path(r), http_request_query(r), tok ? tok : "-",
                            acc ? acc : "-", (int)blen, body);
    http_response_header(r, "X-Test", "yes");
    http_respond(r, 200, "text/plain", out, strlen(out));
    free(out);
}

static void query(struct http_request *r)
{
    static const char *names[] = {"a", "b", "c", "d", "e", "f", "g h", "missing"};
    struct buf b = BUF_INIT;
    for (size_t i = 0; i < sizeof(names) / sizeof(names[0]); i++) {
        const char *v = http_request_query_param(r, names[i]);
        buf_printf(&b, "%s=[%s] ", names[i], v ? v : "NULL");
    }
    http_respond(r, 200, "text/plain", b.data, b.len);
    buf_free(&b);
}

static void handler(struct http_request *r, void *arg)
{
    (void)arg;
    const char *path = http_request_path(r);
    H.calls++;
    strncat(H.order, path, sizeof(H.order) - strlen(H.order) - 2);
    strcat(H.order, " ");
    assert_string_equal(http_request_remote_addr(r), "127.0.0.1");
    if (strncmp(path, "/async", 6) == 0) {
        http_request_set_data(r, &H);
        H.stash[H.nstash++] = r;
    } else if (strcmp(path, "/error") == 0) {
        struct vp_error e;
        vp_error_set(&e, VP_E_NOT_FOUND, "id", "No call %s.", "c1");
        http_respond_error(r, &e);
    } else if (strcmp(path, "/query") == 0) {
        query(r);
    } else if (strcmp(path, "/big") == 0) {
        char *big = malloc(BIG_BODY);
        memset(big, 'b', BIG_BODY);
        http_respond(r, 200, "text/plain", big, BIG_BODY);
        free(big);
    } else if (strcmp(path, "/close") == 0) {
        http_response_header(r, "Connection", "close");
        http_respond(r, 204, NULL, NULL, 0);
    } else {
        echo(r);
    }
}

static const struct http_server_opts test_opts = {
    .max_header_bytes = 1024,
    .max_body_bytes = 1000,
    .header_timeout_ms = 300,
    .body_timeout_ms = 300,
    .idle_timeout_ms = 400,
    .name = "test",
};

static void start_server(struct fixture *f, const struct http_server_opts *o)
{
    assert_int_equal(http_server_create(&f->srv, &f->loop, o, handler, NULL), 0);
    assert_true(http_server_port(f->srv) > 0);
}

static int setup(void **state)
{
    struct fixture *f = calloc(1, sizeof(*f));
    memset(&H, 0, sizeof(H));
    assert_int_equal(uv_loop_init(&f->loop), 0);
    start_server(f, &test_opts);
    *state = f;
    return 0;
}

static void flag_cb(void *arg)
{
    *(bool *)arg = true;
}

static int teardown(void **state)
{
    struct fixture *f = *state;
    if (f->srv) {
        http_server_close(f->srv, flag_cb, &f->closed);
        assert_true(vp_test_run_until(&f->loop, &f->closed, 2000));
    }
    for (int i = 0; i < H.nstash; i++) /* answers after the server went: dropped */
        if (H.stash[i])
            http_respond(H.stash[i], 200, "text/plain", "late", 4);
    vp_test_loop_done(&f->loop);
    metrics_reset();
    free(f);
    return 0;
}

static void run_for(uv_loop_t *loop, unsigned ms)
{
    bool never = false;
    vp_test_run_until(loop, &never, ms);
}

static void answer(int i, const char *body)
{
    http_respond(H.stash[i], 200, "text/plain", body, strlen(body));
    H.stash[i] = NULL;
}

/* ---- the client side: a thread with a blocking socket ---- */

struct client {
    uv_async_t async; /* wakes the loop when the thread is done */
    pthread_t thread;
    bool done;
    int port;
    void (*script)(struct client *cl);
    int fd;
    char in[16384];
    size_t len;
    bool eof;          /* the server closed (orderly, or with a reset) */
    size_t total;      /* bytes received by cl_drain_bytes() */
    bool small_window; /* a 4 KiB receive buffer: the server cannot push much ahead */
};

static void cl_connect(struct client *cl)
{
    struct sockaddr_in sa = {.sin_family = AF_INET, .sin_port = htons((uint16_t)cl->port)};
    struct timeval tv = {.tv_sec = 3};
    sa.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    int rcvbuf = 4096;
    cl->fd = socket(AF_INET, SOCK_STREAM, 0);
    setsockopt(cl->fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof(tv));
    if (cl->small_window)
        setsockopt(cl->fd, SOL_SOCKET, SO_RCVBUF, &rcvbuf, sizeof(rcvbuf));
    if (connect(cl->fd, (struct sockaddr *)&sa, sizeof(sa)) < 0)
        cl->eof = true;
}

static void cl_send(struct client *cl, const char *s)
{
    size_t n = strlen(s);
    while (n) {
        ssize_t w = send(cl->fd, s, n, MSG_NOSIGNAL);
        if (w <= 0)
            return;
        s += w;
        n -= (size_t)w;
    }
}

/* One recv; false at EOF, reset or the 3 s receive timeout. */
static bool cl_recv(struct client *cl)
{
    if (cl->eof || cl->len + 1 >= sizeof(cl->in))
        return false;
    ssize_t n = recv(cl->fd, cl->in + cl->len, sizeof(cl->in) - 1 - cl->len, 0);
    if (n <= 0) {
        cl->eof = n == 0 || errno == ECONNRESET;
        return false;
    }
    cl->len += (size_t)n;
    cl->in[cl->len] = '\0';
    return true;
}

/* Complete responses in what was received (1xx heads count; HEAD answers are not used). */
static int count_responses(const char *p)
{
    int n = 0;
    const char *end;
    while ((end = strstr(p, "\r\n\r\n")) != NULL) {
        const char *cl = strcasestr(p, "\r\ncontent-length:");
        size_t body = cl && cl < end ? strtoul(cl + 17, NULL, 10) : 0;
        if (strlen(end + 4) < body)
            break;
        p = end + 4 + body;
        n++;
    }
    return n;
}

static void cl_read_responses(struct client *cl, int n)
{
    while (count_responses(cl->in) < n && cl_recv(cl))
        ;
}

static void cl_read_eof(struct client *cl)
{
    while (cl_recv(cl))
        ;
}

/* Read (and count, without keeping) until want bytes arrived or the server stops. */
static void cl_drain_bytes(struct client *cl, size_t want)
{
    static char scratch[65536];
    while (cl->total < want) {
        ssize_t n = recv(cl->fd, scratch, sizeof(scratch), 0);
        if (n <= 0)
            return;
        if (cl->len + (size_t)n < sizeof(cl->in) - 1) { /* keep the start for the asserts */
            memcpy(cl->in + cl->len, scratch, (size_t)n);
            cl->len += (size_t)n;
            cl->in[cl->len] = '\0';
        }
        cl->total += (size_t)n;
    }
}

static void cl_sleep(unsigned ms)
{
    usleep(ms * 1000);
}

static void *client_main(void *arg)
{
    struct client *cl = arg;
    cl_connect(cl);
    cl->script(cl);
    close(cl->fd);
    uv_async_send(&cl->async);
    return NULL;
}

static void client_async_cb(uv_async_t *a)
{
    struct client *cl = a->data;
    cl->done = true;
}

static void client_start_opt(struct client *cl, struct fixture *f, void (*script)(struct client *),
                             bool small_window)
{
    memset(cl, 0, sizeof(*cl));
    cl->small_window = small_window;
    cl->port = http_server_port(f->srv);
    cl->script = script;
    uv_async_init(&f->loop, &cl->async, client_async_cb);
    cl->async.data = cl;
    assert_int_equal(pthread_create(&cl->thread, NULL, client_main, cl), 0);
}

static void async_closed_cb(uv_handle_t *h)
{
    ((struct client *)h->data)->done = true;
}

static void client_start(struct client *cl, struct fixture *f, void (*script)(struct client *))
{
    client_start_opt(cl, f, script, false);
}

/* Run the loop until the client thread finished its script. */
static void client_wait(struct client *cl, struct fixture *f)
{
    assert_true(vp_test_run_until(&f->loop, &cl->done, 8000));
    pthread_join(cl->thread, NULL);
    cl->done = false; /* the struct may be reused once its handle has closed */
    uv_close((uv_handle_t *)&cl->async, async_closed_cb);
    assert_true(vp_test_run_until(&f->loop, &cl->done, 1000));
}

static void run_client(struct client *cl, struct fixture *f, void (*script)(struct client *))
{
    client_start(cl, f, script);
    client_wait(cl, f);
}

static int64_t requests_total(int status)
{
    char labels[64];
    snprintf(labels, sizeof(labels), "server=\"test\",status=\"%d\"", status);
    return metric_value(metrics_counter("voepy_http_requests_total", "", labels));
}

/* ---- basic requests ---- */

static void script_basic(struct client *cl)
{
    cl_send(cl, "GET /hello?x=1 HTTP/1.1\r\nHost: t\r\nX-Token: abc\r\n\r\n");
    cl_read_responses(cl, 1);
    cl_send(cl, "POST /submit HTTP/1.1\r\nHost: t\r\nContent-Length: 3\r\n\r\nabc");
    cl_read_responses(cl, 2);
    cl_send(cl, "HEAD /head HTTP/1.1\r\nHost: t\r\nConnection: close\r\n\r\n");
    cl_read_eof(cl);
}

static void test_basic_get_post_head(void **state)
{
    struct fixture *f = *state;
    struct client cl;
    run_client(&cl, f, script_basic);
    assert_int_equal(strncmp(cl.in, "HTTP/1.1 200 OK\r\nDate: ", 23), 0);
    assert_non_null(strstr(cl.in, "Content-Type: text/plain\r\nContent-Length: 36\r\n"
                                  "X-Test: yes\r\n\r\nGET /hello q=x=1 tok=abc acc=- body="));
    assert_non_null(strstr(cl.in, "\r\n\r\nPOST /submit q= tok=- acc=- body=abc"));
    /* HEAD: the length of the body it would have had, no body, and the close asked for. */
    const char *head = strstr(cl.in, "body=abcHTTP/1.1 200 OK\r\n");
    assert_non_null(head);
    assert_non_null(strstr(head, "Content-Length: 31\r\nConnection: close\r\nX-Test: yes\r\n\r\n"));
    assert_string_equal(strstr(head, "\r\n\r\n"), "\r\n\r\n");
    assert_true(cl.eof);
    assert_int_equal(H.calls, 3);
    assert_int_equal(requests_total(200), 3);
}

static void script_keepalive(struct client *cl)
{
    cl_send(cl, "GET /a HTTP/1.1\r\nHost: t\r\n\r\n");
    cl_read_responses(cl, 1);
    cl_send(cl, "GET /b HTTP/1.1\r\nHost: t\r\n\r\n");
    cl_read_responses(cl, 2);
}

static void test_keepalive_reuse(void **state)
{
    struct fixture *f = *state;
    struct client cl;
    run_client(&cl, f, script_keepalive);
    /* Both answers came over the one socket, which the server did not close. */
    assert_int_equal(count_responses(cl.in), 2);
    assert_null(strstr(cl.in, "Connection: close"));
    assert_false(cl.eof);
    assert_string_equal(H.order, "/a /b ");
}

static void script_pipeline(struct client *cl)
{
    cl_send(cl, "GET /async1 HTTP/1.1\r\nHost: t\r\n\r\nGET /two HTTP/1.1\r\nHost: t\r\n\r\n"
                "GET /three HTTP/1.1\r\nHost: t\r\n\r\n");
    cl_read_responses(cl, 3);
}

static void test_pipeline_async_first(void **state)
{
    struct fixture *f = *state;
    struct client cl;
    client_start(&cl, f, script_pipeline);
    while (H.nstash == 0 && !cl.done)
        uv_run(&f->loop, UV_RUN_ONCE);
    run_for(&f->loop, 100);
    /* The second request has arrived but waits until the first is answered. */
    assert_int_equal(H.calls, 1);
    answer(0, "first");
    client_wait(&cl, f);
    assert_string_equal(H.order, "/async1 /two /three ");
    char *a = strstr(cl.in, "first"), *b = strstr(cl.in, "GET /two"), *c = strstr(cl.in, "/three");
    assert_non_null(a);
    assert_true(a < b && b < c);
}

static void script_pipeline_many(struct client *cl)
{
    struct buf b = BUF_INIT;
    for (int i = 0; i < 40; i++)
        buf_printf(&b, "GET /p%d HTTP/1.1\r\nHost: t\r\n\r\n", i);
    cl_send(cl, b.data);
    buf_free(&b);
    cl_read_responses(cl, 40);
}

/* More pipelined requests than one wake-up handles: the rest continue from the loop. */
static void test_pipeline_many_in_order(void **state)
{
    struct fixture *f = *state;
    struct client cl;
    run_client(&cl, f, script_pipeline_many);
    assert_int_equal(count_responses(cl.in), 40);
    const char *p = cl.in;
    for (int i = 0; i < 40; i++) {
        char want[32];
        snprintf(want, sizeof(want), "GET /p%d q=", i);
        p = strstr(p, want);
        assert_non_null(p);
    }
}

static void script_slow_reader(struct client *cl)
{
    cl_send(cl, "GET /big HTTP/1.1\r\nHost: t\r\n\r\nGET /big HTTP/1.1\r\nHost: t\r\n\r\n"
                "GET /last HTTP/1.1\r\nHost: t\r\n\r\n");
    cl_sleep(200); /* answers pile up in the server's write queue meanwhile */
    cl_drain_bytes(cl, 2 * BIG_BODY + 200);
    cl->len = 0;
    cl_read_responses(cl, 1);
}

/* A client that does not read stops the parsing of its pipelined requests, not the server. */
static void test_pipeline_slow_reader(void **state)
{
    struct fixture *f = *state;
    struct client cl;
    client_start_opt(&cl, f, script_slow_reader, true);
    run_for(&f->loop, 100);
    /* One or two answers fill what the kernel and our queue take: the third one waits. */
    assert_true(strncmp(H.order, "/big ", 5) == 0);
    assert_null(strstr(H.order, "/last"));
    client_wait(&cl, f);
    assert_string_equal(H.order, "/big /big /last ");
    assert_true(cl.total >= 2 * BIG_BODY + 200);
    assert_non_null(strstr(cl.in, "GET /last q="));
}

/* ---- bodies ---- */

static void script_chunked(struct client *cl)
{
    cl_send(cl, "POST /c HTTP/1.1\r\nHost: t\r\nTransfer-Encoding: chunked\r\n\r\n3\r\nab");
    cl_sleep(30);
    cl_send(cl, "c\r\n");
    cl_sleep(30);
    cl_send(cl, "4\r\ndefg\r\n0\r\nX-Trailer: t\r\n\r\n");
    cl_read_responses(cl, 1);
    /* Chunks adding up to more than max_body_bytes: 413, even though each is small. */
    cl_send(cl, "POST /c HTTP/1.1\r\nHost: t\r\nTransfer-Encoding: chunked\r\n\r\n");
    for (int i = 0; i < 3; i++)
        cl_send(cl,
                "190\r\n" /* 400 bytes */
                "xxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxx"
                "xxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxx"
                "xxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxx"
                "xxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxx"
                "xxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxx"
                "\r\n");
    cl_read_eof(cl);
}

static void test_chunked_body(void **state)
{
    struct fixture *f = *state;
    struct client cl;
    run_client(&cl, f, script_chunked);
    assert_non_null(strstr(cl.in, "body=abcdefg"));
    assert_non_null(strstr(cl.in, "HTTP/1.1 413 Content Too Large\r\n"));
    assert_non_null(strstr(cl.in, "{\"error\":{\"code\":\"payload_too_large\""));
    assert_true(cl.eof);
    assert_int_equal(H.calls, 1);
    assert_int_equal(requests_total(413), 1);
}

static void script_big_length(struct client *cl)
{
    /* Only the head is sent: the 413 must come before any body. */
    cl_send(cl, "POST /big HTTP/1.1\r\nHost: t\r\nContent-Length: 5000\r\n\r\n");
    cl_read_responses(cl, 1);
    cl_send(cl, "xxxxxxxxxx"); /* the server still reads (and drops) while it lingers */
    cl_read_eof(cl);
}

static void test_content_length_too_big(void **state)
{
    struct fixture *f = *state;
    struct client cl;
    run_client(&cl, f, script_big_length);
    assert_int_equal(strncmp(cl.in, "HTTP/1.1 413 ", 13), 0);
    assert_non_null(strstr(cl.in, "Connection: close\r\n"));
    assert_true(cl.eof);
    assert_int_equal(H.calls, 0);
}

static void script_expect(struct client *cl)
{
    cl_send(cl, "PUT /e HTTP/1.1\r\nHost: t\r\nExpect: 100-continue\r\nContent-Length: 5\r\n\r\n");
    cl_read_responses(cl, 1);
    cl_send(cl, "hello");
    cl_read_responses(cl, 2);
    cl_send(cl,
            "PUT /e HTTP/1.1\r\nHost: t\r\nExpect: 100-continue\r\nContent-Length: 1001\r\n\r\n");
    cl_read_eof(cl);
}

static void test_expect_continue(void **state)
{
    struct fixture *f = *state;
    struct client cl;
    run_client(&cl, f, script_expect);
    assert_int_equal(strncmp(cl.in, "HTTP/1.1 100 Continue\r\n\r\nHTTP/1.1 200 OK\r\n", 42), 0);
    assert_non_null(strstr(cl.in, "body=hello"));
    /* Too big: a final 413 instead of 100 Continue. */
    const char *second = strstr(cl.in, "body=hello") + 10;
    assert_int_equal(strncmp(second, "HTTP/1.1 413 ", 13), 0);
    assert_true(cl.eof);
}

/* ---- limits and malformed input ---- */

static void script_big_headers(struct client *cl)
{
    char big[2100];
    memset(big, 'v', sizeof(big) - 1);
    big[sizeof(big) - 1] = '\0';
    cl_send(cl, "GET / HTTP/1.1\r\nHost: t\r\nX-Big: ");
    cl_send(cl, big);
    cl_send(cl, "\r\n\r\n");
    cl_read_eof(cl);
}

static void script_many_headers(struct client *cl)
{
    cl_send(cl, "GET / HTTP/1.1\r\n");
    char line[16];
    for (int i = 0; i < 101; i++) { /* 101 short lines fit in 1 KiB but pass the count */
        snprintf(line, sizeof(line), "h%d:b\r\n", i);
        cl_send(cl, line);
    }
    cl_send(cl, "\r\n");
    cl_read_eof(cl);
}

static void test_headers_too_large(void **state)
{
    struct fixture *f = *state;
    struct client cl;
    run_client(&cl, f, script_big_headers);
    assert_int_equal(strncmp(cl.in, "HTTP/1.1 431 Request Header Fields Too Large\r\n", 46), 0);
    assert_non_null(strstr(cl.in, "\"code\":\"headers_too_large\""));
    assert_true(cl.eof);
    run_client(&cl, f, script_many_headers);
    assert_int_equal(strncmp(cl.in, "HTTP/1.1 431 ", 13), 0);
    assert_int_equal(H.calls, 0);
    assert_int_equal(requests_total(431), 2);
}

static void script_malformed(struct client *cl)
{
    /* A space before the colon is refused by strict llhttp (request smuggling). */
    cl_send(cl, "GET / HTTP/1.1\r\nHost : t\r\n\r\nGET /never HTTP/1.1\r\nHost: t\r\n\r\n");
    cl_read_eof(cl);
}

static void script_garbage(struct client *cl)
{
    cl_send(cl, "\x16\x03\x01\x02\x00 not http\r\n\r\n");
    cl_read_eof(cl);
}

static void test_malformed_400(void **state)
{
    struct fixture *f = *state;
    struct client cl;
    run_client(&cl, f, script_malformed);
    assert_int_equal(strncmp(cl.in, "HTTP/1.1 400 Bad Request\r\n", 26), 0);
    assert_non_null(strstr(cl.in, "Connection: close\r\n"));
    assert_int_equal(count_responses(cl.in), 1);
    assert_true(cl.eof);
    run_client(&cl, f, script_garbage);
    assert_int_equal(strncmp(cl.in, "HTTP/1.1 400 ", 13), 0);
    assert_true(cl.eof);
    assert_int_equal(H.calls, 0);
}

/* ---- timeouts ---- */

static uint64_t elapsed_ms;

static void script_header_timeout(struct client *cl)
{
    uint64_t t0 = uv_hrtime();
    cl_send(cl, "GET / HTTP/1.1\r\nHost: t\r\n");
    cl_read_eof(cl);
    elapsed_ms = (uv_hrtime() - t0) / 1000000;
}

static void script_body_timeout(struct client *cl)
{
    cl_send(cl, "POST / HTTP/1.1\r\nHost: t\r\nContent-Length: 10\r\n\r\nabc");
    cl_read_eof(cl);
}

static void test_header_body_timeout_408(void **state)
{
    struct fixture *f = *state;
    struct client cl;
    run_client(&cl, f, script_header_timeout);
    assert_int_equal(strncmp(cl.in, "HTTP/1.1 408 Request Timeout\r\n", 30), 0);
    assert_non_null(strstr(cl.in, "\"code\":\"request_timeout\""));
    assert_true(cl.eof);
    assert_in_range(elapsed_ms, 250, 2000);
    run_client(&cl, f, script_body_timeout);
    assert_int_equal(strncmp(cl.in, "HTTP/1.1 408 ", 13), 0);
    assert_true(cl.eof);
    assert_int_equal(H.calls, 0);
}

static void script_idle(struct client *cl)
{
    cl_send(cl, "GET /once HTTP/1.1\r\nHost: t\r\n\r\n");
    cl_read_responses(cl, 1);
    size_t before = cl->len;
    uint64_t t0 = uv_hrtime();
    cl_read_eof(cl);
    elapsed_ms = (uv_hrtime() - t0) / 1000000;
    if (cl->len != before) /* nothing may arrive before the silent close */
        cl->eof = false;
}

static void script_silent(struct client *cl)
{
    cl_read_eof(cl); /* connected, never sends */
}

static void test_idle_close(void **state)
{
    struct fixture *f = *state;
    struct client cl;
    run_client(&cl, f, script_idle);
    assert_true(cl.eof);
    assert_in_range(elapsed_ms, 300, 2000);
    assert_int_equal(count_responses(cl.in), 1);
    run_client(&cl, f, script_silent);
    assert_true(cl.eof);
    assert_int_equal(cl.len, 0);
}

/* ---- HTTP/1.0, Connection: close, limits per connection ---- */

static void script_http10(struct client *cl)
{
    cl_send(cl, "GET /ten HTTP/1.0\r\n\r\n");
    cl_read_eof(cl);
}

static void script_http10_keepalive(struct client *cl)
{
    cl_send(cl, "GET /k1 HTTP/1.0\r\nConnection: keep-alive\r\n\r\n");
    cl_read_responses(cl, 1);
    cl_send(cl, "GET /k2 HTTP/1.0\r\nConnection: keep-alive\r\n\r\n");
    cl_read_responses(cl, 2);
}

static void test_http10(void **state)
{
    struct fixture *f = *state;
    struct client cl;
    run_client(&cl, f, script_http10);
    assert_int_equal(strncmp(cl.in, "HTTP/1.1 200 OK\r\n", 17), 0);
    assert_non_null(strstr(cl.in, "Connection: close\r\n"));
    assert_non_null(strstr(cl.in, "GET /ten q="));
    assert_true(cl.eof);
    run_client(&cl, f, script_http10_keepalive);
    assert_int_equal(count_responses(cl.in), 2);
    assert_non_null(strstr(strstr(cl.in, "/k1"), "Connection: keep-alive\r\n"));
    assert_false(cl.eof);
}

static void script_conn_close(struct client *cl)
{
    cl_send(cl, "GET /c1 HTTP/1.1\r\nHost: t\r\nConnection: close\r\n\r\n"
                "GET /never HTTP/1.1\r\nHost: t\r\n\r\n");
    cl_read_eof(cl);
}

static void script_handler_close(struct client *cl)
{
    cl_send(cl, "GET /close HTTP/1.1\r\nHost: t\r\n\r\n");
    cl_read_eof(cl);
}

static void script_upgrade(struct client *cl)
{
    cl_send(cl, "GET /ws HTTP/1.1\r\nHost: t\r\nConnection: upgrade\r\nUpgrade: websocket\r\n\r\n"
                "\x81\x05hello");
    cl_read_eof(cl);
}

static void test_connection_close(void **state)
{
    struct fixture *f = *state;
    struct client cl;
    run_client(&cl, f, script_conn_close);
    assert_int_equal(count_responses(cl.in), 1);
    assert_non_null(strstr(cl.in, "Connection: close\r\n"));
    assert_true(cl.eof);
    assert_string_equal(H.order, "/c1 ");
    /* The handler asks to close; 204 carries no Content-Length and no body. */
    run_client(&cl, f, script_handler_close);
    assert_int_equal(strncmp(cl.in, "HTTP/1.1 204 No Content\r\n", 25), 0);
    assert_null(strstr(cl.in, "Content-Length"));
    assert_non_null(strstr(cl.in, "Connection: close\r\n\r\n"));
    assert_true(cl.eof);
    /* No upgrades: the request is answered, then the connection closes. */
    run_client(&cl, f, script_upgrade);
    assert_int_equal(count_responses(cl.in), 1);
    assert_non_null(strstr(cl.in, "Connection: close\r\n"));
    assert_non_null(strstr(cl.in, "GET /ws q="));
    assert_true(cl.eof);
}

static void script_three(struct client *cl)
{
    for (int i = 1; i <= 3; i++) {
        cl_send(cl, "GET /m HTTP/1.1\r\nHost: t\r\n\r\n");
        cl_read_responses(cl, i);
    }
    cl_read_eof(cl);
}

static void test_max_requests_per_conn(void **state)
{
    struct fixture *f = *state;
    struct http_server_opts o = test_opts;
    o.max_requests_per_conn = 2;
    http_server_close(f->srv, NULL, NULL);
    start_server(f, &o);
    struct client cl;
    run_client(&cl, f, script_three);
    assert_int_equal(count_responses(cl.in), 2);
    assert_non_null(strstr(strstr(cl.in, "q="), "Connection: close\r\n"));
    assert_true(cl.eof);
    assert_int_equal(H.calls, 2);
}

/* ---- request accessors ---- */

static void script_query(struct client *cl)
{
    cl_send(cl, "GET /query?a=hello%20world&b=x+y&c=1&c=2&d&e=%zz%4&f=%41%00&g+h=sp#frag "
                "HTTP/1.1\r\nHost: t\r\n\r\n");
    cl_read_responses(cl, 1);
    cl_send(cl, "GET /query HTTP/1.1\r\nHost: t\r\n\r\n");
    cl_read_responses(cl, 2);
}

static void test_query_decoding(void **state)
{
    struct fixture *f = *state;
    struct client cl;
    run_client(&cl, f, script_query);
    /* First occurrence wins; bad escapes and %00 stay literal; keys are decoded too. */
    assert_non_null(strstr(cl.in, "a=[hello world] b=[x y] c=[1] d=[] e=[%zz%4] f=[A%00] "
                                  "g h=[sp] missing=[NULL] "));
    assert_non_null(strstr(cl.in, "a=[NULL] b=[NULL] c=[NULL] d=[NULL] e=[NULL] f=[NULL] "
                                  "g h=[NULL] missing=[NULL] "));
}

static void script_headers(struct client *cl)
{
    cl_send(cl, "GET /h HTTP/1.1\r\nhost: t\r\nX-TOKEN:   abc  \r\nAccept: a\r\n"
                "accept: b\r\n\r\n");
    cl_read_responses(cl, 1);
}

static void test_header_lookup(void **state)
{
    struct fixture *f = *state;
    struct client cl;
    run_client(&cl, f, script_headers);
    /* Any case finds the header; surrounding blanks go; repeated values are joined. */
    assert_non_null(strstr(cl.in, "GET /h q= tok=abc acc=a, b body="));
}

static void script_error(struct client *cl)
{
    cl_send(cl, "GET /error HTTP/1.1\r\nHost: t\r\n\r\n");
    cl_read_responses(cl, 1);
}

static void test_respond_error(void **state)
{
    struct fixture *f = *state;
    struct client cl;
    run_client(&cl, f, script_error);
    const char *want = "{\"error\":{\"code\":\"not_found\",\"message\":\"No call c1.\","
                       "\"field\":\"id\"}}";
    assert_int_equal(strncmp(cl.in, "HTTP/1.1 404 Not Found\r\n", 24), 0);
    assert_non_null(strstr(cl.in, "Content-Type: application/json\r\n"));
    assert_string_equal(strstr(cl.in, "\r\n\r\n") + 4, want);
    assert_int_equal(requests_total(404), 1);
}

/* ---- async answers, drain ---- */

static void script_send_and_leave(struct client *cl)
{
    cl_send(cl, "GET /async-gone HTTP/1.1\r\nHost: t\r\n\r\n");
    cl_sleep(50);
}

static void test_async_after_disconnect(void **state)
{
    struct fixture *f = *state;
    struct client cl;
    run_client(&cl, f, script_send_and_leave);
    run_for(&f->loop, 100);
    assert_int_equal(H.nstash, 1);
    struct http_request *r = H.stash[0];
    /* The request is still whole for the handler, and says the client went away. */
    assert_true(http_request_gone(r));
    assert_ptr_equal(http_request_data(r), &H);
    assert_string_equal(http_request_path(r), "/async-gone");
    char *mem = http_request_alloc(r, 100);
    memset(mem, 1, 100);
    assert_string_equal(http_request_strdup(r, "kept"), "kept");
    answer(0, "dropped");
    assert_int_equal(requests_total(200), 0);
}

static void script_idle_client(struct client *cl)
{
    cl_send(cl, "GET /idle HTTP/1.1\r\nHost: t\r\n\r\n");
    cl_read_responses(cl, 1);
    cl_read_eof(cl);
}

static void script_inflight_client(struct client *cl)
{
    cl_sleep(50);
    cl_send(cl, "GET /async-drain HTTP/1.1\r\nHost: t\r\n\r\n");
    cl_read_eof(cl);
}

static bool connect_refused(int port)
{
    struct sockaddr_in sa = {.sin_family = AF_INET, .sin_port = htons((uint16_t)port)};
    sa.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    int fd = socket(AF_INET, SOCK_STREAM, 0);
    bool refused = connect(fd, (struct sockaddr *)&sa, sizeof(sa)) < 0;
    close(fd);
    return refused;
}

static void test_drain(void **state)
{
    struct fixture *f = *state;
    struct client idle, busy;
    int port = http_server_port(f->srv);
    client_start(&idle, f, script_idle_client);
    client_start(&busy, f, script_inflight_client);
    while (H.nstash == 0)
        uv_run(&f->loop, UV_RUN_ONCE);
    run_for(&f->loop, 50);
    http_server_drain(f->srv, flag_cb, &f->drained);
    /* The idle connection closes at once; the one in flight holds the drain open. */
    client_wait(&idle, f);
    assert_true(idle.eof);
    assert_int_equal(count_responses(idle.in), 1);
    run_for(&f->loop, 50);
    assert_false(f->drained);
    assert_true(connect_refused(port));
    answer(0, "last");
    client_wait(&busy, f);
    assert_true(vp_test_run_until(&f->loop, &f->drained, 3000));
    assert_non_null(strstr(busy.in, "Connection: close\r\n"));
    assert_non_null(strstr(busy.in, "\r\n\r\nlast"));
    assert_true(busy.eof);
}

static void script_big_then_eof(struct client *cl)
{
    cl_send(cl, "GET /big HTTP/1.1\r\nHost: t\r\n\r\n");
    cl_sleep(200); /* the answer is still being sent when the drain starts */
    cl_drain_bytes(cl, BIG_BODY);
    cl->len = 0;
    cl_read_eof(cl);
}

/* Draining closes idle connections only after the answer they are sending. */
static void test_drain_flushes_answer(void **state)
{
    struct fixture *f = *state;
    struct client cl;
    client_start_opt(&cl, f, script_big_then_eof, true);
    while (H.calls == 0)
        uv_run(&f->loop, UV_RUN_ONCE);
    run_for(&f->loop, 20);
    http_server_drain(f->srv, flag_cb, &f->drained);
    client_wait(&cl, f);
    assert_true(vp_test_run_until(&f->loop, &f->drained, 3000));
    assert_true(cl.eof);
    assert_true(cl.total + cl.len > BIG_BODY + 100);
    assert_true(cl.len > 0 && cl.in[cl.len - 1] == 'b'); /* the body's last bytes came */
}

static void script_two_conns(struct client *cl)
{
    cl_send(cl, "GET /first HTTP/1.1\r\nHost: t\r\n\r\n");
    cl_read_responses(cl, 1);
    struct client second = {.port = cl->port};
    cl_connect(&second);
    cl_send(&second, "GET /second HTTP/1.1\r\nHost: t\r\n\r\n");
    cl_read_eof(&second);
    close(second.fd);
    /* The refused one answered nothing; record it after what the first one got. */
    if (second.eof && second.len == 0)
        strcat(cl->in, "[second refused]");
}

static void test_max_connections(void **state)
{
    struct fixture *f = *state;
    struct http_server_opts o = test_opts;
    o.max_connections = 1;
    http_server_close(f->srv, NULL, NULL);
    start_server(f, &o);
    struct client cl;
    run_client(&cl, f, script_two_conns);
    assert_non_null(strstr(cl.in, "[second refused]"));
    assert_string_equal(H.order, "/first ");
}

static void test_metrics_exposed(void **state)
{
    struct fixture *f = *state;
    struct client cl;
    run_client(&cl, f, script_keepalive);
    run_client(&cl, f, script_error);
    struct buf b = BUF_INIT;
    assert_int_equal(metrics_render(&b), 0);
    assert_non_null(strstr(b.data,
                           "# TYPE voepy_http_requests_total counter\n"
                           "voepy_http_requests_total{server=\"test\",status=\"200\"} 2\n"
                           "voepy_http_requests_total{server=\"test\",status=\"404\"} 1\n"));
    assert_non_null(
        strstr(b.data, "voepy_http_request_duration_seconds_count{server=\"test\"} 3\n"));
    assert_non_null(strstr(b.data, "# TYPE voepy_http_connections gauge\n"));
    buf_free(&b);
    /* Both clients are gone: once the server saw that, no connection is counted. */
    run_for(&f->loop, 50);
    assert_int_equal(metric_value(metrics_gauge("voepy_http_connections", "", "server=\"test\"")),
                     0);
}

static void test_create_bad_address(void **state)
{
    struct fixture *f = *state;
    struct http_server *s = NULL;
    struct http_server_opts o = {.host = "not-an-ip"};
    assert_int_equal(http_server_create(&s, &f->loop, &o, handler, NULL), VP_E_CONFIG);
    assert_null(s);
    o.host = "127.0.0.1";
    o.port = http_server_port(f->srv); /* taken */
    assert_int_equal(http_server_create(&s, &f->loop, &o, handler, NULL), VP_E_IO);
    assert_null(s);
    assert_string_equal(http_status_text(404), "Not Found");
    assert_string_equal(http_status_text(799), "Unknown");
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(test_basic_get_post_head, setup, teardown),
        cmocka_unit_test_setup_teardown(test_keepalive_reuse, setup, teardown),
        cmocka_unit_test_setup_teardown(test_pipeline_async_first, setup, teardown),
        cmocka_unit_test_setup_teardown(test_pipeline_many_in_order, setup, teardown),
        cmocka_unit_test_setup_teardown(test_pipeline_slow_reader, setup, teardown),
        cmocka_unit_test_setup_teardown(test_chunked_body, setup, teardown),
        cmocka_unit_test_setup_teardown(test_content_length_too_big, setup, teardown),
        cmocka_unit_test_setup_teardown(test_expect_continue, setup, teardown),
        cmocka_unit_test_setup_teardown(test_headers_too_large, setup, teardown),
        cmocka_unit_test_setup_teardown(test_malformed_400, setup, teardown),
        cmocka_unit_test_setup_teardown(test_header_body_timeout_408, setup, teardown),
        cmocka_unit_test_setup_teardown(test_idle_close, setup, teardown),
        cmocka_unit_test_setup_teardown(test_http10, setup, teardown),
        cmocka_unit_test_setup_teardown(test_connection_close, setup, teardown),
        cmocka_unit_test_setup_teardown(test_max_requests_per_conn, setup, teardown),
        cmocka_unit_test_setup_teardown(test_query_decoding, setup, teardown),
        cmocka_unit_test_setup_teardown(test_header_lookup, setup, teardown),
        cmocka_unit_test_setup_teardown(test_respond_error, setup, teardown),
        cmocka_unit_test_setup_teardown(test_async_after_disconnect, setup, teardown),
        cmocka_unit_test_setup_teardown(test_drain, setup, teardown),
        cmocka_unit_test_setup_teardown(test_drain_flushes_answer, setup, teardown),
        cmocka_unit_test_setup_teardown(test_max_connections, setup, teardown),
        cmocka_unit_test_setup_teardown(test_metrics_exposed, setup, teardown),
        cmocka_unit_test_setup_teardown(test_create_bad_address, setup, teardown),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
