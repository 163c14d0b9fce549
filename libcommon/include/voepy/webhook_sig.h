/*
 * webhook_sig.h - Standard Webhooks signatures.
 *
 * A secret is "whsec_" + base64 of 24-64 random bytes. The signature of a delivery is
 *   "v1," + base64(HMAC-SHA256(key, "<webhook-id>.<webhook-timestamp>.<body>"))
 * sent in the `webhook-signature` header (several space-separated when secrets overlap).
 */
#ifndef VOEPY_WEBHOOK_SIG_H
#define VOEPY_WEBHOOK_SIG_H

#include <stddef.h>
#include <stdint.h>

#define WEBHOOK_SECRET_MAX  128
#define WEBHOOK_SIG_MAX     64 /* "v1," + 44 base64 chars + NUL */
#define WEBHOOK_TOLERANCE_S 300

/* A new secret "whsec_<base64 of 32 random bytes>". */
void webhook_secret_new(char out[WEBHOOK_SECRET_MAX]);
/* Sign; returns 0 or VP_E_INVALID_PARAMETER for a malformed secret. */
int webhook_sign(const char *secret, const char *msg_id, int64_t timestamp_s, const char *body,
                 size_t body_len, char out[WEBHOOK_SIG_MAX]);
/*
 * Verify as a receiver would: the timestamp within WEBHOOK_TOLERANCE_S of now_s, and any
 * "v1,<sig>" of the space-separated signature header matching. Returns 0, VP_E_UNAUTHORIZED
 * (no signature matches), VP_E_TIMEOUT (timestamp out of tolerance) or
 * VP_E_INVALID_PARAMETER (malformed input).
 */
int webhook_verify(const char *secret, const char *msg_id, const char *timestamp,
                   const char *signature_header, const char *body, size_t body_len, int64_t now_s);

#endif
