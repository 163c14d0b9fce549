/*
 * Unit tests for libcommon's rstream (XADD, consumer groups, pending re-reads, claims,
 * back-pressure, drain, messages given back after close) against the real Redis from
 * tests/with-services.sh. Every test uses its own stream names (pid + test name), so
 * tests never see each other's entries.
 */
#include "vp_test.h"

#include <hiredis/hiredis.h>
#include <signal.h>
#include <string.h>
#include <unistd.h>

#include "voepy/err.h"
#include "voepy/rstream.h"

#define MAXMSG 64

struct sink {
    bool auto_ack;
    bool close_after_first;
    bool closed;
    int got;
    struct rstream_msg *held[MAXMSG];
    size_t nheld;
    char body[MAXMSG][64];
    size_t len[MAXMSG];
    char stream[MAXMSG][96];
    char id[MAXMSG][48];
    unsigned deliveries[MAXMSG];
};

static uv_loop_t loop;
static struct redis *r; /* the test's own connection, for XADD and inspection */
static char prefix[96];

static void flag_cb(void *arg)
{
    *(bool *)arg = true;
}

static void sink_cb(struct rstream_consumer *c, struct rstream_msg *m, void *arg)
{
    struct sink *s = arg;
    if (s->got < MAXMSG) {
        snprintf(s->body[s->got], sizeof(s->body[0]), "%.*s", (int)m->len, m->body);
        memcpy(s->body[s->got], m->body, m->len < 63 ? m->len : 63);
        s->len[s->got] = m->len;
        snprintf(s->stream[s->got], sizeof(s->stream[0]), "%s", m->stream);
        snprintf(s->id[s->got], sizeof(s->id[0]), "%s", m->id);
        s->deliveries[s->got] = m->deliveries;
    }
    s->got++;
    if (s->close_after_first) {
        s->close_after_first = false;
        rstream_consumer_close(c, flag_cb, &s->closed);
        /* then this message is acked (auto_ack) or held, like any other */
    }
    if (s->auto_ack)
        rstream_ack(c, m);
    else if (s->nheld < MAXMSG)
        s->held[s->nheld++] = m;
}

static bool got_reached(const struct sink *s, int want, unsigned ms)
{
    uint64_t end = uv_now(&loop) + ms;
    while (s->got < want && uv_now(&loop) < end) {
        bool never = false;
        vp_test_run_until(&loop, &never, 10);
    }
    return s->got >= want;
}

static void run_for(unsigned ms)
{
    bool never = false;
    vp_test_run_until(&loop, &never, ms);
}

static struct redis_opts ropts(const char *name)
{
    return (struct redis_opts){.host = vp_test_env("VOEPY_TEST_REDIS_HOST"),
                               .port = atoi(vp_test_env("VOEPY_TEST_REDIS_PORT")),
                               .name = name,
                               .connect_timeout_ms = 1000,
                               .cmd_timeout_ms = 2000};
}

/* ---- synchronous helpers on the test's connection ----------------------------------- */

struct reply {
    bool done;
    int status;
    long long integer;
    char str[128];
    long long first_int; /* element[0] of an array reply */
    size_t elements;
};

static void reply_cb(int status, struct redisReply *rep, void *arg)
{
    struct reply *x = arg;
    x->done = true;
    x->status = status;
    if (!rep)
        return;
    x->integer = rep->integer;
    if (rep->str)
        snprintf(x->str, sizeof(x->str), "%s", rep->str);
    x->elements = rep->elements;
    if (rep->type == REDIS_REPLY_ARRAY && rep->elements > 0 &&
        rep->element[0]->type == REDIS_REPLY_INTEGER)
        x->first_int = rep->element[0]->integer;
}

static struct reply cmdv_sync(int argc, const char **argv)
{
    struct reply x = {0};
    assert_int_equal(redis_cmdv(r, reply_cb, &x, argc, argv, NULL), 0);
    assert_true(vp_test_run_until(&loop, &x.done, 3000));
    assert_int_equal(x.status, 0);
    return x;
}

struct added {
    bool done;
    int status;
    char id[48];
};

