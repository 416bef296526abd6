/* ptune init-model — writes a random-weight BERT masked-LM in the Hugging Face layout.
 *
 * The output is a pure function of the options: the same options give the same bytes on every
 * platform. Weights are drawn in the order the tensors are listed below, each row-major, from one
 * splitmix64 stream seeded with --seed: every pair of outputs (a, b) gives u1 = ((a >> 11) + 1) * 2^-53
 * in (0, 1] and u2 = (b >> 11) * 2^-53 in [0, 1), and Box-Muller turns them into two normals,
 * sqrt(-2 ln u1) cos(2 pi u2) then sqrt(-2 ln u1) sin(2 pi u2), each scaled by --std. Every weight
 * and bias is drawn (biases too, so that a test on a generated model sees every parameter at work);
 * LayerNorm gammas are 1 and betas 0. The decoder is tied to the word embeddings (no
 * cls.predictions.decoder.weight) and cls.predictions.bias is present.
 */
#include <errno.h>
#include <jansson.h>
#include <limits.h>
#include <math.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "cli.h"
#include "err.h"
#include "fileio.h"
#include "safetensors.h"
#include "vocab.h"

typedef struct opts {
    const char *out, *vocab_file;
    bool cjk_vocab;
    int layers, hidden, heads, intermediate, max_pos, type_vocab;
    uint64_t seed;
    bool have_seed;
    double std;
    st_dtype dtype;
} opts;

static const char usage_text[] =
    "usage: ptune init-model --out DIR --layers L --hidden H --heads A --intermediate I\n"
    "                        (--vocab FILE | --cjk-vocab) --seed S [--std X] [--dtype f32|f16|bf16]\n"
    "                        [--max-pos P] [--type-vocab T]\n"
    "Writes DIR/config.json, vocab.txt, tokenizer_config.json and model.safetensors: a BertForMaskedLM\n"
    "with weights ~ normal(0, X) (default 0.02) from a splitmix64 + Box-Muller stream seeded with S,\n"
    "LayerNorm gamma 1 and beta 0, decoder tied to the word embeddings. --cjk-vocab writes a vocabulary\n"
    "laid out like bert-base-chinese ([PAD], [unused1..99], [UNK] [CLS] [SEP] [MASK], ASCII, CJK\n"
    "punctuation, ideographs U+4E00..U+9FA5, ## pieces). Defaults: --max-pos 512, --type-vocab 2, --dtype f32.\n";

/* ---- deterministic normal stream ---- */

typedef struct normal_stream {
    uint64_t state;
    double spare;
    bool has_spare;
} normal_stream;

static uint64_t splitmix64(uint64_t *s)
{
    uint64_t z = (*s += 0x9e3779b97f4a7c15ull);
    z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ull;
    z = (z ^ (z >> 27)) * 0x94d049bb133111ebull;
    return z ^ (z >> 31);
}

static double normal_next(normal_stream *ns)
{
    if (ns->has_spare) {
        ns->has_spare = false;
        return ns->spare;
    }
    double u1 = (double)((splitmix64(&ns->state) >> 11) + 1) * 0x1p-53;
    double u2 = (double)(splitmix64(&ns->state) >> 11) * 0x1p-53;
    double r = sqrt(-2.0 * log(u1)), th = 2.0 * M_PI * u2;
    ns->spare = r * sin(th);
    ns->has_spare = true;
    return r * cos(th);
}

/* ---- options ---- */

static int parse_int(const char *flag, const char *s, int lo, int hi, int *out)
{
    char *end;
    errno = 0;
    long v = strtol(s, &end, 10);
    if (errno || end == s || *end || v < lo || v > hi) {
        fprintf(stderr, "ptune init-model: %s must be an integer in %d..%d, not '%s'\n", flag, lo, hi, s);
        return -1;
    }
    *out = (int)v;
    return 0;
}

