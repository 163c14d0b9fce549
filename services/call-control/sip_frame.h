/*
 * sip_frame.h - cutting SIP messages out of a byte stream (TCP).
 *
 * On a stream transport a message ends after its headers' blank line plus Content-Length
 * bytes of body (RFC 3261 18.3), so Content-Length is mandatory there. CRLF keep-alives
 * (RFC 5626 "\r\n\r\n" pings) between messages are skipped. Every length comes from the
 * peer and is checked against the caller's bound before it is trusted.
 */
#ifndef CC_SIP_FRAME_H
#define CC_SIP_FRAME_H

#include <stddef.h>

#define SIP_FRAME_MAX_HEADERS 16384 /* bytes of start line + headers */
#define SIP_FRAME_MAX_BODY    49152 /* bytes of body (SDP is a few hundred) */

/*
 * Look at data[0..len). Sets *skip to the keep-alive bytes to drop first and *msg_len to
 * the length of the complete message that follows them, or 0 when more bytes are needed.
 * Returns 0, VP_E_PARSE (no or conflicting Content-Length, bad value) or VP_E_OVERFLOW
 * (headers or body larger than the bounds above): the caller closes the connection.
 */
int sip_frame_next(const char *data, size_t len, size_t *skip, size_t *msg_len);

#endif
