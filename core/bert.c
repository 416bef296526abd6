/* bert — the forward pass over packed rows and the backward pass to the input embeddings.
 *
 * Rows are packed without padding into one [T x H] matrix (T = sum of row lengths), so every Linear
 * is one sgemm over all tokens (query, key and value together: one [T x 3H] product against the
 * stacked weights) and attention runs per row and head over that row's own keys. Only
 * the mask rows reach the MLM head, so the last layer computes queries, attention output and FFN for
 * the mask rows alone (keys and values still for every token). Attention heads are small products
 * run by tensor_attention_head in our own threads, as many as OpenBLAS uses, one (row, head) each. bert_forward_train keeps, per layer,
 * exactly what the activation backward reads: Q|K|V, attention probabilities, the normalised
 * LayerNorm inputs with their 1/std, and the pre-GELU activations.
 */
#include "bert.h"

#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "pool.h"
#include "tensor.h"

/* What bert_backward needs from one encoder layer. nq = rows that carry queries: every token, or
 * in the last layer the mask rows. */
typedef struct saved_layer {
    float *qkv;           /* [T, 3H]: query | key | value of every token (queries unused in the last layer) */
    float *qm;            /* [M, H]: the last layer's mask-row queries */
    float *probs;         /* per row r and head: [nq_r, len_r] */
    float *xhat1, *rstd1; /* attention output LayerNorm: [nq, H], [nq] */
    float *pre;           /* [nq, I] intermediate before GELU */
    float *xhat2, *rstd2; /* output LayerNorm */
} saved_layer;

struct bert_ws {
    /* Batch geometry, in rows of the packed matrices. */
    int n_rows, n_tokens, n_masks;
    int *tok_off;  /* [n_rows] first token of row r */
    int *len;      /* [n_rows] */
    int *mask_off; /* [n_rows] first mask row of row r */
    int *n_mask;   /* [n_rows] */
    int *mask_tok; /* [n_masks] token index of each mask row */
    size_t cap_ints;

    /* Scratch shared by forward and backward. heads: per thread, scores (max_len^2) then a
     * transposed head and the backward's transposes ((d + max_len) x max_len), head_stride floats apart. */
    float *scratch;
    size_t cap_scratch;
    float *x, *xm, *qkv, *qm, *ctx, *inter, *heads;
    size_t head_stride;
    int n_threads, max_len;
    int ffn_rows; /* rows of inter: the FFN runs in chunks of this many tokens */

    /* Training state: what bert_backward reads. */
    float *store;
    size_t cap_store;
    saved_layer *saved;
    int cap_saved;
    int *prompt_tok; /* token index of every prompt vector, ascending */
    int n_prompt_tok, cap_prompt_tok;
    float *emb_xhat, *emb_rstd;
    float *head_pre, *head_xhat, *head_rstd;
    const bert_model *model; /* the model of the last bert_forward_train, NULL if none */
    const bert_row *rows;
};

bert_ws *bert_ws_new(void)
{
    return calloc(1, sizeof(bert_ws));
}

void bert_ws_free(bert_ws *ws)
{
    if (!ws)
        return;
    free(ws->tok_off);
    free(ws->scratch);
    free(ws->store);
    free(ws->saved);
    free(ws->prompt_tok);
    free(ws);
}

static int bad_row(pt_err *err, const char *field, const char *fmt, ...) __attribute__((format(printf, 3, 4)));

static int bad_row(pt_err *err, const char *field, const char *fmt, ...)
{
    if (!err)
        return PT_EINVAL;
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(err->msg, sizeof err->msg, fmt, ap);
    va_end(ap);
    err->code = PT_EINVAL;
    snprintf(err->field, sizeof err->field, "%s", field);
    return PT_EINVAL;
}

/* Positions must lie inside the row and appear once each: a repeated prompt position would leave
 * one of its vectors unused, a repeated mask position would make the mask rows outnumber tokens. */
