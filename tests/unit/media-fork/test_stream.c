/*
 * WebSocket media streams: the encodings (stream_codec.h) and frames (stream_frame.h)
 * byte for byte, the command fields, injected audio on a real leg (leg_inject), and the
 * streamer's refusals and failures with libwebsockets really running on the test's loop
 * (a ws:// URL where only wss:// is allowed, a URL the policy refuses, a connection
 * refused by a closed loopback port), each reported exactly once as streaming_ended,
 * then the context shut down without leaks (ASan). Audio to a real WebSocket server is
 * tested end to end by tests/integration/test_streaming.py.
 */
#include "vp_test.h"

#include <jansson.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "codec.h"
#include "command.h"
#include "leg.h"
#include "leg_tap.h"
#include "media_ctx.h"
#include "port_pool.h"
#include "rtp_peer.h"
#include "stream.h"
#include "stream_codec.h"
#include "stream_frame.h"
#include "udp_pair.h"
#include "voepy/crypto.h"
#include "voepy/err.h"
#include "voepy/url_guard.h"

static void tone(int16_t *pcm, size_t n, size_t off)
{
    for (size_t i = 0; i < n; i++)
        pcm[i] = (int16_t)(8000.0 * sin(2.0 * M_PI * 440.0 * (double)(i + off) / 8000.0));
}

/* ---- encodings ---- */

static void test_codec_names(void **state)
{
    (void)state;
    enum stream_codec c;
    const char *names[] = {"PCMU", "PCMA", "L16", "G722", "OPUS"};
    for (int i = 0; i < 5; i++) {
        assert_int_equal(stream_codec_parse(names[i], &c), 0);
        assert_string_equal(stream_codec_name(c), names[i]);
    }
    assert_int_equal(stream_codec_parse("pcmu", &c), VP_E_INVALID_PARAMETER);
    assert_int_equal(stream_codec_parse("G729", &c), VP_E_INVALID_PARAMETER);
    assert_int_equal(stream_codec_parse(NULL, &c), VP_E_INVALID_PARAMETER);
    assert_int_equal(stream_codec_rate(STREAM_PCMU), 8000);
    assert_int_equal(stream_codec_rate(STREAM_G722), 16000);
    assert_int_equal(stream_codec_rate(STREAM_OPUS), 16000);
}

/* G.711 and L16 are exact: encode a tone, check sizes and bytes, decode it back. */
static void test_codec_g711_l16(void **state)
{
    (void)state;
    int16_t pcm[160], back[STREAM_DECODE_MAX];
    uint8_t out[STREAM_PAYLOAD_MAX], ref[160];
    tone(pcm, 160, 0);
    struct stream_enc *e;
    struct stream_dec *d;
    assert_int_equal(stream_enc_create(&e, STREAM_PCMU), 0);
    assert_int_equal(stream_enc_frame(e, pcm, out, sizeof(out)), 160);
    codec_encode(codec_by_name("PCMU"), pcm, ref, 160);
    assert_memory_equal(out, ref, 160);
    stream_enc_free(e);
    assert_int_equal(stream_enc_create(&e, STREAM_L16), 0);
    assert_int_equal(stream_enc_frame(e, pcm, out, sizeof(out)), 320);
    assert_int_equal((int16_t)((out[2] << 8) | out[3]), pcm[1]); /* big-endian */
    assert_int_equal(stream_enc_frame(e, pcm, out, 100), VP_E_OVERFLOW);
    stream_enc_free(e);
    assert_int_equal(stream_dec_create(&d, STREAM_L16), 0);
    assert_int_equal(stream_dec_payload(d, out, 320, back, STREAM_DECODE_MAX), 160);
    assert_memory_equal(back, pcm, sizeof(pcm));
    assert_int_equal(stream_dec_payload(d, out, 3, back, STREAM_DECODE_MAX), VP_E_PARSE);
    stream_dec_free(d);
    assert_int_equal(stream_dec_create(&d, STREAM_PCMA), 0);
    assert_int_equal(stream_dec_payload(d, ref, 160, back, 100), 100); /* cut at cap */
    stream_dec_free(d);
}

static double correlation(const int16_t *a, const int16_t *b, size_t n)
{
    double ab = 0, aa = 0, bb = 0;
    for (size_t i = 0; i < n; i++) {
        ab += (double)a[i] * b[i];
        aa += (double)a[i] * a[i];
        bb += (double)b[i] * b[i];
    }
    return aa > 0 && bb > 0 ? ab / sqrt(aa * bb) : 0;
}

