/*
 * sip_stack.h - RFC 3261 transactions on the loop: libosip2's osip_t driven by libuv.
 *
 * The stack owns the transport and an osip_t. Client transactions (ICT for INVITE, NICT
 * for the rest) are created by sip_stack_request(); their retransmissions and timers
 * (A, B, D, E, F, K) are libosip2's. Requests from peers get server transactions (IST,
 * NIST: timers G, H, I, J) and are handed to the user, who answers with
 * sip_stack_respond(). What does not belong to a transaction — the ACK of a 2xx and a
 * retransmitted 2xx of an INVITE whose client transaction has ended — is end-to-end
 * and goes to the user too (RFC 3261 13.2.2.4, 17.1.1.2).
 *
 * Every message from the network is validated (sip_msg_validate) before libosip2 or
 * the user sees it; a bad request gets a 400 when it can be answered at all.
 *
 * osip work runs from the loop: at once for a message just received (so that the
 * arrival time stays meaningful), else from a zero timer, and from a timer set to the
 * earliest osip deadline. Transactions that osip ends are removed at once and freed
 * after the round: osip still touches them during it. No user callback ever runs inside
 * a call the user made into the stack.
 */
#ifndef CC_SIP_STACK_H
#define CC_SIP_STACK_H

#include "sip_osip.h"
#include <stdbool.h>
#include <stdint.h>
#include <uv.h>

#include "sip_transport.h"

struct sip_stack;

/* What happened to a client transaction. */
enum sip_tr_event {
    SIP_TR_PROVISIONAL, /* 1xx */
    SIP_TR_FINAL,       /* 2xx-6xx (the stack already sent the ACK of a non-2xx) */
    SIP_TR_TIMEOUT,     /* Timer B / F: no final answer (treat as 408) */
    SIP_TR_TRANSPORT,   /* the transport failed (treat as 503) */
};

/*
 * Client transaction callback: resp is the response (borrowed, NULL for TIMEOUT and
 * TRANSPORT), at_ms when it arrived. owner is the pointer given to sip_stack_request().
 */
typedef void(sip_tr_cb)(void *owner, osip_transaction_t *tr, enum sip_tr_event ev,
                        const osip_message_t *resp, int64_t at_ms);

struct sip_stack_handlers {
    /* A request in a new server transaction: answer with sip_stack_respond(). */
    void (*request)(struct sip_stack *st, osip_transaction_t *tr, const osip_message_t *req,
                    const struct sip_rx *rx, void *arg);
    /* A response no client transaction matched (a 2xx retransmission, a forked 2xx). */
    void (*stray_response)(struct sip_stack *st, const osip_message_t *resp,
                           const struct sip_rx *rx, void *arg);
    /* An ACK no server transaction matched (the ACK of a 2xx we sent). */
    void (*stray_ack)(struct sip_stack *st, const osip_message_t *ack, const struct sip_rx *rx,
                      void *arg);
    /* A TCP connection to ip:port failed: transactions towards it will not complete. */
    void (*transport_error)(struct sip_stack *st, enum sip_proto proto, const char *ip, int port,
                            void *arg);
    void *arg;
};

struct sip_stack_opts {
    const char *host;            /* bind address */
    int port;                    /* 0 = a free port */
    const char *advertised_host; /* for Via and Contact; NULL = host */
};

int sip_stack_create(struct sip_stack **sp, uv_loop_t *loop, const struct sip_stack_opts *o,
                     const struct sip_stack_handlers *h);
int sip_stack_port(const struct sip_stack *st);
const char *sip_stack_advertised_host(const struct sip_stack *st);

/*
 * Send a request in a new client transaction to ip:port over proto (the request's Via
 * must name the same protocol). Takes req in every case. cb(owner, ...) reports the
 * transaction until sip_stack_disown(). *trp (optional) gets the transaction, valid
 * until its last callback. Returns 0 or VP_E_*.
 */
int sip_stack_request(struct sip_stack *st, osip_message_t *req, enum sip_proto proto,
                      const char *ip, int port, sip_tr_cb *cb, void *owner,
                      osip_transaction_t **trp);
/* No more callbacks for tr (its owner is going away); the transaction runs to its end. */
void sip_stack_disown(osip_transaction_t *tr);
/*
 * Timer B of an INVITE client transaction just made by sip_stack_request(): give up
 * after ms without any answer (0 leaves libosip2's 64*T1). For trunks with a failover
 * route, which should not wait 32 s for a silent one. Call before returning to the loop.
 */
void sip_stack_set_timer_b(osip_transaction_t *tr, unsigned ms);

/*
 * Server transactions: whoever keeps one (an inbound INVITE's IST, held while the call
 * rings) must hear when libosip2 ends it on its own, e.g. after a send fails (a TCP
 * caller that went away): gone(owner, tr) runs once, from the loop inside an osip round,
 * and tr must not be used after it. gone NULL stops watching (the owner lets go of tr
 * first, e.g. after handing it a final answer, or when it is freed).
 */
typedef void(sip_tr_gone_cb)(void *owner, osip_transaction_t *tr);
void sip_stack_watch(osip_transaction_t *tr, sip_tr_gone_cb *gone, void *owner);
/* Remove a client transaction now (an INVITE left without final answer after CANCEL). */
void sip_stack_abort(struct sip_stack *st, osip_transaction_t *tr);
/* Answer a server transaction; takes resp. Returns 0 or VP_E_*. */
int sip_stack_respond(struct sip_stack *st, osip_transaction_t *tr, osip_message_t *resp);
/* Send a message outside any transaction (the ACK of a 2xx); does not take msg. */
int sip_stack_send_direct(struct sip_stack *st, const osip_message_t *msg, enum sip_proto proto,
                          const char *ip, int port);

/* Run osip now: requests queued outside a round go out (before a close). */
void sip_stack_flush(struct sip_stack *st);

/* Counters for tests and metrics. */
struct sip_stack_stats {
    uint64_t in, out, retransmissions, invalid;
    unsigned transactions;
};
void sip_stack_stats(const struct sip_stack *st, struct sip_stack_stats *s);

/* Free every transaction, close the transport, free, then closed() runs. */
void sip_stack_close(struct sip_stack *st, void (*closed)(void *arg), void *arg);

#endif
