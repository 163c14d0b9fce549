/*
 * sip_uas_int.h - what the two files of an inbound dialog share: sip_uas.c (the INVITE's
 * answers, the 2xx until its ACK, CANCEL, BYE) and sip_uas_dialog.c (what the confirmed
 * dialog adds: session timers, the caller's re-INVITEs and UPDATEs, INFO/NOTIFY, our own
 * requests in the dialog). Private to those two files.
 */
#ifndef CC_SIP_UAS_INT_H
#define CC_SIP_UAS_INT_H

#include <stdbool.h>
#include <stdint.h>

#include "sip_dialog.h"
#include "sip_stack.h"
#include "sip_timer.h"
#include "sip_ua_int.h"
#include "sip_uas.h"

#define MAX_ROUTES 8

enum uas_state {
    UAS_PROCEEDING, /* INVITE received, no final answer yet */
    UAS_ANSWERED,   /* 2xx sent, waiting for its ACK */
    UAS_CONFIRMED,  /* ACK received */
    UAS_TERMINATED, /* final failure sent, canceled, or hung up */
};

struct sip_uas {
    struct sip_ua *ua;
    enum uas_state state;
    bool bound;         /* an owner took the session */
    bool detached;      /* the owner ended it: no more callbacks */
    bool bye_after_ack; /* ended while the 2xx waits for its ACK */
    bool rang, freeing;
    sip_uas_cb *cb;
    void *arg;
    enum sip_proto proto;
    char hop_ip[SIP_IP_MAX]; /* in-dialog next hop */
    int hop_port;
    char reply_ip[SIP_IP_MAX]; /* where responses to the INVITE go (its top Via) */
    int reply_port;
    char call_id[SIP_CALL_ID_MAX];
    char local_tag[SIP_TOKEN_MAX];
    char remote_tag[128];
    char branch[128]; /* the INVITE's top Via branch (its CANCEL has the same) */
    unsigned invite_cseq;
    char *local_uri, *remote_uri, *remote_target, *contact;
    char *routes[MAX_ROUTES];
    size_t nroutes;
    unsigned cseq;           /* our own requests (BYE) */
    osip_message_t *invite;  /* a copy, to build responses from */
    osip_transaction_t *ist; /* until the final answer is handed to it */
    osip_transaction_t *bye_tr;
    osip_message_t *ok; /* our 2xx, sent again until the ACK */
    unsigned retrans_ms;
    uint64_t ack_deadline; /* uv_now */
    uv_timer_t timer;      /* 2xx retransmissions */
    /* the confirmed dialog (sip_dialog.h) */
    struct sip_dialog_hooks hooks;
    struct sip_reinvite *reinv; /* the caller's re-INVITEs and UPDATEs */
    osip_transaction_t *req_tr; /* our own request in the dialog (REFER, INFO) */
    sip_dialog_resp_cb *req_cb;
    void *req_arg;
    /* RFC 4028: the interval and refresher our 2xx gave, armed at the ACK */
    unsigned se_secs;
    bool we_refresh, peer_update;
    struct sip_timer *stimer;
    osip_transaction_t *refresh_tr;
    unsigned refresh_cseq;
    osip_message_t *refresh_ack;
};

/* sip_uas.c */
void sip_uas__maybe_release(struct sip_uas *u);
/* A request of ours in the dialog (we are its UAS: From is our To). */
int sip_uas__build(struct sip_uas *u, const char *method, unsigned cseq, const char *ctype,
                   const char *body, osip_message_t **mp);
void sip_uas__send_bye(struct sip_uas *u);
/* The callback of every client transaction of the session. */
void sip_uas__tr_cb(void *owner, osip_transaction_t *tr, enum sip_tr_event ev,
                    const osip_message_t *resp, int64_t at_ms);

/* sip_uas_dialog.c */
void sip_uas__on_refresh_answer(struct sip_uas *u, enum sip_tr_event ev,
                                const osip_message_t *resp);
/* The Session-Expires of our 2xx (RFC 4028 9), when the INVITE asked for a timer. */
void sip_uas__timer_headers(struct sip_uas *u, osip_message_t *resp);
/* The dialog is up (ACK): the caller's offers are taken, the session timer runs. */
void sip_uas__start_dialog(struct sip_uas *u);
void sip_uas__on_request_answer(struct sip_uas *u, enum sip_tr_event ev,
                                const osip_message_t *resp);
/* A re-INVITE or UPDATE of the dialog (491 while our 2xx awaits its ACK). */
void sip_uas__on_offer(struct sip_uas *u, osip_transaction_t *tr, const osip_message_t *req,
                       const struct sip_rx *rx);
/* INFO, NOTIFY and the rest: the owner's answer, else 200 for INFO and 501. */
int sip_uas__other_status(struct sip_uas *u, const osip_message_t *req);

#endif