static int parse_value(opts *o, const char *flag, const char *val)
{
    static const struct {
        const char *flag;
        size_t off;
        int lo, hi;
    } ints[] = {
        {"--layers", offsetof(opts, layers), 1, 1024},
        {"--hidden", offsetof(opts, hidden), 1, 65536},
        {"--heads", offsetof(opts, heads), 1, 65536},
        {"--intermediate", offsetof(opts, intermediate), 1, 1 << 20},
        {"--max-pos", offsetof(opts, max_pos), 1, 1 << 20},
        {"--type-vocab", offsetof(opts, type_vocab), 1, 1 << 16},
    };
    for (size_t i = 0; i < sizeof ints / sizeof ints[0]; i++)
        if (!strcmp(flag, ints[i].flag))
            return parse_int(flag, val, ints[i].lo, ints[i].hi, (int *)((char *)o + ints[i].off));
    char *end;
    if (!strcmp(flag, "--out")) {
        o->out = val;
    } else if (!strcmp(flag, "--vocab")) {
        o->vocab_file = val;
    } else if (!strcmp(flag, "--seed")) {
        errno = 0;
        o->seed = strtoull(val, &end, 10);
        if (errno || end == val || *end || *val == '-') {
            fprintf(stderr, "ptune init-model: --seed must be a non-negative integer, not '%s'\n", val);
            return -1;
        }
        o->have_seed = true;
    } else if (!strcmp(flag, "--std")) {
        o->std = strtod(val, &end);
        if (end == val || *end || !(o->std > 0) || !isfinite(o->std)) {
            fprintf(stderr, "ptune init-model: --std must be a positive number, not '%s'\n", val);
            return -1;
        }
    } else if (!strcmp(flag, "--dtype")) {
        if (!strcmp(val, "f32"))
            o->dtype = ST_F32;
        else if (!strcmp(val, "f16"))
            o->dtype = ST_F16;
        else if (!strcmp(val, "bf16"))
            o->dtype = ST_BF16;
        else {
            fprintf(stderr, "ptune init-model: --dtype must be f32, f16 or bf16, not '%s'\n", val);
            return -1;
        }
    } else {
        fprintf(stderr, "ptune init-model: unknown option '%s'\n%s", flag, usage_text);
        return -1;
    }
    return 0;
}

/* Returns 0 to go on, or the exit code (0 after --help). */
static int parse_args(opts *o, int argc, char **argv, int *exit_code)
{
    *o = (opts){.std = 0.02, .dtype = ST_F32, .max_pos = 512, .type_vocab = 2};
    for (int i = 1; i < argc; i++) {
        if (!strcmp(argv[i], "--help") || !strcmp(argv[i], "-h")) {
            fputs(usage_text, stdout);
            *exit_code = 0;
            return -1;
        }
        if (!strcmp(argv[i], "--cjk-vocab")) {
            o->cjk_vocab = true;
            continue;
        }
        if (i + 1 >= argc) {
            fprintf(stderr, "ptune init-model: %s needs a value\n", argv[i]);
            *exit_code = 2;
            return -1;
        }
        if (parse_value(o, argv[i], argv[i + 1])) {
            *exit_code = 2;
            return -1;
        }
        i++;
    }
    const char *problem = NULL;
    char buf[64];
    const struct {
        bool given;
        const char *flag;
    } required[] = {{o->out, "--out"},     {o->layers, "--layers"},           {o->hidden, "--hidden"},
                    {o->heads, "--heads"}, {o->intermediate, "--intermediate"}, {o->have_seed, "--seed"}};
    for (size_t i = 0; i < sizeof required / sizeof required[0] && !problem; i++)
        if (!required[i].given) {
            snprintf(buf, sizeof buf, "%s is required", required[i].flag);
            problem = buf;
        }
    if (!problem && !o->vocab_file == !o->cjk_vocab)
        problem = "give exactly one of --vocab FILE and --cjk-vocab";
    if (!problem && o->hidden % o->heads)
        problem = "--hidden must be divisible by --heads";
    if (problem) {
        fprintf(stderr, "ptune init-model: %s\n%s", problem, usage_text);
        *exit_code = 2;
        return -1;
    }
    return 0;
}

/* ---- files ---- */

