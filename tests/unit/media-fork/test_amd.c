/*
 * Answering-machine detection (amd.h) on synthetic audio: noise bursts stand in for
 * speech (broadband, never tonal), sine waves for beeps and ringback. Each test feeds
 * 20 ms frames and checks the result, the beep, and when the detector made up its mind.
 */
#include "vp_test.h"

#include <math.h>

#include "amd.h"

#define FRAME 160

struct feeder {
    struct amd *amd;
    uint32_t seed;
    double phase;
    unsigned done_at; /* ms at which amd_feed first returned true, 0 = not yet */
};

static void feed(struct feeder *f, const int16_t *pcm)
{
    bool done = amd_feed(f->amd, pcm, FRAME);
    if (done && !f->done_at)
        f->done_at = amd_elapsed_ms(f->amd);
}

static void silence(struct feeder *f, unsigned ms)
{
    int16_t pcm[FRAME] = {0};
    for (unsigned t = 0; t < ms; t += 20)
        feed(f, pcm);
}

/* Broadband noise at about -12 dBFS: speech as far as energy goes, and not a tone. */
static void speech(struct feeder *f, unsigned ms)
{
    int16_t pcm[FRAME];
    for (unsigned t = 0; t < ms; t += 20) {
        for (int i = 0; i < FRAME; i++) {
            f->seed = f->seed * 1103515245u + 12345u;
            pcm[i] = (int16_t)((int)((f->seed >> 16) & 0x3fff) - 0x2000);
        }
        feed(f, pcm);
    }
}

static void tone(struct feeder *f, double hz, unsigned ms, double amplitude)
{
    int16_t pcm[FRAME];
    for (unsigned t = 0; t < ms; t += 20) {
        for (int i = 0; i < FRAME; i++) {
            pcm[i] = (int16_t)(amplitude * sin(f->phase));
            f->phase += 2 * M_PI * hz / 8000.0;
        }
        feed(f, pcm);
    }
}

/* A machine's greeting: words of 300 ms with 80 ms between them. */
static void greeting(struct feeder *f, unsigned ms)
{
    for (unsigned t = 0; t < ms; t += 380) {
        speech(f, 300);
        silence(f, 80);
    }
}

static struct feeder start(void)
{
    return (struct feeder){.amd = amd_create(NULL), .seed = 7};
}

static void test_short_hello_then_silence_is_human(void **state)
{
    struct feeder f = start();
    silence(&f, 300);
    speech(&f, 500);
    silence(&f, 2000);
    assert_true(amd_done(f.amd));
    assert_int_equal(amd_result(f.amd), AMD_HUMAN);
    assert_false(amd_beep(f.amd));
    /* decided 800 ms into the pause after the hello, not at the end of the audio */
    assert_in_range(f.done_at, 1560, 1660);
    amd_destroy(f.amd);
}

static void test_long_greeting_then_beep_is_machine_with_beep(void **state)
{
    struct feeder f = start();
    silence(&f, 200);
    greeting(&f, 4000);
    assert_false(amd_done(f.amd)); /* machine decided, listening for the beep */
    assert_int_equal(amd_result(f.amd), AMD_PENDING);
    silence(&f, 400);
    unsigned beep_at = amd_elapsed_ms(f.amd);
    tone(&f, 1012, 500, 12000); /* between two filters: still heard */
    silence(&f, 500);
    assert_true(amd_done(f.amd));
    assert_int_equal(amd_result(f.amd), AMD_MACHINE);
    assert_true(amd_beep(f.amd));
    assert_in_range(f.done_at, beep_at + 100, beep_at + 200);
    amd_destroy(f.amd);
}

static void test_greeting_without_beep_is_machine_after_the_silence(void **state)
{
    struct feeder f = start();
    greeting(&f, 3000);
    unsigned quiet_at = amd_elapsed_ms(f.amd);
    silence(&f, 6000);
    assert_int_equal(amd_result(f.amd), AMD_MACHINE);
    assert_false(amd_beep(f.amd));
    assert_in_range(f.done_at, quiet_at + 3900, quiet_at + 4100);
    amd_destroy(f.amd);
}

static void test_many_short_words_are_a_machine(void **state)
{
    struct amd_params p;
    amd_params_default(&p);
    p.greeting_ms = 10000; /* only the word count can decide */
    p.beep_wait_ms = 3000;
    struct feeder f = {.amd = amd_create(&p), .seed = 3};
    for (int i = 0; i < 5; i++) {
        speech(&f, 160);
        silence(&f, 200);
    }
    silence(&f, 3000);
    assert_int_equal(amd_result(f.amd), AMD_MACHINE);
    assert_int_equal(f.done_at, 3000); /* beep_wait_ms */
    amd_destroy(f.amd);
}

static void test_dead_air_and_tones_are_unknown(void **state)
{
    struct feeder f = start();
    silence(&f, 3000);
    assert_int_equal(amd_result(f.amd), AMD_UNKNOWN);
    assert_int_equal(f.done_at, 2500);
    amd_destroy(f.amd);

    /* ringback-like tone is not speech: still nobody talking */
    f = start();
    tone(&f, 440, 2000, 12000);
    silence(&f, 3500);
    assert_int_equal(amd_result(f.amd), AMD_UNKNOWN);
    amd_destroy(f.amd);
}

static void test_noise_blips_are_not_words_and_bad_frames_are_ignored(void **state)
{
    struct feeder f = start();
    for (int i = 0; i < 10; i++) {
        speech(&f, 60); /* shorter than min_word_ms */
        silence(&f, 200);
    }
    assert_int_equal(amd_result(f.amd), AMD_UNKNOWN); /* 2.5 s of no real speech */
    amd_destroy(f.amd);

    f = start();
    int16_t big[481] = {0};
    assert_false(amd_feed(f.amd, big, 481));
    assert_false(amd_feed(f.amd, big, 0));
    assert_int_equal(amd_elapsed_ms(f.amd), 0);
    assert_string_equal(amd_result_name(amd_result(f.amd)), "pending");
    amd_destroy(f.amd);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_short_hello_then_silence_is_human),
        cmocka_unit_test(test_long_greeting_then_beep_is_machine_with_beep),
        cmocka_unit_test(test_greeting_without_beep_is_machine_after_the_silence),
        cmocka_unit_test(test_many_short_words_are_a_machine),
        cmocka_unit_test(test_dead_air_and_tones_are_unknown),
        cmocka_unit_test(test_noise_blips_are_not_words_and_bad_frames_are_ignored),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
