/* Fuzzes verbalizer_parse (the label<TAB>word[,word...] file), then what is done with a verbalizer:
 * its JSON form must round-trip (verbalizer_to_json -> verbalizer_from_json) and copy exactly, and
 * compiling it with the default template against the fuzz vocabulary must either fail cleanly or give
 * label-word ids inside the vocabulary, [PAD]-padded to n_mask <= TEMPLATE_MAX_MASK. */
#include "fuzz.h"
#include "template.h"
#include "vocab.h"

#include <ctype.h>

static vocab *voc;
static tokenizer tok;

int LLVMFuzzerInitialize(int *argc, char ***argv);

int LLVMFuzzerInitialize(int *argc, char ***argv)
{
    (void)argc, (void)argv;
    size_t len;
    char *text = fuzz_read_fixture("model/vocab.txt", &len);
    pt_err err;
    FUZZ_CHECK(vocab_parse(&voc, text, len, &err) == 0);
    free(text);
    FUZZ_CHECK(tokenizer_init(&tok, voc, true, &err) == 0);
    return 0;
}

static void check_same(const verbalizer *a, const verbalizer *b)
{
    FUZZ_CHECK(a->n_labels == b->n_labels);
    for (int l = 0; l < a->n_labels; l++) {
        FUZZ_CHECK(!strcmp(a->labels[l], b->labels[l]));
        FUZZ_CHECK(a->n_words[l] == b->n_words[l]);
        for (int w = 0; w < a->n_words[l]; w++)
            FUZZ_CHECK(!strcmp(a->words[l][w], b->words[l][w]));
    }
}

static void check_compiled(const verbalizer *v)
{
    template_task *t;
    pt_err err;
    pt_err_clear(&err);
    int rc = template_compile(&t, TEMPLATE_DEFAULT, v, &tok, 64, &err);
    if (rc) {
        fuzz_check_err(rc, &err);
        return;
    }
    FUZZ_CHECK(t->n_labels == v->n_labels && t->n_mask >= 1 && t->n_mask <= TEMPLATE_MAX_MASK);
    FUZZ_CHECK(t->word_start[0] == 0);
    for (int l = 0; l < v->n_labels; l++)
        FUZZ_CHECK(t->word_start[l + 1] - t->word_start[l] == v->n_words[l]);
    for (size_t i = 0; i < (size_t)t->word_start[v->n_labels] * (size_t)t->n_mask; i++)
        FUZZ_CHECK(t->word_ids[i] >= 0 && t->word_ids[i] < vocab_size(voc));
    template_free(t);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    verbalizer v;
    pt_err err;
    pt_err_clear(&err);
    int rc = verbalizer_parse(&v, (const char *)data, size, &err);
    if (rc) {
        fuzz_check_err(rc, &err);
        FUZZ_CHECK(v.n_labels == 0 && v.labels == NULL);
        return 0;
    }
    FUZZ_CHECK(v.n_labels >= 1);
    for (int l = 0; l < v.n_labels; l++) {
        FUZZ_CHECK(v.labels[l][0] != '\0' && verbalizer_index(&v, v.labels[l]) == l);
        FUZZ_CHECK(v.n_words[l] >= 1);
        for (int w = 0; w < v.n_words[l]; w++) {
            const char *s = v.words[l][w];
            size_t n = strlen(s);
            FUZZ_CHECK(n > 0 && !strchr(s, ',') && !isspace((unsigned char)s[0]) && !isspace((unsigned char)s[n - 1]));
        }
    }
    json_t *j = verbalizer_to_json(&v);
    FUZZ_CHECK(j != NULL);
    verbalizer back, copy;
    FUZZ_CHECK(verbalizer_from_json(&back, j, &err) == 0);
    json_decref(j);
    check_same(&v, &back);
    FUZZ_CHECK(verbalizer_copy(&copy, &v, &err) == 0);
    check_same(&v, &copy);
    check_compiled(&v);
    verbalizer_free(&back);
    verbalizer_free(&copy);
    verbalizer_free(&v);
    return 0;
}
