/* classify — classification with a learned prompt, in two layers.
 *
 * Simple: classify_task_new (model + adapter -> compiled task, refusing a foreign backbone), then
 * classify_texts (texts -> per-text probabilities over the task's labels) or classify_eval (labeled
 * rows -> metrics).
 *
 * Low level, for a batcher that merges requests of DIFFERENT tasks into one bert_forward call: for each
 * (task, text) call template_encode + template_row_bert(task->tpl, &row, task->vectors, &brow), run one
 * bert_forward over all rows, then for row i: template_score(task_i->tpl, logits + offset_i * V, V, s, NULL)
 * with offset_i = sum of n_mask of the rows before it, and template_softmax(s, task_i->tpl->n_labels);
 * then template_row_free each row. The logits buffer holds (sum of n_mask) x vocab_size floats.
 *
 * A classify_task is immutable after creation and may be shared by threads; a bert_ws may not.
 */
#ifndef PT_CLASSIFY_H
#define PT_CLASSIFY_H

#include <stddef.h>

#include "adapter.h"
#include "bert.h"
#include "err.h"
#include "metrics.h"
#include "template.h"
#include "tsv.h"

#define CLASSIFY_BATCH 32 /* rows per bert_forward call in classify_texts / classify_eval */

typedef struct classify_task {
    template_task *tpl;
    verbalizer verb;     /* labels: verb.labels[0 .. tpl->n_labels) */
    int n_prompt, hidden;
    float *vectors;      /* n_prompt x hidden */
} classify_task;

/* Checks the fingerprint and max_seq_len against m, compiles the template, copies the vectors. */
int classify_task_new(classify_task **out, const bert_model *m, const adapter *a, pt_err *err);
void classify_task_free(classify_task *t);

/* probs: n x t->tpl->n_labels. truncated (may be NULL): per text, tokens dropped. lens may be NULL
 * (texts NUL-terminated). Errors name the text's index. */
int classify_texts(const bert_model *m, bert_ws *ws, const template_task *tpl, const float *vectors,
                   const char *const *texts, const size_t *lens, int n, float *probs, int *truncated,
                   pt_err *err);

/* Predicts every row; rows whose label the verbalizer lacks count as metrics.n_unknown.
 * n_truncated (may be NULL) receives the number of rows cut to fit. */
int classify_eval(const bert_model *m, bert_ws *ws, const template_task *tpl, const verbalizer *verb,
                  const float *vectors, const tsv_row *rows, int n, metrics *out, long *n_truncated,
                  pt_err *err);

#endif
