#include "jobs.h"

#include <pthread.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "adapter.h"
#include "log.h"
#include "prompts.h"
#include "train.h"

typedef struct worker {
    jobs *j;
    pthread_t thread;
    atomic_llong task_id; /* running task, 0 when idle */
    atomic_bool cancel;
    double last_persist;
} worker;

struct jobs {
    const bert_model *m;
    store *db;
    batcher *b;
    prom *stats;
    worker *w;
    int n;
    pthread_mutex_t mu;
    pthread_cond_t wake;
    bool stop;
    atomic_bool stopping; /* read by the progress callbacks without the lock */
    http_log_format log_format;
};

static double now_s(void)
{
    struct timespec t;
    clock_gettime(CLOCK_MONOTONIC, &t);
    return (double)t.tv_sec + (double)t.tv_nsec * 1e-9;
}

static void log_job(jobs *j, int64_t id, const char *what, const char *detail)
{
    log_event(j->log_format, strcmp(what, "failed") ? "info" : "warn", "task", "%lld %s%s%s", (long long)id, what,
              detail ? ": " : "", detail ? detail : "");
}

static json_t *progress_json(const train_progress *p)
{
    json_t *o = json_pack("{s:i, s:i, s:I, s:I, s:f, s:i, s:f, s:f}", "epoch", p->epoch, "epochs", p->epochs,
                          "step", (json_int_t)p->step, "total_steps", (json_int_t)p->total_steps, "loss", p->loss,
                          "best_epoch", p->best_epoch, "elapsed", p->elapsed, "eta", p->eta);
    if (o && p->dev)
        json_object_set_new(o, "dev", json_pack("{s:f, s:f, s:f}", "accuracy", p->dev->accuracy, "macro_f1",
                                                p->dev->macro_f1, "weighted_f1", p->dev->weighted_f1));
    return o;
}

static int on_progress(const train_progress *p, void *user)
{
    worker *w = user;
    jobs *j = w->j;
    if (!p->epoch_end)
        prom_add(j->stats, PROM_TRAIN_STEPS, 1);
    double t = now_s();
    if (p->epoch_end || t - w->last_persist >= 1.0) {
        json_t *o = progress_json(p);
        char *text = o ? json_dumps(o, JSON_COMPACT) : NULL;
        if (text)
            store_task_progress(j->db, (int64_t)atomic_load(&w->task_id), text, NULL);
        free(text);
        json_decref(o);
        w->last_persist = t;
    }
    if (atomic_load(&j->stopping) || atomic_load(&w->cancel))
        return 1;
    batcher_yield(j->b);
    return atomic_load(&j->stopping) || atomic_load(&w->cancel);
}

/* store rows -> the tsv_row view train_run takes (same fields; the strings stay in r). */
static tsv_row *as_tsv(const store_rows *r)
{
    tsv_row *t = calloc((size_t)r->n_rows + 1, sizeof *t);
    for (int i = 0; t && i < r->n_rows; i++)
        t[i] = (tsv_row){.label = r->rows[i].label, .text = r->rows[i].text, .line = r->rows[i].line};
    return t;
}

static json_t *final_metrics(const train_result *res, const adapter *a)
{
    return json_pack("{s:O, s:i, s:i, s:f, s:I, s:I}", "dev", a->metrics, "best_epoch", res->best_epoch,
                     "epochs_run", res->epochs_run, "seconds", res->seconds, "train_truncated",
                     (json_int_t)res->train_truncated, "dev_truncated", (json_int_t)res->dev_truncated);
}

static int save_result(jobs *j, int64_t id, const train_config *cfg, const train_result *res, pt_err *err)
{
    adapter a;
    memset(&a, 0, sizeof a);
    store_prompt sp;
    int rc = adapter_from_train(&a, j->m, cfg, res, err);
    if (!rc)
        rc = prompts_from_adapter(&a, &sp, err);
    if (rc) {
        adapter_free(&a);
        return rc;
    }
    json_t *summary = final_metrics(res, &a);
    char *m_text = summary ? json_dumps(summary, JSON_COMPACT) : NULL;
    char *c_text = json_dumps(a.curve, JSON_COMPACT);
    rc = m_text && c_text ? store_task_succeed(j->db, id, &sp, m_text, c_text, err)
                          : pt_fail(err, PT_ENOMEM, "out of memory");
    free(m_text);
    free(c_text);
    json_decref(summary);
    store_prompt_free(&sp);
    adapter_free(&a);
    return rc;
}

