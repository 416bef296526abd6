/* Unit tests for core/utf8: boundaries of every length, every kind of invalid input, round trip. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>
#include <string.h>

#include "utf8.h"

static void expect_ok(const char *s, size_t len, uint32_t want)
{
    uint32_t cp = 0;
    const char *why = NULL;
    assert_int_equal(utf8_decode((const unsigned char *)s, len, &cp, &why), len);
    assert_int_equal(cp, want);
    assert_null(why);
}

static void expect_bad(const char *s, size_t len, const char *reason)
{
    uint32_t cp = 0;
    const char *why = NULL;
    assert_int_equal(utf8_decode((const unsigned char *)s, len, &cp, &why), 0);
    assert_non_null(why);
    assert_string_equal(why, reason);
}

static void test_boundaries(void **state)
{
    (void)state;
    expect_ok("\x00", 1, 0);
    expect_ok("\x7f", 1, 0x7F);
    expect_ok("\xc2\x80", 2, 0x80);
    expect_ok("\xdf\xbf", 2, 0x7FF);
    expect_ok("\xe0\xa0\x80", 3, 0x800);
    expect_ok("\xed\x9f\xbf", 3, 0xD7FF);
    expect_ok("\xee\x80\x80", 3, 0xE000);
    expect_ok("\xef\xbf\xbf", 3, 0xFFFF);
    expect_ok("\xf0\x90\x80\x80", 4, 0x10000);
    expect_ok("\xf4\x8f\xbf\xbf", 4, 0x10FFFF);
}

static void test_invalid(void **state)
{
    (void)state;
    expect_bad("\x80", 1, "unexpected continuation byte");
    expect_bad("\xbf", 1, "unexpected continuation byte");
    expect_bad("\xf8\x88\x80\x80\x80", 5, "byte cannot start a character");
    expect_bad("\xff", 1, "byte cannot start a character");
    expect_bad("\xc3", 1, "truncated sequence");
    expect_bad("\xe4\xb8", 2, "truncated sequence");
    expect_bad("\xe4" "a", 2, "truncated sequence");
    expect_bad("\xf0\x9f\x98", 3, "truncated sequence");
    expect_bad("\xc0\x80", 2, "overlong encoding");
    expect_bad("\xc1\xbf", 2, "overlong encoding");
    expect_bad("\xe0\x9f\xbf", 3, "overlong encoding");
    expect_bad("\xf0\x8f\xbf\xbf", 4, "overlong encoding");
    expect_bad("\xed\xa0\x80", 3, "UTF-16 surrogate");
    expect_bad("\xed\xbf\xbf", 3, "UTF-16 surrogate");
    expect_bad("\xf4\x90\x80\x80", 4, "code point above U+10FFFF");
    expect_bad("\xf7\xbf\xbf\xbf", 4, "code point above U+10FFFF");
}

static void test_round_trip_every_code_point(void **state)
{
    (void)state;
    for (uint32_t cp = 0; cp < 0x110000; cp++) {
        if (cp >= 0xD800 && cp <= 0xDFFF)
            continue;
        char buf[4];
        size_t n = utf8_encode(cp, buf);
        assert_int_equal(n, cp < 0x80 ? 1 : cp < 0x800 ? 2 : cp < 0x10000 ? 3 : 4);
        uint32_t back;
        const char *why;
        assert_int_equal(utf8_decode((const unsigned char *)buf, n, &back, &why), n);
        assert_int_equal(back, cp);
    }
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_boundaries),
        cmocka_unit_test(test_invalid),
        cmocka_unit_test(test_round_trip_every_code_point),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
