/* ptune train — P-tune a prompt on a TSV file through a frozen backbone and export it. */
#include <jansson.h>
#include <signal.h>
#include <stdbool.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

#include "adapter.h"
#include "cli.h"
#include "cli_task.h"
#include "train.h"

static const char usage_text[] =
    "usage: ptune train --model DIR --train FILE [--dev FILE] [--verbalizer FILE] [--config FILE.json]\n"
    "                   --out OUTDIR\n"
    "Learns prompt vectors on FILE (label<TAB>text) with the backbone in DIR frozen and writes OUTDIR/\n"
    "adapter_model.safetensors, adapter_config.json and ptune.json. --config is a JSON object with the task\n"
    "keys (template, verbalizer, encoder, encoder_hidden, init, loss, epochs, batch_size, lr, betas,\n"
    "weight_decay, warmup, max_grad_norm, max_seq_len, patience, seed); --verbalizer (label<TAB>word[,word])\n"
    "replaces the config's verbalizer. With --dev the prompt of the best dev macro-F1 is kept.\n"
    "Progress: a bar on a terminal, one line per epoch otherwise (stderr); a JSON summary on stdout.\n"
    "Ctrl-C stops between steps without writing OUTDIR.\n";

/* Set by SIGINT, read by the progress callback: the one way to stop cleanly between steps. */
static volatile sig_atomic_t interrupted;

static void on_sigint(int sig)
{
    (void)sig;
    interrupted = 1;
}

typedef struct progress_state {
    bool tty;
} progress_state;

static int on_progress(const train_progress *p, void *user)
{
    const progress_state *s = user;
    if (s->tty && !p->epoch_end) {
        int width = 30, done = (int)(width * p->step / (p->total_steps ? p->total_steps : 1));
        fprintf(stderr, "\repoch %d/%d [%.*s%*s] step %ld/%ld loss %.4f ETA %.0fs ", p->epoch, p->epochs, done,
                "##############################", width - done, "", p->step, p->total_steps, p->loss, p->eta);
    } else if (p->epoch_end) {
        fprintf(stderr, "%sepoch %d/%d step %ld/%ld loss %.4f", s->tty ? "\r\033[K" : "", p->epoch, p->epochs, p->step,
                p->total_steps, p->loss);
        if (p->dev)
            fprintf(stderr, " dev_accuracy %.4f dev_macro_f1 %.4f dev_weighted_f1 %.4f best_epoch %d", p->dev->accuracy,
                    p->dev->macro_f1, p->dev->weighted_f1, p->best_epoch);
        fprintf(stderr, " elapsed %.1fs\n", p->elapsed);
    }
    return interrupted;
}

static int load_config(const char *path, train_config *cfg, pt_err *err)
{
    if (!path) {
        train_config_init(cfg);
        return 0;
    }
    json_error_t je;
    json_t *j = json_load_file(path, 0, &je);
    if (!j)
        return pt_fail(err, PT_EFORMAT, "%s: line %d: %s", path, je.line, je.text);
    int rc = train_config_parse(cfg, j, err);
    json_decref(j);
    if (rc)
        pt_err_prefix(err, "%s", path);
    return rc;
}

static json_t *summary(const char *out, const train_result *r, int n_train, int n_dev)
{
    json_t *labels = json_array();
    for (int l = 0; labels && l < r->verb.n_labels; l++)
        json_array_append_new(labels, json_string(r->verb.labels[l]));
    json_t *dev = r->has_dev ? metrics_to_json(&r->dev, (const char *const *)r->verb.labels) : json_null();
    return json_pack("{s:s, s:o, s:i, s:i, s:i, s:i, s:I, s:I, s:o, s:f}", "out", out, "labels", labels, "train_rows",
                     n_train, "dev_rows", n_dev, "best_epoch", r->best_epoch, "epochs_run", r->epochs_run,
                     "train_truncated", (json_int_t)r->train_truncated, "dev_truncated", (json_int_t)r->dev_truncated,
                     "dev", dev, "seconds", r->seconds);
}

