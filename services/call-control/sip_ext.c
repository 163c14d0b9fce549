/*
 * Extension headers (sip_ext.h). libosip2 keeps them as unparsed headers: each value is
 * split here. Header names are matched case-insensitively, compact forms included.
 */
#include "sip_ext.h"

#include <ctype.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "voepy/err.h"

#define TAG_MAX 64

/* The next header named name at or after *pos (advanced past it), or NULL. */
static const char *header_at(const osip_message_t *m, const char *name, int *pos)
{
    osip_header_t *h = NULL;
    while (*pos >= 0) {
        int at = osip_message_header_get_byname(m, name, *pos, &h);
        if (at < 0)
            break;
        *pos = at + 1;
        if (h && h->hvalue)
            return h->hvalue;
    }
    *pos = -1;
    return NULL;
}

static bool all_headers(const osip_message_t *m, const char *name, const char *compact,
                        bool (*each)(const char *tag, void *arg), void *arg)
{
    const char *names[] = {name, compact};
    for (int k = 0; k < 2; k++) {
        if (!names[k])
            continue;
        int pos = 0;
        const char *v;
        while ((v = header_at(m, names[k], &pos)) != NULL) {
            char tag[TAG_MAX];
            const char *p = v;
            while (*p) {
                p += strspn(p, " \t,");
                size_t len = strcspn(p, " \t,");
                if (len == 0)
                    break;
                snprintf(tag, sizeof(tag), "%.*s", (int)(len < TAG_MAX ? len : TAG_MAX - 1), p);
                if (each(tag, arg))
                    return true;
                p += len;
            }
        }
    }
    return false;
}

/* Whether tag is one of list's comma-separated tokens (case-insensitive). */
static bool listed(const char *list, const char *tag)
{
    size_t n = strlen(tag);
    for (const char *p = list; *p;) {
        p += strspn(p, " \t,");
        size_t len = strcspn(p, " \t,");
        if (len == n && strncasecmp(p, tag, n) == 0)
            return true;
        p += len;
    }
    return false;
}

struct unsupported_scan {
    const char *supported;
    char *out;
    size_t n;
};

static bool unsupported_each(const char *tag, void *arg)
{
    struct unsupported_scan *u = arg;
    if (listed(u->supported, tag))
        return false;
    snprintf(u->out, u->n, "%s", tag);
    return true;
}

bool sip_ext_unsupported(const osip_message_t *m, const char *supported, char *out, size_t n)
{
    struct unsupported_scan u = {.supported = supported, .out = out, .n = n};
    return all_headers(m, "require", NULL, unsupported_each, &u);
}

static bool equal_each(const char *tag, void *arg)
{
    return strcasecmp(tag, arg) == 0;
}

bool sip_ext_has(const osip_message_t *m, const char *header, const char *tag)
{
    const char *compact = strcasecmp(header, "supported") == 0 ? "k" : NULL;
    return all_headers(m, header, compact, equal_each, (void *)tag);
}

/* A decimal number 1..86400*365 at p (followed by ';', space or the end), else 0. */
static unsigned seconds_at(const char *p, const char **end)
{
    while (*p == ' ' || *p == '\t')
        p++;
    if (!isdigit((unsigned char)*p))
        return 0;
    char *e;
    unsigned long v = strtoul(p, &e, 10);
    if (e - p > 9 || v == 0)
        return 0;
    *end = e;
    return (unsigned)v;
}

int sip_ext_session_expires(const osip_message_t *m, struct sip_session_expires *se)
{
    int pos = 0;
    const char *v = header_at(m, "session-expires", &pos);
    if (!v) {
        pos = 0;
        v = header_at(m, "x", &pos);
    }
    se->secs = 0;
    se->refresher = SIP_REFRESHER_NONE;
    if (!v)
        return 0;
    const char *rest = NULL;
    unsigned secs = seconds_at(v, &rest);
    if (!secs)
        return VP_E_PARSE;
    rest += strspn(rest, " \t");
    if (*rest && *rest != ';')
        return VP_E_PARSE;
    const char *r = strcasestr(rest, "refresher=");
    if (r) {
        r += strlen("refresher=");
        if (strncasecmp(r, "uac", 3) == 0)
            se->refresher = SIP_REFRESHER_UAC;
        else if (strncasecmp(r, "uas", 3) == 0)
            se->refresher = SIP_REFRESHER_UAS;
        else
            return VP_E_PARSE;
    }
    se->secs = secs;
    return 0;
}

