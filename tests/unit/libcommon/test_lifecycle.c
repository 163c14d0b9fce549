/* Lifecycle: SIGTERM drains then stops, SIGINT stops at once, the drain timeout bites. */
#include "vp_test.h"

#include <signal.h>

#include "voepy/lifecycle.h"
#include "voepy/log.h"

struct worker {
    struct lifecycle *lc;
    int id;
    int drains, stops;
    bool finish_on_drain; /* report drained at once */
    uv_timer_t work;      /* a handle that keeps the loop alive until stop */
    int order;            /* position in the stop order */
};

static int stop_counter;

static void drain_hook(struct lifecycle *lc, int id, void *arg)
{
    struct worker *w = arg;
    w->drains++;
    if (w->finish_on_drain)
        lifecycle_drained(lc, id);
}

static void stop_hook(void *arg)
{
    struct worker *w = arg;
    w->stops++;
    w->order = ++stop_counter;
    uv_close((uv_handle_t *)&w->work, NULL);
}

static void noop_cb(uv_timer_t *t)
{
    (void)t;
}

static void add_worker(struct lifecycle *lc, uv_loop_t *loop, struct worker *w, bool finish)
{
    w->lc = lc;
    w->finish_on_drain = finish;
    uv_timer_init(loop, &w->work);
    uv_timer_start(&w->work, noop_cb, 100000, 100000);
    w->id = lifecycle_add(lc, &(struct lifecycle_hooks){drain_hook, stop_hook, w});
    assert_true(w->id >= 0);
}

static void test_sigterm_drains(void **state)
{
    (void)state;
    uv_loop_t loop;
    uv_loop_init(&loop);
    struct lifecycle *lc;
    lifecycle_create(&lc, &loop, 5000);
    struct worker a = {0}, b = {0};
    add_worker(lc, &loop, &a, true);
    add_worker(lc, &loop, &b, false);
    raise(SIGTERM);
    uv_run(&loop, UV_RUN_NOWAIT);
    assert_int_equal(lifecycle_state(lc), LIFECYCLE_DRAINING);
    assert_int_equal(a.drains, 1);
    assert_int_equal(b.drains, 1);
    assert_int_equal(a.stops, 0);
    /* b finishes its in-flight work: now everyone stops, in reverse order. */
    lifecycle_drained(lc, b.id);
    assert_int_equal(lifecycle_state(lc), LIFECYCLE_STOPPING);
    assert_int_equal(a.stops, 1);
    assert_int_equal(b.stops, 1);
    assert_true(b.order < a.order);
    uv_run(&loop, UV_RUN_DEFAULT);
    lifecycle_destroy(lc);
    vp_test_loop_done(&loop);
}

static void test_sigint_stops(void **state)
{
    (void)state;
    uv_loop_t loop;
    uv_loop_init(&loop);
    struct lifecycle *lc;
    lifecycle_create(&lc, &loop, 5000);
    struct worker a = {0};
    add_worker(lc, &loop, &a, false);
    raise(SIGINT);
    uv_run(&loop, UV_RUN_DEFAULT); /* returns because the stop hook closed the last handle */
    assert_int_equal(a.drains, 0);
    assert_int_equal(a.stops, 1);
    lifecycle_destroy(lc);
    vp_test_loop_done(&loop);
}

static void test_drain_timeout(void **state)
{
    (void)state;
    uv_loop_t loop;
    uv_loop_init(&loop);
    struct lifecycle *lc;
    lifecycle_create(&lc, &loop, 50);
    struct worker a = {0};
    add_worker(lc, &loop, &a, false); /* never reports drained */
    lifecycle_shutdown(lc, true);
    uint64_t t0 = uv_now(&loop);
    uv_run(&loop, UV_RUN_DEFAULT);
    assert_int_equal(a.stops, 1);
    assert_true(uv_now(&loop) - t0 >= 40);
    lifecycle_destroy(lc);
    vp_test_loop_done(&loop);
}

static void test_second_signal_stops(void **state)
{
    (void)state;
    uv_loop_t loop;
    uv_loop_init(&loop);
    struct lifecycle *lc;
    lifecycle_create(&lc, &loop, 60000);
    struct worker a = {0};
    add_worker(lc, &loop, &a, false);
    lifecycle_shutdown(lc, true);
    assert_int_equal(lifecycle_state(lc), LIFECYCLE_DRAINING);
    lifecycle_shutdown(lc, true);
    assert_int_equal(lifecycle_state(lc), LIFECYCLE_STOPPING);
    uv_run(&loop, UV_RUN_DEFAULT);
    assert_int_equal(a.stops, 1);
    lifecycle_destroy(lc);
    vp_test_loop_done(&loop);
}

static void test_destroy_without_run(void **state)
{
    (void)state;
    uv_loop_t loop;
    uv_loop_init(&loop);
    struct lifecycle *lc;
    lifecycle_create(&lc, &loop, 100);
    assert_string_equal(lifecycle_state_name(lifecycle_state(lc)), "running");
    lifecycle_destroy(lc);
    vp_test_loop_done(&loop);
}

int main(void)
{
    vlog_init("test", NULL, VLOG_WARN);
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_sigterm_drains),      cmocka_unit_test(test_sigint_stops),
        cmocka_unit_test(test_drain_timeout),       cmocka_unit_test(test_second_signal_stops),
        cmocka_unit_test(test_destroy_without_run),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
