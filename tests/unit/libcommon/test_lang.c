/* Unit tests for lang.h: which configured language serves a requested one. */
#include "vp_test.h"

#include "voepy/lang.h"

static const char *const have[] = {"en-US", "es-ES", "pt-BR", "pt-PT"};
#define NHAVE (sizeof(have) / sizeof(have[0]))

static void test_exact_tag_wins(void **state)
{
    (void)state;
    assert_int_equal(lang_pick("en-US", have, NHAVE), 0);
    assert_int_equal(lang_pick("es-ES", have, NHAVE), 1);
    assert_int_equal(lang_pick("en-us", have, NHAVE), 0); /* tags ignore case */
    assert_int_equal(lang_pick("PT-pt", have, NHAVE), 3); /* not the first pt */
}

static void test_same_primary_subtag(void **state)
{
    (void)state;
    assert_int_equal(lang_pick("en-GB", have, NHAVE), 0);
    assert_int_equal(lang_pick("en", have, NHAVE), 0);
    assert_int_equal(lang_pick("es-MX", have, NHAVE), 1);
    assert_int_equal(lang_pick("pt-AO", have, NHAVE), 2); /* the first with primary pt */
    assert_int_equal(lang_pick("es-419", have, NHAVE), 1);
}

static void test_other_languages_are_not_served(void **state)
{
    (void)state;
    assert_int_equal(lang_pick("de-DE", have, NHAVE), -1);
    assert_int_equal(lang_pick("e", have, NHAVE), -1);
    assert_int_equal(lang_pick("eng-US", have, NHAVE), -1); /* primary "eng" is not "en" */
    assert_int_equal(lang_pick("", have, NHAVE), -1);
    assert_int_equal(lang_pick(NULL, have, NHAVE), -1);
    assert_int_equal(lang_pick("en-US", have, 0), -1);
    const char *gaps[] = {NULL, "", "fr-FR"};
    assert_int_equal(lang_pick("fr-CA", gaps, 3), 2);
    assert_int_equal(lang_pick("", gaps, 3), -1);
}

static void test_list(void **state)
{
    (void)state;
    assert_true(lang_list_serves("en-US", "en-US"));
    assert_true(lang_list_serves("en-US,es-ES", "es-ES"));
    assert_true(lang_list_serves("en-US,es-ES", "es"));
    assert_true(lang_list_serves("en-US, es-ES", "es-AR"));
    assert_true(lang_list_serves("en-US", "EN-gb"));
    assert_false(lang_list_serves("en-US,es-ES", "de-DE"));
    assert_false(lang_list_serves("en-US", "eng"));
    assert_false(lang_list_serves("en-USA", "es"));
    assert_false(lang_list_serves("", "en-US"));
    assert_false(lang_list_serves(",,", "en-US"));
    assert_false(lang_list_serves(NULL, "en-US"));
    assert_false(lang_list_serves("en-US", NULL));
    assert_false(lang_list_serves("en-US", ""));
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_exact_tag_wins),
        cmocka_unit_test(test_same_primary_subtag),
        cmocka_unit_test(test_other_languages_are_not_served),
        cmocka_unit_test(test_list),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
