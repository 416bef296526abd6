/* Unit tests for core/vocab: HF load_vocab semantics, the hash table, and every error. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "vocab.h"

static vocab *parse_ok(const char *buf, size_t len)
{
    vocab *v = NULL;
    pt_err e;
    int rc = vocab_parse(&v, buf, len, &e);
    if (rc)
        print_error("vocab_parse: %s\n", e.msg);
    assert_int_equal(rc, 0);
    assert_non_null(v);
    return v;
}

static int32_t id_of(const vocab *v, const char *tok)
{
    return vocab_id(v, tok, strlen(tok));
}

static void test_ids_are_line_indices(void **state)
{
    (void)state;
    const char buf[] = "[PAD]\n[UNK]\nhello\n##lo\n";
    vocab *v = parse_ok(buf, sizeof buf - 1);
    assert_int_equal(vocab_size(v), 4);
    assert_int_equal(id_of(v, "[PAD]"), 0);
    assert_int_equal(id_of(v, "[UNK]"), 1);
    assert_int_equal(id_of(v, "hello"), 2);
    assert_int_equal(id_of(v, "##lo"), 3);
    assert_int_equal(id_of(v, "hell"), -1);
    assert_int_equal(id_of(v, "hello\n"), -1);
    assert_int_equal(vocab_id(v, "hello", 4), -1);
    assert_string_equal(vocab_token(v, 2), "hello");
    assert_null(vocab_token(v, 4));
    assert_null(vocab_token(v, -1));
    assert_int_equal(vocab_max_len(v), 5);
    vocab_free(v);
}

static void test_duplicate_keeps_last_id(void **state)
{
    (void)state;
    const char buf[] = "a\nb\na\nc\na";
    vocab *v = parse_ok(buf, sizeof buf - 1);
    assert_int_equal(vocab_size(v), 5);
    assert_int_equal(id_of(v, "a"), 4);
    assert_int_equal(id_of(v, "b"), 1);
    assert_string_equal(vocab_token(v, 0), "a");
    assert_string_equal(vocab_token(v, 2), "a");
    vocab_free(v);
}

/* Python's text mode ends lines at \n, \r\n and \r; only "\n" is then stripped, and it is the only
 * line end left. Spaces and tabs stay part of the token. */
static void test_universal_newlines_and_empty_lines(void **state)
{
    (void)state;
    const char buf[] = "a\r\nb\rc\n\n d\t\n\r\ne";
    vocab *v = parse_ok(buf, sizeof buf - 1);
    assert_int_equal(vocab_size(v), 7);
    assert_int_equal(id_of(v, "a"), 0);
    assert_int_equal(id_of(v, "b"), 1);
    assert_int_equal(id_of(v, "c"), 2);
    assert_int_equal(id_of(v, ""), 5); /* lines 4 and 6 are empty: the later wins */
    assert_int_equal(id_of(v, " d\t"), 4);
    assert_int_equal(id_of(v, "e"), 6);
    assert_int_equal(id_of(v, "a\r"), -1);
    vocab_free(v);
}

static void test_nul_bytes_are_token_bytes(void **state)
{
    (void)state;
    const char buf[] = "x\ny\0z\n";
    vocab *v = parse_ok(buf, sizeof buf - 1);
    assert_int_equal(vocab_size(v), 2);
    assert_int_equal(vocab_id(v, "y\0z", 3), 1);
    assert_int_equal(vocab_id(v, "y", 1), -1);
    vocab_free(v);
}

static void test_empty_is_an_error(void **state)
{
    (void)state;
    vocab *v = (vocab *)1;
    pt_err e;
    assert_int_equal(vocab_parse(&v, "", 0, &e), PT_EFORMAT);
    assert_null(v);
    assert_non_null(strstr(e.msg, "empty vocabulary"));
}

static void test_invalid_utf8_names_line_and_byte(void **state)
{
    (void)state;
    vocab *v = NULL;
    pt_err e;
    const char buf[] = "ok\n\xe4\xb8\xad\nbad\xc0\xaf\n";
    assert_int_equal(vocab_parse(&v, buf, sizeof buf - 1, &e), PT_EFORMAT);
    assert_null(v);
    assert_int_equal(e.line, 3);
    assert_int_equal(e.offset, 10);
    assert_string_equal(e.msg, "line 3: invalid UTF-8 at byte 10: overlong encoding");
}

