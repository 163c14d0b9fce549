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

/* decide with no Retry-After, not a replay, at a fixed time */
static enum wh_outcome decide(long status, unsigned attempt, const struct wh_schedule *s,
                              uint64_t rnd, int64_t *ms)
{
    struct wh_decision d;
    wh_decide(status, NULL, attempt, false, s, rnd, 1700000000, &d);
    *ms = d.retry_ms;
    return d.outcome;
}

static void test_decide(void **state)
{
    (void)state;
    struct wh_schedule s;
    assert_int_equal(wh_schedule_parse("0,10,20", &s), 0);
    int64_t ms = -1;
    assert_int_equal(decide(200, 1, &s, 0, &ms), WH_SUCCEEDED);
    assert_int_equal(ms, 0);
    assert_int_equal(decide(204, 3, &s, 0, &ms), WH_SUCCEEDED);
    assert_int_equal(decide(299, 1, &s, 0, &ms), WH_SUCCEEDED);
    assert_int_equal(decide(410, 1, &s, 0, &ms), WH_GONE);
    assert_int_equal(decide(410, 3, &s, 0, &ms), WH_GONE);
    /* attempt 1 failed: the wait is delay_s[1] +- 10 % */
    const long failing[] = {0, 100, 199, 300, 301, 302, 307, 400, 404, 429, 500, 502, 503, 504};
    for (size_t i = 0; i < sizeof(failing) / sizeof(failing[0]); i++) {
        assert_int_equal(decide(failing[i], 1, &s, 0, &ms), WH_RETRY);
        assert_int_equal(ms, 9000);
        assert_int_equal(decide(failing[i], 2, &s, 2000, &ms), WH_RETRY);
        assert_int_equal(ms, 20000); /* 20 s - 2 s + 2000 ms */
        assert_int_equal(decide(failing[i], 3, &s, 0, &ms), WH_EXHAUSTED);
        assert_int_equal(ms, 0);
        assert_int_equal(decide(failing[i], 9, &s, 0, &ms), WH_EXHAUSTED);
    }
    struct wh_schedule once;
    assert_int_equal(wh_schedule_parse("0", &once), 0);
    assert_int_equal(decide(500, 1, &once, 0, &ms), WH_EXHAUSTED);
}

static void test_slowdown(void **state)
{
    (void)state;
    struct wh_schedule s;
    assert_int_equal(wh_schedule_parse("0,10,20", &s), 0);
    struct wh_decision d;
    const long slow[] = {429, 502, 504};
    for (size_t i = 0; i < 3; i++) {
        wh_decide(slow[i], NULL, 1, false, &s, 0, 1700000000, &d);
        assert_int_equal(d.outcome, WH_RETRY);
        assert_true(d.slowdown);
        assert_int_equal(d.retry_after_ms, -1); /* the database doubles the pause */
        assert_int_equal(d.retry_ms, 9000);
    }
    const long plain[] = {0, 302, 400, 500, 503};
    for (size_t i = 0; i < 5; i++) {
        wh_decide(plain[i], NULL, 1, false, &s, 0, 1700000000, &d);
        assert_false(d.slowdown);
        wh_decide(plain[i], "garbage", 1, false, &s, 0, 1700000000, &d);
        assert_false(d.slowdown);
    }
    /* Retry-After on any failed answer slows down, and says for how long */
    wh_decide(503, "120", 1, false, &s, 0, 1700000000, &d);
    assert_true(d.slowdown);
    assert_int_equal(d.retry_after_ms, 120000);
    wh_decide(429, "99999", 3, false, &s, 0, 1700000000, &d);
    assert_int_equal(d.outcome, WH_EXHAUSTED);
    assert_true(d.slowdown);
    assert_int_equal(d.retry_after_ms, 3600000); /* capped at an hour */
    /* ... but not on a success or a 410, and not without an answer */
    wh_decide(200, "120", 1, false, &s, 0, 1700000000, &d);
    assert_int_equal(d.outcome, WH_SUCCEEDED);
    assert_false(d.slowdown);
    wh_decide(410, "120", 1, false, &s, 0, 1700000000, &d);
    assert_int_equal(d.outcome, WH_GONE);
    assert_false(d.slowdown);
    wh_decide(0, "120", 1, false, &s, 0, 1700000000, &d);
    assert_false(d.slowdown);
}

