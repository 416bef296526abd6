/* ptune tokenize: one input per stdin line -> one line of WordPiece ids (no [CLS]/[SEP]).
 * Reads only vocab.txt and tokenizer_config.json: no weights needed. */
#include <jansson.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cli.h"
#include "tokenizer.h"

static const char usage_text[] =
    "usage: ptune tokenize (--model DIR | --vocab FILE) [--do-lower-case true|false] [--jsonl]\n"
    "\n"
    "Reads one text per line on stdin and prints one line of token ids per text, separated by\n"
    "spaces, without [CLS]/[SEP]. --model DIR reads DIR/vocab.txt and DIR/tokenizer_config.json\n"
    "(do_lower_case, default true); --do-lower-case overrides it. With --jsonl each input line is a\n"
    "JSON string (so any character, NUL included, can be passed) and each output line a JSON array.\n";

typedef struct {
    const char *model, *vocab, *lower;
    bool jsonl;
} options;

static int parse_args(int argc, char **argv, options *o)
{
    for (int i = 1; i < argc; i++) {
        const char *a = argv[i];
        const char **dst = !strcmp(a, "--model") ? &o->model
                           : !strcmp(a, "--vocab") ? &o->vocab
                           : !strcmp(a, "--do-lower-case") ? &o->lower
                                                           : NULL;
        if (dst) {
            if (i + 1 >= argc) {
                fprintf(stderr, "ptune tokenize: %s needs a value\n", a);
                return 2;
            }
            *dst = argv[++i];
        } else if (!strcmp(a, "--jsonl")) {
            o->jsonl = true;
        } else if (!strcmp(a, "--help") || !strcmp(a, "-h")) {
            fputs(usage_text, stdout);
            return 0;
        } else {
            fprintf(stderr, "ptune tokenize: unknown option '%s'\n%s", a, usage_text);
            return 2;
        }
    }
    if (!o->model == !o->vocab) {
        fprintf(stderr, "ptune tokenize: give exactly one of --model DIR and --vocab FILE\n%s", usage_text);
        return 2;
    }
    if (o->lower && strcmp(o->lower, "true") && strcmp(o->lower, "false")) {
        fprintf(stderr, "ptune tokenize: --do-lower-case must be true or false, not '%s'\n", o->lower);
        return 2;
    }
    return -1;
}

/* Loads the vocabulary and decides do_lower_case: the flag, else the model's config, else true. */
static int load(const options *o, vocab **v, tokenizer *t)
{
    pt_err err;
    bool lower = true;
    char path[4096];
    const char *vocab_path = o->vocab;
    if (o->model) {
        snprintf(path, sizeof path, "%s/tokenizer_config.json", o->model);
        if (tokenizer_read_config(path, &lower, &err)) {
            fprintf(stderr, "ptune tokenize: %s\n", err.msg);
            return 1;
        }
        snprintf(path, sizeof path, "%s/vocab.txt", o->model);
        vocab_path = path;
    }
    if (o->lower)
        lower = !strcmp(o->lower, "true");
    if (vocab_load(v, vocab_path, &err) || tokenizer_init(t, *v, lower, &err)) {
        fprintf(stderr, "ptune tokenize: %s\n", err.msg);
        return 1;
    }
    return 0;
}

/* The text of one JSON-lines input, or NULL after reporting why there is none. */
static json_t *json_input(const char *line, size_t len, long lineno)
{
    json_error_t je;
    json_t *j = json_loadb(line, len, JSON_DECODE_ANY | JSON_ALLOW_NUL, &je);
    if (!j) {
        fprintf(stderr, "ptune tokenize: line %ld: invalid JSON at column %d: %s\n", lineno, je.column, je.text);
        return NULL;
    }
    if (!json_is_string(j)) {
        fprintf(stderr, "ptune tokenize: line %ld: expected a JSON string\n", lineno);
        json_decref(j);
        return NULL;
    }
    return j;
}

static void print_ids(const int32_t *ids, size_t n, bool jsonl)
{
    if (jsonl)
        putchar('[');
    for (size_t i = 0; i < n; i++)
        printf(i ? (jsonl ? ",%d" : " %d") : "%d", (int)ids[i]);
    if (jsonl)
        putchar(']');
    putchar('\n');
}

static int run(const options *o, const tokenizer *t)
{
    char *line = NULL;
    size_t cap = 0;
    long lineno = 0;
    ssize_t got;
    int rc = 0;
    while (!rc && (got = getline(&line, &cap, stdin)) >= 0) {
        lineno++;
        size_t len = (size_t)got;
        if (len && line[len - 1] == '\n')
            len--;
        json_t *j = NULL;
        const char *text = line;
        if (o->jsonl) {
            if (!(j = json_input(line, len, lineno))) {
                rc = 1;
                break;
            }
            text = json_string_value(j);
            len = json_string_length(j);
        }
        int32_t *ids;
        size_t n;
        pt_err err;
        if (tokenizer_encode(t, text, len, &ids, &n, &err)) {
            fprintf(stderr, "ptune tokenize: line %ld: %s\n", lineno, err.msg);
            rc = 1;
        } else {
            print_ids(ids, n, o->jsonl);
            free(ids);
        }
        json_decref(j);
        /* One answer per line, right away: a caller may wait for it before writing the next. */
        if (fflush(stdout)) {
            perror("ptune tokenize: stdout");
            rc = 1;
        }
    }
    free(line);
    if (!rc && ferror(stdin)) {
        perror("ptune tokenize: stdin");
        rc = 1;
    }
    return rc;
}

int cmd_tokenize(int argc, char **argv)
{
    options o = {0};
    int rc = parse_args(argc, argv, &o);
    if (rc >= 0)
        return rc;
    vocab *v = NULL;
    tokenizer t;
    rc = load(&o, &v, &t);
    if (!rc)
        rc = run(&o, &t);
    vocab_free(v);
    return rc;
}