static int check_positions(const int32_t *pos, int n, int len, int r, const char *field, pt_err *err)
{
    if (n < 0)
        return bad_row(err, field, "row %d: negative count of %s (%d)", r, field, n);
    if (n > 0 && !pos)
        return bad_row(err, field, "row %d: %d %s but no array", r, n, field);
    for (int i = 0; i < n; i++) {
        if (pos[i] < 0 || pos[i] >= len)
            return bad_row(err, field, "row %d: %s[%d] = %d is outside the row (length %d)", r, field, i,
                           (int)pos[i], len);
        for (int j = 0; j < i; j++)
            if (pos[j] == pos[i])
                return bad_row(err, field, "row %d: position %d appears twice in %s", r, (int)pos[i], field);
    }
    return 0;
}

static int validate(const bert_model *m, const bert_row *rows, int n_rows, pt_err *err)
{
    const bert_config *c = &m->cfg;
    if (n_rows < 1 || !rows)
        return bad_row(err, "input_ids", "a batch needs at least one row (got %d)", n_rows);
    for (int r = 0; r < n_rows; r++) {
        const bert_row *row = &rows[r];
        if (row->len < 1 || !row->ids)
            return bad_row(err, "input_ids", "row %d is empty", r);
        if (row->len > c->max_position_embeddings)
            return bad_row(err, "input_ids", "row %d has %d tokens, more than the model's %d positions", r,
                           row->len, c->max_position_embeddings);
        for (int t = 0; t < row->len; t++) {
            if (row->ids[t] < 0 || row->ids[t] >= c->vocab_size)
                return bad_row(err, "input_ids",
                               "row %d position %d: token id %d is outside the vocabulary (size %d)", r, t,
                               (int)row->ids[t], c->vocab_size);
            if (row->type_ids && (row->type_ids[t] < 0 || row->type_ids[t] >= c->type_vocab_size))
                return bad_row(err, "token_type_ids",
                               "row %d position %d: token type %d is outside the model's %d types", r, t,
                               (int)row->type_ids[t], c->type_vocab_size);
        }
        int rc = check_positions(row->prompt_pos, row->n_prompt, row->len, r, "prompt.positions", err);
        if (!rc && row->n_prompt > 0 && !row->prompt_vec)
            rc = bad_row(err, "prompt.vectors", "row %d: %d prompt positions but no vectors", r, row->n_prompt);
        if (!rc)
            rc = check_positions(row->mask_pos, row->n_mask, row->len, r, "mask_positions", err);
        if (rc)
            return rc;
    }
    return 0;
}

/* Attention runs on at most this many threads (one scratch slot each). */
#define MAX_THREADS 16

/* Tokens per FFN chunk in inference: large enough for sgemm to run at full rate. */
#define FFN_ROWS 512

/* Offsets are kept at multiples of 16 floats so that every buffer starts on a 64-byte line. */
static size_t up16(size_t n)
{
    return (n + 15) & ~(size_t)15;
}

static int grow(float **buf, size_t *cap, size_t need, pt_err *err)
{
    if (need <= *cap)
        return 0;
    free(*buf);
    *buf = NULL;
    *cap = 0;
    void *p = NULL;
    if (posix_memalign(&p, 64, need * sizeof(float)))
        return pt_fail(err, PT_ENOMEM, "out of memory for a workspace of %zu MB", need * sizeof(float) >> 20);
    *buf = p;
    *cap = need;
    return 0;
}

/* Lays out the batch geometry and the scratch buffers, growing them when this batch is the largest
 * seen so far. */
