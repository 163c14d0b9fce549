/*
 * The WebSocket client of the media streams (stream_int.h), libwebsockets 4.1 on the
 * service's own libuv loop: LWS_SERVER_OPTION_LIBUV with the loop given as a foreign
 * loop (the libuv event library is a plugin loaded at run time: package
 * libwebsockets-evlib-uv). One context serves every stream; each stream is one client
 * connection whose user pointer is the stream.
 *
 * Names are never resolved here: the stream connects to the address the URL policy
 * checked (ci.address) and sends the URL's host as Host (and TLS name). When a stream is
 * done with its connection before libwebsockets is (stopped during the handshake, the
 * streamer closing), the connection's user pointer is cleared first and it is killed
 * in the background: callbacks without a stream ask to close and do nothing else.
 *
 * libwebsockets only ever writes from a stream's queue (WRITEABLE may also come while a
 * connection closes); one frame per WRITEABLE, as libwebsockets wants.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>

#include "stream_int.h"
#include "voepy/alloc.h"
#include "voepy/err.h"
#include "voepy/log.h"

#define PROTOCOL_NAME "voepy-media-stream"
#define STREAM_SNDBUF 16384 /* bytes (the kernel doubles it): see bound_send_buffer() */
#define WRITE_CLOSE   4     /* libwebsockets 4.1's private LWS_WRITE_CLOSE (see writeable()) */

static void lws_log_cb(int level, const char *line)
{
    char msg[256];
    size_t n = strcspn(line, "\n");
    snprintf(msg, sizeof(msg), "%.*s", (int)(n < sizeof(msg) - 1 ? n : sizeof(msg) - 1), line);
    if (level & LLL_ERR)
        log_warn("stream.lws", "%s", msg);
    else
        log_debug("stream.lws", "%s", msg);
}

/* The client message so far; a whole text message goes to stream__received(). */
static void receive(struct stream *s, struct lws *wsi, const void *in, size_t len)
{
    if (lws_is_first_fragment(wsi)) {
        s->rxlen = 0;
        s->rx_overflow = false;
    }
    if (!s->rx)
        s->rx = vp_malloc(STREAM_RX_MAX);
    if (s->rxlen + len > STREAM_RX_MAX)
        s->rx_overflow = true;
    else {
        memcpy(s->rx + s->rxlen, in, len);
        s->rxlen += len;
    }
    if (!lws_is_final_fragment(wsi) || lws_remaining_packet_payload(wsi))
        return;
    if (!s->rx_overflow && !lws_frame_is_binary(wsi))
        stream__received(s, s->rx, s->rxlen);
    s->rxlen = 0;
}

/*
 * A fixed, small kernel send buffer instead of Linux's autotuned one (up to 4 MB: on
 * loopback a stalled server absorbed 2.3 MB, 40 s of audio). Audio a slow server has not
 * taken then waits in the stream's own queue, where the oldest is dropped, so what the
 * server reads is never more than about a second old.
 */
static void bound_send_buffer(struct lws *wsi)
{
    int fd = lws_get_socket_fd(wsi), size = STREAM_SNDBUF;
    if (fd >= 0 && setsockopt(fd, SOL_SOCKET, SO_SNDBUF, &size, sizeof(size)) != 0)
        log_debug("stream.sndbuf", "SO_SNDBUF not set on a stream's socket");
}

static int writeable(struct stream *s, struct lws *wsi)
{
    struct stream_slot *q = stream__next(s);
    if (q) {
        if (lws_write(wsi, q->buf + LWS_PRE, q->len, LWS_WRITE_TEXT) < (int)q->len)
            return -1; /* the connection failed: CLIENT_CLOSED follows */
        stream__sent(s);
        if (stream__next(s)) {
            lws_callback_on_writable(wsi);
            return 0;
        }
    }
    if (s->state != STREAM_CLOSING || s->close_sent)
        return 0;
    /*
     * Everything is out, the stop frame last: start the closing handshake. The documented
     * way (lws_close_reason(), then return -1) loses the close frame with libwebsockets
     * 4.1 on libuv: its close path queues the frame, then closes the wsi again at once
     * ("uv repeat test" in its log) and the server only sees the TCP connection end. So
     * the close frame is written like any frame, with the opcode lws_write() uses for it
     * internally (LWS_WRITE_CLOSE, 4, kept out of the public enum); the server's answer
     * ends the connection, and close_soon() bounds the wait.
     */
    unsigned char frame[LWS_PRE + 2] = {0};
    frame[LWS_PRE] = (unsigned char)(LWS_CLOSE_STATUS_NORMAL >> 8);
    frame[LWS_PRE + 1] = (unsigned char)(LWS_CLOSE_STATUS_NORMAL & 0xff);
    s->close_sent = true;
    return lws_write(wsi, frame + LWS_PRE, 2, (enum lws_write_protocol)WRITE_CLOSE) < 2 ? -1 : 0;
}

/* The connection is going away: the stream forgets it, then ends. */
static void gone(struct stream *s, struct lws *wsi, const char *reason, const char *error,
                 const char *detail)
{
    lws_set_wsi_user(wsi, NULL);
    stream__closed(s, reason, error, detail);
}

