/* port_pool: even/odd pairs, LRU reuse, skipping ports the OS refuses, bad releases. */
#include "vp_test.h"

#include <arpa/inet.h>
#include <netinet/in.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "port_pool.h"
#include "udp_pair.h"
#include "voepy/err.h"

static int accept_cb(uint16_t port, void *arg)
{
    unsigned *calls = arg;
    if (calls)
        (*calls)++;
    return 0;
}

static void test_ranges(void **state)
{
    (void)state;
    struct port_pool *p = NULL;
    assert_int_equal(port_pool_create(&p, 20010, 20000), VP_E_CONFIG);
    assert_int_equal(port_pool_create(&p, 20001, 20001), VP_E_CONFIG);
    assert_int_equal(port_pool_create(&p, 20001, 20002), VP_E_CONFIG); /* 20002 needs 20003 */
    assert_int_equal(port_pool_create(&p, 0, 10), VP_E_CONFIG);
    assert_int_equal(port_pool_create(&p, 65534, 65536), VP_E_CONFIG);
    assert_null(p);

    assert_int_equal(port_pool_create(&p, 20000, 20009), 0);
    assert_int_equal(port_pool_capacity(p), 5);
    port_pool_destroy(p);
    /* An odd minimum starts at the next even port; an even maximum has no RTCP port. */
    assert_int_equal(port_pool_create(&p, 20001, 20010), 0);
    assert_int_equal(port_pool_capacity(p), 4);
    uint16_t port;
    assert_int_equal(port_pool_acquire(p, accept_cb, NULL, &port), 0);
    assert_int_equal(port, 20002);
    port_pool_destroy(p);
    assert_int_equal(port_pool_create(&p, 65534, 65535), 0);
    assert_int_equal(port_pool_capacity(p), 1);
    port_pool_destroy(p);
}

static void test_acquire_all_then_exhausted(void **state)
{
    (void)state;
    struct port_pool *p;
    assert_int_equal(port_pool_create(&p, 30000, 30007), 0);
    uint16_t got[4];
    for (int i = 0; i < 4; i++) {
        assert_int_equal(port_pool_acquire(p, accept_cb, NULL, &got[i]), 0);
        assert_int_equal(got[i] % 2, 0);
        assert_in_range(got[i], 30000, 30006);
        for (int k = 0; k < i; k++)
            assert_int_not_equal(got[i], got[k]);
        assert_int_equal(port_pool_free_count(p), 3 - (size_t)i);
    }
    unsigned calls = 0;
    uint16_t port = 1;
    assert_int_equal(port_pool_acquire(p, accept_cb, &calls, &port), VP_E_UNAVAILABLE);
    assert_int_equal(calls, 0);
    assert_int_equal(port, 1);
    port_pool_destroy(p);
}

static void test_release_is_lru(void **state)
{
    (void)state;
    struct port_pool *p;
    assert_int_equal(port_pool_create(&p, 30000, 30005), 0); /* 3 pairs */
    uint16_t a, b, c, x;
    port_pool_acquire(p, accept_cb, NULL, &a);
    port_pool_acquire(p, accept_cb, NULL, &b);
    port_pool_acquire(p, accept_cb, NULL, &c);
    assert_int_equal(port_pool_release(p, b), 0);
    assert_int_equal(port_pool_release(p, a), 0);
    /* Least recently released first: b, then a. */
    assert_int_equal(port_pool_acquire(p, accept_cb, NULL, &x), 0);
    assert_int_equal(x, b);
    assert_int_equal(port_pool_acquire(p, accept_cb, NULL, &x), 0);
    assert_int_equal(x, a);
    port_pool_destroy(p);
}

static void test_bad_releases(void **state)
{
    (void)state;
    struct port_pool *p;
    assert_int_equal(port_pool_create(&p, 30000, 30005), 0);
    uint16_t a;
    port_pool_acquire(p, accept_cb, NULL, &a);
    assert_int_equal(port_pool_release(p, (uint16_t)(a + 1)), VP_E_INVALID_PARAMETER);
    assert_int_equal(port_pool_release(p, 29998), VP_E_INVALID_PARAMETER);
    assert_int_equal(port_pool_release(p, 30006), VP_E_INVALID_PARAMETER);
    assert_int_equal(port_pool_release(p, 65534), VP_E_INVALID_PARAMETER);
    uint16_t never = a == 30000 ? 30002 : 30000;
    assert_int_equal(port_pool_release(p, never), VP_E_INVALID_PARAMETER);
    assert_int_equal(port_pool_free_count(p), 2);
    assert_int_equal(port_pool_release(p, a), 0);
    assert_int_equal(port_pool_release(p, a), VP_E_INVALID_PARAMETER); /* double release */
    assert_int_equal(port_pool_free_count(p), 3);
    port_pool_destroy(p);
}

