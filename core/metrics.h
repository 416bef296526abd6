/* metrics — classification quality: accuracy, macro-F1, weighted-F1, per-class precision / recall /
 * F1 / support and the confusion matrix.
 *
 * Gold labels are class indices in [0, n_labels) or -1 for "a label the task does not know": such rows
 * are counted in n_unknown and left out of every other number (never silently scored as errors).
 * Per class: P = tp/(tp+fp), R = tp/(tp+fn), F1 = 2PR/(P+R), each 0 when its denominator is 0.
 * Macro-F1 averages F1 over the classes that occur in gold or predictions (scikit-learn's default
 * label set); weighted-F1 weights each class's F1 by its support. With no scored rows every number is 0.
 */
#ifndef PT_METRICS_H
#define PT_METRICS_H

#include <jansson.h>

#include "err.h"

typedef struct metrics {
    int n_labels;
    long n;          /* scored rows (gold >= 0) */
    long n_unknown;  /* rows with gold == -1 */
    double accuracy, macro_f1, weighted_f1;
    double *precision, *recall, *f1; /* n_labels each */
    long *support;                   /* n_labels: gold count per class */
    long *confusion;                 /* n_labels x n_labels, row = gold, column = predicted */
} metrics;

/* pred[i] must be in [0, n_labels); gold[i] in [-1, n_labels). */
int metrics_compute(metrics *m, const int *gold, const int *pred, long n, int n_labels, pt_err *err);

/* {"n", "unknown_labels", "accuracy", "macro_f1", "weighted_f1",
 *  "per_class": {label: {"precision", "recall", "f1", "support"}}, "labels": [...],
 *  "confusion": [[...], ...]}. Returns NULL only when out of memory. */
json_t *metrics_to_json(const metrics *m, const char *const *labels);

void metrics_free(metrics *m);

#endif
