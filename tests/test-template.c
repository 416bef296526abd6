/* Unit tests for core/template: the template language and its errors, the verbalizer (file and JSON),
 * row layout with truncation from the end, [PAD]-padded label words, class scores and softmax. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "template.h"

/* ids: [PAD]=0 [unused1]=1 [unused2]=2 [UNK]=3 [CLS]=4 [SEP]=5 [MASK]=6 好=7 差=8 很=9 不=10 是=11 的=12
 * 电=13 脑=14 a=15 */
static const char VOCAB[] = "[PAD]\n[unused1]\n[unused2]\n[UNK]\n[CLS]\n[SEP]\n[MASK]\n"
                            "好\n差\n很\n不\n是\n的\n电\n脑\na\n";
enum { PAD, U1, U2, UNK, CLS, SEP, MASK, HAO, CHA, HEN, BU, SHI, DE, DIAN, NAO, A, V };

typedef struct fixture {
    vocab *v;
    tokenizer tok;
    verbalizer verb; /* 正: 好 ; 负: 差, 不好 */
} fixture;

static int setup(void **state)
{
    fixture *f = calloc(1, sizeof *f);
    pt_err e;
    const char verb[] = "正\t好\n负\t差, 不好\n";
    if (!f || vocab_parse(&f->v, VOCAB, sizeof VOCAB - 1, &e) || tokenizer_init(&f->tok, f->v, true, &e) ||
        verbalizer_parse(&f->verb, verb, sizeof verb - 1, &e))
        return -1;
    *state = f;
    return 0;
}

static int teardown(void **state)
{
    fixture *f = *state;
    verbalizer_free(&f->verb);
    vocab_free(f->v);
    free(f);
    return 0;
}

static template_task *compile_ok(fixture *f, const char *src, int max_len)
{
    template_task *t;
    pt_err e;
    pt_err_clear(&e);
    if (template_compile(&t, src, &f->verb, &f->tok, max_len, &e))
        fail_msg("template_compile(%s): %s", src, e.msg);
    return t;
}

static void expect_ids(const int32_t *got, int n, const int32_t *want, int wn)
{
    assert_int_equal(n, wn);
    for (int i = 0; i < n; i++)
        if (got[i] != want[i])
            fail_msg("id %d: got %d, want %d", i, got[i], want[i]);
}

static void test_default_template_layout(void **state)
{
    fixture *f = *state;
    template_task *t = compile_ok(f, TEMPLATE_DEFAULT, 64);
    assert_int_equal(t->n_prompt, 8);
    assert_int_equal(t->n_mask, 2); /* 不好 has two tokens */
    assert_int_equal(t->n_labels, 2);
    assert_int_equal(t->n_fixed, 2 + 2 + 8);
    /* label words, [PAD]-padded to the mask count */
    const int32_t words[] = {HAO, PAD, CHA, PAD, BU, HAO};
    expect_ids(t->word_ids, 6, words, 6);
    assert_int_equal(t->word_start[0], 0);
    assert_int_equal(t->word_start[1], 1);
    assert_int_equal(t->word_start[2], 3);
    /* [unused1..2] exist, the rest of the prompt falls back to [UNK] */
    const int32_t pids[] = {U1, U2, UNK, UNK, UNK, UNK, UNK, UNK};
    expect_ids(t->prompt_ids, 8, pids, 8);

    template_row r;
    pt_err e;
    assert_int_equal(template_encode(t, "很好", strlen("很好"), &r, &e), 0);
    const int32_t ids[] = {CLS, MASK, MASK, U1, U2, UNK, UNK, UNK, UNK, UNK, UNK, HEN, HAO, SEP};
    expect_ids(r.ids, r.len, ids, 14);
    const int32_t masks[] = {1, 2}, prompts[] = {3, 4, 5, 6, 7, 8, 9, 10};
    expect_ids(r.mask_pos, 2, masks, 2);
    expect_ids(r.prompt_pos, 8, prompts, 8);
    assert_int_equal(r.truncated, 0);

    float vec[8 * 4];
    bert_row b;
    template_row_bert(t, &r, vec, &b);
    assert_ptr_equal(b.ids, r.ids);
    assert_int_equal(b.len, 14);
    assert_int_equal(b.n_prompt, 8);
    assert_ptr_equal(b.prompt_vec, vec);
    assert_int_equal(b.n_mask, 2);
    assert_ptr_equal(b.mask_pos, r.mask_pos);
    assert_null(b.type_ids);
    template_row_free(&r);
    template_free(t);
}

