#include "prompts.h"

#include <pthread.h>
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>

#include "safetensors.h"

typedef struct entry {
    int64_t id;
    classify_task *task;
    int refs;
    bool dead; /* evicted while in use: freed by the last release, never found again */
    uint64_t last_used;
} entry;

struct prompts {
    const bert_model *m;
    store *db;
    pthread_mutex_t mu;
    entry *e;
    int n, cap;
    uint64_t clock;
};

int prompts_new(prompts **out, const bert_model *m, store *db, int capacity, pt_err *err)
{
    prompts *p = calloc(1, sizeof *p);
    if (!p || !(p->e = calloc((size_t)capacity, sizeof *p->e))) {
        free(p);
        return pt_fail(err, PT_ENOMEM, "out of memory");
    }
    p->m = m;
    p->db = db;
    p->cap = capacity;
    pthread_mutex_init(&p->mu, NULL);
    *out = p;
    return 0;
}

void prompts_free(prompts *p)
{
    if (!p)
        return;
    for (int i = 0; i < p->n; i++)
        classify_task_free(p->e[i].task);
    pthread_mutex_destroy(&p->mu);
    free(p->e);
    free(p);
}

int prompts_to_adapter(const store_prompt *sp, adapter *a, pt_err *err)
{
    /* The stored form keeps the vectors as a BLOB; the artefact wants them as adapter_model.safetensors. */
    st_wtensor t = {.name = "prompt_embeddings", .dtype = ST_F32, .ndim = 2, .shape = {sp->n_tokens, sp->dim},
                    .data = sp->vectors};
    static const char *const meta[] = {"format", "pt", NULL};
    adapter_files f = {.config = sp->adapter_config, .config_len = strlen(sp->adapter_config),
                       .ptune = sp->ptune_json, .ptune_len = strlen(sp->ptune_json)};
    int rc = st_serialize(&f.model, &f.model_len, &t, 1, meta, err);
    if (!rc)
        rc = adapter_deserialize(a, &f, err);
    free(f.model);
    return rc;
}

int prompts_from_adapter(const adapter *a, store_prompt *sp, pt_err *err)
{
    memset(sp, 0, sizeof *sp);
    adapter_files f = {0};
    int rc = adapter_serialize(a, &f, err);
    if (rc)
        return rc;
    size_t n = (size_t)a->n_prompt * (size_t)a->hidden;
    json_t *verb = verbalizer_to_json(&a->cfg.verb), *labels = json_array();
    for (int i = 0; i < a->cfg.verb.n_labels; i++)
        json_array_append_new(labels, json_string(a->cfg.verb.labels[i]));
    sp->n_tokens = a->n_prompt;
    sp->dim = a->hidden;
    sp->vectors = malloc(n * sizeof(float) + 1);
    sp->template_text = strdup(a->cfg.template_src ? a->cfg.template_src : TEMPLATE_DEFAULT);
    sp->verbalizer = verb ? json_dumps(verb, JSON_COMPACT) : NULL;
    sp->labels = json_dumps(labels, JSON_COMPACT);
    sp->fingerprint = strdup(a->fingerprint);
    sp->ptune_json = strndup(f.ptune, f.ptune_len);
    sp->adapter_config = strndup(f.config, f.config_len);
    json_decref(verb);
    json_decref(labels);
    adapter_files_free(&f);
    if (!sp->vectors || !sp->template_text || !sp->verbalizer || !sp->labels || !sp->fingerprint ||
        !sp->ptune_json || !sp->adapter_config) {
        store_prompt_free(sp);
        return pt_fail(err, PT_ENOMEM, "out of memory");
    }
    memcpy(sp->vectors, a->vectors, n * sizeof(float));
    return 0;
}

/* Loads and compiles a task's prompt; runs without the lock (the store has its own). */
static int load(prompts *p, int64_t id, classify_task **out, pt_err *err)
{
    store_prompt sp;
    adapter a;
    memset(&a, 0, sizeof a);
    int rc = store_prompt_get(p->db, id, &sp, err);
    if (rc)
        return rc;
    rc = prompts_to_adapter(&sp, &a, err);
    if (!rc)
        rc = classify_task_new(out, p->m, &a, err);
    adapter_free(&a);
    store_prompt_free(&sp);
    return rc;
}

/* Makes room for one more entry: drops the least recently used one nobody holds. */
static void make_room(prompts *p)
{
    if (p->n < p->cap)
        return;
    int victim = -1;
    for (int i = 0; i < p->n; i++)
        if (!p->e[i].refs && (victim < 0 || p->e[i].last_used < p->e[victim].last_used))
            victim = i;
    if (victim >= 0) {
        classify_task_free(p->e[victim].task);
        p->e[victim] = p->e[--p->n];
        return;
    }
    entry *grown = realloc(p->e, (size_t)(2 * p->cap) * sizeof *p->e);
    if (grown)
        p->e = grown, p->cap *= 2;
}

int prompts_acquire(prompts *p, int64_t task_id, const classify_task **out, pt_err *err)
{
    pthread_mutex_lock(&p->mu);
    for (int i = 0; i < p->n; i++)
        if (p->e[i].id == task_id && !p->e[i].dead) {
            p->e[i].refs++;
            p->e[i].last_used = ++p->clock;
            *out = p->e[i].task;
            pthread_mutex_unlock(&p->mu);
            return 0;
        }
    pthread_mutex_unlock(&p->mu);
    classify_task *t = NULL;
    int rc = load(p, task_id, &t, err);
    if (rc)
        return rc;
    pthread_mutex_lock(&p->mu);
    /* Another thread may have loaded it meanwhile: keep one. */
    for (int i = 0; i < p->n; i++)
        if (p->e[i].id == task_id && !p->e[i].dead) {
            classify_task_free(t);
            t = p->e[i].task;
            p->e[i].refs++;
            p->e[i].last_used = ++p->clock;
            *out = t;
            pthread_mutex_unlock(&p->mu);
            return 0;
        }
    make_room(p);
    if (p->n == p->cap) {
        pthread_mutex_unlock(&p->mu);
        classify_task_free(t);
        return pt_fail(err, PT_ENOMEM, "out of memory");
    }
    p->e[p->n++] = (entry){.id = task_id, .task = t, .refs = 1, .last_used = ++p->clock};
    *out = t;
    pthread_mutex_unlock(&p->mu);
    return 0;
}

void prompts_release(prompts *p, const classify_task *t)
{
    pthread_mutex_lock(&p->mu);
    for (int i = 0; i < p->n; i++)
        if (p->e[i].task == t) {
            if (!--p->e[i].refs && p->e[i].dead) {
                classify_task_free(p->e[i].task);
                p->e[i] = p->e[--p->n];
            }
            break;
        }
    pthread_mutex_unlock(&p->mu);
}

void prompts_evict(prompts *p, int64_t task_id)
{
    pthread_mutex_lock(&p->mu);
    for (int i = 0; i < p->n; i++)
        if (p->e[i].id == task_id && !p->e[i].dead) {
            if (p->e[i].refs) {
                p->e[i].dead = true;
            } else {
                classify_task_free(p->e[i].task);
                p->e[i] = p->e[--p->n];
            }
            break;
        }
    pthread_mutex_unlock(&p->mu);
}
