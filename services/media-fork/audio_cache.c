/* The audio cache; see audio_cache.h. */
#include "audio_cache.h"

#include <limits.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/stat.h>

#include "audio_file.h"
#include "voepy/alloc.h"
#include "voepy/log.h"

#define DEFAULT_MAX_SECS 600

/* One cached file; entries form a list, most recently used first. */
struct entry {
    struct entry *next;
    char *path; /* realpath */
    off_t size;
    struct timespec mtime;
    uint64_t expires_ms; /* fetched audio (path is "url:<url>"); 0 for files */
    struct audio *audio; /* the cache's reference */
};

struct audio_cache {
    char *dir; /* realpath of the directory, or NULL */
    size_t max_bytes, bytes, count;
    unsigned max_secs;
    struct entry *head;
};

int audio_cache_create(struct audio_cache **cp, const struct audio_cache_opts *o)
{
    struct audio_cache *c = VP_NEW(c);
    c->max_bytes = o->max_bytes;
    c->max_secs = o->max_secs ? o->max_secs : DEFAULT_MAX_SECS;
    if (o->dir && o->dir[0]) {
        c->dir = realpath(o->dir, NULL);
        if (!c->dir) {
            free(c);
            return VP_E_CONFIG;
        }
    }
    *cp = c;
    return 0;
}

static void entry_free(struct audio_cache *c, struct entry *en)
{
    c->bytes -= audio_bytes(en->audio);
    c->count--;
    audio_unref(en->audio);
    free(en->path);
    free(en);
}

void audio_cache_destroy(struct audio_cache *c)
{
    if (!c)
        return;
    while (c->head) {
        struct entry *en = c->head;
        c->head = en->next;
        entry_free(c, en);
    }
    free(c->dir);
    free(c);
}

size_t audio_cache_bytes(const struct audio_cache *c)
{
    return c->bytes;
}

size_t audio_cache_count(const struct audio_cache *c)
{
    return c->count;
}

/* "file:///x" -> "/x"; a URL with another scheme -> NULL with *err set. */
static const char *url_path(const char *url, int *err)
{
    if (strncasecmp(url, "file://", 7) == 0) {
        if (url[7] != '/') /* file://host/... : only the local host */
            return NULL;
        return url + 7;
    }
    if (strncasecmp(url, "http://", 7) == 0 || strncasecmp(url, "https://", 8) == 0) {
        *err = VP_E_NOT_IMPLEMENTED;
        return NULL;
    }
    return strstr(url, "://") || url[0] == '\0' ? NULL : url;
}

/* Whether path has a ".." component. */
static bool climbs(const char *p)
{
    for (const char *s = strstr(p, ".."); s; s = strstr(s + 1, ".."))
        if ((s == p || s[-1] == '/') && (s[2] == '/' || s[2] == '\0'))
            return true;
    return false;
}

static bool inside(const struct audio_cache *c, const char *path)
{
    size_t dl = strlen(c->dir);
    return strncmp(path, c->dir, dl) == 0 && path[dl] == '/';
}

/*
 * The real path of url's file if it lies inside the directory; else NULL with *err. The
 * path is judged before the file system is asked (no "..", an absolute path must name the
 * directory), so whether a file exists outside the directory cannot be probed; then again
 * after realpath(), which catches symlinks leading out.
 */
static char *resolve(const struct audio_cache *c, const char *url, int *err)
{
    *err = VP_E_INVALID_PARAMETER;
    const char *p = url_path(url, err);
    if (!p || !c->dir || strchr(p, '%')) /* no percent-decoding: refuse rather than guess */
        return NULL;
    if (climbs(p) || (p[0] == '/' && !inside(c, p)))
        return NULL;
    char joined[PATH_MAX];
    if (snprintf(joined, sizeof(joined), "%s%s%s", p[0] == '/' ? "" : c->dir,
                 p[0] == '/' ? "" : "/", p) >= (int)sizeof(joined))
        return NULL;
    char *real = realpath(joined, NULL);
    if (!real) {
        *err = VP_E_NOT_FOUND;
        return NULL;
    }
    if (!inside(c, real)) {
        free(real);
        return NULL;
    }
    return real;
}

/* The entry for path (moved to the front), or NULL. */
static struct entry *lookup(struct audio_cache *c, const char *path)
{
    for (struct entry **pp = &c->head; *pp; pp = &(*pp)->next) {
        struct entry *en = *pp;
        if (strcmp(en->path, path) != 0)
            continue;
        *pp = en->next;
        en->next = c->head;
        c->head = en;
        return en;
    }
    return NULL;
}

