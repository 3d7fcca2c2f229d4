/* backend_registry.h - which compute backends this build has, and the one place the choice
 * between them is made: find a backend by name, the default for this machine (the first device
 * backend that sees a device, else the CPU reference), a backend's device count.
 *
 * Each backend describes itself with one struct frs_backend_entry: the CPU reference in
 * runtime/backend_registry.c, CUDA in kernels/cuda_entry.c. backend_registry.c lists them, the
 * CUDA one behind the build's one FRSPEC_HAVE_CUDA #ifdef; it is compiled into its own library
 * (frspec_backends, CMakeLists.txt) that links the backends, so runtime/ itself still depends on
 * nothing above it and launch/ includes no backend header.
 *
 * defines: struct frs_backend_entry, frs_backend_count, frs_backend_at, frs_backend_find,
 *          frs_backend_default, frs_backend_devices, frs_backend_names
 */
#ifndef FRSPEC_BACKEND_REGISTRY_H
#define FRSPEC_BACKEND_REGISTRY_H

#include <stddef.h>

#include "backend.h"
#include "status.h"

struct par_device_ops; /* parallel/bootstrap.h: opaque here, handed to par_init by launch/ */

struct frs_backend_entry {
    const char *name;                  /* "cpu", "cuda": the --device value */
    const struct frs_backend_ops *ops; /* backend.h */
    /* Devices visible to this process; NULL: the backend runs on the host (always usable). */
    enum frs_status (*device_count)(int *n);
    /* The device's bring-up hooks for par_init (binding near the device, device select, device
     * communicator); NULL: a host backend (MPI collectives on host buffers). */
    const struct par_device_ops *par_device;
    /* Optional, for benchmarks: sampled (temperature > 0) calls answered on the device, on the
     * host, and device rows redone on the host since create(). NULL: everything on the host. */
    void (*sampling_counts)(struct frs_backend *be, long *on_device, long *on_host, long *rows_redone);
};

size_t frs_backend_count(void);
const struct frs_backend_entry *frs_backend_at(size_t i); /* NULL past the end */
/* The backend called name; FRS_ERR_UNSUPPORTED naming the backends this build has otherwise. */
enum frs_status frs_backend_find(const char *name, const struct frs_backend_entry **out);
/* The first device backend (in registry order) that sees at least one device, else "cpu". */
const struct frs_backend_entry *frs_backend_default(void);
/* Devices visible to e (0 when its runtime reports an error or none; 0 for a host backend). */
int frs_backend_devices(const struct frs_backend_entry *e);
/* "cpu, cuda": the names this build has, for help texts. */
const char *frs_backend_names(void);

#endif
