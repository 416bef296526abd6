#include "train.h"

#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "classify.h"
#include "rng.h"

/* ---- config ---- */

void train_config_init(train_config *c)
{
    memset(c, 0, sizeof *c);
    c->encoder = PROMPT_NONE;
    c->encoder_hidden = 128;
    c->loss = TRAIN_LOSS_CLASS;
    c->epochs = 10;
    c->batch_size = 8;
    c->lr = 1e-2;
    c->beta1 = 0.9;
    c->beta2 = 0.999;
    c->weight_decay = 0.01;
    c->warmup = 0.06;
    c->max_grad_norm = 1.0;
    c->max_seq_len = 128;
    c->patience = 0;
    c->seed = 42;
}

void train_config_free(train_config *c)
{
    if (!c)
        return;
    free(c->template_src);
    free(c->init);
    verbalizer_free(&c->verb);
    memset(c, 0, sizeof *c);
}

static int key_fail(pt_err *err, const char *key, const char *fmt, ...) __attribute__((format(printf, 3, 4)));

static int key_fail(pt_err *err, const char *key, const char *fmt, ...)
{
    if (!err)
        return PT_EINVAL;
    char msg[sizeof err->msg];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(msg, sizeof msg, fmt, ap);
    va_end(ap);
    pt_fail(err, PT_EINVAL, "config key \"%s\": %s", key, msg);
    snprintf(err->field, sizeof err->field, "%s", key);
    return PT_EINVAL;
}

static int get_int(const json_t *v, const char *key, long long lo, long long hi, long long *out, pt_err *err)
{
    if (!json_is_integer(v) || json_integer_value(v) < lo || json_integer_value(v) > hi)
        return key_fail(err, key, "expected an integer in %lld..%lld", lo, hi);
    *out = json_integer_value(v);
    return 0;
}

/* lo_open / hi_open: whether the bound itself is excluded. */
static int get_num(const json_t *v, const char *key, double lo, bool lo_open, double hi, bool hi_open, double *out,
                   pt_err *err)
{
    double x = json_is_number(v) ? json_number_value(v) : NAN;
    if (!json_is_number(v) || !isfinite(x) || (lo_open ? x <= lo : x < lo) || (hi_open ? x >= hi : x > hi))
        return key_fail(err, key, "expected a number in %s%g, %g%s", lo_open ? "(" : "[", lo, hi, hi_open ? ")" : "]");
    *out = x;
    return 0;
}

static int get_str(const json_t *v, const char *key, char **out, pt_err *err)
{
    if (!json_is_string(v) || !json_string_length(v))
        return key_fail(err, key, "expected a non-empty string");
    free(*out);
    if (!(*out = strdup(json_string_value(v))))
        return pt_fail(err, PT_ENOMEM, "out of memory");
    return 0;
}

