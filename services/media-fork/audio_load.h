/*
 * audio_load.h - getting the audio a verb names, without blocking the loop: from the
 * cache at once, else decoded on libuv's thread pool from a file under the audio
 * directory, or downloaded from an http(s) URL first.
 *
 * Local files: the URL is resolved and judged on the loop (audio_cache_resolve: cheap,
 * and errors such as a path outside the directory are answered at once); only the
 * decode (libsndfile, libsamplerate) runs on a worker thread. Remote audio: the URL is
 * checked by the URL policy (url_guard: scheme, port, every address), fetched with the
 * shared HTTP client from exactly the checked address (no redirects, a 200 of at most
 * max_fetch_bytes), written to a temporary file and decoded on a worker, which removes
 * the file. Decoded audio is kept in the cache by path (reloaded when the file changes)
 * or by URL (AUDIO_URL_TTL_MS). Concurrent requests for one path or URL share one job.
 *
 * Errors (e->err; the inbox turns them into reply codes): VP_E_INVALID_PARAMETER (a URL
 * or path not allowed, or audio that does not decode), VP_E_NOT_FOUND (no such file),
 * VP_E_FORBIDDEN (the URL policy refuses it), VP_E_UPSTREAM (the download failed, was not
 * a 200 or was too large), VP_E_CANCELED (closing).
 */
#ifndef MF_AUDIO_LOAD_H
#define MF_AUDIO_LOAD_H

#include <stddef.h>
#include <uv.h>

#include "voepy/err.h"

struct audio;
struct audio_cache;
struct audio_load;
struct url_policy;

#define AUDIO_LOAD_PENDING 1 /* audio_load_get: the callback will bring the audio */

struct audio_load_opts {
    struct url_policy *policy; /* must outlive the loader */
    struct audio_cache *cache; /* must outlive the loader */
    size_t max_fetch_bytes;    /* largest download; 0: 20 MiB */
    unsigned fetch_timeout_ms; /* whole download; 0: 15000 */
};

/*
 * On success a is a reference for the callee (audio_unref when done) and e is NULL; on
 * failure a is NULL and e says why. Runs on the loop, never inside audio_load_get().
 */
typedef void(audio_load_cb)(struct audio *a, const struct vp_error *e, void *arg);

int audio_load_create(struct audio_load **lp, uv_loop_t *loop, const struct audio_load_opts *o);
/*
 * The audio of url: 0 with *ap (a reference) when it is ready now; AUDIO_LOAD_PENDING when
 * cb(arg) will run once with it; or a negative VP_E_* with e filled, and cb never runs.
 */
int audio_load_get(struct audio_load *l, const char *url, struct audio **ap, struct vp_error *e,
                   audio_load_cb *cb, void *arg);
/*
 * Cancel what can be (callbacks run with VP_E_CANCELED; a decode already running on a
 * worker finishes first), free, then closed(arg) (may be NULL).
 */
void audio_load_close(struct audio_load *l, void (*closed)(void *arg), void *arg);

#endif
