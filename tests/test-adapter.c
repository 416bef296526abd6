/* Unit tests for core/adapter: export / import of the three files, from disk and from memory, and the
 * refusal of a foreign backbone. The model is only a description here (no weights are needed). */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "adapter.h"
#include "safetensors.h"

static const char FP[] = "0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef";

static void fake_model(bert_model *m)
{
    memset(m, 0, sizeof *m);
    m->cfg.hidden_size = 6;
    m->cfg.num_layers = 2;
    m->cfg.num_heads = 3;
    m->cfg.vocab_size = 100;
    m->cfg.max_position_embeddings = 64;
    snprintf(m->fingerprint, sizeof m->fingerprint, "%s", FP);
    snprintf(m->name, sizeof m->name, "tiny-bert");
}

/* An adapter as training would leave it: 3 prompt vectors of size 6, two labels, an mlp encoder. */
static void make_adapter(adapter *a, const bert_model *m)
{
    train_config cfg;
    pt_err e;
    pt_err_clear(&e);
    json_t *j = json_pack("{s:s, s:s, s:i, s:f, s:{s:[s], s:[s,s]}}", "template", "{prompt:3}{text}是{mask}",
                          "encoder", "mlp", "encoder_hidden", 16, "lr", 0.005, "verbalizer", "正", "好", "负", "差",
                          "坏");
    assert_int_equal(train_config_parse(&cfg, j, &e), 0);
    json_decref(j);
    train_result r;
    memset(&r, 0, sizeof r);
    assert_int_equal(verbalizer_copy(&r.verb, &cfg.verb, &e), 0);
    r.n_prompt = 3;
    r.hidden = 6;
    r.vectors = malloc(18 * sizeof *r.vectors);
    for (int i = 0; i < 18; i++)
        r.vectors[i] = (float)i * 0.37f - 2.5f + 1e-7f * (float)i;
    r.epochs_run = 2;
    r.best_epoch = 2;
    r.curve = calloc(2, sizeof *r.curve);
    r.curve[0] = (train_epoch){1, 4, 0.9, 0, 0, 0, 0.5};
    r.curve[1] = (train_epoch){2, 4, 0.4, 0, 0, 0, 0.5};
    r.train_truncated = 3;
    assert_int_equal(adapter_from_train(a, m, &cfg, &r, &e), 0);
    train_result_free(&r);
    train_config_free(&cfg);
}

static void assert_same_adapter(const adapter *a, const adapter *b)
{
    assert_string_equal(a->fingerprint, b->fingerprint);
    assert_string_equal(a->base_model, b->base_model);
    assert_int_equal(a->n_prompt, b->n_prompt);
    assert_int_equal(a->hidden, b->hidden);
    assert_memory_equal(a->vectors, b->vectors, 18 * sizeof(float));
    assert_string_equal(a->cfg.template_src, b->cfg.template_src);
    assert_int_equal(a->cfg.encoder, PROMPT_MLP);
    assert_int_equal(b->cfg.encoder, PROMPT_MLP);
    assert_int_equal(b->cfg.encoder_hidden, 16);
    assert_true(a->cfg.lr == b->cfg.lr);
    assert_int_equal(b->cfg.verb.n_labels, 2);
    assert_string_equal(b->cfg.verb.labels[1], "负");
    assert_int_equal(b->cfg.verb.n_words[1], 2);
    assert_string_equal(b->cfg.verb.words[1][1], "坏");
    assert_int_equal(b->truncated_rows, 3);
    assert_true(json_equal(a->curve, b->curve));
}

