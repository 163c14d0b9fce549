/*
 * sip_msg.h - building, checking and printing SIP messages (libosip2's parser).
 *
 * Requests are written as text and parsed once, so what goes on the wire is exactly what
 * is written here and the parser checks it. Every message from the network goes through
 * sip_msg_validate() before any header is used: libosip2 parses a message without
 * Call-ID, From, To, CSeq or Via with success and leaves those NULL.
 *
 * Memory: osip_message_t comes from osip_message_init/parse and is freed with
 * osip_message_free by whoever owns it (each function says who).
 */
#ifndef CC_SIP_MSG_H
#define CC_SIP_MSG_H

#include "sip_osip.h"
#include <stdbool.h>
#include <stddef.h>

#define SIP_TOKEN_MAX 64

/* Parse one message; *mp is the caller's. Returns 0 or VP_E_PARSE. */
int sip_msg_parse(const char *data, size_t len, osip_message_t **mp);
/*
 * Check what voepy relies on: a start line, Call-ID, From and To with URIs, a CSeq with a
 * number below 2^31 and a method (equal to the request's method), a top Via with protocol
 * and host, a numeric Max-Forwards when present, a status 100..699 on responses.
 * Returns 0, or VP_E_PARSE with *why set to a static reason.
 */
int sip_msg_validate(const osip_message_t *m, const char **why);
/* The wire form; *out is freed by the caller with osip_free(). Returns 0 or VP_E_INTERNAL. */
int sip_msg_to_text(const osip_message_t *m, char **out, size_t *len);

/* Fresh identifiers (random, URL-safe): a z9hG4bK branch, a tag, a Call-ID @host. */
void sip_msg_new_branch(char *out, size_t n);
void sip_msg_new_tag(char *out, size_t n);
void sip_msg_new_call_id(char *out, size_t n, const char *host);

/* A request, field by field; NULL fields are left out (routes: nroutes entries). */
struct sip_req_spec {
    const char *method;
    const char *ruri;
    const char *via_proto; /* "UDP" | "TCP" */
    const char *via_host;  /* advertised host */
    int via_port;
    const char *branch;
    const char *from_uri, *from_tag; /* "sip:+1555@host" and its tag */
    const char *to_uri, *to_tag;
    const char *call_id;
    unsigned cseq;
    const char *contact; /* URI, e.g. "sip:voepy@127.0.0.1:5060" */
    const char *const *routes;
    size_t nroutes;
    const char *content_type;
    const char *body;
};
/* Build and parse a request; *mp is the caller's. Returns 0 or VP_E_* */
int sip_msg_request(osip_message_t **mp, const struct sip_req_spec *s);
/*
 * A response to req: Via, From, To (adding to_tag when To has none and the status is
 * above 100), Call-ID and CSeq copied. *rp is the caller's. Returns 0 or VP_E_*.
 */
int sip_msg_response(osip_message_t **rp, const osip_message_t *req, int status,
                     const char *to_tag);

/*
 * Host and port of a SIP URI ("sip:user@host:port;params", angle brackets allowed); the
 * port defaults to 5060. Returns 0 or VP_E_PARSE (not a sip: URI, no host).
 */
int sip_msg_uri_hostport(const char *uri, char *host, size_t n, int *port);
/* The Contact URI of m as text (osip_free it), or NULL. */
char *sip_msg_contact_uri(const osip_message_t *m);

/* Accessors for validated messages (borrowed strings, NULL when absent). */
/* Call-ID as sent ("number@host"), written into buf; returns buf, or NULL when absent. */
#define SIP_CALL_ID_MAX 256
const char *sip_msg_call_id(const osip_message_t *m, char *buf, size_t n);
const char *sip_msg_from_tag(const osip_message_t *m);
const char *sip_msg_to_tag(const osip_message_t *m);
const char *sip_msg_cseq_method(const osip_message_t *m);
unsigned sip_msg_cseq_number(const osip_message_t *m);
/* The first body, or NULL; *len its length. */
const char *sip_msg_body(const osip_message_t *m, size_t *len);
/* True when the message's Content-Type is application/sdp. */
bool sip_msg_has_sdp(const osip_message_t *m);

#endif
