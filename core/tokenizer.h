/* tokenizer — BERT WordPiece tokenization, the same ids as google-research/bert FullTokenizer
 * (and HF BertTokenizer with its defaults) for every input.
 *
 * Basic tokenization: clean text (drop U+0000, U+FFFD and control characters, whitespace -> space),
 * spaces around CJK ideographs, optional lower-casing (Python str.lower) + NFD + strip Mn, split on
 * whitespace and punctuation. Then greedy longest-match-first WordPiece with "##" continuations;
 * words over 100 characters or that cannot be split become [UNK]. Unicode data comes from
 * unicode_tables.c, generated from the Unicode Character Database by gen_unicode_tables.py.
 */
#ifndef PT_TOKENIZER_H
#define PT_TOKENIZER_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "err.h"
#include "vocab.h"

typedef struct tokenizer {
    const vocab *v; /* borrowed */
    bool do_lower_case;
    int32_t unk_id, cls_id, sep_id, pad_id, mask_id; /* -1 when absent from the vocabulary */
} tokenizer;

/* Fails if [UNK] is missing from the vocabulary. */
int tokenizer_init(tokenizer *t, const vocab *v, bool do_lower_case, pt_err *err);

/* Tokenizes len bytes of UTF-8 (NUL bytes allowed). On success *ids is malloc'ed (caller frees)
 * and holds *n ids, without [CLS]/[SEP]. Invalid UTF-8 fails with err->offset at the bad byte. */
int tokenizer_encode(const tokenizer *t, const char *text, size_t len, int32_t **ids, size_t *n, pt_err *err);

/* Reads tokenizer_config.json (if present) for do_lower_case; absent file or key means true. */
int tokenizer_read_config(const char *path, bool *do_lower_case, pt_err *err);

#endif
