/* Unit tests for core/safetensors: round trips for every dtype the writer knows, f16/bf16 rounding
 * against independent references (the compiler's _Float16, and rint() on the scaled significand for
 * bf16), and one test per malformed-file case, each asserting that the message names the problem. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>
#include <dirent.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "safetensors.h"

static char tmpdir[4096];

static void tmp_path(char *out, size_t n, const char *name)
{
    snprintf(out, n, "%s/%s", tmpdir, name);
}

/* A safetensors image from header text and data_len bytes of data (0x11 filler). */
static uint8_t *image(const char *header, size_t data_len, size_t *len)
{
    size_t hl = strlen(header);
    *len = 8 + hl + data_len;
    uint8_t *b = malloc(*len);
    assert_non_null(b);
    for (int i = 0; i < 8; i++)
        b[i] = (uint8_t)((uint64_t)hl >> (8 * i));
    memcpy(b + 8, header, hl);
    memset(b + 8 + hl, 0x11, data_len);
    return b;
}

/* Parses header+data and expects failure with code and a message containing every needle. */
static void expect_bad(const char *header, size_t data_len, int code, const char *needle1, const char *needle2)
{
    size_t len;
    uint8_t *b = image(header, data_len, &len);
    st_file f;
    pt_err e;
    pt_err_clear(&e);
    int rc = st_parse(&f, b, len, &e);
    if (rc != code || !strstr(e.msg, needle1) || (needle2 && !strstr(e.msg, needle2)))
        fail_msg("header %s: rc %d, message '%s'; wanted %d with '%s' '%s'", header, rc, e.msg, code, needle1,
                 needle2 ? needle2 : "");
    assert_int_equal(f.n_tensors, 0);
    assert_null(f.tensors);
    st_close(&f);
    free(b);
}

static float frand(uint64_t *s)
{
    *s = *s * 6364136223846793005ull + 1442695040888963407ull;
    return (float)((double)(*s >> 11) / 9007199254740992.0 * 8.0 - 4.0);
}

static void test_round_trip_every_dtype(void **state)
{
    (void)state;
    enum { A = 3 * 5, B = 7, C = 4 * 3 };
    float a[A], b[B], c[C];
    uint64_t s = 42;
    for (int i = 0; i < A; i++)
        a[i] = frand(&s);
    for (int i = 0; i < B; i++)
        b[i] = frand(&s) * 1e-3f;
    for (int i = 0; i < C; i++)
        c[i] = frand(&s) * 100.0f;
    /* F16 first with an odd element count: the writer must still align the F32 tensors */
    st_wtensor ts[] = {
        {"half", ST_F16, 1, {B}, b},
        {"full", ST_F32, 2, {3, 5}, a},
        {"brain", ST_BF16, 2, {4, 3}, c},
        {"empty", ST_F32, 2, {0, 4}, NULL},
        {"scalar", ST_F32, 0, {0}, a},
    };
    const char *meta[] = {"format", "pt", "note", "ptune \"test\"", NULL};
    char path[4200];
    tmp_path(path, sizeof path, "rt.safetensors");
    pt_err e;
    pt_err_clear(&e);
    assert_int_equal(st_write(path, ts, 5, meta, &e), 0);

    struct stat sb;
    assert_int_equal(stat(path, &sb), 0);
    assert_int_equal(sb.st_mode & 0777, 0644);

    st_file f;
    assert_int_equal(st_open(&f, path, &e), 0);
    assert_int_equal(f.n_tensors, 5);
    assert_non_null(f.metadata_json);
    assert_string_equal(f.metadata_json, "{\"format\":\"pt\",\"note\":\"ptune \\\"test\\\"\"}");
    const uint8_t *base = f.map;
    uint64_t hlen = 0;
    for (int i = 7; i >= 0; i--)
        hlen = hlen << 8 | base[i];
    assert_int_equal(hlen % 8, 0);

    const st_tensor *t = st_find(&f, "full");
    assert_non_null(t);
    assert_int_equal(t->dtype, ST_F32);
    assert_int_equal(t->ndim, 2);
    assert_int_equal(t->shape[0], 3);
    assert_int_equal(t->shape[1], 5);
    assert_int_equal(t->nbytes, A * 4);
    assert_int_equal((uintptr_t)t->data % 4, 0);
    assert_memory_equal(t->data, a, sizeof a);

    float out[C];
    t = st_find(&f, "half");
    assert_non_null(t);
    assert_int_equal(t->dtype, ST_F16);
    assert_int_equal(t->nbytes, B * 2);
    assert_int_equal(st_to_f32(t, out, &e), 0);
    for (int i = 0; i < B; i++)
        assert_true(out[i] == (float)(_Float16)b[i]);

    t = st_find(&f, "brain");
    assert_non_null(t);
    assert_int_equal(t->dtype, ST_BF16);
    assert_int_equal(st_to_f32(t, out, &e), 0);
    for (int i = 0; i < C; i++) {
        assert_true(fabsf(out[i] - c[i]) <= fabsf(c[i]) * (1.0f / 256));
        assert_true(out[i] == st_bf16_to_f32(st_f32_to_bf16(c[i])));
    }

    t = st_find(&f, "empty");
    assert_non_null(t);
    assert_int_equal(t->nbytes, 0);
    assert_int_equal(t->shape[0], 0);
    t = st_find(&f, "scalar");
    assert_non_null(t);
    assert_int_equal(t->ndim, 0);
    assert_int_equal(t->nbytes, 4);
    assert_memory_equal(t->data, a, 4);
    assert_null(st_find(&f, "missing"));
    st_close(&f);
    assert_null(f.map);

    /* no temporary file is left next to the result */
    DIR *d = opendir(tmpdir);
    assert_non_null(d);
    for (struct dirent *de; (de = readdir(d));)
        assert_null(strstr(de->d_name, "rt.safetensors.tmp"));
    closedir(d);
    unlink(path);
}

