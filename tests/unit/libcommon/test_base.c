/* Unit tests for libcommon's base module: err, buf, log, vtime, id, e164, money, config. */
#include "vp_test.h"

#include <string.h>

#include "voepy/alloc.h"
#include "voepy/buf.h"
#include "voepy/config.h"
#include "voepy/e164.h"
#include "voepy/err.h"
#include "voepy/id.h"
#include "voepy/log.h"
#include "voepy/money.h"
#include "voepy/vtime.h"

static void test_err_table(void **state)
{
    (void)state;
    assert_string_equal(vp_err_code(VP_E_BALANCE_INSUFFICIENT), "balance_insufficient");
    assert_int_equal(vp_err_http_status(VP_E_BALANCE_INSUFFICIENT), 402);
    assert_int_equal(vp_err_http_status(VP_E_FROM_NUMBER_NOT_OWNED), 403);
    assert_int_equal(vp_err_http_status(VP_E_CALL_ALREADY_ENDED), 409);
    assert_int_equal(vp_err_http_status(VP_E_UPSTREAM), 502);
    assert_int_equal(vp_err_from_code("call_not_in_required_state"),
                     VP_E_CALL_NOT_IN_REQUIRED_STATE);
    assert_int_equal(vp_err_from_code("no_such_code"), VP_E_INTERNAL);
    /* Unknown values fall back to internal_error rather than crashing. */
    assert_string_equal(vp_err_code(-9999), "internal_error");
    assert_int_equal(vp_err_http_status(-9999), 500);
}

static void test_err_json(void **state)
{
    (void)state;
    struct vp_error e;
    vp_error_set(&e, VP_E_INVALID_PARAMETER, "to", "to must be E.164 (got \"%s\")", "12\"3");
    char *s = vp_error_json(&e);
    assert_string_equal(s, "{\"error\":{\"code\":\"invalid_parameter\",\"message\":\"to must be "
                           "E.164 (got \\\"12\\\"3\\\")\",\"field\":\"to\"}}");
    free(s);
    vp_error_set(&e, VP_E_UNAUTHORIZED, NULL, NULL);
    s = vp_error_json(&e);
    assert_string_equal(s, "{\"error\":{\"code\":\"unauthorized\",\"message\":\"Missing or "
                           "invalid API key.\"}}");
    free(s);
}

static void test_buf(void **state)
{
    (void)state;
    struct buf b;
    buf_init(&b, 8);
    assert_int_equal(buf_puts(&b, "abcd"), 0);
    assert_int_equal(buf_printf(&b, "%d", 1234), 0);
    assert_string_equal(b.data, "abcd1234");
    /* The limit refuses growth past 8 bytes and leaves the content alone. */
    assert_int_equal(buf_putc(&b, 'x'), VP_E_OVERFLOW);
    assert_string_equal(b.data, "abcd1234");
    buf_consume(&b, 4);
    assert_string_equal(b.data, "1234");
    buf_reset(&b);
    /* Escaping that passes the limit rolls back to where it started. */
    assert_int_equal(buf_json_escape(&b, "a\"\n\x01", 4), VP_E_OVERFLOW);
    assert_string_equal(b.data, "");
    assert_int_equal(buf_json_escape(&b, "a\"\n", 3), 0);
    assert_string_equal(b.data, "a\\\"\\n");
    buf_free(&b);
    struct buf big = BUF_INIT;
    for (int i = 0; i < 10000; i++)
        buf_putc(&big, 'z');
    assert_int_equal(big.len, 10000);
    size_t len;
    char *d = buf_steal(&big, &len);
    assert_int_equal(len, 10000);
    assert_null(big.data);
    free(d);
}

static void test_buf_json_escape_control(void **state)
{
    (void)state;
    struct buf b = BUF_INIT;
    buf_json_escape(&b, "\x01\t", 2);
    assert_string_equal(b.data, "\\u0001\\t");
    buf_free(&b);
}

