/*
 * rstream.h - Redis streams: producing and consuming with consumer groups.
 *
 * Messages carry one field, "m", whose value is the message body (JSON by convention;
 * see proto/streams.md). A consumer belongs to a group; it first re-reads its own
 * pending entries (from a previous life of the same consumer name), then new ones, and
 * every claim_interval_ms claims entries that other consumers of the group left pending
 * for longer than claim_idle_ms (XAUTOCLAIM): that is how a dead consumer's work is
 * taken over. The handler acknowledges a message with rstream_ack() once its effect is
 * durable, or lets go of it with rstream_release() to have it delivered again later.
 * At most max_inflight messages are handed out unacknowledged at a time.
 *
 * The consumer owns its connections (a blocking one for XREADGROUP and one for acks and
 * claims) and reconnects by itself, recreating the group when the stream was deleted.
 *
 * Ownership of a message: the consumer allocates it; once handed to the handler it stays
 * valid, and is the handler's to give back, until the handler passes it to rstream_ack()
 * or rstream_release() (each frees it: exactly one of them, exactly once). That holds
 * across rstream_consumer_close() too, so a handler may keep a message for asynchronous
 * work (a database statement) and give it back whenever that work ends. The consumer
 * itself lives until every message it handed out has come back.
 */
#ifndef VOEPY_RSTREAM_H
#define VOEPY_RSTREAM_H

#include <stddef.h>
#include <stdint.h>
#include <uv.h>

#include "voepy/redis.h"

struct rstream_consumer;

struct rstream_msg {
    const char *stream; /* which stream it came from */
    const char *id;     /* entry id "1700000000000-0" */
    const char *body;   /* NUL-terminated */
    size_t len;
    unsigned deliveries; /* 1 on first delivery, more when claimed or re-read (Redis'
                            counter from XPENDING; 2 when that lookup failed) */
};

typedef void(rstream_msg_cb)(struct rstream_consumer *c, struct rstream_msg *msg, void *arg);
typedef void(rstream_added_cb)(int status, const char *entry_id, void *arg);

/* XADD stream MAXLEN ~ maxlen * m body (maxlen 0 = no trimming). cb may be NULL. */
int rstream_add(struct redis *r, const char *stream, const char *body, size_t len, long maxlen,
                rstream_added_cb *cb, void *arg);

/* claim_idle_ms value for a consumer that never takes over others' entries. */
#define RSTREAM_NO_CLAIM 0xffffffffu

struct rstream_consumer_opts {
    const char *group;          /* consumer group, created at "$" ... see below */
    const char *consumer;       /* this consumer's name (stable across restarts) */
    const char *const *streams; /* streams to read; copied, like group and consumer */
    size_t nstreams;
    unsigned block_ms;          /* XREADGROUP BLOCK, default 1000 */
    unsigned batch;             /* COUNT per read, default 32 */
    unsigned max_inflight;      /* default 256 */
    unsigned claim_idle_ms;     /* default 30000; RSTREAM_NO_CLAIM disables claiming */
    unsigned claim_interval_ms; /* default 5000 */
    /* Groups are created with MKSTREAM at id "0" so nothing written before is missed. */
};

int rstream_consumer_create(struct rstream_consumer **cp, uv_loop_t *loop,
                            const struct redis_opts *ropts,
                            const struct rstream_consumer_opts *opts, rstream_msg_cb *cb,
                            void *arg);
/*
 * Acknowledge msg (XACK) and free it. msg is one that c handed to the handler and that
 * has not come back yet. After rstream_consumer_close() no XACK is sent: msg is only
 * freed, and its entry stays pending in Redis, to be delivered again (re-read by the
 * next consumer of the same name, or claimed by another after claim_idle_ms). Handlers
 * already cope with that: delivery is at least once.
 */
void rstream_ack(struct rstream_consumer *c, struct rstream_msg *msg);
/*
 * Free msg without acknowledging; its entry stays pending and comes back by claim or
 * restart. Same rules as rstream_ack(), also after close.
 */
void rstream_release(struct rstream_consumer *c, struct rstream_msg *msg);
/* Messages read and not yet acked/released (handed out, or about to be). */
unsigned rstream_inflight(const struct rstream_consumer *c);
bool rstream_consumer_connected(const struct rstream_consumer *c);
/*
 * Stop reading new messages; done() runs (from the loop, never inside this call or an
 * ack) when nothing is in flight and every XACK is answered. Later calls do nothing.
 */
void rstream_consumer_drain(struct rstream_consumer *c, void (*done)(void *arg), void *arg);
/*
 * Stop for good: no more reading, claiming or handing out (a handler may call this; the
 * rest of its batch is not delivered and stays pending), and no done() of a drain. Both
 * connections are closed; XACKs already issued get up to a second to be answered before
 * the connection is cut (an ack lost that way means one more delivery later).
 *
 * Messages already handed out are NOT freed here: each stays valid until the handler
 * gives it back with rstream_ack() or rstream_release(), which after close only free it
 * (no XACK; see rstream_ack()). c is freed, and then closed(arg) runs (closed may be
 * NULL), once its connections are closed AND the last handed-out message has come back;
 * always from the loop, never inside this call or inside an ack/release. Until then the
 * only calls allowed on c are rstream_ack(), rstream_release() and rstream_inflight().
 * A message never given back keeps c alive for good (and one of its timers open, so
 * uv_loop_close() fails). Call once, also after rstream_consumer_drain().
 */
void rstream_consumer_close(struct rstream_consumer *c, void (*closed)(void *arg), void *arg);

#endif
