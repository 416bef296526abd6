/* Unit tests for core/tokenizer, and the acceptance: the same ids as the Python reference
 * (tests/reference/bert_tokenizer_ref.py, FullTokenizer) on the tricky strings and on every text of
 * the shared data sets, with the real bert-base-chinese vocabulary, lower-casing on and off. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>
#include <dirent.h>
#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "tokenizer.h"

/* Ids are checked through their token text, so that expectations read as tokens. */
static const char VOCAB[] =
    "[PAD]\n[UNK]\n[CLS]\n[SEP]\n[MASK]\n"
    "hello\nworld\n,\n!\n.\n[\n]\nmask\n"
    "un\n##aff\n##able\nrunn\n##ing\na\n##a\n"
    "cafe\ncaf\xc3\xa9\nCaf\xc3\xa9\n"                                  /* café Café (U+00E9) */
    "\xe4\xbd\xa0\n\xe5\xa5\xbd\n\xe4\xb8\xad\n\xe6\x96\x87\nab\n"      /* 你 好 中 文 */
    "istanbul\n\xcf\x83\xce\xb1\xcf\x82\n"                              /* σας */
    "\xce\xbf\xce\xb4\xce\xbf\xcf\x82\n\xce\xbf\xce\xb4\xce\xbf\xcf\x83\n" /* οδος οδοσ */
    "\xcf\x83\n\xce\xb1\n"                                              /* σ α */
    "\xe1\x84\x92\n##\xe1\x85\xa1\n##\xe1\x86\xab\n"                    /* ᄒ ##ᅡ ##ᆫ */
    "##\xe1\x84\x80\n##\xe1\x85\xb3\n##\xe1\x86\xaf\n"                  /* ##ᄀ ##ᅳ ##ᆯ */
    "\xed\x95\x9c\n##\xea\xb8\x80\n"                                    /* 한 ##글 */
    "\xef\xbd\x81\xef\xbd\x82\xef\xbd\x83\n"                            /* ａｂｃ */
    "x\xf0\x9d\x85\xa5\xf0\x9d\x85\xad\n";                              /* x U+1D165 U+1D16D */

typedef struct {
    vocab *v;
    tokenizer lower, cased;
} fixture;

static int setup(void **state)
{
    fixture *f = calloc(1, sizeof *f);
    pt_err e;
    if (!f || vocab_parse(&f->v, VOCAB, sizeof VOCAB - 1, &e) || tokenizer_init(&f->lower, f->v, true, &e) ||
        tokenizer_init(&f->cased, f->v, false, &e))
        return -1;
    *state = f;
    return 0;
}

static int teardown(void **state)
{
    fixture *f = *state;
    vocab_free(f->v);
    free(f);
    return 0;
}

/* Tokenizes len bytes and compares the tokens, joined by single spaces, with expected. */
static void expect_n(const tokenizer *t, const char *text, size_t len, const char *expected)
{
    int32_t *ids = NULL;
    size_t n = 99;
    pt_err e;
    int rc = tokenizer_encode(t, text, len, &ids, &n, &e);
    if (rc)
        print_error("tokenizer_encode: %s\n", e.msg);
    assert_int_equal(rc, 0);
    assert_non_null(ids);
    char got[4096] = "";
    size_t used = 0;
    for (size_t i = 0; i < n; i++)
        used += (size_t)snprintf(got + used, sizeof got - used, "%s%s", i ? " " : "", vocab_token(t->v, ids[i]));
    free(ids);
    assert_string_equal(got, expected);
}

static void expect(const tokenizer *t, const char *text, const char *expected)
{
    expect_n(t, text, strlen(text), expected);
}

static void test_punctuation_split(void **state)
{
    fixture *f = *state;
    expect(&f->lower, "Hello, world!", "hello , world !");
    expect(&f->lower, "hello...world", "hello . . . world");
    expect(&f->cased, "hello,world", "hello , world");
    expect(&f->cased, "Hello", "[UNK]");
}

static void test_cjk_spacing(void **state)
{
    fixture *f = *state;
    expect(&f->lower, "\xe4\xbd\xa0\xe5\xa5\xbd" "ab\xe4\xb8\xad\xe6\x96\x87", "\xe4\xbd\xa0 \xe5\xa5\xbd ab \xe4\xb8\xad \xe6\x96\x87");
    expect(&f->cased, "ab\xe4\xbd\xa0", "ab \xe4\xbd\xa0");
}

