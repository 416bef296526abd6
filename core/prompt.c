#include "prompt.h"

#include <cblas.h>
#include <math.h>
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>

#include "rng.h"

/* A Linear layer's place in the flat parameter array: W [out, in] (torch layout), then b [out]. */
typedef struct lin {
    size_t w, b;
    int in, out;
} lin;

/* One direction of one LSTM layer: W_ih [4d, in], W_hh [4d, d], b_ih [4d], b_hh [4d]; gates i, f, g, o. */
typedef struct lstm_dir {
    size_t w_ih, w_hh, b_ih, b_hh;
    int in;
} lstm_dir;

struct prompt_enc {
    prompt_kind kind;
    int n, h, hidden;
    size_t n_params;
    float *params, *grads;
    size_t emb;         /* offset of the N x H input embedding (for none: the output itself) */
    lin l1, l2, l3;     /* mlp: l1, l2, l3; lstm head: l1, l2 */
    lstm_dir dirs[4];   /* lstm: layer * 2 + direction */
    /* What backward needs, from the last forward. */
    float *a1, *a2;     /* mlp pre-activations [N, hidden]; lstm head pre-activation [N, H] in a1 */
    float *r1, *r2;     /* their ReLU outputs */
    float *y[2];        /* lstm layer outputs [N, H] */
    float *gates[4];    /* per direction, [N, 4d] after the nonlinearities */
    float *cell[4];     /* [N, d] */
    float *tanh_c[4];   /* [N, d] */
    float *scratch;     /* backward temporaries */
};

int prompt_kind_parse(const char *name, prompt_kind *kind)
{
    static const char *const names[] = {"none", "mlp", "lstm"};
    for (int k = 0; k < 3; k++)
        if (!strcmp(name, names[k])) {
            *kind = (prompt_kind)k;
            return 0;
        }
    return -1;
}

const char *prompt_kind_name(prompt_kind kind)
{
    switch (kind) {
    case PROMPT_NONE: return "none";
    case PROMPT_MLP: return "mlp";
    case PROMPT_LSTM: return "lstm";
    }
    return "?";
}

static lin lin_at(size_t *off, int in, int out)
{
    lin l = {*off, *off + (size_t)in * (size_t)out, in, out};
    *off = l.b + (size_t)out;
    return l;
}

static lstm_dir dir_at(size_t *off, int in, int d)
{
    lstm_dir r;
    size_t g = 4 * (size_t)d;
    r.in = in;
    r.w_ih = *off;
    r.w_hh = r.w_ih + g * (size_t)in;
    r.b_ih = r.w_hh + g * (size_t)d;
    r.b_hh = r.b_ih + g;
    *off = r.b_hh + g;
    return r;
}

static void fill_uniform(float *p, size_t n, double bound, rng *r)
{
    for (size_t i = 0; i < n; i++)
        p[i] = (float)((2.0 * rng_uniform(r) - 1.0) * bound);
}

/* torch.nn.Linear's default init: weight and bias uniform in +-1/sqrt(in). */
static void lin_init(float *params, const lin *l, rng *r)
{
    double bound = 1.0 / sqrt((double)l->in);
    fill_uniform(params + l->w, (size_t)l->in * (size_t)l->out, bound, r);
    fill_uniform(params + l->b, (size_t)l->out, bound, r);
}

static float *alloc_f(size_t n, int *ok)
{
    float *p = calloc(n ? n : 1, sizeof *p);
    if (!p)
        *ok = 0;
    return p;
}

