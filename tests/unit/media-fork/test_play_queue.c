/*
 * The queue of plays of a leg (play_queue.c): FIFO order, the 16-play limit (a full queue
 * refuses and leaves the audio with the caller), plays whose audio arrives later (in any
 * order) keeping their place, taking a play out of the middle, tokens that are never 0
 * and never reused for a live play, and the ring wrapping around. Audio references are
 * handed over exactly once: ASan's leak check sees a lost or doubly dropped one.
 */
#include "vp_test.h"

#include <stdio.h>
#include <string.h>

#include "audio_file.h"
#include "play_queue.h"

static struct audio *tone(void)
{
    float s[160] = {0.5f};
    struct audio *a = NULL;
    assert_int_equal(audio_from_float(s, 160, 8000, &a), 0);
    return a;
}

static void drain(struct play_queue *q)
{
    struct play_item it;
    while (play_queue_pop(q, &it))
        audio_unref(it.audio);
}

static void test_fifo_and_limit(void **state)
{
    (void)state;
    struct play_queue q = {0};
    char id[16];
    for (int i = 0; i < PLAY_QUEUE_MAX; i++) {
        snprintf(id, sizeof(id), "p%d", i);
        assert_int_not_equal(play_queue_push(&q, tone(), 2, id, "voepy:cc:n1"), 0);
    }
    assert_int_equal(play_queue_count(&q), PLAY_QUEUE_MAX);
    struct audio *extra = tone();
    assert_int_equal(play_queue_push(&q, extra, 1, "p16", ""), 0); /* full: still ours */
    audio_unref(extra);
    struct play_item it;
    for (int i = 0; i < PLAY_QUEUE_MAX; i++) {
        snprintf(id, sizeof(id), "p%d", i);
        assert_string_equal(play_queue_head(&q)->id, id);
        assert_true(play_queue_pop(&q, &it));
        assert_string_equal(it.id, id);
        assert_string_equal(it.reply_to, "voepy:cc:n1");
        assert_int_equal(it.loops, 2);
        audio_unref(it.audio);
    }
    assert_null(play_queue_head(&q));
    assert_false(play_queue_pop(&q, &it));
}

/* Audio arriving out of order fills the right places; the head waits for its own. */
static void test_ready_keeps_order(void **state)
{
    (void)state;
    struct play_queue q = {0};
    uint32_t a = play_queue_push(&q, NULL, 0, "a", "");
    uint32_t b = play_queue_push(&q, NULL, 1, "b", "");
    assert_int_not_equal(a, b);
    struct audio *ab = tone(), *aa = tone();
    assert_true(play_queue_ready(&q, b, ab));
    assert_null(play_queue_head(&q)->audio); /* a first: not ready yet */
    assert_true(play_queue_ready(&q, a, aa));
    struct audio *again = tone();
    assert_false(play_queue_ready(&q, a, again)); /* already has audio: still ours */
    assert_false(play_queue_ready(&q, 0, again));
    assert_false(play_queue_ready(&q, 999, again));
    audio_unref(again);
    struct play_item it;
    assert_true(play_queue_pop(&q, &it));
    assert_string_equal(it.id, "a");
    assert_ptr_equal(it.audio, aa);
    assert_int_equal(it.loops, 1); /* 0 means once */
    audio_unref(it.audio);
    assert_true(play_queue_pop(&q, &it));
    assert_ptr_equal(it.audio, ab);
    audio_unref(it.audio);
}

/* A play taken from the middle (its audio failed) leaves the others in order. */
static void test_take(void **state)
{
    (void)state;
    struct play_queue q = {0};
    uint32_t t[3];
    const char *ids[] = {"x", "y", "z"};
    for (int i = 0; i < 3; i++)
        t[i] = play_queue_push(&q, tone(), 1, ids[i], "");
    struct play_item it;
    assert_true(play_queue_take(&q, t[1], &it));
    assert_string_equal(it.id, "y");
    audio_unref(it.audio);
    assert_false(play_queue_take(&q, t[1], &it)); /* gone */
    assert_false(play_queue_ready(&q, t[1], NULL));
    assert_int_equal(play_queue_count(&q), 2);
    assert_true(play_queue_pop(&q, &it));
    assert_string_equal(it.id, "x");
    audio_unref(it.audio);
    assert_true(play_queue_take(&q, t[2], &it));
    assert_string_equal(it.id, "z");
    audio_unref(it.audio);
    assert_int_equal(play_queue_count(&q), 0);
}

/* The ring wraps (pushes and pops well past 16), tokens skip 0, long ids are cut. */
static void test_wrap_and_tokens(void **state)
{
    (void)state;
    struct play_queue q = {0};
    char long_id[LEG_ID_MAX * 2];
    memset(long_id, 'i', sizeof(long_id) - 1);
    long_id[sizeof(long_id) - 1] = '\0';
    struct play_item it;
    for (int i = 0; i < 100; i++) {
        play_queue_push(&q, NULL, 1, i % 7 ? "n" : long_id, NULL);
        if (i % 3 == 2) {
            assert_true(play_queue_pop(&q, &it));
            assert_true(strlen(it.id) < LEG_ID_MAX);
        }
        if (play_queue_count(&q) == PLAY_QUEUE_MAX)
            drain(&q);
    }
    q.next_token = UINT32_MAX; /* the next one wraps */
    uint32_t tok = play_queue_push(&q, NULL, 1, "w", "");
    assert_int_equal(tok, 1);
    assert_true(play_queue_take(&q, tok, &it));
    assert_string_equal(it.id, "w");
    drain(&q);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_fifo_and_limit),
        cmocka_unit_test(test_ready_keeps_order),
        cmocka_unit_test(test_take),
        cmocka_unit_test(test_wrap_and_tokens),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