static void test_accents_stripped_only_when_lower_casing(void **state)
{
    fixture *f = *state;
    expect(&f->lower, "Caf\xc3\xa9", "cafe");
    expect(&f->lower, "CAF\xc3\x89", "cafe");
    expect(&f->lower, "cafe\xcc\x81", "cafe"); /* e + U+0301 */
    expect(&f->cased, "Caf\xc3\xa9", "Caf\xc3\xa9");
    expect(&f->cased, "caf\xc3\xa9", "caf\xc3\xa9");
    expect(&f->cased, "cafe\xcc\x81", "[UNK]");
}

static void test_unknown_and_long_words(void **state)
{
    fixture *f = *state;
    expect(&f->lower, "xyz", "[UNK]");
    expect(&f->lower, "hello xyz world", "hello [UNK] world");
    expect(&f->lower, "helloxyz", "[UNK]"); /* the whole word, not its known prefix */
    char text[512], want[1024];
    memset(text, 'a', 100);
    size_t used = (size_t)sprintf(want, "a");
    for (int i = 1; i < 100; i++)
        used += (size_t)sprintf(want + used, " ##a");
    expect_n(&f->lower, text, 100, want);
    memset(text, 'a', 101);
    expect_n(&f->lower, text, 101, "[UNK]");
    /* The limit counts the word after normalization: 100 letters + U+0301 is 100 characters when
     * lower-casing strips the accent, 101 when it does not. */
    memcpy(text + 100, "\xcc\x81", 2);
    expect_n(&f->lower, text, 102, want);
    expect_n(&f->cased, text, 102, "[UNK]");
}

static void test_control_characters_and_whitespace(void **state)
{
    fixture *f = *state;
    expect(&f->lower, "hel\x01lo", "hello");               /* Cc dropped, word joined */
    expect(&f->lower, "hel\xe2\x80\x8blo", "hello");       /* U+200B (Cf) */
    expect(&f->lower, "hel\xef\xbf\xbdlo", "hello");       /* U+FFFD */
    expect(&f->lower, "hello\x0bworld", "[UNK]");          /* VT is Cc: dropped, not a space */
}

static void test_whitespace_kinds(void **state)
{
    fixture *f = *state;
    expect(&f->lower, " hello\tworld\r\n", "hello world");
    expect(&f->lower, "hello\xc2\xa0world", "hello world");     /* U+00A0 (Zs) */
    expect(&f->lower, "hello\xe3\x80\x80world", "hello world"); /* U+3000 (Zs) */
    expect(&f->lower, "hello\xe2\x80\xa8world", "hello world"); /* U+2028: kept by cleaning, split by str.split */
    expect(&f->lower, "hello\xc2\x85world", "[UNK]");           /* U+0085 is Cc: dropped before splitting */
}

static void test_nul_is_dropped(void **state)
{
    fixture *f = *state;
    expect_n(&f->lower, "hel\0lo", 6, "hello");
    expect_n(&f->lower, "\0", 1, "");
}

static void expect_bad_utf8(const tokenizer *t, const char *text, size_t len, long offset, const char *msg)
{
    int32_t *ids = (int32_t *)1;
    size_t n = 7;
    pt_err e;
    assert_int_equal(tokenizer_encode(t, text, len, &ids, &n, &e), PT_EFORMAT);
    assert_null(ids);
    assert_int_equal(n, 0);
    assert_int_equal(e.offset, offset);
    assert_string_equal(e.msg, msg);
}