static int prepare(const bert_model *m, bert_ws *ws, const bert_row *rows, int n_rows, bool train, pt_err *err)
{
    const size_t H = (size_t)m->cfg.hidden_size, I = (size_t)m->cfg.intermediate_size;
    size_t need_ints = 4 * (size_t)n_rows, n_masks = 0, n_tokens = 0, max_len = 0;
    for (int r = 0; r < n_rows; r++) {
        n_masks += (size_t)rows[r].n_mask;
        n_tokens += (size_t)rows[r].len;
        max_len = (size_t)rows[r].len > max_len ? (size_t)rows[r].len : max_len;
    }
    need_ints += n_masks;
    if (need_ints > ws->cap_ints) {
        int *p = malloc(need_ints * sizeof *p);
        if (!p)
            return pt_fail(err, PT_ENOMEM, "out of memory for the batch geometry");
        free(ws->tok_off);
        ws->tok_off = p;
        ws->cap_ints = need_ints;
    }
    ws->len = ws->tok_off + n_rows;
    ws->mask_off = ws->len + n_rows;
    ws->n_mask = ws->mask_off + n_rows;
    ws->mask_tok = ws->n_mask + n_rows;
    int tok = 0, mask = 0;
    for (int r = 0; r < n_rows; r++) {
        ws->tok_off[r] = tok;
        ws->len[r] = rows[r].len;
        ws->mask_off[r] = mask;
        ws->n_mask[r] = rows[r].n_mask;
        for (int j = 0; j < rows[r].n_mask; j++)
            ws->mask_tok[mask++] = tok + rows[r].mask_pos[j];
        tok += rows[r].len;
    }
    ws->n_rows = n_rows;
    ws->n_tokens = (int)n_tokens;
    ws->n_masks = (int)n_masks;

    const size_t th = up16(n_tokens * H);
    const size_t d = H / (size_t)m->cfg.num_heads;
    ws->n_threads = tensor_threads() < MAX_THREADS ? tensor_threads() : MAX_THREADS;
    ws->max_len = (int)max_len;
    ws->head_stride = up16(max_len * max_len) + up16((d + max_len) * max_len);
    /* Inference keeps the intermediate activations of FFN_ROWS tokens at a time (peak RSS grows by
     * hidden-size floats per token, not hidden + intermediate); training needs them all for the backward. */
    ws->ffn_rows = (int)(train || n_tokens < FFN_ROWS ? n_tokens : FFN_ROWS);
    size_t need = 5 * th + 2 * up16(n_masks * H) + up16((size_t)ws->ffn_rows * I) +
                  (size_t)ws->n_threads * ws->head_stride;
    int rc = grow(&ws->scratch, &ws->cap_scratch, need, err);
    if (rc)
        return rc;
    float *p = ws->scratch;
    ws->x = p, p += th;
    ws->qkv = p, p += 3 * th;
    ws->ctx = p, p += th;
    ws->xm = p, p += up16(n_masks * H);
    ws->qm = p, p += up16(n_masks * H);
    ws->inter = p, p += up16((size_t)ws->ffn_rows * I);
    ws->heads = p;
    return 0;
}

static int cmp_int(const void *a, const void *b)
{
    const int x = *(const int *)a, y = *(const int *)b;
    return (x > y) - (x < y);
}

/* The training store: per layer the saved activations, then the embedding and head LayerNorms; and
 * the token index of every prompt vector (the only rows the first layer's backward must produce). */
