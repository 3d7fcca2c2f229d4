/* collectives.h - the collectives runtime/ needs across the ranks of one tensor-parallel group,
 * as an interface runtime/ defines and parallel/ implements (parallel/comm.c, over MPI on host
 * buffers), so that runtime/ includes nothing above it. The group is parallel/'s struct frs_comm,
 * opaque here; a NULL group (or one of size 1) makes every collective a local no-op.
 *
 * Users: the CPU backend's tensor parallelism (cpu_backend.c: the row-parallel sums) and the
 * sharded sampling (sampling.c: argmax, the filtered distribution's sums and maxima, the draws),
 * the batched engine (batch_engine.c: rank 0's step choices under --spec-policy auto).
 * The CUDA backend has its own device collectives (kernels/nccl_comm.h, same semantics).
 *
 * defines: comm_size, comm_allreduce_sum_f32, comm_allreduce_max_f32, comm_argmax,
 *          comm_allgather_f32, comm_bcast
 */
#ifndef FRSPEC_COLLECTIVES_H
#define FRSPEC_COLLECTIVES_H

#include <stddef.h>
#include <stdint.h>

#include "status.h"

struct frs_comm; /* parallel/comm.h */

/* Ranks in the group: 1 for NULL. */
int comm_size(const struct frs_comm *c);
/* In place: buf[i] = sum over ranks. */
enum frs_status comm_allreduce_sum_f32(struct frs_comm *c, float *buf, size_t n);
/* In place: buf[i] = max over ranks. */
enum frs_status comm_allreduce_max_f32(struct frs_comm *c, float *buf, size_t n);
/* For each of n items: the largest val over ranks, ties to the lowest idx (argmax_key.h's
 * order); in place. */
enum frs_status comm_argmax(struct frs_comm *c, float *val, int32_t *idx, size_t n);
/* out (size*n floats, rank-major) = every rank's in (n floats). */
enum frs_status comm_allgather_f32(struct frs_comm *c, const float *in, float *out, size_t n);
/* bytes of buf from rank root to every rank. */
enum frs_status comm_bcast(struct frs_comm *c, void *buf, size_t bytes, int root);

#endif
