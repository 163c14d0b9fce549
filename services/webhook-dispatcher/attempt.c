#include "attempt.h"
#include "recorder.h"
#include "wh_request.h"

#include "voepy/alloc.h"
#include "voepy/crypto.h"
#include "voepy/err.h"
#include "voepy/http_client.h"
#include "voepy/log.h"
#include "voepy/metrics.h"
#include "voepy/pg.h"
#include "voepy/url_guard.h"
#include "voepy/vtime.h"

#include <arpa/inet.h>
#include <inttypes.h>
#include <netinet/in.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/*
 * The claim's columns an attempt keeps (copied: the claim's result goes away), by their
 * position in wh_claim()'s result (proto/sql/0041_webhooks_v2.sql: delivery_id, tenant_id,
 * endpoint_id, url, secret, previous_secret, ed25519_secret_key, event_id, payload,
 * attempt, replay): read by number, not looked up by name for every row.
 */
enum field {
    F_DELIVERY,
    F_ENDPOINT,
    F_URL,
    F_SECRET,
    F_PREVIOUS,
    F_ED25519,
    F_EVENT,
    F_PAYLOAD,
    NFIELDS
};
static const int field_cols[NFIELDS] = {0, 2, 3, 4, 5, 6, 7, 8};
#define COL_ATTEMPT 9
#define COL_REPLAY  10

/* One allocation: the struct, then the NUL-terminated fields it points at. */
struct attempt {
    struct attempt_env *env;
    const char *f[NFIELDS];
    const char *url; /* f[F_URL] */
    size_t payload_len;
    char attempt_no[16];
    bool replay;
    uint64_t started_ns;
    /* the result, handed to the recorder */
    char error[256];
    char response[WH_RESPONSE_KEEP + 1];
    char retry_after[64]; /* the answer's Retry-After, "" when none */
    struct wh_result result;
    uv_timer_t defer; /* reports a failure before any I/O from the loop, not the caller */
    attempt_done_cb *done;
    void *arg;
    char strings[];
};

static void attempt_free_cb(uv_handle_t *h)
{
    free(h->data);
}

/* The last thing an attempt does: report, then free (via the timer's close). */
static void finish(struct attempt *a, const char *outcome)
{
    a->done(outcome, a->arg);
    uv_close((uv_handle_t *)&a->defer, attempt_free_cb);
}

static void log_outcome(const struct attempt *a, const char *outcome)
{
    bool bad = strcmp(outcome, "exhausted") == 0 || strcmp(outcome, "gone") == 0 ||
               strcmp(outcome, "disabled") == 0;
    if (!bad && !vlog_enabled(VLOG_DEBUG))
        return; /* the hot path: no formatting for a line nobody reads */
    char status[16];
    snprintf(status, sizeof(status), "%ld", a->result.http_status);
    vlog_kv(bad ? VLOG_WARN : VLOG_DEBUG,
            strcmp(outcome, "exhausted") == 0 ? "webhook.exhausted" : "webhook.attempt",
            a->error[0] ? a->error : outcome, "delivery_id", a->f[F_DELIVERY], "endpoint_id",
            a->f[F_ENDPOINT], "event_id", a->f[F_EVENT], "attempt", a->attempt_no, "outcome",
            outcome, "http_status", status, NULL);
}

static void recorded_cb(struct wh_result *r, const char *outcome)
{
    struct attempt *a = (struct attempt *)((char *)r - offsetof(struct attempt, result));
    if (outcome)
        log_outcome(a, outcome);
    finish(a, outcome);
}

static void record(struct attempt *a)
{
    if (a->env->stopping) {
        finish(a, NULL); /* the recorder is closing: leave it to the lease */
        return;
    }
    struct wh_result *r = &a->result;
    r->delivery_id = a->f[F_DELIVERY];
    r->attempt = a->attempt_no;
    r->error = a->error;
    r->duration_ms = (uv_hrtime() - a->started_ns) / 1000000;
    r->response = a->response;
    r->done = recorded_cb;
    recorder_add(a->env->recorder, r);
}

/* Decide what this answer (or its absence) means, then record it. */
static void conclude(struct attempt *a)
{
    unsigned n = (unsigned)strtoul(a->attempt_no, NULL, 10);
    const char *ra = a->retry_after[0] ? a->retry_after : NULL;
    int64_t now_s = vtime_now_ms() / 1000;
    struct wh_decision *d = &a->result.decision;
    wh_decide(a->result.http_status, ra, n, a->replay, &a->env->schedule, 0, now_s, d);
    if (d->outcome == WH_RETRY) { /* only a retry's wait has jitter: a getrandom() for it */
        uint64_t rnd;
        crypto_random(&rnd, sizeof(rnd));
        wh_decide(a->result.http_status, ra, n, a->replay, &a->env->schedule, rnd, now_s, d);
    }
    if (a->result.decision.outcome != WH_SUCCEEDED && !a->error[0])
        snprintf(a->error, sizeof(a->error), "HTTP %ld", a->result.http_status);
    record(a);
}

