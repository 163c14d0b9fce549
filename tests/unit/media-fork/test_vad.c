/*
 * Voice activity detection (vad.c) on synthetic audio fed in 20 ms frames as a leg's tap
 * would: silence gives nothing; a tone burst gives one phrase whose timing matches the
 * burst; a short pause stays inside a phrase and a long one splits it; clicks and bursts
 * shorter than the minimum are not phrases; a phrase reaching the maximum is cut and the
 * speech goes on in the next; flushing ends a phrase in progress.
 */
#include "vp_test.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "vad.h"

#define FRAME 160 /* 20 ms at 8 kHz */

struct feed {
    struct vad *v;
    unsigned phrases;
    struct vad_phrase last;
    uint64_t at_ms;  /* time of the frame that ended the last phrase */
    uint64_t now_ms; /* time fed so far */
    uint64_t tone_n; /* samples of tone generated (phase) */
};

static void setup_feed(struct feed *f)
{
    memset(f, 0, sizeof(*f));
    struct vad_opts o = {.rate = 8000};
    assert_int_equal(vad_create(&f->v, &o), 0);
}

/* ms of a 440 Hz tone at -20 dBFS (amp != 0) or of silence (amp == 0). */
static void feed(struct feed *f, unsigned ms, double amp)
{
    int16_t s[FRAME];
    for (unsigned t = 0; t < ms; t += 20) {
        for (int i = 0; i < FRAME; i++)
            s[i] = (int16_t)(amp * 32767.0 * sin(2 * M_PI * 440.0 * (double)f->tone_n++ / 8000.0));
        f->now_ms += 20;
        struct vad_phrase p;
        if (vad_feed(f->v, s, FRAME, &p)) {
            f->phrases++;
            f->last = p;
            f->at_ms = f->now_ms;
        }
    }
}

#define LOUD 0.1 /* -20 dBFS peak: well above the -40 dBFS default threshold */

static void test_silence(void **state)
{
    (void)state;
    struct feed f;
    setup_feed(&f);
    feed(&f, 3000, 0);
    feed(&f, 1000, 0.001); /* -60 dBFS: noise, not speech */
    assert_int_equal(f.phrases, 0);
    assert_false(vad_in_speech(f.v));
    assert_int_equal(vad_fed_ms(f.v), 4000);
    vad_destroy(f.v);
}

static void test_one_burst(void **state)
{
    (void)state;
    struct feed f;
    setup_feed(&f);
    feed(&f, 500, 0);
    feed(&f, 1000, LOUD);
    assert_true(vad_in_speech(f.v));
    feed(&f, 400, 0);
    assert_int_equal(f.phrases, 0); /* within the hangover: still the phrase */
    feed(&f, 1000, 0);
    assert_int_equal(f.phrases, 1);
    assert_int_equal(f.last.start_ms, 500);
    assert_int_equal(f.last.end_ms, 1500);
    assert_int_equal(f.at_ms, 1500 + 600); /* reported once the hangover passed */
    /* preroll (200 ms) + the burst + the hangover */
    assert_int_equal(f.last.n, (200 + 1000 + 600) * 8);
    assert_int_equal(f.last.buf_start_ms, 300);
    assert_int_equal(f.last.samples[0], 0);        /* preroll: the silence before */
    assert_int_not_equal(f.last.samples[1701], 0); /* the tone */
    vad_destroy(f.v);
}

static void test_pauses(void **state)
{
    (void)state;
    struct feed f;
    setup_feed(&f);
    feed(&f, 600, LOUD);
    feed(&f, 300, 0); /* a pause between words */
    feed(&f, 600, LOUD);
    feed(&f, 1000, 0); /* the end of a sentence */
    assert_int_equal(f.phrases, 1);
    assert_int_equal(f.last.start_ms, 0);
    assert_int_equal(f.last.end_ms, 1500);
    feed(&f, 500, LOUD);
    feed(&f, 700, 0);
    assert_int_equal(f.phrases, 2);
    assert_int_equal(f.last.start_ms, 2500);
    assert_int_equal(f.last.end_ms, 3000);
    vad_destroy(f.v);
}

static void test_clicks(void **state)
{
    (void)state;
    struct feed f;
    setup_feed(&f);
    for (int i = 0; i < 5; i++) {
        feed(&f, 20, LOUD); /* one loud frame: shorter than the 40 ms start */
        feed(&f, 300, 0);
    }
    assert_false(vad_in_speech(f.v));
    feed(&f, 60, LOUD); /* starts a phrase, but < 100 ms of speech */
    assert_true(vad_in_speech(f.v));
    feed(&f, 1000, 0);
    assert_false(vad_in_speech(f.v));
    assert_int_equal(f.phrases, 0);
    vad_destroy(f.v);
}

static void test_max_and_flush(void **state)
{
    (void)state;
    struct feed f;
    setup_feed(&f);
    feed(&f, 20000, LOUD); /* talking for 20 s */
    assert_int_equal(f.phrases, 1);
    assert_int_equal(f.last.start_ms, 0);
    assert_int_equal(f.last.end_ms, 15000);
    assert_true(vad_in_speech(f.v)); /* the speech goes on in the next phrase */
    struct vad_phrase p;
    assert_true(vad_flush(f.v, &p));
    assert_int_equal(p.start_ms, 15000);
    assert_int_equal(p.end_ms, 20000);
    assert_int_equal(p.n, 5000 * 8);
    assert_false(vad_flush(f.v, &p)); /* nothing in progress any more */
    vad_destroy(f.v);
}

static void test_options(void **state)
{
    (void)state;
    struct vad *v;
    struct vad_opts o = {.rate = 8000, .threshold_dbfs = -10, .hangover_ms = 200};
    assert_int_equal(vad_create(&v, &o), 0);
    int16_t s[FRAME];
    struct vad_phrase p;
    for (int i = 0; i < FRAME; i++)
        s[i] = (int16_t)(0.1 * 32767 * sin(2 * M_PI * 440.0 * i / 8000.0));
    for (int i = 0; i < 50; i++) /* -23 dBFS: quiet for a -10 dBFS threshold */
        assert_false(vad_feed(v, s, FRAME, &p));
    assert_false(vad_in_speech(v));
    for (int i = 0; i < FRAME; i++)
        s[i] = (int16_t)(0.9 * 32767 * sin(2 * M_PI * 440.0 * i / 8000.0));
    for (int i = 0; i < 20; i++)
        assert_false(vad_feed(v, s, FRAME, &p));
    memset(s, 0, sizeof(s));
    bool got = false;
    for (int i = 0; i < 10 && !got; i++) /* ends after 200 ms, not 600 */
        got = vad_feed(v, s, FRAME, &p);
    assert_true(got);
    assert_int_equal(p.end_ms - p.start_ms, 400);
    vad_destroy(v);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_silence),       cmocka_unit_test(test_one_burst),
        cmocka_unit_test(test_pauses),        cmocka_unit_test(test_clicks),
        cmocka_unit_test(test_max_and_flush), cmocka_unit_test(test_options),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
