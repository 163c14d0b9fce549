/*
 * sip_stack_int.h - what the stack's files share: the struct, the per-transaction user
 * record, the run loop. Private to sip_stack*.c.
 */
#ifndef CC_SIP_STACK_INT_H
#define CC_SIP_STACK_INT_H

#include "sip_stack.h"

/* Hung on every transaction (your_instance); freed with it. */
struct tr_user {
    sip_tr_cb *cb; /* NULL for server transactions and after sip_stack_disown() */
    void *owner;
    enum sip_proto proto;
    uint32_t conn_id;     /* server transactions over TCP answer on their connection */
    sip_tr_gone_cb *gone; /* sip_stack_watch(): told when osip ends the transaction */
    void *gone_owner;
};

struct sip_stack {
    uv_loop_t *loop;
    osip_t *osip;
    struct sip_transport *tp;
    struct sip_stack_handlers h;
    char adv_host[SIP_IP_MAX + 64];
    uv_timer_t timer; /* earliest osip deadline */
    uv_timer_t kick;  /* run soon: new work was queued outside a round */
    bool running, again, closing;
    const struct sip_rx *cur_rx; /* the message being processed, NULL in timer rounds */
    osip_transaction_t **dead;   /* ended during this round, freed after it */
    size_t ndead, dead_cap;
    unsigned transactions;
    unsigned handles;
    struct sip_stack_stats stats;
    void (*closed)(void *arg);
    void *closed_arg;
};

struct tr_user *sip_stack__user(osip_transaction_t *tr);
struct sip_stack *sip_stack__of(osip_transaction_t *tr);
/* Arrival time of the message being processed, else now. */
int64_t sip_stack__event_time(const struct sip_stack *st);
void sip_stack__run(struct sip_stack *st);
void sip_stack__schedule(struct sip_stack *st);
void sip_stack__timer_cb(uv_timer_t *t);
/* A transaction osip has ended or we aborted: removed from osip, freed after the round. */
void sip_stack__bury(struct sip_stack *st, osip_transaction_t *tr);
void sip_stack__kick_cb(uv_timer_t *t);

/* sip_stack_osip.c */
void sip_stack__install_callbacks(osip_t *osip);
int sip_stack__send_cb(osip_transaction_t *tr, osip_message_t *msg, char *host, int port,
                       int out_socket);
int sip_stack__send(struct sip_stack *st, const osip_message_t *msg, enum sip_proto proto,
                    const char *ip, int port, uint32_t conn_id);
void sip_stack__init_trace(void);

/* sip_stack_rx.c */
void sip_stack__rx_cb(const struct sip_rx *rx, void *arg);
void sip_stack__tp_error_cb(enum sip_proto proto, const char *ip, int port, int err, void *arg);

/* Metrics of SIP traffic (sip_stack_osip.c). */
void sip_stack__count(const osip_message_t *m, const char *direction);

#endif