static void test_replay(void **state)
{
    (void)state;
    struct wh_schedule s;
    assert_int_equal(wh_schedule_parse("0,10,20", &s), 0);
    struct wh_decision d;
    wh_decide(200, NULL, 1, true, &s, 0, 0, &d);
    assert_int_equal(d.outcome, WH_SUCCEEDED);
    wh_decide(410, NULL, 1, true, &s, 0, 0, &d);
    assert_int_equal(d.outcome, WH_GONE);
    const long failing[] = {0, 302, 429, 500, 502};
    for (size_t i = 0; i < 5; i++) {
        wh_decide(failing[i], NULL, 1, true, &s, 0, 0, &d);
        assert_int_equal(d.outcome, WH_FAILED); /* one attempt, never rescheduled */
        assert_int_equal(d.retry_ms, 0);
    }
    wh_decide(429, "30", 1, true, &s, 0, 0, &d);
    assert_int_equal(d.outcome, WH_FAILED);
    assert_true(d.slowdown); /* the endpoint still pauses */
}

static void test_retry_after(void **state)
{
    (void)state;
    const int64_t now = 784111777; /* Sun, 06 Nov 1994 08:49:37 GMT */
    assert_int_equal(wh_retry_after_ms("0", now), 0);
    assert_int_equal(wh_retry_after_ms("1", now), 1000);
    assert_int_equal(wh_retry_after_ms(" 17 ", now), 17000);
    assert_int_equal(wh_retry_after_ms("3600", now), 3600000);
    assert_int_equal(wh_retry_after_ms("3601", now), 3600000);
    assert_int_equal(wh_retry_after_ms("99999999999999999999999", now), 3600000);
    /* the three date forms, 90 s ahead */
    assert_int_equal(wh_retry_after_ms("Sun, 06 Nov 1994 08:51:07 GMT", now), 90000);
    assert_int_equal(wh_retry_after_ms("Sunday, 06-Nov-94 08:51:07 GMT", now), 90000);
    assert_int_equal(wh_retry_after_ms("Sun Nov  6 08:51:07 1994", now), 90000);
    /* a past date is now; a far one is capped */
    assert_int_equal(wh_retry_after_ms("Sat, 05 Nov 1994 08:49:37 GMT", now), 0);
    assert_int_equal(wh_retry_after_ms("Mon, 07 Nov 1994 08:49:37 GMT", now), 3600000);
    const char *bad[] = {NULL,
                         "",
                         " ",
                         "-1",
                         "1.5",
                         "12abc",
                         "soon",
                         "Sun, 06 Nov 1994",
                         "Sun, 06 Nov 1994 08:51:07 PST",
                         "Sun, 32 Nov 1994 08:51:07 GMT"};
    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++)
        if (wh_retry_after_ms(bad[i], now) != -1)
            fail_msg("accepted \"%s\"", bad[i] ? bad[i] : "NULL");
}

static void test_outcome_names(void **state)
{
    (void)state;
    /* the names proto/sql/0042_webhook_dispatch.sql wh_record() accepts */
    assert_string_equal(wh_outcome_name(WH_SUCCEEDED), "succeeded");
    assert_string_equal(wh_outcome_name(WH_RETRY), "retry");
    assert_string_equal(wh_outcome_name(WH_EXHAUSTED), "exhausted");
    assert_string_equal(wh_outcome_name(WH_GONE), "gone");
    assert_string_equal(wh_outcome_name(WH_FAILED), "failed");
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_schedule_parse), cmocka_unit_test(test_schedule_parse_bad),
        cmocka_unit_test(test_jitter_bounds),  cmocka_unit_test(test_decide),
        cmocka_unit_test(test_slowdown),       cmocka_unit_test(test_replay),
        cmocka_unit_test(test_retry_after),    cmocka_unit_test(test_outcome_names),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