static int parse_key(train_config *c, const char *key, const json_t *v, pt_err *err)
{
    long long i;
    int rc;
    if (!strcmp(key, "template"))
        return get_str(v, key, &c->template_src, err);
    if (!strcmp(key, "verbalizer")) {
        verbalizer_free(&c->verb);
        if ((rc = verbalizer_from_json(&c->verb, v, err)) && err)
            snprintf(err->field, sizeof err->field, "verbalizer");
        return rc;
    }
    if (!strcmp(key, "encoder")) {
        if (!json_is_string(v) || prompt_kind_parse(json_string_value(v), &c->encoder))
            return key_fail(err, key, "expected \"none\", \"mlp\" or \"lstm\"");
        return 0;
    }
    if (!strcmp(key, "init")) {
        if (json_is_null(v)) {
            free(c->init);
            c->init = NULL;
            return 0;
        }
        return get_str(v, key, &c->init, err);
    }
    if (!strcmp(key, "loss")) {
        const char *s = json_string_value(v);
        if (s && !strcmp(s, "class"))
            c->loss = TRAIN_LOSS_CLASS;
        else if (s && !strcmp(s, "vocab"))
            c->loss = TRAIN_LOSS_VOCAB;
        else
            return key_fail(err, key, "expected \"class\" or \"vocab\"");
        return 0;
    }
    if (!strcmp(key, "betas")) {
        if (!json_is_array(v) || json_array_size(v) != 2)
            return key_fail(err, key, "expected [beta1, beta2], each in [0, 1)");
        if ((rc = get_num(json_array_get(v, 0), key, 0, false, 1, true, &c->beta1, err)))
            return rc;
        return get_num(json_array_get(v, 1), key, 0, false, 1, true, &c->beta2, err);
    }
    if (!strcmp(key, "lr"))
        return get_num(v, key, 0, true, 10, false, &c->lr, err);
    if (!strcmp(key, "weight_decay"))
        return get_num(v, key, 0, false, 1e3, false, &c->weight_decay, err);
    if (!strcmp(key, "warmup"))
        return get_num(v, key, 0, false, 1, true, &c->warmup, err);
    if (!strcmp(key, "max_grad_norm"))
        return get_num(v, key, 0, false, 1e9, false, &c->max_grad_norm, err);
    struct {
        const char *name;
        long long lo, hi;
        int *dst;
    } ints[] = {
        {"encoder_hidden", 1, 65536, &c->encoder_hidden}, {"epochs", 1, 10000, &c->epochs},
        {"batch_size", 1, 4096, &c->batch_size},          {"max_seq_len", 8, 65536, &c->max_seq_len},
        {"patience", 0, 10000, &c->patience},
    };
    for (size_t k = 0; k < sizeof ints / sizeof ints[0]; k++)
        if (!strcmp(key, ints[k].name)) {
            if ((rc = get_int(v, key, ints[k].lo, ints[k].hi, &i, err)))
                return rc;
            *ints[k].dst = (int)i;
            return 0;
        }
    if (!strcmp(key, "seed")) {
        if ((rc = get_int(v, key, 0, INT64_MAX, &i, err)))
            return rc;
        c->seed = (uint64_t)i;
        return 0;
    }
    return key_fail(err, key, "unknown key (expected template, verbalizer, encoder, encoder_hidden, init, loss, "
                              "epochs, batch_size, lr, betas, weight_decay, warmup, max_grad_norm, max_seq_len, "
                              "patience, seed)");
}

int train_config_parse(train_config *c, const json_t *obj, pt_err *err)
{
    train_config_init(c);
    if (!json_is_object(obj)) {
        train_config_free(c);
        return pt_fail(err, PT_EINVAL, "config: expected a JSON object");
    }
    const char *key;
    json_t *v;
    json_object_foreach((json_t *)obj, key, v) {
        int rc = parse_key(c, key, v, err);
        if (rc) {
            train_config_free(c);
            return rc;
        }
    }
    return 0;
}

json_t *train_config_to_json(const train_config *c)
{
    json_t *o = json_object();
    if (!o)
        return NULL;
    json_t *betas = json_pack("[ff]", c->beta1, c->beta2);
    int bad = json_object_set_new(o, "template", json_string(c->template_src ? c->template_src : TEMPLATE_DEFAULT));
    if (c->verb.n_labels)
        bad |= json_object_set_new(o, "verbalizer", verbalizer_to_json(&c->verb));
    bad |= json_object_set_new(o, "encoder", json_string(prompt_kind_name(c->encoder)));
    bad |= json_object_set_new(o, "encoder_hidden", json_integer(c->encoder_hidden));
    bad |= json_object_set_new(o, "init", c->init ? json_string(c->init) : json_null());
    bad |= json_object_set_new(o, "loss", json_string(c->loss == TRAIN_LOSS_CLASS ? "class" : "vocab"));
    bad |= json_object_set_new(o, "epochs", json_integer(c->epochs));
    bad |= json_object_set_new(o, "batch_size", json_integer(c->batch_size));
    bad |= json_object_set_new(o, "lr", json_real(c->lr));
    bad |= json_object_set_new(o, "betas", betas);
    bad |= json_object_set_new(o, "weight_decay", json_real(c->weight_decay));
    bad |= json_object_set_new(o, "warmup", json_real(c->warmup));
    bad |= json_object_set_new(o, "max_grad_norm", json_real(c->max_grad_norm));
    bad |= json_object_set_new(o, "max_seq_len", json_integer(c->max_seq_len));
    bad |= json_object_set_new(o, "patience", json_integer(c->patience));
    bad |= json_object_set_new(o, "seed", json_integer((json_int_t)c->seed));
    if (bad) {
        json_decref(o);
        return NULL;
    }
    return o;
}