/* G.722 and Opus are lossy: a second of tone survives encode + decode (shifted by delay). */
static void roundtrip(enum stream_codec c, int expect_len)
{
    struct stream_enc *e;
    struct stream_dec *d;
    assert_int_equal(stream_enc_create(&e, c), 0);
    assert_int_equal(stream_dec_create(&d, c), 0);
    int16_t pcm[160], all_in[8000] = {0}, all_out[8000 + STREAM_DECODE_MAX] = {0};
    uint8_t out[STREAM_PAYLOAD_MAX];
    size_t nout = 0;
    int packets = 0;
    for (int f = 0; f < 50; f++) {
        tone(pcm, 160, (size_t)f * 160);
        memcpy(all_in + f * 160, pcm, sizeof(pcm));
        int n = stream_enc_frame(e, pcm, out, sizeof(out));
        assert_true(n >= 0);
        if (n == 0)
            continue;
        packets++;
        if (expect_len)
            assert_int_equal(n, expect_len);
        int m = stream_dec_payload(d, out, (size_t)n, all_out + nout, STREAM_DECODE_MAX);
        assert_true(m > 0);
        nout += (size_t)m;
    }
    assert_true(packets >= 49);
    double best = 0;
    for (size_t lag = 0; lag < 200; lag++)
        best = fmax(best, correlation(all_in + 1000, all_out + 1000 + lag, 4000));
    assert_true(best > 0.8);
    stream_enc_free(e);
    stream_dec_free(d);
}

static void test_codec_g722(void **state)
{
    (void)state;
    roundtrip(STREAM_G722, 160);
}

static void test_codec_opus(void **state)
{
    (void)state;
    roundtrip(STREAM_OPUS, 0);
}

/* ---- frames ---- */

static json_t *parse(const char *s, int n)
{
    assert_true(n > 0);
    assert_int_equal((size_t)n, strlen(s));
    json_t *o = json_loads(s, 0, NULL);
    assert_non_null(o);
    return o;
}

static void test_frames(void **state)
{
    (void)state;
    char buf[STREAM_TEXT_MAX];
    json_t *o = parse(buf, stream_frame_connected(buf, sizeof(buf)));
    assert_string_equal(json_string_value(json_object_get(o, "event")), "connected");
    json_decref(o);

    o = parse(buf, stream_frame_start(buf, sizeof(buf), 1, "voepy_stream_1", "voepy_call_1",
                                      STREAM_TRACK_INBOUND | STREAM_TRACK_OUTBOUND, STREAM_G722));
    json_t *fmt = json_object_get(json_object_get(o, "start"), "media_format");
    assert_string_equal(json_string_value(json_object_get(fmt, "encoding")), "G722");
    assert_int_equal(json_integer_value(json_object_get(fmt, "sample_rate")), 16000);
    assert_int_equal(json_array_size(json_object_get(json_object_get(o, "start"), "tracks")), 2);
    assert_string_equal(json_string_value(json_object_get(o, "call_id")), "voepy_call_1");
    json_decref(o);

    uint8_t payload[160], back[200];
    for (int i = 0; i < 160; i++)
        payload[i] = (uint8_t)(i * 7);
    o = parse(buf, stream_frame_media(buf, sizeof(buf), 7, "voepy_stream_1", STREAM_TRACK_OUTBOUND,
                                      3, 40, payload, sizeof(payload)));
    assert_int_equal(json_integer_value(json_object_get(o, "sequence_number")), 7);
    json_t *m = json_object_get(o, "media");
    assert_string_equal(json_string_value(json_object_get(m, "track")), "outbound");
    assert_int_equal(json_integer_value(json_object_get(m, "chunk")), 3);
    assert_int_equal(json_integer_value(json_object_get(m, "timestamp")), 40);
    const char *b64 = json_string_value(json_object_get(m, "payload"));
    assert_int_equal(crypto_base64_decode(b64, strlen(b64), back, sizeof(back)), 160);
    assert_memory_equal(back, payload, 160);
    json_decref(o);
    assert_int_equal(
        stream_frame_media(buf, 100, 7, "s", STREAM_TRACK_INBOUND, 1, 0, payload, sizeof(payload)),
        VP_E_OVERFLOW);

    o = parse(buf, stream_frame_dtmf(buf, sizeof(buf), 8, "voepy_stream_1", '#'));
    assert_string_equal(json_string_value(json_object_get(json_object_get(o, "dtmf"), "digit")),
                        "#");
    json_decref(o);
    o = parse(buf, stream_frame_stop(buf, sizeof(buf), 9, "voepy_stream_1"));
    assert_string_equal(json_string_value(json_object_get(o, "event")), "stop");
    json_decref(o);
}

