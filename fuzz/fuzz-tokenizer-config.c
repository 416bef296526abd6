/* Fuzzes tokenizer_read_config (tokenizer_config.json). It reads a path, so each input is put in an
 * in-memory file (memfd) and read back through /proc/self/fd: no disk, no temp names. */
#include "fuzz.h"
#include "tokenizer.h"

#include <sys/mman.h>
#include <unistd.h>

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    int fd = memfd_create("tokenizer_config.json", MFD_CLOEXEC);
    FUZZ_CHECK(fd >= 0);
    FUZZ_CHECK(size == 0 || write(fd, data, size) == (ssize_t)size);
    char path[64];
    snprintf(path, sizeof path, "/proc/self/fd/%d", fd);
    bool lower = false;
    pt_err err;
    pt_err_clear(&err);
    int rc = tokenizer_read_config(path, &lower, &err);
    close(fd);
    if (rc) {
        fuzz_check_err(rc, &err);
        FUZZ_CHECK(rc == PT_EFORMAT);
    }
    return 0;
}
