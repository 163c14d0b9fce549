/*
 * media-fork end to end in one process: the engine and the inbox of a node, driven over
 * the real Redis from tests/with-services.sh exactly as call-control drives them
 * (allocate / connect / release on voepy:mf:{node}, replies on voepy:cc:{test}), with a
 * UDP socket of the test as the far end. Checks silence at 50 packets/s with a proper
 * RTP stream, echo (and latching), counters in media.released, idempotent ops, port
 * reuse and exhaustion, PCMA, idle reaping, bad commands, and draining.
 */
#include "vp_test.h"

#include <arpa/inet.h>
#include <hiredis/hiredis.h>
#include <jansson.h>
#include <string.h>
#include <unistd.h>

#include "engine.h"
#include "inbox.h"
#include "rtp.h"
#include "rtp_peer.h"
#include "voepy/crypto.h"
#include "voepy/err.h"
#include "voepy/log.h"
#include "voepy/metrics.h"
#include "voepy/redis.h"
#include "voepy/rstream.h"

#define IDLE_MS   3000
#define MAX_REPLY 64

static uv_loop_t loop;
static struct redis *redis;
static struct engine *engine;
static struct inbox *inbox;
static struct rstream_consumer *cc; /* the test's call-control inbox */
static char node[64], mf_stream[96], cc_stream[96];
static uint16_t port_base; /* the pool: two pairs, port_base .. port_base + 3 */

/* ---- replies on voepy:cc:{test} ---------------------------------------------------- */

static json_t *replies[MAX_REPLY];
static int nreplies;

static void cc_msg_cb(struct rstream_consumer *c, struct rstream_msg *m, void *arg)
{
    json_t *o = json_loadb(m->body, m->len, 0, NULL);
    if (o && nreplies < MAX_REPLY)
        replies[nreplies++] = o;
    else
        json_decref(o);
    rstream_ack(c, m);
}

static const char *str(const json_t *o, const char *k)
{
    const char *s = json_string_value(json_object_get(o, k));
    return s ? s : "";
}

static long long num(const json_t *o, const char *k)
{
    return json_integer_value(json_object_get(o, k));
}

static json_t *take_reply(const char *leg)
{
    for (int i = 0; i < nreplies; i++) {
        if (strcmp(str(replies[i], "leg_id"), leg) != 0)
            continue;
        json_t *o = replies[i];
        memmove(&replies[i], &replies[i + 1], (size_t)(nreplies - i - 1) * sizeof(*replies));
        nreplies--;
        return o;
    }
    return NULL;
}

static void run_for(unsigned ms)
{
    bool never = false;
    vp_test_run_until(&loop, &never, ms);
}

/* The next reply about leg (within ms), which must have op; caller decrefs. */
static json_t *wait_reply(const char *leg, const char *op, unsigned ms)
{
    uint64_t end = uv_now(&loop) + ms;
    json_t *o = NULL;
    while (!(o = take_reply(leg)) && uv_now(&loop) < end)
        run_for(10);
    if (!o)
        fail_msg("no reply for %s within %u ms", leg, ms);
    if (strcmp(str(o, "op"), op) != 0)
        fail_msg("reply for %s is %s (error %s), want %s", leg, str(o, "op"), str(o, "error"), op);
    assert_string_equal(str(o, "media_node"), node);
    return o;
}

static void send_cmd(const char *body)
{
    assert_int_equal(rstream_add(redis, mf_stream, body, strlen(body), 0, NULL, NULL), 0);
}

static void allocate(const char *leg)
{
    char b[256];
    snprintf(b, sizeof(b),
             "{\"op\":\"allocate\",\"leg_id\":\"%s\",\"call_id\":\"call-%s\",\"tenant_id\":"
             "\"voepy_tenant_t\",\"reply_to\":\"%s\"}",
             leg, leg, cc_stream);
    send_cmd(b);
}