static int write_json(const char *path, json_t *j, pt_err *err)
{
    char *text = json_dumps(j, JSON_INDENT(2) | JSON_REAL_PRECISION(7));
    json_decref(j);
    if (!text)
        return pt_fail(err, PT_ENOMEM, "out of memory");
    size_t n = strlen(text);
    text[n] = '\n';
    int rc = fileio_write_atomic(path, text, n + 1, err);
    free(text);
    return rc;
}

static void put(char **buf, size_t *len, size_t *cap, const char *s)
{
    size_t n = strlen(s);
    if (*len + n + 2 > *cap) {
        *cap = (*len + n + 2) * 2;
        char *nb = realloc(*buf, *cap);
        if (!nb) {
            free(*buf);
            *buf = NULL;
            *cap = 0;
            return;
        }
        *buf = nb;
    }
    if (*buf) {
        memcpy(*buf + *len, s, n);
        (*buf)[*len + n] = '\n';
        *len += n + 1;
    }
}

static void utf8(uint32_t cp, char out[5])
{
    if (cp < 0x80) {
        out[0] = (char)cp, out[1] = 0;
    } else if (cp < 0x800) {
        out[0] = (char)(0xc0 | cp >> 6), out[1] = (char)(0x80 | (cp & 0x3f)), out[2] = 0;
    } else {
        out[0] = (char)(0xe0 | cp >> 12), out[1] = (char)(0x80 | ((cp >> 6) & 0x3f));
        out[2] = (char)(0x80 | (cp & 0x3f)), out[3] = 0;
    }
}

/* The project's own vocabulary, laid out like bert-base-chinese's (same ids for the specials). Upper-case
 * ASCII is left out because the tokenizer lower-cases first (do_lower_case is true); the CJK
 * punctuation is what the shared Chinese data sets use most. */
static char *cjk_vocab(size_t *len)
{
    static const uint32_t cjk_punct[] = {0x00b7, 0x2014, 0x2018, 0x2019, 0x201c, 0x201d, 0x2026, 0x3001,
                                         0x3002, 0x300a, 0x300b, 0x300c, 0x300d, 0x300e, 0x300f, 0x3010,
                                         0x3011, 0xff01, 0xff08, 0xff09, 0xff0c, 0xff0e, 0xff1a, 0xff1b,
                                         0xff1f, 0xff5e, 0xffe3};
    size_t cap = 1 << 17;
    char *buf = malloc(cap), item[32];
    *len = 0;
    put(&buf, len, &cap, "[PAD]");
    for (int i = 1; i <= 99; i++) {
        snprintf(item, sizeof item, "[unused%d]", i);
        put(&buf, len, &cap, item);
    }
    put(&buf, len, &cap, "[UNK]");
    put(&buf, len, &cap, "[CLS]");
    put(&buf, len, &cap, "[SEP]");
    put(&buf, len, &cap, "[MASK]");
    for (uint32_t c = 33; c <= 126; c++)
        if (c < 'A' || c > 'Z') {
            utf8(c, item);
            put(&buf, len, &cap, item);
        }
    for (size_t i = 0; i < sizeof cjk_punct / sizeof cjk_punct[0]; i++) {
        utf8(cjk_punct[i], item);
        put(&buf, len, &cap, item);
    }
    for (uint32_t c = 0x4e00; c <= 0x9fa5; c++) {
        utf8(c, item);
        put(&buf, len, &cap, item);
    }
    for (const char *p = "abcdefghijklmnopqrstuvwxyz0123456789"; *p; p++) {
        snprintf(item, sizeof item, "##%c", *p);
        put(&buf, len, &cap, item);
    }
    return buf;
}

static char *vocab_text(const opts *o, size_t *len, pt_err *err)
{
    if (o->cjk_vocab) {
        char *v = cjk_vocab(len);
        if (!v)
            pt_fail(err, PT_ENOMEM, "out of memory");
        return v;
    }
    FILE *f = fopen(o->vocab_file, "rb");
    if (!f) {
        pt_fail(err, PT_EIO, "%s: %s", o->vocab_file, strerror(errno));
        return NULL;
    }
    char *v = cli_read_all(f, len);
    fclose(f);
    if (!v)
        pt_fail(err, PT_EIO, "%s: read error", o->vocab_file);
    return v;
}

