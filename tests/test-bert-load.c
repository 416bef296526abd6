/* Unit tests for core/bert_load: loads a directory written by `ptune init-model`, then variants of it
 * rewritten with st_write (gamma/beta names, no "bert." prefix, untied decoder, F16/BF16, extra and
 * missing tensors, wrong shapes, misaligned F32) and broken config.json / vocab.txt files. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>
#include <jansson.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "bert.h"
#include "sha256.h"

/* The generated model: 2 layers, hidden 16, 4 heads, intermediate 32, 32 positions, the vocabulary below. */
enum { L = 2, H = 16, I = 32, P = 32, T = 2 };
static const char *const words[] = {"[PAD]", "[UNK]", "[CLS]", "[SEP]", "[MASK]", "the", "cat", "sat", "on",
                                    "mat",   "##s",   "a",     "dog",   ".",      "!",   "中",  "文"};
#define V ((int)(sizeof words / sizeof words[0]))

static char tmp[2048], base[2300];
static const char *bin;

static void path_in(char *out, size_t cap, const char *dir, const char *file)
{
    snprintf(out, cap, "%s/%s", dir, file);
}

static void write_bytes(const char *path, const char *data, size_t len)
{
    FILE *f = fopen(path, "wb");
    assert_non_null(f);
    assert_int_equal(fwrite(data, 1, len, f), len);
    assert_int_equal(fclose(f), 0);
}

static void write_text(const char *path, const char *text)
{
    write_bytes(path, text, strlen(text));
}

static char *read_text(const char *path, size_t *len)
{
    FILE *f = fopen(path, "rb");
    assert_non_null(f);
    fseek(f, 0, SEEK_END);
    long n = ftell(f);
    fseek(f, 0, SEEK_SET);
    char *b = malloc((size_t)n + 1);
    assert_non_null(b);
    assert_int_equal(fread(b, 1, (size_t)n, f), (size_t)n);
    b[n] = '\0';
    fclose(f);
    if (len)
        *len = (size_t)n;
    return b;
}

static void copy_file(const char *from_dir, const char *to_dir, const char *file)
{
    char a[2600], b[2600];
    path_in(a, sizeof a, from_dir, file);
    path_in(b, sizeof b, to_dir, file);
    size_t len;
    char *text = read_text(a, &len);
    write_bytes(b, text, len);
    free(text);
}

/* A fresh directory holding the base model's config.json, vocab.txt and tokenizer_config.json. */
static void variant_dir(char *dir, size_t cap, const char *name)
{
    snprintf(dir, cap, "%s/%s", tmp, name);
    mkdir(dir, 0755);
    char stale[2600];
    path_in(stale, sizeof stale, dir, "model.safetensors");
    remove(stale);
    copy_file(base, dir, "config.json");
    copy_file(base, dir, "vocab.txt");
    copy_file(base, dir, "tokenizer_config.json");
}

static int init_model(const char *out, const char *extra)
{
    char words_path[2400], cmd[8192];
    path_in(words_path, sizeof words_path, tmp, "words.txt");
    snprintf(cmd, sizeof cmd,
             "'%s' init-model --out '%s' --layers %d --hidden %d --heads 4 --intermediate %d --max-pos %d "
             "--vocab '%s' --seed 11 --std 0.5 %s >/dev/null",
             bin, out, L, H, I, P, words_path, extra);
    return system(cmd);
}

static int setup(void **state)
{
    (void)state;
    char words_path[2400], text[512] = "";
    for (int i = 0; i < V; i++)
        strcat(strcat(text, words[i]), "\n");
    path_in(words_path, sizeof words_path, tmp, "words.txt");
    write_text(words_path, text);
    snprintf(base, sizeof base, "%s/bl-base", tmp);
    return init_model(base, "");
}

/* Every parameter of a loaded model with its element count, in a fixed order. */
typedef struct param {
    const float *p;
    size_t n;
} param;

