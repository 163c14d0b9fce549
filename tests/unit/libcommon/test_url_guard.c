/*
 * url_guard: the address classification and the decision on literal addresses, URL
 * parsing, and the asynchronous check on numeric hosts (resolved without any packet).
 */
#include "vp_test.h"

#include "voepy/err.h"
#include "voepy/url_guard.h"

#include <arpa/inet.h>
#include <string.h>

struct class_case {
    const char *ip;
    enum url_addr_class cls;
};

static const struct class_case class_cases[] = {
    {"8.8.8.8", URL_ADDR_PUBLIC},
    {"93.184.216.34", URL_ADDR_PUBLIC},
    {"1.1.1.1", URL_ADDR_PUBLIC},
    {"0.0.0.0", URL_ADDR_UNSPECIFIED},
    {"0.1.2.3", URL_ADDR_UNSPECIFIED},
    {"9.255.255.255", URL_ADDR_PUBLIC},
    {"10.0.0.1", URL_ADDR_PRIVATE},
    {"10.255.255.255", URL_ADDR_PRIVATE},
    {"11.0.0.0", URL_ADDR_PUBLIC},
    {"100.63.255.255", URL_ADDR_PUBLIC},
    {"100.64.0.0", URL_ADDR_CGNAT},
    {"100.127.255.255", URL_ADDR_CGNAT},
    {"100.128.0.0", URL_ADDR_PUBLIC},
    {"127.0.0.1", URL_ADDR_LOOPBACK},
    {"127.255.255.254", URL_ADDR_LOOPBACK},
    {"169.254.169.254", URL_ADDR_LINK_LOCAL},
    {"169.255.0.1", URL_ADDR_PUBLIC},
    {"172.15.255.255", URL_ADDR_PUBLIC},
    {"172.16.0.1", URL_ADDR_PRIVATE},
    {"172.31.255.255", URL_ADDR_PRIVATE},
    {"172.32.0.0", URL_ADDR_PUBLIC},
    {"192.0.0.8", URL_ADDR_RESERVED},
    {"192.0.2.10", URL_ADDR_RESERVED},
    {"192.88.99.1", URL_ADDR_RESERVED},
    {"192.167.255.255", URL_ADDR_PUBLIC},
    {"192.168.1.1", URL_ADDR_PRIVATE},
    {"192.169.0.0", URL_ADDR_PUBLIC},
    {"198.17.255.255", URL_ADDR_PUBLIC},
    {"198.18.0.1", URL_ADDR_RESERVED},
    {"198.19.255.255", URL_ADDR_RESERVED},
    {"198.20.0.0", URL_ADDR_PUBLIC},
    {"198.51.100.7", URL_ADDR_RESERVED},
    {"203.0.113.9", URL_ADDR_RESERVED},
    {"223.255.255.255", URL_ADDR_PUBLIC},
    {"224.0.0.1", URL_ADDR_MULTICAST},
    {"239.255.255.250", URL_ADDR_MULTICAST},
    {"240.0.0.1", URL_ADDR_RESERVED},
    {"255.255.255.255", URL_ADDR_RESERVED},
    {"::", URL_ADDR_UNSPECIFIED},
    {"::1", URL_ADDR_LOOPBACK},
    {"::2", URL_ADDR_RESERVED},
    {"::127.0.0.1", URL_ADDR_RESERVED},
    {"::ffff:127.0.0.1", URL_ADDR_LOOPBACK},
    {"::ffff:10.1.2.3", URL_ADDR_PRIVATE},
    {"::ffff:169.254.169.254", URL_ADDR_LINK_LOCAL},
    {"::ffff:8.8.8.8", URL_ADDR_PUBLIC},
    {"64:ff9b::7f00:1", URL_ADDR_LOOPBACK},
    {"64:ff9b::808:808", URL_ADDR_PUBLIC},
    {"64:ff9b:1::1", URL_ADDR_PRIVATE},
    {"100::1", URL_ADDR_RESERVED},
    {"2001:db8::1", URL_ADDR_RESERVED},
    {"2001::1", URL_ADDR_RESERVED},
    {"2001:1ff::1", URL_ADDR_RESERVED},
    {"2001:200::1", URL_ADDR_PUBLIC},
    {"2002:7f00:1::1", URL_ADDR_LOOPBACK},
    {"2002:c0a8:101::1", URL_ADDR_PRIVATE},
    {"2002:808:808::1", URL_ADDR_PUBLIC},
    {"2606:4700:4700::1111", URL_ADDR_PUBLIC},
    {"2a00:1450:4001:82a::200e", URL_ADDR_PUBLIC},
    {"3fff::1", URL_ADDR_RESERVED},
    {"4000::1", URL_ADDR_RESERVED},
    {"fc00::1", URL_ADDR_PRIVATE},
    {"fd12:3456::1", URL_ADDR_PRIVATE},
    {"fe80::1", URL_ADDR_LINK_LOCAL},
    {"febf:ffff::1", URL_ADDR_LINK_LOCAL},
    {"fec0::1", URL_ADDR_PRIVATE},
    {"ff02::1", URL_ADDR_MULTICAST},
};

