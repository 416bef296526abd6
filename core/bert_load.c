/* bert_load — a BERT masked-LM from a Hugging Face model directory (see bert.h for the layout).
 *
 * Loading is two passes over a table of the parameters the forward pass needs: the first finds each
 * tensor (under its accepted spellings) and checks dtype and shape, collecting every problem so that
 * one error names all of them; the second points each parameter into the mapping (F32) or into one
 * owned f32 buffer (F16/BF16, misaligned F32, and the zero decoder bias when the file has none).
 */
#include "bert.h"

#include <errno.h>
#include <jansson.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <unistd.h>

#include "sha256.h"

/* Sizes beyond this are not a BERT anyone has; refusing them keeps every product far from overflow. */
#define DIM_MAX (1 << 24)

/* ---- config.json ---- */

static int cfg_fail(pt_err *err, const char *key, const char *fmt, const char *what)
{
    pt_fail(err, PT_EFORMAT, fmt, key, what);
    if (err)
        snprintf(err->field, sizeof err->field, "%s", key);
    return PT_EFORMAT;
}

static int cfg_int(const json_t *root, const char *key, int dflt, int *out, pt_err *err)
{
    const json_t *v = json_object_get(root, key);
    if (!v) {
        if (dflt > 0) {
            *out = dflt;
            return 0;
        }
        return cfg_fail(err, key, "config.json: missing key '%s'%s", "");
    }
    if (!json_is_integer(v) || json_integer_value(v) <= 0 || json_integer_value(v) > DIM_MAX) {
        char found[64];
        const char *kind = json_is_string(v) ? "string" : json_is_real(v) ? "fraction" : "non-number";
        if (json_is_integer(v))
            snprintf(found, sizeof found, ", found %lld", (long long)json_integer_value(v));
        else
            snprintf(found, sizeof found, ", found a %s", kind);
        return cfg_fail(err, key, "config.json: '%s' must be an integer in 1..16777216%s", found);
    }
    *out = (int)json_integer_value(v);
    return 0;
}

/* hidden_act, model_type and position_embedding_type are optional (HF's defaults are what we compute),
 * but when present they must say so: a RoBERTa, relative-position or ReLU model would otherwise load
 * and silently give wrong numbers. */
static int cfg_string_is(const json_t *root, const char *key, const char *want, const char *why, pt_err *err)
{
    const json_t *v = json_object_get(root, key);
    if (!v)
        return 0;
    if (!json_is_string(v) || strcmp(json_string_value(v), want)) {
        pt_fail(err, PT_EFORMAT, "config.json: %s %s%s%s is not supported (only \"%s\"%s)", key,
                json_is_string(v) ? "'" : "", json_is_string(v) ? json_string_value(v) : "(not a string)",
                json_is_string(v) ? "'" : "", want, why);
        if (err)
            snprintf(err->field, sizeof err->field, "%s", key);
        return PT_EFORMAT;
    }
    return 0;
}

