#include "adapter.h"
#include "tsv.h"
#include "fileio.h"

#include <errno.h>
#include <stdarg.h>
#include <limits.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#define PTUNE_FORMAT "ptune/1"

void adapter_free(adapter *a)
{
    if (!a)
        return;
    train_config_free(&a->cfg);
    free(a->vectors);
    json_decref(a->metrics);
    json_decref(a->curve);
    memset(a, 0, sizeof *a);
}

void adapter_files_free(adapter_files *f)
{
    if (!f)
        return;
    free(f->model);
    free(f->config);
    free(f->ptune);
    memset(f, 0, sizeof *f);
}

int adapter_from_train(adapter *a, const bert_model *m, const train_config *cfg, const train_result *r,
                       pt_err *err)
{
    memset(a, 0, sizeof *a);
    int rc = train_config_copy(&a->cfg, cfg, err);
    if (rc)
        return rc;
    verbalizer_free(&a->cfg.verb);
    size_t nh = (size_t)r->n_prompt * (size_t)r->hidden;
    if ((rc = verbalizer_copy(&a->cfg.verb, &r->verb, err)))
        goto fail;
    snprintf(a->fingerprint, sizeof a->fingerprint, "%s", m->fingerprint);
    snprintf(a->base_model, sizeof a->base_model, "%s", m->name);
    a->base_hidden = m->cfg.hidden_size;
    a->base_layers = m->cfg.num_layers;
    a->base_heads = m->cfg.num_heads;
    a->base_vocab = m->cfg.vocab_size;
    a->n_prompt = r->n_prompt;
    a->hidden = r->hidden;
    a->truncated_rows = r->train_truncated + r->dev_truncated;
    a->vectors = malloc(nh * sizeof *a->vectors);
    a->metrics = r->has_dev ? metrics_to_json(&r->dev, (const char *const *)r->verb.labels) : json_null();
    a->curve = train_curve_to_json(r);
    if (!a->vectors || !a->metrics || !a->curve) {
        rc = pt_fail(err, PT_ENOMEM, "out of memory building the adapter");
        goto fail;
    }
    memcpy(a->vectors, r->vectors, nh * sizeof *a->vectors);
    return 0;
fail:
    adapter_free(a);
    return rc;
}

int adapter_check_backbone(const adapter *a, const bert_model *m, pt_err *err)
{
    if (strcmp(a->fingerprint, m->fingerprint))
        return pt_fail(err, PT_EMISMATCH,
                       "this prompt was trained on backbone '%s' (sha256 %.16s...), not on '%s' (sha256 %.16s...): "
                       "a prompt only works with the backbone it was trained on",
                       a->base_model, a->fingerprint, m->name, m->fingerprint);
    if (a->hidden != m->cfg.hidden_size)
        return pt_fail(err, PT_EMISMATCH, "the prompt's vectors have size %d, the model's hidden size is %d",
                       a->hidden, m->cfg.hidden_size);
    return 0;
}

/* ---- the three documents ---- */

static const char *peft_encoder_name(prompt_kind k)
{
    /* PEFT names only MLP and LSTM; "NONE" says that no encoder ran (PEFT in inference mode uses
     * prompt_embeddings directly and never builds the encoder). */
    return k == PROMPT_MLP ? "MLP" : k == PROMPT_LSTM ? "LSTM" : "NONE";
}

static json_t *peft_config(const adapter *a)
{
    int enc_hidden = a->cfg.encoder == PROMPT_MLP ? a->cfg.encoder_hidden
                     : a->cfg.encoder == PROMPT_LSTM ? a->hidden / 2 : a->hidden;
    return json_pack("{s:s, s:s, s:i, s:i, s:s, s:i, s:i, s:i, s:i, s:b, s:s}", "peft_type", "P_TUNING", "task_type",
                     "SEQ_CLS", "num_virtual_tokens", a->n_prompt, "token_dim", a->hidden,
                     "encoder_reparameterization_type", peft_encoder_name(a->cfg.encoder), "encoder_hidden_size",
                     enc_hidden, "num_transformer_submodules", 1, "num_layers", a->base_layers,
                     "num_attention_heads", a->base_heads, "inference_mode", 1, "base_model_name_or_path",
                     a->base_model);
}

