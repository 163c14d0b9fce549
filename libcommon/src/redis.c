/*
 * redis.c - one Redis connection on the loop: resolve, connect, handshake, commands with
 * timeouts, reconnect with backoff, close.
 *
 * Lifetime rules that shape this file:
 *  - hiredis calls every registered reply callback exactly once: with the reply, or with
 *    NULL when the context goes away. Our command object (struct rcmd) lives until then,
 *    even when the caller was already answered (timeout), and every such callback holds
 *    r alive (r->ncmds): r is freed only after the last one and after its timers closed.
 *  - A context is never freed from inside onConnect (hiredis keeps using it afterwards);
 *    from inside a reply callback redisAsyncFree only marks it and hiredis frees it when
 *    the callback returns; from a timer it is freed at once. conn_drop() detaches r from
 *    the context first (ac->data = NULL), so its late disconnect callback is ignored.
 */
#include "voepy/redis.h"

#include <arpa/inet.h>
#include <assert.h>
#include <hiredis/async.h>
#include <hiredis/hiredis.h>
#include <netdb.h>
#include <stdarg.h>
#include <stdint.h>
#include <string.h>
#include <strings.h>

#include "redis_uv.h"
#include "voepy/alloc.h"
#include "voepy/err.h"
#include "voepy/log.h"
#include "voepy/metrics.h"

#define BACKOFF_MIN_MS     100
#define BACKOFF_MAX_MS     5000
#define CMD_TIMEOUT_MS     5000
#define CONNECT_TIMEOUT_MS 2000

/*
 * IDLE waits out the backoff. RESOLVING and CONNECTING are one attempt, bounded as a
 * whole by connect_timeout_ms including the handshake (AUTH, CLIENT SETNAME, PING).
 * READY takes commands. CLOSING waits for hiredis' callbacks and our timers.
 */
enum redis_state { REDIS_IDLE, REDIS_RESOLVING, REDIS_CONNECTING, REDIS_READY, REDIS_CLOSING };

/* A caller's command, owned by hiredis' callback list until rcmd_reply_cb frees it. */
struct rcmd {
    struct redis *r;
    redis_reply_cb *cb;
    void *arg;
    uint64_t deadline; /* uv_now() ms; 0 = no timeout */
    int fail_status;   /* what a NULL reply means; 0 = decided by r's state */
    bool unanswered;   /* in r's list: the caller has not been answered yet */
    struct rcmd *prev, *next;
};

struct redis {
    uv_loop_t *loop;
    char *host, *password, *name;
    int port;
    bool numeric_host; /* host is an IP literal: no lookup */
    unsigned connect_timeout_ms, cmd_timeout_ms;
    enum redis_state state;
    redisAsyncContext *ac;
    uv_timer_t timer;     /* connect timeout, then backoff */
    uv_timer_t cmd_timer; /* deadline of the oldest unanswered command */
    uv_getaddrinfo_t gai;
    bool resolving;   /* gai is in flight (it may outlive the attempt that started it) */
    unsigned attempt; /* failed attempts since the last ready connection */
    unsigned handshake_left;
    unsigned ncmds;           /* hiredis callbacks still to come that point at r */
    struct rcmd *head, *tail; /* unanswered commands, oldest first (= reply order) */
    bool finishing;
    int handles_closed;
    redis_state_cb *state_cb;
    void *state_arg;
    void (*closed)(void *arg);
    void *closed_arg;
    struct metric *m_connected, *m_reconnects;
};

static void start_attempt(struct redis *r);

static const char *redis_state_name(enum redis_state s)
{
    switch (s) {
    case REDIS_IDLE:
        return "idle";
    case REDIS_RESOLVING:
        return "resolving";
    case REDIS_CONNECTING:
        return "connecting";
    case REDIS_READY:
        return "ready";
    case REDIS_CLOSING:
        return "closing";
    }
    return "?";
}

static const char *label(const struct redis *r)
{
    return r->name ? r->name : "redis";
}

static void handle_closed_cb(uv_handle_t *h)
{
    struct redis *r = h->data;
    if (++r->handles_closed < 2)
        return;
    void (*closed)(void *) = r->closed;
    void *arg = r->closed_arg;
    free(r->host);
    free(r->password);
    free(r->name);
    free(r);
    if (closed)
        closed(arg);
}

