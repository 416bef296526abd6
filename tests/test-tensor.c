/* Unit tests for core/tensor: every kernel against a naive double-precision loop, and every
 * backward against central finite differences of its own forward. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "tensor.h"

static uint64_t rng_state;

static float uniform(void)
{
    /* splitmix64: reproducible across platforms, unlike rand() */
    uint64_t z = (rng_state += 0x9e3779b97f4a7c15ULL);
    z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ULL;
    z = (z ^ (z >> 27)) * 0x94d049bb133111ebULL;
    z ^= z >> 31;
    return (float)((z >> 40) / 16777216.0) * 2.0f - 1.0f;
}

static float *rand_vec(size_t n, float scale)
{
    float *v = malloc(n * sizeof *v);
    assert_non_null(v);
    for (size_t i = 0; i < n; i++)
        v[i] = scale * uniform();
    return v;
}

static double dot(size_t n, const float *a, const float *b)
{
    double s = 0;
    for (size_t i = 0; i < n; i++)
        s += (double)a[i] * b[i];
    return s;
}

static double max_abs(size_t n, const float *v)
{
    double m = 0;
    for (size_t i = 0; i < n; i++)
        m = fmax(m, fabs(v[i]));
    return m;
}

/* Checks a gemm wrapper on a sub-block (strides wider than the block) against a naive loop,
 * and that the block's neighbours are untouched. opb: 't' when B is transposed. (test-gemm covers
 * the engine's own products over many shapes.) */
static void check_gemm(char opb)
{
    const int m = 7, n = 5, k = 9, pad = 3;
    const int lda = k + pad, ldb = (opb == 't' ? k : n) + pad, ldc = n + pad;
    float *a = rand_vec((size_t)m * lda, 1);
    float *b = rand_vec((size_t)(opb == 't' ? n : k) * ldb, 1);
    float *c = rand_vec((size_t)m * ldc, 1);
    float *c0 = malloc((size_t)m * ldc * sizeof *c0);
    memcpy(c0, c, (size_t)m * ldc * sizeof *c0);
    const float alpha = 0.75f, beta = 0.5f;
    if (opb == 't')
        tensor_gemm_nt(m, n, k, alpha, a, lda, b, ldb, beta, c, ldc);
    else
        tensor_gemm_nn(m, n, k, alpha, a, lda, b, ldb, beta, c, ldc);
    for (int i = 0; i < m; i++) {
        for (int j = 0; j < n; j++) {
            double s = 0;
            for (int p = 0; p < k; p++) {
                double av = a[i * lda + p];
                double bv = opb == 't' ? b[j * ldb + p] : b[p * ldb + j];
                s += av * bv;
            }
            double want = alpha * s + beta * c0[i * ldc + j];
            assert_float_equal(c[i * ldc + j], want, 1e-5);
        }
        for (int j = n; j < ldc; j++)
            assert_true(c[i * ldc + j] == c0[i * ldc + j]);
    }
    free(a);
    free(b);
    free(c);
    free(c0);
}

static void test_gemm_matches_naive(void **state)
{
    (void)state;
    rng_state = 1;
    check_gemm('t');
    check_gemm('n');
}

static void test_linear_adds_bias(void **state)
{
    (void)state;
    rng_state = 2;
    const int m = 6, n = 4, k = 10;
    float *x = rand_vec((size_t)m * k, 1), *w = rand_vec((size_t)n * k, 1), *b = rand_vec(n, 1);
    float y[6 * 4], y0[6 * 4];
    tensor_linear(m, n, k, x, w, b, y);
    tensor_linear(m, n, k, x, w, NULL, y0);
    for (int i = 0; i < m; i++)
        for (int j = 0; j < n; j++) {
            double want = dot(k, x + i * k, w + j * k);
            assert_float_equal(y0[i * n + j], want, 1e-5);
            assert_float_equal(y[i * n + j], want + b[j], 1e-5);
        }
    free(x);
    free(w);
    free(b);
}

