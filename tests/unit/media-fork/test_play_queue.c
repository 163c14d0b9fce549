/*
 * The queue of plays of a leg (play_queue.c): FIFO order, the 16-play limit (a full queue
 * refuses and leaves the audio with the caller), plays whose audio arrives later (in any
 * order) keeping their place, taking a play out of the middle, tokens that are never 0
 * and never reused for a live play, and the ring wrapping around. Audio references are
 * handed over exactly once: ASan's leak check sees a lost or doubly dropped one. Also
 * stop_playback's fields as media-fork parses them (stop current/all, playback_id), and
 * the queue on a real connected leg (leg_media.c): the order of playback_ended events
 * when plays finish, wait for late audio, are stopped (current, all, by id), refused when
 * 17 wait, forgotten, and ended by the leg's close.
 */
#include "vp_test.h"

#include <stdio.h>
#include <string.h>

#include "audio_file.h"
#include "codec.h"
#include "command.h"
#include "leg.h"
#include "media_ctx.h"
#include "play_queue.h"
#include "port_pool.h"
#include "udp_pair.h"
#include "voepy/err.h"

/* frames x 20 ms of audio */
static struct audio *frames(size_t n)
{
    float s[160 * 4] = {0.5f};
    struct audio *a = NULL;
    assert_int_equal(audio_from_float(s, 160 * n, 8000, &a), 0);
    return a;
}

