/* Unit tests for core/tsv: the file rules and the line-numbered errors. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "tsv.h"

static tsv_data parse_ok(const char *s, size_t len)
{
    tsv_data d;
    pt_err e;
    pt_err_clear(&e);
    int rc = tsv_parse(&d, s, len, &e);
    if (rc)
        fail_msg("unexpected error: %s", e.msg);
    return d;
}

static int parse_err(const char *s, size_t len, pt_err *e)
{
    tsv_data d;
    pt_err_clear(e);
    int rc = tsv_parse(&d, s, len, e);
    assert_null(d.rows);
    assert_int_equal(d.n_rows, 0);
    return rc;
}

static void test_bom_crlf_blank_lines_no_final_newline(void **state)
{
    (void)state;
    const char s[] = "\xEF\xBB\xBF正\t好吃\r\n\r\n  \n负\t难吃\tand a tab\n\n负\t最后一行";
    tsv_data d = parse_ok(s, sizeof s - 1);
    assert_int_equal(d.n_rows, 3);
    assert_string_equal(d.rows[0].label, "正");
    assert_string_equal(d.rows[0].text, "好吃");
    assert_int_equal(d.rows[0].line, 1);
    assert_string_equal(d.rows[1].label, "负");
    assert_string_equal(d.rows[1].text, "难吃\tand a tab");
    assert_int_equal(d.rows[1].line, 4);
    assert_string_equal(d.rows[2].text, "最后一行");
    assert_int_equal(d.rows[2].line, 6);
    tsv_free(&d);
}

static void test_empty_input(void **state)
{
    (void)state;
    tsv_data d = parse_ok("", 0);
    assert_int_equal(d.n_rows, 0);
    tsv_free(&d);
    d = parse_ok("\xEF\xBB\xBF\n\r\n", 6);
    assert_int_equal(d.n_rows, 0);
    tsv_free(&d);
}

static void test_errors_name_the_line(void **state)
{
    (void)state;
    pt_err e;
    assert_int_equal(parse_err("a\tb\nno tab here\n", 16, &e), PT_EFORMAT);
    assert_int_equal(e.line, 2);
    assert_string_equal(e.msg, "line 2: expected label<TAB>text, found no tab");

    assert_int_equal(parse_err("a\tb\n\n\tx\n", 8, &e), PT_EFORMAT);
    assert_string_equal(e.msg, "line 3: empty label (expected label<TAB>text)");

    assert_int_equal(parse_err("a\t\r\n", 4, &e), PT_EFORMAT);
    assert_string_equal(e.msg, "line 1: empty text (expected label<TAB>text)");

    const char bad[] = "a\tok\nb\tx\xC3\x28y\n";
    assert_int_equal(parse_err(bad, sizeof bad - 1, &e), PT_EFORMAT);
    assert_int_equal(e.line, 2);
    assert_int_equal(e.offset, 8);
    assert_non_null(strstr(e.msg, "line 2: invalid UTF-8 at byte offset 8 ("));

    /* Overlong encoding of '/' and a UTF-16 surrogate are not UTF-8. */
    assert_int_equal(parse_err("a\t\xC0\xAF", 4, &e), PT_EFORMAT);
    assert_int_equal(e.offset, 2);
    assert_int_equal(parse_err("a\t\xED\xA0\x80", 5, &e), PT_EFORMAT);
    /* Truncated sequence at the end of input. */
    assert_int_equal(parse_err("a\t\xE5\xA5", 4, &e), PT_EFORMAT);

    const char nul[] = "a\tb\0c\n";
    assert_int_equal(parse_err(nul, sizeof nul - 1, &e), PT_EFORMAT);
    assert_int_equal(e.offset, 3);
    assert_non_null(strstr(e.msg, "NUL byte"));
}

/* Found by fuzz-tsv: "...\r\r\n" kept a CR in the text ("\r" alone here), against "CR/LF stripped". */
static void test_cr_inside_a_line_is_refused(void **state)
{
    (void)state;
    pt_err e;
    const char found[] = "\r\r\x03=\t\r\r\n\t\n";
    assert_int_equal(parse_err(found, sizeof found - 1, &e), PT_EFORMAT);
    assert_int_equal(e.line, 1);
    assert_int_equal(e.offset, 0);
    assert_non_null(strstr(e.msg, "line 1: carriage return (CR) inside the line at byte offset 0"));

    /* Old-Mac line ends would otherwise read as one row whose text holds the other rows. */
    const char mac[] = "pos\tgood\rneg\tbad\r";
    assert_int_equal(parse_err(mac, sizeof mac - 1, &e), PT_EFORMAT);
    assert_int_equal(e.offset, 8);

    const char later[] = "pos\tgood\r\nneg\tba\rd\r\n";
    assert_int_equal(parse_err(later, sizeof later - 1, &e), PT_EFORMAT);
    assert_int_equal(e.line, 2);
    assert_int_equal(e.offset, 16);

    /* A line of nothing but CRs and blanks is still a blank line. */
    const char blank[] = "\r\r\n \r\npos\tok\r\n";
    tsv_data d = parse_ok(blank, sizeof blank - 1);
    assert_int_equal(d.n_rows, 1);
    assert_string_equal(d.rows[0].text, "ok");
    tsv_free(&d);
}

