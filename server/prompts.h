/* prompts — learned prompts between their stored form and their working forms: the compiled
 * classification tasks (a cache by task id, loaded from the store on first use, shared by request
 * threads while in use), and the adapter artefact used by export, import and the training jobs.
 * A succeeded task's prompt never changes, so the cache is never stale; deleting a task evicts it. */
#ifndef PT_PROMPTS_H
#define PT_PROMPTS_H

#include <stdint.h>

#include "adapter.h"
#include "bert.h"
#include "classify.h"
#include "err.h"
#include "store.h"

typedef struct prompts prompts;

int prompts_new(prompts **out, const bert_model *m, store *db, int capacity, pt_err *err);
void prompts_free(prompts *p);

/* The compiled task of a succeeded task, held until prompts_release. PT_ENOTFOUND when the task has no
 * prompt, PT_EMISMATCH when it belongs to another backbone. */
int prompts_acquire(prompts *p, int64_t task_id, const classify_task **out, pt_err *err);
void prompts_release(prompts *p, const classify_task *t);
void prompts_evict(prompts *p, int64_t task_id);

/* Stored prompt -> adapter (for export). */
int prompts_to_adapter(const store_prompt *sp, adapter *a, pt_err *err);
/* Adapter -> stored prompt (for import and finished jobs); free with store_prompt_free. */
int prompts_from_adapter(const adapter *a, store_prompt *sp, pt_err *err);

#endif
