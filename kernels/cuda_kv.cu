/* cuda_kv.cu - KV-cache compaction after acceptance: the accepted path's K/V rows moved down to
 * the committed positions in every layer (cuda_kv.h). */
#include "cuda_common.cuh"
#include "cuda_kv.h"

__global__ void kv_gather_kernel(uint16_t *kc, uint16_t *vc, size_t layer_stride, int row_elems,
                                 const int32_t *base_p, const int32_t *src, int n)
{
    const int layer = blockIdx.y;
    const size_t base = (size_t)*base_p;
    uint16_t *k = kc + layer * layer_stride, *v = vc + layer * layer_stride;
    for (int e = blockIdx.x * blockDim.x + threadIdx.x; e < row_elems; e += gridDim.x * blockDim.x) {
        for (int j = 0; j < n; j++) { /* in order: row base+src[j] >= base+j is never written before */
            const size_t from = (base + (size_t)src[j]) * row_elems + e, to = (base + (size_t)j) * row_elems + e;
            k[to] = k[from];
            v[to] = v[from];
        }
    }
}

extern "C" enum frs_status cuda_kv_gather(uint16_t *kcache, uint16_t *vcache, int n_layers, size_t layer_stride,
                                          int row_elems, const int32_t *base, const int32_t *src, int n,
                                          cudaStream_t st)
{
    if (n <= 0 || n_layers <= 0 || row_elems <= 0)
        return FRS_OK;
    const int bx = (row_elems + 255) / 256 < 16 ? (row_elems + 255) / 256 : 16;
    kv_gather_kernel<<<dim3(bx, n_layers), 256, 0, st>>>(kcache, vcache, layer_stride, row_elems, base, src, n);
    FRS_LAUNCH_CHECK(kv_gather_kernel);
    return FRS_OK;
}