static void test_log_lines(void **state)
{
    (void)state;
    char *out = NULL;
    size_t len = 0;
    FILE *f = open_memstream(&out, &len);
    vlog_set_output(f);
    vlog_init("test-svc", "n1", VLOG_INFO);
    log_debug("x.debug", "hidden");
    log_info("x.info", "hello %s", "world\"");
    vlog_kv(VLOG_WARN, "x.kv", "m", "call_id", "voepy_call_1", "nothing", NULL, NULL);
    vlog_set_output(NULL);
    fclose(f);
    assert_null(strstr(out, "hidden"));
    assert_non_null(strstr(out, "\"level\":\"info\",\"service\":\"test-svc\",\"node\":\"n1\","
                                "\"event\":\"x.info\",\"msg\":\"hello world\\\"\"}\n"));
    assert_non_null(strstr(out, "\"call_id\":\"voepy_call_1\",\"nothing\":null}\n"));
    /* Two lines, each one object. */
    int lines = 0;
    for (char *p = out; *p; p++)
        lines += *p == '\n';
    assert_int_equal(lines, 2);
    free(out);
    enum vlog_level lvl;
    assert_int_equal(vlog_level_parse("warn", &lvl), 0);
    assert_int_equal(lvl, VLOG_WARN);
    assert_int_equal(vlog_level_parse("loud", &lvl), VP_E_INVALID_PARAMETER);
}

static void test_vtime(void **state)
{
    (void)state;
    char s[VTIME_ISO_LEN];
    assert_int_equal(vtime_format(0, s, sizeof(s)), 0);
    assert_string_equal(s, "1970-01-01T00:00:00.000Z");
    assert_int_equal(vtime_format(INT64_C(1778596338120), s, sizeof(s)), 0);
    assert_string_equal(s, "2026-05-12T14:32:18.120Z");
    int64_t ms;
    assert_int_equal(vtime_parse("2026-05-12T14:32:18.120Z", &ms), 0);
    assert_int_equal(ms, INT64_C(1778596338120));
    assert_int_equal(vtime_parse("2026-05-12T16:32:18.12+02:00", &ms), 0);
    assert_int_equal(ms, INT64_C(1778596338120));
    assert_int_equal(vtime_parse("2026-05-12T14:32:18Z", &ms), 0);
    assert_int_equal(ms, INT64_C(1778596338000));
    assert_int_equal(vtime_parse("2024-02-29T00:00:00Z", &ms), 0);
    /* Bad input. */
    assert_int_equal(vtime_parse("2023-02-29T00:00:00Z", &ms), VP_E_PARSE);
    assert_int_equal(vtime_parse("2026-05-12 14:32:18Z", &ms), VP_E_PARSE);
    assert_int_equal(vtime_parse("2026-05-12T14:32:18", &ms), VP_E_PARSE);
    assert_int_equal(vtime_parse("2026-13-12T14:32:18Z", &ms), VP_E_PARSE);
    assert_int_equal(vtime_parse("2026-05-12T14:32:18.Z", &ms), VP_E_PARSE);
    assert_int_equal(vtime_parse("", &ms), VP_E_PARSE);
    assert_int_equal(vtime_parse(NULL, &ms), VP_E_PARSE);
    assert_int_equal(vtime_format(0, s, 10), VP_E_OVERFLOW);
    /* Round trip over a range of instants. */
    for (int64_t t = -86400000LL * 800; t < 86400000LL * 40000; t += 86400000LL * 97 + 12345) {
        assert_int_equal(vtime_format(t, s, sizeof(s)), 0);
        assert_int_equal(vtime_parse(s, &ms), 0);
        assert_int_equal(ms, t);
    }
    uint64_t a = vtime_mono_ms(), b = vtime_mono_ms();
    assert_true(b >= a);
}