int bert_config_parse(bert_config *cfg, const char *json, size_t len, pt_err *err)
{
    memset(cfg, 0, sizeof *cfg);
    json_error_t je;
    json_t *root = json_loadb(json, len, JSON_DECODE_ANY, &je);
    if (!root) {
        pt_fail(err, PT_EFORMAT, "config.json: not valid JSON: %s (line %d, column %d)", je.text, je.line, je.column);
        if (err)
            err->line = je.line;
        return PT_EFORMAT;
    }
    int rc = 0;
    if (!json_is_object(root))
        rc = pt_fail(err, PT_EFORMAT, "config.json: must be a JSON object");
    if (!rc)
        rc = cfg_int(root, "vocab_size", 0, &cfg->vocab_size, err);
    if (!rc)
        rc = cfg_int(root, "hidden_size", 0, &cfg->hidden_size, err);
    if (!rc)
        rc = cfg_int(root, "num_hidden_layers", 0, &cfg->num_layers, err);
    if (!rc)
        rc = cfg_int(root, "num_attention_heads", 0, &cfg->num_heads, err);
    if (!rc)
        rc = cfg_int(root, "intermediate_size", 0, &cfg->intermediate_size, err);
    if (!rc)
        rc = cfg_int(root, "max_position_embeddings", 0, &cfg->max_position_embeddings, err);
    if (!rc)
        rc = cfg_int(root, "type_vocab_size", 2, &cfg->type_vocab_size, err);
    if (!rc) {
        const json_t *eps = json_object_get(root, "layer_norm_eps");
        cfg->layer_norm_eps = 1e-12f;
        /* Checked as the float it becomes: 1e-70 is above 0 as a double and 0 as a float. */
        if (eps && (!json_is_number(eps) || !((float)json_number_value(eps) > 0) || json_number_value(eps) >= 1))
            rc = cfg_fail(err, "layer_norm_eps", "config.json: '%s' must be a number in (0, 1)%s",
                          " (and above 0 as a 32-bit float)");
        else if (eps)
            cfg->layer_norm_eps = (float)json_number_value(eps);
    }
    if (!rc)
        rc = cfg_string_is(root, "hidden_act", "gelu", ", the exact erf form", err);
    if (!rc)
        rc = cfg_string_is(root, "model_type", "bert", "", err);
    if (!rc)
        rc = cfg_string_is(root, "position_embedding_type", "absolute", "", err);
    if (!rc && cfg->hidden_size % cfg->num_heads)
        rc = cfg_fail(err, "num_attention_heads", "config.json: hidden_size is not divisible by '%s'%s", "");
    json_decref(root);
    return rc;
}

/* ---- tensors ---- */

typedef struct slot {
    const float **dst;
    const st_tensor *t;
    long long owned_index; /* float offset into the owned buffer, or -1 when used in place */
} slot;

typedef struct loader {
    bert_model *m;
    const char *prefix; /* "bert." or "" for the backbone, as the file spells it */
    slot *slots;
    int n_slots;
    char missing[240], wrong[240];
    int n_missing, n_wrong;
    size_t owned_floats;
    bool has_bias;
    bool all_converted; /* no parameter used in place: the mapping is only read once */
} loader;

/* Appends item to a "; "-separated list while it fits, then "..."; count keeps the true total. */
static void note(char *list, size_t cap, int *count, const char *item)
{
    size_t used = strlen(list);
    if (used + strlen(item) + 8 < cap)
        snprintf(list + used, cap - used, "%s%s", *count ? "; " : "", item);
    else if (!strstr(list, "..."))
        snprintf(list + used, cap - used, "; ...");
    (*count)++;
}

/* Finds a tensor under name, or its old LayerNorm spelling (gamma/beta). */
static const st_tensor *find_spelling(const st_file *f, const char *name)
{
    const st_tensor *t = st_find(f, name);
    if (t)
        return t;
    size_t n = strlen(name);
    char alt[256];
    if (n > 16 && !strcmp(name + n - 16, "LayerNorm.weight"))
        snprintf(alt, sizeof alt, "%.*sLayerNorm.gamma", (int)(n - 16), name);
    else if (n > 14 && !strcmp(name + n - 14, "LayerNorm.bias"))
        snprintf(alt, sizeof alt, "%.*sLayerNorm.beta", (int)(n - 14), name);
    else
        return NULL;
    return st_find(f, alt);
}

static void shape_text(char *out, size_t cap, int ndim, const int64_t *shape)
{
    size_t used = (size_t)snprintf(out, cap, "[");
    for (int d = 0; d < ndim && used < cap; d++)
        used += (size_t)snprintf(out + used, cap - used, "%s%lld", d ? ", " : "", (long long)shape[d]);
    if (used < cap)
        snprintf(out + used, cap - used, "]");
}