typedef struct opts {
    const char *model, *train, *dev, *verbalizer, *config, *out;
} opts;

static int parse_opts(int argc, char **argv, opts *o)
{
    memset(o, 0, sizeof *o);
    for (int i = 1; i < argc; i++) {
        if (!strcmp(argv[i], "--help") || !strcmp(argv[i], "-h")) {
            fputs(usage_text, stdout);
            return 0;
        }
        if (cli_flag(argc, argv, &i, "--model", &o->model) || cli_flag(argc, argv, &i, "--train", &o->train) ||
            cli_flag(argc, argv, &i, "--dev", &o->dev) || cli_flag(argc, argv, &i, "--verbalizer", &o->verbalizer) ||
            cli_flag(argc, argv, &i, "--config", &o->config) || cli_flag(argc, argv, &i, "--out", &o->out))
            continue;
        fprintf(stderr, "ptune train: unexpected argument '%s'\n%s", argv[i], usage_text);
        return 2;
    }
    if (!o->model || !o->train || !o->out) {
        fprintf(stderr, "ptune train: --model, --train and --out are required\n%s", usage_text);
        return 2;
    }
    return -1;
}

/* Inputs: config (with --verbalizer applied), training and dev rows. */
static int load_inputs(const opts *o, train_config *cfg, tsv_data *train, tsv_data *dev, pt_err *err)
{
    memset(train, 0, sizeof *train);
    memset(dev, 0, sizeof *dev);
    int rc = load_config(o->config, cfg, err);
    if (!rc && o->verbalizer) {
        verbalizer_free(&cfg->verb);
        rc = verbalizer_load(&cfg->verb, o->verbalizer, err);
    }
    if (!rc)
        rc = tsv_load(train, o->train, err);
    if (!rc && o->dev)
        rc = tsv_load(dev, o->dev, err);
    return rc;
}

int cmd_train(int argc, char **argv)
{
    opts o;
    int usage = parse_opts(argc, argv, &o);
    if (usage >= 0)
        return usage;
    pt_err err;
    pt_err_clear(&err);
    train_config cfg;
    tsv_data train, dev;
    bert_model *m = NULL;
    train_result res;
    adapter a;
    memset(&res, 0, sizeof res);
    memset(&a, 0, sizeof a);
    int rc = load_inputs(&o, &cfg, &train, &dev, &err);
    if (!rc)
        rc = bert_load(&m, o.model, &err);
    if (!rc) {
        progress_state ps = {.tty = isatty(STDERR_FILENO)};
        signal(SIGINT, on_sigint);
        rc = train_run(m, train.rows, train.n_rows, dev.rows, dev.n_rows, &cfg, on_progress, &ps, &res, &err);
        signal(SIGINT, SIG_DFL);
    }
    if (!rc)
        rc = adapter_from_train(&a, m, &cfg, &res, &err);
    if (!rc)
        rc = adapter_save(&a, o.out, &err);
    if (rc) {
        fprintf(stderr, "ptune train: %s\n", err.msg);
    } else {
        if (res.train_truncated || res.dev_truncated)
            fprintf(stderr, "ptune train: note: %ld training and %ld dev rows were cut to max_seq_len %d\n",
                    res.train_truncated, res.dev_truncated, cfg.max_seq_len);
        if (res.has_dev && res.dev.n_unknown)
            fprintf(stderr, "ptune train: note: %ld dev rows have a label the task does not know; counted "
                            "(unknown_labels), not scored\n", res.dev.n_unknown);
        json_t *j = summary(o.out, &res, train.n_rows, dev.n_rows);
        if (j) {
            json_dumpf(j, stdout, JSON_INDENT(2));
            putchar('\n');
        }
        json_decref(j);
    }
    adapter_free(&a);
    train_result_free(&res);
    bert_free(m);
    tsv_free(&train);
    tsv_free(&dev);
    train_config_free(&cfg);
    return rc ? 1 : 0;
}
