/*
 * url_guard: the address classification (every range and its neighbours), the
 * operator's policy (allowed ranges and ports, its configuration errors), URL parsing and
 * host normalisation (odd spellings), and the asynchronous check on literals and on the
 * fake resolver's answers (no packet leaves the machine: the only real lookup is of a
 * name /etc/hosts answers).
 */
#include "vp_test.h"

#include "voepy/err.h"
#include "voepy/url_guard.h"

#include <arpa/inet.h>
#include <string.h>
#include <unistd.h>

struct class_case {
    const char *ip;
    enum url_addr_class cls;
};

/* Every range with a member and the neighbours just outside it. */
static const struct class_case class_cases[] = {
    {"8.8.8.8", URL_ADDR_PUBLIC},
    {"93.184.216.34", URL_ADDR_PUBLIC},
    {"1.1.1.1", URL_ADDR_PUBLIC},
    {"0.0.0.0", URL_ADDR_UNSPECIFIED},
    {"0.255.255.255", URL_ADDR_UNSPECIFIED},
    {"1.0.0.0", URL_ADDR_PUBLIC},
    {"9.255.255.255", URL_ADDR_PUBLIC},
    {"10.0.0.1", URL_ADDR_PRIVATE},
    {"10.255.255.255", URL_ADDR_PRIVATE},
    {"11.0.0.0", URL_ADDR_PUBLIC},
    {"100.63.255.255", URL_ADDR_PUBLIC},
    {"100.64.0.0", URL_ADDR_CGNAT},
    {"100.127.255.255", URL_ADDR_CGNAT},
    {"100.128.0.0", URL_ADDR_PUBLIC},
    {"126.255.255.255", URL_ADDR_PUBLIC},
    {"127.0.0.1", URL_ADDR_LOOPBACK},
    {"127.255.255.254", URL_ADDR_LOOPBACK},
    {"128.0.0.0", URL_ADDR_PUBLIC},
    {"169.253.255.255", URL_ADDR_PUBLIC},
    {"169.254.169.254", URL_ADDR_LINK_LOCAL},
    {"169.255.0.1", URL_ADDR_PUBLIC},
    {"172.15.255.255", URL_ADDR_PUBLIC},
    {"172.16.0.1", URL_ADDR_PRIVATE},
    {"172.31.255.255", URL_ADDR_PRIVATE},
    {"172.32.0.0", URL_ADDR_PUBLIC},
    {"191.255.255.255", URL_ADDR_PUBLIC},
    {"192.0.0.8", URL_ADDR_RESERVED},
    {"192.0.1.0", URL_ADDR_PUBLIC},
    {"192.0.2.10", URL_ADDR_RESERVED},
    {"192.0.3.0", URL_ADDR_PUBLIC},
    {"192.88.98.255", URL_ADDR_PUBLIC},
    {"192.88.99.1", URL_ADDR_RESERVED},
    {"192.88.100.0", URL_ADDR_PUBLIC},
    {"192.167.255.255", URL_ADDR_PUBLIC},
    {"192.168.1.1", URL_ADDR_PRIVATE},
    {"192.169.0.0", URL_ADDR_PUBLIC},
    {"198.17.255.255", URL_ADDR_PUBLIC},
    {"198.18.0.1", URL_ADDR_RESERVED},
    {"198.19.255.255", URL_ADDR_RESERVED},
    {"198.20.0.0", URL_ADDR_PUBLIC},
    {"198.51.99.255", URL_ADDR_PUBLIC},
    {"198.51.100.7", URL_ADDR_RESERVED},
    {"198.51.101.0", URL_ADDR_PUBLIC},
    {"203.0.112.255", URL_ADDR_PUBLIC},
    {"203.0.113.9", URL_ADDR_RESERVED},
    {"203.0.114.0", URL_ADDR_PUBLIC},
    {"223.255.255.255", URL_ADDR_PUBLIC},
    {"224.0.0.1", URL_ADDR_MULTICAST},
    {"239.255.255.250", URL_ADDR_MULTICAST},
    {"240.0.0.1", URL_ADDR_RESERVED},
    {"255.255.255.254", URL_ADDR_RESERVED},
    {"255.255.255.255", URL_ADDR_RESERVED}, /* broadcast */
    {"::", URL_ADDR_UNSPECIFIED},
    {"::1", URL_ADDR_LOOPBACK},
    {"::2", URL_ADDR_EMBEDDED},
    {"::127.0.0.1", URL_ADDR_EMBEDDED}, /* IPv4-compatible */
    {"::8.8.8.8", URL_ADDR_EMBEDDED},
    {"::1:0:0:1", URL_ADDR_RESERVED}, /* just past ::/96 */
    {"::ffff:127.0.0.1", URL_ADDR_EMBEDDED},
    {"::ffff:10.1.2.3", URL_ADDR_EMBEDDED},
    {"::ffff:169.254.169.254", URL_ADDR_EMBEDDED},
    {"::ffff:8.8.8.8", URL_ADDR_EMBEDDED}, /* as resolved: refused, whatever the IPv4 part */
    {"::fffe:7f00:1", URL_ADDR_RESERVED},  /* next to ::ffff:0:0/96 */
    {"::1:ffff:7f00:1", URL_ADDR_RESERVED},
    {"64:ff9b::7f00:1", URL_ADDR_EMBEDDED},
    {"64:ff9b::808:808", URL_ADDR_EMBEDDED},
    {"64:ff9b::1:0:0", URL_ADDR_RESERVED}, /* past 64:ff9b::/96 */
    {"64:ff9a:ffff::1", URL_ADDR_RESERVED},
    {"64:ff9b:1::1", URL_ADDR_EMBEDDED},
    {"64:ff9b:1:ffff::1", URL_ADDR_EMBEDDED},
    {"64:ff9b:2::1", URL_ADDR_RESERVED},
    {"100::1", URL_ADDR_RESERVED},
    {"1fff:ffff::1", URL_ADDR_RESERVED},
    {"2000::1", URL_ADDR_PUBLIC},
    {"2001::1", URL_ADDR_EMBEDDED}, /* Teredo */
    {"2001:0:ffff:ffff::1", URL_ADDR_EMBEDDED},
    {"2001:1::1", URL_ADDR_RESERVED},   /* past Teredo, still IETF assignments */
    {"2001:2::1", URL_ADDR_RESERVED},   /* benchmarking */
    {"2001:1ff::1", URL_ADDR_RESERVED}, /* end of 2001::/23 */
    {"2001:200::1", URL_ADDR_PUBLIC},
    {"2001:db7:ffff::1", URL_ADDR_PUBLIC},
    {"2001:db8::1", URL_ADDR_RESERVED},
    {"2001:db9::1", URL_ADDR_PUBLIC},
    {"2001:ffff::1", URL_ADDR_PUBLIC},
    {"2002::1", URL_ADDR_EMBEDDED}, /* 6to4 */
    {"2002:7f00:1::1", URL_ADDR_EMBEDDED},
    {"2002:808:808::1", URL_ADDR_EMBEDDED},
    {"2002:ffff:ffff::1", URL_ADDR_EMBEDDED},
    {"2003::1", URL_ADDR_PUBLIC},
    {"2606:4700:4700::1111", URL_ADDR_PUBLIC},
    {"2a00:1450:4001:82a::200e", URL_ADDR_PUBLIC},
    {"3ffe:ffff::1", URL_ADDR_PUBLIC},
    {"3fff::1", URL_ADDR_RESERVED},
    {"3fff:fff::1", URL_ADDR_RESERVED},
    {"3fff:1000::1", URL_ADDR_PUBLIC},
    {"4000::1", URL_ADDR_RESERVED},
    {"fbff::1", URL_ADDR_RESERVED},
    {"fc00::1", URL_ADDR_PRIVATE},
    {"fd12:3456::1", URL_ADDR_PRIVATE},
    {"fdff:ffff::1", URL_ADDR_PRIVATE},
    {"fe00::1", URL_ADDR_RESERVED},
    {"fe80::1", URL_ADDR_LINK_LOCAL},
    {"febf:ffff::1", URL_ADDR_LINK_LOCAL},
    {"fec0::1", URL_ADDR_PRIVATE},
    {"feff:ffff::1", URL_ADDR_PRIVATE},
    {"ff02::1", URL_ADDR_MULTICAST},
    {"ffff::1", URL_ADDR_MULTICAST},
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
    assert_int_equal(url_guard_classify((struct sockaddr *)&in6), URL_ADDR_EMBEDDED);
    assert_string_equal(url_addr_class_name(URL_ADDR_EMBEDDED), "ipv4-embedded");
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
                                         URL_ADDR_RESERVED, URL_ADDR_EMBEDDED};
    for (size_t i = 0; i < 4; i++) {
        assert_int_equal(url_guard_decide(never[i], false), VP_E_FORBIDDEN);
        assert_int_equal(url_guard_decide(never[i], true), VP_E_FORBIDDEN);
    }
}

