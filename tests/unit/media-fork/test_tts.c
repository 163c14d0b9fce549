/*
 * Text to speech (tts.c, tts_espeak.c) and recognition (asr_pocketsphinx.c): espeak-ng
 * renders non-empty 8 kHz speech of a plausible length and level for known voices,
 * refuses unknown ones (by the engine and by tts_get, synchronously); tts_get renders on
 * the thread pool once and then answers from the cache; every voice the gateway accepts
 * (tts_voices in proto/sql/0027_speech.sql) is one the engine speaks; and pocketsphinx
 * recognises key words of a sentence espeak-ng said, at telephone rate.
 */
#include "vp_test.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "asr.h"
#include "audio_cache.h"
#include "audio_file.h"
#include "tts.h"

static double rms(const int16_t *s, size_t n)
{
    double sum = 0;
    for (size_t i = 0; i < n; i++)
        sum += (double)s[i] * s[i];
    return n ? sqrt(sum / (double)n) : 0;
}

static void test_render(void **state)
{
    (void)state;
    const char *voices[] = {"Polly.Joanna", "Polly.Matthew", "alice", "man", "en-us", "de"};
    for (size_t i = 0; i < sizeof(voices) / sizeof(voices[0]); i++) {
        struct audio *a = NULL;
        struct vp_error e = {0};
        assert_true(tts_espeak_engine.voice_known(voices[i]));
        assert_int_equal(
            tts_espeak_engine.render(voices[i], "en-US", "Hello, this is a test.", &a, &e), 0);
        size_t n;
        const int16_t *s = audio_samples(a, &n);
        /* about 1.5 s at 8 kHz: between 0.7 and 3 s */
        assert_in_range(n, AUDIO_RATE * 7 / 10, AUDIO_RATE * 3);
        assert_true(rms(s, n) > 300); /* speech, not silence */
        audio_unref(a);
    }
}

static void test_unknown_voice(void **state)
{
    (void)state;
    struct audio *a = NULL;
    struct vp_error e = {0};
    assert_false(tts_espeak_engine.voice_known("Polly.Nobody"));
    assert_false(tts_espeak_engine.voice_known(""));
    assert_false(tts_espeak_engine.voice_known(NULL));
    assert_int_equal(tts_espeak_engine.render("Polly.Nobody", "", "hello", &a, &e),
                     VP_E_INVALID_PARAMETER);
    assert_string_equal(e.field, "voice");
    assert_null(a);
}

struct got {
    bool done;
    struct audio *a;
    int err;
};

static void got_cb(struct audio *a, const struct vp_error *e, void *arg)
{
    struct got *g = arg;
    g->done = true;
    g->a = a;
    g->err = e ? e->err : 0;
}

static void test_get_and_cache(void **state)
{
    (void)state;
    uv_loop_t loop;
    uv_loop_init(&loop);
    struct audio_cache *cache;
    struct audio_cache_opts co = {.max_bytes = 1 << 20};
    assert_int_equal(audio_cache_create(&cache, &co), 0);
    struct tts *t;
    assert_int_equal(tts_create(&t, &loop, cache, "nosuch"), VP_E_INVALID_PARAMETER);
    assert_int_equal(tts_create(&t, &loop, cache, "espeak"), 0);
    struct audio *a = NULL;
    struct vp_error e = {0};
    assert_int_equal(tts_get(t, "Polly.Nobody", "", "hi", &a, &e, got_cb, NULL),
                     VP_E_INVALID_PARAMETER);
    assert_int_equal(tts_get(t, "alice", "en-US", "", &a, &e, got_cb, NULL),
                     VP_E_INVALID_PARAMETER);
    struct got g1 = {0}, g2 = {0};
    assert_int_equal(tts_get(t, "alice", "en-US", "one two three", &a, &e, got_cb, &g1),
                     AUDIO_LOAD_PENDING);
    assert_int_equal(tts_get(t, "alice", "en-US", "one two three", &a, &e, got_cb, &g2),
                     AUDIO_LOAD_PENDING); /* shares the job */
    assert_true(vp_test_run_until(&loop, &g2.done, 10000));
    assert_true(g1.done);
    assert_non_null(g1.a);
    assert_ptr_equal(g1.a, g2.a);
    assert_int_equal(audio_cache_count(cache), 1);
    assert_int_equal(tts_get(t, "alice", "en-US", "one two three", &a, &e, got_cb, NULL), 0);
    assert_ptr_equal(a, g1.a); /* from the cache, at once */
    audio_unref(a);
    audio_unref(g1.a);
    audio_unref(g2.a);
    tts_close(t, NULL, NULL);
    audio_cache_destroy(cache);
    vp_test_loop_done(&loop);
}

/* Every voice of 0027_speech.sql's tts_voices is one the engine speaks. */
static void test_sql_voices(void **state)
{
    (void)state;
    FILE *f = fopen(VOEPY_SQL_DIR "/0027_speech.sql", "r");
    assert_non_null(f);
    char line[512];
    int n = 0;
    bool in_list = false;
    while (fgets(line, sizeof(line), f)) {
        if (strstr(line, "INSERT INTO tts_voices"))
            in_list = true;
        char name[64];
        if (in_list && sscanf(line, " ('%63[^']'", name) == 1) {
            if (!tts_espeak_engine.voice_known(name))
                fail_msg("voice %s of tts_voices is unknown to tts_espeak.c", name);
            n++;
        }
        size_t len = strlen(line);
        if (in_list && len >= 3 && strcmp(line + len - 3, "');") == 0)
            break; /* the last row */
    }
    fclose(f);
    assert_true(n >= 20);
}

/* The acceptance in small: espeak says a sentence at 8 kHz, pocketsphinx hears it. */
static void test_speech_round_trip(void **state)
{
    (void)state;
    struct audio *a = NULL;
    struct vp_error e = {0};
    assert_int_equal(
        tts_espeak_engine.render("man", "en-US", "I need help with my order please.", &a, &e), 0);
    size_t n;
    const int16_t *s = audio_samples(a, &n);
    struct asr_result r;
    struct asr_models *models = NULL;
    char why[256];
    assert_int_equal(asr_models_create(&models, "", "", why, sizeof(why)), 0); /* Debian's */
    const struct asr_model *en = asr_models_pick(models, "en-US");
    assert_non_null(en);
    assert_int_equal(asr_pocketsphinx_engine.recognize(en, s, n, AUDIO_RATE, &r, &e), 0);
    int hits = !!strstr(r.text, "need") + !!strstr(r.text, "help") + !!strstr(r.text, "order");
    if (hits < 2)
        fail_msg("recognised \"%s\"", r.text);
    assert_true(r.nwords >= 3);
    for (size_t i = 1; i < r.nwords; i++) /* word times run forward within the audio */
        assert_true(r.words[i].start_ms >= r.words[i - 1].start_ms);
    assert_true(r.words[r.nwords - 1].end_ms <= n * 1000 / AUDIO_RATE + 20);
    asr_result_free(&r);
    audio_unref(a);
    asr_pocketsphinx_engine.shutdown();
    asr_models_destroy(models); /* after the engine: its decoders point at them */
}

static int teardown(void **state)
{
    (void)state;
    tts_shutdown(); /* once: espeak-ng cannot be started again after it */
    return 0;
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_render),
        cmocka_unit_test(test_unknown_voice),
        cmocka_unit_test(test_get_and_cache),
        cmocka_unit_test(test_sql_voices),
        cmocka_unit_test(test_speech_round_trip),
    };
    return cmocka_run_group_tests(tests, NULL, teardown);
}
