/* memplan.c - sizing, carving and the host allocation of a memory plan (memplan.h). */
#include "memplan.h"

#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static size_t memplan_round(size_t bytes, size_t align) { return (bytes + align - 1) & ~(align - 1); }

void memplan_init(struct memplan *mp, const char *owner, const char *what, struct memplan_entry *storage, size_t n, size_t cap,
                  size_t align)
{
    mp->owner = owner;
    mp->what = what;
    mp->tab = storage;
    mp->n = n;
    mp->cap = cap;
    mp->align = align;
    mp->total = 0;
}

void memplan_add(struct memplan *mp, void **ptr, size_t bytes, const char *name)
{
    if (mp->n < mp->cap)
        mp->tab[mp->n] = (struct memplan_entry){ptr, bytes, name};
    mp->n++;
}

enum frs_status memplan_size(struct memplan *mp)
{
    if (!mp->align || (mp->align & (mp->align - 1)))
        return FRS_ERR(FRS_ERR_INTERNAL, "%s: memory plan for the %s: alignment %zu is not a power of two", mp->owner, mp->what, mp->align);
    if (mp->n > mp->cap)
        return FRS_ERR(FRS_ERR_INTERNAL, "%s: memory plan for the %s: %zu entries planned, the table holds %zu", mp->owner, mp->what, mp->n,
                       mp->cap);
    size_t t = 0;
    for (size_t i = 0; i < mp->n; i++) {
        const struct memplan_entry *e = &mp->tab[i];
        if (e->bytes > SIZE_MAX - mp->align || memplan_round(e->bytes, mp->align) > SIZE_MAX - t)
            return FRS_ERR(FRS_ERR_OOM, "%s: memory plan for the %s: entry %zu (%s, %zu bytes) overflows the total size", mp->owner, mp->what,
                           i, e->name, e->bytes);
        t += memplan_round(e->bytes, mp->align);
    }
    mp->total = t ? t : mp->align;
    return FRS_OK;
}

void memplan_carve(const struct memplan *mp, void *base)
{
    char *c = base;
    for (size_t i = 0; i < mp->n && i < mp->cap; i++) {
        *mp->tab[i].ptr = mp->tab[i].bytes ? c : NULL;
        c += memplan_round(mp->tab[i].bytes, mp->align);
    }
}

enum frs_status memplan_alloc_host(struct memplan *mp, void **mem)
{
    *mem = NULL;
    FRS_TRY(memplan_size(mp));
    void *base = aligned_alloc(mp->align, mp->total); /* total is a multiple of align */
    if (!base)
        return FRS_ERR(FRS_ERR_OOM, "%s: cannot allocate %.1f MiB of host memory for the %s", mp->owner,
                       (double)mp->total / (1 << 20), mp->what);
    memset(base, 0, mp->total);
    memplan_carve(mp, base);
    *mem = base;
    return FRS_OK;
}

void memplan_log(const struct memplan *mp)
{
    fprintf(stderr, "%s%s: allocating %.1f MiB for the %s\n", frs_error_origin(), mp->owner, (double)mp->total / (1 << 20),
            mp->what);
}
