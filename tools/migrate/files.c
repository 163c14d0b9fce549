/*
 * files.c - the migration directory: which files are migrations, their order, their
 * content and checksum.
 *
 * Names are checked strictly: a *.sql file that is not NNNN_name.sql, or two files with
 * the same number, is an error rather than something to skip, because a skipped or
 * misordered migration is worse than a refused run.
 */
#include "migrate.h"

#include <dirent.h>
#include <errno.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "voepy/alloc.h"
#include "voepy/err.h"

#define MAX_FILE_BYTES (64u << 20)

static bool ends_with(const char *s, const char *suffix)
{
    size_t n = strlen(s), m = strlen(suffix);
    return n >= m && strcmp(s + n - m, suffix) == 0;
}

/* NNNN_name.sql: four or more digits, '_', then [A-Za-z0-9_-]+. */
static bool name_valid(const char *name)
{
    size_t digits = strspn(name, "0123456789");
    if (digits < 4 || name[digits] != '_')
        return false;
    const char *rest = name + digits + 1;
    size_t len = strlen(rest) - strlen(".sql");
    return len > 0 &&
           strspn(rest, "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789_-") == len;
}

static int sql_filter(const struct dirent *d)
{
    return d->d_name[0] != '.' && ends_with(d->d_name, ".sql");
}

/* Lexical byte order, independent of the locale (alphasort uses strcoll). */
static int name_cmp(const struct dirent **a, const struct dirent **b)
{
    return strcmp((*a)->d_name, (*b)->d_name);
}

static bool same_number(const char *a, const char *b)
{
    size_t n = strspn(a, "0123456789");
    return n == strspn(b, "0123456789") && strncmp(a, b, n) == 0;
}

static int read_all(const char *path, char **out)
{
    FILE *f = fopen(path, "rb");
    if (!f)
        return migrate_error(VP_E_IO, "migrate.read_failed", "cannot open %s: %s", path,
                             strerror(errno));
    struct stat st;
    int rc = 0;
    char *buf = NULL;
    if (fstat(fileno(f), &st) != 0 || st.st_size > (off_t)MAX_FILE_BYTES) {
        rc = migrate_error(VP_E_IO, "migrate.read_failed", "%s is unreadable or too large", path);
        goto out;
    }
    buf = vp_malloc((size_t)st.st_size + 1);
    size_t n = fread(buf, 1, (size_t)st.st_size, f);
    buf[n] = '\0';
    if (n != (size_t)st.st_size || ferror(f))
        rc = migrate_error(VP_E_IO, "migrate.read_failed", "short read on %s", path);
    else if (strlen(buf) != n)
        rc = migrate_error(VP_E_PARSE, "migrate.bad_file", "%s contains a NUL byte", path);
out:
    fclose(f);
    if (rc < 0)
        free(buf);
    else
        *out = buf;
    return rc;
}

static int file_load(struct migrate_file *m, const char *dir, const char *name)
{
    m->path = vp_asprintf("%s/%s", dir, name);
    m->version = vp_strndup(name, strlen(name) - strlen(".sql"));
    int rc = read_all(m->path, &m->sql);
    if (rc == 0)
        crypto_sha256_hex(m->sql, strlen(m->sql), m->checksum);
    return rc;
}

/* Check the sorted names: all well formed, no number used twice. */
static int names_check(struct dirent **list, int n, const char *dir)
{
    for (int i = 0; i < n; i++) {
        const char *name = list[i]->d_name;
        if (!name_valid(name))
            return migrate_error(VP_E_CONFIG, "migrate.bad_name",
                                 "%s/%s is not named NNNN_name.sql", dir, name);
        if (i > 0 && same_number(list[i - 1]->d_name, name))
            return migrate_error(VP_E_CONFIG, "migrate.duplicate_number",
                                 "%s and %s in %s share a number", list[i - 1]->d_name, name, dir);
    }
    return 0;
}

int migrate_files_load(const char *dir, struct migrate_files *out)
{
    struct dirent **list = NULL;
    memset(out, 0, sizeof(*out));
    int n = scandir(dir, &list, sql_filter, name_cmp);
    if (n < 0)
        return migrate_error(VP_E_IO, "migrate.bad_dir", "cannot read directory %s: %s", dir,
                             strerror(errno));
    int rc = names_check(list, n, dir);
    out->v = vp_calloc(n > 0 ? (size_t)n : 1, sizeof(*out->v));
    for (int i = 0; i < n && rc == 0; i++, out->n++)
        rc = file_load(&out->v[i], dir, list[i]->d_name);
    for (int i = 0; i < n; i++)
        free(list[i]);
    free(list);
    if (rc < 0)
        migrate_files_free(out);
    return rc;
}

const struct migrate_file *migrate_files_find(const struct migrate_files *fs, const char *version)
{
    for (size_t i = 0; i < fs->n; i++)
        if (strcmp(fs->v[i].version, version) == 0)
            return &fs->v[i];
    return NULL;
}

void migrate_files_free(struct migrate_files *fs)
{
    for (size_t i = 0; i < fs->n; i++) {
        free(fs->v[i].version);
        free(fs->v[i].path);
        free(fs->v[i].sql);
    }
    free(fs->v);
    memset(fs, 0, sizeof(*fs));
}
