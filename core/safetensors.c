/* safetensors reader and writer.
 *
 * The reader trusts nothing in the file: the header length, every dtype, shape and offset are checked
 * before any tensor pointer is formed, and the data buffer must be covered exactly once by the
 * tensors (no overlap, no hole), as the reference implementation requires, so that every byte of the
 * file has one meaning. The writer lays tensors out with 4-byte dtypes first and pads the header with
 * spaces to a multiple of 8, so every tensor of a file it writes is aligned for in-place use.
 */
#include "safetensors.h"

#include <errno.h>
#include <fcntl.h>
#include <jansson.h>
#include <libgen.h>
#include <math.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

#if __BYTE_ORDER__ != __ORDER_LITTLE_ENDIAN__
#error "safetensors data is little-endian and is used in place: a big-endian host needs byte swapping"
#endif

/* The reference implementation's limit; a larger header is a corrupt or hostile file. */
#define HEADER_MAX 100000000ull

static const struct {
    const char *name;
    size_t size;
} dtypes[] = {
    [ST_BOOL] = {"BOOL", 1}, [ST_U8] = {"U8", 1},   [ST_I8] = {"I8", 1},     [ST_I16] = {"I16", 2},
    [ST_U16] = {"U16", 2},   [ST_F16] = {"F16", 2}, [ST_BF16] = {"BF16", 2}, [ST_I32] = {"I32", 4},
    [ST_U32] = {"U32", 4},   [ST_F32] = {"F32", 4}, [ST_F64] = {"F64", 8},   [ST_I64] = {"I64", 8},
    [ST_U64] = {"U64", 8},   [ST_F8_E4M3] = {"F8_E4M3", 1}, [ST_F8_E5M2] = {"F8_E5M2", 1},
};
#define N_DTYPES ((int)(sizeof dtypes / sizeof dtypes[0]))

const char *st_dtype_name(st_dtype d)
{
    return (int)d >= 0 && (int)d < N_DTYPES ? dtypes[d].name : "?";
}

size_t st_dtype_size(st_dtype d)
{
    return (int)d >= 0 && (int)d < N_DTYPES ? dtypes[d].size : 0;
}

static int dtype_parse(const char *s, st_dtype *d)
{
    for (int i = 0; i < N_DTYPES; i++)
        if (!strcmp(s, dtypes[i].name)) {
            *d = (st_dtype)i;
            return 0;
        }
    return -1;
}

/* ---- f16 / bf16 conversions ---- */

static uint32_t f32_bits(float f)
{
    uint32_t u;
    memcpy(&u, &f, sizeof u);
    return u;
}

static float bits_f32(uint32_t u)
{
    float f;
    memcpy(&f, &u, sizeof f);
    return f;
}

float st_f16_to_f32(uint16_t h)
{
    uint32_t sign = (uint32_t)(h & 0x8000) << 16, exp = (h >> 10) & 0x1f, man = h & 0x3ff;
    if (exp == 0) {
        float v = ldexpf((float)man, -24); /* subnormal (or zero): exact in f32 */
        return sign ? -v : v;
    }
    if (exp == 31)
        return bits_f32(sign | 0x7f800000u | man << 13);
    return bits_f32(sign | (exp + 112) << 23 | man << 13);
}

uint16_t st_f32_to_f16(float f)
{
    uint32_t x = f32_bits(f);
    uint16_t sign = (uint16_t)((x >> 16) & 0x8000);
    x &= 0x7fffffffu;
    if (x > 0x7f800000u) /* NaN: keep the top payload bits, force quiet so it stays a NaN */
        return sign | 0x7e00 | (uint16_t)((x >> 13) & 0x3ff);
    if (x >= 0x477ff000u) /* >= 65520 rounds to infinity (65504 is the largest f16) */
        return sign | 0x7c00;
    if (x >= 0x38800000u) { /* normal f16: rebias the exponent, round 13 bits to nearest even */
        uint32_t r = x - 0x38000000u;
        return sign | (uint16_t)((r + 0xfffu + ((r >> 13) & 1)) >> 13);
    }
    if (x < 0x33000000u) /* below half the smallest subnormal: rounds to zero */
        return sign;
    /* subnormal f16: value in units of 2^-24 is man * 2^(exp - 126), rounded to nearest even */
    int exp = (int)(x >> 23);
    uint32_t man = (x & 0x7fffffu) | 0x800000u;
    int shift = 126 - exp;
    uint32_t r = man >> shift, rem = man & ((1u << shift) - 1), half = 1u << (shift - 1);
    if (rem > half || (rem == half && (r & 1)))
        r++;
    return sign | (uint16_t)r;
}

