/* Fuzzes the task config of POST /tasks and `ptune train --config`: the body is read as the daemon
 * reads it (json_loadb with JSON_REJECT_DUPLICATES, the request's own keys such as "name" set aside),
 * then train_config_parse. An accepted config must
 * round-trip (to_json -> parse -> to_json is the same JSON), copy exactly, keep every number in the
 * range train.h gives, and be checked against the fuzz model (train_config_check: template and
 * verbalizer compiled with its tokenizer, init text tokenized) without a crash or leak. */
#include "bert.h"
#include "fuzz.h"
#include "train.h"

static bert_model *model;

int LLVMFuzzerInitialize(int *argc, char ***argv);

int LLVMFuzzerInitialize(int *argc, char ***argv)
{
    (void)argc, (void)argv;
    pt_err err;
    if (bert_load(&model, FUZZ_SRC_DIR "/model", &err)) {
        fprintf(stderr, "fuzz: %s\n", err.msg);
        abort();
    }
    return 0;
}

static void check_ranges(const train_config *c)
{
    FUZZ_CHECK(c->epochs >= 1 && c->batch_size >= 1 && c->encoder_hidden >= 1 && c->max_seq_len >= 8);
    FUZZ_CHECK(c->patience >= 0 && c->lr > 0 && c->weight_decay >= 0 && c->max_grad_norm >= 0);
    FUZZ_CHECK(c->beta1 >= 0 && c->beta1 < 1 && c->beta2 >= 0 && c->beta2 < 1);
    FUZZ_CHECK(c->warmup >= 0 && c->warmup < 1);
}

static void check_round_trip(const train_config *c)
{
    pt_err err;
    json_t *once = train_config_to_json(c);
    FUZZ_CHECK(once != NULL);
    train_config back, copy;
    FUZZ_CHECK(train_config_parse(&back, once, &err) == 0);
    json_t *twice = train_config_to_json(&back);
    FUZZ_CHECK(json_equal(once, twice));
    FUZZ_CHECK(train_config_copy(&copy, c, &err) == 0);
    json_t *copied = train_config_to_json(&copy);
    FUZZ_CHECK(json_equal(once, copied));
    json_decref(once);
    json_decref(twice);
    json_decref(copied);
    train_config_free(&back);
    train_config_free(&copy);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    json_t *root = json_loadb((const char *)data, size, JSON_REJECT_DUPLICATES, NULL);
    if (!root)
        return 0;
    static const char *const own[] = {"name", "train_dataset", "train_tsv", "dev_dataset", "dev_tsv"};
    for (size_t i = 0; json_is_object(root) && i < sizeof own / sizeof own[0]; i++)
        json_object_del(root, own[i]);
    train_config c;
    pt_err err;
    pt_err_clear(&err);
    int rc = train_config_parse(&c, root, &err);
    json_decref(root);
    if (rc) {
        fuzz_check_err(rc, &err);
        train_config_free(&c);
        return 0;
    }
    check_ranges(&c);
    check_round_trip(&c);
    pt_err_clear(&err);
    rc = train_config_check(&c, model, &err);
    if (rc)
        fuzz_check_err(rc, &err);
    train_config_free(&c);
    return 0;
}
