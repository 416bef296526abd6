/* adapter — a learned task as an artefact: export / import of the three files
 *   adapter_model.safetensors  exactly one tensor "prompt_embeddings", F32 [N, H], metadata {"format":"pt"}
 *   adapter_config.json        HF PEFT's P_TUNING keys (peft_type, task_type, num_virtual_tokens,
 *                              token_dim, encoder_reparameterization_type, encoder_hidden_size,
 *                              num_transformer_submodules, num_layers, num_attention_heads,
 *                              inference_mode, base_model_name_or_path)
 *   ptune.json                 {"format": "ptune/1", "template", "verbalizer", "labels", "n_prompt",
 *                              "hidden", "backbone": {"name", "fingerprint", "hidden_size", "num_layers",
 *                              "vocab_size"}, "config", "metrics", "training_curve", "truncated_rows"}
 * from a directory or from memory (the daemon stores and tars them without temp files).
 * ptune.json is the source of truth on import; the safetensors shape must agree with it.
 * A prompt applies only to the backbone it was trained on (same fingerprint): adapter_check_backbone.
 */
#ifndef PT_ADAPTER_H
#define PT_ADAPTER_H

#include <jansson.h>
#include <stddef.h>

#include "bert.h"
#include "err.h"
#include "train.h"

#define ADAPTER_MODEL_FILE "adapter_model.safetensors"
#define ADAPTER_CONFIG_FILE "adapter_config.json"
#define ADAPTER_PTUNE_FILE "ptune.json"

typedef struct adapter {
    train_config cfg;        /* as trained; cfg.verb resolved (the task's labels, in order) */
    char fingerprint[65];    /* backbone's sha256 */
    char base_model[256];    /* backbone's name */
    int base_hidden, base_layers, base_heads, base_vocab;
    int n_prompt, hidden;
    float *vectors;          /* n_prompt x hidden */
    json_t *metrics;         /* dev metrics (metrics_to_json) or json null; owned */
    json_t *curve;           /* training curve (train_curve_to_json) or []; owned */
    long truncated_rows;     /* training + dev rows cut to fit */
} adapter;

/* The bytes of the three files. */
typedef struct adapter_files {
    void *model;  size_t model_len;   /* adapter_model.safetensors */
    char *config; size_t config_len;  /* adapter_config.json */
    char *ptune;  size_t ptune_len;   /* ptune.json */
} adapter_files;

/* Builds an adapter from a finished training run (copies everything). */
int adapter_from_train(adapter *a, const bert_model *m, const train_config *cfg, const train_result *r,
                       pt_err *err);

/* Creates dir if needed; each file is written atomically. */
int adapter_save(const adapter *a, const char *dir, pt_err *err);
int adapter_load(adapter *a, const char *dir, pt_err *err);

int adapter_serialize(const adapter *a, adapter_files *f, pt_err *err);
/* The buffers are only read (copied as needed); f may be freed afterwards. */
int adapter_deserialize(adapter *a, const adapter_files *f, pt_err *err);
void adapter_files_free(adapter_files *f);

/* PT_EMISMATCH with a clear message when m is not the backbone a was trained on. */
int adapter_check_backbone(const adapter *a, const bert_model *m, pt_err *err);

void adapter_free(adapter *a);

#endif