static void test_gelu_values(void **state)
{
    (void)state;
    /* gelu(u) = u Phi(u); Phi(1) = 0.8413447460685429, Phi(-2) = 0.022750131948179195 */
    float x[4] = {1.0f, -2.0f, 0.0f, 3.0f}, bias[4] = {0, 0, 0.5f, -3.0f}, pre[4];
    tensor_bias_gelu(1, 4, x, bias, pre);
    assert_float_equal(x[0], 0.8413447460685429, 1e-6);
    assert_float_equal(x[1], -2 * 0.022750131948179195, 1e-6);
    assert_float_equal(x[2], 0.5 * 0.6914624612740131, 1e-6);
    assert_float_equal(x[3], 0.0, 1e-7);
    assert_float_equal(pre[2], 0.5, 0);
    assert_float_equal(pre[3], 0.0, 0);
}

/* The kernels' own erf and exp against libm in double, over the whole useful range. */
static void test_gelu_and_exp_match_libm_on_a_grid(void **state)
{
    (void)state;
    enum { N = 4001 };
    static float u[N], pre[N], d[N], zero[N];
    for (int i = 0; i < N; i++)
        u[i] = -10.0f + 0.005f * i;
    memcpy(d, u, sizeof d);
    tensor_bias_gelu(1, N, d, zero, pre);
    double worst = 0, worst_d = 0;
    for (int i = 0; i < N; i++) {
        double x = u[i], want = 0.5 * x * (1 + erf(x / sqrt(2.0)));
        worst = fmax(worst, fabs(d[i] - want) / fmax(1, fabs(x)));
        d[i] = 1.0f;
    }
    tensor_gelu_backward(N, d, pre);
    for (int i = 0; i < N; i++) {
        double x = u[i], want = 0.5 * (1 + erf(x / sqrt(2.0))) + x * exp(-0.5 * x * x) / sqrt(2 * M_PI);
        worst_d = fmax(worst_d, fabs(d[i] - want));
    }
    assert_true(worst < 5e-7);
    assert_true(worst_d < 5e-7);
    /* softmax([0, x]) = (1, e^x) / (1 + e^x): relative error of e^x down to x = -80 */
    double worst_exp = 0;
    for (float x = -80.0f; x <= 0.0f; x += 0.01f) {
        float s[2] = {0.0f, x};
        tensor_softmax_rows(1, 2, s, 2, 1.0f);
        double want = exp((double)x) / (1 + exp((double)x));
        worst_exp = fmax(worst_exp, fabs(s[1] - want) / want);
    }
    assert_true(worst_exp < 1e-6);
}

static void test_gelu_backward_finite_differences(void **state)
{
    (void)state;
    rng_state = 3;
    const int n = 64;
    float *u = rand_vec(n, 4), *w = rand_vec(n, 1);
    float zero[64] = {0}, pre[64], d[64];
    float y[64];
    memcpy(y, u, sizeof y);
    tensor_bias_gelu(1, n, y, zero, pre);
    memcpy(d, w, sizeof d);
    tensor_gelu_backward(n, d, pre);
    const float h = 1e-2f;
    for (int i = 0; i < n; i++) {
        float p = u[i] + h, q = u[i] - h;
        tensor_bias_gelu(1, 1, &p, zero, NULL);
        tensor_bias_gelu(1, 1, &q, zero, NULL);
        double fd = w[i] * ((double)p - q) / (2 * h);
        assert_float_equal(d[i], fd, 2e-4);
    }
    free(u);
    free(w);
}

static void test_layernorm_matches_naive(void **state)
{
    (void)state;
    rng_state = 4;
    const int m = 3, n = 48;
    float *x = rand_vec((size_t)m * n, 3), *bias = rand_vec(n, 1), *res = rand_vec((size_t)m * n, 2);
    float *g = rand_vec(n, 1), *b = rand_vec(n, 1);
    float y[3 * 48], xhat[3 * 48], rstd[3];
    const float eps = 1e-12f;
    tensor_add_layernorm(m, n, x, bias, res, g, b, eps, y, xhat, rstd);
    for (int i = 0; i < m; i++) {
        double v[48], mean = 0, var = 0;
        for (int j = 0; j < n; j++)
            mean += v[j] = (double)x[i * n + j] + bias[j] + res[i * n + j];
        mean /= n;
        for (int j = 0; j < n; j++)
            var += (v[j] - mean) * (v[j] - mean);
        var /= n;
        double rs = 1 / sqrt(var + eps);
        assert_float_equal(rstd[i], rs, 1e-5 * rs);
        for (int j = 0; j < n; j++) {
            assert_float_equal(xhat[i * n + j], (v[j] - mean) * rs, 1e-5);
            assert_float_equal(y[i * n + j], (v[j] - mean) * rs * g[j] + b[j], 1e-5);
        }
    }
    /* In place over the residual, without bias, as the encoder uses it: same as out of place. */
    float want[3 * 48];
    tensor_add_layernorm(m, n, x, NULL, res, g, b, eps, want, NULL, NULL);
    tensor_add_layernorm(m, n, x, NULL, res, g, b, eps, res, NULL, NULL);
    assert_memory_equal(res, want, sizeof want);
    free(x);
    free(bias);
    free(res);
    free(g);
    free(b);
}

