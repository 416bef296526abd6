/* ptune debug mlm --model DIR: one JSON request on stdin -> masked-LM logits (and, with targets,
 * the summed cross-entropy and its gradient with respect to the prompt vectors) on stdout.
 * This is the engine's contract with outside checks (tests/reference), so the format is exact. */
#include <jansson.h>
#include <math.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "bert.h"
#include "cli.h"

/* A parsed request; the arrays are owned here, rows point into them. */
typedef struct request {
    int n_rows;
    bert_row *rows;
    int32_t **ids, **types, **prompt_pos, **mask_pos, **targets;
    float **vectors;
    bool has_prompt, has_targets;
} request;

static void request_free(request *q)
{
    for (int r = 0; r < q->n_rows; r++) {
        free(q->ids[r]);
        free(q->types[r]);
        free(q->prompt_pos[r]);
        free(q->mask_pos[r]);
        free(q->targets[r]);
        free(q->vectors[r]);
    }
    free(q->ids);
    free(q->types);
    free(q->prompt_pos);
    free(q->mask_pos);
    free(q->targets);
    free(q->vectors);
    free(q->rows);
}

static int fail(pt_err *err, const char *field, const char *fmt, ...) __attribute__((format(printf, 3, 4)));

static int fail(pt_err *err, const char *field, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(err->msg, sizeof err->msg, fmt, ap);
    va_end(ap);
    snprintf(err->field, sizeof err->field, "%s", field);
    return err->code = PT_EINVAL;
}

/* field[r] must be an array of ints (want >= 0: exactly want of them). */
static int int_row(json_t *outer, const char *field, int r, int want, int32_t **out, int *n, pt_err *err)
{
    json_t *a = json_array_get(outer, (size_t)r);
    if (!json_is_array(a))
        return fail(err, field, "%s[%d]: expected an array of integers", field, r);
    size_t len = json_array_size(a);
    if (want >= 0 && len != (size_t)want)
        return fail(err, field, "%s[%d]: expected %d entries, found %zu", field, r, want, len);
    *out = malloc((len ? len : 1) * sizeof **out);
    if (!*out)
        return fail(err, field, "out of memory");
    for (size_t i = 0; i < len; i++) {
        json_t *v = json_array_get(a, i);
        if (!json_is_integer(v))
            return fail(err, field, "%s[%d][%zu]: expected an integer", field, r, i);
        json_int_t x = json_integer_value(v);
        if (x < INT32_MIN || x > INT32_MAX)
            return fail(err, field, "%s[%d][%zu]: %lld is out of range", field, r, i, (long long)x);
        (*out)[i] = (int32_t)x;
    }
    *n = (int)len;
    return 0;
}

/* An optional field must be an array with one entry per row. */
static json_t *per_row(json_t *obj, const char *key, const char *field, int n_rows, bool required, pt_err *err)
{
    json_t *a = json_object_get(obj, key);
    if (!a) {
        if (required)
            fail(err, field, "missing \"%s\"", field);
        return NULL;
    }
    if (!json_is_array(a) || json_array_size(a) != (size_t)n_rows) {
        fail(err, field, "\"%s\": expected an array of %d rows (one per input_ids row)", field, n_rows);
        return NULL;
    }
    return a;
}

static int check_keys(json_t *obj, const char *where, const char *const *allowed, pt_err *err)
{
    const char *key;
    json_t *v;
    json_object_foreach(obj, key, v) {
        bool ok = false;
        for (const char *const *k = allowed; *k; k++)
            ok = ok || !strcmp(key, *k);
        if (!ok)
            return fail(err, key, "%sunknown field \"%s\"", where, key);
    }
    return 0;
}

static int parse_vectors(json_t *a, int r, int n, int H, float **out, pt_err *err)
{
    const char *f = "prompt.vectors";
    if (!json_is_array(a) || json_array_size(a) != (size_t)n)
        return fail(err, f, "%s[%d]: expected %d vectors (one per prompt position)", f, r, n);
    *out = malloc(((size_t)n * H + 1) * sizeof **out);
    if (!*out)
        return fail(err, f, "out of memory");
    for (int j = 0; j < n; j++) {
        json_t *vec = json_array_get(a, (size_t)j);
        if (!json_is_array(vec) || json_array_size(vec) != (size_t)H)
            return fail(err, f, "%s[%d][%d]: expected %d numbers (the hidden size)", f, r, j, H);
        for (int i = 0; i < H; i++) {
            json_t *x = json_array_get(vec, (size_t)i);
            if (!json_is_number(x))
                return fail(err, f, "%s[%d][%d][%d]: expected a number", f, r, j, i);
            (*out)[(size_t)j * H + i] = (float)json_number_value(x);
        }
    }
    return 0;
}