static void test_invalid_utf8_offsets(void **state)
{
    fixture *f = *state;
    const tokenizer *t = &f->lower;
    expect_bad_utf8(t, "ab\x80", 3, 2, "invalid UTF-8 at byte 2: unexpected continuation byte");
    expect_bad_utf8(t, "\xff", 1, 0, "invalid UTF-8 at byte 0: byte cannot start a character");
    expect_bad_utf8(t, "abc\xe4\xb8", 5, 3, "invalid UTF-8 at byte 3: truncated sequence");
    expect_bad_utf8(t, "\xe4\xb8" "a", 3, 0, "invalid UTF-8 at byte 0: truncated sequence");
    expect_bad_utf8(t, "a\xc0\xaf", 3, 1, "invalid UTF-8 at byte 1: overlong encoding");
    expect_bad_utf8(t, "a\xe0\x80\xaf", 4, 1, "invalid UTF-8 at byte 1: overlong encoding");
    expect_bad_utf8(t, "a\xf0\x80\x80\xaf", 5, 1, "invalid UTF-8 at byte 1: overlong encoding");
    expect_bad_utf8(t, "xx\xed\xa0\x80", 5, 2, "invalid UTF-8 at byte 2: UTF-16 surrogate");
    expect_bad_utf8(t, "\xe4\xb8\xad\xf4\x90\x80\x80", 7, 3, "invalid UTF-8 at byte 3: code point above U+10FFFF");
    expect_bad_utf8(t, "\xf5\x80\x80\x80", 4, 0, "invalid UTF-8 at byte 0: code point above U+10FFFF");
    /* The largest code point and the last one before the surrogates are valid UTF-8 (and then
     * dropped: both are unassigned, category Cn). */
    expect_n(t, "\xf4\x8f\xbf\xbf\xed\x9f\xbf", 7, "");
}

static void test_wordpiece_continuation(void **state)
{
    fixture *f = *state;
    expect(&f->lower, "unaffable", "un ##aff ##able");
    expect(&f->lower, "Running", "runn ##ing");
    expect(&f->lower, "aaa", "a ##a ##a");
    expect(&f->lower, "unaffablex", "[UNK]");
}

static void test_mask_literal_is_not_special(void **state)
{
    fixture *f = *state;
    expect(&f->lower, "[MASK]", "[ mask ]");
    expect(&f->cased, "[MASK]", "[ [UNK] ]");
}

static void test_python_casing(void **state)
{
    fixture *f = *state;
    expect(&f->lower, "\xc4\xb0stanbul", "istanbul");                 /* İ -> i + U+0307, then stripped */
    expect(&f->lower, "\xce\xa3\xce\x91\xce\xa3", "\xcf\x83\xce\xb1\xcf\x82"); /* ΣΑΣ -> σας */
    expect(&f->lower, "\xce\x9f\xce\x94\xce\x9f\xce\xa3.", "\xce\xbf\xce\xb4\xce\xbf\xcf\x82 ."); /* final: '.' is case-ignorable */
    expect(&f->lower, "\xce\x9f\xce\x94\xce\x9f\xce\xa3.\xce\x91", "\xce\xbf\xce\xb4\xce\xbf\xcf\x83 . \xce\xb1"); /* not final */
    expect(&f->lower, "\xce\xa3", "\xcf\x83"); /* nothing cased before it */
}

static void test_hangul(void **state)
{
    fixture *f = *state;
    expect(&f->lower, "\xed\x95\x9c\xea\xb8\x80", /* 한글 decomposes to jamo */
           "\xe1\x84\x92 ##\xe1\x85\xa1 ##\xe1\x86\xab ##\xe1\x84\x80 ##\xe1\x85\xb3 ##\xe1\x86\xaf");
    expect(&f->cased, "\xed\x95\x9c\xea\xb8\x80", "\xed\x95\x9c ##\xea\xb8\x80");
}

static void test_full_width(void **state)
{
    fixture *f = *state;
    expect(&f->lower, "\xef\xbc\xa1\xef\xbc\xa2\xef\xbc\xa3", "\xef\xbd\x81\xef\xbd\x82\xef\xbd\x83"); /* ＡＢＣ */
    expect(&f->cased, "\xef\xbc\xa1\xef\xbc\xa2\xef\xbc\xa3", "[UNK]");
}

/* U+1D16D (ccc 226) before U+1D165 (ccc 216): NFD swaps them; both are Mc, so both stay. */
static void test_canonical_ordering(void **state)
{
    fixture *f = *state;
    expect(&f->lower, "x\xf0\x9d\x85\xad\xf0\x9d\x85\xa5", "x\xf0\x9d\x85\xa5\xf0\x9d\x85\xad");
    expect(&f->cased, "x\xf0\x9d\x85\xad\xf0\x9d\x85\xa5", "[UNK]");
}

