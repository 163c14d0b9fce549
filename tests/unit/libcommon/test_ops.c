/*
 * Unit tests for libcommon/src/ops.c: the ops endpoints over real TCP on 127.0.0.1,
 * fetched with voepy's own HTTP client (curl) on the same loop.
 */
#include "vp_test.h"

#include <string.h>

#include "voepy/alloc.h"
#include "voepy/err.h"
#include "voepy/http_client.h"
#include "voepy/lifecycle.h"
#include "voepy/metrics.h"
#include "voepy/ops.h"

struct fixture {
    uv_loop_t loop;
    struct ops *ops;
    struct httpc *client;
    bool closed;
};

struct reply {
    bool done;
    long status;
    char *body;
    char *content_type;
    char *allow;
};

static int setup(void **state)
{
    struct fixture *f = calloc(1, sizeof(*f));
    assert_int_equal(uv_loop_init(&f->loop), 0);
    assert_int_equal(httpc_create(&f->client, &f->loop, NULL), 0);
    *state = f;
    return 0;
}

static void flag_cb(void *arg)
{
    *(bool *)arg = true;
}

static int teardown(void **state)
{
    struct fixture *f = *state;
    bool client_closed = false;
    httpc_close(f->client, flag_cb, &client_closed);
    assert_true(vp_test_run_until(&f->loop, &client_closed, 2000));
    if (f->ops) {
        ops_close(f->ops, flag_cb, &f->closed);
        assert_true(vp_test_run_until(&f->loop, &f->closed, 2000));
    }
    vp_test_loop_done(&f->loop);
    metrics_reset();
    free(f);
    return 0;
}

static char *dup_or_null(const char *s)
{
    return s ? vp_strdup(s) : NULL;
}

static void reply_cb(const struct httpc_response *res, void *arg)
{
    struct reply *r = arg;
    r->status = res->status ? -1 : res->http_status;
    r->body = vp_strdup(res->body ? res->body : "");
    r->content_type = dup_or_null(httpc_response_header(res, "Content-Type"));
    r->allow = dup_or_null(httpc_response_header(res, "Allow"));
    r->done = true;
}

static void reply_free(struct reply *r)
{
    free(r->body);
    free(r->content_type);
    free(r->allow);
    memset(r, 0, sizeof(*r));
}

/* One request to the ops server; fills *r (free with reply_free). */
static void fetch(struct fixture *f, const char *method, const char *path, struct reply *r)
{
    char *url = vp_asprintf("http://127.0.0.1:%d%s", ops_port(f->ops), path);
    struct httpc_request req = {.method = method, .url = url, .timeout_ms = 3000};
    memset(r, 0, sizeof(*r));
    assert_int_equal(httpc_send(f->client, &req, reply_cb, r), 0);
    free(url);
    assert_true(vp_test_run_until(&f->loop, &r->done, 4000));
}

static void start(struct fixture *f, struct lifecycle *lc)
{
    assert_int_equal(ops_create(&f->ops, &f->loop, "127.0.0.1", 0, lc), 0);
    assert_true(ops_port(f->ops) > 0);
}

static void test_healthz(void **state)
{
    struct fixture *f = *state;
    struct reply r;
    start(f, NULL);
    fetch(f, "GET", "/healthz", &r);
    assert_int_equal(r.status, 200);
    assert_string_equal(r.body, "{\"status\":\"ok\"}");
    assert_string_equal(r.content_type, "application/json");
    reply_free(&r);
    /* A query string does not change the resource. */
    fetch(f, "GET", "/healthz?verbose=1", &r);
    assert_int_equal(r.status, 200);
    reply_free(&r);
}

static bool check_flag(void *arg)
{
    return *(bool *)arg;
}

static void test_readyz_checks(void **state)
{
    struct fixture *f = *state;
    struct reply r;
    bool pg = false, redis = true, odd = false;
    start(f, NULL);
    fetch(f, "GET", "/readyz", &r);
    assert_int_equal(r.status, 200); /* no checks: ready */
    assert_string_equal(r.body, "{\"status\":\"ready\"}");
    reply_free(&r);
    ops_add_check(f->ops, "postgres", check_flag, &pg);
    ops_add_check(f->ops, "redis", check_flag, &redis);
    ops_add_check(f->ops, "we\"ird", check_flag, &odd);
    fetch(f, "GET", "/readyz", &r);
    assert_int_equal(r.status, 503);
    assert_string_equal(r.body,
                        "{\"status\":\"not_ready\",\"failing\":[\"postgres\",\"we\\\"ird\"]}");
    reply_free(&r);
    pg = odd = true;
    fetch(f, "GET", "/readyz", &r);
    assert_int_equal(r.status, 200);
    assert_string_equal(r.body, "{\"status\":\"ready\"}");
    reply_free(&r);
    redis = false; /* checks run on every request */
    fetch(f, "GET", "/readyz", &r);
    assert_int_equal(r.status, 503);
    assert_string_equal(r.body, "{\"status\":\"not_ready\",\"failing\":[\"redis\"]}");
    reply_free(&r);
}

