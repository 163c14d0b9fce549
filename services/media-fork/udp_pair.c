/* Binding RTP/RTCP socket pairs; see udp_pair.h. */
#include "udp_pair.h"

#include <errno.h>
#include <netinet/in.h>
#include <netinet/ip.h>
#include <string.h>
#include <unistd.h>
#include <uv.h>

#include "voepy/err.h"

/* DSCP EF (46) for voice, as RFC 4594 recommends; best effort (may be refused). */
#define TOS_EF 0xb8

static socklen_t addr_len(const struct sockaddr_storage *a)
{
    return a->ss_family == AF_INET6 ? sizeof(struct sockaddr_in6) : sizeof(struct sockaddr_in);
}

static void set_port(struct sockaddr_storage *a, uint16_t port)
{
    if (a->ss_family == AF_INET6)
        ((struct sockaddr_in6 *)a)->sin6_port = htons(port);
    else
        ((struct sockaddr_in *)a)->sin_port = htons(port);
}

/* One bound socket in *fd, or an error with nothing open. */
static int bind_one(const struct sockaddr_storage *ip, uint16_t port, int *fd)
{
    struct sockaddr_storage a = *ip;
    set_port(&a, port);
    int s = socket(a.ss_family, SOCK_DGRAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
    if (s < 0)
        return VP_E_IO;
    if (a.ss_family == AF_INET) {
        int tos = TOS_EF;
        (void)setsockopt(s, IPPROTO_IP, IP_TOS, &tos, sizeof(tos));
    }
    if (bind(s, (struct sockaddr *)&a, addr_len(&a)) != 0) {
        int e = errno;
        close(s);
        return e == EADDRINUSE || e == EACCES ? VP_E_CONFLICT : VP_E_IO;
    }
    *fd = s;
    return 0;
}

int udp_pair_bind(const struct sockaddr_storage *ip, uint16_t rtp_port, int fds[2])
{
    int err = bind_one(ip, rtp_port, &fds[0]);
    if (err)
        return err;
    err = bind_one(ip, (uint16_t)(rtp_port + 1), &fds[1]);
    if (err) {
        close(fds[0]);
        fds[0] = -1;
    }
    return err;
}

int udp_addr_parse(const char *ip, unsigned port, struct sockaddr_storage *out)
{
    memset(out, 0, sizeof(*out));
    if (!ip || port > 65535)
        return VP_E_INVALID_PARAMETER;
    if (uv_ip4_addr(ip, (int)port, (struct sockaddr_in *)out) == 0)
        return 0;
    if (uv_ip6_addr(ip, (int)port, (struct sockaddr_in6 *)out) == 0)
        return 0;
    memset(out, 0, sizeof(*out));
    return VP_E_INVALID_PARAMETER;
}

int udp_addr_unspecified(const struct sockaddr_storage *a)
{
    if (a->ss_family == AF_INET6)
        return IN6_IS_ADDR_UNSPECIFIED(&((const struct sockaddr_in6 *)a)->sin6_addr);
    return ((const struct sockaddr_in *)a)->sin_addr.s_addr == htonl(INADDR_ANY);
}

int udp_addr_equal(const struct sockaddr_storage *a, const struct sockaddr *b)
{
    if (a->ss_family != b->sa_family)
        return 0;
    if (b->sa_family == AF_INET) {
        const struct sockaddr_in *x = (const void *)a, *y = (const void *)b;
        return x->sin_port == y->sin_port && x->sin_addr.s_addr == y->sin_addr.s_addr;
    }
    if (b->sa_family == AF_INET6) {
        const struct sockaddr_in6 *x = (const void *)a, *y = (const void *)b;
        return x->sin6_port == y->sin6_port &&
               memcmp(&x->sin6_addr, &y->sin6_addr, sizeof(x->sin6_addr)) == 0;
    }
    return 0;
}
