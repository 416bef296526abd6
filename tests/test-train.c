/* Tests for core/train (and core/classify, core/adapter end to end) on generated random-weight models:
 * config parsing and its errors, the batch gradient against finite differences (class and vocab
 * losses), the synthetic-task proof (64 rows -> >= 70% on 200 held-out rows), bit-identical
 * determinism, cancel, patience, unknown dev labels, the encoders, and export -> `ptune classify` in
 * another process giving identical scores. Models come from `ptune init-model` (PTUNE_BIN). */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "adapter.h"
#include "classify.h"
#include "rng.h"
#include "train.h"
#include "utf8.h"

/* ---- config ---- */

static int parse(const char *text, train_config *c, pt_err *e)
{
    json_error_t je;
    json_t *j = json_loads(text, 0, &je);
    if (!j)
        fail_msg("bad test JSON %s: %s", text, je.text);
    pt_err_clear(e);
    int rc = train_config_parse(c, j, e);
    json_decref(j);
    return rc;
}

static void test_config_defaults_and_keys(void **state)
{
    (void)state;
    train_config c;
    pt_err e;
    assert_int_equal(parse("{}", &c, &e), 0);
    assert_null(c.template_src);
    assert_int_equal(c.encoder, PROMPT_NONE);
    assert_int_equal(c.encoder_hidden, 128);
    assert_int_equal(c.loss, TRAIN_LOSS_CLASS);
    assert_int_equal(c.epochs, 10);
    assert_int_equal(c.batch_size, 8);
    assert_true(c.lr == 1e-2);
    assert_true(c.beta1 == 0.9 && c.beta2 == 0.999);
    assert_true(c.weight_decay == 0.01 && c.warmup == 0.06 && c.max_grad_norm == 1.0);
    assert_int_equal(c.max_seq_len, 128);
    assert_int_equal(c.patience, 0);
    assert_int_equal(c.seed, 42);
    assert_int_equal(c.verb.n_labels, 0);
    train_config_free(&c);

    const char *all = "{\"template\": \"{prompt:3}{text}{mask}\", \"verbalizer\": {\"a\": [\"x\"], \"b\": [\"y\", \"z\"]},"
                      " \"encoder\": \"lstm\", \"encoder_hidden\": 32, \"init\": \"random\", \"loss\": \"vocab\","
                      " \"epochs\": 3, \"batch_size\": 4, \"lr\": 0.5, \"betas\": [0.8, 0.99], \"weight_decay\": 0,"
                      " \"warmup\": 0.1, \"max_grad_norm\": 0, \"max_seq_len\": 64, \"patience\": 2, \"seed\": 7}";
    assert_int_equal(parse(all, &c, &e), 0);
    assert_string_equal(c.template_src, "{prompt:3}{text}{mask}");
    assert_int_equal(c.verb.n_labels, 2);
    assert_string_equal(c.verb.words[1][1], "z");
    assert_int_equal(c.encoder, PROMPT_LSTM);
    assert_string_equal(c.init, "random");
    assert_int_equal(c.loss, TRAIN_LOSS_VOCAB);
    assert_true(c.lr == 0.5 && c.beta1 == 0.8 && c.beta2 == 0.99 && c.warmup == 0.1);
    assert_int_equal(c.seed, 7);
    /* to_json -> parse gives the same config */
    json_t *j = train_config_to_json(&c);
    train_config d;
    assert_int_equal(train_config_parse(&d, j, &e), 0);
    json_t *k = train_config_to_json(&d);
    assert_true(json_equal(j, k));
    json_decref(j);
    json_decref(k);
    train_config copy;
    assert_int_equal(train_config_copy(&copy, &d, &e), 0);
    assert_string_equal(copy.init, "random");
    assert_string_equal(copy.verb.labels[1], "b");
    train_config_free(&copy);
    train_config_free(&d);
    train_config_free(&c);
}

static void expect_key_error(const char *text, const char *field, const char *needle)
{
    train_config c;
    pt_err e;
    assert_int_equal(parse(text, &c, &e), PT_EINVAL);
    assert_string_equal(e.field, field);
    if (!strstr(e.msg, needle))
        fail_msg("%s: message '%s' lacks '%s'", text, e.msg, needle);
    train_config_free(&c);
}

