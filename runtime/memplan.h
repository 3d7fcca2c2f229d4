/* memplan.h - the one way a backend plans its memory: a table of (pointer address, bytes, name)
 * entries, summed with each entry aligned, one allocation, the pointers carved out of it in table
 * order. Used by the CPU backend (cpu_backend.c, cpu_spec.c: host memory) and the CUDA backend
 * (kernels/cuda_backend.c: device memory, its own cudaMalloc around memplan_size / memplan_carve).
 *
 * A fixed table is an array initializer of MEMPLAN_ENTRY()s (MEMPLAN_LEN counts it, the owner
 * static-asserts the count it expects); a table whose length depends on the model (per-layer
 * weights) is filled with memplan_add() into storage of a computed capacity. Either way the sizes
 * are checked at start-up (memplan_size): an entry past the capacity, or a total that overflows
 * size_t, is an error naming the table and the entry, never a write out of bounds. An entry of 0
 * bytes gets a NULL pointer. The owner logs the total (memplan_log).
 *
 * defines: struct memplan_entry, MEMPLAN_ENTRY, MEMPLAN_LEN, struct memplan, memplan_init,
 *          memplan_add, MEMPLAN_ADD, memplan_size, memplan_carve, memplan_alloc_host, memplan_log
 */
#ifndef FRSPEC_MEMPLAN_H
#define FRSPEC_MEMPLAN_H

#include <stddef.h>

#include "status.h"

struct memplan_entry {
    void **ptr;       /* where the carved pointer goes */
    size_t bytes;     /* 0: *ptr = NULL */
    const char *name; /* for messages: the pointer expression */
};

/* An entry for pointer lvalue p (any object pointer type) of nbytes bytes. */
#define MEMPLAN_ENTRY(p, nbytes) {(void **)&(p), (nbytes), #p}
/* Entries in a fixed table (an array, not a pointer). */
#define MEMPLAN_LEN(tab) (sizeof(tab) / sizeof((tab)[0]))

/* A table under construction or a fixed one wrapped. */
struct memplan {
    const char *owner;         /* "cpu backend", "cuda backend": prefixes every message */
    const char *what;          /* "weights", "KV cache and activations", ... */
    struct memplan_entry *tab; /* caller's storage */
    size_t n, cap;             /* n may exceed cap: counted, not written (an error at memplan_size) */
    size_t align;              /* power of two */
    size_t total;              /* set by memplan_size */
};

/* storage holds cap entries, of which the first n are already filled (a fixed table: n = cap). */
void memplan_init(struct memplan *mp, const char *owner, const char *what, struct memplan_entry *storage, size_t n, size_t cap,
                  size_t align);
void memplan_add(struct memplan *mp, void **ptr, size_t bytes, const char *name);
#define MEMPLAN_ADD(mp, p, nbytes) memplan_add((mp), (void **)&(p), (nbytes), #p)
/* Check the table (capacity, size_t overflow) and set mp->total, the bytes to allocate (> 0). */
enum frs_status memplan_size(struct memplan *mp);
/* Point every entry into base (memplan_size first), in table order, each aligned. */
void memplan_carve(const struct memplan *mp, void *base);
/* Host memory: memplan_size, one zeroed aligned allocation, memplan_carve. *mem is what to free(). */
enum frs_status memplan_alloc_host(struct memplan *mp, void **mem);
/* "[rank R on HOST] <owner>: allocating X MiB for the <what>" on stderr. */
void memplan_log(const struct memplan *mp);

#endif
