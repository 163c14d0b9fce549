/*
 * audio_cache.h - audio for `play` and gather prompts, by URL, decoded once.
 *
 * A URL names a file under the configured directory (VOEPY_MEDIA_AUDIO_DIR): either
 * "file:///abs/path" or a plain path (absolute, or relative to the directory). The path
 * is resolved with realpath() and must lie inside the directory, so "..", symlinks out of
 * it and other files of the host are refused. http(s) URLs are refused here with
 * VP_E_NOT_IMPLEMENTED: audio_load.c downloads them (through url_guard) and keeps the
 * decoded audio in this cache by URL (audio_cache_put_url) for AUDIO_URL_TTL_MS.
 *
 * Decoded audio is kept by resolved path, least recently used first out, within
 * max_bytes of samples. An entry is reloaded when the file's size or mtime changed. A
 * file larger than the whole bound is played but not kept.
 *
 * audio_cache_get() decodes on the calling thread (tests, tools); the service decodes on
 * the thread pool through audio_load.c with the step-by-step calls below, so that a long
 * file never stalls the loop. The cache itself is used from the loop thread only.
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

/*
 * audio_cache_get() in steps, for decoding elsewhere (audio_load.c decodes on the thread
 * pool): resolve url to a regular file under the directory (*pathp: the caller frees;
 * errors as audio_cache_get's, except decoding), find it in the cache (a reference, or
 * NULL when absent or changed on disk), keep decoded audio for it (the cache takes its
 * own reference). Loop thread only.
 */
struct stat;
int audio_cache_resolve(struct audio_cache *c, const char *url, char **pathp, struct stat *st,
                        struct vp_error *e);
struct audio *audio_cache_find_file(struct audio_cache *c, const char *path, const struct stat *st);
void audio_cache_put_file(struct audio_cache *c, const char *path, const struct stat *st,
                          struct audio *a);
/* The longest audio accepted (seconds). */
unsigned audio_cache_max_secs(const struct audio_cache *c);

#define AUDIO_URL_TTL_MS 300000 /* fetched audio is fetched again after 5 minutes */

/* Fetched audio for url with a reference for the caller, or NULL (absent or expired). */
struct audio *audio_cache_find_url(struct audio_cache *c, const char *url, uint64_t now_ms);
/* Keep fetched audio a (the cache takes its own reference) under url until now + TTL. */
void audio_cache_put_url(struct audio_cache *c, const char *url, struct audio *a, uint64_t now_ms);

size_t audio_cache_bytes(const struct audio_cache *c);
size_t audio_cache_count(const struct audio_cache *c);

#endif
