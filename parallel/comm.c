/* comm.c - comm.h's host collectives over MPI (the CPU backend's tensor parallelism), and
 * comm_abort; the collectives are runtime/collectives.h's interface. A NULL comm or size 1 makes every collective a local no-op with no MPI call, so
 * single-process code never needs MPI initialised. Each collective arms the watchdog's
 * collective slot (parallel/watchdog.c) while it runs.
 */
#include "comm.h"

#include <limits.h>
#include <mpi.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "../runtime/argmax_key.h"
#include "check.h"
#include "par_state.h"

/* Largest count handed to one MPI call (MPI counts are int). */
#define COMM_CHUNK ((size_t)1 << 30)

const char *par_mpi_errstr(int code)
{
    static _Thread_local char buf[MPI_MAX_ERROR_STRING + 16];
    int len = 0;
    if (MPI_Error_string(code, buf, &len) != MPI_SUCCESS)
        snprintf(buf, sizeof buf, "MPI error %d", code);
    return buf;
}

static int comm_is_local(const struct frs_comm *c) { return c == NULL || c->size <= 1; }

int comm_size(const struct frs_comm *c) { return comm_is_local(c) ? 1 : c->size; }

static MPI_Comm comm_mpi(const struct frs_comm *c)
{
    return c->mpi_comm ? *(MPI_Comm *)c->mpi_comm : MPI_COMM_WORLD;
}

static enum frs_status comm_allreduce_f32(struct frs_comm *c, float *buf, size_t n, MPI_Op op,
                                          const char *what)
{
    if (comm_is_local(c) || n == 0)
        return FRS_OK;
    enum frs_status st = FRS_OK;
    par_watch_begin(c, PAR_WATCH_COLL, what);
    for (size_t off = 0; off < n; off += COMM_CHUNK) {
        int cnt = (int)(n - off < COMM_CHUNK ? n - off : COMM_CHUNK);
        MPI_CHECK_GOTO(MPI_Allreduce(MPI_IN_PLACE, buf + off, cnt, MPI_FLOAT, op, comm_mpi(c)), st, out);
    }
out:
    par_watch_end(c, PAR_WATCH_COLL);
    return st;
}

enum frs_status comm_allreduce_sum_f32(struct frs_comm *c, float *buf, size_t n)
{
    return comm_allreduce_f32(c, buf, n, MPI_SUM, "comm_allreduce_sum_f32");
}

enum frs_status comm_allreduce_max_f32(struct frs_comm *c, float *buf, size_t n)
{
    return comm_allreduce_f32(c, buf, n, MPI_MAX, "comm_allreduce_max_f32");
}

/* One MAX all-reduce over packed (value, index) keys: larger value wins, ties to the lower index
 * (argmax_key.h), the same rule the NCCL path uses. */
enum frs_status comm_argmax(struct frs_comm *c, float *val, int32_t *idx, size_t n)
{
    if (comm_is_local(c) || n == 0)
        return FRS_OK;
    uint64_t small[256];
    uint64_t *key = n <= 256 ? small : malloc(n * sizeof *key);
    if (!key)
        return FRS_ERR(FRS_ERR_OOM, "comm_argmax: %zu keys", n);
    for (size_t i = 0; i < n; i++) {
        if (idx[i] < 0) {
            if (key != small)
                free(key);
            return FRS_ERR(FRS_ERR_INVALID_ARG, "comm_argmax: idx[%zu] = %d is negative", i, (int)idx[i]);
        }
        key[i] = frs_argmax_key_pack(val[i], idx[i]);
    }
    enum frs_status st = FRS_OK;
    par_watch_begin(c, PAR_WATCH_COLL, "comm_argmax");
    for (size_t off = 0; off < n; off += COMM_CHUNK) {
        int cnt = (int)(n - off < COMM_CHUNK ? n - off : COMM_CHUNK);
        MPI_CHECK_GOTO(MPI_Allreduce(MPI_IN_PLACE, key + off, cnt, MPI_UINT64_T, MPI_MAX, comm_mpi(c)),
                       st, out);
    }
    for (size_t i = 0; i < n; i++) {
        val[i] = frs_argmax_key_value(key[i]);
        idx[i] = frs_argmax_key_index(key[i]);
    }
out:
    par_watch_end(c, PAR_WATCH_COLL);
    if (key != small)
        free(key);
    return st;
}