static void added_cb(int status, const char *id, void *arg)
{
    struct added *a = arg;
    a->done = true;
    a->status = status;
    if (id)
        snprintf(a->id, sizeof(a->id), "%s", id);
}

static struct added add_sync(const char *stream, const char *body, size_t len)
{
    struct added a = {0};
    assert_int_equal(rstream_add(r, stream, body, len, 0, added_cb, &a), 0);
    assert_true(vp_test_run_until(&loop, &a.done, 3000));
    assert_int_equal(a.status, 0);
    return a;
}

static long long pending_count(const char *stream, const char *group)
{
    struct reply x = cmdv_sync(3, (const char *[]){"XPENDING", stream, group});
    return x.first_int;
}

static void stream_name(char *out, size_t n, const char *test, const char *s)
{
    snprintf(out, n, "%s:%s:%s", prefix, test, s);
}

static struct rstream_consumer *consumer_open(const char *stream_list[], size_t n,
                                              const char *group, const char *name,
                                              struct rstream_consumer_opts *extra, struct sink *s)
{
    struct rstream_consumer_opts o = extra ? *extra : (struct rstream_consumer_opts){0};
    o.group = group;
    o.consumer = name;
    o.streams = stream_list;
    o.nstreams = n;
    if (!o.block_ms)
        o.block_ms = 200;
    struct redis_opts ro = ropts(name);
    struct rstream_consumer *c = NULL;
    assert_int_equal(rstream_consumer_create(&c, &loop, &ro, &o, sink_cb, s), 0);
    return c;
}

/* Close, give back what the sink still holds (released: it stays pending), wait. */
static void consumer_close(struct rstream_consumer *c, struct sink *s)
{
    bool closed = false;
    rstream_consumer_close(c, flag_cb, &closed);
    for (size_t i = 0; i < s->nheld; i++)
        rstream_release(c, s->held[i]);
    s->nheld = 0;
    assert_true(vp_test_run_until(&loop, &closed, 3000));
}

static void ack_held(struct rstream_consumer *c, struct sink *s)
{
    for (size_t i = 0; i < s->nheld; i++)
        rstream_ack(c, s->held[i]);
    s->nheld = 0;
}

/* ---- fixture -------------------------------------------------------------------------- */

static bool connected;
static void state_cb(bool up, void *arg)
{
    connected = up;
}

static int setup(void **state)
{
    uv_loop_init(&loop);
    struct redis_opts o = ropts("t-rstream");
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

/* ---- tests ---------------------------------------------------------------------------- */

static void test_bad_input(void **state)
{
    assert_int_equal(rstream_add(r, "", "x", 1, 0, NULL, NULL), VP_E_INVALID_PARAMETER);
    assert_int_equal(rstream_add(r, NULL, "x", 1, 0, NULL, NULL), VP_E_INVALID_PARAMETER);
    assert_int_equal(rstream_add(r, "s", NULL, 3, 0, NULL, NULL), VP_E_INVALID_PARAMETER);
    assert_int_equal(rstream_add(r, "s", "x", 1, -1, NULL, NULL), VP_E_INVALID_PARAMETER);
    const char *one[] = {"s"}, *dup[] = {"s", "s"}, *empty[] = {""};
    struct rstream_consumer_opts bad[] = {
        {.group = "g", .consumer = "c", .streams = one, .nstreams = 0},
        {.group = "g", .consumer = "c", .streams = NULL, .nstreams = 1},
        {.group = NULL, .consumer = "c", .streams = one, .nstreams = 1},
        {.group = "g", .consumer = "", .streams = one, .nstreams = 1},
        {.group = "g", .consumer = "c", .streams = dup, .nstreams = 2},
        {.group = "g", .consumer = "c", .streams = empty, .nstreams = 1},
    };
    struct redis_opts ro = ropts("t-bad");
    struct sink s = {0};
    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
        struct rstream_consumer *c = NULL;
        assert_int_equal(rstream_consumer_create(&c, &loop, &ro, &bad[i], sink_cb, &s),
                         VP_E_INVALID_PARAMETER);
        assert_null(c);
    }
    struct rstream_consumer *c = NULL;
    struct rstream_consumer_opts ok = {
        .group = "g", .consumer = "c", .streams = one, .nstreams = 1};
    assert_int_equal(rstream_consumer_create(&c, &loop, &ro, &ok, NULL, &s),
                     VP_E_INVALID_PARAMETER);
}

