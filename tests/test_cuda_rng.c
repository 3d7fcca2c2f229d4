/* test_cuda_rng.c - runtime/rng.h compiled for the device gives the host's bits: frs_rng_u64 and
 * frs_rng_uniform bit for bit, frs_rng_gumbel within the last bits of the two log() libraries
 * (CUDA's log is within 1 ulp of glibc's), on structured and random (seed, stream, index) triples;
 * and the product's launchers that draw from rng.h (cuda_rng_gumbel_fill) agree with the same
 * device evaluation bit for bit. Exits 77 (skipped) without a CUDA device.
 *
 * Reference: the host build of rng.h itself (the CPU backend's draws).
 */
#include <math.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <cuda_runtime_api.h>

#include "cuda_ops.h"
#include "rng.h"
#include "testutil.h"

#define CK(expr)                                                                                  \
    do {                                                                                          \
        cudaError_t ck_e_ = (expr);                                                               \
        CHECK(ck_e_ == cudaSuccess, "%s: %s", #expr, cudaGetErrorString(ck_e_));                  \
    } while (0)

static uint64_t g_rng;

static uint64_t rnd_u64(void)
{
    g_rng ^= g_rng << 13;
    g_rng ^= g_rng >> 7;
    g_rng ^= g_rng << 17;
    return g_rng;
}

static void *dalloc(size_t bytes)
{
    void *p = NULL;
    CK(cudaMalloc(&p, bytes));
    return p;
}

/* |a - b| in units in the last place of b (0 when equal, huge across a sign change) */
static double ulps(double a, double b)
{
    if (a == b)
        return 0.0;
    int e;
    frexp(b, &e);
    return fabs(a - b) / ldexp(1.0, e - 53);
}

int main(void)
{
    int ndev = 0;
    if (cudaGetDeviceCount(&ndev) != cudaSuccess || ndev == 0) {
        fprintf(stderr, "test_cuda_rng: no CUDA device, skipped\n");
        return TEST_SKIP;
    }
    const char *env = getenv("FRS_TEST_SEED");
    g_rng = env ? strtoull(env, NULL, 10) : (uint64_t)time(NULL) * 2654435761ull + 1;
    if (!g_rng)
        g_rng = 1;
    fprintf(stderr, "test_cuda_rng: seed %llu\n", (unsigned long long)g_rng);

    /* inputs: every combination of edge values, counters 0.. on a few streams (the shapes the
     * engine uses: draw ids, token ids), then random triples */
    const uint64_t edge[] = {0, 1, 2, 0x7fffffffffffffffull, 0x8000000000000000ull, 0xffffffffffffffffull,
                             0x9e3779b97f4a7c15ull, 42, 128256};
    const int ne = (int)(sizeof edge / sizeof edge[0]);
    const int n_seq = 4 * 65536, n_rand = 1 << 20, n = ne * ne * ne + n_seq + n_rand;
    uint64_t *seed = malloc((size_t)n * 8), *stream = malloc((size_t)n * 8), *index = malloc((size_t)n * 8);
    int k = 0;
    for (int a = 0; a < ne; a++)
        for (int b = 0; b < ne; b++)
            for (int c = 0; c < ne; c++, k++) {
                seed[k] = edge[a];
                stream[k] = edge[b];
                index[k] = edge[c];
            }
    for (int i = 0; i < n_seq; i++, k++) {
        seed[k] = i < 65536 ? 1234 : rnd_u64();
        stream[k] = (uint64_t)(i / 65536);
        index[k] = (uint64_t)(i % 65536);
    }
    for (; k < n; k++) {
        seed[k] = rnd_u64();
        stream[k] = rnd_u64() >> (rnd_u64() % 64);
        index[k] = rnd_u64() >> (rnd_u64() % 64);
    }

    uint64_t *d_seed = dalloc((size_t)n * 8), *d_stream = dalloc((size_t)n * 8), *d_index = dalloc((size_t)n * 8);
    uint64_t *d_u = dalloc((size_t)n * 8);
    double *d_uni = dalloc((size_t)n * 8), *d_g = dalloc((size_t)n * 8);
    CK(cudaMemcpy(d_seed, seed, (size_t)n * 8, cudaMemcpyHostToDevice));
    CK(cudaMemcpy(d_stream, stream, (size_t)n * 8, cudaMemcpyHostToDevice));
    CK(cudaMemcpy(d_index, index, (size_t)n * 8, cudaMemcpyHostToDevice));
    CHECK_OK(cuda_rng_eval(d_seed, d_stream, d_index, n, d_u, d_uni, d_g, 0));
    uint64_t *u = malloc((size_t)n * 8);
    double *uni = malloc((size_t)n * 8), *g = malloc((size_t)n * 8);
    CK(cudaMemcpy(u, d_u, (size_t)n * 8, cudaMemcpyDeviceToHost));
    CK(cudaMemcpy(uni, d_uni, (size_t)n * 8, cudaMemcpyDeviceToHost));
    CK(cudaMemcpy(g, d_g, (size_t)n * 8, cudaMemcpyDeviceToHost));

    long bad_u = 0, bad_uni = 0, exact_g = 0;
    double worst_g = 0, worst_g_ulp = 0;
    int first_bad = -1;
    for (int i = 0; i < n; i++) {
        const uint64_t hu = frs_rng_u64(seed[i], stream[i], index[i]);
        const double huni = frs_rng_uniform(seed[i], stream[i], index[i]);
        const double hg = frs_rng_gumbel(seed[i], stream[i], index[i]);
        if (u[i] != hu || memcmp(&uni[i], &huni, 8) != 0) {
            bad_u += u[i] != hu;
            bad_uni += memcmp(&uni[i], &huni, 8) != 0;
            if (first_bad < 0)
                first_bad = i;
        }
        exact_g += memcmp(&g[i], &hg, 8) == 0;
        const double err = fabs(g[i] - hg) / (1.0 + fabs(hg));
        if (!(err <= worst_g))
            worst_g = err;
        const double ul = ulps(g[i], hg);
        if (!(ul <= worst_g_ulp))
            worst_g_ulp = ul;
    }
    if (first_bad >= 0)
        fprintf(stderr, "first difference at (%llu, %llu, %llu): u64 %016llx vs %016llx, uniform %.17g vs %.17g\n",
                (unsigned long long)seed[first_bad], (unsigned long long)stream[first_bad],
                (unsigned long long)index[first_bad], (unsigned long long)u[first_bad],
                (unsigned long long)frs_rng_u64(seed[first_bad], stream[first_bad], index[first_bad]), uni[first_bad],
                frs_rng_uniform(seed[first_bad], stream[first_bad], index[first_bad]));
    fprintf(stderr, "rng: %d triples; frs_rng_u64 %ld differ, frs_rng_uniform %ld differ; frs_rng_gumbel %ld "
                    "bit-identical (%.2f%%), worst |d|/(1+|g|) %.3g, worst %.3g ulp\n",
            n, bad_u, bad_uni, exact_g, 100.0 * (double)exact_g / n, worst_g, worst_g_ulp);
    CHECK(bad_u == 0, "%ld of %d device frs_rng_u64 values differ from the host's", bad_u, n);
    CHECK(bad_uni == 0, "%ld of %d device frs_rng_uniform values differ from the host's", bad_uni, n);
    /* the Gumbel transform: two log() libraries (CUDA, glibc), each within 1 ulp */
    CHECK(worst_g < 1e-14, "device frs_rng_gumbel differs from the host's by %.3g", worst_g);
    CHECK(exact_g >= (long)n * 9 / 10, "only %ld of %d device Gumbel values bit-identical", exact_g, n);

    /* the product's fill launcher draws from the same device code: identical bits */
    {
        const int m = 100000;
        const uint64_t sd = rnd_u64(), stv = rnd_u64() % 1000, i0 = rnd_u64() >> 8;
        for (int i = 0; i < m; i++) {
            seed[i] = sd;
            stream[i] = stv;
            index[i] = i0 + (uint64_t)i;
        }
        CK(cudaMemcpy(d_seed, seed, (size_t)m * 8, cudaMemcpyHostToDevice));
        CK(cudaMemcpy(d_stream, stream, (size_t)m * 8, cudaMemcpyHostToDevice));
        CK(cudaMemcpy(d_index, index, (size_t)m * 8, cudaMemcpyHostToDevice));
        CHECK_OK(cuda_rng_eval(d_seed, d_stream, d_index, m, NULL, NULL, d_g, 0));
        double *d_fill = dalloc((size_t)m * 8), *fill = malloc((size_t)m * 8);
        CHECK_OK(cuda_rng_gumbel_fill(sd, stv, i0, m, d_fill, 0));
        CK(cudaMemcpy(g, d_g, (size_t)m * 8, cudaMemcpyDeviceToHost));
        CK(cudaMemcpy(fill, d_fill, (size_t)m * 8, cudaMemcpyDeviceToHost));
        CHECK(memcmp(g, fill, (size_t)m * 8) == 0, "cuda_rng_gumbel_fill differs from rng.h's device frs_rng_gumbel");
        cudaFree(d_fill);
        free(fill);
    }
    CK(cudaDeviceSynchronize());
    cudaFree(d_seed);
    cudaFree(d_stream);
    cudaFree(d_index);
    cudaFree(d_u);
    cudaFree(d_uni);
    cudaFree(d_g);
    free(seed);
    free(stream);
    free(index);
    free(u);
    free(uni);
    free(g);
    return test_finish("test_cuda_rng");
}