/* ---- the policy ---- */

static struct url_policy *policy(bool allow_private, const char *cidrs, const char *ports)
{
    struct url_policy_config c = {
        .allow_private = allow_private, .allow_cidrs = (char *)cidrs, .allow_ports = (char *)ports};
    struct url_policy *p = NULL;
    char err[256] = "";
    if (url_policy_create(&p, &c, err, sizeof(err)))
        fail_msg("policy: %s", err);
    return p;
}

static int policy_error(const char *cidrs, const char *ports, const char *resolver, char *err)
{
    struct url_policy_config c = {.allow_cidrs = (char *)cidrs,
                                  .allow_ports = (char *)ports,
                                  .test_resolver = (char *)resolver};
    struct url_policy *p = NULL;
    int rc = url_policy_create(&p, &c, err, 256);
    if (rc == 0)
        url_policy_free(p);
    return rc;
}

static void test_policy_config_errors(void **state)
{
    (void)state;
    char err[256];
    const char *bad_cidrs[] = {"10.0.0.0/33", "10.0.0.1/8",   "banana",    "::1/129",
                               "10.0.0.0/",   "10.0.0.0/x",   "10.0.0/8",  "0x7f.0.0.1/32",
                               "fe80::1/10",  "10.0.0.0/8/8", "1.2.3.4/-1"};
    for (size_t i = 0; i < sizeof(bad_cidrs) / sizeof(bad_cidrs[0]); i++) {
        err[0] = '\0';
        if (policy_error(bad_cidrs[i], "", NULL, err) != VP_E_CONFIG)
            fail_msg("accepted VOEPY_URL_ALLOW_CIDRS=%s", bad_cidrs[i]);
        assert_non_null(strstr(err, "VOEPY_URL_ALLOW_CIDRS"));
    }
    const char *bad_ports[] = {"0", "65536", "80-70", "abc", "1-", "-5", "8080x", "**", "1 2"};
    for (size_t i = 0; i < sizeof(bad_ports) / sizeof(bad_ports[0]); i++) {
        err[0] = '\0';
        if (policy_error("", bad_ports[i], NULL, err) != VP_E_CONFIG)
            fail_msg("accepted VOEPY_URL_ALLOW_PORTS=%s", bad_ports[i]);
        assert_non_null(strstr(err, "VOEPY_URL_ALLOW_PORTS"));
    }
    assert_int_equal(policy_error("", "", "/nonexistent/voepy-resolver", err), VP_E_CONFIG);
    assert_non_null(strstr(err, "VOEPY_URL_TEST_RESOLVER"));
    /* good values, with spaces and empty items */
    assert_int_equal(
        policy_error(" 127.0.0.2/32, ::1/128,,10.1.0.0/16 ,8.8.8.8", "8080, 9000-9100,", NULL, err),
        0);
    struct url_policy *p = policy(false, "", "");
    assert_int_equal(url_policy_add_answers(p, "name-only", err, 256), VP_E_CONFIG);
    assert_int_equal(url_policy_add_answers(p, "x.test 1.2.3.4,bogus", err, 256), VP_E_CONFIG);
    assert_non_null(strstr(err, "bogus"));
    assert_int_equal(url_policy_add_answers(p, "x.test 0x7f.1", err, 256), VP_E_CONFIG);
    assert_int_equal(url_policy_add_answers(p, "x.test 1.2.3.4", err, 256), 0);
    assert_int_equal(url_policy_add_answers(p, "X.TEST. 1.2.3.5", err, 256), VP_E_CONFIG);
    assert_non_null(strstr(err, "twice"));
    url_policy_free(p);
    url_policy_free(NULL);
}

