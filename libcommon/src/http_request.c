/*
 * http_request.c - from bytes to requests: driving llhttp over a connection's buffered
 * input, the request object it fills (data arrives in pieces across reads and is
 * accumulated), the accessors a handler uses, the per-request arena, and the response
 * head. Sockets, timers and writing live in http_server.c.
 *
 * llhttp pauses twice per request: when the head is complete (so that we know exactly
 * how many bytes the head took, and can refuse a too-large body or answer "100 Continue"
 * before the body is read), and when the message is complete (the handler has it;
 * unparsed bytes of pipelined requests stay in conn->in until the answer is queued,
 * which keeps answers in order).
 *
 * Every string a handler receives lives in the request's arena and is freed with the
 * request after http_respond().
 */
#include "http_internal.h"
#include "voepy/alloc.h"
#include "voepy/err.h"
#include "voepy/log.h"

#include <stdalign.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <time.h>

#define ARENA_CHUNK 2048

struct http_arena_chunk {
    struct http_arena_chunk *next;
    size_t used, cap;
    alignas(max_align_t) unsigned char data[];
};

void *http_request_alloc(struct http_request *r, size_t n)
{
    const size_t align = alignof(max_align_t);
    n = (n + align - 1) & ~(align - 1);
    struct http_arena_chunk *ch = r->arena;
    if (!ch || ch->cap - ch->used < n) {
        size_t cap = n > ARENA_CHUNK ? n : ARENA_CHUNK;
        ch = vp_malloc(sizeof(*ch) + cap);
        ch->used = 0;
        ch->cap = cap;
        /* A big one-off allocation goes behind the current chunk, which stays in use. */
        if (r->arena && cap > ARENA_CHUNK) {
            ch->next = r->arena->next;
            r->arena->next = ch;
        } else {
            ch->next = r->arena;
            r->arena = ch;
        }
    }
    void *p = ch->data + ch->used;
    ch->used += n;
    return p;
}

static char *arena_strndup(struct http_request *r, const char *s, size_t n)
{
    char *d = http_request_alloc(r, n + 1);
    memcpy(d, s, n);
    d[n] = '\0';
    return d;
}

char *http_request_strdup(struct http_request *r, const char *s)
{
    return arena_strndup(r, s, strlen(s));
}

static struct http_request *request_new(struct http_conn *c, size_t max_header, size_t max_body)
{
    struct http_request *r = VP_NEW(r);
    r->conn = c;
    buf_init(&r->url, max_header);
    buf_init(&r->field, max_header);
    buf_init(&r->value, max_header);
    buf_init(&r->body, max_body);
    buf_init(&r->resp_headers, 0);
    r->method = "";
    r->path = "";
    r->query = "";
    r->start_ns = uv_hrtime();
    memcpy(r->remote, c->remote, sizeof(r->remote));
    r->headers = http_request_alloc(r, HTTP_MAX_HEADERS * sizeof(*r->headers));
    return r;
}

void http__request_free(struct http_request *r)
{
    if (!r)
        return;
    for (struct http_arena_chunk *ch = r->arena, *nx; ch; ch = nx) {
        nx = ch->next;
        free(ch);
    }
    buf_free(&r->url);
    buf_free(&r->field);
    buf_free(&r->value);
    buf_free(&r->body);
    buf_free(&r->resp_headers);
    free(r);
}

/* llhttp data callbacks. Each one appends a piece; limits turn into HPE_USER. */
static int append(llhttp_t *p, struct buf *b, const char *at, size_t n, int status)
{
    struct http_conn *c = p->data;
    if (buf_append(b, at, n) == 0)
        return 0;
    c->fail_status = status;
    return HPE_USER;
}

static int on_url(llhttp_t *p, const char *at, size_t n)
{
    struct http_conn *c = p->data;
    return append(p, &c->req->url, at, n, 431);
}

static int on_header_field(llhttp_t *p, const char *at, size_t n)
{
    struct http_conn *c = p->data;
    return append(p, &c->req->field, at, n, 431);
}