/* Looks up one parameter of shape [d0] (d1 == 0) or [d0, d1] and queues it for pass two. */
static void want(loader *ld, const float **dst, const char *name, int d0, int d1)
{
    const st_tensor *t = find_spelling(&ld->m->st, name);
    if (!t) {
        note(ld->missing, sizeof ld->missing, &ld->n_missing, name);
        return;
    }
    int ndim = d1 ? 2 : 1;
    int64_t exp[2] = {d0, d1};
    char item[400];
    if (t->ndim != ndim || t->shape[0] != d0 || (d1 && t->shape[1] != d1)) {
        char e[64], f[64];
        shape_text(e, sizeof e, ndim, exp);
        shape_text(f, sizeof f, t->ndim, t->shape);
        snprintf(item, sizeof item, "%s expected %s, found %s", t->name, e, f);
        note(ld->wrong, sizeof ld->wrong, &ld->n_wrong, item);
        return;
    }
    if (t->dtype != ST_F32 && t->dtype != ST_F16 && t->dtype != ST_BF16) {
        snprintf(item, sizeof item, "%s has dtype %s (F32, F16 or BF16 expected)", t->name, st_dtype_name(t->dtype));
        note(ld->wrong, sizeof ld->wrong, &ld->n_wrong, item);
        return;
    }
    slot *s = &ld->slots[ld->n_slots++];
    s->dst = dst;
    s->t = t;
    s->owned_index = -1;
    if (t->dtype != ST_F32 || (uintptr_t)t->data % sizeof(float)) {
        s->owned_index = (long long)ld->owned_floats;
        ld->owned_floats += (size_t)d0 * (size_t)(d1 ? d1 : 1);
    }
    ld->m->n_params += (long long)d0 * (d1 ? d1 : 1);
}

static void want_backbone(loader *ld, const float **dst, const char *suffix, int d0, int d1)
{
    char name[256];
    snprintf(name, sizeof name, "%s%s", ld->prefix, suffix);
    want(ld, dst, name, d0, d1);
}

static void want_layer(loader *ld, bert_layer *L, int l)
{
    const bert_config *c = &ld->m->cfg;
    int H = c->hidden_size, I = c->intermediate_size;
    const struct {
        const float **dst;
        const char *name;
        int d0, d1;
    } p[] = {
        {&L->q_w, "attention.self.query.weight", H, H},      {&L->q_b, "attention.self.query.bias", H, 0},
        {&L->k_w, "attention.self.key.weight", H, H},        {&L->k_b, "attention.self.key.bias", H, 0},
        {&L->v_w, "attention.self.value.weight", H, H},      {&L->v_b, "attention.self.value.bias", H, 0},
        {&L->ao_w, "attention.output.dense.weight", H, H},   {&L->ao_b, "attention.output.dense.bias", H, 0},
        {&L->aln_g, "attention.output.LayerNorm.weight", H, 0}, {&L->aln_b, "attention.output.LayerNorm.bias", H, 0},
        {&L->i_w, "intermediate.dense.weight", I, H},        {&L->i_b, "intermediate.dense.bias", I, 0},
        {&L->o_w, "output.dense.weight", H, I},              {&L->o_b, "output.dense.bias", H, 0},
        {&L->oln_g, "output.LayerNorm.weight", H, 0},        {&L->oln_b, "output.LayerNorm.bias", H, 0},
    };
    for (size_t i = 0; i < sizeof p / sizeof p[0]; i++) {
        char suffix[128];
        snprintf(suffix, sizeof suffix, "encoder.layer.%d.%s", l, p[i].name);
        want_backbone(ld, p[i].dst, suffix, p[i].d0, p[i].d1);
    }
}

enum { SLOTS_FIXED = 5 + 6, SLOTS_PER_LAYER = 16 };

