#include "tensor.h"

#include <cblas.h>
#include <stdatomic.h>
#include <math.h>
#include <stdint.h>
#include <string.h>

#include "gemm.h"
#include "pool.h"

/* Each elementwise kernel is compiled for baseline x86-64, for AVX2 and for AVX-512, and the
 * dynamic loader picks the widest the CPU has (GCC function multiversioning): the build stays
 * portable and the kernels run at the machine's vector width. */
#if defined(__GNUC__) && !defined(__clang__) && defined(__x86_64__)
#define SIMD_CLONES __attribute__((target_clones("default", "arch=x86-64-v3", "arch=x86-64-v4")))
#else
#define SIMD_CLONES
#endif

/* The elementwise kernels use their own exp and erf: branch-free polynomials that the compiler
 * vectorises (libm's expf/erff are scalar calls, and GELU's erf alone cost more than all the
 * LayerNorms and softmaxes of a forward pass). Both are checked against libm in test-tensor. */

/* e^x with relative error below 2e-7 for x in [-87, 88]; x is clamped to that range, so exp of
 * a very negative number is ~1e-38 rather than 0 (Cephes expf's reduction and polynomial). */
static inline float vexp(float x)
{
    /* Written so that NaN lands in range too (a comparison with NaN is false): converting NaN to int
     * below is undefined behaviour, and NaN does come in (from a prompt or weights out of range). */
    x = x > -87.0f ? x : -87.0f;
    x = x < 88.0f ? x : 88.0f;
    /* adding and subtracting 1.5 * 2^23 rounds to the nearest integer */
    float n = (x * 1.44269504088896341f + 12582912.0f) - 12582912.0f;
    float r = x - n * 0.693359375f + n * 2.12194440e-4f;
    float p = 1.9875691500e-4f;
    p = p * r + 1.3981999507e-3f;
    p = p * r + 8.3334519073e-3f;
    p = p * r + 4.1665795894e-2f;
    p = p * r + 1.6666665459e-1f;
    p = p * r + 5.0000001201e-1f;
    p = p * r * r + r + 1.0f;
    int32_t bits = ((int32_t)n + 127) << 23;
    float scale;
    memcpy(&scale, &bits, sizeof scale);
    return p * scale;
}

/* erf(x) with absolute error below 2e-7: odd/even rational approximation on [-4, 4] (beyond
 * which erf is +-1 in single precision), the one Eigen and TensorFlow use. */
static inline float verf(float x)
{
    x = x < -4.0f ? -4.0f : x;
    x = x > 4.0f ? 4.0f : x;
    const float x2 = x * x;
    float p = -2.72614225801306e-10f;
    p = p * x2 + 2.77068142495902e-08f;
    p = p * x2 - 2.10102402082508e-06f;
    p = p * x2 - 5.69250639462346e-05f;
    p = p * x2 - 7.34990630326855e-04f;
    p = p * x2 - 2.95459980854025e-03f;
    p = p * x2 - 1.60960333262415e-02f;
    float q = -1.45660718464996e-05f;
    q = q * x2 - 2.13374055278905e-04f;
    q = q * x2 - 1.68282697438203e-03f;
    q = q * x2 - 7.37332916720468e-03f;
    q = q * x2 - 1.42647390514189e-02f;
    return x * p / q;
}

void tensor_gemm_nt(int m, int n, int k, float alpha, const float *a, int lda, const float *b, int ldb, float beta,
                    float *c, int ldc)
{
    if (m <= 0 || n <= 0)
        return;
    if (gemm_ok())
        gemm_nt(m, n, k, alpha, a, lda, b, ldb, beta, c, ldc, NULL);
    else
        cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasTrans, m, n, k, alpha, a, lda, b, ldb, beta, c, ldc);
}

void tensor_gemm_nn(int m, int n, int k, float alpha, const float *a, int lda, const float *b, int ldb, float beta,
                    float *c, int ldc)
{
    if (m <= 0 || n <= 0)
        return;
    /* a few rows against a long reduction (the MLM decoder's backward) stream B better in OpenBLAS */
    if (gemm_ok() && m >= 6)
        gemm_nn(m, n, k, alpha, a, lda, b, ldb, beta, c, ldc);
    else
        cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasNoTrans, m, n, k, alpha, a, lda, b, ldb, beta, c, ldc);
}

