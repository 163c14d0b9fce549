/*
 * Live transcription (transcribe.c) on a real leg on loopback, ticked by hand: the leg
 * plays a sentence espeak-ng said (the outbound track) and a session transcribes it:
 * one transcript_chunk with key words, its track, times and words, then, on stop,
 * transcription_ended with the milliseconds heard. Also: bad engines, tracks and
 * languages no model serves are refused, a started session answers transcription_started
 * (again when redelivered), a new start replaces the session ("replaced"), closing the
 * leg ends it ("released"), a closed transcriber sends nothing; and the model map of
 * VOEPY_ASR_MODELS / VOEPY_ASR_MODEL_DIR (asr_models.c) with its errors.
 */
#include "vp_test.h"

#include <jansson.h>
#include <netinet/in.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "asr.h"
#include "audio_file.h"
#include "codec.h"
#include "leg.h"
#include "leg_tap.h"
#include "media_ctx.h"
#include "port_pool.h"
#include "transcribe.h"
#include "tts.h"
#include "udp_pair.h"

#define REPLY_TO "voepy:cc:test"

struct fixture {
    uv_loop_t loop;
    struct media_ctx ctx;
    uv_udp_t peer; /* the far end: what the leg sends is read and dropped */
    uint16_t peer_port;
    char buf[2048];
    struct leg *leg;
    struct transcribe *t;
    json_t *replies; /* every reply but transcription_started, in order */
    json_t *started; /* the transcription_started replies */
    bool ended;      /* a transcription_ended arrived */
};

static void reply_cb(void *arg, const char *stream, char *body)
{
    struct fixture *fx = arg;
    assert_string_equal(stream, REPLY_TO);
    json_t *o = json_loads(body, 0, NULL);
    free(body);
    assert_non_null(o);
    const char *op = json_string_value(json_object_get(o, "op"));
    if (strcmp(op, "transcription_ended") == 0)
        fx->ended = true;
    json_array_append_new(strcmp(op, "transcription_started") == 0 ? fx->started : fx->replies, o);
}

static void alloc_cb(uv_handle_t *h, size_t size, uv_buf_t *b)
{
    struct fixture *fx = h->data;
    (void)size;
    *b = uv_buf_init(fx->buf, sizeof(fx->buf));
}

static void drop_cb(uv_udp_t *u, ssize_t n, const uv_buf_t *b, const struct sockaddr *a,
                    unsigned flags)
{
    (void)u, (void)n, (void)b, (void)a, (void)flags;
}

static void peer_start(struct fixture *fx)
{
    struct sockaddr_in sa;
    uv_ip4_addr("127.0.0.1", 0, &sa);
    uv_udp_init(&fx->loop, &fx->peer);
    fx->peer.data = fx;
    assert_int_equal(uv_udp_bind(&fx->peer, (const struct sockaddr *)&sa, 0), 0);
    int len = sizeof(sa);
    uv_udp_getsockname(&fx->peer, (struct sockaddr *)&sa, &len);
    fx->peer_port = ntohs(sa.sin_port);
    uv_udp_recv_start(&fx->peer, alloc_cb, drop_cb);
}

static int setup(void **state)
{
    struct fixture *fx = calloc(1, sizeof(*fx));
    uv_loop_init(&fx->loop);
    fx->ctx.loop = &fx->loop;
    assert_int_equal(udp_addr_parse("127.0.0.1", 0, &fx->ctx.media_addr), 0);
    assert_int_equal(port_pool_create(&fx->ctx.ports, 42000, 42999), 0);
    media_metrics_init(&fx->ctx.metrics);
    peer_start(fx);
    assert_int_equal(leg_open(&fx->leg, &fx->ctx, "voepy_leg_tr", "voepy_call_tr", REPLY_TO), 0);
    struct leg_remote r = {.codec = codec_by_name("PCMU"),
                           .pt = 0,
                           .ptime_ms = 20,
                           .mode = LEG_MODE_SILENCE,
                           .te_pt = 101};
    assert_int_equal(udp_addr_parse("127.0.0.1", fx->peer_port, &r.addr), 0);
    leg_connect(fx->leg, &r);
    struct transcribe_opts o = {.node = "mf-test"};
    char why[256];
    assert_int_equal(transcribe_create(&fx->t, &fx->loop, &o, why, sizeof(why)), 0);
    assert_string_equal(transcribe_languages(fx->t), "en-US"); /* Debian's model alone */
    transcribe_on_reply(fx->t, reply_cb, fx);
    fx->replies = json_array();
    fx->started = json_array();
    *state = fx;
    return 0;
}

