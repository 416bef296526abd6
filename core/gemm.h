/* gemm — the engine's own single-precision matrix products for AVX-512 machines.
 *
 * The encoder's products are tall-thin (128 to a few thousand tokens against 768 x 768..3072
 * weights). OpenBLAS repacks the whole weight matrix on every call and hands each call to threads
 * it wakes and parks: at 128 tokens that was a quarter of a forward pass (packing 17%, hand-offs
 * 8%). These products read the weights where they lie (row-major [out, in], the file's own
 * layout): only the activations are repacked, which costs 1/out of the arithmetic, and the work is
 * spread over the persistent threads of pool.h. Each element of C is summed in the same order
 * whatever m and the thread count, so a row's result does not depend on the rows computed with it.
 * Row-major throughout; leading dimensions in floats.
 *
 * gemm_ok() says whether the CPU runs them (AVX-512F); when it does not, or the product is too
 * small to repay the activations' repacking, the callers (tensor_gemm_*) use OpenBLAS.
 */
#ifndef PT_GEMM_H
#define PT_GEMM_H

#include <stdbool.h>

bool gemm_ok(void);

/* C[m,n] = alpha * A[m,k] B[n,k]^T + beta * C (beta == 0: C is not read). bias, when not NULL, is
 * added to every row after the scaling: C = alpha A B^T + beta C + bias. */
void gemm_nt(int m, int n, int k, float alpha, const float *a, int lda, const float *b, int ldb, float beta,
             float *c, int ldc, const float *bias);

/* C[m,n] = alpha * A[m,k] B[k,n] + beta * C (beta == 0: C is not read). */
void gemm_nn(int m, int n, int k, float alpha, const float *a, int lda, const float *b, int ldb, float beta,
             float *c, int ldc);

/* C[m,n] = A[m,k] B[k,n] in the calling thread alone (for work already spread over the pool). */
void gemm_nn_serial(int m, int n, int k, const float *a, int lda, const float *b, int ldb, float *c, int ldc);

#endif
