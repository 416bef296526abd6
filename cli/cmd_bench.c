/* ptune bench: times the engine on synthetic rows and prints one JSON line.
 *
 *   ptune bench --model DIR --batch B --seq T --iters N [--train] [--threads K]
 *   ptune bench --sgemm [--threads K] [--iters N]
 *
 * Rows are [CLS] random ids [SEP] with one [MASK] position (P-tuning's default template reads one
 * mask); --train adds 8 prompt vectors and times forward + backward to them (one P-tuning step).
 * "gflops" counts the floating-point work the engine does (the last layer and the head run for the
 * mask rows only; with --train the backward is counted whole, though the first layer's
 * query/key/value product runs for the prompt rows only), so it compares directly with the
 * machine's sgemm rate (--sgemm: OpenBLAS's "gflops", and on AVX-512 CPUs the engine's own
 * product on the same shape, "engine_gflops").
 * "peak_rss_mb" is the process's peak resident set (the mapped weights it touched included), and
 * "weights_mb" the size of model.safetensors, the budget the performance issue sets it against.
 */
#include <cblas.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <time.h>

#include "bert.h"
#include "cli.h"
#include "gemm.h"
#include "tensor.h"

enum { N_PROMPT = 8 };

static double now_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return ts.tv_sec * 1e3 + ts.tv_nsec / 1e6;
}

static int cmp_double(const void *a, const void *b)
{
    double x = *(const double *)a, y = *(const double *)b;
    return (x > y) - (x < y);
}

static double median(double *v, int n)
{
    qsort(v, (size_t)n, sizeof *v, cmp_double);
    return n % 2 ? v[n / 2] : (v[n / 2 - 1] + v[n / 2]) / 2;
}

/* Multiply-adds count 2. One mask row per input row. */
static double engine_flops(const bert_config *c, int batch, int seq, bool train)
{
    /* (complex.h, pulled in by cblas.h, owns the name I) */
    const double h = c->hidden_size, inter = c->intermediate_size, n_vocab = c->vocab_size, layers = c->num_layers;
    const double tokens = (double)batch * seq, masks = batch;
    const double linears = 2 * h * (4 * h + 2 * inter); /* per query row: q, k, v, attention out, FFN */
    const double kv = 2 * 2 * h * h;                     /* per token: keys and values */
    const double attn = 2 * 2 * (double)seq * h;         /* per query row: scores and context */
    const double head = masks * 2 * h * (h + n_vocab);
    double fwd = (layers - 1) * tokens * (linears + attn) + tokens * kv + masks * (linears - kv + attn) + head;
    if (!train)
        return fwd;
    /* the backward runs the same products transposed, and attention's twice over */
    return fwd + (layers - 1) * tokens * (linears + 2 * attn) + tokens * kv + masks * (linears - kv + 2 * attn) +
           head;
}

/* engine: the engine's own gemm_nt (gemm.h) instead of OpenBLAS's cblas_sgemm. */
static double bench_sgemm(int iters, bool engine)
{
    /* The shape of a BERT-base FFN product over a batch of 8 x 128 tokens. */
    const int m = 1024, n = 3072, k = 768;
    float *a = malloc((size_t)m * k * sizeof *a), *b = malloc((size_t)n * k * sizeof *b);
    float *c = malloc((size_t)m * n * sizeof *c);
    double *t = malloc((size_t)iters * sizeof *t), best = 0;
    if (a && b && c && t) {
        for (size_t i = 0; i < (size_t)m * k; i++)
            a[i] = (float)(i % 7) * 0.1f;
        for (size_t i = 0; i < (size_t)n * k; i++)
            b[i] = (float)(i % 5) * 0.1f;
        for (int i = -1; i < iters; i++) {
            double t0 = now_ms();
            if (engine)
                gemm_nt(m, n, k, 1, a, k, b, k, 0, c, n, NULL);
            else
                cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasTrans, m, n, k, 1, a, k, b, k, 0, c, n);
            if (i >= 0)
                t[i] = now_ms() - t0;
        }
        best = 2.0 * m * n * k / (median(t, iters) * 1e6);
    }
    free(a);
    free(b);
    free(c);
    free(t);
    return best;
}