static void test_add_consume_ack(void **state)
{
    char s1[160];
    stream_name(s1, sizeof(s1), "basic", "s1");
    const char bin[] = {'{', '\0', '}'};
    /* Written before the group exists: the group starts at 0, so nothing is missed. */
    struct added a1 = add_sync(s1, "{\"n\":1}", 7);
    add_sync(s1, bin, sizeof(bin));
    add_sync(s1, "", 0);
    assert_true(strchr(a1.id, '-') != NULL);
    struct sink k = {.auto_ack = true};
    const char *streams[] = {s1};
    struct rstream_consumer *c = consumer_open(streams, 1, "g", "c1", NULL, &k);
    assert_true(got_reached(&k, 3, 3000));
    assert_string_equal(k.body[0], "{\"n\":1}");
    assert_string_equal(k.id[0], a1.id);
    assert_string_equal(k.stream[0], s1);
    assert_int_equal(k.len[1], 3);
    assert_memory_equal(k.body[1], bin, 3);
    assert_int_equal(k.len[2], 0);
    for (int i = 0; i < 3; i++)
        assert_int_equal(k.deliveries[i], 1);
    assert_true(rstream_consumer_connected(c));
    /* Live entries arrive while the reader is blocked. */
    add_sync(s1, "live", 4);
    assert_true(got_reached(&k, 4, 3000));
    assert_string_equal(k.body[3], "live");
    assert_int_equal(rstream_inflight(c), 0);
    /* Closed right after the handler's ack: close waits for the XACK reply. */
    consumer_close(c, &k);
    assert_int_equal(pending_count(s1, "g"), 0);

    /* MAXLEN ~ trims in whole nodes (100 entries): 250 adds end up well below 250. */
    char s2[160];
    stream_name(s2, sizeof(s2), "basic", "trim");
    struct added last = {0};
    for (int i = 0; i < 250; i++)
        assert_int_equal(rstream_add(r, s2, "x", 1, 10, i == 249 ? added_cb : NULL, &last), 0);
    assert_true(vp_test_run_until(&loop, &last.done, 3000));
    assert_int_equal(last.status, 0);
    struct reply xlen = cmdv_sync(2, (const char *[]){"XLEN", s2});
    assert_true(xlen.integer >= 10 && xlen.integer < 250);
}

/* A consumer dies without acking; the same name comes back and re-reads its entries. */
static void test_pending_reread(void **state)
{
    char s1[160];
    stream_name(s1, sizeof(s1), "reread", "s1");
    add_sync(s1, "one", 3);
    add_sync(s1, "two", 3);
    const char *streams[] = {s1};
    struct sink k1 = {0};
    struct rstream_consumer *c = consumer_open(streams, 1, "g", "worker-1", NULL, &k1);
    assert_true(got_reached(&k1, 2, 3000));
    assert_int_equal(rstream_inflight(c), 2);
    consumer_close(c, &k1); /* the held messages are released, not acked */
    assert_int_equal(pending_count(s1, "g"), 2);

    struct sink k2 = {.auto_ack = true};
    c = consumer_open(streams, 1, "g", "worker-1", NULL, &k2);
    assert_true(got_reached(&k2, 2, 3000));
    assert_string_equal(k2.body[0], "one");
    assert_string_equal(k2.body[1], "two");
    assert_string_equal(k2.id[0], k1.id[0]);
    assert_int_equal(k2.deliveries[0], 2);
    assert_int_equal(k2.deliveries[1], 2);
    run_for(100);
    assert_int_equal(k2.got, 2);
    assert_int_equal(pending_count(s1, "g"), 0);
    consumer_close(c, &k2);

    /* Three lives for one entry: each sees Redis' own counter (via XPENDING), one more
       than the life before, not a local guess. */
    add_sync(s1, "three", 5);
    struct sink k3 = {0}, k4 = {0}, k5 = {.auto_ack = true};
    c = consumer_open(streams, 1, "g", "worker-1", NULL, &k3);
    assert_true(got_reached(&k3, 1, 3000));
    consumer_close(c, &k3);
    c = consumer_open(streams, 1, "g", "worker-1", NULL, &k4);
    assert_true(got_reached(&k4, 1, 3000));
    consumer_close(c, &k4);
    c = consumer_open(streams, 1, "g", "worker-1", NULL, &k5);
    assert_true(got_reached(&k5, 1, 3000));
    consumer_close(c, &k5);
    assert_string_equal(k5.body[0], "three");
    /* k3 may already see 2: the previous life's XREADGROUP can still be blocked on the
       server when "three" is added, and Redis delivers it to that dying connection. */
    assert_true(k3.deliveries[0] == 1 || k3.deliveries[0] == 2);
    assert_int_equal(k4.deliveries[0], k3.deliveries[0] + 1);
    assert_int_equal(k5.deliveries[0], k3.deliveries[0] + 2);
    assert_int_equal(pending_count(s1, "g"), 0);
}