int prompt_new(prompt_enc **out, prompt_kind kind, int n, int h, int hidden, const float *init, uint64_t seed,
               pt_err *err)
{
    *out = NULL;
    if (n < 1 || h < 1)
        return pt_fail(err, PT_EINVAL, "prompt encoder needs n >= 1 and h >= 1, got n=%d h=%d", n, h);
    if (kind == PROMPT_MLP && hidden < 1)
        return pt_fail(err, PT_EINVAL, "mlp prompt encoder needs encoder_hidden >= 1, got %d", hidden);
    if (kind == PROMPT_LSTM && h % 2)
        return pt_fail(err, PT_EINVAL, "lstm prompt encoder needs an even hidden size (H/2 per direction), got %d", h);
    prompt_enc *e = calloc(1, sizeof *e);
    if (!e)
        return pt_fail(err, PT_ENOMEM, "out of memory for the prompt encoder");
    e->kind = kind;
    e->n = n;
    e->h = h;
    e->hidden = kind == PROMPT_MLP ? hidden : 0;
    size_t N = (size_t)n, H = (size_t)h, off = N * H, scratch = N * H;
    int d = h / 2;
    if (kind == PROMPT_MLP) {
        e->l1 = lin_at(&off, h, hidden);
        e->l2 = lin_at(&off, hidden, hidden);
        e->l3 = lin_at(&off, hidden, h);
        scratch = 2 * N * (size_t)(hidden > h ? hidden : h);
    } else if (kind == PROMPT_LSTM) {
        for (int k = 0; k < 4; k++)
            e->dirs[k] = dir_at(&off, h, d);
        e->l1 = lin_at(&off, h, h);
        e->l2 = lin_at(&off, h, h);
        /* d_gates [N, 4d] + d_h, d_c [d] each + two [N, H] gradient buffers */
        scratch = N * 4 * (size_t)d + 2 * (size_t)d + 2 * N * H;
    }
    e->n_params = off;
    int ok = 1;
    e->params = alloc_f(off, &ok);
    e->grads = alloc_f(off, &ok);
    e->scratch = alloc_f(scratch, &ok);
    if (kind == PROMPT_MLP) {
        size_t m = N * (size_t)hidden;
        e->a1 = alloc_f(m, &ok);
        e->a2 = alloc_f(m, &ok);
        e->r1 = alloc_f(m, &ok);
        e->r2 = alloc_f(m, &ok);
    } else if (kind == PROMPT_LSTM) {
        e->a1 = alloc_f(N * H, &ok);
        e->r1 = alloc_f(N * H, &ok);
        e->y[0] = alloc_f(N * H, &ok);
        e->y[1] = alloc_f(N * H, &ok);
        for (int k = 0; k < 4; k++) {
            e->gates[k] = alloc_f(N * 4 * (size_t)d, &ok);
            e->cell[k] = alloc_f(N * (size_t)d, &ok);
            e->tanh_c[k] = alloc_f(N * (size_t)d, &ok);
        }
    }
    if (!ok) {
        prompt_free(e);
        return pt_fail(err, PT_ENOMEM, "out of memory for the prompt encoder (%zu parameters)", off);
    }
    memcpy(e->params, init, N * H * sizeof *init);
    rng r;
    rng_seed(&r, seed);
    if (kind == PROMPT_MLP) {
        lin_init(e->params, &e->l1, &r);
        lin_init(e->params, &e->l2, &r);
        lin_init(e->params, &e->l3, &r);
    } else if (kind == PROMPT_LSTM) {
        /* torch.nn.LSTM: every weight and bias uniform in +-1/sqrt(hidden per direction). */
        size_t first = e->dirs[0].w_ih, last = e->dirs[3].b_hh + 4 * (size_t)d;
        fill_uniform(e->params + first, last - first, 1.0 / sqrt((double)d), &r);
        lin_init(e->params, &e->l1, &r);
        lin_init(e->params, &e->l2, &r);
    }
    *out = e;
    return 0;
}

void prompt_free(prompt_enc *e)
{
    if (!e)
        return;
    free(e->params);
    free(e->grads);
    free(e->scratch);
    free(e->a1);
    free(e->a2);
    free(e->r1);
    free(e->r2);
    free(e->y[0]);
    free(e->y[1]);
    for (int k = 0; k < 4; k++) {
        free(e->gates[k]);
        free(e->cell[k]);
        free(e->tanh_c[k]);
    }
    free(e);
}

size_t prompt_n_params(const prompt_enc *e)
{
    return e->n_params;
}

float *prompt_params(prompt_enc *e)
{
    return e->params;
}

float *prompt_grads(prompt_enc *e)
{
    return e->grads;
}

void prompt_zero_grad(prompt_enc *e)
{
    memset(e->grads, 0, e->n_params * sizeof *e->grads);
}

/* y[n, out] = x[n, in] W^T + b */
static void lin_fwd(const prompt_enc *e, const lin *l, const float *x, float *y)
{
    for (int i = 0; i < e->n; i++)
        memcpy(y + (size_t)i * (size_t)l->out, e->params + l->b, (size_t)l->out * sizeof *y);
    cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasTrans, e->n, l->out, l->in, 1.0f, x, l->in, e->params + l->w,
                l->in, 1.0f, y, l->out);
}

/* Accumulates dW += dy^T x, db += colsum(dy); dx = dy W (overwritten) when dx is not NULL. */
static void lin_bwd(prompt_enc *e, const lin *l, const float *x, const float *dy, float *dx)
{
    cblas_sgemm(CblasRowMajor, CblasTrans, CblasNoTrans, l->out, l->in, e->n, 1.0f, dy, l->out, x, l->in, 1.0f,
                e->grads + l->w, l->in);
    float *db = e->grads + l->b;
    for (int i = 0; i < e->n; i++)
        for (int j = 0; j < l->out; j++)
            db[j] += dy[(size_t)i * (size_t)l->out + (size_t)j];
    if (dx)
        cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasNoTrans, e->n, l->in, l->out, 1.0f, dy, l->out,
                    e->params + l->w, l->in, 0.0f, dx, l->in);
}

