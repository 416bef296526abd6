#include "auth.h"

#include <ctype.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "sha256.h"

typedef struct key_entry {
    uint8_t digest[32];
    auth_scope scope;
} key_entry;

struct auth_keys {
    key_entry *keys;
    int n;
};

static int parse_line(const char *line, size_t len, long lineno, key_entry *e, pt_err *err)
{
    const char *p = line, *end = line + len;
    const char *key = p;
    while (p < end && !isspace((unsigned char)*p))
        p++;
    size_t key_len = (size_t)(p - key);
    while (p < end && isspace((unsigned char)*p))
        p++;
    const char *scope = p;
    while (p < end && !isspace((unsigned char)*p))
        p++;
    size_t scope_len = (size_t)(p - scope);
    while (p < end && isspace((unsigned char)*p))
        p++;
    err ? (void)(err->line = lineno) : (void)0;
    if (!scope_len)
        return pt_fail(err, PT_EFORMAT, "line %ld: expected `key scope`, found no scope", lineno);
    if (p < end)
        return pt_fail(err, PT_EFORMAT, "line %ld: expected `key scope`, found more fields", lineno);
    if (key_len < AUTH_MIN_KEY_LEN)
        return pt_fail(err, PT_EFORMAT, "line %ld: key is %zu characters, at least %d are required", lineno,
                       key_len, AUTH_MIN_KEY_LEN);
    if (scope_len == 5 && !memcmp(scope, "admin", 5))
        e->scope = AUTH_ADMIN;
    else if (scope_len == 8 && !memcmp(scope, "classify", 8))
        e->scope = AUTH_CLASSIFY;
    else
        return pt_fail(err, PT_EFORMAT, "line %ld: unknown scope '%.*s' (expected admin or classify)", lineno,
                       (int)(scope_len > 32 ? 32 : scope_len), scope);
    sha256_ctx c;
    sha256_init(&c);
    sha256_update(&c, key, key_len);
    sha256_final(&c, e->digest);
    return 0;
}

int auth_parse(auth_keys **out, const char *text, size_t len, pt_err *err)
{
    *out = NULL;
    auth_keys *k = calloc(1, sizeof *k);
    if (!k)
        return pt_fail(err, PT_ENOMEM, "out of memory");
    long lineno = 0;
    for (size_t pos = 0; pos < len;) {
        const char *line = text + pos;
        const char *nl = memchr(line, '\n', len - pos);
        size_t n = nl ? (size_t)(nl - line) : len - pos;
        pos += n + (nl != NULL);
        lineno++;
        while (n && isspace((unsigned char)line[n - 1]))
            n--;
        size_t lead = 0;
        while (lead < n && isspace((unsigned char)line[lead]))
            lead++;
        if (lead == n || line[lead] == '#')
            continue;
        key_entry e;
        key_entry *grown = realloc(k->keys, (size_t)(k->n + 1) * sizeof *k->keys);
        int rc = grown ? parse_line(line + lead, n - lead, lineno, &e, err) : pt_fail(err, PT_ENOMEM, "out of memory");
        if (grown)
            k->keys = grown;
        for (int i = 0; !rc && i < k->n; i++)
            if (!memcmp(k->keys[i].digest, e.digest, sizeof e.digest))
                rc = pt_fail(err, PT_EFORMAT, "line %ld: duplicate key", lineno);
        if (rc) {
            auth_free(k);
            return rc;
        }
        k->keys[k->n++] = e;
    }
    if (!k->n) {
        auth_free(k);
        return pt_fail(err, PT_EFORMAT, "no keys (expected `key scope` lines)");
    }
    *out = k;
    return 0;
}

int auth_load(auth_keys **out, const char *path, pt_err *err)
{
    *out = NULL;
    FILE *f = fopen(path, "rb");
    if (!f)
        return pt_fail(err, PT_EIO, "%s: cannot open: %m", path);
    char *buf = NULL;
    size_t len = 0, cap = 0;
    for (;;) {
        if (len + 4096 > cap) {
            char *nb = realloc(buf, cap = 2 * cap + 4096);
            if (!nb) {
                free(buf);
                fclose(f);
                return pt_fail(err, PT_ENOMEM, "out of memory");
            }
            buf = nb;
        }
        size_t got = fread(buf + len, 1, cap - len, f);
        len += got;
        if (!got)
            break;
    }
    int bad = ferror(f);
    fclose(f);
    int rc = bad ? pt_fail(err, PT_EIO, "%s: read error", path) : auth_parse(out, buf, len, err);
    free(buf);
    if (rc && !bad)
        pt_err_prefix(err, "%s", path);
    return rc;
}

void auth_free(auth_keys *k)
{
    if (!k)
        return;
    free(k->keys);
    free(k);
}

int auth_count(const auth_keys *k) { return k ? k->n : 0; }

auth_scope auth_check(const auth_keys *k, const char *key, size_t len)
{
    if (!k || !key)
        return AUTH_NONE;
    uint8_t d[32];
    sha256_ctx c;
    sha256_init(&c);
    sha256_update(&c, key, len);
    sha256_final(&c, d);
    /* Every entry is compared in full and the match folded in without a branch on secret data. */
    unsigned found = 0;
    for (int i = 0; i < k->n; i++) {
        unsigned diff = 0;
        for (int b = 0; b < 32; b++)
            diff |= (unsigned)(d[b] ^ k->keys[i].digest[b]);
        unsigned match = ((diff | (0u - diff)) >> 31) ^ 1u; /* 1 when diff == 0 */
        found |= (0u - match) & (unsigned)k->keys[i].scope;
    }
    return found & AUTH_ADMIN ? AUTH_ADMIN : (auth_scope)found;
}

const char *auth_bearer(const char *header, size_t *len)
{
    *len = 0;
    if (!header || strncasecmp(header, "Bearer ", 7))
        return NULL;
    const char *key = header + 7;
    while (*key == ' ')
        key++;
    size_t n = strlen(key);
    while (n && key[n - 1] == ' ')
        n--;
    if (!n)
        return NULL;
    *len = n;
    return key;
}

const char *auth_scope_name(auth_scope s)
{
    return s == AUTH_ADMIN ? "admin" : s == AUTH_CLASSIFY ? "classify" : "none";
}