static uint16_t allocate_ok(const char *leg)
{
    allocate(leg);
    json_t *o = wait_reply(leg, "media.allocated", 3000);
    assert_string_equal(str(o, "ip"), "127.0.0.1");
    char call[64];
    snprintf(call, sizeof(call), "call-%s", leg);
    assert_string_equal(str(o, "call_id"), call);
    long long port = num(o, "port");
    json_decref(o);
    assert_int_equal(port % 2, 0);
    assert_in_range(port, port_base, port_base + 2);
    return (uint16_t)port;
}

static void release(const char *leg)
{
    char b[256];
    snprintf(b, sizeof(b), "{\"op\":\"release\",\"leg_id\":\"%s\",\"reply_to\":\"%s\"}", leg,
             cc_stream);
    send_cmd(b);
}

static struct peer peer, stranger;

static void connect_leg(const char *leg, const char *codec, int pt, const char *mode)
{
    char b[320];
    snprintf(b, sizeof(b),
             "{\"op\":\"connect\",\"leg_id\":\"%s\",\"remote_ip\":\"127.0.0.1\",\"remote_port\":"
             "%u,\"payload_type\":%d,\"codec\":\"%s\",\"ptime\":20,\"mode\":\"%s\"}",
             leg, peer.port, pt, codec, mode);
    send_cmd(b);
}

static bool wait_packets(struct peer *p, int n, unsigned ms)
{
    uint64_t end = uv_now(&loop) + ms;
    while (p->n < n && uv_now(&loop) < end)
        run_for(5);
    return p->n >= n;
}

static int64_t counter(const char *name, const char *labels)
{
    return metric_value(metrics_counter(name, "", labels));
}

/* ---- setup ---------------------------------------------------------------------------- */

static uint16_t free_even_base(void)
{
    for (int attempt = 0; attempt < 50; attempt++) {
        uv_udp_t u;
        uv_udp_init(&loop, &u);
        struct sockaddr_in a;
        uv_ip4_addr("127.0.0.1", 0, &a);
        uv_udp_bind(&u, (struct sockaddr *)&a, 0);
        int len = sizeof(a);
        uv_udp_getsockname(&u, (struct sockaddr *)&a, &len);
        uv_close((uv_handle_t *)&u, NULL);
        uv_run(&loop, UV_RUN_NOWAIT);
        uint16_t base = (uint16_t)(ntohs(a.sin_port) & ~1u);
        if (base >= 1024 && base < 65530)
            return base;
    }
    fail();
    return 0;
}

static struct redis_opts redis_opts(const char *name)
{
    return (struct redis_opts){.host = vp_test_env("VOEPY_TEST_REDIS_HOST"),
                               .port = atoi(vp_test_env("VOEPY_TEST_REDIS_PORT")),
                               .cmd_timeout_ms = 5000,
                               .name = name};
}

static int setup(void **state)
{
    (void)state;
    assert_int_equal(crypto_init(), 0);
    vlog_init("media-fork-test", "test", VLOG_WARN);
    uv_loop_init(&loop);
    char rnd[9];
    crypto_random_token(rnd, 8);
    snprintf(node, sizeof(node), "mf-test-%s", rnd);
    snprintf(mf_stream, sizeof(mf_stream), "voepy:mf:%s", node);
    snprintf(cc_stream, sizeof(cc_stream), "voepy:cc:test-%s", rnd);
    struct redis_opts ro = redis_opts("test");
    assert_int_equal(redis_create(&redis, &loop, &ro), 0);

    port_base = free_even_base();
    struct engine_opts eo = {.media_ip = "127.0.0.1",
                             .port_min = port_base,
                             .port_max = port_base + 3u,
                             .idle_ms = IDLE_MS};
    assert_int_equal(engine_create(&engine, &loop, &eo), 0);
    struct redis_opts io_ro = redis_opts("mf-inbox");
    struct inbox_opts io = {.node_id = node, .ropts = &io_ro, .redis = redis, .engine = engine};
    assert_int_equal(inbox_create(&inbox, &loop, &io), 0);

    const char *streams[] = {cc_stream};
    struct rstream_consumer_opts co = {
        .group = "cc", .consumer = "test", .streams = streams, .nstreams = 1, .block_ms = 200};
    struct redis_opts cc_ro = redis_opts("test-cc");
    assert_int_equal(rstream_consumer_create(&cc, &loop, &cc_ro, &co, cc_msg_cb, NULL), 0);
    peer_open(&peer, &loop);
    peer_open(&stranger, &loop);
    for (int i = 0; i < 300 && !(redis_connected(redis) && rstream_consumer_connected(cc)); i++)
        run_for(10);
    assert_true(redis_connected(redis));
    return 0;
}