static void test_groups_literals_and_truncation(void **state)
{
    fixture *f = *state;
    /* literal text, three prompt groups, mask after the text; 13 = 2 + 2 + 3 + 1 ("是") + ... */
    const char *src = "{prompt:2}{text}{prompt:1}是{mask}的{prompt:1}";
    template_task *t = compile_ok(f, src, 14);
    assert_int_equal(t->n_prompt, 4);
    assert_int_equal(t->n_fixed, 2 + 4 + 2 + 2);
    template_row r;
    pt_err e;
    /* 5 text tokens, room for 14 - 10 = 4: the last one is cut */
    assert_int_equal(template_encode(t, "电脑很好差", strlen("电脑很好差"), &r, &e), 0);
    assert_int_equal(r.truncated, 1);
    const int32_t ids[] = {CLS, U1, U2, DIAN, NAO, HEN, HAO, UNK, SHI, MASK, MASK, DE, UNK, SEP};
    expect_ids(r.ids, r.len, ids, 14);
    const int32_t prompts[] = {1, 2, 7, 12}, masks[] = {9, 10};
    expect_ids(r.prompt_pos, 4, prompts, 4);
    expect_ids(r.mask_pos, 2, masks, 2);
    template_row_free(&r);
    /* an empty text still makes a row */
    assert_int_equal(template_encode(t, "", 0, &r, &e), 0);
    assert_int_equal(r.len, 10);
    template_row_free(&r);
    /* invalid UTF-8 names the byte */
    pt_err_clear(&e);
    assert_int_equal(template_encode(t, "好\xff", 4, &r, &e), PT_EFORMAT);
    assert_int_equal(e.offset, 3);
    assert_null(r.ids);
    template_free(t);
}

static void expect_template_error(fixture *f, const char *src, int max_len, const char *needle)
{
    template_task *t = (template_task *)1;
    pt_err e;
    pt_err_clear(&e);
    assert_int_equal(template_compile(&t, src, &f->verb, &f->tok, max_len, &e), PT_EINVAL);
    assert_null(t);
    if (!strstr(e.msg, needle))
        fail_msg("template %s: message '%s' lacks '%s'", src, e.msg, needle);
    assert_string_equal(e.field, "template");
}

static void test_template_errors_say_which(void **state)
{
    fixture *f = *state;
    expect_template_error(f, "{mask}{prompt:4}", 64, "no {text}");
    expect_template_error(f, "{prompt:4}{text}", 64, "no {mask}");
    expect_template_error(f, "{mask}{text}是", 64, "no prompt tokens");
    expect_template_error(f, "{mask}{prompt:4}{txt}", 64, "unknown placeholder {txt} at byte 16");
    expect_template_error(f, "{mask}{prompt:4}{text", 64, "never closed");
    expect_template_error(f, "{mask}{prompt:0}{text}", 64, "1..1024");
    expect_template_error(f, "{mask}{prompt:x}{text}", 64, "1..1024");
    expect_template_error(f, "{mask}{prompt:4}{text}{text}", 64, "{text} appears more than once");
    expect_template_error(f, "{mask}{mask}{prompt:4}{text}", 64, "{mask} appears more than once");
    /* 2 + 2 masks + 8 prompts = 12: max_seq_len 12 leaves no room */
    expect_template_error(f, TEMPLATE_DEFAULT, 12, "leaving no room for text within max_seq_len 12");
}

static void test_prompt_token_limit(void **state)
{
    fixture *f = *state;
    template_task *t = compile_ok(f, "{mask}{prompt:1000}{text}{prompt:24}", 2048);
    assert_int_equal(t->n_prompt, TEMPLATE_MAX_PROMPT);
    template_free(t);
    pt_err e;
    pt_err_clear(&e);
    assert_int_equal(template_compile(&t, "{mask}{prompt:1000}{text}{prompt:25}", &f->verb, &f->tok, 2048, &e),
                     PT_ELIMIT);
    assert_null(t);
    assert_string_equal(e.msg, "template: {prompt:25} at byte 25: more than the limit of 1024 prompt tokens in all");
    assert_string_equal(e.field, "template");
    expect_template_error(f, "{mask}{prompt:1025}{text}", 2048, "must be an integer in 1..1024");
}