static void test_config_errors_name_the_key(void **state)
{
    (void)state;
    expect_key_error("{\"lrr\": 1}", "lrr", "config key \"lrr\": unknown key");
    expect_key_error("{\"lr\": \"big\"}", "lr", "config key \"lr\": expected a number in (0, 10]");
    expect_key_error("{\"lr\": 0}", "lr", "expected a number");
    expect_key_error("{\"epochs\": 2.5}", "epochs", "config key \"epochs\": expected an integer in 1..10000");
    expect_key_error("{\"epochs\": 10001}", "epochs", "config key \"epochs\": expected an integer in 1..10000");
    train_config at_limit;
    pt_err limit_err;
    assert_int_equal(parse("{\"epochs\": 10000}", &at_limit, &limit_err), 0);
    assert_int_equal(at_limit.epochs, 10000);
    train_config_free(&at_limit);
    expect_key_error("{\"batch_size\": 0}", "batch_size", "expected an integer");
    expect_key_error("{\"encoder\": \"gru\"}", "encoder", "expected \"none\", \"mlp\" or \"lstm\"");
    expect_key_error("{\"loss\": 1}", "loss", "expected \"class\" or \"vocab\"");
    expect_key_error("{\"betas\": [0.9]}", "betas", "expected [beta1, beta2]");
    expect_key_error("{\"betas\": [0.9, 1.0]}", "betas", "[0, 1)");
    expect_key_error("{\"warmup\": 1}", "warmup", "[0, 1)");
    expect_key_error("{\"template\": \"\"}", "template", "non-empty string");
    expect_key_error("{\"init\": 3}", "init", "non-empty string");
    expect_key_error("{\"seed\": -1}", "seed", "expected an integer");
    expect_key_error("{\"verbalizer\": [\"a\"]}", "verbalizer", "verbalizer: expected an object");
    expect_key_error("{\"patience\": true}", "patience", "expected an integer");
    train_config c;
    pt_err e;
    json_t *arr = json_array();
    assert_int_equal(train_config_parse(&c, arr, &e), PT_EINVAL);
    assert_string_equal(e.msg, "config: expected a JSON object");
    json_decref(arr);
}

/* ---- models and data ---- */

typedef struct world {
    char dir[4096], other[4096];
    bert_model *m, *m_other;
    tsv_data train, test;
} world;

static world W;

static int make_model(const char *dir, int seed)
{
    char cmd[9000];
    snprintf(cmd, sizeof cmd,
             "'%s' init-model --out '%s' --layers 2 --hidden 64 --heads 4 --intermediate 128 --cjk-vocab --seed %d "
             "--std 0.15 >/dev/null",
             getenv("PTUNE_BIN"), dir, seed);
    return system(cmd);
}

/* Texts of 5..20 random CJK characters with 好 (label 正) or 差 (label 负) at a random place. */
static void synthetic(tsv_data *d, int n, uint64_t seed)
{
    rng r;
    rng_seed(&r, seed);
    size_t cap = (size_t)n * 100, len = 0;
    char *buf = malloc(cap);
    for (int i = 0; i < n; i++) {
        bool pos = i % 2 == 0;
        len += (size_t)sprintf(buf + len, "%s\t", pos ? "正" : "负");
        int k = 5 + (int)rng_below(&r, 16), at = (int)rng_below(&r, (uint64_t)k + 1);
        for (int j = 0; j <= k; j++) {
            uint32_t cp;
            if (j == at)
                cp = pos ? 0x597D : 0x5DEE; /* 好 差 */
            else
                do
                    cp = 0x4E00 + (uint32_t)rng_below(&r, 0x9FA6 - 0x4E00);
                while (cp == 0x597D || cp == 0x5DEE);
            len += utf8_encode(cp, buf + len);
        }
        buf[len++] = '\n';
    }
    pt_err e;
    assert_int_equal(tsv_parse(d, buf, len, &e), 0);
    free(buf);
}

