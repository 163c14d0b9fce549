/* Unit tests for libcommon/src/metrics.c: registry, series reuse, exact exposition. */
#include "vp_test.h"

#include <string.h>

#include "voepy/buf.h"
#include "voepy/err.h"
#include "voepy/metrics.h"

static char *render(void)
{
    struct buf b = BUF_INIT;
    assert_int_equal(metrics_render(&b), 0);
    return buf_steal(&b, NULL);
}

static int teardown(void **state)
{
    (void)state;
    metrics_reset();
    return 0;
}

static void test_counter_gauge_render(void **state)
{
    (void)state;
    struct metric *a = metrics_counter("jobs_total", "Jobs done.", "kind=\"a\"");
    struct metric *g = metrics_gauge("queue_depth", "Items\nwaiting \\ now.", NULL);
    struct metric *b = metrics_counter("jobs_total", "ignored later help", "kind=\"b\"");
    metric_inc(a);
    metric_add(a, 41);
    metric_add(a, -5); /* counters never go down */
    metric_inc(b);
    metric_set(g, 7);
    metric_add(g, -10);
    assert_int_equal(metric_value(a), 42);
    assert_int_equal(metric_value(g), -3);
    char *s = render();
    assert_string_equal(s, "# HELP jobs_total Jobs done.\n"
                           "# TYPE jobs_total counter\n"
                           "jobs_total{kind=\"a\"} 42\n"
                           "jobs_total{kind=\"b\"} 1\n"
                           "# HELP queue_depth Items\\nwaiting \\\\ now.\n"
                           "# TYPE queue_depth gauge\n"
                           "queue_depth -3\n");
    free(s);
}

static void test_series_reused(void **state)
{
    (void)state;
    struct metric *a = metrics_counter("req_total", "R.", "status=\"200\"");
    struct metric *b = metrics_counter("req_total", "R.", "status=\"200\"");
    struct metric *c = metrics_counter("req_total", "R.", "status=\"500\"");
    struct metric *n1 = metrics_counter("req_total", "R.", NULL);
    struct metric *n2 = metrics_counter("req_total", "R.", "");
    assert_ptr_equal(a, b);
    assert_ptr_not_equal(a, c);
    assert_ptr_equal(n1, n2); /* NULL and "" are the same (empty) label set */
    /* Many series force the hash table to grow; lookups still find the same pointers. */
    struct metric *keep[300];
    char labels[64];
    for (int i = 0; i < 300; i++) {
        snprintf(labels, sizeof(labels), "i=\"%d\"", i);
        keep[i] = metrics_gauge("many", "M.", labels);
        metric_set(keep[i], i);
    }
    for (int i = 0; i < 300; i++) {
        snprintf(labels, sizeof(labels), "i=\"%d\"", i);
        assert_ptr_equal(metrics_gauge("many", "M.", labels), keep[i]);
        assert_int_equal(metric_value(keep[i]), i);
    }
    assert_ptr_equal(metrics_counter("req_total", "R.", "status=\"200\""), a);
}

static void test_histogram_render(void **state)
{
    (void)state;
    const double bounds[] = {0.005, 0.1, 1, 2.5};
    struct metric *h = metrics_histogram("lat_seconds", "Latency.", "route=\"/x\"", bounds, 4);
    struct metric *plain = metrics_histogram("lat_seconds", "Latency.", NULL, bounds, 4);
    metric_observe(h, 0.005); /* on the bound: counts in le="0.005" */
    metric_observe(h, 0.05);
    metric_observe(h, 0.5);
    metric_observe(h, 100);
    metric_observe(plain, 2);
    assert_int_equal(metric_value(h), 4);
    char *s = render();
    assert_string_equal(s, "# HELP lat_seconds Latency.\n"
                           "# TYPE lat_seconds histogram\n"
                           "lat_seconds_bucket{route=\"/x\",le=\"0.005\"} 1\n"
                           "lat_seconds_bucket{route=\"/x\",le=\"0.1\"} 2\n"
                           "lat_seconds_bucket{route=\"/x\",le=\"1\"} 3\n"
                           "lat_seconds_bucket{route=\"/x\",le=\"2.5\"} 3\n"
                           "lat_seconds_bucket{route=\"/x\",le=\"+Inf\"} 4\n"
                           "lat_seconds_sum{route=\"/x\"} 100.555\n"
                           "lat_seconds_count{route=\"/x\"} 4\n"
                           "lat_seconds_bucket{le=\"0.005\"} 0\n"
                           "lat_seconds_bucket{le=\"0.1\"} 0\n"
                           "lat_seconds_bucket{le=\"1\"} 0\n"
                           "lat_seconds_bucket{le=\"2.5\"} 1\n"
                           "lat_seconds_bucket{le=\"+Inf\"} 1\n"
                           "lat_seconds_sum 2\n"
                           "lat_seconds_count 1\n");
    free(s);
}

