/* bert — a frozen BERT masked-language model: load from a Hugging Face model directory, run the
 * forward pass with prompt overrides, and backpropagate to the input embeddings.
 *
 * A model directory holds config.json, vocab.txt, model.safetensors (F32 used in place from the
 * mapping; F16/BF16 converted to f32 once at load) and optionally tokenizer_config.json. Each layer's
 * query, key and value weights are copied once into one stacked [3H,H] matrix (one GEMM instead of
 * three) and the mapped pages they came from are given back, so the copy costs no resident memory.
 * Tensor names as in BertForMaskedLM: optional "bert." prefix, LayerNorm.weight/bias or .gamma/.beta,
 * cls.predictions.decoder.weight absent = tied to the word embeddings; other tensors are ignored.
 *
 * A loaded model is immutable and shared read-only by any number of threads. Each call brings its own
 * bert_ws (workspace), which grows to the largest batch it has seen and is reused: nothing allocates
 * per token in the hot path. Rows are packed without padding; each row attends only within itself.
 */
#ifndef PT_BERT_H
#define PT_BERT_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "err.h"
#include "safetensors.h"
#include "tokenizer.h"
#include "vocab.h"

typedef struct bert_config {
    int vocab_size;
    int hidden_size;
    int num_layers;
    int num_heads;
    int intermediate_size;
    int max_position_embeddings;
    int type_vocab_size;
    float layer_norm_eps;
} bert_config;

/* Weight matrices are torch Linear layout: [out, in], row-major. */
typedef struct bert_layer {
    const float *q_w, *q_b, *k_w, *k_b, *v_w, *v_b; /* [H,H], [H]: the three blocks of qkv_w, qkv_b */
    const float *qkv_w, *qkv_b;                     /* [3H,H], [3H]: query, key, value stacked, one GEMM */
    const float *ao_w, *ao_b;                       /* attention.output.dense [H,H], [H] */
    const float *aln_g, *aln_b;                     /* attention.output.LayerNorm [H] */
    const float *i_w, *i_b;                         /* intermediate.dense [I,H], [I] */
    const float *o_w, *o_b;                         /* output.dense [H,I], [H] */
    const float *oln_g, *oln_b;                     /* output.LayerNorm [H] */
} bert_layer;

typedef struct bert_model {
    bert_config cfg;
    const float *word_emb;   /* [V,H] */
    const float *pos_emb;    /* [P,H] */
    const float *type_emb;   /* [T,H] */
    const float *emb_ln_g, *emb_ln_b;
    bert_layer *layers;      /* cfg.num_layers */
    const float *head_w, *head_b;       /* cls.predictions.transform.dense [H,H], [H] */
    const float *head_ln_g, *head_ln_b; /* cls.predictions.transform.LayerNorm [H] */
    const float *decoder_w;  /* [V,H]; == word_emb when tied */
    const float *decoder_b;  /* [V] (cls.predictions.bias or decoder.bias); zeros if absent */
    bool tied;

    vocab *vocab;
    tokenizer tok;

    char fingerprint[65];    /* sha256 of model.safetensors, hex */
    char dtype[8];           /* "F32", "F16" or "BF16": how the weights are stored on disk */
    char name[256];          /* the directory's base name */
    size_t weights_bytes;    /* size of model.safetensors */
    long long n_params;

    st_file st;              /* the mapping */
    float *owned;            /* f32 copies (F16/BF16 or misaligned F32) and the zero decoder bias if absent; else NULL */
    float *fused;            /* every layer's qkv_w and qkv_b (the file's query/key/value pages are dropped) */
} bert_model;

/* Parses config.json text. Refuses hidden_act other than "gelu", missing or non-positive sizes,
 * hidden_size not divisible by num_attention_heads. */
int bert_config_parse(bert_config *cfg, const char *json, size_t len, pt_err *err);

int bert_load(bert_model **out, const char *dir, pt_err *err);
void bert_free(bert_model *m);

/* One input row. */
typedef struct bert_row {
    const int32_t *ids;        /* len token ids, [CLS]/[SEP] included by the caller */
    int len;
    const int32_t *type_ids;   /* NULL: all 0 */
    const int32_t *prompt_pos; /* n_prompt positions whose word embedding is replaced ... */
    const float *prompt_vec;   /* ... by these vectors, n_prompt x H row-major */
    int n_prompt;
    const int32_t *mask_pos;   /* positions where MLM logits are wanted */
    int n_mask;
} bert_row;

typedef struct bert_ws bert_ws;

bert_ws *bert_ws_new(void);
void bert_ws_free(bert_ws *ws);

/* Validates rows (n_rows >= 1, 1 <= len <= max positions, ids < V, type ids < T, prompt and mask
 * positions inside the row and each given once); errors name the row, position and field.
 * logits: (sum of n_mask) x V floats, rows in order, mask positions in order. */
int bert_forward(const bert_model *m, bert_ws *ws, const bert_row *rows, int n_rows, float *logits, pt_err *err);

/* Same as bert_forward, but keeps in ws what bert_backward needs. rows (and their arrays) must stay
 * valid until bert_backward returns. */
int bert_forward_train(const bert_model *m, bert_ws *ws, const bert_row *rows, int n_rows, float *logits,
                       pt_err *err);

/* Given d loss / d logits (same layout as logits), writes d loss / d prompt_vec for every row:
 * d_prompt[r] has rows[r].n_prompt x H floats (may be NULL for rows without prompts). Needs the
 * last call on ws to have been a successful bert_forward_train on m; it may be called again on the
 * same forward with another d_logits. */
int bert_backward(const bert_model *m, bert_ws *ws, const float *d_logits, float *const *d_prompt, pt_err *err);

#endif