unsigned sip_ext_min_se(const osip_message_t *m)
{
    int pos = 0;
    const char *v = header_at(m, "min-se", &pos);
    const char *end = NULL;
    return v ? seconds_at(v, &end) : 0;
}

unsigned sip_ext_uac_timer(const osip_message_t *resp, bool *we_refresh)
{
    struct sip_session_expires se;
    *we_refresh = false;
    if (sip_ext_session_expires(resp, &se) != 0 || se.secs == 0)
        return 0;
    *we_refresh = se.refresher != SIP_REFRESHER_UAS;
    return se.secs;
}

uint64_t sip_ext_refresh_ms(unsigned secs)
{
    return (uint64_t)secs * 1000 / 2;
}

uint64_t sip_ext_expiry_ms(unsigned secs)
{
    unsigned margin = secs / 3 < 32 ? secs / 3 : 32; /* RFC 4028 10 */
    return (uint64_t)(secs - margin) * 1000;
}

uint32_t sip_ext_rseq(const osip_message_t *m)
{
    int pos = 0;
    const char *v = header_at(m, "rseq", &pos);
    if (!v)
        return 0;
    while (*v == ' ')
        v++;
    char *end;
    unsigned long r = strtoul(v, &end, 10);
    if (end == v || r == 0 || r > 0xffffffffUL)
        return 0;
    return (uint32_t)r;
}

bool sip_ext_allows(const osip_message_t *m, const char *method)
{
    int n = osip_list_size(&m->allows);
    for (int i = 0; i < n; i++) {
        const osip_allow_t *a = osip_list_get(&m->allows, i);
        if (a && a->value && listed(a->value, method))
            return true;
    }
    return false;
}

/* The value of "name=" on one of body's lines, copied into out. */
static bool relay_field(const char *body, size_t len, const char *name, char *out, size_t n)
{
    size_t nl = strlen(name);
    for (size_t i = 0; i < len;) {
        size_t end = i;
        while (end < len && body[end] != '\r' && body[end] != '\n')
            end++;
        const char *line = body + i;
        size_t ll = end - i;
        while (ll && (*line == ' ' || *line == '\t'))
            line++, ll--;
        if (ll > nl && strncasecmp(line, name, nl) == 0) {
            const char *v = line + nl;
            size_t vl = ll - nl;
            while (vl && (*v == ' ' || *v == '\t'))
                v++, vl--;
            if (vl && *v == '=') {
                v++, vl--;
                while (vl && (*v == ' ' || *v == '\t'))
                    v++, vl--;
                while (vl && (v[vl - 1] == ' ' || v[vl - 1] == '\t'))
                    vl--;
                snprintf(out, n, "%.*s", (int)(vl < n ? vl : n - 1), v);
                return vl > 0 && vl < n;
            }
        }
        i = end + 1;
    }
    return false;
}

char sip_ext_dtmf_relay(const char *body, size_t len, int *duration_ms)
{
    char sig[8], dur[12];
    *duration_ms = 0;
    if (!body || !relay_field(body, len, "Signal", sig, sizeof(sig)))
        return 0;
    if (relay_field(body, len, "Duration", dur, sizeof(dur))) {
        const char *end = NULL;
        unsigned d = seconds_at(dur, &end);
        *duration_ms = d && !*end && d <= 60000 ? (int)d : 0;
    }
    if (strcmp(sig, "10") == 0)
        return '*';
    if (strcmp(sig, "11") == 0)
        return '#';
    if (strlen(sig) != 1)
        return 0;
    char c = (char)toupper((unsigned char)sig[0]);
    return strchr("0123456789*#ABCD", c) ? c : 0;
}
