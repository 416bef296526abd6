/* Unit tests for core/prompt: each encoder's backward against central finite differences of its
 * forward, for every parameter, with loss L = sum(out * R) for a fixed random R. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include <jansson.h>
#include <stdio.h>

#include "prompt.h"
#include "rng.h"

enum { N = 5, H = 8, HIDDEN = 6 };

static double loss_of(prompt_enc *e, const float *R, float *out)
{
    prompt_forward(e, out);
    double l = 0;
    for (int i = 0; i < N * H; i++)
        l += (double)out[i] * R[i];
    return l;
}

static void random_fill(float *p, int n, double scale, uint64_t seed)
{
    rng r;
    rng_seed(&r, seed);
    for (int i = 0; i < n; i++)
        p[i] = (float)(scale * rng_normal(&r));
}

/* The test points (seeds) keep every ReLU input farther than eps from 0: across a kink a central
 * difference measures the kink, not the gradient (seeds 31 for mlp and 1 for lstm do hit one).
 * Returns the largest |fd - analytic| over every parameter, relative to max(1, max |analytic|). */
static double fd_check(prompt_kind kind, double init_scale, uint64_t seed)
{
    float init[N * H], R[N * H], out[N * H];
    random_fill(init, N * H, init_scale, seed);
    random_fill(R, N * H, 1.0, seed + 1);
    prompt_enc *e;
    pt_err err;
    pt_err_clear(&err);
    assert_int_equal(prompt_new(&e, kind, N, H, HIDDEN, init, seed + 2, &err), 0);
    size_t np = prompt_n_params(e);
    float *p = prompt_params(e), *g = prompt_grads(e);
    prompt_zero_grad(e);
    loss_of(e, R, out);
    prompt_backward(e, R);
    double gmax = 1.0, worst = 0;
    for (size_t i = 0; i < np; i++)
        gmax = fmax(gmax, fabs(g[i]));
    const float eps = 1e-3f;
    for (size_t i = 0; i < np; i++) {
        float keep = p[i];
        p[i] = keep + eps;
        double lp = loss_of(e, R, out);
        p[i] = keep - eps;
        double lm = loss_of(e, R, out);
        p[i] = keep;
        double fd = (lp - lm) / (2.0 * eps);
        worst = fmax(worst, fabs(fd - g[i]) / gmax);
    }
    /* Backward accumulates: a second call doubles every gradient. */
    float *g1 = malloc(np * sizeof *g1);
    memcpy(g1, g, np * sizeof *g1);
    loss_of(e, R, out);
    prompt_backward(e, R);
    for (size_t i = 0; i < np; i++)
        assert_float_equal(g[i], 2 * g1[i], 1e-5 * fmax(1, fabs(g1[i])));
    free(g1);
    prompt_free(e);
    return worst;
}

static void test_none_is_identity(void **state)
{
    (void)state;
    float init[N * H], R[N * H], out[N * H];
    random_fill(init, N * H, 1.0, 5);
    random_fill(R, N * H, 1.0, 6);
    prompt_enc *e;
    assert_int_equal(prompt_new(&e, PROMPT_NONE, N, H, 0, init, 1, NULL), 0);
    assert_int_equal(prompt_n_params(e), N * H);
    prompt_forward(e, out);
    assert_memory_equal(out, init, sizeof init);
    prompt_zero_grad(e);
    prompt_backward(e, R);
    assert_memory_equal(prompt_grads(e), R, sizeof R);
    prompt_free(e);
}

static void test_mlp_backward_matches_finite_differences(void **state)
{
    (void)state;
    double worst = 0;
    for (uint64_t seed = 4; seed <= 10; seed += 3)
        worst = fmax(worst, fd_check(PROMPT_MLP, 1.0, seed));
    print_message("mlp: max |fd - grad| / max(1, |grad|) = %.3g\n", worst);
    assert_true(worst < 2e-4);
}

static void test_lstm_backward_matches_finite_differences(void **state)
{
    (void)state;
    double worst = 0;
    for (uint64_t seed = 4; seed <= 10; seed += 3)
        worst = fmax(worst, fd_check(PROMPT_LSTM, 1.0, seed));
    print_message("lstm: max |fd - grad| / max(1, |grad|) = %.3g\n", worst);
    assert_true(worst < 2e-4);
}

static void load_floats(const json_t *arr, float *dst, size_t n)
{
    assert_int_equal(json_array_size(arr), n);
    for (size_t i = 0; i < n; i++)
        dst[i] = (float)json_real_value(json_array_get(arr, i));
}

/* Forward and gradients against PyTorch's nn.Linear / nn.LSTM in float64
 * (tests/reference/prompt_encoders.py wrote the fixture). */