static void want_all(loader *ld)
{
    bert_model *m = ld->m;
    const bert_config *c = &m->cfg;
    int V = c->vocab_size, H = c->hidden_size;
    ld->prefix = st_find(&m->st, "embeddings.word_embeddings.weight") ? "" : "bert.";
    want_backbone(ld, &m->word_emb, "embeddings.word_embeddings.weight", V, H);
    want_backbone(ld, &m->pos_emb, "embeddings.position_embeddings.weight", c->max_position_embeddings, H);
    want_backbone(ld, &m->type_emb, "embeddings.token_type_embeddings.weight", c->type_vocab_size, H);
    want_backbone(ld, &m->emb_ln_g, "embeddings.LayerNorm.weight", H, 0);
    want_backbone(ld, &m->emb_ln_b, "embeddings.LayerNorm.bias", H, 0);
    for (int l = 0; l < c->num_layers; l++)
        want_layer(ld, &m->layers[l], l);
    want(ld, &m->head_w, "cls.predictions.transform.dense.weight", H, H);
    want(ld, &m->head_b, "cls.predictions.transform.dense.bias", H, 0);
    want(ld, &m->head_ln_g, "cls.predictions.transform.LayerNorm.weight", H, 0);
    want(ld, &m->head_ln_b, "cls.predictions.transform.LayerNorm.bias", H, 0);
    m->tied = !st_find(&m->st, "cls.predictions.decoder.weight");
    if (!m->tied)
        want(ld, &m->decoder_w, "cls.predictions.decoder.weight", V, H);
    ld->has_bias = true;
    if (st_find(&m->st, "cls.predictions.bias"))
        want(ld, &m->decoder_b, "cls.predictions.bias", V, 0);
    else if (st_find(&m->st, "cls.predictions.decoder.bias"))
        want(ld, &m->decoder_b, "cls.predictions.decoder.bias", V, 0);
    else
        ld->has_bias = false;
}

static int report_problems(const loader *ld, const char *path, pt_err *err)
{
    char missing[300] = "", wrong[300] = "";
    if (ld->n_missing)
        snprintf(missing, sizeof missing, "%d missing tensor%s: %s", ld->n_missing, ld->n_missing == 1 ? "" : "s",
                 ld->missing);
    if (ld->n_wrong)
        snprintf(wrong, sizeof wrong, "%s%d tensor%s with a wrong shape or dtype: %s", ld->n_missing ? ". " : "",
                 ld->n_wrong, ld->n_wrong == 1 ? "" : "s", ld->wrong);
    return pt_fail(err, PT_EFORMAT, "%s: %s%s", path, missing, wrong);
}

/* "F32", "F16" or "BF16" when every parameter is stored the same way, else "mixed". */
static void set_dtype(bert_model *m, const loader *ld)
{
    st_dtype d = ld->slots[0].t->dtype;
    for (int i = 1; i < ld->n_slots; i++)
        if (ld->slots[i].t->dtype != d) {
            snprintf(m->dtype, sizeof m->dtype, "mixed");
            return;
        }
    snprintf(m->dtype, sizeof m->dtype, "%s", st_dtype_name(d));
}

/* Gives back the whole pages inside [p, p + n) of the mapping. Used for pages nothing reads again:
 * every parameter of an F16/BF16 file once hashed and converted (dropping them as we go keeps the
 * peak near the converted size), and the query/key/value weights once stacked. The mapping itself
 * stays valid (a later read would fault the page back in from the file). */
static void drop_pages(const void *p, size_t n)
{
    uintptr_t page = (uintptr_t)sysconf(_SC_PAGESIZE), lo = ((uintptr_t)p + page - 1) / page * page,
              hi = ((uintptr_t)p + n) / page * page;
    if (hi > lo)
        madvise((void *)lo, hi - lo, MADV_DONTNEED);
}

/* sha256 of the whole file, hashed in chunks so that pages can be dropped behind the hash. */
static void fingerprint(bert_model *m, bool drop)
{
    enum { CHUNK = 32 << 20 };
    sha256_ctx c;
    uint8_t d[32];
    const uint8_t *p = m->st.map;
    sha256_init(&c);
    for (size_t at = 0; at < m->st.map_size; at += CHUNK) {
        size_t n = m->st.map_size - at < CHUNK ? m->st.map_size - at : CHUNK;
        sha256_update(&c, p + at, n);
        if (drop)
            drop_pages(p + at, n);
    }
    sha256_final(&c, d);
    for (int i = 0; i < 32; i++)
        snprintf(m->fingerprint + 2 * i, 3, "%02x", d[i]);
}

