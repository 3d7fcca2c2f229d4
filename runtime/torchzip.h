/* torchzip.h - reading what torch.save writes (PyTorch >= 1.6 zip archives): the zip container
 * (own small reader of the central directory, zip64 included, zlib for CRC-32 and inflate) and a
 * bounded pickle interpreter for the two objects this project needs: a list of ints (FR-Spec's
 * freq_K.pt) and a state_dict of tensors (EAGLE's pytorch_model.bin).
 *
 * Archive layout: "<prefix>/data.pkl" (the pickle), "<prefix>/data/<key>" (raw little-endian
 * storages, stored uncompressed by torch), "<prefix>/version", "<prefix>/byteorder"...
 * The pickle subset: protocols 2..5 binary opcodes (no protocol-0 text opcodes); callables limited
 * to collections.OrderedDict, torch._utils._rebuild_tensor_v2 / _rebuild_tensor /
 * _rebuild_parameter; persistent ids ('storage', torch.<T>Storage, key, location, numel).
 * Anything else is FRS_ERR_FORMAT / FRS_ERR_UNSUPPORTED naming the file, the opcode (or callable)
 * and its byte offset. Stack, memo and object counts are bounded: malformed input never crashes.
 *
 * defines: struct tz_archive (opaque), tz_open, tz_open_mem, tz_close, tz_name, tz_entry,
 *          tz_parse_int_list, tz_load_int_list, struct tz_tensor, struct tz_state_dict,
 *          tz_load_state_dict, tz_state_dict_from_archive, tz_state_dict_free, tz_tensor_numel,
 *          tz_tensor_copy, tz_write_int_list, tz_parse_int_list_pickle, tz_set_crc_check
 */
#ifndef FRSPEC_TORCHZIP_H
#define FRSPEC_TORCHZIP_H

#include <stddef.h>
#include <stdint.h>

#include "status.h"
#include "tensor.h"

#define TZ_MAX_DIMS 8

struct tz_archive;

/* Map a file (read-only) and read its zip central directory. A legacy (pre-1.6, non-zip)
 * torch.save file is refused with FRS_ERR_UNSUPPORTED. */
enum frs_status tz_open(struct tz_archive **out, const char *path);
/* Same over a caller-owned buffer that outlives the archive; name is used in messages. */
enum frs_status tz_open_mem(struct tz_archive **out, const void *data, size_t size, const char *name);
void tz_close(struct tz_archive *ar);
const char *tz_name(const struct tz_archive *ar);
/* Bytes of the entry "<prefix>/<rel>" (prefix = the folder holding data.pkl), CRC-checked.
 * Stored entries point into the mapping; deflated ones are inflated into memory the archive
 * owns. FRS_ERR_MISSING when absent. */
enum frs_status tz_entry(struct tz_archive *ar, const char *rel, const void **data, size_t *size);

/* The pickle of the archive must be a list (or tuple) of ints; *vals is malloc'ed. */
enum frs_status tz_parse_int_list(struct tz_archive *ar, int64_t **vals, size_t *n);
enum frs_status tz_load_int_list(const char *path, int64_t **vals, size_t *n);
/* Same from the bytes of a data.pkl (tests, fuzzing); name is used in messages. */
enum frs_status tz_parse_int_list_pickle(const void *pkl, size_t size, const char *name, int64_t **vals,
                                         size_t *n);
/* CRC-32 checks of entries are on by default; the fuzzer turns them off to reach the pickle. */
void tz_set_crc_check(struct tz_archive *ar, int on);

struct tz_tensor {
    char *name;
    enum frs_dtype dtype;      /* FRS_DTYPE_COUNT for a storage type this project does not read */
    const char *storage_type;  /* "FloatStorage", "BFloat16Storage", ... */
    int ndim;
    int64_t shape[TZ_MAX_DIMS];
    int64_t stride[TZ_MAX_DIMS]; /* in elements */
    int64_t offset;              /* storage offset, elements */
    const void *storage;         /* the storage's bytes (NULL for an unsupported dtype) */
    int64_t storage_numel;
};

struct tz_state_dict {
    struct tz_archive *ar; /* owned */
    struct tz_tensor *tensors; /* in pickle order */
    int n;
};

/* The pickle must be a dict / OrderedDict of name -> tensor (an OrderedDict's _metadata is
 * skipped). Every tensor's extent is checked against its storage. */
enum frs_status tz_load_state_dict(struct tz_state_dict *sd, const char *path);
/* Takes ownership of ar (closed on error too). */
enum frs_status tz_state_dict_from_archive(struct tz_state_dict *sd, struct tz_archive *ar);
void tz_state_dict_free(struct tz_state_dict *sd);

int64_t tz_tensor_numel(const struct tz_tensor *t);
/* Row-major contiguous copy of the tensor's elements (numel * dtype size bytes) into out,
 * following its strides. FRS_ERR_DTYPE for an unsupported storage type. */
enum frs_status tz_tensor_copy(const struct tz_tensor *t, void *out);

/* Write a file torch.load reads as a Python list of ints (what torch.save([..]) writes: zip with
 * <prefix>/data.pkl (pickle protocol 2), byteorder, version "3\n", .format_version,
 * .storage_alignment; data 64-byte aligned). prefix NULL: "archive". */
enum frs_status tz_write_int_list(const char *path, const char *prefix, const int64_t *vals, size_t n);

#endif
