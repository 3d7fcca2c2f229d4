/* cli.c - helpers shared by the subcommands: value parsing, file reading, error printing. */
#include "cli.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

int cli_fail(const char *what)
{
    const char *msg = frs_error_msg();
    if (what && *what)
        fprintf(stderr, "frspec: %s: %s\n", what, *msg ? msg : "failed");
    else
        fprintf(stderr, "frspec: %s\n", *msg ? msg : "failed");
    return 1;
}

int cli_parse_int(const char *opt, const char *s, long lo, long hi, int *out)
{
    char *end;
    errno = 0;
    long v = strtol(s ? s : "", &end, 10);
    if (!s || !*s || *end || errno || v < lo || v > hi) {
        fprintf(stderr, "frspec: %s expects an integer in [%ld, %ld], got '%s'\n", opt, lo, hi, s ? s : "");
        return 1;
    }
    *out = (int)v;
    return 0;
}

int cli_parse_float(const char *opt, const char *s, double lo, double hi, float *out)
{
    char *end;
    errno = 0;
    double v = strtod(s ? s : "", &end);
    if (!s || !*s || *end || errno || !(v >= lo && v <= hi)) {
        fprintf(stderr, "frspec: %s expects a number in [%g, %g], got '%s'\n", opt, lo, hi, s ? s : "");
        return 1;
    }
    *out = (float)v;
    return 0;
}

int cli_parse_u64(const char *opt, const char *s, unsigned long long *out)
{
    char *end;
    errno = 0;
    unsigned long long v = strtoull(s ? s : "", &end, 10);
    if (!s || !*s || *end || errno || s[0] == '-') {
        fprintf(stderr, "frspec: %s expects a non-negative integer, got '%s'\n", opt, s ? s : "");
        return 1;
    }
    *out = v;
    return 0;
}

enum frs_status cli_read_file(const char *path, char **out, size_t *len)
{
    FILE *f = strcmp(path, "-") ? fopen(path, "rb") : stdin;
    if (!f)
        return FRS_ERR(FRS_ERR_IO, "%s: %s", path, strerror(errno));
    size_t cap = 1 << 16, n = 0;
    char *buf = malloc(cap);
    if (!buf) {
        if (f != stdin)
            fclose(f);
        return FRS_ERR(FRS_ERR_OOM, "%s: reading", path);
    }
    for (;;) {
        if (n + 1 >= cap) {
            char *nb = realloc(buf, cap *= 2);
            if (!nb) {
                free(buf);
                if (f != stdin)
                    fclose(f);
                return FRS_ERR(FRS_ERR_OOM, "%s: reading", path);
            }
            buf = nb;
        }
        size_t got = fread(buf + n, 1, cap - n - 1, f);
        n += got;
        if (got == 0)
            break;
    }
    int err = ferror(f) ? errno : 0;
    if (f != stdin)
        fclose(f);
    if (err) {
        free(buf);
        return FRS_ERR(FRS_ERR_IO, "%s: %s", path, err == EISDIR ? "is a directory, not a file" : strerror(err));
    }
    buf[n] = '\0';
    *out = buf;
    if (len)
        *len = n;
    return FRS_OK;
}