static void test_policy_ports(void **state)
{
    (void)state;
    struct url_policy *none = policy(false, "", ""), *some = policy(false, "", "8080,9000-9100");
    struct url_policy *any = policy(false, "", "*");
    const int always[] = {80, 443};
    for (size_t i = 0; i < 2; i++) {
        assert_true(url_policy_port_allowed(NULL, always[i]));
        assert_true(url_policy_port_allowed(none, always[i]));
    }
    const int probes[] = {22, 81, 444, 6379, 8079, 8080, 8081, 8999, 9000, 9050, 9100, 9101, 65535};
    const bool in_some[] = {0, 0, 0, 0, 0, 1, 0, 0, 1, 1, 1, 0, 0};
    for (size_t i = 0; i < sizeof(probes) / sizeof(probes[0]); i++) {
        assert_false(url_policy_port_allowed(NULL, probes[i]));
        assert_false(url_policy_port_allowed(none, probes[i]));
        if (url_policy_port_allowed(some, probes[i]) != in_some[i])
            fail_msg("port %d", probes[i]);
        assert_true(url_policy_port_allowed(any, probes[i]));
    }
    url_policy_free(none);
    url_policy_free(some);
    url_policy_free(any);
}

static int judge_ip(const struct url_policy *p, const char *ip)
{
    struct sockaddr_storage ss = {0};
    struct sockaddr_in *in = (struct sockaddr_in *)&ss;
    struct sockaddr_in6 *in6 = (struct sockaddr_in6 *)&ss;
    if (inet_pton(AF_INET, ip, &in->sin_addr) == 1)
        in->sin_family = AF_INET;
    else if (inet_pton(AF_INET6, ip, &in6->sin6_addr) == 1)
        in6->sin6_family = AF_INET6;
    else
        fail_msg("not an address: %s", ip);
    enum url_addr_class cls;
    return url_policy_judge(p, (struct sockaddr *)&ss, &cls);
}

