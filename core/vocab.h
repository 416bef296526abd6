/* vocab — a WordPiece vocabulary (vocab.txt), read exactly as HF BertTokenizer's load_vocab reads it.
 *
 * load_vocab opens the file as UTF-8 text with Python's universal newlines, so a line ends at "\n",
 * "\r\n" or "\r"; each line without its line end is one token and its id is the 0-based line index
 * (an empty line is the empty token; a last line without a line end counts). A token listed twice
 * maps to its LAST id, because the later dict assignment wins; vocab_token still gives every id its
 * own line. An empty file and invalid UTF-8 (error with line and byte offset) are refused.
 *
 * Lookup is by exact bytes through an open-addressing hash table. Read-only once built, so one vocab
 * can be shared by any number of threads.
 */
#ifndef PT_VOCAB_H
#define PT_VOCAB_H

#include <stddef.h>
#include <stdint.h>

#include "err.h"

typedef struct vocab vocab;

int vocab_load(vocab **out, const char *path, pt_err *err);
int vocab_parse(vocab **out, const char *buf, size_t len, pt_err *err);
void vocab_free(vocab *v);

/* Number of ids (lines), duplicates included: ids run from 0 to vocab_size - 1. */
int vocab_size(const vocab *v);
/* id of the token with these bytes, or -1. */
int32_t vocab_id(const vocab *v, const char *tok, size_t len);
/* token text (NUL-terminated) for an id in range, else NULL. */
const char *vocab_token(const vocab *v, int32_t id);
/* Length in bytes of the longest token: no longer string can have an id. */
size_t vocab_max_len(const vocab *v);

#endif
