/* api-gateway router: patterns, parameters, 404 versus 405, hostile paths. */
#include "vp_test.h"

#include <string.h>

#include "router.h"
#include "voepy/err.h"

static const struct router_route routes[] = {
    {"POST", "/v1/calls", NULL, ROUTER_AUTH_TENANT, ROUTER_BODY, NULL},
    {"GET", "/v1/calls", NULL, ROUTER_AUTH_TENANT, 0, NULL},
    {"GET", "/v1/calls/{id}", NULL, ROUTER_AUTH_TENANT, 0, NULL},
    {"POST", "/v1/calls/{id}/actions/hangup", NULL, ROUTER_AUTH_TENANT, ROUTER_BODY, NULL},
    {"GET", "/v1/phone_numbers/available", NULL, ROUTER_AUTH_TENANT, 0, NULL},
    {"GET", "/v1/phone_numbers/{id}", NULL, ROUTER_AUTH_TENANT, 0, NULL},
    {"DELETE", "/v1/phone_numbers/{id}", NULL, ROUTER_AUTH_TENANT, 0, NULL},
    {"PATCH", "/admin/v1/tenants/{id}", NULL, ROUTER_AUTH_ADMIN, ROUTER_BODY, NULL},
    {"GET", "/admin/v1/tenants/{id}", NULL, ROUTER_AUTH_ADMIN, 0, NULL},
    {"POST", "/admin/v1/tenants/{id}/credit", NULL, ROUTER_AUTH_ADMIN, ROUTER_BODY, NULL},
    {"GET", "/t/{a}/x/{b}", NULL, ROUTER_AUTH_TENANT, 0, NULL},
};
#define NROUTES (sizeof(routes) / sizeof(routes[0]))

static void test_literal_routes(void **state)
{
    struct router_match m;
    assert_int_equal(router_match(routes, NROUTES, "POST", "/v1/calls", &m), 0);
    assert_ptr_equal(m.route, &routes[0]);
    assert_int_equal(m.nparams, 0);
    assert_int_equal(router_match(routes, NROUTES, "GET", "/v1/calls", &m), 0);
    assert_ptr_equal(m.route, &routes[1]);
}

static void test_params(void **state)
{
    struct router_match m;
    assert_int_equal(router_match(routes, NROUTES, "GET", "/v1/calls/voepy_call_X", &m), 0);
    assert_ptr_equal(m.route, &routes[2]);
    assert_int_equal(m.nparams, 1);
    assert_string_equal(m.params[0], "voepy_call_X");
    assert_int_equal(router_match(routes, NROUTES, "POST", "/v1/calls/abc/actions/hangup", &m), 0);
    assert_ptr_equal(m.route, &routes[3]);
    assert_string_equal(m.params[0], "abc");
    assert_int_equal(router_match(routes, NROUTES, "GET", "/t/one/x/two", &m), 0);
    assert_int_equal(m.nparams, 2);
    assert_string_equal(m.params[0], "one");
    assert_string_equal(m.params[1], "two");
}

static void test_literal_before_param(void **state)
{
    /* "available" is a literal route, listed before the {id} one: it wins. */
    struct router_match m;
    assert_int_equal(router_match(routes, NROUTES, "GET", "/v1/phone_numbers/available", &m), 0);
    assert_ptr_equal(m.route, &routes[4]);
    assert_int_equal(m.nparams, 0);
}

static void test_not_found(void **state)
{
    struct router_match m;
    const char *paths[] = {"/",
                           "",
                           "/v1",
                           "/v1/calls/",
                           "/v1/callsx",
                           "/v1/calls//actions/hangup",
                           "/v1/calls/x/actions/transfer",
                           "/v1/calls/x/actions/hangup/",
                           "/V1/calls",
                           "/v1/calls/a/b",
                           "/admin/v1/tenants",
                           "/t/a/x/",
                           "/t//x/b"};
    for (size_t i = 0; i < sizeof(paths) / sizeof(paths[0]); i++) {
        int rc = router_match(routes, NROUTES, "GET", paths[i], &m);
        if (rc != VP_E_NOT_FOUND)
            fail_msg("path %s: expected not found, got %d", paths[i], rc);
        assert_null(m.route);
    }
}

static void test_method_not_allowed(void **state)
{
    struct router_match m;
    assert_int_equal(router_match(routes, NROUTES, "PUT", "/v1/calls", &m),
                     VP_E_METHOD_NOT_ALLOWED);
    assert_null(m.route);
    assert_string_equal(m.allow, "POST, GET");
    assert_int_equal(router_match(routes, NROUTES, "POST", "/v1/phone_numbers/x", &m),
                     VP_E_METHOD_NOT_ALLOWED);
    assert_string_equal(m.allow, "GET, DELETE");
    assert_int_equal(router_match(routes, NROUTES, "GET", "/v1/calls/x/actions/hangup", &m),
                     VP_E_METHOD_NOT_ALLOWED);
    assert_string_equal(m.allow, "POST");
    /* The method is compared exactly. */
    assert_int_equal(router_match(routes, NROUTES, "get", "/v1/calls", &m),
                     VP_E_METHOD_NOT_ALLOWED);
}

static void test_long_param_refused(void **state)
{
    struct router_match m;
    char path[512];
    strcpy(path, "/v1/calls/");
    memset(path + 10, 'a', ROUTER_PARAM_MAX - 1);
    path[10 + ROUTER_PARAM_MAX - 1] = '\0';
    assert_int_equal(router_match(routes, NROUTES, "GET", path, &m), 0);
    assert_int_equal(strlen(m.params[0]), ROUTER_PARAM_MAX - 1);
    memset(path + 10, 'a', ROUTER_PARAM_MAX);
    path[10 + ROUTER_PARAM_MAX] = '\0';
    assert_int_equal(router_match(routes, NROUTES, "GET", path, &m), VP_E_NOT_FOUND);
}

static void test_too_many_params_refused(void **state)
{
    static const struct router_route many[] = {
        {"GET", "/{a}/{b}/{c}/{d}/{e}", NULL, ROUTER_AUTH_TENANT, 0, NULL},
        {"GET", "/{a}/{b}/{c}/{d}", NULL, ROUTER_AUTH_TENANT, 0, NULL},
    };
    struct router_match m;
    assert_int_equal(router_match(many, 2, "GET", "/1/2/3/4/5", &m), VP_E_NOT_FOUND);
    assert_int_equal(router_match(many, 2, "GET", "/1/2/3/4", &m), 0);
    assert_int_equal(m.nparams, 4);
    assert_string_equal(m.params[3], "4");
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_literal_routes),          cmocka_unit_test(test_params),
        cmocka_unit_test(test_literal_before_param),    cmocka_unit_test(test_not_found),
        cmocka_unit_test(test_method_not_allowed),      cmocka_unit_test(test_long_param_refused),
        cmocka_unit_test(test_too_many_params_refused),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