static json_t *config_json(const opts *o, int n_vocab)
{
    return json_pack("{s:[s], s:s, s:i, s:i, s:i, s:i, s:i, s:i, s:i, s:f, s:s, s:f, s:f, s:f, s:i}", "architectures",
                     "BertForMaskedLM", "model_type", "bert", "vocab_size", n_vocab, "hidden_size", o->hidden,
                     "num_hidden_layers", o->layers, "num_attention_heads", o->heads, "intermediate_size",
                     o->intermediate, "max_position_embeddings", o->max_pos, "type_vocab_size", o->type_vocab,
                     "layer_norm_eps", 1e-12, "hidden_act", "gelu", "hidden_dropout_prob", 0.1,
                     "attention_probs_dropout_prob", 0.1, "initializer_range", o->std, "pad_token_id", 0);
}

/* ---- weights ---- */

typedef struct plan {
    st_wtensor *t;
    char (*names)[96];
    int n;
    size_t floats;
} plan;

static void add(plan *p, const opts *o, const char *name, int64_t d0, int64_t d1)
{
    st_wtensor *t = &p->t[p->n];
    snprintf(p->names[p->n], sizeof p->names[0], "%s", name);
    *t = (st_wtensor){.name = p->names[p->n], .dtype = o->dtype, .ndim = d1 ? 2 : 1, .shape = {d0, d1}};
    p->floats += (size_t)d0 * (size_t)(d1 ? d1 : 1);
    p->n++;
}

static void add_layer(plan *p, const opts *o, int l)
{
    const int64_t H = o->hidden, I = o->intermediate;
    const struct {
        const char *name;
        int64_t d0, d1;
    } ps[] = {
        {"attention.self.query.weight", H, H},     {"attention.self.query.bias", H, 0},
        {"attention.self.key.weight", H, H},       {"attention.self.key.bias", H, 0},
        {"attention.self.value.weight", H, H},     {"attention.self.value.bias", H, 0},
        {"attention.output.dense.weight", H, H},   {"attention.output.dense.bias", H, 0},
        {"attention.output.LayerNorm.weight", H, 0}, {"attention.output.LayerNorm.bias", H, 0},
        {"intermediate.dense.weight", I, H},       {"intermediate.dense.bias", I, 0},
        {"output.dense.weight", H, I},             {"output.dense.bias", H, 0},
        {"output.LayerNorm.weight", H, 0},         {"output.LayerNorm.bias", H, 0},
    };
    for (size_t i = 0; i < sizeof ps / sizeof ps[0]; i++) {
        char name[96];
        snprintf(name, sizeof name, "bert.encoder.layer.%d.%s", l, ps[i].name);
        add(p, o, name, ps[i].d0, ps[i].d1);
    }
}

static void plan_tensors(plan *p, const opts *o, int n_vocab)
{
    const int64_t H = o->hidden;
    add(p, o, "bert.embeddings.word_embeddings.weight", n_vocab, H);
    add(p, o, "bert.embeddings.position_embeddings.weight", o->max_pos, H);
    add(p, o, "bert.embeddings.token_type_embeddings.weight", o->type_vocab, H);
    add(p, o, "bert.embeddings.LayerNorm.weight", H, 0);
    add(p, o, "bert.embeddings.LayerNorm.bias", H, 0);
    for (int l = 0; l < o->layers; l++)
        add_layer(p, o, l);
    add(p, o, "cls.predictions.transform.dense.weight", H, H);
    add(p, o, "cls.predictions.transform.dense.bias", H, 0);
    add(p, o, "cls.predictions.transform.LayerNorm.weight", H, 0);
    add(p, o, "cls.predictions.transform.LayerNorm.bias", H, 0);
    add(p, o, "cls.predictions.bias", n_vocab, 0);
}

