/*
 * Unit tests for libcommon's redis wrapper against real Redis servers: the one from
 * tests/with-services.sh, and private redis-server processes this test spawns (and
 * stops) itself on ports chosen at run time.
 */
#include "vp_test.h"

#include <hiredis/hiredis.h>
#include <signal.h>
#include <string.h>
#include <unistd.h>

#include "voepy/err.h"
#include "voepy/metrics.h"
#include "voepy/redis.h"

struct result {
    bool done;
    int calls;
    int status;
    int type;
    long long integer;
    char str[256];
    size_t len;
};

struct watcher {
    int ups, downs;
};

static char prefix[64];

static void result_cb(int status, struct redisReply *reply, void *arg)
{
    struct result *r = arg;
    r->calls++;
    r->done = true;
    r->status = status;
    r->type = reply ? reply->type : -1;
    if (reply && (reply->type == REDIS_REPLY_STRING || reply->type == REDIS_REPLY_STATUS ||
                  reply->type == REDIS_REPLY_ERROR)) {
        r->len = reply->len < sizeof(r->str) ? reply->len : sizeof(r->str) - 1;
        memcpy(r->str, reply->str, r->len);
        r->str[r->len] = '\0';
    }
    if (reply)
        r->integer = reply->integer;
    /* The contract: a reply only with status 0. */
    if ((status == 0) != (reply != NULL))
        r->calls += 1000;
}

static void watch_cb(bool connected, void *arg)
{
    struct watcher *w = arg;
    if (connected)
        w->ups++;
    else
        w->downs++;
}

static void flag_cb(void *arg)
{
    *(bool *)arg = true;
}

static bool int_reached(uv_loop_t *loop, const int *v, int want, unsigned ms)
{
    uint64_t end = uv_now(loop) + ms;
    while (*v < want && uv_now(loop) < end) {
        bool never = false;
        vp_test_run_until(loop, &never, 10);
    }
    return *v >= want;
}

static void run_for(uv_loop_t *loop, unsigned ms)
{
    bool never = false;
    vp_test_run_until(loop, &never, ms);
}

static int test_port(void)
{
    return atoi(vp_test_env("VOEPY_TEST_REDIS_PORT"));
}

static struct redis_opts test_opts(const char *name)
{
    return (struct redis_opts){.host = vp_test_env("VOEPY_TEST_REDIS_HOST"),
                               .port = test_port(),
                               .name = name,
                               .connect_timeout_ms = 1000,
                               .cmd_timeout_ms = 2000};
}

static struct redis *open_ready(uv_loop_t *loop, const struct redis_opts *o, struct watcher *w)
{
    struct redis *r = NULL;
    assert_int_equal(redis_create(&r, loop, o), 0);
    redis_on_state(r, watch_cb, w);
    int want = w->ups + 1;
    assert_true(int_reached(loop, &w->ups, want, 3000));
    assert_true(redis_connected(r));
    return r;
}

static void close_wait(uv_loop_t *loop, struct redis *r)
{
    bool closed = false;
    redis_close(r, flag_cb, &closed);
    assert_true(vp_test_run_until(loop, &closed, 3000));
}

static struct result cmd_sync(uv_loop_t *loop, struct redis *r, int argc, const char **argv)
{
    struct result res = {0};
    assert_int_equal(redis_cmdv(r, result_cb, &res, argc, argv, NULL), 0);
    assert_true(vp_test_run_until(loop, &res.done, 3000));
    assert_int_equal(res.calls, 1);
    return res;
}

/* A port nobody listens on right now (the kernel picks it). */
static int free_port(uv_loop_t *loop)
{
    uv_tcp_t t;
    struct sockaddr_in sa;
    uv_ip4_addr("127.0.0.1", 0, &sa);
    uv_tcp_init(loop, &t);
    assert_int_equal(uv_tcp_bind(&t, (const struct sockaddr *)&sa, 0), 0);
    struct sockaddr_storage ss;
    int len = sizeof(ss);
    assert_int_equal(uv_tcp_getsockname(&t, (struct sockaddr *)&ss, &len), 0);
    int port = ntohs(((struct sockaddr_in *)&ss)->sin_port);
    uv_close((uv_handle_t *)&t, NULL);
    run_for(loop, 1);
    return port;
}

/* ---- a private redis-server, started and stopped by this test ---------------------- */

struct server {
    uv_process_t proc;
    bool running, exited;
};

static struct server *live_server; /* for the teardown if a test fails half-way */

