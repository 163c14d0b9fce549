/*
 * stream_int.h - a stream and the streamer, shared by stream.c (life, taps, queue) and
 * stream_ws.c (the libwebsockets client). Nothing else includes it.
 */
#ifndef MF_STREAM_INT_H
#define MF_STREAM_INT_H

#include <libwebsockets.h>

#include "stream.h"
#include "stream_frame.h"
#include "voepy/url_guard.h"

#define STREAM_RX_MAX (64 * 1024) /* the largest client message read (fragments joined) */

enum stream_state {
    STREAM_CHECKING,   /* the URL is being checked */
    STREAM_CONNECTING, /* the WebSocket handshake runs */
    STREAM_OPEN,       /* streaming */
    STREAM_CLOSING,    /* the stop frame and what is queued go out, then close */
    STREAM_ENDED,      /* reported; freed by the reaper */
};

/* One queued text frame; LWS_PRE bytes of room in front for libwebsockets. */
struct stream_slot {
    unsigned char buf[LWS_PRE + STREAM_TEXT_MAX];
    size_t len;
    bool media;
};

struct stream {
    struct streamer *st;
    struct stream *next;
    enum stream_state state;
    struct stream_params p;
    char leg_id[LEG_ID_MAX], call_id[LEG_ID_MAX], reply_to[STREAM_MAX];
    struct leg *leg;         /* NULL once the leg has closed */
    struct leg_tap *tap;     /* NULL once removed */
    struct url_check *check; /* until its callback ran (even when canceled) */
    bool fail_pending;       /* could not start: the reaper reports it */
    bool close_sent;         /* our close frame is out: waiting for the server's */
    struct lws *wsi;         /* NULL until connecting and once detached */
    const char *reason, *error;
    char detail[192];
    struct stream_enc *enc[2]; /* [0] inbound, [1] outbound */
    struct stream_dec *dec;    /* bidirectional only */
    uint64_t seq, chunk[2], ticks, frames_sent, frames_dropped;
    struct stream_slot q[STREAM_QUEUE_FRAMES];
    unsigned qhead, qlen;
    char *rx; /* a client message being joined from fragments; NULL until needed */
    size_t rxlen;
    bool rx_overflow;
    uint8_t payload[STREAM_PAYLOAD_MAX];
};

struct streamer {
    uv_loop_t *loop;
    struct streamer_opts opts;
    struct lws_context *lws; /* NULL: streaming is not supported on this node */
    void *foreign_loops[1];  /* {loop}, for libwebsockets */
    struct stream *streams;  /* live and ended-not-yet-freed */
    uv_timer_t reaper;       /* frees ended streams outside of any callback */
    bool closing;
    stream_event_cb *cb;
    void *cb_arg;
    struct metric *started, *failed, *sent, *dropped, *received;
};

/* stream.c, for stream_ws.c */
void stream__opened(struct stream *s);
/* A whole text message from the client. */
void stream__received(struct stream *s, const char *text, size_t len);
/* The next queued frame to write, or NULL (the slot stays until stream__sent). */
struct stream_slot *stream__next(struct stream *s);
void stream__sent(struct stream *s);
/* The connection is gone (wsi already detached): report and end. */
void stream__closed(struct stream *s, const char *reason, const char *error, const char *detail);

/* stream_ws.c */
int stream__ws_init(struct streamer *st);
/* Connect s to ip (the checked address) for the URL's target; 0 or VP_E_IO (detail set). */
int stream__ws_connect(struct stream *s, const char *ip, const struct url_target *t);
void stream__ws_want_write(struct stream *s);
/* Forget the connection without waiting: it is closed in the background. */
void stream__ws_detach(struct stream *s);
/* Bound a graceful close: the connection is cut secs from now. */
void stream__ws_close_soon(struct stream *s, int secs);
/* First half of the context's destruction (closes its handles); second half. */
void stream__ws_close(struct streamer *st);
void stream__ws_destroy(struct streamer *st);

#endif
