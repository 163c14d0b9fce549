/*
 * wh_request.h - what goes on the wire with a delivery, apart from the body.
 *
 * Standard Webhooks headers: webhook-id (the event id, the receiver's dedup key, the same
 * on every attempt), webhook-timestamp (unix seconds of this attempt) and
 * webhook-signature ("v1,<base64 HMAC-SHA256 of id.timestamp.body>" with the current
 * secret, a second v1 with the previous secret during a rotation overlap, and "v1a,<base64
 * Ed25519 signature>" when the endpoint has a key pair: webhook_sig.h); voepy-signature
 * ("t=<ts>,v1=<hex>[,v1=<hex>]" for receivers of that older scheme); content-type. The
 * user agent is the HTTP client's (voepy-webhooks/1). Also the text we keep of an answer:
 * at most 1 KiB of valid UTF-8.
 */
#ifndef VOEPY_WH_REQUEST_H
#define VOEPY_WH_REQUEST_H

#include <stddef.h>
#include <stdint.h>

#include "voepy/webhook_sig.h"

#define WH_USER_AGENT    "voepy-webhooks/1"
#define WH_RESPONSE_KEEP 1024 /* bytes of a response body kept in webhook_attempts */
#define WH_EVENT_ID_MAX  128

struct wh_headers {
    char id[WH_EVENT_ID_MAX + 16];
    char timestamp[48];
    char signature[WEBHOOK_SIG_HEADER_MAX + 32];
    char voepy[WEBHOOK_VOEPY_SIG_MAX + 32];
    const char *list[6]; /* NULL-terminated, for httpc_request.headers */
};

/*
 * Fill h for one attempt, signed with keys (the claim's secret, previous_secret and
 * ed25519_secret_key). Returns 0, or VP_E_INVALID_PARAMETER for a malformed key or an
 * event id that is too long or holds characters that cannot go in a header.
 */
int wh_headers_build(struct wh_headers *h, const char *event_id, const struct webhook_keys *keys,
                     const char *body, size_t body_len, int64_t now_s);

/*
 * Copy at most max bytes of in (len bytes, any content) into out (max + 1 bytes) as
 * valid UTF-8 without NUL: each invalid byte (a NUL, a stray continuation byte, a
 * character cut short at the end of in) becomes '?'; a character that would cross max is
 * left out. Returns the length written. PostgreSQL text refuses anything else.
 */
size_t wh_text_sanitize(const char *in, size_t len, char *out, size_t max);

#endif
