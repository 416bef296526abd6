#include "tsv.h"

#include <errno.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "utf8.h"

static int fail_at(pt_err *err, int code, long line, long offset, const char *fmt, ...)
    __attribute__((format(printf, 5, 6)));

static int fail_at(pt_err *err, int code, long line, long offset, const char *fmt, ...)
{
    if (!err)
        return code;
    char msg[sizeof err->msg];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(msg, sizeof msg, fmt, ap);
    va_end(ap);
    pt_fail(err, code, "line %ld: %s", line, msg);
    err->line = line;
    err->offset = offset;
    return code;
}

/* Checks s[start, end) is UTF-8 without NUL bytes; offsets in errors are relative to s. */
static int check_utf8(const char *s, size_t start, size_t end, long line, pt_err *err)
{
    const unsigned char *u = (const unsigned char *)s;
    for (size_t i = start; i < end;) {
        if (u[i] == 0)
            return fail_at(err, PT_EFORMAT, line, (long)i, "NUL byte at byte offset %zu (expected UTF-8 text)", i);
        uint32_t cp;
        const char *why;
        size_t k = utf8_decode(u + i, end - i, &cp, &why);
        if (k == 0)
            return fail_at(err, PT_EFORMAT, line, (long)i, "invalid UTF-8 at byte offset %zu (%s)", i, why);
        i += k;
    }
    return 0;
}

static bool is_blank(const char *s, size_t start, size_t end)
{
    for (size_t i = start; i < end; i++)
        if (s[i] != ' ' && s[i] != '\t' && s[i] != '\r')
            return false;
    return true;
}

int tsv_parse(tsv_data *out, const char *buf, size_t len, pt_err *err)
{
    memset(out, 0, sizeof *out);
    char *copy = malloc(len + 1);
    if (!copy)
        return pt_fail(err, PT_ENOMEM, "out of memory reading %zu bytes of TSV", len);
    memcpy(copy, buf, len);
    copy[len] = '\0';

    /* At most one row per newline, plus a last line without one; never more than the limit (a body of
     * blank lines must not cost a row slot per byte). */
    size_t cap = 1;
    for (size_t i = 0; i < len && cap < TSV_MAX_ROWS; i++)
        cap += copy[i] == '\n';
    tsv_row *rows = malloc(cap * sizeof *rows);
    if (!rows) {
        free(copy);
        return pt_fail(err, PT_ENOMEM, "out of memory for %zu TSV rows", cap);
    }

    size_t pos = 0;
    if (len >= 3 && !memcmp(copy, "\xEF\xBB\xBF", 3))
        pos = 3;
    int n = 0;
    int rc = 0;
    for (long line = 1; pos < len; line++) {
        char *nl = memchr(copy + pos, '\n', len - pos);
        size_t end = nl ? (size_t)(nl - copy) : len;
        size_t next = nl ? end + 1 : len;
        size_t stop = end;
        if (stop > pos && copy[stop - 1] == '\r')
            stop--;
        if (is_blank(copy, pos, stop)) {
            pos = next;
            continue;
        }
        if (stop - pos > TSV_MAX_LINE) {
            rc = fail_at(err, PT_ELIMIT, line, -1, "%zu bytes, more than the limit of %d bytes per row", stop - pos,
                         TSV_MAX_LINE);
            break;
        }
        if ((rc = check_utf8(copy, pos, stop, line, err)))
            break;
        /* A CR that does not end the line is refused, not kept in a field: it is how a file with
         * old-Mac CR-only line ends looks, which would otherwise read as one long row. */
        const char *cr = memchr(copy + pos, '\r', stop - pos);
        if (cr) {
            rc = fail_at(err, PT_EFORMAT, line, (long)(cr - copy),
                         "carriage return (CR) inside the line at byte offset %ld (lines end in LF or CRLF)",
                         (long)(cr - copy));
            break;
        }
        char *tab = memchr(copy + pos, '\t', stop - pos);
        if (!tab) {
            rc = fail_at(err, PT_EFORMAT, line, -1, "expected label<TAB>text, found no tab");
            break;
        }
        if (tab == copy + pos) {
            rc = fail_at(err, PT_EFORMAT, line, -1, "empty label (expected label<TAB>text)");
            break;
        }
        if (tab + 1 == copy + stop) {
            rc = fail_at(err, PT_EFORMAT, line, -1, "empty text (expected label<TAB>text)");
            break;
        }
        if (n == TSV_MAX_ROWS) {
            rc = fail_at(err, PT_ELIMIT, line, -1, "more than the limit of %d rows", TSV_MAX_ROWS);
            break;
        }
        *tab = '\0';
        copy[stop] = '\0';
        rows[n].label = copy + pos;
        rows[n].text = tab + 1;
        rows[n].line = line;
        n++;
        pos = next;
    }
    if (rc) {
        free(rows);
        free(copy);
        return rc;
    }
    out->rows = rows;
    out->n_rows = n;
    out->buf = copy;
    return 0;
}

int tsv_read_file(const char *path, char **out, size_t *out_len, pt_err *err)
{
    *out = NULL;
    *out_len = 0;
    FILE *f = fopen(path, "rb");
    if (!f)
        return pt_fail(err, PT_EIO, "%s: %s", path, strerror(errno));
    char *buf = NULL;
    size_t len = 0, cap = 0;
    int rc = 0;
    for (;;) {
        if (len + 1 >= cap) {
            cap = cap ? 2 * cap : 1 << 16;
            char *nb = realloc(buf, cap);
            if (!nb) {
                rc = pt_fail(err, PT_ENOMEM, "%s: out of memory", path);
                break;
            }
            buf = nb;
        }
        size_t got = fread(buf + len, 1, cap - len - 1, f);
        len += got;
        if (got == 0) {
            if (ferror(f))
                rc = pt_fail(err, PT_EIO, "%s: read error", path);
            break;
        }
    }
    fclose(f);
    if (rc) {
        free(buf);
        return rc;
    }
    buf[len] = '\0';
    *out = buf;
    *out_len = len;
    return 0;
}

int tsv_load(tsv_data *out, const char *path, pt_err *err)
{
    memset(out, 0, sizeof *out);
    char *buf;
    size_t len;
    int rc = tsv_read_file(path, &buf, &len, err);
    if (rc)
        return rc;
    if ((rc = tsv_parse(out, buf, len, err)))
        pt_err_prefix(err, "%s", path);
    free(buf);
    return rc;
}

void tsv_free(tsv_data *d)
{
    if (!d)
        return;
    free(d->rows);
    free(d->buf);
    memset(d, 0, sizeof *d);
}
