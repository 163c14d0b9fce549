/* Addresses as text: what a socket or a lookup gave, for Via, logs and sending. */
#include "vp_test.h"

#include <string.h>

#include "sip_transport.h"
#include "voepy/err.h"

static void test_ipv4_and_ipv6_with_ports(void **state)
{
    (void)state;
    struct sockaddr_in a4;
    struct sockaddr_in6 a6;
    char ip[SIP_IP_MAX];
    int port = -1;
    assert_int_equal(uv_ip4_addr("127.0.0.1", 5060, &a4), 0);
    assert_int_equal(sip_addr_name((struct sockaddr *)&a4, ip, sizeof(ip), &port), 0);
    assert_string_equal(ip, "127.0.0.1");
    assert_int_equal(port, 5060);
    assert_int_equal(uv_ip6_addr("::1", 65535, &a6), 0);
    assert_int_equal(sip_addr_name((struct sockaddr *)&a6, ip, sizeof(ip), NULL), 0);
    assert_string_equal(ip, "::1");
}

static void test_other_family_is_refused(void **state)
{
    (void)state;
    struct sockaddr_storage ss;
    memset(&ss, 0, sizeof(ss));
    ss.ss_family = AF_UNIX;
    char ip[SIP_IP_MAX] = "stale";
    int port = 7;
    assert_int_equal(sip_addr_name((struct sockaddr *)&ss, ip, sizeof(ip), &port),
                     VP_E_INVALID_PARAMETER);
    assert_string_equal(ip, "");
    assert_int_equal(port, 0);
    assert_int_equal(sip_addr_name(NULL, ip, sizeof(ip), &port), VP_E_INVALID_PARAMETER);
}

/* A real lookup of the loopback name (no network: /etc/hosts), then a failed one. */
static void test_resolved_answers(void **state)
{
    (void)state;
    uv_loop_t loop;
    uv_loop_init(&loop);
    uv_getaddrinfo_t req;
    struct addrinfo hints = {.ai_family = AF_INET, .ai_socktype = SOCK_DGRAM};
    int rc = uv_getaddrinfo(&loop, &req, NULL, "localhost", NULL, &hints);
    char ip[SIP_IP_MAX];
    sip_addr_resolved(rc, req.addrinfo, ip, sizeof(ip));
    assert_string_equal(ip, "127.0.0.1");
    strcpy(ip, "stale");
    sip_addr_resolved(UV_EAI_NONAME, NULL, ip, sizeof(ip));
    assert_string_equal(ip, "");
    assert_int_equal(uv_loop_close(&loop), 0);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_ipv4_and_ipv6_with_ports),
        cmocka_unit_test(test_other_family_is_refused),
        cmocka_unit_test(test_resolved_answers),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
