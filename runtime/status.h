/* status.h - one status enum for the whole library, error recording, check macros.
 *
 * Library code never exits: it records a message with frs_error_set() (through FRS_ERR) and
 * returns the status up the stack. Only launch/ prints and exits. Messages are prefixed with the
 * rank and host set by frs_error_set_origin(), and carry the source file and line.
 *
 * defines: enum frs_status, frs_status_str, frs_error_set, frs_error_msg, frs_error_clear,
 *          frs_error_set_origin, FRS_ERR, FRS_TRY, FRS_TRY_GOTO
 */
#ifndef FRSPEC_STATUS_H
#define FRSPEC_STATUS_H

enum frs_status {
    FRS_OK = 0,
    FRS_ERR_IO,          /* cannot open / read / map a file */
    FRS_ERR_FORMAT,      /* malformed file contents (JSON, safetensors header, pickle...) */
    FRS_ERR_SHAPE,       /* tensor shape differs from what the config implies */
    FRS_ERR_DTYPE,       /* unsupported or unexpected dtype */
    FRS_ERR_MISSING,     /* a required tensor, field or file is absent */
    FRS_ERR_INVALID_ARG, /* bad command-line value or API argument */
    FRS_ERR_TOO_LONG,    /* prompt or generation exceeds the context */
    FRS_ERR_OOM,         /* host or device allocation failed */
    FRS_ERR_UNSUPPORTED, /* valid input this build cannot handle */
    FRS_ERR_CUDA,
    FRS_ERR_CUBLAS,
    FRS_ERR_NCCL,
    FRS_ERR_MPI,
    FRS_ERR_PEER,        /* another rank failed */
    FRS_ERR_INTERNAL
};

const char *frs_status_str(enum frs_status st);

/* Record an error (printf-style message) and return st. The message is kept per thread;
 * a later call replaces it. */
enum frs_status frs_error_set(enum frs_status st, const char *file, int line, const char *fmt, ...)
    __attribute__((format(printf, 4, 5)));
const char *frs_error_msg(void); /* "" when none */
void frs_error_clear(void);
/* Rank and host named in every later message ("rank 1 on node3"); rank < 0 means single process. */
void frs_error_set_origin(int rank, const char *host);
/* "[rank R on HOST] " or "" */
const char *frs_error_origin(void);

#define FRS_ERR(st, ...) frs_error_set((st), __FILE__, __LINE__, __VA_ARGS__)

#define FRS_TRY(expr)                          \
    do {                                       \
        enum frs_status frs_try_st_ = (expr);  \
        if (frs_try_st_ != FRS_OK)             \
            return frs_try_st_;                \
    } while (0)

#define FRS_TRY_GOTO(expr, st, label) \
    do {                              \
        (st) = (expr);                \
        if ((st) != FRS_OK)           \
            goto label;               \
    } while (0)

#endif
