/* Unit tests for core/unicode_tables: known values, then every code point against Python's own
 * Unicode database (tests/reference/unicode_props_ref.py), the database the reference tokenizer uses. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "unicode_tables.h"

static void expect_decomposition(uint32_t cp, size_t n, const uint32_t *want)
{
    uint32_t out[UNI_MAX_DECOMP];
    assert_int_equal(uni_decompose(cp, out), n);
    for (size_t i = 0; i < n; i++)
        assert_int_equal(out[i], want[i]);
}

static void test_known_values(void **state)
{
    (void)state;
    assert_string_equal(uni_version, "15.0.0");
    assert_int_equal(uni_flags('A'), UNI_CASED | UNI_LOWER);
    assert_int_equal(uni_flags('a'), UNI_CASED);
    assert_int_equal(uni_flags('!'), UNI_PUNCT);
    assert_int_equal(uni_flags('.'), UNI_PUNCT | UNI_CASE_IGNORABLE);
    assert_int_equal(uni_flags('$'), 0); /* Sc: not P*, though the tokenizer's ASCII rule splits it */
    assert_int_equal(uni_flags(' '), UNI_ZS | UNI_PYSPACE);
    assert_int_equal(uni_flags('\t'), UNI_CONTROL | UNI_PYSPACE);
    assert_int_equal(uni_flags(0x85), UNI_CONTROL | UNI_PYSPACE);
    assert_int_equal(uni_flags(0x2028), UNI_PYSPACE); /* Zl: not Zs, yet str.isspace() */
    assert_int_equal(uni_flags(0x200B), UNI_CONTROL | UNI_CASE_IGNORABLE); /* Cf */
    assert_int_equal(uni_flags(0x301), UNI_MN | UNI_CASE_IGNORABLE);
    assert_int_equal(uni_ccc(0x301), 230);
    assert_int_equal(uni_ccc(0x323), 220);
    assert_int_equal(uni_ccc('a'), 0);
    assert_int_equal(uni_flags(0x4E2D), 0);
    assert_int_equal(uni_flags(0x378), UNI_CONTROL);      /* unassigned */
    assert_int_equal(uni_flags(0x10FFFF), UNI_CONTROL);   /* noncharacter */
    assert_int_equal(uni_flags(0xE000), UNI_CONTROL);     /* private use (Co) */
    assert_int_equal(uni_flags(0x110000), UNI_CONTROL);   /* past the end */
    assert_int_equal(uni_flags(0xFFFFFFFFu), UNI_CONTROL);

    uint32_t low[UNI_MAX_LOWER];
    assert_int_equal(uni_lower(0x130, low), 2); /* İ -> i + U+0307, SpecialCasing */
    assert_int_equal(low[0], 'i');
    assert_int_equal(low[1], 0x307);
    assert_int_equal(uni_lower(0x3A3, low), 1); /* Σ -> σ; Final_Sigma is the caller's */
    assert_int_equal(low[0], 0x3C3);
    assert_int_equal(uni_lower(0xFF21, low), 1); /* Ａ -> ａ */
    assert_int_equal(low[0], 0xFF41);
    assert_int_equal(uni_lower(0xDF, low), 1); /* ß has no lowercase other than itself */
    assert_int_equal(low[0], 0xDF);
    assert_int_equal(uni_lower(0x1E9E, low), 1); /* ẞ -> ß */
    assert_int_equal(low[0], 0xDF);

    expect_decomposition(0xE9, 2, (const uint32_t[]){'e', 0x301});
    expect_decomposition(0x1F82, 4, (const uint32_t[]){0x3B1, 0x313, 0x300, 0x345}); /* recursive */
    expect_decomposition(0x212B, 2, (const uint32_t[]){'A', 0x30A});                /* Å sign */
    expect_decomposition(0xAC00, 2, (const uint32_t[]){0x1100, 0x1161});             /* 가 */
    expect_decomposition(0xD7A3, 3, (const uint32_t[]){0x1112, 0x1175, 0x11C2});     /* 힣 */
    expect_decomposition(0xF900, 1, (const uint32_t[]){0x8C48});                     /* 豈 */
    expect_decomposition(0xFB01, 1, (const uint32_t[]){0xFB01}); /* ﬁ: compatibility only */
    expect_decomposition('a', 1, (const uint32_t[]){'a'});
}

static void test_every_code_point_against_python(void **state)
{
    (void)state;
    if (system("python3 -c 'import unicodedata' >/dev/null 2>&1") != 0) {
        print_message("skipped: python3 not found, nothing to compare with\n");
        skip();
    }
    const char *tmp = getenv("PTUNE_TMP"), *src = getenv("PTUNE_SRC");
    char path[4096], cmd[8192];
    snprintf(path, sizeof path, "%s/test-unicode-tables-%ld.txt", tmp && *tmp ? tmp : "/tmp", (long)getpid());
    FILE *f = fopen(path, "w");
    assert_non_null(f);
    for (uint32_t cp = 0; cp < 0x110000; cp++) {
        if (cp >= 0xD800 && cp <= 0xDFFF)
            continue;
        unsigned fl = uni_flags(cp);
        fprintf(f, "%X %c%c%c%c%c ", (unsigned)cp, fl & UNI_CONTROL ? 'C' : '-', fl & UNI_ZS ? 'Z' : '-',
                fl & UNI_PUNCT ? 'P' : '-', fl & UNI_MN ? 'M' : '-', fl & UNI_PYSPACE ? 'S' : '-');
        uint32_t m[UNI_MAX_DECOMP];
        size_t n = uni_lower(cp, m);
        for (size_t i = 0; i < n; i++)
            fprintf(f, "%s%X", i ? "," : "", (unsigned)m[i]);
        n = uni_decompose(cp, m);
        for (size_t i = 0; i < n; i++)
            fprintf(f, "%s%X", i ? "," : " ", (unsigned)m[i]);
        bool cased = fl & UNI_CASED, ignorable = fl & UNI_CASE_IGNORABLE;
        fprintf(f, " %u %d%d\n", uni_ccc(cp), cased && !ignorable, cased || ignorable);
    }
    assert_int_equal(fclose(f), 0);
    snprintf(cmd, sizeof cmd, "python3 '%s/tests/reference/unicode_props_ref.py' '%s'", src && *src ? src : ".", path);
    int rc = system(cmd);
    remove(path);
    assert_int_equal(rc, 0);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_known_values),
        cmocka_unit_test(test_every_code_point_against_python),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
