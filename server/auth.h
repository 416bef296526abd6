/* auth — API keys: a file of `key scope` lines, scope `admin` (everything) or `classify` (read routes and
 * POST /classify). Blank lines and lines starting with # are skipped; anything else (a missing scope, an
 * unknown scope, extra fields, a duplicate or too-short key) fails with the line number.
 *
 * Keys are kept only as SHA-256 digests, and a presented key is compared against every stored digest
 * in constant time, so neither the content nor the length of a key leaks through timing.
 */
#ifndef PT_AUTH_H
#define PT_AUTH_H

#include <stddef.h>

#include "err.h"

typedef enum auth_scope {
    AUTH_NONE = 0,     /* no key, or an unknown one */
    AUTH_CLASSIFY = 1, /* read + classify */
    AUTH_ADMIN = 2,    /* everything */
} auth_scope;

typedef struct auth_keys auth_keys;

/* Keys shorter than this are refused: they could be guessed. */
#define AUTH_MIN_KEY_LEN 16

int auth_load(auth_keys **out, const char *path, pt_err *err);
int auth_parse(auth_keys **out, const char *text, size_t len, pt_err *err);
void auth_free(auth_keys *k);

int auth_count(const auth_keys *k);

/* The scope of a presented key (AUTH_NONE when unknown). */
auth_scope auth_check(const auth_keys *k, const char *key, size_t len);

/* The key of an "Authorization: Bearer <key>" header value, or NULL (len set) when it has another form. */
const char *auth_bearer(const char *header, size_t *len);

const char *auth_scope_name(auth_scope s);

#endif