static void closed_cb(void *arg)
{
    (*(int *)arg)++;
}

static int teardown(void **state)
{
    (void)state;
    int closed = 0;
    inbox_close(inbox, closed_cb, &closed);
    engine_close(engine, closed_cb, &closed);
    rstream_consumer_close(cc, closed_cb, &closed);
    uv_close((uv_handle_t *)&peer.udp, NULL);
    uv_close((uv_handle_t *)&stranger.udp, NULL);
    for (int i = 0; i < 200 && closed < 3; i++)
        run_for(10);
    assert_int_equal(closed, 3);
    redis_close(redis, NULL, NULL);
    for (int i = 0; i < nreplies; i++)
        json_decref(replies[i]);
    vp_test_loop_done(&loop);
    return 0;
}

/* ---- the tests, in order: each builds on the legs of the one before ------------------ */

static uint16_t port_a;
static uint32_t ssrc_a;
static uint16_t last_seq_a;

static void test_engine_config_refused(void **state)
{
    (void)state;
    struct engine *e = NULL;
    const char *ips[] = {"0.0.0.0", "::", "localhost", "", NULL};
    for (int i = 0; i < 5; i++) {
        struct engine_opts o = {.media_ip = ips[i], .port_min = 30000, .port_max = 30009};
        assert_int_equal(engine_create(&e, &loop, &o), VP_E_CONFIG);
    }
    struct engine_opts o = {.media_ip = "127.0.0.1", .port_min = 30001, .port_max = 30002};
    assert_int_equal(engine_create(&e, &loop, &o), VP_E_CONFIG);
    assert_null(e);
}

static void test_allocate_is_idempotent(void **state)
{
    (void)state;
    port_a = allocate_ok("legA");
    assert_int_equal(engine_leg_count(engine), 1);
    assert_int_equal(engine_ports_free(engine), 1);
    /* The same command again (a retry or a redelivery): the same leg and port. */
    assert_int_equal(allocate_ok("legA"), port_a);
    assert_int_equal(engine_leg_count(engine), 1);
    assert_int_equal(metric_value(metrics_gauge("voepy_media_legs", "", NULL)), 1);
    assert_int_equal(metric_value(metrics_gauge("voepy_media_ports_free", "", NULL)), 1);
}

/* Silence: ~50 packets/s, one RTP stream (seq +1, ts +160), PCMU 0xFF, from our port. */
static void test_silence_stream(void **state)
{
    (void)state;
    peer_reset(&peer);
    connect_leg("legA", "PCMU", 0, "silence");
    assert_true(wait_packets(&peer, 1, 2000));
    uint64_t t0 = peer.pkts[0].t_ms;
    run_for(1200);
    int n = peer.n;
    assert_in_range(n, 50, 70);
    double rate = (n - 1) * 1000.0 / (double)(peer.pkts[n - 1].t_ms - t0);
    if (rate < 45 || rate > 55)
        fail_msg("%d packets at %.1f/s", n, rate);
    ssrc_a = peer.pkts[0].h.ssrc;
    for (int i = 0; i < n; i++) {
        const struct pkt *k = &peer.pkts[i];
        assert_int_equal(k->h.pt, 0);
        assert_int_equal(k->h.payload_len, 160);
        assert_int_equal(k->len, 172);
        assert_int_equal(k->first, 0xFF);
        assert_true(k->uniform);
        assert_int_equal(k->h.ssrc, ssrc_a);
        assert_int_equal(k->from_port, port_a); /* symmetric: sent from the RTP port */
        assert_int_equal(k->h.marker, i == 0);
        if (i > 0) {
            assert_int_equal((uint16_t)(k->h.seq - peer.pkts[i - 1].h.seq), 1);
            assert_int_equal((uint32_t)(k->h.ts - peer.pkts[i - 1].h.ts), 160);
        }
    }
    assert_int_equal(peer.bad, 0);
}