static int params_of(const bert_model *m, param *out)
{
    int k = 0;
    const bert_config *c = &m->cfg;
    size_t h = (size_t)c->hidden_size, in = (size_t)c->intermediate_size;
    out[k++] = (param){m->word_emb, (size_t)c->vocab_size * h};
    out[k++] = (param){m->pos_emb, (size_t)c->max_position_embeddings * h};
    out[k++] = (param){m->type_emb, (size_t)c->type_vocab_size * h};
    out[k++] = (param){m->emb_ln_g, h};
    out[k++] = (param){m->emb_ln_b, h};
    for (int l = 0; l < c->num_layers; l++) {
        const bert_layer *y = &m->layers[l];
        const float *hh[] = {y->q_b, y->k_b, y->v_b, y->ao_b, y->aln_g, y->aln_b, y->o_b, y->oln_g, y->oln_b};
        out[k++] = (param){y->q_w, h * h};
        out[k++] = (param){y->k_w, h * h};
        out[k++] = (param){y->v_w, h * h};
        out[k++] = (param){y->ao_w, h * h};
        out[k++] = (param){y->i_w, in * h};
        out[k++] = (param){y->i_b, in};
        out[k++] = (param){y->o_w, h * in};
        for (size_t j = 0; j < sizeof hh / sizeof hh[0]; j++)
            out[k++] = (param){hh[j], h};
    }
    out[k++] = (param){m->head_w, h * h};
    out[k++] = (param){m->head_b, h};
    out[k++] = (param){m->head_ln_g, h};
    out[k++] = (param){m->head_ln_b, h};
    out[k++] = (param){m->decoder_w, (size_t)c->vocab_size * h};
    out[k++] = (param){m->decoder_b, (size_t)c->vocab_size};
    return k;
}

enum { MAX_PARAMS = 11 + 16 * L };

static bert_model *load_ok(const char *dir)
{
    bert_model *m = NULL;
    pt_err e;
    pt_err_clear(&e);
    if (bert_load(&m, dir, &e))
        fail_msg("loading %s: %s", dir, e.msg);
    return m;
}

static void expect_load_fails(const char *dir, int code, const char *needle1, const char *needle2)
{
    bert_model *m = (bert_model *)1;
    pt_err e;
    pt_err_clear(&e);
    int rc = bert_load(&m, dir, &e);
    if (rc != code || !strstr(e.msg, needle1) || (needle2 && !strstr(e.msg, needle2)))
        fail_msg("%s: rc %d '%s'; wanted %d with '%s' '%s'", dir, rc, e.msg, code, needle1, needle2 ? needle2 : "");
    assert_null(m);
    assert_null(strchr(e.msg, '\n'));
}

static void assert_same_values(const bert_model *a, const bert_model *b)
{
    param pa[MAX_PARAMS], pb[MAX_PARAMS];
    int n = params_of(a, pa);
    assert_int_equal(params_of(b, pb), n);
    for (int i = 0; i < n; i++) {
        assert_int_equal(pa[i].n, pb[i].n);
        assert_non_null(pa[i].p);
        assert_non_null(pb[i].p);
        assert_memory_equal(pa[i].p, pb[i].p, pa[i].n * sizeof(float));
    }
}

