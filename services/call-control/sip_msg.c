#include "sip_msg.h"

#include <ctype.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "voepy/buf.h"
#include "voepy/crypto.h"
#include "voepy/err.h"

int sip_msg_parse(const char *data, size_t len, osip_message_t **mp)
{
    osip_message_t *m;
    if (osip_message_init(&m) != 0)
        return VP_E_INTERNAL;
    if (osip_message_parse(m, data, len) != 0) {
        osip_message_free(m);
        return VP_E_PARSE;
    }
    *mp = m;
    return 0;
}

static bool all_digits(const char *s, size_t max)
{
    size_t n = s ? strlen(s) : 0;
    if (n == 0 || n > max)
        return false;
    for (size_t i = 0; i < n; i++)
        if (!isdigit((unsigned char)s[i]))
            return false;
    return true;
}

static const char *check_start_line(const osip_message_t *m)
{
    if (!m->sip_version)
        return "no SIP version";
    if (MSG_IS_REQUEST(m))
        return m->req_uri ? NULL : "no Request-URI";
    if (m->status_code < 100 || m->status_code > 699)
        return "status code out of range";
    return NULL;
}

static const char *check_dialog_headers(const osip_message_t *m)
{
    if (!m->call_id || !m->call_id->number || !*m->call_id->number)
        return "no Call-ID";
    if (!m->from || !m->from->url)
        return "no From";
    if (!m->to || !m->to->url)
        return "no To";
    if (!m->cseq || !m->cseq->method || !all_digits(m->cseq->number, 10))
        return "no or bad CSeq";
    if (strtoul(m->cseq->number, NULL, 10) >= 2147483648UL)
        return "CSeq number too large";
    if (MSG_IS_REQUEST(m) && strcmp(m->cseq->method, m->sip_method) != 0)
        return "CSeq method differs from the request method";
    return NULL;
}

static const char *check_via_and_hops(const osip_message_t *m)
{
    osip_via_t *via = osip_list_get(&m->vias, 0);
    if (!via || !via->protocol || !via->host)
        return "no Via";
    osip_header_t *mf = NULL;
    osip_message_get_max_forwards((osip_message_t *)m, 0, &mf);
    if (mf && !all_digits(mf->hvalue, 3))
        return "bad Max-Forwards";
    return NULL;
}

int sip_msg_validate(const osip_message_t *m, const char **why)
{
    const char *reason = check_start_line(m);
    if (!reason)
        reason = check_dialog_headers(m);
    if (!reason)
        reason = check_via_and_hops(m);
    if (why)
        *why = reason;
    return reason ? VP_E_PARSE : 0;
}

int sip_msg_to_text(const osip_message_t *m, char **out, size_t *len)
{
    if (osip_message_to_str((osip_message_t *)m, out, len) != 0)
        return VP_E_INTERNAL;
    return 0;
}

void sip_msg_new_branch(char *out, size_t n)
{
    char rnd[25];
    crypto_random_token(rnd, 24);
    snprintf(out, n, "z9hG4bK%s", rnd);
}

void sip_msg_new_tag(char *out, size_t n)
{
    char rnd[17];
    crypto_random_token(rnd, 16);
    snprintf(out, n, "%s", rnd);
}

void sip_msg_new_call_id(char *out, size_t n, const char *host)
{
    char rnd[33];
    crypto_random_token(rnd, 32);
    snprintf(out, n, "%s@%s", rnd, host);
}

/* IPv6 literals are bracketed in Via and URIs. */
static void put_host(struct buf *b, const char *host)
{
    if (strchr(host, ':'))
        buf_printf(b, "[%s]", host);
    else
        buf_puts(b, host);
}

static void put_tagged(struct buf *b, const char *name, const char *uri, const char *tag)
{
    buf_printf(b, "%s: <%s>", name, uri);
    if (tag)
        buf_printf(b, ";tag=%s", tag);
    buf_puts(b, "\r\n");
}

static void put_request_head(struct buf *b, const struct sip_req_spec *s)
{
    buf_printf(b, "%s %s SIP/2.0\r\nVia: SIP/2.0/%s ", s->method, s->ruri, s->via_proto);
    put_host(b, s->via_host);
    buf_printf(b, ":%d;branch=%s;rport\r\nMax-Forwards: 70\r\n", s->via_port, s->branch);
    put_tagged(b, "From", s->from_uri, s->from_tag);
    put_tagged(b, "To", s->to_uri, s->to_tag);
    buf_printf(b, "Call-ID: %s\r\nCSeq: %u %s\r\n", s->call_id, s->cseq, s->method);
    if (s->contact)
        buf_printf(b, "Contact: <%s>\r\n", s->contact);
    for (size_t i = 0; i < s->nroutes; i++)
        buf_printf(b, "Route: %s\r\n", s->routes[i]);
    if (strcmp(s->method, "INVITE") == 0)
        buf_puts(b, "Allow: INVITE, ACK, CANCEL, BYE, OPTIONS, UPDATE, INFO, REFER, NOTIFY, "
                    "PRACK\r\nSupported: timer, 100rel\r\n");
    buf_puts(b, "User-Agent: voepy\r\n");
}

