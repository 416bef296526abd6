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

/* Length of the well-formed UTF-8 sequence at s (RFC 3629; table 3-7 of the Unicode standard), 0 if
 * none. Written here from the table, independently of core/utf8.c, to serve as the oracle. */
static inline size_t fuzz_utf8_seq(const uint8_t *s, size_t n)
{
    uint8_t b = s[0], lo = 0x80, hi = 0xBF;
    size_t len;
    if (b < 0x80)
        return 1;
    if (b >= 0xC2 && b <= 0xDF)
        len = 2;
    else if (b >= 0xE0 && b <= 0xEF) {
        len = 3;
        lo = b == 0xE0 ? 0xA0 : lo;
        hi = b == 0xED ? 0x9F : hi;
    } else if (b >= 0xF0 && b <= 0xF4) {
        len = 4;
        lo = b == 0xF0 ? 0x90 : lo;
        hi = b == 0xF4 ? 0x8F : hi;
    } else
        return 0;
    if (n < len || s[1] < lo || s[1] > hi)
        return 0;
    for (size_t i = 2; i < len; i++)
        if (s[i] < 0x80 || s[i] > 0xBF)
            return 0;
    return len;
}

/* Offset of the first ill-formed sequence, or -1 when all of s is UTF-8. */
static inline long fuzz_utf8_invalid_at(const uint8_t *s, size_t n)
{
    size_t i = 0;
    while (i < n) {
        size_t k = fuzz_utf8_seq(s + i, n - i);
        if (!k)
            return (long)i;
        i += k;
    }
    return -1;
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
