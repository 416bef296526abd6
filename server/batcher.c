#include "batcher.h"

#include <errno.h>
#include <pthread.h>
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

typedef struct request {
    const classify_task *t;
    const template_row *rows;
    int n;
    float *probs;
    int next;    /* next row to hand to a pass */
    int done;    /* rows scored (or failed) */
    int rc;
    pt_err err;
    struct request *link;
} request;

typedef struct slot {
    request *req;
    int row;
} slot;

struct batcher {
    const bert_model *m;
    prom *stats;
    int max_tokens, queue_limit;
    pthread_t thread;
    pthread_mutex_t mu;
    pthread_cond_t work, done;
    request *head, *tail;
    long queued;
    long enqueued_total, done_total; /* rows ever queued / ever scored: batcher_yield's tickets */
    bool busy, stop;
    /* compute-thread state */
    bert_ws *ws;
    slot *slots;
    bert_row *brows;
    float *logits, *scores;
    size_t slots_cap, logits_cap;
};

/* Takes the next pass's rows off the queue (mutex held). Returns the row count. */
static int gather(batcher *b)
{
    int k = 0;
    long tokens = 0;
    while (b->head) {
        request *r = b->head;
        int len = r->rows[r->next].len;
        if (k > 0 && tokens + len > b->max_tokens)
            break;
        if ((size_t)k == b->slots_cap) {
            size_t cap = b->slots_cap ? 2 * b->slots_cap : 64;
            slot *ns = realloc(b->slots, cap * sizeof *ns);
            bert_row *nb = ns ? realloc(b->brows, cap * sizeof *nb) : NULL;
            if (ns)
                b->slots = ns;
            if (!nb)
                break; /* run what fits; the rest waits for the next pass */
            b->brows = nb;
            b->slots_cap = cap;
        }
        b->slots[k++] = (slot){r, r->next};
        tokens += len;
        if (++r->next == r->n) {
            b->head = r->link;
            if (!b->head)
                b->tail = NULL;
        }
    }
    b->queued -= k;
    return k;
}

static int run_pass(batcher *b, int k, pt_err *err)
{
    int V = b->m->cfg.vocab_size;
    size_t n_logits = 0;
    int max_labels = 1;
    for (int i = 0; i < k; i++) {
        const classify_task *t = b->slots[i].req->t;
        template_row_bert(t->tpl, &b->slots[i].req->rows[b->slots[i].row], t->vectors, &b->brows[i]);
        n_logits += (size_t)t->tpl->n_mask * (size_t)V;
        if (t->tpl->n_labels > max_labels)
            max_labels = t->tpl->n_labels;
    }
    if (n_logits > b->logits_cap) {
        float *nl = realloc(b->logits, n_logits * sizeof(float));
        if (!nl)
            return pt_fail(err, PT_ENOMEM, "out of memory for %zu logits", n_logits);
        b->logits = nl;
        b->logits_cap = n_logits;
    }
    float *scores = realloc(b->scores, (size_t)max_labels * sizeof(float));
    if (!scores)
        return pt_fail(err, PT_ENOMEM, "out of memory");
    b->scores = scores;
    int rc = bert_forward(b->m, b->ws, b->brows, k, b->logits, err);
    if (rc)
        return rc;
    long tokens = 0;
    const float *lg = b->logits;
    for (int i = 0; i < k; i++) {
        const template_task *tpl = b->slots[i].req->t->tpl;
        template_score(tpl, lg, V, scores, NULL);
        template_softmax(scores, tpl->n_labels);
        memcpy(b->slots[i].req->probs + (size_t)b->slots[i].row * (size_t)tpl->n_labels, scores,
               (size_t)tpl->n_labels * sizeof(float));
        lg += (size_t)tpl->n_mask * (size_t)V;
        tokens += b->brows[i].len;
    }
    prom_add(b->stats, PROM_CLASSIFY_BATCHES, 1);
    prom_add(b->stats, PROM_CLASSIFY_TOKENS, tokens);
    prom_add(b->stats, PROM_CLASSIFY_TEXTS, k);
    prom_observe_batch(b->stats, k);
    return 0;
}

