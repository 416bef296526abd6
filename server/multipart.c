#include "multipart.h"

#include <ctype.h>
#include <stdbool.h>
#include <stdio.h>
#include <string.h>
#include <strings.h>

int multipart_boundary(const char *content_type, char *out, size_t cap, pt_err *err)
{
    const char *p = content_type ? strchr(content_type, ';') : NULL;
    while (p) {
        p++;
        while (*p == ' ' || *p == '\t')
            p++;
        if (!strncasecmp(p, "boundary=", 9)) {
            p += 9;
            size_t n;
            if (*p == '"') {
                p++;
                const char *q = strchr(p, '"');
                if (!q)
                    return pt_fail(err, PT_EFORMAT, "multipart boundary: unterminated quoted string");
                n = (size_t)(q - p);
            } else {
                n = strcspn(p, "; \t");
            }
            if (n < 1 || n > 70 || n >= cap)
                return pt_fail(err, PT_EFORMAT, "multipart boundary must have 1 to 70 characters, not %zu", n);
            memcpy(out, p, n);
            out[n] = '\0';
            return 0;
        }
        p = strchr(p, ';');
    }
    return pt_fail(err, PT_EFORMAT, "Content-Type multipart/form-data needs a boundary parameter");
}

static const char *find(const char *hay, size_t hay_len, const char *needle, size_t n)
{
    return n <= hay_len ? memmem(hay, hay_len, needle, n) : NULL;
}

static int fail_at(pt_err *err, const char *body, const char *at, const char *what)
{
    pt_fail(err, PT_EFORMAT, "multipart body, byte %ld: %s", (long)(at - body), what);
    if (err)
        err->offset = (long)(at - body);
    return PT_EFORMAT;
}

/* A header parameter (name="...") of a Content-Disposition value (hdr_len bytes) into out. */
static int disposition_param(const char *hdr, size_t hdr_len, const char *param, char *out, size_t cap)
{
    size_t plen = strlen(param);
    for (size_t i = 0; i + plen + 1 < hdr_len; i++) {
        if ((i && hdr[i - 1] != ';' && hdr[i - 1] != ' ' && hdr[i - 1] != '\t') ||
            strncasecmp(hdr + i, param, plen) || hdr[i + plen] != '=')
            continue;
        const char *v = hdr + i + plen + 1, *end = hdr + hdr_len;
        size_t n = 0;
        if (v < end && *v == '"') {
            for (v++; v < end && *v != '"'; v++) {
                if (*v == '\\' && v + 1 < end)
                    v++;
                if (n + 1 >= cap)
                    return -1;
                out[n++] = *v;
            }
            if (v >= end)
                return -1;
        } else {
            for (; v < end && *v != ';' && *v != ' '; v++) {
                if (n + 1 >= cap)
                    return -1;
                out[n++] = *v;
            }
        }
        out[n] = '\0';
        return 1;
    }
    return 0;
}

static int parse_headers(multipart_part *part, const char *body, const char *h, const char *end, pt_err *err)
{
    bool disposition = false;
    while (h < end) {
        const char *eol = find(h, (size_t)(end - h), "\r\n", 2);
        size_t n = eol ? (size_t)(eol - h) : (size_t)(end - h);
        const char *colon = memchr(h, ':', n);
        if (!colon)
            return fail_at(err, body, h, "part header without ':'");
        size_t name_len = (size_t)(colon - h);
        const char *v = colon + 1;
        while (v < h + n && (*v == ' ' || *v == '\t'))
            v++;
        size_t vlen = (size_t)(h + n - v);
        if (name_len == 19 && !strncasecmp(h, "Content-Disposition", 19)) {
            if (vlen < 9 || strncasecmp(v, "form-data", 9))
                return fail_at(err, body, v, "Content-Disposition must be form-data");
            if (disposition_param(v, vlen, "name", part->name, sizeof part->name) != 1 || !part->name[0])
                return fail_at(err, body, v, "Content-Disposition without a valid name parameter");
            if (disposition_param(v, vlen, "filename", part->filename, sizeof part->filename) < 0)
                return fail_at(err, body, v, "Content-Disposition with a malformed filename parameter");
            disposition = true;
        } else if (name_len == 12 && !strncasecmp(h, "Content-Type", 12)) {
            size_t c = vlen < sizeof part->content_type ? vlen : sizeof part->content_type - 1;
            memcpy(part->content_type, v, c);
            part->content_type[c] = '\0';
        }
        h += n + 2;
    }
    if (!disposition)
        return fail_at(err, body, end, "part without a Content-Disposition header");
    return 0;
}

int multipart_parse(multipart *m, const char *body, size_t len, const char *boundary, pt_err *err)
{
    memset(m, 0, sizeof *m);
    char delim[80];
    size_t dlen = (size_t)snprintf(delim, sizeof delim, "\r\n--%s", boundary);
    const char *end = body + len;
    /* The first delimiter may open the body (no CRLF before it) or follow a preamble. */
    const char *p;
    if (len >= dlen - 2 && !memcmp(body, delim + 2, dlen - 2))
        p = body + dlen - 2;
    else if ((p = find(body, len, delim, dlen)))
        p += dlen;
    else
        return fail_at(err, body, body, "no opening boundary delimiter");
    for (;;) {
        while (p < end && (*p == ' ' || *p == '\t'))
            p++;
        if (end - p >= 2 && !memcmp(p, "--", 2))
            break; /* the closing delimiter; an epilogue may follow and is ignored */
        if (end - p < 2 || memcmp(p, "\r\n", 2))
            return fail_at(err, body, p, "expected CRLF after a boundary delimiter");
        p += 2;
        if (m->n == MULTIPART_MAX_PARTS)
            return fail_at(err, body, p, "too many parts");
        const char *hend = find(p, (size_t)(end - p), "\r\n\r\n", 4);
        if (!hend && end - p >= 2 && !memcmp(p, "\r\n", 2))
            hend = p - 2; /* no headers at all */
        if (!hend)
            return fail_at(err, body, p, "part headers are not terminated by an empty line");
        multipart_part *part = &m->parts[m->n];
        int rc = parse_headers(part, body, p, hend > p ? hend : p, err);
        if (rc)
            return rc;
        const char *data = hend + 4;
        const char *next = find(data, (size_t)(end - data), delim, dlen);
        if (!next)
            return fail_at(err, body, data, "part is not closed by a boundary delimiter");
        part->data = data;
        part->len = (size_t)(next - data);
        m->n++;
        p = next + dlen;
    }
    return 0;
}

const multipart_part *multipart_find(const multipart *m, const char *name)
{
    for (int i = 0; i < m->n; i++)
        if (!strcmp(m->parts[i].name, name))
            return &m->parts[i];
    return NULL;
}
