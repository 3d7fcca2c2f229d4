/* st_write.h - torch.save tensors to a safetensors file: no __metadata__, tensors ordered by dtype
 * (I64, F32, I32, BF16, F16) then by name, header padded with spaces to 8 bytes, so converting a
 * state_dict gives the bytes safetensors.torch.save_file gives.
 *
 * defines: st_write_sort, st_write_tensors
 */
#ifndef FRSPEC_ST_WRITE_H
#define FRSPEC_ST_WRITE_H

#include <stddef.h>

#include "status.h"
#include "torchzip.h"

/* Order ts as save_file does (call before st_write_tensors). */
void st_write_sort(const struct tz_tensor **ts, int n);
/* Write ts[0..n) to path (created or truncated); *total = bytes written. */
enum frs_status st_write_tensors(const char *path, const struct tz_tensor **ts, int n, size_t *total);

#endif
