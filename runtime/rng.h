/* rng.h - counter-based random numbers: every draw is a pure function of (seed, stream, index),
 * so every rank, every backend and every TP degree draws the same numbers without any state
 * to keep in step. Used for the uniforms of rejection sampling and the Gumbel noise of sampling.
 *
 * The functions are __host__ __device__ under nvcc (FRS_HD), so device code (the acceptance walk
 * in kernels/cuda_tree.cu) draws bit-identical numbers from this very source.
 *
 * defines: frs_rng_u64, frs_rng_uniform, frs_rng_gumbel, FRS_HD
 */
#ifndef FRSPEC_RNG_H
#define FRSPEC_RNG_H

#include <math.h>
#include <stdint.h>

#ifndef FRS_HD
#ifdef __CUDACC__
#define FRS_HD __host__ __device__
#else
#define FRS_HD
#endif
#endif

FRS_HD static inline uint64_t frs_mix64(uint64_t z)
{
    z += 0x9e3779b97f4a7c15ull;
    z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ull;
    z = (z ^ (z >> 27)) * 0x94d049bb133111ebull;
    return z ^ (z >> 31);
}

FRS_HD static inline uint64_t frs_rng_u64(uint64_t seed, uint64_t stream, uint64_t index)
{
    return frs_mix64(frs_mix64(frs_mix64(seed) ^ stream) ^ index);
}

/* Uniform in (0, 1), 53 bits. */
FRS_HD static inline double frs_rng_uniform(uint64_t seed, uint64_t stream, uint64_t index)
{
    return ((double)(frs_rng_u64(seed, stream, index) >> 11) + 0.5) * (1.0 / 9007199254740992.0);
}

/* Standard Gumbel: -log(-log(u)). */
FRS_HD static inline double frs_rng_gumbel(uint64_t seed, uint64_t stream, uint64_t index)
{
    return -log(-log(frs_rng_uniform(seed, stream, index)));
}

#endif
