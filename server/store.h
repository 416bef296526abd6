/* store — the daemon's SQLite database, and the only code in the project that speaks SQL.
 *
 * One file, WAL journal, foreign keys on, a busy timeout for outside readers (the sqlite3 shell, backups).
 * store_open applies the pending migrations (embedded_file entries named NNNN_*.sql, strictly ascending)
 * in one transaction and records each in schema_migrations; a database that already has a version this
 * binary does not know is refused. One connection serves every thread: each store_* call is atomic (a
 * mutex plus, where it writes several rows, one transaction), so no caller ever sees half a dataset or
 * half a finished task.
 *
 * Reads hand back jansson objects shaped as the HTTP API shows them (the caller owns the reference).
 * Errors: PT_ENOTFOUND for a missing id, PT_ECONFLICT for a state that forbids the operation
 * (err->field names the offending part where there is one), PT_EIO for database failures.
 */
#ifndef PT_STORE_H
#define PT_STORE_H

#include <stdbool.h>
#include <stdint.h>

#include <jansson.h>

#include "embedded.h"
#include "err.h"

typedef struct store store;

/* Task states, as stored and as the API shows them. */
#define STORE_QUEUED "queued"
#define STORE_RUNNING "running"
#define STORE_SUCCEEDED "succeeded"
#define STORE_FAILED "failed"
#define STORE_CANCELLED "cancelled"

int store_open(store **out, const char *path, const embedded_file *migrations, int n_migrations, pt_err *err);
void store_close(store *s);

/* Fails unless a write transaction can be started right now (for /readyz). */
int store_check_writable(store *s, pt_err *err);

/* The schema as canonical text: one line per table/index, "type name: sql" with SQL comments dropped and
 * whitespace collapsed, sorted. store_schema_of_sql does the same for a script run on an empty in-memory
 * database, so that schema/schema.sql can be compared with the result of the migrations. */
int store_schema(store *s, char **out, pt_err *err);
int store_schema_of_sql(const char *sql, char **out, pt_err *err);

/* [{"version", "name", "applied_at"}] */
int store_migrations(store *s, json_t **out, pt_err *err);

/* ---- datasets ---- */

/* One labeled row (the shape of core/tsv's rows, kept separate so that the store stands alone). */
typedef struct store_row {
    const char *label;
    const char *text;
    long line; /* 1-based line in the uploaded file */
} store_row;

/* Rows read back for training: rows point into buf. */
typedef struct store_rows {
    store_row *rows;
    int n_rows;
    char *buf;
} store_rows;

/* A dataset to reference (rows == NULL: an existing id, 0 = none) or to create from parsed rows. */
typedef struct store_dataset_src {
    int64_t id;           /* in: existing id; out: the new id when rows are given */
    const char *name;
    const char *sha256;   /* of the uploaded bytes */
    const store_row *rows;
    int n_rows;
} store_dataset_src;

/* Inserts src (rows required) in one transaction; src->id receives the new id. */
int store_dataset_insert(store *s, store_dataset_src *src, pt_err *err);

/* {"id", "name", "rows", "labels": {label: count}, "sha256", "created_at"} */
int store_dataset_get(store *s, int64_t id, json_t **out, pt_err *err);
int store_dataset_list(store *s, json_t **out, pt_err *err);

/* {"dataset", "offset", "limit", "total", "rows": [{"line", "label", "text"}]} */
int store_dataset_rows(store *s, int64_t id, long offset, long limit, json_t **out, pt_err *err);

/* The rows for training, in upload order. */
int store_dataset_load(store *s, int64_t id, store_rows *out, pt_err *err);
void store_rows_free(store_rows *r);

/* PT_ECONFLICT while a queued or running task uses it. */
int store_dataset_delete(store *s, int64_t id, pt_err *err);

/* ---- tasks ---- */

/* Creates a queued task; train/dev datasets given with rows are created in the same transaction.
 * PT_ENOTFOUND (err->field "train_dataset"/"dev_dataset") for an unknown referenced dataset. */
int store_task_insert(store *s, const char *name, store_dataset_src *train, store_dataset_src *dev,
                      const char *config_json, int64_t *id, pt_err *err);

/* {"id", "name", "status", "train_dataset", "dev_dataset", "config", "attempts", "cancel_requested",
 *  "progress", "metrics", "curve", "error", "created_at", "started_at", "finished_at"} */
int store_task_get(store *s, int64_t id, json_t **out, pt_err *err);

/* Newest first; status and name filter when not NULL. */
int store_task_list(store *s, const char *status, const char *name, json_t **out, pt_err *err);

/* The task's status into status[16]. */
int store_task_status(store *s, int64_t id, char status[16], pt_err *err);

/* The newest succeeded task with this name. PT_ENOTFOUND when no task has the name, PT_ECONFLICT when
 * tasks have it but none has succeeded. */
int store_task_resolve(store *s, const char *name, int64_t *id, pt_err *err);

/* queued -> cancelled at once; running -> cancel_requested (the job stops between steps). *now_status
 * gets the status after the call. PT_ECONFLICT when the task has already finished. */
int store_task_cancel(store *s, int64_t id, char now_status[16], pt_err *err);

/* PT_ECONFLICT while running. */
int store_task_delete(store *s, int64_t id, pt_err *err);

/* At start-up: tasks left running by a crash go back to queued, or to failed (with a reason) once they
 * have been started max_attempts times, or to cancelled when a cancel had been requested. */
int store_task_recover(store *s, int max_attempts, int *requeued, int *failed, pt_err *err);

/* A claimed job: the oldest queued task, now running with attempts + 1. */
typedef struct store_job {
    int64_t id;
    char *name;
    char *config;         /* JSON text */
    int64_t train_dataset;
    int64_t dev_dataset;  /* 0 = none */
    int attempts;
} store_job;

/* Returns 1 with *job filled, 0 when nothing is queued, negative on error. */
int store_task_claim(store *s, store_job *job, pt_err *err);
void store_job_free(store_job *job);

int store_task_progress(store *s, int64_t id, const char *progress_json, pt_err *err);

/* A running task goes back to queued without counting the attempt (the daemon is shutting down). */
int store_task_release(store *s, int64_t id, pt_err *err);

/* running -> failed or cancelled with a reason. */
int store_task_finish_error(store *s, int64_t id, const char *status, const char *error, pt_err *err);

/* A learned prompt: what classification needs and what an export holds. */
typedef struct store_prompt {
    int n_tokens, dim;
    float *vectors;        /* n_tokens x dim */
    char *template_text;
    char *verbalizer;      /* JSON object label -> [words] */
    char *labels;          /* JSON array */
    char *fingerprint;
    char *ptune_json;
    char *adapter_config;
} store_prompt;

/* running -> succeeded, with the prompt, metrics and curve, in one transaction. */
int store_task_succeed(store *s, int64_t id, const store_prompt *p, const char *metrics_json,
                       const char *curve_json, pt_err *err);

/* An imported adapter becomes a succeeded task. */
int store_task_import(store *s, const char *name, const char *config_json, const store_prompt *p,
                      const char *metrics_json, const char *curve_json, int64_t *id, pt_err *err);

/* PT_ENOTFOUND when the task has no prompt (not succeeded). */
int store_prompt_get(store *s, int64_t task_id, store_prompt *out, pt_err *err);
void store_prompt_free(store_prompt *p);

/* Number of tasks per status, in the order queued, running, succeeded, failed, cancelled. */
int store_task_counts(store *s, long counts[5], pt_err *err);

#endif
