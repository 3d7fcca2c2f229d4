/* testutil.c - see testutil.h */
#include "testutil.h"

#include <math.h>
#include <stdlib.h>
#include <zlib.h>

int test_failures;
int test_checks;

int test_finish(const char *name)
{
    if (test_checks == 0) { /* a test that checked nothing proves nothing */
        fprintf(stderr, "%s: FAILED: no checks ran\n", name);
        return 1;
    }
    if (test_failures)
        fprintf(stderr, "%s: %d of %d checks FAILED\n", name, test_failures, test_checks);
    else
        fprintf(stderr, "%s: all %d checks passed\n", name, test_checks);
    return test_failures ? 1 : 0;
}

double test_rel_err(const float *a, const float *ref, size_t n)
{
    double num = 0, den = 0;
    for (size_t i = 0; i < n; i++) {
        if (isnan(a[i]) || isnan(ref[i]))
            return INFINITY;
        double d = (double)a[i] - (double)ref[i];
        num += d * d;
        den += (double)ref[i] * (double)ref[i];
    }
    if (den == 0)
        return num == 0 ? 0 : INFINITY;
    return sqrt(num / den);
}

double row_rms(const float *x, int n)
{
    double s = 0;
    for (int i = 0; i < n; i++)
        s += (double)x[i] * x[i];
    return sqrt(s / n);
}

int test_close_f32(const char *what, const float *a, const float *ref, size_t n, double tol)
{
    double e = test_rel_err(a, ref, n);
    test_checks++;
    if (e <= tol)
        return 1;
    test_failures++;
    fprintf(stderr, "FAIL %s: relative error %.3g > %.3g\n", what, e, tol);
    int shown = 0;
    for (size_t i = 0; i < n && shown < 5; i++) {
        double d = fabs((double)a[i] - (double)ref[i]);
        if (d > tol * (fabs((double)ref[i]) + 1e-6) || isnan(a[i])) {
            fprintf(stderr, "  [%zu] got %.6g expected %.6g\n", i, a[i], ref[i]);
            shown++;
        }
    }
    return 0;
}

const char *test_fixture(const char *rel)
{
    static char buf[4096];
    snprintf(buf, sizeof buf, "%s/%s", FRSPEC_FIXTURES, rel);
    return buf;
}

char *test_read_file(const char *path, size_t *len)
{
    gzFile g = gzopen(path, "rb"); /* reads plain files as they are */
    if (!g)
        return NULL;
    size_t cap = 1 << 16, n = 0;
    char *b = malloc(cap);
    int r = 0;
    while (b && (r = gzread(g, b + n, (unsigned)(cap - n - 1))) > 0) {
        n += (size_t)r;
        if (n + 1 == cap) {
            char *nb = realloc(b, cap *= 2);
            if (!nb) {
                free(b);
                b = NULL;
            }
            b = nb;
        }
    }
    gzclose(g);
    if (b && r < 0) {
        free(b);
        b = NULL;
    }
    if (b) {
        b[n] = '\0';
        if (len)
            *len = n;
    }
    return b;
}