static int setup_world(void **state)
{
    (void)state;
    const char *tmp = getenv("PTUNE_TMP");
    snprintf(W.dir, sizeof W.dir, "%s/test-train-model-%d", tmp, (int)getpid());
    snprintf(W.other, sizeof W.other, "%s/test-train-other-%d", tmp, (int)getpid());
    pt_err e;
    if (make_model(W.dir, 1) || make_model(W.other, 2) || bert_load(&W.m, W.dir, &e) ||
        bert_load(&W.m_other, W.other, &e))
        return -1;
    synthetic(&W.train, 64, 11);
    synthetic(&W.test, 200, 12);
    return 0;
}

static void rm_model(const char *dir)
{
    const char *files[] = {"config.json", "vocab.txt", "tokenizer_config.json", "model.safetensors"};
    char p[8192];
    for (size_t i = 0; i < 4; i++) {
        snprintf(p, sizeof p, "%s/%s", dir, files[i]);
        remove(p);
    }
    rmdir(dir);
}

static int teardown_world(void **state)
{
    (void)state;
    bert_free(W.m);
    bert_free(W.m_other);
    tsv_free(&W.train);
    tsv_free(&W.test);
    rm_model(W.dir);
    rm_model(W.other);
    return 0;
}

static train_config config_of(const char *json)
{
    train_config c;
    pt_err e;
    if (parse(json, &c, &e))
        fail_msg("config %s: %s", json, e.msg);
    return c;
}

/* ---- gradient ---- */

static void check_batch_gradient(train_loss kind)
{
    const bert_model *m = W.m;
    verbalizer v;
    pt_err e;
    pt_err_clear(&e);
    const char verb[] = "正\t好\n负\t差,不好\n";
    assert_int_equal(verbalizer_parse(&v, verb, sizeof verb - 1, &e), 0);
    template_task *t;
    assert_int_equal(template_compile(&t, "{prompt:2}{text}{prompt:2}是{mask}", &v, &m->tok, 64, &e), 0);
    assert_int_equal(t->n_mask, 2);
    template_row rows[3];
    const template_row *rp[3];
    int gold[3] = {0, 1, 1};
    for (int i = 0; i < 3; i++) {
        const char *s = W.train.rows[i].text;
        assert_int_equal(template_encode(t, s, strlen(s), &rows[i], &e), 0);
        rp[i] = &rows[i];
    }
    size_t nh = (size_t)t->n_prompt * 64;
    float *vec = malloc(nh * sizeof *vec), *grad = malloc(nh * sizeof *grad), *tmp = malloc(nh * sizeof *tmp);
    rng r;
    rng_seed(&r, 3);
    for (size_t k = 0; k < nh; k++)
        vec[k] = (float)(0.3 * rng_normal(&r));
    bert_ws *ws = bert_ws_new();
    double loss, lp, lm;
    assert_int_equal(train_batch_loss(m, ws, t, kind, rp, gold, 3, vec, &loss, grad, &e), 0);
    assert_true(loss > 0);
    double gmax = 0, worst = 0;
    for (size_t k = 0; k < nh; k++)
        gmax = fmax(gmax, fabs(grad[k]));
    assert_true(gmax > 1e-4);
    const float eps = 1e-2f;
    for (size_t k = 0; k < nh; k += 7) {
        float keep = vec[k];
        vec[k] = keep + eps;
        assert_int_equal(train_batch_loss(m, ws, t, kind, rp, gold, 3, vec, &lp, tmp, &e), 0);
        vec[k] = keep - eps;
        assert_int_equal(train_batch_loss(m, ws, t, kind, rp, gold, 3, vec, &lm, tmp, &e), 0);
        vec[k] = keep;
        worst = fmax(worst, fabs((lp - lm) / (2 * eps) - grad[k]));
    }
    print_message("%s loss %.4f: max |fd - grad| = %.3g, max |grad| = %.3g\n", kind == TRAIN_LOSS_CLASS ? "class" : "vocab",
                  loss, worst, gmax);
    assert_true(worst < 2e-3 * gmax);
    bert_ws_free(ws);
    for (int i = 0; i < 3; i++)
        template_row_free(&rows[i]);
    free(vec);
    free(grad);
    free(tmp);
    template_free(t);
    verbalizer_free(&v);
}

