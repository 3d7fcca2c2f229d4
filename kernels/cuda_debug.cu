/* cuda_debug.cu - the CUDA backend's test hooks (see cuda_debug.h). */
#include <cuda_runtime.h>

extern "C" {
#include "status.h"
}
#include "cuda_debug.h"

__global__ void debug_spin_kernel(volatile int *release)
{
    while (*release == 0)
        __nanosleep(100000);
}

extern "C" enum frs_status cuda_debug_spin(volatile int *release, cudaStream_t st)
{
    debug_spin_kernel<<<1, 1, 0, st>>>(release);
    cudaError_t e = cudaGetLastError();
    if (e != cudaSuccess)
        return FRS_ERR(FRS_ERR_CUDA, "kernels/cuda_debug.cu: launch of debug_spin_kernel failed: %s",
                       cudaGetErrorString(e));
    return FRS_OK;
}
