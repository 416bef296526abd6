#include "gemm.h"

#include <pthread.h>
#include <stdatomic.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "pool.h"

#if defined(__x86_64__) && (defined(__GNUC__) || defined(__clang__))
#define HAVE_AVX512_CODE 1
#include <immintrin.h>
#define AVX512 __attribute__((target("avx512f")))
#else
#define HAVE_AVX512_CODE 0
#endif

bool gemm_ok(void)
{
#if HAVE_AVX512_CODE
    static _Atomic int ok = -1;
    if (ok < 0)
        ok = __builtin_cpu_supports("avx512f") ? 1 : 0;
    return ok == 1;
#else
    return false;
#endif
}

#if HAVE_AVX512_CODE

/* The micro-kernel: 6 rows of a scalar operand a (each contiguous along the reduction p) times one
 * panel of up to 64 columns of a vector operand b (row p at b + p * ldb), 24 accumulators:
 *   t[i][j] = sum_p a_i[p] * b[p * ldb + j],  i < 6, j < 16 * NV.
 * Per step: NV vector loads, 6 broadcasts, 6 * NV fused multiply-adds. The last vector of a panel
 * loads under mask `last` (columns past the end of b are neither read nor used). */
#define MR 6
#define PW 64
/* columns of C per gemm_nt task: 8 micro-kernel blocks, 3 vectors */
#define NT_CHUNK 48
/* panels of A per gemm_nt task */
#define NT_GROUP 2
/* rows of A per gemm_nn task */
#define NN_ROWS (64 * MR)
/* the reduction is cut into slices of this many steps (a packed slice of 64 columns is 256 KB):
 * hidden-size reductions run whole, intermediate-size ones in three (measured: 256 and 384 were
 * slower at 128 rows, no slicing halved the rate at 1024 rows) */
#define KC 1024

#define UNROLL _Pragma("GCC unroll 16")
#define KERNEL(NV)                                                                                                   \
    static AVX512 void kernel##NV(int P, const float *const *a, const float *b, size_t ldb, __mmask16 last,       \
                                  float *t)                                                                        \
    {                                                                                                              \
        __m512 c[MR][NV];                                                                                          \
        UNROLL for (int i = 0; i < MR; i++)                                                                             \
            UNROLL for (int v = 0; v < NV; v++)                                                                           \
                c[i][v] = _mm512_setzero_ps();                                                                     \
        const float *a0 = a[0], *a1 = a[1], *a2 = a[2], *a3 = a[3], *a4 = a[4], *a5 = a[5];                         \
        for (int p = 0; p < P; p++, b += ldb) {                                                                    \
            __m512 x[NV];                                                                                          \
            UNROLL for (int v = 0; v < NV - 1; v++)                                                                       \
                x[v] = _mm512_loadu_ps(b + 16 * v);                                                                \
            x[NV - 1] = _mm512_maskz_loadu_ps(last, b + 16 * (NV - 1));                                            \
            __m512 s;                                                                                              \
            s = _mm512_set1_ps(a0[p]);                                                                             \
            UNROLL for (int v = 0; v < NV; v++)                                                                           \
                c[0][v] = _mm512_fmadd_ps(s, x[v], c[0][v]);                                                       \
            s = _mm512_set1_ps(a1[p]);                                                                             \
            UNROLL for (int v = 0; v < NV; v++)                                                                           \
                c[1][v] = _mm512_fmadd_ps(s, x[v], c[1][v]);                                                       \
            s = _mm512_set1_ps(a2[p]);                                                                             \
            UNROLL for (int v = 0; v < NV; v++)                                                                           \
                c[2][v] = _mm512_fmadd_ps(s, x[v], c[2][v]);                                                       \
            s = _mm512_set1_ps(a3[p]);                                                                             \
            UNROLL for (int v = 0; v < NV; v++)                                                                           \
                c[3][v] = _mm512_fmadd_ps(s, x[v], c[3][v]);                                                       \
            s = _mm512_set1_ps(a4[p]);                                                                             \
            UNROLL for (int v = 0; v < NV; v++)                                                                           \
                c[4][v] = _mm512_fmadd_ps(s, x[v], c[4][v]);                                                       \
            s = _mm512_set1_ps(a5[p]);                                                                             \
            UNROLL for (int v = 0; v < NV; v++)                                                                           \
                c[5][v] = _mm512_fmadd_ps(s, x[v], c[5][v]);                                                       \
        }                                                                                                          \
        UNROLL for (int i = 0; i < MR; i++)                                                                             \
            UNROLL for (int v = 0; v < NV; v++)                                                                           \
                _mm512_storeu_ps(t + i * PW + 16 * v, c[i][v]);                                                    \
    }

