/* Fuzzes bert_config_parse (config.json). A config it accepts must describe a model the engine can
 * build: every size positive, hidden_size divisible by the head count, layer_norm_eps in (0, 1). */
#include "bert.h"
#include "fuzz.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    bert_config c;
    pt_err err;
    pt_err_clear(&err);
    int rc = bert_config_parse(&c, (const char *)data, size, &err);
    if (rc) {
        fuzz_check_err(rc, &err);
        return 0;
    }
    FUZZ_CHECK(c.vocab_size > 0 && c.hidden_size > 0 && c.num_layers > 0 && c.num_heads > 0);
    FUZZ_CHECK(c.intermediate_size > 0 && c.max_position_embeddings > 0 && c.type_vocab_size > 0);
    FUZZ_CHECK(c.hidden_size % c.num_heads == 0);
    FUZZ_CHECK(c.layer_norm_eps > 0 && c.layer_norm_eps < 1);
    return 0;
}