SIMD_CLONES
void tensor_linear(int m, int n, int k, const float *x, const float *w, const float *bias, float *y)
{
    if (m <= 0)
        return;
    if (gemm_ok()) {
        gemm_nt(m, n, k, 1.0f, x, k, w, k, 0.0f, y, n, bias);
        return;
    }
    /* Seeding Y with the bias and letting sgemm accumulate (beta = 1) saves a separate pass. */
    if (bias)
        for (int i = 0; i < m; i++)
            for (int j = 0; j < n; j++)
                y[(size_t)i * n + j] = bias[j];
    tensor_gemm_nt(m, n, k, 1.0f, x, k, w, k, bias ? 1.0f : 0.0f, y, n);
}

SIMD_CLONES
static void bias_gelu_rows(int m, int n, float *x, const float *bias, float *pre)
{
    for (int i = 0; i < m; i++) {
        float *row = x + (size_t)i * n;
        if (pre) {
            float *prow = pre + (size_t)i * n;
#pragma omp simd
            for (int j = 0; j < n; j++) {
                float u = row[j] + bias[j];
                prow[j] = u;
                row[j] = 0.5f * u * (1.0f + verf(u * (float)M_SQRT1_2));
            }
        } else {
#pragma omp simd
            for (int j = 0; j < n; j++) {
                float u = row[j] + bias[j];
                row[j] = 0.5f * u * (1.0f + verf(u * (float)M_SQRT1_2));
            }
        }
    }
}

SIMD_CLONES
static void gelu_backward_run(size_t count, float *d, const float *pre)
{
    /* gelu'(u) = Phi(u) + u phi(u), with Phi the normal CDF and phi its density. */
    const float inv_sqrt_2pi = 0.39894228040143267794f;
#pragma omp simd
    for (size_t i = 0; i < count; i++) {
        float u = pre[i];
        float cdf = 0.5f * (1.0f + verf(u * (float)M_SQRT1_2));
        float pdf = inv_sqrt_2pi * vexp(-0.5f * u * u);
        d[i] *= cdf + u * pdf;
    }
}

SIMD_CLONES
static void add_layernorm_rows(int m, int n, const float *x, const float *bias, const float *res, const float *g,
                               const float *b, float eps, float *y, float *xhat, float *rstd)
{
    for (int i = 0; i < m; i++) {
        const float *xr = x + (size_t)i * n;
        const float *rr = res ? res + (size_t)i * n : NULL;
        float *yr = y + (size_t)i * n;
        double sum = 0;
        if (bias && rr) {
#pragma omp simd reduction(+ : sum)
            for (int j = 0; j < n; j++) {
                float v = xr[j] + bias[j] + rr[j];
                yr[j] = v;
                sum += v;
            }
        } else {
            for (int j = 0; j < n; j++) {
                float v = xr[j] + (bias ? bias[j] : 0.0f) + (rr ? rr[j] : 0.0f);
                yr[j] = v;
                sum += v;
            }
        }
        const float mean = (float)(sum / n);
        double ss = 0;
#pragma omp simd reduction(+ : ss)
        for (int j = 0; j < n; j++) {
            float c = yr[j] - mean;
            ss += (double)c * c;
        }
        const float rs = (float)(1.0 / sqrt(ss / n + eps));
        if (xhat) {
            float *hr = xhat + (size_t)i * n;
#pragma omp simd
            for (int j = 0; j < n; j++) {
                float h = (yr[j] - mean) * rs;
                hr[j] = h;
                yr[j] = h * g[j] + b[j];
            }
        } else {
#pragma omp simd
            for (int j = 0; j < n; j++)
                yr[j] = (yr[j] - mean) * rs * g[j] + b[j];
        }
        if (rstd)
            rstd[i] = rs;
    }
}

SIMD_CLONES
static void layernorm_backward_rows(int m, int n, const float *dy, const float *g, const float *xhat,
                                    const float *rstd, float *dv)
{
    /* dv = rstd (g dy - mean(g dy) - xhat mean(g dy xhat)) */
    for (int i = 0; i < m; i++) {
        const float *dyr = dy + (size_t)i * n;
        const float *hr = xhat + (size_t)i * n;
        float *dvr = dv + (size_t)i * n;
        double s1 = 0, s2 = 0;
#pragma omp simd reduction(+ : s1, s2)
        for (int j = 0; j < n; j++) {
            float gd = g[j] * dyr[j];
            s1 += gd;
            s2 += (double)gd * hr[j];
        }
        const float m1 = (float)(s1 / n), m2 = (float)(s2 / n), rs = rstd[i];
#pragma omp simd
        for (int j = 0; j < n; j++)
            dvr[j] = rs * (g[j] * dyr[j] - m1 - hr[j] * m2);
    }
}