static void test_frames_in(void **state)
{
    (void)state;
    uint8_t out[8];
    size_t n = 0;
    const char *media = "{\"event\":\"media\",\"media\":{\"payload\":\"AQID\"}}";
    assert_int_equal(stream_frame_parse_in(media, strlen(media), out, sizeof(out), &n),
                     STREAM_IN_MEDIA);
    assert_int_equal(n, 3);
    assert_int_equal(out[2], 3);
    const char *clear = "{\"event\":\"clear\"}", *mark = "{\"event\":\"mark\"}";
    assert_int_equal(stream_frame_parse_in(clear, strlen(clear), out, sizeof(out), &n),
                     STREAM_IN_CLEAR);
    assert_int_equal(stream_frame_parse_in(mark, strlen(mark), out, sizeof(out), &n),
                     STREAM_IN_IGNORED);
    const char *bad[] = {"[1]", "{", "{\"event\":\"media\"}",
                         "{\"event\":\"media\",\"media\":{\"payload\":\"!!\"}}",
                         "{\"event\":\"media\",\"media\":{\"payload\":\"AQIDBAUGBwgJCgsM\"}}"};
    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++)
        assert_int_equal(stream_frame_parse_in(bad[i], strlen(bad[i]), out, sizeof(out), &n),
                         VP_E_PARSE);
    unsigned mask;
    assert_int_equal(stream_track_parse("both_tracks", &mask), 0);
    assert_int_equal(mask, STREAM_TRACK_INBOUND | STREAM_TRACK_OUTBOUND);
    assert_int_equal(stream_track_parse("inbound", &mask), VP_E_INVALID_PARAMETER);
}

/* ---- commands ---- */

static int parse_cmd(const char *body, struct mf_command *c)
{
    struct vp_error e;
    memset(c, 0, sizeof(*c));
    return command_parse(body, strlen(body), c, &e);
}

static void test_commands(void **state)
{
    (void)state;
    struct mf_command c;
    assert_int_equal(parse_cmd("{\"op\":\"streaming_start\",\"leg_id\":\"voepy_leg_1\","
                               "\"stream_id\":\"voepy_stream_1\",\"url\":\"wss://a.example/x\","
                               "\"track\":\"both_tracks\",\"codec\":\"OPUS\","
                               "\"bidirectional\":true,\"reply_to\":\"voepy:cc:n1\"}",
                               &c),
                     0);
    assert_int_equal(c.op, MF_OP_STREAMING_START);
    assert_int_equal(c.stream.codec, STREAM_OPUS);
    assert_int_equal(c.stream.tracks, STREAM_TRACK_INBOUND | STREAM_TRACK_OUTBOUND);
    assert_true(c.stream.bidirectional);
    assert_string_equal(c.stream.url, "wss://a.example/x");
    assert_int_equal(parse_cmd("{\"op\":\"streaming_start\",\"leg_id\":\"l\",\"stream_id\":\"s\","
                               "\"url\":\"wss://a.example/\"}",
                               &c),
                     0);
    assert_int_equal(c.stream.codec, STREAM_PCMU); /* the defaults */
    assert_int_equal(c.stream.tracks, STREAM_TRACK_INBOUND);
    assert_false(c.stream.bidirectional);
    const char *bad[] = {
        "{\"op\":\"streaming_start\",\"leg_id\":\"l\",\"url\":\"wss://a/\"}",
        "{\"op\":\"streaming_start\",\"leg_id\":\"l\",\"stream_id\":\"s\"}",
        "{\"op\":\"streaming_start\",\"leg_id\":\"l\",\"stream_id\":\"a\\\"b\",\"url\":\"wss://a/"
        "\"}",
        "{\"op\":\"streaming_start\",\"leg_id\":\"l\",\"stream_id\":\"s\",\"url\":\"wss://a/\","
        "\"codec\":\"G729\"}",
        "{\"op\":\"streaming_start\",\"leg_id\":\"l\",\"stream_id\":\"s\",\"url\":\"wss://a/\","
        "\"track\":\"inbound\"}",
        "{\"op\":\"streaming_start\",\"leg_id\":\"l\",\"stream_id\":\"s\",\"url\":\"wss://a/\","
        "\"bidirectional\":\"yes\"}",
    };
    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++)
        assert_int_equal(parse_cmd(bad[i], &c), VP_E_INVALID_PARAMETER);
    assert_int_equal(parse_cmd("{\"op\":\"streaming_stop\",\"leg_id\":\"l\"}", &c), 0);
    assert_int_equal(c.op, MF_OP_STREAMING_STOP);
    assert_string_equal(c.stream.stream_id, "");
}

