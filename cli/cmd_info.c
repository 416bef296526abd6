/* ptune info — loads a model directory (so every check of bert_load runs) and describes it as JSON. */
#include <jansson.h>
#include <stdio.h>
#include <string.h>

#include "bert.h"
#include "cli.h"

static const char usage_text[] =
    "usage: ptune info --model DIR\n"
    "Loads the model directory and prints JSON: name, fingerprint (sha256 of model.safetensors), dtype,\n"
    "weights_bytes, parameters, vocab_size, tied (decoder = word embeddings), do_lower_case, config.\n";

static json_t *describe(const bert_model *m)
{
    const bert_config *c = &m->cfg;
    return json_pack("{s:s, s:s, s:s, s:I, s:I, s:i, s:b, s:b, s:{s:i, s:i, s:i, s:i, s:i, s:i, s:i, s:f, s:s}}",
                     "name", m->name, "fingerprint", m->fingerprint, "dtype", m->dtype, "weights_bytes",
                     (json_int_t)m->weights_bytes, "parameters", (json_int_t)m->n_params, "vocab_size",
                     c->vocab_size, "tied", m->tied, "do_lower_case", m->tok.do_lower_case, "config", "vocab_size",
                     c->vocab_size, "hidden_size", c->hidden_size, "num_hidden_layers", c->num_layers,
                     "num_attention_heads", c->num_heads, "intermediate_size", c->intermediate_size,
                     "max_position_embeddings", c->max_position_embeddings, "type_vocab_size", c->type_vocab_size,
                     "layer_norm_eps", (double)c->layer_norm_eps, "hidden_act", "gelu");
}

int cmd_info(int argc, char **argv)
{
    const char *dir = NULL;
    for (int i = 1; i < argc; i++) {
        if (!strcmp(argv[i], "--help") || !strcmp(argv[i], "-h")) {
            fputs(usage_text, stdout);
            return 0;
        }
        if (!strcmp(argv[i], "--model") && i + 1 < argc) {
            dir = argv[++i];
            continue;
        }
        fprintf(stderr, "ptune info: unexpected argument '%s'\n%s", argv[i], usage_text);
        return 2;
    }
    if (!dir) {
        fprintf(stderr, "ptune info: --model DIR is required\n%s", usage_text);
        return 2;
    }
    pt_err err;
    pt_err_clear(&err);
    bert_model *m;
    if (bert_load(&m, dir, &err)) {
        fprintf(stderr, "ptune info: %s\n", err.msg);
        return 1;
    }
    json_t *j = describe(m);
    bert_free(m);
    if (!j) {
        fprintf(stderr, "ptune info: out of memory\n");
        return 1;
    }
    /* float precision: layer_norm_eps is a float, so 7 digits print what the config said */
    json_dumpf(j, stdout, JSON_INDENT(2) | JSON_REAL_PRECISION(7));
    putchar('\n');
    json_decref(j);
    return 0;
}
