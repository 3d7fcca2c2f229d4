/* cuda_check.h - the one CUDA check macro family of kernels/, for host C (cuda_backend.c,
 * nccl_comm.c) and CUDA launchers alike. Built on parallel/check.h's FRS_CHECK_GEN, so a failing
 * call records FRS_ERR(FRS_ERR_CUDA, "<call>: <cudaGetErrorString>") with file and line (and the
 * rank and host, runtime/status.h), then returns the status or jumps to a cleanup label.
 *
 * defines: FRS_CUDA_CHECK, FRS_CUDA_CHECK_GOTO, FRS_LAUNCH_CHECK, FRS_CUDA_LAUNCH_OF
 */
#ifndef FRSPEC_CUDA_CHECK_H
#define FRSPEC_CUDA_CHECK_H

#include <cuda_runtime_api.h>

#ifdef __cplusplus
extern "C" {
#endif
#include "status.h"
#ifdef __cplusplus
}
#endif
#include "../parallel/check.h" /* FRS_CHECK_GEN */

/* r = call; on an error record it and return FRS_ERR_CUDA */
#define FRS_CUDA_CHECK(call) \
    FRS_CHECK_GEN(cudaError_t, call, cudaSuccess, FRS_ERR_CUDA, cudaGetErrorString, return FRS_ERR_CUDA)

/* r = call; on an error record it, st = FRS_ERR_CUDA, goto label */
#define FRS_CUDA_CHECK_GOTO(call, st, label) \
    FRS_CHECK_GEN(cudaError_t, call, cudaSuccess, FRS_ERR_CUDA, cudaGetErrorString, (st) = FRS_ERR_CUDA; goto label)

/* After a <<<>>> launch: the launch's error (cudaGetLastError), recorded as
 * "FRS_CUDA_LAUNCH_OF(kernel_name): <message>" so the message names the kernel. */
#define FRS_CUDA_LAUNCH_OF(kernel) cudaGetLastError()
#define FRS_LAUNCH_CHECK(kernel)                                                                    \
    FRS_CHECK_GEN(cudaError_t, FRS_CUDA_LAUNCH_OF(kernel), cudaSuccess, FRS_ERR_CUDA, cudaGetErrorString, \
                  return FRS_ERR_CUDA)

#endif
