/* comm.h - the per-rank context and the host-side collectives.
 *
 * One struct frs_comm per process, passed explicitly (no file-static state). With size == 1
 * (or a NULL comm) every collective is a local no-op, so single-process code paths need no MPI
 * runtime. The collectives runtime/ uses (sums, maxima, argmax, all-gather, size) are declared
 * by runtime/collectives.h, the interface runtime/ defines, and implemented here (comm.c) as MPI
 * calls on host buffers; the CUDA backend uses NCCL on device buffers through kernels/ (same
 * semantics).
 *
 * defines: struct frs_comm, comm_bcast, comm_barrier, comm_abort (and, for runtime/collectives.h:
 *          comm_size, comm_allreduce_sum_f32, comm_allreduce_max_f32, comm_argmax,
 *          comm_allgather_f32)
 */
#ifndef FRSPEC_COMM_H
#define FRSPEC_COMM_H

#include <stddef.h>
#include <stdint.h>

#include "../runtime/collectives.h" /* the interface implemented in comm.c */
#include "../runtime/status.h"

struct frs_comm {
    int rank, size;   /* tensor-parallel group == MPI_COMM_WORLD for now */
    int local_rank;   /* rank on this node (MPI_Comm_split_type SHARED) */
    int local_size;
    char host[64];
    void *mpi_comm;   /* MPI_Comm* (opaque here so callers need not include mpi.h) */
    void *nccl_comm;  /* ncclComm_t when the CUDA backend initialised NCCL, else NULL */
    int device;       /* CUDA device index, -1 without */
    void *par;        /* parallel/bootstrap.c's private state (hwloc, watchdog); NULL without par_init */
};

enum frs_status comm_bcast(struct frs_comm *c, void *buf, size_t bytes, int root);
enum frs_status comm_barrier(struct frs_comm *c);
/* Bring the whole job down (MPI_Abort) after printing msg; never returns. */
_Noreturn void comm_abort(struct frs_comm *c, int code, const char *msg);

#endif
