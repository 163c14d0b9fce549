/* Fetching audio over http(s) behind the URL policy; see audio_fetch.h. */
#include "audio_fetch.h"

#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <unistd.h>

#include "audio_cache.h"
#include "audio_file.h"
#include "voepy/alloc.h"
#include "voepy/http_client.h"
#include "voepy/log.h"
#include "voepy/url_guard.h"

#define DEFAULT_MAX_BYTES (20u << 20)
#define DEFAULT_TIMEOUT   15000

struct waiter {
    struct waiter *next;
    audio_fetch_cb *cb;
    void *arg;
};

/* One download, shared by everyone who asked for its URL meanwhile. */
struct job {
    struct job *next;
    struct audio_fetch *f;
    char *url;
    struct url_check *check; /* while the URL is being checked */
    struct waiter *waiters;
};

struct audio_fetch {
    uv_loop_t *loop;
    struct httpc *http;
    struct url_policy *policy;
    struct audio_cache *cache;
    size_t max_bytes;
    unsigned timeout_ms, max_secs;
    struct job *jobs;
    bool closing, http_closed;
    void (*closed)(void *arg);
    void *closed_arg;
};

int audio_fetch_create(struct audio_fetch **fp, uv_loop_t *loop, const struct audio_fetch_opts *o)
{
    struct audio_fetch *f = VP_NEW(f);
    struct httpc_opts ho = {.max_host_connections = 4};
    int err = httpc_create(&f->http, loop, &ho);
    if (err) {
        free(f);
        return err;
    }
    f->loop = loop;
    f->policy = o->policy;
    f->cache = o->cache;
    f->max_bytes = o->max_bytes ? o->max_bytes : DEFAULT_MAX_BYTES;
    f->timeout_ms = o->timeout_ms ? o->timeout_ms : DEFAULT_TIMEOUT;
    f->max_secs = o->max_secs ? o->max_secs : 600;
    *fp = f;
    return 0;
}

int audio_fetch_is_remote(const char *url)
{
    return strncasecmp(url, "http://", 7) == 0 || strncasecmp(url, "https://", 8) == 0;
}

struct audio *audio_fetch_cached(struct audio_fetch *f, const char *url)
{
    return audio_cache_find_url(f->cache, url, uv_now(f->loop));
}

static void maybe_free(struct audio_fetch *f)
{
    if (!f->closing || f->jobs || !f->http_closed)
        return;
    void (*closed)(void *) = f->closed;
    void *arg = f->closed_arg;
    free(f);
    if (closed)
        closed(arg);
}

/* Tell every waiter (a: success, with a reference each) and free the job. */
static void finish(struct job *j, struct audio *a, const struct vp_error *e)
{
    struct audio_fetch *f = j->f;
    for (struct job **pp = &f->jobs; *pp; pp = &(*pp)->next)
        if (*pp == j) {
            *pp = j->next;
            break;
        }
    if (e)
        vlog_kv(VLOG_WARN, "media.fetch_failed", e->message, "url", j->url, NULL);
    while (j->waiters) {
        struct waiter *w = j->waiters;
        j->waiters = w->next;
        if (a)
            audio_ref(a);
        w->cb(a, a ? NULL : e, w->arg);
        free(w);
    }
    audio_unref(a);
    free(j->url);
    free(j);
    maybe_free(f);
}

static void fail(struct job *j, int err, const char *fmt, const char *detail)
{
    struct vp_error e = {0};
    vp_error_set(&e, err, "audio", fmt, detail ? detail : "");
    finish(j, NULL, &e);
}

