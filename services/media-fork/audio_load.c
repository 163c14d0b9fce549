/* Loading audio for verbs off the loop; see audio_load.h. */
#include "audio_load.h"

#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/stat.h>
#include <unistd.h>

#include "audio_cache.h"
#include "audio_file.h"
#include "voepy/alloc.h"
#include "voepy/http_client.h"
#include "voepy/log.h"
#include "voepy/url_guard.h"
#include "waiters.h"

#define DEFAULT_MAX_BYTES (20u << 20)
#define DEFAULT_TIMEOUT   15000

/*
 * One file to decode or URL to fetch and decode, shared by everyone who asked for it
 * meanwhile. Freed by finish(); while a worker runs (work in use) nothing else touches
 * the fields it uses (path, body, result, err).
 */
struct job {
    struct job *next;
    struct audio_load *l;
    char *key; /* the file's real path, or the URL */
    bool remote;
    struct stat st;          /* local: the file as resolved */
    struct url_check *check; /* remote: while the URL is being checked */
    char *body;              /* remote: the download, until the worker has written it */
    size_t body_len;
    uv_work_t work;
    struct audio *result;   /* set by the worker */
    struct vp_error err;    /* set by the worker */
    struct waiters waiters; /* told by finish() */
};

struct audio_load {
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

int audio_load_create(struct audio_load **lp, uv_loop_t *loop, const struct audio_load_opts *o)
{
    struct audio_load *l = VP_NEW(l);
    struct httpc_opts ho = {.max_host_connections = 4};
    int err = httpc_create(&l->http, loop, &ho);
    if (err) {
        free(l);
        return err;
    }
    l->loop = loop;
    l->policy = o->policy;
    l->cache = o->cache;
    l->max_bytes = o->max_fetch_bytes ? o->max_fetch_bytes : DEFAULT_MAX_BYTES;
    l->timeout_ms = o->fetch_timeout_ms ? o->fetch_timeout_ms : DEFAULT_TIMEOUT;
    l->max_secs = audio_cache_max_secs(o->cache);
    *lp = l;
    return 0;
}

static bool is_remote(const char *url)
{
    return strncasecmp(url, "http://", 7) == 0 || strncasecmp(url, "https://", 8) == 0;
}

static void maybe_free(struct audio_load *l)
{
    if (!l->closing || l->jobs || !l->http_closed)
        return;
    void (*closed)(void *) = l->closed;
    void *arg = l->closed_arg;
    free(l);
    if (closed)
        closed(arg);
}

/* Tell every waiter (a: success, with a reference each; else e), free the job. */
static void finish(struct job *j, struct audio *a, const struct vp_error *e)
{
    struct audio_load *l = j->l;
    for (struct job **pp = &l->jobs; *pp; pp = &(*pp)->next)
        if (*pp == j) {
            *pp = j->next;
            break;
        }
    if (e && e->err != VP_E_CANCELED)
        vlog_kv(VLOG_WARN, "media.audio_failed", e->message, "audio", j->key, NULL);
    waiters_tell(&j->waiters, a, e);
    audio_unref(a);
    free(j->body);
    free(j->key);
    free(j);
    maybe_free(l);
}

static void fail(struct job *j, int err, const char *fmt, const char *detail)
{
    struct vp_error e = {0};
    vp_error_set(&e, err, "audio", fmt, detail ? detail : "");
    finish(j, NULL, &e);
}

/* ---- decoding on a worker ---------------------------------------------------------------- */

/* Worker thread: decode a downloaded body through a temporary file (libsndfile reads files). */
static int decode_body(struct job *j, struct audio **ap, struct vp_error *e)
{
    const char *tmpdir = getenv("TMPDIR");
    char path[512];
    snprintf(path, sizeof(path), "%s/voepy-audio-XXXXXX", tmpdir && *tmpdir ? tmpdir : "/tmp");
    int fd = mkstemp(path);
    if (fd < 0)
        return vp_error_set(e, VP_E_IO, "audio", "cannot create a temporary file");
    bool ok = write(fd, j->body, j->body_len) == (ssize_t)j->body_len;
    close(fd);
    int err = ok ? audio_file_load(path, j->l->max_secs, ap, e)
                 : vp_error_set(e, VP_E_IO, "audio", "cannot write a temporary file");
    unlink(path);
    return err;
}

/* Worker thread: only the job's own fields are used; nothing of the loop's. */
static void work_cb(uv_work_t *w)
{
    struct job *j = w->data;
    if (j->remote)
        decode_body(j, &j->result, &j->err);
    else
        audio_file_load(j->key, j->l->max_secs, &j->result, &j->err);
}

static void after_work_cb(uv_work_t *w, int status)
{
    struct job *j = w->data;
    if (status == UV_ECANCELED) {
        fail(j, VP_E_CANCELED, "closing%s", NULL);
        return;
    }
    if (!j->result) {
        finish(j, NULL, &j->err);
        return;
    }
    if (j->remote)
        audio_cache_put_url(j->l->cache, j->key, j->result, uv_now(j->l->loop));
    else
        audio_cache_put_file(j->l->cache, j->key, &j->st, j->result);
    log_info("media.audio_loaded", "decoded %s", j->key);
    finish(j, j->result, NULL);
}

static void decode(struct job *j)
{
    j->work.data = j;
    if (uv_queue_work(j->l->loop, &j->work, work_cb, after_work_cb))
        abort(); /* only refused for a NULL work_cb */
}

/* ---- fetching ---------------------------------------------------------------------------- */

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
    if (res->body_len > j->l->max_bytes) {
        fail(j, VP_E_UPSTREAM, "the audio is larger than allowed%s", NULL);
        return;
    }
    if (j->l->closing) {
        fail(j, VP_E_CANCELED, "closing%s", NULL);
        return;
    }
    j->body = vp_malloc(res->body_len + 1);
    memcpy(j->body, res->body, res->body_len);
    j->body_len = res->body_len;
    decode(j);
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
    struct httpc_request req = {.url = j->key,
                                .connect_ip = res->ip,
                                .timeout_ms = j->l->timeout_ms,
                                .max_response_bytes = j->l->max_bytes + 1};
    int err = j->l->closing ? VP_E_CLOSED : httpc_send(j->l->http, &req, http_cb, j);
    if (err)
        fail(j, err == VP_E_CLOSED ? VP_E_CANCELED : VP_E_UPSTREAM, "cannot fetch the audio: %s",
             vp_err_message(err));
}

