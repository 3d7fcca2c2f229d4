/* nccl_comm.c - NCCL communicator lifecycle, device collectives with error polling, the
 * watchdog wait, and nccl_device_ops (par_init's CUDA hooks). See nccl_comm.h.
 */
#include "nccl_comm.h"

#include <hwloc.h>
#include <hwloc/cudart.h>
#include <mpi.h>
#include <nccl.h>
#include <sched.h>
#include <stdio.h>
#include <string.h>
#include <time.h>

#include "../parallel/check.h" /* FRS_CHECK_GEN, MPI_CHECK */
#include "cuda_check.h"        /* FRS_CUDA_CHECK */

static double nc_now(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + 1e-9 * (double)ts.tv_nsec;
}

static void nc_pause(double waited_s)
{
    if (waited_s < 1e-3) { /* the first millisecond: stay hot, a step is a few ms */
        sched_yield();
        return;
    }
    struct timespec ts = {0, waited_s < 0.1 ? 50 * 1000 : 1000 * 1000};
    nanosleep(&ts, NULL);
}

static ncclComm_t nc_comm(const struct frs_comm *c) { return (ncclComm_t)c->nccl_comm; }

/* no communicator: a single rank that did not ask for NCCL (par_init sets one up for several
 * ranks, or for one with --force-nccl, which exercises the device path at TP 1) */
static int nc_local(const struct frs_comm *c) { return c == NULL || c->nccl_comm == NULL; }

/* The outcome of an NCCL call r on a non-blocking communicator: wait out ncclInProgress (at most
 * timeout_s), then on any error abort the communicator and record the cause. */
static enum frs_status nc_settle(struct frs_comm *c, ncclResult_t r, const char *what, int timeout_s)
{
    ncclComm_t comm = nc_comm(c);
    double t0 = nc_now();
    if (timeout_s <= 0)
        timeout_s = NCCL_WAIT_DEFAULT_S;
    while (r == ncclInProgress) {
        double waited = nc_now() - t0;
        if (waited > timeout_s) {
            nccl_comm_abort(c);
            return FRS_ERR(FRS_ERR_NCCL,
                           "%s on device %d did not complete within %d s (a peer rank is stuck or dead); "
                           "communicator aborted",
                           what, c->device, timeout_s);
        }
        nc_pause(waited);
        if (ncclCommGetAsyncError(comm, &r) != ncclSuccess)
            r = ncclInternalError;
    }
    if (r == ncclSuccess)
        return FRS_OK;
    const char *last = comm ? ncclGetLastError(comm) : "";
    enum frs_status st = FRS_ERR(FRS_ERR_NCCL, "%s on device %d: %s%s%s", what, c->device, ncclGetErrorString(r),
                                 last && *last ? ": " : "", last ? last : "");
    if (comm)
        nccl_comm_abort(c);
    return st;
}

/* ---- lifecycle ------------------------------------------------------------------------------- */

enum frs_status nccl_comm_init(struct frs_comm *c, int timeout_s)
{
    c->nccl_comm = NULL;
    ncclUniqueId id;
    memset(&id, 0, sizeof id);
    if (c->rank == 0) {
        ncclResult_t r = ncclGetUniqueId(&id);
        if (r != ncclSuccess)
            return FRS_ERR(FRS_ERR_NCCL, "ncclGetUniqueId: %s", ncclGetErrorString(r));
    }
    MPI_Comm mc = c->mpi_comm ? *(MPI_Comm *)c->mpi_comm : MPI_COMM_WORLD;
    MPI_CHECK(MPI_Bcast(&id, (int)sizeof id, MPI_BYTE, 0, mc));
    FRS_CUDA_CHECK(cudaSetDevice(c->device));
    ncclConfig_t cfg = NCCL_CONFIG_INITIALIZER;
    cfg.blocking = 0;
    ncclComm_t comm = NULL;
    ncclResult_t r = ncclCommInitRankConfig(&comm, c->size, id, c->rank, &cfg);
    c->nccl_comm = comm;
    if (r != ncclSuccess && r != ncclInProgress) {
        if (comm)
            ncclCommAbort(comm);
        c->nccl_comm = NULL;
        return FRS_ERR(FRS_ERR_NCCL, "ncclCommInitRankConfig (%d ranks, device %d): %s", c->size, c->device,
                       ncclGetErrorString(r));
    }
    return nc_settle(c, r, "ncclCommInitRankConfig", timeout_s);
}

