/* status.c - per-thread error message store behind FRS_ERR. */
#include "status.h"

#include <stdarg.h>
#include <stdio.h>
#include <string.h>

static _Thread_local char err_msg[2048];
static char err_origin[160];

const char *frs_status_str(enum frs_status st)
{
    switch (st) {
    case FRS_OK: return "ok";
    case FRS_ERR_IO: return "I/O error";
    case FRS_ERR_FORMAT: return "malformed input";
    case FRS_ERR_SHAPE: return "shape mismatch";
    case FRS_ERR_DTYPE: return "dtype error";
    case FRS_ERR_MISSING: return "missing input";
    case FRS_ERR_INVALID_ARG: return "invalid argument";
    case FRS_ERR_TOO_LONG: return "too long";
    case FRS_ERR_OOM: return "out of memory";
    case FRS_ERR_UNSUPPORTED: return "unsupported";
    case FRS_ERR_CUDA: return "CUDA error";
    case FRS_ERR_CUBLAS: return "cuBLAS error";
    case FRS_ERR_NCCL: return "NCCL error";
    case FRS_ERR_MPI: return "MPI error";
    case FRS_ERR_PEER: return "another rank failed";
    case FRS_ERR_INTERNAL: return "internal error";
    }
    return "unknown status";
}

enum frs_status frs_error_set(enum frs_status st, const char *file, int line, const char *fmt, ...)
{
    char body[1600];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(body, sizeof body, fmt, ap);
    va_end(ap);
    const char *base = strrchr(file, '/');
    snprintf(err_msg, sizeof err_msg, "%s%s: %s (%s:%d)", err_origin, frs_status_str(st), body,
             base ? base + 1 : file, line);
    return st;
}

const char *frs_error_msg(void) { return err_msg; }

void frs_error_clear(void) { err_msg[0] = '\0'; }

void frs_error_set_origin(int rank, const char *host)
{
    if (rank < 0)
        err_origin[0] = '\0';
    else
        snprintf(err_origin, sizeof err_origin, "[rank %d on %s] ", rank, host ? host : "?");
}

const char *frs_error_origin(void) { return err_origin; }
