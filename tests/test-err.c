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

/* Found by fuzz-config: jansson quotes the bad input (here a newline inside a string) in its error text,
 * and messages must stay one line of valid UTF-8 whatever they quote. */
static void test_messages_are_one_line_of_utf8(void **state)
{
    (void)state;
    pt_err e;
    pt_err_clear(&e);
    pt_fail(&e, PT_EFORMAT, "near '%s'", "\"bert \\\n\"\t\x7f\xff\xe4\xb8 \xe5\xa5\xbd");
    assert_string_equal(e.msg, "near '\"bert \\ \"  ??? \xe5\xa5\xbd'");
    pt_err_prefix(&e, "%s", "dir\nname");
    assert_string_equal(e.msg, "dir name: near '\"bert \\ \"  ??? \xe5\xa5\xbd'");

    /* A character cut by the size limit does not leave half a sequence behind. */
    char big[sizeof e.msg + 8];
    memset(big, 'x', sizeof e.msg - 2);
    memcpy(big + sizeof e.msg - 2, "\xe5\xa5\xbd", 4);
    pt_fail(&e, PT_EFORMAT, "%s", big);
    assert_int_equal(strlen(e.msg), sizeof e.msg - 1);
    assert_int_equal(e.msg[sizeof e.msg - 3], 'x');
    assert_int_equal(e.msg[sizeof e.msg - 2], '?');
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_fail_formats_and_returns_code),
        cmocka_unit_test(test_messages_are_one_line_of_utf8),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
