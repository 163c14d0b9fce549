/*
 * fuzz_http.c - the HTTP server's parser and connection handling, fed through a real
 * loopback socket: each input is written to a fresh connection, the write side is shut,
 * and the loop runs until the server closes the connection. Small limits make the
 * 413/431/400 paths reachable; the handler reads every accessor so that request data is
 * exercised too.
 */
#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <netinet/in.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>
#include <uv.h>

#include "fuzz.h"
#include "voepy/http_server.h"
#include "voepy/log.h"

static uv_loop_t loop;
static struct http_server *srv;

static void handler(struct http_request *r, void *arg)
{
    (void)arg;
    size_t n;
    const char *body = http_request_body(r, &n);
    const char *q = http_request_query_param(r, "a");
    const char *h = http_request_header(r, "content-type");
    size_t total = n + strlen(http_request_path(r)) + strlen(http_request_query(r)) +
                   (q ? strlen(q) : 0) + (h ? strlen(h) : 0);
    http_response_header(r, "X-Len", total % 2 ? "odd" : "even");
    http_respond(r, 200, "text/plain", body, n);
}

static void init(void)
{
    vlog_init("fuzz", NULL, VLOG_ERROR);
    uv_loop_init(&loop);
    struct http_server_opts o = {.host = "127.0.0.1",
                                 .max_header_bytes = 2048,
                                 .max_body_bytes = 4096,
                                 .header_timeout_ms = 500,
                                 .body_timeout_ms = 500,
                                 .idle_timeout_ms = 500};
    if (http_server_create(&srv, &loop, &o, handler, NULL) != 0)
        abort();
}

struct client {
    uv_poll_t poll;
    int fd;
    const uint8_t *data;
    size_t size, off;
    bool done;
};

static void client_cb(uv_poll_t *p, int status, int events)
{
    struct client *c = p->data;
    if (status < 0) {
        c->done = true;
        return;
    }
    if ((events & UV_WRITABLE) && c->off < c->size) {
        ssize_t w = write(c->fd, c->data + c->off, c->size - c->off);
        if (w > 0)
            c->off += (size_t)w;
        else if (w < 0 && errno != EAGAIN && errno != EINTR)
            c->off = c->size;
        if (c->off == c->size) {
            shutdown(c->fd, SHUT_WR);
            uv_poll_start(p, UV_READABLE, client_cb);
        }
    }
    if (events & UV_READABLE) {
        char buf[8192];
        ssize_t r = read(c->fd, buf, sizeof(buf));
        if (r == 0 || (r < 0 && errno != EAGAIN && errno != EINTR))
            c->done = true;
    }
}

/* Wait until the loopback connection is up (the server's loop is not running: the
 * kernel completes the handshake from its backlog). */
static void wait_connected(int fd)
{
    struct pollfd pfd = {.fd = fd, .events = POLLOUT};
    while (poll(&pfd, 1, -1) < 0)
        if (errno != EINTR)
            abort();
    int err = 0;
    socklen_t len = sizeof(err);
    if (getsockopt(fd, SOL_SOCKET, SO_ERROR, &err, &len) != 0 || err != 0)
        abort();
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (!srv)
        init();
    struct client c = {.data = data, .size = size};
    c.fd = socket(AF_INET, SOCK_STREAM, 0);
    struct sockaddr_in a = {.sin_family = AF_INET, .sin_port = htons(http_server_port(srv))};
    a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    /* Non-blocking connect, waited for with poll(): libFuzzer's SIGALRM (its -timeout
     * check) may interrupt a blocking connect(), which must not count as a crash. */
    fcntl(c.fd, F_SETFL, O_NONBLOCK);
    if (connect(c.fd, (struct sockaddr *)&a, sizeof(a)) != 0 && errno != EINPROGRESS &&
        errno != EINTR)
        abort();
    wait_connected(c.fd);
    if (size == 0)
        shutdown(c.fd, SHUT_WR);
    uv_poll_init(&loop, &c.poll, c.fd);
    c.poll.data = &c;
    uv_poll_start(&c.poll, size ? UV_WRITABLE | UV_READABLE : UV_READABLE, client_cb);
    while (!c.done)
        uv_run(&loop, UV_RUN_ONCE);
    uv_close((uv_handle_t *)&c.poll, NULL);
    uv_run(&loop, UV_RUN_NOWAIT);
    close(c.fd);
    return 0;
}
