/*
 * sdp.h - the SDP offer voepy sends and the answer it accepts (RFC 4566, RFC 3264).
 *
 * We offer one audio stream with the configured codecs in order (VOEPY_CODECS, default
 * "PCMU,PCMA,G722,OPUS": G.711 first, as carriers expect) - PCMU 0, PCMA 8, G722 9 (clock
 * 8000 per RFC 3551), OPUS 111 ("opus/48000/2", RFC 7587) - and telephone-event (101),
 * ptime 20, sendrecv. An answer must accept that stream with a port and one of our codecs;
 * the codec we use is the first of the answer's payload types that is one of ours. An
 * inbound offer is read the same way (sdp_uas.h): the first of the caller's codecs that
 * we speak, in the caller's order (RFC 3264 6.1 lets the answerer keep the offer's
 * preference, which is what the far end asked for).
 */
#ifndef CC_SDP_H
#define CC_SDP_H

#include <stdbool.h>
#include <stdint.h>

#include "voepy/buf.h"

#define SDP_MAX_LEN 8192 /* longest answer we parse */
#define SDP_DTMF_PT 101
#define SDP_OPUS_PT 111 /* the dynamic payload type we offer Opus with */

/*
 * The codecs we offer and accept, by name, comma-separated, in our order of preference
 * (case-insensitive: PCMU, PCMA, G722, OPUS). Call once at start-up (before any offer);
 * the default is "PCMU,PCMA,G722,OPUS". Returns 0, or VP_E_INVALID_PARAMETER for an
 * unknown or repeated name or an empty list (the setting is then unchanged).
 */
int sdp_codecs_set(const char *csv);

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
    int payload_type; /* chosen: 0, 8, 9 or Opus's dynamic type */
    char codec[8];    /* "PCMU" | "PCMA" | "G722" | "OPUS" */
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
/* The a=rtpmap encoding of one of our codec names: "G722/8000", "opus/48000/2"; NULL if
 * not ours. */
const char *sdp_codec_rtpmap(const char *codec);
/* Whether payload type pt may carry codec: its static type, or a dynamic one (96-127)
 * for OPUS. */
bool sdp_codec_pt_ok(const char *codec, int pt);

#endif