static void test_loads_init_model_directory(void **state)
{
    (void)state;
    bert_model *m = load_ok(base);
    const bert_config *c = &m->cfg;
    assert_int_equal(c->vocab_size, V);
    assert_int_equal(c->hidden_size, H);
    assert_int_equal(c->num_layers, L);
    assert_int_equal(c->num_heads, 4);
    assert_int_equal(c->intermediate_size, I);
    assert_int_equal(c->max_position_embeddings, P);
    assert_int_equal(c->type_vocab_size, T);
    assert_true(c->layer_norm_eps == 1e-12f);
    assert_string_equal(m->name, "bl-base");
    assert_string_equal(m->dtype, "F32");
    assert_true(m->tied);
    assert_ptr_equal(m->decoder_w, m->word_emb);
    assert_int_equal(vocab_size(m->vocab), V);
    assert_true(m->tok.do_lower_case);

    long long per_layer = 4LL * (H * H + H) + 2LL * H * I + I + H + 4LL * H;
    long long want = (long long)V * H + P * H + T * H + 2 * H + L * per_layer + H * H + 3 * H + V;
    assert_int_equal(m->n_params, want);

    /* the fingerprint is the sha256 of the file, and F32 parameters point into the mapping (query, key
     * and value into the stacked copy) */
    char path[2600], hex[65];
    size_t len;
    path_in(path, sizeof path, base, "model.safetensors");
    char *bytes = read_text(path, &len);
    sha256_hex(bytes, len, hex);
    free(bytes);
    assert_string_equal(m->fingerprint, hex);
    assert_int_equal(m->weights_bytes, len);
    assert_null(m->owned);
    const char *lo = m->st.map, *hi = lo + m->st.map_size;
    const float *flo = m->fused, *fhi = flo + (size_t)L * (3 * H * H + 3 * H);
    param ps[MAX_PARAMS];
    int n = params_of(m, ps);
    for (int i = 0; i < n; i++)
        assert_true(((const char *)ps[i].p >= lo && (const char *)(ps[i].p + ps[i].n) <= hi) ||
                    (ps[i].p >= flo && ps[i].p + ps[i].n <= fhi));

    /* query, key and value are stacked per layer, one [3H,H] GEMM, with the file's values */
    for (int l = 0; l < L; l++) {
        const bert_layer *y = &m->layers[l];
        const float *w[3] = {y->q_w, y->k_w, y->v_w}, *b[3] = {y->q_b, y->k_b, y->v_b};
        const char *names[3] = {"query", "key", "value"};
        for (int j = 0; j < 3; j++) {
            assert_ptr_equal(w[j], y->qkv_w + (size_t)j * H * H);
            assert_ptr_equal(b[j], y->qkv_b + (size_t)j * H);
            char name[128];
            snprintf(name, sizeof name, "bert.encoder.layer.%d.attention.self.%s.weight", l, names[j]);
            const st_tensor *t = st_find(&m->st, name);
            assert_non_null(t);
            assert_memory_equal(w[j], t->data, (size_t)H * H * sizeof(float));
            snprintf(name, sizeof name, "bert.encoder.layer.%d.attention.self.%s.bias", l, names[j]);
            assert_non_null(t = st_find(&m->st, name));
            assert_memory_equal(b[j], t->data, (size_t)H * sizeof(float));
        }
    }

    /* init-model's documented stream: splitmix64 + Box-Muller, seed 11, std 0.5 (values from a Python
     * reimplementation); LayerNorm gamma 1, beta 0 */
    assert_true(m->word_emb[0] == -0.0588857569f);
    assert_true(m->word_emb[1] == 0.756407619f);
    assert_true(m->word_emb[2] == -0.473800093f);
    assert_true(m->word_emb[3] == -0.0137396995f);
    for (int i = 0; i < H; i++) {
        assert_true(m->layers[1].oln_g[i] == 1.0f && m->layers[1].oln_b[i] == 0.0f);
        assert_true(m->head_ln_g[i] == 1.0f && m->head_ln_b[i] == 0.0f);
    }
    assert_true(m->decoder_b[0] != 0.0f);
    bert_free(m);
}

static void test_init_model_is_deterministic(void **state)
{
    (void)state;
    char again[2400], other[2400];
    snprintf(again, sizeof again, "%s/bl-again", tmp);
    snprintf(other, sizeof other, "%s/bl-other", tmp);
    assert_int_equal(init_model(again, ""), 0);
    assert_int_equal(init_model(other, "--seed 12"), 0);
    bert_model *a = load_ok(base), *b = load_ok(again), *c = load_ok(other);
    assert_string_equal(a->fingerprint, b->fingerprint);
    assert_string_not_equal(a->fingerprint, c->fingerprint);
    assert_true(a->word_emb[0] != c->word_emb[0]);
    bert_free(a);
    bert_free(b);
    bert_free(c);
}

/* Rewrites the base model's tensors into dir/model.safetensors: rename maps a name to its new spelling
 * (NULL drops it); extra tensors are appended. */
typedef const char *(*rename_fn)(const char *name, char *buf, size_t cap);

static void write_variant(const char *dir, rename_fn rename, st_dtype dtype, const st_wtensor *extra, int n_extra)
{
    st_file f;
    pt_err e;
    pt_err_clear(&e);
    char path[2600];
    path_in(path, sizeof path, base, "model.safetensors");
    assert_int_equal(st_open(&f, path, &e), 0);
    st_wtensor *ts = calloc((size_t)(f.n_tensors + n_extra), sizeof *ts);
    char (*names)[128] = calloc((size_t)f.n_tensors, sizeof *names);
    int n = 0;
    for (int i = 0; i < f.n_tensors; i++) {
        const st_tensor *t = &f.tensors[i];
        const char *nm = rename ? rename(t->name, names[i], sizeof names[i]) : t->name;
        if (!nm)
            continue;
        ts[n] = (st_wtensor){.name = nm, .dtype = dtype, .ndim = t->ndim, .data = t->data};
        memcpy(ts[n].shape, t->shape, sizeof t->shape);
        n++;
    }
    for (int i = 0; i < n_extra; i++)
        ts[n++] = extra[i];
    path_in(path, sizeof path, dir, "model.safetensors");
    if (st_write(path, ts, n, NULL, &e))
        fail_msg("%s", e.msg);
    free(ts);
    free(names);
    st_close(&f);
}

