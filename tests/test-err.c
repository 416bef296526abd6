/* Unit tests for core/err. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>
#include <string.h>

#include "err.h"

static void test_fail_formats_and_returns_code(void **state)
{
    (void)state;
    pt_err e;
    pt_err_clear(&e);
    assert_int_equal(e.offset, -1);
    assert_int_equal(pt_fail(&e, PT_EFORMAT, "line %d: expected %s", 17, "a tab"), PT_EFORMAT);
    assert_int_equal(e.code, PT_EFORMAT);
    assert_string_equal(e.msg, "line 17: expected a tab");
    pt_err_prefix(&e, "%s", "train.tsv");
    assert_string_equal(e.msg, "train.tsv: line 17: expected a tab");
    assert_string_equal(pt_err_name(PT_EFORMAT), "format");
    assert_int_equal(pt_fail(NULL, PT_EIO, "ignored"), PT_EIO);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_fail_formats_and_returns_code),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
