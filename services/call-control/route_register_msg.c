/*
 * Reading a registrar's answers to our REGISTER (see route_register.h). No state: the
 * messages are validated ones (sip_msg_validate) and only borrowed.
 */
#include "route_register.h"

#include <ctype.h>
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

/* A decimal number below 2^31 written alone (spaces around allowed), else -1. */
static long seconds_of(const char *s)
{
    if (!s)
        return -1;
    while (*s == ' ' || *s == '\t')
        s++;
    if (*s == '"')
        s++;
    size_t n = 0;
    long v = 0;
    for (; isdigit((unsigned char)s[n]); n++) {
        if (n >= 10)
            return -1;
        v = v * 10 + (s[n] - '0');
    }
    const char *rest = s + n;
    while (*rest == ' ' || *rest == '\t' || *rest == '"')
        rest++;
    return n && !*rest && v < 2147483648L ? v : -1;
}

static bool same_text(const char *a, const char *b)
{
    return (!a && !b) || (a && b && strcasecmp(a, b) == 0);
}

/* The port of a URI as a number (5060 when absent, the same default on both sides). */
static int port_of(const osip_uri_t *u)
{
    return u->port ? atoi(u->port) : 5060;
}

static bool same_binding(const osip_uri_t *a, const osip_uri_t *b)
{
    return a && b && same_text(a->username, b->username) && same_text(a->host, b->host) &&
           port_of(a) == port_of(b);
}

/* The expires parameter of our Contact in resp, or -1. */
static long contact_expires(const osip_message_t *resp, const char *contact_uri)
{
    osip_uri_t *ours = NULL;
    long found = -1;
    if (!contact_uri || osip_uri_init(&ours) != 0)
        return -1;
    if (osip_uri_parse(ours, contact_uri) == 0) {
        for (int i = 0; i < osip_list_size(&resp->contacts) && found < 0; i++) {
            osip_contact_t *c = osip_list_get(&resp->contacts, i);
            osip_generic_param_t *p = NULL;
            if (!c || !same_binding(c->url, ours))
                continue;
            osip_contact_param_get_byname(c, "expires", &p);
            found = p ? seconds_of(p->gvalue) : -1;
        }
    }
    osip_uri_free(ours);
    return found;
}

static long header_seconds(const osip_message_t *resp, const char *name)
{
    osip_header_t *h = NULL;
    if (osip_message_header_get_byname(resp, name, 0, &h) < 0 || !h)
        return -1;
    return seconds_of(h->hvalue);
}

unsigned route_register_granted_secs(const osip_message_t *resp, const char *contact_uri,
                                     unsigned asked)
{
    long v = contact_expires(resp, contact_uri);
    if (v < 0)
        v = header_seconds(resp, "expires");
    return v < 0 ? asked : (unsigned)v;
}

unsigned route_register_min_expires(const osip_message_t *resp)
{
    long v = header_seconds(resp, "min-expires");
    return v < 0 ? 0 : (unsigned)v;
}