static void drop(struct audio_cache *c, struct entry *victim)
{
    for (struct entry **pp = &c->head; *pp; pp = &(*pp)->next)
        if (*pp == victim) {
            *pp = victim->next;
            entry_free(c, victim);
            return;
        }
}

/* Evict from the tail until bytes more fit. */
static void make_room(struct audio_cache *c, size_t bytes)
{
    while (c->head && c->bytes + bytes > c->max_bytes) {
        struct entry *last = c->head;
        while (last->next)
            last = last->next;
        drop(c, last);
    }
}

/* Keep a under path (taken over); st is the file's, or NULL for fetched audio. */
static void keep(struct audio_cache *c, char *path, const struct stat *st, uint64_t expires_ms,
                 struct audio *a)
{
    size_t bytes = audio_bytes(a);
    if (bytes > c->max_bytes) {
        free(path);
        return;
    }
    make_room(c, bytes);
    struct entry *en = VP_NEW(en);
    *en = (struct entry){.next = c->head, .path = path, .expires_ms = expires_ms, .audio = a};
    if (st) {
        en->size = st->st_size;
        en->mtime = st->st_mtim;
    }
    audio_ref(a);
    c->head = en;
    c->bytes += bytes;
    c->count++;
}

static bool same_file(const struct entry *en, const struct stat *st)
{
    return en->size == st->st_size && en->mtime.tv_sec == st->st_mtim.tv_sec &&
           en->mtime.tv_nsec == st->st_mtim.tv_nsec;
}

int audio_cache_resolve(struct audio_cache *c, const char *url, char **pathp, struct stat *st,
                        struct vp_error *e)
{
    int err;
    char *path = resolve(c, url, &err);
    if (!path)
        return vp_error_set(e, err, "audio",
                            err == VP_E_NOT_IMPLEMENTED ? "http(s) audio is not read from files"
                            : err == VP_E_NOT_FOUND     ? "no such audio file"
                                                        : "the audio URL is not allowed");
    if (stat(path, st) != 0 || !S_ISREG(st->st_mode)) {
        free(path);
        return vp_error_set(e, VP_E_INVALID_PARAMETER, "audio", "not a regular file");
    }
    *pathp = path;
    return 0;
}

struct audio *audio_cache_find_file(struct audio_cache *c, const char *path, const struct stat *st)
{
    struct entry *en = lookup(c, path);
    if (en && same_file(en, st)) {
        audio_ref(en->audio);
        return en->audio;
    }
    if (en)
        drop(c, en); /* changed on disk: to be decoded again */
    return NULL;
}

void audio_cache_put_file(struct audio_cache *c, const char *path, const struct stat *st,
                          struct audio *a)
{
    struct entry *old = lookup(c, path);
    if (old)
        drop(c, old);
    keep(c, vp_strdup(path), st, 0, a);
}

int audio_cache_get(struct audio_cache *c, const char *url, struct audio **ap, struct vp_error *e)
{
    char *path = NULL; /* set when resolving succeeds; gcc -O3 cannot tell */
    struct stat st;
    int err = audio_cache_resolve(c, url, &path, &st, e);
    if (err)
        return err;
    *ap = audio_cache_find_file(c, path, &st);
    if (!*ap && !(err = audio_file_load(path, c->max_secs, ap, e)))
        audio_cache_put_file(c, path, &st, *ap);
    free(path);
    return err;
}

unsigned audio_cache_max_secs(const struct audio_cache *c)
{
    return c->max_secs;
}

static char *url_key(const char *url)
{
    size_t n = strlen(url) + 5;
    char *k = vp_malloc(n);
    snprintf(k, n, "url:%s", url);
    return k;
}

struct audio *audio_cache_find_url(struct audio_cache *c, const char *url, uint64_t now_ms)
{
    char *key = url_key(url);
    struct entry *en = lookup(c, key);
    free(key);
    if (en && now_ms >= en->expires_ms) {
        drop(c, en);
        en = NULL;
    }
    if (!en)
        return NULL;
    audio_ref(en->audio);
    return en->audio;
}

void audio_cache_put_url(struct audio_cache *c, const char *url, struct audio *a, uint64_t now_ms)
{
    char *key = url_key(url);
    struct entry *old = lookup(c, key);
    if (old)
        drop(c, old);
    keep(c, key, NULL, now_ms + AUDIO_URL_TTL_MS, a);
}