enum frs_status comm_allgather_f32(struct frs_comm *c, const float *in, float *out, size_t n)
{
    if (comm_is_local(c)) {
        if (n && in != out)
            memmove(out, in, n * sizeof *out);
        return FRS_OK;
    }
    if (n == 0)
        return FRS_OK;
    if (n > (size_t)INT_MAX)
        return FRS_ERR(FRS_ERR_INVALID_ARG, "comm_allgather_f32: %zu floats per rank exceed INT_MAX", n);
    enum frs_status st = FRS_OK;
    /* in may alias this rank's block of out: MPI wants MPI_IN_PLACE then */
    const void *send = in == out + (size_t)c->rank * n ? MPI_IN_PLACE : (const void *)in;
    par_watch_begin(c, PAR_WATCH_COLL, "comm_allgather_f32");
    MPI_CHECK_GOTO(MPI_Allgather(send, (int)n, MPI_FLOAT, out, (int)n, MPI_FLOAT, comm_mpi(c)), st, done);
done:
    par_watch_end(c, PAR_WATCH_COLL);
    return st;
}

enum frs_status comm_bcast(struct frs_comm *c, void *buf, size_t bytes, int root)
{
    if (comm_is_local(c) || bytes == 0)
        return FRS_OK;
    if (root < 0 || root >= c->size)
        return FRS_ERR(FRS_ERR_INVALID_ARG, "comm_bcast: root %d outside [0, %d)", root, c->size);
    enum frs_status st = FRS_OK;
    par_watch_begin(c, PAR_WATCH_COLL, "comm_bcast");
    for (size_t off = 0; off < bytes; off += COMM_CHUNK) {
        int cnt = (int)(bytes - off < COMM_CHUNK ? bytes - off : COMM_CHUNK);
        MPI_CHECK_GOTO(MPI_Bcast((char *)buf + off, cnt, MPI_BYTE, root, comm_mpi(c)), st, out);
    }
out:
    par_watch_end(c, PAR_WATCH_COLL);
    return st;
}

enum frs_status comm_barrier(struct frs_comm *c)
{
    if (comm_is_local(c))
        return FRS_OK;
    enum frs_status st = FRS_OK;
    par_watch_begin(c, PAR_WATCH_COLL, "comm_barrier");
    MPI_CHECK_GOTO(MPI_Barrier(comm_mpi(c)), st, out);
out:
    par_watch_end(c, PAR_WATCH_COLL);
    return st;
}

struct abort_job {
    struct frs_comm *c;
    void (*abort)(struct frs_comm *c);
    atomic_int done;
};

static void *abort_device_main(void *arg)
{
    struct abort_job *j = arg;
    j->abort(j->c);
    atomic_store(&j->done, 1);
    return NULL;
}

/* The device communicator's abort (ncclCommAbort), given at most 5 s: with a kernel stuck on
 * the device it may wait on the device itself, and the job must still end. */
static void abort_device_comm(struct frs_comm *c)
{
    const struct par_state *ps = par_state_of(c);
    if (!ps || !ps->opt.device || !ps->opt.device->comm_abort || !c->nccl_comm)
        return;
    fprintf(stderr, "frspec: rank %d is aborting its device communicator\n", c->rank);
    fflush(stderr);
    static struct abort_job job; /* outlives this call if the thread is left behind */
    job.c = c;
    job.abort = ps->opt.device->comm_abort;
    atomic_store(&job.done, 0);
    pthread_t th;
    if (pthread_create(&th, NULL, abort_device_main, &job) != 0)
        return;
    pthread_detach(th);
    for (int i = 0; i < 500 && !atomic_load(&job.done); i++)
        usleep(10 * 1000);
}

_Noreturn void comm_abort(struct frs_comm *c, int code, const char *msg)
{
    const char *origin = frs_error_origin();
    if (!msg || !*msg)
        msg = "unknown error";
    /* msg from frs_error_msg() already starts with "[rank R on HOST] " */
    if (*origin && strncmp(msg, origin, strlen(origin)) == 0)
        fprintf(stderr, "frspec: %s\n", msg);
    else if (*origin)
        fprintf(stderr, "frspec: %s%s\n", origin, msg);
    else if (c && c->size > 1)
        fprintf(stderr, "frspec: [rank %d on %s] %s\n", c->rank, c->host, msg);
    else
        fprintf(stderr, "frspec: %s\n", msg);
    fflush(stderr);
    fflush(stdout);
    if (code == 0)
        code = 1;
    /* the device communicator first (a stuck NCCL kernel would otherwise keep its peers waiting);
     * the alarm below bounds it too */
    signal(SIGALRM, SIG_DFL);
    alarm(30);
    abort_device_comm(c);
    int inited = 0, finalized = 0;
    MPI_Initialized(&inited);
    MPI_Finalized(&finalized);
    if (inited && !finalized) {
        if (c && c->size > 1)
            fprintf(stderr, "frspec: rank %d is aborting the job (MPI_Abort)\n", c->rank);
        /* If MPI_Abort itself hangs, the default SIGALRM action still ends this process, and the
         * launcher then takes the others down. */
        signal(SIGALRM, SIG_DFL);
        alarm(30);
        MPI_Abort(MPI_COMM_WORLD, code);
    }
    _exit(code); /* no exit handlers: a CUDA context with a stuck kernel could hold them up */
}
