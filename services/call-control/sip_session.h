/*
 * sip_session.h - one outbound INVITE dialog (UAC side), RFC 3261 12-17.
 *
 * sip_session_connect() sends the INVITE (again with credentials when the far end
 * challenges it, see sip_connect_opts.auth); the owner's callback reports provisional
 * answers, the 2xx (the ACK is already sent: a 2xx ACK is end-to-end, outside any
 * transaction, and is sent again for every retransmitted 2xx), a final failure, or the
 * far end's BYE (already answered 200).
 *
 * An 18x with a To tag makes the early dialog (RFC 3261 12.1.2: its Contact as target,
 * its Record-Route reversed as route set), in which a reliable provisional is PRACKed
 * (RFC 3262) and the far end's UPDATE is answered (RFC 3311) before the 2xx.
 *
 * sip_session_terminate() is the owner's last word: it hangs up whatever the state (a
 * CANCEL as soon as the far end has answered provisionally, an ACK and a BYE for a 2xx
 * that crosses the CANCEL, a BYE once confirmed), never calls back again, and frees the
 * session once its transactions are done. It may be called from inside the callback.
 */
#ifndef CC_SIP_SESSION_H
#define CC_SIP_SESSION_H

#include <stddef.h>
#include <stdint.h>

#include "sip_auth.h"
#include "sip_dialog.h"
#include "sip_transport.h"

struct sip_ua;
struct sip_session;

enum sip_session_event {
    SIP_SESS_PROGRESS, /* 101-199: status, sdp when early media is offered (a reliable
                          provisional's retransmission is not reported again) */
    SIP_SESS_ANSWERED, /* 2xx: status, sdp (the answer) */
    SIP_SESS_FAILED,   /* final failure: status (408 on timeout, 503 on transport failure) */
    SIP_SESS_CLOSED,   /* the far end hung up (BYE) */
};

struct sip_session_info {
    int status;
    const char *sdp; /* borrowed, NULL when none */
    size_t sdp_len;
    int64_t at_ms; /* when the message arrived (epoch ms), or when the timer fired */
    bool local;    /* FAILED: no answer came, status stands for a timeout (408) or a
                      transport failure (503) detected here */
};

typedef void(sip_session_cb)(struct sip_session *s, enum sip_session_event ev,
                             const struct sip_session_info *info, void *arg);

struct sip_connect_opts {
    const char *ruri;      /* Request-URI, e.g. "sip:+15558675309@127.0.0.1:5080" */
    const char *to_uri;    /* To, e.g. "sip:+15558675309@127.0.0.1" */
    const char *from_user; /* user part of From: sip:<from_user>@<advertised host> */
    enum sip_proto proto;
    const char *dest_ip; /* next hop (an IP literal) and its port */
    int dest_port;
    const char *sdp; /* the offer */
    /* Digest credentials (copied): a 401/407 is answered by a new INVITE (CSeq + 1, same
     * Call-ID and From tag) with Authorization / Proxy-Authorization, once per challenge:
     * a new challenge of the same kind and realm after we answered one fails the call
     * (the credentials were refused) unless it says stale=true. NULL: 401/407 fail it. */
    const struct sip_auth_creds *auth;
    unsigned timer_b_ms; /* give up on a silent far end after this; 0 = 64*T1 (32 s) */
};

/* Returns 0 (the INVITE is on its way) or VP_E_*; *sp is set on success only. */
int sip_session_connect(struct sip_session **sp, struct sip_ua *ua,
                        const struct sip_connect_opts *o, sip_session_cb *cb, void *arg);
/* Hang up and let go (see above). s must not be used afterwards. */
void sip_session_terminate(struct sip_session *s);
/*
 * The owner's hooks for the confirmed dialog (sip_dialog.h): re-INVITE/UPDATE offers
 * (RFC 4028 session timers are kept here: Session-Expires of the 2xx, our refreshes,
 * BYE and hooks.expired when the far end's refresh does not come), INFO and NOTIFY. The
 * offer hook also answers an UPDATE in the early dialog (RFC 3311), before the 2xx.
 * Copied; may be set at any time after connect.
 */
void sip_session_set_hooks(struct sip_session *s, const struct sip_dialog_hooks *h);
/*
 * Send a request of ours in the confirmed dialog (REFER, INFO); cb(arg, ...) gets its final
 * answer. One at a time: VP_E_CONFLICT while one is pending, VP_E_CALL_NOT_IN_REQUIRED_STATE
 * before the 2xx or after the end. Returns 0 or VP_E_*.
 */
int sip_session_request(struct sip_session *s, const struct sip_dialog_req *r,
                        sip_dialog_resp_cb *cb, void *arg);
const char *sip_session_call_id(const struct sip_session *s);

#endif