static int parse_request(json_t *root, int H, request *q, pt_err *err)
{
    static const char *const top[] = {"input_ids", "token_type_ids", "prompt", "mask_positions", "targets", NULL};
    static const char *const prompt_keys[] = {"positions", "vectors", NULL};
    if (!json_is_object(root))
        return fail(err, "", "the request must be a JSON object");
    if (check_keys(root, "", top, err))
        return err->code;
    json_t *ids = json_object_get(root, "input_ids");
    if (!json_is_array(ids) || json_array_size(ids) == 0)
        return fail(err, "input_ids", "\"input_ids\": expected a non-empty array of rows");
    const int n = (int)json_array_size(ids);
    q->rows = calloc((size_t)n, sizeof *q->rows);
    q->ids = calloc((size_t)n, sizeof *q->ids);
    q->types = calloc((size_t)n, sizeof *q->types);
    q->prompt_pos = calloc((size_t)n, sizeof *q->prompt_pos);
    q->mask_pos = calloc((size_t)n, sizeof *q->mask_pos);
    q->targets = calloc((size_t)n, sizeof *q->targets);
    q->vectors = calloc((size_t)n, sizeof *q->vectors);
    if (!q->rows || !q->ids || !q->types || !q->prompt_pos || !q->mask_pos || !q->targets || !q->vectors)
        return fail(err, "", "out of memory");
    q->n_rows = n;

    json_t *types = per_row(root, "token_type_ids", "token_type_ids", n, false, err);
    if (err->code)
        return err->code;
    json_t *masks = per_row(root, "mask_positions", "mask_positions", n, true, err);
    if (err->code)
        return err->code;
    json_t *targets = per_row(root, "targets", "targets", n, false, err);
    if (err->code)
        return err->code;
    json_t *prompt = json_object_get(root, "prompt");
    json_t *positions = NULL, *vectors = NULL;
    if (prompt) {
        if (!json_is_object(prompt))
            return fail(err, "prompt", "\"prompt\": expected an object with \"positions\" and \"vectors\"");
        if (check_keys(prompt, "prompt: ", prompt_keys, err))
            return err->code;
        positions = per_row(prompt, "positions", "prompt.positions", n, true, err);
        if (err->code)
            return err->code;
        vectors = per_row(prompt, "vectors", "prompt.vectors", n, true, err);
        if (err->code)
            return err->code;
    }
    q->has_prompt = prompt != NULL;
    q->has_targets = targets != NULL;

    for (int r = 0; r < n; r++) {
        bert_row *row = &q->rows[r];
        int k;
        if (int_row(ids, "input_ids", r, -1, &q->ids[r], &row->len, err))
            return err->code;
        row->ids = q->ids[r];
        if (types) {
            if (int_row(types, "token_type_ids", r, row->len, &q->types[r], &k, err))
                return err->code;
            row->type_ids = q->types[r];
        }
        if (int_row(masks, "mask_positions", r, -1, &q->mask_pos[r], &row->n_mask, err))
            return err->code;
        row->mask_pos = q->mask_pos[r];
        if (targets && int_row(targets, "targets", r, row->n_mask, &q->targets[r], &k, err))
            return err->code;
        if (prompt) {
            if (int_row(positions, "prompt.positions", r, -1, &q->prompt_pos[r], &row->n_prompt, err) ||
                parse_vectors(json_array_get(vectors, (size_t)r), r, row->n_prompt, H, &q->vectors[r], err))
                return err->code;
            row->prompt_pos = q->prompt_pos[r];
            row->prompt_vec = q->vectors[r];
        }
    }
    return 0;
}

/* loss = sum over mask rows of logsumexp(logits) - logits[target]; d_logits = softmax - one-hot. */
static int cross_entropy(const request *q, int V, const float *logits, float *d_logits, double *loss, pt_err *err)
{
    *loss = 0;
    size_t i = 0;
    for (int r = 0; r < q->n_rows; r++) {
        for (int j = 0; j < q->rows[r].n_mask; j++, i++) {
            const float *l = logits + i * V;
            float *d = d_logits + i * V;
            int t = q->targets[r][j];
            if (t < 0 || t >= V)
                return fail(err, "targets", "targets[%d][%d] = %d is outside the vocabulary (size %d)", r, j, t, V);
            double mx = l[0], z = 0;
            for (int v = 1; v < V; v++)
                mx = l[v] > mx ? l[v] : mx;
            for (int v = 0; v < V; v++)
                z += exp(l[v] - mx);
            for (int v = 0; v < V; v++)
                d[v] = (float)(exp(l[v] - mx) / z);
            d[t] -= 1.0f;
            *loss += mx + log(z) - l[t];
        }
    }
    return 0;
}

static int print_floats(FILE *out, const float *v, int n)
{
    fputc('[', out);
    for (int i = 0; i < n; i++) {
        if (!isfinite(v[i]))
            return -1;
        fprintf(out, i ? ",%.9g" : "%.9g", v[i]);
    }
    fputc(']', out);
    return 0;
}

