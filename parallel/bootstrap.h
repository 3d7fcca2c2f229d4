/* bootstrap.h - bringing up and tearing down one rank of the job, in a fixed order:
 *
 *   MPI_Init_thread -> rank/size -> local rank (MPI_Comm_split_type SHARED) -> hostname (error
 *   origin "[rank R on HOST]") -> hwloc binding of the process and its memory near its device ->
 *   device select (cudaSetDevice, device = local_rank % device count) -> watchdog thread ->
 *   device communicator (NCCL: id from rank 0 by MPI_Bcast, ncclCommInitRankConfig)
 *
 * and par_finalize() undoes it in reverse. Everything lives in the caller's struct frs_comm (the
 * one per-rank context) and the private state it points to; nothing is file-static.
 *
 * Without a launcher in the environment (no OMPI_COMM_WORLD_SIZE / PMIX_RANK / PMI_RANK /
 * PMI_SIZE) MPI is not initialised at all: a plain `frspec ...` is one rank with size 1 and every
 * collective a local no-op. The CUDA side comes in through struct par_device_ops, implemented in
 * kernels/nccl_comm.c (nccl_device_ops); with opt->device NULL the rank is CPU-only and is bound
 * to its share of the node's cores (hwloc_distrib over local_size ranks).
 *
 * Faults: a rank that fails calls par_fail() (or comm_abort()), which prints the message naming
 * the rank, host and cause and takes the whole job down with MPI_Abort. A watchdog thread aborts
 * the job when one host collective (comm.h) or one step (par_step_begin/end) takes longer than
 * opt->watchdog_s seconds, so a stuck peer is never a silent hang.
 *
 * defines: struct par_device_ops, struct par_options, par_options_default, par_options_parse,
 *          par_options_usage, par_init, par_finalize, par_binding, par_report_bindings,
 *          par_step_begin, par_step_begin_for, par_step_end, par_fail
 */
#ifndef FRSPEC_PAR_BOOTSTRAP_H
#define FRSPEC_PAR_BOOTSTRAP_H

#include <hwloc.h>
#include <stddef.h>
#include <stdio.h>

#include "../runtime/status.h"
#include "comm.h"

/* A device runtime seen from the bootstrap (CUDA + NCCL: kernels/nccl_comm.h, nccl_device_ops). */
struct par_device_ops {
    const char *name;                                   /* "cuda" */
    enum frs_status (*count)(int *n);                   /* devices visible to this process */
    /* the cores near device (hwloc_cudart_get_device_cpuset) */
    enum frs_status (*near_cpuset)(hwloc_topology_t topo, int device, hwloc_cpuset_t set);
    enum frs_status (*select)(int device);              /* cudaSetDevice */
    void (*describe)(int device, char *buf, size_t n);  /* e.g. "NVIDIA H100 80GB HBM3 0000:1b:00.0" */
    /* The device communicator over c's ranks (NCCL: unique id from rank 0 by MPI_Bcast on
     * c->mpi_comm, non-blocking init polled for at most timeout_s); sets c->nccl_comm. */
    enum frs_status (*comm_init)(struct frs_comm *c, int timeout_s);
    void (*comm_free)(struct frs_comm *c);              /* sets c->nccl_comm = NULL */
    /* Abort the device communicator now, from any thread (ncclCommAbort); may be NULL. Called by
     * comm_abort, so that a watchdog expiry or a failure does not leave NCCL kernels waiting. */
    void (*comm_abort)(struct frs_comm *c);
};

struct par_options {
    int no_bind;        /* 1: leave CPU / memory binding to the launcher */
    int watchdog_s;     /* abort the job when a collective or step exceeds this; 0 = off (300) */
    int init_timeout_s; /* device communicator init (NCCL) timeout (120) */
    int force_mpi;      /* initialise MPI even without a launcher in the environment (0) */
    int force_nccl;     /* device communicator even at size 1 (0); implies force_mpi */
    const struct par_device_ops *device; /* NULL: CPU only */
};

void par_options_default(struct par_options *o);
/* Consume the options below from argv (argv[0] kept; the rest keep their order):
 *   --no-bind  --watchdog-seconds N  --init-timeout N  --force-mpi  --force-nccl */
enum frs_status par_options_parse(struct par_options *o, int *argc, char **argv);
const char *par_options_usage(void); /* help lines for the options above */

/* Bring this rank up (order above). c is written whole. On failure the status and message are
 * recorded and c is still good enough for comm_abort()/par_fail() (rank/size/mpi_comm set when
 * MPI came up). opt NULL = defaults. */
enum frs_status par_init(struct frs_comm *c, int *argc, char ***argv, const struct par_options *opt);
/* Reverse order: device communicator, watchdog, hwloc, MPI communicators, MPI_Finalize. */
void par_finalize(struct frs_comm *c);

/* This rank's binding in one line ("cores 0-15 (numa 0), gpu 0 NVIDIA H100 ..."). */
const char *par_binding(const struct frs_comm *c);
/* Collective: rank 0 writes a table of every rank's host, local rank, device and binding to out. */
enum frs_status par_report_bindings(struct frs_comm *c, FILE *out);

/* Arm / disarm the step watchdog around one unit of work (an engine iteration, a load): if it
 * does not end within watchdog_s the job is aborted with "what" in the message. what must stay
 * valid while armed (a string literal). No-op without par_init or with the watchdog off. */
void par_step_begin(struct frs_comm *c, const char *what);
void par_step_end(struct frs_comm *c);
/* The same with its own limit (seconds <= 0: watchdog_s), e.g. a long limit around loading a 70B
 * checkpoint from a network file system. Still a no-op when the watchdog is off. */
void par_step_begin_for(struct frs_comm *c, const char *what, int seconds);

/* The one way a rank dies on error: comm_abort(c, st, frs_error_msg()) (the message names rank,
 * host, status and cause). c may be NULL (single process). */
_Noreturn void par_fail(struct frs_comm *c, enum frs_status st);

#endif