static void test_load_errors_name_the_file(void **state)
{
    (void)state;
    vocab *v = NULL;
    pt_err e;
    assert_int_equal(vocab_load(&v, "/nonexistent/vocab.txt", &e), PT_EIO);
    assert_null(v);
    assert_string_equal(e.msg, "/nonexistent/vocab.txt: cannot open: No such file or directory");

    const char *tmp = getenv("PTUNE_TMP");
    char path[4096];
    snprintf(path, sizeof path, "%s/test-vocab-empty.txt", tmp ? tmp : "/tmp");
    FILE *f = fopen(path, "wb");
    assert_non_null(f);
    fclose(f);
    assert_int_equal(vocab_load(&v, path, &e), PT_EFORMAT);
    assert_non_null(strstr(e.msg, path));
    assert_non_null(strstr(e.msg, "empty vocabulary"));
    remove(path);
}

/* Many tokens with similar bytes: every one found at its own id, absent ones not found. */
static void test_hash_table_under_load(void **state)
{
    (void)state;
    enum { N = 50000 };
    char *buf = malloc(N * 12);
    assert_non_null(buf);
    size_t len = 0;
    for (int i = 0; i < N; i++)
        len += (size_t)sprintf(buf + len, "t%d\n", i);
    vocab *v = parse_ok(buf, len);
    assert_int_equal(vocab_size(v), N);
    char tok[32];
    for (int i = 0; i < N; i++) {
        int n = sprintf(tok, "t%d", i);
        assert_int_equal(vocab_id(v, tok, (size_t)n), i);
        n = sprintf(tok, "u%d", i);
        assert_int_equal(vocab_id(v, tok, (size_t)n), -1);
    }
    vocab_free(v);
    free(buf);
}

static void test_fixture_vocab(void **state)
{
    (void)state;
    const char *src = getenv("PTUNE_SRC");
    char path[4096];
    snprintf(path, sizeof path, "%s/tests/fixtures/tokenizer/vocab.txt", src ? src : ".");
    vocab *v = NULL;
    pt_err e;
    assert_int_equal(vocab_load(&v, path, &e), 0);
    assert_int_equal(vocab_size(v), 142);
    assert_int_equal(id_of(v, "[UNK]"), 1);
    assert_int_equal(id_of(v, "hello"), 141); /* listed twice, lines 78 and 142 */
    assert_string_equal(vocab_token(v, 77), "hello");
    assert_int_equal(id_of(v, "\xf0\x9f\x98\x80"), 133); /* U+1F600 */
    vocab_free(v);
}

static void test_real_vocab(void **state)
{
    (void)state;
    const char *shared = getenv("PTUNE_SHARED");
    char path[4096];
    snprintf(path, sizeof path, "%s/vocab/bert-base-chinese-vocab.txt", shared ? shared : "");
    FILE *f = shared ? fopen(path, "rb") : NULL;
    if (!f) {
        print_message("skipped: %s not found (PTUNE_SHARED unset or without vocab/)\n", path);
        skip();
    }
    fclose(f);
    vocab *v = NULL;
    pt_err e;
    assert_int_equal(vocab_load(&v, path, &e), 0);
    assert_int_equal(vocab_size(v), 21128);
    assert_int_equal(id_of(v, "[PAD]"), 0);
    assert_int_equal(id_of(v, "[UNK]"), 100);
    assert_int_equal(id_of(v, "[CLS]"), 101);
    assert_int_equal(id_of(v, "[SEP]"), 102);
    assert_int_equal(id_of(v, "[MASK]"), 103);
    assert_int_equal(id_of(v, "\xe7\x9a\x84"), 4638); /* 的 */
    assert_int_equal(id_of(v, "##s"), 8118);
    assert_int_equal(vocab_max_len(v), 45);
    for (int32_t id = 0; id < vocab_size(v); id++) /* no duplicates in this file */
        assert_int_equal(id_of(v, vocab_token(v, id)), id);
    vocab_free(v);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_ids_are_line_indices),
        cmocka_unit_test(test_duplicate_keeps_last_id),
        cmocka_unit_test(test_universal_newlines_and_empty_lines),
        cmocka_unit_test(test_nul_bytes_are_token_bytes),
        cmocka_unit_test(test_empty_is_an_error),
        cmocka_unit_test(test_invalid_utf8_names_line_and_byte),
        cmocka_unit_test(test_load_errors_name_the_file),
        cmocka_unit_test(test_hash_table_under_load),
        cmocka_unit_test(test_fixture_vocab),
        cmocka_unit_test(test_real_vocab),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
