/*
 * Audio for playback: files written here with libsndfile (WAV at 44.1 kHz stereo and
 * 48 kHz, 8 kHz PCM, MP3) decoded and resampled to 8 kHz mono (audio_file.c), checked by
 * length, level and frequency content (a tone above 4 kHz must be filtered, not aliased);
 * the cache (audio_cache.c): what URLs and paths it accepts, hits, reloads, its bound;
 * and playback (playback.c) frame by frame with loops.
 */
#include "vp_test.h"

#include <math.h>
#include <sndfile.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "audio_cache.h"
#include "audio_file.h"
#include "playback.h"
#include "voepy/err.h"

static char dir[64];

static void path_of(char *out, size_t cap, const char *name)
{
    snprintf(out, cap, "%s/%s", dir, name);
}

/* Write secs of a sine at freq (amplitude amp) in every channel. */
static void write_tone(const char *name, int format, int rate, int channels, double freq,
                       double amp, double secs)
{
    char p[256];
    path_of(p, sizeof(p), name);
    SF_INFO info = {.samplerate = rate, .channels = channels, .format = format};
    SNDFILE *f = sf_open(p, SFM_WRITE, &info);
    assert_non_null(f);
    size_t n = (size_t)(rate * secs);
    float *buf = malloc(n * (size_t)channels * sizeof(float));
    for (size_t i = 0; i < n; i++)
        for (int c = 0; c < channels; c++)
            buf[i * (size_t)channels + (size_t)c] =
                (float)(amp * sin(2 * M_PI * freq * (double)i / rate));
    assert_int_equal(sf_writef_float(f, buf, (sf_count_t)n), (sf_count_t)n);
    free(buf);
    sf_close(f);
}

static double rms(const int16_t *s, size_t n)
{
    double sum = 0;
    for (size_t i = 0; i < n; i++)
        sum += (double)s[i] * s[i];
    return sqrt(sum / (double)n);
}

/* Amplitude of the component at freq (Goertzel over the middle of the audio). */
static double tone_level(const int16_t *s, size_t n, double freq)
{
    size_t from = n / 4, len = n / 2;
    double k = 2 * cos(2 * M_PI * freq / AUDIO_RATE), s1 = 0, s2 = 0;
    for (size_t i = from; i < from + len; i++) {
        double s0 = s[i] + k * s1 - s2;
        s2 = s1;
        s1 = s0;
    }
    double power = s1 * s1 + s2 * s2 - k * s1 * s2;
    return 2 * sqrt(power) / (double)len;
}

static struct audio *load_ok(const char *name)
{
    char p[256];
    path_of(p, sizeof(p), name);
    struct audio *a = NULL;
    struct vp_error e = {0};
    int err = audio_file_load(p, 60, &a, &e);
    if (err)
        fail_msg("%s: %s", name, e.message);
    return a;
}

static void test_wav_44k_stereo(void **state)
{
    write_tone("a.wav", SF_FORMAT_WAV | SF_FORMAT_PCM_16, 44100, 2, 440, 0.5, 1.0);
    struct audio *a = load_ok("a.wav");
    size_t n;
    const int16_t *s = audio_samples(a, &n);
    assert_in_range(n, 7998, 8002);
    double full = 0.5 * 32767;
    assert_true(fabs(rms(s, n) - full / sqrt(2)) < 0.03 * full);
    assert_true(fabs(tone_level(s, n, 440) - full) < 0.05 * full);
    assert_true(tone_level(s, n, 1000) < 0.01 * full);
    audio_unref(a);
}

