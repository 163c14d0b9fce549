/*
 * udp_pair.h - bind the UDP sockets of one RTP/RTCP port pair.
 *
 * Sockets are bound synchronously with plain socket(2)/bind(2) and only then handed to
 * libuv (uv_udp_open), so that a pair the OS refuses is given up at once, with no
 * half-open uv handle to close asynchronously. Fits port_pool_try_cb.
 */
#ifndef MF_UDP_PAIR_H
#define MF_UDP_PAIR_H

#include <stdint.h>
#include <sys/socket.h>

/*
 * Bind non-blocking, close-on-exec UDP sockets to ip:rtp_port (fds[0]) and
 * ip:rtp_port+1 (fds[1]); the port in *ip is ignored. Returns 0 (the caller owns both
 * fds), VP_E_CONFLICT when a port is in use or not permitted (try another pair), or
 * VP_E_IO (e.g. ip is not an address of this host). On error no fd stays open.
 */
int udp_pair_bind(const struct sockaddr_storage *ip, uint16_t rtp_port, int fds[2]);

/* Parse an IPv4 or IPv6 literal with a port into *out. Returns 0 or VP_E_INVALID_PARAMETER. */
int udp_addr_parse(const char *ip, unsigned port, struct sockaddr_storage *out);
/* Whether a is 0.0.0.0 or :: (bindable, but no address a far end can send to). */
int udp_addr_unspecified(const struct sockaddr_storage *a);
/* Whether a and b are the same address and port. */
int udp_addr_equal(const struct sockaddr_storage *a, const struct sockaddr *b);

#endif