/* A consumer dies holding an entry; another one claims it after claim_idle_ms. */
static void test_claim_from_dead(void **state)
{
    char s1[160];
    stream_name(s1, sizeof(s1), "claim", "s1");
    add_sync(s1, "orphan", 6);
    const char *streams[] = {s1};
    struct sink dead = {0};
    struct rstream_consumer *c = consumer_open(streams, 1, "g", "dead", NULL, &dead);
    assert_true(got_reached(&dead, 1, 3000));
    consumer_close(c, &dead);

    struct sink alive = {0};
    struct rstream_consumer_opts o = {.claim_idle_ms = 300, .claim_interval_ms = 100};
    uint64_t t0 = uv_now(&loop);
    c = consumer_open(streams, 1, "g", "alive", &o, &alive);
    assert_true(got_reached(&alive, 1, 3000));
    assert_true(uv_now(&loop) - t0 >= 200); /* not before the entry was idle long enough */
    assert_string_equal(alive.body[0], "orphan");
    assert_string_equal(alive.id[0], dead.id[0]);
    assert_int_equal(alive.deliveries[0], 2);
    /* Held past claim_idle_ms twice: our own in-flight entry is not handed out again. */
    run_for(700);
    assert_int_equal(alive.got, 1);
    ack_held(c, &alive);
    run_for(50);
    assert_int_equal(pending_count(s1, "g"), 0);
    consumer_close(c, &alive);
}

static void test_max_inflight(void **state)
{
    char s1[160];
    stream_name(s1, sizeof(s1), "inflight", "s1");
    for (int i = 0; i < 10; i++) {
        char body[8];
        snprintf(body, sizeof(body), "m%d", i);
        add_sync(s1, body, strlen(body));
    }
    const char *streams[] = {s1};
    struct sink k = {0};
    struct rstream_consumer_opts o = {.max_inflight = 3, .batch = 10};
    struct rstream_consumer *c = consumer_open(streams, 1, "g", "c", &o, &k);
    assert_true(got_reached(&k, 3, 3000));
    run_for(400); /* two BLOCK periods: nothing more may arrive */
    assert_int_equal(k.got, 3);
    assert_int_equal(rstream_inflight(c), 3);
    rstream_ack(c, k.held[0]);
    assert_true(got_reached(&k, 4, 2000));
    run_for(300);
    assert_int_equal(k.got, 4);
    assert_int_equal(rstream_inflight(c), 3);
    /* Releasing also makes room (the entry stays pending with us). */
    rstream_release(c, k.held[1]);
    assert_true(got_reached(&k, 5, 2000));
    assert_int_equal(rstream_inflight(c), 3);
    assert_string_equal(k.body[4], "m4");
    k.auto_ack = true;
    for (size_t i = 2; i < k.nheld; i++)
        rstream_ack(c, k.held[i]);
    k.nheld = 0;
    assert_true(got_reached(&k, 10, 3000));
    assert_string_equal(k.body[9], "m9");
    run_for(50);
    assert_int_equal(pending_count(s1, "g"), 1); /* the released one */
    consumer_close(c, &k);
}