static int teardown(void **state)
{
    struct fixture *fx = *state;
    transcribe_close(fx->t, NULL, NULL);
    if (fx->leg)
        leg_close(fx->leg);
    uv_close((uv_handle_t *)&fx->peer, NULL);
    vp_test_loop_done(&fx->loop);
    port_pool_destroy(fx->ctx.ports);
    json_decref(fx->replies);
    json_decref(fx->started);
    free(fx);
    return 0;
}

static void ticks(struct fixture *fx, int n)
{
    for (int i = 0; i < n; i++)
        leg_tick(fx->leg);
    bool never = false;
    vp_test_run_until(&fx->loop, &never, 5); /* drain what reached the peer */
}

static const char *str(const json_t *o, const char *key)
{
    const char *s = json_string_value(json_object_get(o, key));
    return s ? s : "";
}

static json_int_t num(const json_t *o, const char *key)
{
    return json_integer_value(json_object_get(o, key));
}

static void test_speech_heard(void **state)
{
    struct fixture *fx = *state;
    struct vp_error e = {0};
    struct audio *a = NULL;
    assert_int_equal(
        tts_espeak_engine.render("man", "en-US", "I need help with my order please.", &a, &e), 0);
    size_t n;
    audio_samples(a, &n);
    /* British English is heard by the US English model (lang.h) */
    assert_int_equal(transcribe_start(fx->t, fx->leg, "tr-1", "fast", "en-GB", "outbound", "", &e),
                     0);
    assert_int_equal(transcribe_count(fx->t), 1);
    assert_int_equal(json_array_size(fx->started), 1);
    const json_t *st = json_array_get(fx->started, 0);
    assert_string_equal(str(st, "transcription_id"), "tr-1");
    assert_string_equal(str(st, "language"), "en-US");
    assert_string_equal(str(st, "engine"), "pocketsphinx");
    assert_string_equal(str(st, "call_id"), "voepy_call_tr");
    ticks(fx, 25); /* half a second of silence first */
    leg_play(fx->leg, a, 1, "pb-1", "");
    ticks(fx, (int)(n / 160) + 60); /* the sentence, then 1.2 s of silence: the phrase ends */
    assert_true(transcribe_stop(fx->t, "voepy_leg_tr", "tr-1"));
    assert_false(transcribe_stop(fx->t, "voepy_leg_tr", "tr-1"));
    assert_true(vp_test_run_until(&fx->loop, &fx->ended, 20000));
    assert_int_equal(json_array_size(fx->replies), 2);
    const json_t *c = json_array_get(fx->replies, 0), *end = json_array_get(fx->replies, 1);
    assert_string_equal(str(c, "op"), "transcript_chunk");
    assert_string_equal(str(c, "leg_id"), "voepy_leg_tr");
    assert_string_equal(str(c, "call_id"), "voepy_call_tr");
    assert_string_equal(str(c, "media_node"), "mf-test");
    assert_string_equal(str(c, "transcription_id"), "tr-1");
    assert_string_equal(str(c, "track"), "outbound");
    assert_true(json_is_true(json_object_get(c, "is_final")));
    const char *text = str(c, "text");
    int hits = !!strstr(text, "need") + !!strstr(text, "help") + !!strstr(text, "order");
    if (hits < 2)
        fail_msg("recognised \"%s\"", text);
    /* the speech started after the 500 ms of silence (within a frame or two) */
    assert_in_range(num(c, "start_ms"), 480, 700);
    assert_in_range(num(c, "end_ms"), 500 + (json_int_t)(n / 8) - 400, 500 + (json_int_t)(n / 8));
    const json_t *words = json_object_get(c, "words");
    assert_true(json_array_size(words) >= 3);
    assert_true(num(json_array_get(words, 0), "start_ms") >= 300);
    assert_string_equal(str(end, "op"), "transcription_ended");
    assert_string_equal(str(end, "reason"), "stopped");
    assert_int_equal(num(end, "audio_ms"), 20 * (25 + (json_int_t)(n / 160) + 60));
    assert_int_equal(transcribe_count(fx->t), 0);
    assert_int_equal(leg_tap_count(fx->leg), 0);
}

