/* prompt — prompt encoders (the reparameterization of P-tuning), with their backward.
 *
 * Every encoder maps its parameters to the N x H prompt vectors that replace the word embeddings at
 * the template's prompt positions:
 *   none: the N x H vectors are the parameters themselves.
 *   mlp:  embedding[N,H] -> Linear(H,h) -> ReLU -> Linear(h,h) -> ReLU -> Linear(h,H)   (HF PEFT's shape)
 *   lstm: embedding[N,H] -> 2-layer bidirectional LSTM, H/2 per direction (H must be even)
 *         -> Linear(H,H) -> ReLU -> Linear(H,H)                                          (the paper's)
 * The embedding is initialised from `init` (N x H, e.g. the word embeddings of [unused1..N]); linear
 * and LSTM weights as PyTorch does (uniform in +-1/sqrt(fan_in), resp. +-1/sqrt(hidden)) from the seed.
 * Parameters and gradients are flat float arrays (the optimizer walks them); prompt_forward keeps what
 * prompt_backward needs. After training only the output is kept: classification never runs an encoder.
 */
#ifndef PT_PROMPT_H
#define PT_PROMPT_H

#include <stddef.h>
#include <stdint.h>

#include "err.h"

typedef enum prompt_kind { PROMPT_NONE, PROMPT_MLP, PROMPT_LSTM } prompt_kind;

/* "none" / "mlp" / "lstm" -> kind; -1 when unknown. */
int prompt_kind_parse(const char *name, prompt_kind *kind);
const char *prompt_kind_name(prompt_kind kind);

typedef struct prompt_enc prompt_enc;

/* hidden: the mlp's h (ignored by none and lstm). init: n x h floats, copied. */
int prompt_new(prompt_enc **out, prompt_kind kind, int n, int h, int hidden, const float *init, uint64_t seed,
               pt_err *err);
void prompt_free(prompt_enc *e);

size_t prompt_n_params(const prompt_enc *e);
float *prompt_params(prompt_enc *e);
float *prompt_grads(prompt_enc *e);
void prompt_zero_grad(prompt_enc *e);

/* out: n x h. */
void prompt_forward(prompt_enc *e, float *out);
/* d_out: d loss / d out (n x h), for the parameters of the last prompt_forward; ADDS into the grads. */
void prompt_backward(prompt_enc *e, const float *d_out);

#endif
