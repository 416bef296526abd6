/* Unit tests for core/bert's forward and backward passes: agreement with the float64 PyTorch
 * reference fixtures (tests/fixtures/bert, written by tests/reference/make_fixtures.py), packing
 * independence, workspace reuse, threads sharing one model, finite differences of the backward,
 * and the validation errors. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>
#include <jansson.h>
#include <math.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "bert.h"
#include "gemm.h"

static char fixtures[1024];

/* A fixture case: the request as bert_rows plus the reference answers. */
typedef struct fcase {
    json_t *req, *want;
    int n_rows, n_masks;
    bert_row *rows;
    int32_t *ints;  /* all integer arrays of the rows */
    float *vectors; /* all prompt vectors */
    int *targets;   /* per mask row, or NULL */
} fcase;

static int32_t *ints_of(json_t *a, int32_t **cursor, int *n)
{
    int32_t *start = *cursor;
    *n = (int)json_array_size(a);
    for (int i = 0; i < *n; i++)
        *(*cursor)++ = (int32_t)json_integer_value(json_array_get(a, (size_t)i));
    return start;
}

static void case_load(fcase *c, const char *model, const char *name, int H)
{
    char path[1200];
    snprintf(path, sizeof path, "%s/%s/cases/%s.request.json", fixtures, model, name);
    c->req = json_load_file(path, 0, NULL);
    snprintf(path, sizeof path, "%s/%s/cases/%s.expected.json", fixtures, model, name);
    c->want = json_load_file(path, 0, NULL);
    assert_non_null(c->req);
    assert_non_null(c->want);
    json_t *ids = json_object_get(c->req, "input_ids"), *types = json_object_get(c->req, "token_type_ids");
    json_t *masks = json_object_get(c->req, "mask_positions"), *targets = json_object_get(c->req, "targets");
    json_t *prompt = json_object_get(c->req, "prompt");
    c->n_rows = (int)json_array_size(ids);
    c->rows = calloc((size_t)c->n_rows, sizeof *c->rows);
    c->ints = malloc(4 * 4096 * sizeof *c->ints);
    c->vectors = malloc(256 * (size_t)H * sizeof *c->vectors);
    c->targets = malloc(256 * sizeof *c->targets);
    int32_t *cur = c->ints;
    float *vec = c->vectors;
    c->n_masks = 0;
    for (int r = 0; r < c->n_rows; r++) {
        bert_row *row = &c->rows[r];
        int n;
        row->ids = ints_of(json_array_get(ids, (size_t)r), &cur, &row->len);
        if (types)
            row->type_ids = ints_of(json_array_get(types, (size_t)r), &cur, &n);
        row->mask_pos = ints_of(json_array_get(masks, (size_t)r), &cur, &row->n_mask);
        for (int j = 0; targets && j < row->n_mask; j++)
            c->targets[c->n_masks + j] = (int)json_integer_value(json_array_get(json_array_get(targets, r), j));
        c->n_masks += row->n_mask;
        if (prompt) {
            row->prompt_pos = ints_of(json_array_get(json_object_get(prompt, "positions"), r), &cur, &row->n_prompt);
            json_t *vs = json_array_get(json_object_get(prompt, "vectors"), (size_t)r);
            row->prompt_vec = vec;
            for (int j = 0; j < row->n_prompt; j++)
                for (int i = 0; i < H; i++)
                    *vec++ = (float)json_number_value(json_array_get(json_array_get(vs, j), i));
        }
    }
    assert_true(cur - c->ints < 4 * 4096);
    if (!targets) {
        free(c->targets);
        c->targets = NULL;
    }
}

static void case_free(fcase *c)
{
    json_decref(c->req);
    json_decref(c->want);
    free(c->rows);
    free(c->ints);
    free(c->vectors);
    free(c->targets);
}

static bert_model *load_model(const char *name)
{
    char dir[1200];
    snprintf(dir, sizeof dir, "%s/%s", fixtures, name);
    bert_model *m = NULL;
    pt_err err;
    pt_err_clear(&err);
    int rc = bert_load(&m, dir, &err);
    if (rc)
        print_error("bert_load %s: %s\n", dir, err.msg);
    assert_int_equal(rc, 0);
    return m;
}