float st_bf16_to_f32(uint16_t h)
{
    return bits_f32((uint32_t)h << 16);
}

uint16_t st_f32_to_bf16(float f)
{
    uint32_t x = f32_bits(f);
    if ((x & 0x7fffffffu) > 0x7f800000u)
        return (uint16_t)((x >> 16) | 0x40);
    return (uint16_t)((x + 0x7fffu + ((x >> 16) & 1)) >> 16);
}

int st_to_f32(const st_tensor *t, float *out, pt_err *err)
{
    size_t n = t->nbytes / (st_dtype_size(t->dtype) ? st_dtype_size(t->dtype) : 1);
    const uint8_t *p = t->data;
    switch (t->dtype) {
    case ST_F32:
        memcpy(out, p, t->nbytes);
        return 0;
    case ST_F16:
    case ST_BF16:
        for (size_t i = 0; i < n; i++) {
            uint16_t h = (uint16_t)(p[2 * i] | p[2 * i + 1] << 8);
            out[i] = t->dtype == ST_F16 ? st_f16_to_f32(h) : st_bf16_to_f32(h);
        }
        return 0;
    default:
        return pt_fail(err, PT_EFORMAT, "tensor '%s': dtype %s cannot be read as f32 (F32, F16 or BF16 expected)",
                       t->name, st_dtype_name(t->dtype));
    }
}

/* ---- reader ---- */

void st_close(st_file *f)
{
    if (!f)
        return;
    for (int i = 0; i < f->n_tensors; i++)
        free(f->tensors[i].name);
    free(f->tensors);
    free(f->metadata_json);
    if (f->map)
        munmap(f->map, f->map_size);
    memset(f, 0, sizeof *f);
}

const st_tensor *st_find(const st_file *f, const char *name)
{
    for (int i = 0; i < f->n_tensors; i++)
        if (!strcmp(f->tensors[i].name, name))
            return &f->tensors[i];
    return NULL;
}

/* Reads a JSON integer >= 0 into *v. */
static int json_uint(const json_t *j, uint64_t *v)
{
    if (!json_is_integer(j) || json_integer_value(j) < 0)
        return -1;
    *v = (uint64_t)json_integer_value(j);
    return 0;
}

static int parse_metadata(st_file *f, const json_t *meta, pt_err *err)
{
    if (!json_is_object(meta))
        return pt_fail(err, PT_EFORMAT, "header: __metadata__ must be an object of strings");
    const char *key;
    const json_t *val;
    json_object_foreach((json_t *)meta, key, val) {
        if (!json_is_string(val))
            return pt_fail(err, PT_EFORMAT, "header: __metadata__ value of '%s' must be a string", key);
    }
    f->metadata_json = json_dumps(meta, JSON_COMPACT);
    return f->metadata_json ? 0 : pt_fail(err, PT_ENOMEM, "out of memory");
}

