/* watchdog.c - a thread that aborts the job when a host collective or a step runs too long.
 *
 * Two slots (par_state.h): the step slot, armed by launch/engine with par_step_begin/end around a
 * unit of work, and the collective slot, armed by comm.c around each MPI collective. Arming is an
 * atomic store of a deadline (no lock, cheap enough for every collective); the thread looks every
 * 100 ms and, past a deadline, calls comm_abort() with a message naming this rank, the operation
 * and the limit. MPI_Abort from this thread is why par_init asks for MPI_THREAD_MULTIPLE.
 */
#include <stdio.h>
#include <string.h>
#include <time.h>

#include "par_state.h"

static int64_t wd_now_ns(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (int64_t)ts.tv_sec * 1000000000 + ts.tv_nsec;
}

void par_watch_begin_for(struct frs_comm *c, enum par_watch_slot slot, const char *what, int seconds)
{
    struct par_state *ps = par_state_of(c);
    if (!ps || ps->wd.seconds <= 0)
        return;
    if (seconds <= 0)
        seconds = ps->wd.seconds;
    atomic_store(&ps->wd.what[slot], what);
    atomic_store(&ps->wd.limit_s[slot], seconds);
    atomic_store(&ps->wd.deadline_ns[slot], wd_now_ns() + (int64_t)seconds * 1000000000);
}

void par_watch_begin(struct frs_comm *c, enum par_watch_slot slot, const char *what)
{
    par_watch_begin_for(c, slot, what, 0);
}

void par_watch_end(struct frs_comm *c, enum par_watch_slot slot)
{
    struct par_state *ps = par_state_of(c);
    if (!ps || ps->wd.seconds <= 0)
        return;
    atomic_store(&ps->wd.deadline_ns[slot], 0);
}

void par_step_begin(struct frs_comm *c, const char *what) { par_watch_begin(c, PAR_WATCH_STEP, what); }

void par_step_begin_for(struct frs_comm *c, const char *what, int seconds)
{
    par_watch_begin_for(c, PAR_WATCH_STEP, what, seconds);
}

void par_step_end(struct frs_comm *c) { par_watch_end(c, PAR_WATCH_STEP); }

static void *wd_main(void *arg)
{
    struct par_watchdog *wd = arg;
    const struct timespec tick = {0, 100 * 1000 * 1000};
    while (!atomic_load(&wd->stop)) {
        nanosleep(&tick, NULL);
        int64_t now = wd_now_ns();
        for (int s = 0; s < PAR_WATCH_NSLOTS; s++) {
            int64_t dl = atomic_load(&wd->deadline_ns[s]);
            if (dl == 0 || now < dl)
                continue;
            const char *what = atomic_load(&wd->what[s]);
            char msg[512];
            snprintf(msg, sizeof msg,
                     "watchdog: %s '%s' did not finish within %d s (a peer rank is stuck or dead, "
                     "or the limit --watchdog-seconds is too low)",
                     s == PAR_WATCH_COLL ? "collective" : "step", what ? what : "?",
                     atomic_load(&wd->limit_s[s]));
            comm_abort(wd->comm, 3, msg);
        }
    }
    return NULL;
}

enum frs_status par_watchdog_start(struct frs_comm *c, int seconds)
{
    struct par_state *ps = par_state_of(c);
    if (!ps || seconds <= 0)
        return FRS_OK;
    struct par_watchdog *wd = &ps->wd;
    wd->comm = c;
    atomic_store(&wd->stop, 0);
    for (int s = 0; s < PAR_WATCH_NSLOTS; s++) {
        atomic_store(&wd->deadline_ns[s], 0);
        atomic_store(&wd->what[s], NULL);
        atomic_store(&wd->limit_s[s], 0);
    }
    wd->seconds = seconds;
    int rc = pthread_create(&wd->thread, NULL, wd_main, wd);
    if (rc != 0) {
        wd->seconds = 0;
        return FRS_ERR(FRS_ERR_INTERNAL, "watchdog: pthread_create: %s", strerror(rc));
    }
    wd->running = 1;
    return FRS_OK;
}

void par_watchdog_stop(struct frs_comm *c)
{
    struct par_state *ps = par_state_of(c);
    if (!ps || !ps->wd.running)
        return;
    atomic_store(&ps->wd.stop, 1);
    pthread_join(ps->wd.thread, NULL);
    ps->wd.running = 0;
    ps->wd.seconds = 0; /* later begin/end calls are no-ops */
}
