#include "fileio.h"

#include <errno.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

int fileio_write_atomic(const char *path, const void *data, size_t len, pt_err *err)
{
    char tmp[PATH_MAX];
    if (snprintf(tmp, sizeof tmp, "%s.tmp.XXXXXX", path) >= (int)sizeof tmp)
        return pt_fail(err, PT_EINVAL, "%s: path too long", path);
    int fd = mkstemp(tmp);
    if (fd < 0)
        return pt_fail(err, PT_EIO, "%s: cannot create a temporary file: %s", path, strerror(errno));
    fchmod(fd, 0644);
    const char *p = data;
    size_t done = 0;
    while (done < len) {
        ssize_t w = write(fd, p + done, len - done);
        if (w < 0 && errno == EINTR)
            continue;
        if (w <= 0)
            break;
        done += (size_t)w;
    }
    int bad = done < len || fsync(fd);
    bad |= close(fd);
    if (bad || rename(tmp, path)) {
        int e = errno;
        unlink(tmp);
        return pt_fail(err, PT_EIO, "%s: write failed: %s", path, strerror(e));
    }
    return 0;
}