int train_config_copy(train_config *dst, const train_config *src, pt_err *err)
{
    *dst = *src;
    dst->template_src = NULL;
    dst->init = NULL;
    memset(&dst->verb, 0, sizeof dst->verb);
    if ((src->template_src && !(dst->template_src = strdup(src->template_src))) ||
        (src->init && !(dst->init = strdup(src->init)))) {
        train_config_free(dst);
        return pt_fail(err, PT_ENOMEM, "out of memory copying a config");
    }
    if (src->verb.n_labels && verbalizer_copy(&dst->verb, &src->verb, err)) {
        train_config_free(dst);
        return err ? err->code : PT_ENOMEM;
    }
    return 0;
}

/* ---- checks against the backbone ---- */

static const char *template_of(const train_config *c)
{
    return c->template_src ? c->template_src : TEMPLATE_DEFAULT;
}

static int check_model(const train_config *c, const bert_model *m, pt_err *err)
{
    if (c->max_seq_len > m->cfg.max_position_embeddings)
        return key_fail(err, "max_seq_len", "%d is above the model's max_position_embeddings %d", c->max_seq_len,
                        m->cfg.max_position_embeddings);
    if (c->encoder == PROMPT_LSTM && m->cfg.hidden_size % 2)
        return key_fail(err, "encoder", "lstm needs an even hidden size, the model has %d", m->cfg.hidden_size);
    return 0;
}

/* The N x H starting point of the prompt encoder's embedding (see train.h, key "init"). */
static int make_init(const train_config *c, const bert_model *m, int n, float *init, pt_err *err)
{
    size_t H = (size_t)m->cfg.hidden_size;
    if (!c->init) {
        for (int k = 0; k < n; k++) {
            char name[32];
            snprintf(name, sizeof name, "[unused%d]", k + 1);
            int32_t id = vocab_id(m->vocab, name, strlen(name));
            if (id < 0 || id >= m->cfg.vocab_size)
                return key_fail(err, "init", "the vocabulary has no %s to start the prompt from; "
                                             "set \"init\" to \"random\" or to a text", name);
            memcpy(init + (size_t)k * H, m->word_emb + (size_t)id * H, H * sizeof *init);
        }
        return 0;
    }
    if (!strcmp(c->init, "random")) {
        /* The spread of real token embeddings, so that the prompt starts at their scale. */
        size_t total = (size_t)m->cfg.vocab_size * H;
        double sum = 0, sq = 0;
        for (size_t i = 0; i < total; i++) {
            sum += m->word_emb[i];
            sq += (double)m->word_emb[i] * m->word_emb[i];
        }
        double mean = sum / (double)total, sd = sqrt(fmax(sq / (double)total - mean * mean, 0));
        rng r;
        rng_seed(&r, c->seed ^ 0x5eedf00dULL);
        for (size_t i = 0; i < (size_t)n * H; i++)
            init[i] = (float)(sd * rng_normal(&r));
        return 0;
    }
    int32_t *ids;
    size_t len;
    int rc = tokenizer_encode(&m->tok, c->init, strlen(c->init), &ids, &len, err);
    if (rc) {
        if (err)
            snprintf(err->field, sizeof err->field, "init");
        return pt_err_prefix(err, "config key \"init\"");
    }
    if (!len) {
        free(ids);
        return key_fail(err, "init", "the text has no tokens");
    }
    for (int k = 0; k < n; k++)
        memcpy(init + (size_t)k * H, m->word_emb + (size_t)ids[(size_t)k % len] * H, H * sizeof *init);
    free(ids);
    return 0;
}