/* The row passes are split over the pool above 65,536 elements: rows are independent, so the
 * result must not depend on the thread count, bit for bit; row i is checked against the same
 * function called on that row alone (the serial path). */
static void test_row_passes_split_over_threads(void **state)
{
    (void)state;
    rng_state = 17;
    const int m = 301, n = 300; /* 90,300 elements: split; gelu_backward also has a tail */
    const size_t mn = (size_t)m * n;
    float *x = rand_vec(mn, 3), *res = rand_vec(mn, 2), *bias = rand_vec(n, 1), *g = rand_vec(n, 1);
    float *b = rand_vec(n, 1), *dy = rand_vec(mn, 1);
    float *out[2][6];
    for (int run = 0; run < 2; run++) {
        tensor_set_threads(run == 0 ? 1 : 3);
        float **o = out[run];
        for (int i = 0; i < 6; i++)
            o[i] = malloc(mn * sizeof(float));
        memcpy(o[0], x, mn * sizeof(float));
        tensor_bias_gelu(m, n, o[0], bias, o[1]);
        memcpy(o[2], dy, mn * sizeof(float));
        tensor_gelu_backward(mn, o[2], x);
        float *rstd = malloc((size_t)m * sizeof(float));
        tensor_add_layernorm(m, n, x, bias, res, g, b, 1e-12f, o[3], o[4], rstd);
        tensor_layernorm_backward(m, n, dy, g, o[4], rstd, o[5]);
        if (run == 1) {
            for (int i = 0; i < 6; i++)
                assert_memory_equal(out[0][i], o[i], mn * sizeof(float));
            /* one row on its own (below the split threshold) gives the same numbers */
            float row[300], hrow[300], rs;
            const int r = 150;
            tensor_add_layernorm(1, n, x + (size_t)r * n, bias, res + (size_t)r * n, g, b, 1e-12f, row, hrow, &rs);
            assert_memory_equal(row, o[3] + (size_t)r * n, sizeof row);
            assert_float_equal(rs, rstd[r], 0);
        }
        free(rstd);
    }
    tensor_set_threads(2);
    for (int run = 0; run < 2; run++)
        for (int i = 0; i < 6; i++)
            free(out[run][i]);
    free(x);
    free(res);
    free(bias);
    free(g);
    free(b);
    free(dy);
}

/* L(v) = sum w * layernorm(v); compares d L / d v from the backward with central differences. */
static void test_layernorm_backward_finite_differences(void **state)
{
    (void)state;
    rng_state = 5;
    const int m = 2, n = 16;
    float *v = rand_vec((size_t)m * n, 2), *w = rand_vec((size_t)m * n, 1);
    float *g = rand_vec(n, 1.5f), *b = rand_vec(n, 1);
    float y[2 * 16], xhat[2 * 16], rstd[2], dv[2 * 16];
    const float eps = 1e-5f;
    tensor_add_layernorm(m, n, v, NULL, NULL, g, b, eps, y, xhat, rstd);
    tensor_layernorm_backward(m, n, w, g, xhat, rstd, dv);
    const float h = 1e-2f;
    double scale = max_abs((size_t)m * n, dv);
    assert_true(scale > 0.1);
    for (int i = 0; i < m * n; i++) {
        float keep = v[i];
        v[i] = keep + h;
        tensor_add_layernorm(m, n, v, NULL, NULL, g, b, eps, y, NULL, NULL);
        double lp = dot((size_t)m * n, w, y);
        v[i] = keep - h;
        tensor_add_layernorm(m, n, v, NULL, NULL, g, b, eps, y, NULL, NULL);
        double lm = dot((size_t)m * n, w, y);
        v[i] = keep;
        assert_float_equal(dv[i], (lp - lm) / (2 * h), 2e-4 * scale);
    }
    /* In place (dv aliasing dy) gives the same result. */
    float d2[2 * 16];
    memcpy(d2, w, sizeof d2);
    tensor_layernorm_backward(m, n, d2, g, xhat, rstd, d2);
    assert_memory_equal(d2, dv, sizeof d2);
    free(v);
    free(w);
    free(g);
    free(b);
}