static int on_header_value(llhttp_t *p, const char *at, size_t n)
{
    struct http_conn *c = p->data;
    return append(p, &c->req->value, at, n, 431);
}

static int on_body(llhttp_t *p, const char *at, size_t n)
{
    struct http_conn *c = p->data;
    return append(p, &c->req->body, at, n, 413);
}

static struct http_header *find_header(const struct http_request *r, const char *name)
{
    for (size_t i = 0; i < r->nheaders; i++)
        if (strcasecmp(r->headers[i].name, name) == 0)
            return &r->headers[i];
    return NULL;
}

/* One complete header line: keep it, joining a repeated name's values with ", ". */
static int add_header(struct http_request *r, const char *name, const char *value)
{
    struct http_header *h = find_header(r, name);
    if (h) {
        size_t a = strlen(h->value), b = strlen(value);
        char *joined = http_request_alloc(r, a + b + 3);
        memcpy(joined, h->value, a);
        memcpy(joined + a, ", ", 2);
        memcpy(joined + a + 2, value, b + 1);
        h->value = joined;
        return 0;
    }
    if (r->nheaders == HTTP_MAX_HEADERS)
        return VP_E_OVERFLOW;
    r->headers[r->nheaders].name = http_request_strdup(r, name);
    r->headers[r->nheaders].value = http_request_strdup(r, value);
    r->nheaders++;
    return 0;
}

/*
 * The field and value buffers hold the pieces of the current header line. Trailers of a
 * chunked body arrive the same way after the head; they are dropped.
 */
static int on_header_value_complete(llhttp_t *p)
{
    struct http_conn *c = p->data;
    struct http_request *r = c->req;
    int err = 0;
    size_t n = r->value.len;
    while (n && (r->value.data[n - 1] == ' ' || r->value.data[n - 1] == '\t'))
        n--;
    if (c->state == CONN_HEADERS) {
        char *value = arena_strndup(r, r->value.data ? r->value.data : "", n);
        err = add_header(r, r->field.data ? r->field.data : "", value);
    }
    buf_reset(&r->field);
    buf_reset(&r->value);
    if (!err)
        return 0;
    c->fail_status = 431;
    return HPE_USER;
}

/* After the head is parsed: split the URL, note method and version. 0 or VP_E_PARSE. */
static int request_head_done(struct http_request *r, llhttp_t *p)
{
    const char *url = r->url.data ? r->url.data : "";
    const char *q = strchr(url, '?');
    size_t plen = q ? (size_t)(q - url) : strlen(url);
    r->path = arena_strndup(r, url, plen);
    if (q) {
        q++;
        r->query = arena_strndup(r, q, strcspn(q, "#"));
    }
    r->method = llhttp_method_name((llhttp_method_t)llhttp_get_method(p));
    r->head = llhttp_get_method(p) == HTTP_HEAD;
    r->http10 = llhttp_get_http_major(p) == 1 && llhttp_get_http_minor(p) == 0;
    buf_free(&r->url);
    /* Only HTTP/1.x: our answers are HTTP/1.1 framed. */
    return *r->path && llhttp_get_http_major(p) == 1 ? 0 : VP_E_PARSE;
}

const char *http_request_method(const struct http_request *r)
{
    return r->method;
}

const char *http_request_path(const struct http_request *r)
{
    return r->path;
}

const char *http_request_query(const struct http_request *r)
{
    return r->query;
}

const char *http_request_header(const struct http_request *r, const char *name)
{
    const struct http_header *h = find_header(r, name);
    return h ? h->value : NULL;
}

const char *http_request_body(const struct http_request *r, size_t *len)
{
    if (len)
        *len = r->body.len;
    return r->body.data ? r->body.data : "";
}

const char *http_request_remote_addr(const struct http_request *r)
{
    return r->remote;
}

void http_request_set_data(struct http_request *r, void *data)
{
    r->data = data;
}

void *http_request_data(const struct http_request *r)
{
    return r->data;
}

