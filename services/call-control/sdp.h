/*
 * sdp.h - the SDP offer voepy sends and the answer it accepts (RFC 4566, RFC 3264).
 *
 * We offer one audio stream: PCMU (0), PCMA (8) and telephone-event (101), ptime 20,
 * sendrecv. An answer must accept that stream with a port and one of our two codecs; the
 * codec we use is the first of the answer's payload types that we offered.
 */
#ifndef CC_SDP_H
#define CC_SDP_H

#include <stdint.h>

#include "voepy/buf.h"

#define SDP_MAX_LEN 8192 /* longest answer we parse */
#define SDP_DTMF_PT 101

struct sdp_offer_params {
    const char *ip;      /* media-fork's IP (IPv4 or IPv6 literal) */
    int port;            /* its RTP port */
    uint64_t session_id; /* o= sess-id, e.g. the epoch ms of the offer */
    uint64_t version;    /* o= sess-version, raised with each new offer */
};

/* Append the offer to out. Returns 0 or VP_E_INVALID_PARAMETER. */
int sdp_build_offer(struct buf *out, const struct sdp_offer_params *p);

enum sdp_dir { SDP_SENDRECV, SDP_SENDONLY, SDP_RECVONLY, SDP_INACTIVE };

struct sdp_answer {
    char ip[46];      /* c= address (media level, else session level) */
    int port;         /* m= port */
    int payload_type; /* chosen: 0 or 8 */
    char codec[8];    /* "PCMU" | "PCMA" */
    int ptime;        /* a=ptime, 20 when absent */
    int dtmf_pt;      /* telephone-event payload type, -1 when not accepted */
    enum sdp_dir dir;
};

/*
 * Parse an answer. Returns 0, VP_E_PARSE (not SDP, no audio stream, no address) or
 * VP_E_INVALID_PARAMETER (stream rejected with port 0, no codec in common).
 */
int sdp_parse_answer(const char *body, size_t len, struct sdp_answer *a);
const char *sdp_dir_name(enum sdp_dir d);

#endif
