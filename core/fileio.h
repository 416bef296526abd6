/* fileio — small file-system helpers shared by the writers of model and adapter files. */
#ifndef PT_FILEIO_H
#define PT_FILEIO_H

#include <stddef.h>

#include "err.h"

/* Writes len bytes to path through a temporary file in the same directory, fsync and rename, so a
 * reader never sees a half-written file. Mode 0644. */
int fileio_write_atomic(const char *path, const void *data, size_t len, pt_err *err);

#endif