static void test_empty_input(void **state)
{
    fixture *f = *state;
    expect_n(&f->lower, "", 0, "");
    expect(&f->lower, " \t\r\n\xe3\x80\x80", "");
    expect(&f->lower, "\xcc\x81", ""); /* a lone combining mark vanishes */
}

static void test_init_needs_unk(void **state)
{
    (void)state;
    vocab *v = NULL;
    tokenizer t;
    pt_err e;
    assert_int_equal(vocab_parse(&v, "[PAD]\nhello\n", 12, &e), 0);
    assert_int_equal(tokenizer_init(&t, v, true, &e), PT_EFORMAT);
    assert_string_equal(e.msg, "the vocabulary has no [UNK] token");
    vocab_free(v);
}

static void test_special_ids(void **state)
{
    fixture *f = *state;
    assert_int_equal(f->lower.pad_id, 0);
    assert_int_equal(f->lower.unk_id, 1);
    assert_int_equal(f->lower.cls_id, 2);
    assert_int_equal(f->lower.sep_id, 3);
    assert_int_equal(f->lower.mask_id, 4);
    assert_true(f->lower.do_lower_case);
    assert_false(f->cased.do_lower_case);
}

static const char *tmp_dir(void)
{
    const char *tmp = getenv("PTUNE_TMP");
    return tmp && *tmp ? tmp : "/tmp";
}

static int read_config_text(const char *json, bool *lower, pt_err *e)
{
    char path[4096];
    snprintf(path, sizeof path, "%s/test-tokenizer-%ld.json", tmp_dir(), (long)getpid());
    FILE *fp = fopen(path, "wb");
    assert_non_null(fp);
    fputs(json, fp);
    fclose(fp);
    int rc = tokenizer_read_config(path, lower, e);
    remove(path);
    return rc;
}

static void test_read_config(void **state)
{
    (void)state;
    bool lower = false;
    pt_err e;
    assert_int_equal(tokenizer_read_config("/nonexistent/tokenizer_config.json", &lower, &e), 0);
    assert_true(lower);
    assert_int_equal(read_config_text("{\"do_lower_case\": false, \"model_max_length\": 512}", &lower, &e), 0);
    assert_false(lower);
    assert_int_equal(read_config_text("{\"do_lower_case\": true}", &lower, &e), 0);
    assert_true(lower);
    lower = false;
    assert_int_equal(read_config_text("{\"tokenize_chinese_chars\": true}", &lower, &e), 0);
    assert_true(lower);

    assert_int_equal(read_config_text("{\"do_lower_case\": \"false\"}", &lower, &e), PT_EFORMAT);
    assert_string_equal(e.field, "do_lower_case");
    assert_non_null(strstr(e.msg, "do_lower_case must be true or false, found a string"));
    assert_int_equal(read_config_text("{\"do_lower_case\": 0}", &lower, &e), PT_EFORMAT);
    assert_non_null(strstr(e.msg, "found a number"));
    assert_int_equal(read_config_text("[true]", &lower, &e), PT_EFORMAT);
    assert_non_null(strstr(e.msg, "expected a JSON object, found an array"));
    assert_int_equal(read_config_text("{\n\"do_lower_case\": tru\n}", &lower, &e), PT_EFORMAT);
    assert_int_equal(e.line, 2);
    assert_non_null(strstr(e.msg, "line 2"));
    assert_non_null(strstr(e.msg, "invalid JSON"));
}

/* --- acceptance against the Python reference ------------------------------------------------- */

static const char *src_dir(void)
{
    const char *src = getenv("PTUNE_SRC");
    return src && *src ? src : ".";
}

static bool have_python(void)
{
    return system("python3 -c 'import unicodedata' >/dev/null 2>&1") == 0;
}

/* Runs the reference on a JSON-lines file of strings and compares its ids with tokenizer_encode's,
 * string by string. Returns how many strings were compared. */
