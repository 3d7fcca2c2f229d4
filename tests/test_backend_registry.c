/* test_backend_registry.c - runtime/backend_registry.h (find by name, the default for this
 * machine, device counts, the build's names) and launch/options.c's reading of the FRS_*
 * switches into struct frs_backend_options (the one place the product reads them): each
 * variable sets its field as the backends had read it, anything else keeps the default. */
#include <stdlib.h>
#include <string.h>

#include "backend_registry.h"
#include "cpu_backend.h" /* frs_backend_cpu_ops */
#include "options.h"
#include "testutil.h"

static void test_registry(void)
{
    const size_t n = frs_backend_count();
    CHECK(n >= 1, "the registry is empty");
    CHECK(frs_backend_at(n) == NULL, "frs_backend_at past the end");
    const struct frs_backend_entry *cpu = NULL;
    CHECK_OK(frs_backend_find("cpu", &cpu));
    CHECK(cpu && cpu->ops == &frs_backend_cpu_ops, "the cpu entry holds frs_backend_cpu_ops");
    CHECK(cpu && !cpu->device_count && !cpu->par_device, "the CPU backend is a host backend");
    CHECK(frs_backend_devices(cpu) == 0, "a host backend has no devices");
    CHECK(strstr(frs_backend_names(), "cpu") != NULL, "names: %s", frs_backend_names());

    const struct frs_backend_entry *e = (const struct frs_backend_entry *)1;
    CHECK(frs_backend_find("tpu", &e) == FRS_ERR_UNSUPPORTED && e == NULL, "an unknown backend is refused");
    CHECK(strstr(frs_error_msg(), "tpu") && strstr(frs_error_msg(), "cpu"), "message names it and the build's: %s",
          frs_error_msg());

    /* every entry is findable by its name, names are unique, ops are complete */
    for (size_t i = 0; i < n; i++) {
        const struct frs_backend_entry *a = frs_backend_at(i), *b = NULL;
        CHECK_OK(frs_backend_find(a->name, &b));
        CHECK(a == b, "%s: find returns another entry", a->name);
        CHECK(a->ops && a->ops->create && a->ops->destroy && a->ops->prefill && a->ops->decode && a->ops->next_token,
              "%s: incomplete ops", a->name);
        CHECK(!a->device_count == !a->par_device, "%s: a device backend has both hooks, a host one neither", a->name);
    }

    /* the default: the first device backend that sees a device, else the CPU */
    const struct frs_backend_entry *d = frs_backend_default(), *want = cpu;
    for (size_t i = 0; i < n; i++)
        if (frs_backend_at(i)->device_count && frs_backend_devices(frs_backend_at(i)) > 0) {
            want = frs_backend_at(i);
            break;
        }
    CHECK(d == want, "default %s, expected %s", d ? d->name : "NULL", want->name);
#ifdef FRSPEC_HAVE_CUDA
    const struct frs_backend_entry *cu = NULL;
    CHECK_OK(frs_backend_find("cuda", &cu));
    CHECK(cu && cu->device_count && cu->par_device && cu->sampling_counts, "the CUDA entry's hooks");
#else
    CHECK(frs_backend_find("cuda", &e) == FRS_ERR_UNSUPPORTED, "no CUDA backend in a CPU build");
    CHECK(strstr(frs_error_msg(), "FRSPEC_CUDA=ON") != NULL, "says how to get one: %s", frs_error_msg());
#endif
}

static const char *VARS[] = {"FRS_CUDA_GRAPHS", "FRS_HOST_SAMPLING", "FRS_HOST_ACCEPT", "FRS_ATT_MMA", "FRS_PDL",
                             "FRS_CUBLASLT"};

static struct frs_backend_options from_env(const char *var, const char *val)
{
    for (size_t i = 0; i < sizeof VARS / sizeof VARS[0]; i++)
        unsetenv(VARS[i]);
    if (var)
        setenv(var, val, 1);
    struct frs_backend_options o = frs_backend_options_default();
    backend_options_from_env(&o);
    if (var)
        unsetenv(var);
    return o;
}

