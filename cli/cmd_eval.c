/* ptune eval — the metrics of an exported prompt on a labeled TSV file. */
#include <jansson.h>
#include <stdio.h>
#include <string.h>

#include "cli.h"
#include "cli_task.h"

static const char usage_text[] =
    "usage: ptune eval --model DIR --prompt OUTDIR --data FILE\n"
    "Classifies every row of FILE (label<TAB>text) with the prompt exported by 'ptune train' into OUTDIR\n"
    "and prints JSON: accuracy, macro_f1, weighted_f1, per_class precision/recall/f1/support, the\n"
    "confusion matrix (rows = gold, columns = predicted, in the order of \"labels\"), unknown_labels (rows\n"
    "whose label the task does not know: counted, not scored) and truncated_rows.\n";

int cmd_eval(int argc, char **argv)
{
    const char *model = NULL, *prompt = NULL, *data = NULL;
    for (int i = 1; i < argc; i++) {
        if (!strcmp(argv[i], "--help") || !strcmp(argv[i], "-h")) {
            fputs(usage_text, stdout);
            return 0;
        }
        if (cli_flag(argc, argv, &i, "--model", &model) || cli_flag(argc, argv, &i, "--prompt", &prompt) ||
            cli_flag(argc, argv, &i, "--data", &data))
            continue;
        fprintf(stderr, "ptune eval: unexpected argument '%s'\n%s", argv[i], usage_text);
        return 2;
    }
    if (!model || !prompt || !data) {
        fprintf(stderr, "ptune eval: --model, --prompt and --data are required\n%s", usage_text);
        return 2;
    }
    pt_err err;
    pt_err_clear(&err);
    tsv_data rows;
    if (tsv_load(&rows, data, &err)) {
        fprintf(stderr, "ptune eval: %s\n", err.msg);
        return 1;
    }
    bert_model *m;
    adapter a;
    classify_task *t;
    if (cli_open_task("eval", model, prompt, &m, &a, &t)) {
        tsv_free(&rows);
        return 1;
    }
    bert_ws *ws = bert_ws_new();
    metrics met;
    long truncated = 0;
    int rc = ws ? classify_eval(m, ws, t->tpl, &t->verb, t->vectors, rows.rows, rows.n_rows, &met, &truncated, &err)
                : pt_fail(&err, PT_ENOMEM, "out of memory");
    if (rc) {
        fprintf(stderr, "ptune eval: %s: %s\n", data, err.msg);
    } else {
        json_t *j = metrics_to_json(&met, (const char *const *)t->verb.labels);
        if (j && !json_object_set_new(j, "truncated_rows", json_integer(truncated))) {
            json_dumpf(j, stdout, JSON_INDENT(2));
            putchar('\n');
        } else {
            fprintf(stderr, "ptune eval: out of memory\n");
            rc = 1;
        }
        json_decref(j);
        if (met.n_unknown)
            fprintf(stderr, "ptune eval: note: %ld rows have a label the task does not know; counted in "
                            "unknown_labels, not scored\n", met.n_unknown);
        metrics_free(&met);
    }
    bert_ws_free(ws);
    classify_task_free(t);
    adapter_free(&a);
    bert_free(m);
    tsv_free(&rows);
    return rc ? 1 : 0;
}
