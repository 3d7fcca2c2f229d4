/* test_comm.c - parallel/comm.h's host collectives and parallel/bootstrap.h's bring-up.
 *
 * Run alone (size 1: every collective a local no-op, no MPI) and under mpirun -np 2 / -np 4.
 * Every rank fills its inputs from a closed-form function of (rank, i); the expected result of
 * each collective is computed locally by evaluating that function for every rank.
 */
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "bootstrap.h"
#include "comm.h"
#include "testutil.h"

#define N_SMALL 1000
#define N_LARGE (1 << 20)

/* exactly representable inputs so sums are exact in any order */
static float in_sum(int r, size_t i) { return (float)((r + 1) * (int)(i % 1024)) - 3.0f * (float)r; }
static float in_max(int r, size_t i) { return (float)(((int)i * 7 + r * 13) % 29) - (float)(r % 3); }

/* argmax inputs: few distinct values so ties across ranks are common; idx are global ids that
 * increase with rank for some items and decrease for others, so "lowest idx" is not "lowest
 * rank". Item 0 mixes -0.0 and +0.0 (equal values: a tie); item 1 is -inf on every rank. */
static float am_val(int r, size_t i)
{
    if (i == 0)
        return r % 2 ? -0.0f : 0.0f;
    if (i == 1)
        return -INFINITY;
    return (float)(((int)i + (r % 2) * ((int)i % 3 == 0) + (r / 2) * ((int)i % 5 == 0)) % 3);
}
static int32_t am_idx(int r, int size, size_t i)
{
    return (int32_t)(i % 2 ? (size - 1 - r) * 1000 + (int)i : r * 1000 + (int)i);
}

static void test_local_noops(void)
{
    float a[4] = {1, -2, 3, 4}, ref[4] = {1, -2, 3, 4}, out[4] = {0};
    int32_t idx[4] = {0, 1, 2, 3};
    CHECK_OK(comm_allreduce_sum_f32(NULL, a, 4));
    CHECK_OK(comm_allreduce_max_f32(NULL, a, 4));
    CHECK_OK(comm_argmax(NULL, a, idx, 4));
    CHECK(!memcmp(a, ref, sizeof a) && idx[3] == 3, "local collectives must not change data");
    CHECK_OK(comm_allgather_f32(NULL, a, out, 4));
    CHECK(!memcmp(out, ref, sizeof out), "local all-gather copies in to out");
    CHECK_OK(comm_bcast(NULL, a, sizeof a, 0));
    CHECK_OK(comm_barrier(NULL));
}

static void test_options(void)
{
    struct par_options o;
    par_options_default(&o);
    CHECK(o.watchdog_s == 300 && o.init_timeout_s == 120 && !o.no_bind, "defaults");
    char *args[] = {"prog", "generate", "--no-bind", "--watchdog-seconds=7", "-m", "x",
                    "--init-timeout", "9", "--force-mpi", NULL};
    int argc = 9;
    CHECK_OK(par_options_parse(&o, &argc, args));
    CHECK(o.no_bind && o.watchdog_s == 7 && o.init_timeout_s == 9 && o.force_mpi, "parsed values");
    CHECK(argc == 4 && !strcmp(args[1], "generate") && !strcmp(args[2], "-m") && !strcmp(args[3], "x") &&
              args[4] == NULL,
          "unconsumed arguments kept in order (argc %d)", argc);
    char *bad[] = {"prog", "--watchdog-seconds", "soon", NULL};
    argc = 3;
    CHECK(par_options_parse(&o, &argc, bad) == FRS_ERR_INVALID_ARG, "non-integer rejected");
    CHECK(strstr(frs_error_msg(), "--watchdog-seconds") != NULL, "message names the option: %s", frs_error_msg());
}

static void test_allreduce(struct frs_comm *c, size_t n)
{
    float *a = malloc(n * sizeof *a), *ref = malloc(n * sizeof *ref);
    for (size_t i = 0; i < n; i++) {
        a[i] = in_sum(c->rank, i);
        ref[i] = 0;
        for (int r = 0; r < c->size; r++)
            ref[i] += in_sum(r, i);
    }
    CHECK_OK(comm_allreduce_sum_f32(c, a, n));
    test_close_f32("allreduce sum", a, ref, n, 0.0);
    for (size_t i = 0; i < n; i++) {
        a[i] = in_max(c->rank, i);
        ref[i] = -INFINITY;
        for (int r = 0; r < c->size; r++)
            ref[i] = fmaxf(ref[i], in_max(r, i));
    }
    CHECK_OK(comm_allreduce_max_f32(c, a, n));
    test_close_f32("allreduce max", a, ref, n, 0.0);
    free(a);
    free(ref);
}

