/* Unit tests for core/gemm (the engine's AVX-512 products) and core/pool (its worker threads):
 * every blocking edge of the kernels against a naive double-precision loop, bit-identical results
 * across thread counts, and every pool task run exactly once, also nested and from two callers. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>
#include <math.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "gemm.h"
#include "pool.h"
#include "tensor.h"

static uint64_t rng_state;

static float uniform(void)
{
    /* splitmix64, as in test-tensor */
    uint64_t z = (rng_state += 0x9e3779b97f4a7c15ULL);
    z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ULL;
    z = (z ^ (z >> 27)) * 0x94d049bb133111ebULL;
    z ^= z >> 31;
    return (float)((z >> 40) / 16777216.0) * 2.0f - 1.0f;
}

/* Floats from the first element of a rows x cols matrix with stride ld to its last (no padding after it,
 * so ASan sees a read past the last row); at least 1. */
static size_t span(int rows, int cols, int ld)
{
    return rows > 0 && cols > 0 ? (size_t)(rows - 1) * ld + cols : 1;
}

static float *rand_buf(size_t n)
{
    float *v = malloc(n * sizeof *v);
    assert_non_null(v);
    for (size_t i = 0; i < n; i++)
        v[i] = uniform();
    return v;
}

/* gemm_nt / gemm_nn abort without AVX-512F: those tests are skipped there */
#define NEED_GEMM()                                                                                            \
    do {                                                                                                       \
        if (!gemm_ok()) {                                                                                      \
            print_message("gemm_ok() is false (no AVX-512F): skipped\n");                                    \
            skip();                                                                                            \
        }                                                                                                      \
    } while (0)

enum op { NT, NN, NNS, T_NT, T_NN, T_LIN };

/* Runs op on the m x n block of C at row 1, column 1 of a buffer of m + 2 rows, ldc = n + pad; lda and
 * ldb are pad wider than needed. T_LIN forces pad 0, NNS and T_LIN alpha 1 and beta 0; bias applies to
 * NT and T_LIN only. beta == 0 fills the block with NaN. Checks every element against a naive loop to
 * 1e-5 (1 + sum of magnitudes) and the rest of C bit for bit. out (m x n), when not NULL, gets the block. */
static void check(enum op op, int m, int n, int k, float alpha, float beta, bool with_bias, int pad, float *out)
{
    with_bias = with_bias && (op == NT || op == T_LIN);
    if (op == NNS || op == T_LIN)
        alpha = 1.0f, beta = 0.0f;
    if (op == T_LIN)
        pad = 0;
    const bool bt = op == NT || op == T_NT || op == T_LIN;
    const int lda = k + pad, ldb = (bt ? k : n) + pad, ldc = n + pad;
    float *a = rand_buf(span(m, k, lda));
    float *b = bt ? rand_buf(span(n, k, ldb)) : rand_buf(span(k, n, ldb));
    float *bias = with_bias ? rand_buf(n > 0 ? (size_t)n : 1) : NULL;
    const size_t cn = (size_t)(m + 2) * ldc + 2;
    float *cbuf = rand_buf(cn), *c0 = malloc(cn * sizeof *c0);
    assert_non_null(c0);
    float *c = cbuf + ldc + 1;
    if (beta == 0.0f)
        for (int i = 0; i < m; i++)
            for (int j = 0; j < n; j++)
                c[(size_t)i * ldc + j] = NAN;
    memcpy(c0, cbuf, cn * sizeof *c0);
    switch (op) {
    case NT: gemm_nt(m, n, k, alpha, a, lda, b, ldb, beta, c, ldc, bias); break;
    case NN: gemm_nn(m, n, k, alpha, a, lda, b, ldb, beta, c, ldc); break;
    case NNS: gemm_nn_serial(m, n, k, a, lda, b, ldb, c, ldc); break;
    case T_NT: tensor_gemm_nt(m, n, k, alpha, a, lda, b, ldb, beta, c, ldc); break;
    case T_NN: tensor_gemm_nn(m, n, k, alpha, a, lda, b, ldb, beta, c, ldc); break;
    case T_LIN: tensor_linear(m, n, k, a, b, bias, c); break;
    }
    const float *cold = c0 + ldc + 1;
    for (int i = 0; i < m; i++)
        for (int j = 0; j < n; j++) {
            double s = 0, mag = 0;
            for (int p = 0; p < k; p++) {
                const float bv = bt ? b[(size_t)j * ldb + p] : b[(size_t)p * ldb + j];
                const double x = (double)a[(size_t)i * lda + p] * bv;
                s += x;
                mag += fabs(x);
            }
            const double cv = beta != 0.0f ? beta * (double)cold[(size_t)i * ldc + j] : 0, bv = bias ? bias[j] : 0;
            const double want = alpha * s + cv + bv, tol = 1e-5 * (1 + fabs(alpha) * mag + fabs(cv) + fabs(bv));
            const float got = c[(size_t)i * ldc + j];
            if (!(fabs(got - want) <= tol)) {
                print_message("op %d m %d n %d k %d alpha %g beta %g bias %d: C[%d][%d] = %.9g, want %.9g\n", op, m,
                              n, k, alpha, beta, with_bias, i, j, got, want);
                fail();
            }
        }
    /* outside the block: bit for bit as before (the block, checked above, copied over) */
    for (int i = 0; i < m; i++) {
        memcpy(c0 + ldc + 1 + (size_t)i * ldc, c + (size_t)i * ldc, (size_t)n * sizeof *c);
        if (out)
            memcpy(out + (size_t)i * n, c + (size_t)i * ldc, (size_t)n * sizeof *out);
    }
    assert_memory_equal(cbuf, c0, cn * sizeof *c0);
    free(a);
    free(b);
    free(bias);
    free(cbuf);
    free(c0);
}

