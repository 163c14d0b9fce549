/*
 * Recording storage (storage.h): the interface and its directory backend.
 *
 * The backend is a table of operations so that an S3-compatible one can be added behind
 * the same calls; today only the directory exists. Files are created 0640 and
 * directories 0750: recordings are customer audio.
 */
#include "storage.h"

#include <errno.h>
#include <fcntl.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "voepy/alloc.h"

struct storage_ops {
    int (*begin)(struct storage *s, const char *key, char *tmp, size_t cap, struct vp_error *e);
    int (*put)(struct storage *s, const char *key, const char *tmp, uint64_t *size,
               struct vp_error *e);
    int (*remove)(struct storage *s, const char *key, struct vp_error *e);
};

struct storage {
    const struct storage_ops *ops;
    char root[STORAGE_PATH_MAX - STORAGE_KEY_MAX - 16];
};

static bool key_char(char ch)
{
    return (ch >= 'a' && ch <= 'z') || (ch >= 'A' && ch <= 'Z') || (ch >= '0' && ch <= '9') ||
           ch == '_' || ch == '-' || ch == '.';
}

int storage_key_check(const char *key)
{
    size_t n = key ? strlen(key) : 0;
    if (n == 0 || n > STORAGE_KEY_MAX)
        return VP_E_INVALID_PARAMETER;
    bool seg_start = true;
    for (size_t i = 0; i < n; i++) {
        if (key[i] == '/') {
            if (seg_start)
                return VP_E_INVALID_PARAMETER; /* leading "/" or an empty segment */
            seg_start = true;
            continue;
        }
        if (!key_char(key[i]) || (seg_start && key[i] == '.'))
            return VP_E_INVALID_PARAMETER;
        seg_start = false;
    }
    return seg_start ? VP_E_INVALID_PARAMETER : 0; /* no trailing "/" */
}

/* ---- the directory backend ---- */

static int io_fail(struct vp_error *e, const char *what, const char *path)
{
    return vp_error_set(e, VP_E_IO, "storage", "%s %s: %s", what, path, strerror(errno));
}

/* mkdir -p of the directories of path (everything before its last "/", below root). */
static int make_parents(const struct storage *s, char *path, struct vp_error *e)
{
    size_t root_len = strlen(s->root);
    for (char *p = path + root_len + 1; (p = strchr(p, '/')) != NULL; p++) {
        *p = '\0';
        int rc = mkdir(path, 0750);
        int saved = errno;
        if (rc != 0 && saved != EEXIST) {
            errno = saved;
            io_fail(e, "cannot create", path);
            *p = '/';
            return VP_E_IO;
        }
        *p = '/';
    }
    return 0;
}

static int dir_begin(struct storage *s, const char *key, char *tmp, size_t cap, struct vp_error *e)
{
    /* The temporary name is hidden (a dot first) and in the final directory (one rename). */
    const char *base = strrchr(key, '/');
    int dir_len = base ? (int)(base - key) : 0;
    int n = base ? snprintf(tmp, cap, "%s/%.*s/.%s.part", s->root, dir_len, key, base + 1)
                 : snprintf(tmp, cap, "%s/.%s.part", s->root, key);
    if (n < 0 || (size_t)n >= cap)
        return vp_error_set(e, VP_E_INVALID_PARAMETER, "storage_key", "the key is too long");
    return make_parents(s, tmp, e);
}

static int dir_put(struct storage *s, const char *key, const char *tmp, uint64_t *size,
                   struct vp_error *e)
{
    char path[STORAGE_PATH_MAX];
    snprintf(path, sizeof(path), "%s/%s", s->root, key);
    struct stat st;
    if (stat(tmp, &st) != 0)
        return io_fail(e, "cannot stat", tmp);
    if (rename(tmp, path) != 0)
        return io_fail(e, "cannot rename to", path);
    *size = (uint64_t)st.st_size;
    return 0;
}

static int dir_remove(struct storage *s, const char *key, struct vp_error *e)
{
    char path[STORAGE_PATH_MAX];
    snprintf(path, sizeof(path), "%s/%s", s->root, key);
    if (unlink(path) == 0)
        return 0;
    if (errno == ENOENT)
        return vp_error_set(e, VP_E_NOT_FOUND, "storage_key", "%s is not stored", key);
    return io_fail(e, "cannot remove", path);
}

static const struct storage_ops dir_ops = {dir_begin, dir_put, dir_remove};

int storage_dir_create(struct storage **sp, const char *root)
{
    struct stat st;
    size_t n = root ? strlen(root) : 0;
    while (n > 1 && root[n - 1] == '/')
        n--;
    struct storage *s = VP_NEW(s);
    if (n == 0 || n >= sizeof(s->root) || stat(root, &st) != 0 || !S_ISDIR(st.st_mode)) {
        free(s);
        return VP_E_CONFIG;
    }
    memcpy(s->root, root, n);
    s->root[n] = '\0';
    s->ops = &dir_ops;
    *sp = s;
    return 0;
}

void storage_destroy(struct storage *s)
{
    free(s);
}

/* ---- the interface ---- */

int storage_begin(struct storage *s, const char *key, char *tmp, size_t cap, struct vp_error *e)
{
    if (storage_key_check(key))
        return vp_error_set(e, VP_E_INVALID_PARAMETER, "storage_key", "the key is not valid");
    return s->ops->begin(s, key, tmp, cap, e);
}

int storage_put(struct storage *s, const char *key, const char *tmp, uint64_t *size,
                struct vp_error *e)
{
    return s->ops->put(s, key, tmp, size, e);
}

void storage_abort(struct storage *s, const char *tmp)
{
    (void)s;
    unlink(tmp); /* gone already is fine */
}

int storage_remove(struct storage *s, const char *key, struct vp_error *e)
{
    if (storage_key_check(key))
        return vp_error_set(e, VP_E_INVALID_PARAMETER, "storage_key", "the key is not valid");
    return s->ops->remove(s, key, e);
}