bool http_request_gone(const struct http_request *r)
{
    return r->gone;
}

static int hexval(char ch)
{
    if (ch >= '0' && ch <= '9')
        return ch - '0';
    if (ch >= 'a' && ch <= 'f')
        return ch - 'a' + 10;
    if (ch >= 'A' && ch <= 'F')
        return ch - 'A' + 10;
    return -1;
}

/*
 * Decode one byte of a query component at s[*i] (s has n bytes): '+' is a space, "%XY"
 * a byte. Malformed escapes and "%00" stay as they are, so a decoded value never hides
 * a NUL that would cut the C string short.
 */
static char decode_at(const char *s, size_t n, size_t *i)
{
    char ch = s[(*i)++];
    if (ch == '+')
        return ' ';
    if (ch == '%' && *i + 1 < n) {
        int hi = hexval(s[*i]), lo = hexval(s[*i + 1]);
        if (hi >= 0 && lo >= 0 && (hi | lo)) {
            *i += 2;
            return (char)(hi * 16 + lo);
        }
    }
    return ch;
}

static bool decoded_equals(const char *s, size_t n, const char *want)
{
    size_t i = 0;
    while (i < n) {
        if (!*want || decode_at(s, n, &i) != *want)
            return false;
        want++;
    }
    return *want == '\0';
}

static char *decode(struct http_request *r, const char *s, size_t n)
{
    char *out = http_request_alloc(r, n + 1);
    size_t i = 0, o = 0;
    while (i < n)
        out[o++] = decode_at(s, n, &i);
    out[o] = '\0';
    return out;
}

/* The first occurrence wins; "a" and "a=" both give "". */
const char *http_request_query_param(struct http_request *r, const char *name)
{
    const char *s = r->query;
    while (*s) {
        size_t len = strcspn(s, "&");
        const char *eq = memchr(s, '=', len);
        size_t klen = eq ? (size_t)(eq - s) : len;
        if (len && decoded_equals(s, klen, name))
            return eq ? decode(r, eq + 1, len - klen - 1) : "";
        s += len + (s[len] == '&');
    }
    return NULL;
}

/* Header names are tokens; values carry no CR, LF or NUL (no response splitting). */
static bool header_ok(const char *name, const char *value)
{
    static const char tchar[] = "!#$%&'*+-.^_`|~";
    if (!*name)
        return false;
    for (const char *p = name; *p; p++)
        if (!((*p >= '0' && *p <= '9') || (*p >= 'a' && *p <= 'z') || (*p >= 'A' && *p <= 'Z') ||
              strchr(tchar, *p)))
            return false;
    return strpbrk(value, "\r\n") == NULL;
}

void http_response_header(struct http_request *r, const char *name, const char *value)
{
    if (!header_ok(name, value)) {
        log_error("http.bad_response_header", "refused response header %s", name);
        return;
    }
    /* The server writes these itself; a handler asking to close is honoured. */
    if (strcasecmp(name, "connection") == 0) {
        if (strcasecmp(value, "close") == 0)
            r->close = true;
        return;
    }
    if (strcasecmp(name, "content-length") == 0 || strcasecmp(name, "date") == 0 ||
        strcasecmp(name, "transfer-encoding") == 0)
        return;
    buf_printf(&r->resp_headers, "%s: %s\r\n", name, value);
}

static const struct {
    int status;
    const char *text;
} reasons[] = {
    {100, "Continue"},
    {101, "Switching Protocols"},
    {200, "OK"},
    {201, "Created"},
    {202, "Accepted"},
    {204, "No Content"},
    {301, "Moved Permanently"},
    {302, "Found"},
    {304, "Not Modified"},
    {400, "Bad Request"},
    {401, "Unauthorized"},
    {402, "Payment Required"},
    {403, "Forbidden"},
    {404, "Not Found"},
    {405, "Method Not Allowed"},
    {408, "Request Timeout"},
    {409, "Conflict"},
    {410, "Gone"},
    {411, "Length Required"},
    {413, "Content Too Large"},
    {414, "URI Too Long"},
    {415, "Unsupported Media Type"},
    {417, "Expectation Failed"},
    {422, "Unprocessable Content"},
    {429, "Too Many Requests"},
    {431, "Request Header Fields Too Large"},
    {451, "Unavailable For Legal Reasons"},
    {500, "Internal Server Error"},
    {501, "Not Implemented"},
    {502, "Bad Gateway"},
    {503, "Service Unavailable"},
    {504, "Gateway Timeout"},
};

