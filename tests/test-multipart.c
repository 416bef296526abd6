/* Unit tests for server/multipart: what curl -F sends, and every malformed body. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>
#include <stdio.h>
#include <string.h>

#include "multipart.h"

#define B "------------------------d74496d66958873e"

static const char curl_body[] = "--" B "\r\n"
                                "Content-Disposition: form-data; name=\"file\"; filename=\"train.tsv\"\r\n"
                                "Content-Type: application/octet-stream\r\n"
                                "\r\n"
                                "正\t好\r\n负\t差\n"
                                "\r\n--" B "\r\n"
                                "Content-Disposition: form-data; name=\"name\"\r\n"
                                "\r\n"
                                "reviews"
                                "\r\n--" B "--\r\n";

static void test_boundary(void **state)
{
    (void)state;
    char b[80];
    pt_err e;
    pt_err_clear(&e);
    assert_int_equal(multipart_boundary("multipart/form-data; boundary=" B, b, sizeof b, &e), 0);
    assert_string_equal(b, B);
    assert_int_equal(multipart_boundary("multipart/form-data; charset=x; boundary=\"a b\"", b, sizeof b, &e), 0);
    assert_string_equal(b, "a b");
    assert_int_equal(multipart_boundary("multipart/form-data", b, sizeof b, &e), PT_EFORMAT);
    assert_non_null(strstr(e.msg, "boundary"));
    assert_int_equal(multipart_boundary("multipart/form-data; boundary=", b, sizeof b, &e), PT_EFORMAT);
    assert_int_equal(multipart_boundary("multipart/form-data; boundary=\"abc", b, sizeof b, &e), PT_EFORMAT);
}

static void test_parses_curl_upload(void **state)
{
    (void)state;
    multipart m;
    pt_err e;
    pt_err_clear(&e);
    assert_int_equal(multipart_parse(&m, curl_body, sizeof curl_body - 1, B, &e), 0);
    assert_int_equal(m.n, 2);
    const multipart_part *f = multipart_find(&m, "file");
    assert_non_null(f);
    assert_string_equal(f->filename, "train.tsv");
    assert_string_equal(f->content_type, "application/octet-stream");
    assert_int_equal(f->len, strlen("正\t好\r\n负\t差\n"));
    assert_memory_equal(f->data, "正\t好\r\n负\t差\n", f->len);
    const multipart_part *n = multipart_find(&m, "name");
    assert_non_null(n);
    assert_string_equal(n->filename, "");
    assert_int_equal(n->len, 7);
    assert_memory_equal(n->data, "reviews", 7);
    assert_null(multipart_find(&m, "other"));

    /* A preamble before the first delimiter and an epilogue after the last are ignored. */
    char with_preamble[1024];
    snprintf(with_preamble, sizeof with_preamble, "preamble\r\n%sepilogue", curl_body);
    assert_int_equal(multipart_parse(&m, with_preamble, strlen(with_preamble), B, &e), 0);
    assert_int_equal(m.n, 2);
}

static void expect_bad(const char *body, const char *what)
{
    multipart m;
    pt_err e;
    pt_err_clear(&e);
    assert_int_equal(multipart_parse(&m, body, strlen(body), "XX", &e), PT_EFORMAT);
    if (!strstr(e.msg, what))
        fail_msg("expected '%s' in: %s", what, e.msg);
    assert_true(e.offset >= 0);
}

static void test_malformed(void **state)
{
    (void)state;
    expect_bad("no delimiter at all", "no opening boundary");
    expect_bad("--XX\r\nContent-Disposition: form-data; name=\"f\"\r\n\r\ndata without end", "not closed");
    expect_bad("--XX\r\nContent-Disposition: form-data; name=\"f\"\r\ndata", "not terminated by an empty line");
    expect_bad("--XX\r\nContent-Type: text/plain\r\n\r\nx\r\n--XX--", "without a Content-Disposition");
    expect_bad("--XX\r\nContent-Disposition: attachment; name=\"f\"\r\n\r\nx\r\n--XX--", "must be form-data");
    expect_bad("--XX\r\nContent-Disposition: form-data\r\n\r\nx\r\n--XX--", "valid name");
    expect_bad("--XX\r\nContent-Disposition: form-data; name=\"f\r\n\r\nx\r\n--XX--", "valid name");
    expect_bad("--XX\r\nbroken header\r\n\r\nx\r\n--XX--", "without ':'");
    expect_bad("--XXjunk", "expected CRLF");
    char many[4096] = "";
    for (int i = 0; i <= MULTIPART_MAX_PARTS; i++)
        strcat(many, "--XX\r\nContent-Disposition: form-data; name=\"f\"\r\n\r\nx\r\n");
    strcat(many, "--XX--");
    expect_bad(many, "too many parts");
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_boundary),
        cmocka_unit_test(test_parses_curl_upload),
        cmocka_unit_test(test_malformed),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
