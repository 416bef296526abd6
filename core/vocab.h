/* vocab — a WordPiece vocabulary (vocab.txt: one token per line, id = line number - 1).
 *
 * Lookup is by exact bytes through a hash table. Duplicate tokens keep their first id (as HF does
 * when building token->id, the later line wins; see vocab.c for which we follow and why).
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

int vocab_size(const vocab *v);
/* id of the token with these bytes, or -1. */
int32_t vocab_id(const vocab *v, const char *tok, size_t len);
/* token text (NUL-terminated) for an id in range, else NULL. */
const char *vocab_token(const vocab *v, int32_t id);

#endif