/* (alpha, beta, bias) combinations; beta 0 means C holds NaN */
static const struct {
    float alpha, beta;
    bool bias;
} variants[] = {{0.75f, 0.5f, true}, {0.75f, 0.0f, false}, {1.0f, 0.0f, true}, {0.75f, 0.5f, false}};
#define N_VARIANTS (int)(sizeof variants / sizeof variants[0])

static void sweep(enum op op)
{
    static const int ms[] = {1, 5, 6, 7, 16, 17, 63, 64, 65, 97, 130};
    static const int ns[] = {1, 5, 6, 7, 15, 16, 17, 47, 48, 49, 64, 65, 100};
    static const int ks[] = {1, 2, 15, 16, 17, 64, 100};
    int idx = 0;
    rng_state = 11;
    for (size_t x = 0; x < sizeof ms / sizeof *ms; x++)
        for (size_t y = 0; y < sizeof ns / sizeof *ns; y++)
            for (size_t z = 0; z < sizeof ks / sizeof *ks; z++, idx++) {
                const int v = idx % N_VARIANTS; /* 4 and 7 coprime: every k meets every variant */
                check(op, ms[x], ns[y], ks[z], variants[v].alpha, variants[v].beta, variants[v].bias, 3, NULL);
            }
    /* long reductions: gemm_nt's groups of 2048 / k panels (700: 2 + 1 of 3 panels; 1100: 1 each) */
    check(op, 130, 49, 700, 0.75f, 0.5f, true, 3, NULL);
    check(op, 130, 100, 1100, 1.0f, 0.0f, true, 3, NULL);
    check(op, 65, 17, 1100, 0.75f, 0.0f, false, 3, NULL);
    /* gemm_nn's row groups (96 or 192 rows) and more than two column panels */
    check(op, 200, 130, 17, 0.75f, 0.5f, true, 3, NULL);
    check(op, 385, 65, 16, 1.0f, 0.0f, false, 3, NULL);
}

/* The cross product of the blocking edges for the op *state points to. */
static void test_shapes(void **state)
{
    NEED_GEMM();
    sweep(*(enum op *)*state);
}

/* Every (alpha, beta, bias) variant of ops op0 .. op1 on each shape. */
static void on_shapes(const int (*shapes)[3], int count, enum op op0, enum op op1)
{
    for (int s = 0; s < count; s++)
        for (int op = op0; op <= (int)op1; op++)
            for (int v = 0; v < N_VARIANTS; v++)
                check(op, shapes[s][0], shapes[s][1], shapes[s][2], variants[v].alpha, variants[v].beta,
                      variants[v].bias, 3, NULL);
}

/* k == 0 gives C = beta C + bias; m or n == 0 leaves C untouched (the neighbour check covers it all). */
static void test_gemm_alpha_beta_bias_degenerate(void **state)
{
    (void)state;
    NEED_GEMM();
    static const int shapes[][3] = {{7, 17, 15}, {65, 65, 100}, {130, 100, 64}, {1, 1, 0}, {7, 17, 0},
                                    {130, 65, 0}, {0, 17, 16}, {7, 0, 16}, {0, 0, 0}};
    rng_state = 12;
    on_shapes(shapes, 9, NT, NNS);
}