static void test_write_replaces_atomically_and_refuses_bad_input(void **state)
{
    (void)state;
    float v[2] = {1, 2};
    char path[4200];
    tmp_path(path, sizeof path, "atomic.safetensors");
    pt_err e;
    pt_err_clear(&e);
    st_wtensor one = {"x", ST_F32, 1, {2}, v};
    assert_int_equal(st_write(path, &one, 1, NULL, &e), 0);
    v[0] = 5;
    assert_int_equal(st_write(path, &one, 1, NULL, &e), 0);
    st_file f;
    assert_int_equal(st_open(&f, path, &e), 0);
    assert_null(f.metadata_json);
    assert_true(((const float *)st_find(&f, "x")->data)[0] == 5);
    st_close(&f);

    st_wtensor dup[] = {{"x", ST_F32, 1, {2}, v}, {"x", ST_F16, 1, {2}, v}};
    assert_int_equal(st_write(path, dup, 2, NULL, &e), PT_EINVAL);
    assert_non_null(strstr(e.msg, "duplicate tensor name 'x'"));
    st_wtensor i64 = {"y", ST_I64, 1, {2}, v};
    assert_int_equal(st_write(path, &i64, 1, NULL, &e), PT_EINVAL);
    assert_non_null(strstr(e.msg, "'y'"));
    assert_non_null(strstr(e.msg, "I64"));
    st_wtensor neg = {"z", ST_F32, 2, {2, -1}, v};
    assert_int_equal(st_write(path, &neg, 1, NULL, &e), PT_EINVAL);
    assert_non_null(strstr(e.msg, "'z'"));
    st_wtensor meta = {"__metadata__", ST_F32, 1, {2}, v};
    assert_int_equal(st_write(path, &meta, 1, NULL, &e), PT_EINVAL);
    char nodir[4200];
    tmp_path(nodir, sizeof nodir, "no/such/dir/m.safetensors");
    assert_int_equal(st_write(nodir, &one, 1, NULL, &e), PT_EIO);
    assert_non_null(strstr(e.msg, "no/such/dir"));

    /* the refused writes left the earlier file intact */
    assert_int_equal(st_open(&f, path, &e), 0);
    assert_true(((const float *)st_find(&f, "x")->data)[0] == 5);
    st_close(&f);
    unlink(path);
}

