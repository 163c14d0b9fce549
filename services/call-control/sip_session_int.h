/*
 * sip_session_int.h - what the two files of an outbound dialog share: sip_session.c (the
 * INVITE, its CANCEL and BYE, digest, the dialog an 18x or the 2xx defines, the 2xx and
 * its ACK) and sip_session_dialog.c (what the early or confirmed dialog adds: PRACK, 422,
 * session timers, the far end's re-INVITEs and UPDATEs, our own requests in the dialog).
 * Private to those two files.
 */
#ifndef CC_SIP_SESSION_INT_H
#define CC_SIP_SESSION_INT_H

#include <stdbool.h>
#include <stdint.h>

#include "sip_dialog.h"
#include "sip_session.h"
#include "sip_stack.h"
#include "sip_timer.h"
#include "sip_ua_int.h"

#define CANCEL_GUARD_MS (64 * DEFAULT_T1) /* RFC 3261 9.1: give up on the INVITE after */
#define MAX_ROUTES      8
#define MAX_AUTH_TRIES  3 /* challenges answered per call, stale ones included */

enum sess_state {
    SESS_CALLING,    /* INVITE sent, nothing heard */
    SESS_PROCEEDING, /* a provisional answer came */
    SESS_CONFIRMED,  /* 2xx received and ACKed */
    SESS_TERMINATED, /* final failure, or hung up */
};

struct sip_session {
    struct sip_ua *ua;
    enum sess_state state;
    bool detached;      /* the owner terminated: no more callbacks */
    bool cancel_wanted; /* terminated before any provisional: CANCEL at the first */
    bool cancel_sent;
    bool freeing;
    sip_session_cb *cb;
    void *arg;
    enum sip_proto proto;
    char dest_ip[SIP_IP_MAX]; /* the INVITE's next hop */
    int dest_port;
    char hop_ip[SIP_IP_MAX]; /* in-dialog next hop (route set or remote target) */
    int hop_port;
    char call_id[SIP_TOKEN_MAX + 80];
    char local_tag[SIP_TOKEN_MAX];
    char remote_tag[128];
    char branch[SIP_TOKEN_MAX]; /* the INVITE's (its CANCEL reuses it) */
    char *ruri, *to_uri, *from_uri, *contact, *remote_target;
    char *routes[MAX_ROUTES];
    size_t nroutes;
    unsigned cseq;        /* last local CSeq */
    unsigned invite_cseq; /* the current INVITE's (1, then one more per challenge answered) */
    unsigned timer_b_ms;
    char *offer; /* our SDP, for an INVITE sent again with credentials */
    /* digest: credentials, the header answering the last challenge of each kind (index
     * 0 WWW-Authenticate, 1 Proxy-Authenticate) and the realm it answered */
    char *auth_user, *auth_pass, *auth_realm;
    char *authz[2];
    char authz_realm[2][SIP_AUTH_FIELD_MAX];
    unsigned auth_tries;
    osip_transaction_t *invite_tr, *cancel_tr, *bye_tr;
    osip_message_t *ack; /* the 2xx ACK, sent again for each 2xx retransmission */
    uv_timer_t guard;
    /* the confirmed dialog (sip_dialog.h) */
    struct sip_dialog_hooks hooks;
    struct sip_reinvite *reinv; /* the far end's re-INVITEs and UPDATEs */
    osip_transaction_t *req_tr; /* our own request in the dialog (REFER, INFO) */
    sip_dialog_resp_cb *req_cb;
    void *req_arg;
    osip_transaction_t *prack_tr; /* RFC 3262: our PRACK of a reliable provisional */
    uint32_t rseq;                /* the last RSeq acknowledged */
    /* RFC 4028 */
    unsigned se_secs;               /* Session-Expires asked in our INVITE (after a 422) */
    unsigned se_retries;            /* 422s answered */
    struct sip_timer *stimer;       /* armed when the 2xx names a session timer */
    bool peer_update;               /* the far end allows UPDATE: refresh with it */
    osip_transaction_t *refresh_tr; /* our refresh (UPDATE or re-INVITE) */
    unsigned refresh_cseq;
    osip_message_t *refresh_ack; /* the ACK of a refreshing re-INVITE's 2xx */
};

/* sip_session.c */
/* The dialog (early or confirmed) as resp defines it: remote tag, target, route set, next
 * hop. Returns 0 or VP_E_PARSE (no usable next hop). */
int sip_session__take_dialog(struct sip_session *s, const osip_message_t *resp);
/* The next hop (hop_ip, hop_port) is uri's host and port, or where the INVITE went when
 * that host is a name. Returns 0 or VP_E_PARSE (not a SIP URI). */
int sip_session__set_hop(struct sip_session *s, const char *uri);
/* A request of the dialog; to_tag and routes only inside it (in_dialog: early or
 * confirmed). */
int sip_session__build_body(struct sip_session *s, const char *method, const char *ruri,
                            const char *branch, unsigned cseq, bool in_dialog, const char *ctype,
                            const char *body, osip_message_t **mp);
/* The same with an SDP body (or none); an INVITE after a 422 asks for its interval. */
int sip_session__build(struct sip_session *s, const char *method, const char *ruri,
                       const char *branch, unsigned cseq, bool in_dialog, const char *sdp,
                       osip_message_t **mp);
void sip_session__send_bye(struct sip_session *s);
/* The INVITE (first or again): a new branch and CSeq, same Call-ID and From tag. */
int sip_session__send_invite(struct sip_session *s);
/* The callback of every client transaction of the session. */
void sip_session__tr_cb(void *owner, osip_transaction_t *tr, enum sip_tr_event ev,
                        const osip_message_t *resp, int64_t at_ms);

/* sip_session_dialog.c */
/* A provisional above 100 to our INVITE: the early dialog, PRACK; false for a reliable
 * provisional's retransmission, which the owner does not hear of. */
bool sip_session__on_provisional(struct sip_session *s, const osip_message_t *resp);
bool sip_session__answer_422(struct sip_session *s, const osip_message_t *resp);
/* The 2xx confirmed the dialog: the far end's offers are taken, its session timer runs. */
void sip_session__start_dialog(struct sip_session *s, const osip_message_t *resp);
void sip_session__on_refresh_answer(struct sip_session *s, enum sip_tr_event ev,
                                    const osip_message_t *resp);
void sip_session__send_refresh_ack(struct sip_session *s);
void sip_session__on_request_answer(struct sip_session *s, enum sip_tr_event ev,
                                    const osip_message_t *resp);
void sip_session__on_offer(struct sip_session *s, osip_transaction_t *tr, const osip_message_t *req,
                           const struct sip_rx *rx);

#endif
