#include "config.h"

#include <ctype.h>
#include <errno.h>
#include <limits.h>
#include <stdlib.h>
#include <string.h>

typedef enum opt_kind { OPT_STR, OPT_INT, OPT_SIZE, OPT_LOG, OPT_FLAG } opt_kind;

typedef struct opt {
    const char *flag, *env;
    opt_kind kind;
    size_t off;
    size_t cap;         /* OPT_STR: buffer size */
    long long min, max; /* OPT_INT / OPT_SIZE */
    const char *help;
} opt;

#define STR(f) offsetof(config, f), sizeof(((config *)0)->f)
#define NUM(f) offsetof(config, f), 0

static const opt opts[] = {
    {"--model", "PTUNED_MODEL", OPT_STR, STR(model), 0, 0, "model directory (config.json, vocab.txt, model.safetensors)"},
    {"--db", "PTUNED_DB", OPT_STR, STR(db), 0, 0, "SQLite database file [./ptuned.db]"},
    {"--listen", "PTUNED_LISTEN", OPT_STR, STR(listen), 0, 0, "host:port to serve on, port 0 = any free [127.0.0.1:8080]"},
    {"--workers", "PTUNED_WORKERS", OPT_INT, NUM(workers), 1, 64, "training threads [1]"},
    {"--threads", "PTUNED_THREADS", OPT_INT, NUM(threads), 0, 1024, "compute threads, 0 = OPENBLAS_NUM_THREADS or the CPUs [0]"},
    {"--max-body", "PTUNED_MAX_BODY", OPT_SIZE, NUM(max_body), 1024, 1LL << 32, "largest request body, bytes (K, M, G suffixes) [16M]"},
    {"--max-batch-tokens", "PTUNED_MAX_BATCH_TOKENS", OPT_INT, NUM(max_batch_tokens), 64, 1 << 22, "tokens per merged classify forward pass [1024]"},
    {"--max-client-batch", "PTUNED_MAX_CLIENT_BATCH", OPT_INT, NUM(max_client_batch), 1, 100000, "texts per classify request [64]"},
    {"--queue-limit", "PTUNED_QUEUE_LIMIT", OPT_INT, NUM(queue_limit), 1, 10000000, "texts waiting for classification before 429 [1024]"},
    {"--api-keys-file", "PTUNED_API_KEYS_FILE", OPT_STR, STR(api_keys_file), 0, 0, "file of `key scope` lines (admin|classify); unset = no keys"},
    {"--log-format", "PTUNED_LOG_FORMAT", OPT_LOG, NUM(log_format), 0, 0, "text or json [text]"},
    {"--drain-timeout", "PTUNED_DRAIN_TIMEOUT", OPT_INT, NUM(drain_timeout), 0, 3600, "seconds requests in flight get to finish on SIGTERM [30]"},
    {"--healthcheck", NULL, OPT_FLAG, NUM(healthcheck), 0, 0, "GET /healthz of the configured --listen address; exit 0 if it answers 200"},
    {"--version", NULL, OPT_FLAG, NUM(version), 0, 0, "print the version and exit"},
    {"--help", NULL, OPT_FLAG, NUM(help), 0, 0, "this help"},
};

#define N_OPTS (sizeof opts / sizeof opts[0])

void config_usage(FILE *out)
{
    fprintf(out, "usage: ptuned --model DIR [OPTIONS]\n\n"
                 "P-tuning as a service: trains prompt vectors per task on a frozen BERT and serves classification.\n\n"
                 "options (each also read from the environment variable shown):\n");
    for (size_t i = 0; i < N_OPTS; i++) {
        char left[64];
        snprintf(left, sizeof left, "%s%s", opts[i].flag, opts[i].kind == OPT_FLAG ? "" : " VALUE");
        fprintf(out, "  %-26s %-24s %s\n", left, opts[i].env ? opts[i].env : "", opts[i].help);
    }
}

