/* safetensors — bounds-checked reader (mmap) and writer of the safetensors format.
 *
 * File layout: u64 little-endian header length N, N bytes of JSON header
 * {"name": {"dtype": "F32", "shape": [..], "data_offsets": [begin, end]}, "__metadata__": {str: str}},
 * then the data buffer. Every offset, shape and dtype is validated at open: a malformed file is a
 * one-line error, never an out-of-bounds read. Tensors point into the mapping (no copy).
 */
#ifndef PT_SAFETENSORS_H
#define PT_SAFETENSORS_H

#include <stddef.h>
#include <stdint.h>

#include "err.h"

typedef enum st_dtype {
    ST_BOOL, ST_U8, ST_I8, ST_I16, ST_U16, ST_F16, ST_BF16, ST_I32, ST_U32, ST_F32, ST_F64, ST_I64, ST_U64,
    ST_F8_E4M3, ST_F8_E5M2,
} st_dtype;

#define ST_MAX_DIMS 8

typedef struct st_tensor {
    char *name;
    st_dtype dtype;
    int ndim;
    int64_t shape[ST_MAX_DIMS];
    size_t nbytes;
    const void *data; /* inside the file mapping or caller buffer */
} st_tensor;

typedef struct st_file {
    st_tensor *tensors;
    int n_tensors;
    char *metadata_json; /* the "__metadata__" object as JSON text, or NULL */
    void *map;           /* mmap base when opened from a path */
    size_t map_size;
} st_file;

/* Maps path read-only and parses it. On failure *f is left empty (safe to st_close). */
int st_open(st_file *f, const char *path, pt_err *err);

/* Parses an in-memory buffer; tensors point into buf, which must outlive f. */
int st_parse(st_file *f, const void *buf, size_t len, pt_err *err);

void st_close(st_file *f);

const st_tensor *st_find(const st_file *f, const char *name);

const char *st_dtype_name(st_dtype d);
size_t st_dtype_size(st_dtype d);

/* Converts n elements of an F32/F16/BF16 tensor to f32. */
int st_to_f32(const st_tensor *t, float *out, pt_err *err);

/* One tensor to write: data is f32 (converted to dtype on write: F32, F16 or BF16). */
typedef struct st_wtensor {
    const char *name;
    st_dtype dtype;
    int ndim;
    int64_t shape[ST_MAX_DIMS];
    const float *data;
} st_wtensor;

/* Writes a file atomically (temp file + rename). metadata: NULL or pairs {key, value, key, value, ..., NULL}. */
int st_write(const char *path, const st_wtensor *ts, int n, const char *const *metadata, pt_err *err);

/* The bytes st_write would write, into a malloc'ed buffer (*buf, *len; the caller frees *buf). */
int st_serialize(void **buf, size_t *len, const st_wtensor *ts, int n, const char *const *metadata, pt_err *err);

/* f16/bf16 <-> f32 helpers (round to nearest even). */
float st_f16_to_f32(uint16_t h);
uint16_t st_f32_to_f16(float f);
float st_bf16_to_f32(uint16_t h);
uint16_t st_f32_to_bf16(float f);

#endif