static const char *old_names(const char *name, char *buf, size_t cap)
{
    const char *s = strncmp(name, "bert.", 5) ? name : name + 5;
    size_t n = strlen(s);
    if (n > 16 && !strcmp(s + n - 16, "LayerNorm.weight"))
        snprintf(buf, cap, "%.*sLayerNorm.gamma", (int)(n - 16), s);
    else if (n > 14 && !strcmp(s + n - 14, "LayerNorm.bias"))
        snprintf(buf, cap, "%.*sLayerNorm.beta", (int)(n - 14), s);
    else
        snprintf(buf, cap, "%s", s);
    return buf;
}

static void test_gamma_beta_names_without_prefix(void **state)
{
    (void)state;
    char dir[2400];
    variant_dir(dir, sizeof dir, "bl-gamma");
    write_variant(dir, old_names, ST_F32, NULL, 0);
    st_file f;
    pt_err e;
    char path[2600];
    path_in(path, sizeof path, dir, "model.safetensors");
    assert_int_equal(st_open(&f, path, &e), 0);
    assert_non_null(st_find(&f, "encoder.layer.1.output.LayerNorm.gamma"));
    assert_null(st_find(&f, "bert.embeddings.word_embeddings.weight"));
    st_close(&f);
    bert_model *a = load_ok(base), *b = load_ok(dir);
    assert_same_values(a, b);
    assert_int_equal(a->n_params, b->n_params);
    assert_string_not_equal(a->fingerprint, b->fingerprint);
    bert_free(a);
    bert_free(b);
}

static const char *drop_bias(const char *name, char *buf, size_t cap)
{
    (void)buf, (void)cap;
    return strcmp(name, "cls.predictions.bias") ? name : NULL;
}

static void test_untied_decoder_and_decoder_bias(void **state)
{
    (void)state;
    static float dec[V * H], dbias[V];
    for (int i = 0; i < V * H; i++)
        dec[i] = (float)(i % 7) - 3.0f;
    for (int i = 0; i < V; i++)
        dbias[i] = (float)i / 8;
    st_wtensor extra[] = {
        {"cls.predictions.decoder.weight", ST_F32, 2, {V, H}, dec},
        {"cls.predictions.decoder.bias", ST_F32, 1, {V}, dbias},
    };
    char dir[2400];
    variant_dir(dir, sizeof dir, "bl-untied");
    write_variant(dir, drop_bias, ST_F32, extra, 2);
    bert_model *m = load_ok(dir), *b = load_ok(base);
    assert_false(m->tied);
    assert_ptr_not_equal(m->decoder_w, m->word_emb);
    assert_memory_equal(m->decoder_w, dec, sizeof dec);
    assert_memory_equal(m->decoder_b, dbias, sizeof dbias);
    assert_memory_equal(m->word_emb, b->word_emb, sizeof(float) * V * H);
    assert_int_equal(m->n_params, b->n_params + V * H);
    bert_free(m);
    bert_free(b);

    /* no decoder bias at all: zeros */
    variant_dir(dir, sizeof dir, "bl-nobias");
    write_variant(dir, drop_bias, ST_F32, NULL, 0);
    m = load_ok(dir);
    assert_true(m->tied);
    for (int i = 0; i < V; i++)
        assert_true(m->decoder_b[i] == 0.0f);
    bert_free(m);
}

static void test_extra_tensors_are_ignored(void **state)
{
    (void)state;
    static float pool[H * H], seq[2 * H], pos_ids[P];
    st_wtensor extra[] = {
        {"bert.pooler.dense.weight", ST_F32, 2, {H, H}, pool},
        {"cls.seq_relationship.weight", ST_F32, 2, {2, H}, seq},
        {"bert.embeddings.position_ids", ST_F32, 2, {1, P}, pos_ids},
    };
    char dir[2400];
    variant_dir(dir, sizeof dir, "bl-extra");
    write_variant(dir, NULL, ST_F32, extra, 3);
    bert_model *a = load_ok(base), *b = load_ok(dir);
    assert_same_values(a, b);
    assert_int_equal(a->n_params, b->n_params);
    bert_free(a);
    bert_free(b);
}

