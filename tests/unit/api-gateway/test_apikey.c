/* api-gateway API keys: format, checksum, hash. */
#include "vp_test.h"

#include <string.h>

#include "apikey.h"
#include "voepy/crypto.h"

static int setup(void **state)
{
    return crypto_init();
}

static void test_crc32_known_vectors(void **state)
{
    /* The CRC-32 check value of the catalogue, and two zlib results. */
    assert_int_equal(apikey_crc32("123456789", 9), 0xCBF43926u);
    assert_int_equal(apikey_crc32("", 0), 0u);
    assert_int_equal(apikey_crc32("The quick brown fox jumps over the lazy dog", 43), 0x414FA339u);
}

static void test_checksum_base62(void **state)
{
    char out[APIKEY_CHECK_LEN + 1];
    /* 0xCBF43926 = 3421780262 = 3*62^5 + 45*62^4 + 35*62^3 + 27*62^2 + 22*62 + 14. */
    apikey_checksum("123456789", 9, out);
    assert_string_equal(out, "3jZRME");
    /* Small values are left-padded with '0'. */
    apikey_checksum("", 0, out);
    assert_string_equal(out, "000000");
}

static void test_new_keys_are_well_formed_and_distinct(void **state)
{
    char a[APIKEY_BUF], b[APIKEY_BUF];
    apikey_new(a);
    apikey_new(b);
    assert_int_equal(strlen(a), APIKEY_LEN);
    assert_int_equal(APIKEY_LEN, 47);
    assert_memory_equal(a, "voepy_live_", 11);
    assert_true(apikey_well_formed(a));
    assert_true(apikey_well_formed(b));
    assert_string_not_equal(a, b);
}

static void test_corruption_is_detected(void **state)
{
    char k[APIKEY_BUF];
    apikey_new(k);
    /* Change every character of the random part and of the checksum in turn. */
    for (size_t i = APIKEY_PREFIX_LEN; i < APIKEY_LEN; i++) {
        char saved = k[i];
        k[i] = saved == 'a' ? 'b' : 'a';
        if (apikey_well_formed(k))
            fail_msg("changing position %zu went unnoticed", i);
        k[i] = saved;
    }
    assert_true(apikey_well_formed(k));
}

static void test_malformed_refused(void **state)
{
    char k[APIKEY_BUF], buf[APIKEY_BUF + 8];
    apikey_new(k);
    assert_false(apikey_well_formed(NULL));
    assert_false(apikey_well_formed(""));
    assert_false(apikey_well_formed("voepy_live_"));
    /* Wrong prefix with a checksum that matches it. */
    memcpy(buf, k, APIKEY_BUF);
    memcpy(buf, "voepy_test_", 11);
    apikey_checksum(buf, APIKEY_PREFIX_LEN + APIKEY_RANDOM_LEN, buf + 41);
    assert_false(apikey_well_formed(buf));
    /* Too long, too short. */
    snprintf(buf, sizeof(buf), "%sx", k);
    assert_false(apikey_well_formed(buf));
    memcpy(buf, k, APIKEY_LEN - 1);
    buf[APIKEY_LEN - 1] = '\0';
    assert_false(apikey_well_formed(buf));
    /* A character outside base62, with a checksum computed over it. */
    memcpy(buf, k, APIKEY_BUF);
    buf[20] = '-';
    apikey_checksum(buf, APIKEY_PREFIX_LEN + APIKEY_RANDOM_LEN, buf + 41);
    assert_false(apikey_well_formed(buf));
}

static void test_hash_is_sha256_hex(void **state)
{
    char h[CRYPTO_SHA256_HEX_LEN];
    apikey_hash("abc", h);
    assert_string_equal(h, "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad");
    char k[APIKEY_BUF], h2[CRYPTO_SHA256_HEX_LEN];
    apikey_new(k);
    apikey_hash(k, h);
    apikey_hash(k, h2);
    assert_string_equal(h, h2);
    assert_int_equal(strlen(h), 64);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_crc32_known_vectors),
        cmocka_unit_test(test_checksum_base62),
        cmocka_unit_test(test_new_keys_are_well_formed_and_distinct),
        cmocka_unit_test(test_corruption_is_detected),
        cmocka_unit_test(test_malformed_refused),
        cmocka_unit_test(test_hash_is_sha256_hex),
    };
    return cmocka_run_group_tests(tests, setup, NULL);
}
