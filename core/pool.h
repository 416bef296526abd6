/* pool — the engine's persistent worker threads.
 *
 * pool_run(n_tasks, fn, arg) calls fn(arg, i) once for every i in [0, n_tasks), spread over the
 * calling thread and up to tensor_threads() - 1 workers that live for the whole process, and returns
 * when all calls have returned. Tasks are claimed one at a time, so the caller never waits for a
 * worker that is asleep or descheduled: it takes the remaining tasks itself. Workers spin briefly
 * after a job (a forward pass posts hundreds of jobs back to back) and then sleep on a condition
 * variable, so an idle process costs no CPU.
 *
 * One job runs at a time: a thread calling pool_run while another thread's job is running runs its
 * own tasks alone rather than queueing (several requests on a 2-core machine already fill it). fn
 * must not call pool_run itself (it would run inline, which is correct but serial).
 */
#ifndef PT_POOL_H
#define PT_POOL_H

typedef void (*pool_fn)(void *arg, int task);

void pool_run(int n_tasks, pool_fn fn, void *arg);

/* How many threads pool_run would use now: 1 + workers, at most tensor_threads(). */
int pool_threads(void);

#endif