static void test_refused_replaced_released(void **state)
{
    struct fixture *fx = *state;
    struct vp_error e = {0};
    assert_int_equal(transcribe_start(fx->t, fx->leg, "x", "best", "", "inbound", "", &e),
                     VP_E_INVALID_PARAMETER);
    assert_string_equal(e.field, "engine");
    assert_int_equal(transcribe_start(fx->t, fx->leg, "x", "fast", "", "sideways", "", &e),
                     VP_E_INVALID_PARAMETER);
    assert_string_equal(e.field, "tracks");
    /* no model hears Spanish: refused, naming what there is */
    assert_int_equal(transcribe_start(fx->t, fx->leg, "x", "fast", "es-ES", "inbound", "", &e),
                     VP_E_INVALID_PARAMETER);
    assert_string_equal(e.field, "language");
    assert_non_null(strstr(e.message, "es-ES"));
    assert_non_null(strstr(e.message, "(it has en-US)"));
    assert_int_equal(transcribe_start(fx->t, fx->leg, "x", "accurate", "de", "", "", &e),
                     VP_E_INVALID_PARAMETER);
    assert_string_equal(e.field, "language");
    assert_int_equal(transcribe_count(fx->t), 0);
    assert_int_equal(json_array_size(fx->started), 0);
    assert_int_equal(transcribe_start(fx->t, fx->leg, "a", "accurate", "en-US", "both", "", &e), 0);
    /* a refused start leaves the running session alone */
    assert_int_equal(transcribe_start(fx->t, fx->leg, "y", "fast", "fr-FR", "both", "", &e),
                     VP_E_INVALID_PARAMETER);
    assert_int_equal(transcribe_start(fx->t, fx->leg, "a", "accurate", "en-US", "both", "", &e), 0);
    assert_int_equal(leg_tap_count(fx->leg), 1); /* redelivered: one session */
    ticks(fx, 10);
    assert_int_equal(transcribe_start(fx->t, fx->leg, "b", "", "", "", "", &e), 0);
    /* started: a, a again (redelivered), b (no language: en-US) */
    assert_int_equal(json_array_size(fx->started), 3);
    assert_string_equal(str(json_array_get(fx->started, 1), "transcription_id"), "a");
    assert_string_equal(str(json_array_get(fx->started, 2), "transcription_id"), "b");
    assert_string_equal(str(json_array_get(fx->started, 2), "language"), "en-US");
    assert_int_equal(leg_tap_count(fx->leg), 1);
    assert_true(fx->ended);
    json_t *r = json_array_get(fx->replies, 0);
    assert_string_equal(str(r, "transcription_id"), "a");
    assert_string_equal(str(r, "reason"), "replaced");
    assert_int_equal(num(r, "audio_ms"), 200);
    assert_false(transcribe_stop(fx->t, "voepy_leg_tr", "a")); /* not the running one */
    ticks(fx, 5);
    leg_close(fx->leg); /* released: the session ends with it */
    fx->leg = NULL;
    assert_int_equal(transcribe_count(fx->t), 0);
    r = json_array_get(fx->replies, 1);
    assert_string_equal(str(r, "transcription_id"), "b");
    assert_string_equal(str(r, "reason"), "released");
    assert_int_equal(num(r, "audio_ms"), 100);
    assert_int_equal(json_array_size(fx->replies), 2); /* silence: no chunks */
}

static void test_closed_sends_nothing(void **state)
{
    struct fixture *fx = *state;
    struct vp_error e = {0};
    assert_int_equal(transcribe_start(fx->t, fx->leg, "c", "fast", "", "inbound", "", &e), 0);
    ticks(fx, 3);
    transcribe_on_reply(fx->t, NULL, NULL); /* the inbox is closing */
    assert_true(transcribe_stop(fx->t, "voepy_leg_tr", ""));
    assert_int_equal(json_array_size(fx->replies), 0);
}

