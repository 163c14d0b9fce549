/*
 * Unit tests for libcommon's node registry against the real Redis from
 * tests/with-services.sh. Service names carry the pid and the test name, so tests never
 * see each other's nodes.
 */
#include "vp_test.h"

#include <hiredis/hiredis.h>
#include <signal.h>
#include <string.h>
#include <unistd.h>

#include "voepy/err.h"
#include "voepy/nodes.h"
#include "voepy/redis.h"
#include "voepy/vtime.h"

static uv_loop_t loop;
static struct redis *r;
static bool connected;

static void flag_cb(void *arg)
{
    *(bool *)arg = true;
}

static void state_cb(bool up, void *arg)
{
    connected = up;
}

static void run_for(unsigned ms)
{
    bool never = false;
    vp_test_run_until(&loop, &never, ms);
}

static void svc_name(char *out, size_t n, const char *test)
{
    snprintf(out, n, "tnodes-%d-%s", getpid(), test);
}

/* Run until service has exactly `want` alive nodes in n's view. */
static bool alive_becomes(struct nodes *n, const char *svc, size_t want, unsigned ms)
{
    const char *ids[16];
    uint64_t end = uv_now(&loop) + ms;
    while (nodes_alive(n, svc, ids, 16) != want && uv_now(&loop) < end)
        run_for(10);
    return nodes_alive(n, svc, ids, 16) == want;
}

static struct nodes *node_open(const char *svc, const char *id, const char *const *info,
                               unsigned interval, unsigned dead_after)
{
    struct nodes_opts o = {.service = svc,
                           .node_id = id,
                           .info = info,
                           .interval_ms = interval,
                           .dead_after_ms = dead_after};
    struct nodes *n = NULL;
    assert_int_equal(nodes_create(&n, &loop, r, &o), 0);
    return n;
}

static void node_close(struct nodes *n)
{
    bool closed = false;
    nodes_close(n, flag_cb, &closed);
    assert_true(vp_test_run_until(&loop, &closed, 3000));
}

struct reply {
    bool done;
    int status, type;
    long long integer;
    size_t elements;
    char strs[8][64];
};

static void reply_cb(int status, struct redisReply *rep, void *arg)
{
    struct reply *x = arg;
    x->done = true;
    x->status = status;
    if (!rep)
        return;
    x->type = rep->type;
    x->integer = rep->integer;
    x->elements = rep->elements;
    for (size_t i = 0; rep->type == REDIS_REPLY_ARRAY && i < rep->elements && i < 8; i++)
        if (rep->element[i]->str)
            snprintf(x->strs[i], sizeof(x->strs[i]), "%s", rep->element[i]->str);
}

static struct reply cmdv_sync(int argc, const char **argv)
{
    struct reply x = {0};
    assert_int_equal(redis_cmdv(r, reply_cb, &x, argc, argv, NULL), 0);
    assert_true(vp_test_run_until(&loop, &x.done, 3000));
    assert_int_equal(x.status, 0);
    return x;
}

static int setup(void **state)
{
    uv_loop_init(&loop);
    struct redis_opts o = {.host = vp_test_env("VOEPY_TEST_REDIS_HOST"),
                           .port = atoi(vp_test_env("VOEPY_TEST_REDIS_PORT")),
                           .name = "t-nodes",
                           .cmd_timeout_ms = 2000};
    connected = false;
    if (redis_create(&r, &loop, &o) != 0)
        return -1;
    redis_on_state(r, state_cb, NULL);
    return vp_test_run_until(&loop, &connected, 3000) ? 0 : -1;
}

static int teardown(void **state)
{
    bool closed = false;
    redis_close(r, flag_cb, &closed);
    vp_test_run_until(&loop, &closed, 3000);
    vp_test_loop_done(&loop);
    return 0;
}

static void test_bad_opts(void **state)
{
    const char *odd[] = {"addr", "1.2.3.4", "orphan", NULL};
    struct nodes_opts bad[] = {
        {.service = NULL},
        {.service = ""},
        {.service = "svc", .node_id = "a b"},
        {.service = "svc", .node_id = ""},
        {.service = "svc", .interval_ms = 1000, .dead_after_ms = 1000},
        {.service = "svc", .interval_ms = 6000}, /* default dead_after 5000 < interval */
        {.service = "svc", .node_id = "a", .info = odd},
    };
    struct nodes *n = NULL;
    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
        assert_int_equal(nodes_create(&n, &loop, r, &bad[i]), VP_E_INVALID_PARAMETER);
        assert_null(n);
    }
    struct nodes_opts ok = {.service = "svc"};
    assert_int_equal(nodes_create(&n, &loop, NULL, &ok), VP_E_INVALID_PARAMETER);
    assert_int_equal(nodes_create(&n, &loop, r, NULL), VP_E_INVALID_PARAMETER);
    assert_null(n);
}

