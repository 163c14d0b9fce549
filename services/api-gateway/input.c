/*
 * input.c - what a request brings: path parameters, the JSON body, query parameters,
 * and the Idempotency-Key with the request hash it is bound to.
 *
 * Failing helpers answer the request themselves (see api.h) and return the error.
 */
#include "api.h"

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "voepy/alloc.h"
#include "voepy/e164.h"
#include "voepy/http_server.h"
#include "voepy/id.h"
#include "voepy/url_guard.h"
#include "voepy/vtime.h"

#define IDEM_KEY_MAX 255
#define CURSOR_MAX   256

const char *input_param(const struct api_req *r, size_t i)
{
    return i < r->match.nparams ? r->match.params[i] : "";
}

const char *input_id(struct api_req *r, const char *kind, const char *what)
{
    const char *id = input_param(r, 0);
    if (id_valid(id, kind))
        return id;
    reply_fail(r, VP_E_NOT_FOUND, NULL, "No %s with this id.", what);
    return NULL;
}

int input_body(struct api_req *r, const struct jfield *fields, size_t n, bool allow_empty)
{
    size_t len;
    const char *body = http_request_body(r->http, &len);
    struct vp_error e;
    int err = vjson_parse_object(body ? body : "", body ? len : 0, allow_empty, &r->body, &e);
    if (!err)
        err = vjson_validate(r->body, fields, n, &e);
    if (err)
        reply_error(r, &e);
    return err;
}

const char *input_body_text(struct api_req *r)
{
    char *s = vjson_dump(r->body);
    char *copy = http_request_strdup(r->http, s);
    free(s);
    return copy;
}

char *input_printf(struct api_req *r, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    int n = vsnprintf(NULL, 0, fmt, ap);
    va_end(ap);
    char *s = http_request_alloc(r->http, (size_t)n + 1);
    va_start(ap, fmt);
    vsnprintf(s, (size_t)n + 1, fmt, ap);
    va_end(ap);
    return s;
}

const char *input_query(struct api_req *r, const char *name)
{
    const char *v = http_request_query_param(r->http, name);
    return v && *v ? v : NULL;
}

int input_limit(struct api_req *r, long def, long max, char out[16])
{
    const char *v = input_query(r, "limit");
    long n = def;
    if (v) {
        char *end;
        n = strtol(v, &end, 10);
        if (*end || end == v || n < 1 || n > max)
            return reply_fail(r, VP_E_INVALID_PARAMETER, "limit",
                              "limit must be an integer between 1 and %ld.", max);
    }
    snprintf(out, 16, "%ld", n);
    return 0;
}

int input_cursor(struct api_req *r, const char **cursor)
{
    const char *v = input_query(r, "cursor");
    *cursor = v;
    if (!v)
        return 0;
    size_t n = strspn(v, "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_");
    if (v[n] || n > CURSOR_MAX)
        return reply_fail(r, VP_E_INVALID_PARAMETER, "cursor",
                          "cursor must be a next_cursor value returned by this list.");
    return 0;
}

const char *input_query_zoned(struct api_req *r, const char *name)
{
    const char *v = input_query(r, name);
    if (!v || !strchr(v, ' '))
        return v;
    char *fixed = input_printf(r, "%s", v);
    /* from index 11 on: a space at 10 separates a date and a time and stays */
    for (size_t i = 11, n = strlen(fixed); i < n; i++)
        if (fixed[i] == ' ')
            fixed[i] = '+';
    return fixed;
}

int input_query_time(struct api_req *r, const char *name, const char **out)
{
    const char *v = input_query_zoned(r, name);
    int64_t ms;
    *out = NULL;
    if (!v)
        return 0;
    if (vtime_parse(v, &ms) != 0)
        return reply_fail(r, VP_E_INVALID_PARAMETER, name,
                          "%s must be an ISO-8601 date-time with a zone, such as "
                          "2026-05-01T00:00:00Z.",
                          name);
    *out = input_printf(r, "%lld", (long long)ms);
    return 0;
}

int input_query_e164(struct api_req *r, const char *name, const char **out)
{
    const char *v = input_query(r, name);
    *out = NULL;
    if (!v)
        return 0;
    /* An unencoded "+" arrives as a space (form decoding): take it back. */
    if (v[0] == ' ') {
        char *fixed = http_request_strdup(r->http, v);
        fixed[0] = '+';
        v = fixed;
    }
    if (!e164_valid(v))
        return reply_fail(r, VP_E_INVALID_PARAMETER, name,
                          "%s must be an E.164 number: + and 6-15 digits (send + as %%2B).", name);
    *out = v;
    return 0;
}

/*
 * The shared part of input_url_check and input_ws_url_check: the operator's URL policy
 * (url_guard_vet) applied at creation time, so that a URL the dispatcher or media-fork
 * would refuse for its port or its literal address is refused here, naming the field.
 * Names are not resolved here: their addresses are judged when they are fetched.
 */
static int url_check(struct api_req *r, const char *field, const char *url, bool ws)
{
    struct url_guard_opts opts = {.policy = r->api->url_policy, .allow_ws = ws};
    struct url_target t;
    if (url_guard_parse(url, &opts, &t) != 0 || (ws && strncmp(t.scheme, "ws", 2) != 0))
        return reply_fail(r, VP_E_INVALID_PARAMETER, field, "%s must be %s URL.", field,
                          ws ? "a ws:// or wss://" : "an http(s)");
    char reason[256];
    if (url_guard_vet(url, &opts, &t, reason, sizeof(reason)) != 0)
        return reply_fail(r, VP_E_INVALID_PARAMETER, field, "%s is not allowed: %s.", field,
                          reason);
    return 0;
}

int input_url_check(struct api_req *r, const char *field, const char *url)
{
    return url_check(r, field, url, false);
}

int input_ws_url_check(struct api_req *r, const char *field, const char *url)
{
    return url_check(r, field, url, true);
}

static bool idem_key_ok(const char *k)
{
    size_t n = strlen(k);
    if (n == 0 || n > IDEM_KEY_MAX)
        return false;
    for (size_t i = 0; i < n; i++)
        if ((unsigned char)k[i] < 0x21 || (unsigned char)k[i] > 0x7e)
            return false;
    return true;
}

/* SHA-256 over "METHOD\nPATH\nBODY": the same key with another request is refused. */
static void request_hash(struct api_req *r)
{
    size_t blen;
    const char *body = http_request_body(r->http, &blen);
    size_t mlen = strlen(r->method), plen = strlen(r->path);
    size_t n = mlen + plen + 2 + (body ? blen : 0);
    char *buf = vp_malloc(n + 1);
    snprintf(buf, n + 1, "%s\n%s\n", r->method, r->path);
    if (body && blen)
        memcpy(buf + mlen + plen + 2, body, blen);
    crypto_sha256_hex(buf, n, r->req_hash);
    free(buf);
}

int input_idem_prepare(struct api_req *r)
{
    const char *k = http_request_header(r->http, "Idempotency-Key");
    if (k && !idem_key_ok(k))
        return reply_fail(r, VP_E_INVALID_REQUEST, "Idempotency-Key",
                          "Idempotency-Key must be 1 to %d visible ASCII characters.",
                          IDEM_KEY_MAX);
    r->idem_key = k;
    request_hash(r);
    return 0;
}

void input_idem_params(const struct api_req *r, const char **params)
{
    params[0] = r->path;
    params[1] = r->idem_key;
    params[2] = r->req_hash;
}
