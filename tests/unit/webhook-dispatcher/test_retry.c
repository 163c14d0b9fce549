/* The retry schedule, its jitter, and what each answer means for a delivery. */
#include "vp_test.h"

#include "retry.h"
#include "voepy/err.h"

#include <string.h>

static void test_schedule_parse(void **state)
{
    (void)state;
    struct wh_schedule s;
    assert_int_equal(wh_schedule_parse(WH_SCHEDULE_DEFAULT, &s), 0);
    assert_int_equal(s.n, 8);
    const int64_t want[] = {0, 5, 300, 1800, 7200, 18000, 36000, 36000};
    for (unsigned i = 0; i < 8; i++)
        assert_int_equal(s.delay_s[i], want[i]);
    assert_int_equal(wh_schedule_parse(" 0 , 1,2 ", &s), 0);
    assert_int_equal(s.n, 3);
    assert_int_equal(s.delay_s[2], 2);
    assert_int_equal(wh_schedule_parse("7", &s), 0);
    assert_int_equal(s.n, 1);
}

static void test_schedule_parse_bad(void **state)
{
    (void)state;
    struct wh_schedule s = {.n = 99};
    const char *bad[] = {"",    ",",    "0,",       ",0",     "1,,2", "-1", "1.5", "abc",
                         "1;2", "0x10", "99999999", "604801", "1 2",  "+1", NULL};
    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
        if (wh_schedule_parse(bad[i], &s) != VP_E_INVALID_PARAMETER)
            fail_msg("accepted \"%s\"", bad[i] ? bad[i] : "NULL");
        assert_int_equal(s.n, 99); /* untouched */
    }
    char many[256] = "0";
    for (int i = 1; i <= WH_SCHEDULE_MAX; i++)
        strcat(many, ",1");
    assert_int_equal(wh_schedule_parse(many, &s), VP_E_INVALID_PARAMETER);
    many[strlen(many) - 2] = '\0'; /* exactly WH_SCHEDULE_MAX entries */
    assert_int_equal(wh_schedule_parse(many, &s), 0);
    assert_int_equal(s.n, WH_SCHEDULE_MAX);
}

static void test_jitter_bounds(void **state)
{
    (void)state;
    assert_int_equal(wh_jitter_ms(0, 12345), 0);
    int64_t lo = INT64_MAX, hi = 0;
    uint64_t x = 88172645463325252u;
    for (int i = 0; i < 100000; i++) {
        x ^= x << 13, x ^= x >> 7, x ^= x << 17;
        int64_t v = wh_jitter_ms(300, x);
        assert_true(v >= 270000 && v <= 330000);
        lo = v < lo ? v : lo;
        hi = v > hi ? v : hi;
    }
    /* the whole +-10 % band is used, not a constant */
    assert_true(lo < 271000);
    assert_true(hi > 329000);
    assert_int_equal(wh_jitter_ms(5, 0), 4500);
    assert_int_equal(wh_jitter_ms(5, 1000), 5500);
    assert_int_equal(wh_jitter_ms(36000, UINT64_MAX) <= 39600000, 1);
}

static void test_decide(void **state)
{
    (void)state;
    struct wh_schedule s;
    assert_int_equal(wh_schedule_parse("0,10,20", &s), 0);
    int64_t ms = -1;
    assert_int_equal(wh_decide(200, 1, &s, 0, &ms), WH_SUCCEEDED);
    assert_int_equal(ms, 0);
    assert_int_equal(wh_decide(204, 3, &s, 0, &ms), WH_SUCCEEDED);
    assert_int_equal(wh_decide(299, 1, &s, 0, &ms), WH_SUCCEEDED);
    assert_int_equal(wh_decide(410, 1, &s, 0, &ms), WH_GONE);
    assert_int_equal(wh_decide(410, 3, &s, 0, &ms), WH_GONE);
    /* attempt 1 failed: the wait is delay_s[1] +- 10 % */
    const long failing[] = {0, 100, 199, 300, 301, 302, 307, 400, 404, 429, 500, 503};
    for (size_t i = 0; i < sizeof(failing) / sizeof(failing[0]); i++) {
        assert_int_equal(wh_decide(failing[i], 1, &s, 0, &ms), WH_RETRY);
        assert_int_equal(ms, 9000);
        assert_int_equal(wh_decide(failing[i], 2, &s, 2000, &ms), WH_RETRY);
        assert_int_equal(ms, 20000); /* 20 s - 2 s + 2000 ms */
        assert_int_equal(wh_decide(failing[i], 3, &s, 0, &ms), WH_EXHAUSTED);
        assert_int_equal(ms, 0);
        assert_int_equal(wh_decide(failing[i], 9, &s, 0, &ms), WH_EXHAUSTED);
    }
    struct wh_schedule once;
    assert_int_equal(wh_schedule_parse("0", &once), 0);
    assert_int_equal(wh_decide(500, 1, &once, 0, &ms), WH_EXHAUSTED);
}

static void test_outcome_names(void **state)
{
    (void)state;
    /* the names proto/sql/0040_webhooks.sql wh_record() accepts */
    assert_string_equal(wh_outcome_name(WH_SUCCEEDED), "succeeded");
    assert_string_equal(wh_outcome_name(WH_RETRY), "retry");
    assert_string_equal(wh_outcome_name(WH_EXHAUSTED), "exhausted");
    assert_string_equal(wh_outcome_name(WH_GONE), "gone");
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_schedule_parse), cmocka_unit_test(test_schedule_parse_bad),
        cmocka_unit_test(test_jitter_bounds),  cmocka_unit_test(test_decide),
        cmocka_unit_test(test_outcome_names),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
