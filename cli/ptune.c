/* ptune — the offline command line: a thin shell over core/. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cli.h"

static const struct {
    const char *name;
    int (*run)(int, char **);
    const char *help;
} commands[] = {
    {"tokenize", cmd_tokenize, "text on stdin -> WordPiece ids"},
    {"info", cmd_info, "model directory -> JSON (config, parameters, dtype, fingerprint)"},
    {"init-model", cmd_init_model, "write a random-weight BERT in the Hugging Face layout"},
    {"debug", cmd_debug, "debug mlm: JSON request on stdin -> logits (and loss, prompt gradient)"},
    {"train", cmd_train, "P-tune a prompt on a TSV file and export it"},
    {"classify", cmd_classify, "texts on stdin -> labels with an exported prompt"},
    {"eval", cmd_eval, "metrics of an exported prompt on a TSV file"},
    {"bench", cmd_bench, "time forward / training steps, print JSON"},
};

static void usage(FILE *out)
{
    fprintf(out, "usage: ptune COMMAND [OPTIONS]\n\ncommands:\n");
    for (size_t i = 0; i < sizeof commands / sizeof commands[0]; i++)
        fprintf(out, "  %-11s %s\n", commands[i].name, commands[i].help);
    fprintf(out, "\n'ptune COMMAND --help' describes a command's options.\n");
}

char *cli_read_all(FILE *f, size_t *len)
{
    size_t cap = 1 << 16, n = 0;
    char *buf = malloc(cap);
    if (!buf)
        return NULL;
    for (;;) {
        if (n + 1 >= cap) {
            char *nb = realloc(buf, cap *= 2);
            if (!nb) {
                free(buf);
                return NULL;
            }
            buf = nb;
        }
        size_t got = fread(buf + n, 1, cap - n - 1, f);
        n += got;
        if (got == 0)
            break;
    }
    if (ferror(f)) {
        free(buf);
        return NULL;
    }
    buf[n] = '\0';
    if (len)
        *len = n;
    return buf;
}

int main(int argc, char **argv)
{
    if (argc < 2 || !strcmp(argv[1], "--help") || !strcmp(argv[1], "-h") || !strcmp(argv[1], "help")) {
        usage(argc < 2 ? stderr : stdout);
        return argc < 2 ? 2 : 0;
    }
    for (size_t i = 0; i < sizeof commands / sizeof commands[0]; i++)
        if (!strcmp(argv[1], commands[i].name))
            return commands[i].run(argc - 1, argv + 1);
    fprintf(stderr, "ptune: unknown command '%s'\n", argv[1]);
    usage(stderr);
    return 2;
}