/* A fake model in Debian's layout under dir: NAME/, NAME.lm.bin, cmudict-NAME.dict. */
static void fake_model(const char *dir, const char *name)
{
    char p[512];
    snprintf(p, sizeof(p), "%s/%s", dir, name);
    assert_int_equal(mkdir(p, 0700), 0);
    const char *files[] = {"%s/%s.lm.bin", "%s/cmudict-%s.dict"};
    for (int i = 0; i < 2; i++) {
        snprintf(p, sizeof(p), files[i], dir, name);
        FILE *f = fopen(p, "w");
        assert_non_null(f);
        fclose(f);
    }
}

/* 0 and the languages of spec + dir, or the error's why. */
static const char *models(const char *spec, const char *dir, const char *pick, char *out, size_t n)
{
    struct asr_models *m = NULL;
    if (asr_models_create(&m, spec, dir, out, n))
        return out;
    const struct asr_model *x = pick ? asr_models_pick(m, pick) : NULL;
    snprintf(out, n, "%s%s%s", asr_models_languages(m), x ? " > " : "", x ? x->hmm : "");
    asr_models_destroy(m);
    return out;
}

static void test_model_map(void **state)
{
    (void)state;
    char dir[] = "/tmp/voepy-asr-XXXXXX", spec[1024], want[1024], out[1024];
    assert_non_null(mkdtemp(dir));
    fake_model(dir, "es");
    fake_model(dir, "en-us");
    /* es alone: no en-US unless VOEPY_ASR_MODEL_DIR is given; es-MX is served by es-ES */
    snprintf(spec, sizeof(spec), " es-ES=%s/es ,", dir);
    snprintf(want, sizeof(want), "es-ES > %s/es", dir);
    assert_string_equal(models(spec, "", "es-MX", out, sizeof(out)), want);
    assert_string_equal(models(spec, NULL, "en-US", out, sizeof(out)), "es-ES");
    snprintf(want, sizeof(want), "es-ES,en-US > %s/en-us", dir);
    assert_string_equal(models(spec, dir, "en-GB", out, sizeof(out)), want);
    /* an en-US entry wins over VOEPY_ASR_MODEL_DIR; HMM:LM:DICT spelled out */
    snprintf(spec, sizeof(spec), "en-US=%s/es:%s/es.lm.bin:%s/cmudict-es.dict", dir, dir, dir);
    snprintf(want, sizeof(want), "en-US > %s/es", dir);
    assert_string_equal(models(spec, dir, "en", out, sizeof(out)), want);
    /* nothing configured: Debian's en-us */
    assert_string_equal(models("", "", "en-US", out, sizeof(out)),
                        "en-US > /usr/share/pocketsphinx/model/en-us/en-us");
    /* errors name the entry */
    snprintf(spec, sizeof(spec), "fr-FR=%s/fr", dir);
    assert_non_null(strstr(models(spec, "", NULL, out, sizeof(out)), "fr-FR: acoustic model"));
    snprintf(spec, sizeof(spec), "es-ES=%s/es:%s/nope.lm", dir, dir);
    assert_non_null(strstr(models(spec, "", NULL, out, sizeof(out)), "HMM:LM:DICT"));
    snprintf(spec, sizeof(spec), "es-ES=%s/es:%s/nope.lm:%s/cmudict-es.dict", dir, dir, dir);
    assert_non_null(strstr(models(spec, "", NULL, out, sizeof(out)), "language model"));
    snprintf(spec, sizeof(spec), "es-ES=%s/es,es-es=%s/es", dir, dir);
    assert_non_null(strstr(models(spec, "", NULL, out, sizeof(out)), "twice"));
    assert_non_null(strstr(models("e=/x", "", NULL, out, sizeof(out)), "not a language tag"));
    assert_non_null(strstr(models("en-US", "", NULL, out, sizeof(out)), "TAG=PATH"));
    assert_non_null(strstr(models("en-US=", "", NULL, out, sizeof(out)), "TAG=PATH"));
    snprintf(want, sizeof(want), "rm -rf '%s'", dir);
    assert_int_equal(system(want), 0);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(test_speech_heard, setup, teardown),
        cmocka_unit_test_setup_teardown(test_refused_replaced_released, setup, teardown),
        cmocka_unit_test_setup_teardown(test_closed_sends_nothing, setup, teardown),
        cmocka_unit_test(test_model_map),
    };
    int rc = cmocka_run_group_tests(tests, NULL, NULL);
    tts_shutdown();
    return rc;
}
