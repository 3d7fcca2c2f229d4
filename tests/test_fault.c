/* test_fault.c - a failing rank brings the whole job down quickly with a message naming it.
 *
 * Driver: `test_fault --driver SCENARIO MPIEXEC NPFLAG [FLAGS...]` runs
 * `MPIEXEC NPFLAG 2 FLAGS... test_fault --child SCENARIO`, reads its output, and checks that the
 * job ends by itself within BOUND_S seconds (the driver kills it after that: a hang fails the
 * test), with a non-zero exit status and the expected words in the output.
 *
 * Scenarios (rank 0 is always inside collectives when rank 1 goes wrong):
 *   fail  rank 1 cannot open its shard (simulated bad file) -> par_fail, message names rank 1
 *   oom   rank 1's allocation fails (simulated out of memory) -> par_fail, message names rank 1
 *   kill  rank 1 is killed by SIGKILL mid-run -> the launcher ends the job
 *   hang  rank 1 is stuck before a collective -> rank 0's watchdog (2 s) aborts the job
 *   step  rank 1 is stuck inside a step armed with a 1 s limit -> its own watchdog aborts the job
 */
#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "bootstrap.h"
#include "testutil.h"

#define BOUND_S 40

static double now_s(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + 1e-9 * (double)ts.tv_nsec;
}

/* ---- child: one rank of the job -------------------------------------------------------------- */

static enum frs_status open_shard(const char *path)
{
    FILE *f = fopen(path, "rb");
    if (!f)
        return FRS_ERR(FRS_ERR_IO, "%s: cannot open: %s", path, strerror(errno));
    fclose(f);
    return FRS_OK;
}

static enum frs_status alloc_cache(size_t bytes, void **out)
{
    *out = malloc(bytes);
    if (!*out)
        return FRS_ERR(FRS_ERR_OOM, "KV cache: cannot allocate %zu MiB", bytes >> 20);
    return FRS_OK;
}

static int child(const char *scenario, int argc, char **argv)
{
    struct par_options opt;
    par_options_default(&opt);
    opt.no_bind = 1;
    opt.watchdog_s = 2;
    struct frs_comm c;
    enum frs_status st = par_init(&c, &argc, &argv, &opt);
    if (st != FRS_OK)
        par_fail(&c, st);
    if (c.size != 2) {
        fprintf(stderr, "test_fault --child needs 2 ranks, got %d\n", c.size);
        return 2;
    }
    float x[64] = {1};
    for (int step = 0; step < 1000; step++) {
        if (c.rank == 1 && step == 5) {
            if (!strcmp(scenario, "fail")) {
                st = open_shard("/nonexistent/model-00002-of-00004.safetensors");
            } else if (!strcmp(scenario, "oom")) {
                void *p = NULL;
                st = alloc_cache((size_t)1 << 62, &p);
                free(p);
            } else if (!strcmp(scenario, "kill")) {
                raise(SIGKILL);
            } else if (!strcmp(scenario, "hang")) {
                for (;;)
                    pause();
            } else if (!strcmp(scenario, "step")) {
                par_step_begin_for(&c, "loading the model", 1);
                sleep(30);
                par_step_end(&c);
            }
            if (st != FRS_OK)
                par_fail(&c, st);
        }
        st = comm_allreduce_sum_f32(&c, x, 64);
        if (st != FRS_OK)
            par_fail(&c, st);
    }
    par_finalize(&c);
    fprintf(stderr, "rank finished without a fault (scenario %s)\n", scenario);
    return 0;
}

/* ---- driver ----------------------------------------------------------------------------------- */

static int driver(const char *self, const char *scenario, int nlaunch, char **launch)
{
    char *args[64];
    int n = 0;
    if (nlaunch < 2 || nlaunch > 50) {
        fprintf(stderr, "test_fault --driver SCENARIO MPIEXEC NPFLAG [FLAGS...]\n");
        return 2;
    }
    args[n++] = launch[0];
    args[n++] = launch[1];
    args[n++] = "2";
    for (int i = 2; i < nlaunch; i++)
        args[n++] = launch[i];
    args[n++] = (char *)self;
    args[n++] = "--child";
    args[n++] = (char *)scenario;
    args[n] = NULL;

    int fd[2];
    if (pipe(fd) != 0)
        return 2;
    double t0 = now_s();
    pid_t pid = fork();
    if (pid == 0) {
        setpgid(0, 0); /* the whole job in one group the driver can kill */
        dup2(fd[1], 1);
        dup2(fd[1], 2);
        close(fd[0]);
        close(fd[1]);
        execvp(args[0], args);
        _exit(127);
    }
    close(fd[1]);
    fcntl(fd[0], F_SETFL, O_NONBLOCK);
    static char out[1 << 16];
    size_t len = 0;
    int status = 0, done = 0, hung = 0;
    while (!done) {
        ssize_t r;
        while ((r = read(fd[0], out + len, sizeof out - 1 - len)) > 0)
            len += (size_t)r;
        pid_t w = waitpid(pid, &status, WNOHANG);
        if (w == pid)
            done = 1;
        else if (now_s() - t0 > BOUND_S) {
            hung = 1;
            kill(-pid, SIGKILL);
            waitpid(pid, &status, 0);
            done = 1;
        } else
            usleep(20000);
    }
    ssize_t r;
    while ((r = read(fd[0], out + len, sizeof out - 1 - len)) > 0)
        len += (size_t)r;
    out[len] = '\0';
    close(fd[0]);
    double dt = now_s() - t0;
    fprintf(stderr, "---- job output (%s, %.1f s) ----\n%s---- end ----\n", scenario, dt, out);

    CHECK(!hung, "scenario %s: the job did not end within %d s (hang)", scenario, BOUND_S);
    CHECK(!(WIFEXITED(status) && WEXITSTATUS(status) == 0), "scenario %s: the job must fail (status %d)", scenario,
          status);
    CHECK(!(WIFEXITED(status) && WEXITSTATUS(status) == 127), "scenario %s: could not start %s", scenario, args[0]);
    CHECK(!strstr(out, "rank finished without a fault"), "scenario %s: the fault did not happen", scenario);
    if (!strcmp(scenario, "fail")) {
        CHECK(strstr(out, "[rank 1 on ") && strstr(out, "model-00002-of-00004.safetensors: cannot open"),
              "message names rank 1 and the file");
    } else if (!strcmp(scenario, "oom")) {
        CHECK(strstr(out, "[rank 1 on ") && strstr(out, "out of memory") && strstr(out, "KV cache"),
              "message names rank 1 and the cause");
    } else if (!strcmp(scenario, "kill")) {
        CHECK(strstr(out, "rank 1"), "the launcher names rank 1");
    } else if (!strcmp(scenario, "hang")) {
        CHECK(strstr(out, "[rank 0 on ") && strstr(out, "watchdog") && strstr(out, "comm_allreduce_sum_f32"),
              "watchdog message names the rank and the collective");
    } else if (!strcmp(scenario, "step")) {
        CHECK(strstr(out, "[rank 1 on ") && strstr(out, "step 'loading the model' did not finish within 1 s"),
              "watchdog message names the rank, the step and its limit");
    }
    return test_finish("test_fault");
}

int main(int argc, char **argv)
{
    if (argc >= 3 && !strcmp(argv[1], "--child"))
        return child(argv[2], argc, argv);
    if (argc >= 3 && !strcmp(argv[1], "--driver"))
        return driver(argv[0], argv[2], argc - 3, argv + 3);
    fprintf(stderr, "usage: test_fault --driver SCENARIO MPIEXEC NPFLAG [FLAGS...]\n");
    return 2;
}