static int set_value(config *c, const opt *o, const char *from, const char *v, pt_err *err)
{
    char *field = (char *)c + o->off;
    if (o->kind == OPT_STR) {
        if (!*v)
            return pt_fail(err, PT_EINVAL, "%s: empty value", from);
        if (strlen(v) >= o->cap)
            return pt_fail(err, PT_EINVAL, "%s: value too long (at most %zu bytes)", from, o->cap - 1);
        memcpy(field, v, strlen(v) + 1);
        return 0;
    }
    if (o->kind == OPT_LOG) {
        if (strcmp(v, "text") && strcmp(v, "json"))
            return pt_fail(err, PT_EINVAL, "%s: '%s' is not a log format (text or json)", from, v);
        *(http_log_format *)(void *)field = !strcmp(v, "json") ? HTTP_LOG_JSON : HTTP_LOG_TEXT;
        return 0;
    }
    char *end;
    errno = 0;
    long long n = isdigit((unsigned char)*v) ? strtoll(v, &end, 10) : -1;
    if (n >= 0 && o->kind == OPT_SIZE && *end && !end[1]) {
        int shift = *end == 'K' || *end == 'k' ? 10 : *end == 'M' || *end == 'm' ? 20 : *end == 'G' || *end == 'g' ? 30 : -1;
        if (shift > 0 && n <= (LLONG_MAX >> shift)) {
            n <<= shift;
            end++;
        }
    }
    if (n < 0 || errno || *end || n < o->min || n > o->max)
        return pt_fail(err, PT_EINVAL, "%s: '%s' is not an integer in %lld..%lld%s", from, v, o->min, o->max,
                       o->kind == OPT_SIZE ? " (K, M, G suffixes allowed)" : "");
    if (o->kind == OPT_SIZE)
        *(size_t *)(void *)field = (size_t)n;
    else
        *(int *)(void *)field = (int)n;
    return 0;
}

int config_parse(config *c, int argc, char **argv, pt_err *err)
{
    memset(c, 0, sizeof *c);
    strcpy(c->db, "./ptuned.db");
    strcpy(c->listen, "127.0.0.1:8080");
    c->workers = 1;
    c->max_body = 16u << 20;
    /* Throughput is flat from a few hundred tokens per pass up, while the pass's workspace grows
     * ~22 KB per token: on a bert-base backbone 1024 keeps the daemon's peak RSS at the weights + 10%
     * (measured: 430 MB, against 448 MB at 2048 and 477 MB at 4096, for a 390 MB weights file). */
    c->max_batch_tokens = 1024;
    c->max_client_batch = 64;
    c->queue_limit = 1024;
    c->drain_timeout = 30;
    int rc;
    for (size_t i = 0; i < N_OPTS; i++) {
        const char *v = opts[i].env ? getenv(opts[i].env) : NULL;
        if (v && (rc = set_value(c, &opts[i], opts[i].env, v, err)))
            return rc;
    }
    for (int a = 1; a < argc; a++) {
        const char *arg = argv[a], *eq = strchr(arg, '=');
        size_t name_len = eq ? (size_t)(eq - arg) : strlen(arg);
        const opt *o = NULL;
        for (size_t i = 0; i < N_OPTS && !o; i++)
            if (strlen(opts[i].flag) == name_len && !strncmp(arg, opts[i].flag, name_len))
                o = &opts[i];
        if (!o && !strcmp(arg, "-h"))
            o = &opts[N_OPTS - 1];
        if (!o)
            return pt_fail(err, PT_EINVAL, "unknown option '%s' (see --help)", arg);
        if (o->kind == OPT_FLAG) {
            if (eq)
                return pt_fail(err, PT_EINVAL, "%s takes no value", o->flag);
            *(bool *)((char *)c + o->off) = true;
            continue;
        }
        const char *v = eq ? eq + 1 : a + 1 < argc ? argv[++a] : NULL;
        if (!v)
            return pt_fail(err, PT_EINVAL, "%s needs a value", o->flag);
        if ((rc = set_value(c, o, o->flag, v, err)))
            return rc;
    }
    if (c->help || c->version || c->healthcheck)
        return 0;
    if (!c->model[0])
        return pt_fail(err, PT_EINVAL, "--model (or PTUNED_MODEL) is required: the backbone's model directory");
    char host[256];
    int port;
    return http_parse_listen(c->listen, host, sizeof host, &port, err);
}