static int train_job(worker *w, const store_job *job, pt_err *err)
{
    jobs *j = w->j;
    store_rows train = {0}, dev = {0};
    tsv_row *train_rows = NULL, *dev_rows = NULL;
    train_config cfg;
    train_result res;
    memset(&res, 0, sizeof res);
    train_config_init(&cfg);
    json_error_t je;
    json_t *cfg_json = json_loads(job->config, 0, &je);
    int rc = cfg_json ? train_config_parse(&cfg, cfg_json, err)
                      : pt_fail(err, PT_EFORMAT, "stored config is not JSON: %s", je.text);
    json_decref(cfg_json);
    if (!rc && !job->train_dataset)
        rc = pt_fail(err, PT_ENOTFOUND, "the training dataset was deleted");
    if (!rc)
        rc = store_dataset_load(j->db, job->train_dataset, &train, err);
    if (!rc && job->dev_dataset)
        rc = store_dataset_load(j->db, job->dev_dataset, &dev, err);
    if (!rc && (!(train_rows = as_tsv(&train)) || !(dev_rows = as_tsv(&dev))))
        rc = pt_fail(err, PT_ENOMEM, "out of memory");
    if (!rc) {
        w->last_persist = 0;
        rc = train_run(j->m, train_rows, train.n_rows, dev.n_rows ? dev_rows : NULL, dev.n_rows, &cfg, on_progress,
                       w, &res, err);
    }
    if (!rc) {
        rc = save_result(j, job->id, &cfg, &res, err);
        train_result_free(&res);
    }
    free(train_rows);
    free(dev_rows);
    store_rows_free(&train);
    store_rows_free(&dev);
    train_config_free(&cfg);
    return rc;
}

static void finish(worker *w, const store_job *job, int rc, pt_err *err)
{
    jobs *j = w->j;
    if (rc == PT_ECANCELLED && atomic_load(&j->stopping) && !atomic_load(&w->cancel)) {
        store_task_release(j->db, job->id, NULL);
        log_job(j, job->id, "interrupted by shutdown, queued again", NULL);
        return;
    }
    prom_add(j->stats, PROM_TASKS_FINISHED, 1);
    if (!rc) {
        log_job(j, job->id, "succeeded", NULL);
    } else if (rc == PT_ECANCELLED) {
        store_task_finish_error(j->db, job->id, STORE_CANCELLED, "cancelled by request", NULL);
        log_job(j, job->id, "cancelled", NULL);
    } else {
        store_task_finish_error(j->db, job->id, STORE_FAILED, err->msg, NULL);
        log_job(j, job->id, "failed", err->msg);
    }
}

static void *work(void *arg)
{
    worker *w = arg;
    jobs *j = w->j;
    for (;;) {
        pthread_mutex_lock(&j->mu);
        bool stop = j->stop;
        pthread_mutex_unlock(&j->mu);
        if (stop)
            break;
        store_job job;
        pt_err err;
        pt_err_clear(&err);
        int got = store_task_claim(j->db, &job, &err);
        if (got <= 0) {
            if (got < 0)
                log_event(j->log_format, "error", "task", "cannot claim a task: %s", err.msg);
            struct timespec until;
            clock_gettime(CLOCK_REALTIME, &until);
            until.tv_sec += 2; /* also a safety net should a notify be missed */
            pthread_mutex_lock(&j->mu);
            if (!j->stop)
                pthread_cond_timedwait(&j->wake, &j->mu, &until);
            pthread_mutex_unlock(&j->mu);
            continue;
        }
        atomic_store(&w->cancel, false);
        atomic_store(&w->task_id, job.id);
        log_job(j, job.id, "started", NULL);
        int rc = train_job(w, &job, &err);
        finish(w, &job, rc, &err);
        atomic_store(&w->task_id, 0);
        store_job_free(&job);
    }
    return NULL;
}

int jobs_start(jobs **out, const bert_model *m, store *db, batcher *b, prom *stats, int workers,
               http_log_format log_format, pt_err *err)
{
    *out = NULL;
    jobs *j = calloc(1, sizeof *j);
    if (!j || !(j->w = calloc((size_t)workers, sizeof *j->w))) {
        free(j);
        return pt_fail(err, PT_ENOMEM, "out of memory");
    }
    j->m = m;
    j->db = db;
    j->b = b;
    j->stats = stats;
    j->log_format = log_format;
    pthread_mutex_init(&j->mu, NULL);
    pthread_cond_init(&j->wake, NULL);
    for (int i = 0; i < workers; i++) {
        j->w[i].j = j;
        if (pthread_create(&j->w[i].thread, NULL, work, &j->w[i])) {
            jobs_stop(j);
            return pt_fail(err, PT_EIO, "cannot start training worker %d", i + 1);
        }
        j->n++;
    }
    *out = j;
    return 0;
}

void jobs_notify(jobs *j)
{
    pthread_mutex_lock(&j->mu);
    pthread_cond_signal(&j->wake);
    pthread_mutex_unlock(&j->mu);
}

void jobs_cancel(jobs *j, int64_t task_id)
{
    for (int i = 0; i < j->n; i++)
        if (atomic_load(&j->w[i].task_id) == task_id)
            atomic_store(&j->w[i].cancel, true);
}

void jobs_stop(jobs *j)
{
    if (!j)
        return;
    pthread_mutex_lock(&j->mu);
    j->stop = true;
    atomic_store(&j->stopping, true);
    pthread_cond_broadcast(&j->wake);
    pthread_mutex_unlock(&j->mu);
    for (int i = 0; i < j->n; i++)
        pthread_join(j->w[i].thread, NULL);
    pthread_cond_destroy(&j->wake);
    pthread_mutex_destroy(&j->mu);
    free(j->w);
    free(j);
}