static void server_exit_cb(uv_process_t *p, int64_t status, int sig)
{
    struct server *s = p->data;
    s->running = false;
    s->exited = true;
    uv_close((uv_handle_t *)p, NULL);
}

static void server_start(uv_loop_t *loop, struct server *s, int port, const char *password)
{
    char portbuf[16];
    snprintf(portbuf, sizeof(portbuf), "%d", port);
    const char *dir = getenv("VOEPY_TEST_TMP") ? getenv("VOEPY_TEST_TMP") : "/tmp";
    char *args[] = {"redis-server",
                    "--port",
                    portbuf,
                    "--bind",
                    "127.0.0.1",
                    "--save",
                    "",
                    "--appendonly",
                    "no",
                    "--dir",
                    (char *)dir,
                    "--dbfilename",
                    "test_redis_private.rdb",
                    "--requirepass",
                    (char *)password,
                    NULL};
    uv_stdio_container_t stdio[3] = {
        {.flags = UV_IGNORE}, {.flags = UV_IGNORE}, {.flags = UV_INHERIT_FD, .data.fd = 2}};
    uv_process_options_t po = {.exit_cb = server_exit_cb,
                               .file = "redis-server",
                               .args = args,
                               .stdio_count = 3,
                               .stdio = stdio};
    *s = (struct server){.running = true};
    s->proc.data = s;
    assert_int_equal(uv_spawn(loop, &s->proc, &po), 0);
    live_server = s;
}

static int teardown_server(void **state)
{
    if (live_server && live_server->running)
        kill(live_server->proc.pid, SIGKILL); /* only the child this test started */
    live_server = NULL;
    return 0;
}

/* ---- tests ------------------------------------------------------------------------- */

static void test_bad_opts(void **state)
{
    uv_loop_t loop;
    uv_loop_init(&loop);
    struct redis *r = (struct redis *)0x1;
    struct redis_opts bad[] = {
        {.port = -1},
        {.port = 65536},
        {.host = ""},
        {.name = "a name"},
        {.name = "quo\"te"},
        {.password = ""},
        {.name = "0123456789012345678901234567890123456789012345678901234567890123456789"},
    };
    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
        assert_int_equal(redis_create(&r, &loop, &bad[i]), VP_E_INVALID_PARAMETER);
        assert_ptr_equal(r, (struct redis *)0x1); /* untouched on failure */
    }
    vp_test_loop_done(&loop);
}

static void test_commands(void **state)
{
    uv_loop_t loop;
    uv_loop_init(&loop);
    char name[80], key[96];
    snprintf(name, sizeof(name), "t-cmd-%d", getpid());
    snprintf(key, sizeof(key), "%s:bin", prefix);
    struct redis_opts o = test_opts(name);
    struct redis *r = NULL;
    struct watcher w = {0};
    assert_int_equal(redis_create(&r, &loop, &o), 0);
    /* Not connected yet: refused at once, the callback never runs. */
    struct result early = {0};
    assert_false(redis_connected(r));
    assert_int_equal(redis_cmd(r, result_cb, &early, "PING"), VP_E_UNAVAILABLE);
    redis_on_state(r, watch_cb, &w);
    assert_true(int_reached(&loop, &w.ups, 1, 3000));
    assert_int_equal(early.calls, 0);

    /* Binary-safe values through the argv form. */
    const char val[] = {'a', '\0', 'b', '\r', '\n'};
    const char *argv[] = {"SET", key, val};
    const size_t lens[] = {3, strlen(key), sizeof(val)};
    struct result set = {0};
    assert_int_equal(redis_cmdv(r, result_cb, &set, 3, argv, lens), 0);
    assert_true(vp_test_run_until(&loop, &set.done, 2000));
    assert_int_equal(set.status, 0);
    assert_string_equal(set.str, "OK");
    struct result get = cmd_sync(&loop, r, 2, (const char *[]){"GET", key});
    assert_int_equal(get.type, REDIS_REPLY_STRING);
    assert_int_equal(get.len, sizeof(val));
    assert_memory_equal(get.str, val, sizeof(val));

    /* printf-style form, integers, and an error reply (status 0, type error). */
    struct result inc = {0};
    assert_int_equal(redis_cmd(r, result_cb, &inc, "INCRBY %s:n %d", prefix, 41), 0);
    assert_true(vp_test_run_until(&loop, &inc.done, 2000));
    assert_int_equal(inc.integer, 41);
    struct result bad = cmd_sync(&loop, r, 2, (const char *[]){"INCR", key});
    assert_int_equal(bad.status, 0);
    assert_int_equal(bad.type, REDIS_REPLY_ERROR);
    struct result gn = cmd_sync(&loop, r, 2, (const char *[]){"CLIENT", "GETNAME"});
    assert_string_equal(gn.str, name);

    /* Commands that break one-reply-per-command, and malformed ones, are refused. */
    assert_int_equal(redis_cmd(r, result_cb, &early, "SUBSCRIBE ch"), VP_E_INVALID_PARAMETER);
    assert_int_equal(redis_cmd(r, result_cb, &early, "psubscribe ch*"), VP_E_INVALID_PARAMETER);
    assert_int_equal(redis_cmd(r, result_cb, &early, "MONITOR"), VP_E_INVALID_PARAMETER);
    assert_int_equal(redis_cmd(r, result_cb, &early, ""), VP_E_INVALID_PARAMETER);
    assert_int_equal(redis_cmdv(r, result_cb, &early, 0, argv, NULL), VP_E_INVALID_PARAMETER);
    /* A callback-less command still works (and is still answered by hiredis). */
    assert_int_equal(redis_cmd(r, NULL, NULL, "DEL %s %s:n", key, prefix), 0);
    struct result ex = cmd_sync(&loop, r, 2, (const char *[]){"EXISTS", key});
    assert_int_equal(ex.integer, 0);
    assert_int_equal(early.calls, 0);

    close_wait(&loop, r);
    assert_int_equal(w.downs, 0); /* close does not report a disconnect */
    vp_test_loop_done(&loop);
}