static int prepare_train(const bert_model *m, bert_ws *ws, const bert_row *rows, pt_err *err)
{
    const size_t H = (size_t)m->cfg.hidden_size, I = (size_t)m->cfg.intermediate_size;
    const size_t T = (size_t)ws->n_tokens, M = (size_t)ws->n_masks, A = (size_t)m->cfg.num_heads;
    const int n_layers = m->cfg.num_layers;
    size_t probs = 0;
    for (int r = 0; r < ws->n_rows; r++)
        probs += A * (size_t)rows[r].len * (size_t)rows[r].len;
    const size_t th = up16(T * H), t1 = up16(T);
    const size_t per_layer = 5 * th + up16(M * H) + up16(T * I) + 2 * t1 + up16(probs);
    const size_t need = (size_t)n_layers * per_layer + th + t1 + 2 * up16(M * H) + up16(M);
    int rc = grow(&ws->store, &ws->cap_store, need, err);
    if (rc)
        return rc;
    if (n_layers > ws->cap_saved) {
        saved_layer *s = realloc(ws->saved, (size_t)n_layers * sizeof *s);
        if (!s)
            return pt_fail(err, PT_ENOMEM, "out of memory for the training state");
        ws->saved = s;
        ws->cap_saved = n_layers;
    }
    int n_prompt = 0;
    for (int r = 0; r < ws->n_rows; r++)
        n_prompt += rows[r].n_prompt;
    if (n_prompt > ws->cap_prompt_tok) {
        int *t = realloc(ws->prompt_tok, (size_t)n_prompt * sizeof *t);
        if (!t)
            return pt_fail(err, PT_ENOMEM, "out of memory for the training state");
        ws->prompt_tok = t;
        ws->cap_prompt_tok = n_prompt;
    }
    ws->n_prompt_tok = 0;
    for (int r = 0; r < ws->n_rows; r++)
        for (int j = 0; j < rows[r].n_prompt; j++)
            ws->prompt_tok[ws->n_prompt_tok++] = ws->tok_off[r] + rows[r].prompt_pos[j];
    if (ws->n_prompt_tok > 1)
        qsort(ws->prompt_tok, (size_t)ws->n_prompt_tok, sizeof(int), cmp_int);
    float *p = ws->store;
    for (int l = 0; l < n_layers; l++) {
        saved_layer *s = &ws->saved[l];
        s->qkv = p, p += 3 * th;
        s->qm = p, p += up16(M * H);
        s->xhat1 = p, p += th;
        s->xhat2 = p, p += th;
        s->pre = p, p += up16(T * I);
        s->rstd1 = p, p += t1;
        s->rstd2 = p, p += t1;
        s->probs = p, p += up16(probs);
    }
    ws->emb_xhat = p, p += th;
    ws->emb_rstd = p, p += t1;
    ws->head_pre = p, p += up16(M * H);
    ws->head_xhat = p, p += up16(M * H);
    ws->head_rstd = p;
    return 0;
}

/* Word embedding (or the row's prompt vector) + position + token type, then LayerNorm. */
static void embed(const bert_model *m, bert_ws *ws, const bert_row *rows, bool train)
{
    const int H = m->cfg.hidden_size;
    for (int r = 0; r < ws->n_rows; r++) {
        const bert_row *row = &rows[r];
        float *x = ws->x + (size_t)ws->tok_off[r] * H;
        for (int t = 0; t < row->len; t++) {
            const float *w = m->word_emb + (size_t)row->ids[t] * H;
            const float *pe = m->pos_emb + (size_t)t * H;
            const float *te = m->type_emb + (size_t)(row->type_ids ? row->type_ids[t] : 0) * H;
            for (int i = 0; i < H; i++)
                x[(size_t)t * H + i] = w[i] + pe[i] + te[i];
        }
        for (int j = 0; j < row->n_prompt; j++) {
            const int t = row->prompt_pos[j];
            const float *w = row->prompt_vec + (size_t)j * H;
            const float *pe = m->pos_emb + (size_t)t * H;
            const float *te = m->type_emb + (size_t)(row->type_ids ? row->type_ids[t] : 0) * H;
            for (int i = 0; i < H; i++)
                x[(size_t)t * H + i] = w[i] + pe[i] + te[i];
        }
    }
    tensor_add_layernorm(ws->n_tokens, H, ws->x, NULL, NULL, m->emb_ln_g, m->emb_ln_b, m->cfg.layer_norm_eps, ws->x,
                         train ? ws->emb_xhat : NULL, train ? ws->emb_rstd : NULL);
}

/* Which rows of the query matrix belong to input row r: q_n[r] rows from q_off[r]. */
typedef struct query_rows {
    int total;
    const int *q_off, *q_n;
} query_rows;

/* The attention of one layer, forward or backward, split by (row, head) over ws->n_threads threads:
 * pair number i goes to thread i % n_threads. Every pair writes its own rows and columns. */
