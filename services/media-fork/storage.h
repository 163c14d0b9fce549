/*
 * storage.h - where finished recordings go: a file is put under a key
 * ("<tenant>/<call>/<recording_id>.<ext>", proto/streams.md) and is then readable by
 * whoever serves it (the gateway reads the same root through VOEPY_RECORDINGS_DIR).
 *
 * The interface is the same whatever the backend: the recorder first asks for a local
 * path to write the file to (storage_begin), writes it there, then hands it over
 * (storage_put) or drops it (storage_abort). The directory backend writes the temporary
 * file next to its final name and renames it when complete, so a reader never sees half
 * a file; an S3-compatible backend would write to a local spool and upload in put.
 *
 * storage_begin, storage_put, storage_abort and storage_remove block (mkdir, rename,
 * unlink, an upload): call them on a worker thread (uv_queue_work), never on the loop.
 * They touch no shared state, so several workers may call them at once. create and
 * destroy run on the loop.
 */
#ifndef MF_STORAGE_H
#define MF_STORAGE_H

#include <stddef.h>
#include <stdint.h>

#include "voepy/err.h"

#define STORAGE_KEY_MAX  256
#define STORAGE_PATH_MAX 1200

struct storage;

/*
 * The directory backend rooted at root (VOEPY_RECORDINGS_DIR), which must exist and be a
 * directory: VP_E_CONFIG otherwise.
 */
int storage_dir_create(struct storage **sp, const char *root);
void storage_destroy(struct storage *s);

/*
 * Whether key is one we would write: relative, segments of [A-Za-z0-9_.-] not starting
 * with a dot (so no "..", no hidden temp names), at most STORAGE_KEY_MAX.
 */
int storage_key_check(const char *key);
/*
 * Prepare to store key: a local path to write the file to (tmp, cap bytes). The
 * directory backend creates the key's directories. 0, VP_E_INVALID_PARAMETER (a bad key)
 * or VP_E_IO (e says what failed).
 */
int storage_begin(struct storage *s, const char *key, char *tmp, size_t cap, struct vp_error *e);
/* The file at tmp is complete: store it as key; *size is its size in bytes. 0 or VP_E_IO. */
int storage_put(struct storage *s, const char *key, const char *tmp, uint64_t *size,
                struct vp_error *e);
/* Drop a temporary file that will not be stored. */
void storage_abort(struct storage *s, const char *tmp);
/* Remove a stored key (0; VP_E_NOT_FOUND when it was not there; VP_E_IO). */
int storage_remove(struct storage *s, const char *key, struct vp_error *e);

#endif