/* n labels "l0", "l1", ... each with the word 好: as a file, as JSON and as plain labels. */
static void check_label_limit(int n, int want)
{
    size_t cap = (size_t)n * 16 + 1, len = 0;
    char *file = malloc(cap);
    char **names = malloc((size_t)n * sizeof *names);
    json_t *obj = json_object();
    assert_true(file && names && obj);
    for (int i = 0; i < n; i++) {
        char label[16];
        snprintf(label, sizeof label, "l%d", i);
        len += (size_t)snprintf(file + len, cap - len, "%s\t好\n", label);
        names[i] = strdup(label);
        json_object_set_new(obj, label, json_pack("[s]", "好"));
    }
    verbalizer v;
    pt_err e;
    pt_err_clear(&e);
    assert_int_equal(verbalizer_parse(&v, file, len, &e), want);
    verbalizer_free(&v);
    assert_int_equal(verbalizer_from_json(&v, obj, &e), want);
    verbalizer_free(&v);
    assert_int_equal(verbalizer_from_labels(&v, (const char *const *)names, n, &e), want);
    if (want)
        assert_non_null(strstr(e.msg, "more than the limit of 1000 labels per task"));
    else
        assert_int_equal(v.n_labels, n);
    verbalizer_free(&v);
    for (int i = 0; i < n; i++)
        free(names[i]);
    free(names);
    free(file);
    json_decref(obj);
}

/* Found by fuzz-task-config: a label quoted in an error held a newline, and the message broke in two. */
static void test_json_errors_are_one_line(void **state)
{
    (void)state;
    static const char found[] = "{\"\xe6\xad\xa3n[t\\n[@}@D@@init@.@@}@@encoder_hddeed@\": [false]}";
    json_t *obj = json_loads(found, 0, NULL);
    assert_non_null(obj);
    verbalizer v;
    pt_err e;
    pt_err_clear(&e);
    assert_int_equal(verbalizer_from_json(&v, obj, &e), PT_EINVAL);
    assert_string_equal(e.msg, "verbalizer: label \"\xe6\xad\xa3n[t [@}@D@@init@.@@}@@encoder_hddeed@\": every word must be "
                               "a non-empty string");
    assert_string_equal(e.field, "verbalizer");
    json_decref(obj);
}

static void test_label_limit(void **state)
{
    (void)state;
    check_label_limit(VERBALIZER_MAX_LABELS, 0);
    check_label_limit(VERBALIZER_MAX_LABELS + 1, PT_ELIMIT);
}

static void test_label_word_errors(void **state)
{
    fixture *f = *state;
    verbalizer v;
    pt_err e;
    pt_err_clear(&e);
    /* U+0001 is dropped by the tokenizer: the word has no tokens */
    const char bad[] = "正\t好\n负\t\x01\n";
    assert_int_equal(verbalizer_parse(&v, bad, sizeof bad - 1, &e), 0);
    template_task *t;
    assert_int_equal(template_compile(&t, TEMPLATE_DEFAULT, &v, &f->tok, 64, &e), PT_EINVAL);
    assert_non_null(strstr(e.msg, "label \"负\""));
    assert_non_null(strstr(e.msg, "has 0 tokens"));
    assert_string_equal(e.field, "verbalizer");
    verbalizer_free(&v);
}

