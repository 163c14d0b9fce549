/* waiters: the callers of one audio job, told together (audio_load.c, tts.c). */
#include "vp_test.h"

#include <string.h>

#include "audio_file.h"
#include "voepy/err.h"
#include "waiters.h"

struct told {
    int order[4];
    int n;
    struct audio *a[4];
    int err[4];
};

struct caller {
    struct told *t;
    int id;
};

/* Each callee gets its own reference: dropping it here must not free the caller's. */
static void told_cb(struct audio *a, const struct vp_error *e, void *arg)
{
    struct caller *c = arg;
    struct told *t = c->t;
    t->order[t->n] = c->id;
    t->a[t->n] = a;
    t->err[t->n] = e ? e->err : 0;
    t->n++;
    audio_unref(a);
}

static struct audio *tone(void)
{
    float in[160];
    for (size_t i = 0; i < 160; i++)
        in[i] = (float)(i % 20) / 20.0f;
    struct audio *a = NULL;
    assert_int_equal(audio_from_float(in, 160, AUDIO_RATE, &a), 0);
    return a;
}

static void test_tell_audio_to_all(void **state)
{
    (void)state;
    struct told t = {0};
    struct caller c[3] = {{&t, 1}, {&t, 2}, {&t, 3}};
    struct waiters ws = {0};
    for (int i = 0; i < 3; i++)
        waiters_add(&ws, told_cb, &c[i]);
    struct audio *a = tone();
    waiters_tell(&ws, a, NULL);
    assert_int_equal(t.n, 3);
    for (int i = 0; i < 3; i++) {
        assert_int_equal(t.order[i], 3 - i); /* the last added first, as before */
        assert_ptr_equal(t.a[i], a);
        assert_int_equal(t.err[i], 0);
    }
    size_t n = 0;
    assert_non_null(audio_samples(a, &n)); /* still the caller's: the callees had their own */
    assert_int_equal(n, 160);
    audio_unref(a);
    waiters_tell(&ws, NULL, NULL); /* emptied: nobody is told twice */
    assert_int_equal(t.n, 3);
}

static void test_tell_error(void **state)
{
    (void)state;
    struct told t = {0};
    struct caller c[2] = {{&t, 1}, {&t, 2}};
    struct waiters ws = {0};
    waiters_tell(&ws, NULL, NULL); /* nobody waits: nothing happens */
    assert_int_equal(t.n, 0);
    waiters_add(&ws, told_cb, &c[0]);
    waiters_add(&ws, told_cb, &c[1]);
    struct vp_error e = {0};
    vp_error_set(&e, VP_E_NOT_FOUND, "audio", "no such file");
    waiters_tell(&ws, NULL, &e);
    assert_int_equal(t.n, 2);
    for (int i = 0; i < 2; i++) {
        assert_null(t.a[i]);
        assert_int_equal(t.err[i], VP_E_NOT_FOUND);
    }
    waiters_tell(&ws, NULL, &e); /* emptied */
    assert_int_equal(t.n, 2);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_tell_audio_to_all),
        cmocka_unit_test(test_tell_error),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
