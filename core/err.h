/* err — errors are values.
 *
 * Every fallible function returns an int status (0 ok, a negative PT_E* code on failure) and fills a
 * caller-owned pt_err with a one-line message a user can act on, always one line of valid UTF-8 (a
 * quoted control character becomes a space, a byte of an ill-formed sequence a '?'). Optional details
 * (line, byte offset, field) are set when they exist so that the HTTP layer can report them as
 * structured fields.
 */
#ifndef PT_ERR_H
#define PT_ERR_H

#include <stddef.h>

enum {
    PT_OK = 0,
    PT_EINVAL = -1,     /* invalid argument or value */
    PT_EIO = -2,        /* file system or OS error */
    PT_ENOMEM = -3,     /* allocation failed */
    PT_EFORMAT = -4,    /* malformed input file or text */
    PT_ECANCELLED = -5, /* stopped by a cancel callback */
    PT_ENOTFOUND = -6,  /* a named thing does not exist */
    PT_ELIMIT = -7,     /* a configured limit was exceeded */
    PT_EMISMATCH = -8,  /* incompatible artefacts (e.g. prompt vs backbone fingerprint) */
    PT_ECONFLICT = -9,  /* the thing is in a state that forbids the operation (e.g. a dataset in use) */
};

typedef struct pt_err {
    int code;          /* the PT_E* value last returned */
    long line;         /* 1-based line at fault, 0 if none */
    long offset;       /* byte offset at fault, -1 if none */
    char field[64];    /* config key / JSON field at fault, "" if none */
    char msg[512];
} pt_err;

/* Clears err (no-op when err is NULL). */
void pt_err_clear(pt_err *err);

/* Formats msg, stores code, returns code. err may be NULL. */
int pt_fail(pt_err *err, int code, const char *fmt, ...) __attribute__((format(printf, 3, 4)));

/* Prefixes the existing message with a context string ("vocab.txt: ..."). Returns err->code. */
int pt_err_prefix(pt_err *err, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

/* A stable snake_case name for a code ("invalid", "format", ...). */
const char *pt_err_name(int code);

#endif