static void check_rounded(st_dtype dtype, const char *name)
{
    char dir[2400];
    variant_dir(dir, sizeof dir, name);
    write_variant(dir, NULL, dtype, NULL, 0);
    bert_model *a = load_ok(base), *b = load_ok(dir);
    assert_string_equal(b->dtype, st_dtype_name(dtype));
    assert_non_null(b->owned);
    param pa[MAX_PARAMS], pb[MAX_PARAMS];
    int n = params_of(a, pa);
    assert_int_equal(params_of(b, pb), n);
    int differ = 0;
    for (int i = 0; i < n; i++)
        for (size_t k = 0; k < pa[i].n; k++) {
            float x = pa[i].p[k];
            float r = dtype == ST_F16 ? st_f16_to_f32(st_f32_to_f16(x)) : st_bf16_to_f32(st_f32_to_bf16(x));
            assert_true(pb[i].p[k] == r);
            differ += r != x;
        }
    assert_true(differ > 0); /* the rounding really happened */
    assert_ptr_equal(b->decoder_w, b->word_emb);
    bert_free(a);
    bert_free(b);
}

static void test_f16_and_bf16_equal_rounded_f32(void **state)
{
    (void)state;
    check_rounded(ST_F16, "bl-f16");
    check_rounded(ST_BF16, "bl-bf16");

    /* init-model --dtype f16 writes the same stream, rounded */
    char dir[2400];
    snprintf(dir, sizeof dir, "%s/bl-init-f16", tmp);
    assert_int_equal(init_model(dir, "--dtype f16"), 0);
    bert_model *a = load_ok(base), *b = load_ok(dir);
    assert_string_equal(b->dtype, "F16");
    for (int i = 0; i < V * H; i++)
        assert_true(b->word_emb[i] == st_f16_to_f32(st_f32_to_f16(a->word_emb[i])));
    bert_free(a);
    bert_free(b);
}

/* Writes the base model's tensors by hand: pad puts a 1-byte U8 tensor first (so every F32 tensor is
 * misaligned), and the tensor named as_i32 is declared I32 instead of F32. */
static void write_raw(const char *dir, bool pad, const char *as_i32)
{
    st_file f;
    pt_err e;
    char path[2600];
    path_in(path, sizeof path, base, "model.safetensors");
    assert_int_equal(st_open(&f, path, &e), 0);
    json_t *h = json_object();
    if (pad)
        json_object_set_new(h, "pad", json_pack("{s:s, s:[i], s:[i,i]}", "dtype", "U8", "shape", 1, "data_offsets", 0, 1));
    size_t at = pad;
    for (int i = 0; i < f.n_tensors; i++) {
        const st_tensor *t = &f.tensors[i];
        json_t *shape = json_array();
        for (int d = 0; d < t->ndim; d++)
            json_array_append_new(shape, json_integer(t->shape[d]));
        const char *dtype = as_i32 && !strcmp(t->name, as_i32) ? "I32" : "F32";
        json_object_set_new(h, t->name,
                            json_pack("{s:s, s:o, s:[I,I]}", "dtype", dtype, "shape", shape, "data_offsets",
                                      (json_int_t)at, (json_int_t)(at + t->nbytes)));
        at += t->nbytes;
    }
    char *text = json_dumps(h, JSON_COMPACT);
    json_decref(h);
    path_in(path, sizeof path, dir, "model.safetensors");
    FILE *fp = fopen(path, "wb");
    assert_non_null(fp);
    uint64_t hl = strlen(text);
    fwrite(&hl, 8, 1, fp);
    fwrite(text, 1, hl, fp);
    if (pad)
        fputc(0x5a, fp);
    for (int i = 0; i < f.n_tensors; i++)
        fwrite(f.tensors[i].data, 1, f.tensors[i].nbytes, fp);
    assert_int_equal(fclose(fp), 0);
    free(text);
    st_close(&f);
}