static void rtp_packet(uint8_t *p, uint16_t seq, uint8_t fill)
{
    rtp_write_header(p, seq == 0, 0, seq, seq * 160u, 0x11223344);
    memset(p + 12, fill, 160);
}

/* A timer sends n packets 20 ms apart from the peer (fill 1..n). */
struct pacer {
    uv_timer_t t;
    int sent, n;
};

static void pacer_cb(uv_timer_t *t)
{
    struct pacer *p = t->data;
    uint8_t pkt[172];
    rtp_packet(pkt, (uint16_t)p->sent, (uint8_t)(p->sent + 1));
    peer_send(&peer, port_a, pkt, sizeof(pkt));
    if (++p->sent == p->n)
        uv_timer_stop(t);
}

static int echo_sent;

/* Echo: what the peer sends comes back, in order, on our stream; junk and strangers not. */
static void test_echo(void **state)
{
    (void)state;
    connect_leg("legA", "PCMU", 0, "echo");
    run_for(300); /* the last silence packets land */
    last_seq_a = peer.pkts[peer.n - 1].h.seq;
    peer_reset(&peer);
    int64_t short0 = counter("voepy_media_rtp_invalid_total", "reason=\"short\"");
    int64_t version0 = counter("voepy_media_rtp_invalid_total", "reason=\"version\"");
    int64_t source0 = counter("voepy_media_rtp_invalid_total", "reason=\"source\"");

    struct pacer pacer = {.n = 25};
    uv_timer_init(&loop, &pacer.t);
    pacer.t.data = &pacer;
    uv_timer_start(&pacer.t, pacer_cb, 0, 20);
    /* Once the far end is latched, junk and other sources are refused. */
    run_for(100);
    uint8_t junk[172];
    peer_send(&peer, port_a, junk, 3);
    rtp_packet(junk, 500, 0x42);
    junk[0] = 0x40; /* version 1 */
    peer_send(&peer, port_a, junk, sizeof(junk));
    rtp_packet(junk, 501, 0xEE);
    peer_send(&stranger, port_a, junk, sizeof(junk));
    bool got = wait_packets(&peer, 25, 3000);
    uv_close((uv_handle_t *)&pacer.t, NULL);
    run_for(100);
    echo_sent = pacer.sent;
    assert_true(got);
    assert_int_equal(peer.n, 25);
    for (int i = 0; i < peer.n; i++) {
        const struct pkt *k = &peer.pkts[i];
        assert_int_equal(k->first, i + 1);
        assert_true(k->uniform);
        assert_int_equal(k->h.payload_len, 160);
        assert_int_equal(k->h.pt, 0);
        assert_int_equal(k->h.ssrc, ssrc_a); /* our stream, not the peer's 0x11223344 */
        uint16_t prev_seq = i ? peer.pkts[i - 1].h.seq : last_seq_a;
        assert_int_equal((uint16_t)(k->h.seq - prev_seq), 1);
        if (i > 0) {
            uint32_t dts = k->h.ts - peer.pkts[i - 1].h.ts;
            assert_true(dts > 0 && dts % 160 == 0 && dts < 160 * 20);
        }
    }
    assert_true(peer.pkts[0].h.marker); /* a talkspurt after the switch */
    assert_int_equal(counter("voepy_media_rtp_invalid_total", "reason=\"short\""), short0 + 1);
    assert_int_equal(counter("voepy_media_rtp_invalid_total", "reason=\"version\""), version0 + 1);
    assert_int_equal(counter("voepy_media_rtp_invalid_total", "reason=\"source\""), source0 + 1);
}

static void assert_released(json_t *o, long long pin, long long bin, long long pout, long long bout,
                            const char *reason)
{
    assert_int_equal(num(o, "packets_in"), pin);
    assert_int_equal(num(o, "bytes_in"), bin);
    assert_int_equal(num(o, "packets_out"), pout);
    assert_int_equal(num(o, "bytes_out"), bout);
    assert_string_equal(str(o, "reason"), reason);
}