static json_t *ptune_doc(const adapter *a)
{
    json_t *labels = json_array();
    for (int l = 0; labels && l < a->cfg.verb.n_labels; l++)
        json_array_append_new(labels, json_string(a->cfg.verb.labels[l]));
    return json_pack("{s:s, s:s, s:o, s:o, s:i, s:i, s:{s:s, s:s, s:i, s:i, s:i, s:i}, s:o, s:O, s:O, s:I}",
                     "format", PTUNE_FORMAT, "template", a->cfg.template_src ? a->cfg.template_src : TEMPLATE_DEFAULT,
                     "verbalizer", verbalizer_to_json(&a->cfg.verb), "labels", labels, "n_prompt", a->n_prompt,
                     "hidden", a->hidden, "backbone", "name", a->base_model, "fingerprint", a->fingerprint,
                     "hidden_size", a->base_hidden, "num_layers", a->base_layers, "num_attention_heads",
                     a->base_heads, "vocab_size", a->base_vocab, "config", train_config_to_json(&a->cfg), "metrics",
                     a->metrics ? a->metrics : json_null(), "training_curve", a->curve ? a->curve : json_null(),
                     "truncated_rows", (json_int_t)a->truncated_rows);
}

static char *dump(json_t *doc, size_t *len, pt_err *err)
{
    char *s = doc ? json_dumps(doc, JSON_INDENT(2)) : NULL;
    json_decref(doc);
    if (!s) {
        pt_fail(err, PT_ENOMEM, "out of memory writing the adapter's JSON");
        return NULL;
    }
    size_t n = strlen(s);
    char *t = realloc(s, n + 2);
    if (!t) {
        free(s);
        pt_fail(err, PT_ENOMEM, "out of memory writing the adapter's JSON");
        return NULL;
    }
    t[n] = '\n';
    t[n + 1] = '\0';
    *len = n + 1;
    return t;
}

static void tensor_of(const adapter *a, st_wtensor *t)
{
    memset(t, 0, sizeof *t);
    t->name = "prompt_embeddings";
    t->dtype = ST_F32;
    t->ndim = 2;
    t->shape[0] = a->n_prompt;
    t->shape[1] = a->hidden;
    t->data = a->vectors;
}

static const char *const st_metadata[] = {"format", "pt", NULL};

int adapter_serialize(const adapter *a, adapter_files *f, pt_err *err)
{
    memset(f, 0, sizeof *f);
    st_wtensor t;
    tensor_of(a, &t);
    int rc = st_serialize(&f->model, &f->model_len, &t, 1, st_metadata, err);
    if (!rc && !(f->config = dump(peft_config(a), &f->config_len, err)))
        rc = err ? err->code : PT_ENOMEM;
    if (!rc && !(f->ptune = dump(ptune_doc(a), &f->ptune_len, err)))
        rc = err ? err->code : PT_ENOMEM;
    if (rc)
        adapter_files_free(f);
    return rc;
}

static void join(char *out, size_t cap, const char *dir, const char *name)
{
    snprintf(out, cap, "%s/%s", dir, name);
}

int adapter_save(const adapter *a, const char *dir, pt_err *err)
{
    if (mkdir(dir, 0755) && errno != EEXIST)
        return pt_fail(err, PT_EIO, "%s: cannot create the directory: %s", dir, strerror(errno));
    char path[PATH_MAX];
    st_wtensor t;
    tensor_of(a, &t);
    join(path, sizeof path, dir, ADAPTER_MODEL_FILE);
    int rc = st_write(path, &t, 1, st_metadata, err);
    size_t len;
    char *doc = rc ? NULL : dump(peft_config(a), &len, err);
    if (!rc && !doc)
        rc = err ? err->code : PT_ENOMEM;
    if (!rc) {
        join(path, sizeof path, dir, ADAPTER_CONFIG_FILE);
        rc = fileio_write_atomic(path, doc, len, err);
    }
    free(doc);
    doc = rc ? NULL : dump(ptune_doc(a), &len, err);
    if (!rc && !doc)
        rc = err ? err->code : PT_ENOMEM;
    if (!rc) {
        join(path, sizeof path, dir, ADAPTER_PTUNE_FILE);
        rc = fileio_write_atomic(path, doc, len, err);
    }
    free(doc);
    return rc;
}

