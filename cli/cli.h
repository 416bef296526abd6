/* cli — the subcommands of bin/ptune, one file each (cli/cmd_<name>.c). Each returns the process
 * exit code: 0 ok, 1 runtime failure (message on stderr), 2 usage error. */
#ifndef PT_CLI_H
#define PT_CLI_H

#include <stdio.h>

int cmd_tokenize(int argc, char **argv);
int cmd_info(int argc, char **argv);
int cmd_init_model(int argc, char **argv);
int cmd_debug(int argc, char **argv);
int cmd_train(int argc, char **argv);
int cmd_classify(int argc, char **argv);
int cmd_eval(int argc, char **argv);
int cmd_bench(int argc, char **argv);

/* Reads all of a stream into a malloc'ed NUL-terminated buffer; returns NULL on error. */
char *cli_read_all(FILE *f, size_t *len);

#endif