const char *http_status_text(int status)
{
    for (size_t i = 0; i < sizeof(reasons) / sizeof(reasons[0]); i++)
        if (reasons[i].status == status)
            return reasons[i].text;
    return "Unknown";
}

/* IMF-fixdate, rendered at most once a second; names fixed, whatever the locale. */
static const char *date_now(void)
{
    static const char days[][4] = {"Sun", "Mon", "Tue", "Wed", "Thu", "Fri", "Sat"};
    static const char months[][4] = {"Jan", "Feb", "Mar", "Apr", "May", "Jun",
                                     "Jul", "Aug", "Sep", "Oct", "Nov", "Dec"};
    static char cached[40];
    static time_t cached_at = -1;
    time_t now = time(NULL);
    if (now != cached_at) {
        struct tm tm;
        gmtime_r(&now, &tm);
        snprintf(cached, sizeof(cached), "%s, %02d %s %04d %02d:%02d:%02d GMT", days[tm.tm_wday],
                 tm.tm_mday, months[tm.tm_mon], tm.tm_year + 1900, tm.tm_hour, tm.tm_min,
                 tm.tm_sec);
        cached_at = now;
    }
    return cached;
}

/* 1xx and 204 carry no Content-Length (RFC 9110 8.6): the only exception. */
void http__render_head(struct buf *out, const struct http_request *r, int status,
                       const char *content_type, size_t len, enum http_conn_header conn)
{
    buf_printf(out, "HTTP/1.1 %d %s\r\nDate: %s\r\n", status, http_status_text(status), date_now());
    if (content_type && *content_type && !strpbrk(content_type, "\r\n"))
        buf_printf(out, "Content-Type: %s\r\n", content_type);
    if (status >= 200 && status != 204)
        buf_printf(out, "Content-Length: %zu\r\n", len);
    if (conn == HTTP_CONN_CLOSE)
        buf_puts(out, "Connection: close\r\n");
    else if (conn == HTTP_CONN_KEEP_ALIVE)
        buf_puts(out, "Connection: keep-alive\r\n");
    if (r && r->resp_headers.len)
        buf_append(out, r->resp_headers.data, r->resp_headers.len);
    buf_puts(out, "\r\n");
}

static bool conn_can_parse(const struct http_conn *c)
{
    return c->state == CONN_IDLE || c->state == CONN_HEADERS || c->state == CONN_BODY;
}

/* ---- driving the parser over a connection's input ---- */

static int on_message_begin(llhttp_t *p)
{
    struct http_conn *c = p->data;
    const struct http_server_opts *o = http__conn_opts(c);
    c->req = request_new(c, o->max_header_bytes, o->max_body_bytes);
    http__conn_set_state(c, CONN_HEADERS);
    return 0;
}

static int on_headers_complete(llhttp_t *p)
{
    struct http_conn *c = p->data;
    c->pause = PAUSE_HEADERS;
    return HPE_PAUSED;
}

static int on_message_complete(llhttp_t *p)
{
    struct http_conn *c = p->data;
    c->req->keep_alive = llhttp_should_keep_alive(p);
    c->pause = PAUSE_MESSAGE;
    return HPE_PAUSED;
}

const llhttp_settings_t http__settings = {
    .on_message_begin = on_message_begin,
    .on_url = on_url,
    .on_header_field = on_header_field,
    .on_header_value = on_header_value,
    .on_header_value_complete = on_header_value_complete,
    .on_headers_complete = on_headers_complete,
    .on_body = on_body,
    .on_message_complete = on_message_complete,
};