static size_t compare_with_reference(const char *vocab_path, bool lower, const char *inputs)
{
    char out[4096], cmd[16384];
    snprintf(out, sizeof out, "%s/test-tokenizer-ref-%ld.jsonl", tmp_dir(), (long)getpid());
    assert_null(strchr(vocab_path, '\''));
    assert_null(strchr(inputs, '\''));
    snprintf(cmd, sizeof cmd, "python3 '%s/tests/reference/bert_tokenizer_ref.py' --vocab '%s' %s --jsonl < '%s' > '%s'",
             src_dir(), vocab_path, lower ? "" : "--no-lower-case", inputs, out);
    assert_int_equal(system(cmd), 0);

    vocab *v = NULL;
    tokenizer t;
    pt_err e;
    assert_int_equal(vocab_load(&v, vocab_path, &e), 0);
    assert_int_equal(tokenizer_init(&t, v, lower, &e), 0);
    FILE *fin = fopen(inputs, "rb"), *fref = fopen(out, "rb");
    assert_non_null(fin);
    assert_non_null(fref);
    char *in_line = NULL, *ref_line = NULL;
    size_t in_cap = 0, ref_cap = 0, compared = 0, mismatches = 0;
    ssize_t in_len;
    while ((in_len = getline(&in_line, &in_cap, fin)) >= 0) {
        assert_true(getline(&ref_line, &ref_cap, fref) >= 0);
        json_error_t je;
        json_t *text = json_loadb(in_line, (size_t)in_len, JSON_DECODE_ANY | JSON_ALLOW_NUL, &je);
        json_t *want = json_loads(ref_line, 0, &je);
        assert_true(json_is_string(text));
        assert_true(json_is_array(want));
        int32_t *ids;
        size_t n;
        assert_int_equal(tokenizer_encode(&t, json_string_value(text), json_string_length(text), &ids, &n, &e), 0);
        bool same = n == json_array_size(want);
        for (size_t i = 0; same && i < n; i++)
            same = ids[i] == json_integer_value(json_array_get(want, i));
        if (!same && mismatches++ < 5) {
            print_error("mismatch (%s, lower=%d) on input line %zu: %s", vocab_path, lower, compared + 1, in_line);
            print_error("  reference: %s", ref_line);
            print_error("  ours (%zu ids):", n);
            for (size_t i = 0; i < n; i++)
                print_error(" %d", (int)ids[i]);
            print_error("\n");
        }
        free(ids);
        json_decref(text);
        json_decref(want);
        compared++;
    }
    assert_true(getline(&ref_line, &ref_cap, fref) < 0);
    free(in_line);
    free(ref_line);
    fclose(fin);
    fclose(fref);
    remove(out);
    vocab_free(v);
    assert_int_equal(mismatches, 0);
    return compared;
}

static const char *shared_env(void)
{
    const char *shared = getenv("PTUNE_SHARED");
    return shared && *shared ? shared : "unset";
}

static bool real_vocab(char *path, size_t size)
{
    snprintf(path, size, "%s/vocab/bert-base-chinese-vocab.txt", shared_env());
    return getenv("PTUNE_SHARED") && access(path, R_OK) == 0;
}

static void test_tricky_strings_small_vocab(void **state)
{
    (void)state;
    if (!have_python()) {
        print_message("skipped: python3 not found, the reference tokenizer cannot run\n");
        skip();
    }
    char vocab_path[4096], inputs[4096];
    snprintf(vocab_path, sizeof vocab_path, "%s/tests/fixtures/tokenizer/vocab.txt", src_dir());
    snprintf(inputs, sizeof inputs, "%s/tests/fixtures/tokenizer/tricky.jsonl", src_dir());
    size_t n = compare_with_reference(vocab_path, true, inputs);
    n += compare_with_reference(vocab_path, false, inputs);
    print_message("tricky strings, fixture vocabulary: %zu comparisons (lower-casing on and off), all equal\n", n);
    assert_true(n >= 400);
}

static void test_tricky_strings_real_vocab(void **state)
{
    (void)state;
    char vocab_path[4096], inputs[4096];
    if (!real_vocab(vocab_path, sizeof vocab_path)) {
        print_message("skipped: the real vocabulary is not there (PTUNE_SHARED=%s)\n", shared_env());
        skip();
    }
    if (!have_python()) {
        print_message("skipped: python3 not found, the reference tokenizer cannot run\n");
        skip();
    }
    snprintf(inputs, sizeof inputs, "%s/tests/fixtures/tokenizer/tricky.jsonl", src_dir());
    size_t n = compare_with_reference(vocab_path, true, inputs);
    n += compare_with_reference(vocab_path, false, inputs);
    print_message("tricky strings, bert-base-chinese vocabulary: %zu comparisons, all equal\n", n);
    assert_true(n >= 400);
}