static void test_verbalizer_forms(void **state)
{
    (void)state;
    verbalizer v;
    pt_err e;
    pt_err_clear(&e);
    /* file form: BOM, CRLF, words trimmed, missing final newline */
    const char ok[] = "\xEF\xBB\xBF" "a\t x , y\r\nb\tz";
    assert_int_equal(verbalizer_parse(&v, ok, sizeof ok - 1, &e), 0);
    assert_int_equal(v.n_labels, 2);
    assert_int_equal(v.n_words[0], 2);
    assert_string_equal(v.words[0][0], "x");
    assert_string_equal(v.words[0][1], "y");
    assert_string_equal(v.words[1][0], "z");
    assert_int_equal(verbalizer_index(&v, "b"), 1);
    assert_int_equal(verbalizer_index(&v, "c"), -1);
    json_t *j = verbalizer_to_json(&v);
    verbalizer w;
    assert_int_equal(verbalizer_from_json(&w, j, &e), 0);
    assert_string_equal(w.words[0][1], "y");
    assert_string_equal(w.labels[1], "b");
    json_decref(j);
    verbalizer_free(&w);
    verbalizer_free(&v);

    const char dup[] = "a\tx\n\nb\ty\na\tz\n";
    assert_int_equal(verbalizer_parse(&v, dup, sizeof dup - 1, &e), PT_EFORMAT);
    assert_string_equal(e.msg, "line 4: label \"a\" appears twice");
    assert_int_equal(e.line, 4);
    const char empty[] = "a\tx,,y\n";
    assert_int_equal(verbalizer_parse(&v, empty, sizeof empty - 1, &e), PT_EFORMAT);
    assert_non_null(strstr(e.msg, "line 1: label \"a\": empty label word"));
    assert_int_equal(verbalizer_parse(&v, "", 0, &e), PT_EFORMAT);
    assert_non_null(strstr(e.msg, "no labels"));

    json_t *bad = json_pack("{s:[s], s:s}", "a", "x", "b", "y");
    pt_err_clear(&e);
    assert_int_equal(verbalizer_from_json(&v, bad, &e), PT_EINVAL);
    assert_string_equal(e.msg, "verbalizer: label \"b\": expected a non-empty array of words");
    assert_string_equal(e.field, "verbalizer");
    json_decref(bad);
    bad = json_pack("{s:[s, i]}", "a", "x", 3);
    assert_int_equal(verbalizer_from_json(&v, bad, &e), PT_EINVAL);
    assert_non_null(strstr(e.msg, "non-empty string"));
    json_decref(bad);

    const char *labels[] = {"x", "y", "x"};
    assert_int_equal(verbalizer_from_labels(&v, labels, 3, &e), PT_EINVAL);
    assert_int_equal(verbalizer_from_labels(&v, labels, 2, &e), 0);
    assert_string_equal(v.words[1][0], "y");
    verbalizer copy;
    assert_int_equal(verbalizer_copy(&copy, &v, &e), 0);
    assert_string_equal(copy.labels[0], "x");
    verbalizer_free(&copy);
    verbalizer_free(&v);

    /* verbalizer_load names the file */
    const char *tmp = getenv("PTUNE_TMP");
    char path[4096];
    snprintf(path, sizeof path, "%s/test-template-%d.tsv", tmp ? tmp : "/tmp", (int)getpid());
    FILE *fp = fopen(path, "wb");
    fputs("a\tx\nno tab\n", fp);
    fclose(fp);
    assert_int_equal(verbalizer_load(&v, path, &e), PT_EFORMAT);
    char want[4200];
    snprintf(want, sizeof want, "%s: line 2: expected label<TAB>text, found no tab", path);
    assert_string_equal(e.msg, want);
    remove(path);
}

/* Class score = max over words of the sum over masks of log softmax(logits[m])[token]. */
static void test_scores_are_max_over_words_of_summed_log_probs(void **state)
{
    fixture *f = *state;
    template_task *t = compile_ok(f, TEMPLATE_DEFAULT, 64);
    float logits[2 * V];
    for (int m = 0; m < 2; m++)
        for (int v = 0; v < V; v++)
            logits[m * V + v] = (float)sin(1.7 * v + 0.3 * m) * 3.0f;
    double lse[2];
    for (int m = 0; m < 2; m++) {
        double s = 0;
        for (int v = 0; v < V; v++)
            s += exp(logits[m * V + v]);
        lse[m] = log(s);
    }
#define LP(m, v) ((double)logits[(m) * V + (v)] - lse[m])
    double pos = LP(0, HAO) + LP(1, PAD);
    double neg1 = LP(0, CHA) + LP(1, PAD), neg2 = LP(0, BU) + LP(1, HAO);
    float scores[2];
    int best[2];
    template_score(t, logits, V, scores, best);
    assert_float_equal(scores[0], pos, 1e-5);
    assert_float_equal(scores[1], fmax(neg1, neg2), 1e-5);
    assert_int_equal(best[0], 0);
    assert_int_equal(best[1], neg2 > neg1 ? 1 : 0);
    /* make the other word win */
    logits[0 * V + CHA] += 20;
    template_score(t, logits, V, scores, best);
    assert_int_equal(best[1], 0);
    template_softmax(scores, 2);
    assert_float_equal(scores[0] + scores[1], 1.0, 1e-6);
    assert_true(scores[1] > scores[0]);
    float big[3] = {1000, 999, -1000};
    template_softmax(big, 3);
    assert_float_equal(big[0], 1 / (1 + exp(-1.0)), 1e-6);
    assert_float_equal(big[2], 0, 1e-12);
#undef LP
    template_free(t);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_default_template_layout),
        cmocka_unit_test(test_groups_literals_and_truncation),
        cmocka_unit_test(test_template_errors_say_which),
        cmocka_unit_test(test_prompt_token_limit),
        cmocka_unit_test(test_label_limit),
        cmocka_unit_test(test_json_errors_are_one_line),
        cmocka_unit_test(test_label_word_errors),
        cmocka_unit_test(test_verbalizer_forms),
        cmocka_unit_test(test_scores_are_max_over_words_of_summed_log_probs),
    };
    return cmocka_run_group_tests(tests, setup, teardown);
}
