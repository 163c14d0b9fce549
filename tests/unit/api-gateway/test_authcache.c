/* api-gateway: the cache of API key lookups (authcache.h) and scope rules (apikey.h). */
#include "vp_test.h"

#include <stdio.h>
#include <string.h>

#include "apikey.h"
#include "authcache.h"

static struct authcache_entry entry(const char *hash, const char *key_id)
{
    struct authcache_entry e;
    memset(&e, 0, sizeof(e));
    snprintf(e.key_hash, sizeof(e.key_hash), "%s", hash);
    snprintf(e.tenant_id, sizeof(e.tenant_id), "voepy_tenant_X");
    snprintf(e.key_id, sizeof(e.key_id), "%s", key_id);
    snprintf(e.scopes, sizeof(e.scopes), "calls:read");
    e.tenant_active = true;
    e.api_requests_per_second = 5;
    e.calls_per_minute = 2;
    return e;
}

#define H1 "00000001aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa"
#define H2 "00000002bbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbb"
#define H3                                                                                \
    "00000011cccccccccccccccccccccccccccccccccccccccccccccccccccccccc" /* H1's slot in 16 \
                                                                        */

static void test_hit_until_ttl(void **state)
{
    struct authcache *c;
    assert_int_equal(authcache_create(&c, 16, 1000), 0);
    struct authcache_entry e = entry(H1, "voepy_key_1"), out;
    assert_false(authcache_get(c, H1, 100, 0, &out));
    authcache_put(c, &e, 100);
    assert_true(authcache_get(c, H1, 1099, 0, &out));
    assert_string_equal(out.key_id, "voepy_key_1");
    assert_string_equal(out.scopes, "calls:read");
    assert_int_equal(out.api_requests_per_second, 5);
    assert_false(authcache_get(c, H2, 1099, 0, &out)); /* another key */
    assert_false(authcache_get(c, H1, 1100, 0, &out)); /* ttl reached: dropped */
    assert_int_equal(authcache_count(c), 0);
    /* A clock that went backwards does not make an entry immortal. */
    authcache_put(c, &e, 5000);
    assert_false(authcache_get(c, H1, 4000, 0, &out));
    authcache_free(c);
}

static void test_key_expiry_is_exact(void **state)
{
    struct authcache *c;
    authcache_create(&c, 16, 60000);
    struct authcache_entry e = entry(H1, "voepy_key_1"), out;
    e.key_expires_ms = 1700000000000;
    authcache_put(c, &e, 0);
    assert_true(authcache_get(c, H1, 10, 1699999999999, &out));
    assert_false(authcache_get(c, H1, 10, 1700000000000, &out));
    authcache_free(c);
}

static void test_bounded_and_forgetting(void **state)
{
    struct authcache *c;
    authcache_create(&c, 10, 1000); /* rounded up to 16 slots */
    struct authcache_entry a = entry(H1, "voepy_key_1"), b = entry(H2, "voepy_key_2"), out;
    struct authcache_entry d = entry(H3, "voepy_key_3");
    authcache_put(c, &a, 0);
    authcache_put(c, &b, 0);
    assert_int_equal(authcache_count(c), 2);
    authcache_put(c, &d, 0); /* same slot as a: replaces it */
    assert_int_equal(authcache_count(c), 2);
    assert_false(authcache_get(c, H1, 1, 0, &out));
    assert_true(authcache_get(c, H3, 1, 0, &out));
    authcache_forget_key(c, "voepy_key_2");
    assert_false(authcache_get(c, H2, 1, 0, &out));
    assert_true(authcache_get(c, H3, 1, 0, &out));
    authcache_clear(c);
    assert_int_equal(authcache_count(c), 0);
    /* Thousands of keys: memory stays at the slot count. */
    for (int i = 0; i < 5000; i++) {
        char h[CRYPTO_SHA256_HEX_LEN];
        snprintf(h, sizeof(h), "%08x%056d", i * 2654435761u, 0);
        struct authcache_entry x = entry(h, "k");
        authcache_put(c, &x, 0);
    }
    assert_true(authcache_count(c) <= 16);
    authcache_free(c);
}

static void test_scope_rules(void **state)
{
    assert_true(apikey_scope_held("*", "calls:write"));
    assert_true(apikey_scope_held("*", "*"));
    assert_true(apikey_scope_held("calls:read", "calls:read"));
    assert_true(apikey_scope_held("calls:write", "calls:read"));
    assert_true(apikey_scope_held("numbers:read calls:write", "calls:read"));
    assert_true(apikey_scope_held("a  calls:read", "calls:read")); /* repeated spaces */
    assert_false(apikey_scope_held("calls:read", "calls:write"));
    assert_false(apikey_scope_held("calls:read", "*"));
    assert_false(apikey_scope_held("numbers:write", "calls:read"));
    assert_false(apikey_scope_held("calls:writer", "calls:read"));
    assert_false(apikey_scope_held("call:write", "calls:read"));
    assert_false(apikey_scope_held("calls:read", "calls:rea"));
    assert_false(apikey_scope_held("calls:readx", "calls:read"));
    assert_false(apikey_scope_held("", "calls:read"));
    assert_false(apikey_scope_held(NULL, "calls:read"));
    assert_false(apikey_scope_held("*", ""));
    assert_true(apikey_scope_known("*"));
    assert_true(apikey_scope_known("keys:write"));
    assert_true(apikey_scope_known("billing:read"));
    assert_true(apikey_scope_known("billing:write"));
    assert_false(apikey_scope_known("billing:admin"));
    assert_false(apikey_scope_known("calls"));
    assert_false(apikey_scope_known(""));
    assert_false(apikey_scope_known(NULL));
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_hit_until_ttl),
        cmocka_unit_test(test_key_expiry_is_exact),
        cmocka_unit_test(test_bounded_and_forgetting),
        cmocka_unit_test(test_scope_rules),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
