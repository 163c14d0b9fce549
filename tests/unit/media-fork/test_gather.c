/*
 * The gather state machine (gather.c) on a fake clock: the first-digit timeout (from the
 * start, or from the end of a prompt), the inter-digit timeout, minimum and maximum
 * digits, the terminating digit (and none), barge-in during the prompt, cancellation,
 * and parameter checks.
 */
#include "vp_test.h"

#include <string.h>

#include "gather.h"
#include "voepy/err.h"

static const struct gather_params P = {.min_digits = 2,
                                       .max_digits = 4,
                                       .terminator = '#',
                                       .timeout_ms = 5000,
                                       .inter_digit_ms = 2000};

static void keys(struct gather *g, const char *s, uint64_t now)
{
    for (; *s; s++)
        assert_false(gather_digit(g, *s, now));
}

static void test_terminator(void **state)
{
    struct gather g;
    gather_start(&g, &P, false, 0);
    assert_int_equal(g.state, GATHER_WAITING);
    keys(&g, "12", 100);
    assert_true(gather_digit(&g, '#', 200));
    assert_int_equal(g.state, GATHER_DONE);
    assert_int_equal(g.status, GATHER_VALID);
    assert_string_equal(g.digits, "12"); /* the terminator is not a digit */
    /* Done: more keys and deadlines change nothing. */
    assert_false(gather_digit(&g, '3', 300));
    assert_false(gather_poll(&g, 100000));
    assert_false(gather_cancel(&g));
    assert_string_equal(g.digits, "12");
}

static void test_terminator_too_early(void **state)
{
    struct gather g;
    gather_start(&g, &P, false, 0);
    keys(&g, "1", 10);
    assert_true(gather_digit(&g, '#', 20));
    assert_int_equal(g.status, GATHER_INVALID);
    assert_string_equal(g.digits, "1");
    gather_start(&g, &P, false, 0);
    assert_true(gather_digit(&g, '#', 20)); /* terminator first */
    assert_int_equal(g.status, GATHER_INVALID);
    assert_string_equal(g.digits, "");
}

static void test_maximum(void **state)
{
    struct gather g;
    gather_start(&g, &P, false, 0);
    keys(&g, "*90", 10);
    assert_true(gather_digit(&g, 'A', 20));
    assert_int_equal(g.status, GATHER_VALID);
    assert_string_equal(g.digits, "*90A");
}

static void test_first_digit_timeout(void **state)
{
    struct gather g;
    gather_start(&g, &P, false, 1000);
    assert_false(gather_poll(&g, 5999));
    assert_true(gather_poll(&g, 6000));
    assert_int_equal(g.status, GATHER_TIMEOUT);
    assert_string_equal(g.digits, "");
}

static void test_inter_digit_timeout(void **state)
{
    struct gather g;
    gather_start(&g, &P, false, 0);
    keys(&g, "1", 4000);                 /* just before the first-digit timeout */
    assert_false(gather_poll(&g, 5500)); /* the first timeout no longer applies */
    assert_true(gather_poll(&g, 6000));  /* 2 s after the digit, one digit < minimum */
    assert_int_equal(g.status, GATHER_INVALID);
    assert_string_equal(g.digits, "1");

    gather_start(&g, &P, false, 0);
    keys(&g, "1", 100);
    keys(&g, "2", 2000); /* each digit restarts the inter-digit timer */
    keys(&g, "3", 3900);
    assert_false(gather_poll(&g, 5899));
    assert_true(gather_poll(&g, 5900));
    assert_int_equal(g.status, GATHER_VALID);
    assert_string_equal(g.digits, "123");
}

static void test_prompt(void **state)
{
    struct gather g;
    gather_start(&g, &P, true, 0);
    assert_int_equal(g.state, GATHER_PROMPTING);
    assert_false(gather_poll(&g, 60000)); /* no timer while the prompt plays */
    gather_prompt_done(&g, 60000);
    assert_int_equal(g.state, GATHER_WAITING);
    assert_false(gather_poll(&g, 64999));
    assert_true(gather_poll(&g, 65000));
    assert_int_equal(g.status, GATHER_TIMEOUT);

    /* Barge-in: a digit during the prompt counts and starts the inter-digit timer. */
    gather_start(&g, &P, true, 0);
    keys(&g, "7", 300);
    assert_int_equal(g.state, GATHER_WAITING);
    gather_prompt_done(&g, 400); /* the prompt stopping later changes nothing */
    assert_true(gather_poll(&g, 2300));
    assert_int_equal(g.status, GATHER_INVALID);
}

static void test_no_terminator_and_cancel(void **state)
{
    struct gather_params p = P;
    p.terminator = 0;
    p.min_digits = 1;
    struct gather g;
    gather_start(&g, &p, false, 0);
    keys(&g, "#", 10); /* '#' is an ordinary key without a terminator */
    assert_true(gather_cancel(&g));
    assert_int_equal(g.status, GATHER_CANCELLED);
    assert_string_equal(g.digits, "#");
    assert_false(gather_running(&g));
    assert_string_equal(gather_status_name(g.status), "cancelled");
    assert_string_equal(gather_state_name(g.state), "done");
}

static void test_params_check(void **state)
{
    assert_int_equal(gather_params_check(&P), 0);
    struct gather_params p = P;
    p.min_digits = 0;
    assert_int_equal(gather_params_check(&p), VP_E_INVALID_PARAMETER);
    p = P;
    p.min_digits = 5;
    assert_int_equal(gather_params_check(&p), VP_E_INVALID_PARAMETER);
    p = P;
    p.max_digits = GATHER_MAX_DIGITS + 1;
    assert_int_equal(gather_params_check(&p), VP_E_INVALID_PARAMETER);
    p = P;
    p.terminator = 'x';
    assert_int_equal(gather_params_check(&p), VP_E_INVALID_PARAMETER);
    p = P;
    p.inter_digit_ms = 0;
    assert_int_equal(gather_params_check(&p), VP_E_INVALID_PARAMETER);
    /* The largest gather fills its buffer exactly. */
    p = P;
    p.max_digits = GATHER_MAX_DIGITS;
    p.terminator = 0;
    struct gather g;
    gather_start(&g, &p, false, 0);
    for (int i = 0; i < GATHER_MAX_DIGITS - 1; i++)
        assert_false(gather_digit(&g, '5', 1));
    assert_true(gather_digit(&g, '5', 1));
    assert_int_equal(strlen(g.digits), GATHER_MAX_DIGITS);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_terminator),
        cmocka_unit_test(test_terminator_too_early),
        cmocka_unit_test(test_maximum),
        cmocka_unit_test(test_first_digit_timeout),
        cmocka_unit_test(test_inter_digit_timeout),
        cmocka_unit_test(test_prompt),
        cmocka_unit_test(test_no_terminator_and_cancel),
        cmocka_unit_test(test_params_check),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