void nccl_comm_abort(struct frs_comm *c)
{
    if (!c || !c->nccl_comm)
        return;
    ncclCommAbort(nc_comm(c));
    c->nccl_comm = NULL;
}

void nccl_comm_free(struct frs_comm *c)
{
    if (!c || !c->nccl_comm)
        return;
    if (nc_settle(c, ncclCommFinalize(nc_comm(c)), "ncclCommFinalize", 60) != FRS_OK)
        return; /* already aborted */
    ncclCommDestroy(nc_comm(c));
    c->nccl_comm = NULL;
}

/* ---- collectives ----------------------------------------------------------------------------- */

static enum frs_status nc_type(enum frs_dtype dt, ncclDataType_t *t, const char *what)
{
    switch (dt) {
    case FRS_DTYPE_F32: *t = ncclFloat32; return FRS_OK;
    case FRS_DTYPE_F16: *t = ncclFloat16; return FRS_OK;
    case FRS_DTYPE_BF16: *t = ncclBfloat16; return FRS_OK;
    case FRS_DTYPE_I32: *t = ncclInt32; return FRS_OK;
    case FRS_DTYPE_I64: *t = ncclInt64; return FRS_OK;
    default: break;
    }
    return FRS_ERR(FRS_ERR_DTYPE, "%s: dtype %d has no NCCL type", what, (int)dt);
}

enum frs_status nccl_allreduce_sum(struct frs_comm *c, void *buf, size_t n, enum frs_dtype dt, cudaStream_t st)
{
    ncclDataType_t t = ncclFloat32;
    FRS_TRY(nc_type(dt, &t, "nccl_allreduce_sum"));
    if (nc_local(c) || n == 0)
        return FRS_OK;
    return nc_settle(c, ncclAllReduce(buf, buf, n, t, ncclSum, nc_comm(c), st), "ncclAllReduce(sum)", 0);
}

enum frs_status nccl_allreduce_max_f32(struct frs_comm *c, float *buf, size_t n, cudaStream_t st)
{
    if (nc_local(c) || n == 0)
        return FRS_OK;
    return nc_settle(c, ncclAllReduce(buf, buf, n, ncclFloat32, ncclMax, nc_comm(c), st), "ncclAllReduce(max)", 0);
}

enum frs_status nccl_argmax_keys(struct frs_comm *c, uint64_t *keys, size_t n, cudaStream_t st)
{
    if (nc_local(c) || n == 0)
        return FRS_OK;
    return nc_settle(c, ncclAllReduce(keys, keys, n, ncclUint64, ncclMax, nc_comm(c), st),
                     "ncclAllReduce(argmax keys)", 0);
}

enum frs_status nccl_allgather(struct frs_comm *c, const void *in, void *out, size_t n, enum frs_dtype dt,
                               cudaStream_t st)
{
    ncclDataType_t t = ncclFloat32;
    FRS_TRY(nc_type(dt, &t, "nccl_allgather"));
    size_t bytes = n * frs_dtype_size(dt);
    if (nc_local(c)) {
        if (bytes && in != out)
            FRS_CUDA_CHECK(cudaMemcpyAsync(out, in, bytes, cudaMemcpyDeviceToDevice, st));
        return FRS_OK;
    }
    if (n == 0)
        return FRS_OK;
    return nc_settle(c, ncclAllGather(in, out, n, t, nc_comm(c), st), "ncclAllGather", 0);
}