static void response_cb(const struct httpc_response *res, void *arg)
{
    struct attempt *a = arg;
    if (res->status == VP_E_CANCELED) {
        finish(a, NULL); /* the client is closing: leave it to the lease */
        return;
    }
    metric_observe(a->env->m_latency, res->total_ms / 1000.0);
    a->result.http_status = res->status ? 0 : res->http_status;
    if (res->status) {
        snprintf(a->error, sizeof(a->error), "%s: %s", vp_err_code(res->status),
                 res->error ? res->error : vp_err_message(res->status));
    } else {
        wh_text_sanitize(res->body ? res->body : "", res->body ? res->body_len : 0, a->response,
                         WH_RESPONSE_KEEP);
        /* Retry-After only matters for a failed answer (retry.h) */
        bool ok = res->http_status >= 200 && res->http_status <= 299;
        const char *ra = ok ? NULL : httpc_response_header(res, "retry-after");
        if (ra)
            snprintf(a->retry_after, sizeof(a->retry_after), "%s", ra);
    }
    conclude(a);
}

static void send_request(struct attempt *a, const char *ip)
{
    struct wh_headers h;
    const struct webhook_keys keys = {a->f[F_SECRET], a->f[F_PREVIOUS], a->f[F_ED25519]};
    int err = wh_headers_build(&h, a->f[F_EVENT], &keys, a->f[F_PAYLOAD], a->payload_len,
                               vtime_now_ms() / 1000);
    if (err) {
        snprintf(a->error, sizeof(a->error), "cannot sign: malformed key or event id");
        conclude(a);
        return;
    }
    struct httpc_request req = {.method = "POST",
                                .url = a->f[F_URL],
                                .headers = h.list,
                                .body = a->f[F_PAYLOAD],
                                .body_len = a->payload_len,
                                .timeout_ms = a->env->timeout_ms,
                                .max_response_bytes = WH_RESPONSE_KEEP,
                                .connect_ip = ip};
    err = httpc_send(a->env->http, &req, response_cb, a);
    if (err) {
        snprintf(a->error, sizeof(a->error), "not sent: %s", vp_err_message(err));
        conclude(a);
    }
}

static void guarded_cb(const struct url_check_result *r, void *arg)
{
    struct attempt *a = arg;
    if (a->env->stopping || r->status == VP_E_CANCELED) {
        finish(a, NULL);
        return;
    }
    if (r->status) {
        snprintf(a->error, sizeof(a->error), "url refused: %s", r->reason);
        conclude(a);
        return;
    }
    send_request(a, r->ip);
}

/* The URL does not even parse: a failed attempt, reported from the loop. */
static void bad_url_cb(uv_timer_t *t)
{
    conclude(t->data);
}

/* An attempt holding a copy of row `row` of a wh_claim() result, in one allocation. */
static struct attempt *attempt_new(const struct pg_result *res, int row)
{
    const char *v[NFIELDS];
    size_t len[NFIELDS], total = 0;
    for (int i = 0; i < NFIELDS; i++) {
        v[i] = pg_value(res, row, field_cols[i]);
        len[i] = v[i] ? strlen(v[i]) : 0;
        total += len[i] + 1;
    }
    struct attempt *a = vp_malloc(sizeof(*a) + total);
    memset(a, 0, sizeof(*a));
    char *p = a->strings;
    for (int i = 0; i < NFIELDS; i++) {
        memcpy(p, v[i] ? v[i] : "", len[i] + 1);
        a->f[i] = p;
        p += len[i] + 1;
    }
    a->url = a->f[F_URL];
    a->payload_len = len[F_PAYLOAD];
    const char *n = pg_value(res, row, COL_ATTEMPT), *replay = pg_value(res, row, COL_REPLAY);
    snprintf(a->attempt_no, sizeof(a->attempt_no), "%s", n ? n : "1");
    a->replay = replay && replay[0] == 't';
    return a;
}

/*
 * An endpoint URL with a literal address that the policy allows needs no resolver: the
 * check is decided here and the request sent at once, without the thread-pool round trip
 * of url_guard_check() (which reports even a literal from the loop). Writes the address
 * to connect to (the canonical text of the checked literal) and returns true; false for
 * anything else (a name, a refusal), which takes url_guard_check()'s path and its reason.
 */
static bool literal_allowed(const struct attempt *a, char ip[INET6_ADDRSTRLEN])
{
    struct url_target t;
    const struct url_guard_opts go = {.policy = a->env->url_policy};
    if (url_guard_vet(a->url, &go, &t, NULL, 0) || !t.literal)
        return false;
    unsigned char addr[sizeof(struct in6_addr)];
    int af = strchr(t.host, ':') ? AF_INET6 : AF_INET;
    return inet_pton(af, t.host, addr) == 1 && inet_ntop(af, addr, ip, INET6_ADDRSTRLEN);
}

void attempt_start(struct attempt_env *env, const struct pg_result *res, int row,
                   attempt_done_cb *done, void *arg)
{
    struct attempt *a = attempt_new(res, row);
    a->env = env;
    a->done = done;
    a->arg = arg;
    a->started_ns = uv_hrtime();
    uv_timer_init(env->loop, &a->defer);
    a->defer.data = a;
    char ip[INET6_ADDRSTRLEN];
    if (literal_allowed(a, ip)) {
        send_request(a, ip);
        return;
    }
    const struct url_guard_opts go = {.policy = env->url_policy};
    int err = url_guard_check(env->loop, a->url, &go, guarded_cb, a, NULL);
    if (err) {
        snprintf(a->error, sizeof(a->error), "url refused: %s", vp_err_message(err));
        uv_timer_start(&a->defer, bad_url_cb, 0, 0);
    }
}