typedef struct opts {
    const char *model;
    int batch, seq, iters, threads;
    bool train, sgemm;
} opts;

static int parse_int(const char *s, int *out)
{
    char *end;
    long v = strtol(s, &end, 10);
    if (*s == '\0' || *end != '\0' || v < 1 || v > 1 << 20)
        return -1;
    *out = (int)v;
    return 0;
}

static int parse_opts(int argc, char **argv, opts *o)
{
    *o = (opts){.batch = 1, .seq = 128, .iters = 5};
    for (int i = 1; i < argc; i++) {
        const char *a = argv[i];
        int *num = !strcmp(a, "--batch") ? &o->batch : !strcmp(a, "--seq") ? &o->seq
                   : !strcmp(a, "--iters") ? &o->iters : !strcmp(a, "--threads") ? &o->threads : NULL;
        if (num && i + 1 < argc) {
            if (parse_int(argv[++i], num)) {
                fprintf(stderr, "ptune bench: %s expects a positive integer, got '%s'\n", a, argv[i]);
                return 2;
            }
        } else if (!strcmp(a, "--model") && i + 1 < argc) {
            o->model = argv[++i];
        } else if (!strcmp(a, "--train")) {
            o->train = true;
        } else if (!strcmp(a, "--sgemm")) {
            o->sgemm = true;
        } else {
            fprintf(stderr, "ptune bench: unexpected argument '%s'\n"
                            "usage: ptune bench --model DIR [--batch B] [--seq T] [--iters N] [--train] [--threads K]\n"
                            "       ptune bench --sgemm [--iters N] [--threads K]\n", a);
            return 2;
        }
    }
    if (!o->sgemm && !o->model) {
        fprintf(stderr, "ptune bench: --model DIR is required\n");
        return 2;
    }
    return 0;
}

/* Synthetic rows: ids from a fixed LCG so runs are comparable; [MASK] (or id 0) at position 1. */
typedef struct batch {
    bert_row *rows;
    int32_t *ids, *mask_pos, *prompt_pos;
    float *vectors, *logits, *d_logits, **grad;
} batch;

static void batch_free(batch *b, int n_rows)
{
    free(b->rows);
    free(b->ids);
    free(b->mask_pos);
    free(b->prompt_pos);
    free(b->vectors);
    free(b->logits);
    free(b->d_logits);
    if (b->grad)
        for (int r = 0; r < n_rows; r++)
            free(b->grad[r]);
    free(b->grad);
}

static int batch_make(batch *b, const bert_model *m, const opts *o)
{
    const int H = m->cfg.hidden_size, V = m->cfg.vocab_size, B = o->batch, T = o->seq;
    const int n_prompt = o->train ? N_PROMPT : 0;
    const tokenizer *tk = &m->tok;
    memset(b, 0, sizeof *b);
    b->rows = calloc((size_t)B, sizeof *b->rows);
    b->ids = malloc((size_t)B * T * sizeof *b->ids);
    b->mask_pos = malloc((size_t)B * sizeof *b->mask_pos);
    b->prompt_pos = malloc(N_PROMPT * sizeof *b->prompt_pos);
    b->vectors = malloc((size_t)B * N_PROMPT * H * sizeof *b->vectors);
    b->logits = malloc((size_t)B * V * sizeof *b->logits);
    b->d_logits = malloc((size_t)B * V * sizeof *b->d_logits);
    b->grad = calloc((size_t)B, sizeof *b->grad);
    if (!b->rows || !b->ids || !b->mask_pos || !b->prompt_pos || !b->vectors || !b->logits || !b->d_logits ||
        !b->grad)
        return -1;
    uint32_t s = 12345;
    for (int r = 0; r < B; r++) {
        int32_t *ids = b->ids + (size_t)r * T;
        for (int t = 0; t < T; t++) {
            s = s * 1664525u + 1013904223u;
            ids[t] = (int32_t)((s >> 8) % (uint32_t)V);
        }
        ids[0] = tk->cls_id >= 0 ? tk->cls_id : 0;
        ids[T - 1] = tk->sep_id >= 0 ? tk->sep_id : 0;
        b->mask_pos[r] = T > 1 ? 1 : 0;
        ids[b->mask_pos[r]] = tk->mask_id >= 0 ? tk->mask_id : 0;
        if (!(b->grad[r] = malloc((size_t)N_PROMPT * H * sizeof **b->grad)))
            return -1;
        b->rows[r] = (bert_row){.ids = ids, .len = T, .mask_pos = &b->mask_pos[r], .n_mask = 1,
                                .prompt_pos = b->prompt_pos, .prompt_vec = b->vectors + (size_t)r * N_PROMPT * H,
                                .n_prompt = T >= N_PROMPT + 3 ? n_prompt : 0};
    }
    for (int j = 0; j < N_PROMPT; j++)
        b->prompt_pos[j] = j + 2;
    for (size_t i = 0; i < (size_t)B * N_PROMPT * H; i++)
        b->vectors[i] = m->word_emb[i % ((size_t)V * H)];
    /* any fixed d_logits exercises the same work; this one is a softmax minus a one-hot in shape */
    for (size_t i = 0; i < (size_t)B * V; i++)
        b->d_logits[i] = (i % (size_t)V == 7) ? -1.0f + 1.0f / V : 1.0f / V;
    return 0;
}