static void test_id(void **state)
{
    (void)state;
    char a[ID_MAX], b[ID_MAX];
    assert_int_equal(id_new(a, sizeof(a), "call"), 0);
    assert_int_equal(strlen(a), strlen("voepy_call_") + ID_ULID_LEN);
    assert_true(id_valid(a, "call"));
    assert_true(id_valid(a, NULL));
    assert_false(id_valid(a, "leg"));
    assert_int_equal(id_new_at(b, sizeof(b), "leg", 1778596338120), 0);
    assert_int_equal(id_time_ms(b), 1778596338120);
    /* Ids made later sort after ids made earlier. */
    char c[ID_MAX];
    id_new_at(c, sizeof(c), "leg", 1778596338121);
    assert_true(strcmp(b, c) < 0);
    assert_int_not_equal(strcmp(a, b), 0);
    assert_false(id_valid("voepy_call_", "call"));
    assert_false(id_valid("voepy_call_01HZABC", "call"));
    assert_false(id_valid("voepy_Call_01HZABCDEFGHJKMNPQRSTVWXYZ0", NULL));
    assert_false(id_valid("voepy_call_01HZABCDEFGHJKMNPQRSTVWXYI", "call")); /* I not Crockford */
    assert_false(id_valid("voepy_call_81HZABCDEFGHJKMNPQRSTVWXYZ", "call")); /* time overflow */
    assert_false(id_valid("xoepy_call_01HZABCDEFGHJKMNPQRSTVWXYZ", "call"));
    assert_false(id_valid(NULL, NULL));
    assert_int_equal(id_new(a, sizeof(a), "Bad"), VP_E_INVALID_PARAMETER);
    assert_int_equal(id_new(a, 10, "call"), VP_E_OVERFLOW);
}

static void test_e164(void **state)
{
    (void)state;
    assert_true(e164_valid("+15125550100"));
    assert_true(e164_valid("+123456"));
    assert_true(e164_valid("+123456789012345"));
    assert_false(e164_valid("+12345"));            /* 5 digits */
    assert_false(e164_valid("+1234567890123456")); /* 16 digits */
    assert_false(e164_valid("15125550100"));
    assert_false(e164_valid("+0125550100"));
    assert_false(e164_valid("+1 512 555 0100"));
    assert_false(e164_valid("+1-512-555-0100"));
    assert_false(e164_valid(""));
    assert_false(e164_valid("+"));
    assert_false(e164_valid(NULL));
    char cc[4];
    assert_int_equal(e164_country_code("+15125550100", cc, sizeof(cc)), 0);
    assert_string_equal(cc, "1");
    assert_int_equal(e164_country_code("+442071234567", cc, sizeof(cc)), 0);
    assert_string_equal(cc, "44");
    assert_int_equal(e164_country_code("+35312345678", cc, sizeof(cc)), 0);
    assert_string_equal(cc, "353");
    assert_int_equal(e164_country_code("+2101234567", cc, sizeof(cc)), VP_E_INVALID_PARAMETER);
}

static void test_money(void **state)
{
    (void)state;
    int64_t m;
    assert_int_equal(money_parse_cents_decimal("12", 0, &m), 0);
    assert_int_equal(m, 12000000);
    assert_int_equal(money_parse_cents_decimal("0.45", 0, &m), 0);
    assert_int_equal(m, 450000);
    assert_int_equal(money_parse_cents_decimal("1.000001", 0, &m), 0);
    assert_int_equal(m, 1000001);
    assert_int_equal(money_parse_cents_decimal("-3.5", 1, &m), 0);
    assert_int_equal(m, -3500000);
    assert_int_equal(money_parse_cents_decimal("-3.5", 0, &m), VP_E_PARSE);
    assert_int_equal(money_parse_cents_decimal("1.0000001", 0, &m), VP_E_PARSE);
    assert_int_equal(money_parse_cents_decimal("1.", 0, &m), VP_E_PARSE);
    assert_int_equal(money_parse_cents_decimal(".5", 0, &m), VP_E_PARSE);
    assert_int_equal(money_parse_cents_decimal("1e3", 0, &m), VP_E_PARSE);
    assert_int_equal(money_parse_cents_decimal("99999999999999999999", 0, &m), VP_E_OVERFLOW);
    char s[32];
    money_format_micros(450000, s, sizeof(s));
    assert_string_equal(s, "0.45");
    money_format_micros(12000000, s, sizeof(s));
    assert_string_equal(s, "12");
    money_format_micros(-1000001, s, sizeof(s));
    assert_string_equal(s, "-1.000001");
    assert_int_equal(money_micros_to_cents_ceil(1), 1);
    assert_int_equal(money_micros_to_cents_ceil(1000000), 1);
    assert_int_equal(money_micros_to_cents_ceil(1000001), 2);
    assert_int_equal(money_micros_to_cents_ceil(0), 0);
    assert_int_equal(money_micros_to_cents_ceil(-1500000), -1);
    assert_int_equal(money_muldiv_ceil(120000000, 3, 60, &m), 0);
    assert_int_equal(m, 6000000);
    assert_int_equal(money_muldiv_ceil(450000, 7, 60, &m), 0);
    assert_int_equal(m, 52500);
    assert_int_equal(money_muldiv_ceil(1, 1, 60, &m), 0);
    assert_int_equal(m, 1);
    assert_int_equal(money_muldiv_ceil(INT64_MAX, 2, 1, &m), VP_E_OVERFLOW);
}