static void test_f16_matches_compiler_conversion(void **state)
{
    (void)state;
    /* every f16 value: exact widening, and narrowing back is the identity (NaNs stay NaN) */
    for (uint32_t h = 0; h < 65536; h++) {
        _Float16 ref;
        uint16_t hb = (uint16_t)h;
        memcpy(&ref, &hb, 2);
        float f = st_f16_to_f32(hb);
        if (isnan((float)ref)) {
            assert_true(isnan(f));
            assert_true(isnan(st_f16_to_f32(st_f32_to_f16(f))));
            continue;
        }
        assert_true(f == (float)ref && signbit(f) == signbit((float)ref));
        assert_int_equal(st_f32_to_f16(f), hb);
    }
    /* narrowing: a sweep over f32 bit patterns plus every midpoint between neighbouring f16 values */
    for (uint64_t x = 0; x <= 0xffffffffull; x += 4093) {
        uint32_t u = (uint32_t)x;
        float f;
        memcpy(&f, &u, 4);
        if (isnan(f))
            continue;
        _Float16 ref = (_Float16)f;
        uint16_t rb;
        memcpy(&rb, &ref, 2);
        if (st_f32_to_f16(f) != rb)
            fail_msg("f32 0x%08x -> f16 0x%04x, compiler says 0x%04x", u, st_f32_to_f16(f), rb);
    }
    for (uint32_t h = 0; h < 0x7bff; h++) {
        float lo = st_f16_to_f32((uint16_t)h), hi = st_f16_to_f32((uint16_t)(h + 1));
        float mid = (float)(((double)lo + hi) / 2);
        uint16_t even = (h & 1) ? (uint16_t)(h + 1) : (uint16_t)h;
        assert_int_equal(st_f32_to_f16(mid), even);
        assert_int_equal(st_f32_to_f16(nextafterf(mid, INFINITY)), h + 1);
        assert_int_equal(st_f32_to_f16(nextafterf(mid, -INFINITY)), h);
    }
    assert_int_equal(st_f32_to_f16(65504.0f), 0x7bff);
    assert_int_equal(st_f32_to_f16(65519.99f), 0x7bff);
    assert_int_equal(st_f32_to_f16(65520.0f), 0x7c00);
    assert_int_equal(st_f32_to_f16(-1e30f), 0xfc00);
    assert_int_equal(st_f32_to_f16(5.9604645e-8f), 0x0001); /* 2^-24, the smallest subnormal */
    assert_int_equal(st_f32_to_f16(2.9802322e-8f), 0x0000); /* 2^-25: a tie, rounds to even zero */
    assert_int_equal(st_f32_to_f16(-0.0f), 0x8000);
}

/* Independent bf16 rounding: 8 significant bits via rint() (round-half-even) on the significand. */
static float bf16_reference(float f)
{
    if (isinf(f) || f == 0)
        return f;
    if (fabsf(f) < 0x1p-126f)
        return (float)(rint((double)f * 0x1p133) * 0x1p-133);
    int e;
    double m = frexp(f, &e);
    double r = ldexp(rint(m * 256) / 256, e);
    return r >= 0x1p128 ? INFINITY : r <= -0x1p128 ? -INFINITY : (float)r;
}

static void test_bf16_matches_reference_rounding(void **state)
{
    (void)state;
    for (uint64_t x = 0; x <= 0xffffffffull; x += 4093) {
        uint32_t u = (uint32_t)x;
        float f;
        memcpy(&f, &u, 4);
        if (isnan(f)) {
            assert_true(isnan(st_bf16_to_f32(st_f32_to_bf16(f))));
            continue;
        }
        float got = st_bf16_to_f32(st_f32_to_bf16(f)), want = bf16_reference(f);
        if (got != want)
            fail_msg("f32 0x%08x: bf16 gives %a, reference %a", u, (double)got, (double)want);
    }
    /* ties go to even: 1 + 2^-8 lies halfway between 1 and 1 + 2^-7 */
    assert_int_equal(st_f32_to_bf16(1.0f + 0x1p-8f), 0x3f80);
    assert_int_equal(st_f32_to_bf16(1.0f + 0x1p-7f + 0x1p-8f), 0x3f82);
    for (uint32_t h = 0; h < 65536; h++)
        if (!isnan(st_bf16_to_f32((uint16_t)h)))
            assert_int_equal(st_f32_to_bf16(st_bf16_to_f32((uint16_t)h)), h);
}

