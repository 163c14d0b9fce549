/*
 * recordings.c - /v1/recordings: list, get, download, delete.
 *
 * Recordings are made by media-fork, which writes the file under the recordings storage
 * and the row (storage_key relative to the storage). The gateway serves the file from
 * VOEPY_RECORDINGS_DIR/storage_key; the file is read on the libuv thread pool, never on
 * the loop thread, and sent in one answer. A storage_key that could leave the directory
 * ("..", a leading "/") is refused (500, logged): keys are ours, so a bad one is a bug or
 * tampering, never the caller's fault.
 *
 * download_url: the API hands out signed, expiring URLs,
 *   <VOEPY_API_PUBLIC_URL>/v1/recordings/{id}/download?expires=<unix>&sig=<hex>
 * with sig = hex(HMAC-SHA256(key, "<id>|<tenant>|<expires>")), valid for
 * VOEPY_RECORDING_URL_TTL_SECS, fresh on every GET. Such a URL is all a browser or a
 * media player needs: the download is then authorised by the signature alone, with no
 * API key (dispatch.c skips authentication for it). A signature that does not match (a
 * tampered id, expiry or signature, a URL moved to another tenant's recording), an
 * expired URL or an unknown recording is 403 forbidden, the same answer for all, so a URL
 * tells nobody whether a recording exists. Without expires/sig the download works as
 * before, with an API key holding recordings:read.
 *
 * Deleting is a soft delete in SQL (api_recording_delete) that also emits
 * recording.deleted; once it has committed the gateway removes the file from the
 * storage directory (on the thread pool) and sets storage_deleted_at
 * (api_recording_file_removed, proto/sql/0026_recording.sql), before answering. A file
 * that cannot be removed is logged and left for a sweep (storage_deleted_at stays NULL:
 * index recordings_files_to_remove); the answer is 200 all the same, since the recording
 * is deleted for the API.
 */
#include "api.h"

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "voepy/alloc.h"
#include "voepy/crypto.h"
#include "voepy/http_server.h"
#include "voepy/id.h"
#include "voepy/log.h"
#include "voepy/outbox.h"
#include "voepy/vtime.h"

#define LIST_DEFAULT_LIMIT  50
#define LIST_MAX_LIMIT      200
#define STORAGE_KEY_MAX     1024
#define RECORDING_MAX_BYTES (512L * 1024 * 1024) /* larger files are refused (500, logged) */
#define EXPIRES_MAX_DIGITS  12
#define URL_KEY_LABEL       "voepy recording download_url v1"

/* A file read on the thread pool. Owned by the request until after_read_cb frees it. */
struct download {
    uv_work_t work;
    struct api_req *r;
    char *path;             /* VOEPY_RECORDINGS_DIR/storage_key (malloc) */
    const char *media_type; /* audio/mpeg or audio/wav */
    char *data;             /* the file (malloc), set by the worker */
    size_t len;
    int err; /* errno of the failure, 0 when data holds the file */
};

/* ---- signed download URLs ---- */

void recordings_url_init(struct api *api, const char *key_text, const char *admin_token,
                         const char *public_url, long ttl_secs)
{
    if (key_text && key_text[0])
        crypto_sha256(key_text, strlen(key_text), api->recording_url_key);
    else /* a key of its own, not the admin token itself: a leaked URL key is not admin */
        crypto_hmac_sha256(admin_token, strlen(admin_token), URL_KEY_LABEL, strlen(URL_KEY_LABEL),
                           api->recording_url_key);
    size_t n = public_url ? strlen(public_url) : 0;
    while (n > 0 && public_url[n - 1] == '/')
        n--;
    api->public_url = n ? public_url : "";
    api->public_url_len = n;
    api->recording_url_ttl = ttl_secs;
}

/* hex(HMAC-SHA256(key, "<id>|<tenant>|<expires>")) into out[65]. */
static void url_sig(const struct api *api, const char *id, const char *tenant, const char *expires,
                    char out[CRYPTO_SHA256_HEX_LEN])
{
    char msg[256];
    int n = snprintf(msg, sizeof(msg), "%s|%s|%s", id, tenant, expires);
    uint8_t mac[CRYPTO_HMAC_SHA256_LEN];
    crypto_hmac_sha256(api->recording_url_key, sizeof(api->recording_url_key), msg,
                       n > 0 && (size_t)n < sizeof(msg) ? (size_t)n : 0, mac);
    crypto_hex(mac, sizeof(mac), out);
}

