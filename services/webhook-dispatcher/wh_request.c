#include "wh_request.h"

#include "voepy/err.h"

#include <inttypes.h>
#include <stdbool.h>
#include <stdio.h>
#include <string.h>

/* Printable ASCII without separators: what a header value may carry unquoted. */
static bool header_safe(const char *s)
{
    for (; *s; s++)
        if (*s <= 0x20 || *s >= 0x7f)
            return false;
    return true;
}

/* out = name + value, cut to size (the sizes of wh_headers fit every value built here). */
static void join(char *out, size_t size, const char *name, const char *value)
{
    size_t n = strlen(name), v = strlen(value);
    if (n >= size)
        n = size - 1;
    if (v >= size - n)
        v = size - n - 1;
    memcpy(out, name, n);
    memcpy(out + n, value, v);
    out[n + v] = '\0';
}

int wh_headers_build(struct wh_headers *h, const char *event_id, const struct webhook_keys *keys,
                     const char *body, size_t body_len, int64_t now_s)
{
    char sig[WEBHOOK_SIG_HEADER_MAX], vsig[WEBHOOK_VOEPY_SIG_MAX];
    memset(h, 0, sizeof(*h));
    if (!event_id || !*event_id || strlen(event_id) > WH_EVENT_ID_MAX || !header_safe(event_id))
        return VP_E_INVALID_PARAMETER;
    if (webhook_sign_header(keys, event_id, now_s, body, body_len, sig) ||
        webhook_sign_voepy(keys, now_s, body, body_len, vsig))
        return VP_E_INVALID_PARAMETER;
    char ts[24];
    snprintf(ts, sizeof(ts), "%" PRId64, now_s);
    join(h->id, sizeof(h->id), "webhook-id: ", event_id);
    join(h->timestamp, sizeof(h->timestamp), "webhook-timestamp: ", ts);
    join(h->signature, sizeof(h->signature), "webhook-signature: ", sig);
    join(h->voepy, sizeof(h->voepy), "voepy-signature: ", vsig);
    h->list[0] = "content-type: application/json";
    h->list[1] = h->id;
    h->list[2] = h->timestamp;
    h->list[3] = h->signature;
    h->list[4] = h->voepy;
    h->list[5] = NULL;
    return 0;
}

/* Length of the valid UTF-8 sequence at p (n bytes available), 0 when invalid. */
static size_t utf8_len(const unsigned char *p, size_t n)
{
    size_t need;
    unsigned min;
    if (p[0] < 0x80)
        return p[0] ? 1 : 0;
    if ((p[0] & 0xe0) == 0xc0)
        need = 2, min = 0x80;
    else if ((p[0] & 0xf0) == 0xe0)
        need = 3, min = 0x800;
    else if ((p[0] & 0xf8) == 0xf0)
        need = 4, min = 0x10000;
    else
        return 0;
    if (n < need)
        return 0;
    unsigned cp = p[0] & (0x7f >> need);
    for (size_t i = 1; i < need; i++) {
        if ((p[i] & 0xc0) != 0x80)
            return 0;
        cp = (cp << 6) | (p[i] & 0x3f);
    }
    bool ok = cp >= min && cp <= 0x10ffff && (cp < 0xd800 || cp > 0xdfff);
    return ok ? need : 0;
}

size_t wh_text_sanitize(const char *in, size_t len, char *out, size_t max)
{
    const unsigned char *p = (const unsigned char *)in;
    size_t i = 0, o = 0;
    while (i < len) {
        size_t n = utf8_len(p + i, len - i);
        size_t take = n ? n : 1;
        if (o + take > max)
            break;
        if (n)
            memcpy(out + o, p + i, n);
        else
            out[o] = '?';
        o += take;
        i += take;
    }
    out[o] = '\0';
    return o;
}
