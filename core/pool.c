#include "pool.h"

#include <pthread.h>
#include <sched.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdint.h>
#include <time.h>

#include "tensor.h"

#define POOL_MAX 64
/* How long an idle worker keeps polling for the next job before it sleeps. The gaps between the
 * jobs of one forward pass (a LayerNorm, a GELU) are a few microseconds to a few hundred. */
#define SPIN_NS 200000

/* The job being run. claim packs (generation << 48 | task count << 24 | next task index), so a
 * worker decides from one atomic word whether a task is left and takes it with one
 * compare-and-swap: a worker that woke late for an earlier job cannot take a task of a later one,
 * because its swap names the generation (and count) it saw. fn and arg are written before the word
 * of their job is published and are read only after a successful claim, and the caller does not
 * post the next job until every claimed task has been counted in done, so a claimed task always sees
 * its own job. (After 65,536 jobs the generation repeats; a swap that then succeeds on a stale word
 * still claims a real, unclaimed task of the current job, and runs it as such.) */
#define TASK_BITS 24
#define TASK_MASK ((1u << TASK_BITS) - 1)
#define GEN(c) ((uint32_t)((c) >> 48))

static struct {
    pthread_mutex_t run_lock; /* held by the thread whose job is running */
    pthread_mutex_t lock;     /* guards sleeping and the workers' creation */
    pthread_cond_t wake;
    _Atomic uint64_t claim;
    atomic_int done;
    atomic_int sleeping;
    pool_fn fn;
    void *arg;
    int workers;
} P = {.run_lock = PTHREAD_MUTEX_INITIALIZER, .lock = PTHREAD_MUTEX_INITIALIZER, .wake = PTHREAD_COND_INITIALIZER};

static inline void cpu_relax(void)
{
#if defined(__x86_64__) || defined(__i386__)
    __builtin_ia32_pause();
#endif
}

static int64_t now_ns(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (int64_t)ts.tv_sec * 1000000000 + ts.tv_nsec;
}

/* Claims and runs tasks of generation gen until none is left. */
static void work(uint32_t gen)
{
    uint64_t c = atomic_load(&P.claim);
    for (;;) {
        if (GEN(c) != gen || (c & TASK_MASK) >= ((c >> TASK_BITS) & TASK_MASK))
            return;
        if (!atomic_compare_exchange_weak(&P.claim, &c, c + 1))
            continue;
        P.fn(P.arg, (int)(c & TASK_MASK));
        atomic_fetch_add(&P.done, 1);
        c = atomic_load(&P.claim);
    }
}

static int wanted(void);

/* index: this worker's number; workers past the current thread count (tensor_set_threads lowered
 * it) keep out of the jobs. */
static void *worker(void *index)
{
    const int me = (int)(intptr_t)index;
    uint32_t seen = GEN(atomic_load(&P.claim));
    for (;;) {
        uint32_t gen = GEN(atomic_load(&P.claim));
        if (gen == seen) {
            const int64_t until = now_ns() + SPIN_NS;
            for (int i = 0; gen == seen; i++) {
                cpu_relax();
                gen = GEN(atomic_load(&P.claim));
                if ((i & 255) == 255) {
                    if (now_ns() > until)
                        break;
                    sched_yield(); /* cheap when nothing else wants this core */
                }
            }
        }
        if (gen == seen) {
            pthread_mutex_lock(&P.lock);
            atomic_fetch_add(&P.sleeping, 1);
            while ((gen = GEN(atomic_load(&P.claim))) == seen)
                pthread_cond_wait(&P.wake, &P.lock);
            atomic_fetch_sub(&P.sleeping, 1);
            pthread_mutex_unlock(&P.lock);
        }
        seen = gen;
        if (me + 1 < wanted())
            work(gen);
    }
    return NULL;
}

static int wanted(void)
{
    int n = tensor_threads();
    return n < 1 ? 1 : n > POOL_MAX ? POOL_MAX : n;
}

int pool_threads(void)
{
    pthread_mutex_lock(&P.lock);
    int w = P.workers;
    pthread_mutex_unlock(&P.lock);
    const int n = wanted();
    return w + 1 < n ? w + 1 : n;
}

/* Starts workers up to n - 1 (they are never stopped; a failed start leaves fewer). */
static void grow(int n)
{
    pthread_mutex_lock(&P.lock);
    while (P.workers < n - 1) {
        pthread_t t;
        pthread_attr_t attr;
        pthread_attr_init(&attr);
        pthread_attr_setdetachstate(&attr, PTHREAD_CREATE_DETACHED);
        const int rc = pthread_create(&t, &attr, worker, (void *)(intptr_t)P.workers);
        pthread_attr_destroy(&attr);
        if (rc != 0)
            break;
        P.workers++;
    }
    pthread_mutex_unlock(&P.lock);
}

void pool_run(int n_tasks, pool_fn fn, void *arg)
{
    if (n_tasks <= 0)
        return;
    const int n = wanted();
    if (n_tasks == 1 || n == 1 || (unsigned)n_tasks > TASK_MASK || pthread_mutex_trylock(&P.run_lock) != 0) {
        for (int i = 0; i < n_tasks; i++)
            fn(arg, i);
        return;
    }
    grow(n);
    P.fn = fn;
    P.arg = arg;
    atomic_store(&P.done, 0);
    const uint32_t gen = (GEN(atomic_load(&P.claim)) + 1) & 0xFFFF;
    atomic_store(&P.claim, (uint64_t)gen << 48 | (uint64_t)n_tasks << TASK_BITS);
    if (atomic_load(&P.sleeping) > 0) {
        pthread_mutex_lock(&P.lock);
        pthread_cond_broadcast(&P.wake);
        pthread_mutex_unlock(&P.lock);
    }
    work(gen);
    /* What is left is a task a worker is running. When that worker has lost its core to another
     * process, spinning here would hold this core from it (or from whoever took it): after a few
     * microseconds, give the core up between checks. */
    for (int i = 0; atomic_load(&P.done) < n_tasks; i++) {
        if (i < 4096)
            cpu_relax();
        else
            sched_yield();
    }
    pthread_mutex_unlock(&P.run_lock);
}