static void test_argmax(struct frs_comm *c)
{
    const size_t n = 300;
    float val[300], rv[300];
    int32_t idx[300], ri[300];
    int ties = 0;
    for (size_t i = 0; i < n; i++) {
        val[i] = am_val(c->rank, i);
        idx[i] = am_idx(c->rank, c->size, i);
        rv[i] = am_val(0, i);
        ri[i] = am_idx(0, c->size, i);
        for (int r = 1; r < c->size; r++) {
            float v = am_val(r, i);
            int32_t k = am_idx(r, c->size, i);
            if (v == rv[i])
                ties++;
            if (v > rv[i] || (v == rv[i] && k < ri[i])) {
                rv[i] = v;
                ri[i] = k;
            }
        }
    }
    CHECK(c->size == 1 || ties > 50, "the inputs must contain ties (%d)", ties);
    CHECK_OK(comm_argmax(c, val, idx, n));
    int bad = 0;
    for (size_t i = 0; i < n; i++) {
        if (val[i] != rv[i] || idx[i] != ri[i]) {
            if (bad++ < 5)
                fprintf(stderr, "  argmax item %zu: got (%g, %d) expected (%g, %d)\n", i, val[i], (int)idx[i],
                        rv[i], (int)ri[i]);
        }
    }
    CHECK(bad == 0, "%d argmax items differ", bad);
    CHECK(!signbit(val[0]), "item 0 (+0/-0 tie) comes back as +0");
    /* negative index is an API error, not silent garbage */
    int32_t neg = -1;
    float v0 = 1;
    if (c->size > 1)
        CHECK(comm_argmax(c, &v0, &neg, 1) == FRS_ERR_INVALID_ARG, "negative idx rejected");
}

static void test_allgather(struct frs_comm *c)
{
    const size_t n = 37;
    float in[37], *out = malloc((size_t)c->size * n * sizeof *out), *ref = malloc((size_t)c->size * n * sizeof *ref);
    for (size_t j = 0; j < n; j++)
        in[j] = (float)(c->rank * 1000 + (int)j);
    for (int r = 0; r < c->size; r++)
        for (size_t j = 0; j < n; j++)
            ref[(size_t)r * n + j] = (float)(r * 1000 + (int)j);
    CHECK_OK(comm_allgather_f32(c, in, out, n));
    test_close_f32("allgather", out, ref, (size_t)c->size * n, 0.0);
    /* in place: this rank's block of out is the input */
    for (size_t k = 0; k < (size_t)c->size * n; k++)
        out[k] = -1;
    memcpy(out + (size_t)c->rank * n, in, sizeof in);
    CHECK_OK(comm_allgather_f32(c, out + (size_t)c->rank * n, out, n));
    test_close_f32("allgather in place", out, ref, (size_t)c->size * n, 0.0);
    free(out);
    free(ref);
}

static void test_bcast(struct frs_comm *c)
{
    const size_t bytes = 3 * 1000 * 1000 + 7;
    unsigned char *b = malloc(bytes);
    int root = c->size - 1;
    for (size_t k = 0; k < bytes; k++)
        b[k] = c->rank == root ? (unsigned char)(k * 31 + 5) : 0;
    CHECK_OK(comm_bcast(c, b, bytes, root));
    size_t bad = 0;
    for (size_t k = 0; k < bytes; k++)
        bad += b[k] != (unsigned char)(k * 31 + 5);
    CHECK(bad == 0, "bcast from rank %d: %zu bytes differ", root, bad);
    if (c->size > 1)
        CHECK(comm_bcast(c, b, 1, c->size) == FRS_ERR_INVALID_ARG, "root out of range rejected");
    free(b);
}

int main(int argc, char **argv)
{
    test_local_noops();
    test_options();

    struct par_options opt;
    par_options_default(&opt);
    opt.watchdog_s = 120;
    CHECK_OK(par_options_parse(&opt, &argc, argv));
    struct frs_comm c;
    enum frs_status st = par_init(&c, &argc, &argv, &opt);
    if (st != FRS_OK)
        par_fail(&c, st);
    const char *np = getenv("OMPI_COMM_WORLD_SIZE");
    CHECK(c.size == (np ? atoi(np) : 1), "size %d matches the launcher", c.size);
    CHECK(c.rank >= 0 && c.rank < c.size && c.local_rank >= 0 && c.local_rank < c.local_size, "ranks in range");
    CHECK(c.local_size == c.size, "one node here: local_size %d == size %d", c.local_size, c.size);
    CHECK(c.device == -1 && c.nccl_comm == NULL, "CPU-only bring-up");
    CHECK(strlen(par_binding(&c)) > 0, "binding described");
    CHECK_OK(par_report_bindings(&c, stdout));

    test_allreduce(&c, N_SMALL);
    test_allreduce(&c, N_LARGE);
    test_argmax(&c);
    test_allgather(&c);
    test_bcast(&c);
    CHECK_OK(comm_barrier(&c));

    /* every rank's verdict reaches rank 0 so the exit code covers all ranks */
    float fails = (float)test_failures;
    CHECK_OK(comm_allreduce_sum_f32(&c, &fails, 1));
    int rank = c.rank;
    par_finalize(&c);
    CHECK(c.par == NULL && c.mpi_comm == NULL, "finalize clears the context");
    if (fails > 0 && test_failures == 0) {
        fprintf(stderr, "rank %d: another rank failed\n", rank);
        return 1;
    }
    return test_finish("test_comm");
}