static void test_antialiasing(void **state)
{
    /* 6 kHz cannot exist at 8 kHz: a naive decimator would fold it to 2 kHz. */
    write_tone("hi.wav", SF_FORMAT_WAV | SF_FORMAT_FLOAT, 48000, 1, 6000, 0.5, 1.0);
    struct audio *a = load_ok("hi.wav");
    size_t n;
    const int16_t *s = audio_samples(a, &n);
    assert_in_range(n, 7998, 8002);
    assert_true(rms(s, n) < 0.01 * 0.5 * 32767);
    audio_unref(a);
    /* 3 kHz is in the band and passes. */
    write_tone("mid.wav", SF_FORMAT_WAV | SF_FORMAT_FLOAT, 48000, 1, 3000, 0.5, 1.0);
    a = load_ok("mid.wav");
    s = audio_samples(a, &n);
    assert_true(fabs(tone_level(s, n, 3000) - 0.5 * 32767) < 0.05 * 0.5 * 32767);
    audio_unref(a);
}

static void test_8k_unchanged(void **state)
{
    char p[256];
    path_of(p, sizeof(p), "8k.wav");
    SF_INFO info = {.samplerate = 8000, .channels = 1, .format = SF_FORMAT_WAV | SF_FORMAT_PCM_16};
    SNDFILE *f = sf_open(p, SFM_WRITE, &info);
    int16_t in[800];
    for (int i = 0; i < 800; i++)
        in[i] = (int16_t)((i * 977) % 60000 - 30000);
    assert_int_equal(sf_write_short(f, in, 800), 800);
    sf_close(f);
    struct audio *a = load_ok("8k.wav");
    size_t n;
    const int16_t *s = audio_samples(a, &n);
    assert_int_equal(n, 800);
    for (int i = 0; i < 800; i++)
        assert_in_range(s[i] - in[i] + 2, 0, 4); /* float scaling: within 2 LSB */
    audio_unref(a);
}

static void test_mp3(void **state)
{
    write_tone("t.mp3", SF_FORMAT_MPEG | SF_FORMAT_MPEG_LAYER_III, 16000, 1, 1000, 0.5, 1.0);
    struct audio *a = load_ok("t.mp3");
    size_t n;
    const int16_t *s = audio_samples(a, &n);
    assert_in_range(n, 7600, 8800); /* the codec pads a little at either end */
    double full = 0.5 * 32767;
    assert_true(fabs(tone_level(s, n, 1000) - full) < 0.1 * full);
    assert_true(tone_level(s, n, 2000) < 0.05 * full);
    audio_unref(a);
}

static void test_bad_files(void **state)
{
    char p[256];
    path_of(p, sizeof(p), "text.wav");
    FILE *f = fopen(p, "w");
    fputs("not audio at all, just text\n", f);
    fclose(f);
    struct audio *a = NULL;
    struct vp_error e = {0};
    assert_int_equal(audio_file_load(p, 60, &a, &e), VP_E_INVALID_PARAMETER);
    path_of(p, sizeof(p), "missing.wav");
    assert_int_equal(audio_file_load(p, 60, &a, &e), VP_E_NOT_FOUND);
    /* Longer than allowed. */
    write_tone("long.wav", SF_FORMAT_WAV | SF_FORMAT_PCM_16, 8000, 1, 440, 0.3, 3.0);
    path_of(p, sizeof(p), "long.wav");
    assert_int_equal(audio_file_load(p, 2, &a, &e), VP_E_INVALID_PARAMETER);
    assert_int_equal(audio_file_load(p, 3, &a, &e), 0);
    audio_unref(a);
    float one = 0;
    assert_int_equal(audio_from_float(&one, 0, 8000, &a), VP_E_INVALID_PARAMETER);
}

static int get(struct audio_cache *c, const char *url, struct audio **a)
{
    struct vp_error e = {0};
    *a = NULL;
    return audio_cache_get(c, url, a, &e);
}

