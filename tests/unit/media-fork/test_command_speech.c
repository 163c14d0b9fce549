/*
 * command_speech.c through command_parse: speak, gather's "speak" prompt,
 * transcription_start/stop, valid and hostile (text with spaces and UTF-8 is fine,
 * control characters, missing voices, unknown engines or tracks, speak with play are not).
 */
#include "vp_test.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "command.h"

static int parse(const char *body, struct mf_command *c, struct vp_error *e)
{
    return command_parse(body, strlen(body), c, e);
}

static void expect_invalid(const char *body, const char *field)
{
    struct mf_command *c = malloc(sizeof(*c)); /* 12 KiB of text: not on the stack twice */
    struct vp_error e;
    int rc = parse(body, c, &e);
    free(c);
    if (rc != VP_E_INVALID_PARAMETER || strcmp(e.field, field) != 0)
        fail_msg("%s: rc %d field '%s' (want '%s')", body, rc, e.field, field);
}

static void test_speak(void **state)
{
    (void)state;
    static struct mf_command c;
    struct vp_error e;
    assert_int_equal(parse("{\"op\":\"speak\",\"leg_id\":\"voepy_leg_1\",\"text\":\"Hello, "
                           "caf\\u00e9 world.\\nBye\",\"voice\":\"Polly.Joanna\",\"language\":"
                           "\"en-US\",\"playback_id\":\"voepy_act_1\",\"reply_to\":\"voepy:cc:n\"}",
                           &c, &e),
                     0);
    assert_int_equal(c.op, MF_OP_SPEAK);
    assert_string_equal(c.text, "Hello, caf\xc3\xa9 world.\nBye");
    assert_string_equal(c.voice, "Polly.Joanna");
    assert_string_equal(c.language, "en-US");
    assert_string_equal(c.media_id, "voepy_act_1");
    assert_string_equal(command_op_name(MF_OP_SPEAK), "speak");
    expect_invalid("{\"op\":\"speak\",\"leg_id\":\"l\",\"voice\":\"man\"}", "text");
    expect_invalid("{\"op\":\"speak\",\"leg_id\":\"l\",\"text\":\"\",\"voice\":\"man\"}", "text");
    expect_invalid("{\"op\":\"speak\",\"leg_id\":\"l\",\"text\":3,\"voice\":\"man\"}", "text");
    expect_invalid("{\"op\":\"speak\",\"leg_id\":\"l\",\"text\":\"a\\u0001b\",\"voice\":\"man\"}",
                   "text");
    expect_invalid("{\"op\":\"speak\",\"leg_id\":\"l\",\"text\":\"hi\"}", "voice");
    expect_invalid("{\"op\":\"speak\",\"leg_id\":\"l\",\"text\":\"hi\",\"voice\":\"a b\"}",
                   "voice");
    /* the longest text that fits, and one byte more */
    size_t n = TTS_TEXT_MAX + 100;
    char *body = malloc(n + 100);
    for (size_t len = TTS_TEXT_MAX - 1; len <= TTS_TEXT_MAX; len++) {
        int k =
            snprintf(body, 100, "{\"op\":\"speak\",\"leg_id\":\"l\",\"voice\":\"man\",\"text\":\"");
        memset(body + k, 'a', len);
        strcpy(body + k + len, "\"}");
        int rc = parse(body, &c, &e);
        assert_int_equal(rc, len < TTS_TEXT_MAX ? 0 : VP_E_INVALID_PARAMETER);
    }
    free(body);
}

static void test_gather_speak(void **state)
{
    (void)state;
    static struct mf_command c;
    struct vp_error e;
    assert_int_equal(parse("{\"op\":\"gather\",\"leg_id\":\"l\",\"gather_id\":\"g\",\"speak\":"
                           "{\"text\":\"Press one.\",\"voice\":\"alice\"}}",
                           &c, &e),
                     0);
    assert_string_equal(c.text, "Press one.");
    assert_string_equal(c.voice, "alice");
    assert_string_equal(c.audio, "");
    assert_int_equal(parse("{\"op\":\"gather\",\"leg_id\":\"l\",\"gather_id\":\"g\"}", &c, &e), 0);
    assert_string_equal(c.text, ""); /* no prompt */
    expect_invalid("{\"op\":\"gather\",\"leg_id\":\"l\",\"gather_id\":\"g\",\"play\":\"a.wav\","
                   "\"speak\":{\"text\":\"x\",\"voice\":\"man\"}}",
                   "speak");
    expect_invalid("{\"op\":\"gather\",\"leg_id\":\"l\",\"gather_id\":\"g\",\"speak\":\"x\"}",
                   "speak");
    expect_invalid("{\"op\":\"gather\",\"leg_id\":\"l\",\"gather_id\":\"g\",\"speak\":"
                   "{\"text\":\"x\"}}",
                   "voice");
}

static void test_transcription(void **state)
{
    (void)state;
    static struct mf_command c;
    struct vp_error e;
    assert_int_equal(parse("{\"op\":\"transcription_start\",\"leg_id\":\"l\",\"transcription_id\":"
                           "\"t1\",\"engine\":\"accurate\",\"tracks\":\"both\",\"reply_to\":"
                           "\"voepy:cc:n\",\"language\":\"es-ES\"}",
                           &c, &e),
                     0);
    assert_int_equal(c.op, MF_OP_TRANSCRIPTION_START);
    assert_string_equal(c.media_id, "t1");
    assert_string_equal(c.engine, "accurate");
    assert_string_equal(c.tracks, "both");
    assert_string_equal(c.language, "es-ES"); /* whether a model hears it: transcribe.c */
    assert_int_equal(parse("{\"op\":\"transcription_start\",\"leg_id\":\"l\"}", &c, &e), 0);
    assert_string_equal(c.engine, ""); /* defaults: transcribe.c's fast, inbound, en-US */
    assert_string_equal(c.tracks, "");
    assert_string_equal(c.language, "");
    expect_invalid("{\"op\":\"transcription_start\",\"leg_id\":\"l\",\"language\":7}", "language");
    assert_int_equal(parse("{\"op\":\"transcription_stop\",\"leg_id\":\"l\"}", &c, &e), 0);
    assert_int_equal(c.op, MF_OP_TRANSCRIPTION_STOP);
    expect_invalid("{\"op\":\"transcription_start\",\"leg_id\":\"l\",\"engine\":\"best\"}",
                   "engine");
    expect_invalid("{\"op\":\"transcription_start\",\"leg_id\":\"l\",\"tracks\":\"inbound_track\"}",
                   "tracks");
    expect_invalid("{\"op\":\"transcription_start\",\"leg_id\":\"l\",\"tracks\":1}", "tracks");
    expect_invalid("{\"op\":\"transcription_stop\",\"leg_id\":\"l\",\"transcription_id\":\"\"}",
                   "transcription_id");
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_speak),
        cmocka_unit_test(test_gather_speak),
        cmocka_unit_test(test_transcription),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
