/* st_write.h - writing .safetensors files laid out as Hugging Face's safetensors.torch.save_file
 * lays them out: no __metadata__, tensors ordered by dtype (I64, F32, I32, BF16, F16, F8_E4M3: the
 * safetensors Dtype order, larger first) then by name, header padded with spaces to a multiple of
 * 8 bytes, so converting a state_dict gives the bytes save_file gives.
 *
 * Two entry points over one writer: st_write_tensors for torch.save tensors (convert-draft, the
 * draft loader), and st_write_file for any tensors whose bytes a callback produces one tensor at a
 * time (frspec quantize streams a 70B checkpoint through it without holding it in memory).
 *
 * defines: st_write_sort, st_write_tensors, struct st_write_entry, st_write_fn,
 *          st_write_entries_sort, st_write_file, st_write_nbytes
 */
#ifndef FRSPEC_ST_WRITE_H
#define FRSPEC_ST_WRITE_H

#include <stddef.h>
#include <stdint.h>
#include <stdio.h>

#include "safetensors.h" /* ST_MAX_DIMS */
#include "status.h"
#include "tensor.h"
#include "torchzip.h"

/* Order ts as save_file does (call before st_write_tensors). */
void st_write_sort(const struct tz_tensor **ts, int n);
/* Write ts[0..n) to path (created or truncated); *total = bytes written. */
enum frs_status st_write_tensors(const char *path, const struct tz_tensor **ts, int n, size_t *total);

struct st_write_entry {
    const char *name;
    enum frs_dtype dtype;
    int ndim;
    int64_t shape[ST_MAX_DIMS];
    int id; /* the caller's index, handed back to the callback */
};

/* Write entry e's prod(shape) * dtype-size bytes to f; return FRS_OK or a recorded error. */
typedef enum frs_status (*st_write_fn)(void *ctx, const struct st_write_entry *e, FILE *f);

/* Order entries as save_file does (dtype rank, then name). */
void st_write_entries_sort(struct st_write_entry *e, int n);
/* Write the n entries, in the order given, to path; *total = the file's size in bytes. */
enum frs_status st_write_file(const char *path, const struct st_write_entry *e, int n, st_write_fn fill,
                              void *ctx, size_t *total);
/* Bytes of entry e's data. */
uint64_t st_write_nbytes(const struct st_write_entry *e);

#endif
