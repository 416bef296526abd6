/* config — the daemon's configuration: command-line flags, each with an environment twin
 * (--max-body / PTUNED_MAX_BODY); a flag wins over its variable, a variable over the default.
 * Any bad value is one clear error naming the flag (or variable) and what it accepts. */
#ifndef PT_CONFIG_H
#define PT_CONFIG_H

#include <stdbool.h>
#include <stddef.h>
#include <stdio.h>

#include "err.h"
#include "http.h"

typedef struct config {
    char model[1024];         /* model directory (required) */
    char db[1024];            /* SQLite file */
    char listen[300];         /* host:port */
    int workers;              /* training threads */
    int threads;              /* compute (OpenBLAS) threads; 0 = OpenBLAS's default */
    size_t max_body;          /* bytes */
    int max_batch_tokens;     /* tokens per merged classify forward pass */
    int max_client_batch;     /* texts per classify call */
    int queue_limit;          /* texts waiting for the batcher before 429 */
    char api_keys_file[1024]; /* "" = no authentication */
    http_log_format log_format;
    int drain_timeout;        /* seconds to let requests in flight finish on SIGTERM */
    bool help, version, healthcheck;
} config;

/* argv[0] is skipped. */
int config_parse(config *c, int argc, char **argv, pt_err *err);
void config_usage(FILE *out);

#endif