typedef struct heads_job {
    const bert_model *m;
    bert_ws *ws;
    const query_rows *qr;
    const float *q;    /* queries [nq, ldq] */
    int ldq;
    const float *qkv;  /* keys and values: columns H..3H of [T, 3H] */
    float *probs;      /* per (row, head) [nq_r, len_r], or NULL in inference (per-thread scratch) */
    float *ctx;        /* forward: context [nq, H]; backward: its gradient (read) */
    float *dq, *dqkv;  /* backward: gradients of q [nq, ldq] and of keys and values [T, 3H] */
    int thread;
} heads_job;

static void heads_run(const heads_job *j)
{
    const bert_model *m = j->m;
    const bert_ws *ws = j->ws;
    const int H = m->cfg.hidden_size, A = m->cfg.num_heads, d = H / A, ld = 3 * H;
    const float scale = 1.0f / sqrtf((float)d);
    float *scores = ws->heads + (size_t)j->thread * ws->head_stride;
    float *kt = scores + up16((size_t)ws->max_len * ws->max_len);
    size_t poff = 0;
    for (int r = 0, pair = 0; r < ws->n_rows; r++) {
        const int L = ws->len[r], nq = j->qr->q_n[r];
        const size_t kv = (size_t)ws->tok_off[r] * ld, qo = (size_t)j->qr->q_off[r];
        for (int h = 0; h < A && nq > 0; h++, pair++, poff += (size_t)nq * L) {
            if (pair % ws->n_threads != j->thread)
                continue;
            const size_t o = (size_t)h * d;
            const float *q = j->q + qo * j->ldq + o, *k = j->qkv + H + kv + o, *v = j->qkv + 2 * H + kv + o;
            float *ctx = j->ctx + qo * H + o;
            if (!j->dqkv)
                tensor_attention_head(nq, L, d, q, j->ldq, k, v, ld, scale, j->probs ? j->probs + poff : scores, ctx,
                                      H, kt);
            else
                tensor_attention_head_backward(nq, L, d, q, j->ldq, k, v, ld, scale, j->probs + poff, ctx, H,
                                               j->dq + qo * j->ldq + o, j->dqkv + H + kv + o,
                                               j->dqkv + 2 * H + kv + o, scores, kt);
        }
    }
}

static void heads_task(void *arg, int t)
{
    heads_job j = *(const heads_job *)arg;
    j.thread = t;
    heads_run(&j);
}

static void heads_parallel(const heads_job *proto)
{
    pool_run(proto->ws->n_threads, heads_task, (void *)proto);
}

/* q [nq, ldq]; keys and values are columns H..2H and 2H..3H of qkv [T, 3H]. */
static void attention_forward(const bert_model *m, bert_ws *ws, const query_rows *qr, const float *q, int ldq,
                              const float *qkv, float *probs, float *ctx)
{
    heads_parallel(&(heads_job){.m = m, .ws = ws, .qr = qr, .q = q, .ldq = ldq, .qkv = qkv, .probs = probs,
                                .ctx = ctx});
}

/* Y[m, n] (row stride ldy) = X[m, k] W[n, k]^T + bias: tensor_linear into columns of a wider matrix. */
static void linear_cols(int m, int n, int k, const float *x, const float *w, const float *bias, float *y, int ldy)
{
    for (int i = 0; i < m; i++)
        memcpy(y + (size_t)i * ldy, bias, (size_t)n * sizeof(float));
    tensor_gemm_nt(m, n, k, 1.0f, x, k, w, k, 1.0f, y, ldy);
}

/* One encoder layer. x [T,H] is the layer input of every token (keys and values); xq [nq,H] is the
 * input of the query rows (x itself, or the gathered mask rows in the last layer) and receives the
 * layer output in place. s, when not NULL, receives what the backward needs. */