static void test_memory_round_trip_and_formats(void **state)
{
    (void)state;
    bert_model m;
    fake_model(&m);
    adapter a, b;
    make_adapter(&a, &m);
    adapter_files f;
    pt_err e;
    pt_err_clear(&e);
    assert_int_equal(adapter_serialize(&a, &f, &e), 0);

    /* The tensor file: exactly one F32 [3, 6] tensor and metadata {"format": "pt"}. */
    st_file st;
    assert_int_equal(st_parse(&st, f.model, f.model_len, &e), 0);
    assert_int_equal(st.n_tensors, 1);
    assert_string_equal(st.tensors[0].name, "prompt_embeddings");
    assert_int_equal(st.tensors[0].dtype, ST_F32);
    assert_int_equal(st.tensors[0].ndim, 2);
    assert_int_equal(st.tensors[0].shape[0], 3);
    assert_int_equal(st.tensors[0].shape[1], 6);
    assert_memory_equal(st.tensors[0].data, a.vectors, 18 * sizeof(float));
    json_t *meta = json_loads(st.metadata_json, 0, NULL);
    assert_string_equal(json_string_value(json_object_get(meta, "format")), "pt");
    assert_int_equal(json_object_size(meta), 1);
    json_decref(meta);
    st_close(&st);

    /* HF PEFT's P_TUNING keys. */
    json_t *peft = json_loadb(f.config, f.config_len, 0, NULL);
    assert_non_null(peft);
    const char *keys[] = {"peft_type", "task_type", "num_virtual_tokens", "token_dim",
                          "encoder_reparameterization_type", "encoder_hidden_size", "num_transformer_submodules",
                          "num_layers", "num_attention_heads", "inference_mode", "base_model_name_or_path"};
    for (size_t k = 0; k < sizeof keys / sizeof keys[0]; k++)
        assert_non_null(json_object_get(peft, keys[k]));
    assert_string_equal(json_string_value(json_object_get(peft, "peft_type")), "P_TUNING");
    assert_string_equal(json_string_value(json_object_get(peft, "encoder_reparameterization_type")), "MLP");
    assert_int_equal(json_integer_value(json_object_get(peft, "encoder_hidden_size")), 16);
    assert_int_equal(json_integer_value(json_object_get(peft, "num_virtual_tokens")), 3);
    assert_int_equal(json_integer_value(json_object_get(peft, "token_dim")), 6);
    assert_int_equal(json_integer_value(json_object_get(peft, "num_layers")), 2);
    assert_true(json_is_true(json_object_get(peft, "inference_mode")));
    json_decref(peft);

    json_t *pt = json_loadb(f.ptune, f.ptune_len, 0, NULL);
    assert_string_equal(json_string_value(json_object_get(pt, "template")), "{prompt:3}{text}是{mask}");
    assert_string_equal(json_string_value(json_array_get(json_object_get(pt, "labels"), 0)), "正");
    assert_string_equal(json_string_value(json_object_get(json_object_get(pt, "backbone"), "fingerprint")), FP);
    assert_int_equal(json_array_size(json_object_get(pt, "training_curve")), 2);
    assert_true(json_is_null(json_object_get(pt, "metrics")));
    json_decref(pt);

    assert_int_equal(adapter_deserialize(&b, &f, &e), 0);
    assert_same_adapter(&a, &b);
    assert_int_equal(adapter_check_backbone(&b, &m, &e), 0);
    adapter_free(&b);
    adapter_files_free(&f);
    adapter_free(&a);
}

static char *tmpdir(const char *name)
{
    const char *t = getenv("PTUNE_TMP");
    static char buf[4096];
    snprintf(buf, sizeof buf, "%s/%s-%d", t ? t : "/tmp", name, (int)getpid());
    return buf;
}