static int same(const struct frs_backend_options *a, const struct frs_backend_options *b)
{
    return a->cuda_graphs == b->cuda_graphs && a->device_sampling == b->device_sampling &&
           a->device_accept == b->device_accept && a->attention == b->attention && a->pdl == b->pdl &&
           a->cublaslt == b->cublaslt;
}

static void test_env(void)
{
    const struct frs_backend_options def = frs_backend_options_default();
    CHECK(def.cuda_graphs == 1 && def.device_sampling == 1 && def.device_accept == 1 && def.attention == FRS_ATTN_AUTO &&
              def.pdl == 1 && def.cublaslt == 1,
          "the defaults changed");
    struct frs_backend_options o = from_env(NULL, NULL), w;
    CHECK(same(&o, &def), "no variable: the defaults");
    char buf[160];
    CHECK(!strcmp(backend_options_describe(&o, buf, sizeof buf), "defaults"), "describe: %s", buf);

    w = def;
    w.cuda_graphs = 0;
    o = from_env("FRS_CUDA_GRAPHS", "0");
    CHECK(same(&o, &w), "FRS_CUDA_GRAPHS=0");
    CHECK(!strcmp(backend_options_describe(&o, buf, sizeof buf), "cuda_graphs=0"), "describe: %s", buf);
    w = def;
    w.device_sampling = 0;
    o = from_env("FRS_HOST_SAMPLING", "1");
    CHECK(same(&o, &w), "FRS_HOST_SAMPLING=1");
    w = def;
    w.device_accept = 0;
    o = from_env("FRS_HOST_ACCEPT", "1");
    CHECK(same(&o, &w), "FRS_HOST_ACCEPT=1");
    w = def;
    w.attention = FRS_ATTN_CUDA_CORES;
    o = from_env("FRS_ATT_MMA", "0");
    CHECK(same(&o, &w), "FRS_ATT_MMA=0");
    w.attention = FRS_ATTN_MMA_BF16;
    o = from_env("FRS_ATT_MMA", "1");
    CHECK(same(&o, &w), "FRS_ATT_MMA=1");
    CHECK(!strcmp(backend_options_describe(&o, buf, sizeof buf), "attention=mma-bf16"), "describe: %s", buf);
    o = from_env("FRS_ATT_MMA", "3");
    CHECK(same(&o, &def), "FRS_ATT_MMA=3: the default kernel");
    w = def;
    w.pdl = 0;
    o = from_env("FRS_PDL", "0");
    CHECK(same(&o, &w), "FRS_PDL=0");
    w = def;
    w.cublaslt = 0;
    o = from_env("FRS_CUBLASLT", "0");
    CHECK(same(&o, &w), "FRS_CUBLASLT=0");
    /* values that do not switch: the opposite digit, empty */
    o = from_env("FRS_CUDA_GRAPHS", "1");
    CHECK(same(&o, &def), "FRS_CUDA_GRAPHS=1 keeps graphs");
    o = from_env("FRS_HOST_SAMPLING", "0");
    CHECK(same(&o, &def), "FRS_HOST_SAMPLING=0 keeps device sampling");
    o = from_env("FRS_PDL", "");
    CHECK(same(&o, &def), "FRS_PDL= (empty) keeps PDL");
    /* gen_options_init applies them */
    setenv("FRS_HOST_ACCEPT", "1", 1);
    struct gen_options g;
    gen_options_init(&g);
    unsetenv("FRS_HOST_ACCEPT");
    CHECK(g.backend.device_accept == 0 && g.backend.cuda_graphs == 1, "gen_options_init reads the environment");
}

int main(void)
{
    test_registry();
    test_env();
    return test_finish("test_backend_registry");
}
