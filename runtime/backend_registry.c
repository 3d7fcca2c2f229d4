/* backend_registry.c - the list of this build's backends (backend_registry.h) and the lookups
 * over it. The one FRSPEC_HAVE_CUDA #ifdef above kernels/ is here: a CUDA build lists
 * frs_backend_cuda_entry (kernels/cuda_entry.c). Built into frspec_backends, not frspec_core. */
#include "backend_registry.h"

#include <stdio.h>
#include <string.h>

#include "cpu_backend.h" /* frs_backend_cpu_ops */

static const struct frs_backend_entry frs_backend_cpu_entry = {
    .name = "cpu",
    .ops = &frs_backend_cpu_ops,
};

#ifdef FRSPEC_HAVE_CUDA
extern const struct frs_backend_entry frs_backend_cuda_entry; /* kernels/cuda_entry.c */
#endif

/* device backends first: frs_backend_default takes the first that sees a device */
static const struct frs_backend_entry *const registry[] = {
#ifdef FRSPEC_HAVE_CUDA
    &frs_backend_cuda_entry,
#endif
    &frs_backend_cpu_entry,
};

size_t frs_backend_count(void) { return sizeof registry / sizeof registry[0]; }

const struct frs_backend_entry *frs_backend_at(size_t i) { return i < frs_backend_count() ? registry[i] : NULL; }

const char *frs_backend_names(void)
{
    static char buf[128];
    buf[0] = '\0';
    for (size_t i = 0; i < frs_backend_count(); i++)
        snprintf(buf + strlen(buf), sizeof buf - strlen(buf), "%s%s", i ? ", " : "", registry[i]->name);
    return buf;
}

enum frs_status frs_backend_find(const char *name, const struct frs_backend_entry **out)
{
    *out = NULL;
    for (size_t i = 0; name && i < frs_backend_count(); i++)
        if (!strcmp(registry[i]->name, name)) {
            *out = registry[i];
            return FRS_OK;
        }
    return FRS_ERR(FRS_ERR_UNSUPPORTED, "--device %s: this build has no %s backend (it has: %s%s)", name ? name : "(null)",
                   name ? name : "(null)", frs_backend_names(),
                   name && !strcmp(name, "cuda") ? "; rebuild with -DFRSPEC_CUDA=ON" : "");
}

int frs_backend_devices(const struct frs_backend_entry *e)
{
    int n = 0;
    if (!e || !e->device_count || e->device_count(&n) != FRS_OK)
        return 0;
    return n > 0 ? n : 0;
}

const struct frs_backend_entry *frs_backend_default(void)
{
    for (size_t i = 0; i < frs_backend_count(); i++)
        if (registry[i]->device_count && frs_backend_devices(registry[i]) > 0)
            return registry[i];
    for (size_t i = 0; i < frs_backend_count(); i++)
        if (!registry[i]->device_count)
            return registry[i];
    return registry[0];
}
