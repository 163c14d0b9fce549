#include "sip_frame.h"

#include <ctype.h>
#include <stdbool.h>
#include <string.h>
#include <strings.h>

#include "voepy/err.h"

static size_t skip_crlf(const char *data, size_t len)
{
    size_t i = 0;
    while (i < len && (data[i] == '\r' || data[i] == '\n'))
        i++;
    return i;
}

static const char *find_blank_line(const char *data, size_t len)
{
    for (size_t i = 0; i + 3 < len; i++)
        if (data[i] == '\r' && data[i + 1] == '\n' && data[i + 2] == '\r' && data[i + 3] == '\n')
            return data + i;
    return NULL;
}

/* Is the header line [p, end) named Content-Length (or its compact form "l")? */
static const char *content_length_value(const char *p, const char *end)
{
    const char *colon = memchr(p, ':', (size_t)(end - p));
    if (!colon)
        return NULL;
    const char *name_end = colon;
    while (name_end > p && (name_end[-1] == ' ' || name_end[-1] == '\t'))
        name_end--;
    size_t n = (size_t)(name_end - p);
    if ((n == 14 && strncasecmp(p, "Content-Length", 14) == 0) ||
        (n == 1 && (*p == 'l' || *p == 'L')))
        return colon + 1;
    return NULL;
}

/* Digits with optional surrounding blanks up to end; returns 0 or VP_E_PARSE/OVERFLOW. */
static int parse_length(const char *v, const char *end, size_t *out)
{
    while (v < end && (*v == ' ' || *v == '\t'))
        v++;
    size_t n = 0, digits = 0;
    while (v < end && isdigit((unsigned char)*v)) {
        if (++digits > 6)
            return VP_E_OVERFLOW;
        n = n * 10 + (size_t)(*v++ - '0');
    }
    while (v < end && (*v == ' ' || *v == '\t'))
        v++;
    if (digits == 0 || v != end)
        return VP_E_PARSE;
    *out = n;
    return 0;
}

/* The body length announced in the header block [data, hdr_end). */
static int header_content_length(const char *data, const char *hdr_end, size_t *out)
{
    const char *line = memchr(data, '\n', (size_t)(hdr_end - data)); /* skip start line */
    bool found = false;
    while (line && line < hdr_end) {
        const char *start = line + 1;
        const char *eol = memchr(start, '\r', (size_t)(hdr_end + 2 - start));
        if (!eol)
            eol = hdr_end;
        const char *v = content_length_value(start, eol);
        if (v) {
            size_t n;
            int err = parse_length(v, eol, &n);
            if (err)
                return err;
            if (found && n != *out)
                return VP_E_PARSE;
            *out = n;
            found = true;
        }
        line = memchr(start, '\n', (size_t)(hdr_end + 2 - start));
    }
    return found ? 0 : VP_E_PARSE;
}

int sip_frame_next(const char *data, size_t len, size_t *skip, size_t *msg_len)
{
    *skip = skip_crlf(data, len);
    *msg_len = 0;
    data += *skip;
    len -= *skip;
    const char *hdr_end = find_blank_line(data, len);
    if (!hdr_end)
        return len > SIP_FRAME_MAX_HEADERS ? VP_E_OVERFLOW : 0;
    if ((size_t)(hdr_end - data) > SIP_FRAME_MAX_HEADERS)
        return VP_E_OVERFLOW;
    size_t body = 0;
    int err = header_content_length(data, hdr_end, &body);
    if (err)
        return err;
    if (body > SIP_FRAME_MAX_BODY)
        return VP_E_OVERFLOW;
    size_t total = (size_t)(hdr_end - data) + 4 + body;
    if (total <= len)
        *msg_len = total;
    return 0;
}
