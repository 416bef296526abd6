/* Fuzzes st_parse: the 8-byte header length, the JSON header and every dtype, shape and offset.
 * On success every tensor must lie inside the input, have nbytes = numel x dtype size, be covered
 * exactly once (the tensors tile the data buffer), and be readable as f32 when it is F32/F16/BF16. */
#include "fuzz.h"
#include "safetensors.h"

#include <jansson.h>

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    st_file f;
    pt_err err;
    pt_err_clear(&err);
    int rc = st_parse(&f, data, size, &err);
    if (rc) {
        fuzz_check_err(rc, &err);
        FUZZ_CHECK(f.n_tensors == 0 && f.tensors == NULL);
        st_close(&f);
        return 0;
    }
    uint64_t hlen = 0;
    for (int i = 7; i >= 0; i--)
        hlen = hlen << 8 | data[i];
    const uint8_t *base = data + 8 + hlen, *end = data + size;
    size_t covered = 0;
    for (int i = 0; i < f.n_tensors; i++) {
        const st_tensor *t = &f.tensors[i];
        FUZZ_CHECK(t->name && *t->name);
        FUZZ_CHECK(st_find(&f, t->name) == t);
        FUZZ_CHECK(st_dtype_size(t->dtype) > 0);
        FUZZ_CHECK(t->ndim >= 0 && t->ndim <= ST_MAX_DIMS);
        size_t numel = 1;
        for (int d = 0; d < t->ndim; d++) {
            FUZZ_CHECK(t->shape[d] >= 0);
            numel *= (size_t)t->shape[d];
        }
        FUZZ_CHECK(t->nbytes == numel * st_dtype_size(t->dtype));
        const uint8_t *p = t->data;
        FUZZ_CHECK(t->nbytes == 0 || (p >= base && p + t->nbytes <= end));
        covered += t->nbytes;
        if (t->dtype == ST_F32 || t->dtype == ST_F16 || t->dtype == ST_BF16) {
            float *out = malloc(numel ? numel * sizeof *out : 1);
            FUZZ_CHECK(out != NULL);
            FUZZ_CHECK(st_to_f32(t, out, &err) == 0);
            free(out);
        }
    }
    FUZZ_CHECK(covered == (size_t)(end - base));
    if (f.metadata_json) {
        json_t *m = json_loads(f.metadata_json, 0, NULL);
        FUZZ_CHECK(json_is_object(m));
        json_decref(m);
    }
    st_close(&f);
    return 0;
}
