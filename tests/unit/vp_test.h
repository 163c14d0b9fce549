/*
 * vp_test.h - what every voepy unit test includes.
 *
 * cmocka needs these system headers first. Helpers here run a libuv loop until a
 * condition holds (with a deadline, so a broken test fails instead of hanging) and read
 * the VOEPY_TEST_* environment that tests/with-services.sh provides.
 */
#ifndef VP_TEST_H
#define VP_TEST_H

#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <uv.h>

/* The value of a VOEPY_TEST_* variable; fails the test when it is not set. */
static inline const char *vp_test_env(const char *name)
{
    const char *v = getenv(name);
    if (!v || !*v) {
        fprintf(stderr, "%s is not set: run this test through tests/with-services.sh\n", name);
        fail();
    }
    return v;
}

static void vp_test_deadline_cb(uv_timer_t *t)
{
    *(bool *)t->data = true;
}

/*
 * Run loop until *flag becomes true or timeout_ms passes; returns the flag. A private
 * timer bounds every wait, so a loop with idle handles cannot block the test forever.
 */
static inline bool vp_test_run_until(uv_loop_t *loop, const volatile bool *flag,
                                     unsigned timeout_ms)
{
    bool expired = false;
    uv_timer_t deadline;
    uv_timer_init(loop, &deadline);
    deadline.data = &expired;
    uv_timer_start(&deadline, vp_test_deadline_cb, timeout_ms, 0);
    while (!*flag && !expired)
        uv_run(loop, UV_RUN_ONCE);
    uv_close((uv_handle_t *)&deadline, NULL);
    uv_run(loop, UV_RUN_NOWAIT);
    return *flag;
}

static void vp_test_close_walk_cb(uv_handle_t *h, void *arg)
{
    (void)arg;
    if (!uv_is_closing(h))
        uv_close(h, NULL);
}

/*
 * End of a loop-based test: run the loop until every handle is closed and assert that
 * uv_loop_close() succeeds (nothing leaked on the loop). Handles still open are reported
 * as a failure, after closing them so ASan reports stay readable.
 */
static inline void vp_test_loop_done(uv_loop_t *loop)
{
    for (int i = 0; i < 1000 && uv_run(loop, UV_RUN_NOWAIT); i++)
        ;
    int rc = uv_loop_close(loop);
    if (rc != 0) {
        uv_print_all_handles(loop, stderr);
        uv_walk(loop, vp_test_close_walk_cb, NULL);
        uv_run(loop, UV_RUN_DEFAULT);
        uv_loop_close(loop);
    }
    assert_int_equal(rc, 0);
}

#endif
