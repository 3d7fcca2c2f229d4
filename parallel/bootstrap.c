/* bootstrap.c - par_init / par_finalize (order in bootstrap.h), hwloc binding, the start-up
 * binding table, the options the bootstrap reads, par_fail.
 */
#include "bootstrap.h"

#include <errno.h>
#include <limits.h>
#include <mpi.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "check.h"
#include "par_state.h"

#define PAR_SET_CHARS 256 /* a cpuset as hwloc_bitmap_snprintf writes it, exchanged over MPI */

void par_options_default(struct par_options *o)
{
    memset(o, 0, sizeof *o);
    o->watchdog_s = 300;
    o->init_timeout_s = 120;
}

const char *par_options_usage(void)
{
    return "  --no-bind               leave CPU/memory binding to the launcher (default: bind each\n"
           "                          rank to the cores and memory nearest its GPU with hwloc)\n"
           "  --watchdog-seconds N    abort the whole job when one collective or step takes longer\n"
           "                          than N s (default 300, 0 = off)\n"
           "  --init-timeout N        give up on NCCL communicator set-up after N s (default 120)\n"
           "  --force-mpi             initialise MPI even when no launcher is detected\n"
           "  --force-nccl            set up the NCCL communicator even for one rank (tests the\n"
           "                          device collectives at TP 1; implies --force-mpi)\n";
}

static enum frs_status opt_int(const char *name, const char *s, int lo, int *out)
{
    char *end;
    errno = 0;
    long v = s ? strtol(s, &end, 10) : 0;
    if (!s || errno || end == s || *end || v < lo || v > INT_MAX)
        return FRS_ERR(FRS_ERR_INVALID_ARG, "option %s: '%s' is not an integer >= %d", name,
                       s ? s : "(missing)", lo);
    *out = (int)v;
    return FRS_OK;
}

enum frs_status par_options_parse(struct par_options *o, int *argc, char **argv)
{
    int w = 1;
    for (int i = 1; i < *argc; i++) {
        const char *a = argv[i];
        const char *eq = strchr(a, '=');
        size_t nl = eq ? (size_t)(eq - a) : strlen(a);
        const char *val = NULL;
        int *target = NULL, lo = 0;
        if (!strcmp(a, "--no-bind")) {
            o->no_bind = 1;
            continue;
        } else if (!strcmp(a, "--force-mpi")) {
            o->force_mpi = 1;
            continue;
        } else if (!strcmp(a, "--force-nccl")) {
            o->force_nccl = 1;
            o->force_mpi = 1;
            continue;
        } else if (nl == 18 && !strncmp(a, "--watchdog-seconds", nl)) {
            target = &o->watchdog_s;
        } else if (nl == 14 && !strncmp(a, "--init-timeout", nl)) {
            target = &o->init_timeout_s;
            lo = 1;
        } else {
            argv[w++] = argv[i];
            continue;
        }
        if (eq)
            val = eq + 1;
        else if (i + 1 < *argc)
            val = argv[++i];
        char name[32];
        snprintf(name, sizeof name, "%.*s", (int)nl, a);
        FRS_TRY(opt_int(name, val, lo, target));
    }
    *argc = w;
    argv[w] = NULL;
    return FRS_OK;
}

static int launcher_present(void)
{
    static const char *vars[] = {"OMPI_COMM_WORLD_SIZE", "PMIX_RANK", "PMI_RANK", "PMI_SIZE"};
    for (size_t i = 0; i < sizeof vars / sizeof *vars; i++)
        if (getenv(vars[i]))
            return 1;
    return 0;
}

/* ---- binding -------------------------------------------------------------------------------- */

/* The k-th of m contiguous shares of the cores in near (the PUs of cores [k*nc/m, (k+1)*nc/m));
 * with more ranks than cores, the one core k*nc/m. Cores are in logical order, so shares follow packages
 * and NUMA nodes. */