/* Free r once closing and nothing (hiredis callback, lookup) can reach it any more. */
static void maybe_finish(struct redis *r)
{
    if (r->state != REDIS_CLOSING || r->finishing || r->ncmds || r->resolving)
        return;
    r->finishing = true;
    uv_close((uv_handle_t *)&r->timer, handle_closed_cb);
    uv_close((uv_handle_t *)&r->cmd_timer, handle_closed_cb);
}

static void cmd_done(struct redis *r)
{
    assert(r->ncmds > 0);
    r->ncmds--;
    maybe_finish(r);
}

static void list_unlink(struct redis *r, struct rcmd *c)
{
    if (c->prev)
        c->prev->next = c->next;
    else
        r->head = c->next;
    if (c->next)
        c->next->prev = c->prev;
    else
        r->tail = c->prev;
    c->prev = c->next = NULL;
    c->unanswered = false;
}

static void list_append(struct redis *r, struct rcmd *c)
{
    c->prev = r->tail;
    if (r->tail)
        r->tail->next = c;
    else
        r->head = c;
    r->tail = c;
    c->unanswered = true;
}

/*
 * Detach r from its context and free the context; pending commands get their NULL
 * reply now (or, inside a hiredis callback, as soon as it returns).
 */
static void conn_drop(struct redis *r)
{
    redisAsyncContext *ac = r->ac;
    if (!ac)
        return;
    r->ac = NULL;
    ac->data = NULL;
    redisAsyncFree(ac);
}

static unsigned backoff_ms(unsigned attempt)
{
    unsigned shift = attempt > 6 ? 6 : attempt;
    unsigned ms = BACKOFF_MIN_MS << shift;
    return ms > BACKOFF_MAX_MS ? BACKOFF_MAX_MS : ms;
}

static void retry_cb(uv_timer_t *t)
{
    struct redis *r = t->data;
    metric_inc(r->m_reconnects);
    start_attempt(r);
}

/*
 * The attempt failed or the ready connection was lost: fail what is pending, wait out
 * the backoff, try again. Callers' callbacks may run (and may close r) in between.
 */
static void schedule_retry(struct redis *r, const char *why)
{
    bool was_ready = r->state == REDIS_READY;
    r->state = REDIS_IDLE;
    uv_timer_stop(&r->cmd_timer);
    conn_drop(r);
    if (r->state == REDIS_CLOSING)
        return;
    unsigned delay = backoff_ms(r->attempt++);
    uv_timer_start(&r->timer, retry_cb, delay, 0);
    vlog(VLOG_WARN, was_ready ? "redis.disconnected" : "redis.connect_failed",
         "redis %s (%s:%d): %s; retrying in %u ms", label(r), r->host, r->port, why, delay);
    if (!was_ready)
        return;
    metric_set(r->m_connected, 0);
    if (r->state_cb)
        r->state_cb(false, r->state_arg);
}

static void set_ready(struct redis *r)
{
    r->state = REDIS_READY;
    r->attempt = 0;
    uv_timer_stop(&r->timer);
    log_info("redis.connected", "redis %s connected to %s:%d", label(r), r->host, r->port);
    metric_set(r->m_connected, 1);
    if (r->state_cb)
        r->state_cb(true, r->state_arg);
}

static void handshake_cb(redisAsyncContext *ac, void *reply, void *privdata)
{
    struct redis *r = privdata;
    redisReply *rep = reply;
    /* NULL: the context is going away and the disconnect callback follows. */
    if (rep && ac == r->ac && r->state == REDIS_CONNECTING) {
        if (rep->type == REDIS_REPLY_ERROR)
            schedule_retry(r, rep->str);
        else if (--r->handshake_left == 0)
            set_ready(r);
    }
    cmd_done(r);
}

static void handshake_send(struct redis *r, int argc, const char **argv)
{
    if (redisAsyncCommandArgv(r->ac, handshake_cb, r, argc, argv, NULL) != REDIS_OK)
        return; /* cannot happen on a fresh context; the connect timer would cover it */
    r->ncmds++;
    r->handshake_left++;
}

