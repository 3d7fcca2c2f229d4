/* cuda_debug.cu - the CUDA backend's test hooks (see cuda_debug.h). */
#include <cuda_runtime.h>

#include "cuda_check.h" /* FRS_LAUNCH_CHECK */
#include "cuda_debug.h"

__global__ void debug_spin_kernel(volatile int *release)
{
    while (*release == 0)
        __nanosleep(100000);
}

extern "C" enum frs_status cuda_debug_spin(volatile int *release, cudaStream_t st)
{
    debug_spin_kernel<<<1, 1, 0, st>>>(release);
    FRS_LAUNCH_CHECK(debug_spin_kernel);
    return FRS_OK;
}
