/*
 * sip_ua_int.h - what sip_ua.c (routing, lifetime) and sip_session.c (dialogs) share.
 */
#ifndef CC_SIP_UA_INT_H
#define CC_SIP_UA_INT_H

#include <stdbool.h>

#include "sip_session.h"
#include "sip_stack.h"
#include "sip_ua.h"
#include "sip_uas.h"
#include "strmap.h"

struct sip_ua {
    uv_loop_t *loop;
    struct sip_stack *st;
    struct strmap *sessions;      /* Call-ID -> session, until the session is freed */
    struct strmap *uas;           /* Call-ID -> inbound session (sip_uas.c), likewise */
    sip_uas_invite_cb *on_invite; /* new INVITEs; NULL: answered 480 */
    void *on_invite_arg;
    bool closing;
    void (*closed)(void *arg);
    void *closed_arg;
};

/* Answer a request of a server transaction (to_tag NULL: a fresh tag). */
void sip_ua__respond(struct sip_ua *ua, osip_transaction_t *tr, const osip_message_t *req,
                     int status, const char *to_tag);

/* sip_session.c, called by the UA's routing. */
bool sip_session__matches(const struct sip_session *s, const osip_message_t *req);
void sip_session__on_request(struct sip_session *s, osip_transaction_t *tr,
                             const osip_message_t *req, const struct sip_rx *rx);
void sip_session__on_stray_response(struct sip_session *s, const osip_message_t *resp,
                                    const struct sip_rx *rx);
/* An ACK of the dialog (of our 2xx to the far end's re-INVITE). */
void sip_session__on_ack(struct sip_session *s, const osip_message_t *ack);
void sip_session__on_transport_error(struct sip_session *s, enum sip_proto proto, const char *ip,
                                     int port);
/* UA closing: send what hangs the session up, forget the transactions, free. */
void sip_session__destroy(struct sip_session *s);

/* sip_uas.c, called by the UA's routing. */
/* A session for a new INVITE (100 Trying sent), registered under its Call-ID; NULL when
 * none can be made (the INVITE is then already answered: 400 for a top Via we cannot
 * send to, 500). */
struct sip_uas *sip_uas__create(struct sip_ua *ua, osip_transaction_t *tr,
                                const osip_message_t *req, const struct sip_rx *rx);
/* Whether req belongs to the session: its CANCEL or retransmitted INVITE (same branch),
 * or a request of the dialog (tags). */
bool sip_uas__owns(const struct sip_uas *u, const osip_message_t *req);
void sip_uas__on_request(struct sip_uas *u, osip_transaction_t *tr, const osip_message_t *req,
                         const struct sip_rx *rx);
void sip_uas__on_ack(struct sip_uas *u, const osip_message_t *ack, const struct sip_rx *rx);
/* A response no transaction took: a retransmitted 2xx of our refreshing re-INVITE. */
void sip_uas__on_stray_response(struct sip_uas *u, const osip_message_t *resp);
void sip_uas__destroy(struct sip_uas *u);

#endif
