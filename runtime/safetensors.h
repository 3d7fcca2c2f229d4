/* safetensors.h - read-only, mmapped access to .safetensors files, one file or a sharded set
 * described by model.safetensors.index.json.
 *
 * Format: 8-byte little-endian header length N, N bytes of JSON {name: {dtype, shape,
 * data_offsets: [begin, end]}, "__metadata__": {...}}, then the data. Everything in the header is
 * validated (offsets inside the file, size = prod(shape) * dtype size, no overlap past the end).
 * Lookups check dtype and shape and print expected vs actual, naming the file and tensor.
 *
 * defines: struct st_tensor_info, struct st_set, st_open_file, st_open_dir, st_close, st_find,
 *          st_get_mat, st_get_vec
 */
#ifndef FRSPEC_SAFETENSORS_H
#define FRSPEC_SAFETENSORS_H

#include <stdint.h>

#include "status.h"
#include "tensor.h"

#define ST_MAX_DIMS 8

struct st_tensor_info {
    char *name;
    enum frs_dtype dtype;     /* FRS_DTYPE_COUNT: a dtype this runtime does not read (see dtype_name) */
    char dtype_name[16];      /* as written in the header ("BF16", "F8_E4M3", ...) */
    int ndim;
    int64_t shape[ST_MAX_DIMS];
    const void *data; /* inside the mapping */
    size_t nbytes;
    int file;         /* index into st_set.files */
};

struct st_file {
    char *path;
    void *map;
    size_t size;
    void *heap; /* non-NULL: map is an aligned heap copy (file whose header length breaks alignment) */
};

struct st_set {
    struct st_file *files;
    int n_files;
    struct st_tensor_info *tensors; /* sorted by name */
    int n_tensors;
};

/* Open one .safetensors file as a set of one. */
enum frs_status st_open_file(struct st_set *set, const char *path);
/* Open a model directory: model.safetensors.index.json if present (every shard it names must
 * exist and hold the tensors it lists), else model.safetensors, else the only *.safetensors. */
enum frs_status st_open_dir(struct st_set *set, const char *dir);
void st_close(struct st_set *set);

/* NULL when absent (no error recorded). */
const struct st_tensor_info *st_find(const struct st_set *set, const char *name);

/* Checked lookup of a 2-D float tensor (F32/F16/BF16) of shape [rows, cols].
 * Errors: FRS_ERR_MISSING (names the tensor and the files searched), FRS_ERR_SHAPE (expected vs
 * actual), FRS_ERR_DTYPE. */
enum frs_status st_get_mat(const struct st_set *set, const char *name, int64_t rows, int64_t cols,
                           struct frs_mat *out);
/* Checked lookup of a 1-D float tensor of length n, as a 1 x n matrix. */
enum frs_status st_get_vec(const struct st_set *set, const char *name, int64_t n, struct frs_mat *out);

/* The path of the file holding a tensor (for messages). */
const char *st_tensor_path(const struct st_set *set, const struct st_tensor_info *t);

#endif