/* Nobody listens, then a server (with a password) appears on that port. */
static void test_refused_then_recovers(void **state)
{
    uv_loop_t loop;
    uv_loop_init(&loop);
    int port = free_port(&loop);
    struct redis_opts o = {.host = "127.0.0.1",
                           .port = port,
                           .password = "s3cret",
                           .name = "t-recover",
                           .connect_timeout_ms = 500,
                           .cmd_timeout_ms = 2000};
    struct redis *r = NULL;
    struct watcher w = {0};
    assert_int_equal(redis_create(&r, &loop, &o), 0);
    redis_on_state(r, watch_cb, &w);
    run_for(&loop, 400);
    assert_false(redis_connected(r));
    struct result res = {0};
    assert_int_equal(redis_cmd(r, result_cb, &res, "PING"), VP_E_UNAVAILABLE);
    assert_int_equal(w.ups + w.downs, 0);

    struct server srv;
    server_start(&loop, &srv, port, "s3cret");
    assert_true(int_reached(&loop, &w.ups, 1, 8000)); /* backoff is capped at 5 s */
    struct result gn = cmd_sync(&loop, r, 2, (const char *[]){"CLIENT", "GETNAME"});
    assert_string_equal(gn.str, "t-recover");

    /* A client with the wrong password never becomes ready. */
    struct redis_opts wrong = o;
    wrong.password = "wrong";
    wrong.name = "t-wrong";
    struct redis *r2 = NULL;
    struct watcher w2 = {0};
    assert_int_equal(redis_create(&r2, &loop, &wrong), 0);
    redis_on_state(r2, watch_cb, &w2);
    run_for(&loop, 400);
    assert_int_equal(w2.ups, 0);
    close_wait(&loop, r2);

    /* The server goes away under a pending command: VP_E_CLOSED, then a disconnect. */
    struct result shut = {0};
    assert_int_equal(redis_cmd(r, result_cb, &shut, "SHUTDOWN NOSAVE"), 0);
    assert_true(vp_test_run_until(&loop, &shut.done, 3000));
    assert_int_equal(shut.status, VP_E_CLOSED);
    assert_true(int_reached(&loop, &w.downs, 1, 2000));
    assert_false(redis_connected(r));
    assert_true(vp_test_run_until(&loop, &srv.exited, 5000));
    live_server = NULL;
    run_for(&loop, 200); /* a few refused attempts */
    assert_int_equal(w.ups, 1);
    assert_int_equal(shut.calls, 1);
    close_wait(&loop, r);
    vp_test_loop_done(&loop);
}