int train_config_check(const train_config *c, const bert_model *m, pt_err *err)
{
    int rc = check_model(c, m, err);
    if (rc)
        return rc;
    verbalizer probe;
    const verbalizer *v = &c->verb;
    if (!c->verb.n_labels) {
        /* Without a verbalizer the labels come with the data; a one-token word stands in for them. */
        const char *one[] = {"a"};
        if ((rc = verbalizer_from_labels(&probe, one, 1, err)))
            return rc;
        v = &probe;
    }
    template_task *t;
    rc = template_compile(&t, template_of(c), v, &m->tok, c->max_seq_len, err);
    if (v == &probe)
        verbalizer_free(&probe);
    if (rc)
        return rc;
    float *init = malloc((size_t)t->n_prompt * (size_t)m->cfg.hidden_size * sizeof *init);
    rc = init ? make_init(c, m, t->n_prompt, init, err) : pt_fail(err, PT_ENOMEM, "out of memory");
    free(init);
    template_free(t);
    return rc;
}

/* ---- the loop ---- */

typedef struct trainer {
    const bert_model *m;
    const train_config *c;
    train_progress_fn cb;
    void *user;
    template_task *t;
    verbalizer verb;
    int n_train;
    template_row *rows;   /* encoded training rows */
    int *gold;            /* their class indices */
    int *order;           /* this epoch's shuffled row indices */
    prompt_enc *enc;
    size_t nh;            /* n_prompt x H */
    float *vec, *dvec;    /* encoder output and d loss / d output */
    const template_row **batch; /* this step's rows */
    int *batch_gold;
    float *adam_m, *adam_v;
    bert_ws *ws;
    long step, total_steps, warmup_steps;
    double t0;
} trainer;

static double now(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + 1e-9 * (double)ts.tv_nsec;
}

static int cmp_str(const void *a, const void *b)
{
    return strcmp(*(const char *const *)a, *(const char *const *)b);
}

/* The task's labels: the config's verbalizer, or else the training labels sorted (so that the label order
 * does not depend on the row order). Every training label must be known. */
static int resolve_labels(trainer *tr, const tsv_row *train, int n, pt_err *err)
{
    int rc;
    if (tr->c->verb.n_labels) {
        if ((rc = verbalizer_copy(&tr->verb, &tr->c->verb, err)))
            return rc;
    } else {
        const char **names = malloc((size_t)n * sizeof *names);
        if (!names)
            return pt_fail(err, PT_ENOMEM, "out of memory");
        for (int i = 0; i < n; i++)
            names[i] = train[i].label;
        qsort(names, (size_t)n, sizeof *names, cmp_str);
        int k = 0;
        for (int i = 0; i < n; i++)
            if (!k || strcmp(names[k - 1], names[i]))
                names[k++] = names[i];
        rc = verbalizer_from_labels(&tr->verb, names, k, err);
        free(names);
        if (rc)
            return rc;
    }
    if (tr->verb.n_labels < 2)
        return pt_fail(err, PT_EINVAL, "the task has only one label (\"%s\"); a classifier needs at least two",
                       tr->verb.labels[0]);
    for (int i = 0; i < n; i++)
        if (verbalizer_index(&tr->verb, train[i].label) < 0) {
            if (err)
                err->line = train[i].line;
            return pt_fail(err, PT_EINVAL, "training line %ld: label \"%s\" is not in the verbalizer", train[i].line,
                           train[i].label);
        }
    return 0;
}

static int encode_train(trainer *tr, const tsv_row *train, long *truncated, pt_err *err)
{
    *truncated = 0;
    for (int i = 0; i < tr->n_train; i++) {
        int rc = template_encode(tr->t, train[i].text, strlen(train[i].text), &tr->rows[i], err);
        if (rc) {
            if (err)
                err->line = train[i].line;
            return pt_err_prefix(err, "training line %ld", train[i].line);
        }
        tr->gold[i] = verbalizer_index(&tr->verb, train[i].label);
        *truncated += tr->rows[i].truncated > 0;
    }
    return 0;
}