static void relu(const float *a, float *r, size_t n)
{
    for (size_t i = 0; i < n; i++)
        r[i] = a[i] > 0 ? a[i] : 0;
}

/* dr *= (a > 0), in place. */
static void relu_bwd(const float *a, float *dr, size_t n)
{
    for (size_t i = 0; i < n; i++)
        if (!(a[i] > 0))
            dr[i] = 0;
}

static float sigmoid(float x)
{
    return 1.0f / (1.0f + expf(-x));
}

/* One direction of an LSTM layer over the N prompt positions (a sequence, batch 1), writing its hidden
 * states into columns [col, col + d) of y (stride H). dir k: layer k / 2, reverse when k is odd. */
static void lstm_dir_fwd(prompt_enc *e, int k, const float *x, float *y, int col)
{
    const lstm_dir *p = &e->dirs[k];
    int n = e->n, d = e->h / 2, g4 = 4 * d;
    float *G = e->gates[k];
    const float *bih = e->params + p->b_ih, *bhh = e->params + p->b_hh;
    for (int t = 0; t < n; t++)
        for (int j = 0; j < g4; j++)
            G[(size_t)t * (size_t)g4 + (size_t)j] = bih[j] + bhh[j];
    cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasTrans, n, g4, p->in, 1.0f, x, p->in, e->params + p->w_ih, p->in,
                1.0f, G, g4);
    bool reverse = k & 1;
    const float *h_prev = NULL, *c_prev = NULL;
    for (int s = 0; s < n; s++) {
        int t = reverse ? n - 1 - s : s;
        float *gt = G + (size_t)t * (size_t)g4;
        if (h_prev)
            cblas_sgemv(CblasRowMajor, CblasNoTrans, g4, d, 1.0f, e->params + p->w_hh, d, h_prev, 1, 1.0f, gt, 1);
        float *c = e->cell[k] + (size_t)t * (size_t)d, *tc = e->tanh_c[k] + (size_t)t * (size_t)d;
        float *h = y + (size_t)t * (size_t)e->h + col;
        for (int j = 0; j < d; j++) {
            float i = sigmoid(gt[j]), f = sigmoid(gt[d + j]), g = tanhf(gt[2 * d + j]), o = sigmoid(gt[3 * d + j]);
            gt[j] = i;
            gt[d + j] = f;
            gt[2 * d + j] = g;
            gt[3 * d + j] = o;
            c[j] = i * g + (c_prev ? f * c_prev[j] : 0.0f);
            tc[j] = tanhf(c[j]);
            h[j] = o * tc[j];
        }
        h_prev = h;
        c_prev = c;
    }
}

/* Backward through time for one direction. dy: d loss / d y (stride H, columns [col, col + d)).
 * Accumulates the parameter gradients and ADDS d loss / d x into dx [N, in]. */
static void lstm_dir_bwd(prompt_enc *e, int k, const float *x, const float *y, const float *dy, int col, float *dx)
{
    const lstm_dir *p = &e->dirs[k];
    int n = e->n, d = e->h / 2, g4 = 4 * d;
    size_t H = (size_t)e->h;
    float *dG = e->scratch, *dh = dG + (size_t)n * (size_t)g4, *dc = dh + d;
    const float *G = e->gates[k];
    memset(dh, 0, 2 * (size_t)d * sizeof *dh);
    bool reverse = k & 1;
    for (int s = n - 1; s >= 0; s--) {
        int t = reverse ? n - 1 - s : s;
        int tp = reverse ? t + 1 : t - 1; /* the step before t in this direction's order */
        bool first = s == 0;
        const float *gt = G + (size_t)t * (size_t)g4;
        const float *tc = e->tanh_c[k] + (size_t)t * (size_t)d;
        const float *c_prev = first ? NULL : e->cell[k] + (size_t)tp * (size_t)d;
        float *dgt = dG + (size_t)t * (size_t)g4;
        for (int j = 0; j < d; j++) {
            float i = gt[j], f = gt[d + j], g = gt[2 * d + j], o = gt[3 * d + j];
            float dhj = dh[j] + dy[(size_t)t * H + (size_t)col + (size_t)j];
            float dcj = dc[j] + dhj * o * (1.0f - tc[j] * tc[j]);
            dgt[j] = dcj * g * i * (1.0f - i);
            dgt[d + j] = c_prev ? dcj * c_prev[j] * f * (1.0f - f) : 0.0f;
            dgt[2 * d + j] = dcj * i * (1.0f - g * g);
            dgt[3 * d + j] = dhj * tc[j] * o * (1.0f - o);
            dc[j] = dcj * f;
        }
        if (first)
            break;
        const float *h_prev = y + (size_t)tp * H + (size_t)col;
        /* dW_hh += dg_t h_prev^T; dh_prev = W_hh^T dg_t */
        cblas_sger(CblasRowMajor, g4, d, 1.0f, dgt, 1, h_prev, 1, e->grads + p->w_hh, d);
        cblas_sgemv(CblasRowMajor, CblasTrans, g4, d, 1.0f, e->params + p->w_hh, d, dgt, 1, 0.0f, dh, 1);
    }
    float *dbih = e->grads + p->b_ih, *dbhh = e->grads + p->b_hh;
    for (int t = 0; t < n; t++)
        for (int j = 0; j < g4; j++) {
            float v = dG[(size_t)t * (size_t)g4 + (size_t)j];
            dbih[j] += v;
            dbhh[j] += v;
        }
    cblas_sgemm(CblasRowMajor, CblasTrans, CblasNoTrans, g4, p->in, n, 1.0f, dG, g4, x, p->in, 1.0f,
                e->grads + p->w_ih, p->in);
    cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasNoTrans, n, p->in, g4, 1.0f, dG, g4, e->params + p->w_ih, p->in,
                1.0f, dx, p->in);
}