/* ---- the watchdog wait ------------------------------------------------------------------------- */

enum frs_status nccl_wait_event(struct frs_comm *c, cudaEvent_t ev, int timeout_s)
{
    if (timeout_s <= 0)
        timeout_s = NCCL_WAIT_DEFAULT_S;
    double t0 = nc_now();
    for (;;) {
        cudaError_t q = cudaEventQuery(ev);
        if (q != cudaErrorNotReady && q != cudaSuccess)
            return FRS_ERR(FRS_ERR_CUDA, "device %d: waiting for the step: %s", c ? c->device : -1,
                           cudaGetErrorString(q));
        if (!nc_local(c)) {
            ncclResult_t a = ncclSuccess;
            if (ncclCommGetAsyncError(nc_comm(c), &a) != ncclSuccess)
                a = ncclInternalError;
            if (a != ncclSuccess && a != ncclInProgress)
                return nc_settle(c, a, "NCCL asynchronous error", 0);
        }
        if (q == cudaSuccess)
            return FRS_OK;
        double waited = nc_now() - t0;
        if (waited > timeout_s) {
            int dev = c ? c->device : -1;
            nccl_comm_abort(c);
            return FRS_ERR(FRS_ERR_NCCL,
                           "device %d: the step did not finish within %d s (a peer rank is stuck or dead); "
                           "communicator aborted",
                           dev, timeout_s);
        }
        nc_pause(waited);
    }
}

enum frs_status nccl_sync_stream(struct frs_comm *c, cudaStream_t st, int timeout_s)
{
    cudaEvent_t ev;
    FRS_CUDA_CHECK(cudaEventCreateWithFlags(&ev, cudaEventDisableTiming));
    enum frs_status s = FRS_OK;
    cudaError_t e = cudaEventRecord(ev, st);
    if (e != cudaSuccess)
        s = FRS_ERR(FRS_ERR_CUDA, "cudaEventRecord: %s", cudaGetErrorString(e));
    else
        s = nccl_wait_event(c, ev, timeout_s);
    cudaEventDestroy(ev);
    return s;
}

/* ---- par_init hooks ---------------------------------------------------------------------------- */

static enum frs_status nc_count(int *n)
{
    *n = 0;
    cudaError_t e = cudaGetDeviceCount(n);
    if (e == cudaErrorNoDevice || e == cudaErrorInsufficientDriver) {
        cudaGetLastError(); /* clear the sticky-free error */
        *n = 0;
        return FRS_OK;
    }
    if (e != cudaSuccess)
        return FRS_ERR(FRS_ERR_CUDA, "cudaGetDeviceCount: %s", cudaGetErrorString(e));
    return FRS_OK;
}

static enum frs_status nc_near_cpuset(hwloc_topology_t topo, int device, hwloc_cpuset_t set)
{
    if (hwloc_cudart_get_device_cpuset(topo, device, set) != 0)
        return FRS_ERR(FRS_ERR_CUDA, "hwloc_cudart_get_device_cpuset(device %d) failed", device);
    return FRS_OK;
}

static enum frs_status nc_select(int device)
{
    FRS_CUDA_CHECK(cudaSetDevice(device));
    return FRS_OK;
}

static void nc_describe(int device, char *buf, size_t n)
{
    struct cudaDeviceProp p;
    char bus[32] = "?";
    if (cudaGetDeviceProperties(&p, device) != cudaSuccess) {
        snprintf(buf, n, "(no properties)");
        return;
    }
    cudaDeviceGetPCIBusId(bus, (int)sizeof bus, device);
    snprintf(buf, n, "%.60s %s", p.name, bus);
}

const struct par_device_ops nccl_device_ops = {
    .name = "cuda",
    .count = nc_count,
    .near_cpuset = nc_near_cpuset,
    .select = nc_select,
    .describe = nc_describe,
    .comm_init = nccl_comm_init,
    .comm_free = nccl_comm_free,
    .comm_abort = nccl_comm_abort,
};