/* The row-wise passes above, split into blocks of rows over the pool when they are big enough to
 * repay the hand-off (a few hundred microseconds of work; below that the caller runs them alone). */
enum { ROWS_GELU, ROWS_GELU_BACK, ROWS_LN, ROWS_LN_BACK };
#define ROWS_PAR_MIN (1 << 16) /* elements */

typedef struct rows_job {
    int kind, m, n, per_task;
    float *x, *pre, *y, *xhat, *rstd;
    const float *cx, *bias, *res, *g, *b, *cxhat, *crstd;
    float eps;
} rows_job;

static void rows_task(void *arg, int t)
{
    const rows_job *j = arg;
    const int r0 = t * j->per_task, rows = j->m - r0 < j->per_task ? j->m - r0 : j->per_task;
    const size_t o = (size_t)r0 * j->n;
    switch (j->kind) {
    case ROWS_GELU:
        bias_gelu_rows(rows, j->n, j->x + o, j->bias, j->pre ? j->pre + o : NULL);
        break;
    case ROWS_GELU_BACK:
        gelu_backward_run((size_t)rows * j->n, j->x + o, j->cx + o);
        break;
    case ROWS_LN:
        add_layernorm_rows(rows, j->n, j->cx + o, j->bias, j->res ? j->res + o : NULL, j->g, j->b, j->eps, j->y + o,
                           j->xhat ? j->xhat + o : NULL, j->rstd ? j->rstd + r0 : NULL);
        break;
    default:
        layernorm_backward_rows(rows, j->n, j->cx + o, j->g, j->cxhat + o, j->crstd + r0, j->y + o);
        break;
    }
}

static void rows_run(rows_job *j)
{
    const int threads = pool_threads();
    if (threads == 1 || (size_t)j->m * j->n < ROWS_PAR_MIN) {
        j->per_task = j->m;
        rows_task(j, 0);
        return;
    }
    j->per_task = (j->m + 2 * threads - 1) / (2 * threads);
    pool_run((j->m + j->per_task - 1) / j->per_task, rows_task, j);
}

void tensor_bias_gelu(int m, int n, float *x, const float *bias, float *pre)
{
    if (m > 0)
        rows_run(&(rows_job){.kind = ROWS_GELU, .m = m, .n = n, .x = x, .bias = bias, .pre = pre});
}

void tensor_gelu_backward(size_t count, float *d, const float *pre)
{
    /* as rows of 1024 elements, and the tail alone */
    const size_t rows = count / 1024;
    if (rows > 0)
        rows_run(&(rows_job){.kind = ROWS_GELU_BACK, .m = (int)rows, .n = 1024, .x = d, .cx = pre});
    gelu_backward_run(count - rows * 1024, d + rows * 1024, pre + rows * 1024);
}

void tensor_add_layernorm(int m, int n, const float *x, const float *bias, const float *res, const float *g,
                          const float *b, float eps, float *y, float *xhat, float *rstd)
{
    if (m > 0)
        rows_run(&(rows_job){.kind = ROWS_LN, .m = m, .n = n, .cx = x, .bias = bias, .res = res, .g = g, .b = b,
                             .eps = eps, .y = y, .xhat = xhat, .rstd = rstd});
}

void tensor_layernorm_backward(int m, int n, const float *dy, const float *g, const float *xhat, const float *rstd,
                               float *dv)
{
    if (m > 0)
        rows_run(&(rows_job){.kind = ROWS_LN_BACK, .m = m, .n = n, .cx = dy, .g = g, .cxhat = xhat, .crstd = rstd,
                             .y = dv});
}

SIMD_CLONES
void tensor_softmax_rows(int m, int n, float *s, int lds, float scale)
{
    for (int i = 0; i < m; i++) {
        float *r = s + (size_t)i * lds;
        float mx = r[0];
#pragma omp simd reduction(max : mx)
        for (int j = 1; j < n; j++)
            mx = r[j] > mx ? r[j] : mx;
        float sum = 0;
#pragma omp simd reduction(+ : sum)
        for (int j = 0; j < n; j++) {
            r[j] = vexp(scale * (r[j] - mx));
            sum += r[j];
        }
        const float inv = 1.0f / sum;
#pragma omp simd
        for (int j = 0; j < n; j++)
            r[j] *= inv;
    }
}