/* Largest |got - want| over a JSON array nest, and the largest |want|. */
static void diff_json(json_t *want, const float **got, double *err, double *scale)
{
    if (json_is_array(want)) {
        for (size_t i = 0; i < json_array_size(want); i++)
            diff_json(json_array_get(want, i), got, err, scale);
        return;
    }
    double w = json_number_value(want);
    *err = fmax(*err, fabs(**got - w));
    *scale = fmax(*scale, fabs(w));
    (*got)++;
}

static void assert_close_json(const char *what, json_t *want, const float *got)
{
    double err = 0, scale = 1;
    diff_json(want, &got, &err, &scale);
    if (err > 1e-4 * scale)
        print_error("%s: max error %.3g exceeds %.3g\n", what, err, 1e-4 * scale);
    assert_true(err <= 1e-4 * scale);
}

/* d loss / d logits of the summed cross-entropy, and the loss. */
static double cross_entropy(const float *logits, const int *targets, int n, int V, float *d)
{
    double loss = 0;
    for (int i = 0; i < n; i++) {
        const float *l = logits + (size_t)i * V;
        double mx = l[0], z = 0;
        for (int v = 1; v < V; v++)
            mx = fmax(mx, l[v]);
        for (int v = 0; v < V; v++)
            z += exp(l[v] - mx);
        for (int v = 0; v < V; v++)
            d[(size_t)i * V + v] = (float)(exp(l[v] - mx) / z);
        d[(size_t)i * V + targets[i]] -= 1.0f;
        loss += mx + log(z) - l[targets[i]];
    }
    return loss;
}

static const char *const models[] = {"l3-h48-tied", "l2-h32-gamma-untied", "l2-h40-f16", "l1-h16-bf16"};
static const char *const cases[] = {"batch-no-prompt", "prompt-targets", "one-row-full-length",
                                    "prompt-no-types-no-targets", "targets-no-prompt"};
#define N_MODELS (int)(sizeof models / sizeof models[0])
#define N_CASES (int)(sizeof cases / sizeof cases[0])

static void test_matches_pytorch_reference(void **state)
{
    (void)state;
    for (int mi = 0; mi < N_MODELS; mi++) {
        bert_model *m = load_model(models[mi]);
        const int H = m->cfg.hidden_size, V = m->cfg.vocab_size;
        bert_ws *ws = bert_ws_new();
        for (int ci = 0; ci < N_CASES; ci++) {
            fcase c;
            case_load(&c, models[mi], cases[ci], H);
            float *logits = malloc(((size_t)c.n_masks * V + 1) * sizeof *logits);
            float *d = malloc(((size_t)c.n_masks * V + 1) * sizeof *d);
            pt_err err;
            pt_err_clear(&err);
            assert_int_equal(bert_forward_train(m, ws, c.rows, c.n_rows, logits, &err), 0);
            char what[256];
            snprintf(what, sizeof what, "%s/%s logits", models[mi], cases[ci]);
            assert_close_json(what, json_object_get(c.want, "logits"), logits);
            if (c.targets) {
                double loss = cross_entropy(logits, c.targets, c.n_masks, V, d);
                double want = json_number_value(json_object_get(c.want, "loss"));
                assert_true(fabs(loss - want) <= 1e-4 * fmax(1, fabs(want)));
            }
            json_t *pg = json_object_get(c.want, "prompt_grad");
            if (pg) {
                float *grads = calloc(256 * (size_t)H, sizeof *grads), *gp[64];
                float *g = grads;
                for (int r = 0; r < c.n_rows; r++) {
                    gp[r] = g;
                    g += (size_t)c.rows[r].n_prompt * H;
                }
                assert_int_equal(bert_backward(m, ws, d, gp, &err), 0);
                snprintf(what, sizeof what, "%s/%s prompt_grad", models[mi], cases[ci]);
                assert_close_json(what, pg, grads);
                /* the backward leaves the training state as it found it: a second call agrees */
                float *again = malloc(256 * (size_t)H * sizeof *again);
                memcpy(again, grads, 256 * (size_t)H * sizeof *again);
                assert_int_equal(bert_backward(m, ws, d, gp, &err), 0);
                assert_memory_equal(again, grads, 256 * (size_t)H * sizeof *again);
                free(again);
                free(grads);
            }
            free(logits);
            free(d);
            case_free(&c);
        }
        bert_ws_free(ws);
        bert_free(m);
    }
}