void recordings_sign(struct api_req *r, json_t *rec)
{
    const char *id = vjson_str(rec, "id");
    if (!id || !json_is_string(json_object_get(rec, "download_url")) || !r->tenant_id)
        return;
    char expires[24], sig[CRYPTO_SHA256_HEX_LEN];
    snprintf(expires, sizeof(expires), "%lld",
             (long long)(vtime_now_ms() / 1000) + r->api->recording_url_ttl);
    url_sig(r->api, id, r->tenant_id, expires, sig);
    char *url = input_printf(r, "%.*s/v1/recordings/%s/download?expires=%s&sig=%s",
                             (int)r->api->public_url_len, r->api->public_url, id, expires, sig);
    json_object_set_new(rec, "download_url", json_string(url));
}

static void sign_all(struct api_req *r, json_t *list)
{
    size_t i;
    json_t *item;
    json_array_foreach(list, i, item) recordings_sign(r, item);
}

void recordings_signed_body_cb(int status, const struct pg_result *res, void *arg)
{
    struct api_req *r = arg;
    if (!reply_pg_ok(r, status, res))
        return;
    const char *body = pg_get(res, 0, "http_body");
    json_t *o = body ? json_loads(body, 0, NULL) : NULL;
    if (!json_is_object(o)) {
        json_decref(o);
        reply_pg_row(r, res);
        return;
    }
    json_t *data = json_object_get(o, "data"), *recs = json_object_get(o, "recordings");
    if (json_is_array(data)) /* a page of recordings */
        sign_all(r, data);
    else if (json_is_array(recs)) /* a call with its recordings */
        sign_all(r, recs);
    else
        recordings_sign(r, o);
    char *text = vjson_dump(o);
    json_decref(o);
    reply_send(r, atoi(pg_get(res, 0, "http_status")), text, strlen(text));
    free(text);
}

bool recordings_download_signed(const struct api_req *r)
{
    return http_request_query_param(r->http, "sig") || http_request_query_param(r->http, "expires");
}

void recordings_list(struct api_req *r)
{
    const char *call = input_query(r, "call_id");
    const char *cursor;
    char limit[16];
    if (call && !id_valid(call, "call")) {
        reply_fail(r, VP_E_INVALID_PARAMETER, "call_id",
                   "call_id must be a call id (voepy_call_...).");
        return;
    }
    if (input_cursor(r, &cursor) || input_limit(r, LIST_DEFAULT_LIMIT, LIST_MAX_LIMIT, limit))
        return;
    const char *params[] = {r->tenant_id, call, cursor, limit};
    reply_query(r, "SELECT * FROM api_recordings_list($1, $2, $3, $4::int)", 4, params,
                recordings_signed_body_cb);
}

void recordings_get(struct api_req *r)
{
    const char *id = input_id(r, "rec", "recording");
    if (!id)
        return;
    const char *params[] = {r->tenant_id, id};
    reply_query(r, "SELECT * FROM api_recording_get($1, $2)", 2, params, recordings_signed_body_cb);
}

/* A key stays inside the storage directory: relative, no "..", printable, bounded. */
static bool storage_key_safe(const char *k)
{
    size_t n = k ? strlen(k) : 0;
    if (n == 0 || n > STORAGE_KEY_MAX || k[0] == '/' || strstr(k, "..") != NULL)
        return false;
    for (size_t i = 0; i < n; i++)
        if ((unsigned char)k[i] < 0x20 || k[i] == 0x7f || k[i] == '\\')
            return false;
    return true;
}

/* Worker thread: no logging, no loop calls; only fills d. */
static void read_file(struct download *d)
{
    int fd = open(d->path, O_RDONLY | O_CLOEXEC);
    struct stat st;
    if (fd < 0) {
        d->err = errno;
        return;
    }
    if (fstat(fd, &st) != 0 || !S_ISREG(st.st_mode) || st.st_size > RECORDING_MAX_BYTES) {
        d->err = errno ? errno : EINVAL;
        close(fd);
        return;
    }
    d->data = vp_malloc((size_t)st.st_size + 1);
    while (d->len < (size_t)st.st_size) {
        ssize_t got = read(fd, d->data + d->len, (size_t)st.st_size - d->len);
        if (got < 0 && errno == EINTR)
            continue;
        if (got <= 0) {
            d->err = got < 0 ? errno : EIO; /* shrank while read */
            break;
        }
        d->len += (size_t)got;
    }
    close(fd);
}