static int print_response(FILE *out, const request *q, int V, int H, const float *logits, double loss,
                          float *const *grad, pt_err *err)
{
    size_t i = 0;
    fputs("{\"logits\":[", out);
    for (int r = 0; r < q->n_rows; r++) {
        fputs(r ? ",[" : "[", out);
        for (int j = 0; j < q->rows[r].n_mask; j++, i++) {
            if (j)
                fputc(',', out);
            if (print_floats(out, logits + i * V, V))
                return fail(err, "logits", "row %d mask %d: the model produced a non-finite logit", r, j);
        }
        fputc(']', out);
    }
    fputc(']', out);
    if (q->has_targets)
        fprintf(out, ",\"loss\":%.9g", loss);
    if (grad) {
        fputs(",\"prompt_grad\":[", out);
        for (int r = 0; r < q->n_rows; r++) {
            fputs(r ? ",[" : "[", out);
            for (int j = 0; j < q->rows[r].n_prompt; j++) {
                if (j)
                    fputc(',', out);
                if (print_floats(out, grad[r] + (size_t)j * H, H))
                    return fail(err, "prompt_grad", "row %d prompt %d: non-finite gradient", r, j);
            }
            fputc(']', out);
        }
        fputc(']', out);
    }
    fputs("}\n", out);
    return 0;
}

/* Runs one parsed request. Allocations sized by the batch live only for this call. */
static int run_request(const bert_model *m, const request *q, pt_err *err)
{
    const int V = m->cfg.vocab_size, H = m->cfg.hidden_size;
    size_t n_masks = 0;
    for (int r = 0; r < q->n_rows; r++)
        n_masks += (size_t)(q->rows[r].n_mask > 0 ? q->rows[r].n_mask : 0);
    bool want_grad = q->has_targets && q->has_prompt;
    float *logits = malloc((n_masks * V + 1) * sizeof *logits);
    float *d_logits = q->has_targets ? malloc((n_masks * V + 1) * sizeof *d_logits) : NULL;
    float **grad = want_grad ? calloc((size_t)q->n_rows, sizeof *grad) : NULL;
    bert_ws *ws = bert_ws_new();
    double loss = 0;
    int rc = (!logits || !ws || (q->has_targets && !d_logits) || (want_grad && !grad))
                 ? fail(err, "", "out of memory")
                 : 0;
    for (int r = 0; !rc && want_grad && r < q->n_rows; r++)
        if (!(grad[r] = malloc(((size_t)q->rows[r].n_prompt * H + 1) * sizeof **grad)))
            rc = fail(err, "", "out of memory");
    if (!rc)
        rc = want_grad ? bert_forward_train(m, ws, q->rows, q->n_rows, logits, err)
                       : bert_forward(m, ws, q->rows, q->n_rows, logits, err);
    if (!rc && q->has_targets)
        rc = cross_entropy(q, V, logits, d_logits, &loss, err);
    if (!rc && want_grad)
        rc = bert_backward(m, ws, d_logits, grad, err);
    if (!rc)
        rc = print_response(stdout, q, V, H, logits, loss, grad, err);
    for (int r = 0; grad && r < q->n_rows; r++)
        free(grad[r]);
    free(grad);
    free(d_logits);
    free(logits);
    bert_ws_free(ws);
    return rc;
}

static void usage(FILE *out)
{
    fprintf(out, "usage: ptune debug mlm --model DIR\n"
                 "  reads {\"input_ids\", \"token_type_ids\"?, \"prompt\"?: {\"positions\", \"vectors\"},\n"
                 "  \"mask_positions\", \"targets\"?} on stdin; writes {\"logits\", \"loss\"?, \"prompt_grad\"?}\n");
}

int cmd_debug(int argc, char **argv)
{
    const char *model_dir = NULL;
    if (argc >= 2 && (!strcmp(argv[1], "--help") || !strcmp(argv[1], "-h"))) {
        usage(stdout);
        return 0;
    }
    if (argc < 2 || strcmp(argv[1], "mlm")) {
        usage(stderr);
        return 2;
    }
    for (int i = 2; i < argc; i++) {
        if (!strcmp(argv[i], "--model") && i + 1 < argc) {
            model_dir = argv[++i];
        } else if (!strcmp(argv[i], "--help") || !strcmp(argv[i], "-h")) {
            usage(stdout);
            return 0;
        } else {
            fprintf(stderr, "ptune debug mlm: unexpected argument '%s'\n", argv[i]);
            usage(stderr);
            return 2;
        }
    }
    if (!model_dir) {
        fprintf(stderr, "ptune debug mlm: --model DIR is required\n");
        return 2;
    }

    pt_err err;
    pt_err_clear(&err);
    size_t len;
    char *text = cli_read_all(stdin, &len);
    if (!text) {
        fprintf(stderr, "ptune debug mlm: cannot read the request from stdin\n");
        return 1;
    }
    json_error_t jerr;
    json_t *root = json_loadb(text, len, 0, &jerr);
    free(text);
    if (!root) {
        fprintf(stderr, "ptune debug mlm: request: invalid JSON at line %d column %d: %s\n", jerr.line, jerr.column,
                jerr.text);
        return 1;
    }
    bert_model *m = NULL;
    request q = {0};
    int rc = bert_load(&m, model_dir, &err);
    if (!rc)
        rc = parse_request(root, m->cfg.hidden_size, &q, &err);
    if (!rc)
        rc = run_request(m, &q, &err);
    if (rc)
        fprintf(stderr, "ptune debug mlm: %s\n", err.msg);
    request_free(&q);
    json_decref(root);
    if (m)
        bert_free(m);
    return rc ? 1 : 0;
}