static int alloc_trainer(trainer *tr, pt_err *err)
{
    size_t B = (size_t)(tr->c->batch_size < tr->n_train ? tr->c->batch_size : tr->n_train);
    size_t P = prompt_n_params(tr->enc);
    tr->nh = (size_t)tr->t->n_prompt * (size_t)tr->m->cfg.hidden_size;
    tr->order = malloc((size_t)tr->n_train * sizeof *tr->order);
    tr->vec = malloc(tr->nh * sizeof *tr->vec);
    tr->dvec = malloc(tr->nh * sizeof *tr->dvec);
    tr->batch = malloc(B * sizeof *tr->batch);
    tr->batch_gold = malloc(B * sizeof *tr->batch_gold);
    tr->adam_m = calloc(P, sizeof *tr->adam_m);
    tr->adam_v = calloc(P, sizeof *tr->adam_v);
    tr->ws = bert_ws_new();
    if (!tr->order || !tr->vec || !tr->dvec || !tr->batch || !tr->batch_gold || !tr->adam_m || !tr->adam_v ||
        !tr->ws)
        return pt_fail(err, PT_ENOMEM, "out of memory for training buffers (batch %zu)", B);
    for (int i = 0; i < tr->n_train; i++)
        tr->order[i] = i;
    return 0;
}

static void free_trainer(trainer *tr)
{
    for (int i = 0; tr->rows && i < tr->n_train; i++)
        template_row_free(&tr->rows[i]);
    free(tr->rows);
    free(tr->gold);
    free(tr->order);
    free(tr->vec);
    free(tr->dvec);
    free(tr->batch);
    free(tr->batch_gold);
    free(tr->adam_m);
    free(tr->adam_v);
    bert_ws_free(tr->ws);
    prompt_free(tr->enc);
    template_free(tr->t);
    verbalizer_free(&tr->verb);
}

/* Cross-entropy over the class scores. d s_c / d logits[m, v] = [v = word token] - softmax_m(v), and the
 * softmax term cancels because the class gradients sum to zero, so d_logits is sparse: only the tokens of
 * each class's best word receive (p_c - [c = gold]) * scale. Returns the row's loss. */
static double class_loss(const template_task *t, const float *logits, size_t V, int gold, double scale,
                         float *d_logits, float *scores, int *best_word)
{
    int L = t->n_labels;
    template_score(t, logits, (int)V, scores, best_word);
    double mx = scores[0];
    for (int c = 1; c < L; c++)
        mx = fmax(mx, scores[c]);
    double sum = 0;
    for (int c = 0; c < L; c++)
        sum += exp(scores[c] - mx);
    double lse = mx + log(sum);
    for (int c = 0; c < L; c++) {
        double g = (exp(scores[c] - lse) - (c == gold)) * scale;
        const int32_t *ids = t->word_ids + (size_t)(t->word_start[c] + best_word[c]) * (size_t)t->n_mask;
        for (int m = 0; m < t->n_mask; m++)
            d_logits[(size_t)m * V + (size_t)ids[m]] += (float)g;
    }
    return lse - scores[gold];
}

/* Full-vocabulary cross-entropy of the gold label's first word at each mask position; the gradient is
 * scaled by scale / n_mask (the loss is a mean over mask positions). Returns the row's loss. */
static double vocab_loss(const template_task *t, const float *logits, size_t V, int gold, double scale,
                         float *d_logits)
{
    const int32_t *ids = t->word_ids + (size_t)t->word_start[gold] * (size_t)t->n_mask;
    double loss = 0, s = scale / t->n_mask;
    for (int m = 0; m < t->n_mask; m++) {
        const float *x = logits + (size_t)m * V;
        float *d = d_logits + (size_t)m * V;
        float mx = x[0];
        for (size_t v = 1; v < V; v++)
            mx = x[v] > mx ? x[v] : mx;
        double sum = 0;
        for (size_t v = 0; v < V; v++)
            sum += exp((double)x[v] - mx);
        double lse = mx + log(sum);
        for (size_t v = 0; v < V; v++)
            d[v] += (float)(exp((double)x[v] - lse) * s);
        d[ids[m]] -= (float)s;
        loss += lse - x[ids[m]];
    }
    return loss / t->n_mask;
}

