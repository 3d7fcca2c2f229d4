/* cuda_entry.c - the CUDA backend's entry in the backend registry (runtime/backend_registry.h):
 * its ops (cuda_backend.c), its device count, its par_init hooks (nccl_comm.c: binding near the
 * GPU, cudaSetDevice, NCCL) and its sampling counters. The registry lists it in CUDA builds. */
#include <cuda_runtime_api.h>

#include "backend_registry.h"
#include "cuda_backend.h" /* frs_backend_cuda_ops, cuda_backend_sampling_counts */
#include "nccl_comm.h"    /* nccl_device_ops */

/* cudaGetDeviceCount; no device or no driver is 0 devices, not an error (the error is cleared) */
static enum frs_status cuda_entry_device_count(int *n)
{
    *n = 0;
    cudaError_t e = cudaGetDeviceCount(n);
    if (e != cudaSuccess) {
        cudaGetLastError();
        *n = 0;
        if (e == cudaErrorNoDevice || e == cudaErrorInsufficientDriver)
            return FRS_OK;
        return FRS_ERR(FRS_ERR_CUDA, "cudaGetDeviceCount: %s", cudaGetErrorString(e));
    }
    return FRS_OK;
}

const struct frs_backend_entry frs_backend_cuda_entry = {
    .name = "cuda",
    .ops = &frs_backend_cuda_ops,
    .device_count = cuda_entry_device_count,
    .par_device = &nccl_device_ops,
    .sampling_counts = cuda_backend_sampling_counts,
};