/* ---- reading ---- */

static int bad_doc(pt_err *err, const char *what, const char *fmt, ...) __attribute__((format(printf, 3, 4)));

static int bad_doc(pt_err *err, const char *what, const char *fmt, ...)
{
    if (!err)
        return PT_EFORMAT;
    char msg[sizeof err->msg];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(msg, sizeof msg, fmt, ap);
    va_end(ap);
    return pt_fail(err, PT_EFORMAT, "%s: %s", what, msg);
}

static int get_dim(const json_t *o, const char *key, int *out, pt_err *err)
{
    json_t *v = json_object_get(o, key);
    if (!json_is_integer(v) || json_integer_value(v) < 1 || json_integer_value(v) > (1 << 24))
        return bad_doc(err, ADAPTER_PTUNE_FILE, "\"%s\" must be a positive integer", key);
    *out = (int)json_integer_value(v);
    return 0;
}

static int read_ptune(adapter *a, json_t *doc, pt_err *err)
{
    const char *fmt = json_string_value(json_object_get(doc, "format"));
    if (!fmt || strcmp(fmt, PTUNE_FORMAT))
        return bad_doc(err, ADAPTER_PTUNE_FILE, "\"format\" must be \"%s\"", PTUNE_FORMAT);
    json_t *bb = json_object_get(doc, "backbone");
    const char *fp = json_string_value(json_object_get(bb, "fingerprint"));
    const char *name = json_string_value(json_object_get(bb, "name"));
    if (!fp || strlen(fp) != 64 || strspn(fp, "0123456789abcdef") != 64 || !name)
        return bad_doc(err, ADAPTER_PTUNE_FILE, "\"backbone\" needs \"name\" and a 64-hex-digit \"fingerprint\"");
    snprintf(a->fingerprint, sizeof a->fingerprint, "%s", fp);
    snprintf(a->base_model, sizeof a->base_model, "%s", name);
    int rc;
    if ((rc = get_dim(doc, "n_prompt", &a->n_prompt, err)) || (rc = get_dim(doc, "hidden", &a->hidden, err)) ||
        (rc = get_dim(bb, "hidden_size", &a->base_hidden, err)) || (rc = get_dim(bb, "num_layers", &a->base_layers, err)) ||
        (rc = get_dim(bb, "num_attention_heads", &a->base_heads, err)) ||
        (rc = get_dim(bb, "vocab_size", &a->base_vocab, err)))
        return rc;
    json_t *cfg = json_object_get(doc, "config");
    if ((rc = train_config_parse(&a->cfg, cfg, err)))
        return pt_err_prefix(err, "%s: \"config\"", ADAPTER_PTUNE_FILE);
    if (a->cfg.verb.n_labels < 2)
        return bad_doc(err, ADAPTER_PTUNE_FILE, "\"config\" has no verbalizer with at least two labels");
    json_t *tr = json_object_get(doc, "truncated_rows");
    a->truncated_rows = json_is_integer(tr) ? (long)json_integer_value(tr) : 0;
    a->metrics = json_incref(json_object_get(doc, "metrics"));
    a->curve = json_incref(json_object_get(doc, "training_curve"));
    if (!a->metrics)
        a->metrics = json_null();
    if (!a->curve)
        a->curve = json_array();
    return 0;
}

static int read_peft(const adapter *a, json_t *doc, pt_err *err)
{
    const char *type = json_string_value(json_object_get(doc, "peft_type"));
    if (!type || strcmp(type, "P_TUNING"))
        return bad_doc(err, ADAPTER_CONFIG_FILE, "\"peft_type\" must be \"P_TUNING\"");
    json_int_t n = json_integer_value(json_object_get(doc, "num_virtual_tokens"));
    json_int_t h = json_integer_value(json_object_get(doc, "token_dim"));
    if (n != a->n_prompt || h != a->hidden)
        return bad_doc(err, ADAPTER_CONFIG_FILE,
                       "num_virtual_tokens %lld x token_dim %lld disagree with %s's %d x %d", (long long)n,
                       (long long)h, ADAPTER_PTUNE_FILE, a->n_prompt, a->hidden);
    return 0;
}

