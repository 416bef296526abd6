/* fuzz — what every libFuzzer target shares.
 *
 * A target feeds one input to one parser and then checks the parser's promises itself: a failure must
 * come back as a PT_E* code with a non-empty one-line message; a success must satisfy the invariants the
 * module's header states. A broken promise aborts, which libFuzzer records as a crash with its input.
 */
#ifndef PT_FUZZ_H
#define PT_FUZZ_H

#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "err.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

#define FUZZ_CHECK(cond)                                                                          \
    do {                                                                                          \
        if (!(cond)) {                                                                            \
            fprintf(stderr, "%s:%d: broken promise: %s\n", __FILE__, __LINE__, #cond);             \
            abort();                                                                              \
        }                                                                                         \
    } while (0)

/* A failed call: rc is a PT_E* code, err holds it, and the message is one non-empty line. */
static inline void fuzz_check_err(int rc, const pt_err *err)
{
    FUZZ_CHECK(rc < 0 && strcmp(pt_err_name(rc), "error") != 0);
    FUZZ_CHECK(err->code == rc);
    FUZZ_CHECK(err->msg[0] != '\0');
    FUZZ_CHECK(strchr(err->msg, '\n') == NULL);
    FUZZ_CHECK(memchr(err->field, '\0', sizeof err->field) != NULL);
}

/* Reads a file of the fuzz/ directory whole (NUL-terminated); aborts if it cannot, since a target
 * without its fixture would fuzz nothing. */
static inline char *fuzz_read_fixture(const char *name, size_t *len)
{
    char path[4096];
    snprintf(path, sizeof path, "%s/%s", FUZZ_SRC_DIR, name);
    FILE *f = fopen(path, "rb");
    if (!f) {
        fprintf(stderr, "fuzz: cannot open %s\n", path);
        abort();
    }
    size_t cap = 1 << 16, n = 0;
    char *buf = malloc(cap);
    size_t got;
    while (buf && (got = fread(buf + n, 1, cap - n - 1, f)) > 0) {
        n += got;
        if (n + 1 == cap)
            buf = realloc(buf, cap *= 2);
    }
    fclose(f);
    FUZZ_CHECK(buf != NULL);
    buf[n] = '\0';
    *len = n;
    return buf;
}

#endif
