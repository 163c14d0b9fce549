/*
 * audio_cache.h - audio for `play` and gather prompts, by URL, decoded once.
 *
 * A URL names a file under the configured directory (VOEPY_MEDIA_AUDIO_DIR): either
 * "file:///abs/path" or a plain path (absolute, or relative to the directory). The path
 * is resolved with realpath() and must lie inside the directory, so "..", symlinks out of
 * it and other files of the host are refused. http(s) URLs are refused here with
 * VP_E_NOT_IMPLEMENTED: audio_fetch.c downloads them (through url_guard) and keeps the
 * decoded audio in this cache by URL (audio_cache_put_url) for AUDIO_URL_TTL_MS.
 *
 * Decoded audio is kept by resolved path, least recently used first out, within
 * max_bytes of samples. An entry is reloaded when the file's size or mtime changed. A
 * file larger than the whole bound is played but not kept.
 *
 * Loading is synchronous (stat, open, decode, resample on the calling thread): a first
 * play of a long file stalls the loop for its decode time (a few ms per second of MP3).
 * Prompts are short and cached after the first play; moving the decode to the thread pool
 * is listed as left in docs/architecture.md.
 */
#ifndef MF_AUDIO_CACHE_H
#define MF_AUDIO_CACHE_H

#include <stddef.h>
#include <stdint.h>

#include "voepy/err.h"

struct audio_cache;
struct audio;

struct audio_cache_opts {
    const char *dir;   /* the only directory files are read from; NULL: none allowed */
    size_t max_bytes;  /* decoded bytes kept; 0: nothing kept */
    unsigned max_secs; /* longest audio accepted; 0: 600 */
};

int audio_cache_create(struct audio_cache **cp, const struct audio_cache_opts *o);
/* Drops the cache's references; audio still played by legs stays alive until unref'd. */
void audio_cache_destroy(struct audio_cache *c);

/*
 * The audio at url, with a reference for the caller (audio_unref when done). Returns 0;
 * VP_E_INVALID_PARAMETER (a URL we do not accept, a path outside the directory, a file
 * that does not decode: e says which); VP_E_NOT_FOUND (no such file);
 * VP_E_NOT_IMPLEMENTED (http/https, not fetched yet).
 */
int audio_cache_get(struct audio_cache *c, const char *url, struct audio **ap, struct vp_error *e);

#define AUDIO_URL_TTL_MS 300000 /* fetched audio is fetched again after 5 minutes */

/* Fetched audio for url with a reference for the caller, or NULL (absent or expired). */
struct audio *audio_cache_find_url(struct audio_cache *c, const char *url, uint64_t now_ms);
/* Keep fetched audio a (the cache takes its own reference) under url until now + TTL. */
void audio_cache_put_url(struct audio_cache *c, const char *url, struct audio *a, uint64_t now_ms);

size_t audio_cache_bytes(const struct audio_cache *c);
size_t audio_cache_count(const struct audio_cache *c);

#endif