static int read_vectors(adapter *a, const st_file *st, pt_err *err)
{
    const st_tensor *t = st_find(st, "prompt_embeddings");
    if (st->n_tensors != 1 || !t)
        return bad_doc(err, ADAPTER_MODEL_FILE, "expected exactly one tensor \"prompt_embeddings\", found %d tensors",
                       st->n_tensors);
    if (t->dtype != ST_F32 || t->ndim != 2 || t->shape[0] != a->n_prompt || t->shape[1] != a->hidden)
        return bad_doc(err, ADAPTER_MODEL_FILE, "\"prompt_embeddings\" must be F32 [%d, %d] as %s says", a->n_prompt,
                       a->hidden, ADAPTER_PTUNE_FILE);
    size_t nh = (size_t)a->n_prompt * (size_t)a->hidden;
    if (!(a->vectors = malloc(nh * sizeof *a->vectors)))
        return pt_fail(err, PT_ENOMEM, "out of memory");
    int rc = st_to_f32(t, a->vectors, err);
    /* Training never makes NaN or infinite vectors; such a file would only make NaN probabilities. */
    for (size_t i = 0; !rc && i < nh; i++)
        if (!isfinite(a->vectors[i]))
            rc = bad_doc(err, ADAPTER_MODEL_FILE, "\"prompt_embeddings\"[%zu][%zu] is %g, not a finite number",
                         i / (size_t)a->hidden, i % (size_t)a->hidden, (double)a->vectors[i]);
    return rc;
}

static json_t *parse_json(const char *buf, size_t len, const char *what, pt_err *err)
{
    json_error_t je;
    json_t *doc = json_loadb(buf, len, 0, &je);
    if (!doc)
        bad_doc(err, what, "line %d: %s", je.line, je.text);
    else if (!json_is_object(doc)) {
        json_decref(doc);
        doc = NULL;
        bad_doc(err, what, "expected a JSON object");
    }
    return doc;
}

static int read_all(adapter *a, const char *ptune, size_t ptune_len, const char *peft, size_t peft_len,
                    const st_file *st, pt_err *err)
{
    json_t *doc = parse_json(ptune, ptune_len, ADAPTER_PTUNE_FILE, err);
    int rc = doc ? read_ptune(a, doc, err) : PT_EFORMAT;
    json_decref(doc);
    if (!rc) {
        doc = parse_json(peft, peft_len, ADAPTER_CONFIG_FILE, err);
        rc = doc ? read_peft(a, doc, err) : PT_EFORMAT;
        json_decref(doc);
    }
    if (!rc)
        rc = read_vectors(a, st, err);
    if (rc)
        adapter_free(a);
    return rc;
}

int adapter_deserialize(adapter *a, const adapter_files *f, pt_err *err)
{
    memset(a, 0, sizeof *a);
    st_file st;
    int rc = st_parse(&st, f->model, f->model_len, err);
    if (rc) {
        st_close(&st);
        return pt_err_prefix(err, "%s", ADAPTER_MODEL_FILE);
    }
    rc = read_all(a, f->ptune, f->ptune_len, f->config, f->config_len, &st, err);
    st_close(&st);
    return rc;
}

int adapter_load(adapter *a, const char *dir, pt_err *err)
{
    memset(a, 0, sizeof *a);
    char path[PATH_MAX];
    char *ptune = NULL, *peft = NULL;
    size_t ptune_len = 0, peft_len = 0;
    join(path, sizeof path, dir, ADAPTER_PTUNE_FILE);
    int rc = tsv_read_file(path, &ptune, &ptune_len, err);
    if (!rc) {
        join(path, sizeof path, dir, ADAPTER_CONFIG_FILE);
        rc = tsv_read_file(path, &peft, &peft_len, err);
    }
    st_file st;
    memset(&st, 0, sizeof st);
    if (!rc) {
        join(path, sizeof path, dir, ADAPTER_MODEL_FILE);
        if ((rc = st_open(&st, path, err)))
            pt_err_prefix(err, "%s", path);
    }
    if (!rc && (rc = read_all(a, ptune, ptune_len, peft, peft_len, &st, err)))
        pt_err_prefix(err, "%s", dir);
    st_close(&st);
    free(ptune);
    free(peft);
    return rc;
}
