/* prom — the daemon's counters and histograms, rendered in the Prometheus text exposition format
 * (version 0.0.4). Request series are keyed by method, route pattern and status (the pattern, not the
 * path, so that ids never explode the series count). Thread-safe. */
#ifndef PT_PROM_H
#define PT_PROM_H

#include <stddef.h>

typedef struct prom prom;

/* The plain counters (monotonic). */
typedef enum prom_counter {
    PROM_CLASSIFY_TEXTS,    /* texts classified */
    PROM_CLASSIFY_BATCHES,  /* merged forward passes */
    PROM_CLASSIFY_TOKENS,   /* tokens through those passes */
    PROM_CLASSIFY_REJECTED, /* texts refused with 429 */
    PROM_TRAIN_STEPS,       /* optimizer steps */
    PROM_TASKS_FINISHED,    /* jobs that ended (any outcome) */
    PROM_N_COUNTERS
} prom_counter;

prom *prom_new(void);
void prom_free(prom *p);

void prom_add(prom *p, prom_counter c, long n);
void prom_observe_request(prom *p, const char *method, const char *route, int status, double seconds);
/* Rows per merged classify batch. */
void prom_observe_batch(prom *p, int rows);

/* Appends the exposition text of everything above to a malloc'ed buffer; returns NULL on OOM. */
char *prom_render(prom *p);

#endif
