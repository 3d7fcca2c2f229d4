/* test_cuda_check.c - kernels/cuda_check.h, the CUDA check macros of kernels/ (on FRS_CHECK_GEN):
 * a failing CUDA runtime call is recorded as FRS_ERR_CUDA with the call's text, the CUDA message,
 * this file and line, then returned (FRS_CUDA_CHECK) or jumped past with the status set
 * (FRS_CUDA_CHECK_GOTO); FRS_LAUNCH_CHECK names the kernel and passes when no error is pending.
 * Runs without a GPU (cudaSetDevice(-1) fails on any machine; the passing launch check needs a
 * device); built with the CUDA backend only.
 */
#include <stdio.h>
#include <string.h>

#include <cuda_runtime_api.h>

#include "cuda_check.h"
#include "testutil.h"

static enum frs_status bad_call(void)
{
    FRS_CUDA_CHECK(cudaSetDevice(-1));
    return FRS_OK;
}

static int g_cleaned;

static enum frs_status bad_call_goto(void)
{
    enum frs_status st = FRS_OK;
    FRS_CUDA_CHECK_GOTO(cudaSetDevice(-1), st, fail);
    return FRS_ERR(FRS_ERR_INTERNAL, "not reached");
fail:
    g_cleaned = 1;
    return st;
}

/* an error left pending by a runtime call, read by the launch check as a launch would leave it */
static enum frs_status pending_then_launch_check(void)
{
    (void)cudaSetDevice(-1);
    FRS_LAUNCH_CHECK(some_kernel);
    return FRS_OK;
}

static enum frs_status clean_launch_check(void)
{
    (void)cudaGetLastError(); /* nothing pending */
    FRS_LAUNCH_CHECK(some_kernel);
    return FRS_OK;
}

int main(void)
{
    frs_error_clear();
    CHECK(bad_call() == FRS_ERR_CUDA, "FRS_CUDA_CHECK returns FRS_ERR_CUDA");
    const char *m = frs_error_msg();
    fprintf(stderr, "FRS_CUDA_CHECK message: %s\n", m);
    CHECK(strstr(m, "cudaSetDevice(-1)") != NULL, "the message names the call: %s", m);
    CHECK(strstr(m, "test_cuda_check.c") != NULL, "the message names the file: %s", m);

    frs_error_clear();
    g_cleaned = 0;
    CHECK(bad_call_goto() == FRS_ERR_CUDA && g_cleaned, "FRS_CUDA_CHECK_GOTO sets the status and jumps to the label");
    CHECK(strstr(frs_error_msg(), "cudaSetDevice(-1)") != NULL, "the GOTO message names the call: %s",
          frs_error_msg());

    frs_error_clear();
    CHECK(pending_then_launch_check() == FRS_ERR_CUDA, "FRS_LAUNCH_CHECK returns FRS_ERR_CUDA on a pending error");
    m = frs_error_msg();
    fprintf(stderr, "FRS_LAUNCH_CHECK message: %s\n", m);
    CHECK(strstr(m, "some_kernel") != NULL, "the launch message names the kernel: %s", m);

    /* without a driver every runtime call fails for good (the error is sticky): the passing case
     * needs a device */
    int ndev = 0;
    if (cudaGetDeviceCount(&ndev) == cudaSuccess && ndev > 0) {
        frs_error_clear();
        CHECK(clean_launch_check() == FRS_OK, "FRS_LAUNCH_CHECK passes with no error pending: %s", frs_error_msg());
    } else {
        fprintf(stderr, "no CUDA device: the passing FRS_LAUNCH_CHECK case not run\n");
    }
    return test_finish("test_cuda_check");
}