static void hold_drain(struct lifecycle *lc, int id, void *arg)
{
    (void)lc;
    (void)id;
    (void)arg; /* never reports drained: the lifecycle stays DRAINING */
}

static void test_readyz_lifecycle(void **state)
{
    struct fixture *f = *state;
    struct lifecycle *lc;
    struct reply r;
    assert_int_equal(lifecycle_create(&lc, &f->loop, 60000), 0);
    lifecycle_add(lc, &(struct lifecycle_hooks){.drain = hold_drain});
    start(f, lc);
    fetch(f, "GET", "/readyz", &r);
    assert_int_equal(r.status, 200);
    reply_free(&r);
    lifecycle_shutdown(lc, true);
    assert_int_equal(lifecycle_state(lc), LIFECYCLE_DRAINING);
    fetch(f, "GET", "/readyz", &r);
    assert_int_equal(r.status, 503);
    assert_string_equal(r.body, "{\"status\":\"draining\"}");
    reply_free(&r);
    /* Liveness is unaffected by draining. */
    fetch(f, "GET", "/healthz", &r);
    assert_int_equal(r.status, 200);
    reply_free(&r);
    lifecycle_shutdown(lc, false);
    fetch(f, "GET", "/readyz", &r);
    assert_int_equal(r.status, 503);
    assert_string_equal(r.body, "{\"status\":\"stopping\"}");
    reply_free(&r);
    lifecycle_destroy(lc);
}

static void test_metrics_endpoint(void **state)
{
    struct fixture *f = *state;
    struct reply r;
    start(f, NULL);
    metric_add(metrics_counter("test_things_total", "Things.", "kind=\"x\""), 3);
    fetch(f, "GET", "/healthz", &r);
    reply_free(&r);
    fetch(f, "GET", "/metrics", &r);
    assert_int_equal(r.status, 200);
    assert_string_equal(r.content_type, "text/plain; version=0.0.4");
    assert_non_null(strstr(r.body, "# TYPE test_things_total counter\n"
                                   "test_things_total{kind=\"x\"} 3\n"));
    assert_non_null(strstr(r.body, "voepy_http_requests_total{server=\"ops\",status=\"200\"} 1\n"));
    assert_non_null(strstr(r.body, "voepy_http_connections{server=\"ops\"} 1\n"));
    reply_free(&r);
}

static void test_not_found_and_method(void **state)
{
    struct fixture *f = *state;
    struct reply r;
    start(f, NULL);
    fetch(f, "GET", "/nope", &r);
    assert_int_equal(r.status, 404);
    assert_string_equal(r.body, "{\"error\":{\"code\":\"not_found\",\"message\":\"No such "
                                "resource.\"}}");
    assert_string_equal(r.content_type, "application/json");
    reply_free(&r);
    fetch(f, "POST", "/healthz", &r);
    assert_int_equal(r.status, 405);
    assert_non_null(strstr(r.body, "\"code\":\"method_not_allowed\""));
    assert_string_equal(r.allow, "GET, HEAD");
    reply_free(&r);
    fetch(f, "DELETE", "/metrics", &r);
    assert_int_equal(r.status, 405);
    reply_free(&r);
    fetch(f, "GET", "/healthz/", &r); /* exact paths only */
    assert_int_equal(r.status, 404);
    reply_free(&r);
}

static void test_create_errors(void **state)
{
    struct fixture *f = *state;
    struct ops *other = NULL;
    start(f, NULL);
    assert_int_equal(ops_create(&other, &f->loop, "127.0.0.1", ops_port(f->ops), NULL), VP_E_IO);
    assert_null(other);
    assert_int_equal(ops_create(&other, &f->loop, "no-such-host", 0, NULL), VP_E_CONFIG);
    assert_null(other);
    bool called = false;
    ops_close(NULL, flag_cb, &called); /* a service that never got its ops server */
    assert_true(called);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(test_healthz, setup, teardown),
        cmocka_unit_test_setup_teardown(test_readyz_checks, setup, teardown),
        cmocka_unit_test_setup_teardown(test_readyz_lifecycle, setup, teardown),
        cmocka_unit_test_setup_teardown(test_metrics_endpoint, setup, teardown),
        cmocka_unit_test_setup_teardown(test_not_found_and_method, setup, teardown),
        cmocka_unit_test_setup_teardown(test_create_errors, setup, teardown),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