static void test_disk_round_trip_same_bytes_as_memory(void **state)
{
    (void)state;
    bert_model m;
    fake_model(&m);
    adapter a, b;
    make_adapter(&a, &m);
    pt_err e;
    pt_err_clear(&e);
    char dir[4096];
    snprintf(dir, sizeof dir, "%s", tmpdir("test-adapter"));
    assert_int_equal(adapter_save(&a, dir, &e), 0);
    assert_int_equal(adapter_load(&b, dir, &e), 0);
    assert_same_adapter(&a, &b);
    adapter_free(&b);

    /* st_write (disk) and st_serialize (memory) give the same bytes; so do the JSON files. */
    adapter_files f;
    assert_int_equal(adapter_serialize(&a, &f, &e), 0);
    const char *names[] = {ADAPTER_MODEL_FILE, ADAPTER_CONFIG_FILE, ADAPTER_PTUNE_FILE};
    const void *bufs[] = {f.model, f.config, f.ptune};
    size_t lens[] = {f.model_len, f.config_len, f.ptune_len};
    for (int i = 0; i < 3; i++) {
        char path[8192];
        snprintf(path, sizeof path, "%s/%s", dir, names[i]);
        FILE *fp = fopen(path, "rb");
        assert_non_null(fp);
        char *disk = malloc(lens[i] + 1);
        assert_int_equal(fread(disk, 1, lens[i] + 1, fp), lens[i]);
        fclose(fp);
        assert_memory_equal(disk, bufs[i], lens[i]);
        free(disk);
        remove(path);
    }
    rmdir(dir);
    adapter_files_free(&f);
    adapter_free(&a);
}

static void test_foreign_backbone_and_broken_files(void **state)
{
    (void)state;
    bert_model m;
    fake_model(&m);
    adapter a, b;
    make_adapter(&a, &m);
    pt_err e;
    pt_err_clear(&e);
    bert_model other = m;
    other.fingerprint[0] = 'f';
    snprintf(other.name, sizeof other.name, "other-bert");
    assert_int_equal(adapter_check_backbone(&a, &other, &e), PT_EMISMATCH);
    assert_non_null(strstr(e.msg, "trained on backbone 'tiny-bert'"));
    assert_non_null(strstr(e.msg, "'other-bert'"));

    adapter_files f;
    assert_int_equal(adapter_serialize(&a, &f, &e), 0);
    /* ptune.json says 4 prompt vectors: the tensor [3, 6] no longer agrees. */
    char *p = strstr(f.ptune, "\"n_prompt\": 3");
    assert_non_null(p);
    p[12] = '4';
    assert_int_equal(adapter_deserialize(&b, &f, &e), PT_EFORMAT);
    assert_non_null(strstr(e.msg, ADAPTER_CONFIG_FILE));
    p[12] = '3';
    /* A truncated tensor file. */
    size_t keep = f.model_len;
    f.model_len -= 4;
    assert_int_equal(adapter_deserialize(&b, &f, &e), PT_EFORMAT);
    assert_non_null(strstr(e.msg, ADAPTER_MODEL_FILE));
    f.model_len = keep;
    /* Found by fuzz-adapter-import: a NaN (or infinite) vector got through to classification. */
    float *vec = (float *)((char *)f.model + f.model_len - 18 * sizeof(float));
    float keep_vec = vec[7];
    vec[7] = NAN;
    assert_int_equal(adapter_deserialize(&b, &f, &e), PT_EFORMAT);
    assert_string_equal(e.msg, "adapter_model.safetensors: \"prompt_embeddings\"[1][1] is nan, not a finite number");
    vec[7] = -INFINITY;
    assert_int_equal(adapter_deserialize(&b, &f, &e), PT_EFORMAT);
    assert_non_null(strstr(e.msg, "[1][1] is -inf, not a finite number"));
    vec[7] = keep_vec;
    assert_int_equal(adapter_deserialize(&b, &f, &e), 0);
    adapter_free(&b);
    /* Not JSON. */
    f.ptune[0] = '[';
    assert_int_equal(adapter_deserialize(&b, &f, &e), PT_EFORMAT);
    assert_non_null(strstr(e.msg, ADAPTER_PTUNE_FILE));
    adapter_files_free(&f);
    assert_int_equal(adapter_load(&b, "/nonexistent-ptune-dir", &e), PT_EIO);
    assert_non_null(strstr(e.msg, "/nonexistent-ptune-dir/ptune.json"));
    adapter_free(&a);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_memory_round_trip_and_formats),
        cmocka_unit_test(test_disk_round_trip_same_bytes_as_memory),
        cmocka_unit_test(test_foreign_backbone_and_broken_files),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