static void test_classify_literals(void **state)
{
    (void)state;
    for (size_t i = 0; i < sizeof(class_cases) / sizeof(class_cases[0]); i++) {
        enum url_addr_class cls = URL_ADDR_PUBLIC;
        int rc = url_guard_classify_ip(class_cases[i].ip, &cls);
        if (rc || cls != class_cases[i].cls)
            fail_msg("%s: rc %d class %s, want %s", class_cases[i].ip, rc, url_addr_class_name(cls),
                     url_addr_class_name(class_cases[i].cls));
    }
}

static void test_classify_not_an_address(void **state)
{
    (void)state;
    enum url_addr_class cls;
    const char *bad[] = {"", "localhost", "127.0.0.1.", "1.2.3", "::g", "[::1]", "0x7f.1", NULL};
    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++)
        assert_int_equal(url_guard_classify_ip(bad[i], &cls), VP_E_PARSE);
    struct sockaddr sa = {.sa_family = AF_UNIX};
    assert_int_equal(url_guard_classify(&sa), URL_ADDR_RESERVED);
    assert_int_equal(url_guard_classify(NULL), URL_ADDR_RESERVED);
}

static void test_classify_sockaddr(void **state)
{
    (void)state;
    struct sockaddr_in in = {.sin_family = AF_INET};
    inet_pton(AF_INET, "192.168.0.5", &in.sin_addr);
    assert_int_equal(url_guard_classify((struct sockaddr *)&in), URL_ADDR_PRIVATE);
    struct sockaddr_in6 in6 = {.sin6_family = AF_INET6};
    inet_pton(AF_INET6, "::ffff:100.64.1.1", &in6.sin6_addr);
    assert_int_equal(url_guard_classify((struct sockaddr *)&in6), URL_ADDR_CGNAT);
}

static void test_decide(void **state)
{
    (void)state;
    assert_int_equal(url_guard_decide(URL_ADDR_PUBLIC, false), 0);
    assert_int_equal(url_guard_decide(URL_ADDR_PUBLIC, true), 0);
    const enum url_addr_class switchable[] = {URL_ADDR_LOOPBACK, URL_ADDR_PRIVATE,
                                              URL_ADDR_LINK_LOCAL, URL_ADDR_CGNAT};
    for (size_t i = 0; i < 4; i++) {
        assert_int_equal(url_guard_decide(switchable[i], false), VP_E_FORBIDDEN);
        assert_int_equal(url_guard_decide(switchable[i], true), 0);
    }
    const enum url_addr_class never[] = {URL_ADDR_MULTICAST, URL_ADDR_UNSPECIFIED,
                                         URL_ADDR_RESERVED};
    for (size_t i = 0; i < 3; i++) {
        assert_int_equal(url_guard_decide(never[i], false), VP_E_FORBIDDEN);
        assert_int_equal(url_guard_decide(never[i], true), VP_E_FORBIDDEN);
    }
}

static void test_parse(void **state)
{
    (void)state;
    struct url_target t;
    const struct url_guard_opts o = {0};
    assert_int_equal(url_guard_parse("https://hooks.example.com/x?y=1", &o, &t), 0);
    assert_string_equal(t.scheme, "https");
    assert_string_equal(t.host, "hooks.example.com");
    assert_int_equal(t.port, 443);
    assert_int_equal(url_guard_parse("HTTP://user:pw@127.0.0.1:8080/h", &o, &t), 0);
    assert_string_equal(t.scheme, "http");
    assert_string_equal(t.host, "127.0.0.1");
    assert_int_equal(t.port, 8080);
    assert_int_equal(url_guard_parse("http://[::1]:9/h", &o, &t), 0);
    assert_string_equal(t.host, "::1");
    assert_int_equal(t.port, 9);
    assert_int_equal(url_guard_parse("http://example.com", NULL, &t), 0);
    assert_int_equal(t.port, 80);
}

