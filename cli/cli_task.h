/* cli_task — what classify and eval share: open a model and an exported prompt, refusing a prompt
 * trained on another backbone, and option parsing helpers for the P-tuning commands. */
#ifndef PT_CLI_TASK_H
#define PT_CLI_TASK_H

#include "bert.h"
#include "classify.h"

/* Loads the model and the prompt directory; on failure prints "ptune CMD: message" and returns 1. */
int cli_open_task(const char *cmd, const char *model_dir, const char *prompt_dir, bert_model **m, adapter *a,
                  classify_task **t);

/* If argv[*i] is flag and a value follows, stores it, advances *i and returns 1; else 0. */
int cli_flag(int argc, char **argv, int *i, const char *flag, const char **value);

#endif
