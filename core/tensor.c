#include "tensor.h"

#include <cblas.h>
#include <math.h>

void tensor_gemm_nt(int m, int n, int k, float alpha, const float *a, int lda, const float *b, int ldb, float beta,
                    float *c, int ldc)
{
    if (m <= 0 || n <= 0)
        return;
    cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasTrans, m, n, k, alpha, a, lda, b, ldb, beta, c, ldc);
}

void tensor_gemm_nn(int m, int n, int k, float alpha, const float *a, int lda, const float *b, int ldb, float beta,
                    float *c, int ldc)
{
    if (m <= 0 || n <= 0)
        return;
    cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasNoTrans, m, n, k, alpha, a, lda, b, ldb, beta, c, ldc);
}

void tensor_gemm_tn(int m, int n, int k, float alpha, const float *a, int lda, const float *b, int ldb, float beta,
                    float *c, int ldc)
{
    if (m <= 0 || n <= 0)
        return;
    cblas_sgemm(CblasRowMajor, CblasTrans, CblasNoTrans, m, n, k, alpha, a, lda, b, ldb, beta, c, ldc);
}

void tensor_linear(int m, int n, int k, const float *x, const float *w, const float *bias, float *y)
{
    if (m <= 0)
        return;
    /* Seeding Y with the bias and letting sgemm accumulate (beta = 1) saves a separate pass. */
    if (bias)
        for (int i = 0; i < m; i++)
            for (int j = 0; j < n; j++)
                y[(size_t)i * n + j] = bias[j];
    tensor_gemm_nt(m, n, k, 1.0f, x, k, w, k, bias ? 1.0f : 0.0f, y, n);
}

void tensor_bias_gelu(int m, int n, float *x, const float *bias, float *pre)
{
    for (int i = 0; i < m; i++) {
        float *row = x + (size_t)i * n;
        float *prow = pre ? pre + (size_t)i * n : NULL;
        for (int j = 0; j < n; j++) {
            float u = row[j] + bias[j];
            if (prow)
                prow[j] = u;
            row[j] = 0.5f * u * (1.0f + erff(u * (float)M_SQRT1_2));
        }
    }
}

void tensor_gelu_backward(size_t count, float *d, const float *pre)
{
    /* gelu'(u) = Phi(u) + u phi(u), with Phi the normal CDF and phi its density. */
    const float inv_sqrt_2pi = 0.39894228040143267794f;
    for (size_t i = 0; i < count; i++) {
        float u = pre[i];
        float cdf = 0.5f * (1.0f + erff(u * (float)M_SQRT1_2));
        float pdf = inv_sqrt_2pi * expf(-0.5f * u * u);
        d[i] *= cdf + u * pdf;
    }
}

void tensor_add_layernorm(int m, int n, const float *x, const float *bias, const float *res, const float *g,
                          const float *b, float eps, float *y, float *xhat, float *rstd)
{
    for (int i = 0; i < m; i++) {
        const float *xr = x + (size_t)i * n;
        const float *rr = res ? res + (size_t)i * n : NULL;
        float *yr = y + (size_t)i * n;
        double sum = 0;
        for (int j = 0; j < n; j++) {
            float v = xr[j] + (bias ? bias[j] : 0.0f) + (rr ? rr[j] : 0.0f);
            yr[j] = v;
            sum += v;
        }
        float mean = (float)(sum / n);
        double ss = 0;
        for (int j = 0; j < n; j++) {
            float c = yr[j] - mean;
            ss += (double)c * c;
        }
        float rs = (float)(1.0 / sqrt(ss / n + eps));
        float *hr = xhat ? xhat + (size_t)i * n : NULL;
        for (int j = 0; j < n; j++) {
            float h = (yr[j] - mean) * rs;
            if (hr)
                hr[j] = h;
            yr[j] = h * g[j] + b[j];
        }
        if (rstd)
            rstd[i] = rs;
    }
}

void tensor_layernorm_backward(int m, int n, const float *dy, const float *g, const float *xhat, const float *rstd,
                               float *dv)
{
    /* dv = rstd (g dy - mean(g dy) - xhat mean(g dy xhat)) */
    for (int i = 0; i < m; i++) {
        const float *dyr = dy + (size_t)i * n;
        const float *hr = xhat + (size_t)i * n;
        float *dvr = dv + (size_t)i * n;
        double s1 = 0, s2 = 0;
        for (int j = 0; j < n; j++) {
            float gd = g[j] * dyr[j];
            s1 += gd;
            s2 += (double)gd * hr[j];
        }
        float m1 = (float)(s1 / n), m2 = (float)(s2 / n), rs = rstd[i];
        for (int j = 0; j < n; j++)
            dvr[j] = rs * (g[j] * dyr[j] - m1 - hr[j] * m2);
    }
}

void tensor_softmax_rows(int m, int n, float *s, int lds, float scale)
{
    for (int i = 0; i < m; i++) {
        float *r = s + (size_t)i * lds;
        float mx = r[0];
        for (int j = 1; j < n; j++)
            mx = r[j] > mx ? r[j] : mx;
        float sum = 0;
        for (int j = 0; j < n; j++) {
            r[j] = expf(scale * (r[j] - mx));
            sum += r[j];
        }
        float inv = 1.0f / sum;
        for (int j = 0; j < n; j++)
            r[j] *= inv;
    }
}

void tensor_softmax_backward(int m, int n, float *d, int ldd, const float *p, int ldp, float scale)
{
    for (int i = 0; i < m; i++) {
        float *dr = d + (size_t)i * ldd;
        const float *pr = p + (size_t)i * ldp;
        float dot = 0;
        for (int j = 0; j < n; j++)
            dot += dr[j] * pr[j];
        for (int j = 0; j < n; j++)
            dr[j] = scale * pr[j] * (dr[j] - dot);
    }
}