static void write_json_string(FILE *out, const char *s, size_t len)
{
    json_t *j = json_stringn(s, len);
    assert_non_null(j);
    char *dump = json_dumps(j, JSON_ENCODE_ANY);
    fprintf(out, "%s\n", dump);
    free(dump);
    json_decref(j);
}

/* Every line of every data file, and each field of the lines with tabs, one JSON string a line. */
static size_t write_shared_texts(const char *shared, FILE *out)
{
    static const char *const sets[] = {"comment_classify", "eprstmt"};
    size_t count = 0;
    for (size_t s = 0; s < sizeof sets / sizeof sets[0]; s++) {
        char dir[4096];
        snprintf(dir, sizeof dir, "%s/data/%s", shared, sets[s]);
        struct dirent **names;
        int nfiles = scandir(dir, &names, NULL, alphasort);
        assert_true(nfiles > 2);
        for (int i = 0; i < nfiles; i++) {
            char path[8192];
            snprintf(path, sizeof path, "%s/%s", dir, names[i]->d_name);
            FILE *f = names[i]->d_name[0] == '.' ? NULL : fopen(path, "rb");
            free(names[i]);
            char *line = NULL;
            size_t cap = 0;
            ssize_t got;
            while (f && (got = getline(&line, &cap, f)) >= 0) {
                size_t len = (size_t)got - (got && line[got - 1] == '\n');
                write_json_string(out, line, len);
                count++;
                if (!memchr(line, '\t', len))
                    continue;
                for (size_t start = 0, end = 0; end <= len; end++)
                    if (end == len || line[end] == '\t') {
                        write_json_string(out, line + start, end - start);
                        count++;
                        start = end + 1;
                    }
            }
            free(line);
            if (f)
                fclose(f);
        }
        free(names);
    }
    return count;
}

static void test_shared_data_real_vocab(void **state)
{
    (void)state;
    char vocab_path[4096], inputs[4096];
    if (!real_vocab(vocab_path, sizeof vocab_path)) {
        print_message("skipped: the shared data and vocabulary are not there (PTUNE_SHARED=%s)\n",
                      shared_env());
        skip();
    }
    if (!have_python()) {
        print_message("skipped: python3 not found, the reference tokenizer cannot run\n");
        skip();
    }
    snprintf(inputs, sizeof inputs, "%s/test-tokenizer-shared-%ld.jsonl", tmp_dir(), (long)getpid());
    FILE *out = fopen(inputs, "wb");
    assert_non_null(out);
    size_t texts = write_shared_texts(shared_env(), out);
    fclose(out);
    size_t n = compare_with_reference(vocab_path, true, inputs);
    n += compare_with_reference(vocab_path, false, inputs);
    remove(inputs);
    print_message("shared data: %zu texts (every line and every field of it), %zu comparisons, all equal\n", texts, n);
    assert_int_equal(n, 2 * texts);
    assert_true(texts > 2000);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_punctuation_split),
        cmocka_unit_test(test_cjk_spacing),
        cmocka_unit_test(test_accents_stripped_only_when_lower_casing),
        cmocka_unit_test(test_unknown_and_long_words),
        cmocka_unit_test(test_control_characters_and_whitespace),
        cmocka_unit_test(test_whitespace_kinds),
        cmocka_unit_test(test_nul_is_dropped),
        cmocka_unit_test(test_invalid_utf8_offsets),
        cmocka_unit_test(test_wordpiece_continuation),
        cmocka_unit_test(test_mask_literal_is_not_special),
        cmocka_unit_test(test_python_casing),
        cmocka_unit_test(test_hangul),
        cmocka_unit_test(test_full_width),
        cmocka_unit_test(test_canonical_ordering),
        cmocka_unit_test(test_empty_input),
        cmocka_unit_test(test_init_needs_unk),
        cmocka_unit_test(test_special_ids),
        cmocka_unit_test(test_read_config),
        cmocka_unit_test(test_tricky_strings_small_vocab),
        cmocka_unit_test(test_tricky_strings_real_vocab),
        cmocka_unit_test(test_shared_data_real_vocab),
    };
    return cmocka_run_group_tests(tests, setup, teardown);
}
