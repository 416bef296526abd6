/* tensor — the dense f32 kernels of the forward and backward passes, on row-major matrices.
 *
 * Products go to the engine's own AVX-512 GEMM (gemm.h) when the CPU has it, else to OpenBLAS
 * cblas_sgemm; everything else is a fused single pass over each row so a matrix is read and written
 * once: bias + GELU (exact erf form), bias + residual + LayerNorm, and a scaled row softmax. Each has
 * its backward for activation gradients (no weight gradients). Products and the row passes over
 * large matrices are spread over the worker threads of pool.h. Leading dimensions (ld*) are in
 * floats and let callers address one head's columns of a wider matrix. Nothing here keeps state
 * beyond per-thread packing scratch; every function is safe to call from many threads.
 */
#ifndef PT_TENSOR_H
#define PT_TENSOR_H

#include <stddef.h>

/* C[m,n] = alpha * A[m,k] * B[n,k]^T + beta * C (the torch Linear product X W^T). */
void tensor_gemm_nt(int m, int n, int k, float alpha, const float *a, int lda, const float *b, int ldb, float beta,
                    float *c, int ldc);

/* C[m,n] = alpha * A[m,k] * B[k,n] + beta * C. */
void tensor_gemm_nn(int m, int n, int k, float alpha, const float *a, int lda, const float *b, int ldb, float beta,
                    float *c, int ldc);

/* Y[m,n] = X[m,k] W[n,k]^T + bias[n] (bias may be NULL); X and Y contiguous. */
void tensor_linear(int m, int n, int k, const float *x, const float *w, const float *bias, float *y);

/* x[m,n] = gelu(x + bias) in place, gelu(u) = u/2 (1 + erf(u/sqrt 2)). pre, when not NULL, receives
 * u = x + bias, which is what the backward needs. */
void tensor_bias_gelu(int m, int n, float *x, const float *bias, float *pre);

/* d[i] *= gelu'(pre[i]) for count elements. */
void tensor_gelu_backward(size_t count, float *d, const float *pre);

/* For each of m rows: v = x + bias + res (bias, res may be NULL), y = (v - mean) / sqrt(var + eps) * g + b.
 * y may alias x or res. xhat[m,n] and rstd[m], when not NULL, receive the normalised v and
 * 1/sqrt(var + eps) for the backward. */
void tensor_add_layernorm(int m, int n, const float *x, const float *bias, const float *res, const float *g,
                          const float *b, float eps, float *y, float *xhat, float *rstd);

/* Given dy = d loss / d y of tensor_add_layernorm, writes d loss / d v into dv (may alias dy). */
void tensor_layernorm_backward(int m, int n, const float *dy, const float *g, const float *xhat, const float *rstd,
                               float *dv);

/* s[m, 0..n) (row stride lds) = softmax(scale * s) per row, scale > 0. The attention mask is the row
 * length n: keys past the end of an input row are never materialised, which equals an additive -inf
 * mask. */
void tensor_softmax_rows(int m, int n, float *s, int lds, float scale);

/* Given p = tensor_softmax_rows(s) and d = d loss / d p, writes d loss / d s (the pre-scale
 * scores) into d: d = scale * p * (d - sum_j d_j p_j). */
void tensor_softmax_backward(int m, int n, float *d, int ldd, const float *p, int ldp, float scale);

/* The engine's compute threads (pool.h): by default OpenBLAS's count (OPENBLAS_NUM_THREADS, else
 * the CPUs), as first read; tensor_set_threads (n >= 1) changes it for the whole process. */
int tensor_threads(void);
void tensor_set_threads(int n);

/* One attention head of one input row, entirely in the calling thread (on the GEMM micro-kernel
 * when the CPU has AVX-512). These products (d = 64, a row's own keys) are too small to split, so
 * callers run heads in parallel instead.
 * q [nq, ldq], k and v [L, ldkv] (the head's d columns); p [nq, L] receives the probabilities
 * softmax(scale q k^T); ctx [nq, ldc] receives p v. kt is scratch of d x L floats. */
void tensor_attention_head(int nq, int L, int d, const float *q, int ldq, const float *k, const float *v, int ldkv,
                           float scale, float *p, float *ctx, int ldc, float *kt);

/* Its backward: given p and dctx [nq, ldd], writes dq [nq, ldq], dk and dv [L, ldkv]. dp is scratch of
 * nq x L floats, scratch of (d + nq) x L. */
void tensor_attention_head_backward(int nq, int L, int d, const float *q, int ldq, const float *k, const float *v,
                                    int ldkv, float scale, const float *p, const float *dctx, int ldd, float *dq,
                                    float *dk, float *dv, float *dp, float *scratch);

#endif