/* Called from onConnect: must not free the context (hiredis uses it after we return). */
static void send_handshake(struct redis *r)
{
    r->handshake_left = 0;
    if (r->password)
        handshake_send(r, 2, (const char *[]){"AUTH", r->password});
    if (r->name)
        handshake_send(r, 3, (const char *[]){"CLIENT", "SETNAME", r->name});
    /* PING proves that a server (not just a TCP listener) answers. */
    handshake_send(r, 1, (const char *[]){"PING"});
}

static void connect_cb(const redisAsyncContext *ac, int status)
{
    struct redis *r = ac->data;
    if (!r)
        return;
    if (status == REDIS_OK) {
        send_handshake(r);
        return;
    }
    r->ac = NULL; /* hiredis frees the context when we return */
    schedule_retry(r, ac->c.errstr);
}

static void disconnect_cb(const redisAsyncContext *ac, int status)
{
    struct redis *r = ac->data;
    if (!r)
        return;
    r->ac = NULL; /* being freed by hiredis */
    schedule_retry(r, status == REDIS_OK ? "connection closed" : ac->c.errstr);
}

static void connect_ip(struct redis *r, const char *ip)
{
    r->state = REDIS_CONNECTING;
    redisAsyncContext *ac = redisAsyncConnect(ip, r->port);
    char why[160];
    if (!ac) {
        schedule_retry(r, "cannot allocate a context");
        return;
    }
    if (ac->err || redis_uv_attach(ac, r->loop) != 0) {
        snprintf(why, sizeof(why), "%s", ac->err ? ac->errstr : "cannot poll the socket");
        redisAsyncFree(ac);
        schedule_retry(r, why);
        return;
    }
    ac->data = r;
    r->ac = ac;
    redisAsyncSetConnectCallback(ac, connect_cb); /* after attach: it asks for a write event */
    redisAsyncSetDisconnectCallback(ac, disconnect_cb);
}

/* Prefer IPv4: local Redis servers usually bind 127.0.0.1 only. */
static int pick_addr(const struct addrinfo *res, char *ip, size_t iplen)
{
    const struct addrinfo *best = NULL;
    for (const struct addrinfo *a = res; a; a = a->ai_next) {
        if (a->ai_family == AF_INET && (!best || best->ai_family != AF_INET))
            best = a;
        else if (a->ai_family == AF_INET6 && !best)
            best = a;
    }
    if (!best)
        return UV_EAI_NONAME;
    return uv_ip_name(best->ai_addr, ip, iplen);
}

static void gai_cb(uv_getaddrinfo_t *req, int status, struct addrinfo *res)
{
    struct redis *r = req->data;
    char ip[INET6_ADDRSTRLEN] = "";
    int rc = status ? status : pick_addr(res, ip, sizeof(ip));
    r->resolving = false;
    uv_freeaddrinfo(res);
    if (r->state == REDIS_CLOSING) {
        maybe_finish(r);
        return;
    }
    if (r->state != REDIS_RESOLVING)
        return; /* that attempt timed out; the next one resolves again */
    if (rc) {
        schedule_retry(r, uv_strerror(rc));
        return;
    }
    connect_ip(r, ip);
}

static void connect_timeout_cb(uv_timer_t *t)
{
    struct redis *r = t->data;
    if (r->state == REDIS_RESOLVING && r->resolving)
        uv_cancel((uv_req_t *)&r->gai);
    schedule_retry(r, "connect timeout");
}

static void start_attempt(struct redis *r)
{
    uv_timer_start(&r->timer, connect_timeout_cb, r->connect_timeout_ms, 0);
    if (r->numeric_host) {
        connect_ip(r, r->host);
        return;
    }
    r->state = REDIS_RESOLVING;
    if (r->resolving)
        return; /* an earlier lookup is still running: its answer serves this attempt */
    struct addrinfo hints = {.ai_family = AF_UNSPEC, .ai_socktype = SOCK_STREAM};
    int rc = uv_getaddrinfo(r->loop, &r->gai, gai_cb, r->host, NULL, &hints);
    if (rc) {
        schedule_retry(r, uv_strerror(rc));
        return;
    }
    r->resolving = true;
}