static void test_misaligned_f32_is_copied(void **state)
{
    (void)state;
    char dir[2400];
    variant_dir(dir, sizeof dir, "bl-misaligned");
    write_raw(dir, true, NULL);
    bert_model *a = load_ok(base), *b = load_ok(dir);
    assert_same_values(a, b);
    assert_non_null(b->owned);
    assert_int_equal((uintptr_t)b->word_emb % sizeof(float), 0);
    bert_free(a);
    bert_free(b);
}

static void test_integer_dtype_is_named(void **state)
{
    (void)state;
    char dir[2400];
    variant_dir(dir, sizeof dir, "bl-i32");
    write_raw(dir, false, "bert.encoder.layer.0.output.dense.bias");
    expect_load_fails(dir, PT_EFORMAT, "1 tensor with a wrong shape or dtype: bert.encoder.layer.0.output.dense.bias "
                      "has dtype I32 (F32, F16 or BF16 expected)", NULL);
}

static const char *drop_two(const char *name, char *buf, size_t cap)
{
    (void)buf, (void)cap;
    if (!strcmp(name, "bert.encoder.layer.1.attention.self.key.bias") ||
        !strcmp(name, "cls.predictions.transform.dense.weight"))
        return NULL;
    return name;
}

static void test_missing_tensors_are_named(void **state)
{
    (void)state;
    char dir[2400];
    variant_dir(dir, sizeof dir, "bl-missing");
    write_variant(dir, drop_two, ST_F32, NULL, 0);
    expect_load_fails(dir, PT_EFORMAT, "2 missing tensors: bert.encoder.layer.1.attention.self.key.bias",
                      "cls.predictions.transform.dense.weight");
}

static void test_wrong_shape_is_named_with_expected_and_found(void **state)
{
    (void)state;
    static float pos[(P - 1) * H], q[H * (H + 1)];
    st_wtensor extra[] = {
        {"bert.embeddings.position_embeddings.weight", ST_F32, 2, {P - 1, H}, pos},
        {"bert.encoder.layer.0.attention.self.query.weight", ST_F32, 1, {H * (H + 1)}, q},
    };
    char dir[2400];
    variant_dir(dir, sizeof dir, "bl-shape");
    write_variant(dir, NULL, ST_F32, NULL, 0);
    st_file f;
    pt_err e;
    char path[2600];
    path_in(path, sizeof path, base, "model.safetensors");
    assert_int_equal(st_open(&f, path, &e), 0);
    st_wtensor *ts = calloc((size_t)f.n_tensors, sizeof *ts);
    for (int i = 0; i < f.n_tensors; i++) {
        const st_tensor *t = &f.tensors[i];
        ts[i] = (st_wtensor){.name = t->name, .dtype = ST_F32, .ndim = t->ndim, .data = t->data};
        memcpy(ts[i].shape, t->shape, sizeof t->shape);
        for (int k = 0; k < 2; k++)
            if (!strcmp(t->name, extra[k].name))
                ts[i] = extra[k];
    }
    path_in(path, sizeof path, dir, "model.safetensors");
    assert_int_equal(st_write(path, ts, f.n_tensors, NULL, &e), 0);
    free(ts);
    st_close(&f);
    expect_load_fails(dir, PT_EFORMAT, "bert.embeddings.position_embeddings.weight expected [32, 16], found [31, 16]",
                      "bert.encoder.layer.0.attention.self.query.weight expected [16, 16], found [272]");
}

static void expect_config_error(const char *json, const char *needle, const char *field)
{
    bert_config c;
    pt_err e;
    pt_err_clear(&e);
    int rc = bert_config_parse(&c, json, strlen(json), &e);
    if (rc != PT_EFORMAT || !strstr(e.msg, needle))
        fail_msg("config %s: rc %d '%s'; wanted '%s'", json, rc, e.msg, needle);
    if (field)
        assert_string_equal(e.field, field);
}

#define BASE_CFG "\"vocab_size\": 17, \"hidden_size\": 16, \"num_hidden_layers\": 2, \"intermediate_size\": 32, "
#define FULL_CFG BASE_CFG "\"num_attention_heads\": 4, \"max_position_embeddings\": 32"

