/* par_state.h - private to parallel/: the state par_init() hangs on frs_comm.par (MPI
 * communicators, hwloc topology, binding report, watchdog) and the watchdog hooks comm.c uses.
 * Nothing outside parallel/ includes this header.
 *
 * defines: struct par_watchdog, struct par_state, par_watch_begin, par_watch_end,
 *          par_watchdog_start, par_watchdog_stop, par_state_of
 */
#ifndef FRSPEC_PAR_STATE_H
#define FRSPEC_PAR_STATE_H

#include <hwloc.h>
#include <mpi.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdint.h>

#include "bootstrap.h"
#include "comm.h"

enum par_watch_slot {
    PAR_WATCH_STEP = 0, /* armed by launch/engine around a unit of work (par_step_begin) */
    PAR_WATCH_COLL,     /* armed by comm.c around each host collective */
    PAR_WATCH_NSLOTS
};

struct par_watchdog {
    int seconds;                                  /* 0: off (no thread) */
    int running;                                  /* thread started */
    pthread_t thread;
    atomic_int stop;
    _Atomic int64_t deadline_ns[PAR_WATCH_NSLOTS]; /* CLOCK_MONOTONIC; 0 = disarmed */
    const char *_Atomic what[PAR_WATCH_NSLOTS];    /* static strings only */
    atomic_int limit_s[PAR_WATCH_NSLOTS];          /* the limit the slot was armed with */
    struct frs_comm *comm;                        /* for comm_abort */
};

struct par_state {
    MPI_Comm world;          /* dup of MPI_COMM_WORLD; frs_comm.mpi_comm points here */
    MPI_Comm node;           /* ranks sharing this node's memory */
    int mpi_owned;           /* we called MPI_Init_thread (and so call MPI_Finalize) */
    int thread_level;        /* provided by MPI_Init_thread */
    hwloc_topology_t topo;   /* NULL when binding is off */
    char binding[512];       /* one line for the start-up table */
    struct par_options opt;
    struct par_watchdog wd;
};

static inline struct par_state *par_state_of(const struct frs_comm *c)
{
    return c ? (struct par_state *)c->par : NULL;
}

/* Arm / disarm one watchdog slot (no-op when the watchdog is off or c has no state). */
void par_watch_begin(struct frs_comm *c, enum par_watch_slot slot, const char *what);
/* seconds <= 0: the watchdog's default (par_options.watchdog_s) */
void par_watch_begin_for(struct frs_comm *c, enum par_watch_slot slot, const char *what, int seconds);
void par_watch_end(struct frs_comm *c, enum par_watch_slot slot);

enum frs_status par_watchdog_start(struct frs_comm *c, int seconds);
void par_watchdog_stop(struct frs_comm *c);

#endif