/* The wrappers route to gemm or OpenBLAS (tensor_gemm_nn: OpenBLAS below 6 rows); any CPU. */
static void test_tensor_wrappers(void **state)
{
    (void)state;
    static const int shapes[][3] = {{5, 7, 9}, {70, 33, 20}, {1, 65, 17}};
    rng_state = 14;
    on_shapes(shapes, 3, T_NT, T_LIN);
}

/* Same inputs under 1, 2, 3 threads and back to 1 and 2: identical bits. */
static void test_gemm_threads_bit_identical(void **state)
{
    (void)state;
    NEED_GEMM();
    static const int shapes[][3] = {{200, 100, 64}, {140, 100, 700}, {17, 300, 33}};
    static const int counts[] = {1, 2, 3, 1, 2};
    static float first[200 * 100], got[200 * 100];
    for (int op = NT; op <= NN; op++)
        for (int s = 0; s < 3; s++) {
            const int m = shapes[s][0], n = shapes[s][1], k = shapes[s][2];
            for (int t = 0; t < 5; t++) {
                tensor_set_threads(counts[t]);
                assert_int_equal(tensor_threads(), counts[t]);
                rng_state = 15;
                check(op, m, n, k, 0.75f, 0.5f, true, 3, t ? got : first);
                assert_int_equal(pool_threads(), counts[t]);
                if (t)
                    assert_memory_equal(got, first, (size_t)m * n * sizeof *got);
            }
        }
    tensor_set_threads(2);
}

/* A row of the product does not depend on the rows it is computed with: row r of A B^T (and of
 * A B) is bit-identical whether A has 1, 5, 64 or 130 rows, so a text gets the same scores
 * whatever the daemon merged it with. */
static void test_gemm_rows_batch_invariant(void **state)
{
    (void)state;
    NEED_GEMM();
    const int n = 70, k = 1100, counts[] = {1, 5, 64, 130};
    rng_state = 23;
    float *a = rand_buf((size_t)130 * k), *b = rand_buf((size_t)n * k), *bias = rand_buf(n);
    float *bnn = rand_buf((size_t)k * n), *an = rand_buf((size_t)130 * n);
    float *ref = malloc((size_t)130 * n * sizeof *ref), *got = malloc((size_t)130 * n * sizeof *got);
    float *refk = malloc((size_t)130 * k * sizeof *refk), *gotk = malloc((size_t)130 * k * sizeof *gotk);
    gemm_nt(130, n, k, 1.0f, a, k, b, k, 0.0f, ref, n, bias);
    gemm_nn(130, k, n, 1.0f, an, n, bnn, k, 0.0f, refk, k);
    for (int c = 0; c < 4; c++) {
        const int m = counts[c];
        for (int r0 = 0; r0 + m <= 130; r0 += m > 1 ? 130 - m : 37) {
            gemm_nt(m, n, k, 1.0f, a + (size_t)r0 * k, k, b, k, 0.0f, got, n, bias);
            assert_memory_equal(got, ref + (size_t)r0 * n, (size_t)m * n * sizeof *got);
            gemm_nn(m, k, n, 1.0f, an + (size_t)r0 * n, n, bnn, k, 0.0f, gotk, k);
            assert_memory_equal(gotk, refk + (size_t)r0 * k, (size_t)m * k * sizeof *gotk);
            if (m == 130)
                break;
        }
    }
    free(a);
    free(b);
    free(bias);
    free(bnn);
    free(an);
    free(ref);
    free(got);
    free(refk);
    free(gotk);
}

#define MAX_TASKS 1000

typedef struct counters {
    atomic_int n[MAX_TASKS + 1];
} counters;

static void count_task(void *arg, int task)
{
    counters *c = arg;
    atomic_fetch_add(&c->n[task], 1);
}

/* All of [0, n) exactly once, nothing past n. */
static bool all_once(counters *c, int n)
{
    bool ok = true;
    for (int i = 0; i <= MAX_TASKS; i++) {
        ok &= atomic_load(&c->n[i]) == (i < n ? 1 : 0);
        atomic_store(&c->n[i], 0);
    }
    return ok;
}

static void test_pool_each_task_once(void **state)
{
    (void)state;
    static counters c;
    static const int sizes[] = {0, 1, 2, 3, 100, 1000};
    for (int t = 1; t <= 3; t++) {
        tensor_set_threads(t);
        for (int rep = 0; rep < 20; rep++)
            for (int s = 0; s < 6; s++) {
                pool_run(sizes[s], count_task, &c);
                assert_true(all_once(&c, sizes[s]));
                assert_in_range(pool_threads(), 1, tensor_threads());
            }
    }
    tensor_set_threads(2);
}

