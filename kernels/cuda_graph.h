/* cuda_graph.h - the end of a stream capture, shared by the CUDA backend's graph paths (the
 * single-sequence decode and steps in cuda_backend.c, the batched verify in cuda_batch.c).
 *
 * defines: cuda_graph_end_capture
 */
#ifndef FRSPEC_CUDA_GRAPH_H
#define FRSPEC_CUDA_GRAPH_H

#include <cuda_runtime_api.h>

#include "cuda_check.h" /* FRS_CUDA_CHECK */
#include "status.h"

/* After cudaStreamBeginCapture(st) and the captured work, whose status is fs: end the capture and,
 * when fs is FRS_OK, instantiate the graph into *exec. Returns fs when the work failed (the partial
 * graph destroyed), else the capture's or the instantiation's error, else FRS_OK. */
static inline enum frs_status cuda_graph_end_capture(cudaStream_t st, enum frs_status fs, cudaGraphExec_t *exec)
{
    cudaGraph_t graph;
    cudaError_t e = cudaStreamEndCapture(st, &graph);
    if (fs != FRS_OK) {
        if (e == cudaSuccess)
            cudaGraphDestroy(graph);
        return fs;
    }
    FRS_CUDA_CHECK(e);
    e = cudaGraphInstantiate(exec, graph, 0);
    cudaGraphDestroy(graph);
    FRS_CUDA_CHECK(e);
    return FRS_OK;
}

#endif
