/* Unit tests for core/metrics: hand-computed values (scikit-learn's definitions). */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>
#include <string.h>

#include "metrics.h"

static void test_three_classes_with_unknown_and_unused(void **state)
{
    (void)state;
    /* Class 3 never occurs: left out of macro-F1. One gold label is unknown (-1): counted only. */
    const int gold[] = {0, 0, 0, 1, 1, 2, -1};
    const int pred[] = {0, 1, 0, 1, 2, 2, 0};
    metrics m;
    pt_err e;
    pt_err_clear(&e);
    assert_int_equal(metrics_compute(&m, gold, pred, 7, 4, &e), 0);
    assert_int_equal(m.n, 6);
    assert_int_equal(m.n_unknown, 1);
    assert_float_equal(m.accuracy, 4.0 / 6.0, 1e-12);
    assert_float_equal(m.precision[0], 1.0, 1e-12);
    assert_float_equal(m.recall[0], 2.0 / 3.0, 1e-12);
    assert_float_equal(m.f1[0], 0.8, 1e-12);
    assert_float_equal(m.f1[1], 0.5, 1e-12);
    assert_float_equal(m.precision[2], 0.5, 1e-12);
    assert_float_equal(m.recall[2], 1.0, 1e-12);
    assert_float_equal(m.f1[2], 2.0 / 3.0, 1e-12);
    assert_float_equal(m.f1[3], 0.0, 1e-12);
    assert_float_equal(m.macro_f1, (0.8 + 0.5 + 2.0 / 3.0) / 3.0, 1e-12);
    assert_float_equal(m.weighted_f1, (0.8 * 3 + 0.5 * 2 + 2.0 / 3.0) / 6.0, 1e-12);
    const long conf[16] = {2, 1, 0, 0, 0, 1, 1, 0, 0, 0, 1, 0, 0, 0, 0, 0};
    assert_memory_equal(m.confusion, conf, sizeof conf);
    assert_int_equal(m.support[0], 3);
    assert_int_equal(m.support[3], 0);

    const char *labels[] = {"a", "b", "c", "d"};
    json_t *j = metrics_to_json(&m, labels);
    assert_non_null(j);
    assert_int_equal(json_integer_value(json_object_get(j, "unknown_labels")), 1);
    assert_float_equal(json_real_value(json_object_get(json_object_get(json_object_get(j, "per_class"), "a"), "f1")),
                       0.8, 1e-12);
    assert_int_equal(json_integer_value(json_array_get(json_array_get(json_object_get(j, "confusion"), 0), 1)), 1);
    json_decref(j);
    metrics_free(&m);
}

static void test_predicted_but_absent_class_counts_in_macro(void **state)
{
    (void)state;
    const int gold[] = {0, 0};
    const int pred[] = {0, 1};
    metrics m;
    assert_int_equal(metrics_compute(&m, gold, pred, 2, 2, NULL), 0);
    /* Class 0: P=1 R=.5 F1=2/3; class 1: predicted once, never gold: F1 0 but present. */
    assert_float_equal(m.macro_f1, (2.0 / 3.0) / 2.0, 1e-12);
    assert_float_equal(m.weighted_f1, 2.0 / 3.0, 1e-12);
    metrics_free(&m);
}

static void test_no_rows_and_bad_indices(void **state)
{
    (void)state;
    const int gold[] = {-1};
    const int pred[] = {1};
    metrics m;
    pt_err e;
    pt_err_clear(&e);
    assert_int_equal(metrics_compute(&m, gold, pred, 1, 2, &e), 0);
    assert_int_equal(m.n, 0);
    assert_float_equal(m.accuracy, 0.0, 0);
    assert_float_equal(m.macro_f1, 0.0, 0);
    metrics_free(&m);
    const int bad[] = {2};
    assert_int_equal(metrics_compute(&m, bad, pred, 1, 2, &e), PT_EINVAL);
    assert_non_null(strstr(e.msg, "row 0"));
    assert_null(m.confusion);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_three_classes_with_unknown_and_unused),
        cmocka_unit_test(test_predicted_but_absent_class_counts_in_macro),
        cmocka_unit_test(test_no_rows_and_bad_indices),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