static void layer_forward(const bert_model *m, bert_ws *ws, const bert_layer *L, const float *x, float *xq,
                          const query_rows *qr, saved_layer *s)
{
    const int H = m->cfg.hidden_size, I = m->cfg.intermediate_size, T = ws->n_tokens, nq = qr->total;
    const float eps = m->cfg.layer_norm_eps;
    float *qkv = s ? s->qkv : ws->qkv;
    if (xq == x) {
        tensor_linear(T, 3 * H, H, x, L->qkv_w, L->qkv_b, qkv);
        attention_forward(m, ws, qr, qkv, 3 * H, qkv, s ? s->probs : NULL, ws->ctx);
    } else {
        float *qm = s ? s->qm : ws->qm;
        linear_cols(T, 2 * H, H, x, L->k_w, L->k_b, qkv + H, 3 * H);
        tensor_linear(nq, H, H, xq, L->q_w, L->q_b, qm);
        attention_forward(m, ws, qr, qm, H, qkv, s ? s->probs : NULL, ws->ctx);
    }
    /* scratch reuse: the attention output goes where Q|K|V were, the FFN output where the context was */
    float *out = ws->qkv;
    tensor_linear(nq, H, H, ws->ctx, L->ao_w, NULL, out);
    tensor_add_layernorm(nq, H, out, L->ao_b, xq, L->aln_g, L->aln_b, eps, xq, s ? s->xhat1 : NULL,
                         s ? s->rstd1 : NULL);
    for (int r0 = 0; r0 < nq; r0 += ws->ffn_rows) {
        const int n = nq - r0 < ws->ffn_rows ? nq - r0 : ws->ffn_rows;
        tensor_linear(n, I, H, xq + (size_t)r0 * H, L->i_w, NULL, ws->inter);
        tensor_bias_gelu(n, I, ws->inter, L->i_b, s ? s->pre + (size_t)r0 * I : NULL);
        tensor_linear(n, H, I, ws->inter, L->o_w, NULL, ws->ctx + (size_t)r0 * H);
    }
    tensor_add_layernorm(nq, H, ws->ctx, L->o_b, xq, L->oln_g, L->oln_b, eps, xq, s ? s->xhat2 : NULL,
                         s ? s->rstd2 : NULL);
}

static void head_forward(const bert_model *m, bert_ws *ws, float *logits, bool train)
{
    const int H = m->cfg.hidden_size, V = m->cfg.vocab_size, M = ws->n_masks;
    float *h = ws->qm; /* the last layer's queries are spent */
    tensor_linear(M, H, H, ws->xm, m->head_w, NULL, h);
    tensor_bias_gelu(M, H, h, m->head_b, train ? ws->head_pre : NULL);
    tensor_add_layernorm(M, H, h, NULL, NULL, m->head_ln_g, m->head_ln_b, m->cfg.layer_norm_eps, h,
                         train ? ws->head_xhat : NULL, train ? ws->head_rstd : NULL);
    tensor_linear(M, V, H, h, m->decoder_w, m->decoder_b, logits);
}

static int run_forward(const bert_model *m, bert_ws *ws, const bert_row *rows, int n_rows, float *logits,
                       bool train, pt_err *err)
{
    ws->model = NULL;
    int rc = validate(m, rows, n_rows, err);
    if (!rc)
        rc = prepare(m, ws, rows, n_rows, train, err);
    if (!rc && train)
        rc = prepare_train(m, ws, rows, err);
    if (rc)
        return rc;
    if (ws->n_masks > 0) {
        const int H = m->cfg.hidden_size, n_layers = m->cfg.num_layers;
        const query_rows all = {ws->n_tokens, ws->tok_off, ws->len};
        const query_rows masks = {ws->n_masks, ws->mask_off, ws->n_mask};
        embed(m, ws, rows, train);
        for (int l = 0; l < n_layers - 1; l++)
            layer_forward(m, ws, &m->layers[l], ws->x, ws->x, &all, train ? &ws->saved[l] : NULL);
        /* Nothing after the last layer reads other rows than the masks. */
        for (int i = 0; i < ws->n_masks; i++)
            memcpy(ws->xm + (size_t)i * H, ws->x + (size_t)ws->mask_tok[i] * H, (size_t)H * sizeof(float));
        layer_forward(m, ws, &m->layers[n_layers - 1], ws->x, ws->xm, &masks,
                      train ? &ws->saved[n_layers - 1] : NULL);
        head_forward(m, ws, logits, train);
    }
    if (train) {
        ws->model = m;
        ws->rows = rows;
    }
    return 0;
}