#define OUTER 8
#define INNER 50

static counters nest_outer, nest_inner;

static void inner_task(void *arg, int task)
{
    atomic_fetch_add(&nest_inner.n[*(int *)arg * INNER + task], 1);
}

static void outer_task(void *arg, int task)
{
    (void)arg;
    atomic_fetch_add(&nest_outer.n[task], 1);
    pool_run(INNER, inner_task, &task);
}

static void test_pool_nested(void **state)
{
    (void)state;
    tensor_set_threads(2);
    for (int rep = 0; rep < 50; rep++) {
        pool_run(OUTER, outer_task, NULL);
        assert_true(all_once(&nest_outer, OUTER));
        assert_true(all_once(&nest_inner, OUTER * INNER));
    }
}

typedef struct caller {
    counters c;
    int bad;
} caller;

static void *caller_main(void *arg)
{
    caller *me = arg;
    for (int rep = 0; rep < 300; rep++) {
        const int n = 1 + rep % 97;
        pool_run(n, count_task, &me->c);
        me->bad += !all_once(&me->c, n); /* no cmocka asserts off the main thread */
    }
    return NULL;
}
/* Jobs back to back whose task counts alternate between small and large: a worker finishing the
 * last task of one job must never take a task of the next one through a stale view of the queue
 * (a task run twice, or counted for the wrong job, leaves a counter at 0 or 2). */
typedef struct stamp_job {
    int id;
    atomic_int *count;
    atomic_int *wrong;
} stamp_job;

static void stamp_task(void *arg, int task)
{
    const stamp_job *j = arg;
    if (task < 0 || task >= 64)
        atomic_fetch_add(j->wrong, 1);
    else
        atomic_fetch_add(&j->count[task], 1);
}

static void test_pool_back_to_back_jobs(void **state)
{
    (void)state;
    tensor_set_threads(2);
    static atomic_int count[64];
    atomic_int wrong = 0;
    for (int id = 0; id < 20000; id++) {
        const int n = id % 2 ? 64 : 2;
        for (int i = 0; i < 64; i++)
            atomic_store(&count[i], 0);
        stamp_job j = {id, count, &wrong};
        pool_run(n, stamp_task, &j);
        for (int i = 0; i < 64; i++)
            if (atomic_load(&count[i]) != (i < n ? 1 : 0))
                fail_msg("job %d (%d tasks): task %d ran %d times", id, n, i, atomic_load(&count[i]));
    }
    assert_int_equal(atomic_load(&wrong), 0);
}


/* Two threads post jobs at once: one runs on the pool, the other inline; both complete. */
static void test_pool_concurrent_callers(void **state)
{
    (void)state;
    static caller callers[2];
    for (int t = 2; t <= 3; t++) {
        tensor_set_threads(t);
        pthread_t th[2];
        for (int i = 0; i < 2; i++) {
            callers[i].bad = 0;
            assert_int_equal(pthread_create(&th[i], NULL, caller_main, &callers[i]), 0);
        }
        for (int i = 0; i < 2; i++) {
            assert_int_equal(pthread_join(th[i], NULL), 0);
            assert_int_equal(callers[i].bad, 0);
        }
        assert_in_range(pool_threads(), 1, tensor_threads());
    }
    tensor_set_threads(2);
}

int main(void)
{
    static enum op nt = NT, nn = NN, nns = NNS;
    const struct CMUnitTest tests[] = {
        {.name = "test_gemm_nt_shapes", .test_func = test_shapes, .initial_state = &nt},
        {.name = "test_gemm_nn_shapes", .test_func = test_shapes, .initial_state = &nn},
        {.name = "test_gemm_nn_serial_shapes", .test_func = test_shapes, .initial_state = &nns},
        cmocka_unit_test(test_gemm_alpha_beta_bias_degenerate),
        cmocka_unit_test(test_tensor_wrappers),
        cmocka_unit_test(test_gemm_threads_bit_identical),
        cmocka_unit_test(test_gemm_rows_batch_invariant),
        cmocka_unit_test(test_pool_each_task_once),
        cmocka_unit_test(test_pool_nested),
        cmocka_unit_test(test_pool_concurrent_callers),
        cmocka_unit_test(test_pool_back_to_back_jobs),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