SIMD_CLONES
void tensor_softmax_backward(int m, int n, float *d, int ldd, const float *p, int ldp, float scale)
{
    for (int i = 0; i < m; i++) {
        float *dr = d + (size_t)i * ldd;
        const float *pr = p + (size_t)i * ldp;
        float dot = 0;
#pragma omp simd reduction(+ : dot)
        for (int j = 0; j < n; j++)
            dot += dr[j] * pr[j];
#pragma omp simd
        for (int j = 0; j < n; j++)
            dr[j] = scale * pr[j] * (dr[j] - dot);
    }
}

/* 0 until first asked: then OpenBLAS's own count (OPENBLAS_NUM_THREADS, else the CPUs). */
static _Atomic int engine_threads;

/* With the engine's own products, OpenBLAS is left one thread: what still goes to it is small, and
 * its idle threads spin-wait for a long while after each call, taking a core from the pool. */
static void blas_threads_for(int n)
{
    openblas_set_num_threads(gemm_ok() ? 1 : n);
}

int tensor_threads(void)
{
    int n = engine_threads;
    if (n == 0) {
        n = openblas_get_num_threads();
        n = n < 1 ? 1 : n;
        int expected = 0;
        if (atomic_compare_exchange_strong(&engine_threads, &expected, n))
            blas_threads_for(n);
        else
            n = expected;
    }
    return n;
}

void tensor_set_threads(int n)
{
    n = n < 1 ? 1 : n;
    engine_threads = n;
    blas_threads_for(n);
}

/* xt[c, j] = x[j, c] for a [L, d] block with row stride ldx. */
SIMD_CLONES
static void transpose(int L, int d, const float *restrict x, int ldx, float *restrict xt)
{
    for (int j = 0; j < L; j++)
        for (int c = 0; c < d; c++)
            xt[(size_t)c * L + j] = x[(size_t)j * ldx + c];
}

/* C[m,n] = A[m,k] B[k,n] in the calling thread, for CPUs without AVX-512: the inner loop runs
 * along a row of B and of C. */
SIMD_CLONES
static void nn_portable(int m, int n, int k, const float *restrict a, int lda, const float *restrict b, int ldb,
                        float *restrict c, int ldc)
{
    for (int i = 0; i < m; i++) {
        float *restrict ci = c + (size_t)i * ldc;
        const float *ai = a + (size_t)i * lda;
#pragma omp simd
        for (int j = 0; j < n; j++)
            ci[j] = 0.0f;
        for (int p = 0; p < k; p++) {
            const float x = ai[p], *restrict bp = b + (size_t)p * ldb;
#pragma omp simd
            for (int j = 0; j < n; j++)
                ci[j] += x * bp[j];
        }
    }
}

static void nn_serial(int m, int n, int k, const float *a, int lda, const float *b, int ldb, float *c, int ldc)
{
    if (gemm_ok())
        gemm_nn_serial(m, n, k, a, lda, b, ldb, c, ldc);
    else
        nn_portable(m, n, k, a, lda, b, ldb, c, ldc);
}

void tensor_attention_head(int nq, int L, int d, const float *q, int ldq, const float *k, const float *v, int ldkv,
                           float scale, float *p, float *ctx, int ldc, float *kt)
{
    transpose(L, d, k, ldkv, kt);
    nn_serial(nq, L, d, q, ldq, kt, L, p, L);
    tensor_softmax_rows(nq, L, p, L, scale);
    nn_serial(nq, d, L, p, L, v, ldkv, ctx, ldc);
}

void tensor_attention_head_backward(int nq, int L, int d, const float *q, int ldq, const float *k, const float *v,
                                    int ldkv, float scale, const float *p, const float *dctx, int ldd, float *dq,
                                    float *dk, float *dv, float *dp, float *scratch)
{
    /* the products with a transposed operand go through a transposed copy: vt [d, L], t [L, nq] */
    float *vt = scratch, *t = scratch + (size_t)d * L;
    transpose(L, d, v, ldkv, vt);
    nn_serial(nq, L, d, dctx, ldd, vt, L, dp, L);
    transpose(nq, L, p, L, t);
    nn_serial(L, d, nq, t, nq, dctx, ldd, dv, ldkv);
    tensor_softmax_backward(nq, L, dp, L, p, L, scale);
    nn_serial(nq, d, L, dp, L, k, ldkv, dq, ldq);
    transpose(nq, L, dp, L, t);
    nn_serial(L, d, nq, t, nq, q, ldq, dk, ldkv);
}