static void test_class_loss_gradient_matches_finite_differences(void **state)
{
    (void)state;
    check_batch_gradient(TRAIN_LOSS_CLASS);
}

static void test_vocab_loss_gradient_matches_finite_differences(void **state)
{
    (void)state;
    check_batch_gradient(TRAIN_LOSS_VOCAB);
}

/* ---- the proof: P-tuning learns the synthetic task through a random backbone ---- */

static double accuracy_on(const train_result *r, const tsv_data *d, const char *template_src)
{
    pt_err e;
    pt_err_clear(&e);
    template_task *t;
    assert_int_equal(template_compile(&t, template_src, &r->verb, &W.m->tok, 128, &e), 0);
    bert_ws *ws = bert_ws_new();
    metrics met;
    assert_int_equal(classify_eval(W.m, ws, t, &r->verb, r->vectors, d->rows, d->n_rows, &met, NULL, &e), 0);
    double acc = met.accuracy;
    assert_int_equal(met.n, d->n_rows);
    metrics_free(&met);
    bert_ws_free(ws);
    template_free(t);
    return acc;
}

static void test_learns_synthetic_task(void **state)
{
    (void)state;
    train_config c = config_of("{\"epochs\": 20, \"lr\": 0.03}");
    train_result r;
    pt_err e;
    pt_err_clear(&e);
    assert_int_equal(train_run(W.m, W.train.rows, W.train.n_rows, NULL, 0, &c, NULL, NULL, &r, &e), 0);
    assert_int_equal(r.epochs_run, 20);
    assert_int_equal(r.best_epoch, 20); /* without dev rows the last prompt is kept */
    assert_false(r.has_dev);
    /* labels sorted: 正 (U+6B63) before 负 (U+8D1F) */
    assert_string_equal(r.verb.labels[0], "正");
    double after = accuracy_on(&r, &W.test, TEMPLATE_DEFAULT);
    print_message("synthetic: held-out accuracy %.3f, training loss %.4f -> %.4f\n", after, r.curve[0].loss,
                  r.curve[19].loss);
    assert_true(after >= 0.70);
    assert_true(r.curve[19].loss < 0.5 * r.curve[0].loss);
    train_result_free(&r);
    train_config_free(&c);
}

static void test_same_seed_bit_identical_prompt(void **state)
{
    (void)state;
    train_config c = config_of("{\"epochs\": 2, \"encoder\": \"mlp\", \"encoder_hidden\": 16}");
    train_result a, b, d;
    pt_err e;
    assert_int_equal(train_run(W.m, W.train.rows, W.train.n_rows, NULL, 0, &c, NULL, NULL, &a, &e), 0);
    assert_int_equal(train_run(W.m, W.train.rows, W.train.n_rows, NULL, 0, &c, NULL, NULL, &b, &e), 0);
    size_t nh = (size_t)a.n_prompt * (size_t)a.hidden;
    assert_memory_equal(a.vectors, b.vectors, nh * sizeof(float));
    c.seed = 43;
    assert_int_equal(train_run(W.m, W.train.rows, W.train.n_rows, NULL, 0, &c, NULL, NULL, &d, &e), 0);
    assert_true(memcmp(a.vectors, d.vectors, nh * sizeof(float)) != 0);
    train_result_free(&a);
    train_result_free(&b);
    train_result_free(&d);
    train_config_free(&c);
}

typedef struct seen {
    int calls, epoch_ends, cancel_at;
    long last_step, total;
    int dev_seen;
} seen;

static int watch(const train_progress *p, void *user)
{
    seen *s = user;
    s->calls++;
    s->total = p->total_steps;
    if (p->epoch_end) {
        s->epoch_ends++;
        s->dev_seen += p->dev != NULL;
    } else {
        assert_int_equal(p->step, s->last_step + 1);
        s->last_step = p->step;
        assert_true(p->loss > 0);
        assert_true(p->elapsed >= 0 && p->eta >= 0);
    }
    return s->cancel_at && p->step == s->cancel_at;
}