static void test_parse_refused(void **state)
{
    (void)state;
    struct url_target t;
    const struct url_guard_opts o = {0}, ws = {.allow_ws = true};
    assert_int_equal(url_guard_parse("ftp://example.com/", &o, &t), VP_E_FORBIDDEN);
    assert_int_equal(url_guard_parse("file:///etc/passwd", &o, &t), VP_E_FORBIDDEN);
    assert_int_equal(url_guard_parse("gopher://127.0.0.1:6379/_x", &o, &t), VP_E_FORBIDDEN);
    assert_int_equal(url_guard_parse("wss://example.com/s", &o, &t), VP_E_FORBIDDEN);
    assert_int_equal(url_guard_parse("wss://example.com/s", &ws, &t), 0);
    assert_int_equal(t.port, 443);
    assert_int_equal(url_guard_parse("ws://example.com/s", &ws, &t), 0);
    assert_int_equal(t.port, 80);
    const char *bad[] = {"",
                         "not a url",
                         "http://",
                         "http://a@b@c/",
                         "http://[fe80::1%25eth0]/",
                         "http://example.com:99999/",
                         "http://exa mple.com/",
                         NULL};
    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++)
        if (url_guard_parse(bad[i], &o, &t) != VP_E_INVALID_PARAMETER)
            fail_msg("accepted %s", bad[i] ? bad[i] : "NULL");
    char long_url[2100] = "http://example.com/";
    memset(long_url + strlen(long_url), 'a', sizeof(long_url) - 1 - strlen(long_url));
    long_url[sizeof(long_url) - 1] = '\0';
    assert_int_equal(url_guard_parse(long_url, &o, &t), VP_E_INVALID_PARAMETER);
}

/* ---- the asynchronous check ---- */

struct outcome {
    bool done;
    bool inside_call; /* set while url_guard_check() runs */
    bool ran_inside;
    int status;
    enum url_addr_class cls;
    char ip[64];
    char host[256];
    int port;
    char reason[400];
};

static void outcome_cb(const struct url_check_result *r, void *arg)
{
    struct outcome *o = arg;
    o->ran_inside = o->inside_call;
    o->done = true;
    o->status = r->status;
    o->cls = r->cls;
    snprintf(o->ip, sizeof(o->ip), "%s", r->ip ? r->ip : "");
    snprintf(o->host, sizeof(o->host), "%s", r->target->host);
    o->port = r->target->port;
    snprintf(o->reason, sizeof(o->reason), "%s", r->reason ? r->reason : "");
}

static void check_url(uv_loop_t *loop, const char *url, bool allow_private, struct outcome *o)
{
    memset(o, 0, sizeof(*o));
    const struct url_guard_opts opts = {.allow_private = allow_private};
    o->inside_call = true;
    assert_int_equal(url_guard_check(loop, url, &opts, outcome_cb, o, NULL), 0);
    o->inside_call = false;
    assert_true(vp_test_run_until(loop, &o->done, 5000));
    assert_false(o->ran_inside);
}

