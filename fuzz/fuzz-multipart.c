/* Fuzzes the multipart/form-data reader of POST /datasets. Input: the Content-Type header value up to
 * the first newline (a header holds no NUL, so it ends at one), then the body. An accepted body must
 * give at most MULTIPART_MAX_PARTS parts, each named, each lying inside the body, immediately followed
 * by the CRLF--boundary delimiter and never containing it (RFC 2046 5.1.1). */
#include "fuzz.h"
#include "multipart.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    const char *in = (const char *)data;
    const char *nl = memchr(in, '\n', size);
    size_t ct_len = nl ? (size_t)(nl - in) : size;
    char *ctype = strndup(in, ct_len);
    const char *body = nl ? nl + 1 : in + size;
    size_t len = (size_t)(in + size - body);
    char boundary[80];
    pt_err err;
    pt_err_clear(&err);
    int rc = multipart_boundary(ctype, boundary, sizeof boundary, &err);
    free(ctype);
    if (rc) {
        fuzz_check_err(rc, &err);
        return 0;
    }
    size_t blen = strlen(boundary);
    FUZZ_CHECK(blen >= 1 && blen <= 70);
    /* A copy of exactly len bytes, so that ASan sees any read past the body. */
    char *copy = malloc(len ? len : 1);
    memcpy(copy, body, len);
    multipart m;
    rc = multipart_parse(&m, copy, len, boundary, &err);
    if (rc) {
        fuzz_check_err(rc, &err);
        FUZZ_CHECK(err.offset >= 0 && (size_t)err.offset <= len);
        free(copy);
        return 0;
    }
    char delim[80];
    int dlen = snprintf(delim, sizeof delim, "\r\n--%s", boundary);
    FUZZ_CHECK(m.n >= 0 && m.n <= MULTIPART_MAX_PARTS);
    for (int i = 0; i < m.n; i++) {
        const multipart_part *p = &m.parts[i];
        FUZZ_CHECK(memchr(p->name, '\0', sizeof p->name) && p->name[0] != '\0');
        FUZZ_CHECK(memchr(p->filename, '\0', sizeof p->filename) && memchr(p->content_type, '\0', sizeof p->content_type));
        FUZZ_CHECK(p->data >= copy && p->data + p->len <= copy + len);
        FUZZ_CHECK((size_t)(copy + len - (p->data + p->len)) >= (size_t)dlen);
        FUZZ_CHECK(!memcmp(p->data + p->len, delim, (size_t)dlen));
        FUZZ_CHECK(p->len < (size_t)dlen || !memmem(p->data, p->len, delim, (size_t)dlen));
        const multipart_part *f = multipart_find(&m, p->name);
        FUZZ_CHECK(f && f <= p && !strcmp(f->name, p->name));
    }
    free(copy);
    return 0;
}