static void test_several_streams(void **state)
{
    char s[3][160];
    const char *streams[3];
    for (int i = 0; i < 3; i++) {
        char n[8];
        snprintf(n, sizeof(n), "s%d", i);
        stream_name(s[i], sizeof(s[i]), "multi", n);
        streams[i] = s[i];
    }
    add_sync(s[0], "a", 1);
    add_sync(s[2], "c", 1);
    struct sink k = {.auto_ack = true};
    struct rstream_consumer *c = consumer_open(streams, 3, "g", "c", NULL, &k);
    assert_true(got_reached(&k, 2, 3000));
    add_sync(s[1], "b", 1);
    assert_true(got_reached(&k, 3, 3000));
    bool seen[3] = {false};
    for (int i = 0; i < 3; i++)
        for (int j = 0; j < 3; j++)
            if (strcmp(k.stream[i], s[j]) == 0) {
                assert_int_equal(k.body[i][0], 'a' + j);
                seen[j] = true;
            }
    assert_true(seen[0] && seen[1] && seen[2]);

    /* The stream is deleted under the running consumer: the group is created again. */
    cmdv_sync(2, (const char *[]){"DEL", s[1]});
    run_for(50);
    add_sync(s[1], "again", 5);
    assert_true(got_reached(&k, 4, 4000));
    assert_string_equal(k.body[3], "again");
    assert_string_equal(k.stream[3], s[1]);
    consumer_close(c, &k);
    for (int i = 0; i < 3; i++)
        assert_int_equal(pending_count(s[i], "g"), 0);
}

static void test_drain(void **state)
{
    char s1[160];
    stream_name(s1, sizeof(s1), "drain", "s1");
    add_sync(s1, "x", 1);
    add_sync(s1, "y", 1);
    const char *streams[] = {s1};
    struct sink k = {0};
    struct rstream_consumer *c = consumer_open(streams, 1, "g", "drainer", NULL, &k);
    assert_true(got_reached(&k, 2, 3000));
    bool drained = false;
    rstream_consumer_drain(c, flag_cb, &drained);
    add_sync(s1, "late", 4); /* not for a draining consumer */
    run_for(300);
    assert_false(drained);
    assert_int_equal(k.got, 2);
    rstream_ack(c, k.held[0]);
    run_for(100);
    assert_false(drained);
    rstream_ack(c, k.held[1]);
    assert_true(vp_test_run_until(&loop, &drained, 2000));
    assert_int_equal(rstream_inflight(c), 0);
    assert_int_equal(pending_count(s1, "g"), 0); /* done() came after the XACK replies */
    k.nheld = 0;
    consumer_close(c, &k);

    /* The restarted consumer gets the late entry: as new, or from its pending list when
       the server had already served it to the XREADGROUP that drain cut off. */
    struct sink k2 = {.auto_ack = true};
    c = consumer_open(streams, 1, "g", "drainer", NULL, &k2);
    assert_true(got_reached(&k2, 1, 3000));
    assert_string_equal(k2.body[0], "late");
    run_for(100);
    assert_int_equal(k2.got, 1);
    consumer_close(c, &k2);
    assert_int_equal(pending_count(s1, "g"), 0);
}

/* The handler closes the consumer in the middle of a batch, then gives its message back
   from inside the handler (acked) or later (held, then released). */
static void test_close_in_handler(void **state)
{
    char s1[160];
    stream_name(s1, sizeof(s1), "closecb", "s1");
    for (int i = 0; i < 3; i++)
        add_sync(s1, "z", 1);
    const char *streams[] = {s1};
    struct sink k = {.close_after_first = true, .auto_ack = true};
    consumer_open(streams, 1, "g", "c", NULL, &k);
    assert_true(vp_test_run_until(&loop, &k.closed, 3000));
    assert_int_equal(k.got, 1);
    assert_int_equal(pending_count(s1, "g"), 3); /* acked after close: no XACK, still pending */

    struct sink h = {.close_after_first = true};
    struct rstream_consumer *c = consumer_open(streams, 1, "g", "c", NULL, &h);
    assert_true(got_reached(&h, 1, 3000));
    run_for(200);
    assert_false(h.closed); /* h still holds its message */
    assert_int_equal(h.got, 1);
    assert_int_equal(rstream_inflight(c), 1);
    rstream_release(c, h.held[0]);
    assert_true(vp_test_run_until(&loop, &h.closed, 3000));
    assert_int_equal(pending_count(s1, "g"), 3); /* all three stay pending for later */
}