static void read_work_cb(uv_work_t *w)
{
    struct download *d = w->data;
    errno = 0;
    read_file(d);
}

static void after_read_cb(uv_work_t *w, int status)
{
    struct download *d = w->data;
    struct api_req *r = d->r;
    if (status != 0 || d->err != 0) {
        log_error("api.recording_unreadable", "%s: %s", d->path,
                  status ? uv_strerror(status) : strerror(d->err));
        reply_fail(r, VP_E_INTERNAL, NULL, "The recording's file could not be read.");
    } else {
        reply_header(r, "Content-Disposition",
                     input_printf(r, "attachment; filename=\"%s.%s\"", input_param(r, 0),
                                  strcmp(d->media_type, "audio/wav") == 0 ? "wav" : "mp3"));
        reply_send_media(r, 200, d->media_type, d->data, d->len);
    }
    free(d->data);
    free(d->path);
    free(d);
}

/* Send the file of recording input_param(r, 0) at storage key `key`. */
static void serve(struct api_req *r, const char *key, const char *format)
{
    if (!storage_key_safe(key)) {
        log_error("api.recording_bad_key", "recording %s: storage_key %s refused",
                  input_param(r, 0), key ? key : "(null)");
        reply_fail(r, VP_E_INTERNAL, NULL, "The recording's file could not be read.");
        return;
    }
    struct download *d = VP_NEW(d);
    d->r = r;
    d->work.data = d;
    d->media_type = format && strcmp(format, "wav") == 0 ? "audio/wav" : "audio/mpeg";
    size_t n = strlen(r->api->recordings_dir) + strlen(key) + 2;
    d->path = vp_malloc(n);
    snprintf(d->path, n, "%s/%s", r->api->recordings_dir, key);
    int err = uv_queue_work(r->api->loop, &d->work, read_work_cb, after_read_cb);
    if (err) {
        d->err = -err;
        after_read_cb(&d->work, 0);
    }
}

static void download_cb(int status, const struct pg_result *res, void *arg)
{
    struct api_req *r = arg;
    if (reply_pg_ok(r, status, res))
        serve(r, pg_get(res, 0, "storage_key"), pg_get(res, 0, "format"));
}

static int refuse_url(struct api_req *r)
{
    return reply_fail(r, VP_E_FORBIDDEN, "sig",
                      "This download URL is not valid: its signature does not match or it has "
                      "expired. Fetch the recording again for a fresh download_url.");
}

/* The signed download: the recording's tenant, from the row, must be the signed one. */
static void signed_cb(int status, const struct pg_result *res, void *arg)
{
    struct api_req *r = arg;
    struct vp_error e = {0};
    if (status == VP_E_DB)
        pg_result_error(res, &e);
    if (e.err == VP_E_NOT_FOUND) { /* the same answer as a bad signature: nothing leaks */
        refuse_url(r);
        return;
    }
    if (!reply_pg_ok(r, status, res))
        return;
    char want[CRYPTO_SHA256_HEX_LEN];
    const char *sig = http_request_query_param(r->http, "sig");
    url_sig(r->api, input_param(r, 0), pg_get(res, 0, "tenant_id"),
            http_request_query_param(r->http, "expires"), want);
    if (crypto_memcmp(want, sig, CRYPTO_SHA256_HEX_LEN - 1) != 0) {
        refuse_url(r);
        return;
    }
    const char *st = pg_get(res, 0, "status");
    if (!st || strcmp(st, "available") != 0) {
        reply_fail(r, VP_E_RECORDING_NOT_READY, NULL, "The recording is %s, not available.",
                   st ? st : "unknown");
        return;
    }
    serve(r, pg_get(res, 0, "storage_key"), pg_get(res, 0, "format"));
}

static bool all_of(const char *s, const char *set, size_t min, size_t max)
{
    size_t n = s ? strlen(s) : 0;
    return n >= min && n <= max && strspn(s, set) == n;
}

/* ?expires=&sig=: well formed and not expired, then the row decides (signed_cb). */
static void download_signed(struct api_req *r, const char *id)
{
    const char *expires = http_request_query_param(r->http, "expires");
    const char *sig = http_request_query_param(r->http, "sig");
    if (!all_of(expires, "0123456789", 1, EXPIRES_MAX_DIGITS) ||
        !all_of(sig, "0123456789abcdef", CRYPTO_SHA256_HEX_LEN - 1, CRYPTO_SHA256_HEX_LEN - 1) ||
        strtoll(expires, NULL, 10) < vtime_now_ms() / 1000) {
        refuse_url(r);
        return;
    }
    const char *params[] = {id};
    reply_query(r, "SELECT * FROM api_recording_locate($1)", 1, params, signed_cb);
}