static void test_check_literals(void **state)
{
    (void)state;
    uv_loop_t loop;
    uv_loop_init(&loop);
    struct outcome o;
    check_url(&loop, "http://127.0.0.1:8080/hook", true, &o);
    assert_int_equal(o.status, 0);
    assert_string_equal(o.ip, "127.0.0.1");
    assert_int_equal(o.port, 8080);
    assert_int_equal(o.cls, URL_ADDR_LOOPBACK);

    check_url(&loop, "http://127.0.0.1:8080/hook", false, &o);
    assert_int_equal(o.status, VP_E_FORBIDDEN);
    assert_int_equal(o.cls, URL_ADDR_LOOPBACK);
    assert_string_equal(o.ip, "");
    assert_non_null(strstr(o.reason, "loopback"));

    check_url(&loop, "https://[::1]/x", false, &o);
    assert_int_equal(o.status, VP_E_FORBIDDEN);
    check_url(&loop, "https://[::1]/x", true, &o);
    assert_int_equal(o.status, 0);
    assert_string_equal(o.ip, "::1");

    check_url(&loop, "http://10.20.30.40/", false, &o);
    assert_int_equal(o.status, VP_E_FORBIDDEN);
    assert_int_equal(o.cls, URL_ADDR_PRIVATE);
    check_url(&loop, "http://169.254.169.254/latest/meta-data/", false, &o);
    assert_int_equal(o.cls, URL_ADDR_LINK_LOCAL);
    assert_int_equal(o.status, VP_E_FORBIDDEN);
    check_url(&loop, "http://[::ffff:7f00:1]/", false, &o);
    assert_int_equal(o.status, VP_E_FORBIDDEN);
    /* other spellings of 127.0.0.1 are read as the HTTP client will read them */
    const char *loopbacks[] = {"http://2130706433/", "http://0x7f.1/", "http://127.1:81/"};
    for (size_t i = 0; i < 3; i++) {
        check_url(&loop, loopbacks[i], false, &o);
        assert_int_equal(o.status, VP_E_FORBIDDEN);
        assert_int_equal(o.cls, URL_ADDR_LOOPBACK);
    }

    /* never allowed, even with the operator's switch */
    check_url(&loop, "http://0.0.0.0:80/", true, &o);
    assert_int_equal(o.status, VP_E_FORBIDDEN);
    assert_int_equal(o.cls, URL_ADDR_UNSPECIFIED);
    check_url(&loop, "http://224.0.0.1/", true, &o);
    assert_int_equal(o.status, VP_E_FORBIDDEN);
    check_url(&loop, "http://192.0.2.1/", true, &o);
    assert_int_equal(o.status, VP_E_FORBIDDEN);

    /* a public literal passes and comes back as the address to connect to (no packet) */
    check_url(&loop, "https://93.184.216.34/hook", false, &o);
    assert_int_equal(o.status, 0);
    assert_string_equal(o.ip, "93.184.216.34");
    assert_int_equal(o.cls, URL_ADDR_PUBLIC);
    vp_test_loop_done(&loop);
}

static bool hosts_file_has_localhost(void)
{
    FILE *f = fopen("/etc/hosts", "r");
    char line[512];
    bool found = false;
    while (f && !found && fgets(line, sizeof(line), f))
        found = line[0] != '#' && strstr(line, "127.0.0.1") && strstr(line, "localhost");
    if (f)
        fclose(f);
    return found;
}

/* A name: only "localhost", and only when /etc/hosts answers it (no DNS query). */
static void test_check_name(void **state)
{
    (void)state;
    if (!hosts_file_has_localhost())
        skip();
    uv_loop_t loop;
    uv_loop_init(&loop);
    struct outcome o;
    check_url(&loop, "http://localhost:1234/", false, &o);
    assert_int_equal(o.status, VP_E_FORBIDDEN);
    assert_string_equal(o.host, "localhost");
    check_url(&loop, "http://localhost:1234/", true, &o);
    assert_int_equal(o.status, 0);
    assert_true(strcmp(o.ip, "127.0.0.1") == 0 || strcmp(o.ip, "::1") == 0);
    vp_test_loop_done(&loop);
}

static void test_check_bad_url_and_cancel(void **state)
{
    (void)state;
    uv_loop_t loop;
    uv_loop_init(&loop);
    struct outcome o = {0};
    const struct url_guard_opts opts = {.allow_private = true};
    assert_int_equal(url_guard_check(&loop, "ftp://127.0.0.1/", &opts, outcome_cb, &o, NULL),
                     VP_E_FORBIDDEN);
    assert_int_equal(url_guard_check(&loop, "http://", &opts, outcome_cb, &o, NULL),
                     VP_E_INVALID_PARAMETER);
    struct url_check *c = NULL;
    assert_int_equal(url_guard_check(&loop, "http://127.0.0.1/", &opts, outcome_cb, &o, &c), 0);
    assert_non_null(c);
    url_guard_cancel(c);
    assert_false(o.done);
    assert_true(vp_test_run_until(&loop, &o.done, 5000));
    assert_int_equal(o.status, VP_E_CANCELED);
    assert_string_equal(o.ip, "");
    vp_test_loop_done(&loop);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_classify_literals),
        cmocka_unit_test(test_classify_not_an_address),
        cmocka_unit_test(test_classify_sockaddr),
        cmocka_unit_test(test_decide),
        cmocka_unit_test(test_parse),
        cmocka_unit_test(test_parse_refused),
        cmocka_unit_test(test_check_literals),
        cmocka_unit_test(test_check_name),
        cmocka_unit_test(test_check_bad_url_and_cancel),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
