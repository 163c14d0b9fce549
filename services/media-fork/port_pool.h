/*
 * port_pool.h - RTP/RTCP port pairs: an even RTP port and the odd RTCP port above it.
 *
 * The pool hands out pairs from [min, max] in least-recently-released order (a FIFO of
 * free pairs), so a port just given back is the last to be reused and stray packets of
 * an old call rarely reach a new one. Acquiring and releasing are O(1). The pool does
 * not open sockets: port_pool_acquire() asks a caller-supplied function to bind the pair
 * and skips pairs that the OS refuses as in use (another process holds them), trying at
 * most PORT_POOL_MAX_TRIES pairs per call so that a crowded range costs bounded work.
 * Single-threaded.
 */
#ifndef MF_PORT_POOL_H
#define MF_PORT_POOL_H

#include <stddef.h>
#include <stdint.h>

#define PORT_POOL_MAX_TRIES 32

struct port_pool;

/*
 * Bind (or otherwise claim) the pair rtp_port, rtp_port + 1. Return 0 when claimed,
 * VP_E_CONFLICT when the OS says a port is in use (the pool skips the pair and keeps it
 * free for later), any other VP_E_* to abort the acquisition with that error.
 */
typedef int(port_pool_try_cb)(uint16_t rtp_port, void *arg);

/*
 * A pool of every even port p with min <= p and p + 1 <= max. Returns VP_E_CONFIG when
 * the range holds no pair (min 0, min > max, or a range of one odd port).
 */
int port_pool_create(struct port_pool **pp, unsigned min, unsigned max);
void port_pool_destroy(struct port_pool *p);

/*
 * Take the least recently released free pair that try_cb can claim; *portp is its RTP
 * port. Returns 0, VP_E_UNAVAILABLE when no free pair could be claimed (none left, or
 * PORT_POOL_MAX_TRIES were in use), or the error try_cb returned.
 */
int port_pool_acquire(struct port_pool *p, port_pool_try_cb *try_cb, void *arg, uint16_t *portp);
/* Give a pair back. VP_E_INVALID_PARAMETER when rtp_port is not a pair in use. */
int port_pool_release(struct port_pool *p, uint16_t rtp_port);

size_t port_pool_free_count(const struct port_pool *p);
size_t port_pool_capacity(const struct port_pool *p);

#endif