/* Release: counters match what the peer sent and received; a second release agrees. */
static void test_release_counters(void **state)
{
    (void)state;
    release("legA");
    json_t *o = wait_reply("legA", "media.released", 3000);
    run_for(100); /* anything sent before the release is read by now */
    uint64_t out_n = peer.total_n, out_bytes = peer.total_bytes;
    assert_released(o, echo_sent, echo_sent * 172LL, (long long)out_n, (long long)out_bytes,
                    "release");
    assert_string_equal(str(o, "call_id"), "call-legA");
    json_decref(o);
    run_for(200);
    assert_int_equal(peer.total_n, out_n); /* nothing after the release */
    assert_int_equal(engine_leg_count(engine), 0);
    assert_int_equal(engine_ports_free(engine), 2);

    release("legA");
    o = wait_reply("legA", "media.released", 3000);
    assert_released(o, echo_sent, echo_sent * 172LL, (long long)out_n, (long long)out_bytes,
                    "release");
    json_decref(o);
    /* A redelivered allocate does not bring a released leg back. */
    allocate("legA");
    o = wait_reply("legA", "media.failed", 3000);
    assert_string_equal(str(o, "error"), "released");
    assert_string_equal(str(o, "request"), "allocate");
    json_decref(o);
    assert_int_equal(engine_ports_free(engine), 2);
}

/* Ports come back; a full pool says no_ports; PCMA silence is 0xD5 with pt 8. */
static void test_ports_reuse_exhaustion_pcma(void **state)
{
    (void)state;
    int64_t fail0 = counter("voepy_media_allocation_failures_total", "reason=\"no_ports\"");
    uint16_t b = allocate_ok("legB"), c = allocate_ok("legC");
    assert_int_not_equal(b, c);
    assert_true(b == port_a || c == port_a); /* legA's pair is in use again */
    allocate("legD");
    json_t *o = wait_reply("legD", "media.failed", 3000);
    assert_string_equal(str(o, "error"), "no_ports");
    json_decref(o);
    assert_int_equal(counter("voepy_media_allocation_failures_total", "reason=\"no_ports\""),
                     fail0 + 1);

    peer_reset(&peer);
    connect_leg("legB", "PCMA", 8, "silence");
    assert_true(wait_packets(&peer, 5, 2000));
    for (int i = 0; i < 5; i++) {
        assert_int_equal(peer.pkts[i].h.pt, 8);
        assert_int_equal(peer.pkts[i].first, 0xD5);
        assert_true(peer.pkts[i].uniform);
        assert_int_equal(peer.pkts[i].from_port, b);
    }
    release("legB");
    o = wait_reply("legB", "media.released", 3000);
    assert_int_equal(num(o, "packets_in"), 0);
    assert_true(num(o, "packets_out") >= 5);
    json_decref(o);
    release("legC");
    o = wait_reply("legC", "media.released", 3000);
    assert_released(o, 0, 0, 0, 0, "release");
    json_decref(o);
    /* A leg this node never had: answered, with nothing counted. */
    release("legD");
    o = wait_reply("legD", "media.released", 3000);
    assert_released(o, 0, 0, 0, 0, "unknown");
    json_decref(o);
    run_for(50);
    assert_int_equal(engine_ports_free(engine), 2);
}

/* A leg nobody talks to is released by media-fork and its owner told. */
static void test_idle_leg_reaped(void **state)
{
    (void)state;
    int64_t reaped0 = counter("voepy_media_legs_reaped_total", NULL);
    allocate_ok("legE");
    uint64_t t0 = uv_now(&loop);
    json_t *o = wait_reply("legE", "media.released", IDLE_MS + 3000);
    uint64_t waited = uv_now(&loop) - t0;
    assert_true(waited >= IDLE_MS - 100);
    assert_released(o, 0, 0, 0, 0, "idle");
    json_decref(o);
    assert_int_equal(counter("voepy_media_legs_reaped_total", NULL), reaped0 + 1);
    run_for(50);
    assert_int_equal(engine_leg_count(engine), 0);
    assert_int_equal(engine_ports_free(engine), 2);
    release("legE"); /* call-control releasing late still gets an answer */
    o = wait_reply("legE", "media.released", 3000);
    assert_string_equal(str(o, "reason"), "idle");
    json_decref(o);
}