static void test_histogram_first_bounds_win(void **state)
{
    (void)state;
    const double first[] = {1};
    const double other[] = {0.1, 0.2, 0.3};
    struct metric *a = metrics_histogram("h", "H.", "a=\"1\"", first, 1);
    struct metric *b = metrics_histogram("h", "H.", "a=\"2\"", other, 3);
    metric_observe(a, 0.5);
    metric_observe(b, 0.15);
    char *s = render();
    assert_string_equal(s, "# HELP h H.\n# TYPE h histogram\n"
                           "h_bucket{a=\"1\",le=\"1\"} 1\nh_bucket{a=\"1\",le=\"+Inf\"} 1\n"
                           "h_sum{a=\"1\"} 0.5\nh_count{a=\"1\"} 1\n"
                           "h_bucket{a=\"2\",le=\"1\"} 1\nh_bucket{a=\"2\",le=\"+Inf\"} 1\n"
                           "h_sum{a=\"2\"} 0.15\nh_count{a=\"2\"} 1\n");
    free(s);
}

static void test_latency_buckets(void **state)
{
    (void)state;
    assert_true(metrics_latency_nbuckets >= 5);
    assert_true(metrics_latency_buckets[0] == 0.001);
    assert_true(metrics_latency_buckets[metrics_latency_nbuckets - 1] == 10);
    for (size_t i = 1; i < metrics_latency_nbuckets; i++)
        assert_true(metrics_latency_buckets[i] > metrics_latency_buckets[i - 1]);
    struct metric *h =
        metrics_histogram("d", "D.", NULL, metrics_latency_buckets, metrics_latency_nbuckets);
    metric_observe(h, 0.0001);
    char *s = render();
    assert_non_null(strstr(s, "d_bucket{le=\"0.001\"} 1\n"));
    assert_non_null(strstr(s, "d_bucket{le=\"0.0025\"} 1\n"));
    assert_non_null(strstr(s, "d_bucket{le=\"10\"} 1\n"));
    assert_non_null(strstr(s, "d_sum 0.0001\n"));
    free(s);
    /* Sums far from 1 switch to exponent notation, as the Go client prints them. */
    struct metric *tiny = metrics_histogram("tiny", "T.", NULL, NULL, 0);
    struct metric *huge = metrics_histogram("huge", "H.", NULL, NULL, 0);
    metric_observe(tiny, 1e-7);
    metric_observe(huge, 1e22);
    metric_observe(huge, 1e22);
    s = render();
    assert_non_null(strstr(s, "tiny_bucket{le=\"+Inf\"} 1\ntiny_sum 1e-07\ntiny_count 1\n"));
    assert_non_null(strstr(s, "huge_sum 2e+22\nhuge_count 2\n"));
    free(s);
}

static void test_reset_and_limit(void **state)
{
    (void)state;
    metric_inc(metrics_counter("x_total", "X.", NULL));
    metrics_reset();
    char *s = render();
    assert_string_equal(s, "");
    free(s);
    /* After a reset the same name starts from zero, with a fresh type. */
    struct metric *g = metrics_gauge("x_total", "now a gauge", NULL);
    assert_int_equal(metric_value(g), 0);
    /* A bounded output buffer reports overflow instead of truncating silently. */
    struct buf small;
    buf_init(&small, 16);
    assert_int_equal(metrics_render(&small), VP_E_OVERFLOW);
    buf_free(&small);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_teardown(test_counter_gauge_render, teardown),
        cmocka_unit_test_teardown(test_series_reused, teardown),
        cmocka_unit_test_teardown(test_histogram_render, teardown),
        cmocka_unit_test_teardown(test_histogram_first_bounds_win, teardown),
        cmocka_unit_test_teardown(test_latency_buckets, teardown),
        cmocka_unit_test_teardown(test_reset_and_limit, teardown),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