static void test_short_file(void **state)
{
    (void)state;
    st_file f;
    pt_err e;
    pt_err_clear(&e);
    assert_int_equal(st_parse(&f, "\x10\0\0", 3, &e), PT_EFORMAT);
    assert_non_null(strstr(e.msg, "truncated"));
    assert_non_null(strstr(e.msg, "3 bytes"));
    st_close(&f);

    char path[4200];
    tmp_path(path, sizeof path, "empty.safetensors");
    FILE *fp = fopen(path, "wb");
    assert_non_null(fp);
    fclose(fp);
    assert_int_equal(st_open(&f, path, &e), PT_EFORMAT);
    assert_non_null(strstr(e.msg, "empty.safetensors: file truncated: 0 bytes"));
    unlink(path);
    assert_int_equal(st_open(&f, path, &e), PT_ENOTFOUND);
    assert_non_null(strstr(e.msg, "empty.safetensors"));
}

static void test_header_length_past_end(void **state)
{
    (void)state;
    size_t len;
    uint8_t *b = image("{}", 0, &len);
    b[0] = 200;
    st_file f;
    pt_err e;
    pt_err_clear(&e);
    assert_int_equal(st_parse(&f, b, len, &e), PT_EFORMAT);
    assert_non_null(strstr(e.msg, "header length 200 goes past the end of the file (10 bytes)"));
    b[7] = 0xff; /* 2^63-ish: must not overflow into "fits" */
    assert_int_equal(st_parse(&f, b, len, &e), PT_EFORMAT);
    assert_non_null(strstr(e.msg, "goes past the end"));
    free(b);
}

static void test_truncated_file(void **state)
{
    (void)state;
    float v[64] = {0};
    char path[4200];
    tmp_path(path, sizeof path, "trunc.safetensors");
    st_wtensor ts[] = {{"a", ST_F32, 1, {32}, v}, {"b", ST_F32, 1, {32}, v}};
    pt_err e;
    pt_err_clear(&e);
    assert_int_equal(st_write(path, ts, 2, NULL, &e), 0);
    struct stat sb;
    assert_int_equal(stat(path, &sb), 0);
    assert_int_equal(truncate(path, sb.st_size - 10), 0);
    st_file f;
    assert_int_equal(st_open(&f, path, &e), PT_EFORMAT);
    assert_non_null(strstr(e.msg, "trunc.safetensors: tensor 'b': data_offsets [128, 256] out of range"));
    assert_non_null(strstr(e.msg, "truncated"));
    unlink(path);
}

/* Cutting a valid file anywhere, or damaging any header byte, fails cleanly (ASan checks the reads). */
static void test_every_prefix_and_header_byte_damage(void **state)
{
    (void)state;
    size_t len;
    uint8_t *full = image("{\"__metadata__\":{\"k\":\"v\"},\"w\":{\"dtype\":\"F16\",\"shape\":[2,2],"
                          "\"data_offsets\":[0,8]},\"b\":{\"dtype\":\"BF16\",\"shape\":[3],\"data_offsets\":[8,14]}}",
                          14, &len);
    st_file f;
    pt_err e;
    pt_err_clear(&e);
    assert_int_equal(st_parse(&f, full, len, &e), 0);
    assert_int_equal(f.n_tensors, 2);
    assert_string_equal(f.metadata_json, "{\"k\":\"v\"}");
    st_close(&f);
    for (size_t cut = 0; cut < len; cut++) {
        uint8_t *b = malloc(cut ? cut : 1);
        memcpy(b, full, cut);
        assert_int_not_equal(st_parse(&f, b, cut, &e), 0);
        assert_true(strlen(e.msg) > 0);
        free(b);
    }
    static const uint8_t junk[] = {0, '"', '}', ']', '9', '-', 0xff, ' '};
    for (size_t at = 8; at < len - 14; at++)
        for (size_t j = 0; j < sizeof junk; j++) {
            uint8_t *b = malloc(len);
            memcpy(b, full, len);
            b[at] = junk[j];
            if (st_parse(&f, b, len, &e) == 0) {
                for (int i = 0; i < f.n_tensors; i++) {
                    const uint8_t *d = f.tensors[i].data;
                    assert_true(d >= b && d + f.tensors[i].nbytes <= b + len);
                }
            }
            st_close(&f);
            free(b);
        }
    free(full);
}

static void test_header_not_json(void **state)
{
    (void)state;
    expect_bad("{\"a\": {\"dtype\": \"F32\",", 0, PT_EFORMAT, "header is not valid JSON", "header byte");
    expect_bad("not json at all", 0, PT_EFORMAT, "header is not valid JSON", NULL);
}

