#include "tar.h"

#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define BLOCK 512

/* Field offsets and sizes of the ustar header. */
enum { NAME = 0, MODE = 100, UID = 108, GID = 116, SIZE = 124, MTIME = 136, CHKSUM = 148, TYPEFLAG = 156,
       MAGIC = 257, VERSION = 263, UNAME = 265, GNAME = 297, PREFIX = 345 };

static void octal(unsigned char *field, size_t width, uint64_t v)
{
    /* width - 1 digits, zero padded, NUL terminated (callers keep v within the digits) */
    for (size_t i = width - 1; i-- > 0; v >>= 3)
        field[i] = (unsigned char)('0' + (v & 7));
    field[width - 1] = '\0';
}

static unsigned checksum(const unsigned char *h)
{
    unsigned sum = 0;
    for (int i = 0; i < BLOCK; i++)
        sum += i >= CHKSUM && i < CHKSUM + 8 ? ' ' : h[i];
    return sum;
}

int tar_write(const tar_entry *entries, int n, int64_t mtime, void **out, size_t *out_len, pt_err *err)
{
    *out = NULL;
    *out_len = 0;
    size_t total = 2 * BLOCK;
    for (int i = 0; i < n; i++) {
        size_t nl = strlen(entries[i].name);
        if (!nl || nl > 100)
            return pt_fail(err, PT_EINVAL, "tar entry name '%s' must have 1 to 100 bytes", entries[i].name);
        total += BLOCK + (entries[i].len + BLOCK - 1) / BLOCK * BLOCK;
    }
    unsigned char *a = calloc(1, total);
    if (!a)
        return pt_fail(err, PT_ENOMEM, "out of memory");
    unsigned char *p = a;
    for (int i = 0; i < n; i++) {
        memcpy(p + NAME, entries[i].name, strlen(entries[i].name));
        octal(p + MODE, 8, 0644);
        octal(p + UID, 8, 0);
        octal(p + GID, 8, 0);
        octal(p + SIZE, 12, entries[i].len);
        octal(p + MTIME, 12, mtime > 0 ? (uint64_t)mtime : 0);
        p[TYPEFLAG] = '0';
        memcpy(p + MAGIC, "ustar", 6);
        memcpy(p + VERSION, "00", 2);
        memcpy(p + UNAME, "ptuned", 6);
        memcpy(p + GNAME, "ptuned", 6);
        snprintf((char *)p + CHKSUM, 8, "%06o", checksum(p));
        p[CHKSUM + 7] = ' ';
        p += BLOCK;
        if (entries[i].len)
            memcpy(p, entries[i].data, entries[i].len);
        p += (entries[i].len + BLOCK - 1) / BLOCK * BLOCK;
    }
    *out = a;
    *out_len = total;
    return 0;
}

static int parse_octal(const unsigned char *f, size_t width, uint64_t *v)
{
    size_t i = 0;
    while (i < width && f[i] == ' ')
        i++;
    uint64_t r = 0;
    size_t digits = 0;
    for (; i < width && f[i] >= '0' && f[i] <= '7'; i++, digits++) {
        if (r >> 60)
            return -1;
        r = r * 8 + (uint64_t)(f[i] - '0');
    }
    for (; i < width; i++)
        if (f[i] != ' ' && f[i] != '\0')
            return -1;
    if (!digits)
        return -1;
    *v = r;
    return 0;
}

static int fail_at(pt_err *err, size_t off, const char *fmt, const char *detail)
{
    pt_fail(err, PT_EFORMAT, "tar archive, byte %zu: %s%s", off, fmt, detail);
    if (err)
        err->offset = (long)off;
    return PT_EFORMAT;
}

static bool zero_block(const unsigned char *h)
{
    for (int i = 0; i < BLOCK; i++)
        if (h[i])
            return false;
    return true;
}

/* name = prefix "/" name, "./" stripped; refuses absolute and ".." paths. */
static int entry_name(const unsigned char *h, char *out, size_t off, pt_err *err)
{
    char name[101], prefix[156];
    memcpy(name, h + NAME, 100);
    name[100] = '\0';
    memcpy(prefix, h + PREFIX, 155);
    prefix[155] = '\0';
    out[0] = '\0';
    if (!memcmp(h + MAGIC, "ustar", 5) && prefix[0]) {
        strcpy(out, prefix); /* 155 + 1 + 100 bytes fit TAR_NAME_MAX + 1 */
        strcat(out, "/");
    }
    strcat(out, name);
    while (out[0] == '.' && out[1] == '/')
        memmove(out, out + 2, strlen(out + 2) + 1);
    if (out[0] == '/')
        return fail_at(err, off, "absolute entry name ", out);
    for (const char *s = out; (s = strstr(s, "..")); s += 2)
        if ((s == out || s[-1] == '/') && (s[2] == '/' || !s[2]))
            return fail_at(err, off, "entry name with '..': ", out);
    return 0;
}

int tar_read(const void *buf, size_t len, tar_entry *entries, int *n, pt_err *err)
{
    const unsigned char *a = buf;
    *n = 0;
    size_t off = 0;
    if (len < BLOCK)
        return fail_at(err, 0, "shorter than one 512-byte header", "");
    while (off + BLOCK <= len) {
        const unsigned char *h = a + off;
        if (zero_block(h))
            return *n ? 0 : fail_at(err, off, "archive has no files", "");
        uint64_t sum, size;
        if (parse_octal(h + CHKSUM, 8, &sum))
            return fail_at(err, off + CHKSUM, "malformed header checksum", "");
        if (sum != checksum(h))
            return fail_at(err, off + CHKSUM, "header checksum mismatch (not a tar archive, or damaged)", "");
        if (parse_octal(h + SIZE, 12, &size))
            return fail_at(err, off + SIZE, "malformed entry size", "");
        char type = (char)h[TYPEFLAG];
        tar_entry e;
        int rc = entry_name(h, e.name, off, err);
        if (rc)
            return rc;
        if (size > len - off - BLOCK || (size + BLOCK - 1) / BLOCK * BLOCK > len - off - BLOCK)
            return fail_at(err, off + SIZE, "entry runs past the end of the archive: ", e.name);
        size_t padded = (size_t)((size + BLOCK - 1) / BLOCK * BLOCK);
        if (type == '5') {
            off += BLOCK + padded;
            continue;
        }
        if (type != '0' && type != '\0')
            return fail_at(err, off + TYPEFLAG, "only regular files are accepted, not the special entry ", e.name);
        if (!e.name[0])
            return fail_at(err, off, "entry with an empty name", "");
        if (tar_find(entries, *n, e.name))
            return fail_at(err, off, "duplicate entry ", e.name);
        if (*n == TAR_MAX_ENTRIES)
            return fail_at(err, off, "too many entries", "");
        e.data = h + BLOCK;
        e.len = (size_t)size;
        entries[(*n)++] = e;
        off += BLOCK + padded;
    }
    /* Archives without their end blocks are accepted when every entry is whole (as tar does). */
    if (off != len)
        return fail_at(err, off, "a partial block after the last entry", "");
    return *n ? 0 : fail_at(err, off, "archive has no files", "");
}

const tar_entry *tar_find(const tar_entry *entries, int n, const char *name)
{
    for (int i = 0; i < n; i++)
        if (!strcmp(entries[i].name, name))
            return &entries[i];
    return NULL;
}