static void fill(plan *p, float *data, const opts *o)
{
    normal_stream ns = {.state = o->seed};
    float *at = data;
    for (int i = 0; i < p->n; i++) {
        st_wtensor *t = &p->t[i];
        size_t n = (size_t)t->shape[0] * (size_t)(t->ndim == 2 ? t->shape[1] : 1);
        size_t len = strlen(t->name);
        bool gamma = len > 16 && !strcmp(t->name + len - 16, "LayerNorm.weight");
        bool beta = len > 14 && !strcmp(t->name + len - 14, "LayerNorm.bias");
        for (size_t k = 0; k < n; k++)
            at[k] = gamma ? 1.0f : beta ? 0.0f : (float)(o->std * normal_next(&ns));
        t->data = at;
        at += n;
    }
}

static int write_weights(const opts *o, int n_vocab, const char *path, long long *n_params, pt_err *err)
{
    int max = 16 + 16 * o->layers;
    plan p = {.t = calloc((size_t)max, sizeof *p.t), .names = calloc((size_t)max, sizeof *p.names)};
    float *data = NULL;
    int rc;
    if (!p.t || !p.names) {
        rc = pt_fail(err, PT_ENOMEM, "out of memory");
        goto out;
    }
    plan_tensors(&p, o, n_vocab);
    if (!(data = malloc(p.floats * sizeof *data))) {
        rc = pt_fail(err, PT_ENOMEM, "out of memory for %zu parameters", p.floats);
        goto out;
    }
    fill(&p, data, o);
    char gen[160];
    snprintf(gen, sizeof gen, "ptune init-model --seed %llu --std %.9g", (unsigned long long)o->seed, o->std);
    const char *meta[] = {"format", "pt", "generator", gen, NULL};
    rc = st_write(path, p.t, p.n, meta, err);
    *n_params = (long long)p.floats;
out:
    free(data);
    free(p.t);
    free(p.names);
    return rc;
}

static int run(const opts *o, pt_err *err)
{
    if (mkdir(o->out, 0755) && errno != EEXIST)
        return pt_fail(err, PT_EIO, "%s: cannot create directory: %s", o->out, strerror(errno));
    size_t vlen = 0;
    char *vtext = vocab_text(o, &vlen, err), path[PATH_MAX];
    if (!vtext)
        return err->code;
    vocab *v = NULL;
    int rc = vocab_parse(&v, vtext, vlen, err);
    int n_vocab = rc ? 0 : vocab_size(v);
    vocab_free(v);
    if (!rc && n_vocab == 0)
        rc = pt_fail(err, PT_EFORMAT, "the vocabulary is empty");
    if (!rc) {
        snprintf(path, sizeof path, "%s/vocab.txt", o->out);
        rc = fileio_write_atomic(path, vtext, vlen, err);
    }
    free(vtext);
    if (rc)
        return rc;
    snprintf(path, sizeof path, "%s/tokenizer_config.json", o->out);
    if ((rc = write_json(path, json_pack("{s:b}", "do_lower_case", 1), err)))
        return rc;
    snprintf(path, sizeof path, "%s/config.json", o->out);
    if ((rc = write_json(path, config_json(o, n_vocab), err)))
        return rc;
    snprintf(path, sizeof path, "%s/model.safetensors", o->out);
    long long n_params = 0;
    if ((rc = write_weights(o, n_vocab, path, &n_params, err)))
        return rc;
    json_t *summary = json_pack("{s:s, s:i, s:I, s:s}", "out", o->out, "vocab_size", n_vocab, "parameters",
                                (json_int_t)n_params, "dtype", st_dtype_name(o->dtype));
    if (summary) {
        json_dumpf(summary, stdout, JSON_COMPACT);
        putchar('\n');
    }
    json_decref(summary);
    return 0;
}

int cmd_init_model(int argc, char **argv)
{
    opts o;
    int code = 0;
    if (parse_args(&o, argc, argv, &code))
        return code;
    pt_err err;
    pt_err_clear(&err);
    if (run(&o, &err)) {
        fprintf(stderr, "ptune init-model: %s\n", err.msg);
        return 1;
    }
    return 0;
}