/* Fills t from one header entry; data offsets are kept in begin/end for the coverage check. */
static int parse_entry(st_tensor *t, const char *name, const json_t *e, uint64_t data_len, uint64_t *begin,
                       uint64_t *end, pt_err *err)
{
    if (!json_is_object(e))
        return pt_fail(err, PT_EFORMAT, "tensor '%s': entry must be an object with dtype, shape, data_offsets",
                       name);
    const json_t *jd = json_object_get(e, "dtype"), *js = json_object_get(e, "shape"),
                 *jo = json_object_get(e, "data_offsets");
    if (!json_is_string(jd))
        return pt_fail(err, PT_EFORMAT, "tensor '%s': dtype missing or not a string", name);
    if (dtype_parse(json_string_value(jd), &t->dtype))
        return pt_fail(err, PT_EFORMAT, "tensor '%s': unknown dtype '%s'", name, json_string_value(jd));
    if (!json_is_array(js) || json_array_size(js) > ST_MAX_DIMS)
        return pt_fail(err, PT_EFORMAT, "tensor '%s': shape must be a list of at most %d non-negative integers",
                       name, ST_MAX_DIMS);
    t->ndim = (int)json_array_size(js);
    uint64_t numel = 1;
    bool huge = false;
    for (int d = 0; d < t->ndim; d++) {
        uint64_t dim;
        if (json_uint(json_array_get(js, (size_t)d), &dim))
            return pt_fail(err, PT_EFORMAT, "tensor '%s': shape must be a list of non-negative integers (dim %d)",
                           name, d);
        t->shape[d] = (int64_t)dim;
        if (dim && numel > (UINT64_C(1) << 60) / dim)
            huge = true;
        numel *= dim;
    }
    uint64_t b, en;
    if (!json_is_array(jo) || json_array_size(jo) != 2 || json_uint(json_array_get(jo, 0), &b) ||
        json_uint(json_array_get(jo, 1), &en))
        return pt_fail(err, PT_EFORMAT, "tensor '%s': data_offsets must be [begin, end], two non-negative integers",
                       name);
    if (b > en)
        return pt_fail(err, PT_EFORMAT, "tensor '%s': data_offsets [%llu, %llu] begin after end", name,
                       (unsigned long long)b, (unsigned long long)en);
    if (en > data_len)
        return pt_fail(err, PT_EFORMAT,
                       "tensor '%s': data_offsets [%llu, %llu] out of range: the data buffer has %llu bytes "
                       "(file truncated?)",
                       name, (unsigned long long)b, (unsigned long long)en, (unsigned long long)data_len);
    uint64_t need = numel * dtypes[t->dtype].size;
    if (huge || en - b != need)
        return pt_fail(err, PT_EFORMAT,
                       "tensor '%s': data_offsets [%llu, %llu] hold %llu bytes but its shape x %s needs %s%llu",
                       name, (unsigned long long)b, (unsigned long long)en, (unsigned long long)(en - b),
                       dtypes[t->dtype].name, huge ? "more than " : "", huge ? (1ull << 60) : (unsigned long long)need);
    *begin = b;
    *end = en;
    t->nbytes = (size_t)need;
    return 0;
}

typedef struct span {
    uint64_t begin, end;
    int idx;
} span;

static int span_cmp(const void *a, const void *b)
{
    const span *x = a, *y = b;
    if (x->begin != y->begin)
        return x->begin < y->begin ? -1 : 1;
    return x->end < y->end ? -1 : x->end > y->end;
}

/* The tensors must tile the data buffer: sorted by offset, each starts where the previous ended. */
static int check_coverage(const st_file *f, span *sp, uint64_t data_len, pt_err *err)
{
    qsort(sp, (size_t)f->n_tensors, sizeof *sp, span_cmp);
    uint64_t at = 0;
    for (int i = 0; i < f->n_tensors; i++) {
        if (sp[i].begin < at)
            return pt_fail(err, PT_EFORMAT, "tensors '%s' [%llu, %llu] and '%s' [%llu, %llu] overlap",
                           f->tensors[sp[i - 1].idx].name, (unsigned long long)sp[i - 1].begin,
                           (unsigned long long)sp[i - 1].end, f->tensors[sp[i].idx].name,
                           (unsigned long long)sp[i].begin, (unsigned long long)sp[i].end);
        if (sp[i].begin > at)
            return pt_fail(err, PT_EFORMAT, "data bytes [%llu, %llu) belong to no tensor (before '%s')",
                           (unsigned long long)at, (unsigned long long)sp[i].begin, f->tensors[sp[i].idx].name);
        at = sp[i].end;
    }
    if (at != data_len)
        return pt_fail(err, PT_EFORMAT, "data bytes [%llu, %llu) at the end belong to no tensor",
                       (unsigned long long)at, (unsigned long long)data_len);
    return 0;
}

/* Names the duplicate key from jansson's "duplicate object key near '\"x\"'". */
static int fail_json(pt_err *err, const json_error_t *je)
{
    int rc;
    if (json_error_code(je) == json_error_duplicate_key) {
        const char *near = strstr(je->text, "near '");
        rc = pt_fail(err, PT_EFORMAT, "header: duplicate tensor name %.*s (header byte %d)",
                     near ? (int)strlen(near + 6) - 1 : 0, near ? near + 6 : "", je->position);
    } else {
        rc = pt_fail(err, PT_EFORMAT, "header is not valid JSON: %s (header byte %d)", je->text, je->position);
    }
    if (err)
        err->offset = 8 + je->position;
    return rc;
}