KERNEL(1)
KERNEL(2)
KERNEL(3)
KERNEL(4)

static AVX512 void kernel(int nv, int P, const float *const *a, const float *b, size_t ldb, __mmask16 last, float *t)
{
    switch (nv) {
    case 1: kernel1(P, a, b, ldb, last, t); break;
    case 2: kernel2(P, a, b, ldb, last, t); break;
    case 3: kernel3(P, a, b, ldb, last, t); break;
    default: kernel4(P, a, b, ldb, last, t); break;
    }
}

/* Rows i0 .. i0 + 5 of a matrix with n_rows rows: past the end, the last row again (its results are
 * computed and dropped), so the kernel never reads outside the matrix. */
static void six_rows(const float *a, size_t lda, int i0, int n_rows, const float *rows[MR])
{
    for (int i = 0; i < MR; i++)
        rows[i] = a + (size_t)(i0 + i < n_rows ? i0 + i : n_rows - 1) * lda;
}

static __mmask16 tail_mask(int cols)
{
    const int r = cols & 15;
    return r ? (__mmask16)((1u << r) - 1) : (__mmask16)0xFFFF;
}

/* Per-thread scratch, kept at its largest: slot 0 holds the packed activations of gemm_nt (panel q
 * = rows 64q .. 64q + 63 of A transposed, [k][64], zero past the last row), slot 1 a packed slice of
 * a column panel of B in gemm_nn, slot 2 all of B packed by gemm_nn's caller. */
static pthread_key_t pack_key;
static pthread_once_t pack_once = PTHREAD_ONCE_INIT;

typedef struct pack_buf {
    float *p[3];
    size_t cap[3];
} pack_buf;

static void pack_free(void *v)
{
    pack_buf *b = v;
    for (int i = 0; i < 3; i++)
        free(b->p[i]);
    free(b);
}

static void pack_key_make(void)
{
    pthread_key_create(&pack_key, pack_free);
}

/* The products return nothing, so running out of memory for this scratch (a few MB, once per thread
 * and size) cannot be reported to the caller: it aborts, as OpenBLAS does when its buffers fail. */
static void out_of_memory(void)
{
    static const char msg[] = "ptune engine: out of memory for GEMM scratch\n";
    if (write(2, msg, sizeof msg - 1) < 0) {
        /* nothing more to say */
    }
    abort();
}

static float *pack_space(int slot, size_t floats)
{
    pthread_once(&pack_once, pack_key_make);
    pack_buf *b = pthread_getspecific(pack_key);
    if (!b) {
        b = calloc(1, sizeof *b);
        if (!b || pthread_setspecific(pack_key, b))
            out_of_memory();
    }
    if (b->cap[slot] < floats) {
        free(b->p[slot]);
        void *p = NULL;
        if (posix_memalign(&p, 64, floats * sizeof(float)))
            out_of_memory();
        b->p[slot] = p;
        b->cap[slot] = floats;
    }
    return b->p[slot];
}

typedef struct nt_job {
    int m, n, k;
    float alpha, beta;
    const float *a, *b, *bias;
    int lda, ldb, ldc;
    float *c, *xp;
    int panels, group, n_groups, n_chunks;
} nt_job;

/* r[c] = column c of the 16 x 16 block whose rows are r[0..15] (in place). */
static inline __attribute__((always_inline)) AVX512 void transpose16(__m512 r[16])
{
    __m512 t[16], u[16];
    for (int i = 0; i < 8; i++) {
        t[2 * i] = _mm512_unpacklo_ps(r[2 * i], r[2 * i + 1]);
        t[2 * i + 1] = _mm512_unpackhi_ps(r[2 * i], r[2 * i + 1]);
    }
    /* u[4g + j], 128-bit lane L: element 4L + j of rows 4g .. 4g + 3 */
    for (int g = 0; g < 4; g++) {
        u[4 * g] = _mm512_shuffle_ps(t[4 * g], t[4 * g + 2], 0x44);
        u[4 * g + 1] = _mm512_shuffle_ps(t[4 * g], t[4 * g + 2], 0xEE);
        u[4 * g + 2] = _mm512_shuffle_ps(t[4 * g + 1], t[4 * g + 3], 0x44);
        u[4 * g + 3] = _mm512_shuffle_ps(t[4 * g + 1], t[4 * g + 3], 0xEE);
    }
    for (int j = 0; j < 4; j++) {
        const __m512 a = _mm512_shuffle_f32x4(u[j], u[4 + j], 0x88), b = _mm512_shuffle_f32x4(u[j], u[4 + j], 0xDD);
        const __m512 c = _mm512_shuffle_f32x4(u[8 + j], u[12 + j], 0x88);
        const __m512 d = _mm512_shuffle_f32x4(u[8 + j], u[12 + j], 0xDD);
        r[j] = _mm512_shuffle_f32x4(a, c, 0x88);
        r[8 + j] = _mm512_shuffle_f32x4(a, c, 0xDD);
        r[4 + j] = _mm512_shuffle_f32x4(b, d, 0x88);
        r[12 + j] = _mm512_shuffle_f32x4(b, d, 0xDD);
    }
}

