/* cuda_debug.h - test hooks of the CUDA backend (never on by default): a kernel that spins on the
 * device until the host releases it, to test that a stuck GPU step ends the job (issue 12 item
 * 11: the step watchdog and NCCL-polling host waits; tests/cli/gpu_hang.sh).
 *
 * defines: cuda_debug_spin
 */
#ifndef FRSPEC_CUDA_DEBUG_H
#define FRSPEC_CUDA_DEBUG_H

#include <cuda_runtime_api.h>

#include "status.h"

#ifdef __cplusplus
extern "C" {
#endif

/* One thread spinning on st until *release (host-mapped memory, cudaHostAllocMapped) != 0. */
enum frs_status cuda_debug_spin(volatile int *release, cudaStream_t st);

#ifdef __cplusplus
}
#endif

#endif