static void bind_share(hwloc_topology_t topo, hwloc_const_cpuset_t near, int k, int m, hwloc_cpuset_t out)
{
    hwloc_obj_type_t type = HWLOC_OBJ_CORE;
    int nc = hwloc_get_nbobjs_inside_cpuset_by_type(topo, near, type);
    if (nc <= 0) {
        type = HWLOC_OBJ_PU;
        nc = hwloc_get_nbobjs_inside_cpuset_by_type(topo, near, type);
    }
    hwloc_bitmap_zero(out);
    if (nc <= 0) {
        hwloc_bitmap_copy(out, near);
        return;
    }
    int lo = (int)((long)k * nc / m), hi = (int)((long)(k + 1) * nc / m);
    if (hi <= lo) /* more ranks than cores: neighbouring ranks share core k*nc/m */
        hi = lo + 1;
    for (int i = lo; i < hi; i++) {
        hwloc_obj_t o = hwloc_get_obj_inside_cpuset_by_type(topo, near, type, i);
        if (o)
            hwloc_bitmap_or(out, out, o->cpuset);
    }
    hwloc_bitmap_and(out, out, near);
}

/* near: the cores near this rank's device (or the whole node). Ranks on this node whose near sets
 * are equal split it between them (each rank's set is exchanged over the node communicator, so
 * this works when the launcher shows each rank only its own GPU). */
static enum frs_status bind_near(struct frs_comm *c, struct par_state *ps, hwloc_const_cpuset_t near,
                                 char *desc, size_t ndesc)
{
    enum frs_status st = FRS_OK;
    char mine[PAR_SET_CHARS] = {0};
    char *all = NULL;
    hwloc_cpuset_t set = hwloc_bitmap_alloc();
    hwloc_nodeset_t nodes = hwloc_bitmap_alloc();
    if (!set || !nodes) {
        st = FRS_ERR(FRS_ERR_OOM, "hwloc_bitmap_alloc");
        goto out;
    }
    if (hwloc_bitmap_snprintf(mine, sizeof mine, near) >= (int)sizeof mine) {
        st = FRS_ERR(FRS_ERR_UNSUPPORTED, "binding: cpuset of this node too large to exchange");
        goto out;
    }
    int k = 0, m = 1;
    if (ps->node != MPI_COMM_NULL && c->local_size > 1) {
        all = calloc((size_t)c->local_size, PAR_SET_CHARS);
        if (!all) {
            st = FRS_ERR(FRS_ERR_OOM, "binding: %d cpusets", c->local_size);
            goto out;
        }
        MPI_CHECK_GOTO(MPI_Allgather(mine, PAR_SET_CHARS, MPI_CHAR, all, PAR_SET_CHARS, MPI_CHAR, ps->node),
                       st, out);
        m = 0;
        for (int j = 0; j < c->local_size; j++) {
            if (strncmp(all + (size_t)j * PAR_SET_CHARS, mine, PAR_SET_CHARS) == 0) {
                if (j == c->local_rank)
                    k = m;
                m++;
            }
        }
    }
    bind_share(ps->topo, near, k, m, set);
    hwloc_cpuset_to_nodeset(ps->topo, set, nodes);
    char cpus[96], numa[48];
    hwloc_bitmap_list_snprintf(cpus, sizeof cpus, set);
    hwloc_bitmap_list_snprintf(numa, sizeof numa, nodes);
    int n = snprintf(desc, ndesc, "cpus %s numa %s (share %d/%d)", cpus, numa, k + 1, m);
    if (hwloc_set_cpubind(ps->topo, set, HWLOC_CPUBIND_PROCESS) != 0 &&
        hwloc_set_cpubind(ps->topo, set, 0) != 0 && n >= 0 && (size_t)n < ndesc)
        n += snprintf(desc + n, ndesc - (size_t)n, " [cpubind failed: %s]", strerror(errno));
    if (hwloc_set_membind(ps->topo, set, HWLOC_MEMBIND_BIND, 0) != 0 && n >= 0 && (size_t)n < ndesc)
        snprintf(desc + n, ndesc - (size_t)n, " [membind failed: %s]", strerror(errno));
out:
    free(all);
    if (set)
        hwloc_bitmap_free(set);
    if (nodes)
        hwloc_bitmap_free(nodes);
    return st;
}