/* ---- asking ------------------------------------------------------------------------------ */

static struct job *find_job(struct audio_load *l, const char *key)
{
    for (struct job *j = l->jobs; j; j = j->next)
        if (strcmp(j->key, key) == 0)
            return j;
    return NULL;
}

/* Start a job for key (taken over); 0, or an error with e filled (key freed). */
static int start_job(struct audio_load *l, char *key, bool remote, const struct stat *st,
                     struct job **jp, struct vp_error *e)
{
    struct job *j = VP_NEW(j);
    j->l = l;
    j->key = key;
    j->remote = remote;
    if (st)
        j->st = *st;
    if (remote) {
        struct url_guard_opts go = {.policy = l->policy};
        if (url_guard_check(l->loop, key, &go, guard_cb, j, &j->check)) {
            free(key);
            free(j);
            return vp_error_set(e, VP_E_UPSTREAM, "audio", "cannot check the audio URL");
        }
    }
    j->next = l->jobs;
    l->jobs = j;
    *jp = j;
    return 0;
}

/* Cached audio, or the key to load under (*keyp, to free); error with e filled. */
static int lookup(struct audio_load *l, const char *url, struct audio **ap, char **keyp,
                  struct stat *st, struct vp_error *e)
{
    if (is_remote(url)) {
        *ap = audio_cache_find_url(l->cache, url, uv_now(l->loop));
        *keyp = *ap ? NULL : vp_strdup(url);
        return 0;
    }
    int err = audio_cache_resolve(l->cache, url, keyp, st, e);
    if (err)
        return err;
    *ap = audio_cache_find_file(l->cache, *keyp, st);
    if (*ap) {
        free(*keyp);
        *keyp = NULL;
    }
    return 0;
}

int audio_load_get(struct audio_load *l, const char *url, struct audio **ap, struct vp_error *e,
                   audio_load_cb *cb, void *arg)
{
    if (l->closing)
        return vp_error_set(e, VP_E_CANCELED, "audio", "closing");
    char *key = NULL;
    struct stat st;
    *ap = NULL;
    int err = lookup(l, url, ap, &key, &st, e);
    if (err || *ap)
        return err;
    struct job *j = find_job(l, key);
    bool fresh = !j;
    if (j)
        free(key);
    else if ((err = start_job(l, key, is_remote(url), &st, &j, e)))
        return err;
    waiters_add(&j->waiters, cb, arg);
    if (fresh && !j->remote)
        decode(j);
    return AUDIO_LOAD_PENDING;
}

static void http_closed_cb(void *arg)
{
    struct audio_load *l = arg;
    l->http_closed = true;
    maybe_free(l);
}

void audio_load_close(struct audio_load *l, void (*closed)(void *arg), void *arg)
{
    l->closing = true;
    l->closed = closed;
    l->closed_arg = arg;
    for (struct job *j = l->jobs; j; j = j->next) {
        if (j->check)
            url_guard_cancel(j->check);
        else if (!j->remote || j->body)
            uv_cancel((uv_req_t *)&j->work); /* fails once the worker has started */
    }
    httpc_close(l->http, http_closed_cb, l);
}
