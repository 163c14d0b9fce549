/*
 * audio_fetch.h - audio at http(s) URLs: checked by the URL policy (url_guard), fetched
 * with the shared HTTP client from exactly the checked address, decoded like a local
 * file and kept in the audio cache by URL (audio_cache_put_url).
 *
 * Concurrent requests for the same URL share one download. The response must be a 200
 * of at most max_bytes; redirects are not followed (http_client.h). The body is written
 * to a temporary file that libsndfile then decodes (on the loop, like local files) and
 * that is removed at once.
 *
 * Errors reported to callbacks (e->err, and the codes the inbox puts in replies):
 * VP_E_FORBIDDEN (the policy refuses the URL, its port or an address: audio_url_forbidden),
 * VP_E_UPSTREAM (no answer, not 200, too large: audio_fetch_failed), VP_E_INVALID_PARAMETER
 * (not decodable: audio_invalid), VP_E_CANCELED (closing).
 */
#ifndef MF_AUDIO_FETCH_H
#define MF_AUDIO_FETCH_H

#include <stddef.h>
#include <uv.h>

#include "voepy/err.h"

struct audio;
struct audio_cache;
struct audio_fetch;
struct url_policy;

struct audio_fetch_opts {
    struct url_policy *policy; /* must outlive the fetcher */
    struct audio_cache *cache; /* where fetched audio is kept; must outlive the fetcher */
    size_t max_bytes;          /* largest download; 0: 20 MiB */
    unsigned timeout_ms;       /* whole download; 0: 15000 */
    unsigned max_secs;         /* longest audio; 0: 600 */
};

/*
 * On success a is a reference for the callee (audio_unref when done) and e is NULL; on
 * failure a is NULL and e says why. Runs on the loop, never inside audio_fetch_get().
 */
typedef void(audio_fetch_cb)(struct audio *a, const struct vp_error *e, void *arg);

int audio_fetch_create(struct audio_fetch **fp, uv_loop_t *loop, const struct audio_fetch_opts *o);
/* Whether url is one this module fetches (http:// or https://). */
int audio_fetch_is_remote(const char *url);
/* The cached audio of url (a reference) or NULL. */
struct audio *audio_fetch_cached(struct audio_fetch *f, const char *url);
/*
 * Fetch url; returns 0 and cb runs exactly once later, or VP_E_CLOSED (closing) /
 * VP_E_IO (the check cannot start) and cb never runs.
 */
int audio_fetch_get(struct audio_fetch *f, const char *url, audio_fetch_cb *cb, void *arg);
/* Cancel everything (callbacks run with VP_E_CANCELED), free, then closed(arg). */
void audio_fetch_close(struct audio_fetch *f, void (*closed)(void *arg), void *arg);

#endif