static void test_policy_judge(void **state)
{
    (void)state;
    struct url_policy *strict = policy(false, "", "");
    struct url_policy *priv = policy(true, "", "");
    struct url_policy *listed =
        policy(false, "127.0.0.2/32,10.1.0.0/16,64:ff9b::/96,224.0.0.0/24,fd00::/8", "");
    const struct {
        const char *ip;
        int strict, priv, listed;
    } cases[] = {
        {"8.8.8.8", 0, 0, 0},
        {"127.0.0.1", VP_E_FORBIDDEN, 0, VP_E_FORBIDDEN},
        {"127.0.0.2", VP_E_FORBIDDEN, 0, 0},
        {"127.0.0.3", VP_E_FORBIDDEN, 0, VP_E_FORBIDDEN},
        {"10.1.255.255", VP_E_FORBIDDEN, 0, 0},
        {"10.2.0.0", VP_E_FORBIDDEN, 0, VP_E_FORBIDDEN},
        {"10.0.255.255", VP_E_FORBIDDEN, 0, VP_E_FORBIDDEN},
        {"169.254.169.254", VP_E_FORBIDDEN, 0, VP_E_FORBIDDEN},
        {"100.64.0.1", VP_E_FORBIDDEN, 0, VP_E_FORBIDDEN},
        {"224.0.0.5", VP_E_FORBIDDEN, VP_E_FORBIDDEN, 0}, /* listed: whatever the class */
        {"224.0.1.5", VP_E_FORBIDDEN, VP_E_FORBIDDEN, VP_E_FORBIDDEN},
        {"0.0.0.0", VP_E_FORBIDDEN, VP_E_FORBIDDEN, VP_E_FORBIDDEN},
        {"192.0.2.1", VP_E_FORBIDDEN, VP_E_FORBIDDEN, VP_E_FORBIDDEN},
        {"::1", VP_E_FORBIDDEN, 0, VP_E_FORBIDDEN},
        {"fd00::5", VP_E_FORBIDDEN, 0, 0},
        {"fc00::5", VP_E_FORBIDDEN, 0, VP_E_FORBIDDEN},
        /* IPv4-embedding IPv6: never by class; an IPv4 range never matches them */
        {"::ffff:127.0.0.2", VP_E_FORBIDDEN, VP_E_FORBIDDEN, VP_E_FORBIDDEN},
        {"::127.0.0.2", VP_E_FORBIDDEN, VP_E_FORBIDDEN, VP_E_FORBIDDEN},
        {"2002:a01:1::1", VP_E_FORBIDDEN, VP_E_FORBIDDEN, VP_E_FORBIDDEN},
        {"2001::a01:1", VP_E_FORBIDDEN, VP_E_FORBIDDEN, VP_E_FORBIDDEN},
        {"64:ff9b:1::a01:1", VP_E_FORBIDDEN, VP_E_FORBIDDEN, VP_E_FORBIDDEN},
        {"64:ff9b::a01:1", VP_E_FORBIDDEN, VP_E_FORBIDDEN, 0}, /* its IPv6 range is listed */
        {"64:ff9b::7f00:1", VP_E_FORBIDDEN, VP_E_FORBIDDEN, 0},
    };
    for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        int s = judge_ip(strict, cases[i].ip), p = judge_ip(priv, cases[i].ip);
        int l = judge_ip(listed, cases[i].ip);
        if (s != cases[i].strict || p != cases[i].priv || l != cases[i].listed)
            fail_msg("%s: strict %d private %d listed %d", cases[i].ip, s, p, l);
        assert_int_equal(judge_ip(NULL, cases[i].ip), cases[i].strict);
    }
    url_policy_free(strict);
    url_policy_free(priv);
    url_policy_free(listed);
}

/* ---- parsing and normalisation ---- */

static void test_parse(void **state)
{
    (void)state;
    struct url_target t;
    const struct url_guard_opts o = {0};
    assert_int_equal(url_guard_parse("https://hooks.example.com/x?y=1", &o, &t), 0);
    assert_string_equal(t.scheme, "https");
    assert_string_equal(t.host, "hooks.example.com");
    assert_int_equal(t.port, 443);
    assert_false(t.literal);
    assert_int_equal(url_guard_parse("HTTP://user:pw@127.0.0.1:8080/h", &o, &t), 0);
    assert_string_equal(t.scheme, "http");
    assert_string_equal(t.host, "127.0.0.1");
    assert_int_equal(t.port, 8080);
    assert_true(t.literal);
    assert_int_equal(url_guard_parse("http://[::1]:9/h", &o, &t), 0);
    assert_string_equal(t.host, "::1");
    assert_int_equal(t.port, 9);
    assert_int_equal(url_guard_parse("http://example.com", NULL, &t), 0);
    assert_int_equal(t.port, 80);
    assert_int_equal(url_guard_parse("http://example.com:0080/", NULL, &t), 0);
    assert_int_equal(t.port, 80);
}

/* Odd spellings: what each URL's host becomes before it is judged. */
static const struct {
    const char *url;
    const char *host;
    bool literal;
} spellings[] = {
    {"http://2130706433/", "127.0.0.1", true},
    {"http://0177.0.0.1/", "127.0.0.1", true},
    {"http://0x7f.1/", "127.0.0.1", true},
    {"http://0x7F.0.0.1/", "127.0.0.1", true},
    {"http://127.1/", "127.0.0.1", true},
    {"http://127.0.1/", "127.0.0.1", true},
    {"http://00000177.0.0.01/", "127.0.0.1", true},
    {"http://0/", "0.0.0.0", true},
    {"http://127.0.0.1./", "127.0.0.1", true},
    {"http://%31%32%37.0.0.1/", "127.0.0.1", true},
    {"http://0xa9.0xfe.0xa9.0xfe/", "169.254.169.254", true},
    {"http://2852039166/", "169.254.169.254", true},
    {"http://[::ffff:127.0.0.1]/", "127.0.0.1", true},
    {"http://[::FFFF:7F00:1]/", "127.0.0.1", true},
    {"http://[0:0:0:0:0:ffff:a9fe:a9fe]/", "169.254.169.254", true},
    {"http://[0:0:0:0:0:0:0:1]/", "::1", true},
    {"http://[2001:DB8:0::1]/", "2001:db8::1", true},
    {"http://[::127.0.0.1]/", "::127.0.0.1", true},
    {"http://[64:FF9B::7F00:1]/", "64:ff9b::7f00:1", true},
    {"http://EXAMPLE.Com./x", "example.com", false},
    {"http://LocalHost/", "localhost", false},
    {"http://exa%6dple.com/", "example.com", false},
    {"http://my_host.example/", "my_host.example", false},
    {"http://example.0x1g/", "example.0x1g", false},
};