static void test_config_parse(void **state)
{
    (void)state;
    bert_config c;
    pt_err e;
    pt_err_clear(&e);
    const char *ok = "{" FULL_CFG ", \"hidden_act\": \"gelu\", \"model_type\": \"bert\"}";
    assert_int_equal(bert_config_parse(&c, ok, strlen(ok), &e), 0);
    assert_int_equal(c.type_vocab_size, 2);
    assert_true(c.layer_norm_eps == 1e-12f);
    assert_int_equal(c.num_heads, 4);
    const char *eps = "{" FULL_CFG ", \"layer_norm_eps\": 1e-5, \"type_vocab_size\": 3}";
    assert_int_equal(bert_config_parse(&c, eps, strlen(eps), &e), 0);
    assert_true(c.layer_norm_eps == 1e-5f);
    assert_int_equal(c.type_vocab_size, 3);

    expect_config_error("{" BASE_CFG "\"max_position_embeddings\": 32}", "missing key 'num_attention_heads'",
                        "num_attention_heads");
    expect_config_error("{" BASE_CFG "\"num_attention_heads\": \"4\", \"max_position_embeddings\": 32}",
                        "'num_attention_heads' must be an integer in 1..16777216, found a string",
                        "num_attention_heads");
    expect_config_error("{" BASE_CFG "\"num_attention_heads\": 0, \"max_position_embeddings\": 32}",
                        "'num_attention_heads' must be an integer in 1..16777216, found 0", NULL);
    expect_config_error("{" BASE_CFG "\"num_attention_heads\": 5, \"max_position_embeddings\": 32}",
                        "hidden_size is not divisible by 'num_attention_heads'", NULL);
    expect_config_error("{" FULL_CFG ", \"hidden_act\": \"relu\"}", "hidden_act 'relu' is not supported (only \"gelu\"",
                        "hidden_act");
    expect_config_error("{" FULL_CFG ", \"model_type\": \"roberta\"}", "model_type 'roberta' is not supported",
                        "model_type");
    expect_config_error("{" FULL_CFG ", \"layer_norm_eps\": -1}", "'layer_norm_eps' must be a number", NULL);
    /* Found by fuzz-config: above 0 as a double, 0 as the float the model keeps. */
    expect_config_error("{" FULL_CFG ", \"layer_norm_eps\": 1e-70}", "'layer_norm_eps' must be a number in (0, 1) "
                        "(and above 0 as a 32-bit float)", NULL);
    expect_config_error("{" FULL_CFG ", \"type_vocab_size\": 2.5}", "'type_vocab_size' must be an integer", NULL);
    expect_config_error("[1, 2]", "config.json: must be a JSON object", NULL);
    expect_config_error("{\"vocab_size\": 17,\n \"hidden_size\": }", "config.json: not valid JSON", NULL);
    assert_int_equal(bert_config_parse(&c, "{\n\"a\": }", 8, &e), PT_EFORMAT);
    assert_int_equal(e.line, 2);
    /* Found by fuzz-config: the parser's error quoted a newline (and could quote any byte). */
    static const char quoted_newline[] = "{\n  \"clype\": \"bert \\\n\"\\,\\\\ \"vocab_size\": 8,\n  \"mO\": 0z}\n";
    assert_int_equal(bert_config_parse(&c, quoted_newline, sizeof quoted_newline - 1, &e), PT_EFORMAT);
    assert_non_null(strstr(e.msg, "invalid escape"));
    assert_null(strchr(e.msg, '\n'));
    static const char quoted_bad_utf8[] = "{\"a\": \"\xff\xfe\n";
    assert_int_equal(bert_config_parse(&c, quoted_bad_utf8, sizeof quoted_bad_utf8 - 1, &e), PT_EFORMAT);
    assert_null(strchr(e.msg, '\n'));
    assert_null(strchr(e.msg, '\xff'));
}

static void test_bad_config_json_in_directory(void **state)
{
    (void)state;
    char dir[2400], path[2600];
    variant_dir(dir, sizeof dir, "bl-config");
    copy_file(base, dir, "model.safetensors");
    path_in(path, sizeof path, dir, "config.json");
    char *cfg = read_text(path, NULL);
    char *act = strstr(cfg, "\"gelu\"");
    assert_non_null(act);
    memcpy(act, "\"relu\"", 6);
    write_text(path, cfg);
    expect_load_fails(dir, PT_EFORMAT, "bl-config: config.json: hidden_act 'relu' is not supported", NULL);

    char *key = strstr(cfg, "\"intermediate_size\"");
    assert_non_null(key);
    memcpy(key, "\"intermediate_sixe\"", 19);
    memcpy(act, "\"gelu\"", 6);
    write_text(path, cfg);
    expect_load_fails(dir, PT_EFORMAT, "config.json: missing key 'intermediate_size'", NULL);
    write_text(path, "{\"vocab_size\": 17,");
    expect_load_fails(dir, PT_EFORMAT, "config.json: not valid JSON", NULL);
    free(cfg);
    remove(path);
    expect_load_fails(dir, PT_ENOTFOUND, "config.json", NULL);
}

