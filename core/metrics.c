#include "metrics.h"

#include <stdlib.h>
#include <string.h>

int metrics_compute(metrics *m, const int *gold, const int *pred, long n, int n_labels, pt_err *err)
{
    memset(m, 0, sizeof *m);
    if (n_labels < 1)
        return pt_fail(err, PT_EINVAL, "metrics need at least one label, got %d", n_labels);
    size_t k = (size_t)n_labels;
    m->n_labels = n_labels;
    m->precision = calloc(k, sizeof *m->precision);
    m->recall = calloc(k, sizeof *m->recall);
    m->f1 = calloc(k, sizeof *m->f1);
    m->support = calloc(k, sizeof *m->support);
    m->confusion = calloc(k * k, sizeof *m->confusion);
    if (!m->precision || !m->recall || !m->f1 || !m->support || !m->confusion) {
        metrics_free(m);
        return pt_fail(err, PT_ENOMEM, "out of memory for metrics over %d labels", n_labels);
    }
    for (long i = 0; i < n; i++) {
        if (pred[i] < 0 || pred[i] >= n_labels || gold[i] < -1 || gold[i] >= n_labels) {
            int bad = (pred[i] < 0 || pred[i] >= n_labels) ? pred[i] : gold[i];
            metrics_free(m);
            return pt_fail(err, PT_EINVAL, "row %ld: class index %d outside [0, %d)", i, bad, n_labels);
        }
        if (gold[i] < 0) {
            m->n_unknown++;
            continue;
        }
        m->n++;
        m->confusion[(size_t)gold[i] * k + (size_t)pred[i]]++;
    }
    long correct = 0;
    int present = 0;
    double f1_sum = 0, weighted = 0;
    for (size_t c = 0; c < k; c++) {
        long tp = m->confusion[c * k + c], predicted = 0, actual = 0;
        for (size_t j = 0; j < k; j++) {
            actual += m->confusion[c * k + j];
            predicted += m->confusion[j * k + c];
        }
        correct += tp;
        m->support[c] = actual;
        m->precision[c] = predicted ? (double)tp / (double)predicted : 0.0;
        m->recall[c] = actual ? (double)tp / (double)actual : 0.0;
        double pr = m->precision[c] + m->recall[c];
        m->f1[c] = pr > 0 ? 2.0 * m->precision[c] * m->recall[c] / pr : 0.0;
        if (actual || predicted) {
            present++;
            f1_sum += m->f1[c];
        }
        weighted += m->f1[c] * (double)actual;
    }
    if (m->n > 0) {
        m->accuracy = (double)correct / (double)m->n;
        m->weighted_f1 = weighted / (double)m->n;
        m->macro_f1 = f1_sum / present;
    }
    return 0;
}

/* Adds to obj, reporting allocation failure through *ok (jansson steals the reference either way). */
static void put(json_t *obj, const char *key, json_t *v, int *ok)
{
    if (!v || json_object_set_new(obj, key, v))
        *ok = 0;
}

json_t *metrics_to_json(const metrics *m, const char *const *labels)
{
    int ok = 1;
    json_t *o = json_object();
    json_t *per = json_object(), *names = json_array(), *conf = json_array();
    if (!o || !per || !names || !conf) {
        json_decref(o);
        json_decref(per);
        json_decref(names);
        json_decref(conf);
        return NULL;
    }
    put(o, "n", json_integer(m->n), &ok);
    put(o, "unknown_labels", json_integer(m->n_unknown), &ok);
    put(o, "accuracy", json_real(m->accuracy), &ok);
    put(o, "macro_f1", json_real(m->macro_f1), &ok);
    put(o, "weighted_f1", json_real(m->weighted_f1), &ok);
    size_t k = (size_t)m->n_labels;
    for (size_t c = 0; c < k; c++) {
        json_t *pc = json_object();
        if (!pc) {
            ok = 0;
            break;
        }
        put(pc, "precision", json_real(m->precision[c]), &ok);
        put(pc, "recall", json_real(m->recall[c]), &ok);
        put(pc, "f1", json_real(m->f1[c]), &ok);
        put(pc, "support", json_integer(m->support[c]), &ok);
        put(per, labels[c], pc, &ok);
        if (json_array_append_new(names, json_string(labels[c])))
            ok = 0;
        json_t *row = json_array();
        if (!row) {
            ok = 0;
            break;
        }
        for (size_t j = 0; j < k; j++)
            if (json_array_append_new(row, json_integer(m->confusion[c * k + j])))
                ok = 0;
        if (json_array_append_new(conf, row))
            ok = 0;
    }
    put(o, "labels", names, &ok);
    put(o, "per_class", per, &ok);
    put(o, "confusion", conf, &ok);
    if (!ok) {
        json_decref(o);
        return NULL;
    }
    return o;
}

void metrics_free(metrics *m)
{
    if (!m)
        return;
    free(m->precision);
    free(m->recall);
    free(m->f1);
    free(m->support);
    free(m->confusion);
    memset(m, 0, sizeof *m);
}