/* Each row of a batch gives the same logits as when it runs alone, and a workspace that has seen
 * a larger batch gives the same results as a fresh one. */
static void test_packing_and_workspace_reuse(void **state)
{
    (void)state;
    bert_model *m = load_model(models[0]);
    const int H = m->cfg.hidden_size, V = m->cfg.vocab_size;
    fcase c;
    case_load(&c, models[0], "prompt-targets", H);
    float *batch = malloc((size_t)c.n_masks * V * sizeof *batch), *alone = malloc((size_t)V * 8 * sizeof *alone);
    bert_ws *ws = bert_ws_new(), *fresh;
    assert_int_equal(bert_forward(m, ws, c.rows, c.n_rows, batch, NULL), 0);
    size_t off = 0;
    for (int r = 0; r < c.n_rows; r++) {
        fresh = bert_ws_new();
        assert_int_equal(bert_forward(m, fresh, &c.rows[r], 1, alone, NULL), 0);
        size_t n = (size_t)c.rows[r].n_mask * V;
        double err = 0;
        for (size_t i = 0; i < n; i++)
            err = fmax(err, fabs(alone[i] - batch[off + i]));
        assert_true(err <= 1e-5);
        /* the engine's own products sum every row in the same order whatever the batch: bit for bit
         * (OpenBLAS, used without AVX-512, need not) */
        if (gemm_ok())
            assert_memory_equal(alone, batch + off, n * sizeof *alone);
        /* the workspace warmed by the whole batch, reused for one row: bit for bit */
        float *again = malloc((n + 1) * sizeof *again);
        assert_int_equal(bert_forward(m, ws, &c.rows[r], 1, again, NULL), 0);
        assert_memory_equal(again, alone, n * sizeof *again);
        free(again);
        bert_ws_free(fresh);
        off += n;
    }
    free(batch);
    free(alone);
    bert_ws_free(ws);
    case_free(&c);
    bert_free(m);
}

/* A batch of more tokens than inference keeps FFN activations for (512): the chunked FFN must give
 * what the unchunked training forward and each row alone give. */
static void test_large_batch_chunks_the_ffn(void **state)
{
    (void)state;
    bert_model *m = load_model("l3-h48-tied");
    enum { ROWS = 24, LEN = 40 }; /* 960 tokens: a chunk of 512 and one of 448 */
    const int V = m->cfg.vocab_size;
    int32_t *ids = malloc(ROWS * LEN * sizeof *ids), mask_pos[ROWS];
    bert_row rows[ROWS];
    uint32_t st = 7;
    for (int r = 0; r < ROWS; r++) {
        for (int t = 0; t < LEN; t++) {
            st = st * 1664525u + 1013904223u;
            ids[r * LEN + t] = (int32_t)((st >> 8) % (uint32_t)V);
        }
        mask_pos[r] = (r * 7) % LEN;
        rows[r] = (bert_row){.ids = ids + r * LEN, .len = LEN, .mask_pos = &mask_pos[r], .n_mask = 1};
    }
    float *infer = malloc((size_t)ROWS * V * sizeof *infer), *train = malloc((size_t)ROWS * V * sizeof *train);
    float *alone = malloc((size_t)V * sizeof *alone);
    bert_ws *ws = bert_ws_new(), *one = bert_ws_new();
    assert_int_equal(bert_forward(m, ws, rows, ROWS, infer, NULL), 0);
    assert_int_equal(bert_forward_train(m, ws, rows, ROWS, train, NULL), 0);
    double err = 0, big = 0;
    for (size_t i = 0; i < (size_t)ROWS * V; i++) {
        err = fmax(err, fabs(infer[i] - train[i]));
        big = fmax(big, fabs(train[i]));
    }
    for (int r = 0; r < ROWS; r += 5) {
        assert_int_equal(bert_forward(m, one, &rows[r], 1, alone, NULL), 0);
        for (int i = 0; i < V; i++)
            err = fmax(err, fabs(alone[i] - infer[(size_t)r * V + i]));
    }
    assert_true(big > 0.1);
    assert_true(err <= 1e-5 * fmax(1.0, big));
    free(ids);
    free(infer);
    free(train);
    free(alone);
    bert_ws_free(ws);
    bert_ws_free(one);
    bert_free(m);
}

