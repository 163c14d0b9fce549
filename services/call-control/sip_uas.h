/*
 * sip_uas.h - one inbound INVITE dialog (UAS side), RFC 3261 12-17.
 *
 * The user agent (sip_ua.h) makes a struct sip_uas for every new INVITE, answers 100
 * Trying, and hands it to the handler set with sip_ua_on_invite(). The handler either
 * takes the session (sip_uas_bind) or refuses it (sip_uas_end with a final status), at
 * once or later; until then the INVITE waits.
 *
 * The owner rings (180), may send early media (183 with its SDP answer), answers (200
 * with the SDP answer, retransmitted with T1 doubling up to T2 until the ACK comes, RFC
 * 3261 13.3.1.4), and hears about: the ACK
 * (CONFIRMED), the caller's CANCEL before the answer (CANCELED: 200 to the CANCEL and 487
 * to the INVITE are already sent), the caller's BYE (CLOSED: already answered 200), and
 * a 2xx never acknowledged in 64*T1 (FAILED).
 *
 * sip_uas_end() is the owner's last word: a final response to an INVITE not yet answered,
 * a BYE (as the UAS of the dialog) once answered (after the ACK, or after giving up on
 * it), never a callback again; the session frees itself once its BYE transaction is done.
 * It may be called from inside the callback.
 */
#ifndef CC_SIP_UAS_H
#define CC_SIP_UAS_H

#include <stddef.h>
#include <stdint.h>

#include "sip_dialog.h"

struct sip_uas;

enum sip_uas_event {
    SIP_UAS_CONFIRMED, /* the ACK of our 2xx: the dialog is up */
    SIP_UAS_CANCELED,  /* the caller canceled before our final answer */
    SIP_UAS_CLOSED,    /* the caller hung up (BYE) after our 2xx */
    SIP_UAS_FAILED,    /* our 2xx was never acknowledged, or the INVITE can no longer be
                          answered (libosip2 ended its transaction after a failed send) */
};

typedef void(sip_uas_cb)(struct sip_uas *u, enum sip_uas_event ev, int64_t at_ms, void *arg);

/* What a new INVITE asks for; every pointer is borrowed for the handler's call only. */
struct sip_uas_offer {
    const char *from_user; /* user part of From ("" when none) */
    const char *to_user;   /* user part of the Request-URI, else of To ("" when none) */
    const char *sdp;       /* the offer, NULL when the INVITE has none */
    size_t sdp_len;
    const char *call_id; /* the dialog's Call-ID */
    int64_t at_ms;       /* when the INVITE arrived */
};

/* The handler of new INVITEs (sip_ua_on_invite). */
typedef void(sip_uas_invite_cb)(struct sip_uas *u, const struct sip_uas_offer *o, void *arg);

/* The owner takes the session: cb reports its events until sip_uas_end(). */
void sip_uas_bind(struct sip_uas *u, sip_uas_cb *cb, void *arg);
/* 180 Ringing (once, before the final answer). Returns 0 or VP_E_*. */
int sip_uas_ringing(struct sip_uas *u);
/*
 * 183 Session Progress with this SDP answer (early media, RFC 3261 13.3.1.1, RFC 3264):
 * sent unreliably (we do not do 100rel), as often as asked, before the final answer. The
 * 200 must then carry the same answer. Returns 0 or VP_E_* (VP_E_CLOSED once answered,
 * canceled or ended).
 */
int sip_uas_progress(struct sip_uas *u, const char *sdp);
/* 200 OK with this SDP answer. Returns 0 or VP_E_* (e.g. the caller canceled meanwhile). */
int sip_uas_answer(struct sip_uas *u, const char *sdp);
/* Hang up and let go (see above): status is the final answer (300-699) when the INVITE
 * has not been answered yet. u must not be used afterwards. */
void sip_uas_end(struct sip_uas *u, int status);
const char *sip_uas_call_id(const struct sip_uas *u);
/*
 * The owner's hooks for the dialog once confirmed (sip_dialog.h): the caller's re-INVITE
 * and UPDATE offers, INFO and NOTIFY, the end of a session timer (RFC 4028: an INVITE with
 * Session-Expires gets it in our 200, with Require: timer when the caller supports it;
 * the refresher is the caller unless it asked us or cannot). Copied; set at bind time.
 */
void sip_uas_set_hooks(struct sip_uas *u, const struct sip_dialog_hooks *h);
/* A request of ours in the confirmed dialog, as sip_session_request(). */
int sip_uas_request(struct sip_uas *u, const struct sip_dialog_req *r, sip_dialog_resp_cb *cb,
                    void *arg);

#endif
