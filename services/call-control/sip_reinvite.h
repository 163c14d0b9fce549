/*
 * sip_reinvite.h - offers inside an established dialog: the far end's re-INVITE (RFC 3261
 * 14.2) and UPDATE (RFC 3311), e.g. to hold (a=sendonly, a=inactive, c=0.0.0.0), to
 * unhold, to move its media, or to refresh the session (RFC 4028).
 *
 * One struct sip_reinvite per dialog (sip_session.c for outbound calls, sip_uas.c for
 * inbound ones). The owner's offer callback turns the offer into our answer; this file
 * answers the request (200 with the answer, our Contact and the dialog's tag), keeps
 * sending the 2xx of a re-INVITE until its ACK comes (T1 doubling up to T2, 64*T1 in
 * all, RFC 3261 13.3.1.4: the server transaction ends with the 2xx), answers a
 * retransmitted re-INVITE with the same 2xx, and refuses a re-INVITE while another offer
 * exchange is unfinished (our 2xx not yet acknowledged, or our own re-INVITE pending)
 * with 491 (RFC 3261 14.2).
 *
 * Memory: sip_reinvite_free() closes the timer; the struct goes with its close callback.
 */
#ifndef CC_SIP_REINVITE_H
#define CC_SIP_REINVITE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "sip_osip.h"
#include "sip_transport.h"
#include "voepy/buf.h"

struct sip_ua;
struct sip_reinvite;

/*
 * The owner's answer to an offer (sdp, len) of the far end: append our SDP answer to
 * answer, with o= sess-version `version` (raised for each answer). sdp NULL: an INVITE
 * without an offer, or an UPDATE refreshing the session: for an INVITE, append our
 * current SDP (the far end answers in its ACK), for an UPDATE append nothing. Returns 0,
 * or the SIP status to refuse with (488 for an offer we cannot take).
 */
typedef int(sip_offer_cb)(void *arg, const char *sdp, size_t len, uint64_t version,
                          struct buf *answer);

/* The dialog as seen when answering (borrowed for the call). */
struct sip_reinvite_dialog {
    const char *local_tag;
    const char *contact; /* our Contact URI */
    enum sip_proto proto;
};

struct sip_reinvite *sip_reinvite_create(struct sip_ua *ua);
void sip_reinvite_set_cb(struct sip_reinvite *r, sip_offer_cb *cb, void *arg);
/* Our own re-INVITE or UPDATE is pending (a session refresh): theirs get 491 meanwhile. */
void sip_reinvite_set_own_pending(struct sip_reinvite *r, bool pending);
/* Extra header added to our 2xx (e.g. "Session-Expires"), NULL to remove; copied. */
void sip_reinvite_set_header(struct sip_reinvite *r, const char *name, const char *value);
/* An INVITE with a To tag or an UPDATE of the dialog: answered here. */
void sip_reinvite_on_request(struct sip_reinvite *r, osip_transaction_t *tr,
                             const osip_message_t *req, const struct sip_rx *rx,
                             const struct sip_reinvite_dialog *d);
/* An ACK of the dialog; true when it acknowledged our 2xx to a re-INVITE. */
bool sip_reinvite_on_ack(struct sip_reinvite *r, const osip_message_t *ack);
/* Answers given so far (re-INVITEs and UPDATEs with 2xx), for tests and logs. */
unsigned sip_reinvite_count(const struct sip_reinvite *r);
/* Stop retransmitting and free (asynchronously). r may be NULL. */
void sip_reinvite_free(struct sip_reinvite *r);

#endif