typedef struct job {
    const bert_model *m;
    const fcase *c;
    float *logits;
    int rc;
} job;

static void *run_job(void *arg)
{
    job *j = arg;
    bert_ws *ws = bert_ws_new();
    for (int i = 0; i < 3 && !j->rc; i++)
        j->rc = bert_forward(j->m, ws, j->c->rows, j->c->n_rows, j->logits, NULL);
    bert_ws_free(ws);
    return NULL;
}

static void test_threads_share_one_model(void **state)
{
    (void)state;
    bert_model *m = load_model(models[1]);
    const int V = m->cfg.vocab_size;
    fcase c;
    case_load(&c, models[1], "batch-no-prompt", m->cfg.hidden_size);
    job jobs[3];
    pthread_t tid[3];
    for (int i = 0; i < 3; i++) {
        jobs[i] = (job){m, &c, malloc((size_t)c.n_masks * V * sizeof(float)), 0};
        assert_int_equal(pthread_create(&tid[i], NULL, run_job, &jobs[i]), 0);
    }
    for (int i = 0; i < 3; i++) {
        pthread_join(tid[i], NULL);
        assert_int_equal(jobs[i].rc, 0);
    }
    assert_close_json("threaded logits", json_object_get(c.want, "logits"), jobs[0].logits);
    for (int i = 1; i < 3; i++)
        assert_memory_equal(jobs[i].logits, jobs[0].logits, (size_t)c.n_masks * V * sizeof(float));
    for (int i = 0; i < 3; i++)
        free(jobs[i].logits);
    case_free(&c);
    bert_free(m);
}

/* d loss / d prompt from bert_backward against central differences of bert_forward, for the
 * loss sum(w * logits) with fixed random w, on every coordinate of two prompt vectors and along a
 * random direction over all of them. */
static double weighted(const bert_model *m, bert_ws *ws, const fcase *c, const float *w, float *logits)
{
    assert_int_equal(bert_forward(m, ws, c->rows, c->n_rows, logits, NULL), 0);
    double s = 0;
    for (size_t i = 0; i < (size_t)c->n_masks * m->cfg.vocab_size; i++)
        s += (double)w[i] * logits[i];
    return s;
}