static int materialize(bert_model *m, loader *ld, pt_err *err)
{
    bool zero_bias = !ld->has_bias;
    size_t total = ld->owned_floats + (zero_bias ? (size_t)m->cfg.vocab_size : 0);
    if (total && !(m->owned = calloc(total, sizeof(float))))
        return pt_fail(err, PT_ENOMEM, "out of memory for %zu MB of converted weights", total * sizeof(float) >> 20);
    for (int i = 0; i < ld->n_slots; i++) {
        slot *s = &ld->slots[i];
        if (s->owned_index < 0) {
            *s->dst = s->t->data;
            continue;
        }
        int rc = st_to_f32(s->t, m->owned + s->owned_index, err);
        if (rc)
            return rc;
        *s->dst = m->owned + s->owned_index;
        if (ld->all_converted)
            drop_pages(s->t->data, s->t->nbytes);
    }
    if (zero_bias)
        m->decoder_b = m->owned + ld->owned_floats;
    if (m->tied)
        m->decoder_w = m->word_emb;
    return 0;
}

/* Stacks each layer's query, key and value (weights and biases) into m->fused, the layout of one
 * [3H,H] GEMM, and drops the mapped pages of the originals: in an F32 file they would otherwise stay
 * resident next to the copy, and nothing reads them again. */
static int fuse_qkv(bert_model *m, pt_err *err)
{
    const size_t H = (size_t)m->cfg.hidden_size, per_layer = 3 * H * H + 3 * H;
    if (!(m->fused = malloc((size_t)m->cfg.num_layers * per_layer * sizeof(float))))
        return pt_fail(err, PT_ENOMEM, "out of memory for the stacked query/key/value weights");
    const uint8_t *map = m->st.map, *map_end = map + m->st.map_size;
    for (int l = 0; l < m->cfg.num_layers; l++) {
        bert_layer *L = &m->layers[l];
        float *w = m->fused + (size_t)l * per_layer, *b = w + 3 * H * H;
        const float **ws[3] = {&L->q_w, &L->k_w, &L->v_w}, **bs[3] = {&L->q_b, &L->k_b, &L->v_b};
        for (int j = 0; j < 3; j++) {
            const float *src_w = *ws[j], *src_b = *bs[j];
            memcpy(w + j * H * H, src_w, H * H * sizeof(float));
            memcpy(b + j * H, src_b, H * sizeof(float));
            if ((const uint8_t *)src_w >= map && (const uint8_t *)src_w < map_end)
                drop_pages(src_w, H * H * sizeof(float));
            *ws[j] = w + j * H * H;
            *bs[j] = b + j * H;
        }
        L->qkv_w = w;
        L->qkv_b = b;
    }
    return 0;
}

/* Finds and checks every parameter, fingerprints the file, then points or converts the parameters. */
static int resolve_tensors(bert_model *m, const char *path, pt_err *err)
{
    loader ld = {.m = m};
    ld.slots = calloc(SLOTS_FIXED + (size_t)SLOTS_PER_LAYER * (size_t)m->cfg.num_layers, sizeof *ld.slots);
    if (!ld.slots)
        return pt_fail(err, PT_ENOMEM, "out of memory");
    want_all(&ld);
    int rc = 0;
    if (ld.n_missing || ld.n_wrong) {
        rc = report_problems(&ld, path, err);
    } else {
        set_dtype(m, &ld);
        ld.all_converted = true;
        for (int i = 0; i < ld.n_slots; i++)
            ld.all_converted &= ld.slots[i].owned_index >= 0;
        fingerprint(m, ld.all_converted);
        rc = materialize(m, &ld, err);
        if (!rc)
            rc = fuse_qkv(m, err);
    }
    free(ld.slots);
    return rc;
}

/* ---- the model directory ---- */

/* config.json is small; anything over this is not a config file. */
#define CONFIG_MAX (1 << 20)