/* ---- a leg, injected audio, the streamer ---- */

struct fixture {
    uv_loop_t loop;
    struct media_ctx ctx;
    struct peer peer;
    struct leg *leg;
    struct url_policy *policy;
    struct streamer *st;
    uv_timer_t tick; /* stands for the engine's 20 ms clock */
    int ended;
    bool done;
    char reason[32], error[64];
};

static int setup(void **state)
{
    struct fixture *fx = calloc(1, sizeof(*fx));
    uv_loop_init(&fx->loop);
    fx->ctx.loop = &fx->loop;
    assert_int_equal(udp_addr_parse("127.0.0.1", 0, &fx->ctx.media_addr), 0);
    assert_int_equal(port_pool_create(&fx->ctx.ports, 44000, 44999), 0);
    media_metrics_init(&fx->ctx.metrics);
    peer_open(&fx->peer, &fx->loop);
    uv_timer_init(&fx->loop, &fx->tick);
    assert_int_equal(leg_open(&fx->leg, &fx->ctx, "voepy_leg_st", "voepy_call_st", "voepy:cc:n1"),
                     0);
    struct leg_remote r = {.codec = codec_by_name("PCMU"),
                           .pt = 0,
                           .ptime_ms = 20,
                           .mode = LEG_MODE_SILENCE,
                           .te_pt = 101};
    assert_int_equal(udp_addr_parse("127.0.0.1", fx->peer.port, &r.addr), 0);
    leg_connect(fx->leg, &r);
    struct url_policy_config pc = {.allow_private = true, .allow_ports = "*"};
    char why[128];
    assert_int_equal(url_policy_create(&fx->policy, &pc, why, sizeof(why)), 0);
    *state = fx;
    return 0;
}

static int teardown(void **state)
{
    struct fixture *fx = *state;
    if (fx->leg)
        leg_close(fx->leg);
    if (fx->st)
        streamer_close(fx->st);
    uv_close((uv_handle_t *)&fx->peer.udp, NULL);
    uv_close((uv_handle_t *)&fx->tick, NULL);
    vp_test_loop_done(&fx->loop);
    streamer_destroy(fx->st);
    url_policy_free(fx->policy);
    port_pool_destroy(fx->ctx.ports);
    free(fx);
    return 0;
}

static void settle(struct fixture *fx, unsigned ms)
{
    bool never = false;
    vp_test_run_until(&fx->loop, &never, ms);
}

/* Injected samples go out on the next ticks, encoded with the leg's codec, before the mode. */
static void test_inject(void **state)
{
    struct fixture *fx = *state;
    int16_t pcm[400];
    tone(pcm, 400, 0);
    peer_reset(&fx->peer);
    assert_int_equal(leg_inject_audio(fx->leg, pcm, 400), 0);
    assert_int_equal(leg_inject_queued(fx->leg), 400);
    leg_tick(fx->leg);
    leg_tick(fx->leg);
    leg_tick(fx->leg); /* only 80 samples left: the mode (silence) fills this tick */
    settle(fx, 30);
    assert_int_equal(fx->peer.n, 3);
    assert_false(fx->peer.pkts[0].uniform);
    assert_false(fx->peer.pkts[1].uniform);
    assert_true(fx->peer.pkts[2].uniform); /* PCMU silence */
    assert_int_equal(leg_inject_queued(fx->leg), 80);
    leg_inject_clear(fx->leg);
    assert_int_equal(leg_inject_queued(fx->leg), 0);
    int16_t lots[9000] = {0};
    assert_int_equal(leg_inject_audio(fx->leg, lots, 9000), 1000); /* 1 s at most */
}

static void event_cb(const struct stream_event *ev, void *arg)
{
    struct fixture *fx = arg;
    assert_string_equal(ev->leg_id, "voepy_leg_st");
    assert_string_equal(ev->call_id, "voepy_call_st");
    assert_string_equal(ev->reply_to, "voepy:cc:n1");
    if (!ev->ended)
        return;
    fx->ended++;
    fx->done = true;
    snprintf(fx->reason, sizeof(fx->reason), "%s", ev->reason);
    snprintf(fx->error, sizeof(fx->error), "%s", ev->error ? ev->error : "");
}

static void tick_cb(uv_timer_t *t)
{
    (void)t;
}

