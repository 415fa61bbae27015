/*
 * testrng.h - the seeded random numbers of every randomized C test: splitmix64, seeded from
 * $CBR_SEED or else the clock. Each test prints the seed it used, so a failure replays with
 * CBR_SEED=<seed>.
 */
#ifndef CBR_TESTRNG_H
#define CBR_TESTRNG_H

#include <stdint.h>
#include <stdlib.h>
#include <time.h>

static uint64_t rng;

/* splitmix64 */
static inline uint64_t next_u64(void)
{
    uint64_t z = (rng += UINT64_C(0x9E3779B97F4A7C15));
    z = (z ^ (z >> 30)) * UINT64_C(0xBF58476D1CE4E5B9);
    z = (z ^ (z >> 27)) * UINT64_C(0x94D049BB133111EB);
    return z ^ (z >> 31);
}

/* Uniform in [0, n), n > 0. */
static inline uint32_t rnd(uint32_t n)
{
    return (uint32_t)(next_u64() % n);
}

/* The run's seed: $CBR_SEED (any base strtoull reads), else the clock. */
static inline uint64_t test_seed(void)
{
    const char *env = getenv("CBR_SEED");
    return env && *env ? strtoull(env, NULL, 0) : (uint64_t)time(NULL);
}

#endif