static int read_config(const char *path, char **text, size_t *len, pt_err *err)
{
    FILE *f = fopen(path, "rb");
    if (!f)
        return pt_fail(err, errno == ENOENT ? PT_ENOTFOUND : PT_EIO, "%s: %s", path, strerror(errno));
    char *buf = malloc(CONFIG_MAX + 1);
    size_t n = buf ? fread(buf, 1, CONFIG_MAX + 1, f) : 0;
    int rc = 0;
    if (!buf)
        rc = pt_fail(err, PT_ENOMEM, "out of memory");
    else if (ferror(f))
        rc = pt_fail(err, PT_EIO, "%s: read error", path);
    else if (n > CONFIG_MAX)
        rc = pt_fail(err, PT_ELIMIT, "%s: larger than %d bytes", path, CONFIG_MAX);
    fclose(f);
    if (rc) {
        free(buf);
        return rc;
    }
    *text = buf;
    *len = n;
    return 0;
}

static void join(char *out, size_t cap, const char *dir, const char *file)
{
    size_t n = strlen(dir);
    snprintf(out, cap, "%s%s%s", dir, n && dir[n - 1] == '/' ? "" : "/", file);
}

static void set_name(bert_model *m, const char *dir)
{
    char *abs = realpath(dir, NULL);
    const char *p = abs ? abs : dir;
    const char *slash = strrchr(p, '/');
    snprintf(m->name, sizeof m->name, "%s", slash && slash[1] ? slash + 1 : p);
    free(abs);
}

static int load_config(bert_model *m, const char *dir, pt_err *err)
{
    char path[PATH_MAX], *text = NULL;
    size_t len = 0;
    join(path, sizeof path, dir, "config.json");
    int rc = read_config(path, &text, &len, err);
    if (rc)
        return rc;
    rc = bert_config_parse(&m->cfg, text, len, err);
    free(text);
    if (rc)
        return pt_err_prefix(err, "%s", dir);
    m->layers = calloc((size_t)m->cfg.num_layers, sizeof *m->layers);
    return m->layers ? 0 : pt_fail(err, PT_ENOMEM, "out of memory");
}

static int load_vocab(bert_model *m, const char *dir, pt_err *err)
{
    char vpath[PATH_MAX], cpath[PATH_MAX];
    join(vpath, sizeof vpath, dir, "vocab.txt");
    int rc = vocab_load(&m->vocab, vpath, err); /* refuses an empty file itself */
    if (rc)
        return rc;
    bool lower = true;
    join(cpath, sizeof cpath, dir, "tokenizer_config.json");
    if ((rc = tokenizer_read_config(cpath, &lower, err)))
        return rc;
    if ((rc = tokenizer_init(&m->tok, m->vocab, lower, err)))
        return pt_err_prefix(err, "%s", vpath);
    return 0;
}

static int load_weights(bert_model *m, const char *dir, pt_err *err)
{
    char path[PATH_MAX];
    join(path, sizeof path, dir, "model.safetensors");
    int rc = st_open(&m->st, path, err);
    if (rc)
        return rc;
    m->weights_bytes = m->st.map_size;
    if ((rc = resolve_tensors(m, path, err)))
        return rc;
    if (vocab_size(m->vocab) != m->cfg.vocab_size) {
        join(path, sizeof path, dir, "vocab.txt");
        return pt_fail(err, PT_EMISMATCH, "%s has %d tokens but the word embeddings have %d rows", path,
                       vocab_size(m->vocab), m->cfg.vocab_size);
    }
    return 0;
}

int bert_load(bert_model **out, const char *dir, pt_err *err)
{
    *out = NULL;
    bert_model *m = calloc(1, sizeof *m);
    if (!m)
        return pt_fail(err, PT_ENOMEM, "out of memory");
    int rc = load_config(m, dir, err);
    if (!rc)
        rc = load_vocab(m, dir, err);
    if (!rc)
        rc = load_weights(m, dir, err);
    if (rc) {
        bert_free(m);
        return rc;
    }
    set_name(m, dir);
    *out = m;
    return 0;
}

void bert_free(bert_model *m)
{
    if (!m)
        return;
    vocab_free(m->vocab);
    st_close(&m->st);
    free(m->owned);
    free(m->fused);
    free(m->layers);
    free(m);
}
