/* nccl_comm.h - the device side of parallel/: NCCL communicator set-up and teardown, the device
 * collectives the CUDA backend needs (sum all-reduce of activations in bf16/f16/f32, max
 * all-reduce of packed argmax keys, all-gather), and a watchdog wait that turns a dead or stuck
 * peer into an error instead of a hang. Also nccl_device_ops, the CUDA hooks of par_init()
 * (device count, cores near the GPU via hwloc's CUDA runtime helpers, cudaSetDevice, NCCL).
 *
 * The communicator is non-blocking (ncclConfig_t.blocking = 0): every NCCL call that answers
 * ncclInProgress is polled with ncclCommGetAsyncError up to a time limit, and an error or a time
 * out aborts the communicator (ncclCommAbort) and returns FRS_ERR_NCCL with a message naming the
 * rank and the cause; the caller then takes the job down with par_fail().
 *
 * With c == NULL, c->size == 1 or c->nccl_comm == NULL every collective is a local no-op
 * (all-gather copies), as in comm.h. All calls are stream-ordered and never synchronise, except
 * nccl_wait_event / nccl_sync_stream.
 *
 * defines: nccl_device_ops, nccl_comm_init, nccl_comm_free, nccl_comm_abort, nccl_allreduce_sum,
 *          nccl_allreduce_max_f32, nccl_argmax_keys, nccl_allgather, nccl_wait_event,
 *          nccl_sync_stream, NCCL_WAIT_DEFAULT_S
 */
#ifndef FRSPEC_NCCL_COMM_H
#define FRSPEC_NCCL_COMM_H

#include <stddef.h>
#include <stdint.h>

#include <cuda_runtime_api.h>

#include "../runtime/argmax_key.h" /* frs_argmax_key_pack / _value / _index */
#include "../parallel/bootstrap.h"  /* struct par_device_ops */
#include "../parallel/comm.h"
#include "../runtime/status.h"
#include "../runtime/tensor.h"

#ifdef __cplusplus
extern "C" {
#endif

#define NCCL_WAIT_DEFAULT_S 300 /* time limit of NCCL polling when the caller gives none */

/* par_init's hooks for CUDA + NCCL (opt->device = &nccl_device_ops). */
extern const struct par_device_ops nccl_device_ops;

/* Rank 0 makes the unique id, MPI_Bcast on c->mpi_comm gives it to all, ncclCommInitRankConfig
 * (non-blocking) polled for at most timeout_s; sets c->nccl_comm. c->device must be selected. */
enum frs_status nccl_comm_init(struct frs_comm *c, int timeout_s);
/* ncclCommFinalize (polled) + ncclCommDestroy; aborts instead when finalising fails. */
void nccl_comm_free(struct frs_comm *c);
/* ncclCommAbort now (safe from another thread); c->nccl_comm = NULL. */
void nccl_comm_abort(struct frs_comm *c);

/* buf[i] = sum over ranks, in place; dt F32, F16 or BF16 (device memory). */
enum frs_status nccl_allreduce_sum(struct frs_comm *c, void *buf, size_t n, enum frs_dtype dt, cudaStream_t st);
enum frs_status nccl_allreduce_max_f32(struct frs_comm *c, float *buf, size_t n, cudaStream_t st);
/* keys[i] = max over ranks of keys[i] (argmax_key.h packing: larger value, ties to the lower
 * index), in place: a TP argmax over vocabulary shards in one small all-reduce. */
enum frs_status nccl_argmax_keys(struct frs_comm *c, uint64_t *keys, size_t n, cudaStream_t st);
/* out (size * n elements, rank-major) = every rank's in (n elements); in may be out's own block. */
enum frs_status nccl_allgather(struct frs_comm *c, const void *in, void *out, size_t n, enum frs_dtype dt,
                               cudaStream_t st);

/* Wait until ev has completed while polling NCCL for asynchronous errors. On an NCCL error, a
 * CUDA error or no completion within timeout_s (<= 0: NCCL_WAIT_DEFAULT_S): abort the
 * communicator and return the error (rank, cause). The host's one synchronisation point. */
enum frs_status nccl_wait_event(struct frs_comm *c, cudaEvent_t ev, int timeout_s);
/* Record an event on st and nccl_wait_event it (a fresh event each call: for tests and init). */
enum frs_status nccl_sync_stream(struct frs_comm *c, cudaStream_t st, int timeout_s);

#ifdef __cplusplus
}
#endif

#endif