/* Pack task q: panel q of A, 16 x 16 blocks at a time through registers. */
static AVX512 void nt_pack(void *arg, int q)
{
    const nt_job *j = arg;
    float *dst = j->xp + (size_t)q * j->k * PW;
    const int r0 = q * PW, rows = j->m - r0 < PW ? j->m - r0 : PW;
    for (int rb = 0; rb < PW; rb += 16) {
        for (int p0 = 0; p0 < j->k; p0 += 16) {
            const int np = j->k - p0 < 16 ? j->k - p0 : 16;
            const __mmask16 mk = tail_mask(np);
            __m512 r[16];
            for (int i = 0; i < 16; i++)
                r[i] = rb + i < rows ? _mm512_maskz_loadu_ps(mk, j->a + (size_t)(r0 + rb + i) * j->lda + p0)
                                     : _mm512_setzero_ps();
            transpose16(r);
            for (int c = 0; c < np; c++)
                _mm512_store_ps(dst + (size_t)(p0 + c) * PW + rb, r[c]);
        }
    }
}

/* Compute task: one group of panels (rows of C) times one chunk of 48 rows of B (columns of C).
 * The micro-kernel's tiles come out transposed (t[i][r] = C[r][nb + i]); they are collected into
 * st[48][64] (C's chunk transposed) and written back 16 x 16 blocks at a time through registers,
 * so C only sees whole aligned vector stores. */
static AVX512 void nt_task(void *arg, int task)
{
    const nt_job *j = arg;
    const int g = task % j->n_groups, ch = task / j->n_groups;
    const int q0 = g * j->group, q1 = q0 + j->group < j->panels ? q0 + j->group : j->panels;
    const int n0 = ch * NT_CHUNK, n1 = n0 + NT_CHUNK < j->n ? n0 + NT_CHUNK : j->n;
    float t[MR * PW] __attribute__((aligned(64)));
    float st[NT_CHUNK * PW] __attribute__((aligned(64)));
    const __m512 alpha = _mm512_set1_ps(j->alpha), beta = _mm512_set1_ps(j->beta);
    for (int q = q0; q < q1; q++) {
        const int r0 = q * PW, rows = j->m - r0 < PW ? j->m - r0 : PW, nv = (rows + 15) / 16;
        /* the reduction in slices of KC, so that the panel's slice stays in L2 across the 8 blocks */
        for (int k0 = 0; k0 < j->k || k0 == 0; k0 += KC) {
            const int kc = j->k - k0 < KC ? j->k - k0 : KC;
            for (int nb = n0; nb < n1; nb += MR) {
                const float *w[MR];
                six_rows(j->b + k0, (size_t)j->ldb, nb, j->n, w);
                kernel(nv, kc, w, j->xp + ((size_t)q * j->k + k0) * PW, PW, 0xFFFF, t);
                for (int i = 0; i < MR; i++)
                    for (int v = 0; v < nv; v++) {
                        float *d = st + (size_t)(nb - n0 + i) * PW + 16 * v;
                        const __m512 x = _mm512_load_ps(t + i * PW + 16 * v);
                        _mm512_store_ps(d, k0 == 0 ? x : _mm512_add_ps(_mm512_load_ps(d), x));
                    }
            }
        }
        for (int cb = n0; cb < n1; cb += 16) {
            const int ncol = n1 - cb < 16 ? n1 - cb : 16;
            const __mmask16 cm = tail_mask(ncol);
            const __m512 bias = j->bias ? _mm512_maskz_loadu_ps(cm, j->bias + cb) : _mm512_setzero_ps();
            for (int rb = 0; rb < rows; rb += 16) {
                __m512 r[16];
                for (int i = 0; i < 16; i++)
                    r[i] = _mm512_load_ps(st + (size_t)(cb - n0 + i) * PW + rb);
                transpose16(r);
                const int nr = rows - rb < 16 ? rows - rb : 16;
                for (int c = 0; c < nr; c++) {
                    float *cr = j->c + (size_t)(r0 + rb + c) * j->ldc + cb;
                    __m512 v = j->alpha == 1.0f ? r[c] : _mm512_mul_ps(alpha, r[c]);
                    if (j->beta != 0.0f)
                        v = _mm512_fmadd_ps(beta, _mm512_maskz_loadu_ps(cm, cr), v);
                    _mm512_mask_storeu_ps(cr, cm, _mm512_add_ps(v, bias));
                }
            }
        }
    }
}

