/*
 * sip_dialog.h - what an established dialog offers its owner beyond hanging up, the same
 * for outbound (sip_session.h) and inbound (sip_uas.h) calls:
 *
 *  - hooks: the far end's offers (re-INVITE, UPDATE: sip_reinvite.h), its other requests
 *    inside the dialog (INFO, NOTIFY), and the end of a session timer without refresh;
 *  - requests of ours inside the dialog (REFER, INFO), one at a time, whose final answer
 *    is reported to a callback.
 */
#ifndef CC_SIP_DIALOG_H
#define CC_SIP_DIALOG_H

#include <stdint.h>

#include "sip_osip.h"
#include "sip_reinvite.h"
#include "sip_transport.h"

struct sip_dialog_hooks {
    sip_offer_cb *offer; /* re-INVITE and UPDATE offers; NULL: 488 */
    /* INFO, NOTIFY and the like: returns the status to answer (200, 481, 489...).
     * NULL: 200 for INFO, 501 for the rest. */
    int (*request)(void *arg, const osip_message_t *req);
    /* RFC 4028: the far end was to refresh the session and did not; our BYE is sent and
     * the dialog is over (no other callback follows). */
    void (*expired)(void *arg, int64_t at_ms);
    void *arg;
};

/* A request of ours inside the dialog. headers: name, value, name, value, ..., NULL. */
struct sip_dialog_req {
    const char *method;
    const char *const *headers;
    const char *content_type; /* with body */
    const char *body;
};

/*
 * The final answer to our request: status (408 on timeout, 503 on a transport failure,
 * resp NULL then). Not called once the dialog's owner has let go of it.
 */
typedef void(sip_dialog_resp_cb)(void *arg, int status, const osip_message_t *resp);

/* Add r's headers to m. Returns 0 or VP_E_INVALID_PARAMETER. */
int sip_dialog_add_headers(osip_message_t *m, const struct sip_dialog_req *r);

#endif