int sip_msg_request(osip_message_t **mp, const struct sip_req_spec *s)
{
    if (!s->method || !s->ruri || !s->via_proto || !s->via_host || !s->branch || !s->from_uri ||
        !s->to_uri || !s->call_id)
        return VP_E_INVALID_PARAMETER;
    struct buf b = BUF_INIT;
    put_request_head(&b, s);
    size_t body_len = s->body ? strlen(s->body) : 0;
    if (s->content_type && s->body)
        buf_printf(&b, "Content-Type: %s\r\n", s->content_type);
    buf_printf(&b, "Content-Length: %zu\r\n\r\n", body_len);
    if (body_len)
        buf_append(&b, s->body, body_len);
    int err = sip_msg_parse(b.data, b.len, mp);
    buf_free(&b);
    if (err)
        return VP_E_INVALID_PARAMETER;
    const char *why;
    if (sip_msg_validate(*mp, &why)) {
        osip_message_free(*mp);
        *mp = NULL;
        return VP_E_INVALID_PARAMETER;
    }
    return 0;
}

static int copy_dialog_headers(osip_message_t *r, const osip_message_t *req)
{
    osip_message_t *q = (osip_message_t *)req;
    if (osip_list_clone(&q->vias, &r->vias, (int (*)(void *, void **))osip_via_clone) != 0)
        return VP_E_INTERNAL;
    if (osip_from_clone(q->from, &r->from) || osip_to_clone(q->to, &r->to))
        return VP_E_INTERNAL;
    if (osip_call_id_clone(q->call_id, &r->call_id) || osip_cseq_clone(q->cseq, &r->cseq))
        return VP_E_INTERNAL;
    return 0;
}

int sip_msg_response(osip_message_t **rp, const osip_message_t *req, int status, const char *to_tag)
{
    if (status < 100 || status > 699 || sip_msg_validate(req, NULL))
        return VP_E_INVALID_PARAMETER;
    osip_message_t *r;
    if (osip_message_init(&r) != 0)
        return VP_E_INTERNAL;
    osip_message_set_version(r, osip_strdup("SIP/2.0"));
    osip_message_set_status_code(r, status);
    const char *reason = osip_message_get_reason(status);
    osip_message_set_reason_phrase(r, osip_strdup(reason ? reason : "Unknown"));
    int err = copy_dialog_headers(r, req);
    if (!err && status > 100 && to_tag && !sip_msg_to_tag(r))
        err = osip_to_set_tag(r->to, osip_strdup(to_tag)) ? VP_E_INTERNAL : 0;
    if (!err)
        osip_message_set_header(r, "User-Agent", "voepy");
    if (err) {
        osip_message_free(r);
        return err;
    }
    *rp = r;
    return 0;
}

const char *sip_msg_call_id(const osip_message_t *m, char *buf, size_t n)
{
    if (!m->call_id || !m->call_id->number)
        return NULL;
    if (m->call_id->host)
        snprintf(buf, n, "%s@%s", m->call_id->number, m->call_id->host);
    else
        snprintf(buf, n, "%s", m->call_id->number);
    return buf;
}

static const char *tag_of(osip_from_t *h)
{
    osip_generic_param_t *tag = NULL;
    if (!h)
        return NULL;
    osip_from_get_tag(h, &tag);
    return tag && tag->gvalue ? tag->gvalue : NULL;
}

const char *sip_msg_from_tag(const osip_message_t *m)
{
    return tag_of(m->from);
}

const char *sip_msg_to_tag(const osip_message_t *m)
{
    return tag_of(m->to);
}

const char *sip_msg_cseq_method(const osip_message_t *m)
{
    return m->cseq ? m->cseq->method : NULL;
}

unsigned sip_msg_cseq_number(const osip_message_t *m)
{
    return m->cseq && m->cseq->number ? (unsigned)strtoul(m->cseq->number, NULL, 10) : 0;
}

const char *sip_msg_body(const osip_message_t *m, size_t *len)
{
    osip_body_t *body = NULL;
    osip_message_get_body((osip_message_t *)m, 0, &body);
    if (!body || !body->body) {
        *len = 0;
        return NULL;
    }
    *len = body->length;
    return body->body;
}

bool sip_msg_has_sdp(const osip_message_t *m)
{
    const osip_content_type_t *ct = m->content_type;
    return ct && ct->type && ct->subtype && strcasecmp(ct->type, "application") == 0 &&
           strcasecmp(ct->subtype, "sdp") == 0;
}

int sip_msg_uri_hostport(const char *uri, char *host, size_t n, int *port)
{
    char *text = osip_strdup(uri);
    char *start = text, *end = NULL;
    if (*start == '<' && (end = strchr(start, '>')) != NULL) {
        start++;
        *end = '\0';
    }
    osip_uri_t *u = NULL;
    int err = VP_E_PARSE;
    if (osip_uri_init(&u) == 0 && osip_uri_parse(u, start) == 0 && u->scheme && u->host &&
        strcasecmp(u->scheme, "sip") == 0 && strlen(u->host) < n && *u->host) {
        int p = u->port ? atoi(u->port) : 5060;
        if (p > 0 && p <= 65535) {
            snprintf(host, n, "%s", u->host);
            *port = p;
            err = 0;
        }
    }
    osip_uri_free(u);
    osip_free(text);
    return err;
}

char *sip_msg_contact_uri(const osip_message_t *m)
{
    osip_contact_t *c = NULL;
    char *out = NULL;
    osip_message_get_contact((osip_message_t *)m, 0, &c);
    if (c && c->url && osip_uri_to_str(c->url, &out) != 0)
        out = NULL;
    return out;
}
