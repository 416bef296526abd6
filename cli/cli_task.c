#include "cli_task.h"

#include <stdio.h>
#include <string.h>

int cli_open_task(const char *cmd, const char *model_dir, const char *prompt_dir, bert_model **m, adapter *a,
                  classify_task **t)
{
    pt_err err;
    pt_err_clear(&err);
    *m = NULL;
    *t = NULL;
    if (adapter_load(a, prompt_dir, &err)) {
        fprintf(stderr, "ptune %s: %s\n", cmd, err.msg);
        return 1;
    }
    if (bert_load(m, model_dir, &err) || classify_task_new(t, *m, a, &err)) {
        fprintf(stderr, "ptune %s: %s\n", cmd, err.msg);
        bert_free(*m);
        *m = NULL;
        adapter_free(a);
        return 1;
    }
    return 0;
}

int cli_flag(int argc, char **argv, int *i, const char *flag, const char **value)
{
    if (strcmp(argv[*i], flag) || *i + 1 >= argc)
        return 0;
    *value = argv[++*i];
    return 1;
}
