/*
 * wsrecv - the WebSocket receiver of tests/bench/media's stream variant: a libwebsockets
 * server on 127.0.0.1 (a port the kernel picks) that takes any number of media-fork's
 * stream connections at once and counts the messages they carry, without parsing them.
 * libwebsockets does the protocol (handshake, unmasking, fragments, ping, the closing
 * handshake), so media-fork talks to a real server, and a message costs little here.
 *
 * Talks to its driver (bench.py) on stdin/stdout, one line each way:
 *   wsrecv
 *   -> "port P"                 listening
 *   <- "count"                  -> one JSON line of the counters so far:
 *        {"open": connections now open, "opened": ever opened, "media": media messages,
 *         "start": start messages, "stop": stop messages, "other": any other message,
 *         "media_bytes": bytes of the media messages}
 *   <- "quit" or end of input   exits 0
 *
 * A message is classified by its first bytes (stream_frame.h writes every frame as
 * {"event":"<kind>",...} in that order); the counts are summed over all connections.
 * The libwebsockets loop runs on the main thread, stdin is read on a second one; the
 * counters are atomics, so a snapshot needs no lock.
 *
 * Bench tool, not part of voepy: loopback only, ends with its input.
 */
#include <libwebsockets.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <string.h>

enum kind { K_MEDIA, K_START, K_STOP, K_OTHER, K_N };

static const char *const prefixes[K_N] = {
    [K_MEDIA] = "{\"event\":\"media\"",
    [K_START] = "{\"event\":\"start\"",
    [K_STOP] = "{\"event\":\"stop\"",
    [K_OTHER] = "",
};

static atomic_ullong counts[K_N], media_bytes, open_now, opened;
static atomic_int quitting;

/* Per connection: the kind of the message being received (set on its first fragment). */
struct conn {
    enum kind kind;
};

static enum kind classify(const char *in, size_t len)
{
    for (int k = 0; k < K_OTHER; k++) {
        size_t n = strlen(prefixes[k]);
        if (len >= n && memcmp(in, prefixes[k], n) == 0)
            return (enum kind)k;
    }
    return K_OTHER;
}

static void received(struct lws *wsi, struct conn *c, const char *in, size_t len)
{
    if (lws_is_first_fragment(wsi))
        c->kind = classify(in, len);
    if (c->kind == K_MEDIA)
        atomic_fetch_add_explicit(&media_bytes, len, memory_order_relaxed);
    if (lws_is_final_fragment(wsi) && !lws_remaining_packet_payload(wsi))
        atomic_fetch_add_explicit(&counts[c->kind], 1, memory_order_relaxed);
}

static int ws_cb(struct lws *wsi, enum lws_callback_reasons why, void *user, void *in, size_t len)
{
    switch (why) {
    case LWS_CALLBACK_ESTABLISHED:
        atomic_fetch_add(&open_now, 1);
        atomic_fetch_add(&opened, 1);
        return 0;
    case LWS_CALLBACK_RECEIVE:
        received(wsi, user, in, len);
        return 0;
    case LWS_CALLBACK_CLOSED:
        atomic_fetch_sub(&open_now, 1);
        return 0;
    default:
        return lws_callback_http_dummy(wsi, why, user, in, len);
    }
}

static const struct lws_protocols protocols[] = {
    /* the first protocol also takes connections that name none (media-fork names none) */
    {.name = "voepy-media-stream",
     .callback = ws_cb,
     .per_session_data_size = sizeof(struct conn),
     .rx_buffer_size = 4096},
    {.name = NULL},
};

static void print_counts(void)
{
    printf("{\"open\": %llu, \"opened\": %llu, \"media\": %llu, \"start\": %llu, "
           "\"stop\": %llu, \"other\": %llu, \"media_bytes\": %llu}\n",
           atomic_load(&open_now), atomic_load(&opened), atomic_load(&counts[K_MEDIA]),
           atomic_load(&counts[K_START]), atomic_load(&counts[K_STOP]),
           atomic_load(&counts[K_OTHER]), atomic_load(&media_bytes));
    fflush(stdout);
}

/* The control thread: answers "count" until "quit" or the end of input, then wakes the loop. */
static void *control(void *arg)
{
    struct lws_context *ctx = arg;
    char line[64];
    while (fgets(line, sizeof(line), stdin) && strncmp(line, "quit", 4) != 0) {
        if (strncmp(line, "count", 5) == 0)
            print_counts();
    }
    atomic_store(&quitting, 1);
    lws_cancel_service(ctx);
    return NULL;
}

int main(void)
{
    lws_set_log_level(LLL_ERR | LLL_WARN, NULL);
    struct lws_context_creation_info info;
    memset(&info, 0, sizeof(info));
    info.port = 0; /* the kernel picks */
    info.iface = "127.0.0.1";
    info.protocols = protocols;
    info.gid = -1;
    info.uid = -1;
    struct lws_context *ctx = lws_create_context(&info);
    struct lws_vhost *vh = ctx ? lws_get_vhost_by_name(ctx, "default") : NULL;
    int port = vh ? lws_get_vhost_listen_port(vh) : -1;
    pthread_t thread;
    if (port <= 0 || pthread_create(&thread, NULL, control, ctx)) {
        fprintf(stderr, "wsrecv: could not listen on 127.0.0.1\n");
        if (ctx)
            lws_context_destroy(ctx);
        return 1;
    }
    printf("port %d\n", port);
    fflush(stdout);
    while (!atomic_load(&quitting)) {
        if (lws_service(ctx, 0) < 0) {
            fprintf(stderr, "wsrecv: the service loop failed\n");
            return 1; /* exiting ends the control thread too */
        }
    }
    pthread_join(thread, NULL);
    lws_context_destroy(ctx);
    return 0;
}
