/* Fuzzes tsv_parse. Accepted input must give rows as tsv.h describes them: a non-empty label without
 * tab, a non-empty text, neither holding a CR or LF, both valid UTF-8 without NUL, 1-based lines in
 * increasing order, at most one row per line. A rejection names a line; an encoding error also the exact byte
 * offset of the first bad sequence (the independent validator of fuzz.h is the oracle). */
#include "fuzz.h"
#include "tsv.h"

#include <stdbool.h>

static void check_field(const char *s, bool is_label)
{
    size_t n = strlen(s);
    FUZZ_CHECK(n > 0);
    FUZZ_CHECK(fuzz_utf8_invalid_at((const uint8_t *)s, n) == -1);
    FUZZ_CHECK(!memchr(s, '\n', n) && !memchr(s, '\r', n));
    FUZZ_CHECK(!is_label || !memchr(s, '\t', n));
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    tsv_data d;
    pt_err err;
    pt_err_clear(&err);
    int rc = tsv_parse(&d, (const char *)data, size, &err);
    long lines = 1;
    for (size_t i = 0; i < size; i++)
        lines += data[i] == '\n';
    if (rc) {
        fuzz_check_err(rc, &err);
        FUZZ_CHECK(d.rows == NULL && d.n_rows == 0 && d.buf == NULL);
        FUZZ_CHECK(err.line >= 1 && err.line <= lines);
        long bad = fuzz_utf8_invalid_at(data, size);
        if (strstr(err.msg, "invalid UTF-8"))
            FUZZ_CHECK(err.offset == bad);
        if (strstr(err.msg, "NUL byte"))
            FUZZ_CHECK(err.offset >= 0 && (size_t)err.offset < size && data[err.offset] == 0 &&
                       (bad == -1 || bad > err.offset));
        return 0;
    }
    FUZZ_CHECK(d.n_rows >= 0 && d.n_rows <= lines);
    for (int i = 0; i < d.n_rows; i++) {
        check_field(d.rows[i].label, true);
        check_field(d.rows[i].text, false);
        FUZZ_CHECK(d.rows[i].line >= 1 && d.rows[i].line <= lines);
        FUZZ_CHECK(i == 0 || d.rows[i].line > d.rows[i - 1].line);
    }
    tsv_free(&d);
    return 0;
}