/* Messages held across close stay valid until given back; closed() waits for the last,
   and an ack after close leaves the entry pending, so it is delivered again. */
static void test_ack_release_after_close(void **state)
{
    char s1[160];
    stream_name(s1, sizeof(s1), "afterclose", "s1");
    const char *bodies[] = {"first", "second", "third"};
    for (int i = 0; i < 3; i++)
        add_sync(s1, bodies[i], strlen(bodies[i]));
    const char *streams[] = {s1};
    struct sink k = {0};
    struct rstream_consumer *c = consumer_open(streams, 1, "g", "holder", NULL, &k);
    assert_true(got_reached(&k, 3, 3000));
    bool closed = false;
    rstream_consumer_close(c, flag_cb, &closed);
    run_for(300); /* the connections are closed by now; the messages are still out */
    assert_false(closed);
    assert_int_equal(rstream_inflight(c), 3);
    rstream_ack(c, k.held[0]);
    run_for(100);
    assert_false(closed);
    rstream_release(c, k.held[1]);
    run_for(100);
    assert_false(closed);
    /* Still readable after close (ASan would catch a freed one). */
    assert_int_equal(k.held[2]->len, 5);
    assert_memory_equal(k.held[2]->body, "third", 5);
    assert_string_equal(k.held[2]->id, k.id[2]);
    assert_string_equal(k.held[2]->stream, s1);
    rstream_ack(c, k.held[2]);
    assert_false(closed); /* never from inside the ack */
    assert_true(vp_test_run_until(&loop, &closed, 2000));
    k.nheld = 0;
    /* Neither ack after close reached Redis: all three are pending and come back. */
    assert_int_equal(pending_count(s1, "g"), 3);
    struct sink k2 = {.auto_ack = true};
    c = consumer_open(streams, 1, "g", "holder", NULL, &k2);
    assert_true(got_reached(&k2, 3, 3000));
    for (int i = 0; i < 3; i++) {
        assert_string_equal(k2.body[i], bodies[i]);
        assert_int_equal(k2.deliveries[i], 2);
    }
    run_for(50);
    assert_int_equal(pending_count(s1, "g"), 0);
    consumer_close(c, &k2);
}

/* Nothing out: closed() runs on its own, from the loop, not inside the close call. */
static void test_close_nothing_outstanding(void **state)
{
    char s1[160];
    stream_name(s1, sizeof(s1), "closeidle", "s1");
    add_sync(s1, "x", 1);
    const char *streams[] = {s1};
    struct sink k = {.auto_ack = true};
    struct rstream_consumer *c = consumer_open(streams, 1, "g", "idle", NULL, &k);
    assert_true(got_reached(&k, 1, 3000));
    run_for(50);
    assert_int_equal(rstream_inflight(c), 0);
    bool closed = false;
    rstream_consumer_close(c, flag_cb, &closed);
    assert_false(closed);
    assert_true(vp_test_run_until(&loop, &closed, 1500));
    assert_int_equal(pending_count(s1, "g"), 0);

    /* A consumer closed before it ever read anything closes the same way. */
    struct sink none = {0};
    c = consumer_open(streams, 1, "g", "idle2", NULL, &none);
    closed = false;
    rstream_consumer_close(c, flag_cb, &closed);
    assert_true(vp_test_run_until(&loop, &closed, 1500));
    assert_int_equal(none.got, 0);
}