static void test_parse_spellings(void **state)
{
    (void)state;
    struct url_target t;
    for (size_t i = 0; i < sizeof(spellings) / sizeof(spellings[0]); i++) {
        int rc = url_guard_parse(spellings[i].url, NULL, &t);
        if (rc || strcmp(t.host, spellings[i].host) != 0 || t.literal != spellings[i].literal)
            fail_msg("%s: rc %d host \"%s\" literal %d", spellings[i].url, rc, t.host, t.literal);
    }
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
    const char *bad[] = {"", "not a url", "http://", "http://a@b@c/", "http://[fe80::1%25eth0]/",
                         "http://example.com:99999/", "http://exa mple.com/",
                         /* ends in a number but is no address: a resolver might guess */
                         "http://127.0.0.256/", "http://1.2.3.4.5/", "http://4294967296/",
                         "http://0x100000000/", "http://1.2.3.08/", "http://0x/",
                         "http://example.123/",
                         /* not ASCII, empty labels, two trailing dots */
                         "http://\xef\xbc\x91\xef\xbc\x92\xef\xbc\x97.0.0.1/",
                         "http://b\xc3\xbc"
                         "cher.example/",
                         "http://a..b/", "http://example.com../", "http://exa%00mple.com/", NULL};
    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++)
        if (url_guard_parse(bad[i], &o, &t) != VP_E_INVALID_PARAMETER)
            fail_msg("accepted %s", bad[i] ? bad[i] : "NULL");
    char long_url[2100] = "http://example.com/";
    memset(long_url + strlen(long_url), 'a', sizeof(long_url) - 1 - strlen(long_url));
    long_url[sizeof(long_url) - 1] = '\0';
    assert_int_equal(url_guard_parse(long_url, &o, &t), VP_E_INVALID_PARAMETER);
}

static void expect_vet(struct url_policy *p, const char *url, int rc, const char *words)
{
    struct url_guard_opts o = {.policy = p};
    struct url_target t;
    char reason[256] = "";
    int got = url_guard_vet(url, &o, &t, reason, sizeof(reason));
    if (got != rc || (words && !strstr(reason, words)))
        fail_msg("%s: rc %d (want %d) reason \"%s\" (want \"%s\")", url, got, rc, reason,
                 words ? words : "");
}

static void test_vet(void **state)
{
    (void)state;
    struct url_policy *strict = policy(false, "", "");
    struct url_policy *dev = policy(true, "", "8080");
    struct url_policy *listed = policy(false, "127.0.0.2/32,64:ff9b::/96", "1024-65535");
    expect_vet(strict, "https://example.com/h", 0, NULL);
    expect_vet(strict, "http://example.com:80/h", 0, NULL);
    expect_vet(strict, "https://example.com:8443/h", VP_E_FORBIDDEN, "port 8443");
    expect_vet(NULL, "https://example.com:22/h", VP_E_FORBIDDEN, "port 22");
    expect_vet(dev, "http://example.com:8080/h", 0, NULL);
    expect_vet(dev, "http://example.com:8081/h", VP_E_FORBIDDEN, "port 8081");
    expect_vet(listed, "http://example.com:8081/h", 0, NULL);
    expect_vet(listed, "http://example.com:1023/h", VP_E_FORBIDDEN, "port 1023");
    expect_vet(strict, "ftp://example.com/", VP_E_FORBIDDEN, "scheme ftp");
    expect_vet(strict, "http://1.2.3.4.5/", VP_E_INVALID_PARAMETER, "host");
    expect_vet(strict, "http://", VP_E_INVALID_PARAMETER, NULL);
    /* every spelling of the loopback is the loopback */
    for (size_t i = 0; i < sizeof(spellings) / sizeof(spellings[0]); i++) {
        if (strcmp(spellings[i].host, "127.0.0.1") == 0) {
            expect_vet(strict, spellings[i].url, VP_E_FORBIDDEN, "127.0.0.1 is a loopback address");
            expect_vet(dev, spellings[i].url, 0, NULL);
        }
    }
    expect_vet(strict, "http://localhost/", VP_E_FORBIDDEN, "localhost is a loopback name");
    expect_vet(strict, "http://api.LOCALHOST./", VP_E_FORBIDDEN, "loopback name");
    expect_vet(dev, "http://localhost/", 0, NULL);
    expect_vet(strict, "http://notlocalhost/", 0, NULL);
    expect_vet(strict, "http://0/", VP_E_FORBIDDEN, "an unspecified address");
    expect_vet(dev, "http://0x0.0/", VP_E_FORBIDDEN, "unspecified");
    expect_vet(strict, "http://2852039166/latest", VP_E_FORBIDDEN,
               "169.254.169.254 is a link-local");
    expect_vet(strict, "http://[::1]/", VP_E_FORBIDDEN, "::1 is a loopback");
    expect_vet(dev, "http://[::1]/", 0, NULL);
    expect_vet(dev, "http://[::127.0.0.1]/", VP_E_FORBIDDEN, "an ipv4-embedded address");
    expect_vet(dev, "http://[64:ff9b::7f00:1]/", VP_E_FORBIDDEN, "ipv4-embedded");
    expect_vet(dev, "http://[2002:7f00:1::1]/", VP_E_FORBIDDEN, "ipv4-embedded");
    expect_vet(dev, "http://[2001::7f00:1]/", VP_E_FORBIDDEN, "ipv4-embedded");
    expect_vet(dev, "http://[::ffff:8.8.8.8]/", 0, NULL); /* a mapped literal is its IPv4 */
    expect_vet(strict, "http://[::ffff:10.0.0.1]/", VP_E_FORBIDDEN, "10.0.0.1 is a private");
    /* the allow-list: exactly the listed range, in the listed family */
    expect_vet(listed, "http://127.0.0.2:5000/", 0, NULL);
    expect_vet(listed, "http://[::ffff:127.0.0.2]:5000/", 0, NULL);
    expect_vet(listed, "http://2130706434:5000/", 0, NULL);
    expect_vet(listed, "http://127.0.0.1:5000/", VP_E_FORBIDDEN, "loopback");
    expect_vet(listed, "http://[::127.0.0.2]:5000/", VP_E_FORBIDDEN, "ipv4-embedded");
    expect_vet(listed, "http://[64:ff9b::7f00:1]:5000/", 0, NULL);
    expect_vet(listed, "http://localhost:5000/", VP_E_FORBIDDEN, "loopback name");
    url_policy_free(strict);
    url_policy_free(dev);
    url_policy_free(listed);
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
    if (r->status == 0)
        assert_non_null(r->ip);
    else
        assert_true(r->ip == NULL && r->reason && *r->reason);
}