static void test_progress_and_cancel(void **state)
{
    (void)state;
    train_config c = config_of("{\"epochs\": 3, \"batch_size\": 16}");
    train_result r;
    pt_err e;
    seen s = {0};
    assert_int_equal(train_run(W.m, W.train.rows, W.train.n_rows, NULL, 0, &c, watch, &s, &r, &e), 0);
    assert_int_equal(s.total, 12);
    assert_int_equal(s.last_step, 12);
    assert_int_equal(s.epoch_ends, 3);
    assert_int_equal(s.calls, 15);
    assert_int_equal(s.dev_seen, 0);
    train_result_free(&r);

    seen t = {.cancel_at = 5};
    pt_err_clear(&e);
    assert_int_equal(train_run(W.m, W.train.rows, W.train.n_rows, NULL, 0, &c, watch, &t, &r, &e), PT_ECANCELLED);
    assert_string_equal(e.msg, "training cancelled after step 5 of 12 (epoch 2)");
    assert_int_equal(t.last_step, 5);
    assert_null(r.vectors);
    train_config_free(&c);
}

/* With a learning rate too small to change any prediction, dev macro-F1 never improves after epoch 1:
 * patience 2 stops after epoch 3 and keeps epoch 1. Dev rows with a label the task lacks are counted. */
static void test_patience_and_unknown_dev_labels(void **state)
{
    (void)state;
    train_config c = config_of("{\"epochs\": 10, \"lr\": 1e-9, \"patience\": 2}");
    tsv_data dev;
    pt_err e;
    pt_err_clear(&e);
    const char text[] = "正\t好吃好吃\n负\t很差\n中\t不知道\n中\t还行\n";
    assert_int_equal(tsv_parse(&dev, text, sizeof text - 1, &e), 0);
    train_result r;
    seen s = {0};
    assert_int_equal(train_run(W.m, W.train.rows, W.train.n_rows, dev.rows, dev.n_rows, &c, watch, &s, &r, &e), 0);
    assert_int_equal(r.epochs_run, 3);
    assert_int_equal(r.best_epoch, 1);
    assert_true(r.has_dev);
    assert_int_equal(r.dev.n, 2);
    assert_int_equal(r.dev.n_unknown, 2);
    assert_int_equal(s.dev_seen, 3);
    assert_true(r.curve[2].dev_macro_f1 == r.curve[0].dev_macro_f1);
    json_t *curve = train_curve_to_json(&r);
    assert_int_equal(json_array_size(curve), 3);
    assert_int_equal(json_integer_value(json_object_get(json_array_get(curve, 2), "epoch")), 3);
    json_decref(curve);
    train_result_free(&r);
    tsv_free(&dev);
    train_config_free(&c);
}

static void test_bad_inputs_are_named(void **state)
{
    (void)state;
    train_result r;
    pt_err e;
    pt_err_clear(&e);
    train_config c = config_of("{\"verbalizer\": {\"正\": [\"好\"], \"负\": [\"差\"]}}");
    tsv_data d;
    const char text[] = "正\t好\n\n中\t差\n";
    assert_int_equal(tsv_parse(&d, text, sizeof text - 1, &e), 0);
    assert_int_equal(train_run(W.m, d.rows, d.n_rows, NULL, 0, &c, NULL, NULL, &r, &e), PT_EINVAL);
    assert_string_equal(e.msg, "training line 3: label \"中\" is not in the verbalizer");
    assert_int_equal(e.line, 3);
    tsv_free(&d);
    train_config_free(&c);

    c = config_of("{\"max_seq_len\": 1024}");
    assert_int_equal(train_config_check(&c, W.m, &e), PT_EINVAL);
    assert_string_equal(e.field, "max_seq_len");
    assert_non_null(strstr(e.msg, "above the model's max_position_embeddings 512"));
    assert_int_equal(train_run(W.m, W.train.rows, W.train.n_rows, NULL, 0, &c, NULL, NULL, &r, &e), PT_EINVAL);
    train_config_free(&c);

    c = config_of("{\"template\": \"{prompt:2}{text}\"}");
    assert_int_equal(train_config_check(&c, W.m, &e), PT_EINVAL);
    assert_string_equal(e.field, "template");
    train_config_free(&c);

    c = config_of("{\"template\": \"{prompt:100}{text}{mask}\"}"); /* only [unused1..99] */
    assert_int_equal(train_config_check(&c, W.m, &e), PT_EINVAL);
    assert_string_equal(e.field, "init");
    assert_non_null(strstr(e.msg, "[unused100]"));
    train_config_free(&c);

    c = config_of("{}");
    const char one[] = "正\t好\n正\t好好\n";
    assert_int_equal(tsv_parse(&d, one, sizeof one - 1, &e), 0);
    assert_int_equal(train_run(W.m, d.rows, d.n_rows, NULL, 0, &c, NULL, NULL, &r, &e), PT_EINVAL);
    assert_non_null(strstr(e.msg, "only one label"));
    assert_int_equal(train_run(W.m, d.rows, 0, NULL, 0, &c, NULL, NULL, &r, &e), PT_EINVAL);
    assert_string_equal(e.msg, "no training rows");
    tsv_free(&d);
    train_config_free(&c);
}