int bert_forward(const bert_model *m, bert_ws *ws, const bert_row *rows, int n_rows, float *logits, pt_err *err)
{
    return run_forward(m, ws, rows, n_rows, logits, false, err);
}

int bert_forward_train(const bert_model *m, bert_ws *ws, const bert_row *rows, int n_rows, float *logits,
                       pt_err *err)
{
    return run_forward(m, ws, rows, n_rows, logits, true, err);
}

/* Given dctx [nq,H], writes dq [nq, ldq] and the key and value gradients into columns H..3H of
 * dqkv [T,3H] (the layout of s->qkv). q [nq, ldq] are the forward's queries. */
static void attention_backward(const bert_model *m, bert_ws *ws, const query_rows *qr, const saved_layer *s,
                               const float *q, int ldq, float *dctx, float *dq, float *dqkv)
{
    const int H = m->cfg.hidden_size;
    for (int r = 0; r < ws->n_rows; r++) {
        /* a row without queries gives its keys and values no gradient */
        if (qr->q_n[r] > 0)
            continue;
        for (int t = 0; t < ws->len[r]; t++)
            memset(dqkv + (size_t)(ws->tok_off[r] + t) * 3 * H + H, 0, 2 * (size_t)H * sizeof(float));
    }
    heads_parallel(&(heads_job){.m = m, .ws = ws, .qr = qr, .q = q, .ldq = ldq, .qkv = s->qkv, .probs = s->probs,
                                .ctx = dctx, .dq = dq, .dqkv = dqkv});
}

/* One encoder layer backward. g [nq,H] holds d loss / d layer output of the query rows and
 * receives d loss / d xq through the query path and the residuals. dx [T,H] receives
 * beta * dx + the gradient through keys and values. When every token is a query row (all layers
 * but the last), g and dx are the same matrix and beta is 1: the three paths are then one GEMM
 * against the stacked weights. prompt_rows_only (the first layer): that GEMM runs for the prompt
 * rows alone, and the other rows of dx are left incomplete (nothing reads them). */
static void layer_backward(const bert_model *m, bert_ws *ws, const bert_layer *L, const saved_layer *s,
                           const query_rows *qr, float *g, float *dx, float beta, bool prompt_rows_only)
{
    const int H = m->cfg.hidden_size, I = m->cfg.intermediate_size, T = ws->n_tokens, nq = qr->total;
    const bool every_token = g == dx;
    tensor_layernorm_backward(nq, H, g, L->oln_g, s->xhat2, s->rstd2, g);
    tensor_gemm_nn(nq, I, H, 1.0f, g, H, L->o_w, I, 0.0f, ws->inter, I);
    tensor_gelu_backward((size_t)nq * I, ws->inter, s->pre);
    tensor_gemm_nn(nq, H, I, 1.0f, ws->inter, I, L->i_w, H, 1.0f, g, H);
    tensor_layernorm_backward(nq, H, g, L->aln_g, s->xhat1, s->rstd1, g);
    tensor_gemm_nn(nq, H, H, 1.0f, g, H, L->ao_w, H, 0.0f, ws->ctx, H);
    /* the forward's activations live in s, so ws->qkv and ws->qm are free to hold the gradients */
    if (every_token) {
        attention_backward(m, ws, qr, s, s->qkv, 3 * H, ws->ctx, ws->qkv, ws->qkv);
        if (!prompt_rows_only) {
            tensor_gemm_nn(T, H, 3 * H, 1.0f, ws->qkv, 3 * H, L->qkv_w, H, 1.0f, dx, H);
        } else {
            /* The first layer: only the prompt rows of dx are read after it. Their query/key/value
             * gradients are gathered to the top of ws->qkv (ascending, so in place), multiplied
             * into ws->ctx (spent) and added to dx. */
            const int P = ws->n_prompt_tok;
            for (int i = 0; i < P; i++)
                if (ws->prompt_tok[i] != i)
                    memcpy(ws->qkv + (size_t)i * 3 * H, ws->qkv + (size_t)ws->prompt_tok[i] * 3 * H,
                           3 * (size_t)H * sizeof(float));
            tensor_gemm_nn(P, H, 3 * H, 1.0f, ws->qkv, 3 * H, L->qkv_w, H, 0.0f, ws->ctx, H);
            for (int i = 0; i < P; i++) {
                float *d = dx + (size_t)ws->prompt_tok[i] * H;
                const float *src = ws->ctx + (size_t)i * H;
                for (int c = 0; c < H; c++)
                    d[c] += src[c];
            }
        }
    } else {
        attention_backward(m, ws, qr, s, s->qm, H, ws->ctx, ws->qm, ws->qkv);
        tensor_gemm_nn(nq, H, H, 1.0f, ws->qm, H, L->q_w, H, 1.0f, g, H);
        tensor_gemm_nn(T, H, 2 * H, 1.0f, ws->qkv + H, 3 * H, L->k_w, H, beta, dx, H);
    }
}

