/* api-gateway value checks: SIP URIs, countries, digits, rate prefixes, money. */
#include "vp_test.h"

#include <string.h>

#include "validate.h"

static void test_sip_uri(void **state)
{
    const char *good[] = {"sip:127.0.0.1",         "sip:127.0.0.1:5060", "sip:trunk.example.com",
                          "sip:a-b.example:65535", "sip:[::1]",          "sip:[2001:db8::1]:5061",
                          "sip:localhost"};
    const char *bad[] = {"",
                         "sip:",
                         "sips:127.0.0.1",
                         "tel:+15125550100",
                         "sip:user@host",
                         "sip:host:0",
                         "sip:host:65536",
                         "sip:host:",
                         "sip:host:50a",
                         "sip:host:123456",
                         "sip:-host",
                         "sip:host-",
                         "sip:ho st",
                         "sip:host..com",
                         "sip:.host",
                         "sip:[::1",
                         "sip:[not-ipv6]",
                         "sip:[::1]x",
                         "sip:host;transport=tcp",
                         "SIP:host"};
    for (size_t i = 0; i < sizeof(good) / sizeof(good[0]); i++)
        if (!validate_sip_uri(good[i]))
            fail_msg("refused %s", good[i]);
    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++)
        if (validate_sip_uri(bad[i]))
            fail_msg("accepted %s", bad[i]);
    assert_false(validate_sip_uri(NULL));
    char longlabel[128] = "sip:";
    memset(longlabel + 4, 'a', 64);
    assert_false(validate_sip_uri(longlabel));
    longlabel[4 + 63] = '\0';
    assert_true(validate_sip_uri(longlabel));
}

static void test_country(void **state)
{
    assert_string_equal(validate_country_for_code("1"), "US");
    assert_string_equal(validate_country_for_code("44"), "GB");
    assert_string_equal(validate_country_for_code("49"), "DE");
    assert_string_equal(validate_country_for_code("33"), "FR");
    assert_string_equal(validate_country_for_code("61"), "AU");
    assert_string_equal(validate_country_for_code("81"), "JP");
    assert_null(validate_country_for_code("998"));
    assert_null(validate_country_for_code(""));
    assert_null(validate_country_for_code(NULL));
    assert_true(validate_country("US"));
    assert_false(validate_country("us"));
    assert_false(validate_country("USA"));
    assert_false(validate_country("U"));
    assert_false(validate_country("1A"));
}

static void test_digits_and_prefix(void **state)
{
    assert_true(validate_digits("512", 1, 6));
    assert_false(validate_digits("", 1, 6));
    assert_false(validate_digits("1234567", 1, 6));
    assert_false(validate_digits("12a", 1, 6));
    assert_false(validate_digits("+1", 1, 6));
    char p[16];
    assert_true(validate_rate_prefix("+1", p));
    assert_string_equal(p, "1");
    assert_true(validate_rate_prefix("44", p));
    assert_string_equal(p, "44");
    assert_true(validate_rate_prefix("", p));
    assert_string_equal(p, "");
    assert_true(validate_rate_prefix("123456789012345", p));
    assert_false(validate_rate_prefix("1234567890123456", p));
    assert_false(validate_rate_prefix("++1", p));
    assert_false(validate_rate_prefix("1-2", p));
    assert_false(validate_rate_prefix(NULL, p));
}

static void check_cents(const char *json, int want_err, int64_t want_micros)
{
    json_error_t jerr;
    json_t *v = json_loads(json, JSON_DECODE_ANY, &jerr);
    assert_non_null(v);
    struct vp_error e;
    int64_t micros = -1;
    int err = validate_cents(v, "cents_per_minute", &micros, &e);
    json_decref(v);
    if (err != want_err)
        fail_msg("%s: got %d, want %d", json, err, want_err);
    if (!err)
        assert_int_equal(micros, want_micros);
    else
        assert_string_equal(e.field, "cents_per_minute");
}

static void test_cents(void **state)
{
    check_cents("12", 0, 12000000);
    check_cents("0", 0, 0);
    check_cents("\"0.45\"", 0, 450000);
    check_cents("\"1.000001\"", 0, 1000001);
    check_cents("\"12\"", 0, 12000000);
    /* Reals are refused, even when whole: money never passes through a double. */
    check_cents("0.45", VP_E_INVALID_PARAMETER, 0);
    check_cents("1.0", VP_E_INVALID_PARAMETER, 0);
    check_cents("-1", VP_E_INVALID_PARAMETER, 0);
    check_cents("\"-0.45\"", VP_E_INVALID_PARAMETER, 0);
    check_cents("\"0.4500001\"", VP_E_INVALID_PARAMETER, 0);
    check_cents("\"abc\"", VP_E_INVALID_PARAMETER, 0);
    check_cents("\"\"", VP_E_INVALID_PARAMETER, 0);
    check_cents("\"1e3\"", VP_E_INVALID_PARAMETER, 0);
    check_cents("\"99999999999999999999\"", VP_E_INVALID_PARAMETER, 0);
    check_cents("9223372036855", VP_E_INVALID_PARAMETER, 0);
    check_cents("true", VP_E_INVALID_REQUEST, 0);
    check_cents("[1]", VP_E_INVALID_REQUEST, 0);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_sip_uri),
        cmocka_unit_test(test_country),
        cmocka_unit_test(test_digits_and_prefix),
        cmocka_unit_test(test_cents),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