static bool wants_continue(const struct http_conn *c)
{
    const char *expect = http_request_header(c->req, "expect");
    bool body = (c->parser.flags & F_CHUNKED) || c->parser.content_length > 0;
    return expect && strcasecmp(expect, "100-continue") == 0 && !c->req->http10 && body;
}

/* 0, or the status that refuses this head before any of the body is read. */
static int head_refusal(struct http_conn *c)
{
    const struct http_server_opts *o = http__conn_opts(c);
    if (c->header_bytes > o->max_header_bytes)
        return 431;
    if (request_head_done(c->req, &c->parser) < 0)
        return 400;
    if ((c->parser.flags & F_CONTENT_LENGTH) && c->parser.content_length > o->max_body_bytes)
        return 413;
    return 0;
}

/* The head is parsed (paused at on_headers_complete): check it before any body. */
static void headers_done(struct http_conn *c)
{
    int status = head_refusal(c);
    if (status) {
        http__conn_fail(c, status);
        return;
    }
    if (llhttp_get_upgrade(&c->parser))
        c->req->close = true; /* no upgrades: what follows would not be HTTP/1.1 */
    if (wants_continue(c)) {
        struct buf b = BUF_INIT;
        buf_puts(&b, "HTTP/1.1 100 Continue\r\n\r\n");
        http__conn_write(c, &b);
    }
    http__conn_set_state(c, CONN_BODY);
    llhttp_resume(&c->parser);
    c->resumed = true;
}

/* Feed buffered input to llhttp once; the head is fed at most one byte past its limit. */
static void conn_execute(struct http_conn *c, unsigned *budget)
{
    const struct http_server_opts *o = http__conn_opts(c);
    bool in_head = c->state == CONN_IDLE || c->state == CONN_HEADERS;
    size_t avail = c->in.len - c->in_off;
    if (in_head && avail > o->max_header_bytes + 1 - c->header_bytes)
        avail = o->max_header_bytes + 1 - c->header_bytes;
    const char *p = c->in.data ? c->in.data + c->in_off : "";
    c->pause = PAUSE_NONE;
    c->fail_status = 0;
    enum llhttp_errno e = llhttp_execute(&c->parser, p, avail);
    const char *pos = llhttp_get_error_pos(&c->parser);
    size_t used = e == HPE_OK || !pos ? avail : (size_t)(pos - p);
    c->in_off += used;
    if (in_head)
        c->header_bytes += used;
    if (e == HPE_PAUSED && c->pause == PAUSE_HEADERS) {
        headers_done(c);
    } else if (e == HPE_PAUSED && c->pause == PAUSE_MESSAGE) {
        (*budget)--;
        http__conn_dispatch(c);
    } else if (e != HPE_OK) {
        http__conn_fail(c, c->fail_status ? c->fail_status : 400); /* ours, else llhttp's */
    } else if (in_head && c->header_bytes > o->max_header_bytes) {
        http__conn_fail(c, 431);
    }
}

void http__conn_process(struct http_conn *c)
{
    if (c->processing)
        return;
    c->processing = true;
    unsigned budget = HTTP_REQUESTS_PER_WAKEUP;
    while (conn_can_parse(c) && (c->in_off < c->in.len || c->resumed)) {
        if (uv_stream_get_write_queue_size((uv_stream_t *)&c->tcp) >= HTTP_WRITE_QUEUE_LIMIT) {
            c->write_blocked = true; /* write_cb kicks us when the client caught up */
            break;
        }
        if (budget == 0) {
            http__conn_kick(c);
            break;
        }
        c->resumed = false;
        conn_execute(c, &budget);
    }
    c->processing = false;
    if (conn_can_parse(c) || c->state == CONN_HANDLER) {
        buf_consume(&c->in, c->in_off);
        c->in_off = 0;
        if (c->in.len == 0 && c->in.cap > 2 * HTTP_READ_CHUNK)
            buf_free(&c->in); /* an idle connection keeps no big buffer */
    }
    http__conn_update_reading(c);
}
