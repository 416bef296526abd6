/* jobs — training on a pool of worker threads fed from the queue in the database.
 *
 * A worker claims the oldest queued task (the store marks it running and counts the attempt), loads its
 * datasets, runs train_run, and stores the learned prompt with the metrics and curve in one transaction
 * (succeeded) — or the reason (failed / cancelled). Between steps the progress callback persists
 * progress (at most once a second, and at every epoch end), stops on cancel or shutdown, and yields to
 * waiting classification work. On shutdown a running task is put back in the queue (its attempt not
 * counted) so that the next start runs it again; crash recovery is the store's (store_task_recover).
 */
#ifndef PT_JOBS_H
#define PT_JOBS_H

#include <stdint.h>

#include "batcher.h"
#include "bert.h"
#include "err.h"
#include "http.h"
#include "prom.h"
#include "store.h"

#define JOBS_MAX_ATTEMPTS 3

typedef struct jobs jobs;

int jobs_start(jobs **out, const bert_model *m, store *db, batcher *b, prom *stats, int workers,
               http_log_format log_format, pt_err *err);
/* A task was queued: wake an idle worker. */
void jobs_notify(jobs *j);
/* The task's job, if running here, stops before its next step. */
void jobs_cancel(jobs *j, int64_t task_id);
/* Interrupts running jobs between steps, re-queues their tasks, joins the workers, frees j. */
void jobs_stop(jobs *j);

#endif