typedef struct nn_job {
    int m, n, k;
    float alpha, beta;
    const float *a, *b;
    int lda, ldb, ldc;
    float *c;
    int mrows, n_mgroups;
    float *bp; /* gemm_nn: all of B packed, panel c at bp + c * k * 64, [k][64]; NULL: pack per block */
} nn_job;

/* Rows m0 .. m1 - 1 of C, columns c0 .. c0 + 63 (or fewer at the end), C = alpha A B + beta C.
 * The column panel of B is copied first into contiguous [k][64] rows: read in place, every step of
 * the reduction would touch another row of B, and so another page when B is wide. */
static AVX512 void nn_block(const nn_job *j, int m0, int m1, int c0)
{
    const int cols = j->n - c0 < PW ? j->n - c0 : PW, nv = (cols + 15) / 16;
    const __mmask16 last = tail_mask(cols);
    float *bp = j->bp ? NULL : pack_space(1, (size_t)KC * PW);
    float t[MR * PW] __attribute__((aligned(64)));
    const __m512 alpha = _mm512_set1_ps(j->alpha), beta = _mm512_set1_ps(j->beta);
    /* the reduction in slices of KC: the packed slice stays in L2 while the rows of A pass */
    for (int k0 = 0; k0 < j->k || k0 == 0; k0 += KC) {
        const int kc = j->k - k0 < KC ? j->k - k0 : KC;
        if (j->bp)
            bp = j->bp + ((size_t)(c0 / PW) * j->k + k0) * PW;
        for (int p = 0; p < kc && !j->bp; p++) {
            const float *src = j->b + (size_t)(k0 + p) * j->ldb + c0;
            for (int v = 0; v < nv; v++)
                _mm512_store_ps(bp + (size_t)p * PW + 16 * v,
                                _mm512_maskz_loadu_ps(v == nv - 1 ? last : (__mmask16)0xFFFF, src + 16 * v));
        }
        for (int mb = m0; mb < m1; mb += MR) {
            const float *a[MR];
            six_rows(j->a + k0, (size_t)j->lda, mb, j->m, a);
            kernel(nv, kc, a, bp, PW, 0xFFFF, t);
            const int rows = m1 - mb < MR ? m1 - mb : MR;
            for (int i = 0; i < rows; i++) {
                float *cr = j->c + (size_t)(mb + i) * j->ldc + c0;
                for (int v = 0; v < nv; v++) {
                    const __mmask16 mk = v == nv - 1 ? last : (__mmask16)0xFFFF;
                    __m512 r = _mm512_load_ps(t + i * PW + 16 * v);
                    if (j->alpha != 1.0f)
                        r = _mm512_mul_ps(alpha, r);
                    if (k0 > 0)
                        r = _mm512_add_ps(_mm512_maskz_loadu_ps(mk, cr + 16 * v), r);
                    else if (j->beta != 0.0f)
                        r = _mm512_fmadd_ps(beta, _mm512_maskz_loadu_ps(mk, cr + 16 * v), r);
                    _mm512_mask_storeu_ps(cr + 16 * v, mk, r);
                }
            }
        }
    }
}

/* Pack task: rows 64t .. 64t + 63 of B, each read once along its length into every panel. */
static AVX512 void nn_pack(void *arg, int task)
{
    const nn_job *j = arg;
    const int p0 = task * 64, p1 = p0 + 64 < j->k ? p0 + 64 : j->k, panels = (j->n + PW - 1) / PW;
    for (int p = p0; p < p1; p++) {
        const float *src = j->b + (size_t)p * j->ldb;
        for (int c = 0; c < panels; c++) {
            float *dst = j->bp + ((size_t)c * j->k + p) * PW;
            const int cols = j->n - c * PW < PW ? j->n - c * PW : PW;
            for (int v = 0; v < PW / 16; v++) {
                const int left = cols - 16 * v;
                const __mmask16 mk = left >= 16 ? (__mmask16)0xFFFF : left > 0 ? tail_mask(left) : 0;
                _mm512_store_ps(dst + 16 * v, _mm512_maskz_loadu_ps(mk, src + c * PW + 16 * v));
            }
        }
    }
}

