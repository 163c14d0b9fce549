/*
 * cc.h - the call-control node: what its parts share, and its lifetime.
 *
 * One struct cc per process. It owns the SIP user agent, the calls this node carries
 * (calls.node_id = this node), the dial consumer and sweeper (dial.c), the node's inbox
 * (inbox.c), the node registry entry and an outbox relay. main.c creates it after the
 * service base, drains it on SIGTERM, stops it on SIGINT, and destroys it after the loop.
 */
#ifndef CC_CC_H
#define CC_CC_H

#include <stdbool.h>
#include <stdint.h>
#include <uv.h>

struct cc;
struct service;

struct cc_opts {
    const char *sip_host;            /* bind address for SIP */
    int sip_port;                    /* 0 = a free port (logged) */
    const char *sip_advertised_host; /* Via/Contact/From host; NULL = sip_host */
    unsigned media_timeout_ms;       /* wait for a media-fork reply this long */
    const char *media_mode;          /* connect mode: "silence" (default) or "echo" */
    unsigned drain_timeout_ms;       /* VOEPY_DRAIN_TIMEOUT_MS */
    unsigned event_partitions;
    unsigned sweep_interval_ms;       /* look for unclaimed calls this often (default 1000) */
    unsigned unclaimed_after_ms;      /* ... older than this (default 3000) */
    unsigned inbound_ring_timeout_ms; /* an inbound call rings this long without an answer
                                         or reject before 480 (default 30000) */
    /* A drain lets live calls run this long, then hangs them up (system_failure); capped
     * so that their end is recorded before drain_timeout_ms (default 60000). */
    unsigned drain_grace_ms;
    /* A node whose heartbeat is this old is dead: a survivor ends its calls (takeover.h;
     * default 5000). */
    unsigned node_dead_ms;
    /* Routes (route_health.h): OPTIONS keep-alive period (0 = off), failed pings in a row
     * that make a route down, and Timer B of outbound INVITEs. */
    unsigned route_options_ms;
    unsigned route_down_after;
    unsigned sip_timer_b_ms;
    /* Trunk registration (route_register.h): lease round (0 = no registration) and the
     * first retry delay after a failed REGISTER. */
    unsigned route_register_round_ms;
    unsigned route_register_retry_ms;
};

/* Wire everything to the service base (its loop, pool, Redis, node id). */
int cc_create(struct cc **ccp, struct service *svc, const struct cc_opts *o);
/* SIGTERM: take no new calls and leave the node registry; done() once every live call
 * has ended. Live calls run for up to drain_grace_ms (at most until shortly before the
 * drain timeout, so that their end is still recorded), then are hung up system_failure. */
void cc_drain(struct cc *cc, void (*done)(void *arg), void *arg);
/* SIGINT or the end of the drain: hang up what is left (best effort) and close. */
void cc_stop(struct cc *cc);
/* After the loop has ended. */
void cc_destroy(struct cc *cc);

#endif