static void test_cmd_timeout(void **state)
{
    uv_loop_t loop;
    uv_loop_init(&loop);
    struct redis_opts o = test_opts("t-timeout");
    o.cmd_timeout_ms = 200;
    struct watcher w = {0};
    struct redis *r = open_ready(&loop, &o, &w);
    char key[96];
    snprintf(key, sizeof(key), "%s:never", prefix);
    struct result slow = {0}, behind = {0};
    uint64_t t0 = uv_now(&loop);
    assert_int_equal(redis_cmd(r, result_cb, &slow, "BLPOP %s 2", key), 0);
    assert_int_equal(redis_cmd(r, result_cb, &behind, "PING"), 0);
    assert_true(vp_test_run_until(&loop, &slow.done, 2000));
    uint64_t took = uv_now(&loop) - t0;
    assert_int_equal(slow.status, VP_E_TIMEOUT);
    assert_true(took >= 190 && took < 1000);
    assert_true(behind.done);
    assert_int_equal(behind.status, VP_E_CLOSED);
    /* The connection was recycled: a disconnect, then a fresh connection. */
    assert_int_equal(w.downs, 1);
    assert_true(int_reached(&loop, &w.ups, 2, 3000));
    struct result ping = cmd_sync(&loop, r, 1, (const char *[]){"PING"});
    assert_string_equal(ping.str, "PONG");
    run_for(&loop, 100);
    assert_int_equal(slow.calls, 1);
    assert_int_equal(behind.calls, 1);
    close_wait(&loop, r);
    vp_test_loop_done(&loop);
}

static void test_reconnect_after_kill(void **state)
{
    uv_loop_t loop;
    uv_loop_init(&loop);
    struct redis_opts oa = test_opts("t-victim"), ob = test_opts("t-killer");
    struct watcher wa = {0}, wb = {0};
    struct redis *a = open_ready(&loop, &oa, &wa);
    struct redis *b = open_ready(&loop, &ob, &wb);
    struct result id1 = cmd_sync(&loop, a, 2, (const char *[]){"CLIENT", "ID"});
    char key[96], idbuf[32];
    snprintf(key, sizeof(key), "%s:blocked", prefix);
    snprintf(idbuf, sizeof(idbuf), "%lld", id1.integer);
    struct result blocked = {0};
    assert_int_equal(redis_cmd(a, result_cb, &blocked, "BLPOP %s 1", key), 0);
    struct result kill = cmd_sync(&loop, b, 4, (const char *[]){"CLIENT", "KILL", "ID", idbuf});
    assert_int_equal(kill.integer, 1);
    assert_true(vp_test_run_until(&loop, &blocked.done, 2000));
    assert_int_equal(blocked.status, VP_E_CLOSED);
    assert_true(int_reached(&loop, &wa.downs, 1, 2000));
    assert_true(int_reached(&loop, &wa.ups, 2, 3000));
    struct result id2 = cmd_sync(&loop, a, 2, (const char *[]){"CLIENT", "ID"});
    assert_true(id2.integer != id1.integer);
    struct result gn = cmd_sync(&loop, a, 2, (const char *[]){"CLIENT", "GETNAME"});
    assert_string_equal(gn.str, "t-victim"); /* the handshake ran again */
    assert_int_equal(wb.downs, 0);
    const char *lbl = "name=\"t-victim\"";
    struct metric *up = metrics_gauge("voepy_redis_connected", "", lbl);
    assert_int_equal(metric_value(up), 1);
    assert_int_equal(metric_value(metrics_counter("voepy_redis_reconnects_total", "", lbl)), 1);
    close_wait(&loop, a);
    assert_int_equal(metric_value(up), 0);
    close_wait(&loop, b);
    vp_test_loop_done(&loop);
}

struct closer {
    struct redis *r;
    struct result res;
    bool closed;
};

static void close_from_cb(int status, struct redisReply *reply, void *arg)
{
    struct closer *c = arg;
    result_cb(status, reply, &c->res);
    redis_close(c->r, flag_cb, &c->closed);
}

static void test_close_pending(void **state)
{
    uv_loop_t loop;
    uv_loop_init(&loop);
    struct redis_opts o = test_opts("t-close");
    struct watcher w = {0};
    struct redis *r = open_ready(&loop, &o, &w);
    char key[96];
    snprintf(key, sizeof(key), "%s:never", prefix);
    struct result res[3] = {{0}};
    assert_int_equal(redis_cmd(r, result_cb, &res[0], "BLPOP %s 2", key), 0);
    assert_int_equal(redis_cmd(r, result_cb, &res[1], "PING"), 0);
    assert_int_equal(redis_cmd(r, result_cb, &res[2], "PING"), 0);
    bool closed = false;
    redis_close(r, flag_cb, &closed);
    assert_true(vp_test_run_until(&loop, &closed, 2000));
    for (int i = 0; i < 3; i++) {
        assert_int_equal(res[i].calls, 1);
        assert_int_equal(res[i].status, VP_E_CANCELED);
    }
    assert_int_equal(w.downs, 0);

    /* Closed from inside a reply callback: the command behind it is canceled. */
    struct closer cl = {0};
    struct result after = {0};
    cl.r = open_ready(&loop, &o, &w);
    assert_int_equal(redis_cmd(cl.r, close_from_cb, &cl, "PING"), 0);
    assert_int_equal(redis_cmd(cl.r, result_cb, &after, "BLPOP %s 2", key), 0);
    assert_true(vp_test_run_until(&loop, &cl.closed, 2000));
    assert_int_equal(cl.res.status, 0);
    assert_int_equal(after.calls, 1);
    assert_int_equal(after.status, VP_E_CANCELED);

    /* Closed while still connecting, before the loop ever ran for it. */
    struct redis *r3 = NULL;
    assert_int_equal(redis_create(&r3, &loop, &o), 0);
    close_wait(&loop, r3);
    vp_test_loop_done(&loop);
}

