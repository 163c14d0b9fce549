/*
 * leg_ids.h - sizes of the identifiers that travel with a leg, and its counters.
 *
 * Ids come from stream messages; longer ones are refused when the command is parsed, so
 * fixed buffers never truncate silently.
 */
#ifndef MF_LEG_IDS_H
#define MF_LEG_IDS_H

#include <stdint.h>

#define LEG_ID_MAX 64  /* voepy_leg_<ULID> is 36 */
#define STREAM_MAX 160 /* "voepy:cc:" + a node id of up to 127 */

/* What a leg counted; reported in media.released. Bytes are whole RTP datagrams. */
struct leg_counters {
    uint64_t packets_in, bytes_in;   /* valid RTP from the far end */
    uint64_t packets_out, bytes_out; /* RTP we sent */
    uint64_t rtcp_in;                /* valid RTCP compound packets */
    uint64_t invalid_in;             /* datagrams refused (malformed, foreign source) */
};

#endif