/* A try function that reports chosen ports as busy and counts calls. */
struct busy {
    uint16_t busy[4];
    int nbusy;
    int result; /* returned for busy ports */
    unsigned calls;
};

static int busy_cb(uint16_t port, void *arg)
{
    struct busy *b = arg;
    b->calls++;
    for (int i = 0; i < b->nbusy; i++)
        if (b->busy[i] == port)
            return b->result;
    return 0;
}

static void test_skips_busy(void **state)
{
    (void)state;
    struct port_pool *p;
    assert_int_equal(port_pool_create(&p, 30000, 30007), 0);
    struct busy b = {.busy = {30000, 30002}, .nbusy = 2, .result = VP_E_CONFLICT};
    uint16_t port;
    assert_int_equal(port_pool_acquire(p, busy_cb, &b, &port), 0);
    assert_int_equal(port, 30004);
    assert_int_equal(b.calls, 3);
    /* Skipped pairs stay free (3 of 4), behind the rest of the queue. */
    assert_int_equal(port_pool_free_count(p), 3);
    assert_int_equal(port_pool_acquire(p, busy_cb, &b, &port), 0);
    assert_int_equal(port, 30006);
    /* Only busy pairs left: refused without looping forever. */
    b.calls = 0;
    assert_int_equal(port_pool_acquire(p, busy_cb, &b, &port), VP_E_UNAVAILABLE);
    assert_int_equal(b.calls, 2);
    /* Once the OS lets go, they are handed out. */
    b.nbusy = 0;
    assert_int_equal(port_pool_acquire(p, busy_cb, &b, &port), 0);
    assert_int_equal(port_pool_free_count(p), 1);
    port_pool_destroy(p);
}

static void test_hard_error_aborts(void **state)
{
    (void)state;
    struct port_pool *p;
    assert_int_equal(port_pool_create(&p, 30000, 30007), 0);
    struct busy b = {.busy = {30000}, .nbusy = 1, .result = VP_E_IO};
    uint16_t port = 7;
    assert_int_equal(port_pool_acquire(p, busy_cb, &b, &port), VP_E_IO);
    assert_int_equal(b.calls, 1);
    assert_int_equal(port, 7);
    assert_int_equal(port_pool_free_count(p), 4);
    port_pool_destroy(p);
}

static int refuse_all_cb(uint16_t port, void *arg)
{
    (*(unsigned *)arg)++;
    return VP_E_CONFLICT;
}

static void test_tries_are_bounded(void **state)
{
    (void)state;
    struct port_pool *p;
    assert_int_equal(port_pool_create(&p, 30000, 30999), 0); /* 500 pairs */
    unsigned calls = 0;
    uint16_t port;
    assert_int_equal(port_pool_acquire(p, refuse_all_cb, &calls, &port), VP_E_UNAVAILABLE);
    assert_int_equal(calls, PORT_POOL_MAX_TRIES);
    /* The next call tries the next pairs, not the same ones again. */
    struct busy b = {.nbusy = 0};
    assert_int_equal(port_pool_acquire(p, busy_cb, &b, &port), 0);
    assert_int_equal(port, 30000 + 2 * PORT_POOL_MAX_TRIES);
    assert_int_equal(port_pool_free_count(p), 499);
    port_pool_destroy(p);
}

/* ---- with real sockets: udp_pair_bind as the try function ---------------------------- */

static int bind_udp(uint16_t port)
{
    int s = socket(AF_INET, SOCK_DGRAM, 0);
    struct sockaddr_in a = {.sin_family = AF_INET, .sin_port = htons(port)};
    a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    if (bind(s, (struct sockaddr *)&a, sizeof(a)) != 0) {
        close(s);
        return -1;
    }
    return s;
}

