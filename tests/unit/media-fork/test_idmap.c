/* idmap (leg table), tombstones (released legs) and frame_ring (echo buffer). */
#include "vp_test.h"

#include <string.h>

#include "frame_ring.h"
#include "idmap.h"
#include "tombstones.h"
#include "voepy/err.h"

#define N 1000

static char keys[N][16];

static void make_keys(void)
{
    for (int i = 0; i < N; i++)
        snprintf(keys[i], sizeof(keys[i]), "voepy_leg_%d", i);
}

static void test_put_get_remove(void **state)
{
    (void)state;
    make_keys();
    struct idmap *m;
    idmap_create(&m, N);
    for (int i = 0; i < N; i++)
        assert_int_equal(idmap_put(m, keys[i], keys[i]), 0);
    assert_int_equal(idmap_count(m), N);
    assert_int_equal(idmap_put(m, "extra", keys[0]), VP_E_OVERFLOW);
    assert_int_equal(idmap_put(m, keys[5], keys[5]), VP_E_CONFLICT);
    /* Remove every third in a scrambled order; all others stay reachable. */
    for (int k = 0; k < N; k++) {
        int i = (k * 7919) % N;
        if (i % 3 == 0)
            assert_ptr_equal(idmap_remove(m, keys[i]), keys[i]);
    }
    assert_null(idmap_remove(m, keys[0]));
    assert_null(idmap_get(m, "absent"));
    size_t left = 0;
    for (int i = 0; i < N; i++) {
        void *v = idmap_get(m, keys[i]);
        if (i % 3 == 0) {
            assert_null(v);
        } else {
            assert_ptr_equal(v, keys[i]);
            left++;
        }
    }
    assert_int_equal(idmap_count(m), left);
    /* The dense array holds exactly the remaining values. */
    for (size_t i = 0; i < idmap_count(m); i++) {
        const char *v = idmap_value_at(m, i);
        assert_ptr_equal(idmap_get(m, v), v);
    }
    assert_null(idmap_value_at(m, idmap_count(m)));
    /* Removing while iterating from the end visits everything once. */
    size_t visited = 0;
    for (size_t i = idmap_count(m); i-- > 0;) {
        const char *v = idmap_value_at(m, i);
        assert_ptr_equal(idmap_remove(m, v), v);
        visited++;
    }
    assert_int_equal(visited, left);
    assert_int_equal(idmap_count(m), 0);
    for (int i = 0; i < N; i++)
        assert_int_equal(idmap_put(m, keys[i], keys[i]), 0); /* reusable after churn */
    idmap_destroy(m);
}

static void test_tombstones(void **state)
{
    (void)state;
    struct tombstones *t;
    tombstones_create(&t, 3);
    struct tombstone rec = {.reason = "release"};
    for (int i = 0; i < 4; i++) {
        snprintf(rec.leg_id, sizeof(rec.leg_id), "leg%d", i);
        rec.counters.packets_in = (uint64_t)i * 10;
        tombstones_add(t, &rec);
    }
    assert_null(tombstones_find(t, "leg0")); /* the oldest was forgotten */
    const struct tombstone *r = tombstones_find(t, "leg2");
    assert_non_null(r);
    assert_int_equal(r->counters.packets_in, 20);
    /* Same leg again: updated in place, nothing else evicted. */
    snprintf(rec.leg_id, sizeof(rec.leg_id), "leg1");
    rec.counters.packets_in = 99;
    rec.reason = "idle";
    tombstones_add(t, &rec);
    r = tombstones_find(t, "leg1");
    assert_int_equal(r->counters.packets_in, 99);
    assert_string_equal(r->reason, "idle");
    assert_non_null(tombstones_find(t, "leg2"));
    assert_non_null(tombstones_find(t, "leg3"));
    /* Churn through many more than the capacity. */
    for (int i = 100; i < 5000; i++) {
        snprintf(rec.leg_id, sizeof(rec.leg_id), "leg%d", i);
        tombstones_add(t, &rec);
    }
    assert_null(tombstones_find(t, "leg4996"));
    assert_non_null(tombstones_find(t, "leg4997"));
    assert_non_null(tombstones_find(t, "leg4999"));
    tombstones_destroy(t);
}

static void test_frame_ring(void **state)
{
    (void)state;
    struct frame_ring *r = malloc(sizeof(*r));
    frame_ring_reset(r);
    r->dropped = 0;
    assert_null(frame_ring_pop(r));
    uint8_t f[FRAME_MAX_BYTES + 1];
    for (int i = 0; i < FRAME_RING_SLOTS + 3; i++) {
        memset(f, i, 160);
        frame_ring_push(r, f, 160);
    }
    assert_int_equal(r->dropped, 3);
    /* The three oldest were dropped; the rest come out in order. */
    for (int i = 3; i < FRAME_RING_SLOTS + 3; i++) {
        const struct frame *x = frame_ring_pop(r);
        assert_non_null(x);
        assert_int_equal(x->len, 160);
        assert_int_equal(x->data[0], i);
        assert_int_equal(x->data[159], i);
    }
    assert_null(frame_ring_pop(r));
    frame_ring_push(r, f, sizeof(f)); /* too large: dropped, not truncated */
    assert_null(frame_ring_pop(r));
    assert_int_equal(r->dropped, 4);
    frame_ring_push(r, f, 0);
    const struct frame *x = frame_ring_pop(r);
    assert_non_null(x);
    assert_int_equal(x->len, 0);
    free(r);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_put_get_remove),
        cmocka_unit_test(test_tombstones),
        cmocka_unit_test(test_frame_ring),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