static int parse_header(st_file *f, const json_t *root, const uint8_t *data, uint64_t data_len, pt_err *err)
{
    size_t n = json_object_size(root);
    f->tensors = calloc(n ? n : 1, sizeof *f->tensors);
    span *sp = calloc(n ? n : 1, sizeof *sp);
    if (!f->tensors || !sp) {
        free(sp);
        return pt_fail(err, PT_ENOMEM, "out of memory for %zu tensor entries", n);
    }
    int rc = 0;
    const char *key;
    json_t *val;
    json_object_foreach((json_t *)root, key, val) {
        if (!strcmp(key, "__metadata__")) {
            if ((rc = parse_metadata(f, val, err)))
                break;
            continue;
        }
        st_tensor *t = &f->tensors[f->n_tensors];
        if ((rc = parse_entry(t, key, val, data_len, &sp[f->n_tensors].begin, &sp[f->n_tensors].end, err)))
            break;
        if (!(t->name = strdup(key))) {
            rc = pt_fail(err, PT_ENOMEM, "out of memory");
            break;
        }
        t->data = data + sp[f->n_tensors].begin;
        sp[f->n_tensors].idx = f->n_tensors;
        f->n_tensors++;
    }
    if (!rc)
        rc = check_coverage(f, sp, data_len, err);
    free(sp);
    return rc;
}

int st_parse(st_file *f, const void *buf, size_t len, pt_err *err)
{
    memset(f, 0, sizeof *f);
    const uint8_t *p = buf;
    if (len < 8)
        return pt_fail(err, PT_EFORMAT, "file truncated: %zu bytes, shorter than the 8-byte header length", len);
    uint64_t hlen = 0;
    for (int i = 7; i >= 0; i--)
        hlen = hlen << 8 | p[i];
    if (hlen > len - 8)
        return pt_fail(err, PT_EFORMAT, "header length %llu goes past the end of the file (%zu bytes)",
                       (unsigned long long)hlen, len);
    if (hlen > HEADER_MAX)
        return pt_fail(err, PT_ELIMIT, "header length %llu exceeds the limit of %llu bytes",
                       (unsigned long long)hlen, HEADER_MAX);
    json_error_t je;
    json_t *root = json_loadb((const char *)p + 8, (size_t)hlen, JSON_REJECT_DUPLICATES | JSON_DECODE_ANY, &je);
    if (!root)
        return fail_json(err, &je);
    int rc;
    if (!json_is_object(root))
        rc = pt_fail(err, PT_EFORMAT, "header is not a JSON object");
    else
        rc = parse_header(f, root, p + 8 + hlen, len - 8 - hlen, err);
    json_decref(root);
    if (rc)
        st_close(f);
    return rc;
}

int st_open(st_file *f, const char *path, pt_err *err)
{
    memset(f, 0, sizeof *f);
    int fd = open(path, O_RDONLY | O_CLOEXEC);
    if (fd < 0)
        return pt_fail(err, errno == ENOENT ? PT_ENOTFOUND : PT_EIO, "%s: %s", path, strerror(errno));
    struct stat sb;
    if (fstat(fd, &sb) || !S_ISREG(sb.st_mode)) {
        close(fd);
        return pt_fail(err, PT_EIO, "%s: not a regular file", path);
    }
    size_t size = (size_t)sb.st_size;
    void *map = NULL;
    if (size >= 8) {
        map = mmap(NULL, size, PROT_READ, MAP_PRIVATE, fd, 0);
        if (map == MAP_FAILED) {
            int e = errno;
            close(fd);
            return pt_fail(err, PT_EIO, "%s: mmap: %s", path, strerror(e));
        }
    }
    close(fd);
    int rc = st_parse(f, map, size, err);
    if (rc) {
        if (map)
            munmap(map, size);
        return pt_err_prefix(err, "%s", path);
    }
    f->map = map;
    f->map_size = size;
    return 0;
}

/* ---- writer ---- */