/* A file of n rows "a<TAB>b" (n * 4 bytes). */
static char *rows_of(int n, size_t *len)
{
    *len = (size_t)n * 4;
    char *s = malloc(*len + 1);
    assert_non_null(s);
    for (int i = 0; i < n; i++)
        memcpy(s + (size_t)i * 4, "a\tb\n", 4);
    return s;
}

static void test_row_count_limit(void **state)
{
    (void)state;
    size_t len;
    char *s = rows_of(TSV_MAX_ROWS + 1, &len);
    pt_err e;
    assert_int_equal(parse_err(s, len, &e), PT_ELIMIT);
    assert_int_equal(e.line, TSV_MAX_ROWS + 1);
    assert_non_null(strstr(e.msg, "more than the limit of 1000000 rows"));
    tsv_data d = parse_ok(s, len - 4);
    assert_int_equal(d.n_rows, TSV_MAX_ROWS);
    tsv_free(&d);
    /* Blank lines are not rows. */
    memset(s, '\n', len);
    memcpy(s + len - 4, "a\tb\n", 4);
    d = parse_ok(s, len);
    assert_int_equal(d.n_rows, 1);
    assert_int_equal(d.rows[0].line, (long)len - 3);
    tsv_free(&d);
    free(s);
}

/* "a<TAB>b" then a row of n bytes ("x<TAB>yyy...") ending in CRLF. */
static char *long_row(size_t n, size_t *len)
{
    *len = 4 + n + 2;
    char *s = malloc(*len);
    assert_non_null(s);
    memcpy(s, "a\tb\n", 4);
    memcpy(s + 4, "x\t", 2);
    memset(s + 6, 'y', n - 2);
    memcpy(s + 4 + n, "\r\n", 2);
    return s;
}

static void test_row_length_limit(void **state)
{
    (void)state;
    size_t len;
    char *s = long_row(TSV_MAX_LINE, &len);
    tsv_data d = parse_ok(s, len);
    assert_int_equal(d.n_rows, 2);
    assert_int_equal(strlen(d.rows[1].text), TSV_MAX_LINE - 2);
    tsv_free(&d);
    free(s);
    s = long_row(TSV_MAX_LINE + 1, &len);
    pt_err e;
    assert_int_equal(parse_err(s, len, &e), PT_ELIMIT);
    assert_int_equal(e.line, 2);
    assert_string_equal(e.msg, "line 2: 65537 bytes, more than the limit of 65536 bytes per row");
    free(s);
}

static void test_load_prefixes_path(void **state)
{
    (void)state;
    const char *tmp = getenv("PTUNE_TMP");
    char path[4096];
    snprintf(path, sizeof path, "%s/test-tsv-%d.tsv", tmp ? tmp : "/tmp", (int)getpid());
    FILE *f = fopen(path, "wb");
    assert_non_null(f);
    fputs("x\ty\nbroken\n", f);
    fclose(f);
    tsv_data d;
    pt_err e;
    pt_err_clear(&e);
    assert_int_equal(tsv_load(&d, path, &e), PT_EFORMAT);
    char want[4200];
    snprintf(want, sizeof want, "%s: line 2: expected label<TAB>text, found no tab", path);
    assert_string_equal(e.msg, want);
    assert_int_equal(e.line, 2);
    remove(path);
    assert_int_equal(tsv_load(&d, path, &e), PT_EIO);
    assert_non_null(strstr(e.msg, "No such file"));
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_bom_crlf_blank_lines_no_final_newline),
        cmocka_unit_test(test_empty_input),
        cmocka_unit_test(test_errors_name_the_line),
        cmocka_unit_test(test_cr_inside_a_line_is_refused),
        cmocka_unit_test(test_row_count_limit),
        cmocka_unit_test(test_row_length_limit),
        cmocka_unit_test(test_load_prefixes_path),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
