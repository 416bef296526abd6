/* rng — a small deterministic random generator (splitmix64 seeding + xoshiro256**), so that training
 * is reproducible bit for bit from a seed on every platform. The state is a value: no globals. */
#ifndef PT_RNG_H
#define PT_RNG_H

#include <stdint.h>

typedef struct rng {
    uint64_t s[4];
} rng;

void rng_seed(rng *r, uint64_t seed);
uint64_t rng_next(rng *r);
/* Uniform in [0, 1), 53 random bits. */
double rng_uniform(rng *r);
/* Uniform integer in [0, n), n > 0, without modulo bias. */
uint64_t rng_below(rng *r, uint64_t n);
/* Standard normal (Box-Muller). */
double rng_normal(rng *r);
/* Fisher-Yates shuffle of n ints. */
void rng_shuffle(rng *r, int *a, int n);

#endif