static void test_cache(void **state)
{
    write_tone("c1.wav", SF_FORMAT_WAV | SF_FORMAT_PCM_16, 8000, 1, 440, 0.3, 1.0);
    write_tone("c2.wav", SF_FORMAT_WAV | SF_FORMAT_PCM_16, 8000, 1, 440, 0.3, 1.0);
    struct audio_cache *c;
    /* Room for one second of audio (16000 bytes) and a bit. */
    struct audio_cache_opts o = {.dir = dir, .max_bytes = 20000};
    assert_int_equal(audio_cache_create(&c, &o), 0);
    char url[300];
    snprintf(url, sizeof(url), "file://%s/c1.wav", dir);
    struct audio *a, *b;
    assert_int_equal(get(c, url, &a), 0);
    assert_int_equal(get(c, "c1.wav", &b), 0); /* relative to the directory: the same */
    assert_ptr_equal(a, b);
    assert_int_equal(audio_cache_count(c), 1);
    audio_unref(b);
    /* Another file evicts the first (the bound), which stays alive for its user. */
    assert_int_equal(get(c, "c2.wav", &b), 0);
    assert_int_equal(audio_cache_count(c), 1);
    assert_true(audio_cache_bytes(c) <= 20000);
    size_t n;
    assert_non_null(audio_samples(a, &n));
    assert_int_equal(n, 8000);
    audio_unref(a);
    audio_unref(b);
    /* Changed on disk: decoded again. */
    assert_int_equal(get(c, "c2.wav", &a), 0);
    audio_unref(a);
    write_tone("c2.wav", SF_FORMAT_WAV | SF_FORMAT_PCM_16, 8000, 1, 440, 0.3, 0.5);
    assert_int_equal(get(c, "c2.wav", &a), 0);
    audio_samples(a, &n);
    assert_int_equal(n, 4000);
    audio_unref(a);

    /* What is refused. */
    assert_int_equal(get(c, "https://example.com/a.mp3", &a), VP_E_NOT_IMPLEMENTED);
    assert_int_equal(get(c, "ftp://example.com/a.mp3", &a), VP_E_INVALID_PARAMETER);
    assert_int_equal(get(c, "file://host/etc/passwd", &a), VP_E_INVALID_PARAMETER);
    assert_int_equal(get(c, "file:///etc/passwd", &a), VP_E_INVALID_PARAMETER);
    assert_int_equal(get(c, "/etc/passwd", &a), VP_E_INVALID_PARAMETER);
    assert_int_equal(get(c, "../../etc/passwd", &a), VP_E_INVALID_PARAMETER);
    /* Outside the directory, existing or not, is the same answer: nothing to probe. */
    assert_int_equal(get(c, "../../no/such/file", &a), VP_E_INVALID_PARAMETER);
    assert_int_equal(get(c, "file:///no/such/file", &a), VP_E_INVALID_PARAMETER);
    assert_int_equal(get(c, "sub/../c1.wav", &a), VP_E_INVALID_PARAMETER);
    char inner[300];
    snprintf(inner, sizeof(inner), "file://%s/c1.wav", dir); /* absolute, inside: fine */
    assert_int_equal(get(c, inner, &a), 0);
    audio_unref(a);
    assert_int_equal(get(c, "c1%2ewav", &a), VP_E_INVALID_PARAMETER);
    assert_int_equal(get(c, "nope.wav", &a), VP_E_NOT_FOUND);
    assert_int_equal(get(c, "", &a), VP_E_INVALID_PARAMETER);
    assert_int_equal(get(c, ".", &a), VP_E_INVALID_PARAMETER); /* the directory itself */
    char link[256];
    path_of(link, sizeof(link), "out.wav");
    assert_int_equal(symlink("/etc/hostname", link), 0);
    assert_int_equal(get(c, "out.wav", &a), VP_E_INVALID_PARAMETER);
    assert_null(a);
    audio_cache_destroy(c);

    /* No directory configured: nothing is allowed; a missing directory is a config error. */
    struct audio_cache_opts none = {.max_bytes = 1000};
    assert_int_equal(audio_cache_create(&c, &none), 0);
    assert_int_equal(get(c, "c1.wav", &a), VP_E_INVALID_PARAMETER);
    audio_cache_destroy(c);
    struct audio_cache_opts bad = {.dir = "/nonexistent/voepy"};
    assert_int_equal(audio_cache_create(&c, &bad), VP_E_CONFIG);
}

