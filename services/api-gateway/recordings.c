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
 * Deleting is a soft delete in SQL (api_recording_delete) that also emits
 * recording.deleted: the media service, which owns the storage, removes the file.
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
#include "voepy/http_server.h"
#include "voepy/id.h"
#include "voepy/log.h"
#include "voepy/outbox.h"

#define LIST_DEFAULT_LIMIT  50
#define LIST_MAX_LIMIT      200
#define STORAGE_KEY_MAX     1024
#define RECORDING_MAX_BYTES (512L * 1024 * 1024) /* larger files are refused (500, logged) */

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
    reply_query(r, "SELECT * FROM api_recordings_list($1, $2, $3, $4::int)", 4, params, NULL);
}

void recordings_get(struct api_req *r)
{
    const char *id = input_id(r, "rec", "recording");
    if (!id)
        return;
    const char *params[] = {r->tenant_id, id};
    reply_query(r, "SELECT * FROM api_recording_get($1, $2)", 2, params, NULL);
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

static void download_cb(int status, const struct pg_result *res, void *arg)
{
    struct api_req *r = arg;
    if (!reply_pg_ok(r, status, res))
        return;
    const char *key = pg_get(res, 0, "storage_key");
    const char *format = pg_get(res, 0, "format");
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

void recordings_download(struct api_req *r)
{
    const char *id = input_id(r, "rec", "recording");
    if (!id)
        return;
    const char *params[] = {r->tenant_id, id};
    reply_query(r, "SELECT * FROM api_recording_download($1, $2)", 2, params, download_cb);
}

/* After commit: wake the outbox relay so recording.deleted reaches the media service. */
static void delete_cb(int status, const struct pg_result *res, void *arg)
{
    struct api_req *r = arg;
    if (!reply_pg_ok(r, status, res))
        return;
    if (!reply_pg_replayed(res) && r->api->outbox)
        outbox_kick(r->api->outbox);
    reply_pg_row(r, res);
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