static int ws_cb(struct lws *wsi, enum lws_callback_reasons why, void *user, void *in, size_t len)
{
    struct stream *s = user;
    char detail[160];
    switch (why) {
    case LWS_CALLBACK_CLIENT_ESTABLISHED:
        if (s) {
            bound_send_buffer(wsi);
            stream__opened(s);
        }
        return s ? 0 : -1;
    case LWS_CALLBACK_CLIENT_RECEIVE:
        if (s)
            receive(s, wsi, in, len);
        return s ? 0 : -1;
    case LWS_CALLBACK_CLIENT_WRITEABLE:
        return s ? writeable(s, wsi) : -1;
    case LWS_CALLBACK_CLIENT_CONNECTION_ERROR:
        snprintf(detail, sizeof(detail), "%s", in ? (const char *)in : "connection failed");
        if (s)
            gone(s, wsi, "failed", "connect_failed", detail);
        return 0;
    case LWS_CALLBACK_CLIENT_CLOSED:
    case LWS_CALLBACK_WSI_DESTROY:
        if (s)
            gone(s, wsi, "closed_by_peer", NULL, NULL);
        return 0;
    default:
        return 0;
    }
}

static const struct lws_protocols protocols[] = {
    {.name = PROTOCOL_NAME, .callback = ws_cb, .rx_buffer_size = 4096},
    {.name = NULL},
};

int stream__ws_init(struct streamer *st)
{
    lws_set_log_level(LLL_ERR | LLL_WARN, lws_log_cb);
    struct lws_context_creation_info info;
    memset(&info, 0, sizeof(info));
    st->foreign_loops[0] = st->loop;
    info.port = CONTEXT_PORT_NO_LISTEN;
    info.protocols = protocols;
    info.options = LWS_SERVER_OPTION_LIBUV | LWS_SERVER_OPTION_UV_NO_SIGSEGV_SIGFPE_SPIN |
                   LWS_SERVER_OPTION_DO_SSL_GLOBAL_INIT;
    info.foreign_loops = st->foreign_loops;
    info.timeout_secs = st->opts.connect_secs ? st->opts.connect_secs : 10;
    info.connect_timeout_secs = st->opts.connect_secs ? st->opts.connect_secs : 5;
    info.gid = -1;
    info.uid = -1;
    info.user = st;
    st->lws = lws_create_context(&info);
    return st->lws ? 0 : VP_E_UNAVAILABLE;
}

/* The URL's path and query ("/" when it has none), without the fragment. */
static void url_path(const char *url, char *out, size_t cap)
{
    const char *p = strstr(url, "://");
    p = p ? p + 3 : url;
    p += strcspn(p, "/?#");
    size_t n = strcspn(p, "#");
    snprintf(out, cap, "%s%.*s", *p == '/' ? "" : "/", (int)n, p);
}

int stream__ws_connect(struct stream *s, const char *ip, const struct url_target *t)
{
    struct streamer *st = s->st;
    bool tls = strcmp(t->scheme, "wss") == 0;
    char path[STREAM_URL_MAX], host[300];
    url_path(s->p.url, path, sizeof(path));
    bool v6 = strchr(t->host, ':') != NULL, dflt = t->port == (tls ? 443 : 80);
    snprintf(host, sizeof(host), "%s%s%s", v6 ? "[" : "", t->host, v6 ? "]" : "");
    if (!dflt)
        snprintf(host + strlen(host), sizeof(host) - strlen(host), ":%d", t->port);
    struct lws_client_connect_info ci;
    memset(&ci, 0, sizeof(ci));
    ci.context = st->lws;
    ci.address = ip;
    ci.port = t->port;
    ci.path = path;
    ci.host = host;
    ci.origin = host;
    ci.ssl_connection = tls ? LCCSCF_USE_SSL : 0;
    ci.local_protocol_name = PROTOCOL_NAME;
    ci.ietf_version_or_minus_one = -1;
    ci.userdata = s;
    ci.pwsi = &s->wsi;
    if (lws_client_connect_via_info(&ci))
        return 0;
    s->wsi = NULL;
    snprintf(s->detail, sizeof(s->detail), "libwebsockets refused to connect to %.120s", host);
    return VP_E_IO;
}

void stream__ws_want_write(struct stream *s)
{
    if (s->wsi && (s->state == STREAM_OPEN || s->state == STREAM_CLOSING))
        lws_callback_on_writable(s->wsi);
}

void stream__ws_detach(struct stream *s)
{
    if (!s->wsi)
        return;
    lws_set_wsi_user(s->wsi, NULL);
    lws_set_timeout(s->wsi, PENDING_TIMEOUT_USER_OK, LWS_TO_KILL_ASYNC);
    s->wsi = NULL;
}

void stream__ws_close_soon(struct stream *s, int secs)
{
    if (s->wsi)
        lws_set_timeout(s->wsi, PENDING_TIMEOUT_USER_OK, secs);
}

void stream__ws_close(struct streamer *st)
{
    if (st->lws)
        lws_context_destroy(st->lws); /* starts closing its handles on the loop */
}

void stream__ws_destroy(struct streamer *st)
{
    if (st->lws)
        lws_context_destroy(st->lws); /* the handles are closed: free the rest */
    st->lws = NULL;
}