static void start(struct fixture *fx, bool insecure, const char *url)
{
    if (!fx->st) {
        struct streamer_opts o = {
            .policy = insecure ? fx->policy : NULL, .allow_insecure = insecure, .connect_secs = 1};
        assert_int_equal(streamer_create(&fx->st, &fx->loop, &o), 0);
        streamer_on_event(fx->st, event_cb, fx);
    }
    struct stream_params p = {.tracks = STREAM_TRACK_INBOUND, .codec = STREAM_PCMU};
    snprintf(p.stream_id, sizeof(p.stream_id), "voepy_stream_%d", fx->ended);
    snprintf(p.url, sizeof(p.url), "%s", url);
    fx->done = false;
    streamer_start(fx->st, fx->leg, &p, "");
    assert_false(fx->done); /* never from inside the call */
    /* media-fork's 20 ms clock keeps the loop awake; libwebsockets 4.1's own timeouts
     * (connect, close) are only looked at when the loop wakes up */
    uv_timer_start(&fx->tick, tick_cb, 20, 20);
    assert_true(vp_test_run_until(&fx->loop, &fx->done, 8000));
    uv_timer_stop(&fx->tick);
}

static void test_refused(void **state)
{
    struct fixture *fx = *state;
    start(fx, false, "ws://stream.example/x"); /* ws:// needs VOEPY_STREAM_ALLOW_INSECURE */
    assert_string_equal(fx->reason, "failed");
    assert_string_equal(fx->error, "stream_url_insecure");
    start(fx, false, "wss://127.0.0.1/x"); /* loopback: the default policy refuses it */
    assert_string_equal(fx->error, "stream_url_forbidden");
    start(fx, false, "https://stream.example/x");
    assert_string_equal(fx->error, "stream_url_forbidden");
    assert_int_equal(fx->ended, 3);
    assert_int_equal(leg_tap_count(fx->leg), 0);
    assert_int_equal(streamer_count(fx->st), 0);
}

static void test_connect_failed(void **state)
{
    struct fixture *fx = *state;
    /* a port nobody listens on: the peer's RTP port + 1 is free (RTCP is not bound) */
    char url[64];
    snprintf(url, sizeof(url), "ws://127.0.0.1:%u/media", (unsigned)fx->peer.port + 1);
    start(fx, true, url);
    assert_string_equal(fx->reason, "failed");
    assert_string_equal(fx->error, "connect_failed");
    assert_int_equal(leg_tap_count(fx->leg), 0);
    settle(fx, 20);
    assert_int_equal(fx->ended, 1);
}

/* A stream still checking or connecting when the leg closes ends "released", once. */
static void test_released(void **state)
{
    struct fixture *fx = *state;
    struct streamer_opts o = {.policy = fx->policy, .allow_insecure = true};
    assert_int_equal(streamer_create(&fx->st, &fx->loop, &o), 0);
    streamer_on_event(fx->st, event_cb, fx);
    struct stream_params p = {.tracks = 3, .codec = STREAM_OPUS, .bidirectional = true};
    snprintf(p.stream_id, sizeof(p.stream_id), "s1");
    snprintf(p.url, sizeof(p.url), "ws://127.0.0.1:9/x");
    streamer_start(fx->st, fx->leg, &p, "voepy:cc:n1");
    streamer_start(fx->st, fx->leg, &p, "voepy:cc:n1"); /* the same id again: ignored */
    assert_int_equal(streamer_count(fx->st), 1);
    assert_int_equal(leg_tap_count(fx->leg), 1);
    leg_close(fx->leg);
    fx->leg = NULL;
    assert_true(vp_test_run_until(&fx->loop, &fx->done, 2000));
    assert_string_equal(fx->reason, "released");
    settle(fx, 50);
    assert_int_equal(fx->ended, 1);
    assert_int_equal(streamer_count(fx->st), 0);
}

int main(void)
{
    (void)peer_send; /* rtp_peer.h's; these tests only listen */
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_codec_names),
        cmocka_unit_test(test_codec_g711_l16),
        cmocka_unit_test(test_codec_g722),
        cmocka_unit_test(test_codec_opus),
        cmocka_unit_test(test_frames),
        cmocka_unit_test(test_frames_in),
        cmocka_unit_test(test_commands),
        cmocka_unit_test_setup_teardown(test_inject, setup, teardown),
        cmocka_unit_test_setup_teardown(test_refused, setup, teardown),
        cmocka_unit_test_setup_teardown(test_connect_failed, setup, teardown),
        cmocka_unit_test_setup_teardown(test_released, setup, teardown),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
