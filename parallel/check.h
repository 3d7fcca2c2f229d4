/* check.h - check macros for foreign-library calls, generated from one generic macro (as NCCL's
 * src/include/checks.h does): a failing call records FRS_ERR(status, "<call>: <library message>")
 * and then runs an action (return the status, or set it and jump to a cleanup label).
 *
 * defines: FRS_CHECK_GEN, MPI_CHECK, MPI_CHECK_GOTO, par_mpi_errstr
 */
#ifndef FRSPEC_PAR_CHECK_H
#define FRSPEC_PAR_CHECK_H

#include "../runtime/status.h"

/* type r = call; if r != ok: record st with strfn(r), then ACTION (a statement). */
#define FRS_CHECK_GEN(type, call, ok, st, strfn, ACTION)                                   \
    do {                                                                                   \
        type frs_chk_r_ = (call);                                                          \
        if (frs_chk_r_ != (ok)) {                                                          \
            FRS_ERR((st), "%s: %s", #call, strfn(frs_chk_r_));                             \
            ACTION;                                                                        \
        }                                                                                  \
    } while (0)

/* MPI_Error_string into a per-thread buffer (callers need MPI_ERRORS_RETURN on the comm). */
const char *par_mpi_errstr(int code);

#define MPI_CHECK(call) FRS_CHECK_GEN(int, call, 0, FRS_ERR_MPI, par_mpi_errstr, return FRS_ERR_MPI)
#define MPI_CHECK_GOTO(call, st, label) \
    FRS_CHECK_GEN(int, call, 0, FRS_ERR_MPI, par_mpi_errstr, (st) = FRS_ERR_MPI; goto label)

#endif
