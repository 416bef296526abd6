/* train — the P-tuning loop: learn prompt vectors through a frozen backbone.
 *
 * Task config: one JSON object, the same keys as the HTTP API (all optional; unknown keys and wrong
 * types are errors with err->field = the key):
 *   template       string  "{mask}{prompt:8}{text}"   (see template.h)
 *   verbalizer     object  label -> [word, ...]; absent: the labels of the training rows, each its own word
 *   encoder        "none" | "mlp" | "lstm"              default "none"
 *   encoder_hidden int > 0                             default 128 (mlp only)
 *   init           null | "random" | text              null: the word embeddings of [unused1..N];
 *                                                       "random": normal with the word embeddings' std;
 *                                                       text: its token embeddings, repeated to N
 *   loss           "class" | "vocab"                   default "class"
 *   epochs         int >= 1                            default 10
 *   batch_size     int >= 1                            default 8
 *   lr             number in (0, 10]                   default 1e-2
 *   betas          [b1, b2] in [0, 1)                  default [0.9, 0.999]
 *   weight_decay   number >= 0                         default 0.01 (decoupled, every parameter)
 *   warmup         number in [0, 1)                    default 0.06: share of the steps with a linear
 *                                                       warmup; then linear decay to 0
 *   max_grad_norm  number >= 0                         default 1.0 (0 = no clipping)
 *   max_seq_len    int >= 8                            default 128 (error if above the model's positions)
 *   patience       int >= 0                            default 0 (never stop early)
 *   seed           int >= 0                            default 42
 *
 * Losses: class = cross-entropy over the class scores (template.h), mean over the batch; vocab =
 * full-vocabulary cross-entropy of the gold label's FIRST word's tokens at each mask position, mean
 * over the batch's mask positions. AdamW with bias correction and decoupled weight decay;
 * the gradient norm over all encoder parameters is clipped to max_grad_norm.
 *
 * Each epoch shuffles the rows (from the seed), steps over batches, then evaluates the dev rows if any:
 * the best prompt by dev macro-F1 (ties: the earlier epoch) is kept, and training stops after
 * `patience` epochs without improvement. Without dev rows, the last prompt is kept. Same data, config,
 * seed and OpenBLAS thread count -> bit-identical prompt vectors.
 *
 * Training rows with a label the verbalizer lacks are an error naming the row's line; dev rows with an
 * unknown label are counted (metrics.n_unknown) and reported, never scored.
 */
#ifndef PT_TRAIN_H
#define PT_TRAIN_H

#include <jansson.h>
#include <stdbool.h>
#include <stdint.h>

#include "bert.h"
#include "err.h"
#include "metrics.h"
#include "prompt.h"
#include "template.h"
#include "tsv.h"

typedef enum train_loss { TRAIN_LOSS_CLASS, TRAIN_LOSS_VOCAB } train_loss;

typedef struct train_config {
    char *template_src;     /* owned; NULL = TEMPLATE_DEFAULT */
    verbalizer verb;        /* n_labels == 0: default from the training labels */
    prompt_kind encoder;
    int encoder_hidden;
    char *init;             /* owned; NULL = [unused1..N] */
    train_loss loss;
    int epochs, batch_size;
    double lr, beta1, beta2, weight_decay, warmup, max_grad_norm;
    int max_seq_len, patience;
    uint64_t seed;
} train_config;

/* Fills the defaults above. */
void train_config_init(train_config *c);
/* Defaults, then the keys of obj. On error c is left freed (safe to train_config_free). */
int train_config_parse(train_config *c, const json_t *obj, pt_err *err);
/* Every key, defaults resolved ("init": null when NULL); the verbalizer only if it has labels. */
json_t *train_config_to_json(const train_config *c);
int train_config_copy(train_config *dst, const train_config *src, pt_err *err);
/* What can only be checked against the backbone, so that a bad config is refused before a job starts:
 * max_seq_len within the model's positions, the template and verbalizer compile with its vocabulary,
 * the init text tokenizes, lstm needs an even hidden size. train_run performs the same checks. */
int train_config_check(const train_config *c, const bert_model *m, pt_err *err);
void train_config_free(train_config *c);

typedef struct train_progress {
    int epoch, epochs;          /* 1-based current epoch */
    long step, total_steps;     /* optimizer steps done so far / planned (1-based after a step) */
    double loss;                /* mean training loss of this epoch so far */
    bool epoch_end;             /* true once per epoch, after its dev evaluation */
    const metrics *dev;         /* epoch_end with dev rows: this epoch's dev metrics; else NULL */
    int best_epoch;             /* epoch of the kept prompt so far (0 before the first epoch ends) */
    double elapsed, eta;        /* seconds since the start; estimate of the seconds left */
} train_progress;

/* Called after every optimizer step and once at each epoch end. A non-zero return cancels:
 * train_run returns PT_ECANCELLED before the next step. The daemon may also block here to yield. */
typedef int (*train_progress_fn)(const train_progress *p, void *user);

typedef struct train_epoch {
    int epoch;
    long steps;
    double loss;                           /* mean training loss */
    double dev_accuracy, dev_macro_f1, dev_weighted_f1; /* 0 without dev rows */
    double seconds;
} train_epoch;

typedef struct train_result {
    verbalizer verb;        /* the labels and words actually used (defaults resolved) */
    int n_prompt, hidden;
    float *vectors;         /* n_prompt x hidden: the kept prompt (encoder output) */
    int best_epoch, epochs_run;
    bool has_dev;
    metrics dev;            /* dev metrics of the kept prompt (has_dev only) */
    train_epoch *curve;     /* epochs_run entries */
    long train_truncated, dev_truncated; /* rows whose text was cut to fit max_seq_len */
    double seconds;
} train_result;

/* dev may be NULL (n_dev 0). cb may be NULL. On success res is filled (free with train_result_free). */
int train_run(const bert_model *m, const tsv_row *train, int n_train, const tsv_row *dev, int n_dev,
              const train_config *cfg, train_progress_fn cb, void *user, train_result *res, pt_err *err);
void train_result_free(train_result *r);

/* What one training step computes before the encoder's backward, exposed for gradient checks: the mean
 * loss of rows (encoded by template_encode; gold = class indices) under the prompt vectors vec
 * (t->n_prompt x H) and d_vec = d loss / d vec. */
int train_batch_loss(const bert_model *m, bert_ws *ws, const template_task *t, train_loss loss,
                     const template_row *const *rows, const int *gold, int n, const float *vec, double *loss_out,
                     float *d_vec, pt_err *err);

/* The curve as JSON: [{"epoch", "steps", "loss", "dev_accuracy", "dev_macro_f1", "dev_weighted_f1",
 * "seconds"}, ...]. */
json_t *train_curve_to_json(const train_result *r);

#endif