static void pending_cb(int status, struct redisReply *reply, void *arg)
{
    long long *n = arg;
    *n = !status && reply->type == REDIS_REPLY_ARRAY && reply->elements > 0 &&
                 reply->element[0]->type == REDIS_REPLY_INTEGER
             ? reply->element[0]->integer
             : -1;
}

/* Bad commands are answered when possible, acknowledged always, and do no harm. */
static void test_bad_commands(void **state)
{
    (void)state;
    send_cmd("not json");
    send_cmd("{\"op\":\"allocate\",\"leg_id\":\"legF\"}"); /* nobody to answer */
    send_cmd("{\"op\":\"allocate\",\"leg_id\":\"legF\",\"reply_to\":\"voepy:events:0\"}");
    send_cmd("{\"op\":\"connect\",\"leg_id\":\"nobody\",\"remote_ip\":\"127.0.0.1\","
             "\"remote_port\":9,\"codec\":\"PCMU\"}");
    char b[256];
    snprintf(b, sizeof(b),
             "{\"op\":\"allocate\",\"leg_id\":\"legG\",\"call_id\":17,\"reply_to\":\"%s\"}",
             cc_stream);
    send_cmd(b);
    json_t *o = wait_reply("legG", "media.failed", 3000);
    assert_string_equal(str(o, "error"), "invalid_request");
    json_decref(o);
    /* A connect with a bad codec for a live leg: its allocate's reply_to hears of it. */
    allocate_ok("legH");
    send_cmd("{\"op\":\"connect\",\"leg_id\":\"legH\",\"remote_ip\":\"127.0.0.1\","
             "\"remote_port\":9,\"codec\":\"G729\"}");
    o = wait_reply("legH", "media.failed", 3000);
    assert_string_equal(str(o, "request"), "connect");
    json_decref(o);
    release("legH");
    json_decref(wait_reply("legH", "media.released", 3000));
    assert_int_equal(engine_leg_count(engine), 0);
    assert_null(take_reply("legF"));
    /* Everything was acknowledged: nothing pending in the group. */
    long long pending = -2;
    assert_int_equal(redis_cmd(redis, pending_cb, &pending, "XPENDING %s mf", mf_stream), 0);
    for (int i = 0; i < 100 && pending == -2; i++)
        run_for(10);
    assert_int_equal(pending, 0);
}

static void flag_cb(void *arg)
{
    *(bool *)arg = true;
}

/* Draining: no new legs, the existing one still works, done once it is released. */
static void test_drain(void **state)
{
    (void)state;
    uint16_t port = allocate_ok("legI");
    bool drained = false;
    engine_drain(engine, flag_cb, &drained);
    assert_false(drained);
    allocate("legJ");
    json_t *o = wait_reply("legJ", "media.failed", 3000);
    assert_string_equal(str(o, "error"), "draining");
    json_decref(o);
    assert_int_equal(allocate_ok("legI"), port); /* a duplicate is not a new leg */
    release("legI");
    json_decref(wait_reply("legI", "media.released", 3000));
    assert_true(vp_test_run_until(&loop, &drained, 2000));
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_engine_config_refused),
        cmocka_unit_test(test_allocate_is_idempotent),
        cmocka_unit_test(test_silence_stream),
        cmocka_unit_test(test_echo),
        cmocka_unit_test(test_release_counters),
        cmocka_unit_test(test_ports_reuse_exhaustion_pcma),
        cmocka_unit_test(test_idle_leg_reaped),
        cmocka_unit_test(test_bad_commands),
        cmocka_unit_test(test_drain),
    };
    return cmocka_run_group_tests(tests, setup, teardown);
}
