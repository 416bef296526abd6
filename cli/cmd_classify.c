/* ptune classify — texts on stdin, one JSON line out per text, with an exported prompt. */
#include <jansson.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cli.h"
#include "cli_task.h"

static const char usage_text[] =
    "usage: ptune classify --model DIR --prompt OUTDIR [--jsonl]\n"
    "Reads texts on stdin, one per line (or with --jsonl one JSON string or {\"text\": ...} object per line)\n"
    "and writes one JSON line per text: {\"label\": best, \"score\": p, \"scores\": {label: p, ...}}, the\n"
    "softmax over the task's labels; \"truncated\": n is added when n tokens had to be cut from the end.\n";

typedef struct batch {
    char *texts[CLASSIFY_BATCH];
    size_t lens[CLASSIFY_BATCH];
    int n;
} batch;

static void batch_clear(batch *b)
{
    for (int i = 0; i < b->n; i++)
        free(b->texts[i]);
    b->n = 0;
}

static int emit(const classify_task *t, const float *p, int truncated)
{
    int L = t->tpl->n_labels, best = 0;
    for (int c = 1; c < L; c++)
        if (p[c] > p[best])
            best = c;
    json_t *scores = json_object();
    for (int c = 0; scores && c < L; c++)
        json_object_set_new(scores, t->verb.labels[c], json_real(p[c]));
    json_t *o = json_pack("{s:s, s:f, s:o}", "label", t->verb.labels[best], "score", (double)p[best], "scores", scores);
    if (o && truncated)
        json_object_set_new(o, "truncated", json_integer(truncated));
    /* 9 significant digits give back the exact float. */
    int rc = o ? json_dumpf(o, stdout, JSON_COMPACT | JSON_REAL_PRECISION(9)) : -1;
    json_decref(o);
    return rc || putchar('\n') == EOF ? -1 : 0;
}

/* Classifies the batch into probs (CLASSIFY_BATCH x n_labels) and prints one line per text. */
static int run(const bert_model *m, bert_ws *ws, const classify_task *t, batch *b, float *probs, long first_line)
{
    pt_err err;
    pt_err_clear(&err);
    int L = t->tpl->n_labels;
    int truncated[CLASSIFY_BATCH];
    int rc = classify_texts(m, ws, t->tpl, t->vectors, (const char *const *)b->texts, b->lens, b->n, probs, truncated,
                            &err);
    if (rc)
        fprintf(stderr, "ptune classify: input lines from %ld: %s\n", first_line, err.msg);
    for (int i = 0; !rc && i < b->n; i++)
        if (emit(t, probs + (size_t)i * (size_t)L, truncated[i])) {
            fprintf(stderr, "ptune classify: cannot write the output\n");
            rc = -1;
        }
    fflush(stdout);
    batch_clear(b);
    return rc;
}

/* --jsonl: a JSON string or an object with a string "text". */
static int jsonl_text(const char *line, size_t len, long lineno, char **text, size_t *tlen)
{
    json_error_t je;
    json_t *j = json_loadb(line, len, JSON_DECODE_ANY, &je);
    json_t *s = json_is_object(j) ? json_object_get(j, "text") : j;
    if (!json_is_string(s)) {
        fprintf(stderr, "ptune classify: line %ld: expected a JSON string or {\"text\": \"...\"}%s%s\n", lineno,
                j ? "" : ": ", j ? "" : je.text);
        json_decref(j);
        return -1;
    }
    *tlen = json_string_length(s);
    *text = malloc(*tlen + 1);
    if (*text) {
        memcpy(*text, json_string_value(s), *tlen);
        (*text)[*tlen] = '\0';
    }
    json_decref(j);
    return *text ? 0 : -1;
}

int cmd_classify(int argc, char **argv)
{
    const char *model = NULL, *prompt = NULL;
    bool jsonl = false;
    for (int i = 1; i < argc; i++) {
        if (!strcmp(argv[i], "--help") || !strcmp(argv[i], "-h")) {
            fputs(usage_text, stdout);
            return 0;
        }
        if (cli_flag(argc, argv, &i, "--model", &model) || cli_flag(argc, argv, &i, "--prompt", &prompt))
            continue;
        if (!strcmp(argv[i], "--jsonl")) {
            jsonl = true;
            continue;
        }
        fprintf(stderr, "ptune classify: unexpected argument '%s'\n%s", argv[i], usage_text);
        return 2;
    }
    if (!model || !prompt) {
        fprintf(stderr, "ptune classify: --model and --prompt are required\n%s", usage_text);
        return 2;
    }
    bert_model *m;
    adapter a;
    classify_task *t;
    if (cli_open_task("classify", model, prompt, &m, &a, &t))
        return 1;
    bert_ws *ws = bert_ws_new();
    float *probs = malloc((size_t)CLASSIFY_BATCH * (size_t)t->tpl->n_labels * sizeof *probs);
    batch b = {.n = 0};
    char *line = NULL;
    size_t cap = 0;
    ssize_t got;
    long lineno = 0, first = 1;
    int rc = ws && probs ? 0 : -1;
    if (rc)
        fprintf(stderr, "ptune classify: out of memory\n");
    while (!rc && (got = getline(&line, &cap, stdin)) >= 0) {
        lineno++;
        size_t len = (size_t)got;
        while (len && (line[len - 1] == '\n' || line[len - 1] == '\r'))
            len--;
        char *text;
        size_t tlen = len;
        if (jsonl) {
            if (!len)
                continue;
            if ((rc = jsonl_text(line, len, lineno, &text, &tlen)))
                break;
        } else if (!(text = strndup(line, len))) {
            rc = -1;
            break;
        }
        b.texts[b.n] = text;
        b.lens[b.n++] = tlen;
        if (b.n == CLASSIFY_BATCH) {
            rc = run(m, ws, t, &b, probs, first);
            first = lineno + 1;
        }
    }
    if (!rc && b.n)
        rc = run(m, ws, t, &b, probs, first);
    batch_clear(&b);
    free(line);
    free(probs);
    bert_ws_free(ws);
    classify_task_free(t);
    adapter_free(&a);
    bert_free(m);
    return rc ? 1 : 0;
}
