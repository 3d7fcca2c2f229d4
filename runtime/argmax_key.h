/* argmax_key.h - (value, index) packed into one uint64 whose unsigned order is "larger value
 * first, then lower index", so a distributed argmax is a single MAX all-reduce (MPI_UINT64_T /
 * ncclUint64 + ncclMax) and host and device agree bit for bit. -0.0 packs as +0.0 (equal values
 * tie on the index); NaN orders above +inf (a NaN logit wins, visibly). Indices are >= 0.
 *
 * Kept inline on purpose: the CUDA kernels that compute each rank's local argmax pack with the
 * same function (__host__ __device__ under nvcc).
 *
 * defines: frs_argmax_key_pack, frs_argmax_key_value, frs_argmax_key_index
 */
#ifndef FRSPEC_ARGMAX_KEY_H
#define FRSPEC_ARGMAX_KEY_H

#include <stdint.h>
#include <string.h>

#ifdef __CUDACC__
#define FRS_HD __host__ __device__
#else
#define FRS_HD
#endif

static inline FRS_HD uint64_t frs_argmax_key_pack(float v, int32_t idx)
{
    uint32_t u;
    if (v == 0.0f)
        v = 0.0f; /* -0.0 -> +0.0 */
    memcpy(&u, &v, sizeof u);
    u = (u & 0x80000000u) ? ~u : (u | 0x80000000u); /* float order -> unsigned order */
    return ((uint64_t)u << 32) | (uint64_t)(0xffffffffu - (uint32_t)idx);
}

static inline FRS_HD float frs_argmax_key_value(uint64_t key)
{
    uint32_t u = (uint32_t)(key >> 32);
    u = (u & 0x80000000u) ? (u & 0x7fffffffu) : ~u;
    float v;
    memcpy(&v, &u, sizeof v);
    return v;
}

static inline FRS_HD int32_t frs_argmax_key_index(uint64_t key)
{
    return (int32_t)(0xffffffffu - (uint32_t)(key & 0xffffffffu));
}

#endif