int train_batch_loss(const bert_model *m, bert_ws *ws, const template_task *t, train_loss loss,
                     const template_row *const *rows, const int *gold, int n, const float *vec, double *loss_out,
                     float *d_vec, pt_err *err)
{
    size_t V = (size_t)m->cfg.vocab_size, per_row = (size_t)t->n_mask * V, L = (size_t)t->n_labels;
    size_t nh = (size_t)t->n_prompt * (size_t)m->cfg.hidden_size, N = (size_t)n;
    bert_row *brows = calloc(N, sizeof *brows);
    float *logits = malloc(N * per_row * sizeof *logits), *d_logits = calloc(N * per_row, sizeof *d_logits);
    float *d_prompt = malloc(N * nh * sizeof *d_prompt), **d_ptr = malloc(N * sizeof *d_ptr);
    float *scores = malloc(L * sizeof *scores);
    int *best_word = malloc(L * sizeof *best_word);
    int rc = 0;
    if (!brows || !logits || !d_logits || !d_prompt || !d_ptr || !scores || !best_word)
        rc = pt_fail(err, PT_ENOMEM, "out of memory for a batch of %d rows", n);
    for (int i = 0; !rc && i < n; i++) {
        template_row_bert(t, rows[i], vec, &brows[i]);
        d_ptr[i] = d_prompt + (size_t)i * nh;
    }
    if (!rc)
        rc = bert_forward_train(m, ws, brows, n, logits, err);
    double total = 0;
    for (int i = 0; !rc && i < n; i++) {
        const float *x = logits + (size_t)i * per_row;
        float *d = d_logits + (size_t)i * per_row;
        total += loss == TRAIN_LOSS_CLASS ? class_loss(t, x, V, gold[i], 1.0 / n, d, scores, best_word)
                                          : vocab_loss(t, x, V, gold[i], 1.0 / n, d);
    }
    if (!rc)
        rc = bert_backward(m, ws, d_logits, d_ptr, err);
    if (!rc) {
        /* Every row shares the same prompt vectors: their gradients add up. */
        memset(d_vec, 0, nh * sizeof *d_vec);
        for (int i = 0; i < n; i++)
            for (size_t k = 0; k < nh; k++)
                d_vec[k] += d_ptr[i][k];
        *loss_out = total / n;
    }
    free(brows);
    free(logits);
    free(d_logits);
    free(d_prompt);
    free(d_ptr);
    free(scores);
    free(best_word);
    return rc;
}

/* Linear warmup to lr over warmup_steps, then linear decay towards 0; no step runs at lr 0. */
static double lr_at(const trainer *tr, long s)
{
    long T = tr->total_steps, W = tr->warmup_steps;
    double f = s < W ? (double)(s + 1) / (double)W : (double)(T - s) / (double)(T - W);
    return tr->c->lr * f;
}

/* Gradient-norm clipping, then AdamW (PyTorch's: bias-corrected moments, decoupled weight decay). */
static void optimizer_step(trainer *tr)
{
    const train_config *c = tr->c;
    size_t P = prompt_n_params(tr->enc);
    float *p = prompt_params(tr->enc), *g = prompt_grads(tr->enc);
    double norm = 0;
    for (size_t i = 0; i < P; i++)
        norm += (double)g[i] * g[i];
    norm = sqrt(norm);
    double clip = (c->max_grad_norm > 0 && norm > c->max_grad_norm) ? c->max_grad_norm / (norm + 1e-6) : 1.0;
    double lr = lr_at(tr, tr->step);
    long t = tr->step + 1;
    double bc1 = 1.0 - pow(c->beta1, (double)t), bc2 = 1.0 - pow(c->beta2, (double)t);
    for (size_t i = 0; i < P; i++) {
        double gi = g[i] * clip;
        tr->adam_m[i] = (float)(c->beta1 * tr->adam_m[i] + (1 - c->beta1) * gi);
        tr->adam_v[i] = (float)(c->beta2 * tr->adam_v[i] + (1 - c->beta2) * gi * gi);
        double upd = (tr->adam_m[i] / bc1) / (sqrt(tr->adam_v[i] / bc2) + 1e-8);
        p[i] = (float)(p[i] * (1.0 - lr * c->weight_decay) - lr * upd);
    }
    tr->step++;
}