static void test_header_not_object(void **state)
{
    (void)state;
    expect_bad("[1, 2, 3]", 0, PT_EFORMAT, "header is not a JSON object", NULL);
    expect_bad("\"x\"", 0, PT_EFORMAT, "header is not a JSON object", NULL);
    expect_bad("{\"a\": 7}", 0, PT_EFORMAT, "tensor 'a': entry must be an object", NULL);
}

static void test_unknown_dtype(void **state)
{
    (void)state;
    expect_bad("{\"w\":{\"dtype\":\"F33\",\"shape\":[1],\"data_offsets\":[0,4]}}", 4, PT_EFORMAT,
               "tensor 'w': unknown dtype 'F33'", NULL);
    expect_bad("{\"w\":{\"dtype\":4,\"shape\":[1],\"data_offsets\":[0,4]}}", 4, PT_EFORMAT,
               "tensor 'w': dtype missing or not a string", NULL);
    expect_bad("{\"w\":{\"shape\":[1],\"data_offsets\":[0,4]}}", 4, PT_EFORMAT, "tensor 'w': dtype missing", NULL);
}

static void test_shape_not_list_of_non_negative_ints(void **state)
{
    (void)state;
    const char *shapes[] = {"3", "[2,-1]", "[2.5]", "[\"2\"]", "[1,1,1,1,1,1,1,1,1]", "null"};
    for (size_t i = 0; i < sizeof shapes / sizeof shapes[0]; i++) {
        char h[256];
        snprintf(h, sizeof h, "{\"w\":{\"dtype\":\"U8\",\"shape\":%s,\"data_offsets\":[0,1]}}", shapes[i]);
        expect_bad(h, 1, PT_EFORMAT, "tensor 'w': shape must be a list of", "non-negative integers");
    }
    /* a product that overflows 64 bits must not wrap around into "matches" */
    expect_bad("{\"w\":{\"dtype\":\"F32\",\"shape\":[4294967296,4294967296,4],\"data_offsets\":[0,0]}}", 0,
               PT_EFORMAT, "tensor 'w': data_offsets [0, 0] hold 0 bytes", "needs more than");
}

static void test_data_offsets_out_of_range(void **state)
{
    (void)state;
    expect_bad("{\"w\":{\"dtype\":\"F32\",\"shape\":[2],\"data_offsets\":[0,8]}}", 4, PT_EFORMAT,
               "tensor 'w': data_offsets [0, 8] out of range: the data buffer has 4 bytes", NULL);
    expect_bad("{\"w\":{\"dtype\":\"F32\",\"shape\":[0],\"data_offsets\":[8,4]}}", 8, PT_EFORMAT,
               "tensor 'w': data_offsets [8, 4] begin after end", NULL);
    expect_bad("{\"w\":{\"dtype\":\"F32\",\"shape\":[1],\"data_offsets\":[-4,0]}}", 4, PT_EFORMAT,
               "tensor 'w': data_offsets must be [begin, end]", NULL);
    expect_bad("{\"w\":{\"dtype\":\"F32\",\"shape\":[1],\"data_offsets\":[0]}}", 4, PT_EFORMAT,
               "tensor 'w': data_offsets must be [begin, end]", NULL);
    expect_bad("{\"w\":{\"dtype\":\"F32\",\"shape\":[1],\"data_offsets\":[0,18446744073709551615]}}", 4,
               PT_EFORMAT, "header is not valid JSON", "too big");
}

static void test_data_offsets_overlapping(void **state)
{
    (void)state;
    expect_bad("{\"a\":{\"dtype\":\"F32\",\"shape\":[2],\"data_offsets\":[0,8]},"
               "\"b\":{\"dtype\":\"F32\",\"shape\":[2],\"data_offsets\":[4,12]}}",
               12, PT_EFORMAT, "tensors 'a' [0, 8] and 'b' [4, 12] overlap", NULL);
    expect_bad("{\"a\":{\"dtype\":\"F32\",\"shape\":[2],\"data_offsets\":[0,8]},"
               "\"b\":{\"dtype\":\"F32\",\"shape\":[2],\"data_offsets\":[0,8]}}",
               8, PT_EFORMAT, "overlap", "'b'");
}