static void check_url(uv_loop_t *loop, const char *url, struct url_policy *p, struct outcome *o)
{
    memset(o, 0, sizeof(*o));
    const struct url_guard_opts opts = {.policy = p};
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
    struct url_policy *dev = policy(true, "", "1024-65535"), *strict = policy(false, "", "");
    struct outcome o;
    check_url(&loop, "http://127.0.0.1:8080/hook", dev, &o);
    assert_int_equal(o.status, 0);
    assert_string_equal(o.ip, "127.0.0.1");
    assert_int_equal(o.port, 8080);
    assert_int_equal(o.cls, URL_ADDR_LOOPBACK);

    check_url(&loop, "http://127.0.0.1:8080/hook", strict, &o);
    assert_int_equal(o.status, VP_E_FORBIDDEN);
    assert_non_null(strstr(o.reason, "port 8080"));
    check_url(&loop, "http://127.0.0.1/hook", strict, &o);
    assert_int_equal(o.status, VP_E_FORBIDDEN);
    assert_int_equal(o.cls, URL_ADDR_LOOPBACK);
    assert_string_equal(o.ip, "");
    assert_non_null(strstr(o.reason, "loopback"));

    check_url(&loop, "https://[::1]/x", strict, &o);
    assert_int_equal(o.status, VP_E_FORBIDDEN);
    check_url(&loop, "https://[::1]/x", dev, &o);
    assert_int_equal(o.status, 0);
    assert_string_equal(o.ip, "::1");

    check_url(&loop, "http://10.20.30.40/", strict, &o);
    assert_int_equal(o.status, VP_E_FORBIDDEN);
    assert_int_equal(o.cls, URL_ADDR_PRIVATE);
    check_url(&loop, "http://169.254.169.254/latest/meta-data/", strict, &o);
    assert_int_equal(o.cls, URL_ADDR_LINK_LOCAL);
    assert_int_equal(o.status, VP_E_FORBIDDEN);
    /* a mapped literal connects over IPv4 to the address it carries */
    check_url(&loop, "http://[::ffff:7f00:1]:2000/", dev, &o);
    assert_int_equal(o.status, 0);
    assert_string_equal(o.ip, "127.0.0.1");
    assert_string_equal(o.host, "127.0.0.1");
    const char *loopbacks[] = {
        "http://2130706433/",         "http://0x7f.1/",   "http://127.1/", "http://0177.0.0.1/",
        "http://[::ffff:127.0.0.1]/", "http://localhost/"};
    for (size_t i = 0; i < sizeof(loopbacks) / sizeof(loopbacks[0]); i++) {
        check_url(&loop, loopbacks[i], strict, &o);
        assert_int_equal(o.status, VP_E_FORBIDDEN);
        assert_int_equal(o.cls, URL_ADDR_LOOPBACK);
        check_url(&loop, loopbacks[i], dev, &o);
        assert_int_equal(o.status, 0);
        assert_string_equal(o.ip, "127.0.0.1");
    }

    /* never allowed, even with the operator's switch */
    check_url(&loop, "http://0.0.0.0:80/", dev, &o);
    assert_int_equal(o.status, VP_E_FORBIDDEN);
    assert_int_equal(o.cls, URL_ADDR_UNSPECIFIED);
    check_url(&loop, "http://224.0.0.1/", dev, &o);
    assert_int_equal(o.status, VP_E_FORBIDDEN);
    check_url(&loop, "http://192.0.2.1/", dev, &o);
    assert_int_equal(o.status, VP_E_FORBIDDEN);
    check_url(&loop, "http://[64:ff9b::a9fe:a9fe]/", dev, &o);
    assert_int_equal(o.status, VP_E_FORBIDDEN);
    assert_int_equal(o.cls, URL_ADDR_EMBEDDED);

    /* malformed and refused URLs come through the callback too, with a reason */
    check_url(&loop, "ftp://127.0.0.1/", dev, &o);
    assert_int_equal(o.status, VP_E_FORBIDDEN);
    assert_non_null(strstr(o.reason, "scheme ftp"));
    check_url(&loop, "http://", dev, &o);
    assert_int_equal(o.status, VP_E_INVALID_PARAMETER);
    check_url(&loop, "http://127.0.0.256/", dev, &o);
    assert_int_equal(o.status, VP_E_INVALID_PARAMETER);

    /* a public literal passes and comes back as the address to connect to (no packet) */
    check_url(&loop, "https://93.184.216.34/hook", strict, &o);
    assert_int_equal(o.status, 0);
    assert_string_equal(o.ip, "93.184.216.34");
    assert_int_equal(o.cls, URL_ADDR_PUBLIC);
    url_policy_free(dev);
    url_policy_free(strict);
    vp_test_loop_done(&loop);
}