static void test_resolve_localhost(void **state)
{
    uv_loop_t loop;
    uv_loop_init(&loop);
    struct redis_opts o = test_opts("t-localhost");
    o.host = "localhost";
    struct watcher w = {0};
    struct redis *r = open_ready(&loop, &o, &w);
    struct result ping = cmd_sync(&loop, r, 1, (const char *[]){"PING"});
    assert_string_equal(ping.str, "PONG");
    close_wait(&loop, r);
    /* Closed while the lookup is still running. */
    struct redis *r2 = NULL;
    assert_int_equal(redis_create(&r2, &loop, &o), 0);
    close_wait(&loop, r2);
    vp_test_loop_done(&loop);
}

/* A TCP listener that accepts and never answers: the handshake must time out. */
struct mute {
    uv_tcp_t server;
    uv_tcp_t clients[16];
    int accepted;
};

static void mute_conn_cb(uv_stream_t *s, int status)
{
    struct mute *m = s->data;
    if (status < 0 || m->accepted >= 16)
        return;
    uv_tcp_init(s->loop, &m->clients[m->accepted]);
    if (uv_accept(s, (uv_stream_t *)&m->clients[m->accepted]) == 0)
        m->accepted++;
    else
        uv_close((uv_handle_t *)&m->clients[m->accepted], NULL);
}

static void test_connect_timeout(void **state)
{
    uv_loop_t loop;
    uv_loop_init(&loop);
    struct mute m = {.accepted = 0};
    struct sockaddr_in sa;
    uv_ip4_addr("127.0.0.1", 0, &sa);
    uv_tcp_init(&loop, &m.server);
    m.server.data = &m;
    assert_int_equal(uv_tcp_bind(&m.server, (const struct sockaddr *)&sa, 0), 0);
    assert_int_equal(uv_listen((uv_stream_t *)&m.server, 16, mute_conn_cb), 0);
    struct sockaddr_storage ss;
    int len = sizeof(ss);
    uv_tcp_getsockname(&m.server, (struct sockaddr *)&ss, &len);
    struct redis_opts o = {.host = "127.0.0.1",
                           .port = ntohs(((struct sockaddr_in *)&ss)->sin_port),
                           .connect_timeout_ms = 150};
    struct redis *r = NULL;
    struct watcher w = {0};
    assert_int_equal(redis_create(&r, &loop, &o), 0);
    redis_on_state(r, watch_cb, &w);
    /* Attempt 1 times out at 150 ms, attempt 2 starts 100 ms later. */
    assert_true(int_reached(&loop, &m.accepted, 2, 2000));
    assert_int_equal(w.ups, 0);
    assert_false(redis_connected(r));
    close_wait(&loop, r);
    for (int i = 0; i < m.accepted; i++)
        uv_close((uv_handle_t *)&m.clients[i], NULL);
    uv_close((uv_handle_t *)&m.server, NULL);
    vp_test_loop_done(&loop);
}

int main(void)
{
    signal(SIGPIPE, SIG_IGN);
    snprintf(prefix, sizeof(prefix), "test_redis:%d", getpid());
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_bad_opts),
        cmocka_unit_test(test_commands),
        cmocka_unit_test_teardown(test_refused_then_recovers, teardown_server),
        cmocka_unit_test(test_cmd_timeout),
        cmocka_unit_test(test_reconnect_after_kill),
        cmocka_unit_test(test_close_pending),
        cmocka_unit_test(test_resolve_localhost),
        cmocka_unit_test(test_connect_timeout),
    };
    int failed = cmocka_run_group_tests(tests, NULL, NULL);
    metrics_reset();
    return failed;
}