static void test_data_buffer_holes(void **state)
{
    (void)state;
    expect_bad("{\"a\":{\"dtype\":\"F32\",\"shape\":[1],\"data_offsets\":[0,4]},"
               "\"b\":{\"dtype\":\"F32\",\"shape\":[1],\"data_offsets\":[8,12]}}",
               12, PT_EFORMAT, "data bytes [4, 8) belong to no tensor (before 'b')", NULL);
    expect_bad("{\"a\":{\"dtype\":\"F32\",\"shape\":[1],\"data_offsets\":[0,4]}}", 9, PT_EFORMAT,
               "data bytes [4, 9) at the end belong to no tensor", NULL);
}

static void test_data_offsets_not_matching_shape(void **state)
{
    (void)state;
    expect_bad("{\"w\":{\"dtype\":\"F16\",\"shape\":[2,3],\"data_offsets\":[0,8]}}", 8, PT_EFORMAT,
               "tensor 'w': data_offsets [0, 8] hold 8 bytes but its shape x F16 needs 12", NULL);
}

static void test_duplicate_names(void **state)
{
    (void)state;
    expect_bad("{\"w\":{\"dtype\":\"U8\",\"shape\":[1],\"data_offsets\":[0,1]},"
               "\"w\":{\"dtype\":\"U8\",\"shape\":[1],\"data_offsets\":[1,2]}}",
               2, PT_EFORMAT, "duplicate tensor name \"w\"", NULL);
}

static void test_metadata(void **state)
{
    (void)state;
    expect_bad("{\"__metadata__\":{\"a\":1}}", 0, PT_EFORMAT, "__metadata__ value of 'a' must be a string", NULL);
    expect_bad("{\"__metadata__\":[\"a\"]}", 0, PT_EFORMAT, "__metadata__ must be an object", NULL);
    size_t len;
    uint8_t *b = image("{\"__metadata__\":{\"format\":\"pt\",\"x\":\"\\u00e9\"}}   ", 0, &len);
    st_file f;
    pt_err e;
    pt_err_clear(&e);
    assert_int_equal(st_parse(&f, b, len, &e), 0);
    assert_int_equal(f.n_tensors, 0);
    assert_string_equal(f.metadata_json, "{\"format\":\"pt\",\"x\":\"\xc3\xa9\"}");
    st_close(&f);
    free(b);
}

static void test_to_f32_refuses_integer_dtypes(void **state)
{
    (void)state;
    size_t len;
    uint8_t *b = image("{\"ids\":{\"dtype\":\"I64\",\"shape\":[1],\"data_offsets\":[0,8]}}", 8, &len);
    st_file f;
    pt_err e;
    pt_err_clear(&e);
    assert_int_equal(st_parse(&f, b, len, &e), 0);
    float out[2];
    assert_int_equal(st_to_f32(&f.tensors[0], out, &e), PT_EFORMAT);
    assert_non_null(strstr(e.msg, "tensor 'ids': dtype I64 cannot be read as f32"));
    assert_string_equal(st_dtype_name(ST_F8_E5M2), "F8_E5M2");
    assert_int_equal(st_dtype_size(ST_I64), 8);
    st_close(&f);
    free(b);
}

int main(void)
{
    const char *t = getenv("PTUNE_TMP");
    if (!t || !*t) {
        fprintf(stderr, "test-safetensors: skipped, PTUNE_TMP (a scratch directory) is not set; run via make test\n");
        return 77;
    }
    snprintf(tmpdir, sizeof tmpdir, "%s", t);
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_round_trip_every_dtype),
        cmocka_unit_test(test_write_replaces_atomically_and_refuses_bad_input),
        cmocka_unit_test(test_f16_matches_compiler_conversion),
        cmocka_unit_test(test_bf16_matches_reference_rounding),
        cmocka_unit_test(test_short_file),
        cmocka_unit_test(test_header_length_past_end),
        cmocka_unit_test(test_truncated_file),
        cmocka_unit_test(test_every_prefix_and_header_byte_damage),
        cmocka_unit_test(test_header_not_json),
        cmocka_unit_test(test_header_not_object),
        cmocka_unit_test(test_unknown_dtype),
        cmocka_unit_test(test_shape_not_list_of_non_negative_ints),
        cmocka_unit_test(test_data_offsets_out_of_range),
        cmocka_unit_test(test_data_offsets_overlapping),
        cmocka_unit_test(test_data_buffer_holes),
        cmocka_unit_test(test_data_offsets_not_matching_shape),
        cmocka_unit_test(test_duplicate_names),
        cmocka_unit_test(test_metadata),
        cmocka_unit_test(test_to_f32_refuses_integer_dtypes),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