static void test_cache_urls(void **state)
{
    struct audio_cache *c;
    struct audio_cache_opts o = {.dir = dir, .max_bytes = 40000};
    assert_int_equal(audio_cache_create(&c, &o), 0);
    float f[800] = {0};
    struct audio *a, *b;
    assert_int_equal(audio_from_float(f, 800, AUDIO_RATE, &a), 0);
    const char *url = "https://example.com/a.wav";
    assert_null(audio_cache_find_url(c, url, 1000));
    audio_cache_put_url(c, url, a, 1000);
    b = audio_cache_find_url(c, url, 1000 + AUDIO_URL_TTL_MS - 1);
    assert_ptr_equal(a, b);
    audio_unref(b);
    /* A file path never finds a URL entry, nor the other way round. */
    assert_null(audio_cache_find_url(c, "url:https://example.com/a.wav", 1000));
    assert_int_equal(get(c, url, &b), VP_E_NOT_IMPLEMENTED);
    /* Expired: gone. */
    assert_null(audio_cache_find_url(c, url, 1000 + AUDIO_URL_TTL_MS));
    assert_int_equal(audio_cache_count(c), 0);
    /* Put twice: one entry, the newest. */
    audio_cache_put_url(c, url, a, 0);
    struct audio *a2;
    assert_int_equal(audio_from_float(f, 400, AUDIO_RATE, &a2), 0);
    audio_cache_put_url(c, url, a2, 0);
    assert_int_equal(audio_cache_count(c), 1);
    b = audio_cache_find_url(c, url, 1);
    assert_ptr_equal(b, a2);
    audio_unref(b);
    audio_unref(a);
    audio_unref(a2);
    audio_cache_destroy(c);
}

static void test_playback_loops(void **state)
{
    float f[400];
    for (int i = 0; i < 400; i++)
        f[i] = 0.25f;
    struct audio *a;
    assert_int_equal(audio_from_float(f, 400, AUDIO_RATE, &a), 0);
    struct playback p = {0};
    playback_start(&p, a, 2);
    int16_t frame[PLAYBACK_FRAME];
    for (int pass = 0; pass < 2; pass++) {
        assert_true(playback_next(&p, frame));
        assert_int_equal(frame[0], 8192);
        assert_true(playback_next(&p, frame));
        assert_true(playback_next(&p, frame)); /* 80 samples, then silence */
        assert_int_equal(frame[79], 8192);
        assert_int_equal(frame[80], 0);
    }
    assert_false(playback_next(&p, frame));
    assert_false(playback_active(&p));
    /* Stopping early drops the reference (ASan would see a leak otherwise). */
    assert_int_equal(audio_from_float(f, 400, AUDIO_RATE, &a), 0);
    playback_start(&p, a, 1);
    assert_true(playback_next(&p, frame));
    playback_stop(&p);
    assert_false(playback_next(&p, frame));
}

static int setup(void **state)
{
    snprintf(dir, sizeof(dir), "/tmp/voepy-audio-XXXXXX");
    return mkdtemp(dir) ? 0 : -1;
}

static int teardown(void **state)
{
    char cmd[128];
    snprintf(cmd, sizeof(cmd), "rm -rf '%s'", dir);
    return system(cmd) == 0 ? 0 : -1;
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_wav_44k_stereo), cmocka_unit_test(test_antialiasing),
        cmocka_unit_test(test_8k_unchanged),   cmocka_unit_test(test_mp3),
        cmocka_unit_test(test_bad_files),      cmocka_unit_test(test_cache),
        cmocka_unit_test(test_playback_loops), cmocka_unit_test(test_cache_urls),
    };
    return cmocka_run_group_tests(tests, setup, teardown);
}