static void test_vocab_size_mismatch(void **state)
{
    (void)state;
    char dir[2400], path[2600];
    variant_dir(dir, sizeof dir, "bl-vocab");
    copy_file(base, dir, "model.safetensors");
    path_in(path, sizeof path, dir, "vocab.txt");
    char *v = read_text(path, NULL);
    size_t n = strlen(v);
    char *more = malloc(n + 16);
    snprintf(more, n + 16, "%sextra\n", v);
    write_text(path, more);
    expect_load_fails(dir, PT_EMISMATCH, "vocab.txt has 18 tokens but the word embeddings have 17 rows", NULL);
    free(more);
    free(v);
}

static void test_empty_or_unusable_vocab(void **state)
{
    (void)state;
    char dir[2400], path[2600];
    variant_dir(dir, sizeof dir, "bl-empty-vocab");
    copy_file(base, dir, "model.safetensors");
    path_in(path, sizeof path, dir, "vocab.txt");
    write_text(path, "");
    expect_load_fails(dir, PT_EFORMAT, "bl-empty-vocab/vocab.txt", "empty");
    write_text(path, "[PAD]\n");
    expect_load_fails(dir, PT_EFORMAT, "bl-empty-vocab/vocab.txt: ", "[UNK]");
    copy_file(base, dir, "vocab.txt");
    path_in(path, sizeof path, dir, "tokenizer_config.json");
    write_text(path, "{\"do_lower_case\": 3}");
    expect_load_fails(dir, PT_EFORMAT, "bl-empty-vocab/tokenizer_config.json", "do_lower_case");
    write_text(path, "{\"do_lower_case\": false}");
    bert_model *m = load_ok(dir);
    assert_false(m->tok.do_lower_case);
    assert_int_equal(m->tok.unk_id, 1);
    assert_int_equal(m->tok.mask_id, 4);
    bert_free(m);
}

static void test_missing_or_broken_weights_file(void **state)
{
    (void)state;
    char dir[2400], path[2600];
    variant_dir(dir, sizeof dir, "bl-noweights");
    expect_load_fails(dir, PT_ENOTFOUND, "bl-noweights/model.safetensors", NULL);
    path_in(path, sizeof path, dir, "model.safetensors");
    write_bytes(path, "\x05\0\0\0\0\0\0\0{}", 10);
    expect_load_fails(dir, PT_EFORMAT, "bl-noweights/model.safetensors: header length 5 goes past the end", NULL);
}

int main(void)
{
    const char *t = getenv("PTUNE_TMP");
    bin = getenv("PTUNE_BIN");
    if (!t || !*t || !bin || !*bin) {
        fprintf(stderr, "test-bert-load: skipped, needs PTUNE_TMP and PTUNE_BIN (run via make test)\n");
        return 77;
    }
    snprintf(tmp, sizeof tmp, "%s", t);
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_loads_init_model_directory),
        cmocka_unit_test(test_init_model_is_deterministic),
        cmocka_unit_test(test_gamma_beta_names_without_prefix),
        cmocka_unit_test(test_untied_decoder_and_decoder_bias),
        cmocka_unit_test(test_extra_tensors_are_ignored),
        cmocka_unit_test(test_f16_and_bf16_equal_rounded_f32),
        cmocka_unit_test(test_misaligned_f32_is_copied),
        cmocka_unit_test(test_integer_dtype_is_named),
        cmocka_unit_test(test_missing_tensors_are_named),
        cmocka_unit_test(test_wrong_shape_is_named_with_expected_and_found),
        cmocka_unit_test(test_config_parse),
        cmocka_unit_test(test_bad_config_json_in_directory),
        cmocka_unit_test(test_vocab_size_mismatch),
        cmocka_unit_test(test_empty_or_unusable_vocab),
        cmocka_unit_test(test_missing_or_broken_weights_file),
    };
    return cmocka_run_group_tests(tests, setup, NULL);
}