static void test_softmax_matches_naive(void **state)
{
    (void)state;
    rng_state = 6;
    const int m = 4, n = 9, ld = 12;
    float *s = rand_vec((size_t)m * ld, 20);
    float *s0 = malloc((size_t)m * ld * sizeof *s0);
    memcpy(s0, s, (size_t)m * ld * sizeof *s0);
    const float scale = 0.125f;
    tensor_softmax_rows(m, n, s, ld, scale);
    for (int i = 0; i < m; i++) {
        double z = 0, total = 0;
        for (int j = 0; j < n; j++)
            z += exp(scale * (double)s0[i * ld + j]);
        for (int j = 0; j < n; j++) {
            assert_float_equal(s[i * ld + j], exp(scale * (double)s0[i * ld + j]) / z, 1e-6);
            total += s[i * ld + j];
        }
        assert_float_equal(total, 1.0, 1e-6);
        for (int j = n; j < ld; j++)
            assert_true(s[i * ld + j] == s0[i * ld + j]);
    }
    /* Large scores must not overflow. */
    float big[3] = {1000.0f, 999.0f, -1000.0f};
    tensor_softmax_rows(1, 3, big, 3, 1.0f);
    assert_float_equal(big[0], 1 / (1 + exp(-1.0)), 1e-6);
    assert_float_equal(big[2], 0.0, 1e-30);
    free(s);
    free(s0);
}

/* One head against double-precision loops, with the strides the engine uses (q inside [nq, 3H],
 * keys and values inside [L, 3H]); the backward against finite differences of sum(w * ctx). */
enum { AQ = 5, AL = 7, AD = 4, ALD = 3 * AD + 1 };

static void head_naive(const float *q, const float *k, const float *v, double scale, double *p, double *ctx)
{
    for (int i = 0; i < AQ; i++) {
        double mx = -1e300, sum = 0;
        for (int j = 0; j < AL; j++) {
            double s = 0;
            for (int c = 0; c < AD; c++)
                s += (double)q[i * ALD + c] * k[j * ALD + c];
            p[i * AL + j] = s * scale;
            mx = fmax(mx, s * scale);
        }
        for (int j = 0; j < AL; j++)
            sum += (p[i * AL + j] = exp(p[i * AL + j] - mx));
        for (int c = 0; c < AD; c++)
            ctx[i * AD + c] = 0;
        for (int j = 0; j < AL; j++) {
            p[i * AL + j] /= sum;
            for (int c = 0; c < AD; c++)
                ctx[i * AD + c] += p[i * AL + j] * v[j * ALD + c];
        }
    }
}