static void test_backward_finite_differences(void **state)
{
    (void)state;
    for (int mi = 0; mi < N_MODELS; mi++) {
        bert_model *m = load_model(models[mi]);
        const int H = m->cfg.hidden_size, V = m->cfg.vocab_size;
        fcase c;
        case_load(&c, models[mi], "prompt-targets", H);
        const size_t nl = (size_t)c.n_masks * V;
        float *w = malloc(nl * sizeof *w), *logits = malloc(nl * sizeof *logits);
        uint64_t s = 12345 + mi;
        for (size_t i = 0; i < nl; i++) {
            s = s * 6364136223846793005ULL + 1442695040888963407ULL;
            w[i] = (float)((s >> 40) / 16777216.0 - 0.5);
        }
        bert_ws *ws = bert_ws_new(), *fw = bert_ws_new();
        assert_int_equal(bert_forward_train(m, ws, c.rows, c.n_rows, logits, NULL), 0);
        int n_prompt = 0;
        float *gp[64], *vec[64];
        for (int r = 0; r < c.n_rows; r++) {
            n_prompt += c.rows[r].n_prompt;
            gp[r] = malloc(((size_t)c.rows[r].n_prompt * H + 1) * sizeof(float));
            vec[r] = (float *)c.rows[r].prompt_vec;
        }
        assert_int_equal(bert_backward(m, ws, w, gp, NULL), 0);
        double gmax = 0;
        for (int r = 0; r < c.n_rows; r++)
            for (int i = 0; i < c.rows[r].n_prompt * H; i++)
                gmax = fmax(gmax, fabs(gp[r][i]));
        assert_true(gmax > 0.05);
        const float h = 1e-2f;
        /* every coordinate of the first prompt vector of rows 0 and 2 */
        for (int r = 0; r < 3; r += 2) {
            for (int i = 0; i < H; i++) {
                float keep = vec[r][i];
                vec[r][i] = keep + h;
                double lp = weighted(m, fw, &c, w, logits);
                vec[r][i] = keep - h;
                double lm = weighted(m, fw, &c, w, logits);
                vec[r][i] = keep;
                double fd = (lp - lm) / (2 * h);
                if (fabs(fd - gp[r][i]) > 2e-3 * gmax)
                    print_error("%s row %d coord %d: backward %.6g, finite difference %.6g\n", models[mi], r, i,
                                gp[r][i], fd);
                assert_true(fabs(fd - gp[r][i]) <= 2e-3 * gmax);
            }
        }
        /* a random direction over all prompt vectors: the directional derivative */
        double analytic = 0;
        float *dir[64];
        for (int r = 0; r < c.n_rows; r++) {
            dir[r] = malloc(((size_t)c.rows[r].n_prompt * H + 1) * sizeof(float));
            for (int i = 0; i < c.rows[r].n_prompt * H; i++) {
                s = s * 6364136223846793005ULL + 1442695040888963407ULL;
                dir[r][i] = (float)((s >> 40) / 16777216.0 - 0.5);
                analytic += (double)dir[r][i] * gp[r][i];
            }
        }
        double l[2];
        for (int sign = 0; sign < 2; sign++) {
            for (int r = 0; r < c.n_rows; r++)
                for (int i = 0; i < c.rows[r].n_prompt * H; i++)
                    vec[r][i] += (sign ? -2 : 1) * h * dir[r][i];
            l[sign] = weighted(m, fw, &c, w, logits);
        }
        for (int r = 0; r < c.n_rows; r++)
            for (int i = 0; i < c.rows[r].n_prompt * H; i++)
                vec[r][i] += h * dir[r][i];
        double fd = (l[0] - l[1]) / (2 * h);
        assert_true(fabs(fd - analytic) <= 2e-3 * fmax(1, fabs(analytic)));
        for (int r = 0; r < c.n_rows; r++) {
            free(gp[r]);
            free(dir[r]);
        }
        free(w);
        free(logits);
        bert_ws_free(ws);
        bert_ws_free(fw);
        case_free(&c);
        bert_free(m);
    }
}

static void expect_error(const bert_model *m, bert_ws *ws, const bert_row *rows, int n, const char *field,
                         const char *needle)
{
    float logits[4096];
    pt_err err;
    pt_err_clear(&err);
    assert_int_equal(bert_forward(m, ws, rows, n, logits, &err), PT_EINVAL);
    if (!strstr(err.msg, needle) || strcmp(err.field, field))
        print_error("expected field %s and \"%s\" in: [%s] %s\n", field, needle, err.field, err.msg);
    assert_non_null(strstr(err.msg, needle));
    assert_string_equal(err.field, field);
}

