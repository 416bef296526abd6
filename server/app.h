/* app — what the route handlers share: configuration, the backbone, the store, the compute services.
 * One instance lives in main() for the daemon's lifetime; handlers receive it as their `app` pointer.
 * Every member is thread-safe to use from any request thread. */
#ifndef PT_APP_H
#define PT_APP_H

#include <time.h>

#include "auth.h"
#include "batcher.h"
#include "bert.h"
#include "config.h"
#include "http.h"
#include "jobs.h"
#include "prom.h"
#include "prompts.h"
#include "store.h"
#include "tsv.h"

#define PTUNED_VERSION "0.1.0"

typedef struct app {
    config cfg;
    const bert_model *model;
    store *db;
    auth_keys *keys;     /* NULL: no authentication */
    prom *metrics;
    prompts *cache;      /* compiled tasks for classification */
    batcher *batch;
    jobs *jobs;
    http_server *http;   /* for the draining state */
    time_t started;
} app;

/* The routing table (routes.c) and its handlers, one file per route family. */
extern const http_route app_routes[];
extern const int app_n_routes;

void route_healthz(http_req *r, void *app);
void route_readyz(http_req *r, void *app);
void route_info(http_req *r, void *app);
void route_metrics(http_req *r, void *app);
void route_openapi(http_req *r, void *app);

void route_dataset_create(http_req *r, void *app);
void route_dataset_list(http_req *r, void *app);
void route_dataset_get(http_req *r, void *app);
void route_dataset_rows(http_req *r, void *app);
void route_dataset_delete(http_req *r, void *app);

void route_task_create(http_req *r, void *app);
void route_task_list(http_req *r, void *app);
void route_task_get(http_req *r, void *app);
void route_task_cancel(http_req *r, void *app);
void route_task_delete(http_req *r, void *app);
void route_task_adapter(http_req *r, void *app);
void route_task_import(http_req *r, void *app);

void route_classify(http_req *r, void *app);

/* Shared by the dataset and task routes: parses a TSV upload (all or nothing). On failure replies
 * 400 `invalid_tsv` with the line (and byte offset; field names the JSON key when it came in one) and
 * returns non-zero. */
int app_parse_tsv(http_req *r, const char *field, const char *buf, size_t len, tsv_data *out);

/* The longest text POST /classify takes, in bytes: as long as a dataset row may be. */
#define APP_MAX_TEXT TSV_MAX_LINE

/* A name from a client (dataset, task): 1..APP_NAME_MAX bytes of valid UTF-8, no control characters. */
#define APP_NAME_MAX 200
bool app_valid_name(const char *name);

/* Replies 404 for an unknown task and 409 `task_not_ready` unless it has succeeded. */
bool app_task_ready(http_req *r, app *a, int64_t id);

#endif