/*
 * The oldest unanswered command is the head of the list (replies come in order). When
 * it expires we cannot skip its late reply, so the whole connection is recycled: it
 * gets VP_E_TIMEOUT, the commands behind it VP_E_CLOSED.
 */
static void cmd_timer_cb(uv_timer_t *t)
{
    struct redis *r = t->data;
    struct rcmd *c = r->head;
    if (!c || !c->deadline)
        return;
    uint64_t now = uv_now(r->loop);
    if (c->deadline > now) {
        uv_timer_start(t, cmd_timer_cb, c->deadline - now, 0);
        return;
    }
    c->fail_status = VP_E_TIMEOUT;
    log_warn("redis.cmd_timeout", "redis %s: no reply within %u ms, reconnecting", label(r),
             r->cmd_timeout_ms);
    schedule_retry(r, "command timeout");
}

static void rcmd_reply_cb(redisAsyncContext *ac, void *reply, void *privdata)
{
    struct rcmd *c = privdata;
    struct redis *r = c->r;
    if (c->unanswered) {
        list_unlink(r, c);
        int status = 0;
        if (!reply)
            status = c->fail_status              ? c->fail_status
                     : r->state == REDIS_CLOSING ? VP_E_CANCELED
                                                 : VP_E_CLOSED;
        if (c->cb)
            c->cb(status, status ? NULL : reply, c->arg);
    }
    free(c);
    cmd_done(r);
}

/* Subscriptions and MONITOR break hiredis' one-reply-per-command bookkeeping. */
static bool name_allowed(const char *name, size_t n)
{
    static const char *const refused[] = {"subscribe", "psubscribe", "unsubscribe", "punsubscribe",
                                          "monitor"};
    for (size_t i = 0; i < sizeof(refused) / sizeof(refused[0]); i++)
        if (strlen(refused[i]) == n && strncasecmp(name, refused[i], n) == 0)
            return false;
    return true;
}

/* Check a formatted command "*N\r\n$L\r\nNAME\r\n..." (NUL-terminated by hiredis). */
static bool formatted_ok(const char *cmd, int len)
{
    const char *end = cmd + len;
    const char *p = memchr(cmd, '\n', (size_t)len);
    if (!p || end - p < 3 || p[1] != '$')
        return false;
    char *q;
    long n = strtol(p + 2, &q, 10);
    if (n <= 0 || end - q < 2 + n)
        return false;
    return name_allowed(q + 2, (size_t)n);
}

/* Takes ownership of buf (from hiredis' formatter). */
static int submit(struct redis *r, redis_reply_cb *cb, void *arg, char *buf, int len)
{
    int rc = 0;
    if (len < 0 || !formatted_ok(buf, len)) {
        rc = VP_E_INVALID_PARAMETER;
        goto out;
    }
    struct rcmd *c = VP_NEW(c);
    *c = (struct rcmd){.r = r, .cb = cb, .arg = arg};
    if (redisAsyncFormattedCommand(r->ac, rcmd_reply_cb, c, buf, (size_t)len) != REDIS_OK) {
        free(c); /* the context is going away; its disconnect callback follows */
        rc = VP_E_UNAVAILABLE;
        goto out;
    }
    r->ncmds++;
    list_append(r, c);
    if (r->cmd_timeout_ms) {
        c->deadline = uv_now(r->loop) + r->cmd_timeout_ms;
        if (!uv_is_active((uv_handle_t *)&r->cmd_timer))
            uv_timer_start(&r->cmd_timer, cmd_timer_cb, r->cmd_timeout_ms, 0);
    }
out:
    if (len >= 0)
        redisFreeCommand(buf);
    return rc;
}

int redis_cmd(struct redis *r, redis_reply_cb *cb, void *arg, const char *fmt, ...)
{
    if (r->state != REDIS_READY || !r->ac)
        return VP_E_UNAVAILABLE;
    char *buf = NULL;
    va_list ap;
    va_start(ap, fmt);
    int len = redisvFormatCommand(&buf, fmt, ap);
    va_end(ap);
    return submit(r, cb, arg, buf, len);
}

