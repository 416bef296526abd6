/* multipart — a strict multipart/form-data parser (RFC 7578 / RFC 2046) for uploads such as
 * `curl -F file=@train.tsv -F name=reviews`. The whole body is in memory (the HTTP layer caps its size);
 * parts point into it. Anything malformed (no boundary parameter, a missing delimiter or closing
 * delimiter, a part without headers or without a form-data Content-Disposition and name) is an error
 * with err->offset at the byte where parsing stopped.
 */
#ifndef PT_MULTIPART_H
#define PT_MULTIPART_H

#include <stddef.h>

#include "err.h"

#define MULTIPART_MAX_PARTS 16

typedef struct multipart_part {
    char name[128];         /* the form field name */
    char filename[256];     /* "" when the part is not a file */
    char content_type[128]; /* "" when absent */
    const char *data;       /* inside the body */
    size_t len;
} multipart_part;

typedef struct multipart {
    multipart_part parts[MULTIPART_MAX_PARTS];
    int n;
} multipart;

/* The boundary parameter of a multipart/form-data Content-Type (quoted or not, 1..70 characters). */
int multipart_boundary(const char *content_type, char *out, size_t cap, pt_err *err);

int multipart_parse(multipart *m, const char *body, size_t len, const char *boundary, pt_err *err);

/* The part with this field name, or NULL. */
const multipart_part *multipart_find(const multipart *m, const char *name);

#endif