static enum frs_status par_bind(struct frs_comm *c, struct par_state *ps)
{
    const struct par_device_ops *dev = ps->opt.device;
    char where[160] = "", dname[128] = "";
    if (dev) {
        if (dev->describe)
            dev->describe(c->device, dname, sizeof dname);
        snprintf(where, sizeof where, "gpu %d%s%s: ", c->device, *dname ? " " : "", dname);
    }
    if (hwloc_topology_init(&ps->topo) != 0 || hwloc_topology_load(ps->topo) != 0) {
        if (ps->topo)
            hwloc_topology_destroy(ps->topo);
        ps->topo = NULL;
        return FRS_ERR(FRS_ERR_INTERNAL, "hwloc: cannot load the topology of %s: %s", c->host, strerror(errno));
    }
    if (ps->opt.no_bind) {
        char cur[96] = "?";
        hwloc_cpuset_t set = hwloc_bitmap_alloc();
        if (set && hwloc_get_cpubind(ps->topo, set, HWLOC_CPUBIND_PROCESS) == 0)
            hwloc_bitmap_list_snprintf(cur, sizeof cur, set);
        if (set)
            hwloc_bitmap_free(set);
        snprintf(ps->binding, sizeof ps->binding, "%snot bound by frspec (--no-bind), cpus %s", where, cur);
        return FRS_OK;
    }
    hwloc_cpuset_t near = hwloc_bitmap_dup(hwloc_topology_get_allowed_cpuset(ps->topo));
    if (!near)
        return FRS_ERR(FRS_ERR_OOM, "hwloc_bitmap_dup");
    enum frs_status st = FRS_OK;
    if (dev && dev->near_cpuset) {
        FRS_TRY_GOTO(dev->near_cpuset(ps->topo, c->device, near), st, out);
        hwloc_bitmap_and(near, near, hwloc_topology_get_allowed_cpuset(ps->topo));
        if (hwloc_bitmap_iszero(near)) /* the GPU's cores are outside our cgroup: use what we have */
            hwloc_bitmap_copy(near, hwloc_topology_get_allowed_cpuset(ps->topo));
    }
    char desc[200];
    FRS_TRY_GOTO(bind_near(c, ps, near, desc, sizeof desc), st, out);
    snprintf(ps->binding, sizeof ps->binding, "%s%s", where, desc);
out:
    hwloc_bitmap_free(near);
    return st;
}

/* ---- init / finalize ---------------------------------------------------------------------- */

enum frs_status par_init(struct frs_comm *c, int *argc, char ***argv, const struct par_options *opt)
{
    memset(c, 0, sizeof *c);
    c->size = 1;
    c->local_size = 1;
    c->device = -1;
    if (gethostname(c->host, sizeof c->host) != 0)
        snprintf(c->host, sizeof c->host, "unknown-host");
    c->host[sizeof c->host - 1] = '\0';

    struct par_state *ps = calloc(1, sizeof *ps);
    if (!ps)
        return FRS_ERR(FRS_ERR_OOM, "par_init: state");
    c->par = ps;
    ps->world = MPI_COMM_NULL;
    ps->node = MPI_COMM_NULL;
    if (opt)
        ps->opt = *opt;
    else
        par_options_default(&ps->opt);

    /* 1. MPI: rank and size */
    int inited = 0;
    MPI_Initialized(&inited);
    if (inited || launcher_present() || ps->opt.force_mpi) {
        if (!inited) {
            int rc = MPI_Init_thread(argc, argv, MPI_THREAD_MULTIPLE, &ps->thread_level);
            if (rc != MPI_SUCCESS)
                return FRS_ERR(FRS_ERR_MPI, "MPI_Init_thread failed on %s (code %d)", c->host, rc);
            ps->mpi_owned = 1;
        } else {
            MPI_Query_thread(&ps->thread_level);
        }
        MPI_CHECK(MPI_Comm_set_errhandler(MPI_COMM_WORLD, MPI_ERRORS_RETURN));
        MPI_CHECK(MPI_Comm_dup(MPI_COMM_WORLD, &ps->world));
        MPI_CHECK(MPI_Comm_set_errhandler(ps->world, MPI_ERRORS_RETURN));
        c->mpi_comm = &ps->world;
        MPI_CHECK(MPI_Comm_rank(ps->world, &c->rank));
        MPI_CHECK(MPI_Comm_size(ps->world, &c->size));
        if (c->size > 1)
            frs_error_set_origin(c->rank, c->host);
        /* 2. local rank */
        MPI_CHECK(MPI_Comm_split_type(ps->world, MPI_COMM_TYPE_SHARED, c->rank, MPI_INFO_NULL, &ps->node));
        MPI_CHECK(MPI_Comm_set_errhandler(ps->node, MPI_ERRORS_RETURN));
        MPI_CHECK(MPI_Comm_rank(ps->node, &c->local_rank));
        MPI_CHECK(MPI_Comm_size(ps->node, &c->local_size));
    }

