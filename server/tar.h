/* tar — POSIX ustar archives of regular files, in memory: the format of an exported adapter
 * (GET /tasks/{id}/adapter) and of an import (POST /tasks/import).
 *
 * The writer emits 512-byte ustar headers (mode 0644, the given mtime, checksummed) and the two zero
 * blocks that end an archive. The reader accepts what tar(1) makes of a directory: regular files,
 * directory entries (skipped), "./" prefixes (stripped), ustar name prefixes; it refuses links,
 * devices, GNU/pax extension entries, absolute or ".." names, duplicates, bad checksums, sizes that
 * run past the buffer, and more than TAR_MAX_ENTRIES files — each a one-line error with err->offset.
 */
#ifndef PT_TAR_H
#define PT_TAR_H

#include <stddef.h>
#include <stdint.h>

#include "err.h"

#define TAR_MAX_ENTRIES 64
#define TAR_NAME_MAX 255

typedef struct tar_entry {
    char name[TAR_NAME_MAX + 1];
    const void *data; /* writer: the bytes to store; reader: inside the archive buffer */
    size_t len;
} tar_entry;

/* Names must fit ustar (at most 100 bytes, no prefix split needed for our flat archives). */
int tar_write(const tar_entry *entries, int n, int64_t mtime, void **out, size_t *out_len, pt_err *err);

/* entries: caller-provided array of TAR_MAX_ENTRIES. */
int tar_read(const void *buf, size_t len, tar_entry *entries, int *n, pt_err *err);

/* The entry with this name, or NULL. */
const tar_entry *tar_find(const tar_entry *entries, int n, const char *name);

#endif