/* Every encoder and init trains (a few steps) to finite vectors that moved away from the start. */
static void test_encoders_and_inits(void **state)
{
    (void)state;
    const char *configs[] = {
        "{\"epochs\": 1, \"encoder\": \"mlp\", \"encoder_hidden\": 32, \"loss\": \"vocab\"}",
        "{\"epochs\": 1, \"encoder\": \"lstm\", \"init\": \"random\"}",
        "{\"epochs\": 1, \"init\": \"好差好\", \"template\": \"{prompt:3}{text}{mask}\"}",
    };
    for (size_t i = 0; i < 3; i++) {
        train_config c = config_of(configs[i]);
        train_result r;
        pt_err e;
        pt_err_clear(&e);
        if (train_run(W.m, W.train.rows, W.train.n_rows, NULL, 0, &c, NULL, NULL, &r, &e))
            fail_msg("%s: %s", configs[i], e.msg);
        size_t nh = (size_t)r.n_prompt * (size_t)r.hidden;
        for (size_t k = 0; k < nh; k++)
            assert_true(isfinite(r.vectors[k]));
        if (i == 2) {
            /* init text: 3 prompts seeded with 好 差 好, one epoch of steps of at most lr each away */
            int32_t hao = vocab_id(W.m->vocab, "好", 3);
            double moved = 0;
            for (size_t k = 0; k < 64; k++)
                moved = fmax(moved, fabs(r.vectors[2 * 64 + k] - W.m->word_emb[(size_t)hao * 64 + k]));
            /* Adam moves a coordinate by at most lr (1 - beta1) / sqrt(1 - beta2) ~ 3.2 lr per step */
            assert_true(moved > 0 && moved < 8 * 0.01 * 3.2);
        }
        train_result_free(&r);
        train_config_free(&c);
    }
}

/* ---- export -> another process ---- */

