#include "vocab.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "utf8.h"

struct vocab {
    int32_t n;
    char *text;     /* every token NUL-terminated, in id order */
    size_t *start;  /* n + 1 offsets into text; token i is text[start[i] .. start[i+1] - 1) */
    uint32_t *slot; /* hash table of id + 1 (0 = empty), open addressing with linear probing */
    uint32_t mask;  /* table size - 1; the size is a power of two at least twice n */
    size_t max_len;
};

static uint64_t hash_bytes(const char *s, size_t len)
{
    uint64_t h = 0xcbf29ce484222325u; /* FNV-1a */
    for (size_t i = 0; i < len; i++)
        h = (h ^ (unsigned char)s[i]) * 0x100000001b3u;
    return h;
}

static size_t token_len(const vocab *v, int32_t id)
{
    return v->start[id + 1] - v->start[id] - 1;
}

/* The slot holding this token, or the empty slot where it belongs. */
static uint32_t *find_slot(const vocab *v, const char *tok, size_t len)
{
    uint32_t i = (uint32_t)hash_bytes(tok, len) & v->mask;
    for (;; i = (i + 1) & v->mask) {
        uint32_t s = v->slot[i];
        if (!s)
            return &v->slot[i];
        int32_t id = (int32_t)(s - 1);
        if (token_len(v, id) == len && !memcmp(v->text + v->start[id], tok, len))
            return &v->slot[i];
    }
}

/* Counts lines (universal newlines) and checks the UTF-8 of the whole buffer, as Python decodes
 * the file before splitting it. */
static int scan(const char *buf, size_t len, size_t *lines, pt_err *err)
{
    const unsigned char *s = (const unsigned char *)buf;
    size_t n = 0, line_start = 0;
    long line = 1;
    for (size_t i = 0; i < len;) {
        uint32_t cp;
        const char *why;
        size_t k = utf8_decode(s + i, len - i, &cp, &why);
        if (!k) {
            if (err)
                err->line = line, err->offset = (long)i;
            return pt_fail(err, PT_EFORMAT, "line %ld: invalid UTF-8 at byte %zu: %s", line, i, why);
        }
        i += k;
        if (cp == '\n' || cp == '\r') {
            if (cp == '\r' && i < len && s[i] == '\n')
                i++;
            n++, line++;
            line_start = i;
        }
    }
    if (line_start < len)
        n++;
    *lines = n;
    return 0;
}

int vocab_parse(vocab **out, const char *buf, size_t len, pt_err *err)
{
    pt_err_clear(err);
    *out = NULL;
    size_t lines = 0;
    int rc = scan(buf, len, &lines, err);
    if (rc)
        return rc;
    if (lines == 0)
        return pt_fail(err, PT_EFORMAT, "empty vocabulary (no lines)");
    if (lines > (size_t)INT32_MAX / 2)
        return pt_fail(err, PT_ELIMIT, "vocabulary of %zu lines is too large", lines);
    uint32_t cap = 1;
    while (cap < 2 * lines)
        cap <<= 1;
    vocab *v = calloc(1, sizeof *v);
    if (v) {
        v->text = malloc(len + lines);
        v->start = malloc((lines + 1) * sizeof *v->start);
        v->slot = calloc(cap, sizeof *v->slot);
    }
    if (!v || !v->text || !v->start || !v->slot) {
        vocab_free(v);
        return pt_fail(err, PT_ENOMEM, "out of memory for a vocabulary of %zu lines", lines);
    }
    v->mask = cap - 1;
    size_t o = 0;
    for (size_t i = 0; i < len;) {
        size_t e = i;
        while (e < len && buf[e] != '\n' && buf[e] != '\r')
            e++;
        int32_t id = v->n++;
        v->start[id] = o;
        memcpy(v->text + o, buf + i, e - i);
        o += e - i;
        v->text[o++] = '\0';
        v->start[id + 1] = o;
        if (e - i > v->max_len)
            v->max_len = e - i;
        *find_slot(v, v->text + v->start[id], e - i) = (uint32_t)id + 1; /* a repeat takes the later id */
        i = e + (e < len && buf[e] == '\r' && e + 1 < len && buf[e + 1] == '\n' ? 2 : 1);
    }
    *out = v;
    return 0;
}

int vocab_load(vocab **out, const char *path, pt_err *err)
{
    pt_err_clear(err);
    *out = NULL;
    FILE *f = fopen(path, "rb");
    if (!f)
        return pt_fail(err, PT_EIO, "%s: cannot open: %s", path, strerror(errno));
    size_t cap = 1 << 16, len = 0;
    char *buf = malloc(cap);
    for (;;) {
        if (buf && len == cap) {
            char *nb = realloc(buf, cap *= 2);
            if (!nb)
                free(buf);
            buf = nb;
        }
        if (!buf) {
            fclose(f);
            return pt_fail(err, PT_ENOMEM, "%s: out of memory", path);
        }
        size_t got = fread(buf + len, 1, cap - len, f);
        len += got;
        if (got == 0)
            break;
    }
    int bad = ferror(f);
    fclose(f);
    if (bad) {
        free(buf);
        return pt_fail(err, PT_EIO, "%s: read error", path);
    }
    int rc = vocab_parse(out, buf, len, err);
    free(buf);
    if (rc)
        pt_err_prefix(err, "%s", path);
    return rc;
}

void vocab_free(vocab *v)
{
    if (!v)
        return;
    free(v->text);
    free(v->start);
    free(v->slot);
    free(v);
}

int vocab_size(const vocab *v)
{
    return v->n;
}

int32_t vocab_id(const vocab *v, const char *tok, size_t len)
{
    if (len > v->max_len)
        return -1;
    uint32_t s = *find_slot(v, tok, len);
    return s ? (int32_t)(s - 1) : -1;
}

const char *vocab_token(const vocab *v, int32_t id)
{
    if (id < 0 || id >= v->n)
        return NULL;
    return v->text + v->start[id];
}

size_t vocab_max_len(const vocab *v)
{
    return v->max_len;
}
