/*
 * webhook_sig.h - signing and verifying webhook deliveries.
 *
 * Three schemes, all over the exact body bytes:
 *
 *   Standard Webhooks v1   "v1," + base64(HMAC-SHA256(key, "<id>.<timestamp>.<body>"))
 *                          where the secret is "whsec_" + base64(key), key 24-64 bytes
 *   Standard Webhooks v1a  "v1a," + base64(Ed25519 signature of "<id>.<timestamp>.<body>")
 *                          with the endpoint's key pair: "whsk_" + base64(libsodium's
 *                          64-byte secret key), "whpk_" + base64(the 32-byte public key)
 *   voepy-signature        "t=<timestamp>,v1=<hex HMAC-SHA256(secret, "<t>.<body>")>", the
 *                          HMAC keyed with the whole secret string "whsec_..." (as receivers
 *                          written for the t=,v1= scheme use it), one v1= per secret
 *
 * The v1/v1a signatures of one delivery go space-separated into the `webhook-signature`
 * header: one v1 per secret (current, then previous during a rotation overlap) and one
 * v1a when the endpoint has a key pair. Verifiers accept when any signature of theirs
 * matches, compare in constant time, and allow WEBHOOK_TOLERANCE_S of clock difference.
 *
 * crypto_init() must have run. Only the Ed25519 functions allocate (a copy of the signed
 * content, which pure Ed25519 needs in one piece), and free it before returning.
 */
#ifndef VOEPY_WEBHOOK_SIG_H
#define VOEPY_WEBHOOK_SIG_H

#include <stddef.h>
#include <stdint.h>

#define WEBHOOK_SECRET_MAX     128
#define WEBHOOK_SIG_MAX        64  /* "v1," + 44 base64 chars + NUL */
#define WEBHOOK_SIG_V1A_MAX    96  /* "v1a," + 88 base64 chars + NUL */
#define WEBHOOK_SIG_HEADER_MAX 256 /* two v1 and one v1a, space-separated, + NUL */
#define WEBHOOK_VOEPY_SIG_MAX  192 /* "t=<20 digits>,v1=<64 hex>,v1=<64 hex>" + NUL */
#define WEBHOOK_ED25519_SK_MAX 96  /* "whsk_" + 88 base64 chars + NUL */
#define WEBHOOK_ED25519_PK_MAX 52  /* "whpk_" + 44 base64 chars + NUL */
#define WEBHOOK_TOLERANCE_S    300

/* What a delivery is signed with; NULL (or "") members are left out. */
struct webhook_keys {
    const char *secret;             /* "whsec_...", required */
    const char *previous_secret;    /* "whsec_..." during a rotation overlap */
    const char *ed25519_secret_key; /* "whsk_..." when the endpoint asked for v1a */
};

/* A new secret "whsec_<base64 of 32 random bytes>". */
void webhook_secret_new(char out[WEBHOOK_SECRET_MAX]);
/* A new Ed25519 key pair as "whsk_..." and "whpk_..." (libsodium crypto_sign_keypair). */
void webhook_ed25519_keypair_new(char sk[WEBHOOK_ED25519_SK_MAX], char pk[WEBHOOK_ED25519_PK_MAX]);

/* One "v1,<b64>"; returns 0 or VP_E_INVALID_PARAMETER for a malformed secret. */
int webhook_sign(const char *secret, const char *msg_id, int64_t timestamp_s, const char *body,
                 size_t body_len, char out[WEBHOOK_SIG_MAX]);
/* One "v1a,<b64>"; returns 0 or VP_E_INVALID_PARAMETER for a malformed "whsk_" key. */
int webhook_sign_ed25519(const char *secret_key, const char *msg_id, int64_t timestamp_s,
                         const char *body, size_t body_len, char out[WEBHOOK_SIG_V1A_MAX]);
/*
 * The whole `webhook-signature` value for keys: "v1,<current> [v1,<previous>] [v1a,<sig>]".
 * Returns 0 or VP_E_INVALID_PARAMETER when any key given is malformed (out is "").
 */
int webhook_sign_header(const struct webhook_keys *keys, const char *msg_id, int64_t timestamp_s,
                        const char *body, size_t body_len, char out[WEBHOOK_SIG_HEADER_MAX]);
/*
 * The `voepy-signature` value: "t=<ts>,v1=<hex current>[,v1=<hex previous>]" (the Ed25519
 * key is not used). Returns 0 or VP_E_INVALID_PARAMETER for a secret not "whsec_...".
 */
int webhook_sign_voepy(const struct webhook_keys *keys, int64_t timestamp_s, const char *body,
                       size_t body_len, char out[WEBHOOK_VOEPY_SIG_MAX]);

/*
 * Verify as a receiver would: the timestamp within WEBHOOK_TOLERANCE_S of now_s, and any
 * "v1,<sig>" of the space-separated signature header matching (other versions are
 * skipped). Returns 0, VP_E_UNAUTHORIZED (no signature matches), VP_E_TIMEOUT (timestamp
 * out of tolerance) or VP_E_INVALID_PARAMETER (malformed input).
 */
int webhook_verify(const char *secret, const char *msg_id, const char *timestamp,
                   const char *signature_header, const char *body, size_t body_len, int64_t now_s);
/* The same for "v1a,<sig>" tokens with a "whpk_" public key. */
int webhook_verify_ed25519(const char *public_key, const char *msg_id, const char *timestamp,
                           const char *signature_header, const char *body, size_t body_len,
                           int64_t now_s);
/*
 * Verify a `voepy-signature` value ("t=..,v1=..[,v1=..]", in any order, unknown keys
 * skipped) with secret: same results as webhook_verify.
 */
int webhook_verify_voepy(const char *secret, const char *header, const char *body, size_t body_len,
                         int64_t now_s);

#endif