/* The fake resolver: sequences, mixed answers, names it does not know. */
static void test_check_fake_resolver(void **state)
{
    (void)state;
    uv_loop_t loop;
    uv_loop_init(&loop);
    struct url_policy *p = policy(false, "127.0.0.2/32", "1024-65535");
    char err[256];
    const char *lines[] = {
        "rebind.test 93.184.216.34 127.0.0.1",
        "pinned.test 127.0.0.2 127.0.0.1",
        "mixed.test 127.0.0.2,127.0.0.1",
        "v6.test 2606:4700::1111,64:ff9b::7f00:1",
        "Upper.TEST. 8.8.8.8",
        "meta.test 169.254.169.254",
        "multi.test 8.8.8.8,2606:4700::1111",
        "allowed6.test ::1",
    };
    for (size_t i = 0; i < sizeof(lines) / sizeof(lines[0]); i++)
        if (url_policy_add_answers(p, lines[i], err, sizeof(err)))
            fail_msg("%s: %s", lines[i], err);
    struct outcome o;
    /* a public answer, then the loopback: one lookup per check, the first answer pinned */
    check_url(&loop, "https://rebind.test/h", p, &o);
    assert_int_equal(o.status, 0);
    assert_string_equal(o.ip, "93.184.216.34");
    check_url(&loop, "https://rebind.test/h", p, &o);
    assert_int_equal(o.status, VP_E_FORBIDDEN);
    assert_string_equal(o.reason, "rebind.test resolves to 127.0.0.1, a loopback address");
    check_url(&loop, "https://rebind.test/h", p, &o); /* the last answer repeats */
    assert_int_equal(o.status, VP_E_FORBIDDEN);

    check_url(&loop, "http://pinned.test:5000/h", p, &o);
    assert_int_equal(o.status, 0);
    assert_string_equal(o.ip, "127.0.0.2");
    assert_int_equal(o.cls, URL_ADDR_LOOPBACK);
    check_url(&loop, "http://pinned.test:5000/h", p, &o);
    assert_int_equal(o.status, VP_E_FORBIDDEN);

    /* an allowed and a refused address at once: refused */
    check_url(&loop, "http://mixed.test:5000/h", p, &o);
    assert_int_equal(o.status, VP_E_FORBIDDEN);
    assert_non_null(strstr(o.reason, "127.0.0.1, a loopback"));
    check_url(&loop, "https://v6.test/", p, &o);
    assert_int_equal(o.status, VP_E_FORBIDDEN);
    assert_int_equal(o.cls, URL_ADDR_EMBEDDED);
    check_url(&loop, "https://meta.test/", p, &o);
    assert_int_equal(o.cls, URL_ADDR_LINK_LOCAL);
    assert_int_equal(o.status, VP_E_FORBIDDEN);
    check_url(&loop, "https://allowed6.test/", p, &o);
    assert_int_equal(o.status, VP_E_FORBIDDEN);

    check_url(&loop, "https://upper.test./", p, &o);
    assert_int_equal(o.status, 0);
    assert_string_equal(o.ip, "8.8.8.8");
    check_url(&loop, "https://multi.test/", p, &o);
    assert_int_equal(o.status, 0);
    assert_string_equal(o.ip, "8.8.8.8");

    /* names the file does not list do not resolve (and nothing asks the real DNS) */
    check_url(&loop, "https://example.com/", p, &o);
    assert_int_equal(o.status, VP_E_IO);
    assert_non_null(strstr(o.reason, "cannot resolve example.com"));
    /* literals and the port policy come before any lookup */
    check_url(&loop, "https://rebind.test:22/", p, &o);
    assert_int_equal(o.status, VP_E_FORBIDDEN);
    assert_non_null(strstr(o.reason, "port 22"));
    check_url(&loop, "http://127.0.0.2:5000/", p, &o);
    assert_int_equal(o.status, 0);
    url_policy_free(p);
    vp_test_loop_done(&loop);
}