/* Task: one panel of 64 columns of C times one group of mrows rows. */
static void nn_task(void *arg, int task)
{
    const nn_job *j = arg;
    const int g = task % j->n_mgroups, col = task / j->n_mgroups;
    const int m0 = g * j->mrows, m1 = m0 + j->mrows < j->m ? m0 + j->mrows : j->m;
    nn_block(j, m0, m1, col * PW);
}

void gemm_nt(int m, int n, int k, float alpha, const float *a, int lda, const float *b, int ldb, float beta,
             float *c, int ldc, const float *bias)
{
    if (m <= 0 || n <= 0)
        return;
    nt_job j = {.m = m, .n = n, .k = k, .alpha = alpha, .beta = beta, .a = a, .b = b, .bias = bias, .lda = lda,
                .ldb = ldb, .ldc = ldc, .c = c};
    j.panels = (m + PW - 1) / PW;
    /* k == 0 still gets a (small) buffer: panel addresses are computed from it */
    j.xp = pack_space(0, (size_t)j.panels * (k > 0 ? k : 1) * PW);
    pool_run(j.panels, nt_pack, &j);
    j.group = NT_GROUP < j.panels ? NT_GROUP : j.panels;
    j.n_groups = (j.panels + j.group - 1) / j.group;
    j.n_chunks = (n + NT_CHUNK - 1) / NT_CHUNK;
    pool_run(j.n_groups * j.n_chunks, nt_task, &j);
}

void gemm_nn(int m, int n, int k, float alpha, const float *a, int lda, const float *b, int ldb, float beta,
             float *c, int ldc)
{
    if (m <= 0 || n <= 0)
        return;
    nn_job j = {.m = m, .n = n, .k = k, .alpha = alpha, .beta = beta, .a = a, .b = b, .lda = lda, .ldb = ldb,
                .ldc = ldc, .c = c};
    j.mrows = NN_ROWS;
    j.n_mgroups = (m + j.mrows - 1) / j.mrows;
    const int panels = (n + PW - 1) / PW;
    /* With several row groups every panel would be packed once per group, reading B with a stride of
     * a whole row per step: pack all of B once instead, row by row. */
    if (j.n_mgroups > 1 && k > 0) {
        j.bp = pack_space(2, (size_t)panels * k * PW);
        pool_run((k + 63) / 64, nn_pack, &j);
    }
    pool_run(j.n_mgroups * panels, nn_task, &j);
}

void gemm_nn_serial(int m, int n, int k, const float *a, int lda, const float *b, int ldb, float *c, int ldc)
{
    if (m <= 0 || n <= 0)
        return;
    const nn_job j = {.m = m, .n = n, .k = k, .alpha = 1.0f, .beta = 0.0f, .a = a, .b = b, .lda = lda, .ldb = ldb,
                      .ldc = ldc, .c = c};
    for (int c0 = 0; c0 < n; c0 += PW)
        nn_block(&j, 0, m, c0);
}

#else

void gemm_nn_serial(int m, int n, int k, const float *a, int lda, const float *b, int ldb, float *c, int ldc)
{
    (void)m, (void)n, (void)k, (void)a, (void)lda, (void)b, (void)ldb, (void)c, (void)ldc;
    abort();
}

void gemm_nt(int m, int n, int k, float alpha, const float *a, int lda, const float *b, int ldb, float beta,
             float *c, int ldc, const float *bias)
{
    (void)m, (void)n, (void)k, (void)alpha, (void)a, (void)lda, (void)b, (void)ldb, (void)beta, (void)c, (void)ldc,
        (void)bias;
    abort(); /* gemm_ok() is false: callers use OpenBLAS */
}

void gemm_nn(int m, int n, int k, float alpha, const float *a, int lda, const float *b, int ldb, float beta,
             float *c, int ldc)
{
    (void)m, (void)n, (void)k, (void)alpha, (void)a, (void)lda, (void)b, (void)ldb, (void)beta, (void)c, (void)ldc;
    abort();
}

#endif