struct test_cfg {
    char *name;
    char *secret;
    long port;
    bool flag;
};

static const struct config_var test_vars[] = {
    CONFIG_STR(struct test_cfg, name, "VOEPY_TEST_NAME", "dflt", 0, "a name"),
    CONFIG_STR(struct test_cfg, secret, "VOEPY_TEST_SECRET", NULL, CONFIG_SECRET, "a secret"),
    CONFIG_INT(struct test_cfg, port, "VOEPY_TEST_PORTX", "8080", 1, 65535, "a port"),
    CONFIG_BOOL(struct test_cfg, flag, "VOEPY_TEST_FLAG", "false", "a flag"),
};
#define NVARS (sizeof(test_vars) / sizeof(test_vars[0]))

static void test_config(void **state)
{
    (void)state;
    struct test_cfg c;
    char err[200];
    unsetenv("VOEPY_TEST_NAME");
    setenv("VOEPY_TEST_SECRET", "hunter2", 1);
    setenv("VOEPY_TEST_PORTX", "9090", 1);
    setenv("VOEPY_TEST_FLAG", "yes", 1);
    assert_int_equal(config_load(&c, test_vars, NVARS, err, sizeof(err)), 0);
    assert_string_equal(c.name, "dflt");
    assert_string_equal(c.secret, "hunter2");
    assert_int_equal(c.port, 9090);
    assert_true(c.flag);

    char *out = NULL;
    size_t len = 0;
    FILE *f = open_memstream(&out, &len);
    vlog_set_output(f);
    vlog_init("t", NULL, VLOG_INFO);
    config_print(&c, test_vars, NVARS);
    vlog_set_output(NULL);
    fclose(f);
    assert_null(strstr(out, "hunter2"));
    assert_non_null(strstr(out, "\"config\":{\"VOEPY_TEST_NAME\":\"dflt\",\"VOEPY_TEST_SECRET\":"
                                "\"***\",\"VOEPY_TEST_PORTX\":9090,\"VOEPY_TEST_FLAG\":true}"));
    free(out);
    config_free(&c, test_vars, NVARS);

    setenv("VOEPY_TEST_PORTX", "70000", 1);
    assert_int_equal(config_load(&c, test_vars, NVARS, err, sizeof(err)), VP_E_CONFIG);
    assert_non_null(strstr(err, "VOEPY_TEST_PORTX"));
    setenv("VOEPY_TEST_PORTX", "80x", 1);
    assert_int_equal(config_load(&c, test_vars, NVARS, err, sizeof(err)), VP_E_CONFIG);
    setenv("VOEPY_TEST_PORTX", "80", 1);
    setenv("VOEPY_TEST_FLAG", "maybe", 1);
    assert_int_equal(config_load(&c, test_vars, NVARS, err, sizeof(err)), VP_E_CONFIG);
    assert_non_null(strstr(err, "VOEPY_TEST_FLAG"));
}

static void test_alloc(void **state)
{
    (void)state;
    char *s = vp_asprintf("%s-%d", "x", 42);
    assert_string_equal(s, "x-42");
    free(s);
    s = vp_strndup("abcdef", 3);
    assert_string_equal(s, "abc");
    free(s);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_err_table), cmocka_unit_test(test_err_json),
        cmocka_unit_test(test_buf),       cmocka_unit_test(test_buf_json_escape_control),
        cmocka_unit_test(test_log_lines), cmocka_unit_test(test_vtime),
        cmocka_unit_test(test_id),        cmocka_unit_test(test_e164),
        cmocka_unit_test(test_money),     cmocka_unit_test(test_config),
        cmocka_unit_test(test_alloc),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