int bert_backward(const bert_model *m, bert_ws *ws, const float *d_logits, float *const *d_prompt, pt_err *err)
{
    if (!ws || ws->model != m)
        return pt_fail(err, PT_EINVAL,
                       "bert_backward needs a successful bert_forward_train on this model and workspace");
    const int H = m->cfg.hidden_size, V = m->cfg.vocab_size, M = ws->n_masks, n_layers = m->cfg.num_layers;
    const bert_row *rows = ws->rows;
    if (M == 0) {
        for (int r = 0; r < ws->n_rows; r++)
            if (d_prompt[r])
                memset(d_prompt[r], 0, (size_t)rows[r].n_prompt * H * sizeof(float));
        return 0;
    }
    const query_rows all = {ws->n_tokens, ws->tok_off, ws->len};
    const query_rows masks = {ws->n_masks, ws->mask_off, ws->n_mask};

    /* MLM head: decoder, LayerNorm, GELU, dense, down to the last layer's mask rows (in ws->xm). */
    float *gh = ws->qm; /* free until the last layer's backward */
    tensor_gemm_nn(M, H, V, 1.0f, d_logits, V, m->decoder_w, H, 0.0f, gh, H);
    tensor_layernorm_backward(M, H, gh, m->head_ln_g, ws->head_xhat, ws->head_rstd, gh);
    tensor_gelu_backward((size_t)M * H, gh, ws->head_pre);
    tensor_gemm_nn(M, H, H, 1.0f, gh, H, m->head_w, H, 0.0f, ws->xm, H);

    /* Last layer over the mask rows; its key/value gradient reaches every token. */
    layer_backward(m, ws, &m->layers[n_layers - 1], &ws->saved[n_layers - 1], &masks, ws->xm, ws->x, 0.0f, false);
    for (int i = 0; i < M; i++) {
        float *dst = ws->x + (size_t)ws->mask_tok[i] * H;
        const float *src = ws->xm + (size_t)i * H;
        for (int j = 0; j < H; j++)
            dst[j] += src[j];
    }
    for (int l = n_layers - 2; l >= 0; l--)
        layer_backward(m, ws, &m->layers[l], &ws->saved[l], &all, ws->x, ws->x, 1.0f, l == 0);

    /* The prompt vector replaced the word embedding, so its gradient is that of the embedding sum. */
    for (int r = 0; r < ws->n_rows; r++) {
        if (!d_prompt[r])
            continue;
        for (int j = 0; j < rows[r].n_prompt; j++) {
            const size_t t = (size_t)ws->tok_off[r] + rows[r].prompt_pos[j];
            tensor_layernorm_backward(1, H, ws->x + t * H, m->emb_ln_g, ws->emb_xhat + t * H, ws->emb_rstd + t,
                                      d_prompt[r] + (size_t)j * H);
        }
    }
    return 0;
}