/* The same answers from a VOEPY_URL_TEST_RESOLVER file. */
static void test_check_resolver_file(void **state)
{
    (void)state;
    char path[] = "/tmp/voepy-url-resolver-XXXXXX";
    int fd = mkstemp(path);
    assert_true(fd >= 0);
    const char text[] = "# fake answers\n\n  first.test 8.8.4.4  10.0.0.1\r\n"
                        "both.test 8.8.4.4,10.0.0.1\n";
    assert_int_equal(write(fd, text, sizeof(text) - 1), (ssize_t)(sizeof(text) - 1));
    close(fd);
    struct url_policy_config c = {.allow_cidrs = (char *)"", .test_resolver = path};
    struct url_policy *p = NULL;
    char err[256] = "";
    int rc = url_policy_create(&p, &c, err, sizeof(err));
    unlink(path);
    if (rc)
        fail_msg("%s", err);
    uv_loop_t loop;
    uv_loop_init(&loop);
    struct outcome o;
    check_url(&loop, "https://first.test/", p, &o);
    assert_int_equal(o.status, 0);
    assert_string_equal(o.ip, "8.8.4.4");
    check_url(&loop, "https://first.test/", p, &o);
    assert_int_equal(o.status, VP_E_FORBIDDEN);
    assert_int_equal(o.cls, URL_ADDR_PRIVATE);
    check_url(&loop, "https://both.test/", p, &o);
    assert_int_equal(o.status, VP_E_FORBIDDEN);
    check_url(&loop, "https://localhost/", p, &o);
    assert_int_equal(o.status, VP_E_FORBIDDEN);
    assert_int_equal(o.cls, URL_ADDR_LOOPBACK);
    url_policy_free(p);
    vp_test_loop_done(&loop);
}

/* A name /etc/hosts answers with a 127.x address, other than localhost (no DNS query). */
static bool hosts_file_name(char *name, size_t len)
{
    FILE *f = fopen("/etc/hosts", "r");
    char line[512], addr[64], host[256];
    bool found = false;
    while (f && !found && fgets(line, sizeof(line), f))
        found = line[0] != '#' && sscanf(line, "%63s %255s", addr, host) == 2 &&
                strncmp(addr, "127.", 4) == 0 && strcmp(host, "localhost") != 0 &&
                !strchr(host, '.') && snprintf(name, len, "%s", host) > 0;
    if (f)
        fclose(f);
    return found;
}

/* The system resolver's path (uv_getaddrinfo). */
static void test_check_system_resolver(void **state)
{
    (void)state;
    char name[256], url[300];
    if (!hosts_file_name(name, sizeof(name)))
        skip();
    snprintf(url, sizeof(url), "http://%s:1234/", name);
    uv_loop_t loop;
    uv_loop_init(&loop);
    struct url_policy *dev = policy(true, "", "*"), *strict = policy(false, "", "*");
    struct outcome o;
    check_url(&loop, url, strict, &o);
    assert_int_equal(o.status, VP_E_FORBIDDEN);
    assert_non_null(strstr(o.reason, "a loopback address"));
    check_url(&loop, url, dev, &o);
    assert_int_equal(o.status, 0);
    assert_int_equal(strncmp(o.ip, "127.", 4), 0);
    url_policy_free(dev);
    url_policy_free(strict);
    vp_test_loop_done(&loop);
}

static void test_check_cancel(void **state)
{
    (void)state;
    uv_loop_t loop;
    uv_loop_init(&loop);
    struct url_policy *p = policy(true, "", "");
    char err[256];
    assert_int_equal(url_policy_add_answers(p, "name.test 8.8.8.8", err, sizeof(err)), 0);
    const struct url_guard_opts opts = {.policy = p};
    const char *urls[] = {"http://127.0.0.1/", "http://name.test/", "ftp://x/"};
    for (size_t i = 0; i < 3; i++) {
        struct outcome o = {0};
        struct url_check *c = NULL;
        assert_int_equal(url_guard_check(&loop, urls[i], &opts, outcome_cb, &o, &c), 0);
        assert_non_null(c);
        url_guard_cancel(c);
        assert_false(o.done);
        assert_true(vp_test_run_until(&loop, &o.done, 5000));
        assert_int_equal(o.status, VP_E_CANCELED);
        assert_string_equal(o.ip, "");
    }
    url_policy_free(p);
    vp_test_loop_done(&loop);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_classify_literals),
        cmocka_unit_test(test_classify_not_an_address),
        cmocka_unit_test(test_classify_sockaddr),
        cmocka_unit_test(test_decide),
        cmocka_unit_test(test_policy_config_errors),
        cmocka_unit_test(test_policy_ports),
        cmocka_unit_test(test_policy_judge),
        cmocka_unit_test(test_parse),
        cmocka_unit_test(test_parse_spellings),
        cmocka_unit_test(test_parse_refused),
        cmocka_unit_test(test_vet),
        cmocka_unit_test(test_check_literals),
        cmocka_unit_test(test_check_fake_resolver),
        cmocka_unit_test(test_check_resolver_file),
        cmocka_unit_test(test_check_system_resolver),
        cmocka_unit_test(test_check_cancel),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