static void *compute(void *arg)
{
    batcher *b = arg;
    pthread_mutex_lock(&b->mu);
    for (;;) {
        while (!b->head && !b->stop)
            pthread_cond_wait(&b->work, &b->mu);
        if (!b->head)
            break;
        int k = gather(b);
        b->busy = true;
        pthread_mutex_unlock(&b->mu);
        pt_err err;
        pt_err_clear(&err);
        int rc = run_pass(b, k, &err);
        pthread_mutex_lock(&b->mu);
        for (int i = 0; i < k; i++) {
            request *r = b->slots[i].req;
            if (rc && !r->rc) {
                r->rc = rc;
                r->err = err;
            }
            r->done++;
        }
        b->done_total += k;
        b->busy = false;
        pthread_cond_broadcast(&b->done);
    }
    pthread_mutex_unlock(&b->mu);
    return NULL;
}

int batcher_new(batcher **out, const bert_model *m, prom *stats, int max_batch_tokens, int queue_limit,
                pt_err *err)
{
    *out = NULL;
    batcher *b = calloc(1, sizeof *b);
    if (!b || !(b->ws = bert_ws_new())) {
        free(b);
        return pt_fail(err, PT_ENOMEM, "out of memory");
    }
    b->m = m;
    b->stats = stats;
    b->max_tokens = max_batch_tokens;
    b->queue_limit = queue_limit;
    pthread_mutex_init(&b->mu, NULL);
    pthread_cond_init(&b->work, NULL);
    pthread_cond_init(&b->done, NULL);
    if (pthread_create(&b->thread, NULL, compute, b)) {
        bert_ws_free(b->ws);
        free(b);
        return pt_fail(err, PT_EIO, "cannot start the batcher thread");
    }
    *out = b;
    return 0;
}

void batcher_free(batcher *b)
{
    if (!b)
        return;
    pthread_mutex_lock(&b->mu);
    b->stop = true;
    pthread_cond_broadcast(&b->work);
    pthread_mutex_unlock(&b->mu);
    pthread_join(b->thread, NULL);
    pthread_mutex_destroy(&b->mu);
    pthread_cond_destroy(&b->work);
    pthread_cond_destroy(&b->done);
    bert_ws_free(b->ws);
    free(b->slots);
    free(b->brows);
    free(b->logits);
    free(b->scores);
    free(b);
}

int batcher_classify(batcher *b, const classify_task *t, const template_row *rows, int n, float *probs,
                     pt_err *err)
{
    request r = {.t = t, .rows = rows, .n = n, .probs = probs};
    if (n <= 0)
        return 0;
    pthread_mutex_lock(&b->mu);
    if (b->stop || b->queued + n > b->queue_limit) {
        long queued = b->queued;
        pthread_mutex_unlock(&b->mu);
        prom_add(b->stats, PROM_CLASSIFY_REJECTED, n);
        return pt_fail(err, PT_ELIMIT, "the classification queue is full (%ld of %d texts waiting)", queued,
                       b->queue_limit);
    }
    if (b->tail)
        b->tail->link = &r;
    else
        b->head = &r;
    b->tail = &r;
    b->queued += n;
    b->enqueued_total += n;
    pthread_cond_signal(&b->work);
    while (r.done < n)
        pthread_cond_wait(&b->done, &b->mu);
    pthread_mutex_unlock(&b->mu);
    if (r.rc && err)
        *err = r.err;
    return r.rc;
}

void batcher_yield(batcher *b)
{
    struct timespec until;
    clock_gettime(CLOCK_REALTIME, &until);
    until.tv_sec += BATCHER_MAX_YIELD_MS / 1000;
    until.tv_nsec += (BATCHER_MAX_YIELD_MS % 1000) * 1000000L;
    if (until.tv_nsec >= 1000000000L)
        until.tv_sec++, until.tv_nsec -= 1000000000L;
    pthread_mutex_lock(&b->mu);
    /* Wait for the rows queued before this call, not for an empty queue: under a steady classify load
     * the queue is never empty, and training would never take another step. */
    long ticket = b->enqueued_total;
    while (b->done_total < ticket && !b->stop)
        if (pthread_cond_timedwait(&b->done, &b->mu, &until) == ETIMEDOUT)
            break;
    pthread_mutex_unlock(&b->mu);
}

long batcher_queued(batcher *b)
{
    pthread_mutex_lock(&b->mu);
    long q = b->queued;
    pthread_mutex_unlock(&b->mu);
    return q;
}