/* One optimizer step over the rows idx[0 .. b). Adds the rows' losses to *loss_sum. */
static int train_step(trainer *tr, const int *idx, int b, double *loss_sum, pt_err *err)
{
    for (int i = 0; i < b; i++) {
        tr->batch[i] = &tr->rows[idx[i]];
        tr->batch_gold[i] = tr->gold[idx[i]];
    }
    prompt_forward(tr->enc, tr->vec);
    double loss;
    int rc = train_batch_loss(tr->m, tr->ws, tr->t, tr->c->loss, tr->batch, tr->batch_gold, b, tr->vec, &loss,
                              tr->dvec, err);
    if (rc)
        return rc;
    *loss_sum += loss * b;
    prompt_zero_grad(tr->enc);
    prompt_backward(tr->enc, tr->dvec);
    optimizer_step(tr);
    return 0;
}

static int report(trainer *tr, train_progress *p, pt_err *err)
{
    p->step = tr->step;
    p->total_steps = tr->total_steps;
    p->elapsed = now() - tr->t0;
    p->eta = tr->step ? p->elapsed / (double)tr->step * (double)(tr->total_steps - tr->step) : 0;
    if (tr->cb && tr->cb(p, tr->user))
        return pt_fail(err, PT_ECANCELLED, "training cancelled after step %ld of %ld (epoch %d)", tr->step,
                       tr->total_steps, p->epoch);
    return 0;
}

static int setup(trainer *tr, const tsv_row *train, long *truncated, pt_err *err)
{
    const train_config *c = tr->c;
    int rc = check_model(c, tr->m, err);
    if (!rc)
        rc = resolve_labels(tr, train, tr->n_train, err);
    if (!rc)
        rc = template_compile(&tr->t, template_of(c), &tr->verb, &tr->m->tok, c->max_seq_len, err);
    if (rc)
        return rc;
    tr->rows = calloc((size_t)tr->n_train, sizeof *tr->rows);
    tr->gold = malloc((size_t)tr->n_train * sizeof *tr->gold);
    if (!tr->rows || !tr->gold)
        return pt_fail(err, PT_ENOMEM, "out of memory for %d training rows", tr->n_train);
    if ((rc = encode_train(tr, train, truncated, err)))
        return rc;
    int H = tr->m->cfg.hidden_size;
    float *init = malloc((size_t)tr->t->n_prompt * (size_t)H * sizeof *init);
    if (!init)
        return pt_fail(err, PT_ENOMEM, "out of memory");
    rc = make_init(c, tr->m, tr->t->n_prompt, init, err);
    if (!rc)
        rc = prompt_new(&tr->enc, c->encoder, tr->t->n_prompt, H, c->encoder_hidden, init, c->seed, err);
    free(init);
    if (rc)
        return rc;
    long per_epoch = (tr->n_train + c->batch_size - 1) / c->batch_size;
    tr->total_steps = per_epoch * c->epochs;
    tr->warmup_steps = (long)ceil(c->warmup * (double)tr->total_steps);
    if (tr->warmup_steps >= tr->total_steps)
        tr->warmup_steps = tr->total_steps - 1;
    return alloc_trainer(tr, err);
}

/* One pass over the rows in a fresh shuffled order, reporting after every step. */
static int run_epoch(trainer *tr, rng *shuffle, train_progress *p, long *steps, pt_err *err)
{
    int n = tr->n_train, bs = tr->c->batch_size, rc = 0;
    double loss_sum = 0;
    long rows_done = 0;
    rng_shuffle(shuffle, tr->order, n);
    for (int start = 0; !rc && start < n; start += bs) {
        int b = n - start < bs ? n - start : bs;
        if ((rc = train_step(tr, tr->order + start, b, &loss_sum, err)))
            break;
        rows_done += b;
        ++*steps;
        p->loss = loss_sum / (double)rows_done;
        rc = report(tr, p, err);
    }
    return rc;
}

/* What survives the epochs: the best prompt so far and how long ago it improved. */
typedef struct keeper {
    float *best;
    double best_f1;
    int stale;
} keeper;

/* Evaluates the epoch's prompt on the dev rows (if any), keeps it when its macro-F1 beats every earlier
 * epoch (always, without dev rows), records the epoch in the curve and reports the epoch's end. */
