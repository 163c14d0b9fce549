/*
 * The port pool: pairs are numbered 0 .. n-1 (pair i is RTP port base + 2i). Free pairs
 * sit in a ring (a FIFO: acquire pops the head, release pushes the tail); in_use[] makes
 * release of a pair that is not out an error instead of a corrupted ring.
 */
#include "port_pool.h"

#include <stdbool.h>
#include <stdlib.h>

#include "voepy/alloc.h"
#include "voepy/err.h"

struct port_pool {
    unsigned base;  /* first (even) RTP port */
    size_t n;       /* pairs */
    uint32_t *ring; /* free pair indices, FIFO */
    size_t head;    /* index of the oldest free pair in ring */
    size_t nfree;
    bool *in_use;
};

int port_pool_create(struct port_pool **pp, unsigned min, unsigned max)
{
    unsigned base = min + (min & 1u);
    if (min == 0 || min > max || max > 65535 || base + 1 > max)
        return VP_E_CONFIG;
    struct port_pool *p = VP_NEW(p);
    p->base = base;
    p->n = (max - base + 1) / 2;
    p->ring = vp_calloc(p->n, sizeof(*p->ring));
    p->in_use = vp_calloc(p->n, sizeof(*p->in_use));
    for (size_t i = 0; i < p->n; i++)
        p->ring[i] = (uint32_t)i;
    p->nfree = p->n;
    *pp = p;
    return 0;
}

void port_pool_destroy(struct port_pool *p)
{
    if (!p)
        return;
    free(p->ring);
    free(p->in_use);
    free(p);
}

static uint32_t pop_head(struct port_pool *p)
{
    uint32_t idx = p->ring[p->head];
    p->head = (p->head + 1) % p->n;
    p->nfree--;
    return idx;
}

static void push_tail(struct port_pool *p, uint32_t idx)
{
    p->ring[(p->head + p->nfree) % p->n] = idx;
    p->nfree++;
}

int port_pool_acquire(struct port_pool *p, port_pool_try_cb *try_cb, void *arg, uint16_t *portp)
{
    size_t tries = p->nfree < PORT_POOL_MAX_TRIES ? p->nfree : PORT_POOL_MAX_TRIES;
    for (size_t i = 0; i < tries; i++) {
        uint32_t idx = pop_head(p);
        uint16_t port = (uint16_t)(p->base + 2 * idx);
        int err = try_cb(port, arg);
        if (err == 0) {
            p->in_use[idx] = true;
            *portp = port;
            return 0;
        }
        /* Busy or failed: the pair stays free, at the back of the queue. */
        push_tail(p, idx);
        if (err != VP_E_CONFLICT)
            return err;
    }
    return VP_E_UNAVAILABLE;
}

int port_pool_release(struct port_pool *p, uint16_t rtp_port)
{
    if (rtp_port < p->base || (rtp_port - p->base) % 2)
        return VP_E_INVALID_PARAMETER;
    size_t idx = (rtp_port - p->base) / 2;
    if (idx >= p->n || !p->in_use[idx])
        return VP_E_INVALID_PARAMETER;
    p->in_use[idx] = false;
    push_tail(p, (uint32_t)idx);
    return 0;
}

size_t port_pool_free_count(const struct port_pool *p)
{
    return p->nfree;
}

size_t port_pool_capacity(const struct port_pool *p)
{
    return p->n;
}