static int check_wtensors(const st_wtensor *ts, int n, uint64_t *sizes, pt_err *err)
{
    for (int i = 0; i < n; i++) {
        const st_wtensor *t = &ts[i];
        if (!t->name || !*t->name || !strcmp(t->name, "__metadata__"))
            return pt_fail(err, PT_EINVAL, "tensor %d: name must be non-empty and not __metadata__", i);
        if (t->dtype != ST_F32 && t->dtype != ST_F16 && t->dtype != ST_BF16)
            return pt_fail(err, PT_EINVAL, "tensor '%s': can only write F32, F16 or BF16, not %s", t->name,
                           st_dtype_name(t->dtype));
        if (t->ndim < 0 || t->ndim > ST_MAX_DIMS)
            return pt_fail(err, PT_EINVAL, "tensor '%s': %d dimensions (0..%d allowed)", t->name, t->ndim,
                           ST_MAX_DIMS);
        uint64_t numel = 1;
        for (int d = 0; d < t->ndim; d++) {
            if (t->shape[d] < 0 || (t->shape[d] && numel > (UINT64_C(1) << 60) / (uint64_t)t->shape[d]))
                return pt_fail(err, PT_EINVAL, "tensor '%s': dimension %d is %lld", t->name, d,
                               (long long)t->shape[d]);
            numel *= (uint64_t)t->shape[d];
        }
        if (numel && !t->data)
            return pt_fail(err, PT_EINVAL, "tensor '%s': no data", t->name);
        for (int j = 0; j < i; j++)
            if (!strcmp(ts[j].name, t->name))
                return pt_fail(err, PT_EINVAL, "duplicate tensor name '%s'", t->name);
        sizes[i] = numel;
    }
    return 0;
}

/* Builds the header text: offsets follow the data order (4-byte dtypes first, then 2-byte). */
static char *build_header(const st_wtensor *ts, int n, const uint64_t *numel, const char *const *metadata,
                          pt_err *err)
{
    json_t *root = json_object();
    int bad = !root;
    if (metadata && metadata[0]) {
        json_t *m = json_object();
        for (int i = 0; metadata[i] && metadata[i + 1]; i += 2)
            if (json_object_set_new(m, metadata[i], json_string(metadata[i + 1])))
                bad = pt_fail(err, PT_EINVAL, "metadata '%s': key and value must be valid UTF-8", metadata[i]);
        json_object_set_new(root, "__metadata__", m);
    }
    uint64_t at = 0;
    for (int pass = 0; pass < 2 && !bad; pass++)
        for (int i = 0; i < n && !bad; i++) {
            size_t es = st_dtype_size(ts[i].dtype);
            if ((es == 4) != (pass == 0))
                continue;
            json_t *shape = json_array();
            for (int d = 0; d < ts[i].ndim; d++)
                json_array_append_new(shape, json_integer(ts[i].shape[d]));
            json_t *e = json_pack("{s:s, s:o, s:[II]}", "dtype", st_dtype_name(ts[i].dtype), "shape", shape,
                                  "data_offsets", (json_int_t)at, (json_int_t)(at + numel[i] * es));
            if (json_object_set_new(root, ts[i].name, e))
                bad = pt_fail(err, PT_EINVAL, "tensor name '%s' is not valid UTF-8", ts[i].name);
            at += numel[i] * es;
        }
    char *text = bad ? NULL : json_dumps(root, JSON_COMPACT);
    json_decref(root);
    if (!text && !bad)
        pt_fail(err, PT_ENOMEM, "out of memory building the safetensors header");
    return text;
}

/* Converts in bounded chunks so that writing never holds a second copy of a tensor. */
static int write_tensor(FILE *fp, const st_wtensor *t, uint64_t numel)
{
    if (t->dtype == ST_F32)
        return numel && fwrite(t->data, 4, (size_t)numel, fp) != numel ? -1 : 0;
    uint8_t buf[2 * 4096];
    for (uint64_t i = 0; i < numel;) {
        size_t k = 0;
        for (; k < sizeof buf / 2 && i < numel; k++, i++) {
            uint16_t h = t->dtype == ST_F16 ? st_f32_to_f16(t->data[i]) : st_f32_to_bf16(t->data[i]);
            buf[2 * k] = (uint8_t)h;
            buf[2 * k + 1] = (uint8_t)(h >> 8);
        }
        if (fwrite(buf, 2, k, fp) != k)
            return -1;
    }
    return 0;
}

