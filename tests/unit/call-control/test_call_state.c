/* The call state machine's table, the SIP status to end_reason map, and the string map. */
#include "vp_test.h"

#include <string.h>

#include "call_state.h"
#include "strmap.h"
#include "voepy/err.h"

static void test_legal_moves(void **state)
{
    (void)state;
    /* every pair, against the table in call_state.h and 0020_call_control.sql */
    const bool legal[6][6] = {
        /* to:          INIT   RING   ANS    BRIDGED ENDED  FAILED */
        /* initiated */ {false, true, true, false, false, true},
        /* ringing   */ {false, false, true, false, false, true},
        /* answered  */ {false, false, false, true, true, false},
        /* bridged   */ {false, false, false, false, true, false},
        /* ended     */ {false, false, false, false, false, false},
        /* failed    */ {false, false, false, false, false, false},
    };
    for (int f = CALL_INITIATED; f <= CALL_FAILED; f++)
        for (int t = CALL_INITIATED; t <= CALL_FAILED; t++)
            assert_int_equal(call_state_can_move((enum call_state)f, (enum call_state)t),
                             legal[f][t]);
}

static void test_names_and_terminal(void **state)
{
    (void)state;
    const char *names[] = {"initiated", "ringing", "answered", "bridged", "ended", "failed"};
    for (int s = CALL_INITIATED; s <= CALL_FAILED; s++) {
        assert_string_equal(call_state_name((enum call_state)s), names[s]);
        assert_int_equal(call_state_terminal((enum call_state)s), s >= CALL_ENDED);
    }
    assert_string_equal(call_state_name((enum call_state)42), "?");
}

static void test_reason_for_status(void **state)
{
    (void)state;
    assert_string_equal(call_reason_for_status(486), "busy");
    assert_string_equal(call_reason_for_status(600), "busy");
    assert_string_equal(call_reason_for_status(480), "no_answer");
    assert_string_equal(call_reason_for_status(408), "no_answer");
    assert_string_equal(call_reason_for_status(603), "rejected");
    assert_string_equal(call_reason_for_status(404), "failed");
    assert_string_equal(call_reason_for_status(500), "failed");
    assert_string_equal(call_reason_for_status(503), "failed");
    assert_string_equal(call_reason_for_status(487), "failed");
    assert_string_equal(call_reason_for_status(302), "failed");
}

static void test_strmap(void **state)
{
    (void)state;
    struct strmap *m = strmap_create();
    static int values[2000];
    char key[32];
    for (int i = 0; i < 2000; i++) {
        snprintf(key, sizeof(key), "voepy_call_%d", i);
        assert_int_equal(strmap_put(m, key, &values[i]), 0);
    }
    assert_int_equal(strmap_count(m), 2000);
    assert_int_equal(strmap_put(m, "voepy_call_7", &values[0]), VP_E_CONFLICT);
    assert_ptr_equal(strmap_get(m, "voepy_call_7"), &values[7]);
    assert_null(strmap_get(m, "voepy_call_2000"));
    assert_null(strmap_get(m, NULL));
    for (int i = 0; i < 2000; i += 2) {
        snprintf(key, sizeof(key), "voepy_call_%d", i);
        assert_ptr_equal(strmap_del(m, key), &values[i]);
    }
    assert_null(strmap_del(m, "voepy_call_0"));
    assert_int_equal(strmap_count(m), 1000);
    void *all[2000];
    assert_int_equal(strmap_values(m, all, 2000), 1000);
    for (int i = 0; i < 1000; i++)
        assert_true(((int *)all[i] - values) % 2 == 1); /* only odd keys are left */
    assert_int_equal(strmap_values(m, all, 10), 10);
    strmap_free(m);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_legal_moves),
        cmocka_unit_test(test_names_and_terminal),
        cmocka_unit_test(test_reason_for_status),
        cmocka_unit_test(test_strmap),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
