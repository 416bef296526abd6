/* Unit tests for server/auth: the keys file format and the scope checks. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>
#include <string.h>

#include "auth.h"

static const char keys_file[] = "# ptuned API keys\n"
                                "\n"
                                "admin-key-0123456789 admin\n"
                                "  classify-key-0123456789\tclassify  \r\n";

static void test_parse_and_check(void **state)
{
    (void)state;
    auth_keys *k;
    pt_err e;
    pt_err_clear(&e);
    assert_int_equal(auth_parse(&k, keys_file, sizeof keys_file - 1, &e), 0);
    assert_int_equal(auth_count(k), 2);
    assert_int_equal(auth_check(k, "admin-key-0123456789", 20), AUTH_ADMIN);
    assert_int_equal(auth_check(k, "classify-key-0123456789", 23), AUTH_CLASSIFY);
    assert_int_equal(auth_check(k, "classify-key-012345678", 22), AUTH_NONE); /* a prefix is not the key */
    assert_int_equal(auth_check(k, "classify-key-01234567890", 24), AUTH_NONE);
    assert_int_equal(auth_check(k, "", 0), AUTH_NONE);
    assert_int_equal(auth_check(k, NULL, 0), AUTH_NONE);
    assert_int_equal(auth_check(NULL, "admin-key-0123456789", 20), AUTH_NONE);
    auth_free(k);
}

static void test_bearer(void **state)
{
    (void)state;
    size_t n;
    const char *key = auth_bearer("Bearer abc ", &n);
    assert_non_null(key);
    assert_int_equal(n, 3);
    assert_memory_equal(key, "abc", 3);
    assert_non_null(auth_bearer("bearer abc", &n));
    assert_null(auth_bearer("Basic YWJjOmRlZg==", &n));
    assert_null(auth_bearer("Bearer    ", &n));
    assert_null(auth_bearer(NULL, &n));
}

static void expect_bad(const char *text, long line, const char *what)
{
    auth_keys *k;
    pt_err e;
    pt_err_clear(&e);
    assert_int_equal(auth_parse(&k, text, strlen(text), &e), PT_EFORMAT);
    assert_null(k);
    if (!strstr(e.msg, what))
        fail_msg("expected '%s' in: %s", what, e.msg);
    assert_int_equal(e.line, line);
}

static void test_bad_files(void **state)
{
    (void)state;
    expect_bad("admin-key-0123456789\n", 1, "no scope");
    expect_bad("# c\nadmin-key-0123456789 root\n", 2, "unknown scope 'root'");
    expect_bad("admin-key-0123456789 admin extra\n", 1, "more fields");
    expect_bad("short admin\n", 1, "at least 16");
    expect_bad("admin-key-0123456789 admin\nadmin-key-0123456789 classify\n", 2, "duplicate key");
    expect_bad("# only comments\n\n", 0, "no keys");
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_parse_and_check),
        cmocka_unit_test(test_bearer),
        cmocka_unit_test(test_bad_files),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