static void test_attention_head_matches_naive_and_finite_differences(void **state)
{
    (void)state;
    rng_state = 99;
    float *q = rand_vec(AQ * ALD, 1.0f), *k = rand_vec(AL * ALD, 1.0f), *v = rand_vec(AL * ALD, 1.0f);
    float *w = rand_vec(AQ * AD, 1.0f), p[AQ * AL], ctx[AQ * AD], scratch[AQ * AL], t[(AD + AQ) * AL];
    float dq[AQ * ALD], dk[AL * ALD], dv[AL * ALD];
    const float scale = 0.5f;
    double pn[AQ * AL], cn[AQ * AD];
    tensor_attention_head(AQ, AL, AD, q, ALD, k, v, ALD, scale, p, ctx, AD, t);
    head_naive(q, k, v, scale, pn, cn);
    for (int i = 0; i < AQ * AL; i++)
        assert_true(fabs(p[i] - pn[i]) < 1e-6);
    for (int i = 0; i < AQ * AD; i++)
        assert_true(fabs(ctx[i] - cn[i]) < 1e-5);

    tensor_attention_head_backward(AQ, AL, AD, q, ALD, k, v, ALD, scale, p, w, AD, dq, dk, dv, scratch, t);
    float *ins[3] = {q, k, v}, *grads[3] = {dq, dk, dv};
    const int rows[3] = {AQ, AL, AL};
    for (int which = 0; which < 3; which++) {
        for (int i = 0; i < rows[which]; i++) {
            for (int c = 0; c < AD; c++) {
                float *x = &ins[which][i * ALD + c], keep = *x;
                const double h = 1e-3;
                double f[2], at[2];
                for (int sgn = 0; sgn < 2; sgn++) {
                    *x = (float)(keep + (sgn ? -h : h));
                    at[sgn] = *x;
                    head_naive(q, k, v, scale, pn, cn);
                    f[sgn] = 0;
                    for (int o = 0; o < AQ * AD; o++)
                        f[sgn] += w[o] * cn[o];
                }
                *x = keep;
                const double fd = (f[0] - f[1]) / (at[0] - at[1]), got = grads[which][i * ALD + c];
                if (fabs(fd - got) > 2e-3 * fmax(1.0, fabs(fd)))
                    fail_msg("input %d [%d,%d]: analytic %g, finite difference %g", which, i, c, got, fd);
            }
        }
    }
    free(q);
    free(k);
    free(v);
    free(w);
}

/* Found by fuzz-adapter-import: NaN prompt vectors reached exp, whose float->int conversion of NaN is
 * undefined (UBSan: "nan is outside the range of representable values of type 'int'"). A NaN score now
 * reads as the bottom of exp's clamped range: the row stays a distribution of finite numbers. */
static void test_softmax_with_nan_is_defined(void **state)
{
    (void)state;
    float rows[2][3] = {{NAN, 0.0f, 0.0f}, {0.0f, NAN, 0.0f}};
    for (int i = 0; i < 2; i++) {
        tensor_softmax_rows(1, 3, rows[i], 3, 1.0f);
        double total = 0;
        for (int j = 0; j < 3; j++) {
            assert_true(isfinite(rows[i][j]) && rows[i][j] >= 0 && rows[i][j] <= 1);
            total += rows[i][j];
        }
        assert_float_equal(total, 1.0, 1e-6);
    }
    assert_float_equal(rows[1][1], 0.0, 1e-30);
}

static void test_softmax_backward_finite_differences(void **state)
{
    (void)state;
    rng_state = 7;
    const int m = 3, n = 7, ld = 8;
    const float scale = 0.5f;
    float *s = rand_vec((size_t)m * ld, 3), *w = rand_vec((size_t)m * ld, 1);
    float p[3 * 8], d[3 * 8];
    memcpy(p, s, sizeof p);
    tensor_softmax_rows(m, n, p, ld, scale);
    memcpy(d, w, sizeof d);
    tensor_softmax_backward(m, n, d, ld, p, ld, scale);
    const float h = 1e-2f;
    double mx = 0;
    for (int i = 0; i < m; i++)
        for (int j = 0; j < n; j++) {
            float t[8];
            double l[2];
            for (int sign = 0; sign < 2; sign++) {
                memcpy(t, s + i * ld, sizeof t);
                t[j] += sign ? -h : h;
                tensor_softmax_rows(1, n, t, ld, scale);
                l[sign] = dot(n, t, w + i * ld);
            }
            double fd = (l[0] - l[1]) / (2 * h);
            mx = fmax(mx, fabs(fd));
            assert_float_equal(d[i * ld + j], fd, 1e-4);
        }
    assert_true(mx > 0.05);
    free(s);
    free(w);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_gemm_matches_naive),
        cmocka_unit_test(test_linear_adds_bias),
        cmocka_unit_test(test_gelu_values),
        cmocka_unit_test(test_gelu_and_exp_match_libm_on_a_grid),
        cmocka_unit_test(test_gelu_backward_finite_differences),
        cmocka_unit_test(test_layernorm_matches_naive),
        cmocka_unit_test(test_row_passes_split_over_threads),
        cmocka_unit_test(test_layernorm_backward_finite_differences),
        cmocka_unit_test(test_softmax_matches_naive),
        cmocka_unit_test(test_softmax_with_nan_is_defined),
        cmocka_unit_test(test_softmax_backward_finite_differences),
        cmocka_unit_test(test_attention_head_matches_naive_and_finite_differences),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
