/* Request body parsing and validation: every kind of bad input names its field. */
#include "vp_test.h"

#include <string.h>

#include "voepy/json.h"

static const char *const records[] = {"off", "on_answer", "on_ringing", "on_demand", NULL};

static const struct jfield call_fields[] = {
    {"from", JF_E164, JF_REQUIRED, 0, 0, NULL, NULL},
    {"to", JF_E164, JF_REQUIRED, 0, 0, NULL, NULL},
    {"route_id", JF_ID, 0, 0, 0, NULL, "route"},
    {"record", JF_ENUM, 0, 0, 0, records, NULL},
    {"customer_reference", JF_STRING, JF_NULLABLE, 0, 128, NULL, NULL},
    {"timeout_secs", JF_INT, 0, 1, 600, NULL, NULL},
    {"caller_id_forwarding", JF_BOOL, 0, 0, 0, NULL, NULL},
    {"audio_url", JF_URL, 0, 0, 0, NULL, NULL},
    {"numbers", JF_ARRAY, 0, 1, 3, NULL, NULL},
    {"since", JF_TIME, 0, 0, 0, NULL, NULL},
};
#define NF (sizeof(call_fields) / sizeof(call_fields[0]))

/* Parse and validate; returns the error and leaves its detail in *e. */
static int check(const char *body, struct vp_error *e)
{
    json_t *obj;
    int err = vjson_parse_object(body, strlen(body), false, &obj, e);
    if (err)
        return err;
    err = vjson_validate(obj, call_fields, NF, e);
    json_decref(obj);
    return err;
}

static void test_valid(void **state)
{
    (void)state;
    struct vp_error e;
    assert_int_equal(
        check("{\"from\":\"+15125550100\",\"to\":\"+15558675309\",\"record\":\"off\","
              "\"timeout_secs\":30,\"customer_reference\":null,"
              "\"caller_id_forwarding\":true,\"audio_url\":\"https://a.example/x.wav\","
              "\"numbers\":[1,2],\"since\":\"2026-05-01T00:00:00Z\"}",
              &e),
        0);
}

static void expect(const char *body, int err, const char *field)
{
    struct vp_error e;
    memset(&e, 0, sizeof(e));
    assert_int_equal(check(body, &e), err);
    assert_string_equal(e.field, field);
    assert_true(e.message[0] != '\0');
    if (field[0])
        assert_non_null(strstr(e.message, field));
}

static void test_bad_input(void **state)
{
    (void)state;
    expect("", VP_E_INVALID_REQUEST, "");
    expect("{", VP_E_INVALID_REQUEST, "");
    expect("[1]", VP_E_INVALID_REQUEST, "");
    expect("\"str\"", VP_E_INVALID_REQUEST, "");
    expect("{\"from\":\"+15125550100\",\"from\":\"+15125550100\",\"to\":\"+15558675309\"}",
           VP_E_INVALID_REQUEST, "");
    expect("{\"to\":\"+15558675309\"}", VP_E_INVALID_REQUEST, "from");
    expect("{\"from\":\"+15125550100\",\"to\":\"+15558675309\",\"color\":1}", VP_E_INVALID_REQUEST,
           "color");
    expect("{\"from\":15125550100,\"to\":\"+15558675309\"}", VP_E_INVALID_REQUEST, "from");
    expect("{\"from\":\"+15125550100\",\"to\":\"5558675309\"}", VP_E_INVALID_PARAMETER, "to");
    expect("{\"from\":\"+15125550100\",\"to\":\"+15558675309\",\"timeout_secs\":0}",
           VP_E_INVALID_PARAMETER, "timeout_secs");
    expect("{\"from\":\"+15125550100\",\"to\":\"+15558675309\",\"timeout_secs\":601}",
           VP_E_INVALID_PARAMETER, "timeout_secs");
    expect("{\"from\":\"+15125550100\",\"to\":\"+15558675309\",\"timeout_secs\":1.5}",
           VP_E_INVALID_REQUEST, "timeout_secs");
    expect("{\"from\":\"+15125550100\",\"to\":\"+15558675309\",\"record\":\"always\"}",
           VP_E_INVALID_PARAMETER, "record");
    expect("{\"from\":\"+15125550100\",\"to\":\"+15558675309\",\"route_id\":\"voepy_call_x\"}",
           VP_E_INVALID_PARAMETER, "route_id");
    expect(
        "{\"from\":\"+15125550100\",\"to\":\"+15558675309\",\"audio_url\":\"file:///etc/passwd\"}",
        VP_E_INVALID_PARAMETER, "audio_url");
    expect("{\"from\":\"+15125550100\",\"to\":\"+15558675309\",\"numbers\":[]}",
           VP_E_INVALID_PARAMETER, "numbers");
    expect("{\"from\":\"+15125550100\",\"to\":\"+15558675309\",\"since\":\"yesterday\"}",
           VP_E_INVALID_PARAMETER, "since");
    expect("{\"from\":\"+15125550100\",\"to\":\"+15558675309\",\"caller_id_forwarding\":null}",
           VP_E_INVALID_REQUEST, "caller_id_forwarding");
    expect("{\"from\":null,\"to\":\"+15558675309\"}", VP_E_INVALID_REQUEST, "from");
}

static void test_long_reference(void **state)
{
    (void)state;
    char body[512];
    char ref[130];
    memset(ref, 'r', 129);
    ref[129] = '\0';
    snprintf(body, sizeof(body),
             "{\"from\":\"+15125550100\",\"to\":\"+15558675309\",\"customer_reference\":\"%s\"}",
             ref);
    expect(body, VP_E_INVALID_PARAMETER, "customer_reference");
    ref[128] = '\0';
    snprintf(body, sizeof(body),
             "{\"from\":\"+15125550100\",\"to\":\"+15558675309\",\"customer_reference\":\"%s\"}",
             ref);
    struct vp_error e;
    assert_int_equal(check(body, &e), 0);
}

static void test_empty_allowed(void **state)
{
    (void)state;
    json_t *obj;
    struct vp_error e;
    assert_int_equal(vjson_parse_object("  \n", 3, true, &obj, &e), 0);
    assert_int_equal(json_object_size(obj), 0);
    json_decref(obj);
}

static void test_accessors(void **state)
{
    (void)state;
    json_t *obj = json_pack("{s:s, s:i, s:b, s:n}", "a", "x", "b", 7, "c", 1, "d");
    assert_string_equal(vjson_str(obj, "a"), "x");
    assert_null(vjson_str(obj, "b"));
    assert_null(vjson_str(obj, "zz"));
    assert_int_equal(vjson_int(obj, "b", -1), 7);
    assert_int_equal(vjson_int(obj, "d", -1), -1);
    assert_true(vjson_bool(obj, "c", false));
    assert_false(vjson_bool(obj, "zz", false));
    char *s = vjson_dump(obj);
    assert_string_equal(s, "{\"a\":\"x\",\"b\":7,\"c\":true,\"d\":null}");
    free(s);
    json_decref(obj);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_valid),          cmocka_unit_test(test_bad_input),
        cmocka_unit_test(test_long_reference), cmocka_unit_test(test_empty_allowed),
        cmocka_unit_test(test_accessors),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