static struct audio *tone(void)
{
    return frames(1);
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

static int parse(const char *body, struct mf_command *c, struct vp_error *e)
{
    memset(c, 0, sizeof(*c));
    return command_parse(body, strlen(body), c, e);
}

static void test_stop_playback_command(void **state)
{
    (void)state;
    struct mf_command c;
    struct vp_error e = {0};
#define STOP "{\"op\":\"stop_playback\",\"leg_id\":\"voepy_leg_1\""
    assert_int_equal(parse(STOP "}", &c, &e), 0);
    assert_false(c.stop_current); /* all by default */
    assert_string_equal(c.media_id, "");
    assert_int_equal(parse(STOP ",\"stop\":\"current\"}", &c, &e), 0);
    assert_true(c.stop_current);
    assert_int_equal(parse(STOP ",\"stop\":\"all\",\"playback_id\":\"ringback~x\"}", &c, &e), 0);
    assert_false(c.stop_current);
    assert_string_equal(c.media_id, "ringback~x");
    assert_int_equal(parse(STOP ",\"stop\":\"some\"}", &c, &e), VP_E_INVALID_PARAMETER);
    assert_string_equal(e.field, "stop");
    assert_int_equal(parse(STOP ",\"stop\":1}", &c, &e), VP_E_INVALID_PARAMETER);
    assert_int_equal(parse(STOP ",\"stop\":\"\"}", &c, &e), VP_E_INVALID_PARAMETER);
    assert_int_equal(parse(STOP ",\"playback_id\":[]}", &c, &e), VP_E_INVALID_PARAMETER);
    assert_string_equal(e.field, "playback_id");
#undef STOP
}

/* ---- on a leg ---- */

static char events[64][80]; /* "id:reason" of each playback_ended, in order */
static int n_events;

static void event_cb(struct media_ctx *ctx, const struct leg_event *ev)
{
    (void)ctx;
    if (ev->type == LEG_EV_PLAYBACK_ENDED && n_events < 64)
        snprintf(events[n_events++], sizeof(events[0]), "%s:%s", ev->id, ev->reason);
}

struct legfx {
    uv_loop_t loop;
    struct media_ctx ctx;
    uv_udp_t peer; /* the far end: bound, never read */
    struct leg *leg;
};

static void leg_setup(struct legfx *fx)
{
    memset(fx, 0, sizeof(*fx));
    n_events = 0;
    uv_loop_init(&fx->loop);
    fx->ctx.loop = &fx->loop;
    fx->ctx.leg_event = event_cb;
    assert_int_equal(udp_addr_parse("127.0.0.1", 0, &fx->ctx.media_addr), 0);
    assert_int_equal(port_pool_create(&fx->ctx.ports, 43000, 43999), 0);
    media_metrics_init(&fx->ctx.metrics);
    struct sockaddr_in sa;
    uv_ip4_addr("127.0.0.1", 0, &sa);
    uv_udp_init(&fx->loop, &fx->peer);
    assert_int_equal(uv_udp_bind(&fx->peer, (const struct sockaddr *)&sa, 0), 0);
    int len = sizeof(sa);
    uv_udp_getsockname(&fx->peer, (struct sockaddr *)&sa, &len);
    assert_int_equal(leg_open(&fx->leg, &fx->ctx, "voepy_leg_pq", "voepy_call_pq", "s"), 0);
    struct leg_remote r = {.codec = codec_by_name("PCMU"),
                           .pt = 0,
                           .ptime_ms = 20,
                           .mode = LEG_MODE_SILENCE,
                           .te_pt = 101};
    assert_int_equal(udp_addr_parse("127.0.0.1", ntohs(sa.sin_port), &r.addr), 0);
    leg_connect(fx->leg, &r);
}

static void leg_teardown(struct legfx *fx)
{
    if (fx->leg)
        leg_close(fx->leg);
    uv_close((uv_handle_t *)&fx->peer, NULL);
    vp_test_loop_done(&fx->loop);
    port_pool_destroy(fx->ctx.ports);
}

static void ticks(struct legfx *fx, int n)
{
    for (int i = 0; i < n; i++)
        leg_tick(fx->leg);
}

static void expect(const char *const *want, int n)
{
    assert_int_equal(n_events, n);
    for (int i = 0; i < n; i++)
        assert_string_equal(events[i], want[i]);
}

/* Plays finish in order; a play waiting for its audio holds back the ones behind it. */
static void test_leg_order_and_late_audio(void **state)
{
    (void)state;
    struct legfx fx;
    leg_setup(&fx);
    assert_int_not_equal(leg_play_queue(fx.leg, frames(2), 1, "a", ""), 0);
    uint32_t b = leg_play_queue(fx.leg, NULL, 1, "b", ""); /* still loading */
    assert_int_not_equal(leg_play_queue(fx.leg, frames(1), 1, "c", ""), 0);
    ticks(&fx, 6);
    expect((const char *const[]){"a:finished"}, 1); /* c waits behind b */
    assert_true(leg_play_ready(fx.leg, b, frames(1)));
    ticks(&fx, 6);
    expect((const char *const[]){"a:finished", "b:finished", "c:finished"}, 3);
    /* audio for a play no longer waiting stays the caller's */
    struct audio *late = frames(1);
    assert_false(leg_play_ready(fx.leg, b, late));
    audio_unref(late);
    /* a forgotten play (its load failed) ends without a report; the next one goes */
    uint32_t d = leg_play_queue(fx.leg, NULL, 1, "d", "");
    assert_int_not_equal(leg_play_queue(fx.leg, frames(1), 1, "e", ""), 0);
    leg_play_forget(fx.leg, d);
    ticks(&fx, 4);
    expect((const char *const[]){"a:finished", "b:finished", "c:finished", "e:finished"}, 4);
    leg_teardown(&fx);
}

/* stop current, by id, all; the 17th waiting play is refused; close ends the rest. */
static void test_leg_stops_and_limit(void **state)
{
    (void)state;
    struct legfx fx;
    leg_setup(&fx);
    leg_play_queue(fx.leg, frames(4), 100, "x", "");
    leg_play_queue(fx.leg, frames(4), 100, "y", "");
    leg_play_queue(fx.leg, frames(4), 100, "z", "");
    ticks(&fx, 3);
    assert_true(leg_stop_playback_current(fx.leg)); /* x ends, y starts */
    ticks(&fx, 2);
    assert_true(leg_stop_playback_id(fx.leg, "z")); /* waiting: dropped */
    assert_false(leg_stop_playback_id(fx.leg, "nope"));
    expect((const char *const[]){"x:stopped", "z:stopped"}, 2);
    leg_play_queue(fx.leg, frames(1), 1, "w", "");
    assert_true(leg_stop_playback(fx.leg)); /* stop all: y, then the waiting w */
    leg_drop_plays(fx.leg);
    expect((const char *const[]){"x:stopped", "z:stopped", "y:stopped", "w:stopped"}, 4);
    ticks(&fx, 3);
    assert_int_equal(n_events, 4);
    assert_false(leg_stop_playback_current(fx.leg)); /* nothing left */
    /* one playing and 16 waiting; the next is refused (its audio stays ours) */
    for (int i = 0; i < PLAY_QUEUE_MAX + 1; i++)
        assert_int_not_equal(leg_play_queue(fx.leg, frames(1), 100, "q", ""), 0);
    ticks(&fx, 1);
    struct audio *extra = frames(1);
    assert_int_equal(leg_play_queue(fx.leg, extra, 1, "full", ""), 0);
    audio_unref(extra);
    leg_close(fx.leg); /* the playing one and the 16 waiting end stopped */
    fx.leg = NULL;
    assert_int_equal(n_events, 4 + PLAY_QUEUE_MAX + 1);
    assert_string_equal(events[n_events - 1], "q:stopped");
    leg_teardown(&fx);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_fifo_and_limit),
        cmocka_unit_test(test_ready_keeps_order),
        cmocka_unit_test(test_take),
        cmocka_unit_test(test_wrap_and_tokens),
        cmocka_unit_test(test_stop_playback_command),
        cmocka_unit_test(test_leg_order_and_late_audio),
        cmocka_unit_test(test_leg_stops_and_limit),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