void prompt_forward(prompt_enc *e, float *out)
{
    size_t N = (size_t)e->n, H = (size_t)e->h;
    const float *emb = e->params + e->emb;
    switch (e->kind) {
    case PROMPT_NONE:
        memcpy(out, emb, N * H * sizeof *out);
        break;
    case PROMPT_MLP:
        lin_fwd(e, &e->l1, emb, e->a1);
        relu(e->a1, e->r1, N * (size_t)e->hidden);
        lin_fwd(e, &e->l2, e->r1, e->a2);
        relu(e->a2, e->r2, N * (size_t)e->hidden);
        lin_fwd(e, &e->l3, e->r2, out);
        break;
    case PROMPT_LSTM:
        for (int layer = 0; layer < 2; layer++) {
            const float *x = layer ? e->y[0] : emb;
            lstm_dir_fwd(e, 2 * layer, x, e->y[layer], 0);
            lstm_dir_fwd(e, 2 * layer + 1, x, e->y[layer], e->h / 2);
        }
        lin_fwd(e, &e->l1, e->y[1], e->a1);
        relu(e->a1, e->r1, N * H);
        lin_fwd(e, &e->l2, e->r1, out);
        break;
    }
}

void prompt_backward(prompt_enc *e, const float *d_out)
{
    size_t N = (size_t)e->n, H = (size_t)e->h;
    float *d_emb = e->grads + e->emb;
    const float *emb = e->params + e->emb;
    switch (e->kind) {
    case PROMPT_NONE:
        for (size_t i = 0; i < N * H; i++)
            d_emb[i] += d_out[i];
        break;
    case PROMPT_MLP: {
        size_t m = N * (size_t)e->hidden;
        float *t1 = e->scratch, *t2 = e->scratch + (m > N * H ? m : N * H);
        lin_bwd(e, &e->l3, e->r2, d_out, t1);
        relu_bwd(e->a2, t1, m);
        lin_bwd(e, &e->l2, e->r1, t1, t2);
        relu_bwd(e->a1, t2, m);
        /* The embedding's gradient is dx of the first layer: computed into t1, then added. */
        lin_bwd(e, &e->l1, emb, t2, t1);
        for (size_t i = 0; i < N * H; i++)
            d_emb[i] += t1[i];
        break;
    }
    case PROMPT_LSTM: {
        int d = e->h / 2;
        float *dy1 = e->scratch + N * 4 * (size_t)d + 2 * (size_t)d, *dy0 = dy1 + N * H;
        lin_bwd(e, &e->l2, e->r1, d_out, dy0);
        relu_bwd(e->a1, dy0, N * H);
        lin_bwd(e, &e->l1, e->y[1], dy0, dy1);
        memset(dy0, 0, N * H * sizeof *dy0);
        lstm_dir_bwd(e, 2, e->y[0], e->y[1], dy1, 0, dy0);
        lstm_dir_bwd(e, 3, e->y[0], e->y[1], dy1, d, dy0);
        lstm_dir_bwd(e, 0, emb, e->y[0], dy0, 0, d_emb);
        lstm_dir_bwd(e, 1, emb, e->y[0], dy0, d, d_emb);
        break;
    }
    }
}