/* Decode a downloaded body through a temporary file (libsndfile reads files). */
static int decode(struct job *j, const char *body, size_t len, struct audio **ap,
                  struct vp_error *e)
{
    const char *tmpdir = getenv("TMPDIR");
    char path[512];
    snprintf(path, sizeof(path), "%s/voepy-audio-XXXXXX", tmpdir && *tmpdir ? tmpdir : "/tmp");
    int fd = mkstemp(path);
    if (fd < 0)
        return vp_error_set(e, VP_E_IO, "audio", "cannot create a temporary file");
    bool ok = write(fd, body, len) == (ssize_t)len;
    close(fd);
    int err = ok ? audio_file_load(path, j->f->max_secs, ap, e)
                 : vp_error_set(e, VP_E_IO, "audio", "cannot write a temporary file");
    unlink(path);
    return err;
}

static void http_cb(const struct httpc_response *res, void *arg)
{
    struct job *j = arg;
    char why[96];
    if (res->status || res->http_status != 200) {
        snprintf(why, sizeof(why), "%s (HTTP %ld)", res->status ? vp_err_message(res->status) : "",
                 res->http_status);
        fail(j, res->status == VP_E_CANCELED ? VP_E_CANCELED : VP_E_UPSTREAM,
             "the audio could not be fetched: %s", why);
        return;
    }
    if (res->body_len > j->f->max_bytes) {
        fail(j, VP_E_UPSTREAM, "the audio is larger than allowed%s", NULL);
        return;
    }
    struct audio *a = NULL;
    struct vp_error e = {0};
    if (decode(j, res->body, res->body_len, &a, &e)) {
        finish(j, NULL, &e);
        return;
    }
    audio_cache_put_url(j->f->cache, j->url, a, uv_now(j->f->loop));
    finish(j, a, NULL);
}

static void guard_cb(const struct url_check_result *res, void *arg)
{
    struct job *j = arg;
    j->check = NULL;
    if (res->status) {
        int err = res->status == VP_E_CANCELED ? VP_E_CANCELED
                  : res->status == VP_E_IO     ? VP_E_UPSTREAM
                                               : VP_E_FORBIDDEN;
        fail(j, err, "the audio URL is refused: %s", res->reason);
        return;
    }
    struct httpc_request req = {.url = j->url,
                                .connect_ip = res->ip,
                                .timeout_ms = j->f->timeout_ms,
                                .max_response_bytes = j->f->max_bytes + 1};
    int err = j->f->closing ? VP_E_CLOSED : httpc_send(j->f->http, &req, http_cb, j);
    if (err)
        fail(j, err == VP_E_CLOSED ? VP_E_CANCELED : VP_E_UPSTREAM, "cannot fetch the audio: %s",
             vp_err_message(err));
}

static struct job *find_job(struct audio_fetch *f, const char *url)
{
    for (struct job *j = f->jobs; j; j = j->next)
        if (strcmp(j->url, url) == 0)
            return j;
    return NULL;
}

int audio_fetch_get(struct audio_fetch *f, const char *url, audio_fetch_cb *cb, void *arg)
{
    if (f->closing)
        return VP_E_CLOSED;
    struct job *j = find_job(f, url);
    if (!j) {
        j = VP_NEW(j);
        j->f = f;
        j->url = vp_strdup(url);
        struct url_guard_opts go = {.policy = f->policy};
        if (url_guard_check(f->loop, url, &go, guard_cb, j, &j->check)) {
            free(j->url);
            free(j);
            return VP_E_IO;
        }
        j->next = f->jobs;
        f->jobs = j;
    }
    struct waiter *w = VP_NEW(w);
    *w = (struct waiter){j->waiters, cb, arg};
    j->waiters = w;
    return 0;
}

static void http_closed_cb(void *arg)
{
    struct audio_fetch *f = arg;
    f->http_closed = true;
    maybe_free(f);
}

void audio_fetch_close(struct audio_fetch *f, void (*closed)(void *arg), void *arg)
{
    f->closing = true;
    f->closed = closed;
    f->closed_arg = arg;
    for (struct job *j = f->jobs; j; j = j->next)
        if (j->check)
            url_guard_cancel(j->check);
    httpc_close(f->http, http_closed_cb, f);
}