static int write_body(FILE *fp, const char *header, const st_wtensor *ts, int n, const uint64_t *numel)
{
    size_t hl = strlen(header), padded = (hl + 7) / 8 * 8;
    uint8_t len8[8];
    for (int i = 0; i < 8; i++)
        len8[i] = (uint8_t)((uint64_t)padded >> (8 * i));
    if (fwrite(len8, 1, 8, fp) != 8 || fwrite(header, 1, hl, fp) != hl)
        return -1;
    for (size_t i = hl; i < padded; i++)
        if (fputc(' ', fp) == EOF)
            return -1;
    for (int pass = 0; pass < 2; pass++)
        for (int i = 0; i < n; i++)
            if ((st_dtype_size(ts[i].dtype) == 4) == (pass == 0) && write_tensor(fp, &ts[i], numel[i]))
                return -1;
    return 0;
}

/* Makes the rename durable: without this a crash can leave the directory pointing at nothing. */
static void sync_dir(const char *path)
{
    char *copy = strdup(path);
    if (!copy)
        return;
    int fd = open(dirname(copy), O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    if (fd >= 0) {
        fsync(fd);
        close(fd);
    }
    free(copy);
}

int st_write(const char *path, const st_wtensor *ts, int n, const char *const *metadata, pt_err *err)
{
    if (n < 0 || (n && !ts))
        return pt_fail(err, PT_EINVAL, "st_write: %d tensors", n);
    uint64_t *numel = calloc((size_t)n + 1, sizeof *numel);
    if (!numel)
        return pt_fail(err, PT_ENOMEM, "out of memory");
    char *header = NULL, *tmp = NULL;
    FILE *fp = NULL;
    int rc = check_wtensors(ts, n, numel, err);
    if (rc || !(header = build_header(ts, n, numel, metadata, err))) {
        rc = rc ? rc : (err ? err->code : PT_EINVAL);
        goto out;
    }
    size_t pl = strlen(path);
    if (!(tmp = malloc(pl + 16))) {
        rc = pt_fail(err, PT_ENOMEM, "out of memory");
        goto out;
    }
    snprintf(tmp, pl + 16, "%s.tmp.XXXXXX", path);
    int fd = mkstemp(tmp);
    if (fd < 0) {
        rc = pt_fail(err, PT_EIO, "%s: cannot create temporary file: %s", path, strerror(errno));
        free(tmp);
        tmp = NULL;
        goto out;
    }
    fchmod(fd, 0644);
    if (!(fp = fdopen(fd, "wb"))) {
        close(fd);
        rc = pt_fail(err, PT_EIO, "%s: %s", tmp, strerror(errno));
        goto out;
    }
    if (write_body(fp, header, ts, n, numel) || fflush(fp) || fsync(fileno(fp))) {
        rc = pt_fail(err, PT_EIO, "%s: write failed: %s", tmp, strerror(errno));
        goto out;
    }
    int closed = fclose(fp);
    fp = NULL;
    if (closed || rename(tmp, path)) {
        rc = pt_fail(err, PT_EIO, "%s: cannot finish writing: %s", path, strerror(errno));
        goto out;
    }
    sync_dir(path);
out:
    if (fp)
        fclose(fp);
    if (rc && tmp)
        unlink(tmp);
    free(tmp);
    free(header);
    free(numel);
    return rc;
}

int st_serialize(void **buf, size_t *len, const st_wtensor *ts, int n, const char *const *metadata, pt_err *err)
{
    *buf = NULL;
    *len = 0;
    if (n < 0 || (n && !ts))
        return pt_fail(err, PT_EINVAL, "st_serialize: %d tensors", n);
    uint64_t *numel = calloc((size_t)n + 1, sizeof *numel);
    if (!numel)
        return pt_fail(err, PT_ENOMEM, "out of memory");
    char *header = NULL, *mem = NULL;
    size_t size = 0;
    int rc = check_wtensors(ts, n, numel, err);
    if (!rc && !(header = build_header(ts, n, numel, metadata, err)))
        rc = err ? err->code : PT_EINVAL;
    FILE *fp = rc ? NULL : open_memstream(&mem, &size);
    if (!rc && !fp)
        rc = pt_fail(err, PT_ENOMEM, "out of memory serializing safetensors");
    if (fp) {
        int bad = write_body(fp, header, ts, n, numel);
        if (fclose(fp) || bad)
            rc = pt_fail(err, PT_ENOMEM, "out of memory serializing safetensors");
    }
    free(header);
    free(numel);
    if (rc) {
        free(mem);
        return rc;
    }
    *buf = mem;
    *len = size;
    return 0;
}
