/* Fuzzes the template language: template_compile on arbitrary source, then template_encode of
 * arbitrary text with it. Input: byte 0 picks max_seq_len (8..135), then the template up to the first
 * newline, then the text. A compiled row must be [CLS] ... [SEP] within max_seq_len, with exactly
 * n_mask [MASK] tokens at mask_pos (consecutive), the prompt ids at prompt_pos, and the text cut from
 * its end only when the row is full. Scoring uniform logits must give every label -n_mask * log(V). */
#include "fuzz.h"
#include "template.h"
#include "vocab.h"

#include <math.h>

static vocab *voc;
static tokenizer tok;
static verbalizer verb;

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
    static const char words[] = "正\t好\n负\t差,不好\n中\t一般\n";
    FUZZ_CHECK(verbalizer_parse(&verb, words, sizeof words - 1, &err) == 0);
    return 0;
}

static void check_row(const template_task *t, const template_row *r, size_t text_tokens)
{
    FUZZ_CHECK(r->len == t->n_fixed + (int)text_tokens - r->truncated && r->len <= t->max_seq_len);
    FUZZ_CHECK(r->truncated >= 0 && (r->truncated == 0 || r->len == t->max_seq_len));
    FUZZ_CHECK(r->ids[0] == t->cls_id && r->ids[r->len - 1] == t->sep_id);
    int masks = 0;
    for (int i = 0; i < r->len; i++) {
        FUZZ_CHECK(r->ids[i] >= 0 && r->ids[i] < vocab_size(voc));
        masks += r->ids[i] == t->mask_id;
    }
    FUZZ_CHECK(masks == t->n_mask);
    for (int m = 0; m < t->n_mask; m++)
        FUZZ_CHECK(r->ids[r->mask_pos[m]] == t->mask_id && (m == 0 || r->mask_pos[m] == r->mask_pos[m - 1] + 1));
    for (int k = 0; k < t->n_prompt; k++) {
        FUZZ_CHECK(r->prompt_pos[k] > 0 && r->prompt_pos[k] < r->len - 1);
        FUZZ_CHECK(k == 0 || r->prompt_pos[k] > r->prompt_pos[k - 1]);
        FUZZ_CHECK(r->ids[r->prompt_pos[k]] == t->prompt_ids[k]);
    }
}

static void check_scores(const template_task *t)
{
    int V = vocab_size(voc);
    float *logits = calloc((size_t)t->n_mask * (size_t)V, sizeof *logits);
    float *scores = malloc((size_t)t->n_labels * sizeof *scores);
    int *best = malloc((size_t)t->n_labels * sizeof *best);
    FUZZ_CHECK(logits && scores && best);
    template_score(t, logits, V, scores, best);
    for (int l = 0; l < t->n_labels; l++) {
        FUZZ_CHECK(fabsf(scores[l] + (float)(t->n_mask * log(V))) < 1e-3f);
        FUZZ_CHECK(best[l] >= 0 && best[l] < t->word_start[l + 1] - t->word_start[l]);
    }
    template_softmax(scores, t->n_labels);
    for (int l = 0; l < t->n_labels; l++)
        FUZZ_CHECK(fabsf(scores[l] - 1.0f / (float)t->n_labels) < 1e-5f);
    free(logits);
    free(scores);
    free(best);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (size < 1)
        return 0;
    int max_seq_len = 8 + data[0] % 128;
    const char *rest = (const char *)data + 1;
    size_t n = size - 1;
    const char *nl = memchr(rest, '\n', n);
    size_t src_len = nl ? (size_t)(nl - rest) : n;
    char *src = strndup(rest, src_len); /* a JSON string cannot hold NUL: the source ends at one */
    const char *text = nl ? nl + 1 : rest + n;
    size_t text_len = (size_t)(rest + n - text);
    template_task *t;
    pt_err err;
    pt_err_clear(&err);
    int rc = template_compile(&t, src, &verb, &tok, max_seq_len, &err);
    free(src);
    if (rc) {
        fuzz_check_err(rc, &err);
        FUZZ_CHECK(t == NULL);
        return 0;
    }
    FUZZ_CHECK(t->n_prompt >= 1 && t->n_mask >= 1 && t->n_fixed < max_seq_len);
    check_scores(t);
    template_row r;
    rc = template_encode(t, text, text_len, &r, &err);
    if (rc) {
        fuzz_check_err(rc, &err);
    } else {
        int32_t *ids;
        size_t n_text;
        FUZZ_CHECK(tokenizer_encode(&tok, text, text_len, &ids, &n_text, &err) == 0);
        free(ids);
        check_row(t, &r, n_text);
        template_row_free(&r);
    }
    template_free(t);
    return 0;
}