/* Close during a drain: the drain's done() never runs; closed() waits for the messages. */
static void test_close_while_draining(void **state)
{
    char s1[160];
    stream_name(s1, sizeof(s1), "drainclose", "s1");
    add_sync(s1, "a", 1);
    add_sync(s1, "b", 1);
    const char *streams[] = {s1};
    struct sink k = {0};
    struct rstream_consumer *c = consumer_open(streams, 1, "g", "dc", NULL, &k);
    assert_true(got_reached(&k, 2, 3000));
    bool drained = false, closed = false;
    rstream_consumer_drain(c, flag_cb, &drained);
    rstream_ack(c, k.held[0]); /* before close: a real XACK */
    rstream_consumer_close(c, flag_cb, &closed);
    run_for(200);
    assert_false(closed);
    rstream_ack(c, k.held[1]); /* after close: freed only */
    assert_true(vp_test_run_until(&loop, &closed, 2000));
    run_for(50);
    assert_false(drained);
    k.nheld = 0;
    assert_int_equal(pending_count(s1, "g"), 1);
}

struct client_id {
    bool done;
    const char *name;
    long long id;
};

/* Find "id=N ... name=<name> ..." in CLIENT LIST. */
static void client_list_cb(int status, struct redisReply *rep, void *arg)
{
    struct client_id *ci = arg;
    ci->done = true;
    if (status || rep->type != REDIS_REPLY_STRING)
        return;
    char needle[96];
    snprintf(needle, sizeof(needle), " name=%s ", ci->name);
    const char *hit = strstr(rep->str, needle);
    if (!hit)
        return;
    while (hit > rep->str && hit[-1] != '\n')
        hit--;
    sscanf(hit, "id=%lld", &ci->id);
}

/* The reader's connection is killed: the consumer reconnects and keeps reading. */
static void test_reader_killed(void **state)
{
    char s1[160], name[64], rdname[80];
    stream_name(s1, sizeof(s1), "kill", "s1");
    snprintf(name, sizeof(name), "t-kill-%d", getpid());
    snprintf(rdname, sizeof(rdname), "%s-read", name);
    const char *streams[] = {s1};
    struct sink k = {.auto_ack = true};
    struct rstream_consumer *c = consumer_open(streams, 1, "g", name, NULL, &k);
    add_sync(s1, "before", 6);
    assert_true(got_reached(&k, 1, 3000));
    struct client_id ci = {.name = rdname};
    assert_int_equal(redis_cmd(r, client_list_cb, &ci, "CLIENT LIST"), 0);
    assert_true(vp_test_run_until(&loop, &ci.done, 2000));
    assert_true(ci.id > 0);
    char idbuf[24];
    snprintf(idbuf, sizeof(idbuf), "%lld", ci.id);
    struct reply killed = cmdv_sync(4, (const char *[]){"CLIENT", "KILL", "ID", idbuf});
    assert_int_equal(killed.integer, 1);
    run_for(20);
    assert_false(rstream_consumer_connected(c));
    add_sync(s1, "after", 5);
    assert_true(got_reached(&k, 2, 4000));
    assert_string_equal(k.body[1], "after");
    assert_true(rstream_consumer_connected(c));
    run_for(50);
    assert_int_equal(k.got, 2);
    consumer_close(c, &k);
}

int main(void)
{
    signal(SIGPIPE, SIG_IGN);
    snprintf(prefix, sizeof(prefix), "test_rstream:%d", getpid());
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(test_bad_input, setup, teardown),
        cmocka_unit_test_setup_teardown(test_add_consume_ack, setup, teardown),
        cmocka_unit_test_setup_teardown(test_pending_reread, setup, teardown),
        cmocka_unit_test_setup_teardown(test_claim_from_dead, setup, teardown),
        cmocka_unit_test_setup_teardown(test_max_inflight, setup, teardown),
        cmocka_unit_test_setup_teardown(test_several_streams, setup, teardown),
        cmocka_unit_test_setup_teardown(test_drain, setup, teardown),
        cmocka_unit_test_setup_teardown(test_close_in_handler, setup, teardown),
        cmocka_unit_test_setup_teardown(test_ack_release_after_close, setup, teardown),
        cmocka_unit_test_setup_teardown(test_close_nothing_outstanding, setup, teardown),
        cmocka_unit_test_setup_teardown(test_close_while_draining, setup, teardown),
        cmocka_unit_test_setup_teardown(test_reader_killed, setup, teardown),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