static void test_export_then_cli_classify_gives_identical_scores(void **state)
{
    (void)state;
    train_config c = config_of("{\"epochs\": 3, \"lr\": 0.03, \"template\": \"{prompt:4}{text}{prompt:4}{mask}\"}");
    train_result r;
    pt_err e;
    pt_err_clear(&e);
    assert_int_equal(train_run(W.m, W.train.rows, W.train.n_rows, W.test.rows, 20, &c, NULL, NULL, &r, &e), 0);
    adapter a;
    assert_int_equal(adapter_from_train(&a, W.m, &c, &r, &e), 0);
    char out[4200], texts[4300], cmd[20000];
    snprintf(out, sizeof out, "%s/test-train-prompt-%d", getenv("PTUNE_TMP"), (int)getpid());
    snprintf(texts, sizeof texts, "%s.txt", out);
    assert_int_equal(adapter_save(&a, out, &e), 0);

    /* in process: the vectors training kept, through the adapter's own task */
    enum { N = 40 };
    classify_task *t;
    assert_int_equal(classify_task_new(&t, W.m, &a, &e), 0);
    const char *txt[N];
    FILE *fp = fopen(texts, "w");
    for (int i = 0; i < N; i++) {
        txt[i] = W.test.rows[100 + i].text;
        fprintf(fp, "%s\n", txt[i]);
    }
    fclose(fp);
    float probs[N * 2];
    bert_ws *ws = bert_ws_new();
    assert_int_equal(classify_texts(W.m, ws, t->tpl, t->vectors, txt, NULL, N, probs, NULL, &e), 0);
    assert_memory_equal(t->vectors, r.vectors, (size_t)r.n_prompt * 64 * sizeof(float));

    /* another process */
    snprintf(cmd, sizeof cmd, "'%s' classify --model '%s' --prompt '%s' < '%s'", getenv("PTUNE_BIN"), W.dir, out, texts);
    FILE *p = popen(cmd, "r");
    assert_non_null(p);
    char line[4096];
    int n = 0;
    while (fgets(line, sizeof line, p)) {
        json_error_t je;
        json_t *j = json_loads(line, 0, &je);
        if (!j)
            fail_msg("line %d not JSON: %s", n + 1, line);
        assert_true(n < N);
        json_t *scores = json_object_get(j, "scores");
        for (int l = 0; l < 2; l++) {
            float got = (float)json_real_value(json_object_get(scores, r.verb.labels[l]));
            if (got != probs[n * 2 + l])
                fail_msg("text %d label %d: CLI %.9g, in process %.9g", n, l, (double)got, (double)probs[n * 2 + l]);
        }
        int best = probs[n * 2 + 1] > probs[n * 2] ? 1 : 0;
        assert_string_equal(json_string_value(json_object_get(j, "label")), r.verb.labels[best]);
        assert_true((float)json_real_value(json_object_get(j, "score")) == probs[n * 2 + best]);
        json_decref(j);
        n++;
    }
    assert_int_equal(pclose(p), 0);
    assert_int_equal(n, N);

    /* a prompt is refused on another backbone */
    classify_task *t2;
    assert_int_equal(classify_task_new(&t2, W.m_other, &a, &e), PT_EMISMATCH);
    assert_non_null(strstr(e.msg, "only works with the backbone it was trained on"));

    /* the file round trip keeps the dev metrics and the curve */
    adapter b;
    assert_int_equal(adapter_load(&b, out, &e), 0);
    assert_true(json_real_value(json_object_get(b.metrics, "accuracy")) == r.dev.accuracy);
    assert_int_equal(json_array_size(b.curve), 3);
    adapter_free(&b);

    const char *files[] = {ADAPTER_MODEL_FILE, ADAPTER_CONFIG_FILE, ADAPTER_PTUNE_FILE};
    for (int i = 0; i < 3; i++) {
        snprintf(cmd, sizeof cmd, "%s/%s", out, files[i]);
        remove(cmd);
    }
    rmdir(out);
    remove(texts);
    bert_ws_free(ws);
    classify_task_free(t);
    adapter_free(&a);
    train_result_free(&r);
    train_config_free(&c);
}

int main(void)
{
    const struct CMUnitTest config_tests[] = {
        cmocka_unit_test(test_config_defaults_and_keys),
        cmocka_unit_test(test_config_errors_name_the_key),
    };
    const struct CMUnitTest model_tests[] = {
        cmocka_unit_test(test_class_loss_gradient_matches_finite_differences),
        cmocka_unit_test(test_vocab_loss_gradient_matches_finite_differences),
        cmocka_unit_test(test_learns_synthetic_task),
        cmocka_unit_test(test_same_seed_bit_identical_prompt),
        cmocka_unit_test(test_progress_and_cancel),
        cmocka_unit_test(test_patience_and_unknown_dev_labels),
        cmocka_unit_test(test_bad_inputs_are_named),
        cmocka_unit_test(test_encoders_and_inits),
        cmocka_unit_test(test_export_then_cli_classify_gives_identical_scores),
    };
    int failed = cmocka_run_group_tests(config_tests, NULL, NULL);
    if (!getenv("PTUNE_BIN") || !getenv("PTUNE_TMP")) {
        printf("test-train: skipped the model tests: PTUNE_BIN and PTUNE_TMP are not set (run through make test)\n");
        return failed ? failed : 77;
    }
    return failed + cmocka_run_group_tests(model_tests, setup_world, teardown_world);
}
