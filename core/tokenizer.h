/* tokenizer — BERT WordPiece tokenization, the same ids as google-research/bert FullTokenizer
 * (and HF BertTokenizer with its defaults) for every input.
 *
 * Basic tokenization, in the reference's order: clean the text (drop U+0000, U+FFFD and every
 * category C* character except \t \n \r; \t \n \r and category Zs become spaces); put spaces around
 * the CJK ideographs of the reference's blocks; split on whitespace (Python's str.split, which also
 * splits at U+2028 and U+2029). Then per word, when do_lower_case: Python str.lower() (full mapping,
 * incl. U+0130 -> "i\u0307" and the Final_Sigma rule), NFD, drop category Mn. Split off every
 * punctuation character (ASCII 33-47, 58-64, 91-96, 123-126 and category P*). WordPiece: greedy
 * longest match first with "##" continuations; a word over 100 code points, or one that cannot be
 * split, becomes [UNK]. Unicode data comes from unicode_tables.c (generated from the UCD).
 *
 * A literal "[MASK]" (or "[CLS]", ...) in the text is NOT a special token: like FullTokenizer, it
 * becomes "[", "mask", "]". Special-token ids are placed by the caller (template), never parsed.
 *
 * A tokenizer is read-only after tokenizer_init: threads may share one.
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

/* Tokenizes len bytes of UTF-8 (NUL bytes allowed). On success *ids is malloc'ed (caller frees,
 * also when *n is 0) and holds *n ids, without [CLS]/[SEP]. Invalid UTF-8 fails with PT_EFORMAT and
 * err->offset at the first byte of the bad sequence. */
int tokenizer_encode(const tokenizer *t, const char *text, size_t len, int32_t **ids, size_t *n, pt_err *err);

/* Reads do_lower_case from the tokenizer_config.json at path. An absent file or key means true;
 * unreadable or invalid JSON, a top level that is not an object, or a do_lower_case that is not a
 * boolean is an error (err->field names the key). */
int tokenizer_read_config(const char *path, bool *do_lower_case, pt_err *err);

#endif