static int finish_epoch(trainer *tr, const tsv_row *dev, int n_dev, train_progress *p, train_epoch *ep,
                        train_result *res, keeper *k, pt_err *err)
{
    prompt_forward(tr->enc, tr->vec);
    bool improved = true;
    metrics dm;
    memset(&dm, 0, sizeof dm);
    if (n_dev > 0) {
        int rc = classify_eval(tr->m, tr->ws, tr->t, &tr->verb, tr->vec, dev, n_dev, &dm, &res->dev_truncated, err);
        if (rc)
            return rc;
        ep->dev_accuracy = dm.accuracy;
        ep->dev_macro_f1 = dm.macro_f1;
        ep->dev_weighted_f1 = dm.weighted_f1;
        improved = dm.macro_f1 > k->best_f1;
    }
    if (improved) {
        k->best_f1 = dm.macro_f1;
        k->stale = 0;
        memcpy(k->best, tr->vec, tr->nh * sizeof *k->best);
        res->best_epoch = p->epoch;
        metrics_free(&res->dev);
        res->dev = dm;
        memset(&dm, 0, sizeof dm);
    } else {
        k->stale++;
    }
    p->epoch_end = true;
    p->dev = n_dev > 0 ? (improved ? &res->dev : &dm) : NULL;
    p->best_epoch = res->best_epoch;
    int rc = report(tr, p, err);
    metrics_free(&dm);
    return rc;
}

int train_run(const bert_model *m, const tsv_row *train, int n_train, const tsv_row *dev, int n_dev,
              const train_config *cfg, train_progress_fn cb, void *user, train_result *res, pt_err *err)
{
    memset(res, 0, sizeof *res);
    if (n_train < 1)
        return pt_fail(err, PT_EINVAL, "no training rows");
    trainer tr = {.m = m, .c = cfg, .cb = cb, .user = user, .n_train = n_train, .t0 = now()};
    keeper k = {.best = NULL, .best_f1 = -1, .stale = 0};
    int rc = setup(&tr, train, &res->train_truncated, err);
    if (!rc) {
        k.best = malloc(tr.nh * sizeof *k.best);
        res->curve = calloc((size_t)cfg->epochs, sizeof *res->curve);
        if (!k.best || !res->curve)
            rc = pt_fail(err, PT_ENOMEM, "out of memory");
    }
    rng shuffle;
    rng_seed(&shuffle, cfg->seed);
    for (int epoch = 1; !rc && epoch <= cfg->epochs; epoch++) {
        double e0 = now();
        train_progress p = {.epoch = epoch, .epochs = cfg->epochs, .best_epoch = res->best_epoch};
        train_epoch *ep = &res->curve[epoch - 1];
        ep->epoch = epoch;
        if ((rc = run_epoch(&tr, &shuffle, &p, &ep->steps, err)))
            break;
        ep->loss = p.loss;
        res->epochs_run = epoch;
        rc = finish_epoch(&tr, dev, n_dev, &p, ep, res, &k, err);
        ep->seconds = now() - e0;
        if (cfg->patience > 0 && k.stale >= cfg->patience)
            break;
    }
    if (!rc) {
        res->has_dev = n_dev > 0;
        res->n_prompt = tr.t->n_prompt;
        res->hidden = m->cfg.hidden_size;
        res->vectors = k.best;
        k.best = NULL;
        res->seconds = now() - tr.t0;
        rc = verbalizer_copy(&res->verb, &tr.verb, err);
    }
    free(k.best);
    free_trainer(&tr);
    if (rc)
        train_result_free(res);
    return rc;
}

void train_result_free(train_result *r)
{
    if (!r)
        return;
    verbalizer_free(&r->verb);
    free(r->vectors);
    metrics_free(&r->dev);
    free(r->curve);
    memset(r, 0, sizeof *r);
}

json_t *train_curve_to_json(const train_result *r)
{
    json_t *a = json_array();
    for (int i = 0; a && i < r->epochs_run; i++) {
        const train_epoch *e = &r->curve[i];
        json_t *o = json_pack("{s:i, s:I, s:f, s:f, s:f, s:f, s:f}", "epoch", e->epoch, "steps", (json_int_t)e->steps,
                              "loss", e->loss, "dev_accuracy", e->dev_accuracy, "dev_macro_f1", e->dev_macro_f1,
                              "dev_weighted_f1", e->dev_weighted_f1, "seconds", e->seconds);
        if (json_array_append_new(a, o)) {
            json_decref(a);
            a = NULL;
        }
    }
    return a;
}
