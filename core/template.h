/* template — the template language, the verbalizer, building model inputs from text, and scoring the
 * [MASK] logits of a row into class log-scores.
 *
 * Template: text with placeholders {text} (exactly once), {mask} (exactly once; expands to n_mask
 * [MASK] tokens, n_mask = the token count of the longest label word), {prompt:N} (N >= 1 learnable
 * tokens; several groups allowed, e.g. "{prompt:3}{mask}{prompt:3}{text}{prompt:3}", at most
 * TEMPLATE_MAX_PROMPT in all, else PT_ELIMIT) and literal
 * text, tokenized normally. [CLS] ... [SEP] are added around it. Default: "{mask}{prompt:8}{text}".
 * A template without {text}, without {mask}, without prompt tokens, with an unknown or malformed
 * placeholder, or whose fixed part leaves no room for text within max_seq_len is an error saying which.
 *
 * Verbalizer: label -> one or more label words. Each word is tokenized and padded with [PAD] up to
 * n_mask (as the reference implementation does). Class score = max over the label's words of the sum
 * over mask positions of log softmax(logits at that position)[word token] ([PAD] tokens included).
 *
 * The text is truncated from its END so that the whole row fits max_seq_len; template_encode reports
 * how many text tokens were dropped. A compiled template_task is immutable and thread-safe to share.
 */
#ifndef PT_TEMPLATE_H
#define PT_TEMPLATE_H

#include <jansson.h>
#include <stddef.h>
#include <stdint.h>

#include "bert.h"
#include "err.h"
#include "tokenizer.h"

#define TEMPLATE_DEFAULT "{mask}{prompt:8}{text}"
#define TEMPLATE_MAX_MASK 32      /* longest label word, in tokens */
#define TEMPLATE_MAX_PROMPT 1024  /* learnable tokens of a template, all {prompt:N} groups together */
#define VERBALIZER_MAX_LABELS 1000 /* labels of one task */

/* ---- verbalizer (source form, no tokenizer needed) ---- */

/* More than VERBALIZER_MAX_LABELS labels, in any form, is PT_ELIMIT. */
typedef struct verbalizer {
    int n_labels;
    char **labels;  /* distinct, non-empty, in definition order */
    int *n_words;   /* >= 1 per label */
    char ***words;  /* words[l][w], non-empty */
} verbalizer;

/* File form: lines `label<TAB>word[,word...]` (the tsv rules; words trimmed of spaces, empty words and
 * duplicate labels are errors with the line number). */
int verbalizer_parse(verbalizer *v, const char *buf, size_t len, pt_err *err);
int verbalizer_load(verbalizer *v, const char *path, pt_err *err);
/* JSON form: {"label": ["word", ...], ...}; err->field = "verbalizer" on error. */
int verbalizer_from_json(verbalizer *v, const json_t *obj, pt_err *err);
/* Default verbalizer: each label is its own single word. */
int verbalizer_from_labels(verbalizer *v, const char *const *labels, int n, pt_err *err);
int verbalizer_copy(verbalizer *dst, const verbalizer *src, pt_err *err);
json_t *verbalizer_to_json(const verbalizer *v);
/* Index of label in v->labels, or -1. */
int verbalizer_index(const verbalizer *v, const char *label);
void verbalizer_free(verbalizer *v);

/* ---- compiled task: template + verbalizer against one tokenizer ---- */

enum template_piece_kind { TPL_TEXT, TPL_MASK, TPL_PROMPT, TPL_LITERAL };

typedef struct template_piece {
    enum template_piece_kind kind;
    int n;              /* TPL_PROMPT: token count; TPL_LITERAL: ids count */
    int32_t *ids;       /* TPL_LITERAL only */
} template_piece;

typedef struct template_task {
    const tokenizer *tok; /* borrowed (the model's): must outlive the task */
    template_piece *pieces;
    int n_pieces;
    int n_prompt;       /* total learnable tokens (sum of the {prompt:N} groups) */
    int n_mask;         /* [MASK] tokens per row */
    int n_fixed;        /* tokens of every row besides the text ([CLS]/[SEP] included) */
    int max_seq_len;
    int n_labels;
    int *word_start;    /* n_labels + 1: words of label l are word_start[l] .. word_start[l+1]-1 */
    int32_t *word_ids;  /* (total words) x n_mask token ids, [PAD]-padded */
    int32_t *prompt_ids; /* n_prompt ids placed at the prompt positions: [unused1..N] when the vocabulary
                          * has them (so that a row without prompt vectors sees the "none" encoder's
                          * initial prompt), else [UNK] */
    int32_t cls_id, sep_id, mask_id, pad_id;
} template_task;

/* max_seq_len must be <= the model's max positions (checked by the caller that knows the model, see
 * train/classify). Fails if the vocabulary lacks [CLS], [SEP], [MASK] or [PAD] (when padding is needed),
 * if a label word tokenizes to nothing or to more than TEMPLATE_MAX_MASK tokens. */
int template_compile(template_task **out, const char *src, const verbalizer *v, const tokenizer *tok,
                     int max_seq_len, pt_err *err);
void template_free(template_task *t);

/* One text turned into a model input. ids, prompt_pos and mask_pos share one allocation. */
typedef struct template_row {
    int32_t *ids;
    int len;
    int32_t *prompt_pos; /* t->n_prompt positions, in template order (row k of the prompt vectors) */
    int32_t *mask_pos;   /* t->n_mask positions */
    int truncated;       /* text tokens dropped from the end to fit max_seq_len */
} template_row;

/* Tokenizes text (len bytes of UTF-8; invalid UTF-8 is an error with err->offset) into r. */
int template_encode(const template_task *t, const char *text, size_t len, template_row *r, pt_err *err);
void template_row_free(template_row *r);

/* Points a bert_row at r, with prompt_vec (t->n_prompt x H, the task's learned vectors). No copy:
 * r and prompt_vec must outlive the forward call. */
void template_row_bert(const template_task *t, const template_row *r, const float *prompt_vec, bert_row *out);

/* logits: t->n_mask x vocab_size (one row's slice of bert_forward's output). Writes t->n_labels class
 * log-scores into scores. If best_word is not NULL it receives, per label, the index (within the
 * label's words) of the word that gave the max. */
void template_score(const template_task *t, const float *logits, int vocab_size, float *scores, int *best_word);

/* In place: class log-scores -> probabilities (softmax over the task's labels). */
void template_softmax(float *scores, int n);

#endif
