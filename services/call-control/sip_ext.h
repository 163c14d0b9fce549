/*
 * sip_ext.h - SIP extension headers voepy reads: Require/Supported option tags
 * (RFC 3261 8.2.2.3, 20.32), Session-Expires/Min-SE (RFC 4028) and RSeq/RAck (RFC 3262).
 *
 * Pure parsing and decisions on validated messages (sip_msg_validate), no I/O: the dialog
 * files (sip_session.c, sip_uas.c, sip_reinvite.c, sip_timer.c) act on the results.
 */
#ifndef CC_SIP_EXT_H
#define CC_SIP_EXT_H

#include "sip_osip.h"
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

/* What our requests say they support (Supported header value). */
#define SIP_EXT_SUPPORTED "timer, 100rel"
/* What an inbound INVITE may require of us: we do not send reliable provisionals. */
#define SIP_EXT_UAS_SUPPORTED "timer"

/* RFC 4028: our default interval, the smallest we accept, and the floor of the protocol. */
#define SIP_SE_DEFAULT 1800
#define SIP_SE_MIN_SE  90

/*
 * The first option tag of m's Require headers that is not in supported (a comma-separated
 * list such as SIP_EXT_UAS_SUPPORTED), written into out; false when every one is supported
 * (or there is no Require). The caller answers 420 with "Unsupported: <out>".
 */
bool sip_ext_unsupported(const osip_message_t *m, const char *supported, char *out, size_t n);
/* Whether tag is listed in a Require (require true) or Supported header of m. */
bool sip_ext_has(const osip_message_t *m, const char *header, const char *tag);

enum sip_refresher {
    SIP_REFRESHER_NONE, /* not said */
    SIP_REFRESHER_UAC,
    SIP_REFRESHER_UAS,
};

struct sip_session_expires {
    unsigned secs; /* 0 = no Session-Expires */
    enum sip_refresher refresher;
};

/*
 * Session-Expires (or its compact form x) of m: "1800;refresher=uac". Returns 0 (absent:
 * secs 0), or VP_E_PARSE for a malformed value (not a number, or below 1).
 */
int sip_ext_session_expires(const osip_message_t *m, struct sip_session_expires *se);
/* Min-SE of m in seconds, 0 when absent or malformed. */
unsigned sip_ext_min_se(const osip_message_t *m);

/*
 * What a UAC does with the Session-Expires of a 2xx to its INVITE: refresh itself
 * (*we_refresh, every secs/2) or expect the far end's refresh (BYE when none came by
 * secs - min(32, secs/3)). Returns the interval, 0 when the 2xx has no session timer.
 * A 2xx without refresher: the UAC refreshes (RFC 4028 7.2).
 */
unsigned sip_ext_uac_timer(const osip_message_t *resp, bool *we_refresh);
/* Milliseconds after which the refresher refreshes, and the non-refresher gives up. */
uint64_t sip_ext_refresh_ms(unsigned secs);
uint64_t sip_ext_expiry_ms(unsigned secs);

/* Whether m's Allow headers list method. */
bool sip_ext_allows(const osip_message_t *m, const char *method);

/* RSeq of a reliable provisional (RFC 3262 7.1), 0 when absent or malformed. */
uint32_t sip_ext_rseq(const osip_message_t *m);

/*
 * An application/dtmf-relay body ("Signal=5\r\nDuration=250"): the digit (0-9, *, #,
 * A-D; 10 and 11 as * and #), or 0 when it names none. *duration_ms gets Duration, 0 when
 * absent. The body need not be NUL-terminated.
 */
char sip_ext_dtmf_relay(const char *body, size_t len, int *duration_ms);

#endif