void recordings_download(struct api_req *r)
{
    const char *id = input_id(r, "rec", "recording");
    if (!id)
        return;
    if (recordings_download_signed(r)) {
        download_signed(r, id);
        return;
    }
    const char *params[] = {r->tenant_id, id};
    reply_query(r, "SELECT * FROM api_recording_download($1, $2)", 2, params, download_cb);
}

/* A deleted recording's file being removed; in the request's arena (it outlives the work). */
struct removal {
    uv_work_t work;
    struct api_req *r;
    const char *id, *path;
    const char *body; /* the DELETE's answer, sent at the end */
    int status;
    int err; /* errno of unlink, 0 = removed */
};

static void answer_delete(struct removal *rm)
{
    reply_send(rm->r, rm->status, rm->body, strlen(rm->body));
}

static void marked_cb(int status, const struct pg_result *res, void *arg)
{
    struct removal *rm = arg;
    (void)res;
    if (status)
        log_warn("api.recording_unmarked",
                 "recording %s: file removed, storage_deleted_at not set: %s", rm->id,
                 vp_err_message(status));
    answer_delete(rm);
}

static void unlink_work_cb(uv_work_t *w)
{
    struct removal *rm = w->data;
    rm->err = unlink(rm->path) == 0 || errno == ENOENT ? 0 : errno;
}

static void after_unlink_cb(uv_work_t *w, int status)
{
    struct removal *rm = w->data;
    const char *params[] = {rm->id};
    if (status || rm->err)
        log_error("api.recording_not_removed", "%s: %s (left for a sweep)", rm->path,
                  status ? uv_strerror(status) : strerror(rm->err));
    else if (reply_exec(rm->r->api, "SELECT api_recording_file_removed($1)", 1, params, marked_cb,
                        rm) == 0)
        return;
    answer_delete(rm);
}

static void key_cb(int status, const struct pg_result *res, void *arg)
{
    struct removal *rm = arg;
    struct api_req *r = rm->r;
    const char *key = status == 0 && pg_ntuples(res) > 0 ? pg_get(res, 0, "storage_key") : NULL;
    if (!key || !storage_key_safe(key)) { /* no file (failed), gone already, or refused */
        if (key)
            log_error("api.recording_bad_key", "recording %s: storage_key %s refused", rm->id, key);
        answer_delete(rm);
        return;
    }
    rm->path = input_printf(r, "%s/%s", r->api->recordings_dir, key);
    rm->work.data = rm;
    int err = uv_queue_work(r->api->loop, &rm->work, unlink_work_cb, after_unlink_cb);
    if (err)
        after_unlink_cb(&rm->work, err);
}

/*
 * After commit: wake the outbox relay (recording.deleted), then remove the file and mark
 * it removed, then answer with the committed body.
 */
static void delete_cb(int status, const struct pg_result *res, void *arg)
{
    struct api_req *r = arg;
    if (!reply_pg_ok(r, status, res))
        return;
    if (reply_pg_replayed(res)) {
        reply_pg_row(r, res);
        return;
    }
    if (r->api->outbox)
        outbox_kick(r->api->outbox);
    struct removal *rm = http_request_alloc(r->http, sizeof(*rm));
    memset(rm, 0, sizeof(*rm));
    rm->r = r;
    rm->id = input_param(r, 0);
    rm->status = atoi(pg_get(res, 0, "http_status"));
    rm->body = http_request_strdup(r->http, pg_get(res, 0, "http_body"));
    const char *params[] = {rm->id, r->tenant_id};
    if (reply_exec(r->api,
                   "SELECT storage_key FROM recordings WHERE id = $1 AND tenant_id = $2 "
                   "AND deleted_at IS NOT NULL AND storage_deleted_at IS NULL",
                   2, params, key_cb, rm) != 0)
        answer_delete(rm);
}

void recordings_delete(struct api_req *r)
{
    const char *id = input_id(r, "rec", "recording");
    if (!id)
        return;
    const char *params[5] = {r->tenant_id, id};
    input_idem_params(r, params + 2);
    reply_query(r, "SELECT * FROM api_recording_delete($1, $2, $3, $4, $5)", 5, params, delete_cb);
}