/* Two nodes heartbeat; one closes cleanly and disappears at once, details and all. */
static void test_two_nodes(void **state)
{
    char svc[64], hkey_a[128], hkey_b[128], zkey[128];
    svc_name(svc, sizeof(svc), "two");
    snprintf(hkey_a, sizeof(hkey_a), "voepy:node:%s:a", svc);
    snprintf(hkey_b, sizeof(hkey_b), "voepy:node:%s:b", svc);
    snprintf(zkey, sizeof(zkey), "voepy:nodes:%s", svc);
    const char *info[] = {"addr", "127.0.0.1:5060", "started_at", "2026-01-01T00:00:00.000Z", NULL};
    struct nodes *a = node_open(svc, "a", info, 100, 500);
    struct nodes *b = node_open(svc, "b", NULL, 100, 500);
    assert_true(alive_becomes(a, svc, 2, 2000));
    assert_true(alive_becomes(b, svc, 2, 2000));
    const char *ids[4];
    assert_int_equal(nodes_alive(a, svc, ids, 4), 2);
    assert_string_equal(ids[0], "a");
    assert_string_equal(ids[1], "b");
    assert_int_equal(nodes_alive(a, svc, ids, 1), 1); /* bounded by max */

    struct reply addr = cmdv_sync(3, (const char *[]){"HGET", hkey_a, "addr"});
    assert_int_equal(addr.type, REDIS_REPLY_STRING);
    struct reply hb = cmdv_sync(3, (const char *[]){"HGET", hkey_a, "heartbeat_ms"});
    assert_int_equal(hb.type, REDIS_REPLY_STRING);
    struct reply ttl = cmdv_sync(2, (const char *[]){"PTTL", hkey_a});
    assert_true(ttl.integer > 0 && ttl.integer <= 1000); /* 2 * dead_after_ms */

    node_close(b);
    assert_true(alive_becomes(a, svc, 1, 1000)); /* well before dead_after_ms */
    assert_int_equal(nodes_alive(a, svc, ids, 4), 1);
    assert_string_equal(ids[0], "a");
    assert_int_equal(cmdv_sync(2, (const char *[]){"EXISTS", hkey_b}).integer, 0);
    assert_int_equal(cmdv_sync(3, (const char *[]){"ZSCORE", zkey, "b"}).type, REDIS_REPLY_NIL);
    node_close(a);
    assert_int_equal(cmdv_sync(2, (const char *[]){"ZCARD", zkey}).integer, 0);
}

/* A node that stops heartbeating without closing is dead after dead_after_ms. */
static void test_dead_after_silence(void **state)
{
    char svc[64], zkey[128], now[24];
    svc_name(svc, sizeof(svc), "silent");
    snprintf(zkey, sizeof(zkey), "voepy:nodes:%s", svc);
    /* Only a watcher here; "ghost" beat once (as a crashed node would have) and stopped. */
    struct nodes *w = node_open(svc, NULL, NULL, 100, 400);
    snprintf(now, sizeof(now), "%lld", (long long)vtime_now_ms());
    uint64_t t0 = uv_now(&loop);
    cmdv_sync(4, (const char *[]){"ZADD", zkey, now, "ghost"});
    assert_true(alive_becomes(w, svc, 1, 1000));
    assert_string_equal(nodes_pick(w, svc), "ghost");
    assert_true(alive_becomes(w, svc, 0, 2000));
    uint64_t gone = uv_now(&loop) - t0;
    assert_true(gone >= 300 && gone < 1000);
    assert_null(nodes_pick(w, svc));
    /* The dead node stays in the set: survivors look there for nodes whose calls to end. */
    assert_int_equal(cmdv_sync(3, (const char *[]){"ZSCORE", zkey, "ghost"}).type,
                     REDIS_REPLY_STRING);
    node_close(w);
    cmdv_sync(2, (const char *[]){"DEL", zkey});
}

static void test_pick_round_robin(void **state)
{
    char svc[64], other[64];
    svc_name(svc, sizeof(svc), "rr");
    svc_name(other, sizeof(other), "rr-other");
    struct nodes *n1 = node_open(svc, "n1", NULL, 100, 500);
    struct nodes *n2 = node_open(svc, "n2", NULL, 100, 500);
    struct nodes *n3 = node_open(svc, "n3", NULL, 100, 500);
    struct nodes *x = node_open(other, "x", NULL, 100, 500);
    assert_true(alive_becomes(n1, svc, 3, 2000));
    const char *seq[6];
    for (int i = 0; i < 6; i++)
        seq[i] = nodes_pick(n1, svc);
    for (int i = 0; i < 3; i++) {
        assert_non_null(seq[i]);
        assert_string_equal(seq[i], seq[i + 3]); /* the cycle repeats */
        assert_string_not_equal(seq[i], seq[(i + 1) % 3]);
    }
    /* Another service is unknown until watched. */
    const char *ids[4];
    assert_null(nodes_pick(n1, other));
    assert_int_equal(nodes_alive(n1, other, ids, 4), 0);
    nodes_watch(n1, other);
    nodes_watch(n1, other); /* twice is harmless */
    assert_true(alive_becomes(n1, other, 1, 1000));
    assert_string_equal(nodes_pick(n1, other), "x");
    assert_string_equal(nodes_pick(n1, other), "x");
    node_close(x);
    node_close(n3);
    assert_true(alive_becomes(n1, svc, 2, 1000));
    const char *p = nodes_pick(n1, svc), *q = nodes_pick(n1, svc);
    assert_string_not_equal(p, q);
    assert_true(strcmp(p, "n3") != 0 && strcmp(q, "n3") != 0);
    node_close(n2);
    node_close(n1);
}

int main(void)
{
    signal(SIGPIPE, SIG_IGN);
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(test_bad_opts, setup, teardown),
        cmocka_unit_test_setup_teardown(test_two_nodes, setup, teardown),
        cmocka_unit_test_setup_teardown(test_dead_after_silence, setup, teardown),
        cmocka_unit_test_setup_teardown(test_pick_round_robin, setup, teardown),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
