/* batcher — merges concurrent classification requests, also of different tasks, into shared forward
 * passes (a prompt is only input embeddings, so one bert_forward serves rows of many tasks).
 *
 * Request threads encode their texts and call batcher_classify, which queues the rows and blocks until
 * they are scored. One compute thread takes rows first-come first-served and packs them into a pass of
 * at most max_batch_tokens tokens (a longer row runs alone); rows are never padded. When queued texts
 * would exceed queue_limit the call fails at once with PT_ELIMIT (the route answers 429) instead of
 * letting the queue grow without bound.
 *
 * Priority: training calls batcher_yield between its steps, which waits until every text queued before
 * the call has been scored. Work arriving meanwhile does not extend the wait, so a steady classify load
 * slows training down without starving it (and the wait is bounded by BATCHER_MAX_YIELD_MS).
 */
#ifndef PT_BATCHER_H
#define PT_BATCHER_H

#include "bert.h"
#include "classify.h"
#include "err.h"
#include "prom.h"
#include "template.h"

#define BATCHER_MAX_YIELD_MS 2000

typedef struct batcher batcher;

int batcher_new(batcher **out, const bert_model *m, prom *stats, int max_batch_tokens, int queue_limit,
                pt_err *err);
/* Finishes the queued work, then stops the compute thread. */
void batcher_free(batcher *b);

/* probs: n x t->tpl->n_labels probabilities (softmax over the task's labels). t and rows must stay valid
 * until the call returns. */
int batcher_classify(batcher *b, const classify_task *t, const template_row *rows, int n, float *probs,
                     pt_err *err);

void batcher_yield(batcher *b);

/* Texts waiting for a forward pass. */
long batcher_queued(batcher *b);

#endif
