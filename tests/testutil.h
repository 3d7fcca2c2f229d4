/* testutil.h - tiny test harness shared by the C tests: checks that count failures, array
 * comparison by normalised error with the first differing values printed, fixture paths.
 *
 * A test's main() returns test_finish(): 0 when every check passed, 1 when one failed or when no
 * check ran at all; a test that cannot run here (no GPU) returns TEST_SKIP (77, ctest's
 * SKIP_RETURN_CODE) instead.
 *
 * defines: CHECK, CHECK_OK, TEST_SKIP, test_finish, test_rel_err, test_close_f32, test_fixture, row_rms
 */
#ifndef FRSPEC_TESTUTIL_H
#define FRSPEC_TESTUTIL_H

#include <stddef.h>
#include <stdint.h>
#include <stdio.h>

#include "status.h"

#define TEST_SKIP 77

extern int test_failures;
extern int test_checks;

#define CHECK(cond, ...)                                                        \
    do {                                                                        \
        test_checks++;                                                          \
        if (!(cond)) {                                                          \
            test_failures++;                                                    \
            fprintf(stderr, "FAIL %s:%d: %s: ", __FILE__, __LINE__, #cond);     \
            fprintf(stderr, __VA_ARGS__);                                       \
            fputc('\n', stderr);                                                \
        }                                                                       \
    } while (0)

/* Expect FRS_OK; on failure print the recorded error message. */
#define CHECK_OK(expr)                                                                   \
    do {                                                                                 \
        enum frs_status check_ok_st_ = (expr);                                           \
        CHECK(check_ok_st_ == FRS_OK, "%s -> %s", #expr, frs_error_msg());               \
    } while (0)

int test_finish(const char *name);
/* ||a - b|| / ||b|| (b the reference); NaN anywhere gives +inf. */
double test_rel_err(const float *a, const float *ref, size_t n);
/* sqrt(mean of x[i]^2) over n values (the scale of a logits row, for near-tie allowances) */
double row_rms(const float *x, int n);
/* Check rel err <= tol; on failure print the first few differing elements. */
int test_close_f32(const char *what, const float *a, const float *ref, size_t n, double tol);
/* FRSPEC_FIXTURES "/" rel, in a static buffer (one at a time). */
const char *test_fixture(const char *rel);
/* The whole file (plain or gzip), NUL-terminated, malloc'ed; *len (may be NULL) its size.
 * NULL when it cannot be read. */
char *test_read_file(const char *path, size_t *len);

#endif