    /* 3. which device: local_rank % visible devices */
    const struct par_device_ops *dev = ps->opt.device;
    if (dev) {
        int n = 0;
        FRS_TRY(dev->count(&n));
        if (n <= 0) {
            const char *cvd = getenv("CUDA_VISIBLE_DEVICES");
            return FRS_ERR(FRS_ERR_UNSUPPORTED, "no %s device visible on %s (CUDA_VISIBLE_DEVICES=%s)",
                           dev->name, c->host, cvd ? cvd : "unset");
        }
        c->device = c->local_rank % n;
    }

    /* 4. hwloc binding near the device */
    FRS_TRY(par_bind(c, ps));

    /* 5. device select */
    if (dev)
        FRS_TRY(dev->select(c->device));

    /* 6. watchdog (before NCCL: its init is a collective too) */
    FRS_TRY(par_watchdog_start(c, ps->opt.watchdog_s));

    /* 7. device communicator (NCCL); none needed for one rank unless asked for */
    if (dev && dev->comm_init && (c->size > 1 || ps->opt.force_nccl)) {
        par_step_begin(c, "device communicator init");
        enum frs_status st = dev->comm_init(c, ps->opt.init_timeout_s);
        par_step_end(c);
        if (st != FRS_OK)
            return st;
    }
    return FRS_OK;
}

void par_finalize(struct frs_comm *c)
{
    struct par_state *ps = par_state_of(c);
    if (!ps)
        return;
    if (c->nccl_comm && ps->opt.device && ps->opt.device->comm_free)
        ps->opt.device->comm_free(c);
    par_watchdog_stop(c);
    if (ps->topo)
        hwloc_topology_destroy(ps->topo);
    int fin = 0;
    MPI_Finalized(&fin);
    if (!fin) {
        if (ps->node != MPI_COMM_NULL)
            MPI_Comm_free(&ps->node);
        if (ps->world != MPI_COMM_NULL)
            MPI_Comm_free(&ps->world);
        if (ps->mpi_owned)
            MPI_Finalize();
    }
    free(ps);
    c->par = NULL;
    c->mpi_comm = NULL;
}

/* ---- reporting ---------------------------------------------------------------------------- */

const char *par_binding(const struct frs_comm *c)
{
    const struct par_state *ps = par_state_of(c);
    return ps && ps->binding[0] ? ps->binding : "not bound";
}

#define PAR_ROW_CHARS 384

enum frs_status par_report_bindings(struct frs_comm *c, FILE *out)
{
    struct frs_comm one = {.size = 1, .local_size = 1, .device = -1};
    if (!c)
        c = &one;
    char row[PAR_ROW_CHARS];
    snprintf(row, sizeof row, "%4d  %-20.20s %5d/%-5d %.300s", c->rank, c->host, c->local_rank, c->local_size,
             par_binding(c));
    char *all = NULL;
    if (c->size > 1) {
        if (c->rank == 0) {
            all = malloc((size_t)c->size * PAR_ROW_CHARS);
            if (!all)
                return FRS_ERR(FRS_ERR_OOM, "par_report_bindings: %d rows", c->size);
        }
        enum frs_status st = FRS_OK;
        par_watch_begin(c, PAR_WATCH_COLL, "par_report_bindings");
        MPI_CHECK_GOTO(MPI_Gather(row, PAR_ROW_CHARS, MPI_CHAR, all, PAR_ROW_CHARS, MPI_CHAR, 0,
                                  *(MPI_Comm *)c->mpi_comm), st, fail);
    fail:
        par_watch_end(c, PAR_WATCH_COLL);
        if (st != FRS_OK) {
            free(all);
            return st;
        }
    }
    if (c->rank == 0 && out) {
        fprintf(out, "%4s  %-20s %-11s %s\n", "rank", "host", "local", "binding");
        for (int r = 0; r < c->size; r++)
            fprintf(out, "%s\n", all ? all + (size_t)r * PAR_ROW_CHARS : row);
        fflush(out);
    }
    free(all);
    return FRS_OK;
}

_Noreturn void par_fail(struct frs_comm *c, enum frs_status st)
{
    comm_abort(c, st == FRS_OK ? 1 : (int)st, frs_error_msg());
}
