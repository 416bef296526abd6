#include "prom.h"

#include <pthread.h>
#include <stdarg.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static const double dur_bounds[] = {0.001, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30};
#define N_DUR (sizeof dur_bounds / sizeof dur_bounds[0])
static const int batch_bounds[] = {1, 2, 4, 8, 16, 32, 64, 128, 256};
#define N_BATCH (sizeof batch_bounds / sizeof batch_bounds[0])

typedef struct series {
    char method[16];
    const char *route; /* a pattern from the static route table */
    int status;
    long count;
} series;

typedef struct route_hist {
    const char *route;
    long buckets[N_DUR]; /* non-cumulative; summed at render time */
    long count;
    double sum;
} route_hist;

struct prom {
    pthread_mutex_t mu;
    series *s;
    int n_s, cap_s;
    route_hist *h;
    int n_h, cap_h;
    long batch_buckets[N_BATCH + 1];
    long batch_count, batch_sum;
    atomic_long counters[PROM_N_COUNTERS];
};

static const struct {
    const char *name, *help;
} counter_info[PROM_N_COUNTERS] = {
    {"ptuned_classify_texts_total", "Texts classified."},
    {"ptuned_classify_batches_total", "Merged classification forward passes."},
    {"ptuned_classify_tokens_total", "Tokens through classification forward passes."},
    {"ptuned_classify_rejected_total", "Texts refused because the classification queue was full (429)."},
    {"ptuned_train_steps_total", "Training optimizer steps."},
    {"ptuned_tasks_finished_total", "Training jobs that ended (succeeded, failed or cancelled)."},
};

prom *prom_new(void)
{
    prom *p = calloc(1, sizeof *p);
    if (p)
        pthread_mutex_init(&p->mu, NULL);
    return p;
}

void prom_free(prom *p)
{
    if (!p)
        return;
    pthread_mutex_destroy(&p->mu);
    free(p->s);
    free(p->h);
    free(p);
}

void prom_add(prom *p, prom_counter c, long n) { atomic_fetch_add(&p->counters[c], n); }

/* Finds or appends an element of a growable array; NULL on OOM. */
static void *slot(void **arr, int *n, int *cap, size_t size)
{
    if (*n == *cap) {
        int nc = *cap ? 2 * *cap : 16;
        void *na = realloc(*arr, (size_t)nc * size);
        if (!na)
            return NULL;
        *arr = na;
        *cap = nc;
    }
    void *e = (char *)*arr + (size_t)(*n)++ * size;
    memset(e, 0, size);
    return e;
}

void prom_observe_request(prom *p, const char *method, const char *route, int status, double seconds)
{
    pthread_mutex_lock(&p->mu);
    series *s = NULL;
    for (int i = 0; i < p->n_s && !s; i++)
        if (p->s[i].route == route && p->s[i].status == status && !strcmp(p->s[i].method, method))
            s = &p->s[i];
    if (!s && (s = slot((void **)&p->s, &p->n_s, &p->cap_s, sizeof *s))) {
        snprintf(s->method, sizeof s->method, "%s", method);
        s->route = route;
        s->status = status;
    }
    if (s)
        s->count++;
    route_hist *h = NULL;
    for (int i = 0; i < p->n_h && !h; i++)
        if (p->h[i].route == route)
            h = &p->h[i];
    if (!h && (h = slot((void **)&p->h, &p->n_h, &p->cap_h, sizeof *h)))
        h->route = route;
    if (h) {
        size_t b = 0;
        while (b < N_DUR && seconds > dur_bounds[b])
            b++;
        if (b < N_DUR)
            h->buckets[b]++;
        h->count++;
        h->sum += seconds;
    }
    pthread_mutex_unlock(&p->mu);
}

void prom_observe_batch(prom *p, int rows)
{
    pthread_mutex_lock(&p->mu);
    size_t b = 0;
    while (b < N_BATCH && rows > batch_bounds[b])
        b++;
    p->batch_buckets[b]++;
    p->batch_count++;
    p->batch_sum += rows;
    pthread_mutex_unlock(&p->mu);
}

typedef struct buf {
    char *p;
    size_t len, cap;
    int oom;
} buf;

static void __attribute__((format(printf, 2, 3))) put(buf *b, const char *fmt, ...)
{
    for (int tries = 0; tries < 2 && !b->oom; tries++) {
        va_list ap;
        va_start(ap, fmt);
        int n = vsnprintf(b->p + b->len, b->cap - b->len, fmt, ap);
        va_end(ap);
        if (n >= 0 && (size_t)n < b->cap - b->len) {
            b->len += (size_t)n;
            return;
        }
        size_t nc = 2 * b->cap + (size_t)(n > 0 ? n : 0) + 1;
        char *np = realloc(b->p, nc);
        if (!np)
            b->oom = 1;
        else
            b->p = np, b->cap = nc;
    }
}

char *prom_render(prom *p)
{
    buf b = {.cap = 8192};
    if (!(b.p = malloc(b.cap)))
        return NULL;
    b.p[0] = '\0';
    for (int c = 0; c < PROM_N_COUNTERS; c++)
        put(&b, "# HELP %s %s\n# TYPE %s counter\n%s %ld\n", counter_info[c].name, counter_info[c].help,
            counter_info[c].name, counter_info[c].name, atomic_load(&p->counters[c]));
    pthread_mutex_lock(&p->mu);
    put(&b, "# HELP ptuned_http_requests_total HTTP requests by method, route pattern and status.\n"
            "# TYPE ptuned_http_requests_total counter\n");
    for (int i = 0; i < p->n_s; i++)
        put(&b, "ptuned_http_requests_total{method=\"%s\",route=\"%s\",status=\"%d\"} %ld\n", p->s[i].method,
            p->s[i].route, p->s[i].status, p->s[i].count);
    put(&b, "# HELP ptuned_http_request_duration_seconds Time from the first byte of a request to its answer.\n"
            "# TYPE ptuned_http_request_duration_seconds histogram\n");
    for (int i = 0; i < p->n_h; i++) {
        long cum = 0;
        for (size_t k = 0; k < N_DUR; k++) {
            cum += p->h[i].buckets[k];
            put(&b, "ptuned_http_request_duration_seconds_bucket{route=\"%s\",le=\"%g\"} %ld\n", p->h[i].route,
                dur_bounds[k], cum);
        }
        put(&b, "ptuned_http_request_duration_seconds_bucket{route=\"%s\",le=\"+Inf\"} %ld\n", p->h[i].route,
            p->h[i].count);
        put(&b, "ptuned_http_request_duration_seconds_sum{route=\"%s\"} %.6f\n", p->h[i].route, p->h[i].sum);
        put(&b, "ptuned_http_request_duration_seconds_count{route=\"%s\"} %ld\n", p->h[i].route, p->h[i].count);
    }
    put(&b, "# HELP ptuned_classify_batch_rows Texts per merged classification forward pass.\n"
            "# TYPE ptuned_classify_batch_rows histogram\n");
    long cum = 0;
    for (size_t k = 0; k < N_BATCH; k++) {
        cum += p->batch_buckets[k];
        put(&b, "ptuned_classify_batch_rows_bucket{le=\"%d\"} %ld\n", batch_bounds[k], cum);
    }
    put(&b, "ptuned_classify_batch_rows_bucket{le=\"+Inf\"} %ld\nptuned_classify_batch_rows_sum %ld\n"
            "ptuned_classify_batch_rows_count %ld\n",
        p->batch_count, p->batch_sum, p->batch_count);
    pthread_mutex_unlock(&p->mu);
    if (b.oom) {
        free(b.p);
        return NULL;
    }
    return b.p;
}