int cmd_bench(int argc, char **argv)
{
    opts o;
    int rc = parse_opts(argc, argv, &o);
    if (rc)
        return rc;
    if (o.sgemm) {
        /* the machine's OpenBLAS rate on its own threads, then the engine's on as many */
        if (o.threads)
            openblas_set_num_threads(o.threads);
        const int threads = openblas_get_num_threads();
        const double blas = bench_sgemm(o.iters, false);
        printf("{\"sgemm\":\"1024x3072x768\",\"threads\":%d,\"gflops\":%.1f", threads, blas);
        if (gemm_ok()) {
            tensor_set_threads(threads);
            printf(",\"engine_gflops\":%.1f", bench_sgemm(o.iters, true));
        }
        printf("}\n");
        return 0;
    }
    if (o.threads)
        tensor_set_threads(o.threads);
    const int threads = tensor_threads();
    pt_err err;
    pt_err_clear(&err);
    bert_model *m = NULL;
    if (bert_load(&m, o.model, &err)) {
        fprintf(stderr, "ptune bench: %s\n", err.msg);
        return 1;
    }
    if (o.seq > m->cfg.max_position_embeddings) {
        fprintf(stderr, "ptune bench: --seq %d is more than the model's %d positions\n", o.seq,
                m->cfg.max_position_embeddings);
        bert_free(m);
        return 2;
    }
    batch b = {0};
    bert_ws *ws = bert_ws_new();
    double *t = malloc((size_t)o.iters * sizeof *t);
    rc = (!ws || !t || batch_make(&b, m, &o)) ? pt_fail(&err, PT_ENOMEM, "out of memory") : 0;
    /* iteration -1 warms the workspace and the page cache and is not timed */
    for (int i = -1; !rc && i < o.iters; i++) {
        double t0 = now_ms();
        if (o.train) {
            rc = bert_forward_train(m, ws, b.rows, o.batch, b.logits, &err);
            if (!rc)
                rc = bert_backward(m, ws, b.d_logits, b.grad, &err);
        } else {
            rc = bert_forward(m, ws, b.rows, o.batch, b.logits, &err);
        }
        if (i >= 0)
            t[i] = now_ms() - t0;
    }
    if (!rc) {
        double ms = median(t, o.iters);
        struct rusage ru;
        getrusage(RUSAGE_SELF, &ru);
        printf("{\"batch\":%d,\"seq\":%d,\"train\":%s,\"threads\":%d,\"ms_per_batch\":%.6g,\"seq_per_s\":%.6g,"
               "\"gflops\":%.1f,\"peak_rss_mb\":%.1f,\"weights_mb\":%.1f}\n",
               o.batch, o.seq, o.train ? "true" : "false", threads, ms, o.batch * 1e3 / ms,
               engine_flops(&m->cfg, o.batch, o.seq, o.train) / (ms * 1e6), ru.ru_maxrss / 1024.0,
               m->weights_bytes / 1048576.0);
    } else {
        fprintf(stderr, "ptune bench: %s\n", err.msg);
    }
    batch_free(&b, o.batch);
    free(t);
    bert_ws_free(ws);
    bert_free(m);
    return rc ? 1 : 0;
}