static void test_validation_errors(void **state)
{
    (void)state;
    bert_model *m = load_model(models[3]);
    const int V = m->cfg.vocab_size, P = m->cfg.max_position_embeddings;
    bert_ws *ws = bert_ws_new();
    int32_t ids[64] = {22, 30, 24, 23}, types[4] = {0, 0, 1, 1}, one[1] = {2}, two[2] = {1, 1}, far[1] = {4};
    float vec[32] = {0};
    bert_row ok = {.ids = ids, .len = 4, .type_ids = types, .mask_pos = one, .n_mask = 1};
    bert_row r = ok;
    float logits[4096];
    assert_int_equal(bert_forward(m, ws, &ok, 1, logits, NULL), 0);

    expect_error(m, ws, &ok, 0, "input_ids", "at least one row");
    r.len = 0;
    expect_error(m, ws, &r, 1, "input_ids", "row 0 is empty");
    r = ok;
    r.len = P + 1;
    expect_error(m, ws, &r, 1, "input_ids", "more than the model's");
    r = ok;
    ids[1] = V;
    expect_error(m, ws, &r, 1, "input_ids", "row 0 position 1: token id");
    ids[1] = -3;
    expect_error(m, ws, &r, 1, "input_ids", "outside the vocabulary");
    ids[1] = 30;
    types[3] = 2;
    expect_error(m, ws, &r, 1, "token_type_ids", "row 0 position 3: token type 2");
    types[3] = 1;
    r.mask_pos = far;
    expect_error(m, ws, &r, 1, "mask_positions", "outside the row");
    r.mask_pos = two;
    r.n_mask = 2;
    expect_error(m, ws, &r, 1, "mask_positions", "appears twice");
    r = ok;
    r.prompt_pos = far;
    r.prompt_vec = vec;
    r.n_prompt = 1;
    expect_error(m, ws, &r, 1, "prompt.positions", "outside the row");
    r.prompt_pos = one;
    r.prompt_vec = NULL;
    expect_error(m, ws, &r, 1, "prompt.vectors", "no vectors");
    bert_row pair[2] = {ok, ok};
    pair[1].n_mask = -1;
    expect_error(m, ws, pair, 2, "mask_positions", "row 1: negative");

    /* backward without a training forward, or after a failed one */
    pt_err err;
    pt_err_clear(&err);
    float *none[1] = {NULL};
    assert_int_equal(bert_backward(m, ws, logits, none, &err), PT_EINVAL);
    assert_int_equal(bert_forward_train(m, ws, &ok, 1, logits, NULL), 0);
    assert_int_equal(bert_forward_train(m, ws, &r, 1, logits, NULL), PT_EINVAL);
    assert_int_equal(bert_backward(m, ws, logits, none, &err), PT_EINVAL);
    assert_non_null(strstr(err.msg, "bert_forward_train"));
    bert_ws_free(ws);
    bert_free(m);
}

/* A batch without mask positions computes nothing and yields zero gradients. */
static void test_no_masks(void **state)
{
    (void)state;
    bert_model *m = load_model(models[0]);
    const int H = m->cfg.hidden_size;
    int32_t ids[5] = {22, 1, 30, 31, 23}, pos[1] = {1};
    float vec[48] = {0.5f}, grad[48];
    memset(grad, 0x7f, sizeof grad);
    bert_row row = {.ids = ids, .len = 5, .prompt_pos = pos, .prompt_vec = vec, .n_prompt = 1};
    bert_ws *ws = bert_ws_new();
    float *gp[1] = {grad};
    assert_int_equal(H, 48);
    assert_int_equal(bert_forward_train(m, ws, &row, 1, NULL, NULL), 0);
    assert_int_equal(bert_backward(m, ws, NULL, gp, NULL), 0);
    for (int i = 0; i < H; i++)
        assert_true(grad[i] == 0.0f);
    bert_ws_free(ws);
    bert_free(m);
}

int main(void)
{
    const char *src = getenv("PTUNE_SRC");
    if (!src) {
        fprintf(stderr, "skip: PTUNE_SRC is not set (run through make test)\n");
        return 77;
    }
    snprintf(fixtures, sizeof fixtures, "%s/tests/fixtures/bert", src);
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_matches_pytorch_reference),
        cmocka_unit_test(test_packing_and_workspace_reuse),
        cmocka_unit_test(test_large_batch_chunks_the_ffn),
        cmocka_unit_test(test_threads_share_one_model),
        cmocka_unit_test(test_backward_finite_differences),
        cmocka_unit_test(test_validation_errors),
        cmocka_unit_test(test_no_masks),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
