/*
 * sdp_uas.h - the SDP answer voepy gives to an inbound call's offer (RFC 3264 6).
 *
 * The caller's offer is read with sdp_parse_answer() (sdp.h): the same checks apply (an
 * audio stream with a port, one of our codecs among its formats) and it picks the first
 * of the offer's formats that we speak (the caller's order; VOEPY_CODECS says which we
 * speak). The answer accepts exactly that one codec with the offer's payload type (Opus:
 * its dynamic type, "opus/48000/2"), plus
 * telephone-event when the offer had it (with the offer's payload type), on media-fork's
 * address, ptime 20, sendrecv (or the direction a re-offer's answer mirrors, sip_reinvite.h).
 */
#ifndef CC_SDP_UAS_H
#define CC_SDP_UAS_H

#include <stdint.h>

#include "sdp.h"
#include "voepy/buf.h"

struct sdp_answer_params {
    const char *ip;                 /* media-fork's IP (IPv4 or IPv6 literal) */
    int port;                       /* its RTP port */
    uint64_t session_id;            /* o= sess-id */
    const struct sdp_answer *offer; /* the caller's offer, as parsed */
    enum sdp_dir dir;               /* a=; SDP_SENDRECV (0) unless a re-offer holds the call */
    uint64_t version;               /* o= sess-version; 0 means 1 (raised per re-answer) */
};

/* Append the answer to out. Returns 0 or VP_E_INVALID_PARAMETER. */
int sdp_build_answer(struct buf *out, const struct sdp_answer_params *p);

#endif
