#include "classify.h"

#include <stdlib.h>
#include <string.h>

int classify_task_new(classify_task **out, const bert_model *m, const adapter *a, pt_err *err)
{
    *out = NULL;
    int rc = adapter_check_backbone(a, m, err);
    if (rc)
        return rc;
    if (a->cfg.max_seq_len > m->cfg.max_position_embeddings)
        return pt_fail(err, PT_EMISMATCH, "the prompt's max_seq_len %d is above the model's max positions %d",
                       a->cfg.max_seq_len, m->cfg.max_position_embeddings);
    classify_task *t = calloc(1, sizeof *t);
    if (!t)
        return pt_fail(err, PT_ENOMEM, "out of memory");
    const char *src = a->cfg.template_src ? a->cfg.template_src : TEMPLATE_DEFAULT;
    rc = template_compile(&t->tpl, src, &a->cfg.verb, &m->tok, a->cfg.max_seq_len, err);
    if (!rc && (t->tpl->n_prompt != a->n_prompt || a->hidden != m->cfg.hidden_size))
        rc = pt_fail(err, PT_EMISMATCH, "the prompt has %d x %d vectors, the template and model need %d x %d",
                     a->n_prompt, a->hidden, t->tpl->n_prompt, m->cfg.hidden_size);
    if (!rc)
        rc = verbalizer_copy(&t->verb, &a->cfg.verb, err);
    size_t nh = (size_t)a->n_prompt * (size_t)a->hidden;
    if (!rc && !(t->vectors = malloc(nh * sizeof *t->vectors)))
        rc = pt_fail(err, PT_ENOMEM, "out of memory");
    if (rc) {
        classify_task_free(t);
        return rc;
    }
    memcpy(t->vectors, a->vectors, nh * sizeof *t->vectors);
    t->n_prompt = a->n_prompt;
    t->hidden = a->hidden;
    *out = t;
    return 0;
}

void classify_task_free(classify_task *t)
{
    if (!t)
        return;
    template_free(t->tpl);
    verbalizer_free(&t->verb);
    free(t->vectors);
    free(t);
}

/* Encodes and runs texts[0 .. n) (n <= CLASSIFY_BATCH) and leaves each row's class log-scores in
 * scores (n x n_labels). */
static int run_chunk(const bert_model *m, bert_ws *ws, const template_task *tpl, const float *vectors,
                     const char *const *texts, const size_t *lens, int first, int n, float *logits, float *scores,
                     int *truncated, pt_err *err)
{
    template_row rows[CLASSIFY_BATCH] = {{0}};
    bert_row brows[CLASSIFY_BATCH] = {{0}};
    int built = 0, rc = 0;
    for (; built < n; built++) {
        const char *s = texts[built];
        rc = template_encode(tpl, s, lens ? lens[built] : strlen(s), &rows[built], err);
        if (rc) {
            pt_err_prefix(err, "text %d", first + built);
            break;
        }
        template_row_bert(tpl, &rows[built], vectors, &brows[built]);
        if (truncated)
            truncated[built] = rows[built].truncated;
    }
    if (!rc)
        rc = bert_forward(m, ws, brows, n, logits, err);
    size_t per_row = (size_t)tpl->n_mask * (size_t)m->cfg.vocab_size;
    for (int i = 0; !rc && i < n; i++)
        template_score(tpl, logits + (size_t)i * per_row, m->cfg.vocab_size, scores + (size_t)i * (size_t)tpl->n_labels,
                       NULL);
    for (int i = 0; i < built; i++)
        template_row_free(&rows[i]);
    return rc;
}

static float *alloc_logits(const bert_model *m, const template_task *tpl, int n, pt_err *err)
{
    int b = n < CLASSIFY_BATCH ? n : CLASSIFY_BATCH;
    float *p = malloc((size_t)(b > 0 ? b : 1) * (size_t)tpl->n_mask * (size_t)m->cfg.vocab_size * sizeof *p);
    if (!p)
        pt_fail(err, PT_ENOMEM, "out of memory for the logits of %d rows", b);
    return p;
}

int classify_texts(const bert_model *m, bert_ws *ws, const template_task *tpl, const float *vectors,
                   const char *const *texts, const size_t *lens, int n, float *probs, int *truncated,
                   pt_err *err)
{
    float *logits = alloc_logits(m, tpl, n, err);
    if (!logits)
        return PT_ENOMEM;
    int rc = 0, L = tpl->n_labels;
    for (int start = 0; !rc && start < n; start += CLASSIFY_BATCH) {
        int b = n - start < CLASSIFY_BATCH ? n - start : CLASSIFY_BATCH;
        float *s = probs + (size_t)start * (size_t)L;
        rc = run_chunk(m, ws, tpl, vectors, texts + start, lens ? lens + start : NULL, start, b, logits, s,
                       truncated ? truncated + start : NULL, err);
        for (int i = 0; !rc && i < b; i++)
            template_softmax(s + (size_t)i * (size_t)L, L);
    }
    free(logits);
    return rc;
}

int classify_eval(const bert_model *m, bert_ws *ws, const template_task *tpl, const verbalizer *verb,
                  const float *vectors, const tsv_row *rows, int n, metrics *out, long *n_truncated,
                  pt_err *err)
{
    memset(out, 0, sizeof *out);
    int L = tpl->n_labels;
    float *logits = alloc_logits(m, tpl, n, err);
    float *scores = malloc((size_t)CLASSIFY_BATCH * (size_t)L * sizeof *scores);
    int *gold = malloc((size_t)(n > 0 ? n : 1) * sizeof *gold), *pred = malloc((size_t)(n > 0 ? n : 1) * sizeof *pred);
    int rc = (!logits || !scores || !gold || !pred) ? pt_fail(err, PT_ENOMEM, "out of memory evaluating %d rows", n) : 0;
    long cut = 0;
    for (int start = 0; !rc && start < n; start += CLASSIFY_BATCH) {
        int b = n - start < CLASSIFY_BATCH ? n - start : CLASSIFY_BATCH;
        const char *texts[CLASSIFY_BATCH];
        int trunc[CLASSIFY_BATCH];
        for (int i = 0; i < b; i++)
            texts[i] = rows[start + i].text;
        if ((rc = run_chunk(m, ws, tpl, vectors, texts, NULL, start, b, logits, scores, trunc, err))) {
            if (err)
                err->line = rows[start].line;
            break;
        }
        for (int i = 0; i < b; i++) {
            const float *s = scores + (size_t)i * (size_t)L;
            int best = 0;
            for (int c = 1; c < L; c++)
                if (s[c] > s[best])
                    best = c;
            pred[start + i] = best;
            gold[start + i] = verbalizer_index(verb, rows[start + i].label);
            cut += trunc[i] > 0;
        }
    }
    if (!rc)
        rc = metrics_compute(out, gold, pred, n, L, err);
    if (!rc && n_truncated)
        *n_truncated = cut;
    free(logits);
    free(scores);
    free(gold);
    free(pred);
    return rc;
}