int redis_cmdv(struct redis *r, redis_reply_cb *cb, void *arg, int argc, const char **argv,
               const size_t *argvlen)
{
    if (argc < 1 || !argv)
        return VP_E_INVALID_PARAMETER;
    if (r->state != REDIS_READY || !r->ac)
        return VP_E_UNAVAILABLE;
    char *buf = NULL;
    int len = redisFormatCommandArgv(&buf, argc, argv, argvlen);
    return submit(r, cb, arg, buf, len);
}

void redis_on_state(struct redis *r, redis_state_cb *cb, void *arg)
{
    r->state_cb = cb;
    r->state_arg = arg;
}

bool redis_connected(const struct redis *r)
{
    return r->state == REDIS_READY;
}

void redis_close(struct redis *r, void (*closed)(void *arg), void *arg)
{
    assert(r->state != REDIS_CLOSING);
    log_debug("redis.close", "redis %s closing in state %s", label(r), redis_state_name(r->state));
    if (r->state == REDIS_READY)
        metric_set(r->m_connected, 0);
    r->state = REDIS_CLOSING;
    r->closed = closed;
    r->closed_arg = arg;
    uv_timer_stop(&r->timer);
    uv_timer_stop(&r->cmd_timer);
    if (r->resolving)
        uv_cancel((uv_req_t *)&r->gai);
    conn_drop(r);
    maybe_finish(r);
}

/* A name goes into CLIENT SETNAME (no spaces) and into a metrics label (no quotes). */
static bool name_valid(const char *s)
{
    if (!*s || strlen(s) > 64)
        return false;
    for (; *s; s++)
        if (*s <= ' ' || *s > '~' || *s == '"' || *s == '\\')
            return false;
    return true;
}

static int check_opts(const struct redis_opts *o)
{
    if (o->port < 0 || o->port > 65535)
        return VP_E_INVALID_PARAMETER;
    if (o->host && !*o->host)
        return VP_E_INVALID_PARAMETER;
    if (o->name && !name_valid(o->name))
        return VP_E_INVALID_PARAMETER;
    if (o->password && !*o->password)
        return VP_E_INVALID_PARAMETER;
    return 0;
}

static bool is_ip_literal(const char *host)
{
    unsigned char buf[sizeof(struct in6_addr)];
    return inet_pton(AF_INET, host, buf) == 1 || inet_pton(AF_INET6, host, buf) == 1;
}

static void init_metrics(struct redis *r)
{
    char *labels = vp_asprintf("name=\"%s\"", label(r));
    r->m_connected = metrics_gauge("voepy_redis_connected",
                                   "1 while the named Redis connection is ready.", labels);
    r->m_reconnects = metrics_counter("voepy_redis_reconnects_total",
                                      "Connection attempts after a failure or a loss.", labels);
    free(labels);
    metric_set(r->m_connected, 0);
}

int redis_create(struct redis **rp, uv_loop_t *loop, const struct redis_opts *opts)
{
    static const struct redis_opts defaults = {0};
    const struct redis_opts *o = opts ? opts : &defaults;
    int rc = check_opts(o);
    if (rc)
        return rc;
    struct redis *r = VP_NEW(r);
    r->loop = loop;
    r->host = vp_strdup(o->host ? o->host : "127.0.0.1");
    r->port = o->port ? o->port : 6379;
    r->password = o->password ? vp_strdup(o->password) : NULL;
    r->name = o->name ? vp_strdup(o->name) : NULL;
    r->numeric_host = is_ip_literal(r->host);
    r->connect_timeout_ms = o->connect_timeout_ms ? o->connect_timeout_ms : CONNECT_TIMEOUT_MS;
    /* Zero takes the default: a zeroed opts struct must never mean "wait forever". */
    r->cmd_timeout_ms = o->cmd_timeout_ms == REDIS_NO_TIMEOUT ? 0
                        : o->cmd_timeout_ms                   ? o->cmd_timeout_ms
                                                              : CMD_TIMEOUT_MS;
    r->gai.data = r;
    uv_timer_init(loop, &r->timer);
    uv_timer_init(loop, &r->cmd_timer);
    r->timer.data = r->cmd_timer.data = r;
    init_metrics(r);
    start_attempt(r);
    *rp = r;
    return 0;
}
