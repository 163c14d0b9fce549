/*
 * fanout.h - events in, deliveries out.
 *
 * Reads every event from voepy:events:{0..partitions-1} in the consumer group
 * "webhook-dispatcher" and hands it to wh_fanout() (proto/sql/0040_webhooks.sql), which
 * stores one delivery per subscribed endpoint with the exact body to send. The stream
 * entry is acknowledged once that transaction has committed; a redelivered event
 * creates nothing new (UNIQUE (endpoint_id, event_id)). A database failure leaves the
 * entry pending: it comes back when the consumer claims it again.
 */
#ifndef VOEPY_WH_FANOUT_H
#define VOEPY_WH_FANOUT_H

#include <stdint.h>

struct fanout;
struct service;

struct fanout_opts {
    unsigned partitions;        /* number of voepy:events:{p} streams */
    const char *consumer;       /* consumer name in the group: the node id */
    unsigned max_inflight;      /* events handled at once, default 64 */
    int64_t first_delay_ms;     /* the schedule's wait before the first attempt */
    void (*created)(void *arg); /* new deliveries exist (kick the delivery loop) */
    void *created_arg;
};

/* svc must have been started with SERVICE_PG | SERVICE_REDIS. */
int fanout_create(struct fanout **fp, struct service *svc, const struct fanout_opts *opts);
/* Stop reading; done() runs once every event in hand is acknowledged or released. */
void fanout_drain(struct fanout *f, void (*done)(void *arg), void *arg);
/* Close the consumer now; f frees itself once its last statement has returned. */
void fanout_stop(struct fanout *f);

#endif