static void test_matches_pytorch_reference(void **state)
{
    (void)state;
    const char *src = getenv("PTUNE_SRC");
    char path[4096];
    snprintf(path, sizeof path, "%s/tests/fixtures/prompt_encoders.json", src ? src : ".");
    json_error_t jerr;
    json_t *root = json_load_file(path, 0, &jerr);
    if (!root)
        fail_msg("%s: %s", path, jerr.text);
    json_t *cases = json_object_get(root, "cases");
    assert_int_equal(json_array_size(cases), 2);
    for (size_t c = 0; c < 2; c++) {
        json_t *k = json_array_get(cases, c);
        prompt_kind kind;
        assert_int_equal(prompt_kind_parse(json_string_value(json_object_get(k, "kind")), &kind), 0);
        int n = (int)json_integer_value(json_object_get(k, "n")), h = (int)json_integer_value(json_object_get(k, "h"));
        int hidden = (int)json_integer_value(json_object_get(k, "hidden"));
        size_t nh = (size_t)n * (size_t)h;
        float *r = malloc(nh * sizeof *r), *out = malloc(nh * sizeof *out), *want = malloc(nh * sizeof *want);
        load_floats(json_object_get(k, "r"), r, nh);
        load_floats(json_object_get(k, "out"), want, nh);
        prompt_enc *e;
        assert_int_equal(prompt_new(&e, kind, n, h, hidden, r, 1, NULL), 0);
        size_t np = prompt_n_params(e);
        load_floats(json_object_get(k, "params"), prompt_params(e), np);
        float *gwant = malloc(np * sizeof *gwant);
        load_floats(json_object_get(k, "grads"), gwant, np);
        prompt_forward(e, out);
        double omax = 1, gmax = 1, oerr = 0, gerr = 0;
        for (size_t i = 0; i < nh; i++)
            omax = fmax(omax, fabs(want[i]));
        for (size_t i = 0; i < nh; i++)
            oerr = fmax(oerr, fabs(out[i] - want[i]) / omax);
        prompt_zero_grad(e);
        prompt_backward(e, r);
        const float *g = prompt_grads(e);
        for (size_t i = 0; i < np; i++)
            gmax = fmax(gmax, fabs(gwant[i]));
        for (size_t i = 0; i < np; i++)
            gerr = fmax(gerr, fabs(g[i] - gwant[i]) / gmax);
        print_message("%s vs torch: out %.3g, grads %.3g (relative to max(1, |ref|))\n", prompt_kind_name(kind), oerr,
                      gerr);
        assert_true(oerr < 1e-5);
        assert_true(gerr < 1e-5);
        prompt_free(e);
        free(r);
        free(out);
        free(want);
        free(gwant);
    }
    json_decref(root);
}

static void test_shapes_and_init(void **state)
{
    (void)state;
    float init[N * H];
    random_fill(init, N * H, 1.0, 9);
    prompt_enc *e;
    assert_int_equal(prompt_new(&e, PROMPT_MLP, N, H, HIDDEN, init, 1, NULL), 0);
    /* embedding + (H*h + h) + (h*h + h) + (h*H + H) */
    assert_int_equal(prompt_n_params(e), N * H + (H * HIDDEN + HIDDEN) + (HIDDEN * HIDDEN + HIDDEN) + (HIDDEN * H + H));
    assert_memory_equal(prompt_params(e), init, sizeof init);
    /* torch.nn.Linear init: |w| <= 1/sqrt(in) */
    const float *w1 = prompt_params(e) + N * H;
    for (int i = 0; i < H * HIDDEN; i++)
        assert_true(fabsf(w1[i]) <= 1.0f / sqrtf(H));
    prompt_free(e);
    assert_int_equal(prompt_new(&e, PROMPT_LSTM, N, H, 0, init, 1, NULL), 0);
    /* embedding + 4 directions x (4d*H + 4d*d + 8d) + 2 x (H*H + H), d = H/2 */
    int d = H / 2;
    assert_int_equal(prompt_n_params(e), N * H + 4 * (4 * d * H + 4 * d * d + 8 * d) + 2 * (H * H + H));
    prompt_free(e);

    pt_err err;
    pt_err_clear(&err);
    assert_int_equal(prompt_new(&e, PROMPT_LSTM, N, 7, 0, init, 1, &err), PT_EINVAL);
    assert_null(e);
    assert_non_null(strstr(err.msg, "even hidden size"));
    assert_int_equal(prompt_new(&e, PROMPT_MLP, N, H, 0, init, 1, &err), PT_EINVAL);
    assert_non_null(strstr(err.msg, "encoder_hidden"));

    prompt_kind k;
    assert_int_equal(prompt_kind_parse("lstm", &k), 0);
    assert_int_equal(k, PROMPT_LSTM);
    assert_int_equal(prompt_kind_parse("gru", &k), -1);
    assert_string_equal(prompt_kind_name(PROMPT_MLP), "mlp");
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_none_is_identity),
        cmocka_unit_test(test_mlp_backward_matches_finite_differences),
        cmocka_unit_test(test_lstm_backward_matches_finite_differences),
        cmocka_unit_test(test_matches_pytorch_reference),
        cmocka_unit_test(test_shapes_and_init),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
