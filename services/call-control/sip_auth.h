/*
 * sip_auth.h - answering a trunk's digest challenge (RFC 3261 22, RFC 2617, RFC 8760).
 *
 * A 401 (WWW-Authenticate) or 407 (Proxy-Authenticate) may offer several challenges;
 * sip_auth_pick() keeps the strongest one we can answer (SHA-256 over MD5; qop=auth or no
 * qop; auth-int alone and unknown algorithms are not answered), and sip_auth_header()
 * writes the Authorization / Proxy-Authorization value for a request.
 *
 * Hashes: SHA-256 is libsodium's (voepy/crypto.h). MD5 is libosipparser2's own
 * osip_MD5* (the RSA reference implementation that libosip2 and eXosip2 authenticate
 * with), already linked into call-control: no third copy of MD5, and no OpenSSL.
 */
#ifndef CC_SIP_AUTH_H
#define CC_SIP_AUTH_H

#include "sip_osip.h"
#include <stdbool.h>
#include <stddef.h>

enum sip_auth_alg {
    SIP_AUTH_MD5,    /* RFC 2617 (also when the challenge names no algorithm) */
    SIP_AUTH_SHA256, /* RFC 8760: algorithm=SHA-256 */
};

#define SIP_AUTH_FIELD_MAX 256

struct sip_auth_challenge {
    enum sip_auth_alg alg;
    bool proxy;    /* a 407's Proxy-Authenticate: answer with Proxy-Authorization */
    bool qop_auth; /* qop=auth offered: answer with cnonce and nc */
    bool stale;    /* stale=true: the nonce expired, the credentials were right */
    char realm[SIP_AUTH_FIELD_MAX];
    char nonce[SIP_AUTH_FIELD_MAX];
    char opaque[SIP_AUTH_FIELD_MAX]; /* "" when none */
};

/* What a route authenticates with; realm NULL or "" answers any realm. */
struct sip_auth_creds {
    const char *username;
    const char *password;
    const char *realm;
};

/*
 * The challenge to answer in a 401/407 resp (borrowed): the strongest Digest challenge
 * whose realm matches creds->realm (when set). Returns 0, or VP_E_NOT_FOUND when no
 * challenge can be answered.
 */
int sip_auth_pick(const osip_message_t *resp, const struct sip_auth_creds *creds,
                  struct sip_auth_challenge *ch);

/*
 * The header value answering ch for a request (method, Request-URI) with these
 * credentials: nc is the nonce count (1 for the first use of a nonce), cnonce the
 * client nonce (used with qop=auth only; NULL makes a fresh random one). Returns a
 * string the caller frees, or NULL when a field is too long or holds a quote.
 */
char *sip_auth_header(const struct sip_auth_challenge *ch, const struct sip_auth_creds *creds,
                      const char *method, const char *uri, unsigned nc, const char *cnonce);

/* The hex digest of data with alg (33 or 65 bytes with the NUL): for tests. */
#define SIP_AUTH_HEX_MAX 65
void sip_auth_hash_hex(enum sip_auth_alg alg, const char *data, size_t len,
                       char out[SIP_AUTH_HEX_MAX]);

#endif