/* An even base whose 8 ports were all free a moment ago (asked of the kernel). */
static uint16_t free_base(void)
{
    for (int attempt = 0; attempt < 50; attempt++) {
        int s = bind_udp(0);
        struct sockaddr_in a;
        socklen_t len = sizeof(a);
        getsockname(s, (struct sockaddr *)&a, &len);
        close(s);
        uint16_t base = (uint16_t)(ntohs(a.sin_port) & ~1u);
        if (base > 65526)
            continue;
        int fds[8], ok = 1;
        for (int i = 0; i < 8; i++) {
            fds[i] = bind_udp((uint16_t)(base + i));
            ok &= fds[i] >= 0;
        }
        for (int i = 0; i < 8; i++)
            if (fds[i] >= 0)
                close(fds[i]);
        if (ok)
            return base;
    }
    fail_msg("no free port range");
    return 0;
}

struct real {
    struct sockaddr_storage ip;
    int fds[2];
};

static int real_cb(uint16_t port, void *arg)
{
    struct real *r = arg;
    return udp_pair_bind(&r->ip, port, r->fds);
}

static void test_real_sockets_skip_ports_in_use(void **state)
{
    (void)state;
    uint16_t base = free_base();
    struct real r;
    assert_int_equal(udp_addr_parse("127.0.0.1", 0, &r.ip), 0);
    struct port_pool *p;
    assert_int_equal(port_pool_create(&p, base, base + 7u), 0);
    /* Someone else holds the first pair's RTP port and the second pair's RTCP port. */
    int squat1 = bind_udp(base), squat2 = bind_udp((uint16_t)(base + 3));
    assert_true(squat1 >= 0 && squat2 >= 0);
    uint16_t port;
    assert_int_equal(port_pool_acquire(p, real_cb, &r, &port), 0);
    assert_int_equal(port, base + 4);
    /* Both sockets are ours and bound where the pool said. */
    struct sockaddr_in a;
    socklen_t len = sizeof(a);
    getsockname(r.fds[0], (struct sockaddr *)&a, &len);
    assert_int_equal(ntohs(a.sin_port), base + 4);
    getsockname(r.fds[1], (struct sockaddr *)&a, &len);
    assert_int_equal(ntohs(a.sin_port), base + 5);
    /* The half-bound second pair left nothing open: its RTP port is free again. */
    int probe = bind_udp((uint16_t)(base + 2));
    assert_true(probe >= 0);
    close(probe);
    /* A port of ours is refused to others, and released pairs bind again. */
    assert_int_equal(bind_udp((uint16_t)(base + 4)), -1);
    close(r.fds[0]);
    close(r.fds[1]);
    assert_int_equal(port_pool_release(p, port), 0);
    close(squat1);
    close(squat2);
    assert_int_equal(port_pool_acquire(p, real_cb, &r, &port), 0);
    assert_int_equal(port, base + 6);
    close(r.fds[0]);
    close(r.fds[1]);
    port_pool_destroy(p);
}

static void test_bind_refuses_foreign_address(void **state)
{
    (void)state;
    struct sockaddr_storage ip;
    /* TEST-NET-1 is not an address of this host: a hard error, not "port busy". */
    assert_int_equal(udp_addr_parse("192.0.2.1", 0, &ip), 0);
    int fds[2] = {-1, -1};
    assert_int_equal(udp_pair_bind(&ip, 40000, fds), VP_E_IO);
    assert_int_equal(udp_addr_parse("not-an-ip", 0, &ip), VP_E_INVALID_PARAMETER);
    assert_int_equal(udp_addr_parse("127.0.0.1", 70000, &ip), VP_E_INVALID_PARAMETER);
    assert_int_equal(udp_addr_parse("::1", 5, &ip), 0);
    assert_int_equal(ip.ss_family, AF_INET6);
    assert_false(udp_addr_unspecified(&ip));
    assert_int_equal(udp_addr_parse("0.0.0.0", 0, &ip), 0);
    assert_true(udp_addr_unspecified(&ip));
    assert_int_equal(udp_addr_parse("::", 0, &ip), 0);
    assert_true(udp_addr_unspecified(&ip));
    assert_int_equal(udp_addr_parse("127.0.0.1", 0, &ip), 0);
    assert_false(udp_addr_unspecified(&ip));
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_ranges),
        cmocka_unit_test(test_acquire_all_then_exhausted),
        cmocka_unit_test(test_release_is_lru),
        cmocka_unit_test(test_bad_releases),
        cmocka_unit_test(test_skips_busy),
        cmocka_unit_test(test_hard_error_aborts),
        cmocka_unit_test(test_tries_are_bounded),
        cmocka_unit_test(test_real_sockets_skip_ports_in_use),
        cmocka_unit_test(test_bind_refuses_foreign_address),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
